/* sampler.c — penalties, greedy, top-k, top-p, min-p, temperature, seeded draw (sampler.h). */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"

/* ---- RNG: splitmix64 seeding, xoshiro256** ----------------------------------------------- */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gt_rng_seed(gt_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t gt_rng_next(gt_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double gt_rng_uniform(gt_rng *r) {
    return (double)(gt_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- setup ------------------------------------------------------------------------------ */
gptc_status gt_sampler_init(gt_sampler *smp, const gptc_sampler_params *p, int n_vocab, int n_ctx,
                            gptc_error *err) {
    memset(smp, 0, sizeof(*smp));
    smp->n_vocab = n_vocab;
    smp->work = malloc((size_t)n_vocab * sizeof(float));
    smp->cand = malloc((size_t)n_vocab * sizeof(gt_cand));
    smp->pen_cap = n_ctx > 0 ? n_ctx : 1;
    smp->pen = malloc((size_t)smp->pen_cap * sizeof(int32_t));
    if (!smp->work || !smp->cand || !smp->pen) {
        gt_sampler_free(smp);
        return gt_err(err, GPTC_ERR_NOMEM, "out of memory allocating the sampler (%d tokens)",
                      n_vocab);
    }
    gt_sampler_set(smp, p);
    return GPTC_OK;
}

void gt_sampler_free(gt_sampler *smp) {
    free(smp->work);
    free(smp->cand);
    free(smp->pen);
    smp->work = NULL;
    smp->cand = NULL;
    smp->pen = NULL;
}

void gt_sampler_set(gt_sampler *smp, const gptc_sampler_params *p) {
    smp->p = *p;
    gt_rng_seed(&smp->rng, p->seed);
}

/* ---- helpers ---------------------------------------------------------------------------- */
/* total order: higher value first, then lower id */
static int cand_before(const gt_cand *a, const gt_cand *b) {
    if (a->v != b->v) return a->v > b->v;
    return a->id < b->id;
}

static int cand_cmp(const void *pa, const void *pb) {
    const gt_cand *a = pa, *b = pb;
    if (cand_before(a, b)) return -1;
    if (cand_before(b, a)) return 1;
    return 0;
}

static void cand_swap(gt_cand *a, gt_cand *b) {
    gt_cand t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges c[0..n) so that c[0..m) are the m best (in any order). Deterministic quickselect. */
static void cand_select(gt_cand *c, int n, int m) {
    int lo = 0, hi = n - 1;
    if (m <= 0 || m >= n) return;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        /* median of three to c[hi] as pivot */
        if (cand_before(&c[mid], &c[lo])) cand_swap(&c[mid], &c[lo]);
        if (cand_before(&c[hi], &c[lo])) cand_swap(&c[hi], &c[lo]);
        if (cand_before(&c[mid], &c[hi])) cand_swap(&c[mid], &c[hi]);
        gt_cand pivot = c[hi];
        int st = lo;
        for (int i = lo; i < hi; i++)
            if (cand_before(&c[i], &pivot)) cand_swap(&c[i], &c[st++]);
        cand_swap(&c[st], &c[hi]);
        /* c[lo..st) before pivot, c[st] = pivot, c(st..hi] after */
        if (st == m || st == m - 1) return;
        if (st > m)
            hi = st - 1;
        else
            lo = st + 1;
    }
}

static int id_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void apply_penalties(gt_sampler *smp, float *l, const int32_t *hist, int n_hist) {
    const gptc_sampler_params *p = &smp->p;
    if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f)
        return;
    int n = p->penalty_last_n < 0 ? n_hist : p->penalty_last_n;
    if (n > n_hist) n = n_hist;
    if (n > smp->pen_cap) n = smp->pen_cap;
    if (n <= 0) return;
    int32_t *w = smp->pen;
    memcpy(w, hist + (n_hist - n), (size_t)n * sizeof(int32_t));
    /* insertion sort is fine for small windows; qsort for large */
    if (n < 64) {
        for (int i = 1; i < n; i++) {
            int32_t v = w[i];
            int j = i - 1;
            while (j >= 0 && w[j] > v) {
                w[j + 1] = w[j];
                j--;
            }
            w[j + 1] = v;
        }
    } else {
        qsort(w, (size_t)n, sizeof(int32_t), id_cmp);
    }
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && w[j] == w[i]) j++;
        int32_t id = w[i];
        int cnt = j - i;
        i = j;
        if (id < 0 || id >= smp->n_vocab) continue;
        float v = l[id];
        if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0.0f)
            v = v > 0 ? v / p->repeat_penalty : v * p->repeat_penalty;
        v -= (float)cnt * p->frequency_penalty + p->presence_penalty;
        l[id] = v;
    }
}

/* ---- sampling --------------------------------------------------------------------------- */
int32_t gt_sampler_sample(gt_sampler *smp, const float *logits, const int32_t *hist, int n_hist) {
    const gptc_sampler_params *p = &smp->p;
    const int nv = smp->n_vocab;
    float *l = smp->work;
    memcpy(l, logits, (size_t)nv * sizeof(float));
    apply_penalties(smp, l, hist, n_hist);

    /* NaN logits never win */
    for (int i = 0; i < nv; i++)
        if (l[i] != l[i]) l[i] = -INFINITY;

    if (!(p->temperature > 0.0f)) {
        int best = 0;
        for (int i = 1; i < nv; i++)
            if (l[i] > l[best]) best = i;
        return best;
    }

    const int filtered = (p->top_k > 0 && p->top_k < nv) || p->top_p < 1.0f || p->min_p > 0.0f;
    if (!filtered) {
        /* plain temperature sampling over the whole vocabulary, in id order (no sorting) */
        float mx = -INFINITY;
        for (int i = 0; i < nv; i++)
            if (l[i] > mx) mx = l[i];
        if (mx == -INFINITY) return 0;
        const float inv_t = 1.0f / p->temperature;
        double z = 0.0;
        for (int i = 0; i < nv; i++) {
            l[i] = expf((l[i] - mx) * inv_t);
            z += l[i];
        }
        double u = gt_rng_uniform(&smp->rng) * z, cum = 0.0;
        int last = 0;
        for (int i = 0; i < nv; i++) {
            if (l[i] <= 0.0f) continue;
            cum += l[i];
            last = i;
            if (u < cum) return i;
        }
        return last;
    }

    gt_cand *c = smp->cand;
    for (int i = 0; i < nv; i++) {
        c[i].v = l[i];
        c[i].id = i;
    }
    int n = nv;
    int sorted = 0; /* c[0..n) in cand order */

    if (p->top_k > 0 && p->top_k < n) {
        cand_select(c, n, p->top_k);
        n = p->top_k;
        qsort(c, (size_t)n, sizeof(gt_cand), cand_cmp);
        sorted = 1;
    }

    if (p->top_p < 1.0f && n > 1) {
        /* softmax denominator over all candidates (untempered, llama.cpp order) */
        float mx = -INFINITY;
        for (int i = 0; i < n; i++)
            if (c[i].v > mx) mx = c[i].v;
        double z = 0.0;
        for (int i = 0; i < n; i++) z += exp((double)c[i].v - mx);
        int m = sorted ? n : 64;
        for (;;) {
            if (m >= n) m = n;
            if (!sorted) {
                cand_select(c, n, m);
                qsort(c, (size_t)m, sizeof(gt_cand), cand_cmp);
            }
            double cum = 0.0;
            int cut = -1;
            for (int i = 0; i < m; i++) {
                cum += exp((double)c[i].v - mx) / z;
                if (cum >= p->top_p) {
                    cut = i + 1;
                    break;
                }
            }
            if (cut > 0) {
                n = cut;
                sorted = 1;
                break;
            }
            if (m == n) { /* rounding: keep everything */
                sorted = 1;
                break;
            }
            m *= 8;
        }
    }

    if (p->min_p > 0.0f && n > 1) {
        float mx = -INFINITY;
        for (int i = 0; i < n; i++)
            if (c[i].v > mx) mx = c[i].v;
        float thr = mx + logf(p->min_p);
        int k = 0;
        for (int i = 0; i < n; i++)
            if (c[i].v >= thr) c[k++] = c[i];
        n = k > 0 ? k : 1;
    }

    /* temperature, softmax, draw (candidates in their current order) */
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (c[i].v > mx) mx = c[i].v;
    if (mx == -INFINITY) return c[0].id;
    double z = 0.0;
    double inv_t = 1.0 / p->temperature;
    for (int i = 0; i < n; i++) {
        double e = exp(((double)c[i].v - mx) * inv_t);
        c[i].v = (float)e;
        z += e;
    }
    double u = gt_rng_uniform(&smp->rng) * z;
    double cum = 0.0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].v <= 0.0f) continue;
        cum += c[i].v;
        last = i;
        if (u < cum) return c[i].id;
    }
    return c[last].id;
}
