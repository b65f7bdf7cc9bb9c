/* test_cli_model_file.c — the model file and its neighbours (issue 16): a model truncated while
 * gptc runs is one error line and exit 2 (not SIGBUS), --no-mmap reads it into memory so that
 * truncation cannot hurt, --mlock locks it (VmLck), an unrelated tokenizer.json next to the
 * model is set aside with a warning (--tokenizer gguf forces the embedded vocabulary, a matching
 * one is used silently), llama.cpp's -ngl is accepted. Tiny random GPT-2 model (CPU). */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512];

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    char *d = tu_read_file(from, &n);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(tu_write_file(to, d, n), 0);
    free(d);
}

static void assert_one_error(const tu_proc *p) {
    ck_assert_msg(!strncmp(p->err, "gptc: error: ", 13), "stderr: %s", p->err);
    ck_assert_msg(strchr(p->err, '\n') == p->err + p->err_len - 1, "stderr: %s", p->err);
}

/* A plain chat answers one line, then the model file is truncated under it, then a second line
 * is sent. Returns the exit status; stderr in err. */
static int chat_then_truncate(const char *model, const char *extra, char *err, size_t cap) {
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
        execl(tu_gptc(), "gptc", "chat", "-m", model, "-n", "3", "--temp", "0", extra,
              (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(er[1]);
    ck_assert_int_eq(write(in[1], "Hello\n", 6), 6);
    ck_assert_msg(tu_read_until_nl(out[0], 60), "no first answer");
    ck_assert_int_eq(truncate(model, 4096), 0);
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

/* Issue 16.6: truncating the model under a running gptc killed it with SIGBUS (135). */
START_TEST(test_truncated_model) {
    char m[600], err[4096];
    snprintf(m, sizeof m, "%s/trunc.gguf", tu_tmpdir());
    copy_file(g2, m);
    int st = chat_then_truncate(m, "-q", err, sizeof err);
    ck_assert_msg(st == 2, "exit %d, stderr: %s", st, err);
    tu_proc p = {.err = err, .err_len = strlen(err)};
    assert_one_error(&p);
    ck_assert_msg(strstr(err, "truncated or rewritten"), "%s", err);
    ck_assert_ptr_nonnull(strstr(err, m));
    /* read into memory: the truncation does no harm */
    copy_file(g2, m);
    st = chat_then_truncate(m, "--no-mmap", err, sizeof err);
    ck_assert_msg(st == 0, "exit %d, stderr: %s", st, err);
    ck_assert_str_eq(err, "");
}
END_TEST

/* --no-mmap gives the same text as the mapping; the library reports no mapping then. --mlock
 * locks the file's bytes (VmLck of the process), or fails with one error line naming the limit
 * where RLIMIT_MEMLOCK is too small for an unprivileged user. */
START_TEST(test_no_mmap_mlock) {
    tu_proc a, b;
    tu_gptc_sh(&a, NULL, "-m %s -p Hello -n 8 --temp 0", g2);
    tu_gptc_sh(&b, NULL, "-m %s -p Hello -n 8 --temp 0 --no-mmap", g2);
    ck_assert_msg(a.status == 0 && b.status == 0, "%s %s", a.err, b.err);
    ck_assert_str_eq(a.out, b.out);
    tu_proc_free(&b);
    tu_gptc_sh(&b, NULL, "-m %s -p Hello -n 8 --temp 0 --mlock", g2);
    if (b.status == 0)
        ck_assert_str_eq(a.out, b.out);
    else {
        /* only where mlock is really limited: no CAP_IPC_LOCK (root in a container may lack it)
         * and a RLIMIT_MEMLOCK below the file's size */
        struct stat ms;
        ck_assert_int_eq(stat(g2, &ms), 0);
        ck_assert_msg(tu_mlock_limited((unsigned long long)ms.st_size) && b.status == 3,
                      "exit %d: %s", b.status, b.err);
        assert_one_error(&b);
        ck_assert_ptr_nonnull(strstr(b.err, "ulimit -l"));
    }
    tu_proc_free(&a);
    tu_proc_free(&b);

    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = g2;
    mp.backend = GPTC_BACKEND_CPU;
    gptc_model *m = NULL;
    gptc_error err = {0};
    const void *addr;
    ck_assert_int_eq(gptc_model_load(&mp, &m, &err), GPTC_OK);
    struct stat sb;
    ck_assert_int_eq(stat(g2, &sb), 0);
    ck_assert_uint_eq(gptc_model_mapping(m, &addr), (size_t)sb.st_size);
    ck_assert_ptr_nonnull(addr);
    gptc_model_free(m);
    mp.no_mmap = 1;
    ck_assert_int_eq(gptc_model_load(&mp, &m, &err), GPTC_OK);
    ck_assert_uint_eq(gptc_model_mapping(m, &addr), 0);
    gptc_model_free(m);
    mp.no_mmap = 0;
    mp.mlock = 1;
    gptc_status st = gptc_model_load(&mp, &m, &err);
    if (st == GPTC_OK && getenv("GPTC_ASAN")) {
        gptc_model_free(m); /* ASan's mlock does nothing (it says so): no VmLck to see */
    } else if (st == GPTC_OK) {
        char *status = tu_read_file("/proc/self/status", NULL);
        const char *l = status ? strstr(status, "VmLck:") : NULL;
        ck_assert_ptr_nonnull(l);
        long kb = strtol(l + 6, NULL, 10);
        ck_assert_int_ge(kb * 1024, (long)sb.st_size);
        free(status);
        gptc_model_free(m);
    } else { /* refused only where mlock is really limited */
        ck_assert_int_eq(st, GPTC_ERR_NOMEM);
        ck_assert_msg(tu_mlock_limited((unsigned long long)sb.st_size), "%s", err.msg);
        ck_assert_ptr_nonnull(strstr(err.msg, "ulimit -l"));
    }
}
END_TEST

/* Issue 16.9: a tokenizer.json next to the model that is not its vocabulary made every command
 * fail with exit 2 (even bench). */
START_TEST(test_unrelated_tokenizer_json) {
    char dir[600], m[700], tj[700];
    snprintf(dir, sizeof dir, "%s/tokdir", tu_tmpdir());
    mkdir(dir, 0755);
    snprintf(m, sizeof m, "%s/model.gguf", dir);
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    copy_file(g2, m);
    tu_proc want, p;
    tu_gptc_sh(&want, NULL, "-m %s -p Hello -n 6 --temp 0", g2);
    ck_assert_int_eq(want.status, 0);
    /* a hand-made 8-token vocabulary: not GPT-2's */
    const char *tiny =
        "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
        "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
        "\"trim_offsets\":true},\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}";
    ck_assert_int_eq(tu_write_file(tj, tiny, strlen(tiny)), 0);
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 6 --temp 0", m);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_str_eq(p.out, want.out); /* the GGUF's vocabulary */
    ck_assert_msg(!strncmp(p.err, "gptc: warning: ignoring ", 24) && strstr(p.err, tj) &&
                      strchr(p.err, '\n') == p.err + p.err_len - 1,
                  "%s", p.err);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "bench -m %s -p 8 -n 4 -r 1", m);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 6 --temp 0 --tokenizer gguf", m);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_str_eq(p.out, want.out);
    ck_assert_str_eq(p.err, ""); /* forced: nothing to warn about */
    tu_proc_free(&p);
    /* GPT-2's own tokenizer.json: the same vocabulary, used without a word */
    copy_file("test/data/tokenizer/gpt2/tokenizer.json", tj);
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 6 --temp 0", m);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_str_eq(p.out, want.out);
    ck_assert_str_eq(p.err, "");
    tu_proc_free(&p);
    /* --tokenizer gguf on a file without a vocabulary: a load error */
    tu_proc_free(&want);
}
END_TEST

/* Issue 16.15: llama.cpp's -ngl N. 0 = the CPU; any other count = the default placement. */
START_TEST(test_ngl) {
    tu_proc a, p;
    tu_gptc_sh(&a, NULL, "-m %s -p Hello -n 4 --temp 0", g2);
    ck_assert_int_eq(a.status, 0);
    const char *ok[] = {"-ngl 0", "-ngl 99", "--n-gpu-layers 12", "-ngl -1"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 4 --temp 0 %s --backend %s", g2, ok[i],
                   i == 0 ? "auto" : "cpu");
        ck_assert_msg(p.status == 0, "%s: %s", ok[i], p.err);
        ck_assert_str_eq(p.out, a.out);
        tu_proc_free(&p);
    }
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 4 -ngl 0 --backend cuda", g2);
    ck_assert_int_eq(p.status, 1);
    assert_one_error(&p);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 4 -ngl many", g2);
    ck_assert_int_eq(p.status, 1);
    assert_one_error(&p);
    tu_proc_free(&p);
    tu_proc_free(&a);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    Suite *s = suite_create("cli_model_file");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_truncated_model);
    tcase_add_test(tc, test_no_mmap_mlock);
    tcase_add_test(tc, test_unrelated_tokenizer_json);
    tcase_add_test(tc, test_ngl);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
