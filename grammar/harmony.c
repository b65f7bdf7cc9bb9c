/* harmony.c — the harmony reply structure of gpt-oss around a grammar (gptc_grammar_harmony):
 * the analysis channel stays free, the final channel follows the grammar, and nothing else may
 * be written (no commentary, no tool calls, no second analysis). The final header may carry
 * " <|constrain|>json", as harmony writes a constrained message's header. */
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
