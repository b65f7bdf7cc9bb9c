/* unicode.h — the Unicode facts the pre-tokenizer regexes need, at UCD 16.0.0 exactly:
 * General_Category (utf8proc + generated 16.0 delta table), White_Space, and the per-code-point
 * class bits the GPT-2 / o200k patterns test. See tokenizer/unicode16_table.inc and
 * scripts/gen-unicode-tables.sh. */
#ifndef GPTC_UNICODE_H
#define GPTC_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Class bits of a code point (gt_uc_class). */
enum {
    GT_UC_L = 1u << 0,     /* \p{L}: Lu Ll Lt Lm Lo */
    GT_UC_N = 1u << 1,     /* \p{N}: Nd Nl No */
    GT_UC_S = 1u << 2,     /* \s: White_Space (25 code points) */
    GT_UC_M = 1u << 3,     /* \p{M}: Mn Mc Me */
    GT_UC_UPPER = 1u << 4, /* o200k [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] */
    GT_UC_LOWER = 1u << 5, /* o200k [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
    GT_UC_CRLF = 1u << 6,  /* U+000D or U+000A */
};

/* Class bits of every ASCII code point (0..127). */
extern const uint8_t gt_uc_ascii_class[128];

/* General_Category of cp at UCD 16.0.0, as utf8proc's UTF8PROC_CATEGORY_* value (0 = Cn).
 * cp > 0x10FFFF gives 0. */
int gt_uc_category(uint32_t cp);

/* 1 if cp has the Unicode White_Space property (what Oniguruma's \s matches), else 0. */
int gt_uc_is_space(uint32_t cp);

/* GT_UC_* bits of cp (any code point; the ASCII ones come from gt_uc_ascii_class). */
unsigned gt_uc_class_slow(uint32_t cp);
static inline unsigned gt_uc_class(uint32_t cp) {
    return cp < 128 ? gt_uc_ascii_class[cp] : gt_uc_class_slow(cp);
}

/* "16.0.0": the Unicode version gt_uc_category() implements. */
const char *gt_uc_version(void);

/* The Unicode version of the linked utf8proc (the base the delta table is applied to) and the
 * one the table was generated against; they should be equal (test_tok_pretok checks the result
 * over all code points either way). */
const char *gt_uc_base_version(void);
const char *gt_uc_table_base_version(void);

/* Decode one code point of UTF-8 at p, with n >= 1 bytes available. Sets *adv to its length.
 * Invalid or truncated sequences (which valid input never has) give U+FFFD with *adv = 1. */
static inline uint32_t gt_utf8_decode(const uint8_t *p, size_t n, size_t *adv) {
    uint32_t c = p[0];
    if (c < 0x80) {
        *adv = 1;
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF && n >= 2 && (p[1] & 0xC0) == 0x80) {
        *adv = 2;
        return ((c & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (c >= 0xE0 && c <= 0xEF && n >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
        uint32_t cp = ((c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
            *adv = 3;
            return cp;
        }
    } else if (c >= 0xF0 && c <= 0xF4 && n >= 4 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
               (p[3] & 0xC0) == 0x80) {
        uint32_t cp = ((c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
                      ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        if (cp >= 0x10000 && cp <= 0x10FFFF) {
            *adv = 4;
            return cp;
        }
    }
    *adv = 1;
    return 0xFFFD;
}

#endif
