/* conv.h — a chat's conversation and its file form (/save, /load): developer instructions,
 * reasoning effort, the user/assistant messages (harmony models) and the continuation text
 * (plain GPT-2 / --raw chats). The JSON file:
 *   {"reasoning_effort": "medium", "system": "...", "messages": [{"role", "content"}...],
 *    "text": "..."}
 * "text" is written by plain chats (with "messages": []); "system" and "text" are optional.
 * Loading checks everything before it changes the conversation: the roles (user|assistant),
 * strings of valid UTF-8 without NUL, reasoning_effort low|medium|high. Independent of models
 * (the fuzzer links it alone with cJSON). */
#ifndef GPTC_CLI_CONV_H
#define GPTC_CLI_CONV_H

#include <stddef.h>

typedef struct conv {
    char **role, **content;
    size_t n, cap;
    char *system; /* developer instructions, malloc'd or NULL */
    char effort[8];
    char *text; /* plain continuation text, malloc'd or NULL */
} conv;

int conv_add(conv *c, const char *role, const char *content); /* 0, or -1 out of memory */
void conv_pop(conv *c);
void conv_clear(conv *c); /* the messages and the text; keeps system and effort */
void conv_free(conv *c);
int conv_set_system(conv *c, const char *s); /* NULL or "" clears it */
int conv_set_text(conv *c, const char *s, size_t n);

/* The file form (pretty-printed JSON), malloc'd; NULL when out of memory. */
char *conv_to_json(const conv *c);
/* Replaces c's messages, system, effort and text with those of the file text buf[0..len).
 * Returns 0, or -1 with a one-line reason in msg (c unchanged). */
int conv_from_json(conv *c, const char *buf, size_t len, char *msg, size_t cap);

#endif
