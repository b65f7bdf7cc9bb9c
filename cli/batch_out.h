/* batch_out.h — the records `gptc batch` writes, one JSON line per input line, in the shape of
 * the line's format (batch_line.h):
 *   native:  {"id", "text", "reasoning"? (gpt-oss), "tool_calls"?, "tokens", "finish_reason",
 *            "logprobs"?, "ms"}; a bad line {"line": N, "id"?, "error": "..."}.
 *   OpenAI:  OpenAI's batch output line {"id": "batch_req_...", "custom_id", "response":
 *            {"status_code": 200, "request_id", "body": BODY}, "error": null}, BODY a
 *            chat.completion object ({"id", "object": "chat.completion", "created", "model",
 *            "choices": [{"index", "message": {"role": "assistant", "content", "refusal": null,
 *            "reasoning_content"? , "tool_calls"?}, "finish_reason", "logprobs"}], "usage"}) or,
 *            for /v1/completions, a text_completion object (choices [{"text", "index",
 *            "logprobs", "finish_reason"}]); a bad line {"id", "custom_id" (null when the line
 *            has none), "response": null, "error": {"code", "message": "line N: ..."}}.
 * And the other way: which input lines a record says are done (resume). */
#ifndef GPTC_CLI_BATCH_OUT_H
#define GPTC_CLI_BATCH_OUT_H

#include <cJSON.h>

#include "cli/batch_line.h"
#include "cli/genloop.h"

/* One finished answer (a choice). */
typedef struct batch_answer {
    const char *text;
    const char *reasoning; /* NULL: the model has no reasoning channel */
    int n_gen;
    cli_finish finish;
    cJSON *tool_calls; /* OpenAI's tool_calls array, or NULL (taken over) */
    cJSON *logprobs;   /* {"content": [...]}, or NULL when off (taken over) */
} batch_answer;

/* The choice object of answer a (OpenAI formats), or, for the native format, the whole record
 * less its "id" and "ms". Takes a's tool_calls and logprobs. */
cJSON *batch_choice(batch_format f, int index, batch_answer *a);

/* The result record of a line: id (copied), choices (taken; for the native format the one
 * object batch_choice made), the model's name, token counts and the time in ms (native). */
cJSON *batch_result(batch_format f, const cJSON *id, cJSON *choices, const char *model,
                    int prompt_tokens, int completion_tokens, double ms);

/* The error record of line `line` (1-based); id may be NULL. code: OpenAI's error code. */
cJSON *batch_error(batch_format f, long line, const cJSON *id, const char *code, const char *msg);

/* Is j a record gptc batch writes? Then 1, with *key the done-key of what it covers
 * (malloc'd; NULL when out of memory): an error record the line's key (batch_line_key), a
 * result its id's (batch_id_key). Else 0. */
int batch_record_key(const cJSON *j, char **key);
/* "#lineN": the done-key of an input line that got an error record. */
char *batch_line_key(long line);

#endif
