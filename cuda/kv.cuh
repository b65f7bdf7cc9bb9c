/* kv.cuh — reading and writing KV cache elements in the cache's type (fp32, fp16, Q8_0 blocks of
 * 32: f16 scale d = amax / 127, 32 int8 round(x / d)), shared by the RoPE/store kernels
 * (cuda/rope.cu) and the attention kernels (cuda/attention.cu). */
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
 * xp = its partner; the same arithmetic as k_rope_store (cos and sin times mscale first). */
__device__ __forceinline__ float rope_elem(float x, float xp, int e, int hd, int pos,
                                           const float *inv_freq, float mscale) {
    const int half = hd / 2, i = e % half;
    float s, c;
    sincosf((float)pos * inv_freq[i], &s, &c);
    const float cs = c * mscale, sn = s * mscale;
    return e < half ? x * cs - xp * sn : x * cs + xp * sn;
}

#endif
