/* session.h — the internal session: one sequence, its context, KV cache and sampler. */
#ifndef GPTC_ENGINE_SESSION_H
#define GPTC_ENGINE_SESSION_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/sampler.h"
#include "gptc.h"

/* Session defaults when gptc_session_params leaves them 0 (n_ctx also at most the trained
 * context). */
#define GT_DEFAULT_N_CTX 4096
#define GT_DEFAULT_N_BATCH 512

struct gptc_session {
    gptc_model *model;
    gptc_session_params params;
    int n_ctx;
    int n_batch;
    int n_past;       /* tokens in the KV cache */
    int32_t *history; /* [n_ctx] the tokens in the context (penalties, SWA recompute) */

    gt_sampler sampler;
    int sampled; /* 1 after sample(): the next single-token feed counts as generation */
    gptc_timings timings;
    atomic_int cancel; /* lock-free -> async-signal-safe */

    int logits_valid; /* 0 before the first feed and after truncate */

    void *backend_data; /* the backend's per-session state (CPU: engine/cpu.h gt_cpu_state; CUDA:
                           cuda/backend.h cu_sess): KV caches, logits, workspace */
    float *lp_logits;   /* [n_vocab] host copy for gptc_session_logprobs (allocated on first use) */
};

static inline int gt_session_cancelled(const gptc_session *s) {
    return atomic_load_explicit((atomic_int *)&s->cancel, memory_order_relaxed) != 0;
}

#endif
