/* harmony.c — see harmony.h. */
#include "cli/harmony.h"

#include "cli/jval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(gptc_error *err, gptc_status st, const char *msg) {
    if (!err) return;
    err->status = st;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
}

int harmony_ids_find(const gptc_tokenizer *tok, harmony_ids *h) {
    h->start = gptc_tokenizer_find(tok, "<|start|>");
    h->end = gptc_tokenizer_find(tok, "<|end|>");
    h->message = gptc_tokenizer_find(tok, "<|message|>");
    h->channel = gptc_tokenizer_find(tok, "<|channel|>");
    h->constrain = gptc_tokenizer_find(tok, "<|constrain|>");
    h->ret = gptc_tokenizer_find(tok, "<|return|>");
    h->call = gptc_tokenizer_find(tok, "<|call|>");
    h->endoftext = gptc_tokenizer_find(tok, "<|endoftext|>");
    return h->start >= 0 && h->end >= 0 && h->message >= 0 && h->channel >= 0 && h->ret >= 0;
}

/* ---- rendering ------------------------------------------------------------------------------ */

typedef struct tokbuf {
    int32_t *v;
    size_t n, cap;
} tokbuf;

static int tb_push(tokbuf *b, int32_t id) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        int32_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) return -1;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = id;
    return 0;
}

/* The prompt being built: text (special tokens spelled out) and/or ids. The text between two
 * special tokens is tokenized in one piece when the next special token (or the end) comes. */
typedef struct rbuf {
    const gptc_tokenizer *tok;
    const harmony_ids *h;
    int want_ids, want_text;
    tokbuf ids;
    jbuf text, pend;
    gptc_status st;
    gptc_error *err;
} rbuf;

static void rb_fail(rbuf *b, gptc_status st, const char *msg) {
    if (b->st != GPTC_OK) return;
    b->st = st;
    set_err(b->err, st, msg);
}

static void rb_text(rbuf *b, const char *s, size_t n) {
    if (b->want_text) jbuf_add(&b->text, s, n);
    if (b->want_ids) jbuf_add(&b->pend, s, n);
}

static void rb_str(rbuf *b, const char *s) {
    rb_text(b, s, strlen(s));
}

static void rb_flush(rbuf *b) {
    if (!b->want_ids || b->st != GPTC_OK || b->pend.n == 0) return;
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_status st = gptc_tokenize(b->tok, b->pend.s, b->pend.n, 0, &ids, &n, b->err);
    b->pend.n = 0;
    if (st != GPTC_OK) {
        b->st = st;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (tb_push(&b->ids, ids[i])) rb_fail(b, GPTC_ERR_NOMEM, "out of memory");
    gptc_free(ids);
}

enum { SP_START, SP_END, SP_MESSAGE, SP_CHANNEL, SP_CALL, SP_RETURN };

static void rb_special(rbuf *b, int which) {
    static const char *names[] = {"<|start|>",   "<|end|>",  "<|message|>",
                                  "<|channel|>", "<|call|>", "<|return|>"};
    if (b->want_text) jbuf_adds(&b->text, names[which]);
    if (!b->want_ids) return;
    rb_flush(b);
    const harmony_ids *h = b->h;
    int32_t id = which == SP_START     ? h->start
                 : which == SP_END     ? h->end
                 : which == SP_MESSAGE ? h->message
                 : which == SP_CHANNEL ? h->channel
                 : which == SP_CALL    ? h->call
                                       : h->ret;
    if (id < 0) rb_fail(b, GPTC_ERR_FORMAT, "the vocabulary lacks a harmony token");
    if (tb_push(&b->ids, id)) rb_fail(b, GPTC_ERR_NOMEM, "out of memory");
}

/* <|start|>assistant<|channel|>CHANNEL<|message|>TEXT(<|end|> or END) */
static void rb_assistant(rbuf *b, const char *channel, const char *text, int end) {
    rb_special(b, SP_START);
    rb_str(b, "assistant");
    rb_special(b, SP_CHANNEL);
    rb_str(b, channel);
    rb_special(b, SP_MESSAGE);
    rb_str(b, text ? text : "");
    rb_special(b, end);
}

static int is_role(const harmony_msg *m, const char *role) {
    return m->role && !strcmp(m->role, role);
}

static int has_channel_tags(const char *s) {
    return s && (strstr(s, "<|channel|>analysis<|message|>") ||
                 strstr(s, "<|channel|>final<|message|>"));
}

/* Arguments as the template writes them (tool_call.arguments|tojson of the parsed object). */
static void rb_arguments(rbuf *b, const char *args) {
    if (!args) args = "{}";
    jval *v = jval_parse(args, strlen(args), NULL, 0);
    if (!v) {
        rb_str(b, args);
        return;
    }
    jbuf j = {0};
    jval_dump_py(&j, v);
    jval_free(v);
    if (j.oom) rb_fail(b, GPTC_ERR_NOMEM, "out of memory");
    rb_text(b, j.s ? j.s : "", j.n);
    jbuf_free(&j);
}

/* The function a tool message answers: its tool_call_id's call, else the latest call. */
static const char *tool_name_for(const harmony_conv *c, size_t upto, const harmony_msg *m,
                                 const char *latest) {
    if (!m->tool_call_id) return latest;
    for (size_t i = upto; i-- > 0;) {
        const harmony_msg *a = &c->msgs[i];
        for (size_t k = 0; k < a->n_calls; k++)
            if (a->calls[k].id && !strcmp(a->calls[k].id, m->tool_call_id)) return a->calls[k].name;
    }
    return latest;
}

static void render_conv(rbuf *b, const harmony_conv *c, int add_generation_prompt) {
    /* system message */
    const char *identity = c->identity ? c->identity : HARMONY_DEFAULT_IDENTITY;
    rb_special(b, SP_START);
    rb_str(b, "system");
    rb_special(b, SP_MESSAGE);
    rb_str(b, identity);
    rb_str(b, "\nKnowledge cutoff: 2024-06\n");
    if (c->date) {
        rb_str(b, "Current date: ");
        rb_str(b, c->date);
        rb_str(b, "\n");
    }
    rb_str(b, "\nReasoning: ");
    rb_str(b, c->effort ? c->effort : "medium");
    rb_str(b, "\n\n# Valid channels: analysis, commentary, final. Channel must be included for "
              "every message.");
    if (c->tools)
        rb_str(b, "\nCalls to these tools must go to the commentary channel: 'functions'.");
    rb_special(b, SP_END);

    /* developer message: --system, else a first system/developer message */
    size_t first = 0;
    const char *dev = c->developer;
    if (c->n_msgs && (is_role(&c->msgs[0], "system") || is_role(&c->msgs[0], "developer"))) {
        if (!dev) dev = c->msgs[0].content;
        first = 1;
    }
    const int has_rf = c->response_format && c->response_format[0];
    if ((dev && dev[0]) || c->tools || has_rf) {
        rb_special(b, SP_START);
        rb_str(b, "developer");
        rb_special(b, SP_MESSAGE);
        if (dev && dev[0]) {
            rb_str(b, "# Instructions\n\n");
            rb_str(b, dev);
            rb_str(b, "\n\n");
        }
        if (c->tools) {
            rb_str(b, "# Tools\n\n");
            rb_str(b, c->tools);
        }
        if (has_rf) { /* harmony's "Structured output": at the end of the developer message */
            if (c->tools) rb_str(b, "\n\n");
            rb_str(b, c->response_format);
        }
        rb_special(b, SP_END);
    }

    const char *last_call = NULL;
    for (size_t i = first; i < c->n_msgs && b->st == GPTC_OK; i++) {
        const harmony_msg *m = &c->msgs[i];
        if (is_role(m, "assistant")) {
            if (has_channel_tags(m->content) || has_channel_tags(m->thinking)) {
                rb_fail(b, GPTC_ERR_FORMAT,
                        "an assistant message contains <|channel|> tags: give the reasoning in "
                        "\"thinking\" and the answer in \"content\"");
                return;
            }
            int future_final = 0; /* a later assistant message without calls */
            for (size_t k = i + 1; k < c->n_msgs; k++)
                if (is_role(&c->msgs[k], "assistant") && c->msgs[k].n_calls == 0 &&
                    (!c->msgs[k].channel || !strcmp(c->msgs[k].channel, "final")))
                    future_final = 1;
            if (m->channel && strcmp(m->channel, "final")) { /* legacy channel message */
                if (!strcmp(m->channel, "analysis") && future_final) continue;
                rb_assistant(b, m->channel, m->content, SP_END);
            } else if (m->n_calls > 0) {
                int has_content = m->content && m->content[0];
                int has_thinking = m->thinking && m->thinking[0];
                if (has_content && has_thinking) {
                    rb_fail(b, GPTC_ERR_FORMAT,
                            "an assistant message with tool calls has both content and "
                            "thinking: give its reasoning in one of them");
                    return;
                }
                if (!future_final && (has_content || has_thinking))
                    rb_assistant(b, "analysis", has_content ? m->content : m->thinking, SP_END);
                for (size_t k = 0; k < m->n_calls; k++) {
                    const harmony_tool_call *tc = &m->calls[k];
                    rb_special(b, SP_START);
                    rb_str(b, "assistant to=functions.");
                    rb_str(b, tc->name ? tc->name : "");
                    rb_special(b, SP_CHANNEL);
                    rb_str(b, "commentary json");
                    rb_special(b, SP_MESSAGE);
                    rb_arguments(b, tc->arguments);
                    rb_special(b, SP_CALL);
                    last_call = tc->name;
                }
            } else if (i + 1 == c->n_msgs && !add_generation_prompt) {
                /* a finished last turn (training-style): its reasoning, then <|return|> */
                if (m->thinking) rb_assistant(b, "analysis", m->thinking, SP_END);
                rb_assistant(b, "final", m->content, SP_RETURN);
            } else {
                rb_assistant(b, "final", m->content, SP_END);
                last_call = NULL;
            }
        } else if (is_role(m, "tool")) {
            const char *name = tool_name_for(c, i, m, last_call);
            if (!name) {
                rb_fail(b, GPTC_ERR_FORMAT,
                        "a tool message comes before any assistant message with a tool call");
                return;
            }
            rb_special(b, SP_START);
            rb_str(b, "functions.");
            rb_str(b, name);
            rb_str(b, " to=assistant");
            rb_special(b, SP_CHANNEL);
            rb_str(b, "commentary");
            rb_special(b, SP_MESSAGE);
            const char *ct = m->content ? m->content : ""; /* written as a JSON string */
            jbuf j = {0};
            jval_dump_py_str(&j, ct, strlen(ct));
            if (j.oom) rb_fail(b, GPTC_ERR_NOMEM, "out of memory");
            rb_text(b, j.s ? j.s : "", j.n);
            jbuf_free(&j);
            rb_special(b, SP_END);
        } else if (is_role(m, "user")) {
            rb_special(b, SP_START);
            rb_str(b, "user");
            rb_special(b, SP_MESSAGE);
            rb_str(b, m->content ? m->content : "");
            rb_special(b, SP_END);
        }
        /* later system/developer messages (and unknown roles) are not rendered (template) */
    }
    if (add_generation_prompt) {
        rb_special(b, SP_START);
        rb_str(b, "assistant");
    }
}

gptc_status harmony_render_ex(const gptc_tokenizer *tok, const harmony_ids *h,
                              const harmony_conv *c, int add_generation_prompt, int32_t **ids,
                              size_t *n_ids, char **text, gptc_error *err) {
    rbuf b;
    memset(&b, 0, sizeof b);
    b.tok = tok;
    b.h = h;
    b.want_ids = ids != NULL;
    b.want_text = text != NULL;
    b.err = err;
    if (ids) {
        *ids = NULL;
        *n_ids = 0;
    }
    if (text) *text = NULL;
    render_conv(&b, c, add_generation_prompt);
    rb_flush(&b);
    if (b.text.oom || b.pend.oom) rb_fail(&b, GPTC_ERR_NOMEM, "out of memory");
    jbuf_free(&b.pend);
    if (b.st != GPTC_OK) {
        free(b.ids.v);
        jbuf_free(&b.text);
        return b.st;
    }
    if (ids) {
        *ids = b.ids.v;
        *n_ids = b.ids.n;
    }
    if (text) {
        if (!b.text.s) jbuf_add(&b.text, "", 0);
        *text = b.text.s;
    }
    return GPTC_OK;
}

gptc_status harmony_render(const gptc_tokenizer *tok, const harmony_ids *h, const harmony_conv *c,
                           int add_generation_prompt, int32_t **ids, size_t *n_ids,
                           gptc_error *err) {
    return harmony_render_ex(tok, h, c, add_generation_prompt, ids, n_ids, NULL, err);
}

/* ---- streaming parser ----------------------------------------------------------------------- */

enum { P_HEADER, P_CONTENT, P_BETWEEN, P_DONE };

typedef struct harmony_call_rec {
    char *recipient, *args;
} harmony_call_rec;
#define HDR_MAX 128
#define HDR_IDS_MAX 96

struct harmony_parser {
    const gptc_tokenizer *tok;
    harmony_ids h;
    harmony_emit_fn emit;
    void *user;
    gptc_decoder *dec;
    int state;
    harmony_channel ch;
    char hdr[HDR_MAX + 1]; /* header text seen so far (role, recipient, ...) */
    size_t hdr_len;
    char chan[160]; /* channel name text after <|channel|> (recipient, type too) */
    size_t chan_len;
    int32_t hdr_ids[HDR_IDS_MAX]; /* the header's text tokens (for the fallback) */
    unsigned char hdr_is_chan[HDR_IDS_MAX];
    int n_hdr_ids;
    int in_chan;  /* text now goes to the channel name */
    int has_chan; /* a <|channel|> was seen in this header */
    int malformed;
    int done;
    /* tool calls */
    char recip[HDR_MAX + 1]; /* the recipient named in this header ("functions.NAME"), or "" */
    int in_call;             /* the current message's content is a call's arguments */
    harmony_call_rec *calls;
    size_t n_calls, cap_calls;
    harmony_recipient_fn filter; /* which recipients are calls (NULL: all) */
    void *filter_user;
    char *args; /* arguments of the call being read */
    size_t args_n, args_cap;
    int oom;
};

const char *harmony_channel_name(harmony_channel ch) {
    switch (ch) {
    case HARMONY_ANALYSIS:
        return "analysis";
    case HARMONY_COMMENTARY:
        return "commentary";
    case HARMONY_FINAL:
        return "final";
    }
    return "final";
}

static void header_reset(harmony_parser *p) {
    p->recip[0] = 0;
    p->hdr_len = 0;
    p->chan_len = 0;
    p->in_chan = 0;
    p->has_chan = 0;
    p->n_hdr_ids = 0;
}

static void calls_clear(harmony_parser *p) {
    for (size_t i = 0; i < p->n_calls; i++) {
        free(p->calls[i].recipient);
        free(p->calls[i].args);
    }
    p->n_calls = 0;
    p->in_call = 0;
    p->args_n = 0;
}

void harmony_parser_reset(harmony_parser *p) {
    calls_clear(p);
    p->oom = 0;
    gptc_decoder_reset(p->dec);
    p->state = P_HEADER;
    p->ch = HARMONY_FINAL;
    p->malformed = 0;
    p->done = 0;
    header_reset(p);
}

gptc_status harmony_parser_new(const gptc_tokenizer *tok, const harmony_ids *h,
                               harmony_emit_fn emit, void *user, harmony_parser **out,
                               gptc_error *err) {
    harmony_parser *p = calloc(1, sizeof *p);
    if (!p) {
        set_err(err, GPTC_ERR_NOMEM, "out of memory");
        return GPTC_ERR_NOMEM;
    }
    p->tok = tok;
    p->h = *h;
    p->emit = emit;
    p->user = user;
    gptc_status st = gptc_decoder_new(tok, 1, &p->dec, err);
    if (st != GPTC_OK) {
        free(p);
        return st;
    }
    harmony_parser_reset(p);
    *out = p;
    return GPTC_OK;
}

void harmony_parser_free(harmony_parser *p) {
    if (!p) return;
    calls_clear(p);
    free(p->calls);
    free(p->args);
    gptc_decoder_free(p->dec);
    free(p);
}

int harmony_parser_malformed(const harmony_parser *p) {
    return p->malformed;
}
int harmony_parser_done(const harmony_parser *p) {
    return p->done;
}

void harmony_parser_set_filter(harmony_parser *p, harmony_recipient_fn fn, void *user) {
    p->filter = fn;
    p->filter_user = user;
}

/* A recipient was named: 1 when it makes a call; else it is forgotten (counted malformed). */
static int recipient_ok(harmony_parser *p) {
    if (!p->recip[0]) return 0;
    if (!p->filter || p->filter(p->filter_user, p->recip)) return 1;
    p->recip[0] = 0;
    p->malformed++;
    return 0;
}

int harmony_parser_in_call(const harmony_parser *p) {
    return p->in_call;
}

const char *harmony_parser_recipient(const harmony_parser *p) {
    return p->in_call ? p->recip : NULL;
}

size_t harmony_parser_n_calls(const harmony_parser *p) {
    return p->n_calls;
}

void harmony_parser_call(const harmony_parser *p, size_t i, const char **recipient,
                         const char **args) {
    *recipient = p->calls[i].recipient;
    *args = p->calls[i].args;
}

/* Content text: to the emit callback, and to the arguments when the message is a call. */
static void out(harmony_parser *p, harmony_channel ch, const char *s, size_t n) {
    if (p->in_call && n) {
        if (p->args_n + n + 1 > p->args_cap) {
            size_t nc = p->args_cap ? p->args_cap : 256;
            while (nc < p->args_n + n + 1) nc *= 2;
            char *na = realloc(p->args, nc);
            if (!na) {
                p->oom = 1;
                return;
            }
            p->args = na;
            p->args_cap = nc;
        }
        memcpy(p->args + p->args_n, s, n);
        p->args_n += n;
        p->args[p->args_n] = 0;
    }
    p->emit(p->user, ch, s, n);
}

/* The call whose arguments were being read is complete. */
static void end_call(harmony_parser *p) {
    if (!p->in_call) return;
    p->in_call = 0;
    if (p->n_calls == p->cap_calls) {
        size_t nc = p->cap_calls ? p->cap_calls * 2 : 4;
        harmony_call_rec *ncalls = realloc(p->calls, nc * sizeof *ncalls);
        if (!ncalls) {
            p->oom = 1;
            return;
        }
        p->calls = ncalls;
        p->cap_calls = nc;
    }
    harmony_call_rec *c = &p->calls[p->n_calls];
    c->recipient = strdup(p->recip);
    c->args = strndup(p->args ? p->args : "", p->args_n);
    p->args_n = 0;
    if (!c->recipient || !c->args) {
        free(c->recipient);
        free(c->args);
        p->oom = 1;
        return;
    }
    p->n_calls++;
}

static void flush_content(harmony_parser *p) {
    const char *s = NULL;
    size_t n = 0;
    gptc_decoder_flush(p->dec, &s, &n);
    if (n) out(p, p->ch, s, n);
    end_call(p);
}

/* Looks for "to=NAME" in text (NAME ends at whitespace; special tokens already ended the
 * text): a recipient other than the assistant/user/all makes the message a call. */
static void scan_recipient(harmony_parser *p, const char *text, size_t n) {
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(text + i, "to=", 3) || (i > 0 && text[i - 1] != ' ' && text[i - 1] != '\n'))
            continue;
        size_t a = i + 3, b = a;
        while (b < n && text[b] != ' ' && text[b] != '\n' && text[b] != '\t') b++;
        size_t len = b - a;
        if (len == 0 || len > HDR_MAX) continue;
        if ((len == 9 && !memcmp(text + a, "assistant", 9)) ||
            (len == 4 && !memcmp(text + a, "user", 4)) ||
            (len == 3 && !memcmp(text + a, "all", 3))) {
            p->recip[0] = 0;
            continue;
        }
        memcpy(p->recip, text + a, len);
        p->recip[len] = 0;
    }
}

static gptc_status header_fallback(harmony_parser *p, gptc_error *err);

void harmony_parser_flush(harmony_parser *p) {
    if (p->state == P_HEADER && p->n_hdr_ids > 0) {
        /* generation ended inside a header: show what there is as text */
        gptc_error err;
        header_fallback(p, &err);
    }
    if (p->state == P_CONTENT) flush_content(p);
}

/* Channel name -> channel. Unknown names (a malformed header) fall back to final. */
static harmony_channel classify(harmony_parser *p) {
    size_t i = 0;
    while (i < p->chan_len && (p->chan[i] == ' ' || p->chan[i] == '\n')) i++;
    const char *s = p->chan + i;
    size_t n = p->chan_len - i;
    static const struct {
        const char *name;
        harmony_channel ch;
    } names[] = {{"analysis", HARMONY_ANALYSIS},
                 {"commentary", HARMONY_COMMENTARY},
                 {"final", HARMONY_FINAL}};
    for (size_t k = 0; k < 3; k++) {
        size_t ln = strlen(names[k].name);
        if (n >= ln && !memcmp(s, names[k].name, ln)) {
            /* exact name, or name followed by a space (" to=...", " json") */
            if (n == ln || s[ln] == ' ') return names[k].ch;
            p->malformed++; /* e.g. "commentary?" */
            return names[k].ch;
        }
    }
    p->malformed++;
    return HARMONY_FINAL;
}

/* Header text that never became a header: show it as final text (through the decoder, so
 * the bytes stay valid UTF-8). The role text is left out when a channel name was given. */
static gptc_status header_fallback(harmony_parser *p, gptc_error *err) {
    p->malformed++;
    p->ch = HARMONY_FINAL;
    p->state = P_CONTENT;
    gptc_decoder_reset(p->dec);
    int n = p->n_hdr_ids, has_chan = p->has_chan;
    int32_t ids[HDR_IDS_MAX];
    unsigned char is_chan[HDR_IDS_MAX];
    memcpy(ids, p->hdr_ids, sizeof ids);
    memcpy(is_chan, p->hdr_is_chan, sizeof is_chan);
    header_reset(p);
    for (int i = 0; i < n; i++) {
        if (has_chan && !is_chan[i]) continue;
        const char *s = NULL;
        size_t len = 0;
        gptc_status st = gptc_decoder_push(p->dec, ids[i], &s, &len, err);
        if (st != GPTC_OK) return st;
        if (len) p->emit(p->user, HARMONY_FINAL, s, len);
    }
    return GPTC_OK;
}

/* A header that ends in <|call|> without <|message|> ("commentary to=functions.x json{...}"):
 * the recipient, and the arguments from the first '{' or '[' after it. 1 when recovered. */
static int header_call(harmony_parser *p) {
    scan_recipient(p, p->hdr, p->hdr_len);
    scan_recipient(p, p->chan, p->chan_len);
    if (!recipient_ok(p)) return 0;
    const char *buf = p->chan_len ? p->chan : p->hdr;
    size_t n = p->chan_len ? p->chan_len : p->hdr_len;
    const char *to = memmem(buf, n, "to=", 3);
    if (!to) { /* the recipient stood before <|channel|>: arguments follow the channel name */
        to = buf;
    }
    const char *a = NULL;
    for (const char *q = to; q < buf + n; q++)
        if (*q == '{' || *q == '[') {
            a = q;
            break;
        }
    if (!a) return 0;
    p->malformed++;
    p->in_call = 1;
    p->args_n = 0;
    size_t len = (size_t)(buf + n - a);
    char *na = realloc(p->args, len + 1);
    if (!na) {
        p->oom = 1;
        p->in_call = 0;
        return 0;
    }
    p->args = na;
    p->args_cap = len + 1;
    memcpy(p->args, a, len);
    p->args[len] = 0;
    p->args_n = len;
    end_call(p);
    return 1;
}

static void enter_header(harmony_parser *p) {
    p->state = P_HEADER;
    header_reset(p);
}

static gptc_status push_content(harmony_parser *p, int32_t id, gptc_error *err) {
    const char *s = NULL;
    size_t n = 0;
    gptc_status st = gptc_decoder_push(p->dec, id, &s, &n, err);
    if (st != GPTC_OK) return st;
    if (n) out(p, p->ch, s, n);
    return GPTC_OK;
}

gptc_status harmony_parser_push(harmony_parser *p, int32_t id, gptc_error *err) {
    const harmony_ids *h = &p->h;
    int special = gptc_tokenizer_is_special(p->tok, id) || id == h->start || id == h->end ||
                  id == h->message || id == h->channel || id == h->ret || id == h->call ||
                  id == h->constrain;
    if (p->state == P_DONE) {
        /* after <|return|>/<|call|> (only with --ignore-eos): keep parsing as between messages */
        p->state = P_BETWEEN;
    }
    if (special) {
        if (id == h->start) {
            if (p->state == P_CONTENT)
                flush_content(p);
            else if (p->state == P_HEADER && (p->hdr_len || p->chan_len))
                p->malformed++;
            enter_header(p);
            return GPTC_OK;
        }
        if (id == h->channel) {
            if (p->state == P_CONTENT) {
                flush_content(p); /* a header without <|end|><|start|>: tolerate */
                p->malformed++;
                enter_header(p);
            } else if (p->state == P_BETWEEN) {
                enter_header(p);
            }
            /* the recipient may stand before the channel ("assistant to=functions.x") or in a
             * channel name a second <|channel|> replaces */
            scan_recipient(p, p->hdr, p->hdr_len);
            scan_recipient(p, p->chan, p->chan_len);
            p->in_chan = 1;
            p->has_chan = 1;
            p->chan_len = 0;
            return GPTC_OK;
        }
        if (id == h->message) {
            if (p->state == P_HEADER || p->state == P_BETWEEN) {
                scan_recipient(p, p->hdr, p->hdr_len);
                scan_recipient(p, p->chan, p->chan_len);
                p->ch = p->has_chan ? classify(p) : HARMONY_FINAL;
                if (p->recip[0] && !recipient_ok(p)) {
                    p->ch = HARMONY_FINAL; /* not a call: its content is shown as text */
                } else if (p->recip[0]) {  /* a call: commentary unless a channel said otherwise */
                    if (!p->has_chan) p->ch = HARMONY_COMMENTARY;
                    p->in_call = 1;
                    p->args_n = 0;
                }
                p->state = P_CONTENT;
                gptc_decoder_reset(p->dec);
                char keep[HDR_MAX + 1];
                memcpy(keep, p->recip, sizeof keep);
                header_reset(p);
                memcpy(p->recip, keep, sizeof keep);
            }
            return GPTC_OK; /* a stray <|message|> inside content is dropped */
        }
        if (id == h->end || id == h->ret || id == h->call || id == h->endoftext) {
            if (p->state == P_CONTENT)
                flush_content(p);
            else if (p->state == P_HEADER && id == h->call && header_call(p)) {
                /* a call whose <|message|> was left out: recovered from the header */
            } else if (p->state == P_HEADER && (p->hdr_len || p->chan_len)) {
                gptc_status st = header_fallback(p, err);
                if (st != GPTC_OK) return st;
                flush_content(p);
            }
            if (id == h->end)
                p->state = P_BETWEEN;
            else {
                p->state = P_DONE;
                p->done = 1;
            }
            header_reset(p);
            return GPTC_OK;
        }
        /* <|constrain|> separates the recipient from the content type even when the model glues
         * them ("to=functions.x<|constrain|>json"); reserved tokens carry no text */
        if (id == h->constrain && p->state == P_HEADER) {
            if (p->in_chan && p->chan_len + 1 < sizeof p->chan)
                p->chan[p->chan_len++] = ' ';
            else if (!p->in_chan && p->hdr_len < HDR_MAX)
                p->hdr[p->hdr_len++] = ' ';
        }
        return GPTC_OK;
    }

    /* ordinary text token */
    if (p->state == P_CONTENT) return push_content(p, id, err);
    if (p->state == P_BETWEEN) {
        /* text where <|start|> should be: show it */
        p->malformed++;
        p->state = P_CONTENT;
        p->ch = HARMONY_FINAL;
        gptc_decoder_reset(p->dec);
        return push_content(p, id, err);
    }
    /* header text */
    const char *bytes = NULL;
    size_t len = 0;
    gptc_status st = gptc_tokenizer_piece(p->tok, id, &bytes, &len);
    if (st != GPTC_OK) return st;
    size_t room = p->in_chan ? sizeof p->chan - 1 - p->chan_len : HDR_MAX - p->hdr_len;
    if (len > room || p->n_hdr_ids >= HDR_IDS_MAX) {
        /* a header this long is no header */
        st = header_fallback(p, err);
        if (st != GPTC_OK) return st;
        return push_content(p, id, err);
    }
    p->hdr_ids[p->n_hdr_ids] = id;
    p->hdr_is_chan[p->n_hdr_ids++] = (unsigned char)p->in_chan;
    if (p->in_chan) {
        memcpy(p->chan + p->chan_len, bytes, len);
        p->chan_len += len;
    } else {
        memcpy(p->hdr + p->hdr_len, bytes, len);
        p->hdr_len += len;
    }
    return GPTC_OK;
}
