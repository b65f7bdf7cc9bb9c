/* sampler.h — token sampling on the host (llama.cpp semantics, no globals).
 * Order: penalties (over the last penalty_last_n tokens of the history) -> greedy if
 * temperature <= 0 -> top-k -> top-p -> min-p -> temperature -> draw with the seeded RNG.
 * Repeat penalty divides positive logits and multiplies negative ones (once per distinct token);
 * frequency subtracts count * f, presence subtracts p once. top-p and min-p act on the softmax of
 * the (penalised, untempered) logits like llama.cpp's default chain. Ties are broken towards the
 * lower token id. Over a 201k vocab it never sorts the whole vocabulary unless the filters need
 * it (top-k uses selection; top-p grows a selected prefix). */
#ifndef GPTC_ENGINE_SAMPLER_H
#define GPTC_ENGINE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

typedef struct gt_rng {
    uint64_t s[4]; /* xoshiro256** state */
} gt_rng;
void gt_rng_seed(gt_rng *r, uint64_t seed); /* splitmix64 expansion */
uint64_t gt_rng_next(gt_rng *r);
double gt_rng_uniform(gt_rng *r); /* [0, 1), 53 bits */

typedef struct gt_cand {
    float v; /* logit, then probability */
    int32_t id;
} gt_cand;

typedef struct gt_sampler {
    gptc_sampler_params p;
    gt_rng rng;
    int n_vocab;
    /* work buffers (allocated once by gt_sampler_init) */
    float *work;   /* [n_vocab] penalised logits */
    gt_cand *cand; /* [n_vocab] candidates */
    int32_t *pen;  /* [n_ctx] scratch for penalty counting */
    int pen_cap;
} gt_sampler;

gptc_status gt_sampler_init(gt_sampler *smp, const gptc_sampler_params *p, int n_vocab, int n_ctx,
                            gptc_error *err);
void gt_sampler_free(gt_sampler *smp);
/* Replaces the parameters and reseeds the RNG with p->seed. */
void gt_sampler_set(gt_sampler *smp, const gptc_sampler_params *p);
/* Draws one token from logits[n_vocab]; hist[n_hist] is the context (penalties use its last
 * penalty_last_n entries; -1 = all). */
int32_t gt_sampler_sample(gt_sampler *smp, const float *logits, const int32_t *hist, int n_hist);

#endif
