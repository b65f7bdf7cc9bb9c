/* kernels.cu — gptc's CUDA kernels (see gtc.h for the contracts and the device weight layout).
 *
 * Decode hot path (one token): every matrix product is a warp-per-row GEMV that streams the
 * weight row with 16-byte loads and dequantises in registers:
 *   Q8_0  (split): 2 x 16-byte loads of int8 quants per block, 16 dp2a against the int16
 *                  activation block, one fp32 FMA with the two scales.
 *   MXFP4 (split): 1 x 16-byte load per block; each 16-bit half of a word is 4 nibbles that
 *                  two byte-permutes map to the int8 E2M1 values (x2) and a third picks the
 *                  sign; the activation is pre-permuted (0,16,1,17,...) to match, 16 dp2a.
 *   others (raw GGUF rows): 32-element chunks dequantised to fp32, fp32 dot.
 * Accumulation is fp32 (per-block integer sums are exact); activations are quantised to int16
 * per 32 elements (see gtc.h), which the kernel tests bound against the fp32 CPU twins. */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gtc.h"

/* ggml type ids (gguf/gguf.h is C; the numbers are fixed by the format) */
enum {
    T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8,
    T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14, T_BF16 = 30, T_MXFP4 = 39,
};

static char g_err[256];
static int fail(cudaError_t e, const char *what)
{
    snprintf(g_err, sizeof g_err, "%s: %s", what, cudaGetErrorString(e));
    return -1;
}
#define CK(call)                                                                                \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess) return fail(e_, #call);                                          \
    } while (0)
#define CKL(name)                                                                               \
    do {                                                                                        \
        cudaError_t e_ = cudaGetLastError();                                                    \
        if (e_ != cudaSuccess) return fail(e_, name);                                           \
    } while (0)

extern "C" const char *gtc_last_error(void) { return g_err; }

extern "C" int gtc_type_split(uint32_t type) { return type == T_Q8_0 || type == T_MXFP4; }

extern "C" int gtc_type_supported(uint32_t type)
{
    switch (type) {
    case T_F32: case T_F16: case T_BF16: case T_Q4_0: case T_Q4_1: case T_Q5_0: case T_Q5_1:
    case T_Q8_0: case T_Q4_K: case T_Q5_K: case T_Q6_K: case T_MXFP4:
        return 1;
    default:
        return 0;
    }
}

/* ============================== device helpers ============================================ */
__device__ __forceinline__ float h2f(uint16_t u) { return __half2float(__ushort_as_half(u)); }
__device__ __forceinline__ uint16_t f2h(float f) { return __half_as_ushort(__float2half_rn(f)); }
__device__ __forceinline__ uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
__device__ __forceinline__ uint32_t ld32u(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
/* ggml's MXFP4 scale: half of E8M0, 2^(e-128) */
__device__ __forceinline__ float e8m0_half(uint32_t e)
{
    return e < 2 ? __uint_as_float(0x00200000u << e) : __uint_as_float((e - 1) << 23);
}
__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* doubled E2M1 value of a 4-bit code: 0 1 2 3 4 6 8 12, bit 3 = sign */
__device__ __forceinline__ float kv_e2m1(int c)
{
    int m = c & 7;
    float v = m < 4 ? (float)m : (float)((m & 1 ? 6 : 4) << ((m - 4) >> 1));
    return c & 8 ? -v : v;
}

__device__ __forceinline__ void scale_min_k4(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* E2M1 nibbles (4 per 16-bit half h) -> 4 int8 values (doubled E2M1). */
__device__ __forceinline__ int mxfp4_conv(uint32_t h)
{
    const uint32_t sel = h & 0x7777u;
    const uint32_t pos = __byte_perm(0x03020100u, 0x0C080604u, sel);
    const uint32_t neg = __byte_perm(0xFDFEFF00u, 0xF4F8FAFCu, sel);
    return (int)__byte_perm(pos, neg, 0x3210u | ((h >> 1) & 0x4444u));
}

/* Byte pointer of source row srow (raw layout). */
__device__ __forceinline__ const uint8_t *raw_row(const gtc_mat &w, int64_t srow)
{
    return w.base + (size_t)srow * w.row_bytes;
}

/* Dequantises elements [32c, 32c + 32) of source row srow into v[32]. */
__device__ void dq32(const gtc_mat &w, int64_t srow, int c, float *v)
{
    const int64_t nb = w.n_cols / 32;
    if (w.split) {
        if (w.type == T_Q8_0) {
            const int4 *qs = (const int4 *)(w.base + ((size_t)srow * nb + c) * 32);
            const uint16_t *dp = (const uint16_t *)(w.base + (size_t)w.src_rows * nb * 32);
            float d = h2f(dp[srow * nb + c]);
            int4 a = qs[0], b = qs[1];
            int wd[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
            for (int j = 0; j < 32; j++) v[j] = d * (float)(int8_t)(wd[j / 4] >> (8 * (j % 4)));
        } else { /* MXFP4 */
            const int4 q4 = *(const int4 *)(w.base + ((size_t)srow * nb + c) * 16);
            const uint8_t *ep = w.base + (size_t)w.src_rows * nb * 16;
            float d = e8m0_half(ep[srow * nb + c]);
            uint32_t wd[4] = {(uint32_t)q4.x, (uint32_t)q4.y, (uint32_t)q4.z, (uint32_t)q4.w};
#pragma unroll
            for (int k = 0; k < 8; k++) { /* half k: elements j, j+16, j+1, j+17 (j = 2k) */
                int r = mxfp4_conv((wd[k / 2] >> (16 * (k % 2))) & 0xffff);
                int j = 2 * k;
                v[j] = d * (float)(int8_t)r;
                v[j + 16] = d * (float)(int8_t)(r >> 8);
                v[j + 1] = d * (float)(int8_t)(r >> 16);
                v[j + 17] = d * (float)(int8_t)(r >> 24);
            }
        }
        return;
    }
    const uint8_t *row = raw_row(w, srow);
    switch (w.type) {
    case T_F32: {
        const float *p = (const float *)row + 32 * c;
        for (int j = 0; j < 32; j++) v[j] = p[j];
        break;
    }
    case T_F16: {
        const uint16_t *p = (const uint16_t *)row + 32 * c;
        for (int j = 0; j < 32; j++) v[j] = h2f(p[j]);
        break;
    }
    case T_BF16: {
        const uint16_t *p = (const uint16_t *)row + 32 * c;
        for (int j = 0; j < 32; j++) v[j] = __uint_as_float((uint32_t)p[j] << 16);
        break;
    }
    case T_Q4_0: {
        const uint8_t *b = row + 18 * c;
        float d = h2f(ld16(b));
        for (int j = 0; j < 16; j++) {
            v[j] = ((b[2 + j] & 15) - 8) * d;
            v[j + 16] = ((b[2 + j] >> 4) - 8) * d;
        }
        break;
    }
    case T_Q4_1: {
        const uint8_t *b = row + 20 * c;
        float d = h2f(ld16(b)), m = h2f(ld16(b + 2));
        for (int j = 0; j < 16; j++) {
            v[j] = (b[4 + j] & 15) * d + m;
            v[j + 16] = (b[4 + j] >> 4) * d + m;
        }
        break;
    }
    case T_Q5_0: {
        const uint8_t *b = row + 22 * c;
        float d = h2f(ld16(b));
        uint32_t h = ld32u(b + 2);
        for (int j = 0; j < 16; j++) {
            int lo = (b[6 + j] & 15) | (((h >> j) & 1) << 4);
            int hi = (b[6 + j] >> 4) | (((h >> (j + 16)) & 1) << 4);
            v[j] = (lo - 16) * d;
            v[j + 16] = (hi - 16) * d;
        }
        break;
    }
    case T_Q5_1: {
        const uint8_t *b = row + 24 * c;
        float d = h2f(ld16(b)), m = h2f(ld16(b + 2));
        uint32_t h = ld32u(b + 4);
        for (int j = 0; j < 16; j++) {
            int lo = (b[8 + j] & 15) | (((h >> j) & 1) << 4);
            int hi = (b[8 + j] >> 4) | (((h >> (j + 16)) & 1) << 4);
            v[j] = lo * d + m;
            v[j + 16] = hi * d + m;
        }
        break;
    }
    case T_Q8_0: {
        const uint8_t *b = row + 34 * c;
        float d = h2f(ld16(b));
        for (int j = 0; j < 32; j++) v[j] = d * (int8_t)b[2 + j];
        break;
    }
    case T_MXFP4: {
        const uint8_t *b = row + 17 * c;
        float d = e8m0_half(b[0]);
        for (int j = 0; j < 16; j++) {
            v[j] = d * kv_e2m1(b[1 + j] & 15);
            v[j + 16] = d * kv_e2m1(b[1 + j] >> 4);
        }
        break;
    }
    case T_Q4_K:
    case T_Q5_K: {
        const int bs = w.type == T_Q4_K ? 144 : 176;
        const uint8_t *b = row + (size_t)bs * (c / 8);
        int j = c % 8, g = j / 2, hi = j % 2, sc, m;
        float d = h2f(ld16(b)), dmin = h2f(ld16(b + 2));
        scale_min_k4(j, b + 4, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        if (w.type == T_Q4_K) {
            const uint8_t *qs = b + 16 + 32 * g;
            for (int l = 0; l < 32; l++) v[l] = d1 * (hi ? qs[l] >> 4 : qs[l] & 15) - m1;
        } else {
            const uint8_t *qh = b + 16, *qs = b + 48 + 32 * g;
            for (int l = 0; l < 32; l++) {
                int q = (hi ? qs[l] >> 4 : qs[l] & 15) + 16 * ((qh[l] >> (2 * g + hi)) & 1);
                v[l] = d1 * q - m1;
            }
        }
        break;
    }
    case T_Q6_K: {
        const uint8_t *b = row + (size_t)210 * (c / 8);
        int e0 = (c % 8) * 32, n = e0 / 128, quad = (e0 % 128) / 32;
        const uint8_t *L = b + 64 * n, *H = b + 128 + 32 * n;
        const int8_t *S = (const int8_t *)(b + 192);
        float d = h2f(ld16(b + 208));
        for (int l = 0; l < 32; l++) {
            int q;
            if (quad == 0) q = (L[l] & 15) | (((H[l] >> 0) & 3) << 4);
            else if (quad == 1) q = (L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4);
            else if (quad == 2) q = (L[l] >> 4) | (((H[l] >> 4) & 3) << 4);
            else q = (L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4);
            v[l] = d * S[(e0 + l) / 16] * (q - 32);
        }
        break;
    }
    default:
        for (int j = 0; j < 32; j++) v[j] = __int_as_float(0x7fc00000);
    }
}

__device__ __forceinline__ int4 ldg4(const void *p) { return __ldg((const int4 *)p); }
/* 4 int8 weights (w) . 4 int16 activations (two pairs) + c */
__device__ __forceinline__ int dot4(int w, int xlo, int xhi, int c)
{
    return __dp2a_hi(xhi, w, __dp2a_lo(xlo, w, c));
}

/* dot(source row srow, x token row) for one warp; result valid in every lane. */
__device__ float warp_dot(const gtc_mat &w, int64_t srow, const gtc_act &x, int t, int lane)
{
    const int n = x.n;
    const int nb = (int)(w.n_cols / 32);
    float acc = 0.f;
    if (w.split && w.type == T_Q8_0 && x.q) {
        const uint8_t *qs = w.base + (size_t)srow * nb * 32;
        const uint16_t *dp = (const uint16_t *)(w.base + (size_t)w.src_rows * nb * 32) + srow * nb;
        const int16_t *xq = x.q + (size_t)t * n;
        const float *xs = x.s + (size_t)t * (n / 32);
        for (int b0 = lane; b0 < nb; b0 += 128) {
            int4 wa[4], wb[4];
            float sc[4];
#pragma unroll
            for (int u = 0; u < 4; u++) {
                int b = b0 + 32 * u;
                if (b < nb) {
                    wa[u] = ldg4(qs + (size_t)b * 32);
                    wb[u] = ldg4(qs + (size_t)b * 32 + 16);
                    sc[u] = h2f(__ldg(dp + b)) * __ldg(xs + b);
                }
            }
#pragma unroll
            for (int u = 0; u < 4; u++) {
                int b = b0 + 32 * u;
                if (b < nb) {
                    const int4 *x4 = (const int4 *)(xq + (size_t)b * 32);
                    int4 X0 = __ldg(x4), X1 = __ldg(x4 + 1), X2 = __ldg(x4 + 2), X3 = __ldg(x4 + 3);
                    int s = dot4(wa[u].x, X0.x, X0.y, 0);
                    s = dot4(wa[u].y, X0.z, X0.w, s);
                    s = dot4(wa[u].z, X1.x, X1.y, s);
                    s = dot4(wa[u].w, X1.z, X1.w, s);
                    s = dot4(wb[u].x, X2.x, X2.y, s);
                    s = dot4(wb[u].y, X2.z, X2.w, s);
                    s = dot4(wb[u].z, X3.x, X3.y, s);
                    s = dot4(wb[u].w, X3.z, X3.w, s);
                    acc += sc[u] * (float)s;
                }
            }
        }
    } else if (w.split && w.type == T_MXFP4 && x.qi) {
        const uint8_t *qs = w.base + (size_t)srow * nb * 16;
        const uint8_t *ep = w.base + (size_t)w.src_rows * nb * 16 + (size_t)srow * nb;
        const int16_t *xq = x.qi + (size_t)t * n;
        const float *xs = x.s + (size_t)t * (n / 32);
        for (int b0 = lane; b0 < nb; b0 += 128) {
            int4 wq[4];
            float sc[4];
#pragma unroll
            for (int u = 0; u < 4; u++) {
                int b = b0 + 32 * u;
                if (b < nb) {
                    wq[u] = ldg4(qs + (size_t)b * 16);
                    sc[u] = e8m0_half(__ldg(ep + b)) * __ldg(xs + b);
                }
            }
#pragma unroll
            for (int u = 0; u < 4; u++) {
                int b = b0 + 32 * u;
                if (b < nb) {
                    const int4 *x4 = (const int4 *)(xq + (size_t)b * 32);
                    int4 X0 = __ldg(x4), X1 = __ldg(x4 + 1), X2 = __ldg(x4 + 2), X3 = __ldg(x4 + 3);
                    uint32_t q0 = (uint32_t)wq[u].x, q1 = (uint32_t)wq[u].y;
                    uint32_t q2 = (uint32_t)wq[u].z, q3 = (uint32_t)wq[u].w;
                    int s = dot4(mxfp4_conv(q0 & 0xffff), X0.x, X0.y, 0);
                    s = dot4(mxfp4_conv(q0 >> 16), X0.z, X0.w, s);
                    s = dot4(mxfp4_conv(q1 & 0xffff), X1.x, X1.y, s);
                    s = dot4(mxfp4_conv(q1 >> 16), X1.z, X1.w, s);
                    s = dot4(mxfp4_conv(q2 & 0xffff), X2.x, X2.y, s);
                    s = dot4(mxfp4_conv(q2 >> 16), X2.z, X2.w, s);
                    s = dot4(mxfp4_conv(q3 & 0xffff), X3.x, X3.y, s);
                    s = dot4(mxfp4_conv(q3 >> 16), X3.z, X3.w, s);
                    acc += sc[u] * (float)s;
                }
            }
        }
    } else if (!w.split && (w.type == T_F32 || w.type == T_F16 || w.type == T_BF16)) {
        /* coalesced stripes: lane l takes 8 consecutive elements of every 256 */
        const uint8_t *row = raw_row(w, srow);
        const float *xf = x.f + (size_t)t * n;
        const int nc = (int)w.n_cols;
        for (int i = lane * 8; i < nc; i += 256) {
            float4 xa = __ldg((const float4 *)(xf + i)), xb = __ldg((const float4 *)(xf + i + 4));
            float wv[8];
            if (w.type == T_F32) {
                float4 a = __ldg((const float4 *)((const float *)row + i));
                float4 b = __ldg((const float4 *)((const float *)row + i + 4));
                wv[0] = a.x; wv[1] = a.y; wv[2] = a.z; wv[3] = a.w;
                wv[4] = b.x; wv[5] = b.y; wv[6] = b.z; wv[7] = b.w;
            } else {
                uint4 u = __ldg((const uint4 *)((const uint16_t *)row + i));
                uint32_t uu[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    uint16_t lo = (uint16_t)(uu[j] & 0xffff), hi = (uint16_t)(uu[j] >> 16);
                    wv[2 * j] = w.type == T_F16 ? h2f(lo) : __uint_as_float((uint32_t)lo << 16);
                    wv[2 * j + 1] = w.type == T_F16 ? h2f(hi) : __uint_as_float((uint32_t)hi << 16);
                }
            }
            acc += wv[0] * xa.x + wv[1] * xa.y + wv[2] * xa.z + wv[3] * xa.w + wv[4] * xb.x +
                   wv[5] * xb.y + wv[6] * xb.z + wv[7] * xb.w;
        }
    } else {
        const float *xf = x.f + (size_t)t * n;
        float v[32];
        for (int c = lane; c < nb; c += 32) {
            dq32(w, srow, c, v);
            const float4 *x4 = (const float4 *)(xf + 32 * c);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                float4 xx = __ldg(x4 + j);
                acc += v[4 * j] * xx.x + v[4 * j + 1] * xx.y + v[4 * j + 2] * xx.z +
                       v[4 * j + 3] * xx.w;
            }
        }
    }
    return warp_sum(acc);
}

__device__ __forceinline__ float gelu_tanh(float x)
{
    return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float swiglu_oai(float g, float u, float alpha, float limit)
{
    g = fminf(g, limit);
    u = fminf(fmaxf(u, -limit), limit);
    return g / (1.f + expf(-alpha * g)) * (u + 1.f);
}
/* position of element i of a 32-block in the MXFP4 activation order 0,16,1,17,... */
__device__ __forceinline__ int qi_pos(int i) { return i < 16 ? 2 * i : 2 * (i - 16) + 1; }

/* The int16 copies of one 32-element block (block index blk of a, counted over all rows; lane
 * holds element lane, value v; every lane of the warp calls): q in natural order, qi (if any) in
 * MXFP4 order, the block's scale amax / 32767. */
__device__ __forceinline__ void store_q16(const gtc_act &a, size_t blk, int lane, float v)
{
    const float amax = warp_max(fabsf(v));
    const float d = amax / 32767.f;
    const int q = d > 0.f ? __float2int_rn(v / d) : 0;
    a.q[blk * 32 + lane] = (int16_t)q;
    if (a.qi) a.qi[blk * 32 + qi_pos(lane)] = (int16_t)q;
    if (lane == 0) a.s[blk] = d;
}

/* ============================== kernels =================================================== */
/* raw GGUF rows -> split layout */
__global__ void k_repack(uint32_t type, const uint8_t *raw, uint8_t *dst, int64_t nb,
                         int64_t src_rows, int64_t row_start, int64_t n_rows)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; /* block index in the chunk */
    if (i >= n_rows * nb) return;
    int64_t gb = row_start * nb + i; /* global block index */
    if (type == T_Q8_0) {
        const uint8_t *b = raw + i * 34;
        uint8_t *q = dst + gb * 32;
        for (int j = 0; j < 32; j++) q[j] = b[2 + j];
        uint8_t *d = dst + src_rows * nb * 32 + gb * 2;
        d[0] = b[0];
        d[1] = b[1];
    } else {
        const uint8_t *b = raw + i * 17;
        uint8_t *q = dst + gb * 16;
        for (int j = 0; j < 16; j++) q[j] = b[1 + j];
        dst[src_rows * nb * 16 + gb] = b[0];
    }
}

__device__ float block_sum(float v, float *red)
{
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) red[wid] = v;
    __syncthreads();
    float r = 0.f;
    for (int i = 0; i < nw; i++) r += red[i];
    return r;
}

/* grid (ceil(n/32 / 8), T), 256 threads: every block reduces the whole row (cheap, from L2)
 * and then normalises / quantises its 8 blocks of 32. */
__global__ void __launch_bounds__(256)
    k_prep_act(const float *x, int n, int norm, const float *w, const float *b, float eps,
               gtc_act out)
{
    __shared__ float red[32];
    const int t = blockIdx.y;
    const float *xr = x + (size_t)t * n;
    float mean = 0.f, scale = 1.f;
    if (norm == GTC_NORM_RMS) {
        float ss = 0.f;
        for (int i = threadIdx.x * 4; i < n; i += blockDim.x * 4) {
            if (i + 3 < n) {
                float4 v = *(const float4 *)(xr + i);
                ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
            } else {
                for (int j = i; j < n; j++) ss += xr[j] * xr[j];
            }
        }
        ss = block_sum(ss, red);
        scale = rsqrtf(ss / n + eps);
    } else if (norm == GTC_NORM_LAYER) {
        float sm = 0.f;
        for (int i = threadIdx.x; i < n; i += blockDim.x) sm += xr[i];
        mean = block_sum(sm, red) / n;
        float vs = 0.f;
        for (int i = threadIdx.x; i < n; i += blockDim.x) vs += (xr[i] - mean) * (xr[i] - mean);
        vs = block_sum(vs, red);
        scale = rsqrtf(vs / n + eps);
    }
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int c = blockIdx.x * 8 + wid;
    const int i = c * 32 + lane;
    if (c * 32 >= n) return;
    float v = 0.f;
    if (i < n) {
        v = xr[i];
        if (norm == GTC_NORM_RMS) v = v * scale * w[i];
        else if (norm == GTC_NORM_LAYER) v = (v - mean) * scale * w[i] + b[i];
        out.f[(size_t)t * n + i] = v;
        if (out.h) { /* split fp16: hi = f16(v) in rows [0, T), lo = f16(v - hi) in rows [T, 2T) */
            const uint16_t hi = f2h(v);
            out.h[(size_t)t * n + i] = hi;
            out.h[((size_t)gridDim.y + t) * n + i] = f2h(v - h2f(hi));
        }
    }
    if (out.q) store_q16(out, (size_t)t * (n / 32) + c, lane, v);
}

typedef struct {
    gtc_gemv_seg s[3];
    int64_t end[3]; /* cumulative rows */
    int n;
    int T;  /* tokens */
    int tl; /* tokens per warp (grid.y = ceil(T / tl)) */
} seg_pack;

/* grid (ceil(rows/8), ceil(T/tl)), 256 threads: warp per weight row, through tl tokens (the row
 * stays in L1 after the first token, so device memory sees it once per grid row). */
__global__ void __launch_bounds__(256) k_gemv(seg_pack P, gtc_act x)
{
    const int lane = threadIdx.x & 31;
    const int64_t gr = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    int si = 0;
    while (si < P.n && gr >= P.end[si]) si++;
    if (si >= P.n) return;
    const gtc_gemv_seg &sg = P.s[si];
    const int64_t r = gr - (si ? P.end[si - 1] : 0);
    const int t0 = blockIdx.y * P.tl, t1 = min(P.T, t0 + P.tl);
    for (int t = t0; t < t1; t++) {
        float acc = warp_dot(sg.w, sg.w.row0 + r, x, t, lane);
        if (lane == 0) {
            float v = acc + (sg.bias ? sg.bias[r] : 0.f);
            if (sg.act == GTC_ACT_GELU) v = gelu_tanh(v);
            float *y = sg.y + (size_t)t * sg.ldy + r;
            *y = sg.add ? *y + v : v;
        }
    }
}

__global__ void k_dequant_f16(gtc_mat w, int64_t e, int64_t r0, int64_t nr, uint16_t *dst,
                              uint16_t *lo)
{
    const int64_t nc = w.n_cols / 32;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nr * nc) return;
    int64_t r = i / nc;
    int c = (int)(i % nc);
    float v[32];
    dq32(w, w.row0 + e * w.expert_rows + r0 + r, c, v);
    uint4 *o = (uint4 *)(dst + r * w.n_cols + 32 * c);
#pragma unroll
    for (int j = 0; j < 4; j++) {
        uint4 u;
        u.x = (uint32_t)f2h(v[8 * j + 0]) | ((uint32_t)f2h(v[8 * j + 1]) << 16);
        u.y = (uint32_t)f2h(v[8 * j + 2]) | ((uint32_t)f2h(v[8 * j + 3]) << 16);
        u.z = (uint32_t)f2h(v[8 * j + 4]) | ((uint32_t)f2h(v[8 * j + 5]) << 16);
        u.w = (uint32_t)f2h(v[8 * j + 6]) | ((uint32_t)f2h(v[8 * j + 7]) << 16);
        o[j] = u;
    }
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

__global__ void k_embed(gtc_mat w, const int32_t *ids, float *dst, gtc_mat pos, int has_pos,
                        const int32_t *pos0, const int32_t *post)
{
    const int t = blockIdx.x;
    const int64_t nc = w.n_cols / 32;
    const int64_t id = ids[t];
    float v[32], p[32];
    for (int c = threadIdx.x; c < nc; c += blockDim.x) {
        dq32(w, w.row0 + id, c, v);
        if (has_pos) {
            dq32(pos, pos.row0 + (post ? post[t] : *pos0 + t), c, p);
            for (int j = 0; j < 32; j++) v[j] += p[j];
        }
        for (int j = 0; j < 32; j++) dst[(size_t)t * w.n_cols + 32 * c + j] = v[j];
    }
}

/* top-k + softmax of logits lg[E] (shared or global memory) by one warp; ties -> lower index */
__device__ void warp_topk(const float *lg, int E, int k, int32_t *ids, float *wts)
{
    const int lane = threadIdx.x & 31;
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        int e = lane + 32 * i;
        v[i] = e < E ? lg[e] : -INFINITY;
    }
    unsigned taken = 0;
    float m0 = 0.f, sum = 0.f, myv = 0.f;
    int myi = 0;
    for (int j = 0; j < k; j++) {
        float bv = -INFINITY;
        int bi = 0x7fffffff;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int e = lane + 32 * i;
            if (e < E && !(taken >> i & 1) && (bi == 0x7fffffff || v[i] > bv)) {
                bv = v[i];
                bi = e;
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (oi != 0x7fffffff && (bi == 0x7fffffff || ov > bv || (ov == bv && oi < bi))) {
                bv = ov;
                bi = oi;
            }
        }
        if ((bi & 31) == lane) taken |= 1u << (bi >> 5);
        if (j == 0) m0 = bv;
        sum += expf(bv - m0);
        if (lane == j) {
            myv = bv;
            myi = bi;
        }
    }
    if (lane < k) {
        ids[lane] = myi;
        wts[lane] = expf(myv - m0) / sum;
    }
}

/* grid T, 32 threads: top-k + softmax of each token's logits row */
__global__ void k_topk(const float *logits, int E, int k, int32_t *ids, float *wts)
{
    const size_t t = blockIdx.x;
    warp_topk(logits + t * E, E, k, ids + t * k, wts + t * k);
}

/* grid T, 1024 threads: router logits (warp per expert row) + bias, then top-k softmax */
__global__ void __launch_bounds__(1024)
    k_router_topk(gtc_mat w, const float *bias, gtc_act x, int k, int32_t *ids, float *wts)
{
    __shared__ float lg[256];
    const int t = blockIdx.x, lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int E = (int)w.n_rows;
    for (int e = wid; e < E; e += 32) {
        float v = warp_dot(w, w.row0 + e, x, t, lane);
        if (lane == 0) lg[e] = v + (bias ? bias[e] : 0.f);
    }
    __syncthreads();
    if (wid == 0) warp_topk(lg, E, k, ids + (size_t)t * k, wts + (size_t)t * k);
}

/* grid (ceil(E/8), T), 256 threads: warp per expert row into lg_ws[t][E]; the last block of
 * token t to finish (atomic ticket) does the top-k and re-arms the ticket for the next call
 * (so the kernel can be replayed in a CUDA graph). */
__global__ void __launch_bounds__(256)
    k_router_topk_mb(gtc_mat w, const float *bias, gtc_act x, int k, float *lg_ws,
                     unsigned *tickets, int32_t *ids, float *wts)
{
    __shared__ float lg[256];
    __shared__ unsigned last;
    const int t = blockIdx.y, lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int E = (int)w.n_rows;
    const int e = blockIdx.x * 8 + wid;
    if (e < E) {
        float v = warp_dot(w, w.row0 + e, x, t, lane);
        if (lane == 0) lg_ws[(size_t)t * E + e] = v + (bias ? bias[e] : 0.f);
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&tickets[t], 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    for (int i = threadIdx.x; i < E; i += blockDim.x) lg[i] = __ldcg(lg_ws + (size_t)t * E + i);
    __syncthreads();
    if (wid == 0) {
        warp_topk(lg, E, k, ids + (size_t)t * k, wts + (size_t)t * k);
        if (lane == 0) tickets[t] = 0;
    }
}

/* Per-lane partial dots of R MXFP4 rows (split layout) with R int16 activation rows; U blocks
 * per row in flight per lane, no reduction (the caller combines and reduces once). */
template <int R, int U>
__device__ __forceinline__ void lane_mxfp4(const uint8_t *const *qs, const uint8_t *const *ep,
                                           const int16_t *const *xq, const float *const *xs,
                                           int nb, int lane, float *acc)
{
    for (int b0 = lane; b0 < nb; b0 += 32 * U) {
        int4 wq[R][U];
        float sc[R][U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + 32 * u;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    wq[r][u] = ldg4(qs[r] + (size_t)b * 16);
                    sc[r][u] = e8m0_half(__ldg(ep[r] + b)) * __ldg(xs[r] + b);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + 32 * u;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const int4 *x4 = (const int4 *)(xq[r] + (size_t)b * 32);
                    int4 X0 = __ldg(x4), X1 = __ldg(x4 + 1), X2 = __ldg(x4 + 2), X3 = __ldg(x4 + 3);
                    uint32_t q0 = (uint32_t)wq[r][u].x, q1 = (uint32_t)wq[r][u].y;
                    uint32_t q2 = (uint32_t)wq[r][u].z, q3 = (uint32_t)wq[r][u].w;
                    int s = dot4(mxfp4_conv(q0 & 0xffff), X0.x, X0.y, 0);
                    s = dot4(mxfp4_conv(q0 >> 16), X0.z, X0.w, s);
                    s = dot4(mxfp4_conv(q1 & 0xffff), X1.x, X1.y, s);
                    s = dot4(mxfp4_conv(q1 >> 16), X1.z, X1.w, s);
                    s = dot4(mxfp4_conv(q2 & 0xffff), X2.x, X2.y, s);
                    s = dot4(mxfp4_conv(q2 >> 16), X2.z, X2.w, s);
                    s = dot4(mxfp4_conv(q3 & 0xffff), X3.x, X3.y, s);
                    s = dot4(mxfp4_conv(q3 >> 16), X3.z, X3.w, s);
                    acc[r] += sc[r][u] * (float)s;
                }
            }
        }
    }
}

__device__ __forceinline__ bool mat_fast_mxfp4(const gtc_mat &w, const gtc_act &x)
{
    return w.split && w.type == T_MXFP4 && x.qi != NULL;
}

/* gate row sg . x_t and up row su . x_t for one warp (valid in every lane): the two MXFP4 rows
 * streamed together on the int16 fast path, else two warp_dot */
__device__ __forceinline__ void gate_up_dots(const gtc_mat &gate, const gtc_mat &up, int64_t sg,
                                             int64_t su, const gtc_act &x, int t, int lane,
                                             float &g, float &u)
{
    if (mat_fast_mxfp4(gate, x) && mat_fast_mxfp4(up, x)) {
        const int nb = (int)(gate.n_cols / 32);
        const uint8_t *qs[2] = {gate.base + (size_t)sg * nb * 16, up.base + (size_t)su * nb * 16};
        const uint8_t *ep[2] = {gate.base + (size_t)gate.src_rows * nb * 16 + (size_t)sg * nb,
                                up.base + (size_t)up.src_rows * nb * 16 + (size_t)su * nb};
        const int16_t *xq = x.qi + (size_t)t * x.n;
        const float *xs = x.s + (size_t)t * (x.n / 32);
        const int16_t *xqs[2] = {xq, xq};
        const float *xss[2] = {xs, xs};
        float acc[2] = {0.f, 0.f};
        lane_mxfp4<2, 2>(qs, ep, xqs, xss, nb, lane, acc);
        g = warp_sum(acc[0]);
        u = warp_sum(acc[1]);
    } else {
        g = warp_dot(gate, sg, x, t, lane);
        u = warp_dot(up, su, x, t, lane);
    }
}

/* grid (n_ff/32, k, T), 1024 threads: warp w computes gate and up of row 32 bx + w together,
 * then warp 0 quantises the 32 SwiGLU outputs (one activation block) for the down kernel. */
__global__ void __launch_bounds__(1024)
    k_moe_gate_up(gtc_mat gate, gtc_mat up, const float *bg, const float *bu, int64_t bstride,
                  const int32_t *ids, int k, gtc_act x, float alpha, float limit, gtc_act h)
{
    __shared__ float hs[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int j = blockIdx.y, t = blockIdx.z;
    const int e = ids[t * k + j];
    const int n_ff = (int)gate.n_rows;
    const int r = blockIdx.x * 32 + wid;
    const int64_t sg = gate.row0 + (int64_t)e * gate.expert_rows + r;
    const int64_t su = up.row0 + (int64_t)e * up.expert_rows + r;
    float g, u;
    gate_up_dots(gate, up, sg, su, x, t, lane, g, u);
    if (lane == 0) {
        if (bg) g += bg[(size_t)e * bstride + r];
        if (bu) u += bu[(size_t)e * bstride + r];
        hs[wid] = swiglu_oai(g, u, alpha, limit);
    }
    __syncthreads();
    if (wid == 0) {
        const size_t row = (size_t)t * k + j;
        const int i = blockIdx.x * 32 + lane;
        float v = hs[lane];
        h.f[row * n_ff + i] = v;
        if (h.q) store_q16(h, row * (n_ff / 32) + blockIdx.x, lane, v);
    }
}

/* grid (ceil(n_embd/8), T), 256 threads: warp per output row; the k experts' rows are streamed
 * together and their weighted partials summed per lane before one reduction. */
__global__ void __launch_bounds__(256)
    k_moe_down(gtc_mat down, const float *bd, int64_t bstride, const int32_t *ids,
               const float *wts, int k, gtc_act h, float *x)
{
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * 8 + (threadIdx.x >> 5), t = blockIdx.y;
    const int n = (int)down.n_rows;
    if (r >= n) return;
    float y = 0.f;
    if (k == 4 && mat_fast_mxfp4(down, h)) {
        const int nb = (int)(down.n_cols / 32);
        const uint8_t *qs[4], *ep[4];
        const int16_t *xq[4];
        const float *xs[4];
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int e = ids[t * 4 + j];
            const int64_t sr = down.row0 + (int64_t)e * down.expert_rows + r;
            qs[j] = down.base + (size_t)sr * nb * 16;
            ep[j] = down.base + (size_t)down.src_rows * nb * 16 + (size_t)sr * nb;
            xq[j] = h.qi + (size_t)(t * 4 + j) * h.n;
            xs[j] = h.s + (size_t)(t * 4 + j) * (h.n / 32);
        }
        lane_mxfp4<4, 2>(qs, ep, xq, xs, nb, lane, acc);
        float part = 0.f;
#pragma unroll
        for (int j = 0; j < 4; j++) part += wts[t * 4 + j] * acc[j];
        y = warp_sum(part);
        if (bd)
            for (int j = 0; j < 4; j++) y += wts[t * 4 + j] * bd[(size_t)ids[t * 4 + j] * bstride + r];
    } else {
        for (int j = 0; j < k; j++) {
            const int e = ids[t * k + j];
            float d = warp_dot(down, down.row0 + (int64_t)e * down.expert_rows + r, h, t * k + j, lane);
            if (bd) d += bd[(size_t)e * bstride + r];
            y += wts[t * k + j] * d;
        }
    }
    if (lane == 0) x[(size_t)t * n + r] += y;
}

/* ---- tensor-core matrix products for several tokens (int8 MMA, sm_80+) ------------------ */
/* The Q8_0 / MXFP4 weights are int8 per 32-block (MXFP4: doubled E2M1) with one scale per
 * block; the int16 activations split exactly into q = 256 hi + lo (hi signed, lo unsigned
 * bytes), so two m16n8k32 integer MMAs per block give the same integer block sums as the
 * dp2a GEMV (then scaled in fp32 per block, as there). */
__device__ __forceinline__ void mma_s8s8(int (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_s8u8(int (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.u8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
/* 4 MXFP4 bytes -> the 4 low-nibble values (elements j) and the 4 high-nibble ones (j + 16) */
__device__ __forceinline__ void mxfp4_unpack(uint32_t w, uint32_t &lo, uint32_t &hi)
{
    uint32_t t = w & 0x0f0f0f0fu, u = (w >> 4) & 0x0f0f0f0fu;
    lo = (uint32_t)mxfp4_conv(__byte_perm(t | (t >> 4), 0, 0x0020));
    hi = (uint32_t)mxfp4_conv(__byte_perm(u | (u >> 4), 0, 0x0020));
}

typedef struct mmq_seg {
    gtc_mat w;         /* Q8_0 or MXFP4, split layout; every segment has the same n_cols */
    const float *bias; /* [n_rows] per expert, experts bstride apart (or NULL) */
    int64_t bstride;
    float *y;
    int tile0;         /* first 16-row tile of this segment in grid.x */
} mmq_seg;

typedef struct mmq_args {
    mmq_seg seg[3];
    int nseg, tiles;
    gtc_act x;           /* q (natural order) + s */
    int ldy, add, act;
    int T;               /* ungrouped: tokens; y row t, x row t */
    const int32_t *grp;  /* grouped (blockIdx.y = expert): see gtc_moe_group */
    const int32_t *list;
    int E, xdiv;         /* grouped: pair p -> x row p / xdiv, y row p */
    const float *wts;    /* grouped: y row p scaled by wts[p] */
} mmq_args;

/* streaming weight loads (read once: keep L1 for the activations) */
__device__ __forceinline__ uint32_t ldw32(const void *p) { return __ldcs((const unsigned int *)p); }

/* grid (16 RT-row tiles of all segments, E or 1), 128 threads: 16 RT weight rows (RT m16 tiles
 * per warp: each activation fragment feeds RT MMAs); the 4 warps split the row's 32-blocks in
 * runs of U (all loads of a run issued before its MMAs, so enough bytes are in flight); tokens
 * in groups of 8 NT (NT n-tiles of 8); a shared-memory sum over the warps at the end. */
template <int NT, int U, int RT>
__global__ void __launch_bounds__(128) k_mmq(mmq_args P)
{
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
    const bool q8 = w.type == T_Q8_0;
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

/* grid (n_ff/32, pairs), 32 threads: h[p] = swiglu(g[p], u[p]) (rows of stride ld), with its
 * int16 copies (the down product's input) */
__global__ void k_swiglu_q(const float *gg, const float *uu, int ld, float alpha, float limit,
                           gtc_act h)
{
    const int p = blockIdx.y, c = blockIdx.x, lane = threadIdx.x, n_ff = h.n;
    const int i = c * 32 + lane;
    const float v = swiglu_oai(gg[(size_t)p * ld + i], uu[(size_t)p * ld + i], alpha, limit);
    const size_t row = (size_t)p;
    h.f[row * n_ff + i] = v;
    if (h.q) store_q16(h, row * (n_ff / 32) + c, lane, v);
}

/* ---- MoE grouped by expert (several tokens) -------------------------------------------- */
/* one block: pairs p = t*k + j of ids grouped by expert (see gtc_moe_group) */
__global__ void k_moe_group(const int32_t *ids, int n, int E, int32_t *grp, int32_t *list)
{
    extern __shared__ int32_t sid[]; /* [n] */
    __shared__ int off[257];
    for (int i = threadIdx.x; i < n; i += blockDim.x) sid[i] = ids[i];
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int c = 0;
        for (int i = 0; i < n; i++) c += sid[i] == e;
        off[e + 1] = c;
        grp[e] = c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        off[0] = 0;
        for (int e = 0; e < E; e++) off[e + 1] += off[e];
    }
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int o = off[e];
        grp[E + e] = o;
        for (int i = 0; i < n; i++)
            if (sid[i] == e) list[o++] = i;
    }
}

/* grid (n_ff/32, E), 1024 threads: warp w takes gate and up row 32 bx + w of expert by through
 * every pair routed to it (the rows stay in L1 after the first pair); per 8 pairs the block
 * quantises the SwiGLU outputs (one activation block of 32 per pair) for the down kernel. */
__global__ void __launch_bounds__(1024)
    k_moe_gate_up_g(gtc_mat gate, gtc_mat up, const float *bg, const float *bu, int64_t bstride,
                    int E, const int32_t *grp, const int32_t *list, int k, gtc_act x,
                    float alpha, float limit, gtc_act h)
{
    __shared__ float hs[8][32];
    __shared__ int pr[8];
    const int e = blockIdx.y;
    const int c = grp[e];
    if (c == 0) return;
    const int o = grp[E + e];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int n_ff = (int)gate.n_rows;
    const int r = blockIdx.x * 32 + wid;
    const int64_t sg = gate.row0 + (int64_t)e * gate.expert_rows + r;
    const int64_t su = up.row0 + (int64_t)e * up.expert_rows + r;
    for (int i0 = 0; i0 < c; i0 += 8) {
        const int nn = min(8, c - i0);
        if (threadIdx.x < nn) pr[threadIdx.x] = list[o + i0 + threadIdx.x];
        __syncthreads();
        for (int ii = 0; ii < nn; ii++) {
            const int t = pr[ii] / k;
            float g, u;
            gate_up_dots(gate, up, sg, su, x, t, lane, g, u);
            if (lane == 0) {
                if (bg) g += bg[(size_t)e * bstride + r];
                if (bu) u += bu[(size_t)e * bstride + r];
                hs[ii][wid] = swiglu_oai(g, u, alpha, limit);
            }
        }
        __syncthreads();
        if (wid < nn) {
            const size_t row = (size_t)pr[wid];
            const int i = blockIdx.x * 32 + lane;
            float v = hs[wid][lane];
            h.f[row * n_ff + i] = v;
            if (h.q) store_q16(h, row * (n_ff / 32) + blockIdx.x, lane, v);
        }
        __syncthreads();
    }
}

/* grid (ceil(n_embd/8), E), 256 threads: warp per output row of expert by, through its pairs:
 * yk[p][r] = wts[p] (down_e row r . h[p] + bd_e[r]) */
__global__ void __launch_bounds__(256)
    k_moe_down_g(gtc_mat down, const float *bd, int64_t bstride, int E, const int32_t *grp,
                 const int32_t *list, const float *wts, gtc_act h, float *yk)
{
    const int e = blockIdx.y;
    const int c = grp[e];
    if (c == 0) return;
    const int o = grp[E + e];
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * 8 + (threadIdx.x >> 5);
    const int n = (int)down.n_rows;
    if (r >= n) return;
    const int64_t sr = down.row0 + (int64_t)e * down.expert_rows + r;
    const float b = bd ? bd[(size_t)e * bstride + r] : 0.f;
    for (int i = 0; i < c; i++) {
        const int p = list[o + i];
        float d = warp_dot(down, sr, h, p, lane);
        if (lane == 0) yk[(size_t)p * n + r] = wts[p] * (d + b);
    }
}

/* grid (ceil(n/256), T): x[t][r] += sum_j yk[t*k + j][r] */
__global__ void k_moe_sum(const float *yk, int k, int n, float *x)
{
    const int t = blockIdx.y, r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    float v = 0.f;
    for (int j = 0; j < k; j++) v += yk[((size_t)t * k + j) * n + r];
    x[(size_t)t * n + r] += v;
}

__global__ void k_rope_store(float *q, const float *k, const float *v, int ld, int n_head,
                             int n_kv, int hd, const float *inv_freq, float mscale,
                             const int32_t *pos0, float *kc, float *vc, int ring, gtc_seqs sq)
{
    __shared__ float cs_[64], sn_[64];
    const int t = blockIdx.x;
    const int pos = sq.pos ? sq.pos[t] : *pos0 + t;
    if (sq.pos) {
        kc = sq.kc[t] + sq.layer_off;
        vc = sq.vc[t] + sq.layer_off;
    }
    const int row = ring > 0 ? pos % ring : pos; /* cache row */
    const int half = hd / 2;
    const int nr = (n_head + n_kv) * half;
    if (inv_freq) {
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            float th = (float)pos * inv_freq[i], s, c;
            sincosf(th, &s, &c);
            cs_[i] = c * mscale;
            sn_[i] = s * mscale;
        }
        __syncthreads();
    }
    for (int idx = threadIdx.x; idx < nr; idx += blockDim.x) {
        const int h = idx / half, i = idx % half;
        const float *src = h < n_head ? q + (size_t)t * ld + h * hd
                                      : k + (size_t)t * ld + (h - n_head) * hd;
        float x0 = src[i], x1 = src[i + half], y0 = x0, y1 = x1;
        if (inv_freq) {
            const float c = cs_[i], s = sn_[i];
            y0 = x0 * c - x1 * s;
            y1 = x1 * c + x0 * s;
        }
        if (h < n_head) {
            float *dq = q + (size_t)t * ld + h * hd;
            dq[i] = y0;
            dq[i + half] = y1;
        } else if (kc) {
            float *dk = kc + ((size_t)row * n_kv + (h - n_head)) * hd;
            dk[i] = y0;
            dk[i + half] = y1;
        }
    }
    if (vc)
        for (int idx = threadIdx.x; idx < n_kv * hd; idx += blockDim.x)
            vc[(size_t)row * n_kv * hd + idx] = v[(size_t)t * ld + idx];
}

#define PS 66 /* partial record: m, l, o[64] */

/* grid (n_kv, T, n_split), block 32*G (G = query heads per KV head). hd <= 64. */
__global__ void k_attn(const float *q, int ldq, int n_head, int n_kv, int hd,
                       const float *kc, const float *vc, int ring, const int32_t *pos0,
                       int window, int split, float scale, float *part, gtc_seqs sq)
{
    __shared__ float Ks[32][65];
    __shared__ float Vs[32][64];
    __shared__ float Qs[32][64];
    const int g = blockIdx.x, t = blockIdx.y, sp = blockIdx.z, nsp = gridDim.z;
    const int G = n_head / n_kv;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int h = g * G + w;
    const int p = sq.pos ? sq.pos[t] : *pos0 + t;
    if (sq.pos) {
        kc = sq.kc[t] + sq.layer_off;
        vc = sq.vc[t] + sq.layer_off;
    }
    const int lo = window > 0 ? max(0, p - window + 1) : 0;
    const int start = lo + sp * split;
    const int end = min(p, start + split - 1);
    float m = -INFINITY, l = 0.f, o0 = 0.f, o1 = 0.f;
    for (int d = lane; d < 64; d += 32) Qs[w][d] = d < hd ? q[(size_t)t * ldq + h * hd + d] * scale : 0.f;
    for (int j0 = start; j0 <= end; j0 += 32) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < 32 * 64; idx += blockDim.x) {
            int jj = idx / 64, d = idx % 64, key = j0 + jj;
            float kv = 0.f, vv = 0.f;
            if (key <= end && d < hd) {
                const int row = ring > 0 ? key % ring : key;
                size_t off = ((size_t)row * n_kv + g) * hd + d;
                kv = __ldg(kc + off);
                vv = __ldg(vc + off);
            }
            Ks[jj][d] = kv;
            Vs[jj][d] = vv;
        }
        __syncthreads();
        const int key = j0 + lane;
        float s = -INFINITY;
        if (key <= end) {
            s = 0.f;
            for (int d = 0; d < hd; d++) s += Qs[w][d] * Ks[lane][d];
        }
        float mt = warp_max(s);
        float mn = fmaxf(m, mt);
        float corr = expf(m - mn);
        float pj = key <= end ? expf(s - mn) : 0.f;
        l = l * corr + warp_sum(pj);
        o0 *= corr;
        o1 *= corr;
        const int nk = min(32, end - j0 + 1);
        for (int jj = 0; jj < nk; jj++) {
            float pp = __shfl_sync(0xffffffffu, pj, jj);
            o0 += pp * Vs[jj][lane];
            o1 += pp * Vs[jj][lane + 32];
        }
        m = mn;
    }
    float *rec = part + (((size_t)t * n_head + h) * nsp + sp) * PS;
    if (lane == 0) {
        rec[0] = m;
        rec[1] = l;
    }
    rec[2 + lane] = o0;
    rec[2 + 32 + lane] = o1;
}

__global__ void k_attn_combine(const float *part, int n_head, int hd, int nsp,
                               const float *sinks, float *out, gtc_act qa)
{
    const int h = blockIdx.x, t = blockIdx.y, d = threadIdx.x;
    const float *rec = part + ((size_t)t * n_head + h) * nsp * PS;
    float M = sinks ? sinks[h] : -INFINITY;
    for (int s = 0; s < nsp; s++)
        if (rec[s * PS + 1] > 0.f) M = fmaxf(M, rec[s * PS]);
    float den = sinks ? expf(sinks[h] - M) : 0.f, num = 0.f;
    for (int s = 0; s < nsp; s++) {
        float ls = rec[s * PS + 1];
        if (ls > 0.f) {
            float f = expf(rec[s * PS] - M);
            den += ls * f;
            num += rec[s * PS + 2 + d] * f;
        }
    }
    const float v = num / den;
    const size_t i = ((size_t)t * n_head + h) * hd + d;
    if (d < hd) out[i] = v;
    if (qa.q && hd % 32 == 0 && d < hd) { /* the o-projection's int16 input, one block per warp */
        store_q16(qa, i / 32, d & 31, v);
    }
}

__global__ void k_epilogue(float *out, int ldo, const float *tmp, int ldt, int T, int n,
                           const float *bias, int add, int act, int split)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)T * n) return;
    int t = (int)(i / n), r = (int)(i % n);
    float v = tmp[(size_t)t * ldt + r] + (bias ? bias[r] : 0.f);
    if (split & 1) v += tmp[((size_t)T + t) * ldt + r];
    if (split & 2) {
        v += tmp[(size_t)t * ldt + n + r];
        if (split & 1) v += tmp[((size_t)T + t) * ldt + n + r];
    }
    if (act == GTC_ACT_GELU) v = gelu_tanh(v);
    float *o = out + (size_t)t * ldo + r;
    *o = add ? *o + v : v;
}

__global__ void k_gather_f16(const uint16_t *src, const int32_t *idx, int cnt, int n,
                             uint16_t *dst)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)cnt * n) return;
    int r = (int)(i / n), c = (int)(i % n);
    dst[i] = src[(size_t)idx[r] * n + c];
}

__global__ void k_swiglu_f16(const float *g, const float *u, int ld, int wlo, const float *bg,
                             const float *bu, int cnt, int n, float alpha, float limit, uint16_t *h,
                             int split)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)cnt * n) return;
    int r = (int)(i / n), c = (int)(i % n);
    size_t o = (size_t)r * ld + c, lo = (size_t)cnt * ld;
    float gv = g[o] + (bg ? bg[c] : 0.f), uv = u[o] + (bu ? bu[c] : 0.f);
    if (wlo) {
        gv += g[o + wlo];
        uv += u[o + wlo];
    }
    if (split) {
        gv += g[o + lo];
        uv += u[o + lo];
        if (wlo) {
            gv += g[o + lo + wlo];
            uv += u[o + lo + wlo];
        }
    }
    float v = swiglu_oai(gv, uv, alpha, limit);
    uint16_t hi = f2h(v);
    h[i] = hi;
    if (split) h[(size_t)cnt * n + i] = f2h(v - h2f(hi));
}

__global__ void k_scatter_add(float *x, const float *y, int ldy, int wlo, const float *b,
                              const int32_t *idx, const float *wt, int cnt, int n, int split)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)cnt * n) return;
    int r = (int)(i / n), c = (int)(i % n);
    const size_t o = (size_t)r * ldy + c, lo = (size_t)cnt * ldy;
    float yv = y[o] + (wlo ? y[o + wlo] : 0.f);
    if (split) yv += y[o + lo] + (wlo ? y[o + lo + wlo] : 0.f);
    x[(size_t)idx[r] * n + c] += wt[r] * (yv + (b ? b[c] : 0.f));
}

__global__ void k_argmax(const float *lg, int n, int32_t *out)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    float bv = -INFINITY;
    int bi = n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = lg[i];
        if (bi == n || v > bv) {
            bv = v;
            bi = i;
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > bv || (ov == bv && oi < bi)) bv = ov, bi = oi;
    }
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) sv[w] = bv, si[w] = bi;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int i = 1; i < (int)(blockDim.x >> 5); i++)
            if (sv[i] > bv || (sv[i] == bv && si[i] < bi)) bv = sv[i], bi = si[i];
        *out = bi < n ? bi : 0;
    }
}

/* ============================== host launchers ============================================ */
static unsigned blocks_for(int64_t n, int bs) { return (unsigned)((n + bs - 1) / bs); }

extern "C" int gtc_malloc(void **p, size_t bytes)
{
    *p = NULL;
    CK(cudaMalloc(p, bytes ? bytes : 1));
    return 0;
}
extern "C" void gtc_free(void *p)
{
    if (p) cudaFree(p);
}
extern "C" int gtc_h2d(void *dst, const void *src, size_t bytes)
{
    CK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}
extern "C" int gtc_d2h(void *dst, const void *src, size_t bytes)
{
    CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return 0;
}
extern "C" int gtc_sync(void)
{
    CK(cudaDeviceSynchronize());
    return 0;
}

extern "C" int gtc_repack_split(uint32_t type, const void *raw, uint8_t *dst, int64_t n_cols,
                                int64_t src_rows, int64_t row_start, int64_t n_rows,
                                gtc_stream st)
{
    int64_t nb = n_cols / 32;
    if (n_rows <= 0) return 0;
    k_repack<<<blocks_for(n_rows * nb, 256), 256, 0, (cudaStream_t)st>>>(
        type, (const uint8_t *)raw, dst, nb, src_rows, row_start, n_rows);
    CKL("repack");
    return 0;
}

static size_t type_row_bytes(uint32_t type, int64_t n)
{
    switch (type) {
    case T_F32: return (size_t)n * 4;
    case T_F16: case T_BF16: return (size_t)n * 2;
    case T_Q4_0: return (size_t)n / 32 * 18;
    case T_Q4_1: return (size_t)n / 32 * 20;
    case T_Q5_0: return (size_t)n / 32 * 22;
    case T_Q5_1: return (size_t)n / 32 * 24;
    case T_Q8_0: return (size_t)n / 32 * 34;
    case T_MXFP4: return (size_t)n / 32 * 17;
    case T_Q4_K: return (size_t)n / 256 * 144;
    case T_Q5_K: return (size_t)n / 256 * 176;
    case T_Q6_K: return (size_t)n / 256 * 210;
    default: return 0;
    }
}

extern "C" int gtc_upload_matrix(uint32_t type, const void *host, int64_t n_cols, int64_t rows,
                                 int64_t rows_per_expert, gtc_mat *m)
{
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
            gtc_repack_split(type, raw, (uint8_t *)d, n_cols, rows, 0, rows, NULL) ||
            gtc_sync()) {
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

extern "C" int gtc_prep_act(const float *x, int T, int n, int norm, const float *w,
                            const float *b, float eps, const gtc_act *out, gtc_stream st)
{
    if (T <= 0) return 0;
    dim3 grid(blocks_for((n + 31) / 32, 8), (unsigned)T);
    k_prep_act<<<grid, 256, 0, (cudaStream_t)st>>>(x, n, norm, w, b, eps, *out);
    CKL("prep_act");
    return 0;
}

extern "C" int gtc_gemv(const gtc_gemv_seg *segs, int n_segs, const gtc_act *x, int T,
                        gtc_stream st)
{
    seg_pack P;
    memset(&P, 0, sizeof P);
    int64_t tot = 0;
    for (int i = 0; i < n_segs && i < 3; i++) {
        P.s[i] = segs[i];
        tot += segs[i].w.n_rows;
        P.end[i] = tot;
    }
    P.n = n_segs < 3 ? n_segs : 3;
    if (tot == 0 || T <= 0) return 0;
    /* enough blocks to fill the GPU (~1024), the fewest passes over the weights otherwise */
    const unsigned rb = blocks_for(tot, 8);
    int gy = rb >= 1024 ? 1 : (int)((1024 + rb - 1) / rb);
    if (gy > T) gy = T;
    P.T = T;
    P.tl = (T + gy - 1) / gy;
    gy = (T + P.tl - 1) / P.tl;
    k_gemv<<<dim3(rb, (unsigned)gy), 256, 0, (cudaStream_t)st>>>(P, *x);
    CKL("gemv");
    return 0;
}

extern "C" int gtc_dequant_f16(const gtc_mat *w, int64_t e, int64_t r0, int64_t nr,
                               uint16_t *dst, uint16_t *lo, gtc_stream st)
{
    int64_t n = nr * (w->n_cols / 32);
    if (n <= 0) return 0;
    k_dequant_f16<<<blocks_for(n, 128), 128, 0, (cudaStream_t)st>>>(*w, e, r0, nr, dst, lo);
    CKL("dequant_f16");
    return 0;
}

/* post: a position per token (else *pos0 + t) */
static int embed_any(const gtc_mat *w, const int32_t *d_ids, int T, float *dst,
                     const gtc_mat *pos, const int32_t *pos0, const int32_t *post, gtc_stream st)
{
    gtc_mat pz;
    memset(&pz, 0, sizeof pz);
    if (T <= 0) return 0;
    k_embed<<<T, 128, 0, (cudaStream_t)st>>>(*w, d_ids, dst, pos ? *pos : pz, pos != NULL, pos0,
                                             post);
    CKL("embed");
    return 0;
}

extern "C" int gtc_embed(const gtc_mat *w, const int32_t *d_ids, int T, float *dst,
                         const gtc_mat *pos, const int32_t *d_pos0, gtc_stream st)
{
    return embed_any(w, d_ids, T, dst, pos, d_pos0, NULL, st);
}

extern "C" int gtc_embed_seqs(const gtc_mat *w, const int32_t *d_ids, int T, float *dst,
                              const gtc_mat *pos, const int32_t *d_pos, gtc_stream st)
{
    return embed_any(w, d_ids, T, dst, pos, d_pos, d_pos, st);
}

extern "C" int gtc_topk_softmax(const float *logits, int T, int E, int k, int32_t *ids,
                                float *w, gtc_stream st)
{
    if (E > 256 || k > 8 || k > E) {
        snprintf(g_err, sizeof g_err, "topk: unsupported n_expert %d / k %d", E, k);
        return -1;
    }
    if (T <= 0) return 0;
    k_topk<<<T, 32, 0, (cudaStream_t)st>>>(logits, E, k, ids, w);
    CKL("topk");
    return 0;
}

extern "C" int gtc_router_topk(const gtc_mat *w, const float *bias, const gtc_act *x, int T,
                               int k, float *lg_ws, unsigned *tickets, int32_t *ids, float *wts,
                               gtc_stream st)
{
    if (w->n_rows > 256 || k > 8 || k > w->n_rows) {
        snprintf(g_err, sizeof g_err, "router: unsupported n_expert %lld / k %d",
                 (long long)w->n_rows, k);
        return -1;
    }
    if (T <= 0) return 0;
    if (lg_ws && tickets)
        k_router_topk_mb<<<dim3(blocks_for(w->n_rows, 8), (unsigned)T), 256, 0,
                           (cudaStream_t)st>>>(*w, bias, *x, k, lg_ws, tickets, ids, wts);
    else
        k_router_topk<<<T, 1024, 0, (cudaStream_t)st>>>(*w, bias, *x, k, ids, wts);
    CKL("router_topk");
    return 0;
}

extern "C" int gtc_moe_gate_up(const gtc_mat *gate, const gtc_mat *up, const float *bgate,
                               const float *bup, int64_t bias_stride, const int32_t *ids, int T,
                               int k, const gtc_act *x, float alpha, float limit,
                               const gtc_act *hact, gtc_stream st)
{
    if (gate->n_rows % 32) {
        snprintf(g_err, sizeof g_err, "moe: n_ff %lld is not a multiple of 32",
                 (long long)gate->n_rows);
        return -1;
    }
    if (T <= 0) return 0;
    dim3 grid((unsigned)(gate->n_rows / 32), (unsigned)k, (unsigned)T);
    k_moe_gate_up<<<grid, 1024, 0, (cudaStream_t)st>>>(*gate, *up, bgate, bup, bias_stride, ids,
                                                      k, *x, alpha, limit, *hact);
    CKL("moe_gate_up");
    return 0;
}

extern "C" int gtc_moe_down(const gtc_mat *down, const float *bdown, int64_t bias_stride,
                            const int32_t *ids, const float *wts, int T, int k,
                            const gtc_act *hact, float *x, gtc_stream st)
{
    if (T <= 0) return 0;
    dim3 grid(blocks_for(down->n_rows, 8), (unsigned)T);
    k_moe_down<<<grid, 256, 0, (cudaStream_t)st>>>(*down, bdown, bias_stride, ids, wts, k,
                                                   *hact, x);
    CKL("moe_down");
    return 0;
}

extern "C" int gtc_mmq_supported(const gtc_mat *w, const gtc_act *x)
{
    return w->split && (w->type == T_Q8_0 || w->type == T_MXFP4) && x->q != NULL &&
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
static void mmq_go(const mmq_args *P, int tiles16, int gy, gtc_stream st)
{
    k_mmq<NT, U, RT><<<dim3((unsigned)((tiles16 + RT - 1) / RT), (unsigned)gy), 128, 0,
                       (cudaStream_t)st>>>(*P);
}

/* tok: the (typical) tokens per weight row: n-tiles per group and prefetch depth from it */
static int mmq_launch(mmq_args *P, const gtc_mat *const *ws, int nseg, int gy, int tok,
                      gtc_stream st)
{
    const int RT = mmq_variant();
    int tiles = 0, tiles16 = 0;
    for (int i = 0; i < nseg; i++) {
        if (!gtc_mmq_supported(ws[i], &P->x)) {
            snprintf(g_err, sizeof g_err, "mmq: unsupported weight type %u", ws[i]->type);
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
        if (tok <= 8) mmq_go<1, 4, 2>(P, tiles16, gy, st);
        else if (tok <= 16) mmq_go<2, 4, 2>(P, tiles16, gy, st);
        else mmq_go<4, 2, 2>(P, tiles16, gy, st);
    } else {
        if (tok <= 8) mmq_go<1, 8, 1>(P, tiles16, gy, st);
        else if (tok <= 16) mmq_go<2, 4, 1>(P, tiles16, gy, st);
        else mmq_go<4, 2, 1>(P, tiles16, gy, st);
    }
    CKL("mmq");
    return 0;
}

extern "C" int gtc_mmq(const gtc_gemv_seg *segs, int n_segs, const gtc_act *x, int T,
                       gtc_stream st)
{
    if (T <= 0 || n_segs <= 0) return 0;
    if (n_segs > 3) {
        snprintf(g_err, sizeof g_err, "mmq: at most 3 segments");
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
            snprintf(g_err, sizeof g_err, "mmq: segments differ in ldy/add/act/columns");
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

extern "C" int gtc_mmq_grouped(const gtc_mat *w, const float *bias, int64_t bias_stride,
                               const gtc_mat *w2, const float *bias2, int64_t bias2_stride,
                               float *y2, int E, int n_pairs,
                               const int32_t *grp, const int32_t *list, int xdiv,
                               const float *wts, const gtc_act *x, float *y, int ldy,
                               gtc_stream st)
{
    mmq_args P;
    memset(&P, 0, sizeof P);
    const gtc_mat *ws[2] = {w, w2};
    P.seg[0].bias = bias;
    P.seg[0].bstride = bias_stride;
    P.seg[0].y = y;
    P.seg[1].bias = bias2;
    P.seg[1].bstride = bias2_stride;
    P.seg[1].y = y2;
    P.x = *x;
    P.ldy = ldy;
    P.grp = grp;
    P.list = list;
    P.E = E;
    P.xdiv = xdiv > 0 ? xdiv : 1;
    P.wts = wts;
    if (w2 && (w2->n_cols != w->n_cols || w2->n_rows != w->n_rows)) {
        snprintf(g_err, sizeof g_err, "mmq: grouped segments differ in shape");
        return -1;
    }
    /* tokens per expert: about T k / E pairs (the kernel loops when an expert has more) */
    return mmq_launch(&P, ws, w2 ? 2 : 1, E, (n_pairs + E - 1) / (E > 0 ? E : 1) + 2, st);
}

extern "C" int gtc_swiglu_q(const float *g, const float *u, int ld, int n_pairs, float alpha,
                            float limit, const gtc_act *h, gtc_stream st)
{
    if (n_pairs <= 0) return 0;
    if (h->n % 32) {
        snprintf(g_err, sizeof g_err, "swiglu_q: n_ff %d is not a multiple of 32", h->n);
        return -1;
    }
    k_swiglu_q<<<dim3((unsigned)(h->n / 32), (unsigned)n_pairs), 32, 0, (cudaStream_t)st>>>(
        g, u, ld, alpha, limit, *h);
    CKL("swiglu_q");
    return 0;
}

extern "C" int gtc_moe_sum(const float *yk, int T, int k, int n, float *x, gtc_stream st)
{
    if (T <= 0) return 0;
    k_moe_sum<<<dim3(blocks_for(n, 256), (unsigned)T), 256, 0, (cudaStream_t)st>>>(yk, k, n, x);
    CKL("moe_sum");
    return 0;
}

extern "C" int gtc_moe_group(const int32_t *ids, int T, int k, int E, int32_t *grp,
                             int32_t *list, gtc_stream st)
{
    const int n = T * k;
    if (E > 256 || n > 8192) {
        snprintf(g_err, sizeof g_err, "moe_group: unsupported n_expert %d / %d pairs", E, n);
        return -1;
    }
    if (n <= 0) return 0;
    k_moe_group<<<1, 256, sizeof(int32_t) * (size_t)n, (cudaStream_t)st>>>(ids, n, E, grp, list);
    CKL("moe_group");
    return 0;
}

extern "C" int gtc_moe_gate_up_grouped(const gtc_mat *gate, const gtc_mat *up, const float *bgate,
                                       const float *bup, int64_t bias_stride, int E,
                                       const int32_t *grp, const int32_t *list, int k,
                                       const gtc_act *x, float alpha, float limit,
                                       const gtc_act *hact, gtc_stream st)
{
    if (gate->n_rows % 32) {
        snprintf(g_err, sizeof g_err, "moe: n_ff %lld is not a multiple of 32",
                 (long long)gate->n_rows);
        return -1;
    }
    if (E <= 0) return 0;
    dim3 grid((unsigned)(gate->n_rows / 32), (unsigned)E);
    k_moe_gate_up_g<<<grid, 1024, 0, (cudaStream_t)st>>>(*gate, *up, bgate, bup, bias_stride, E,
                                                        grp, list, k, *x, alpha, limit, *hact);
    CKL("moe_gate_up_grouped");
    return 0;
}

extern "C" int gtc_moe_down_grouped(const gtc_mat *down, const float *bdown, int64_t bias_stride,
                                    int E, const int32_t *grp, const int32_t *list,
                                    const float *wts, int T, int k, const gtc_act *hact,
                                    float *yk, float *x, gtc_stream st)
{
    if (T <= 0 || E <= 0) return 0;
    dim3 grid(blocks_for(down->n_rows, 8), (unsigned)E);
    k_moe_down_g<<<grid, 256, 0, (cudaStream_t)st>>>(*down, bdown, bias_stride, E, grp, list,
                                                     wts, *hact, yk);
    CKL("moe_down_grouped");
    k_moe_sum<<<dim3(blocks_for(down->n_rows, 256), (unsigned)T), 256, 0, (cudaStream_t)st>>>(
        yk, k, (int)down->n_rows, x);
    CKL("moe_sum");
    return 0;
}

/* 1 when sq gives positions and caches (the *_seqs entry points); else sets the error */
static int seqs_ok(const gtc_seqs *sq, const char *who)
{
    if (sq && sq->pos && sq->kc && sq->vc) return 1;
    snprintf(g_err, sizeof g_err, "%s: missing positions or caches", who);
    return 0;
}

static int rope_any(float *q, const float *k, const float *v, int ld, int T, int n_head,
                    int n_kv, int hd, const float *inv_freq, float mscale, const int32_t *pos0,
                    float *kc, float *vc, int ring, const gtc_seqs &sq, gtc_stream st)
{
    if (T <= 0) return 0;
    k_rope_store<<<T, 256, 0, (cudaStream_t)st>>>(q, k, v, ld, n_head, n_kv, hd, inv_freq,
                                                  mscale, pos0, kc, vc, ring, sq);
    CKL("rope_store");
    return 0;
}

extern "C" int gtc_rope_store(float *q, const float *k, const float *v, int ld, int T,
                              int n_head, int n_kv, int hd, const float *inv_freq, float mscale,
                              const int32_t *d_pos0, float *kc, float *vc, int ring,
                              gtc_stream st)
{
    gtc_seqs none;
    memset(&none, 0, sizeof none);
    return rope_any(q, k, v, ld, T, n_head, n_kv, hd, inv_freq, mscale, d_pos0, kc, vc, ring,
                    none, st);
}

extern "C" int gtc_rope_store_seqs(float *q, const float *k, const float *v, int ld, int T,
                                   int n_head, int n_kv, int hd, const float *inv_freq,
                                   float mscale, const gtc_seqs *sq, int ring, gtc_stream st)
{
    if (T <= 0) return 0;
    if (!seqs_ok(sq, "rope_store_seqs")) return -1;
    return rope_any(q, k, v, ld, T, n_head, n_kv, hd, inv_freq, mscale, sq->pos, NULL, NULL, ring,
                    *sq, st);
}

static int attn_split_keys(void) /* keys per decode split; GPTC_CUDA_ATTN_SPLIT overrides */
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("GPTC_CUDA_ATTN_SPLIT");
        v = e && atoi(e) >= 32 ? atoi(e) : 32;
    }
    return v;
}

static int attn_nsplit(int T, int n_keys)
{
    const int sk = attn_split_keys();
    int ns = T == 1 ? (n_keys + sk - 1) / sk : (n_keys + 255) / 256;
    int cap = T == 1 ? 128 : 4;
    if (ns > cap) ns = cap;
    return ns < 1 ? 1 : ns;
}

extern "C" size_t gtc_attn_part_floats(int T, int n_head, int n_ctx)
{
    return (size_t)T * n_head * attn_nsplit(T, n_ctx) * PS;
}

static int attention_any(const float *q, int ldq, int T, int n_head, int n_kv, int hd,
                         const float *kc, const float *vc, int ring, const int32_t *d_pos0,
                         const gtc_seqs *sq, int max_pos, int window, const float *sinks,
                         float scale, float *part, float *out, const gtc_act *qout,
                         gtc_stream st)
{
    if (hd > 64 || n_head % n_kv || n_head / n_kv > 32) {
        snprintf(g_err, sizeof g_err, "attention: unsupported head_dim %d / heads %d/%d", hd,
                 n_head, n_kv);
        return -1;
    }
    if (T <= 0) return 0;
    int n_keys = max_pos + 1;
    if (window > 0 && window < n_keys) n_keys = window;
    int ns = attn_nsplit(T, n_keys);
    int split = (n_keys + ns - 1) / ns;
    split = (split + 31) / 32 * 32;
    dim3 grid((unsigned)n_kv, (unsigned)T, (unsigned)ns);
    k_attn<<<grid, 32 * (n_head / n_kv), 0, (cudaStream_t)st>>>(q, ldq, n_head, n_kv, hd, kc, vc,
                                                                 ring, d_pos0, window, split,
                                                                 scale, part, *sq);
    CKL("attention");
    gtc_act qz;
    memset(&qz, 0, sizeof qz);
    k_attn_combine<<<dim3((unsigned)n_head, (unsigned)T), 64, 0, (cudaStream_t)st>>>(
        part, n_head, hd, ns, sinks, out, qout && hd % 32 == 0 && hd == 64 ? *qout : qz);
    CKL("attention_combine");
    return 0;
}

extern "C" int gtc_attention(const float *q, int ldq, int T, int n_head, int n_kv, int hd,
                             const float *kc, const float *vc, int ring, const int32_t *d_pos0,
                             int max_pos, int window, const float *sinks, float scale,
                             float *part, float *out, const gtc_act *qout, gtc_stream st)
{
    gtc_seqs none;
    memset(&none, 0, sizeof none);
    return attention_any(q, ldq, T, n_head, n_kv, hd, kc, vc, ring, d_pos0, &none, max_pos,
                         window, sinks, scale, part, out, qout, st);
}

extern "C" int gtc_attention_seqs(const float *q, int ldq, int T, int n_head, int n_kv, int hd,
                                  const gtc_seqs *sq, int ring, int max_pos, int window,
                                  const float *sinks, float scale, float *part, float *out,
                                  const gtc_act *qout, gtc_stream st)
{
    if (!seqs_ok(sq, "attention_seqs")) return -1;
    return attention_any(q, ldq, T, n_head, n_kv, hd, NULL, NULL, ring, sq->pos, sq, max_pos,
                         window, sinks, scale, part, out, qout, st);
}

extern "C" int gtc_epilogue(float *out, int ldo, const float *tmp, int ldt, int T, int n,
                            const float *bias, int add, int act, int split, gtc_stream st)
{
    int64_t tot = (int64_t)T * n;
    if (tot <= 0) return 0;
    k_epilogue<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(out, ldo, tmp, ldt, T, n,
                                                                  bias, add, act, split);
    CKL("epilogue");
    return 0;
}

extern "C" int gtc_gather_f16(const uint16_t *src, const int32_t *idx, int cnt, int n,
                              uint16_t *dst, gtc_stream st)
{
    int64_t tot = (int64_t)cnt * n;
    if (tot <= 0) return 0;
    k_gather_f16<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(src, idx, cnt, n, dst);
    CKL("gather");
    return 0;
}

extern "C" int gtc_swiglu_f16(const float *g, const float *u, int ld, int wlo, const float *bg,
                              const float *bu, int cnt, int n, float alpha, float limit,
                              uint16_t *h, int split, gtc_stream st)
{
    int64_t tot = (int64_t)cnt * n;
    if (tot <= 0) return 0;
    k_swiglu_f16<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(g, u, ld, wlo, bg, bu, cnt,
                                                                     n, alpha, limit, h, split);
    CKL("swiglu");
    return 0;
}

extern "C" int gtc_scatter_add(float *x, const float *y, int ldy, int wlo, const float *b,
                               const int32_t *idx, const float *wt, int cnt, int n, int split,
                               gtc_stream st)
{
    int64_t tot = (int64_t)cnt * n;
    if (tot <= 0) return 0;
    k_scatter_add<<<blocks_for(tot, 256), 256, 0, (cudaStream_t)st>>>(x, y, ldy, wlo, b, idx, wt, cnt,
                                                                      n, split);
    CKL("scatter_add");
    return 0;
}

extern "C" int gtc_argmax(const float *logits, int n, int32_t *out, gtc_stream st)
{
    k_argmax<<<1, 1024, 0, (cudaStream_t)st>>>(logits, n, out);
    CKL("argmax");
    return 0;
}
