/* bench.c — placeholder until this subcommand lands. */
#include "cli/cli.h"

int cli_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("'bench' is not implemented yet");
    return EXIT_USAGE;
}
