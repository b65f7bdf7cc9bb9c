/* embed.cu — token (and learned position) embedding gather, dequantised to fp32. */
#include "cuda/common.cuh"

__global__ void k_embed(gtc_mat w, const int32_t *ids, float *dst, gtc_mat pos, int has_pos,
                        const int32_t *pos0, const int32_t *post) {
    const int t = blockIdx.x;
    const int64_t nc = w.n_cols / 32;
    pdl_wait(); /* ids (and positions) may come from the kernel before (sampling) */
    pdl_trigger();
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

/* post: a position per token (else *pos0 + t) */
static int embed_any(const gtc_mat *w, const int32_t *d_ids, int T, float *dst, const gtc_mat *pos,
                     const int32_t *pos0, const int32_t *post, gtc_stream st) {
    gtc_mat pz;
    memset(&pz, 0, sizeof pz);
    if (T <= 0) return 0;
    return gtc_launch("embed", k_embed, T, 128, 0, st, *w, d_ids, dst, pos ? *pos : pz, pos != NULL,
                      pos0, post);
}

extern "C" int gtc_embed(const gtc_mat *w, const int32_t *d_ids, int T, float *dst,
                         const gtc_mat *pos, const int32_t *d_pos0, gtc_stream st) {
    return embed_any(w, d_ids, T, dst, pos, d_pos0, NULL, st);
}

extern "C" int gtc_embed_seqs(const gtc_mat *w, const int32_t *d_ids, int T, float *dst,
                              const gtc_mat *pos, const int32_t *d_pos, gtc_stream st) {
    return embed_any(w, d_ids, T, dst, pos, d_pos, d_pos, st);
}
