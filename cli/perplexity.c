/* perplexity.c — placeholder until this subcommand lands. */
#include "cli/cli.h"

int cli_perplexity(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("'perplexity' is not implemented yet");
    return EXIT_USAGE;
}
