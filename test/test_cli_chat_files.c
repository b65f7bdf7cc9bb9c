/* test_cli_chat_files.c — chat /save and /load, and chats that cannot work (issue 16), driven
 * through piped stdin: a GPT-2 chat saves and restores its continuation text; /load refuses a
 * file with invalid UTF-8, NUL or an unknown effort (and the chat goes on); a system prompt that
 * alone fills the context is one error and exit 4; harmony-only options on GPT-2 warn once.
 * Tiny random GPT-2 and gpt-oss models (CPU). */
#include <cJSON.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512], oss[512];

static void chat_sh(tu_proc *p, const char *stdin_data, const char *fmt, ...) {
    char args[3000], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", tu_gptc(), args);
    ck_assert_int_eq(tu_sh(cmd, stdin_data, strlen(stdin_data), 120, p), 0);
}

static int count_str(const char *s, const char *needle) {
    int n = 0;
    for (const char *q = s; (q = strstr(q, needle)); q += strlen(needle)) n++;
    return n;
}

/* tokens of BOS + text with the model's own vocabulary (independent of the chat) */
static int n_tokens(const char *model, const char *text) {
    gptc_tokenizer *tok = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_tokenizer_load_gguf(model, &tok, &err), GPTC_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(gptc_tokenize(tok, text, strlen(text), 0, &ids, &n, &err), GPTC_OK);
    gptc_free(ids);
    int bos = gptc_tokenizer_bos(tok) >= 0 && gptc_tokenizer_add_bos(tok);
    gptc_tokenizer_free(tok);
    return (int)n + bos;
}

/* Issue 16.5: a GPT-2 chat said "saved 0 messages" and /load restored nothing. */
START_TEST(test_plain_save_load) {
    char f[600], in[1000];
    snprintf(f, sizeof f, "%s/plain.json", tu_tmpdir());
    tu_proc p;
    snprintf(in, sizeof in, "Once upon a time\n/save %s\n", f);
    chat_sh(&p, in, "chat -m %s -n 6 --temp 0", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(strstr(p.err, "saved the text"), "%s", p.err);
    /* the text is what the chat showed: the input, then the continuation on stdout (the chat
     * ends the line after it) */
    ck_assert(p.out_len > 1 && p.out[p.out_len - 1] == '\n');
    char want[2000];
    snprintf(want, sizeof want, "Once upon a time%.*s", (int)p.out_len - 1, p.out);
    tu_proc_free(&p);
    char *js = tu_read_file(f, NULL);
    cJSON *j = cJSON_Parse(js);
    free(js);
    ck_assert_ptr_nonnull(j);
    cJSON *t = cJSON_GetObjectItem(j, "text");
    ck_assert(cJSON_IsString(t));
    ck_assert_str_eq(t->valuestring, want);
    cJSON_Delete(j);
    /* loaded: the context holds exactly that text */
    snprintf(in, sizeof in, "/load %s\n/stats\n", f);
    chat_sh(&p, in, "chat -m %s -n 6 --temp 0", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(strstr(p.err, "loaded the text"), "%s", p.err);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "context: %d / ", n_tokens(g2, want));
    ck_assert_msg(strstr(p.err, ctx), "want '%s' in %s", ctx, p.err);
    tu_proc_free(&p);
    /* a harmony chat refuses the plain text (one error line), and goes on */
    snprintf(in, sizeof in, "/load %s\nHi\n", f);
    chat_sh(&p, in, "chat -m %s -n 2 -c 512", oss);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_int_eq(count_str(p.err, "gptc: error: "), 1);
    ck_assert_ptr_nonnull(strstr(p.err, "plain continuation"));
    tu_proc_free(&p);
}
END_TEST

/* Issue 16.12: /load accepted invalid UTF-8 and NUL (then every turn failed) and an unknown
 * reasoning effort. Each bad file is one error line; the chat then answers normally. */
START_TEST(test_load_validates) {
    static const struct {
        const char *json;
        size_t len; /* 0: strlen */
        const char *why;
    } bad[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xC3(\"}]}", 0, "UTF-8"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", 0, "u0000"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\0b\"}]}", 46, "NUL"},
        {"{\"reasoning_effort\":\"ultra\",\"messages\":[]}", 0, "reasoning_effort"},
        {"{\"system\":\"\xFF\",\"messages\":[]}", 0, "UTF-8"},
        /* (a "system" message is valid since /load takes OpenAI's message shape: issue 13) */
        {"{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 0, "role"},
        {"{\"messages\":[]} trailing", 0, "JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char f[600], in[1000];
        snprintf(f, sizeof f, "%s/bad%zu.json", tu_tmpdir(), i);
        ck_assert_int_eq(
            tu_write_file(f, bad[i].json, bad[i].len ? bad[i].len : strlen(bad[i].json)), 0);
        snprintf(in, sizeof in, "/load %s\nHello\n/stats\n", f);
        tu_proc p;
        chat_sh(&p, in, "chat -m %s -n 3 -c 512", oss);
        ck_assert_msg(p.status == 0, "%zu: exit %d %s", i, p.status, p.err);
        ck_assert_msg(count_str(p.err, "gptc: error: ") == 1, "%zu: %s", i, p.err);
        ck_assert_msg(strstr(p.err, bad[i].why) && strstr(p.err, f), "%zu: %s", i, p.err);
        ck_assert_msg(!strstr(p.err, "loaded"), "%zu: %s", i, p.err);
        /* the turn after it worked: one question and its answer */
        ck_assert_msg(strstr(p.err, "turns: 2 "), "%zu: %s", i, p.err);
        tu_proc_free(&p);
    }
}
END_TEST

/* Issue 16.13: a system prompt that alone exceeds the context printed "no longer fits" for
 * every input line and exited 0. */
START_TEST(test_system_exceeds_context) {
    tu_proc p;
    char sys[2000] = "";
    for (int i = 0; i < 60; i++) strcat(sys, "Be brief and kind. ");
    chat_sh(&p, "one\ntwo\nthree\n", "chat -m %s -n 2 -c 64 --system '%s'", oss, sys);
    ck_assert_msg(p.status == 4, "exit %d: %s", p.status, p.err);
    ck_assert_msg(count_str(p.err, "\n") == 1 && !strncmp(p.err, "gptc: error: ", 13), "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "system prompt"));
    ck_assert_int_eq((int)p.out_len, 0);
    tu_proc_free(&p);
    /* the same through gptc -m M -i */
    chat_sh(&p, "one\n", "-m %s -i -n 2 -c 64 --system '%s'", oss, sys);
    ck_assert_int_eq(p.status, 4);
    tu_proc_free(&p);
}
END_TEST

/* Issue 16.15: --system, --reasoning-effort, --show-reasoning and /effort did nothing on GPT-2
 * without a word. Now one warning per option, and /effort says it has no effect. */
START_TEST(test_harmony_options_on_plain_model) {
    tu_proc p;
    chat_sh(&p, "/effort high\nHi\n", "chat -m %s -n 2 --system 'Be brief' --reasoning-effort low",
            g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_int_eq(count_str(p.err, "gptc: warning: --system is ignored"), 1);
    ck_assert_int_eq(count_str(p.err, "gptc: warning: --reasoning-effort is ignored"), 1);
    ck_assert_ptr_nonnull(strstr(p.err, "/effort has no effect"));
    tu_proc_free(&p);
    chat_sh(&p, "", "-m %s -p Hi -n 2 --show-reasoning", g2);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_int_eq(count_str(p.err, "gptc: warning: --show-reasoning is ignored"), 1);
    ck_assert_int_eq(count_str(p.err, "\n"), 1);
    tu_proc_free(&p);
    /* gpt-oss: no warning */
    chat_sh(&p, "", "-m %s -p Hi -n 2 --system 'Be brief' -c 512", oss);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_str_eq(p.err, "");
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cli_chat_files");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_plain_save_load);
    tcase_add_test(tc, test_load_validates);
    tcase_add_test(tc, test_system_exceeds_context);
    tcase_add_test(tc, test_harmony_options_on_plain_model);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
