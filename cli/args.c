/* args.c — see args.h. */
#include "cli/args.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_opts_init(cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->backend = GPTC_BACKEND_AUTO;
    o->n_predict = -1;
    o->logprobs = -1;
    o->effort = "medium";
    o->color = -1;
    o->n_gpu_layers = -2;
    o->n_cpu_moe = GPTC_CPU_MOE_AUTO;
}

int cli_is_flag(const char *arg, const char *flag) {
    size_t n = strlen(flag);
    return !strncmp(arg, flag, n) && (arg[n] == 0 || (arg[n] == '=' && flag[1] == '-'));
}

const char *cli_optval(int argc, char **argv, int i, int *used) {
    const char *eq = argv[i][0] == '-' && argv[i][1] == '-' ? strchr(argv[i], '=') : NULL;
    if (eq) {
        *used = 1;
        return eq + 1;
    }
    if (i + 1 >= argc) {
        cli_error("%s needs a value", argv[i]);
        return NULL;
    }
    *used = 2;
    return argv[i + 1];
}

int cli_parse_int(const char *flag, const char *s, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno) {
        cli_error("%s: '%s' is not an integer", flag, s);
        return -1;
    }
    if (v < min || v > max) {
        cli_error("%s: %ld is out of range [%ld, %ld]", flag, v, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_parse_float(const char *flag, const char *s, double min, double max, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) {
        cli_error("%s: '%s' is not a number", flag, s);
        return -1;
    }
    if (v < min || v > max) {
        cli_error("%s: %g is out of range [%g, %g]", flag, v, min, max);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int cli_parse_u64(const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (!*s || *s == '-') {
        cli_error("%s: '%s' is not a non-negative integer", flag, s);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) {
        cli_error("%s: '%s' is not a non-negative integer", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_size(const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) {
        cli_error("%s: '%s' is not a size (e.g. 12G, 800MiB, 1048576)", flag, s);
        return -1;
    }
    double mul = 1;
    char u = *end;
    if (u == 'k' || u == 'K')
        mul = 1024.0;
    else if (u == 'm' || u == 'M')
        mul = 1024.0 * 1024;
    else if (u == 'g' || u == 'G')
        mul = 1024.0 * 1024 * 1024;
    else if (u == 't' || u == 'T')
        mul = 1024.0 * 1024 * 1024 * 1024;
    else if (u != 0 && u != 'b' && u != 'B')
        mul = 0;
    if (mul > 1) {
        end++;
        if (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib") || !strcmp(end, "b"))
            end += strlen(end);
    } else if (u == 'b' || u == 'B') {
        end++;
    }
    if (mul == 0 || *end || v * mul > 1.8e19) {
        cli_error("%s: '%s' is not a size (e.g. 12G, 800MiB, 1048576)", flag, s);
        return -1;
    }
    *out = (uint64_t)(v * mul);
    return 0;
}

int cli_bias_value(double v, float *out) {
    if (v != v || v > 100.0 || v < -100.0) {
        if (v == -INFINITY) {
            *out = -INFINITY;
            return 0;
        }
        return -1;
    }
    *out = v <= -100.0 ? -INFINITY : (float)v;
    return 0;
}

int cli_bias_put(gptc_logit_bias *list, int *n, int32_t id, float bias) {
    for (int i = 0; i < *n; i++)
        if (list[i].id == id) {
            list[i].bias = bias;
            return 0;
        }
    if (*n >= GPTC_LOGIT_BIAS_MAX) return -1;
    list[(*n)++] = (gptc_logit_bias){id, bias};
    return 0;
}

/* --logit-bias / -l: ID=BIAS, or llama.cpp's ID+BIAS / ID-BIAS; BIAS a number in [-100, 100]
 * or -inf */
static int parse_logit_bias(cli_opts *o, const char *flag, const char *v) {
    char *end;
    errno = 0;
    long id = v[0] >= '0' && v[0] <= '9' ? strtol(v, &end, 10) : -1;
    if (id < 0 || errno || id > INT32_MAX || (*end != '=' && *end != '+' && *end != '-')) {
        cli_error("%s: '%s' is not ID=BIAS (or ID+BIAS, ID-BIAS), e.g. 15043=-inf", flag, v);
        return -1;
    }
    const char *num = *end == '=' ? end + 1 : end;
    errno = 0;
    char *e2;
    double b = strtod(num, &e2);
    float f;
    if (!*num || *e2 || (errno && b != -INFINITY) || cli_bias_value(b, &f)) {
        cli_error("%s: bias '%s' is not a number in [-100, 100] or -inf", flag, num);
        return -1;
    }
    if (cli_bias_put(o->bias, &o->n_bias, (int32_t)id, f)) {
        cli_error("%s: more than %d logit biases", flag, GPTC_LOGIT_BIAS_MAX);
        return -1;
    }
    return 0;
}

/* One table entry per shared option. */
typedef enum {
    O_MODEL,
    O_HF,
    O_TOKENIZER,
    O_BACKEND,
    O_DEVICE,
    O_VRAM,
    O_YARN,
    O_THREADS,
    O_CTX,
    O_BATCH,
    O_CACHE,
    O_CACHE_K,
    O_CACHE_V,
    O_PROMPT,
    O_FILE,
    O_SYSTEM,
    O_SYSTEM_FILE,
    O_EFFORT,
    O_SHOW_REASONING,
    O_MESSAGES,
    O_TOOLS,
    O_TOOL_EXEC,
    O_TOOL_CHOICE,
    O_YES,
    O_NPREDICT,
    O_TEMP,
    O_TOPK,
    O_TOPP,
    O_MINP,
    O_REPEAT,
    O_PRESENCE,
    O_FREQUENCY,
    O_LASTN,
    O_SEED,
    O_RAW,
    O_IGNORE_EOS,
    O_STOP,
    O_LOGPROBS,
    O_LOGIT_BIAS,
    O_GRAMMAR,
    O_GRAMMAR_FILE,
    O_JSON_SCHEMA,
    O_JSON_SCHEMA_FILE,
    O_JSON_OBJECT,
    O_JSON,
    O_QUIET,
    O_VERBOSE,
    O_TIMINGS,
    O_INTERACTIVE,
    O_COLOR,
    O_NGL,
    O_N_CPU_MOE,
    O_CPU_MOE,
    O_NO_MMAP,
    O_MLOCK,
    O_NO_STDIN,
} opt_id;

static const struct {
    const char *s, *l; /* short, long (either may be NULL) */
    opt_id id;
    unsigned group;
    int has_val;
} opts_table[] = {
    {"-m", "--model", O_MODEL, CLI_G_MODEL, 1},
    {"-hf", "--hf-repo", O_HF, CLI_G_MODEL, 1},
    {NULL, "--tokenizer", O_TOKENIZER, CLI_G_MODEL, 1},
    {NULL, "--backend", O_BACKEND, CLI_G_MODEL, 1},
    {NULL, "--device", O_DEVICE, CLI_G_MODEL, 1},
    {NULL, "--vram-budget", O_VRAM, CLI_G_MODEL, 1},
    {NULL, "--yarn-rounded", O_YARN, CLI_G_MODEL, 0},
    {"-t", "--threads", O_THREADS, CLI_G_MODEL, 1},
    {"-c", "--ctx-size", O_CTX, CLI_G_MODEL, 1},
    {"-b", "--batch-size", O_BATCH, CLI_G_MODEL, 1},
    {NULL, "--cache-type", O_CACHE, CLI_G_MODEL, 1},
    {"-ctk", "--cache-type-k", O_CACHE_K, CLI_G_MODEL, 1}, /* llama.cpp's spellings */
    {"-ctv", "--cache-type-v", O_CACHE_V, CLI_G_MODEL, 1},
    {"-p", "--prompt", O_PROMPT, CLI_G_PROMPT, 1},
    {"-f", "--file", O_FILE, CLI_G_PROMPT, 1},
    {NULL, "--system", O_SYSTEM, CLI_G_HARMONY, 1},
    {NULL, "--system-file", O_SYSTEM_FILE, CLI_G_HARMONY, 1},
    {NULL, "--reasoning-effort", O_EFFORT, CLI_G_HARMONY, 1},
    {NULL, "--show-reasoning", O_SHOW_REASONING, CLI_G_HARMONY, 0},
    {NULL, "--messages", O_MESSAGES, CLI_G_HARMONY, 1},
    {NULL, "--tools", O_TOOLS, CLI_G_HARMONY, 1},
    {NULL, "--tool-exec", O_TOOL_EXEC, CLI_G_HARMONY, 1},
    {NULL, "--tool-choice", O_TOOL_CHOICE, CLI_G_HARMONY, 1},
    {"-y", "--yes", O_YES, CLI_G_HARMONY, 0},
    {"-n", "--n-predict", O_NPREDICT, CLI_G_SAMPLE, 1},
    {NULL, "--temp", O_TEMP, CLI_G_SAMPLE, 1},
    {NULL, "--top-k", O_TOPK, CLI_G_SAMPLE, 1},
    {NULL, "--top-p", O_TOPP, CLI_G_SAMPLE, 1},
    {NULL, "--min-p", O_MINP, CLI_G_SAMPLE, 1},
    {NULL, "--repeat-penalty", O_REPEAT, CLI_G_SAMPLE, 1},
    {NULL, "--presence-penalty", O_PRESENCE, CLI_G_SAMPLE, 1},
    {NULL, "--frequency-penalty", O_FREQUENCY, CLI_G_SAMPLE, 1},
    {NULL, "--repeat-last-n", O_LASTN, CLI_G_SAMPLE, 1},
    {"-s", "--seed", O_SEED, CLI_G_SAMPLE, 1},
    {NULL, "--raw", O_RAW, CLI_G_SAMPLE, 0},
    {NULL, "--ignore-eos", O_IGNORE_EOS, CLI_G_SAMPLE, 0},
    {NULL, "--stop", O_STOP, CLI_G_SAMPLE, 1},
    {NULL, "--logprobs", O_LOGPROBS, CLI_G_SAMPLE, 1},
    {"-l", "--logit-bias", O_LOGIT_BIAS, CLI_G_SAMPLE, 1},
    {NULL, "--grammar", O_GRAMMAR, CLI_G_SAMPLE, 1},
    {NULL, "--grammar-file", O_GRAMMAR_FILE, CLI_G_SAMPLE, 1},
    {NULL, "--json-schema", O_JSON_SCHEMA, CLI_G_SAMPLE, 1},
    {NULL, "--json-schema-file", O_JSON_SCHEMA_FILE, CLI_G_SAMPLE, 1},
    {NULL, "--json-object", O_JSON_OBJECT, CLI_G_SAMPLE, 0},
    {NULL, "--json", O_JSON, CLI_G_OUTPUT, 0},
    {"-q", "--quiet", O_QUIET, CLI_G_OUTPUT, 0},
    {"-v", "--verbose", O_VERBOSE, CLI_G_OUTPUT, 0},
    {NULL, "--timings", O_TIMINGS, CLI_G_OUTPUT, 0},
    {"-i", "--interactive", O_INTERACTIVE, CLI_G_OUTPUT, 0},
    {NULL, "--color", O_COLOR, CLI_G_OUTPUT, 1},
    {"-ngl", "--n-gpu-layers", O_NGL, CLI_G_MODEL, 1},
    {"-ncmoe", "--n-cpu-moe", O_N_CPU_MOE, CLI_G_MODEL, 1}, /* llama.cpp's expert offload */
    {"-cmoe", "--cpu-moe", O_CPU_MOE, CLI_G_MODEL, 0},
    {NULL, "--no-mmap", O_NO_MMAP, CLI_G_MODEL, 0},
    {NULL, "--mlock", O_MLOCK, CLI_G_MODEL, 0},
    {NULL, "--no-stdin", O_NO_STDIN, CLI_G_PROMPT, 0},
};

static int apply(cli_opts *o, opt_id id, const char *flag, const char *v) {
    float f;
    int n;
    switch (id) {
    case O_MODEL:
        o->model = v;
        return 0;
    case O_HF:
        o->hf_repo = v;
        return 0;
    case O_TOKENIZER:
        o->tokenizer = v;
        return 0;
    case O_BACKEND:
        if (!strcmp(v, "auto"))
            o->backend = GPTC_BACKEND_AUTO;
        else if (!strcmp(v, "cpu"))
            o->backend = GPTC_BACKEND_CPU;
        else if (!strcmp(v, "cuda") || !strcmp(v, "gpu"))
            o->backend = GPTC_BACKEND_CUDA;
        else {
            cli_error("%s: '%s' is not one of auto, cpu, cuda", flag, v);
            return -1;
        }
        return 0;
    case O_DEVICE:
        return cli_parse_int(flag, v, 0, 1024, &o->device);
    case O_VRAM:
        return cli_parse_size(flag, v, &o->vram_budget);
    case O_YARN:
        o->yarn_rounded = 1;
        return 0;
    case O_THREADS:
        return cli_parse_int(flag, v, 0, 4096, &o->n_threads);
    case O_CTX:
        return cli_parse_int(flag, v, 0, 1 << 24, &o->n_ctx);
    case O_BATCH:
        return cli_parse_int(flag, v, 1, 1 << 20, &o->n_batch);
    case O_CACHE:
    case O_CACHE_K:
    case O_CACHE_V: {
        gptc_cache_type t;
        if (!strcmp(v, "f32"))
            t = GPTC_CACHE_F32;
        else if (!strcmp(v, "f16"))
            t = GPTC_CACHE_F16;
        else if (!strcmp(v, "q8_0"))
            t = GPTC_CACHE_Q8_0;
        else {
            cli_error("%s: '%s' is not one of f32, f16, q8_0", flag, v);
            return -1;
        }
        /* one type for keys and values: -ctk and -ctv must agree */
        if (o->cache_type != GPTC_CACHE_DEFAULT && o->cache_type != t) {
            cli_error("%s %s: keys and values share one cache type (already %s)", flag, v,
                      gptc_cache_type_name(o->cache_type));
            return -1;
        }
        o->cache_type = t;
        return 0;
    }
    case O_PROMPT:
        o->prompt = v;
        return 0;
    case O_FILE:
        o->prompt_file = v;
        return 0;
    case O_SYSTEM:
        o->system = v;
        return 0;
    case O_SYSTEM_FILE:
        o->system_file = v;
        return 0;
    case O_EFFORT:
        if (strcmp(v, "low") && strcmp(v, "medium") && strcmp(v, "high")) {
            cli_error("%s: '%s' is not one of low, medium, high", flag, v);
            return -1;
        }
        o->effort = v;
        o->effort_set = 1;
        return 0;
    case O_SHOW_REASONING:
        o->show_reasoning = 1;
        return 0;
    case O_MESSAGES:
        o->messages_file = v;
        return 0;
    case O_TOOLS:
        o->tools_file = v;
        return 0;
    case O_TOOL_EXEC:
        o->tool_exec = v;
        return 0;
    case O_TOOL_CHOICE:
        o->tool_choice = v;
        return 0;
    case O_YES:
        o->yes = 1;
        return 0;
    case O_NPREDICT:
        return cli_parse_int(flag, v, -1, 1 << 30, &o->n_predict);
    case O_TEMP:
        if (cli_parse_float(flag, v, 0, 100, &o->samp.temperature)) return -1;
        o->samp_set |= CLI_SET_TEMP;
        return 0;
    case O_TOPK:
        if (cli_parse_int(flag, v, 0, 1 << 30, &o->samp.top_k)) return -1;
        o->samp_set |= CLI_SET_TOP_K;
        return 0;
    case O_TOPP:
        if (cli_parse_float(flag, v, 0, 1, &o->samp.top_p)) return -1;
        o->samp_set |= CLI_SET_TOP_P;
        return 0;
    case O_MINP:
        if (cli_parse_float(flag, v, 0, 1, &o->samp.min_p)) return -1;
        o->samp_set |= CLI_SET_MIN_P;
        return 0;
    case O_REPEAT:
        if (cli_parse_float(flag, v, 0, 100, &f)) return -1;
        if (f <= 0) {
            cli_error("%s: must be > 0 (1 = off)", flag);
            return -1;
        }
        o->samp.repeat_penalty = f;
        o->samp_set |= CLI_SET_REPEAT;
        return 0;
    case O_PRESENCE:
        if (cli_parse_float(flag, v, -100, 100, &o->samp.presence_penalty)) return -1;
        o->samp_set |= CLI_SET_PRESENCE;
        return 0;
    case O_FREQUENCY:
        if (cli_parse_float(flag, v, -100, 100, &o->samp.frequency_penalty)) return -1;
        o->samp_set |= CLI_SET_FREQUENCY;
        return 0;
    case O_LASTN:
        if (cli_parse_int(flag, v, -1, 1 << 24, &n)) return -1;
        o->samp.penalty_last_n = n;
        o->samp_set |= CLI_SET_LAST_N;
        return 0;
    case O_SEED:
        if (!strcmp(v, "-1")) { /* llama.cpp's "random seed": the default */
            o->samp_set &= ~(unsigned)CLI_SET_SEED;
            return 0;
        }
        if (cli_parse_u64(flag, v, &o->samp.seed)) return -1;
        o->samp_set |= CLI_SET_SEED;
        return 0;
    case O_RAW:
        o->raw = 1;
        return 0;
    case O_IGNORE_EOS:
        o->ignore_eos = 1;
        return 0;
    case O_STOP: {
        const char *why = cli_stop_check(v, strlen(v));
        if (why) {
            cli_error("%s: %s", flag, why);
            return -1;
        }
        if (o->n_stops >= CLI_MAX_STOP) {
            cli_error("%s: at most %d stop strings", flag, CLI_MAX_STOP);
            return -1;
        }
        o->stops[o->n_stops++] = v;
        return 0;
    }
    case O_LOGPROBS:
        return cli_parse_int(flag, v, 0, 20, &o->logprobs);
    case O_LOGIT_BIAS:
        return parse_logit_bias(o, flag, v);
    case O_GRAMMAR:
        o->grammar = v;
        return 0;
    case O_GRAMMAR_FILE:
        o->grammar_file = v;
        return 0;
    case O_JSON_SCHEMA:
        o->json_schema = v;
        return 0;
    case O_JSON_SCHEMA_FILE:
        o->json_schema_file = v;
        return 0;
    case O_JSON_OBJECT:
        o->json_object = 1;
        return 0;
    case O_JSON:
        o->json = 1;
        return 0;
    case O_QUIET:
        o->quiet = 1;
        return 0;
    case O_VERBOSE:
        o->verbose = 1;
        return 0;
    case O_TIMINGS:
        o->timings = 1;
        return 0;
    case O_INTERACTIVE:
        o->interactive = 1;
        return 0;
    case O_NGL: /* llama.cpp's layer offload: 0 = CPU; any other count = every layer on the
                   GPU (gptc has no partial offload) */
        return cli_parse_int(flag, v, -1, 1 << 20, &o->n_gpu_layers);
    case O_N_CPU_MOE: /* as llama.cpp: N < 0 is an error, N > layers means every layer; with
                         --cpu-moe too (or twice), the larger count holds (the union) */
        if (cli_parse_int(flag, v, 0, GPTC_CPU_MOE_ALL, &n)) return -1;
        if (n > o->n_cpu_moe) o->n_cpu_moe = n;
        return 0;
    case O_CPU_MOE:
        o->n_cpu_moe = GPTC_CPU_MOE_ALL;
        return 0;
    case O_NO_MMAP:
        o->no_mmap = 1;
        return 0;
    case O_MLOCK:
        o->mlock = 1;
        return 0;
    case O_NO_STDIN:
        o->no_stdin = 1;
        return 0;
    case O_COLOR:
        if (!strcmp(v, "auto"))
            o->color = -1;
        else if (!strcmp(v, "always") || !strcmp(v, "on"))
            o->color = 1;
        else if (!strcmp(v, "never") || !strcmp(v, "off"))
            o->color = 0;
        else {
            cli_error("%s: '%s' is not one of auto, always, never", flag, v);
            return -1;
        }
        return 0;
    }
    return 0;
}

int cli_parse(int argc, char **argv, unsigned groups, cli_opts *o, cli_extra_fn extra, void *user,
              const char *usage) {
    for (int i = 1; i < argc;) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return -2;
        }
        if (extra) {
            int r = extra(user, argc, argv, i);
            if (r < 0) return EXIT_USAGE;
            if (r > 0) {
                i += r;
                continue;
            }
        }
        int found = -1;
        for (size_t k = 0; k < sizeof opts_table / sizeof opts_table[0]; k++) {
            if (!(opts_table[k].group & groups)) continue;
            if ((opts_table[k].s && !strcmp(a, opts_table[k].s)) ||
                (opts_table[k].l && (opts_table[k].has_val ? cli_is_flag(a, opts_table[k].l)
                                                           : !strcmp(a, opts_table[k].l)))) {
                found = (int)k;
                break;
            }
        }
        if (found < 0) {
            if (a[0] == '-' && a[1])
                cli_error("unknown option '%s' (see --help)", a);
            else
                cli_error("unexpected argument '%s' (see --help)", a);
            return EXIT_USAGE;
        }
        const char *flag = opts_table[found].l ? opts_table[found].l : opts_table[found].s;
        int used = 1;
        const char *v = NULL;
        if (opts_table[found].has_val) {
            v = cli_optval(argc, argv, i, &used);
            if (!v) return EXIT_USAGE;
        }
        if (apply(o, opts_table[found].id, flag, v)) return EXIT_USAGE;
        i += used;
    }
    if (o->hf_repo) { /* the model from the hub cache (downloaded when missing) */
        if (o->model) {
            cli_error("use either -m or -hf, not both");
            return EXIT_USAGE;
        }
        return cli_hub_model(o->hf_repo, o->quiet, &o->model);
    }
    return 0;
}

int cli_parse_cmd(int argc, char **argv, unsigned groups, cli_opts *o, cli_extra_fn extra,
                  void *user, const char *usage) {
    int r = cli_parse(argc, argv, groups, o, extra, user, usage);
    if (r == -2) return EXIT_DONE;
    if (r) return r;
    if (!o->model) {
        cli_error("no model given (use -m MODEL.gguf or -hf REPO)");
        return EXIT_USAGE;
    }
    return CLI_CONTINUE;
}

/* Reads fd to EOF into a NUL-terminated buffer of at most CLI_MAX_INPUT bytes (an endless
 * source such as /dev/zero is refused instead of eating all memory). */
static char *slurp_fd(int fd, const char *name, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        cli_error("%s: out of memory", name);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= CLI_MAX_INPUT) {
                free(buf);
                cli_error("%s: larger than %zu MiB (not a text file?)", name,
                          (size_t)CLI_MAX_INPUT >> 20);
                return NULL;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                cli_error("%s: out of memory", name);
                return NULL;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            cli_error("%s: %s", name, strerror(e));
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int cli_open_input(const char *path) {
    /* O_NONBLOCK so that opening a FIFO with no writer returns at once (its read then sees
     * end-of-file) instead of hanging; cleared again for the reads */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        cli_error("%s: is a directory", path);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && S_ISREG(sa.st_mode) &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_check_output(const cli_opts *o, const char *out, const char *extra_in) {
    const char *ins[] = {o->model, o->tokenizer, o->prompt_file, o->system_file, extra_in};
    for (size_t i = 0; i < sizeof ins / sizeof *ins; i++)
        if (cli_same_file(out, ins[i])) {
            cli_error("%s: this output file is also an input (%s): refusing to overwrite it", out,
                      ins[i]);
            return -1;
        }
    return 0;
}

char *cli_slurp_file(const char *path, size_t *len) {
    int fd = cli_open_input(path);
    if (fd < 0) return NULL;
    char *buf = slurp_fd(fd, path, len);
    close(fd);
    return buf;
}

char *cli_slurp_stdin(size_t *len) {
    return slurp_fd(0, "stdin", len);
}

int cli_log_enabled(const cli_opts *o) {
    return !o->quiet && (o->verbose || isatty(2));
}

void cli_log(const cli_opts *o, const char *fmt, ...) {
    if (!cli_log_enabled(o)) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

int cli_use_color(const cli_opts *o, int fd) {
    if (o->color == 0) return 0;
    if (o->color == 1) return 1;
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc) return 0;
    const char *term = getenv("TERM");
    if (term && !strcmp(term, "dumb")) return 0;
    return isatty(fd);
}

void cli_today(char buf[16]) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, 16, "%Y-%m-%d", &tm);
}

double cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

typedef struct progress_state {
    double t0, last;
    int shown;
} progress_state;

static void load_progress(void *user, uint64_t done, uint64_t total) {
    progress_state *ps = user;
    double now = cli_now_ms();
    if (done < total && now - ps->last < 100) return;
    if (!ps->shown && done >= total && now - ps->t0 < 300) return; /* too fast to matter */
    ps->last = now;
    ps->shown = 1;
    double frac = total ? (double)done / (double)total : 1.0;
    int w = 30, fill = (int)(frac * w + 0.5);
    fprintf(stderr, "\rloading [");
    for (int i = 0; i < w; i++) fputc(i < fill ? '=' : ' ', stderr);
    fprintf(stderr, "] %3.0f%% %.2f/%.2f GiB", frac * 100, done / 1073741824.0,
            total / 1073741824.0);
    if (done >= total) fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* ---- SIGBUS in the model's mapping --------------------------------------------------------
 * The weights are read through a memory mapping of the GGUF file. When the file is truncated or
 * rewritten in place while gptc runs, touching a page that is gone raises SIGBUS. A fault inside
 * a model mapping ends the process with one error line and exit code 2 (the model file); any
 * other SIGBUS is a bug and keeps the default action (a core dump). */
#define CLI_MAX_MAPS 512 /* mapped files (a split model maps each of its shards) */
typedef struct sigbus_msg {
    char text[640];
    size_t len;
} sigbus_msg;
static struct {
    const char *addr;
    size_t len;
    const sigbus_msg *msg; /* allocated once, kept for the process's life */
} g_maps[CLI_MAX_MAPS];
static volatile sig_atomic_t g_n_maps;
/* while a model loads (its mapping is not known yet), any SIGBUS is the model file's */
static sigbus_msg g_loading_msg;
static volatile sig_atomic_t g_loading;

static void on_sigbus(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    const char *a = si ? (const char *)si->si_addr : NULL;
    const sigbus_msg *m = g_loading ? &g_loading_msg : NULL;
    for (int i = 0; !m && i < g_n_maps && a; i++)
        if (a >= g_maps[i].addr && a < g_maps[i].addr + g_maps[i].len) m = g_maps[i].msg;
    if (m) {
        ssize_t w = write(2, m->text, m->len);
        (void)w;
        _exit(EXIT_LOAD);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The one line written from the handler (prepared here: the handler may only write(2)). */
static void sigbus_prepare(sigbus_msg *m, const char *path) {
    char shown[401];
    size_t n = 0;
    for (; path[n] && n < sizeof shown - 1; n++) /* one line: control characters as '?' */
        shown[n] = (unsigned char)path[n] < 0x20 || path[n] == 0x7f ? '?' : path[n];
    shown[n] = 0;
    int k = snprintf(m->text, sizeof m->text,
                     "gptc: error: %s: the model file was truncated or rewritten while gptc was "
                     "reading it (replace model files with mv, or use --no-mmap)\n",
                     shown);
    m->len = k > 0 && (size_t)k < sizeof m->text ? (size_t)k : 0;
    static int installed;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGBUS, &sa, NULL);
        installed = 1;
    }
}

/* Every mapped file of the model (each shard of a split model). */
static void watch_mapping(const gptc_model *m) {
    for (int f = 0; f < gptc_model_n_files(m) && g_n_maps < CLI_MAX_MAPS; f++) {
        const void *addr = NULL;
        const char *path = NULL;
        size_t len = gptc_model_file(m, f, &path, NULL, &addr);
        sigbus_msg *msg = len ? malloc(sizeof *msg) : NULL;
        if (!msg) continue;
        sigbus_prepare(msg, path);
        int i = g_n_maps;
        g_maps[i].addr = addr;
        g_maps[i].len = len;
        g_maps[i].msg = msg;
        g_n_maps = i + 1;
    }
}

void cli_warn_unused_harmony(const cli_opts *o, int harmony) {
    if (harmony || o->quiet) return;
    const char *given[4];
    int n = 0;
    if (o->system) given[n++] = "--system";
    if (o->system_file) given[n++] = "--system-file";
    if (o->effort_set) given[n++] = "--reasoning-effort";
    if (o->show_reasoning) given[n++] = "--show-reasoning";
    for (int i = 0; i < n; i++)
        fprintf(stderr, "gptc: warning: %s is ignored: %s (no harmony chat format, no reasoning)\n",
                given[i], o->raw ? "--raw feeds the text as is" : "this is a plain text model");
}

int cli_load_model(const cli_opts *o, int n_seq_hint, gptc_model **out) {
    *out = NULL;
    if (!o->model) {
        cli_error("no model given (use -m MODEL.gguf or -hf REPO)");
        return EXIT_USAGE;
    }
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = o->model;
    mp.tokenizer_path = o->tokenizer;
    mp.backend = o->backend;
    if (o->n_gpu_layers == 0) { /* llama.cpp's -ngl 0: nothing on the GPU */
        if (o->backend == GPTC_BACKEND_CUDA) {
            cli_error("-ngl 0 keeps every layer on the CPU, but --backend cuda asks for the GPU");
            return EXIT_USAGE;
        }
        mp.backend = GPTC_BACKEND_CPU;
    }
    mp.no_mmap = o->no_mmap;
    mp.mlock = o->mlock;
    mp.device = o->device;
    mp.n_threads = o->n_threads;
    mp.vram_budget = o->vram_budget;
    mp.n_cpu_moe = o->n_cpu_moe;
    mp.n_ctx_hint = o->n_ctx;
    mp.cache_type = o->cache_type;
    mp.n_seq_hint = n_seq_hint;
    mp.yarn_rounded = o->yarn_rounded;
    mp.verbose = o->verbose && !o->quiet;
    progress_state ps = {cli_now_ms(), 0, 0};
    if (!o->quiet && isatty(2)) {
        mp.progress = load_progress;
        mp.progress_user = &ps;
    }
    gptc_error err = {0};
    sigbus_prepare(&g_loading_msg, o->model);
    g_loading = 1;
    gptc_status st = gptc_model_load(&mp, out, &err);
    g_loading = 0;
    if (ps.shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    if (st != GPTC_OK) {
        cli_error("%s", err.msg[0] ? err.msg : gptc_status_name(st));
        *out = NULL;
        return cli_exit_code(st);
    }
    watch_mapping(*out);
    gptc_model_info info;
    gptc_model_get_info(*out, &info);
    if (info.warning[0] && !o->quiet) fprintf(stderr, "gptc: warning: %s\n", info.warning);
    return 0;
}

void cli_session_params(const cli_opts *o, const gptc_model *m, gptc_session_params *sp) {
    gptc_session_params_default(m, sp);
    if (o->n_ctx > 0) sp->n_ctx = o->n_ctx;
    if (o->n_batch > 0) sp->n_batch = o->n_batch;
    sp->cache_type = o->cache_type;
    gptc_sampler_params *s = &sp->sampling;
    unsigned set = o->samp_set;
    if (set & CLI_SET_TEMP) s->temperature = o->samp.temperature;
    if (set & CLI_SET_TOP_K) s->top_k = o->samp.top_k;
    if (set & CLI_SET_TOP_P) s->top_p = o->samp.top_p;
    if (set & CLI_SET_MIN_P) s->min_p = o->samp.min_p;
    if (set & CLI_SET_REPEAT) s->repeat_penalty = o->samp.repeat_penalty;
    if (set & CLI_SET_PRESENCE) s->presence_penalty = o->samp.presence_penalty;
    if (set & CLI_SET_FREQUENCY) s->frequency_penalty = o->samp.frequency_penalty;
    if (set & CLI_SET_LAST_N) s->penalty_last_n = o->samp.penalty_last_n;
    s->logit_bias = o->n_bias ? o->bias : NULL;
    s->n_logit_bias = o->n_bias;
    if (set & CLI_SET_SEED)
        s->seed = o->samp.seed;
    else {
        /* no seed given: a fresh one per run, like llama.cpp's -s -1 */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    }
}
