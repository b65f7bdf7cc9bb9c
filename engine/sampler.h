/* sampler.h — token sampling on the host (llama.cpp semantics, no globals).
 * Order: logit bias -> penalties (over the last penalty_last_n tokens of the history) -> greedy if
 * temperature <= 0 -> top-k -> top-p -> min-p -> temperature -> draw with the seeded RNG.
 * Repeat penalty divides positive logits and multiplies negative ones (once per distinct token);
 * frequency subtracts count * f, presence subtracts p once. top-p and min-p act on the softmax of
 * the (penalised, untempered) logits like llama.cpp's default chain. Ties are broken towards the
 * lower token id; NaN logits count as -inf; with +inf logits the first of them is returned.
 *
 * Cost over a 201k vocabulary (vector passes with AVX2, plain C otherwise; never allocates):
 *   default (no filter): one max pass, one exp pass that also sums blocks of GT_SAMPLER_BLOCK,
 *     and a draw that walks the block sums and scans one block (inverse CDF in id order);
 *   greedy: one argmax pass;  penalties: a copy of the logits, then only the window's tokens;
 *   top-k: a heap of k, the vocabulary prefiltered against its worst value;
 *   top-p: z and a histogram of exp(l - max) (8 buckets per octave) in one pass, then only the
 *     buckets that can hold the top-p prefix are gathered and sorted (radix);
 *   min-p: its bound max + ln(min_p) prefilters the gather.
 * The kept set and its order are those of a full sort (top-p: up to the rounding of the softmax
 * normaliser, which a float exp sums in double). The full-vocabulary draw (and draws over more
 * than 4096 candidates) use a float exp (Cephes polynomial, ~1 ulp) summed in double per block
 * instead of libm's exp in one running sum: the distribution is the same, but a seed can pick a
 * neighbouring token when its draw falls within rounding of a CDF boundary. */
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
    /* work buffers (allocated once by gt_sampler_init; sampling never allocates) */
    float *work;    /* [n_vocab] penalised logits, then exp values of the full-vocabulary draw */
    gt_cand *cand;  /* [n_vocab] candidates */
    gt_cand *cand2; /* [n_vocab] radix-sort buffer */
    double *bsum;   /* [n_vocab / GT_SAMPLER_BLOCK + 1] block sums of the full-vocabulary draw */
    int32_t *pen;   /* [n_ctx] scratch for penalty counting */
    int pen_cap;
    gptc_logit_bias *bias; /* [GPTC_LOGIT_BIAS_MAX] the copy p.logit_bias points to */
    int n_bias;
    /* constraint (gptc_session_set_allowed): bit i of allowed[i >> 5] = token i may be drawn;
     * the others count as -inf logits, after the penalties. NULL: none. Not owned. */
    const uint32_t *allowed;
} gt_sampler;

/* Elements per block sum of the full-vocabulary draw (sampler.c). */
#define GT_SAMPLER_BLOCK 256

gptc_status gt_sampler_init(gt_sampler *smp, const gptc_sampler_params *p, int n_vocab, int n_ctx,
                            gptc_error *err);
void gt_sampler_free(gt_sampler *smp);
/* Replaces the parameters and reseeds the RNG with p->seed; copies the logit bias list (its first
 * GPTC_LOGIT_BIAS_MAX entries: the session checks it first, gt_sampler_check_bias). */
void gt_sampler_set(gt_sampler *smp, const gptc_sampler_params *p);
/* Draws one token from logits[n_vocab]; hist[n_hist] is the context (penalties use its last
 * penalty_last_n entries; -1 = all). RNG use: exactly one gt_rng_uniform per call when
 * temperature > 0 (taken first, whatever the logits), none when greedy; the rest is
 * gt_sampler_sample_u with that u, so a device sampler given the same u (cuda/sample.cu) consumes
 * the RNG identically. */
int32_t gt_sampler_sample(gt_sampler *smp, const float *logits, const int32_t *hist, int n_hist);
/* The uniform of one draw (the RNG use of gt_sampler_sample): gt_rng_uniform when temperature
 * > 0, else 0 without touching the RNG. */
double gt_sampler_draw_u(gt_sampler *smp);
/* Checks a logit bias list against the sampled vocabulary: 0, or -1 with the reason in msg. */
int gt_sampler_check_bias(const gptc_sampler_params *p, int n_vocab, char *msg, size_t cap);
/* Does the sampler work on a modified copy of the logits (a logit bias, or a penalty window of
 * n_hist tokens)? */
int gt_sampler_modifies(const gt_sampler *smp, int n_hist);
/* logits[0..n) with the tokens not in allowed set to -inf, into dst (may be logits). */
void gt_sampler_apply_mask(const float *logits, float *dst, const uint32_t *allowed, int n);
/* How many of the last n_hist tokens the penalties look at (0 when no penalty is on). */
int gt_sampler_penalty_window(const gt_sampler *smp, int n_hist);
/* The same with the uniform u in [0, 1) given (ignored when greedy); does not touch smp->rng. */
int32_t gt_sampler_sample_u(gt_sampler *smp, const float *logits, const int32_t *hist, int n_hist,
                            double u);

#endif
