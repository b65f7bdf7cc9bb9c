/* forward.c — the building blocks of a CUDA forward pass (cuda/backend.h): matrix products
 * (GEMV, int8 tensor cores or dequantise + cuBLAS by batch size and format), embeddings, norms,
 * the attention block over the KV cache, the LM head. Each architecture's forward
 * (cuda/forward_<arch>.c) strings them together. */
#include <math.h>
#include <string.h>

#include "cuda/backend.h"
#include "gguf/ggml_types.h"

gptc_status cu_error(gptc_error *err, const char *what) {
    return gt_err(err, GPTC_ERR_DEVICE, "CUDA: %s: %s", what, gtc_last_error());
}

gtc_act cu_act_view(const gtc_act *a, int n) {
    gtc_act r = *a;
    r.n = n;
    return r;
}

int cu_wsplit(uint32_t type) {
    return !(type == GGML_TYPE_MXFP4 || type == GGML_TYPE_F16);
}

int cu_exact(const cu_fw *F) {
    return cu_knob.prefill_exact || F->cs->kv_type == GTC_KV_F32;
}

int cu_use_mmq(const cu_fw *F, int T, const gtc_mat *W, const gtc_act *x) {
    return T > 1 && (F->sq || T <= cu_knob.mmq_max_t) && gtc_mmq_supported(W, x);
}

int cu_use_pk_gemv(const cu_fw *F, int T, const gtc_mat *W, const gtc_act *x) {
    return T > 1 && (F->sq || T <= cu_knob.mmq_max_t) && W->split && gtc_type_packed(W->type) &&
           x->q != NULL && x->qsum != NULL;
}

int cu_small_int(const cu_fw *F, int T, const gtc_mat *W, const gtc_act *x) {
    return cu_use_mmq(F, T, W, x) || cu_use_pk_gemv(F, T, W, x);
}

int cu_cancelled(const cu_fw *F, const gptc_session *s, int T) {
    (void)F;
    return s && T > 1 && gt_session_cancelled(s);
}

size_t cu_kv_layer_off(const gptc_model *m, const cu_sess *cs, int l) {
    size_t rows = 0;
    for (int i = 0; i < l; i++) rows += m->layers[i].is_swa ? (size_t)cs->ring : (size_t)cs->n_ctx;
    return rows * gtc_kv_row_bytes(cs->kv_type, m->hp.n_head_kv * m->hp.head_dim);
}

/* out[t][r] (stride ldo) = (add ? out : 0) + act(W x_t + bias) for T tokens. */
gptc_status cu_linear(cu_fw *F, const gtc_mat *W, const gtc_act *x, int T, float *out, int ldo,
                      const float *bias, int add, int act, const char *nm) {
    gptc_error *err = F->err;
    if (cu_use_mmq(F, T, W, x)) { /* several sessions or a small batch: tensor cores */
        gtc_gemv_seg sg = {*W, bias, out, add, act, ldo};
        CU_TRYF(gtc_mmq(&sg, 1, x, T, (gtc_stream)F->st), "mmq");
        return GPTC_OK;
    }
    if (T <= cu_knob.gemv_max_t || W->n_rows <= 256 || F->sq ||
        cu_use_pk_gemv(F, T, W, x)) { /* decode, small batches, router */
        gtc_gemv_seg sg = {*W, bias, out, add, act, ldo};
        CU_TRYF(gtc_gemv(&sg, 1, x, T, (gtc_stream)F->st), nm);
        return GPTC_OK;
    }
    cu_sess *cs = F->cs;
    const int64_t rows = W->n_rows, cols = W->n_cols;
    /* exact: [W hi; W lo] rows (types whose fp16 copy is not exact) x [x hi; x lo] columns;
     * fast: f16(W) x f16(x) */
    const int ex = cu_exact(F), xm = ex ? 2 : 1;
    const int ws = ex && cu_wsplit(W->type), wm = ws ? 2 : 1;
    const size_t dq = ex ? F->cm->dq_exact : F->cm->dq_elems;
    int64_t chunk = (int64_t)(dq / (size_t)(cols * wm));
    int64_t tchunk = (int64_t)(cs->tmp_elems / (size_t)(xm * T * wm));
    if (tchunk < chunk) chunk = tchunk;
    if (chunk > rows) chunk = rows;
    if (chunk < 1) return gt_err(err, GPTC_ERR_DEVICE, "CUDA: workspace too small");
    F->cm->bl->set_stream(F->cm->blas, F->st);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        const int M = (int)(nr * wm); /* A = [W hi rows; W lo rows] */
        CU_TRYF(gtc_dequant_f16(W, 0, r0, nr, cs->dq, ws ? cs->dq + (size_t)nr * cols : NULL,
                                (gtc_stream)F->st),
                "dequant");
        const float one = 1.f, zero = 0.f;
        if (cu_knob.gemm_memset)
            CU_TRYC(cudaMemsetAsync(cs->tmp, 0, sizeof(float) * (size_t)M * xm * T, F->st));
        cublasStatus_t bs =
            F->cm->bl->gemm_ex(F->cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, M, xm * T, (int)cols, &one,
                               cs->dq, CUDA_R_16F, (int)cols, x->h, CUDA_R_16F, x->n, &zero,
                               cs->tmp, CUDA_R_32F, M, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (bs != CUBLAS_STATUS_SUCCESS)
            return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
        cu_prof_mark(F, "cublas_gemm");
        CU_TRYF(gtc_epilogue(out + r0, ldo, cs->tmp, M, T, (int)nr, bias ? bias + r0 : NULL, add,
                             act, (ex ? 1 : 0) | (ws ? 2 : 0), (gtc_stream)F->st),
                "epilogue");
    }
    return GPTC_OK;
}

/* 1 when cu_linear takes W through the GEMV kernels for T tokens */
static int cu_gemv_path(const cu_fw *F, int T, const gtc_mat *W, const gtc_act *x) {
    return !cu_use_mmq(F, T, W, x) && (T <= cu_knob.gemv_max_t || W->n_rows <= 256 || F->sq);
}

int cu_reads_f32_only(const cu_fw *F, int T, const gtc_mat *W) {
    gtc_act a = F->cs->a;
    return cu_gemv_path(F, T, W, &a) && gtc_gemv_norm_supported(W, 1);
}

gptc_status cu_linear_norm(cu_fw *F, const float *x, int norm, const float *nw, const float *nb,
                           const gtc_mat *W, int T, float *out, int ldo, const float *bias, int add,
                           int act, const char *nm) {
    gptc_error *err = F->err;
    gtc_act a = cu_act_view(&F->cs->a, F->m->hp.n_embd);
    if (cu_gemv_path(F, T, W, &a) && gtc_gemv_norm_supported(W, T) &&
        W->n_cols == F->m->hp.n_embd) { /* one launch: the norm inside the product */
        gtc_gemv_seg sg = {*W, bias, out, add, act, ldo};
        CU_TRYF(gtc_gemv_norm(&sg, x, T, norm, nw, nb, F->m->hp.norm_eps, (gtc_stream)F->st), nm);
        return GPTC_OK;
    }
    CU_TRY(cu_norm(F, x, T, norm, nw, nb));
    return cu_linear(F, W, &a, T, out, ldo, bias, add, act, nm);
}

gptc_status cu_embed(cu_fw *F, int T) {
    cu_model *cm = F->cm;
    gptc_error *err = F->err;
    const gtc_mat *pos = cm->has_pos ? &cm->pos_embd : NULL;
    if (F->sq)
        CU_TRYF(
            gtc_embed_seqs(&cm->tok_embd, F->ids, T, F->cs->x, pos, F->sq->pos, (gtc_stream)F->st),
            "embed");
    else
        CU_TRYF(gtc_embed(&cm->tok_embd, F->ids, T, F->cs->x, pos, F->cs->pos, (gtc_stream)F->st),
                "embed");
    return GPTC_OK;
}

gptc_status cu_norm(cu_fw *F, const float *x, int T, int norm, const float *w, const float *b) {
    gptc_error *err = F->err;
    const int ne = F->m->hp.n_embd;
    gtc_act a = cu_act_view(&F->cs->a, ne);
    CU_TRYF(gtc_prep_act(x, T, ne, norm, w, b, F->m->hp.norm_eps, &a, (gtc_stream)F->st), "norm");
    return GPTC_OK;
}

gptc_status cu_qkv(cu_fw *F, const cu_layer *C, int T) {
    const gt_hparams *hp = &F->m->hp;
    cu_sess *cs = F->cs;
    gptc_error *err = F->err;
    const int nq = hp->n_head * hp->head_dim, nkv = hp->n_head_kv * hp->head_dim;
    const int qw = cs->qkv_w;
    gtc_act a = cu_act_view(&cs->a, hp->n_embd);
    gtc_gemv_seg sg[3] = {{C->wq, C->bq, cs->qkv, 0, 0, qw},
                          {C->wk, C->bk, cs->qkv + nq, 0, 0, qw},
                          {C->wv, C->bv, cs->qkv + nq + nkv, 0, 0, qw}};
    if (cu_use_mmq(F, T, &C->wq, &a) && cu_use_mmq(F, T, &C->wk, &a) &&
        cu_use_mmq(F, T, &C->wv, &a)) {
        CU_TRYF(gtc_mmq(sg, 3, &a, T, (gtc_stream)F->st), "mmq");
    } else if (T <= cu_knob.gemv_max_t || F->sq ||
               (cu_use_pk_gemv(F, T, &C->wq, &a) && cu_use_pk_gemv(F, T, &C->wk, &a) &&
                cu_use_pk_gemv(F, T, &C->wv, &a))) {
        CU_TRYF(gtc_gemv(sg, 3, &a, T, (gtc_stream)F->st), "gemv_qkv");
    } else {
        for (int i = 0; i < 3; i++)
            CU_TRY(cu_linear(F, &sg[i].w, &a, T, sg[i].y, qw, sg[i].bias, 0, 0, "gemv_qkv"));
    }
    return GPTC_OK;
}

gptc_status cu_attention(cu_fw *F, int l, int T) {
    gptc_model *m = F->m;
    const gt_hparams *hp = &m->hp;
    cu_model *cm = F->cm;
    cu_sess *cs = F->cs;
    const cu_layer *C = &cm->L[l];
    gptc_error *err = F->err;
    const int nq = hp->n_head * hp->head_dim, nkv = hp->n_head_kv * hp->head_dim;
    const size_t lay = cu_kv_layer_off(m, cs, l);
    const int swa = m->layers[l].is_swa && hp->sliding_window > 0;
    const int store = swa || !cs->swa_only; /* the rebuild leaves the full layers' rows alone */
    gtc_act b = cu_act_view(&cs->b, nq);
    /* decode: the attention kernel also writes b's int16 copy (the o-projection's input) */
    const int fused = hp->head_dim == 64 && (T <= cu_knob.gemv_max_t || F->sq);
    gtc_attn_args aa;
    memset(&aa, 0, sizeof aa);
    aa.q = cs->qkv;
    aa.k = cs->qkv + nq;
    aa.v = cs->qkv + nq + nkv;
    aa.ld = cs->qkv_w;
    aa.T = T;
    aa.n_head = hp->n_head;
    aa.n_kv = hp->n_head_kv;
    aa.hd = hp->head_dim;
    aa.inv_freq = cm->inv_freq;
    aa.mscale = cm->mscale;
    aa.kv_type = cs->kv_type;
    aa.ring = swa && cs->ring < cs->n_ctx ? cs->ring : 0;
    /* sets the split count: fixed for a captured graph (n_ctx - 1, or its bucket's end) */
    aa.max_pos = F->max_pos > 0 ? F->max_pos : cs->n_ctx - 1;
    aa.window = swa ? hp->sliding_window : 0;
    aa.sinks = C->sinks;
    aa.scale = 1.f / sqrtf((float)hp->head_dim);
    aa.part = cs->part;
    aa.out = fused ? b.f : cs->attn;
    aa.qout = fused ? &b : NULL;
    if (F->sq) { /* several sessions: each token its own position and caches */
        aa.seqs = *F->sq;
        aa.seqs.layer_off = lay;
    } else {
        aa.d_pos0 = cs->pos;
        aa.kc = store ? cs->kc + lay : NULL;
        aa.vc = store ? cs->vc + lay : NULL;
    }
    aa.cnt = cs->attn_cnt;
    /* decode: RoPE and the K/V store happen inside the attention kernel (one launch) */
    aa.fuse = (T == 1 || F->sq) && store;
    if (!aa.fuse) {
        CU_TRYF(gtc_rope_store(&aa, (gtc_stream)F->st), "rope");
        if (!F->sq) {
            aa.kc = cs->kc + lay;
            aa.vc = cs->vc + lay;
        }
    }
    CU_TRYF(gtc_attention(&aa, (gtc_stream)F->st), "attention");
    if (F->trace) cu_trace_put(F, "attn", l, aa.out, nq, 0);
    if (!fused)
        CU_TRYF(
            gtc_prep_act(cs->attn, T, nq, GTC_NORM_NONE, NULL, NULL, 0.f, &b, (gtc_stream)F->st),
            "prep");
    CU_TRY(cu_linear(F, &C->wo, &b, T, cs->x, hp->n_embd, C->bo, 1, 0, "gemv_attn_out"));
    if (F->trace) cu_trace_put(F, "x_attn", l, cs->x, hp->n_embd, 0);
    return GPTC_OK;
}

gptc_status cu_output(cu_fw *F, int T, int norm, float *logits_all) {
    gptc_model *m = F->m;
    const gt_hparams *hp = &m->hp;
    cu_model *cm = F->cm;
    cu_sess *cs = F->cs;
    gptc_error *err = F->err;
    const int ne = hp->n_embd;
    gtc_act a = cu_act_view(&cs->a, ne);
    const int V = hp->n_vocab;
    if (F->sq) { /* every token's logits, [T][V] in the multi workspace */
        CU_TRYF(gtc_prep_act(cs->x, T, ne, norm, cm->output_norm, cm->output_norm_b, hp->norm_eps,
                             &a, (gtc_stream)F->st),
                "norm");
        return cu_linear(F, &cm->output, &a, T, cm->mw.logits, V, NULL, 0, 0, "gemv_lm_head");
    }
    if (!logits_all || T == 1) {
        CU_TRY(cu_linear_norm(F, cs->x + (size_t)(T - 1) * ne, norm, cm->output_norm,
                              cm->output_norm_b, &cm->output, 1, cs->logits, V, NULL, 0, 0,
                              "gemv_lm_head"));
        if (logits_all)
            CU_TRYC(cudaMemcpyAsync(logits_all, cs->logits, sizeof(float) * V,
                                    cudaMemcpyDeviceToHost, F->st));
        return GPTC_OK;
    }
    CU_TRYF(gtc_prep_act(cs->x, T, ne, norm, cm->output_norm, cm->output_norm_b, hp->norm_eps, &a,
                         (gtc_stream)F->st),
            "norm");
    /* LM head in vocabulary chunks: GEMM into tmp[xm T][M], summed into tmp + xm T M as
     * [T][nr], then to the host rows (split halves only on the exact path: cu_linear) */
    const int ex = cu_exact(F), xm = ex ? 2 : 1;
    const int ws = ex && cu_wsplit(cm->output.type), wm = ws ? 2 : 1;
    int64_t R = (int64_t)((ex ? cm->dq_exact : cm->dq_elems) / (size_t)(ne * wm));
    int64_t R2 = (int64_t)(cs->tmp_elems / (size_t)(xm * T * wm + T));
    if (R2 < R) R = R2;
    cm->bl->set_stream(cm->blas, F->st);
    for (int64_t r0 = 0; r0 < V; r0 += R) {
        int64_t nr = V - r0 < R ? V - r0 : R;
        const int M = (int)(nr * wm);
        float *sum = cs->tmp + (size_t)xm * T * M;
        CU_TRYF(gtc_dequant_f16(&cm->output, 0, r0, nr, cs->dq,
                                ws ? cs->dq + (size_t)nr * ne : NULL, (gtc_stream)F->st),
                "dequant");
        const float one = 1.f, zero = 0.f;
        cublasStatus_t bs = cm->bl->gemm_ex(
            cm->blas, CUBLAS_OP_T, CUBLAS_OP_N, M, xm * T, ne, &one, cs->dq, CUDA_R_16F, ne, a.h,
            CUDA_R_16F, ne, &zero, cs->tmp, CUDA_R_32F, M, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (bs != CUBLAS_STATUS_SUCCESS)
            return gt_err(err, GPTC_ERR_DEVICE, "cuBLAS: GemmEx failed (%d)", (int)bs);
        cu_prof_mark(F, "cublas_gemm");
        CU_TRYF(gtc_epilogue(sum, (int)nr, cs->tmp, M, T, (int)nr, NULL, 0, 0,
                             (ex ? 1 : 0) | (ws ? 2 : 0), (gtc_stream)F->st),
                "epilogue");
        CU_TRYC(cudaMemcpy2DAsync(logits_all + r0, sizeof(float) * V, sum, sizeof(float) * nr,
                                  sizeof(float) * nr, T, cudaMemcpyDeviceToHost, F->st));
        CU_TRYC(cudaMemcpyAsync(cs->logits + r0, sum + (size_t)(T - 1) * nr, sizeof(float) * nr,
                                cudaMemcpyDeviceToDevice, F->st));
    }
    return GPTC_OK;
}
