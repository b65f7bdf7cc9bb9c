/* schema_fuzz.c — libFuzzer: random bytes -> gptc_json_schema_to_gbnf. Either one error line,
 * or GBNF text that the GBNF parser compiles (or refuses with one error line: a schema can be
 * left-recursive through $ref, e.g. {"$ref": "#"}).
 *   make fuzz-schema SECONDS=600   (run from the repository root) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *gbnf = NULL;
    gptc_error err = {0};
    gptc_status st = gptc_json_schema_to_gbnf((const char *)data, size, &gbnf, &err);
    if (st != GPTC_OK) {
        if (gbnf || !err.msg[0] || strchr(err.msg, '\n')) abort();
        return 0;
    }
    gptc_grammar *g = NULL;
    st = gptc_grammar_parse(gbnf, strlen(gbnf), &g, &err);
    if (st != GPTC_OK && (!strstr(err.msg, "left-recursive") || g)) {
        fprintf(stderr, "schema_fuzz: the converter wrote a grammar its parser refuses: %s\n%s\n",
                err.msg, gbnf);
        abort();
    }
    gptc_grammar_free(g);
    gptc_free(gbnf);
    return 0;
}
