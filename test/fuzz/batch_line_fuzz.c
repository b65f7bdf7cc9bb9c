/* batch_line_fuzz.c — libFuzzer: random bytes as one `gptc batch` input line (native or OpenAI
 * format). The parser either refuses the line with a reason, or gives a job whose every field is
 * in range: an id (string or number), at least one message that is not a system/developer one,
 * 1..BATCH_MAX_N choices, texts of valid UTF-8
 * (checked with the tests' own validator), settings in their documented ranges. The error
 * record built from a refusal (as batch.c builds it) is valid JSON of valid UTF-8.
 *   make fuzz-batch_line SECONDS=600   (run from the repository root) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/batch_line.h"
#include "test/util/testutil.h"

/* messages.c / tooldefs.c reach these for files; a batch line never does */
void cli_error(const char *fmt, ...) {
    (void)fmt;
}
char *cli_slurp_file(const char *path, size_t *len) {
    (void)path;
    (void)len;
    return NULL;
}

static int text_ok(const char *s) {
    return s && tu_utf8_valid((const unsigned char *)s, strlen(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    batch_job job;
    char msg[1024] = "";
    int r = batch_line_parse((const char *)data, size, &job, msg, sizeof msg);
    if (r != 0) {
        if (r != -1 || !msg[0] || !text_ok(msg)) abort();
        if (job.id && !cJSON_IsString(job.id) && !cJSON_IsNumber(job.id)) abort();
        if (cJSON_IsString(job.id) && !text_ok(job.id->valuestring)) abort();
        /* the error record */
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddNumberToObject(rec, "line", 1);
        if (job.id) cJSON_AddItemToObject(rec, "id", cJSON_Duplicate(job.id, 1));
        cJSON_AddStringToObject(rec, "error", msg);
        char *s = cJSON_PrintUnformatted(rec);
        cJSON_Delete(rec);
        if (!s || !text_ok(s) || strchr(s, '\n')) abort();
        cJSON *back = cJSON_Parse(s);
        if (!back) abort();
        cJSON_Delete(back);
        free(s);
        batch_job_free(&job);
        return 0;
    }
    if (!job.id || !(cJSON_IsString(job.id) || cJSON_IsNumber(job.id))) abort();
    char *key = batch_id_key(job.id);
    if (!key) abort();
    free(key);
    size_t turns = 0;
    for (size_t i = 0; i < job.msgs.n; i++) {
        const harmony_msg *m = &job.msgs.m[i];
        if (strcmp(m->role, "system") && strcmp(m->role, "developer")) turns++;
        if (m->content && !text_ok(m->content)) abort();
        for (size_t k = 0; k < m->n_calls; k++)
            if (!text_ok(m->calls[k].name) || !text_ok(m->calls[k].arguments)) abort();
    }
    if (turns == 0) abort();
    if (job.n_choices < 1 || job.n_choices > BATCH_MAX_N) abort();
    if ((unsigned)job.format > BATCH_OPENAI_COMPLETION) abort();
    if (job.format == BATCH_NATIVE && job.n_choices != 1) abort();
    if (job.has_n_predict && (job.n_predict < -1 || job.n_predict > (1 << 30))) abort();
    if (job.has_temperature && !(job.temperature >= 0 && job.temperature <= 100)) abort();
    if (job.has_top_p && !(job.top_p >= 0 && job.top_p <= 1)) abort();
    if (job.effort && strcmp(job.effort, "low") && strcmp(job.effort, "medium") &&
        strcmp(job.effort, "high"))
        abort();
    batch_job_free(&job);
    return 0;
}
