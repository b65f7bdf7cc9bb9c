/* gemv.cu — warp-per-row matrix-vector products for decode and small batches (dp2a on int16
 * activations for Q8_0 / MXFP4 and the packed formats, fp32 for the other formats), up to 3
 * matrices per launch. */
#include "cuda/common.cuh"

typedef struct {
    gtc_gemv_seg s[3];
    int64_t end[3]; /* cumulative rows */
    int n;
    int T;  /* tokens */
    int tl; /* tokens per warp (grid.y = ceil(T / tl)) */
} seg_pack;

/* The segment of global row gr (P.n: past the last) and its row r there; prefetches that weight
 * row (the PDL prologue). */
__device__ __forceinline__ int seg_find(const seg_pack &P, int64_t gr, int lane, int64_t &r) {
    int si = 0;
    while (si < P.n && gr >= P.end[si]) si++;
    r = gr - (si ? P.end[si - 1] : 0);
    if (si < P.n) pdl_prefetch_row(P.s[si].w, P.s[si].w.row0 + r, lane);
    return si;
}

/* grid (ceil(rows/8), ceil(T/tl)), 256 threads: warp per weight row, through tl tokens (the row
 * stays in L1 after the first token, so device memory sees it once per grid row). */
__global__ void __launch_bounds__(256) k_gemv(seg_pack P, gtc_act x) {
    const int lane = threadIdx.x & 31;
    const int64_t gr = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    int64_t r;
    const int si = seg_find(P, gr, lane, r);
    pdl_wait();
    pdl_trigger();
    if (si >= P.n) return;
    const gtc_gemv_seg &sg = P.s[si];
    const int t0 = blockIdx.y * P.tl, t1 = min(P.T, t0 + P.tl);
    for (int t = t0; t < t1; t++) {
        float acc = warp_dot(sg.w, sg.w.row0 + r, x, t, lane);
        if (lane == 0) seg_store(sg, t, r, acc);
    }
}

/* k_gemv specialised for the decode formats: every segment split Q8_0 or of the packed type TY
 * (TY = Q8_0: Q8_0 only) on the int16 activations (with block sums for a packed TY), or (TY =
 * F32) every segment F32 / F16 / BF16 on the fp32 activations. Only these formats' dots are in
 * the kernel (k_gemv carries every format's path: 160 registers, half the resident warps),
 * packed rows with 4 blocks per lane in flight (a 2880- or 4096-wide row in one pass). */
template <int TY> __global__ void __launch_bounds__(256) k_gemv_pk(seg_pack P, gtc_act x) {
    const int lane = threadIdx.x & 31;
    const int64_t gr = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    int64_t r;
    const int si = seg_find(P, gr, lane, r);
    pdl_wait();
    pdl_trigger();
    if (si >= P.n) return;
    const gtc_gemv_seg &sg = P.s[si];
    const int t0 = blockIdx.y * P.tl, t1 = min(P.T, t0 + P.tl);
    const int n = x.n, nb = (int)(sg.w.n_cols / 32);
    const int64_t srow = sg.w.row0 + r;
    const bool fl = TY == GGML_TYPE_F32;
    const bool q8 = !fl && (TY == GGML_TYPE_Q8_0 || sg.w.type == GGML_TYPE_Q8_0);
    for (int t = t0; t < t1; t++) {
        float a = 0.f;
        if (fl) {
            a = lane_float_row(sg.w, srow, x.f + (size_t)t * n, lane);
        } else if (q8) {
            a = lane_q8_row(sg.w, srow, x.q + (size_t)t * n, x.s + (size_t)t * (n / 32), nb, lane);
        } else if (TY != GGML_TYPE_Q8_0 && !fl) {
            const pk_row p[1] = {pk_row_at(sg.w, srow)};
            const int16_t *const xq[1] = {x.q + (size_t)t * n};
            const float *const xs[1] = {x.s + (size_t)t * (n / 32)};
            const int *const xz[1] = {x.qsum + (size_t)t * (n / 32)};
            float a1[1] = {0.f};
            lane_pk<TY == GGML_TYPE_Q8_0 || TY == GGML_TYPE_F32 ? GGML_TYPE_Q4_0 : TY, 1, 4>(
                p, xq, xs, xz, nb, lane, a1);
            a = a1[0];
        }
        const float acc = warp_sum(a);
        if (lane == 0) seg_store(sg, t, r, acc);
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
    const dim3 grid(rb, (unsigned)gy);
    /* every segment split Q8_0 or of one packed type, on the int16 activations (with their
     * block sums for a packed type): that format's kernel; anything else: the generic one */
    uint32_t ty = GGML_TYPE_Q8_0;
    int fast = x->q != NULL;
    for (int i = 0; i < P.n; i++) {
        const gtc_mat &w = P.s[i].w;
        if (!w.split || (w.type != GGML_TYPE_Q8_0 && !pk_type(w.type))) fast = 0;
        if (w.type == GGML_TYPE_Q8_0) continue;
        if (ty != GGML_TYPE_Q8_0 && w.type != ty) fast = 0;
        ty = w.type;
    }
    if (fast && ty != GGML_TYPE_Q8_0 && x->qsum == NULL) fast = 0;
    int flt = 1;
    for (int i = 0; i < P.n; i++) {
        const gtc_mat &w = P.s[i].w;
        flt = flt && mat_raw_float(w);
    }
    if (flt) return gtc_launch("gemv", k_gemv_pk<GGML_TYPE_F32>, grid, 256, 0, st, P, *x);
    if (fast && ty == GGML_TYPE_Q8_0)
        return gtc_launch("gemv", k_gemv_pk<GGML_TYPE_Q8_0>, grid, 256, 0, st, P, *x);
    int rc = 0;
    if (fast && pk_switch(ty, [&](auto c) {
            rc = gtc_launch("gemv", k_gemv_pk<decltype(c)::value>, grid, 256, 0, st, P, *x);
        }))
        return rc;
    return gtc_launch("gemv", k_gemv, grid, 256, 0, st, P, *x);
}
