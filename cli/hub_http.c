/* hub_http.c — the hub's HTTP requests through libcurl: the file listing, the HEAD that names a
 * file's commit, SHA-256 and size, and the resumable GET of its bytes (see hub.h).
 *
 * Redirects are followed here, not by curl, so that the Authorization header goes only to the
 * endpoint's own scheme, host and port: the hub sends large files to a storage host with a signed
 * URL, which must not receive the user's token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub.h"

volatile int hub_interrupted;

#ifdef GPTC_NO_CURL
/* Built without libcurl (scripts/configure.sh found no curl/curl.h, e.g. on a machine where
 * nothing can be installed): models already in the cache work, downloads do not. */
int hub_http_init(void) {
    cli_error("this gptc was built without libcurl, so it cannot download: install "
              "libcurl4-openssl-dev and rebuild (models already in the cache still work)");
    return -1;
}
void hub_http_cleanup(void) {}
int hub_http_get_text(const hub_env *e, const char *url, char **body, long *status,
                      char *error_code, size_t ec_cap, char *msg, size_t msg_cap) {
    (void)e, (void)url, (void)status, (void)error_code, (void)ec_cap;
    *body = NULL;
    snprintf(msg, msg_cap, "built without libcurl");
    return -1;
}
int hub_http_head(const hub_env *e, const char *url, hub_meta *m, char *msg, size_t msg_cap) {
    (void)e, (void)url, (void)m;
    snprintf(msg, msg_cap, "built without libcurl");
    return -1;
}
int hub_http_download(const hub_env *e, const char *url, int fd, uint64_t *have, sha256_ctx *sha,
                      hub_progress *pg, char *msg, size_t msg_cap) {
    (void)e, (void)url, (void)fd, (void)have, (void)sha, (void)pg;
    snprintf(msg, msg_cap, "built without libcurl");
    return HUB_DL_FAIL;
}
#else
#include <curl/curl.h>

#if CURL_ERROR_SIZE > HUB_ERR_SIZE
#error "HUB_ERR_SIZE must hold a libcurl error message"
#endif

int hub_http_init(void) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        cli_error("cannot start libcurl");
        return -1;
    }
    return 0;
}

void hub_http_cleanup(void) {
    curl_global_cleanup();
}

#define MAX_HOPS 10

typedef struct req {
    /* mode */
    int head;         /* HEAD */
    int fd;           /* download into fd (else the body is kept in text) */
    uint64_t *have;   /* download: bytes in fd */
    sha256_ctx *sha;  /* download: hash of fd's bytes */
    hub_progress *pg; /* download: the bar (may be NULL) */
    char *text;       /* text mode: the body */
    size_t text_len, text_cap;
    /* response of the last hop */
    long status;
    char commit[64], linked_etag[128], etag[128], location[4096], error_code[64];
    char content_range[128];
    uint64_t linked_size, content_length;
    int has_linked_size, has_content_length;
    int body_started;
    int write_errno; /* download: a write to fd failed */
    int stalled;     /* no byte for e->timeout_s */
    double stall_ms, last_data_ms;
    curl_off_t last_dn;
    int range_bad; /* download: the 206 did not start where asked */
} req;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void copy_trim(char *dst, size_t cap, const char *v, size_t n) {
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

/* An ETag as a file name: W/ and the quotes removed. */
static void normalize_etag(char *s) {
    if (!strncmp(s, "W/", 2)) memmove(s, s + 2, strlen(s + 2) + 1);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        memmove(s, s + 1, n - 2);
        s[n - 2] = 0;
    }
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *user) {
    req *r = user;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
        /* a new response (after a 100 Continue, say): forget the previous one's headers */
        long status = 0;
        const char *sp = memchr(buf, ' ', n);
        if (sp) status = strtol(sp + 1, NULL, 10);
        r->status = status;
        r->commit[0] = r->linked_etag[0] = r->etag[0] = r->location[0] = 0;
        r->error_code[0] = r->content_range[0] = 0;
        r->has_linked_size = r->has_content_length = 0;
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon) return n;
    size_t kn = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vn = n - kn - 1;
    char tmp[64];
#define IS(name) (kn == strlen(name) && !strncasecmp(buf, name, kn))
    if (IS("X-Repo-Commit"))
        copy_trim(r->commit, sizeof r->commit, v, vn);
    else if (IS("X-Linked-Etag"))
        copy_trim(r->linked_etag, sizeof r->linked_etag, v, vn);
    else if (IS("ETag"))
        copy_trim(r->etag, sizeof r->etag, v, vn);
    else if (IS("Location"))
        copy_trim(r->location, sizeof r->location, v, vn);
    else if (IS("X-Error-Code"))
        copy_trim(r->error_code, sizeof r->error_code, v, vn);
    else if (IS("Content-Range"))
        copy_trim(r->content_range, sizeof r->content_range, v, vn);
    else if (IS("X-Linked-Size")) {
        copy_trim(tmp, sizeof tmp, v, vn);
        r->linked_size = strtoull(tmp, NULL, 10);
        r->has_linked_size = 1;
    } else if (IS("Content-Length")) {
        copy_trim(tmp, sizeof tmp, v, vn);
        r->content_length = strtoull(tmp, NULL, 10);
        r->has_content_length = 1;
    }
#undef IS
    return n;
}

static int ok_status(long s) {
    return s >= 200 && s < 300;
}

/* The first body bytes of a download response: a 206 must start where we asked; a 200 to a
 * Range request means the server sends everything again, so the partial file starts over. */
static int start_body(req *r) {
    r->body_started = 1;
    if (r->status == 206) {
        unsigned long long a = 0;
        if (sscanf(r->content_range, "bytes %llu-", &a) != 1 || a != *r->have) {
            r->range_bad = 1;
            return -1;
        }
    } else if (*r->have) {
        if (ftruncate(r->fd, 0) != 0) {
            r->write_errno = errno;
            return -1;
        }
        *r->have = 0;
        sha256_init(r->sha);
        if (r->pg) r->pg->start = 0;
    }
    return 0;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *user) {
    req *r = user;
    size_t n = size * nmemb;
    if (r->fd < 0) { /* text: keep (bounded) */
        if (r->text_len + n + 1 > r->text_cap) {
            if (r->text_len + n + 1 > (size_t)64 << 20) return 0;
            size_t cap = (r->text_len + n + 1) * 2;
            char *t = realloc(r->text, cap);
            if (!t) return 0;
            r->text = t;
            r->text_cap = cap;
        }
        memcpy(r->text + r->text_len, buf, n);
        r->text_len += n;
        r->text[r->text_len] = 0;
        return n;
    }
    if (!ok_status(r->status)) return n; /* an error page or a redirect's body */
    if (!r->body_started && start_body(r)) return 0;
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(r->fd, buf + done, n - done, (off_t)*r->have);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            r->write_errno = w < 0 ? errno : ENOSPC;
            return 0;
        }
        sha256_update(r->sha, buf + done, (size_t)w);
        *r->have += (uint64_t)w;
        done += (size_t)w;
    }
    return n;
}

static void fmt_duration(double s, char *out, size_t cap) {
    if (s < 0 || s > 99 * 3600)
        snprintf(out, cap, "--");
    else if (s >= 3600)
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(out, cap, "%ds", (int)s);
}

static void draw(hub_progress *pg, uint64_t have) {
    double t = now_ms();
    double el = (t - pg->t0) / 1000;
    double rate = el > 0 ? (double)(have - pg->start) / el : 0;
    char a[32], b[32], rt[32], eta[32];
    hub_fmt_size(have, a, sizeof a);
    hub_fmt_size(pg->total, b, sizeof b);
    hub_fmt_size((uint64_t)rate, rt, sizeof rt);
    fmt_duration(rate > 0 ? (double)(pg->total - (have < pg->total ? have : pg->total)) / rate : -1,
                 eta, sizeof eta);
    double frac = pg->total ? (double)have / (double)pg->total : 0;
    if (frac > 1) frac = 1;
    int w = 20, fill = (int)(frac * w);
    char bar[32];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[w] = 0;
    fprintf(stderr, "\r\033[K%-.28s %3d%% [%s] %s / %s  %s/s  ETA %s", pg->name, (int)(frac * 100),
            bar, a, b, rt, eta);
    fflush(stderr);
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)ut, (void)un;
    req *r = user;
    if (hub_interrupted) return 1;
    double t = now_ms();
    if (dn != r->last_dn) {
        r->last_dn = dn;
        r->last_data_ms = t;
    } else if (t - r->last_data_ms > r->stall_ms) { /* curl's own low-speed check averages over
                                                      seconds; this one is exact */
        r->stalled = 1;
        return 1;
    }
    if (r->pg && r->pg->bar && r->have) {
        if (t - r->pg->last >= 200) {
            r->pg->last = t;
            draw(r->pg, *r->have);
        }
    }
    return 0;
}

/* Same scheme, host and port? (where the token may go) */
static int same_origin(const char *a, const char *b) {
    CURLU *ua = curl_url(), *ub = curl_url();
    int same = 0;
    if (ua && ub && !curl_url_set(ua, CURLUPART_URL, a, 0) &&
        !curl_url_set(ub, CURLUPART_URL, b, 0)) {
        char *sa = NULL, *sb = NULL, *ha = NULL, *hb = NULL, *pa = NULL, *pb = NULL;
        if (!curl_url_get(ua, CURLUPART_SCHEME, &sa, 0) &&
            !curl_url_get(ub, CURLUPART_SCHEME, &sb, 0) &&
            !curl_url_get(ua, CURLUPART_HOST, &ha, 0) &&
            !curl_url_get(ub, CURLUPART_HOST, &hb, 0) &&
            !curl_url_get(ua, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) &&
            !curl_url_get(ub, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT))
            same = !strcasecmp(sa, sb) && !strcasecmp(ha, hb) && !strcmp(pa, pb);
        curl_free(sa), curl_free(sb), curl_free(ha), curl_free(hb), curl_free(pa), curl_free(pb);
    }
    curl_url_cleanup(ua);
    curl_url_cleanup(ub);
    return same;
}

/* Resolves a Location against the URL it came from. 0 ok. */
static int resolve(const char *base, const char *loc, char *out, size_t cap) {
    CURLU *u = curl_url();
    char *s = NULL;
    int rc = -1;
    if (u && !curl_url_set(u, CURLUPART_URL, base, 0) &&
        !curl_url_set(u, CURLUPART_URL, loc, CURLU_ALLOW_SPACE) &&
        !curl_url_get(u, CURLUPART_URL, &s, 0) && strlen(s) < cap) {
        memcpy(out, s, strlen(s) + 1);
        rc = 0;
    }
    curl_free(s);
    curl_url_cleanup(u);
    return rc;
}

static int is_relative(const char *loc) {
    return strncasecmp(loc, "http://", 7) && strncasecmp(loc, "https://", 8);
}

/* One request (no redirect following). Returns the curl code; r->status etc. filled. */
static CURLcode perform(const hub_env *e, const char *url, req *r, char *cerr) {
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(cerr, CURL_ERROR_SIZE, "cannot start libcurl");
        return CURLE_FAILED_INIT;
    }
    struct curl_slist *h = NULL;
    char line[600];
    if (e->token[0] && same_origin(url, e->endpoint)) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", e->token);
        h = curl_slist_append(h, line);
    }
    h = curl_slist_append(h, "Accept-Encoding: identity");
    if (r->fd >= 0 && *r->have) {
        snprintf(line, sizeof line, "Range: bytes=%llu-", (unsigned long long)*r->have);
        h = curl_slist_append(h, line);
    }
    long t = (long)(e->timeout_s + 0.999);
    cerr[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gptc/1.0");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
    if (r->head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    r->status = 0;
    r->body_started = 0;
    r->stalled = 0;
    r->stall_ms = e->timeout_s * 1000;
    r->last_data_ms = now_ms();
    r->last_dn = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_ABORTED_BY_CALLBACK && r->stalled) {
        rc = CURLE_OPERATION_TIMEDOUT;
        snprintf(cerr, CURL_ERROR_SIZE, "no data for %.0f s", e->timeout_s);
    }
    if (r->status == 0) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK && !cerr[0]) snprintf(cerr, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
    return rc;
}

static void init_req(req *r) {
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

int hub_http_get_text(const hub_env *e, const char *url, char **body, long *status,
                      char *error_code, size_t ec_cap, char *msg, size_t msg_cap) {
    char cur[4096], cerr[CURL_ERROR_SIZE];
    snprintf(cur, sizeof cur, "%s", url);
    req r;
    init_req(&r);
    *body = NULL;
    for (int hop = 0;; hop++) {
        r.text_len = 0;
        CURLcode rc = perform(e, cur, &r, cerr);
        if (rc != CURLE_OK) {
            free(r.text);
            snprintf(msg, msg_cap, "%s", hub_interrupted ? "interrupted" : cerr);
            return -1;
        }
        if (r.status >= 300 && r.status < 400 && r.location[0] && hop < MAX_HOPS &&
            resolve(cur, r.location, cur, sizeof cur) == 0)
            continue;
        break;
    }
    *status = r.status;
    snprintf(error_code, ec_cap, "%s", r.error_code);
    if (!r.text) r.text = calloc(1, 1);
    *body = r.text;
    return 0;
}

int hub_http_head(const hub_env *e, const char *url, hub_meta *m, char *msg, size_t msg_cap) {
    char cur[4096], cerr[CURL_ERROR_SIZE];
    snprintf(cur, sizeof cur, "%s", url);
    req r;
    init_req(&r);
    r.head = 1;
    memset(m, 0, sizeof *m);
    for (int hop = 0;; hop++) {
        CURLcode rc = perform(e, cur, &r, cerr);
        if (rc != CURLE_OK) {
            snprintf(msg, msg_cap, "%s", hub_interrupted ? "interrupted" : cerr);
            return -1;
        }
        /* like huggingface_hub: relative redirects (a renamed repo) are followed; an absolute
         * one is where the bytes are */
        if (r.status >= 300 && r.status < 400 && r.location[0] && is_relative(r.location) &&
            hop < MAX_HOPS && resolve(cur, r.location, cur, sizeof cur) == 0)
            continue;
        break;
    }
    m->status = r.status;
    snprintf(m->commit, sizeof m->commit, "%s", r.commit);
    snprintf(m->etag, sizeof m->etag, "%s", r.linked_etag[0] ? r.linked_etag : r.etag);
    normalize_etag(m->etag);
    if (r.has_linked_size) {
        m->size = r.linked_size;
        m->has_size = 1;
    } else if (r.has_content_length && r.status < 300) {
        m->size = r.content_length;
        m->has_size = 1;
    }
    snprintf(m->error_code, sizeof m->error_code, "%s", r.error_code);
    if (r.status >= 300 && r.status < 400 && r.location[0]) {
        if (resolve(cur, r.location, m->location, sizeof m->location)) {
            snprintf(msg, msg_cap, "the hub redirected to a bad URL");
            return -1;
        }
    } else {
        snprintf(m->location, sizeof m->location, "%s", cur);
    }
    return 0;
}

static int transient(CURLcode rc) {
    switch (rc) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_COULDNT_CONNECT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

int hub_http_download(const hub_env *e, const char *url, int fd, uint64_t *have, sha256_ctx *sha,
                      hub_progress *pg, char *msg, size_t msg_cap) {
    char cur[4096], cerr[CURL_ERROR_SIZE];
    snprintf(cur, sizeof cur, "%s", url);
    req r;
    init_req(&r);
    r.fd = fd;
    r.have = have;
    r.sha = sha;
    r.pg = pg;
    if (pg) {
        pg->start = *have;
        pg->t0 = now_ms();
        pg->last = 0;
    }
    for (int hop = 0;; hop++) {
        CURLcode rc = perform(e, cur, &r, cerr);
        if (pg && pg->bar) {
            fputs("\r\033[K", stderr);
            fflush(stderr);
        }
        if (hub_interrupted) {
            snprintf(msg, msg_cap, "interrupted");
            return HUB_DL_INTERRUPTED;
        }
        if (r.write_errno) {
            snprintf(msg, msg_cap, "cannot write the download: %s", strerror(r.write_errno));
            return HUB_DL_FAIL;
        }
        if (r.range_bad) {
            snprintf(msg, msg_cap, "the server resumed at the wrong offset ('%s', asked %llu)",
                     r.content_range, (unsigned long long)*have);
            return HUB_DL_FAIL;
        }
        if (rc != CURLE_OK) {
            snprintf(msg, msg_cap, "%s", cerr);
            return transient(rc) ? HUB_DL_RETRY : HUB_DL_FAIL;
        }
        if (r.status >= 300 && r.status < 400 && r.location[0] && hop < MAX_HOPS) {
            if (resolve(cur, r.location, cur, sizeof cur)) {
                snprintf(msg, msg_cap, "bad redirect to '%s'", r.location);
                return HUB_DL_FAIL;
            }
            continue;
        }
        if (r.status == 416 && *have) { /* the partial file is no prefix of this one */
            if (ftruncate(fd, 0) != 0) {
                snprintf(msg, msg_cap, "cannot truncate the partial file: %s", strerror(errno));
                return HUB_DL_FAIL;
            }
            *have = 0;
            sha256_init(sha);
            if (pg) pg->start = 0;
            continue;
        }
        if (!ok_status(r.status)) {
            snprintf(msg, msg_cap, "the server answered HTTP %ld", r.status);
            return r.status >= 500 ? HUB_DL_RETRY : HUB_DL_FAIL;
        }
        if (!r.body_started && *have && r.status == 200) {
            /* an empty 200 to a Range request: the file is empty */
            if (ftruncate(fd, 0) == 0) {
                *have = 0;
                sha256_init(sha);
            }
        }
        return HUB_DL_OK;
    }
}

#endif /* GPTC_NO_CURL */

void hub_url_path(const char *path, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < cap; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.~/", *p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = 0;
}
