/* tok_encode_fuzz.c — libFuzzer: random bytes -> gptc_tokenize (GPT-2 tokenizer.json, special
 * tokens on or off by the first byte) -> either "invalid UTF-8" (and the input really is invalid,
 * by an independent check) or ids that decode back to exactly the input, batch and streaming.
 *   make fuzz-tok_encode SECONDS=600   (run from the repository root) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test/util/testutil.h"

static gptc_tokenizer *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) {
        gptc_error err;
        if (gptc_tokenizer_load_json("test/data/tokenizer/gpt2/tokenizer.json", &tok, &err)) {
            fprintf(stderr, "tok_encode_fuzz: %s (run from the repository root)\n", err.msg);
            abort();
        }
    }
    if (size == 0) return 0;
    unsigned flags = (data[0] & 1) ? GPTC_TOKENIZE_SPECIAL : 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids;
    size_t n;
    gptc_error err;
    gptc_status st = gptc_tokenize(tok, text, len, flags, &ids, &n, &err);
    if (st != GPTC_OK) {
        if (st != GPTC_ERR_FORMAT || strncmp(err.msg, "invalid UTF-8 at byte offset ", 29) ||
            tu_utf8_valid((const uint8_t *)text, len))
            abort();
        size_t off = strtoull(err.msg + 29, NULL, 10);
        /* the prefix before the offset is valid, the input from there is not */
        if (off > len || !tu_utf8_valid((const uint8_t *)text, off)) abort();
        return 0;
    }
    if (!tu_utf8_valid((const uint8_t *)text, len)) abort();
    char *out;
    size_t olen;
    if (gptc_detokenize(tok, ids, n, 0, &out, &olen, &err) != GPTC_OK) abort();
    if (olen != len || memcmp(out, text, len)) abort();
    gptc_free(out);
    /* streaming gives the same bytes */
    gptc_decoder *d;
    if (gptc_decoder_new(tok, 0, &d, &err)) abort();
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const char *o;
        size_t ol;
        if (gptc_decoder_push(d, ids[i], &o, &ol, &err)) abort();
        if (pos + ol > len || memcmp(text + pos, o, ol)) abort();
        pos += ol;
    }
    const char *o;
    size_t ol;
    gptc_decoder_flush(d, &o, &ol);
    if (ol || pos != len) abort();
    gptc_decoder_free(d);
    gptc_free(ids);
    return 0;
}
