/* jsontext.h — checks on text that comes from JSON input files (batch lines, /load files): the
 * strings must be valid UTF-8 without NUL, as the tokenizer needs them. Depends on nothing but
 * the C library (the fuzzers link it alone). */
#ifndef GPTC_CLI_JSONTEXT_H
#define GPTC_CLI_JSONTEXT_H

#include <stddef.h>

/* Length of the longest valid UTF-8 prefix of s[0..n) (n when all of it is valid): no overlong
 * forms, no surrogates, nothing above U+10FFFF, no truncated sequence. */
size_t cli_utf8_prefix(const char *s, size_t n);

/* A copy of s that is valid UTF-8: the valid sequences kept, every other byte replaced by
 * U+FFFD (one per byte). NULL when out of memory. For messages that quote input (error records
 * must be valid JSON text). */
char *cli_utf8_repair(const char *s);

/* Does the JSON text buf[0..n) contain the escape \u0000 (a string with a NUL, which cJSON
 * would silently cut)? Returns its byte offset, or (size_t)-1 when there is none. */
size_t cli_json_nul_escape(const char *buf, size_t n);

/* Checks a string taken from JSON (NUL-terminated by cJSON): valid UTF-8. On failure writes
 * "\"WHAT\" is not valid UTF-8 (byte offset N)" into msg and returns -1. */
int cli_json_text_check(const char *s, const char *what, char *msg, size_t cap);

#endif
