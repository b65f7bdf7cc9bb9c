/* test_cli_lineedit.c — the chat's prompt line editor, typed at through a pseudo-terminal: cursor
 * and kill keys, UTF-8 (CJK, emoji), history across two runs and its file (mode 0600), reverse
 * search, Tab completion of /commands, Ctrl-C (clears a half-typed line; twice on an empty line
 * exits 130), bracketed paste of several lines as one message. The line the editor hands over is
 * observed through the chat's own answers: "/word" that is no command is echoed back as
 * "unknown command /word", and /save writes the conversation. Tiny random models (CPU). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test/util/term.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512], oss[512];

#define LEFT "\x1b[D"
#define RIGHT "\x1b[C"
#define UP "\x1b[A"
#define HOME "\x1b[H"
#define END "\x1b[F"
#define DEL "\x1b[3~"
#define BS "\x7f"
#define PASTE_START "\x1b[200~"
#define PASTE_END "\x1b[201~"

static void start(tu_term *t, const char *model, const char *extra, const char *state) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec %s chat -m %s -s 1 %s", tu_gptc(), model, extra);
    ck_assert_int_eq(tu_term_start(t, cmd, state), 0);
    ck_assert_msg(tu_term_wait(t, "> ", 60), "no prompt: %s", t->buf);
}

/* Types keys, then expects the chat to say `want`, then the next prompt. */
static void type_expect(tu_term *t, const char *keys, const char *want) {
    ck_assert_int_eq(tu_term_send(t, keys), 0);
    ck_assert_msg(tu_term_wait(t, want, 30), "after %s: no '%s' in: %s", keys, want,
                  t->buf + (t->len > 2000 ? t->len - 2000 : 0));
    ck_assert_msg(tu_term_wait(t, "> ", 30), "no prompt after %s", keys);
}

static char *state_dir(const char *name) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    return path;
}

START_TEST(test_editing_keys) {
    tu_term t;
    start(&t, g2, "-n 4", state_dir("edit"));
    /* Left, insert in the middle, End, Backspace */
    type_expect(&t, "/helo" LEFT "l" END "X" BS "\r", "unknown command /hello");
    /* Ctrl-W kills the word before the cursor, Ctrl-A / Right / Ctrl-K, then Ctrl-Y yanks the
     * last kill back: "/abc def" -> "/abc " -> "/" -> "/q" + "abc " */
    type_expect(&t, "/abc def\x17\x01" RIGHT "\x0bq\x19\r", "unknown command /qabc");
    /* Ctrl-U kills to the start */
    type_expect(&t, "junk\x15/u1\r", "unknown command /u1");
    /* Home/End keys, Ctrl-E, Delete, Ctrl-B/Ctrl-F */
    type_expect(&t, "bc" HOME "/a" END "d\r", "unknown command /abcd");
    type_expect(&t,
                "/abXc" LEFT LEFT DEL "\x05"
                "\x02\x02\x06"
                "Z\r",
                "unknown command /abZc");
    /* UTF-8: Left steps over a whole CJK character; Backspace removes a whole emoji */
    type_expect(&t, "/日本" LEFT "x\r", "unknown command /日x本");
    type_expect(&t,
                "/a\xF0\x9F\x98\x80"
                "b" LEFT BS "\r",
                "unknown command /ab");
    /* a combining accent moves with its base letter: e + U+0301 is one step */
    type_expect(&t, "/e\xCC\x81z" LEFT LEFT "q\r", "unknown command /qe\xCC\x81z");
    ck_assert_int_eq(tu_term_send(&t, "\x04"), 0); /* Ctrl-D on an empty line */
    ck_assert_int_eq(tu_term_exit(&t, 30), 0);
}
END_TEST

START_TEST(test_history_across_runs) {
    char *state = state_dir("hist"), file[700], dir[700];
    snprintf(dir, sizeof dir, "%s/gptc", state);
    snprintf(file, sizeof file, "%s/gptc/history", state);
    tu_term t;
    start(&t, g2, "-n 4", state);
    type_expect(&t, "/first\r", "unknown command /first");
    type_expect(&t, "/second\r", "unknown command /second");
    type_expect(&t, "/second\r", "unknown command /second"); /* a repeat is kept once */
    ck_assert_int_eq(tu_term_send(&t, "\x04"), 0);
    ck_assert_int_eq(tu_term_exit(&t, 30), 0);

    struct stat sb;
    ck_assert_int_eq(stat(file, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(dir, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0700);
    char *h = tu_read_file(file, NULL);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h, "/first\n/second\n");
    free(h);
    /* a history file someone made readable by others is made private again */
    ck_assert_int_eq(chmod(file, 0644), 0);

    start(&t, g2, "-n 4", state);
    type_expect(&t, UP "\r", "unknown command /second");
    type_expect(&t, UP UP "\r", "unknown command /first");
    /* Up, Up, Down: back to the newer entry ([/first, /second, /first] now) */
    type_expect(&t, UP UP "\x1b[B\r", "unknown command /first");
    /* Ctrl-R: reverse incremental search */
    type_expect(&t,
                "\x12"
                "fir\r",
                "unknown command /first");
    /* Ctrl-R, then an editing key takes the match into the line */
    type_expect(&t,
                "\x12"
                "sec" END "X\r",
                "unknown command /secondX");
    /* Up keeps the half-typed line: Down returns to it */
    type_expect(&t, "/draft" UP "\x1b[B\r", "unknown command /draft");
    ck_assert_int_eq(tu_term_send(&t, "\x04"), 0);
    ck_assert_int_eq(tu_term_exit(&t, 30), 0);
    ck_assert_int_eq(stat(file, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    h = tu_read_file(file, NULL);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h, "/first\n/second\n/first\n/secondX\n/draft\n");
    free(h);
}
END_TEST

START_TEST(test_tab_completion) {
    tu_term t;
    start(&t, g2, "-n 4", state_dir("tab"));
    type_expect(&t, "/he\t\r", "/effort low|medium|high"); /* /help printed the command list */
    type_expect(&t, "/sta\t\r", "context: ");              /* /stats */
    /* "/s" is ambiguous (/system, /save, /stats): Tab lists them */
    ck_assert_int_eq(tu_term_send(&t, "/s\t"), 0);
    ck_assert_msg(tu_term_wait(&t, "/system  /save  /stats", 20), "no list: %s", t.buf);
    type_expect(&t, "\x15/zz\r", "unknown command /zz");
    ck_assert_int_eq(tu_term_send(&t, "\x04"), 0);
    ck_assert_int_eq(tu_term_exit(&t, 30), 0);
}
END_TEST

START_TEST(test_ctrl_c_at_prompt) {
    tu_term t;
    start(&t, g2, "-n 4", state_dir("ctrlc"));
    /* a half-typed line is cleared, the chat goes on */
    ck_assert_int_eq(tu_term_send(&t, "/abc\x03"), 0);
    ck_assert(tu_term_wait(&t, "^C", 20));
    type_expect(&t, "/ok\r", "unknown command /ok");
    /* on an empty line: a hint first, the second Ctrl-C in a row exits */
    ck_assert_int_eq(tu_term_send(&t, "\x03"), 0);
    ck_assert(tu_term_wait(&t, "Ctrl-C again or Ctrl-D to quit", 20));
    ck_assert_int_eq(tu_term_send(&t, "\x03"), 0);
    ck_assert_int_eq(tu_term_exit(&t, 30), 130);

    /* half-typed, Ctrl-C clears it, a second Ctrl-C (now on an empty line) exits */
    start(&t, g2, "-n 4", state_dir("ctrlc"));
    ck_assert_int_eq(tu_term_send(&t, "some words\x03"), 0);
    ck_assert(tu_term_wait(&t, "^C", 20));
    ck_assert_int_eq(tu_term_send(&t, "\x03"), 0);
    ck_assert_int_eq(tu_term_exit(&t, 30), 130);
}
END_TEST

START_TEST(test_bracketed_paste) {
    char save[700], cmd[800], hist[700];
    snprintf(save, sizeof save, "%s/paste.json", tu_tmpdir());
    char *state = state_dir("paste");
    snprintf(hist, sizeof hist, "%s/gptc/history", state);
    tu_term t;
    start(&t, oss, "-c 1024 -n 4", state);
    /* three pasted lines (CRLF and CR line ends too) are one message, sent by one Enter */
    ck_assert_int_eq(tu_term_send(&t, PASTE_START "first\r\nsecond\rthird" PASTE_END), 0);
    ck_assert(tu_term_wait(&t, "first\xE2\x86\xB5second\xE2\x86\xB5third", 20)); /* shown as ↵ */
    tu_term_drain(&t, 0.3);
    t.mark = t.len;
    ck_assert_int_eq(tu_term_send(&t, "\r"), 0);
    ck_assert(tu_term_wait(&t, "> ", 60)); /* the prompt after the answer */
    snprintf(cmd, sizeof cmd, "/save %s\r", save);
    type_expect(&t, cmd, "saved 2 messages");
    ck_assert_int_eq(tu_term_send(&t, "\x04"), 0);
    ck_assert_int_eq(tu_term_exit(&t, 30), 0);
    char *js = tu_read_file(save, NULL);
    ck_assert_ptr_nonnull(js);
    ck_assert_msg(strstr(js, "\"first\\nsecond\\nthird\""), "%s", js);
    free(js);
    /* the history keeps it as one entry, newlines escaped */
    char *h = tu_read_file(hist, NULL);
    ck_assert_ptr_nonnull(h);
    ck_assert_msg(strstr(h, "first\\nsecond\\nthird\n"), "%s", h);
    free(h);
    /* recalled from the history, it is sent as the same single message */
    start(&t, oss, "-c 1024 -n 4", state);
    ck_assert_int_eq(tu_term_send(&t, UP UP), 0); /* the newest entry is the /save */
    ck_assert(tu_term_wait(&t, "first\xE2\x86\xB5second\xE2\x86\xB5third", 20));
    tu_term_drain(&t, 0.3);
    t.mark = t.len;
    ck_assert_int_eq(tu_term_send(&t, "\r"), 0);
    ck_assert(tu_term_wait(&t, "> ", 60));
    snprintf(cmd, sizeof cmd, "/save %s\r", save);
    type_expect(&t, cmd, "saved 2 messages");
    ck_assert_int_eq(tu_term_send(&t, "\x04"), 0);
    ck_assert_int_eq(tu_term_exit(&t, 30), 0);
    js = tu_read_file(save, NULL);
    ck_assert_ptr_nonnull(js);
    ck_assert_msg(strstr(js, "\"first\\nsecond\\nthird\""), "%s", js);
    free(js);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cli_lineedit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_editing_keys);
    tcase_add_test(tc, test_history_across_runs);
    tcase_add_test(tc, test_tab_completion);
    tcase_add_test(tc, test_ctrl_c_at_prompt);
    tcase_add_test(tc, test_bracketed_paste);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
