/* tooldefs.h — function tools in OpenAI's shape ([{"type": "function", "function": {"name",
 * "description", "parameters"}}], the --tools FILE), rendered for gpt-oss's developer message
 * the way its chat template (tokenizer.chat_template) renders them: a TypeScript-like
 * `namespace functions { ... }` block, with the template's exact whitespace (docs/harmony.md
 * lists where that differs from OpenAI's harmony library). Also maps the recipient name the
 * model writes in a call header back to a declared tool. */
#ifndef GPTC_CLI_TOOLDEFS_H
#define GPTC_CLI_TOOLDEFS_H

#include <stddef.h>

#include "cli/jval.h"

typedef struct tooldefs {
    jval *root;        /* the parsed document */
    size_t n;          /* tools */
    const char **name; /* function names */
    const jval **fn;   /* the "function" objects (name, description, parameters) */
} tooldefs;

/* Parses a tools list: a JSON array (or an object with a "tools" array) of {"type": "function",
 * "function": {...}} entries (a bare {"name", ...} function object is taken too). Names are
 * 1-64 of [A-Za-z0-9_-] and unique; description a string; parameters an object. Returns 0, or
 * -1 with the reason in why. An empty list is fine (no tools). */
int tooldefs_parse(const char *text, size_t len, tooldefs *out, char *why, size_t why_n);
/* tooldefs_parse from a jval that stays owned by the caller (out->root is NULL then). */
int tooldefs_from(const jval *arr, tooldefs *out, char *why, size_t why_n);
/* Reads and parses a --tools FILE; prints "gptc: error: FILE: ..." and returns -1 on failure. */
int tooldefs_load(const char *path, tooldefs *out);
void tooldefs_free(tooldefs *t);

/* The template's render_tool_namespace("functions", tools): "## functions\n\nnamespace
 * functions {\n\n// DESCRIPTION\ntype NAME = (_: {...}) => any;\n\n...} // namespace
 * functions". malloc'd; NULL when out of memory. */
char *tooldefs_render(const tooldefs *t);

/* The declared tool a call's recipient names, or NULL: "functions.NAME" or "NAME" exactly,
 * else after dropping what the model sometimes glues on ("json", "<|constrain|>json", a
 * trailing "<|...": llama.cpp/ollama reports). */
const char *tooldefs_resolve(const tooldefs *t, const char *recipient);

#endif
