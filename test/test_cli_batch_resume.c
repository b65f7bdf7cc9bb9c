/* test_cli_batch_resume.c — gptc batch keeps results safe (issue 16): an output file that is not
 * gptc's is refused, never cut; a complete last record without its newline is kept; a record
 * cut by a kill is redone; duplicate ids give one rule whether the run was interrupted or not;
 * the output file is locked against a second run; lines without a seed sample differently but
 * reproducibly; a closed stdout ends the run quietly; batch --json is refused; -i - reads stdin.
 * Tiny random GPT-2 model (CPU). */
#include <cJSON.h>
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512];

static void path_in_tmp(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", tu_tmpdir(), name);
}

/* Runs "gptc batch -m G2 ARGS" through sh; returns the process. */
static void batch_sh(tu_proc *p, const char *stdin_data, const char *fmt, ...) {
    char args[3000], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s batch -m %s %s", tu_gptc(), g2, args);
    ck_assert_int_eq(tu_sh(cmd, stdin_data, stdin_data ? strlen(stdin_data) : 0, 120, p), 0);
}

static void write_str(const char *path, const char *s) {
    ck_assert_int_eq(tu_write_file(path, s, strlen(s)), 0);
}

/* exactly one line, "gptc: error: ..." */
static void assert_one_error(const tu_proc *p) {
    ck_assert_msg(!strncmp(p->err, "gptc: error: ", 13), "stderr: %s", p->err);
    ck_assert_msg(strchr(p->err, '\n') == p->err + p->err_len - 1, "stderr: %s", p->err);
}

/* The records of an output file as normalised lines ("ms" removed), sorted: a set to compare. */
typedef struct recs {
    char **v;
    int n;
} recs;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_recs(const char *path, recs *r) {
    memset(r, 0, sizeof *r);
    size_t len = 0;
    char *txt = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(txt);
    ck_assert_msg(len == 0 || txt[len - 1] == '\n', "%s does not end with a newline", path);
    r->v = calloc(4096, sizeof *r->v);
    for (char *save = NULL, *ln = strtok_r(txt, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(ln);
        ck_assert_msg(j != NULL, "%s: not JSON: %s", path, ln);
        cJSON_DeleteItemFromObject(j, "ms");
        ck_assert_int_lt(r->n, 4096);
        r->v[r->n++] = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
    }
    free(txt);
    qsort(r->v, (size_t)r->n, sizeof *r->v, cmp_str);
}

static void free_recs(recs *r) {
    for (int i = 0; i < r->n; i++) free(r->v[i]);
    free(r->v);
}

static int count_lines(const char *path) {
    char *t = tu_read_file(path, NULL);
    int n = 0;
    for (char *q = t; q && *q; q++) n += *q == '\n';
    free(t);
    return n;
}

/* The text of the record with string id `id` (malloc'd), NULL when none. */
static char *text_of(const char *path, const char *id, int *count) {
    char *txt = tu_read_file(path, NULL);
    ck_assert_ptr_nonnull(txt);
    char *found = NULL;
    *count = 0;
    for (char *save = NULL, *ln = strtok_r(txt, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(ln);
        ck_assert_ptr_nonnull(j);
        cJSON *i = cJSON_GetObjectItem(j, "id");
        cJSON *t = cJSON_GetObjectItem(j, "text");
        if (cJSON_IsString(i) && !strcmp(i->valuestring, id) && cJSON_IsString(t)) {
            (*count)++;
            free(found);
            found = strdup(t->valuestring);
        }
        cJSON_Delete(j);
    }
    free(txt);
    return found;
}

static const char *two_lines = "{\"id\":\"p0\",\"prompt\":\"Hello\"}\n"
                               "{\"id\":\"p1\",\"prompt\":\"World\"}\n";

/* Issue 16.1: "my notes\nlast line" lost its last line, exit 0. */
START_TEST(test_foreign_output_refused) {
    char in[600], out[600];
    path_in_tmp(in, sizeof in, "f-in.jsonl");
    path_in_tmp(out, sizeof out, "notes.txt");
    write_str(in, two_lines);
    const char *cases[] = {
        "my notes\nlast line", /* text, no final newline */
        "my notes\n",          /* text */
        "{\"id\":\"p0\",\"text\":\"x\",\"tokens\":1,\"finish_reason\":\"stop\"}\nlast line",
        "[1,2,3]\n",           /* JSON, but not a record */
        "{\"note\":\"mine\"}", /* JSON object, no newline */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_str(out, cases[i]);
        tu_proc p;
        batch_sh(&p, NULL, "-i %s -o %s -n 2 --temp 0", in, out);
        ck_assert_msg(p.status == 1, "case %zu: exit %d (%s)", i, p.status, p.err);
        assert_one_error(&p);
        ck_assert_msg(strstr(p.err, "not a gptc batch record"), "%s", p.err);
        tu_proc_free(&p);
        char *now = tu_read_file(out, NULL);
        ck_assert_str_eq(now, cases[i]); /* untouched */
        free(now);
    }
}
END_TEST

/* A complete record without its newline is gptc's and kept (not redone); a record cut short is
 * removed and redone. */
START_TEST(test_last_line_repair) {
    char in[600], out[600];
    path_in_tmp(in, sizeof in, "r-in.jsonl");
    path_in_tmp(out, sizeof out, "r-out.jsonl");
    write_str(in, two_lines);
    const char *rec0 = "{\"id\":\"p0\",\"text\":\"kept\",\"tokens\":1,\"finish_reason\":\"stop\","
                       "\"ms\":1}";
    write_str(out, rec0);
    tu_proc p;
    batch_sh(&p, NULL, "-i %s -o %s -n 2 --temp 0", in, out);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    int n;
    char *t = text_of(out, "p0", &n);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(t, "kept");
    free(t);
    free(text_of(out, "p1", &n));
    ck_assert_int_eq(n, 1);
    char *all = tu_read_file(out, NULL);
    ck_assert(!strncmp(all, rec0, strlen(rec0)) && all[strlen(rec0)] == '\n');
    free(all);
    ck_assert_int_eq(count_lines(out), 2);

    /* a record cut by a kill after a complete one */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\n{\"id\":\"p1\",\"text\":\"cut sho", rec0);
    write_str(out, buf);
    batch_sh(&p, NULL, "-i %s -o %s -n 2 --temp 0", in, out);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    free(text_of(out, "p1", &n));
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(count_lines(out), 2);
    recs r;
    read_recs(out, &r); /* every line parses */
    ck_assert_int_eq(r.n, 2);
    free_recs(&r);
}
END_TEST

/* Issue 16.2: duplicate ids. An interrupted run resumed gives the same records as one
 * uninterrupted run: the later line with a used id is an error record, in both. The records of
 * an interrupted run (--parallel 1) are a prefix of the full run's, in input order. */
START_TEST(test_duplicates_resume_same_set) {
    char in[600], full[600], part[600];
    path_in_tmp(in, sizeof in, "d-in.jsonl");
    path_in_tmp(full, sizeof full, "d-full.jsonl");
    path_in_tmp(part, sizeof part, "d-part.jsonl");
    const char *input = "{\"id\":\"a\",\"prompt\":\"one\"}\n"
                        "{\"id\":\"b\",\"prompt\":\"two\"}\n"
                        "{\"id\":\"a\",\"prompt\":\"three\"}\n"
                        "not json\n"
                        "{\"id\":\"c\",\"prompt\":\"four\"}\n"
                        "{\"id\":\"b\",\"prompt\":\"five\",\"temperature\":\"hot\"}\n"
                        "{\"id\":7,\"prompt\":\"six\"}\n"
                        "{\"id\":\"7\",\"prompt\":\"seven\"}\n"
                        "{\"id\":7,\"prompt\":\"eight\"}\n";
    write_str(in, input);
    tu_proc p;
    batch_sh(&p, NULL, "-i %s -o %s -n 3 -s 11", in, full);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    recs want;
    read_recs(full, &want);
    ck_assert_int_eq(want.n, 9); /* one record per line */
    /* the duplicates: lines 3 (a) and 9 (7) are errors naming the first line; line 6 is bad
     * anyway; "7" (a string) is not 7 (a number) */
    int dup3 = 0, dup9 = 0;
    for (int i = 0; i < want.n; i++) {
        dup3 += strstr(want.v[i], "\"line\":3") && strstr(want.v[i], "duplicate id") &&
                strstr(want.v[i], "line 1");
        dup9 += strstr(want.v[i], "\"line\":9") && strstr(want.v[i], "duplicate id") &&
                strstr(want.v[i], "line 7");
    }
    ck_assert_int_eq(dup3, 1);
    ck_assert_int_eq(dup9, 1);
    /* interrupted after k records, then resumed */
    char *txt = tu_read_file(full, NULL);
    for (int k = 0; k <= 9; k++) {
        const char *q = txt;
        for (int i = 0; i < k; i++) q = strchr(q, '\n') + 1;
        ck_assert_int_eq(tu_write_file(part, txt, (size_t)(q - txt)), 0);
        batch_sh(&p, NULL, "-i %s -o %s -n 3 -s 11", in, part);
        ck_assert_msg(p.status == 0, "k=%d: %s", k, p.err);
        tu_proc_free(&p);
        recs got;
        read_recs(part, &got);
        ck_assert_msg(got.n == want.n, "k=%d: %d records, want %d", k, got.n, want.n);
        for (int i = 0; i < want.n; i++)
            ck_assert_msg(!strcmp(got.v[i], want.v[i]), "k=%d: %s vs %s", k, got.v[i], want.v[i]);
        free_recs(&got);
    }
    free(txt);
    free_recs(&want);
}
END_TEST

/* Issue 16.3: a second run on the same -o stops at once, naming the first run's pid. */
START_TEST(test_output_locked) {
    char in[600], out[600];
    path_in_tmp(in, sizeof in, "l-in.jsonl");
    path_in_tmp(out, sizeof out, "l-out.jsonl");
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 400; i++) fprintf(f, "{\"id\":%d,\"prompt\":\"Story %d\"}\n", i, i);
    fclose(f);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        dup2(dn, 2);
        execl(tu_gptc(), "gptc", "batch", "-m", g2, "-i", in, "-o", out, "-n", "64", "--ignore-eos",
              "-c", "256", (char *)NULL);
        _exit(127);
    }
    double end = tu_now_s() + 60;
    while (count_lines(out) < 1 && tu_now_s() < end) usleep(20000);
    ck_assert_int_ge(count_lines(out), 1);
    tu_proc p;
    batch_sh(&p, NULL, "-i %s -o %s -n 64 --ignore-eos -c 256", in, out);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(p.status == 1, "exit %d: %s", p.status, p.err);
    assert_one_error(&p);
    char want[64];
    snprintf(want, sizeof want, "pid %ld", (long)pid);
    ck_assert_msg(strstr(p.err, want) != NULL, "no '%s' in %s", want, p.err);
    tu_proc_free(&p);
    /* the first run's records are all there once, nothing of the second */
    recs r;
    read_recs(out, &r);
    for (int i = 1; i < r.n; i++) ck_assert_str_ne(r.v[i - 1], r.v[i]);
    free_recs(&r);
}
END_TEST

/* Issue 16.4: identical prompts without a seed sample differently, reproducibly (a rerun,
 * --parallel, gives the same texts); a line's own seed is used as given. */
START_TEST(test_per_line_seeds) {
    char in[600], o1[600], o2[600], o3[600];
    path_in_tmp(in, sizeof in, "s-in.jsonl");
    path_in_tmp(o1, sizeof o1, "s-1.jsonl");
    path_in_tmp(o2, sizeof o2, "s-2.jsonl");
    path_in_tmp(o3, sizeof o3, "s-3.jsonl");
    write_str(in, "{\"id\":\"a\",\"prompt\":\"Once upon a time\"}\n"
                  "{\"id\":\"b\",\"prompt\":\"Once upon a time\"}\n"
                  "{\"id\":\"c\",\"prompt\":\"Once upon a time\"}\n"
                  "{\"id\":\"d\",\"prompt\":\"Once upon a time\"}\n"
                  "{\"id\":\"e\",\"prompt\":\"Once upon a time\",\"seed\":5}\n"
                  "{\"id\":\"f\",\"prompt\":\"Once upon a time\",\"seed\":5}\n");
    tu_proc p;
    batch_sh(&p, NULL, "-i %s -o %s -n 12 --ignore-eos --temp 1 -s 42", in, o1);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    batch_sh(&p, NULL, "-i %s -o %s -n 12 --ignore-eos --temp 1 -s 42", in, o2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    batch_sh(&p, NULL, "-i %s -o %s -n 12 --ignore-eos --temp 1 -s 42 --parallel 3", in, o3);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    const char *ids[] = {"a", "b", "c", "d", "e", "f"};
    char *t[6];
    for (int i = 0; i < 6; i++) {
        int n;
        t[i] = text_of(o1, ids[i], &n);
        ck_assert_int_eq(n, 1);
        char *t2 = text_of(o2, ids[i], &n), *t3 = text_of(o3, ids[i], &n);
        ck_assert_str_eq(t[i], t2);
        ck_assert_str_eq(t[i], t3);
        free(t2);
        free(t3);
    }
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 5; j++)
            ck_assert_msg(strcmp(t[i], t[j]), "%s and %s sampled the same: %s", ids[i], ids[j],
                          t[i]);
    ck_assert_str_eq(t[4], t[5]); /* the same explicit seed */
    for (int i = 0; i < 6; i++) free(t[i]);
}
END_TEST

/* Issue 16.11: batch -o - into a pipe whose reader went away ends quietly with exit 0 (as
 * one-shot generation does). */
START_TEST(test_closed_stdout) {
    char in[600], cmd[4096];
    path_in_tmp(in, sizeof in, "c-in.jsonl");
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 30; i++) fprintf(f, "{\"id\":%d,\"prompt\":\"Line %d\"}\n", i, i);
    fclose(f);
    const char *readers[] = {"true", "head -2 >/dev/null"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "{ %s batch -m %s -i %s -o - -n 8 --ignore-eos; echo \"rc=$?\" >&2; } | %s",
                 tu_gptc(), g2, in, readers[k]);
        tu_proc p;
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
        ck_assert_msg(!strcmp(p.err, "rc=0\n"), "| %s: stderr '%s'", readers[k], p.err);
        tu_proc_free(&p);
    }
}
END_TEST

/* Issue 16.15: batch --json (accepted and ignored) is a usage error; -i - reads stdin. */
START_TEST(test_json_flag_and_stdin_input) {
    char out[600];
    path_in_tmp(out, sizeof out, "j-out.jsonl");
    tu_proc p;
    batch_sh(&p, NULL, "-i - -o %s --json -n 2", out);
    ck_assert_int_eq(p.status, 1);
    assert_one_error(&p);
    tu_proc_free(&p);
    batch_sh(&p, two_lines, "-i - -o %s -n 2 --temp 0", out);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    int n;
    free(text_of(out, "p0", &n));
    ck_assert_int_eq(n, 1);
    free(text_of(out, "p1", &n));
    ck_assert_int_eq(n, 1);
    /* and to stdout */
    batch_sh(&p, two_lines, "-i - -o - -n 2 --temp 0");
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "\"id\":\"p1\""));
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    Suite *s = suite_create("cli_batch_resume");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_foreign_output_refused);
    tcase_add_test(tc, test_last_line_repair);
    tcase_add_test(tc, test_duplicates_resume_same_set);
    tcase_add_test(tc, test_output_locked);
    tcase_add_test(tc, test_per_line_seeds);
    tcase_add_test(tc, test_closed_stdout);
    tcase_add_test(tc, test_json_flag_and_stdin_input);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
