/* inspect.c — `gptc inspect FILE.gguf [--tensors] [--json]`: validate a GGUF file and describe
 * it (version, alignment, metadata, tensor summary, architecture). Exit codes: 0 done, 1 bad
 * usage, 2 unreadable or malformed file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char USAGE[] =
    "usage: gptc inspect FILE.gguf [--tensors] [--json] [--strict]\n"
    "       gptc inspect -hf REPO[:QUANT] [--tensors] [--json] [--strict]\n"
    "Validates a GGUF file and describes it: version, alignment, metadata (long arrays\n"
    "summarised), tensor count, bytes per type, parameter count, architecture.\n"
    "  -hf REPO    a model from the Hugging Face hub cache (downloaded when missing)\n"
    "  --tensors   also list every tensor: name, type, shape (ne order), offset, bytes\n"
    "  --json      print one JSON object instead (full metadata values; arrays longer than\n"
    "              64 items as {\"type\", \"length\"}; every tensor)\n"
    "  --strict    trailing data after the tensor data is an error (default: a warning)\n"
    "  -h, --help  show this help\n"
    "Exit status: 0 ok, 1 bad usage, 2 unreadable or malformed file (with -hf also: not on\n"
    "the hub or gated), 3 a download failed.\n";

int cli_inspect(int argc, char **argv) {
    const char *path = NULL, *hf = NULL;
    unsigned flags = 0;
    int no_more_flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!no_more_flags && a[0] == '-' && a[1] != 0) {
            if (!strcmp(a, "--")) {
                no_more_flags = 1;
            } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                fputs(USAGE, stdout);
                return EXIT_DONE;
            } else if (!strcmp(a, "-hf") || !strcmp(a, "--hf-repo")) {
                if (i + 1 >= argc) {
                    cli_error("inspect: %s needs a value (REPO[:QUANT])", a);
                    return EXIT_USAGE;
                }
                hf = argv[++i];
            } else if (!strcmp(a, "--tensors")) {
                flags |= GPTC_INSPECT_TENSORS;
            } else if (!strcmp(a, "--json")) {
                flags |= GPTC_INSPECT_JSON;
            } else if (!strcmp(a, "--strict")) {
                flags |= GPTC_INSPECT_STRICT;
            } else {
                cli_error("inspect: unknown option '%s' (see gptc inspect --help)", a);
                return EXIT_USAGE;
            }
        } else if (path) {
            cli_error("inspect: more than one file given ('%s' and '%s')", path, a);
            return EXIT_USAGE;
        } else {
            path = a;
        }
    }
    if (hf && path) {
        cli_error("inspect: use either FILE.gguf or -hf, not both");
        return EXIT_USAGE;
    }
    if (hf) {
        int r = cli_hub_model(hf, 0, &path);
        if (r) return r;
    }
    if (!path) {
        cli_error("inspect: no file given (usage: gptc inspect FILE.gguf [--tensors] [--json])");
        return EXIT_USAGE;
    }
    gptc_error err;
    gptc_status st = gptc_inspect_file(path, flags, stdout, &err);
    if (st != GPTC_OK) {
        if (ferror(stdout)) return EXIT_DONE; /* a write failure: main's cli_finish_stdout */
        cli_error("%s", err.msg);
        return cli_exit_code(st);
    }
    if (err.msg[0]) fprintf(stderr, "gptc: warning: %s\n", err.msg);
    return EXIT_DONE;
}
