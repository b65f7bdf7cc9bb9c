/* common.c — error printing and exit-code mapping shared by every subcommand. */
#include <stdarg.h>
#include <stdio.h>

#include "cli/cli.h"

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gptc: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(gptc_status st, const gptc_error *err) {
    cli_error("%s", err->msg[0] ? err->msg : gptc_status_name(st));
    return cli_exit_code(st);
}

int cli_exit_code(gptc_status s) {
    switch (s) {
    case GPTC_OK: return EXIT_DONE;
    case GPTC_ERR_INVALID_ARG: return EXIT_USAGE;
    case GPTC_ERR_IO:
    case GPTC_ERR_FORMAT:
    case GPTC_ERR_UNSUPPORTED: return EXIT_LOAD;
    case GPTC_ERR_CONTEXT_FULL: return EXIT_CONTEXT;
    case GPTC_ERR_INTERRUPTED: return EXIT_INTERRUPTED;
    case GPTC_ERR_NOMEM:
    case GPTC_ERR_DEVICE:
    case GPTC_ERR_DEVICE_NOMEM: return EXIT_RUNTIME;
    }
    return EXIT_RUNTIME;
}
