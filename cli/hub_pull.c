/* hub_pull.c — getting a model into the hub cache: list the repo, choose the GGUF file(s), ask
 * the hub for each one's commit, SHA-256 and size, check the disk, download what is missing into
 * blobs/ETAG.incomplete (resumed, retried), verify it, move it into place and link the snapshot
 * (see hub.h). */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub.h"

typedef struct plan {
    const char *path; /* in the repo */
    hub_meta meta;
    int present; /* blobs/ETAG is there */
    uint64_t partial;
} plan;

static void note(const hub_pull_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(const hub_pull_opts *o, const char *fmt, ...) {
    if (o->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("pull: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* mkdir -p */
static int mkdirs(const char *path) {
    char tmp[HUB_PATH_MAX];
    hub_path(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

/* A path from the hub's listing, safe to use below the snapshot folder. */
static int repo_path_ok(const char *p) {
    if (!*p || *p == '/' || strlen(p) > 1024) return 0;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < ' ' || *c == '\\') return 0;
    const char *s = p;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
        if (!e) return 1;
        s = e + 1;
    }
}

/* An etag or commit used as a file name: letters and digits only. */
static int token_ok(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s)) return 0;
    return 1;
}

static int is_sha256(const char *s) {
    if (strlen(s) != 64) return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s)) return 0;
    return 1;
}

/* An HTTP error from the hub as one line and an exit code. */
static int http_fail(const hub_env *e, const char *repo, const char *file, long status,
                     const char *ec) {
    int auth = status == 401 || status == 403;
    if (!strcmp(ec, "RepoNotFound") || (!ec[0] && status == 404 && !file)) {
        cli_error("%s: no such repository on %s (HTTP %ld): check the name; a private "
                  "repository needs HF_TOKEN",
                  repo, e->endpoint, status);
        return EXIT_LOAD;
    }
    if (!strcmp(ec, "EntryNotFound") || (!ec[0] && status == 404)) {
        cli_error("%s: no file '%s' in the repository (HTTP %ld)", repo, file ? file : "?", status);
        return EXIT_LOAD;
    }
    if (!strcmp(ec, "GatedRepo") || auth) {
        if (!e->token[0])
            cli_error("%s is gated or private (HTTP %ld): accept its terms at %s/%s, then set "
                      "HF_TOKEN to a read token from %s/settings/tokens (or run "
                      "'huggingface-cli login')",
                      repo, status, e->endpoint, repo, e->endpoint);
        else
            cli_error("%s: your Hugging Face token has no access (HTTP %ld): accept the "
                      "repository's terms at %s/%s with the token's account, or check HF_TOKEN",
                      repo, status, e->endpoint, repo);
        return EXIT_LOAD;
    }
    cli_error("%s%s%s: the hub answered HTTP %ld", repo, file ? ": " : "", file ? file : "",
              status);
    return EXIT_RUNTIME;
}

/* The repo's files from /api/models/REPO/tree/main. */
static int list_repo(const hub_env *e, const char *repo, hub_file **out, size_t *n_out) {
    char url[2048], msg[HUB_ERR_SIZE + 64], ec[64];
    hub_path(url, sizeof url, "%s/api/models/%s/tree/main?recursive=true", e->endpoint, repo);
    char *body = NULL;
    long status = 0;
    if (hub_http_get_text(e, url, &body, &status, ec, sizeof ec, msg, sizeof msg)) {
        if (hub_interrupted) return EXIT_INTERRUPTED;
        cli_error("cannot reach %s: %s (HF_HUB_OFFLINE=1 uses only the cache)", e->endpoint, msg);
        return EXIT_RUNTIME;
    }
    if (status != 200) {
        free(body);
        return http_fail(e, repo, NULL, status, ec);
    }
    cJSON *j = cJSON_Parse(body);
    free(body);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        cli_error("%s: the hub's file list is not a JSON array", repo);
        return EXIT_RUNTIME;
    }
    size_t cap = (size_t)cJSON_GetArraySize(j), n = 0;
    hub_file *f = calloc(cap ? cap : 1, sizeof *f);
    if (!f) {
        cJSON_Delete(j);
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "path");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(it, "size");
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(it, "lfs");
        if (!cJSON_IsString(path) || !repo_path_ok(path->valuestring)) continue;
        if (cJSON_IsString(type) && strcmp(type->valuestring, "file")) continue;
        const cJSON *lsize = lfs ? cJSON_GetObjectItemCaseSensitive(lfs, "size") : NULL;
        if (cJSON_IsNumber(lsize)) size = lsize;
        f[n].path = strdup(path->valuestring);
        f[n].size = cJSON_IsNumber(size) && size->valuedouble > 0 ? (uint64_t)size->valuedouble : 0;
        if (!f[n].path) break;
        n++;
    }
    cJSON_Delete(j);
    *out = f;
    *n_out = n;
    return 0;
}

static int exists_regular(const char *p, uint64_t *size) {
    struct stat st;
    if (stat(p, &st) || !S_ISREG(st.st_mode)) return 0;
    if (size) *size = (uint64_t)st.st_size;
    return 1;
}

/* Writes dst atomically (temporary file, then rename). */
static int write_atomic(const char *dst, const char *text) {
    char tmp[HUB_PATH_MAX + 32];
    hub_path(tmp, sizeof tmp, "%s.tmp%d", dst, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, dst)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* snapshots/COMMIT/PATH -> ../../blobs/ETAG (one more ../ per folder in PATH), made under a
 * temporary name and renamed, so the link is whole or absent. */
static int link_snapshot(const char *repo_dir, const char *commit, const char *path,
                         const char *etag) {
    char dst[HUB_PATH_MAX * 2], target[HUB_PATH_MAX], dir[HUB_PATH_MAX * 2];
    hub_path(dst, sizeof dst, "%s/snapshots/%s/%s", repo_dir, commit, path);
    hub_path(dir, sizeof dir, "%s", dst);
    *strrchr(dir, '/') = 0;
    if (mkdirs(dir)) return -1;
    size_t o = 0;
    target[0] = 0;
    o += (size_t)snprintf(target + o, sizeof target - o, "../../");
    for (const char *p = path; *p; p++)
        if (*p == '/') o += (size_t)snprintf(target + o, sizeof target - o, "../");
    hub_path(target + o, sizeof target - o, "blobs/%s", etag);
    char cur[HUB_PATH_MAX];
    ssize_t n = readlink(dst, cur, sizeof cur - 1);
    if (n > 0) {
        cur[n] = 0;
        if (!strcmp(cur, target)) return 0;
    }
    char tmp[HUB_PATH_MAX * 2 + 32];
    hub_path(tmp, sizeof tmp, "%s.tmp%d", dst, (int)getpid());
    unlink(tmp);
    if (symlink(target, tmp)) return -1;
    if (rename(tmp, dst)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Hashes the first `have` bytes of fd (a resumed download's prefix). */
static int hash_prefix(int fd, uint64_t have, sha256_ctx *sha) {
    size_t cap = 4 << 20;
    char *buf = malloc(cap);
    if (!buf) return -1;
    uint64_t off = 0;
    while (off < have && !hub_interrupted) {
        size_t want = have - off < cap ? (size_t)(have - off) : cap;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            return -1;
        }
        sha256_update(sha, buf, (size_t)r);
        off += (uint64_t)r;
    }
    free(buf);
    return hub_interrupted ? -1 : 0;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Downloads one file into blobs/ETAG. Returns 0 or an exit code (error printed). */
static int download(const hub_env *e, const hub_pull_opts *o, const char *repo,
                    const char *repo_dir, plan *p) {
    const hub_meta *m = &p->meta;
    char blobs[HUB_PATH_MAX + 16], locks[HUB_PATH_MAX * 2], lock[HUB_PATH_MAX * 3];
    char blob[HUB_PATH_MAX + 200], part[HUB_PATH_MAX + 220];
    hub_path(blobs, sizeof blobs, "%s/blobs", repo_dir);
    hub_path(locks, sizeof locks, "%s/.locks/%s", e->cache, strrchr(repo_dir, '/') + 1);
    hub_path(lock, sizeof lock, "%s/%s.lock", locks, m->etag);
    hub_path(blob, sizeof blob, "%s/%s", blobs, m->etag);
    hub_path(part, sizeof part, "%s.incomplete", blob);
    if (mkdirs(blobs) || mkdirs(locks)) {
        cli_error("cannot create %s: %s", blobs, strerror(errno));
        return EXIT_RUNTIME;
    }
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) {
        cli_error("cannot create %s: %s", lock, strerror(errno));
        return EXIT_RUNTIME;
    }
    if (flock(lfd, LOCK_EX | LOCK_NB)) {
        note(o, "%s: waiting for another download of this file to finish", p->path);
        while (flock(lfd, LOCK_EX)) {
            if (errno != EINTR || hub_interrupted) {
                int err = errno;
                close(lfd);
                if (!hub_interrupted) {
                    cli_error("cannot lock %s: %s", lock, strerror(err));
                    return EXIT_RUNTIME;
                }
                cli_error("interrupted while waiting for %s", lock);
                return EXIT_INTERRUPTED;
            }
        }
    }
    int rc = 0;
    uint64_t bsize;
    if (exists_regular(blob, &bsize) && (!m->has_size || bsize == m->size)) goto out; /* done */
    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_error("cannot create %s: %s", part, strerror(errno));
        rc = EXIT_RUNTIME;
        goto out;
    }
    struct stat st;
    uint64_t have = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (m->has_size && have > m->size) {
        if (ftruncate(fd, 0) == 0) have = 0;
    }
    int lfs = is_sha256(m->etag);
    sha256_ctx sha;
    sha256_init(&sha);
    if (have && lfs && hash_prefix(fd, have, &sha)) {
        close(fd);
        if (hub_interrupted) {
            cli_error("interrupted; run the command again to resume");
            rc = EXIT_INTERRUPTED;
        } else {
            cli_error("cannot read %s: %s", part, strerror(errno));
            rc = EXIT_RUNTIME;
        }
        goto out;
    }
    char total[32], got[32];
    hub_fmt_size(m->size, total, sizeof total);
    if (have)
        note(o, "%s/%s: resuming at %.0f%% of %s", repo, p->path,
             m->size ? 100.0 * (double)have / (double)m->size : 0.0, total);
    else
        note(o, "%s/%s: downloading %s", repo, p->path, total);
    const char *base = strrchr(p->path, '/');
    hub_progress pg = {base ? base + 1 : p->path, !o->quiet && isatty(2), m->size, 0, 0, 0};
    char msg[HUB_ERR_SIZE + 128];
    int r = HUB_DL_FAIL;
    if (m->has_size && m->size && have == m->size) /* all there: stopped before the check */
        r = HUB_DL_OK;
    for (int attempt = 0; r != HUB_DL_OK; attempt++) {
        r = hub_http_download(e, m->location, fd, &have, &sha, &pg, msg, sizeof msg);
        if (r != HUB_DL_RETRY || attempt >= e->retries) break;
        note(o, "%s: %s; resuming at %.0f%% (retry %d of %d)", p->path, msg,
             m->size ? 100.0 * (double)have / (double)m->size : 0.0, attempt + 1, e->retries);
        sleep_ms(250 * (attempt + 1));
        if (hub_interrupted) {
            r = HUB_DL_INTERRUPTED;
            break;
        }
    }
    if (r == HUB_DL_INTERRUPTED) {
        close(fd);
        hub_fmt_size(have, got, sizeof got);
        cli_error("interrupted: %s of %s kept in %s; run the command again to resume", got, total,
                  part);
        rc = EXIT_INTERRUPTED;
        goto out;
    }
    if (r != HUB_DL_OK) {
        close(fd);
        hub_fmt_size(have, got, sizeof got);
        cli_error("%s/%s: download failed: %s (%s of %s kept; run the command again to resume)",
                  repo, p->path, msg, got, total);
        rc = EXIT_RUNTIME;
        goto out;
    }
    /* verify before the file goes into place */
    if (m->has_size && have != m->size) {
        close(fd);
        unlink(part);
        cli_error("%s/%s: got %llu bytes, the hub says %llu: the partial file was deleted; run "
                  "the command again",
                  repo, p->path, (unsigned long long)have, (unsigned long long)m->size);
        rc = EXIT_RUNTIME;
        goto out;
    }
    if (lfs) {
        uint8_t d[32];
        char hex[65];
        sha256_final(&sha, d);
        sha256_hex(d, hex);
        if (strcasecmp(hex, m->etag)) {
            close(fd);
            unlink(part);
            cli_error("%s/%s: SHA-256 mismatch (the hub says %s, the download is %s): the "
                      "corrupt file was deleted; run the command again",
                      repo, p->path, m->etag, hex);
            rc = EXIT_RUNTIME;
            goto out;
        }
    }
    mode_t um = umask(0);
    umask(um);
    if (fsync(fd) || fchmod(fd, 0666 & ~um) || close(fd) || rename(part, blob)) {
        cli_error("%s: cannot move the download into place: %s", blob, strerror(errno));
        rc = EXIT_RUNTIME;
        goto out;
    }
    note(o, "%s/%s: %s%s", repo, p->path, total, lfs ? ", SHA-256 verified" : "");
out:
    flock(lfd, LOCK_UN);
    close(lfd);
    return rc;
}

static void on_sigint(int sig) {
    (void)sig;
    hub_interrupted = 1;
}

static int pull_online(const hub_env *e, const hub_spec *s, const hub_pull_opts *o, char *out,
                       size_t cap) {
    hub_file *files = NULL;
    size_t n = 0;
    int rc = list_repo(e, s->repo, &files, &n);
    if (rc) return rc;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx), n_idx = 0;
    plan *pl = calloc(n ? n : 1, sizeof *pl);
    char msg[4096];
    char repo_dir[HUB_PATH_MAX];
    hub_repo_dir(e, s->repo, repo_dir, sizeof repo_dir);
    if (!idx || !pl) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
        goto done;
    }
    rc = hub_select(files, n, s->sel, idx, &n_idx, msg, sizeof msg);
    if (rc) {
        cli_error("%s: %s", s->repo, msg);
        goto done;
    }
    /* what the hub says of each file */
    uint64_t need = 0;
    for (size_t k = 0; k < n_idx; k++) {
        plan *p = &pl[k];
        p->path = files[idx[k]].path;
        char enc[2048], url[4096];
        hub_url_path(p->path, enc, sizeof enc);
        hub_path(url, sizeof url, "%s/%s/resolve/main/%s", e->endpoint, s->repo, enc);
        if (hub_http_head(e, url, &p->meta, msg, sizeof msg)) {
            if (hub_interrupted) {
                rc = EXIT_INTERRUPTED;
                cli_error("interrupted");
            } else {
                cli_error("cannot reach %s: %s (HF_HUB_OFFLINE=1 uses only the cache)", e->endpoint,
                          msg);
                rc = EXIT_RUNTIME;
            }
            goto done;
        }
        if (p->meta.status >= 400) {
            rc = http_fail(e, s->repo, p->path, p->meta.status, p->meta.error_code);
            goto done;
        }
        if (!token_ok(p->meta.commit, 64) || !token_ok(p->meta.etag, 128)) {
            cli_error("%s/%s: the hub did not name the file's commit and version "
                      "(X-Repo-Commit, ETag); is HF_ENDPOINT (%s) a Hugging Face hub?",
                      s->repo, p->path, e->endpoint);
            rc = EXIT_RUNTIME;
            goto done;
        }
        if (k && strcmp(p->meta.commit, pl[0].meta.commit)) {
            cli_error("%s: the repository changed while it was read; run the command again",
                      s->repo);
            rc = EXIT_RUNTIME;
            goto done;
        }
        char blob[HUB_PATH_MAX + 200];
        uint64_t have = 0;
        hub_path(blob, sizeof blob, "%s/blobs/%s", repo_dir, p->meta.etag);
        p->present = exists_regular(blob, &have) && (!p->meta.has_size || have == p->meta.size);
        strcat(blob, ".incomplete");
        if (!p->present && exists_regular(blob, &have) && have <= p->meta.size) p->partial = have;
        if (!p->present) need += p->meta.size - p->partial;
    }
    /* room for all of it before any of it */
    if (need) {
        char blobs[HUB_PATH_MAX + 16];
        hub_path(blobs, sizeof blobs, "%s/blobs", repo_dir);
        if (mkdirs(blobs)) {
            cli_error("cannot create %s: %s", blobs, strerror(errno));
            rc = EXIT_RUNTIME;
            goto done;
        }
        struct statvfs vs;
        if (statvfs(blobs, &vs) == 0) {
            uint64_t avail = (uint64_t)vs.f_bavail * (uint64_t)vs.f_frsize;
            if (avail < need) {
                char a[32], b[32];
                hub_fmt_size(need, a, sizeof a);
                hub_fmt_size(avail, b, sizeof b);
                cli_error("not enough disk space for %s: it needs %s, %s is free in %s (set "
                          "HF_HOME or HF_HUB_CACHE to a larger disk)",
                          s->repo, a, b, e->cache);
                rc = EXIT_RUNTIME;
                goto done;
            }
        }
    }
    for (size_t k = 0; k < n_idx; k++) {
        plan *p = &pl[k];
        if (!p->present) {
            rc = download(e, o, s->repo, repo_dir, p);
            if (rc) goto done;
        } else {
            note(o, "%s/%s: already in the cache", s->repo, p->path);
        }
        if (link_snapshot(repo_dir, p->meta.commit, p->path, p->meta.etag)) {
            cli_error("%s/snapshots/%s/%s: cannot link it: %s", repo_dir, p->meta.commit, p->path,
                      strerror(errno));
            rc = EXIT_RUNTIME;
            goto done;
        }
    }
    char refs[HUB_PATH_MAX + 16], ref[HUB_PATH_MAX + 32];
    hub_path(refs, sizeof refs, "%s/refs", repo_dir);
    hub_path(ref, sizeof ref, "%s/main", refs);
    char cur[41];
    if ((hub_read_ref(repo_dir, "main", cur) || strcmp(cur, pl[0].meta.commit)) &&
        (mkdirs(refs) || write_atomic(ref, pl[0].meta.commit))) {
        cli_error("cannot write %s: %s", ref, strerror(errno));
        rc = EXIT_RUNTIME;
        goto done;
    }
    hub_path(out, cap, "%s/snapshots/%s/%s", repo_dir, pl[0].meta.commit, pl[0].path);
done:
    free(idx);
    free(pl);
    hub_files_free(files, n);
    return rc;
}

int hub_pull(const char *spec, const hub_pull_opts *o, char *out, size_t cap) {
    hub_spec s;
    int rc = hub_parse_spec(spec, &s);
    if (rc) return rc;
    hub_env e;
    hub_env_init(&e);
    if ((!o->network || e.offline) && hub_cache_find(&e, &s, out, cap) == 0) return 0;
    if (e.offline) {
        cli_error("%s%s%s is not in the cache (%s) and HF_HUB_OFFLINE is set: unset it to "
                  "download",
                  s.repo, s.sel[0] ? ":" : "", s.sel, e.cache);
        return EXIT_LOAD;
    }
    if (hub_http_init()) return EXIT_RUNTIME;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a blocked wait returns */
    sigemptyset(&sa.sa_mask);
    hub_interrupted = 0;
    sigaction(SIGINT, &sa, &old);
    rc = pull_online(&e, &s, o, out, cap);
    sigaction(SIGINT, &old, NULL);
    hub_http_cleanup();
    if (rc == 0 && hub_interrupted) rc = EXIT_INTERRUPTED;
    return rc;
}
