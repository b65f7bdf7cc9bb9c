/* messages.c — see messages.h. */
#include "cli/messages.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/jsontext.h"

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

static void msg_free(harmony_msg *m) {
    free((char *)m->role);
    free((char *)m->channel);
    free((char *)m->content);
    free((char *)m->thinking);
    free((char *)m->tool_call_id);
    for (size_t k = 0; k < m->n_calls; k++) {
        free((char *)m->calls[k].id);
        free((char *)m->calls[k].name);
        free((char *)m->calls[k].arguments);
    }
    free((harmony_tool_call *)m->calls);
    memset(m, 0, sizeof *m);
}

int msglist_add(msglist *l, const harmony_msg *src) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        harmony_msg *nm = realloc(l->m, nc * sizeof *nm);
        if (!nm) return -1;
        l->m = nm;
        l->cap = nc;
    }
    harmony_msg m = {0};
    int bad = 0;
    m.role = dup_or_null(src->role);
    m.channel = dup_or_null(src->channel);
    m.content = dup_or_null(src->content);
    m.thinking = dup_or_null(src->thinking);
    m.tool_call_id = dup_or_null(src->tool_call_id);
    bad |= !m.role || (src->channel && !m.channel) || (src->content && !m.content) ||
           (src->thinking && !m.thinking) || (src->tool_call_id && !m.tool_call_id);
    if (src->n_calls) {
        harmony_tool_call *c = calloc(src->n_calls, sizeof *c);
        if (c) {
            m.calls = c;
            m.n_calls = src->n_calls;
            for (size_t k = 0; k < src->n_calls; k++) {
                c[k].id = dup_or_null(src->calls[k].id);
                c[k].name = dup_or_null(src->calls[k].name);
                c[k].arguments = dup_or_null(src->calls[k].arguments);
                bad |= (src->calls[k].id && !c[k].id) || (src->calls[k].name && !c[k].name) ||
                       (src->calls[k].arguments && !c[k].arguments);
            }
        } else
            bad = 1;
    }
    if (bad) {
        msg_free(&m);
        return -1;
    }
    l->m[l->n++] = m;
    return 0;
}

void msglist_pop(msglist *l) {
    if (l->n) msg_free(&l->m[--l->n]);
}

void msglist_clear(msglist *l) {
    while (l->n) msglist_pop(l);
}

void msglist_free(msglist *l) {
    msglist_clear(l);
    free(l->m);
    memset(l, 0, sizeof *l);
}

/* content: a string, null/absent (NULL), or text parts joined. 0 ok, -1 bad. */
static int content_text(const jval *c, jbuf *out, int *present) {
    *present = 0;
    if (!c || c->type == JV_NULL) return 0;
    *present = 1;
    if (c->type == JV_STR) {
        jbuf_add(out, c->s, c->len);
        return 0;
    }
    if (c->type != JV_ARR) return -1;
    for (size_t i = 0; i < c->n; i++) {
        const jval *part = c->items[i];
        const char *t = jval_str(jval_get(part, "text"));
        if (jval_str(part))
            jbuf_add(out, part->s, part->len);
        else if (t)
            jbuf_adds(out, t);
        else
            return -1;
    }
    jbuf_add(out, "", 0);
    return 0;
}

static int has_nul(const jval *v) {
    return v && v->type == JV_STR && strlen(v->s) != v->len;
}

int msglist_from_jval(msglist *l, const jval *arr, char *why, size_t why_n) {
    if (!arr || arr->type != JV_ARR) {
        snprintf(why, why_n, "\"messages\" must be an array");
        return -1;
    }
    for (size_t i = 0; i < arr->n; i++) {
        const jval *o = arr->items[i];
        const char *role = jval_str(jval_get(o, "role"));
        if (o->type != JV_OBJ || !role) {
            snprintf(why, why_n, "messages[%zu]: needs a \"role\" string", i);
            return -1;
        }
        int asst = !strcmp(role, "assistant");
        if (strcmp(role, "system") && strcmp(role, "developer") && strcmp(role, "user") && !asst &&
            strcmp(role, "tool")) {
            /* at most 40 bytes of the role, cut at a character boundary (the reason goes
             * into error records that must stay valid UTF-8; jval checked the role is) */
            size_t rl = cli_utf8_prefix(role, strnlen(role, 40));
            snprintf(why, why_n, "messages[%zu]: unknown role \"%.*s\"", i, (int)rl, role);
            return -1;
        }
        harmony_msg m = {0};
        m.role = role;
        jbuf content = {0}, thinking = {0}, args = {0};
        harmony_tool_call *calls = NULL;
        int present = 0, ok = 1;
        const char *bad = NULL;
        const jval *c = jval_get(o, "content");
        if (has_nul(c))
            bad = "\"content\" contains \\u0000 (NUL), which no prompt can hold";
        else if (content_text(c, &content, &present))
            bad = "\"content\" must be a string, null, or a list of text parts";
        else if (present)
            m.content = content.s ? content.s : "";
        const jval *th = jval_get(o, "thinking");
        if (!th) th = jval_get(o, "reasoning_content");
        if (!th) th = jval_get(o, "reasoning");
        if (!bad && (content_text(th, &thinking, &present) || has_nul(th)))
            bad = "\"thinking\" must be a string";
        else if (present)
            m.thinking = thinking.s ? thinking.s : "";
        const jval *tcid = jval_get(o, "tool_call_id");
        if (!bad && tcid && tcid->type != JV_NULL && !jval_str(tcid))
            bad = "\"tool_call_id\" must be a string";
        m.tool_call_id = jval_str(tcid);
        const jval *tcs = jval_get(o, "tool_calls");
        if (!bad && tcs && tcs->type != JV_NULL) {
            if (tcs->type != JV_ARR || !asst)
                bad = "\"tool_calls\" must be an array, on an assistant message";
            else if (tcs->n) {
                calls = calloc(tcs->n, sizeof *calls);
                size_t *offs = calloc(tcs->n, sizeof *offs);
                if (!calls || !offs) ok = 0;
                for (size_t k = 0; ok && !bad && k < tcs->n; k++) {
                    const jval *tc = tcs->items[k];
                    const jval *fn = jval_get(tc, "function");
                    if (!fn) fn = tc;
                    const char *name = jval_str(jval_get(fn, "name"));
                    const jval *a = jval_get(fn, "arguments");
                    const jval *id = jval_get(tc, "id");
                    if (!name || !name[0] || (id && !jval_str(id))) {
                        bad = "each tool call needs function.name (and a string id)";
                        break;
                    }
                    calls[k].name = name;
                    calls[k].id = jval_str(id);
                    offs[k] = args.n;
                    if (!a || a->type == JV_NULL)
                        jbuf_adds(&args, "{}");
                    else if (a->type == JV_STR && !has_nul(a))
                        jbuf_add(&args, a->s, a->len);
                    else if (a->type == JV_OBJ)
                        jval_dump_py(&args, a);
                    else
                        bad = "function.arguments must be a JSON string or an object";
                    jbuf_add(&args, "", 1); /* keep the NUL: pieces live side by side */
                }
                if (!bad && ok && !args.oom) {
                    for (size_t k = 0; k < tcs->n; k++) calls[k].arguments = args.s + offs[k];
                    m.calls = calls;
                    m.n_calls = tcs->n;
                }
                free(offs);
            }
        }
        if (content.oom || thinking.oom || args.oom) ok = 0;
        if (!bad && ok && msglist_add(l, &m)) ok = 0;
        jbuf_free(&content);
        jbuf_free(&thinking);
        jbuf_free(&args);
        free(calls);
        if (bad) {
            snprintf(why, why_n, "messages[%zu] (%s): %s", i, role, bad);
            return -1;
        }
        if (!ok) {
            snprintf(why, why_n, "out of memory");
            return -1;
        }
    }
    return 0;
}

int messages_load(const char *path, msglist *l, tooldefs *tools, char **effort, char **system) {
    memset(tools, 0, sizeof *tools);
    *effort = NULL;
    *system = NULL;
    size_t n = 0;
    char *text = cli_slurp_file(path, &n);
    if (!text) return -1;
    char why[256];
    jval *root = jval_parse(text, n, why, sizeof why);
    free(text);
    if (!root) {
        cli_error("%s: not valid JSON (%s)", path, why);
        return -1;
    }
    const jval *msgs = root;
    if (root->type == JV_OBJ) {
        msgs = jval_get(root, "messages");
        const jval *t = jval_get(root, "tools");
        const jval *e = jval_get(root, "reasoning_effort");
        const jval *s = jval_get(root, "system");
        if (e && e->type != JV_NULL) {
            if (!jval_str(e) ||
                (strcmp(e->s, "low") && strcmp(e->s, "medium") && strcmp(e->s, "high"))) {
                cli_error("%s: reasoning_effort must be low, medium or high", path);
                goto fail;
            }
            *effort = e->s;
        }
        if (s && s->type != JV_NULL) {
            if (!jval_str(s) || has_nul(s)) {
                cli_error("%s: \"system\" must be a string", path);
                goto fail;
            }
            *system = s->s;
        }
        if (t && t->type != JV_NULL && tooldefs_from(t, tools, why, sizeof why)) {
            cli_error("%s: %s", path, why);
            goto fail;
        }
    }
    if (!msgs || msgs->type != JV_ARR) {
        cli_error("%s: expected a JSON array of messages, or an object with \"messages\"", path);
        goto fail;
    }
    if (msglist_from_jval(l, msgs, why, sizeof why)) {
        cli_error("%s: %s", path, why);
        goto fail;
    }
    /* the strings handed out must outlive root: copy them; tools keep root alive */
    char *e2 = *effort ? strdup(*effort) : NULL, *s2 = *system ? strdup(*system) : NULL;
    if ((*effort && !e2) || (*system && !s2)) {
        free(e2);
        free(s2);
        cli_error("out of memory");
        goto fail;
    }
    *effort = e2;
    *system = s2;
    if (tools->n)
        tools->root = root; /* tools point into it */
    else
        jval_free(root);
    return 0;
fail:
    msglist_clear(l);
    tooldefs_free(tools);
    *effort = NULL;
    *system = NULL;
    jval_free(root);
    return -1;
}

cJSON *msglist_to_cjson(const msglist *l) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < l->n; i++) {
        const harmony_msg *m = &l->m[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", m->role);
        if (m->content)
            cJSON_AddStringToObject(o, "content", m->content);
        else
            cJSON_AddNullToObject(o, "content");
        if (m->thinking) cJSON_AddStringToObject(o, "thinking", m->thinking);
        if (m->tool_call_id) cJSON_AddStringToObject(o, "tool_call_id", m->tool_call_id);
        if (m->n_calls) {
            cJSON *tcs = cJSON_AddArrayToObject(o, "tool_calls");
            for (size_t k = 0; k < m->n_calls; k++) {
                cJSON *tc = cJSON_CreateObject();
                if (m->calls[k].id) cJSON_AddStringToObject(tc, "id", m->calls[k].id);
                cJSON_AddStringToObject(tc, "type", "function");
                cJSON *fn = cJSON_AddObjectToObject(tc, "function");
                cJSON_AddStringToObject(fn, "name", m->calls[k].name ? m->calls[k].name : "");
                cJSON_AddStringToObject(fn, "arguments",
                                        m->calls[k].arguments ? m->calls[k].arguments : "{}");
                cJSON_AddItemToArray(tcs, tc);
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
