/* tooldefs.c — see tooldefs.h. The TypeScript rendering follows gpt-oss's chat template macro by
 * macro (render_typescript_type, render_tool_namespace) as Jinja evaluates it with
 * transformers' settings (trim_blocks, lstrip_blocks): where the template leaves whitespace in
 * its output (a newline plus 16 spaces before a nested property's type, 20 spaces before a
 * oneOf variant's default) this code writes the same. Checked byte for byte against Jinja by
 * test/test_render_ref.c. */
#include "cli/tooldefs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

void tooldefs_free(tooldefs *t) {
    jval_free(t->root);
    free(t->name);
    free(t->fn);
    memset(t, 0, sizeof *t);
}

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int tooldefs_from(const jval *arr, tooldefs *out, char *why, size_t why_n) {
    memset(out, 0, sizeof *out);
    if (arr && arr->type == JV_OBJ) arr = jval_get(arr, "tools");
    if (!arr || arr->type != JV_ARR) {
        snprintf(why, why_n, "tools must be a JSON array of {\"type\": \"function\", ...}");
        return -1;
    }
    out->name = calloc(arr->n ? arr->n : 1, sizeof *out->name);
    out->fn = calloc(arr->n ? arr->n : 1, sizeof *out->fn);
    if (!out->name || !out->fn) {
        snprintf(why, why_n, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < arr->n; i++) {
        const jval *e = arr->items[i];
        const jval *type = jval_get(e, "type");
        const jval *fn = jval_get(e, "function");
        if (e->type != JV_OBJ) {
            snprintf(why, why_n, "tools[%zu] is not an object", i);
            goto fail;
        }
        if (type && (!jval_str(type) || strcmp(type->s, "function"))) {
            snprintf(why, why_n, "tools[%zu]: only \"type\": \"function\" tools are supported", i);
            goto fail;
        }
        if (!fn) fn = e; /* a bare function object */
        const char *name = jval_str(jval_get(fn, "name"));
        if (fn->type != JV_OBJ || !name || !valid_name(name)) {
            snprintf(why, why_n,
                     "tools[%zu]: function.name must be 1-64 letters, digits, '_' or '-'", i);
            goto fail;
        }
        const jval *d = jval_get(fn, "description");
        if (d && d->type != JV_STR && d->type != JV_NULL) {
            snprintf(why, why_n, "tools[%zu] (%s): description must be a string", i, name);
            goto fail;
        }
        const jval *p = jval_get(fn, "parameters");
        if (p && p->type != JV_OBJ && p->type != JV_NULL) {
            snprintf(why, why_n, "tools[%zu] (%s): parameters must be a JSON Schema object", i,
                     name);
            goto fail;
        }
        for (size_t k = 0; k < out->n; k++)
            if (!strcmp(out->name[k], name)) {
                snprintf(why, why_n, "tools[%zu]: a second tool named %s", i, name);
                goto fail;
            }
        out->name[out->n] = name;
        out->fn[out->n++] = fn;
    }
    return 0;
fail:
    free(out->name);
    free(out->fn);
    memset(out, 0, sizeof *out);
    return -1;
}

int tooldefs_parse(const char *text, size_t len, tooldefs *out, char *why, size_t why_n) {
    char w[128];
    jval *root = jval_parse(text, len, w, sizeof w);
    if (!root) {
        memset(out, 0, sizeof *out);
        snprintf(why, why_n, "not valid JSON (%s)", w);
        return -1;
    }
    if (tooldefs_from(root, out, why, why_n)) {
        jval_free(root);
        return -1;
    }
    out->root = root;
    return 0;
}

int tooldefs_load(const char *path, tooldefs *out) {
    size_t n = 0;
    char *text = cli_slurp_file(path, &n);
    if (!text) return -1;
    char why[256];
    int r = tooldefs_parse(text, n, out, why, sizeof why);
    free(text);
    if (r) cli_error("%s: %s", path, why);
    return r;
}

/* ---- the template's macros ------------------------------------------------------------------ */

/* `name in list` (Python: list membership; a string operand is a substring test) */
static int py_in(const char *name, const jval *v) {
    if (!v) return 0;
    if (v->type == JV_STR) return strstr(v->s, name) != NULL;
    if (v->type != JV_ARR) return 0;
    for (size_t i = 0; i < v->n; i++)
        if (jval_str(v->items[i]) && !strcmp(v->items[i]->s, name)) return 1;
    return 0;
}

static int str_is(const jval *v, const char *s) {
    return jval_str(v) && !strcmp(v->s, s);
}

static size_t utf8_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* "a" + join(sep, str(x) for x in arr) */
static void join_py(jbuf *b, const jval *arr, const char *sep) {
    for (size_t i = 0; i < arr->n; i++) {
        if (i) jbuf_adds(b, sep);
        jval_str_py(b, arr->items[i]);
    }
}

static void ts_type(jbuf *b, const jval *spec);

static void ts_type(jbuf *b, const jval *spec) {
    const jval *type = jval_get(spec, "type");
    const jval *nullable = jval_get(spec, "nullable");
    if (str_is(type, "array")) {
        const jval *items = jval_get(spec, "items");
        if (jval_truthy(items)) {
            const jval *it = jval_get(items, "type");
            if (str_is(it, "string"))
                jbuf_adds(b, "string[]");
            else if (str_is(it, "number") || str_is(it, "integer"))
                jbuf_adds(b, "number[]");
            else if (str_is(it, "boolean"))
                jbuf_adds(b, "boolean[]");
            else {
                jbuf inner = {0};
                ts_type(&inner, items);
                const char *s = inner.s ? inner.s : "";
                if (!strcmp(s, "object | object") || utf8_chars(s, inner.n) > 50)
                    jbuf_adds(b, "any[]");
                else {
                    jbuf_add(b, s, inner.n);
                    jbuf_adds(b, "[]");
                }
                if (inner.oom) b->oom = 1;
                jbuf_free(&inner);
            }
        } else {
            jbuf_adds(b, "any[]");
        }
        if (jval_truthy(nullable)) jbuf_adds(b, " | null");
    } else if (type && type->type == JV_ARR && type->n > 0) {
        join_py(b, type, " | ");
    } else if (jval_truthy(jval_get(spec, "oneOf")) && jval_get(spec, "oneOf")->type == JV_ARR) {
        /* (the template's has_object_variants flag is set inside a for loop, where Jinja scopes
         * it away: every oneOf is rendered variant by variant) */
        const jval *one = jval_get(spec, "oneOf");
        for (size_t i = 0; i < one->n; i++) {
            const jval *v = one->items[i];
            ts_type(b, v);
            const jval *d = jval_get(v, "description");
            if (jval_truthy(d)) {
                jbuf_adds(b, "// ");
                jval_str_py(b, d);
            }
            const jval *def = jval_get(v, "default");
            if (def) {
                jbuf_adds(b, "                    // default: ");
                jval_dump_py(b, def);
            }
            if (i + 1 < one->n) jbuf_adds(b, " | \n");
        }
    } else if (str_is(type, "string")) {
        const jval *en = jval_get(spec, "enum");
        if (jval_truthy(en) && en->type == JV_ARR) {
            jbuf_adds(b, "\"");
            join_py(b, en, "\" | \"");
            jbuf_adds(b, "\"");
        } else {
            jbuf_adds(b, "string");
            if (jval_truthy(nullable)) jbuf_adds(b, " | null");
        }
    } else if (str_is(type, "number") || str_is(type, "integer")) {
        jbuf_adds(b, "number");
    } else if (str_is(type, "boolean")) {
        jbuf_adds(b, "boolean");
    } else if (str_is(type, "object")) {
        const jval *props = jval_get(spec, "properties");
        if (jval_truthy(props) && props->type == JV_OBJ) {
            const jval *req = jval_get(spec, "required");
            jbuf_adds(b, "{\n");
            for (size_t i = 0; i < props->n; i++) {
                jbuf_adds(b, props->keys[i]);
                if (!py_in(props->keys[i], req)) jbuf_adds(b, "?");
                jbuf_adds(b, ": \n                ");
                ts_type(b, props->items[i]);
                if (i + 1 < props->n) jbuf_adds(b, ", ");
            }
            jbuf_adds(b, "}");
        } else {
            jbuf_adds(b, "object");
        }
    } else {
        jbuf_adds(b, "any");
    }
}

char *tooldefs_render(const tooldefs *t) {
    jbuf b = {0};
    jbuf_adds(&b, "## functions\n\nnamespace functions {\n\n");
    for (size_t i = 0; i < t->n; i++) {
        const jval *fn = t->fn[i];
        const jval *desc = jval_get(fn, "description");
        if (jval_str(desc)) { /* (the template fails on a tool without one) */
            jbuf_adds(&b, "// ");
            jbuf_add(&b, desc->s, desc->len);
            jbuf_adds(&b, "\n");
        }
        jbuf_adds(&b, "type ");
        jbuf_adds(&b, t->name[i]);
        jbuf_adds(&b, " = ");
        const jval *params = jval_get(fn, "parameters");
        const jval *props = jval_get(params, "properties");
        if (jval_truthy(params) && jval_truthy(props) && props->type == JV_OBJ) {
            const jval *req = jval_get(params, "required");
            jbuf_adds(&b, "(_: {\n");
            for (size_t k = 0; k < props->n; k++) {
                const jval *ps = props->items[k];
                const jval *pd = jval_get(ps, "description");
                if (jval_truthy(pd)) {
                    jbuf_adds(&b, "// ");
                    jval_str_py(&b, pd);
                    jbuf_adds(&b, "\n");
                }
                jbuf_adds(&b, props->keys[k]);
                if (!py_in(props->keys[k], req)) jbuf_adds(&b, "?");
                jbuf_adds(&b, ": ");
                ts_type(&b, ps);
                const jval *def = jval_get(ps, "default");
                if (def) {
                    if (jval_truthy(jval_get(ps, "enum"))) {
                        jbuf_adds(&b, ", // default: ");
                        jval_str_py(&b, def);
                    } else if (jval_truthy(jval_get(ps, "oneOf"))) {
                        jbuf_adds(&b, "// default: ");
                        jval_str_py(&b, def);
                    } else {
                        jbuf_adds(&b, ", // default: ");
                        jval_dump_py(&b, def);
                    }
                }
                jbuf_adds(&b, ",\n");
            }
            jbuf_adds(&b, "}) => any;\n\n");
        } else {
            jbuf_adds(&b, "() => any;\n\n");
        }
    }
    jbuf_adds(&b, "} // namespace functions");
    if (b.oom) {
        jbuf_free(&b);
        return NULL;
    }
    return b.s;
}

/* ---- recipients ----------------------------------------------------------------------------- */

static const char *find_name(const tooldefs *t, const char *s, size_t n) {
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->name[i]) == n && !memcmp(t->name[i], s, n)) return t->name[i];
    return NULL;
}

const char *tooldefs_resolve(const tooldefs *t, const char *recipient) {
    if (!t || !recipient) return NULL;
    const char *s = recipient;
    if (!strncmp(s, "functions.", 10)) s += 10;
    size_t n = strlen(s);
    const char *hit = find_name(t, s, n);
    if (hit) return hit;
    /* what models glue on: "<|...", "json", " json", a trailing '.' or ':' */
    const char *lt = strstr(s, "<|");
    if (lt && (hit = find_name(t, s, (size_t)(lt - s)))) return hit;
    size_t m = n;
    while (m > 0 && (s[m - 1] == ' ' || s[m - 1] == '.' || s[m - 1] == ':')) m--;
    if ((hit = find_name(t, s, m))) return hit;
    if (m > 4 && !memcmp(s + m - 4, "json", 4)) {
        m -= 4;
        while (m > 0 && (s[m - 1] == ' ' || s[m - 1] == '.' || s[m - 1] == ':')) m--;
        if ((hit = find_name(t, s, m))) return hit;
    }
    return NULL;
}
