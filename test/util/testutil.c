/* testutil.c — see testutil.h. */
#include "test/util/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *tu_build_dir(void) {
    const char *b = getenv("GPTC_BUILD");
    return (b && *b) ? b : "build";
}

const char *tu_gptc(void) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/gptc", tu_build_dir());
    return buf;
}

const char *tu_tool(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tools/%s", tu_build_dir(), name);
    return buf;
}

double tu_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int append(char **buf, size_t *len, size_t *cap, const char *src, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 4096);
        while (nc < *len + n + 1) nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

int tu_run(char *const argv[], const char *stdin_data, size_t stdin_len, double timeout_s,
           tu_proc *p) {
    memset(p, 0, sizeof *p);
    int in[2], out[2], err[2];
    if (pipe(in) || pipe(out) || pipe(err)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t sent = 0, ocap = 0, ecap = 0;
    if (!stdin_data || stdin_len == 0) {
        close(in[1]);
        in[1] = -1;
    }
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    double deadline = tu_now_s() + timeout_s;
    int open_out = 1, open_err = 1, killed = 0;
    append(&p->out, &p->out_len, &ocap, "", 0);
    append(&p->err, &p->err_len, &ecap, "", 0);
    while (open_out || open_err) {
        struct pollfd fds[3];
        int nf = 0, iout = -1, ierr = -1, iin = -1;
        if (open_out) {
            fds[nf] = (struct pollfd){out[0], POLLIN, 0};
            iout = nf++;
        }
        if (open_err) {
            fds[nf] = (struct pollfd){err[0], POLLIN, 0};
            ierr = nf++;
        }
        if (in[1] >= 0) {
            fds[nf] = (struct pollfd){in[1], POLLOUT, 0};
            iin = nf++;
        }
        double left = deadline - tu_now_s();
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        int r = poll(fds, nf, (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) break;
        char buf[65536];
        if (iout >= 0 && fds[iout].revents) {
            ssize_t n = read(out[0], buf, sizeof buf);
            if (n <= 0)
                open_out = 0;
            else
                append(&p->out, &p->out_len, &ocap, buf, (size_t)n);
        }
        if (ierr >= 0 && fds[ierr].revents) {
            ssize_t n = read(err[0], buf, sizeof buf);
            if (n <= 0)
                open_err = 0;
            else
                append(&p->err, &p->err_len, &ecap, buf, (size_t)n);
        }
        if (iin >= 0 && fds[iin].revents) {
            ssize_t n = write(in[1], stdin_data + sent, stdin_len - sent);
            if (n > 0) sent += (size_t)n;
            if (n < 0 || sent == stdin_len) {
                close(in[1]);
                in[1] = -1;
            }
        }
    }
    if (in[1] >= 0) close(in[1]);
    close(out[0]);
    close(err[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    signal(SIGPIPE, old);
    if (killed)
        p->status = 124;
    else if (WIFEXITED(st))
        p->status = WEXITSTATUS(st);
    else if (WIFSIGNALED(st)) {
        p->signalled = WTERMSIG(st);
        p->status = 128 + p->signalled;
    }
    return 0;
}

int tu_sh(const char *cmd, const char *stdin_data, size_t stdin_len, double timeout_s, tu_proc *p) {
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return tu_run(argv, stdin_data, stdin_len, timeout_s, p);
}

void tu_proc_free(tu_proc *p) {
    free(p->out);
    free(p->err);
    memset(p, 0, sizeof *p);
}

static char tmpdir_buf[256];
static pid_t tmpdir_owner; /* the process that made it: Check's forked tests exit() too */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path); /* best effort */
    return 0;
}
/* At exit, in-process (nftw, no child shell: a fork from an atexit handler ran after the CUDA
 * runtime's own teardown, and under compute-sanitizer that ended in a heap abort).
 * GPTC_TEST_KEEP_TMP=1 keeps the directory (its models) for inspection. */
static void rm_tmpdir(void) {
    const char *keep = getenv("GPTC_TEST_KEEP_TMP");
    if (!tmpdir_buf[0] || getpid() != tmpdir_owner) return;
    if (keep && *keep && strcmp(keep, "0")) {
        fprintf(stderr, "test files kept in %s\n", tmpdir_buf);
        return;
    }
    nftw(tmpdir_buf, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_tmpdir(void) {
    if (!tmpdir_buf[0]) {
        snprintf(tmpdir_buf, sizeof tmpdir_buf, "/tmp/gptc-test-XXXXXX");
        if (!mkdtemp(tmpdir_buf)) return "/tmp";
        tmpdir_owner = getpid();
        atexit(rm_tmpdir);
    }
    return tmpdir_buf;
}

int tu_mlock_limited(unsigned long long bytes) {
    char *st = tu_read_file("/proc/self/status", NULL);
    const char *c = st ? strstr(st, "\nCapEff:") : NULL;
    const int cap = c && (strtoull(c + 8, NULL, 16) >> 14 & 1); /* CAP_IPC_LOCK = 14 */
    free(st);
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return 0;
    return !cap && rl.rlim_cur != RLIM_INFINITY && (unsigned long long)rl.rlim_cur < bytes;
}

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

int tu_utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], need, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            need = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 3, cp = c & 0x07;
        else
            return 0;
        if (i + need >= n) return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

int tu_read_until_nl(int fd, double timeout_s) {
    double end = tu_now_s() + timeout_s;
    char c;
    while (tu_now_s() < end) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0) continue;
        if (read(fd, &c, 1) != 1) return 0;
        if (c == '\n') return 1;
    }
    return 0;
}
