/* batch.c — placeholder until this subcommand lands. */
#include "cli/cli.h"

int cli_batch(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("'batch' is not implemented yet");
    return EXIT_USAGE;
}
