/* gemv_norm.cu — decode products with the preceding norm folded in, for float weights (F32, F16,
 * BF16: the GEMV reads the fp32 activations only): every block normalises the token rows into
 * shared memory (the arithmetic of gtc_prep_act) and its warps take weight rows from there, so
 * the norm costs no launch of its own (GPT-2's LayerNorms before the QKV and FFN-up products and
 * before the LM head). */
#include "cuda/common.cuh"

#define GN_MAX_FLOATS 12000 /* T * n in shared memory (under 48 KiB with the static part) */

/* grid min(ceil(rows / 8), cap), 256 threads, T * n floats of dynamic shared memory */
__global__ void __launch_bounds__(256) k_gemv_norm(gtc_gemv_seg sg, const float *x, int T, int norm,
                                                   const float *nw, const float *nb, float eps) {
    extern __shared__ float xs[];
    __shared__ float red[32];
    const int n = (int)sg.w.n_cols;
    const int64_t r0 = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5); /* this warp's first row */
    if (r0 < sg.w.n_rows) pdl_prefetch_row(sg.w, sg.w.row0 + r0, threadIdx.x & 31);
    pdl_wait();
    pdl_trigger();
    for (int t = 0; t < T; t++) { /* as k_prep_act */
        const float *xr = x + (size_t)t * n;
        float mean, scale;
        norm_stats(xr, n, norm, eps, red, mean, scale);
        for (int i = threadIdx.x; i < n; i += blockDim.x)
            xs[(size_t)t * n + i] = norm_apply(xr[i], i, norm, mean, scale, nw, nb);
    }
    __syncthreads();
    const int lane = threadIdx.x & 31;
    const gtc_mat &w = sg.w;
    for (int64_t r = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5); r < w.n_rows;
         r += (int64_t)gridDim.x * 8) {
        const uint8_t *row = raw_row(w, w.row0 + r);
        for (int t = 0; t < T; t++) {
            const float *xf = xs + (size_t)t * n;
            float acc = 0.f;
            for (int i = lane * 8; i < n; i += 256) { /* lane: 8 consecutive of every 256 */
                const float4 xa = *(const float4 *)(xf + i), xb = *(const float4 *)(xf + i + 4);
                float wv[8];
                if (w.type == GGML_TYPE_F32) {
                    const float4 a = __ldg((const float4 *)((const float *)row + i));
                    const float4 b = __ldg((const float4 *)((const float *)row + i + 4));
                    wv[0] = a.x, wv[1] = a.y, wv[2] = a.z, wv[3] = a.w;
                    wv[4] = b.x, wv[5] = b.y, wv[6] = b.z, wv[7] = b.w;
                } else {
                    const uint4 u = __ldg((const uint4 *)((const uint16_t *)row + i));
                    const uint32_t uu[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        const uint16_t lo = (uint16_t)(uu[j] & 0xffff),
                                       hi = (uint16_t)(uu[j] >> 16);
                        wv[2 * j] =
                            w.type == GGML_TYPE_F16 ? h2f(lo) : __uint_as_float((uint32_t)lo << 16);
                        wv[2 * j + 1] =
                            w.type == GGML_TYPE_F16 ? h2f(hi) : __uint_as_float((uint32_t)hi << 16);
                    }
                }
                acc += wv[0] * xa.x + wv[1] * xa.y + wv[2] * xa.z + wv[3] * xa.w + wv[4] * xb.x +
                       wv[5] * xb.y + wv[6] * xb.z + wv[7] * xb.w;
            }
            acc = warp_sum(acc);
            if (lane == 0) seg_store(sg, t, r, acc);
        }
    }
}

extern "C" int gtc_gemv_norm_supported(const gtc_mat *w, int T) {
    return mat_raw_float(*w) && w->n_cols % 8 == 0 && T >= 1 &&
           (int64_t)T * w->n_cols <= GN_MAX_FLOATS;
}

extern "C" int gtc_gemv_norm(const gtc_gemv_seg *seg, const float *x, int T, int norm,
                             const float *w, const float *b, float eps, gtc_stream st) {
    if (T <= 0 || seg->w.n_rows == 0) return 0;
    if (!gtc_gemv_norm_supported(&seg->w, T)) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "gemv_norm: unsupported type %u / shape",
                 (unsigned)seg->w.type);
        return -1;
    }
    /* a block normalises once and then takes rows until they run out: at most 8 blocks per SM
     * (2048 threads) of 8 rows each pass */
    unsigned grid = blocks_for(seg->w.n_rows, 8);
    if (grid > 1056) grid = 1056;
    const size_t sh = sizeof(float) * (size_t)T * seg->w.n_cols;
    return gtc_launch("gemv_norm", k_gemv_norm, grid, 256, sh, st, *seg, x, T, norm, w, b, eps);
}
