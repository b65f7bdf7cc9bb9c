/* session.c — gptc_session_*: argument and context checks, prompt chunking, history, timings,
 * cancel flag; the compute goes to the model's backend (backend.h). */
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/session.h"

#define DEFAULT_N_CTX GT_DEFAULT_N_CTX
#define DEFAULT_N_BATCH GT_DEFAULT_N_BATCH

void gptc_session_params_default(const gptc_model *m, gptc_session_params *p) {
    (void)m; /* gpt-oss and GPT-2 share OpenAI's defaults: temperature 1.0, top-p 1.0 */
    memset(p, 0, sizeof(*p));
    p->n_ctx = 0;
    p->n_batch = 0;
    p->sampling.temperature = 1.0f;
    p->sampling.top_k = 0;
    p->sampling.top_p = 1.0f;
    p->sampling.min_p = 0.0f;
    p->sampling.repeat_penalty = 1.0f;
    p->sampling.presence_penalty = 0.0f;
    p->sampling.frequency_penalty = 0.0f;
    p->sampling.penalty_last_n = 64;
    p->sampling.seed = 0;
}

static gptc_status check_sampling(const gptc_sampler_params *sp, gptc_error *err) {
    if (!(sp->temperature >= 0.0f))
        return gt_err(err, GPTC_ERR_INVALID_ARG, "temperature must be >= 0");
    if (sp->top_k < 0) return gt_err(err, GPTC_ERR_INVALID_ARG, "top-k must be >= 0");
    /* top-p 0 keeps the most likely token alone (as llama.cpp does) */
    if (!(sp->top_p >= 0.0f && sp->top_p <= 1.0f))
        return gt_err(err, GPTC_ERR_INVALID_ARG, "top-p must be in [0, 1]");
    if (!(sp->min_p >= 0.0f && sp->min_p <= 1.0f))
        return gt_err(err, GPTC_ERR_INVALID_ARG, "min-p must be in [0, 1]");
    if (!(sp->repeat_penalty > 0.0f))
        return gt_err(err, GPTC_ERR_INVALID_ARG, "repeat penalty must be > 0");
    if (sp->presence_penalty != sp->presence_penalty ||
        sp->frequency_penalty != sp->frequency_penalty)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "penalties must be numbers");
    if (sp->penalty_last_n < -1)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "penalty window must be >= -1");
    return GPTC_OK;
}

gptc_status gptc_session_new(gptc_model *m, const gptc_session_params *p, gptc_session **out,
                             gptc_error *err) {
    if (out) *out = NULL;
    if (!m || !out) return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_new: NULL argument");
    gptc_session_params def;
    if (!p) {
        gptc_session_params_default(m, &def);
        p = &def;
    }
    const int train = m->hp.n_ctx_train;
    if (p->n_ctx < 0) return gt_err(err, GPTC_ERR_INVALID_ARG, "invalid context size %d", p->n_ctx);
    if (p->n_ctx > train)
        return gt_err(err, GPTC_ERR_INVALID_ARG,
                      "context size %d exceeds the model's trained context of %d tokens", p->n_ctx,
                      train);
    if (p->n_batch < 0)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "invalid batch size %d", p->n_batch);
    if ((unsigned)p->cache_type > GPTC_CACHE_Q8_0)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "invalid cache type %d", (int)p->cache_type);
    gptc_status st = check_sampling(&p->sampling, err);
    if (st != GPTC_OK) return st;

    gptc_session *s = calloc(1, sizeof(*s));
    if (!s) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    s->model = m;
    s->params = *p;
    s->params.sampling.logit_bias = NULL; /* the sampler's copy, below */
    s->params.sampling.n_logit_bias = 0;
    s->n_ctx = p->n_ctx > 0 ? p->n_ctx : (train < DEFAULT_N_CTX ? train : DEFAULT_N_CTX);
    s->n_batch = p->n_batch > 0 ? p->n_batch : DEFAULT_N_BATCH;
    if (s->n_batch > s->n_ctx) s->n_batch = s->n_ctx;
    atomic_init(&s->cancel, 0);
    s->history = malloc((size_t)s->n_ctx * sizeof(int32_t));
    if (!s->history) {
        free(s);
        return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    }
    /* sample only ids the tokenizer can write: embedding rows past its vocabulary (padding, or
     * a smaller tokenizer given with --tokenizer) have no text */
    int n_sample = m->hp.n_vocab;
    if (m->tok) {
        int tv = (int)gptc_tokenizer_n_vocab(m->tok);
        if (tv > 0 && tv < n_sample) n_sample = tv;
    }
    char why[160];
    if (gt_sampler_check_bias(&p->sampling, n_sample, why, sizeof why)) {
        free(s->history);
        free(s);
        return gt_err(err, GPTC_ERR_INVALID_ARG, "%s", why);
    }
    st = gt_sampler_init(&s->sampler, &p->sampling, n_sample, s->n_ctx, err);
    if (st != GPTC_OK) {
        free(s->history);
        free(s);
        return st;
    }
    s->params.sampling = s->sampler.p;
    st = m->backend->session_init(s, err);
    if (st != GPTC_OK) {
        gt_sampler_free(&s->sampler);
        free(s->history);
        free(s);
        return st;
    }
    *out = s;
    return GPTC_OK;
}

void gptc_session_free(gptc_session *s) {
    if (!s) return;
    s->model->backend->session_free(s);
    gt_sampler_free(&s->sampler);
    free(s->lp_logits);
    free(s->history);
    free(s);
}

int gptc_session_n_ctx(const gptc_session *s) {
    return s ? s->n_ctx : 0;
}
int gptc_session_n_past(const gptc_session *s) {
    return s ? s->n_past : 0;
}

static gptc_status check_ids(const gptc_session *s, const int32_t *ids, size_t n, gptc_error *err) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->model->hp.n_vocab)
            return gt_err(err, GPTC_ERR_INVALID_ARG,
                          "token id %ld at index %zu is out of range (vocabulary of %d)",
                          (long)ids[i], i, s->model->hp.n_vocab);
    return GPTC_OK;
}

static gptc_status feed(gptc_session *s, const int32_t *ids, size_t n, float *logits,
                        gptc_error *err) {
    if (!s || (n > 0 && !ids))
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_feed: NULL argument");
    if (n == 0) return GPTC_OK;
    gptc_status st = check_ids(s, ids, n, err);
    if (st != GPTC_OK) return st;
    if ((size_t)s->n_past + n > (size_t)s->n_ctx)
        return gt_err(err, GPTC_ERR_CONTEXT_FULL,
                      "context full: %d tokens in the context + %zu new exceed the context size "
                      "of %d",
                      s->n_past, n, s->n_ctx);
    if (gt_session_cancelled(s)) return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");
    const int gen = n == 1 && s->sampled;
    const size_t V = (size_t)s->model->hp.n_vocab;
    double t0 = gt_now_ms();
    size_t done = 0;
    st = GPTC_OK;
    while (done < n) {
        int c = (int)(n - done < (size_t)s->n_batch ? n - done : (size_t)s->n_batch);
        memcpy(s->history + s->n_past, ids + done, (size_t)c * sizeof(int32_t));
        s->logits_valid = 0;
        st = s->model->backend->forward(s, ids + done, c, logits ? logits + done * V : NULL, err);
        if (st != GPTC_OK) break;
        s->n_past += c;
        s->logits_valid = 1;
        done += (size_t)c;
        if (done < n && gt_session_cancelled(s)) {
            st = gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");
            break;
        }
    }
    double dt = gt_now_ms() - t0;
    if (gen) {
        s->timings.n_gen += (int)done;
        s->timings.gen_ms += dt;
    } else {
        s->timings.n_prompt += (int)done;
        s->timings.prompt_ms += dt;
    }
    s->sampled = 0;
    return st;
}

gptc_status gptc_session_feed(gptc_session *s, const int32_t *ids, size_t n, gptc_error *err) {
    return feed(s, ids, n, NULL, err);
}

gptc_status gptc_session_feed_all_logits(gptc_session *s, const int32_t *ids, size_t n,
                                         float *logits, gptc_error *err) {
    if (!logits && n > 0)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_feed_all_logits: NULL logits");
    return feed(s, ids, n, logits, err);
}

gptc_status gptc_session_sample(gptc_session *s, int32_t *id, gptc_error *err) {
    if (!s || !id) return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_sample: NULL argument");
    if (!s->logits_valid)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "no logits to sample from: feed tokens first");
    double t0 = gt_now_ms();
    gptc_status st = s->model->backend->sample(s, id, err);
    s->timings.sample_ms += gt_now_ms() - t0;
    if (st == GPTC_OK) s->sampled = 1;
    return st;
}

gptc_status gptc_session_logits(gptc_session *s, float *logits, gptc_error *err) {
    if (!s || !logits)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_logits: NULL argument");
    if (!s->logits_valid)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "no logits yet: feed tokens first");
    return s->model->backend->logits(s, logits, err);
}

gptc_status gptc_session_truncate(gptc_session *s, int n, gptc_error *err) {
    if (!s) return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_truncate: NULL session");
    if (n < 0 || n > s->n_past)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "cannot truncate to %d tokens (context has %d)", n,
                      s->n_past);
    if (n == s->n_past) return GPTC_OK;
    s->logits_valid = 0;
    gptc_status st = s->model->backend->truncate(s, n, err);
    if (st != GPTC_OK) {
        /* a backend that recomputes the window leaves n_past at what it rebuilt (<= n) */
        if (s->n_past > n) s->n_past = n;
        return st;
    }
    s->n_past = n;
    s->sampled = 0;
    return GPTC_OK;
}

gptc_status gptc_session_copy(gptc_session *dst, const gptc_session *src, gptc_error *err) {
    if (!dst || !src) return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_session_copy: NULL session");
    if (dst == src) return GPTC_OK;
    if (dst->model != src->model || dst->n_ctx != src->n_ctx || dst->n_batch != src->n_batch ||
        dst->params.cache_type != src->params.cache_type)
        return gt_err(err, GPTC_ERR_INVALID_ARG,
                      "gptc_session_copy: the sessions differ in model, context size, batch size "
                      "or cache type");
    gptc_status st = dst->model->backend->copy(dst, src, err);
    if (st != GPTC_OK) {
        dst->n_past = 0; /* what the backend left is not a context */
        dst->logits_valid = 0;
        return st;
    }
    memcpy(dst->history, src->history, (size_t)src->n_past * sizeof(int32_t));
    dst->n_past = src->n_past;
    dst->logits_valid = src->logits_valid;
    dst->sampled = 0;
    return GPTC_OK;
}

gptc_status gptc_session_set_sampling(gptc_session *s, const gptc_sampler_params *sp) {
    if (!s || !sp) return GPTC_ERR_INVALID_ARG;
    if (check_sampling(sp, NULL) != GPTC_OK) return GPTC_ERR_INVALID_ARG;
    char why[160];
    if (gt_sampler_check_bias(sp, s->sampler.n_vocab, why, sizeof why)) return GPTC_ERR_INVALID_ARG;
    gt_sampler_set(&s->sampler, sp);
    s->params.sampling = s->sampler.p; /* its bias list is the sampler's copy */
    return GPTC_OK;
}

void gptc_session_set_allowed(gptc_session *s, const uint32_t *allowed_bits) {
    if (s) s->sampler.allowed = allowed_bits;
}

void gptc_session_cancel(gptc_session *s) {
    if (s) atomic_store_explicit(&s->cancel, 1, memory_order_relaxed);
}

void gptc_session_clear_cancel(gptc_session *s) {
    if (s) atomic_store_explicit(&s->cancel, 0, memory_order_relaxed);
}

gptc_status gptc_decode_multi(gptc_session **ss, const int32_t *ids, int n, gptc_error *err) {
    if (n < 0 || (n > 0 && (!ss || !ids)))
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_decode_multi: bad arguments");
    if (n == 0) return GPTC_OK;
    gptc_model *m = ss[0] ? ss[0]->model : NULL;
    for (int i = 0; i < n; i++) {
        if (!ss[i] || ss[i]->model != m)
            return gt_err(err, GPTC_ERR_INVALID_ARG,
                          "gptc_decode_multi: session %d is NULL or of another model", i);
        for (int j = 0; j < i; j++)
            if (ss[j] == ss[i])
                return gt_err(err, GPTC_ERR_INVALID_ARG,
                              "gptc_decode_multi: session %d appears twice", i);
        gptc_status st = check_ids(ss[i], ids + i, 1, err);
        if (st != GPTC_OK) return st;
        if (ss[i]->n_past + 1 > ss[i]->n_ctx)
            return gt_err(err, GPTC_ERR_CONTEXT_FULL,
                          "context full: session %d has %d of %d tokens", i, ss[i]->n_past,
                          ss[i]->n_ctx);
        if (gt_session_cancelled(ss[i])) return gt_err(err, GPTC_ERR_INTERRUPTED, "interrupted");
    }
    if (!m->backend->decode_multi) {
        for (int i = 0; i < n; i++) {
            gptc_status st = feed(ss[i], ids + i, 1, NULL, err);
            if (st != GPTC_OK) return st;
        }
        return GPTC_OK;
    }
    double t0 = gt_now_ms();
    for (int i = 0; i < n; i++) {
        ss[i]->history[ss[i]->n_past] = ids[i];
        ss[i]->logits_valid = 0;
    }
    gptc_status st = m->backend->decode_multi(ss, ids, n, err);
    double dt = (gt_now_ms() - t0) / n;
    if (st != GPTC_OK) return st;
    for (int i = 0; i < n; i++) {
        ss[i]->n_past++;
        ss[i]->logits_valid = 1;
        ss[i]->sampled = 0;
        ss[i]->timings.n_gen++;
        ss[i]->timings.gen_ms += dt;
    }
    return GPTC_OK;
}

void gptc_session_timings(const gptc_session *s, gptc_timings *t) {
    if (!t) return;
    if (!s) {
        memset(t, 0, sizeof(*t));
        return;
    }
    *t = s->timings;
}
