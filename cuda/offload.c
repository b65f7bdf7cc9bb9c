/* offload.c — expert offload of the CUDA backend (--n-cpu-moe / --cpu-moe; cuda/backend.h):
 * the experts of the first n_cpu_moe layers stay in host memory (the GGUF mapping) and run on
 * the CPU threads (engine/moe.h, the CPU backend's kernels, through m->pool), while the GPU does
 * attention, router, norms, the LM head and the other layers' experts.
 *
 * Per offloaded layer and forward of T tokens, all on the model's stream:
 *   router + top-k (GPU) -> D2H: normed input u[T][n_embd], ids[T][k], weights[T][k] (pinned)
 *   -> host node: y = sum_j w_j expert_j(u) on the CPU threads -> H2D y -> x += y (GPU).
 * Host nodes (cudaLaunchHostFunc) rather than a graph split per offloaded layer: the decode step
 * stays one captured graph, replayed per token, and the thread that launched it does not wait
 * per layer (one sync per token, as without offload). A host node may not call CUDA, and does
 * not: gt_moe_experts is plain C over host memory. The node's context names the layer and T; a
 * captured graph keeps its own contexts (T = 1), so later eager forwards (prefill) cannot change
 * what a replay reads. Prefill (T > 1) takes the same path: the CPU computes the offloaded
 * experts for all T tokens, each expert's weights read once per layer (grouped by expert). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/backend.h"
#include "engine/cpu.h"
#include "engine/moe.h"
#include "engine/pool.h"

typedef struct cu_hnode {
    struct cu_offload *o;
    int l, T;
} cu_hnode;

typedef struct cu_offload {
    gptc_model *m;
    int B;
    void *pin; /* one pinned block: u, y, ids, w */
    float *h_u, *h_y, *h_w;
    int32_t *h_ids;
    void *scratch; /* gt_moe_buf for B tokens */
    gt_moe_buf mb;
    cu_hnode *eager, *graph; /* [n_layer] host-node contexts: eager forwards, the captured graph */
    _Atomic int bad;         /* 1 + layer whose routing a host node refused (0: none) */
    int bad_expert;
    _Atomic double cpu_tok_s; /* the CPU experts' seconds per token and layer (last T >= 2 run) */
} cu_offload;

static size_t pin_bytes(const gptc_model *m, int B) {
    const size_t ne = (size_t)m->hp.n_embd, nk = (size_t)B * m->hp.n_expert_used;
    return 2 * CU_ALIGN256(sizeof(float) * (size_t)B * ne) + CU_ALIGN256(sizeof(float) * nk) +
           CU_ALIGN256(sizeof(int32_t) * nk);
}

size_t cu_offload_host_bytes(const gptc_model *m, int B) {
    return pin_bytes(m, B) + gt_moe_buf_bytes(m, B) + 64;
}

gptc_status cu_offload_init(gptc_model *m, cu_sess *cs, gptc_error *err) {
    const cu_model *cm = (const cu_model *)m->backend_data;
    cs->off = NULL;
    if (cm->n_cpu_moe <= 0) return GPTC_OK;
    cu_offload *o = (cu_offload *)calloc(1, sizeof *o);
    if (!o) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    o->m = m;
    o->B = cs->B;
    const size_t ne = (size_t)m->hp.n_embd, nk = (size_t)cs->B * m->hp.n_expert_used;
    const size_t sb = gt_moe_buf_bytes(m, cs->B);
    o->eager = (cu_hnode *)calloc((size_t)m->hp.n_layer * 2, sizeof *o->eager);
    o->scratch = aligned_alloc(64, (sb + 63) & ~(size_t)63);
    if (!o->eager || !o->scratch) {
        cu_offload_free(&(cu_sess){.off = o});
        return gt_err(err, GPTC_ERR_NOMEM, "out of memory (expert offload scratch, %.1f MiB)",
                      sb / 1048576.0);
    }
    o->graph = o->eager + m->hp.n_layer;
    if (cudaHostAlloc(&o->pin, pin_bytes(m, cs->B), cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        o->pin = NULL;
        cu_offload_free(&(cu_sess){.off = o});
        return gt_err(err, GPTC_ERR_NOMEM, "CUDA: cannot allocate pinned host buffers");
    }
    uint8_t *p = (uint8_t *)o->pin;
    o->h_u = (float *)p;
    p += CU_ALIGN256(sizeof(float) * (size_t)cs->B * ne);
    o->h_y = (float *)p;
    p += CU_ALIGN256(sizeof(float) * (size_t)cs->B * ne);
    o->h_w = (float *)p;
    p += CU_ALIGN256(sizeof(float) * nk);
    o->h_ids = (int32_t *)p;
    gt_carve c = {(char *)o->scratch, (sb + 63) & ~(size_t)63};
    gt_carve_item it[GT_MOE_BUF_ITEMS];
    gt_moe_buf_items(m, cs->B, &o->mb, it);
    gt_carve_items(&c, it, GT_MOE_BUF_ITEMS);
    for (int l = 0; l < m->hp.n_layer; l++) {
        o->eager[l].o = o->graph[l].o = o;
        o->eager[l].l = o->graph[l].l = l;
    }
    cs->off = o;
    return GPTC_OK;
}

void cu_offload_free(cu_sess *cs) {
    cu_offload *o = cs->off;
    if (!o) return;
    if (o->pin) cudaFreeHost(o->pin);
    free(o->scratch);
    free(o->eager);
    free(o);
    cs->off = NULL;
}

/* The host node: the experts of layer h->l for h->T tokens on the CPU threads. */
static void CUDART_CB host_moe(void *arg) {
    const cu_hnode *h = (const cu_hnode *)arg;
    cu_offload *o = h->o;
    const gptc_model *m = o->m;
    const int T = h->T, ne = m->hp.n_embd, nk = T * m->hp.n_expert_used;
    memset(o->h_y, 0, sizeof(float) * (size_t)T * ne);
    for (int i = 0; i < nk; i++) /* NaN router logits: refuse instead of reading out of bounds */
        if (o->h_ids[i] < 0 || o->h_ids[i] >= m->hp.n_expert) {
            int none = 0;
            if (atomic_compare_exchange_strong(&o->bad, &none, h->l + 1))
                o->bad_expert = o->h_ids[i];
            return;
        }
    const double t0 = gt_now_ms();
    gt_moe_experts(m, &m->layers[h->l], &o->mb, o->h_u, o->h_ids, o->h_w, o->h_y, T, m->pool);
    if (T >= 2) atomic_store(&o->cpu_tok_s, (gt_now_ms() - t0) * 1e-3 / T);
}

gptc_status cu_moe_host(cu_fw *F, int l, int T) {
    const gt_hparams *hp = &F->m->hp;
    cu_sess *cs = F->cs;
    cu_offload *o = cs->off;
    gptc_error *err = F->err;
    if (!o || T > o->B) return gt_err(err, GPTC_ERR_DEVICE, "CUDA: expert offload not set up");
    const int ne = hp->n_embd, nk = T * hp->n_expert_used;
    enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    CU_TRYC(cudaStreamIsCapturing(F->st, &cap));
    cu_hnode *h = cap == cudaStreamCaptureStatusActive ? &o->graph[l] : &o->eager[l];
    h->T = T;
    CU_TRYC(cudaMemcpyAsync(o->h_u, cs->a.f, sizeof(float) * (size_t)T * ne, cudaMemcpyDeviceToHost,
                            F->st));
    CU_TRYC(cudaMemcpyAsync(o->h_ids, cs->ids_exp, sizeof(int32_t) * (size_t)nk,
                            cudaMemcpyDeviceToHost, F->st));
    CU_TRYC(cudaMemcpyAsync(o->h_w, cs->wts, sizeof(float) * (size_t)nk, cudaMemcpyDeviceToHost,
                            F->st));
    CU_TRYC(cudaLaunchHostFunc(F->st, host_moe, h));
    cu_prof_mark(F, "moe_cpu");
    CU_TRYC(cudaMemcpyAsync(cs->moe_out, o->h_y, sizeof(float) * (size_t)T * ne,
                            cudaMemcpyHostToDevice, F->st));
    CU_TRYF(gtc_moe_sum(cs->moe_out, T, 1, ne, cs->x, (gtc_stream)F->st), "moe_sum");
    return GPTC_OK;
}

gptc_status cu_offload_check(cu_sess *cs, gptc_error *err) {
    cu_offload *o = cs->off;
    if (!o) return GPTC_OK;
    const int bad = atomic_exchange(&o->bad, 0);
    if (bad)
        return gt_err(err, GPTC_ERR_DEVICE, "CUDA: layer %d: router chose expert %d of %d", bad - 1,
                      o->bad_expert, o->m->hp.n_expert);
    return GPTC_OK;
}

/* ---- prefill streaming (cuda/backend.h) ---------------------------------------------------- */
#define XCH ((size_t)32 << 20) /* bytes per pinned chunk */
/* Until a batched CPU run was timed: seconds per token and layer of the CPU experts (gpt-oss-20b
 * measured 0.67 ms on 15 threads of a Xeon at pp512). */
#define CPU_TOK_S_GUESS 0.5e-3

typedef struct cu_xfer {
    uint8_t *base;     /* device: the streamed layer's sources (cm->x_bytes) */
    uint8_t *stage[2]; /* device: raw rows before the split repack */
    void *pin[2];      /* pinned chunks */
    cudaEvent_t ev[2]; /* a chunk's copy (and repack) done: its pinned and stage buffers are free */
    size_t dev_bytes;
    int ok; /* 1: made; 0: the device (or the budget) had no room, the CPU runs every layer */
    pthread_mutex_t lock; /* one layer in the buffer at a time, between the copy and its kernels */
} cu_xfer;

void cu_xfer_free(gptc_model *m) {
    cu_model *cm = (cu_model *)m->backend_data;
    cu_xfer *x = cm ? cm->xf : NULL;
    if (!x) return;
    for (int i = 0; i < 2; i++) {
        if (x->ev[i]) cudaEventDestroy(x->ev[i]);
        if (x->pin[i]) cudaFreeHost(x->pin[i]);
        if (x->stage[i]) cudaFree(x->stage[i]);
    }
    if (x->base) cudaFree(x->base);
    if (x->ok) atomic_fetch_sub_explicit(&m->workspace_bytes, x->dev_bytes, memory_order_relaxed);
    pthread_mutex_destroy(&x->lock);
    free(x);
    cm->xf = NULL;
}

/* Makes the stream buffers once (x->ok = 0 when they do not fit: never tried again). */
static cu_xfer *xfer_get(gptc_model *m, cu_model *cm) {
    static pthread_mutex_t make = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&make);
    cu_xfer *x = cm->xf;
    if (!x && (x = (cu_xfer *)calloc(1, sizeof *x)) != NULL) {
        pthread_mutex_init(&x->lock, NULL);
        cm->xf = x;
        const size_t ch = cm->x_bytes < XCH ? CU_ALIGN256(cm->x_bytes) : XCH;
        x->dev_bytes = CU_ALIGN256(cm->x_bytes) + 2 * ch;
        const uint64_t used = cm->arena_bytes + m->kv_bytes + m->workspace_bytes;
        int ok = !cm->budget || used + x->dev_bytes <= cm->budget; /* --vram-budget holds */
        if (ok && cudaMalloc((void **)&x->base, cm->x_bytes) != cudaSuccess) ok = 0;
        for (int i = 0; ok && i < 2; i++)
            if (cudaMalloc((void **)&x->stage[i], ch) != cudaSuccess ||
                cudaHostAlloc(&x->pin[i], ch, cudaHostAllocDefault) != cudaSuccess ||
                cudaEventCreateWithFlags(&x->ev[i], cudaEventBlockingSync |
                                                        cudaEventDisableTiming) != cudaSuccess)
                ok = 0;
        for (int l = 0; ok && l < cm->n_cpu_moe; l++)
            if (cm->xl[l].n > 0 && cu_layer_at(m, cm, l, x->base) != 0) cm->xl[l].n = -1;
        cudaGetLastError(); /* a refused allocation is not an error of the forward */
        if (ok) {
            x->ok = 1;
            atomic_fetch_add_explicit(&m->workspace_bytes, x->dev_bytes, memory_order_relaxed);
        } else { /* keep nothing but the refusal */
            for (int i = 0; i < 2; i++) {
                if (x->ev[i]) cudaEventDestroy(x->ev[i]);
                if (x->pin[i]) cudaFreeHost(x->pin[i]);
                if (x->stage[i]) cudaFree(x->stage[i]);
                x->ev[i] = NULL, x->pin[i] = NULL, x->stage[i] = NULL;
            }
            if (x->base) cudaFree(x->base);
            x->base = NULL;
        }
    }
    pthread_mutex_unlock(&make);
    return x && x->ok ? x : NULL;
}

/* Whether copying layer l's experts up beats running them on the CPU for T tokens. */
static int stream_pays(const cu_fw *F, int l, int T) {
    const cu_model *cm = F->cm;
    const cu_offload *o = F->cs->off;
    if (T < 2 || F->sq || !o || !cm->xl || cm->xl[l].n <= 0 || cu_knob.offload_stream == 0)
        return 0;
    if (cu_knob.offload_stream > 0) return 1;
    const double cpu = atomic_load(&o->cpu_tok_s);
    return (double)cm->x_bytes / cm->h2d_Bps < T * (cpu > 0 ? cpu : CPU_TOK_S_GUESS);
}

int cu_stream_layer(cu_fw *F, int l, int T) {
    cu_model *cm = F->cm;
    if (!stream_pays(F, l, T)) return 0;
    cu_xfer *x = xfer_get(F->m, cm);
    if (!x) return 0;
    const cu_xlayer *xl = &cm->xl[l];
    if (xl->n <= 0) return 0; /* cu_layer_at refused it */
    pthread_mutex_lock(&x->lock);
    const size_t ch = cm->x_bytes < XCH ? CU_ALIGN256(cm->x_bytes) : XCH;
    double copy_ms = 0;
    size_t moved = 0;
    int b = 0;
    for (int i = 0; i < xl->n; i++) {
        const gguf_tensor *t = xl->t[i];
        const int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        const size_t rb = t->n_bytes / (size_t)(rows > 0 ? rows : 1);
        const int split = gtc_type_split(t->type);
        const int64_t per = rb ? (int64_t)(ch / rb) : 0;
        if (per < 1) {
            pthread_mutex_unlock(&x->lock);
            return 0; /* a row larger than a chunk: the CPU runs this layer */
        }
        for (int64_t r0 = 0; r0 < rows; r0 += per) {
            const int64_t nr = rows - r0 < per ? rows - r0 : per;
            const size_t bytes = (size_t)nr * rb;
            cudaError_t ce = cudaEventSynchronize(x->ev[b]); /* the chunk two back is up */
            const double t0 = gt_now_ms();
            if (ce == cudaSuccess) /* out of the file mapping: every offload thread copies */
                gt_pool_memcpy(F->m->pool, x->pin[b], (const uint8_t *)t->data + (size_t)r0 * rb,
                               bytes);
            copy_ms += gt_now_ms() - t0;
            uint8_t *dst = x->base + xl->off[i];
            if (ce == cudaSuccess && split) {
                ce = cudaMemcpyAsync(x->stage[b], x->pin[b], bytes, cudaMemcpyHostToDevice, F->st);
                if (ce == cudaSuccess && gtc_repack_split(t->type, x->stage[b], dst, t->ne[0], rows,
                                                          r0, nr, (gtc_stream)F->st) != 0)
                    ce = cudaErrorUnknown;
            } else if (ce == cudaSuccess) {
                ce = cudaMemcpyAsync(dst + (size_t)r0 * rb, x->pin[b], bytes,
                                     cudaMemcpyHostToDevice, F->st);
            }
            if (ce == cudaSuccess) ce = cudaEventRecord(x->ev[b], F->st);
            if (ce != cudaSuccess) {
                pthread_mutex_unlock(&x->lock);
                gt_err(F->err, GPTC_ERR_DEVICE, "CUDA: layer %d: expert copy failed: %s", l,
                       cudaGetErrorString(ce));
                return -1;
            }
            moved += bytes;
            b ^= 1;
        }
    }
    /* the host copy into pinned memory bounds the rate (the DMA is faster): keep its measure */
    if (copy_ms > 0.5) cm->h2d_Bps = 0.5 * cm->h2d_Bps + 0.5 * (moved / (copy_ms * 1e-3));
    cu_prof_mark(F, "moe_stream");
    return 1;
}

void cu_stream_done(cu_fw *F) {
    pthread_mutex_unlock(&F->cm->xf->lock);
}
