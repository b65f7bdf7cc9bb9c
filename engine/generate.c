/* generate.c — gptc_generate: the sample / feed / report loop for library users, built only on
 * the public session and decoder calls. The CLI has its own loop (cli/genloop.c) because it
 * also parses harmony channels and prints timings. */
#include <stdlib.h>

#include "engine/model.h"
#include "engine/session.h"

/* The default stop set: the tokenizer's EOS and the end tokens of harmony / GPT-2. */
static size_t default_stops(const gptc_tokenizer *tok, int32_t out[4]) {
    static const char *const names[] = {"<|return|>", "<|call|>", "<|endoftext|>"};
    size_t n = 0;
    int32_t eos = gptc_tokenizer_eos(tok);
    if (eos >= 0) out[n++] = eos;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int32_t id = gptc_tokenizer_find(tok, names[i]);
        if (id >= 0 && id != eos) out[n++] = id;
    }
    return n;
}

static int is_stop(int32_t id, const int32_t *stop, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (stop[i] == id) return 1;
    return 0;
}

gptc_status gptc_generate(gptc_session *s, int n_predict, const int32_t *stop, size_t n_stop,
                          gptc_token_fn fn, void *user, int *n_gen, gptc_error *err) {
    if (n_gen) *n_gen = 0;
    if (!s || (!stop && n_stop) || n_predict < -1)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_generate: invalid argument");
    const gptc_tokenizer *tok = gptc_model_tokenizer(s->model);
    if (!tok) return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_generate: the model has no tokenizer");
    int32_t defaults[4];
    if (!stop) n_stop = default_stops(tok, defaults), stop = defaults;

    gptc_decoder *dec = NULL;
    gptc_status st = gptc_decoder_new(tok, 1, &dec, err);
    if (st) return st;
    int done = 0, stopped = 0;
    while (!stopped && (n_predict < 0 || done < n_predict)) {
        int32_t id;
        if ((st = gptc_session_sample(s, &id, err))) break;
        if (is_stop(id, stop, n_stop)) break;
        if ((st = gptc_session_feed(s, &id, 1, err))) break;
        const char *text;
        size_t len;
        if ((st = gptc_decoder_push(dec, id, &text, &len, err))) break;
        done++;
        if (fn && fn(user, id, text, len)) stopped = 1;
    }
    if (st == GPTC_OK && fn) {
        const char *text;
        size_t len;
        gptc_decoder_flush(dec, &text, &len);
        if (len) fn(user, -1, text, len);
    }
    gptc_decoder_free(dec);
    if (n_gen) *n_gen = done;
    return st;
}
