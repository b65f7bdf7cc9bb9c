/* dump-logits.c — runs token ids through a model with the public API only (include/gptc.h) and
 * writes the logits of every position as raw little-endian float32 [T][n_vocab].
 *
 *   dump-logits -m MODEL.gguf (--ids FILE | ID ID ...) -o OUT.f32 [--backend cpu|cuda|auto]
 *               [-c N_CTX] [--batch N] [--chunk N] [--threads N] [--yarn-rounded]
 *
 * --ids FILE: whitespace/comma separated decimal ids. --chunk N feeds the ids N at a time (each
 * call a gptc_session_feed_all_logits), so that KV-cache reuse across calls is exercised; by
 * default all ids go in one call (the session still splits them into --batch sized batches).
 * Prints "n_tokens N n_vocab V" on stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"

static int fail(const char *what, const gptc_error *e) {
    fprintf(stderr, "dump-logits: error: %s: %s\n", what, e ? e->msg : "");
    return 1;
}

static int push_id(int32_t **ids, size_t *n, size_t *cap, long v) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        int32_t *p = realloc(*ids, *cap * sizeof **ids);
        if (!p) return -1;
        *ids = p;
    }
    (*ids)[(*n)++] = (int32_t)v;
    return 0;
}

static int read_ids(const char *path, int32_t **ids, size_t *n, size_t *cap) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "dump-logits: error: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int c;
    long v = 0;
    int in = 0;
    while ((c = fgetc(f)) != EOF) {
        if (c >= '0' && c <= '9') {
            v = v * 10 + (c - '0');
            in = 1;
            if (v > 0x7fffffff) break;
        } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',') {
            if (in && push_id(ids, n, cap, v)) break;
            v = 0;
            in = 0;
        } else {
            fprintf(stderr, "dump-logits: error: %s: unexpected character '%c'\n", path, c);
            fclose(f);
            return -1;
        }
    }
    if (in && push_id(ids, n, cap, v)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    const char *model = NULL, *ids_path = NULL, *out = NULL, *backend = "cpu";
    int n_ctx = 0, n_batch = 0, chunk = 0, threads = 0, yarn_rounded = 0;
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") && val) {
            model = val;
            i++;
        } else if (!strcmp(a, "--ids") && val) {
            ids_path = val;
            i++;
        } else if (!strcmp(a, "-o") && val) {
            out = val;
            i++;
        } else if (!strcmp(a, "--backend") && val) {
            backend = val;
            i++;
        } else if (!strcmp(a, "-c") && val) {
            n_ctx = atoi(val);
            i++;
        } else if (!strcmp(a, "--batch") && val) {
            n_batch = atoi(val);
            i++;
        } else if (!strcmp(a, "--chunk") && val) {
            chunk = atoi(val);
            i++;
        } else if (!strcmp(a, "--threads") && val) {
            threads = atoi(val);
            i++;
        } else if (!strcmp(a, "--yarn-rounded")) {
            yarn_rounded = 1;
        } else if (a[0] >= '0' && a[0] <= '9') {
            if (push_id(&ids, &n_ids, &cap, strtol(a, NULL, 10))) return 1;
        } else {
            fprintf(stderr,
                    "usage: dump-logits -m MODEL.gguf (--ids FILE | ID ...) -o OUT.f32 "
                    "[--backend cpu|cuda|auto] [-c N_CTX] [--batch N] [--chunk N] [--threads N] "
                    "[--yarn-rounded]\n");
            return 1;
        }
    }
    if (!model || !out) {
        fprintf(stderr, "dump-logits: error: -m MODEL and -o OUT are required\n");
        return 1;
    }
    if (ids_path && read_ids(ids_path, &ids, &n_ids, &cap)) return 1;
    if (n_ids == 0) {
        fprintf(stderr, "dump-logits: error: no token ids\n");
        return 1;
    }

    gptc_error err;
    memset(&err, 0, sizeof err);
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = model;
    mp.backend = !strcmp(backend, "cuda")  ? GPTC_BACKEND_CUDA
                 : !strcmp(backend, "cpu") ? GPTC_BACKEND_CPU
                                           : GPTC_BACKEND_AUTO;
    mp.n_threads = threads;
    mp.yarn_rounded = yarn_rounded;
    mp.n_ctx_hint = n_ctx;
    gptc_model *m = NULL;
    if (gptc_model_load(&mp, &m, &err) != GPTC_OK) return fail("load", &err);
    gptc_model_info info;
    gptc_model_get_info(m, &info);
    const size_t V = (size_t)info.n_vocab;

    gptc_session_params sp;
    gptc_session_params_default(m, &sp);
    if (n_ctx > 0) sp.n_ctx = n_ctx;
    if (n_batch > 0) sp.n_batch = n_batch;
    gptc_session *s = NULL;
    if (gptc_session_new(m, &sp, &s, &err) != GPTC_OK) {
        gptc_model_free(m);
        return fail("session", &err);
    }
    float *logits = malloc(n_ids * V * sizeof(float));
    if (!logits) {
        fprintf(stderr, "dump-logits: error: out of memory\n");
        return 1;
    }
    size_t step = chunk > 0 ? (size_t)chunk : n_ids;
    int rc = 0;
    for (size_t i = 0; i < n_ids && !rc; i += step) {
        size_t k = n_ids - i < step ? n_ids - i : step;
        if (gptc_session_feed_all_logits(s, ids + i, k, logits + i * V, &err) != GPTC_OK)
            rc = fail("feed", &err);
    }
    if (!rc) {
        FILE *f = fopen(out, "wb");
        int ok = f && fwrite(logits, sizeof(float) * V, n_ids, f) == n_ids;
        if (f && fclose(f) != 0) ok = 0;
        if (!ok) {
            fprintf(stderr, "dump-logits: error: cannot write %s\n", out);
            rc = 1;
        } else {
            printf("n_tokens %zu n_vocab %zu\n", n_ids, V);
        }
    }
    free(logits);
    free(ids);
    gptc_session_free(s);
    gptc_model_free(m);
    return rc;
}
