/* gtc.h — the CUDA kernel layer of gptc as a plain C API (raw device pointers, one stream).
 * Used by the backend (cuda/forward*.c, cuda/backend.c) and by the GPU tests in test/cuda/, which
 * check every kernel against its CPU twin (engine/ops.h, engine/quant.h).
 *
 * Device weight layout. Every matrix keeps its GGUF bytes, rearranged at upload (in place of
 * the raw copy, the same size). Q8_0 and MXFP4 are stored "split": the same blocks with their
 * quant bytes first ([rows][n_blocks][32 or 16] bytes, 16-byte aligned rows -> 16-byte loads)
 * and their scales after ([rows][n_blocks] f16 or E8M0). Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and
 * Q6_K are "packed" (also split = 1; cuda/packed.cuh): the low 4 bits of every 32-element
 * block as 16 bytes, then the fifth / sixth bits, then the scales, each in its own region.
 * F32 / F16 / BF16 keep the GGUF rows as is.
 * A gtc_mat is a view of rows of one uploaded source tensor (an expert slice, the gate half of
 * a fused gate_up tensor, ...).
 *
 * Activations for the matrix kernels come as a gtc_act: fp32 values plus (for the integer fast
 * paths, __dp2a: int16 x int8) int16 quantised copies in 32-element blocks with one fp32 scale
 * per block (amax / 32767), in natural order (q) and in the order the MXFP4 kernel consumes
 * (qi: 0,16,1,17,...,15,31 within a block), and an optional fp16 copy for the tensor-core
 * (cuBLAS) path. int16 rather than llama.cpp's int8 keeps the GPU within 1e-5 of the fp32 CPU
 * reference: with int8 activations the tiny random gpt-oss test model drifts by ~4% of its
 * logit range at the first token already (measured on the CPU by emulating the rounding). */
#ifndef GPTC_CUDA_GTC_H
#define GPTC_CUDA_GTC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *gtc_stream; /* = cudaStream_t; NULL = the default stream */

typedef struct gtc_mat {
    uint32_t type;       /* ggml type */
    int split;           /* 1: split / packed layout (block formats), 0: raw GGUF rows */
    const uint8_t *base; /* device copy of the source tensor */
    int64_t n_cols;      /* row length in elements (ne[0]) */
    int64_t n_rows;      /* rows per expert (ne[1]) */
    int64_t src_rows;    /* rows of the whole source tensor (split layout: scale offset) */
    int64_t row0;        /* source row of this view's row 0 (expert 0) */
    int64_t expert_rows; /* source rows between experts (0 for 2-D) */
    size_t row_bytes;    /* GGUF bytes per row */
} gtc_mat;

typedef struct gtc_act {
    float *f;    /* [T][n] fp32 */
    int16_t *q;  /* [T][n] int16, natural order (NULL: fast paths off) */
    int16_t *qi; /* [T][n] int16, MXFP4 order */
    float *s;    /* [T][n/32] scales of q / qi */
    int *qsum;   /* [T][n/32] sum of each block's q (offsets and mins of the packed formats;
                    NULL: those formats take the fp32 path) */
    uint16_t *h; /* [2T][n] split fp16 (NULL: not produced): rows [0, T) hi = f16(x), rows
                    [T, 2T) lo = f16(x - hi); a GEMM over both (2T columns) summed in the
                    epilogue carries ~22 bits of the activation (cuBLAS path) */
    int n;       /* row length (multiple of 32 when q != NULL) */
} gtc_act;

enum { GTC_ACT_NONE = 0, GTC_ACT_GELU = 1 };
enum { GTC_NORM_NONE = 0, GTC_NORM_RMS = 1, GTC_NORM_LAYER = 2 };

/* 1 when this type is stored split on the device. */
int gtc_type_split(uint32_t type);
/* 1 when this type is stored in the packed layout (Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K). */
int gtc_type_packed(uint32_t type);
/* 1 when the kernels support the type as a matrix. */
int gtc_type_supported(uint32_t type);

/* Several sequences decoded together (gptc_decode_multi, one token each): token t has its own
 * position pos[t] and its own session's caches kc[t] / vc[t] (device arrays of device pointers),
 * layer_off bytes into them (every session of one call has the same cache layout). pos = NULL:
 * one sequence (positions *d_pos0 + t, one cache). */
typedef struct gtc_seqs {
    const int32_t *pos;
    void *const *kc;
    void *const *vc;
    size_t layer_off;
} gtc_seqs;

/* KV cache element types (the --cache-type values): fp32, fp16, or ggml Q8_0 blocks of 32
 * elements along each row (34 bytes: f16 scale d = amax / 127, 32 int8 round(x / d)). */
enum { GTC_KV_F32 = 0, GTC_KV_F16 = 1, GTC_KV_Q8_0 = 2 };
/* Bytes of one cache row of n elements (Q8_0: n a multiple of 32). */
size_t gtc_kv_row_bytes(int kv_type, int n);

/* ---- memory / upload ---------------------------------------------------------------------- */
int gtc_malloc(void **p, size_t bytes); /* 0 on success */
void gtc_free(void *p);
int gtc_h2d(void *dst, const void *src, size_t bytes);
int gtc_d2h(void *dst, const void *src, size_t bytes);
int gtc_sync(void);
const char *gtc_last_error(void); /* message of the last failed CUDA call in this layer */
/* 1 when the decode kernels are started with programmatic dependent launch (PDL): the knob
 * GPTC_CUDA_PDL (read once; default on, 0 turns it off) on a device of compute capability 9.0 or
 * newer running code built for it (sm_90a; not a newer card's JIT of the compute_80 PTX). */
int gtc_pdl_on(void);

/* The decode graph bucket of position pos (GPTC_CUDA_GRAPH_BUCKETS=1: one captured decode graph
 * per bucket, its attention split up to the bucket's end): bucket b holds positions below
 * 256 << b, the last one ends at n_ctx; *max_pos gets the bucket's last position. */
#define GTC_GRAPH_BUCKETS 16 /* 256 << 15 positions: more than any context */
int gtc_graph_bucket(int n_ctx, int pos, int *max_pos);

/* Repacks raw GGUF rows [row_start, row_start + n_rows) (device memory `raw`) of a tensor with
 * src_rows rows into its split / packed layout at dst (the types of gtc_type_split). */
int gtc_repack_split(uint32_t type, const void *raw, uint8_t *dst, int64_t n_cols, int64_t src_rows,
                     int64_t row_start, int64_t n_rows, gtc_stream st);
/* Convenience for tests: uploads a host GGUF tensor of `rows` rows (any supported type) to a new
 * device buffer in its device layout (split or raw); fills *m for a 2-D view of all rows
 * (n_rows = rows_per_expert, expert_rows = rows_per_expert when it is 3-D). */
int gtc_upload_matrix(uint32_t type, const void *host, int64_t n_cols, int64_t rows,
                      int64_t rows_per_expert, gtc_mat *m);

/* ---- activations -------------------------------------------------------------------------- */
/* For each of T rows of x[T][n]: optional norm (RMS: w; LayerNorm: w, b; eps), then write
 * out->f (may equal x), out->q/qi/s (if non-NULL) and out->h (if non-NULL). */
int gtc_prep_act(const float *x, int T, int n, int norm, const float *w, const float *b, float eps,
                 const gtc_act *out, gtc_stream st);

/* ---- matrix products ---------------------------------------------------------------------- */
/* T tokens (a warp takes one weight row through several tokens, so the weights come from
 * device memory about once per call; meant for decode and small batches):
 * y[t*ldy + r] = (add ? y : 0) + act(W row r . x_t + bias[r]) for r < n_rows.
 * Uses dp2a on x->q / x->qi for Q8_0 / MXFP4 (when present) and on x->q + x->qsum for the
 * packed formats, fp32 otherwise. */
typedef struct gtc_gemv_seg {
    gtc_mat w;
    const float *bias; /* [n_rows] or NULL */
    float *y;
    int add;
    int act;
    int ldy; /* floats between tokens' outputs (only read when T > 1) */
} gtc_gemv_seg;
/* Up to 3 matrices with the same input in one launch (q, k, v). */
int gtc_gemv(const gtc_gemv_seg *segs, int n_segs, const gtc_act *x, int T, gtc_stream st);

/* The norm of gtc_prep_act (norm, w, b, eps) folded into a GEMV of one segment with float weights
 * (F32, F16, BF16; n_cols a multiple of 8, T * n_cols <= 12000): y[t*ldy + r] = (add ? y : 0) +
 * act(W row r . norm(x_t) + bias[r]); x[T][n_cols] is not modified. gtc_gemv_norm_supported: 1
 * when (W, T) qualify; gtc_gemv_norm: -1 otherwise. */
int gtc_gemv_norm_supported(const gtc_mat *w, int T);
int gtc_gemv_norm(const gtc_gemv_seg *seg, const float *x, int T, int norm, const float *w,
                  const float *b, float eps, gtc_stream st);

/* Dequantises expert e of W to fp16 rows [r0, r0 + nr) into dst[nr][n_cols]; lo (may be NULL)
 * gets f16(v - f16(v)) (split fp16: hi + lo carry ~22 bits, so Q8_0 etc. stay exact). */
int gtc_dequant_f16(const gtc_mat *w, int64_t e, int64_t r0, int64_t nr, uint16_t *dst,
                    uint16_t *lo, gtc_stream st);
/* Up to GTC_DQ_MAX_EXP expert indices (by value into the kernel). */
#define GTC_DQ_MAX_EXP 16
typedef struct gtc_elist {
    int n;
    int32_t e[GTC_DQ_MAX_EXP];
} gtc_elist;
/* Every row of the experts el->e[0..n) of W to fp16 (round to nearest, no lo half), one launch:
 * expert el->e[x] to dst + x * dstride as [n_rows][n_cols]. -1 when n > GTC_DQ_MAX_EXP. */
int gtc_dequant_f16_experts(const gtc_mat *w, const gtc_elist *el, uint16_t *dst, int64_t dstride,
                            gtc_stream st);
/* Dequantises expert e row r of W to fp32 (embedding gather): dst[n_cols]. ids on device. */
int gtc_embed(const gtc_mat *w, const int32_t *d_ids, int T, float *dst, const gtc_mat *pos,
              const int32_t *d_pos0, gtc_stream st);

/* gtc_embed with a position per token (d_pos[T], GPT-2's learned positions). */
int gtc_embed_seqs(const gtc_mat *w, const int32_t *d_ids, int T, float *dst, const gtc_mat *pos,
                   const int32_t *d_pos, gtc_stream st);

/* ---- MoE (one token per grid row, decode path) ------------------------------------------ */
/* logits[T][E] -> ids[T][k] (descending, ties to the lower index), w[T][k] = softmax. */
int gtc_topk_softmax(const float *logits, int T, int E, int k, int32_t *ids, float *w,
                     gtc_stream st);
/* Router logits (W x_t + bias, W [E][n] any format, E <= 256) then top-k softmax, fused.
 * With lg_ws ([T][E] floats) and tickets ([T] zeroed unsigned, left zeroed) the rows are spread
 * over many blocks and the last one does the top-k; otherwise one block per token. */
int gtc_router_topk(const gtc_mat *w, const float *bias, const gtc_act *x, int T, int k,
                    float *lg_ws, unsigned *tickets, int32_t *ids, float *wts, gtc_stream st);
/* Test hooks: gtc_router_set_sk overrides GPTC_CUDA_ROUTER_SK (1: with lg_ws and tickets, raw
 * F32 / F16 / BF16 weights take one block of 8 warps per expert row, each warp an eighth of the
 * columns; 0, the default: a warp per row; -1: the environment again); gtc_router_sk_calls
 * counts the launches of that kernel. */
void gtc_router_set_sk(int on);
unsigned long gtc_router_sk_calls(void);
/* gtc_prep_act(x, T, n, GTC_NORM_RMS, nw, NULL, eps, out) and then gtc_router_topk(w, bias, out,
 * T, k, lg_ws, tickets, ids, wts) with the split router (GPTC_CUDA_ROUTER_SK) in one launch, with
 * the same results bit for bit (the decode step's ffn norm and router; the default warp-per-row
 * router sums its rows in another order). gtc_norm_router_supported: 1 when
 * GPTC_CUDA_NORM_ROUTER=1 (off by default until measured; gtc_norm_router_set is its test hook,
 * -1: the environment) and the call qualifies (T <= 8, raw F32 / F16 / BF16 router weights of
 * 1..256 rows and n columns, n >= 64 a multiple of 32); gtc_norm_router_topk refuses the others
 * (-1). gtc_norm_router_calls counts the launches. */
int gtc_norm_router_supported(const gtc_mat *w, int n, int T);
int gtc_norm_router_topk(const float *x, const float *nw, float eps, const gtc_act *out,
                         const gtc_mat *w, const float *bias, int T, int k, float *lg_ws,
                         unsigned *tickets, int32_t *ids, float *wts, gtc_stream st);
void gtc_norm_router_set(int on);
unsigned long gtc_norm_router_calls(void);
/* One MoE layer (its experts' weights and biases, experts bias strides apart) and the routing of
 * T tokens, shared by the MoE launchers below. */
typedef struct gtc_moe {
    gtc_mat gate, up, down;
    const float *bgate, *bup, *bdown; /* [E][...] or NULL */
    int64_t bgu_stride, bdown_stride; /* floats between experts' gate/up and down biases */
    int E, k;                         /* experts, experts per token */
    float alpha, limit;               /* clamped SwiGLU (gpt-oss) */
} gtc_moe;
typedef struct gtc_route {
    int T;
    const int32_t *ids;        /* [T][k] expert of each (token, slot) */
    const float *wts;          /* [T][k] its weight (per-token kernels) or [T*k] pairs */
    const int32_t *grp, *list; /* the grouping of gtc_moe_group (grouped kernels) */
} gtc_route;
/* Per token (decode): for each token t and slot j: e = ids[t][j]; h[t][j][:] =
 * swiglu(gate_e.x_t + bg_e, up_e.x_t + bu_e); writes hact (f: [T*k][n_ff], q/qi/s) for the
 * down kernel, which does x[t][r] += sum_j w[t][j] (down_e . h[t][j] + bd_e[r]). */
int gtc_moe_gate_up(const gtc_moe *m, const gtc_route *r, const gtc_act *x, const gtc_act *hact,
                    gtc_stream st);
int gtc_moe_down(const gtc_moe *m, const gtc_route *r, const gtc_act *hact, float *x,
                 gtc_stream st);
/* Test hooks: gtc_moe_set_gu_rpw overrides GPTC_CUDA_MOE_GU_RPW (2 or 4: the MXFP4 gate/up
 * kernel with that many row pairs per warp; 0, the default: one pair per warp; -1: the
 * environment again); gtc_moe_rpw_calls counts the launches of that kernel. */
void gtc_moe_set_gu_rpw(int rpw);
unsigned long gtc_moe_rpw_calls(void);

/* MoE grouped by expert on the device (several tokens; each selected expert's weights are read
 * once per call instead of once per token):
 * gtc_moe_group: the T*k (token, slot) pairs p = t*k + j of ids[T][k] by expert: grp[e] = count,
 *   grp[E + e] = start in list, list[] = pairs of expert e in increasing order. T*k <= 8192.
 * gtc_moe_gate_up_grouped: the same hact rows (row p) as gtc_moe_gate_up.
 * gtc_moe_down_grouped: yk[p][n_embd] = wts[p] (down_e . h[p] + bd_e), then
 *   x[t][r] += sum_j yk[t*k + j][r] (j in order). */
int gtc_moe_group(const int32_t *ids, int T, int k, int E, int32_t *grp, int32_t *list,
                  gtc_stream st);
int gtc_moe_gate_up_grouped(const gtc_moe *m, const gtc_route *r, const gtc_act *x,
                            const gtc_act *hact, gtc_stream st);
int gtc_moe_down_grouped(const gtc_moe *m, const gtc_route *r, const gtc_act *hact, float *yk,
                         float *x, gtc_stream st);

/* Tensor-core (int8 MMA) products of several tokens for Q8_0 / MXFP4 weights (split layout)
 * with int16 activations (x->q): the same integer block sums as gtc_gemv, the weights read
 * once per 32 tokens. gtc_mmq_supported: 1 when (w, x) qualify.
 * gtc_mmq: like gtc_gemv (up to 3 segments with the same n_cols, ldy, add, act).
 * gtc_mmq_grouped: per expert e (grouping of gtc_moe_group), for each pair p of e:
 *   y[p][r] = (wts ? wts[p] : 1) * (W_e row r . x[p / xdiv] + bias_e[r]) (expert biases
 *   bias_stride apart); w2 (may be NULL, same shape): y2 the same with W2 / bias2 in the same
 *   launch (gate and up). n_pairs: T k (the expected tokens per expert set the kernel's tile
 *   shape).
 * gtc_swiglu_q: h[p] = swiglu(g[p], u[p]) for n_pairs rows of stride ld, with h's int16 copies.
 * gtc_moe_sum: x[t][r] += sum_j yk[t*k + j][r]. */
int gtc_mmq_supported(const gtc_mat *w, const gtc_act *x);
int gtc_mmq(const gtc_gemv_seg *segs, int n_segs, const gtc_act *x, int T, gtc_stream st);
typedef struct gtc_mmq_group {
    const gtc_mat *w, *w2; /* w2 may be NULL */
    const float *bias, *bias2;
    int64_t bias_stride, bias2_stride;
    float *y, *y2;
    int ldy;
    int E, n_pairs;
    const int32_t *grp, *list;
    int xdiv;         /* pair p reads x row p / xdiv */
    const float *wts; /* or NULL */
} gtc_mmq_group;
int gtc_mmq_grouped(const gtc_mmq_group *g, const gtc_act *x, gtc_stream st);
int gtc_swiglu_q(const float *g, const float *u, int ld, int n_pairs, float alpha, float limit,
                 const gtc_act *h, gtc_stream st);
int gtc_moe_sum(const float *yk, int T, int k, int n, float *x, gtc_stream st);

/* ---- attention ---------------------------------------------------------------------------- */
/* One attention layer's arguments, shared by gtc_rope_store and gtc_attention.
 * gtc_rope_store: RoPE (NeoX, inv_freq[hd/2] on device, NULL = no rope) on q[T] (n_head heads)
 *   and k (n_kv heads) at positions *d_pos0 + t (or seqs.pos[t]), then stores k and v into the
 *   caches kc/vc (row of n_kv * hd elements of kv_type; row = pos, or pos % ring when ring > 0:
 *   a sliding-window layer's ring of ring >= window - 1 + T rows); kc = vc = NULL (single
 *   sequence): rotate q and k only, store nothing. q/k/v rows: T rows of stride ld floats.
 * gtc_attention: attention of the T queries over the caches (key j at row j or j % ring;
 *   window > 0: keys p - window < j <= p), sinks[n_head] or NULL, into out[T][n_head * hd].
 *   part: workspace of gtc_attn_part_floats(T, n_head, n_ctx) floats. max_pos: the largest
 *   position (sets the split count; graphs pass n_ctx - 1). qout (may be NULL; a host
 *   pointer, read before the launch): also writes the int16 copy of out (q, qi, s of a gtc_act with
 * n = n_head * hd) when hd == 64. fuse: gtc_attention also does gtc_rope_store's work for these
 * tokens (the decode kernel, or the tile kernel with GPTC_CUDA_ATTN_TILE_FUSE, does it inside when
 * T == 1 or seqs.pos != NULL, and then leaves q in memory unrotated; otherwise gtc_attention
 * calls gtc_rope_store). cnt (may be NULL): gtc_attn_cnt_count(T, n_kv) zeroed counters (left
 * zeroed) with which the last split block of a head merges the splits itself (one launch instead of
 * two). Decode (when GPTC_CUDA_ATTN_VEC_MAX_T = N > 0: T <= N tokens, or seqs.pos; hd = 64, n_head
 * / n_kv in 1, 2, 4, 8) runs a kernel that reads each K/V row once for the n_head / n_kv heads that
 * share it and splits the keys by the token's own depth (on the device), so a captured graph fills
 * the GPU at any depth. The fp32 cache keeps the GPU within 1e-5 of the fp32 CPU reference; fp16
 * (llama.cpp's default) and Q8_0 halve / quarter the memory and are judged statistically
 * (perplexity and KL divergence against the CPU, docs/benchmarks.md). */
typedef struct gtc_attn_args {
    float *q;
    const float *k, *v;
    int ld, T, n_head, n_kv, hd;
    const float *inv_freq; /* RoPE table or NULL */
    float mscale;
    const int32_t *d_pos0; /* single sequence: device position of token 0 */
    gtc_seqs seqs;         /* seqs.pos != NULL: per-token positions and caches */
    void *kc, *vc;         /* single sequence: this layer's caches */
    int kv_type, ring;
    int max_pos, window;
    const float *sinks;
    float scale;
    float *part, *out;
    const gtc_act *qout;
    int fuse;
    unsigned *cnt;
} gtc_attn_args;
size_t gtc_attn_part_floats(int T, int n_head, int n_ctx);
size_t gtc_attn_cnt_count(int T, int n_kv);
int gtc_rope_store(const gtc_attn_args *a, gtc_stream st);
int gtc_attention(const gtc_attn_args *a, gtc_stream st);
/* Knobs of the attention kernels, for the tests (-1: back to the environment's value; each
 * default is documented in docs/architecture.md): gtc_attn_set_tile_vec (GPTC_CUDA_ATTN_TILE_VEC:
 * the prompt kernel loads 8 cache elements at once), gtc_attn_set_combine_par
 * (GPTC_CUDA_ATTN_COMBINE_PAR: the merge of split records spread over a warp),
 * gtc_attn_set_mma_min_t (GPTC_CUDA_ATTN_MMA_MIN_T: prompt batches of at least this many tokens
 * on the tensor-core kernel; 0: never). gtc_attn_mma_calls: launches of the tensor-core kernel
 * so far (a test's proof that it ran). */
void gtc_attn_set_tile_vec(int on);
/* GPTC_CUDA_ATTN_TILE_FUSE: with fuse and one token per sequence the tile kernel applies RoPE
 * and stores K/V itself (one launch instead of two); gtc_attn_tile_fuse_calls counts those
 * launches */
void gtc_attn_set_tile_fuse(int on);
/* the test hook of GPTC_CUDA_ATTN_VEC_MAX_T (the decode kernel's largest batch; 0: never) */
void gtc_attn_set_vec_max_t(int max_t);
unsigned long gtc_attn_tile_fuse_calls(void);
void gtc_attn_set_combine_par(int on);
void gtc_attn_set_mma_min_t(int min_t);
unsigned long gtc_attn_mma_calls(void);

/* ---- prefill helpers (tensor-core path) ---------------------------------------------------- */
/* out[t][r] (stride ldo) = (add ? out : 0) + act(sum + bias[r]) with sum = tmp[t][r]
 * (+ tmp[T + t][r] when split & 1: lo activations) (+ tmp[t][n + r] (+ tmp[T + t][n + r]) when
 * split & 2: lo weights), tmp rows of stride ldt. */
int gtc_epilogue(float *out, int ldo, const float *tmp, int ldt, int T, int n, const float *bias,
                 int add, int act, int split, gtc_stream st);
/* dst[i][:] = src[idx[i]][:] (fp16 rows of n). */
int gtc_gather_f16(const uint16_t *src, const int32_t *idx, int cnt, int n, uint16_t *dst,
                   gtc_stream st);
/* cnt rows of n GEMM products (the cuBLAS path): row i at y + i * ld; wlo > 0: the lo-weight
 * products at column offset wlo are added; split: the lo-activation rows at + cnt * ld are added.
 */
typedef struct gtc_rows {
    const float *y;
    int ld, wlo, split, cnt, n;
} gtc_rows;
/* h[i][j] = swiglu(g[i][j] + bg[j], u[i][j] + bu[j]) -> fp16 h[cnt][n] (g: the rows of gr; u: the
 * same layout at u); split: h also gets lo rows [cnt, 2cnt) (split fp16). */
int gtc_swiglu_f16(const gtc_rows *gr, const float *u, const float *bg, const float *bu,
                   float alpha, float limit, uint16_t *h, gtc_stream st);
/* gtc_swiglu_f16 with per-row expert biases: row i takes bg + rexp[i] * bgs and bu + rexp[i] *
 * bus (the fast MoE prefill: every expert's rows of a layer in one launch). */
int gtc_swiglu_f16_experts(const gtc_rows *gr, const float *u, const float *bg, int64_t bgs,
                           const float *bu, int64_t bus, const int32_t *rexp, float alpha,
                           float limit, uint16_t *h, gtc_stream st);
/* x[t][r] += sum_{j<k} wt[t k + j] (y[inv[t k + j]][r] + b[ids[t k + j] bs + r]) for T tokens,
 * y rows of n (b may be NULL): the experts' outputs, rows sorted by expert, summed back per
 * token in slot order (one launch, no atomics). */
int gtc_moe_combine(const float *y, const int32_t *inv, const int32_t *ids, const float *wt,
                    const float *b, int64_t bs, int T, int k, int n, float *x, gtc_stream st);
/* x[idx[i]][r] += wt[i] * (row i of yr, r + b[r]). */
int gtc_scatter_add(float *x, const gtc_rows *yr, const float *b, const int32_t *idx,
                    const float *wt, gtc_stream st);

/* ---- sampling ----------------------------------------------------------------------------- */
/* *out = argmax(logits[n]) (ties -> lower index), on the device. */
int gtc_argmax(const float *logits, int n, int32_t *out, gtc_stream st);
/* Device twin of gt_sampler_sample_u (engine/sampler.h; cuda/sample.cu): logit bias, penalties,
 * greedy, top-k, top-p, min-p, temperature and the draw with the host's uniform u in [0, 1) (the
 * host keeps the RNG: u = gt_rng_uniform() when temperature > 0, as gt_sampler_sample). Writes the
 * id to *d_out; no allocation, no host sync. d_hist[n_hist]: the context on the device (only its
 * last min(penalty_last_n or all, n_ctx) entries are read; passing just that tail is the same).
 * ws: gtc_sample_ws_bytes(n_vocab) bytes of device memory, reused across calls (one call at a
 * time per workspace); call gtc_sample_ws_bytes once at setup (it opts the selection kernel in
 * to 128 KiB of shared memory). Returns 0, or -1 with gtc_sample_last_error(). */
typedef struct gtc_bias { /* the layout of gptc_logit_bias (include/gptc.h) */
    int32_t id;
    float bias;
} gtc_bias;
typedef struct gtc_sample_params {
    float temperature; /* <= 0: greedy */
    int top_k;
    float top_p, min_p;
    float repeat_penalty, presence_penalty, frequency_penalty;
    int penalty_last_n;     /* -1: the whole history */
    int n_ctx;              /* the CPU sampler's window cap (gt_sampler_init's n_ctx) */
    const gtc_bias *d_bias; /* device array: logit biases added first (distinct ids) */
    int n_bias;
} gtc_sample_params;
size_t gtc_sample_ws_bytes(int n_vocab);
int gtc_sample(const float *d_logits, int n_vocab, const gtc_sample_params *p,
               const int32_t *d_hist, int n_hist, double u, void *d_ws, size_t ws_bytes,
               int32_t *d_out, gtc_stream st);
const char *gtc_sample_last_error(void);
/* The constraint mask (gptc_session_set_allowed): out[i] = logits[i], or -inf where bit i of
 * d_bits[i >> 5] is clear, i < n (out may be logits). */
int gtc_apply_mask(const float *d_logits, float *d_out, int n, const uint32_t *d_bits,
                   gtc_stream st);

#ifdef __cplusplus
}
#endif
#endif
