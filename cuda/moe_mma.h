/* moe_mma.h — the grouped tensor-core GEMM of the fast MoE prefill (cuda/moe_mma.cu): every
 * used expert's product with its rows of the expert-sorted fp16 activations in one launch,
 * the weights read in their device layout (split / packed GGUF blocks) and dequantised tile by
 * tile into shared memory (no fp16 copy of the experts in device memory).
 *
 * The product (moe_fast's cuBLAS GEMM, per expert e with its c = cnt[e] rows at o = off[e]):
 *   out[(o + i) * ldo + r] = sum_c f16(W_e[r][c]) * x[(o + i) * kk + c],  i < cnt[e], r < n_rows
 * f16(W) the weight rounded to fp16 as gtc_dequant_f16_experts rounds it, fp32 accumulation,
 * fp32 out; out2 the same with w2 (gate and up in one launch). Nothing else of out is written.
 *
 * The token tile table (built on the host by gtc_moe_mma_tiles, uploaded by the caller): each
 * expert's rows cut into tiles of at most GTC_MOE_MMA_BN rows; tile j is two int32:
 *   tiles[2 j]     = first x / out row of the tile (off[e] + GTC_MOE_MMA_BN m)
 *   tiles[2 j + 1] = e << 8 | rows (1 .. GTC_MOE_MMA_BN; experts below 2^23)
 * Experts without rows have no tiles. At most GTC_MOE_MMA_MAX_TILES(n, E) tiles for n rows
 * over E experts. */
#ifndef GPTC_CUDA_MOE_MMA_H
#define GPTC_CUDA_MOE_MMA_H

#include <stdint.h>

#include "cuda/gtc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GTC_MOE_MMA_BN 64 /* token rows per tile */
#define GTC_MOE_MMA_MAX_TILES(n, E) ((n) / GTC_MOE_MMA_BN + (E))

typedef struct gtc_moe_mma_args {
    const gtc_mat *w;     /* [E][n_rows][kk] (a view: row0, expert_rows as gtc_mat) */
    const gtc_mat *w2;    /* NULL, or the same n_rows and n_cols (any supported type): out2 */
    const uint16_t *x;    /* [n][kk] fp16 rows sorted by expert (16-byte aligned) */
    int kk;               /* = w->n_cols, a multiple of 32 */
    const int32_t *tiles; /* device: [n_tiles][2], see above */
    int n_tiles;          /* < 65536 */
    float *out, *out2;    /* rows of ldo floats (out2 unused without w2) */
    int ldo;              /* >= n_rows */
} gtc_moe_mma_args;

/* 1 when gtc_moe_mma takes w: split Q8_0 / MXFP4, the packed formats (Q4_0 Q4_1 Q5_0 Q5_1 Q4_K
 * Q5_K Q6_K), raw F32 / F16 / BF16 / Q8_0 / MXFP4; n_cols a multiple of 32. */
int gtc_moe_mma_supported(const gtc_mat *w);
/* The product above (one launch; two when w2's type differs from w's). 0, or -1 with the
 * message in gtc_last_error() (unsupported type, kk != n_cols or not a multiple of 32, shapes,
 * launch failure). n_tiles == 0: nothing. */
int gtc_moe_mma(const gtc_moe_mma_args *a, gtc_stream st);
/* Host: the tile table of E experts with cnt[e] rows from row off[e] into tiles (room for cap
 * tiles, 2 cap int32). Returns the number of tiles, or -1 when cap is too small or an expert
 * index / count does not fit the encoding. */
int gtc_moe_mma_tiles(const int *cnt, const int *off, int E, int32_t *tiles, int cap);

#ifdef __cplusplus
}
#endif
#endif
