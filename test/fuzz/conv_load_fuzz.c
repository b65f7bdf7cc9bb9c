/* conv_load_fuzz.c — libFuzzer: random bytes as a chat /load (or --messages) file, through the
 * parsers /load uses: jval_parse, then tooldefs_from for "tools" and msglist_from_jval for the
 * messages (an array, or an object's "messages"). Either they refuse it with a reason of valid
 * UTF-8, or every message they accept has a known role and content of valid UTF-8
 * without NUL.
 *   make fuzz-conv_load SECONDS=600   (run from the repository root) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jval.h"
#include "cli/messages.h"
#include "cli/tooldefs.h"
#include "test/util/testutil.h"

/* The file-reading wrappers of messages.c / tooldefs.c are not fuzzed: stubs, so the parsers
 * link alone. */
void cli_error(const char *fmt, ...) {
    (void)fmt;
}
char *cli_slurp_file(const char *path, size_t *len) {
    (void)path;
    (void)len;
    return NULL;
}

static int text_ok(const char *s) {
    return !s || tu_utf8_valid((const unsigned char *)s, strlen(s));
}

/* a reason is printed through cli_error, which writes control characters as escapes */
static void reason_ok(const char *why) {
    if (!why[0] || !text_ok(why)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char why[256] = "";
    jval *root = jval_parse((const char *)data, size, why, sizeof why);
    if (!root) {
        reason_ok(why);
        return 0;
    }
    const jval *msgs = root;
    if (root->type == JV_OBJ) {
        msgs = jval_get(root, "messages");
        const jval *t = jval_get(root, "tools");
        tooldefs td;
        memset(&td, 0, sizeof td);
        why[0] = 0;
        if (t && t->type != JV_NULL && tooldefs_from(t, &td, why, sizeof why)) reason_ok(why);
        tooldefs_free(&td);
    }
    if (msgs && msgs->type == JV_ARR) {
        msglist l;
        memset(&l, 0, sizeof l);
        why[0] = 0;
        if (msglist_from_jval(&l, msgs, why, sizeof why)) {
            reason_ok(why);
        } else {
            for (size_t i = 0; i < l.n; i++) {
                const harmony_msg *m = &l.m[i];
                if (!m->role || !text_ok(m->content)) abort();
            }
        }
        msglist_free(&l);
    }
    jval_free(root);
    return 0;
}
