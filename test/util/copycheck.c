/* copycheck.c — see copycheck.h. */
#include "test/util/copycheck.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static gptc_session *new_session(gptc_model *m, int n_ctx, int n_batch) {
    gptc_session_params p;
    gptc_session_params_default(m, &p);
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.cache_type = GPTC_CACHE_F32;
    gptc_session *s = NULL;
    gptc_error err = {0};
    ck_assert_msg(gptc_session_new(m, &p, &s, &err) == GPTC_OK, "session: %s", err.msg);
    return s;
}

/* max |a - b| <= tol * max |b| (tol 0: equal bit for bit, as floats) */
static void same_logits(const float *a, const float *b, int n, double tol, const char *what,
                        int step) {
    double dmax = 0, ref = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(isfinite(a[i]) && isfinite(b[i]), "%s step %d: non-finite logit", what, step);
        double d = fabs((double)a[i] - b[i]);
        if (d > dmax) dmax = d;
        if (fabs(b[i]) > ref) ref = fabs(b[i]);
    }
    ck_assert_msg(dmax <= tol * ref, "%s step %d: max |diff| %g (max |logit| %g)", what, step, dmax,
                  ref);
}

void tu_check_session_copy(gptc_model *m, int n_prompt, int n_steps, int n_batch, double tol) {
    gptc_model_info info;
    gptc_model_get_info(m, &info);
    const int V = info.n_vocab, n_ctx = 512;
    ck_assert_int_le(n_prompt + n_steps + 1, n_ctx);
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)(n_prompt + n_steps));
    float *la = malloc(sizeof(float) * (size_t)V), *lb = malloc(sizeof(float) * (size_t)V),
          *lc = malloc(sizeof(float) * (size_t)V);
    ck_assert(prompt && la && lb && lc);
    uint32_t x = 12345;
    for (int i = 0; i < n_prompt + n_steps; i++) {
        x = x * 1664525u + 1013904223u;
        prompt[i] = (int32_t)((x >> 8) % (uint32_t)(V > 1000 ? 1000 : V));
    }
    const int32_t *steps = prompt + n_prompt;
    gptc_error err = {0};
    gptc_session *src = new_session(m, n_ctx, n_batch), *dst = new_session(m, n_ctx, n_batch),
                 *ref = new_session(m, n_ctx, n_batch);
    /* dst first holds another (longer) context, which the copy must replace */
    int32_t other[64];
    for (int i = 0; i < 64; i++) other[i] = (int32_t)((i * 37 + 5) % 900);
    for (int r = 0; r < 6; r++) ck_assert(gptc_session_feed(dst, other, 64, &err) == GPTC_OK);
    ck_assert(gptc_session_feed(src, prompt, (size_t)n_prompt, &err) == GPTC_OK);
    ck_assert(gptc_session_feed(ref, prompt, (size_t)n_prompt, &err) == GPTC_OK);
    ck_assert_msg(gptc_session_copy(dst, src, &err) == GPTC_OK, "copy: %s", err.msg);
    ck_assert_int_eq(gptc_session_n_past(dst), n_prompt);
    /* the prompt's logits, then each step's */
    for (int t = 0; t <= n_steps; t++) {
        if (t > 0) {
            if (t == n_steps / 2) { /* one step for all three at once */
                gptc_session *ss[3] = {src, dst, ref};
                int32_t ids[3] = {steps[t - 1], steps[t - 1], steps[t - 1]};
                ck_assert(gptc_decode_multi(ss, ids, 3, &err) == GPTC_OK);
            } else {
                ck_assert(gptc_session_feed(dst, steps + t - 1, 1, &err) == GPTC_OK);
                ck_assert(gptc_session_feed(src, steps + t - 1, 1, &err) == GPTC_OK);
                ck_assert(gptc_session_feed(ref, steps + t - 1, 1, &err) == GPTC_OK);
            }
        }
        ck_assert(gptc_session_logits(dst, lb, &err) == GPTC_OK);
        ck_assert(gptc_session_logits(src, la, &err) == GPTC_OK);
        ck_assert(gptc_session_logits(ref, lc, &err) == GPTC_OK);
        same_logits(lb, lc, V, tol, "copy vs own prefill", t);
        same_logits(la, lc, V, tol, "source vs own prefill", t);
    }
    /* a copy of a fresh session is an empty context; one of another size is refused */
    gptc_session *empty = new_session(m, n_ctx, n_batch), *small = new_session(m, 256, n_batch);
    ck_assert(gptc_session_copy(dst, empty, &err) == GPTC_OK);
    ck_assert_int_eq(gptc_session_n_past(dst), 0);
    ck_assert(gptc_session_logits(dst, lb, &err) == GPTC_ERR_INVALID_ARG);
    ck_assert(gptc_session_copy(small, src, &err) == GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(gptc_session_n_past(small), 0);
    ck_assert(gptc_session_copy(NULL, src, &err) == GPTC_ERR_INVALID_ARG);
    gptc_session_free(empty);
    gptc_session_free(small);
    gptc_session_free(src);
    gptc_session_free(dst);
    gptc_session_free(ref);
    free(prompt);
    free(la);
    free(lb);
    free(lc);
}

gptc_model *tu_copy_model(const char *path, gptc_backend be) {
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = path;
    mp.backend = be;
    if (be == GPTC_BACKEND_CPU)
        mp.n_threads = 2;
    else
        mp.n_ctx_hint = 512;
    gptc_model *m = NULL;
    gptc_error err = {0};
    ck_assert_msg(gptc_model_load(&mp, &m, &err) == GPTC_OK, "load %s: %s", path, err.msg);
    return m;
}
