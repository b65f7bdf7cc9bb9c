/* convert.cu — weights in device layout: the split / packed repack of the block formats at
 * upload, the test uploader, and dequantisation to fp16 tiles for the cuBLAS (prefill) path. */
#include "cuda/common.cuh"

/* Writes the packed quant bytes of one block of 32 values q[32] (4 to 6 bits each) at qd and,
 * for 5 / 6 bits, its spread high bits at hd (cuda/packed.cuh). */
static __device__ void pk_put(const uint8_t *q, int bits, uint8_t *qd, uint8_t *hd) {
    uint32_t h0 = 0, h1 = 0;
    for (int i = 0; i < 16; i++) {
        qd[i] = (uint8_t)((q[i] & 15) | ((q[i + 16] & 15) << 4));
        const int g = i >> 2, k = i & 3;
        if (bits == 5) {
            h0 |= (uint32_t)(q[i] >> 4 & 1) << (8 * k + g);
            h0 |= (uint32_t)(q[i + 16] >> 4 & 1) << (8 * k + 4 + g);
        } else if (bits == 6) {
            h0 |= (uint32_t)(q[i] >> 4 & 3) << (8 * k + 2 * g);
            h1 |= (uint32_t)(q[i + 16] >> 4 & 3) << (8 * k + 2 * g);
        }
    }
    if (bits == 5) memcpy(hd, &h0, 4);
    if (bits == 6) {
        memcpy(hd, &h0, 4);
        memcpy(hd + 4, &h1, 4);
    }
}

/* Block i (of 32 elements, counted from the chunk's first row row_start) of the raw GGUF rows
 * at raw -> its place in the split / packed layout of a tensor of src_rows rows at dst. */
static __device__ void repack_block(uint32_t type, const uint8_t *raw, uint8_t *dst, int64_t nb,
                                    int64_t src_rows, int64_t row_start, int64_t i) {
    int64_t gb = row_start * nb + i; /* global block index */
    const size_t R = (size_t)src_rows, Q = R * nb * 16;
    uint8_t q[32];
    switch (type) {
    case GGML_TYPE_Q8_0: {
        const uint8_t *b = raw + i * 34;
        uint8_t *o = dst + gb * 32;
        for (int j = 0; j < 32; j++) o[j] = b[2 + j];
        uint8_t *d = dst + R * nb * 32 + gb * 2;
        d[0] = b[0];
        d[1] = b[1];
        break;
    }
    case GGML_TYPE_MXFP4: {
        const uint8_t *b = raw + i * 17;
        uint8_t *o = dst + gb * 16;
        for (int j = 0; j < 16; j++) o[j] = b[1 + j];
        dst[R * nb * 16 + gb] = b[0];
        break;
    }
    case GGML_TYPE_Q4_0:
    case GGML_TYPE_Q4_1: { /* d (m) qs[16]: already in the packed nibble order */
        const int sb = type == GGML_TYPE_Q4_0 ? 2 : 4;
        const uint8_t *b = raw + i * (16 + sb);
        for (int j = 0; j < 16; j++) dst[gb * 16 + j] = b[sb + j];
        for (int j = 0; j < sb; j++) dst[Q + gb * sb + j] = b[j];
        break;
    }
    case GGML_TYPE_Q5_0:
    case GGML_TYPE_Q5_1: { /* d (m) qh[4] qs[16] */
        const int sb = type == GGML_TYPE_Q5_0 ? 2 : 4;
        const uint8_t *b = raw + i * (20 + sb);
        uint32_t qh;
        memcpy(&qh, b + sb, 4);
        for (int j = 0; j < 16; j++) {
            q[j] = (uint8_t)((b[sb + 4 + j] & 15) | ((qh >> j & 1) << 4));
            q[j + 16] = (uint8_t)((b[sb + 4 + j] >> 4) | ((qh >> (j + 16) & 1) << 4));
        }
        pk_put(q, 5, dst + gb * 16, dst + Q + gb * 4);
        for (int j = 0; j < sb; j++) dst[Q + R * nb * 4 + gb * sb + j] = b[j];
        break;
    }
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K: { /* super-block: d dmin scales[12] (qh[32]) qs[128] */
        const int q5 = type == GGML_TYPE_Q5_K, SB = q5 ? 176 : 144;
        const int64_t r = i / nb, c = i % nb, ns = nb / 8;
        const int j = (int)(c & 7), g = j >> 1, hi = j & 1;
        const uint8_t *b = raw + (size_t)r * ns * SB + (size_t)(c >> 3) * SB;
        const uint8_t *qs = b + (q5 ? 48 : 16) + 32 * g, *qh = b + 16;
        for (int l = 0; l < 32; l++) {
            int v = hi ? qs[l] >> 4 : qs[l] & 15;
            if (q5) v |= ((qh[l] >> j) & 1) << 4;
            q[l] = (uint8_t)v;
        }
        pk_put(q, q5 ? 5 : 4, dst + gb * 16, dst + Q + gb * 4);
        if (j == 0) {
            uint8_t *o = dst + Q + (q5 ? R * nb * 4 : 0) + (size_t)(gb >> 3) * 16;
            for (int k = 0; k < 16; k++) o[k] = b[k];
        }
        break;
    }
    case GGML_TYPE_Q6_K: { /* super-block: ql[128] qh[64] scales[16] d */
        const int64_t r = i / nb, c = i % nb, ns = nb / 8;
        const int j = (int)(c & 7), n = j >> 2, quad = j & 3;
        const uint8_t *b = raw + (size_t)r * ns * 210 + (size_t)(c >> 3) * 210;
        const uint8_t *L = b + 64 * n + 32 * (quad & 1), *H = b + 128 + 32 * n;
        for (int l = 0; l < 32; l++)
            q[l] =
                (uint8_t)(((L[l] >> (4 * (quad >> 1))) & 15) | (((H[l] >> (2 * quad)) & 3) << 4));
        pk_put(q, 6, dst + gb * 16, dst + Q + gb * 8);
        dst[Q + R * nb * 8 + gb * 2] = b[192 + 2 * j];
        dst[Q + R * nb * 8 + gb * 2 + 1] = b[192 + 2 * j + 1];
        if (j == 0) {
            dst[Q + R * nb * 10 + (gb >> 3) * 2] = b[208];
            dst[Q + R * nb * 10 + (gb >> 3) * 2 + 1] = b[209];
        }
        break;
    }
    default:
        break;
    }
}

/* raw GGUF rows -> split / packed layout; one thread per block of 32 */
__global__ void k_repack(uint32_t type, const uint8_t *raw, uint8_t *dst, int64_t nb,
                         int64_t src_rows, int64_t row_start, int64_t n_rows) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; /* block index in the chunk */
    if (i < n_rows * nb) repack_block(type, raw, dst, nb, src_rows, row_start, i);
}

/* 32 values to fp16 (round to nearest) at o (16-byte aligned) */
__device__ __forceinline__ void put_f16x32(const float *v, uint16_t *dst) {
    uint4 *o = (uint4 *)dst;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        uint4 u;
        u.x = (uint32_t)f2h(v[8 * j + 0]) | ((uint32_t)f2h(v[8 * j + 1]) << 16);
        u.y = (uint32_t)f2h(v[8 * j + 2]) | ((uint32_t)f2h(v[8 * j + 3]) << 16);
        u.z = (uint32_t)f2h(v[8 * j + 4]) | ((uint32_t)f2h(v[8 * j + 5]) << 16);
        u.w = (uint32_t)f2h(v[8 * j + 6]) | ((uint32_t)f2h(v[8 * j + 7]) << 16);
        o[j] = u;
    }
}

__global__ void k_dequant_f16(gtc_mat w, int64_t e, int64_t r0, int64_t nr, uint16_t *dst,
                              uint16_t *lo) {
    const int64_t nc = w.n_cols / 32;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nr * nc) return;
    int64_t r = i / nc;
    int c = (int)(i % nc);
    float v[32];
    dq32(w, w.row0 + e * w.expert_rows + r0 + r, c, v);
    put_f16x32(v, dst + r * w.n_cols + 32 * c);
    if (lo) { /* split fp16 weights: lo = f16(v - f16(v)) */
        uint4 *ol = (uint4 *)(lo + r * w.n_cols + 32 * c);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            uint16_t l[8];
#pragma unroll
            for (int i = 0; i < 8; i++) l[i] = f2h(v[8 * j + i] - h2f(f2h(v[8 * j + i])));
            uint4 u;
            u.x = (uint32_t)l[0] | ((uint32_t)l[1] << 16);
            u.y = (uint32_t)l[2] | ((uint32_t)l[3] << 16);
            u.z = (uint32_t)l[4] | ((uint32_t)l[5] << 16);
            u.w = (uint32_t)l[6] | ((uint32_t)l[7] << 16);
            ol[j] = u;
        }
    }
}

/* every row of the experts el.e[0..n) -> dst + x * dstride ([n_rows][n_cols] fp16 each) */
__global__ void k_dequant_f16_experts(gtc_mat w, gtc_elist el, uint16_t *dst, int64_t dstride) {
    const int64_t nc = w.n_cols / 32, per = w.n_rows * nc;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= el.n * per) return;
    const int x = (int)(i / per);
    const int64_t r = (i % per) / nc;
    const int c = (int)(i % nc);
    float v[32];
    dq32(w, w.row0 + (int64_t)el.e[x] * w.expert_rows + r, c, v);
    put_f16x32(v, dst + x * dstride + r * w.n_cols + 32 * c);
}

extern "C" int gtc_repack_split(uint32_t type, const void *raw, uint8_t *dst, int64_t n_cols,
                                int64_t src_rows, int64_t row_start, int64_t n_rows,
                                gtc_stream st) {
    int64_t nb = n_cols / 32;
    if (n_rows <= 0) return 0;
    k_repack<<<blocks_for(n_rows * nb, 256), 256, 0, (cudaStream_t)st>>>(
        type, (const uint8_t *)raw, dst, nb, src_rows, row_start, n_rows);
    CKL("repack");
    return 0;
}

static size_t type_row_bytes(uint32_t type, int64_t n) {
    switch (type) {
    case GGML_TYPE_F32:
        return (size_t)n * 4;
    case GGML_TYPE_F16:
    case GGML_TYPE_BF16:
        return (size_t)n * 2;
    case GGML_TYPE_Q4_0:
        return (size_t)n / 32 * 18;
    case GGML_TYPE_Q4_1:
        return (size_t)n / 32 * 20;
    case GGML_TYPE_Q5_0:
        return (size_t)n / 32 * 22;
    case GGML_TYPE_Q5_1:
        return (size_t)n / 32 * 24;
    case GGML_TYPE_Q8_0:
        return (size_t)n / 32 * 34;
    case GGML_TYPE_MXFP4:
        return (size_t)n / 32 * 17;
    case GGML_TYPE_Q4_K:
        return (size_t)n / 256 * 144;
    case GGML_TYPE_Q5_K:
        return (size_t)n / 256 * 176;
    case GGML_TYPE_Q6_K:
        return (size_t)n / 256 * 210;
    default:
        return 0;
    }
}

extern "C" int gtc_upload_matrix(uint32_t type, const void *host, int64_t n_cols, int64_t rows,
                                 int64_t rows_per_expert, gtc_mat *m) {
    size_t rb = type_row_bytes(type, n_cols), bytes = rb * (size_t)rows;
    memset(m, 0, sizeof *m);
    void *d = NULL;
    if (gtc_malloc(&d, bytes)) return -1;
    if (gtc_type_split(type)) {
        void *raw = NULL;
        if (gtc_malloc(&raw, bytes)) {
            gtc_free(d);
            return -1;
        }
        if (gtc_h2d(raw, host, bytes) ||
            gtc_repack_split(type, raw, (uint8_t *)d, n_cols, rows, 0, rows, NULL) || gtc_sync()) {
            gtc_free(raw);
            gtc_free(d);
            return -1;
        }
        gtc_free(raw);
    } else if (gtc_h2d(d, host, bytes)) {
        gtc_free(d);
        return -1;
    }
    m->type = type;
    m->split = gtc_type_split(type);
    m->base = (const uint8_t *)d;
    m->n_cols = n_cols;
    m->n_rows = rows_per_expert;
    m->src_rows = rows;
    m->row0 = 0;
    m->expert_rows = rows_per_expert < rows ? rows_per_expert : 0;
    m->row_bytes = rb;
    return 0;
}

extern "C" int gtc_dequant_f16(const gtc_mat *w, int64_t e, int64_t r0, int64_t nr, uint16_t *dst,
                               uint16_t *lo, gtc_stream st) {
    int64_t n = nr * (w->n_cols / 32);
    if (n <= 0) return 0;
    k_dequant_f16<<<blocks_for(n, 128), 128, 0, (cudaStream_t)st>>>(*w, e, r0, nr, dst, lo);
    CKL("dequant_f16");
    return 0;
}

extern "C" int gtc_dequant_f16_experts(const gtc_mat *w, const gtc_elist *el, uint16_t *dst,
                                       int64_t dstride, gtc_stream st) {
    if (el->n < 0 || el->n > GTC_DQ_MAX_EXP)
        return gtc_fail(cudaErrorInvalidValue, "dequant_f16_experts: too many experts");
    int64_t n = (int64_t)el->n * w->n_rows * (w->n_cols / 32);
    if (n <= 0) return 0;
    k_dequant_f16_experts<<<blocks_for(n, 128), 128, 0, (cudaStream_t)st>>>(*w, *el, dst, dstride);
    CKL("dequant_f16_experts");
    return 0;
}
