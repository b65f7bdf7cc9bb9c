/* test_jsontext.c — cli/jsontext.c's UTF-8 helpers against hand-worked cases and the tests' own
 * validator (test/util/testutil.c): cli_utf8_prefix (the longest valid prefix) and
 * cli_utf8_repair (invalid bytes become U+FFFD, one per byte), which keeps quoted input in
 * batch error records valid UTF-8. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jsontext.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

#define R "\xEF\xBF\xBD" /* U+FFFD */

START_TEST(test_prefix) {
    static const struct {
        const char *s;
        size_t n, want;
    } C[] = {
        {"abc", 3, 3},
        {"a\xC3\xA9", 3, 3},         /* é */
        {"a\xC3\xA9", 2, 1},         /* é cut after its first byte */
        {"\xE2\x82\xAC!", 4, 4},     /* € */
        {"\xE2\x82", 2, 0},          /* € cut */
        {"\xF0\x9F\x98\x80", 4, 4},  /* U+1F600 */
        {"x\xC0\xAF", 3, 1},         /* overlong '/' */
        {"x\xED\xA0\x80", 4, 1},     /* a surrogate, U+D800 */
        {"x\xF4\x90\x80\x80", 5, 1}, /* above U+10FFFF */
        {"x\x80", 2, 1},             /* a lone continuation byte */
        {"x\xFF", 2, 1},
    };
    for (size_t i = 0; i < sizeof C / sizeof *C; i++)
        ck_assert_msg(cli_utf8_prefix(C[i].s, C[i].n) == C[i].want, "case %zu: %zu, want %zu", i,
                      cli_utf8_prefix(C[i].s, C[i].n), C[i].want);
}
END_TEST

START_TEST(test_repair) {
    static const struct {
        const char *in, *want;
    } C[] = {
        {"", ""},
        {"plain", "plain"},
        {"caf\xC3\xA9", "caf\xC3\xA9"}, /* valid: unchanged */
        {"a\xC3(", "a" R "("},          /* a lead byte without its continuation */
        {"\xF0\x9F\x98", R R R},        /* a cut 4-byte sequence: one per byte */
        {"role \"a\xC3\xA9\xC3\"", "role \"a\xC3\xA9" R "\""}, /* a quote cut inside a character */
        {"\x80x\xFFy", R "x" R "y"},
        {"\xED\xA0\x80", R R R}, /* an encoded surrogate */
    };
    for (size_t i = 0; i < sizeof C / sizeof *C; i++) {
        char *r = cli_utf8_repair(C[i].in);
        ck_assert_ptr_nonnull(r);
        ck_assert_msg(!strcmp(r, C[i].want), "case %zu", i);
        ck_assert(tu_utf8_valid((const unsigned char *)r, strlen(r)));
        free(r);
    }
    /* every byte value after a valid prefix: the result is valid and keeps the valid text */
    for (int b = 1; b < 256; b++) {
        char in[8] = "ok";
        in[2] = (char)b;
        char *r = cli_utf8_repair(in);
        ck_assert_ptr_nonnull(r);
        ck_assert(tu_utf8_valid((const unsigned char *)r, strlen(r)));
        ck_assert(!strncmp(r, "ok", 2));
        ck_assert(b < 0x80 ? (unsigned char)r[2] == b && !r[3] : !strcmp(r + 2, R));
        free(r);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("jsontext");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_prefix);
    tcase_add_test(tc, test_repair);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
