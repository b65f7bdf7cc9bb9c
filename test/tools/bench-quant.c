/* bench-quant — single-thread throughput of quant_dot (decode-style matrix x vector) per weight
 * format, in GB/s of packed weight bytes streamed, plus the portable C path and the batched
 * quant_dot_rows and the tiled quant_matmul (prompt-style, T = 32 activation vectors, as the
 * engine's matmul chunks) in GFLOP/s (2*T flops per weight). Not a test.
 *
 *   build/tools/bench-quant [MB] [n]     (default: 256 MB matrix, rows of n = 4096)
 * Times are this thread's CPU time (best of 5), so other load on the machine does not count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/quant.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: fair on a shared, loaded machine */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const struct {
    uint32_t type;
    const char *name;
} TYPES[] = {{0, "F32"},  {1, "F16"},  {30, "BF16"}, {8, "Q8_0"},  {2, "Q4_0"},  {3, "Q4_1"},
             {6, "Q5_0"}, {7, "Q5_1"}, {12, "Q4_K"}, {13, "Q5_K"}, {14, "Q6_K"}, {39, "MXFP4"}};

int main(int argc, char **argv) {
    double mb = argc > 1 ? atof(argv[1]) : 256.0;
    int64_t n = argc > 2 ? atoll(argv[2]) : 4096;
    if (mb <= 0 || n <= 0 || n % 256) {
        fprintf(stderr, "usage: bench-quant [MB>0] [n, multiple of 256]\n");
        return 1;
    }
    enum { T = 32 };
    float *x = malloc((size_t)n * T * sizeof(float)), *src = malloc((size_t)n * sizeof(float));
    unsigned s = 12345;
    for (int64_t i = 0; i < n * T; i++)
        x[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;
    for (int64_t i = 0; i < n; i++) src[i] = x[i] * 0.1f;
    printf("%-6s %8s %10s %14s %20s   (n=%lld, %.0f MB matrix, 1 thread)\n", "type", "bytes/el",
           "dot GB/s", "portable GB/s", "dot_rows T=32 GFLOP/s", (long long)n, mb);
    printf("%-6s %8s %10s %14s %20s %20s\n", "", "", "", "", "", "matmul T=32 GFLOP/s");
    for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++) {
        const size_t rs = quant_row_size(TYPES[k].type, n);
        const int64_t rows = (int64_t)(mb * 1e6 / (double)rs) + 1;
        uint8_t *w = malloc(rs * (size_t)rows);
        float *out = malloc((size_t)rows * T * sizeof(float));
        quant_quantize_row(TYPES[k].type, src, w, n);
        for (int64_t r = 1; r < rows; r++) memcpy(w + r * rs, w, rs);
        double best[4] = {1e30, 1e30, 1e30, 1e30};
        volatile float sink = 0;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now();
            for (int64_t r = 0; r < rows; r++) out[r] = quant_dot(TYPES[k].type, w + r * rs, x, n);
            double t1 = now();
            for (int64_t r = 0; r < rows; r++)
                out[r] += quant_dot_portable(TYPES[k].type, w + r * rs, x, n);
            double t2 = now();
            for (int64_t r = 0; r < rows; r++)
                quant_dot_rows(TYPES[k].type, w + r * rs, x, n, T, (size_t)n, out + r,
                               (size_t)rows);
            double t3 = now();
            quant_matmul(TYPES[k].type, w, rs, rows, x, n, T, (size_t)n, out, (size_t)rows);
            double t4 = now();
            sink += out[0];
            if (t4 - t3 < best[3]) best[3] = t4 - t3;
            if (t1 - t0 < best[0]) best[0] = t1 - t0;
            if (t2 - t1 < best[1]) best[1] = t2 - t1;
            if (t3 - t2 < best[2]) best[2] = t3 - t2;
        }
        const double bytes = (double)rs * (double)rows;
        const double flops = 2.0 * T * (double)n * (double)rows;
        printf("%-6s %8.4f %10.2f %14.2f %20.1f %20.1f\n", TYPES[k].name, (double)rs / (double)n,
               bytes / best[0] / 1e9, bytes / best[1] / 1e9, flops / best[2] / 1e9,
               flops / best[3] / 1e9);
        (void)sink;
        free(w);
        free(out);
    }
    free(x);
    free(src);
    return 0;
}
