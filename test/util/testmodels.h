/* testmodels.h — random-weight test models made by the generator tool (test/tools/gen-model.c),
 * cached per build folder so that several tests (and runs) share one file. */
#ifndef GPTC_TESTMODELS_H
#define GPTC_TESTMODELS_H

#include <stddef.h>

/* Writes into out (capacity n) the path BUILD/test-models/NAME.gguf, making the model with
 * "gen-model ARGS --out PATH" when the file is missing or older than the generator tool (written
 * to a temporary name, then renamed, so concurrent tests never read a half-written file). Exits
 * the process with a message on failure: call it from main, outside a test. */
void tu_cached_model(char *out, size_t n, const char *name, const char *args);

#endif
