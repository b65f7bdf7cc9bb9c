/* stopstr.c — see stopstr.h. */
#include "cli/stopstr.h"

#include <stdlib.h>
#include <string.h>

size_t cli_utf8_char(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    const unsigned c = s[0];
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (k >= n || s[1] < lo || s[1] > hi) return 0;
    for (size_t j = 2; j <= k; j++)
        if ((s[j] & 0xC0) != 0x80) return 0;
    return k + 1;
}

static int utf8_ok(const unsigned char *s, size_t n) {
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = cli_utf8_char(s + i, n - i))) return 0;
    return 1;
}

const char *cli_stop_check(const char *s, size_t len) {
    if (!s || len == 0) return "a stop string must not be empty";
    if (len > CLI_STOP_MAX_LEN) return "a stop string is longer than 1024 bytes";
    if (memchr(s, 0, len)) return "a stop string contains a NUL byte";
    if (!utf8_ok((const unsigned char *)s, len)) return "a stop string is not valid UTF-8";
    return NULL;
}

void cli_stop_free(cli_stop *st) {
    for (int i = 0; i < st->n; i++) free(st->s[i]);
    free(st->hold);
    memset(st, 0, sizeof *st);
}

int cli_stop_set(cli_stop *st, const char *const *strs, int n) {
    char *hold = st->hold;
    size_t cap = st->cap;
    for (int i = 0; i < st->n; i++) free(st->s[i]);
    memset(st, 0, sizeof *st);
    st->hold = hold;
    st->cap = cap;
    for (int i = 0; i < n && i < CLI_MAX_STOP; i++) {
        size_t l = strlen(strs[i]);
        if (!(st->s[i] = malloc(l + 1))) return -1;
        memcpy(st->s[i], strs[i], l + 1);
        st->len[i] = l;
        st->n = i + 1;
    }
    return 0;
}

void cli_stop_reset(cli_stop *st) {
    st->n_hold = 0;
    st->hit = 0;
}

/* The end of the stop string that ends first in h[0..n) (of two ending together, the one that
 * starts first), its start in *start; 0 when there is none. */
static size_t find_stop(const cli_stop *st, const char *h, size_t n, size_t *start) {
    size_t best_end = 0;
    for (int k = 0; k < st->n; k++) {
        const size_t l = st->len[k];
        for (size_t i = 0; i + l <= n; i++) {
            if (best_end && (i + l > best_end || (i + l == best_end && i >= *start))) break;
            if (h[i] == st->s[k][0] && !memcmp(h + i, st->s[k], l)) {
                best_end = i + l;
                *start = i;
                break;
            }
        }
    }
    return best_end;
}

/* length of the longest tail of h[0..n) that is a proper prefix of a stop string */
static size_t partial_tail(const cli_stop *st, const char *h, size_t n) {
    size_t best = 0;
    for (int k = 0; k < st->n; k++) {
        size_t m = st->len[k] - 1 < n ? st->len[k] - 1 : n;
        for (; m > best; m--)
            if (!memcmp(h + n - m, st->s[k], m)) {
                best = m;
                break;
            }
    }
    return best;
}

int cli_stop_push(cli_stop *st, const char *text, size_t len, cli_stop_emit_fn emit, void *user) {
    if (st->hit) return 1;
    if (!len) return 0;
    if (st->n == 0) {
        emit(user, text, len);
        return 0;
    }
    if (st->n_hold + len > st->cap) {
        size_t nc = st->cap ? st->cap : 256;
        while (nc < st->n_hold + len) nc *= 2;
        char *nh = realloc(st->hold, nc);
        if (!nh) { /* emit what we have unchecked rather than lose it */
            if (st->n_hold) emit(user, st->hold, st->n_hold);
            st->n_hold = 0;
            emit(user, text, len);
            return -1;
        }
        st->hold = nh;
        st->cap = nc;
    }
    memcpy(st->hold + st->n_hold, text, len);
    st->n_hold += len;
    /* a match must end in the new text: everything before it was checked already */
    size_t start = 0;
    if (find_stop(st, st->hold, st->n_hold, &start)) {
        if (start) emit(user, st->hold, start);
        st->n_hold = 0;
        st->hit = 1;
        return 1;
    }
    const size_t keep = partial_tail(st, st->hold, st->n_hold);
    const size_t out = st->n_hold - keep;
    if (out) {
        emit(user, st->hold, out);
        memmove(st->hold, st->hold + out, keep);
        st->n_hold = keep;
    }
    return 0;
}

void cli_stop_flush(cli_stop *st, cli_stop_emit_fn emit, void *user) {
    if (!st->hit && st->n_hold) emit(user, st->hold, st->n_hold);
    st->n_hold = 0;
}
