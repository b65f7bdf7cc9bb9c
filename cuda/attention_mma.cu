/* attention_mma.cu — the tensor-core prompt attention kernel (GPTC_CUDA_ATTN_MMA_MIN_T). */
#include "cuda/attention.cuh"

static int mma_min_t_set = -1;
static unsigned long mma_calls;

static int mma_min_t(void) {
    static int v = -1;
    if (mma_min_t_set >= 0) return mma_min_t_set;
    if (v < 0) v = gtc_env_int("GPTC_CUDA_ATTN_MMA_MIN_T", 0, 0);
    return v;
}

extern "C" void gtc_attn_set_mma_min_t(int min_t) {
    mma_min_t_set = min_t < 0 ? -1 : min_t;
}

extern "C" unsigned long gtc_attn_mma_calls(void) {
    return mma_calls;
}

int attn_mma_wants(const gtc_attn_args *a) {
    (void)mma_calls;
    return mma_min_t() > 0 && a->T >= mma_min_t() && 0;
}

int attn_mma(const gtc_attn_args *a, gtc_stream st) {
    (void)a;
    (void)st;
    snprintf(gtc_err_buf, sizeof gtc_err_buf, "attention: no tensor-core kernel");
    return -1;
}
