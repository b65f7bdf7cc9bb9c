/* kv.cuh — reading and writing KV cache elements in the cache's type (fp32, fp16, Q8_0 blocks of
 * 32: f16 scale d = amax / 127, 32 int8 round(x / d)), shared by the RoPE/store kernels
 * (cuda/rope.cu) and the attention kernels (cuda/attention*.cu). */
#ifndef GPTC_CUDA_KV_CUH
#define GPTC_CUDA_KV_CUH

#include "cuda/common.cuh"

/* Stores v at element e of a cache row. Q8_0: e = 32 * block + lane, and the 32 lanes of the
 * warp call together (the block's scale is their amax). */
template <int KT> __device__ __forceinline__ void kv_put(uint8_t *row, int e, int lane, float v) {
    if (KT == GTC_KV_F32) {
        ((float *)row)[e] = v;
    } else if (KT == GTC_KV_F16) {
        ((uint16_t *)row)[e] = f2h(v);
    } else {
        const float amax = warp_max(fabsf(v));
        const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
        uint8_t *b = row + (size_t)(e / 32) * 34;
        b[2 + lane] = (uint8_t)(int8_t)(int)roundf(v * id); /* as ggml: roundf */
        /* the f16 scale as one 16-bit store (blocks are 34 bytes, rows start 2-byte aligned):
         * written as two byte stores from lane 0, its low byte read back as 0 on sm_90a */
        if (lane == 0) *(uint16_t *)b = f2h(d);
    }
}

/* RoPE (NeoX pairs i, i + hd/2) of element e of a head of hd at position pos: x = the element,
 * xp = its partner; k_rope_store's formula (cos and sin times mscale first), though not always
 * its bits: the compiler may contract the two products into an FMA differently in each. */
__device__ __forceinline__ float rope_elem(float x, float xp, int e, int hd, int pos,
                                           const float *inv_freq, float mscale) {
    const int half = hd / 2, i = e % half;
    float s, c;
    sincosf((float)pos * inv_freq[i], &s, &c);
    const float cs = c * mscale, sn = s * mscale;
    return e < half ? x * cs - xp * sn : x * cs + xp * sn;
}

/* dims e0..e0+7 of a cache row: loaded raw (kv_ld: one 16-byte load for f16, two for f32, the
 * 8 int8 and the block scale for Q8_0), converted to fp32 when used (kv_cvt), so many loads are
 * in flight for few registers */
template <int KT> struct kv_raw {
    uint4 a, b; /* f32: a, b; f16: a; Q8_0: a.x, a.y the int8, a.z the scale */
};
template <int KT>
__device__ __forceinline__ kv_raw<KT> kv_ld(const uint8_t *c, size_t rb, int row, int e0) {
    const uint8_t *r = c + (size_t)row * rb;
    kv_raw<KT> x;
    if (KT == GTC_KV_F32) {
        const uint4 *p = (const uint4 *)((const float *)r + e0);
        x.a = p[0];
        x.b = p[1];
    } else if (KT == GTC_KV_F16) {
        x.a = *(const uint4 *)((const uint16_t *)r + e0);
    } else {
        const uint8_t *bl = r + (size_t)(e0 / 32) * 34;
        const uint16_t *qs = (const uint16_t *)(bl + 2 + e0 % 32);
        x.a.x = (uint32_t)qs[0] | (uint32_t)qs[1] << 16;
        x.a.y = (uint32_t)qs[2] | (uint32_t)qs[3] << 16;
        x.a.z = *(const uint16_t *)bl;
    }
    return x;
}
template <int KT> __device__ __forceinline__ void kv_cvt(const kv_raw<KT> &x, float *f) {
    if (KT == GTC_KV_F32) {
        const uint32_t w[8] = {x.a.x, x.a.y, x.a.z, x.a.w, x.b.x, x.b.y, x.b.z, x.b.w};
#pragma unroll
        for (int k = 0; k < 8; k++) f[k] = __uint_as_float(w[k]);
    } else if (KT == GTC_KV_F16) {
        const uint32_t w[4] = {x.a.x, x.a.y, x.a.z, x.a.w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const float2 v = __half22float2(*(const __half2 *)&w[k]);
            f[2 * k] = v.x;
            f[2 * k + 1] = v.y;
        }
    } else {
        const float d = h2f((uint16_t)x.a.z);
#pragma unroll
        for (int k = 0; k < 8; k++)
            f[k] = d * (float)(int8_t)((k < 4 ? x.a.x : x.a.y) >> (8 * (k % 4)));
    }
}

#endif
