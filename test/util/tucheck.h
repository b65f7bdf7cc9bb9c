/* tucheck.h — the Check runner that ends every test binary's main (header only: the fuzzers
 * link test/util without Check). */
#ifndef GPTC_TEST_TUCHECK_H
#define GPTC_TEST_TUCHECK_H

#include <cJSON.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
/* One test case per test, named after its function, so a single test can be run alone
 * (CK_RUN_CASE=test_name), e.g. under compute-sanitizer. */
#define TU_CASE(suite, fn, timeout_s)                                                              \
    do {                                                                                           \
        TCase *tu_tc_ = tcase_create(#fn);                                                         \
        tcase_set_timeout(tu_tc_, (timeout_s));                                                    \
        tcase_add_test(tu_tc_, fn);                                                                \
        suite_add_tcase((suite), tu_tc_);                                                          \
    } while (0)

static inline int tu_suite_failures(Suite *s, int nofork) {
    SRunner *sr = srunner_create(s);
    if (nofork) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf;
}

/* Runs "ENV gptc ARGS" (ENV: variable assignments or NULL; ARGS formatted as printf does)
 * through sh with optional stdin and a time limit; the process comes back in *p (free it with
 * tu_proc_free). */
static inline void tu_gptc_vsh(tu_proc *p, double timeout_s, const char *env,
                               const char *stdin_data, const char *fmt, va_list ap) {
    char args[3000], cmd[8192];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, sizeof cmd, "%.1200s %.2000s %s", env ? env : "", tu_gptc(), args);
    ck_assert_int_eq(tu_sh(cmd, stdin_data, stdin_data ? strlen(stdin_data) : 0, timeout_s, p), 0);
}
static inline void tu_gptc_sh(tu_proc *p, const char *stdin_data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void tu_gptc_sh(tu_proc *p, const char *stdin_data, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tu_gptc_vsh(p, 120, NULL, stdin_data, fmt, ap);
    va_end(ap);
}
/* The same with the tokens of GPTC_TEST_SCRIPT (script: a file or NULL) and NO_COLOR=1. */
static inline void tu_gptc_script_sh(tu_proc *p, double timeout_s, const char *script,
                                     const char *stdin_data, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static inline void tu_gptc_script_sh(tu_proc *p, double timeout_s, const char *script,
                                     const char *stdin_data, const char *fmt, ...) {
    char env[1200];
    snprintf(env, sizeof env, "GPTC_TEST_SCRIPT=%s NO_COLOR=1", script ? script : "");
    va_list ap;
    va_start(ap, fmt);
    tu_gptc_vsh(p, timeout_s, env, stdin_data, fmt, ap);
    va_end(ap);
}
/* A file NAME in the test's temporary folder holding text; the path stays valid for the next
 * three calls. */
static inline const char *tu_tmpfile_with(const char *name, const char *text) {
    static char path[4][600];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 600, "%s/%s", tu_tmpdir(), name);
    ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
    return p;
}

/* Runs "gptc batch -m MODEL -i NAME.in.jsonl -o NAME.out.jsonl -q --parallel 8 -c 1024 FLAGS"
 * over lines (in the temporary folder); checks exit 0 and returns the output records as a JSON
 * array (free with cJSON_Delete). */
static inline cJSON *tu_batch_records(const char *name, const char *model, const char *lines,
                                      const char *flags, double timeout_s) {
    char in[600], out[600], cmd[2400];
    snprintf(in, sizeof in, "%s/%s.in.jsonl", tu_tmpdir(), name);
    snprintf(out, sizeof out, "%s/%s.out.jsonl", tu_tmpdir(), name);
    remove(out);
    ck_assert_int_eq(tu_write_file(in, lines, strlen(lines)), 0);
    snprintf(cmd, sizeof cmd, "%s batch -m %s -i %s -o %s -q --parallel 8 -c 1024 %s", tu_gptc(),
             model, in, out, flags);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, timeout_s, &p), 0);
    ck_assert_msg(p.status == 0, "batch: %s", p.err);
    tu_proc_free(&p);
    char *txt = tu_read_file(out, NULL);
    ck_assert_ptr_nonnull(txt);
    cJSON *arr = cJSON_CreateArray();
    for (char *save = NULL, *ln = strtok_r(txt, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(ln);
        ck_assert_ptr_nonnull(j);
        cJSON_AddItemToArray(arr, j);
    }
    free(txt);
    return arr;
}

/* Runs the independent checker (test/util/check_constrained.py) over cases, an array of
 * {"kind": "schema"|"gbnf", "schema"/"grammar", "text"} written to NAME.json in the test's
 * tmpdir: every case must be valid. */
static inline void tu_check_constrained(cJSON *cases, const char *name) {
    char path[600], cmd[1400];
    snprintf(path, sizeof path, "%s/%s.json", tu_tmpdir(), name);
    char *js = cJSON_PrintUnformatted(cases);
    ck_assert_int_eq(tu_write_file(path, js, strlen(js)), 0);
    free(js);
    snprintf(cmd, sizeof cmd, "python3 test/util/check_constrained.py %s", path);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 300, &p), 0);
    ck_assert_msg(p.status == 0, "%s: %s%s", name, p.out, p.err);
    char want[32];
    snprintf(want, sizeof want, "ok %d\n", cJSON_GetArraySize(cases));
    ck_assert_str_eq(p.out, want);
    tu_proc_free(&p);
}

#endif
