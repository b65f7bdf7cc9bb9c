/* test_install.c — `make install` into a temporary prefix gives a working gptc (--version,
 * --help), a man page with the same options as --help, libgptc.so with its soname, libgptc.a,
 * gptc.h and gptc.pc; the C program of docs/api.md, extracted from the page, builds with
 * `pkg-config --cflags --libs gptc` against that prefix and generates the same text as
 * `gptc --temp 0`; DESTDIR staging and `make uninstall` put and remove exactly the files.
 * Runs make in the source tree (the current directory) with the build folder under test, whose
 * artifacts `make test` has already built, so install only copies. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g_model[1024];

/* `make ARGS` in the source tree for the build folder under test. The parent make's variables
 * (CUDA=0, SAN=... in the ASan pass) come through MAKEFLAGS; its jobserver does not. */
static int run_make(const char *args, tu_proc *p) {
    /* the same CUDA setting as the build under test (its --version says), so make finds every
     * artifact up to date instead of building another configuration into the folder */
    static int cuda = -1;
    if (cuda < 0) {
        char *argv[] = {(char *)tu_gptc(), "--version", NULL};
        tu_proc v;
        cuda = tu_run(argv, NULL, 0, 30, &v) == 0 && !strstr(v.out, "not compiled in");
        tu_proc_free(&v);
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "MAKEFLAGS=\"$(printf %%s \"${MAKEFLAGS:-}\" | sed -E "
             "'s/--jobserver-[a-z]+=[^ ]*//g; s/(^| )-j[0-9]*//g')\" "
             "${MAKE:-make} -s --no-print-directory BUILD='%s' CUDA=%d %s",
             tu_build_dir(), cuda, args);
    return tu_sh(cmd, NULL, 0, 600, p);
}

static int is_file(const char *dir, const char *rel, mode_t *mode) {
    char path[2048];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (lstat(path, &sb) != 0) return 0;
    if (mode) *mode = sb.st_mode;
    return 1;
}

/* Shell output of cmd (exit 0 required), malloc'd. */
static char *sh_out(const char *cmd, double timeout) {
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, timeout, &p), 0);
    if (p.status != 0) ck_abort_msg("'%s' failed (%d): %s", cmd, p.status, p.err);
    char *out = p.out;
    p.out = NULL;
    tu_proc_free(&p);
    return out;
}

static const char *const INSTALLED[] = {
    "bin/gptc",       "share/man/man1/gptc.1", "include/gptc.h",        "lib/libgptc.a",
    "lib/libgptc.so", "lib/libgptc.so.0",      "lib/pkgconfig/gptc.pc",
};

START_TEST(test_install_prefix) {
    char prefix[1200], args[1400];
    snprintf(prefix, sizeof prefix, "%s/prefix", tu_tmpdir());
    snprintf(args, sizeof args, "install PREFIX='%s'", prefix);
    tu_proc p;
    ck_assert_int_eq(run_make(args, &p), 0);
    ck_assert_msg(p.status == 0, "make install: %d\n%s%s", p.status, p.out, p.err);
    tu_proc_free(&p);

    mode_t mode;
    for (size_t i = 0; i < sizeof INSTALLED / sizeof INSTALLED[0]; i++)
        ck_assert_msg(is_file(prefix, INSTALLED[i], NULL), "%s not installed", INSTALLED[i]);
    ck_assert(is_file(prefix, "bin/gptc", &mode) && (mode & 0111));
    ck_assert(is_file(prefix, "lib/libgptc.so", &mode) && S_ISLNK(mode));
    char cmd[4096];

    /* the shared library's soname carries the major version of gptc.h */
    snprintf(cmd, sizeof cmd, "readelf -d '%s/lib/libgptc.so' | grep SONAME", prefix);
    char *out = sh_out(cmd, 30), want[64];
    snprintf(want, sizeof want, "[libgptc.so.%d]", GPTC_VERSION_MAJOR);
    ck_assert_msg(strstr(out, want), "soname: %s", out);
    free(out);
    /* only the public API is exported */
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only '%s/lib/libgptc.so' | awk '{print $3}' | grep -v '^gptc_' | "
             "grep -v '^$' || true",
             prefix);
    out = sh_out(cmd, 30);
    ck_assert_msg(out[0] == 0, "exported non-API symbols: %s", out);
    free(out);

    /* and every function gptc.h declares is there */
    snprintf(cmd, sizeof cmd,
             "for f in $(grep -oE '\\bgptc_[a-z0-9_]+\\(' '%s/include/gptc.h' | tr -d '(' | "
             "sort -u); do nm -D --defined-only '%s/lib/libgptc.so' | awk '{print $3}' | "
             "grep -qx \"$f\" || echo \"$f\"; done",
             prefix, prefix);
    out = sh_out(cmd, 60);
    ck_assert_msg(out[0] == 0, "declared in gptc.h, missing from libgptc.so: %s", out);
    free(out);

    /* --version: the header's version, a commit line, a CUDA line */
    snprintf(cmd, sizeof cmd, "'%s/bin/gptc' --version", prefix);
    out = sh_out(cmd, 30);
    char first[64];
    snprintf(first, sizeof first, "gptc %s\ncommit ", GPTC_VERSION_STRING);
    ck_assert_msg(!strncmp(out, first, strlen(first)), "--version: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "\nCUDA: "));
    free(out);

    /* --help is complete: the generation flags are in it (issue: they used to need -m X) */
    snprintf(cmd, sizeof cmd, "'%s/bin/gptc' --help", prefix);
    char *help = sh_out(cmd, 30);
    static const char *const flags[] = {"--model",  "--temp",  "--top-p",    "--seed",
                                        "--system", "--json",  "--ctx-size", "--backend",
                                        "--raw",    "--color", "--version",  "--n-predict",
                                        "chat",     "batch",   "perplexity"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        ck_assert_msg(strstr(help, flags[i]), "--help lacks %s", flags[i]);

    /* the man page, rendered, names every option --help names (same source, cannot drift) */
    snprintf(cmd, sizeof cmd,
             "if command -v man >/dev/null; then MANPATH='%s/share/man' MANWIDTH=200 "
             "man -P cat gptc; else groff -man -Tascii -P-cbou '%s/share/man/man1/gptc.1'; fi "
             "| col -b",
             prefix, prefix);
    char *man = sh_out(cmd, 60);
    ck_assert_ptr_nonnull(strstr(man, "gptc - run GPT-family models"));
    int n_opts = 0;
    for (char *line = help; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (!strncmp(line, "  -", 3)) {
            /* "  -m, --model FILE   text": every flag word of the option */
            char opt[64];
            size_t k = 0;
            for (const char *q = line + 2; *q && !(q[0] == ' ' && q[1] == ' ') && k < 63; q++)
                opt[k++] = *q;
            opt[k] = 0;
            char *save = NULL;
            for (char *w = strtok_r(opt, " ,", &save); w; w = strtok_r(NULL, " ,", &save))
                if (w[0] == '-') {
                    ck_assert_msg(strstr(man, w), "man page lacks %s", w);
                    n_opts++;
                }
        }
        line = nl ? nl + 1 : NULL;
    }
    ck_assert_int_ge(n_opts, 35);
    free(man);
    free(help);
}
END_TEST

START_TEST(test_api_example) {
    const char *t = tu_tmpdir();
    char prefix[1200], args[1400], cmd[8192];
    snprintf(prefix, sizeof prefix, "%s/prefix", t);
    snprintf(args, sizeof args, "install PREFIX='%s'", prefix);
    tu_proc p;
    ck_assert_int_eq(run_make(args, &p), 0);
    ck_assert_msg(p.status == 0, "make install: %d\n%s%s", p.status, p.out, p.err);
    tu_proc_free(&p);

    /* the first ```c block of docs/api.md, as is */
    snprintf(cmd, sizeof cmd,
             "awk '/^```c$/ {f = 1; next} /^```$/ {if (f) exit} f' docs/api.md > '%s/example.c' "
             "&& grep -c . '%s/example.c'",
             t, t);
    char *out = sh_out(cmd, 30);
    ck_assert_int_ge(atoi(out), 40);
    free(out);
    /* built against the installed prefix only (no -I/-L into the source tree); the ASan pass
     * builds it with the sanitizers the library was built with */
    const char *san = getenv("GPTC_ASAN") ? "-fsanitize=address,undefined" : "";
    snprintf(cmd, sizeof cmd,
             "cd '%s' && export PKG_CONFIG_PATH='%s/lib/pkgconfig' && "
             "cc -std=c11 -Wall -Wextra -Werror %s example.c $(pkg-config --cflags --libs gptc) "
             "-o example && LD_LIBRARY_PATH='%s/lib' ldd ./example | grep libgptc",
             t, prefix, san, prefix);
    out = sh_out(cmd, 120);
    char want[1300];
    snprintf(want, sizeof want, "%s/lib/libgptc.so.%d", prefix, GPTC_VERSION_MAJOR);
    ck_assert_msg(strstr(out, want), "example links %s", out);
    free(out);

    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH='%s/lib' '%s/example' '%s' 'Once upon a time'",
             prefix, t, g_model);
    out = sh_out(cmd, 120);
    /* "TEXT\n[N tokens]\n" */
    char *tail = strstr(out, "\n[");
    ck_assert_msg(tail, "example printed %s", out);
    int n = -1;
    ck_assert_int_eq(sscanf(tail, "\n[%d tokens]", &n), 1);
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, 32);
    *tail = 0;
    /* the same greedy continuation as the program's own generation loop */
    snprintf(cmd, sizeof cmd, "'%s/bin/gptc' -m '%s' -p 'Once upon a time' --temp 0 -n %d -q",
             prefix, g_model, n);
    char *cli = sh_out(cmd, 120);
    size_t cl = strlen(cli);
    if (cl && cli[cl - 1] == '\n') cli[--cl] = 0;
    ck_assert_str_eq(out, cli);
    free(cli);
    free(out);
}
END_TEST

START_TEST(test_destdir_uninstall) {
    const char *t = tu_tmpdir();
    char stage[1200], args[1600], path[1400];
    snprintf(stage, sizeof stage, "%s/stage", t);
    snprintf(args, sizeof args, "install DESTDIR='%s' PREFIX=/opt/gptc-test", stage);
    tu_proc p;
    ck_assert_int_eq(run_make(args, &p), 0);
    ck_assert_msg(p.status == 0, "make install: %d\n%s%s", p.status, p.out, p.err);
    tu_proc_free(&p);
    snprintf(path, sizeof path, "%s/opt/gptc-test", stage);
    for (size_t i = 0; i < sizeof INSTALLED / sizeof INSTALLED[0]; i++)
        ck_assert_msg(is_file(path, INSTALLED[i], NULL), "%s not staged", INSTALLED[i]);
    /* the .pc names the final prefix, not the staging folder */
    snprintf(path, sizeof path, "%s/opt/gptc-test/lib/pkgconfig/gptc.pc", stage);
    char *pc = tu_read_file(path, NULL);
    ck_assert_ptr_nonnull(pc);
    ck_assert_ptr_nonnull(strstr(pc, "prefix=/opt/gptc-test\n"));
    ck_assert_ptr_null(strstr(pc, stage));
    free(pc);

    snprintf(args, sizeof args, "uninstall DESTDIR='%s' PREFIX=/opt/gptc-test", stage);
    ck_assert_int_eq(run_make(args, &p), 0);
    ck_assert_msg(p.status == 0, "make uninstall: %d\n%s%s", p.status, p.out, p.err);
    tu_proc_free(&p);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "find '%s' -type f -o -type l", stage);
    char *left = sh_out(cmd, 30);
    ck_assert_msg(left[0] == 0, "left after uninstall: %s", left);
    free(left);
}
END_TEST

int main(void) {
    if (access("docs/api.md", R_OK) != 0 || access("Makefile", R_OK) != 0) {
        fprintf(stderr, "test_install: run from the source tree (make test)\n");
        return EXIT_FAILURE;
    }
    tu_cached_model(g_model, sizeof g_model, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    Suite *s = suite_create("install");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_install_prefix);
    tcase_add_test(tc, test_api_example);
    tcase_add_test(tc, test_destdir_uninstall);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
