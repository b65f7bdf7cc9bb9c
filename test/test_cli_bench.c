/* test_cli_bench.c — `gptc bench` as a process (CPU backend, tiny random gpt-oss): the
 * llama-bench table (-p / -n / -r), the llama-batched-bench table (--parallel), whose rates
 * are checked against the times printed beside them (S_PP = B PP / T_PP, S_TG = B TG / T_TG,
 * T = T_PP + T_TG, S = B (PP + TG) / T), bad --parallel values, and -d (depth). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char model[512];

static tu_proc run_bench(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s bench -m %s --backend cpu -t 2 %s", tu_gptc(), model, args);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
    return p;
}

/* The cells of the first table row whose cell `col` equals `key` (markdown "| a | b |"). */
static int row_cells(const char *out, int col, const char *key, char cells[16][64]) {
    for (const char *line = out; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (line[0] != '|') continue;
        int n = 0;
        const char *c = line + 1;
        while (n < 16) {
            const char *e = strchr(c, '|');
            const char *nl = strchr(c, '\n');
            if (!e || (nl && e > nl)) break;
            while (*c == ' ') c++;
            size_t len = (size_t)(e - c);
            while (len > 0 && c[len - 1] == ' ') len--;
            if (len > 63) len = 63;
            memcpy(cells[n], c, len);
            cells[n][len] = 0;
            n++;
            c = e + 1;
        }
        if (n > col && !strcmp(cells[col], key)) return n;
    }
    return 0;
}

START_TEST(test_plain_table) {
    tu_proc p = run_bench("-p 16 -n 4 -r 2");
    ck_assert_msg(p.status == 0, "%s", p.err);
    char cells[16][64];
    ck_assert_int_eq(row_cells(p.out, 5, "pp16", cells), 7);
    ck_assert_str_eq(cells[3], "CPU");
    ck_assert(atof(cells[6]) > 0);
    ck_assert_int_eq(row_cells(p.out, 5, "tg4", cells), 7);
    ck_assert(atof(cells[6]) > 0);
    ck_assert_msg(strstr(p.err, "2 runs per test") != NULL, "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* A rate s (printed to 0.01) of n tokens agrees with a time t (printed to 0.001 s): the time
 * n / s carries the rate's rounding, (n / s) * (0.005 / s), plus the time's own 0.0005 s. */
static int rate_matches(double n, double s, double t) {
    double implied = n / s;
    return fabs(implied - t) <= 5e-4 + implied * (0.005 / s) + 1e-9;
}

START_TEST(test_parallel_table) {
    tu_proc p = run_bench("--parallel 1,3 -p 32 -n 8 -r 1");
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(strstr(p.out, "| model | backend | PP | TG | B | T_PP s | S_PP t/s | T_TG s | "
                                "S_TG t/s | T s | S t/s |") != NULL,
                  "%s", p.out);
    const char *bs[2] = {"1", "3"};
    for (int i = 0; i < 2; i++) {
        char c[16][64];
        ck_assert_int_eq(row_cells(p.out, 4, bs[i], c), 11);
        ck_assert_str_eq(c[1], "CPU");
        ck_assert_int_eq(atoi(c[2]), 32);
        ck_assert_int_eq(atoi(c[3]), 8);
        const double B = atof(c[4]), tpp = atof(c[5]), spp = atof(c[6]), ttg = atof(c[7]);
        const double stg = atof(c[8]), t = atof(c[9]), st = atof(c[10]);
        ck_assert_msg(tpp >= 0.001 && ttg >= 0.001 && spp > 0 && stg > 0, "%s", p.out);
        /* times are printed to 1 ms and rates to 0.01 t/s: compare with both roundings allowed */
        ck_assert_msg(rate_matches(B * 32, spp, tpp), "S_PP %g vs T_PP %g", spp, tpp);
        ck_assert_msg(rate_matches(B * 8, stg, ttg), "S_TG %g vs T_TG %g", stg, ttg);
        ck_assert_msg(fabs(tpp + ttg - t) <= 1.5e-3, "T %g vs %g + %g", t, tpp, ttg);
        ck_assert_msg(rate_matches(B * 40, st, t), "S %g vs T %g", st, t);
    }
    tu_proc_free(&p);
}
END_TEST

/* -d 0,200 (llama-bench's depth): each test at depth 0 and again with 200 tokens already in the
 * context. The default context is then depth + largest test = 216 tokens, which the CPU
 * backend's KV report shows: 4 layers x 216 rows x 2 kv heads x 64 x 4 bytes x (K, V) = 0.84
 * MiB (the window layers' buffers are not smaller than the context at this size). */
START_TEST(test_depth_table) {
    tu_proc p = run_bench("-p 16 -n 4 -d 0,200 -r 1");
    ck_assert_msg(p.status == 0, "%s", p.err);
    const char *tests[4] = {"pp16", "tg4", "pp16 @ d200", "tg4 @ d200"};
    for (int i = 0; i < 4; i++) {
        char cells[16][64];
        ck_assert_msg(row_cells(p.out, 5, tests[i], cells) == 7, "%s: %s", tests[i], p.out);
        ck_assert(atof(cells[6]) > 0);
    }
    ck_assert_msg(strstr(p.err, "KV 0.8 MiB") != NULL, "%s", p.err);
    tu_proc_free(&p);
    const char *bad[] = {"-d x", "-d 1,,2", "-d 200 -c 100", "-d 8 --parallel 2", "-d"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_proc q = run_bench(bad[i]);
        ck_assert_msg(q.status == 1, "%s: status %d", bad[i], q.status);
        ck_assert_msg(strncmp(q.err, "gptc: error:", 12) == 0, "%s: %s", bad[i], q.err);
        tu_proc_free(&q);
    }
}
END_TEST

START_TEST(test_parallel_bad) {
    const char *bad[] = {"--parallel 0", "--parallel x", "--parallel 1,,2", "--parallel 5000",
                         "--parallel"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_proc p = run_bench(bad[i]);
        ck_assert_msg(p.status == 1, "%s: status %d", bad[i], p.status);
        ck_assert_msg(strncmp(p.err, "gptc: error:", 12) == 0, "%s: %s", bad[i], p.err);
        ck_assert_int_eq((int)p.out_len, 0);
        tu_proc_free(&p);
    }
}
END_TEST

int main(void) {
    /* the o200k-vocabulary tiny model: slow enough (201k-row LM head) that the millisecond
     * times of the --parallel table carry several digits */
    tu_cached_model(model, sizeof model, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cli_bench");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_plain_table);
    tcase_add_test(tc, test_parallel_table);
    tcase_add_test(tc, test_parallel_bad);
    tcase_add_test(tc, test_depth_table);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
