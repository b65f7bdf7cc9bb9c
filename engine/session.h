/* session.h — the internal session: one sequence, its context, KV cache and sampler. */
#ifndef GPTC_ENGINE_SESSION_H
#define GPTC_ENGINE_SESSION_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/sampler.h"
#include "gptc.h"

/* CPU KV cache of one layer: positions [base, base + count) stored contiguously, position j in
 * row j - base; a row is n_head_kv * head_dim floats (K after RoPE; V). Full-attention layers
 * have cap = n_ctx and base = 0. Sliding-window layers keep only cap = min(n_ctx, keep + n_batch)
 * rows with keep = window - 1 + slack (slack = max(n_batch, min(1024, n_ctx / 4))): before a
 * batch that would not fit, the last `keep` rows are moved to the front (keys stay contiguous for
 * the attention op). Truncating by up to `slack` tokens is free; a longer rewind rebuilds the
 * window caches (engine/cpu_backend.c cpu_truncate). */
typedef struct gt_kv_layer {
    float *k; /* [cap][n_head_kv * head_dim] */
    float *v;
    int cap;
    int keep;  /* rows kept when the buffer is full (cap for full-attention layers) */
    int base;  /* absolute position of row 0 */
    int count; /* rows in use */
} gt_kv_layer;

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

    /* CPU backend state (unused by device backends) */
    gt_kv_layer *kv;  /* [n_layer] */
    float *logits;    /* [n_vocab] logits of the last token fed */
    int logits_valid; /* 0 before the first feed and after truncate */
    void *cpu;        /* CPU backend per-session state (engine/cpu.h) */

    void *backend_data; /* device backend private */
    float *lp_logits;   /* [n_vocab] host copy for gptc_session_logprobs (allocated on first use) */
};

static inline int gt_session_cancelled(const gptc_session *s) {
    return atomic_load_explicit((atomic_int *)&s->cancel, memory_order_relaxed) != 0;
}

#endif
