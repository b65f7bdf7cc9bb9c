/* harmony.c — the harmony reply structure of gpt-oss around a grammar (gptc_grammar_harmony):
 * the analysis channel stays free, the final channel follows the grammar, and nothing else may
 * be written (no commentary, no tool calls, no second analysis). The final header may carry
 * " <|constrain|>json", as harmony writes a constrained message's header. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

gptc_status gptc_grammar_harmony(const gptc_grammar *g, const gptc_tokenizer *tok,
                                 gptc_grammar **out, gptc_error *err) {
    if (!g || !tok || !out) return gr_err(err, GPTC_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    static const char *const names[] = {"<|channel|>", "<|message|>", "<|end|>",
                                        "<|start|>",   "<|return|>",  "<|constrain|>"};
    int32_t id[6];
    for (int i = 0; i < 6; i++) {
        id[i] = gptc_tokenizer_find(tok, names[i]);
        if (id[i] < 0)
            return gr_err(err, GPTC_ERR_UNSUPPORTED, "the vocabulary has no %s token", names[i]);
    }
    char wrap[512];
    snprintf(
        wrap, sizeof wrap,
        "root ::= <[%d]> ( \"analysis\" <[%d]> free-text <[%d]> <[%d]> \"assistant\" <[%d]> )? "
        "\"final\" ( \" \"? <[%d]> \"json\" )? <[%d]> g-root <[%d]>\n"
        "free-text ::= [\\x00-\\U0010FFFF]*\n",
        id[0], id[1], id[2], id[3], id[0], id[5], id[1], id[4]);
    return gr_parse(g->src, strlen(g->src), wrap, "g-", out, err);
}

/* A growing GBNF text. */
typedef struct gtext {
    char *s;
    size_t n, cap;
    int oom;
} gtext;

static void gt_add(gtext *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gt_add(gtext *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->s && t->n + (size_t)n < t->cap) {
            t->n += (size_t)n;
            return;
        }
        size_t nc = t->cap ? t->cap * 2 : 1024;
        while (nc < t->n + (size_t)n + 1) nc *= 2;
        char *ns = realloc(t->s, nc);
        if (!ns) {
            t->oom = 1;
            return;
        }
        t->s = ns;
        t->cap = nc;
    }
}

/* A GBNF string literal of a tool name (names are [A-Za-z0-9_-]; anything else is escaped). */
static void gt_literal(gtext *t, const char *s) {
    gt_add(t, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            gt_add(t, "\\%c", *c);
        else if (*c < 0x20 || *c >= 0x7f)
            gt_add(t, "\\x%02X", *c);
        else
            gt_add(t, "%c", *c);
    }
    gt_add(t, "\"");
}

gptc_status gptc_grammar_harmony_tools(const gptc_grammar *final_g, const gptc_tokenizer *tok,
                                       const char *const *names, const char *const *schemas,
                                       int n_tools, gptc_tool_choice choice, int forced,
                                       gptc_grammar **out, gptc_error *err) {
    if (!tok || !out || (n_tools > 0 && !names) || n_tools < 0)
        return gr_err(err, GPTC_ERR_INVALID_ARG, "NULL argument");
    *out = NULL;
    if (forced >= n_tools) return gr_err(err, GPTC_ERR_INVALID_ARG, "no tool %d", forced);
    for (int i = 0; i < n_tools; i++)
        if (!names[i] || !names[i][0])
            return gr_err(err, GPTC_ERR_INVALID_ARG, "tool %d has no name", i);
    if (forced >= 0) choice = GPTC_TOOL_CHOICE_REQUIRED;
    if (n_tools == 0 && choice == GPTC_TOOL_CHOICE_REQUIRED)
        return gr_err(err, GPTC_ERR_INVALID_ARG, "a call is required but there are no tools");
    if (n_tools == 0) choice = GPTC_TOOL_CHOICE_NONE;
    static const char *const tn[] = {"<|channel|>", "<|message|>",   "<|end|>", "<|start|>",
                                     "<|return|>",  "<|constrain|>", "<|call|>"};
    enum { CH, MSG, END, START, RET, CON, CALL };
    int32_t id[7];
    for (int i = 0; i < 7; i++) {
        id[i] = gptc_tokenizer_find(tok, tn[i]);
        if (id[i] < 0)
            return gr_err(err, GPTC_ERR_UNSUPPORTED, "the vocabulary has no %s token", tn[i]);
    }
    /* the tools' argument grammars, each in its own rule namespace t<i>- */
    char **arg = calloc((size_t)n_tools + 1, sizeof *arg);
    char(*prefix)[24] = calloc((size_t)n_tools + 1, sizeof *prefix);
    gr_part *parts = calloc((size_t)n_tools + 2, sizeof *parts);
    gtext w = {0};
    gptc_status st = GPTC_OK;
    if (!arg || !prefix || !parts) {
        st = gr_err(err, GPTC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_tools; i++) {
        if (choice == GPTC_TOOL_CHOICE_NONE || (forced >= 0 && i != forced)) continue;
        static const char none[] = "{\"type\":\"object\",\"properties\":{}}";
        const char *s = schemas && schemas[i] ? schemas[i] : none;
        st = gptc_json_schema_to_gbnf(s, strlen(s), &arg[i], err);
        if (st != GPTC_OK) {
            char m[GPTC_ERROR_MSG_MAX];
            snprintf(m, sizeof m, "tool %s: %.400s", names[i], err ? err->msg : "");
            gr_err(err, st, "%s", m);
            goto done;
        }
        snprintf(prefix[i], sizeof prefix[i], "t%d-", i);
    }
    /* the reply: messages on analysis and commentary (a preamble), then the answer or a call */
    gt_add(&w, "root ::= pre* body\n");
    gt_add(&w,
           "pre ::= <[%d]> ( \"analysis\" | \"commentary\" ) <[%d]> free-text <[%d]> <[%d]> "
           "\"assistant\"\n",
           id[CH], id[MSG], id[END], id[START]);
    gt_add(&w, "body ::= %s\n",
           choice == GPTC_TOOL_CHOICE_NONE       ? "final"
           : choice == GPTC_TOOL_CHOICE_REQUIRED ? "call"
                                                 : "final | call");
    gt_add(&w, "final ::= <[%d]> \"final\" ( \" \"? <[%d]> \"json\" )? <[%d]> %s <[%d]>\n", id[CH],
           id[CON], id[MSG], final_g ? "g-root" : "free-text", id[RET]);
    gt_add(&w, "free-text ::= [\\x00-\\U0010FFFF]*\n");
    if (choice != GPTC_TOOL_CHOICE_NONE) {
        /* harmony's layout (the channel, then the recipient) and the template's (the recipient
         * in the role, then the channel); the content type as either writes it, or none */
        gt_add(&w,
               "call ::= <[%d]> \"commentary to=functions.\" call-a | \" to=functions.\" call-b\n",
               id[CH]);
        gt_add(&w, "ctype ::= ( \" \"? <[%d]> \"json\" | \" json\" )?\n", id[CON]);
        for (int ab = 0; ab < 2; ab++) {
            gt_add(&w, "call-%c ::= ", ab ? 'b' : 'a');
            int first = 1;
            for (int i = 0; i < n_tools; i++) {
                if (!arg[i]) continue;
                gt_add(&w, "%s", first ? "" : " | ");
                first = 0;
                gt_literal(&w, names[i]);
                if (ab) gt_add(&w, " <[%d]> \"commentary\"", id[CH]);
                gt_add(&w, " ctype <[%d]> t%d-root <[%d]>", id[MSG], i, id[CALL]);
            }
            gt_add(&w, "\n");
        }
    }
    if (w.oom) {
        st = gr_err(err, GPTC_ERR_NOMEM, "out of memory");
        goto done;
    }
    int np = 0;
    parts[np++] = (gr_part){w.s, w.n, NULL};
    if (final_g) parts[np++] = (gr_part){final_g->src, strlen(final_g->src), "g-"};
    if (choice != GPTC_TOOL_CHOICE_NONE)
        for (int i = 0; i < n_tools; i++)
            if (arg[i]) parts[np++] = (gr_part){arg[i], strlen(arg[i]), prefix[i]};
    st = gr_parse_parts(parts, np, 0, out, err);
done:
    if (arg)
        for (int i = 0; i < n_tools; i++) free(arg[i]);
    free(arg);
    free(prefix);
    free(parts);
    free(w.s);
    return st;
}
