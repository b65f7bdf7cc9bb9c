/* test_cuda_attn_mma.c — the tensor-core prompt attention kernel (cuda/attention_mma.cu,
 * GPTC_CUDA_ATTN_MMA_MIN_T) against the CPU twin op_attention (engine/ops.h) fed the values the
 * kernel computes with: q rounded to fp16, and the K / V rows read back from the device caches
 * as fp16 (f16 caches: exact; Q8_0: f16(d * q), as the kernel converts them). What is left is
 * the kernel's fp16 probabilities (~1e-7), so the bound is NMSE 1e-6 per token.
 * Cases: f16 and Q8_0 caches; G = n_head / n_kv = 1, 2, 4, 8; full attention (several key splits,
 * merged by attn_combine) and a 128-key window (one split: the kernel finishes the rows itself),
 * with and without a ring; prompt chunks after earlier chunks (every row of a block its own key
 * range) of lengths that are not multiples of 64 / G; sinks or none; the int16 copy of the output
 * or none; a 15-token chunk that must take the tile kernel. Every call is checked to have used
 * the tensor-core kernel exactly when T >= 16 (gtc_attn_mma_calls).
 * GPU machine only: `make test-cuda`. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gtc.h"
#include "engine/ops.h"
#include "engine/quant.h"
#include "test/util/kernelcheck.h"
#include "test/util/tucheck.h"

#define MMA_MIN_T 16

static float f16r(float x) {
    return quant_f16_to_f32(quant_f32_to_f16(x));
}

/* a cache row (n elements of kv_type) as the kernel reads it: fp16, or Q8_0's f16(d * q) */
static void row_as_f16(int kv_type, const uint8_t *row, float *out, int n) {
    kv_row_f32(kv_type, row, out, n);
    for (int i = 0; i < n; i++) out[i] = f16r(out[i]); /* f16 values: unchanged */
}

typedef struct {
    int kv_type, n_head, n_kv;
    int window, ring; /* window 0: full attention; ring 0: one cache row per position */
    int sinks, qout;
    float qscale; /* spread of q (larger: sharper softmax) */
    const int *chunks;
    int n_chunks;
} mma_case_t;

static void mma_case(const mma_case_t *c) {
    const int nh = c->n_head, nkv = c->n_kv, hd = 64, qw = nh * hd + 2 * nkv * hd;
    const int n = nkv * hd;
    int N = 0, maxT = 0;
    for (int i = 0; i < c->n_chunks; i++) {
        N += c->chunks[i];
        maxT = c->chunks[i] > maxT ? c->chunks[i] : maxT;
    }
    const int n_ctx = N + 8;
    float *qkv = rand_vec((size_t)N * qw, 1.0f), *sinks = rand_vec(nh, 1.0f);
    for (size_t p = 0; p < (size_t)N; p++)
        for (int i = 0; i < nh * hd; i++) qkv[p * qw + i] *= c->qscale;
    float *dsinks = dev_upload(sinks, nh * 4);
    const int rows = c->ring > 0 ? c->ring : n_ctx;
    const size_t rb = gtc_kv_row_bytes(c->kv_type, n);
    uint8_t *kc = dev_alloc((size_t)rows * rb), *vc = dev_alloc((size_t)rows * rb);
    dev_poison(kc, (size_t)rows * rb); /* NaN halves / scales: a stray read shows */
    dev_poison(vc, (size_t)rows * rb);
    const size_t part_n = gtc_attn_part_floats(maxT, nh, n_ctx);
    float *part = dev_alloc(part_n * 4), *dout = dev_alloc((size_t)maxT * nh * hd * 4);
    /* the twin's keys and values of every position (as stored), its q, its output */
    float *hk = malloc((size_t)N * n * 4), *hv = malloc((size_t)N * n * 4);
    uint8_t *gk = malloc((size_t)rows * rb), *gv = malloc((size_t)rows * rb);
    float *qh = malloc((size_t)nh * hd * 4), *ref = malloc((size_t)nh * hd * 4);
    float *scratch = malloc((size_t)N * 4);
    int p0 = 0;
    for (int ci = 0; ci < c->n_chunks; ci++) {
        const int T = c->chunks[ci];
        float *dqkv = dev_upload(qkv + (size_t)p0 * qw, (size_t)T * qw * 4);
        int32_t *dpos = dev_upload(&p0, 4);
        gtc_act qa;
        memset(&qa, 0, sizeof qa);
        if (c->qout) {
            qa = act_new(T, nh * hd);
            dev_poison(qa.q, (size_t)T * nh * hd * 2); /* unwritten: -1 with a NaN scale */
            dev_poison(qa.s, (size_t)T * nh * hd / 32 * 4);
        }
        gtc_attn_args aa = kc_attn_args(dqkv, qw, T, nh, nkv, dpos, kc, vc, c->kv_type, c->ring,
                                        n_ctx - 1, c->window, part, dout);
        aa.sinks = c->sinks ? dsinks : NULL; /* no RoPE: q stays what was uploaded */
        aa.qout = c->qout ? &qa : NULL;
        ck_assert_msg(gtc_rope_store(&aa, NULL) == 0, "%s", gtc_last_error());
        dev_poison(dout, (size_t)T * nh * hd * 4);
        dev_poison(part, part_n * 4); /* every record the merge reads must be written */
        const unsigned long calls = gtc_attn_mma_calls();
        ck_assert_msg(gtc_attention(&aa, NULL) == 0, "%s", gtc_last_error());
        ck_assert_msg(gtc_attn_mma_calls() == calls + (T >= MMA_MIN_T),
                      "chunk of %d tokens: %lu tensor-core launches, expected %d", T,
                      gtc_attn_mma_calls() - calls, T >= MMA_MIN_T);
        /* this chunk's rows as stored (earlier positions were read after their chunk, before a
         * ring could overwrite them) */
        ck_assert_int_eq(gtc_d2h(gk, kc, (size_t)rows * rb), 0);
        ck_assert_int_eq(gtc_d2h(gv, vc, (size_t)rows * rb), 0);
        for (int t = 0; t < T; t++) {
            const int p = p0 + t, r = c->ring > 0 ? p % c->ring : p;
            row_as_f16(c->kv_type, gk + (size_t)r * rb, hk + (size_t)p * n, n);
            row_as_f16(c->kv_type, gv + (size_t)r * rb, hv + (size_t)p * n, n);
        }
        float *got = dev_download(dout, (size_t)T * nh * hd);
        for (int t = 0; t < T; t++) {
            const int p = p0 + t;
            const int lo = c->window > 0 && p - c->window + 1 > 0 ? p - c->window + 1 : 0;
            const float *q = qkv + (size_t)p * qw;
            for (int i = 0; i < nh * hd; i++) qh[i] = f16r(q[i]);
            op_attention(ref, qh, hk + (size_t)lo * n, hv + (size_t)lo * n, p - lo + 1, nh, nkv, hd,
                         c->sinks ? sinks : NULL, 0.125f, scratch);
            const double e = nmse(got + (size_t)t * nh * hd, ref, (size_t)nh * hd);
            ck_assert_msg(e <= 1e-6,
                          "pos %d (chunk %d of %d tokens; cache type %d, heads %d/%d, window %d, "
                          "ring %d, sinks %d): nmse %g",
                          p, ci, T, c->kv_type, nh, nkv, c->window, c->ring, c->sinks, e);
        }
        if (c->qout) { /* the int16 copy matches the fp32 output within half a step */
            const size_t ne = (size_t)T * nh * hd;
            int16_t *hq = malloc(ne * 2);
            float *hs = dev_download(qa.s, ne / 32);
            ck_assert_int_eq(gtc_d2h(hq, qa.q, ne * 2), 0);
            for (size_t i = 0; i < ne; i++)
                ck_assert_msg(fabsf(hq[i] * hs[i / 32] - got[i]) <=
                                  0.5f * hs[i / 32] + 1e-6f * fabsf(got[i]) + 1e-7f,
                              "int16 copy element %zu of chunk %d: %d * %g vs %g", i, ci, hq[i],
                              hs[i / 32], got[i]);
            free(hq);
            free(hs);
            act_free(&qa);
        }
        free(got);
        gtc_free(dqkv);
        gtc_free(dpos);
        p0 += T;
    }
    free(qkv);
    free(sinks);
    free(hk);
    free(hv);
    free(gk);
    free(gv);
    free(qh);
    free(ref);
    free(scratch);
    gtc_free(dsinks);
    gtc_free(kc);
    gtc_free(vc);
    gtc_free(part);
    gtc_free(dout);
}

/* (n_head, n_kv) for G = 1, 2, 4, 8 */
static const int heads[4][2] = {{3, 3}, {6, 3}, {8, 2}, {16, 2}};

/* Full attention over 501 positions (2 splits of the keys at most): chunks of 333 (not a
 * multiple of 64 / G for any G), 45, 15 (the tile kernel) and 100 tokens after them; sinks
 * and the int16 copy in two of the four G each. */
static void full_cases(int kv_type) {
    const int chunks[] = {333, 45, 15, 100};
    for (int gi = 0; gi < 4; gi++) {
        const mma_case_t c = {.kv_type = kv_type,
                              .n_head = heads[gi][0],
                              .n_kv = heads[gi][1],
                              .sinks = !(gi & 1),
                              .qout = !(gi >> 1),
                              .qscale = 1.f,
                              .chunks = chunks,
                              .n_chunks = 4};
        mma_case(&c);
    }
}
/* A 128-key window (one split), crossing the window's edge within chunks: in a ring of 127 +
 * 100 rows (wrapping) for G = 1, 2, one row per position for G = 4, 8; the other halves of the
 * sinks / int16-copy combinations; a first chunk of 15 tokens (the tile kernel at p0 = 0). */
static void window_cases(int kv_type) {
    const int chunks[] = {15, 85, 60, 70, 100, 37};
    for (int gi = 0; gi < 4; gi++) {
        const mma_case_t c = {.kv_type = kv_type,
                              .n_head = heads[gi][0],
                              .n_kv = heads[gi][1],
                              .window = 128,
                              .ring = gi < 2 ? 127 + 100 : 0,
                              .sinks = gi & 1,
                              .qout = gi >> 1,
                              .qscale = 1.f,
                              .chunks = chunks,
                              .n_chunks = 6};
        mma_case(&c);
    }
}

START_TEST(test_attn_mma_f16) {
    gtc_attn_set_vec_max_t(0); /* the decode kernel would take the short chunks */
    gtc_attn_set_mma_min_t(MMA_MIN_T);
    full_cases(GTC_KV_F16);
    window_cases(GTC_KV_F16);
    gtc_attn_set_mma_min_t(-1);
    gtc_attn_set_vec_max_t(-1);
}
END_TEST

START_TEST(test_attn_mma_q8_0) {
    gtc_attn_set_vec_max_t(0); /* the decode kernel would take the short chunks */
    gtc_attn_set_mma_min_t(MMA_MIN_T);
    full_cases(GTC_KV_Q8_0);
    window_cases(GTC_KV_Q8_0);
    gtc_attn_set_mma_min_t(-1);
    gtc_attn_set_vec_max_t(-1);
}
END_TEST

/* 888 positions: up to 4 key splits (on an H100's 132 SMs: 3 for the 800-token chunk, 4 for
 * the short ones after it); a sharper softmax (q twice as large) */
START_TEST(test_attn_mma_splits) {
    const int chunks[] = {800, 64, 16};
    gtc_attn_set_vec_max_t(0); /* the decode kernel would take the short chunks */
    gtc_attn_set_mma_min_t(MMA_MIN_T);
    for (int kt = GTC_KV_F16; kt <= GTC_KV_Q8_0; kt++) {
        const mma_case_t c = {.kv_type = kt,
                              .n_head = 8,
                              .n_kv = 2,
                              .sinks = kt == GTC_KV_F16,
                              .qout = 1,
                              .qscale = 2.f,
                              .chunks = chunks,
                              .n_chunks = 3};
        mma_case(&c);
    }
    /* 353 context rows: 2 splits of 64-key multiples from key 0; the 100-token chunk at 45 has
     * a block (G = 1: positions 45..108; G = 2: 45..76) whose first rows end before the second
     * split begins (key 64) while its later rows reach into it */
    const int c2[] = {45, 100, 200};
    for (int gi = 0; gi < 2; gi++) {
        const mma_case_t c = {.kv_type = GTC_KV_F16,
                              .n_head = heads[gi][0],
                              .n_kv = heads[gi][1],
                              .sinks = gi,
                              .qout = !gi,
                              .qscale = 1.f,
                              .chunks = c2,
                              .n_chunks = 3};
        mma_case(&c);
    }
    gtc_attn_set_mma_min_t(-1);
    gtc_attn_set_vec_max_t(-1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cuda_attn_mma");
    TU_CASE(s, test_attn_mma_f16, 300);
    TU_CASE(s, test_attn_mma_q8_0, 300);
    TU_CASE(s, test_attn_mma_splits, 300);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
