/* batch_line.c — see batch_line.h. */
#include "cli/batch_line.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jsontext.h"

/* The optional number field `name` of j: 0 when absent, 1 with *out set when it is a number in
 * [lo, hi] (and whole when `whole`), -1 with msg = "\"NAME\" must be WANT" otherwise. */
static int num_field(const cJSON *j, const char *name, double lo, double hi, int whole,
                     const char *want, char *msg, size_t cap, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v) return 0;
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

/* ---- gptc's native format ----------------------------------------------------------------- */
static int native_detect(const cJSON *j) {
    (void)j;
    return 1; /* the fallback */
}

static int native_parse(const cJSON *j, batch_job *job, char *msg, size_t cap) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (!id || !(cJSON_IsString(id) || cJSON_IsNumber(id))) {
        snprintf(msg, cap, "missing or invalid \"id\" (a string or a number)");
        return -1;
    }
    /* an id that is not valid UTF-8 is not repeated in the error record */
    if (cJSON_IsString(id) && cli_json_text_check(id->valuestring, "id", msg, cap)) return -1;
    job->id = id;
    double x;
    int k;
    if ((k = num_field(j, "n_predict", -1, 1 << 30, 1, "an integer in [-1, 2^30]", msg, cap, &x)) <
        0)
        return -1;
    if (k) job->has_n_predict = 1, job->n_predict = (int)x;
    if ((k = num_field(j, "temperature", 0, 100, 0, "a number in [0, 100]", msg, cap, &x)) < 0)
        return -1;
    if (k) job->has_temperature = 1, job->temperature = (float)x;
    /* top_p 0 keeps the single most likely token (as on the command line) */
    if ((k = num_field(j, "top_p", 0, 1, 0, "a number in [0, 1]", msg, cap, &x)) < 0) return -1;
    if (k) job->has_top_p = 1, job->top_p = (float)x;
    /* below 2^64 (the cast of a larger double is undefined) and whole */
    if ((k = num_field(j, "seed", 0, 18446744073709549568.0, 1, "an integer in [0, 2^64)", msg, cap,
                       &x)) < 0)
        return -1;
    if (k) job->has_seed = 1, job->seed = (uint64_t)x;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "reasoning_effort");
    if (v) {
        if (!cJSON_IsString(v) || !is_effort(v->valuestring)) {
            snprintf(msg, cap, "\"reasoning_effort\" must be low, medium or high");
            return -1;
        }
        job->effort = v->valuestring;
    }
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(j, "messages");
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
        if (!(job->msgs = calloc(1, sizeof *job->msgs))) goto nomem;
        job->msgs[0] = (batch_msg){"user", prompt->valuestring};
        job->n_msgs = 1;
        job->from_prompt = 1;
        return 0;
    }
    if (!cJSON_IsArray(messages)) {
        snprintf(msg, cap, "missing \"prompt\" (a string) or \"messages\" (an array)");
        return -1;
    }
    int cnt = cJSON_GetArraySize(messages);
    if (!(job->msgs = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *job->msgs))) goto nomem;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(r) || !cJSON_IsString(c)) {
            snprintf(msg, cap, "each message needs string \"role\" and \"content\"");
            return -1;
        }
        if (cli_json_text_check(c->valuestring, "content", msg, cap)) return -1;
        if (!strcmp(r->valuestring, "system") || !strcmp(r->valuestring, "developer")) {
            job->developer = c->valuestring;
            continue;
        }
        if (strcmp(r->valuestring, "user") && strcmp(r->valuestring, "assistant")) {
            char shown[64];
            size_t n = strlen(r->valuestring);
            n = cli_utf8_prefix(r->valuestring, n < 40 ? n : 40);
            snprintf(shown, sizeof shown, "%.*s%s", (int)n, r->valuestring,
                     n < strlen(r->valuestring) ? "..." : "");
            snprintf(msg, cap, "unknown role \"%s\"", shown);
            return -1;
        }
        job->msgs[job->n_msgs++] = (batch_msg){r->valuestring, c->valuestring};
    }
    if (job->n_msgs == 0) {
        snprintf(msg, cap, "\"messages\" has no user message");
        return -1;
    }
    return 0;
nomem:
    snprintf(msg, cap, "out of memory");
    return -1;
}

/* ---- the formats, tried in order ---------------------------------------------------------- */
static const struct {
    const char *name;
    int (*detect)(const cJSON *j);
    int (*parse)(const cJSON *j, batch_job *job, char *msg, size_t cap);
} formats[] = {
    {"native", native_detect, native_parse},
};

int batch_line_parse(const char *line, size_t len, batch_job *job, char *msg, size_t cap) {
    memset(job, 0, sizeof *job);
    if (cli_json_nul_escape(line, len) != (size_t)-1) {
        snprintf(msg, cap, "strings containing \\u0000 are not supported");
        return -1;
    }
    job->json = cJSON_ParseWithLength(line, len);
    if (!job->json || !cJSON_IsObject(job->json)) {
        snprintf(msg, cap, "not a JSON object");
        return -1;
    }
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (formats[i].detect(job->json)) return formats[i].parse(job->json, job, msg, cap);
    snprintf(msg, cap, "not a batch line in a known format");
    return -1;
}

void batch_job_free(batch_job *job) {
    cJSON_Delete(job->json);
    free(job->msgs);
    memset(job, 0, sizeof *job);
}

char *batch_id_key(const cJSON *id) {
    if (!cJSON_IsString(id) && !cJSON_IsNumber(id)) return NULL;
    return cJSON_PrintUnformatted(id);
}
