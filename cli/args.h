/* args.h — option parsing shared by the generation subcommands (generate, chat, batch, bench,
 * perplexity): one options struct, strict number/size parsing, model loading with progress, and
 * the small terminal helpers (isatty, NO_COLOR) every command needs.
 *
 * Every bad flag or value prints one "gptc: error: ..." line; callers then exit with EXIT_USAGE. */
#ifndef GPTC_CLI_ARGS_H
#define GPTC_CLI_ARGS_H

#include <stdint.h>

#include "cli/cli.h"
#include "cli/stopstr.h"

/* Which sampler fields were given on the command line (the rest keep the model's defaults). */
enum {
    CLI_SET_TEMP = 1 << 0,
    CLI_SET_TOP_K = 1 << 1,
    CLI_SET_TOP_P = 1 << 2,
    CLI_SET_MIN_P = 1 << 3,
    CLI_SET_REPEAT = 1 << 4,
    CLI_SET_PRESENCE = 1 << 5,
    CLI_SET_FREQUENCY = 1 << 6,
    CLI_SET_LAST_N = 1 << 7,
    CLI_SET_SEED = 1 << 8,
};

typedef struct cli_opts {
    /* model */
    const char *model;
    const char *hf_repo; /* -hf REPO[:QUANT-OR-FILE]: sets model from the hub cache (pull.c) */
    const char *tokenizer;
    gptc_backend backend;
    int device;
    uint64_t vram_budget;
    int yarn_rounded;
    int n_threads;
    int n_ctx;                  /* 0 = default */
    int n_batch;                /* 0 = default */
    gptc_cache_type cache_type; /* --cache-type / -ctk / -ctv (DEFAULT: the backend's) */
    int no_mmap, mlock;         /* --no-mmap, --mlock */
    int n_gpu_layers;           /* -ngl N; -2 = not given */
    int n_cpu_moe; /* --n-cpu-moe N / --cpu-moe (GPTC_CPU_MOE_ALL); GPTC_CPU_MOE_AUTO = not given */
    /* prompt */
    const char *prompt;
    const char *prompt_file;
    const char *system;        /* developer instructions (harmony) */
    const char *system_file;   /* file holding them */
    const char *effort;        /* "low" | "medium" | "high" */
    int effort_set;            /* --reasoning-effort given */
    int no_stdin;              /* --no-stdin: never read the prompt from stdin */
    const char *messages_file; /* --messages: a conversation in OpenAI's shape (messages.h) */
    const char *tools_file;    /* --tools: function tools in OpenAI's shape (tooldefs.h) */
    const char *tool_exec;     /* chat --tool-exec CMD: runs each call (toolexec.h) */
    int yes;                   /* chat --yes: run tools without asking */
    const char *tool_choice;   /* --tool-choice none|auto|required|NAME (toolchoice.h) */
    /* generation */
    int n_predict; /* -1 = until a stop token or the context is full */
    gptc_sampler_params samp;
    unsigned samp_set; /* CLI_SET_* */
    int raw, ignore_eos, show_reasoning;
    /* output control: --stop (up to CLI_MAX_STOP), --logprobs N (-1 = off), --logit-bias */
    const char *stops[CLI_MAX_STOP];
    int n_stops;
    int logprobs;
    gptc_logit_bias bias[GPTC_LOGIT_BIAS_MAX];
    int n_bias;
    /* output constraint (cli/constrain.c): at most one of these */
    const char *grammar, *grammar_file, *json_schema, *json_schema_file;
    int json_object;
    /* output */
    int json, quiet, verbose, timings, interactive;
    /* color: -1 auto (terminal and no NO_COLOR), 0 never, 1 always */
    int color;
} cli_opts;

void cli_opts_init(cli_opts *o);

/* Option groups a subcommand accepts. */
enum {
    CLI_G_MODEL = 1 << 0,   /* -m -hf --tokenizer --backend --device --vram-budget -t -c -b
                              --cache-type --yarn-rounded -ngl --n-cpu-moe --cpu-moe --no-mmap
                              --mlock */
    CLI_G_PROMPT = 1 << 1,  /* -p -f --no-stdin */
    CLI_G_SAMPLE = 1 << 2,  /* -n --temp ... --raw --stop --logprobs -l --grammar ... */
    CLI_G_HARMONY = 1 << 3, /* --system --system-file --reasoning-effort --show-reasoning
                               --messages --tools --tool-exec --tool-choice --yes */
    CLI_G_OUTPUT = 1 << 4,  /* --json --quiet -v --timings --color */
};

/* A subcommand's own options: called first for every argument. Returns the number of argv
 * entries consumed (1 or 2), 0 when the argument is not its own, -1 after printing an error. */
typedef int (*cli_extra_fn)(void *user, int argc, char **argv, int i);

/* Parses argv[1..]. Returns 0 ok, EXIT_USAGE after printing one error line, or -2 when --help
 * was printed (the caller exits 0). `usage` is printed for --help. */
int cli_parse(int argc, char **argv, unsigned groups, cli_opts *o, cli_extra_fn extra, void *user,
              const char *usage);

/* cli_parse plus the check of every command that runs a model (-m given). Returns CLI_CONTINUE
 * when the command goes on, else the code it exits with: EXIT_DONE after --help, EXIT_USAGE
 * after one error line. */
enum { CLI_CONTINUE = -1 };
int cli_parse_cmd(int argc, char **argv, unsigned groups, cli_opts *o, cli_extra_fn extra,
                  void *user, const char *usage);

/* Value of an option at argv[i]: "--flag VALUE" or "--flag=VALUE". *used is 1 or 2. NULL (after
 * an error line) when the value is missing. `name` is the flag without "=VALUE". */
const char *cli_optval(int argc, char **argv, int i, int *used);
/* Does argv[i] name this flag (exactly, or as "flag=...")? */
int cli_is_flag(const char *arg, const char *flag);

/* Strict number parsing; print "gptc: error: FLAG: ..." and return -1 on a bad value. */
int cli_parse_int(const char *flag, const char *s, long min, long max, int *out);
int cli_parse_float(const char *flag, const char *s, double min, double max, float *out);
int cli_parse_u64(const char *flag, const char *s, uint64_t *out);
/* A logit bias value as OpenAI takes it: [-100, 100], where -100 (and "-inf" on the command line)
 * bans the token (-INFINITY). Returns -1 (nothing printed) when out of range. */
int cli_bias_value(double v, float *out);
/* Sets id's bias in list[0..*n) (a later value for the same id replaces the earlier one).
 * Returns -1 when the list is full (GPTC_LOGIT_BIAS_MAX). */
int cli_bias_put(gptc_logit_bias *list, int *n, int32_t id, float bias);
/* "8G", "512MiB", "1.5GB", "123456" -> bytes. */
int cli_parse_size(const char *flag, const char *s, uint64_t *out);

/* Largest text input read whole (prompt, -f, -i, tokenizer stdin): 1 GiB. */
#define CLI_MAX_INPUT ((size_t)1 << 30)
/* Opens a file for reading: never hangs on a FIFO without a writer, refuses a directory.
 * Prints the error and returns -1 on failure. */
int cli_open_input(const char *path);
/* Do a and b name the same existing regular file (links included)? */
int cli_same_file(const char *a, const char *b);
/* An output file must not be one of the inputs (the model is memory-mapped: truncating it
 * would crash the run with SIGBUS and destroy the file). Checks out against -m, --tokenizer,
 * -f, --system-file and extra_in (may be NULL); prints the error and returns -1 on a clash. */
int cli_check_output(const cli_opts *o, const char *out, const char *extra_in);
/* Reads a whole file (NUL-terminated, at most CLI_MAX_INPUT bytes); prints an error and returns
 * NULL on failure. */
char *cli_slurp_file(const char *path, size_t *len);
/* Reads all of stdin; NULL on error (printed). */
char *cli_slurp_stdin(size_t *len);

/* Loads the model described by o (progress bar on a terminal unless quiet). Prints the error
 * and returns its exit code (0 on success). */
int cli_load_model(const cli_opts *o, int n_seq_hint, gptc_model **out);
/* After a model loaded: one warning for each harmony option (--system, --system-file,
 * --reasoning-effort, --show-reasoning) given to a model that does not use harmony (GPT-2, or
 * --raw), which ignores them. Not with --quiet. */
void cli_warn_unused_harmony(const cli_opts *o, int harmony);
/* Session parameters from the model defaults and the command line. */
void cli_session_params(const cli_opts *o, const gptc_model *m, gptc_session_params *sp);

/* Logging: to stderr when it is a terminal or -v, never with --quiet. */
int cli_log_enabled(const cli_opts *o);
void cli_log(const cli_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Colour on stderr/stdout (fd) allowed: a terminal, NO_COLOR unset (or --color forced). */
int cli_use_color(const cli_opts *o, int fd);

/* Today's date as YYYY-MM-DD (local time). */
void cli_today(char buf[16]);
/* Monotonic milliseconds. */
double cli_now_ms(void);

#endif
