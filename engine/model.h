/* model.h — the internal model: architecture, hyperparameters, weight views into the GGUF
 * mapping, tokenizer and backend. Filled by one architecture adapter (engine/arch_*.c), read by
 * the CPU forward passes (engine/forward_*.c) and by the CUDA backend (cuda/).
 *
 * Conventions: matrices are row-major [out][in]; a weight's GGUF ne[] is fastest-first, so
 * ne[0] = in (row length), ne[1] = out (rows), ne[2] = experts (3-D expert tensors).
 */
#ifndef GPTC_ENGINE_MODEL_H
#define GPTC_ENGINE_MODEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "gptc.h"

struct gt_pool;
struct gt_backend_ops;
struct gt_arch_adapter;

typedef enum gt_arch {
    GT_ARCH_GPT_OSS = 1, /* "gpt-oss": RMSNorm, GQA + sinks, RoPE-YaRN, SWA on even layers, MoE */
    GT_ARCH_GPT2 = 2,    /* "gpt2": LayerNorm, fused QKV, learned positions, GELU-tanh MLP */
} gt_arch;

typedef struct gt_hparams {
    int n_layer;
    int n_embd;        /* d_model (2880 for gpt-oss) */
    int n_head;        /* query heads */
    int n_head_kv;     /* KV heads (GQA: query head h uses KV head h / (n_head / n_head_kv)) */
    int head_dim;      /* 64 */
    int n_ff;          /* dense MLP width (GPT-2: 4 n_embd) or expert width (gpt-oss n_ff_exp) */
    int n_expert;      /* 0 for dense models */
    int n_expert_used; /* top-k (4 for gpt-oss) */
    int n_vocab;       /* rows of the LM head (= rows of token_embd) */
    int n_ctx_train;   /* context_length */
    float norm_eps;    /* RMSNorm / LayerNorm eps */

    /* RoPE (gpt-oss only). NeoX (half-split) rotation over rope_dim dims of each head. */
    int rope_dim;           /* = head_dim */
    float rope_freq_base;   /* 150000 */
    int yarn;               /* 1 when rope.scaling.type == yarn (factor > 1) */
    float yarn_factor;      /* 32 */
    int yarn_orig_ctx;      /* 4096 */
    float yarn_beta_fast;   /* 32 */
    float yarn_beta_slow;   /* 1 */
    float rope_attn_factor; /* mscale applied to cos and sin: 0.1 ln(factor) + 1 = 1.3465736 */
    int yarn_rounded;       /* 1: llama.cpp floor/ceil of the correction range (8, 18) */

    /* Attention extras (gpt-oss). */
    int sliding_window; /* 128; 0 = none */
    int swa_pattern;    /* layer il uses the window when il % swa_pattern == 0 (2); 0 = none */
    int has_sinks;

    /* Clamped SwiGLU (gpt-oss). */
    float swiglu_alpha; /* 1.702 */
    float swiglu_limit; /* 7.0 */
} gt_hparams;

/* A weight: a view into the mmap'd GGUF tensor data (zero copy). For a 3-D expert tensor, expert
 * e's rows start at data + e * expert_stride (bytes); row r of that expert at
 * + r * row_bytes. Views may alias part of another tensor (the fused ffn_gate_up_exps variant
 * is exposed as two views: gate = rows [0, n_ff), up = rows [n_ff, 2 n_ff) of each expert, with
 * expert_stride = 2 n_ff row_bytes), so a device copy must be made per *source* tensor:
 * `src` names the GGUF tensor that owns the bytes, `src_offset` is data - src->data.
 * F32 vectors (norms, biases, sinks) use the same struct: row_bytes = ne[0] * 4. An unused
 * weight has data == NULL. */
typedef struct gt_weight {
    uint32_t type;    /* ggml_type (any type quant_supported() accepts for matrices) */
    int64_t ne[4];    /* GGUF order: ne[0] = row length (in), ne[1] = rows (out), ne[2] = experts */
    size_t row_bytes; /* ggml_row_size(type, ne[0]) */
    size_t expert_stride;   /* bytes between experts (3-D); 0 for 2-D/1-D */
    const void *data;       /* into the mmap */
    void *dev;              /* device copy (CUDA backend), NULL on the CPU */
    const char *name;       /* GGUF tensor name (points into model-owned storage) */
    const gguf_tensor *src; /* tensor owning the bytes (for views) */
    size_t src_offset;
} gt_weight;

/* Row r of expert e (e = 0 for 2-D weights). */
static inline const void *gt_weight_row(const gt_weight *w, int64_t e, int64_t r) {
    return (const char *)w->data + (size_t)e * w->expert_stride + (size_t)r * w->row_bytes;
}
/* F32 vector of expert e of a [n][E] bias tensor (or the whole vector for 1-D). */
static inline const float *gt_weight_f32(const gt_weight *w, int64_t e) {
    return w->data ? (const float *)((const char *)w->data + (size_t)e * w->expert_stride) : NULL;
}

typedef struct gt_layer {
    /* --- gpt-oss ----------------------------------------------------------------------- */
    gt_weight attn_norm;            /* [n_embd] F32 (GPT-2: ln_1 gain) */
    gt_weight attn_norm_b;          /* GPT-2: ln_1 bias [n_embd] */
    gt_weight wq, wk, wv;           /* [n_head*hd][n_embd], [n_head_kv*hd][n_embd] x2 */
    gt_weight bq, bk, bv;           /* F32 biases */
    gt_weight wo, bo;               /* [n_embd][n_head*hd], [n_embd] */
    gt_weight sinks;                /* [n_head] F32 */
    gt_weight ffn_norm;             /* gpt-oss post_attention_norm (pre-MoE); GPT-2 ln_2 gain */
    gt_weight ffn_norm_b;           /* GPT-2 ln_2 bias */
    gt_weight router_w, router_b;   /* [n_expert][n_embd] F32 (any type accepted), [n_expert] */
    gt_weight gate_exps, up_exps;   /* [E][n_ff][n_embd] (possibly views of ffn_gate_up_exps) */
    gt_weight down_exps;            /* [E][n_embd][n_ff] */
    gt_weight gate_b, up_b, down_b; /* [E][n_ff], [E][n_ff], [E][n_embd] F32 */
    int gate_up_fused;              /* 1 when gate/up are views of blk.N.ffn_gate_up_exps */
    int is_swa;                     /* 1: sliding-window layer */
    /* --- GPT-2 ---------------------------------------------------------------------------- */
    gt_weight wqkv, bqkv;           /* [3 n_embd][n_embd], [3 n_embd]: rows q, then k, then v */
    gt_weight ffn_up, ffn_up_b;     /* [n_ff][n_embd], [n_ff] */
    gt_weight ffn_down, ffn_down_b; /* [n_embd][n_ff], [n_embd] */
} gt_layer;

struct gptc_model {
    gt_arch arch;
    const struct gt_arch_adapter *adapter;
    char arch_name[32];
    char name[128]; /* general.name */
    char *path;     /* GGUF path (owned) */
    gt_hparams hp;

    gt_weight tok_embd;      /* [n_vocab][n_embd] any type (row gather) */
    gt_weight pos_embd;      /* GPT-2: [n_ctx_train][n_embd] */
    gt_weight output_norm;   /* [n_embd] F32 */
    gt_weight output_norm_b; /* GPT-2: [n_embd] */
    gt_weight output;        /* [n_vocab][n_embd]; a copy of tok_embd's view when tied */
    int output_tied;
    gt_layer *layers; /* [n_layer] */

    float *rope_inv_freq; /* [rope_dim / 2], computed once at load (gpt-oss) */
    float rope_mscale;    /* multiplies cos and sin (hp.rope_attn_factor) */
    void *name_arena;     /* owns the gt_weight.name strings */

    gguf_shards *shards; /* the model's file(s): one GGUF or gguf-split shards (owned) */
    gguf_file *gguf;     /* the metadata: shards' first file (owned by shards) */
    gptc_tokenizer *tok; /* may be NULL when the file has no vocab and none was given */

    gptc_model_params params; /* copy; path strings are not kept (see path) */
    int n_threads;
    struct gt_pool *pool; /* CPU thread pool (CPU backend; also usable by CUDA for host work) */

    const struct gt_backend_ops *backend;
    gptc_backend backend_kind; /* CPU or CUDA (never AUTO) */
    void *backend_data;        /* backend private (e.g. device buffers) */
    char device_name[128];
    char warning[GPTC_ERROR_MSG_MAX]; /* gptc_model_info.warning */

    uint64_t n_params;
    uint64_t weight_bytes;
    double load_ms;
    _Atomic uint64_t kv_bytes;        /* KV caches of live sessions (host or device) */
    _Atomic uint64_t workspace_bytes; /* scratch of live sessions */
};

/* Error helper shared by the engine: sets err (if not NULL) and returns st. */
gptc_status gt_err(gptc_error *err, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic milliseconds. */
double gt_now_ms(void);

#endif
