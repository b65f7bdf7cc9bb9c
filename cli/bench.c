/* bench.c — gptc bench -m MODEL [-p 512[,2048]] [-n 128[,..]] [-d 0[,8192]] [-r 3]
 *                       [--backend cpu|cuda] [-t N] [-c CTX] [--parallel 1,8,32]
 *
 * Like llama-bench: pp = one feed of P random tokens into a fresh context; tg = N single-token
 * decodes (fixed token ids, no sampling) after a fresh context. -d D (depth, llama-bench -d):
 * the context first holds D random tokens (fed once per depth, not timed; every run is
 * truncated back to them) and the tests run on top; the test column reads "tg128 @ d8192".
 * Each test runs once as warm-up,
 * then r times; the table shows mean ± sample standard deviation of tokens/s (tokenization and
 * sampling excluded). Load time and, on CUDA, weight residency and device memory go to stderr
 * below the table.
 *
 * --parallel N[,N..]: like llama-batched-bench instead: for each N, N sequences each get their
 * own random prompt of -p tokens (fed one after another: PP), then -n steps decode one token
 * for every sequence together (gptc_decode_multi: TG). The table gives the times and rates of
 * both phases and their sum; S_TG = N * n / T_TG is the aggregate generation rate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

static const char usage_text[] =
    "usage: gptc bench -m MODEL.gguf [options]\n"
    "  -p, --n-prompt N[,N..]   prompt-processing tests (default 512; 0 = none)\n"
    "  -n, --n-gen N[,N..]      generation tests (default 128; 0 = none)\n"
    "  -d, --n-depth N[,N..]    context depth: tokens already in the context (default 0)\n"
    "  -r, --repetitions N      runs per test (default 3)\n"
    "  -c, --ctx-size N         context (default: just enough for the largest test)\n"
    "  -t, --threads N  --backend auto|cpu|cuda  --device N  --vram-budget SIZE  -b N  -v\n"
    "  --n-cpu-moe N, --cpu-moe  experts of the first N (all) layers in host memory (CUDA)\n"
    "  --cache-type f32|f16|q8_0 (-ctk/-ctv)\n"
    "  --parallel N[,N..]       batched generation instead (like llama-batched-bench): N\n"
    "                           sequences, prompts of -p tokens, -n tokens each, decoded together\n"
    "Prints a markdown table: model, size, params, backend, threads, test, t/s (mean ± sd).\n";

#define MAX_TESTS 16
typedef struct bench_extra {
    int pp[MAX_TESTS], n_pp;
    int tg[MAX_TESTS], n_tg;
    int reps;
    int pp_set, tg_set;
    int np[MAX_TESTS], n_np;
    int depth[MAX_TESTS], n_depth;
} bench_extra;

static int parse_list(const char *flag, const char *v, int *out, int *n) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    *n = 0;
    for (char *t = buf, *next; t; t = next) { /* every item non-empty: "1,,2" is refused */
        next = strchr(t, ',');
        if (next) *next++ = 0;
        if (*n == MAX_TESTS) {
            cli_error("%s: at most %d values", flag, MAX_TESTS);
            return -1;
        }
        if (cli_parse_int(flag, t, 0, 1 << 20, &out[*n])) return -1;
        (*n)++;
    }
    if (*n == 0) {
        cli_error("%s: no value", flag);
        return -1;
    }
    return 0;
}

static int extra_opts(void *user, int argc, char **argv, int i) {
    bench_extra *e = user;
    int used;
    const char *v;
    const char *a = argv[i];
    if (!strcmp(a, "-p") || cli_is_flag(a, "--n-prompt")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        e->pp_set = 1;
        return parse_list("-p", v, e->pp, &e->n_pp) ? -1 : used;
    }
    if (!strcmp(a, "-n") || cli_is_flag(a, "--n-gen")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        e->tg_set = 1;
        return parse_list("-n", v, e->tg, &e->n_tg) ? -1 : used;
    }
    if (cli_is_flag(a, "--parallel") || !strcmp(a, "-npl")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        if (parse_list("--parallel", v, e->np, &e->n_np)) return -1;
        for (int k = 0; k < e->n_np; k++)
            if (e->np[k] < 1 || e->np[k] > 4096) {
                cli_error("--parallel: %d is not in 1..4096", e->np[k]);
                return -1;
            }
        return used;
    }
    if (!strcmp(a, "-d") || cli_is_flag(a, "--n-depth")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        return parse_list("-d", v, e->depth, &e->n_depth) ? -1 : used;
    }
    if (!strcmp(a, "-r") || cli_is_flag(a, "--repetitions")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        return cli_parse_int("-r", v, 1, 1000, &e->reps) ? -1 : used;
    }
    return 0;
}

/* xorshift for the random prompt */
static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* One run on top of the first `depth` tokens of the context: returns tokens/s, or -1 after
 * printing an error. */
static double run_test(gptc_session *s, int depth, const int32_t *ids, int n, int is_pp,
                       int *code) {
    gptc_error err = {0};
    gptc_status st = gptc_session_truncate(s, depth, &err);
    double t0 = cli_now_ms();
    if (st == GPTC_OK && is_pp) {
        st = gptc_session_feed(s, ids, (size_t)n, &err);
    } else {
        for (int i = 0; st == GPTC_OK && i < n; i++) st = gptc_session_feed(s, ids + i, 1, &err);
    }
    double ms = cli_now_ms() - t0;
    if (st != GPTC_OK) {
        *code = cli_fail(st, &err);
        return -1;
    }
    return ms > 0 ? n * 1000.0 / ms : 0;
}

/* One batched run of np sequences: prompts ids + i * pp (pp tokens each), then tg joint decode
 * steps. Fills the phase times (ms); returns 0, or -1 after printing an error. */
static int run_batched(gptc_session **ss, int np, const int32_t *ids, int pp, int tg, double *pp_ms,
                       double *tg_ms, int *code) {
    gptc_error err = {0};
    gptc_status st = GPTC_OK;
    for (int i = 0; i < np && st == GPTC_OK; i++) st = gptc_session_truncate(ss[i], 0, &err);
    double t0 = cli_now_ms();
    for (int i = 0; i < np && st == GPTC_OK && pp > 0; i++)
        st = gptc_session_feed(ss[i], ids + (size_t)i * pp, (size_t)pp, &err);
    double t1 = cli_now_ms();
    int32_t *step = malloc(sizeof *step * (size_t)np);
    if (!step) {
        cli_error("out of memory");
        *code = EXIT_RUNTIME;
        return -1;
    }
    for (int k = 0; k < tg && st == GPTC_OK; k++) {
        for (int i = 0; i < np; i++) step[i] = ids[((size_t)i * 7 + k) % ((size_t)np * pp + 1)];
        st = np == 1 ? gptc_session_feed(ss[0], step, 1, &err)
                     : gptc_decode_multi(ss, step, np, &err);
    }
    double t2 = cli_now_ms();
    free(step);
    if (st != GPTC_OK) {
        *code = cli_fail(st, &err);
        return -1;
    }
    *pp_ms = t1 - t0;
    *tg_ms = t2 - t1;
    return 0;
}

/* --parallel: the llama-batched-bench table */
static int bench_batched(gptc_model *model, const cli_opts *o, const bench_extra *e,
                         const int32_t *ids, const char *name, const char *backend) {
    const int pp = e->n_pp ? e->pp[0] : 128, tg = e->n_tg ? e->tg[0] : 128;
    int code = EXIT_DONE;
    printf("| model | backend | PP | TG | B | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s "
           "|\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    fflush(stdout);
    for (int t = 0; t < e->n_np && code == EXIT_DONE; t++) {
        const int np = e->np[t];
        gptc_session **ss = calloc((size_t)np, sizeof *ss);
        if (!ss) {
            cli_error("out of memory");
            return EXIT_RUNTIME;
        }
        gptc_session_params sp;
        cli_session_params(o, model, &sp);
        sp.n_ctx = pp + tg > 0 ? pp + tg : 1;
        if (o->n_ctx > sp.n_ctx) sp.n_ctx = o->n_ctx;
        gptc_error err = {0};
        for (int i = 0; i < np && code == EXIT_DONE; i++) {
            gptc_status st = gptc_session_new(model, &sp, &ss[i], &err);
            if (st != GPTC_OK) {
                cli_error("sequence %d of %d: %s", i + 1, np, err.msg);
                code = cli_exit_code(st);
            }
        }
        double pp_sum = 0, tg_sum = 0;
        int runs = 0;
        for (int k = 0; k <= e->reps && code == EXIT_DONE; k++) { /* k = 0: warm-up */
            double pms, tms;
            if (run_batched(ss, np, ids, pp, tg, &pms, &tms, &code)) break;
            if (k == 0) continue;
            pp_sum += pms;
            tg_sum += tms;
            runs++;
        }
        if (code == EXIT_DONE && runs > 0) {
            const double tpp = pp_sum / runs / 1000.0, ttg = tg_sum / runs / 1000.0;
            printf("| %s | %s | %d | %d | %d | %.3f | %.2f | %.3f | %.2f | %.3f | %.2f |\n", name,
                   backend, pp, tg, np, tpp, tpp > 0 ? (double)np * pp / tpp : 0.0, ttg,
                   ttg > 0 ? (double)np * tg / ttg : 0.0, tpp + ttg,
                   tpp + ttg > 0 ? (double)np * (pp + tg) / (tpp + ttg) : 0.0);
            fflush(stdout);
        }
        for (int i = 0; i < np; i++) gptc_session_free(ss[i]);
        free(ss);
        if (cli_stdout_gone()) break;
    }
    return code;
}

static void fmt_size(char *buf, size_t n, uint64_t bytes) {
    if (bytes >= (1ull << 30))
        snprintf(buf, n, "%.2f GiB", bytes / 1073741824.0);
    else
        snprintf(buf, n, "%.2f MiB", bytes / 1048576.0);
}

static void fmt_params(char *buf, size_t n, uint64_t p) {
    if (p >= 1000000000ull)
        snprintf(buf, n, "%.2f B", p / 1e9);
    else
        snprintf(buf, n, "%.2f M", p / 1e6);
}

int cli_bench(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    bench_extra e = {{512}, 1, {128}, 1, 3, 0, 0, {0}, 0, {0}, 1};
    int r = cli_parse_cmd(argc, argv, CLI_G_MODEL | CLI_G_OUTPUT, &o, extra_opts, &e, usage_text);
    if (r != CLI_CONTINUE) return r;
    int max_n = 1;
    for (int i = 0; i < e.n_pp; i++) max_n = e.pp[i] > max_n ? e.pp[i] : max_n;
    for (int i = 0; i < e.n_tg; i++) max_n = e.tg[i] > max_n ? e.tg[i] : max_n;
    int np_max = 0;
    for (int i = 0; i < e.n_np; i++) np_max = e.np[i] > np_max ? e.np[i] : np_max;
    if (e.n_np && !e.pp_set) e.pp[0] = 128;
    if (e.n_np) { /* one context per sequence: prompt + generation */
        max_n = (e.n_pp ? e.pp[0] : 0) + (e.n_tg ? e.tg[0] : 0);
        if (max_n < 1) max_n = 1;
    }
    int max_d = 0;
    for (int i = 0; i < e.n_depth; i++) max_d = e.depth[i] > max_d ? e.depth[i] : max_d;
    if (e.n_np && max_d > 0) {
        cli_error("-d: not with --parallel");
        return EXIT_USAGE;
    }
    if (o.n_ctx == 0) o.n_ctx = max_d + max_n;
    if (o.n_ctx < max_d + max_n) {
        cli_error("-c %d is smaller than the largest test (%d tokens%s)", o.n_ctx, max_d + max_n,
                  max_d ? " with its depth" : "");
        return EXIT_USAGE;
    }
    gptc_model *model = NULL;
    r = cli_load_model(&o, 1, &model);
    if (r) return r;
    gptc_model_info info;
    gptc_model_get_info(model, &info);
    const gptc_tokenizer *tok = gptc_model_tokenizer(model);
    gptc_session_params sp;
    cli_session_params(&o, model, &sp);
    sp.n_ctx = o.n_ctx;
    gptc_session *s = NULL;
    gptc_error err = {0};
    gptc_status st = gptc_session_new(model, &sp, &s, &err);
    if (st != GPTC_OK) {
        cli_error("%s", err.msg);
        gptc_model_free(model);
        return cli_exit_code(st);
    }
    /* random non-special tokens (fixed seed: every run sees the same prompt) */
    if (np_max * (e.pp[0] > 0 ? e.pp[0] : 1) + 1 > max_n)
        max_n = np_max * (e.pp[0] > 0 ? e.pp[0] : 1) + 1; /* every sequence its own prompt */
    max_n += max_d;                                       /* the depth tokens, then the tests' */
    int32_t *ids = malloc((size_t)max_n * sizeof *ids);
    if (!ids) {
        cli_error("out of memory");
        gptc_session_free(s);
        gptc_model_free(model);
        return EXIT_RUNTIME;
    }
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int nv =
        gptc_tokenizer_n_vocab(tok) < info.n_vocab ? gptc_tokenizer_n_vocab(tok) : info.n_vocab;
    for (int i = 0; i < max_n; i++) {
        int32_t id;
        int tries = 0;
        do id = (int32_t)(rng_next(&seed) % (uint64_t)nv);
        while (gptc_tokenizer_is_special(tok, id) && ++tries < 100);
        ids[i] = id;
    }
    int32_t bos = gptc_tokenizer_bos(tok);
    if (bos >= 0) ids[0] = bos;

    char name[200], size[32], params[32], backend[160];
    snprintf(name, sizeof name, "%s%s%s", info.arch, info.name[0] ? " " : "", info.name);
    fmt_size(size, sizeof size, info.weight_bytes);
    fmt_params(params, sizeof params, info.n_params);
    snprintf(backend, sizeof backend, "%s", info.backend == GPTC_BACKEND_CUDA ? "CUDA" : "CPU");
    char threads[16];
    if (info.backend == GPTC_BACKEND_CUDA)
        snprintf(threads, sizeof threads, "-");
    else
        snprintf(threads, sizeof threads, "%d", o.n_threads ? o.n_threads : info.n_threads);
    int code = EXIT_DONE;
    if (e.n_np) {
        gptc_session_free(s); /* the batched bench makes its own sessions */
        s = NULL;
        code = bench_batched(model, &o, &e, ids, name, backend);
    } else {
        printf("| model | size | params | backend | threads | test | t/s |\n");
        printf("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
        fflush(stdout);
    }
    for (int di = 0; di < e.n_depth && code == EXIT_DONE && !e.n_np; di++) {
        const int d = e.depth[di];
        if (d > 0) { /* fill the context to depth d (not timed) */
            gptc_error ferr = {0};
            gptc_status fst = gptc_session_truncate(s, 0, &ferr);
            if (fst == GPTC_OK) fst = gptc_session_feed(s, ids, (size_t)d, &ferr);
            if (fst != GPTC_OK) {
                code = cli_fail(fst, &ferr);
                break;
            }
        }
        char at[32] = "";
        if (d > 0) snprintf(at, sizeof at, " @ d%d", d);
        for (int pass = 0; pass < 2 && code == EXIT_DONE; pass++) {
            int n_tests = pass == 0 ? e.n_pp : e.n_tg;
            for (int t = 0; t < n_tests && code == EXIT_DONE; t++) {
                int n = pass == 0 ? e.pp[t] : e.tg[t];
                if (n == 0) continue;
                if (run_test(s, d, ids + d, n, pass == 0, &code) < 0) break; /* warm-up */
                double sum = 0, sum2 = 0;
                for (int k = 0; k < e.reps; k++) {
                    double tps = run_test(s, d, ids + d, n, pass == 0, &code);
                    if (tps < 0) break;
                    sum += tps;
                    sum2 += tps * tps;
                }
                if (code != EXIT_DONE) break;
                double mean = sum / e.reps;
                double var = e.reps > 1 ? (sum2 - e.reps * mean * mean) / (e.reps - 1) : 0;
                printf("| %s | %s | %s | %s | %s | %s%d%s | %.2f ± %.2f |\n", name, size, params,
                       backend, threads, pass == 0 ? "pp" : "tg", n, at, mean,
                       var > 0 ? sqrt(var) : 0.0);
                fflush(stdout);
                if (cli_stdout_gone()) { /* `| head`: stop (cli_finish_stdout reports) */
                    pass = 2;
                    di = e.n_depth;
                    break;
                }
            }
        }
    }
    if (code == EXIT_DONE && !o.quiet) {
        fprintf(stderr, "load: %.0f ms", info.load_ms);
        gptc_residency res;
        if (gptc_model_residency(model, &res, &err) == GPTC_OK) {
            if (res.backend == GPTC_BACKEND_CUDA) {
                fprintf(stderr,
                        " | device %s: weights %.2f/%.2f GiB resident (%s), KV %.1f MiB, "
                        "workspace %.1f MiB, device memory %.2f GiB used of %.2f GiB",
                        info.device_name, res.weight_bytes_device / 1073741824.0,
                        res.weight_bytes_total / 1073741824.0,
                        res.all_weights_resident ? "all" : "partial", res.kv_bytes / 1048576.0,
                        res.workspace_bytes / 1048576.0,
                        (res.device_total - res.device_free) / 1073741824.0,
                        res.device_total / 1073741824.0);
                if (res.n_cpu_moe > 0)
                    fprintf(stderr, " | experts of %d layers in host memory (%.2f GiB, %d threads)",
                            res.n_cpu_moe, res.weight_bytes_host / 1073741824.0, info.n_threads);
            } else {
                fprintf(stderr, " | CPU: weights %.2f GiB, KV %.1f MiB, workspace %.1f MiB",
                        res.weight_bytes_total / 1073741824.0, res.kv_bytes / 1048576.0,
                        res.workspace_bytes / 1048576.0);
            }
        }
        fprintf(stderr, " | %d runs per test after a warm-up\n", e.reps);
    }
    free(ids);
    gptc_session_free(s);
    gptc_model_free(model);
    return code;
}
