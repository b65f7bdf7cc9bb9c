/* profile.c — the CUDA backend's profiler (GPTC_CUDA_PROFILE=1) and per-stage debug trace
 * (GPTC_CUDA_TRACE, GPTC_CUDA_TRACE_POS): see cuda/backend.h. */
#include <stdlib.h>
#include <string.h>

#include "cuda/backend.h"

#define PROF_MAX 16384
#define PROF_CLS 48
struct cu_prof {
    cudaEvent_t ev[PROF_MAX];
    const char *nm[PROF_MAX];
    int n;
    const char *cls[3][PROF_CLS]; /* modes: decode, prefill, decode_multi */
    double ms[3][PROF_CLS];
    long cnt[3][PROF_CLS];
    int ncls[3], n_fw[3];
    double fw_ms[3];
};
typedef struct cu_prof cu_prof;

cu_prof *cu_prof_new(void) {
    const char *v = getenv("GPTC_CUDA_PROFILE");
    if (!v || !*v || *v == '0') return NULL;
    cu_prof *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    for (int i = 0; i < PROF_MAX; i++)
        if (cudaEventCreate(&p->ev[i]) != cudaSuccess) {
            for (int j = 0; j < i; j++) cudaEventDestroy(p->ev[j]);
            free(p);
            return NULL;
        }
    return p;
}

void cu_prof_free(cu_prof *p) {
    if (!p) return;
    static const char *const mode_name[3] = {"decode", "prefill", "decode_multi"};
    for (int m = 0; m < 3; m++) {
        if (!p->n_fw[m]) continue;
        fprintf(stderr, "cuda profile: %s: %d forwards, %.3f ms each\n", mode_name[m], p->n_fw[m],
                p->fw_ms[m] / p->n_fw[m]);
        for (int c = 0; c < p->ncls[m]; c++)
            fprintf(stderr, "  %-16s %9.3f ms %5.1f%% %7.1f launches/forward\n", p->cls[m][c],
                    p->ms[m][c] / p->n_fw[m], 100.0 * p->ms[m][c] / p->fw_ms[m],
                    (double)p->cnt[m][c] / p->n_fw[m]);
    }
    for (int i = 0; i < PROF_MAX; i++) cudaEventDestroy(p->ev[i]);
    free(p);
}

FILE *cu_trace_open(int pos) {
    const char *f = getenv("GPTC_CUDA_TRACE"), *ps = getenv("GPTC_CUDA_TRACE_POS");
    if (!f || !*f || !ps) return NULL;
    for (const char *c = ps; *c;) {
        char *e;
        long v = strtol(c, &e, 10);
        if (e == c) break;
        if (v == pos) return fopen(f, "a");
        c = *e == ',' ? e + 1 : e;
        if (!*e) break;
    }
    return NULL;
}

void cu_trace_put(cu_fw *F, const char *name, int l, const void *dev, int n, int ints) {
    if (!F->trace || n <= 0) return;
    float *h = malloc(sizeof(float) * (size_t)n);
    if (!h) return;
    if (cudaStreamSynchronize(F->st) == cudaSuccess &&
        cudaMemcpy(h, dev, sizeof(float) * (size_t)n, cudaMemcpyDeviceToHost) == cudaSuccess) {
        fprintf(F->trace, "%s %d %d %d", name, l, F->pos, n);
        for (int i = 0; i < n; i++)
            fprintf(F->trace, " %.9g", ints ? (double)((const int32_t *)h)[i] : (double)h[i]);
        fprintf(F->trace, "\n");
    }
    free(h);
}

void cu_prof_mark(cu_fw *F, const char *nm) {
    cu_prof *p = F->prof;
    if (!p || p->n >= PROF_MAX) return;
    cudaEventRecord(p->ev[p->n], F->st);
    p->nm[p->n++] = nm;
}

void cu_prof_end(cu_fw *F, int mode) {
    cu_prof *p = F->prof;
    if (!p || p->n < 1) return;
    cudaEventSynchronize(p->ev[p->n - 1]);
    for (int i = 1; i < p->n; i++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, p->ev[i - 1], p->ev[i]);
        int c = 0;
        while (c < p->ncls[mode] && strcmp(p->cls[mode][c], p->nm[i])) c++;
        if (c == p->ncls[mode]) {
            if (c == PROF_CLS) continue;
            p->cls[mode][c] = p->nm[i];
            p->ncls[mode]++;
        }
        p->ms[mode][c] += ms;
        p->cnt[mode][c]++;
        p->fw_ms[mode] += ms;
    }
    p->n_fw[mode]++;
    p->n = 0;
}
