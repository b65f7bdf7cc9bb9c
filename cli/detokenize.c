/* detokenize.c — placeholder until this subcommand lands. */
#include "cli/cli.h"

int cli_detokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("'detokenize' is not implemented yet");
    return EXIT_USAGE;
}
