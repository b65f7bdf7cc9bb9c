/* tokenize.c — gptc tokenize: UTF-8 text on stdin -> token ids on stdout.
 *
 *   gptc tokenize (--tokenizer FILE.json | -m FILE.gguf) [--no-special] [--json] [--jsonl]
 *                 [--stats]
 *
 * Default: all of stdin is one text; the ids are printed space-separated on one line.
 * --json: the same ids as one JSON array. --jsonl: every stdin line is a JSON object with a
 * "text" string; one JSON array of ids is printed per line. --no-special: special-token strings
 * in the text are ordinary text. --stats: load and encode timings on stderr.
 * Exit codes: 0 done, 1 bad usage or bad input (invalid UTF-8, a bad JSONL line), 2 the
 * tokenizer could not be loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/tokcli.h"

static void tokenize_usage(FILE *f) {
    fputs("usage: gptc tokenize (--tokenizer FILE.json | -m FILE.gguf) [options] < text\n"
          "Reads UTF-8 text from stdin and prints its token ids.\n"
          "  --tokenizer FILE   a Hugging Face tokenizer.json (byte-level BPE)\n"
          "  -m, --model FILE   a GGUF file; its tokenizer.ggml.* vocabulary is used\n"
          "  --no-special       special-token strings (e.g. <|endoftext|>) are plain text\n"
          "  --json             print the ids as a JSON array\n"
          "  --jsonl            each stdin line is a JSON object with a \"text\" field; print one\n"
          "                     JSON array of ids per line\n"
          "  --stats            print load/encode timings to stderr\n"
          "  -h, --help         this help\n",
          f);
}

int cli_tok_common_arg(int argc, char **argv, int *i, const char **json, const char **gguf,
                       void (*usage)(FILE *)) {
    const char *a = argv[*i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        usage(stdout);
        return -2;
    }
    if (strcmp(a, "--tokenizer") && strcmp(a, "-m") && strcmp(a, "--model")) return 0;
    if (*i + 1 >= argc) {
        cli_error("%s needs a file name", a);
        return -1;
    }
    if (!strcmp(a, "--tokenizer"))
        *json = argv[++*i];
    else
        *gguf = argv[++*i];
    return 1;
}

int cli_tok_source_check(const char *cmd, const char *json, const char *gguf) {
    if (!json == !gguf) {
        cli_error("%s: give exactly one of --tokenizer FILE.json or -m FILE.gguf", cmd);
        return EXIT_USAGE;
    }
    return 0;
}

int cli_tok_load(const char *json, const char *gguf, gptc_tokenizer **tok) {
    gptc_error err = {0};
    gptc_status st = json ? gptc_tokenizer_load_json(json, tok, &err)
                          : gptc_tokenizer_load_gguf(gguf, tok, &err);
    if (st != GPTC_OK) {
        return cli_fail(st, &err);
    }
    return 0;
}

char *cli_tok_read_stdin(size_t *len) {
    return cli_slurp_stdin(len); /* prints its own error */
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* ---- output ------------------------------------------------------------------------------- */
typedef struct obuf {
    char *p;
    size_t n, cap;
} obuf;

static int ob_reserve(obuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t nc = b->cap ? b->cap * 2 : 1 << 16;
    while (nc < b->n + extra) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) return -1;
    b->p = np;
    b->cap = nc;
    return 0;
}

static int print_ids(const int32_t *ids, size_t n, int json) {
    obuf b = {0};
    if (ob_reserve(&b, n * 12 + 4)) {
        cli_error("out of memory");
        return -1;
    }
    if (json) b.p[b.n++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) b.p[b.n++] = json ? ',' : ' ';
        char tmp[12];
        int k = 0;
        uint32_t v = (uint32_t)ids[i];
        do tmp[k++] = (char)('0' + v % 10);
        while ((v /= 10));
        while (k) b.p[b.n++] = tmp[--k];
    }
    if (json) b.p[b.n++] = ']';
    b.p[b.n++] = '\n';
    size_t w = fwrite(b.p, 1, b.n, stdout);
    free(b.p);
    return w == b.n ? 0 : 1; /* stdout failed: main's cli_finish_stdout reports it */
}

/* ---- a minimal JSON reader for --jsonl (keeps U+0000 inside strings, unlike cJSON) -------- */
typedef struct jr {
    const char *p, *end;
    const char *err;
} jr;

static void jws(jr *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
        r->p++;
}

static int hex4(jr *r, unsigned *v) {
    if (r->end - r->p < 4) return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (unsigned)d;
    }
    r->p += 4;
    return 0;
}

/* Parses a string at r->p ('"'); appends the decoded bytes to out when out != NULL. */
static int jstring(jr *r, obuf *out) {
    r->p++;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) return r->err = "control character in a string", -1;
        if (c != '\\') {
            if (out && (ob_reserve(out, 1))) return r->err = "out of memory", -1;
            if (out) out->p[out->n++] = (char)c;
            r->p++;
            continue;
        }
        if (++r->p >= r->end) break;
        char e = *r->p++;
        unsigned cp;
        switch (e) {
        case '"':
            cp = '"';
            break;
        case '\\':
            cp = '\\';
            break;
        case '/':
            cp = '/';
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            if (hex4(r, &cp)) return r->err = "bad \\u escape", -1;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return r->err = "lone surrogate in \\u escape", -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
                    return r->err = "lone surrogate in \\u escape", -1;
                r->p += 2;
                if (hex4(r, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return r->err = "lone surrogate in \\u escape", -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            break;
        default:
            return r->err = "bad escape in a string", -1;
        }
        if (out) {
            if (ob_reserve(out, 4)) return r->err = "out of memory", -1;
            char *o = out->p + out->n;
            if (cp < 0x80)
                o[0] = (char)cp, out->n += 1;
            else if (cp < 0x800)
                o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), out->n += 2;
            else if (cp < 0x10000)
                o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
                o[2] = (char)(0x80 | (cp & 0x3F)), out->n += 3;
            else
                o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
                o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)),
                out->n += 4;
        }
    }
    if (r->p >= r->end) return r->err = "unterminated string", -1;
    r->p++;
    return 0;
}

static int jvalue(jr *r, int depth);

static int jcontainer(jr *r, int depth, char close) {
    r->p++;
    jws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return 0;
    }
    for (;;) {
        jws(r);
        if (close == '}') {
            if (r->p >= r->end || *r->p != '"') return r->err = "expected a key", -1;
            if (jstring(r, NULL)) return -1;
            jws(r);
            if (r->p >= r->end || *r->p != ':') return r->err = "expected ':'", -1;
            r->p++;
        }
        if (jvalue(r, depth + 1)) return -1;
        jws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return 0;
        }
        return r->err = "expected ',' or a closing bracket", -1;
    }
}

static int jvalue(jr *r, int depth) {
    jws(r);
    if (depth > 64) return r->err = "nested too deeply", -1;
    if (r->p >= r->end) return r->err = "unexpected end of line", -1;
    char c = *r->p;
    if (c == '"') return jstring(r, NULL);
    if (c == '{') return jcontainer(r, depth, '}');
    if (c == '[') return jcontainer(r, depth, ']');
    static const char *const lits[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(lits[i]);
        if ((size_t)(r->end - r->p) >= l && !memcmp(r->p, lits[i], l)) {
            r->p += l;
            return 0;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char *e;
        char tmp[64];
        size_t k = 0;
        while (r->p + k < r->end && k < sizeof tmp - 1 && strchr("+-.eE0123456789", r->p[k]))
            tmp[k] = r->p[k], k++;
        tmp[k] = 0;
        strtod(tmp, &e);
        if (e == tmp) return r->err = "bad number", -1;
        r->p += e - tmp;
        return 0;
    }
    return r->err = "unexpected character", -1;
}

/* The "text" field of a one-line JSON object; 0 on success. */
static int jsonl_text(const char *line, size_t len, obuf *text, const char **why) {
    jr r = {line, line + len, NULL};
    int found = 0;
    jws(&r);
    if (r.p >= r.end || *r.p != '{') {
        *why = "expected a JSON object";
        return -1;
    }
    r.p++;
    jws(&r);
    if (r.p < r.end && *r.p == '}')
        r.p++;
    else
        for (;;) {
            jws(&r);
            if (r.p >= r.end || *r.p != '"') {
                *why = "expected a key";
                return -1;
            }
            obuf key = {0};
            if (jstring(&r, &key)) {
                free(key.p);
                *why = r.err;
                return -1;
            }
            int is_text = key.n == 4 && !memcmp(key.p, "text", 4);
            free(key.p);
            jws(&r);
            if (r.p >= r.end || *r.p != ':') {
                *why = "expected ':'";
                return -1;
            }
            r.p++;
            jws(&r);
            if (is_text) {
                if (r.p >= r.end || *r.p != '"') {
                    *why = "\"text\" is not a string";
                    return -1;
                }
                text->n = 0;
                if (jstring(&r, text)) {
                    *why = r.err;
                    return -1;
                }
                found = 1;
            } else if (jvalue(&r, 1)) {
                *why = r.err;
                return -1;
            }
            jws(&r);
            if (r.p < r.end && *r.p == ',') {
                r.p++;
                continue;
            }
            if (r.p < r.end && *r.p == '}') {
                r.p++;
                break;
            }
            *why = "expected ',' or '}'";
            return -1;
        }
    jws(&r);
    if (r.p != r.end) {
        *why = "trailing characters after the object";
        return -1;
    }
    if (!found) {
        *why = "no \"text\" field";
        return -1;
    }
    return 0;
}

int cli_tokenize(int argc, char **argv) {
    const char *json = NULL, *gguf = NULL;
    int special = 1, as_json = 0, jsonl = 0, stats = 0;
    for (int i = 1, k; i < argc; i++) {
        const char *a = argv[i];
        if ((k = cli_tok_common_arg(argc, argv, &i, &json, &gguf, tokenize_usage)) != 0) {
            if (k < 0) return k == -2 ? EXIT_DONE : EXIT_USAGE;
        } else if (!strcmp(a, "--no-special")) {
            special = 0;
        } else if (!strcmp(a, "--json")) {
            as_json = 1;
        } else if (!strcmp(a, "--jsonl")) {
            jsonl = 1;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
        } else {
            cli_error("tokenize: unknown option '%s' (see gptc tokenize --help)", a);
            return EXIT_USAGE;
        }
    }
    if (cli_tok_source_check("tokenize", json, gguf)) return EXIT_USAGE;
    double t0 = now_ms();
    gptc_tokenizer *tok = NULL;
    int rc = cli_tok_load(json, gguf, &tok);
    if (rc) return rc;
    double t_load = now_ms() - t0;
    size_t len;
    char *in = cli_tok_read_stdin(&len);
    if (!in) {
        gptc_tokenizer_free(tok);
        return EXIT_USAGE;
    }
    unsigned flags = special ? GPTC_TOKENIZE_SPECIAL : 0;
    gptc_error err = {0};
    double t_enc = 0;
    size_t total_ids = 0;
    rc = EXIT_DONE;
    if (!jsonl) {
        int32_t *ids;
        size_t n;
        double t1 = now_ms();
        gptc_status st = gptc_tokenize(tok, in, len, flags, &ids, &n, &err);
        t_enc = now_ms() - t1;
        if (st != GPTC_OK) {
            cli_error("stdin: %s", err.msg);
            rc = st == GPTC_ERR_FORMAT ? EXIT_USAGE : cli_exit_code(st);
        } else {
            total_ids = n;
            if (print_ids(ids, n, as_json) < 0) rc = EXIT_RUNTIME;
            gptc_free(ids);
        }
    } else {
        obuf text = {0};
        size_t pos = 0, lineno = 0;
        while (pos < len && rc == EXIT_DONE) {
            const char *nl = memchr(in + pos, '\n', len - pos);
            size_t end = nl ? (size_t)(nl - in) : len;
            lineno++;
            const char *why = NULL;
            if (jsonl_text(in + pos, end - pos, &text, &why)) {
                cli_error("stdin line %zu: %s", lineno, why);
                rc = EXIT_USAGE;
                break;
            }
            int32_t *ids;
            size_t n;
            double t1 = now_ms();
            gptc_status st =
                gptc_tokenize(tok, text.p ? text.p : "", text.n, flags, &ids, &n, &err);
            t_enc += now_ms() - t1;
            if (st != GPTC_OK) {
                cli_error("stdin line %zu: \"text\": %s", lineno, err.msg);
                rc = st == GPTC_ERR_FORMAT ? EXIT_USAGE : cli_exit_code(st);
                break;
            }
            total_ids += n;
            int pr = print_ids(ids, n, 1);
            if (pr < 0) rc = EXIT_RUNTIME;
            gptc_free(ids);
            pos = pr > 0 ? len : end + 1; /* stdout is gone: stop */
        }
        free(text.p);
    }
    if (stats)
        fprintf(stderr, "tokenize: load %.1f ms, %zu bytes -> %zu ids in %.1f ms (%.2f MB/s)\n",
                t_load, len, total_ids, t_enc, t_enc > 0 ? len / 1e3 / t_enc : 0.0);
    free(in);
    gptc_tokenizer_free(tok);
    return rc;
}
