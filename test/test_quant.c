/* test_quant.c — ggml weight formats (engine/quant.h) against hand-worked blocks and formulas
 * from docs/quant.md, plus dot-product consistency and quantiser error bounds.
 * Expected numbers in the known-answer tests are worked out by hand in the comments. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"
#include "gguf/gguf.h"
#include "test/util/tucheck.h"

enum {
    T_F32 = 0,
    T_F16 = 1,
    T_Q4_0 = 2,
    T_Q4_1 = 3,
    T_Q5_0 = 6,
    T_Q5_1 = 7,
    T_Q8_0 = 8,
    T_Q4_K = 12,
    T_Q5_K = 13,
    T_Q6_K = 14,
    T_BF16 = 30,
    T_MXFP4 = 39
};
static const uint32_t ALL_TYPES[] = {T_F32,  T_F16,  T_BF16, T_Q8_0, T_Q4_0, T_Q4_1,
                                     T_Q5_0, T_Q5_1, T_Q4_K, T_Q5_K, T_Q6_K, T_MXFP4};
#define NTYPES ((int)(sizeof ALL_TYPES / sizeof ALL_TYPES[0]))

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* deterministic PRNG (splitmix64) */
static uint64_t rng_state;
static uint64_t rng_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double rng_unif(void) {
    return (double)(rng_u64() >> 11) * 0x1p-53;
} /* [0,1) */
static float rng_gauss(void) {
    double u1 = rng_unif(), u2 = rng_unif();
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ============================ scalar conversions ============================================ */

START_TEST(test_f16_to_f32_known) {
    ck_assert(quant_f16_to_f32(0x0000) == 0.0f && !signbit(quant_f16_to_f32(0x0000)));
    ck_assert(quant_f16_to_f32(0x8000) == 0.0f && signbit(quant_f16_to_f32(0x8000)));
    ck_assert(quant_f16_to_f32(0x3C00) == 1.0f);
    ck_assert(quant_f16_to_f32(0xC000) == -2.0f);
    ck_assert(quant_f16_to_f32(0x3555) == 0.333251953125f); /* 2^-2 * (1 + 341/1024) */
    ck_assert(quant_f16_to_f32(0x7BFF) == 65504.0f);        /* largest finite */
    ck_assert(quant_f16_to_f32(0x0400) == 0x1p-14f);        /* smallest normal */
    ck_assert(quant_f16_to_f32(0x0001) == 0x1p-24f);        /* smallest subnormal */
    ck_assert(quant_f16_to_f32(0x03FF) == 1023 * 0x1p-24f); /* largest subnormal */
    ck_assert(quant_f16_to_f32(0x8001) == -0x1p-24f);
    ck_assert(isinf(quant_f16_to_f32(0x7C00)) && quant_f16_to_f32(0x7C00) > 0);
    ck_assert(isinf(quant_f16_to_f32(0xFC00)) && quant_f16_to_f32(0xFC00) < 0);
    ck_assert(isnan(quant_f16_to_f32(0x7E00)));
    ck_assert(isnan(quant_f16_to_f32(0x7C01)));
    ck_assert(isnan(quant_f16_to_f32(0xFFFF)));
}
END_TEST

START_TEST(test_f16_formula_all) {
    /* every finite code against the formula (-1)^s * 2^(e-15) * (1 + m/1024), e = 0: m * 2^-24 */
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint32_t s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        if (e == 31) continue;
        double v = e == 0 ? ldexp((double)m, -24) : ldexp(1.0 + m / 1024.0, (int)e - 15);
        if (s) v = -v;
        ck_assert_msg((double)quant_f16_to_f32((uint16_t)h) == v, "h=%04x", h);
        /* and back: exact values convert to themselves */
        ck_assert_msg(quant_f32_to_f16((float)v) == h, "h=%04x", h);
    }
}
END_TEST

START_TEST(test_f32_to_f16_rounding) {
    ck_assert_uint_eq(quant_f32_to_f16(1.0f), 0x3C00);
    ck_assert_uint_eq(quant_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(quant_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);     /* tie -> even (down) */
    ck_assert_uint_eq(quant_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02); /* tie -> even (up) */
    ck_assert_uint_eq(quant_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01); /* above tie */
    ck_assert_uint_eq(quant_f32_to_f16(65504.0f), 0x7BFF);
    ck_assert_uint_eq(quant_f32_to_f16(65519.99f), 0x7BFF); /* below the midpoint 65520 */
    ck_assert_uint_eq(quant_f32_to_f16(65520.0f), 0x7C00);  /* midpoint -> even = inf */
    ck_assert_uint_eq(quant_f32_to_f16(1e10f), 0x7C00);
    ck_assert_uint_eq(quant_f32_to_f16(-INFINITY), 0xFC00);
    ck_assert_uint_eq(quant_f32_to_f16(0x1p-24f), 0x0001);
    ck_assert_uint_eq(quant_f32_to_f16(0x1p-25f), 0x0000);            /* half of 2^-24: tie -> 0 */
    ck_assert_uint_eq(quant_f32_to_f16(0x1.8p-25f), 0x0001);          /* 0.75 units -> 1 */
    ck_assert_uint_eq(quant_f32_to_f16(3 * 0x1p-25f), 0x0002);        /* 1.5 units: tie -> 2 */
    ck_assert_uint_eq(quant_f32_to_f16(5 * 0x1p-25f), 0x0002);        /* 2.5 units: tie -> 2 */
    ck_assert_uint_eq(quant_f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400); /* rounds up to normal */
    ck_assert_uint_eq(quant_f32_to_f16(1e-30f), 0x0000);
    uint16_t nan = quant_f32_to_f16(NAN);
    ck_assert((nan & 0x7C00) == 0x7C00 && (nan & 0x3FF) != 0);
    uint16_t snan = quant_f32_to_f16(u2f(0x7F800001u)); /* signalling, payload in low bits */
    ck_assert((snan & 0x7C00) == 0x7C00 && (snan & 0x200) != 0);
}
END_TEST

#ifdef __FLT16_MAX__
START_TEST(test_f32_to_f16_vs_compiler) {
    /* the compiler's _Float16 conversion (IEEE round to nearest even) as the reference */
    rng_state = 11;
    for (int i = 0; i < 200000; i++) {
        float f = u2f((uint32_t)rng_u64());
        if (isnan(f)) continue;
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        ck_assert_msg(quant_f32_to_f16(f) == hb, "f=%a", (double)f);
    }
    for (int i = 0; i < 200000; i++) { /* dense near the f16 range */
        float f = (float)ldexp(rng_unif() * 2 - 1, (int)(rng_u64() % 44) - 27);
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        ck_assert_msg(quant_f32_to_f16(f) == hb, "f=%a", (double)f);
    }
}
END_TEST
#endif

START_TEST(test_bf16) {
    ck_assert(quant_bf16_to_f32(0x3F80) == 1.0f);
    ck_assert(quant_bf16_to_f32(0x4049) == 3.140625f); /* 2 * (1 + 73/128) */
    ck_assert(quant_bf16_to_f32(0xC000) == -2.0f);
    ck_assert(isinf(quant_bf16_to_f32(0x7F80)));
    ck_assert(isnan(quant_bf16_to_f32(0x7FC0)));
    ck_assert_uint_eq(quant_f32_to_bf16(1.0f), 0x3F80);
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0x3F808000u)), 0x3F80); /* tie -> even (down) */
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0x3F818000u)), 0x3F82); /* tie -> even (up) */
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0x3F808001u)), 0x3F81); /* above tie */
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0x3F807FFFu)), 0x3F80); /* below tie */
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0x7F7FFFFFu)), 0x7F80); /* FLT_MAX -> inf */
    ck_assert_uint_eq(quant_f32_to_bf16(INFINITY), 0x7F80);
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0x7FC00000u)), 0x7FC0);
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0x7F800001u)), 0x7FC0); /* sNaN stays NaN, quiet */
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0xFF800001u)), 0xFFC0);
    ck_assert_uint_eq(quant_f32_to_bf16(u2f(0x80000001u)), 0x8000); /* tiny denormal -> -0 */
    for (uint32_t h = 0; h < 0x10000; h++) /* round trip of every non-NaN code */
        if ((h & 0x7F80) != 0x7F80 || (h & 0x7F) == 0)
            ck_assert_uint_eq(quant_f32_to_bf16(quant_bf16_to_f32((uint16_t)h)), h);
}
END_TEST

START_TEST(test_e8m0) {
    /* ggml's half scale 2^(e-128); e = 0, 1 are fp32 denormals; e = 255 is finite 2^127 */
    ck_assert(quant_e8m0_to_f32_half(0) == (float)ldexp(1.0, -128));
    ck_assert_uint_eq(f2u(quant_e8m0_to_f32_half(0)), 0x00200000u);
    ck_assert(quant_e8m0_to_f32_half(1) == (float)ldexp(1.0, -127));
    ck_assert_uint_eq(f2u(quant_e8m0_to_f32_half(1)), 0x00400000u);
    ck_assert(quant_e8m0_to_f32_half(2) == (float)ldexp(1.0, -126));
    ck_assert(quant_e8m0_to_f32_half(127) == 0.5f);
    ck_assert(quant_e8m0_to_f32_half(128) == 1.0f);
    ck_assert(quant_e8m0_to_f32_half(254) == (float)ldexp(1.0, 126));
    ck_assert(quant_e8m0_to_f32_half(255) == (float)ldexp(1.0, 127)); /* not NaN in ggml */
    for (int e = 0; e < 256; e++)
        ck_assert(quant_e8m0_to_f32_half((uint8_t)e) == (float)ldexp(1.0, e - 128));
    /* full value 2^(e-127) as ggml: 0 -> 2^-127, 255 -> +inf (OCP says NaN; ggml disables it) */
    ck_assert(quant_e8m0_to_f32(0) == (float)ldexp(1.0, -127));
    ck_assert(quant_e8m0_to_f32(127) == 1.0f);
    ck_assert(quant_e8m0_to_f32(254) == (float)ldexp(1.0, 127));
    ck_assert(isinf(quant_e8m0_to_f32(255)));
}
END_TEST

START_TEST(test_sizes) {
    ck_assert_uint_eq(quant_row_size(T_F32, 7), 28);
    ck_assert_uint_eq(quant_row_size(T_F16, 7), 14);
    ck_assert_uint_eq(quant_row_size(T_BF16, 3), 6);
    ck_assert_uint_eq(quant_row_size(T_Q8_0, 64), 68);
    ck_assert_uint_eq(quant_row_size(T_Q4_0, 64), 36);
    ck_assert_uint_eq(quant_row_size(T_Q4_1, 64), 40);
    ck_assert_uint_eq(quant_row_size(T_Q5_0, 64), 44);
    ck_assert_uint_eq(quant_row_size(T_Q5_1, 64), 48);
    ck_assert_uint_eq(quant_row_size(T_MXFP4, 2880), 90 * 17);
    ck_assert_uint_eq(quant_row_size(T_Q8_0, 2880), 90 * 34);
    ck_assert_uint_eq(quant_row_size(T_Q4_K, 512), 288);
    ck_assert_uint_eq(quant_row_size(T_Q5_K, 512), 352);
    ck_assert_uint_eq(quant_row_size(T_Q6_K, 512), 420);
    /* 2880 = 11*256 + 64 is not a multiple of 256: K-quants reject it */
    ck_assert_uint_eq(quant_row_size(T_Q4_K, 2880), 0);
    ck_assert_uint_eq(quant_row_size(T_Q5_K, 2880), 0);
    ck_assert_uint_eq(quant_row_size(T_Q6_K, 2880), 0);
    ck_assert_uint_eq(quant_row_size(T_Q8_0, 33), 0);
    ck_assert_uint_eq(quant_row_size(T_Q8_0, -32), 0);
    float x[2880] = {0};
    static uint8_t buf[4096];
    ck_assert_uint_eq(quant_quantize_row(T_Q4_K, x, buf, 2880), 0);
    ck_assert_uint_eq(quant_quantize_row(T_Q6_K, x, buf, 2880), 0);
    /* unsupported / removed ids */
    const uint32_t bad[] = {4, 5, 9, 10, 11, 15, 16, 24, 28, 31, 40, 41, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(quant_supported(bad[i]), 0);
        ck_assert_uint_eq(quant_row_size(bad[i], 256), 0);
        ck_assert_uint_eq(quant_quantize_row(bad[i], x, buf, 256), 0);
        ck_assert(isnan(quant_dot(bad[i], buf, x, 256)));
    }
    for (int i = 0; i < NTYPES; i++) ck_assert_int_eq(quant_supported(ALL_TYPES[i]), 1);
    ck_assert(isnan(quant_dot(T_Q4_K, buf, x, 2880)));
    ck_assert(isnan(quant_dot_portable(T_Q4_K, buf, x, 2880)));
    /* invalid calls produce NaN outputs rather than reading past the row */
    float o[4] = {0, 0, 0, 0};
    quant_dot_rows(T_Q6_K, buf, x, 2880, 2, 0, o, 2);
    ck_assert(isnan(o[0]) && isnan(o[2]) && o[1] == 0.0f);
    quant_dot_rows(41, buf, x, 0, 1, 0, o + 3, 1);
    ck_assert(isnan(o[3]));
    static float yy[2880];
    quant_dequant_row(T_Q5_K, buf, yy, 2880);
    ck_assert(isnan(yy[0]) && isnan(yy[2879]));
    /* same answers as the GGUF module's table (docs/quant.md §1) */
    const int64_t ns[] = {0, 1, 32, 64, 256, 2880, 4096, 1000000, INT64_MAX};
    for (int i = 0; i < NTYPES; i++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            ck_assert_uint_eq(quant_row_size(ALL_TYPES[i], ns[k]),
                              ggml_row_size(ALL_TYPES[i], ns[k]));
}
END_TEST

/* ============================ known-answer blocks ============================================ */

static void dq(uint32_t type, const uint8_t *blk, float *y, int n) {
    quant_dequant_row(type, blk, y, n);
}

START_TEST(test_q8_0_known) {
    uint8_t b[34] = {0x00, 0x38}; /* d = f16 0x3800 = 0.5 */
    const int8_t q[8] = {-128, -1, 0, 1, 127, 5, -7, 100};
    for (int j = 0; j < 8; j++) b[2 + j] = (uint8_t)q[j];
    float y[32];
    dq(T_Q8_0, b, y, 32);
    const float want[8] = {-64.0f, -0.5f, 0.0f, 0.5f, 63.5f, 2.5f, -3.5f, 50.0f};
    for (int j = 0; j < 8; j++) ck_assert(y[j] == want[j]);
    for (int j = 8; j < 32; j++) ck_assert(y[j] == 0.0f);
}
END_TEST

START_TEST(test_q4_0_known) {
    uint8_t b[18] = {0x00, 0x40}; /* d = 2.0 */
    uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) qs[j] = 0x88; /* code 8 -> 0 */
    qs[0] = 0x1F;                              /* el 0: 15-8 = 7 -> 14;  el 16: 1-8 = -7 -> -14 */
    qs[1] = 0x80;                              /* el 1: 0-8 = -8 -> -16; el 17: 8-8 = 0 -> 0 */
    qs[15] = 0xC9;                             /* el 15: 9-8 = 1 -> 2; el 31: 12-8 = 4 -> 8 */
    float y[32];
    dq(T_Q4_0, b, y, 32);
    ck_assert(y[0] == 14.0f && y[16] == -14.0f);
    ck_assert(y[1] == -16.0f && y[17] == 0.0f);
    ck_assert(y[15] == 2.0f && y[31] == 8.0f);
    for (int j = 2; j < 15; j++) ck_assert(y[j] == 0.0f && y[j + 16] == 0.0f);
}
END_TEST

START_TEST(test_q4_1_known) {
    uint8_t b[20] = {0x00, 0x38, 0x00, 0xBC}; /* d = 0.5, m = -1.0 */
    b[4 + 0] = 0xF0;                          /* el 0: 0*0.5-1 = -1; el 16: 15*0.5-1 = 6.5 */
    b[4 + 7] = 0x35;                          /* el 7: 5*0.5-1 = 1.5; el 23: 3*0.5-1 = 0.5 */
    float y[32];
    dq(T_Q4_1, b, y, 32);
    ck_assert(y[0] == -1.0f && y[16] == 6.5f && y[7] == 1.5f && y[23] == 0.5f);
    ck_assert(y[1] == -1.0f && y[31] == -1.0f);
}
END_TEST

START_TEST(test_q5_0_known) {
    uint8_t b[22] = {0x00, 0x3C}; /* d = 1.0 */
    /* h = bits 0, 16, 31 set -> qh bytes (LE) 01 00 01 80 */
    b[2] = 0x01, b[3] = 0x00, b[4] = 0x01, b[5] = 0x80;
    uint8_t *qs = b + 6;
    qs[0] = 0x21;  /* el 0: 1|16 = 17 -> 1;  el 16: 2|16 = 18 -> 2 */
    qs[15] = 0xF0; /* el 15: 0 (bit 15 clear) -> -16; el 31: 15|16 = 31 -> 15 */
    float y[32];
    dq(T_Q5_0, b, y, 32);
    ck_assert(y[0] == 1.0f && y[16] == 2.0f && y[15] == -16.0f && y[31] == 15.0f);
    ck_assert(y[1] == -16.0f && y[17] == -16.0f);
}
END_TEST

START_TEST(test_q5_1_known) {
    uint8_t b[24] = {0x00, 0x34, 0x00, 0x3C}; /* d = 0.25, m = 1.0 */
    b[4] = 0x08;                              /* h bit 3 */
    b[7] = 0x40;                              /* h bit 30 */
    uint8_t *qs = b + 8;
    qs[3] = 0x5A;  /* el 3: 10|16 = 26 -> 26*0.25+1 = 7.5; el 19: 5 -> 2.25 */
    qs[14] = 0x1F; /* el 14: 15 -> 4.75; el 30: 1|16 = 17 -> 5.25 */
    float y[32];
    dq(T_Q5_1, b, y, 32);
    ck_assert(y[3] == 7.5f && y[19] == 2.25f && y[14] == 4.75f && y[30] == 5.25f);
    ck_assert(y[0] == 1.0f);
}
END_TEST

/* Scales of the K-quant examples: the 12 bytes below decode (by the spec's packing) to
 *   sc = {1, 3, 0, 63, 1, 55, 43, 15},  m = {2, 7, 0, 0, 2, 26, 19, 15}
 * sc4 = (0x21&15) | (0x01>>6)<<4 = 1          m4 = (0x21>>4) | (0x02>>6)<<4 = 2
 * sc5 = (0xA7&15) | (0xC3>>6)<<4 = 7+48 = 55  m5 = (0xA7>>4) | (0x47>>6)<<4 = 10+16 = 26
 * sc6 = (0x3B&15) | (0x80>>6)<<4 = 11+32 = 43 m6 = (0x3B>>4) | (0x40>>6)<<4 = 3+16 = 19
 * sc7 = (0xFF&15) | (0x3F>>6)<<4 = 15         m7 = (0xFF>>4) | (0x00>>6)<<4 = 15 */
static const uint8_t KS[12] = {0x01, 0xC3, 0x80, 0x3F, 0x02, 0x47,
                               0x40, 0x00, 0x21, 0xA7, 0x3B, 0xFF};
static const int KSC[8] = {1, 3, 0, 63, 1, 55, 43, 15}, KM[8] = {2, 7, 0, 0, 2, 26, 19, 15};

START_TEST(test_k_scale_unpack) {
    for (int j = 0; j < 8; j++) {
        int sc, m;
        quant_scale_min_k4(j, KS, &sc, &m);
        ck_assert_int_eq(sc, KSC[j]);
        ck_assert_int_eq(m, KM[j]);
    }
}
END_TEST

START_TEST(test_q4_k_known) {
    uint8_t b[144] = {0x00, 0x38, 0x00, 0x34}; /* d = 0.5, dmin = 0.25 */
    memcpy(b + 4, KS, 12);
    uint8_t *qs = b + 16;
    qs[0] =
        0x49; /* el 0 (sub 0): 0.5*1*9 - 0.25*2 = 4.0;   el 32 (sub 1): 0.5*3*4 - 0.25*7 = 4.25 */
    qs[37] = 0xE7; /* el 69 (sub 2): 0.5*0*7 - 0 = 0;         el 101 (sub 3): 0.5*63*14 = 441 */
    qs[95] = 0x3F; /* el 159 (sub 4): 0.5*1*15 - 0.5 = 7;     el 191 (sub 5): 0.5*55*3 - 6.5 = 76 */
    qs[96] =
        0x12; /* el 192 (sub 6): 0.5*43*2 - 4.75 = 38.25; el 224 (sub 7): 0.5*15*1 - 3.75 = 3.75 */
    float y[256];
    dq(T_Q4_K, b, y, 256);
    ck_assert(y[0] == 4.0f && y[32] == 4.25f);
    ck_assert(y[69] == 0.0f && y[101] == 441.0f);
    ck_assert(y[159] == 7.0f && y[191] == 76.0f);
    ck_assert(y[192] == 38.25f && y[224] == 3.75f);
    /* every other element has code 0: y = -dmin * m[sub] */
    for (int e = 0; e < 256; e++) {
        if (e == 0 || e == 32 || e == 69 || e == 101 || e == 159 || e == 191 || e == 192 ||
            e == 224)
            continue;
        ck_assert_msg(y[e] == -0.25f * (float)KM[e / 32], "e=%d", e);
    }
}
END_TEST

START_TEST(test_q5_k_known) {
    uint8_t b[176] = {0x00, 0x38, 0x00, 0x34}; /* d = 0.5, dmin = 0.25 */
    memcpy(b + 4, KS, 12);
    uint8_t *qh = b + 16, *qs = b + 48;
    qs[0] = 0x49, qs[37] = 0xE7, qs[95] = 0x3F, qs[96] = 0x12; /* as in the Q4_K test */
    qh[0] = 0x43;  /* bits 0,1 (chunk 0 lo/hi) and 6 (chunk 3 lo) of l = 0 */
    qh[5] = 0x08;  /* bit 3: chunk 1 hi of l = 5 */
    qh[31] = 0x10; /* bit 4: chunk 2 lo of l = 31 */
    float y[256];
    dq(T_Q5_K, b, y, 256);
    ck_assert(y[0] == 12.0f);     /* q = 9+16 = 25: 0.5*1*25 - 0.5 */
    ck_assert(y[32] == 28.25f);   /* q = 4+16 = 20: 0.5*3*20 - 1.75 */
    ck_assert(y[69] == 0.0f);     /* sc = 0, m = 0 */
    ck_assert(y[101] == 945.0f);  /* q = 14+16 = 30: 0.5*63*30 */
    ck_assert(y[159] == 15.0f);   /* q = 15+16 = 31: 0.5*1*31 - 0.5 */
    ck_assert(y[191] == 76.0f);   /* bit 5 clear: as Q4_K */
    ck_assert(y[192] == 382.25f); /* q = 2+16 = 18: 0.5*43*18 - 4.75 */
    ck_assert(y[224] == 3.75f);   /* bit 7 clear */
    ck_assert(y[64] == 0.0f && y[96] == 0.0f && y[1] == -0.5f && y[33] == -1.75f);
    ck_assert(y[128] == -0.5f && y[160] == -6.5f && y[193] == -4.75f && y[225] == -3.75f);
}
END_TEST

START_TEST(test_q6_k_known) {
    uint8_t b[210] = {0};
    const int8_t S[16] = {2, -3, 1, 4, 5, -6, 7, -8, 10, -1, 1, 1, 1, 1, 1, -128};
    memcpy(b + 192, S, 16);
    b[208] = 0x00, b[209] = 0x38; /* d = 0.5 */
    uint8_t *ql = b, *qh = b + 128;
    ql[0] = 0x5A;   /* el 0: lo A; el 64: hi 5 */
    qh[0] = 0xE4;   /* 2-bit fields 0,1,2,3 for el 0, 32, 64, 96 */
    ql[32] = 0xC3;  /* el 32: lo 3; el 96: hi 12 */
    ql[127] = 0xF0; /* half 1, l = 31: el 255 hi 15 (el 223 lo 0) */
    qh[63] = 0xC0;  /* half 1, l = 31: el 255 high bits 3 */
    float y[256];
    dq(T_Q6_K, b, y, 256);
    ck_assert(y[0] == -22.0f);     /* (10 | 0<<4) - 32 = -22; 0.5 * S[0]=2 * -22 */
    ck_assert(y[32] == -6.5f);     /* (3 | 1<<4) - 32 = -13; 0.5 * S[2]=1 * -13 */
    ck_assert(y[64] == 12.5f);     /* (5 | 2<<4) - 32 = 5; 0.5 * S[4]=5 * 5 */
    ck_assert(y[96] == 98.0f);     /* (12 | 3<<4) - 32 = 28; 0.5 * S[6]=7 * 28 */
    ck_assert(y[255] == -1984.0f); /* (15 | 3<<4) - 32 = 31; 0.5 * S[15]=-128 * 31 */
    ck_assert(y[16] == 48.0f);     /* code 0: -32 * 0.5 * S[1]=-3 */
    ck_assert(y[128] == -160.0f);  /* -32 * 0.5 * S[8]=10 */
    for (int e = 0; e < 256; e++) {
        if (e == 0 || e == 32 || e == 64 || e == 96 || e == 255) continue;
        ck_assert_msg(y[e] == -16.0f * (float)S[e / 16], "e=%d", e);
    }
}
END_TEST

/* true E2M1 values of the 16 codes (OCP MX): sign bit 3, magnitudes 0 0.5 1 1.5 2 3 4 6 */
static const double E2M1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};

START_TEST(test_mxfp4_codes) {
    /* byte j holds code j (low nibble, element j) and code 15-j (high, element j+16) */
    const int es[] = {1, 2, 100, 127, 128, 129, 200, 254};
    for (size_t k = 0; k < sizeof es / sizeof es[0]; k++) {
        uint8_t b[17];
        b[0] = (uint8_t)es[k];
        for (int j = 0; j < 16; j++) b[1 + j] = (uint8_t)(j | ((15 - j) << 4));
        float y[32];
        dq(T_MXFP4, b, y, 32);
        for (int j = 0; j < 16; j++) { /* OCP value E2M1 * 2^(e-127) */
            ck_assert_msg(y[j] == (float)ldexp(E2M1[j], es[k] - 127), "e=%d j=%d", es[k], j);
            ck_assert(y[j + 16] == (float)ldexp(E2M1[15 - j], es[k] - 127));
        }
    }
    /* e = 128: 2^(e-127) = 2, values = 2*E2M1 = the doubled kvalues (code 1 -> 1, 7 -> 12) */
    uint8_t b[17] = {128, 0x71};
    float y[32];
    dq(T_MXFP4, b, y, 32);
    ck_assert(y[0] == 1.0f && y[16] == 12.0f); /* low nibble 1 -> el 0; high 7 -> el 16 */
    ck_assert(y[1] == 0.0f && y[17] == 0.0f);
    /* -0 code (8) decodes to zero */
    b[1] = 0x88;
    dq(T_MXFP4, b, y, 32);
    ck_assert(y[0] == 0.0f && y[16] == 0.0f);
}
END_TEST

START_TEST(test_mxfp4_edge_exponents) {
    uint8_t b[17];
    for (int j = 0; j < 16; j++) b[1 + j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    /* e = 0: ggml's half scale is the denormal 2^-128, value = kvalue * 2^-128 = E2M1*2^-127 */
    b[0] = 0;
    dq(T_MXFP4, b, y, 32);
    for (int j = 0; j < 16; j++) ck_assert(y[j] == (float)ldexp(E2M1[j], -127));
    ck_assert(y[7] == (float)ldexp(6.0, -127) && y[1] == (float)ldexp(1.0, -128));
    /* e = 255: OCP says NaN, ggml gives the finite half scale 2^127, so codes with |kvalue| = 1
     * give +-2^127 and |kvalue| >= 2 overflow to +-inf. Zero codes stay 0. */
    b[0] = 255;
    dq(T_MXFP4, b, y, 32);
    ck_assert(y[0] == 0.0f);
    ck_assert(y[1] == (float)ldexp(1.0, 127));
    ck_assert(y[9] == -(float)ldexp(1.0, 127));
    for (int j = 2; j < 8; j++) ck_assert(isinf(y[j]) && y[j] > 0);
    for (int j = 10; j < 16; j++) ck_assert(isinf(y[j]) && y[j] < 0);
}
END_TEST

START_TEST(test_mxfp4_quantize_rule) {
    /* e = floor(log2(amax)) - 2 + 127; amax = 1 -> e = 125, d = 2^-3, grid = kvalue/8 */
    float x[32] = {1.0f, 0.3f, -0.3f, 0.0625f, -0.0625f, 0.1875f, 0.9f, -0.7f};
    uint8_t b[17];
    ck_assert_uint_eq(quant_quantize_row(T_MXFP4, x, b, 32), 17);
    ck_assert_uint_eq(b[0], 125);
    /* grid {0, .125, .25, .375, .5, .75, 1, 1.5}: 1 -> code 6 (kv 8); 0.3 -> .25 code 2;
     * -0.3 -> code 10; 0.0625 is a tie between 0 and .125 -> lowest index (0);
     * -0.0625 ties 0 (code 0), -0.125 (code 9) -> code 0; 0.1875 ties .125/.25 -> code 1;
     * 0.9 -> 1.0 code 6; -0.7 -> -0.75 code 13 */
    const uint8_t want[8] = {6, 2, 10, 0, 0, 1, 6, 13};
    for (int j = 0; j < 8; j++) ck_assert_uint_eq(b[1 + j] & 0x0F, want[j]);
    for (int j = 0; j < 16; j++) ck_assert_uint_eq(b[1 + j] >> 4, 0);
    /* clipping: amax = 1.9 -> e = 125 still, 1.9 clips to the top value 1.5 (code 7) */
    x[0] = 1.9f;
    quant_quantize_row(T_MXFP4, x, b, 32);
    ck_assert_uint_eq(b[0], 125);
    ck_assert_uint_eq(b[1] & 0x0F, 7);
    /* element 16 goes to the high nibble of byte 0 */
    memset(x, 0, sizeof x);
    x[16] = -4.0f; /* amax 4: e = 2 - 2 + 127 = 127, d = 0.5, -4 = -8*0.5 -> code 14 */
    quant_quantize_row(T_MXFP4, x, b, 32);
    ck_assert_uint_eq(b[0], 127);
    ck_assert_uint_eq(b[1], 14 << 4);
    /* all-zero block: e = 0, all codes 0 */
    memset(x, 0, sizeof x);
    quant_quantize_row(T_MXFP4, x, b, 32);
    for (int j = 0; j < 17; j++) ck_assert_uint_eq(b[j], 0);
}
END_TEST

START_TEST(test_mxfp4_ggml_golden) {
    /* Two blocks quantised by llama.cpp's quantize_row_mxfp4_ref (golden bytes published in
     * huggingface/candle candle-core/tests/mxfp4_tests.rs, generated there from a fixed LCG
     * input with the C reference). Our quantiser must be byte-identical. */
    static const float in[2][32] = {
        {-0.835388184f, -0.960388184f, -1.0680542f,   -0.445983887f, -1.15429688f,  -1.93328857f,
         -1.16522217f,  -0.382568359f, -0.77532959f,  -0.570251465f, -1.63549805f,  -0.967651367f,
         -0.876098633f, -1.50268555f,  -0.160827637f, -1.77832031f,  -0.683288574f, -1.34307861f,
         -1.62945557f,  -0.65802002f,  -0.162536621f, -1.73706055f,  -1.17883301f,  -0.301757812f,
         -1.18078613f,  -1.93463135f,  -0.867736816f, -0.392028809f, -1.70367432f,  -0.194030762f,
         -1.03997803f,  -1.09802246f},
        {0.194091797f,  -0.401489258f, -0.336669922f, 0.383911133f, 0.985534668f,  -0.794616699f,
         0.955200195f,  0.940307617f,  -0.512634277f, -0.33392334f, -0.315612793f, 0.548034668f,
         0.80847168f,   0.579223633f,  -0.954284668f, -0.98034668f, -0.134216309f, 0.443725586f,
         0.168823242f,  -0.544677734f, -0.984619141f, 0.12713623f,  -0.690002441f, 0.810180664f,
         0.102355957f,  -0.107421875f, 0.931091309f,  0.11529541f,  0.615844727f,  -0.0777587891f,
         -0.147155762f, -0.212036133f}};
    static const uint8_t want[2][17] = {{0x7d, 0xdd, 0xfe, 0xfe, 0xdc, 0x9e, 0xff, 0xee, 0xab, 0xed,
                                         0xfc, 0xdf, 0xbe, 0xfe, 0xaf, 0xe9, 0xef},
                                        {0x7c, 0xa3, 0x6d, 0x3d, 0xe5, 0xf7, 0x2f, 0xf7, 0x77, 0x2e,
                                         0xad, 0x7d, 0x26, 0x67, 0x96, 0xaf, 0xbf}};
    for (int k = 0; k < 2; k++) {
        uint8_t b[17];
        ck_assert_uint_eq(quant_quantize_row(T_MXFP4, in[k], b, 32), 17);
        for (int j = 0; j < 17; j++) ck_assert_msg(b[j] == want[k][j], "block %d byte %d", k, j);
    }
}
END_TEST

START_TEST(test_mxfp4_hf_repack) {
    /* HF/OpenAI reference decoder (gpt_oss/torch/weights.py, docs/quant.md §7): byte b's low
     * nibble is element 2b, high nibble element 2b+1; value = FP4_VALUES[code] * 2^(scale-127).
     * Our repack + ggml decoder must give exactly the same 32 values. */
    rng_state = 77;
    for (int rep = 0; rep < 2000; rep++) {
        uint8_t hf[16], g[17], scale = (uint8_t)(1 + rng_u64() % 254);
        for (int b = 0; b < 16; b++) hf[b] = (uint8_t)rng_u64();
        quant_mxfp4_from_hf(scale, hf, g);
        float y[32];
        quant_dequant_row(T_MXFP4, g, y, 32);
        for (int i = 0; i < 32; i++) {
            int code = (hf[i / 2] >> (4 * (i % 2))) & 15;
            ck_assert(y[i] == (float)ldexp(E2M1[code], scale - 127));
        }
    }
    /* the spec's worked bytes: qs[0] = lo(b0) | lo(b8)<<4, qs[1] = hi(b0) | hi(b8)<<4 */
    uint8_t hf[16] = {0x21, 0, 0, 0, 0, 0, 0, 0, 0x43}, g[17];
    quant_mxfp4_from_hf(130, hf, g);
    ck_assert_uint_eq(g[0], 130);
    ck_assert_uint_eq(g[1], 0x31);
    ck_assert_uint_eq(g[2], 0x42);
    for (int k = 2; k < 16; k++) ck_assert_uint_eq(g[1 + k], 0);
}
END_TEST

/* ============================ dot products ================================================== */

/* random but valid bytes of one row: random codes, scale fields set to moderate values */
static void random_row(uint32_t type, uint8_t *row, int64_t n) {
    size_t size = quant_row_size(type, n);
    for (size_t i = 0; i < size; i++) row[i] = (uint8_t)rng_u64();
    int be = quant_block_elems(type);
    int64_t nb = n / be;
    size_t bb = size / (size_t)nb;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *b = row + (size_t)i * bb;
        uint16_t h1 = quant_f32_to_f16((float)(rng_unif() * 0.02 + 0.001));
        uint16_t h2 = quant_f32_to_f16((float)(rng_unif() * 0.02 - 0.01));
        switch (type) {
        case T_F32: {
            float f = rng_gauss();
            memcpy(b, &f, 4);
            break;
        }
        case T_F16:
            h1 = quant_f32_to_f16(rng_gauss());
            memcpy(b, &h1, 2);
            break;
        case T_BF16:
            h1 = quant_f32_to_bf16(rng_gauss());
            memcpy(b, &h1, 2);
            break;
        case T_Q8_0:
        case T_Q4_0:
        case T_Q5_0:
            memcpy(b, &h1, 2);
            break;
        case T_Q4_1:
        case T_Q5_1:
        case T_Q4_K:
        case T_Q5_K:
            memcpy(b, &h1, 2);
            memcpy(b + 2, &h2, 2);
            break;
        case T_Q6_K:
            memcpy(b + 208, &h1, 2);
            break;
        case T_MXFP4:
            b[0] = (uint8_t)(110 + rng_u64() % 30);
            break;
        default:
            break;
        }
    }
}

typedef float (*dot_fn)(uint32_t, const void *, const float *, int64_t);

static void check_dot(uint32_t type, int64_t n, int from_quantizer) {
    size_t size = quant_row_size(type, n);
    ck_assert_uint_gt(size, 0);
    uint8_t *row = malloc(size);
    float *x = malloc((size_t)n * 5 * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < 5 * n; i++) x[i] = rng_gauss();
    if (from_quantizer) {
        for (int64_t i = 0; i < n; i++) w[i] = rng_gauss();
        ck_assert_uint_eq(quant_quantize_row(type, w, row, n), size);
    } else {
        random_row(type, row, n);
    }
    quant_dequant_row_portable(type, row, w, n); /* plain C decoder: independent of the SIMD */
    float outs[5 * 2];                           /* T = 5: one group of four plus one */
    quant_dot_rows(type, row, x, n, 5, (size_t)n, outs, 2);
    for (int t = 0; t < 5; t++) {
        const float *xt = x + t * n;
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) {
            ref += (double)w[i] * xt[i];
            mag += fabs((double)w[i] * xt[i]);
        }
        const double tol = 1e-5 * mag + 1e-30;
        float a = quant_dot(type, row, xt, n), b = quant_dot_portable(type, row, xt, n);
        ck_assert_msg(fabs(a - ref) <= tol, "type %u n %lld: quant_dot %.9g ref %.9g", type,
                      (long long)n, (double)a, ref);
        ck_assert_msg(fabs(b - ref) <= tol, "type %u n %lld: portable %.9g ref %.9g", type,
                      (long long)n, (double)b, ref);
        ck_assert_msg(fabs(outs[2 * t] - ref) <= tol, "type %u n %lld: dot_rows %.9g ref %.9g",
                      type, (long long)n, (double)outs[2 * t], ref);
    }
    free(row);
    free(x);
    free(w);
}

START_TEST(test_dot_all_formats) {
    rng_state = 1234;
    const int64_t lens[] = {32, 256, 512, 2880, 4096, 5120, 8192};
    for (int ti = 0; ti < NTYPES; ti++) {
        uint32_t type = ALL_TYPES[ti];
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            if (quant_row_size(type, lens[k]) == 0) {
                ck_assert(lens[k] % 256 && quant_block_elems(type) == 256); /* only K-quants */
                continue;
            }
            check_dot(type, lens[k], 0);
            check_dot(type, lens[k], 1);
        }
    }
    /* 1-element types with lengths that are not a multiple of 8 (vector tails) */
    const int64_t odd[] = {1, 7, 9, 33, 1001};
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
        check_dot(T_F32, odd[k], 0);
        check_dot(T_F16, odd[k], 0);
        check_dot(T_BF16, odd[k], 0);
    }
}
END_TEST

START_TEST(test_dequant_fast_equals_portable) {
    /* the SIMD decoder must be bit-identical to the plain C one (same float operations), also on
     * completely random bytes (NaN/inf scales included: then both must be NaN/inf alike) */
    rng_state = 4321;
    const int64_t n = 2048;
    uint8_t *row = malloc(quant_row_size(T_F32, n));
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    for (int ti = 0; ti < NTYPES; ti++) {
        for (int rep = 0; rep < 20; rep++) {
            uint32_t t = ALL_TYPES[ti];
            if (rep < 10) {
                random_row(t, row, n);
            } else {
                for (size_t i = 0; i < quant_row_size(t, n); i++) row[i] = (uint8_t)rng_u64();
            }
            quant_dequant_row(t, row, a, n);
            quant_dequant_row_portable(t, row, b, n);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(f2u(a[i]) == f2u(b[i]) || (isnan(a[i]) && isnan(b[i])),
                              "type %u i %lld: %a vs %a", t, (long long)i, (double)a[i],
                              (double)b[i]);
        }
    }
    free(row);
    free(a);
    free(b);
}
END_TEST

static void check_matmul(uint32_t type, int64_t n, int64_t R, int T) {
    const size_t rs = quant_row_size(type, n);
    const size_t xs = (size_t)n + 3, os = (size_t)R + 2; /* padded strides */
    uint8_t *w = malloc(rs * (size_t)R);
    float *x = malloc(xs * (size_t)T * sizeof(float)), *wf = malloc((size_t)n * sizeof(float));
    float *out = malloc(os * (size_t)T * sizeof(float));
    for (int64_t r = 0; r < R; r++) random_row(type, w + (size_t)r * rs, n);
    for (size_t i = 0; i < xs * (size_t)T; i++) x[i] = rng_gauss();
    for (size_t i = 0; i < os * (size_t)T; i++) out[i] = -7.0f; /* padding must stay */
    quant_matmul(type, w, rs, R, x, n, T, xs, out, os);
    for (int64_t r = 0; r < R; r++) {
        quant_dequant_row_portable(type, w + (size_t)r * rs, wf, n);
        for (int t = 0; t < T; t++) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)wf[i] * x[(size_t)t * xs + (size_t)i];
                mag += fabs((double)wf[i] * x[(size_t)t * xs + (size_t)i]);
            }
            const float got = out[(size_t)t * os + (size_t)r];
            ck_assert_msg(fabs(got - ref) <= 1e-5 * mag + 1e-30,
                          "type %u n %lld R %lld T %d r %lld t %d: %.9g vs %.9g", type,
                          (long long)n, (long long)R, T, (long long)r, t, (double)got, ref);
        }
    }
    for (int t = 0; t < T; t++)
        ck_assert(out[(size_t)t * os + (size_t)R] == -7.0f &&
                  out[(size_t)t * os + (size_t)R + 1] == -7.0f);
    free(w);
    free(x);
    free(wf);
    free(out);
}

START_TEST(test_matmul) {
    rng_state = 555;
    const int64_t Rs[] = {1, 4, 7, 9};
    const int Ts[] = {1, 2, 3, 5, 7};
    for (int ti = 0; ti < NTYPES; ti++) {
        const uint32_t t = ALL_TYPES[ti];
        /* 1280 and 3072 cross the 1024-element decode chunks; 2880 is not a multiple of 256 */
        const int64_t ns[] = {256, 1280, 2880, 3072};
        for (size_t k = 0; k < 4; k++) {
            if (quant_row_size(t, ns[k]) == 0) continue;
            for (size_t a = 0; a < 4; a++) check_matmul(t, ns[k], Rs[a], Ts[(a + k) % 5]);
        }
    }
    check_matmul(T_F16, 2051, 5, 4); /* odd length: scalar tails */
    check_matmul(T_F32, 1001, 4, 3);
    check_matmul(T_BF16, 7, 8, 7);
    /* invalid: K-quant with n = 2880 -> NaN */
    float x[2880] = {0}, o[4];
    static uint8_t buf[4096];
    quant_matmul(T_Q4_K, buf, 0, 2, x, 2880, 2, 0, o, 2);
    ck_assert(isnan(o[0]) && isnan(o[1]) && isnan(o[2]) && isnan(o[3]));
}
END_TEST

/* ============================ quantise -> dequantise ======================================== */

static float *gauss_row(int64_t n, float scale) {
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = rng_gauss() * scale;
    /* a few outliers, as in real weights */
    for (int64_t i = 0; i < n; i += 97) x[i] *= 6.0f;
    return x;
}

static float blk_f16(const uint8_t *p) {
    return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

START_TEST(test_roundtrip_bounds) {
    rng_state = 99;
    const int64_t n = 4096;
    float *y = malloc(n * sizeof(float));
    uint8_t *q = malloc(quant_row_size(T_F32, n));
    for (int rep = 0; rep < 4; rep++) {
        float *x = gauss_row(n, rep == 3 ? 1e-3f : 0.05f * (float)(rep + 1));
        /* Q8_0: |err| <= d/2 */
        quant_quantize_row(T_Q8_0, x, q, n);
        quant_dequant_row(T_Q8_0, q, y, n);
        for (int64_t i = 0; i < n; i++) {
            float d = blk_f16(q + (i / 32) * 34);
            ck_assert(fabsf(x[i] - y[i]) <= d * 0.5f * (1 + 1e-6f));
        }
        /* Q4_0 / Q5_0: d = max/-8 (-16): |err| <= |d|/2 except the clamped top code (<= |d|) */
        for (int five = 0; five < 2; five++) {
            uint32_t t = five ? T_Q5_0 : T_Q4_0;
            int bb = five ? 22 : 18, off = five ? 16 : 8;
            quant_quantize_row(t, x, q, n);
            quant_dequant_row(t, q, y, n);
            for (int64_t i = 0; i < n; i++) {
                float d = blk_f16(q + (i / 32) * bb);
                float r = x[i] / d; /* in code units, -off at the signed max */
                float bound = (r <= (float)(off - 1) + 0.5f ? 0.5f : 1.0f) * fabsf(d) * (1 + 1e-5f);
                ck_assert_msg(fabsf(x[i] - y[i]) <= bound, "t %u i %lld", t, (long long)i);
            }
        }
        /* Q4_1 / Q5_1: |err| <= d/2 */
        for (int five = 0; five < 2; five++) {
            uint32_t t = five ? T_Q5_1 : T_Q4_1;
            int bb = five ? 24 : 20;
            quant_quantize_row(t, x, q, n);
            quant_dequant_row(t, q, y, n);
            for (int64_t i = 0; i < n; i++) {
                float d = blk_f16(q + (i / 32) * bb);
                ck_assert(fabsf(x[i] - y[i]) <= d * 0.5f * (1 + 1e-5f) + 1e-12f);
            }
        }
        /* Q4_K / Q5_K: each element decodes to the nearest of its sub-block's levels
         * d*sc*q - dmin*m (q = 0..qmax), and the overall error is that of a 4/5-bit grid */
        for (int five = 0; five < 2; five++) {
            uint32_t t = five ? T_Q5_K : T_Q4_K;
            int bb = five ? 176 : 144, qmax = five ? 31 : 15;
            quant_quantize_row(t, x, q, n);
            quant_dequant_row(t, q, y, n);
            double se = 0, sx = 0;
            for (int64_t i = 0; i < n; i++) {
                const uint8_t *b = q + (i / 256) * bb;
                int sc, m;
                quant_scale_min_k4((int)(i % 256) / 32, b + 4, &sc, &m);
                const float de = blk_f16(b) * (float)sc, me = blk_f16(b + 2) * (float)m;
                float best = INFINITY;
                for (int k = 0; k <= qmax; k++)
                    best = fminf(best, fabsf(de * (float)k - me - x[i]));
                ck_assert_msg(fabsf(x[i] - y[i]) <= best + 1e-6f * (de + me),
                              "t %u i %lld x %g y %g best %g", t, (long long)i, x[i], y[i], best);
                se += (double)(x[i] - y[i]) * (x[i] - y[i]);
                sx += (double)x[i] * x[i];
            }
            /* quality: the fitted scales (even after their 6-bit rounding) must beat the naive
             * min/max grid in exact floats: per 32, levels min(0,min) + k*(max-min)/qmax */
            double se_naive = 0;
            for (int64_t j = 0; j < n; j += 32) {
                float mn = 0.0f, mx = x[j];
                for (int l = 0; l < 32; l++) mn = fminf(mn, x[j + l]), mx = fmaxf(mx, x[j + l]);
                const float step = (mx - mn) / (float)qmax;
                for (int l = 0; l < 32; l++) {
                    float v = step > 0 ? mn + step * rintf((x[j + l] - mn) / step) : mn;
                    se_naive += (double)(v - x[j + l]) * (v - x[j + l]);
                }
            }
            ck_assert_msg(se < se_naive, "t %u rel rms %g, naive min/max grid %g", t, sqrt(se / sx),
                          sqrt(se_naive / sx));
        }
        /* Q6_K: |err| <= d*sc/2 */
        quant_quantize_row(T_Q6_K, x, q, n);
        quant_dequant_row(T_Q6_K, q, y, n);
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *b = q + (i / 256) * 210;
            float de = blk_f16(b + 208) * (float)(int8_t)b[192 + (i % 256) / 16];
            ck_assert(fabsf(x[i] - y[i]) <= fabsf(de) * 0.5f * (1 + 1e-5f) + 1e-7f * fabsf(x[i]));
        }
        /* MXFP4: the exponent follows ggml's rule and every element takes the nearest code */
        quant_quantize_row(T_MXFP4, x, q, n);
        for (int64_t blk = 0; blk < n / 32; blk++) {
            const uint8_t *b = q + blk * 17;
            double amax = 0;
            for (int j = 0; j < 32; j++) amax = fmax(amax, fabs(x[blk * 32 + j]));
            ck_assert_int_eq(b[0], (int)floor(log2(amax)) - 2 + 127);
            for (int j = 0; j < 32; j++) {
                int code = j < 16 ? b[1 + j] & 15 : b[1 + j - 16] >> 4;
                double v = x[blk * 32 + j], best = INFINITY;
                for (int c = 0; c < 16; c++)
                    best = fmin(best, fabs(ldexp(E2M1[c], b[0] - 127) - v));
                ck_assert(fabs(ldexp(E2M1[code], b[0] - 127) - v) == best);
            }
        }
        /* F16 / BF16: relative error <= 2^-11 / 2^-8 (normal range) */
        quant_quantize_row(T_F16, x, q, n);
        quant_dequant_row(T_F16, q, y, n);
        for (int64_t i = 0; i < n; i++)
            ck_assert(fabsf(x[i] - y[i]) <= fabsf(x[i]) * 0x1p-11f + 0x1p-25f);
        quant_quantize_row(T_BF16, x, q, n);
        quant_dequant_row(T_BF16, q, y, n);
        for (int64_t i = 0; i < n; i++) ck_assert(fabsf(x[i] - y[i]) <= fabsf(x[i]) * 0x1p-8f);
        quant_quantize_row(T_F32, x, q, n);
        quant_dequant_row(T_F32, q, y, n);
        ck_assert(memcmp(x, y, n * sizeof(float)) == 0);
        free(x);
    }
    free(q);
    free(y);
}
END_TEST

START_TEST(test_roundtrip_exact_on_grid) {
    rng_state = 7;
    float x[256], y[256];
    uint8_t q[256 * 4];
    /* Q8_0: d = 0.125 (exact in f16), codes in -127..127 with one at +-127 */
    for (int j = 0; j < 32; j++) x[j] = 0.125f * (float)((int)(rng_u64() % 255) - 127);
    x[5] = -127 * 0.125f;
    quant_quantize_row(T_Q8_0, x, q, 32);
    quant_dequant_row(T_Q8_0, q, y, 32);
    for (int j = 0; j < 32; j++) ck_assert(y[j] == x[j]);
    /* Q4_0 / Q5_0: codes -8..7 (-16..15) times d = 0.25 with the signed max at -8 (-16) */
    for (int five = 0; five < 2; five++) {
        int off = five ? 16 : 8;
        for (int j = 0; j < 32; j++) x[j] = 0.25f * (float)((int)(rng_u64() % (2 * off)) - off);
        x[9] = -0.25f * (float)off;
        uint32_t t = five ? T_Q5_0 : T_Q4_0;
        quant_quantize_row(t, x, q, 32);
        quant_dequant_row(t, q, y, 32);
        for (int j = 0; j < 32; j++) ck_assert(y[j] == x[j]);
    }
    /* Q4_1 / Q5_1: m = -1, d = 0.125, codes 0..15 (0..31) with both ends present */
    for (int five = 0; five < 2; five++) {
        int qmax = five ? 31 : 15;
        for (int j = 0; j < 32; j++) x[j] = -1.0f + 0.125f * (float)(rng_u64() % (qmax + 1));
        x[3] = -1.0f;
        x[20] = -1.0f + 0.125f * (float)qmax;
        uint32_t t = five ? T_Q5_1 : T_Q4_1;
        quant_quantize_row(t, x, q, 32);
        quant_dequant_row(t, q, y, 32);
        for (int j = 0; j < 32; j++) ck_assert(y[j] == x[j]);
    }
    /* MXFP4: E2M1 values times 2^(e-127) with the top magnitude 6 present: exact */
    for (int j = 0; j < 32; j++) x[j] = (float)ldexp(E2M1[rng_u64() % 16], 3);
    x[11] = -48.0f;
    quant_quantize_row(T_MXFP4, x, q, 32);
    ck_assert_uint_eq(q[0], 130);
    quant_dequant_row(T_MXFP4, q, y, 32);
    for (int j = 0; j < 32; j++) ck_assert(y[j] == x[j]);
    /* F16 / BF16: representable values are kept exactly */
    for (int j = 0; j < 256; j++) x[j] = quant_f16_to_f32((uint16_t)(rng_u64() & 0x7BFF));
    quant_quantize_row(T_F16, x, q, 256);
    quant_dequant_row(T_F16, q, y, 256);
    for (int j = 0; j < 256; j++) ck_assert(y[j] == x[j]);
    for (int j = 0; j < 256; j++) x[j] = quant_bf16_to_f32((uint16_t)(rng_u64() & 0x7F7F));
    quant_quantize_row(T_BF16, x, q, 256);
    quant_dequant_row(T_BF16, q, y, 256);
    for (int j = 0; j < 256; j++) ck_assert(y[j] == x[j]);
    /* zero blocks stay zero in every format */
    memset(x, 0, sizeof x);
    for (int ti = 0; ti < NTYPES; ti++) {
        quant_quantize_row(ALL_TYPES[ti], x, q, 256);
        quant_dequant_row(ALL_TYPES[ti], q, y, 256);
        for (int j = 0; j < 256; j++) ck_assert(y[j] == 0.0f);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_f16_to_f32_known);
    tcase_add_test(tc, test_f16_formula_all);
    tcase_add_test(tc, test_f32_to_f16_rounding);
#ifdef __FLT16_MAX__
    tcase_add_test(tc, test_f32_to_f16_vs_compiler);
#endif
    tcase_add_test(tc, test_bf16);
    tcase_add_test(tc, test_e8m0);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_q8_0_known);
    tcase_add_test(tc, test_q4_0_known);
    tcase_add_test(tc, test_q4_1_known);
    tcase_add_test(tc, test_q5_0_known);
    tcase_add_test(tc, test_q5_1_known);
    tcase_add_test(tc, test_k_scale_unpack);
    tcase_add_test(tc, test_q4_k_known);
    tcase_add_test(tc, test_q5_k_known);
    tcase_add_test(tc, test_q6_k_known);
    tcase_add_test(tc, test_mxfp4_codes);
    tcase_add_test(tc, test_mxfp4_edge_exponents);
    tcase_add_test(tc, test_mxfp4_quantize_rule);
    tcase_add_test(tc, test_mxfp4_ggml_golden);
    tcase_add_test(tc, test_mxfp4_hf_repack);
    tcase_add_test(tc, test_dot_all_formats);
    tcase_add_test(tc, test_dequant_fast_equals_portable);
    tcase_add_test(tc, test_matmul);
    tcase_add_test(tc, test_roundtrip_bounds);
    tcase_add_test(tc, test_roundtrip_exact_on_grid);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
