/* test_engine_shapes.c — the CPU engine on model shapes other than the tiny presets (many
 * experts, odd GQA ratios, odd layer counts, ff != n_embd, a short window and a short YaRN
 * original context, head size 32, the fused ffn_gate_up_exps tensor, GPT-2 with 20 heads and an
 * untied output), against an independent
 * double-precision forward pass written here from the spec (docs/gpt-oss.md, docs/gpt2.md) that
 * reads the same GGUF file (weights dequantised row by row; the formats themselves are checked
 * against independent references in test_quant).
 *
 * Models come from the generator tool (gen-model), cached per build folder. Criterion at every
 * position: max|gptc - ref| <= 1e-3 max|ref| and the same argmax; feeding all at once, in
 * batches of 7 and token by token agree within 1e-5 relative; 1 and 2 threads bit-identical.
 *
 * Regression: with --rope-orig-ctx 32 the YaRN correction range's low end is negative; Hugging
 * Face and llama.cpp clamp it to 0, gptc's unrounded path did not (max rel diff 1.2 before). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"
#include "gguf/gguf.h"
#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g_oss[512], g_oss2[512], g_g2[512];

/* ---- reading the file ---------------------------------------------------------------------- */
typedef struct ref_model {
    gguf_file *f;
    char arch[32];
} ref_model;

static uint32_t meta_u32(const ref_model *m, const char *key, uint32_t def) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", m->arch, key);
    uint32_t v;
    gptc_error err;
    if (!gguf_has(m->f, k)) return def;
    ck_assert_msg(gguf_get_u32(m->f, k, &v, &err) == GPTC_OK, "%s", err.msg);
    return v;
}

static double meta_f32(const ref_model *m, const char *key, double def) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", m->arch, key);
    float v;
    gptc_error err;
    if (!gguf_has(m->f, k)) return def;
    ck_assert_msg(gguf_get_f32(m->f, k, &v, &err) == GPTC_OK, "%s", err.msg);
    return v;
}

/* the whole tensor as doubles, [ne2][ne1][ne0] (malloc'd); NULL when absent */
static double *W(const ref_model *m, const char *fmt, int il) {
    char name[96];
    snprintf(name, sizeof name, fmt, il);
    const gguf_tensor *t = gguf_find_tensor(m->f, name);
    if (!t) return NULL;
    int64_t n0 = t->ne[0], rows = (int64_t)(t->n_elements / (uint64_t)n0);
    size_t rb = ggml_row_size(t->type, n0);
    double *out = malloc(sizeof(double) * (size_t)t->n_elements);
    float *row = malloc(sizeof(float) * (size_t)n0);
    for (int64_t r = 0; r < rows; r++) {
        quant_dequant_row(t->type, (const char *)t->data + rb * (size_t)r, row, n0);
        for (int64_t i = 0; i < n0; i++) out[r * n0 + i] = row[i];
    }
    free(row);
    return out;
}

/* y[n_out] = M[n_out][n_in] x + b */
static void mv(double *y, const double *M, const double *x, const double *b, int n_in, int n_out) {
    for (int r = 0; r < n_out; r++) {
        double s = b ? b[r] : 0.0;
        for (int i = 0; i < n_in; i++) s += M[(size_t)r * n_in + i] * x[i];
        y[r] = s;
    }
}

static void rmsnorm(double *o, const double *x, const double *g, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) o[i] = x[i] * s * g[i];
}

static void layernorm(double *o, const double *x, const double *g, const double *b, int n,
                      double eps) {
    double mu = 0, var = 0;
    for (int i = 0; i < n; i++) mu += x[i];
    mu /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mu) * (x[i] - mu);
    double s = 1.0 / sqrt(var / n + eps);
    for (int i = 0; i < n; i++) o[i] = (x[i] - mu) * s * g[i] + b[i];
}

/* causal attention of query position p over cached keys lo..p; sink: extra logit or NAN */
static void attend(double *o, const double *q, const double *kc, const double *vc, int kvd, int hd,
                   int lo, int p, double sink) {
    double *s = malloc(sizeof(double) * (size_t)(p - lo + 1));
    double mx = isnan(sink) ? -INFINITY : sink;
    for (int j = lo; j <= p; j++) {
        double d = 0;
        for (int i = 0; i < hd; i++) d += q[i] * kc[(size_t)j * kvd + i];
        s[j - lo] = d / sqrt((double)hd);
        if (s[j - lo] > mx) mx = s[j - lo];
    }
    double den = isnan(sink) ? 0.0 : exp(sink - mx);
    for (int j = lo; j <= p; j++) den += (s[j - lo] = exp(s[j - lo] - mx));
    for (int i = 0; i < hd; i++) o[i] = 0;
    for (int j = lo; j <= p; j++)
        for (int i = 0; i < hd; i++) o[i] += s[j - lo] / den * vc[(size_t)j * kvd + i];
    free(s);
}

/* ---- gpt-oss reference (docs/gpt-oss.md; YaRN range as Hugging Face: unrounded, clamped) ---- */
static double *ref_oss(const ref_model *m, const int32_t *ids, int n, int *n_vocab) {
    const int L = (int)meta_u32(m, "block_count", 0), E = (int)meta_u32(m, "embedding_length", 0);
    const int H = (int)meta_u32(m, "attention.head_count", 0);
    const int HKV = (int)meta_u32(m, "attention.head_count_kv", (uint32_t)H);
    const int HD = (int)meta_u32(m, "attention.key_length", (uint32_t)(E / H));
    const int X = (int)meta_u32(m, "expert_count", 0), K = (int)meta_u32(m, "expert_used_count", 0);
    const int F = (int)meta_u32(m, "expert_feed_forward_length", 0);
    const int win = (int)meta_u32(m, "attention.sliding_window", 0);
    const double eps = meta_f32(m, "attention.layer_norm_rms_epsilon", 1e-5);
    const double base = meta_f32(m, "rope.freq_base", 150000.0);
    const double fac = meta_f32(m, "rope.scaling.factor", 1.0);
    const double L0 =
        meta_u32(m, "rope.scaling.original_context_length", meta_u32(m, "context_length", 0));
    const double bf = meta_f32(m, "rope.scaling.yarn_beta_fast", 32.0);
    const double bs = meta_f32(m, "rope.scaling.yarn_beta_slow", 1.0);
    const int V = (int)gguf_find_tensor(m->f, "token_embd.weight")->ne[1];
    *n_vocab = V;
    ck_assert_int_eq(HD % 2, 0);
    double *inv = malloc(sizeof(double) * (size_t)(HD / 2)), ms = 1.0;
    {
        double lo = HD * log(L0 / (bf * 2 * M_PI)) / (2 * log(base));
        double hi = HD * log(L0 / (bs * 2 * M_PI)) / (2 * log(base));
        lo = lo < 0 ? 0 : lo;
        hi = hi > HD - 1 ? HD - 1 : hi;
        if (hi == lo) hi += 0.001;
        for (int i = 0; i < HD / 2; i++) {
            double f = pow(base, -2.0 * i / HD);
            double r = (i - lo) / (hi - lo);
            r = r < 0 ? 0 : r > 1 ? 1 : r;
            inv[i] = fac > 1 ? f * (1 - r) + f / fac * r : f;
        }
        if (fac > 1) ms = 0.1 * log(fac) + 1.0;
    }
    const int QD = H * HD, KD = HKV * HD;
    double *embd = W(m, "token_embd.weight", 0), *onorm = W(m, "output_norm.weight", 0);
    double *out = W(m, "output.weight", 0);
    double *x = malloc(sizeof(double) * (size_t)n * E), *a = malloc(sizeof(double) * E);
    double *q = malloc(sizeof(double) * QD), *o = malloc(sizeof(double) * QD);
    double *t = malloc(sizeof(double) * E), *rl = malloc(sizeof(double) * X);
    double *gt = malloc(sizeof(double) * F), *up = malloc(sizeof(double) * F);
    double *kc = malloc(sizeof(double) * (size_t)n * KD),
           *vc = malloc(sizeof(double) * (size_t)n * KD);
    double *logits = malloc(sizeof(double) * (size_t)n * V);
    for (int p = 0; p < n; p++)
        for (int i = 0; i < E; i++) x[(size_t)p * E + i] = embd[(size_t)ids[p] * E + i];
    for (int il = 0; il < L; il++) {
        double *an = W(m, "blk.%d.attn_norm.weight", il), *wq = W(m, "blk.%d.attn_q.weight", il);
        double *bq = W(m, "blk.%d.attn_q.bias", il), *wk = W(m, "blk.%d.attn_k.weight", il);
        double *bk = W(m, "blk.%d.attn_k.bias", il), *wv = W(m, "blk.%d.attn_v.weight", il);
        double *bv = W(m, "blk.%d.attn_v.bias", il), *wo = W(m, "blk.%d.attn_output.weight", il);
        double *bo = W(m, "blk.%d.attn_output.bias", il);
        double *sk = W(m, "blk.%d.attn_sinks.weight", il);
        double *pn = W(m, "blk.%d.post_attention_norm.weight", il);
        double *rw = W(m, "blk.%d.ffn_gate_inp.weight", il);
        double *rb = W(m, "blk.%d.ffn_gate_inp.bias", il);
        double *wg = W(m, "blk.%d.ffn_gate_exps.weight", il);
        double *bg = W(m, "blk.%d.ffn_gate_exps.bias", il);
        double *wu = W(m, "blk.%d.ffn_up_exps.weight", il);
        double *bu = W(m, "blk.%d.ffn_up_exps.bias", il);
        double *wd = W(m, "blk.%d.ffn_down_exps.weight", il);
        double *bd = W(m, "blk.%d.ffn_down_exps.bias", il);
        /* fused ffn_gate_up_exps [X][2F][E]: per expert F gate rows, then F up rows */
        size_t es = (size_t)F * E, bs_ = (size_t)F; /* per-expert strides of gate/up */
        double *fw = NULL, *fb = NULL;
        if (!wg) {
            fw = W(m, "blk.%d.ffn_gate_up_exps.weight", il);
            fb = W(m, "blk.%d.ffn_gate_up_exps.bias", il);
            ck_assert_msg(fw && fb, "layer %d: no gate/up experts", il);
            wg = fw, wu = fw + (size_t)F * E, bg = fb, bu = fb + F;
            es *= 2, bs_ *= 2;
        }
        ck_assert_msg(an && wq && wg && wu && wd, "layer %d: missing tensors", il);
        /* q, k, v of every position, rotated (NeoX pairs i, i + HD/2, scaled by mscale) */
        double *qa = malloc(sizeof(double) * (size_t)n * QD);
        for (int p = 0; p < n; p++) {
            double *xp = x + (size_t)p * E, *qp = qa + (size_t)p * QD;
            double *kp = kc + (size_t)p * KD, *vp = vc + (size_t)p * KD;
            rmsnorm(a, xp, an, E, eps);
            mv(qp, wq, a, bq, E, QD);
            mv(kp, wk, a, bk, E, KD);
            mv(vp, wv, a, bv, E, KD);
            for (int h = 0; h < H + HKV; h++) {
                double *hv = h < H ? qp + h * HD : kp + (h - H) * HD;
                for (int i = 0; i < HD / 2; i++) {
                    double th = (double)(float)((float)p * (float)inv[i]);
                    double x0 = hv[i], x1 = hv[i + HD / 2];
                    hv[i] = ms * (x0 * cos(th) - x1 * sin(th));
                    hv[i + HD / 2] = ms * (x1 * cos(th) + x0 * sin(th));
                }
            }
        }
        for (int p = 0; p < n; p++) {
            double *xp = x + (size_t)p * E;
            int lo = il % 2 == 0 ? p - win + 1 : 0;
            if (lo < 0) lo = 0;
            for (int h = 0; h < H; h++) {
                int g = h / (H / HKV);
                attend(o + h * HD, qa + (size_t)p * QD + h * HD, kc + g * HD, vc + g * HD, KD, HD,
                       lo, p, sk[h]);
            }
            mv(t, wo, o, bo, QD, E);
            for (int i = 0; i < E; i++) xp[i] += t[i];
            /* MoE: top-K by raw router logit, softmax over those K */
            rmsnorm(a, xp, pn, E, eps);
            mv(rl, rw, a, rb, E, X);
            int sel[64];
            ck_assert_int_le(K, 64);
            for (int s = 0; s < K; s++) {
                int best = -1;
                for (int e = 0; e < X; e++) {
                    int used = 0;
                    for (int s2 = 0; s2 < s; s2++) used |= sel[s2] == e;
                    if (!used && (best < 0 || rl[e] > rl[best])) best = e;
                }
                sel[s] = best;
            }
            double wsum = 0;
            for (int s = 0; s < K; s++) wsum += exp(rl[sel[s]] - rl[sel[0]]);
            for (int s = 0; s < K; s++) {
                int e = sel[s];
                mv(gt, wg + e * es, a, bg + e * bs_, E, F);
                mv(up, wu + e * es, a, bu + e * bs_, E, F);
                for (int i = 0; i < F; i++) {
                    double gg = gt[i] < 7.0 ? gt[i] : 7.0;
                    double uu = up[i] > 7.0 ? 7.0 : up[i] < -7.0 ? -7.0 : up[i];
                    gt[i] = gg / (1 + exp(-1.702 * gg)) * (uu + 1);
                }
                mv(t, wd + (size_t)e * E * F, gt, bd + (size_t)e * E, F, E);
                double wk_ = exp(rl[e] - rl[sel[0]]) / wsum;
                for (int i = 0; i < E; i++) xp[i] += wk_ * t[i];
            }
        }
        free(qa);
        if (fw) wg = bg = wu = bu = NULL; /* views into fw / fb */
        double *all[] = {an, wq, bq, wk, bk, wv, bv, wo, bo, sk, pn,
                         rw, rb, wg, bg, wu, bu, wd, bd, fw, fb};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    }
    for (int p = 0; p < n; p++) {
        rmsnorm(a, x + (size_t)p * E, onorm, E, eps);
        mv(logits + (size_t)p * V, out, a, NULL, E, V);
    }
    double *fr[] = {inv, embd, onorm, out, x, a, q, o, t, rl, gt, up, kc, vc};
    for (size_t i = 0; i < sizeof fr / sizeof *fr; i++) free(fr[i]);
    return logits;
}

/* ---- GPT-2 reference (docs/gpt2.md) --------------------------------------------------------- */
static double *ref_gpt2(const ref_model *m, const int32_t *ids, int n, int *n_vocab) {
    const int L = (int)meta_u32(m, "block_count", 0), E = (int)meta_u32(m, "embedding_length", 0);
    const int H = (int)meta_u32(m, "attention.head_count", 0), HD = E / H;
    const int F = (int)meta_u32(m, "feed_forward_length", (uint32_t)(4 * E));
    const double eps = meta_f32(m, "attention.layer_norm_epsilon", 1e-5);
    const int V = (int)gguf_find_tensor(m->f, "token_embd.weight")->ne[1];
    *n_vocab = V;
    double *wte = W(m, "token_embd.weight", 0), *wpe = W(m, "position_embd.weight", 0);
    double *gf = W(m, "output_norm.weight", 0), *bf = W(m, "output_norm.bias", 0);
    double *wout = W(m, "output.weight", 0);
    ck_assert_msg(wout != NULL, "the test models are untied");
    double *x = malloc(sizeof(double) * (size_t)n * E), *a = malloc(sizeof(double) * E);
    double *qkv = malloc(sizeof(double) * (size_t)n * 3 * E), *o = malloc(sizeof(double) * E);
    double *t = malloc(sizeof(double) * E), *z = malloc(sizeof(double) * F);
    double *kc = malloc(sizeof(double) * (size_t)n * E),
           *vc = malloc(sizeof(double) * (size_t)n * E);
    double *logits = malloc(sizeof(double) * (size_t)n * V);
    const double c = sqrt(2.0 / M_PI);
    for (int p = 0; p < n; p++)
        for (int i = 0; i < E; i++)
            x[(size_t)p * E + i] = wte[(size_t)ids[p] * E + i] + wpe[(size_t)p * E + i];
    for (int il = 0; il < L; il++) {
        double *g1 = W(m, "blk.%d.attn_norm.weight", il), *b1 = W(m, "blk.%d.attn_norm.bias", il);
        double *wqkv = W(m, "blk.%d.attn_qkv.weight", il);
        double *bqkv = W(m, "blk.%d.attn_qkv.bias", il);
        double *wo = W(m, "blk.%d.attn_output.weight", il);
        double *bo = W(m, "blk.%d.attn_output.bias", il);
        double *g2 = W(m, "blk.%d.ffn_norm.weight", il), *b2 = W(m, "blk.%d.ffn_norm.bias", il);
        double *wu = W(m, "blk.%d.ffn_up.weight", il), *bu = W(m, "blk.%d.ffn_up.bias", il);
        double *wd = W(m, "blk.%d.ffn_down.weight", il), *bd = W(m, "blk.%d.ffn_down.bias", il);
        ck_assert_msg(g1 && wqkv && wu && wd, "layer %d: missing tensors", il);
        for (int p = 0; p < n; p++) {
            double *qp = qkv + (size_t)p * 3 * E;
            layernorm(a, x + (size_t)p * E, g1, b1, E, eps);
            mv(qp, wqkv, a, bqkv, E, 3 * E);
            memcpy(kc + (size_t)p * E, qp + E, sizeof(double) * E);
            memcpy(vc + (size_t)p * E, qp + 2 * E, sizeof(double) * E);
        }
        for (int p = 0; p < n; p++) {
            double *xp = x + (size_t)p * E;
            for (int h = 0; h < H; h++)
                attend(o + h * HD, qkv + (size_t)p * 3 * E + h * HD, kc + h * HD, vc + h * HD, E,
                       HD, 0, p, NAN);
            mv(t, wo, o, bo, E, E);
            for (int i = 0; i < E; i++) xp[i] += t[i];
            layernorm(a, xp, g2, b2, E, eps);
            mv(z, wu, a, bu, E, F);
            for (int i = 0; i < F; i++)
                z[i] = 0.5 * z[i] * (1.0 + tanh(c * (z[i] + 0.044715 * z[i] * z[i] * z[i])));
            mv(t, wd, z, bd, F, E);
            for (int i = 0; i < E; i++) xp[i] += t[i];
        }
        double *all[] = {g1, b1, wqkv, bqkv, wo, bo, g2, b2, wu, bu, wd, bd};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    }
    for (int p = 0; p < n; p++) {
        layernorm(a, x + (size_t)p * E, gf, bf, E, eps);
        mv(logits + (size_t)p * V, wout, a, NULL, E, V);
    }
    double *fr[] = {wte, wpe, gf, bf, wout, x, a, qkv, o, t, z, kc, vc};
    for (size_t i = 0; i < sizeof fr / sizeof *fr; i++) free(fr[i]);
    return logits;
}

/* ---- gptc side ------------------------------------------------------------------------------- */
/* logits [n][V] fed in chunks of `chunk` (0: all at once) with batch size n_batch */
static float *run_gptc(const char *path, const int32_t *ids, int n, int V, int threads, int n_batch,
                       int chunk) {
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = path;
    mp.backend = GPTC_BACKEND_CPU;
    mp.n_threads = threads;
    gptc_model *m = NULL;
    gptc_error err;
    ck_assert_msg(gptc_model_load(&mp, &m, &err) == GPTC_OK, "%s", err.msg);
    gptc_session_params sp;
    gptc_session_params_default(m, &sp);
    sp.n_ctx = 256;
    if (n_batch) sp.n_batch = n_batch;
    gptc_session *s = NULL;
    ck_assert_msg(gptc_session_new(m, &sp, &s, &err) == GPTC_OK, "%s", err.msg);
    float *lg = malloc(sizeof(float) * (size_t)n * V);
    int step = chunk ? chunk : n;
    for (int p = 0; p < n; p += step) {
        int k = n - p < step ? n - p : step;
        ck_assert_msg(gptc_session_feed_all_logits(s, ids + p, (size_t)k, lg + (size_t)p * V,
                                                   &err) == GPTC_OK,
                      "%s", err.msg);
    }
    gptc_session_free(s);
    gptc_model_free(m);
    return lg;
}

static int argmax_d(const double *r, int V) {
    int b = 0;
    for (int v = 1; v < V; v++)
        if (r[v] > r[b]) b = v;
    return b;
}

static int argmax_f(const float *r, int V) {
    int b = 0;
    for (int v = 1; v < V; v++)
        if (r[v] > r[b]) b = v;
    return b;
}

/* max over positions of max|a - b| / max|b| */
static double rel_ff(const float *a, const float *b, int n, int V) {
    double worst = 0;
    for (int p = 0; p < n; p++) {
        double mx = 0, d = 0;
        for (int v = 0; v < V; v++) {
            double bb = fabs(b[(size_t)p * V + v]),
                   dd = fabs(a[(size_t)p * V + v] - b[(size_t)p * V + v]);
            if (bb > mx) mx = bb;
            if (!(dd <= d)) d = dd;
        }
        if (!(d / mx <= worst)) worst = d / mx;
    }
    return worst;
}

static void check_shape(const char *path, int n, int is_oss) {
    ref_model m = {0};
    gptc_error err;
    ck_assert_msg(gguf_open(path, &m.f, &err) == GPTC_OK, "%s", err.msg);
    ck_assert_int_eq(gguf_architecture(m.f, m.arch, sizeof m.arch, &err), GPTC_OK);
    int V = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    uint64_t st = 12345;
    const gguf_tensor *te = gguf_find_tensor(m.f, "token_embd.weight");
    for (int i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((st >> 33) % (uint64_t)te->ne[1]);
    }
    double *ref = is_oss ? ref_oss(&m, ids, n, &V) : ref_gpt2(&m, ids, n, &V);
    float *all = run_gptc(path, ids, n, V, 2, 0, 0);
    for (int p = 0; p < n; p++) {
        const double *r = ref + (size_t)p * V;
        const float *g = all + (size_t)p * V;
        double mx = 0, d = 0;
        for (int v = 0; v < V; v++) {
            if (fabs(r[v]) > mx) mx = fabs(r[v]);
            if (!(fabs(g[v] - r[v]) <= d)) d = fabs(g[v] - r[v]);
        }
        ck_assert_msg(d <= 1e-3 * mx, "%s pos %d: max|gptc - ref| %g, max|ref| %g (rel %g)", path,
                      p, d, mx, d / mx);
        ck_assert_msg(argmax_f(g, V) == argmax_d(r, V), "%s pos %d: argmax %d, reference %d", path,
                      p, argmax_f(g, V), argmax_d(r, V));
    }
    /* feeding patterns and thread counts */
    float *b7 = run_gptc(path, ids, n, V, 2, 7, 0);
    float *tok = run_gptc(path, ids, n, V, 2, 0, 1);
    float *t1 = run_gptc(path, ids, n, V, 1, 0, 0);
    double rb = rel_ff(b7, all, n, V), rt = rel_ff(tok, all, n, V);
    ck_assert_msg(rb <= 1e-5, "%s: batches of 7 vs all at once: rel %g", path, rb);
    ck_assert_msg(rt <= 1e-5, "%s: token by token vs all at once: rel %g", path, rt);
    ck_assert_msg(memcmp(t1, all, sizeof(float) * (size_t)n * V) == 0, "%s: 1 and 2 threads differ",
                  path);
    free(b7);
    free(tok);
    free(t1);
    free(all);
    free(ref);
    free(ids);
    gguf_close(m.f);
}

/* 128 experts (top 4), 12 q / 3 kv heads, 3 layers, ff 96 != d 128, window 16 and a YaRN
 * original context of 32 (negative low correction dimension) crossed by 40 tokens */
START_TEST(test_oss_shape) {
    check_shape(g_oss, 40, 1);
}
END_TEST

/* head size 32, 5 layers, fused MXFP4 ffn_gate_up_exps, K-quant/Q5_0 attention, window 16 */
START_TEST(test_oss_fused_shape) {
    check_shape(g_oss2, 40, 1);
}
END_TEST

/* GPT-2 with 20 heads of 64 (GPT-2 large's head count), untied output, n_ctx 1024 */
START_TEST(test_gpt2_shape) {
    check_shape(g_g2, 24, 0);
}
END_TEST

int main(void) {
    tu_cached_model(g_oss, sizeof g_oss, "shape-oss-e128-h12-3",
                    "--preset tiny-gpt-oss --vocab 300 --layers 3 --experts 128 --embd 128 "
                    "--heads 12 --kv-heads 3 --ff 96 --window 16 --rope-orig-ctx 32 --seed 2");
    tu_cached_model(g_oss2, sizeof g_oss2, "shape-oss-hd32-fused",
                    "--preset tiny-gpt-oss --vocab 300 --layers 5 --experts 16 --embd 256 "
                    "--heads 8 --kv-heads 2 --head-dim 32 --ff 96 --window 16 --rope-orig-ctx 64 "
                    "--fused-gate-up --types attn_q=Q4_K,attn_k=Q6_K,attn_v=Q5_0,attn_output=Q5_K "
                    "--seed 4");
    tu_cached_model(g_g2, sizeof g_g2, "shape-gpt2-h20",
                    "--preset tiny-gpt2 --vocab 300 --layers 1 --embd 1280 --heads 20 --untied "
                    "--ctx 1024 --seed 3");
    Suite *s = suite_create("engine_shapes");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_oss_shape);
    tcase_add_test(tc, test_oss_fused_shape);
    tcase_add_test(tc, test_gpt2_shape);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
