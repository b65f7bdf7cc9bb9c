/* batch_line.h — one input line of `gptc batch` turned into a job: the id, the conversation and
 * the per-line settings, every field checked (types, ranges, UTF-8, no NUL). Independent of
 * models and sessions (the fuzzer links it with cJSON, jval, messages and tooldefs only).
 *
 * Input formats are entries of one table (batch_line.c), tried in order: each has a detect
 * function (is this line in my format?) and a parse function filling a batch_job.
 *   - OpenAI's Batch API lines: {"custom_id", "method": "POST", "url": "/v1/chat/completions"
 *     | "/v1/completions", "body": {...}} (a line with "custom_id", or with "url" and "body").
 *     The body holds OpenAI's request: messages (or prompt for /v1/completions), max_tokens /
 *     max_completion_tokens, n, temperature, top_p, seed, reasoning_effort, stop, logprobs,
 *     top_logprobs, logit_bias, response_format, tools, tool_choice; "model" and every other
 *     field are ignored, as OpenAI's API ignores what it does not know.
 *   - gptc's native format: {"id", "prompt": "..."} or {"id", "messages": [...]}, optional
 *     n_predict and the same settings (temperature ... tool_choice).
 * Both formats parse their shared fields with one function (batch_line.c: request_fields):
 * messages through messages.h (roles system/developer/user/assistant/tool, content as a
 * string or a list of text parts, tool_calls, tool_call_id), tools through tooldefs.h. The
 * output-control fields (stop, logprobs, top_logprobs, logit_bias) and response_format are
 * read from job->body by batch.c, which needs the model for them. */
#ifndef GPTC_CLI_BATCH_LINE_H
#define GPTC_CLI_BATCH_LINE_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/jval.h"
#include "cli/messages.h"
#include "cli/tooldefs.h"

typedef enum batch_format {
    BATCH_NATIVE = 0,
    BATCH_OPENAI_CHAT,       /* "url": "/v1/chat/completions" */
    BATCH_OPENAI_COMPLETION, /* "url": "/v1/completions" */
} batch_format;

#define BATCH_MAX_N 128 /* OpenAI's "n": samples of one prompt */

typedef struct batch_job {
    cJSON *json; /* the parsed line: the cJSON pointers below point into it */
    jval *jroot; /* the same line as a jval (messages and tools are read from it) */
    batch_format format;
    const cJSON *id;   /* native "id" or OpenAI "custom_id" (a string or a number; NULL when
                          the line has no valid one) */
    const cJSON *body; /* the object holding the request's fields: the line, or its "body" */
    msglist msgs;      /* the conversation (system/developer messages included; owns its text) */
    int has_system;    /* msgs has a system or developer message */
    int from_prompt;   /* 1: the line gave "prompt" (plain models see the text as is) */
    tooldefs tools;    /* "tools" (n == 0: none); points into jroot */
    const cJSON *tool_choice;     /* "tool_choice" as given (NULL: absent) */
    const cJSON *response_format; /* "response_format" as given (NULL: absent) */
    int n_choices;                /* OpenAI "n": 1..BATCH_MAX_N (1 for native lines) */
    /* per-line settings; has_* = 0: the run's default */
    int has_n_predict, n_predict;
    int has_temperature;
    float temperature;
    int has_top_p;
    float top_p;
    int has_seed;
    uint64_t seed;
    const char *effort; /* "low" | "medium" | "high", or NULL */
} batch_job;

/* Parses line[0..len) (need not be NUL-terminated). Returns 0 with *job filled, or -1 with a
 * one-line reason in msg; job->id and job->format are then what the line gave as far as they
 * could be read (for the error record). Free the job with batch_job_free in both cases. */
int batch_line_parse(const char *line, size_t len, batch_job *job, char *msg, size_t cap);
void batch_job_free(batch_job *job);

/* The format and id of a line as far as they can be read without checking the rest (for the
 * duplicate-id scan and for error records of lines that are not JSON): the id's canonical key
 * (batch_id_key) or NULL. *format is BATCH_NATIVE when the line is no OpenAI line. */
char *batch_line_peek(const char *line, size_t len, batch_format *format);
/* OpenAI's "n" of a line as far as it can be read (1 when absent or not in range). */
int batch_line_peek_n(const char *line, size_t len);

/* The canonical key of a valid id (its compact JSON: "\"a\"", "17"), malloc'd; NULL when id is
 * not a string or a number (or out of memory). Resume and duplicate checks compare these. */
char *batch_id_key(const cJSON *id);

#endif
