/* test_cli_basic.c — the program starts, prints usage, and rejects unknown commands with the
 * documented exit code and one "gptc: error:" line. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "test/util/testutil.h"
#include "test/util/tucheck.h"

START_TEST(test_help) {
    char *argv[] = {(char *)tu_gptc(), "--help", NULL};
    tu_proc p;
    ck_assert_int_eq(tu_run(argv, NULL, 0, 20, &p), 0);
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_nonnull(strstr(p.out, "usage: gptc"));
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_unknown_command) {
    char *argv[] = {(char *)tu_gptc(), "frobnicate", NULL};
    tu_proc p;
    ck_assert_int_eq(tu_run(argv, NULL, 0, 20, &p), 0);
    ck_assert_int_eq(p.status, 1);
    ck_assert_str_eq(p.err, "gptc: error: unknown command 'frobnicate' (see gptc --help)\n");
    ck_assert_int_eq((int)p.out_len, 0);
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cli_basic");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_unknown_command);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
