/* unicode.c — UCD 16.0.0 General_Category and White_Space for the pre-tokenizer.
 * Categories: the generated delta table (code points whose 16.0 category differs from the
 * utf8proc the table was generated against, with their full 16.0 category) first, then
 * utf8proc_category(). test_tok_pretok checks the result against UCD 16.0.0 over all code
 * points (block hashes computed from the Unicode data by the same script). */
#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include "tokenizer/unicode16_table.inc"

#define L_ GT_UC_L
#define N_ GT_UC_N
#define S_ GT_UC_S
#define U_ GT_UC_UPPER
#define W_ GT_UC_LOWER
#define CR_ GT_UC_CRLF

/* clang-format off */
const uint8_t gt_uc_ascii_class[128] = {
    /* 0x00-0x08 controls */ 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* \t \n \v \f \r */ S_, S_ | CR_, S_, S_, S_ | CR_,
    /* 0x0E-0x1F (U+001C..U+001F are not White_Space) */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0,
    /* ' ' */ S_,
    /* !"#$%&'()*+,-./ */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0-9 */ N_, N_, N_, N_, N_, N_, N_, N_, N_, N_,
    /* :;<=>?@ */ 0, 0, 0, 0, 0, 0, 0,
    /* A-Z */ L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_,
    L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_,
    L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_, L_ | U_,
    /* [\]^_` */ 0, 0, 0, 0, 0, 0,
    /* a-z */ L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_,
    L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_,
    L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_, L_ | W_,
    /* {|}~ DEL */ 0, 0, 0, 0, 0,
};
/* clang-format on */

/* Class bits (without GT_UC_S) of each UTF8PROC_CATEGORY_* value. */
static const uint8_t cat_class[30] = {
    [UTF8PROC_CATEGORY_LU] = L_ | U_,
    [UTF8PROC_CATEGORY_LL] = L_ | W_,
    [UTF8PROC_CATEGORY_LT] = L_ | U_,
    [UTF8PROC_CATEGORY_LM] = L_ | U_ | W_,
    [UTF8PROC_CATEGORY_LO] = L_ | U_ | W_,
    [UTF8PROC_CATEGORY_MN] = GT_UC_M | U_ | W_,
    [UTF8PROC_CATEGORY_MC] = GT_UC_M | U_ | W_,
    [UTF8PROC_CATEGORY_ME] = GT_UC_M | U_ | W_,
    [UTF8PROC_CATEGORY_ND] = N_,
    [UTF8PROC_CATEGORY_NL] = N_,
    [UTF8PROC_CATEGORY_NO] = N_,
};

int gt_uc_category(uint32_t cp) {
    if (cp > 0x10FFFF) return UTF8PROC_CATEGORY_CN;
    uint32_t b = cp >> 8;
    if (gt_uc16_delta_blocks[b >> 6] >> (b & 63) & 1) {
        size_t lo = 0, hi = sizeof gt_uc16_delta / sizeof gt_uc16_delta[0];
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (gt_uc16_delta[mid].hi < cp)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < sizeof gt_uc16_delta / sizeof gt_uc16_delta[0] && gt_uc16_delta[lo].lo <= cp)
            return gt_uc16_delta[lo].cat;
    }
    return (int)utf8proc_category((utf8proc_int32_t)cp);
}

int gt_uc_is_space(uint32_t cp) {
    if (cp < 128) return (gt_uc_ascii_class[cp] & GT_UC_S) != 0;
    if (cp < 0x1680) return cp == 0x85 || cp == 0xA0;
    if (cp < 0x2000) return cp == 0x1680;
    if (cp <= 0x200A) return 1;
    return cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

unsigned gt_uc_class_slow(uint32_t cp) {
    if (cp < 128) return gt_uc_ascii_class[cp];
    unsigned c = cat_class[gt_uc_category(cp)];
    /* every non-ASCII White_Space code point is Zs, Zl, Zp or Cc (U+0085): no L/N/M bits */
    if (gt_uc_is_space(cp)) c |= S_;
    return c;
}

const char *gt_uc_version(void) {
    return "16.0.0";
}
const char *gt_uc_base_version(void) {
    return utf8proc_unicode_version();
}
const char *gt_uc_table_base_version(void) {
    return GT_UC16_BASE_VERSION;
}
