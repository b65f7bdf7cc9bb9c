/* attention.cuh — what the attention files share: the split record, the split count of prompt
 * batches, the launcher of the merge of split records (cuda/attention.cu) and the entry of the
 * tensor-core prompt kernel (cuda/attention_mma.cu). */
#ifndef GPTC_CUDA_ATTENTION_CUH
#define GPTC_CUDA_ATTENTION_CUH

#include "cuda/common.cuh"

/* A split's partial record in gtc_attn_args.part: m (the running maximum of its scores), l (the
 * sum of exp(score - m)), o[64] (the sum of exp(score - m) v). Record (t, h, sp) of nsp splits
 * is at part + ((t * n_head + h) * nsp + sp) * ATTN_PS; l = 0 marks a split without keys. */
#define ATTN_PS 66

/* Splits of a prompt batch of T tokens over at most n_keys keys (T = 1: one per 32 keys up to
 * 128; otherwise one per 256 keys up to 4): gtc_attn_part_floats sizes the workspace for these,
 * so no kernel may use more. */
int attn_tile_nsplit(int T, int n_keys);

/* Merges the ns split records of every (token, head) with the sinks into a->out (and the int16
 * copy a->qout when hd == 64): one launch, grid (n_head, T). */
int attn_combine(const gtc_attn_args *a, int ns, gtc_stream st);

/* The tensor-core prompt kernel (cuda/attention_mma.cu): attn_mma_wants(a) is 1 when it serves
 * the call (GPTC_CUDA_ATTN_MMA_MIN_T = N > 0 and T >= N, and a shape it supports), attn_mma
 * runs it (after the rope/store: a->fuse is already done). */
int attn_mma_wants(const gtc_attn_args *a);
int attn_mma(const gtc_attn_args *a, gtc_stream st);

#endif
