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
    gt_moe_experts(m, &m->layers[h->l], &o->mb, o->h_u, o->h_ids, o->h_w, o->h_y, T, m->pool);
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
