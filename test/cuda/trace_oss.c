/* trace_oss.c — diagnostic tool (not a test): localises a CUDA-vs-CPU divergence of a gpt-oss
 * model at given decode positions. It runs a plain fp32 single-token forward on the CPU with the
 * engine's ops (engine/ops.h, fp32 KV cache), and the CUDA backend token by token with
 * GPTC_CUDA_TRACE=<file> GPTC_CUDA_TRACE_POS=<p,...> (cuda/forward*.c then write every stage of
 * those positions: attention output, residual after attention, router logits, chosen experts,
 * residual after the MoE, logits), and prints max |gpu - cpu| / max |cpu| per stage and layer.
 *   trace_oss MODEL N_TOK POS[,POS...]      (token ids as in test_cuda_model.c)
 * Build: gcc ... test/cuda/trace_oss.c with the build's libraries (see scripts/gpu-test.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/ops.h"
#include "gptc.h"

#define VOCAB 2048
#define MAXREC 16384

typedef struct rec {
    char name[32];
    int layer, pos, n;
    float *v;
} rec;
static rec cpu[MAXREC], gpu[MAXREC];
static int n_cpu, n_gpu;

static void put(rec *r, int *n, const char *name, int layer, int pos, const float *v, int cnt) {
    if (*n >= MAXREC) return;
    rec *e = &r[(*n)++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->layer = layer;
    e->pos = pos;
    e->n = cnt;
    e->v = malloc(sizeof(float) * (size_t)cnt);
    memcpy(e->v, v, sizeof(float) * (size_t)cnt);
}

/* GPU rounding emulation (TRACE_EMU: bit 1 f16 KV cache, bit 2 int16 activations of the
 * quantised-weight GEMVs, bit 4 with bit 2: those activations as a hi/lo pair of int16, the
 * residual quantised again), to tell which rounding a divergence needs */
static int emu;
static float f16r(float v) {
    _Float16 h = (_Float16)v;
    return (float)h;
}
static const float *q16(float *dst, const float *x, int n) {
    if (!(emu & 2)) return x;
    for (int b = 0; b < n; b += 32) {
        float amax = 0.f;
        for (int i = b; i < b + 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 32767.f;
        for (int i = b; i < b + 32; i++) dst[i] = d > 0.f ? rintf(x[i] / d) * d : 0.f;
        if (emu & 4) { /* hi/lo split: the residual quantised again (a second int16 pass) */
            float rmax = 0.f;
            for (int i = b; i < b + 32; i++) rmax = fmaxf(rmax, fabsf(x[i] - dst[i]));
            float d2 = rmax / 32767.f;
            for (int i = b; i < b + 32; i++)
                dst[i] += d2 > 0.f ? rintf((x[i] - dst[i]) / d2) * d2 : 0.f;
        }
    }
    return dst;
}

static int want(const int *tp, int ntp, int p) {
    for (int i = 0; i < ntp; i++)
        if (tp[i] == p) return 1;
    return 0;
}

/* fp32 reference forward, one token at a time; caches [n_layer][n_ctx][KD] */
static void cpu_run(gptc_model *m, const int32_t *ids, int n_tok, const int *tp, int ntp) {
    const gt_hparams *hp = &m->hp;
    const int E = hp->n_embd, hd = hp->head_dim, QD = hp->n_head * hd, KD = hp->n_head_kv * hd;
    const int X = hp->n_expert, K = hp->n_expert_used, F = hp->n_ff,
              grp = hp->n_head / hp->n_head_kv;
    float *x = calloc(E, 4), *xn = calloc(E, 4), *q = calloc(QD, 4), *att = calloc(QD, 4);
    float *xe = calloc(E, 4), *ae = calloc(QD, 4), *ge = calloc(F, 4);
    float *tmp = calloc(E, 4), *rl = calloc(X, 4), *g = calloc(F, 4), *u = calloc(F, 4);
    float *y = calloc(E, 4), *sc = calloc(n_tok + 1, 4), *lg = calloc(hp->n_vocab, 4);
    float *kc = calloc((size_t)hp->n_layer * n_tok * KD, 4),
          *vc = calloc((size_t)hp->n_layer * n_tok * KD, 4);
    for (int p = 0; p < n_tok; p++) {
        const int tr = want(tp, ntp, p);
        op_embed_row(x, &m->tok_embd, ids[p]);
        for (int l = 0; l < hp->n_layer; l++) {
            const gt_layer *L = &m->layers[l];
            float *k = kc + ((size_t)l * n_tok + p) * KD, *v = vc + ((size_t)l * n_tok + p) * KD;
            op_rmsnorm(xn, x, gt_weight_f32(&L->attn_norm, 0), E, hp->norm_eps);
            const float *xq = q16(xe, xn, E);
            op_matmul(q, xq, 1, &L->wq, -1, gt_weight_f32(&L->bq, 0), NULL);
            op_matmul(k, xq, 1, &L->wk, -1, gt_weight_f32(&L->bk, 0), NULL);
            op_matmul(v, xq, 1, &L->wv, -1, gt_weight_f32(&L->bv, 0), NULL);
            op_rope_neox(q, hp->n_head, hd, p, m->rope_inv_freq, m->rope_mscale);
            op_rope_neox(k, hp->n_head_kv, hd, p, m->rope_inv_freq, m->rope_mscale);
            if (emu & 1)
                for (int i = 0; i < KD; i++) k[i] = f16r(k[i]), v[i] = f16r(v[i]);
            int lo = L->is_swa && hp->sliding_window > 0 ? p - hp->sliding_window + 1 : 0;
            if (lo < 0) lo = 0;
            const float *sinks = gt_weight_f32(&L->sinks, 0);
            for (int h = 0; h < hp->n_head; h++) {
                const size_t ko = ((size_t)l * n_tok + lo) * KD + (size_t)(h / grp) * hd;
                op_attention_head(att + h * hd, q + h * hd, kc + ko, vc + ko, p - lo + 1, KD, hd,
                                  sinks != NULL, sinks ? sinks[h] : 0.f, 1.f / sqrtf((float)hd),
                                  sc);
            }
            if (tr) put(cpu, &n_cpu, "attn", l, p, att, QD);
            op_matmul(tmp, q16(ae, att, QD), 1, &L->wo, -1, gt_weight_f32(&L->bo, 0), NULL);
            op_add(x, tmp, E);
            if (tr) put(cpu, &n_cpu, "x_attn", l, p, x, E);
            op_rmsnorm(xn, x, gt_weight_f32(&L->ffn_norm, 0), E, hp->norm_eps);
            op_matmul(rl, xn, 1, &L->router_w, -1, gt_weight_f32(&L->router_b, 0), NULL);
            int idx[8];
            float w[8], fid[8];
            op_router_topk_softmax(rl, X, K, idx, w);
            if (tr) {
                put(cpu, &n_cpu, "router", l, p, rl, X);
                for (int j = 0; j < K; j++) fid[j] = (float)idx[j];
                put(cpu, &n_cpu, "experts", l, p, fid, K);
            }
            const float *xm = q16(xe, xn, E);
            for (int j = 0; j < K; j++) {
                op_matmul(g, xm, 1, &L->gate_exps, idx[j], gt_weight_f32(&L->gate_b, idx[j]), NULL);
                op_matmul(u, xm, 1, &L->up_exps, idx[j], gt_weight_f32(&L->up_b, idx[j]), NULL);
                op_swiglu_oai(g, g, u, F, hp->swiglu_alpha, hp->swiglu_limit);
                op_matmul(y, q16(ge, g, F), 1, &L->down_exps, idx[j],
                          gt_weight_f32(&L->down_b, idx[j]), NULL);
                op_axpy(x, w[j], y, E);
            }
            if (tr) put(cpu, &n_cpu, "x_moe", l, p, x, E);
        }
        if (tr) {
            op_rmsnorm(xn, x, gt_weight_f32(&m->output_norm, 0), E, hp->norm_eps);
            op_matmul(lg, q16(xe, xn, E), 1, &m->output, -1, NULL, NULL);
            put(cpu, &n_cpu, "logits", -1, p, lg, hp->n_vocab);
        }
    }
    free(x);
    free(xn);
    free(q);
    free(att);
    free(tmp);
    free(rl);
    free(g);
    free(u);
    free(y);
    free(xe);
    free(ae);
    free(ge);
    free(sc);
    free(lg);
    free(kc);
    free(vc);
}

static void read_gpu(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "trace_oss: no GPU trace %s\n", path);
        return;
    }
    char name[32];
    int l, p, n;
    while (fscanf(f, "%31s %d %d %d", name, &l, &p, &n) == 4 && n > 0 && n < (1 << 24)) {
        float *v = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++)
            if (fscanf(f, "%f", &v[i]) != 1) v[i] = NAN;
        put(gpu, &n_gpu, name, l, p, v, n);
        free(v);
    }
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: trace_oss MODEL N_TOK POS[,POS...]\n");
        return 1;
    }
    const int n_tok = atoi(argv[2]);
    int tp[16], ntp = 0;
    for (char *s = argv[3]; *s && ntp < 16;) {
        tp[ntp++] = (int)strtol(s, &s, 10);
        if (*s == ',')
            s++;
        else
            break;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n_tok);
    for (int i = 0; i < n_tok; i++) ids[i] = (int32_t)((i * 7919u + 13u) % VOCAB);
    gptc_error err;
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = argv[1];
    mp.backend = GPTC_BACKEND_CPU;
    mp.n_ctx_hint = 512;
    gptc_model *mc = NULL;
    if (gptc_model_load(&mp, &mc, &err) != GPTC_OK) {
        fprintf(stderr, "cpu load: %s\n", err.msg);
        return 1;
    }
    if (getenv("TRACE_EMU") && getenv("TRACE_ALL")) { /* emulated vs fp32 logits, all positions */
        int all[1];
        (void)all;
        int *every = malloc(sizeof(int) * (size_t)n_tok);
        for (int i = 0; i < n_tok; i++) every[i] = i;
        cpu_run(mc, ids, n_tok, every, n_tok);
        int n0 = n_cpu;
        emu = atoi(getenv("TRACE_EMU"));
        cpu_run(mc, ids, n_tok, every, n_tok);
        int bad = 0;
        for (int i = 0, j = n0; i < n0; i++) {
            if (strcmp(cpu[i].name, "logits")) continue;
            while (j < n_cpu && (strcmp(cpu[j].name, "logits") || cpu[j].pos != cpu[i].pos)) j++;
            if (j >= n_cpu) break;
            double mx = 0, md = 0;
            for (int k = 0; k < cpu[i].n; k++) {
                if (fabs(cpu[i].v[k]) > mx) mx = fabs(cpu[i].v[k]);
                if (fabs(cpu[i].v[k] - cpu[j].v[k]) > md) md = fabs(cpu[i].v[k] - cpu[j].v[k]);
            }
            if (md / mx > 1e-3) printf("emu %d pos %d rel %.3g\n", emu, cpu[i].pos, md / mx);
            bad += md / mx > 1e-2;
        }
        printf("emu %d: positions over 1e-2: %d\n", emu, bad);
        return 0;
    }
    if (getenv("TRACE_EMU")) emu = atoi(getenv("TRACE_EMU"));
    cpu_run(mc, ids, n_tok, tp, ntp);
    gptc_model_free(mc);

    const char *tw = getenv("TRACE_WRITE"); /* write these (e.g. emulated) records as a trace */
    if (tw) {
        FILE *f = fopen(tw, "w");
        for (int i = 0; f && i < n_cpu; i++) {
            fprintf(f, "%s %d %d %d", cpu[i].name, cpu[i].layer, cpu[i].pos, cpu[i].n);
            for (int k = 0; k < cpu[i].n; k++) fprintf(f, " %.9g", cpu[i].v[k]);
            fprintf(f, "\n");
        }
        if (f) fclose(f);
        return 0;
    }
    const char *tf = getenv("GPTC_CUDA_TRACE");
    if (getenv("TRACE_READ")) { /* compare with a written trace instead of running CUDA */
        emu = 0;
        read_gpu(getenv("TRACE_READ"));
        tf = NULL;
    }
    if (tf) {
        mp.backend = GPTC_BACKEND_CUDA;
        gptc_model *mg = NULL;
        if (gptc_model_load(&mp, &mg, &err) != GPTC_OK) {
            fprintf(stderr, "cuda load: %s\n", err.msg);
            return 1;
        }
        gptc_session_params sp;
        gptc_session_params_default(mg, &sp);
        sp.n_ctx = 512;
        sp.sampling.temperature = 0;
        sp.cache_type = GPTC_CACHE_F32; /* the fp32 reference's cache */
        gptc_session *s = NULL;
        if (gptc_session_new(mg, &sp, &s, &err) != GPTC_OK) return 1;
        for (int i = 0; i < n_tok; i++)
            if (gptc_session_feed(s, ids + i, 1, &err) != GPTC_OK) {
                fprintf(stderr, "feed: %s\n", err.msg);
                return 1;
            }
        gptc_session_free(s);
        gptc_model_free(mg);
        read_gpu(tf);
    }
    for (int i = 0; i < n_cpu; i++) {
        const rec *c = &cpu[i], *g = NULL;
        for (int j = 0; j < n_gpu && !g; j++)
            if (!strcmp(gpu[j].name, c->name) && gpu[j].layer == c->layer && gpu[j].pos == c->pos &&
                gpu[j].n == c->n)
                g = &gpu[j];
        double mx = 0, md = 0;
        for (int k = 0; k < c->n; k++) {
            if (fabs(c->v[k]) > mx) mx = fabs(c->v[k]);
            if (g && fabs(c->v[k] - g->v[k]) > md) md = fabs(c->v[k] - g->v[k]);
        }
        printf("pos %d L%-2d %-8s max|cpu| %-10.4g max|diff|/max|cpu| %s%.3g", c->pos, c->layer,
               c->name, mx, g ? "" : "(no gpu) ", md / (mx > 0 ? mx : 1));
        if (!strcmp(c->name, "router") || !strcmp(c->name, "experts")) {
            printf("\n   cpu:");
            for (int k = 0; k < c->n; k++) printf(" %.6f", c->v[k]);
            if (g) {
                printf("\n   gpu:");
                for (int k = 0; k < g->n; k++) printf(" %.6f", g->v[k]);
            }
        }
        printf("\n");
    }
    return 0;
}
