/* conv.c — see conv.h. */
#include "cli/conv.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jsontext.h"

int conv_add(conv *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        char **nr = realloc(c->role, nc * sizeof *nr);
        if (!nr) return -1;
        c->role = nr;
        char **nt = realloc(c->content, nc * sizeof *nt);
        if (!nt) return -1;
        c->content = nt;
        c->cap = nc;
    }
    c->role[c->n] = strdup(role);
    c->content[c->n] = strdup(content);
    if (!c->role[c->n] || !c->content[c->n]) {
        free(c->role[c->n]);
        free(c->content[c->n]);
        return -1;
    }
    c->n++;
    return 0;
}

void conv_pop(conv *c) {
    if (!c->n) return;
    c->n--;
    free(c->role[c->n]);
    free(c->content[c->n]);
}

void conv_clear(conv *c) {
    while (c->n) conv_pop(c);
    free(c->text);
    c->text = NULL;
}

void conv_free(conv *c) {
    conv_clear(c);
    free(c->role);
    free(c->content);
    free(c->system);
    memset(c, 0, sizeof *c);
}

int conv_set_system(conv *c, const char *s) {
    free(c->system);
    c->system = (s && *s) ? strdup(s) : NULL;
    return s && *s && !c->system ? -1 : 0;
}

int conv_set_text(conv *c, const char *s, size_t n) {
    free(c->text);
    c->text = NULL;
    if (!s) return 0;
    if (!(c->text = malloc(n + 1))) return -1;
    memcpy(c->text, s, n);
    c->text[n] = 0;
    return 0;
}

char *conv_to_json(const conv *c) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "reasoning_effort", c->effort);
    if (c->system) cJSON_AddStringToObject(j, "system", c->system);
    cJSON *arr = cJSON_AddArrayToObject(j, "messages");
    for (size_t i = 0; arr && i < c->n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", c->role[i]);
        cJSON_AddStringToObject(m, "content", c->content[i]);
        cJSON_AddItemToArray(arr, m);
    }
    if (c->text) cJSON_AddStringToObject(j, "text", c->text);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    return s;
}

/* A string field that must be valid text when present: 0 ok (or absent), -1 with msg. */
static int text_field(const cJSON *v, const char *name, char *msg, size_t cap) {
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) {
        snprintf(msg, cap, "\"%s\" must be a string", name);
        return -1;
    }
    return cli_json_text_check(v->valuestring, name, msg, cap);
}

int conv_from_json(conv *c, const char *buf, size_t len, char *msg, size_t cap) {
    if (memchr(buf, 0, len)) {
        snprintf(msg, cap, "contains a NUL byte (not a saved conversation)");
        return -1;
    }
    size_t off = cli_json_nul_escape(buf, len);
    if (off != (size_t)-1) {
        snprintf(msg, cap, "byte offset %zu: strings containing \\u0000 are not supported", off);
        return -1;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    while (j && end < buf + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if (!j || !cJSON_IsObject(j) || end < buf + len) {
        snprintf(msg, cap, "not a saved conversation (not one JSON object)");
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(j, "system");
    const cJSON *eff = cJSON_GetObjectItemCaseSensitive(j, "reasoning_effort");
    const cJSON *m;
    if (!cJSON_IsArray(msgs)) {
        snprintf(msg, cap, "not a saved conversation (no \"messages\" array)");
        goto bad;
    }
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(r) || !cJSON_IsString(t) ||
            (strcmp(r->valuestring, "user") && strcmp(r->valuestring, "assistant"))) {
            snprintf(msg, cap, "each message needs a role (user|assistant) and a content string");
            goto bad;
        }
        if (cli_json_text_check(t->valuestring, "content", msg, cap)) goto bad;
    }
    if (text_field(sys, "system", msg, cap) || text_field(text, "text", msg, cap)) goto bad;
    if (eff && (!cJSON_IsString(eff) ||
                (strcmp(eff->valuestring, "low") && strcmp(eff->valuestring, "medium") &&
                 strcmp(eff->valuestring, "high")))) {
        snprintf(msg, cap, "\"reasoning_effort\" must be low, medium or high");
        goto bad;
    }
    /* all checked: build the new conversation, then swap it in */
    conv nc;
    memset(&nc, 0, sizeof nc);
    snprintf(nc.effort, sizeof nc.effort, "%s", eff ? eff->valuestring : c->effort);
    int fail = 0;
    cJSON_ArrayForEach(m, msgs) {
        fail |= conv_add(&nc, cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring,
                         cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring);
    }
    fail |= conv_set_system(&nc, cJSON_IsString(sys) ? sys->valuestring : NULL);
    if (cJSON_IsString(text))
        fail |= conv_set_text(&nc, text->valuestring, strlen(text->valuestring));
    cJSON_Delete(j);
    if (fail) {
        conv_free(&nc);
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    conv_free(c);
    *c = nc;
    return 0;
bad:
    cJSON_Delete(j);
    return -1;
}
