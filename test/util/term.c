/* term.c — pseudo-terminal driver for the interactive tests (see term.h). */
#include "test/util/term.h"

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/util/testutil.h"

int tu_term_start(tu_term *t, const char *cmd, const char *state_home) {
    memset(t, 0, sizeof *t);
    struct winsize ws = {40, 120, 0, 0};
    t->pid = forkpty(&t->fd, NULL, NULL, &ws);
    if (t->pid < 0) return -1;
    if (t->pid == 0) {
        setenv("NO_COLOR", "1", 1);
        setenv("TERM", "xterm", 1);
        if (state_home) setenv("XDG_STATE_HOME", state_home, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return 0;
}

int tu_term_wait(tu_term *t, const char *needle, double timeout) {
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
        if (poll(&pf, 1, (int)(left * 1000) + 1) <= 0) continue;
        if (t->len + 4096 >= sizeof t->buf) { /* keep the newer half */
            size_t half = sizeof t->buf / 2;
            memmove(t->buf, t->buf + half, t->len - half);
            t->len -= half;
            t->mark = t->mark > half ? t->mark - half : 0;
        }
        ssize_t n = read(t->fd, t->buf + t->len, sizeof t->buf - 1 - t->len);
        if (n <= 0) return 0; /* EIO: the program is gone */
        t->len += (size_t)n;
    }
}

void tu_term_drain(tu_term *t, double secs) {
    size_t mark = t->mark;
    tu_term_wait(t, "\x01\x02never\x03", secs);
    t->mark = mark;
}

int tu_term_send(tu_term *t, const char *keys) {
    size_t n = strlen(keys);
    return write(t->fd, keys, n) == (ssize_t)n ? 0 : -1;
}

int tu_term_exit(tu_term *t, double timeout) {
    double end = tu_now_s() + timeout;
    int st = 0;
    for (;;) {
        tu_term_drain(t, 0.05);
        if (waitpid(t->pid, &st, WNOHANG) == t->pid) break;
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
