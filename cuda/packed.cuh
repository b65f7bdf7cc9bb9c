/* packed.cuh — the device layout of the 4/5/6-bit block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
 * Q5_K, Q6_K) and their integer block dots (dp2a on int16 activations). Included by common.cuh
 * after its helpers (h2f, ldg4, dot4).
 *
 * Layout ("packed", made at upload by cuda/convert.cu k_repack, the same bytes as the GGUF
 * tensor, so it replaces the raw copy). With R the tensor's rows, nb = n_cols / 32 blocks of 32
 * per row and ns = n_cols / 256 super-blocks, regions one after the other:
 *   Q    [R][nb][16] low 4 bits of every element: byte i of a block = element i (bits 0-3) and
 *        element i + 16 (bits 4-7), the Q4_0 order; a lane reads a block as one 16-byte load
 *        and its 4 words give elements 4g..4g+3 (low nibbles) and 16+4g..19+4g (high), g = 0..3,
 *        which meet the natural-order int16 activations in two dp2a pairs each.
 *   H    5-bit formats (Q5_0, Q5_1, Q5_K): [R][nb] u32 of the fifth bits, spread for byte-wise
 *        insertion: byte k, bit g = element 4g + k, bit 4 + g = element 16 + 4g + k.
 *        Q6_K: [R][nb] 2 x u32 of the bits 4-5: word w, byte k, bits 2g..2g+1 = element
 *        16 w + 4g + k.
 *   then the scales: Q4_0, Q5_0: [R][nb] f16 d; Q4_1, Q5_1: [R][nb] (f16 d, f16 m);
 *        Q4_K, Q5_K: [R][ns] the 16 GGUF bytes (f16 d, f16 dmin, 12 bytes of 6-bit scales and
 *        mins); Q6_K: [R][nb] 2 int8 sub-block scales, then [R][ns] f16 d.
 * Values: Q4_0 d (q - 8), Q5_0 d (q - 16), Q4_1 / Q5_1 d q + m, Q4_K / Q5_K d sc q - dmin mn,
 * Q6_K d sc (q - 32). With the int16 activation x = s xq per block, a block's dot needs the
 * integer sums S = sum q xq and, for the offsets and mins, Z = sum xq (gtc_act.qsum). */
#ifndef GPTC_CUDA_PACKED_CUH
#define GPTC_CUDA_PACKED_CUH

#include <type_traits>

__host__ __device__ inline bool pk_type(uint32_t t) {
    return t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q4_1 || t == GGML_TYPE_Q5_0 ||
           t == GGML_TYPE_Q5_1 || t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K;
}

/* one row of a packed tensor: its quants, fifth/sixth bits, scales, super-block scales */
struct pk_row {
    const uint8_t *q, *h, *sc, *sup;
};

/* the pointers of source row srow of packed matrix w */
__device__ __forceinline__ pk_row pk_row_at(const gtc_mat &w, int64_t srow) {
    const size_t R = (size_t)w.src_rows, nb = (size_t)(w.n_cols / 32), ns = nb / 8;
    const size_t r = (size_t)srow, Q = R * nb * 16;
    const uint8_t *b = w.base;
    pk_row p;
    p.q = b + r * nb * 16;
    p.h = p.sc = p.sup = NULL;
    switch (w.type) {
    case GGML_TYPE_Q4_0:
        p.sc = b + Q + r * nb * 2;
        break;
    case GGML_TYPE_Q4_1:
        p.sc = b + Q + r * nb * 4;
        break;
    case GGML_TYPE_Q5_0:
        p.h = b + Q + r * nb * 4;
        p.sc = b + Q + R * nb * 4 + r * nb * 2;
        break;
    case GGML_TYPE_Q5_1:
        p.h = b + Q + r * nb * 4;
        p.sc = b + Q + R * nb * 4 + r * nb * 4;
        break;
    case GGML_TYPE_Q4_K:
        p.sup = b + Q + r * ns * 16;
        break;
    case GGML_TYPE_Q5_K:
        p.h = b + Q + r * nb * 4;
        p.sup = b + Q + R * nb * 4 + r * ns * 16;
        break;
    default: /* Q6_K */
        p.h = b + Q + r * nb * 8;
        p.sc = b + Q + R * nb * 8 + r * nb * 2;
        p.sup = b + Q + R * nb * 10 + r * ns * 2;
        break;
    }
    return p;
}

/* the loaded bytes of one block */
struct pk_blk {
    int4 q;
    uint2 h;
    uint32_t s;
    int4 sup;
};

template <int TY> __device__ __forceinline__ void pk_load(const pk_row &p, int b, pk_blk &k) {
    k.q = ldg4(p.q + (size_t)b * 16);
    if (TY == GGML_TYPE_Q5_0 || TY == GGML_TYPE_Q5_1 || TY == GGML_TYPE_Q5_K)
        k.h.x = __ldg((const unsigned *)p.h + b);
    if (TY == GGML_TYPE_Q6_K) k.h = __ldg((const uint2 *)p.h + b);
    if (TY == GGML_TYPE_Q4_0 || TY == GGML_TYPE_Q5_0 || TY == GGML_TYPE_Q6_K)
        k.s = __ldg((const unsigned short *)p.sc + b);
    if (TY == GGML_TYPE_Q4_1 || TY == GGML_TYPE_Q5_1) k.s = __ldg((const unsigned *)p.sc + b);
    if (TY == GGML_TYPE_Q4_K || TY == GGML_TYPE_Q5_K) k.sup = ldg4(p.sup + (size_t)(b >> 3) * 16);
    if (TY == GGML_TYPE_Q6_K) k.sup.x = __ldg((const unsigned short *)p.sup + (b >> 3));
}

/* x shifted left by n (right by -n) */
__device__ __forceinline__ uint32_t pk_shl(uint32_t x, int n) {
    return n >= 0 ? x << n : x >> -n;
}

/* Group g (0..3) of a block: the 4 int8 weights of elements 4g..4g+3 (lo) and 16+4g..19+4g
 * (hi), fifth / sixth bits inserted, Q6_K's offset 32 removed (the other offsets and the mins
 * go through Z). */
template <int TY>
__device__ __forceinline__ void pk_group(const pk_blk &k, int g, uint32_t &lo, uint32_t &hi) {
    const uint32_t w = (uint32_t)(g == 0 ? k.q.x : g == 1 ? k.q.y : g == 2 ? k.q.z : k.q.w);
    lo = w & 0x0f0f0f0fu;
    hi = (w >> 4) & 0x0f0f0f0fu;
    if (TY == GGML_TYPE_Q5_0 || TY == GGML_TYPE_Q5_1 || TY == GGML_TYPE_Q5_K) {
        lo |= pk_shl(k.h.x, 4 - g) & 0x10101010u;
        hi |= (k.h.x >> g) & 0x10101010u;
    }
    if (TY == GGML_TYPE_Q6_K) {
        lo |= pk_shl(k.h.x, 4 - 2 * g) & 0x30303030u;
        hi |= pk_shl(k.h.y, 4 - 2 * g) & 0x30303030u;
        lo = __vsub4(lo, 0x20202020u);
        hi = __vsub4(hi, 0x20202020u);
    }
}

/* 6-bit scale and min of sub-block j (0..7) from the 12 GGUF bytes in words a, b, c */
__device__ __forceinline__ void pk_scale_min(int j, uint32_t a, uint32_t b, uint32_t c, int &sc,
                                             int &m) {
    const int s8 = 8 * (j & 3);
    const uint32_t A = a >> s8, B = b >> s8, C = c >> s8;
    if (j < 4) {
        sc = (int)(A & 63);
        m = (int)(B & 63);
    } else {
        sc = (int)((C & 15) | ((A >> 6 & 3) << 4));
        m = (int)((C >> 4 & 15) | ((B >> 6 & 3) << 4));
    }
}

/* dot of block b (loaded in k) with the 32 int16 activations X[0..3] (natural order), their
 * scale xs and sum Z */
template <int TY>
__device__ __forceinline__ float pk_dot(const pk_blk &k, int b, const int4 (&X)[4], float xs,
                                        int Z) {
    int slo = 0, shi = 0;
#pragma unroll
    for (int g = 0; g < 4; g++) {
        uint32_t lo, hi;
        pk_group<TY>(k, g, lo, hi);
        const int4 &L = X[g >> 1], &H = X[2 + (g >> 1)];
        slo = dot4((int)lo, g & 1 ? L.z : L.x, g & 1 ? L.w : L.y, slo);
        shi = dot4((int)hi, g & 1 ? H.z : H.x, g & 1 ? H.w : H.y, shi);
    }
    const int S = slo + shi;
    if (TY == GGML_TYPE_Q4_0) return h2f((uint16_t)k.s) * xs * (float)(S - 8 * Z);
    if (TY == GGML_TYPE_Q5_0) return h2f((uint16_t)k.s) * xs * (float)(S - 16 * Z);
    if (TY == GGML_TYPE_Q4_1 || TY == GGML_TYPE_Q5_1)
        return xs *
               (h2f((uint16_t)(k.s & 0xffff)) * (float)S + h2f((uint16_t)(k.s >> 16)) * (float)Z);
    if (TY == GGML_TYPE_Q4_K || TY == GGML_TYPE_Q5_K) {
        int sc, m;
        pk_scale_min(b & 7, (uint32_t)k.sup.y, (uint32_t)k.sup.z, (uint32_t)k.sup.w, sc, m);
        const uint32_t dd = (uint32_t)k.sup.x;
        return xs * (h2f((uint16_t)(dd & 0xffff)) * (float)sc * (float)S -
                     h2f((uint16_t)(dd >> 16)) * (float)m * (float)Z);
    }
    /* Q6_K: scales of elements 0..15 (low nibbles) and 16..31 (high) */
    const float s0 = (float)(int8_t)(k.s & 0xff), s1 = (float)(int8_t)(k.s >> 8);
    return h2f((uint16_t)k.sup.x) * xs * (s0 * (float)slo + s1 * (float)shi);
}

/* Per-lane partial dots of R packed rows p[r] (all of type TY) with R int16 activation rows
 * (xq[r], scales xs[r], sums xz[r]); U blocks per row in flight per lane; no reduction. */
template <int TY, int R, int U>
__device__ __forceinline__ void lane_pk(const pk_row (&p)[R], const int16_t *const (&xq)[R],
                                        const float *const (&xs)[R], const int *const (&xz)[R],
                                        int nb, int lane, float (&acc)[R]) {
    for (int b0 = lane; b0 < nb; b0 += 32 * U) {
        pk_blk k[R][U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + 32 * u;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < R; r++) pk_load<TY>(p[r], b, k[r][u]);
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + 32 * u;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const int4 *x4 = (const int4 *)(xq[r] + (size_t)b * 32);
                    const int4 X[4] = {__ldg(x4), __ldg(x4 + 1), __ldg(x4 + 2), __ldg(x4 + 3)};
                    acc[r] += pk_dot<TY>(k[r][u], b, X, __ldg(xs[r] + b), __ldg(xz[r] + b));
                }
            }
        }
    }
}

/* lane_pk for the runtime type (every row of that type) */
template <int R, int U>
__device__ __forceinline__ void lane_pk_any(uint32_t type, const pk_row (&p)[R],
                                            const int16_t *const (&xq)[R],
                                            const float *const (&xs)[R], const int *const (&xz)[R],
                                            int nb, int lane, float (&acc)[R]) {
    switch (type) {
    case GGML_TYPE_Q4_0:
        lane_pk<GGML_TYPE_Q4_0, R, U>(p, xq, xs, xz, nb, lane, acc);
        break;
    case GGML_TYPE_Q4_1:
        lane_pk<GGML_TYPE_Q4_1, R, U>(p, xq, xs, xz, nb, lane, acc);
        break;
    case GGML_TYPE_Q5_0:
        lane_pk<GGML_TYPE_Q5_0, R, U>(p, xq, xs, xz, nb, lane, acc);
        break;
    case GGML_TYPE_Q5_1:
        lane_pk<GGML_TYPE_Q5_1, R, U>(p, xq, xs, xz, nb, lane, acc);
        break;
    case GGML_TYPE_Q4_K:
        lane_pk<GGML_TYPE_Q4_K, R, U>(p, xq, xs, xz, nb, lane, acc);
        break;
    case GGML_TYPE_Q5_K:
        lane_pk<GGML_TYPE_Q5_K, R, U>(p, xq, xs, xz, nb, lane, acc);
        break;
    case GGML_TYPE_Q6_K:
        lane_pk<GGML_TYPE_Q6_K, R, U>(p, xq, xs, xz, nb, lane, acc);
        break;
    default:
        break;
    }
}

/* Host: calls f(std::integral_constant<int, TY>()) for packed type TY (a kernel launcher
 * templated on the format); false for the other types. */
template <class F> static inline bool pk_switch(uint32_t type, F &&f) {
    switch (type) {
    case GGML_TYPE_Q4_0:
        f(std::integral_constant<int, GGML_TYPE_Q4_0>());
        return true;
    case GGML_TYPE_Q4_1:
        f(std::integral_constant<int, GGML_TYPE_Q4_1>());
        return true;
    case GGML_TYPE_Q5_0:
        f(std::integral_constant<int, GGML_TYPE_Q5_0>());
        return true;
    case GGML_TYPE_Q5_1:
        f(std::integral_constant<int, GGML_TYPE_Q5_1>());
        return true;
    case GGML_TYPE_Q4_K:
        f(std::integral_constant<int, GGML_TYPE_Q4_K>());
        return true;
    case GGML_TYPE_Q5_K:
        f(std::integral_constant<int, GGML_TYPE_Q5_K>());
        return true;
    case GGML_TYPE_Q6_K:
        f(std::integral_constant<int, GGML_TYPE_Q6_K>());
        return true;
    default:
        return false;
    }
}

/* 1 when w . x runs on the packed integer path */
__device__ __forceinline__ bool pk_fast(const gtc_mat &w, const gtc_act &x) {
    return w.split && pk_type(w.type) && x.q != NULL && x.qsum != NULL;
}

/* Dequantises block c of a packed row (type TY), loaded in k by pk_load, into v[32]. */
template <int TY> __device__ __forceinline__ void pk_decode(const pk_blk &k, int c, float *v) {
    float d0, d1, m = 0.f;
    if (TY == GGML_TYPE_Q4_0 || TY == GGML_TYPE_Q5_0) {
        d0 = d1 = h2f((uint16_t)k.s);
        m = -(TY == GGML_TYPE_Q4_0 ? 8.f : 16.f) * d0;
    } else if (TY == GGML_TYPE_Q4_1 || TY == GGML_TYPE_Q5_1) {
        d0 = d1 = h2f((uint16_t)(k.s & 0xffff));
        m = h2f((uint16_t)(k.s >> 16));
    } else if (TY == GGML_TYPE_Q4_K || TY == GGML_TYPE_Q5_K) {
        int sc, mn;
        pk_scale_min(c & 7, (uint32_t)k.sup.y, (uint32_t)k.sup.z, (uint32_t)k.sup.w, sc, mn);
        d0 = d1 = h2f((uint16_t)((uint32_t)k.sup.x & 0xffff)) * (float)sc;
        m = -h2f((uint16_t)((uint32_t)k.sup.x >> 16)) * (float)mn;
    } else { /* Q6_K (offset 32 already removed by pk_group) */
        const float dd = h2f((uint16_t)k.sup.x);
        d0 = dd * (float)(int8_t)(k.s & 0xff);
        d1 = dd * (float)(int8_t)(k.s >> 8);
    }
#pragma unroll
    for (int g = 0; g < 4; g++) {
        uint32_t lo, hi;
        pk_group<TY>(k, g, lo, hi);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            v[4 * g + j] = d0 * (float)(int8_t)(lo >> (8 * j)) + m;
            v[16 + 4 * g + j] = d1 * (float)(int8_t)(hi >> (8 * j)) + m;
        }
    }
}

/* Dequantises block c of packed row srow (type TY) into v[32]. */
template <int TY>
__device__ __forceinline__ void pk_dequant_t(const gtc_mat &w, int64_t srow, int c, float *v) {
    pk_blk k;
    pk_load<TY>(pk_row_at(w, srow), c, k);
    pk_decode<TY>(k, c, v);
}

/* Dequantises block c of packed row srow into v[32]. */
__device__ inline void pk_dequant(const gtc_mat &w, int64_t srow, int c, float *v) {
    switch (w.type) {
    case GGML_TYPE_Q4_0:
        pk_dequant_t<GGML_TYPE_Q4_0>(w, srow, c, v);
        break;
    case GGML_TYPE_Q4_1:
        pk_dequant_t<GGML_TYPE_Q4_1>(w, srow, c, v);
        break;
    case GGML_TYPE_Q5_0:
        pk_dequant_t<GGML_TYPE_Q5_0>(w, srow, c, v);
        break;
    case GGML_TYPE_Q5_1:
        pk_dequant_t<GGML_TYPE_Q5_1>(w, srow, c, v);
        break;
    case GGML_TYPE_Q4_K:
        pk_dequant_t<GGML_TYPE_Q4_K>(w, srow, c, v);
        break;
    case GGML_TYPE_Q5_K:
        pk_dequant_t<GGML_TYPE_Q5_K>(w, srow, c, v);
        break;
    default:
        pk_dequant_t<GGML_TYPE_Q6_K>(w, srow, c, v);
        break;
    }
}

#endif
