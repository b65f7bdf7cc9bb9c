/* toolchoice.c — see toolchoice.h. */
#include "cli/toolchoice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jsontext.h"

static int choose(const char *v, int named, const tooldefs *t, cli_tool_choice *c, const char *what,
                  char *msg, size_t n) {
    *c = CLI_TOOL_CHOICE_AUTO;
    if (!named) {
        if (!strcmp(v, "auto")) return 0;
        if (!strcmp(v, "none")) {
            c->mode = GPTC_TOOL_CHOICE_NONE;
            return 0;
        }
        if (!strcmp(v, "required")) {
            if (!t || !t->n) {
                snprintf(msg, n, "%s: required needs tools (--tools FILE or \"tools\")", what);
                return -1;
            }
            c->mode = GPTC_TOOL_CHOICE_REQUIRED;
            return 0;
        }
    }
    for (size_t i = 0; t && i < t->n; i++)
        if (!strcmp(t->name[i], v)) {
            c->mode = GPTC_TOOL_CHOICE_REQUIRED;
            c->forced = (int)i;
            return 0;
        }
    char shown[80];
    size_t len = cli_utf8_prefix(v, strlen(v) < 60 ? strlen(v) : 60);
    snprintf(shown, sizeof shown, "%.*s%s", (int)len, v, len < strlen(v) ? "..." : "");
    if (named || (t && t->n))
        snprintf(msg, n, "%s: '%s' is not a declared tool%s", what, shown,
                 named ? "" : " (nor none, auto or required)");
    else
        snprintf(msg, n, "%s: '%s' is not one of none, auto, required (and there are no tools)",
                 what, shown);
    return -1;
}

int cli_tool_choice_from_flag(const char *v, const tooldefs *t, cli_tool_choice *c, char *msg,
                              size_t n) {
    *c = CLI_TOOL_CHOICE_AUTO;
    if (!v) return 0;
    return choose(v, 0, t, c, "--tool-choice", msg, n);
}

int cli_tool_choice_from_json(const cJSON *j, const tooldefs *t, cli_tool_choice *c, char *msg,
                              size_t n) {
    *c = CLI_TOOL_CHOICE_AUTO;
    if (!j || cJSON_IsNull(j)) return 0;
    if (cJSON_IsString(j)) {
        if (!strcmp(j->valuestring, "auto") || !strcmp(j->valuestring, "none") ||
            !strcmp(j->valuestring, "required"))
            return choose(j->valuestring, 0, t, c, "\"tool_choice\"", msg, n);
        snprintf(msg, n,
                 "\"tool_choice\" must be \"none\", \"auto\", \"required\" or "
                 "{\"type\": \"function\", \"function\": {\"name\": ...}}");
        return -1;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(j, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    if (!cJSON_IsObject(j) || !cJSON_IsString(type) || strcmp(type->valuestring, "function") ||
        !cJSON_IsObject(fn) || !cJSON_IsString(name)) {
        snprintf(msg, n,
                 "\"tool_choice\" must be \"none\", \"auto\", \"required\" or "
                 "{\"type\": \"function\", \"function\": {\"name\": ...}}");
        return -1;
    }
    return choose(name->valuestring, 1, t, c, "\"tool_choice\"", msg, n);
}

#define ANY_OBJECT "{\"type\": \"object\", \"additionalProperties\": true}"

gptc_status cli_tools_grammar(const tooldefs *t, const cli_tool_choice *c,
                              const gptc_grammar *final_g, const gptc_tokenizer *tok,
                              gptc_grammar **out, char *warn, size_t wn, gptc_error *err) {
    *out = NULL;
    if (warn && wn) warn[0] = 0;
    size_t nt = t ? t->n : 0;
    if (nt == 0) {
        if (!final_g) return GPTC_OK;
        return gptc_grammar_harmony(final_g, tok, out, err);
    }
    char **schemas = calloc(nt, sizeof *schemas);
    if (!schemas) goto nomem;
    for (size_t i = 0; i < nt; i++) {
        const jval *params = jval_get(t->fn[i], "parameters");
        if (!params) continue;
        jbuf b = {0};
        jval_dump_py(&b, params);
        if (b.oom) {
            jbuf_free(&b);
            for (size_t k = 0; k < i; k++) free(schemas[k]);
            free(schemas);
            goto nomem;
        }
        schemas[i] = b.s; /* jbuf's text is malloc'd */
    }
    /* a schema the converter refuses: that tool's arguments are any JSON object (noted) */
    gptc_status st;
    for (;;) {
        st = gptc_grammar_harmony_tools(final_g, tok, t->name, (const char *const *)schemas,
                                        (int)nt, c->mode, c->forced, out, err);
        if (st != GPTC_ERR_UNSUPPORTED && st != GPTC_ERR_FORMAT) break;
        size_t bad = nt;
        for (size_t i = 0; i < nt && err; i++) {
            size_t ln = strlen(t->name[i]);
            if (!strncmp(err->msg, "tool ", 5) && !strncmp(err->msg + 5, t->name[i], ln) &&
                err->msg[5 + ln] == ':')
                bad = i;
        }
        if (bad == nt || !schemas[bad] || !strcmp(schemas[bad], ANY_OBJECT)) break;
        if (warn) snprintf(warn, wn, "%s; its arguments are checked as any JSON object", err->msg);
        free(schemas[bad]);
        if (!(schemas[bad] = strdup(ANY_OBJECT))) {
            st = GPTC_ERR_NOMEM;
            break;
        }
    }
    for (size_t i = 0; i < nt; i++) free(schemas[i]);
    free(schemas);
    return st;
nomem:
    if (err) {
        err->status = GPTC_ERR_NOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
    }
    return GPTC_ERR_NOMEM;
}
