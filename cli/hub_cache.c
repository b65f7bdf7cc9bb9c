/* hub_cache.c — reading huggingface_hub's cache layout (see hub.h): repo folders, refs,
 * snapshots, and finding a model there without the network. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/hub.h"

void hub_repo_dir(const hub_env *e, const char *repo, char *out, size_t cap) {
    /* huggingface_hub's repo_folder_name: "models" and the repo id's parts joined by "--" */
    char name[256];
    hub_path(name, sizeof name, "models--%s", repo);
    for (char *p = name; *p; p++)
        if (*p == '/') {
            memmove(p + 2, p + 1, strlen(p + 1) + 1);
            p[0] = p[1] = '-';
        }
    hub_path(out, cap, "%s/%s", e->cache, name);
}

int hub_read_ref(const char *repo_dir, const char *ref, char commit[41]) {
    char path[HUB_PATH_MAX + 64];
    hub_path(path, sizeof path, "%s/refs/%s", repo_dir, ref);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[128] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    if (n == 0 || n > 40 || strchr(buf, '/')) return -1;
    memcpy(commit, buf, n + 1);
    return 0;
}

void hub_files_free(hub_file *f, size_t n) {
    for (size_t i = 0; i < n; i++) free(f[i].path);
    free(f);
}

typedef struct file_list {
    hub_file *v;
    size_t n, cap;
} file_list;

static int push(file_list *l, const char *path, uint64_t size) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        hub_file *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    char *p = strdup(path);
    if (!p) return -1;
    l->v[l->n].path = p;
    l->v[l->n].size = size;
    l->n++;
    return 0;
}

/* Walks dir (the snapshot folder + rel), adding the files whose links resolve. */
static int walk(const char *root, const char *rel, int depth, file_list *l) {
    char dir[HUB_PATH_MAX];
    hub_path(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char sub[HUB_PATH_MAX], full[HUB_PATH_MAX * 2];
        hub_path(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        hub_path(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) != 0) continue; /* a dangling link: not there */
        if (S_ISDIR(st.st_mode)) {
            if (depth < 8) rc = walk(root, sub, depth + 1, l);
        } else if (S_ISREG(st.st_mode)) {
            rc = push(l, sub, (uint64_t)st.st_size);
        }
    }
    closedir(d);
    return rc;
}

int hub_snapshot_files(const char *repo_dir, const char *commit, hub_file **out, size_t *n) {
    char root[HUB_PATH_MAX + 64];
    hub_path(root, sizeof root, "%s/snapshots/%s", repo_dir, commit);
    file_list l = {0};
    if (walk(root, "", 0, &l)) {
        hub_files_free(l.v, l.n);
        return -1;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

/* Tries one snapshot: 0 and the model's path when sel picks a model there. */
static int find_in(const char *repo_dir, const char *commit, const char *sel, char *out,
                   size_t cap) {
    hub_file *f = NULL;
    size_t n = 0;
    if (hub_snapshot_files(repo_dir, commit, &f, &n) || n == 0) {
        hub_files_free(f, n);
        return -1;
    }
    size_t *idx = malloc(n * sizeof *idx), n_idx = 0;
    char msg[256];
    int rc = -1;
    if (idx && hub_select(f, n, sel, idx, &n_idx, msg, sizeof msg) == 0) {
        hub_path(out, cap, "%s/snapshots/%s/%s", repo_dir, commit, f[idx[0]].path);
        rc = 0;
    }
    free(idx);
    hub_files_free(f, n);
    return rc;
}

int hub_cache_find(const hub_env *e, const hub_spec *s, char *out, size_t cap) {
    char repo_dir[HUB_PATH_MAX], main_commit[41];
    hub_repo_dir(e, s->repo, repo_dir, sizeof repo_dir);
    int has_main = hub_read_ref(repo_dir, "main", main_commit) == 0;
    if (has_main && find_in(repo_dir, main_commit, s->sel, out, cap) == 0) return 0;
    /* other snapshots (an older commit, or files placed by hand without refs/main): newest
     * first */
    char snaps[HUB_PATH_MAX + 16];
    hub_path(snaps, sizeof snaps, "%s/snapshots", repo_dir);
    DIR *d = opendir(snaps);
    if (!d) return -1;
    char best[256] = "";
    struct timespec best_t = {0, 0};
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || (has_main && !strcmp(de->d_name, main_commit))) continue;
        char p[HUB_PATH_MAX * 2], tmp[HUB_PATH_MAX];
        hub_path(p, sizeof p, "%s/%s", snaps, de->d_name);
        struct stat st;
        if (stat(p, &st) || !S_ISDIR(st.st_mode) || strlen(de->d_name) >= sizeof best) continue;
        if (find_in(repo_dir, de->d_name, s->sel, tmp, sizeof tmp)) continue;
        if (!best[0] || st.st_mtim.tv_sec > best_t.tv_sec ||
            (st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec > best_t.tv_nsec)) {
            hub_path(best, sizeof best, "%s", de->d_name);
            best_t = st.st_mtim;
        }
    }
    closedir(d);
    if (!best[0]) return -1;
    return find_in(repo_dir, best, s->sel, out, cap);
}
