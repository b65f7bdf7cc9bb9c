/* kernelcheck.h — what the CUDA kernel tests (test/cuda/test_cuda_*.c) share: a seeded
 * random source, NMSE, device buffers that fail the test when the runtime fails, activation
 * buffers and random quantised matrices (header only; each test binary has its own generator
 * state, seeded alike). */
#ifndef GPTC_TEST_KERNELCHECK_H
#define GPTC_TEST_KERNELCHECK_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gtc.h"
#include "engine/quant.h"
#include "gguf/gguf.h"

static uint64_t rng_s = 0x9E3779B97F4A7C15ull;
/* ~N(0,1)-ish: sum of 4 uniforms, scaled */
static inline float frand(void) {
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng_s ^= rng_s << 13;
        rng_s ^= rng_s >> 7;
        rng_s ^= rng_s << 17;
        s += (float)((rng_s >> 11) * (1.0 / 9007199254740992.0)) - 0.5f;
    }
    return s * 1.732f;
}
static inline float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}
static inline double nmse(const float *a, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        if (isnan(a[i])) return INFINITY;
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}
static inline void *dev_alloc(size_t bytes) {
    void *p = NULL;
    ck_assert_msg(gtc_malloc(&p, bytes) == 0, "%s", gtc_last_error());
    return p;
}
static inline void *dev_upload(const void *h, size_t bytes) {
    void *p = dev_alloc(bytes);
    ck_assert_int_eq(gtc_h2d(p, h, bytes), 0);
    return p;
}
static inline void dev_poison(void *d, size_t bytes) {
    void *h = malloc(bytes);
    memset(h, 0xff, bytes); /* NaN floats */
    ck_assert_int_eq(gtc_h2d(d, h, bytes), 0);
    free(h);
}
static inline float *dev_download(const void *d, size_t n) {
    float *h = malloc(n * sizeof(float));
    ck_assert_msg(gtc_d2h(h, d, n * sizeof(float)) == 0, "%s", gtc_last_error());
    return h;
}
/* device activation buffers for T rows of n */
static inline gtc_act act_new(int T, int n) {
    gtc_act a;
    a.n = n;
    a.f = dev_alloc((size_t)T * n * 4);
    a.q = dev_alloc((size_t)T * n * 2);
    a.qi = dev_alloc((size_t)T * n * 2);
    a.s = dev_alloc((size_t)T * n / 32 * 4 + 4);
    a.qsum = dev_alloc((size_t)T * n / 32 * 4 + 4);
    a.h = dev_alloc((size_t)T * n * 2 * 2);
    return a;
}
static inline void act_free(gtc_act *a) {
    gtc_free(a->f);
    gtc_free(a->q);
    gtc_free(a->qi);
    gtc_free(a->s);
    gtc_free(a->qsum);
    gtc_free(a->h);
}
/* random quantised matrix of rows x n of `type` (host, GGUF layout) */
static inline uint8_t *rand_matrix(uint32_t type, int64_t rows, int64_t n, float scale) {
    size_t rb = ggml_row_size(type, n);
    uint8_t *m = malloc(rb * rows);
    float *tmp = malloc(n * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++) tmp[i] = frand() * scale;
        quant_quantize_row(type, tmp, m + r * rb, n);
    }
    free(tmp);
    return m;
}

/* The arguments of one single-sequence attention call (cuda/gtc.h gtc_attn_args) over T rows of
 * qkv = [q of nh heads | k of nkv heads | v of nkv heads] (hd 64 each, row stride ld floats),
 * positions from *dpos, scale 1/8; RoPE off (inv_freq NULL, mscale 1), no fusing, no counters:
 * the caller sets those and sinks / qout when it wants them. */
static inline gtc_attn_args kc_attn_args(float *qkv, int ld, int T, int nh, int nkv,
                                         const int32_t *dpos, void *kc, void *vc, int kv_type,
                                         int ring, int max_pos, int window, float *part,
                                         float *out) {
    gtc_attn_args a;
    memset(&a, 0, sizeof a);
    a.q = qkv;
    a.k = qkv + nh * 64;
    a.v = qkv + (nh + nkv) * 64;
    a.ld = ld;
    a.T = T;
    a.n_head = nh;
    a.n_kv = nkv;
    a.hd = 64;
    a.mscale = 1.f;
    a.d_pos0 = dpos;
    a.kc = kc;
    a.vc = vc;
    a.kv_type = kv_type;
    a.ring = ring;
    a.max_pos = max_pos;
    a.window = window;
    a.scale = 0.125f;
    a.part = part;
    a.out = out;
    return a;
}

/* n bytes of device memory copied to the host (free() it) */
static inline void *dev_copy(const void *d, size_t n) {
    void *h = malloc(n ? n : 1);
    ck_assert_msg(gtc_d2h(h, d, n) == 0, "%s", gtc_last_error());
    return h;
}
/* 1 when n bytes of device memory equal the host bytes h */
static inline int dev_equals(const void *d, const void *h, size_t n) {
    void *x = dev_copy(d, n);
    const int eq = memcmp(x, h, n) == 0;
    free(x);
    return eq;
}

/* x rounded as a KV cache of kv_type stores it (fp32: as is; f16; Q8_0 blocks of 32 with an f16
 * scale amax / 127 and roundf quants, as ggml) */
static inline void kv_round(int kv_type, float *x, size_t n) {
    if (kv_type == GTC_KV_F16)
        for (size_t i = 0; i < n; i++) x[i] = quant_f16_to_f32(quant_f32_to_f16(x[i]));
    if (kv_type != GTC_KV_Q8_0) return;
    for (size_t b = 0; b < n / 32; b++) {
        float *v = x + 32 * b, amax = 0.f;
        for (int j = 0; j < 32; j++) amax = fabsf(v[j]) > amax ? fabsf(v[j]) : amax;
        const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
        const float dh = quant_f16_to_f32(quant_f32_to_f16(d));
        for (int j = 0; j < 32; j++) v[j] = dh * (float)(int)roundf(v[j] * id);
    }
}
/* a cache row (n elements of kv_type) read back to fp32 */
static inline void kv_row_f32(int kv_type, const uint8_t *row, float *out, int n) {
    for (int i = 0; i < n; i++) {
        if (kv_type == GTC_KV_F32) {
            memcpy(out + i, row + 4 * (size_t)i, 4);
        } else if (kv_type == GTC_KV_F16) {
            uint16_t h;
            memcpy(&h, row + 2 * (size_t)i, 2);
            out[i] = quant_f16_to_f32(h);
        } else {
            const uint8_t *b = row + (size_t)(i / 32) * 34;
            out[i] = quant_f16_to_f32((uint16_t)(b[0] | b[1] << 8)) * (float)(int8_t)b[2 + i % 32];
        }
    }
}

#endif
