/* attention.cu — flash-decoding attention over the KV cache: split-K partial softmax records,
 * then a combine with the attention sinks (and the int16 copy of the output). */
#include "cuda/common.cuh"

#define PS 66 /* partial record: m, l, o[64] */

/* grid (n_kv, T, n_split), block 32*G (G = query heads per KV head). hd <= 64. */
/* element (head g, dim d) of cache row `row` as fp32 */
template <int KT>
__device__ __forceinline__ float kv_get(const uint8_t *c, size_t rb, int row, int e) {
    const uint8_t *r = c + (size_t)row * rb;
    if (KT == GTC_KV_F32) return __ldg((const float *)r + e);
    if (KT == GTC_KV_F16) return h2f(__ldg((const unsigned short *)r + e));
    const uint8_t *b = r + (size_t)(e / 32) * 34;
    return h2f(ld16(b)) * (float)(int8_t)b[2 + e % 32];
}

template <int KT> __global__ void k_attn(gtc_attn_args a, int split) {
    const float *q = a.q;
    const int ldq = a.ld, n_head = a.n_head, n_kv = a.n_kv, hd = a.hd, ring = a.ring;
    const int window = a.window;
    const float scale = a.scale;
    float *part = a.part;
    const gtc_seqs sq = a.seqs;
    const int32_t *pos0 = a.d_pos0;
    const uint8_t *kc = (const uint8_t *)a.kc, *vc = (const uint8_t *)a.vc;
    const size_t rb = kv_row_bytes(KT, n_kv * hd);
    __shared__ float Ks[32][65];
    __shared__ float Vs[32][64];
    __shared__ float Qs[32][64];
    const int g = blockIdx.x, t = blockIdx.y, sp = blockIdx.z, nsp = gridDim.z;
    const int G = n_head / n_kv;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int h = g * G + w;
    const int p = sq.pos ? sq.pos[t] : *pos0 + t;
    if (sq.pos) {
        kc = (const uint8_t *)sq.kc[t] + sq.layer_off;
        vc = (const uint8_t *)sq.vc[t] + sq.layer_off;
    }
    const int lo = window > 0 ? max(0, p - window + 1) : 0;
    const int start = lo + sp * split;
    const int end = min(p, start + split - 1);
    float m = -INFINITY, l = 0.f, o0 = 0.f, o1 = 0.f;
    for (int d = lane; d < 64; d += 32)
        Qs[w][d] = d < hd ? q[(size_t)t * ldq + h * hd + d] * scale : 0.f;
    for (int j0 = start; j0 <= end; j0 += 32) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < 32 * 64; idx += blockDim.x) {
            int jj = idx / 64, d = idx % 64, key = j0 + jj;
            float kv = 0.f, vv = 0.f;
            if (key <= end && d < hd) {
                const int row = ring > 0 ? key % ring : key;
                kv = kv_get<KT>(kc, rb, row, g * hd + d);
                vv = kv_get<KT>(vc, rb, row, g * hd + d);
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

__global__ void k_attn_combine(const float *part, int n_head, int hd, int nsp, const float *sinks,
                               float *out, gtc_act qa) {
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

static int attn_split_keys(void) /* keys per decode split; GPTC_CUDA_ATTN_SPLIT overrides */
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("GPTC_CUDA_ATTN_SPLIT");
        v = e && atoi(e) >= 32 ? atoi(e) : 32;
    }
    return v;
}

static int attn_nsplit(int T, int n_keys) {
    const int sk = attn_split_keys();
    int ns = T == 1 ? (n_keys + sk - 1) / sk : (n_keys + 255) / 256;
    int cap = T == 1 ? 128 : 4;
    if (ns > cap) ns = cap;
    return ns < 1 ? 1 : ns;
}

extern "C" size_t gtc_attn_part_floats(int T, int n_head, int n_ctx) {
    return (size_t)T * n_head * attn_nsplit(T, n_ctx) * PS;
}

extern "C" int gtc_attention(const gtc_attn_args *a, gtc_stream st) {
    if (gtc_attn_check(a, "attention")) return -1;
    if (a->T <= 0) return 0;
    int n_keys = a->max_pos + 1;
    if (a->window > 0 && a->window < n_keys) n_keys = a->window;
    int ns = attn_nsplit(a->T, n_keys);
    int split = (n_keys + ns - 1) / ns;
    split = (split + 31) / 32 * 32;
    dim3 grid((unsigned)a->n_kv, (unsigned)a->T, (unsigned)ns);
    const unsigned nt = 32 * (unsigned)(a->n_head / a->n_kv);
    cudaStream_t s = (cudaStream_t)st;
    switch (a->kv_type) {
    case GTC_KV_F32:
        k_attn<GTC_KV_F32><<<grid, nt, 0, s>>>(*a, split);
        break;
    case GTC_KV_F16:
        k_attn<GTC_KV_F16><<<grid, nt, 0, s>>>(*a, split);
        break;
    default:
        k_attn<GTC_KV_Q8_0><<<grid, nt, 0, s>>>(*a, split);
        break;
    }
    CKL("attention");
    gtc_act qz;
    memset(&qz, 0, sizeof qz);
    const int hd = a->hd;
    k_attn_combine<<<dim3((unsigned)a->n_head, (unsigned)a->T), 64, 0, s>>>(
        a->part, a->n_head, hd, ns, a->sinks, a->out, a->qout && hd == 64 ? *a->qout : qz);
    CKL("attention_combine");
    return 0;
}
