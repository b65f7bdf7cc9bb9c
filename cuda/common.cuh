/* common.cuh — what every CUDA file of gptc shares: the C kernel API (gtc.h), the weight-format
 * ids (gguf/ggml_types.h), one checked-call macro pair for the launchers, and the device helpers
 * (fp16/E8M0 conversions, warp reductions, the block decoders dq32 / warp_dot that every matrix
 * kernel reads weights through, the int16 activation quantiser store_q16); the packed 4/5/6-bit
 * formats' layout and block dots are in cuda/packed.cuh. */
#ifndef GPTC_CUDA_COMMON_CUH
#define GPTC_CUDA_COMMON_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gtc.h"
#include "gguf/ggml_types.h"

/* message of the last failed call (gtc_last_error); gtc_fail fills it and returns -1 */
extern char gtc_err_buf[256];
int gtc_fail(cudaError_t e, const char *what);

/* CK(call): a CUDA runtime call; CKL(name): the launch just made. Both return -1 on failure. */
#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return gtc_fail(e_, #call);                                         \
    } while (0)
#define CKL(name)                                                                                  \
    do {                                                                                           \
        cudaError_t e_ = cudaGetLastError();                                                       \
        if (e_ != cudaSuccess) return gtc_fail(e_, name);                                          \
    } while (0)

static inline unsigned blocks_for(int64_t n, int bs) {
    return (unsigned)((n + bs - 1) / bs);
}

/* ---- programmatic dependent launch (PDL, sm_90+; GPTC_CUDA_PDL=0 off) --------------------------
 * gtc_launch starts a kernel, with the launch attribute that lets it begin while the kernel before
 * it in the stream is still running when gtc_pdl_on() (the knob is set and the device is sm_90 or
 * newer; a captured graph keeps the edge). Every kernel started through gtc_launch must call
 * pdl_wait() in every thread before its first read of anything an earlier kernel wrote and before
 * its first global write or atomic (the earlier kernel may still read what it overwrites), and
 * before any return: its completion then implies the earlier kernels' completion, which the
 * kernel after it relies on. Before the wait only pure prologue work: index math, weight
 * pointers, pdl_prefetch of weights (never written by a kernel; k_moe_down also reads its expert
 * ids early, as a prefetch hint only). pdl_trigger() after the wait lets the next kernel start
 * its own prologue (at most one kernel runs ahead). Both are no-ops on older architectures and
 * when the kernel was started without the attribute. */
template <typename... P, typename... A>
static inline int gtc_launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block,
                             size_t smem, gtc_stream st, A &&...args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = (cudaStream_t)st;
    cudaLaunchAttribute at[1] = {};
    if (gtc_pdl_on()) {
        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = at;
        cfg.numAttrs = 1;
    }
    cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, static_cast<A &&>(args)...);
    const cudaError_t l = cudaGetLastError(); /* also clears a failed launch's error */
    if (e == cudaSuccess) e = l;
    return e == cudaSuccess ? 0 : gtc_fail(e, name);
}

/* bytes of a KV cache row of n elements (n a multiple of 32) in cache type kv_type */
__host__ __device__ inline size_t kv_row_bytes(int kv_type, int n) {
    return kv_type == GTC_KV_F32   ? (size_t)n * 4
           : kv_type == GTC_KV_F16 ? (size_t)n * 2
                                   : (size_t)(n / 32) * 34;
}

/* 1 when w is stored as raw F32 / F16 / BF16 rows (the float weights' paths) */
__host__ __device__ inline bool mat_raw_float(const gtc_mat &w) {
    return !w.split &&
           (w.type == GGML_TYPE_F32 || w.type == GGML_TYPE_F16 || w.type == GGML_TYPE_BF16);
}

/* the shape / positions checks of gtc_rope_store and gtc_attention (-1 and the message) */
int gtc_attn_check(const gtc_attn_args *a, const char *who);

/* an integer knob from the environment: unset, empty, not a whole number, below min or above
 * 2^20: dflt */
int gtc_env_int(const char *name, int dflt, int min);
/* A kernel knob read from the environment once (gtc_env_int(name, dflt, min)), which a test hook
 * may override (set >= 0; -1: the environment's value again):
 *   static gtc_knob k = GTC_KNOB("GPTC_CUDA_X", 0, 0);  ... if (gtc_knob_get(&k)) ... */
typedef struct gtc_knob {
    const char *name;
    int dflt, min, set, v;
} gtc_knob;
#define GTC_KNOB(name, dflt, min)                                                                  \
    { (name), (dflt), (min), -1, -1 }
static inline int gtc_knob_get(gtc_knob *k) {
    if (k->set >= 0) return k->set;
    if (k->v < 0) k->v = gtc_env_int(k->name, k->dflt, k->min);
    return k->v;
}
/* the test hook: v >= 0 overrides the environment, v < 0 gives it back */
static inline void gtc_knob_set(gtc_knob *k, int v) {
    k->set = v < 0 ? -1 : v;
}

/* the current device's multiprocessor count (132, an H100's, when it cannot be read) */
int gtc_sm_count(void);

/* ============================== device helpers ============================================ */
/* PDL (see gtc_launch): wait for the kernel before to finish and its writes to be visible */
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
/* PDL: the next kernel may start (its blocks wait in pdl_wait until this kernel is done) */
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
/* Prefetch into L2 of bytes [p, p + n) (weights, before pdl_wait): one 128-byte line per lane
 * of a warp at a time, at most 32 lines per lane. */
__device__ __forceinline__ void pdl_prefetch(const void *p, size_t n, int lane) {
    const char *c = (const char *)p;
    for (size_t o = (size_t)lane * 128, k = 0; o < n && k < 32; o += 32 * 128, k++)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(c + o));
}
__device__ __forceinline__ float h2f(uint16_t u) {
    return __half2float(__ushort_as_half(u));
}
__device__ __forceinline__ uint16_t f2h(float f) {
    return __half_as_ushort(__float2half_rn(f));
}
__device__ __forceinline__ uint16_t ld16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
__device__ __forceinline__ uint32_t ld32u(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
/* ggml's MXFP4 scale: half of E8M0, 2^(e-128) */
__device__ __forceinline__ float e8m0_half(uint32_t e) {
    return e < 2 ? __uint_as_float(0x00200000u << e) : __uint_as_float((e - 1) << 23);
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* doubled E2M1 value of a 4-bit code: 0 1 2 3 4 6 8 12, bit 3 = sign */
__device__ __forceinline__ float kv_e2m1(int c) {
    int m = c & 7;
    float v = m < 4 ? (float)m : (float)((m & 1 ? 6 : 4) << ((m - 4) >> 1));
    return c & 8 ? -v : v;
}

/* E2M1 nibbles (4 per 16-bit half h) -> 4 int8 values (doubled E2M1). */
__device__ __forceinline__ int mxfp4_conv(uint32_t h) {
    const uint32_t sel = h & 0x7777u;
    const uint32_t pos = __byte_perm(0x03020100u, 0x0C080604u, sel);
    const uint32_t neg = __byte_perm(0xFDFEFF00u, 0xF4F8FAFCu, sel);
    return (int)__byte_perm(pos, neg, 0x3210u | ((h >> 1) & 0x4444u));
}

__device__ __forceinline__ int4 ldg4(const void *p) {
    return __ldg((const int4 *)p);
}
/* 4 int8 weights (w) . 4 int16 activations (two pairs) + c */
__device__ __forceinline__ int dot4(int w, int xlo, int xhi, int c) {
    return __dp2a_hi(xhi, w, __dp2a_lo(xlo, w, c));
}
/* The integer dot of one MXFP4 block (16 bytes of nibble pairs, split layout) with its 32 int16
 * activations in MXFP4 order, X0..X3 (4 x 16 bytes). */
__device__ __forceinline__ int mxfp4_dot32(int4 w, int4 X0, int4 X1, int4 X2, int4 X3) {
    const uint32_t q0 = (uint32_t)w.x, q1 = (uint32_t)w.y, q2 = (uint32_t)w.z, q3 = (uint32_t)w.w;
    int s = dot4(mxfp4_conv(q0 & 0xffff), X0.x, X0.y, 0);
    s = dot4(mxfp4_conv(q0 >> 16), X0.z, X0.w, s);
    s = dot4(mxfp4_conv(q1 & 0xffff), X1.x, X1.y, s);
    s = dot4(mxfp4_conv(q1 >> 16), X1.z, X1.w, s);
    s = dot4(mxfp4_conv(q2 & 0xffff), X2.x, X2.y, s);
    s = dot4(mxfp4_conv(q2 >> 16), X2.z, X2.w, s);
    s = dot4(mxfp4_conv(q3 & 0xffff), X3.x, X3.y, s);
    return dot4(mxfp4_conv(q3 >> 16), X3.z, X3.w, s);
}

#include "cuda/packed.cuh"

/* Byte pointer of source row srow (raw layout). */
__device__ __forceinline__ const uint8_t *raw_row(const gtc_mat &w, int64_t srow) {
    return w.base + (size_t)srow * w.row_bytes;
}

/* pdl_prefetch of the quant bytes of source row srow of w (the first region of a split / packed
 * row, the whole row of a raw one) */
__device__ __forceinline__ void pdl_prefetch_row(const gtc_mat &w, int64_t srow, int lane) {
    const size_t nb = (size_t)(w.n_cols / 32);
    if (!w.split)
        pdl_prefetch(raw_row(w, srow), w.row_bytes, lane);
    else if (w.type == GGML_TYPE_Q8_0)
        pdl_prefetch(w.base + (size_t)srow * nb * 32, nb * 32, lane);
    else /* MXFP4 and the packed formats: 16 bytes of quants per block first */
        pdl_prefetch(w.base + (size_t)srow * nb * 16, nb * 16, lane);
}

/* A split Q8_0 block's 32 values: the int8 quants (a, b: 16 bytes each) times its scale d. */
__device__ __forceinline__ void q8_decode32(int4 a, int4 b, float d, float *v) {
    const int wd[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
    for (int j = 0; j < 32; j++) v[j] = d * (float)(int8_t)(wd[j / 4] >> (8 * (j % 4)));
}
/* A split MXFP4 block's 32 values: its 16 bytes of E2M1 nibbles (doubled by mxfp4_conv) times
 * d, the E8M0 scale halved. */
__device__ __forceinline__ void mxfp4_decode32(int4 q4, float d, float *v) {
    const uint32_t wd[4] = {(uint32_t)q4.x, (uint32_t)q4.y, (uint32_t)q4.z, (uint32_t)q4.w};
#pragma unroll
    for (int k = 0; k < 8; k++) { /* half k: elements j, j+16, j+1, j+17 (j = 2k) */
        const int r = mxfp4_conv((wd[k / 2] >> (16 * (k % 2))) & 0xffff);
        const int j = 2 * k;
        v[j] = d * (float)(int8_t)r;
        v[j + 16] = d * (float)(int8_t)(r >> 8);
        v[j + 1] = d * (float)(int8_t)(r >> 16);
        v[j + 17] = d * (float)(int8_t)(r >> 24);
    }
}

/* dq32 for every layout but the packed one */
__device__ inline void dq32_unpacked(const gtc_mat &w, int64_t srow, int c, float *v) {
    const int64_t nb = w.n_cols / 32;
    if (w.split) {
        if (w.type == GGML_TYPE_Q8_0) {
            const int4 *qs = (const int4 *)(w.base + ((size_t)srow * nb + c) * 32);
            const uint16_t *dp = (const uint16_t *)(w.base + (size_t)w.src_rows * nb * 32);
            q8_decode32(qs[0], qs[1], h2f(dp[srow * nb + c]), v);
        } else { /* MXFP4 */
            const int4 q4 = *(const int4 *)(w.base + ((size_t)srow * nb + c) * 16);
            const uint8_t *ep = w.base + (size_t)w.src_rows * nb * 16;
            mxfp4_decode32(q4, e8m0_half(ep[srow * nb + c]), v);
        }
        return;
    }
    const uint8_t *row = raw_row(w, srow);
    switch (w.type) {
    case GGML_TYPE_F32: {
        const float *p = (const float *)row + 32 * c;
        for (int j = 0; j < 32; j++) v[j] = p[j];
        break;
    }
    case GGML_TYPE_F16: {
        const uint16_t *p = (const uint16_t *)row + 32 * c;
        for (int j = 0; j < 32; j++) v[j] = h2f(p[j]);
        break;
    }
    case GGML_TYPE_BF16: {
        const uint16_t *p = (const uint16_t *)row + 32 * c;
        for (int j = 0; j < 32; j++) v[j] = __uint_as_float((uint32_t)p[j] << 16);
        break;
    }
    case GGML_TYPE_Q8_0: {
        const uint8_t *b = row + 34 * c;
        float d = h2f(ld16(b));
        for (int j = 0; j < 32; j++) v[j] = d * (int8_t)b[2 + j];
        break;
    }
    case GGML_TYPE_MXFP4: {
        const uint8_t *b = row + 17 * c;
        float d = e8m0_half(b[0]);
        for (int j = 0; j < 16; j++) {
            v[j] = d * kv_e2m1(b[1 + j] & 15);
            v[j + 16] = d * kv_e2m1(b[1 + j] >> 4);
        }
        break;
    }
    default:
        for (int j = 0; j < 32; j++) v[j] = __int_as_float(0x7fc00000);
    }
}

/* Dequantises elements [32c, 32c + 32) of source row srow into v[32]. */
__device__ inline void dq32(const gtc_mat &w, int64_t srow, int c, float *v) {
    if (w.split && pk_type(w.type))
        pk_dequant(w, srow, c, v);
    else
        dq32_unpacked(w, srow, c, v);
}

/* lane_dot_dq32 for a packed row (the packed formats without block sums) */
template <int TY>
__device__ __forceinline__ float lane_dot_pk_f32_t(const gtc_mat &w, int64_t srow, const float *xf,
                                                   int lane) {
    const int nb = (int)(w.n_cols / 32);
    float v[32], acc = 0.f;
    for (int c = lane; c < nb; c += 32) {
        pk_dequant_t<TY>(w, srow, c, v);
        for (int j = 0; j < 32; j++) acc += v[j] * __ldg(xf + 32 * c + j);
    }
    return acc;
}
static __device__ __noinline__ float lane_dot_pk_f32(const gtc_mat w, int64_t srow, const float *xf,
                                                     int lane) {
    switch (w.type) {
    case GGML_TYPE_Q4_0:
        return lane_dot_pk_f32_t<GGML_TYPE_Q4_0>(w, srow, xf, lane);
    case GGML_TYPE_Q4_1:
        return lane_dot_pk_f32_t<GGML_TYPE_Q4_1>(w, srow, xf, lane);
    case GGML_TYPE_Q5_0:
        return lane_dot_pk_f32_t<GGML_TYPE_Q5_0>(w, srow, xf, lane);
    case GGML_TYPE_Q5_1:
        return lane_dot_pk_f32_t<GGML_TYPE_Q5_1>(w, srow, xf, lane);
    case GGML_TYPE_Q4_K:
        return lane_dot_pk_f32_t<GGML_TYPE_Q4_K>(w, srow, xf, lane);
    case GGML_TYPE_Q5_K:
        return lane_dot_pk_f32_t<GGML_TYPE_Q5_K>(w, srow, xf, lane);
    default:
        return lane_dot_pk_f32_t<GGML_TYPE_Q6_K>(w, srow, xf, lane);
    }
}

/* The fp32 path of warp_dot (any format through dq32; the lane's partial sum). Not inlined:
 * its 32 dequantised values would crowd the registers of every kernel that calls warp_dot. */
static __device__ __noinline__ float lane_dot_dq32(const gtc_mat w, int64_t srow, const float *xf,
                                                   int lane) {
    const int nb = (int)(w.n_cols / 32);
    float v[32], acc = 0.f;
    for (int c = lane; c < nb; c += 32) {
        dq32_unpacked(w, srow, c, v);
        const float4 *x4 = (const float4 *)(xf + 32 * c);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            float4 xx = __ldg(x4 + j);
            acc +=
                v[4 * j] * xx.x + v[4 * j + 1] * xx.y + v[4 * j + 2] * xx.z + v[4 * j + 3] * xx.w;
        }
    }
    return acc;
}

/* The packed integer path of warp_dot (the lane's partial sum). Not inlined: its seven
 * formats' code would take the registers of every kernel that calls warp_dot (k_gemv went from
 * 128 registers to 218 and a 328-byte stack frame with it inlined); the hot packed kernels
 * inline lane_pk for their one format instead (k_gemv_pk, k_moe_gate_up<TY>, k_moe_down<TY>). */
static __device__ __noinline__ float lane_dot_pk(uint32_t type, pk_row row, const int16_t *q,
                                                 const float *s, const int *z, int nb, int lane) {
    const pk_row p[1] = {row};
    const int16_t *const xq[1] = {q};
    const float *const xs[1] = {s};
    const int *const xz[1] = {z};
    float a[1] = {0.f};
    lane_pk_any<1, 1>(type, p, xq, xs, xz, nb, lane, a);
    return a[0];
}

/* The lane's partial dot of split Q8_0 row srow with int16 activations xq (scales xs): 4 blocks
 * per lane in flight. */
__device__ __forceinline__ float lane_q8_row(const gtc_mat &w, int64_t srow, const int16_t *xq,
                                             const float *xs, int nb, int lane) {
    const uint8_t *qs = w.base + (size_t)srow * nb * 32;
    const uint16_t *dp = (const uint16_t *)(w.base + (size_t)w.src_rows * nb * 32) + srow * nb;
    float acc = 0.f;
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
    return acc;
}

/* two float4 as v[0..7] */
__device__ __forceinline__ void f4x2(float4 a, float4 b, float (&v)[8]) {
    v[0] = a.x;
    v[1] = a.y;
    v[2] = a.z;
    v[3] = a.w;
    v[4] = b.x;
    v[5] = b.y;
    v[6] = b.z;
    v[7] = b.w;
}
/* The lane's partial dot of chunks [c0, c1) of 8 elements of an F32 / F16 / BF16 row (raw
 * layout) with activations that xv8(i, v) gives as v[0..7] = elements i..i+7: coalesced
 * stripes, lane l takes chunks c0 + l, c0 + l + 32, ... */
template <class XV8>
__device__ __forceinline__ float lane_float_chunks_x(const gtc_mat &w, int64_t srow, int lane,
                                                     int c0, int c1, XV8 xv8) {
    float acc = 0.f;
    const uint8_t *row = raw_row(w, srow);
    for (int c = c0 + lane; c < c1; c += 32) {
        const int i = 8 * c;
        float xa[8];
        xv8(i, xa);
        float wv[8];
        if (w.type == GGML_TYPE_F32) {
            f4x2(__ldg((const float4 *)((const float *)row + i)),
                 __ldg((const float4 *)((const float *)row + i + 4)), wv);
        } else {
            uint4 u = __ldg((const uint4 *)((const uint16_t *)row + i));
            uint32_t uu[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
            for (int j = 0; j < 4; j++) {
                uint16_t lo = (uint16_t)(uu[j] & 0xffff), hi = (uint16_t)(uu[j] >> 16);
                wv[2 * j] = w.type == GGML_TYPE_F16 ? h2f(lo) : __uint_as_float((uint32_t)lo << 16);
                wv[2 * j + 1] =
                    w.type == GGML_TYPE_F16 ? h2f(hi) : __uint_as_float((uint32_t)hi << 16);
            }
        }
        acc += wv[0] * xa[0] + wv[1] * xa[1] + wv[2] * xa[2] + wv[3] * xa[3] + wv[4] * xa[4] +
               wv[5] * xa[5] + wv[6] * xa[6] + wv[7] * xa[7];
    }
    return acc;
}
/* the same with the fp32 activations xf */
__device__ __forceinline__ float lane_float_chunks(const gtc_mat &w, int64_t srow, const float *xf,
                                                   int lane, int c0, int c1) {
    return lane_float_chunks_x(w, srow, lane, c0, c1, [xf](int i, float(&v)[8]) {
        f4x2(__ldg((const float4 *)(xf + i)), __ldg((const float4 *)(xf + i + 4)), v);
    });
}
/* the whole row: lane l takes 8 consecutive elements of every 256 */
__device__ __forceinline__ float lane_float_row(const gtc_mat &w, int64_t srow, const float *xf,
                                                int lane) {
    return lane_float_chunks(w, srow, xf, lane, 0, (int)((w.n_cols + 7) / 8));
}

/* dot(source row srow, x token row) for one warp; result valid in every lane. */
__device__ inline float warp_dot(const gtc_mat &w, int64_t srow, const gtc_act &x, int t,
                                 int lane) {
    const int n = x.n;
    const int nb = (int)(w.n_cols / 32);
    float acc = 0.f;
    if (w.split && w.type == GGML_TYPE_Q8_0 && x.q) {
        acc = lane_q8_row(w, srow, x.q + (size_t)t * n, x.s + (size_t)t * (n / 32), nb, lane);
    } else if (w.split && w.type == GGML_TYPE_MXFP4 && x.qi) {
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
                    const int s = mxfp4_dot32(wq[u], X0, X1, X2, X3);
                    acc += sc[u] * (float)s;
                }
            }
        }
    } else if (pk_fast(w, x)) {
        acc = lane_dot_pk(w.type, pk_row_at(w, srow), x.q + (size_t)t * n,
                          x.s + (size_t)t * (n / 32), x.qsum + (size_t)t * (n / 32), nb, lane);
    } else if (mat_raw_float(w)) {
        acc = lane_float_row(w, srow, x.f + (size_t)t * n, lane);
    } else if (w.split && pk_type(w.type)) {
        acc = lane_dot_pk_f32(w, srow, x.f + (size_t)t * n, lane);
    } else {
        acc = lane_dot_dq32(w, srow, x.f + (size_t)t * n, lane);
    }
    return warp_sum(acc);
}

__device__ __forceinline__ float gelu_tanh(float x) {
    return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float swiglu_oai(float g, float u, float alpha, float limit) {
    g = fminf(g, limit);
    u = fminf(fmaxf(u, -limit), limit);
    return g / (1.f + expf(-alpha * g)) * (u + 1.f);
}
/* y[t][r] of a GEMV segment: (add ? y : 0) + act(acc + bias[r]) (one lane writes) */
__device__ __forceinline__ void seg_store(const gtc_gemv_seg &sg, int t, int64_t r, float acc) {
    float v = acc + (sg.bias ? sg.bias[r] : 0.f);
    if (sg.act == GTC_ACT_GELU) v = gelu_tanh(v);
    float *y = sg.y + (size_t)t * sg.ldy + r;
    *y = sg.add ? *y + v : v;
}

/* sum of v over the block (every thread gets it; red: one float per warp in shared memory) */
__device__ __forceinline__ float block_sum(float v, float *red) {
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) red[wid] = v;
    __syncthreads();
    float r = 0.f;
    for (int i = 0; i < nw; i++) r += red[i];
    return r;
}

/* The statistics of norm (GTC_NORM_RMS / GTC_NORM_LAYER; other: mean 0, scale 1) over the row
 * xr[n], reduced over the block; then norm_apply gives element i normalised (weights w, bias b). */
__device__ __forceinline__ void norm_stats(const float *xr, int n, int norm, float eps, float *red,
                                           float &mean, float &scale) {
    mean = 0.f;
    scale = 1.f;
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
}
__device__ __forceinline__ float norm_apply(float v, int i, int norm, float mean, float scale,
                                            const float *w, const float *b) {
    if (norm == GTC_NORM_RMS) return v * scale * w[i];
    if (norm == GTC_NORM_LAYER) return (v - mean) * scale * w[i] + b[i];
    return v;
}

/* position of element i of a 32-block in the MXFP4 activation order 0,16,1,17,... */
__device__ __forceinline__ int qi_pos(int i) {
    return i < 16 ? 2 * i : 2 * (i - 16) + 1;
}

/* The int16 copies of one 32-element block (block index blk of a, counted over all rows; lane
 * holds element lane, value v; every lane of the warp calls): q in natural order, qi (if any) in
 * MXFP4 order, the block's scale amax / 32767, the sum of its q (if qsum). */
__device__ __forceinline__ void store_q16(const gtc_act &a, size_t blk, int lane, float v) {
    const float amax = warp_max(fabsf(v));
    const float d = amax / 32767.f;
    const int q = d > 0.f ? __float2int_rn(v / d) : 0;
    a.q[blk * 32 + lane] = (int16_t)q;
    if (a.qi) a.qi[blk * 32 + qi_pos(lane)] = (int16_t)q;
    const float z = a.qsum ? warp_sum((float)q) : 0.f; /* exact: |z| < 2^21 */
    if (lane == 0) {
        a.s[blk] = d;
        if (a.qsum) a.qsum[blk] = (int)z;
    }
}

/* One warp's share of gtc_prep_act: 32-block c of token t's row xr (n elements) normalised
 * (mean / scale of norm_stats) into out: fp32, the split fp16 rows (hi at row t, lo at row T + t
 * of T tokens) and the int16 copies. */
__device__ __forceinline__ void prep_block(const float *xr, int n, int t, int T, int c, int norm,
                                           float mean, float scale, const float *w, const float *b,
                                           const gtc_act &out) {
    const int lane = threadIdx.x & 31, i = c * 32 + lane;
    float v = 0.f;
    if (i < n) {
        v = norm_apply(xr[i], i, norm, mean, scale, w, b);
        out.f[(size_t)t * n + i] = v;
        if (out.h) { /* split fp16: hi = f16(v) in rows [0, T), lo = f16(v - hi) in rows [T, 2T) */
            const uint16_t hi = f2h(v);
            out.h[(size_t)t * n + i] = hi;
            out.h[((size_t)T + t) * n + i] = f2h(v - h2f(hi));
        }
    }
    if (out.q) store_q16(out, (size_t)t * (n / 32) + c, lane, v);
}

#endif
