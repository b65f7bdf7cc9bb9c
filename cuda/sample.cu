/* sample.cu — token sampling on the device, the twin of engine/sampler.c (same order and rules:
 * logit bias -> penalties -> greedy if temperature <= 0 -> top-k -> top-p -> min-p -> temperature
 * -> draw; ties to the lower id; NaN counts as -inf; with +inf logits the first one wins).
 *
 * The RNG stays on the host: the caller draws u = gt_rng_uniform() (one per non-greedy call, as
 * gt_sampler_sample does) and passes it; the device writes one int32 id. No allocation, no host
 * synchronisation: every launch has a grid fixed by n_vocab and the data-dependent decisions are
 * read from a small state block in the workspace, so the sequence is capturable in a graph (the
 * parameters and u are kernel arguments: a captured graph freezes them).
 *
 * Kernels (n = n_vocab; "1 block" kernels use 1024 threads):
 *   bias and penalties (only when a bias is given, or a penalty is on and the window is not
 *     empty): copy logits -> work, clear counts[id] of the window's ids; add each bias (one
 *     thread per listed id: the ids are distinct); count (atomicAdd); apply once per distinct id
 *     (atomicExch hands the count to one thread, which also clears it).
 *   k_reduce (<=128 blocks) + k_final (1 warp): max and first argmax (NaN ignored); greedy, an
 *     all -inf/NaN vocabulary (-> 0) and a +inf (-> its first id) finish here.
 *   no filter / min-p alone (draw in id order): k_exp (one block per GT_SAMPLER_BLOCK = 256
 *     ids: the same Cephes float exp as sampler.c, block sums in double) + k_drawv (1 block:
 *     scan of the block sums, then a scan of the one block the draw falls in).
 *   top-k / top-p: k_hist (count histogram of the value's top 12 key bits for top-k; for top-p
 *     z = sum exp(l - max) and the mass histogram of exp by octave/8, as sampler.c) + k_thresh
 *     (1 block: the threshold bucket) + k_gather (candidates past it, warp-aggregated append) +
 *     k_select (1 block: sort by (value desc, id asc) -- a bitonic sort in shared memory up to
 *     16384 candidates (4096 on cards without 128 KiB of opt-in shared memory), else a bitonic
 *     sort through global memory with shared tiles, ~ms for 100k candidates -- then the top-k
 *     cut, the top-p cut, min-p and the draw over the sorted list).
 * The float exp is bit-identical to sampler.c's (explicit fmaf and _rn intrinsics: no
 * contraction); double sums are added in another association than the CPU's, and double exp
 * may differ from glibc's by an ulp, so a draw within ~1e-13 of a CDF boundary may pick the
 * neighbouring token. */
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cuda/common.cuh"

#define SMP_BLOCK 256  /* GT_SAMPLER_BLOCK (engine/sampler.h) */
#define EXACT_MAX 4096 /* sampler.c EXACT_DRAW_MAX: up to this many candidates, double exp */
#define CAP_MIN 4096   /* candidates sorted in shared memory: 4096 (32 KiB of keys), or */
#define CAP_MAX 16384  /* 16384 (128 KiB) where the card lets a block opt in to that much */
#define NT 1024        /* threads of the one-block kernels */
#define RB_MAX 128     /* blocks of k_reduce */
#define HB_ELEMS 16384 /* ids per block of k_hist */
#define N_EBUCKET 1024 /* exp buckets: float bits >> 20 (sampler.c N_BUCKET) */
#define HIST_MIN 0x330 /* sampler.c HIST_MIN */
#define N_KBUCKET 4096 /* value-key buckets: key >> 20 */
#define FULLMASK 0xffffffffu

enum { M_GREEDY, M_FULL, M_MINP, M_TOPK, M_TOPP };

struct smp_state {
    float mx;  /* max logit (NaN ignored) */
    int amax;  /* its first id (0 when mx = -inf) */
    int done;  /* the id is written */
    int bk;    /* top-k: last key bucket gathered */
    int bmin;  /* top-p: lowest exp bucket gathered */
    int ncand; /* gathered candidates */
    double z;  /* top-p: sum over the vocabulary of exp(l - mx) */
};

struct smp_args {
    const float *l; /* logits (or their penalised copy) */
    int nv, mode, top_k, has_minp;
    float top_p, min_p, lmp, inv_tf; /* lmp = logf(min_p) (host libm, as sampler.c); inv_tf = 1/T */
    double inv_td, u;
    smp_state *st;
    float *pv;
    int *pi;
    double *bzf, *bze, *bce, *zp, *eh;
    int *bn;
    unsigned *kh;
    unsigned long long *keys; /* [pow2 >= n_vocab] */
    int32_t *out;
    int cap; /* k_select's shared keys (dynamic shared memory), a power of two */
};

extern "C" const char *gtc_sample_last_error(void) {
    return gtc_err_buf;
}

/* ---- the constraint mask ------------------------------------------------------------------ */
__global__ void k_apply_mask(const float *logits, float *out, int n, const uint32_t *bits) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = (bits[i >> 5] >> (i & 31)) & 1u ? logits[i] : -INFINITY;
}

extern "C" int gtc_apply_mask(const float *d_logits, float *d_out, int n, const uint32_t *d_bits,
                              gtc_stream st) {
    if (n <= 0) return 0;
    k_apply_mask<<<(n + 255) / 256, 256, 0, (cudaStream_t)st>>>(d_logits, d_out, n, d_bits);
    CKL("apply_mask");
    return 0;
}

/* ---- device helpers --------------------------------------------------------------------- */
/* sampler.c fast_exp, operation for operation (x <= 0; NaN, -inf and x < -87 give 0) */
__device__ __forceinline__ float dfast_exp(float x) {
    if (!(x >= -87.0f)) return 0.0f;
    float n = rintf(__fmul_rn(x, 1.44269504088896341f));
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float q = 1.9875691500e-4f;
    q = fmaf(q, r, 1.3981999507e-3f);
    q = fmaf(q, r, 8.3334519073e-3f);
    q = fmaf(q, r, 4.1665795894e-2f);
    q = fmaf(q, r, 1.6666665459e-1f);
    q = fmaf(q, r, 5.0000001201e-1f);
    q = fmaf(q, __fmul_rn(r, r), __fadd_rn(r, 1.0f));
    int bits = ((int)n + 127) * (1 << 23);
    return __fmul_rn(q, __int_as_float(bits));
}

/* sort key: ascending key = value descending (NaN as -inf, -0 as +0), then id ascending */
__device__ __forceinline__ uint32_t dkey(float v) {
    if (v != v) v = -INFINITY;
    if (v == 0.0f) v = 0.0f;
    uint32_t u = __float_as_uint(v);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}
__device__ __forceinline__ float key_val(unsigned long long k) {
    uint32_t u = ~(uint32_t)(k >> 32);
    u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
    return __uint_as_float(u);
}
__device__ __forceinline__ int key_id(unsigned long long k) {
    return (int)(uint32_t)k;
}
__device__ __forceinline__ unsigned long long mkkey(float v, int id) {
    return ((unsigned long long)dkey(v) << 32) | (uint32_t)id;
}

/* Block reductions: every thread of the block calls them (block-uniform control flow) and
 * gets the result; the leading __syncthreads protects the scratch from the previous call. */
__device__ double block_sum(double v) {
    __shared__ double sh[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(FULLMASK, v, o);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    double r = 0.0;
    for (int k = 0; k < nw; k++) r += sh[k];
    return r;
}
__device__ int block_sum_int(int v) {
    __shared__ int shi[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(FULLMASK, v, o);
    __syncthreads();
    if (lane == 0) shi[w] = v;
    __syncthreads();
    int r = 0;
    for (int k = 0; k < nw; k++) r += shi[k];
    return r;
}
__device__ int block_min_int(int v) {
    __shared__ int shm[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o; o >>= 1) v = min(v, __shfl_xor_sync(FULLMASK, v, o));
    __syncthreads();
    if (lane == 0) shm[w] = v;
    __syncthreads();
    int r = INT_MAX;
    for (int k = 0; k < nw; k++) r = min(r, shm[k]);
    return r;
}
__device__ int block_max_int(int v) {
    __shared__ int shx[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o; o >>= 1) v = max(v, __shfl_xor_sync(FULLMASK, v, o));
    __syncthreads();
    if (lane == 0) shx[w] = v;
    __syncthreads();
    int r = INT_MIN;
    for (int k = 0; k < nw; k++) r = max(r, shx[k]);
    return r;
}
/* inclusive prefix sum over the block in thread order; *total = the block's sum */
__device__ double block_scan(double v, double *total) {
    __shared__ double shs[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 1; o < 32; o <<= 1) {
        double t = __shfl_up_sync(FULLMASK, v, o);
        if (lane >= o) v += t;
    }
    __syncthreads();
    if (lane == 31) shs[w] = v;
    __syncthreads();
    double pre = 0.0, tot = 0.0;
    for (int k = 0; k < nw; k++) {
        if (k < w) pre += shs[k];
        tot += shs[k];
    }
    *total = tot;
    return v + pre;
}

/* ---- penalties -------------------------------------------------------------------------- */
__global__ void k_pen_copy(const float *src, float *dst, int nv, const int32_t *win, int n_win,
                           int *cnt) {
    const int stride = gridDim.x * blockDim.x;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < nv; i += stride) dst[i] = src[i];
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_win; i += stride) {
        int id = win[i];
        if (id >= 0 && id < nv) cnt[id] = 0;
    }
}
/* sampler.c: work[id] += bias for each listed id (float add) */
__global__ void k_bias(float *l, int nv, const gtc_bias *b, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int id = b[i].id;
    if (id >= 0 && id < nv) l[id] = __fadd_rn(l[id], b[i].bias);
}
__global__ void k_pen_count(int nv, const int32_t *win, int n_win, int *cnt) {
    const int stride = gridDim.x * blockDim.x;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_win; i += stride) {
        int id = win[i];
        if (id >= 0 && id < nv) atomicAdd(&cnt[id], 1);
    }
}
/* sampler.c apply_penalties: repeat divides positive logits and multiplies the others, then
 * v -= count * frequency + presence (float operations, no fused multiply-add) */
__global__ void k_pen_apply(float *l, int nv, const int32_t *win, int n_win, int *cnt, float rp,
                            float pp, float fp) {
    const int stride = gridDim.x * blockDim.x;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_win; i += stride) {
        int id = win[i];
        if (id < 0 || id >= nv) continue;
        int c = atomicExch(&cnt[id], 0);
        if (c <= 0) continue;
        float v = l[id];
        if (rp != 1.0f && rp > 0.0f) v = v > 0 ? __fdiv_rn(v, rp) : __fmul_rn(v, rp);
        v = __fsub_rn(v, __fadd_rn(__fmul_rn((float)c, fp), pp));
        l[id] = v;
    }
}

/* ---- max / argmax ----------------------------------------------------------------------- */
__device__ __forceinline__ void best_merge(float &bv, int &bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}
__global__ void __launch_bounds__(256) k_reduce(smp_args a) {
    __shared__ float sv[8];
    __shared__ int si[8];
    float bv = -INFINITY;
    int bi = INT_MAX;
    const int stride = gridDim.x * blockDim.x;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < a.nv; i += stride) {
        float v = a.l[i];
        if (v == v) best_merge(bv, bi, v, i); /* NaN never wins */
    }
    for (int o = 16; o; o >>= 1) {
        float ov = __shfl_xor_sync(FULLMASK, bv, o);
        int oi = __shfl_xor_sync(FULLMASK, bi, o);
        best_merge(bv, bi, ov, oi);
    }
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) {
        sv[w] = bv;
        si[w] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x >> 5); k++) best_merge(bv, bi, sv[k], si[k]);
        a.pv[blockIdx.x] = bv;
        a.pi[blockIdx.x] = bi;
    }
}

/* one warp: combines k_reduce's nrb partials; finishes greedy / no number / +inf; clears the
 * candidate state */
__global__ void k_final(smp_args a, int nrb) {
    const int lane = threadIdx.x;
    float bv = -INFINITY;
    int bi = INT_MAX;
    for (int k = lane; k < nrb; k += 32) best_merge(bv, bi, a.pv[k], a.pi[k]);
    for (int o = 16; o; o >>= 1) {
        float ov = __shfl_xor_sync(FULLMASK, bv, o);
        int oi = __shfl_xor_sync(FULLMASK, bi, o);
        best_merge(bv, bi, ov, oi);
    }
    if (a.mode == M_TOPK)
        for (int k = lane; k < N_KBUCKET; k += 32) a.kh[k] = 0;
    if (a.mode == M_TOPP)
        for (int k = lane; k < N_EBUCKET; k += 32) a.eh[k] = 0.0;
    if (lane == 0) {
        smp_state *st = a.st;
        const int amax = bv > -INFINITY ? bi : 0;
        st->mx = bv;
        st->amax = amax;
        st->ncand = 0;
        st->bk = 0;
        st->bmin = 0;
        st->z = 0.0;
        int done = 1, out = amax;
        if (a.mode == M_GREEDY)
            out = amax;
        else if (bv == -INFINITY)
            out = 0; /* no number: the lowest id */
        else if (bv == INFINITY)
            out = amax; /* the first +inf */
        else
            done = 0;
        st->done = done;
        if (done) *a.out = out;
    }
}

/* ---- draw in id order (no filter; min-p alone) ------------------------------------------ */
/* element i's weights: ef (float, what the draw walks) and ed (what z sums) */
__device__ __forceinline__ void vocab_e(const smp_args &a, float mx, float lo_v, bool exact, int i,
                                        float *ef, double *ed, int *incl) {
    *ef = 0.0f;
    *ed = 0.0;
    *incl = 0;
    if (i >= a.nv) return;
    const float v = a.l[i];
    if (a.mode == M_MINP && !(v >= lo_v)) return;
    *incl = 1;
    if (exact) {
        double e = exp(__dmul_rn(__dsub_rn((double)v, (double)mx), a.inv_td));
        *ed = e;
        *ef = (float)e;
    } else {
        *ef = dfast_exp(__fmul_rn(__fsub_rn(v, mx), a.inv_tf));
        *ed = *ef;
    }
}

__global__ void __launch_bounds__(SMP_BLOCK) k_exp(smp_args a) {
    if (a.st->done) return;
    const float mx = a.st->mx;
    const float lo_v = a.has_minp ? __fadd_rn(mx, a.lmp) : -INFINITY;
    const int i = blockIdx.x * SMP_BLOCK + threadIdx.x;
    float ef;
    double ed;
    int incl;
    vocab_e(a, mx, lo_v, false, i, &ef, &ed, &incl);
    double s = block_sum((double)ef);
    if (a.mode == M_MINP) {
        int c = block_sum_int(incl);
        vocab_e(a, mx, lo_v, true, i, &ef, &ed, &incl);
        double se = block_sum(ed);
        double sc = block_sum((double)ef);
        if (threadIdx.x == 0) {
            a.bn[blockIdx.x] = c;
            a.bze[blockIdx.x] = se;
            a.bce[blockIdx.x] = sc;
        }
    }
    if (threadIdx.x == 0) a.bzf[blockIdx.x] = s;
}

__global__ void __launch_bounds__(NT) k_drawv(smp_args a) {
    smp_state *st = a.st;
    if (st->done) return;
    const int tid = threadIdx.x;
    const int nb = (a.nv + SMP_BLOCK - 1) / SMP_BLOCK;
    const float mx = st->mx;
    const float lo_v = a.has_minp ? __fadd_rn(mx, a.lmp) : -INFINITY;
    bool exact = false;
    if (a.mode == M_MINP) {
        int c = 0;
        for (int b = tid; b < nb; b += NT) c += a.bn[b];
        const int n = block_sum_int(c);
        if (n == 0) { /* nothing passes min-p (min_p > 1): the argmax, as sampler.c */
            if (tid == 0) *a.out = st->amax;
            return;
        }
        exact = n <= EXACT_MAX;
    }
    const double *zb = exact ? a.bze : a.bzf, *cb = exact ? a.bce : a.bzf;
    double zs = 0.0;
    for (int b = tid; b < nb; b += NT) zs += zb[b];
    const double target = a.u * block_sum(zs);

    /* the first block with mass whose cumulative sum passes target */
    double carry = 0.0;
    int fb = -1, lastb = -1;
    __shared__ double s_base;
    for (int c0 = 0; c0 < nb; c0 += NT) {
        const int b = c0 + tid;
        const double x = b < nb ? cb[b] : 0.0;
        double tot;
        const double inc = block_scan(x, &tot) + carry;
        const bool ok = b < nb && x > 0.0 && target < inc;
        const int f = block_min_int(ok ? b : INT_MAX);
        lastb = max(lastb, block_max_int(b < nb && x > 0.0 ? b : -1));
        if (f != INT_MAX) {
            if (b == f) s_base = inc - x;
            fb = f;
            break;
        }
        carry += tot;
    }
    __syncthreads();
    int res;
    if (fb >= 0 || lastb >= 0) {
        const int blk = fb >= 0 ? fb : lastb;
        const double base = fb >= 0 ? s_base : 0.0;
        const int i = blk * SMP_BLOCK + tid;
        float ef = 0.0f;
        double ed = 0.0;
        int incl = 0;
        if (tid < SMP_BLOCK) vocab_e(a, mx, lo_v, exact, i, &ef, &ed, &incl);
        double tot;
        const double inc = block_scan((double)ef, &tot) + base;
        const bool pos = tid < SMP_BLOCK && ef > 0.0f;
        const int f = fb >= 0 ? block_min_int(pos && target < inc ? i : INT_MAX) : INT_MAX;
        const int last = block_max_int(pos ? i : -1);
        res = f != INT_MAX ? f : (last >= 0 ? last : blk * SMP_BLOCK);
    } else if (a.mode == M_MINP) { /* no positive weight at all: the first candidate */
        int f = INT_MAX;
        for (int i = tid; i < a.nv; i += NT)
            if (a.l[i] >= lo_v) {
                f = i;
                break;
            }
        res = block_min_int(f);
        if (res == INT_MAX) res = 0;
    } else {
        res = 0;
    }
    if (tid == 0) *a.out = res;
}

/* ---- top-k / top-p candidates ----------------------------------------------------------- */
__global__ void __launch_bounds__(NT) k_hist(smp_args a) {
    __shared__ unsigned hk[N_KBUCKET];
    __shared__ double he[N_EBUCKET];
    if (a.st->done) return;
    const int tid = threadIdx.x;
    const int i0 = blockIdx.x * HB_ELEMS, i1 = min(a.nv, i0 + HB_ELEMS);
    if (a.mode == M_TOPK) {
        for (int b = tid; b < N_KBUCKET; b += NT) hk[b] = 0;
        __syncthreads();
        for (int i = i0 + tid; i < i1; i += NT) atomicAdd(&hk[dkey(a.l[i]) >> 20], 1u);
        __syncthreads();
        for (int b = tid; b < N_KBUCKET; b += NT)
            if (hk[b]) atomicAdd(&a.kh[b], hk[b]);
    } else {
        const float mx = a.st->mx;
        for (int b = tid; b < N_EBUCKET; b += NT) he[b] = 0.0;
        __syncthreads();
        double zs = 0.0;
        for (int i = i0 + tid; i < i1; i += NT) {
            const float e = dfast_exp(__fsub_rn(a.l[i], mx));
            zs += e;
            const unsigned b = __float_as_uint(e) >> 20;
            if (b >= HIST_MIN) atomicAdd(&he[b], (double)e);
        }
        const double z = block_sum(zs); /* synchronises: he is complete */
        for (int b = tid; b < N_EBUCKET; b += NT)
            if (he[b] != 0.0) atomicAdd(&a.eh[b], he[b]);
        if (tid == 0) a.zp[blockIdx.x] = z;
    }
}

__global__ void __launch_bounds__(NT) k_thresh(smp_args a, int nhb) {
    smp_state *st = a.st;
    if (st->done) return;
    const int tid = threadIdx.x;
    if (a.mode == M_TOPK) { /* the first key bucket where the count reaches k */
        const int per = N_KBUCKET / NT;
        int c = 0;
        for (int j = 0; j < per; j++) c += a.kh[tid * per + j];
        double tot;
        const int inc = (int)(block_scan((double)c, &tot) + 0.5); /* exact: counts < 2^53 */
        int cum = inc - c, f = INT_MAX;
        for (int j = 0; j < per; j++) {
            cum += a.kh[tid * per + j];
            if (cum >= a.top_k) {
                f = tid * per + j;
                break;
            }
        }
        f = block_min_int(f);
        if (tid == 0) st->bk = f == INT_MAX ? N_KBUCKET - 1 : f;
    } else { /* sampler.c: buckets down to the one where the mass reaches top_p z, one more */
        double zs = 0.0;
        for (int b = tid; b < nhb; b += NT) zs += a.zp[b];
        const double z = block_sum(zs);
        if (tid == 0) {
            const double target = (double)a.top_p * z;
            double cum = 0.0;
            int bmin = 0;
            for (int b = N_EBUCKET - 1; b >= HIST_MIN; b--) {
                cum += a.eh[b];
                if (cum >= target) {
                    bmin = b - 1;
                    break;
                }
            }
            st->bmin = bmin;
            st->z = z;
        }
    }
}

__global__ void __launch_bounds__(SMP_BLOCK) k_gather(smp_args a) {
    smp_state *st = a.st;
    if (st->done) return;
    const int i = blockIdx.x * SMP_BLOCK + threadIdx.x;
    bool take = false;
    float v = 0.0f;
    if (i < a.nv) {
        v = a.l[i];
        if (a.mode == M_TOPK) {
            take = (int)(dkey(v) >> 20) <= st->bk;
        } else {
            const float mx = st->mx;
            const float lo_v = a.has_minp ? __fadd_rn(mx, a.lmp) : -INFINITY;
            const float e = dfast_exp(__fsub_rn(v, mx));
            take = v >= lo_v && (int)__float_as_uint(e) >= (st->bmin << 20);
        }
    }
    const unsigned m = __ballot_sync(FULLMASK, take);
    if (!m) return;
    const int lane = threadIdx.x & 31, leader = __ffs(m) - 1;
    int base = 0;
    if (lane == leader) base = atomicAdd(&st->ncand, __popc(m));
    base = __shfl_sync(FULLMASK, base, leader);
    if (take) a.keys[base + __popc(m & ((1u << lane) - 1u))] = mkkey(v, i);
}

/* ascending bitonic sort of s[0..p) (p a power of two <= CAP) in shared memory; the direction
 * of a pair follows the global index g0 + i (tiles of a longer sort) */
__device__ void bitonic_shared(unsigned long long *s, int p, int g0, int k_lo, int k_hi,
                               int j_first) {
    for (int k = k_lo; k <= k_hi; k <<= 1) {
        for (int j = (k == k_lo && j_first ? j_first : k >> 1); j > 0; j >>= 1) {
            for (int i = threadIdx.x; i < p; i += blockDim.x) {
                const int ixj = i ^ j;
                if (ixj > i) {
                    const unsigned long long x = s[i], y = s[ixj];
                    const bool asc = ((g0 + i) & k) == 0;
                    if ((x > y) == asc) {
                        s[i] = y;
                        s[ixj] = x;
                    }
                }
            }
            __syncthreads();
        }
    }
}

/* sorts keys[0..n) ascending; returns where the sorted list is (sk for n <= cap) */
__device__ unsigned long long *sort_keys(unsigned long long *keys, int n, unsigned long long *sk,
                                         const int cap) {
    int p = 1;
    while (p < n) p <<= 1;
    if (n <= cap) {
        __syncthreads();
        for (int i = threadIdx.x; i < p; i += blockDim.x) sk[i] = i < n ? keys[i] : ~0ull;
        __syncthreads();
        bitonic_shared(sk, p, 0, 2, p, 0);
        return sk;
    }
    /* p >= 2 cap: tiles of cap sorted in shared memory, then for each longer merge size k
     * the strides >= cap through global memory and the rest per tile in shared memory */
    for (int i = n + threadIdx.x; i < p; i += blockDim.x) keys[i] = ~0ull;
    __syncthreads();
    for (int k = cap; k <= p; k <<= 1) {
        if (k > cap) {
            for (int j = k >> 1; j >= cap; j >>= 1) {
                for (int i = threadIdx.x; i < p; i += blockDim.x) {
                    const int ixj = i ^ j;
                    if (ixj > i) {
                        const unsigned long long x = keys[i], y = keys[ixj];
                        const bool asc = (i & k) == 0;
                        if ((x > y) == asc) {
                            keys[i] = y;
                            keys[ixj] = x;
                        }
                    }
                }
                __syncthreads();
            }
        }
        for (int t0 = 0; t0 < p; t0 += cap) {
            for (int i = threadIdx.x; i < cap; i += blockDim.x) sk[i] = keys[t0 + i];
            __syncthreads();
            if (k == cap)
                bitonic_shared(sk, cap, t0, 2, cap, 0);
            else
                bitonic_shared(sk, cap, t0, k, k, cap >> 1);
            for (int i = threadIdx.x; i < cap; i += blockDim.x) keys[t0 + i] = sk[i];
            __syncthreads();
        }
    }
    return keys;
}

/* sampler.c top_p_cut over the sorted L[0..n): the shortest prefix whose sum of
 * exp(v - mref) / z reaches top_p; 0 if none. A block scan finds the cut; when a partial sum
 * next to it lies within 1e-12 of top_p (ties make exact hits common: 500 x 0.001 vs 0.5) one
 * thread redoes the sum in sampler.c's order, so the cut is the CPU's. */
__device__ int cum_cut(const unsigned long long *L, int n, float mref, double z, float top_p) {
    __shared__ double s_at, s_prev;
    __shared__ int s_cut;
    const double tp = (double)top_p;
    double carry = 0.0;
    int f = INT_MAX;
    for (int c0 = 0; c0 < n; c0 += blockDim.x) {
        const int i = c0 + threadIdx.x;
        const double x =
            i < n ? __ddiv_rn(exp(__dsub_rn((double)key_val(L[i]), (double)mref)), z) : 0.0;
        double tot;
        const double inc = block_scan(x, &tot) + carry;
        f = block_min_int(i < n && inc >= tp ? i : INT_MAX);
        if (f != INT_MAX) {
            if (i == f) {
                s_at = inc;
                if (f == c0) s_prev = carry; /* else thread f - 1 writes it (one writer) */
            }
            if (i == f - 1 && f > c0) s_prev = inc;
            break;
        }
        carry += tot;
    }
    __syncthreads();
    const bool close =
        f != INT_MAX ? (s_at - tp < 1e-12 || tp - s_prev < 1e-12) : (tp - carry < 1e-12);
    if (!close) return f != INT_MAX ? f + 1 : 0;
    if (threadIdx.x == 0) {
        double cum = 0.0;
        int cut = 0;
        for (int i = 0; i < n; i++) {
            cum += __ddiv_rn(exp(__dsub_rn((double)key_val(L[i]), (double)mref)), z);
            if (cum >= tp) {
                cut = i + 1;
                break;
            }
        }
        s_cut = cut;
    }
    __syncthreads();
    return s_cut;
}

/* sampler.c draw_cands over the sorted L[0..n) in that order (n >= 1) */
__device__ int draw_list(const smp_args &a, const unsigned long long *L, int n) {
    const float m = key_val(L[0]);
    if (m == -INFINITY) return key_id(L[0]);
    const bool exact = n <= EXACT_MAX;
    double zs = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = key_val(L[i]);
        zs += exact ? exp(__dmul_rn(__dsub_rn((double)v, (double)m), a.inv_td))
                    : (double)dfast_exp(__fmul_rn(__fsub_rn(v, m), a.inv_tf));
    }
    const double target = a.u * block_sum(zs);
    double carry = 0.0;
    int last = -1;
    for (int c0 = 0; c0 < n; c0 += blockDim.x) {
        const int i = c0 + threadIdx.x;
        float ef = 0.0f;
        if (i < n) {
            const float v = key_val(L[i]);
            ef = exact ? (float)exp(__dmul_rn(__dsub_rn((double)v, (double)m), a.inv_td))
                       : dfast_exp(__fmul_rn(__fsub_rn(v, m), a.inv_tf));
        }
        double tot;
        const double inc = block_scan((double)ef, &tot) + carry;
        const int f = block_min_int(ef > 0.0f && target < inc ? i : INT_MAX);
        last = max(last, block_max_int(ef > 0.0f ? i : -1));
        if (f != INT_MAX) return key_id(L[f]);
        carry += tot;
    }
    return key_id(L[last >= 0 ? last : 0]);
}

__global__ void __launch_bounds__(NT) k_select(smp_args a) {
    extern __shared__ unsigned long long sk[]; /* [a.cap] */
    __shared__ int s_n;
    smp_state *st = a.st;
    if (st->done) return;
    const float mx = st->mx;
    int n = st->ncand, bmin = st->bmin;
    const unsigned long long *L;
    for (;;) {
        L = sort_keys(a.keys, n, sk, a.cap);
        if (a.mode == M_TOPK) {
            if (n > a.top_k) n = a.top_k;
            if (a.top_p < 1.0f && n > 1) {
                const float m2 = key_val(L[0]);
                double zs = 0.0;
                for (int i = threadIdx.x; i < n; i += blockDim.x)
                    zs += exp(__dsub_rn((double)key_val(L[i]), (double)m2));
                const int cut = cum_cut(L, n, m2, block_sum(zs), a.top_p);
                if (cut > 0) n = cut;
            }
            break;
        }
        const int cut = cum_cut(L, n, mx, st->z, a.top_p);
        if (cut > 0) {
            n = cut;
            break;
        }
        if (bmin == 0) break; /* rounding: keep every candidate */
        bmin = 0;             /* gather every id past min-p (sampler.c's second try) */
        const float lo_v = a.has_minp ? __fadd_rn(mx, a.lmp) : -INFINITY;
        __syncthreads();
        if (threadIdx.x == 0) s_n = 0;
        __syncthreads();
        for (int i = threadIdx.x; i < a.nv; i += blockDim.x) {
            const float v = a.l[i];
            if (v >= lo_v) a.keys[atomicAdd(&s_n, 1)] = mkkey(v, i);
        }
        __syncthreads();
        n = s_n;
    }
    if (a.min_p > 0.0f && n > 1) { /* sorted: min-p keeps a prefix */
        const float thr = __fadd_rn(key_val(L[0]), a.lmp);
        int c = 0;
        for (int i = threadIdx.x; i < n; i += blockDim.x) c += key_val(L[i]) >= thr;
        c = block_sum_int(c);
        n = c > 0 ? c : 1;
    }
    const int id = n <= 0 ? st->amax : draw_list(a, L, n);
    if (threadIdx.x == 0) *a.out = id;
}

/* ---- host side -------------------------------------------------------------------------- */
static size_t al256(size_t x) {
    return (x + 255) & ~(size_t)255;
}
static int pow2_at_least(int n) {
    int p = 1;
    while (p < n) p <<= 1;
    return p;
}

struct ws_layout {
    size_t work, cnt, st, pv, pi, bzf, bze, bce, bn, zp, eh, kh, keys, total;
};
static ws_layout layout(int nv) {
    ws_layout w;
    const size_t nb = (size_t)(nv + SMP_BLOCK - 1) / SMP_BLOCK;
    const size_t nhb = (size_t)(nv + HB_ELEMS - 1) / HB_ELEMS;
    size_t o = 0;
    w.work = o;
    o += al256((size_t)nv * sizeof(float));
    w.cnt = o;
    o += al256((size_t)nv * sizeof(int));
    w.st = o;
    o += al256(sizeof(smp_state));
    w.pv = o;
    o += al256(RB_MAX * sizeof(float));
    w.pi = o;
    o += al256(RB_MAX * sizeof(int));
    w.bzf = o;
    o += al256(nb * sizeof(double));
    w.bze = o;
    o += al256(nb * sizeof(double));
    w.bce = o;
    o += al256(nb * sizeof(double));
    w.bn = o;
    o += al256(nb * sizeof(int));
    w.zp = o;
    o += al256(nhb * sizeof(double));
    w.eh = o;
    o += al256(N_EBUCKET * sizeof(double));
    w.kh = o;
    o += al256(N_KBUCKET * sizeof(unsigned));
    const int np2 = pow2_at_least(nv);
    w.keys = o;
    o += al256((size_t)(np2 < 2 * CAP_MAX ? 2 * CAP_MAX : np2) * 8);
    w.total = o;
    return w;
}

/* CAP_MAX keys where the device allows that much shared memory per block (opt-in: H100
 * 227 KiB, A100 163 KiB), else less, down to CAP_MIN (32 KiB: no opt-in). Decided once per
 * process, for the device current at the first call. */
static int select_cap(void) {
    static int cap = 0;
    if (cap) return cap;
    int dev = 0, optin = 0;
    int c = CAP_MIN;
    if (cudaGetDevice(&dev) == cudaSuccess &&
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) ==
            cudaSuccess) {
        c = CAP_MAX;
        while (c > CAP_MIN && (size_t)c * 8 + 8192 > (size_t)optin) c >>= 1;
        if (c > CAP_MIN &&
            cudaFuncSetAttribute(k_select, cudaFuncAttributeMaxDynamicSharedMemorySize, c * 8) !=
                cudaSuccess)
            c = CAP_MIN;
    }
    cudaGetLastError(); /* clear a refused query or opt-in */
    cap = c;
    return cap;
}

extern "C" size_t gtc_sample_ws_bytes(int n_vocab) {
    select_cap(); /* the shared-memory opt-in happens here, at setup (not during a capture) */
    return n_vocab > 0 ? layout(n_vocab).total : 0;
}

extern "C" int gtc_sample(const float *d_logits, int n_vocab, const gtc_sample_params *p,
                          const int32_t *d_hist, int n_hist, double u, void *d_ws, size_t ws_bytes,
                          int32_t *d_out, gtc_stream st) {
    cudaStream_t s = (cudaStream_t)st;
    if (n_vocab <= 0 || n_vocab > (1 << 30) || !p || !d_ws || !d_out) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "sample: bad arguments (n_vocab %d)", n_vocab);
        return -1;
    }
    const ws_layout w = layout(n_vocab);
    if (ws_bytes < w.total) {
        snprintf(gtc_err_buf, sizeof gtc_err_buf, "sample: workspace of %zu bytes, %zu needed",
                 ws_bytes, w.total);
        return -1;
    }
    char *ws = (char *)d_ws;
    smp_args a;
    memset(&a, 0, sizeof a);
    a.l = d_logits;
    a.nv = n_vocab;

    /* sampler.c penalty_window */
    int win = 0;
    if (!(p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f &&
          p->frequency_penalty == 0.0f)) {
        win = p->penalty_last_n < 0 ? n_hist : p->penalty_last_n;
        if (win > n_hist) win = n_hist;
        const int cap = p->n_ctx > 0 ? p->n_ctx : 1;
        if (win > cap) win = cap;
        if (win < 0 || !d_hist) win = 0;
    }
    const int n_bias = p->d_bias && p->n_bias > 0 ? p->n_bias : 0;
    if (win > 0 || n_bias > 0) {
        float *work = (float *)(ws + w.work);
        int *cnt = (int *)(ws + w.cnt);
        const int32_t *wt = win > 0 ? d_hist + (n_hist - win) : NULL;
        int g = (n_vocab + 255) / 256;
        if (g > 1024) g = 1024;
        k_pen_copy<<<g, 256, 0, s>>>(d_logits, work, n_vocab, wt, win, cnt);
        if (n_bias > 0)
            k_bias<<<(n_bias + 255) / 256, 256, 0, s>>>(work, n_vocab, p->d_bias, n_bias);
        if (win > 0) {
            int gw = (win + 255) / 256;
            if (gw > 256) gw = 256;
            k_pen_count<<<gw, 256, 0, s>>>(n_vocab, wt, win, cnt);
            k_pen_apply<<<gw, 256, 0, s>>>(work, n_vocab, wt, win, cnt, p->repeat_penalty,
                                           p->presence_penalty, p->frequency_penalty);
        }
        CKL("sample: bias and penalties");
        a.l = work;
    }

    /* the mode, as gt_sampler_sample_u branches */
    const int top_k = p->top_k > 0 && p->top_k < n_vocab ? p->top_k : 0;
    if (!(p->temperature > 0.0f))
        a.mode = M_GREEDY;
    else if (!top_k && p->top_p >= 1.0f && !(p->min_p > 0.0f))
        a.mode = M_FULL;
    else if (top_k)
        a.mode = M_TOPK;
    else if (p->top_p < 1.0f)
        a.mode = M_TOPP;
    else
        a.mode = M_MINP;
    a.top_k = top_k;
    a.top_p = p->top_p;
    a.min_p = p->min_p;
    a.has_minp = p->min_p > 0.0f;
    a.lmp = a.has_minp ? logf(p->min_p) : 0.0f;
    a.inv_tf = a.mode == M_GREEDY ? 0.0f : 1.0f / p->temperature;
    a.inv_td = a.mode == M_GREEDY ? 0.0 : 1.0 / p->temperature;
    a.u = u;
    a.st = (smp_state *)(ws + w.st);
    a.pv = (float *)(ws + w.pv);
    a.pi = (int *)(ws + w.pi);
    a.bzf = (double *)(ws + w.bzf);
    a.bze = (double *)(ws + w.bze);
    a.bce = (double *)(ws + w.bce);
    a.bn = (int *)(ws + w.bn);
    a.zp = (double *)(ws + w.zp);
    a.eh = (double *)(ws + w.eh);
    a.kh = (unsigned *)(ws + w.kh);
    a.keys = (unsigned long long *)(ws + w.keys);
    a.out = d_out;

    int nrb = (n_vocab + 4095) / 4096;
    if (nrb > RB_MAX) nrb = RB_MAX;
    k_reduce<<<nrb, 256, 0, s>>>(a);
    k_final<<<1, 32, 0, s>>>(a, nrb);
    CKL("sample: max");
    const int nb = (n_vocab + SMP_BLOCK - 1) / SMP_BLOCK;
    if (a.mode == M_FULL || a.mode == M_MINP) {
        k_exp<<<nb, SMP_BLOCK, 0, s>>>(a);
        k_drawv<<<1, NT, 0, s>>>(a);
        CKL("sample: draw");
    } else if (a.mode == M_TOPK || a.mode == M_TOPP) {
        const int nhb = (n_vocab + HB_ELEMS - 1) / HB_ELEMS;
        k_hist<<<nhb, NT, 0, s>>>(a);
        k_thresh<<<1, NT, 0, s>>>(a, nhb);
        k_gather<<<nb, SMP_BLOCK, 0, s>>>(a);
        a.cap = select_cap();
        k_select<<<1, NT, (size_t)a.cap * sizeof(unsigned long long), s>>>(a);
        CKL("sample: select");
    }
    return 0;
}

/* ---- greedy: argmax ---------------------------------------------------------------------- */
__global__ void k_argmax(const float *lg, int n, int32_t *out) {
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

extern "C" int gtc_argmax(const float *logits, int n, int32_t *out, gtc_stream st) {
    k_argmax<<<1, 1024, 0, (cudaStream_t)st>>>(logits, n, out);
    CKL("argmax");
    return 0;
}
