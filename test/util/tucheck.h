/* tucheck.h — the Check runner that ends every test binary's main (header only: the fuzzers
 * link test/util without Check). */
#ifndef GPTC_TEST_TUCHECK_H
#define GPTC_TEST_TUCHECK_H

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
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

/* Runs "gptc ARGS" (ARGS formatted as printf does) through sh with optional stdin and a time
 * limit; the process comes back in *p (free it with tu_proc_free). */
static inline void tu_gptc_vsh(tu_proc *p, double timeout_s, const char *stdin_data,
                               const char *fmt, va_list ap) {
    char args[3000], cmd[4096];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, sizeof cmd, "%s %s", tu_gptc(), args);
    ck_assert_int_eq(tu_sh(cmd, stdin_data, stdin_data ? strlen(stdin_data) : 0, timeout_s, p), 0);
}
static inline void tu_gptc_sh(tu_proc *p, const char *stdin_data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void tu_gptc_sh(tu_proc *p, const char *stdin_data, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tu_gptc_vsh(p, 120, stdin_data, fmt, ap);
    va_end(ap);
}

#endif
