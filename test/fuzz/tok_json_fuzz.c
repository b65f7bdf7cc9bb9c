/* tok_json_fuzz.c — libFuzzer: random bytes as a tokenizer.json (the loader reads the file whole
 * and hands the text to gt_tokenizer_load_json_buf, which is what this calls). A file is either
 * refused with one error line naming the file, or loads into a tokenizer that then encodes and
 * decodes a fixed text without failing.
 *   make fuzz-tok_json SECONDS=600   (run from the repository root) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "tokenizer/tok_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gptc_tokenizer *tok = NULL;
    gptc_error err;
    memset(&err, 0, sizeof err);
    gptc_status st =
        gt_tokenizer_load_json_buf("tokenizer.json", (const char *)data, size, &tok, &err);
    if (st != GPTC_OK) {
        /* one line that names the file */
        if (tok || strncmp(err.msg, "tokenizer.json: ", 16) || strchr(err.msg, '\n') ||
            err.status != st)
            abort();
        return 0;
    }
    if (!tok || gptc_tokenizer_n_vocab(tok) <= 0) abort();
    static const char text[] = "abc a<|x|>ba \xc3\xa9t\xc3\xa9 123!";
    int32_t *ids = NULL;
    size_t n = 0;
    for (unsigned flags = 0; flags < 2; flags++) {
        if (gptc_tokenize(tok, text, sizeof text - 1, flags, &ids, &n, &err) != GPTC_OK) abort();
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= gptc_tokenizer_n_vocab(tok)) abort();
        char *out = NULL;
        size_t olen = 0;
        if (gptc_detokenize(tok, ids, n, 0, &out, &olen, &err) != GPTC_OK) abort();
        gptc_free(out);
        gptc_free(ids);
    }
    gptc_tokenizer_free(tok);
    return 0;
}
