/* lineedit.h — the chat's prompt line editor, for a terminal on stdin and stdout (pipes keep
 * plain line reads in chat.c).
 *
 * Keys: Left/Right (Ctrl-B/F), Alt-B/F and Ctrl-Left/Right by word, Home/End (Ctrl-A/E),
 * Backspace, Delete, Ctrl-K/U/W (kill to end / to start / word before), Ctrl-Y (yank the last
 * kill), Up/Down (Ctrl-P/N) through the history, Ctrl-R reverse incremental search (Ctrl-R again:
 * older match; Enter submits; Ctrl-G or Esc cancels; other keys take the match and edit),
 * Tab completes a /command, Ctrl-L clears the screen, Ctrl-D on an empty line is end of input,
 * Ctrl-C clears a non-empty line, and on an empty line prints a hint the first time and ends
 * the chat the second time in a row. A bracketed paste (the terminal wraps pasted text in
 * ESC[200~ ... ESC[201~) is inserted as is, newlines included, so several pasted lines are one
 * message; they show as "↵" on the single, horizontally scrolling edit line. Text is UTF-8;
 * the cursor moves by character, and wide (CJK, emoji) and zero-width characters take their
 * display width (utf8proc).
 *
 * History: one entry per line in $XDG_STATE_HOME/gptc/history (default
 * ~/.local/state/gptc/history), backslash and newline escaped; the file is created mode 0600
 * (its folder 0700), appended to after each entry, and trimmed to the last LE_HISTORY_MAX
 * entries when it grows past twice that. */
#ifndef GPTC_CLI_LINEEDIT_H
#define GPTC_CLI_LINEEDIT_H

#include <signal.h>
#include <stddef.h>

#define LE_HISTORY_MAX 1000

typedef struct lineedit lineedit;

/* Opens the editor when fds 0 and 1 are terminals, else returns NULL. history_path NULL: the
 * default path above ("" disables the file). completions: NULL-terminated /command names.
 * *interrupted is polled: when a signal sets it during a read, le_read returns -1. */
lineedit *le_open(const char *history_path, const char *const *completions,
                  volatile sig_atomic_t *interrupted);
void le_close(lineedit *le);

/* Shows prompt (may hold colour escapes) and reads one entry. Returns 1 with *line set (owned
 * by the editor, valid until the next call; NUL-terminated, may contain '\n' from a paste), 0 at
 * end of input (Ctrl-D on an empty line, or a read error), -1 when the user ends the chat with
 * Ctrl-C or a signal interrupted the read. The terminal is in raw mode only inside this call. */
int le_read(lineedit *le, const char *prompt, const char **line, size_t *len);

/* Adds an entry to the history (skipped when empty or equal to the last one) and appends it
 * to the history file. */
void le_history_add(lineedit *le, const char *entry, size_t len);

/* The default history path ($XDG_STATE_HOME/gptc/history or ~/.local/state/gptc/history) into
 * buf; 0 on success, -1 when neither variable gives a usable folder. */
int le_history_default_path(char *buf, size_t cap);

#endif
