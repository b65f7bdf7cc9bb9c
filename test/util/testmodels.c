/* testmodels.c — see testmodels.h. */
#include "test/util/testmodels.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/util/testutil.h"

void tu_cached_model(char *out, size_t n, const char *name, const char *args) {
    char dir[512], tool[512], cmd[2048], tmp[600];
    snprintf(dir, sizeof dir, "%s/test-models", tu_build_dir());
    mkdir(dir, 0755);
    int k = snprintf(out, n, "%s/%s.gguf", dir, name);
    if (k < 0 || (size_t)k >= n) exit(EXIT_FAILURE);
    snprintf(tool, sizeof tool, "%s", tu_tool("gen-model"));
    struct stat sm, stool;
    if (stat(out, &sm) == 0 && stat(tool, &stool) == 0 && sm.st_mtime >= stool.st_mtime) return;
    k = snprintf(tmp, sizeof tmp, "%s.tmp%d", out, (int)getpid());
    if (k < 0 || (size_t)k >= sizeof tmp) exit(EXIT_FAILURE);
    k = snprintf(cmd, sizeof cmd, "%s %s --out %s", tool, args, tmp);
    if (k < 0 || (size_t)k >= sizeof cmd) exit(EXIT_FAILURE);
    tu_proc p;
    if (tu_sh(cmd, NULL, 0, 600, &p) || p.status != 0 || rename(tmp, out) != 0) {
        fprintf(stderr, "test: '%s' failed: %s\n", cmd, p.err);
        exit(EXIT_FAILURE);
    }
    tu_proc_free(&p);
}
