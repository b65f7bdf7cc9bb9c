/* cli.h — the gptc command-line program: one entry point per subcommand (one file each).
 * Everything here uses only the public API in include/gptc.h.
 * Exit codes (README): 0 done, 1 usage, 2 model/tokenizer load error (also: the model file
 * changed under the mapping), 3 runtime/GPU error (also: an output write failed), 4 context
 * exceeded, 130 interrupted (SIGINT), 143 terminated (SIGTERM). */
#ifndef GPTC_CLI_H
#define GPTC_CLI_H

#include <stdio.h>

#include "gptc.h"

enum {
    EXIT_DONE = 0,
    EXIT_USAGE = 1,
    EXIT_LOAD = 2,
    EXIT_RUNTIME = 3,
    EXIT_CONTEXT = 4,
    EXIT_INTERRUPTED = 130,
    EXIT_TERMINATED = 143, /* 128 + SIGTERM, what a shell reports for a process it killed */
};

/* Prints "gptc: error: <formatted message>\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Maps a library status to the documented exit code. */
int cli_exit_code(gptc_status s);
/* cli_error of err's message (the status name when it has none); returns cli_exit_code(st). */
int cli_fail(gptc_status st, const gptc_error *err);

/* Output policy for stdout, shared by every subcommand: a reader that went away (a pipe or
 * socket: `| head`) ends the command quietly with its own exit code; any other write failure
 * (/dev/full, a full disk, a closed descriptor) is one "gptc: error: stdout: ..." line and exit
 * code 3. cli_stdout_gone: a write to stdout has failed (call after a failed write/fflush).
 * cli_finish_stdout: flushes stdout at exit and applies the policy to `code`. */
int cli_stdout_gone(void);
int cli_finish_stdout(int code);

/* The complete `gptc --help` text (cli/help.txt; the man page is made from the same file). */
extern const char cli_help_text[];
/* `gptc --version`: version, commit, CUDA architectures compiled in. */
void cli_print_version(FILE *f);

int cli_inspect(int argc, char **argv);    /* gptc inspect FILE.gguf [--tensors] [--json] */
int cli_tokenize(int argc, char **argv);   /* gptc tokenize ... */
int cli_detokenize(int argc, char **argv); /* gptc detokenize ... */
int cli_generate(int argc, char **argv);   /* gptc -m MODEL ... (one-shot generation) */
int cli_chat(int argc, char **argv);       /* gptc chat -m MODEL, or gptc -m MODEL -i */
int cli_batch(int argc, char **argv);      /* gptc batch -m MODEL -i in.jsonl -o out.jsonl */
int cli_bench(int argc, char **argv);      /* gptc bench -m MODEL -p 512 -n 128 -r 3 */
int cli_perplexity(int argc, char **argv); /* gptc perplexity -m MODEL -f FILE */
int cli_convert(int argc, char **argv);    /* gptc convert DIR [-o OUT.gguf] [--outtype T] */
int cli_render(int argc, char **argv);     /* gptc render -m MODEL --messages FILE */
int cli_pull(int argc, char **argv);       /* gptc pull REPO[:QUANT-OR-FILE] (pull.c) */
int cli_models(int argc, char **argv);     /* gptc models: the cached hub models */
int cli_rm(int argc, char **argv);         /* gptc rm REPO[:QUANT-OR-FILE] */
/* -hf REPO[:QUANT-OR-FILE]: the model's path from the hub cache, downloaded first when missing.
 * Returns 0 (path valid until exit) or an exit code after one error line. */
int cli_hub_model(const char *spec, int quiet, const char **path);

#endif
