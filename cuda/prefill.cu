/* prefill.cu — the small kernels around the cuBLAS GEMMs of long prompts: the epilogue that sums
 * split-fp16 products (+ bias, activation), gather of fp16 rows, SwiGLU to fp16, scatter-add, and
 * the fast MoE path's per-token sum of its experts' rows (gtc_moe_combine). */
#include "cuda/common.cuh"

__global__ void k_epilogue(float *out, int ldo, const float *tmp, int ldt, int T, int n,
                           const float *bias, int add, int act, int split) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)T * n) return;
    int t = (int)(i / n), r = (int)(i % n);
    float v = tmp[(size_t)t * ldt + r] + (bias ? bias[r] : 0.f);
    if (split & 1) v += tmp[((size_t)T + t) * ldt + r];
    if (split & 2) {
        v += tmp[(size_t)t * ldt + n + r];
        if (split & 1) v += tmp[((size_t)T + t) * ldt + n + r];
    }
    if (act == GTC_ACT_GELU) v = gelu_tanh(v);
    float *o = out + (size_t)t * ldo + r;
    *o = add ? *o + v : v;
}

__global__ void k_gather_f16(const uint16_t *src, const int32_t *idx, int cnt, int n,
                             uint16_t *dst) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)cnt * n) return;
    int r = (int)(i / n), c = (int)(i % n);
    dst[i] = src[(size_t)idx[r] * n + c];
}

__global__ void k_swiglu_f16(const float *g, const float *u, int ld, int wlo, const float *bg,
                             const float *bu, int cnt, int n, float alpha, float limit, uint16_t *h,
                             int split, const int32_t *rexp, int64_t bgs, int64_t bus) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)cnt * n) return;
    int r = (int)(i / n), c = (int)(i % n);
    size_t o = (size_t)r * ld + c, lo = (size_t)cnt * ld;
    if (rexp) { /* per-row expert biases */
        if (bg) bg += (int64_t)rexp[r] * bgs;
        if (bu) bu += (int64_t)rexp[r] * bus;
    }
    float gv = g[o] + (bg ? bg[c] : 0.f), uv = u[o] + (bu ? bu[c] : 0.f);
    if (wlo) {
        gv += g[o + wlo];
        uv += u[o + wlo];
    }
    if (split) {
        gv += g[o + lo];
        uv += u[o + lo];
        if (wlo) {
            gv += g[o + lo + wlo];
            uv += u[o + lo + wlo];
        }
    }
    float v = swiglu_oai(gv, uv, alpha, limit);
    uint16_t hi = f2h(v);
    h[i] = hi;
    if (split) h[(size_t)cnt * n + i] = f2h(v - h2f(hi));
}

__global__ void k_scatter_add(float *x, const float *y, int ldy, int wlo, const float *b,
                              const int32_t *idx, const float *wt, int cnt, int n, int split) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)cnt * n) return;
    int r = (int)(i / n), c = (int)(i % n);
    const size_t o = (size_t)r * ldy + c, lo = (size_t)cnt * ldy;
    float yv = y[o] + (wlo ? y[o + wlo] : 0.f);
    if (split) yv += y[o + lo] + (wlo ? y[o + lo + wlo] : 0.f);
    x[(size_t)idx[r] * n + c] += wt[r] * (yv + (b ? b[c] : 0.f));
}

extern "C" int gtc_epilogue(float *out, int ldo, const float *tmp, int ldt, int T, int n,
                            const float *bias, int add, int act, int split, gtc_stream st) {
    int64_t tot = (int64_t)T * n;
    if (tot <= 0) return 0;
    k_epilogue<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(out, ldo, tmp, ldt, T, n, bias,
                                                                   add, act, split);
    CKL("epilogue");
    return 0;
}

extern "C" int gtc_gather_f16(const uint16_t *src, const int32_t *idx, int cnt, int n,
                              uint16_t *dst, gtc_stream st) {
    int64_t tot = (int64_t)cnt * n;
    if (tot <= 0) return 0;
    k_gather_f16<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(src, idx, cnt, n, dst);
    CKL("gather");
    return 0;
}

extern "C" int gtc_swiglu_f16(const gtc_rows *gr, const float *u, const float *bg, const float *bu,
                              float alpha, float limit, uint16_t *h, gtc_stream st) {
    int64_t tot = (int64_t)gr->cnt * gr->n;
    if (tot <= 0) return 0;
    k_swiglu_f16<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(
        gr->y, u, gr->ld, gr->wlo, bg, bu, gr->cnt, gr->n, alpha, limit, h, gr->split, NULL, 0, 0);
    CKL("swiglu");
    return 0;
}

extern "C" int gtc_swiglu_f16_experts(const gtc_rows *gr, const float *u, const float *bg,
                                      int64_t bgs, const float *bu, int64_t bus,
                                      const int32_t *rexp, float alpha, float limit, uint16_t *h,
                                      gtc_stream st) {
    int64_t tot = (int64_t)gr->cnt * gr->n;
    if (tot <= 0) return 0;
    k_swiglu_f16<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(
        gr->y, u, gr->ld, gr->wlo, bg, bu, gr->cnt, gr->n, alpha, limit, h, gr->split, rexp, bgs,
        bus);
    CKL("swiglu");
    return 0;
}

__global__ void k_moe_combine(const float *y, const int32_t *inv, const int32_t *ids,
                              const float *wt, const float *b, int64_t bs, int T, int k, int n,
                              float *x) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)T * n) return;
    int t = (int)(i / n), c = (int)(i % n);
    float acc = 0.f;
    for (int j = 0; j < k; j++) {
        const int s = t * k + j;
        float v = y[(size_t)inv[s] * n + c];
        if (b) v += b[(int64_t)ids[s] * bs + c];
        acc += wt[s] * v;
    }
    x[i] += acc;
}

extern "C" int gtc_moe_combine(const float *y, const int32_t *inv, const int32_t *ids,
                               const float *wt, const float *b, int64_t bs, int T, int k, int n,
                               float *x, gtc_stream st) {
    int64_t tot = (int64_t)T * n;
    if (tot <= 0) return 0;
    k_moe_combine<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(y, inv, ids, wt, b, bs, T, k,
                                                                      n, x);
    CKL("moe_combine");
    return 0;
}

extern "C" int gtc_scatter_add(float *x, const gtc_rows *yr, const float *b, const int32_t *idx,
                               const float *wt, gtc_stream st) {
    int64_t tot = (int64_t)yr->cnt * yr->n;
    if (tot <= 0) return 0;
    k_scatter_add<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(
        x, yr->y, yr->ld, yr->wlo, b, idx, wt, yr->cnt, yr->n, yr->split);
    CKL("scatter_add");
    return 0;
}
