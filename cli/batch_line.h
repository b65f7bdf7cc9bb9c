/* batch_line.h — one input line of `gptc batch` turned into a job: the id, the messages and the
 * per-line settings, every field checked (types, ranges, UTF-8, no NUL). Independent of models
 * and sessions (the fuzzer links it alone with cJSON).
 *
 * Input formats are entries of one table (batch_line.c): each has a detect function (is this
 * line in my format?) and a parse function filling a batch_job. Today: gptc's native format,
 *   {"id": ..., "prompt": "..."} or {"id": ..., "messages": [{"role", "content"}...]},
 *   optional n_predict, temperature, top_p, seed, reasoning_effort.
 * Another format (OpenAI's batch API lines, {"custom_id", "method", "url", "body"}) plugs in as
 * a second entry placed before the native one. */
#ifndef GPTC_CLI_BATCH_LINE_H
#define GPTC_CLI_BATCH_LINE_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct batch_msg {
    const char *role; /* "user" | "assistant" */
    const char *content;
} batch_msg;

typedef struct batch_job {
    cJSON *json;     /* the parsed line: every string below points into it */
    const cJSON *id; /* a string or a number (NULL when the line has none) */
    batch_msg *msgs; /* user/assistant turns in order ("prompt" is one user turn) */
    size_t n_msgs;
    const char *developer; /* the last system/developer message, or NULL */
    int from_prompt;       /* 1: the line gave "prompt" (plain models see the text as is) */
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
 * one-line reason in msg; job->id is then the line's id when it had a valid one (for the error
 * record). Free the job with batch_job_free in both cases. */
int batch_line_parse(const char *line, size_t len, batch_job *job, char *msg, size_t cap);
void batch_job_free(batch_job *job);

/* The canonical key of a valid id (its compact JSON: "\"a\"", "17"), malloc'd; NULL when id is
 * not a string or a number (or out of memory). Resume and duplicate checks compare these. */
char *batch_id_key(const cJSON *id);

#endif
