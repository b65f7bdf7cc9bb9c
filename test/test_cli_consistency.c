/* test_cli_consistency.c — one answer for one question across the commands (issue 16): token
 * counts (-n, --json, --timings, /stats agree), --no-stdin, llama.cpp's -s -1, tokenize --json
 * piped into detokenize, the README's detokenize example, the upper limit in range errors, one
 * file path per GGUF error, --top-p 0, output files that cannot be written (exit 3), SIGTERM
 * (143), bench's thread count, trailing data in a GGUF. Tiny random GPT-2 model (CPU). */
#include <cJSON.h>
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
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

static int count_str(const char *s, const char *needle) {
    int n = 0;
    for (const char *q = s; (q = strstr(q, needle)); q += strlen(needle)) n++;
    return n;
}

static void assert_one_error(const tu_proc *p) {
    ck_assert_msg(!strncmp(p->err, "gptc: error: ", 13), "stderr: %s", p->err);
    ck_assert_msg(strchr(p->err, '\n') == p->err + p->err_len - 1, "stderr: %s", p->err);
}

/* Issue 16.7: -n 10 --json said "tokens": 10 but "gen_tokens": 9. */
START_TEST(test_token_counts_agree) {
    tu_proc p;
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 10 --ignore-eos --temp 0 --json", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    cJSON *t = cJSON_GetObjectItem(j, "timings");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens")->valueint, 10);
    ck_assert_int_eq(cJSON_GetObjectItem(t, "gen_tokens")->valueint, 10);
    double ms = cJSON_GetObjectItem(t, "gen_ms")->valuedouble;
    double tps = cJSON_GetObjectItem(t, "gen_tps")->valuedouble;
    ck_assert(ms > 0);
    /* the rate is the same tokens over the same time (both rounded to 0.01) */
    ck_assert_msg(fabs(tps - 10 * 1000.0 / ms) <= 0.01 + 10 * 1000.0 / ms * (0.01 / ms),
                  "gen_tps %g vs 10 tokens / %g ms", tps, ms);
    cJSON_Delete(j);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 10 --ignore-eos --temp 0 --timings", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(strstr(p.err, "generation 10 tokens"), "%s", p.err);
    tu_proc_free(&p);
    tu_gptc_sh(&p, "Hello\n/stats\n", "chat -m %s -n 10 --ignore-eos --temp 0", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(strstr(p.err, "last answer: 10 tokens"), "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* Runs gptc with stdin the read end of a pipe that stays open (a writer that never finishes,
 * like `sleep 8 | gptc ...`); returns the exit status, or -1 when it did not end in `secs`. */
static int run_with_open_stdin(char *const argv[], double secs) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[1]);
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        dup2(dn, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[0]);
    double end = tu_now_s() + secs;
    int st = 0;
    pid_t r = 0;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 && tu_now_s() < end) usleep(20000);
    close(fds[1]);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Issue 16.8: with -p, stdin was read to its end whenever it was not a terminal. */
START_TEST(test_no_stdin) {
    char *argv[] = {(char *)tu_gptc(), "-m", g2, "-p", "Hello", "-n", "2", "--no-stdin", NULL};
    ck_assert_int_eq(run_with_open_stdin(argv, 30), 0);
    /* the stdin text is not appended */
    tu_proc a, b;
    tu_gptc_sh(&a, "EXTRA TEXT\n", "-m %s -p Hello -n 6 --temp 0 --no-stdin", g2);
    tu_gptc_sh(&b, NULL, "-m %s -p Hello -n 6 --temp 0", g2);
    ck_assert_msg(a.status == 0 && b.status == 0, "%s %s", a.err, b.err);
    ck_assert_str_eq(a.out, b.out);
    tu_proc_free(&a);
    tu_proc_free(&b);
    /* the documented loop idiom runs once per line */
    char cmd[3000];
    snprintf(cmd, sizeof cmd,
             "printf 'one\\ntwo\\nthree\\n' | while read -r l; do %s -m %s -p \"$l\" -n 1 "
             "--no-stdin >/dev/null && echo ran; done",
             tu_gptc(), g2);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &a), 0);
    ck_assert_int_eq(count_str(a.out, "ran\n"), 3);
    tu_proc_free(&a);
    /* --no-stdin without -p/-f off a terminal: nothing to generate from */
    tu_gptc_sh(&a, "text\n", "-m %s -n 2 --no-stdin", g2);
    ck_assert_int_eq(a.status, 1);
    assert_one_error(&a);
    tu_proc_free(&a);
}
END_TEST

/* Issue 16.15: llama.cpp's -s -1 (random seed) was refused. */
START_TEST(test_seed_minus_one) {
    tu_proc p;
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 3 -s -1", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 3 -s -2", g2);
    ck_assert_int_eq(p.status, 1);
    assert_one_error(&p);
    tu_proc_free(&p);
}
END_TEST

/* Issue 16.16: tokenize --json | detokenize failed. Issue 16.18: the README's detokenize
 * example used GPT-2 ids with the gpt-oss tokenizer. */
START_TEST(test_tokenize_json_detokenize) {
    const char *toks[] = {"test/data/tokenizer/gpt2/tokenizer.json",
                          ".cache/gpt-oss/tokenizer.json"};
    char cmd[3000];
    tu_proc p;
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 "printf 'Hello world, caf\\303\\251!' | %s tokenize --tokenizer %s --json | %s "
                 "detokenize --tokenizer %s",
                 tu_gptc(), toks[i], tu_gptc(), toks[i]);
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
        ck_assert_msg(p.status == 0, "%s", p.err);
        ck_assert_str_eq(p.out, "Hello world, caf\xc3\xa9!");
        tu_proc_free(&p);
    }
    /* a bad array: one error line, exit 1 */
    tu_gptc_sh(&p, "[15496, \"x\"]", "detokenize --tokenizer %s", toks[0]);
    ck_assert_int_eq(p.status, 1);
    assert_one_error(&p);
    tu_proc_free(&p);
    /* the README's example, run with gpt-oss's tokenizer.json (what README calls
     * tokenizer.json), prints what its comment or the tokenize line before it promises */
    char *readme = tu_read_file("README.md", NULL);
    ck_assert_ptr_nonnull(readme);
    int examples = 0;
    for (char *line = readme; (line = strstr(line, "| gptc detokenize --tokenizer tokenizer.json"));
         examples++) {
        while (line > readme && line[-1] != '\n' && line[-1]) line--;
        char *eol = strchr(line, '\n');
        *eol = 0;
        char *hash = strstr(line, "  #");
        if (hash) *hash = 0;
        /* gptc -> the built program, tokenizer.json -> gpt-oss's */
        char run[3000] = "";
        for (char *q = line; *q;) {
            if (!strncmp(q, "gptc ", 5)) {
                strcat(run, tu_gptc());
                strcat(run, " ");
                q += 5;
            } else if (!strncmp(q, "tokenizer.json", 14)) {
                strcat(run, toks[1]);
                q += 14;
            } else {
                strncat(run, q++, 1);
            }
        }
        ck_assert_int_eq(tu_sh(run, NULL, 0, 120, &p), 0);
        ck_assert_msg(p.status == 0, "%s: %s", run, p.err);
        ck_assert_msg(!strcmp(p.out, "Hello world") || !strcmp(p.out, "Hello world\n"),
                      "%s -> '%s'", run, p.out);
        tu_proc_free(&p);
        line = eol + 1;
    }
    ck_assert_int_ge(examples, 1);
    free(readme);
}
END_TEST

/* Issue 16.19: small inconsistencies. */
START_TEST(test_range_message_has_upper_limit) {
    char in[600];
    snprintf(in, sizeof in, "%s/np.jsonl", tu_tmpdir());
    const char *line = "{\"id\":1,\"prompt\":\"x\",\"n_predict\":1000000000000}\n";
    ck_assert_int_eq(tu_write_file(in, line, strlen(line)), 0);
    tu_proc p;
    tu_gptc_sh(&p, NULL, "batch -m %s -i %s -o -", g2, in);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(strstr(p.out, "\"n_predict\\\" must be an integer in [-1, 2^30]"), "%s", p.out);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_gguf_error_names_file_once) {
    /* block_count stored as a float: the reader's error already names the file */
    char m[600];
    snprintf(m, sizeof m, "%s/badtype.gguf", tu_tmpdir());
    size_t n = 0;
    char *d = tu_read_file(g2, &n);
    ck_assert_ptr_nonnull(d);
    char *k = memmem(d, n, "gpt2.block_count", 16);
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(k[16], 4); /* GGUF type 4: UINT32 */
    k[16] = 6;                  /* 6: FLOAT32, same size */
    ck_assert_int_eq(tu_write_file(m, d, n), 0);
    free(d);
    tu_proc p;
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 2", m);
    ck_assert_int_eq(p.status, 2);
    assert_one_error(&p);
    ck_assert_msg(count_str(p.err, m) == 1, "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_top_p_zero_is_greedy) {
    tu_proc a, b;
    tu_gptc_sh(&a, NULL, "-m %s -p Hello -n 8 --ignore-eos --temp 0", g2);
    tu_gptc_sh(&b, NULL, "-m %s -p Hello -n 8 --ignore-eos --temp 1 --top-p 0 -s 3", g2);
    ck_assert_msg(a.status == 0 && b.status == 0, "%s %s", a.err, b.err);
    ck_assert_str_eq(a.out, b.out);
    tu_proc_free(&a);
    tu_proc_free(&b);
    /* the same in a batch line */
    char in[600];
    snprintf(in, sizeof in, "%s/topp.jsonl", tu_tmpdir());
    const char *lines =
        "{\"id\":\"g\",\"prompt\":\"Hello\",\"temperature\":0}\n"
        "{\"id\":\"z\",\"prompt\":\"Hello\",\"temperature\":1,\"top_p\":0,\"seed\":9}\n";
    ck_assert_int_eq(tu_write_file(in, lines, strlen(lines)), 0);
    tu_gptc_sh(&a, NULL, "batch -m %s -i %s -o - -n 8 --ignore-eos", g2, in);
    ck_assert_msg(a.status == 0, "%s", a.err);
    char *nl = strchr(a.out, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    cJSON *j1 = cJSON_Parse(a.out), *j2 = cJSON_Parse(nl + 1);
    ck_assert(j1 && j2);
    ck_assert_str_eq(cJSON_GetObjectItem(j1, "text")->valuestring,
                     cJSON_GetObjectItem(j2, "text")->valuestring);
    cJSON_Delete(j1);
    cJSON_Delete(j2);
    tu_proc_free(&a);
}
END_TEST

START_TEST(test_output_write_failures) {
    /* a file that cannot be written (a full disk) is a runtime error for every output flag */
    char text[600];
    snprintf(text, sizeof text, "%s/ppl.txt", tu_tmpdir());
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 300; i++) fprintf(f, "the quick brown fox %d jumps. ", i);
    fclose(f);
    tu_proc p;
    const char *flags[] = {"--kl-base", "--dump-tokens"};
    for (int i = 0; i < 2; i++) {
        tu_gptc_sh(&p, NULL, "perplexity -m %s -f %s -c 128 --chunks 10 %s /dev/full", g2, text,
                   flags[i]);
        ck_assert_msg(p.status == 3, "%s: exit %d %s", flags[i], p.status, p.err);
        assert_one_error(&p);
        tu_proc_free(&p);
        /* one that cannot be opened is a usage error */
        tu_gptc_sh(&p, NULL, "perplexity -m %s -f %s -c 64 --chunks 2 %s /nonexistent/dir/x", g2,
                   text, flags[i]);
        ck_assert_msg(p.status == 1, "%s: exit %d %s", flags[i], p.status, p.err);
        tu_proc_free(&p);
    }
}
END_TEST

START_TEST(test_sigterm_143) {
    char in[600], out[600];
    snprintf(in, sizeof in, "%s/term.jsonl", tu_tmpdir());
    snprintf(out, sizeof out, "%s/term-out.jsonl", tu_tmpdir());
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
    for (;;) {
        char *t = tu_read_file(out, NULL);
        int has = t && strchr(t, '\n');
        free(t);
        if (has || tu_now_s() > end) break;
        usleep(20000);
    }
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 143, "status %d", st);
}
END_TEST

START_TEST(test_bench_thread_count) {
    tu_proc p;
    cpu_set_t set;
    CPU_ZERO(&set);
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    char want[32];
    snprintf(want, sizeof want, "| CPU | %d | tg4 |", CPU_COUNT(&set));
    tu_gptc_sh(&p, NULL, "bench -m %s -p 8 -n 4 -r 1", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(strstr(p.out, want), "no '%s' in %s", want, p.out);
    tu_proc_free(&p);
}
END_TEST

/* Issue 16.20: a GGUF that declares 0 tensors but carries 1.2 MB after its header. */
START_TEST(test_inspect_trailing_data) {
    char m[600];
    snprintf(m, sizeof m, "%s/trailing.gguf", tu_tmpdir());
    size_t n = 0;
    char *d = tu_read_file("test/fuzz/seeds-gguf/metadata.gguf", &n);
    ck_assert_ptr_nonnull(d);
    size_t extra = 1200 * 1000;
    char *big = calloc(1, n + extra);
    memcpy(big, d, n);
    memset(big + n, 0x5a, extra);
    ck_assert_int_eq(tu_write_file(m, big, n + extra), 0);
    free(big);
    free(d);
    tu_proc p;
    tu_gptc_sh(&p, NULL, "inspect %s --json", m);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(!strncmp(p.err, "gptc: warning: ", 15) && strstr(p.err, "trailing data"), "%s",
                  p.err);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tensor_count")->valueint, 0);
    /* metadata.gguf ends at its aligned data offset: every appended byte is trailing */
    ck_assert_int_eq(cJSON_GetObjectItem(j, "data_offset")->valueint, (int)n);
    ck_assert_int_eq((long)cJSON_GetObjectItem(j, "trailing_bytes")->valuedouble, (long)extra);
    cJSON_Delete(j);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "inspect %s --strict", m);
    ck_assert_int_eq(p.status, 2);
    assert_one_error(&p);
    ck_assert_int_eq((int)p.out_len, 0);
    tu_proc_free(&p);
    /* the file as written: no warning */
    tu_gptc_sh(&p, NULL, "inspect test/fuzz/seeds-gguf/metadata.gguf --strict");
    ck_assert_msg(p.status == 0 && p.err_len == 0, "%s", p.err);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "inspect %s --strict", g2);
    ck_assert_msg(p.status == 0 && p.err_len == 0, "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    Suite *s = suite_create("cli_consistency");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_token_counts_agree);
    tcase_add_test(tc, test_no_stdin);
    tcase_add_test(tc, test_seed_minus_one);
    tcase_add_test(tc, test_tokenize_json_detokenize);
    tcase_add_test(tc, test_range_message_has_upper_limit);
    tcase_add_test(tc, test_gguf_error_names_file_once);
    tcase_add_test(tc, test_top_p_zero_is_greedy);
    tcase_add_test(tc, test_output_write_failures);
    tcase_add_test(tc, test_sigterm_143);
    tcase_add_test(tc, test_bench_thread_count);
    tcase_add_test(tc, test_inspect_trailing_data);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
