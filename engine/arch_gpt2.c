/* arch_gpt2.c — adapter for llama.cpp's "gpt2" GGUF files (docs/gpt2.md §4, §5). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arch.h"

gptc_status gt_forward_gpt2(gt_batch *b, gptc_error *err);
size_t gt_forward_gpt2_scratch(const gptc_model *m, int n_batch, int n_ctx);

static gptc_status load_gpt2(gptc_model *m, gptc_error *err) {
    gt_hparams *hp = &m->hp;
    uint32_t u;
    GT_TRY(gt_load_common_hparams(m, err));
    GT_TRY(
        gt_meta_u32(m, "feed_forward_length", 0, (uint32_t)(4u * (uint32_t)hp->n_embd), &u, err));
    hp->n_ff = (int)u;
    GT_TRY(gt_meta_u32(m, "attention.head_count", 1, 0, &u, err));
    hp->n_head = (int)u;
    GT_TRY(gt_meta_u32(m, "attention.head_count_kv", 0, (uint32_t)hp->n_head, &u, err));
    hp->n_head_kv = (int)u;
    GT_TRY(gt_meta_f32(m, "attention.layer_norm_epsilon", 1, 0, &hp->norm_eps, err));
    if (hp->n_layer < 1 || hp->n_layer > 4096 || hp->n_embd < 1 || hp->n_embd > (1 << 20) ||
        hp->n_head < 1 || hp->n_embd % hp->n_head != 0 || hp->n_ff < 1 || hp->n_ff > (1 << 22) ||
        hp->n_ctx_train < 1 || hp->n_ctx_train > (1 << 24) || !(hp->norm_eps >= 0.0f) ||
        !isfinite(hp->norm_eps))
        return gt_err(err, GPTC_ERR_FORMAT,
                      "%s: implausible gpt2 hyperparameters (layers %d, embd %d, heads %d, ff %d, "
                      "ctx %d)",
                      m->path, hp->n_layer, hp->n_embd, hp->n_head, hp->n_ff, hp->n_ctx_train);
    if (hp->n_head_kv != hp->n_head)
        return gt_err(err, GPTC_ERR_UNSUPPORTED,
                      "%s: gpt2 with head_count_kv %d != head_count %d is not supported", m->path,
                      hp->n_head_kv, hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    if (hp->head_dim > 512)
        return gt_err(err, GPTC_ERR_UNSUPPORTED, "%s: head_dim %d > 512 is not supported", m->path,
                      hp->head_dim);

    const int64_t E = hp->n_embd, F = hp->n_ff;
    GT_TRY(gt_map_token_embd(m, err));
    const int64_t V = hp->n_vocab;
    GT_TRY(gt_map_weight(m, &m->pos_embd, "position_embd.weight", GT_W_MATRIX, 2,
                         (int64_t[]){E, hp->n_ctx_train}, 1, err));
    GT_TRY(gt_map_weight(m, &m->output_norm, "output_norm.weight", GT_W_F32, 1, (int64_t[]){E}, 1,
                         err));
    GT_TRY(gt_map_weight(m, &m->output_norm_b, "output_norm.bias", GT_W_F32, 1, (int64_t[]){E}, 1,
                         err));
    GT_TRY(
        gt_map_weight(m, &m->output, "output.weight", GT_W_MATRIX, 2, (int64_t[]){E, V}, 0, err));
    if (!m->output.data) {
        m->output = m->tok_embd; /* tied */
        m->output_tied = 1;
    }

    GT_TRY(gt_alloc_layers(m, err));
#define W(field, suffix, kind, nd, ...)                                                            \
    GT_TRY(gt_map_layer_weight(m, &L->field, il, suffix, kind, nd, (int64_t[]){__VA_ARGS__}, err))
    for (int il = 0; il < hp->n_layer; il++) {
        gt_layer *L = &m->layers[il];
        W(attn_norm, "attn_norm.weight", GT_W_F32, 1, E);
        W(attn_norm_b, "attn_norm.bias", GT_W_F32, 1, E);
        W(wqkv, "attn_qkv.weight", GT_W_MATRIX, 2, E, 3 * E);
        W(bqkv, "attn_qkv.bias", GT_W_F32, 1, 3 * E);
        W(wo, "attn_output.weight", GT_W_MATRIX, 2, E, E);
        W(bo, "attn_output.bias", GT_W_F32, 1, E);
        W(ffn_norm, "ffn_norm.weight", GT_W_F32, 1, E);
        W(ffn_norm_b, "ffn_norm.bias", GT_W_F32, 1, E);
        W(ffn_up, "ffn_up.weight", GT_W_MATRIX, 2, E, F);
        W(ffn_up_b, "ffn_up.bias", GT_W_F32, 1, F);
        W(ffn_down, "ffn_down.weight", GT_W_MATRIX, 2, F, E);
        W(ffn_down_b, "ffn_down.bias", GT_W_F32, 1, E);
    }
#undef W
    return GPTC_OK;
}

const gt_arch_adapter gt_arch_gpt2 = {
    .name = "gpt2",
    .arch = GT_ARCH_GPT2,
    .load = load_gpt2,
    .forward_cpu = gt_forward_gpt2,
    .cpu_scratch_bytes = gt_forward_gpt2_scratch,
    .forward_cuda = GT_CUDA_FORWARD(gpt2),
};
