/* mmq.cu — tensor-core (int8 MMA, sm_80+) products of several tokens for Q8_0 / MXFP4 weights
 * with int16 activations split exactly into hi/lo bytes; plain and grouped by expert. */
#include "cuda/common.cuh"

/* ---- tensor-core matrix products for several tokens (int8 MMA, sm_80+) ------------------ */
/* The Q8_0 / MXFP4 weights are int8 per 32-block (MXFP4: doubled E2M1) with one scale per
 * block; the int16 activations split exactly into q = 256 hi + lo (hi signed, lo unsigned
 * bytes), so two m16n8k32 integer MMAs per block give the same integer block sums as the
 * dp2a GEMV (then scaled in fp32 per block, as there). */
__device__ __forceinline__ void mma_s8s8(int (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_s8u8(int (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.u8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
/* 4 MXFP4 bytes -> the 4 low-nibble values (elements j) and the 4 high-nibble ones (j + 16) */
__device__ __forceinline__ void mxfp4_unpack(uint32_t w, uint32_t &lo, uint32_t &hi) {
    uint32_t t = w & 0x0f0f0f0fu, u = (w >> 4) & 0x0f0f0f0fu;
    lo = (uint32_t)mxfp4_conv(__byte_perm(t | (t >> 4), 0, 0x0020));
    hi = (uint32_t)mxfp4_conv(__byte_perm(u | (u >> 4), 0, 0x0020));
}

typedef struct mmq_seg {
    gtc_mat w;         /* Q8_0 or MXFP4, split layout; every segment has the same n_cols */
    const float *bias; /* [n_rows] per expert, experts bstride apart (or NULL) */
    int64_t bstride;
    float *y;
    int tile0; /* first 16-row tile of this segment in grid.x */
} mmq_seg;

typedef struct mmq_args {
    mmq_seg seg[3];
    int nseg, tiles;
    gtc_act x; /* q (natural order) + s */
    int ldy, add, act;
    int T;              /* ungrouped: tokens; y row t, x row t */
    const int32_t *grp; /* grouped (blockIdx.y = expert): see gtc_moe_group */
    const int32_t *list;
    int E, xdiv;      /* grouped: pair p -> x row p / xdiv, y row p */
    const float *wts; /* grouped: y row p scaled by wts[p] */
} mmq_args;

/* streaming weight loads (read once: keep L1 for the activations) */
__device__ __forceinline__ uint32_t ldw32(const void *p) {
    return __ldcs((const unsigned int *)p);
}

/* grid (16 RT-row tiles of all segments, E or 1), 128 threads: 16 RT weight rows (RT m16 tiles
 * per warp: each activation fragment feeds RT MMAs); the 4 warps split the row's 32-blocks in
 * runs of U (all loads of a run issued before its MMAs, so enough bytes are in flight); tokens
 * in groups of 8 NT (NT n-tiles of 8); a shared-memory sum over the warps at the end. */
template <int NT, int U, int RT> __global__ void __launch_bounds__(128) k_mmq(mmq_args P) {
    __shared__ float red[4][16 * RT][8 * NT + 1];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    int e = 0, cnt = P.T, o = 0;
    if (P.grp) {
        e = blockIdx.y;
        cnt = P.grp[e];
        if (cnt == 0) return;
        o = P.grp[P.E + e];
    }
    int si = 0;
    while (si + 1 < P.nseg && (int)blockIdx.x >= P.seg[si + 1].tile0) si++;
    const mmq_seg &S = P.seg[si];
    const gtc_mat &w = S.w;
    const int n = P.x.n, nb = (int)(w.n_cols / 32), nr = (int)w.n_rows;
    const int r0 = ((int)blockIdx.x - S.tile0) * 16 * RT;
    const bool q8 = w.type == GGML_TYPE_Q8_0;
    const int qb = q8 ? 32 : 16; /* quant bytes per block */
    const uint8_t *qa[2 * RT];
    int64_t sr[2 * RT];
#pragma unroll
    for (int h = 0; h < 2 * RT; h++) { /* rows r0 + g + 8 h */
        sr[h] = w.row0 + (int64_t)e * w.expert_rows + min(r0 + g + 8 * h, nr - 1);
        qa[h] = w.base + (size_t)sr[h] * nb * qb;
    }
    const uint8_t *sc = w.base + (size_t)w.src_rows * nb * qb;
    const int nsb = n / 32;
    for (int tg0 = 0; tg0 < cnt; tg0 += 8 * NT) {
        const int nt = min(NT, (cnt - tg0 + 7) / 8);
        int xb[NT], xc0[NT], xc1[NT];
#pragma unroll
        for (int j = 0; j < NT; j++) {
            int ib = tg0 + 8 * j + g, ic = tg0 + 8 * j + 2 * tig;
            if (P.list) {
                xb[j] = ib < cnt ? P.list[o + ib] / P.xdiv : -1;
                xc0[j] = ic < cnt ? P.list[o + ic] / P.xdiv : -1;
                xc1[j] = ic + 1 < cnt ? P.list[o + ic + 1] / P.xdiv : -1;
            } else {
                xb[j] = ib < cnt ? ib : -1;
                xc0[j] = ic < cnt ? ic : -1;
                xc1[j] = ic + 1 < cnt ? ic + 1 : -1;
            }
        }
        float acc[RT][NT][4];
#pragma unroll
        for (int t = 0; t < RT; t++)
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int c = 0; c < 4; c++) acc[t][j][c] = 0.f;
        for (int b0 = U * warp; b0 < nb; b0 += 4 * U) {
            /* all loads of the run first: weights, weight scales, activations, their scales */
            uint32_t a[U][2 * RT][2];
            float d[U][2 * RT], s0[U][NT], s1[U][NT];
            int2 v[U][NT][2];
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int b = min(b0 + u, nb - 1); /* past the row end: loaded, never used */
#pragma unroll
                for (int h = 0; h < 2 * RT; h++) {
                    if (q8) {
                        const uint8_t *p = qa[h] + (size_t)b * 32 + tig * 4;
                        a[u][h][0] = ldw32(p);
                        a[u][h][1] = ldw32(p + 16);
                        const unsigned short *dp = (const unsigned short *)sc + sr[h] * nb;
                        d[u][h] = h2f((uint16_t)__ldcs(dp + b));
                    } else {
                        a[u][h][0] = ldw32(qa[h] + (size_t)b * 16 + tig * 4);
                        d[u][h] = e8m0_half(__ldcs((const unsigned char *)sc + sr[h] * nb + b));
                    }
                }
#pragma unroll
                for (int j = 0; j < NT; j++) {
                    v[u][j][0] = v[u][j][1] = make_int2(0, 0);
                    s0[u][j] = s1[u][j] = 0.f;
                    if (j < nt) {
                        if (xb[j] >= 0) {
                            const int16_t *xq =
                                P.x.q + (size_t)xb[j] * n + (size_t)b * 32 + tig * 4;
                            v[u][j][0] = __ldg((const int2 *)xq);
                            v[u][j][1] = __ldg((const int2 *)(xq + 16));
                        }
                        if (xc0[j] >= 0) s0[u][j] = __ldg(P.x.s + (size_t)xc0[j] * nsb + b);
                        if (xc1[j] >= 0) s1[u][j] = __ldg(P.x.s + (size_t)xc1[j] * nsb + b);
                    }
                }
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                if (b0 + u >= nb) break;
                uint32_t A[RT][4]; /* m16 tile t: rows g + 16 t (a0, a2), g + 8 + 16 t (a1, a3) */
#pragma unroll
                for (int t = 0; t < RT; t++) {
                    if (q8) {
                        A[t][0] = a[u][2 * t][0];
                        A[t][2] = a[u][2 * t][1];
                        A[t][1] = a[u][2 * t + 1][0];
                        A[t][3] = a[u][2 * t + 1][1];
                    } else {
                        mxfp4_unpack(a[u][2 * t][0], A[t][0], A[t][2]);
                        mxfp4_unpack(a[u][2 * t + 1][0], A[t][1], A[t][3]);
                    }
                }
#pragma unroll
                for (int j = 0; j < NT; j++) {
                    if (j >= nt) break;
                    const int2 v0 = v[u][j][0], v1 = v[u][j][1];
                    const uint32_t h0 = __byte_perm(v0.x, v0.y, 0x7531);
                    const uint32_t l0 = __byte_perm(v0.x, v0.y, 0x6420);
                    const uint32_t h1 = __byte_perm(v1.x, v1.y, 0x7531);
                    const uint32_t l1 = __byte_perm(v1.x, v1.y, 0x6420);
#pragma unroll
                    for (int t = 0; t < RT; t++) {
                        int ch[4] = {0, 0, 0, 0}, cl[4] = {0, 0, 0, 0};
                        mma_s8s8(ch, A[t], h0, h1);
                        mma_s8u8(cl, A[t], l0, l1);
                        const float dA = d[u][2 * t], dB = d[u][2 * t + 1];
                        acc[t][j][0] += dA * s0[u][j] * (float)(ch[0] * 256 + cl[0]);
                        acc[t][j][1] += dA * s1[u][j] * (float)(ch[1] * 256 + cl[1]);
                        acc[t][j][2] += dB * s0[u][j] * (float)(ch[2] * 256 + cl[2]);
                        acc[t][j][3] += dB * s1[u][j] * (float)(ch[3] * 256 + cl[3]);
                    }
                }
            }
        }
#pragma unroll
        for (int t = 0; t < RT; t++)
#pragma unroll
            for (int j = 0; j < NT; j++) {
                red[warp][16 * t + g][8 * j + 2 * tig] = acc[t][j][0];
                red[warp][16 * t + g][8 * j + 2 * tig + 1] = acc[t][j][1];
                red[warp][16 * t + g + 8][8 * j + 2 * tig] = acc[t][j][2];
                red[warp][16 * t + g + 8][8 * j + 2 * tig + 1] = acc[t][j][3];
            }
        __syncthreads();
        for (int idx = threadIdx.x; idx < 16 * RT * 8 * NT; idx += 128) {
            const int row = idx / (8 * NT), col = idx % (8 * NT), i = tg0 + col, r = r0 + row;
            if (i >= cnt || r >= nr) continue;
            float val = red[0][row][col] + red[1][row][col] + red[2][row][col] + red[3][row][col];
            if (S.bias) val += S.bias[(size_t)e * S.bstride + r];
            if (P.grp) {
                const int p = P.list[o + i];
                if (P.wts) val *= P.wts[p];
                S.y[(size_t)p * P.ldy + r] = val;
            } else {
                if (P.act == GTC_ACT_GELU) val = gelu_tanh(val);
                float *yp = S.y + (size_t)i * P.ldy + r;
                *yp = P.add ? *yp + val : val;
            }
        }
        __syncthreads();
    }
}

extern "C" int gtc_mmq_supported(const gtc_mat *w, const gtc_act *x) {
    return w->split && (w->type == GGML_TYPE_Q8_0 || w->type == GGML_TYPE_MXFP4) && x->q != NULL &&
           w->n_cols % 32 == 0 && x->n == (int)w->n_cols;
}

/* tok: the (typical) tokens per weight row: n-tiles per group and prefetch depth from it */
static int mmq_variant(void) /* GPTC_CUDA_MMQ_RT: rows per warp 16 or 32 (default 32) */
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("GPTC_CUDA_MMQ_RT");
        v = e && atoi(e) == 1 ? 1 : 2;
    }
    return v;
}

template <int NT, int U, int RT>
static void mmq_go(const mmq_args *P, int tiles16, int gy, gtc_stream st) {
    k_mmq<NT, U, RT>
        <<<dim3((unsigned)((tiles16 + RT - 1) / RT), (unsigned)gy), 128, 0, (cudaStream_t)st>>>(*P);
}

/* tok: the (typical) tokens per weight row: n-tiles per group and prefetch depth from it */
static int mmq_launch(mmq_args *P, const gtc_mat *const *ws, int nseg, int gy, int tok,
                      gtc_stream st) {
    const int RT = mmq_variant();
    int tiles = 0, tiles16 = 0;
    for (int i = 0; i < nseg; i++) {
        if (!gtc_mmq_supported(ws[i], &P->x)) {
            snprintf(gtc_err_buf, sizeof gtc_err_buf, "mmq: unsupported weight type %u",
                     ws[i]->type);
            return -1;
        }
        P->seg[i].w = *ws[i];
        P->seg[i].tile0 = tiles;
        tiles += (int)blocks_for(ws[i]->n_rows, 16 * RT);
    }
    P->nseg = nseg;
    P->tiles = tiles;
    tiles16 = tiles * RT;
    if (tiles <= 0 || gy <= 0) return 0;
    if (RT == 2) {
        if (tok <= 8)
            mmq_go<1, 4, 2>(P, tiles16, gy, st);
        else if (tok <= 16)
            mmq_go<2, 4, 2>(P, tiles16, gy, st);
        else
            mmq_go<4, 2, 2>(P, tiles16, gy, st);
    } else {
        if (tok <= 8)
            mmq_go<1, 8, 1>(P, tiles16, gy, st);
        else if (tok <= 16)
            mmq_go<2, 4, 1>(P, tiles16, gy, st);
        else
            mmq_go<4, 2, 1>(P, tiles16, gy, st);
    }
    CKL("mmq");
    return 0;
}

extern "C" int gtc_mmq(const gtc_gemv_seg *segs, int n_segs, const gtc_act *x, int T,
                       gtc_stream st) {
    if (T <= 0 || n_segs <= 0) return 0;
    if (n_segs > 3) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "mmq: at most 3 segments");
        return -1;
    }
    mmq_args P;
    memset(&P, 0, sizeof P);
    const gtc_mat *ws[3];
    for (int i = 0; i < n_segs; i++) {
        ws[i] = &segs[i].w;
        P.seg[i].bias = segs[i].bias;
        P.seg[i].y = segs[i].y;
        if (segs[i].ldy != segs[0].ldy || segs[i].add != segs[0].add ||
            segs[i].act != segs[0].act || segs[i].w.n_cols != segs[0].w.n_cols) {
            snprintf(gtc_err_buf, sizeof gtc_err_buf,
                     "mmq: segments differ in ldy/add/act/columns");
            return -1;
        }
    }
    P.x = *x;
    P.ldy = segs[0].ldy;
    P.add = segs[0].add;
    P.act = segs[0].act;
    P.T = T;
    return mmq_launch(&P, ws, n_segs, 1, T, st);
}

extern "C" int gtc_mmq_grouped(const gtc_mmq_group *g, const gtc_act *x, gtc_stream st) {
    mmq_args P;
    memset(&P, 0, sizeof P);
    const gtc_mat *ws[2] = {g->w, g->w2};
    P.seg[0].bias = g->bias;
    P.seg[0].bstride = g->bias_stride;
    P.seg[0].y = g->y;
    P.seg[1].bias = g->bias2;
    P.seg[1].bstride = g->bias2_stride;
    P.seg[1].y = g->y2;
    P.x = *x;
    P.ldy = g->ldy;
    P.grp = g->grp;
    P.list = g->list;
    P.E = g->E;
    P.xdiv = g->xdiv > 0 ? g->xdiv : 1;
    P.wts = g->wts;
    if (g->w2 && (g->w2->n_cols != g->w->n_cols || g->w2->n_rows != g->w->n_rows)) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "mmq: grouped segments differ in shape");
        return -1;
    }
    /* tokens per expert: about T k / E pairs (the kernel loops when an expert has more) */
    const int E = g->E;
    return mmq_launch(&P, ws, g->w2 ? 2 : 1, E, (g->n_pairs + E - 1) / (E > 0 ? E : 1) + 2, st);
}
