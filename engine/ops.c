/* ops.c — CPU reference ops (see ops.h). */
#include "engine/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"

#if defined(__AVX2__)
#define OPS_SIMD 1
#include <immintrin.h>
#endif

/* ---- norms ------------------------------------------------------------------------------ */
void op_rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    float scale = (float)(1.0 / sqrt(ss / n + (double)eps));
    for (int i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
}

void op_layernorm(float *out, const float *x, const float *g, const float *b, int n, float eps) {
    double mean = 0.0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    double var = 0.0;
    for (int i = 0; i < n; i++) {
        double d = x[i] - mean;
        var += d * d;
    }
    var /= n;
    float rstd = (float)(1.0 / sqrt(var + (double)eps));
    float m = (float)mean;
    for (int i = 0; i < n; i++) out[i] = ((x[i] - m) * rstd) * g[i] + b[i];
}

/* ---- dot / matmul ----------------------------------------------------------------------- */
/* 16 running sums (acc[j] over i = j mod 16), a tail into acc[0..), then a halving tree. The
 * AVX path keeps acc in two registers and does the same operations in the same order. */
static inline float dot_f32(const float *a, const float *b, int64_t n) {
    int64_t i = 0;
#ifdef OPS_SIMD
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    for (; i + 16 <= n; i += 16) {
        lo = _mm256_add_ps(lo, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
        hi = _mm256_add_ps(hi,
                           _mm256_mul_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8)));
    }
    if (i == n) {
        __m256 s8 = _mm256_add_ps(lo, hi); /* w = 8 */
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)); /* 4 */
        __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));         /* w = 2 */
        return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2))); /* w = 1 */
    }
    float acc[16];
    _mm256_storeu_ps(acc, lo);
    _mm256_storeu_ps(acc + 8, hi);
#else
    float acc[16] = {0};
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
#endif
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

float op_dot_f32(const float *a, const float *b, int64_t n) {
    return dot_f32(a, b, n);
}

#define MM_TCHUNK 32    /* tokens per quant_dot_rows call (x chunk stays in L2) */
#define MM_TILE_MIN_T 4 /* chunks of at least this many tokens go through quant_matmul */

size_t op_matmul_scratch_bytes(int64_t n_in) {
    (void)n_in;
    return 0; /* quant_dot_rows decodes into its own stack buffer */
}

/* rows [r0, r1) of one product */
static void mm_rows(const op_mm_job *j, int64_t r0, int64_t r1) {
    const gt_weight *W = j->W;
    const int64_t n_in = W->ne[0], n_out = W->ne[1];
    const int64_t e = j->expert < 0 ? 0 : j->expert;
    if (j->T == 1) {
        for (int64_t r = r0; r < r1; r++) {
            float v = quant_dot(W->type, gt_weight_row(W, e, r), j->x, n_in);
            j->y[r] = j->bias ? v + j->bias[r] : v;
        }
        return;
    }
    for (int t0 = 0; t0 < j->T; t0 += MM_TCHUNK) {
        int nt = j->T - t0 < MM_TCHUNK ? j->T - t0 : MM_TCHUNK;
        const float *xc = j->x + (size_t)t0 * n_in;
        float *yc = j->y + (size_t)t0 * n_out;
        if (nt >= MM_TILE_MIN_T) {
            /* register tiles of 4 rows x 3 tokens; r0 is a multiple of 4 (mm_task), so the
             * rows each tile covers do not depend on the thread count */
            quant_matmul(W->type, gt_weight_row(W, e, r0), W->row_bytes, r1 - r0, xc, n_in, nt,
                         (size_t)n_in, yc + r0, (size_t)n_out);
            if (j->bias)
                for (int t = 0; t < nt; t++)
                    for (int64_t r = r0; r < r1; r++) yc[(size_t)t * n_out + r] += j->bias[r];
            continue;
        }
        for (int64_t r = r0; r < r1; r++) {
            quant_dot_rows(W->type, gt_weight_row(W, e, r), xc, n_in, nt, (size_t)n_in, yc + r,
                           (size_t)n_out);
            if (j->bias)
                for (int t = 0; t < nt; t++) yc[(size_t)t * n_out + r] += j->bias[r];
        }
    }
}

#define MM_MAX_JOBS 64 /* products per pool dispatch */

typedef struct mm_ctx {
    const op_mm_job *jobs;
    int n_jobs;
    int64_t per;                /* rows per task */
    int task0[MM_MAX_JOBS + 1]; /* first task of each job */
} mm_ctx;

static void mm_task(void *vctx, int task, int thread);

/* all tasks of a dispatch on the calling thread (gt_pool_run of one task: no wake-up) */
static void mm_all(void *vctx, int task, int thread) {
    (void)task;
    const mm_ctx *c = vctx;
    for (int t = 0; t < c->task0[c->n_jobs]; t++) mm_task(vctx, t, thread);
}

static void mm_task(void *vctx, int task, int thread) {
    (void)thread;
    const mm_ctx *c = vctx;
    int j = 0;
    while (task >= c->task0[j + 1]) j++;
    int64_t r0 = (int64_t)(task - c->task0[j]) * c->per;
    int64_t r1 = r0 + c->per;
    if (r1 > c->jobs[j].W->ne[1]) r1 = c->jobs[j].W->ne[1];
    mm_rows(&c->jobs[j], r0, r1);
}

void op_matmul_batch(const op_mm_job *jobs, int n_jobs, gt_pool *pool) {
    const int nth = gt_pool_n_threads(pool);
    for (int j0 = 0; j0 < n_jobs; j0 += MM_MAX_JOBS) {
        mm_ctx c;
        c.jobs = jobs + j0;
        c.n_jobs = n_jobs - j0 < MM_MAX_JOBS ? n_jobs - j0 : MM_MAX_JOBS;
        /* ~4 tasks per thread over all rows of the group, at least 8 rows each */
        int64_t rows = 0, work = 0;
        for (int j = 0; j < c.n_jobs; j++)
            if (c.jobs[j].T > 0) {
                rows += c.jobs[j].W->ne[1];
                work += c.jobs[j].W->ne[1] * c.jobs[j].W->ne[0] * c.jobs[j].T;
            }
        int64_t per = (rows + (int64_t)nth * 4 - 1) / ((int64_t)nth * 4);
        per = per < 8 ? 8 : per;
        c.per = (per + 3) / 4 * 4; /* whole 4-row tiles of quant_matmul */
        c.task0[0] = 0;
        for (int j = 0; j < c.n_jobs; j++) {
            int64_t n = c.jobs[j].T > 0 ? (c.jobs[j].W->ne[1] + c.per - 1) / c.per : 0;
            c.task0[j + 1] = c.task0[j] + (int)n;
        }
        /* small products (decode of small layers) cost less than waking the workers; the
         * partition into tasks and each row's arithmetic stay the same, so results do not
         * change */
        if (work < OP_SERIAL_WORK)
            gt_pool_run(pool, 1, mm_all, &c);
        else
            gt_pool_run(pool, c.task0[c.n_jobs], mm_task, &c);
    }
}

void op_matmul(float *y, const float *x, int T, const gt_weight *W, int64_t expert,
               const float *bias, gt_pool *pool) {
    if (T <= 0) return;
    op_mm_job j = {y, x, T, W, expert, bias};
    op_matmul_batch(&j, 1, pool);
}

void op_embed_row(float *out, const gt_weight *W, int64_t id) {
    quant_dequant_row(W->type, gt_weight_row(W, 0, id), out, W->ne[0]);
}

/* ---- RoPE ------------------------------------------------------------------------------- */
static double yarn_corr_dim(int dim, int orig_ctx, double beta, double base) {
    return dim * log(orig_ctx / (beta * 2.0 * M_PI)) / (2.0 * log(base));
}

void op_rope_yarn_inv_freq(float *inv_freq, const op_rope_params *rp, int rounded) {
    const int d = rp->dim;
    double low = 0, high = 0;
    int yarn = rp->yarn && rp->factor > 1.0;
    if (yarn) {
        low = yarn_corr_dim(d, rp->orig_ctx, rp->beta_fast, rp->freq_base);
        high = yarn_corr_dim(d, rp->orig_ctx, rp->beta_slow, rp->freq_base);
        if (rounded) {
            low = floor(low);
            high = ceil(high);
        }
        /* Both Hugging Face (find_correction_range) and llama.cpp clamp the range to
         * [0, d - 1], rounded or not; a short original context makes low negative. */
        if (low < 0) low = 0;
        if (high > d - 1) high = d - 1;
    }
    double span = high - low;
    if (rounded ? span < 0.001 : span == 0.0) span = 0.001;
    for (int i = 0; i < d / 2; i++) {
        double f = pow(rp->freq_base, -2.0 * i / d);
        if (!yarn) {
            inv_freq[i] = (float)f;
            continue;
        }
        double r = (i - low) / span;
        if (r < 0) r = 0;
        if (r > 1) r = 1;
        inv_freq[i] = (float)(f * (1.0 - r) + (f / rp->factor) * r);
    }
}

float op_rope_yarn_mscale(const op_rope_params *rp) {
    if (!rp->yarn || rp->factor <= 1.0) return 1.0f;
    return (float)(0.1 * log(rp->factor) + 1.0);
}

void op_rope_neox(float *x, int n_heads, int hd, int64_t pos, const float *inv_freq, float mscale) {
    const int half = hd / 2;
    float c[256], s[256]; /* hd <= 512 */
    for (int i = 0; i < half && i < 256; i++) {
        float theta = (float)pos * inv_freq[i];
        c[i] = (float)cos((double)theta) * mscale;
        s[i] = (float)sin((double)theta) * mscale;
    }
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            v[i] = a * c[i] - b * s[i];
            v[i + half] = b * c[i] + a * s[i];
        }
    }
}

/* ---- attention -------------------------------------------------------------------------- */
void op_attention_head(float *out, const float *q, const float *k, const float *v, int n_kv,
                       size_t kv_stride, int hd, int has_sink, float sink, float scale,
                       float *scratch) {
    float mx = has_sink ? sink : -INFINITY;
    for (int j = 0; j < n_kv; j++) {
        float sj = dot_f32(q, k + (size_t)j * kv_stride, hd) * scale;
        scratch[j] = sj;
        if (sj > mx) mx = sj;
    }
    double den = has_sink ? exp((double)sink - mx) : 0.0;
    for (int j = 0; j < n_kv; j++) {
        float e = expf(scratch[j] - mx);
        scratch[j] = e;
        den += e;
    }
    for (int d = 0; d < hd; d++) out[d] = 0.0f;
    if (den == 0.0) return;
    float inv = (float)(1.0 / den);
    for (int j = 0; j < n_kv; j++) scratch[j] *= inv;
    /* out[d] = sum_j w_j v_j[d], each out[d] summed over j in order (mul, then add); with AVX
     * 64 dimensions stay in 8 registers while j runs: the same operations, bit for bit */
    int d0 = 0;
#ifdef OPS_SIMD
    for (; d0 + 64 <= hd; d0 += 64) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
               a7 = a0;
        const float *vj = v + d0;
        for (int j = 0; j < n_kv; j++, vj += kv_stride) {
            const __m256 w = _mm256_set1_ps(scratch[j]);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(w, _mm256_loadu_ps(vj)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(w, _mm256_loadu_ps(vj + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(w, _mm256_loadu_ps(vj + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(w, _mm256_loadu_ps(vj + 24)));
            a4 = _mm256_add_ps(a4, _mm256_mul_ps(w, _mm256_loadu_ps(vj + 32)));
            a5 = _mm256_add_ps(a5, _mm256_mul_ps(w, _mm256_loadu_ps(vj + 40)));
            a6 = _mm256_add_ps(a6, _mm256_mul_ps(w, _mm256_loadu_ps(vj + 48)));
            a7 = _mm256_add_ps(a7, _mm256_mul_ps(w, _mm256_loadu_ps(vj + 56)));
        }
        _mm256_storeu_ps(out + d0, a0);
        _mm256_storeu_ps(out + d0 + 8, a1);
        _mm256_storeu_ps(out + d0 + 16, a2);
        _mm256_storeu_ps(out + d0 + 24, a3);
        _mm256_storeu_ps(out + d0 + 32, a4);
        _mm256_storeu_ps(out + d0 + 40, a5);
        _mm256_storeu_ps(out + d0 + 48, a6);
        _mm256_storeu_ps(out + d0 + 56, a7);
    }
#endif
    for (int j = 0; j < n_kv; j++) {
        const float w = scratch[j];
        const float *vj = v + (size_t)j * kv_stride;
        for (int d = d0; d < hd; d++) out[d] += w * vj[d];
    }
}

void op_attention(float *out, const float *q, const float *k, const float *v, int n_kv, int n_head,
                  int n_head_kv, int hd, const float *sinks, float scale, float *scratch) {
    int group = n_head / n_head_kv;
    size_t stride = (size_t)n_head_kv * hd;
    for (int h = 0; h < n_head; h++) {
        int g = h / group;
        op_attention_head(out + (size_t)h * hd, q + (size_t)h * hd, k + (size_t)g * hd,
                          v + (size_t)g * hd, n_kv, stride, hd, sinks != NULL,
                          sinks ? sinks[h] : 0.0f, scale, scratch);
    }
}

/* ---- activations ------------------------------------------------------------------------ */
void op_swiglu_oai(float *out, const float *gate, const float *up, int n, float alpha,
                   float limit) {
    for (int i = 0; i < n; i++) {
        float g = gate[i] < limit ? gate[i] : limit;
        float u = up[i];
        if (u > limit) u = limit;
        if (u < -limit) u = -limit;
        float sig = 1.0f / (1.0f + expf(-alpha * g));
        out[i] = g * sig * (u + 1.0f);
    }
}

void op_gelu_tanh(float *out, const float *x, int n) {
    const float k0 = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int i = 0; i < n; i++) {
        float z = x[i];
        out[i] = 0.5f * z * (1.0f + tanhf(k0 * (z + 0.044715f * z * z * z)));
    }
}

/* ---- router ----------------------------------------------------------------------------- */
void op_router_topk_softmax(const float *logits, int n_expert, int k, int *idx, float *w) {
    if (k > n_expert) k = n_expert;
    for (int s = 0; s < k; s++) {
        int best = -1;
        for (int e = 0; e < n_expert; e++) {
            int taken = 0;
            for (int t = 0; t < s; t++) taken |= idx[t] == e;
            if (taken) continue;
            /* strict > keeps the lower index on ties; NaN never wins over a number */
            if (best < 0 || logits[e] > logits[best] ||
                (logits[best] != logits[best] && logits[e] == logits[e]))
                best = e;
        }
        idx[s] = best;
    }
    float mx = logits[idx[0]];
    float sum = 0.0f;
    for (int s = 0; s < k; s++) {
        w[s] = expf(logits[idx[s]] - mx);
        sum += w[s];
    }
    for (int s = 0; s < k; s++) w[s] /= sum;
}

void op_add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void op_axpy(float *x, float a, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += a * y[i];
}
