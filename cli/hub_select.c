/* hub_select.c — what `-hf` / `gptc pull` were asked for: the REPO[:SEL] spec with its short
 * names, and the choice of the GGUF file(s) in a repo (a quant tag, a file name, split shards). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/hub.h"

/* Short names of this family's models: ggml-org's GGUF repos (MXFP4 experts, as published). */
static const struct {
    const char *name, *repo;
} aliases[] = {
    {"gpt-oss-20b", "ggml-org/gpt-oss-20b-GGUF"},
    {"gpt-oss-120b", "ggml-org/gpt-oss-120b-GGUF"},
    {"gpt-oss:20b", "ggml-org/gpt-oss-20b-GGUF"},
    {"gpt-oss:120b", "ggml-org/gpt-oss-120b-GGUF"},
};

/* A hub name part: letters, digits, '-', '_', '.'; not starting or ending with '-' or '.',
 * no "--" or ".." (the hub's own rules), at most 96 characters. */
static int name_ok(const char *s, size_t n) {
    if (n == 0 || n > 96) return 0;
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.') return 0;
        if (i && (c == '-' || c == '.') && s[i - 1] == c) return 0;
    }
    return 1;
}

/* A file or tag: printable, no "..", no leading '/', no backslash. */
static int sel_ok(const char *s) {
    if (!*s || *s == '/' || strstr(s, "..") || strlen(s) >= 256) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '\\' || *p == '?' || *p == '#') return 0;
    return 1;
}

int hub_parse_spec(const char *s, hub_spec *out) {
    memset(out, 0, sizeof *out);
    const char *sel = NULL;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
        size_t n = strlen(aliases[i].name);
        if (!strncmp(s, aliases[i].name, n) && (s[n] == 0 || s[n] == ':')) {
            snprintf(out->repo, sizeof out->repo, "%s", aliases[i].repo);
            sel = s[n] ? s + n + 1 : NULL;
            goto have_repo;
        }
    }
    const char *colon = strchr(s, ':');
    size_t rn = colon ? (size_t)(colon - s) : strlen(s);
    const char *slash = memchr(s, '/', rn);
    if (!slash || !name_ok(s, (size_t)(slash - s)) ||
        !name_ok(slash + 1, rn - (size_t)(slash - s) - 1)) {
        cli_error("'%s' is not a model on the hub: use ORG/NAME[:QUANT-OR-FILE] (e.g. "
                  "ggml-org/gpt-oss-20b-GGUF, unsloth/gpt-oss-20b-GGUF:Q4_K_M) or a short name "
                  "(gpt-oss-20b, gpt-oss-120b)",
                  s);
        return EXIT_USAGE;
    }
    snprintf(out->repo, sizeof out->repo, "%.*s", (int)rn, s);
    sel = colon ? colon + 1 : NULL;
have_repo:
    if (sel) {
        if (!sel_ok(sel)) {
            cli_error("'%s': '%s' is not a quantization or file name", s, sel);
            return EXIT_USAGE;
        }
        snprintf(out->sel, sizeof out->sel, "%s", sel);
    }
    return 0;
}

int hub_split_name(const char *path, int *index, int *count) {
    size_t n = strlen(path);
    /* "-00001-of-00003.gguf": 20 characters */
    if (n < 20 || strcasecmp(path + n - 5, ".gguf")) return 0;
    const char *p = path + n - 20;
    if (p[0] != '-' || strncmp(p + 6, "-of-", 4)) return 0;
    for (int i = 1; i <= 5; i++)
        if (!isdigit((unsigned char)p[i]) || !isdigit((unsigned char)p[9 + i])) return 0;
    int a = atoi(p + 1), b = atoi(p + 10);
    if (a < 1 || b < 1 || a > b) return 0;
    *index = a;
    *count = b;
    return 1;
}

static int is_gguf(const char *path) {
    size_t n = strlen(path);
    if (n < 5 || strcasecmp(path + n - 5, ".gguf")) return 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncasecmp(base, "mmproj", 6) != 0; /* vision projectors are not models */
}

/* Does tag occur in path as a whole component: after start or one of "-._/", before the end or
 * one of "-./" (so Q4_K does not pick Q4_K_M)? Case-insensitive. */
static int has_tag(const char *path, const char *tag) {
    size_t t = strlen(tag), n = strlen(path);
    for (size_t i = 0; i + t <= n; i++) {
        if (strncasecmp(path + i, tag, t)) continue;
        char before = i ? path[i - 1] : '/';
        char after = path[i + t];
        if (strchr("-._/", before) && (after == 0 || strchr("-./", after))) return 1;
    }
    return 0;
}

/* Shard prefix length (the name without "-0000i-of-0000n.gguf"), or strlen for a plain file. */
static size_t stem_len(const char *path) {
    int a, b;
    return hub_split_name(path, &a, &b) ? strlen(path) - 20 : strlen(path);
}

/* The candidates: plain GGUF files and first shards. */
static int candidate(const hub_file *f) {
    int a, b;
    if (!is_gguf(f->path)) return 0;
    return !hub_split_name(f->path, &a, &b) || a == 1;
}

static void list_candidates(const hub_file *files, size_t n, char *msg, size_t cap) {
    size_t used = strlen(msg);
    int k = 0;
    for (size_t i = 0; i < n && used + 1 < cap; i++) {
        if (!candidate(&files[i])) continue;
        int w = snprintf(msg + used, cap - used, "%s%s", k++ ? ", " : " ", files[i].path);
        if (w < 0) break;
        used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
    }
}

/* Fills idx with every shard of the model whose first file is files[c]. */
static int take(const hub_file *files, size_t n, size_t c, size_t *idx, size_t *n_idx, char *msg,
                size_t cap) {
    int a, count;
    if (!hub_split_name(files[c].path, &a, &count)) {
        idx[0] = c;
        *n_idx = 1;
        return 0;
    }
    size_t stem = stem_len(files[c].path);
    for (int k = 1; k <= count; k++) {
        size_t found = n;
        for (size_t i = 0; i < n; i++) {
            int ai, bi;
            if (stem_len(files[i].path) == stem && !strncmp(files[i].path, files[c].path, stem) &&
                hub_split_name(files[i].path, &ai, &bi) && ai == k && bi == count) {
                found = i;
                break;
            }
        }
        if (found == n) {
            snprintf(msg, cap, "%.*s: shard %d of %d is missing from the repository", (int)stem,
                     files[c].path, k, count);
            return EXIT_LOAD;
        }
        idx[k - 1] = found;
    }
    *n_idx = (size_t)count;
    return 0;
}

int hub_select(const hub_file *files, size_t n, const char *sel, size_t *idx, size_t *n_idx,
               char *msg, size_t cap) {
    msg[0] = 0;
    *n_idx = 0;
    size_t n_cand = 0, last = 0;
    for (size_t i = 0; i < n; i++)
        if (candidate(&files[i])) n_cand++, last = i;
    if (n_cand == 0) {
        snprintf(msg, cap, "no GGUF file in this repository (gptc runs GGUF models)");
        return EXIT_LOAD;
    }
    size_t sl = strlen(sel);
    if (sl > 5 && !strcasecmp(sel + sl - 5, ".gguf")) {
        /* a file: its path, or its name in a subfolder */
        for (size_t i = 0; i < n; i++) {
            const char *base = strrchr(files[i].path, '/');
            if (!strcmp(files[i].path, sel) || (base && !strcmp(base + 1, sel))) {
                int a, b;
                if (hub_split_name(files[i].path, &a, &b) && a != 1) {
                    /* a later shard names the same model as its first */
                    for (size_t j = 0; j < n; j++) {
                        int aj, bj;
                        if (stem_len(files[j].path) == stem_len(files[i].path) &&
                            !strncmp(files[j].path, files[i].path, stem_len(files[i].path)) &&
                            hub_split_name(files[j].path, &aj, &bj) && aj == 1 && bj == b)
                            return take(files, n, j, idx, n_idx, msg, cap);
                    }
                    snprintf(msg, cap, "%s: the first shard of this split model is missing", sel);
                    return EXIT_LOAD;
                }
                return take(files, n, i, idx, n_idx, msg, cap);
            }
        }
        snprintf(msg, cap, "no file '%s' in this repository; its GGUF files:", sel);
        list_candidates(files, n, msg, cap);
        return EXIT_LOAD;
    }
    if (!sl && n_cand == 1) return take(files, n, last, idx, n_idx, msg, cap);
    /* a tag; without one, Q4_K_M (llama.cpp's default) when the repo has several */
    const char *tag = sl ? sel : "Q4_K_M";
    size_t n_match = 0, match = 0;
    for (size_t i = 0; i < n; i++)
        if (candidate(&files[i]) && has_tag(files[i].path, tag)) n_match++, match = i;
    if (n_match == 1) return take(files, n, match, idx, n_idx, msg, cap);
    if (!sl)
        snprintf(msg, cap,
                 "this repository has %zu GGUF models: name one as REPO:QUANT or "
                 "REPO:FILE.gguf;",
                 n_cand);
    else if (n_match == 0)
        snprintf(msg, cap, "no GGUF file matches '%s'; the repository has:", sel);
    else
        snprintf(msg, cap, "%zu GGUF files match '%s': name the file (REPO:FILE.gguf);", n_match,
                 sel);
    list_candidates(files, n, msg, cap);
    return EXIT_LOAD;
}
