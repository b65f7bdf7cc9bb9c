/* messages.h — conversations in OpenAI's chat shape, as --messages FILE, /load and /save use
 * them: [{"role": "system"|"developer"|"user"|"assistant"|"tool", "content": ...}, ...], where
 * an assistant message may carry "thinking" (also read as "reasoning_content" or "reasoning")
 * and "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}], and a tool
 * message "tool_call_id". Content is a string, null, or a list of {"type": "text", "text"}
 * parts (joined). Tool-call arguments are kept as JSON text (an object given inline is written
 * out as Python's json.dumps would). The list owns every string. */
#ifndef GPTC_CLI_MESSAGES_H
#define GPTC_CLI_MESSAGES_H

#include <stddef.h>

#include "cli/harmony.h"
#include "cli/jval.h"
#include "cli/tooldefs.h"

typedef struct msglist {
    harmony_msg *m;
    size_t n, cap;
} msglist;

/* Appends a deep copy of m. 0 ok, -1 out of memory. */
int msglist_add(msglist *l, const harmony_msg *m);
void msglist_pop(msglist *l);
void msglist_clear(msglist *l);
void msglist_free(msglist *l);

/* Appends the messages of a JSON array. 0 ok, -1 with the reason in why. */
int msglist_from_jval(msglist *l, const jval *arr, char *why, size_t why_n);

/* A conversation file: a JSON array of messages, or an object with "messages" and optionally
 * "tools", "reasoning_effort" and "system" (developer instructions; what /save writes).
 * Fills what is there (tools->n == 0, *effort and *system NULL when absent; free both).
 * Prints "gptc: error: FILE: ..." and returns -1 on failure. */
int messages_load(const char *path, msglist *l, tooldefs *tools, char **effort, char **system);

/* The messages as a JSON array in OpenAI's shape (cJSON, for /save and --json). */
struct cJSON;
struct cJSON *msglist_to_cjson(const msglist *l);

#endif
