/* arch_gpt_oss.c — adapter for llama.cpp's "gpt-oss" GGUF files (docs/gpt-oss.md §6, §7):
 * hyperparameters from gpt-oss.* keys, tensor names -> weights, every shape and type checked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arch.h"

gptc_status gt_forward_gpt_oss(gt_batch *b, gptc_error *err);
size_t gt_forward_gpt_oss_scratch(const gptc_model *m, int n_batch, int n_ctx);

static gptc_status load_hparams(gptc_model *m, gptc_error *err) {
    gt_hparams *hp = &m->hp;
    uint32_t u;
    GT_TRY(gt_load_common_hparams(m, err));
    GT_TRY(gt_meta_u32(m, "attention.head_count", 1, 0, &u, err));
    hp->n_head = (int)u;
    GT_TRY(gt_meta_u32(m, "attention.head_count_kv", 0, (uint32_t)hp->n_head, &u, err));
    hp->n_head_kv = (int)u;
    uint32_t def_hd = hp->n_head > 0 ? (uint32_t)(hp->n_embd / hp->n_head) : 0;
    GT_TRY(gt_meta_u32(m, "attention.key_length", 0, def_hd, &u, err));
    hp->head_dim = (int)u;
    GT_TRY(gt_meta_u32(m, "attention.value_length", 0, (uint32_t)hp->head_dim, &u, err));
    if ((int)u != hp->head_dim)
        return gt_err(err, GPTC_ERR_UNSUPPORTED,
                      "%s: gpt-oss.attention.value_length %u differs from key_length %d", m->path,
                      u, hp->head_dim);
    GT_TRY(gt_meta_u32(m, "expert_count", 1, 0, &u, err));
    hp->n_expert = (int)u;
    GT_TRY(gt_meta_u32(m, "expert_used_count", 1, 0, &u, err));
    hp->n_expert_used = (int)u;
    GT_TRY(gt_meta_u32(m, "expert_feed_forward_length", 1, 0, &u, err));
    hp->n_ff = (int)u;
    GT_TRY(gt_meta_f32(m, "attention.layer_norm_rms_epsilon", 1, 0, &hp->norm_eps, err));
    GT_TRY(gt_meta_u32(m, "attention.sliding_window", 1, 0, &u, err));
    hp->sliding_window = (int)u;
    hp->swa_pattern = hp->sliding_window > 0 ? 2 : 0;
    hp->has_sinks = 1;
    GT_TRY(gt_meta_u32(m, "rope.dimension_count", 0, (uint32_t)hp->head_dim, &u, err));
    hp->rope_dim = (int)u;
    GT_TRY(gt_meta_f32(m, "rope.freq_base", 0, 150000.0f, &hp->rope_freq_base, err));
    GT_TRY(gt_meta_f32(m, "rope.scaling.factor", 0, 1.0f, &hp->yarn_factor, err));
    hp->yarn = hp->yarn_factor > 1.0f;
    {
        char key[64];
        snprintf(key, sizeof(key), "%s.rope.scaling.type", m->arch_name);
        if (gguf_has(m->gguf, key)) {
            gguf_str st;
            GT_TRY(gguf_get_str(m->gguf, key, &st, err));
            if (st.len == 4 && memcmp(st.ptr, "none", 4) == 0)
                hp->yarn = 0;
            else if (!(st.len == 4 && memcmp(st.ptr, "yarn", 4) == 0))
                return gt_err(err, GPTC_ERR_UNSUPPORTED, "%s: unsupported %s '%.*s'", m->path, key,
                              (int)(st.len > 32 ? 32 : st.len), st.ptr);
        }
    }
    GT_TRY(gt_meta_u32(m, "rope.scaling.original_context_length", 0, (uint32_t)hp->n_ctx_train, &u,
                       err));
    hp->yarn_orig_ctx = (int)u;
    GT_TRY(gt_meta_f32(m, "rope.scaling.yarn_beta_fast", 0, 32.0f, &hp->yarn_beta_fast, err));
    GT_TRY(gt_meta_f32(m, "rope.scaling.yarn_beta_slow", 0, 1.0f, &hp->yarn_beta_slow, err));
    hp->yarn_rounded = m->params.yarn_rounded ? 1 : 0;
    hp->rope_attn_factor = hp->yarn ? (float)(0.1 * log((double)hp->yarn_factor) + 1.0) : 1.0f;
    hp->swiglu_alpha = 1.702f; /* hard-coded in every implementation */
    hp->swiglu_limit = 7.0f;

    /* sanity limits (hostile files) */
    if (hp->n_layer < 1 || hp->n_layer > 4096 || hp->n_embd < 1 || hp->n_embd > (1 << 20) ||
        hp->n_head < 1 || hp->n_head > 4096 || hp->n_head_kv < 1 ||
        hp->n_head % hp->n_head_kv != 0 || hp->head_dim < 2 || hp->head_dim > 512 ||
        hp->head_dim % 2 != 0 || hp->n_expert < 1 || hp->n_expert > 4096 || hp->n_expert_used < 1 ||
        hp->n_expert_used > hp->n_expert || hp->n_ff < 1 || hp->n_ff > (1 << 20) ||
        hp->n_ctx_train < 1 || !(hp->norm_eps >= 0.0f) || hp->sliding_window < 0 ||
        !(hp->rope_freq_base > 1.0f) || hp->yarn_orig_ctx < 1 || !(hp->yarn_beta_fast > 0.0f) ||
        !(hp->yarn_beta_slow > 0.0f))
        return gt_err(err, GPTC_ERR_FORMAT,
                      "%s: implausible gpt-oss hyperparameters (layers %d, embd %d, heads %d/%d, "
                      "head_dim %d, experts %d/%d, ff %d, ctx %d)",
                      m->path, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->head_dim,
                      hp->n_expert_used, hp->n_expert, hp->n_ff, hp->n_ctx_train);
    if (!isfinite(hp->norm_eps) || !isfinite(hp->rope_freq_base) || !isfinite(hp->yarn_factor) ||
        !isfinite(hp->yarn_beta_fast) || !isfinite(hp->yarn_beta_slow))
        return gt_err(err, GPTC_ERR_FORMAT,
                      "%s: implausible gpt-oss float hyperparameters (rms epsilon %g, rope base "
                      "%g, YaRN factor %g, betas %g/%g)",
                      m->path, hp->norm_eps, hp->rope_freq_base, hp->yarn_factor,
                      hp->yarn_beta_fast, hp->yarn_beta_slow);
    if (hp->rope_dim != hp->head_dim)
        return gt_err(err, GPTC_ERR_UNSUPPORTED,
                      "%s: partial rotary embedding (rope.dimension_count %d != head_dim %d) is "
                      "not supported",
                      m->path, hp->rope_dim, hp->head_dim);
    return GPTC_OK;
}

static gptc_status load_gpt_oss(gptc_model *m, gptc_error *err) {
    GT_TRY(load_hparams(m, err));
    gt_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff, X = hp->n_expert;
    const int64_t QD = (int64_t)hp->n_head * hp->head_dim;
    const int64_t KD = (int64_t)hp->n_head_kv * hp->head_dim;

    GT_TRY(gt_map_token_embd(m, err));
    const int64_t V = hp->n_vocab;
    GT_TRY(gt_map_weight(m, &m->output_norm, "output_norm.weight", GT_W_F32, 1, (int64_t[]){E}, 1,
                         err));
    GT_TRY(
        gt_map_weight(m, &m->output, "output.weight", GT_W_MATRIX, 2, (int64_t[]){E, V}, 1, err));

    GT_TRY(gt_alloc_layers(m, err));
    char nm[128];
#define W(field, suffix, kind, nd, ...)                                                            \
    GT_TRY(gt_map_layer_weight(m, &L->field, il, suffix, kind, nd, (int64_t[]){__VA_ARGS__}, err))
    for (int il = 0; il < hp->n_layer; il++) {
        gt_layer *L = &m->layers[il];
        W(attn_norm, "attn_norm.weight", GT_W_F32, 1, E);
        W(wq, "attn_q.weight", GT_W_MATRIX, 2, E, QD);
        W(bq, "attn_q.bias", GT_W_F32, 1, QD);
        W(wk, "attn_k.weight", GT_W_MATRIX, 2, E, KD);
        W(bk, "attn_k.bias", GT_W_F32, 1, KD);
        W(wv, "attn_v.weight", GT_W_MATRIX, 2, E, KD);
        W(bv, "attn_v.bias", GT_W_F32, 1, KD);
        W(wo, "attn_output.weight", GT_W_MATRIX, 2, QD, E);
        W(bo, "attn_output.bias", GT_W_F32, 1, E);
        W(sinks, "attn_sinks.weight", GT_W_F32, 1, hp->n_head);
        W(ffn_norm, "post_attention_norm.weight", GT_W_F32, 1, E);
        W(router_w, "ffn_gate_inp.weight", GT_W_MATRIX, 2, E, X);
        W(router_b, "ffn_gate_inp.bias", GT_W_F32, 1, X);
        snprintf(nm, sizeof(nm), "blk.%d.ffn_gate_up_exps.weight", il);
        if (gguf_shards_find_tensor(m->shards, nm)) {
            /* fused variant: [E, 2F, X] = gate rows [0, F) then up rows [F, 2F) per expert */
            gt_weight fw, fb;
            GT_TRY(gt_map_layer_weight(m, &fw, il, "ffn_gate_up_exps.weight", GT_W_MATRIX, 3,
                                       (int64_t[]){E, 2 * F, X}, err));
            GT_TRY(gt_map_layer_weight(m, &fb, il, "ffn_gate_up_exps.bias", GT_W_F32, 2,
                                       (int64_t[]){2 * F, X}, err));
            L->gate_exps = fw;
            L->gate_exps.ne[1] = F;
            L->up_exps = L->gate_exps;
            L->up_exps.data = (const char *)fw.data + (size_t)F * fw.row_bytes;
            L->up_exps.src_offset = (size_t)F * fw.row_bytes;
            L->gate_b = fb;
            L->gate_b.ne[0] = F;
            L->gate_b.row_bytes = (size_t)F * 4;
            L->up_b = L->gate_b;
            L->up_b.data = (const float *)fb.data + F;
            L->up_b.src_offset = (size_t)F * 4;
            L->gate_up_fused = 1;
        } else {
            W(gate_exps, "ffn_gate_exps.weight", GT_W_MATRIX, 3, E, F, X);
            W(gate_b, "ffn_gate_exps.bias", GT_W_F32, 2, F, X);
            W(up_exps, "ffn_up_exps.weight", GT_W_MATRIX, 3, E, F, X);
            W(up_b, "ffn_up_exps.bias", GT_W_F32, 2, F, X);
        }
        W(down_exps, "ffn_down_exps.weight", GT_W_MATRIX, 3, F, E, X);
        W(down_b, "ffn_down_exps.bias", GT_W_F32, 2, E, X);
        /* a 2-D bias [n, X] with X > 1 gets expert_stride = n * 4 from gt_map_weight only when
         * ne[2] > 1; set it explicitly for [n][X] biases */
        L->gate_b.expert_stride = (size_t)(L->gate_up_fused ? 2 * F : F) * 4;
        L->up_b.expert_stride = L->gate_b.expert_stride;
        L->down_b.expert_stride = (size_t)E * 4;
        L->is_swa = hp->swa_pattern > 0 && (il % hp->swa_pattern) == 0;
    }
#undef W
    return GPTC_OK;
}

const gt_arch_adapter gt_arch_gpt_oss = {
    .name = "gpt-oss",
    .arch = GT_ARCH_GPT_OSS,
    .load = load_gpt_oss,
    .forward_cpu = gt_forward_gpt_oss,
    .cpu_scratch_bytes = gt_forward_gpt_oss_scratch,
    .forward_cuda = GT_CUDA_FORWARD(gpt_oss),
};
