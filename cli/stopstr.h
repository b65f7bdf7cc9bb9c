/* stopstr.h — stop strings (--stop, batch "stop"): find them in streamed text that may be cut
 * anywhere (token boundaries, inside a UTF-8 character), never let them or anything after them
 * through, and hold back only what could still be the start of one.
 *
 * Text is pushed as it is decoded; the part that can no longer belong to a stop string is passed
 * to the emit callback at once. What is held back is the longest tail of the text that is a
 * proper prefix of some stop string (so at most the longest stop's length - 1 bytes). The first
 * stop string to end in the text wins (of two ending at the same byte, the longer); the text
 * before it is emitted and the rest is dropped. */
#ifndef GPTC_CLI_STOPSTR_H
#define GPTC_CLI_STOPSTR_H

#include <stddef.h>

#define CLI_MAX_STOP 4        /* stop strings per request (OpenAI's limit) */
#define CLI_STOP_MAX_LEN 1024 /* bytes per stop string */

typedef void (*cli_stop_emit_fn)(void *user, const char *text, size_t len);

typedef struct cli_stop {
    char *s[CLI_MAX_STOP];
    size_t len[CLI_MAX_STOP];
    int n;
    char *hold; /* held-back tail */
    size_t n_hold, cap;
    int hit; /* a stop string was found since the last reset */
} cli_stop;

/* Length of the valid UTF-8 character at s[0..n) (strict: no overlong forms, surrogates or code
 * points past U+10FFFF), 0 when it is not one. */
size_t cli_utf8_char(const unsigned char *s, size_t n);
/* Why a stop string is refused (empty, too long, not valid UTF-8), or NULL when it is fine. */
const char *cli_stop_check(const char *s, size_t len);
/* Replaces the stop strings by copies of strs[0..n) (n <= CLI_MAX_STOP, each checked) and resets.
 * Returns -1 when out of memory. */
int cli_stop_set(cli_stop *st, const char *const *strs, int n);
/* Forgets held text and a hit (a new answer). */
void cli_stop_reset(cli_stop *st);
/* Pushes decoded text. Returns 1 when a stop string ended in it (st->hit; later pushes are
 * ignored), 0 otherwise, -1 when out of memory (the text is then emitted unchecked). */
int cli_stop_push(cli_stop *st, const char *text, size_t len, cli_stop_emit_fn emit, void *user);
/* At the end of an answer: emits the held-back text (unless a stop string was hit). */
void cli_stop_flush(cli_stop *st, cli_stop_emit_fn emit, void *user);
void cli_stop_free(cli_stop *st);

#endif
