/* generate.c — placeholder until this subcommand lands. */
#include "cli/cli.h"

int cli_generate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("'generate' is not implemented yet");
    return EXIT_USAGE;
}
