/* moe_mma.cu — the grouped tensor-core GEMM of the fast MoE prefill (cuda/moe_mma.h): all used
 * experts' products with their expert-sorted fp16 activation rows in one launch, the weights
 * dequantised from their device layout into shared memory tile by tile (fp16 mma.sync, fp32
 * accumulation), in place of gtc_dequant_f16_experts + one cuBLAS GEMM per expert.
 *
 * Tiling. A block (256 threads, 8 warps) makes the 128 x 64 tile out^T[m0 .. m0 + 128) x
 * [tile rows] of one expert: grid.x = 128-row tiles of the weight rows (ceil(n_rows / 128)),
 * grid.y = the token tiles of the table (expert, first row, 1..64 rows), grid.z = 2 when w2
 * (w2 -> out2) has w's format. The reduction runs in k-steps of 64 columns (two 32-blocks; the
 * last step holds one when kk % 64 == 32), two shared-memory stages:
 *   W  [2][128][64 + 8] fp16: thread t decodes block 2 s + (t & 1) of weight row m0 + t / 2
 *      (rows past n_rows: the last row again, never stored) and stores its 32 halves as four
 *      16-byte words; the 8-half pad (row stride 144 bytes) keeps these stores and the
 *      ldmatrix rows free of bank conflicts;
 *   X  [2][64][64 + 8] fp16: 16-byte cp.async per thread and stage (two each; rows past the
 *      tile's count zero-filled).
 * Step s: wait for X(s), barrier (W(s) and X(s) complete, every warp done with step s - 1's
 * stage); issue the global loads of step s + 1 (the raw weight block into registers, X by
 * cp.async into the other stage); the MMAs of step s; decode the raw block into the other W
 * stage. One barrier per step; the loads are in flight during the MMAs.
 * Warps: 4 along the weight rows (32 each: two m16 tiles) x 2 along the tokens (32 each: four
 * n8 tiles); per k16: two ldmatrix.x4 of A (W rows, row-major), two ldmatrix.x4 of B (X rows
 * are the "col" operand: an x4 gives b0 b1 of two n8 tiles, see cuda/mma.cuh), eight
 * m16n8k16 MMAs into acc[2][4][4] (C rows = weight rows, C columns = tokens). n8 tiles (and
 * warps) wholly past the tile's rows, and warps wholly past n_rows, skip their MMAs.
 * Epilogue: c[0..1] of (row g, tokens 2t, 2t + 1), c[2..3] of row g + 8 straight to
 * out[(first + token) * ldo + row] (eight lanes of a token write 32 contiguous bytes).
 *
 * Formats: split Q8_0 and MXFP4 and the packed formats load a block's bytes into registers
 * (pk_load of cuda/packed.cuh for the packed ones) and decode them after the MMAs with the same
 * arithmetic as dq32 (fp32 value, then round to nearest fp16, as gtc_dequant_f16_experts);
 * raw F32 / F16 / BF16 (and raw Q8_0 / MXFP4) go through dq32_unpacked at decode time (no
 * register prefetch). */
#include "cuda/mma.cuh"
#include "cuda/moe_mma.h"

#define MM_BM 128            /* weight rows per block */
#define MM_BN GTC_MOE_MMA_BN /* token rows per block */
#define MM_BK 64             /* columns per k-step */
#define MM_LD (MM_BK + 8)    /* halves per shared row */
#define MM_THREADS 256
#define MM_SMEM (2 * (MM_BM + MM_BN) * MM_LD * 2) /* bytes: two stages of W and X */
#define MM_GENERIC (-1)                           /* kernel variant: dq32_unpacked */

static_assert(MM_BM * MM_BK / 32 == MM_THREADS, "one 32-block per thread and k-step");
static_assert(MM_BN * MM_BK / 8 == 2 * MM_THREADS, "two 16-byte x chunks per thread and k-step");
static_assert(MM_BN == 64 && MM_BM == 128, "the warp layout assumes 128 x 64");

struct mm_params {
    gtc_mat w, w2;
    const uint16_t *x;
    const int2 *tiles;
    float *out, *out2;
    int kk, ldo;
};

__host__ __device__ constexpr bool mm_packed(int ty) {
    return ty == GGML_TYPE_Q4_0 || ty == GGML_TYPE_Q4_1 || ty == GGML_TYPE_Q5_0 ||
           ty == GGML_TYPE_Q5_1 || ty == GGML_TYPE_Q4_K || ty == GGML_TYPE_Q5_K ||
           ty == GGML_TYPE_Q6_K;
}

/* where this thread's weight row lives (the fields its format uses) */
struct mm_src {
    const uint8_t *q, *s;
    pk_row p;
};
/* the raw bytes of one 32-block (the fields its format uses) */
struct mm_raw {
    int4 q0, q1;
    uint32_t s;
    pk_blk pk;
};

template <int TY>
__device__ __forceinline__ void mm_src_at(const gtc_mat &w, int64_t srow, mm_src &S) {
    const size_t nb = (size_t)(w.n_cols / 32), r = (size_t)srow, R = (size_t)w.src_rows;
    if constexpr (TY == GGML_TYPE_Q8_0) {
        S.q = w.base + r * nb * 32;
        S.s = w.base + R * nb * 32 + r * nb * 2;
    } else if constexpr (TY == GGML_TYPE_MXFP4) {
        S.q = w.base + r * nb * 16;
        S.s = w.base + R * nb * 16 + r * nb;
    } else if constexpr (mm_packed(TY)) {
        S.p = pk_row_at(w, srow);
    }
}

/* block c of the row: its bytes into registers */
template <int TY> __device__ __forceinline__ void mm_load(const mm_src &S, int c, mm_raw &k) {
    if constexpr (TY == GGML_TYPE_Q8_0) {
        k.q0 = ldg4(S.q + (size_t)c * 32);
        k.q1 = ldg4(S.q + (size_t)c * 32 + 16);
        k.s = __ldg((const unsigned short *)S.s + c);
    } else if constexpr (TY == GGML_TYPE_MXFP4) {
        k.q0 = ldg4(S.q + (size_t)c * 16);
        k.s = __ldg((const unsigned char *)S.s + c);
    } else if constexpr (mm_packed(TY)) {
        pk_load<TY>(S.p, c, k.pk);
    }
}

/* block c of source row srow (loaded in k, or read now: MM_GENERIC) -> 32 halves at dst
 * (shared, 16-byte aligned) */
template <int TY>
__device__ __forceinline__ void mm_decode(const gtc_mat &w, int64_t srow, const mm_raw &k, int c,
                                          uint16_t *dst) {
    float v[32];
    if constexpr (TY == GGML_TYPE_Q8_0) {
        q8_decode32(k.q0, k.q1, h2f((uint16_t)k.s), v);
    } else if constexpr (TY == GGML_TYPE_MXFP4) {
        mxfp4_decode32(k.q0, e8m0_half(k.s), v);
    } else if constexpr (mm_packed(TY)) {
        pk_decode<TY>(k.pk, c, v);
    } else {
        dq32_unpacked(w, srow, c, v);
    }
    uint4 *o = (uint4 *)dst;
#pragma unroll
    for (int j = 0; j < 4; j++)
        o[j] = make_uint4(h2_pack(v[8 * j], v[8 * j + 1]), h2_pack(v[8 * j + 2], v[8 * j + 3]),
                          h2_pack(v[8 * j + 4], v[8 * j + 5]), h2_pack(v[8 * j + 6], v[8 * j + 7]));
}

/* 16 bytes global -> shared, asynchronously; n = 0: zeros (nothing read) */
__device__ __forceinline__ void mm_cp16(void *dst, const void *src, int n) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(n)
                 : "memory");
}
__device__ __forceinline__ void mm_cp_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void mm_cp_wait_all() {
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

template <int TY> __global__ void __launch_bounds__(MM_THREADS, 2) k_moe_mma(const mm_params P) {
    extern __shared__ int4 mm_smem[];
    uint16_t *const sw = (uint16_t *)mm_smem;    /* [2][MM_BM][MM_LD] */
    uint16_t *const sx = sw + 2 * MM_BM * MM_LD; /* [2][MM_BN][MM_LD] */
    pdl_wait(); /* x and the tile table come from the work before */
    pdl_trigger();
    const bool second = blockIdx.z != 0;
    const gtc_mat w = second ? P.w2 : P.w;
    float *const out = second ? P.out2 : P.out;
    const int2 tl = P.tiles[blockIdx.y];
    const int first = tl.x, e = tl.y >> 8, cnt = tl.y & 255;
    const int kk = P.kk, nb = kk / 32, nr = (int)w.n_rows, m0 = (int)blockIdx.x * MM_BM;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    /* decoding: block 2 s + dc of weight row m0 + dr */
    const int dr = tid >> 1, dc = tid & 1;
    const int64_t srow = w.row0 + (int64_t)e * w.expert_rows + min(m0 + dr, nr - 1);
    mm_src S;
    mm_src_at<TY>(w, srow, S);
    uint16_t *const wdst = sw + dr * MM_LD + 32 * dc;
    /* x chunks: 8 halves at column xc of tile rows xr and xr + 32 */
    const int xr = tid >> 3, xc = 8 * (tid & 7);
    const bool xok0 = xr < cnt, xok1 = xr + 32 < cnt;
    const uint16_t *const xs0 = xok0 ? P.x + (size_t)(first + xr) * kk + xc : P.x;
    const uint16_t *const xs1 = xok1 ? P.x + (size_t)(first + xr + 32) * kk + xc : P.x;
    uint16_t *const xd = sx + xr * MM_LD + xc;

    const int ns = (nb + 1) / 2; /* k-steps */
    mm_raw k;
    if (dc < nb) mm_load<TY>(S, dc, k);
    if (xc < kk) {
        mm_cp16(xd, xs0, xok0 ? 16 : 0);
        mm_cp16(xd + 32 * MM_LD, xs1, xok1 ? 16 : 0);
    }
    mm_cp_commit();
    if (dc < nb) mm_decode<TY>(w, srow, k, dc, wdst);

    const int wm = warp & 3, wn = warp >> 2, n0 = 32 * wn;
    const bool work = m0 + 32 * wm < nr && n0 < cnt; /* warp-uniform */
    /* this lane's ldmatrix rows: A rows 32 wm + (lane & 7) + 8 ((lane >> 3) & 1), column
     * 8 (lane >> 4); B (x) rows n0 + (lane & 7) + 8 (lane >> 4), column 8 ((lane >> 3) & 1) */
    const int aoff = (32 * wm + (lane & 7) + 8 * ((lane >> 3) & 1)) * MM_LD + 8 * (lane >> 4);
    const int boff = (n0 + (lane & 7) + 8 * (lane >> 4)) * MM_LD + 8 * ((lane >> 3) & 1);
    float acc[2][4][4];
#pragma unroll
    for (int t = 0; t < 2; t++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[t][j][c] = 0.f;

    for (int s = 0; s < ns; s++) {
        const int cur = s & 1, nxt = cur ^ 1;
        mm_cp_wait_all();
        __syncthreads();
        const int c1 = 2 * (s + 1) + dc; /* this thread's block of the next step */
        if (s + 1 < ns) {
            if (c1 < nb) mm_load<TY>(S, c1, k);
            const int col = MM_BK * (s + 1);
            if (col + xc < kk) {
                uint16_t *d = xd + nxt * MM_BN * MM_LD;
                mm_cp16(d, xok0 ? xs0 + col : P.x, xok0 ? 16 : 0);
                mm_cp16(d + 32 * MM_LD, xok1 ? xs1 + col : P.x, xok1 ? 16 : 0);
            }
            mm_cp_commit();
        }
        if (work) {
            const int nk = min(MM_BK, kk - MM_BK * s) / 16; /* k16 slices in this step */
            const uint16_t *wa = sw + cur * MM_BM * MM_LD + aoff;
            const uint16_t *xb = sx + cur * MM_BN * MM_LD + boff;
#pragma unroll
            for (int q = 0; q < MM_BK / 16; q++) {
                if (q < nk) {
                    uint32_t A[2][4];
                    ldmatrix_x4(A[0], wa + 16 * q);
                    ldmatrix_x4(A[1], wa + 16 * MM_LD + 16 * q);
#pragma unroll
                    for (int p = 0; p < 2; p++) {
                        if (n0 + 16 * p < cnt) { /* n8 tiles 2p, 2p + 1 */
                            uint32_t B[4];
                            ldmatrix_x4(B, xb + 16 * p * MM_LD + 16 * q);
                            mma_f16(acc[0][2 * p], A[0], B[0], B[1]);
                            mma_f16(acc[1][2 * p], A[1], B[0], B[1]);
                            if (n0 + 16 * p + 8 < cnt) {
                                mma_f16(acc[0][2 * p + 1], A[0], B[2], B[3]);
                                mma_f16(acc[1][2 * p + 1], A[1], B[2], B[3]);
                            }
                        }
                    }
                }
            }
        }
        if (s + 1 < ns && c1 < nb) mm_decode<TY>(w, srow, k, c1, wdst + nxt * MM_BM * MM_LD);
    }

    if (!work) return;
    const int g = lane >> 2, tq = lane & 3;
#pragma unroll
    for (int t = 0; t < 2; t++) {
        const int r = m0 + 32 * wm + 16 * t + g;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int i = n0 + 8 * j + 2 * tq;
            if (i < cnt) {
                float *o = out + (size_t)(first + i) * P.ldo;
                if (r < nr) o[r] = acc[t][j][0];
                if (r + 8 < nr) o[r + 8] = acc[t][j][2];
            }
            if (i + 1 < cnt) {
                float *o = out + (size_t)(first + i + 1) * P.ldo;
                if (r < nr) o[r] = acc[t][j][1];
                if (r + 8 < nr) o[r + 8] = acc[t][j][3];
            }
        }
    }
}

template <int TY> static int mm_go(const mm_params &P, dim3 grid, gtc_stream st) {
    /* the opt-in to more than 48 KiB of shared memory: per device, so at every launch (cheap;
     * a process may run models on two devices) */
    CK(cudaFuncSetAttribute(k_moe_mma<TY>, cudaFuncAttributeMaxDynamicSharedMemorySize, MM_SMEM));
    return gtc_launch("moe_mma", k_moe_mma<TY>, grid, dim3(MM_THREADS), MM_SMEM, st, P);
}

/* the kernel variant of w: its type (split / packed), MM_GENERIC (raw), or -2 (unsupported) */
static int mm_variant(const gtc_mat *w) {
    if (!w || w->n_cols <= 0 || w->n_cols % 32 || w->n_rows <= 0 || w->n_rows > (1 << 30) ||
        !w->base)
        return -2;
    const uint32_t t = w->type;
    if ((t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K) && w->n_cols % 256)
        return -2;
    if (w->split) return t == GGML_TYPE_Q8_0 || t == GGML_TYPE_MXFP4 || pk_type(t) ? (int)t : -2;
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 || t == GGML_TYPE_Q8_0 ||
                   t == GGML_TYPE_MXFP4
               ? MM_GENERIC
               : -2;
}

static int mm_launch(int v, const mm_params &P, dim3 grid, gtc_stream st) {
    if (v == GGML_TYPE_Q8_0) return mm_go<GGML_TYPE_Q8_0>(P, grid, st);
    if (v == GGML_TYPE_MXFP4) return mm_go<GGML_TYPE_MXFP4>(P, grid, st);
    if (v == MM_GENERIC) return mm_go<MM_GENERIC>(P, grid, st);
    int rc = -1;
    if (!pk_switch((uint32_t)v, [&](auto c) { rc = mm_go<decltype(c)::value>(P, grid, st); }))
        rc = -1;
    return rc;
}

static int mm_fail(const char *msg) {
    snprintf(gtc_err_buf, sizeof gtc_err_buf, "moe_mma: %s", msg);
    return -1;
}

extern "C" int gtc_moe_mma_supported(const gtc_mat *w) {
    return mm_variant(w) != -2;
}

extern "C" int gtc_moe_mma(const gtc_moe_mma_args *a, gtc_stream st) {
    if (!a || !a->w) return mm_fail("no weights");
    const int v = mm_variant(a->w), v2 = a->w2 ? mm_variant(a->w2) : v;
    if (v == -2 || v2 == -2) return mm_fail("unsupported weight type or shape");
    if (a->kk <= 0 || a->kk % 32 || a->kk != a->w->n_cols)
        return mm_fail("kk must be the weights' n_cols, a multiple of 32");
    if (a->w2 && (a->w2->n_cols != a->w->n_cols || a->w2->n_rows != a->w->n_rows))
        return mm_fail("w2 differs from w in shape");
    if (a->n_tiles < 0 || a->n_tiles > 65535) return mm_fail("n_tiles out of range");
    if (a->n_tiles == 0) return 0;
    if (a->ldo < a->w->n_rows || !a->out || (a->w2 && !a->out2) || !a->x || !a->tiles)
        return mm_fail("bad output / input arguments");
    if (((uintptr_t)a->x & 15) || ((uintptr_t)a->tiles & 7))
        return mm_fail("x must be 16-byte and tiles 8-byte aligned");
    mm_params P;
    memset(&P, 0, sizeof P);
    P.w = *a->w;
    P.w2 = a->w2 ? *a->w2 : *a->w;
    P.x = a->x;
    P.tiles = (const int2 *)a->tiles;
    P.out = a->out;
    P.out2 = a->w2 ? a->out2 : a->out;
    P.kk = a->kk;
    P.ldo = a->ldo;
    const unsigned gx = (unsigned)((a->w->n_rows + MM_BM - 1) / MM_BM);
    if (!a->w2 || v2 == v)
        return mm_launch(v, P, dim3(gx, (unsigned)a->n_tiles, a->w2 ? 2 : 1), st);
    /* w2 in another format: two launches (w2 -> out2 as the second one's w -> out) */
    if (mm_launch(v, P, dim3(gx, (unsigned)a->n_tiles, 1), st)) return -1;
    mm_params P2 = P;
    P2.w = P.w2;
    P2.out = P.out2;
    return mm_launch(v2, P2, dim3(gx, (unsigned)a->n_tiles, 1), st);
}

extern "C" int gtc_moe_mma_tiles(const int *cnt, const int *off, int E, int32_t *tiles, int cap) {
    int n = 0;
    for (int e = 0; e < E; e++) {
        if (cnt[e] < 0 || (cnt[e] > 0 && (e >= 1 << 23 || off[e] < 0))) return -1;
        for (int j = 0; j < cnt[e]; j += MM_BN) {
            if (n >= cap) return -1;
            const int rows = cnt[e] - j < MM_BN ? cnt[e] - j : MM_BN;
            tiles[2 * n] = off[e] + j;
            tiles[2 * n + 1] = (int32_t)((uint32_t)e << 8 | (uint32_t)rows);
            n++;
        }
    }
    return n;
}
