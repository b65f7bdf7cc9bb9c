/* gen-model.c — writes a random-weight GGUF model (gpt-oss or GPT-2 layout) for tests and
 * benchmarks. Same arguments -> byte-identical file (independent of the thread count).
 *
 *   gen-model --preset NAME --out FILE.gguf [--seed N] [--tokenizer tokenizer.json | --vocab N]
 *             [--types CLASS=TYPE,...] [--layers N] [--experts N] [--ctx N] [--rope-orig-ctx N]
 *             [--q4km] [--untied] [--chat-template FILE] [--threads N] [--dry-run]
 *             [--split-max-size N]
 *
 * Presets (see usage()): tiny-gpt-oss, tiny-gpt2, gpt2-124m, gpt-oss-20b, gpt-oss-20b-q4_k_m,
 * gpt-oss-120b. --split-max-size writes llama.cpp gguf-split shards (docs/gguf.md §2.1). Memory
 * stays bounded whatever the model size: one 32 MB chunk of rows at a time.
 * Weights: approximately normal (sum of four uniforms), scaled so that activations stay O(1)
 * through every layer (see weight_spec()). Tensor data is generated row by row from a seed
 * derived from (--seed, tensor name, row index), quantised with gen_quant.h (the generator's own
 * quantisers, independent of engine/quant.c, so that golden records stay valid when the engine's
 * quantiser changes) and streamed to the file (gguf_writer_add_tensor_fn), with the rows of each
 * chunk split over threads.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "test/tools/gen_quant.h"

/* ---- errors -------------------------------------------------------------------------------- */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gen-model: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}
static char *xstrdup(const char *s) {
    size_t n = strlen(s);
    char *p = xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

/* ---- deterministic random numbers ---------------------------------------------------------- */
static inline uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t hash_str(uint64_t h, const char *s) {
    h ^= 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    uint64_t st = h;
    return splitmix64(&st);
}
/* Approximately N(0,1): sum of four 16-bit uniforms, centred and scaled (support +-3.46). */
static inline float rng_normal(uint64_t *s) {
    uint64_t r = splitmix64(s);
    int32_t a = (int32_t)(r & 0xffff) + (int32_t)((r >> 16) & 0xffff) +
                (int32_t)((r >> 32) & 0xffff) + (int32_t)(r >> 48);
    return ((float)a - 131070.0f) * (1.0f / 37837.2f);
}

/* ---- types --------------------------------------------------------------------------------- */
static const struct {
    const char *name;
    uint32_t type;
} k_types[] = {
    {"F32", GGML_TYPE_F32},   {"F16", GGML_TYPE_F16},   {"BF16", GGML_TYPE_BF16},
    {"Q8_0", GGML_TYPE_Q8_0}, {"Q4_0", GGML_TYPE_Q4_0}, {"Q4_1", GGML_TYPE_Q4_1},
    {"Q5_0", GGML_TYPE_Q5_0}, {"Q5_1", GGML_TYPE_Q5_1}, {"Q4_K", GGML_TYPE_Q4_K},
    {"Q5_K", GGML_TYPE_Q5_K}, {"Q6_K", GGML_TYPE_Q6_K}, {"MXFP4", GGML_TYPE_MXFP4},
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

static int parse_type(const char *s, uint32_t *out) {
    for (size_t i = 0; i < N_TYPES; i++)
        if (!strcasecmp(s, k_types[i].name)) {
            *out = k_types[i].type;
            return 0;
        }
    return -1;
}
static const char *type_name(uint32_t t) {
    for (size_t i = 0; i < N_TYPES; i++)
        if (k_types[i].type == t) return k_types[i].name;
    return "?";
}
static int type_block(uint32_t t) {
    switch (t) {
    case GGML_TYPE_F32:
    case GGML_TYPE_F16:
    case GGML_TYPE_BF16:
        return 1;
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K:
    case GGML_TYPE_Q6_K:
        return 256;
    default:
        return 32;
    }
}

/* ---- tensor classes (what --types addresses) ----------------------------------------------- */
enum {
    C_EMBD,
    C_POS,
    C_OUTPUT,
    C_ATTN_Q,
    C_ATTN_K,
    C_ATTN_V,
    C_ATTN_QKV,
    C_ATTN_OUT,
    C_EXP_GATE,
    C_EXP_UP,
    C_EXP_DOWN,
    C_FFN_UP,
    C_FFN_DOWN,
    C_ROUTER,
    C_NORM,
    C_BIAS,
    C_SINKS,
    C_COUNT
};
static const char *const k_class_names[C_COUNT] = {
    "embd",     "pos",         "output",   "attn_q", "attn_k",   "attn_v",
    "attn_qkv", "attn_output", "exp_gate", "exp_up", "exp_down", "ffn_up",
    "ffn_down", "router",      "norm",     "bias",   "sinks",
};
/* group aliases -> bit masks of classes */
#define B(c) (1u << (c))
static const struct {
    const char *name;
    unsigned mask;
} k_groups[] = {
    {"attn", B(C_ATTN_Q) | B(C_ATTN_K) | B(C_ATTN_V) | B(C_ATTN_QKV) | B(C_ATTN_OUT)},
    {"experts", B(C_EXP_GATE) | B(C_EXP_UP) | B(C_EXP_DOWN)},
    {"ffn", B(C_FFN_UP) | B(C_FFN_DOWN)},
    {"all", B(C_EMBD) | B(C_POS) | B(C_OUTPUT) | B(C_ATTN_Q) | B(C_ATTN_K) | B(C_ATTN_V) |
                B(C_ATTN_QKV) | B(C_ATTN_OUT) | B(C_EXP_GATE) | B(C_EXP_UP) | B(C_EXP_DOWN) |
                B(C_FFN_UP) | B(C_FFN_DOWN) | B(C_ROUTER)},
    {"everything", (1u << C_COUNT) - 1},
};

/* ---- model configuration ------------------------------------------------------------------- */
enum { ARCH_GPT_OSS, ARCH_GPT2 };

typedef struct config {
    const char *preset;
    int arch;
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_expert, n_expert_used;
    int n_ctx, window, rope_orig_ctx;
    float rope_theta, rope_factor, eps;
    int vocab_rows;        /* pad the vocabulary to this many rows (0: tokenizer size) */
    int synth_vocab;       /* >0: synthetic byte-level vocabulary of this size */
    const char *tokenizer; /* tokenizer.json */
    const char *chat_template;
    int q4km;   /* stock llama-quantize Q4_K_M type rules */
    int untied; /* gpt2: write output.weight */
    int write_betas;
    int fused; /* gpt-oss: one ffn_gate_up_exps tensor (type of exp_gate) */
    uint32_t type[C_COUNT];
    unsigned type_set; /* classes given explicitly by --types (override q4km rules) */
    uint64_t seed;
    int threads;
    uint64_t split_max; /* --split-max-size: bytes of tensor data per shard (0: one file) */
    const char *name;   /* general.name */
    const char *size_label;
} config;

static void preset(config *c, const char *name) {
    memset(c, 0, sizeof *c);
    c->preset = name;
    c->eps = 1e-5f;
    c->seed = 1;
    for (int i = 0; i < C_COUNT; i++) c->type[i] = GGML_TYPE_F32;
    if (!strcmp(name, "tiny-gpt-oss") || !strcmp(name, "gpt-oss-20b") ||
        !strcmp(name, "gpt-oss-20b-q4_k_m") || !strcmp(name, "gpt-oss-120b")) {
        c->arch = ARCH_GPT_OSS;
        c->rope_theta = 150000.0f;
        c->rope_factor = 32.0f;
        c->vocab_rows = 201088;
        c->tokenizer = ".cache/gpt-oss/tokenizer.json";
        c->type[C_EMBD] = c->type[C_OUTPUT] = GGML_TYPE_Q8_0;
        c->type[C_ATTN_Q] = c->type[C_ATTN_K] = c->type[C_ATTN_V] = c->type[C_ATTN_OUT] =
            GGML_TYPE_Q8_0;
        c->type[C_EXP_GATE] = c->type[C_EXP_UP] = c->type[C_EXP_DOWN] = GGML_TYPE_MXFP4;
        if (!strcmp(name, "tiny-gpt-oss")) {
            c->n_layer = 4;
            c->n_embd = 256;
            c->n_head = 8;
            c->n_head_kv = 2;
            c->head_dim = 64;
            c->n_ff = 256;
            c->n_expert = 8;
            c->n_expert_used = 4;
            c->window = 128;
            /* small original context: YaRN's three frequency regimes (pair 0 extrapolated,
             * 1..9 blended with unrounded bounds 0.65/9.95, 10..31 interpolated) and positions
             * on both sides of it occur within a ~300-token test */
            c->rope_orig_ctx = 256;
            c->n_ctx = 256 * 32;
            c->name = "gptc tiny gpt-oss (random weights)";
        } else {
            c->n_layer = 24;
            c->n_embd = 2880;
            c->n_head = 64;
            c->n_head_kv = 8;
            c->head_dim = 64;
            c->n_ff = 2880;
            c->n_expert = 32;
            c->n_expert_used = 4;
            c->window = 128;
            c->rope_orig_ctx = 4096;
            c->n_ctx = 131072;
            c->name = "Gpt Oss 20b";
            c->size_label = "20B";
            c->q4km = !strcmp(name, "gpt-oss-20b-q4_k_m");
            if (!strcmp(name, "gpt-oss-120b")) { /* the 20b shape with 36 blocks, 128 experts */
                c->n_layer = 36;
                c->n_expert = 128;
                c->name = "Gpt Oss 120b";
                c->size_label = "120B";
            }
        }
    } else if (!strcmp(name, "tiny-gpt2") || !strcmp(name, "gpt2-124m")) {
        c->arch = ARCH_GPT2;
        c->tokenizer = "test/data/tokenizer/gpt2/tokenizer.json";
        c->n_ctx = 1024;
        if (!strcmp(name, "tiny-gpt2")) {
            c->n_layer = 2;
            c->n_embd = 128;
            c->n_head = 4;
            c->name = "gptc tiny gpt2 (random weights)";
        } else {
            c->n_layer = 12;
            c->n_embd = 768;
            c->n_head = 12;
            c->name = "GPT2 124M (random weights)";
            c->size_label = "124M";
            c->type[C_EMBD] = c->type[C_OUTPUT] = c->type[C_ATTN_QKV] = c->type[C_ATTN_OUT] =
                c->type[C_FFN_UP] = c->type[C_FFN_DOWN] = GGML_TYPE_F16;
        }
        c->n_head_kv = c->n_head;
        c->head_dim = c->n_embd / c->n_head;
        c->n_ff = 4 * c->n_embd;
    } else {
        die("unknown preset '%s' (tiny-gpt-oss, tiny-gpt2, gpt2-124m, gpt-oss-20b, "
            "gpt-oss-20b-q4_k_m, gpt-oss-120b)",
            name);
    }
}

static void parse_types(config *c, const char *spec) {
    char *s = xstrdup(spec), *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) die("--types: '%s' is not CLASS=TYPE", tok);
        *eq = 0;
        uint32_t t;
        if (parse_type(eq + 1, &t))
            die("--types: unknown type '%s' (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K "
                "Q6_K MXFP4)",
                eq + 1);
        unsigned mask = 0;
        for (int i = 0; i < C_COUNT; i++)
            if (!strcmp(tok, k_class_names[i])) mask = B(i);
        for (size_t i = 0; i < sizeof k_groups / sizeof k_groups[0]; i++)
            if (!strcmp(tok, k_groups[i].name)) mask = k_groups[i].mask;
        if (!mask) {
            fprintf(stderr, "classes:");
            for (int i = 0; i < C_COUNT; i++) fprintf(stderr, " %s", k_class_names[i]);
            fprintf(stderr, "; groups: attn experts ffn all everything\n");
            die("--types: unknown tensor class '%s'", tok);
        }
        for (int i = 0; i < C_COUNT; i++)
            if (mask & B(i)) c->type[i] = t;
        c->type_set |= mask;
    }
    free(s);
}

/* llama-quantize's K-quant fallback for rows that are not a multiple of 256. */
static uint32_t k_fallback(uint32_t t, int64_t ne0) {
    if (ne0 % 256 == 0) return t;
    switch (t) {
    case GGML_TYPE_Q4_K:
        return GGML_TYPE_Q5_0;
    case GGML_TYPE_Q5_K:
        return GGML_TYPE_Q5_1;
    case GGML_TYPE_Q6_K:
        return GGML_TYPE_Q8_0;
    default:
        return t;
    }
}

/* "More bits" layers of llama.cpp's Q4_K_M rules: i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2. */
static int more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Type of a tensor of class cls in layer il (-1: global) with row length ne0. */
static uint32_t tensor_type(const config *c, int cls, int il, int64_t ne0) {
    if (c->q4km && !(c->type_set & B(cls))) {
        switch (cls) {
        case C_EMBD:
        case C_ATTN_Q:
        case C_ATTN_K:
        case C_ATTN_OUT:
        case C_EXP_GATE:
        case C_EXP_UP:
        case C_FFN_UP:
            return k_fallback(GGML_TYPE_Q4_K, ne0);
        case C_OUTPUT:
            return k_fallback(GGML_TYPE_Q6_K, ne0);
        case C_ATTN_V:
        case C_ATTN_QKV:
        case C_EXP_DOWN:
        case C_FFN_DOWN:
            return k_fallback(more_bits(il, c->n_layer) ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K, ne0);
        default:
            break; /* router, norms, biases, sinks, pos: F32 */
        }
    }
    return c->type[cls];
}

/* ---- tensors ------------------------------------------------------------------------------- */
typedef struct tensor_spec {
    char name[64];
    int cls;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    float mean, std; /* value distribution: mean + std * N(0,1) */
    uint64_t seed;
    size_t row_bytes;
    int64_t n_rows;
    struct gen *g;
} tensor_spec;

typedef struct gen {
    config *cfg;
    tensor_spec *t;
    size_t n_t, cap_t;
    uint64_t total_bytes;
} gen;

static void add_tensor(gen *g, int cls, int il, float mean, float std, uint32_t n_dims, int64_t ne0,
                       int64_t ne1, int64_t ne2, const char *fmt, ...)
    __attribute__((format(printf, 10, 11)));
static void add_tensor(gen *g, int cls, int il, float mean, float std, uint32_t n_dims, int64_t ne0,
                       int64_t ne1, int64_t ne2, const char *fmt, ...) {
    if (g->n_t == g->cap_t) {
        g->cap_t = g->cap_t ? 2 * g->cap_t : 64;
        g->t = realloc(g->t, g->cap_t * sizeof *g->t);
        if (!g->t) die("out of memory");
    }
    tensor_spec *t = &g->t[g->n_t++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->cls = cls;
    t->type = tensor_type(g->cfg, cls, il, ne0);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->ne[2] = n_dims > 2 ? ne2 : 1;
    t->ne[3] = 1;
    t->mean = mean;
    t->std = std;
    t->seed = hash_str(g->cfg->seed, t->name);
    t->g = g;
    if (ne0 % type_block(t->type))
        die("tensor %s: type %s needs rows that are a multiple of %d elements, ne0 is %lld",
            t->name, type_name(t->type), type_block(t->type), (long long)ne0);
    t->row_bytes = gq_row_size(t->type, ne0);
    if (!t->row_bytes) die("tensor %s: type %s is not supported", t->name, type_name(t->type));
    t->n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    g->total_bytes += (uint64_t)t->row_bytes * (uint64_t)t->n_rows;
}

/* Shapes per docs/gpt-oss.md §7.1 and docs/gpt2.md §5; value scales keep every projection's
 * output at unit-ish variance: a weight of std k/sqrt(fan_in) applied to a unit-RMS input. */
static void build_tensors(gen *g) {
    const config *c = g->cfg;
    const int d = c->n_embd, V = c->vocab_rows;
    const float sd = 1.0f / sqrtf((float)d);
    if (c->arch == ARCH_GPT_OSS) {
        const int q = c->n_head * c->head_dim, kv = c->n_head_kv * c->head_dim, ff = c->n_ff,
                  E = c->n_expert;
        add_tensor(g, C_EMBD, -1, 0, 1.0f, 2, d, V, 1, "token_embd.weight");
        add_tensor(g, C_NORM, -1, 1, 0.1f, 1, d, 1, 1, "output_norm.weight");
        add_tensor(g, C_OUTPUT, -1, 0, sd, 2, d, V, 1, "output.weight");
        for (int il = 0; il < c->n_layer; il++) {
            add_tensor(g, C_NORM, il, 1, 0.1f, 1, d, 1, 1, "blk.%d.attn_norm.weight", il);
            add_tensor(g, C_ATTN_Q, il, 0, sd, 2, d, q, 1, "blk.%d.attn_q.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, q, 1, 1, "blk.%d.attn_q.bias", il);
            add_tensor(g, C_ATTN_K, il, 0, sd, 2, d, kv, 1, "blk.%d.attn_k.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, kv, 1, 1, "blk.%d.attn_k.bias", il);
            add_tensor(g, C_ATTN_V, il, 0, sd, 2, d, kv, 1, "blk.%d.attn_v.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, kv, 1, 1, "blk.%d.attn_v.bias", il);
            add_tensor(g, C_ATTN_OUT, il, 0, 1.0f / sqrtf((float)q), 2, q, d, 1,
                       "blk.%d.attn_output.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, d, 1, 1, "blk.%d.attn_output.bias", il);
            add_tensor(g, C_SINKS, il, 0.5f, 1.0f, 1, c->n_head, 1, 1, "blk.%d.attn_sinks.weight",
                       il);
            add_tensor(g, C_NORM, il, 1, 0.1f, 1, d, 1, 1, "blk.%d.post_attention_norm.weight", il);
            add_tensor(g, C_ROUTER, il, 0, sd, 2, d, E, 1, "blk.%d.ffn_gate_inp.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, E, 1, 1, "blk.%d.ffn_gate_inp.bias", il);
            /* gate/up at 2.5x so that the SwiGLU clamps at +-7 are reached now and then */
            if (c->fused) { /* per expert: ff gate rows, then ff up rows */
                add_tensor(g, C_EXP_GATE, il, 0, 2.5f * sd, 3, d, 2 * ff, E,
                           "blk.%d.ffn_gate_up_exps.weight", il);
                add_tensor(g, C_BIAS, il, 0, 0.1f, 2, 2 * ff, E, 1, "blk.%d.ffn_gate_up_exps.bias",
                           il);
            } else {
                add_tensor(g, C_EXP_GATE, il, 0, 2.5f * sd, 3, d, ff, E,
                           "blk.%d.ffn_gate_exps.weight", il);
                add_tensor(g, C_BIAS, il, 0, 0.1f, 2, ff, E, 1, "blk.%d.ffn_gate_exps.bias", il);
                add_tensor(g, C_EXP_UP, il, 0, 2.5f * sd, 3, d, ff, E, "blk.%d.ffn_up_exps.weight",
                           il);
                add_tensor(g, C_BIAS, il, 0, 0.1f, 2, ff, E, 1, "blk.%d.ffn_up_exps.bias", il);
            }
            add_tensor(g, C_EXP_DOWN, il, 0, 1.0f / sqrtf((float)ff), 3, ff, d, E,
                       "blk.%d.ffn_down_exps.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 2, d, E, 1, "blk.%d.ffn_down_exps.bias", il);
        }
    } else {
        const int ff = c->n_ff;
        add_tensor(g, C_EMBD, -1, 0, 0.1f, 2, d, V, 1, "token_embd.weight");
        add_tensor(g, C_POS, -1, 0, 0.1f, 2, d, c->n_ctx, 1, "position_embd.weight");
        add_tensor(g, C_NORM, -1, 1, 0.1f, 1, d, 1, 1, "output_norm.weight");
        add_tensor(g, C_BIAS, -1, 0, 0.1f, 1, d, 1, 1, "output_norm.bias");
        if (c->untied) add_tensor(g, C_OUTPUT, -1, 0, 0.1f, 2, d, V, 1, "output.weight");
        for (int il = 0; il < c->n_layer; il++) {
            add_tensor(g, C_NORM, il, 1, 0.1f, 1, d, 1, 1, "blk.%d.attn_norm.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, d, 1, 1, "blk.%d.attn_norm.bias", il);
            add_tensor(g, C_ATTN_QKV, il, 0, sd, 2, d, 3 * d, 1, "blk.%d.attn_qkv.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, 3 * d, 1, 1, "blk.%d.attn_qkv.bias", il);
            add_tensor(g, C_ATTN_OUT, il, 0, sd, 2, d, d, 1, "blk.%d.attn_output.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, d, 1, 1, "blk.%d.attn_output.bias", il);
            add_tensor(g, C_NORM, il, 1, 0.1f, 1, d, 1, 1, "blk.%d.ffn_norm.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, d, 1, 1, "blk.%d.ffn_norm.bias", il);
            add_tensor(g, C_FFN_UP, il, 0, sd, 2, d, ff, 1, "blk.%d.ffn_up.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, ff, 1, 1, "blk.%d.ffn_up.bias", il);
            add_tensor(g, C_FFN_DOWN, il, 0, 1.0f / sqrtf((float)ff), 2, ff, d, 1,
                       "blk.%d.ffn_down.weight", il);
            add_tensor(g, C_BIAS, il, 0, 0.1f, 1, d, 1, 1, "blk.%d.ffn_down.bias", il);
        }
    }
}

/* ---- streaming tensor data ----------------------------------------------------------------- */
#define CHUNK_BYTES (32u << 20)

typedef struct job {
    const tensor_spec *t;
    int64_t row0, n_rows;
    uint8_t *dst;
} job;

static void gen_rows(const tensor_spec *t, int64_t row0, int64_t n_rows, uint8_t *dst) {
    const int64_t n = t->ne[0];
    float *buf = xmalloc((size_t)n * sizeof(float));
    for (int64_t r = 0; r < n_rows; r++) {
        uint64_t s = t->seed ^ ((uint64_t)(row0 + r) * 0xD1B54A32D192ED03ull);
        splitmix64(&s);
        for (int64_t i = 0; i < n; i++) buf[i] = t->mean + t->std * rng_normal(&s);
        uint8_t *out = dst + (size_t)r * t->row_bytes;
        size_t w = gq_quantize_row(t->type, buf, out, n);
        if (w != t->row_bytes)
            die("quantising %s as %s wrote %zu bytes, expected %zu", t->name, type_name(t->type), w,
                t->row_bytes);
    }
    free(buf);
}

static void *job_main(void *arg) {
    job *j = arg;
    gen_rows(j->t, j->row0, j->n_rows, j->dst);
    return NULL;
}

static int write_tensor(void *user, FILE *out, uint64_t bytes) {
    const tensor_spec *t = user;
    if (bytes != (uint64_t)t->row_bytes * (uint64_t)t->n_rows) return -1;
    int nth = t->g->cfg->threads;
    int64_t rows_per_chunk = (int64_t)(CHUNK_BYTES / t->row_bytes);
    if (rows_per_chunk < 1) rows_per_chunk = 1;
    if (rows_per_chunk > t->n_rows) rows_per_chunk = t->n_rows;
    uint8_t *buf = xmalloc((size_t)rows_per_chunk * t->row_bytes);
    pthread_t th[256];
    job jobs[256];
    for (int64_t r0 = 0; r0 < t->n_rows; r0 += rows_per_chunk) {
        int64_t nr = t->n_rows - r0 < rows_per_chunk ? t->n_rows - r0 : rows_per_chunk;
        int nj = nth;
        if (nj > nr) nj = (int)nr;
        if (nr * t->ne[0] < 65536) nj = 1; /* small tensors: not worth a thread */
        int64_t per = (nr + nj - 1) / nj;
        int started = 0;
        for (int k = 0; k < nj; k++) {
            int64_t a = k * per, b = a + per < nr ? a + per : nr;
            if (a >= b) break;
            jobs[k] = (job){t, r0 + a, b - a, buf + (size_t)a * t->row_bytes};
            if (nj == 1) {
                job_main(&jobs[k]);
            } else {
                if (pthread_create(&th[k], NULL, job_main, &jobs[k])) die("pthread_create failed");
                started++;
            }
        }
        for (int k = 0; k < started; k++) pthread_join(th[k], NULL);
        if (fwrite(buf, t->row_bytes, (size_t)nr, out) != (size_t)nr) {
            free(buf);
            return -1;
        }
    }
    free(buf);
    return 0;
}

/* ---- tokenizer ------------------------------------------------------------------------------- */
typedef struct vocab {
    char **tokens;
    int32_t *types;
    int n;
    char **merges;
    int n_merges;
    int32_t bos, eos, pad;
    const char *pre;
} vocab;

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n + 1 == cap) {
            cap *= 2;
            b = realloc(b, cap);
            if (!b) die("out of memory");
        }
        size_t k = fread(b + n, 1, cap - 1 - n, f);
        n += k;
        if (k == 0) break;
    }
    fclose(f);
    b[n] = 0;
    if (len) *len = n;
    return b;
}

static int find_token(const vocab *v, const char *s) {
    for (int i = v->n - 1; i >= 0; i--)
        if (v->tokens[i] && !strcmp(v->tokens[i], s)) return i;
    return -1;
}

/* GPT-2's byte -> printable code point map (tokenizer.md): printable Latin-1 bytes map to
 * themselves, the rest to U+0100 + k in byte order. */
static void byte_char(int b, char out[3]) {
    int cp;
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) {
        cp = b;
    } else {
        int k = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff)))
                k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = 0;
    }
}

static void vocab_set_specials(vocab *v, int arch) {
    if (arch == ARCH_GPT_OSS) {
        v->bos = find_token(v, "<|startoftext|>");
        v->eos = find_token(v, "<|return|>");
        v->pad = find_token(v, "<|endoftext|>");
        v->pre = "gpt-4o";
    } else {
        v->bos = v->eos = find_token(v, "<|endoftext|>");
        v->pad = -1;
        v->pre = "gpt-2";
    }
}

/* A synthetic byte-level BPE vocabulary: 256 byte tokens, then tokens made by merging two earlier
 * tokens (deterministic in the seed), then the architecture's special tokens. */
static void vocab_synthetic(vocab *v, int n, int arch, uint64_t seed) {
    static const char *const oss_specials[] = {"<|startoftext|>", "<|endoftext|>", "<|return|>",
                                               "<|constrain|>",   "<|channel|>",   "<|start|>",
                                               "<|end|>",         "<|message|>",   "<|call|>"};
    static const char *const gpt2_specials[] = {"<|endoftext|>"};
    const char *const *sp = arch == ARCH_GPT_OSS ? oss_specials : gpt2_specials;
    int n_sp = arch == ARCH_GPT_OSS ? 9 : 1;
    if (n < 256 + n_sp + 1) die("--vocab must be at least %d", 256 + n_sp + 1);
    v->n = n;
    v->tokens = calloc((size_t)n, sizeof(char *));
    v->types = xmalloc((size_t)n * sizeof(int32_t));
    v->merges = calloc((size_t)n, sizeof(char *));
    if (!v->tokens || !v->merges) die("out of memory");
    for (int b = 0; b < 256; b++) {
        char s[3];
        byte_char(b, s);
        v->tokens[b] = xstrdup(s);
        v->types[b] = 1;
    }
    /* open-addressing set of token strings to keep them unique */
    size_t hcap = 1;
    while (hcap < (size_t)n * 4) hcap <<= 1;
    int32_t *hset = xmalloc(hcap * sizeof(int32_t));
    for (size_t i = 0; i < hcap; i++) hset[i] = -1;
    for (int i = 0; i < 256; i++) {
        size_t h = hash_str(0, v->tokens[i]) & (hcap - 1);
        while (hset[h] >= 0) h = (h + 1) & (hcap - 1);
        hset[h] = i;
    }
    uint64_t s = seed ^ 0x5EEDB0CAB0CA1ull;
    int n_normal = n - n_sp;
    for (int k = 256; k < n_normal;) {
        /* prefer short pieces: left/right drawn from the lower part of the vocabulary */
        int a = (int)(splitmix64(&s) % (uint64_t)(k < 1024 ? k : 1024 + (k - 1024) / 4));
        int b = (int)(splitmix64(&s) % (uint64_t)(k < 512 ? k : 512));
        size_t la = strlen(v->tokens[a]), lb = strlen(v->tokens[b]);
        if (la + lb > 24) continue;
        char *t = xmalloc(la + lb + 1);
        memcpy(t, v->tokens[a], la);
        memcpy(t + la, v->tokens[b], lb + 1);
        size_t h = hash_str(0, t) & (hcap - 1);
        int dup = 0;
        while (hset[h] >= 0) {
            if (!strcmp(v->tokens[hset[h]], t)) {
                dup = 1;
                break;
            }
            h = (h + 1) & (hcap - 1);
        }
        if (dup) {
            free(t);
            continue;
        }
        hset[h] = k;
        v->tokens[k] = t;
        v->types[k] = 1;
        char *m = xmalloc(la + lb + 2);
        memcpy(m, v->tokens[a], la);
        m[la] = ' ';
        memcpy(m + la + 1, v->tokens[b], lb + 1);
        v->merges[v->n_merges++] = m;
        k++;
    }
    free(hset);
    for (int i = 0; i < n_sp; i++) {
        v->tokens[n_normal + i] = xstrdup(sp[i]);
        v->types[n_normal + i] = 3;
    }
    vocab_set_specials(v, arch);
}

static void vocab_from_json(vocab *v, const char *path, int pad_rows, int arch) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) die("cannot read tokenizer %s: %s", path, strerror(errno));
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) die("%s: not valid JSON", path);
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    cJSON *jv = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    cJSON *jm = cJSON_GetObjectItemCaseSensitive(model, "merges");
    cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(jv) || !cJSON_IsArray(jm)) die("%s: no model.vocab / model.merges", path);
    int n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, jv) {
        if (!cJSON_IsNumber(it) || it->valueint < 0) die("%s: bad vocab id", path);
        if (it->valueint + 1 > n) n = it->valueint + 1;
    }
    cJSON_ArrayForEach(it, added) {
        cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsNumber(id) || id->valueint < 0) die("%s: bad added token id", path);
        if (id->valueint + 1 > n) n = id->valueint + 1;
    }
    if (pad_rows > n) n = pad_rows;
    v->n = n;
    v->tokens = calloc((size_t)n, sizeof(char *));
    v->types = xmalloc((size_t)n * sizeof(int32_t));
    if (!v->tokens) die("out of memory");
    cJSON_ArrayForEach(it, jv) {
        v->tokens[it->valueint] = xstrdup(it->string);
        v->types[it->valueint] = 1;
    }
    cJSON_ArrayForEach(it, added) {
        int id = cJSON_GetObjectItemCaseSensitive(it, "id")->valueint;
        cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(content)) die("%s: bad added token content", path);
        free(v->tokens[id]);
        v->tokens[id] = xstrdup(content->valuestring);
        v->types[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special")) ? 3 : 4;
    }
    for (int i = 0; i < n; i++)
        if (!v->tokens[i]) { /* padding rows of the embedding, like the real gpt-oss file */
            char buf[32];
            snprintf(buf, sizeof buf, "<|reserved_%d|>", i);
            v->tokens[i] = xstrdup(buf);
            v->types[i] = 3;
        }
    v->n_merges = cJSON_GetArraySize(jm);
    v->merges = xmalloc((size_t)(v->n_merges ? v->n_merges : 1) * sizeof(char *));
    int k = 0;
    cJSON_ArrayForEach(it, jm) {
        if (cJSON_IsString(it)) {
            v->merges[k++] = xstrdup(it->valuestring);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            const char *a = cJSON_GetArrayItem(it, 0)->valuestring;
            const char *b = cJSON_GetArrayItem(it, 1)->valuestring;
            size_t la = strlen(a), lb = strlen(b);
            char *m = xmalloc(la + lb + 2);
            memcpy(m, a, la);
            m[la] = ' ';
            memcpy(m + la + 1, b, lb + 1);
            v->merges[k++] = m;
        } else {
            die("%s: bad merge entry %d", path, k);
        }
    }
    cJSON_Delete(root);
    vocab_set_specials(v, arch);
}

static void vocab_free(vocab *v) {
    for (int i = 0; i < v->n; i++) free(v->tokens[i]);
    for (int i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->merges);
}

/* ---- metadata ------------------------------------------------------------------------------ */
static void ck(gptc_status st, const char *what) {
    if (st != GPTC_OK) die("gguf writer: %s failed (%s)", what, gptc_status_name(st));
}

static uint32_t file_type(const config *c, const gen *g) {
    if (c->q4km) return 15;
    unsigned counts[64] = {0};
    for (size_t i = 0; i < g->n_t; i++)
        if (g->t[i].n_dims >= 2 && g->t[i].cls != C_ROUTER && g->t[i].cls != C_POS)
            counts[g->t[i].type < 64 ? g->t[i].type : 0]++;
    if (c->arch == ARCH_GPT_OSS && c->type[C_EXP_GATE] == GGML_TYPE_MXFP4) return 38;
    uint32_t best = 0;
    for (uint32_t t = 0; t < 64; t++)
        if (counts[t] > counts[best]) best = t;
    switch (best) {
    case GGML_TYPE_F32:
        return 0;
    case GGML_TYPE_F16:
        return 1;
    case GGML_TYPE_Q4_0:
        return 2;
    case GGML_TYPE_Q4_1:
        return 3;
    case GGML_TYPE_Q8_0:
        return 7;
    case GGML_TYPE_Q5_0:
        return 8;
    case GGML_TYPE_Q5_1:
        return 9;
    case GGML_TYPE_Q4_K:
        return 15;
    case GGML_TYPE_Q5_K:
        return 17;
    case GGML_TYPE_Q6_K:
        return 18;
    case GGML_TYPE_BF16:
        return 32;
    case GGML_TYPE_MXFP4:
        return 38;
    default:
        return 0;
    }
}

static void add_metadata(gguf_writer *w, const config *c, const gen *g, const vocab *v,
                         const char *tmpl, size_t tmpl_len) {
    char key[128];
    const char *a = c->arch == ARCH_GPT_OSS ? "gpt-oss" : "gpt2";
#define KEY(s) (snprintf(key, sizeof key, "%s." s, a), key)
    ck(gguf_writer_add_str(w, "general.architecture", a, strlen(a)), "architecture");
    ck(gguf_writer_add_str(w, "general.type", "model", 5), "type");
    ck(gguf_writer_add_str(w, "general.name", c->name, strlen(c->name)), "name");
    if (c->arch == ARCH_GPT_OSS) {
        ck(gguf_writer_add_str(w, "general.basename", "gpt-oss", 7), "basename");
        if (c->size_label)
            ck(gguf_writer_add_str(w, "general.size_label", c->size_label, strlen(c->size_label)),
               "size_label");
        ck(gguf_writer_add_str(w, "general.license", "apache-2.0", 10), "license");
        const char *tags[] = {"vllm", "text-generation"};
        ck(gguf_writer_add_arr_str(w, "general.tags", tags, NULL, 2), "tags");
    }
    ck(gguf_writer_add_u32(w, KEY("block_count"), (uint32_t)c->n_layer), "block_count");
    ck(gguf_writer_add_u32(w, KEY("context_length"), (uint32_t)c->n_ctx), "context_length");
    ck(gguf_writer_add_u32(w, KEY("embedding_length"), (uint32_t)c->n_embd), "embedding_length");
    ck(gguf_writer_add_u32(w, KEY("feed_forward_length"), (uint32_t)c->n_ff), "ff_length");
    ck(gguf_writer_add_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head), "head_count");
    if (c->arch == ARCH_GPT_OSS) {
        ck(gguf_writer_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_head_kv),
           "head_count_kv");
        ck(gguf_writer_add_f32(w, KEY("rope.freq_base"), c->rope_theta), "freq_base");
        ck(gguf_writer_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->eps), "eps");
        ck(gguf_writer_add_u32(w, KEY("expert_count"), (uint32_t)c->n_expert), "expert_count");
        ck(gguf_writer_add_u32(w, KEY("expert_used_count"), (uint32_t)c->n_expert_used),
           "expert_used_count");
        ck(gguf_writer_add_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim), "key_len");
        ck(gguf_writer_add_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim),
           "value_len");
        ck(gguf_writer_add_u32(w, KEY("attention.sliding_window"), (uint32_t)c->window),
           "sliding_window");
        ck(gguf_writer_add_u32(w, KEY("expert_feed_forward_length"), (uint32_t)c->n_ff),
           "expert_ff");
        ck(gguf_writer_add_str(w, KEY("rope.scaling.type"), "yarn", 4), "scaling.type");
        ck(gguf_writer_add_f32(w, KEY("rope.scaling.factor"), c->rope_factor), "scaling.factor");
        ck(gguf_writer_add_u32(w, KEY("rope.scaling.original_context_length"),
                               (uint32_t)c->rope_orig_ctx),
           "original_context_length");
        if (c->write_betas) {
            ck(gguf_writer_add_f32(w, KEY("rope.scaling.yarn_beta_fast"), 32.0f), "beta_fast");
            ck(gguf_writer_add_f32(w, KEY("rope.scaling.yarn_beta_slow"), 1.0f), "beta_slow");
        }
    } else {
        ck(gguf_writer_add_f32(w, KEY("attention.layer_norm_epsilon"), c->eps), "eps");
    }
#undef KEY
    ck(gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4), "tok model");
    ck(gguf_writer_add_str(w, "tokenizer.ggml.pre", v->pre, strlen(v->pre)), "tok pre");
    ck(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, NULL,
                               (uint64_t)v->n),
       "tokens");
    ck(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, v->types, (uint64_t)v->n),
       "token_type");
    ck(gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, NULL,
                               (uint64_t)v->n_merges),
       "merges");
    if (v->bos >= 0)
        ck(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos), "bos");
    if (v->eos >= 0)
        ck(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos), "eos");
    if (v->pad >= 0)
        ck(gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad), "pad");
    if (tmpl) ck(gguf_writer_add_str(w, "tokenizer.chat_template", tmpl, tmpl_len), "template");
    ck(gguf_writer_add_u32(w, "general.quantization_version", 2), "quantization_version");
    ck(gguf_writer_add_u32(w, "general.file_type", file_type(c, g)), "file_type");
}

/* ---- output: one file or gguf-split shards --------------------------------------------------- */
#define SPLIT_ALIGN 32u /* gguf-split pads each tensor to GGUF_DEFAULT_ALIGNMENT */

/* Shard of each tensor by gguf-split's rule: a new shard when the tensor data so far (each
 * tensor padded to 32 bytes) plus the next tensor would exceed max. Returns the shard count. */
static int plan_shards(const gen *g, uint64_t max, int *shard) {
    int k = 0;
    uint64_t cur = 0;
    for (size_t i = 0; i < g->n_t; i++) {
        uint64_t b = (uint64_t)g->t[i].row_bytes * (uint64_t)g->t[i].n_rows;
        b = (b + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
        if (max && cur > 0 && cur + b > max) {
            k++;
            cur = 0;
        }
        cur += b;
        shard[i] = k;
    }
    return k + 1;
}

static void write_model(const config *c, gen *g, const vocab *v, const char *tmpl, size_t tmpl_len,
                        const char *out) {
    int *shard = xmalloc(g->n_t * sizeof *shard);
    int n = plan_shards(g, c->split_max, shard);
    if (n > 65535) die("--split-max-size: %d shards (at most 65535)", n);
    for (int k = 0; k < n; k++) {
        gguf_writer *w = gguf_writer_new();
        if (!w) die("out of memory");
        if (k == 0) add_metadata(w, c, g, v, tmpl, tmpl_len);
        if (c->split_max) { /* gguf-split: the model's metadata in the first shard only */
            ck(gguf_writer_add_u16(w, "split.no", (uint16_t)k), "split.no");
            ck(gguf_writer_add_u16(w, "split.count", (uint16_t)n), "split.count");
            ck(gguf_writer_add_i32(w, "split.tensors.count", (int32_t)g->n_t),
               "split.tensors.count");
        }
        for (size_t i = 0; i < g->n_t; i++) {
            tensor_spec *t = &g->t[i];
            if (shard[i] != k) continue;
            ck(gguf_writer_add_tensor_fn(w, t->name, t->type, t->n_dims, t->ne, write_tensor, t),
               t->name);
        }
        char *path = c->split_max ? gguf_split_path(out, k + 1, n) : xstrdup(out);
        if (!path) die("out of memory");
        gptc_error err;
        memset(&err, 0, sizeof err);
        if (gguf_writer_write(w, path, &err) != GPTC_OK) die("%s", err.msg);
        if (c->split_max) printf("%s\n", path);
        gguf_writer_free(w);
        free(path);
    }
    free(shard);
}

/* ---- main ---------------------------------------------------------------------------------- */
static void usage(void) {
    fprintf(
        stderr,
        "usage: gen-model --preset NAME --out FILE.gguf [options]\n"
        "presets: tiny-gpt-oss   4 layers, d 256, 8 q / 2 kv heads of 64, 8 experts (top 4) of\n"
        "                        ff 256, window 128, YaRN x32 over an original context of 256,\n"
        "                        o200k vocabulary (201088 rows); Q8_0 + MXFP4 experts\n"
        "         tiny-gpt2      2 layers, d 128, 4 heads, ctx 1024, GPT-2 vocabulary; F32\n"
        "         gpt2-124m      GPT-2 small shape; F16 matrices\n"
        "         gpt-oss-20b    ggml-org layout: 459 tensors, MXFP4 experts, Q8_0 others\n"
        "         gpt-oss-20b-q4_k_m  stock llama-quantize Q4_K_M rules (docs/gpt-oss.md 7.3);\n"
        "                        add --types experts=MXFP4 for the 'published' variant\n"
        "         gpt-oss-120b   ggml-org layout: 36 blocks, 128 experts (top 4), 687 tensors,\n"
        "                        63.4 GB; --layers N for a reduced-depth variant\n"
        "options: --seed N             weights seed (default 1)\n"
        "         --tokenizer FILE     HF tokenizer.json for the vocabulary\n"
        "         --vocab N            synthetic byte-level BPE vocabulary of N tokens instead\n"
        "         --types C=T,...      tensor type per class: embd pos output attn_q attn_k\n"
        "                              attn_v attn_qkv attn_output exp_gate exp_up exp_down\n"
        "                              ffn_up ffn_down router norm bias sinks; groups attn\n"
        "                              experts ffn all (every matrix) everything; types F32\n"
        "                              F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K MXFP4\n"
        "         --q4km               llama-quantize Q4_K_M type rules\n"
        "         --layers N --experts N --experts-used N --embd N --ff N --heads N\n"
        "         --kv-heads N --ctx N --window N --rope-orig-ctx N --rope-theta X\n"
        "         --head-dim N         gpt-oss: size of a head (default 64)\n"
        "         --fused-gate-up      gpt-oss: fused ffn_gate_up_exps [d, 2 ff, experts]\n"
        "         --untied             gpt2: write a separate output.weight\n"
        "         --yarn-betas         write rope.scaling.yarn_beta_fast/slow (32/1)\n"
        "         --chat-template FILE --name S --threads N\n"
        "         --split-max-size N   write gguf-split shards OUT-00001-of-0000K.gguf (OUT\n"
        "                              without .gguf), at most N bytes of tensor data each\n"
        "                              (suffix K, M, G: 10^3, 10^6, 10^9, as gguf-split; a\n"
        "                              larger tensor gets a shard of its own)\n"
        "         --dry-run            print the tensor table and sizes, write nothing\n");
}

int main(int argc, char **argv) {
    const char *preset_name = NULL, *out = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset_name = argv[i + 1];
    if (!preset_name) {
        usage();
        return 1;
    }
    config c;
    preset(&c, preset_name);
    int dry = 0, tokenizer_given = 0;
    long nth = sysconf(_SC_NPROCESSORS_ONLN);
    c.threads = nth > 0 ? (int)(nth > 64 ? 64 : nth) : 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define INTARG(flag, field)                                                                        \
    if (!strcmp(a, flag)) {                                                                        \
        if (!val) die("%s needs a value", flag);                                                   \
        char *end;                                                                                 \
        long x = strtol(val, &end, 10);                                                            \
        if (*end || x <= 0 || x > 100000000) die("%s: bad value '%s'", flag, val);                 \
        c.field = (int)x;                                                                          \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        if (!strcmp(a, "--preset")) {
            i++;
            continue;
        }
        if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            if (!val) die("--out needs a value");
            out = val;
            i++;
            continue;
        }
        if (!strcmp(a, "--seed")) {
            if (!val) die("--seed needs a value");
            char *end;
            c.seed = strtoull(val, &end, 10);
            if (*end) die("--seed: bad value '%s'", val);
            i++;
            continue;
        }
        if (!strcmp(a, "--tokenizer")) {
            if (!val) die("--tokenizer needs a value");
            c.tokenizer = val;
            tokenizer_given = 1;
            i++;
            continue;
        }
        if (!strcmp(a, "--types")) {
            if (!val) die("--types needs a value");
            parse_types(&c, val);
            i++;
            continue;
        }
        if (!strcmp(a, "--chat-template")) {
            if (!val) die("--chat-template needs a value");
            c.chat_template = val;
            i++;
            continue;
        }
        if (!strcmp(a, "--name")) {
            if (!val) die("--name needs a value");
            c.name = val;
            i++;
            continue;
        }
        if (!strcmp(a, "--split-max-size")) {
            if (!val) die("--split-max-size needs a value");
            char *end;
            unsigned long long x = strtoull(val, &end, 10);
            uint64_t mul = 1;
            if (*end == 'K' || *end == 'k')
                mul = 1000, end++;
            else if (*end == 'M' || *end == 'm')
                mul = 1000000, end++;
            else if (*end == 'G' || *end == 'g')
                mul = 1000000000, end++;
            if (*end || x == 0 || x > (1ull << 50) / mul)
                die("--split-max-size: bad value '%s' (e.g. 50M, 4G)", val);
            c.split_max = x * mul;
            i++;
            continue;
        }
        if (!strcmp(a, "--rope-theta")) {
            if (!val) die("--rope-theta needs a value");
            c.rope_theta = strtof(val, NULL);
            i++;
            continue;
        }
        INTARG("--vocab", synth_vocab)
        INTARG("--layers", n_layer)
        INTARG("--experts", n_expert)
        INTARG("--experts-used", n_expert_used)
        INTARG("--embd", n_embd)
        INTARG("--ff", n_ff)
        INTARG("--heads", n_head)
        INTARG("--kv-heads", n_head_kv)
        INTARG("--head-dim", head_dim)
        INTARG("--ctx", n_ctx)
        INTARG("--window", window)
        INTARG("--rope-orig-ctx", rope_orig_ctx)
        INTARG("--threads", threads)
#undef INTARG
        if (!strcmp(a, "--q4km")) {
            c.q4km = 1;
            continue;
        }
        if (!strcmp(a, "--untied")) {
            c.untied = 1;
            continue;
        }
        if (!strcmp(a, "--fused-gate-up")) {
            c.fused = 1;
            continue;
        }
        if (!strcmp(a, "--yarn-betas")) {
            c.write_betas = 1;
            continue;
        }
        if (!strcmp(a, "--dry-run")) {
            dry = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        }
        usage();
        die("unknown argument '%s'", a);
    }
    if (!out && !dry) die("--out FILE is required");
    if (c.threads > 256) c.threads = 256;
    if (c.arch == ARCH_GPT2) {
        c.n_head_kv = c.n_head;
        if (c.n_embd % c.n_head) die("--embd must be a multiple of --heads");
        c.head_dim = c.n_embd / c.n_head;
    }
    if (c.arch == ARCH_GPT_OSS && (c.head_dim <= 0 || c.head_dim % 2))
        die("--head-dim must be even and positive");
    if (c.n_head % c.n_head_kv)
        die("heads (%d) must be a multiple of kv heads (%d)", c.n_head, c.n_head_kv);
    if (c.arch == ARCH_GPT_OSS && c.n_expert_used > c.n_expert)
        die("--experts-used must not exceed --experts");

    /* vocabulary */
    vocab v;
    memset(&v, 0, sizeof v);
    if (c.synth_vocab && !tokenizer_given) {
        vocab_synthetic(&v, c.synth_vocab, c.arch, c.seed);
    } else {
        const char *tp = c.tokenizer;
        vocab_from_json(&v, tp, c.arch == ARCH_GPT_OSS ? c.vocab_rows : 0, c.arch);
    }
    c.vocab_rows = v.n;

    /* chat template (gpt-oss): --chat-template, else the project's copy when it is around */
    char *tmpl = NULL;
    size_t tmpl_len = 0;
    if (c.chat_template) {
        tmpl = read_file(c.chat_template, &tmpl_len);
        if (!tmpl) die("cannot read %s: %s", c.chat_template, strerror(errno));
    } else if (c.arch == ARCH_GPT_OSS) {
        tmpl = read_file("test/data/gpt-oss-chat-template.jinja", &tmpl_len);
    }

    gen g;
    memset(&g, 0, sizeof g);
    g.cfg = &c;
    build_tensors(&g);

    if (dry) {
        for (size_t i = 0; i < g.n_t; i++) {
            const tensor_spec *t = &g.t[i];
            printf("%-36s %-6s [%lld, %lld, %lld] %llu bytes\n", t->name, type_name(t->type),
                   (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                   (unsigned long long)(t->row_bytes * (uint64_t)t->n_rows));
        }
        printf("tensors: %zu, tensor data: %llu bytes, vocab: %d, merges: %d\n", g.n_t,
               (unsigned long long)g.total_bytes, v.n, v.n_merges);
        if (c.split_max) { /* the shards --split-max-size would write */
            int *shard = xmalloc(g.n_t * sizeof *shard);
            int n = plan_shards(&g, c.split_max, shard);
            for (int k = 0; k < n; k++) {
                uint64_t bytes = 0, nt = 0;
                for (size_t i = 0; i < g.n_t; i++)
                    if (shard[i] == k) bytes += g.t[i].row_bytes * (uint64_t)g.t[i].n_rows, nt++;
                printf("shard %d of %d: %llu tensors, %llu bytes of tensor data\n", k + 1, n,
                       (unsigned long long)nt, (unsigned long long)bytes);
            }
            free(shard);
        }
    } else {
        write_model(&c, &g, &v, tmpl, tmpl_len, out);
    }
    free(tmpl);
    free(g.t);
    vocab_free(&v);
    return 0;
}
