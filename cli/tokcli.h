/* tokcli.h — helpers shared by gptc tokenize and gptc detokenize (defined in tokenize.c). */
#ifndef GPTC_CLI_TOKCLI_H
#define GPTC_CLI_TOKCLI_H

#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"

/* The options tokenize and detokenize share, at argv[*i]: -h/--help (prints usage to stdout,
 * returns -2), "--tokenizer FILE" (sets *json) or "-m/--model FILE" (sets *gguf; both return 1
 * with *i advanced past the file name). 0 when argv[*i] is another argument, -1 after printing
 * "FLAG needs a file name". */
int cli_tok_common_arg(int argc, char **argv, int *i, const char **json, const char **gguf,
                       void (*usage)(FILE *));
/* 0 when exactly one of json/gguf is set; otherwise prints "CMD: give exactly one of ..." and
 * returns EXIT_USAGE. */
int cli_tok_source_check(const char *cmd, const char *json, const char *gguf);
/* Loads the tokenizer named by --tokenizer / -m; prints the error and returns its exit code
 * (0 on success). */
int cli_tok_load(const char *json, const char *gguf, gptc_tokenizer **tok);
/* Reads all of stdin (NUL-terminated, at most CLI_MAX_INPUT bytes); NULL on error (printed). */
char *cli_tok_read_stdin(size_t *len);

#endif
