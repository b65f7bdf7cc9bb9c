/* forward_gpt2.c — the GPT-2 forward pass on the GPU (the CUDA twin of engine/forward_gpt2.c,
 * reached through the adapter table of engine/arch.h): LayerNorm, fused QKV projection, learned
 * positions (no RoPE), attention, GELU-tanh MLP. Decode with float weights: the LayerNorms run
 * inside the QKV / FFN-up / LM-head GEMVs, the K/V store inside attention, and the GELU output
 * feeds the down GEMV as is: five launches per layer. */
#include <string.h>

#include "cuda/backend.h"
#include "engine/arch.h"

gptc_status gt_cuda_forward_gpt2(cu_fw *F, int T, float *logits_all, const gptc_session *s) {
    const gt_hparams *hp = &F->m->hp;
    cu_model *cm = F->cm;
    cu_sess *cs = F->cs;
    gptc_error *err = F->err;
    const int ne = hp->n_embd;
    CU_TRY(cu_embed(F, T));
    for (int l = 0; l < hp->n_layer; l++) {
        const cu_layer *C = &cm->L[l];
        if (cu_cancelled(F, s, T)) return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");
        CU_TRY(cu_linear_norm(F, cs->x, GTC_NORM_LAYER, C->attn_norm, C->attn_norm_b, &C->wqkv, T,
                              cs->qkv, cs->qkv_w, C->bqkv, 0, 0, "gemv_qkv"));
        CU_TRY(cu_attention(F, l, T));
        gtc_act b = cu_act_view(&cs->b, hp->n_ff);
        if (cu_reads_f32_only(F, T, &C->ffn_down)) { /* the GELU output feeds the down GEMV */
            memset(&b, 0, sizeof b);
            b.f = cs->ffn;
            b.n = hp->n_ff;
        }
        CU_TRY(cu_linear_norm(F, cs->x, GTC_NORM_LAYER, C->ffn_norm, C->ffn_norm_b, &C->ffn_up, T,
                              cs->ffn, hp->n_ff, C->ffn_up_b, 0, GTC_ACT_GELU, "gemv_ffn_up"));
        if (b.f != cs->ffn)
            CU_TRYF(gtc_prep_act(cs->ffn, T, hp->n_ff, GTC_NORM_NONE, NULL, NULL, 0.f, &b,
                                 (gtc_stream)F->st),
                    "prep");
        CU_TRY(cu_linear(F, &C->ffn_down, &b, T, cs->x, ne, C->ffn_down_b, 1, 0, "gemv_ffn_down"));
    }
    return cu_output(F, T, GTC_NORM_LAYER, logits_all);
}
