/* test_gguf_split.c — split GGUF models (issue 15): the shards gen-model --split-max-size writes
 * follow llama.cpp gguf-split's rules (checked here from the shards' own headers, written out in
 * this file: model metadata in the first shard only, split.no / split.count / split.tensors.count,
 * tensors in the unsplit order, a new shard when the padded tensor data would pass the limit,
 * every tensor's bytes those of the unsplit file); -m on the first shard gives the same logits
 * and text as the unsplit file (also --no-mmap, --mlock); inspect lists the shards; every broken
 * shard set (missing, mismatched, renumbered, duplicated, extra or doubled tensors, the wrong
 * count, a later shard passed to -m) is one error line and exit 2; a shard truncated under a
 * running gptc is the truncation error naming that shard; no progress bar in a pipe. */
#include <cJSON.h>
#include <check.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

#define MAX_SHARDS 64

static char dir[512];
/* gpt-oss (MoE) and GPT-2, each unsplit and split */
static char oss_one[600], oss_stem[600], g2_one[600], g2_stem[600];
static int oss_n, g2_n;
static const uint64_t OSS_MAX = 1000000, G2_MAX = 300000;

static void die(const char *what) {
    fprintf(stderr, "test_gguf_split: setup failed: %s\n", what);
    exit(EXIT_FAILURE);
}

static void sfmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) die("path too long");
}

/* Runs gen-model ARGS --out OUT; returns the number of lines it printed (shard paths). */
static int gen(const char *args, const char *out) {
    char cmd[2048];
    sfmt(cmd, sizeof cmd, "%s %s --out %s", tu_tool("gen-model"), args, out);
    tu_proc p;
    if (tu_sh(cmd, NULL, 0, 300, &p) || p.status != 0) {
        fprintf(stderr, "%s: %s\n", cmd, p.err);
        die("gen-model");
    }
    int n = 0;
    for (const char *c = p.out; *c; c++) n += *c == '\n';
    tu_proc_free(&p);
    return n;
}

static void shard_path(char *buf, size_t cap, const char *stem, int k, int n) {
    sfmt(buf, cap, "%s-%05d-of-%05d.gguf", stem, k, n);
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    char *d = tu_read_file(from, &n);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(tu_write_file(to, d, n), 0);
    free(d);
}

/* ---- the layout, against gguf-split's rules ------------------------------------------------- */

static int kv_same(const gguf_kv *a, const gguf_kv *b) {
    if (a->key.len != b->key.len || memcmp(a->key.ptr, b->key.ptr, a->key.len)) return 0;
    if (a->value.type != b->value.type) return 0;
    switch (a->value.type) {
    case GGUF_VT_STRING:
        return a->value.v.str.len == b->value.v.str.len &&
               !memcmp(a->value.v.str.ptr, b->value.v.str.ptr, a->value.v.str.len);
    case GGUF_VT_ARRAY:
        return a->value.v.arr.elem_type == b->value.v.arr.elem_type &&
               a->value.v.arr.count == b->value.v.arr.count &&
               a->value.v.arr.bytes == b->value.v.arr.bytes &&
               !memcmp(a->value.v.arr.data, b->value.v.arr.data, a->value.v.arr.bytes);
    default:
        return a->value.v.u64 == b->value.v.u64;
    }
}

static void check_u16(const gguf_file *f, uint64_t i, const char *key, uint64_t v) {
    const gguf_kv *kv = gguf_kv_at(f, i);
    ck_assert_ptr_nonnull(kv);
    ck_assert_uint_eq(kv->key.len, strlen(key));
    ck_assert(!memcmp(kv->key.ptr, key, kv->key.len));
    ck_assert_int_eq(kv->value.type, GGUF_VT_U16);
    ck_assert_uint_eq(kv->value.v.u64, v);
}

static void check_layout(const char *one, const char *stem, int n, uint64_t max) {
    gguf_file *u = NULL;
    gptc_error err;
    ck_assert_msg(gguf_open(one, &u, &err) == GPTC_OK, "%s", err.msg);
    ck_assert_int_gt(n, 2);
    uint64_t ti = 0, T = gguf_n_tensors(u);
    for (int k = 0; k < n; k++) {
        char p[700];
        shard_path(p, sizeof p, stem, k + 1, n);
        gguf_file *f = NULL;
        ck_assert_msg(gguf_open(p, &f, &err) == GPTC_OK, "%s", err.msg);
        /* metadata: the model's keys (in order) in the first shard only, then the three keys */
        uint64_t base = 0;
        if (k == 0) {
            ck_assert_uint_eq(gguf_n_kv(f), gguf_n_kv(u) + 3);
            for (uint64_t i = 0; i < gguf_n_kv(u); i++)
                ck_assert_msg(kv_same(gguf_kv_at(u, i), gguf_kv_at(f, i)), "key %llu",
                              (unsigned long long)i);
            base = gguf_n_kv(u);
        } else {
            ck_assert_uint_eq(gguf_n_kv(f), 3);
        }
        check_u16(f, base, "split.no", (uint64_t)k);
        check_u16(f, base + 1, "split.count", (uint64_t)n);
        const gguf_kv *tc = gguf_kv_at(f, base + 2);
        ck_assert(tc->key.len == 19 && !memcmp(tc->key.ptr, "split.tensors.count", 19));
        ck_assert_int_eq(tc->value.type, GGUF_VT_I32);
        ck_assert_int_eq(tc->value.v.i64, (int64_t)T);
        /* tensors: the next ones of the unsplit file, same type, shape and bytes */
        uint64_t padded = 0;
        ck_assert_uint_gt(gguf_n_tensors(f), 0);
        for (uint64_t j = 0; j < gguf_n_tensors(f); j++, ti++) {
            const gguf_tensor *a = gguf_tensor_at(u, ti), *b = gguf_tensor_at(f, j);
            ck_assert_ptr_nonnull(a);
            ck_assert(a->name.len == b->name.len && !memcmp(a->name.ptr, b->name.ptr, a->name.len));
            ck_assert_int_eq(a->type, b->type);
            ck_assert(!memcmp(a->ne, b->ne, sizeof a->ne));
            ck_assert_uint_eq(a->n_bytes, b->n_bytes);
            ck_assert(!memcmp(a->data, b->data, a->n_bytes));
            padded += (a->n_bytes + 31) / 32 * 32;
        }
        /* gguf-split's limit: at most max bytes of (32-padded) tensor data, unless one tensor
         * alone is larger; and the shard was cut only because the next tensor did not fit */
        ck_assert(padded <= max || gguf_n_tensors(f) == 1);
        if (k + 1 < n) {
            const gguf_tensor *next = gguf_tensor_at(u, ti);
            ck_assert_uint_gt(padded + (next->n_bytes + 31) / 32 * 32, max);
        }
        gguf_close(f);
    }
    ck_assert_uint_eq(ti, T);
    gguf_close(u);
}

START_TEST(test_layout_gpt_oss) {
    check_layout(oss_one, oss_stem, oss_n, OSS_MAX);
}
END_TEST

START_TEST(test_layout_gpt2) {
    check_layout(g2_one, g2_stem, g2_n, G2_MAX);
}
END_TEST

/* ---- loading -----------------------------------------------------------------------------------
 */

static void logits(const char *model, const char *out) {
    char cmd[2048];
    sfmt(cmd, sizeof cmd, "%s -m %s -o %s -c 64 --chunk 5 1 7 42 300 5 9 17 250 3 11 64 100 2",
         tu_tool("dump-logits"), model, out);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
}

/* The first shard loads the whole model: logits bit for bit those of the unsplit file. */
START_TEST(test_same_logits) {
    const char *ones[2] = {oss_one, g2_one}, *stems[2] = {oss_stem, g2_stem};
    const int ns[2] = {oss_n, g2_n};
    for (int i = 0; i < 2; i++) {
        char first[700], a[700], b[700];
        shard_path(first, sizeof first, stems[i], 1, ns[i]);
        sfmt(a, sizeof a, "%s/logits-one-%d.f32", dir, i);
        sfmt(b, sizeof b, "%s/logits-split-%d.f32", dir, i);
        logits(ones[i], a);
        logits(first, b);
        struct stat st;
        ck_assert_int_eq(stat(a, &st), 0);
        ck_assert_int_gt(st.st_size, 0);
        ck_assert_msg(same_file(a, b), "model %d", i);
    }
}
END_TEST

/* The same text from the CLI, mapped, read (--no-mmap) and locked (--mlock); -v names the
 * shards and prints the memory plan; in a pipe no progress bar (no carriage return). */
START_TEST(test_generate) {
    char first[700];
    shard_path(first, sizeof first, oss_stem, 1, oss_n);
    tu_proc ref, p;
    tu_gptc_sh(&ref, NULL, "-m %s -p Hello -n 8 --temp 0 --raw", oss_one);
    ck_assert_msg(ref.status == 0, "%s", ref.err);
    ck_assert_uint_gt(ref.out_len, 0);
    const char *flags[] = {"", "--no-mmap", "--mlock", "-v"};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 8 --temp 0 --raw %s", first, flags[i]);
        if (p.status != 0 && !strcmp(flags[i], "--mlock")) {
            /* refused only where mlock is really limited (tu_mlock_limited), with one error
             * line that names the limit */
            unsigned long long total = 0;
            for (int k = 1; k <= oss_n; k++) {
                char sh[700];
                struct stat st;
                shard_path(sh, sizeof sh, oss_stem, k, oss_n);
                ck_assert_int_eq(stat(sh, &st), 0);
                total += (unsigned long long)st.st_size;
            }
            ck_assert_msg(tu_mlock_limited(total) && p.status == 3, "exit %d: %s", p.status, p.err);
            tu_assert_one_error(&p, 3, "--mlock");
            ck_assert_ptr_nonnull(strstr(p.err, "ulimit -l"));
            tu_proc_free(&p);
            continue;
        }
        ck_assert_msg(p.status == 0, "%s: %s", flags[i], p.err);
        ck_assert_str_eq(p.out, ref.out);
        ck_assert_msg(!strchr(p.err, '\r') && !strstr(p.err, "loading ["), "%s", p.err);
        if (!strcmp(flags[i], "-v")) {
            char want[64];
            sfmt(want, sizeof want, "(%d shards)", oss_n);
            ck_assert_msg(strstr(p.err, want), "%s", p.err);
            ck_assert_msg(strstr(p.err, "memory plan (cpu):"), "%s", p.err);
            ck_assert_msg(strstr(p.err, "weights in host memory"), "%s", p.err);
            ck_assert_msg(strstr(p.err, "loaded in "), "%s", p.err);
        }
        tu_proc_free(&p);
    }
    tu_proc_free(&ref);
}
END_TEST

/* inspect: the model as a whole (the unsplit file's tensor count and parameters) plus a line per
 * shard with its path, size and tensor count; JSON the same as a "shards" array. */
START_TEST(test_inspect) {
    char first[700];
    shard_path(first, sizeof first, g2_stem, 1, g2_n);
    gguf_file *u = NULL;
    ck_assert_int_eq(gguf_open(g2_one, &u, NULL), GPTC_OK);
    tu_proc p;
    tu_gptc_sh(&p, NULL, "inspect %s --json", first);
    ck_assert_msg(p.status == 0, "%s", p.err);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tensor_count")->valuedouble, gguf_n_tensors(u));
    cJSON *sh = cJSON_GetObjectItem(j, "shards");
    ck_assert_int_eq(cJSON_GetArraySize(sh), g2_n);
    double sum = 0;
    for (int k = 0; k < g2_n; k++) {
        char sp[700];
        shard_path(sp, sizeof sp, g2_stem, k + 1, g2_n);
        cJSON *e = cJSON_GetArrayItem(sh, k);
        ck_assert_str_eq(cJSON_GetObjectItem(e, "file")->valuestring, sp);
        struct stat st;
        ck_assert_int_eq(stat(sp, &st), 0);
        ck_assert_int_eq(cJSON_GetObjectItem(e, "size")->valuedouble, (double)st.st_size);
        gguf_file *f = NULL;
        ck_assert_int_eq(gguf_open(sp, &f, NULL), GPTC_OK);
        ck_assert_int_eq(cJSON_GetObjectItem(e, "tensor_count")->valuedouble,
                         (double)gguf_n_tensors(f));
        sum += (double)gguf_n_tensors(f);
        gguf_close(f);
    }
    ck_assert_int_eq(sum, gguf_n_tensors(u));
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tensors"), 0);
    ck_assert_int_eq(cJSON_GetObjectItem(t0, "shard")->valuedouble, 1);
    cJSON_Delete(j);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "inspect %s", first);
    ck_assert_msg(p.status == 0, "%s", p.err);
    char want[800];
    sfmt(want, sizeof want, "shards: %d files", g2_n);
    ck_assert_msg(strstr(p.out, want), "%s", p.out);
    shard_path(first, sizeof first, g2_stem, g2_n, g2_n);
    sfmt(want, sizeof want, "  %d: \"%s\"", g2_n, first);
    ck_assert_msg(strstr(p.out, want), "%s", p.out);
    sfmt(want, sizeof want, "tensors: %llu\n", (unsigned long long)gguf_n_tensors(u));
    ck_assert_msg(strstr(p.out, want), "%s", p.out);
    tu_proc_free(&p);
    gguf_close(u);
}
END_TEST

/* ---- broken shard sets ------------------------------------------------------------------------
 */

/* A hand-made shard: split keys (any of them may be left out with a negative value), the model's
 * metadata when `meta`, and F32 tensors named in `names` (comma separated), 8 floats each. */
static void shard(const char *path, int meta, int no, int count, int tcount, const char *names) {
    gguf_writer *w = gguf_writer_new();
    if (meta) {
        gguf_writer_add_str(w, "general.architecture", "gpt2", 4);
        gguf_writer_add_str(w, "general.name", "hostile", 7);
    }
    if (no >= 0) gguf_writer_add_u16(w, "split.no", (uint16_t)no);
    if (count >= 0) gguf_writer_add_u16(w, "split.count", (uint16_t)count);
    if (tcount >= 0) gguf_writer_add_i32(w, "split.tensors.count", tcount);
    static const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t ne[1] = {8};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", names);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        ck_assert_int_eq(gguf_writer_add_tensor(w, t, GGML_TYPE_F32, 1, ne, v), GPTC_OK);
    gptc_error err;
    ck_assert_msg(gguf_writer_write(w, path, &err) == GPTC_OK, "%s", err.msg);
    gguf_writer_free(w);
}

/* A fresh folder with shards h-0000k-of-00003.gguf made by the caller; returns the stem. */
static void case_dir(char *stem, size_t cap, const char *name) {
    char d[600];
    sfmt(d, sizeof d, "%s/%s", dir, name);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    sfmt(stem, cap, "%s/h", d);
}

/* -m and inspect on `path`: exit 2, one error line, containing each of the `want` strings. */
static void refused(const char *path, const char *want1, const char *want2) {
    const char *cmds[] = {"-m %s -p hi -n 1", "inspect %s"};
    for (int c = 0; c < 2; c++) {
        char args[800];
        sfmt(args, sizeof args, cmds[c], path);
        tu_proc p;
        tu_gptc_sh(&p, NULL, "%s", args);
        tu_assert_one_error(&p, 2, args);
        ck_assert_msg(strstr(p.err, want1), "%s: %s (want %s)", args, p.err, want1);
        if (want2) ck_assert_msg(strstr(p.err, want2), "%s: %s (want %s)", args, p.err, want2);
        tu_proc_free(&p);
    }
}

START_TEST(test_broken_sets) {
    char stem[700], s1[800], s2[800], s3[800];
#define PATHS()                                                                                    \
    do {                                                                                           \
        shard_path(s1, sizeof s1, stem, 1, 3);                                                     \
        shard_path(s2, sizeof s2, stem, 2, 3);                                                     \
        shard_path(s3, sizeof s3, stem, 3, 3);                                                     \
    } while (0)
    /* a sound set loads as far as the split goes: inspect describes it */
    case_dir(stem, sizeof stem, "ok");
    PATHS();
    shard(s1, 1, 0, 3, 4, "a,b");
    shard(s2, 0, 1, 3, 4, "c");
    shard(s3, 0, 2, 3, 4, "d");
    tu_proc p;
    tu_gptc_sh(&p, NULL, "inspect %s", s1);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "tensors: 4\n"));
    tu_proc_free(&p);
    /* a later shard given: the first named */
    refused(s2, "shard 2 of 3", s1);
    refused(s3, "shard 3 of 3", s1);

    /* a missing shard: named */
    case_dir(stem, sizeof stem, "missing");
    PATHS();
    shard(s1, 1, 0, 3, 4, "a,b");
    shard(s3, 0, 2, 3, 4, "d");
    refused(s1, "missing shard", s2);

    /* a shard of another split: split.count differs */
    case_dir(stem, sizeof stem, "count");
    PATHS();
    shard(s1, 1, 0, 3, 4, "a,b");
    shard(s2, 0, 1, 4, 4, "c");
    shard(s3, 0, 2, 3, 4, "d");
    refused(s1, s2, "split.count is 4");

    /* out of order: the second file says it is the third */
    case_dir(stem, sizeof stem, "order");
    PATHS();
    shard(s1, 1, 0, 3, 4, "a,b");
    shard(s2, 0, 2, 3, 4, "c");
    shard(s3, 0, 1, 3, 4, "d");
    refused(s1, s2, "split.no");

    /* duplicated: the third file is a copy of the second */
    case_dir(stem, sizeof stem, "dup");
    PATHS();
    shard(s1, 1, 0, 3, 4, "a,b");
    shard(s2, 0, 1, 3, 4, "c");
    shard(s3, 0, 1, 3, 4, "c");
    refused(s1, s3, "split.no");

    /* a tensor in two shards */
    case_dir(stem, sizeof stem, "twice");
    PATHS();
    shard(s1, 1, 0, 3, 4, "a,b");
    shard(s2, 0, 1, 3, 4, "c");
    shard(s3, 0, 2, 3, 4, "b");
    refused(s1, "tensor b is in two shards", s3);

    /* an extra tensor: 5 where split.tensors.count says 4 */
    case_dir(stem, sizeof stem, "extra");
    PATHS();
    shard(s1, 1, 0, 3, 4, "a,b");
    shard(s2, 0, 1, 3, 4, "c,e");
    shard(s3, 0, 2, 3, 4, "d");
    refused(s1, "split.tensors.count is 4", "hold 5 tensors");

    /* split.tensors.count larger than what the shards hold */
    case_dir(stem, sizeof stem, "fewer");
    PATHS();
    shard(s1, 1, 0, 3, 9, "a,b");
    shard(s2, 0, 1, 3, 9, "c");
    shard(s3, 0, 2, 3, 9, "d");
    refused(s1, "split.tensors.count is 9", "hold 4 tensors");

    /* a later shard that disagrees on split.tensors.count; one without split keys */
    case_dir(stem, sizeof stem, "tcount");
    PATHS();
    shard(s1, 1, 0, 3, 4, "a,b");
    shard(s2, 0, 1, 3, 5, "c");
    shard(s3, 0, 2, 3, 4, "d");
    refused(s1, s2, "split.tensors.count is 5");
    shard(s2, 1, -1, -1, -1, "c");
    refused(s1, s2, "not a shard");

    /* the first shard under a name that does not lead to the others */
    char odd[800];
    sfmt(odd, sizeof odd, "%s/odd.gguf", dir);
    shard(odd, 1, 0, 3, 4, "a,b");
    refused(odd, "odd-00001-of-00003.gguf", NULL);
    /* split.count 0; a split model without split.no or split.tensors.count */
    shard(odd, 1, 0, 0, 4, "a,b");
    refused(odd, "split.count is 0", NULL);
    shard(odd, 1, -1, 3, 4, "a,b");
    refused(odd, "split.no is missing", NULL);
    shard(odd, 1, 0, 3, -1, "a,b");
    refused(odd, "split.tensors.count", NULL);
#undef PATHS
}
END_TEST

/* A shard of the real model swapped for the same shard of a split with another limit. */
START_TEST(test_mixed_splits) {
    char stem[700], other[700], from[800], to[800];
    case_dir(stem, sizeof stem, "mixed");
    for (int k = 1; k <= g2_n; k++) {
        shard_path(from, sizeof from, g2_stem, k, g2_n);
        shard_path(to, sizeof to, stem, k, g2_n);
        copy_file(from, to);
    }
    sfmt(other, sizeof other, "%s/other", dir);
    int n = gen("--preset tiny-gpt2 --seed 1 --vocab 1000 --split-max-size 200K", other);
    ck_assert_int_ne(n, g2_n);
    shard_path(from, sizeof from, other, 2, n);
    shard_path(to, sizeof to, stem, 2, g2_n);
    copy_file(from, to);
    shard_path(from, sizeof from, stem, 1, g2_n);
    refused(from, to, "split.count");
}
END_TEST

/* ---- a shard truncated while gptc runs ----------------------------------------------------------
 */

/* One chat answer, then `victim` is truncated, then a second line: exit status, stderr in err. */
static int chat_then_truncate(const char *model, const char *victim, char *err, size_t cap) {
    int in[2], out[2], er[2];
    ck_assert(pipe(in) == 0 && pipe(out) == 0 && pipe(er) == 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(er[1], 2);
        close(in[1]);
        close(out[0]);
        close(er[0]);
        execl(tu_gptc(), "gptc", "chat", "-m", model, "-n", "3", "--temp", "0", "-q", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(er[1]);
    ck_assert_int_eq(write(in[1], "Hello\n", 6), 6);
    ck_assert_msg(tu_read_until_nl(out[0], 60), "no first answer");
    ck_assert_int_eq(truncate(victim, 4096), 0);
    ck_assert_int_eq(write(in[1], "More\n", 5), 5);
    close(in[1]);
    while (tu_read_until_nl(out[0], 60)) {
    }
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(er[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(out[0]);
    close(er[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_truncated_shard) {
    char stem[700], first[800], victim[800], err[4096];
    case_dir(stem, sizeof stem, "trunc");
    for (int k = 1; k <= g2_n; k++) {
        char from[800], to[800];
        shard_path(from, sizeof from, g2_stem, k, g2_n);
        shard_path(to, sizeof to, stem, k, g2_n);
        copy_file(from, to);
    }
    shard_path(first, sizeof first, stem, 1, g2_n);
    shard_path(victim, sizeof victim, stem, g2_n - 1, g2_n); /* a layer's weights */
    int st = chat_then_truncate(first, victim, err, sizeof err);
    ck_assert_msg(st == 2, "exit %d, stderr: %s", st, err);
    ck_assert_msg(!strncmp(err, "gptc: error: ", 13) && strchr(err, '\n') == err + strlen(err) - 1,
                  "%s", err);
    ck_assert_msg(strstr(err, "truncated or rewritten") && strstr(err, victim), "%s", err);
}
END_TEST

int main(void) {
    sfmt(dir, sizeof dir, "%s/split", tu_tmpdir());
    mkdir(dir, 0755);
    /* a tiny MoE model with a small synthetic vocabulary, and a tiny GPT-2; each also split */
    const char *oss = "--preset tiny-gpt-oss --seed 3 --vocab 2000";
    const char *g2 = "--preset tiny-gpt2 --seed 1 --vocab 1000";
    char args[600];
    sfmt(oss_one, sizeof oss_one, "%s/oss.gguf", dir);
    sfmt(oss_stem, sizeof oss_stem, "%s/oss-split", dir);
    sfmt(g2_one, sizeof g2_one, "%s/g2.gguf", dir);
    sfmt(g2_stem, sizeof g2_stem, "%s/g2-split", dir);
    gen(oss, oss_one);
    sfmt(args, sizeof args, "%s --split-max-size 1M", oss);
    oss_n = gen(args, oss_stem);
    gen(g2, g2_one);
    sfmt(args, sizeof args, "%s --split-max-size 300K", g2);
    g2_n = gen(args, g2_stem);
    if (oss_n < 3 || g2_n < 3 || oss_n > MAX_SHARDS || g2_n > MAX_SHARDS) die("shard counts");
    Suite *s = suite_create("gguf_split");
    TCase *tc = tcase_create("split");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_layout_gpt_oss);
    tcase_add_test(tc, test_layout_gpt2);
    tcase_add_test(tc, test_same_logits);
    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_inspect);
    tcase_add_test(tc, test_broken_sets);
    tcase_add_test(tc, test_mixed_splits);
    tcase_add_test(tc, test_truncated_shard);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
