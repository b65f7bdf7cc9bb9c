/* jsontext.c — see jsontext.h. */
#include "cli/jsontext.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t cli_utf8_prefix(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n - i <= k) return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += k + 1;
    }
    return n;
}

char *cli_utf8_repair(const char *s) {
    const size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        size_t ok = cli_utf8_prefix(s + i, n - i);
        memcpy(o, s + i, ok);
        o += ok;
        i += ok;
        if (i < n) { /* one bad byte */
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *o = 0;
    return out;
}

size_t cli_json_nul_escape(const char *buf, size_t n) {
    for (const char *q = buf; q && (q = memmem(q, (size_t)(buf + n - q), "\\u0000", 6)); q += 6) {
        size_t bs = 0; /* an even run of backslashes before it: the escape is real */
        while (q - bs > buf && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
        if (bs % 2 == 0) return (size_t)(q - buf);
    }
    return (size_t)-1;
}

int cli_json_text_check(const char *s, const char *what, char *msg, size_t cap) {
    size_t n = strlen(s), ok = cli_utf8_prefix(s, n);
    if (ok == n) return 0;
    snprintf(msg, cap, "\"%s\" is not valid UTF-8 (byte offset %zu)", what, ok);
    return -1;
}
