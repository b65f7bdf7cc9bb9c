/* toolexec.h — runs a local program for one tool call (chat --tool-exec CMD): `sh -c CMD` with
 * the call's arguments (JSON) on stdin and the function name in the environment variable
 * GPTC_TOOL_NAME, in its own process group; what it prints on stdout (at most
 * TOOLEXEC_MAX_OUTPUT bytes) is the tool's result. It is killed after TOOLEXEC_TIMEOUT_S
 * seconds. Its stderr goes to gptc's stderr. */
#ifndef GPTC_CLI_TOOLEXEC_H
#define GPTC_CLI_TOOLEXEC_H

#include <stddef.h>

#define TOOLEXEC_TIMEOUT_S 30.0
#define TOOLEXEC_MAX_OUTPUT ((size_t)64 << 10)

typedef struct toolexec_result {
    char *out; /* stdout (NUL-terminated, malloc'd) */
    size_t len;
    int status;    /* exit status, 128+signal when killed, -1 when it could not start */
    int timed_out; /* killed at the time limit */
    int truncated; /* stdout was longer than the cap (the rest was discarded) */
} toolexec_result;

/* Runs cmd for one call. Returns 0 when the program ran (whatever its exit status), -1 when it
 * could not be started (r->out then holds the reason). */
int toolexec_run(const char *cmd, const char *name, const char *args, double timeout_s, size_t cap,
                 toolexec_result *r);
/* The text given back to the model: stdout without its trailing newlines (as $(...) in the
 * shell), plus a bracketed note when the program failed, timed out or was cut (malloc'd). */
char *toolexec_result_text(const toolexec_result *r);
void toolexec_result_free(toolexec_result *r);

#endif
