/* toolcalls.h — the calls the harmony parser picked out of a generation, in the shapes gptc
 * reports them: OpenAI's tool_calls array ([{"id", "type": "function", "function": {"name",
 * "arguments"}}], arguments as the JSON string the model wrote), and a line per call for
 * people. Names are resolved against the declared tools (tooldefs_resolve); a name the tools
 * do not declare is reported as written, without "functions.". */
#ifndef GPTC_CLI_TOOLCALLS_H
#define GPTC_CLI_TOOLCALLS_H

#include <stdio.h>

#include "cli/harmony.h"
#include "cli/tooldefs.h"

struct cJSON;

/* The function name of a call's recipient: the declared tool it means, else the recipient
 * without "functions." (into buf). *known = 1 when a declared tool matched. */
const char *toolcall_name(const tooldefs *t, const char *recipient, char *buf, size_t n,
                          int *known);
/* A fresh call id: "call_" and 24 random letters/digits. */
void toolcall_id(char out[32]);
/* The parser's calls as OpenAI's tool_calls array. */
struct cJSON *toolcalls_json(const harmony_parser *p, const tooldefs *t);
/* "tool call: NAME ARGUMENTS" per call. */
void toolcalls_print(FILE *f, const harmony_parser *p, const tooldefs *t);

#endif
