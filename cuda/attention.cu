/* attention.cu — flash-decoding attention over the KV cache: split-K partial softmax records,
 * then a combine with the attention sinks (and the int16 copy of the output). */
#include "cuda/attention.cuh"
#include "cuda/kv.cuh"

/* grid (n_kv, T, n_split), block 32*G (G = query heads per KV head). hd <= 64. */
/* element (head g, dim d) of cache row `row` as fp32 */
template <int KT>
__device__ __forceinline__ float kv_get(const uint8_t *c, size_t rb, int row, int e) {
    const uint8_t *r = c + (size_t)row * rb;
    if (KT == GTC_KV_F32) return __ldg((const float *)r + e);
    if (KT == GTC_KV_F16) return h2f(__ldg((const unsigned short *)r + e));
    const uint8_t *b = r + (size_t)(e / 32) * 34;
    return h2f(ld16(b)) * (float)(int8_t)b[2 + e % 32];
}

/* Chunk idx (< 256) of the 32-key tile from key j0 in the VEC loads: key j0 + idx / 8, dims
 * 8 (idx % 8)..+7 of the head at element e0 of a row, read raw into k and v (ok 0: past end or
 * past hd, nothing read); tile_chunk_st puts it into the tile rows, zeros where not read. */
template <int KT> struct tile_chunk {
    kv_raw<KT> k, v;
    bool ok;
};
template <int KT>
__device__ __forceinline__ void tile_chunk_ld(tile_chunk<KT> &c, const uint8_t *kc,
                                              const uint8_t *vc, size_t rb, int ring, int e0,
                                              int hd, int j0, int end, int idx) {
    const int key = j0 + (idx >> 3), d0 = 8 * (idx & 7);
    c.ok = idx < 32 * 8 && key <= end && d0 < hd;
    if (c.ok) {
        const int row = ring > 0 ? key % ring : key;
        c.k = kv_ld<KT>(kc, rb, row, e0 + d0);
        c.v = kv_ld<KT>(vc, rb, row, e0 + d0);
    }
}
template <int KT>
__device__ __forceinline__ void tile_chunk_st(const tile_chunk<KT> &c, float (*Ks)[65],
                                              float (*Vs)[64], int idx) {
    const int jj = idx >> 3, d0 = 8 * (idx & 7);
    float kf[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    float vf[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    if (c.ok) {
        kv_cvt<KT>(c.k, kf);
        kv_cvt<KT>(c.v, vf);
    }
#pragma unroll
    for (int k = 0; k < 8; k++) {
        Ks[jj][d0 + k] = kf[k];
        Vs[jj][d0 + k] = vf[k];
    }
}

/* FUSE (GPTC_CUDA_ATTN_TILE_FUSE, one token per sequence, the VEC loads): gtc_rope_store's work
 * inside: every block applies RoPE to its q heads as it loads them, and the block whose split
 * holds the token's own key p applies RoPE to k of head g and stores k and v at row p before it
 * reads the caches (no other block reads row p: its splits end before p). */
template <int KT, int VEC, int FUSE = 0> __global__ void k_attn(gtc_attn_args a, int split) {
    const float *q = a.q;
    const int ldq = a.ld, n_head = a.n_head, n_kv = a.n_kv, hd = a.hd, ring = a.ring;
    const int window = a.window;
    const float scale = a.scale;
    float *part = a.part;
    const gtc_seqs sq = a.seqs;
    const int32_t *pos0 = a.d_pos0;
    const uint8_t *kc = (const uint8_t *)a.kc, *vc = (const uint8_t *)a.vc;
    const size_t rb = kv_row_bytes(KT, n_kv * hd);
    __shared__ float Ks[32][65];
    __shared__ float Vs[32][64];
    __shared__ float Qs[32][64];
    const int g = blockIdx.x, t = blockIdx.y, sp = blockIdx.z, nsp = gridDim.z;
    const int G = n_head / n_kv;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int h = g * G + w;
    pdl_wait();
    pdl_trigger();
    const int p = sq.pos ? sq.pos[t] : *pos0 + t;
    if (sq.pos) {
        kc = (const uint8_t *)sq.kc[t] + sq.layer_off;
        vc = (const uint8_t *)sq.vc[t] + sq.layer_off;
    }
    const int lo = window > 0 ? max(0, p - window + 1) : 0;
    const int start = lo + sp * split;
    const int end = min(p, start + split - 1);
    float m = -INFINITY, l = 0.f, o0 = 0.f, o1 = 0.f;
    const bool rope = FUSE && a.inv_freq;
    for (int d = lane; d < 64 && (!FUSE || start <= end); d += 32) { /* FUSE: no keys, no q */
        float x = 0.f;
        if (d < hd) {
            const float *qr = q + (size_t)t * ldq + h * hd;
            x = qr[d];
            if (rope)
                x = rope_elem(x, qr[d < hd / 2 ? d + hd / 2 : d - hd / 2], d, hd, p, a.inv_freq,
                              a.mscale);
        }
        Qs[w][d] = x * scale;
    }
    if (FUSE && start <= p && p <= start + split - 1) { /* RoPE of k (head g), k and v at row p */
        const int row = ring > 0 ? p % ring : p;
        const float *kr = a.k + (size_t)t * ldq + g * hd, *vr = a.v + (size_t)t * ldq + g * hd;
        uint8_t *kd = (uint8_t *)kc + (size_t)row * rb, *vd = (uint8_t *)vc + (size_t)row * rb;
        /* element e of [k | v] (2 hd); Q8_0 (hd % 32 == 0): a warp per 32-block */
        for (int e0 = (threadIdx.x >> 5) * 32; e0 < 2 * hd; e0 += blockDim.x) {
            const int e = e0 + lane;
            if (KT != GTC_KV_Q8_0 && e >= 2 * hd) continue;
            const int d = e % hd;
            float x = e < hd ? kr[d] : vr[d];
            if (e < hd && a.inv_freq)
                x = rope_elem(x, kr[d < hd / 2 ? d + hd / 2 : d - hd / 2], d, hd, p, a.inv_freq,
                              a.mscale);
            kv_put<KT>(e < hd ? kd : vd, g * hd + d, lane, x);
        }
        __syncthreads(); /* the block's own reads of row p follow (plain loads: VEC) */
    }
    /* VEC with 8 or more warps: a thread moves one 8-element chunk of K and of V per tile, and
     * the next tile's chunk is loaded into registers during this tile's math */
    const bool pf = VEC && blockDim.x >= 32 * 8;
    const int e0 = g * hd;
    tile_chunk<KT> pc = {};
    if (pf && start <= end) tile_chunk_ld(pc, kc, vc, rb, ring, e0, hd, start, end, threadIdx.x);
    for (int j0 = start; j0 <= end; j0 += 32) {
        __syncthreads();
        if (pf) {
            if (threadIdx.x < 32 * 8) tile_chunk_st(pc, Ks, Vs, threadIdx.x);
        } else if (VEC) { /* hd % 8 == 0: 8 dims of a row per load (kv_ld), 4 rows in flight */
            for (int i0 = threadIdx.x; i0 < 32 * 8; i0 += 4 * blockDim.x) {
                tile_chunk<KT> c[4] = {};
#pragma unroll
                for (int u = 0; u < 4; u++)
                    tile_chunk_ld(c[u], kc, vc, rb, ring, e0, hd, j0, end, i0 + u * blockDim.x);
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    if (i0 + u * blockDim.x >= 32 * 8) break;
                    tile_chunk_st(c[u], Ks, Vs, i0 + u * blockDim.x);
                }
            }
        } else {
            for (int idx = threadIdx.x; idx < 32 * 64; idx += blockDim.x) {
                int jj = idx / 64, d = idx % 64, key = j0 + jj;
                float kv = 0.f, vv = 0.f;
                if (key <= end && d < hd) {
                    const int row = ring > 0 ? key % ring : key;
                    kv = kv_get<KT>(kc, rb, row, g * hd + d);
                    vv = kv_get<KT>(vc, rb, row, g * hd + d);
                }
                Ks[jj][d] = kv;
                Vs[jj][d] = vv;
            }
        }
        __syncthreads();
        if (pf && j0 + 32 <= end)
            tile_chunk_ld(pc, kc, vc, rb, ring, e0, hd, j0 + 32, end, threadIdx.x);
        const int key = j0 + lane;
        float s = -INFINITY;
        if (key <= end) {
            s = 0.f;
            for (int d = 0; d < hd; d++) s += Qs[w][d] * Ks[lane][d];
        }
        float mt = warp_max(s);
        float mn = fmaxf(m, mt);
        float corr = expf(m - mn);
        float pj = key <= end ? expf(s - mn) : 0.f;
        l = l * corr + warp_sum(pj);
        o0 *= corr;
        o1 *= corr;
        const int nk = min(32, end - j0 + 1);
        for (int jj = 0; jj < nk; jj++) {
            float pp = __shfl_sync(0xffffffffu, pj, jj);
            o0 += pp * Vs[jj][lane];
            o1 += pp * Vs[jj][lane + 32];
        }
        m = mn;
    }
    float *rec = part + (((size_t)t * n_head + h) * nsp + sp) * ATTN_PS;
    if (lane == 0) {
        rec[0] = m;
        rec[1] = l;
    }
    rec[2 + lane] = o0;
    rec[2 + 32 + lane] = o1;
}

/* out[t][h][d] = v, and its int16 copy (the o-projection's input, one block of 32 per warp) */
__device__ __forceinline__ void combine_store(float *out, const gtc_act &qa, int t, int h,
                                              int n_head, int hd, int d, float v) {
    const size_t i = ((size_t)t * n_head + h) * hd + d;
    if (d < hd) out[i] = v;
    if (qa.q && hd % 32 == 0 && d < hd) store_q16(qa, i / 32, d & 31, v);
}

/* The weights of one head's n split records rec (ATTN_PS apart; read past L1: the records may
 * come from other blocks of the same kernel), by one warp: F[s] = exp(m_s - M) for the splits
 * with keys (0 for the others), M the largest m_s and the sink (*sink, or none); returns the
 * denominator sum_s l_s F[s] + exp(sink - M). */
__device__ __forceinline__ float merge_weights(const float *rec, int n, const float *sink,
                                               float *F) {
    const int lane = threadIdx.x & 31;
    const float sk = sink ? *sink : -INFINITY;
    float M = sk;
    for (int s = lane; s < n; s += 32)
        if (__ldcg(rec + s * ATTN_PS + 1) > 0.f) M = fmaxf(M, __ldcg(rec + s * ATTN_PS));
    M = warp_max(M);
    float den = 0.f;
    for (int s = lane; s < n; s += 32) {
        const float ls = __ldcg(rec + s * ATTN_PS + 1);
        const float f = ls > 0.f ? expf(__ldcg(rec + s * ATTN_PS) - M) : 0.f;
        F[s] = f;
        den += ls * f;
    }
    return warp_sum(den) + (sink ? expf(sk - M) : 0.f);
}

/* grid (n_head, T), 64 threads (thread d: dim d): every thread walks the nsp records itself */
__global__ void k_attn_combine(const float *part, int n_head, int hd, int nsp, const float *sinks,
                               float *out, gtc_act qa) {
    const int h = blockIdx.x, t = blockIdx.y, d = threadIdx.x;
    const float *rec = part + ((size_t)t * n_head + h) * nsp * ATTN_PS;
    pdl_wait();
    pdl_trigger();
    float M = sinks ? sinks[h] : -INFINITY;
    for (int s = 0; s < nsp; s++)
        if (rec[s * ATTN_PS + 1] > 0.f) M = fmaxf(M, rec[s * ATTN_PS]);
    float den = sinks ? expf(sinks[h] - M) : 0.f, num = 0.f;
    for (int s = 0; s < nsp; s++) {
        float ls = rec[s * ATTN_PS + 1];
        if (ls > 0.f) {
            float f = expf(rec[s * ATTN_PS] - M);
            den += ls * f;
            num += rec[s * ATTN_PS + 2 + d] * f;
        }
    }
    combine_store(out, qa, t, h, n_head, hd, d, num / den);
}

/* the same merge with the records spread over the lanes of warp 0 (nsp <= COMB_MAX): the
 * maximum, the weights exp(m_s - M) (into shared memory) and the denominator are found once per
 * block instead of by each of the 64 threads walking every record twice; then thread d sums its
 * dim over the records */
#define COMB_MAX 128
__global__ void k_attn_combine_par(const float *part, int n_head, int hd, int nsp,
                                   const float *sinks, float *out, gtc_act qa) {
    __shared__ float F[COMB_MAX];
    __shared__ float den_s;
    const int h = blockIdx.x, t = blockIdx.y, d = threadIdx.x, lane = d & 31;
    const float *rec = part + ((size_t)t * n_head + h) * nsp * ATTN_PS;
    pdl_wait();
    pdl_trigger();
    if (d < 32) {
        const float den = merge_weights(rec, nsp, sinks ? sinks + h : NULL, F);
        if (lane == 0) den_s = den;
    }
    __syncthreads();
    float num = 0.f;
    for (int s = 0; s < nsp; s++) {
        const float f = F[s];
        if (f != 0.f) num += f * rec[s * ATTN_PS + 2 + d];
    }
    combine_store(out, qa, t, h, n_head, hd, d, num / den_s);
}

/* ============ decode attention (few tokens): k_attn_vec ==================================
 * grid (n_kv, T, nsp), 128 threads (VW warps) per block: one KV head g of one token t over one
 * split of its keys, for all G = n_head / n_kv query heads of g at once (each K/V row is read
 * once for G heads). hd = 64. Within a warp, 8 lanes own a key (lane c owns dims 8c..8c+7, one
 * 16-byte load of an f16 row), 4 keys per step; each warp takes tiles of VT = 32 keys (scores
 * into shared memory, one online-softmax update per tile, then the V rows of the tile); the
 * block merges its warps, and its splits are merged with the sinks by the last block of (t, g)
 * to finish (a ticket counter, cnt) or by k_attn_vcomb when there is no counter array.
 * The split length follows the token's own key count (read on the device), so a captured graph
 * uses all of its splits at any depth: split = max(minsplit, ceil(n_keys / nsp) rounded up to
 * 32); active splits = ceil(n_keys / split); the others return at once.
 * fuse: the block also applies RoPE to its q heads (in registers) and the block holding the
 * token's own key (the last active split) applies RoPE to k of head g and stores k and v into
 * the caches first (single token, or one token per sequence: no block reads another token's new
 * key). */
#define VW 4
#define VT 32
#define VNS_MAX 128
#define V_TARGET_MAX 1024

__device__ __forceinline__ int vec_split(int n_keys, int nsp, int minsplit) {
    int s = (n_keys + nsp - 1) / nsp;
    s = (s + VT - 1) / VT * VT;
    return s > minsplit ? s : minsplit;
}

/* Sums v[G] over the 8 lanes of a key group (c = lane & 7); returns the sum for head
 * vec_head<G>(c): halving exchanges on lane bits 4, 2, 1 while several heads remain (G - 1
 * shuffles in all for G = 8), then plain sums over the bits left. */
template <int G> __device__ __forceinline__ int vec_head(int c) {
    return G == 8 ? c : G == 4 ? (c >> 1) & 3 : G == 2 ? (c >> 2) & 1 : 0;
}
template <int G> __device__ __forceinline__ float vec_reduce8(float *v, int c) {
    int n = G, bit = 4;
#pragma unroll
    for (int it = 0; it < 3; it++) {
        if (n > 1) {
            const int hf = n / 2;
            const bool up = (c & bit) != 0;
#pragma unroll
            for (int k = 0; k < 4; k++) {
                if (k < hf) {
                    const float send = up ? v[k] : v[k + hf];
                    const float keep = up ? v[k + hf] : v[k];
                    v[k] = keep + __shfl_xor_sync(0xffffffffu, send, bit);
                }
            }
            n = hf;
        } else {
            v[0] += __shfl_xor_sync(0xffffffffu, v[0], bit);
        }
        bit >>= 1;
    }
    return v[0];
}

template <int G> struct vec_smem {
    float S[VW][G][VT + 1]; /* + 1: the 8 heads of a key in 8 banks */
    float Wm[VW][G], Wl[VW][G];
    float Wo[VW][G][64];
    float F[G][VNS_MAX];
    float den[G];
    int last;
};

/* The key range of token t: lo..p, and its cache pointers. */
__device__ __forceinline__ int vec_pos(const gtc_attn_args &a, int t, uint8_t **kc, uint8_t **vc) {
    *kc = (uint8_t *)a.kc;
    *vc = (uint8_t *)a.vc;
    if (a.seqs.pos) {
        *kc = (uint8_t *)a.seqs.kc[t] + a.seqs.layer_off;
        *vc = (uint8_t *)a.seqs.vc[t] + a.seqs.layer_off;
        return a.seqs.pos[t];
    }
    return *a.d_pos0 + t;
}

/* out (and its int16 copy) of the G heads of (t, g) from the `active` split records. */
template <int G>
__device__ void vec_merge(const gtc_attn_args &a, const gtc_act &qa, vec_smem<G> &sm, int t, int g,
                          int nsp, int active) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, n_head = a.n_head;
    for (int h = w; h < G; h += VW) {
        const int hh = g * G + h;
        const float *rec = a.part + ((size_t)t * n_head + hh) * nsp * ATTN_PS;
        const float den = merge_weights(rec, active, a.sinks ? a.sinks + hh : NULL, sm.F[h]);
        if (lane == 0) sm.den[h] = den;
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < G * 64; idx += VW * 32) { /* warp-uniform: 32 | 64 */
        const int h = idx / 64, d = idx % 64, hh = g * G + h;
        const float *rec = a.part + ((size_t)t * n_head + hh) * nsp * ATTN_PS + 2 + d;
        float num = 0.f;
        for (int s = 0; s < active; s++) num += sm.F[h][s] * __ldcg(rec + s * ATTN_PS);
        const float v = num / sm.den[h];
        const size_t i = ((size_t)t * n_head + hh) * 64 + d;
        a.out[i] = v;
        if (qa.q) store_q16(qa, i / 32, d & 31, v);
    }
}

template <int KT, int G>
__global__ void __launch_bounds__(VW * 32)
    k_attn_vec(gtc_attn_args a, gtc_act qa, int nsp, int minsplit) {
    __shared__ vec_smem<G> sm;
    const int g = blockIdx.x, t = blockIdx.y, sp = blockIdx.z;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, sub = lane >> 3, c = lane & 7;
    const int n_head = a.n_head, ring = a.ring;
    uint8_t *kc, *vc;
    pdl_wait(); /* the position, q, k, v, the caches and cnt come from the kernels before */
    pdl_trigger();
    const int p = vec_pos(a, t, &kc, &vc);
    const int lo = a.window > 0 ? max(0, p - a.window + 1) : 0;
    const int n_keys = p - lo + 1;
    const int split = vec_split(n_keys, nsp, minsplit);
    const int active = (n_keys + split - 1) / split;
    if (sp >= active) return;
    const int start = lo + sp * split, end = min(p, start + split - 1);
    const size_t rb = kv_row_bytes(KT, a.n_kv * 64);
    const bool rope = a.fuse && a.inv_freq;

    if (a.fuse && sp == active - 1) { /* RoPE of k (head g) and the store of k and v at p */
        const int row = ring > 0 ? p % ring : p;
        const float *kr = a.k + (size_t)t * a.ld + g * 64, *vr = a.v + (size_t)t * a.ld + g * 64;
        uint8_t *kd = kc + (size_t)row * rb, *vd = vc + (size_t)row * rb;
        if (KT == GTC_KV_Q8_0) { /* warp w: block w & 1 of k (w < 2) or v */
            const int d = (w & 1) * 32 + lane;
            float x = w < 2 ? kr[d] : vr[d];
            if (w < 2 && a.inv_freq) x = rope_elem(x, kr[d ^ 32], d, 64, p, a.inv_freq, a.mscale);
            kv_put<KT>(w < 2 ? kd : vd, g * 64 + d, lane, x);
        } else {
            const int d = threadIdx.x & 63;
            float x = threadIdx.x < 64 ? kr[d] : vr[d];
            if (threadIdx.x < 64 && a.inv_freq)
                x = rope_elem(x, kr[d ^ 32], d, 64, p, a.inv_freq, a.mscale);
            kv_put<KT>(threadIdx.x < 64 ? kd : vd, g * 64 + d, 0, x);
        }
        __syncthreads(); /* the block's own reads of row p follow */
    }

    float qv[G][8];
    {
        const float *qt = a.q + (size_t)t * a.ld + (size_t)g * G * 64;
#pragma unroll
        for (int h = 0; h < G; h++)
#pragma unroll
            for (int k = 0; k < 8; k++) {
                const int d = 8 * c + k;
                float x = qt[h * 64 + d];
                if (rope) x = rope_elem(x, qt[h * 64 + (d ^ 32)], d, 64, p, a.inv_freq, a.mscale);
                qv[h][k] = x * a.scale;
            }
    }
    float o[G][8], m[G], lp[G];
#pragma unroll
    for (int h = 0; h < G; h++) {
        m[h] = -INFINITY;
        lp[h] = 0.f;
#pragma unroll
        for (int k = 0; k < 8; k++) o[h][k] = 0.f;
    }
    const int hc = vec_head<G>(c);
    const int e0 = g * 64 + 8 * c;
    /* steps (4 keys each) whose raw loads are issued together: all 8 of a tile but for f32 */
    constexpr int NB = KT == GTC_KV_F32 ? 4 : 8;
    for (int j0 = start + w * VT; j0 <= end; j0 += VW * VT) {
        kv_raw<KT> r[NB];
        /* scores of the tile's 32 keys, 4 per step */
#pragma unroll
        for (int b = 0; b < 8 / NB; b++) {
#pragma unroll
            for (int st = 0; st < NB; st++) {
                const int key = min(j0 + (b * NB + st) * 4 + sub, end);
                r[st] = kv_ld<KT>(kc, rb, ring > 0 ? key % ring : key, e0);
            }
#pragma unroll
            for (int st = 0; st < NB; st++) {
                float kf[8], v[G];
                kv_cvt<KT>(r[st], kf);
#pragma unroll
                for (int h = 0; h < G; h++) {
                    float s = 0.f;
#pragma unroll
                    for (int k = 0; k < 8; k++) s += qv[h][k] * kf[k];
                    v[h] = s;
                }
                const float s = vec_reduce8<G>(v, c);
                const int jj = (b * NB + st) * 4 + sub;
                sm.S[w][hc][jj] = j0 + jj <= end ? s : -INFINITY;
            }
        }
        /* the first V rows are on their way during the softmax */
#pragma unroll
        for (int st = 0; st < NB; st++) {
            const int key = min(j0 + st * 4 + sub, end);
            r[st] = kv_ld<KT>(vc, rb, ring > 0 ? key % ring : key, e0);
        }
        __syncwarp();
        /* online softmax, one update per tile; lane j keeps its key's share of l */
        float cr[G];
#pragma unroll
        for (int h = 0; h < G; h++) {
            const float sv = sm.S[w][h][lane];
            const float mn = fmaxf(m[h], warp_max(sv));
            cr[h] = expf(m[h] - mn);
            const float pv = expf(sv - mn);
            lp[h] = lp[h] * cr[h] + pv;
            m[h] = mn;
            sm.S[w][h][lane] = pv;
        }
        __syncwarp();
#pragma unroll
        for (int h = 0; h < G; h++)
#pragma unroll
            for (int k = 0; k < 8; k++) o[h][k] *= cr[h];
#pragma unroll
        for (int b = 0; b < 8 / NB; b++) {
            if (b > 0)
#pragma unroll
                for (int st = 0; st < NB; st++) {
                    const int key = min(j0 + (b * NB + st) * 4 + sub, end);
                    r[st] = kv_ld<KT>(vc, rb, ring > 0 ? key % ring : key, e0);
                }
#pragma unroll
            for (int st = 0; st < NB; st++) {
                const int jj = (b * NB + st) * 4 + sub;
                float vf[8];
                kv_cvt<KT>(r[st], vf);
#pragma unroll
                for (int h = 0; h < G; h++) {
                    const float pp = sm.S[w][h][jj]; /* 0 past the end */
#pragma unroll
                    for (int k = 0; k < 8; k++) o[h][k] += pp * vf[k];
                }
            }
        }
        __syncwarp();
    }
    /* the warp's o: sum over its 4 key groups; then the block's warps merged */
#pragma unroll
    for (int h = 0; h < G; h++) {
#pragma unroll
        for (int k = 0; k < 8; k++) {
            o[h][k] += __shfl_xor_sync(0xffffffffu, o[h][k], 8);
            o[h][k] += __shfl_xor_sync(0xffffffffu, o[h][k], 16);
        }
        const float l = warp_sum(lp[h]);
        if (lane == 0) {
            sm.Wm[w][h] = m[h];
            sm.Wl[w][h] = l;
        }
        if (sub == 0)
#pragma unroll
            for (int k = 0; k < 8; k++) sm.Wo[w][h][8 * c + k] = o[h][k];
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < G * 64; idx += VW * 32) {
        const int h = idx / 64, d = idx % 64, hh = g * G + h;
        float M = -INFINITY;
#pragma unroll
        for (int i = 0; i < VW; i++) M = fmaxf(M, sm.Wm[i][h]);
        float L = 0.f, O = 0.f;
#pragma unroll
        for (int i = 0; i < VW; i++) {
            const float f = sm.Wl[i][h] > 0.f ? expf(sm.Wm[i][h] - M) : 0.f;
            L += sm.Wl[i][h] * f;
            O += sm.Wo[i][h][d] * f;
        }
        if (active == 1) { /* the only split: finish here */
            const float sink = a.sinks ? a.sinks[hh] : -INFINITY;
            const float M2 = fmaxf(M, sink), f = expf(M - M2);
            const float v = O * f / (L * f + (a.sinks ? expf(sink - M2) : 0.f));
            const size_t i = ((size_t)t * n_head + hh) * 64 + d;
            a.out[i] = v;
            if (qa.q) store_q16(qa, i / 32, d & 31, v);
        } else {
            float *rec = a.part + (((size_t)t * n_head + hh) * nsp + sp) * ATTN_PS;
            if (d == 0) {
                rec[0] = M;
                rec[1] = L;
            }
            rec[2 + d] = O;
        }
    }
    if (active == 1 || !a.cnt) return;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned *cn = a.cnt + (size_t)t * a.n_kv + g;
        sm.last = atomicAdd(cn, 1u) == (unsigned)active - 1;
        if (sm.last) *cn = 0; /* every split has arrived: zero for the next call */
    }
    __syncthreads();
    if (!sm.last) return;
    __threadfence();
    vec_merge<G>(a, qa, sm, t, g, nsp, active);
}

/* the merge of the splits when there is no counter array: grid (n_kv, T), 128 threads */
template <int G>
__global__ void __launch_bounds__(VW * 32)
    k_attn_vcomb(gtc_attn_args a, gtc_act qa, int nsp, int minsplit) {
    __shared__ vec_smem<G> sm;
    const int g = blockIdx.x, t = blockIdx.y;
    uint8_t *kc, *vc;
    pdl_wait();
    pdl_trigger();
    const int p = vec_pos(a, t, &kc, &vc);
    const int lo = a.window > 0 ? max(0, p - a.window + 1) : 0;
    const int n_keys = p - lo + 1;
    const int active =
        (n_keys + vec_split(n_keys, nsp, minsplit) - 1) / vec_split(n_keys, nsp, minsplit);
    if (active > 1) vec_merge<G>(a, qa, sm, t, g, nsp, active);
}

/* keys per split: at least GPTC_CUDA_ATTN_SPLIT (default 32 for the tile kernel, 128 = one
 * tile per warp for the decode kernel) */
static int attn_split_keys(void) {
    static int v = -1;
    if (v < 0) v = gtc_env_int("GPTC_CUDA_ATTN_SPLIT", 32, 32);
    return v;
}
static int vec_min_split(void) {
    static int v = -1;
    if (v < 0) v = (gtc_env_int("GPTC_CUDA_ATTN_SPLIT", VW * VT, VT) + VT - 1) / VT * VT;
    return v;
}
/* the decode kernel serves batches of at most this many tokens (and every decode_multi step);
 * GPTC_CUDA_ATTN_VEC_MAX_T, default VEC_MAX_T_DEFAULT; 0: never (the tile kernel everywhere) */
#define VEC_MAX_T_DEFAULT 0
static gtc_knob vec_max_t_k = GTC_KNOB("GPTC_CUDA_ATTN_VEC_MAX_T", VEC_MAX_T_DEFAULT, 0);
static int vec_max_t(void) {
    return gtc_knob_get(&vec_max_t_k);
}
extern "C" void gtc_attn_set_vec_max_t(int max_t) {
    gtc_knob_set(&vec_max_t_k, max_t);
}
/* blocks the decode kernel aims for: 4 per SM (GPTC_CUDA_ATTN_BLOCKS), at most V_TARGET_MAX */
static int vec_target_blocks(void) {
    static int v = -1;
    if (v < 0) {
        v = gtc_env_int("GPTC_CUDA_ATTN_BLOCKS", 4 * gtc_sm_count(), 1);
        if (v > V_TARGET_MAX) v = V_TARGET_MAX;
    }
    return v;
}

/* The prompt (tile) kernel's K/V loads: 8 dims per load when GPTC_CUDA_ATTN_TILE_VEC=1 (and
 * hd % 8 == 0), else one element per load. The merge of split records: spread over a warp when
 * GPTC_CUDA_ATTN_COMBINE_PAR=1. Both default to 0 until measured on the GPU; the test hooks
 * gtc_attn_set_tile_vec / gtc_attn_set_combine_par override them (-1: the environment again). */
static gtc_knob tile_vec_k = GTC_KNOB("GPTC_CUDA_ATTN_TILE_VEC", 0, 0);
static gtc_knob combine_par_k = GTC_KNOB("GPTC_CUDA_ATTN_COMBINE_PAR", 0, 0);
static int tile_vec(void) {
    return gtc_knob_get(&tile_vec_k) > 0;
}
static int combine_par(void) {
    return gtc_knob_get(&combine_par_k) > 0;
}
/* GPTC_CUDA_ATTN_TILE_FUSE=1: one token per sequence (decode), the tile kernel applies RoPE and
 * stores K/V itself instead of a gtc_rope_store launch before it (off until measured) */
static gtc_knob tile_fuse_k = GTC_KNOB("GPTC_CUDA_ATTN_TILE_FUSE", 0, 0);
static unsigned long tile_fuse_launches;
static int tile_fuse(void) {
    return gtc_knob_get(&tile_fuse_k) > 0;
}
extern "C" void gtc_attn_set_tile_fuse(int on) {
    gtc_knob_set(&tile_fuse_k, on);
}
extern "C" unsigned long gtc_attn_tile_fuse_calls(void) {
    return tile_fuse_launches;
}
extern "C" void gtc_attn_set_tile_vec(int on) {
    gtc_knob_set(&tile_vec_k, on);
}
extern "C" void gtc_attn_set_combine_par(int on) {
    gtc_knob_set(&combine_par_k, on);
}

int attn_tile_nsplit(int T, int n_keys) {
    const int sk = attn_split_keys();
    int ns = T == 1 ? (n_keys + sk - 1) / sk : (n_keys + 255) / 256;
    int cap = T == 1 ? 128 : 4;
    if (ns > cap) ns = cap;
    return ns < 1 ? 1 : ns;
}

/* splits of the decode kernel for T tokens of n_kv heads and at most n_keys keys */
static int vec_nsplit(int T, int n_kv, int n_keys) {
    const int tb = vec_target_blocks();
    int ns = (tb + n_kv * T - 1) / (n_kv * T);
    const int by_keys = (n_keys + VT - 1) / VT;
    if (ns > by_keys) ns = by_keys;
    if (ns > V_TARGET_MAX / T) ns = V_TARGET_MAX / T; /* T * ns <= V_TARGET_MAX records */
    if (ns > VNS_MAX) ns = VNS_MAX;
    return ns < 1 ? 1 : ns;
}

extern "C" size_t gtc_attn_part_floats(int T, int n_head, int n_ctx) {
    /* the tile kernel's T * ns records, or the decode kernel's at most min(V_TARGET_MAX,
     * T * min(VNS_MAX, n_ctx / VT)) (non-decreasing in T: a buffer for T serves every T' <= T) */
    const size_t tile = (size_t)T * attn_tile_nsplit(T, n_ctx);
    size_t vec = (size_t)(n_ctx + VT - 1) / VT;
    if (vec > VNS_MAX) vec = VNS_MAX;
    vec *= (size_t)T;
    if (vec > V_TARGET_MAX) vec = V_TARGET_MAX;
    return (tile > vec ? tile : vec) * n_head * ATTN_PS;
}

extern "C" size_t gtc_attn_cnt_count(int T, int n_kv) {
    return (size_t)(T > 0 ? T : 1) * (n_kv > 0 ? n_kv : 1);
}

template <int KT>
static int launch_vec(const gtc_attn_args *a, const gtc_act &qa, int G, dim3 grid, int ns, int ms,
                      gtc_stream s) {
    switch (G) {
    case 1:
        return gtc_launch("attention", k_attn_vec<KT, 1>, grid, VW * 32, 0, s, *a, qa, ns, ms);
    case 2:
        return gtc_launch("attention", k_attn_vec<KT, 2>, grid, VW * 32, 0, s, *a, qa, ns, ms);
    case 4:
        return gtc_launch("attention", k_attn_vec<KT, 4>, grid, VW * 32, 0, s, *a, qa, ns, ms);
    default:
        return gtc_launch("attention", k_attn_vec<KT, 8>, grid, VW * 32, 0, s, *a, qa, ns, ms);
    }
}

static int attn_vec(const gtc_attn_args *a, gtc_stream s) {
    const int G = a->n_head / a->n_kv;
    int n_keys = a->max_pos + 1;
    if (a->window > 0 && a->window < n_keys) n_keys = a->window;
    const int ns = vec_nsplit(a->T, a->n_kv, n_keys), ms = vec_min_split();
    dim3 grid((unsigned)a->n_kv, (unsigned)a->T, (unsigned)ns);
    /* a->qout is a host pointer (a gtc_act on the caller's stack): its device pointers go to the
     * kernels by value (q = NULL: no int16 copy) */
    gtc_act qa;
    memset(&qa, 0, sizeof qa);
    if (a->qout) qa = *a->qout;
    int rc;
    switch (a->kv_type) {
    case GTC_KV_F32:
        rc = launch_vec<GTC_KV_F32>(a, qa, G, grid, ns, ms, s);
        break;
    case GTC_KV_F16:
        rc = launch_vec<GTC_KV_F16>(a, qa, G, grid, ns, ms, s);
        break;
    default:
        rc = launch_vec<GTC_KV_Q8_0>(a, qa, G, grid, ns, ms, s);
        break;
    }
    if (rc || a->cnt || ns == 1) return rc;
    const dim3 g2((unsigned)a->n_kv, (unsigned)a->T);
    const char *nm = "attention_combine";
    switch (G) {
    case 1:
        return gtc_launch(nm, k_attn_vcomb<1>, g2, VW * 32, 0, s, *a, qa, ns, ms);
    case 2:
        return gtc_launch(nm, k_attn_vcomb<2>, g2, VW * 32, 0, s, *a, qa, ns, ms);
    case 4:
        return gtc_launch(nm, k_attn_vcomb<4>, g2, VW * 32, 0, s, *a, qa, ns, ms);
    default:
        return gtc_launch(nm, k_attn_vcomb<8>, g2, VW * 32, 0, s, *a, qa, ns, ms);
    }
}

/* the tile kernel for cache type KT: with the RoPE / store inside (fuse), the 8-element loads
 * (v8) or the element loads */
template <int KT>
static int launch_tile(const gtc_attn_args *a, dim3 grid, unsigned nt, int split, int fuse, int v8,
                       gtc_stream st) {
    void (*k)(gtc_attn_args, int) = fuse ? k_attn<KT, 1, 1> : v8 ? k_attn<KT, 1> : k_attn<KT, 0>;
    return gtc_launch("attention", k, grid, nt, 0, st, *a, split);
}

extern "C" int gtc_attention(const gtc_attn_args *a, gtc_stream st) {
    if (gtc_attn_check(a, "attention")) return -1;
    if (a->T <= 0) return 0;
    const int G = a->n_head / a->n_kv;
    const int one = a->T == 1 || a->seqs.pos; /* no token reads another token's new key */
    const int vec = a->hd == 64 && (G == 1 || G == 2 || G == 4 || G == 8) && vec_max_t() > 0 &&
                    (a->T <= vec_max_t() || a->seqs.pos) && (!a->fuse || one);
    const int mma = !vec && attn_mma_wants(a);
    /* the 8-element kernels take over 100 registers with an f32 cache, about 70 with f16 /
     * q8_0: at most 16 warps a block (gpt-oss has 8) */
    const int vec_ok = a->hd % 8 == 0 && G <= 16;
    /* the tile kernel does the RoPE / store itself (its 8-element loads then) */
    const int tfuse = a->fuse && one && !vec && !mma && tile_fuse() && vec_ok &&
                      (a->kv_type != GTC_KV_Q8_0 || a->hd % 32 == 0);
    if (a->fuse && !vec && !tfuse && gtc_rope_store(a, st)) return -1;
    if (vec) return attn_vec(a, st);
    if (mma) return attn_mma(a, st);
    int n_keys = a->max_pos + 1;
    if (a->window > 0 && a->window < n_keys) n_keys = a->window;
    int ns = attn_tile_nsplit(a->T, n_keys);
    int split = (n_keys + ns - 1) / ns;
    split = (split + 31) / 32 * 32;
    dim3 grid((unsigned)a->n_kv, (unsigned)a->T, (unsigned)ns);
    const unsigned nt = 32 * (unsigned)(a->n_head / a->n_kv);
    const int v8 = tile_vec() && vec_ok;
    int rc;
    switch (a->kv_type) {
    case GTC_KV_F32:
        rc = launch_tile<GTC_KV_F32>(a, grid, nt, split, tfuse, v8, st);
        break;
    case GTC_KV_F16:
        rc = launch_tile<GTC_KV_F16>(a, grid, nt, split, tfuse, v8, st);
        break;
    default:
        rc = launch_tile<GTC_KV_Q8_0>(a, grid, nt, split, tfuse, v8, st);
        break;
    }
    if (rc == 0 && tfuse) tile_fuse_launches++;
    return rc ? rc : attn_combine(a, ns, st);
}

int attn_combine(const gtc_attn_args *a, int ns, gtc_stream st) {
    gtc_act qz;
    memset(&qz, 0, sizeof qz);
    const int hd = a->hd;
    const dim3 grid((unsigned)a->n_head, (unsigned)a->T);
    const gtc_act qa = a->qout && hd == 64 ? *a->qout : qz;
    if (combine_par() && ns <= COMB_MAX)
        return gtc_launch("attention_combine", k_attn_combine_par, grid, 64, 0, st,
                          (const float *)a->part, a->n_head, hd, ns, a->sinks, a->out, qa);
    return gtc_launch("attention_combine", k_attn_combine, grid, 64, 0, st, (const float *)a->part,
                      a->n_head, hd, ns, a->sinks, a->out, qa);
}
