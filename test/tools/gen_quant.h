/* gen_quant.h — gen-model's own reference quantisers for the 12 weight formats (layouts:
 * docs/quant.md). Deliberately independent of engine/quant.c: the golden records in
 * test/data/golden/ pin the exact bytes of the generated models, so the generator must not change
 * when the engine's quantiser is tuned. Plain round-to-nearest, no search; deterministic (only
 * IEEE arithmetic, frexpf and integer ops, no libm transcendental).
 *
 * gq_row_size(type, n) and gq_quantize_row(type, src, dst, n) (returns bytes written, 0 when the
 * type is unknown or n is not a multiple of its block). */
#ifndef GPTC_GEN_QUANT_H
#define GPTC_GEN_QUANT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

enum {
    GQ_F32 = 0,
    GQ_F16 = 1,
    GQ_Q4_0 = 2,
    GQ_Q4_1 = 3,
    GQ_Q5_0 = 6,
    GQ_Q5_1 = 7,
    GQ_Q8_0 = 8,
    GQ_Q4_K = 12,
    GQ_Q5_K = 13,
    GQ_Q6_K = 14,
    GQ_BF16 = 30,
    GQ_MXFP4 = 39
};

static inline uint32_t gq_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float gq_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE binary16, round to nearest even (normals, subnormals, overflow to inf). */
static inline uint16_t gq_f16(float f) {
    uint32_t x = gq_bits(f), sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {                                   /* below 2^-14: subnormal */
        /* value / 2^-24, rounded to nearest even, as an integer */
        float v = gq_float(ax) * 16777216.0f; /* exact: scaling by a power of two */
        uint32_t i = (uint32_t)v;
        float rem = v - (float)i;
        if (rem > 0.5f || (rem == 0.5f && (i & 1))) i++;
        return (uint16_t)(sign | i);
    }
    uint32_t e = (ax >> 23) - 127 + 15, mant = ax & 0x7fffffu;
    uint32_t h = (e << 10) | (mant >> 13), rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++; /* may carry into the exponent */
    return (uint16_t)(sign | h);
}
static inline float gq_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) {
        float v = (float)m * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (e == 31) return gq_float(sign | 0x7f800000u | (m << 13));
    return gq_float(sign | ((e - 15 + 127) << 23) | (m << 13));
}
static inline uint16_t gq_bf16(float f) {
    uint32_t x = gq_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}
static inline void gq_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline int gq_round(float x) {
    return (int)lrintf(x);
} /* nearest, ties to even */
static inline int gq_clamp(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static inline int gq_block(uint32_t t) {
    switch (t) {
    case GQ_F32:
    case GQ_F16:
    case GQ_BF16:
        return 1;
    case GQ_Q4_0:
    case GQ_Q4_1:
    case GQ_Q5_0:
    case GQ_Q5_1:
    case GQ_Q8_0:
    case GQ_MXFP4:
        return 32;
    case GQ_Q4_K:
    case GQ_Q5_K:
    case GQ_Q6_K:
        return 256;
    default:
        return 0;
    }
}
static inline int gq_block_bytes(uint32_t t) {
    switch (t) {
    case GQ_F32:
        return 4;
    case GQ_F16:
    case GQ_BF16:
        return 2;
    case GQ_Q4_0:
        return 18;
    case GQ_Q4_1:
        return 20;
    case GQ_Q5_0:
        return 22;
    case GQ_Q5_1:
        return 24;
    case GQ_Q8_0:
        return 34;
    case GQ_MXFP4:
        return 17;
    case GQ_Q4_K:
        return 144;
    case GQ_Q5_K:
        return 176;
    case GQ_Q6_K:
        return 210;
    default:
        return 0;
    }
}
static inline size_t gq_row_size(uint32_t t, int64_t n) {
    int b = gq_block(t);
    if (!b || n <= 0 || n % b) return 0;
    return (size_t)(n / b) * (size_t)gq_block_bytes(t);
}

/* ---- 32-element blocks ---- */
static void gq_q8_0(const float *x, uint8_t *b) {
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    uint16_t dh = gq_f16(amax / 127.0f);
    float d = gq_f16_to_f32(dh), id = d > 0 ? 1.0f / d : 0;
    gq_put16(b, dh);
    for (int i = 0; i < 32; i++)
        b[2 + i] = (uint8_t)(int8_t)gq_clamp(gq_round(x[i] * id), -127, 127);
}

/* symmetric 4/5-bit: d = (signed extreme) / -2^(bits-1); q = round(x/d) + 2^(bits-1) */
static void gq_sym(const float *x, int bits, float *d_out, int *q) {
    float mx = 0;
    for (int i = 0; i < 32; i++)
        if (fabsf(x[i]) > fabsf(mx)) mx = x[i];
    const int half = 1 << (bits - 1), top = (1 << bits) - 1;
    float d = gq_f16_to_f32(gq_f16(mx / (float)-half)), id = d != 0 ? 1.0f / d : 0;
    for (int i = 0; i < 32; i++) q[i] = gq_clamp(gq_round(x[i] * id) + half, 0, top);
    *d_out = d;
}
/* asymmetric 4/5-bit: x = q*d + m */
static void gq_asym(const float *x, int bits, float *d_out, float *m_out, int *q) {
    float mn = x[0], mx = x[0];
    for (int i = 1; i < 32; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
    }
    const int top = (1 << bits) - 1;
    float d = gq_f16_to_f32(gq_f16((mx - mn) / (float)top)), m = gq_f16_to_f32(gq_f16(mn));
    float id = d != 0 ? 1.0f / d : 0;
    for (int i = 0; i < 32; i++) q[i] = gq_clamp(gq_round((x[i] - m) * id), 0, top);
    *d_out = d;
    *m_out = m;
}
static void gq_pack4(const int *q, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
}
static uint32_t gq_high_bits(const int *q) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    return h;
}
static void gq_q4_0(const float *x, uint8_t *b) {
    int q[32];
    float d;
    gq_sym(x, 4, &d, q);
    gq_put16(b, gq_f16(d));
    gq_pack4(q, b + 2);
}
static void gq_q4_1(const float *x, uint8_t *b) {
    int q[32];
    float d, m;
    gq_asym(x, 4, &d, &m, q);
    gq_put16(b, gq_f16(d));
    gq_put16(b + 2, gq_f16(m));
    gq_pack4(q, b + 4);
}
static void gq_q5_0(const float *x, uint8_t *b) {
    int q[32];
    float d;
    gq_sym(x, 5, &d, q);
    gq_put16(b, gq_f16(d));
    uint32_t h = gq_high_bits(q);
    for (int k = 0; k < 4; k++) b[2 + k] = (uint8_t)(h >> (8 * k));
    gq_pack4(q, b + 6);
}
static void gq_q5_1(const float *x, uint8_t *b) {
    int q[32];
    float d, m;
    gq_asym(x, 5, &d, &m, q);
    gq_put16(b, gq_f16(d));
    gq_put16(b + 2, gq_f16(m));
    uint32_t h = gq_high_bits(q);
    for (int k = 0; k < 4; k++) b[4 + k] = (uint8_t)(h >> (8 * k));
    gq_pack4(q, b + 8);
}
/* MXFP4: E8M0 scale e with 2^(e-128) = half scale, codes = nearest of the doubled E2M1 table */
static void gq_mxfp4(const float *x, uint8_t *b) {
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    int e = 0;
    if (amax > 0) {
        int ex;
        frexpf(amax, &ex);      /* amax = f * 2^ex, f in [0.5, 1): floor(log2 amax) = ex-1 */
        e = (ex - 1) - 2 + 127; /* largest magnitude lands in [4, 8) x half-scale ... 12 */
        e = gq_clamp(e, 1, 254);
    }
    float d = ldexpf(1.0f, e - 128);
    b[0] = (uint8_t)e;
    /* nearest magnitude of {0,1,2,3,4,6,8,12} (d is a power of two: |x|/d is exact); ties to
     * the smaller magnitude; the sign bit only for non-zero codes */
    const float id = 1.0f / d;
    int q[32];
    for (int i = 0; i < 32; i++) {
        float a = fabsf(x[i]) * id;
        int k = (a > 0.5f) + (a > 1.5f) + (a > 2.5f) + (a > 3.5f) + (a > 5.0f) + (a > 7.0f) +
                (a > 10.0f);
        q[i] = k && x[i] < 0 ? k + 8 : k;
    }

    gq_pack4(q, b + 1);
}

/* ---- K-quants (256-element super-blocks) ---- */
/* 8 sub-blocks of 32, x = d*sc*q - dmin*m with q in [0, 2^bits), 6-bit sc and m. */
static void gq_kquant_scales(const float *x, int bits, uint16_t *dh, uint16_t *dminh, int sc[8],
                             int mm[8], int q[256]) {
    const int top = (1 << bits) - 1;
    float s[8], mn[8], smax = 0, mnmax = 0;
    for (int j = 0; j < 8; j++) {
        float lo = 0, hi = 0; /* include 0 so the offset is non-negative */
        for (int i = 0; i < 32; i++) {
            lo = fminf(lo, x[32 * j + i]);
            hi = fmaxf(hi, x[32 * j + i]);
        }
        mn[j] = -lo;
        s[j] = (hi - lo) / (float)top;
        smax = fmaxf(smax, s[j]);
        mnmax = fmaxf(mnmax, mn[j]);
    }
    *dh = gq_f16(smax / 63.0f);
    *dminh = gq_f16(mnmax / 63.0f);
    float d = gq_f16_to_f32(*dh), dmin = gq_f16_to_f32(*dminh);
    for (int j = 0; j < 8; j++) {
        sc[j] = d > 0 ? gq_clamp(gq_round(s[j] / d), 0, 63) : 0;
        mm[j] = dmin > 0 ? gq_clamp(gq_round(mn[j] / dmin), 0, 63) : 0;
        float dj = d * (float)sc[j], mj = dmin * (float)mm[j];
        for (int i = 0; i < 32; i++)
            q[32 * j + i] = dj > 0 ? gq_clamp(gq_round((x[32 * j + i] + mj) / dj), 0, top) : 0;
    }
}
static void gq_pack_scales(const int sc[8], const int m[8], uint8_t s[12]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}
static void gq_q4_k(const float *x, uint8_t *b) {
    uint16_t dh, dminh;
    int sc[8], m[8], q[256];
    gq_kquant_scales(x, 4, &dh, &dminh, sc, m, q);
    gq_put16(b, dh);
    gq_put16(b + 2, dminh);
    gq_pack_scales(sc, m, b + 4);
    uint8_t *qs = b + 16;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
}
static void gq_q5_k(const float *x, uint8_t *b) {
    uint16_t dh, dminh;
    int sc[8], m[8], q[256];
    gq_kquant_scales(x, 5, &dh, &dminh, sc, m, q);
    gq_put16(b, dh);
    gq_put16(b + 2, dminh);
    gq_pack_scales(sc, m, b + 4);
    uint8_t *qh = b + 16, *qs = b + 48;
    memset(qh, 0, 32);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int a = q[64 * c + l], z = q[64 * c + 32 + l];
            qs[32 * c + l] = (uint8_t)((a & 15) | ((z & 15) << 4));
            qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((z >> 4) << (2 * c + 1)));
        }
}
/* Q6_K: 16 sub-blocks of 16, x = d * sc * (q - 32), int8 sc, q in [0, 63] */
static void gq_q6_k(const float *x, uint8_t *b) {
    float s[16], smax = 0;
    for (int j = 0; j < 16; j++) {
        float a = 0;
        for (int i = 0; i < 16; i++) a = fmaxf(a, fabsf(x[16 * j + i]));
        s[j] = a / 31.0f;
        smax = fmaxf(smax, s[j]);
    }
    uint16_t dh = gq_f16(smax / 127.0f);
    float d = gq_f16_to_f32(dh);
    int sc[16], q[256];
    for (int j = 0; j < 16; j++) {
        sc[j] = d > 0 ? gq_clamp(gq_round(s[j] / d), 0, 127) : 0;
        float dj = d * (float)sc[j];
        for (int i = 0; i < 16; i++)
            q[16 * j + i] = dj > 0 ? gq_clamp(gq_round(x[16 * j + i] / dj), -32, 31) + 32 : 32;
    }
    uint8_t *ql = b, *qh = b + 128;
    memset(qh, 0, 64);
    for (int n = 0; n < 2; n++) {
        uint8_t *L = ql + 64 * n, *H = qh + 32 * n;
        const int *Q = q + 128 * n;
        for (int l = 0; l < 32; l++) {
            L[l] = (uint8_t)((Q[l] & 15) | ((Q[l + 64] & 15) << 4));
            L[l + 32] = (uint8_t)((Q[l + 32] & 15) | ((Q[l + 96] & 15) << 4));
            H[l] = (uint8_t)((Q[l] >> 4) | ((Q[l + 32] >> 4) << 2) | ((Q[l + 64] >> 4) << 4) |
                             ((Q[l + 96] >> 4) << 6));
        }
    }
    for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)sc[j];
    gq_put16(b + 208, dh);
}

static size_t gq_quantize_row(uint32_t t, const float *x, void *dst, int64_t n) {
    size_t bytes = gq_row_size(t, n);
    if (!bytes) return 0;
    uint8_t *o = dst;
    const int be = gq_block(t), bb = gq_block_bytes(t);
    switch (t) {
    case GQ_F32:
        memcpy(o, x, (size_t)n * 4);
        return bytes;
    case GQ_F16:
        for (int64_t i = 0; i < n; i++) gq_put16(o + 2 * i, gq_f16(x[i]));
        return bytes;
    case GQ_BF16:
        for (int64_t i = 0; i < n; i++) gq_put16(o + 2 * i, gq_bf16(x[i]));
        return bytes;
    default:
        break;
    }
    for (int64_t k = 0; k < n / be; k++) {
        const float *xb = x + k * be;
        uint8_t *b = o + k * bb;
        switch (t) {
        case GQ_Q8_0:
            gq_q8_0(xb, b);
            break;
        case GQ_Q4_0:
            gq_q4_0(xb, b);
            break;
        case GQ_Q4_1:
            gq_q4_1(xb, b);
            break;
        case GQ_Q5_0:
            gq_q5_0(xb, b);
            break;
        case GQ_Q5_1:
            gq_q5_1(xb, b);
            break;
        case GQ_MXFP4:
            gq_mxfp4(xb, b);
            break;
        case GQ_Q4_K:
            gq_q4_k(xb, b);
            break;
        case GQ_Q5_K:
            gq_q5_k(xb, b);
            break;
        case GQ_Q6_K:
            gq_q6_k(xb, b);
            break;
        default:
            return 0;
        }
    }
    return bytes;
}

#endif
