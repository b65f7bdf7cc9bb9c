/* genloop.c — see genloop.h. */
#include "cli/genloop.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/logprobs.h"
#include "cli/scripted.h"

int tokvec_push(tokvec *t, int32_t id) {
    return tokvec_append(t, &id, 1);
}

int tokvec_append(tokvec *t, const int32_t *ids, size_t n) {
    if (t->n + n > t->cap) {
        size_t nc = t->cap ? t->cap : 256;
        while (nc < t->n + n) nc *= 2;
        int32_t *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv) return -1;
        t->v = nv;
        t->cap = nc;
    }
    if (n) memcpy(t->v + t->n, ids, n * sizeof *ids);
    t->n += n;
    return 0;
}

void tokvec_free(tokvec *t) {
    free(t->v);
    memset(t, 0, sizeof *t);
}

int strbuf_add(strbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) return -1;
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

void strbuf_free(strbuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

const char *cli_finish_name(cli_finish f) {
    switch (f) {
    case CLI_FINISH_NONE:
        return "none";
    case CLI_FINISH_STOP:
        return "stop";
    case CLI_FINISH_LENGTH:
        return "length";
    case CLI_FINISH_CONTEXT:
        return "context";
    case CLI_FINISH_INTERRUPTED:
        return "interrupted";
    case CLI_FINISH_CLOSED:
        return "closed";
    }
    return "none";
}

int cli_model_harmony(const gptc_model *m, harmony_ids *h) {
    gptc_model_info info;
    gptc_model_get_info(m, &info);
    if (strcmp(info.arch, "gpt-oss")) return 0;
    return harmony_ids_find(gptc_model_tokenizer(m), h);
}

/* final-channel text that passed the stop-string check */
static void emit_final(void *user, const char *text, size_t len) {
    cli_gen *g = user;
    if (g->finish == CLI_FINISH_CLOSED || !len) return;
    if (g->sink(g->user, HARMONY_FINAL, text, len)) g->finish = CLI_FINISH_CLOSED;
}

/* The parser's emit callback: forwards to the sink (final text through the stop strings),
 * remembers a request to stop. */
static void on_text(void *user, harmony_channel ch, const char *text, size_t len) {
    cli_gen *g = user;
    if (g->finish == CLI_FINISH_CLOSED || !len) return;
    if (g->hp && harmony_parser_in_call(g->hp)) return; /* call arguments: see the parser's calls */
    if (ch == HARMONY_FINAL) {
        cli_stop_push(&g->stop, text, len, emit_final, g);
        return;
    }
    if (g->sink(g->user, ch, text, len)) g->finish = CLI_FINISH_CLOSED;
}

int cli_gen_set_stops(cli_gen *g, const char *const *stops, int n) {
    return cli_stop_set(&g->stop, stops, n);
}

void cli_gen_set_logprobs(cli_gen *g, gptc_session *s, int n_top) {
    g->lp_session = s;
    g->lp_top = n_top;
}

cJSON *cli_gen_take_logprobs(cli_gen *g) {
    if (g->lp_top < 0 || !g->lp_session) return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddItemToObject(o, "content", g->lp_content ? g->lp_content : cJSON_CreateArray());
    g->lp_content = NULL;
    return o;
}

/* The parser's recipient filter: a call must name a declared tool. */
static int declared_recipient(void *user, const char *recipient) {
    cli_gen *g = user;
    return g->tools && tooldefs_resolve(g->tools, recipient) != NULL;
}

gptc_status cli_gen_init(cli_gen *g, const gptc_tokenizer *tok, int use_harmony,
                         const harmony_ids *h, int raw, cli_sink_fn sink, void *user,
                         gptc_error *err) {
    memset(g, 0, sizeof *g);
    g->lp_top = -1;
    g->tok = tok;
    g->sink = sink;
    g->user = user;
    g->use_harmony = use_harmony && !raw;
    /* stop set: the tokenizer's EOS plus harmony's stops by name (NOT <|end|>) */
    int32_t cand[4] = {gptc_tokenizer_eos(tok), gptc_tokenizer_find(tok, "<|return|>"),
                       gptc_tokenizer_find(tok, "<|call|>"),
                       gptc_tokenizer_find(tok, "<|endoftext|>")};
    int32_t end_id = gptc_tokenizer_find(tok, "<|end|>");
    for (int i = 0; i < 4; i++) {
        if (cand[i] < 0 || (cand[i] == end_id && g->use_harmony)) continue;
        int dup = 0;
        for (int k = 0; k < g->n_stops; k++) dup |= g->stops[k] == cand[i];
        if (!dup) g->stops[g->n_stops++] = cand[i];
    }
    if (g->use_harmony) {
        g->hids = *h;
        gptc_status st = harmony_parser_new(tok, h, on_text, g, &g->hp, err);
        if (st == GPTC_OK) harmony_parser_set_filter(g->hp, declared_recipient, g);
        return st;
    }
    return gptc_decoder_new(tok, !raw, &g->dec, err);
}

static void constraint_clear(cli_gen *g) {
    gptc_matcher_free(g->matcher);
    gptc_grammar_free(g->cg_wrapped);
    free(g->mask);
    g->matcher = NULL;
    g->cg_wrapped = NULL;
    g->mask = NULL;
    g->cg_src = NULL;
    g->cg_tools = 0;
    g->cg_warn[0] = 0;
}

/* Makes a matcher for the reply grammar (g->cg_wrapped, or gr itself). */
static gptc_status constraint_start(cli_gen *g, const gptc_grammar *gr, const gptc_token_trie *trie,
                                    gptc_error *err) {
    gptc_status st = gptc_matcher_new(g->cg_wrapped ? g->cg_wrapped : gr, trie, &g->matcher, err);
    /* plain output: the stop tokens end it, where the grammar may end (harmony: <|return|> is in
     * the wrapped grammar itself) */
    if (st == GPTC_OK && !g->use_harmony)
        st = gptc_matcher_set_end_tokens(g->matcher, g->stops, g->n_stops, err);
    if (st == GPTC_OK) {
        g->mask = malloc((size_t)gptc_matcher_n_words(g->matcher) * sizeof *g->mask);
        if (!g->mask) {
            st = GPTC_ERR_NOMEM;
            if (err) {
                err->status = st;
                strcpy(err->msg, "out of memory");
            }
        }
    }
    if (st != GPTC_OK) constraint_clear(g);
    return st;
}

gptc_status cli_gen_constrain(cli_gen *g, const gptc_grammar *gr, const gptc_token_trie *trie,
                              gptc_error *err) {
    if (gr && gr == g->cg_src && g->matcher && !g->cg_tools) return GPTC_OK; /* keep its caches */
    constraint_clear(g);
    if (!gr) return GPTC_OK;
    gptc_status st = GPTC_OK;
    if (g->use_harmony) st = gptc_grammar_harmony(gr, g->tok, &g->cg_wrapped, err);
    if (st == GPTC_OK) st = constraint_start(g, gr, trie, err);
    if (st != GPTC_OK) return st;
    g->cg_src = gr;
    return GPTC_OK;
}

gptc_status cli_gen_constrain_tools(cli_gen *g, const gptc_grammar *gr, const tooldefs *t,
                                    const cli_tool_choice *choice, const gptc_token_trie *trie,
                                    gptc_error *err) {
    cli_tool_choice c = choice ? *choice : CLI_TOOL_CHOICE_AUTO;
    if (!g->use_harmony || !t || !t->n) {
        g->tools = t;
        return cli_gen_constrain(g, gr, trie, err);
    }
    if (g->cg_tools && g->matcher && g->tools == t && gr == g->cg_src &&
        c.mode == g->cg_choice.mode && c.forced == g->cg_choice.forced)
        return GPTC_OK; /* the same: keep its caches */
    constraint_clear(g);
    g->tools = t;
    gptc_status st =
        cli_tools_grammar(t, &c, gr, g->tok, &g->cg_wrapped, g->cg_warn, sizeof g->cg_warn, err);
    if (st == GPTC_OK) st = constraint_start(g, g->cg_wrapped, trie, err);
    if (st != GPTC_OK) return st;
    g->cg_src = gr;
    g->cg_tools = 1;
    g->cg_choice = c;
    return GPTC_OK;
}

gptc_status cli_gen_constraint_status(const cli_gen *g, gptc_error *err) {
    const char *why = g->matcher ? gptc_matcher_failure(g->matcher) : NULL;
    if (!why) return GPTC_OK;
    if (err) {
        err->status = GPTC_ERR_NOMEM;
        snprintf(err->msg, sizeof err->msg, "constrained decoding stopped: %s", why);
    }
    return GPTC_ERR_NOMEM;
}

int cli_gen_prepare(cli_gen *g, gptc_session *s) {
    if (!g->matcher || g->cg_off) {
        gptc_session_set_allowed(s, NULL);
        return 0;
    }
    const double t0 = cli_now_ms();
    const int n = gptc_matcher_mask(g->matcher, g->mask);
    g->constraint_ms += cli_now_ms() - t0;
    if (n == 0) {
        gptc_session_set_allowed(s, NULL);
        g->finish = CLI_FINISH_STOP;
        return 1;
    }
    gptc_session_set_allowed(s, g->mask);
    return 0;
}

void cli_gen_free(cli_gen *g) {
    constraint_clear(g);
    harmony_parser_free(g->hp);
    gptc_decoder_free(g->dec);
    free(g->script);
    g->script = NULL;
    g->hp = NULL;
    g->dec = NULL;
    cli_stop_free(&g->stop);
    cJSON_Delete(g->lp_content);
    g->lp_content = NULL;
}

void cli_gen_begin(cli_gen *g, int n_predict, int ignore_eos) {
    g->n_predict = n_predict;
    g->ignore_eos = ignore_eos;
    g->n_gen = 0;
    g->finish = CLI_FINISH_NONE;
    g->constraint_ms = 0;
    g->cg_off = 0;
    gptc_matcher_reset(g->matcher);
    if (g->hp) harmony_parser_reset(g->hp);
    if (g->dec) gptc_decoder_reset(g->dec);
    cli_stop_reset(&g->stop);
    cJSON_Delete(g->lp_content);
    g->lp_content = NULL;
    free(g->script);
    g->i_script = 0;
    cli_scripted_next(g->tok, &g->script, &g->n_script);
}

gptc_status cli_gen_sample(cli_gen *g, gptc_session *s, int32_t *id, gptc_error *err) {
    if (g->i_script < g->n_script) {
        *id = g->script[g->i_script++];
        return GPTC_OK;
    }
    return gptc_session_sample(s, id, err);
}

gptc_status cli_gen_token(cli_gen *g, int32_t id, int *done, gptc_error *err) {
    *done = 0;
    /* a token the grammar refuses (only a scripted one can be): the rest of the answer is free */
    if (g->matcher && !g->cg_off && !gptc_matcher_accept_token(g->matcher, id)) g->cg_off = 1;
    if (!g->ignore_eos) {
        for (int k = 0; k < g->n_stops; k++)
            if (id == g->stops[k]) {
                if (g->hp) harmony_parser_push(g->hp, id, err);
                g->finish = CLI_FINISH_STOP;
                *done = 1;
                return GPTC_OK;
            }
    }
    g->n_gen++;
    gptc_status st;
    if (g->lp_top >= 0 && g->lp_session) {
        if (!g->lp_content && !(g->lp_content = cJSON_CreateArray())) goto nomem;
        cJSON *e = cli_logprob_entry(g->lp_session, g->tok, id, g->lp_top, err);
        if (!e) return err ? err->status : GPTC_ERR_NOMEM;
        cJSON_AddItemToArray(g->lp_content, e);
    }
    if (g->hp) {
        st = harmony_parser_push(g->hp, id, err);
    } else {
        const char *s = NULL;
        size_t n = 0;
        st = gptc_decoder_push(g->dec, id, &s, &n, err);
        if (st == GPTC_OK) on_text(g, HARMONY_FINAL, s, n);
    }
    if (st != GPTC_OK) return st;
    if (g->finish == CLI_FINISH_CLOSED) {
        *done = 1;
    } else if (g->stop.hit) {
        g->finish = CLI_FINISH_STOP;
        *done = 1;
    } else if (g->n_predict >= 0 && g->n_gen >= g->n_predict) {
        g->finish = CLI_FINISH_LENGTH;
        *done = 1;
    }
    return GPTC_OK;
nomem:
    if (err) {
        err->status = GPTC_ERR_NOMEM;
        strcpy(err->msg, "out of memory");
    }
    return GPTC_ERR_NOMEM;
}

void cli_gen_end(cli_gen *g) {
    if (g->hp)
        harmony_parser_flush(g->hp);
    else if (g->dec) {
        const char *s = NULL;
        size_t n = 0;
        gptc_decoder_flush(g->dec, &s, &n);
        on_text(g, HARMONY_FINAL, s, n);
    }
    /* a stop string completed by the flushed text still ends the answer there */
    if (g->stop.hit && g->finish != CLI_FINISH_CLOSED) g->finish = CLI_FINISH_STOP;
    cli_stop_flush(&g->stop, emit_final, g);
}

gptc_status cli_gen_run(cli_gen *g, gptc_session *s, const int32_t *prompt, size_t n, tokvec *hist,
                        gptc_error *err) {
    gptc_status st;
    if (n > 0) {
        st = gptc_session_feed(s, prompt, n, err);
        if (st == GPTC_ERR_INTERRUPTED) {
            g->finish = CLI_FINISH_INTERRUPTED;
            return GPTC_OK;
        }
        if (st == GPTC_ERR_CONTEXT_FULL) {
            g->finish = CLI_FINISH_CONTEXT;
            return GPTC_OK;
        }
        if (st != GPTC_OK) return st;
        if (hist && tokvec_append(hist, prompt, n)) goto nomem;
    }
    if (g->n_predict == 0) {
        g->finish = CLI_FINISH_LENGTH;
        return GPTC_OK;
    }
    for (;;) {
        int32_t id;
        if (cli_gen_prepare(g, s)) {
            st = cli_gen_constraint_status(g, err); /* the matcher gave up: an error, not a stop */
            if (st != GPTC_OK) return st;
            break;
        }
        st = cli_gen_sample(g, s, &id, err);
        if (st == GPTC_ERR_INTERRUPTED) {
            g->finish = CLI_FINISH_INTERRUPTED;
            break;
        }
        if (st != GPTC_OK) return st;
        int done = 0;
        st = cli_gen_token(g, id, &done, err);
        if (st != GPTC_OK) return st;
        if (done) break;
        if (gptc_session_n_past(s) >= gptc_session_n_ctx(s)) {
            g->finish = CLI_FINISH_CONTEXT;
            break;
        }
        st = gptc_session_feed(s, &id, 1, err);
        if (st == GPTC_ERR_INTERRUPTED) {
            g->finish = CLI_FINISH_INTERRUPTED;
            break;
        }
        if (st == GPTC_ERR_CONTEXT_FULL) {
            g->finish = CLI_FINISH_CONTEXT;
            break;
        }
        if (st != GPTC_OK) return st;
        if (hist && tokvec_push(hist, id)) goto nomem;
    }
    gptc_session_set_allowed(s, NULL);
    cli_gen_end(g);
    return GPTC_OK;
nomem:
    gptc_session_set_allowed(s, NULL);
    if (err) {
        err->status = GPTC_ERR_NOMEM;
        strcpy(err->msg, "out of memory");
    }
    return GPTC_ERR_NOMEM;
}

double cli_gen_ms(const gptc_timings *before, const gptc_timings *after) {
    double ms = after->gen_ms + after->sample_ms;
    if (before) ms -= before->gen_ms + before->sample_ms;
    return ms;
}
