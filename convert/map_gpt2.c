/* map_gpt2.c — GPT2LMHeadModel checkpoints to the GGUF tensors and keys llama.cpp's converter
 * writes (GPT2Model in convert_hf_to_gguf). Names may carry the "transformer." prefix or not.
 *
 *   wte.weight [V, d]            -> token_embd.weight         {d, V}
 *   wpe.weight [n_ctx, d]        -> position_embd.weight      F32 {d, n_ctx}
 *   ln_f.{weight,bias}           -> output_norm.{weight,bias} F32
 *   lm_head.weight (if present)  -> output.weight             (else tied to token_embd)
 *   h.N.ln_1 / ln_2              -> blk.N.attn_norm / ffn_norm
 *   h.N.attn.c_attn  (Conv1D [d, 3d], transposed) -> blk.N.attn_qkv    {d, 3d}
 *   h.N.attn.c_proj  (Conv1D [d, d])              -> blk.N.attn_output {d, d}
 *   h.N.mlp.c_fc     (Conv1D [d, ff])             -> blk.N.ffn_up      {d, ff}
 *   h.N.mlp.c_proj   (Conv1D [ff, d])             -> blk.N.ffn_down    {ff, d}
 *   h.N.attn.bias, h.N.attn.masked_bias (causal-mask buffers) are skipped. */
#include <stdio.h>
#include <string.h>

#include "convert/convert.h"

typedef struct g2_cfg {
    int64_t L, d, H, n_ctx, V, ff;
    double eps;
} g2_cfg;

static gptc_status read_cfg(cv_ctx *c, g2_cfg *o) {
    static const char *const k_layer[] = {"n_layer", "num_hidden_layers", NULL};
    static const char *const k_embd[] = {"n_embd", "hidden_size", NULL};
    static const char *const k_head[] = {"n_head", "num_attention_heads", NULL};
    static const char *const k_ctx[] = {"n_ctx", "n_positions", "max_position_embeddings", NULL};
    gptc_status st;
    if ((st = cv_cfg_int_any(c, k_layer, &o->L)) || (st = cv_cfg_int_any(c, k_embd, &o->d)) ||
        (st = cv_cfg_int_any(c, k_head, &o->H)) || (st = cv_cfg_int_any(c, k_ctx, &o->n_ctx)) ||
        (st = cv_cfg_int(c, c->config, "vocab_size", &o->V)) ||
        (st = cv_cfg_num(c, c->config, "layer_norm_epsilon", &o->eps)))
        return st;
    o->ff = 4 * o->d;
    const cJSON *ni = cJSON_GetObjectItemCaseSensitive(c->config, "n_inner");
    if (ni && !cJSON_IsNull(ni) && (st = cv_cfg_int(c, c->config, "n_inner", &o->ff))) return st;
    if (o->L < 1 || o->d < 1 || o->H < 1 || o->d % o->H || o->n_ctx < 1 || o->V < 1 || o->ff < 1)
        return cv_fail(c, GPTC_ERR_FORMAT, "config.json: inconsistent GPT-2 sizes");
    return GPTC_OK;
}

gptc_status cv_map_gpt2(cv_ctx *c) {
    g2_cfg o;
    gptc_status st = read_cfg(c, &o);
    if (st) return st;
    const int64_t d = o.d, ff = o.ff;
    const char *pre = cv_maybe(c, "transformer.wte.weight") ? "transformer." : "";
    const st_tensor *t;
    char hf[160], gg[96];
#define NEED(nd, ...)                                                                              \
    do {                                                                                           \
        const int64_t sh_[] = {__VA_ARGS__};                                                       \
        if (!(t = cv_need(c, hf, nd, sh_, 0))) return c->err->status;                              \
    } while (0)
#define ADD(force, nd, ne0, ne1, sr, sc)                                                           \
    do {                                                                                           \
        const int64_t ne_[3] = {ne0, ne1, 1};                                                      \
        if ((st = cv_add_gather(c, gg, t, t->n_dims, force, nd, ne_, 0, 0, sr, sc))) return st;    \
    } while (0)
    snprintf(hf, sizeof hf, "%swte.weight", pre);
    NEED(2, o.V, d);
    snprintf(gg, sizeof gg, "token_embd.weight");
    ADD(0, 2, d, o.V, d, 1);
    c->vocab_rows = o.V;
    snprintf(hf, sizeof hf, "%swpe.weight", pre);
    NEED(2, o.n_ctx, d);
    snprintf(gg, sizeof gg, "position_embd.weight");
    ADD(1, 2, d, o.n_ctx, d, 1);
    for (int64_t il = 0; il < o.L; il++) {
        static const struct {
            const char *hf, *gg;
            int kind;    /* 0 norm, 1 Conv1D */
            int in, out; /* sizes in units: 1 = d, 3 = 3d, 4 = ff */
        } m[] = {
            {"ln_1", "attn_norm", 0, 1, 1},          {"attn.c_attn", "attn_qkv", 1, 1, 3},
            {"attn.c_proj", "attn_output", 1, 1, 1}, {"ln_2", "ffn_norm", 0, 1, 1},
            {"mlp.c_fc", "ffn_up", 1, 1, 4},         {"mlp.c_proj", "ffn_down", 1, 4, 1},
        };
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
            const int64_t in = m[i].in == 4 ? ff : m[i].in * d;
            const int64_t out = m[i].out == 4 ? ff : m[i].out * d;
            snprintf(hf, sizeof hf, "%sh.%lld.%s.weight", pre, (long long)il, m[i].hf);
            snprintf(gg, sizeof gg, "blk.%lld.%s.weight", (long long)il, m[i].gg);
            if (m[i].kind == 0) {
                NEED(1, d);
                ADD(0, 1, d, 1, 0, 1);
            } else { /* Conv1D stores [in, out]: out (r, c) = src[c * out + r] */
                NEED(2, in, out);
                ADD(0, 2, in, out, 1, out);
            }
            snprintf(hf, sizeof hf, "%sh.%lld.%s.bias", pre, (long long)il, m[i].hf);
            snprintf(gg, sizeof gg, "blk.%lld.%s.bias", (long long)il, m[i].gg);
            NEED(1, out);
            ADD(0, 1, out, 1, 0, 1);
        }
        /* causal-mask buffers some checkpoints carry: not weights */
        static const char *const skip[] = {"attn.bias", "attn.masked_bias"};
        for (int i = 0; i < 2; i++) {
            snprintf(hf, sizeof hf, "%sh.%lld.%s", pre, (long long)il, skip[i]);
            cv_maybe(c, hf);
        }
    }
    snprintf(hf, sizeof hf, "%sln_f.weight", pre);
    NEED(1, d);
    snprintf(gg, sizeof gg, "output_norm.weight");
    ADD(0, 1, d, 1, 0, 1);
    snprintf(hf, sizeof hf, "%sln_f.bias", pre);
    NEED(1, d);
    snprintf(gg, sizeof gg, "output_norm.bias");
    ADD(0, 1, d, 1, 0, 1);
    if (cv_maybe(c, "lm_head.weight")) {
        snprintf(hf, sizeof hf, "lm_head.weight");
        NEED(2, o.V, d);
        snprintf(gg, sizeof gg, "output.weight");
        ADD(0, 2, d, o.V, d, 1);
    }
#undef NEED
#undef ADD
    return GPTC_OK;
}

gptc_status cv_meta_gpt2(cv_ctx *c, gguf_writer *w) {
    g2_cfg o;
    gptc_status st = read_cfg(c, &o);
    if (st) return st;
    if ((st = gguf_writer_add_u32(w, "gpt2.block_count", (uint32_t)o.L)) ||
        (st = gguf_writer_add_u32(w, "gpt2.context_length", (uint32_t)o.n_ctx)) ||
        (st = gguf_writer_add_u32(w, "gpt2.embedding_length", (uint32_t)o.d)) ||
        (st = gguf_writer_add_u32(w, "gpt2.feed_forward_length", (uint32_t)o.ff)) ||
        (st = gguf_writer_add_u32(w, "gpt2.attention.head_count", (uint32_t)o.H)) ||
        (st = gguf_writer_add_f32(w, "gpt2.attention.layer_norm_epsilon", (float)o.eps)))
        return st;
    return GPTC_OK;
}
