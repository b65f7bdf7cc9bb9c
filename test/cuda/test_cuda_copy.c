/* test_cuda_copy.c — gptc_session_copy on the CUDA backend (cu_copy: the KV block and the last
 * logits, device to device): the copy continues as a session that fed the prompt itself, with
 * full caches and with window-layer rings (n_batch 16, a 300-token prompt over the window of
 * 128), through single-token decode (CUDA graph) and gptc_decode_multi; the source is unchanged;
 * mismatched sessions are refused. Tiny random gpt-oss and GPT-2 models, fp32 KV cache.
 * GPU machine only: `make test-cuda` (or build/test/cuda/test_cuda_copy). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "gptc.h"
#include "test/util/copycheck.h"
#include "test/util/testmodels.h"
#include "test/util/tucheck.h"

static char g2[512], oss[512];

static gptc_model *load(const char *path) {
    return tu_copy_model(path, GPTC_BACKEND_CUDA);
}

/* Same kernels on the same data: the copy's logits equal the own prefill's up to the
 * reduction order of kernels that split work differently from run to run (none expected). */
#define TOL 1e-5

START_TEST(test_copy_oss) {
    gptc_model *m = load(oss);
    tu_check_session_copy(m, 40, 12, 0, TOL);
    tu_check_session_copy(m, 300, 12, 16, TOL);
    gptc_model_free(m);
}
END_TEST

START_TEST(test_copy_gpt2) {
    gptc_model *m = load(g2);
    tu_check_session_copy(m, 50, 10, 8, TOL);
    gptc_model_free(m);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cuda_copy");
    TU_CASE(s, test_copy_oss, 300);
    TU_CASE(s, test_copy_gpt2, 300);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
