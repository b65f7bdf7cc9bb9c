/* cpu.h — CPU backend internals shared by engine/cpu_backend.c and engine/forward_*.c. */
#ifndef GPTC_ENGINE_CPU_H
#define GPTC_ENGINE_CPU_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/session.h"

/* CPU backend state of a model (m->backend_data): forward passes on one model run one at a time
 * (they would share the thread pool anyway), so the forward scratch is one block per model, sized
 * for the largest n_batch of its sessions. */
typedef struct gt_cpu_model {
    pthread_mutex_t lock; /* held for a whole forward / decode step / session setup */
    void *mem;            /* forward scratch */
    size_t bytes;
    int rows;            /* batch rows the scratch and pos/sess are sized for */
    int *pos;            /* [rows] row positions of a batch */
    gptc_session **sess; /* [rows] row sessions of a batch */
} gt_cpu_model;

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

/* CPU backend state of a session (s->backend_data; gt_cpu(s)). */
typedef struct gt_cpu_state {
    gt_kv_layer *kv;   /* [n_layer] */
    float *logits;     /* [n_vocab] logits of the last token fed */
    uint64_t kv_bytes; /* counted in model->kv_bytes */
} gt_cpu_state;
static inline gt_cpu_state *gt_cpu(const gptc_session *s) {
    return (gt_cpu_state *)s->backend_data;
}

/* Bump allocator over the scratch block (64-byte aligned pieces). */
typedef struct gt_carve {
    char *p;
    size_t left;
} gt_carve;
static inline void *gt_carve_take(gt_carve *c, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes > c->left) return NULL;
    void *r = c->p;
    c->p += bytes;
    c->left -= bytes;
    return r;
}
/* Bytes a sequence of gt_carve_take calls needs: sum of rounded sizes. */
static inline size_t gt_carve_size(size_t bytes) {
    return (bytes + 63) & ~(size_t)63;
}
/* A scratch layout: each item's pointer gets `bytes` from the block. */
typedef struct gt_carve_item {
    void **p;
    size_t bytes;
} gt_carve_item;
/* Total bytes of the layout; with c non-NULL also hands every item its piece. */
static inline size_t gt_carve_items(gt_carve *c, const gt_carve_item *it, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += gt_carve_size(it[i].bytes);
        if (c) *it[i].p = gt_carve_take(c, it[i].bytes);
    }
    return total;
}

/* Reserves rows for T new positions p0 .. p0+T-1 (p0 == kv->base + kv->count); afterwards
 * position j is row j - kv->base. A sliding-window layer with a full buffer first keeps only
 * its last kv->keep rows (moved to the front). row = floats per position. */
void gt_kv_make_room(gt_kv_layer *kv, int T, size_t row);
/* Pointer to the K (or V) row of absolute position pos. */
static inline float *gt_kv_k(gt_kv_layer *kv, int pos, size_t row) {
    return kv->k + (size_t)(pos - kv->base) * row;
}
static inline float *gt_kv_v(gt_kv_layer *kv, int pos, size_t row) {
    return kv->v + (size_t)(pos - kv->base) * row;
}

/* A CPU forward batch: row t is token ids[t] of session sess[t] at absolute position pos[t].
 * Rows of one session are consecutive and continue that session's context (n_past, n_past+1,
 * ...). One session (prompt chunk) or many (gptc_decode_multi: one row per session).
 * logits_all != NULL: the logits of every row go to logits_all[T][n_vocab] (and the last row of
 * each session to its s->logits); otherwise only each session's last row is computed, into its
 * s->logits. scratch: the model's forward scratch (gt_cpu_model, sized for T rows). */
typedef struct gt_batch {
    int T;
    const int32_t *ids;
    gptc_session *const *sess;
    const int *pos;
    float *logits_all;
    int swa_only; /* truncate's rebuild: append K/V to the sliding-window layers only */
    void *scratch;
    size_t scratch_bytes;
} gt_batch;

/* Rows of the batch whose logits are needed (ascending): out[n] -> n. */
int gt_batch_out_rows(const gt_batch *b, int *out);
/* 1 if any session of the batch was cancelled. */
int gt_batch_cancelled(const gt_batch *b);
/* Appends the K/V rows k[T][row], v[T][row] of layer il to each row's session cache. */
void gt_batch_kv_append(const gt_batch *b, int il, const float *k, const float *v, size_t row);
/* Logits rows computed together for the LM head (scratch: GT_LOGITS_CHUNK * n_vocab floats). */
#define GT_LOGITS_CHUNK 8
/* LM head: for out rows i = 0..n_out-1 (hidden h[i][E], row out[i] of the batch), logits =
 * W h -> logits_all[out[i]] (when set) and, for each session's last row, its s->logits. */
void gt_batch_lm_head(const gt_batch *b, const gt_weight *W, const float *h, const int *out,
                      int n_out, float *chunk);

#endif
