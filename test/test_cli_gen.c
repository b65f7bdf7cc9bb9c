/* test_cli_gen.c — one-shot generation as a real process: pipes, stdin prompts, a closed stdout,
 * --json, exit codes (usage 1, load 2, context 4, Ctrl-C 130), one error line per bad flag.
 * Tiny random-weight models from the generator tool (CPU). */
#include <cJSON.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512], oss[512];

static void make_models(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* token count of text with the model's own vocabulary (independent of the CLI) */
static size_t n_tokens(const char *model, const char *text) {
    gptc_tokenizer *tok = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_tokenizer_load_gguf(model, &tok, &err), GPTC_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(gptc_tokenize(tok, text, strlen(text), 0, &ids, &n, &err), GPTC_OK);
    n += gptc_tokenizer_add_bos(tok) ? 1 : 0;
    gptc_free(ids);
    gptc_tokenizer_free(tok);
    return n;
}

START_TEST(test_closed_stdout) {
    /* head closes the pipe after 10 bytes: gptc must stop quietly with exit 0 */
    char cmd[2048];
    tu_proc p;
    snprintf(cmd, sizeof cmd,
             "{ %s -m %s -p Hello -n 3000 -c 1024 --ignore-eos -s 1; echo $? > %s/rc; } | "
             "head -c 10",
             tu_gptc(), g2, tu_tmpdir());
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_uint_eq(p.out_len, 10);
    ck_assert_str_eq(p.err, "");
    tu_proc_free(&p);
    char path[600];
    snprintf(path, sizeof path, "%s/rc", tu_tmpdir());
    char *rc = tu_read_file(path, NULL);
    ck_assert_ptr_nonnull(rc);
    ck_assert_str_eq(rc, "0\n");
    free(rc);
}
END_TEST

START_TEST(test_stdin_prompt) {
    tu_proc p;
    /* stdin alone is the prompt */
    tu_gptc_sh(&p, "q\n", "-m %s -n 3 --temp 0 --json", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens")->valueint, 3);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "length");
    cJSON *t = cJSON_GetObjectItem(j, "timings");
    ck_assert_int_eq(cJSON_GetObjectItem(t, "prompt_tokens")->valueint, (int)n_tokens(g2, "q\n"));
    cJSON_Delete(j);
    tu_proc_free(&p);

    /* -p plus piped stdin: stdin appended after a newline (like ollama) */
    tu_gptc_sh(&p, "world\n", "-m %s -p Hello -n 2 --temp 0 --json", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    t = cJSON_GetObjectItem(j, "timings");
    ck_assert_int_eq(cJSON_GetObjectItem(t, "prompt_tokens")->valueint,
                     (int)n_tokens(g2, "Hello\nworld\n"));
    cJSON_Delete(j);
    tu_proc_free(&p);

    /* greedy: the same prompt from stdin or -p gives the same text */
    tu_proc a, b;
    tu_gptc_sh(&a, "The cat", "-m %s -n 12 --temp 0", g2);
    tu_gptc_sh(&b, NULL, "-m %s -p 'The cat' -n 12 --temp 0", g2);
    ck_assert_int_eq(a.status, 0);
    ck_assert_int_eq(b.status, 0);
    ck_assert_uint_gt(a.out_len, 0);
    ck_assert_str_eq(a.out, b.out);
    ck_assert_str_eq(a.err, ""); /* no logs when stderr is not a terminal */
    tu_proc_free(&a);
    tu_proc_free(&b);
}
END_TEST

/* --cache-type (and llama.cpp's -ctk / -ctv) on every generation command: the CPU backend keeps
 * fp32 keys and values whatever is asked, so greedy output is the same text as without the flag */
START_TEST(test_cache_type_cpu) {
    tu_proc a, b;
    tu_gptc_sh(&a, NULL, "-m %s -p 'Once upon' -n 12 --temp 0 --backend cpu", g2);
    ck_assert_msg(a.status == 0, "%s", a.err);
    const char *flags[] = {"--cache-type f32", "--cache-type f16", "--cache-type q8_0",
                           "-ctk q8_0 -ctv q8_0"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        tu_gptc_sh(&b, NULL, "-m %s -p 'Once upon' -n 12 --temp 0 --backend cpu %s", g2, flags[i]);
        ck_assert_msg(b.status == 0, "%s: %s", flags[i], b.err);
        ck_assert_msg(a.out_len == b.out_len && !memcmp(a.out, b.out, a.out_len), "%s: %s vs %s",
                      flags[i], b.out, a.out);
        tu_proc_free(&b);
    }
    tu_proc_free(&a);
    const char *cmds[] = {"bench -p 8 -n 2 -r 1", "perplexity -f /dev/null"};
    for (size_t i = 0; i < 2; i++) { /* accepted by the other commands (perplexity: no text) */
        tu_gptc_sh(&b, NULL, "%s -m %s --cache-type q8_0 --backend cpu", cmds[i], g2);
        ck_assert_msg(i == 0 ? b.status == 0 : !strstr(b.err, "cache"), "%s: %s", cmds[i], b.err);
        tu_proc_free(&b);
    }
}
END_TEST

START_TEST(test_usage_errors) {
    static const char *bad[] = {
        "--temp abc",
        "--frobnicate",
        "-n",
        "--top-p 2",
        "--backend tpu",
        "-c -5",
        "--reasoning-effort extreme",
        "--vram-budget 12X",
        "-t many",
        "-p a -f b",
        "--seed -2", /* -1 is llama.cpp's "random seed", accepted (issue 16.15) */
        "extra-arg",
        "--cache-type f8",
        "-ctk q8_0 -ctv f16",
        "--cache-type",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_proc p;
        tu_gptc_sh(&p, NULL, "-m %s -p hi %s", g2, bad[i]);
        ck_assert_msg(p.status == 1, "'%s': exit %d", bad[i], p.status);
        ck_assert_msg(!strncmp(p.err, "gptc: error: ", 13), "'%s': %s", bad[i], p.err);
        ck_assert_msg(count_lines(p.err) == 1, "'%s': %s", bad[i], p.err);
        ck_assert_uint_eq(p.out_len, 0);
        tu_proc_free(&p);
    }
    /* no model */
    tu_proc p;
    tu_gptc_sh(&p, NULL, "-p hi");
    ck_assert_int_eq(p.status, 1);
    ck_assert_int_eq(count_lines(p.err), 1);
    tu_proc_free(&p);
    /* --help goes to stdout, exit 0 */
    tu_gptc_sh(&p, NULL, "-m x --help");
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_nonnull(strstr(p.out, "usage: gptc -m MODEL.gguf"));
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_load_errors) {
    tu_proc p;
    tu_gptc_sh(&p, NULL, "-m %s/missing.gguf -p hi", tu_tmpdir());
    ck_assert_int_eq(p.status, 2);
    ck_assert(!strncmp(p.err, "gptc: error: ", 13));
    ck_assert_int_eq(count_lines(p.err), 1);
    ck_assert_uint_eq(p.out_len, 0);
    tu_proc_free(&p);
    /* not a GGUF file */
    char path[600];
    snprintf(path, sizeof path, "%s/junk.gguf", tu_tmpdir());
    tu_write_file(path, "this is not a model\n", 20);
    tu_gptc_sh(&p, NULL, "-m %s -p hi", path);
    ck_assert_int_eq(p.status, 2);
    ck_assert_int_eq(count_lines(p.err), 1);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_context_full) {
    tu_proc p;
    /* generation fills a 16-token context: text on stdout, message on stderr, exit 4 */
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -c 16 --ignore-eos -s 1", g2);
    ck_assert_int_eq(p.status, 4);
    ck_assert_uint_gt(p.out_len, 0);
    ck_assert_ptr_nonnull(strstr(p.err, "context"));
    ck_assert_int_eq(count_lines(p.err), 1);
    tu_proc_free(&p);
    /* --json reports it too */
    tu_gptc_sh(&p, NULL, "-m %s -p Hello -c 16 --ignore-eos -s 1 --json", g2);
    ck_assert_int_eq(p.status, 4);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "context");
    /* prompt (1 token) + fed generated tokens fill 16 */
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens")->valueint, 16);
    cJSON_Delete(j);
    tu_proc_free(&p);
    /* a prompt longer than the context */
    tu_gptc_sh(&p, NULL, "-m %s -p 'one two three four five six seven eight nine ten' -c 8", g2);
    ck_assert_int_eq(p.status, 4);
    ck_assert_uint_eq(p.out_len, 0);
    ck_assert_int_eq(count_lines(p.err), 1);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_interrupt) {
    char cmd[2048];
    tu_proc p;
    /* SIGINT as soon as the first bytes arrive (a fixed sleep let a fast machine fill the whole
     * context first: exit 4), then read on so the program is never stopped by a full pipe */
    snprintf(cmd, sizeof cmd,
             "f=%s/interrupt.fifo; rm -f $f; mkfifo $f; "
             "%s -m %s -p Hello -c 1024 --ignore-eos -n 100000 -s 1 > $f & pid=$!; "
             "{ head -c 1 > /dev/null; kill -INT $pid; cat > /dev/null; } < $f; "
             "wait $pid; echo rc=$?",
             tu_tmpdir(), tu_gptc(), g2);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_str_eq(p.out, "rc=130\n");
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_harmony_json) {
    tu_proc p;
    tu_gptc_sh(&p, NULL,
               "-m %s -p 'What is 2 + 2?' -n 6 -s 3 --json --reasoning-effort low --system 'Be "
               "brief.'",
               oss);
    ck_assert_msg(p.status == 0, "%s", p.err);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    /* the prompt is the harmony layout of docs/gpt-oss.md §8.3 with today's date, low effort and
     * the developer message (ended by a blank line, as gpt-oss's chat template writes it): count
     * its tokens from the hand-written text (special tokens parsed) */
    char date[16], want[1024];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    snprintf(want, sizeof want,
             "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
             "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: low\n\n# "
             "Valid channels: analysis, commentary, final. Channel must be included for every "
             "message.<|end|><|start|>developer<|message|># Instructions\n\nBe "
             "brief.\n\n<|end|><|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant",
             date);
    gptc_tokenizer *tok = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_tokenizer_load_gguf(oss, &tok, &err), GPTC_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(gptc_tokenize(tok, want, strlen(want), GPTC_TOKENIZE_SPECIAL, &ids, &n, &err),
                     GPTC_OK);
    gptc_free(ids);
    gptc_tokenizer_free(tok);
    cJSON *tj = cJSON_GetObjectItem(j, "timings");
    ck_assert_int_eq(cJSON_GetObjectItem(tj, "prompt_tokens")->valueint, (int)n);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "text")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "reasoning")));
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens")->valueint, 6);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "length");
    cJSON_Delete(j);
    tu_proc_free(&p);
    /* -n 0: nothing generated */
    tu_gptc_sh(&p, NULL, "-m %s -p hi -n 0", oss);
    ck_assert_int_eq(p.status, 0);
    ck_assert_uint_eq(p.out_len, 0);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_utf8_stream) {
    /* a random gpt-oss model emits tokens of every script: stdout must stay valid UTF-8, raw
     * (everything printed) and harmony (final channel) alike */
    tu_proc p;
    tu_gptc_sh(&p, NULL, "-m %s -p 'Grüße 東京' -n 60 -s 7 --raw --ignore-eos", oss);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_uint_gt(p.out_len, 60);
    ck_assert(tu_utf8_valid((const unsigned char *)p.out, p.out_len));
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "-m %s -p 'Grüße 東京' -n 60 -s 8 --ignore-eos", oss);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert(tu_utf8_valid((const unsigned char *)p.out, p.out_len));
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    make_models();
    Suite *s = suite_create("cli_gen");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_closed_stdout);
    tcase_add_test(tc, test_stdin_prompt);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_cache_type_cpu);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_context_full);
    tcase_add_test(tc, test_interrupt);
    tcase_add_test(tc, test_harmony_json);
    tcase_add_test(tc, test_utf8_stream);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
