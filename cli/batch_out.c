/* batch_out.c — see batch_out.h. */
#include "cli/batch_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/jsontext.h"
#include "cli/toolcalls.h"

/* "PREFIX" and 24 random letters and digits (toolcall_id's). */
static void rand_id(char *out, size_t n, const char *prefix) {
    char c[32];
    toolcall_id(c); /* "call_" + 24 */
    snprintf(out, n, "%s%s", prefix, c + 5);
}

/* OpenAI's finish reasons: stop, length, tool_calls (a full context is a length limit too). */
static const char *finish_openai(const batch_answer *a) {
    if (a->tool_calls && cJSON_GetArraySize(a->tool_calls) > 0 && a->finish == CLI_FINISH_STOP)
        return "tool_calls";
    return a->finish == CLI_FINISH_STOP ? "stop" : "length";
}

/* /v1/completions' logprobs from the chat shape: {"tokens", "token_logprobs", "top_logprobs":
 * [{TOKEN: LOGPROB}], "text_offset"} (offsets in bytes from the start of the answer). */
static cJSON *legacy_logprobs(const cJSON *chat) {
    cJSON *o = cJSON_CreateObject();
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
    cJSON *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(o, "text_offset");
    const cJSON *e;
    long off = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(chat, "content")) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "token");
        const cJSON *lp = cJSON_GetObjectItemCaseSensitive(e, "logprob");
        const char *ts = cJSON_IsString(t) ? t->valuestring : "";
        cJSON_AddItemToArray(toks, cJSON_CreateString(ts));
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(cJSON_IsNumber(lp) ? lp->valuedouble : 0));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += (long)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "bytes"));
        cJSON *m = cJSON_CreateObject();
        const cJSON *alt;
        cJSON_ArrayForEach(alt, cJSON_GetObjectItemCaseSensitive(e, "top_logprobs")) {
            const cJSON *at = cJSON_GetObjectItemCaseSensitive(alt, "token");
            const cJSON *al = cJSON_GetObjectItemCaseSensitive(alt, "logprob");
            if (cJSON_IsString(at) && cJSON_IsNumber(al) &&
                !cJSON_GetObjectItemCaseSensitive(m, at->valuestring))
                cJSON_AddNumberToObject(m, at->valuestring, al->valuedouble);
        }
        cJSON_AddItemToArray(tops, m);
    }
    return o;
}

cJSON *batch_choice(batch_format f, int index, batch_answer *a) {
    cJSON *c = cJSON_CreateObject();
    if (f == BATCH_NATIVE) {
        cJSON_AddStringToObject(c, "text", a->text ? a->text : "");
        if (a->reasoning) cJSON_AddStringToObject(c, "reasoning", a->reasoning);
        int calls = a->tool_calls && cJSON_GetArraySize(a->tool_calls) > 0;
        if (calls)
            cJSON_AddItemToObject(c, "tool_calls", a->tool_calls);
        else
            cJSON_Delete(a->tool_calls);
        cJSON_AddNumberToObject(c, "tokens", a->n_gen);
        cJSON_AddStringToObject(c, "finish_reason",
                                calls && a->finish == CLI_FINISH_STOP ? "tool_calls"
                                                                      : cli_finish_name(a->finish));
        if (a->logprobs) cJSON_AddItemToObject(c, "logprobs", a->logprobs);
    } else if (f == BATCH_OPENAI_COMPLETION) {
        cJSON_AddStringToObject(c, "text", a->text ? a->text : "");
        cJSON_AddNumberToObject(c, "index", index);
        if (a->logprobs) {
            cJSON_AddItemToObject(c, "logprobs", legacy_logprobs(a->logprobs));
            cJSON_Delete(a->logprobs);
        } else
            cJSON_AddNullToObject(c, "logprobs");
        cJSON_AddStringToObject(c, "finish_reason", finish_openai(a));
        cJSON_Delete(a->tool_calls);
    } else {
        const char *fin = finish_openai(a);
        int calls = a->tool_calls && cJSON_GetArraySize(a->tool_calls) > 0;
        cJSON_AddNumberToObject(c, "index", index);
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        /* OpenAI writes content null beside tool calls when the model said nothing else */
        if (calls && !(a->text && a->text[0]))
            cJSON_AddNullToObject(m, "content");
        else
            cJSON_AddStringToObject(m, "content", a->text ? a->text : "");
        cJSON_AddNullToObject(m, "refusal");
        if (a->reasoning && a->reasoning[0])
            cJSON_AddStringToObject(m, "reasoning_content", a->reasoning);
        if (calls)
            cJSON_AddItemToObject(m, "tool_calls", a->tool_calls);
        else
            cJSON_Delete(a->tool_calls);
        cJSON_AddStringToObject(c, "finish_reason", fin);
        if (a->logprobs) {
            cJSON_AddNullToObject(a->logprobs, "refusal");
            cJSON_AddItemToObject(c, "logprobs", a->logprobs);
        } else
            cJSON_AddNullToObject(c, "logprobs");
    }
    a->tool_calls = a->logprobs = NULL;
    return c;
}

cJSON *batch_result(batch_format f, const cJSON *id, cJSON *choices, const char *model,
                    int prompt_tokens, int completion_tokens, double ms) {
    if (f == BATCH_NATIVE) {
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddItemToObject(rec, "id", cJSON_Duplicate(id, 1));
        cJSON *c = choices;
        for (cJSON *it = c ? c->child : NULL; it;) { /* move the fields after "id" */
            cJSON *next = it->next;
            cJSON_AddItemToObject(rec, it->string, cJSON_DetachItemViaPointer(c, it));
            it = next;
        }
        cJSON_Delete(c);
        cJSON_AddNumberToObject(rec, "ms", (double)(long)ms);
        return rec;
    }
    char rid[48], qid[48], bid[48];
    rand_id(rid, sizeof rid, "batch_req_");
    rand_id(qid, sizeof qid, "req_");
    rand_id(bid, sizeof bid, f == BATCH_OPENAI_CHAT ? "chatcmpl-" : "cmpl-");
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", rid);
    cJSON_AddItemToObject(rec, "custom_id", cJSON_Duplicate(id, 1));
    cJSON *resp = cJSON_AddObjectToObject(rec, "response");
    cJSON_AddNumberToObject(resp, "status_code", 200);
    cJSON_AddStringToObject(resp, "request_id", qid);
    cJSON *body = cJSON_AddObjectToObject(resp, "body");
    cJSON_AddStringToObject(body, "id", bid);
    cJSON_AddStringToObject(body, "object",
                            f == BATCH_OPENAI_CHAT ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(body, "created", (double)time(NULL));
    cJSON_AddStringToObject(body, "model", model ? model : "");
    cJSON_AddItemToObject(body, "choices", choices);
    cJSON *u = cJSON_AddObjectToObject(body, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", prompt_tokens + completion_tokens);
    cJSON_AddNullToObject(rec, "error");
    return rec;
}

cJSON *batch_error(batch_format f, long line, const cJSON *id, const char *code,
                   const char *msg_in) {
    /* the reason may quote the input line: the record carries it as valid UTF-8 */
    char *fixed = cli_utf8_repair(msg_in);
    const char *msg = fixed ? fixed : "invalid request";
    cJSON *rec = cJSON_CreateObject();
    if (f == BATCH_NATIVE) {
        cJSON_AddNumberToObject(rec, "line", (double)line);
        if (id) cJSON_AddItemToObject(rec, "id", cJSON_Duplicate(id, 1));
        cJSON_AddStringToObject(rec, "error", msg);
        free(fixed);
        return rec;
    }
    char rid[48];
    rand_id(rid, sizeof rid, "batch_req_");
    cJSON_AddStringToObject(rec, "id", rid);
    if (cJSON_IsString(id))
        cJSON_AddStringToObject(rec, "custom_id", id->valuestring);
    else
        cJSON_AddNullToObject(rec, "custom_id");
    cJSON_AddNullToObject(rec, "response");
    cJSON *e = cJSON_AddObjectToObject(rec, "error");
    cJSON_AddStringToObject(e, "code", code);
    size_t n = strlen(msg) + 32;
    char *m = malloc(n);
    if (m) snprintf(m, n, "line %ld: %s", line, msg);
    cJSON_AddStringToObject(e, "message", m ? m : msg);
    free(m);
    free(fixed);
    return rec;
}

char *batch_line_key(long line) {
    char *k = malloc(32);
    if (k) snprintf(k, 32, "#line%ld", line);
    return k;
}

int batch_record_key(const cJSON *j, char **key) {
    *key = NULL;
    if (!cJSON_IsObject(j)) return 0;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (cJSON_GetObjectItemCaseSensitive(j, "custom_id")) { /* OpenAI's shape */
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(j, "response");
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(j, "custom_id");
        if (!cJSON_IsString(id)) return 0;
        if (cJSON_IsObject(err) && cJSON_IsNull(resp)) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
            long line;
            if (!cJSON_IsString(m) || sscanf(m->valuestring, "line %ld:", &line) != 1 || line < 1)
                return 0;
            *key = batch_line_key(line);
            return 1;
        }
        if (!cJSON_IsNull(err) || !cJSON_IsObject(resp) || !cJSON_IsString(cid)) return 0;
        *key = batch_id_key(cid);
        return 1;
    }
    if (err) {
        const cJSON *line = cJSON_GetObjectItemCaseSensitive(j, "line");
        if (!cJSON_IsString(err) || !cJSON_IsNumber(line)) return 0;
        *key = batch_line_key((long)line->valuedouble);
        return 1;
    }
    if (!(cJSON_IsString(id) || cJSON_IsNumber(id)) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "text")) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "finish_reason")))
        return 0;
    *key = batch_id_key(id);
    return 1;
}
