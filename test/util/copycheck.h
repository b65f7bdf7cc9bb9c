/* copycheck.h — the check of gptc_session_copy shared by the CPU test (test_session_copy.c) and
 * the GPU test (test/cuda/test_cuda_copy.c). */
#ifndef GPTC_TEST_COPYCHECK_H
#define GPTC_TEST_COPYCHECK_H

#include "gptc.h"

/* On model m (loaded for backend be): a session fed a prompt of n_prompt tokens is copied into
 * one that held another context; the copy, the source and a third session that fed the prompt
 * itself then take the same n_steps tokens (one at a time, and one step through
 * gptc_decode_multi): at every step their logits agree (exactly when tol is 0, else max |diff| <=
 * tol * max |logit|). n_batch small makes the window layers' caches rings (positions dropped).
 * Also: sessions of another context size are refused. Fails through Check's ck_assert. */
void tu_check_session_copy(gptc_model *m, int n_prompt, int n_steps, int n_batch, double tol);

/* The model at path on backend be (n_threads 2 on the CPU; a 512-token context hint), or a
 * Check failure. */
gptc_model *tu_copy_model(const char *path, gptc_backend be);

#endif
