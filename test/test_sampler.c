/* test_sampler.c — each sampling rule (engine/sampler.h) on hand-made logits: greedy, ties,
 * temperature frequencies, top-k, top-p, min-p, repeat/presence/frequency penalties and their
 * window, seeding, and a 201,088-token vocabulary against a full sort done here. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "test/util/tucheck.h"

static gptc_sampler_params base(void) {
    gptc_sampler_params p;
    memset(&p, 0, sizeof(p));
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.repeat_penalty = 1.0f;
    p.penalty_last_n = 64;
    p.seed = 42;
    return p;
}

static void init(gt_sampler *s, gptc_sampler_params p, int nv) {
    ck_assert_int_eq(gt_sampler_init(s, &p, nv, 256, NULL), GPTC_OK);
}

START_TEST(test_greedy) {
    gt_sampler s;
    gptc_sampler_params p = base();
    p.temperature = 0.0f;
    init(&s, p, 5);
    const float l[5] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
    ck_assert_int_eq(gt_sampler_sample(&s, l, NULL, 0), 1); /* tie: lower id */
    const float l2[5] = {NAN, -1.0f, 3.0f, -INFINITY, 2.0f};
    ck_assert_int_eq(gt_sampler_sample(&s, l2, NULL, 0), 2); /* NaN never wins */
    gt_sampler_free(&s);
}
END_TEST

/* empirical frequencies of n draws */
static void freqs(gt_sampler *s, const float *l, int nv, int n, const int32_t *hist, int nh,
                  double *f) {
    for (int i = 0; i < nv; i++) f[i] = 0;
    for (int i = 0; i < n; i++) f[gt_sampler_sample(s, l, hist, nh)] += 1.0 / n;
}

START_TEST(test_temperature) {
    gt_sampler s;
    gptc_sampler_params p = base();
    init(&s, p, 3);
    const float l[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    double f[3];
    freqs(&s, l, 3, 20000, NULL, 0, f);
    ck_assert_double_le(fabs(f[0] - 0.5), 0.02);
    ck_assert_double_le(fabs(f[1] - 0.3), 0.02);
    ck_assert_double_le(fabs(f[2] - 0.2), 0.02);
    /* temperature 0.5 squares the probabilities: 0.25 : 0.09 : 0.04 */
    p.temperature = 0.5f;
    gt_sampler_set(&s, &p);
    freqs(&s, l, 3, 20000, NULL, 0, f);
    double z = 0.25 + 0.09 + 0.04;
    ck_assert_double_le(fabs(f[0] - 0.25 / z), 0.02);
    ck_assert_double_le(fabs(f[2] - 0.04 / z), 0.02);
    gt_sampler_free(&s);
}
END_TEST

START_TEST(test_seed) {
    gt_sampler a, b;
    gptc_sampler_params p = base();
    init(&a, p, 50);
    init(&b, p, 50);
    float l[50];
    for (int i = 0; i < 50; i++) l[i] = (float)(i % 7) * 0.3f;
    int same = 1;
    int32_t seq[100];
    for (int i = 0; i < 100; i++) {
        seq[i] = gt_sampler_sample(&a, l, NULL, 0);
        same &= seq[i] == gt_sampler_sample(&b, l, NULL, 0);
    }
    ck_assert(same);
    /* reseeding restarts the sequence; another seed gives another sequence */
    gt_sampler_set(&a, &p);
    for (int i = 0; i < 100; i++) ck_assert_int_eq(gt_sampler_sample(&a, l, NULL, 0), seq[i]);
    p.seed = 43;
    gt_sampler_set(&b, &p);
    int diff = 0;
    for (int i = 0; i < 100; i++) diff += gt_sampler_sample(&b, l, NULL, 0) != seq[i];
    ck_assert_int_gt(diff, 10);
    gt_sampler_free(&a);
    gt_sampler_free(&b);
}
END_TEST

START_TEST(test_top_k) {
    gt_sampler s;
    gptc_sampler_params p = base();
    p.top_k = 2;
    init(&s, p, 4);
    const float l[4] = {logf(0.4f), logf(0.3f), logf(0.2f), logf(0.1f)};
    double f[4];
    freqs(&s, l, 4, 20000, NULL, 0, f);
    ck_assert_double_eq(f[2], 0.0);
    ck_assert_double_eq(f[3], 0.0);
    ck_assert_double_le(fabs(f[0] - 0.4 / 0.7), 0.02);
    p.top_k = 1;
    gt_sampler_set(&s, &p);
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(gt_sampler_sample(&s, l, NULL, 0), 0);
    gt_sampler_free(&s);
}
END_TEST

START_TEST(test_top_p) {
    gt_sampler s;
    gptc_sampler_params p = base();
    p.top_p = 0.75f; /* 0.5 < 0.75 <= 0.5 + 0.3: keeps tokens 0 and 1 */
    init(&s, p, 4);
    const float l[4] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    double f[4];
    freqs(&s, l, 4, 20000, NULL, 0, f);
    ck_assert_double_eq(f[0], 0.0);
    ck_assert_double_eq(f[2], 0.0);
    ck_assert_double_le(fabs(f[1] - 0.5 / 0.8), 0.02);
    ck_assert_double_le(fabs(f[3] - 0.3 / 0.8), 0.02);
    gt_sampler_free(&s);
}
END_TEST

START_TEST(test_min_p) {
    gt_sampler s;
    gptc_sampler_params p = base();
    p.min_p = 0.2f; /* keep p >= 0.2 * 0.5 = 0.1 */
    init(&s, p, 4);
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    double f[4];
    freqs(&s, l, 4, 20000, NULL, 0, f);
    ck_assert_double_eq(f[3], 0.0);
    ck_assert_double_le(fabs(f[2] - 0.15 / 0.95), 0.02);
    gt_sampler_free(&s);
}
END_TEST

START_TEST(test_repeat_penalty) {
    gt_sampler s;
    gptc_sampler_params p = base();
    p.temperature = 0.0f;
    p.repeat_penalty = 2.0f;
    init(&s, p, 3);
    /* positive logits are divided, negative multiplied: [2, -2, 1.5] -> [1, -4, 1.5] */
    const float l[3] = {2.0f, -2.0f, 1.5f};
    const int32_t hist[3] = {0, 1, 0};
    ck_assert_int_eq(gt_sampler_sample(&s, l, hist, 3), 2);
    const float l2[3] = {-0.1f, -0.15f, -1.0f}; /* -0.1*2 = -0.2 < -0.15 */
    const int32_t h2[1] = {0};
    ck_assert_int_eq(gt_sampler_sample(&s, l2, h2, 1), 1);
    ck_assert_int_eq(gt_sampler_sample(&s, l2, NULL, 0), 0);
    gt_sampler_free(&s);
}
END_TEST

START_TEST(test_presence_frequency) {
    gt_sampler s;
    gptc_sampler_params p = base();
    p.temperature = 0.0f;
    p.frequency_penalty = 0.3f; /* 3 - 3 * 0.3 = 2.1 < 2.5 */
    init(&s, p, 2);
    const float l[2] = {3.0f, 2.5f};
    const int32_t hist[3] = {0, 0, 0};
    ck_assert_int_eq(gt_sampler_sample(&s, l, hist, 3), 1);
    p.frequency_penalty = 0.1f; /* 2.7 > 2.5 */
    gt_sampler_set(&s, &p);
    ck_assert_int_eq(gt_sampler_sample(&s, l, hist, 3), 0);
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.6f; /* once, not per occurrence: 2.4 */
    gt_sampler_set(&s, &p);
    ck_assert_int_eq(gt_sampler_sample(&s, l, hist, 3), 1);
    p.presence_penalty = 0.4f; /* 2.6 */
    gt_sampler_set(&s, &p);
    ck_assert_int_eq(gt_sampler_sample(&s, l, hist, 3), 0);
    gt_sampler_free(&s);
    /* the window: only the last penalty_last_n tokens count */
    p.presence_penalty = 0.6f;
    p.penalty_last_n = 2;
    init(&s, p, 3);
    const float l3[3] = {3.0f, 2.5f, -5.0f};
    const int32_t h2[3] = {0, 2, 2};
    ck_assert_int_eq(gt_sampler_sample(&s, l3, h2, 3), 0); /* 0 outside the window */
    p.penalty_last_n = 3;
    gt_sampler_set(&s, &p);
    ck_assert_int_eq(gt_sampler_sample(&s, l3, h2, 3), 1); /* 2.4 < 2.5 */
    p.penalty_last_n = -1;                                 /* whole history */
    gt_sampler_set(&s, &p);
    ck_assert_int_eq(gt_sampler_sample(&s, l3, h2, 3), 1);
    p.penalty_last_n = 0; /* off */
    gt_sampler_set(&s, &p);
    ck_assert_int_eq(gt_sampler_sample(&s, l3, h2, 3), 0);
    gt_sampler_free(&s);
}
END_TEST

/* 201,088 logits: top-k and top-p choose only from the set a full sort gives */
typedef struct iv {
    float v;
    int id;
} iv;
static int iv_cmp(const void *a, const void *b) {
    const iv *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->id - y->id;
}

START_TEST(test_big_vocab) {
    enum { NV = 201088 };
    float *l = malloc(sizeof(float) * NV);
    iv *srt = malloc(sizeof(iv) * NV);
    char *in = calloc(NV, 1);
    uint64_t x = 7;
    for (int i = 0; i < NV; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((double)(x >> 11) * 0x1.0p-53 * 12.0);
        srt[i].v = l[i];
        srt[i].id = i;
    }
    qsort(srt, NV, sizeof(iv), iv_cmp);
    gt_sampler s;
    gptc_sampler_params p = base();
    init(&s, p, NV);
    /* top-k 40 */
    p.top_k = 40;
    gt_sampler_set(&s, &p);
    for (int i = 0; i < 40; i++) in[srt[i].id] = 1;
    for (int i = 0; i < 100; i++) ck_assert(in[gt_sampler_sample(&s, l, NULL, 0)]);
    /* top-p 0.5 without top-k: the smallest prefix of the sorted list reaching 0.5 */
    memset(in, 0, NV);
    p.top_k = 0;
    p.top_p = 0.5f;
    gt_sampler_set(&s, &p);
    double z = 0;
    for (int i = 0; i < NV; i++) z += exp((double)srt[i].v - srt[0].v);
    double cum = 0;
    int kept = 0;
    for (int i = 0; i < NV && cum < 0.5; i++) {
        cum += exp((double)srt[i].v - srt[0].v) / z;
        in[srt[i].id] = 1;
        kept++;
    }
    ck_assert_int_gt(kept, 64); /* exercises the growing-prefix path */
    for (int i = 0; i < 100; i++) ck_assert(in[gt_sampler_sample(&s, l, NULL, 0)]);
    /* greedy over the big vocabulary */
    p.temperature = 0;
    gt_sampler_set(&s, &p);
    ck_assert_int_eq(gt_sampler_sample(&s, l, NULL, 0), srt[0].id);
    gt_sampler_free(&s);
    free(l);
    free(srt);
    free(in);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_greedy);
    tcase_add_test(tc, test_temperature);
    tcase_add_test(tc, test_seed);
    tcase_add_test(tc, test_top_k);
    tcase_add_test(tc, test_top_p);
    tcase_add_test(tc, test_min_p);
    tcase_add_test(tc, test_repeat_penalty);
    tcase_add_test(tc, test_presence_frequency);
    tcase_add_test(tc, test_big_vocab);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
