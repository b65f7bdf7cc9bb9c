/* attention_mma.cu — the tensor-core prompt attention kernel (GPTC_CUDA_ATTN_MMA_MIN_T): flash
 * attention of a single sequence's prompt batch over an fp16 or Q8_0 cache, hd = 64, G = n_head /
 * n_kv in 1, 2, 4, 8, with fp16 m16n8k16 MMAs (cuda/mma.cuh) and fp32 accumulators.
 *
 * Block: 4 warps, 64 query rows; row r is (token t0 + r / G, head g G + r % G), i.e. 64 / G
 * tokens times the G query heads of KV head g = blockIdx.x, so every K/V tile in shared memory
 * serves all G heads. Warp w owns rows 16w..16w+15 (one m16 tile); lane (gid, tig) = (lane / 4,
 * lane % 4) holds rows 16w + gid and 16w + gid + 8 (cuda/mma.cuh's fragment layout).
 * grid (n_kv, ceil(T / (64 / G)), ns): z = the key split.
 *
 *   Q: 4 A fragments (k = dims 16kk..16kk+15) in registers for the whole kernel, fp16 of q as
 *      given (not pre-scaled: the scale is folded into the exp2 below at no cost, and the test's
 *      twin sees exactly f16(q)).
 *   Keys: the block's range is the union over its tokens of [lo(p), p] (lo(p) = p - window + 1
 *      or 0), cut into ns splits of whole 64-key tiles (on the device: the positions are there);
 *      tile [j0, j0 + 64): K and V rows of head g, converted to fp16 (Q8_0: f16(d * q)), in
 *      shared memory as [key][72 halves] (64 + 8 of pad: the 8 rows of an ldmatrix fall into 8
 *      different 4-bank groups); keys past the split's end are zeros. Each thread loads 4 K and
 *      4 V chunks of 8 dims into registers while the tile before is being computed.
 *   S = Q K^T: 8 n-tiles of 8 keys x 4 k-steps; B fragments of K by ldmatrix (non-trans) from
 *      the key rows. Keys outside a row's [lo, p] or the split: -inf.
 *   Online softmax in base 2: m (the raw score maximum, so -inf until a key is seen) and l per
 *      row, shared by the quad of lanes that hold the row (reduced by shfl_xor 1, 2); with c =
 *      scale log2(e): P = exp2(s c - m c), with m c taken as 0 while m = -inf (no inf - inf).
 *   O += P V: the S accumulators of n-tiles 2kk, 2kk + 1 are exactly the A fragment of k-step
 *      kk of P (converted to fp16 in registers); V's B fragments by ldmatrix.trans from the key
 *      rows. 8 n-tiles of 8 dims x 4 fp32 = 32 accumulators per lane.
 *   End: O, m and l go through shared memory (the K/V buffers) so that a warp writes a row's
 *      64 dims with lane = dim (coalesced, and store_q16's 32 lanes of a block): ns == 1: the
 *      block finishes the row itself (the sink, out, the int16 copy); ns > 1: the ATTN_PS
 *      record (m in natural-log units: m scale) of (t, h, split), every split writing one (an
 *      empty split m = -inf, l = 0, o = 0), and attn_combine merges them. Rows past T write
 *      nothing. */
#include "cuda/attention.cuh"
#include "cuda/kv.cuh"
#include "cuda/mma.cuh"

static gtc_knob mma_min_t_k = GTC_KNOB("GPTC_CUDA_ATTN_MMA_MIN_T", 0, 0);
static unsigned long mma_calls;

static int mma_min_t(void) {
    return gtc_knob_get(&mma_min_t_k);
}

extern "C" void gtc_attn_set_mma_min_t(int min_t) {
    gtc_knob_set(&mma_min_t_k, min_t);
}

extern "C" unsigned long gtc_attn_mma_calls(void) {
    return mma_calls;
}

#define AM_ROWS 64 /* query rows per block (4 warps of 16) */
#define AM_KEYS 64 /* keys per tile */
#define AM_LDH 72  /* halves per K / V row in shared memory */
#define AM_LDO 72  /* floats per staged output row (float2 stores of a half warp: 32 banks) */

struct am_smem {
    union {
        struct {
            uint16_t k[AM_KEYS][AM_LDH];
            uint16_t v[AM_KEYS][AM_LDH];
        } kv;
        float o[AM_ROWS][AM_LDO]; /* the same 18,432 bytes, after the last tile */
    } u;
    float m[AM_ROWS], l[AM_ROWS];
};

/* 8 dims of a cache row (kv_ld's raw load) as 8 halves */
template <int KT> __device__ __forceinline__ uint4 am_half8(const kv_raw<KT> &x) {
    if (KT == GTC_KV_F16) return x.a;
    const float d = h2f((uint16_t)x.a.z);
    uint32_t r[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const uint32_t w = k < 2 ? x.a.x : x.a.y;
        const int s = 16 * (k & 1);
        r[k] = h2_pack(d * (float)(int8_t)(w >> s), d * (float)(int8_t)(w >> (s + 8)));
    }
    return make_uint4(r[0], r[1], r[2], r[3]);
}

__device__ __forceinline__ int am_lo(int p, int window) {
    return window > 0 ? max(0, p - window + 1) : 0;
}

/* The raw K and V chunks of tile j0 that this thread moves: chunk idx = tid + 128 u (u < 4) is
 * key j0 + idx / 8, dims 8 (idx % 8)..+7 of head g (8 threads read one 128-byte f16 row); keys
 * past ke are not read. */
template <int KT>
__device__ __forceinline__ void am_load(kv_raw<KT> (&rk)[4], kv_raw<KT> (&rv)[4], const uint8_t *kc,
                                        const uint8_t *vc, size_t rb, int ring, int e0, int j0,
                                        int ke, int tid) {
#pragma unroll
    for (int u = 0; u < 4; u++) {
        const int idx = tid + 128 * u, key = j0 + (idx >> 3);
        if (key <= ke) {
            const int row = ring > 0 ? key % ring : key;
            rk[u] = kv_ld<KT>(kc, rb, row, e0 + 8 * (idx & 7));
            rv[u] = kv_ld<KT>(vc, rb, row, e0 + 8 * (idx & 7));
        }
    }
}
template <int KT>
__device__ __forceinline__ void am_store(const kv_raw<KT> (&rk)[4], const kv_raw<KT> (&rv)[4],
                                         am_smem &sm, int j0, int ke, int tid) {
#pragma unroll
    for (int u = 0; u < 4; u++) {
        const int idx = tid + 128 * u, jj = idx >> 3, c = idx & 7;
        uint4 kq = make_uint4(0u, 0u, 0u, 0u), vq = kq;
        if (j0 + jj <= ke) {
            kq = am_half8<KT>(rk[u]);
            vq = am_half8<KT>(rv[u]);
        }
        *(uint4 *)&sm.u.kv.k[jj][8 * c] = kq;
        *(uint4 *)&sm.u.kv.v[jj][8 * c] = vq;
    }
}

template <int KT, int G>
__global__ void __launch_bounds__(128) k_attn_mma(gtc_attn_args a, gtc_act qa, int ns) {
    constexpr int TPB = AM_ROWS / G; /* tokens per block */
    __shared__ __align__(16) am_smem sm;
    const int g = blockIdx.x, t0 = blockIdx.y * TPB, sp = blockIdx.z;
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, gid = lane >> 2, tig = lane & 3;
    const int T = a.T, n_head = a.n_head, ring = a.ring, window = a.window;
    const size_t rb = kv_row_bytes(KT, a.n_kv * 64);
    const uint8_t *kc = (const uint8_t *)a.kc, *vc = (const uint8_t *)a.vc;
    const float c = a.scale * 1.4426950408889634f; /* raw score -> base-2 exponent */
    pdl_wait(); /* q, the caches and the position come from the kernels before */
    pdl_trigger();
    const int P0 = *a.d_pos0;

    /* the block's keys [klo, khi] (its tokens' union) and this split's part [ks, ke] */
    const int tl = min(t0 + TPB, T) - 1;
    const int klo = am_lo(P0 + t0, window), khi = P0 + tl;
    int len = (khi - klo + 1 + ns - 1) / ns;
    len = (len + AM_KEYS - 1) / AM_KEYS * AM_KEYS;
    const int ks = klo + sp * len, ke = min(khi, ks + len - 1);
    const int ntiles = ke >= ks ? (ke - ks) / AM_KEYS + 1 : 0;

    /* this lane's two rows: their keys within the split [rlo, rhi] (empty past T), q as A
     * fragments: qf[kk][i] = (row i, dims 16kk + 2tig, +1), qf[kk][2 + i] = (row i, dims 16kk +
     * 8 + 2tig, +1) */
    int rlo[2], rhi[2];
    uint32_t qf[4][4];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int r = 16 * w + gid + 8 * i, t = t0 + r / G, h = g * G + r % G;
        rlo[i] = 0;
        rhi[i] = -1;
#pragma unroll
        for (int kk = 0; kk < 4; kk++) qf[kk][i] = qf[kk][2 + i] = 0u;
        if (t < T) {
            const float *qr = a.q + (size_t)t * a.ld + h * 64;
            rlo[i] = max(ks, am_lo(P0 + t, window));
            rhi[i] = min(ke, P0 + t);
#pragma unroll
            for (int kk = 0; kk < 4; kk++) {
                const int d = 16 * kk + 2 * tig;
                qf[kk][i] = h2_pack(qr[d], qr[d + 1]);
                qf[kk][2 + i] = h2_pack(qr[d + 8], qr[d + 9]);
            }
        }
    }
    /* the warp's keys (its tokens' union within the split): tiles outside are skipped */
    const int wf = t0 + 16 * w / G, wl = min(t0 + (16 * w + 15) / G, T - 1);
    const int wlo = wf < T ? max(ks, am_lo(P0 + wf, window)) : 0;
    const int whi = wf < T ? min(ke, P0 + wl) : -1;

    float o[8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
    for (int n = 0; n < 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;

    kv_raw<KT> rk[4], rv[4];
    if (ntiles > 0) am_load<KT>(rk, rv, kc, vc, rb, ring, g * 64, ks, ke, tid);
    for (int it = 0; it < ntiles; it++) {
        const int j0 = ks + it * AM_KEYS;
        __syncthreads(); /* every warp is done with the tile before */
        am_store<KT>(rk, rv, sm, j0, ke, tid);
        __syncthreads();
        if (it + 1 < ntiles) /* the next tile's loads are in flight during this one's math */
            am_load<KT>(rk, rv, kc, vc, rb, ring, g * 64, j0 + AM_KEYS, ke, tid);
        if (whi < wlo || j0 > whi || j0 + AM_KEYS - 1 < wlo) continue; /* warp-uniform */

        /* S = Q K^T: s[n] = keys j0 + 8n.., lane: (row gid, keys 8n + 2tig, +1), (row gid + 8,
         * the same keys). ldmatrix: lane l points at key 16np + 8 (l >> 4) + (l & 7), dims 16kk +
         * 8 ((l >> 3) & 1): registers 0, 1 = b0, b1 of n-tile 2np, 2, 3 those of 2np + 1. */
        float s[8][4];
#pragma unroll
        for (int n = 0; n < 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t b[4];
                ldmatrix_x4(b, &sm.u.kv.k[16 * np + 8 * (lane >> 4) + (lane & 7)]
                                         [16 * kk + 8 * ((lane >> 3) & 1)]);
                mma_f16(s[2 * np], qf[kk], b[0], b[1]);
                mma_f16(s[2 * np + 1], qf[kk], b[2], b[3]);
            }
        }
        if (j0 < max(rlo[0], rlo[1]) || j0 + AM_KEYS - 1 > min(rhi[0], rhi[1])) {
#pragma unroll
            for (int n = 0; n < 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int j = j0 + 8 * n + 2 * tig + (e & 1), i = e >> 1;
                    if (j < rlo[i] || j > rhi[i]) s[n][e] = -INFINITY;
                }
        }

        /* online softmax (base 2) */
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int n = 0; n < 8; n++) {
            mx[0] = fmaxf(mx[0], fmaxf(s[n][0], s[n][1]));
            mx[1] = fmaxf(mx[1], fmaxf(s[n][2], s[n][3]));
        }
        float msc[2], corr[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            msc[i] = mx[i] == -INFINITY ? 0.f : mx[i] * c; /* all masked so far: P = 0 */
            corr[i] = exp2f(m[i] * c - msc[i]);            /* m = -inf: 0 (o, l are 0 too) */
            m[i] = mx[i];
        }
        /* P as A fragments: k-step kk (keys 16kk..) = n-tiles 2kk (a0, a1), 2kk + 1 (a2, a3) */
        uint32_t pf[4][4];
        float rs[2] = {0.f, 0.f};
#pragma unroll
        for (int n = 0; n < 8; n++) {
            const float p0 = exp2f(fmaf(s[n][0], c, -msc[0]));
            const float p1 = exp2f(fmaf(s[n][1], c, -msc[0]));
            const float p2 = exp2f(fmaf(s[n][2], c, -msc[1]));
            const float p3 = exp2f(fmaf(s[n][3], c, -msc[1]));
            rs[0] += p0 + p1;
            rs[1] += p2 + p3;
            pf[n >> 1][2 * (n & 1)] = h2_pack(p0, p1);
            pf[n >> 1][2 * (n & 1) + 1] = h2_pack(p2, p3);
        }
#pragma unroll
        for (int i = 0; i < 2; i++) l[i] = l[i] * corr[i] + rs[i]; /* this lane's columns */
#pragma unroll
        for (int n = 0; n < 8; n++) {
            o[n][0] *= corr[0];
            o[n][1] *= corr[0];
            o[n][2] *= corr[1];
            o[n][3] *= corr[1];
        }
        /* O += P V: o[n] = dims 8n..; ldmatrix.trans: lane l points at key 16kk + 8 ((l >> 3) &
         * 1) + (l & 7), dims 16dp + 8 (l >> 4): registers 0, 1 = b0, b1 of n-tile 2dp, 2, 3
         * those of 2dp + 1 */
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
#pragma unroll
            for (int dp = 0; dp < 4; dp++) {
                uint32_t b[4];
                ldmatrix_x4_trans(b, &sm.u.kv.v[16 * kk + 8 * ((lane >> 3) & 1) + (lane & 7)]
                                               [16 * dp + 8 * (lane >> 4)]);
                mma_f16(o[2 * dp], pf[kk], b[0], b[1]);
                mma_f16(o[2 * dp + 1], pf[kk], b[2], b[3]);
            }
        }
    }

    /* the rows' l over the quad; O, m, l into shared memory (over the K/V tiles) */
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int r = 16 * w + gid + 8 * i;
#pragma unroll
        for (int n = 0; n < 8; n++)
            *(float2 *)&sm.u.o[r][8 * n + 2 * tig] = make_float2(o[n][2 * i], o[n][2 * i + 1]);
        if (tig == 0) {
            sm.m[r] = m[i] * a.scale; /* natural-log units */
            sm.l[r] = l[i];
        }
    }
    __syncwarp();
    /* the warp's rows, lane = dims lane and lane + 32 */
    for (int i = 0; i < 16; i++) {
        const int r = 16 * w + i, t = t0 + r / G, h = g * G + r % G;
        if (t >= T) break; /* warp-uniform; later rows are later tokens */
        const float M = sm.m[r], L = sm.l[r], o0 = sm.u.o[r][lane], o1 = sm.u.o[r][lane + 32];
        const size_t th = (size_t)t * n_head + h;
        if (ns == 1) { /* finish here: the sink joins the denominator */
            const float sink = a.sinks ? a.sinks[h] : -INFINITY;
            const float M2 = fmaxf(M, sink), f = expf(M - M2);
            const float den = L * f + (a.sinks ? expf(sink - M2) : 0.f);
            const float v0 = o0 * f / den, v1 = o1 * f / den;
            a.out[th * 64 + lane] = v0;
            a.out[th * 64 + 32 + lane] = v1;
            if (qa.q) {
                store_q16(qa, th * 2, lane, v0);
                store_q16(qa, th * 2 + 1, lane, v1);
            }
        } else {
            float *rec = a.part + (th * ns + sp) * ATTN_PS;
            if (lane == 0) {
                rec[0] = M;
                rec[1] = L;
            }
            rec[2 + lane] = o0;
            rec[2 + 32 + lane] = o1;
        }
    }
}

int attn_mma_wants(const gtc_attn_args *a) {
    const int G = a->n_kv > 0 ? a->n_head / a->n_kv : 0;
    return mma_min_t() > 0 && a->T >= mma_min_t() && !a->seqs.pos &&
           (a->kv_type == GTC_KV_F16 || a->kv_type == GTC_KV_Q8_0) && a->hd == 64 &&
           (G == 1 || G == 2 || G == 4 || G == 8) && a->n_head == G * a->n_kv && a->scale > 0.f;
}

/* blocks the kernel aims for before it splits the keys: 2 per SM */
static int am_target_blocks(void) {
    static int v = -1;
    if (v < 0) v = 2 * gtc_sm_count();
    return v;
}

template <int KT>
static int am_launch(const gtc_attn_args *a, const gtc_act &qa, int G, int ns, gtc_stream st) {
    const dim3 grid((unsigned)a->n_kv, (unsigned)((a->T + AM_ROWS / G - 1) / (AM_ROWS / G)),
                    (unsigned)ns);
    switch (G) {
    case 1:
        return gtc_launch("attention_mma", k_attn_mma<KT, 1>, grid, 128, 0, st, *a, qa, ns);
    case 2:
        return gtc_launch("attention_mma", k_attn_mma<KT, 2>, grid, 128, 0, st, *a, qa, ns);
    case 4:
        return gtc_launch("attention_mma", k_attn_mma<KT, 4>, grid, 128, 0, st, *a, qa, ns);
    default:
        return gtc_launch("attention_mma", k_attn_mma<KT, 8>, grid, 128, 0, st, *a, qa, ns);
    }
}

int attn_mma(const gtc_attn_args *a, gtc_stream st) {
    const int G = a->n_head / a->n_kv;
    int n_keys = a->max_pos + 1;
    if (a->window > 0 && a->window < n_keys) n_keys = a->window;
    /* splits: enough blocks for the GPU, at most what the workspace holds (attn_tile_nsplit) */
    const int blocks = a->n_kv * ((a->T + AM_ROWS / G - 1) / (AM_ROWS / G));
    int ns = (am_target_blocks() + blocks - 1) / blocks;
    const int cap = attn_tile_nsplit(a->T, n_keys);
    if (ns > cap) ns = cap;
    if (ns < 1) ns = 1;
    /* a->qout is a host pointer: its device pointers go by value (q = NULL: no int16 copy) */
    gtc_act qa;
    memset(&qa, 0, sizeof qa);
    if (a->qout && ns == 1) qa = *a->qout; /* ns > 1: attn_combine writes it */
    const int rc = a->kv_type == GTC_KV_F16 ? am_launch<GTC_KV_F16>(a, qa, G, ns, st)
                                            : am_launch<GTC_KV_Q8_0>(a, qa, G, ns, st);
    if (rc) return rc;
    mma_calls++;
    return ns > 1 ? attn_combine(a, ns, st) : 0;
}
