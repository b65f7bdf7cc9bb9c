/* test_tok_pretok.c — the GPT-2 and o200k pre-tokenizers (tokenizer/pretok.c) and the UCD 16.0
 * Unicode tables (tokenizer/unicode.c).
 *  - hand-worked splits (derived by reading the patterns; docs/tokenizer.md §3 examples);
 *  - categories over all code points against block hashes of UCD 16.0.0 (from the Unicode
 *    data by scripts/gen-unicode-tables.sh), White_Space, the unicode_version code points;
 *  - differential: the hand matchers against the backtracking reference engine
 *    (test/util/regex_ref.c) running the pattern strings, on seeded random strings from tricky
 *    pools and on every text of test/data/tokenizer/gpt2.jsonl. */
#include <check.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "test/util/regex_ref.h"
#include "test/util/testutil.h"
#include "tokenizer/pretok.h"
#include "tokenizer/unicode.h"

#include "test/data/pretok/ucd16_hash.inc"
#include "test/util/tucheck.h"

/* ---- helpers ---- */

/* Pieces of text by the hand matcher; returns count, ends in ends[] (cap). */
static size_t hand_split(gt_pretok_kind kind, const uint8_t *t, size_t len, size_t *ends,
                         size_t cap) {
    size_t n = 0, pos = 0;
    while (pos < len) {
        size_t e = gt_pretok_next(kind, t, len, pos);
        ck_assert_msg(e > pos && e <= len, "gt_pretok_next(%zu) = %zu (len %zu)", pos, e, len);
        if (n < cap) ends[n] = e;
        n++;
        pos = e;
    }
    return n;
}

static void fmt_pieces(char *out, size_t outlen, const uint8_t *t, const size_t *ends, size_t n) {
    size_t o = 0, prev = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && o + 8 < outlen; i++) {
        o += (size_t)snprintf(out + o, outlen - o, "[");
        for (size_t j = prev; j < ends[i] && o + 8 < outlen; j++) {
            if (t[j] >= 0x20 && t[j] < 0x7F)
                out[o++] = (char)t[j];
            else
                o += (size_t)snprintf(out + o, outlen - o, "\\x%02X", t[j]);
        }
        o += (size_t)snprintf(out + o, outlen - o, "]");
        prev = ends[i];
    }
}

/* Checks the hand split of text against the NULL-terminated list of expected pieces. */
static void check_split(gt_pretok_kind kind, const char *text, const char *const *expect) {
    const uint8_t *t = (const uint8_t *)text;
    size_t len = strlen(text), ends[256], want[256], nw = 0, off = 0;
    for (; expect[nw]; nw++) {
        off += strlen(expect[nw]);
        want[nw] = off;
    }
    ck_assert_msg(off == len, "bad test: pieces do not add up to the text");
    size_t n = hand_split(kind, t, len, ends, 256);
    int same = n == nw;
    for (size_t i = 0; same && i < n; i++) same = ends[i] == want[i];
    if (!same) {
        char got[2048], exp[2048];
        fmt_pieces(got, sizeof got, t, ends, n);
        fmt_pieces(exp, sizeof exp, t, want, nw);
        ck_abort_msg("%s split of \"%s\":\n got  %s\n want %s", kind ? "o200k" : "gpt2", text, got,
                     exp);
    }
}

#define G2(text, ...) check_split(GT_PRETOK_GPT2, text, (const char *const[]){__VA_ARGS__, NULL})
#define O2(text, ...) check_split(GT_PRETOK_O200K, text, (const char *const[]){__VA_ARGS__, NULL})

/* ---- hand-worked examples ---- */

START_TEST(test_patterns) {
    ck_assert_str_eq(
        gt_pretok_pattern(GT_PRETOK_GPT2),
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|"
        "\\s+");
    ck_assert_str_eq(
        gt_pretok_pattern(GT_PRETOK_O200K),
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
        "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
}
END_TEST

START_TEST(test_gpt2_examples) {
    /* docs/tokenizer.md §3 table */
    G2("HTTPSession camelCase don't 12345", "HTTPSession", " camelCase", " don", "'t", " 12345");
    G2("a  b", "a", " ", " b");
    G2("Hello world!!\n\n  x", "Hello", " world", "!!", "\n\n ", " x");
    G2("a\xC3\x89"
       "b",
       "a\xC3\x89"
       "b");
    G2("I'LL", "I", "'", "LL");
    /* contractions: case-sensitive, anywhere, before words */
    G2("'sound", "'s", "ound");
    G2("he's we're I've I'm we'll I'd", "he", "'s", " we", "'re", " I", "'ve", " I", "'m", " we",
       "'ll", " I", "'d");
    G2("'S 'T", "'", "S", " '", "T");
    G2("it'\xC5\xBF", "it", "'", "\xC5\xBF"); /* 'ſ is no GPT-2 contraction */
    G2(" 's", " '", "s");
    G2("''s", "''", "s");
    /* whitespace */
    G2("x   ", "x", "   ");
    G2("   x", "  ", " x");
    G2(" ", " ");
    G2("\n", "\n");
    G2("\n\n ", "\n\n ");
    G2("\xC2\xA0x", "\xC2\xA0", "x"); /* NBSP is \s, but not " ?" */
    G2("a\xC2\x85"
       "b",
       "a", "\xC2\x85", "b"); /* U+0085 is \s */
    G2("a\xEF\xBB\xBF"
       "b",
       "a", "\xEF\xBB\xBF", "b"); /* U+FEFF is not \s: punctuation run */
    G2("a\xE2\x80\xA8"
       "b",
       "a", "\xE2\x80\xA8", "b"); /* U+2028 */
    G2("a\x1C"
       "b",
       "a", "\x1C", "b"); /* U+001C is not \s */
    G2("\t\tx", "\t", "\t", "x");
    G2("  \xCC\x81", " ", " \xCC\x81"); /* a mark is not \p{L}: punctuation class */
    /* numbers: not grouped; non-ASCII digits */
    G2("12345 6", "12345", " 6");
    G2("\xD9\xA1\xD9\xA2\xD9\xA3x", "\xD9\xA1\xD9\xA2\xD9\xA3", "x");
    G2("\xE4\xBD\xA0\xE5\xA5\xBD \xE4\xB8\x96", "\xE4\xBD\xA0\xE5\xA5\xBD", " \xE4\xB8\x96");
    G2("!!!\r\n", "!!!", "\r\n");
}
END_TEST

START_TEST(test_o200k_examples) {
    /* docs/tokenizer.md §3 table */
    O2("HTTPSession camelCase don't 12345", "HTTPSession", " camel", "Case", " don't", " ", "123",
       "45");
    O2("a  b", "a", " ", " b");
    O2("Hello world!!\n\n  x", "Hello", " world", "!!\n\n", " ", " x");
    O2("a\xC3\x89"
       "b",
       "a",
       "\xC3\x89"
       "b");
    O2("I'LL", "I'LL");
    /* digits in threes from the left */
    O2("1234567", "123", "456", "7");
    O2("\xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4", "\xD9\xA1\xD9\xA2\xD9\xA3", "\xD9\xA4");
    /* contractions: suffix of the word, case-insensitive, 'ſ (U+017F) folds to 's */
    O2("don'T DON'T we're we'RE", "don'T", " DON'T", " we're", " we'RE");
    O2("it'\xC5\xBF", "it'\xC5\xBF");
    O2("x'sy", "x's", "y");
    O2("'s", "'s"); /* prefix "'" + word "s" */
    /* only ASCII upper case and U+017F fold onto s,t,r,v,e,m,l,d (UCD 16.0 CaseFolding C+S):
     * K (U+212A Kelvin) folds to k, ß and ﬆ only by multi-character folding */
    O2("it'\xE2\x84\xAA", "it", "'\xE2\x84\xAA");
    O2("it'\xC3\x9F", "it", "'\xC3\x9F");
    O2("it'\xEF\xAC\x86", "it", "'\xEF\xAC\x86");
    O2("it\xE2\x80\x99s", "it", "\xE2\x80\x99s"); /* U+2019 is no apostrophe for the regex */
    /* upper/lower runs, Lt only upper-ish, Lm/Lo/M both */
    O2("a\xC7\x85"
       "b",
       "a",
       "\xC7\x85"
       "b");                              /* ǅ (Lt) */
    O2("A\xCA\xB0 x", "A\xCA\xB0", " x"); /* Aʰ: ʰ (Lm) ends the word */
    O2("\xCA\xB0"
       "A",
       "\xCA\xB0", "A"); /* ʰA: W+ backs off to ʰ */
    O2("\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96", "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96");
    O2("\xE4\xBD\xA0\xE5\xA5\xBD \xE4\xB8\x96", "\xE4\xBD\xA0\xE5\xA5\xBD", " \xE4\xB8\x96");
    O2("ABC\xE3\x81\x82"
       "D",
       "ABC\xE3\x81\x82", "D"); /* ABCあD */
    /* combining marks */
    O2("e\xCC\x81t\xC3\xA9", "e\xCC\x81t\xC3\xA9");
    O2("\xCC\x81 x", "\xCC\x81", " x"); /* lone mark: alternative 1 without prefix */
    O2("\xCC\x81"
       "A",
       "\xCC\x81", "A"); /* mark then Lu */
    O2(" \xCC\x81"
       "A",
       " \xCC\x81", "A");
    O2("1\xCC\x81", "1", "\xCC\x81");
    O2("\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87",
       "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87"); /* नमस्ते */
    /* prefix: one non-CR/LF, non-letter, non-digit code point, whitespace included */
    O2("a\xC2\x85"
       "b",
       "a",
       "\xC2\x85"
       "b"); /* U+0085 */
    O2("a\xE3\x80\x80"
       "b",
       "a",
       "\xE3\x80\x80"
       "b"); /* U+3000 */
    O2("\tx", "\tx");
    O2("\nx", "\n", "x");
    O2("$x", "$x");
    O2("$$x", "$$", "x"); /* no letter right after the first "$": punctuation run */
    /* punctuation with trailing CR/LF and '/' */
    O2("!!!\r\n", "!!!\r\n");
    O2(" //\n/x", " //\n/", "x");
    O2(" !", " !");
    /* whitespace */
    O2("a \n b", "a", " \n", " b");
    O2("x\t\n\n  \ny", "x", "\t\n\n  \n", "y");
    O2("\n\n ", "\n\n", " ");
    O2("\r\n\r\n", "\r\n\r\n");
    O2("x  ", "x", "  ");
    O2("x  y", "x", " ", " y");
    O2("\t\t!", "\t", "\t", "!"); /* " ?" before punctuation is U+0020 only */
    O2("  !", " ", " !");
    O2("\xC2\xA0\xC2\xA0"
       "1",
       "\xC2\xA0", "\xC2\xA0", "1");
}
END_TEST

START_TEST(test_segment_end) {
    /* the end of the text given is end of text for (?!\S): "x  " + "<|endoftext|>" */
    const uint8_t *t = (const uint8_t *)"x  <|endoftext|>";
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_GPT2, t, 3, 1), 3);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_GPT2, t, 16, 1), 2);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, 3, 1), 3);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, 16, 1), 2);
    /* a contraction cut by the segment end */
    t = (const uint8_t *)"a're";
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_GPT2, t, 3, 1), 2);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, 3, 0), 1);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, 4, 0), 4);
    /* pos at or past the end */
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, 4, 4), 4);
}
END_TEST

START_TEST(test_invalid_utf8_progress) {
    /* not valid input, but the matcher must still advance and stay in bounds */
    static const char *const bad[] = {"\xFF",          "a\xC3",      "\xE2\x82",
                                      "\xED\xA0\x80x", "'\xC5",      " \xF4\x90\x80\x80",
                                      "\xC0\xAF/",     "x\x80\x80 y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int k = 0; k < 2; k++) {
            size_t ends[64];
            hand_split((gt_pretok_kind)k, (const uint8_t *)bad[i], strlen(bad[i]), ends, 64);
        }
}
END_TEST

/* ---- Unicode tables ---- */

START_TEST(test_ucd16_all_code_points) {
    /* utf8proc's version and the one the delta table was generated against: different ones
     * are tolerated as long as the results below still equal UCD 16.0.0 */
    if (strcmp(gt_uc_base_version(), gt_uc_table_base_version()) != 0)
        fprintf(stderr, "note: utf8proc has Unicode %s, unicode16_table.inc was made for %s\n",
                gt_uc_base_version(), gt_uc_table_base_version());
    ck_assert_str_eq(gt_uc_version(), "16.0.0");
    int bad_blocks = 0;
    for (uint32_t b = 0; b < 0x1100; b++) {
        uint32_t h = 0x811c9dc5u;
        for (uint32_t i = 0; i < 256; i++)
            h = (h ^ (uint32_t)gt_uc_category(b << 8 | i)) * 0x01000193u;
        if (h != ucd16_block_hash[b]) {
            if (bad_blocks++ < 10)
                fprintf(stderr, "block U+%04X..U+%04X differs from UCD 16.0.0\n", b << 8,
                        b << 8 | 0xFF);
        }
    }
    ck_assert_int_eq(bad_blocks, 0);
}
END_TEST

START_TEST(test_white_space_and_classes) {
    static const uint32_t ws[] = {0x9,    0xA,    0xB,    0xC,    0xD,    0x20,   0x85,
                                  0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
                                  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028,
                                  0x2029, 0x202F, 0x205F, 0x3000};
    size_t k = 0, nws = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        int want = k < sizeof ws / sizeof ws[0] && ws[k] == cp;
        if (want) k++;
        ck_assert_msg(gt_uc_is_space(cp) == want, "White_Space U+%04X", cp);
        nws += (size_t)want;
        /* class bits agree with the categories */
        int c = gt_uc_category(cp);
        unsigned cl = gt_uc_class(cp);
        int L = c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
        int M = c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME;
        int N = c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
        int up = c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT ||
                 c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_LO || M;
        int lo = c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LM ||
                 c == UTF8PROC_CATEGORY_LO || M;
        unsigned want_cl = (L ? GT_UC_L : 0) | (N ? GT_UC_N : 0) | (want ? GT_UC_S : 0) |
                           (M ? GT_UC_M : 0) | (up ? GT_UC_UPPER : 0) | (lo ? GT_UC_LOWER : 0) |
                           (cp == '\r' || cp == '\n' ? GT_UC_CRLF : 0);
        ck_assert_msg(cl == want_cl, "class of U+%04X: %#x, want %#x", cp, cl, want_cl);
    }
    ck_assert_uint_eq(nws, 25);
}
END_TEST

/* The code points of the "unicode_version" test cases, with their UCD 16.0.0 categories (read
 * from the 16.0.0 UnicodeData: Garay, Kirat Rai and outlined digits are new Nd in 16.0,
 * U+1C89/U+1C8A new Lu/Ll, U+2EBF0 (CJK Ext. I, 15.1) Lo, U+0295 still Ll (Lo in 17.0), and
 * U+088F, U+11DE0.. unassigned until 17.0). */
START_TEST(test_unicode_version_code_points) {
    static const struct {
        uint32_t cp;
        int cat;
    } T[] = {
        {0x1CCF1, UTF8PROC_CATEGORY_ND}, {0x10D40, UTF8PROC_CATEGORY_ND},
        {0x16D70, UTF8PROC_CATEGORY_ND}, {0x11DE1, UTF8PROC_CATEGORY_CN},
        {0x11DE2, UTF8PROC_CATEGORY_CN}, {0x1C89, UTF8PROC_CATEGORY_LU},
        {0x1C8A, UTF8PROC_CATEGORY_LL},  {0x0295, UTF8PROC_CATEGORY_LL},
        {0x088F, UTF8PROC_CATEGORY_CN},  {0x2EBF0, UTF8PROC_CATEGORY_LO},
        {0x1171E, UTF8PROC_CATEGORY_MC}, /* the one 15.0 -> 16.0 change of an assigned one */
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        ck_assert_msg(gt_uc_category(T[i].cp) == T[i].cat, "U+%04X: %d, want %d", T[i].cp,
                      gt_uc_category(T[i].cp), T[i].cat);
    /* and the splits they lead to (o200k chunking of digits shifts with them) */
    O2("\xF0\x9C\xB3\xB1"
       "1234",
       "\xF0\x9C\xB3\xB1"
       "12",
       "34");
    O2("\xF0\x90\xB5\x80"
       "12345",
       "\xF0\x90\xB5\x80"
       "12",
       "345");
    O2("x \xF0\x91\xB7\xA1\xF0\x91\xB7\xA2"
       "56789",
       "x", " \xF0\x91\xB7\xA1\xF0\x91\xB7\xA2", "567", "89");
    O2("X\xE1\xB2\x89yz \xE1\xB2\x89\xE1\xB2\x8A \xCA\x95"
       "Ab a\xE0\xA2\x8F"
       "b \xF0\xAE\xAF\xB0",
       "X\xE1\xB2\x89yz", " \xE1\xB2\x89\xE1\xB2\x8A", " \xCA\x95", "Ab", " a",
       "\xE0\xA2\x8F"
       "b",
       " \xF0\xAE\xAF\xB0");
    G2("\xF0\x9C\xB3\xB1"
       "1234",
       "\xF0\x9C\xB3\xB1"
       "1234");
}
END_TEST

/* ---- differential: hand matcher == reference engine ---- */

static rr_regex *ref_compile(gt_pretok_kind kind) {
    char err[128];
    rr_regex *re = rr_compile(gt_pretok_pattern(kind), err, sizeof err);
    ck_assert_msg(re != NULL, "reference cannot compile: %s", err);
    return re;
}

static size_t *g_hand, *g_ref;
static size_t g_cap;

/* 1 if the two splits of t agree (prints the first difference otherwise). */
static int same_split(gt_pretok_kind kind, const rr_regex *re, const uint8_t *t, size_t len,
                      const char *what) {
    if (len + 1 > g_cap) {
        g_cap = len + 1;
        g_hand = realloc(g_hand, g_cap * sizeof *g_hand);
        g_ref = realloc(g_ref, g_cap * sizeof *g_ref);
        ck_assert(g_hand && g_ref);
    }
    size_t nh = hand_split(kind, t, len, g_hand, g_cap);
    long nr = rr_split(re, t, len, g_ref, g_cap);
    int ok = nr >= 0 && (size_t)nr == nh && memcmp(g_hand, g_ref, nh * sizeof *g_hand) == 0;
    if (!ok) {
        char a[4096], b[4096];
        fmt_pieces(a, sizeof a, t, g_hand, nh);
        fmt_pieces(b, sizeof b, t, g_ref, nr < 0 ? 0 : (size_t)nr);
        fprintf(stderr, "%s (%s): hand != reference\n hand %s\n ref  %s\n", what,
                kind ? "o200k" : "gpt2", a, b);
    }
    return ok;
}

static const char *const POOL[] = {
    /* whitespace of every kind, and non-whitespace look-alikes */
    " ",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\v",
    "\f",
    "\xC2\x85",
    "\xC2\xA0",
    "\xE1\x9A\x80",
    "\xE2\x80\x80",
    "\xE2\x80\x8A",
    "\xE2\x80\xA8",
    "\xE2\x80\xA9",
    "\xE2\x80\xAF",
    "\xE2\x81\x9F",
    "\xE3\x80\x80",
    "\xEF\xBB\xBF",
    "\xE2\x80\x8B",
    "\xE1\xA0\x8E",
    "\x1C",
    "\x1F",
    "\x00",
    /* apostrophes and contraction letters in any case, ſ, K (Kelvin), ß */
    "'",
    "'",
    "'",
    "'",
    "\xE2\x80\x99",
    "s",
    "t",
    "r",
    "e",
    "v",
    "m",
    "l",
    "d",
    "S",
    "T",
    "R",
    "E",
    "V",
    "M",
    "L",
    "D",
    "\xC5\xBF",
    "\xE2\x84\xAA",
    "\xC3\x9F",
    "k",
    "re",
    "RE",
    "ll",
    "LL",
    "lL",
    "ve",
    "vE",
    /* Lu / Ll / Lt / Lm / Lo from several scripts */
    "A",
    "Z",
    "a",
    "z",
    "\xC3\x89",
    "\xC3\xA9",
    "\xCE\xA3",
    "\xCF\x82",
    "\xD0\x96",
    "\xD0\xB6",
    "\xC7\x85",
    "\xC7\x88",
    "\xC7\x8B",
    "\xE1\xBE\x88",
    "\xCA\xB0",
    "\xCB\x88",
    "\xE3\x83\xBC",
    "\xE3\x80\x85",
    "\xE1\xB5\x83",
    "\xE4\xBD\xA0",
    "\xE3\x81\x82",
    "\xED\x95\x9C",
    "\xD8\xA7",
    "\xD7\x90",
    "\xE0\xA4\x95",
    "\xE0\xB8\x81",
    "\xF0\x9D\x90\x80",
    "\xF0\x9D\x90\x9A",
    "\xF0\xA0\x80\x80",
    "\xE1\xB2\x89",
    "\xE1\xB2\x8A",
    "\xCA\x95",
    /* marks */
    "\xCC\x81",
    "\xCC\x88",
    "\xE0\xA5\x8D",
    "\xE0\xA4\xBE",
    "\xE0\xB8\xB4",
    "\xD9\x8E",
    "\xE2\x83\x9D",
    "\xEF\xB8\x8F",
    /* numbers: ASCII, Arabic-Indic, Devanagari, Nl/No, 16.0 digits */
    "0",
    "1",
    "7",
    "9",
    "12",
    "\xD9\xA3",
    "\xE0\xA5\xA8",
    "\xE2\x85\xA0",
    "\xC2\xB2",
    "\xE2\x91\xA0",
    "\xC2\xBD",
    "\xF0\x9C\xB3\xB1",
    "\xF0\x90\xB5\x80",
    /* punctuation, symbols, '/', emoji, controls, unassigned */
    "/",
    "/",
    ".",
    ",",
    "!",
    "?",
    "-",
    "_",
    "\"",
    "(",
    ")",
    "<|",
    "|>",
    "$",
    "#",
    "@",
    "\xE2\x80\x94",
    "\xE3\x80\x82",
    "\xEF\xBC\x81",
    "\xF0\x9F\x98\x80",
    "\xF0\x9F\x91\x8D",
    "\xF0\x9F\x8F\xBD",
    "\xE2\x80\x8D",
    "\xF0\x9F\x87\xBA",
    "\xC2\x80",
    "\x7F",
    "\xE0\xA2\x8F",
    "\xF0\x91\xB7\xA1",
    "\xF4\x8F\xBF\xBF",
    "\xEE\x80\x80",
};
#define NPOOL (sizeof POOL / sizeof POOL[0])

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

START_TEST(test_differential_random) {
    rr_regex *re[2] = {ref_compile(GT_PRETOK_GPT2), ref_compile(GT_PRETOK_O200K)};
    uint64_t seed = 20261127;
    int mismatches = 0, cases = 0;
    uint8_t buf[512];
    for (int it = 0; it < 6000; it++) {
        /* mostly small sub-pools (word-like runs), sometimes everything mixed */
        size_t natoms = 1 + rng_next(&seed) % 24, len = 0;
        size_t sub = rng_next(&seed) % 4 ? 6 : NPOOL, base = rng_next(&seed) % NPOOL;
        size_t pick[6];
        for (int i = 0; i < 6; i++) pick[i] = rng_next(&seed) % NPOOL;
        pick[0] = base;
        for (size_t a = 0; a < natoms; a++) {
            size_t idx = sub == NPOOL ? rng_next(&seed) % NPOOL : pick[rng_next(&seed) % 6];
            const char *s = POOL[idx];
            size_t l = idx < NPOOL && s[0] == 0 ? 1 : strlen(s); /* "\x00" is one NUL byte */
            if (len + l > sizeof buf) break;
            memcpy(buf + len, s, l);
            len += l;
        }
        for (int k = 0; k < 2; k++) {
            cases++;
            if (!same_split((gt_pretok_kind)k, re[k], buf, len, "random") && ++mismatches > 5)
                break;
        }
    }
    rr_free(re[0]);
    rr_free(re[1]);
    fprintf(stderr, "differential random: %d splits compared, %d mismatches\n", cases, mismatches);
    ck_assert_int_eq(mismatches, 0);
}
END_TEST

/* The value of "text" in a JSON line, decoded (escapes \n \t \r \b \f \" \\ \/ \uXXXX; the
 * data has no surrogate escapes). malloc'd; NULL on a format error. */
static char *json_text(const char *line, size_t *len) {
    const char *p = strstr(line, "\"text\":\"");
    if (!p) return NULL;
    p += 8;
    char *out = malloc(strlen(p) + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') {
            out[o++] = *p;
            continue;
        }
        p++;
        uint32_t c;
        switch (*p) {
        case 'n':
            c = '\n';
            break;
        case 't':
            c = '\t';
            break;
        case 'r':
            c = '\r';
            break;
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case '"':
        case '\\':
        case '/':
            c = (uint8_t)*p;
            break;
        case 'u': {
            char hex[5] = {0};
            memcpy(hex, p + 1, 4);
            c = (uint32_t)strtoul(hex, NULL, 16);
            p += 4;
            break;
        }
        default:
            free(out);
            return NULL;
        }
        o += (size_t)utf8proc_encode_char((utf8proc_int32_t)c, (utf8proc_uint8_t *)out + o);
    }
    if (*p != '"') {
        free(out);
        return NULL;
    }
    *len = o;
    out[o] = 0;
    return out;
}

START_TEST(test_differential_jsonl) {
    size_t len;
    char *data = tu_read_file("test/data/tokenizer/gpt2.jsonl", &len);
    ck_assert_msg(data != NULL, "cannot read test/data/tokenizer/gpt2.jsonl");
    rr_regex *re[2] = {ref_compile(GT_PRETOK_GPT2), ref_compile(GT_PRETOK_O200K)};
    int texts = 0, mismatches = 0;
    for (char *line = data, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        ck_assert(nl != NULL);
        *nl = 0;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(nl - line));
        ck_assert(j != NULL);
        cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "text");
        cJSON *jid = cJSON_GetObjectItemCaseSensitive(j, "id");
        ck_assert(cJSON_IsString(jt) && cJSON_IsString(jid));
        /* cJSON strings stop at U+0000: decode the "text" value ourselves */
        size_t sl;
        char *s = json_text(line, &sl);
        ck_assert_msg(s != NULL, "%s: cannot decode text", jid->valuestring);
        ck_assert(sl >= strlen(jt->valuestring));
        ck_assert(memcmp(s, jt->valuestring, strlen(jt->valuestring)) == 0);
        texts++;
        for (int k = 0; k < 2; k++)
            if (!same_split((gt_pretok_kind)k, re[k], (const uint8_t *)s, sl, jid->valuestring))
                mismatches++;
        cJSON_Delete(j);
        free(s);
    }
    free(data);
    rr_free(re[0]);
    rr_free(re[1]);
    fprintf(stderr, "differential jsonl: %d texts x 2 patterns, %d mismatches\n", texts,
            mismatches);
    ck_assert_int_eq(texts, 372);
    ck_assert_int_eq(mismatches, 0);
}
END_TEST

START_TEST(test_long_runs) {
    /* 100k-code-point runs split as the rules say (and finish: the matcher is linear) */
    size_t n = 100000;
    uint8_t *t = malloc(2 * n + 2);
    ck_assert(t != NULL);
    memset(t, ' ', n);
    t[n] = 'x';
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_GPT2, t, n + 1, 0), n - 1);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_GPT2, t, n + 1, n - 1), n + 1);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, n + 1, 0), n - 1);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, n + 1, n - 1), n + 1);
    memset(t, 'A', n);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, n, 0), n);
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_GPT2, t, n, 0), n);
    memset(t, '7', n);
    size_t pos = 0, pieces = 0;
    while (pos < n) pos = gt_pretok_next(GT_PRETOK_O200K, t, n, pos), pieces++;
    ck_assert_uint_eq(pieces, (n + 2) / 3);
    for (size_t i = 0; i < n; i++) t[2 * i] = 0xCA, t[2 * i + 1] = 0xB0; /* ʰ (Lm) */
    ck_assert_uint_eq(gt_pretok_next(GT_PRETOK_O200K, t, 2 * n, 0), 2 * n);
    free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tok_pretok");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_patterns);
    tcase_add_test(tc, test_gpt2_examples);
    tcase_add_test(tc, test_o200k_examples);
    tcase_add_test(tc, test_segment_end);
    tcase_add_test(tc, test_invalid_utf8_progress);
    tcase_add_test(tc, test_ucd16_all_code_points);
    tcase_add_test(tc, test_white_space_and_classes);
    tcase_add_test(tc, test_unicode_version_code_points);
    tcase_add_test(tc, test_differential_random);
    tcase_add_test(tc, test_differential_jsonl);
    tcase_add_test(tc, test_long_runs);
    suite_add_tcase(s, tc);
    int nf = tu_suite_failures(s, 0);
    free(g_hand);
    free(g_ref);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
