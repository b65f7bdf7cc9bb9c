/* sampler.c — penalties, greedy, top-k, top-p, min-p, temperature, seeded draw (sampler.h). */
#include "engine/sampler.h"

#include <math.h>
#include <stdio.h>
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
    smp->cand2 = malloc((size_t)n_vocab * sizeof(gt_cand));
    smp->bsum = malloc(((size_t)n_vocab / GT_SAMPLER_BLOCK + 1) * sizeof(double));
    smp->pen_cap = n_ctx > 0 ? n_ctx : 1;
    smp->pen = malloc((size_t)smp->pen_cap * sizeof(int32_t));
    smp->bias = malloc(GPTC_LOGIT_BIAS_MAX * sizeof(gptc_logit_bias));
    if (!smp->work || !smp->cand || !smp->cand2 || !smp->bsum || !smp->pen || !smp->bias) {
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
    free(smp->cand2);
    free(smp->bsum);
    free(smp->pen);
    free(smp->bias);
    smp->bias = NULL;
    smp->n_bias = 0;
    smp->work = NULL;
    smp->cand = NULL;
    smp->cand2 = NULL;
    smp->bsum = NULL;
    smp->pen = NULL;
}

void gt_sampler_set(gt_sampler *smp, const gptc_sampler_params *p) {
    smp->p = *p;
    int n = p->logit_bias && p->n_logit_bias > 0 ? p->n_logit_bias : 0;
    if (n > GPTC_LOGIT_BIAS_MAX) n = GPTC_LOGIT_BIAS_MAX;
    if (n) memmove(smp->bias, p->logit_bias, (size_t)n * sizeof(gptc_logit_bias));
    smp->n_bias = n;
    smp->p.logit_bias = n ? smp->bias : NULL;
    smp->p.n_logit_bias = n;
    gt_rng_seed(&smp->rng, p->seed);
}

int gt_sampler_check_bias(const gptc_sampler_params *p, int n_vocab, char *msg, size_t cap) {
    const int n = p->n_logit_bias;
    if (n < 0 || n > GPTC_LOGIT_BIAS_MAX) {
        snprintf(msg, cap, "%d logit biases (at most %d)", n, GPTC_LOGIT_BIAS_MAX);
        return -1;
    }
    if (n > 0 && !p->logit_bias) {
        snprintf(msg, cap, "the logit bias list is NULL");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const gptc_logit_bias *b = &p->logit_bias[i];
        if (b->id < 0 || b->id >= n_vocab) {
            snprintf(msg, cap, "logit bias: token id %ld is out of range (vocabulary of %d)",
                     (long)b->id, n_vocab);
            return -1;
        }
        if (b->bias != b->bias) {
            snprintf(msg, cap, "logit bias: the bias of token %ld is NaN", (long)b->id);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (p->logit_bias[j].id == b->id) {
                snprintf(msg, cap, "logit bias: token %ld is listed twice", (long)b->id);
                return -1;
            }
    }
    return 0;
}

int gt_sampler_modifies(const gt_sampler *smp, int n_hist) {
    return smp->n_bias > 0 || gt_sampler_penalty_window(smp, n_hist) > 0;
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

static int id_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* tokens in the penalty window (0: penalties off) */
int gt_sampler_penalty_window(const gt_sampler *smp, int n_hist) {
    const gptc_sampler_params *p = &smp->p;
    if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f)
        return 0;
    int n = p->penalty_last_n < 0 ? n_hist : p->penalty_last_n;
    if (n > n_hist) n = n_hist;
    if (n > smp->pen_cap) n = smp->pen_cap;
    return n > 0 ? n : 0;
}

/* Penalises l[] in place; touches only the tokens of the window. */
static void apply_penalties(gt_sampler *smp, float *l, const int32_t *hist, int n_hist) {
    const gptc_sampler_params *p = &smp->p;
    int n = gt_sampler_penalty_window(smp, n_hist);
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

/* ---- vector kernels over the vocabulary ---------------------------------------------------
 * With AVX2+FMA (-march=native) the passes below run 8 floats at a time; the plain C loops are
 * the fallback and handle the tails. Every kernel treats NaN as -inf. */
#if defined(__AVX2__) && defined(__FMA__)
#define SMP_SIMD 1
#include <immintrin.h>
#endif

/* exp(x) for x <= 0 in float, Cephes' polynomial (~1 ulp); x < -87 (exp < 2^-125), -inf and NaN
 * give 0. fast_exp8 below does exactly the same operations lane by lane, so a value does not
 * depend on whether it fell in a vector body or a tail. */
static inline float fast_exp(float x) {
    if (!(x >= -87.0f)) return 0.0f;
    float n = rintf(x * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float q = 1.9875691500e-4f;
    q = fmaf(q, r, 1.3981999507e-3f);
    q = fmaf(q, r, 8.3334519073e-3f);
    q = fmaf(q, r, 4.1665795894e-2f);
    q = fmaf(q, r, 1.6666665459e-1f);
    q = fmaf(q, r, 5.0000001201e-1f);
    q = fmaf(q, r * r, r + 1.0f);
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float sc;
    memcpy(&sc, &bits, sizeof(sc));
    return q * sc;
}

#ifdef SMP_SIMD
static inline __m256 fast_exp8(__m256 x) {
    const __m256 ok = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 q = _mm256_set1_ps(1.9875691500e-4f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.3981999507e-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(8.3334519073e-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.1665795894e-2f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.6666665459e-1f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(5.0000001201e-1f));
    q = _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i ni = _mm256_cvtps_epi32(_mm256_and_ps(n, ok)); /* NaN lanes: n = 0 */
    __m256 sc =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
    return _mm256_and_ps(_mm256_mul_ps(q, sc), ok);
}

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
#endif

/* max of l[0..n), NaN ignored (-inf when there is no number) */
static float vec_max(const float *l, int n) {
    float mx = -INFINITY;
    int i = 0;
#ifdef SMP_SIMD
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    for (; i + 32 <= n; i += 32) { /* maxps returns its second operand when either is NaN */
        m0 = _mm256_max_ps(_mm256_loadu_ps(l + i), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(l + i + 8), m1);
        m2 = _mm256_max_ps(_mm256_loadu_ps(l + i + 16), m2);
        m3 = _mm256_max_ps(_mm256_loadu_ps(l + i + 24), m3);
    }
    mx = hmax8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
#endif
    for (; i < n; i++)
        if (l[i] > mx) mx = l[i];
    return mx;
}

/* index of the largest value, the lowest on ties; NaN never wins; 0 when there is no number
 * above -inf. One pass: each lane keeps its first best (value, index). */
static int vec_argmax(const float *l, int n) {
    float best = -INFINITY;
    int bi = 0, i = 0;
#ifdef SMP_SIMD
    if (n >= 8) {
        __m256 bv = _mm256_set1_ps(-INFINITY);
        __m256i bx = _mm256_setzero_si256(), ix = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i step = _mm256_set1_epi32(8);
        for (; i + 8 <= n; i += 8, ix = _mm256_add_epi32(ix, step)) {
            __m256 v = _mm256_loadu_ps(l + i);
            __m256 gt = _mm256_cmp_ps(v, bv, _CMP_GT_OQ);
            bv = _mm256_blendv_ps(bv, v, gt);
            bx = _mm256_castps_si256(
                _mm256_blendv_ps(_mm256_castsi256_ps(bx), _mm256_castsi256_ps(ix), gt));
        }
        float lv[8];
        int32_t lx[8];
        _mm256_storeu_ps(lv, bv);
        _mm256_storeu_si256((__m256i *)lx, bx);
        for (int k = 0; k < 8; k++)
            if (lv[k] > best || (lv[k] == best && best > -INFINITY && lx[k] < bi)) {
                best = lv[k];
                bi = lx[k];
            }
    }
#endif
    for (; i < n; i++)
        if (l[i] > best) {
            best = l[i];
            bi = i;
        }
    return best > -INFINITY ? bi : 0;
}

/* e[i] = exp((l[i] - mx) * inv_t) (e may alias l); bsum[b] = the sum of block b (GT_SAMPLER_BLOCK
 * elements) in double, in a fixed order. Returns z = sum_b bsum[b], added in block order. */
static double exp_blocks(const float *l, float *e, int n, float mx, float inv_t, double *bsum) {
    double z = 0.0;
    for (int b0 = 0, nb = 0; b0 < n; b0 += GT_SAMPLER_BLOCK, nb++) {
        const int b1 = n - b0 < GT_SAMPLER_BLOCK ? n : b0 + GT_SAMPLER_BLOCK;
        int i = b0;
        double s = 0.0;
#ifdef SMP_SIMD
        const __m256 vm = _mm256_set1_ps(mx), vt = _mm256_set1_ps(inv_t);
        __m256d a0 = _mm256_setzero_pd(), a1 = a0;
        for (; i + 8 <= b1; i += 8) {
            __m256 x = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(l + i), vm), vt);
            __m256 y = fast_exp8(x);
            _mm256_storeu_ps(e + i, y);
            a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(y)));
            a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(y, 1)));
        }
        double t[4];
        _mm256_storeu_pd(t, _mm256_add_pd(a0, a1));
        s = (t[0] + t[1]) + (t[2] + t[3]);
#endif
        for (; i < b1; i++) {
            e[i] = fast_exp((l[i] - mx) * inv_t);
            s += e[i];
        }
        bsum[nb] = s;
        z += s;
    }
    return z;
}

/* The inverse CDF draw over e[0..n) in index order: the first i with u < e[0] + ... + e[i],
 * found through the block sums of exp_blocks (only one block is scanned). Falls back to the last
 * positive element when rounding leaves u at or above the total. */
static int draw_blocks(const float *e, int n, const double *bsum, double u) {
    double cum = 0.0;
    int last_b = -1;
    for (int b0 = 0, nb = 0; b0 < n; b0 += GT_SAMPLER_BLOCK, nb++) {
        if (!(bsum[nb] > 0.0)) continue;
        const int b1 = n - b0 < GT_SAMPLER_BLOCK ? n : b0 + GT_SAMPLER_BLOCK;
        last_b = b0;
        const double next = cum + bsum[nb];
        if (u < next) {
            double c = cum;
            int last = b0;
            for (int i = b0; i < b1; i++) {
                if (!(e[i] > 0.0f)) continue;
                c += e[i];
                last = i;
                if (u < c) return i;
            }
            return last; /* the block's in-order sum fell just short of next */
        }
        cum = next;
    }
    if (last_b < 0) return -1;
    const int b1 = n - last_b < GT_SAMPLER_BLOCK ? n : last_b + GT_SAMPLER_BLOCK;
    for (int i = b1 - 1; i >= last_b; i--)
        if (e[i] > 0.0f) return i;
    return last_b;
}

/* ---- candidate lists -------------------------------------------------------------------- */
/* The k best of l[0..n) (cand order, NaN as -inf) into c[0..k), sorted. A heap whose root is the
 * worst kept candidate; later ids never beat an equal value, so a vector compare against the
 * root's value skips almost every element once the heap is full. */
static void heap_down(gt_cand *h, int k, int i) {
    for (;;) {
        int w = i, a = 2 * i + 1, b = a + 1;
        if (a < k && cand_before(&h[w], &h[a])) w = a; /* h[a] is worse than h[w] */
        if (b < k && cand_before(&h[w], &h[b])) w = b;
        if (w == i) return;
        gt_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_offer(gt_cand *h, int k, float v, int32_t id) {
    gt_cand x = {v, id};
    if (!cand_before(&x, &h[0])) return;
    h[0] = x;
    heap_down(h, k, 0);
}

static void top_k_select(const float *l, int n, int k, gt_cand *c) {
    for (int i = 0; i < k; i++) {
        c[i].v = l[i] == l[i] ? l[i] : -INFINITY;
        c[i].id = i;
    }
    for (int i = k / 2 - 1; i >= 0; i--) heap_down(c, k, i);
    int i = k;
#ifdef SMP_SIMD
    for (; i + 8 <= n; i += 8) {
        int m = _mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_loadu_ps(l + i), _mm256_set1_ps(c[0].v), _CMP_GT_OQ));
        while (m) {
            int j = __builtin_ctz((unsigned)m);
            m &= m - 1;
            heap_offer(c, k, l[i + j], i + j);
        }
    }
#endif
    for (; i < n; i++)
        if (l[i] == l[i]) heap_offer(c, k, l[i], i);
    qsort(c, (size_t)k, sizeof(gt_cand), cand_cmp);
}

/* Sorts c[0..n) (given in ascending id order, no NaN) into cand order: a stable LSD radix sort
 * on the value's bits, descending, so equal values keep ascending ids. tmp: [n]. */
static uint32_t desc_key(float v) {
    uint32_t u;
    if (v == 0.0f) v = 0.0f; /* -0 == +0 */
    memcpy(&u, &v, sizeof(u));
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending as unsigned */
    return ~u;
}

static void cand_sort(gt_cand *c, int n, gt_cand *tmp) {
    if (n < 256) {
        qsort(c, (size_t)n, sizeof(gt_cand), cand_cmp);
        return;
    }
    int cnt[4][256];
    memset(cnt, 0, sizeof(cnt));
    for (int i = 0; i < n; i++) {
        uint32_t k = desc_key(c[i].v);
        for (int d = 0; d < 4; d++) cnt[d][(k >> (8 * d)) & 255]++;
    }
    gt_cand *src = c, *dst = tmp;
    for (int d = 0; d < 4; d++) {
        int skip = 0, pos = 0;
        for (int b = 0; b < 256; b++) {
            if (cnt[d][b] == n) skip = 1;
            int t = cnt[d][b];
            cnt[d][b] = pos;
            pos += t;
        }
        if (skip) continue;
        for (int i = 0; i < n; i++) dst[cnt[d][(desc_key(src[i].v) >> (8 * d)) & 255]++] = src[i];
        gt_cand *t = src;
        src = dst;
        dst = t;
    }
    if (src != c) memcpy(c, src, (size_t)n * sizeof(gt_cand));
}

/* Candidates of l[0..n) in id order: e = exp(l - mx) at bucket >= bmin (the bucket of a value is
 * its float bits >> 20: 8 per octave, monotone in e) and l >= lo_v. Returns the count. */
static int gather(const float *l, int n, float mx, int bmin, float lo_v, gt_cand *c) {
    int k = 0, i = 0;
    const int32_t ebits = bmin << 20;
#ifdef SMP_SIMD
    const __m256 vm = _mm256_set1_ps(mx), vf = _mm256_set1_ps(lo_v);
    const __m256i vb = _mm256_set1_epi32(ebits - 1);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(l + i);
        __m256 e = fast_exp8(_mm256_sub_ps(v, vm));
        __m256 keep =
            _mm256_and_ps(_mm256_cmp_ps(v, vf, _CMP_GE_OQ),
                          _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_castps_si256(e), vb)));
        int m = _mm256_movemask_ps(keep);
        while (m) {
            int j = __builtin_ctz((unsigned)m);
            m &= m - 1;
            c[k].v = l[i + j] == 0.0f ? 0.0f : l[i + j];
            c[k++].id = i + j;
        }
    }
#endif
    for (; i < n; i++) {
        float e = fast_exp(l[i] - mx);
        int32_t eb;
        memcpy(&eb, &e, sizeof(eb));
        if (l[i] >= lo_v && eb >= ebits) {
            c[k].v = l[i] == 0.0f ? 0.0f : l[i];
            c[k++].id = i;
        }
    }
    return k;
}

#define N_BUCKET 1024  /* exp values in (0, 1]: bits >> 20 <= 0x3f8 */
#define HIST_MIN 0x330 /* buckets below 2^-24 are not counted (their mass is z - the rest) */

/* z = sum exp(l - mx) and the mass per bucket of the values >= 2^-24 */
static double exp_hist(const float *l, int n, float mx, double *mass) {
    double z = 0.0;
    int i = 0;
#ifdef SMP_SIMD
    const __m256 vm = _mm256_set1_ps(mx);
    const __m256i vb = _mm256_set1_epi32((HIST_MIN << 20) - 1);
    __m256d a0 = _mm256_setzero_pd(), a1 = a0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = fast_exp8(_mm256_sub_ps(_mm256_loadu_ps(l + i), vm));
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        int m =
            _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_castps_si256(e), vb)));
        if (m) {
            float ev[8];
            _mm256_storeu_ps(ev, e);
            while (m) {
                int j = __builtin_ctz((unsigned)m);
                m &= m - 1;
                uint32_t b;
                memcpy(&b, &ev[j], sizeof(b));
                mass[b >> 20] += ev[j];
            }
        }
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(a0, a1));
    z = (t[0] + t[1]) + (t[2] + t[3]);
#endif
    for (; i < n; i++) {
        float e = fast_exp(l[i] - mx);
        uint32_t b;
        memcpy(&b, &e, sizeof(b));
        z += e;
        if ((b >> 20) >= HIST_MIN) mass[b >> 20] += e;
    }
    return z;
}

/* llama.cpp's top-p on c[0..n) sorted: the shortest prefix whose probabilities (softmax over the
 * whole vocabulary: exp(v - mx) / z) reach top_p; 0 if it is never reached. */
static int top_p_cut(const gt_cand *c, int n, float mx, double z, float top_p) {
    double cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += exp((double)c[i].v - mx) / z;
        if (cum >= top_p) return i + 1;
    }
    return 0;
}

/* temperature, softmax, draw over c[0..n) in their order */
#define EXACT_DRAW_MAX 4096
static int32_t draw_cands(gt_sampler *smp, gt_cand *c, int n, double u01) {
    const gptc_sampler_params *p = &smp->p;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (c[i].v > mx) mx = c[i].v;
    if (mx == -INFINITY) return c[0].id;
    if (n > EXACT_DRAW_MAX) { /* long lists: the vector path over a copy of the values */
        float *e = smp->work;
        for (int i = 0; i < n; i++) e[i] = c[i].v;
        double z = exp_blocks(e, e, n, mx, 1.0f / p->temperature, smp->bsum);
        int i = draw_blocks(e, n, smp->bsum, u01 * z);
        return c[i < 0 ? 0 : i].id;
    }
    double z = 0.0;
    double inv_t = 1.0 / p->temperature;
    for (int i = 0; i < n; i++) {
        double e = exp(((double)c[i].v - mx) * inv_t);
        c[i].v = (float)e;
        z += e;
    }
    double u = u01 * z;
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

/* ---- constraint mask ---------------------------------------------------------------------- */
void gt_sampler_apply_mask(const float *logits, float *dst, const uint32_t *allowed, int n) {
    for (int w = 0; w * 32 < n; w++) {
        const int i0 = w * 32, cnt = n - i0 < 32 ? n - i0 : 32;
        const uint32_t b = allowed[w];
        if (b == 0) {
            for (int k = 0; k < cnt; k++) dst[i0 + k] = -INFINITY;
        } else if (b == 0xffffffffu && cnt == 32) {
            if (dst != logits) memcpy(dst + i0, logits + i0, 32 * sizeof(float));
        } else {
            for (int k = 0; k < cnt; k++) dst[i0 + k] = (b >> k) & 1 ? logits[i0 + k] : -INFINITY;
        }
    }
}

/* ---- sampling --------------------------------------------------------------------------- */
int32_t gt_sampler_sample(gt_sampler *smp, const float *logits, const int32_t *hist, int n_hist) {
    return gt_sampler_sample_u(smp, logits, hist, n_hist, gt_sampler_draw_u(smp));
}

double gt_sampler_draw_u(gt_sampler *smp) {
    /* one uniform per non-greedy call, drawn before looking at the logits */
    return smp->p.temperature > 0.0f ? gt_rng_uniform(&smp->rng) : 0.0;
}

int32_t gt_sampler_sample_u(gt_sampler *smp, const float *logits, const int32_t *hist, int n_hist,
                            double u) {
    const gptc_sampler_params *p = &smp->p;
    const int nv = smp->n_vocab;
    const float *l = logits;
    /* bias and penalise a copy: only the listed ids, then only the window's tokens */
    if (gt_sampler_modifies(smp, n_hist)) {
        memcpy(smp->work, logits, (size_t)nv * sizeof(float));
        for (int i = 0; i < smp->n_bias; i++)
            if (smp->bias[i].id >= 0 && smp->bias[i].id < nv)
                smp->work[smp->bias[i].id] += smp->bias[i].bias;
        apply_penalties(smp, smp->work, hist, n_hist);
        l = smp->work;
    }

    if (smp->allowed) { /* the constraint: refused tokens become -inf */
        gt_sampler_apply_mask(l, smp->work, smp->allowed, nv);
        l = smp->work;
    }

    if (!(p->temperature > 0.0f)) return vec_argmax(l, nv); /* greedy: one pass */

    const float mx = vec_max(l, nv);
    if (mx == -INFINITY) return 0;                /* no number: the lowest id, no draw */
    if (mx == INFINITY) return vec_argmax(l, nv); /* the first +inf, no draw */
    const int top_k = p->top_k > 0 && p->top_k < nv ? p->top_k : 0;

    if (!top_k && p->top_p >= 1.0f && !(p->min_p > 0.0f)) {
        /* plain temperature sampling over the whole vocabulary in id order: one pass for the
         * exps and their block sums, one draw that scans a single block */
        double z = exp_blocks(l, smp->work, nv, mx, 1.0f / p->temperature, smp->bsum);
        /* z >= 1: the max contributes exp(0) (l may alias work: it holds the exps now) */
        int i = draw_blocks(smp->work, nv, smp->bsum, u * z);
        return i < 0 ? 0 : i;
    }

    gt_cand *c = smp->cand;
    int n;
    /* min-p keeps v >= max + ln(min_p); the max survives top-k and top-p, so this bound can
     * filter first */
    const float lo_v = p->min_p > 0.0f ? mx + logf(p->min_p) : -INFINITY;

    if (top_k) {
        top_k_select(l, nv, top_k, c); /* the k best, sorted */
        n = top_k;
        if (p->top_p < 1.0f && n > 1) {
            float m2 = -INFINITY;
            for (int i = 0; i < n; i++)
                if (c[i].v > m2) m2 = c[i].v;
            double z = 0.0;
            for (int i = 0; i < n; i++) z += exp((double)c[i].v - m2);
            int cut = top_p_cut(c, n, m2, z, p->top_p);
            if (cut > 0) n = cut;
        }
    } else if (p->top_p < 1.0f) {
        /* z over the whole vocabulary and a histogram of exp(v - mx) by octave/8; the sorted
         * prefix reaching top_p lies in the buckets down to the one where the mass crosses
         * top_p (one more for rounding): only those candidates are gathered and sorted */
        double mass[N_BUCKET];
        memset(mass, 0, sizeof(mass));
        const double z = exp_hist(l, nv, mx, mass);
        const double target = (double)p->top_p * z;
        int bmin = 0;
        double cum = 0.0;
        for (int b = N_BUCKET - 1; b >= HIST_MIN; b--) {
            cum += mass[b];
            if (cum >= target) {
                bmin = b - 1;
                break;
            }
        }
        for (;;) {
            n = gather(l, nv, mx, bmin, lo_v, c);
            cand_sort(c, n, smp->cand2);
            int cut = top_p_cut(c, n, mx, z, p->top_p);
            if (cut > 0) {
                n = cut;
                break;
            }
            if (bmin == 0) break; /* rounding: keep every candidate */
            bmin = 0;
        }
    } else {
        n = gather(l, nv, mx, 0, lo_v, c); /* min-p alone: the survivors in id order */
    }

    if (p->min_p > 0.0f && n > 1) {
        float m2 = -INFINITY;
        for (int i = 0; i < n; i++)
            if (c[i].v > m2) m2 = c[i].v;
        float thr = m2 + logf(p->min_p);
        int k = 0;
        for (int i = 0; i < n; i++)
            if (c[i].v >= thr) c[k++] = c[i];
        n = k > 0 ? k : 1;
    }
    if (n <= 0) return vec_argmax(l, nv);
    return draw_cands(smp, c, n, u);
}
