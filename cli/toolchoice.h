/* toolchoice.h — which replies the tools allow (OpenAI's tool_choice: "none", "auto",
 * "required", {"type": "function", "function": {"name": "X"}}; the --tool-choice flag takes
 * none|auto|required|NAME), and the grammar that enforces it together with the tools' argument
 * schemas: with tools, a gpt-oss reply is generated under gptc_grammar_harmony_tools, so a call
 * names a declared tool and its arguments parse and validate against that tool's "parameters"
 * (docs/harmony.md, "Constrained calls"). */
#ifndef GPTC_CLI_TOOLCHOICE_H
#define GPTC_CLI_TOOLCHOICE_H

#include <cJSON.h>
#include <stddef.h>

#include "cli/tooldefs.h"
#include "gptc.h"

typedef struct cli_tool_choice {
    gptc_tool_choice mode; /* AUTO unless given */
    int forced;            /* the named tool's index, or -1 */
} cli_tool_choice;

#define CLI_TOOL_CHOICE_AUTO ((cli_tool_choice){GPTC_TOOL_CHOICE_AUTO, -1})

/* From --tool-choice's value (NULL: auto). Returns 0, or -1 with a one-line reason in msg
 * ("--tool-choice: ..."). required or a NAME need tools; a NAME must be a declared tool. */
int cli_tool_choice_from_flag(const char *v, const tooldefs *t, cli_tool_choice *c, char *msg,
                              size_t n);
/* From OpenAI's "tool_choice" value (NULL: auto). Returns 0, or -1 with the reason in msg. */
int cli_tool_choice_from_json(const cJSON *j, const tooldefs *t, cli_tool_choice *c, char *msg,
                              size_t n);
/* The reply grammar for the tools and the choice, with the final channel under final_g (NULL:
 * free). *out is NULL (no constraint needed) when there are no tools and final_g is NULL. A
 * tool whose "parameters" the JSON Schema converter refuses gets any JSON object as arguments,
 * and warn (may be NULL) says so ("tool NAME: ...: its arguments are ..."; else empty). */
gptc_status cli_tools_grammar(const tooldefs *t, const cli_tool_choice *c,
                              const gptc_grammar *final_g, const gptc_tokenizer *tok,
                              gptc_grammar **out, char *warn, size_t wn, gptc_error *err);

#endif
