/* logprobs.c — gptc_session_logprobs: log_softmax of the last logits, one id's value and the top N.
 *
 * The logits come through the backend's logits() (the CPU's buffer, or the device's copied to the
 * host). One pass for the max, one for the sum of exp(l - max) (float exp, summed in double), and
 * the top N by insertion into a sorted list (N <= 32) or a sort of the whole vocabulary. NaN
 * logits count as -inf. When some logits are +inf they share the whole mass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/session.h"

static float lp_of(float v, double lse, int n_inf) {
    if (n_inf > 0) return v == INFINITY ? (float)-log((double)n_inf) : -INFINITY;
    if (!(v > -INFINITY)) return -INFINITY; /* -inf, NaN */
    return (float)((double)v - lse);
}

/* higher value first, then lower id (NaN as -inf) */
static int before(float a, int32_t ia, float b, int32_t ib) {
    if (a != a) a = -INFINITY;
    if (b != b) b = -INFINITY;
    if (a != b) return a > b;
    return ia < ib;
}

static int by_value(const void *pa, const void *pb) {
    const gptc_token_logprob *a = pa, *b = pb; /* logprob holds the logit while sorting */
    if (before(a->logprob, a->id, b->logprob, b->id)) return -1;
    if (before(b->logprob, b->id, a->logprob, a->id)) return 1;
    return 0;
}

gptc_status gptc_session_logprobs(gptc_session *s, int32_t id, float *logprob,
                                  gptc_token_logprob *top, int n_top, gptc_error *err) {
    if (!s || (n_top > 0 && !top))
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_logprobs: NULL argument");
    const int nv = s->sampler.n_vocab;
    if (n_top < 0 || n_top > nv)
        return gt_err(err, GPTC_ERR_INVALID_ARG,
                      "gptc_session_logprobs: %d alternatives asked, "
                      "the vocabulary has %d",
                      n_top, nv);
    if (logprob && (id < 0 || id >= nv))
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_logprobs: token id %ld out of range",
                      (long)id);
    if (!s->logits_valid)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "no logits yet: feed tokens first");
    if (!s->lp_logits) {
        s->lp_logits = malloc((size_t)s->model->hp.n_vocab * sizeof(float));
        if (!s->lp_logits) return gt_err(err, GPTC_ERR_NOMEM, "out of memory (logprobs)");
    }
    gptc_status st = s->model->backend->logits(s, s->lp_logits, err);
    if (st != GPTC_OK) return st;
    const float *l = s->lp_logits;

    float mx = -INFINITY;
    int n_inf = 0;
    for (int i = 0; i < nv; i++) {
        if (l[i] > mx) mx = l[i];
        n_inf += l[i] == INFINITY;
    }
    double lse = 0.0;
    if (mx > -INFINITY && !n_inf) {
        double z = 0.0;
        for (int i = 0; i < nv; i++)
            if (l[i] > -INFINITY) z += expf(l[i] - mx);
        lse = (double)mx + log(z);
    }
    if (logprob) *logprob = lp_of(l[id], lse, n_inf);
    if (n_top == 0) return GPTC_OK;

    if (n_top <= 32) {
        int k = 0; /* top[0..k) sorted */
        for (int32_t i = 0; i < nv; i++) {
            if (k == n_top && !before(l[i], i, l[top[k - 1].id], top[k - 1].id)) continue;
            int j = k < n_top ? k++ : k - 1;
            while (j > 0 && before(l[i], i, l[top[j - 1].id], top[j - 1].id)) {
                top[j] = top[j - 1];
                j--;
            }
            top[j].id = i;
        }
    } else {
        gptc_token_logprob *all = malloc((size_t)nv * sizeof *all);
        if (!all) return gt_err(err, GPTC_ERR_NOMEM, "out of memory (logprobs)");
        for (int32_t i = 0; i < nv; i++) all[i] = (gptc_token_logprob){i, l[i]};
        qsort(all, (size_t)nv, sizeof *all, by_value);
        for (int i = 0; i < n_top; i++) top[i].id = all[i].id;
        free(all);
    }
    for (int i = 0; i < n_top; i++) top[i].logprob = lp_of(l[top[i].id], lse, n_inf);
    return GPTC_OK;
}
