/* help.c — the text of `gptc --help`, generated at build time from cli/help.txt (the source of
 * the man page gptc.1 too), and `gptc --version`. */
#include <stdio.h>

#include "cli/cli.h"

const char cli_help_text[] =
#include "help.inc"
    ;

void cli_print_version(FILE *f) {
    const char *archs = gptc_build_cuda_archs();
    fprintf(f, "gptc %s\ncommit %s\nCUDA: %s\n", gptc_version(), gptc_build_commit(),
            archs[0] ? archs : "not compiled in (CPU only)");
}
