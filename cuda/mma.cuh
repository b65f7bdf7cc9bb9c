/* mma.cuh — warp-level tensor-core helpers shared by the fp16 MMA kernels (sm_80+):
 * mma.sync m16n8k16 (f16 x f16 -> f32) and the ldmatrix loads of its fragments from shared
 * memory.
 *
 * Fragments of mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 (lane = 4 g + t, g = 0..7,
 * t = 0..3; each 32-bit register holds two consecutive-k halves, the lower k in the low half):
 *   A (16 x 16, row-major): a[0] = (row g, k 2t..2t+1), a[1] = (row g + 8, k 2t..2t+1),
 *                           a[2] = (row g, k 2t+8..2t+9), a[3] = (row g + 8, k 2t+8..2t+9)
 *   B (16 x 8, "col": stored as 8 rows n of 16 k): b0 = (k 2t..2t+1, col g),
 *                           b1 = (k 2t+8..2t+9, col g)
 *   C (16 x 8, f32): c[0], c[1] = (row g, cols 2t, 2t+1), c[2], c[3] = (row g + 8, same cols)
 * ldmatrix.x4: lane l passes the address of row l % 8 of 8x8 matrix l / 8 (16 bytes each);
 * register j gets matrix j's (row l / 4, halves 2 (l % 4), +1) (.trans: the transposed matrix's).
 * So an A tile [16][16] at row-major shared memory is one x4 with lane l pointing at
 * row (l & 7) + 8 ((l >> 3) & 1), column 8 (l >> 4); two B tiles (n 0..7 and 8..15) of rows
 * [n][k] one x4 with lane l at row (l & 7) + 8 (l >> 4), column 8 ((l >> 3) & 1). */
#ifndef GPTC_CUDA_MMA_CUH
#define GPTC_CUDA_MMA_CUH

#include "cuda/common.cuh"

/* two floats as one register of two halves, rounded to nearest (lo in the low 16 bits: the
 * lower k of a fragment register, the lower address in memory) */
__device__ __forceinline__ uint32_t h2_pack(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *(const uint32_t *)&h;
}

/* c += A B (m16n8k16, f16 in, f32 accumulate) */
__device__ __forceinline__ void mma_f16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                        uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* four 8x8 b16 matrices from shared memory (p: this lane's row address, 16-byte aligned) */
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void *p) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
/* the same, each matrix transposed */
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void *p) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

#endif
