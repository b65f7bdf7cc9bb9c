/* test_cuda_kernels.c — every CUDA kernel (cuda/gtc.h) against its CPU twin (engine/ops.h,
 * engine/quant.h) on random inputs with awkward shapes: odd row counts, every weight format,
 * one expert chosen by every token, positions across the sliding-window edge, many attention
 * splits. Bounds (llama.cpp test-backend-ops): NMSE <= 1e-7 for fp32 ops, <= 5e-4 for
 * quantised matrix products (the GPU quantises activations to int8 per 32 like llama.cpp).
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
#include "gguf/gguf.h"
#include "test/util/kernelcheck.h"
#include "test/util/tucheck.h"

static const uint32_t all_types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,   GGML_TYPE_BF16,
                                     GGML_TYPE_Q8_0, GGML_TYPE_MXFP4, GGML_TYPE_Q4_0,
                                     GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,  GGML_TYPE_Q5_1,
                                     GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,  GGML_TYPE_Q6_K};
#define N_TYPES (sizeof all_types / sizeof all_types[0])
static int is_float_type(uint32_t t) {
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16;
}

/* ---- GEMV: every format, odd rows, bias ---------------------------------------------------- */
/* widths: 512 (16 blocks of 32: half the lanes idle), 2880 (gpt-oss: 90 blocks, a partial run of
 * 4 per lane; 32-element formats only) and 4352 (136 blocks: a second run); the packed formats
 * both on their integer path and, without the block sums (qsum NULL), on the fp32 path */
START_TEST(test_gemv_formats) {
    const int64_t widths[3] = {512, 2880, 4352}, rows = 67;
    for (size_t ti = 0; ti < N_TYPES; ti++)
        for (int wi = 0; wi < 3; wi++)
            for (int fb = 0; fb < 2; fb++) {
                uint32_t type = all_types[ti];
                const int64_t n = widths[wi];
                if (n % quant_block_elems(type)) continue;
                uint8_t *W = rand_matrix(type, rows, n, 0.05f);
                float *x = rand_vec(n, 1.0f), *bias = rand_vec(rows, 0.1f);
                gtc_mat m;
                ck_assert_msg(gtc_upload_matrix(type, W, n, rows, rows, &m) == 0, "%s",
                              gtc_last_error());
                gtc_act a = act_new(1, (int)n);
                float *dx = dev_upload(x, n * 4), *db = dev_upload(bias, rows * 4);
                float *dy = dev_alloc(rows * 4);
                dev_poison(dy, rows * 4);
                ck_assert_int_eq(
                    gtc_prep_act(dx, 1, (int)n, GTC_NORM_NONE, NULL, NULL, 0, &a, NULL), 0);
                gtc_act ax = a;
                if (fb) ax.qsum = NULL;
                gtc_gemv_seg sg = {m, db, dy, 0, GTC_ACT_NONE, 0};
                ck_assert_msg(gtc_gemv(&sg, 1, &ax, 1, NULL) == 0, "%s", gtc_last_error());
                float *y = dev_download(dy, rows);
                float *ref = malloc(rows * 4);
                size_t rb = ggml_row_size(type, n);
                for (int64_t r = 0; r < rows; r++)
                    ref[r] = quant_dot(type, W + r * rb, x, n) + bias[r];
                double e = nmse(y, ref, rows);
                double lim = is_float_type(type) ? 1e-7 : 5e-4;
                ck_assert_msg(e <= lim, "gemv type %u n %lld%s: nmse %g > %g", type, (long long)n,
                              fb ? " (fp32 path)" : "", e, lim);
                free(W);
                free(x);
                free(bias);
                free(y);
                free(ref);
                gtc_free((void *)m.base);
                gtc_free(dx);
                gtc_free(db);
                gtc_free(dy);
                act_free(&a);
            }
}
END_TEST

/* The upload repacks in chunks of rows (cuda/backend.c): two chunks give the same device bytes
 * as one, for every split / packed format. */
START_TEST(test_repack_chunks) {
    const int64_t n = 512, rows = 11;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = all_types[ti];
        if (!gtc_type_split(type)) continue;
        uint8_t *W = rand_matrix(type, rows, n, 1.0f);
        const size_t rb = ggml_row_size(type, n), bytes = rb * rows;
        gtc_mat m;
        ck_assert_int_eq(gtc_upload_matrix(type, W, n, rows, rows, &m), 0);
        uint8_t *one = malloc(bytes), *two = malloc(bytes);
        ck_assert_int_eq(gtc_d2h(one, m.base, bytes), 0);
        uint8_t *raw = dev_alloc(bytes), *dst = dev_alloc(bytes);
        ck_assert_int_eq(gtc_h2d(raw, W, 4 * rb), 0);
        ck_assert_int_eq(gtc_repack_split(type, raw, dst, n, rows, 0, 4, NULL), 0);
        ck_assert_int_eq(gtc_h2d(raw, W + 4 * rb, bytes - 4 * rb), 0);
        ck_assert_int_eq(gtc_repack_split(type, raw, dst, n, rows, 4, rows - 4, NULL), 0);
        ck_assert_int_eq(gtc_d2h(two, dst, bytes), 0);
        ck_assert_msg(memcmp(one, two, bytes) == 0, "repack type %u: chunks differ", type);
        free(W);
        free(one);
        free(two);
        gtc_free(raw);
        gtc_free(dst);
        gtc_free((void *)m.base);
    }
}
END_TEST

/* several tokens per launch: a warp takes its row through tl tokens (tl = T for a matrix of
 * 8300 rows, tl = 2 with 4 token groups for 1500 rows) */
START_TEST(test_gemv_tokens) {
    const int64_t n = 256;
    const int T = 7;
    const uint32_t types[10] = {GGML_TYPE_Q8_0, GGML_TYPE_MXFP4, GGML_TYPE_Q4_K, GGML_TYPE_F16,
                                GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,  GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                                GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
    const int64_t rows_v[2] = {8300, 1500};
    float *x = rand_vec((size_t)T * n, 1.0f);
    float *dx = dev_upload(x, (size_t)T * n * 4);
    gtc_act a = act_new(T, (int)n);
    ck_assert_int_eq(gtc_prep_act(dx, T, (int)n, GTC_NORM_NONE, NULL, NULL, 0, &a, NULL), 0);
    for (int ti = 0; ti < 10; ti++)
        for (int ri = 0; ri < 2; ri++) {
            const uint32_t type = types[ti];
            const int64_t rows = rows_v[ri], ld = rows + 3;
            uint8_t *W = rand_matrix(type, rows, n, 0.05f);
            gtc_mat m;
            ck_assert_int_eq(gtc_upload_matrix(type, W, n, rows, rows, &m), 0);
            float *dy = dev_alloc((size_t)T * ld * 4);
            dev_poison(dy, (size_t)T * ld * 4);
            gtc_gemv_seg sg = {m, NULL, dy, 0, GTC_ACT_NONE, (int)ld};
            ck_assert_msg(gtc_gemv(&sg, 1, &a, T, NULL) == 0, "%s", gtc_last_error());
            float *y = dev_download(dy, (size_t)T * ld);
            float *ref = malloc(rows * 4), *got = malloc(rows * 4);
            size_t rb = ggml_row_size(type, n);
            for (int t = 0; t < T; t++) {
                for (int64_t r = 0; r < rows; r++) {
                    ref[r] = quant_dot(type, W + r * rb, x + (size_t)t * n, n);
                    got[r] = y[(size_t)t * ld + r];
                }
                double e = nmse(got, ref, rows);
                double lim = is_float_type(type) ? 1e-7 : 5e-4;
                ck_assert_msg(e <= lim, "gemv type %u rows %lld token %d: nmse %g", type,
                              (long long)rows, t, e);
            }
            free(W);
            free(y);
            free(ref);
            free(got);
            gtc_free((void *)m.base);
            gtc_free(dy);
        }
    free(x);
    gtc_free(dx);
    act_free(&a);
}
END_TEST

/* tensor-core products (gtc_mmq) for Q8_0 / MXFP4: 67 rows (a partial 16-row tile), the gpt-oss
 * width 2880, T = 1, 7, 12, 33 tokens (each kernel shape; a second group of 32), bias + add and
 * GELU epilogues */
START_TEST(test_mmq) {
    const int64_t n = 2880, rows = 67, ld = 70;
    const uint32_t types[2] = {GGML_TYPE_Q8_0, GGML_TYPE_MXFP4};
    const int Ts[4] = {1, 7, 12, 33}; /* kernel shapes: 8 tokens per group, 16, 32 */
    for (int ti = 0; ti < 2; ti++)
        for (int k = 0; k < 4; k++) {
            const uint32_t type = types[ti];
            const int T = Ts[k], act = k == 1 ? GTC_ACT_GELU : GTC_ACT_NONE, add = k >= 2;
            uint8_t *W = rand_matrix(type, rows, n, 0.05f);
            float *x = rand_vec((size_t)T * n, 1.0f), *bias = rand_vec(rows, 0.1f);
            float *y0 = rand_vec((size_t)T * ld, 1.0f);
            gtc_mat m;
            ck_assert_int_eq(gtc_upload_matrix(type, W, n, rows, rows, &m), 0);
            gtc_act a = act_new(T, (int)n);
            float *dx = dev_upload(x, (size_t)T * n * 4), *db = dev_upload(bias, rows * 4);
            float *dy = dev_upload(y0, (size_t)T * ld * 4);
            ck_assert_int_eq(gtc_prep_act(dx, T, (int)n, GTC_NORM_NONE, NULL, NULL, 0, &a, NULL),
                             0);
            ck_assert(gtc_mmq_supported(&m, &a));
            gtc_gemv_seg sg = {m, db, dy, add, act, (int)ld};
            ck_assert_msg(gtc_mmq(&sg, 1, &a, T, NULL) == 0, "%s", gtc_last_error());
            float *y = dev_download(dy, (size_t)T * ld);
            float *ref = malloc(rows * 4), *got = malloc(rows * 4);
            size_t rb = ggml_row_size(type, n);
            for (int t = 0; t < T; t++) {
                for (int64_t r = 0; r < rows; r++) {
                    float v = quant_dot(type, W + r * rb, x + (size_t)t * n, n) + bias[r];
                    if (act == GTC_ACT_GELU) op_gelu_tanh(&v, &v, 1);
                    ref[r] = add ? y0[(size_t)t * ld + r] + v : v;
                    got[r] = y[(size_t)t * ld + r];
                }
                double e = nmse(got, ref, rows);
                ck_assert_msg(e <= 5e-4, "mmq type %u T %d token %d: nmse %g", type, T, t, e);
                /* rows past the matrix untouched */
                for (int64_t r = rows; r < ld; r++)
                    ck_assert_float_eq(y[(size_t)t * ld + r], y0[(size_t)t * ld + r]);
            }
            free(W);
            free(x);
            free(bias);
            free(y0);
            free(y);
            free(ref);
            free(got);
            gtc_free((void *)m.base);
            gtc_free(dx);
            gtc_free(db);
            gtc_free(dy);
            act_free(&a);
        }
}
END_TEST

/* three segments in one launch (q, k, v) with the add / GELU epilogues */
START_TEST(test_gemv_segments) {
    const int64_t n = 2880; /* gpt-oss width: 90 blocks, not a multiple of 128 */
    const uint32_t types[3] = {GGML_TYPE_Q8_0, GGML_TYPE_MXFP4, GGML_TYPE_F16};
    const int64_t rows[3] = {33, 17, 5};
    const int acts[3] = {GTC_ACT_GELU, GTC_ACT_NONE, GTC_ACT_NONE}, adds[3] = {0, 1, 0};
    uint8_t *W[3];
    gtc_mat m[3];
    float *dy[3], *y0[3];
    float *x = rand_vec(n, 1.0f);
    float *dx = dev_upload(x, n * 4);
    gtc_act a = act_new(1, (int)n);
    ck_assert_int_eq(gtc_prep_act(dx, 1, (int)n, GTC_NORM_NONE, NULL, NULL, 0, &a, NULL), 0);
    gtc_gemv_seg sg[3];
    for (int i = 0; i < 3; i++) {
        W[i] = rand_matrix(types[i], rows[i], n, 0.03f);
        ck_assert_int_eq(gtc_upload_matrix(types[i], W[i], n, rows[i], rows[i], &m[i]), 0);
        y0[i] = rand_vec(rows[i], 1.0f);
        dy[i] = dev_upload(y0[i], rows[i] * 4);
        sg[i] = (gtc_gemv_seg){m[i], NULL, dy[i], adds[i], acts[i], 0};
    }
    ck_assert_int_eq(gtc_gemv(sg, 3, &a, 1, NULL), 0);
    for (int i = 0; i < 3; i++) {
        float *y = dev_download(dy[i], rows[i]), *ref = malloc(rows[i] * 4);
        size_t rb = ggml_row_size(types[i], n);
        for (int64_t r = 0; r < rows[i]; r++) {
            float v = quant_dot(types[i], W[i] + r * rb, x, n);
            if (acts[i] == GTC_ACT_GELU) op_gelu_tanh(&v, &v, 1);
            ref[r] = adds[i] ? y0[i][r] + v : v;
        }
        double e = nmse(y, ref, rows[i]);
        ck_assert_msg(e <= (i == 2 ? 1e-7 : 5e-4), "segment %d: nmse %g", i, e);
        free(y);
        free(ref);
        free(W[i]);
        free(y0[i]);
        gtc_free(dy[i]);
        gtc_free((void *)m[i].base);
    }
    free(x);
    gtc_free(dx);
    act_free(&a);
}
END_TEST

/* ---- dequantisation to f16 (prefill path) and the embedding gather -------------------------- */
START_TEST(test_dequant_embed) {
    const int64_t n = 512, rows = 9;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = all_types[ti];
        uint8_t *W = rand_matrix(type, rows, n, 1.0f);
        gtc_mat m;
        ck_assert_int_eq(gtc_upload_matrix(type, W, n, rows, rows, &m), 0);
        uint16_t *d16 = dev_alloc(rows * n * 2);
        ck_assert_int_eq(gtc_dequant_f16(&m, 0, 2, rows - 2, d16, NULL, NULL), 0);
        uint16_t *h16 = malloc(rows * n * 2);
        ck_assert_int_eq(gtc_d2h(h16, d16, (rows - 2) * n * 2), 0);
        float *got = malloc(rows * n * 4), *ref = malloc(rows * n * 4);
        size_t rb = ggml_row_size(type, n);
        for (int64_t r = 2; r < rows; r++) {
            quant_dequant_row(type, W + r * rb, ref + (r - 2) * n, n);
            for (int64_t i = 0; i < n; i++)
                got[(r - 2) * n + i] = quant_f16_to_f32(h16[(r - 2) * n + i]);
        }
        double e = nmse(got, ref, (rows - 2) * n);
        ck_assert_msg(e <= 1e-6, "dequant_f16 type %u: nmse %g", type, e); /* f16 rounding */
        /* split fp16: hi + lo carries the quantised values (at most 18 significant bits) */
        uint16_t *dlo = dev_alloc(rows * n * 2), *hlo = malloc(rows * n * 2);
        ck_assert_int_eq(gtc_dequant_f16(&m, 0, 2, rows - 2, d16, dlo, NULL), 0);
        ck_assert_int_eq(gtc_d2h(hlo, dlo, (rows - 2) * n * 2), 0);
        for (int64_t i = 0; i < (rows - 2) * n; i++)
            got[i] = quant_f16_to_f32(h16[i]) + quant_f16_to_f32(hlo[i]);
        e = nmse(got, ref, (rows - 2) * n);
        ck_assert_msg(e <= 1e-12, "dequant_f16 hi+lo type %u: nmse %g", type, e);
        gtc_free(dlo);
        free(hlo);
        /* embedding gather (fp32, exact) of rows 7, 0, 3 */
        int32_t ids[3] = {7, 0, 3};
        int32_t *dids = dev_upload(ids, sizeof ids);
        int32_t pos0 = 0;
        int32_t *dpos = dev_upload(&pos0, 4);
        float *de = dev_alloc(3 * n * 4);
        ck_assert_int_eq(gtc_embed(&m, dids, 3, de, NULL, dpos, NULL), 0);
        float *emb = dev_download(de, 3 * n);
        gt_weight w = {.type = type, .ne = {n, rows, 1, 1}, .row_bytes = rb, .data = W};
        for (int t = 0; t < 3; t++) {
            op_embed_row(ref, &w, ids[t]);
            double ee = nmse(emb + t * n, ref, n);
            ck_assert_msg(ee <= 1e-12, "embed type %u: nmse %g", type, ee);
        }
        free(W);
        free(h16);
        free(got);
        free(ref);
        free(emb);
        gtc_free(d16);
        gtc_free(dids);
        gtc_free(dpos);
        gtc_free(de);
        gtc_free((void *)m.base);
    }
}
END_TEST

/* ---- norms + activation quantisation ---------------------------------------------------- */
START_TEST(test_norms) {
    const int T = 3, n = 2880;
    float *x = rand_vec((size_t)T * n, 2.0f), *w = rand_vec(n, 1.0f), *b = rand_vec(n, 0.5f);
    for (int i = 0; i < n; i++) x[i] += 3.0f; /* a mean far from 0 for the LayerNorm */
    float *dx = dev_upload(x, (size_t)T * n * 4), *dw = dev_upload(w, n * 4),
          *db = dev_upload(b, n * 4);
    gtc_act a = act_new(T, n);
    float *ref = malloc((size_t)n * 4);
    for (int mode = GTC_NORM_RMS; mode <= GTC_NORM_LAYER; mode++) {
        dev_poison(a.f, (size_t)T * n * 4);
        ck_assert_int_eq(gtc_prep_act(dx, T, n, mode, dw, db, 1e-5f, &a, NULL), 0);
        float *got = dev_download(a.f, (size_t)T * n);
        int16_t *q = malloc((size_t)T * n * 2), *qi = malloc((size_t)T * n * 2);
        float *s = dev_download(a.s, (size_t)T * n / 32);
        ck_assert_int_eq(gtc_d2h(q, a.q, (size_t)T * n * 2), 0);
        ck_assert_int_eq(gtc_d2h(qi, a.qi, (size_t)T * n * 2), 0);
        int32_t *qz = malloc((size_t)T * n / 32 * 4);
        ck_assert_int_eq(gtc_d2h(qz, a.qsum, (size_t)T * n / 32 * 4), 0);
        for (int i = 0; i < T * n / 32; i++) { /* the block sums of q */
            int z = 0;
            for (int j = 0; j < 32; j++) z += q[(size_t)i * 32 + j];
            ck_assert_int_eq(qz[i], z);
        }
        free(qz);
        for (int t = 0; t < T; t++) {
            if (mode == GTC_NORM_RMS)
                op_rmsnorm(ref, x + (size_t)t * n, w, n, 1e-5f);
            else
                op_layernorm(ref, x + (size_t)t * n, w, b, n, 1e-5f);
            double e = nmse(got + (size_t)t * n, ref, n);
            ck_assert_msg(e <= 1e-7, "norm mode %d row %d: nmse %g", mode, t, e);
            for (int i = 0; i < n; i++) { /* int16 copy within half a step, both orders */
                int c = i / 32, j = i % 32, pj = j < 16 ? 2 * j : 2 * (j - 16) + 1;
                float d = s[t * (n / 32) + c];
                ck_assert(fabsf(q[(size_t)t * n + i] * d - ref[i]) <=
                          0.5f * d + 1e-6f * fabsf(ref[i]) + 1e-7f);
                ck_assert_int_eq(qi[(size_t)t * n + c * 32 + pj], q[(size_t)t * n + i]);
            }
        }
        free(got);
        free(q);
        free(qi);
        free(s);
    }
    free(x);
    free(w);
    free(b);
    free(ref);
    gtc_free(dx);
    gtc_free(dw);
    gtc_free(db);
    act_free(&a);
}
END_TEST

/* ---- router top-k + softmax (ties -> lower index) ----------------------------------------- */
START_TEST(test_topk) {
    const int T = 5, E = 32, k = 4;
    float *lg = rand_vec((size_t)T * E, 2.0f);
    lg[2 * E + 3] = lg[2 * E + 9] = lg[2 * E + 30] = 10.0f; /* a three-way tie */
    for (int e = 0; e < E; e++) lg[4 * E + e] = 1.0f;       /* everything tied */
    float *dl = dev_upload(lg, (size_t)T * E * 4);
    int32_t *dids = dev_alloc((size_t)T * k * 4);
    float *dw = dev_alloc((size_t)T * k * 4);
    ck_assert_int_eq(gtc_topk_softmax(dl, T, E, k, dids, dw, NULL), 0);
    int32_t ids[20];
    float w[20];
    ck_assert_int_eq(gtc_d2h(ids, dids, sizeof ids), 0);
    ck_assert_int_eq(gtc_d2h(w, dw, sizeof w), 0);
    for (int t = 0; t < T; t++) {
        int ri[4];
        float rw[4];
        op_router_topk_softmax(lg + (size_t)t * E, E, k, ri, rw);
        for (int j = 0; j < k; j++) ck_assert_int_eq(ids[t * k + j], ri[j]);
        ck_assert(nmse(w + t * k, rw, k) <= 1e-7);
    }
    free(lg);
    gtc_free(dl);
    gtc_free(dids);
    gtc_free(dw);

    /* fused router (F32 [32][2880] and BF16 [8][256]) + top-4 */
    /* F16 [4][2880]: fewer warps (32) than activation blocks (90) in the fused norm + router */
    const int64_t ns[3] = {2880, 256, 2880};
    const int Es[3] = {32, 8, 4};
    const uint32_t rt[3] = {GGML_TYPE_F32, GGML_TYPE_BF16, GGML_TYPE_F16};
    for (int c = 0; c < 3; c++) {
        const int64_t n = ns[c];
        const int RE = Es[c], RT = 3;
        uint8_t *W = rand_matrix(rt[c], RE, n, 0.05f);
        float *x = rand_vec((size_t)RT * n, 1.0f), *b = rand_vec(RE, 0.1f);
        gtc_mat m;
        ck_assert_int_eq(gtc_upload_matrix(rt[c], W, n, RE, RE, &m), 0);
        float *dx = dev_upload(x, (size_t)RT * n * 4), *db = dev_upload(b, RE * 4);
        gtc_act a = act_new(RT, (int)n);
        ck_assert_int_eq(gtc_prep_act(dx, RT, (int)n, GTC_NORM_NONE, NULL, NULL, 0, &a, NULL), 0);
        int32_t *di = dev_alloc(RT * 4 * 4);
        float *dwt = dev_alloc(RT * 4 * 4);
        float *dlg = dev_alloc((size_t)RT * RE * 4);
        unsigned zero[3] = {0, 0, 0}, back[3];
        unsigned *dtk = dev_upload(zero, sizeof zero);
        int32_t gi[12], gi2[12];
        float gw[12], gw2[12], lgr[32];
        /* multi-block (twice: the tickets re-arm) and single-block variants agree exactly */
        for (int rep = 0; rep < 2; rep++)
            ck_assert_msg(gtc_router_topk(&m, db, &a, RT, 4, dlg, dtk, di, dwt, NULL) == 0, "%s",
                          gtc_last_error());
        ck_assert_int_eq(gtc_d2h(gi, di, sizeof gi), 0);
        ck_assert_int_eq(gtc_d2h(gw, dwt, sizeof gw), 0);
        ck_assert_int_eq(gtc_d2h(back, dtk, sizeof back), 0);
        for (int t = 0; t < RT; t++) ck_assert_int_eq(back[t], 0);
        ck_assert_int_eq(gtc_router_topk(&m, db, &a, RT, 4, NULL, NULL, di, dwt, NULL), 0);
        ck_assert_int_eq(gtc_d2h(gi2, di, sizeof gi2), 0);
        ck_assert_int_eq(gtc_d2h(gw2, dwt, sizeof gw2), 0);
        ck_assert(memcmp(gi, gi2, sizeof gi) == 0 && memcmp(gw, gw2, sizeof gw) == 0);
        /* rows split over a block's warps (GPTC_CUDA_ROUTER_SK), twice: the tickets re-arm */
        int32_t gi3[12];
        float gw3[12];
        const unsigned long n_sk = gtc_router_sk_calls();
        gtc_router_set_sk(1);
        for (int rep = 0; rep < 2; rep++)
            ck_assert_msg(gtc_router_topk(&m, db, &a, RT, 4, dlg, dtk, di, dwt, NULL) == 0, "%s",
                          gtc_last_error());
        gtc_router_set_sk(-1);
        ck_assert_uint_eq(gtc_router_sk_calls(), n_sk + 2);
        ck_assert_int_eq(gtc_d2h(gi3, di, sizeof gi3), 0);
        ck_assert_int_eq(gtc_d2h(gw3, dwt, sizeof gw3), 0);
        ck_assert_int_eq(gtc_d2h(back, dtk, sizeof back), 0);
        for (int t = 0; t < RT; t++) ck_assert_int_eq(back[t], 0);
        { /* the RMSNorm folded into the split router (GPTC_CUDA_NORM_ROUTER): the same bits as
           * gtc_prep_act then the split router, activations, logits and routing alike */
            float *nw = rand_vec((size_t)n, 1.0f), *dnw = dev_upload(nw, (size_t)n * 4);
            gtc_act a2 = act_new(RT, (int)n);
            const size_t nf = (size_t)RT * n, nq = nf / 32;
            gtc_router_set_sk(1);
            ck_assert_int_eq(gtc_prep_act(dx, RT, (int)n, GTC_NORM_RMS, dnw, NULL, 1e-5f, &a, NULL),
                             0);
            ck_assert_int_eq(gtc_router_topk(&m, db, &a, RT, 4, dlg, dtk, di, dwt, NULL), 0);
            gtc_router_set_sk(-1);
            void *f0 = dev_copy(a.f, nf * 4), *s0 = dev_copy(a.s, nq * 4);
            void *q0 = dev_copy(a.q, nf * 2), *qi0 = dev_copy(a.qi, nf * 2);
            void *h0 = dev_copy(a.h, nf * 4); /* hi and lo rows */
            void *l0 = dev_copy(dlg, (size_t)RT * RE * 4), *w0 = dev_copy(dwt, 12 * 4);
            void *i0 = dev_copy(di, 12 * 4);
            dev_poison(a2.f, nf * 4);
            dev_poison(a2.h, nf * 4);
            gtc_norm_router_set(1);
            ck_assert(gtc_norm_router_supported(&m, (int)n, RT));
            ck_assert(!gtc_norm_router_supported(&m, (int)n, 9));
            const unsigned long nr0 = gtc_norm_router_calls();
            for (int rep = 0; rep < 2; rep++) /* twice: the tickets re-arm */
                ck_assert_msg(gtc_norm_router_topk(dx, dnw, 1e-5f, &a2, &m, db, RT, 4, dlg, dtk, di,
                                                   dwt, NULL) == 0,
                              "%s", gtc_last_error());
            gtc_norm_router_set(-1);
            ck_assert_uint_eq(gtc_norm_router_calls(), nr0 + 2);
            ck_assert(dev_equals(a2.h, h0, nf * 4));
            ck_assert_int_eq(gtc_d2h(back, dtk, sizeof back), 0);
            for (int t = 0; t < RT; t++) ck_assert_int_eq(back[t], 0);
            ck_assert(dev_equals(a2.f, f0, nf * 4) && dev_equals(a2.s, s0, nq * 4));
            ck_assert(dev_equals(a2.q, q0, nf * 2) && dev_equals(a2.qi, qi0, nf * 2));
            ck_assert(dev_equals(dlg, l0, (size_t)RT * RE * 4) && dev_equals(dwt, w0, 12 * 4));
            ck_assert(dev_equals(di, i0, 12 * 4));
            free(nw);
            free(f0);
            free(s0);
            free(q0);
            free(qi0);
            free(h0);
            free(l0);
            free(w0);
            free(i0);
            gtc_free(dnw);
            act_free(&a2);
        }
        gtc_free(dlg);
        gtc_free(dtk);
        size_t rb = ggml_row_size(rt[c], n);
        for (int t = 0; t < RT; t++) {
            for (int e = 0; e < RE; e++)
                lgr[e] = quant_dot(rt[c], W + e * rb, x + (size_t)t * n, n) + b[e];
            int ri[4];
            float rw[4];
            op_router_topk_softmax(lgr, RE, 4, ri, rw);
            for (int j = 0; j < 4; j++) ck_assert_int_eq(gi[t * 4 + j], ri[j]);
            ck_assert_msg(nmse(gw + t * 4, rw, 4) <= 1e-7, "router weights nmse %g",
                          nmse(gw + t * 4, rw, 4));
            for (int j = 0; j < 4; j++) ck_assert_int_eq(gi3[t * 4 + j], ri[j]);
            ck_assert_msg(nmse(gw3 + t * 4, rw, 4) <= 1e-7, "split router weights nmse %g",
                          nmse(gw3 + t * 4, rw, 4));
        }
        free(W);
        free(x);
        free(b);
        gtc_free((void *)m.base);
        gtc_free(dx);
        gtc_free(db);
        gtc_free(di);
        gtc_free(dwt);
        act_free(&a);
    }
}
END_TEST

/* ---- MoE: gate/up + clamped SwiGLU, down + weighted sum ------------------------------------ */
/* grouped 1: the expert-grouped kernels (gtc_moe_group + *_grouped, several tokens) instead of
 * the per-token ones, on the same inputs and against the same CPU twin; grouped 2: the grouping
 * with the tensor-core products (gtc_mmq_grouped, gtc_swiglu_q, gtc_moe_sum) */
static void moe_case_ne(uint32_t tgu, uint32_t tdown, int grouped, int nff, int ne) {
    const int E = 8, T = 3, k = 4;
    uint8_t *G = rand_matrix(tgu, (int64_t)E * nff, ne, 0.15f);
    uint8_t *U = rand_matrix(tgu, (int64_t)E * nff, ne, 0.15f);
    uint8_t *D = rand_matrix(tdown, (int64_t)E * ne, nff, 0.1f);
    float *bg = rand_vec((size_t)E * nff, 0.5f), *bu = rand_vec((size_t)E * nff, 0.5f);
    float *bd = rand_vec((size_t)E * ne, 0.1f);
    float *x = rand_vec((size_t)T * ne, 1.0f), *res = rand_vec((size_t)T * ne, 1.0f);
    /* expert 3 is chosen by every token; token 2 picks the highest expert id */
    int32_t ids[12] = {3, 0, 5, 1, 6, 3, 2, 4, 7, 1, 0, 3};
    float wt[12] = {0.4f, 0.3f, 0.2f, 0.1f, 0.25f, 0.25f, 0.25f, 0.25f, 0.7f, 0.1f, 0.1f, 0.1f};
    gtc_mat mg, mu, md;
    ck_assert_int_eq(gtc_upload_matrix(tgu, G, ne, (int64_t)E * nff, nff, &mg), 0);
    ck_assert_int_eq(gtc_upload_matrix(tgu, U, ne, (int64_t)E * nff, nff, &mu), 0);
    ck_assert_int_eq(gtc_upload_matrix(tdown, D, nff, (int64_t)E * ne, ne, &md), 0);
    float *dbg = dev_upload(bg, (size_t)E * nff * 4), *dbu = dev_upload(bu, (size_t)E * nff * 4);
    float *dbd = dev_upload(bd, (size_t)E * ne * 4), *dx = dev_upload(x, (size_t)T * ne * 4);
    float *dres = dev_upload(res, (size_t)T * ne * 4);
    int32_t *dids = dev_upload(ids, sizeof ids);
    float *dwt = dev_upload(wt, sizeof wt);
    gtc_act a = act_new(T, ne), h = act_new(T * k, nff);
    h.h = NULL;
    ck_assert_int_eq(gtc_prep_act(dx, T, ne, GTC_NORM_NONE, NULL, NULL, 0, &a, NULL), 0);
    int32_t *dgrp = NULL, *dlist = NULL;
    float *dyk = NULL;
    gtc_moe mo = {mg, mu, md, dbg, dbu, dbd, nff, ne, E, k, 1.702f, 7.0f};
    gtc_route ro = {T, dids, dwt, NULL, NULL};
    if (grouped) {
        dgrp = dev_alloc((2 * E + 1) * 4);
        dlist = dev_alloc(T * k * 4);
        dyk = dev_alloc((size_t)T * k * ne * 4);
        dev_poison(dyk, (size_t)T * k * ne * 4);
        ck_assert_msg(gtc_moe_group(dids, T, k, E, dgrp, dlist, NULL) == 0, "%s", gtc_last_error());
        ro.grp = dgrp;
        ro.list = dlist;
        int32_t *grp = (int32_t *)dev_download(dgrp, 2 * E);
        int32_t *list = (int32_t *)dev_download(dlist, T * k);
        /* the grouping itself, against a count done here: expert 3 has all 3 tokens */
        int cnt[8] = {0}, off = 0;
        for (int i = 0; i < T * k; i++) cnt[ids[i]]++;
        for (int e = 0; e < E; e++) {
            ck_assert_int_eq(grp[e], cnt[e]);
            ck_assert_int_eq(grp[E + e], off);
            for (int i = 0, c = 0; i < T * k; i++)
                if (ids[i] == e) ck_assert_int_eq(list[off + c++], i);
            off += cnt[e];
        }
        ck_assert_int_eq(grp[3], 3);
        free(grp);
        free(list);
        if (grouped == 2) {
            ck_assert(gtc_mmq_supported(&mg, &a) && gtc_mmq_supported(&md, &h));
            float *dgg = dev_alloc((size_t)T * k * nff * 4);
            float *duu = dev_alloc((size_t)T * k * nff * 4);
            /* gate and up in one launch (two segments) */
            gtc_mmq_group gu = {&mg, &mu, dbg,   dbu,  nff,   nff, dgg, duu,
                                nff, E,   T * k, dgrp, dlist, k,   NULL};
            ck_assert_msg(gtc_mmq_grouped(&gu, &a, NULL) == 0, "%s", gtc_last_error());
            ck_assert_int_eq(gtc_swiglu_q(dgg, duu, nff, T * k, 1.702f, 7.0f, &h, NULL), 0);
            gtc_mmq_group dn = {&md, NULL, dbd,   NULL, ne,    0, dyk, NULL,
                                ne,  E,    T * k, dgrp, dlist, 1, dwt};
            ck_assert_int_eq(gtc_mmq_grouped(&dn, &h, NULL), 0);
            ck_assert_int_eq(gtc_moe_sum(dyk, T, k, ne, dres, NULL), 0);
            gtc_free(dgg);
            gtc_free(duu);
        } else {
            ck_assert_msg(gtc_moe_gate_up_grouped(&mo, &ro, &a, &h, NULL) == 0, "%s",
                          gtc_last_error());
            ck_assert_int_eq(gtc_moe_down_grouped(&mo, &ro, &h, dyk, dres, NULL), 0);
        }
    } else {
        ck_assert_msg(gtc_moe_gate_up(&mo, &ro, &a, &h, NULL) == 0, "%s", gtc_last_error());
        if (tgu == GGML_TYPE_MXFP4) { /* 2 and 4 row pairs per warp: the same bits */
            const size_t nf = (size_t)T * k * nff, nq = nf / 32;
            void *f0 = dev_copy(h.f, nf * 4), *s0 = dev_copy(h.s, nq * 4),
                 *q0 = dev_copy(h.q, nf * 2);
            for (int rpw = 2; rpw <= 4; rpw += 2) {
                const unsigned long n0 = gtc_moe_rpw_calls();
                gtc_moe_set_gu_rpw(rpw);
                dev_poison(h.f, nf * 4);
                dev_poison(h.q, nf * 2);
                ck_assert_msg(gtc_moe_gate_up(&mo, &ro, &a, &h, NULL) == 0, "%s", gtc_last_error());
                gtc_moe_set_gu_rpw(-1);
                ck_assert_uint_eq(gtc_moe_rpw_calls(), n0 + 1);
                ck_assert_msg(dev_equals(h.f, f0, nf * 4) && dev_equals(h.s, s0, nq * 4) &&
                                  dev_equals(h.q, q0, nf * 2),
                              "moe gate/up with %d row pairs per warp (n_ff %d) differs", rpw, nff);
            }
            free(f0);
            free(s0);
            free(q0);
        }
        ck_assert_int_eq(gtc_moe_down(&mo, &ro, &h, dres, NULL), 0);
    }
    float *got = dev_download(dres, (size_t)T * ne);
    /* CPU twin */
    size_t rg = ggml_row_size(tgu, ne), rd = ggml_row_size(tdown, nff);
    float *ref = malloc((size_t)T * ne * 4), *gv = malloc(nff * 4), *uv = malloc(nff * 4);
    for (int t = 0; t < T; t++) {
        float *xt = x + (size_t)t * ne;
        for (int i = 0; i < ne; i++) ref[t * ne + i] = res[t * ne + i];
        for (int j = 0; j < k; j++) {
            int e = ids[t * k + j];
            for (int r = 0; r < nff; r++) {
                gv[r] = quant_dot(tgu, G + ((size_t)e * nff + r) * rg, xt, ne) + bg[e * nff + r];
                uv[r] = quant_dot(tgu, U + ((size_t)e * nff + r) * rg, xt, ne) + bu[e * nff + r];
            }
            op_swiglu_oai(gv, gv, uv, nff, 1.702f, 7.0f);
            for (int r = 0; r < ne; r++)
                ref[t * ne + r] +=
                    wt[t * k + j] *
                    (quant_dot(tdown, D + ((size_t)e * ne + r) * rd, gv, nff) + bd[e * ne + r]);
        }
    }
    /* compare the MoE contribution (the residual would hide errors) */
    for (size_t i = 0; i < (size_t)T * ne; i++) {
        got[i] -= res[i];
        ref[i] -= res[i];
    }
    double e = nmse(got, ref, (size_t)T * ne);
    ck_assert_msg(e <= 5e-4, "moe %u/%u n_ff %d%s: nmse %g", tgu, tdown, nff,
                  grouped ? " grouped" : "", e);
    gtc_free(dgrp);
    gtc_free(dlist);
    gtc_free(dyk);
    free(G);
    free(U);
    free(D);
    free(bg);
    free(bu);
    free(bd);
    free(x);
    free(res);
    free(got);
    free(ref);
    free(gv);
    free(uv);
    gtc_free((void *)mg.base);
    gtc_free((void *)mu.base);
    gtc_free((void *)md.base);
    gtc_free(dbg);
    gtc_free(dbu);
    gtc_free(dbd);
    gtc_free(dx);
    gtc_free(dres);
    gtc_free(dids);
    gtc_free(dwt);
    act_free(&a);
    act_free(&h);
}
static void moe_case_ff(uint32_t tgu, uint32_t tdown, int grouped, int nff) {
    moe_case_ne(tgu, tdown, grouped, nff, 256);
}
static void moe_case(uint32_t tgu, uint32_t tdown, int grouped) {
    moe_case_ff(tgu, tdown, grouped, 192);
}
/* every packed format as gate/up and as down (n_ff 256 for the K-quants' 256-element rows), on
 * the per-token kernels (grouped 0) and the expert-grouped ones (1); the gpt-oss Q4_K_M mix
 * (gate/up Q5_0, down Q8_0) too */
static const uint32_t pk_types[7] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                                     GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
static void moe_packed(int grouped) {
    for (int i = 0; i < 7; i++) {
        moe_case_ff(pk_types[i], GGML_TYPE_Q8_0, grouped, 256);  /* gate/up */
        moe_case_ff(GGML_TYPE_MXFP4, pk_types[i], grouped, 256); /* down */
    }
    moe_case_ff(GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, grouped, 288);
    moe_case_ff(GGML_TYPE_Q5_0, GGML_TYPE_Q5_0, grouped, 288);
}
START_TEST(test_moe_packed) {
    moe_packed(0);
}
END_TEST
START_TEST(test_moe_grouped_packed) {
    moe_packed(1);
}
END_TEST
START_TEST(test_moe_mxfp4) {
    moe_case(GGML_TYPE_MXFP4, GGML_TYPE_MXFP4, 0);
    /* gpt-oss's width: 90 blocks a row, several per lane (the row-pair kernels' own loop) */
    moe_case_ne(GGML_TYPE_MXFP4, GGML_TYPE_MXFP4, 0, 64, 2880);
}
END_TEST
START_TEST(test_moe_mixed) {
    moe_case(GGML_TYPE_Q8_0, GGML_TYPE_Q5_0, 0);
}
END_TEST
START_TEST(test_moe_grouped_mxfp4) {
    moe_case(GGML_TYPE_MXFP4, GGML_TYPE_MXFP4, 1);
}
END_TEST
START_TEST(test_moe_grouped_mixed) {
    moe_case(GGML_TYPE_Q8_0, GGML_TYPE_Q5_0, 1);
}
END_TEST
START_TEST(test_moe_mmq_mxfp4) {
    moe_case(GGML_TYPE_MXFP4, GGML_TYPE_MXFP4, 2);
}
END_TEST
START_TEST(test_moe_mmq_q8) {
    moe_case(GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, 2);
}
END_TEST

/* ---- RoPE + KV store + attention with sinks / window, prefill chunks and decode ----------- */
/* ring > 0: the caches are rings of that many rows (a sliding-window layer's, >= window - 1 +
 * the largest chunk). kv_type: the cache's element type; the CPU twin reads keys and values
 * rounded the same way (kv_round), so the attention bound is the fp32 one (1e-7) for every
 * type. Only where a Q8_0 key landed on the other side of a rounding edge after the GPU's RoPE
 * (sincos differs in the last bit; the key then moves by one quantisation step, which can move
 * the output by ~(scale |q| step)^2 ~ 4e-6 when that key dominates) is that position judged by
 * the attention-over-the-stored-rows check alone (1e-7 against the twin fed the GPU's rows). */
static void attn_case_h(int nh, int nkv, int window, int use_sinks, const int *chunks, int n_chunks,
                        int ring, int kv_type) {
    const int hd = 64, qw = nh * hd + 2 * nkv * hd;
    int N = 0;
    for (int i = 0; i < n_chunks; i++) N += chunks[i];
    const int n_ctx = N + 8;
    float *qkv = rand_vec((size_t)N * qw, 1.0f), *sinks = rand_vec(nh, 1.0f);
    float inv_freq[32];
    op_rope_params rp = {.dim = 64,
                         .freq_base = 150000,
                         .yarn = 1,
                         .factor = 32,
                         .orig_ctx = 4096,
                         .beta_fast = 32,
                         .beta_slow = 1};
    op_rope_yarn_inv_freq(inv_freq, &rp, 0);
    float msc = op_rope_yarn_mscale(&rp);
    /* CPU: roped q, roped k / v (the cache is fp32) */
    float *cq = malloc((size_t)N * nh * hd * 4), *ck = malloc((size_t)N * nkv * hd * 4);
    float *cv = malloc((size_t)N * nkv * hd * 4);
    for (int p = 0; p < N; p++) {
        memcpy(cq + (size_t)p * nh * hd, qkv + (size_t)p * qw, nh * hd * 4);
        memcpy(ck + (size_t)p * nkv * hd, qkv + (size_t)p * qw + nh * hd, nkv * hd * 4);
        memcpy(cv + (size_t)p * nkv * hd, qkv + (size_t)p * qw + nh * hd + nkv * hd, nkv * hd * 4);
        op_rope_neox(cq + (size_t)p * nh * hd, nh, hd, p, inv_freq, msc);
        op_rope_neox(ck + (size_t)p * nkv * hd, nkv, hd, p, inv_freq, msc);
    }
    /* the values the cache gives back: rounded as the cache type stores them */
    float *rk = malloc((size_t)N * nkv * hd * 4), *rvv = malloc((size_t)N * nkv * hd * 4);
    memcpy(rk, ck, (size_t)N * nkv * hd * 4);
    memcpy(rvv, cv, (size_t)N * nkv * hd * 4);
    kv_round(kv_type, rk, (size_t)N * nkv * hd);
    kv_round(kv_type, rvv, (size_t)N * nkv * hd);
    float *dfreq = dev_upload(inv_freq, sizeof inv_freq), *dsinks = dev_upload(sinks, nh * 4);
    const int rows = ring > 0 ? ring : n_ctx;
    const size_t rb = gtc_kv_row_bytes(kv_type, nkv * hd);
    uint8_t *kc = dev_alloc((size_t)rows * rb), *vc = dev_alloc((size_t)rows * rb);
    dev_poison(kc, (size_t)rows * rb); /* defined bytes: the checks read whole caches back */
    dev_poison(vc, (size_t)rows * rb);
    int maxT = 0;
    for (int i = 0; i < n_chunks; i++) maxT = chunks[i] > maxT ? chunks[i] : maxT;
    float *part = dev_alloc(gtc_attn_part_floats(maxT, nh, n_ctx) * 4 +
                            gtc_attn_part_floats(1, nh, n_ctx) * 4);
    float *dout = dev_alloc((size_t)maxT * nh * hd * 4);
    float *scratch = malloc((size_t)N * 4), *ref = malloc((size_t)nh * hd * 4);
    uint8_t *flip = calloc((size_t)N, 1); /* per position: its stored k differs from the twin's */
    int p0 = 0;
    for (int c = 0; c < n_chunks; c++) {
        int T = chunks[c];
        float *dqkv = dev_upload(qkv + (size_t)p0 * qw, (size_t)T * qw * 4);
        int32_t *dpos = dev_upload(&p0, 4);
        gtc_act qa = act_new(T, nh * hd);
        gtc_attn_args aa = kc_attn_args(dqkv, qw, T, nh, nkv, dpos, kc, vc, kv_type, ring,
                                        n_ctx - 1, window, part, dout);
        aa.inv_freq = dfreq;
        aa.mscale = msc;
        aa.sinks = use_sinks ? dsinks : NULL;
        aa.qout = &qa;
        ck_assert_msg(gtc_rope_store(&aa, NULL) == 0, "%s", gtc_last_error());
        dev_poison(dout, (size_t)T * nh * hd * 4);
        ck_assert_msg(gtc_attention(&aa, NULL) == 0, "%s", gtc_last_error());
        { /* the fused int16 copy matches the fp32 output within half a step */
            int16_t *hq = malloc((size_t)T * nh * hd * 2);
            float *hs = dev_download(qa.s, (size_t)T * nh * hd / 32),
                  *ho = dev_download(dout, (size_t)T * nh * hd);
            ck_assert_int_eq(gtc_d2h(hq, qa.q, (size_t)T * nh * hd * 2), 0);
            for (size_t i = 0; i < (size_t)T * nh * hd; i++)
                ck_assert(fabsf(hq[i] * hs[i / 32] - ho[i]) <=
                          0.5f * hs[i / 32] + 1e-6f * fabsf(ho[i]) + 1e-7f);
            free(hq);
            free(hs);
            free(ho);
        }
        act_free(&qa);
        float *got = dev_download(dout, (size_t)T * nh * hd);
        float *gq = malloc((size_t)T * qw * 4);
        ck_assert_int_eq(gtc_d2h(gq, dqkv, (size_t)T * qw * 4), 0);
        { /* the attention kernel alone: the twin fed with the rows the GPU stored (read back
           * from the cache) and the GPU's roped q agrees at the fp32 bound for every type */
            const int n = nkv * hd, hi = p0 + T;
            uint8_t *gk = malloc((size_t)rows * rb), *gv = malloc((size_t)rows * rb);
            ck_assert_int_eq(gtc_d2h(gk, kc, (size_t)rows * rb), 0);
            ck_assert_int_eq(gtc_d2h(gv, vc, (size_t)rows * rb), 0);
            float *hk = malloc((size_t)hi * n * 4), *hv = malloc((size_t)hi * n * 4);
            for (int t = 0; t < T; t++) { /* this chunk's rows: v as the twin rounds it */
                const int p = p0 + t, r = ring > 0 ? p % ring : p;
                kv_row_f32(kv_type, gv + (size_t)r * rb, hv + (size_t)p * n, n);
                for (int i = 0; i < n; i++)
                    ck_assert_msg(hv[(size_t)p * n + i] == rvv[(size_t)p * n + i],
                                  "v cache pos %d element %d (cache type %d): %.9g, twin %.9g", p,
                                  i, kv_type, hv[(size_t)p * n + i], rvv[(size_t)p * n + i]);
                kv_row_f32(kv_type, gk + (size_t)r * rb, hk + (size_t)p * n, n);
                for (int i = 0; i < n; i++) { /* k within one step (GPU RoPE's last bit) */
                    const float *blk = ck + (size_t)p * n + i / 32 * 32;
                    float st = 0.f;
                    for (int j = 0; j < 32; j++) st = fabsf(blk[j]) > st ? fabsf(blk[j]) : st;
                    st = kv_type == GTC_KV_Q8_0  ? st / 127.f * 1.001f
                         : kv_type == GTC_KV_F16 ? fabsf(ck[(size_t)p * n + i]) * 9.8e-4f + 6e-8f
                                                 : fabsf(ck[(size_t)p * n + i]) * 1e-5f + 1e-6f;
                    flip[p] |= hk[(size_t)p * n + i] != rk[(size_t)p * n + i];
                    ck_assert_msg(fabsf(hk[(size_t)p * n + i] - rk[(size_t)p * n + i]) <= st,
                                  "k cache pos %d element %d (cache type %d): %.9g, twin %.9g", p,
                                  i, kv_type, hk[(size_t)p * n + i], rk[(size_t)p * n + i]);
                }
            }
            for (int t = 0; t < T; t++) {
                const int p = p0 + t;
                const int lo = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
                for (int j = lo; j <= p; j++) {
                    const int r = ring > 0 ? j % ring : j;
                    kv_row_f32(kv_type, gk + (size_t)r * rb, hk + (size_t)j * n, n);
                    kv_row_f32(kv_type, gv + (size_t)r * rb, hv + (size_t)j * n, n);
                }
                op_attention(ref, gq + (size_t)t * qw, hk + (size_t)lo * n, hv + (size_t)lo * n,
                             p - lo + 1, nh, nkv, hd, use_sinks ? sinks : NULL, 0.125f, scratch);
                const double e = nmse(got + (size_t)t * nh * hd, ref, nh * hd);
                ck_assert_msg(e <= 1e-7,
                              "attention over the stored rows, pos %d (window %d, ring %d, cache "
                              "type %d): nmse %g",
                              p, window, ring, kv_type, e);
            }
            free(gk);
            free(gv);
            free(hk);
            free(hv);
        }
        for (int t = 0; t < T; t++) {
            int p = p0 + t;
            double eq = nmse(gq + (size_t)t * qw, cq + (size_t)p * nh * hd, nh * hd);
            ck_assert_msg(eq <= 1e-7, "rope q at %d: nmse %g", p, eq);
            int lo = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
            op_attention(ref, cq + (size_t)p * nh * hd, rk + (size_t)lo * nkv * hd,
                         rvv + (size_t)lo * nkv * hd, p - lo + 1, nh, nkv, hd,
                         use_sinks ? sinks : NULL, 0.125f, scratch);
            double e = nmse(got + (size_t)t * nh * hd, ref, nh * hd);
            int flipped = 0; /* a key the cache holds one step off the twin's rounding */
            for (int j = lo; j <= p; j++) flipped |= flip[j];
            if (!flipped || kv_type != GTC_KV_Q8_0)
                ck_assert_msg(e <= 1e-7, "attention pos %d (window %d, cache type %d): nmse %g", p,
                              window, kv_type, e);
        }
        free(got);
        free(gq);
        gtc_free(dqkv);
        gtc_free(dpos);
        p0 += T;
    }
    /* the cache holds the roped k and the v (rounding only from sincos) in its type: v exactly
     * the twin's rounding; k within one quantisation step of it (f32: nmse 1e-10) */
    {
        const int p0r = ring > 0 && N > ring ? N - ring : 0, nr = N - p0r; /* rows still held */
        const int n = nkv * hd;
        uint8_t *gk = malloc((size_t)rows * rb), *gv = malloc((size_t)rows * rb);
        ck_assert_int_eq(gtc_d2h(gk, kc, (size_t)rows * rb), 0);
        ck_assert_int_eq(gtc_d2h(gv, vc, (size_t)rows * rb), 0);
        float *hk = malloc((size_t)nr * n * 4), *hv = malloc((size_t)nr * n * 4);
        for (int p = p0r; p < N; p++) {
            const int r = ring > 0 ? p % ring : p;
            kv_row_f32(kv_type, gk + (size_t)r * rb, hk + (size_t)(p - p0r) * n, n);
            kv_row_f32(kv_type, gv + (size_t)r * rb, hv + (size_t)(p - p0r) * n, n);
        }
        ck_assert(nmse(hv, rvv + (size_t)p0r * n, (size_t)nr * n) == 0);
        if (kv_type == GTC_KV_F32) {
            ck_assert(nmse(hk, ck + (size_t)p0r * n, (size_t)nr * n) <= 1e-10);
        } else {
            size_t exact = 0;
            for (size_t i = 0; i < (size_t)nr * n; i++) {
                const float want = rk[(size_t)p0r * n + i], x = ck[(size_t)p0r * n + i];
                /* one step: f16 ulp of x, or the Q8_0 block's scale (<= amax / 127 * (1 + 2^-11))
                 */
                float step = kv_type == GTC_KV_F16 ? fabsf(x) * 9.8e-4f + 6e-8f : 0.f;
                if (kv_type == GTC_KV_Q8_0) {
                    const float *blk = ck + (size_t)p0r * n + i / 32 * 32;
                    for (int j = 0; j < 32; j++) step = fabsf(blk[j]) > step ? fabsf(blk[j]) : step;
                    step = step / 127.f * 1.001f;
                }
                exact += hk[i] == want;
                ck_assert_msg(fabsf(hk[i] - want) <= step, "k cache element %zu: %g vs %g", i,
                              hk[i], want);
            }
            ck_assert_msg(exact >= (size_t)nr * n * 99 / 100, "k cache: %zu of %zu exact", exact,
                          (size_t)nr * n);
        }
        free(gk);
        free(gv);
        free(hk);
        free(hv);
    }
    free(rk);
    free(rvv);
    free(qkv);
    free(sinks);
    free(cq);
    free(ck);
    free(cv);
    free(scratch);
    free(flip);
    free(ref);
    gtc_free(dfreq);
    gtc_free(dsinks);
    gtc_free(kc);
    gtc_free(vc);
    gtc_free(part);
    gtc_free(dout);
}
/* 8 query heads over 2 KV heads (G = 4) */
static void attn_case_kv(int window, int use_sinks, const int *chunks, int n_chunks, int ring,
                         int kv_type) {
    attn_case_h(8, 2, window, use_sinks, chunks, n_chunks, ring, kv_type);
}
static void attn_case(int window, int use_sinks, const int *chunks, int n_chunks, int ring) {
    attn_case_kv(window, use_sinks, chunks, n_chunks, ring, GTC_KV_F32);
}
START_TEST(test_attention_window) {
    const int chunks[] = {100, 60, 1, 1, 70, 1}; /* crosses the 128 edge in a chunk and in decode */
    attn_case(128, 1, chunks, 6, 0);
    /* the same in a ring of window - 1 + 100 rows (the largest chunk): wraps several times */
    const int c2[] = {100, 60, 1, 1, 70, 1, 100, 37, 1, 1, 1};
    attn_case(128, 1, c2, 11, 127 + 100);
}
END_TEST
START_TEST(test_attention_full) {
    const int chunks[] = {333, 1, 400, 1}; /* long context: several key splits */
    attn_case(0, 1, chunks, 4, 0);
    const int c2[] = {17, 1};
    attn_case(0, 0, c2, 2, 0); /* no sinks (GPT-2) */
}
END_TEST

/* f16 and Q8_0 caches: full length and a window ring, prefill chunks and decode */
START_TEST(test_attention_cache_types) {
    const int chunks[] = {100, 60, 1, 1, 70, 1};
    const int c2[] = {100, 60, 1, 1, 70, 1, 100, 37, 1, 1, 1};
    const int c3[] = {333, 1, 400, 1};
    for (int kt = GTC_KV_F16; kt <= GTC_KV_Q8_0; kt++) {
        attn_case_kv(128, 1, chunks, 6, 0, kt);
        attn_case_kv(128, 1, c2, 11, 127 + 100, kt);
        attn_case_kv(0, 1, c3, 4, 0, kt);
    }
}
END_TEST

/* the prompt kernel with 8-element cache loads and the merge of splits spread over a warp
 * (GPTC_CUDA_ATTN_TILE_VEC, GPTC_CUDA_ATTN_COMBINE_PAR): the same cases at the same bounds,
 * every cache type; then 4,100 keys, where a decode step takes 128 splits (the most the merge
 * holds); then G = 1 and G = 8 */
START_TEST(test_attention_tile_vec) {
    const int chunks[] = {100, 60, 1, 1, 70, 1};
    const int c2[] = {100, 60, 1, 1, 70, 1, 100, 37, 1, 1, 1};
    const int c3[] = {333, 1, 400, 1};
    const int c4[] = {17, 1};
    const int c5[] = {4100, 1};
    gtc_attn_set_tile_vec(1);
    gtc_attn_set_combine_par(1);
    for (int kt = GTC_KV_F32; kt <= GTC_KV_Q8_0; kt++) {
        attn_case_kv(128, 1, chunks, 6, 0, kt);
        attn_case_kv(128, 1, c2, 11, 127 + 100, kt);
        attn_case_kv(0, 1, c3, 4, 0, kt);
        attn_case_kv(0, 0, c4, 2, 0, kt);
    }
    attn_case_kv(0, 1, c5, 2, 0, GTC_KV_F32);
    /* G = 1 (GPT-2: a 32-thread block, two rounds of loads) and G = 8 (gpt-oss: 256 threads,
     * the round's later chunks past the 256) */
    for (int kt = GTC_KV_F32; kt <= GTC_KV_Q8_0; kt++) {
        attn_case_h(4, 4, 0, 0, c3, 4, 0, kt);
        attn_case_h(16, 2, 128, 1, c2, 11, 127 + 100, kt);
        attn_case_h(16, 2, 0, 1, c3, 4, 0, kt); /* 8 warps: the next tile's loads in flight */
    }
    gtc_attn_set_tile_vec(-1);
    gtc_attn_set_combine_par(-1);
}
END_TEST

/* ---- the decode attention kernel (few tokens per call) -------------------------------------
 * G = n_head / n_kv query heads per KV head (1: GPT-2, 8: gpt-oss); the caches filled by
 * gtc_rope_store in chunks of up to `fill_t` tokens (no attention: only the decode steps are
 * checked), then n_dec steps of one token with RoPE and the K/V store inside gtc_attention
 * (fuse; with the counters: the splits merged by their last block, without: by a second
 * kernel), then one step of 4 tokens through gtc_rope_store and gtc_attention. Each decode
 * token's output against op_attention on the cache's rounding of the CPU keys and values. */
typedef struct vec_case_t {
    int nh, nkv, rope, sinks, window, ring, kv_type;
    int n_fill, fill_t, n_dec;
    int cnt; /* 1: pass the counter array */
} vec_case_t;

static void vec_case(const vec_case_t *c) {
    const int nh = c->nh, nkv = c->nkv, hd = 64, qw = nh * hd + 2 * nkv * hd, kt = c->kv_type;
    const int N = c->n_fill + c->n_dec + 4, n_ctx = N + 4;
    float *qkv = rand_vec((size_t)N * qw, 1.0f), *sinks = rand_vec(nh, 1.0f);
    float inv_freq[32];
    op_rope_params rp = {.dim = 64,
                         .freq_base = 150000,
                         .yarn = 1,
                         .factor = 32,
                         .orig_ctx = 4096,
                         .beta_fast = 32,
                         .beta_slow = 1};
    op_rope_yarn_inv_freq(inv_freq, &rp, 0);
    const float msc = op_rope_yarn_mscale(&rp);
    const size_t nq = (size_t)nh * hd, nk = (size_t)nkv * hd;
    float *cq = malloc((size_t)N * nq * 4), *rk = malloc((size_t)N * nk * 4);
    float *rvv = malloc((size_t)N * nk * 4);
    for (int p = 0; p < N; p++) {
        memcpy(cq + p * nq, qkv + (size_t)p * qw, nq * 4);
        memcpy(rk + p * nk, qkv + (size_t)p * qw + nq, nk * 4);
        memcpy(rvv + p * nk, qkv + (size_t)p * qw + nq + nk, nk * 4);
        if (c->rope) {
            op_rope_neox(cq + p * nq, nh, hd, p, inv_freq, msc);
            op_rope_neox(rk + p * nk, nkv, hd, p, inv_freq, msc);
        }
    }
    kv_round(kt, rk, (size_t)N * nk);
    kv_round(kt, rvv, (size_t)N * nk);
    float *dfreq = dev_upload(inv_freq, sizeof inv_freq), *dsinks = dev_upload(sinks, nh * 4);
    const int rows = c->ring > 0 ? c->ring : n_ctx;
    const size_t rb = gtc_kv_row_bytes(kt, nkv * hd);
    uint8_t *kc = dev_alloc((size_t)rows * rb), *vc = dev_alloc((size_t)rows * rb);
    const int maxT = c->fill_t > 4 ? c->fill_t : 4;
    const size_t pf = gtc_attn_part_floats(maxT, nh, n_ctx),
                 p1 = gtc_attn_part_floats(1, nh, n_ctx);
    float *part = dev_alloc((pf > p1 ? pf : p1) * 4);
    const size_t ncnt = gtc_attn_cnt_count(4, nkv);
    unsigned *hcnt = calloc(ncnt, sizeof(unsigned));
    unsigned *dcnt = dev_upload(hcnt, ncnt * sizeof(unsigned));
    float *dout = dev_alloc((size_t)4 * nq * 4);
    float *scratch = malloc((size_t)N * 4), *ref = malloc(nq * 4);
    int p0 = 0;
    while (p0 < N) {
        const int dec = p0 >= c->n_fill;
        const int T = !dec ? (c->n_fill - p0 < c->fill_t ? c->n_fill - p0 : c->fill_t)
                           : (p0 < c->n_fill + c->n_dec ? 1 : N - p0);
        const int fuse = dec && T == 1;
        float *dqkv = dev_upload(qkv + (size_t)p0 * qw, (size_t)T * qw * 4);
        int32_t *dpos = dev_upload(&p0, 4);
        gtc_act qa = act_new(T, (int)nq);
        gtc_attn_args aa = kc_attn_args(dqkv, qw, T, nh, nkv, dpos, kc, vc, kt, c->ring, n_ctx - 1,
                                        c->window, part, dout);
        aa.inv_freq = c->rope ? dfreq : NULL;
        aa.mscale = msc;
        aa.sinks = c->sinks ? dsinks : NULL;
        aa.qout = &qa;
        aa.fuse = fuse;
        aa.cnt = c->cnt ? dcnt : NULL;
        if (!fuse) ck_assert_msg(gtc_rope_store(&aa, NULL) == 0, "%s", gtc_last_error());
        if (dec) {
            dev_poison(dout, (size_t)T * nq * 4);
            ck_assert_msg(gtc_attention(&aa, NULL) == 0, "%s", gtc_last_error());
            float *got = dev_download(dout, (size_t)T * nq);
            float *hs = dev_download(qa.s, (size_t)T * nq / 32);
            int16_t *hq = malloc((size_t)T * nq * 2);
            ck_assert_int_eq(gtc_d2h(hq, qa.q, (size_t)T * nq * 2), 0);
            uint8_t *gk = malloc((size_t)rows * rb), *gv = malloc((size_t)rows * rb);
            ck_assert_int_eq(gtc_d2h(gk, kc, (size_t)rows * rb), 0);
            ck_assert_int_eq(gtc_d2h(gv, vc, (size_t)rows * rb), 0);
            float *hk = malloc((size_t)N * nk * 4), *hv = malloc((size_t)N * nk * 4);
            for (int t = 0; t < T; t++) {
                const int p = p0 + t;
                const int lo = c->window > 0 && p - c->window + 1 > 0 ? p - c->window + 1 : 0;
                int flipped = 0; /* a key the GPU's RoPE moved across a rounding edge */
                for (int j = lo; j <= p; j++) {
                    const int r = c->ring > 0 ? j % c->ring : j;
                    kv_row_f32(kt, gk + (size_t)r * rb, hk + (size_t)j * nk, (int)nk);
                    kv_row_f32(kt, gv + (size_t)r * rb, hv + (size_t)j * nk, (int)nk);
                    for (size_t i = 0; i < nk; i++)
                        flipped |= hk[(size_t)j * nk + i] != rk[(size_t)j * nk + i];
                }
                /* the kernel over the rows the GPU stored: the fp32 bound for every type */
                op_attention(ref, cq + (size_t)p * nq, hk + (size_t)lo * nk, hv + (size_t)lo * nk,
                             p - lo + 1, nh, nkv, hd, c->sinks ? sinks : NULL, 0.125f, scratch);
                double e = nmse(got + (size_t)t * nq, ref, nq);
                ck_assert_msg(e <= 1e-7,
                              "decode attention over the stored rows, G=%d pos %d (T %d, window "
                              "%d, cache type %d, counters %d): nmse %g",
                              nh / nkv, p, T, c->window, kt, c->cnt, e);
                /* end to end against the twin's rounding (a Q8_0 key one step off: the check
                 * above and the stored-row checks below judge it) */
                op_attention(ref, cq + (size_t)p * nq, rk + (size_t)lo * nk, rvv + (size_t)lo * nk,
                             p - lo + 1, nh, nkv, hd, c->sinks ? sinks : NULL, 0.125f, scratch);
                e = nmse(got + (size_t)t * nq, ref, nq);
                if (!flipped || kt != GTC_KV_Q8_0)
                    ck_assert_msg(e <= 1e-7,
                                  "decode attention G=%d pos %d (T %d, window %d, cache type %d, "
                                  "counters %d): nmse %g",
                                  nh / nkv, p, T, c->window, kt, c->cnt, e);
            }
            free(gk);
            free(gv);
            free(hk);
            free(hv);
            for (size_t i = 0; i < (size_t)T * nq; i++) /* the int16 copy: within half a step */
                ck_assert(fabsf(hq[i] * hs[i / 32] - got[i]) <=
                          0.5f * hs[i / 32] + 1e-6f * fabsf(got[i]) + 1e-7f);
            free(got);
            free(hs);
            free(hq);
        }
        act_free(&qa);
        gtc_free(dqkv);
        gtc_free(dpos);
        p0 += T;
    }
    /* the counters are back at zero; the rows stored inside the kernel hold v exactly as the
     * cache type rounds it and k within one step (RoPE's sincos) */
    ck_assert_int_eq(gtc_d2h(hcnt, dcnt, ncnt * sizeof(unsigned)), 0);
    for (size_t i = 0; i < ncnt; i++) ck_assert_uint_eq(hcnt[i], 0);
    {
        const int n = nkv * hd;
        uint8_t *row = malloc(rb);
        float *got = malloc((size_t)n * 4);
        for (int p = c->n_fill; p < c->n_fill + c->n_dec; p++) {
            const int r = c->ring > 0 ? p % c->ring : p;
            if (c->ring > 0 && N - p > c->ring) continue; /* overwritten since */
            ck_assert_int_eq(gtc_d2h(row, vc + (size_t)r * rb, rb), 0);
            kv_row_f32(kt, row, got, n);
            ck_assert(nmse(got, rvv + (size_t)p * n, n) == 0);
            ck_assert_int_eq(gtc_d2h(row, kc + (size_t)r * rb, rb), 0);
            kv_row_f32(kt, row, got, n);
            const float *want = rk + (size_t)p * n;
            if (kt == GTC_KV_F32) {
                ck_assert(nmse(got, want, n) <= 1e-10);
                continue;
            }
            for (int i = 0; i < n; i++) { /* one step: f16 ulp, or the Q8_0 block's scale */
                float step = fabsf(want[i]) * 9.9e-4f + 6e-8f;
                if (kt == GTC_KV_Q8_0) {
                    step = 0.f;
                    for (int j = i / 32 * 32; j < i / 32 * 32 + 32; j++)
                        step = fabsf(want[j]) > step ? fabsf(want[j]) : step;
                    step = step / 127.f * 1.01f;
                }
                ck_assert_msg(fabsf(got[i] - want[i]) <= step,
                              "k row %d element %d stored by the attention kernel: %g vs %g", p, i,
                              got[i], want[i]);
            }
        }
        free(row);
        free(got);
    }
    free(qkv);
    free(sinks);
    free(cq);
    free(rk);
    free(rvv);
    free(scratch);
    free(ref);
    free(hcnt);
    gtc_free(dfreq);
    gtc_free(dsinks);
    gtc_free(kc);
    gtc_free(vc);
    gtc_free(part);
    gtc_free(dcnt);
    gtc_free(dout);
}

/* GPT-2's shape: one query head per KV head, no RoPE, no sinks; short and several-split caches */
START_TEST(test_attention_decode_g1) {
    for (int kt = GTC_KV_F32; kt <= GTC_KV_Q8_0; kt++) {
        for (int cnt = 0; cnt <= 1; cnt++) {
            vec_case_t a = {12, 12, 0, 0, 0, 0, kt, 17, 17, 3, cnt};
            vec_case(&a);
            vec_case_t b = {4, 4, 0, 0, 0, 0, kt, 1000, 256, 4, cnt};
            vec_case(&b);
        }
        vec_case_t r = {2, 2, 1, 1, 0, 0, kt, 3000, 512, 3, 1}; /* G = 1 with RoPE and sinks */
        vec_case(&r);
    }
}
END_TEST

/* gpt-oss's shape: 8 query heads per KV head, RoPE, sinks; the 128-key window in a ring; G = 2
 * and 4 */
START_TEST(test_attention_decode_gqa) {
    for (int kt = GTC_KV_F32; kt <= GTC_KV_Q8_0; kt++) {
        vec_case_t a = {16, 2, 1, 1, 0, 0, kt, 300, 100, 3, 1};
        vec_case(&a);
        vec_case_t w = {16, 2, 1, 1, 128, 131, kt, 300, 4, 5, 1}; /* ring of window + 3 rows */
        vec_case(&w);
        vec_case_t w0 = {16, 2, 1, 1, 128, 131, kt, 60, 4, 3, 0}; /* under the window */
        vec_case(&w0);
        vec_case_t g2 = {8, 4, 1, 1, 0, 0, kt, 700, 350, 2, 0};
        vec_case(&g2);
        vec_case_t g4 = {8, 2, 1, 0, 0, 0, kt, 700, 350, 2, 1};
        vec_case(&g4);
    }
}
END_TEST

/* 20,000 cached keys: the most splits, merged by the last block and by the second kernel */
START_TEST(test_attention_decode_long) {
    for (int kt = GTC_KV_F32; kt <= GTC_KV_Q8_0; kt++) {
        vec_case_t a = {8, 1, 1, 1, 0, 0, kt, 20000, 2500, 3, 1};
        vec_case(&a);
        vec_case_t b = {8, 1, 1, 1, 0, 0, kt, 20000, 2500, 2, 0};
        vec_case(&b);
        vec_case_t g1 = {2, 2, 0, 0, 0, 0, kt, 20000, 2500, 2, 1};
        vec_case(&g1);
    }
}
END_TEST

/* The tile kernel with RoPE and the K/V store inside (GPTC_CUDA_ATTN_TILE_FUSE; the decode
 * kernel pinned off): the decode cases above at the same bounds, G = 1 without RoPE (GPT-2),
 * gpt-oss's G = 8 with RoPE, sinks and the window ring, G = 2; every cache type. Each single-token
 * step is one fused launch. */
START_TEST(test_attention_tile_fuse) {
    gtc_attn_set_vec_max_t(0);
    gtc_attn_set_mma_min_t(0);
    gtc_attn_set_tile_fuse(1);
    for (int kt = GTC_KV_F32; kt <= GTC_KV_Q8_0; kt++) {
        const vec_case_t cs[] = {{12, 12, 0, 0, 0, 0, kt, 17, 17, 3, 0},
                                 {2, 2, 1, 1, 0, 0, kt, 3000, 512, 3, 0},
                                 {16, 2, 1, 1, 0, 0, kt, 300, 100, 3, 0},
                                 {16, 2, 1, 1, 128, 131, kt, 300, 4, 5, 0},
                                 {8, 4, 1, 1, 0, 0, kt, 700, 350, 2, 0},
                                 /* 5,000 keys: 128 splits of 64, two tiles a block (the
                                  * next tile's loads during the math) */
                                 {16, 2, 1, 1, 0, 0, kt, 5000, 2500, 2, 0}};
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            const unsigned long n0 = gtc_attn_tile_fuse_calls();
            vec_case(&cs[i]);
            ck_assert_uint_eq(gtc_attn_tile_fuse_calls(), n0 + (unsigned long)cs[i].n_dec);
        }
    }
    gtc_attn_set_tile_fuse(-1);
    gtc_attn_set_mma_min_t(-1);
    gtc_attn_set_vec_max_t(-1);
}
END_TEST

/* ---- prefill helpers ---------------------------------------------------------------------- */
/* Buckets by hand: bucket b holds positions below 256 << b, the last one ends at n_ctx; every
 * position is at most its bucket's last position. */
START_TEST(test_graph_bucket) {
    const int cases[][4] = {
        /* n_ctx, pos, bucket, max_pos */
        {4096, 0, 0, 255},        {4096, 255, 0, 255},        {4096, 256, 1, 511},
        {4096, 2047, 3, 2047},    {4096, 2048, 4, 4095},      {4096, 4095, 4, 4095},
        {300, 299, 1, 299},       {100, 50, 0, 99},           {256, 255, 0, 255},
        {131072, 8192, 6, 16383}, {131072, 131071, 9, 131071}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int mp = -1;
        const int b = gtc_graph_bucket(cases[i][0], cases[i][1], &mp);
        ck_assert_msg(b == cases[i][2] && mp == cases[i][3], "n_ctx %d pos %d: bucket %d max %d",
                      cases[i][0], cases[i][1], b, mp);
    }
    for (int n_ctx = 1; n_ctx <= 5000; n_ctx += 37)
        for (int pos = 0; pos < n_ctx; pos += 13) {
            int mp = -1;
            const int b = gtc_graph_bucket(n_ctx, pos, &mp);
            ck_assert(b >= 0 && b < GTC_GRAPH_BUCKETS && pos <= mp && mp < n_ctx);
        }
}
END_TEST

START_TEST(test_prefill_helpers) {
    const int cnt = 5, n = 96, T = 7;
    float *g = rand_vec(cnt * n, 4.0f), *u = rand_vec(cnt * n, 4.0f), *bg = rand_vec(n, 1.0f);
    float *bu = rand_vec(n, 1.0f);
    float *dg = dev_upload(g, cnt * n * 4), *du = dev_upload(u, cnt * n * 4);
    float *dbg = dev_upload(bg, n * 4), *dbu = dev_upload(bu, n * 4);
    uint16_t *dh = dev_alloc(cnt * n * 2), hh[5 * 96];
    const gtc_rows gr = {dg, n, 0, 0, cnt, n};
    ck_assert_int_eq(gtc_swiglu_f16(&gr, du, dbg, dbu, 1.702f, 7.0f, dh, NULL), 0);
    ck_assert_int_eq(gtc_d2h(hh, dh, sizeof hh), 0);
    float got[5 * 96], ref[5 * 96], gg[96], uu[96];
    for (int i = 0; i < cnt; i++) {
        for (int j = 0; j < n; j++) gg[j] = g[i * n + j] + bg[j], uu[j] = u[i * n + j] + bu[j];
        op_swiglu_oai(ref + i * n, gg, uu, n, 1.702f, 7.0f);
        for (int j = 0; j < n; j++) got[i * n + j] = quant_f16_to_f32(hh[i * n + j]);
    }
    ck_assert(nmse(got, ref, cnt * n) <= 1e-6);
    /* scatter-add into rows 6, 0, 2 of x[T][n] */
    float *x = rand_vec(T * n, 1.0f), *y = rand_vec(3 * n, 1.0f);
    int32_t idx[3] = {6, 0, 2};
    float wt[3] = {0.5f, 0.25f, 2.0f};
    float *dx = dev_upload(x, T * n * 4), *dy = dev_upload(y, 3 * n * 4), *dwt = dev_upload(wt, 12);
    int32_t *didx = dev_upload(idx, 12);
    const gtc_rows yr = {dy, n, 0, 0, 3, n};
    ck_assert_int_eq(gtc_scatter_add(dx, &yr, dbg, didx, dwt, NULL), 0);
    float *gx = dev_download(dx, T * n);
    for (int i = 0; i < 3; i++)
        op_axpy(x + idx[i] * n, wt[i], y + i * n, n), op_axpy(x + idx[i] * n, wt[i], bg, n);
    ck_assert(nmse(gx, x, T * n) <= 1e-12);
    /* argmax: first of two equal maxima */
    float lg[1000];
    for (int i = 0; i < 1000; i++) lg[i] = frand();
    lg[613] = lg[977] = 50.0f;
    float *dl = dev_upload(lg, sizeof lg);
    int32_t *dam = dev_alloc(4), am = -1;
    ck_assert_int_eq(gtc_argmax(dl, 1000, dam, NULL), 0);
    ck_assert_int_eq(gtc_d2h(&am, dam, 4), 0);
    ck_assert_int_eq(am, 613);
    free(g);
    free(u);
    free(bg);
    free(bu);
    free(x);
    free(y);
    free(gx);
    gtc_free(dg);
    gtc_free(du);
    gtc_free(dbg);
    gtc_free(dbu);
    gtc_free(dh);
    gtc_free(dx);
    gtc_free(dy);
    gtc_free(dwt);
    gtc_free(didx);
    gtc_free(dl);
    gtc_free(dam);
}
END_TEST

/* ---- fast MoE prefill: several experts per dequantisation launch ---------------------------- */
/* experts 3, 0, 4 of a 5-expert matrix (9 rows each) into slots with a gap between them: each
 * slot the CPU's dequantised rows to fp16 rounding (as gtc_dequant_f16), the gap untouched */
START_TEST(test_dequant_experts) {
    const int64_t n = 512, rows = 9, E = 5, gap = 64, stride = rows * n + gap;
    const gtc_elist el = {3, {3, 0, 4}};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = all_types[ti];
        uint8_t *W = rand_matrix(type, E * rows, n, 1.0f);
        gtc_mat m;
        ck_assert_int_eq(gtc_upload_matrix(type, W, n, E * rows, rows, &m), 0);
        uint16_t *d16 = dev_alloc(3 * stride * 2), *h16 = malloc(3 * stride * 2);
        dev_poison(d16, 3 * stride * 2);
        ck_assert_int_eq(gtc_dequant_f16_experts(&m, &el, d16, stride, NULL), 0);
        ck_assert_int_eq(gtc_d2h(h16, d16, 3 * stride * 2), 0);
        float *got = malloc(rows * n * 4), *ref = malloc(rows * n * 4);
        size_t rb = ggml_row_size(type, n);
        for (int x = 0; x < el.n; x++) {
            for (int64_t r = 0; r < rows; r++) {
                quant_dequant_row(type, W + (el.e[x] * rows + r) * rb, ref + r * n, n);
                for (int64_t i = 0; i < n; i++)
                    got[r * n + i] = quant_f16_to_f32(h16[x * stride + r * n + i]);
            }
            double e = nmse(got, ref, rows * n);
            ck_assert_msg(e <= 1e-6, "dequant_f16_experts type %u slot %d: nmse %g", type, x, e);
            for (int64_t i = rows * n; i < stride; i++)
                ck_assert_uint_eq(h16[x * stride + i], 0xffff);
        }
        gtc_elist big = {GTC_DQ_MAX_EXP + 1, {0}};
        ck_assert_int_eq(gtc_dequant_f16_experts(&m, &big, d16, stride, NULL), -1);
        free(W);
        free(h16);
        free(got);
        free(ref);
        gtc_free(d16);
        gtc_free((void *)m.base);
    }
}
END_TEST

/* SwiGLU with each row's expert biases, then the per-token sum of the expert rows: T tokens, k = 3
 * experts each (of E = 4), rows sorted by expert as the host sorts them, against a CPU loop */
START_TEST(test_moe_fast_helpers) {
    enum { T = 5, K = 3, E = 4, N = 96, R = T * K };
    const int64_t bs = N + 8; /* bias stride between experts */
    const int32_t ids[T * K] = {2, 0, 3, 1, 2, 0, 3, 3, 1, 0, 1, 2, 2, 3, 0};
    float wt[T * K];
    for (int i = 0; i < T * K; i++) wt[i] = 0.25f + 0.1f * (float)i;
    int32_t perm_tok[R], perm_exp[R], inv[R], j = 0;
    for (int e = 0; e < E; e++)
        for (int i = 0; i < T * K; i++)
            if (ids[i] == e) perm_tok[j] = i / K, perm_exp[j] = e, inv[i] = j++;
    ck_assert_int_eq(j, R);
    /* g rows [R][2N]: gate in [0, N), up in [N, 2N) */
    float *g = rand_vec((size_t)R * 2 * N, 4.0f), *bg = rand_vec(E * bs, 1.0f);
    float *bu = rand_vec(E * bs, 1.0f);
    float *dg = dev_upload(g, (size_t)R * 2 * N * 4), *dbg = dev_upload(bg, E * bs * 4);
    float *dbu = dev_upload(bu, E * bs * 4);
    int32_t *dpe = dev_upload(perm_exp, sizeof perm_exp);
    uint16_t *dh = dev_alloc(R * N * 2), hh[R * N];
    const gtc_rows gr = {dg, 2 * N, 0, 0, R, N};
    ck_assert_int_eq(
        gtc_swiglu_f16_experts(&gr, dg + N, dbg, bs, dbu, bs, dpe, 1.702f, 7.0f, dh, NULL), 0);
    ck_assert_int_eq(gtc_d2h(hh, dh, sizeof hh), 0);
    float got[R * N], ref[R * N], gg[N], uu[N];
    for (int r = 0; r < R; r++) {
        const int e = perm_exp[r];
        for (int c = 0; c < N; c++)
            gg[c] = g[r * 2 * N + c] + bg[e * bs + c],
            uu[c] = g[r * 2 * N + N + c] + bu[e * bs + c];
        op_swiglu_oai(ref + r * N, gg, uu, N, 1.702f, 7.0f);
        for (int c = 0; c < N; c++) got[r * N + c] = quant_f16_to_f32(hh[r * N + c]);
    }
    ck_assert(nmse(got, ref, R * N) <= 1e-6);
    /* combine: x[t] += sum_j wt (y[row of (t, j)] + b[expert]) */
    float *x = rand_vec(T * N, 1.0f), *y = rand_vec(R * N, 1.0f), *b = rand_vec(E * bs, 1.0f);
    float *dx = dev_upload(x, T * N * 4), *dy = dev_upload(y, R * N * 4);
    float *db = dev_upload(b, E * bs * 4), *dwt = dev_upload(wt, sizeof wt);
    int32_t *dinv = dev_upload(inv, sizeof inv), *dids = dev_upload(ids, sizeof ids);
    ck_assert_int_eq(gtc_moe_combine(dy, dinv, dids, dwt, db, bs, T, K, N, dx, NULL), 0);
    float *gx = dev_download(dx, T * N);
    for (int r = 0; r < R; r++) { /* row r belongs to token perm_tok[r], expert perm_exp[r] */
        int s = -1;
        for (int i = 0; i < T * K; i++)
            if (inv[i] == r) s = i;
        ck_assert_int_eq(perm_tok[r], s / K);
        op_axpy(x + perm_tok[r] * N, wt[s], y + r * N, N);
        op_axpy(x + perm_tok[r] * N, wt[s], b + perm_exp[r] * bs, N);
    }
    ck_assert_msg(nmse(gx, x, T * N) <= 1e-12, "moe_combine: nmse %g", nmse(gx, x, T * N));
    /* without biases */
    ck_assert_int_eq(gtc_moe_combine(dy, dinv, dids, dwt, NULL, 0, T, K, N, dx, NULL), 0);
    free(gx);
    gx = dev_download(dx, T * N);
    for (int r = 0; r < R; r++) {
        int s = -1;
        for (int i = 0; i < T * K; i++)
            if (inv[i] == r) s = i;
        op_axpy(x + perm_tok[r] * N, wt[s], y + r * N, N);
    }
    ck_assert(nmse(gx, x, T * N) <= 1e-12);
    free(g);
    free(bg);
    free(bu);
    free(x);
    free(y);
    free(b);
    free(gx);
    gtc_free(dg);
    gtc_free(dbg);
    gtc_free(dbu);
    gtc_free(dpe);
    gtc_free(dh);
    gtc_free(dx);
    gtc_free(dy);
    gtc_free(db);
    gtc_free(dwt);
    gtc_free(dinv);
    gtc_free(dids);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cuda_kernels");
    TU_CASE(s, test_gemv_formats, 120);
    TU_CASE(s, test_gemv_segments, 120);
    TU_CASE(s, test_repack_chunks, 120);
    TU_CASE(s, test_moe_packed, 120);
    TU_CASE(s, test_moe_grouped_packed, 120);
    TU_CASE(s, test_dequant_embed, 120);
    TU_CASE(s, test_norms, 120);
    TU_CASE(s, test_topk, 120);
    TU_CASE(s, test_moe_mxfp4, 120);
    TU_CASE(s, test_moe_mixed, 120);
    TU_CASE(s, test_moe_grouped_mxfp4, 120);
    TU_CASE(s, test_moe_grouped_mixed, 120);
    TU_CASE(s, test_gemv_tokens, 120);
    TU_CASE(s, test_moe_mmq_mxfp4, 120);
    TU_CASE(s, test_moe_mmq_q8, 120);
    TU_CASE(s, test_mmq, 120);
    TU_CASE(s, test_attention_window, 120);
    TU_CASE(s, test_attention_full, 120);
    TU_CASE(s, test_attention_cache_types, 120);
    TU_CASE(s, test_attention_tile_vec, 300);
    TU_CASE(s, test_attention_decode_g1, 120);
    TU_CASE(s, test_attention_decode_gqa, 120);
    TU_CASE(s, test_attention_decode_long, 120);
    TU_CASE(s, test_attention_tile_fuse, 300);
    TU_CASE(s, test_prefill_helpers, 120);
    TU_CASE(s, test_graph_bucket, 60);
    TU_CASE(s, test_dequant_experts, 120);
    TU_CASE(s, test_moe_fast_helpers, 120);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
