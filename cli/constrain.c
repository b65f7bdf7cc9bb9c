/* constrain.c — see constrain.h. */
#include "cli/constrain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_constraint_free(cli_constraint *c) {
    gptc_grammar_free(c->g);
    free(c->rf_text);
    c->g = NULL;
    c->rf_text = NULL;
}

/* "# Response Formats\n\n## NAME\n\n// DESCRIPTION\n{compact schema}" (harmony's layout) */
static char *response_format_text(const cJSON *schema, const char *name, const char *desc) {
    char *js = cJSON_PrintUnformatted(schema);
    if (!js) return NULL;
    size_t n = strlen(js) + strlen(name) + (desc ? strlen(desc) : 0) + 64;
    char *t = malloc(n);
    if (t) {
        if (desc && desc[0])
            snprintf(t, n, "# Response Formats\n\n## %s\n\n// %s\n%s", name, desc, js);
        else
            snprintf(t, n, "# Response Formats\n\n## %s\n\n%s", name, js);
    }
    free(js);
    return t;
}

gptc_status cli_constraint_from_schema(const char *json, size_t len, const char *name,
                                       const char *description, cli_constraint *c,
                                       gptc_error *err) {
    memset(c, 0, sizeof *c);
    gptc_status st = gptc_grammar_from_json_schema(json, len, &c->g, err);
    if (st != GPTC_OK) return st;
    cJSON *doc = cJSON_ParseWithLength(json, len);
    if (doc) {
        const cJSON *title = cJSON_GetObjectItemCaseSensitive(doc, "title");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, "description");
        if (!name) name = cJSON_IsString(title) ? title->valuestring : "response";
        if (!description && cJSON_IsString(d)) description = d->valuestring;
        c->rf_text = response_format_text(doc, name, description);
        cJSON_Delete(doc);
    }
    if (!c->rf_text) {
        cli_constraint_free(c);
        if (err) {
            err->status = GPTC_ERR_NOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
        return GPTC_ERR_NOMEM;
    }
    return GPTC_OK;
}

int cli_constraint_from_opts(const cli_opts *o, cli_constraint *c) {
    memset(c, 0, sizeof *c);
    int n = !!o->grammar + !!o->grammar_file + !!o->json_schema + !!o->json_schema_file +
            !!o->json_object;
    if (n == 0) return 0;
    if (n > 1) {
        cli_error("use only one of --grammar, --grammar-file, --json-schema, --json-schema-file, "
                  "--json-object");
        return EXIT_USAGE;
    }
    gptc_error err = {0};
    gptc_status st;
    const char *flag;
    char *text = NULL;
    size_t len = 0;
    if (o->json_object) {
        flag = "--json-object";
        st = gptc_grammar_json_object(&c->g, &err);
    } else if (o->grammar || o->grammar_file) {
        flag = o->grammar ? "--grammar" : "--grammar-file";
        if (o->grammar_file && !(text = cli_slurp_file(o->grammar_file, &len))) return EXIT_USAGE;
        const char *src = o->grammar ? o->grammar : text;
        st = gptc_grammar_parse(src, o->grammar ? strlen(src) : len, &c->g, &err);
    } else {
        flag = o->json_schema ? "--json-schema" : "--json-schema-file";
        if (o->json_schema_file && !(text = cli_slurp_file(o->json_schema_file, &len)))
            return EXIT_USAGE;
        const char *src = o->json_schema ? o->json_schema : text;
        st = cli_constraint_from_schema(src, o->json_schema ? strlen(src) : len, NULL, NULL, c,
                                        &err);
    }
    free(text);
    if (st != GPTC_OK) {
        cli_error("%s: %s", flag, err.msg[0] ? err.msg : gptc_status_name(st));
        cli_constraint_free(c);
        return EXIT_USAGE;
    }
    return 0;
}

int cli_constraint_from_response_format(const cJSON *rf, cli_constraint *c, char *msg, size_t n) {
    memset(c, 0, sizeof *c);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsObject(rf) || !cJSON_IsString(type)) {
        snprintf(msg, n, "\"response_format\" must be an object with a string \"type\"");
        return -1;
    }
    gptc_error err = {0};
    if (!strcmp(type->valuestring, "text")) return 0;
    if (!strcmp(type->valuestring, "json_object")) {
        if (gptc_grammar_json_object(&c->g, &err) != GPTC_OK) {
            snprintf(msg, n, "response_format: %s", err.msg);
            return -1;
        }
        return 0;
    }
    if (strcmp(type->valuestring, "json_schema")) {
        snprintf(msg, n, "\"response_format\" type must be text, json_object or json_schema");
        return -1;
    }
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(js, "name");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(js, "description");
    if (!cJSON_IsObject(js) || !schema) {
        snprintf(msg, n,
                 "\"response_format\" of type json_schema needs \"json_schema\": "
                 "{\"name\", \"schema\"}");
        return -1;
    }
    if ((name && !cJSON_IsString(name)) || (desc && !cJSON_IsString(desc))) {
        snprintf(msg, n, "response_format: \"name\" and \"description\" must be strings");
        return -1;
    }
    char *text = cJSON_PrintUnformatted(schema);
    if (!text) {
        snprintf(msg, n, "out of memory");
        return -1;
    }
    gptc_status st = cli_constraint_from_schema(text, strlen(text), name ? name->valuestring : NULL,
                                                desc ? desc->valuestring : NULL, c, &err);
    free(text);
    if (st != GPTC_OK) {
        snprintf(msg, n, "response_format: %s", err.msg);
        return -1;
    }
    return 0;
}
