/* tucheck.h — the Check runner that ends every test binary's main (header only: the fuzzers
 * link test/util without Check). */
#ifndef GPTC_TEST_TUCHECK_H
#define GPTC_TEST_TUCHECK_H

#include <check.h>

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
