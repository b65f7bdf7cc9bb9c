/* chat.c — placeholder until this subcommand lands. */
#include "cli/cli.h"

int cli_chat(int argc, char **argv) {
    (void)argc;
    (void)argv;
    cli_error("'chat' is not implemented yet");
    return EXIT_USAGE;
}
