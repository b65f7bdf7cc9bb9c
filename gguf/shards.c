/* shards.c — a model stored as one GGUF file or as the shards llama.cpp's gguf-split writes
 * (docs/gguf.md §2.1): NAME-00001-of-00003.gguf ... NAME-00003-of-00003.gguf, each a complete
 * GGUF with its own metadata and tensor infos. The first shard carries the model's metadata plus
 * split.no = 0, split.count = N and split.tensors.count = T; the others carry only the three
 * split keys (split.no = i). gguf_shards_open takes the first shard's path, finds the others by
 * name next to it, opens (maps) each one and checks that they form exactly one model: every
 * shard present, numbered in order, agreeing on the count, no tensor in two shards, and T
 * tensors in all. The tensors of all shards are then looked up as one set; each tensor's data
 * points into its own shard's mapping (zero copy).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"

struct gguf_shards {
    gguf_file **files;
    int n;
    uint64_t n_tensors;
    const gguf_tensor **tensors; /* every shard's tensors, shard by shard, in file order */
    const gguf_tensor **sorted;  /* by name */
    int *shard_of;               /* per entry of `tensors` */
};

#define SPLIT_SUFFIX_LEN 20 /* "-00001-of-00003.gguf" */

static gptc_status fail(gptc_error *err, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gptc_status fail(gptc_error *err, gptc_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = st;
    return st;
}

int gguf_split_name(const char *path, int *no, int *count) {
    size_t n = strlen(path);
    if (n < SPLIT_SUFFIX_LEN) return 0;
    const char *s = path + n - SPLIT_SUFFIX_LEN;
    if (s[0] != '-' || memcmp(s + 6, "-of-", 4) || memcmp(s + 15, ".gguf", 5)) return 0;
    int a = 0, b = 0;
    for (int i = 0; i < 5; i++) {
        if (s[1 + i] < '0' || s[1 + i] > '9' || s[10 + i] < '0' || s[10 + i] > '9') return 0;
        a = a * 10 + (s[1 + i] - '0');
        b = b * 10 + (s[10 + i] - '0');
    }
    if (a < 1 || b < 1 || a > b) return 0;
    if (no) *no = a;
    if (count) *count = b;
    return 1;
}

char *gguf_split_path(const char *path, int no, int count) {
    size_t n = strlen(path), stem = n;
    int a, b;
    if (gguf_split_name(path, &a, &b))
        stem = n - SPLIT_SUFFIX_LEN;
    else if (n > 5 && !strcmp(path + n - 5, ".gguf"))
        stem = n - 5;
    char *out = malloc(stem + SPLIT_SUFFIX_LEN + 1);
    if (!out) return NULL;
    memcpy(out, path, stem);
    snprintf(out + stem, SPLIT_SUFFIX_LEN + 1, "-%05d-of-%05d.gguf", no, count);
    return out;
}

/* An integer split key: -1 when absent; -2 (with err set) when not an integer in [0, 65535]. */
static long split_key(const gguf_file *f, const char *key, long max, gptc_error *err) {
    if (!gguf_has(f, key)) return -1;
    int64_t v;
    if (gguf_get_i64(f, key, &v, err) != GPTC_OK) return -2;
    if (v < 0 || v > max) {
        fail(err, GPTC_ERR_FORMAT, "%s: %s is %lld (expected 0 to %ld)", gguf_path(f), key,
             (long long)v, max);
        return -2;
    }
    return (long)v;
}

static int name_cmp(gguf_str a, gguf_str b) {
    uint64_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.ptr, b.ptr, (size_t)n) : 0;
    if (r) return r;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int tensor_cmp(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return name_cmp(x->name, y->name);
}

void gguf_shards_close(gguf_shards *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) gguf_close(s->files[i]);
    free(s->files);
    free(s->tensors);
    free(s->sorted);
    free(s->shard_of);
    free(s);
}

/* The tensor index over every shard; a name in two shards is an error. */
static gptc_status index_tensors(gguf_shards *s, gptc_error *err) {
    uint64_t total = 0;
    for (int i = 0; i < s->n; i++) total += gguf_n_tensors(s->files[i]);
    s->tensors = malloc((total ? total : 1) * sizeof *s->tensors);
    s->sorted = malloc((total ? total : 1) * sizeof *s->sorted);
    s->shard_of = malloc((total ? total : 1) * sizeof *s->shard_of);
    if (!s->tensors || !s->sorted || !s->shard_of)
        return fail(err, GPTC_ERR_NOMEM, "out of memory");
    uint64_t k = 0;
    for (int i = 0; i < s->n; i++)
        for (uint64_t j = 0; j < gguf_n_tensors(s->files[i]); j++, k++) {
            s->tensors[k] = s->sorted[k] = gguf_tensor_at(s->files[i], j);
            s->shard_of[k] = i;
        }
    s->n_tensors = total;
    if (s->n == 1) return GPTC_OK; /* the reader has sorted and checked a single file */
    qsort(s->sorted, (size_t)total, sizeof *s->sorted, tensor_cmp);
    for (uint64_t i = 1; i < total; i++)
        if (name_cmp(s->sorted[i - 1]->name, s->sorted[i]->name) == 0) {
            int a = gguf_shards_shard_of(s, s->sorted[i - 1]),
                b = gguf_shards_shard_of(s, s->sorted[i]);
            if (a > b) {
                int t = a;
                a = b;
                b = t;
            }
            const gguf_str nm = s->sorted[i]->name;
            return fail(err, GPTC_ERR_FORMAT, "tensor %.*s is in two shards: %s and %s",
                        (int)(nm.len > 64 ? 64 : nm.len), nm.ptr, gguf_path(s->files[a]),
                        gguf_path(s->files[b]));
        }
    return GPTC_OK;
}

gptc_status gguf_shards_open(const char *path, unsigned flags, gguf_shards **out, gptc_error *err) {
    gptc_error dummy;
    if (!err) err = &dummy;
    err->status = GPTC_OK;
    err->msg[0] = 0;
    if (!path || !out) return fail(err, GPTC_ERR_INVALID_ARG, "gguf_shards_open: bad argument");
    *out = NULL;
    gguf_shards *s = calloc(1, sizeof *s);
    if (!s) return fail(err, GPTC_ERR_NOMEM, "out of memory");
    gguf_file *first = NULL;
    gptc_status st = gguf_open_opts(path, flags, &first, err);
    if (st != GPTC_OK) {
        free(s);
        return st;
    }
    long count = split_key(first, "split.count", 65535, err);
    long no = count >= 0 ? split_key(first, "split.no", 65535, err) : 0;
    long tcount = count > 1 ? split_key(first, "split.tensors.count", INT32_MAX, err) : 0;
    if (count == -2 || no == -2 || tcount == -2) st = err->status;
    if (!st && count == 0)
        st = fail(err, GPTC_ERR_FORMAT, "%s: split.count is 0 (a split model has 1 or more files)",
                  path);
    if (!st && count > 1 && no < 0)
        st = fail(err, GPTC_ERR_FORMAT, "%s: split.count is %ld but split.no is missing", path,
                  count);
    if (!st && count >= 1 && no > 0) {
        char *want = gguf_split_path(path, 1, (int)count);
        st = fail(err, GPTC_ERR_FORMAT,
                  "%s is shard %ld of %ld of a split model: pass the first shard%s%s%s", path,
                  no + 1, count, want ? " (" : "", want ? want : "", want ? ")" : "");
        free(want);
    }
    if (!st && count > 1 && tcount < 0)
        st = fail(err, GPTC_ERR_FORMAT, "%s: split model without split.tensors.count", path);
    int a, b;
    if (!st && count > 1 && (!gguf_split_name(path, &a, &b) || a != 1 || b != count)) {
        char *want = gguf_split_path(path, 1, (int)count);
        st = fail(err, GPTC_ERR_FORMAT,
                  "%s: the first of %ld shards must be named like %s (the others are found by "
                  "that name)",
                  path, count, want ? want : "NAME-00001-of-0000N.gguf");
        free(want);
    }
    int n = count > 1 ? (int)count : 1;
    if (!st) {
        s->files = calloc((size_t)n, sizeof *s->files);
        if (!s->files) st = fail(err, GPTC_ERR_NOMEM, "out of memory");
    }
    if (st) {
        gguf_close(first);
        free(s);
        return st;
    }
    s->files[0] = first;
    s->n = 1;
    for (int i = 1; i < n && !st; i++) {
        char *sp = gguf_split_path(path, i + 1, n);
        if (!sp) {
            st = fail(err, GPTC_ERR_NOMEM, "out of memory");
            break;
        }
        gguf_file *f = NULL;
        gptc_error e2 = {0};
        st = gguf_open_opts(sp, flags, &f, &e2);
        if (st == GPTC_ERR_IO && access(sp, F_OK) != 0) {
            st = fail(err, GPTC_ERR_IO, "missing shard %s (shard %d of the %d that %s names)", sp,
                      i + 1, n, path);
        } else if (st) {
            *err = e2;
        } else {
            s->files[s->n++] = f;
            long c = split_key(f, "split.count", 65535, err);
            long k = split_key(f, "split.no", 65535, err);
            long t = split_key(f, "split.tensors.count", INT32_MAX, err);
            if (c == -2 || k == -2 || t == -2)
                st = err->status;
            else if (c != count)
                st = c < 0
                         ? fail(err, GPTC_ERR_FORMAT,
                                "%s: not a shard of %s (no split.count; that one says %ld shards)",
                                sp, path, count)
                         : fail(err, GPTC_ERR_FORMAT,
                                "%s: split.count is %ld but %s says %ld: the shards are from "
                                "different splits",
                                sp, c, path, count);
            else if (k != i)
                st = k < 0 ? fail(err, GPTC_ERR_FORMAT, "%s: shard without split.no", sp)
                           : fail(err, GPTC_ERR_FORMAT,
                                  "%s: split.no says it is shard %ld, but its name makes it shard "
                                  "%d of %d (renamed, duplicated or out of order?)",
                                  sp, k + 1, i + 1, n);
            else if (t >= 0 && t != tcount)
                st = fail(err, GPTC_ERR_FORMAT,
                          "%s: split.tensors.count is %ld but %s says %ld: the shards are from "
                          "different splits",
                          sp, t, path, tcount);
        }
        free(sp);
    }
    if (!st) st = index_tensors(s, err);
    if (!st && n > 1 && s->n_tensors != (uint64_t)tcount)
        st = fail(err, GPTC_ERR_FORMAT,
                  "%s: split.tensors.count is %ld but the %d shards hold %llu tensors", path,
                  tcount, n, (unsigned long long)s->n_tensors);
    if (st) {
        gguf_shards_close(s);
        return st;
    }
    *out = s;
    return GPTC_OK;
}

int gguf_shards_count(const gguf_shards *s) {
    return s ? s->n : 0;
}

gguf_file *gguf_shards_file(const gguf_shards *s, int i) {
    return s && i >= 0 && i < s->n ? s->files[i] : NULL;
}

uint64_t gguf_shards_n_tensors(const gguf_shards *s) {
    return s ? s->n_tensors : 0;
}

const gguf_tensor *gguf_shards_tensor_at(const gguf_shards *s, uint64_t i) {
    return s && i < s->n_tensors ? s->tensors[i] : NULL;
}

const gguf_tensor *gguf_shards_find_tensor(const gguf_shards *s, const char *name) {
    if (!s || !name) return NULL;
    if (s->n == 1) return gguf_find_tensor(s->files[0], name);
    gguf_str k = {name, strlen(name)};
    uint64_t lo = 0, hi = s->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = name_cmp(s->sorted[mid]->name, k);
        if (r == 0) return s->sorted[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int gguf_shards_shard_of(const gguf_shards *s, const gguf_tensor *t) {
    if (!s || !t) return -1;
    for (int i = 0; i < s->n; i++) {
        uint64_t n = gguf_n_tensors(s->files[i]);
        const gguf_tensor *t0 = n ? gguf_tensor_at(s->files[i], 0) : NULL;
        if (t0 && t >= t0 && t < t0 + n) return i;
    }
    return -1;
}

uint64_t gguf_shards_size(const gguf_shards *s) {
    uint64_t total = 0;
    for (int i = 0; s && i < s->n; i++) total += gguf_file_size(s->files[i]);
    return total;
}
