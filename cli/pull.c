/* pull.c — the hub commands: `gptc pull REPO[:QUANT-OR-FILE]`, `gptc models`, `gptc rm`, and
 * the -hf option of the model-taking commands (cli_hub_model). See hub.h for the cache. */
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub.h"

static const char PULL_USAGE[] =
    "usage: gptc pull REPO[:QUANT-OR-FILE] [-q]\n"
    "Downloads a GGUF model from the Hugging Face hub into its cache (huggingface_hub's layout,\n"
    "shared with huggingface-cli and llama.cpp) and prints its path. A second pull downloads\n"
    "nothing; an interrupted one resumes.\n"
    "  REPO            ORG/NAME, or a short name: gpt-oss-20b, gpt-oss-120b\n"
    "  :QUANT-OR-FILE  which file when the repo has several: a quantization (Q4_K_M, Q8_0,\n"
    "                  mxfp4) or a file name (model-Q4_K_M.gguf); split models come whole\n"
    "  -q, --quiet     no progress or messages\n"
    "Environment: HF_HOME, HF_HUB_CACHE (cache folder), HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE.\n"
    "Exit status: 0 ok, 1 bad usage, 2 no such repo/file or gated, 3 network/disk/verification\n"
    "failure, 130 interrupted (run again to resume).\n";

static const char MODELS_USAGE[] = "usage: gptc models\n"
                                   "Lists the GGUF models in the Hugging Face cache, with sizes.\n";

static const char RM_USAGE[] =
    "usage: gptc rm REPO[:QUANT-OR-FILE]\n"
    "Removes a model from the Hugging Face cache: the whole repository, or only the chosen\n"
    "file(s) (their data goes when no other snapshot uses it).\n"
    "Exit status: 0 removed, 1 bad usage, 2 not in the cache, 3 a file could not be removed.\n";

/* "REPO[:SEL]" and -q from argv; 0, -2 after --help, or EXIT_USAGE after an error line. */
static int one_spec(int argc, char **argv, const char *usage, const char *cmd, const char **spec,
                    int *quiet) {
    *spec = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return -2;
        }
        if (quiet && (!strcmp(a, "-q") || !strcmp(a, "--quiet"))) {
            *quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            cli_error("%s: unknown option '%s' (see gptc %s --help)", cmd, a, cmd);
            return EXIT_USAGE;
        } else if (*spec) {
            cli_error("%s: one model at a time ('%s' and '%s')", cmd, *spec, a);
            return EXIT_USAGE;
        } else {
            *spec = a;
        }
    }
    if (!*spec) {
        cli_error("%s: no model given (usage: gptc %s REPO[:QUANT-OR-FILE])", cmd, cmd);
        return EXIT_USAGE;
    }
    return 0;
}

int cli_pull(int argc, char **argv) {
    const char *spec;
    int quiet = 0;
    int r = one_spec(argc, argv, PULL_USAGE, "pull", &spec, &quiet);
    if (r) return r == -2 ? EXIT_DONE : r;
    hub_pull_opts o = {quiet, 1};
    char path[HUB_PATH_MAX];
    r = hub_pull(spec, &o, path, sizeof path);
    if (r) return r;
    printf("%s\n", path);
    return EXIT_DONE;
}

int cli_hub_model(const char *spec, int quiet, const char **path) {
    static char model[HUB_PATH_MAX];
    hub_pull_opts o = {quiet, 0};
    int r = hub_pull(spec, &o, model, sizeof model);
    if (r == 0) *path = model;
    return r;
}

/* --- models --------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "models--ORG--NAME" -> "ORG/NAME" (0), else -1 */
static int repo_of_dir(const char *d, char *out, size_t cap) {
    if (strncmp(d, "models--", 8)) return -1;
    const char *s = d + 8;
    const char *sep = strstr(s, "--");
    if (sep)
        hub_path(out, cap, "%.*s/%s", (int)(sep - s), s, sep + 2);
    else
        hub_path(out, cap, "%s", s);
    return 0;
}

static uint64_t partial_bytes(const char *repo_dir) {
    char blobs[HUB_PATH_MAX + 16];
    hub_path(blobs, sizeof blobs, "%s/blobs", repo_dir);
    DIR *d = opendir(blobs);
    if (!d) return 0;
    uint64_t sum = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 11 || strcmp(de->d_name + n - 11, ".incomplete")) continue;
        char p[HUB_PATH_MAX * 2];
        struct stat st;
        hub_path(p, sizeof p, "%s/%s", blobs, de->d_name);
        if (stat(p, &st) == 0) sum += (uint64_t)st.st_size;
    }
    closedir(d);
    return sum;
}

/* Prints the GGUF models of one repo folder; returns how many. */
static int list_repo_models(const char *repo, const char *repo_dir, uint64_t *total) {
    char commit[256];
    if (hub_read_ref(repo_dir, "main", commit)) { /* no refs/main: the newest snapshot */
        char snaps[HUB_PATH_MAX + 16];
        hub_path(snaps, sizeof snaps, "%s/snapshots", repo_dir);
        DIR *d = opendir(snaps);
        commit[0] = 0;
        time_t best = 0;
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char p[HUB_PATH_MAX * 2];
            struct stat st;
            hub_path(p, sizeof p, "%s/%s", snaps, de->d_name);
            if (de->d_name[0] == '.' || stat(p, &st) || !S_ISDIR(st.st_mode)) continue;
            if (!commit[0] || st.st_mtime > best) {
                hub_path(commit, sizeof commit, "%s", de->d_name);
                best = st.st_mtime;
            }
        }
        if (d) closedir(d);
    }
    hub_file *f = NULL;
    size_t n = 0;
    int shown = 0;
    if (commit[0] && hub_snapshot_files(repo_dir, commit, &f, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(f[i].path);
            if (len < 5 || strcasecmp(f[i].path + len - 5, ".gguf")) continue;
            const char *base = strrchr(f[i].path, '/');
            if (!strncasecmp(base ? base + 1 : f[i].path, "mmproj", 6)) continue;
            int a, c, shards = 1;
            uint64_t size = f[i].size;
            if (hub_split_name(f[i].path, &a, &c)) {
                if (a != 1) continue;
                shards = 0;
                size = 0;
                for (size_t j = 0; j < n; j++) {
                    int aj, cj;
                    if (hub_split_name(f[j].path, &aj, &cj) && cj == c &&
                        strlen(f[j].path) == len && !strncmp(f[j].path, f[i].path, len - 20)) {
                        shards++;
                        size += f[j].size;
                    }
                }
            }
            char sz[32], name[HUB_PATH_MAX];
            hub_fmt_size(size, sz, sizeof sz);
            if (shards > 1 || hub_split_name(f[i].path, &a, &c))
                hub_path(name, sizeof name, "%s (%d of %d shards)", f[i].path, shards, c);
            else
                hub_path(name, sizeof name, "%s", f[i].path);
            printf("%-36s %-44s %9s\n", repo, name, sz);
            *total += size;
            shown++;
        }
    }
    hub_files_free(f, n);
    uint64_t part = partial_bytes(repo_dir);
    if (part) {
        char sz[32], name[256];
        hub_fmt_size(part, sz, sizeof sz);
        hub_path(name, sizeof name, "(partial download: gptc pull %s resumes it)", repo);
        printf("%-36s %-44s %9s\n", repo, name, sz);
        shown++;
    }
    return shown;
}

int cli_models(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(MODELS_USAGE, stdout);
            return EXIT_DONE;
        }
        cli_error("models: unexpected argument '%s' (see gptc models --help)", argv[i]);
        return EXIT_USAGE;
    }
    hub_env e;
    hub_env_init(&e);
    DIR *d = opendir(e.cache);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "models--", 8)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) break;
        n++;
    }
    if (d) closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    printf("%-36s %-44s %9s\n", "REPO", "FILE", "SIZE");
    int count = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char repo[256], dir[HUB_PATH_MAX * 2];
        if (repo_of_dir(names[i], repo, sizeof repo) == 0) {
            hub_path(dir, sizeof dir, "%s/%s", e.cache, names[i]);
            count += list_repo_models(repo, dir, &total);
        }
        free(names[i]);
    }
    free(names);
    char sz[32];
    hub_fmt_size(total, sz, sizeof sz);
    fprintf(stderr, "%d model%s, %s, in %s\n", count, count == 1 ? "" : "s", sz, e.cache);
    return EXIT_DONE;
}

/* --- rm ------------------------------------------------------------------------------------- */

static uint64_t rm_bytes;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag == FTW_F && S_ISREG(st->st_mode)) rm_bytes += (uint64_t)st->st_size;
    if (remove(path)) {
        cli_error("cannot remove %s: %m", path);
        return -1;
    }
    return 0;
}

static int rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return 0;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

/* Is blob (a real path) still the target of a link in some snapshot? */
static int blob_used(const char *repo_dir, const char *blob) {
    char snaps[HUB_PATH_MAX + 16];
    hub_path(snaps, sizeof snaps, "%s/snapshots", repo_dir);
    DIR *d = opendir(snaps);
    int used = 0;
    struct dirent *de;
    while (!used && d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        hub_file *f = NULL;
        size_t n = 0;
        if (hub_snapshot_files(repo_dir, de->d_name, &f, &n) == 0) {
            for (size_t i = 0; i < n && !used; i++) {
                char p[HUB_PATH_MAX * 3], real[PATH_MAX];
                hub_path(p, sizeof p, "%s/%s/%s", snaps, de->d_name, f[i].path);
                used = realpath(p, real) && !strcmp(real, blob);
            }
        }
        hub_files_free(f, n);
    }
    if (d) closedir(d);
    return used;
}

/* Removes the files sel picks in every snapshot, and their blobs when no longer used. */
static int rm_files(const char *repo_dir, const char *sel, int *found) {
    char snaps[HUB_PATH_MAX + 16];
    hub_path(snaps, sizeof snaps, "%s/snapshots", repo_dir);
    DIR *d = opendir(snaps);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        hub_file *f = NULL;
        size_t n = 0;
        if (hub_snapshot_files(repo_dir, de->d_name, &f, &n) || n == 0) {
            hub_files_free(f, n);
            continue;
        }
        size_t *idx = malloc(n * sizeof *idx), n_idx = 0;
        char msg[512];
        if (idx && hub_select(f, n, sel, idx, &n_idx, msg, sizeof msg) == 0) {
            for (size_t k = 0; k < n_idx && rc == 0; k++) {
                char p[HUB_PATH_MAX * 3], real[PATH_MAX];
                hub_path(p, sizeof p, "%s/%s/%s", snaps, de->d_name, f[idx[k]].path);
                int have_real = realpath(p, real) != NULL;
                if (unlink(p)) {
                    cli_error("cannot remove %s: %m", p);
                    rc = EXIT_RUNTIME;
                    break;
                }
                *found = 1;
                struct stat st;
                if (have_real && !blob_used(repo_dir, real) && stat(real, &st) == 0) {
                    if (unlink(real)) {
                        cli_error("cannot remove %s: %m", real);
                        rc = EXIT_RUNTIME;
                    } else {
                        rm_bytes += (uint64_t)st.st_size;
                    }
                }
            }
        }
        free(idx);
        hub_files_free(f, n);
    }
    if (d) closedir(d);
    return rc;
}

int cli_rm(int argc, char **argv) {
    const char *spec;
    int r = one_spec(argc, argv, RM_USAGE, "rm", &spec, NULL);
    if (r) return r == -2 ? EXIT_DONE : r;
    hub_spec s;
    if ((r = hub_parse_spec(spec, &s))) return r;
    hub_env e;
    hub_env_init(&e);
    char repo_dir[HUB_PATH_MAX];
    hub_repo_dir(&e, s.repo, repo_dir, sizeof repo_dir);
    struct stat st;
    if (lstat(repo_dir, &st) || !S_ISDIR(st.st_mode)) {
        cli_error("%s is not in the cache (%s)", s.repo, e.cache);
        return EXIT_LOAD;
    }
    rm_bytes = 0;
    char sz[32];
    if (!s.sel[0]) {
        char locks[HUB_PATH_MAX * 2];
        hub_path(locks, sizeof locks, "%s/.locks/%s", e.cache, strrchr(repo_dir, '/') + 1);
        if (rm_tree(repo_dir) || rm_tree(locks)) return EXIT_RUNTIME;
        hub_fmt_size(rm_bytes, sz, sizeof sz);
        fprintf(stderr, "removed %s (%s)\n", s.repo, sz);
        return EXIT_DONE;
    }
    int found = 0;
    if ((r = rm_files(repo_dir, s.sel, &found))) return r;
    if (!found) {
        cli_error("%s: no cached file matches '%s' (see gptc models)", s.repo, s.sel);
        return EXIT_LOAD;
    }
    hub_fmt_size(rm_bytes, sz, sizeof sz);
    fprintf(stderr, "removed %s:%s (%s)\n", s.repo, s.sel, sz);
    return EXIT_DONE;
}
