/* common.c — error printing and exit-code mapping shared by every subcommand. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

void cli_error(const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* always one line: control characters from file names, flags or file contents (a newline,
     * an escape sequence) are written as \n, \r, \t or \xHH */
    char out[4 * sizeof msg + 32];
    size_t o = 0;
    for (const unsigned char *q = (const unsigned char *)msg; *q; q++) {
        if (*q >= 0x20 && *q != 0x7f) {
            out[o++] = (char)*q;
        } else if (*q == '\n' || *q == '\r' || *q == '\t') {
            out[o++] = '\\';
            out[o++] = *q == '\n' ? 'n' : *q == '\r' ? 'r' : 't';
        } else {
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02X", *q);
        }
    }
    out[o] = 0;
    fprintf(stderr, "gptc: error: %s\n", out);
}

int cli_fail(gptc_status st, const gptc_error *err) {
    cli_error("%s", err->msg[0] ? err->msg : gptc_status_name(st));
    return cli_exit_code(st);
}

int cli_exit_code(gptc_status s) {
    switch (s) {
    case GPTC_OK:
        return EXIT_DONE;
    case GPTC_ERR_INVALID_ARG:
        return EXIT_USAGE;
    case GPTC_ERR_IO:
    case GPTC_ERR_FORMAT:
    case GPTC_ERR_UNSUPPORTED:
        return EXIT_LOAD;
    case GPTC_ERR_CONTEXT_FULL:
        return EXIT_CONTEXT;
    case GPTC_ERR_INTERRUPTED:
        return EXIT_INTERRUPTED;
    case GPTC_ERR_NOMEM:
    case GPTC_ERR_DEVICE:
    case GPTC_ERR_DEVICE_NOMEM:
        return EXIT_RUNTIME;
    }
    return EXIT_RUNTIME;
}

/* Is stdout a pipe or socket (whose reader can go away)? */
static int stdout_is_pipe(void) {
    struct stat sb;
    return fstat(1, &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode));
}

int cli_stdout_gone(void) {
    return ferror(stdout) != 0;
}

int cli_finish_stdout(int code) {
    errno = 0;
    int bad = fflush(stdout) != 0;
    int e = errno;
    bad |= ferror(stdout) != 0;
    if (!bad || stdout_is_pipe() || code != EXIT_DONE) return code;
    struct stat sb;
    if (fstat(1, &sb) != 0) e = errno; /* EBADF: stdout was closed (>&-) */
    cli_error("stdout: %s", e ? strerror(e) : "write error");
    return EXIT_RUNTIME;
}
