/* quant_dot.c — fast dot products of one packed weight row with fp32 activations.
 *
 * Decode is memory-bound over these dots, so each format is read once, block by block, straight
 * into vector registers: nibbles/int8 codes are widened to fp32 and multiplied into x with FMA,
 * and the block scale is applied once per (sub-)block. With -march=native on an x86 with
 * AVX2+FMA+F16C the intrinsic paths below are used; elsewhere the plain C path
 * quant_dot_portable() in quant.c does the work (the tests run both and compare each with a
 * double-precision reference). Also here: the SIMD row decoder behind quant_dequant_row
 * (bit-identical to the portable one), quant_dot_rows and the register-tiled quant_matmul for
 * prompt processing. Layouts: docs/quant.md. */
#include "engine/quant.h"
#include "gguf/gguf.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define QUANT_SIMD 1
#include <immintrin.h>

/* Software prefetch this many bytes ahead of the weight stream: with the widening work per
 * byte, the hardware prefetcher alone leaves DRAM latency exposed (Q4_0 2.3 -> ~5-6 GB/s). */
#ifndef QUANT_PF_DIST
#define QUANT_PF_DIST 2048
#endif
#define PF(p) _mm_prefetch((const char *)(p) + QUANT_PF_DIST, _MM_HINT_T0)

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float f16s(const uint8_t *p) {
    return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8)));
}

/* sum_{i<16} q[i]*x[i] as a vector of 8 partial sums, q = 16 int8 in a __m128i */
static inline __m256 dot16_i8(__m128i q, const float *x) {
    __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
    return _mm256_fmadd_ps(f1, _mm256_loadu_ps(x + 8), _mm256_mul_ps(f0, _mm256_loadu_ps(x)));
}

/* 32 int8 codes: elements 0..15 in lo, 16..31 in hi */
static inline __m256 dot32_i8(__m128i lo, __m128i hi, const float *x) {
    return _mm256_add_ps(dot16_i8(lo, x), dot16_i8(hi, x + 16));
}

static inline __m256 dot32_i8v(__m256i q, const float *x) {
    return dot32_i8(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1), x);
}

/* 32 int8 codes read straight from memory (the widening loads fold into vpmovsxbd m64,
 * sparing the shuffle port the lane extracts) */
static inline __m256 dot32_i8m(const uint8_t *q, const float *x) {
#define W8(k) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + (k)))))
    __m256 a =
        _mm256_fmadd_ps(W8(8), _mm256_loadu_ps(x + 8), _mm256_mul_ps(W8(0), _mm256_loadu_ps(x)));
    __m256 b = _mm256_fmadd_ps(W8(24), _mm256_loadu_ps(x + 24),
                               _mm256_mul_ps(W8(16), _mm256_loadu_ps(x + 16)));
#undef W8
    return _mm256_add_ps(a, b);
}

static inline __m256 sum32(const float *x) {
    __m256 a = _mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8));
    __m256 b = _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24));
    return _mm256_add_ps(a, b);
}

/* acc += sum_i (q[i]*sc - mn) * x[i] over 32 codes */
static inline __m256 affine32(__m256i q, __m256 sc, __m256 mn, const float *x, __m256 acc) {
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
#define V(v) _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), sc, mn)
    acc = _mm256_fmadd_ps(V(lo), _mm256_loadu_ps(x), acc);
    acc = _mm256_fmadd_ps(V(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8), acc);
    acc = _mm256_fmadd_ps(V(hi), _mm256_loadu_ps(x + 16), acc);
    acc = _mm256_fmadd_ps(V(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), acc);
#undef V
    return acc;
}

static float dot_f32(const float *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        PF(w + i);
        PF(w + i + 16);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

static float dot_f16(const uint8_t *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
#define LDH(k) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * (i + (k)))))
    for (; i + 32 <= n; i += 32) {
        PF(w + 2 * i);
        a0 = _mm256_fmadd_ps(LDH(0), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(LDH(8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(LDH(16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(LDH(24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LDH(0), _mm256_loadu_ps(x + i), a0);
#undef LDH
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += f16s(w + 2 * i) * x[i];
    return s;
}

static float dot_bf16(const uint8_t *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t i = 0;
#define LDB(k)                                                                                     \
    _mm256_castsi256_ps(_mm256_slli_epi32(                                                         \
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + 2 * (i + (k))))), 16))
    for (; i + 16 <= n; i += 16) {
        PF(w + 2 * i);
        a0 = _mm256_fmadd_ps(LDB(0), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(LDB(8), _mm256_loadu_ps(x + i + 8), a1);
    }
#undef LDB
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += quant_bf16_to_f32((uint16_t)(w[2 * i] | (w[2 * i + 1] << 8))) * x[i];
    return s;
}

static float dot_q8_0(const uint8_t *p, const float *x, int64_t nb) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, p += 68, x += 64) {
        PF(p);
        __m256 s0 = dot32_i8m(p + 2, x);
        __m256 s1 = dot32_i8m(p + 36, x + 32);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p)), s0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p + 34)), s1, acc1);
    }
    if (b < nb) {
        __m256 s0 = dot32_i8v(_mm256_loadu_si256((const __m256i *)(p + 2)), x);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p)), s0, acc0);
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

/* 4-bit codes through a 16-entry int8 table (Q4_0: code-8, MXFP4: kvalues) */
static inline void nib_lookup(const uint8_t *qs, __m128i tbl, __m128i *lo, __m128i *hi) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    *lo = _mm_shuffle_epi8(tbl, _mm_and_si128(v, m4));
    *hi = _mm_shuffle_epi8(tbl, _mm_and_si128(_mm_srli_epi16(v, 4), m4));
}

static inline float e8m0_half(uint8_t e) {
    uint32_t u = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1u) << 23;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float dot_mxfp4(const uint8_t *p, const float *x, int64_t nb) {
    const __m128i tbl = _mm_loadu_si128((const __m128i *)quant_kvalues_mxfp4);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t b = 0;
    __m128i lo, hi;
    for (; b + 2 <= nb; b += 2, p += 34, x += 64) {
        PF(p);
        nib_lookup(p + 1, tbl, &lo, &hi);
        __m256 s0 = dot32_i8(lo, hi, x);
        nib_lookup(p + 18, tbl, &lo, &hi);
        __m256 s1 = dot32_i8(lo, hi, x + 32);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(e8m0_half(p[0])), s0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(e8m0_half(p[17])), s1, acc1);
    }
    if (b < nb) {
        nib_lookup(p + 1, tbl, &lo, &hi);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(e8m0_half(p[0])), dot32_i8(lo, hi, x), acc0);
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

static float dot_q4_0(const uint8_t *p, const float *x, int64_t nb) {
    const __m128i tbl = _mm_setr_epi8(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    __m256 acc = _mm256_setzero_ps();
    __m128i lo, hi;
    for (int64_t b = 0; b < nb; b++, p += 18, x += 32) {
        PF(p);
        nib_lookup(p + 2, tbl, &lo, &hi);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p)), dot32_i8(lo, hi, x), acc);
    }
    return hsum256(acc);
}

static float dot_q4_1(const uint8_t *p, const float *x, int64_t nb) {
    const __m128i tbl = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m256 acc = _mm256_setzero_ps(), accm = acc;
    __m128i lo, hi;
    for (int64_t b = 0; b < nb; b++, p += 20, x += 32) {
        PF(p);
        nib_lookup(p + 4, tbl, &lo, &hi);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p)), dot32_i8(lo, hi, x), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p + 2)), sum32(x), accm);
    }
    return hsum256(_mm256_add_ps(acc, accm));
}

/* byte j = 0xFF where bit j of h is set (j = 0..31) */
static inline __m256i bits_to_bytes(uint32_t h) {
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                          2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* 5-bit codes of a Q5_0/Q5_1 block (qh at h, nibbles at qs), unsigned 0..31 */
static inline __m256i q5_codes(const uint8_t *h, const uint8_t *qs) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
    uint32_t hh;
    memcpy(&hh, h, 4); /* x86 is little-endian */
    return _mm256_or_si256(nib, _mm256_and_si256(bits_to_bytes(hh), _mm256_set1_epi8(16)));
}

static float dot_q5_0(const uint8_t *p, const float *x, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i k16 = _mm256_set1_epi8(16);
    for (int64_t b = 0; b < nb; b++, p += 22, x += 32) {
        PF(p);
        __m256i q = _mm256_sub_epi8(q5_codes(p + 2, p + 6), k16);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p)), dot32_i8v(q, x), acc);
    }
    return hsum256(acc);
}

static float dot_q5_1(const uint8_t *p, const float *x, int64_t nb) {
    __m256 acc = _mm256_setzero_ps(), accm = acc;
    for (int64_t b = 0; b < nb; b++, p += 24, x += 32) {
        PF(p);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p)), dot32_i8v(q5_codes(p + 4, p + 8), x), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(f16s(p + 2)), sum32(x), accm);
    }
    return hsum256(_mm256_add_ps(acc, accm));
}

/* get_scale_min_k4 for all 8 sub-blocks (docs/quant.md §4) */
static inline void k4_scales(const uint8_t *s, int sc[8], int m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 6) << 4);
        m[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
    }
}

/* Q4_K/Q5_K chunk c (64 elements) as unsigned codes: *lo = elements 64c..64c+31 (sub-block 2c),
 * *hi = 64c+32..64c+63 (sub-block 2c+1). qs = the nibbles; five: add the Q5_K high bits from
 * hb (the block's 32 qh bytes). */
static inline void qxk_codes(const uint8_t *qs, __m256i hb, int c, int five, __m256i *lo,
                             __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), k16 = _mm256_set1_epi8(16);
    __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
    __m256i l = _mm256_and_si256(v, m4), h = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    if (five) {
        __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * c))),
                b1 = _mm256_set1_epi8((char)(2 << (2 * c)));
        l = _mm256_or_si256(l,
                            _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, b0), b0), k16));
        h = _mm256_or_si256(h,
                            _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, b1), b1), k16));
    }
    *lo = l;
    *hi = h;
}

static float dot_qx_k(const uint8_t *p, const float *x, int64_t nb, int five) {
    __m256 acc = _mm256_setzero_ps(), accm = acc;
    const int bytes = five ? 176 : 144;
    for (int64_t b = 0; b < nb; b++, p += bytes, x += 256) {
        PF(p);
        PF(p + 64);
        if (five) PF(p + 128);
        const float d = f16s(p), dmin = f16s(p + 2);
        const uint8_t *qs = p + (five ? 48 : 16);
        __m256i hb = five ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_setzero_si256();
        int sc[8], mn[8];
        k4_scales(p + 4, sc, mn);
        for (int c = 0; c < 4; c++) {
            const int s0 = sc[2 * c], m0 = mn[2 * c], s1 = sc[2 * c + 1], m1 = mn[2 * c + 1];
            __m256i lo, hi;
            qxk_codes(qs, hb, c, five, &lo, &hi);
            const float *xc = x + 64 * c;
            acc = affine32(lo, _mm256_set1_ps(d * (float)s0), _mm256_set1_ps(dmin * (float)m0), xc,
                           acc);
            accm = affine32(hi, _mm256_set1_ps(d * (float)s1), _mm256_set1_ps(dmin * (float)m1),
                            xc + 32, accm);
        }
    }
    return hsum256(_mm256_add_ps(acc, accm));
}

/* Q6_K half n (elements 128n..128n+127) as 4 vectors of 32 signed codes (-32..31): q[k] holds
 * elements 128n+32k..128n+32k+31 (ql at p, qh at p + 128). */
static inline void q6k_codes(const uint8_t *p, int n, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
    __m256i L0 = _mm256_loadu_si256((const __m256i *)(p + 64 * n));
    __m256i L1 = _mm256_loadu_si256((const __m256i *)(p + 64 * n + 32));
    __m256i H = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * n));
    q[0] = _mm256_or_si256(_mm256_and_si256(L0, m4), _mm256_slli_epi16(_mm256_and_si256(H, m3), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(L1, m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 2), m3), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 4), m3), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 6), m3), 4));
    for (int k = 0; k < 4; k++) q[k] = _mm256_sub_epi8(q[k], k32);
}

static float dot_q6_k(const uint8_t *p, const float *x, int64_t nb) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b++, p += 210, x += 256) {
        PF(p);
        PF(p + 64);
        PF(p + 128);
        PF(p + 192);
        const float d = f16s(p + 208);
        const int8_t *S = (const int8_t *)(p + 192);
        for (int n = 0; n < 2; n++) {
            __m256i q[4];
            q6k_codes(p, n, q);
            const float *xn = x + 128 * n;
            for (int k = 0; k < 4; k++) {
                __m256 s0 = dot16_i8(_mm256_castsi256_si128(q[k]), xn + 32 * k);
                __m256 s1 = dot16_i8(_mm256_extracti128_si256(q[k], 1), xn + 32 * k + 16);
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)S[8 * n + 2 * k]), s0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)S[8 * n + 2 * k + 1]), s1, acc1);
            }
        }
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

/* ---- SIMD block decoders (bit-identical to the portable decoders in quant.c: same float
 * operations in the same order, no FMA contraction) ---------------------------------------- */

/* y[0..15] = (float)q[i] * d */
static inline void st16(__m128i q, __m256 d, float *y) {
    _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    _mm256_storeu_ps(
        y + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))), d));
}
/* y[0..15] = (float)q[i] * d + m (Q4_1/Q5_1) or - m (K-quants, pass sub = 1) */
static inline void st16m(__m128i q, __m256 d, __m256 m, int sub, float *y) {
    __m256 a = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
    __m256 b = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))), d);
    _mm256_storeu_ps(y, sub ? _mm256_sub_ps(a, m) : _mm256_add_ps(a, m));
    _mm256_storeu_ps(y + 8, sub ? _mm256_sub_ps(b, m) : _mm256_add_ps(b, m));
}
static inline void st32(__m256i q, __m256 d, float *y) {
    st16(_mm256_castsi256_si128(q), d, y);
    st16(_mm256_extracti128_si256(q, 1), d, y + 16);
}
static inline void st32m(__m256i q, __m256 d, __m256 m, int sub, float *y) {
    st16m(_mm256_castsi256_si128(q), d, m, sub, y);
    st16m(_mm256_extracti128_si256(q, 1), d, m, sub, y + 16);
}

/* decodes nb blocks of a block type into y; returns 0 if the type has no SIMD decoder */
static int dequant_simd(uint32_t type, const uint8_t *p, float *y, int64_t nb) {
    __m128i lo, hi;
    switch (type) {
    case GGML_TYPE_Q8_0:
        for (int64_t b = 0; b < nb; b++, p += 34, y += 32)
            st32(_mm256_loadu_si256((const __m256i *)(p + 2)), _mm256_set1_ps(f16s(p)), y);
        return 1;
    case GGML_TYPE_MXFP4: {
        const __m128i tbl = _mm_loadu_si128((const __m128i *)quant_kvalues_mxfp4);
        for (int64_t b = 0; b < nb; b++, p += 17, y += 32) {
            nib_lookup(p + 1, tbl, &lo, &hi);
            __m256 d = _mm256_set1_ps(e8m0_half(p[0]));
            st16(lo, d, y);
            st16(hi, d, y + 16);
        }
        return 1;
    }
    case GGML_TYPE_Q4_0: {
        const __m128i tbl = _mm_setr_epi8(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
        for (int64_t b = 0; b < nb; b++, p += 18, y += 32) {
            nib_lookup(p + 2, tbl, &lo, &hi);
            __m256 d = _mm256_set1_ps(f16s(p));
            st16(lo, d, y);
            st16(hi, d, y + 16);
        }
        return 1;
    }
    case GGML_TYPE_Q4_1: {
        const __m128i tbl = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int64_t b = 0; b < nb; b++, p += 20, y += 32) {
            nib_lookup(p + 4, tbl, &lo, &hi);
            __m256 d = _mm256_set1_ps(f16s(p)), m = _mm256_set1_ps(f16s(p + 2));
            st16m(lo, d, m, 0, y);
            st16m(hi, d, m, 0, y + 16);
        }
        return 1;
    }
    case GGML_TYPE_Q5_0: {
        const __m256i k16 = _mm256_set1_epi8(16);
        for (int64_t b = 0; b < nb; b++, p += 22, y += 32)
            st32(_mm256_sub_epi8(q5_codes(p + 2, p + 6), k16), _mm256_set1_ps(f16s(p)), y);
        return 1;
    }
    case GGML_TYPE_Q5_1:
        for (int64_t b = 0; b < nb; b++, p += 24, y += 32)
            st32m(q5_codes(p + 4, p + 8), _mm256_set1_ps(f16s(p)), _mm256_set1_ps(f16s(p + 2)), 0,
                  y);
        return 1;
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K: {
        const int five = type == GGML_TYPE_Q5_K, bytes = five ? 176 : 144;
        for (int64_t b = 0; b < nb; b++, p += bytes, y += 256) {
            const float d = f16s(p), dmin = f16s(p + 2);
            const uint8_t *qs = p + (five ? 48 : 16);
            __m256i hb =
                five ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_setzero_si256();
            int sc[8], mn[8];
            k4_scales(p + 4, sc, mn);
            for (int c = 0; c < 4; c++) {
                __m256i ql, qh;
                qxk_codes(qs, hb, c, five, &ql, &qh);
                st32m(ql, _mm256_set1_ps(d * (float)sc[2 * c]),
                      _mm256_set1_ps(dmin * (float)mn[2 * c]), 1, y + 64 * c);
                st32m(qh, _mm256_set1_ps(d * (float)sc[2 * c + 1]),
                      _mm256_set1_ps(dmin * (float)mn[2 * c + 1]), 1, y + 64 * c + 32);
            }
        }
        return 1;
    }
    case GGML_TYPE_Q6_K: {
        for (int64_t b = 0; b < nb; b++, p += 210, y += 256) {
            const float d = f16s(p + 208);
            const int8_t *S = (const int8_t *)(p + 192);
            for (int n = 0; n < 2; n++) {
                __m256i q[4];
                q6k_codes(p, n, q);
                float *yn = y + 128 * n;
                for (int k = 0; k < 4; k++) {
                    st16(_mm256_castsi256_si128(q[k]), _mm256_set1_ps(d * (float)S[8 * n + 2 * k]),
                         yn + 32 * k);
                    st16(_mm256_extracti128_si256(q[k], 1),
                         _mm256_set1_ps(d * (float)S[8 * n + 2 * k + 1]), yn + 32 * k + 16);
                }
            }
        }
        return 1;
    }
    default:
        return 0;
    }
}
#endif /* QUANT_SIMD */

void quant_dequant_row(uint32_t type, const void *src, float *dst, int64_t n) {
#ifdef QUANT_SIMD
    const int be = quant_block_elems(type);
    if (be > 1 && n > 0 && n % be == 0 && dequant_simd(type, (const uint8_t *)src, dst, n / be))
        return;
    if (be == 1 && type == GGML_TYPE_F16 && n > 0) { /* F16 via F16C (exact) */
        const uint8_t *w = (const uint8_t *)src;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i,
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i))));
        for (; i < n; i++) dst[i] = f16s(w + 2 * i);
        return;
    }
#endif
    quant_dequant_row_portable(type, src, dst, n);
}

float quant_dot(uint32_t type, const void *row, const float *x, int64_t n) {
#ifdef QUANT_SIMD
    const int be = quant_block_elems(type);
    if (be > 0 && n > 0 && n % be == 0) {
        const uint8_t *p = (const uint8_t *)row;
        const int64_t nb = n / be;
        switch (type) {
        case GGML_TYPE_F32:
            return dot_f32((const float *)row, x, n);
        case GGML_TYPE_F16:
            return dot_f16(p, x, n);
        case GGML_TYPE_BF16:
            return dot_bf16(p, x, n);
        case GGML_TYPE_Q4_0:
            return dot_q4_0(p, x, nb);
        case GGML_TYPE_Q4_1:
            return dot_q4_1(p, x, nb);
        case GGML_TYPE_Q5_0:
            return dot_q5_0(p, x, nb);
        case GGML_TYPE_Q5_1:
            return dot_q5_1(p, x, nb);
        case GGML_TYPE_Q8_0:
            return dot_q8_0(p, x, nb);
        case GGML_TYPE_Q4_K:
            return dot_qx_k(p, x, nb, 0);
        case GGML_TYPE_Q5_K:
            return dot_qx_k(p, x, nb, 1);
        case GGML_TYPE_Q6_K:
            return dot_q6_k(p, x, nb);
        case GGML_TYPE_MXFP4:
            return dot_mxfp4(p, x, nb);
        default:
            break;
        }
    }
#endif
    return quant_dot_portable(type, row, x, n);
}

/* fp32 dot of a decoded chunk (n a multiple of 8 except possibly for 1-element types' tail) */
static float dot_plain(const float *w, const float *x, int64_t n) {
#ifdef QUANT_SIMD
    return dot_f32(w, x, n);
#else
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += w[i + k] * x[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
#endif
}

/* four dots sharing w: each w vector is loaded once for four activation rows */
static void dot_plain4(const float *w, const float *x0, size_t xs, int64_t n, float r[4]) {
    const float *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs;
    int64_t i = 0;
#ifdef QUANT_SIMD
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8);
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + i), a0);
        a1 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + i), a1);
        a2 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x2 + i), a2);
        a3 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x3 + i), a3);
        b0 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x0 + i + 8), b0);
        b1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x1 + i + 8), b1);
        b2 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x2 + i + 8), b2);
        b3 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x3 + i + 8), b3);
    }
    r[0] = hsum256(_mm256_add_ps(a0, b0));
    r[1] = hsum256(_mm256_add_ps(a1, b1));
    r[2] = hsum256(_mm256_add_ps(a2, b2));
    r[3] = hsum256(_mm256_add_ps(a3, b3));
#else
    float acc[4][8] = {{0}};
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            acc[0][k] += w[i + k] * x0[i + k];
            acc[1][k] += w[i + k] * x1[i + k];
            acc[2][k] += w[i + k] * x2[i + k];
            acc[3][k] += w[i + k] * x3[i + k];
        }
    for (int t = 0; t < 4; t++) {
        const float *a = acc[t];
        r[t] = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    }
#endif
    for (; i < n; i++) {
        r[0] += w[i] * x0[i];
        r[1] += w[i] * x1[i];
        r[2] += w[i] * x2[i];
        r[3] += w[i] * x3[i];
    }
}

/* out[t] += dot(w, x_t) for all T rows, four at a time */
static void dots_chunk(const float *w, const float *x, size_t xs, int64_t len, int T, float *out,
                       size_t os) {
    int t = 0;
    for (; t + 4 <= T; t += 4) {
        float r[4];
        dot_plain4(w, x + (size_t)t * xs, xs, len, r);
        for (int k = 0; k < 4; k++) out[(size_t)(t + k) * os] += r[k];
    }
    for (; t < T; t++) out[(size_t)t * os] += dot_plain(w, x + (size_t)t * xs, len);
}

enum { ROWS_CHUNK = 2048 }; /* elements decoded at a time (multiple of every block size) */

void quant_dot_rows(uint32_t type, const void *row, const float *x, int64_t n, int T,
                    size_t x_stride, float *out, size_t out_stride) {
    const size_t rs = quant_row_size(type, n);
    if (T <= 0) return;
    if (!quant_supported(type) || (rs == 0 && n != 0)) {
        for (int t = 0; t < T; t++) out[(size_t)t * out_stride] = NAN;
        return;
    }
    for (int t = 0; t < T; t++) out[(size_t)t * out_stride] = 0.0f;
    if (type == GGML_TYPE_F32) { /* F32: nothing to decode */
        dots_chunk((const float *)row, x, x_stride, n, T, out, out_stride);
        return;
    }
    const size_t bytes_per_elem_num = rs / (size_t)n; /* exact only for 1-element types */
    const int be = quant_block_elems(type);
    float buf[ROWS_CHUNK];
    for (int64_t i = 0; i < n; i += ROWS_CHUNK) {
        const int64_t len = n - i < ROWS_CHUNK ? n - i : ROWS_CHUNK;
        const size_t off = be == 1 ? (size_t)i * bytes_per_elem_num : quant_row_size(type, i);
        quant_dequant_row(type, (const uint8_t *)row + off, buf, len);
        dots_chunk(buf, x + i, x_stride, len, T, out, out_stride);
    }
}

/* ---- quant_matmul: register-tiled rows x tokens (prompt processing) -------------------------
 * A panel of MM_RB decoded rows (MM_K elements each, 16 KB) is multiplied with the activation
 * rows in tiles of MM_RB rows x MM_TB tokens: each x vector load feeds MM_RB FMAs and each w
 * load MM_TB FMAs, so x streams from L2 once per MM_RB weight rows instead of once per row. */
enum { MM_RB = 4, MM_TB = 3, MM_K = 1024 };

/* res[k][j] = dot(w_k, x_j) over len elements, k < 4 (rows at stride MM_K), j < nt (nt = 1..3) */
static void tile_4xn(const float *w, const float *x, size_t xs, int64_t len, int nt,
                     float res[MM_RB][MM_TB]) {
    const float *x0 = x, *x1 = nt > 1 ? x + xs : x, *x2 = nt > 2 ? x + 2 * xs : x;
    int64_t i = 0;
#ifdef QUANT_SIMD
    /* 12 named accumulators (an array would live in memory at -O2) */
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    for (; i + 8 <= len; i += 8) {
        const __m256 xa = _mm256_loadu_ps(x0 + i), xb = _mm256_loadu_ps(x1 + i),
                     xc = _mm256_loadu_ps(x2 + i);
        __m256 wv = _mm256_loadu_ps(w + i);
        a00 = _mm256_fmadd_ps(wv, xa, a00);
        a01 = _mm256_fmadd_ps(wv, xb, a01);
        a02 = _mm256_fmadd_ps(wv, xc, a02);
        wv = _mm256_loadu_ps(w + MM_K + i);
        a10 = _mm256_fmadd_ps(wv, xa, a10);
        a11 = _mm256_fmadd_ps(wv, xb, a11);
        a12 = _mm256_fmadd_ps(wv, xc, a12);
        wv = _mm256_loadu_ps(w + 2 * MM_K + i);
        a20 = _mm256_fmadd_ps(wv, xa, a20);
        a21 = _mm256_fmadd_ps(wv, xb, a21);
        a22 = _mm256_fmadd_ps(wv, xc, a22);
        wv = _mm256_loadu_ps(w + 3 * MM_K + i);
        a30 = _mm256_fmadd_ps(wv, xa, a30);
        a31 = _mm256_fmadd_ps(wv, xb, a31);
        a32 = _mm256_fmadd_ps(wv, xc, a32);
    }
    res[0][0] = hsum256(a00), res[0][1] = hsum256(a01), res[0][2] = hsum256(a02);
    res[1][0] = hsum256(a10), res[1][1] = hsum256(a11), res[1][2] = hsum256(a12);
    res[2][0] = hsum256(a20), res[2][1] = hsum256(a21), res[2][2] = hsum256(a22);
    res[3][0] = hsum256(a30), res[3][1] = hsum256(a31), res[3][2] = hsum256(a32);
#else
    float a[MM_RB][MM_TB][8] = {{{0}}};
    for (; i + 8 <= len; i += 8)
        for (int k = 0; k < MM_RB; k++)
            for (int l = 0; l < 8; l++) {
                const float wv = w[k * MM_K + i + l];
                a[k][0][l] += wv * x0[i + l];
                a[k][1][l] += wv * x1[i + l];
                a[k][2][l] += wv * x2[i + l];
            }
    for (int k = 0; k < MM_RB; k++)
        for (int j = 0; j < MM_TB; j++) {
            const float *v = a[k][j];
            res[k][j] = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
        }
#endif
    for (; i < len; i++)
        for (int k = 0; k < MM_RB; k++) {
            res[k][0] += w[k * MM_K + i] * x0[i];
            res[k][1] += w[k * MM_K + i] * x1[i];
            res[k][2] += w[k * MM_K + i] * x2[i];
        }
}

void quant_matmul(uint32_t type, const void *w, size_t row_stride, int64_t R, const float *x,
                  int64_t n, int T, size_t x_stride, float *out, size_t out_stride) {
    if (R <= 0 || T <= 0) return;
    const size_t rs = quant_row_size(type, n);
    const int bad = !quant_supported(type) || (rs == 0 && n != 0);
    for (int t = 0; t < T; t++)
        for (int64_t r = 0; r < R; r++) out[(size_t)t * out_stride + (size_t)r] = bad ? NAN : 0.0f;
    if (bad || n == 0) return;
    const uint8_t *wb = (const uint8_t *)w;
    float panel[MM_RB * MM_K];
    int64_t r = 0;
    for (; r + MM_RB <= R; r += MM_RB) {
        for (int64_t i = 0; i < n; i += MM_K) {
            const int64_t len = n - i < MM_K ? n - i : MM_K;
            const size_t off = quant_row_size(type, i); /* i is a multiple of every block */
            for (int k = 0; k < MM_RB; k++)
                quant_dequant_row(type, wb + (size_t)(r + k) * row_stride + off, panel + k * MM_K,
                                  len);
            for (int t = 0; t < T; t += MM_TB) {
                const int nt = T - t < MM_TB ? T - t : MM_TB;
                float res[MM_RB][MM_TB];
                tile_4xn(panel, x + (size_t)t * x_stride + i, x_stride, len, nt, res);
                for (int j = 0; j < nt; j++)
                    for (int k = 0; k < MM_RB; k++)
                        out[(size_t)(t + j) * out_stride + (size_t)(r + k)] += res[k][j];
            }
        }
    }
    for (; r < R; r++) /* leftover rows */
        quant_dot_rows(type, wb + (size_t)r * row_stride, x, n, T, x_stride, out + r, out_stride);
}
