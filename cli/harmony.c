/* harmony.c — see harmony.h. */
#include "cli/harmony.h"

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

static gptc_status tb_text(tokbuf *b, const gptc_tokenizer *tok, const char *text, size_t len,
                           gptc_error *err) {
    if (len == 0) return GPTC_OK;
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_status st = gptc_tokenize(tok, text, len, 0, &ids, &n, err);
    if (st != GPTC_OK) return st;
    for (size_t i = 0; i < n; i++)
        if (tb_push(b, ids[i])) {
            gptc_free(ids);
            set_err(err, GPTC_ERR_NOMEM, "out of memory");
            return GPTC_ERR_NOMEM;
        }
    gptc_free(ids);
    return GPTC_OK;
}

static gptc_status tb_str(tokbuf *b, const gptc_tokenizer *tok, const char *s, gptc_error *err) {
    return tb_text(b, tok, s, strlen(s), err);
}

static gptc_status tb_special(tokbuf *b, int32_t id, gptc_error *err) {
    if (tb_push(b, id)) {
        set_err(err, GPTC_ERR_NOMEM, "out of memory");
        return GPTC_ERR_NOMEM;
    }
    return GPTC_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((st = (x)) != GPTC_OK) goto fail;                                                      \
    } while (0)

gptc_status harmony_render(const gptc_tokenizer *tok, const harmony_ids *h, const harmony_conv *c,
                           int add_generation_prompt, int32_t **ids, size_t *n_ids,
                           gptc_error *err) {
    tokbuf b = {0};
    gptc_status st = GPTC_OK;
    char *sys = NULL;
    *ids = NULL;
    *n_ids = 0;

    /* system message */
    const char *identity = c->identity ? c->identity : HARMONY_DEFAULT_IDENTITY;
    const char *effort = c->effort ? c->effort : "medium";
    size_t cap = strlen(identity) + 256;
    sys = malloc(cap);
    if (!sys) {
        set_err(err, GPTC_ERR_NOMEM, "out of memory");
        return GPTC_ERR_NOMEM;
    }
    int k = snprintf(sys, cap, "%s\nKnowledge cutoff: 2024-06\n", identity);
    if (c->date) k += snprintf(sys + k, cap - (size_t)k, "Current date: %s\n", c->date);
    snprintf(sys + k, cap - (size_t)k,
             "\nReasoning: %s\n\n# Valid channels: analysis, commentary, final. Channel must be "
             "included for every message.",
             effort);
    TRY(tb_special(&b, h->start, err));
    TRY(tb_str(&b, tok, "system", err));
    TRY(tb_special(&b, h->message, err));
    TRY(tb_str(&b, tok, sys, err));
    TRY(tb_special(&b, h->end, err));

    /* developer message */
    if (c->developer && c->developer[0]) {
        TRY(tb_special(&b, h->start, err));
        TRY(tb_str(&b, tok, "developer", err));
        TRY(tb_special(&b, h->message, err));
        TRY(tb_str(&b, tok, "# Instructions\n\n", err));
        TRY(tb_str(&b, tok, c->developer, err));
        TRY(tb_special(&b, h->end, err));
    }

    /* analysis before the last final assistant message is dropped */
    size_t last_final = 0;
    int have_final = 0;
    for (size_t i = 0; i < c->n_msgs; i++) {
        const harmony_msg *m = &c->msgs[i];
        if (!strcmp(m->role, "assistant") && (!m->channel || !strcmp(m->channel, "final"))) {
            last_final = i;
            have_final = 1;
        }
    }
    for (size_t i = 0; i < c->n_msgs; i++) {
        const harmony_msg *m = &c->msgs[i];
        int is_asst = !strcmp(m->role, "assistant");
        const char *chan = is_asst ? (m->channel ? m->channel : "final") : m->channel;
        if (is_asst && !strcmp(chan, "analysis") && have_final && i < last_final) continue;
        TRY(tb_special(&b, h->start, err));
        TRY(tb_str(&b, tok, m->role, err));
        if (chan) {
            TRY(tb_special(&b, h->channel, err));
            TRY(tb_str(&b, tok, chan, err));
        }
        TRY(tb_special(&b, h->message, err));
        TRY(tb_str(&b, tok, m->content ? m->content : "", err));
        TRY(tb_special(&b, h->end, err));
    }
    if (add_generation_prompt) {
        TRY(tb_special(&b, h->start, err));
        TRY(tb_str(&b, tok, "assistant", err));
    }
    free(sys);
    *ids = b.v;
    *n_ids = b.n;
    return GPTC_OK;
fail:
    free(sys);
    free(b.v);
    return st;
}

/* ---- streaming parser ----------------------------------------------------------------------- */

enum { P_HEADER, P_CONTENT, P_BETWEEN, P_DONE };
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
    p->hdr_len = 0;
    p->chan_len = 0;
    p->in_chan = 0;
    p->has_chan = 0;
    p->n_hdr_ids = 0;
}

void harmony_parser_reset(harmony_parser *p) {
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
    gptc_decoder_free(p->dec);
    free(p);
}

int harmony_parser_malformed(const harmony_parser *p) {
    return p->malformed;
}
int harmony_parser_done(const harmony_parser *p) {
    return p->done;
}

static void flush_content(harmony_parser *p) {
    const char *s = NULL;
    size_t n = 0;
    gptc_decoder_flush(p->dec, &s, &n);
    if (n) p->emit(p->user, p->ch, s, n);
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

static void enter_header(harmony_parser *p) {
    p->state = P_HEADER;
    header_reset(p);
}

static gptc_status push_content(harmony_parser *p, int32_t id, gptc_error *err) {
    const char *s = NULL;
    size_t n = 0;
    gptc_status st = gptc_decoder_push(p->dec, id, &s, &n, err);
    if (st != GPTC_OK) return st;
    if (n) p->emit(p->user, p->ch, s, n);
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
            p->in_chan = 1;
            p->has_chan = 1;
            p->chan_len = 0;
            return GPTC_OK;
        }
        if (id == h->message) {
            if (p->state == P_HEADER || p->state == P_BETWEEN) {
                p->ch = p->has_chan ? classify(p) : HARMONY_FINAL;
                p->state = P_CONTENT;
                gptc_decoder_reset(p->dec);
                header_reset(p);
            }
            return GPTC_OK; /* a stray <|message|> inside content is dropped */
        }
        if (id == h->end || id == h->ret || id == h->call || id == h->endoftext) {
            if (p->state == P_CONTENT)
                flush_content(p);
            else if (p->state == P_HEADER && (p->hdr_len || p->chan_len)) {
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
        /* <|constrain|> and reserved tokens carry no text */
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
