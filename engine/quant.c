/* quant.c — ggml weight formats on the CPU: scalar conversions, block decoders, reference
 * quantisers and the portable (plain C) dot products. The SIMD fast paths live in
 * quant_dot.c. Layouts: docs/quant.md.
 *
 * Every block is read byte by byte (blocks of 17/18/22/34 bytes are not aligned), multi-byte
 * fields are little-endian. */
#include "engine/quant.h"
#include "gguf/gguf.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- type table ---------------------------------------------------------------------------- */

/* The computed types of the shared table (gguf/ggml_types.h). */
static const ggml_type_info *qtype_get(uint32_t type) {
    return ggml_type_computed(type) ? ggml_type_get(type) : NULL;
}

int quant_supported(uint32_t type) {
    return qtype_get(type) != NULL;
}

int quant_block_elems(uint32_t type) {
    const ggml_type_info *t = qtype_get(type);
    return t ? t->block_elems : 0;
}

size_t quant_row_size(uint32_t type, int64_t n) {
    const ggml_type_info *t = qtype_get(type);
    if (!t || n < 0 || n % t->block_elems) return 0;
    const uint64_t blocks = (uint64_t)n / (uint64_t)t->block_elems;
    if (blocks > SIZE_MAX / (uint64_t)t->block_bytes) return 0;
    return (size_t)(blocks * (uint64_t)t->block_bytes);
}

/* ---- scalar conversions (§2, §5) ----------------------------------------------------------- */

static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Branch-free (selects only) so that row loops vectorise. Normal numbers and inf/NaN move the
 * 15 exponent+mantissa bits up by 13 and rebias the exponent by +112 (inf/NaN: to 255);
 * subnormals are m * 2^-24, exact as a float product. */
static inline float f16_to_f32_inl(uint16_t h) {
    const uint32_t e = h & 0x7C00u, m = h & 0x3FFu, sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t nb = ((uint32_t)(h & 0x7FFFu) << 13) + (112u << 23);
    nb = e == 0x7C00u ? nb + (112u << 23) : nb;
    const uint32_t r = e == 0 ? f2u((float)m * 0x1p-24f) : nb;
    return u2f(r | sign);
}

float quant_f16_to_f32(uint16_t h) {
    return f16_to_f32_inl(h);
}

uint16_t quant_f32_to_f16(float f) {
    uint32_t x = f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7FFFFFFFu;
    if (x > 0x7F800000u) return sign | 0x7E00u | (uint16_t)((x >> 13) & 0x3FFu); /* quiet NaN */
    if (x >= 0x477FF000u) return sign | 0x7C00u; /* >= 65520 (or inf) rounds to inf */
    if (x >= 0x38800000u) {                      /* normal f16: rebias, round mantissa RNE */
        uint32_t r = x - (112u << 23);
        r += 0xFFFu + ((r >> 13) & 1u);
        return sign | (uint16_t)(r >> 13);
    }
    if (x <= 0x33000000u) return sign; /* <= 2^-25: ties to even -> zero */
    /* subnormal f16: value = m * 2^(e-150) = (m >> s) units of 2^-24 with s = 126 - e */
    uint32_t e = x >> 23, m = (x & 0x7FFFFFu) | 0x800000u, s = 126u - e;
    uint32_t q = m >> s, rem = m & ((1u << s) - 1u), half = 1u << (s - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return sign | (uint16_t)q; /* q == 0x400 is the smallest normal, encoded correctly */
}

float quant_bf16_to_f32(uint16_t h) {
    return u2f((uint32_t)h << 16);
}

uint16_t quant_f32_to_bf16(float f) {
    uint32_t x = f2u(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7FFFu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float quant_e8m0_to_f32_half(uint8_t e) {
    /* 2^(e-128): e = 0, 1 give the fp32 denormals 2^-128, 2^-127; e = 255 gives 2^127 (finite;
     * ggml does not treat 0xFF as NaN). */
    if (e < 2) return u2f(0x00200000u << e);
    return u2f((uint32_t)(e - 1u) << 23);
}

float quant_e8m0_to_f32(uint8_t e) {
    /* full OCP value 2^(e-127) as ggml computes it: e = 0 -> 2^-127, e = 255 -> +inf */
    if (e == 0) return u2f(0x00400000u);
    return u2f((uint32_t)e << 23);
}

/* ---- block decoders (§3, §4, §5): one block -> block_elems floats --------------------------- */

static inline float rd_f16(const uint8_t *p) {
    return f16_to_f32_inl((uint16_t)(p[0] | (p[1] << 8)));
}
static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void wr_f16(uint8_t *p, uint16_t h) {
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

const int8_t quant_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

static void deq_q8_0(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b);
    for (int j = 0; j < 32; j++) y[j] = d * (float)(int8_t)b[2 + j];
}

static void deq_q4_0(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 0x0F) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void deq_q4_1(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0x0F) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

static void deq_q5_0(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b);
    const uint32_t h = rd_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0x0F) | (int)(((h >> j) & 1u) << 4);
        int hi = (qs[j] >> 4) | (int)(((h >> (j + 16)) & 1u) << 4);
        y[j] = (float)(lo - 16) * d;
        y[j + 16] = (float)(hi - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint32_t h = rd_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0x0F) | (int)(((h >> j) & 1u) << 4);
        int hi = (qs[j] >> 4) | (int)(((h >> (j + 16)) & 1u) << 4);
        y[j] = (float)lo * d + m;
        y[j + 16] = (float)hi * d + m;
    }
}

/* get_scale_min_k4: 6-bit scale and min of sub-block j from the 12 packed bytes (§4) */
static inline void scale_min_k4(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

void quant_scale_min_k4(int j, const uint8_t *scales12, int *sc, int *m) {
    scale_min_k4(j, scales12, sc, m);
}

static void deq_q4_k(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *sc12 = b + 4, *qs = b + 16;
    for (int c = 0; c < 4; c++) {
        int s0, m0, s1, m1;
        scale_min_k4(2 * c, sc12, &s0, &m0);
        scale_min_k4(2 * c + 1, sc12, &s1, &m1);
        const float d0 = d * (float)s0, mm0 = dmin * (float)m0;
        const float d1 = d * (float)s1, mm1 = dmin * (float)m1;
        for (int l = 0; l < 32; l++) {
            y[64 * c + l] = d0 * (float)(qs[32 * c + l] & 0x0F) - mm0;
            y[64 * c + 32 + l] = d1 * (float)(qs[32 * c + l] >> 4) - mm1;
        }
    }
}

static void deq_q5_k(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *sc12 = b + 4, *qh = b + 16, *qs = b + 48;
    for (int c = 0; c < 4; c++) {
        int s0, m0, s1, m1;
        scale_min_k4(2 * c, sc12, &s0, &m0);
        scale_min_k4(2 * c + 1, sc12, &s1, &m1);
        const float d0 = d * (float)s0, mm0 = dmin * (float)m0;
        const float d1 = d * (float)s1, mm1 = dmin * (float)m1;
        for (int l = 0; l < 32; l++) {
            int q0 = (qs[32 * c + l] & 0x0F) + 16 * ((qh[l] >> (2 * c)) & 1);
            int q1 = (qs[32 * c + l] >> 4) + 16 * ((qh[l] >> (2 * c + 1)) & 1);
            y[64 * c + l] = d0 * (float)q0 - mm0;
            y[64 * c + 32 + l] = d1 * (float)q1 - mm1;
        }
    }
}

static void deq_q6_k(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b + 208);
    for (int n = 0; n < 2; n++) {
        const uint8_t *L = b + 64 * n, *H = b + 128 + 32 * n;
        const int8_t *S = (const int8_t *)(b + 192 + 8 * n);
        float *Y = y + 128 * n;
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q0 = ((L[l] & 0x0F) | (((H[l] >> 0) & 3) << 4)) - 32;
            int q1 = ((L[l + 32] & 0x0F) | (((H[l] >> 2) & 3) << 4)) - 32;
            int q2 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32;
            int q3 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32;
            Y[l] = d * (float)S[is + 0] * (float)q0;
            Y[l + 32] = d * (float)S[is + 2] * (float)q1;
            Y[l + 64] = d * (float)S[is + 4] * (float)q2;
            Y[l + 96] = d * (float)S[is + 6] * (float)q3;
        }
    }
}

static void deq_mxfp4(const uint8_t *restrict b, float *restrict y) {
    const float d = quant_e8m0_to_f32_half(b[0]);
    const uint8_t *qs = b + 1;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)quant_kvalues_mxfp4[qs[j] & 0x0F] * d;
        y[j + 16] = (float)quant_kvalues_mxfp4[qs[j] >> 4] * d;
    }
}

typedef void (*deq_fn)(const uint8_t *, float *);

static deq_fn deq_get(uint32_t type) {
    switch (type) {
    case GGML_TYPE_Q4_0:
        return deq_q4_0;
    case GGML_TYPE_Q4_1:
        return deq_q4_1;
    case GGML_TYPE_Q5_0:
        return deq_q5_0;
    case GGML_TYPE_Q5_1:
        return deq_q5_1;
    case GGML_TYPE_Q8_0:
        return deq_q8_0;
    case GGML_TYPE_Q4_K:
        return deq_q4_k;
    case GGML_TYPE_Q5_K:
        return deq_q5_k;
    case GGML_TYPE_Q6_K:
        return deq_q6_k;
    case GGML_TYPE_MXFP4:
        return deq_mxfp4;
    default:
        return NULL;
    }
}

void quant_dequant_row_portable(uint32_t type, const void *src, float *dst, int64_t n) {
    const ggml_type_info *t = qtype_get(type);
    if (!t || n <= 0 || n % t->block_elems) {
        for (int64_t i = 0; i < n; i++) dst[i] = NAN; /* invalid call: make it visible */
        return;
    }
    const uint8_t *restrict p = (const uint8_t *)src;
    float *restrict y = dst;
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        return;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            y[i] = f16_to_f32_inl((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            y[i] = u2f((uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16);
        return;
    default: {
        deq_fn f = deq_get(type);
        const int64_t nb = n / t->block_elems;
        for (int64_t i = 0; i < nb; i++) f(p + i * t->block_bytes, dst + i * t->block_elems);
    }
    }
}

/* ---- portable dot product: decode a chunk, then an 8-lane multiply-add ---------------------- */

/* Sum of a[i]*b[i], i < n, n a multiple of 8; eight independent lanes so the compiler can keep
 * them in one vector register. */
static inline void acc8(float acc[8], const float *a, const float *b, int n) {
    for (int i = 0; i < n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
}

static inline float sum8(const float acc[8]) {
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

float quant_dot_portable(uint32_t type, const void *row, const float *x, int64_t n) {
    const ggml_type_info *t = qtype_get(type);
    if (!t || n <= 0 || n % t->block_elems) return n == 0 && t ? 0.0f : NAN;
    const uint8_t *p = (const uint8_t *)row;
    float acc[8] = {0};
    float buf[256];
    int64_t i = 0;
    switch (type) {
    case GGML_TYPE_F32:
    case GGML_TYPE_F16:
    case GGML_TYPE_BF16:
        for (; i + 256 <= n; i += 256) {
            quant_dequant_row_portable(type, p + (size_t)i * (size_t)t->block_bytes, buf, 256);
            acc8(acc, buf, x + i, 256);
        }
        if (i < n) { /* tail: < 256 elements, pad to a multiple of 8 with zeros */
            int r = (int)(n - i), r8 = (r + 7) & ~7;
            quant_dequant_row_portable(type, p + (size_t)i * (size_t)t->block_bytes, buf, r);
            float xb[256];
            memcpy(xb, x + i, (size_t)r * 4);
            for (int k = r; k < r8; k++) buf[k] = xb[k] = 0.0f;
            acc8(acc, buf, xb, r8);
        }
        return sum8(acc);
    default: {
        deq_fn f = deq_get(type);
        const int64_t nb = n / t->block_elems;
        for (int64_t b = 0; b < nb; b++) {
            f(p + b * t->block_bytes, buf);
            acc8(acc, buf, x + b * t->block_elems, t->block_elems);
        }
        return sum8(acc);
    }
    }
}

/* ---- reference quantisers ------------------------------------------------------------------- */

/* f16 of v >= 0, rounded up (the stored value is >= v). */
static uint16_t f16_up(float v) {
    uint16_t h = quant_f32_to_f16(v);
    if (quant_f16_to_f32(h) < v && h < 0x7C00u) h++;
    return h;
}

/* f16 of v rounded down (stored value <= v), any sign. */
static uint16_t f16_down(float v) {
    uint16_t h = quant_f32_to_f16(v);
    if (quant_f16_to_f32(h) > v) {
        if (h & 0x8000u)
            h++; /* negative: larger magnitude */
        else if (h == 0)
            h = 0x8001u; /* +0 -> smallest negative subnormal */
        else
            h--;
    }
    return h;
}

static inline int clampi(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}
static inline int round_i(float v) {
    return (int)lrintf(v);
} /* ties to even */

static void quant_q8_0(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    uint16_t dh = f16_up(amax / 127.0f); /* rounded up so |q| <= 127 */
    float d = quant_f16_to_f32(dh), id = d > 0.0f ? 1.0f / d : 0.0f;
    wr_f16(b, dh);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)clampi(round_i(x[j] * id), -127, 127);
}

/* Q4_0 / Q5_0: d = (signed max) / -2^(bits-1), q = round(x/d) + 2^(bits-1), clamped (ggml). */
static void quant_qx_0(const float *x, uint8_t *b, int bits) {
    const int off = 1 << (bits - 1), qmax = (1 << bits) - 1;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    uint16_t dh = quant_f32_to_f16(max / (float)-off);
    float d = quant_f16_to_f32(dh), id = d != 0.0f ? 1.0f / d : 0.0f;
    wr_f16(b, dh);
    int q[32];
    for (int j = 0; j < 32; j++) q[j] = clampi((int)floorf(x[j] * id + (float)off + 0.5f), 0, qmax);
    if (bits == 4) {
        for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(q[j] | (q[j + 16] << 4));
    } else {
        uint32_t h = 0;
        for (int j = 0; j < 32; j++) h |= (uint32_t)(q[j] >> 4) << j;
        for (int k = 0; k < 4; k++) b[2 + k] = (uint8_t)(h >> (8 * k));
        for (int j = 0; j < 16; j++) b[6 + j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
    }
}

/* Q4_1 / Q5_1: m = min (rounded down), d = (max - m)/qmax (rounded up), q = round((x-m)/d). */
static void quant_qx_1(const float *x, uint8_t *b, int bits) {
    const int qmax = (1 << bits) - 1;
    float mn = x[0], mx = x[0];
    for (int j = 1; j < 32; j++) {
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    uint16_t mh = f16_down(mn);
    float m = quant_f16_to_f32(mh);
    uint16_t dh = f16_up((mx - m) / (float)qmax);
    float d = quant_f16_to_f32(dh), id = d > 0.0f ? 1.0f / d : 0.0f;
    wr_f16(b, dh);
    wr_f16(b + 2, mh);
    int q[32];
    for (int j = 0; j < 32; j++) q[j] = clampi(round_i((x[j] - m) * id), 0, qmax);
    if (bits == 4) {
        for (int j = 0; j < 16; j++) b[4 + j] = (uint8_t)(q[j] | (q[j + 16] << 4));
    } else {
        uint32_t h = 0;
        for (int j = 0; j < 32; j++) h |= (uint32_t)(q[j] >> 4) << j;
        for (int k = 0; k < 4; k++) b[4 + k] = (uint8_t)(h >> (8 * k));
        for (int j = 0; j < 16; j++) b[8 + j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
    }
}

/* Best (scale, min) for one sub-block of 32 values x ~ scale*q - min, q in 0..qmax, min >= 0
 * (the format subtracts dmin*m with m >= 0, so the lowest level is <= 0). Starting from the
 * min/max fit, a few trial inverse scales around qmax/(max-min) assign codes, a least-squares
 * fit of (scale, min) to those codes follows, and the candidate with the least squared error
 * wins (the idea of ggml's make_qkx2_quants, unweighted). */
static void fit_scale_min(const float *x, int qmax, float *scale, float *min) {
    float mn = x[0], mx = x[0];
    for (int l = 1; l < 32; l++) {
        mn = fminf(mn, x[l]);
        mx = fmaxf(mx, x[l]);
    }
    if (mn > 0.0f) mn = 0.0f;
    if (mx <= mn) {
        *scale = 0.0f;
        *min = -mn;
        return;
    }
    float best_s = (mx - mn) / (float)qmax, best_m = -mn, best_err = 0.0f;
    for (int l = 0; l < 32; l++) {
        int q = clampi(round_i((x[l] - mn) / best_s), 0, qmax);
        float e = best_s * (float)q - best_m - x[l];
        best_err += e * e;
    }
    for (int is = -10; is <= 10; is++) {
        const float iscale = ((float)qmax + 0.1f * (float)is) / (mx - mn);
        double sl = 0, sl2 = 0, sxl = 0, sx = 0;
        int q[32];
        for (int l = 0; l < 32; l++) {
            q[l] = clampi(round_i(iscale * (x[l] - mn)), 0, qmax);
            sl += q[l];
            sl2 += (double)q[l] * q[l];
            sxl += (double)q[l] * x[l];
            sx += x[l];
        }
        const double D = 32.0 * sl2 - sl * sl;
        if (D <= 0) continue;
        double s = (32.0 * sxl - sl * sx) / D, off = (sl2 * sx - sl * sxl) / D; /* x ~ s*q + off */
        if (off > 0) { /* the lowest level must stay <= 0 */
            off = 0;
            s = sl2 > 0 ? sxl / sl2 : 0;
        }
        if (s <= 0) continue;
        float err = 0.0f;
        for (int l = 0; l < 32; l++) {
            int qq = clampi(round_i((x[l] - (float)off) / (float)s), 0, qmax);
            float e = (float)s * (float)qq + (float)off - x[l];
            err += e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_s = (float)s;
            best_m = (float)-off;
        }
    }
    *scale = best_s;
    *min = best_m;
}

/* Q4_K / Q5_K (§4): fitted (scale, min) per 32-element sub-block, 6-bit codes of both relative to
 * the super-block maxima (d = max scale/63, dmin = max min/63, round to nearest), then every
 * element takes the nearest of its sub-block's qmax+1 levels d*sc*q - dmin*m. */
static void quant_qx_k(const float *x, uint8_t *b, int bits) {
    const int qmax = (1 << bits) - 1;
    float scale[8], mins[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        fit_scale_min(x + 32 * j, qmax, &scale[j], &mins[j]);
        max_scale = fmaxf(max_scale, scale[j]);
        max_min = fmaxf(max_min, mins[j]);
    }
    const uint16_t dh = f16_up(max_scale / 63.0f), dminh = f16_up(max_min / 63.0f);
    const float d = quant_f16_to_f32(dh), dmin = quant_f16_to_f32(dminh);
    int sq[8], mq[8];
    for (int j = 0; j < 8; j++) {
        sq[j] = d > 0.0f ? clampi(round_i(scale[j] / d), 0, 63) : 0;
        mq[j] = dmin > 0.0f ? clampi(round_i(mins[j] / dmin), 0, 63) : 0;
    }
    wr_f16(b, dh);
    wr_f16(b + 2, dminh);
    uint8_t *s = b + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sq[j] & 63) | ((sq[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((mq[j] & 63) | ((mq[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sq[j + 4] & 15) | ((mq[j + 4] & 15) << 4));
    }
    int q[256];
    for (int j = 0; j < 8; j++) {
        /* the same float operations as the decoder, so "nearest" is judged on decoded levels */
        const float de = d * (float)sq[j], me = dmin * (float)mq[j];
        const float ide = de > 0.0f ? 1.0f / de : 0.0f;
        for (int l = 0; l < 32; l++) {
            const float v = x[32 * j + l];
            int qq = clampi(round_i((v + me) * ide), 0, qmax);
            /* fix float rounding of the division: step to a neighbour if it is nearer */
            if (qq > 0 && fabsf(de * (float)(qq - 1) - me - v) < fabsf(de * (float)qq - me - v))
                qq--;
            else if (qq < qmax &&
                     fabsf(de * (float)(qq + 1) - me - v) < fabsf(de * (float)qq - me - v))
                qq++;
            q[32 * j + l] = qq;
        }
    }
    if (bits == 4) {
        uint8_t *qs = b + 16;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    } else {
        uint8_t *qh = b + 16, *qs = b + 48;
        memset(qh, 0, 32);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int q0 = q[64 * c + l], q1 = q[64 * c + 32 + l];
                qs[32 * c + l] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
                qh[l] |= (uint8_t)(((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1)));
            }
    }
}

/* Q6_K (§4): per 16 elements a signed int8 scale; codes -31..31 (symmetric, +32 stored). The
 * int8 scales are rounded up so |x| / s_eff <= 31 and every error is <= s_eff/2. */
static void quant_q6_k(const float *x, uint8_t *b) {
    float sub[16], max_sub = 0.0f;
    for (int j = 0; j < 16; j++) {
        float amax = 0.0f;
        for (int l = 0; l < 16; l++) amax = fmaxf(amax, fabsf(x[16 * j + l]));
        sub[j] = amax / 31.0f;
        max_sub = fmaxf(max_sub, sub[j]);
    }
    uint16_t dh = f16_up(max_sub / 127.0f);
    float d = quant_f16_to_f32(dh);
    int sc[16], q[256];
    for (int j = 0; j < 16; j++) {
        sc[j] = d > 0.0f ? clampi((int)ceilf(sub[j] / d), 0, 127) : 0;
        float se = d * (float)sc[j], ise = se > 0.0f ? 1.0f / se : 0.0f;
        for (int l = 0; l < 16; l++)
            q[16 * j + l] = clampi(round_i(x[16 * j + l] * ise), -32, 31) + 32;
    }
    for (int n = 0; n < 2; n++) {
        uint8_t *L = b + 64 * n, *H = b + 128 + 32 * n;
        const int *Q = q + 128 * n;
        for (int l = 0; l < 32; l++) {
            int c0 = Q[l], c1 = Q[l + 32], c2 = Q[l + 64], c3 = Q[l + 96];
            L[l] = (uint8_t)((c0 & 15) | ((c2 & 15) << 4));
            L[l + 32] = (uint8_t)((c1 & 15) | ((c3 & 15) << 4));
            H[l] = (uint8_t)((c0 >> 4) | ((c1 >> 4) << 2) | ((c2 >> 4) << 4) | ((c3 >> 4) << 6));
        }
    }
    for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)sc[j];
    wr_f16(b + 208, dh);
}

/* MXFP4 (§5), as ggml's quantize_row_mxfp4_ref: e = floor(log2(amax)) - 2 + 127 (0 for an
 * all-zero block), then each element takes the nearest kvalue*d, ties to the lowest code.
 * floor(log2) is taken exactly from the float's exponent (frexpf), and e is clamped to 0..254. */
uint8_t quant_mxfp4_best_code(float v, float d) {
    int best = 0;
    float best_err = fabsf((float)quant_kvalues_mxfp4[0] * d - v);
    for (int i = 1; i < 16; i++) {
        float err = fabsf((float)quant_kvalues_mxfp4[i] * d - v);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return (uint8_t)best;
}

static void quant_mxfp4(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    int e = 0;
    if (amax > 0.0f && isfinite(amax)) {
        int ex;
        frexpf(amax, &ex); /* amax = m * 2^ex, m in [0.5, 1): floor(log2 amax) = ex - 1 */
        e = clampi(ex - 1 - 2 + 127, 0, 254);
    } else if (amax > 0.0f) {
        e = 254;
    }
    const float d = quant_e8m0_to_f32_half((uint8_t)e);
    b[0] = (uint8_t)e;
    for (int j = 0; j < 16; j++)
        b[1 + j] =
            (uint8_t)(quant_mxfp4_best_code(x[j], d) | (quant_mxfp4_best_code(x[j + 16], d) << 4));
}

/* HF/OpenAI block (element 2b in the low nibble of byte b, 2b+1 in the high nibble) -> ggml
 * block_mxfp4 (element j low nibble of byte j, j+16 high nibble), docs/quant.md §7. Lossless. */
void quant_mxfp4_from_hf(uint8_t scale, const uint8_t hf[16], uint8_t out[17]) {
    uint8_t code[32];
    for (int b = 0; b < 16; b++) {
        code[2 * b] = hf[b] & 0x0F;
        code[2 * b + 1] = hf[b] >> 4;
    }
    out[0] = scale;
    for (int k = 0; k < 16; k++) out[1 + k] = (uint8_t)(code[k] | (code[k + 16] << 4));
}

size_t quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n) {
    const size_t size = quant_row_size(type, n);
    if (size == 0) return 0;
    const ggml_type_info *t = qtype_get(type);
    uint8_t *p = (uint8_t *)dst;
    const int64_t nb = n / t->block_elems;
    for (int64_t i = 0; i < nb; i++) {
        const float *x = src + i * t->block_elems;
        uint8_t *b = p + i * t->block_bytes;
        switch (type) {
        case GGML_TYPE_F32:
            memcpy(b, x, 4);
            break;
        case GGML_TYPE_F16:
            wr_f16(b, quant_f32_to_f16(x[0]));
            break;
        case GGML_TYPE_BF16:
            wr_f16(b, quant_f32_to_bf16(x[0]));
            break;
        case GGML_TYPE_Q4_0:
            quant_qx_0(x, b, 4);
            break;
        case GGML_TYPE_Q5_0:
            quant_qx_0(x, b, 5);
            break;
        case GGML_TYPE_Q4_1:
            quant_qx_1(x, b, 4);
            break;
        case GGML_TYPE_Q5_1:
            quant_qx_1(x, b, 5);
            break;
        case GGML_TYPE_Q8_0:
            quant_q8_0(x, b);
            break;
        case GGML_TYPE_Q4_K:
            quant_qx_k(x, b, 4);
            break;
        case GGML_TYPE_Q5_K:
            quant_qx_k(x, b, 5);
            break;
        case GGML_TYPE_Q6_K:
            quant_q6_k(x, b);
            break;
        case GGML_TYPE_MXFP4:
            quant_mxfp4(x, b);
            break;
        default:
            return 0;
        }
    }
    return size;
}
