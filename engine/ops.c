/* ops.c — CPU reference ops (see ops.h). */
#include "engine/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"

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
float op_dot_f32(const float *a, const float *b, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

#define MM_TCHUNK 32 /* tokens per quant_dot_rows call (x chunk stays in L2) */

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
        int64_t rows = 0;
        for (int j = 0; j < c.n_jobs; j++)
            if (c.jobs[j].T > 0) rows += c.jobs[j].W->ne[1];
        int64_t per = (rows + (int64_t)nth * 4 - 1) / ((int64_t)nth * 4);
        c.per = per < 8 ? 8 : per;
        c.task0[0] = 0;
        for (int j = 0; j < c.n_jobs; j++) {
            int64_t n = c.jobs[j].T > 0 ? (c.jobs[j].W->ne[1] + c.per - 1) / c.per : 0;
            c.task0[j + 1] = c.task0[j] + (int)n;
        }
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
            if (low < 0) low = 0;
            if (high > d - 1) high = d - 1;
        }
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
        float sj = op_dot_f32(q, k + (size_t)j * kv_stride, hd) * scale;
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
    for (int j = 0; j < n_kv; j++) {
        float w = scratch[j] * inv;
        const float *vj = v + (size_t)j * kv_stride;
        for (int d = 0; d < hd; d++) out[d] += w * vj[d];
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
