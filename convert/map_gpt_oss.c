/* map_gpt_oss.c — GptOssForCausalLM checkpoints (OpenAI's gpt-oss layout on Hugging Face) to
 * the GGUF tensors and keys llama.cpp's converter writes (GptOssModel in convert_hf_to_gguf).
 *
 *   model.embed_tokens.weight [V, d]                 -> token_embd.weight        {d, V}
 *   model.norm.weight                                -> output_norm.weight       F32
 *   lm_head.weight [V, d]                            -> output.weight            {d, V}
 *   model.layers.N.input_layernorm.weight            -> blk.N.attn_norm.weight   F32
 *   model.layers.N.self_attn.{q,k,v,o}_proj.{weight,bias} -> blk.N.attn_{q,k,v,output}.*
 *   model.layers.N.self_attn.sinks [H]               -> blk.N.attn_sinks.weight  F32
 *   model.layers.N.post_attention_layernorm.weight   -> blk.N.post_attention_norm.weight F32
 *   model.layers.N.mlp.router.{weight,bias}          -> blk.N.ffn_gate_inp.*     F32
 *   model.layers.N.mlp.experts.gate_up_proj_blocks [E, 2I, d/32, 16] + _scales [E, 2I, d/32]
 *       -> blk.N.ffn_gate_exps.weight (even rows), blk.N.ffn_up_exps.weight (odd rows)
 *          MXFP4 {d, I, E}, repacked bit-exactly (quant_mxfp4_from_hf)
 *   model.layers.N.mlp.experts.gate_up_proj_bias [E, 2I] -> ffn_{gate,up}_exps.bias F32 {I, E}
 *   model.layers.N.mlp.experts.down_proj_blocks [E, d, I/32, 16] + _scales -> ffn_down_exps.weight
 *          MXFP4 {I, d, E};  down_proj_bias [E, d] -> ffn_down_exps.bias F32 {d, E}
 * Dequantised checkpoints (experts as float gate_up_proj [E, d, 2I] and down_proj [E, I, d])
 * are split and transposed the same way and take the output type. */
#include <stdio.h>
#include <string.h>

#include "convert/convert.h"

typedef struct oss_cfg {
    int64_t L, d, ff, H, Hkv, hd, E, k, window, V, n_ctx, orig;
    double eps, theta, factor;
    const cJSON *rope; /* rope_parameters / rope_scaling */
} oss_cfg;

static gptc_status read_cfg(cv_ctx *c, oss_cfg *o) {
    const cJSON *j = c->config;
    gptc_status st;
    if ((st = cv_cfg_int(c, j, "num_hidden_layers", &o->L)) ||
        (st = cv_cfg_int(c, j, "hidden_size", &o->d)) ||
        (st = cv_cfg_int(c, j, "intermediate_size", &o->ff)) ||
        (st = cv_cfg_int(c, j, "num_attention_heads", &o->H)) ||
        (st = cv_cfg_int(c, j, "num_key_value_heads", &o->Hkv)) ||
        (st = cv_cfg_int(c, j, "num_local_experts", &o->E)) ||
        (st = cv_cfg_int(c, j, "num_experts_per_tok", &o->k)) ||
        (st = cv_cfg_int(c, j, "sliding_window", &o->window)) ||
        (st = cv_cfg_int(c, j, "vocab_size", &o->V)) ||
        (st = cv_cfg_int(c, j, "max_position_embeddings", &o->n_ctx)) ||
        (st = cv_cfg_num(c, j, "rms_norm_eps", &o->eps)))
        return st;
    o->hd = o->d / (o->H ? o->H : 1);
    if (cJSON_GetObjectItemCaseSensitive(j, "head_dim") &&
        (st = cv_cfg_int(c, j, "head_dim", &o->hd)))
        return st;
    if (o->L < 1 || o->d < 1 || o->ff < 1 || o->H < 1 || o->Hkv < 1 || o->H % o->Hkv || o->hd < 2 ||
        o->hd % 2 || o->E < 1 || o->k < 1 || o->k > o->E || o->V < 1 || o->n_ctx < 1 ||
        o->window < 0)
        return cv_fail(c, GPTC_ERR_FORMAT, "config.json: inconsistent gpt-oss sizes");
    /* RoPE: rope_parameters (transformers 5) or rope_scaling + rope_theta */
    o->rope = cJSON_GetObjectItemCaseSensitive(j, "rope_parameters");
    if (!cJSON_IsObject(o->rope)) o->rope = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (!cJSON_IsObject(o->rope)) o->rope = NULL;
    const cJSON *th = o->rope ? cJSON_GetObjectItemCaseSensitive(o->rope, "rope_theta") : NULL;
    if (!cJSON_IsNumber(th)) th = cJSON_GetObjectItemCaseSensitive(j, "rope_theta");
    if (!cJSON_IsNumber(th))
        return cv_fail(c, GPTC_ERR_FORMAT,
                       "config.json: no rope_theta (top level or in "
                       "rope_parameters)");
    o->theta = th->valuedouble;
    if (o->rope) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o->rope, "rope_type");
        if (!cJSON_IsString(ty)) ty = cJSON_GetObjectItemCaseSensitive(o->rope, "type");
        if (cJSON_IsString(ty) && strcmp(ty->valuestring, "yarn"))
            return cv_fail(c, GPTC_ERR_UNSUPPORTED,
                           "config.json: rope type '%.32s' (gpt-oss "
                           "uses yarn)",
                           ty->valuestring);
        if (!cJSON_IsString(ty)) o->rope = NULL;
    }
    if (o->rope) {
        if ((st = cv_cfg_num(c, o->rope, "factor", &o->factor)) ||
            (st = cv_cfg_int(c, o->rope, "original_max_position_embeddings", &o->orig)))
            return st;
    }
    return GPTC_OK;
}

gptc_status cv_map_gpt_oss(cv_ctx *c) {
    oss_cfg o;
    gptc_status st = read_cfg(c, &o);
    if (st) return st;
    const int64_t d = o.d, V = o.V, q = o.H * o.hd, kv = o.Hkv * o.hd, ff = o.ff, E = o.E;
    const st_tensor *t;
    char hf[160], gg[96];
#define NEED(name, nd, ...)                                                                        \
    do {                                                                                           \
        const int64_t sh_[] = {__VA_ARGS__};                                                       \
        if (!(t = cv_need(c, name, nd, sh_, 0))) return c->err->status;                            \
    } while (0)
#define ADD(gname, force, nd, ne0, ne1, ne2, base, sm, sr, sc)                                     \
    do {                                                                                           \
        const int64_t ne_[3] = {ne0, ne1, ne2};                                                    \
        if ((st = cv_add_gather(c, gname, t, t->n_dims, force, nd, ne_, base, sm, sr, sc)))        \
            return st;                                                                             \
    } while (0)
    NEED("model.embed_tokens.weight", 2, V, d);
    ADD("token_embd.weight", 0, 2, d, V, 1, 0, 0, d, 1);
    c->vocab_rows = V;
    for (int64_t il = 0; il < o.L; il++) {
        static const struct {
            const char *hf, *gg;
            int is_out; /* o_proj: [d, q] instead of [rows, d] */
            int kvrows;
        } lin[] = {{"q_proj", "attn_q", 0, 0},
                   {"k_proj", "attn_k", 0, 1},
                   {"v_proj", "attn_v", 0, 1},
                   {"o_proj", "attn_output", 1, 0}};
        snprintf(hf, sizeof hf, "model.layers.%lld.input_layernorm.weight", (long long)il);
        NEED(hf, 1, d);
        snprintf(gg, sizeof gg, "blk.%lld.attn_norm.weight", (long long)il);
        ADD(gg, 0, 1, d, 1, 1, 0, 0, 0, 1);
        for (int i = 0; i < 4; i++) {
            int64_t rows = lin[i].is_out ? d : lin[i].kvrows ? kv : q;
            int64_t cols = lin[i].is_out ? q : d;
            snprintf(hf, sizeof hf, "model.layers.%lld.self_attn.%s.weight", (long long)il,
                     lin[i].hf);
            NEED(hf, 2, rows, cols);
            snprintf(gg, sizeof gg, "blk.%lld.%s.weight", (long long)il, lin[i].gg);
            ADD(gg, 0, 2, cols, rows, 1, 0, 0, cols, 1);
            snprintf(hf, sizeof hf, "model.layers.%lld.self_attn.%s.bias", (long long)il,
                     lin[i].hf);
            NEED(hf, 1, rows);
            snprintf(gg, sizeof gg, "blk.%lld.%s.bias", (long long)il, lin[i].gg);
            ADD(gg, 0, 1, rows, 1, 1, 0, 0, 0, 1);
        }
        snprintf(hf, sizeof hf, "model.layers.%lld.self_attn.sinks", (long long)il);
        NEED(hf, 1, o.H);
        snprintf(gg, sizeof gg, "blk.%lld.attn_sinks.weight", (long long)il);
        ADD(gg, 0, 1, o.H, 1, 1, 0, 0, 0, 1);
        snprintf(hf, sizeof hf, "model.layers.%lld.post_attention_layernorm.weight", (long long)il);
        NEED(hf, 1, d);
        snprintf(gg, sizeof gg, "blk.%lld.post_attention_norm.weight", (long long)il);
        ADD(gg, 0, 1, d, 1, 1, 0, 0, 0, 1);
        snprintf(hf, sizeof hf, "model.layers.%lld.mlp.router.weight", (long long)il);
        NEED(hf, 2, E, d);
        snprintf(gg, sizeof gg, "blk.%lld.ffn_gate_inp.weight", (long long)il);
        ADD(gg, 1, 2, d, E, 1, 0, 0, d, 1);
        snprintf(hf, sizeof hf, "model.layers.%lld.mlp.router.bias", (long long)il);
        NEED(hf, 1, E);
        snprintf(gg, sizeof gg, "blk.%lld.ffn_gate_inp.bias", (long long)il);
        ADD(gg, 0, 1, E, 1, 1, 0, 0, 0, 1);

        /* experts: gate/up interleaved in the rows (gate = even, up = odd) */
        static const char *const gu[2] = {"gate", "up"};
        snprintf(hf, sizeof hf, "model.layers.%lld.mlp.experts.gate_up_proj_blocks", (long long)il);
        const int mx = cv_maybe(c, hf) != NULL;
        if (mx) {
            if (d % 32 || ff % 32)
                return cv_fail(c, GPTC_ERR_FORMAT,
                               "config.json: MXFP4 experts need hidden_size "
                               "and intermediate_size divisible by 32");
            const int64_t sb[4] = {E, 2 * ff, d / 32, 16}, ss[3] = {E, 2 * ff, d / 32};
            const st_tensor *b = cv_need(c, hf, 4, sb, 1);
            snprintf(hf, sizeof hf, "model.layers.%lld.mlp.experts.gate_up_proj_scales",
                     (long long)il);
            const st_tensor *s = b ? cv_need(c, hf, 3, ss, 1) : NULL;
            if (!b || !s) return c->err->status;
            for (int h = 0; h < 2; h++) {
                snprintf(gg, sizeof gg, "blk.%lld.ffn_%s_exps.weight", (long long)il, gu[h]);
                if ((st = cv_add_mxfp4(c, gg, b, s, E, ff, d, 2, h, 2 * ff))) return st;
            }
        } else {
            snprintf(hf, sizeof hf, "model.layers.%lld.mlp.experts.gate_up_proj", (long long)il);
            NEED(hf, 3, E, d, 2 * ff);
            for (int h = 0; h < 2; h++) {
                snprintf(gg, sizeof gg, "blk.%lld.ffn_%s_exps.weight", (long long)il, gu[h]);
                ADD(gg, 0, 3, d, ff, E, h, d * 2 * ff, 2, 2 * ff);
            }
        }
        snprintf(hf, sizeof hf, "model.layers.%lld.mlp.experts.gate_up_proj_bias", (long long)il);
        NEED(hf, 2, E, 2 * ff);
        for (int h = 0; h < 2; h++) {
            snprintf(gg, sizeof gg, "blk.%lld.ffn_%s_exps.bias", (long long)il, gu[h]);
            ADD(gg, 0, 2, ff, E, 1, h, 0, 2 * ff, 2);
        }
        snprintf(gg, sizeof gg, "blk.%lld.ffn_down_exps.weight", (long long)il);
        if (mx) {
            const int64_t sb[4] = {E, d, ff / 32, 16}, ss[3] = {E, d, ff / 32};
            snprintf(hf, sizeof hf, "model.layers.%lld.mlp.experts.down_proj_blocks",
                     (long long)il);
            const st_tensor *b = cv_need(c, hf, 4, sb, 1);
            snprintf(hf, sizeof hf, "model.layers.%lld.mlp.experts.down_proj_scales",
                     (long long)il);
            const st_tensor *s = b ? cv_need(c, hf, 3, ss, 1) : NULL;
            if (!b || !s) return c->err->status;
            if ((st = cv_add_mxfp4(c, gg, b, s, E, d, ff, 1, 0, d))) return st;
        } else {
            snprintf(hf, sizeof hf, "model.layers.%lld.mlp.experts.down_proj", (long long)il);
            NEED(hf, 3, E, ff, d);
            ADD(gg, 0, 3, ff, d, E, 0, ff * d, 1, d);
        }
        snprintf(hf, sizeof hf, "model.layers.%lld.mlp.experts.down_proj_bias", (long long)il);
        NEED(hf, 2, E, d);
        snprintf(gg, sizeof gg, "blk.%lld.ffn_down_exps.bias", (long long)il);
        ADD(gg, 0, 2, d, E, 1, 0, 0, d, 1);
    }
    NEED("model.norm.weight", 1, d);
    ADD("output_norm.weight", 0, 1, d, 1, 1, 0, 0, 0, 1);
    NEED("lm_head.weight", 2, V, d);
    ADD("output.weight", 0, 2, d, V, 1, 0, 0, d, 1);
#undef NEED
#undef ADD
    return GPTC_OK;
}

gptc_status cv_meta_gpt_oss(cv_ctx *c, gguf_writer *w) {
    oss_cfg o;
    gptc_status st = read_cfg(c, &o);
    if (st) return st;
#define U32(k, v) (st = gguf_writer_add_u32(w, "gpt-oss." k, (uint32_t)(v)))
#define F32(k, v) (st = gguf_writer_add_f32(w, "gpt-oss." k, (float)(v)))
    if (U32("block_count", o.L) || U32("context_length", o.n_ctx) || U32("embedding_length", o.d) ||
        U32("feed_forward_length", o.ff) || U32("attention.head_count", o.H) ||
        U32("attention.head_count_kv", o.Hkv))
        return st;
    if (o.rope) {
        if ((st = gguf_writer_add_str(w, "gpt-oss.rope.scaling.type", "yarn", 4)) ||
            F32("rope.scaling.factor", o.factor) ||
            U32("rope.scaling.original_context_length", o.orig))
            return st;
        static const struct {
            const char *hf, *gg;
        } extra[] = {{"extrapolation_factor", "rope.scaling.yarn_ext_factor"},
                     {"attention_factor", "rope.scaling.yarn_attn_factor"},
                     {"beta_fast", "rope.scaling.yarn_beta_fast"},
                     {"beta_slow", "rope.scaling.yarn_beta_slow"}};
        for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(o.rope, extra[i].hf);
            if (!x && !strcmp(extra[i].hf, "attention_factor"))
                x = cJSON_GetObjectItemCaseSensitive(o.rope, "attn_factor");
            if (cJSON_IsNumber(x)) {
                char key[96];
                snprintf(key, sizeof key, "gpt-oss.%s", extra[i].gg);
                if ((st = gguf_writer_add_f32(w, key, (float)x->valuedouble))) return st;
            }
        }
    }
    if (F32("rope.freq_base", o.theta) || F32("attention.layer_norm_rms_epsilon", o.eps) ||
        U32("expert_count", o.E) || U32("expert_used_count", o.k) ||
        U32("attention.key_length", o.hd) || U32("attention.value_length", o.hd) ||
        U32("attention.sliding_window", o.window) || U32("expert_feed_forward_length", o.ff))
        return st;
#undef U32
#undef F32
    return GPTC_OK;
}
