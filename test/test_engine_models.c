/* test_engine_models.c — whole models through the public API (gptc.h).
 *  - bad files give clear errors naming the tensor/key (missing tensor, wrong shape, wrong type,
 *    unsupported architecture, missing key);
 *  - a 1-layer gpt-oss with zeroed attention and experts: logits = W_out rmsnorm(E[t]) g_out,
 *    computed here by hand;
 *  - small random gpt-oss and GPT-2 models against a straightforward double-precision forward
 *    pass written in this file from the specs (sliding window + ring buffer, sinks, GQA, YaRN,
 *    top-k routing, clamped SwiGLU; LayerNorm, fused QKV, GELU, tied/untied head), for
 *    feed_all_logits, token-by-token decode and truncate;
 *  - the fused ffn_gate_up_exps variant gives the same logits as split gate/up;
 *  - 1 vs 3 threads bit-identical (quantised weights);
 *  - context full, bad token ids, cancel, sampling before feeding.
 * The GGUF files are written with the gguf writer into a temp dir. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/quant.h"
#include "gguf/gguf.h"
#include "gptc.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

/* ---- model builder ------------------------------------------------------------------------ */
typedef struct dense {
    float *d; /* dequantised values, row-major [ne2][ne1][ne0] */
    int64_t ne[3];
} dense;

typedef struct mb {
    gguf_writer *w;
    void *bufs[1024];
    int nb;
    uint64_t rs;
} mb;

static float mb_rand(mb *b) {
    b->rs = b->rs * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(b->rs >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void *mb_keep(mb *b, void *p) {
    ck_assert_int_lt(b->nb, 1024);
    b->bufs[b->nb++] = p;
    return p;
}

/* Adds a tensor of random values in [-scale, scale) + offset (scale 0: all `offset`), quantised
 * to `type`; returns the dequantised values the engine will see. */
static dense mb_tensor(mb *b, const char *name, uint32_t type, int nd, int64_t ne0, int64_t ne1,
                       int64_t ne2, float scale, float offset) {
    int64_t rows = ne1 * ne2, n = ne0 * rows;
    float *src = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) src[i] = scale * mb_rand(b) + offset;
    size_t rb = quant_row_size(type, ne0);
    ck_assert_uint_gt(rb, 0);
    char *q = mb_keep(b, malloc(rb * (size_t)rows));
    float *d = mb_keep(b, malloc(sizeof(float) * (size_t)n));
    for (int64_t r = 0; r < rows; r++) {
        quant_quantize_row(type, src + r * ne0, q + rb * r, ne0);
        quant_dequant_row(type, q + rb * r, d + r * ne0, ne0);
    }
    free(src);
    int64_t ne[3] = {ne0, ne1, ne2};
    ck_assert_int_eq(gguf_writer_add_tensor(b->w, name, type, (uint32_t)nd, ne, q), GPTC_OK);
    dense out = {d, {ne0, ne1, ne2}};
    return out;
}

static void mb_free(mb *b) {
    for (int i = 0; i < b->nb; i++) free(b->bufs[i]);
    b->nb = 0;
    gguf_writer_free(b->w);
    b->w = NULL;
}

static char *mb_write(mb *b, const char *fname) {
    static char path[4][512];
    static int k = 0;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/%s", tu_tmpdir(), fname);
    gptc_error err;
    ck_assert_msg(gguf_writer_write(b->w, p, &err) == GPTC_OK, "%s", err.msg);
    return p;
}

/* ---- gpt-oss configuration --------------------------------------------------------------- */
typedef struct oss_cfg {
    int L, E, H, HKV, HD, F, X, K, V, ctx, window;
    uint32_t t_mat, t_exp; /* types of attention/embedding matrices, experts */
    int fused;             /* write ffn_gate_up_exps */
    int zero;              /* zero attention + experts (hand-checkable logits) */
    /* omissions / corruptions for the error tests */
    const char *skip;      /* tensor name not written */
    const char *bad_shape; /* tensor written with ne0 + 32 */
    const char *bad_type;  /* 1-D F32 tensor written as F16 */
    const char *arch;      /* general.architecture (default gpt-oss) */
    const char *skip_key;
} oss_cfg;

typedef struct oss_lw {
    dense an, wq, bq, wk, bk, wv, bv, wo, bo, sinks, pn, rw, rb, wg, bg, wu, bu, wd, bd;
} oss_lw;
typedef struct oss_w {
    dense embd, out_norm, out;
    oss_lw l[6];
} oss_w;

static oss_cfg oss_default(void) {
    oss_cfg c = {.L = 3,
                 .E = 64,
                 .H = 4,
                 .HKV = 2,
                 .HD = 16,
                 .F = 32,
                 .X = 4,
                 .K = 2,
                 .V = 50,
                 .ctx = 64,
                 .window = 4,
                 .t_mat = GGML_TYPE_F32,
                 .t_exp = GGML_TYPE_F32};
    return c;
}

static int is(const char *a, const char *b) {
    return a && strcmp(a, b) == 0;
}

/* one tensor with the test's corruption hooks */
static dense oss_t(mb *b, const oss_cfg *c, const char *name, uint32_t type, int nd, int64_t ne0,
                   int64_t ne1, int64_t ne2, float scale, float off) {
    if (is(c->skip, name)) {
        dense none = {0};
        return none;
    }
    if (is(c->bad_shape, name)) ne0 += 32;
    if (is(c->bad_type, name)) type = GGML_TYPE_F16;
    return mb_tensor(b, name, type, nd, ne0, ne1, ne2, scale, off);
}

static const char *build_oss(const oss_cfg *c, oss_w *w, mb *b, const char *fname) {
    memset(b, 0, sizeof(*b));
    b->rs = 99;
    b->w = gguf_writer_new();
    const char *arch = c->arch ? c->arch : "gpt-oss";
    gguf_writer_add_str(b->w, "general.architecture", arch, strlen(arch));
    gguf_writer_add_str(b->w, "general.name", "test oss", 8);
#define KU(k, v)                                                                                   \
    if (!is(c->skip_key, k)) gguf_writer_add_u32(b->w, k, (uint32_t)(v))
#define KF(k, v)                                                                                   \
    if (!is(c->skip_key, k)) gguf_writer_add_f32(b->w, k, (float)(v))
    KU("gpt-oss.block_count", c->L);
    KU("gpt-oss.context_length", c->ctx);
    KU("gpt-oss.embedding_length", c->E);
    KU("gpt-oss.feed_forward_length", c->F);
    KU("gpt-oss.attention.head_count", c->H);
    KU("gpt-oss.attention.head_count_kv", c->HKV);
    KF("gpt-oss.rope.freq_base", 10000.0);
    KF("gpt-oss.attention.layer_norm_rms_epsilon", 1e-5);
    KU("gpt-oss.expert_count", c->X);
    KU("gpt-oss.expert_used_count", c->K);
    KU("gpt-oss.attention.key_length", c->HD);
    KU("gpt-oss.attention.value_length", c->HD);
    KU("gpt-oss.attention.sliding_window", c->window);
    KU("gpt-oss.expert_feed_forward_length", c->F);
    gguf_writer_add_str(b->w, "gpt-oss.rope.scaling.type", "yarn", 4);
    KF("gpt-oss.rope.scaling.factor", 4.0);
    KU("gpt-oss.rope.scaling.original_context_length", 16);
#undef KU
#undef KF
    const int64_t E = c->E, QD = (int64_t)c->H * c->HD, KD = (int64_t)c->HKV * c->HD;
    const int64_t F = c->F, X = c->X;
    const uint32_t T32 = GGML_TYPE_F32;
    const float z = c->zero ? 0.0f : 1.0f;
    w->embd = oss_t(b, c, "token_embd.weight", c->t_mat, 2, E, c->V, 1, 1.0f, 0);
    w->out_norm = oss_t(b, c, "output_norm.weight", T32, 1, E, 1, 1, 0.2f, 1.0f);
    w->out = oss_t(b, c, "output.weight", c->t_mat, 2, E, c->V, 1, 0.3f, 0);
    char nm[96];
    for (int il = 0; il < c->L; il++) {
#define T(field, suffix, type, nd, a, bb, cc, sc, off)                                             \
    do {                                                                                           \
        snprintf(nm, sizeof(nm), "blk.%d." suffix, il);                                            \
        w->l[il].field = oss_t(b, c, nm, type, nd, a, bb, cc, sc, off);                            \
    } while (0)
        T(an, "attn_norm.weight", T32, 1, E, 1, 1, 0.2f, 1.0f);
        T(wq, "attn_q.weight", c->t_mat, 2, E, QD, 1, 0.3f * z, 0);
        T(bq, "attn_q.bias", T32, 1, QD, 1, 1, 0.2f * z, 0);
        T(wk, "attn_k.weight", c->t_mat, 2, E, KD, 1, 0.3f * z, 0);
        T(bk, "attn_k.bias", T32, 1, KD, 1, 1, 0.2f * z, 0);
        T(wv, "attn_v.weight", c->t_mat, 2, E, KD, 1, 0.3f * z, 0);
        T(bv, "attn_v.bias", T32, 1, KD, 1, 1, 0.2f * z, 0);
        T(wo, "attn_output.weight", c->t_mat, 2, QD, E, 1, 0.2f * z, 0);
        T(bo, "attn_output.bias", T32, 1, E, 1, 1, 0.1f * z, 0);
        T(sinks, "attn_sinks.weight", T32, 1, c->H, 1, 1, 1.0f, 0);
        T(pn, "post_attention_norm.weight", T32, 1, E, 1, 1, 0.2f, 1.0f);
        T(rw, "ffn_gate_inp.weight", T32, 2, E, X, 1, 0.5f * z, 0);
        T(rb, "ffn_gate_inp.bias", T32, 1, X, 1, 1, 0.5f * z, 0);
        if (c->fused) {
            /* same random stream as the split layout: generate split, then interleave into
             * the fused [E, 2F, X] = per expert gate rows then up rows */
            mb tmp = {.w = gguf_writer_new(), .rs = b->rs};
            dense g = mb_tensor(&tmp, "g", c->t_exp, 3, E, F, X, 0.4f * z, 0);
            dense gb = mb_tensor(&tmp, "gb", T32, 2, F, X, 1, 0.3f * z, 0);
            dense u = mb_tensor(&tmp, "u", c->t_exp, 3, E, F, X, 0.4f * z, 0);
            dense ub = mb_tensor(&tmp, "ub", T32, 2, F, X, 1, 0.3f * z, 0);
            b->rs = tmp.rs;
            /* the dense values are exact for F32 (the only type this variant is tested with) */
            float *fw = mb_keep(b, malloc(sizeof(float) * (size_t)(E * 2 * F * X)));
            float *fb = mb_keep(b, malloc(sizeof(float) * (size_t)(2 * F * X)));
            for (int64_t e = 0; e < X; e++) {
                memcpy(fw + (e * 2 * F) * E, g.d + e * F * E, sizeof(float) * (size_t)(F * E));
                memcpy(fw + (e * 2 * F + F) * E, u.d + e * F * E, sizeof(float) * (size_t)(F * E));
                memcpy(fb + e * 2 * F, gb.d + e * F, sizeof(float) * (size_t)F);
                memcpy(fb + e * 2 * F + F, ub.d + e * F, sizeof(float) * (size_t)F);
            }
            snprintf(nm, sizeof(nm), "blk.%d.ffn_gate_up_exps.weight", il);
            gguf_writer_add_tensor(b->w, nm, T32, 3, (int64_t[]){E, 2 * F, X}, fw);
            snprintf(nm, sizeof(nm), "blk.%d.ffn_gate_up_exps.bias", il);
            gguf_writer_add_tensor(b->w, nm, T32, 2, (int64_t[]){2 * F, X}, fb);
            /* keep the dense copies alive (owned by tmp) by moving them into b */
            for (int i = 0; i < tmp.nb; i++) mb_keep(b, tmp.bufs[i]);
            tmp.nb = 0;
            mb_free(&tmp);
            w->l[il].wg = g, w->l[il].bg = gb, w->l[il].wu = u, w->l[il].bu = ub;
        } else {
            T(wg, "ffn_gate_exps.weight", c->t_exp, 3, E, F, X, 0.4f * z, 0);
            T(bg, "ffn_gate_exps.bias", T32, 2, F, X, 1, 0.3f * z, 0);
            T(wu, "ffn_up_exps.weight", c->t_exp, 3, E, F, X, 0.4f * z, 0);
            T(bu, "ffn_up_exps.bias", T32, 2, F, X, 1, 0.3f * z, 0);
        }
        T(wd, "ffn_down_exps.weight", c->t_exp, 3, F, E, X, 0.3f * z, 0);
        T(bd, "ffn_down_exps.bias", T32, 2, E, X, 1, 0.1f * z, 0);
#undef T
    }
    return mb_write(b, fname);
}

/* ---- independent double-precision gpt-oss forward --------------------------------------- */
static void d_matvec(double *y, const dense *W, int64_t e, const double *x, const dense *bias,
                     int64_t be) {
    int64_t n_in = W->ne[0], n_out = W->ne[1];
    const float *base = W->d + e * n_in * n_out;
    for (int64_t r = 0; r < n_out; r++) {
        double s = bias ? bias->d[be * n_out + r] : 0.0;
        for (int64_t i = 0; i < n_in; i++) s += (double)base[r * n_in + i] * x[i];
        y[r] = s;
    }
}

static void d_rmsnorm(double *o, const double *x, const float *g, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++) o[i] = x[i] * s * g[i];
}

/* logits[n][V] for ids[0..n) from an empty context */
static void ref_oss_r(const oss_cfg *c, const oss_w *w, const int32_t *ids, int n, double *logits,
                      int rounded) {
    const int E = c->E, H = c->H, HKV = c->HKV, HD = c->HD, F = c->F, X = c->X, K = c->K;
    const int KD = HKV * HD;
    /* YaRN (docs/gpt-oss.md §2.2, unrounded): d = HD, base 10000, s = 4, L0 = 16, beta 32 / 1 */
    double inv[64];
    {
        double lo = HD * log(16.0 / (32.0 * 2 * M_PI)) / (2 * log(10000.0));
        double hi = HD * log(16.0 / (1.0 * 2 * M_PI)) / (2 * log(10000.0));
        if (rounded) { /* llama.cpp: floor/ceil */
            lo = floor(lo);
            hi = ceil(hi);
        }
        /* both HF (find_correction_range) and llama.cpp clamp to [0, HD-1]; here lo < 0 */
        lo = lo < 0 ? 0 : lo;
        hi = hi > HD - 1 ? HD - 1 : hi;
        for (int i = 0; i < HD / 2; i++) {
            double f = pow(10000.0, -2.0 * i / HD);
            double r = (i - lo) / (hi - lo);
            r = r < 0 ? 0 : r > 1 ? 1 : r;
            inv[i] = f * (1 - r) + f / 4.0 * r;
        }
    }
    const double ms = 0.1 * log(4.0) + 1.0;
    double *kc = calloc((size_t)c->L * n * KD, sizeof(double));
    double *vc = calloc((size_t)c->L * n * KD, sizeof(double));
    double x[256], a[256], q[256], k[256], v[256], o[256], t[256], rl[64], gt[256], up[256];
    for (int p = 0; p < n; p++) {
        for (int i = 0; i < E; i++) x[i] = w->embd.d[(size_t)ids[p] * E + i];
        for (int il = 0; il < c->L; il++) {
            const oss_lw *L = &w->l[il];
            d_rmsnorm(a, x, L->an.d, E);
            d_matvec(q, &L->wq, 0, a, &L->bq, 0);
            d_matvec(k, &L->wk, 0, a, &L->bk, 0);
            d_matvec(v, &L->wv, 0, a, &L->bv, 0);
            for (int h = 0; h < H + HKV; h++) {
                double *hv = h < H ? q + h * HD : k + (h - H) * HD;
                for (int i = 0; i < HD / 2; i++) {
                    double th = p * inv[i], x0 = hv[i], x1 = hv[i + HD / 2];
                    hv[i] = ms * (x0 * cos(th) - x1 * sin(th));
                    hv[i + HD / 2] = ms * (x1 * cos(th) + x0 * sin(th));
                }
            }
            memcpy(kc + ((size_t)il * n + p) * KD, k, sizeof(double) * KD);
            memcpy(vc + ((size_t)il * n + p) * KD, v, sizeof(double) * KD);
            int lo = (il % 2 == 0) ? p - c->window + 1 : 0; /* even layers: window */
            if (lo < 0) lo = 0;
            for (int h = 0; h < H; h++) {
                int g = h / (H / HKV);
                double sink = L->sinks.d[h], mx = sink, s[64];
                for (int j = lo; j <= p; j++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++)
                        d += q[h * HD + i] * kc[((size_t)il * n + j) * KD + g * HD + i];
                    s[j - lo] = d / sqrt((double)HD);
                    if (s[j - lo] > mx) mx = s[j - lo];
                }
                double den = exp(sink - mx);
                for (int j = lo; j <= p; j++) den += exp(s[j - lo] - mx);
                for (int i = 0; i < HD; i++) {
                    double acc = 0;
                    for (int j = lo; j <= p; j++)
                        acc +=
                            exp(s[j - lo] - mx) / den * vc[((size_t)il * n + j) * KD + g * HD + i];
                    o[h * HD + i] = acc;
                }
            }
            d_matvec(t, &L->wo, 0, o, &L->bo, 0);
            for (int i = 0; i < E; i++) x[i] += t[i];
            /* MoE */
            d_rmsnorm(a, x, L->pn.d, E);
            d_matvec(rl, &L->rw, 0, a, &L->rb, 0);
            int sel[8];
            char used[64] = {0};
            for (int s2 = 0; s2 < K; s2++) {
                int best = -1;
                for (int e = 0; e < X; e++)
                    if (!used[e] && (best < 0 || rl[e] > rl[best])) best = e;
                sel[s2] = best;
                used[best] = 1;
            }
            double wsum = 0, wk[8];
            for (int s2 = 0; s2 < K; s2++) wsum += (wk[s2] = exp(rl[sel[s2]] - rl[sel[0]]));
            for (int s2 = 0; s2 < K; s2++) {
                int e = sel[s2];
                d_matvec(gt, &L->wg, e, a, &L->bg, e);
                d_matvec(up, &L->wu, e, a, &L->bu, e);
                for (int i = 0; i < F; i++) {
                    double gg = gt[i] < 7.0 ? gt[i] : 7.0;
                    double uu = up[i] > 7.0 ? 7.0 : up[i] < -7.0 ? -7.0 : up[i];
                    gt[i] = gg / (1 + exp(-1.702 * gg)) * (uu + 1);
                }
                d_matvec(t, &L->wd, e, gt, &L->bd, e);
                for (int i = 0; i < E; i++) x[i] += wk[s2] / wsum * t[i];
            }
        }
        d_rmsnorm(a, x, w->out_norm.d, E);
        d_matvec(logits + (size_t)p * c->V, &w->out, 0, a, NULL, 0);
    }
    free(kc);
    free(vc);
}

static void ref_oss(const oss_cfg *c, const oss_w *w, const int32_t *ids, int n, double *logits) {
    ref_oss_r(c, w, ids, n, logits, 0);
}

/* ---- helpers ------------------------------------------------------------------------------ */
static const char *g_tokenizer_path;
static int g_yarn_rounded;
static uint64_t g_prog_done, g_prog_total;
static int g_prog_calls, g_prog_monotonic = 1;

static void progress_cb(void *user, uint64_t done, uint64_t total) {
    (void)user;
    if (done < g_prog_done) g_prog_monotonic = 0;
    g_prog_done = done;
    g_prog_total = total;
    g_prog_calls++;
}

static gptc_model *load(const char *path, int threads, gptc_error *err) {
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = path;
    mp.backend = GPTC_BACKEND_CPU;
    mp.n_threads = threads;
    mp.tokenizer_path = g_tokenizer_path;
    mp.yarn_rounded = g_yarn_rounded;
    mp.progress = progress_cb;
    gptc_model *m = NULL;
    if (gptc_model_load(&mp, &m, err) != GPTC_OK) return NULL;
    return m;
}

static gptc_session *session(gptc_model *m, int n_ctx, int n_batch) {
    gptc_session_params sp;
    gptc_session_params_default(m, &sp);
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    sp.sampling.temperature = 0;
    gptc_session *s = NULL;
    gptc_error err;
    ck_assert_msg(gptc_session_new(m, &sp, &s, &err) == GPTC_OK, "%s", err.msg);
    return s;
}

static double max_err(const float *a, const double *b, size_t n, double *maxref) {
    double e = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= e)) e = d; /* NaN propagates */
        if (fabs(b[i]) > mr) mr = fabs(b[i]);
    }
    if (maxref) *maxref = mr;
    return e;
}

static void ids_seq(int32_t *ids, int n, int V) {
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((i * 17 + 3) % V);
}

/* ids = ids_seq(n) and the double reference logits [n][V] of the model (malloc'd) */
static double *oss_ref_seq(const oss_cfg *c, const oss_w *w, int32_t *ids, int n, int rounded) {
    ids_seq(ids, n, c->V);
    double *ref = malloc(sizeof(double) * n * c->V);
    ref_oss_r(c, w, ids, n, ref, rounded);
    return ref;
}

/* load() that must succeed */
static gptc_model *load_ok(const char *path, int threads, gptc_error *err) {
    gptc_model *m = load(path, threads, err);
    ck_assert_msg(m != NULL, "%s", err->msg);
    return m;
}

/* ---- tests: errors ------------------------------------------------------------------------ */
static void expect_load_error(oss_cfg c, const char *fname, gptc_status want, const char *msg) {
    oss_w w;
    mb b;
    const char *path = build_oss(&c, &w, &b, fname);
    mb_free(&b);
    gptc_error err = {0};
    gptc_model *m = load(path, 1, &err);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.status, want);
    ck_assert_msg(strstr(err.msg, msg) != NULL, "message '%s' lacks '%s'", err.msg, msg);
}

START_TEST(test_errors) {
    oss_cfg c = oss_default();
    c.skip = "blk.1.attn_sinks.weight";
    expect_load_error(c, "e1.gguf", GPTC_ERR_FORMAT, "missing tensor blk.1.attn_sinks.weight");
    c = oss_default();
    c.bad_shape = "blk.2.attn_q.weight";
    expect_load_error(c, "e2.gguf", GPTC_ERR_FORMAT,
                      "blk.2.attn_q.weight: expected shape [64, 64], got [96, 64]");
    c = oss_default();
    c.bad_type = "blk.0.attn_norm.weight";
    expect_load_error(c, "e3.gguf", GPTC_ERR_UNSUPPORTED,
                      "blk.0.attn_norm.weight: expected type F32, got F16");
    c = oss_default();
    c.arch = "llama";
    expect_load_error(c, "e4.gguf", GPTC_ERR_UNSUPPORTED, "unsupported architecture 'llama'");
    c = oss_default();
    c.skip_key = "gpt-oss.expert_count";
    expect_load_error(c, "e5.gguf", GPTC_ERR_FORMAT, "missing key gpt-oss.expert_count");
    c = oss_default();
    c.K = 5; /* more experts per token than experts */
    expect_load_error(c, "e7.gguf", GPTC_ERR_FORMAT, "implausible gpt-oss hyperparameters");
    c = oss_default();
    c.HKV = 3; /* 4 query heads cannot share 3 KV heads */
    expect_load_error(c, "e8.gguf", GPTC_ERR_FORMAT, "implausible gpt-oss hyperparameters");
    c = oss_default();
    c.skip = "output.weight"; /* required for gpt-oss (no tying) */
    expect_load_error(c, "e6.gguf", GPTC_ERR_FORMAT, "missing tensor output.weight");
    /* not a file */
    gptc_error err = {0};
    ck_assert_ptr_null(load("/nonexistent/model.gguf", 1, &err));
    ck_assert_int_ne(err.status, GPTC_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/model.gguf"));
}
END_TEST

/* ---- tests: hand-checkable zero model -------------------------------------------------- */
START_TEST(test_zero_model) {
    oss_cfg c = oss_default();
    c.L = 1;
    c.zero = 1;
    oss_w w;
    mb b;
    const char *path = build_oss(&c, &w, &b, "zero.gguf");
    gptc_error err;
    gptc_model *m = load_ok(path, 2, &err);
    gptc_model_info info;
    gptc_model_get_info(m, &info);
    ck_assert_str_eq(info.arch, "gpt-oss");
    ck_assert_str_eq(info.name, "test oss");
    ck_assert_int_eq(info.n_vocab, c.V);
    ck_assert_int_eq(info.n_expert, c.X);
    ck_assert_int_eq(info.sliding_window, c.window);
    ck_assert_int_eq(info.backend, GPTC_BACKEND_CPU);
    ck_assert_ptr_null(gptc_model_tokenizer(m)); /* no vocab in the file */
    ck_assert_int_ge(g_prog_calls, 1);           /* progress reached the total, never went back */
    ck_assert(g_prog_monotonic);
    ck_assert_uint_eq(g_prog_done, g_prog_total);
    ck_assert_uint_eq(g_prog_total, info.weight_bytes);
    gptc_session *s = session(m, 16, 0);
    float *lg = malloc(sizeof(float) * c.V);
    const int32_t ids[3] = {7, 3, 41};
    for (int t = 0; t < 3; t++) {
        ck_assert_int_eq(gptc_session_feed(s, &ids[t], 1, &err), GPTC_OK);
        ck_assert_int_eq(gptc_session_logits(s, lg, &err), GPTC_OK);
        /* attention: v = 0 -> o = 0; experts: gate = up = 0 -> swiglu 0 -> y = 0; so
         * h = rmsnorm(E[t]) * g_out and logits = W_out h */
        double ss = 0;
        for (int i = 0; i < c.E; i++)
            ss += (double)w.embd.d[ids[t] * c.E + i] * w.embd.d[ids[t] * c.E + i];
        double sc = 1.0 / sqrt(ss / c.E + 1e-5);
        for (int v = 0; v < c.V; v++) {
            double want = 0;
            for (int i = 0; i < c.E; i++)
                want += (double)w.out.d[v * c.E + i] * w.embd.d[ids[t] * c.E + i] * sc *
                        w.out_norm.d[i];
            ck_assert_double_le(fabs(lg[v] - want), 1e-5);
        }
    }
    gptc_residency r;
    ck_assert_int_eq(gptc_model_residency(m, &r, &err), GPTC_OK);
    ck_assert_uint_gt(r.kv_bytes, 0);
    ck_assert_uint_gt(r.weight_bytes_total, 0);
    free(lg);
    gptc_session_free(s);
    gptc_model_free(m);
    mb_free(&b);
}
END_TEST

/* ---- tests: random gpt-oss vs the double reference ------------------------------------- */
START_TEST(test_oss_reference) {
    oss_cfg c = oss_default();
    oss_w w;
    mb b;
    const char *path = build_oss(&c, &w, &b, "oss.gguf");
    enum { N = 19 };
    int32_t ids[N];
    double *ref = oss_ref_seq(&c, &w, ids, N, 0);
    gptc_error err;
    gptc_model *m = load_ok(path, 2, &err);
    float *lg = malloc(sizeof(float) * N * c.V);
    double mr, e;
    /* n_batch 5: the window-4 layers keep 3 + 5 rows and shift them */
    for (int nb = 1; nb <= 32; nb *= 5) {
        gptc_session *s = session(m, 32, nb);
        ck_assert_int_eq(gptc_session_feed_all_logits(s, ids, N, lg, &err), GPTC_OK);
        e = max_err(lg, ref, (size_t)N * c.V, &mr);
        ck_assert_msg(e < 1e-4 * (1 + mr), "n_batch %d: max error %g (max |logit| %g)", nb, e, mr);
        ck_assert_int_eq(gptc_session_n_past(s), N);
        /* truncate to 11 (for n_batch 1 the window rows of 8..10 were shifted out: recompute) and
         * feed the rest again: same logits */
        ck_assert_int_eq(gptc_session_truncate(s, 11, &err), GPTC_OK);
        ck_assert_int_eq(gptc_session_n_past(s), 11);
        ck_assert_int_eq(gptc_session_feed_all_logits(s, ids + 11, N - 11, lg, &err), GPTC_OK);
        e = max_err(lg, ref + 11 * c.V, (size_t)(N - 11) * c.V, &mr);
        ck_assert_msg(e < 1e-4 * (1 + mr), "after truncate, n_batch %d: error %g", nb, e);
        /* last logits == last row */
        float *last = malloc(sizeof(float) * c.V);
        ck_assert_int_eq(gptc_session_logits(s, last, &err), GPTC_OK);
        ck_assert(memcmp(last, lg + (N - 12) * c.V, sizeof(float) * c.V) == 0);
        free(last);
        gptc_session_free(s);
    }
    /* decode one token at a time with plain feed */
    gptc_session *s = session(m, 32, 0);
    float *one = malloc(sizeof(float) * c.V);
    for (int t = 0; t < N; t++) {
        ck_assert_int_eq(gptc_session_feed(s, ids + t, 1, &err), GPTC_OK);
        ck_assert_int_eq(gptc_session_logits(s, one, &err), GPTC_OK);
        e = max_err(one, ref + (size_t)t * c.V, (size_t)c.V, &mr);
        ck_assert_msg(e < 1e-4 * (1 + mr), "decode pos %d: error %g", t, e);
    }
    int32_t tok;
    ck_assert_int_eq(gptc_session_sample(s, &tok, &err), GPTC_OK); /* greedy = argmax of ref */
    int best = 0;
    for (int v = 1; v < c.V; v++)
        if (ref[(size_t)(N - 1) * c.V + v] > ref[(size_t)(N - 1) * c.V + best]) best = v;
    ck_assert_int_eq(tok, best);
    gptc_timings tm;
    gptc_session_timings(s, &tm);
    ck_assert_int_eq(tm.n_prompt + tm.n_gen, N);
    /* continuous batching: three sessions at different positions, one step together
     * (n_batch 2: two chunks) */
    gptc_session *ms[3];
    const int at[3] = {5, 12, 18};
    int32_t next[3];
    for (int i = 0; i < 3; i++) {
        ms[i] = session(m, 32, 2);
        ck_assert_int_eq(gptc_session_feed(ms[i], ids, (size_t)at[i], &err), GPTC_OK);
        next[i] = ids[at[i]];
    }
    ck_assert_int_eq(gptc_decode_multi(ms, next, 3, &err), GPTC_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gptc_session_n_past(ms[i]), at[i] + 1);
        ck_assert_int_eq(gptc_session_logits(ms[i], one, &err), GPTC_OK);
        e = max_err(one, ref + (size_t)at[i] * c.V, (size_t)c.V, &mr);
        ck_assert_msg(e < 1e-4 * (1 + mr), "decode_multi session %d: error %g", i, e);
        gptc_session_free(ms[i]);
    }
    free(one);
    gptc_session_free(s);
    gptc_model_free(m);
    free(lg);
    free(ref);
    mb_free(&b);
}
END_TEST

START_TEST(test_oss_fused_gate_up) {
    oss_cfg c = oss_default();
    oss_w w1, w2;
    mb b1, b2;
    const char *p1 = build_oss(&c, &w1, &b1, "split.gguf");
    c.fused = 1;
    const char *p2 = build_oss(&c, &w2, &b2, "fused.gguf");
    /* same numbers in both files */
    ck_assert(memcmp(w1.l[1].wu.d, w2.l[1].wu.d, sizeof(float) * c.E * c.F * c.X) == 0);
    gptc_error err;
    gptc_model *m1 = load(p1, 2, &err), *m2 = load(p2, 2, &err);
    ck_assert_msg(m1 && m2, "%s", err.msg);
    enum { N = 9 };
    int32_t ids[N];
    ids_seq(ids, N, c.V);
    float *l1 = malloc(sizeof(float) * N * c.V), *l2 = malloc(sizeof(float) * N * c.V);
    gptc_session *s1 = session(m1, 16, 0), *s2 = session(m2, 16, 0);
    ck_assert_int_eq(gptc_session_feed_all_logits(s1, ids, N, l1, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_feed_all_logits(s2, ids, N, l2, &err), GPTC_OK);
    ck_assert(memcmp(l1, l2, sizeof(float) * N * c.V) == 0);
    gptc_session_free(s1);
    gptc_session_free(s2);
    gptc_model_free(m1);
    gptc_model_free(m2);
    free(l1);
    free(l2);
    mb_free(&b1);
    mb_free(&b2);
}
END_TEST

START_TEST(test_thread_invariance) {
    oss_cfg c = oss_default();
    c.t_mat = GGML_TYPE_Q8_0;
    c.t_exp = GGML_TYPE_MXFP4;
    oss_w w;
    mb b;
    const char *path = build_oss(&c, &w, &b, "q.gguf");
    gptc_error err;
    gptc_model *m1 = load(path, 1, &err), *m3 = load(path, 3, &err);
    ck_assert_msg(m1 && m3, "%s", err.msg);
    enum { N = 13 };
    int32_t ids[N];
    ids_seq(ids, N, c.V);
    float *l1 = malloc(sizeof(float) * N * c.V), *l3 = malloc(sizeof(float) * N * c.V);
    gptc_session *s1 = session(m1, 32, 4), *s3 = session(m3, 32, 4);
    ck_assert_int_eq(gptc_session_feed_all_logits(s1, ids, N, l1, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_feed_all_logits(s3, ids, N, l3, &err), GPTC_OK);
    ck_assert(memcmp(l1, l3, sizeof(float) * N * c.V) == 0);
    /* decode steps too */
    for (int t = 0; t < 3; t++) {
        ck_assert_int_eq(gptc_session_feed(s1, ids + t, 1, &err), GPTC_OK);
        ck_assert_int_eq(gptc_session_feed(s3, ids + t, 1, &err), GPTC_OK);
        ck_assert_int_eq(gptc_session_logits(s1, l1, &err), GPTC_OK);
        ck_assert_int_eq(gptc_session_logits(s3, l3, &err), GPTC_OK);
        ck_assert(memcmp(l1, l3, sizeof(float) * c.V) == 0);
    }
    /* quantised weights still track the double reference of the dequantised values */
    double *ref = malloc(sizeof(double) * N * c.V), mr;
    ref_oss(&c, &w, ids, N, ref);
    gptc_session *s = session(m1, 32, 0);
    ck_assert_int_eq(gptc_session_feed_all_logits(s, ids, N, l1, &err), GPTC_OK);
    double e = max_err(l1, ref, (size_t)N * c.V, &mr);
    ck_assert_msg(e < 1e-4 * (1 + mr), "quantised model: error %g", e);
    gptc_session_free(s);
    free(ref);
    gptc_session_free(s1);
    gptc_session_free(s3);
    gptc_model_free(m1);
    gptc_model_free(m3);
    free(l1);
    free(l3);
    mb_free(&b);
}
END_TEST

/* ---- GPT-2 ------------------------------------------------------------------------------- */
typedef struct g2_lw {
    dense g1, b1, wqkv, bqkv, wo, bo, g2, b2, wu, bu, wd, bd;
} g2_lw;
typedef struct g2_w {
    dense wte, wpe, lnf_g, lnf_b, out;
    g2_lw l[3];
} g2_w;

enum { G2_L = 2, G2_E = 64, G2_H = 4, G2_F = 256, G2_V = 70, G2_CTX = 32 };
static int g2_vocab = G2_V; /* rows of wte (the reference tests use G2_V) */

static const char *build_g2(g2_w *w, mb *b, int untied, const char *fname) {
    memset(b, 0, sizeof(*b));
    b->rs = 5;
    b->w = gguf_writer_new();
    gguf_writer_add_str(b->w, "general.architecture", "gpt2", 4);
    gguf_writer_add_u32(b->w, "gpt2.block_count", G2_L);
    gguf_writer_add_u32(b->w, "gpt2.context_length", G2_CTX);
    gguf_writer_add_u32(b->w, "gpt2.embedding_length", G2_E);
    gguf_writer_add_u32(b->w, "gpt2.feed_forward_length", G2_F);
    gguf_writer_add_u32(b->w, "gpt2.attention.head_count", G2_H);
    gguf_writer_add_f32(b->w, "gpt2.attention.layer_norm_epsilon", 1e-5f);
    const uint32_t T32 = GGML_TYPE_F32, TM = GGML_TYPE_F16;
    w->wte = mb_tensor(b, "token_embd.weight", TM, 2, G2_E, g2_vocab, 1, 1.0f, 0);
    w->wpe = mb_tensor(b, "position_embd.weight", T32, 2, G2_E, G2_CTX, 1, 0.5f, 0);
    w->lnf_g = mb_tensor(b, "output_norm.weight", T32, 1, G2_E, 1, 1, 0.2f, 1.0f);
    w->lnf_b = mb_tensor(b, "output_norm.bias", T32, 1, G2_E, 1, 1, 0.2f, 0);
    w->out = untied ? mb_tensor(b, "output.weight", GGML_TYPE_Q8_0, 2, G2_E, g2_vocab, 1, 0.5f, 0)
                    : w->wte;
    char nm[96];
    for (int il = 0; il < G2_L; il++) {
#define T(field, suffix, type, nd, a, bb, sc, off)                                                 \
    do {                                                                                           \
        snprintf(nm, sizeof(nm), "blk.%d." suffix, il);                                            \
        w->l[il].field = mb_tensor(b, nm, type, nd, a, bb, 1, sc, off);                            \
    } while (0)
        T(g1, "attn_norm.weight", T32, 1, G2_E, 1, 0.2f, 1.0f);
        T(b1, "attn_norm.bias", T32, 1, G2_E, 1, 0.2f, 0);
        T(wqkv, "attn_qkv.weight", TM, 2, G2_E, 3 * G2_E, 0.3f, 0);
        T(bqkv, "attn_qkv.bias", T32, 1, 3 * G2_E, 1, 0.2f, 0);
        T(wo, "attn_output.weight", TM, 2, G2_E, G2_E, 0.2f, 0);
        T(bo, "attn_output.bias", T32, 1, G2_E, 1, 0.1f, 0);
        T(g2, "ffn_norm.weight", T32, 1, G2_E, 1, 0.2f, 1.0f);
        T(b2, "ffn_norm.bias", T32, 1, G2_E, 1, 0.2f, 0);
        T(wu, "ffn_up.weight", TM, 2, G2_E, G2_F, 0.3f, 0);
        T(bu, "ffn_up.bias", T32, 1, G2_F, 1, 0.2f, 0);
        T(wd, "ffn_down.weight", TM, 2, G2_F, G2_E, 0.1f, 0);
        T(bd, "ffn_down.bias", T32, 1, G2_E, 1, 0.1f, 0);
#undef T
    }
    return mb_write(b, fname);
}

static void d_layernorm(double *o, const double *x, const float *g, const float *b, int n) {
    double mu = 0, var = 0;
    for (int i = 0; i < n; i++) mu += x[i];
    mu /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mu) * (x[i] - mu);
    var /= n;
    for (int i = 0; i < n; i++) o[i] = (x[i] - mu) / sqrt(var + 1e-5) * g[i] + b[i];
}

static void ref_g2(const g2_w *w, const int32_t *ids, int n, double *logits) {
    enum { E = G2_E, HD = G2_E / G2_H };
    double *kc = calloc((size_t)G2_L * n * E, sizeof(double));
    double *vc = calloc((size_t)G2_L * n * E, sizeof(double));
    double x[E], a[E], qkv[3 * E], o[E], t[E], h[G2_F];
    for (int p = 0; p < n; p++) {
        for (int i = 0; i < E; i++)
            x[i] = (double)w->wte.d[(size_t)ids[p] * E + i] + w->wpe.d[(size_t)p * E + i];
        for (int il = 0; il < G2_L; il++) {
            const g2_lw *L = &w->l[il];
            d_layernorm(a, x, L->g1.d, L->b1.d, E);
            d_matvec(qkv, &L->wqkv, 0, a, &L->bqkv, 0);
            memcpy(kc + ((size_t)il * n + p) * E, qkv + E, sizeof(double) * E);
            memcpy(vc + ((size_t)il * n + p) * E, qkv + 2 * E, sizeof(double) * E);
            for (int hh = 0; hh < G2_H; hh++) {
                double s[64], mx = -INFINITY, den = 0;
                for (int j = 0; j <= p; j++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++)
                        d += qkv[hh * HD + i] * kc[((size_t)il * n + j) * E + hh * HD + i];
                    s[j] = d / sqrt((double)HD);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j <= p; j++) den += exp(s[j] - mx);
                for (int i = 0; i < HD; i++) {
                    double acc = 0;
                    for (int j = 0; j <= p; j++)
                        acc += exp(s[j] - mx) / den * vc[((size_t)il * n + j) * E + hh * HD + i];
                    o[hh * HD + i] = acc;
                }
            }
            d_matvec(t, &L->wo, 0, o, &L->bo, 0);
            for (int i = 0; i < E; i++) x[i] += t[i];
            d_layernorm(a, x, L->g2.d, L->b2.d, E);
            d_matvec(h, &L->wu, 0, a, &L->bu, 0);
            for (int i = 0; i < G2_F; i++)
                h[i] = 0.5 * h[i] * (1 + tanh(sqrt(2 / M_PI) * (h[i] + 0.044715 * pow(h[i], 3))));
            d_matvec(t, &L->wd, 0, h, &L->bd, 0);
            for (int i = 0; i < E; i++) x[i] += t[i];
        }
        d_layernorm(a, x, w->lnf_g.d, w->lnf_b.d, E);
        d_matvec(logits + (size_t)p * G2_V, &w->out, 0, a, NULL, 0);
    }
    free(kc);
    free(vc);
}

START_TEST(test_gpt2_reference) {
    for (int untied = 0; untied < 2; untied++) {
        g2_w w;
        mb b;
        const char *path = build_g2(&w, &b, untied, untied ? "g2u.gguf" : "g2.gguf");
        enum { N = 21 };
        int32_t ids[N];
        ids_seq(ids, N, G2_V);
        double *ref = malloc(sizeof(double) * N * G2_V), mr, e;
        ref_g2(&w, ids, N, ref);
        gptc_error err;
        gptc_model *m = load_ok(path, 2, &err);
        gptc_model_info info;
        gptc_model_get_info(m, &info);
        ck_assert_str_eq(info.arch, "gpt2");
        ck_assert_int_eq(info.n_ctx_train, G2_CTX);
        float *lg = malloc(sizeof(float) * N * G2_V);
        gptc_session *s = session(m, 0, 6); /* n_ctx 0 -> min(model, 4096) = 32 */
        ck_assert_int_eq(gptc_session_n_ctx(s), G2_CTX);
        ck_assert_int_eq(gptc_session_feed_all_logits(s, ids, N, lg, &err), GPTC_OK);
        e = max_err(lg, ref, (size_t)N * G2_V, &mr);
        ck_assert_msg(e < 1e-4 * (1 + mr), "gpt2 untied=%d: error %g (max %g)", untied, e, mr);
        /* context full: 21 + 12 > 32, nothing appended */
        int32_t more[12] = {0};
        ck_assert_int_eq(gptc_session_feed(s, more, 12, &err), GPTC_ERR_CONTEXT_FULL);
        ck_assert_ptr_nonnull(strstr(err.msg, "context"));
        ck_assert_int_eq(gptc_session_n_past(s), N);
        /* rewind and decode again one by one */
        ck_assert_int_eq(gptc_session_truncate(s, 4, &err), GPTC_OK);
        for (int t = 4; t < N; t++) {
            ck_assert_int_eq(gptc_session_feed(s, ids + t, 1, &err), GPTC_OK);
            ck_assert_int_eq(gptc_session_logits(s, lg, &err), GPTC_OK);
            e = max_err(lg, ref + (size_t)t * G2_V, G2_V, &mr);
            ck_assert_msg(e < 1e-4 * (1 + mr), "gpt2 decode %d: error %g", t, e);
        }
        gptc_session_free(s);
        gptc_model_free(m);
        free(lg);
        free(ref);
        mb_free(&b);
    }
}
END_TEST

/* ---- API misuse ---------------------------------------------------------------------------- */
START_TEST(test_api_errors) {
    g2_w w;
    mb b;
    const char *path = build_g2(&w, &b, 0, "api.gguf");
    gptc_error err;
    gptc_model *m = load_ok(path, 1, &err);
    gptc_session *s = session(m, 16, 0);
    int32_t id;
    float *lg = malloc(sizeof(float) * G2_V);
    ck_assert_int_eq(gptc_session_sample(s, &id, &err), GPTC_ERR_INVALID_ARG); /* nothing fed */
    ck_assert_int_eq(gptc_session_logits(s, lg, &err), GPTC_ERR_INVALID_ARG);
    int32_t bad = G2_V;
    ck_assert_int_eq(gptc_session_feed(s, &bad, 1, &err), GPTC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of range"));
    bad = -1;
    ck_assert_int_eq(gptc_session_feed(s, &bad, 1, &err), GPTC_ERR_INVALID_ARG);
    int32_t ok[17] = {0};
    ck_assert_int_eq(gptc_session_feed(s, ok, 17, &err), GPTC_ERR_CONTEXT_FULL);
    ck_assert_int_eq(gptc_session_n_past(s), 0);
    ck_assert_int_eq(gptc_session_truncate(s, 1, &err), GPTC_ERR_INVALID_ARG);
    /* cancel: the next feed is interrupted until cleared */
    gptc_session_cancel(s);
    ck_assert_int_eq(gptc_session_feed(s, ok, 3, &err), GPTC_ERR_INTERRUPTED);
    gptc_session_clear_cancel(s);
    ck_assert_int_eq(gptc_session_feed(s, ok, 3, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_sample(s, &id, &err), GPTC_OK);
    ck_assert_int_ge(id, 0);
    ck_assert_int_lt(id, G2_V);
    /* too large a context */
    gptc_session_params sp;
    gptc_session_params_default(m, &sp);
    ck_assert_float_eq(sp.sampling.temperature, 1.0f);
    ck_assert_float_eq(sp.sampling.top_p, 1.0f);
    sp.n_ctx = G2_CTX + 1;
    gptc_session *s2 = NULL;
    ck_assert_int_eq(gptc_session_new(m, &sp, &s2, &err), GPTC_ERR_INVALID_ARG);
    ck_assert_ptr_null(s2);
    /* decode_multi over two sessions == separate feeds */
    gptc_session *a = session(m, 16, 0), *c2 = session(m, 16, 0), *r = session(m, 16, 0);
    int32_t two[2] = {5, 9};
    ck_assert_int_eq(gptc_session_feed(a, ok, 2, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_feed(c2, ok, 2, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_feed(r, ok, 2, &err), GPTC_OK);
    gptc_session *ss[2] = {a, c2};
    ck_assert_int_eq(gptc_decode_multi(ss, two, 2, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_feed(r, &two[1], 1, &err), GPTC_OK);
    float *l2 = malloc(sizeof(float) * G2_V);
    ck_assert_int_eq(gptc_session_logits(c2, lg, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_logits(r, l2, &err), GPTC_OK);
    for (int v = 0; v < G2_V; v++) ck_assert_double_le(fabs(lg[v] - l2[v]), 1e-5);
    gptc_session *dup[2] = {a, a};
    ck_assert_int_eq(gptc_decode_multi(dup, two, 2, &err), GPTC_ERR_INVALID_ARG);
    free(l2);
    gptc_session_free(a);
    gptc_session_free(c2);
    gptc_session_free(r);
    free(lg);
    gptc_session_free(s);
    gptc_model_free(m);
    mb_free(&b);
}
END_TEST

/* cancel from another thread while a long feed runs; whatever point it stopped at, the context
 * stays consistent: clearing the flag and feeding the rest gives the reference logits */
typedef struct cancel_arg {
    gptc_session *s;
    int delay_us;
} cancel_arg;

static void *cancel_thread(void *p) {
    cancel_arg *a = p;
    usleep((useconds_t)a->delay_us);
    gptc_session_cancel(a->s);
    return NULL;
}

START_TEST(test_cancel_async) {
    oss_cfg c = oss_default();
    oss_w w;
    mb b;
    const char *path = build_oss(&c, &w, &b, "cancel.gguf");
    enum { N = 40 };
    int32_t ids[N];
    double *ref = oss_ref_seq(&c, &w, ids, N, 0), mr;
    gptc_error err;
    gptc_model *m = load_ok(path, 2, &err);
    float *lg = malloc(sizeof(float) * c.V);
    for (int delay = 0; delay <= 3000; delay += 1000) {
        gptc_session *s = session(m, 48, 1);
        cancel_arg a = {s, delay};
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, cancel_thread, &a), 0);
        gptc_status st = gptc_session_feed(s, ids, N, &err);
        pthread_join(th, NULL);
        ck_assert(st == GPTC_OK || st == GPTC_ERR_INTERRUPTED);
        int done = gptc_session_n_past(s);
        ck_assert_int_le(done, N);
        if (st == GPTC_OK) ck_assert_int_eq(done, N);
        /* still cancelled: the next feed is refused without touching the context */
        if (done < N) {
            ck_assert_int_eq(gptc_session_feed(s, ids + done, 1, &err), GPTC_ERR_INTERRUPTED);
            ck_assert_int_eq(gptc_session_n_past(s), done);
        }
        gptc_session_clear_cancel(s);
        if (done < N)
            ck_assert_int_eq(gptc_session_feed(s, ids + done, (size_t)(N - done), &err), GPTC_OK);
        ck_assert_int_eq(gptc_session_logits(s, lg, &err), GPTC_OK);
        double e = max_err(lg, ref + (size_t)(N - 1) * c.V, (size_t)c.V, &mr);
        ck_assert_msg(e < 1e-4 * (1 + mr), "after cancel at %d: error %g", done, e);
        gptc_session_free(s);
    }
    free(lg);
    free(ref);
    gptc_model_free(m);
    mb_free(&b);
}
END_TEST

/* truncate far back: only the window layers' caches are rebuilt, from n - n_swa (W-1) on, and
 * the full layers keep their rows; the logits afterwards match the reference exactly */
START_TEST(test_truncate_window_rebuild) {
    oss_cfg c = oss_default();
    c.L = 5; /* window layers 0, 2, 4 */
    oss_w w;
    mb b;
    const char *path = build_oss(&c, &w, &b, "trunc.gguf");
    enum { N = 50, CUT = 25 };
    int32_t ids[N];
    double *ref = oss_ref_seq(&c, &w, ids, N, 0), mr;
    gptc_error err;
    gptc_model *m = load_ok(path, 2, &err);
    float *lg = malloc(sizeof(float) * N * c.V);
    /* n_ctx 64, n_batch 1: window layers keep 3 + 16 rows (cap 20), so after 50 tokens they
     * start at position 30 and a cut at 25 (which needs 22..24) must rebuild them (from 16) */
    gptc_session *s = session(m, 64, 1);
    ck_assert_int_eq(gptc_session_feed(s, ids, N, &err), GPTC_OK);
    for (int rep = 0; rep < 2; rep++) {
        ck_assert_int_eq(gptc_session_truncate(s, CUT, &err), GPTC_OK);
        ck_assert_int_eq(gptc_session_n_past(s), CUT);
        ck_assert_int_eq(gptc_session_feed_all_logits(s, ids + CUT, N - CUT, lg, &err), GPTC_OK);
        double e = max_err(lg, ref + (size_t)CUT * c.V, (size_t)(N - CUT) * c.V, &mr);
        ck_assert_msg(e < 1e-4 * (1 + mr), "after the window rebuild: error %g", e);
    }
    /* a small rewind inside the slack is free and exact too */
    ck_assert_int_eq(gptc_session_truncate(s, N - 7, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_feed_all_logits(s, ids + N - 7, 7, lg, &err), GPTC_OK);
    double e = max_err(lg, ref + (size_t)(N - 7) * c.V, (size_t)7 * c.V, &mr);
    ck_assert_msg(e < 1e-4 * (1 + mr), "after a short rewind: error %g", e);
    gptc_session_free(s);
    gptc_model_free(m);
    free(lg);
    free(ref);
    mb_free(&b);
}
END_TEST

/* two threads drive two sessions of one model at the same time */
typedef struct feed_arg {
    gptc_session *s;
    const int32_t *ids;
    int n;
    gptc_status st;
} feed_arg;

static void *feed_thread(void *p) {
    feed_arg *a = p;
    gptc_error err;
    a->st = GPTC_OK;
    for (int t = 0; t < a->n && a->st == GPTC_OK; t += 3) /* pieces of 3 */
        a->st = gptc_session_feed(a->s, a->ids + t, (size_t)(a->n - t < 3 ? a->n - t : 3), &err);
    return NULL;
}

START_TEST(test_concurrent_sessions) {
    oss_cfg c = oss_default();
    oss_w w;
    mb b;
    const char *path = build_oss(&c, &w, &b, "conc.gguf");
    enum { N = 24 };
    int32_t ids[N], ids2[N];
    ids_seq(ids, N, c.V);
    for (int i = 0; i < N; i++) ids2[i] = (int32_t)((i * 5 + 1) % c.V);
    double *r1 = malloc(sizeof(double) * N * c.V), *r2 = malloc(sizeof(double) * N * c.V), mr;
    ref_oss(&c, &w, ids, N, r1);
    ref_oss(&c, &w, ids2, N, r2);
    gptc_error err;
    gptc_model *m = load_ok(path, 3, &err);
    feed_arg a1 = {session(m, 32, 4), ids, N, GPTC_OK}, a2 = {session(m, 32, 2), ids2, N, GPTC_OK};
    pthread_t t1, t2;
    ck_assert_int_eq(pthread_create(&t1, NULL, feed_thread, &a1), 0);
    ck_assert_int_eq(pthread_create(&t2, NULL, feed_thread, &a2), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    ck_assert_int_eq(a1.st, GPTC_OK);
    ck_assert_int_eq(a2.st, GPTC_OK);
    float *lg = malloc(sizeof(float) * c.V);
    ck_assert_int_eq(gptc_session_logits(a1.s, lg, &err), GPTC_OK);
    double e = max_err(lg, r1 + (size_t)(N - 1) * c.V, (size_t)c.V, &mr);
    ck_assert_msg(e < 1e-4 * (1 + mr), "thread 1: error %g", e);
    ck_assert_int_eq(gptc_session_logits(a2.s, lg, &err), GPTC_OK);
    e = max_err(lg, r2 + (size_t)(N - 1) * c.V, (size_t)c.V, &mr);
    ck_assert_msg(e < 1e-4 * (1 + mr), "thread 2: error %g", e);
    gptc_session_free(a1.s);
    gptc_session_free(a2.s);
    gptc_model_free(m);
    free(lg);
    free(r1);
    free(r2);
    mb_free(&b);
}
END_TEST

/* yarn_rounded = 1 follows llama.cpp's rounded correction range and changes the logits */
START_TEST(test_yarn_rounded) {
    oss_cfg c = oss_default();
    /* head size 32: clamped correction range (0, 1.62) vs rounded (0, 2) differ; with 16 the
     * clamped (0, 0.81) and rounded (0, 1) ranges give the same frequencies */
    c.HD = 32;
    oss_w w;
    mb b;
    const char *path = build_oss(&c, &w, &b, "yr.gguf");
    enum { N = 9 };
    int32_t ids[N];
    double *ref = oss_ref_seq(&c, &w, ids, N, 1), mr;
    gptc_error err;
    g_yarn_rounded = 1;
    gptc_model *m = load(path, 2, &err);
    g_yarn_rounded = 0;
    ck_assert_msg(m != NULL, "%s", err.msg);
    float *lg = malloc(sizeof(float) * N * c.V);
    gptc_session *s = session(m, 16, 0);
    ck_assert_int_eq(gptc_session_feed_all_logits(s, ids, N, lg, &err), GPTC_OK);
    double e = max_err(lg, ref, (size_t)N * c.V, &mr);
    ck_assert_msg(e < 1e-4 * (1 + mr), "rounded YaRN: error %g", e);
    ref_oss_r(&c, &w, ids, N, ref, 0); /* the unrounded reference is clearly different */
    e = max_err(lg, ref, (size_t)N * c.V, &mr);
    ck_assert_msg(e > 1e-2 * (1 + mr), "rounded vs unrounded: only %g apart", e);
    gptc_session_free(s);
    gptc_model_free(m);
    free(lg);
    free(ref);
    mb_free(&b);
}
END_TEST

/* tokenizer: explicit path, tokenizer.json next to the model, vocabulary-size check */
START_TEST(test_tokenizer_paths) {
    size_t len;
    char *tj = tu_read_file("test/data/tokenizer/gpt2/tokenizer.json", &len);
    ck_assert_ptr_nonnull(tj);
    char dir[600], model[700], tok[700];
    snprintf(dir, sizeof(dir), "%s/tokdir", tu_tmpdir());
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(model, sizeof(model), "%s/model.gguf", dir);
    snprintf(tok, sizeof(tok), "%s/tokenizer.json", dir);
    /* a 70-row model next to GPT-2's 50257-token tokenizer.json: refused */
    g2_w w;
    mb b;
    const char *p = build_g2(&w, &b, 0, "tok70.gguf");
    mb_free(&b);
    ck_assert_int_eq(rename(p, model), 0);
    ck_assert_int_eq(tu_write_file(tok, tj, len), 0);
    gptc_error err = {0};
    ck_assert_ptr_null(load(model, 1, &err));
    ck_assert_int_eq(err.status, GPTC_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "the tokenizer has 50257 tokens but the model only 70") != NULL,
                  "%s", err.msg);
    /* an explicit tokenizer path that does not exist */
    g_tokenizer_path = "/nonexistent/tokenizer.json";
    ck_assert_ptr_null(load(model, 1, &err));
    ck_assert_int_ne(err.status, GPTC_OK);
    g_tokenizer_path = NULL;
    /* a 50257-row model: the tokenizer next to it is used */
    g2_vocab = 50257;
    p = build_g2(&w, &b, 0, "tok50257.gguf");
    g2_vocab = G2_V;
    mb_free(&b);
    ck_assert_int_eq(rename(p, model), 0);
    gptc_model *m = load_ok(model, 1, &err);
    const gptc_tokenizer *t = gptc_model_tokenizer(m);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(gptc_tokenizer_n_vocab(t), 50257);
    gptc_model_free(m);
    free(tj);
}
END_TEST

int main(void) {
    Suite *s = suite_create("engine_models");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_zero_model);
    tcase_add_test(tc, test_oss_reference);
    tcase_add_test(tc, test_oss_fused_gate_up);
    tcase_add_test(tc, test_thread_invariance);
    tcase_add_test(tc, test_gpt2_reference);
    tcase_add_test(tc, test_api_errors);
    tcase_add_test(tc, test_yarn_rounded);
    tcase_add_test(tc, test_cancel_async);
    tcase_add_test(tc, test_concurrent_sessions);
    tcase_add_test(tc, test_truncate_window_rebuild);
    tcase_add_test(tc, test_tokenizer_paths);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
