/* term.h — drive the program through a pseudo-terminal (forkpty): start a shell command on a
 * new terminal, send keys, wait for text in what it prints, collect its exit status. Every wait
 * is bounded by a timeout. No Check calls (test/util is also linked into the fuzzers). */
#ifndef GPTC_TEST_TERM_H
#define GPTC_TEST_TERM_H

#include <stddef.h>
#include <sys/types.h>

typedef struct tu_term {
    int fd;
    pid_t pid;
    char buf[1 << 18];
    size_t len;  /* bytes read so far (older ones dropped when the buffer fills) */
    size_t mark; /* tu_term_wait searches from here */
} tu_term;

/* Runs `sh -c cmd` on a new 120x40 terminal with NO_COLOR=1, TERM=xterm and the given
 * XDG_STATE_HOME (NULL: unchanged). 0 on success. */
int tu_term_start(tu_term *t, const char *cmd, const char *state_home);
/* Reads until `needle` appears after the mark (then the mark moves past it): 1, or 0 at the
 * timeout or when the program closed the terminal. */
int tu_term_wait(tu_term *t, const char *needle, double timeout);
/* Reads whatever arrives for `secs` seconds. */
void tu_term_drain(tu_term *t, double secs);
/* Writes the bytes (keys) to the terminal; 0 on success. */
int tu_term_send(tu_term *t, const char *keys);
/* Waits for the program to end: its exit code (128 + signal when killed), or -1 when it did not
 * end within the timeout (it is killed then). Closes the terminal. */
int tu_term_exit(tu_term *t, double timeout);

#endif
