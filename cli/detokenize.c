/* detokenize.c — gptc detokenize: token ids on stdin (whitespace-separated, or one JSON array as
 * gptc tokenize --json prints it) -> text on stdout.
 *
 *   gptc detokenize (--tokenizer FILE.json | -m FILE.gguf) [--skip-special]
 *
 * The bytes are decoded like Hugging Face decode (ByteLevel, then lossy UTF-8: invalid
 * sequences become U+FFFD), so stdout is always valid UTF-8. Special tokens are written as their
 * text unless --skip-special. Exit codes: 0 done, 1 bad usage or bad input (not an id, an id out
 * of range), 2 the tokenizer could not be loaded.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/tokcli.h"

static void detokenize_usage(FILE *f) {
    fputs("usage: gptc detokenize (--tokenizer FILE.json | -m FILE.gguf) [options] < ids\n"
          "Reads token ids from stdin, whitespace-separated or as one JSON array (the output of\n"
          "gptc tokenize --json), and writes the decoded text.\n"
          "  --tokenizer FILE   a Hugging Face tokenizer.json (byte-level BPE)\n"
          "  -m, --model FILE   a GGUF file; its tokenizer.ggml.* vocabulary is used\n"
          "  --skip-special     leave special tokens out of the text\n"
          "  -h, --help         this help\n",
          f);
}

/* The JSON array form that gptc tokenize --json prints: [15496, 995]. Fills ids (room for
 * len / 2 + 16: every id takes >= 2 bytes there). Returns 0 or EXIT_USAGE after the error. */
static int json_ids(const char *in, size_t len, int32_t nv, int32_t *ids, size_t *n) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(in, len, &end, 0);
    while (j && end < in + len && strchr(" \t\r\n\v\f", *end) && *end) end++;
    if (!cJSON_IsArray(j) || end < in + len) {
        size_t off = end && end >= in && end <= in + len ? (size_t)(end - in) : 0;
        cli_error("stdin: not a JSON array of token ids (byte offset %zu)", off);
        cJSON_Delete(j);
        return EXIT_USAGE;
    }
    const cJSON *v;
    size_t i = 0;
    cJSON_ArrayForEach(v, j) {
        double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(d >= 0) || (d < nv && d != floor(d))) {
            char *s = cJSON_PrintUnformatted(v);
            cli_error("stdin: element %zu of the array (%.32s) is not a token id", i, s ? s : "?");
            free(s);
            cJSON_Delete(j);
            return EXIT_USAGE;
        }
        if (d >= nv) {
            cli_error("stdin: token id %.6g is out of range (the vocabulary has %d ids)", d,
                      (int)nv);
            cJSON_Delete(j);
            return EXIT_USAGE;
        }
        ids[(*n)++] = (int32_t)d;
        i++;
    }
    cJSON_Delete(j);
    return EXIT_DONE;
}

int cli_detokenize(int argc, char **argv) {
    const char *json = NULL, *gguf = NULL;
    int skip = 0;
    for (int i = 1, k; i < argc; i++) {
        const char *a = argv[i];
        if ((k = cli_tok_common_arg(argc, argv, &i, &json, &gguf, detokenize_usage)) != 0) {
            if (k < 0) return k == -2 ? EXIT_DONE : EXIT_USAGE;
        } else if (!strcmp(a, "--skip-special")) {
            skip = 1;
        } else {
            cli_error("detokenize: unknown option '%s' (see gptc detokenize --help)", a);
            return EXIT_USAGE;
        }
    }
    if (cli_tok_source_check("detokenize", json, gguf)) return EXIT_USAGE;
    gptc_tokenizer *tok = NULL;
    int rc = cli_tok_load(json, gguf, &tok);
    if (rc) return rc;
    size_t len;
    char *in = cli_tok_read_stdin(&len);
    if (!in) {
        gptc_tokenizer_free(tok);
        return EXIT_USAGE;
    }
    size_t n = 0, cap = len / 2 + 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    rc = ids ? EXIT_DONE : EXIT_RUNTIME;
    int32_t nv = gptc_tokenizer_n_vocab(tok);
    size_t lead = 0;
    while (lead < len && strchr(" \t\r\n\v\f", in[lead]) && in[lead]) lead++;
    if (rc == EXIT_DONE && lead < len && in[lead] == '[') /* gptc tokenize --json */
        rc = json_ids(in, len, nv, ids, &n);
    else
        for (size_t p = 0; p < len && rc == EXIT_DONE;) {
            while (p < len && strchr(" \t\r\n\v\f", in[p]) && in[p]) p++;
            if (p >= len) break;
            size_t q = p;
            while (q < len && in[q] >= '0' && in[q] <= '9') q++;
            if (q == p || (q < len && !strchr(" \t\r\n\v\f", in[q])) || (q < len && !in[q])) {
                size_t e = p;
                while (e < len && e - p < 32 && !strchr(" \t\r\n\v\f", in[e]) && in[e]) e++;
                cli_error("stdin: '%.*s' is not a token id (byte offset %zu)", (int)(e - p), in + p,
                          p);
                rc = EXIT_USAGE;
                break;
            }
            long long v = 0;
            for (size_t k = p; k < q && v <= nv; k++) v = v * 10 + (in[k] - '0');
            if (v >= nv) {
                cli_error("stdin: token id %.*s is out of range (the vocabulary has %d ids)",
                          (int)(q - p > 24 ? 24 : q - p), in + p, (int)nv);
                rc = EXIT_USAGE;
                break;
            }
            ids[n++] =
                (int32_t)v; /* n <= len/2 + 1 < cap: every id takes >= 2 bytes but the last */
            p = q;
        }
    if (rc == EXIT_DONE) {
        char *text;
        size_t tl;
        gptc_error err = {0};
        gptc_status st = gptc_detokenize(tok, ids, n, skip, &text, &tl, &err);
        if (st != GPTC_OK) {
            cli_error("%s", err.msg);
            rc = cli_exit_code(st);
        } else {
            fwrite(text, 1, tl, stdout); /* a failure is reported by cli_finish_stdout */
            gptc_free(text);
        }
    }
    free(ids);
    free(in);
    gptc_tokenizer_free(tok);
    return rc;
}
