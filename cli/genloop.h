/* genloop.h — the token loop shared by one-shot generation, chat and batch: stop tokens,
 * harmony channel routing or plain streaming decode, -n limits, full context, cancellation.
 *
 * A cli_gen turns sampled ids into text on channels through a sink callback. For gpt-oss (not
 * --raw) the ids go through the harmony channel parser; otherwise through a streaming decoder
 * and everything is reported as HARMONY_FINAL. */
#ifndef GPTC_CLI_GENLOOP_H
#define GPTC_CLI_GENLOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/harmony.h"
#include "cli/stopstr.h"
#include "cli/toolchoice.h"
#include "gptc.h"

/* A growable list of token ids. */
typedef struct tokvec {
    int32_t *v;
    size_t n, cap;
} tokvec;
int tokvec_push(tokvec *t, int32_t id);
int tokvec_append(tokvec *t, const int32_t *ids, size_t n);
void tokvec_free(tokvec *t);

/* Returns non-zero to stop generating (e.g. stdout was closed). */
typedef int (*cli_sink_fn)(void *user, harmony_channel ch, const char *text, size_t len);

typedef enum cli_finish {
    CLI_FINISH_NONE = 0,
    CLI_FINISH_STOP,        /* a stop token or a stop string */
    CLI_FINISH_LENGTH,      /* -n reached */
    CLI_FINISH_CONTEXT,     /* the context window is full */
    CLI_FINISH_INTERRUPTED, /* Ctrl-C / gptc_session_cancel */
    CLI_FINISH_CLOSED,      /* the sink asked to stop (closed stdout) */
} cli_finish;
const char *cli_finish_name(cli_finish f); /* "stop", "length", "context", ... */

typedef struct cli_gen {
    const gptc_tokenizer *tok;
    int use_harmony; /* parse channels */
    harmony_ids hids;
    int32_t stops[8];
    int n_stops;
    harmony_parser *hp;
    gptc_decoder *dec;
    cli_sink_fn sink;
    void *user;
    /* stop strings on the final channel's text (cli_gen_set_stops) */
    cli_stop stop;
    /* logprobs (cli_gen_set_logprobs): n_top < 0 = off */
    gptc_session *lp_session;
    int lp_top;
    struct cJSON *lp_content; /* the answer's content[] array */
    /* per generation */
    int n_predict, ignore_eos;
    int n_gen; /* tokens produced (stop token not counted) */
    cli_finish finish;
    int32_t *script; /* scripted tokens of this generation (GPTC_TEST_SCRIPT, scripted.h) */
    size_t n_script, i_script;
    /* output constraint (cli_gen_constrain) */
    const gptc_grammar *cg_src; /* the grammar given */
    gptc_grammar *cg_wrapped;   /* harmony's reply structure around it (owned) */
    gptc_matcher *matcher;
    uint32_t *mask;
    int cg_off; /* this answer left the grammar (a scripted token it refused): free from there */
    /* tools (cli_gen_constrain_tools): the declared ones decide which recipients are calls */
    const tooldefs *tools;
    cli_tool_choice cg_choice;
    int cg_tools;                          /* the constraint is the tools' reply grammar */
    char cg_warn[GPTC_ERROR_MSG_MAX + 64]; /* a tool whose schema could not be used, or "" */
    double constraint_ms;                  /* time in the constraint's masks this answer */
} cli_gen;

/* Is this a harmony (gpt-oss) model whose vocabulary has harmony's tokens? */
int cli_model_harmony(const gptc_model *m, harmony_ids *h);

/* use_harmony: route through the channel parser (h must be filled); raw: print special tokens
 * too (plain decode only). */
gptc_status cli_gen_init(cli_gen *g, const gptc_tokenizer *tok, int use_harmony,
                         const harmony_ids *h, int raw, cli_sink_fn sink, void *user,
                         gptc_error *err);
void cli_gen_free(cli_gen *g);
/* Stop strings for the next answers (copies; checked with cli_stop_check): the final channel's
 * text ends before the first one that appears (finish "stop"). Returns -1 when out of memory. */
int cli_gen_set_stops(cli_gen *g, const char *const *stops, int n);
/* Log-probabilities of every generated token (those counted in n_gen) of session s, with n_top
 * alternatives (0..20); n_top < 0 turns them off. */
void cli_gen_set_logprobs(cli_gen *g, gptc_session *s, int n_top);
/* The answer's {"content": [...]} (moved out: the caller owns it), or NULL when off. */
struct cJSON *cli_gen_take_logprobs(cli_gen *g);
/* Constrains the next answers to grammar gr (NULL: none): with harmony the analysis channel is
 * free and the final channel follows gr; otherwise the whole output follows gr and the stop
 * tokens are allowed only where gr is complete. gr and trie must outlive the constraint. */
gptc_status cli_gen_constrain(cli_gen *g, const gptc_grammar *gr, const gptc_token_trie *trie,
                              gptc_error *err);
/* The same with function tools (gpt-oss): with tools, the whole reply follows the tools' reply
 * grammar (cli_tools_grammar: a call names a declared tool, its arguments follow the tool's
 * schema, choice decides whether a call may or must come) and the final channel follows gr (NULL:
 * free). Without tools it is cli_gen_constrain. Either way only the recipients t declares are
 * calls for the parser (t NULL or empty: none; another recipient's message is shown as text).
 * t must outlive the constraint. */
gptc_status cli_gen_constrain_tools(cli_gen *g, const gptc_grammar *gr, const tooldefs *t,
                                    const cli_tool_choice *choice, const gptc_token_trie *trie,
                                    gptc_error *err);
/* Before each sample: sets the session's allowed tokens from the constraint (or none). Returns
 * 1 when the constraint allows no token at all (the answer is over: finish "stop"). */
int cli_gen_prepare(cli_gen *g, gptc_session *s);
/* After cli_gen_prepare returned 1: GPTC_OK when the grammar ended, or (err filled) the error
 * that emptied the mask: the matcher ran out of memory or passed its bound on parser states. */
gptc_status cli_gen_constraint_status(const cli_gen *g, gptc_error *err);
/* Starts a new answer. n_predict < 0: no limit. */
void cli_gen_begin(cli_gen *g, int n_predict, int ignore_eos);
/* The next id of the answer: sampled from s, or the test script's (scripted.h). */
gptc_status cli_gen_sample(cli_gen *g, gptc_session *s, int32_t *id, gptc_error *err);
/* Handles one sampled id. *done = 1 when generation ends here (the id must then not be fed):
 * a stop token, or -n reached after it, or the sink closed. Sets g->finish. */
gptc_status cli_gen_token(cli_gen *g, int32_t id, int *done, gptc_error *err);
/* Flushes held-back text at the end of an answer. */
void cli_gen_end(cli_gen *g);

/* The whole loop for one session: feeds `prompt` (n may be 0 when logits are ready), then
 * samples/feeds until a finish. Fed ids are appended to hist (may be NULL). Returns GPTC_OK for
 * every normal finish (stop/length/context/closed/interrupted: see g->finish); an error
 * status only for real failures. */
gptc_status cli_gen_run(cli_gen *g, gptc_session *s, const int32_t *prompt, size_t n, tokvec *hist,
                        gptc_error *err);

/* The generation figures, one definition everywhere (--timings, --json, /stats): the tokens
 * are the answer's tokens (cli_gen.n_gen: what -n counts; a stop token is not one), and their
 * time runs from the end of the prompt to the last of them: every sampling step plus the decode
 * steps between them (n tokens need n - 1 decodes: the first comes from the prompt's logits).
 * cli_gen_ms: that time between two snapshots of the session's timings (before may be NULL:
 * since the session began). */
double cli_gen_ms(const gptc_timings *before, const gptc_timings *after);

/* JSON-free UTF-8 accumulation buffer. */
typedef struct strbuf {
    char *s;
    size_t n, cap;
} strbuf;
int strbuf_add(strbuf *b, const char *s, size_t n);
void strbuf_free(strbuf *b);

#endif
