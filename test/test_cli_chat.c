/* test_cli_chat.c — the chat REPL driven through a pseudo-terminal (forkpty): a harmony turn,
 * Ctrl-C in the middle of an answer returns to the prompt, /stats, /save, /reset, Ctrl-D and
 * Ctrl-C at the prompt exit. Tiny random gpt-oss model with the real o200k tokenizer (CPU). */
#include <cJSON.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char oss[512], g2[512];

typedef struct term {
    int fd;
    pid_t pid;
    char buf[1 << 18];
    size_t len;  /* bytes read so far */
    size_t mark; /* search from here */
} term;

static void term_start(term *t, const char *model, const char *extra) {
    memset(t, 0, sizeof *t);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec %s chat -m %s -s 1 %s", tu_gptc(), model, extra);
    struct winsize ws = {40, 120, 0, 0};
    const char *state = tu_tmpdir(); /* the line editor's history goes here, not into $HOME */
    t->pid = forkpty(&t->fd, NULL, NULL, &ws);
    ck_assert_int_ge(t->pid, 0);
    if (t->pid == 0) {
        setenv("NO_COLOR", "1", 1);
        setenv("TERM", "xterm", 1);
        setenv("XDG_STATE_HOME", state, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
}

/* Reads until `needle` appears after the mark (returns 1) or timeout/EOF (0). */
static int term_wait(term *t, const char *needle, double timeout) {
    double end = tu_now_s() + timeout;
    for (;;) {
        t->buf[t->len] = 0;
        char *hit = strstr(t->buf + t->mark, needle);
        if (hit) {
            t->mark = (size_t)(hit - t->buf) + strlen(needle);
            return 1;
        }
        double left = end - tu_now_s();
        if (left <= 0) return 0;
        struct pollfd pf = {t->fd, POLLIN, 0};
        int r = poll(&pf, 1, (int)(left * 1000) + 1);
        if (r <= 0) continue;
        if (t->len + 4096 >= sizeof t->buf) { /* keep the tail */
            memmove(t->buf, t->buf + sizeof t->buf / 2, t->len - sizeof t->buf / 2);
            t->len -= sizeof t->buf / 2;
            t->mark = t->mark > sizeof t->buf / 2 ? t->mark - sizeof t->buf / 2 : 0;
        }
        ssize_t n = read(t->fd, t->buf + t->len, sizeof t->buf - 1 - t->len);
        if (n <= 0) return 0; /* EIO: the child is gone */
        t->len += (size_t)n;
    }
}

/* Reads whatever arrives for `secs` seconds. */
static void term_drain(term *t, double secs) {
    term_wait(t, "\x01\x02never\x03", secs);
}

static void term_send(term *t, const char *s) {
    ck_assert_int_eq(write(t->fd, s, strlen(s)), (ssize_t)strlen(s));
}

static int term_exit(term *t, double timeout) {
    double end = tu_now_s() + timeout;
    int st = 0;
    for (;;) {
        term_drain(t, 0.05);
        pid_t r = waitpid(t->pid, &st, WNOHANG);
        if (r == t->pid) break;
        if (tu_now_s() > end) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, &st, 0);
            close(t->fd);
            return -1;
        }
    }
    close(t->fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_ctrl_c_mid_answer) {
    term t;
    /* no -n: a random model never says <|return|>, so the answer runs until Ctrl-C */
    term_start(&t, oss, "-c 2048");
    ck_assert_msg(term_wait(&t, "> ", 60), "no prompt: %s", t.buf);
    term_send(&t, "Hello\n");
    ck_assert_msg(term_wait(&t, "Hello", 20), "no echo");
    /* wait until the answer is streaming (a loaded machine may take a while to get there):
     * a Ctrl-C that lands before the line is read is, rightly, a Ctrl-C at the prompt */
    size_t echoed = t.len;
    double until = tu_now_s() + 60;
    while (t.len < echoed + 16 && tu_now_s() < until) term_drain(&t, 0.1);
    ck_assert_msg(t.len >= echoed + 16, "the answer did not start streaming");
    size_t before = t.len;
    term_send(&t, "\x03"); /* Ctrl-C through the terminal's line discipline */
    ck_assert_msg(term_wait(&t, "[answer stopped]", 20), "no stop notice: %s", t.buf + before);
    ck_assert_msg(term_wait(&t, "> ", 20), "no prompt after Ctrl-C");
    /* still alive and responsive */
    term_send(&t, "/stats\n");
    ck_assert_msg(term_wait(&t, "context: ", 20), "no /stats");
    ck_assert_msg(term_wait(&t, "> ", 20), "no prompt after /stats");
    term_send(&t, "/quit\n");
    ck_assert_int_eq(term_exit(&t, 30), 0);
}
END_TEST

START_TEST(test_turns_save_reset) {
    term t;
    char save[600];
    snprintf(save, sizeof save, "%s/conv.json", tu_tmpdir());
    term_start(&t, oss, "-c 1024 -n 4 -v --reasoning-effort low --system 'Be brief.'");
    ck_assert(term_wait(&t, "> ", 60));
    term_send(&t, "What is 2 + 2?\n");
    ck_assert(term_wait(&t, "[kv cache: 0 tokens reused", 60));
    ck_assert(term_wait(&t, "> ", 60));
    /* multi-line with a trailing backslash */
    term_send(&t, "first line\\\n");
    ck_assert(term_wait(&t, ". ", 20));
    term_send(&t, "second line\n");
    /* the second turn reuses the cached system/developer/first-turn tokens */
    ck_assert(term_wait(&t, "[kv cache: ", 60));
    int reused = atoi(t.buf + t.mark);
    ck_assert_msg(reused > 60, "only %d tokens reused", reused);
    ck_assert(term_wait(&t, "> ", 60));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "/save %s\n", save);
    term_send(&t, cmd);
    ck_assert(term_wait(&t, "saved 4 messages", 20));
    ck_assert(term_wait(&t, "> ", 20));
    term_send(&t, "/reset\n");
    ck_assert(term_wait(&t, "conversation reset", 20));
    ck_assert(term_wait(&t, "> ", 20));
    term_send(&t, "\x04"); /* Ctrl-D */
    ck_assert_int_eq(term_exit(&t, 30), 0);

    char *js = tu_read_file(save, NULL);
    ck_assert_ptr_nonnull(js);
    cJSON *j = cJSON_Parse(js);
    free(js);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "reasoning_effort")->valuestring, "low");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "system")->valuestring, "Be brief.");
    cJSON *m = cJSON_GetObjectItem(j, "messages");
    ck_assert_int_eq(cJSON_GetArraySize(m), 4);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "role")->valuestring, "user");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "content")->valuestring,
                     "What is 2 + 2?");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "role")->valuestring,
                     "assistant");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 2), "content")->valuestring,
                     "first line\nsecond line");
    cJSON_Delete(j);

    /* /load brings it back */
    term_start(&t, oss, "-c 1024 -n 2");
    ck_assert(term_wait(&t, "> ", 60));
    snprintf(cmd, sizeof cmd, "/load %s\n", save);
    term_send(&t, cmd);
    ck_assert(term_wait(&t, "loaded 4 messages", 20));
    ck_assert(term_wait(&t, "> ", 20));
    term_send(&t, "\x03"); /* Ctrl-C at an empty prompt: a hint, the second one exits */
    ck_assert(term_wait(&t, "Ctrl-C again", 20));
    term_send(&t, "\x03");
    ck_assert_int_eq(term_exit(&t, 30), 130);
}
END_TEST

START_TEST(test_plain_repl) {
    /* GPT-2: continuation REPL, /help, unknown command, Ctrl-D */
    term t;
    term_start(&t, g2, "-n 8");
    ck_assert(term_wait(&t, "> ", 30));
    term_send(&t, "/help\n");
    ck_assert(term_wait(&t, "/effort", 20));
    ck_assert(term_wait(&t, "> ", 20));
    term_send(&t, "/bogus\n");
    ck_assert(term_wait(&t, "unknown command /bogus", 20));
    ck_assert(term_wait(&t, "> ", 20));
    term_send(&t, "Once upon a time\n");
    ck_assert(term_wait(&t, "> ", 30));
    term_send(&t, "\x04");
    ck_assert_int_eq(term_exit(&t, 30), 0);
}
END_TEST

START_TEST(test_json_refused) {
    /* --json belongs to one-shot generation: chat says so instead of ignoring it */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s chat -m %s --json", tu_gptc(), g2);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_int_eq(p.status, 1);
    ck_assert_msg(strstr(p.err, "gptc: error: --json is for one-shot generation") != NULL, "%s",
                  p.err);
    ck_assert_int_eq((int)p.out_len, 0);
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    Suite *s = suite_create("cli_chat");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_ctrl_c_mid_answer);
    tcase_add_test(tc, test_turns_save_reset);
    tcase_add_test(tc, test_plain_repl);
    tcase_add_test(tc, test_json_refused);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
