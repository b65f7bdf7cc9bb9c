/* gbnf_fuzz.c — libFuzzer: random bytes -> gptc_grammar_parse. Input split at the first NUL:
 * the grammar text, then bytes that pick tokens. A grammar either fails with one error line or
 * compiles; then a few steps of masks over the GPT-2 vocabulary, each picking an allowed token that
 * the matcher must accept (mask and accept agree), and the mask count must match the bits.
 *   make fuzz-gbnf SECONDS=600   (run from the repository root) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"

static gptc_tokenizer *tok;
static gptc_token_trie *trie;
static uint32_t *bits;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) {
        gptc_error err;
        if (gptc_tokenizer_load_json("test/data/tokenizer/gpt2/tokenizer.json", &tok, &err) ||
            gptc_token_trie_new(tok, &trie, &err)) {
            fprintf(stderr, "gbnf_fuzz: %s (run from the repository root)\n", err.msg);
            abort();
        }
        bits = malloc(((size_t)gptc_tokenizer_n_vocab(tok) + 31) / 32 * 4);
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    const uint8_t *pick = nul ? nul + 1 : data + size;
    size_t npick = size - glen - (nul ? 1 : 0);
    gptc_grammar *g = NULL;
    gptc_error err = {0};
    gptc_status st = gptc_grammar_parse((const char *)data, glen, &g, &err);
    if (st != GPTC_OK) {
        if (g || !err.msg[0] || strchr(err.msg, '\n')) abort();
        return 0;
    }
    gptc_matcher *m = NULL;
    if (gptc_matcher_new(g, trie, &m, &err) != GPTC_OK) abort();
    int32_t eos = gptc_tokenizer_eos(tok);
    gptc_matcher_set_end_tokens(m, &eos, 1, NULL);
    const int nw = gptc_matcher_n_words(m);
    for (size_t s = 0; s < npick && s < 16; s++) {
        int n = gptc_matcher_mask(m, bits);
        int cnt = 0;
        for (int w = 0; w < nw; w++) cnt += __builtin_popcount(bits[w]);
        if (cnt != n) abort();
        if (!n) break;
        int k = pick[s] % n, id = -1;
        for (int w = 0; w < nw && id < 0; w++)
            for (uint32_t x = bits[w]; x; x &= x - 1)
                if (k-- == 0) {
                    id = w * 32 + __builtin_ctz(x);
                    break;
                }
        if (!gptc_matcher_accept_token(m, id)) abort();
        if (gptc_matcher_is_ended(m)) break;
    }
    gptc_matcher_free(m);
    gptc_grammar_free(g);
    return 0;
}
