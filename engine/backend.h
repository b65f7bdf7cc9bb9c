/* backend.h — the interface between the generic engine (model.c, session.c) and a compute
 * backend (CPU: engine/cpu_backend.c; CUDA: cuda/backend.c).
 *
 * The generic layer owns: GGUF loading + the architecture adapter (weights are mmap'd views),
 * the tokenizer, argument checks, context-size checks, chunking of prompts into n_batch pieces,
 * token history, timings, cancel flag, n_past bookkeeping. A backend owns: copies of the weights
 * it needs, KV caches, the forward pass, the logits buffer and sampling.
 *
 * forward(s, ids, n, logits_all): runs n tokens (1 <= n <= s->n_batch) at positions
 *   s->n_past .. s->n_past + n - 1 (the generic layer has checked n_past + n <= n_ctx and does
 *   NOT advance n_past until forward returns GPTC_OK). It appends their K/V to the caches and
 *   leaves the last token's logits ready for logits()/sample(). logits_all != NULL: also copy
 *   the logits of all n tokens to logits_all[n][n_vocab] (host memory). It should poll
 *   gt_session_cancelled(s) between layers and return GPTC_ERR_INTERRUPTED.
 * truncate(s, n): the generic layer has set nothing yet; the backend makes positions >= n
 *   invisible (it may recompute the sliding-window cache from s->history[0..n)). The generic
 *   layer then sets s->n_past = n.
 * decode_multi(ss, ids, n): one token for each of n distinct sessions of the same model.
 *   NULL: the generic layer calls forward() once per session.
 * copy(dst, src): dst's KV cache and last logits become src's (n_past positions); the generic
 *   layer has checked that both have the same n_ctx, n_batch and cache type, and copies
 *   history and n_past itself afterwards.
 * sample(s, id): sample from the last logits with s->sampler (history in s->history[0..n_past)).
 *   The CPU backend calls gt_sampler_sample on its logits; a device backend may copy its logits
 *   to the host and do the same.
 */
#ifndef GPTC_ENGINE_BACKEND_H
#define GPTC_ENGINE_BACKEND_H

#include <stdint.h>

#include "gptc.h"

typedef struct gt_backend_ops {
    const char *name; /* "cpu", "cuda" */
    gptc_status (*model_init)(gptc_model *m, const gptc_model_params *p, gptc_error *err);
    void (*model_free)(gptc_model *m);
    gptc_status (*session_init)(gptc_session *s, gptc_error *err);
    void (*session_free)(gptc_session *s);
    gptc_status (*forward)(gptc_session *s, const int32_t *ids, int n, float *logits_all,
                           gptc_error *err);
    gptc_status (*sample)(gptc_session *s, int32_t *id, gptc_error *err);
    gptc_status (*logits)(gptc_session *s, float *out, gptc_error *err);
    gptc_status (*decode_multi)(gptc_session **ss, const int32_t *ids, int n, gptc_error *err);
    gptc_status (*truncate)(gptc_session *s, int n, gptc_error *err);
    gptc_status (*residency)(const gptc_model *m, gptc_residency *r, gptc_error *err);
    gptc_status (*copy)(gptc_session *dst, const gptc_session *src, gptc_error *err);
} gt_backend_ops;

const gt_backend_ops *gt_cpu_backend(void);

#ifdef GPTC_WITH_CUDA
/* Implemented in cuda/backend.c. */
const gt_backend_ops *gt_cuda_backend(void);
int gt_cuda_device_count(void); /* 0 when no usable device (or no driver) */
#endif

#endif
