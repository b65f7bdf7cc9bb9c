/* norm.cu — activation preparation: optional RMSNorm / LayerNorm of each row, then the copies the
 * matrix kernels read (fp32, int16 blocks in natural and MXFP4 order, split fp16). */
#include "cuda/common.cuh"

/* grid (ceil(n/32 / 8), T), 256 threads: every block reduces the whole row (cheap, from L2)
 * and then normalises / quantises its 8 blocks of 32. */
__global__ void __launch_bounds__(256) k_prep_act(const float *x, int n, int norm, const float *w,
                                                  const float *b, float eps, gtc_act out) {
    __shared__ float red[32];
    const int t = blockIdx.y;
    const float *xr = x + (size_t)t * n;
    pdl_wait();
    pdl_trigger();
    float mean, scale;
    norm_stats(xr, n, norm, eps, red, mean, scale);
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int c = blockIdx.x * 8 + wid;
    const int i = c * 32 + lane;
    if (c * 32 >= n) return;
    float v = 0.f;
    if (i < n) {
        v = norm_apply(xr[i], i, norm, mean, scale, w, b);
        out.f[(size_t)t * n + i] = v;
        if (out.h) { /* split fp16: hi = f16(v) in rows [0, T), lo = f16(v - hi) in rows [T, 2T) */
            const uint16_t hi = f2h(v);
            out.h[(size_t)t * n + i] = hi;
            out.h[((size_t)gridDim.y + t) * n + i] = f2h(v - h2f(hi));
        }
    }
    if (out.q) store_q16(out, (size_t)t * (n / 32) + c, lane, v);
}

extern "C" int gtc_prep_act(const float *x, int T, int n, int norm, const float *w, const float *b,
                            float eps, const gtc_act *out, gtc_stream st) {
    if (T <= 0) return 0;
    dim3 grid(blocks_for((n + 31) / 32, 8), (unsigned)T);
    return gtc_launch("prep_act", k_prep_act, grid, 256, 0, st, x, n, norm, w, b, eps, *out);
}
