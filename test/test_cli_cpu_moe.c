/* test_cli_cpu_moe.c — the expert-offload flags on the CPU (issue 15): llama.cpp's
 * --n-cpu-moe N / -ncmoe N and --cpu-moe / -cmoe are accepted by every model-running command,
 * change nothing on the CPU backend (the same tokens as without them; -v says they have no
 * effect), and bad values are one error line with exit 1: N < 0 or not a number is refused (as
 * llama.cpp), N larger than the layer count means every layer (as llama.cpp: no error). The
 * public API: gptc_model_params_default sets GPTC_CPU_MOE_AUTO and a negative count other than
 * that is GPTC_ERR_INVALID_ARG. The GPU side is test/cuda/test_cuda_model.c. Tiny random
 * gpt-oss model (4 layers, 8 experts). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char oss[512];

/* Every spelling gives the baseline's tokens on the CPU backend. */
START_TEST(test_flags_accepted_cpu) {
    tu_proc a, p;
    tu_gptc_sh(&a, NULL, "-m %s -p Hello -n 6 --temp 0 --backend cpu", oss);
    ck_assert_msg(a.status == 0, "%s", a.err);
    const char *ok[] = {"--n-cpu-moe 0", "--n-cpu-moe 2",          "--n-cpu-moe=3",
                        "-ncmoe 4",      "-ncmoe 1000000",         "--cpu-moe",
                        "-cmoe",         "--cpu-moe --n-cpu-moe 1"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 6 --temp 0 --backend cpu %s", oss, ok[i]);
        ck_assert_msg(p.status == 0, "%s: %s", ok[i], p.err);
        ck_assert_str_eq(p.out, a.out);
        ck_assert_str_eq(p.err, "");
        tu_proc_free(&p);
    }
    tu_proc_free(&a);
}
END_TEST

/* -v says the flag does nothing here; without the flag it says nothing about offload. */
START_TEST(test_verbose_says_no_effect) {
    const char *flag[] = {"--n-cpu-moe 2", "--cpu-moe", ""};
    for (int i = 0; i < 3; i++) {
        tu_proc p;
        tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 2 --temp 0 --backend cpu -v %s", oss, flag[i]);
        ck_assert_msg(p.status == 0, "%s", p.err);
        if (*flag[i])
            ck_assert_msg(strstr(p.err, "has no effect on the CPU backend") != NULL,
                          "%s: stderr: %s", flag[i], p.err);
        else
            ck_assert_msg(strstr(p.err, "no effect") == NULL, "stderr: %s", p.err);
        tu_proc_free(&p);
    }
}
END_TEST

START_TEST(test_bad_values) {
    const char *bad[] = {"--n-cpu-moe -1", "--n-cpu-moe many", "--n-cpu-moe 2x",
                         "-ncmoe ''",      "--n-cpu-moe 1e3",  "--n-cpu-moe"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_proc p;
        tu_gptc_sh(&p, NULL, "-m %s -p Hello -n 2 --backend cpu %s", oss, bad[i]);
        tu_assert_one_error(&p, 1, bad[i]);
        ck_assert_msg(strstr(p.err, "-ncmoe") || strstr(p.err, "--n-cpu-moe"), "%s: %s", bad[i],
                      p.err);
        tu_proc_free(&p);
    }
}
END_TEST

/* The other model-running commands take the flags too. */
START_TEST(test_other_commands) {
    tu_proc p;
    tu_gptc_sh(&p, NULL, "bench -m %s -p 8 -n 4 -r 1 --backend cpu --n-cpu-moe 2", oss);
    ck_assert_msg(p.status == 0, "bench: %s", p.err);
    ck_assert_msg(strstr(p.out, "tg4") != NULL, "bench: %s", p.out);
    tu_proc_free(&p);
    tu_gptc_sh(&p, NULL, "--help");
    ck_assert_int_eq(p.status, 0);
    ck_assert_msg(strstr(p.out, "--n-cpu-moe N") && strstr(p.out, "--cpu-moe"), "%s", p.out);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_api) {
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    ck_assert_int_eq(mp.n_cpu_moe, GPTC_CPU_MOE_AUTO);
    mp.path = oss;
    mp.backend = GPTC_BACKEND_CPU;
    gptc_model *m = NULL;
    gptc_error err;
    mp.n_cpu_moe = -2;
    ck_assert_int_eq(gptc_model_load(&mp, &m, &err), GPTC_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, "n_cpu_moe") != NULL, "%s", err.msg);
    mp.n_cpu_moe = GPTC_CPU_MOE_ALL; /* accepted, nothing changes on the CPU */
    ck_assert_int_eq(gptc_model_load(&mp, &m, &err), GPTC_OK);
    gptc_residency r;
    ck_assert_int_eq(gptc_model_residency(m, &r, &err), GPTC_OK);
    ck_assert_int_eq(r.n_cpu_moe, 0);
    ck_assert_uint_eq(r.weight_bytes_host, 0);
    gptc_model_free(m);
}
END_TEST

int main(void) {
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cli_cpu_moe");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_flags_accepted_cpu);
    tcase_add_test(tc, test_verbose_says_no_effect);
    tcase_add_test(tc, test_bad_values);
    tcase_add_test(tc, test_other_commands);
    tcase_add_test(tc, test_api);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
