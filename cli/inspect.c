/* inspect.c — placeholder until this subcommand lands. */
#include "cli/cli.h"

int cli_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("'inspect' is not implemented yet");
    return EXIT_USAGE;
}
