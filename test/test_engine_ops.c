/* test_engine_ops.c — every CPU reference op (engine/ops.h) against a hand-worked value or an
 * independent double-precision formula written out here; the YaRN inverse frequencies against
 * the table in docs/gpt-oss.md §2.2; thread-count invariance of the matmul. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/pool.h"
#include "engine/quant.h"
#include "gguf/gguf.h"
#include "test/util/tucheck.h"

static double rel(double a, double b) {
    return fabs(a - b) / (fabs(b) > 1e-30 ? fabs(b) : 1.0);
}

/* deterministic pseudo-random floats in [-1, 1) */
static uint64_t rs = 12345;
static float frand(void) {
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rs >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

START_TEST(test_rmsnorm) {
    const float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 0.5f};
    float out[4];
    op_rmsnorm(out, x, w, 4, 1e-5f);
    /* mean(x^2) = 30/4 = 7.5 */
    double s = 1.0 / sqrt(7.5 + 1e-5);
    ck_assert_double_le(rel(out[0], 1 * s), 1e-6);
    ck_assert_double_le(rel(out[1], 2 * s), 1e-6);
    ck_assert_double_le(rel(out[2], 6 * s), 1e-6);
    ck_assert_double_le(rel(out[3], 2 * s), 1e-6);
    /* in place */
    float y[4] = {1, 2, 3, 4};
    op_rmsnorm(y, y, w, 4, 1e-5f);
    ck_assert(memcmp(y, out, sizeof(y)) == 0);
}
END_TEST

START_TEST(test_layernorm) {
    const float x[4] = {1, 2, 3, 4}, g[4] = {1, 2, 1, 1}, b[4] = {0, 0, 0.5f, -1};
    float out[4];
    op_layernorm(out, x, g, b, 4, 1e-5f);
    /* mean 2.5, biased variance 1.25 */
    double r = 1.0 / sqrt(1.25 + 1e-5);
    const double want[4] = {-1.5 * r, -0.5 * r * 2, 0.5 * r + 0.5, 1.5 * r - 1};
    for (int i = 0; i < 4; i++) ck_assert_double_le(fabs(out[i] - want[i]), 1e-6);
}
END_TEST

/* docs/gpt-oss.md §2.2 table: i = 8..18 */
static const double ref_unrounded[11] = {5.081327e-02, 3.170570e-02, 1.933500e-02, 1.159205e-02,
                                         6.794959e-03, 3.860359e-03, 2.093792e-03, 1.052602e-03,
                                         4.564839e-04, 1.293187e-04, 3.830881e-05};
static const double ref_rounded[11] = {5.081327e-02, 3.162075e-02, 1.945097e-02, 1.179219e-02,
                                       7.015714e-03, 4.069555e-03, 2.277272e-03, 1.206131e-03,
                                       5.809475e-04, 2.279478e-04, 3.830881e-05};

static const op_rope_params oss_rope = {.dim = 64,
                                        .freq_base = 150000.0,
                                        .yarn = 1,
                                        .factor = 32.0,
                                        .orig_ctx = 4096,
                                        .beta_fast = 32.0,
                                        .beta_slow = 1.0};

START_TEST(test_yarn_inv_freq_table) {
    float f[32];
    op_rope_yarn_inv_freq(f, &oss_rope, 0);
    for (int i = 8; i <= 18; i++) ck_assert_double_le(rel(f[i], ref_unrounded[i - 8]), 2e-6);
    op_rope_yarn_inv_freq(f, &oss_rope, 1);
    for (int i = 8; i <= 18; i++) ck_assert_double_le(rel(f[i], ref_rounded[i - 8]), 2e-6);
    /* outside the ramp: pure extrapolation (i <= 8) and pure interpolation (i >= 18) */
    for (int r = 0; r < 2; r++) {
        op_rope_yarn_inv_freq(f, &oss_rope, r);
        for (int i = 0; i <= 8; i++)
            ck_assert_double_le(rel(f[i], pow(150000.0, -2.0 * i / 64)), 1e-6);
        for (int i = 18; i < 32; i++)
            ck_assert_double_le(rel(f[i], pow(150000.0, -2.0 * i / 64) / 32.0), 1e-6);
    }
    ck_assert_double_le(fabs(op_rope_yarn_mscale(&oss_rope) - 1.3465735903), 1e-7);
    /* plain RoPE */
    op_rope_params plain = oss_rope;
    plain.yarn = 0;
    op_rope_yarn_inv_freq(f, &plain, 0);
    for (int i = 0; i < 32; i++) ck_assert_double_le(rel(f[i], pow(150000.0, -2.0 * i / 64)), 1e-6);
    ck_assert_float_eq(op_rope_yarn_mscale(&plain), 1.0f);
}
END_TEST

START_TEST(test_rope_neox) {
    enum { H = 2, HD = 8 };
    float x[H * HD], y[H * HD];
    for (int i = 0; i < H * HD; i++) x[i] = y[i] = frand();
    const float inv[HD / 2] = {1.0f, 0.3f, 0.01f, 0.0007f};
    const int64_t pos = 37;
    const float ms = 1.25f;
    op_rope_neox(y, H, HD, pos, inv, ms);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < HD / 2; i++) {
            double th = (double)(float)((float)pos * inv[i]);
            double a = x[h * HD + i], b = x[h * HD + i + HD / 2];
            double y0 = ms * (a * cos(th) - b * sin(th)), y1 = ms * (b * cos(th) + a * sin(th));
            ck_assert_double_le(fabs(y[h * HD + i] - y0), 1e-6);
            ck_assert_double_le(fabs(y[h * HD + i + HD / 2] - y1), 1e-6);
        }
    /* position 0 only scales */
    float z[HD];
    for (int i = 0; i < HD; i++) z[i] = x[i];
    op_rope_neox(z, 1, HD, 0, inv, ms);
    for (int i = 0; i < HD; i++) ck_assert_double_le(fabs(z[i] - ms * x[i]), 1e-7);
}
END_TEST

/* attention of one query, direct double formula */
static void att_ref(double *out, const float *q, const float *k, const float *v, int n_kv,
                    int n_head, int n_kvh, int hd, const float *sinks, double scale) {
    for (int h = 0; h < n_head; h++) {
        int g = h / (n_head / n_kvh);
        double s[64], mx = sinks ? sinks[h] : -INFINITY;
        for (int j = 0; j < n_kv; j++) {
            double d = 0;
            for (int i = 0; i < hd; i++)
                d += (double)q[h * hd + i] * k[(size_t)j * n_kvh * hd + g * hd + i];
            s[j] = d * scale;
            if (s[j] > mx) mx = s[j];
        }
        double den = sinks ? exp(sinks[h] - mx) : 0;
        for (int j = 0; j < n_kv; j++) den += exp(s[j] - mx);
        for (int i = 0; i < hd; i++) {
            double o = 0;
            for (int j = 0; j < n_kv; j++)
                o += exp(s[j] - mx) / den * v[(size_t)j * n_kvh * hd + g * hd + i];
            out[h * hd + i] = o;
        }
    }
}

START_TEST(test_attention_sinks) {
    enum { NH = 4, NKV = 2, HD = 16, NK = 9 };
    float q[NH * HD], k[NK * NKV * HD], v[NK * NKV * HD], sinks[NH] = {0.5f, -1.0f, 3.0f, 0.0f};
    for (int i = 0; i < NH * HD; i++) q[i] = 2 * frand();
    for (int i = 0; i < NK * NKV * HD; i++) k[i] = 2 * frand(), v[i] = frand();
    float out[NH * HD], scratch[NK];
    double ref[NH * HD];
    for (int with = 0; with < 2; with++) {
        op_attention(out, q, k, v, NK, NH, NKV, HD, with ? sinks : NULL, 0.25f, scratch);
        att_ref(ref, q, k, v, NK, NH, NKV, HD, with ? sinks : NULL, 0.25);
        for (int i = 0; i < NH * HD; i++) ck_assert_double_le(fabs(out[i] - ref[i]), 2e-6);
    }
    /* v = 1 everywhere: output = sum of weights = 1 - sink share (hand-checkable) */
    for (int i = 0; i < NK * NKV * HD; i++) v[i] = 1.0f, k[i] = 0.0f;
    op_attention(out, q, k, v, NK, NH, NKV, HD, sinks, 0.25f, scratch);
    for (int h = 0; h < NH; h++) {
        /* all scores 0: weight of each key = 1 / (NK + e^sink) */
        double want = NK / (NK + exp(sinks[h]));
        ck_assert_double_le(fabs(out[h * HD] - want), 1e-6);
    }
}
END_TEST

START_TEST(test_swiglu_oai) {
    const float gate[5] = {10.0f, -3.0f, 0.5f, 7.0f, -20.0f};
    const float up[5] = {10.0f, -9.0f, 0.25f, -7.5f, 1.0f};
    float out[5];
    op_swiglu_oai(out, gate, up, 5, 1.702f, 7.0f);
    /* gate clamped above only, up clamped both sides, +1 on up */
    const double g[5] = {7.0, -3.0, 0.5, 7.0, -20.0};
    const double u[5] = {7.0, -7.0, 0.25, -7.0, 1.0};
    for (int i = 0; i < 5; i++) {
        double want = g[i] / (1.0 + exp(-1.702 * g[i])) * (u[i] + 1.0);
        ck_assert_double_le(fabs(out[i] - want), 1e-5 * (1 + fabs(want)));
    }
    /* hand value: gate 7, up 7 -> 7 * sigmoid(11.914) * 8 = 55.99962... */
    ck_assert_double_le(fabs(out[0] - 55.99962), 1e-4);
}
END_TEST

START_TEST(test_gelu_tanh) {
    const float x[5] = {0.0f, 1.0f, -1.0f, 3.0f, -10.0f};
    float out[5];
    op_gelu_tanh(out, x, 5);
    /* known values of the tanh approximation */
    ck_assert_double_le(fabs(out[0]), 1e-9);
    ck_assert_double_le(fabs(out[1] - 0.8411920), 1e-6);
    ck_assert_double_le(fabs(out[2] + 0.1588080), 1e-6);
    ck_assert_double_le(fabs(out[3] - 2.9963627), 1e-6);
    ck_assert_double_le(fabs(out[4]), 1e-6);
}
END_TEST

START_TEST(test_router_topk) {
    const float l[6] = {1.0f, 5.0f, 3.0f, 5.0f, 2.0f, 4.0f};
    int idx[3];
    float w[3];
    op_router_topk_softmax(l, 6, 3, idx, w);
    ck_assert_int_eq(idx[0], 1); /* tie with 3: lower index first */
    ck_assert_int_eq(idx[1], 3);
    ck_assert_int_eq(idx[2], 5);
    double z = 2 * exp(5.0) + exp(4.0);
    ck_assert_double_le(fabs(w[0] - exp(5.0) / z), 1e-6);
    ck_assert_double_le(fabs(w[1] - exp(5.0) / z), 1e-6);
    ck_assert_double_le(fabs(w[2] - exp(4.0) / z), 1e-6);
}
END_TEST

/* y = W x for F32 and Q8_0 weights against a double dot of the dequantised rows; 1 vs 3
 * threads bit-identical */
START_TEST(test_matmul) {
    enum { NIN = 96, NOUT = 37, T = 37 };
    float *wf = malloc(sizeof(float) * NIN * NOUT), *x = malloc(sizeof(float) * NIN * T);
    float *bias = malloc(sizeof(float) * NOUT);
    for (int i = 0; i < NIN * NOUT; i++) wf[i] = frand();
    for (int i = 0; i < NIN * T; i++) x[i] = frand();
    for (int i = 0; i < NOUT; i++) bias[i] = frand();
    const uint32_t types[3] = {GGML_TYPE_F32, GGML_TYPE_Q8_0, GGML_TYPE_MXFP4};
    gt_pool *p1 = gt_pool_create(1), *p3 = gt_pool_create(3);
    for (int ti = 0; ti < 3; ti++) {
        uint32_t type = types[ti];
        size_t rb = quant_row_size(type, NIN);
        ck_assert_uint_gt(rb, 0);
        /* two experts: the second is the one used */
        char *wq = malloc(rb * NOUT * 2);
        for (int r = 0; r < NOUT; r++) {
            quant_quantize_row(type, wf + r * NIN, wq + rb * r, NIN);
            quant_quantize_row(type, wf + ((r + 1) % NOUT) * NIN, wq + rb * (NOUT + r), NIN);
        }
        gt_weight W = {.type = type,
                       .ne = {NIN, NOUT, 2, 1},
                       .row_bytes = rb,
                       .expert_stride = rb * NOUT,
                       .data = wq};
        float *y1 = malloc(sizeof(float) * NOUT * T), *y3 = malloc(sizeof(float) * NOUT * T);
        float *deq = malloc(sizeof(float) * NIN);
        for (int tt = 1; tt <= T; tt += T - 1) { /* T = 1 and T = 37 */
            op_matmul(y1, x, tt, &W, 1, bias, p1);
            op_matmul(y3, x, tt, &W, 1, bias, p3);
            ck_assert(memcmp(y1, y3, sizeof(float) * NOUT * tt) == 0);
            for (int t = 0; t < tt; t++)
                for (int r = 0; r < NOUT; r++) {
                    quant_dequant_row(type, wq + rb * (NOUT + r), deq, NIN);
                    double d = bias[r];
                    for (int i = 0; i < NIN; i++) d += (double)deq[i] * x[t * NIN + i];
                    ck_assert_double_le(fabs(y1[t * NOUT + r] - d), 1e-4);
                }
        }
        /* the NULL pool path agrees too */
        op_matmul(y3, x, T, &W, 1, bias, NULL);
        op_matmul(y1, x, T, &W, 1, bias, p3);
        ck_assert(memcmp(y1, y3, sizeof(float) * NOUT * T) == 0);
        free(y1);
        free(y3);
        free(deq);
        free(wq);
    }
    gt_pool_destroy(p1);
    gt_pool_destroy(p3);
    free(wf);
    free(x);
    free(bias);
}
END_TEST

/* a batch of products in one dispatch == each op_matmul alone, bit for bit */
START_TEST(test_matmul_batch) {
    enum { NIN = 64, NOUT = 40, E = 3, T = 5 };
    float *wf = malloc(sizeof(float) * NIN * NOUT * E), *x = malloc(sizeof(float) * NIN * T);
    for (int i = 0; i < NIN * NOUT * E; i++) wf[i] = frand();
    for (int i = 0; i < NIN * T; i++) x[i] = frand();
    size_t rb = quant_row_size(GGML_TYPE_Q8_0, NIN);
    char *wq = malloc(rb * NOUT * E);
    for (int r = 0; r < NOUT * E; r++)
        quant_quantize_row(GGML_TYPE_Q8_0, wf + r * NIN, wq + rb * r, NIN);
    gt_weight W = {.type = GGML_TYPE_Q8_0,
                   .ne = {NIN, NOUT, E, 1},
                   .row_bytes = rb,
                   .expert_stride = rb * NOUT,
                   .data = wq};
    float bias[NOUT];
    for (int i = 0; i < NOUT; i++) bias[i] = frand();
    float ya[4][NOUT * T], yb[4][NOUT * T];
    const int tt[4] = {1, T, 0, 3};
    const int64_t ex[4] = {2, 0, 1, 1};
    gt_pool *p = gt_pool_create(3);
    op_mm_job jobs[4];
    for (int j = 0; j < 4; j++) {
        jobs[j] = (op_mm_job){yb[j], x, tt[j], &W, ex[j], j == 1 ? NULL : bias};
        op_matmul(ya[j], x, tt[j], &W, ex[j], j == 1 ? NULL : bias, p);
    }
    op_matmul_batch(jobs, 4, p);
    for (int j = 0; j < 4; j++)
        ck_assert(memcmp(ya[j], yb[j], sizeof(float) * NOUT * (size_t)tt[j]) == 0);
    gt_pool_destroy(p);
    free(wf);
    free(x);
    free(wq);
}
END_TEST

START_TEST(test_embed_row) {
    enum { N = 64 };
    float src[3 * N];
    for (int i = 0; i < 3 * N; i++) src[i] = frand();
    size_t rb = quant_row_size(GGML_TYPE_F16, N);
    char *w = malloc(rb * 3);
    for (int r = 0; r < 3; r++) quant_quantize_row(GGML_TYPE_F16, src + r * N, w + rb * r, N);
    gt_weight W = {.type = GGML_TYPE_F16, .ne = {N, 3, 1, 1}, .row_bytes = rb, .data = w};
    float out[N];
    op_embed_row(out, &W, 2);
    for (int i = 0; i < N; i++) ck_assert_double_le(fabs(out[i] - src[2 * N + i]), 1e-3);
    free(w);
}
END_TEST

static void count_task(void *ctx, int task, int thread) {
    (void)thread;
    int *hits = ctx;
    __atomic_fetch_add(&hits[task], 1, __ATOMIC_RELAXED);
}

START_TEST(test_pool) {
    for (int n = 1; n <= 4; n++) {
        gt_pool *p = gt_pool_create(n);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(gt_pool_n_threads(p), n);
        for (int rep = 0; rep < 50; rep++) {
            int hits[100] = {0};
            gt_pool_run(p, 100, count_task, hits);
            for (int i = 0; i < 100; i++) ck_assert_int_eq(hits[i], 1);
        }
        ck_assert_int_eq(gt_pool_reserve(p, 1000), 0);
        for (int t = 0; t < n; t++) ck_assert_ptr_nonnull(gt_pool_scratch(p, t));
        gt_pool_destroy(p);
    }
    ck_assert_int_ge(gt_n_cpus(), 1);
}
END_TEST

/* gt_pool_memcpy: every byte lands where memcpy would put it, for sizes around the piece and
 * small-copy boundaries, any thread count, and nothing outside [dst, dst + n) is touched. */
START_TEST(test_pool_memcpy) {
    const size_t cap = ((size_t)3 << 20) + 4096;
    uint8_t *src = malloc(cap), *dst = malloc(cap + 64);
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dst);
    for (size_t i = 0; i < cap; i++) src[i] = (uint8_t)(i * 2654435761u >> 13);
    const size_t sizes[] = {0,
                            1,
                            65535,
                            ((size_t)1 << 20) - 1,
                            (size_t)1 << 20,
                            ((size_t)1 << 20) + 1,
                            ((size_t)3 << 20) + 77,
                            cap};
    for (int n = 1; n <= 5; n++) {
        gt_pool *p = n == 5 ? NULL : gt_pool_create(n);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            memset(dst, 0xA5, cap + 64);
            gt_pool_memcpy(p, dst + 7, src + 3, sizes[k] > cap - 3 ? cap - 3 : sizes[k]);
            const size_t m = sizes[k] > cap - 3 ? cap - 3 : sizes[k];
            size_t bad = 0; /* bytes outside the copy that changed */
            for (size_t i = 0; i < cap + 64; i++)
                if ((i < 7 || i >= 7 + m) && dst[i] != 0xA5) bad++;
            ck_assert_msg(bad == 0, "threads %d size %zu: %zu bytes outside changed", n, m, bad);
            ck_assert_msg(memcmp(dst + 7, src + 3, m) == 0, "threads %d size %zu", n, m);
        }
        gt_pool_destroy(p);
    }
    free(src);
    free(dst);
}
END_TEST

int main(void) {
    Suite *s = suite_create("engine_ops");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rmsnorm);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_yarn_inv_freq_table);
    tcase_add_test(tc, test_rope_neox);
    tcase_add_test(tc, test_attention_sinks);
    tcase_add_test(tc, test_swiglu_oai);
    tcase_add_test(tc, test_gelu_tanh);
    tcase_add_test(tc, test_router_topk);
    tcase_add_test(tc, test_matmul);
    tcase_add_test(tc, test_matmul_batch);
    tcase_add_test(tc, test_embed_row);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_pool_memcpy);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
