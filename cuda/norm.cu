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
    const int c = blockIdx.x * 8 + (threadIdx.x >> 5);
    if (c * 32 >= n) return;
    prep_block(xr, n, t, gridDim.y, c, norm, mean, scale, w, b, out);
}

extern "C" int gtc_prep_act(const float *x, int T, int n, int norm, const float *w, const float *b,
                            float eps, const gtc_act *out, gtc_stream st) {
    if (T <= 0) return 0;
    dim3 grid(blocks_for((n + 31) / 32, 8), (unsigned)T);
    return gtc_launch("prep_act", k_prep_act, grid, 256, 0, st, x, n, norm, w, b, eps, *out);
}
