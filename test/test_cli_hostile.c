/* test_cli_hostile.c — the program under hostile input, as a user runs it: FIFOs, directories,
 * endless devices, a full or closed stdout, a tokenizer that does not fit the model, NaN
 * hyperparameters, bad batch fields. Every case must end (no hang) with the documented exit code
 * and exactly one "gptc: error: ..." line on stderr (or quietly, where that is the policy).
 * Each test is a regression test for a bug found by QA. Tiny random-weight models (CPU). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512];        /* GPT-2 architecture, synthetic 300-token vocabulary */
static char oss[512];       /* gpt-oss with the o200k vocabulary (201088 rows) */
static char small_oss[512]; /* gpt-oss, 1 layer, synthetic 400-token vocabulary */
/* scratch folder of the (forked) test process, removed when it exits */
#define dir tu_tmpdir()

/* Runs `sh -c "GPTC ARGS"` (stdin: stdin_data, or /dev/null) with a 30 s limit. */
static void gptc_sh(tu_proc *p, const char *stdin_data, const char *fmt, ...) {
    va_list ap; /* 30 s: a hostile input must not make gptc hang */
    va_start(ap, fmt);
    tu_gptc_vsh(p, 30, NULL, stdin_data, fmt, ap);
    va_end(ap);
}

/* The process ended (no hang, no signal) with `status` and exactly one error line containing
 * `what`. */
static void expect_error(tu_proc *p, int status, const char *what) {
    ck_assert_msg(p->status != 124, "timed out (hang)");
    ck_assert_msg(!p->signalled, "killed by signal %d", p->signalled);
    ck_assert_msg(p->status == status, "exit %d, expected %d; stderr: %s", p->status, status,
                  p->err);
    ck_assert_msg(!strncmp(p->err, "gptc: error: ", 13), "stderr: %s", p->err);
    const char *nl = strchr(p->err, '\n');
    ck_assert_msg(nl && nl[1] == 0, "not exactly one line: %s", p->err);
    ck_assert_msg(strstr(p->err, what) != NULL, "'%s' not in: %s", what, p->err);
}

/* GPT-2's byte-to-unicode map (the byte-level BPE alphabet), written out independently. */
static unsigned byte_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return (unsigned)b;
    unsigned n = 0;
    for (int k = 0; k < b; k++)
        if (!((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || k >= 174)) n++;
    return 256 + n;
}

/* A byte-level tokenizer.json with only the 256 byte tokens (ids = byte values), no merges. */
static void write_bytes_tokenizer(const char *path) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
          "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
          "\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,"
          "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,"
          "\"use_regex\":true},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
          "\"continuing_subword_prefix\":\"\",\"end_of_word_suffix\":\"\",\"fuse_unk\":false,"
          "\"byte_fallback\":false,\"vocab\":{",
          f);
    for (int b = 0; b < 256; b++) {
        unsigned cp = byte_cp(b);
        char u[4];
        int n;
        if (cp < 0x80) {
            u[0] = (char)cp;
            n = 1;
        } else {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
            n = 2;
        }
        fprintf(f, "%s\"%s%.*s\":%d", b ? "," : "", (cp == '"' || cp == '\\') ? "\\" : "", n, u, b);
    }
    fputs("},\"merges\":[]}}", f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Bug: opening a FIFO with no writer blocked forever (-m, --tokenizer, -f, -i). */
START_TEST(test_fifo_inputs) {
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    tu_proc p;
    gptc_sh(&p, NULL, "-m %s -p hi -n 1", fifo);
    expect_error(&p, 2, "not a regular file");
    tu_proc_free(&p);
    gptc_sh(&p, NULL, "inspect %s", fifo);
    expect_error(&p, 2, "not a regular file");
    tu_proc_free(&p);
    gptc_sh(&p, NULL, "-m %s --tokenizer %s -p hi -n 1", g2, fifo);
    expect_error(&p, 2, "invalid JSON");
    tu_proc_free(&p);
    /* an empty FIFO is an empty prompt file: -f ends (here with the one token asked for) */
    gptc_sh(&p, NULL, "-m %s -f %s -n 1 -t 1 -s 1", g2, fifo);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    tu_proc_free(&p);
    gptc_sh(&p, NULL, "batch -m %s -i %s -o %s/fifo-out.jsonl -t 1", g2, fifo, dir);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    tu_proc_free(&p);
    /* a FIFO whose writer is already there is read normally (as with -f <(cmd) in bash): the
     * prompt is "hello", not the empty prompt (one BOS token), also when the writer's bytes come
     * only after gptc opened it. The test holds a read end so that the writer's open returns at
     * once: the writer is connected before gptc starts, whatever the machine's speed. (A writer
     * that comes only after gptc opened the FIFO finds no reader: that ordering is the "no
     * writer" case above.) */
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_ge(rfd, 0);
    int wfd = open(fifo, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(wfd, 0);
    pid_t writer = fork();
    ck_assert_int_ge(writer, 0);
    if (writer == 0) {
        usleep(300000);
        _exit(write(wfd, "hello", 5) == 5 ? 0 : 1);
    }
    close(wfd);
    gptc_sh(&p, NULL, "-m %s -f %s -n 1 -t 1 -s 1 --json", g2, fifo);
    int st = 0;
    waitpid(writer, &st, 0);
    close(rfd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer status %d", st);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "\"prompt_tokens\":"));
    ck_assert_ptr_null(strstr(p.out, "\"prompt_tokens\":1,"));
    tu_proc_free(&p);
    unlink(fifo);
}
END_TEST

/* Bug: --tokenizer DIR said "out of memory" (exit 3); -f DIR / batch -o DIR said "read error". */
START_TEST(test_directory_inputs) {
    tu_proc p;
    gptc_sh(&p, NULL, "-m %s --tokenizer %s -p hi -n 1", g2, dir);
    expect_error(&p, 2, "is a directory");
    tu_proc_free(&p);
    gptc_sh(&p, NULL, "-m %s -f %s -n 1", g2, dir);
    expect_error(&p, 1, "is a directory");
    tu_proc_free(&p);
    gptc_sh(&p, NULL, "-m %s", dir);
    expect_error(&p, 2, "is a directory");
    tu_proc_free(&p);
    char in[600];
    snprintf(in, sizeof in, "%s/dir-in.jsonl", dir);
    ck_assert_int_eq(tu_write_file(in, "{\"id\":1,\"prompt\":\"a\"}\n", 22), 0);
    gptc_sh(&p, NULL, "batch -m %s -i %s -o %s -n 1", g2, in, dir);
    expect_error(&p, 1, "is a directory");
    tu_proc_free(&p);
}
END_TEST

/* Bug: batch -o /dev/full read /dev/full "to resume" forever (endless zeros: hang, then OOM).
 * Now the write fails: exit 3, one line. */
START_TEST(test_batch_devfull) {
    char in[600];
    snprintf(in, sizeof in, "%s/full-in.jsonl", dir);
    ck_assert_int_eq(tu_write_file(in, "{\"id\":1,\"prompt\":\"a\"}\n", 22), 0);
    tu_proc p;
    gptc_sh(&p, NULL, "batch -m %s -i %s -o /dev/full -n 2 -t 1", g2, in);
    expect_error(&p, 3, "No space left on device");
    tu_proc_free(&p);
}
END_TEST

/* Bug: -i and -o naming the same file marked every prompt "done" and did nothing (exit 0). */
START_TEST(test_batch_same_file) {
    char f[600], link[600];
    const char *txt = "{\"id\":1,\"prompt\":\"a\"}\n";
    snprintf(f, sizeof f, "%s/same.jsonl", dir);
    snprintf(link, sizeof link, "%s/same-link.jsonl", dir);
    ck_assert_int_eq(tu_write_file(f, txt, strlen(txt)), 0);
    unlink(link);
    ck_assert_int_eq(symlink(f, link), 0);
    tu_proc p;
    gptc_sh(&p, NULL, "batch -m %s -i %s -o %s -n 1", g2, f, link);
    expect_error(&p, 1, "same file");
    tu_proc_free(&p);
    size_t len;
    char *after = tu_read_file(f, &len);
    ck_assert_str_eq(after, txt);
    free(after);
}
END_TEST

/* Bug: "top_p": 0 passed the line check, then the session silently kept the previous line's
 * sampling; "seed": 1.5 / 1e30 and "n_predict": 2.5 were accepted (1e30 -> uint64 is UB).
 * Since issue 16.19, top-p 0 is valid everywhere (the most likely token alone), so line 1 is a
 * result (test_cli_consistency checks it is the greedy text). */
START_TEST(test_batch_bad_fields) {
    char in[600], out[600];
    snprintf(in, sizeof in, "%s/fields.jsonl", dir);
    snprintf(out, sizeof out, "%s/fields-out.jsonl", dir);
    const char *txt = "{\"id\":1,\"prompt\":\"a\",\"top_p\":0}\n"
                      "{\"id\":2,\"prompt\":\"a\",\"seed\":1.5}\n"
                      "{\"id\":3,\"prompt\":\"a\",\"seed\":1e30}\n"
                      "{\"id\":4,\"prompt\":\"a\",\"n_predict\":2.5}\n"
                      "{\"id\":5,\"prompt\":\"a\",\"top_p\":0.5,\"seed\":7,\"n_predict\":2}\n";
    ck_assert_int_eq(tu_write_file(in, txt, strlen(txt)), 0);
    unlink(out);
    tu_proc p;
    gptc_sh(&p, NULL, "batch -m %s -i %s -o %s -t 1", g2, in, out);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    tu_proc_free(&p);
    char *res = tu_read_file(out, NULL);
    ck_assert_ptr_nonnull(res);
    ck_assert_ptr_nonnull(strstr(res, "{\"id\":1,\"text\":"));
    ck_assert_ptr_nonnull(strstr(res, "{\"line\":2,\"id\":2,\"error\":\"\\\"seed\\\" must be"));
    ck_assert_ptr_nonnull(strstr(res, "{\"line\":3,\"id\":3,\"error\":\"\\\"seed\\\" must be"));
    ck_assert_ptr_nonnull(
        strstr(res, "{\"line\":4,\"id\":4,\"error\":\"\\\"n_predict\\\" must be"));
    ck_assert_ptr_nonnull(strstr(res, "{\"id\":5,\"text\":"));
    free(res);
}
END_TEST

/* Bug: a full stdout (/dev/full) ended generation with exit 0 and no message (the text was
 * lost); tokenize exited 3 with no message; inspect said exit 2 (a load error). */
START_TEST(test_stdout_devfull) {
    const char *cmds[] = {"-m %s -p hi -n 4 -t 1 --ignore-eos", "-m %s -p hi -n 4 -t 1 --json",
                          "tokenize -m %s", "inspect %s"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char args[1024];
        snprintf(args, sizeof args, cmds[i], g2);
        tu_proc p;
        gptc_sh(&p, "hello", "%s > /dev/full", args);
        expect_error(&p, 3, "stdout");
        tu_proc_free(&p);
    }
    tu_proc p;
    gptc_sh(&p, NULL, "--help > /dev/full");
    expect_error(&p, 3, "stdout");
    tu_proc_free(&p);
    /* closed descriptor: an error too (not a crash) */
    gptc_sh(&p, NULL, "-m %s -p hi -n 4 -t 1 >&-", g2);
    expect_error(&p, 3, "stdout");
    tu_proc_free(&p);
}
END_TEST

/* Bug: tokenize / bench / perplexity died of SIGPIPE (status 141) when the reader went away;
 * the policy is a quiet exit 0, as for generation. */
START_TEST(test_stdout_closed_pipe) {
    char text[600];
    snprintf(text, sizeof text, "%s/pipe-text.txt", dir);
    FILE *f = fopen(text, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 40000; i++) fputs("hello world ", f);
    ck_assert_int_eq(fclose(f), 0);
    const char *sub[] = {"tokenize -m %s < %s", "tokenize -m %s --json < %s"};
    for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
        char args[1200], cmd[2400];
        snprintf(args, sizeof args, sub[i], g2, text);
        snprintf(cmd, sizeof cmd, "{ %s %s; echo $? > %s/rc; } | head -c 1 > /dev/null", tu_gptc(),
                 args, dir);
        tu_proc p;
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 30, &p), 0);
        ck_assert_int_ne(p.status, 124);
        char rcf[600];
        snprintf(rcf, sizeof rcf, "%s/rc", dir);
        char *rc = tu_read_file(rcf, NULL);
        ck_assert_ptr_nonnull(rc);
        ck_assert_msg(!strcmp(rc, "0\n"), "%s: exit %s stderr %s", sub[i], rc, p.err);
        ck_assert_int_eq((int)p.err_len, 0);
        free(rc);
        tu_proc_free(&p);
    }
}
END_TEST

/* Bug: a tokenizer smaller than the embedding (here 256 byte tokens for 300 rows) let the
 * sampler pick ids with no text: "token id 269 out of range", exit 1, mid-stream. */
START_TEST(test_small_tokenizer) {
    char tj[600];
    snprintf(tj, sizeof tj, "%s/bytes-tokenizer.json", dir);
    write_bytes_tokenizer(tj);
    for (int seed = 1; seed <= 3; seed++) {
        tu_proc p;
        gptc_sh(&p, NULL, "-m %s --tokenizer %s -p hi -n 60 --ignore-eos -t 1 -s %d", g2, tj, seed);
        ck_assert_msg(p.status == 0, "seed %d: exit %d: %s", seed, p.status, p.err);
        ck_assert_int_eq((int)p.err_len, 0);
        ck_assert(tu_utf8_valid((const unsigned char *)p.out, p.out_len));
        tu_proc_free(&p);
    }
}
END_TEST

/* Bug: GPT-2's tokenizer.json given to a gpt-oss model loaded (harmony text encoded as plain
 * words) and failed mid-generation. Now refused at load: exit 2, one line. */
START_TEST(test_gpt2_tokenizer_for_gpt_oss) {
    tu_proc p;
    gptc_sh(&p, NULL, "-m %s --tokenizer test/data/tokenizer/gpt2/tokenizer.json -p hi -n 2", oss);
    expect_error(&p, 2, "wrong tokenizer");
    tu_proc_free(&p);
    gptc_sh(&p, "hi\n", "chat -m %s --tokenizer test/data/tokenizer/gpt2/tokenizer.json", oss);
    expect_error(&p, 2, "wrong tokenizer");
    tu_proc_free(&p);
}
END_TEST

/* Patches the f32 value of metadata key `key` in a copy of model `src`. */
static void patch_f32(const char *src, const char *dst, const char *key, uint32_t bits) {
    size_t len;
    char *b = tu_read_file(src, &len);
    ck_assert_ptr_nonnull(b);
    size_t kl = strlen(key);
    char *k = memmem(b, len, key, kl);
    ck_assert_ptr_nonnull(k);
    uint32_t type;
    memcpy(&type, k + kl, 4);
    ck_assert_int_eq(type, 6); /* GGUF f32 */
    memcpy(k + kl + 4, &bits, 4);
    ck_assert_int_eq(tu_write_file(dst, b, len), 0);
    free(b);
}

/* Bug: NaN/inf float hyperparameters (YaRN factor, norm epsilon) were accepted and produced
 * NaN activations. Now: exit 2, one line. */
START_TEST(test_nan_hparams) {
    char bad[600];
    snprintf(bad, sizeof bad, "%s/nan-yarn.gguf", dir);
    patch_f32(small_oss, bad, "gpt-oss.rope.scaling.factor", 0x7fc00000u);
    tu_proc p;
    gptc_sh(&p, NULL, "-m %s -p hi -n 1", bad);
    expect_error(&p, 2, "implausible");
    tu_proc_free(&p);
    snprintf(bad, sizeof bad, "%s/inf-eps.gguf", dir);
    patch_f32(g2, bad, "gpt2.attention.layer_norm_epsilon", 0x7f800000u);
    gptc_sh(&p, NULL, "-m %s -p hi -n 1", bad);
    expect_error(&p, 2, "implausible");
    tu_proc_free(&p);
}
END_TEST

/* Chat reading an endless line (stdin = /dev/zero) grew without bound; a truncated model must
 * be refused before any read of its data (mmap: no SIGBUS); -c 1 gets a clear message. */
START_TEST(test_endless_and_truncated) {
    tu_proc p;
    gptc_sh(&p, NULL, "chat -m %s -n 1 -t 1 < /dev/zero", g2);
    expect_error(&p, 1, "longer than");
    tu_proc_free(&p);
    char cut[600];
    snprintf(cut, sizeof cut, "%s/cut.gguf", dir);
    size_t len;
    char *b = tu_read_file(g2, &len);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tu_write_file(cut, b, len / 2), 0);
    free(b);
    gptc_sh(&p, NULL, "-m %s -p hi -n 1", cut);
    expect_error(&p, 2, "extends past the end of the file");
    tu_proc_free(&p);
    gptc_sh(&p, NULL, "-m %s -p '' -c 1", g2); /* the empty prompt is one BOS token */
    expect_error(&p, 4, "fills the whole context of 1");
    tu_proc_free(&p);
}
END_TEST

/* Bug: a newline or escape sequence in a file name or flag value split the error into several
 * lines (or coloured the terminal); a missing --system-file was ignored for GPT-2 models. */
START_TEST(test_one_line_errors) {
    char *argv1[] = {(char *)tu_gptc(), "-m", "/nonexistent/a\nb\x1b[31m.gguf", "-p", "hi", NULL};
    tu_proc p;
    ck_assert_int_eq(tu_run(argv1, NULL, 0, 30, &p), 0);
    expect_error(&p, 2, "/nonexistent/a\\nb\\x1B[31m.gguf: cannot open");
    tu_proc_free(&p);
    char *argv2[] = {(char *)tu_gptc(), "-m", g2, "--reasoning-effort", "x\ny", NULL};
    ck_assert_int_eq(tu_run(argv2, NULL, 0, 30, &p), 0);
    expect_error(&p, 1, "'x\\ny' is not one of");
    tu_proc_free(&p);
    gptc_sh(&p, NULL, "-m %s -p hi -n 1 --system-file /nonexistent/system.txt", g2);
    expect_error(&p, 1, "/nonexistent/system.txt");
    tu_proc_free(&p);
}
END_TEST

/* Bug: an output file naming the memory-mapped model (--dump-tokens, --kl-base, batch -o,
 * chat /save) truncated it under the running program: SIGBUS (exit 135), model destroyed. */
START_TEST(test_output_is_an_input) {
    char model[600], text[600];
    snprintf(model, sizeof model, "%s/victim.gguf", dir);
    snprintf(text, sizeof text, "%s/victim.txt", dir);
    size_t len;
    char *orig = tu_read_file(g2, &len);
    ck_assert_ptr_nonnull(orig);
    ck_assert_int_eq(tu_write_file(model, orig, len), 0);
    ck_assert_int_eq(tu_write_file(text, "hello world\n", 12), 0);
    const char *cmds[] = {
        "perplexity -m %s -f %s -c 8 --dump-tokens %s", "perplexity -m %s -f %s -c 8 --kl-base %s",
        "perplexity -m %s -f %s -c 8 --dump-tokens %2$s", "batch -m %s -i %s -o %s -n 1"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char args[2048];
        snprintf(args, sizeof args, cmds[i], model, text, model);
        tu_proc p;
        gptc_sh(&p, NULL, "%s", args);
        expect_error(&p, 1, "also an input");
        tu_proc_free(&p);
    }
    tu_proc p;
    char in[700];
    snprintf(in, sizeof in, "/save %s\n", model);
    gptc_sh(&p, in, "chat -m %s -n 1 -t 1", model);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "also an input"));
    tu_proc_free(&p);
    size_t len2;
    char *after = tu_read_file(model, &len2);
    ck_assert_ptr_nonnull(after);
    ck_assert(len2 == len && !memcmp(after, orig, len));
    char *t = tu_read_file(text, NULL);
    ck_assert_str_eq(t, "hello world\n");
    free(t);
    free(after);
    free(orig);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "hostile-gpt2-v300", "--preset tiny-gpt2 --vocab 300");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    tu_cached_model(small_oss, sizeof small_oss, "hostile-oss-v400",
                    "--preset tiny-gpt-oss --vocab 400 --layers 1");
    Suite *s = suite_create("cli_hostile");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fifo_inputs);
    tcase_add_test(tc, test_directory_inputs);
    tcase_add_test(tc, test_batch_devfull);
    tcase_add_test(tc, test_batch_same_file);
    tcase_add_test(tc, test_batch_bad_fields);
    tcase_add_test(tc, test_stdout_devfull);
    tcase_add_test(tc, test_stdout_closed_pipe);
    tcase_add_test(tc, test_small_tokenizer);
    tcase_add_test(tc, test_gpt2_tokenizer_for_gpt_oss);
    tcase_add_test(tc, test_nan_hparams);
    tcase_add_test(tc, test_endless_and_truncated);
    tcase_add_test(tc, test_one_line_errors);
    tcase_add_test(tc, test_output_is_an_input);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
