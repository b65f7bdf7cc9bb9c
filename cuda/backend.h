/* backend.h — the CUDA backend's internals (plain C: the CUDA runtime and cuBLAS are C APIs),
 * shared by cuda/backend.c (model and session lifecycle, memory plan, upload, decode entry
 * points, sampling), cuda/forward.c (the building blocks of a forward pass), the forward pass of
 * each architecture (cuda/forward_<arch>.c, reached through engine/arch.h's adapter table) and
 * cuda/profile.c (profiler and debug trace). The kernels behind gtc_* live in the .cu files.
 *
 *   decode (1 token)   : GEMV kernels (dp2a on int16 activations), MoE on the device (router,
 *                        top-k, fused gate/up + clamped SwiGLU, down + weighted sum into x),
 *                        flash-decoding attention; the whole step is one CUDA graph replayed per
 *                        token (token id and position live in device memory).
 *   prefill (n tokens) : weights dequantised to f16 tiles + cuBLAS GEMMs (tensor cores, fp32
 *                        accumulate); MoE grouped by expert (one host sync per layer for the
 *                        routing counts); attention over the prompt by the same kernel.
 *                        Batches of 2..mmq_max_t tokens: the int8 tensor-core kernels (gtc_mmq).
 *   decode_multi       : one token of each of N sessions in one forward: per-token positions
 *                        and K/V caches, Q8_0 / MXFP4 products on int8 tensor cores, MoE grouped
 *                        by expert on the device.
 *   sampling           : on the device (cuda/sample.cu); one int crosses per token.
 * The KV cache holds fp32, fp16 (default) or Q8_0 rows (gptc_session_params.cache_type). */
#ifndef GPTC_CUDA_BACKEND_H
#define GPTC_CUDA_BACKEND_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>

#include "cuda/gtc.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/session.h"

#define CU_ALIGN256(x) (((x) + 255) & ~(size_t)255)

/* ---- cuBLAS, loaded on first use (cuda/blas.c) -------------------------------------------- */
typedef struct cu_blas_api {
    __typeof__(&cublasCreate_v2) create;
    __typeof__(&cublasDestroy_v2) destroy;
    __typeof__(&cublasSetStream_v2) set_stream;
    __typeof__(&cublasGemmEx) gemm_ex;
    int ok;
} cu_blas_api;
/* The loaded API, or NULL with err set when cuBLAS cannot be loaded. */
const cu_blas_api *cu_blas(gptc_error *err);

/* Experts whose gate and up the session's dequantisation workspace holds at once (the fast MoE
 * prefill: cuda/forward_gpt_oss.c): 4 x 2 x n_ff x n_embd fp16, 133 MB for gpt-oss-20b. */
#define CU_MOE_DQ_EXPERTS 4

/* ---- per-model device state ------------------------------------------------------------- */
typedef struct cu_layer {
    gtc_mat wq, wk, wv, wo, wqkv, router, gate, up, down, ffn_up, ffn_down;
    const float *attn_norm, *attn_norm_b, *bq, *bk, *bv, *bo, *bqkv, *sinks, *ffn_norm, *ffn_norm_b,
        *router_b, *gate_b, *up_b, *down_b, *ffn_up_b, *ffn_down_b;
    int64_t gate_bs, up_bs, down_bs; /* bias strides (floats) between experts */
    int host_moe; /* 1: this layer's experts stay in host memory and run on the CPU threads
                     (--n-cpu-moe; gate/up/down and their biases are not on the device) */
} cu_layer;

/* Workspace of gptc_decode_multi (several sessions, one token each), grown on demand; the
 * other activations live in the first session's workspace. hdr = ids, positions and the
 * sessions' cache pointers, filled in pinned memory and sent in one copy. */
typedef struct cu_multi {
    int cap;
    void *dev, *pin;
    size_t hdr_bytes, bytes;
    int32_t *ids, *pos; /* [cap] */
    void **kc, **vc;    /* [cap] */
    float *logits;      /* [cap][n_vocab] */
    float *yk;          /* [cap * k][n_embd] */
    float *g, *u;       /* [cap * k][n_ff] gate / up products */
    int32_t *grp, *list;
    /* host scratch of the grouping of sessions into passes (grown, never shrunk) */
    gptc_session **h_grp;
    int32_t *h_gid;
    unsigned char *h_done;
    int h_cap;
} cu_multi;

typedef struct cu_model {
    int dev;
    cudaStream_t st;
    const cu_blas_api *bl; /* cuBLAS functions */
    cublasHandle_t blas;
    uint8_t *arena;
    size_t arena_bytes;
    gtc_mat tok_embd, pos_embd, output;
    int has_pos;
    const float *output_norm, *output_norm_b;
    cu_layer *L;
    float *inv_freq; /* RoPE table (NULL: no RoPE) */
    float mscale;
    size_t dq_elems;      /* f16 dequant workspace elements per session */
    size_t dq_exact;      /* of which the exact prefill products use (their chunking as before
                             the fast MoE path grew the workspace: the same GEMM shapes) */
    uint64_t budget;      /* --vram-budget (0: none): sessions are refused past it too */
    int n_cpu_moe;        /* layers 0..n_cpu_moe-1 keep their experts in host memory (m->pool runs
                             them: cuda/offload.c) */
    uint64_t host_bytes;  /* bytes of those expert weights (not uploaded) */
    cudaEvent_t sync_ev;  /* offload only: the blocking-sync event the host sleeps on (cu_sync) */
    struct cu_xlayer *xl; /* [n_cpu_moe] each offloaded layer's expert sources (streaming) */
    cu_layer *Lx;         /* [n_cpu_moe] the layer views with the experts in the stream buffer */
    struct cu_xfer *xf;   /* the stream buffers (cuda/offload.c), made on first use */
    size_t x_bytes;       /* the stream buffer: the largest offloaded layer's expert bytes */
    double h2d_Bps;       /* host-to-device rate of the load's upload (bytes/s) */
    cu_multi mw;
} cu_model;

struct cu_prof;

typedef struct cu_sess {
    int B, n_ctx, qkv_w, maxw;
    int ring;         /* rows of a sliding-window layer's cache (n_ctx: no ring) */
    int swa_only;     /* truncate's rebuild: store K/V of the window layers only */
    int kv_type;      /* GTC_KV_* */
    uint8_t *kc, *vc; /* caches, layer after layer: [n_ctx or ring] rows (cu_kv_layer_off) */
    size_t kv_bytes, ws_bytes;
    float *x, *qkv, *attn, *ffn, *tmp, *logits, *part, *rlog, *wts, *g, *y;
    gtc_act a, b, hact;
    int32_t *ids_tok, *ids_exp, *perm_tok, *pos, *sampled, *grp;
    int32_t *perm_exp, *perm_inv; /* fast MoE prefill: row j's expert; slot t k + j's row */
    int32_t *mtiles, *h_mtiles;   /* its token tiles for gtc_moe_mma (GPTC_CUDA_MOE_MMA):
                                     device copy, pinned staging; 2 GTC_MOE_MMA_MAX_TILES */
    unsigned *tickets;  /* router top-k: per-token block counters (kept zero between calls) */
    unsigned *attn_cnt; /* attention: per (token, KV head) split counters (kept zero) */
    float *perm_w;
    uint16_t *dq, *xg16, *h16;
    size_t tmp_elems;
    void *h_pin; /* pinned host staging */
    int32_t *h_tok, *h_ids, *h_perm, *h_pexp, *h_pinv;
    float *h_wts, *h_permw, *h_logits;
    void *smp_ws; /* gtc_sample workspace (its own cudaMalloc) */
    size_t smp_ws_bytes;
    int32_t *d_hist, *h_hist;  /* [n_ctx] penalty window: device copy, pinned staging */
    gtc_bias *d_bias, *h_bias; /* [GPTC_LOGIT_BIAS_MAX] logit biases (after the window) */
    uint32_t *d_mask, *h_mask; /* constraint mask (made on first use): device copy, pinned */
    float *d_masked;           /* the logits with the mask applied (the logits stay as they are) */
    struct cu_offload *off;    /* expert offload state (cuda/offload.c), NULL when no layer has
                                  its experts in host memory */
    float *moe_out;            /* [B][n_embd] the CPU experts' sums, copied up (offload only) */
    cudaGraphExec_t graph[GTC_GRAPH_BUCKETS]; /* decode graphs, by gtc_graph_bucket */
    struct cu_prof *prof;
    void *blob; /* one cudaMalloc for everything above */
} cu_sess;

/* Batches of at most gemv_max_t tokens use the GEMV kernels (one weight pass per token);
 * larger ones the dequantise + cuBLAS path (packed formats: the GEMV kernels up to mmq_max_t). MoE
 * batches of at least moe_grouped_min_t tokens are grouped by expert (cuBLAS), smaller ones use the
 * decode kernels. Batches of 2..mmq_max_t tokens (and every gptc_decode_multi step) use the int8
 * tensor-core kernels (gtc_mmq) for Q8_0 / MXFP4 weights instead, MoE grouped by expert on the
 * device. Debug/tuning knobs: GPTC_CUDA_GEMV_MAX_T, GPTC_CUDA_MOE_GROUPED_MIN_T,
 * GPTC_CUDA_MMQ_MAX_T, GPTC_CUDA_MOE_MMQ_MAX_T, GPTC_CUDA_PREFILL_EXACT. GPTC_CUDA_PDL
 * (programmatic dependent launch of the decode kernels) is read by the kernel layer itself
 * (gtc_pdl_on, cuda/common.cu), so the kernel tests see it too. */
typedef struct cu_knobs {
    int gemv_max_t, moe_grouped_min_t, mmq_max_t;
    int offload_stream; /* GPTC_CUDA_OFFLOAD_STREAM: -1 by cost (default), 0 never, 1 always */
    int prefill_exact;  /* GPTC_CUDA_PREFILL_EXACT=1: the exact prefill products for every cache
                           type (cu_exact) */
    int moe_mmq_max_t;  /* GPTC_CUDA_MOE_MMQ_MAX_T: largest batch whose Q8_0 / MXFP4 experts take
                           the tensor-core kernels (-1, the default: mmq_max_t; tuning: the
                           experts read their packed weights there, no fp16 copy) */
    int graph_buckets;  /* GPTC_CUDA_GRAPH_BUCKETS=1: one decode graph per context bucket
                           (gtc_graph_bucket), the attention split by the bucket's end instead of
                           n_ctx; default 0 (not yet measured on a GPU) */
    int moe_mma;        /* GPTC_CUDA_MOE_MMA=1: the fast MoE prefill multiplies the experts on
                           the tensor cores straight from their GGUF blocks (gtc_moe_mma, one
                           launch per matrix) instead of dequantising them for cuBLAS; default 0
                           (not yet measured on a GPU) */
    int gemm_memset;    /* GPTC_CUDA_GEMM_MEMSET=1: zero each cuBLAS output before the GEMM (a
                           diagnosis for compute-sanitizer initcheck, which reports the epilogue
                           reading the GEMM's output as uninitialised); default 0 */
} cu_knobs;
extern cu_knobs cu_knob;

/* ---- one forward pass ---------------------------------------------------------------------- */
typedef struct gt_cuda_fw {
    gptc_model *m;
    cu_model *cm;
    cu_sess *cs;
    cudaStream_t st;
    gptc_error *err;
    struct cu_prof *prof;
    FILE *trace; /* GPTC_CUDA_TRACE: this forward's stages are written here (debug) */
    int pos;
    const int32_t *ids; /* device token ids of this forward */
    const gtc_seqs *sq; /* decode_multi: per-token positions and caches (else NULL) */
    int max_pos;        /* the attention's largest position (sets its split count); 0: n_ctx - 1 */
} cu_fw;

gptc_status cu_error(gptc_error *err, const char *what); /* "CUDA: what: <gtc_last_error>" */
/* A gtc_* call (0 = ok) / a CUDA runtime call; on failure: return the error. */
#define CU_TRYK(call, what)                                                                        \
    do {                                                                                           \
        if ((call) != 0) return cu_error(err, what);                                               \
    } while (0)
#define CU_TRYC(call)                                                                              \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return gt_err(err, GPTC_ERR_DEVICE, "CUDA: %s: %s", #call, cudaGetErrorString(e_));    \
    } while (0)
/* CU_TRYK inside a forward (F in scope), then a profiler mark named `what` */
#define CU_TRYF(call, what)                                                                        \
    do {                                                                                           \
        if ((call) != 0) return cu_error(err, what);                                               \
        cu_prof_mark(F, what);                                                                     \
    } while (0)
#define CU_TRY(x)                                                                                  \
    do {                                                                                           \
        gptc_status st_ = (x);                                                                     \
        if (st_ != GPTC_OK) return st_;                                                            \
    } while (0)

/* ---- building blocks (cuda/forward.c) ----------------------------------------------------- */
/* a with row length n */
gtc_act cu_act_view(const gtc_act *a, int n);
/* 1 when this T-token product goes to the tensor-core kernels (gtc_mmq). */
int cu_use_mmq(const cu_fw *F, int T, const gtc_mat *W, const gtc_act *x);
/* 1 when this T-token product (2..mmq_max_t tokens, or decode_multi) of a packed-format weight
 * goes to the integer GEMV kernels (no tensor-core kernel for those formats yet). */
int cu_use_pk_gemv(const cu_fw *F, int T, const gtc_mat *W, const gtc_act *x);
/* cu_use_mmq || cu_use_pk_gemv: a small batch on an integer path */
int cu_small_int(const cu_fw *F, int T, const gtc_mat *W, const gtc_act *x);
/* 1 when the fp16 copy of a weight type is not exact (the exact GEMM then also multiplies the
 * lo half): every type but MXFP4 (doubled E2M1 x power of two) and F16. */
int cu_wsplit(uint32_t type);
/* Precision of the dequantise + cuBLAS products (prompt batches above mmq_max_t tokens):
 * 1 (exact) when the session's KV cache is f32 or GPTC_CUDA_PREFILL_EXACT=1: split fp16
 * activations [x hi; x lo] (2T columns) and, for types cu_wsplit names, [W hi; W lo] rows, which
 * carry ~22 bits (within ~1e-6 of the fp32 CPU); 0 (fast, the f16 / q8_0 caches): one fp16 copy
 * of each (f16(x) x f16(W), T columns), a quarter of the GEMM work for Q8_0 / K-quants, half
 * for MXFP4 / F16, within the statistical contract of docs/benchmarks.md. */
int cu_exact(const cu_fw *F);
/* out[t][r] (stride ldo) = (add ? out : 0) + act(W x_t + bias) for T tokens. */
gptc_status cu_linear(cu_fw *F, const gtc_mat *W, const gtc_act *x, int T, float *out, int ldo,
                      const float *bias, int add, int act, const char *nm);
/* cs->x = token (+ position) embeddings of the forward's T tokens */
gptc_status cu_embed(cu_fw *F, int T);
/* cs->a = norm(x) (and its int16 / fp16 copies) for T rows of n_embd */
gptc_status cu_norm(cu_fw *F, const float *x, int T, int norm, const float *w, const float *b);
/* norm(x) then out = (add ? out : 0) + act(W norm(x) + bias) (T rows of n_embd): one launch
 * (gtc_gemv_norm) when the product takes the GEMV path with float weights, else cu_norm (into
 * cs->a) and cu_linear. */
gptc_status cu_linear_norm(cu_fw *F, const float *x, int norm, const float *nw, const float *nb,
                           const gtc_mat *W, int T, float *out, int ldo, const float *bias, int add,
                           int act, const char *nm);
/* 1 when cu_linear of W over T tokens reads only the fp32 activations (a GEMV of float
 * weights), so they need no int16 / fp16 copies */
int cu_reads_f32_only(const cu_fw *F, int T, const gtc_mat *W);
/* Separate q, k, v projections of cs->a into cs->qkv (one launch when it can). */
gptc_status cu_qkv(cu_fw *F, const cu_layer *C, int T);
/* RoPE + KV store + attention of layer l over cs->qkv, then x += o-projection. */
gptc_status cu_attention(cu_fw *F, int l, int T);
/* Output norm + LM head: the last token's logits into cs->logits (every token's into logits_all
 * when given, or into the multi workspace for decode_multi). */
gptc_status cu_output(cu_fw *F, int T, int norm, float *logits_all);
/* 1 when the forward should stop (interrupt) before layer l */
int cu_cancelled(const cu_fw *F, const gptc_session *s, int T);
/* bytes before layer l's K (or V) cache */
size_t cu_kv_layer_off(const gptc_model *m, const cu_sess *cs, int l);

/* ---- expert offload (cuda/offload.c) ----------------------------------------------------
 * An offloaded layer's MoE in a forward of T tokens: the GPU routes (router + top-k on the
 * device) and normalises; the normed input, the expert ids and weights go to pinned host buffers
 * (cudaMemcpyAsync); a host node (cudaLaunchHostFunc) runs the experts on the CPU threads
 * (engine/moe.h gt_moe_experts, the CPU backend's kernels); the sums come back up and are added
 * into the residual on the device. Everything is ordered by the one stream, so the decode step
 * stays one captured CUDA graph (the host nodes are part of it) and the host thread does not
 * sync per layer. cu_offload_init / _free: a session's pinned buffers, CPU scratch and host-node
 * contexts (when cm->n_cpu_moe > 0). cu_offload_check: after the stream is synchronised, the
 * error a host node recorded (an expert id out of range), once. */
gptc_status cu_offload_init(gptc_model *m, cu_sess *cs, gptc_error *err);
void cu_offload_free(cu_sess *cs);
gptc_status cu_moe_host(cu_fw *F, int l, int T);
gptc_status cu_offload_check(cu_sess *cs, gptc_error *err);
/* Host bytes a session of n_batch B needs for the offload (pinned buffers + CPU scratch). */
size_t cu_offload_host_bytes(const gptc_model *m, int B);
/* Prefill streaming: for a forward of T >= 2 tokens (not decode_multi) an offloaded layer's
 * experts may instead be copied up into one device buffer (cm->xbuf, pinned chunks, repacked as
 * at load) and run by the GPU's own MoE path on the views cm->Lx[l]: when the copy (layer bytes /
 * host-to-device rate) takes less than the CPU experts would (T x the CPU's measured time per
 * token and layer). The buffers are made on the first forward that wants them, and only if the
 * device (and --vram-budget) has room: else the CPU runs the experts as before.
 * GPTC_CUDA_OFFLOAD_STREAM=0 / 1 forces never / always (T >= 2). cu_stream_layer: 1 when layer l
 * was streamed (the caller then runs cm->Lx[l] and calls cu_stream_done), 0 when the CPU is to
 * run it, or -1 on error (err set). */
int cu_stream_layer(cu_fw *F, int l, int T);
int cu_layer_at(const gptc_model *m, cu_model *cm, int l, const uint8_t *base);
void cu_stream_done(cu_fw *F);
void cu_xfer_free(gptc_model *m);
/* One offloaded layer's expert sources (gate/up/down and biases) and their offsets in the
 * stream buffer; n = -1: not streamable. */
#define CU_XL_MAX 8
typedef struct cu_xlayer {
    int n;
    const gguf_tensor *t[CU_XL_MAX];
    size_t off[CU_XL_MAX];
} cu_xlayer;

/* ---- profiler and trace (cuda/profile.c) ------------------------------------------------ */
/* GPTC_CUDA_PROFILE=1: events between the kernels of each forward, summed per kernel class;
 * decode runs uncaptured then. Printed to stderr when the session is freed. */
struct cu_prof *cu_prof_new(void);
void cu_prof_free(struct cu_prof *p);
void cu_prof_mark(cu_fw *F, const char *nm);
void cu_prof_end(cu_fw *F, int mode); /* mode: 0 decode, 1 prefill, 2 decode_multi */
/* Debug trace (GPTC_CUDA_TRACE=<file>, GPTC_CUDA_TRACE_POS=<p>[,<p>...]): a single-token forward
 * at one of those positions runs uncaptured and appends "name layer pos n v0 v1 ..." lines for
 * every stage to the file; test/cuda/trace_oss.c compares them with an fp32 CPU forward. */
FILE *cu_trace_open(int pos);
void cu_trace_put(cu_fw *F, const char *name, int l, const void *dev, int n, int ints);

#endif
