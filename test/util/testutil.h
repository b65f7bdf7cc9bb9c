/* testutil.h — helpers shared by the Check tests: where the built program and tools are,
 * running a process with given stdin and capturing stdout/stderr/exit status, temp files. */
#ifndef GPTC_TESTUTIL_H
#define GPTC_TESTUTIL_H

#include <stddef.h>

/* Build folder of the binaries under test ("build" or "build-asan"; env GPTC_BUILD). */
const char *tu_build_dir(void);
/* Path of the gptc program under test: BUILD/gptc. Static buffer. */
const char *tu_gptc(void);
/* Path of a tool built from test/tools/NAME.c. Static buffer per call (copy it if kept). */
const char *tu_tool(const char *name);

typedef struct tu_proc {
    char *out; /* NUL-terminated, malloc'd */
    size_t out_len;
    char *err;
    size_t err_len;
    int status;    /* exit code, or 128+signal when killed by a signal */
    int signalled; /* signal number or 0 */
} tu_proc;

/* Runs argv (argv[0] looked up in PATH if it has no '/'), feeding stdin_data (may be NULL:
 * stdin is /dev/null). Kills it after timeout_s seconds (status 124). Returns 0 on success. */
int tu_run(char *const argv[], const char *stdin_data, size_t stdin_len, double timeout_s,
           tu_proc *p);
/* Like tu_run with `sh -c cmd`. */
int tu_sh(const char *cmd, const char *stdin_data, size_t stdin_len, double timeout_s, tu_proc *p);
void tu_proc_free(tu_proc *p);

/* Strict UTF-8 validity (no overlongs, no surrogates, <= U+10FFFF, no truncated sequence),
 * written independently of the library. */
int tu_utf8_valid(const unsigned char *s, size_t n);
/* Monotonic clock in seconds. */
double tu_now_s(void);
/* Reads fd one byte at a time until a newline arrives (1) or timeout_s passes / EOF (0). */
int tu_read_until_nl(int fd, double timeout_s);

/* A fresh temporary directory (removed at exit). Static buffer. */
const char *tu_tmpdir(void);
/* Reads a whole file (NUL-terminated, malloc'd); NULL on error. */
char *tu_read_file(const char *path, size_t *len);

/* 1 when mlock of `bytes` may rightly fail here: the process lacks CAP_IPC_LOCK (root in a
 * container may lack it too) and RLIMIT_MEMLOCK is below `bytes`. */
int tu_mlock_limited(unsigned long long bytes);
int tu_write_file(const char *path, const void *data, size_t len);

#endif
