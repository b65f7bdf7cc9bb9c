/* memplan.c — printing the memory plan (memplan.h). */
#include "engine/memplan.h"

const char *gt_human_bytes(uint64_t n, char *buf, size_t cap) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024.0 && u < 4) v /= 1024.0, u++;
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, cap, "%.2f %s", v, units[u]);
    return buf;
}

/* "  what   12.34 GiB  13249974272 bytes  detail" */
static void line(FILE *out, const char *what, uint64_t n, const char *detail) {
    char h[32];
    fprintf(out, "  %-24s %11s %15llu bytes%s%s\n", what, gt_human_bytes(n, h, sizeof h),
            (unsigned long long)n, detail && detail[0] ? "  " : "", detail ? detail : "");
}

void gt_mem_plan_print(FILE *out, const gt_mem_plan *p) {
    char d[256], h1[32], h2[32];
    fprintf(out, "memory plan (%s):\n", p->backend);
    line(out, "weights on GPU", p->weights_device, NULL);
    line(out, "weights in host memory", p->weights_host, p->host_how);
    snprintf(d, sizeof d, "%s, %d tokens x %d sequence%s, %s", p->kv_on_device ? "GPU" : "host",
             p->n_ctx, p->n_seq, p->n_seq == 1 ? "" : "s", p->kv_type ? p->kv_type : "f32");
    line(out, "KV cache", p->kv, d);
    line(out, "workspace on GPU", p->workspace_device, NULL);
    line(out, "workspace in host memory", p->workspace_host, NULL);
    uint64_t dev = p->weights_device + (p->kv_on_device ? p->kv : 0) + p->workspace_device;
    uint64_t host = p->weights_host + (p->kv_on_device ? 0 : p->kv) + p->workspace_host;
    snprintf(d, sizeof d, "GPU %s, host %s", gt_human_bytes(dev, h1, sizeof h1),
             gt_human_bytes(host, h2, sizeof h2));
    line(out, "total", dev + host, d);
    if (p->budget) line(out, "device budget", p->budget, NULL);
    if (p->note) fprintf(out, "  %s\n", p->note);
}
