/* memplan.h — the memory plan a backend prints with -v (gptc_model_params.verbose): where the
 * weights live (GPU memory, host memory), the KV cache and the workspace, in bytes and human
 * units. Every backend fills one gt_mem_plan and prints it with gt_mem_plan_print, so the block
 * looks the same on the CPU and on CUDA (with or without experts kept in host memory). */
#ifndef GPTC_ENGINE_MEMPLAN_H
#define GPTC_ENGINE_MEMPLAN_H

#include <stdint.h>
#include <stdio.h>

typedef struct gt_mem_plan {
    const char *backend;       /* "cpu", "cuda" */
    uint64_t weights_device;   /* weights in GPU memory */
    uint64_t weights_host;     /* weights in host memory (mapped from the GGUF, or read) */
    const char *host_how;      /* how the host weights are held, e.g. "mapped from 3 files" */
    uint64_t kv;               /* KV caches of n_seq sessions of n_ctx tokens */
    int kv_on_device;          /* 1: the KV cache is in GPU memory */
    int n_ctx, n_seq;          /* what the KV figure is for */
    const char *kv_type;       /* "f32", "f16", "q8_0" */
    uint64_t workspace_device; /* scratch in GPU memory */
    uint64_t workspace_host;   /* scratch in host memory */
    uint64_t budget;           /* device memory budget (0: not applicable) */
    const char *note;          /* one more line, e.g. the offload choice; NULL: none */
} gt_mem_plan;

/* Writes the plan as one block of lines ("memory plan (cpu):" and one line per item). */
void gt_mem_plan_print(FILE *out, const gt_mem_plan *p);
/* "12.34 GiB", "512 B": binary units, two decimals (buf of 32 bytes is enough). */
const char *gt_human_bytes(uint64_t n, char *buf, size_t cap);

#endif
