/* test_cuda_moe_mma.c — the grouped tensor-core GEMM of the fast MoE prefill (cuda/moe_mma.h)
 * against a double-precision CPU product of the fp16-rounded dequantised weights (engine/quant.h)
 * and the fp16 activations: 6 experts of 200 rows (a partial 128-row tile) with 100, 0, 1, 130,
 * 5 and 45 rows (full, partial, single-row and missing 64-row token tiles, partial ones that
 * reach the second token-half warp), every weight format,
 * widths with and without a half 64-column k-step; gate and up in one launch (views of one
 * fused tensor) and in two (different formats); the tile table and the refusals.
 * GPU machine only: `make test-cuda`. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gtc.h"
#include "cuda/moe_mma.h"
#include "engine/quant.h"
#include "gguf/gguf.h"
#include "test/util/kernelcheck.h"
#include "test/util/tucheck.h"

enum { NE = 6, NR = 200 };
/* token tiles of 64, 36 (the second token-half warp on a partial tile), 1, 64, 64, 2, 5, 45 */
static const int cnt[NE] = {100, 0, 1, 130, 5, 45};

/* off[] of cnt[] and the total */
static int offsets(int *off) {
    int n = 0;
    for (int e = 0; e < NE; e++) off[e] = n, n += cnt[e];
    return n;
}

/* rows [0, rows) of the host GGUF matrix W dequantised and rounded to fp16 (what the kernel
 * multiplies), as floats [rows][n] */
static float *weights_f16(uint32_t type, const uint8_t *W, int64_t rows, int64_t n) {
    float *wf = malloc((size_t)rows * n * sizeof(float));
    const size_t rb = ggml_row_size(type, n);
    for (int64_t r = 0; r < rows; r++) {
        quant_dequant_row(type, W + r * rb, wf + r * n, n);
        for (int64_t c = 0; c < n; c++)
            wf[r * n + c] = quant_f16_to_f32(quant_f32_to_f16(wf[r * n + c]));
    }
    return wf;
}

/* random fp16 activations [rows][n]: the halves (*xh) and their values (returned) */
static float *acts_f16(int rows, int64_t n, uint16_t **xh) {
    float *xf = malloc((size_t)rows * n * sizeof(float));
    *xh = malloc((size_t)rows * n * sizeof(uint16_t));
    for (size_t i = 0; i < (size_t)rows * n; i++) {
        (*xh)[i] = quant_f32_to_f16(frand());
        xf[i] = quant_f16_to_f32((*xh)[i]);
    }
    return xf;
}

/* the tile table of cnt / off, on the device */
static int32_t *tiles_up(const int *off, int n, int *n_tiles) {
    const int cap = GTC_MOE_MMA_MAX_TILES(n, NE);
    int32_t *t = malloc((size_t)cap * 2 * sizeof(int32_t));
    *n_tiles = gtc_moe_mma_tiles(cnt, off, NE, t, cap);
    ck_assert_int_gt(*n_tiles, 0);
    int32_t *d = dev_upload(t, (size_t)*n_tiles * 2 * sizeof(int32_t));
    free(t);
    return d;
}

/* out columns [col0, col0 + NR) of the rows of every expert e against
 * sum_c wf[row0 + e erows + r][c] x[off[e] + i][c] (double): finite, NMSE <= 1e-6 per expert */
static void check_out(const float *got, int ldo, int col0, const float *wf, int64_t row0,
                      int64_t erows, const float *xf, int64_t n, const int *off, const char *what) {
    for (int e = 0; e < NE; e++) {
        if (!cnt[e]) continue;
        float *ref = malloc((size_t)cnt[e] * NR * sizeof(float));
        float *g = malloc((size_t)cnt[e] * NR * sizeof(float));
        for (int i = 0; i < cnt[e]; i++)
            for (int r = 0; r < NR; r++) {
                const float *wr = wf + (size_t)(row0 + e * erows + r) * n;
                const float *xr = xf + (size_t)(off[e] + i) * n;
                double s = 0;
                for (int64_t c = 0; c < n; c++) s += (double)wr[c] * xr[c];
                ref[(size_t)i * NR + r] = (float)s;
                g[(size_t)i * NR + r] = got[(size_t)(off[e] + i) * ldo + col0 + r];
                ck_assert_msg(isfinite(g[(size_t)i * NR + r]), "%s: expert %d row %d col %d: %g",
                              what, e, i, r, g[(size_t)i * NR + r]);
            }
        const double err = nmse(g, ref, (size_t)cnt[e] * NR);
        ck_assert_msg(err <= 1e-6, "%s: expert %d: nmse %g", what, e, err);
        free(ref);
        free(g);
    }
}

/* every format; n = 352 / 160 / 96: a last k-step of one 32-block; 2880: gpt-oss */
START_TEST(test_moe_mma_formats) {
    static const struct {
        uint32_t type;
        int64_t n;
    } cs[] = {{GGML_TYPE_MXFP4, 2880}, {GGML_TYPE_MXFP4, 352}, {GGML_TYPE_Q8_0, 2880},
              {GGML_TYPE_Q8_0, 352},   {GGML_TYPE_Q4_K, 768},  {GGML_TYPE_Q5_K, 256},
              {GGML_TYPE_Q6_K, 512},   {GGML_TYPE_Q4_0, 352},  {GGML_TYPE_Q4_1, 352},
              {GGML_TYPE_Q5_0, 352},   {GGML_TYPE_Q5_1, 96},   {GGML_TYPE_F16, 352},
              {GGML_TYPE_BF16, 96},    {GGML_TYPE_F32, 160}};
    int off[NE];
    const int n = offsets(off), ldo = NR + 8;
    int n_tiles;
    int32_t *dt = tiles_up(off, n, &n_tiles);
    ck_assert_int_eq(n_tiles, 7);
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        const uint32_t type = cs[k].type;
        const int64_t kk = cs[k].n;
        char what[64];
        snprintf(what, sizeof what, "type %u n %lld", type, (long long)kk);
        uint8_t *W = rand_matrix(type, NE * NR, kk, 1.0f);
        float *wf = weights_f16(type, W, NE * NR, kk);
        gtc_mat m;
        ck_assert_int_eq(gtc_upload_matrix(type, W, kk, NE * NR, NR, &m), 0);
        ck_assert_msg(gtc_moe_mma_supported(&m), "%s: not supported", what);
        uint16_t *xh;
        float *xf = acts_f16(n, kk, &xh);
        uint16_t *dx = dev_upload(xh, (size_t)n * kk * 2);
        float *dout = dev_alloc((size_t)n * ldo * 4);
        dev_poison(dout, (size_t)n * ldo * 4);
        const gtc_moe_mma_args a = {&m, NULL, dx, (int)kk, dt, n_tiles, dout, NULL, ldo};
        ck_assert_msg(gtc_moe_mma(&a, NULL) == 0, "%s: %s", what, gtc_last_error());
        ck_assert_msg(gtc_sync() == 0, "%s: %s", what, gtc_last_error());
        float *got = dev_download(dout, (size_t)n * ldo);
        check_out(got, ldo, 0, wf, 0, NR, xf, kk, off, what);
        for (int i = 0; i < n; i++) /* the columns past n_rows untouched */
            for (int r = NR; r < ldo; r++) {
                uint32_t u;
                memcpy(&u, got + (size_t)i * ldo + r, 4);
                ck_assert_msg(u == 0xffffffffu, "%s: row %d col %d written", what, i, r);
            }
        free(W);
        free(wf);
        free(xh);
        free(xf);
        free(got);
        gtc_free(dx);
        gtc_free(dout);
        gtc_free((void *)m.base);
    }
    gtc_free(dt);
}
END_TEST

/* gate and up: the two halves of each expert of one fused MXFP4 tensor (views with row0 and
 * expert_rows) in one launch into g [n][2 NR] (up at column NR); then gate Q8_0 and up MXFP4
 * (separate tensors: two launches). Every element of g written. */
START_TEST(test_moe_mma_gate_up) {
    const int64_t kk = 2880;
    int off[NE];
    const int n = offsets(off), ldo = 2 * NR;
    int n_tiles;
    int32_t *dt = tiles_up(off, n, &n_tiles);
    uint16_t *xh;
    float *xf = acts_f16(n, kk, &xh);
    uint16_t *dx = dev_upload(xh, (size_t)n * kk * 2);
    float *dg = dev_alloc((size_t)n * ldo * 4);
    /* fused [E][2 NR][kk] */
    uint8_t *W = rand_matrix(GGML_TYPE_MXFP4, NE * 2 * NR, kk, 1.0f);
    float *wf = weights_f16(GGML_TYPE_MXFP4, W, NE * 2 * NR, kk);
    gtc_mat fu;
    ck_assert_int_eq(gtc_upload_matrix(GGML_TYPE_MXFP4, W, kk, NE * 2 * NR, 2 * NR, &fu), 0);
    gtc_mat gate = fu, up = fu;
    gate.n_rows = up.n_rows = NR;
    up.row0 = NR;
    dev_poison(dg, (size_t)n * ldo * 4);
    gtc_moe_mma_args a = {&gate, &up, dx, (int)kk, dt, n_tiles, dg, dg + NR, ldo};
    ck_assert_msg(gtc_moe_mma(&a, NULL) == 0, "%s", gtc_last_error());
    ck_assert_msg(gtc_sync() == 0, "%s", gtc_last_error());
    float *got = dev_download(dg, (size_t)n * ldo);
    check_out(got, ldo, 0, wf, 0, 2 * NR, xf, kk, off, "fused gate");
    check_out(got, ldo, NR, wf, NR, 2 * NR, xf, kk, off, "fused up");
    free(got);
    /* separate tensors of two formats */
    uint8_t *Wg = rand_matrix(GGML_TYPE_Q8_0, NE * NR, kk, 1.0f);
    float *wgf = weights_f16(GGML_TYPE_Q8_0, Wg, NE * NR, kk);
    gtc_mat mg;
    ck_assert_int_eq(gtc_upload_matrix(GGML_TYPE_Q8_0, Wg, kk, NE * NR, NR, &mg), 0);
    gtc_mat mu = fu; /* the fused tensor's up halves again */
    mu.n_rows = NR;
    mu.row0 = NR;
    dev_poison(dg, (size_t)n * ldo * 4);
    a.w = &mg;
    a.w2 = &mu;
    ck_assert_msg(gtc_moe_mma(&a, NULL) == 0, "%s", gtc_last_error());
    ck_assert_msg(gtc_sync() == 0, "%s", gtc_last_error());
    got = dev_download(dg, (size_t)n * ldo);
    check_out(got, ldo, 0, wgf, 0, NR, xf, kk, off, "Q8_0 gate");
    check_out(got, ldo, NR, wf, NR, 2 * NR, xf, kk, off, "MXFP4 up");
    free(got);
    free(W);
    free(wf);
    free(Wg);
    free(wgf);
    free(xh);
    free(xf);
    gtc_free(dx);
    gtc_free(dg);
    gtc_free(dt);
    gtc_free((void *)fu.base);
    gtc_free((void *)mg.base);
}
END_TEST

/* the tile table's layout and bound; the refusals (nothing launched) */
START_TEST(test_moe_mma_args) {
    int off[NE];
    const int n = offsets(off);
    int32_t t[2 * GTC_MOE_MMA_MAX_TILES(281, NE)];
    ck_assert_int_eq(n, 281);
    ck_assert_int_eq(gtc_moe_mma_tiles(cnt, off, NE, t, GTC_MOE_MMA_MAX_TILES(281, NE)), 8);
    const int32_t want[16] = {0,   0 << 8 | 64, 64,  0 << 8 | 36, 100, 2 << 8 | 1,
                              101, 3 << 8 | 64, 165, 3 << 8 | 64, 229, 3 << 8 | 2,
                              231, 4 << 8 | 5,  236, 5 << 8 | 45};
    for (int i = 0; i < 16; i++) ck_assert_int_eq(t[i], want[i]);
    ck_assert_int_eq(gtc_moe_mma_tiles(cnt, off, NE, t, 7), -1);
    /* the bound: every expert one row past a multiple of 64 */
    const int c2[3] = {65, 129, 1}, o2[3] = {0, 65, 194};
    int32_t t2[2 * GTC_MOE_MMA_MAX_TILES(195, 3)];
    ck_assert_int_eq(gtc_moe_mma_tiles(c2, o2, 3, t2, GTC_MOE_MMA_MAX_TILES(195, 3)), 6);

    uint8_t *W = rand_matrix(GGML_TYPE_Q8_0, 2 * 64, 96, 1.0f);
    gtc_mat m;
    ck_assert_int_eq(gtc_upload_matrix(GGML_TYPE_Q8_0, W, 96, 2 * 64, 64, &m), 0);
    ck_assert(gtc_moe_mma_supported(&m));
    gtc_mat bad = m;
    bad.n_cols = 80;
    ck_assert(!gtc_moe_mma_supported(&bad));
    bad = m;
    bad.type = GGML_TYPE_Q4_K; /* a packed type must be in the packed layout ... */
    bad.split = 0;
    bad.n_cols = 256;
    ck_assert(!gtc_moe_mma_supported(&bad));
    bad.split = 1;
    ck_assert(gtc_moe_mma_supported(&bad));
    bad.n_cols = 96; /* ... and K-quant rows a multiple of 256 */
    ck_assert(!gtc_moe_mma_supported(&bad));
    float *dout = dev_alloc(64 * 64 * 4);
    uint16_t *dx = dev_alloc(64 * 96 * 2);
    int32_t *dt = dev_upload(t, 2 * sizeof(int32_t));
    gtc_moe_mma_args a = {&m, NULL, dx, 64, dt, 1, dout, NULL, 64};
    ck_assert_int_eq(gtc_moe_mma(&a, NULL), -1); /* kk != n_cols */
    ck_assert_ptr_nonnull(strstr(gtc_last_error(), "moe_mma"));
    a.kk = 96;
    a.ldo = 63; /* < n_rows */
    ck_assert_int_eq(gtc_moe_mma(&a, NULL), -1);
    a.ldo = 64;
    a.w2 = &bad; /* unsupported w2 */
    ck_assert_int_eq(gtc_moe_mma(&a, NULL), -1);
    a.w2 = NULL;
    a.n_tiles = 0; /* nothing to do */
    ck_assert_int_eq(gtc_moe_mma(&a, NULL), 0);
    ck_assert_int_eq(gtc_sync(), 0);
    free(W);
    gtc_free(dout);
    gtc_free(dx);
    gtc_free(dt);
    gtc_free((void *)m.base);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cuda_moe_mma");
    TU_CASE(s, test_moe_mma_args, 60);
    TU_CASE(s, test_moe_mma_formats, 300);
    TU_CASE(s, test_moe_mma_gate_up, 300);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
