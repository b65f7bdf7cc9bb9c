/* test_cuda_sample.c — the device sampler (cuda/sample.cu, gtc_sample) against its CPU twin
 * (engine/sampler.c, gt_sampler_sample_u) with the same uniform u, on random cases: vocabulary
 * sizes 1, 7, 1000, 5000, 201088; temperatures 0, 0.5, 1, 2; top-k 0, 1, 40, n_vocab; top-p 1,
 * 0.9, 0.5, 0.01; min-p 0, 0.05; repeat / presence / frequency penalties over windows of
 * penalty_last_n -1, 0, 64 on histories of 0..300 tokens; logits normal, peaked, with ties,
 * with -inf / NaN / +inf / -0, all equal, no number at all; and the slow paths (top-k of 5000 and
 * n_vocab - 1, top-p over ~100k flat candidates, top-k 40 over 201088 equal logits); the same
 * grid with logit bias lists (bans, +3/-2, +100).
 *
 * Criterion: the ids must be equal, except where the CPU's own choice changes when u moves by
 * 1e-9 (the draw lies within 1e-9 of a CDF boundary: the GPU adds the same weights in another
 * order, and its double exp may differ from glibc's by an ulp). Every mismatch must be of that
 * kind and at least 99.5% of all draws must be equal (in practice all of them are: a boundary
 * closer than 1e-9 comes once in ~1e9 draws). Also checked: gt_sampler_sample takes exactly one
 * uniform per non-greedy call (so a host RNG + gtc_sample gives the CPU's sequence for a seed),
 * and bad arguments are refused. test_latency_info prints (asserts nothing timed) the latency of
 * one 201,088-token sample per setting next to the old copy-to-host path.
 * GPU machine only: `make test-cuda`. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda/gtc.h"
#include "engine/sampler.h"
#include "test/util/tucheck.h"

#define DELTA 1e-9
#define NV_MAX 201088
#define NH_MAX 512

static uint64_t xs = 0x2545F4914F6CDD1Dull;
static double urand(void) {
    xs ^= xs << 13;
    xs ^= xs >> 7;
    xs ^= xs << 17;
    return (double)(xs >> 11) * 0x1.0p-53;
}
static float nrand(void) /* ~N(0,1): sum of 4 uniforms, scaled */
{
    double s = 0;
    for (int i = 0; i < 4; i++) s += urand() - 0.5;
    return (float)(s * 1.732);
}

/* ---- device state shared by the cases ----------------------------------------------------- */
static float *d_l;
static int32_t *d_h, *d_out;
static gtc_bias *d_b; /* [GPTC_LOGIT_BIAS_MAX] */
static void *d_ws;
static size_t ws_bytes;

static void dev_setup(void) {
    ws_bytes = gtc_sample_ws_bytes(NV_MAX);
    ck_assert(ws_bytes > 0);
    ck_assert_msg(gtc_malloc((void **)&d_l, NV_MAX * sizeof(float)) == 0, "%s", gtc_last_error());
    ck_assert(gtc_malloc((void **)&d_h, NH_MAX * sizeof(int32_t)) == 0);
    ck_assert(gtc_malloc((void **)&d_out, sizeof(int32_t)) == 0);
    ck_assert(gtc_malloc((void **)&d_b, GPTC_LOGIT_BIAS_MAX * sizeof(gtc_bias)) == 0);
    ck_assert(gtc_malloc(&d_ws, ws_bytes) == 0);
}
static void dev_teardown(void) {
    gtc_free(d_l);
    gtc_free(d_h);
    gtc_free(d_out);
    gtc_free(d_b);
    gtc_free(d_ws);
}

static gtc_sample_params to_dev(const gptc_sampler_params *p, int n_ctx) {
    gtc_sample_params q;
    q.temperature = p->temperature;
    q.top_k = p->top_k;
    q.top_p = p->top_p;
    q.min_p = p->min_p;
    q.repeat_penalty = p->repeat_penalty;
    q.presence_penalty = p->presence_penalty;
    q.frequency_penalty = p->frequency_penalty;
    q.penalty_last_n = p->penalty_last_n;
    q.n_ctx = n_ctx;
    q.d_bias = p->n_logit_bias > 0 ? d_b : NULL; /* check_case uploads p->logit_bias */
    q.n_bias = p->n_logit_bias;
    return q;
}

/* logits and history must already be on the device */
static int32_t gpu_sample(int nv, const gptc_sampler_params *p, int n_ctx, int nh, double u) {
    gtc_sample_params q = to_dev(p, n_ctx);
    int32_t id = -7;
    ck_assert_msg(gtc_sample(d_l, nv, &q, nh ? d_h : NULL, nh, u, d_ws, ws_bytes, d_out, NULL) == 0,
                  "%s", gtc_sample_last_error());
    ck_assert_msg(gtc_d2h(&id, d_out, sizeof id) == 0, "%s", gtc_last_error());
    return id;
}

typedef struct tally {
    long total, exact, boundary, bad;
} tally;

/* draws `draws` tokens with u from an RNG seeded with p.seed, CPU vs GPU */
static void check_case(const char *what, const float *l, int nv, gptc_sampler_params p,
                       const int32_t *h, int nh, int n_ctx, int draws, tally *t) {
    gt_sampler smp;
    ck_assert_int_eq(gt_sampler_init(&smp, &p, nv, n_ctx, NULL), GPTC_OK);
    ck_assert_int_eq(gtc_h2d(d_l, l, (size_t)nv * sizeof(float)), 0);
    if (nh) ck_assert_int_eq(gtc_h2d(d_h, h, (size_t)nh * sizeof(int32_t)), 0);
    if (p.n_logit_bias > 0)
        ck_assert_int_eq(gtc_h2d(d_b, p.logit_bias, (size_t)p.n_logit_bias * sizeof(gtc_bias)), 0);
    gt_rng rng;
    gt_rng_seed(&rng, p.seed);
    for (int r = 0; r < draws; r++) {
        const double u = p.temperature > 0.0f ? gt_rng_uniform(&rng) : 0.0;
        const int32_t c = gt_sampler_sample_u(&smp, l, h, nh, u);
        const int32_t g = gpu_sample(nv, &p, n_ctx, nh, u);
        t->total++;
        if (c == g) {
            t->exact++;
            continue;
        }
        const double ul = u - DELTA > 0.0 ? u - DELTA : 0.0;
        const double uh = u + DELTA < 1.0 ? u + DELTA : u;
        if (gt_sampler_sample_u(&smp, l, h, nh, ul) == g ||
            gt_sampler_sample_u(&smp, l, h, nh, uh) == g) {
            t->boundary++;
            continue;
        }
        t->bad++;
        if (t->bad <= 20)
            fprintf(stderr,
                    "MISMATCH %s nv=%d T=%g k=%d p=%g minp=%g rp=%g pp=%g fp=%g last_n=%d nh=%d "
                    "u=%.17g: cpu %d gpu %d\n",
                    what, nv, p.temperature, p.top_k, p.top_p, p.min_p, p.repeat_penalty,
                    p.presence_penalty, p.frequency_penalty, p.penalty_last_n, nh, u, c, g);
    }
    gt_sampler_free(&smp);
}

static void tally_check(const char *name, const tally *t) {
    fprintf(stderr, "%s: %ld draws, %ld equal, within %g of a CDF boundary %ld, wrong %ld\n", name,
            t->total, t->exact, DELTA, t->boundary, t->bad);
    ck_assert_int_eq(t->bad, 0);
    ck_assert_msg(t->exact * 1000 >= t->total * 995, "%ld of %ld equal", t->exact, t->total);
}

enum { L_NORMAL, L_PEAKED, L_TIES, L_SPECIAL, L_EQUAL, L_NONUM, L_FLAT, N_KIND };
static const char *kind_name[N_KIND] = {"normal", "peaked", "ties", "special",
                                        "equal",  "nonum",  "flat"};

static void make_logits(float *l, int nv, int kind) {
    for (int i = 0; i < nv; i++) {
        switch (kind) {
        case L_NORMAL:
            l[i] = nrand() * 2.0f;
            break;
        case L_PEAKED:
            l[i] = nrand() * 3.0f + (urand() < 0.001 ? 12.0f : 0.0f);
            break;
        case L_TIES:
            l[i] = roundf(nrand() * 4.0f) * 0.5f;
            break;
        case L_SPECIAL: {
            double r = urand();
            l[i] = r < 0.05 ? -INFINITY : r < 0.08 ? NAN : r < 0.1 ? -0.0f : nrand() * 2.0f;
            break;
        }
        case L_EQUAL:
            l[i] = 1.25f;
            break;
        case L_NONUM:
            l[i] = urand() < 0.5 ? NAN : -INFINITY;
            break;
        case L_FLAT:
            l[i] = nrand() * 0.05f;
            break;
        }
    }
}

static gptc_sampler_params base(void) {
    gptc_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.repeat_penalty = 1.0f;
    p.penalty_last_n = 64;
    p.seed = 1;
    return p;
}

/* the penalty settings of the grid */
static void set_pen(gptc_sampler_params *p, int which) {
    p->repeat_penalty = 1.0f;
    p->presence_penalty = 0.0f;
    p->frequency_penalty = 0.0f;
    p->penalty_last_n = 64;
    switch (which) {
    case 1:
        p->repeat_penalty = 1.1f;
        break;
    case 2:
        p->presence_penalty = 0.5f;
        p->frequency_penalty = 0.3f;
        p->penalty_last_n = -1;
        break;
    case 3:
        p->repeat_penalty = 1.3f;
        p->penalty_last_n = 0;
        break;
    default:
        break;
    }
}

/* A logit bias list for logits l[nv] (distinct ids): the argmax banned (-inf), a few random
 * ids banned, raised by 3 or forced by +100 (force), lowered by 2; out-of-range ids never. */
static int make_bias(const float *l, int nv, int force, gptc_logit_bias *b) {
    int n = 0, am = 0;
    for (int i = 1; i < nv; i++)
        if (l[i] > l[am]) am = i;
    b[n++] = (gptc_logit_bias){am, -INFINITY};
    const int want = nv < 12 ? nv : 12;
    for (int tries = 0; n < want && tries < 1000; tries++) {
        const int32_t id = (int32_t)(urand() * nv) % nv;
        int dup = 0;
        for (int k = 0; k < n; k++) dup |= b[k].id == id;
        if (dup) continue;
        const int r = n % 4;
        b[n++] = (gptc_logit_bias){id, r == 0   ? -INFINITY
                                       : r == 1 ? 3.0f
                                       : r == 2 ? -2.0f
                                                : (force ? 100.0f : 0.5f)};
    }
    return n;
}

static void grid_bias(int nv, int kinds_mask, int draws, tally *t, int bias);
static void grid(int nv, int kinds_mask, int draws, tally *t) {
    grid_bias(nv, kinds_mask, draws, t, 0);
}
static void grid_bias(int nv, int kinds_mask, int draws, tally *t, int bias) {
    static const float temps[] = {0.0f, 0.5f, 1.0f, 2.0f};
    static const float tps[] = {1.0f, 0.9f, 0.5f, 0.01f};
    static const float mps[] = {0.0f, 0.05f};
    const int tks[] = {0, 1, 40, nv};
    float *l = malloc((size_t)nv * sizeof(float));
    int32_t h[NH_MAX];
    gptc_logit_bias bl[16];
    for (int kind = 0; kind < N_KIND; kind++) {
        if (!(kinds_mask & (1 << kind))) continue;
        make_logits(l, nv, kind);
        const int nbl = bias ? make_bias(l, nv, bias == 2, bl) : 0;
        for (int ti = 0; ti < 4; ti++)
            for (int ki = 0; ki < 4; ki++)
                for (int pi = 0; pi < 4; pi++)
                    for (int mi = 0; mi < 2; mi++)
                        for (int pen = 0; pen < 4; pen++) {
                            gptc_sampler_params p = base();
                            p.temperature = temps[ti];
                            p.top_k = tks[ki];
                            p.top_p = tps[pi];
                            p.min_p = mps[mi];
                            set_pen(&p, pen);
                            p.seed = xs;
                            p.logit_bias = nbl ? bl : NULL;
                            p.n_logit_bias = nbl;
                            /* history: 0, 5, 100 or 300 tokens, some repeated, some out of
                             * range (ignored by both) */
                            static const int nhs[] = {0, 5, 100, 300};
                            const int nh = nhs[(ti + ki + pi + pen) & 3];
                            for (int i = 0; i < nh; i++) {
                                double r = urand();
                                h[i] = r < 0.02  ? nv + 3
                                       : r < 0.5 ? (int32_t)(urand() * 8) % nv
                                                 : (int32_t)(urand() * nv);
                            }
                            check_case(kind_name[kind], l, nv, p, h, nh, 256, draws, t);
                        }
    }
    free(l);
}

START_TEST(test_small_vocab) {
    dev_setup();
    tally t = {0, 0, 0, 0};
    grid(1, 0x7f, 3, &t);
    grid(7, 0x7f, 4, &t);
    grid(1000, 0x7f, 4, &t);
    grid(5000, (1 << L_NORMAL) | (1 << L_TIES) | (1 << L_SPECIAL) | (1 << L_FLAT), 3, &t);
    tally_check("vocab 1/7/1000/5000", &t);
    dev_teardown();
}
END_TEST

START_TEST(test_big_vocab) {
    dev_setup();
    tally t = {0, 0, 0, 0};
    grid(NV_MAX, (1 << L_NORMAL) | (1 << L_SPECIAL), 2, &t);
    tally_check("vocab 201088 grid", &t);
    dev_teardown();
}
END_TEST

/* candidate sets past the shared-memory sort (4096): the global sort, the fast-exp draw over
 * more than 4096 sorted candidates, and top-p's second gather */
START_TEST(test_slow_paths) {
    dev_setup();
    tally t = {0, 0, 0, 0};
    const int nv = NV_MAX;
    float *l = malloc((size_t)nv * sizeof(float));
    int32_t h[64];
    for (int i = 0; i < 64; i++) h[i] = (int32_t)(urand() * 1000);
    struct {
        int kind, top_k;
        float top_p, min_p, temp;
    } cs[] = {
        {L_NORMAL, 5000, 1.0f, 0.0f, 1.0f},   {L_NORMAL, nv - 1, 1.0f, 0.0f, 1.0f},
        {L_NORMAL, nv - 1, 0.9f, 0.0f, 0.7f}, {L_NORMAL, 5000, 0.95f, 0.01f, 1.5f},
        {L_FLAT, 0, 0.9f, 0.0f, 1.0f},        {L_FLAT, 0, 0.5f, 0.0f, 1.0f},
        {L_FLAT, 0, 0.9f, 0.05f, 1.0f},       {L_FLAT, 0, 0.999f, 0.0f, 2.0f},
        {L_EQUAL, 40, 1.0f, 0.0f, 1.0f},      {L_EQUAL, 0, 0.9f, 0.0f, 1.0f},
        {L_EQUAL, 0, 0.5f, 0.0f, 1.0f},       {L_TIES, 0, 0.9f, 0.0f, 1.0f},
        {L_FLAT, 0, 1.0f, 0.5f, 1.0f},        {L_NORMAL, 0, 1.0f, 1e-30f, 1.0f},
        {L_NORMAL, 0, 1.0f, 2.0f, 1.0f},      {L_NORMAL, 0, 0.9f, 2.0f, 1.0f},
        {L_NORMAL, 40, 0.9f, 2.0f, 1.0f},     {L_NORMAL, 0, 0.9999999f, 0.0f, 1.0f},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        make_logits(l, nv, cs[c].kind);
        gptc_sampler_params p = base();
        p.top_k = cs[c].top_k;
        p.top_p = cs[c].top_p;
        p.min_p = cs[c].min_p;
        p.temperature = cs[c].temp;
        p.repeat_penalty = c & 1 ? 1.1f : 1.0f;
        p.seed = 100 + c;
        check_case(kind_name[cs[c].kind], l, nv, p, h, 64, 4096, 3, &t);
    }
    free(l);
    tally_check("slow paths", &t);
    dev_teardown();
}
END_TEST

/* logit bias (added before the penalties, -inf bans, +100 forces) on the whole grid: the device
 * adds the same float bias to the same ids, so the ids must match as without a bias; and a
 * banned argmax is never drawn, a +100 id always is (checked on the CPU twin for the same u) */
START_TEST(test_logit_bias) {
    dev_setup();
    tally t = {0, 0, 0, 0};
    grid_bias(7, 0x7f, 3, &t, 1);
    grid_bias(1000, 0x7f, 3, &t, 1);
    grid_bias(1000, (1 << L_NORMAL) | (1 << L_TIES), 2, &t, 2);
    grid_bias(NV_MAX, 1 << L_NORMAL, 2, &t, 1);
    tally_check("logit bias", &t);
    /* the argmax banned at temperature 0, and a forced token */
    const int nv = 1000;
    float *l = malloc(nv * sizeof(float));
    make_logits(l, nv, L_PEAKED);
    int am = 0;
    for (int i = 1; i < nv; i++)
        if (l[i] > l[am]) am = i;
    gptc_sampler_params p = base();
    p.temperature = 0.0f;
    gptc_logit_bias ban = {am, -INFINITY}, force = {(am + 17) % nv, 100.0f};
    p.logit_bias = &ban;
    p.n_logit_bias = 1;
    ck_assert_int_eq(gtc_h2d(d_l, l, nv * sizeof(float)), 0);
    ck_assert_int_eq(gtc_h2d(d_b, &ban, sizeof ban), 0);
    ck_assert_int_ne(gpu_sample(nv, &p, 64, 0, 0.0), am);
    p.temperature = 1.0f;
    for (int r = 0; r < 50; r++) ck_assert_int_ne(gpu_sample(nv, &p, 64, 0, (r + 0.5) / 50), am);
    p.logit_bias = &force;
    ck_assert_int_eq(gtc_h2d(d_b, &force, sizeof force), 0);
    for (int r = 0; r < 50; r++)
        ck_assert_int_eq(gpu_sample(nv, &p, 64, 0, (r + 0.5) / 50), force.id);
    free(l);
    dev_teardown();
}
END_TEST

/* one uniform per non-greedy gt_sampler_sample call, whatever the logits (no number, +inf, a
 * single candidate): a host RNG driving gtc_sample reproduces the seeded CPU sequence */
START_TEST(test_rng_sequence) {
    dev_setup();
    const int nv = 1000;
    float *l[4];
    for (int k = 0; k < 4; k++) l[k] = malloc(nv * sizeof(float));
    make_logits(l[0], nv, L_NORMAL);
    make_logits(l[1], nv, L_NONUM);
    make_logits(l[2], nv, L_SPECIAL);
    l[2][17] = INFINITY;
    make_logits(l[3], nv, L_PEAKED);
    gptc_sampler_params p = base();
    p.top_k = 50;
    p.top_p = 0.95f;
    p.seed = 1234;
    for (int mode = 0; mode < 2; mode++) {
        if (mode) p.top_k = 0;
        gt_sampler smp;
        ck_assert_int_eq(gt_sampler_init(&smp, &p, nv, 64, NULL), GPTC_OK);
        gt_rng rng;
        gt_rng_seed(&rng, p.seed);
        long equal = 0, n = 0;
        for (int i = 0; i < 200; i++) {
            const float *li = l[(i * 7) % 4];
            const int32_t c = gt_sampler_sample(&smp, li, NULL, 0);
            const double u = gt_rng_uniform(&rng);
            ck_assert_int_eq(gtc_h2d(d_l, li, nv * sizeof(float)), 0);
            const int32_t g = gpu_sample(nv, &p, 64, 0, u);
            n++;
            if (c == g) {
                equal++;
            } else { /* allowed only within DELTA of a CDF boundary (see the top) */
                const int32_t lo = gt_sampler_sample_u(&smp, li, NULL, 0, u - DELTA);
                const int32_t hi = gt_sampler_sample_u(&smp, li, NULL, 0, u + DELTA);
                ck_assert_msg(lo == g || hi == g, "draw %d: cpu %d gpu %d", i, c, g);
            }
            /* the CPU sampler's RNG moved by exactly one draw: it matches ours */
            ck_assert(memcmp(&smp.rng, &rng, sizeof rng) == 0);
        }
        gt_sampler_free(&smp);
        ck_assert_msg(equal * 1000 >= n * 995, "%ld of %ld", equal, n);
    }
    /* greedy takes no draw */
    p.temperature = 0.0f;
    gt_sampler smp;
    ck_assert_int_eq(gt_sampler_init(&smp, &p, nv, 64, NULL), GPTC_OK);
    gt_rng before = smp.rng;
    gt_sampler_sample(&smp, l[0], NULL, 0);
    ck_assert(memcmp(&smp.rng, &before, sizeof before) == 0);
    gt_sampler_free(&smp);
    for (int k = 0; k < 4; k++) free(l[k]);
    dev_teardown();
}
END_TEST

START_TEST(test_bad_args) {
    dev_setup();
    gptc_sampler_params p = base();
    gtc_sample_params q = to_dev(&p, 64);
    ck_assert_int_eq(gtc_sample(d_l, 0, &q, NULL, 0, 0.5, d_ws, ws_bytes, d_out, NULL), -1);
    ck_assert_int_eq(
        gtc_sample(d_l, 1000, &q, NULL, 0, 0.5, d_ws, gtc_sample_ws_bytes(1000) - 1, d_out, NULL),
        -1);
    ck_assert(strlen(gtc_sample_last_error()) > 0);
    ck_assert(gtc_sample_ws_bytes(1000) <= gtc_sample_ws_bytes(NV_MAX));
    dev_teardown();
}
END_TEST

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

/* Information only (nothing timed is asserted): the latency of one 201,088-token sample on the
 * device (launches + one int back, synchronous) next to the old path (the logits copied to the
 * host, then gt_sampler_sample), for a few settings. Ids are still compared. */
START_TEST(test_latency_info) {
    dev_setup();
    const int nv = NV_MAX, reps = 30;
    float *l = malloc((size_t)nv * sizeof(float)), *hl = malloc((size_t)nv * sizeof(float));
    int32_t h[64];
    for (int i = 0; i < 64; i++) h[i] = (int32_t)(urand() * 2000);
    ck_assert_int_eq(gtc_h2d(d_h, h, sizeof h), 0);
    struct {
        const char *name;
        int kind, top_k;
        float temp, top_p, min_p, rp;
    } cs[] = {
        {"T=1 (no filter)", L_PEAKED, 0, 1.0f, 1.0f, 0.0f, 1.0f},
        {"T=1 repeat 1.1/64", L_PEAKED, 0, 1.0f, 1.0f, 0.0f, 1.1f},
        {"greedy repeat 1.1/64", L_PEAKED, 0, 0.0f, 1.0f, 0.0f, 1.1f},
        {"k40 p.95 minp.05 T.8", L_PEAKED, 40, 0.8f, 0.95f, 0.05f, 1.0f},
        {"top-p .9 peaked", L_PEAKED, 0, 1.0f, 0.9f, 0.0f, 1.0f},
        {"min-p .05", L_PEAKED, 0, 1.0f, 1.0f, 0.05f, 1.0f},
        {"top-p .9 normal(0,2)", L_NORMAL, 0, 1.0f, 0.9f, 0.0f, 1.0f},
        {"top-k 100000", L_NORMAL, 100000, 1.0f, 1.0f, 0.0f, 1.0f},
    };
    tally t = {0, 0, 0, 0};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        make_logits(l, nv, cs[c].kind);
        gptc_sampler_params p = base();
        p.temperature = cs[c].temp;
        p.top_k = cs[c].top_k;
        p.top_p = cs[c].top_p;
        p.min_p = cs[c].min_p;
        p.repeat_penalty = cs[c].rp;
        ck_assert_int_eq(gtc_h2d(d_l, l, (size_t)nv * sizeof(float)), 0);
        gt_sampler smp;
        ck_assert_int_eq(gt_sampler_init(&smp, &p, nv, 4096, NULL), GPTC_OK);
        for (int r = 0; r < 3; r++) gpu_sample(nv, &p, 4096, 64, 0.5); /* warm-up */
        double t0 = now_us();
        for (int r = 0; r < reps; r++) gpu_sample(nv, &p, 4096, 64, (r + 0.5) / reps);
        const double dev_us = (now_us() - t0) / reps;
        t0 = now_us();
        for (int r = 0; r < reps; r++) {
            ck_assert_int_eq(gtc_d2h(hl, d_l, (size_t)nv * sizeof(float)), 0);
            gt_sampler_sample_u(&smp, hl, h, 64, (r + 0.5) / reps);
        }
        const double host_us = (now_us() - t0) / reps;
        fprintf(stderr, "latency %-22s device %8.1f us   copy + CPU sampler %8.1f us\n", cs[c].name,
                dev_us, host_us);
        gt_sampler_free(&smp);
        check_case(cs[c].name, l, nv, p, h, 64, 4096, 4, &t);
    }
    free(l);
    free(hl);
    tally_check("latency cases", &t);
    dev_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("cuda_sample");
    TU_CASE(s, test_bad_args, 600);
    TU_CASE(s, test_rng_sequence, 600);
    TU_CASE(s, test_small_vocab, 600);
    TU_CASE(s, test_slow_paths, 600);
    TU_CASE(s, test_big_vocab, 600);
    TU_CASE(s, test_logit_bias, 600);
    TU_CASE(s, test_latency_info, 600);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
