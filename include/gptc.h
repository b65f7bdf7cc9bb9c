/* gptc.h — the public C API of gptc: GGUF inspection, tokenizers, models, inference sessions.
 *
 * Style: opaque handles, every fallible call returns a gptc_status and fills an optional
 * gptc_error (status + one-line message, no trailing newline, no "gptc: error:" prefix).
 * No globals, no exit(), no abort() on bad input. Strings are UTF-8 with explicit lengths.
 * The command-line program (main.c, cli/) uses only this header. Installed with the library
 * (libgptc.so / libgptc.a, pkg-config name "gptc"); docs/api.md has a complete example program.
 *
 * Thread safety:
 *  - Functions without a handle (gptc_version, gptc_status_name, gptc_free, gptc_inspect_file,
 *    the *_params_default functions, loading) may be called from any thread at any time.
 *  - A gptc_tokenizer is read-only after loading: any number of threads may tokenize, detokenize
 *    and look up tokens with one tokenizer at once. Free it only when no call is using it.
 *  - A gptc_decoder, like a gptc_session, has state: use each from one thread at a time.
 *  - A gptc_model may be shared by threads: each thread creates and drives its own sessions.
 *    On the CPU backend forward passes of one model's sessions take turns (a per-model lock), so
 *    sessions of one model may be used from several threads at once. The CUDA backend does not
 *    lock: drive all sessions of a CUDA model from one thread (or serialise the calls yourself).
 *    gptc_decode_multi counts as a call on every session it is given.
 *  - gptc_session_cancel is the exception: it only sets an atomic flag, so it may be called from
 *    any thread or from a signal handler while another thread is inside a call on that session.
 *  - Free a session before its model, and call nothing on a handle while it is being freed.
 */
#ifndef GPTC_H
#define GPTC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------------- */
typedef enum gptc_status {
    GPTC_OK = 0,
    GPTC_ERR_INVALID_ARG,  /* a bad argument from the caller (or a bad flag value) */
    GPTC_ERR_IO,           /* open/read/mmap/write failed */
    GPTC_ERR_FORMAT,       /* malformed GGUF / tokenizer.json / input text */
    GPTC_ERR_UNSUPPORTED,  /* valid but not implemented (architecture, type, JSON config) */
    GPTC_ERR_NOMEM,        /* host allocation failed */
    GPTC_ERR_DEVICE,       /* CUDA/cuBLAS runtime error */
    GPTC_ERR_DEVICE_NOMEM, /* does not fit the device memory / --vram-budget */
    GPTC_ERR_CONTEXT_FULL, /* the context window has no room for the tokens */
    GPTC_ERR_INTERRUPTED,  /* cancelled through gptc_session_cancel */
} gptc_status;

#define GPTC_ERROR_MSG_MAX 512
typedef struct gptc_error {
    gptc_status status;
    char msg[GPTC_ERROR_MSG_MAX]; /* one line, e.g. "model.gguf: offset 24: tensor count ..." */
} gptc_error;

const char *gptc_status_name(gptc_status s); /* "ok", "invalid argument", ... */

/* Version of this header; gptc_version() returns the library's, so a program can check that it
 * runs against the library it was compiled for. The major number is the shared library's
 * soname (libgptc.so.MAJOR). */
#define GPTC_VERSION_MAJOR 0
#define GPTC_VERSION_MINOR 1
#define GPTC_VERSION_PATCH 0
#define GPTC_VERSION_STRING "0.1.0"
const char *gptc_version(void);
/* How the library was built: the git commit ("1a9f115", with "-dirty" when the tree had
 * uncommitted changes; "unknown" outside git) and the CUDA architectures compiled in
 * ("sm_90a sm_80 compute_80"; "" when built without CUDA). */
const char *gptc_build_commit(void);
const char *gptc_build_cuda_archs(void);
/* Frees any buffer this API returned to the caller (ids, text). NULL is fine. */
void gptc_free(void *p);

/* ---------------------------------------------------------------------------------------------
 * GGUF inspection (gguf/)
 * ------------------------------------------------------------------------------------------- */
enum {
    GPTC_INSPECT_TENSORS = 1 << 0, /* list every tensor: name, type, shape (ne order), offset */
    GPTC_INSPECT_JSON = 1 << 1,    /* one JSON object instead of text */
    GPTC_INSPECT_STRICT = 1 << 2,  /* trailing data (bytes no tensor describes) is an error */
};
/* Opens and fully validates a GGUF file, then writes its description to `out`. A file with
 * trailing data after its tensor data is described (text: a "trailing data" line; JSON:
 * "trailing_bytes"), and err->msg holds a warning about it while the status is GPTC_OK; with
 * GPTC_INSPECT_STRICT it is a GPTC_ERR_FORMAT error instead. */
gptc_status gptc_inspect_file(const char *path, unsigned flags, FILE *out, gptc_error *err);

/* ---------------------------------------------------------------------------------------------
 * Conversion of Hugging Face checkpoints (convert/)
 * ------------------------------------------------------------------------------------------- */
typedef enum gptc_convert_type {
    GPTC_CONVERT_AUTO = 0, /* f16 when the checkpoint's first tensor is f16, else bf16 */
    GPTC_CONVERT_F32,
    GPTC_CONVERT_F16,
    GPTC_CONVERT_BF16,
    GPTC_CONVERT_Q8_0,
} gptc_convert_type;

typedef struct gptc_convert_params {
    const char *dir; /* config.json, *.safetensors (+ index), tokenizer.json, ... */
    const char *out; /* GGUF file written */
    int outtype;     /* gptc_convert_type: the matrices' type (MXFP4 experts stay MXFP4;
                      * norms, biases, routers stay F32), as llama.cpp's --outtype */
    FILE *log;       /* one line per tensor and a summary; NULL for none */
} gptc_convert_params;

/* Converts a GptOssForCausalLM (incl. OpenAI's MXFP4 expert layout) or GPT2LMHeadModel
 * checkpoint folder to one GGUF file with the tensors and keys llama.cpp's converter writes.
 * Bad input: GPTC_ERR_IO / FORMAT / UNSUPPORTED with a message naming the file and tensor. */
gptc_status gptc_convert(const gptc_convert_params *p, gptc_error *err);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer (tokenizer/)
 * ------------------------------------------------------------------------------------------- */
typedef struct gptc_tokenizer gptc_tokenizer;

/* From a Hugging Face tokenizer.json (byte-level BPE). Unimplemented configs are refused with
 * an error naming the JSON path. */
gptc_status gptc_tokenizer_load_json(const char *path, gptc_tokenizer **out, gptc_error *err);
/* From the tokenizer.ggml.* keys of a GGUF file (model "gpt2"; pre "gpt2" or "gpt-4o"). */
gptc_status gptc_tokenizer_load_gguf(const char *gguf_path, gptc_tokenizer **out, gptc_error *err);
void gptc_tokenizer_free(gptc_tokenizer *tok);

int32_t gptc_tokenizer_n_vocab(const gptc_tokenizer *tok); /* highest id + 1 */
int32_t gptc_tokenizer_bos(const gptc_tokenizer *tok);     /* -1 when none */
int32_t gptc_tokenizer_eos(const gptc_tokenizer *tok);     /* -1 when none */
int32_t gptc_tokenizer_pad(const gptc_tokenizer *tok);     /* -1 when none */
int gptc_tokenizer_add_bos(const gptc_tokenizer *tok);     /* 1 if BOS is prepended by default */
/* Id of an exact token string (special or not), -1 when absent: e.g. "<|start|>". */
int32_t gptc_tokenizer_find(const gptc_tokenizer *tok, const char *token);
int gptc_tokenizer_is_special(const gptc_tokenizer *tok, int32_t id);
/* The token's text as the decoder would print it (bytes, may be partial UTF-8). */
gptc_status gptc_tokenizer_piece(const gptc_tokenizer *tok, int32_t id, const char **bytes,
                                 size_t *len);

enum {
    GPTC_TOKENIZE_SPECIAL = 1 << 0, /* recognise special-token strings in the text */
};
/* Encodes UTF-8 text (not NUL-terminated; may contain NUL). Invalid UTF-8 -> GPTC_ERR_FORMAT
 * with the byte offset in the message. *ids is allocated; free it with gptc_free. */
gptc_status gptc_tokenize(const gptc_tokenizer *tok, const char *text, size_t len, unsigned flags,
                          int32_t **ids, size_t *n_ids, gptc_error *err);
/* Decodes ids to bytes (lossy UTF-8 like HF decode: invalid sequences become U+FFFD).
 * skip_special drops special tokens. *text is NUL-terminated, allocated; free with gptc_free. */
gptc_status gptc_detokenize(const gptc_tokenizer *tok, const int32_t *ids, size_t n_ids,
                            int skip_special, char **text, size_t *len, gptc_error *err);

/* Streaming decoder: push ids one at a time; each push returns only complete, valid UTF-8.
 * An incomplete tail is held back; flush emits it as U+FFFD like HF decode would. */
typedef struct gptc_decoder gptc_decoder;
gptc_status gptc_decoder_new(const gptc_tokenizer *tok, int skip_special, gptc_decoder **out,
                             gptc_error *err);
/* *out points into the decoder and stays valid until the next call on it. */
gptc_status gptc_decoder_push(gptc_decoder *d, int32_t id, const char **out, size_t *len,
                              gptc_error *err);
void gptc_decoder_flush(gptc_decoder *d, const char **out, size_t *len);
void gptc_decoder_reset(gptc_decoder *d);
void gptc_decoder_free(gptc_decoder *d);

/* ---------------------------------------------------------------------------------------------
 * Models (engine/)
 * ------------------------------------------------------------------------------------------- */
typedef struct gptc_model gptc_model;

typedef enum gptc_backend {
    GPTC_BACKEND_AUTO = 0, /* CUDA when a usable GPU is present, else CPU */
    GPTC_BACKEND_CPU,
    GPTC_BACKEND_CUDA,
} gptc_backend;

/* Element type of the KV cache (--cache-type; llama.cpp's -ctk / -ctv). */
typedef enum gptc_cache_type {
    GPTC_CACHE_DEFAULT = 0, /* the backend's own: f16 on CUDA (as llama.cpp), f32 on the CPU */
    GPTC_CACHE_F32,         /* fp32: the GPU's exact path (matches the CPU reference) */
    GPTC_CACHE_F16,
    GPTC_CACHE_Q8_0, /* ggml Q8_0 blocks of 32 (f16 scale + 32 int8), about 1/4 of fp32 */
} gptc_cache_type;
/* "default", "f32", "f16", "q8_0". */
const char *gptc_cache_type_name(gptc_cache_type t);

/* Called during loading with bytes done / total (for a progress bar). */
typedef void (*gptc_progress_fn)(void *user, uint64_t done, uint64_t total);

/* gptc_model_params.n_cpu_moe: choose by vram_budget; every layer. */
#define GPTC_CPU_MOE_AUTO (-1)
#define GPTC_CPU_MOE_ALL 0x7fffffff

typedef struct gptc_model_params {
    const char *path;           /* GGUF file */
    const char *tokenizer_path; /* tokenizer.json; "gguf": the GGUF's own vocabulary; NULL:
                                   the GGUF's, or a tokenizer.json next to the model when it
                                   has the same tokens (or the GGUF has no vocabulary) */
    gptc_backend backend;
    int device;           /* CUDA device ordinal */
    int n_threads;        /* CPU threads; 0 = all cores */
    uint64_t vram_budget; /* bytes; 0 = free device memory */
    int n_cpu_moe;  /* CUDA expert offload (llama.cpp's --n-cpu-moe): the expert weights of the
                       first N layers stay in host memory (the GGUF mapping) and their experts run
                       on the CPU threads; N >= n_layer (GPTC_CPU_MOE_ALL): every layer.
                       GPTC_CPU_MOE_AUTO (the default): none, or with vram_budget set the smallest
                       N whose plan fits it. Ignored by the CPU backend and dense models. */
    int n_ctx_hint; /* context the caller will use (for the memory plan); 0 = default */
    int n_seq_hint; /* parallel sequences the caller will use; 0 = 1 */
    gptc_cache_type cache_type; /* KV cache type the sessions will use (for the memory plan) */
    int yarn_rounded;           /* 1: llama.cpp's rounded YaRN correction range (8, 18) */
    int verbose;                /* print the memory breakdown etc. to stderr */
    int no_mmap; /* 1: read the GGUF into memory instead of mapping it (llama.cpp's --no-mmap);
                    a model file truncated or rewritten while in use cannot fault then */
    int mlock;   /* 1: lock the model's bytes in RAM (mlock, llama.cpp's --mlock); the load fails
                    with GPTC_ERR_NOMEM when RLIMIT_MEMLOCK is too small */
    gptc_progress_fn progress;
    void *progress_user;
} gptc_model_params;

void gptc_model_params_default(gptc_model_params *p);
gptc_status gptc_model_load(const gptc_model_params *p, gptc_model **out, gptc_error *err);
void gptc_model_free(gptc_model *m);

typedef struct gptc_model_info {
    char arch[32];  /* "gpt-oss" or "gpt2" */
    char name[128]; /* general.name, may be empty */
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff;
    int n_expert, n_expert_used; /* 0 for dense models */
    int n_vocab;                 /* rows of the embedding / LM head */
    int n_ctx_train;
    int sliding_window; /* 0 when none */
    uint64_t n_params;
    uint64_t weight_bytes;
    gptc_backend backend; /* the backend actually in use */
    char device_name[128];
    double load_ms;
    int n_threads;                    /* CPU threads in use (-t, or all cores) */
    char warning[GPTC_ERROR_MSG_MAX]; /* something the user should know about the load (e.g. a
                                         tokenizer.json set aside), "" when none */
} gptc_model_info;
void gptc_model_get_info(const gptc_model *m, gptc_model_info *info);
const gptc_tokenizer *gptc_model_tokenizer(const gptc_model *m);
/* The model file's memory mapping: its address and length, 0 when it is not mapped (no_mmap).
 * A SIGBUS at an address inside it means the file was truncated or rewritten in place while in
 * use; the command-line program turns that into one error line (cli/args.c). */
size_t gptc_model_mapping(const gptc_model *m, const void **addr);
/* A model split by gguf-split is loaded from several files (its shards); 1 otherwise. */
int gptc_model_n_files(const gptc_model *m);
/* File i of the model (0: the path given, which holds the metadata): its path, bytes and
 * mapping (*addr and the returned length are 0 when it is not mapped). 0 and NULLs for a bad i. */
size_t gptc_model_file(const gptc_model *m, int i, const char **path, uint64_t *bytes,
                       const void **addr);

/* Residency/health: where the weights live and how much memory is in use. */
typedef struct gptc_residency {
    gptc_backend backend;
    uint64_t weight_bytes_total;  /* bytes of all weight tensors */
    uint64_t weight_bytes_device; /* bytes of weights resident in device memory (CUDA) */
    int all_weights_resident;     /* 1 when every weight is on the device (CUDA) */
    int n_cpu_moe;                /* layers whose experts stay in host memory (CUDA offload) */
    uint64_t weight_bytes_host;   /* bytes of those expert weights (read from the mapping) */
    uint64_t kv_bytes;            /* KV caches of live sessions */
    uint64_t workspace_bytes;
    uint64_t device_total, device_free; /* 0 on the CPU */
} gptc_residency;
gptc_status gptc_model_residency(const gptc_model *m, gptc_residency *r, gptc_error *err);

/* ---------------------------------------------------------------------------------------------
 * Sessions: one sequence with its KV cache and sampler.
 * ------------------------------------------------------------------------------------------- */
typedef struct gptc_session gptc_session;

/* One logit bias: `bias` is added to token `id`'s logit before anything else samples (llama.cpp's
 * order: bias, penalties, greedy/top-k/top-p/min-p/temperature). -INFINITY bans the token (it is
 * never sampled, even when it was the argmax); a large positive bias (+100) forces it. */
typedef struct gptc_logit_bias {
    int32_t id;
    float bias;
} gptc_logit_bias;
#define GPTC_LOGIT_BIAS_MAX 1024 /* entries per sampler */

typedef struct gptc_sampler_params {
    float temperature;       /* 0 = greedy */
    int top_k;               /* 0 = off */
    float top_p;             /* 1 = off */
    float min_p;             /* 0 = off */
    float repeat_penalty;    /* 1 = off */
    float presence_penalty;  /* 0 = off */
    float frequency_penalty; /* 0 = off */
    int penalty_last_n;      /* window of previous tokens for penalties; -1 = whole context */
    uint64_t seed;
    /* logit_bias[0..n_logit_bias): distinct ids below the sampled vocabulary (the tokenizer's),
     * biases not NaN, at most GPTC_LOGIT_BIAS_MAX. The session copies the array (gptc_session_new,
     * gptc_session_set_sampling): the caller's may be freed afterwards. NULL/0 = none. */
    const gptc_logit_bias *logit_bias;
    int n_logit_bias;
} gptc_sampler_params;

typedef struct gptc_session_params {
    int n_ctx;   /* 0 = min(model context, 4096) */
    int n_batch; /* prompt tokens per forward batch; 0 = default (512) */
    gptc_sampler_params sampling;
    /* KV cache element type. The CPU backend accepts every value and keeps fp32 (its attention
     * reads fp32 keys and values); the CUDA backend stores what is asked (default f16). */
    gptc_cache_type cache_type;
} gptc_session_params;

/* Defaults for the model (gpt-oss: OpenAI's temperature 1.0, top-p 1.0). m may be NULL. */
void gptc_session_params_default(const gptc_model *m, gptc_session_params *p);
gptc_status gptc_session_new(gptc_model *m, const gptc_session_params *p, gptc_session **out,
                             gptc_error *err);
void gptc_session_free(gptc_session *s);

int gptc_session_n_ctx(const gptc_session *s);
int gptc_session_n_past(const gptc_session *s); /* tokens in the KV cache */

/* Appends tokens to the context and runs them through the model (batched prefill). Afterwards
 * the logits of the last token are ready for sampling. GPTC_ERR_CONTEXT_FULL if they don't fit
 * (nothing is appended then). */
gptc_status gptc_session_feed(gptc_session *s, const int32_t *ids, size_t n, gptc_error *err);
/* Like feed, but copies the logits of every fed token into logits[n][n_vocab] (perplexity). */
gptc_status gptc_session_feed_all_logits(gptc_session *s, const int32_t *ids, size_t n,
                                         float *logits, gptc_error *err);
/* Samples the next token from the last logits with the session's sampler (penalties see the
 * session's history). Does not feed it. */
gptc_status gptc_session_sample(gptc_session *s, int32_t *id, gptc_error *err);
/* Copies the last token's logits (n_vocab floats) to the host. */
gptc_status gptc_session_logits(gptc_session *s, float *logits, gptc_error *err);
/* Drops the context back to its first n tokens (n <= n_past); rewinding keeps the prefix. */
gptc_status gptc_session_truncate(gptc_session *s, int n, gptc_error *err);
/* Makes dst continue from src's context: dst gets src's tokens, KV cache and last logits (what
 * dst held is dropped); its own sampler parameters stay. For several samples of one prompt: feed
 * the prompt once, then copy the session into the others (no second prefill). Both sessions must
 * be of one model, with the same context size, batch size and cache type
 * (GPTC_ERR_INVALID_ARG otherwise, dst unchanged). src is only read. */
gptc_status gptc_session_copy(gptc_session *dst, const gptc_session *src, gptc_error *err);
/* Replaces the sampler parameters (and reseeds). Invalid parameters are refused (the old ones
 * stay): GPTC_ERR_INVALID_ARG. */
gptc_status gptc_session_set_sampling(gptc_session *s, const gptc_sampler_params *sp);

/* Log-probabilities of the last logits (those gptc_session_sample draws from; call it after
 * sample, before the next feed). They are of the model's own distribution: log_softmax of the
 * raw logits over the ids the tokenizer can write -- before logit bias, penalties, temperature
 * and top-k/top-p/min-p (OpenAI's choice: a banned or filtered token keeps its model logprob).
 * *logprob: that of `id`. top[0..n_top): the n_top most likely ids, most likely first (equal
 * logprobs: lower id first); n_top in [0, vocabulary]. -INFINITY for a NaN or -inf logit. */
typedef struct gptc_token_logprob {
    int32_t id;
    float logprob;
} gptc_token_logprob;
gptc_status gptc_session_logprobs(gptc_session *s, int32_t id, float *logprob,
                                  gptc_token_logprob *top, int n_top, gptc_error *err);
/* Thread-safe, async-signal-safe: makes the running/next feed return GPTC_ERR_INTERRUPTED. */
void gptc_session_cancel(gptc_session *s);
void gptc_session_clear_cancel(gptc_session *s);

/* One decode step for several sessions of the same model at once (continuous batching): each
 * session i gets ids[i] appended and its logits computed. Sessions must be distinct. */
gptc_status gptc_decode_multi(gptc_session **sessions, const int32_t *ids, int n, gptc_error *err);

/* Constrains the next gptc_session_sample calls to the tokens whose bit is set in allowed_bits
 * (bit i & 31 of word i >> 5 = token i may be drawn; (n_vocab + 31) / 32 words, e.g. filled by
 * gptc_matcher_mask). The array is not copied: keep it alive and unchanged until the next sample
 * or until it is replaced; NULL lifts the constraint. With no token allowed, sampling returns
 * token 0 (check the count gptc_matcher_mask returns first). */
void gptc_session_set_allowed(gptc_session *s, const uint32_t *allowed_bits);

/* Called by gptc_generate for each generated token with its text: the bytes of complete UTF-8
 * characters decoded so far (len may be 0 while a character is incomplete; special tokens give
 * no text). At the end, id is -1 when a held-back incomplete character is flushed as U+FFFD.
 * Return 0 to go on, non-zero to stop. */
typedef int (*gptc_token_fn)(void *user, int32_t id, const char *text, size_t len);

/* Generates up to n_predict tokens (-1: until a stop token or the context is full) after the
 * tokens already fed: sample, feed, report to fn, repeat. It stops, without feeding or
 * reporting it, at a token of stop[0..n_stop) or, when stop is NULL, at the tokenizer's end
 * tokens (its EOS and, when present, <|return|>, <|call|> and <|endoftext|>). Every reported
 * token is in the context afterwards. *n_gen (may be NULL) receives the number reported.
 * Returns GPTC_ERR_CONTEXT_FULL when the context filled before a stop (the tokens reported so far
 * stay), GPTC_ERR_INTERRUPTED after gptc_session_cancel, GPTC_ERR_INVALID_ARG when nothing was
 * fed yet or the model has no tokenizer. */
gptc_status gptc_generate(gptc_session *s, int n_predict, const int32_t *stop, size_t n_stop,
                          gptc_token_fn fn, void *user, int *n_gen, gptc_error *err);

typedef struct gptc_timings {
    int n_prompt; /* tokens fed through feed() */
    double prompt_ms;
    int n_gen; /* tokens fed one at a time after sampling */
    double gen_ms;
    double sample_ms;
} gptc_timings;
void gptc_session_timings(const gptc_session *s, gptc_timings *t);

/* ---------------------------------------------------------------------------------------------
 * Constrained decoding (grammar/): GBNF grammars, JSON Schema, token masks.
 * ------------------------------------------------------------------------------------------- */
typedef struct gptc_grammar gptc_grammar;

/* Compiles GBNF text (llama.cpp's --grammar syntax; start rule `root`; <[id]> matches one special
 * token). Errors: GPTC_ERR_FORMAT with "line L, column C: ...". */
gptc_status gptc_grammar_parse(const char *gbnf, size_t len, gptc_grammar **out, gptc_error *err);
/* JSON Schema -> GBNF text (allocated, free with gptc_free). Unsupported keywords:
 * GPTC_ERR_UNSUPPORTED naming the keyword and its JSON pointer; bad JSON: GPTC_ERR_FORMAT. */
gptc_status gptc_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf, gptc_error *err);
gptc_status gptc_grammar_from_json_schema(const char *schema, size_t len, gptc_grammar **out,
                                          gptc_error *err);
/* Any JSON object (OpenAI's response_format json_object). */
gptc_status gptc_grammar_json_object(gptc_grammar **out, gptc_error *err);
/* For gpt-oss: the harmony reply structure around g, for generation after "<|start|>assistant":
 *   <|channel|> [ "analysis" <|message|> TEXT <|end|> <|start|> "assistant" <|channel|> ]
 *   "final" [ " " <|constrain|> "json" ] <|message|> g <|return|>
 * TEXT is free (any text, no special token); only the final message follows g. */
gptc_status gptc_grammar_harmony(const gptc_grammar *g, const gptc_tokenizer *tok,
                                 gptc_grammar **out, gptc_error *err);
/* For gpt-oss with function tools: the whole harmony reply after "<|start|>assistant",
 *   ( <|channel|> ("analysis" | "commentary") <|message|> TEXT <|end|> <|start|> "assistant" )*
 *   then the answer:  <|channel|> "final" [[" "] <|constrain|> "json"] <|message|> F <|return|>
 *   or a call:        <|channel|> "commentary to=functions." NAME CT <|message|> ARGS <|call|>
 *                  |  " to=functions." NAME <|channel|> "commentary" CT <|message|> ARGS <|call|>
 * where NAME is one of names[0..n_tools), ARGS follows that tool's JSON Schema (schemas[i], its
 * "parameters"; NULL: no parameters, "{}"), CT is nothing, " json" or [" "] <|constrain|> "json",
 * TEXT is free, and F is final_g (NULL: free text). choice: AUTO (an answer or a call), NONE (an
 * answer: no call), REQUIRED (a call); forced >= 0: a call to tool `forced` (-1: any). A schema
 * the converter refuses is that error, prefixed "tool NAME: ". */
typedef enum gptc_tool_choice {
    GPTC_TOOL_CHOICE_AUTO = 0,
    GPTC_TOOL_CHOICE_NONE = 1,
    GPTC_TOOL_CHOICE_REQUIRED = 2,
} gptc_tool_choice;
gptc_status gptc_grammar_harmony_tools(const gptc_grammar *final_g, const gptc_tokenizer *tok,
                                       const char *const *names, const char *const *schemas,
                                       int n_tools, gptc_tool_choice choice, int forced,
                                       gptc_grammar **out, gptc_error *err);
/* The GBNF source the grammar was compiled from. */
const char *gptc_grammar_source(const gptc_grammar *g);
void gptc_grammar_free(gptc_grammar *g);

/* The vocabulary as a byte trie (built once per tokenizer, ~0.1 s for 201k tokens; shared by
 * matchers, read-only). */
typedef struct gptc_token_trie gptc_token_trie;
gptc_status gptc_token_trie_new(const gptc_tokenizer *tok, gptc_token_trie **out, gptc_error *err);
void gptc_token_trie_free(gptc_token_trie *t);
int gptc_token_trie_n_vocab(const gptc_token_trie *t);

/* One constrained sequence: the grammar's state, advanced token by token. Keeps pointers to g
 * and t (keep them alive). Not thread-safe; one per sequence. */
typedef struct gptc_matcher gptc_matcher;
gptc_status gptc_matcher_new(const gptc_grammar *g, const gptc_token_trie *t, gptc_matcher **out,
                             gptc_error *err);
void gptc_matcher_free(gptc_matcher *m);
void gptc_matcher_reset(gptc_matcher *m); /* back to the start of the grammar */
/* Tokens (e.g. EOS) allowed only where the grammar is complete; accepting one ends the match. */
gptc_status gptc_matcher_set_end_tokens(gptc_matcher *m, const int32_t *ids, int n,
                                        gptc_error *err);
/* Fills bits[gptc_matcher_n_words(m)] with the tokens allowed next; returns how many (0: none,
 * the sequence cannot go on). */
int gptc_matcher_mask(gptc_matcher *m, uint32_t *bits);
/* NULL while the matcher works; else why it stopped (out of memory, or a grammar so ambiguous
 * that its parser states passed the matcher's bound): from then on the mask is empty and no
 * token is accepted. gptc_matcher_reset starts afresh. */
const char *gptc_matcher_failure(const gptc_matcher *m);
int gptc_matcher_n_words(const gptc_matcher *m);
/* 1 when the token was accepted (the state advances), 0 when the grammar refuses it. */
int gptc_matcher_accept_token(gptc_matcher *m, int32_t id);
/* The same for raw bytes (tests, forced text). */
int gptc_matcher_accept_bytes(gptc_matcher *m, const char *text, size_t len);
int gptc_matcher_is_complete(const gptc_matcher *m); /* the grammar may end here */
int gptc_matcher_is_ended(const gptc_matcher *m);    /* an end token was accepted */

#ifdef __cplusplus
}
#endif
#endif /* GPTC_H */
