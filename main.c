/* main.c — gptc: run GPT-family models (gpt-oss, GPT-2) from GGUF files.
 * Dispatches to one subcommand; with no subcommand (gptc -m MODEL ...) it generates text. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f) {
    fputs("usage: gptc -m MODEL.gguf [-p TEXT | -f FILE] [options]   generate text\n"
          "       gptc chat -m MODEL.gguf [options]                   interactive chat\n"
          "       gptc batch -m MODEL.gguf -i IN.jsonl -o OUT.jsonl   batch generation\n"
          "       gptc bench -m MODEL.gguf [-p 512] [-n 128] [-r 3]   speed benchmark\n"
          "       gptc perplexity -m MODEL.gguf -f FILE               perplexity / KL\n"
          "       gptc render -m MODEL.gguf --messages FILE [--tools F] the prompt gpt-oss sees\n"
          "       gptc inspect FILE.gguf [--tensors] [--json]         describe a GGUF file\n"
          "       gptc convert DIR [-o OUT.gguf] [--outtype T]        HF checkpoint -> GGUF\n"
          "       gptc tokenize (--tokenizer F.json | -m F.gguf)      text on stdin -> ids\n"
          "       gptc detokenize (--tokenizer F.json | -m F.gguf)    ids on stdin -> text\n"
          "       gptc pull REPO[:QUANT]                              download from the hub\n"
          "       gptc models | gptc rm REPO[:QUANT]                  list / remove downloads\n"
          "-hf REPO[:QUANT] (e.g. -hf gpt-oss-20b) replaces -m MODEL.gguf in generate, chat,\n"
          "batch, bench, perplexity and inspect: the model comes from the Hugging Face hub.\n"
          "Run 'gptc --help' for every option, 'gptc COMMAND --help' for a command's own.\n",
          f);
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"inspect", cli_inspect},       {"tokenize", cli_tokenize},
        {"detokenize", cli_detokenize}, {"chat", cli_chat},
        {"batch", cli_batch},           {"bench", cli_bench},
        {"perplexity", cli_perplexity}, {"convert", cli_convert},
        {"render", cli_render},         {"pull", cli_pull},
        {"models", cli_models},         {"rm", cli_rm},
    };
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* a closed stdout is an EPIPE write error, handled by each command (see cli.h) */
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(cli_help_text, stdout);
        return cli_finish_stdout(EXIT_DONE);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        cli_print_version(stdout);
        return cli_finish_stdout(EXIT_DONE);
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cli_finish_stdout(cmds[i].fn(argc - 1, argv + 1));
    if (argv[1][0] != '-') {
        cli_error("unknown command '%s' (see gptc --help)", argv[1]);
        return EXIT_USAGE;
    }
    return cli_finish_stdout(cli_generate(argc, argv));
}
