/* blas.c — cuBLAS, loaded when a model first goes to the GPU (dlopen), not when gptc starts: a
 * CUDA build then runs on the CPU, --help included, without mapping cuBLAS's ~600 MB (the CUDA
 * runtime is linked statically and loads the driver only when a CUDA call is made). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "cuda/backend.h"

#ifndef GPTC_CUDA_LIBDIR
#define GPTC_CUDA_LIBDIR "/usr/local/cuda/lib64"
#endif

static cu_blas_api api;
static const char *load_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    static const char *const names[] = {
        "libcublas.so.13", GPTC_CUDA_LIBDIR "/libcublas.so.13",
        "libcublas.so.12", GPTC_CUDA_LIBDIR "/libcublas.so.12",
        "libcublas.so",    GPTC_CUDA_LIBDIR "/libcublas.so",
    };
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        load_error = "cannot load libcublas.so (install cuBLAS or add its folder to "
                     "LD_LIBRARY_PATH)";
        return;
    }
    /* the C API's exported names (cublas_v2.h maps cublasCreate etc. to the _v2 ones) */
    *(void **)&api.create = dlsym(h, "cublasCreate_v2");
    *(void **)&api.destroy = dlsym(h, "cublasDestroy_v2");
    *(void **)&api.set_stream = dlsym(h, "cublasSetStream_v2");
    *(void **)&api.gemm_ex = dlsym(h, "cublasGemmEx");
    if (!api.create || !api.destroy || !api.set_stream || !api.gemm_ex) {
        load_error = "libcublas.so lacks cublasCreate_v2 / cublasGemmEx";
        return;
    }
    api.ok = 1; /* the library stays loaded until the process ends */
}

const cu_blas_api *cu_blas(gptc_error *err) {
    pthread_once(&once, load);
    if (!api.ok) {
        gt_err(err, GPTC_ERR_DEVICE, "CUDA: %s", load_error);
        return NULL;
    }
    return &api;
}
