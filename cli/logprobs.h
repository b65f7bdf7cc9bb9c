/* logprobs.h — per-token log-probabilities for --json output and batch records, in OpenAI's
 * chat-completions shape: {"content": [{"token", "logprob", "bytes": [...], "top_logprobs":
 * [{"token", "logprob", "bytes"}]}]}. The values are gptc_session_logprobs' (the model's raw
 * distribution). "token" is the token's text with bytes that are not valid UTF-8 (a character
 * split across tokens) shown as U+FFFD; "bytes" has the exact bytes. A logprob of -inf (a NaN or
 * -inf logit) is written as -9999.0, as OpenAI does. */
#ifndef GPTC_CLI_LOGPROBS_H
#define GPTC_CLI_LOGPROBS_H

#include <cJSON.h>
#include <stdint.h>

#include "gptc.h"

#define CLI_MAX_TOP_LOGPROBS 20 /* OpenAI's top_logprobs range: 0..20 */

/* One content[] entry for token `id` just sampled by s (before the next feed), with n_top
 * alternatives. NULL on failure (err set). */
cJSON *cli_logprob_entry(gptc_session *s, const gptc_tokenizer *tok, int32_t id, int n_top,
                         gptc_error *err);

#endif
