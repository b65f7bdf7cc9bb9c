/* rope.cu — RoPE (NeoX, YaRN-scaled table) of q and k, and the store of k and v into the KV
 * cache (full-length or a sliding-window ring) in its element type: fp32, fp16, or Q8_0 blocks
 * of 32 (ggml's block_q8_0: f16 scale, 32 int8; d = amax / 127, q = round(x / d)). */
#include "cuda/kv.cuh"

/* grid T, 256 threads (dynamic shared memory: the roped k row, n_kv * hd floats) */
template <int KT> __global__ void k_rope_store(gtc_attn_args a) {
    __shared__ float cs_[64], sn_[64];
    extern __shared__ float krow[];
    const int t = blockIdx.x, n_head = a.n_head, n_kv = a.n_kv, hd = a.hd, ld = a.ld;
    pdl_wait();
    pdl_trigger();
    const int pos = a.seqs.pos ? a.seqs.pos[t] : *a.d_pos0 + t;
    uint8_t *kc = (uint8_t *)a.kc, *vc = (uint8_t *)a.vc;
    if (a.seqs.pos) {
        kc = (uint8_t *)a.seqs.kc[t] + a.seqs.layer_off;
        vc = (uint8_t *)a.seqs.vc[t] + a.seqs.layer_off;
    }
    const int row = a.ring > 0 ? pos % a.ring : pos; /* cache row */
    const size_t rb = kv_row_bytes(KT, n_kv * hd);
    const int half = hd / 2;
    const int nr = (n_head + n_kv) * half;
    if (a.inv_freq) {
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            float th = (float)pos * a.inv_freq[i], s, c;
            sincosf(th, &s, &c);
            cs_[i] = c * a.mscale;
            sn_[i] = s * a.mscale;
        }
        __syncthreads();
    }
    for (int idx = threadIdx.x; idx < nr; idx += blockDim.x) {
        const int h = idx / half, i = idx % half;
        const float *src =
            h < n_head ? a.q + (size_t)t * ld + h * hd : a.k + (size_t)t * ld + (h - n_head) * hd;
        float x0 = src[i], x1 = src[i + half], y0 = x0, y1 = x1;
        if (a.inv_freq) {
            const float c = cs_[i], s = sn_[i];
            y0 = x0 * c - x1 * s;
            y1 = x1 * c + x0 * s;
        }
        if (h < n_head) {
            float *dq = a.q + (size_t)t * ld + h * hd;
            dq[i] = y0;
            dq[i + half] = y1;
        } else {
            float *dk = krow + (h - n_head) * hd;
            dk[i] = y0;
            dk[i + half] = y1;
        }
    }
    if (!kc) return;
    __syncthreads();
    const int n = n_kv * hd;
    uint8_t *kr = kc + (size_t)row * rb, *vr = vc + (size_t)row * rb;
    const float *vs = a.v + (size_t)t * ld;
    if (KT != GTC_KV_Q8_0) {
        for (int e = threadIdx.x; e < n; e += blockDim.x) {
            kv_put<KT>(kr, e, 0, krow[e]);
            kv_put<KT>(vr, e, 0, vs[e]);
        }
        return;
    }
    /* Q8_0: a warp per 32-element block of the k and v rows (n is a multiple of 32) */
    const int nb = n / 32, lane = threadIdx.x & 31;
    for (int b = threadIdx.x >> 5; b < 2 * nb; b += blockDim.x >> 5) {
        const int e = (b % nb) * 32 + lane;
        kv_put<KT>(b < nb ? kr : vr, e, lane, b < nb ? krow[e] : vs[e]);
    }
}

extern "C" size_t gtc_kv_row_bytes(int kv_type, int n) {
    return kv_row_bytes(kv_type, n);
}

/* checks shared by the rope/store and attention launchers */
int gtc_attn_check(const gtc_attn_args *a, const char *who) {
    if (a->hd > 64 || a->hd % 2 || a->n_kv <= 0 || a->n_head % a->n_kv ||
        a->n_head / a->n_kv > 32 || a->n_kv * a->hd > 4096 ||
        (a->kv_type == GTC_KV_Q8_0 && (a->n_kv * a->hd) % 32)) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "%s: unsupported head_dim %d / heads %d/%d", who,
                 a->hd, a->n_head, a->n_kv);
        return -1;
    }
    if (a->kv_type < GTC_KV_F32 || a->kv_type > GTC_KV_Q8_0) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "%s: unknown cache type %d", who, a->kv_type);
        return -1;
    }
    if (a->seqs.pos ? !(a->seqs.kc && a->seqs.vc) : !a->d_pos0) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "%s: missing positions or caches", who);
        return -1;
    }
    return 0;
}

extern "C" int gtc_rope_store(const gtc_attn_args *a, gtc_stream st) {
    if (a->T <= 0) return 0;
    if (gtc_attn_check(a, "rope_store")) return -1;
    const size_t sh = sizeof(float) * (size_t)a->n_kv * a->hd;
    switch (a->kv_type) {
    case GTC_KV_F32:
        return gtc_launch("rope_store", k_rope_store<GTC_KV_F32>, a->T, 256, sh, st, *a);
    case GTC_KV_F16:
        return gtc_launch("rope_store", k_rope_store<GTC_KV_F16>, a->T, 256, sh, st, *a);
    default:
        return gtc_launch("rope_store", k_rope_store<GTC_KV_Q8_0>, a->T, 256, sh, st, *a);
    }
}
