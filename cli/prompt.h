/* prompt.h — the conversation a gpt-oss command starts from, gathered from the command line:
 * --messages FILE (messages.h), --tools FILE (tooldefs.h), --system/--system-file,
 * --reasoning-effort and today's date, plus the -p/stdin text as a last user message. Used by
 * one-shot generation, chat and gptc render, so the three see the same prompt. */
#ifndef GPTC_CLI_PROMPT_H
#define GPTC_CLI_PROMPT_H

#include "cli/args.h"
#include "cli/harmony.h"
#include "cli/messages.h"
#include "cli/tooldefs.h"

typedef struct cli_prompt {
    msglist msgs;
    tooldefs tools;
    char *tools_ts; /* the rendered functions namespace, NULL without tools */
    char *system;   /* developer instructions or NULL */
    char effort[8];
    char date[16];
} cli_prompt;

/* Loads what o names; appends user_text (may be NULL) as a user message. The developer
 * instructions come from --system/--system-file, else the file's "system", else its first
 * system/developer message (giving them twice is an error); the tools from --tools or the
 * file's "tools" (not both); the effort from the file's "reasoning_effort", else the flag.
 * Prints one error line and returns EXIT_USAGE (or EXIT_RUNTIME), 0 on success. */
int cli_prompt_load(const cli_opts *o, const char *user_text, cli_prompt *p);
/* Replaces the tools (parsed list; takes ownership of t). 0 ok, -1 out of memory. */
int cli_prompt_set_tools(cli_prompt *p, tooldefs *t);
/* The harmony view of p (valid while p is unchanged). */
void cli_prompt_conv(const cli_prompt *p, harmony_conv *c);
void cli_prompt_free(cli_prompt *p);

#endif
