/* toolexec.c — see toolexec.h. */
#include "cli/toolexec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void toolexec_result_free(toolexec_result *r) {
    free(r->out);
    memset(r, 0, sizeof *r);
}

static int fail(toolexec_result *r, const char *what) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s: %s", what, strerror(errno));
    free(r->out);
    r->out = strdup(buf);
    r->len = r->out ? strlen(r->out) : 0;
    r->status = -1;
    return -1;
}

int toolexec_run(const char *cmd, const char *name, const char *args, double timeout_s, size_t cap,
                 toolexec_result *r) {
    memset(r, 0, sizeof *r);
    int in[2], outp[2];
    if (pipe2(in, O_CLOEXEC)) return fail(r, "pipe");
    if (pipe2(outp, O_CLOEXEC)) {
        close(in[0]);
        close(in[1]);
        return fail(r, "pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        close(outp[0]);
        close(outp[1]);
        return fail(r, "fork");
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        dup2(in[0], 0);
        dup2(outp[1], 1);
        setenv("GPTC_TOOL_NAME", name, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    close(in[0]);
    close(outp[1]);
    /* a program that exits without reading all its arguments: EPIPE, not SIGPIPE */
    struct sigaction ign, old_pipe;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t alen = strlen(args), sent = 0;
    int in_fd = in[1];
    if (alen == 0) {
        close(in_fd);
        in_fd = -1;
    }
    size_t ocap = 4096, olen = 0;
    char *o = malloc(ocap);
    double end = now_s() + timeout_s;
    int out_open = 1;
    while (out_open) {
        double left = end - now_s();
        if (left <= 0) {
            r->timed_out = 1;
            break;
        }
        struct pollfd pf[2] = {{outp[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
        int np = in_fd >= 0 ? 2 : 1;
        int pr = poll(pf, (nfds_t)np, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) break;
        if (np == 2 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(in_fd, args + sent, alen - sent);
            if (w > 0) sent += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR) sent = alen; /* it closed stdin */
            if (sent >= alen) {
                close(in_fd);
                in_fd = -1;
            }
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[4096];
            ssize_t n = read(outp[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                out_open = 0;
                break;
            }
            size_t keep = (size_t)n;
            if (olen + keep > cap) {
                keep = cap > olen ? cap - olen : 0;
                r->truncated = 1;
            }
            if (o && olen + keep + 1 > ocap) {
                while (olen + keep + 1 > ocap) ocap *= 2;
                char *no = realloc(o, ocap);
                if (!no) {
                    free(o);
                    o = NULL;
                } else
                    o = no;
            }
            if (o && keep) {
                memcpy(o + olen, buf, keep);
                olen += keep;
            }
            if (r->truncated) break; /* enough: stop it */
        }
    }
    if (in_fd >= 0) close(in_fd);
    close(outp[0]);
    sigaction(SIGPIPE, &old_pipe, NULL);
    if (r->timed_out || r->truncated) kill(-pid, SIGKILL);
    int ws = 0;
    for (;;) { /* stdout closed: the program still gets the rest of its time to exit */
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) break;
        if (w == 0 && now_s() > end) {
            r->timed_out = 1;
            kill(-pid, SIGKILL);
            while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        if (w == 0) usleep(2000);
    }
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    if (!o) {
        errno = ENOMEM;
        return fail(r, "tool output");
    }
    o[olen] = 0;
    r->out = o;
    r->len = olen;
    return 0;
}

char *toolexec_result_text(const toolexec_result *r) {
    size_t n = r->len + 160;
    char *t = malloc(n);
    if (!t) return NULL;
    int k = snprintf(t, n, "%s", r->out ? r->out : "");
    if (r->status == -1) return t;                /* could not start: the reason is the text */
    while (k > 0 && t[k - 1] == '\n') t[--k] = 0; /* like $(...) in the shell */
    if (r->timed_out)
        snprintf(t + k, n - (size_t)k, "%s[the tool was stopped after its time limit]",
                 k ? "\n" : "");
    else if (r->truncated)
        snprintf(t + k, n - (size_t)k, "%s[output cut at %zu bytes]", k ? "\n" : "", r->len);
    else if (r->status != 0)
        snprintf(t + k, n - (size_t)k, "%s[exit status %d]", k ? "\n" : "", r->status);
    return t;
}
