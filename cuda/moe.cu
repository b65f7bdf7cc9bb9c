/* moe.cu — mixture of experts: router + top-k softmax, the per-token decode kernels (fused
 * gate/up + clamped SwiGLU, down + weighted sum), grouping by expert on the device and the
 * grouped GEMV kernels, SwiGLU with int16 output for the tensor-core path, the final sum. */
#include "cuda/common.cuh"

/* warp_dot as a call: the 1024-thread kernels (64 registers a thread) inline only their own
 * fast paths */
static __device__ __noinline__ float warp_dot_call(const gtc_mat &w, int64_t srow, const gtc_act &x,
                                                   int t, int lane) {
    return warp_dot(w, srow, x, t, lane);
}

/* top-k + softmax of logits lg[E] (shared or global memory) by one warp; ties -> lower index */
__device__ void warp_topk(const float *lg, int E, int k, int32_t *ids, float *wts) {
    const int lane = threadIdx.x & 31;
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        int e = lane + 32 * i;
        v[i] = e < E ? lg[e] : -INFINITY;
    }
    unsigned taken = 0;
    float m0 = 0.f, sum = 0.f, myv = 0.f;
    int myi = 0;
    for (int j = 0; j < k; j++) {
        float bv = -INFINITY;
        int bi = 0x7fffffff;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int e = lane + 32 * i;
            if (e < E && !(taken >> i & 1) && (bi == 0x7fffffff || v[i] > bv)) {
                bv = v[i];
                bi = e;
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (oi != 0x7fffffff && (bi == 0x7fffffff || ov > bv || (ov == bv && oi < bi))) {
                bv = ov;
                bi = oi;
            }
        }
        if ((bi & 31) == lane) taken |= 1u << (bi >> 5);
        if (j == 0) m0 = bv;
        sum += expf(bv - m0);
        if (lane == j) {
            myv = bv;
            myi = bi;
        }
    }
    if (lane < k) {
        ids[lane] = myi;
        wts[lane] = expf(myv - m0) / sum;
    }
}

/* grid T, 32 threads: top-k + softmax of each token's logits row */
__global__ void k_topk(const float *logits, int E, int k, int32_t *ids, float *wts) {
    const size_t t = blockIdx.x;
    warp_topk(logits + t * E, E, k, ids + t * k, wts + t * k);
}

/* grid T, 1024 threads: router logits (warp per expert row) + bias, then top-k softmax */
__global__ void __launch_bounds__(1024)
    k_router_topk(gtc_mat w, const float *bias, gtc_act x, int k, int32_t *ids, float *wts) {
    __shared__ float lg[256];
    const int t = blockIdx.x, lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int E = (int)w.n_rows;
    if (wid < E) pdl_prefetch_row(w, w.row0 + wid, lane);
    pdl_wait();
    pdl_trigger();
    for (int e = wid; e < E; e += 32) {
        float v = warp_dot(w, w.row0 + e, x, t, lane);
        if (lane == 0) lg[e] = v + (bias ? bias[e] : 0.f);
    }
    __syncthreads();
    if (wid == 0) warp_topk(lg, E, k, ids + (size_t)t * k, wts + (size_t)t * k);
}

/* The end of the multi-block router kernels, after each block wrote its logits to lg_ws[t] and
 * fenced them: the block that takes the last ticket of token t (every thread calls) loads the
 * row, does the top-k with warp 0 and re-arms the ticket for the next call (so the kernels can
 * be replayed in a CUDA graph). */
__device__ void router_finish(const float *lg_ws, unsigned *tickets, int t, int E, int k,
                              int32_t *ids, float *wts) {
    __shared__ float lg[256];
    __shared__ unsigned last;
    if (threadIdx.x == 0) last = atomicAdd(&tickets[t], 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    for (int i = threadIdx.x; i < E; i += blockDim.x) lg[i] = __ldcg(lg_ws + (size_t)t * E + i);
    __syncthreads();
    if (threadIdx.x < 32) {
        warp_topk(lg, E, k, ids + (size_t)t * k, wts + (size_t)t * k);
        if (threadIdx.x == 0) tickets[t] = 0;
    }
}

/* The end of the split routers (a block of 8 warps per expert row e): warp partials acc summed
 * in warp order, plus the bias, into lg_ws[t][e], then router_finish. */
__device__ void router_row_done(float acc, const float *bias, float *lg_ws, unsigned *tickets,
                                int t, int E, int e, int k, int32_t *ids, float *wts) {
    __shared__ float part[8];
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        float v = 0.f;
#pragma unroll
        for (int i = 0; i < 8; i++) v += part[i];
        lg_ws[(size_t)t * E + e] = v + (bias ? bias[e] : 0.f);
        __threadfence();
    }
    __syncthreads();
    router_finish(lg_ws, tickets, t, E, k, ids, wts);
}

/* grid (ceil(E/8), T), 256 threads: warp per expert row into lg_ws[t][E]; the last block of
 * token t to finish (atomic ticket) does the top-k and re-arms the ticket for the next call
 * (so the kernel can be replayed in a CUDA graph). */
__global__ void __launch_bounds__(256)
    k_router_topk_mb(gtc_mat w, const float *bias, gtc_act x, int k, float *lg_ws,
                     unsigned *tickets, int32_t *ids, float *wts) {
    const int t = blockIdx.y, lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int E = (int)w.n_rows;
    const int e = blockIdx.x * 8 + wid;
    if (e < E) pdl_prefetch_row(w, w.row0 + e, lane);
    pdl_wait(); /* x, and the tickets the previous call's last block re-armed */
    pdl_trigger();
    if (e < E) {
        float v = warp_dot(w, w.row0 + e, x, t, lane);
        if (lane == 0) lg_ws[(size_t)t * E + e] = v + (bias ? bias[e] : 0.f);
    }
    __threadfence();
    __syncthreads();
    router_finish(lg_ws, tickets, t, E, k, ids, wts);
}

/* grid (E, T), 256 threads (GPTC_CUDA_ROUTER_SK=1, raw F32 / F16 / BF16 router weights, the
 * gpt-oss case): expert row e split over the block's 8 warps (an eighth of the columns each, so
 * an F32 row of 2880 is about one round of loads per lane instead of the ~11 dependent rounds
 * of a warp alone), summed in shared memory into lg_ws[t][e]; the last block of token t to
 * finish (atomic ticket) does the top-k and re-arms the ticket, as k_router_topk_mb. */
static unsigned long router_sk_launches;
__global__ void __launch_bounds__(256)
    k_router_topk_sk(gtc_mat w, const float *bias, gtc_act x, int k, float *lg_ws,
                     unsigned *tickets, int32_t *ids, float *wts) {
    const int e = blockIdx.x, t = blockIdx.y, lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int E = (int)w.n_rows;
    const int nch = (int)((w.n_cols + 7) / 8), c0 = nch * wid / 8, c1 = nch * (wid + 1) / 8;
    if (wid == 0) pdl_prefetch_row(w, w.row0 + e, lane);
    pdl_wait(); /* x, and the tickets the previous call's last block re-armed */
    pdl_trigger();
    const float acc =
        warp_sum(lane_float_chunks(w, w.row0 + e, x.f + (size_t)t * x.n, lane, c0, c1));
    router_row_done(acc, bias, lg_ws, tickets, t, E, e, k, ids, wts);
}

/* k_router_topk_sk with the RMSNorm of its input folded in (GPTC_CUDA_NORM_ROUTER=1, decode
 * batches): grid (E, T), 256 threads. Every block reduces token t's residual row x (k_prep_act's
 * norm_stats, the same sums); the blocks' warps share k_prep_act's other work, the normalised
 * row and its int16 copies (32-block c by warp c % 8 of block c / 8, then E 8 blocks further),
 * and block e's router row takes the normalised values as it reads them (the same products as
 * k_prep_act then k_router_topk_sk: bit-identical logits). One launch instead of two. */
static unsigned long norm_router_launches;
__global__ void __launch_bounds__(256)
    k_norm_router(const float *x, int n, const float *nw, float eps, gtc_act out, gtc_mat w,
                  const float *bias, int k, float *lg_ws, unsigned *tickets, int32_t *ids,
                  float *wts) {
    __shared__ float red[32];
    const int e = blockIdx.x, t = blockIdx.y, lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int E = (int)w.n_rows;
    const float *xr = x + (size_t)t * n;
    if (wid == 0) pdl_prefetch_row(w, w.row0 + e, lane);
    pdl_wait(); /* x, and the tickets the previous call's last block re-armed */
    pdl_trigger();
    float mean, scale;
    norm_stats(xr, n, GTC_NORM_RMS, eps, red, mean, scale);
    for (int c = e * 8 + wid; c * 32 < n; c += E * 8) /* warp-uniform */
        prep_block(xr, n, t, gridDim.y, c, GTC_NORM_RMS, mean, scale, nw, NULL, out);
    const int nch = (n + 7) / 8, c0 = nch * wid / 8, c1 = nch * (wid + 1) / 8;
    const float acc =
        warp_sum(lane_float_chunks_x(w, w.row0 + e, lane, c0, c1, [&](int i, float(&v)[8]) {
#pragma unroll
            for (int j = 0; j < 8; j++)
                v[j] = norm_apply(xr[i + j], i + j, GTC_NORM_RMS, mean, scale, nw, NULL);
        }));
    router_row_done(acc, bias, lg_ws, tickets, t, E, e, k, ids, wts);
}

/* Per-lane partial dots of R MXFP4 rows (split layout) with R int16 activation rows; U blocks
 * per row in flight per lane, no reduction (the caller combines and reduces once). */
template <int R, int U>
__device__ __forceinline__ void lane_mxfp4(const uint8_t *const *qs, const uint8_t *const *ep,
                                           const int16_t *const *xq, const float *const *xs, int nb,
                                           int lane, float *acc) {
    for (int b0 = lane; b0 < nb; b0 += 32 * U) {
        int4 wq[R][U];
        float sc[R][U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + 32 * u;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    wq[r][u] = ldg4(qs[r] + (size_t)b * 16);
                    sc[r][u] = e8m0_half(__ldg(ep[r] + b)) * __ldg(xs[r] + b);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + 32 * u;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const int4 *x4 = (const int4 *)(xq[r] + (size_t)b * 32);
                    int4 X0 = __ldg(x4), X1 = __ldg(x4 + 1), X2 = __ldg(x4 + 2), X3 = __ldg(x4 + 3);
                    const int s = mxfp4_dot32(wq[r][u], X0, X1, X2, X3);
                    acc[r] += sc[r][u] * (float)s;
                }
            }
        }
    }
}

/* lane_mxfp4 for Q8_0 rows (split layout: qs[r] the row's quants, dp[r] its f16 scales) with
 * natural-order int16 activations */
template <int R, int U>
__device__ __forceinline__ void lane_q8(const uint8_t *const *qs, const uint16_t *const *dp,
                                        const int16_t *const *xq, const float *const *xs, int nb,
                                        int lane, float *acc) {
    for (int b0 = lane; b0 < nb; b0 += 32 * U) {
        int4 wa[R][U], wb[R][U];
        float sc[R][U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + 32 * u;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    wa[r][u] = ldg4(qs[r] + (size_t)b * 32);
                    wb[r][u] = ldg4(qs[r] + (size_t)b * 32 + 16);
                    sc[r][u] = h2f(__ldg(dp[r] + b)) * __ldg(xs[r] + b);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + 32 * u;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const int4 *x4 = (const int4 *)(xq[r] + (size_t)b * 32);
                    int4 X0 = __ldg(x4), X1 = __ldg(x4 + 1), X2 = __ldg(x4 + 2), X3 = __ldg(x4 + 3);
                    int s = dot4(wa[r][u].x, X0.x, X0.y, 0);
                    s = dot4(wa[r][u].y, X0.z, X0.w, s);
                    s = dot4(wa[r][u].z, X1.x, X1.y, s);
                    s = dot4(wa[r][u].w, X1.z, X1.w, s);
                    s = dot4(wb[r][u].x, X2.x, X2.y, s);
                    s = dot4(wb[r][u].y, X2.z, X2.w, s);
                    s = dot4(wb[r][u].z, X3.x, X3.y, s);
                    s = dot4(wb[r][u].w, X3.z, X3.w, s);
                    acc[r] += sc[r][u] * (float)s;
                }
            }
        }
    }
}

__device__ __forceinline__ bool mat_fast_mxfp4(const gtc_mat &w, const gtc_act &x) {
    return w.split && w.type == GGML_TYPE_MXFP4 && x.qi != NULL;
}

/* gate row sg . x_t and up row su . x_t for one warp (valid in every lane): the two MXFP4 or
 * packed rows streamed together on the int16 fast paths, else two warp_dot */
__device__ __forceinline__ void gate_up_dots(const gtc_mat &gate, const gtc_mat &up, int64_t sg,
                                             int64_t su, const gtc_act &x, int t, int lane,
                                             float &g, float &u) {
    if (mat_fast_mxfp4(gate, x) && mat_fast_mxfp4(up, x)) {
        const int nb = (int)(gate.n_cols / 32);
        const uint8_t *qs[2] = {gate.base + (size_t)sg * nb * 16, up.base + (size_t)su * nb * 16};
        const uint8_t *ep[2] = {gate.base + (size_t)gate.src_rows * nb * 16 + (size_t)sg * nb,
                                up.base + (size_t)up.src_rows * nb * 16 + (size_t)su * nb};
        const int16_t *xq = x.qi + (size_t)t * x.n;
        const float *xs = x.s + (size_t)t * (x.n / 32);
        const int16_t *xqs[2] = {xq, xq};
        const float *xss[2] = {xs, xs};
        float acc[2] = {0.f, 0.f};
        lane_mxfp4<2, 2>(qs, ep, xqs, xss, nb, lane, acc);
        g = warp_sum(acc[0]);
        u = warp_sum(acc[1]);
    } else if (pk_fast(gate, x) && up.type == gate.type && pk_fast(up, x)) {
        const int nb = (int)(gate.n_cols / 32);
        const pk_row p[2] = {pk_row_at(gate, sg), pk_row_at(up, su)};
        const int16_t *xq = x.q + (size_t)t * x.n;
        const float *xs = x.s + (size_t)t * (x.n / 32);
        const int *xz = x.qsum + (size_t)t * (x.n / 32);
        const int16_t *const xqs[2] = {xq, xq};
        const float *const xss[2] = {xs, xs};
        const int *const xzs[2] = {xz, xz};
        float acc[2] = {0.f, 0.f};
        lane_pk_any<2, 1>(gate.type, p, xqs, xss, xzs, nb, lane, acc);
        g = warp_sum(acc[0]);
        u = warp_sum(acc[1]);
    } else {
        g = warp_dot_call(gate, sg, x, t, lane);
        u = warp_dot_call(up, su, x, t, lane);
    }
}

/* gate_up_dots for gate and up rows of one format TY known to the launcher (its fast path
 * only: MXFP4 on x.qi, a packed type on x.q with its block sums); TY 0: any format */
template <int TY>
__device__ __forceinline__ void gate_up_dots_t(const gtc_mat &gate, const gtc_mat &up, int64_t sg,
                                               int64_t su, const gtc_act &x, int t, int lane,
                                               float &g, float &u) {
    const int nb = (int)(gate.n_cols / 32);
    float acc[2] = {0.f, 0.f};
    if (TY == 0) {
        gate_up_dots(gate, up, sg, su, x, t, lane, g, u);
        return;
    } else if (TY == GGML_TYPE_MXFP4) {
        const uint8_t *qs[2] = {gate.base + (size_t)sg * nb * 16, up.base + (size_t)su * nb * 16};
        const uint8_t *ep[2] = {gate.base + (size_t)gate.src_rows * nb * 16 + (size_t)sg * nb,
                                up.base + (size_t)up.src_rows * nb * 16 + (size_t)su * nb};
        const int16_t *xq = x.qi + (size_t)t * x.n;
        const float *xs = x.s + (size_t)t * (x.n / 32);
        const int16_t *xqs[2] = {xq, xq};
        const float *xss[2] = {xs, xs};
        lane_mxfp4<2, 2>(qs, ep, xqs, xss, nb, lane, acc);
    } else {
        const pk_row p[2] = {pk_row_at(gate, sg), pk_row_at(up, su)};
        const int16_t *xq = x.q + (size_t)t * x.n;
        const float *xs = x.s + (size_t)t * (x.n / 32);
        const int *xz = x.qsum + (size_t)t * (x.n / 32);
        const int16_t *const xqs[2] = {xq, xq};
        const float *const xss[2] = {xs, xs};
        const int *const xzs[2] = {xz, xz};
        /* the K-quants' super-block scales take registers: 1 block per row in flight */
        constexpr int PT = TY == GGML_TYPE_MXFP4 ? GGML_TYPE_Q4_0 : TY;
        constexpr int U =
            PT == GGML_TYPE_Q4_K || PT == GGML_TYPE_Q5_K || PT == GGML_TYPE_Q6_K ? 1 : 2;
        lane_pk<PT, 2, U>(p, xqs, xss, xzs, nb, lane, acc);
    }
    g = warp_sum(acc[0]);
    u = warp_sum(acc[1]);
}

/* the format class the decode MoE kernels are specialised for: MXFP4 or a packed type when the
 * activation has the int16 copy that format's fast path reads, else 0 (every path) */
static int moe_fast_type(const gtc_mat &w, const gtc_act &x) {
    if (!w.split) return 0;
    if (w.type == GGML_TYPE_MXFP4) return x.qi ? GGML_TYPE_MXFP4 : 0;
    if (w.type == GGML_TYPE_Q8_0) return x.q ? GGML_TYPE_Q8_0 : 0;
    return pk_type(w.type) && x.q && x.qsum ? (int)w.type : 0;
}

/* calls f(integral_constant<int, TY>) for the fast type ty (see moe_fast_type) or 0 */
template <class F> static void moe_switch(int ty, F &&f) {
    if (ty == GGML_TYPE_MXFP4)
        f(std::integral_constant<int, GGML_TYPE_MXFP4>());
    else if (ty == GGML_TYPE_Q8_0)
        f(std::integral_constant<int, GGML_TYPE_Q8_0>());
    else if (!ty || !pk_switch((uint32_t)ty, f))
        f(std::integral_constant<int, 0>());
}

/* The gate and up dots of RPW row pairs r0 .. r0 + RPW - 1 of expert e for one warp (valid in
 * every lane), MXFP4 gate and up on x.qi: each lane loads an activation block (64 bytes) once
 * for the 2 RPW weight rows and has 2 RPW weight loads in flight per block. Each lane takes the
 * same blocks in the same order as lane_mxfp4 (gate_up_dots_t), so the sums are bit-identical
 * to RPW = 1's. */
template <int RPW>
__device__ __forceinline__ void gate_up_rows_mxfp4(const gtc_mat &gate, const gtc_mat &up, int e,
                                                   int r0, const gtc_act &x, int t, int lane,
                                                   float (&g)[RPW], float (&u)[RPW]) {
    const int nb = (int)(gate.n_cols / 32);
    const uint8_t *qs[2 * RPW], *ep[2 * RPW]; /* row 2i: gate row r0 + i; 2i + 1: up row */
#pragma unroll
    for (int i = 0; i < RPW; i++) {
        const int64_t sg = gate.row0 + (int64_t)e * gate.expert_rows + r0 + i;
        const int64_t su = up.row0 + (int64_t)e * up.expert_rows + r0 + i;
        qs[2 * i] = gate.base + (size_t)sg * nb * 16;
        ep[2 * i] = gate.base + (size_t)gate.src_rows * nb * 16 + (size_t)sg * nb;
        qs[2 * i + 1] = up.base + (size_t)su * nb * 16;
        ep[2 * i + 1] = up.base + (size_t)up.src_rows * nb * 16 + (size_t)su * nb;
    }
    const int16_t *xq = x.qi + (size_t)t * x.n;
    const float *xs = x.s + (size_t)t * (x.n / 32);
    float acc[2 * RPW];
#pragma unroll
    for (int r = 0; r < 2 * RPW; r++) acc[r] = 0.f;
    for (int b = lane; b < nb; b += 32) {
        int4 wq[2 * RPW];
        float sc[2 * RPW];
#pragma unroll
        for (int r = 0; r < 2 * RPW; r++) {
            wq[r] = ldg4(qs[r] + (size_t)b * 16);
            sc[r] = e8m0_half(__ldg(ep[r] + b));
        }
        const float s = __ldg(xs + b);
        const int4 *x4 = (const int4 *)(xq + (size_t)b * 32);
        const int4 X0 = __ldg(x4), X1 = __ldg(x4 + 1), X2 = __ldg(x4 + 2), X3 = __ldg(x4 + 3);
#pragma unroll
        for (int r = 0; r < 2 * RPW; r++)
            acc[r] += sc[r] * s * (float)mxfp4_dot32(wq[r], X0, X1, X2, X3);
    }
#pragma unroll
    for (int i = 0; i < RPW; i++) {
        g[i] = warp_sum(acc[2 * i]);
        u[i] = warp_sum(acc[2 * i + 1]);
    }
}

/* grid (n_ff/32, k, T), 1024 / RPW threads: warp w computes gate and up of rows 32 bx + RPW w ..
 * + RPW - 1 together, then warp 0 quantises the 32 SwiGLU outputs (one activation block) for the
 * down kernel. TY: the format of gate and up (gate_up_dots_t). RPW (GPTC_CUDA_MOE_GU_RPW = 2 or
 * 4, MXFP4 only; 1, the default): row pairs per warp (gate_up_rows_mxfp4). */
static unsigned long moe_rpw_launches;
template <int TY, int RPW = 1>
__global__ void __launch_bounds__(1024 / RPW)
    k_moe_gate_up(gtc_mat gate, gtc_mat up, const float *bg, const float *bu, int64_t bstride,
                  const int32_t *ids, int k, gtc_act x, float alpha, float limit, gtc_act h) {
    static_assert(RPW == 1 || TY == GGML_TYPE_MXFP4, "row pairs per warp: MXFP4 only");
    __shared__ float hs[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int j = blockIdx.y, t = blockIdx.z;
    pdl_wait(); /* the expert ids come from the router just before */
    pdl_trigger();
    const int e = ids[t * k + j];
    const int n_ff = (int)gate.n_rows;
    const int r0 = blockIdx.x * 32 + wid * RPW;
    float g[RPW], u[RPW];
    if constexpr (RPW == 1) {
        const int64_t sg = gate.row0 + (int64_t)e * gate.expert_rows + r0;
        const int64_t su = up.row0 + (int64_t)e * up.expert_rows + r0;
        gate_up_dots_t<TY>(gate, up, sg, su, x, t, lane, g[0], u[0]);
    } else {
        gate_up_rows_mxfp4<RPW>(gate, up, e, r0, x, t, lane, g, u);
    }
    if (lane == 0) {
#pragma unroll
        for (int i = 0; i < RPW; i++) {
            const int r = r0 + i;
            if (bg) g[i] += bg[(size_t)e * bstride + r];
            if (bu) u[i] += bu[(size_t)e * bstride + r];
            hs[wid * RPW + i] = swiglu_oai(g[i], u[i], alpha, limit);
        }
    }
    __syncthreads();
    if (wid == 0) {
        const size_t row = (size_t)t * k + j;
        const int i = blockIdx.x * 32 + lane;
        float v = hs[lane];
        h.f[row * n_ff + i] = v;
        if (h.q) store_q16(h, row * (n_ff / 32) + blockIdx.x, lane, v);
    }
}

/* grid (ceil(n_embd/8), T), 256 threads: warp per output row; the k experts' rows are streamed
 * together and their weighted partials summed per lane before one reduction. TY: the format of
 * down when the launcher knows its fast path (moe_fast_type), else 0. */
template <int TY>
__global__ void __launch_bounds__(256, 2)
    k_moe_down(gtc_mat down, const float *bd, int64_t bstride, const int32_t *ids, const float *wts,
               int k, gtc_act h, float *x) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * 8 + (threadIdx.x >> 5), t = blockIdx.y;
    const int n = (int)down.n_rows;
    if (TY != 0 && r < n && down.expert_rows > 0) /* PDL prologue: its experts' rows */
        for (int j = 0; j < k && j < 8; j++) {
            /* a hint only: ids come from the router two kernels back (complete once the gate/up
             * kernel before this one passed its wait); read past L1, range-checked, and read
             * again after pdl_wait for the product itself */
            const int e = __ldcg(ids + t * k + j);
            const int64_t sr = down.row0 + (int64_t)e * down.expert_rows + r;
            if (e >= 0 && sr < down.src_rows) pdl_prefetch_row(down, sr, lane);
        }
    pdl_wait();
    pdl_trigger();
    if (r >= n) return;
    float y = 0.f;
    float acc[4] = {0.f, 0.f, 0.f, 0.f}; /* the k == 4 fast paths: each expert's dot */
    bool four = true;
    if ((TY == 0 || TY == GGML_TYPE_MXFP4) && k == 4 && mat_fast_mxfp4(down, h)) {
        const int nb = (int)(down.n_cols / 32);
        const uint8_t *qs[4], *ep[4];
        const int16_t *xq[4];
        const float *xs[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int e = ids[t * 4 + j];
            const int64_t sr = down.row0 + (int64_t)e * down.expert_rows + r;
            qs[j] = down.base + (size_t)sr * nb * 16;
            ep[j] = down.base + (size_t)down.src_rows * nb * 16 + (size_t)sr * nb;
            xq[j] = h.qi + (size_t)(t * 4 + j) * h.n;
            xs[j] = h.s + (size_t)(t * 4 + j) * (h.n / 32);
        }
        lane_mxfp4<4, 2>(qs, ep, xq, xs, nb, lane, acc);
    } else if ((TY == 0 || TY == GGML_TYPE_Q8_0) && k == 4 && down.split &&
               down.type == GGML_TYPE_Q8_0 && h.q) {
        const int nb = (int)(down.n_cols / 32);
        const uint8_t *qs[4];
        const uint16_t *dp[4];
        const int16_t *xq[4];
        const float *xs[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int e = ids[t * 4 + j];
            const int64_t sr = down.row0 + (int64_t)e * down.expert_rows + r;
            qs[j] = down.base + (size_t)sr * nb * 32;
            dp[j] = (const uint16_t *)(down.base + (size_t)down.src_rows * nb * 32) + sr * nb;
            xq[j] = h.q + (size_t)(t * 4 + j) * h.n;
            xs[j] = h.s + (size_t)(t * 4 + j) * (h.n / 32);
        }
        lane_q8<4, 1>(qs, dp, xq, xs, nb, lane, acc);
    } else if (k == 4 &&
               (TY == 0 ? pk_fast(down, h) : TY != GGML_TYPE_MXFP4 && TY != GGML_TYPE_Q8_0)) {
        const int nb = (int)(down.n_cols / 32);
        pk_row p[4];
        const int16_t *xq[4];
        const float *xs[4];
        const int *xz[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int e = ids[t * 4 + j];
            p[j] = pk_row_at(down, down.row0 + (int64_t)e * down.expert_rows + r);
            xq[j] = h.q + (size_t)(t * 4 + j) * h.n;
            xs[j] = h.s + (size_t)(t * 4 + j) * (h.n / 32);
            xz[j] = h.qsum + (size_t)(t * 4 + j) * (h.n / 32);
        }
        if (TY != 0) { /* the launcher's packed type */
            constexpr int PT =
                TY == 0 || TY == GGML_TYPE_MXFP4 || TY == GGML_TYPE_Q8_0 ? GGML_TYPE_Q4_0 : TY;
            constexpr int U =
                PT == GGML_TYPE_Q4_K || PT == GGML_TYPE_Q5_K || PT == GGML_TYPE_Q6_K ? 1 : 2;
            lane_pk<PT, 4, U>(p, xq, xs, xz, nb, lane, acc);
        } else {
            lane_pk_any<4, 1>(down.type, p, xq, xs, xz, nb, lane, acc);
        }
    } else { /* any k, any format (a TY kernel is launched for k == 4 only) */
        four = false;
        for (int j = 0; TY == 0 && j < k; j++) {
            const int e = ids[t * k + j];
            float d =
                warp_dot(down, down.row0 + (int64_t)e * down.expert_rows + r, h, t * k + j, lane);
            if (bd) d += bd[(size_t)e * bstride + r];
            y += wts[t * k + j] * d;
        }
    }
    if (four) { /* the experts' weighted sum, their biases weighted too */
        float part = 0.f;
#pragma unroll
        for (int j = 0; j < 4; j++) part += wts[t * 4 + j] * acc[j];
        y = warp_sum(part);
        if (bd)
            for (int j = 0; j < 4; j++)
                y += wts[t * 4 + j] * bd[(size_t)ids[t * 4 + j] * bstride + r];
    }
    if (lane == 0) x[(size_t)t * n + r] += y;
}

/* grid (n_ff/32, pairs), 32 threads: h[p] = swiglu(g[p], u[p]) (rows of stride ld), with its
 * int16 copies (the down product's input) */
__global__ void k_swiglu_q(const float *gg, const float *uu, int ld, float alpha, float limit,
                           gtc_act h) {
    const int p = blockIdx.y, c = blockIdx.x, lane = threadIdx.x, n_ff = h.n;
    const int i = c * 32 + lane;
    const float v = swiglu_oai(gg[(size_t)p * ld + i], uu[(size_t)p * ld + i], alpha, limit);
    const size_t row = (size_t)p;
    h.f[row * n_ff + i] = v;
    if (h.q) store_q16(h, row * (n_ff / 32) + c, lane, v);
}

/* ---- MoE grouped by expert (several tokens) -------------------------------------------- */
/* one block: pairs p = t*k + j of ids grouped by expert (see gtc_moe_group) */
__global__ void k_moe_group(const int32_t *ids, int n, int E, int32_t *grp, int32_t *list) {
    extern __shared__ int32_t sid[]; /* [n] */
    __shared__ int off[257];
    for (int i = threadIdx.x; i < n; i += blockDim.x) sid[i] = ids[i];
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int c = 0;
        for (int i = 0; i < n; i++) c += sid[i] == e;
        off[e + 1] = c;
        grp[e] = c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        off[0] = 0;
        for (int e = 0; e < E; e++) off[e + 1] += off[e];
    }
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int o = off[e];
        grp[E + e] = o;
        for (int i = 0; i < n; i++)
            if (sid[i] == e) list[o++] = i;
    }
}

/* grid (n_ff/32, E), 1024 threads: warp w takes gate and up row 32 bx + w of expert by through
 * every pair routed to it (the rows stay in L1 after the first pair); per 8 pairs the block
 * quantises the SwiGLU outputs (one activation block of 32 per pair) for the down kernel. */
__global__ void __launch_bounds__(1024)
    k_moe_gate_up_g(gtc_mat gate, gtc_mat up, const float *bg, const float *bu, int64_t bstride,
                    int E, const int32_t *grp, const int32_t *list, int k, gtc_act x, float alpha,
                    float limit, gtc_act h) {
    __shared__ float hs[8][32];
    __shared__ int pr[8];
    const int e = blockIdx.y;
    const int c = grp[e];
    if (c == 0) return;
    const int o = grp[E + e];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int n_ff = (int)gate.n_rows;
    const int r = blockIdx.x * 32 + wid;
    const int64_t sg = gate.row0 + (int64_t)e * gate.expert_rows + r;
    const int64_t su = up.row0 + (int64_t)e * up.expert_rows + r;
    for (int i0 = 0; i0 < c; i0 += 8) {
        const int nn = min(8, c - i0);
        if (threadIdx.x < nn) pr[threadIdx.x] = list[o + i0 + threadIdx.x];
        __syncthreads();
        for (int ii = 0; ii < nn; ii++) {
            const int t = pr[ii] / k;
            float g, u;
            gate_up_dots(gate, up, sg, su, x, t, lane, g, u);
            if (lane == 0) {
                if (bg) g += bg[(size_t)e * bstride + r];
                if (bu) u += bu[(size_t)e * bstride + r];
                hs[ii][wid] = swiglu_oai(g, u, alpha, limit);
            }
        }
        __syncthreads();
        if (wid < nn) {
            const size_t row = (size_t)pr[wid];
            const int i = blockIdx.x * 32 + lane;
            float v = hs[wid][lane];
            h.f[row * n_ff + i] = v;
            if (h.q) store_q16(h, row * (n_ff / 32) + blockIdx.x, lane, v);
        }
        __syncthreads();
    }
}

/* grid (ceil(n_embd/8), E), 256 threads: warp per output row of expert by, through its pairs:
 * yk[p][r] = wts[p] (down_e row r . h[p] + bd_e[r]) */
__global__ void __launch_bounds__(256)
    k_moe_down_g(gtc_mat down, const float *bd, int64_t bstride, int E, const int32_t *grp,
                 const int32_t *list, const float *wts, gtc_act h, float *yk) {
    const int e = blockIdx.y;
    const int c = grp[e];
    if (c == 0) return;
    const int o = grp[E + e];
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * 8 + (threadIdx.x >> 5);
    const int n = (int)down.n_rows;
    if (r >= n) return;
    const int64_t sr = down.row0 + (int64_t)e * down.expert_rows + r;
    const float b = bd ? bd[(size_t)e * bstride + r] : 0.f;
    for (int i = 0; i < c; i++) {
        const int p = list[o + i];
        float d = warp_dot(down, sr, h, p, lane);
        if (lane == 0) yk[(size_t)p * n + r] = wts[p] * (d + b);
    }
}

/* grid (ceil(n/256), T): x[t][r] += sum_j yk[t*k + j][r] */
__global__ void k_moe_sum(const float *yk, int k, int n, float *x) {
    const int t = blockIdx.y, r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    float v = 0.f;
    for (int j = 0; j < k; j++) v += yk[((size_t)t * k + j) * n + r];
    x[(size_t)t * n + r] += v;
}

extern "C" int gtc_topk_softmax(const float *logits, int T, int E, int k, int32_t *ids, float *w,
                                gtc_stream st) {
    if (E > 256 || k > 8 || k > E) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "topk: unsupported n_expert %d / k %d", E, k);
        return -1;
    }
    if (T <= 0) return 0;
    k_topk<<<T, 32, 0, (cudaStream_t)st>>>(logits, E, k, ids, w);
    CKL("topk");
    return 0;
}

/* GPTC_CUDA_ROUTER_SK (on when > 0), or the test hook's value */
static gtc_knob router_sk_k = GTC_KNOB("GPTC_CUDA_ROUTER_SK", 0, 0);
static int router_sk(void) {
    return gtc_knob_get(&router_sk_k) > 0;
}
extern "C" void gtc_router_set_sk(int on) {
    gtc_knob_set(&router_sk_k, on);
}
static gtc_knob norm_router_k = GTC_KNOB("GPTC_CUDA_NORM_ROUTER", 0, 0);
extern "C" void gtc_norm_router_set(int on) {
    gtc_knob_set(&norm_router_k, on);
}
extern "C" unsigned long gtc_norm_router_calls(void) {
    return norm_router_launches;
}
/* the shapes k_norm_router takes: raw float router rows of n columns (n >= 64, a multiple of 32),
 * 1..256 experts */
static bool norm_router_fits(const gtc_mat *w, int n) {
    return mat_raw_float(*w) && w->n_cols == n && n >= 64 && n % 32 == 0 && w->n_rows >= 1 &&
           w->n_rows <= 256;
}
extern "C" int gtc_norm_router_supported(const gtc_mat *w, int n, int T) {
    return gtc_knob_get(&norm_router_k) > 0 && T >= 1 && T <= 8 && norm_router_fits(w, n);
}
extern "C" int gtc_norm_router_topk(const float *x, const float *nw, float eps, const gtc_act *out,
                                    const gtc_mat *w, const float *bias, int T, int k, float *lg_ws,
                                    unsigned *tickets, int32_t *ids, float *wts, gtc_stream st) {
    if (T <= 0) return 0;
    if (!norm_router_fits(w, out->n) || k < 1 || k > 8 || k > w->n_rows || !lg_ws || !tickets) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf,
                 "norm_router: unsupported call (type %u, %lld x %lld, k %d)", w->type,
                 (long long)w->n_rows, (long long)w->n_cols, k);
        return -1;
    }
    const int rc =
        gtc_launch("norm_router_topk", k_norm_router, dim3((unsigned)w->n_rows, (unsigned)T), 256,
                   0, st, x, out->n, nw, eps, *out, *w, bias, k, lg_ws, tickets, ids, wts);
    if (rc == 0) norm_router_launches++;
    return rc;
}
extern "C" unsigned long gtc_router_sk_calls(void) {
    return router_sk_launches;
}

extern "C" int gtc_router_topk(const gtc_mat *w, const float *bias, const gtc_act *x, int T, int k,
                               float *lg_ws, unsigned *tickets, int32_t *ids, float *wts,
                               gtc_stream st) {
    if (w->n_rows > 256 || k > 8 || k > w->n_rows) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "router: unsupported n_expert %lld / k %d",
                 (long long)w->n_rows, k);
        return -1;
    }
    if (T <= 0) return 0;
    if (lg_ws && tickets && mat_raw_float(*w) && router_sk() && w->n_cols >= 64 &&
        w->n_cols % 8 == 0) {
        const int rc =
            gtc_launch("router_topk", k_router_topk_sk, dim3((unsigned)w->n_rows, (unsigned)T), 256,
                       0, st, *w, bias, *x, k, lg_ws, tickets, ids, wts);
        if (rc == 0) router_sk_launches++;
        return rc;
    }
    if (lg_ws && tickets)
        return gtc_launch("router_topk", k_router_topk_mb,
                          dim3(blocks_for(w->n_rows, 8), (unsigned)T), 256, 0, st, *w, bias, *x, k,
                          lg_ws, tickets, ids, wts);
    return gtc_launch("router_topk", k_router_topk, T, 1024, 0, st, *w, bias, *x, k, ids, wts);
}

/* GPTC_CUDA_MOE_GU_RPW (0 unless 2 or 4), or the test hook's value */
static gtc_knob moe_gu_rpw_k = GTC_KNOB("GPTC_CUDA_MOE_GU_RPW", 0, 0);
static int moe_gu_rpw(void) {
    return gtc_knob_get(&moe_gu_rpw_k);
}
extern "C" void gtc_moe_set_gu_rpw(int rpw) {
    gtc_knob_set(&moe_gu_rpw_k, rpw);
}
extern "C" unsigned long gtc_moe_rpw_calls(void) {
    return moe_rpw_launches;
}

extern "C" int gtc_moe_gate_up(const gtc_moe *m, const gtc_route *r, const gtc_act *x,
                               const gtc_act *hact, gtc_stream st) {
    if (m->gate.n_rows % 32) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "moe: n_ff %lld is not a multiple of 32",
                 (long long)m->gate.n_rows);
        return -1;
    }
    if (r->T <= 0) return 0;
    dim3 grid((unsigned)(m->gate.n_rows / 32), (unsigned)m->k, (unsigned)r->T);
    int ty = moe_fast_type(m->gate, *x);
    if (ty == GGML_TYPE_Q8_0 || m->up.type != m->gate.type || moe_fast_type(m->up, *x) != ty)
        ty = 0;
    int rc = 0;
    const int rpw = moe_gu_rpw();
    if (ty == GGML_TYPE_MXFP4 && (rpw == 2 || rpw == 4)) {
        rc = gtc_launch("moe_gate_up",
                        rpw == 2 ? k_moe_gate_up<GGML_TYPE_MXFP4, 2>
                                 : k_moe_gate_up<GGML_TYPE_MXFP4, 4>,
                        grid, 1024 / rpw, 0, st, m->gate, m->up, m->bgate, m->bup, m->bgu_stride,
                        r->ids, m->k, *x, m->alpha, m->limit, *hact);
        if (rc == 0) moe_rpw_launches++;
        return rc;
    }
    moe_switch(ty, [&](auto c) {
        rc = gtc_launch("moe_gate_up", k_moe_gate_up<decltype(c)::value>, grid, 1024, 0, st,
                        m->gate, m->up, m->bgate, m->bup, m->bgu_stride, r->ids, m->k, *x, m->alpha,
                        m->limit, *hact);
    });
    return rc;
}

extern "C" int gtc_moe_down(const gtc_moe *m, const gtc_route *r, const gtc_act *hact, float *x,
                            gtc_stream st) {
    if (r->T <= 0) return 0;
    dim3 grid(blocks_for(m->down.n_rows, 8), (unsigned)r->T);
    const int ty = m->k == 4 ? moe_fast_type(m->down, *hact) : 0;
    int rc = 0;
    moe_switch(ty, [&](auto c) {
        rc = gtc_launch("moe_down", k_moe_down<decltype(c)::value>, grid, 256, 0, st, m->down,
                        m->bdown, m->bdown_stride, r->ids, r->wts, m->k, *hact, x);
    });
    return rc;
}

extern "C" int gtc_swiglu_q(const float *g, const float *u, int ld, int n_pairs, float alpha,
                            float limit, const gtc_act *h, gtc_stream st) {
    if (n_pairs <= 0) return 0;
    if (h->n % 32) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "swiglu_q: n_ff %d is not a multiple of 32",
                 h->n);
        return -1;
    }
    k_swiglu_q<<<dim3((unsigned)(h->n / 32), (unsigned)n_pairs), 32, 0, (cudaStream_t)st>>>(
        g, u, ld, alpha, limit, *h);
    CKL("swiglu_q");
    return 0;
}

extern "C" int gtc_moe_sum(const float *yk, int T, int k, int n, float *x, gtc_stream st) {
    if (T <= 0) return 0;
    k_moe_sum<<<dim3(blocks_for(n, 256), (unsigned)T), 256, 0, (cudaStream_t)st>>>(yk, k, n, x);
    CKL("moe_sum");
    return 0;
}

extern "C" int gtc_moe_group(const int32_t *ids, int T, int k, int E, int32_t *grp, int32_t *list,
                             gtc_stream st) {
    const int n = T * k;
    if (E > 256 || n > 8192) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "moe_group: unsupported n_expert %d / %d pairs",
                 E, n);
        return -1;
    }
    if (n <= 0) return 0;
    k_moe_group<<<1, 256, sizeof(int32_t) * (size_t)n, (cudaStream_t)st>>>(ids, n, E, grp, list);
    CKL("moe_group");
    return 0;
}

extern "C" int gtc_moe_gate_up_grouped(const gtc_moe *m, const gtc_route *r, const gtc_act *x,
                                       const gtc_act *hact, gtc_stream st) {
    if (m->gate.n_rows % 32) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "moe: n_ff %lld is not a multiple of 32",
                 (long long)m->gate.n_rows);
        return -1;
    }
    if (m->E <= 0) return 0;
    dim3 grid((unsigned)(m->gate.n_rows / 32), (unsigned)m->E);
    k_moe_gate_up_g<<<grid, 1024, 0, (cudaStream_t)st>>>(m->gate, m->up, m->bgate, m->bup,
                                                         m->bgu_stride, m->E, r->grp, r->list, m->k,
                                                         *x, m->alpha, m->limit, *hact);
    CKL("moe_gate_up_grouped");
    return 0;
}

extern "C" int gtc_moe_down_grouped(const gtc_moe *m, const gtc_route *r, const gtc_act *hact,
                                    float *yk, float *x, gtc_stream st) {
    if (r->T <= 0 || m->E <= 0) return 0;
    const int64_t n = m->down.n_rows;
    dim3 grid(blocks_for(n, 8), (unsigned)m->E);
    k_moe_down_g<<<grid, 256, 0, (cudaStream_t)st>>>(m->down, m->bdown, m->bdown_stride, m->E,
                                                     r->grp, r->list, r->wts, *hact, yk);
    CKL("moe_down_grouped");
    k_moe_sum<<<dim3(blocks_for(n, 256), (unsigned)r->T), 256, 0, (cudaStream_t)st>>>(yk, m->k,
                                                                                      (int)n, x);
    CKL("moe_sum");
    return 0;
}
