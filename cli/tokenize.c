/* tokenize.c — placeholder until this subcommand lands. */
#include "cli/cli.h"

int cli_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("'tokenize' is not implemented yet");
    return EXIT_USAGE;
}
