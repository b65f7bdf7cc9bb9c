/* tok_pretok_fuzz.c — libFuzzer: the hand-written pre-tokenizers (tokenizer/pretok.c) against
 * the backtracking reference engine (test/util/regex_ref.c, compiled in here) running the two
 * pattern strings. Any input: pieces must advance and stay in bounds; valid UTF-8: both
 * patterns must split exactly like the reference, else abort. Every input is also mapped byte
 * by byte onto a table of 256 tricky code points (whitespace kinds, apostrophes, contraction
 * letters, Lu/Ll/Lt/Lm/Lo/M/N of several scripts, CR/LF, '/', punctuation, emoji) and that
 * text is checked the same way, so most executions compare something interesting.
 * Run: make fuzz-tok_pretok SECONDS=600 */
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

#include "test/util/regex_ref.h"
#include "tokenizer/pretok.h"

static int valid_utf8(const uint8_t *d, size_t n) {
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(d + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

static void dump(const char *what, const uint8_t *d, size_t n, const size_t *ends, size_t ne) {
    fprintf(stderr, "%s:", what);
    size_t prev = 0;
    for (size_t i = 0; i < ne; i++) {
        fputs(" [", stderr);
        for (size_t j = prev; j < ends[i]; j++) fprintf(stderr, "%02X", d[j]);
        fputc(']', stderr);
        prev = ends[i];
    }
    fprintf(stderr, " (%zu bytes)\n", n);
}

static const uint32_t TRICKY[] = {
    ' ',     ' ',      ' ',     ' ',     '\t',    '\n',    '\n',    '\r',    0x0B,   0x0C,   0x85,
    0xA0,    0x1680,   0x2000,  0x200A,  0x2028,  0x2029,  0x202F,  0x205F,  0x3000, 0xFEFF, 0x200B,
    0x180E,  0x1C,     0x1F,    0x00,    0x200D,  0x200C,  '\'',    '\'',    '\'',   '\'',   0x2019,
    's',     't',      'r',     'e',     'v',     'm',     'l',     'd',     'S',    'T',    'R',
    'E',     'V',      'M',     'L',     'D',     0x17F,   0x212A,  0xDF,    0x1E9E, 0xFB06, 'k',
    'a',     'z',      'A',     'Z',     'x',     0xC9,    0xE9,    0x3A3,   0x3C2,  0x416,  0x436,
    0x1C5,   0x1C8,    0x1CB,   0x1F88,  0x2B0,   0x2C8,   0x30FC,  0x3005,  0x1D43, 0x4F60, 0x3042,
    0xD55C,  0x627,    0x5D0,   0x915,   0xE01,   0x1D400, 0x1D41A, 0x20000, 0x1C89, 0x1C8A, 0x295,
    0x2EBF0, 0x10D50,  0x10D70, 0x301,   0x308,   0x94D,   0x93E,   0xE34,   0x64E,  0x20DD, 0xFE0F,
    0x1171E, 0x10D69,  '0',     '1',     '5',     '9',     0x663,   0x968,   0x2160, 0xB2,   0x2460,
    0xBD,    0x1CCF1,  0x10D40, 0x16D70, 0x11DE1, '/',     '/',     '/',     '.',    ',',    '!',
    '?',     '-',      '_',     '"',     '(',     ')',     '<',     '|',     '>',    '$',    '#',
    '@',     0x2014,   0x3002,  0xFF01,  0x1F600, 0x1F44D, 0x1F3FD, 0x1F1FA, 0x80,   0x7F,   0x88F,
    0xFFFD,  0x10FFFF, 0xE000,  0xFFFF,
};
#define NTRICKY (sizeof TRICKY / sizeof TRICKY[0])

static void check(const uint8_t *data, size_t size, int valid);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t mapped[4 * 2048];
    if (size > 8000) size = 8000;
    check(data, size, valid_utf8(data, size));
    size_t m = 0;
    for (size_t i = 0; i < size && i < 2048; i++)
        m += (size_t)utf8proc_encode_char((utf8proc_int32_t)TRICKY[data[i] % NTRICKY], mapped + m);
    check(mapped, m, 1);
    return 0;
}

static void check(const uint8_t *data, size_t size, int valid) {
    static rr_regex *re[2];
    static size_t hand[8192], ref[8192];
    if (!re[0]) {
        char err[128];
        for (int k = 0; k < 2; k++)
            if (!(re[k] = rr_compile(gt_pretok_pattern((gt_pretok_kind)k), err, sizeof err))) {
                fprintf(stderr, "reference: %s\n", err);
                abort();
            }
    }
    for (int k = 0; k < 2; k++) {
        size_t nh = 0, pos = 0;
        while (pos < size) {
            size_t e = gt_pretok_next((gt_pretok_kind)k, data, size, pos);
            if (e <= pos || e > size) {
                fprintf(stderr, "pattern %d: next(%zu) = %zu, len %zu\n", k, pos, e, size);
                abort();
            }
            hand[nh++] = e;
            pos = e;
        }
        if (!valid) continue;
        long nr = rr_split(re[k], data, size, ref, 8192);
        int same = nr >= 0 && (size_t)nr == nh;
        for (size_t i = 0; same && i < nh; i++) same = hand[i] == ref[i];
        if (!same) {
            fprintf(stderr, "MISMATCH, pattern %s\n", k ? "o200k" : "gpt2");
            dump("hand", data, size, hand, nh);
            dump("ref ", data, size, ref, nr < 0 ? 0 : (size_t)nr);
            abort();
        }
    }
}
