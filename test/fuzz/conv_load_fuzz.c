/* conv_load_fuzz.c — libFuzzer: random bytes as a chat /load file. conv_from_json either
 * refuses it (leaving the conversation as it was) or loads messages with roles user|assistant,
 * texts of valid UTF-8 (the tests' own validator) and a known reasoning effort; saving that
 * conversation and loading the save gives back the same conversation.
 *   make fuzz-conv_load SECONDS=600   (run from the repository root) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/conv.h"
#include "test/util/testutil.h"

static int text_ok(const char *s) {
    return s && tu_utf8_valid((const unsigned char *)s, strlen(s));
}

static int same(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    conv c;
    memset(&c, 0, sizeof c);
    snprintf(c.effort, sizeof c.effort, "medium");
    if (conv_add(&c, "user", "before")) abort();
    char msg[1024] = "";
    if (conv_from_json(&c, (const char *)data, size, msg, sizeof msg)) {
        /* refused: nothing changed */
        if (!msg[0] || !text_ok(msg) || c.n != 1 || strcmp(c.content[0], "before") || c.text ||
            strcmp(c.effort, "medium"))
            abort();
        conv_free(&c);
        return 0;
    }
    if (strcmp(c.effort, "low") && strcmp(c.effort, "medium") && strcmp(c.effort, "high")) abort();
    for (size_t i = 0; i < c.n; i++)
        if ((strcmp(c.role[i], "user") && strcmp(c.role[i], "assistant")) || !text_ok(c.content[i]))
            abort();
    if ((c.system && !text_ok(c.system)) || (c.text && !text_ok(c.text))) abort();
    /* round trip */
    char *s = conv_to_json(&c);
    if (!s) abort();
    conv d;
    memset(&d, 0, sizeof d);
    if (conv_from_json(&d, s, strlen(s), msg, sizeof msg)) abort();
    if (d.n != c.n || strcmp(d.effort, c.effort) || !same(d.system, c.system) ||
        !same(d.text, c.text))
        abort();
    for (size_t i = 0; i < c.n; i++)
        if (strcmp(d.role[i], c.role[i]) || strcmp(d.content[i], c.content[i])) abort();
    free(s);
    conv_free(&d);
    conv_free(&c);
    return 0;
}
