/* scripted.c — see scripted.h. */
#include "cli/scripted.h"

#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

static char *g_script; /* the file, read once */
static size_t g_pos;   /* next line */
static int g_loaded;

int cli_scripted_next(const gptc_tokenizer *tok, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (!g_loaded) {
        g_loaded = 1;
        const char *path = getenv("GPTC_TEST_SCRIPT");
        if (path && *path) g_script = cli_slurp_file(path, NULL);
    }
    if (!g_script || !g_script[g_pos]) return 0;
    char *line = g_script + g_pos;
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    g_pos += len + (nl ? 1 : 0);
    int32_t *t = NULL;
    size_t nt = 0;
    gptc_error err = {0};
    if (gptc_tokenize(tok, line, len, GPTC_TOKENIZE_SPECIAL, &t, &nt, &err) != GPTC_OK) return 0;
    *ids = malloc((nt ? nt : 1) * sizeof **ids);
    if (!*ids) {
        gptc_free(t);
        return 0;
    }
    if (nt) memcpy(*ids, t, nt * sizeof *t);
    gptc_free(t);
    *n = nt;
    return 1;
}
