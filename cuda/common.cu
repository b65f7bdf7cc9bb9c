/* common.cu — the error buffer, device memory helpers and weight-format queries of the kernel
 * layer (gtc.h). */
#include "cuda/common.cuh"

char gtc_err_buf[256];

int gtc_fail(cudaError_t e, const char *what) {
    snprintf(gtc_err_buf, sizeof gtc_err_buf, "%s: %s", what, cudaGetErrorString(e));
    return -1;
}

/* compiled like every kernel: its PTX version says whether the code the device runs has the
 * griddepcontrol instructions (a newer card may JIT the compute_80 PTX, which has none) */
__global__ void k_pdl_probe() {
    pdl_wait();
}

extern "C" int gtc_pdl_on(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("GPTC_CUDA_PDL");
        int dev = 0, major = 0;
        cudaFuncAttributes fa;
        memset(&fa, 0, sizeof fa);
        int v = !(e && *e && atoi(e) <= 0); /* on unless GPTC_CUDA_PDL=0 */
        if (v && (cudaGetDevice(&dev) != cudaSuccess ||
                  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) !=
                      cudaSuccess ||
                  cudaFuncGetAttributes(&fa, k_pdl_probe) != cudaSuccess)) {
            cudaGetLastError();
            v = 0;
        }
        on = v && major >= 9 && fa.ptxVersion >= 90;
    }
    return on;
}

int gtc_env_int(const char *name, int dflt, int min) {
    const char *e = getenv(name);
    if (!e || !*e) return dflt;
    char *end;
    const long v = strtol(e, &end, 10);
    return *end == '\0' && v >= min && v <= 1 << 20 ? (int)v : dflt;
}

int gtc_sm_count(void) {
    int dev = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        sms <= 0) {
        cudaGetLastError();
        sms = 132;
    }
    return sms;
}

extern "C" const char *gtc_last_error(void) {
    return gtc_err_buf;
}

extern "C" int gtc_type_split(uint32_t type) {
    return type == GGML_TYPE_Q8_0 || type == GGML_TYPE_MXFP4 || pk_type(type);
}

extern "C" int gtc_type_packed(uint32_t type) {
    return pk_type(type);
}

extern "C" int gtc_type_supported(uint32_t type) {
    return ggml_type_computed(type);
}

extern "C" int gtc_malloc(void **p, size_t bytes) {
    *p = NULL;
    CK(cudaMalloc(p, bytes ? bytes : 1));
    return 0;
}
extern "C" void gtc_free(void *p) {
    if (p) cudaFree(p);
}
extern "C" int gtc_h2d(void *dst, const void *src, size_t bytes) {
    CK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}
extern "C" int gtc_d2h(void *dst, const void *src, size_t bytes) {
    CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return 0;
}
extern "C" int gtc_sync(void) {
    CK(cudaDeviceSynchronize());
    return 0;
}

extern "C" int gtc_graph_bucket(int n_ctx, int pos, int *max_pos) {
    int b = 0;
    long cap = 256;
    while (cap <= pos && cap < n_ctx && b < GTC_GRAPH_BUCKETS - 1) {
        cap <<= 1;
        b++;
    }
    if (cap > n_ctx || b == GTC_GRAPH_BUCKETS - 1) cap = n_ctx;
    *max_pos = (int)cap - 1;
    return b;
}
