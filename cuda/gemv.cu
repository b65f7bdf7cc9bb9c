/* gemv.cu — warp-per-row matrix-vector products for decode and small batches (dp2a on int16
 * activations for Q8_0 / MXFP4, fp32 for the other formats), up to 3 matrices per launch. */
#include "cuda/common.cuh"

typedef struct {
    gtc_gemv_seg s[3];
    int64_t end[3]; /* cumulative rows */
    int n;
    int T;  /* tokens */
    int tl; /* tokens per warp (grid.y = ceil(T / tl)) */
} seg_pack;

/* grid (ceil(rows/8), ceil(T/tl)), 256 threads: warp per weight row, through tl tokens (the row
 * stays in L1 after the first token, so device memory sees it once per grid row). */
__global__ void __launch_bounds__(256) k_gemv(seg_pack P, gtc_act x) {
    const int lane = threadIdx.x & 31;
    const int64_t gr = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    int si = 0;
    while (si < P.n && gr >= P.end[si]) si++;
    if (si >= P.n) return;
    const gtc_gemv_seg &sg = P.s[si];
    const int64_t r = gr - (si ? P.end[si - 1] : 0);
    const int t0 = blockIdx.y * P.tl, t1 = min(P.T, t0 + P.tl);
    for (int t = t0; t < t1; t++) {
        float acc = warp_dot(sg.w, sg.w.row0 + r, x, t, lane);
        if (lane == 0) {
            float v = acc + (sg.bias ? sg.bias[r] : 0.f);
            if (sg.act == GTC_ACT_GELU) v = gelu_tanh(v);
            float *y = sg.y + (size_t)t * sg.ldy + r;
            *y = sg.add ? *y + v : v;
        }
    }
}

extern "C" int gtc_gemv(const gtc_gemv_seg *segs, int n_segs, const gtc_act *x, int T,
                        gtc_stream st) {
    seg_pack P;
    memset(&P, 0, sizeof P);
    int64_t tot = 0;
    for (int i = 0; i < n_segs && i < 3; i++) {
        P.s[i] = segs[i];
        tot += segs[i].w.n_rows;
        P.end[i] = tot;
    }
    P.n = n_segs < 3 ? n_segs : 3;
    if (tot == 0 || T <= 0) return 0;
    /* enough blocks to fill the GPU (~1024), the fewest passes over the weights otherwise */
    const unsigned rb = blocks_for(tot, 8);
    int gy = rb >= 1024 ? 1 : (int)((1024 + rb - 1) / rb);
    if (gy > T) gy = T;
    P.T = T;
    P.tl = (T + gy - 1) / gy;
    gy = (T + P.tl - 1) / P.tl;
    k_gemv<<<dim3(rb, (unsigned)gy), 256, 0, (cudaStream_t)st>>>(P, *x);
    CKL("gemv");
    return 0;
}
