/* tucheck.h — the Check runner that ends every test binary's main (header only: the fuzzers
 * link test/util without Check). */
#ifndef GPTC_TEST_TUCHECK_H
#define GPTC_TEST_TUCHECK_H

#include <check.h>
#include <string.h>

#include "test/util/testutil.h"

/* A refused command line: exit `status`, nothing on stdout and exactly one "gptc: error: " line
 * on stderr (what names the case in the failure message). */
static inline void tu_assert_one_error(const tu_proc *p, int status, const char *what) {
    ck_assert_msg(p->status == status, "%s: exit %d, expected %d", what, p->status, status);
    ck_assert_str_eq(p->out, "");
    ck_assert_msg(!strncmp(p->err, "gptc: error: ", 13) &&
                      strchr(p->err, '\n') == p->err + p->err_len - 1,
                  "%s: %s", what, p->err);
}

/* Runs suite s (in-process when nofork; else Check's default, CK_FORK from the environment)
 * and returns the number of failed tests. */
static inline int tu_suite_failures(Suite *s, int nofork) {
    SRunner *sr = srunner_create(s);
    if (nofork) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf;
}

#endif
