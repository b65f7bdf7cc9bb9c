/* batch_line.c — see batch_line.h. */
#include "cli/batch_line.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jsontext.h"

/* The optional number field `name` of j: 0 when absent or null, 1 with *out set when it is a
 * number in [lo, hi] (and whole when `whole`), -1 with msg = "\"NAME\" must be WANT" otherwise. */
static int num_field(const cJSON *j, const char *name, double lo, double hi, int whole,
                     const char *want, char *msg, size_t cap, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        (whole && v->valuedouble != floor(v->valuedouble))) {
        snprintf(msg, cap, "\"%s\" must be %s", name, want);
        return -1;
    }
    *out = v->valuedouble;
    return 1;
}

static int is_effort(const char *s) {
    return !strcmp(s, "low") || !strcmp(s, "medium") || !strcmp(s, "high");
}

static const cJSON *member(const cJSON *j, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsNull(v) ? NULL : v;
}

/* tool_choice: "none" | "auto" | "required" | {"type": "function", "function": {"name"}}.
 * Only its shape is checked here; what it does is the generation's business. */
static int tool_choice_ok(const cJSON *v) {
    if (cJSON_IsString(v))
        return !strcmp(v->valuestring, "none") || !strcmp(v->valuestring, "auto") ||
               !strcmp(v->valuestring, "required");
    if (!cJSON_IsObject(v)) return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "function");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(f, "name");
    return cJSON_IsString(t) && !strcmp(t->valuestring, "function") && cJSON_IsString(n);
}

enum { WANT_PROMPT = 1, WANT_MESSAGES = 2 };

/* The fields every format shares, read from the request object o (cJSON) / jo (the same object
 * as a jval): sampling settings, reasoning_effort, the conversation ("prompt" and/or "messages"
 * as `want` allows), tools, tool_choice, response_format. Returns 0, or -1 with msg set. */
static int request_fields(const cJSON *o, const jval *jo, int want, batch_job *job, char *msg,
                          size_t cap) {
    double x;
    int k;
    if ((k = num_field(o, "temperature", 0, 100, 0, "a number in [0, 100]", msg, cap, &x)) < 0)
        return -1;
    if (k) job->has_temperature = 1, job->temperature = (float)x;
    /* top_p 0 keeps the single most likely token (as on the command line) */
    if ((k = num_field(o, "top_p", 0, 1, 0, "a number in [0, 1]", msg, cap, &x)) < 0) return -1;
    if (k) job->has_top_p = 1, job->top_p = (float)x;
    /* below 2^64 (the cast of a larger double is undefined) and whole */
    if ((k = num_field(o, "seed", 0, 18446744073709549568.0, 1, "an integer in [0, 2^64)", msg, cap,
                       &x)) < 0)
        return -1;
    if (k) job->has_seed = 1, job->seed = (uint64_t)x;
    const cJSON *v = member(o, "reasoning_effort");
    if (v) {
        if (!cJSON_IsString(v) || !is_effort(v->valuestring)) {
            snprintf(msg, cap, "\"reasoning_effort\" must be low, medium or high");
            return -1;
        }
        job->effort = v->valuestring;
    }
    if ((v = member(o, "tool_choice"))) {
        if (!tool_choice_ok(v)) {
            snprintf(msg, cap,
                     "\"tool_choice\" must be \"none\", \"auto\", \"required\" or {\"type\": "
                     "\"function\", \"function\": {\"name\": ...}}");
            return -1;
        }
        job->tool_choice = v;
    }
    job->response_format = member(o, "response_format");
    const jval *tools = jval_get(jo, "tools");
    if (tools && tools->type != JV_NULL) {
        char why[200];
        if (tools->type != JV_ARR || tooldefs_from(tools, &job->tools, why, sizeof why)) {
            snprintf(msg, cap, "\"tools\": %s",
                     tools->type != JV_ARR ? "must be an array of {\"type\": \"function\", ...}"
                                           : why);
            return -1;
        }
    }
    const cJSON *prompt = (want & WANT_PROMPT) ? member(o, "prompt") : NULL;
    const jval *messages = (want & WANT_MESSAGES) ? jval_get(jo, "messages") : NULL;
    if (messages && messages->type == JV_NULL) messages = NULL;
    if (prompt && messages) {
        snprintf(msg, cap, "give either \"prompt\" or \"messages\", not both");
        return -1;
    }
    if (prompt) {
        if (!cJSON_IsString(prompt)) {
            snprintf(msg, cap, "\"prompt\" must be a string");
            return -1;
        }
        if (cli_json_text_check(prompt->valuestring, "prompt", msg, cap)) return -1;
        harmony_msg m = {.role = "user", .content = prompt->valuestring};
        if (msglist_add(&job->msgs, &m)) goto nomem;
        job->from_prompt = 1;
        return 0;
    }
    if (messages && messages->type != JV_ARR) {
        snprintf(msg, cap, "\"messages\" must be an array");
        return -1;
    }
    if (!messages) {
        snprintf(msg, cap, "%s",
                 want == WANT_PROMPT     ? "missing \"prompt\" (a string)"
                 : want == WANT_MESSAGES ? "missing \"messages\" (an array)"
                                         : "missing \"prompt\" (a string) or \"messages\" (an "
                                           "array)");
        return -1;
    }
    char why[256];
    if (msglist_from_jval(&job->msgs, messages, why, sizeof why)) {
        snprintf(msg, cap, "%s", why);
        return -1;
    }
    size_t turns = 0;
    for (size_t i = 0; i < job->msgs.n; i++) {
        const char *r = job->msgs.m[i].role;
        if (!strcmp(r, "system") || !strcmp(r, "developer"))
            job->has_system = 1;
        else
            turns++;
    }
    if (turns == 0) {
        snprintf(msg, cap, "\"messages\" has no user message");
        return -1;
    }
    return 0;
nomem:
    snprintf(msg, cap, "out of memory");
    return -1;
}

/* ---- OpenAI's Batch API lines ------------------------------------------------------------- */
static int openai_detect(const cJSON *j) {
    return cJSON_GetObjectItemCaseSensitive(j, "custom_id") ||
           (cJSON_GetObjectItemCaseSensitive(j, "url") &&
            cJSON_GetObjectItemCaseSensitive(j, "body"));
}

static int openai_parse(const cJSON *j, const jval *jj, batch_job *job, char *msg, size_t cap) {
    job->format = BATCH_OPENAI_CHAT;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "custom_id");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(j, "url");
    if (cJSON_IsString(url) && !strcmp(url->valuestring, "/v1/completions"))
        job->format = BATCH_OPENAI_COMPLETION;
    if (!cJSON_IsString(id) || !id->valuestring[0]) {
        snprintf(msg, cap, "missing or invalid \"custom_id\" (a non-empty string)");
        return -1;
    }
    if (cli_json_text_check(id->valuestring, "custom_id", msg, cap)) return -1;
    job->id = id;
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(j, "method");
    if (!cJSON_IsString(method) || strcmp(method->valuestring, "POST")) {
        snprintf(msg, cap, "\"method\" must be \"POST\"");
        return -1;
    }
    if (!cJSON_IsString(url) || (strcmp(url->valuestring, "/v1/chat/completions") &&
                                 strcmp(url->valuestring, "/v1/completions"))) {
        snprintf(msg, cap, "\"url\" must be \"/v1/chat/completions\" or \"/v1/completions\"");
        return -1;
    }
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
    if (!cJSON_IsObject(body)) {
        snprintf(msg, cap, "\"body\" must be an object");
        return -1;
    }
    job->body = body;
    const jval *jbody = jval_get(jj, "body");
    /* max_completion_tokens replaces the older max_tokens; either limits the answer */
    double x;
    int k;
    const char *lim =
        member(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if ((k = num_field(body, lim, 0, 1 << 30, 1, "an integer in [0, 2^30]", msg, cap, &x)) < 0)
        return -1;
    if (k) job->has_n_predict = 1, job->n_predict = (int)x;
    if ((k = num_field(body, "n", 1, BATCH_MAX_N, 1, "an integer in [1, 128]", msg, cap, &x)) < 0)
        return -1;
    job->n_choices = k ? (int)x : 1;
    return request_fields(body, jbody,
                          job->format == BATCH_OPENAI_COMPLETION ? WANT_PROMPT : WANT_MESSAGES, job,
                          msg, cap);
}

/* ---- gptc's native format ----------------------------------------------------------------- */
static int native_detect(const cJSON *j) {
    (void)j;
    return 1; /* the fallback */
}

static int native_parse(const cJSON *j, const jval *jj, batch_job *job, char *msg, size_t cap) {
    job->format = BATCH_NATIVE;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (!id || !(cJSON_IsString(id) || cJSON_IsNumber(id))) {
        snprintf(msg, cap, "missing or invalid \"id\" (a string or a number)");
        return -1;
    }
    /* an id that is not valid UTF-8 is not repeated in the error record */
    if (cJSON_IsString(id) && cli_json_text_check(id->valuestring, "id", msg, cap)) return -1;
    job->id = id;
    job->body = j;
    job->n_choices = 1;
    double x;
    int k;
    if ((k = num_field(j, "n_predict", -1, 1 << 30, 1, "an integer in [-1, 2^30]", msg, cap, &x)) <
        0)
        return -1;
    if (k) job->has_n_predict = 1, job->n_predict = (int)x;
    return request_fields(j, jj, WANT_PROMPT | WANT_MESSAGES, job, msg, cap);
}

/* ---- the formats, tried in order ---------------------------------------------------------- */
static const struct {
    const char *name;
    int (*detect)(const cJSON *j);
    int (*parse)(const cJSON *j, const jval *jj, batch_job *job, char *msg, size_t cap);
} formats[] = {
    {"openai", openai_detect, openai_parse},
    {"native", native_detect, native_parse},
};

int batch_line_parse(const char *line, size_t len, batch_job *job, char *msg, size_t cap) {
    memset(job, 0, sizeof *job);
    job->n_choices = 1;
    if (cli_json_nul_escape(line, len) != (size_t)-1) {
        free(batch_line_peek(line, len, &job->format));
        snprintf(msg, cap, "strings containing \\u0000 are not supported");
        return -1;
    }
    job->json = cJSON_ParseWithLength(line, len);
    if (!job->json || !cJSON_IsObject(job->json)) {
        snprintf(msg, cap, "not a JSON object");
        return -1;
    }
    char why[160];
    job->jroot = jval_parse(line, len, why, sizeof why);
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        if (!formats[i].detect(job->json)) continue;
        if (!job->jroot) { /* cJSON takes what jval refuses: invalid UTF-8, deep nesting */
            job->format = i == 0 ? BATCH_OPENAI_CHAT : BATCH_NATIVE;
            snprintf(msg, cap, "not a valid JSON line (%s)", why);
            return -1;
        }
        return formats[i].parse(job->json, job->jroot, job, msg, cap);
    }
    snprintf(msg, cap, "not a batch line in a known format");
    return -1;
}

void batch_job_free(batch_job *job) {
    cJSON_Delete(job->json);
    tooldefs_free(&job->tools);
    msglist_free(&job->msgs);
    jval_free(job->jroot);
    memset(job, 0, sizeof *job);
}

char *batch_line_peek(const char *line, size_t len, batch_format *format) {
    *format = BATCH_NATIVE;
    cJSON *j = cJSON_ParseWithLength(line, len);
    char *k = NULL;
    if (cJSON_IsObject(j)) {
        int oa = openai_detect(j);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, oa ? "custom_id" : "id");
        if (oa) {
            const cJSON *url = cJSON_GetObjectItemCaseSensitive(j, "url");
            *format = cJSON_IsString(url) && !strcmp(url->valuestring, "/v1/completions")
                          ? BATCH_OPENAI_COMPLETION
                          : BATCH_OPENAI_CHAT;
        }
        if (!oa || cJSON_IsString(id)) k = batch_id_key(id);
    }
    cJSON_Delete(j);
    return k;
}

int batch_line_peek_n(const char *line, size_t len) {
    cJSON *j = cJSON_ParseWithLength(line, len);
    int n = 1;
    if (cJSON_IsObject(j) && openai_detect(j)) {
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "body"), "n");
        if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= BATCH_MAX_N)
            n = (int)v->valuedouble;
    }
    cJSON_Delete(j);
    return n;
}

char *batch_id_key(const cJSON *id) {
    if (!cJSON_IsString(id) && !cJSON_IsNumber(id)) return NULL;
    return cJSON_PrintUnformatted(id);
}
