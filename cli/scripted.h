/* scripted.h — a test hook for the token loop: with GPTC_TEST_SCRIPT=FILE in the environment,
 * each generation takes its first tokens from the next line of FILE (text with harmony's special
 * tokens written out, e.g. "<|channel|>final<|message|>Hi.<|return|>") instead of sampling them;
 * the model still processes every token. The CPU tests drive tool calls through a random-weight
 * model this way. Without the variable nothing changes. */
#ifndef GPTC_CLI_SCRIPTED_H
#define GPTC_CLI_SCRIPTED_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

/* The next line's ids (malloc'd) when the script has one; 0 and *ids NULL otherwise. */
int cli_scripted_next(const gptc_tokenizer *tok, int32_t **ids, size_t *n);

#endif
