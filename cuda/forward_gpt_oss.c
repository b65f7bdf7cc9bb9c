/* forward_gpt_oss.c — the gpt-oss forward pass on the GPU (the CUDA twin of
 * engine/forward_gpt_oss.c, reached through the adapter table of engine/arch.h): RMSNorm,
 * separate q/k/v with biases, RoPE-YaRN attention with sinks over full and sliding-window
 * layers, and the mixture of experts (router top-k, clamped SwiGLU experts; the experts of the
 * first --n-cpu-moe layers on the CPU threads: cuda/offload.c). */
#include <string.h>

#include "cuda/backend.h"
#include "cuda/moe_mma.h"
#include "engine/arch.h"

static gptc_status moe_experts(cu_fw *F, int l, int T, cu_layer *C);
static gptc_status moe_fast(cu_fw *F, int T, const cu_layer *C, const int *cnt, const int *off);

/* The MoE half of layer l: its input norm (ffn_norm) and router, then the experts. The norm and
 * the router are one launch when gtc_norm_router_supported (GPTC_CUDA_NORM_ROUTER). */
static gptc_status moe_block(cu_fw *F, int l, int T) {
    const gt_hparams *hp = &F->m->hp;
    cu_sess *cs = F->cs;
    cu_layer *C = &F->cm->L[l];
    gptc_error *err = F->err;
    gtc_act a = cu_act_view(&cs->a, hp->n_embd);
    if (gtc_norm_router_supported(&C->router, hp->n_embd, T)) {
        CU_TRYF(gtc_norm_router_topk(cs->x, C->ffn_norm, hp->norm_eps, &a, &C->router, C->router_b,
                                     T, hp->n_expert_used, cs->rlog, cs->tickets, cs->ids_exp,
                                     cs->wts, (gtc_stream)F->st),
                "norm_router_topk");
    } else {
        CU_TRY(cu_norm(F, cs->x, T, GTC_NORM_RMS, C->ffn_norm, NULL));
        CU_TRYF(gtc_router_topk(&C->router, C->router_b, &a, T, hp->n_expert_used, cs->rlog,
                                cs->tickets, cs->ids_exp, cs->wts, (gtc_stream)F->st),
                "router_topk");
    }
    if (!C->host_moe) return moe_experts(F, l, T, C);
    /* experts in host memory: copied up for a prompt batch when that pays, else the CPU's */
    const int up = cu_stream_layer(F, l, T);
    if (up < 0) return GPTC_ERR_DEVICE;
    if (!up) return cu_moe_host(F, l, T);
    gptc_status st = moe_experts(F, l, T, &F->cm->Lx[l]);
    cu_stream_done(F);
    return st;
}

/* The fast prefill experts (cu_exact 0), the routing sorted on the host (cs->h_perm / h_pexp /
 * h_pinv, cnt / off per expert): one gather of every (token, expert) row's fp16 x, sorted by
 * expert; per chunk of up to CU_MOE_DQ_EXPERTS used experts one dequantisation launch per matrix
 * (gate, up; then down) into cs->dq and one cuBLAS GEMM per expert over its c rows (f16(W) x
 * f16(x), fp32 out) into the layer-wide g [T k][2 n_ff] / y [T k][n_embd]; one SwiGLU launch
 * (per-row expert biases) and one per-token sum of the k rows back into x. With
 * GPTC_CUDA_MOE_MMA=1 the dequantisation and the per-expert GEMMs give way to one gtc_moe_mma
 * launch per matrix (cuda/moe_mma.h: every used expert's token tiles, the weights read in their
 * blocks). */
static gptc_status moe_fast(cu_fw *F, int T, const cu_layer *C, const int *cnt, const int *off) {
    const gt_hparams *hp = &F->m->hp;
    cu_sess *cs = F->cs;
    gptc_error *err = F->err;
    const int k = hp->n_expert_used, E = hp->n_expert, ne = hp->n_embd, nff = hp->n_ff;
    const int n = T * k;
    const cu_blas_api *bl = F->cm->bl;
    CU_TRYC(cudaMemcpyAsync(cs->perm_exp, cs->h_pexp, sizeof(int32_t) * n, cudaMemcpyHostToDevice,
                            F->st));
    CU_TRYC(cudaMemcpyAsync(cs->perm_inv, cs->h_pinv, sizeof(int32_t) * n, cudaMemcpyHostToDevice,
                            F->st));
    CU_TRYF(gtc_gather_f16(cs->a.h, cs->perm_tok, n, ne, cs->xg16, (gtc_stream)F->st), "gather");
    int used[256], nu = 0;
    for (int e = 0; e < E; e++)
        if (cnt[e]) used[nu++] = e;
    const size_t gu = (size_t)2 * nff * ne, dn = (size_t)ne * nff; /* fp16 elements per expert */
    int cg = (int)(F->cm->dq_elems / gu), cd = (int)(F->cm->dq_elems / dn);
    if (cg > GTC_DQ_MAX_EXP) cg = GTC_DQ_MAX_EXP;
    if (cd > GTC_DQ_MAX_EXP) cd = GTC_DQ_MAX_EXP;
    if (cg < 1) return gt_err(err, GPTC_ERR_DEVICE, "CUDA: workspace too small");
    bl->set_stream(F->cm->blas, F->st);
    const float one = 1.f, zero = 0.f;
    /* GPTC_CUDA_MOE_MMA: the experts on the tensor cores straight from their blocks, one launch
     * per matrix over the token tiles of every used expert (the same fp16 products) */
    int nt = -1;
    if (cu_knob.moe_mma && gtc_moe_mma_supported(&C->gate) && gtc_moe_mma_supported(&C->up) &&
        gtc_moe_mma_supported(&C->down)) {
        nt = gtc_moe_mma_tiles(cnt, off, E, cs->h_mtiles, GTC_MOE_MMA_MAX_TILES(n, E));
        if (nt > 65535) nt = -1;
        if (nt > 0)
            CU_TRYC(cudaMemcpyAsync(cs->mtiles, cs->h_mtiles, sizeof(int32_t) * 2 * (size_t)nt,
                                    cudaMemcpyHostToDevice, F->st));
    }
    for (int p = 0; p < 2; p++) { /* 0: gate and up -> g; 1: down -> y */
        const int chunk = p ? cd : cg, rows = p ? ne : 2 * nff, kk = p ? nff : ne;
        const uint16_t *xin = p ? cs->h16 : cs->xg16;
        float *out = p ? cs->y : cs->g;
        if (nt >= 0) {
            const gtc_moe_mma_args ma = {p ? &C->down : &C->gate,
                                         p ? NULL : &C->up,
                                         xin,
                                         kk,
                                         cs->mtiles,
                                         nt,
                                         out,
                                         p ? NULL : out + nff,
                                         rows};
            CU_TRYF(gtc_moe_mma(&ma, (gtc_stream)F->st), "moe_mma");
        }
        for (int u0 = 0; nt < 0 && u0 < nu; u0 += chunk) {
            gtc_elist el;
            el.n = nu - u0 < chunk ? nu - u0 : chunk;
            for (int x = 0; x < el.n; x++) el.e[x] = used[u0 + x];
            if (p) {
                CU_TRYF(
                    gtc_dequant_f16_experts(&C->down, &el, cs->dq, (int64_t)dn, (gtc_stream)F->st),
                    "dequant");
            } else { /* expert x: [gate; up] at dq + x gu */
                CU_TRYF(
                    gtc_dequant_f16_experts(&C->gate, &el, cs->dq, (int64_t)gu, (gtc_stream)F->st),
                    "dequant");
                CU_TRYF(gtc_dequant_f16_experts(&C->up, &el, cs->dq + (size_t)nff * ne, (int64_t)gu,
                                                (gtc_stream)F->st),
                        "dequant");
            }
            for (int x = 0; x < el.n; x++) {
                const int e = el.e[x];
                cublasStatus_t bs = bl->gemm_ex(
                    F->cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, cnt[e], kk, &one,
                    cs->dq + (size_t)x * (p ? dn : gu), CUDA_R_16F, kk, xin + (size_t)off[e] * kk,
                    CUDA_R_16F, kk, &zero, out + (size_t)off[e] * rows, CUDA_R_32F, rows,
                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
                if (bs != CUBLAS_STATUS_SUCCESS)
                    return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
                cu_prof_mark(F, "cublas_gemm");
            }
        }
        if (!p) {
            const gtc_rows gr = {cs->g, 2 * nff, 0, 0, n, nff};
            CU_TRYF(gtc_swiglu_f16_experts(&gr, cs->g + nff, C->gate_b, C->gate_bs, C->up_b,
                                           C->up_bs, cs->perm_exp, hp->swiglu_alpha,
                                           hp->swiglu_limit, cs->h16, (gtc_stream)F->st),
                    "swiglu");
        }
    }
    CU_TRYF(gtc_moe_combine(cs->y, cs->perm_inv, cs->ids_exp, cs->wts, C->down_b, C->down_bs, T, k,
                            ne, cs->x, (gtc_stream)F->st),
            "moe_combine");
    return GPTC_OK;
}

/* The experts of layer l (views C) on the GPU, the routing done. */
static gptc_status moe_experts(cu_fw *F, int l, int T, cu_layer *C) {
    gptc_model *m = F->m;
    const gt_hparams *hp = &m->hp;
    cu_sess *cs = F->cs;
    gptc_error *err = F->err;
    const int k = hp->n_expert_used, E = hp->n_expert, ne = hp->n_embd, nff = hp->n_ff;
    gtc_act a = cu_act_view(&cs->a, ne);
    const float alpha = hp->swiglu_alpha, limit = hp->swiglu_limit;
    /* the tensor-core kernels up to mmq_max_t tokens (GPTC_CUDA_MOE_MMQ_MAX_T: another bound
     * for the experts alone) */
    const int mt = cu_knob.moe_mmq_max_t >= 0 ? cu_knob.moe_mmq_max_t : cu_knob.mmq_max_t;
    const int mmq = T > 1 && (F->sq || T <= mt) && gtc_mmq_supported(&C->gate, &a) &&
                    gtc_mmq_supported(&C->up, &a) && gtc_mmq_supported(&C->down, &cs->hact);
    gtc_moe mo = {C->gate,    C->up,      C->down, C->gate_b, C->up_b, C->down_b,
                  C->gate_bs, C->down_bs, E,       k,         alpha,   limit};
    gtc_route ro = {T, cs->ids_exp, cs->wts, NULL, NULL};
    /* packed formats (no tensor-core kernel yet): small batches grouped on the device too */
    const int small = cu_small_int(F, T, &C->gate, &a) && cu_small_int(F, T, &C->up, &a) &&
                      cu_small_int(F, T, &C->down, &cs->hact);
    if (F->sq || mmq || small) {
        /* grouped by expert on the device (no host sync), each expert's weights read once per
         * 8 of its tokens; buffers: the multi workspace, or the session's prefill ones */
        cu_multi *mw = &F->cm->mw;
        int32_t *grp = F->sq ? mw->grp : cs->grp, *list = F->sq ? mw->list : cs->perm_tok;
        float *gb = F->sq ? mw->g : cs->g, *ub = F->sq ? mw->u : cs->g + (size_t)T * k * nff;
        float *yk = F->sq ? mw->yk : cs->y;
        CU_TRYF(gtc_moe_group(cs->ids_exp, T, k, E, grp, list, (gtc_stream)F->st), "moe_group");
        ro.grp = grp;
        ro.list = list;
        if (mmq) { /* tensor cores (Q8_0 / MXFP4); other types: the grouped GEMV kernels */
            gtc_mmq_group gu = {&C->gate, &C->up, C->gate_b, C->up_b, C->gate_bs, C->up_bs, gb,  ub,
                                nff,      E,      T * k,     grp,     list,       k,        NULL};
            CU_TRYF(gtc_mmq_grouped(&gu, &a, (gtc_stream)F->st), "mmq_moe"); /* gate and up */
            CU_TRYF(gtc_swiglu_q(gb, ub, nff, T * k, alpha, limit, &cs->hact, (gtc_stream)F->st),
                    "swiglu");
            gtc_mmq_group dn = {&C->down, NULL, C->down_b, NULL, C->down_bs, 0, yk,     NULL,
                                ne,       E,    T * k,     grp,  list,       1, cs->wts};
            CU_TRYF(gtc_mmq_grouped(&dn, &cs->hact, (gtc_stream)F->st), "mmq_moe");
            CU_TRYF(gtc_moe_sum(yk, T, k, ne, cs->x, (gtc_stream)F->st), "moe_sum");
            return GPTC_OK;
        }
        CU_TRYF(gtc_moe_gate_up_grouped(&mo, &ro, &a, &cs->hact, (gtc_stream)F->st), "moe gate/up");
        CU_TRYF(gtc_moe_down_grouped(&mo, &ro, &cs->hact, yk, cs->x, (gtc_stream)F->st),
                "moe down");
        return GPTC_OK;
    }
    if (T < cu_knob.moe_grouped_min_t) {
        CU_TRYF(gtc_moe_gate_up(&mo, &ro, &a, &cs->hact, (gtc_stream)F->st), "moe gate/up");
        CU_TRYF(gtc_moe_down(&mo, &ro, &cs->hact, cs->x, (gtc_stream)F->st), "moe down");
        return GPTC_OK;
    }
    /* grouped by expert: routing to the host, one GEMM set per used expert */
    CU_TRYC(cudaMemcpyAsync(cs->h_ids, cs->ids_exp, sizeof(int32_t) * T * k, cudaMemcpyDeviceToHost,
                            F->st));
    CU_TRYC(
        cudaMemcpyAsync(cs->h_wts, cs->wts, sizeof(float) * T * k, cudaMemcpyDeviceToHost, F->st));
    CU_TRYC(cudaStreamSynchronize(F->st));
    cu_prof_mark(F, "moe_route_sync");
    int cnt[256] = {0}, off[257];
    for (int i = 0; i < T * k; i++) {
        if (cs->h_ids[i] < 0 || cs->h_ids[i] >= E) /* NaN router logits: no host overrun */
            return gt_err(err, GPTC_ERR_DEVICE, "CUDA: layer %d: router chose expert %d of %d", l,
                          cs->h_ids[i], E);
        cnt[cs->h_ids[i]]++;
    }
    off[0] = 0;
    for (int e = 0; e < E; e++) off[e + 1] = off[e] + cnt[e];
    int fill[256];
    memcpy(fill, off, sizeof(int) * E);
    for (int i = 0; i < T * k; i++) {
        int e = cs->h_ids[i], j = fill[e]++;
        cs->h_perm[j] = i / k;
        cs->h_permw[j] = cs->h_wts[i];
        cs->h_pexp[j] = e;
        cs->h_pinv[i] = j;
    }
    CU_TRYC(cudaMemcpyAsync(cs->perm_tok, cs->h_perm, sizeof(int32_t) * T * k,
                            cudaMemcpyHostToDevice, F->st));
    if (!cu_exact(F)) return moe_fast(F, T, C, cnt, off);
    CU_TRYC(cudaMemcpyAsync(cs->perm_w, cs->h_permw, sizeof(float) * T * k, cudaMemcpyHostToDevice,
                            F->st));
    F->cm->bl->set_stream(F->cm->blas, F->st);
    const float one = 1.f, zero = 0.f;
    for (int e = 0; e < E; e++) {
        int c = cnt[e];
        if (!c) continue;
        const int32_t *idx = cs->perm_tok + off[e];
        CU_TRYF(gtc_gather_f16(a.h, idx, c, ne, cs->xg16, (gtc_stream)F->st), "gather");
        CU_TRYF(gtc_gather_f16(a.h + (size_t)T * ne, idx, c, ne, cs->xg16 + (size_t)c * ne,
                               (gtc_stream)F->st),
                "gather");
        /* gate and up of expert e in one GEMM over [x hi; x lo] (2c columns):
         * dq = [gate; up] (+ [gate lo; up lo] when fp16 is not exact) -> g[2c][mg] */
        const int wg = cu_wsplit(C->gate.type), mg = (wg ? 4 : 2) * nff;
        uint16_t *dq = cs->dq;
        CU_TRYF(gtc_dequant_f16(&C->gate, e, 0, nff, dq, wg ? dq + (size_t)2 * nff * ne : NULL,
                                (gtc_stream)F->st),
                "dequant");
        CU_TRYF(gtc_dequant_f16(&C->up, e, 0, nff, dq + (size_t)nff * ne,
                                wg ? dq + (size_t)3 * nff * ne : NULL, (gtc_stream)F->st),
                "dequant");
        {
            cublasStatus_t bs =
                F->cm->bl->gemm_ex(F->cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, mg, 2 * c, ne, &one, dq,
                                   CUDA_R_16F, ne, cs->xg16, CUDA_R_16F, ne, &zero, cs->g,
                                   CUDA_R_32F, mg, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            if (bs != CUBLAS_STATUS_SUCCESS)
                return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
            cu_prof_mark(F, "cublas_gemm");
        }
        const gtc_rows gr = {cs->g, mg, wg ? 2 * nff : 0, 1, c, nff};
        CU_TRYF(gtc_swiglu_f16(&gr, cs->g + nff,
                               C->gate_b ? C->gate_b + (size_t)e * C->gate_bs : NULL,
                               C->up_b ? C->up_b + (size_t)e * C->up_bs : NULL, alpha, limit,
                               cs->h16, (gtc_stream)F->st),
                "swiglu");
        const int wd = cu_wsplit(C->down.type), md = (wd ? 2 : 1) * ne;
        CU_TRYF(gtc_dequant_f16(&C->down, e, 0, ne, dq, wd ? dq + (size_t)ne * nff : NULL,
                                (gtc_stream)F->st),
                "dequant");
        cublasStatus_t bs =
            F->cm->bl->gemm_ex(F->cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, md, 2 * c, nff, &one, dq,
                               CUDA_R_16F, nff, cs->h16, CUDA_R_16F, nff, &zero, cs->y, CUDA_R_32F,
                               md, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (bs != CUBLAS_STATUS_SUCCESS)
            return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
        cu_prof_mark(F, "cublas_gemm");
        const gtc_rows yr = {cs->y, md, wd ? ne : 0, 1, c, ne};
        CU_TRYF(gtc_scatter_add(cs->x, &yr, C->down_b ? C->down_b + (size_t)e * C->down_bs : NULL,
                                idx, cs->perm_w + off[e], (gtc_stream)F->st),
                "scatter");
    }
    return GPTC_OK;
}

gptc_status gt_cuda_forward_gpt_oss(cu_fw *F, int T, float *logits_all, const gptc_session *s) {
    const gt_hparams *hp = &F->m->hp;
    cu_model *cm = F->cm;
    cu_sess *cs = F->cs;
    gptc_error *err = F->err;
    CU_TRY(cu_embed(F, T));
    for (int l = 0; l < hp->n_layer; l++) {
        const cu_layer *C = &cm->L[l];
        if (cu_cancelled(F, s, T)) return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");
        CU_TRY(cu_norm(F, cs->x, T, GTC_NORM_RMS, C->attn_norm, NULL));
        CU_TRY(cu_qkv(F, C, T));
        CU_TRY(cu_attention(F, l, T));
        CU_TRY(moe_block(F, l, T));
        if (F->trace) {
            cu_trace_put(F, "router", l, cs->rlog, hp->n_expert, 0);
            cu_trace_put(F, "experts", l, cs->ids_exp, hp->n_expert_used, 1);
            cu_trace_put(F, "x_moe", l, cs->x, hp->n_embd, 0);
        }
    }
    return cu_output(F, T, GTC_NORM_RMS, logits_all);
}
