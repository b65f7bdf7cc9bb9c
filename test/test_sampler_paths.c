/* test_sampler_paths.c — the vectorised paths of engine/sampler.c against references computed
 * here by full sorts and direct sums: greedy with NaN/ties across vector lanes and tails, the
 * full-vocabulary draw's frequencies (vocabulary not a multiple of the block), top-k with ties,
 * min-p alone, top-p with and without min-p and penalties, and a top-k too large for the exact
 * draw. */
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
    p.seed = 7;
    return p;
}

typedef struct iv {
    float v;
    int id;
} iv;
static int iv_cmp(const void *a, const void *b) {
    const iv *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->id - y->id;
}

static uint64_t lcg(uint64_t *x) {
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 11;
}

/* Gaussian logits (std sd), rounded to 1/8 so that ties occur, with a few NaN and -inf */
static float *gauss_logits(int nv, double sd, uint64_t seed) {
    float *l = malloc(sizeof(float) * (size_t)nv);
    uint64_t x = seed;
    for (int i = 0; i < nv; i++) {
        double u1 = (lcg(&x) + 1) * 0x1.0p-53, u2 = lcg(&x) * 0x1.0p-53;
        l[i] = roundf((float)(sd * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2)) * 8) / 8;
    }
    for (int i = 5; i < nv; i += 997) l[i] = NAN;
    for (int i = 11; i < nv; i += 1499) l[i] = -INFINITY;
    return l;
}

/* in[id] = 1 for the tokens llama.cpp's top-p (softmax over all, sorted prefix reaching top_p)
 * then min-p keep; returns the kept count, or -1 when the top-p boundary is within 1e-6 (the
 * sampler's normaliser may round either way there: the data would not decide the test) */
static int ref_keep(const float *l, int nv, float top_p, float min_p, char *in) {
    if (nv <= 0) return -1;
    iv *s = malloc(sizeof(iv) * (size_t)nv);
    for (int i = 0; i < nv; i++) {
        s[i].v = l[i] == l[i] ? l[i] : -INFINITY;
        s[i].id = i;
    }
    qsort(s, (size_t)nv, sizeof(iv), iv_cmp);
    double z = 0;
    for (int i = 0; i < nv; i++) z += exp((double)s[i].v - s[0].v);
    int n = nv;
    double cum = 0;
    for (int i = 0; i < nv; i++) {
        double pr = exp((double)s[i].v - s[0].v) / z;
        if (cum + pr >= top_p) {
            if (fabs(cum + pr - top_p) < 1e-6 || fabs(cum - top_p) < 1e-6)
                n = -1;
            else
                n = i + 1;
            break;
        }
        cum += pr;
    }
    if (n < 0) {
        free(s);
        return -1;
    }
    float thr = min_p > 0 ? s[0].v + logf(min_p) : -INFINITY;
    memset(in, 0, (size_t)nv);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (s[i].v >= thr && s[i].v > -INFINITY) {
            in[s[i].id] = 1;
            k++;
        }
    free(s);
    return k;
}

START_TEST(test_greedy_lanes) {
    enum { NV = 1003 }; /* a tail after the 8-wide body */
    float l[NV];
    gt_sampler s;
    gptc_sampler_params p = base();
    p.temperature = 0.0f;
    ck_assert_int_eq(gt_sampler_init(&s, &p, NV, 16, NULL), GPTC_OK);
    for (int i = 0; i < NV; i++) l[i] = -(float)(i % 17);
    /* ties in different lanes: the lowest id wins */
    l[13] = 4.0f;
    l[5] = 4.0f;
    l[700] = 4.0f;
    ck_assert_int_eq(gt_sampler_sample(&s, l, NULL, 0), 5);
    l[3] = NAN;     /* NaN never wins */
    l[1001] = 4.5f; /* the best in the tail */
    ck_assert_int_eq(gt_sampler_sample(&s, l, NULL, 0), 1001);
    for (int i = 0; i < NV; i++) l[i] = i % 2 ? NAN : -INFINITY;
    ck_assert_int_eq(gt_sampler_sample(&s, l, NULL, 0), 0); /* no number: id 0 */
    /* +inf logits: the first of them, whatever the filters (the softmax puts all mass there) */
    for (int i = 0; i < NV; i++) l[i] = (float)(i % 5);
    l[900] = INFINITY;
    l[77] = INFINITY;
    const float tp[3] = {1.0f, 0.9f, 1.0f}, mp[3] = {0.0f, 0.0f, 0.1f};
    for (int c = 0; c < 3; c++) {
        p.temperature = 1.0f;
        p.top_p = tp[c];
        p.min_p = mp[c];
        gt_sampler_set(&s, &p);
        ck_assert_int_eq(gt_sampler_sample(&s, l, NULL, 0), 77);
    }
    gt_sampler_free(&s);
}
END_TEST

START_TEST(test_full_draw_freqs) {
    enum { NV = 1000, N = 40000 }; /* 4 blocks, the last one partial */
    float l[NV];
    double pr[NV], f[NV] = {0}, z = 0;
    for (int i = 0; i < NV; i++) l[i] = -30.0f; /* negligible */
    /* mass spread over several blocks: ids 3, 300, 520, 767, 999 */
    const int ids[5] = {3, 300, 520, 767, 999};
    const double w[5] = {0.1, 0.25, 0.05, 0.35, 0.25};
    for (int k = 0; k < 5; k++) l[ids[k]] = (float)log(w[k]);
    l[10] = NAN;
    for (int i = 0; i < NV; i++) z += l[i] == l[i] ? exp((double)l[i]) : 0;
    for (int i = 0; i < NV; i++) pr[i] = l[i] == l[i] ? exp((double)l[i]) / z : 0;
    gt_sampler s;
    gptc_sampler_params p = base();
    ck_assert_int_eq(gt_sampler_init(&s, &p, NV, 16, NULL), GPTC_OK);
    for (int i = 0; i < N; i++) f[gt_sampler_sample(&s, l, NULL, 0)] += 1.0 / N;
    for (int k = 0; k < 5; k++) ck_assert_double_le(fabs(f[ids[k]] - pr[ids[k]]), 0.01);
    ck_assert_double_eq(f[10], 0.0);
    /* temperature 0.5 squares the weights */
    p.temperature = 0.5f;
    gt_sampler_set(&s, &p);
    memset(f, 0, sizeof(f));
    double z2 = 0;
    for (int k = 0; k < 5; k++) z2 += w[k] * w[k];
    for (int i = 0; i < N; i++) f[gt_sampler_sample(&s, l, NULL, 0)] += 1.0 / N;
    for (int k = 0; k < 5; k++) ck_assert_double_le(fabs(f[ids[k]] - w[k] * w[k] / z2), 0.01);
    gt_sampler_free(&s);
}
END_TEST

START_TEST(test_top_k_ties) {
    enum { NV = 201088 };
    float *l = gauss_logits(NV, 3.0, 11);
    iv *srt = malloc(sizeof(iv) * NV);
    char *in = calloc(NV, 1);
    for (int i = 0; i < NV; i++) {
        srt[i].v = l[i] == l[i] ? l[i] : -INFINITY;
        srt[i].id = i;
    }
    qsort(srt, NV, sizeof(iv), iv_cmp);
    gt_sampler s;
    gptc_sampler_params p = base();
    ck_assert_int_eq(gt_sampler_init(&s, &p, NV, 16, NULL), GPTC_OK);
    const int ks[3] = {1, 37, 6000}; /* 6000: more than the exact draw takes */
    for (int t = 0; t < 3; t++) {
        p.top_k = ks[t];
        gt_sampler_set(&s, &p);
        memset(in, 0, NV);
        for (int i = 0; i < ks[t]; i++) in[srt[i].id] = 1;
        for (int i = 0; i < 200; i++) ck_assert(in[gt_sampler_sample(&s, l, NULL, 0)]);
    }
    gt_sampler_free(&s);
    free(l);
    free(srt);
    free(in);
}
END_TEST

/* top-p / min-p combinations on a vocabulary where the sorted prefix is long */
static void check_keep(int nv, double sd, float top_p, float min_p, float rep, int draws) {
    float *l = gauss_logits(nv, sd, 99);
    char *in = malloc((size_t)nv);
    int32_t hist[32];
    for (int i = 0; i < 32; i++) hist[i] = (i * 7919) % nv;
    gt_sampler s;
    gptc_sampler_params p = base();
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = rep;
    ck_assert_int_eq(gt_sampler_init(&s, &p, nv, 64, NULL), GPTC_OK);
    /* the reference sees the penalised logits */
    float *lp = malloc(sizeof(float) * (size_t)nv);
    memcpy(lp, l, sizeof(float) * (size_t)nv);
    if (rep != 1.0f)
        for (int i = 0; i < nv; i++) {
            int seen = 0;
            for (int k = 0; k < 32; k++) seen |= hist[k] == i;
            if (seen) lp[i] = lp[i] > 0 ? lp[i] / rep : lp[i] * rep;
        }
    int kept = ref_keep(lp, nv, top_p, min_p, in);
    ck_assert_int_gt(kept, 0); /* the data decides the boundary */
    for (int i = 0; i < draws; i++) ck_assert(in[gt_sampler_sample(&s, l, hist, 32)]);
    gt_sampler_free(&s);
    free(lp);
    free(l);
    free(in);
}

START_TEST(test_top_p_paths) {
    check_keep(20000, 3.0, 0.9f, 0.0f, 1.0f, 300);   /* top-p alone, thousands kept */
    check_keep(20000, 3.0, 0.5f, 0.0f, 1.0f, 300);   /* fewer */
    check_keep(20000, 1.0, 0.95f, 0.0f, 1.0f, 300);  /* flat: most of the vocabulary */
    check_keep(20000, 3.0, 0.95f, 0.02f, 1.0f, 300); /* top-p then min-p */
    check_keep(20000, 3.0, 1.0f, 0.05f, 1.0f, 300);  /* min-p alone */
    check_keep(20000, 3.0, 0.9f, 0.0f, 1.3f, 300);   /* penalties first */
    check_keep(300, 2.0, 0.7f, 0.0f, 1.0f, 300);     /* small vocabulary */
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler_paths");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_greedy_lanes);
    tcase_add_test(tc, test_full_draw_freqs);
    tcase_add_test(tc, test_top_k_ties);
    tcase_add_test(tc, test_top_p_paths);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
