/* constrain.h — output constraints of the generation commands: --grammar, --grammar-file,
 * --json-schema, --json-schema-file, --json-object, a batch line's response_format and chat's
 * /format. A cli_constraint is the compiled grammar plus, for a JSON Schema, the "# Response
 * Formats" section that harmony puts at the end of the developer message (gpt-oss sees the
 * schema; the grammar enforces it on the final channel: cli_gen_constrain). */
#ifndef GPTC_CLI_CONSTRAIN_H
#define GPTC_CLI_CONSTRAIN_H

#include <cJSON.h>
#include <stddef.h>

#include "cli/args.h"

typedef struct cli_constraint {
    gptc_grammar *g; /* NULL: unconstrained */
    char *rf_text;   /* "# Response Formats\n\n## name\n\n// description\n{schema}" or NULL */
} cli_constraint;

/* From the command line (at most one of the five flags). Returns 0, or EXIT_USAGE after one
 * "gptc: error: FLAG: ..." line. */
int cli_constraint_from_opts(const cli_opts *o, cli_constraint *c);
/* From OpenAI's response_format object: {"type":"text"}, {"type":"json_object"} or
 * {"type":"json_schema","json_schema":{"name","description","schema","strict"}}. Returns 0, or
 * -1 with a one-line message in msg. */
int cli_constraint_from_response_format(const cJSON *rf, cli_constraint *c, char *msg, size_t n);
/* From JSON Schema text; name/description for the developer message (NULL: the schema's title
 * or "response"). Returns the status; err has the message. */
gptc_status cli_constraint_from_schema(const char *json, size_t len, const char *name,
                                       const char *description, cli_constraint *c, gptc_error *err);
void cli_constraint_free(cli_constraint *c);

#endif
