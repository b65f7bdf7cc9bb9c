/* test_session_copy.c — gptc_session_copy on the CPU backend: a session copied from one that
 * fed a prompt continues exactly as a session that fed the prompt itself (logits equal bit for
 * bit at every step, also through gptc_decode_multi), with full-length caches and with window-
 * layer caches that have dropped positions (n_batch 16, a prompt longer than the window); the
 * source is unchanged; mismatched sessions are refused. Tiny random gpt-oss and GPT-2 models. */
#include <check.h>
#include <stdlib.h>

#include "gptc.h"
#include "test/util/copycheck.h"
#include "test/util/testmodels.h"
#include "test/util/tucheck.h"

static char g2[512], oss[512];

static gptc_model *load(const char *path) {
    return tu_copy_model(path, GPTC_BACKEND_CPU);
}

START_TEST(test_copy_oss) {
    gptc_model *m = load(oss);
    tu_check_session_copy(m, 40, 12, 0, 0.0);   /* full caches */
    tu_check_session_copy(m, 300, 12, 16, 0.0); /* window 128: ring caches, rows dropped */
    gptc_model_free(m);
}
END_TEST

START_TEST(test_copy_gpt2) {
    gptc_model *m = load(g2);
    tu_check_session_copy(m, 50, 10, 8, 0.0);
    gptc_model_free(m);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("session_copy");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_copy_oss);
    tcase_add_test(tc, test_copy_gpt2);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
