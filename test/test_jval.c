/* test_jval.c — the prompt renderer's JSON values against Python's json module (the reference
 * the chat template's |tojson uses in transformers): for each input, json.dumps(json.loads(x),
 * ensure_ascii=False) computed by python3 must equal jval_dump_py; inputs Python refuses are
 * refused too (plus the lone surrogates Python lets through, which gptc refuses on purpose). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jval.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static const char *good[] = {
    "0",
    "-0",
    "1",
    "-1",
    "12345678901234567890123",
    "1.0",
    "-0.0",
    "0.1",
    "1e5",
    "1E-5",
    "1e16",
    "1e15",
    "123456789012345678",
    "1.5e300",
    "2.5e-300",
    "1e400",
    "-1e400",
    "0.0001",
    "0.00001",
    "1234.5678",
    "9007199254740993.0",
    "5e-324",
    "1.7976931348623157e308",
    "3.141592653589793",
    "100",
    "1e2",
    "0.30000000000000004",
    "true",
    "false",
    "null",
    "\"\"",
    "\"a\\\"b\\\\c\\/d\"",
    "\"\\b\\f\\n\\r\\t\\u0000\\u001f\\u007f\\u0080\"",
    "\"\\u00e9\\u6771\\ud83d\\ude00\\u2028\\u2029\"",
    "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
    "[]",
    "{}",
    "[1, [2, [3, []]], {}]",
    "{\"b\": 1, \"a\": 2, \"b\": 3}",
    " \t\n{ \"k\" : [ true , null , \"x\" ] } \r\n",
    "{\"\\u0041\": {\"nested\": {\"x\": [1.50, 2E1]}}}",
};

static const char *bad[] = {
    "",
    " ",
    "01",
    "1.",
    ".5",
    "-",
    "1e",
    "1e+",
    "+1",
    "0x10",
    "[1,]",
    "{\"a\":1,}",
    "[1 2]",
    "{\"a\" 1}",
    "{a:1}",
    "'x'",
    "\"\\x41\"",
    "\"\\u12\"",
    "\"unterminated",
    "\"tab\there\"",
    "\"\xff\"",
    "\"\xc0\xaf\"",
    "[1]x",
    "nul",
    "truth",
    "NaN",
    "Infinity",
    "\"\\ud800\"",
    "\"\\udc00x\"", /* lone surrogates: Python takes them, gptc does not */
};

START_TEST(test_against_python) {
    /* all the good inputs through python3 in one go, one output line each */
    char in_path[600], cmd[1400];
    snprintf(in_path, sizeof in_path, "%s/jval-in.txt", tu_tmpdir());
    FILE *f = fopen(in_path, "w");
    ck_assert_ptr_nonnull(f);
    size_t n = sizeof good / sizeof good[0];
    for (size_t i = 0; i < n; i++) {
        /* one input per line: newlines inside inputs only occur as JSON whitespace */
        for (const char *c = good[i]; *c; c++) fputc(*c == '\n' || *c == '\r' ? ' ' : *c, f);
        fputc('\n', f);
    }
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys\n"
             "for l in open(sys.argv[1], encoding=\"utf-8\"):\n"
             "    sys.stdout.write(json.dumps(json.loads(l), ensure_ascii=False) + \"\\n\")' %s",
             in_path);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_msg(p.status == 0, "python3: %s", p.err);
    char *save = NULL, *line = strtok_r(p.out, "\n", &save);
    for (size_t i = 0; i < n; i++, line = strtok_r(NULL, "\n", &save)) {
        ck_assert_ptr_nonnull(line);
        char why[128];
        jval *v = jval_parse(good[i], strlen(good[i]), why, sizeof why);
        ck_assert_msg(v != NULL, "%s: %s", good[i], why);
        jbuf b = {0};
        jval_dump_py(&b, v);
        ck_assert_msg(b.s && !strcmp(b.s, line), "%s: gptc %s, python %s", good[i], b.s, line);
        jbuf_free(&b);
        jval_free(v);
    }
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_refused) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[128] = "";
        jval *v = jval_parse(bad[i], strlen(bad[i]), why, sizeof why);
        ck_assert_msg(v == NULL, "accepted: %s", bad[i]);
        ck_assert_msg(why[0], "no reason for %s", bad[i]);
    }
    /* nesting: 256 levels are fine, 257 are refused (no stack exhaustion) */
    char deep[600];
    memset(deep, '[', 257);
    memset(deep + 257, ']', 257);
    deep[514] = 0;
    ck_assert_ptr_null(jval_parse(deep, 514, NULL, 0));
    jval *v = jval_parse(deep + 1, 512, NULL, 0);
    ck_assert_ptr_nonnull(v);
    jval_free(v);
    size_t big = 1 << 20;
    char *huge = malloc(big);
    memset(huge, '[', big);
    ck_assert_ptr_null(jval_parse(huge, big, NULL, 0));
    free(huge);
}
END_TEST

int main(void) {
    Suite *s = suite_create("jval");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_against_python);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
