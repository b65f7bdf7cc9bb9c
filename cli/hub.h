/* hub.h — models from the Hugging Face hub: `gptc pull`, `-hf REPO[:FILE-OR-QUANT]`,
 * `gptc models`, `gptc rm`.
 *
 * The cache is huggingface_hub's own layout, so files fetched by huggingface-cli or llama.cpp
 * are found and not downloaded twice:
 *   CACHE/models--ORG--NAME/blobs/ETAG              the file's bytes (ETAG: the SHA-256 of an LFS
 *                                                   file, the git blob id of a small one)
 *   CACHE/models--ORG--NAME/blobs/ETAG.incomplete   a download under way (resumed with Range)
 *   CACHE/models--ORG--NAME/snapshots/COMMIT/PATH   relative symlink to ../../blobs/ETAG
 *   CACHE/models--ORG--NAME/refs/main               the commit `main` pointed at (no newline)
 *   CACHE/.locks/models--ORG--NAME/ETAG.lock        flock while a blob is written
 * CACHE: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub.
 *
 * Errors print one "gptc: error: ..." line and return an exit code (cli.h): 1 a bad REPO spec,
 * 2 the repo/file is not there, is gated, or no GGUF file matches, 3 network, disk or
 * verification failures, 130 interrupted. */
#ifndef GPTC_CLI_HUB_H
#define GPTC_CLI_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "cli/sha256.h"

#define HUB_PATH_MAX 4096

/* --- where things are (environment) --------------------------------------------------------- */
typedef struct hub_env {
    char cache[HUB_PATH_MAX]; /* the hub cache folder */
    char endpoint[1024];      /* $HF_ENDPOINT, default https://huggingface.co (no trailing /) */
    char token[512];          /* $HF_TOKEN, else the token file; "" = none */
    int offline;              /* $HF_HUB_OFFLINE=1: the cache only */
    double timeout_s;         /* $GPTC_HUB_TIMEOUT: connect / stall limit (default 60 s) */
    int retries;              /* $GPTC_HUB_RETRIES: retries of a broken transfer (default 3) */
} hub_env;

void hub_env_init(hub_env *e);
/* snprintf for paths: 0, or -1 when the result did not fit (and was cut). */
int hub_path(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- what was asked for ---------------------------------------------------------------------- */
typedef struct hub_spec {
    char repo[200]; /* ORG/NAME */
    char sel[256];  /* FILE.gguf, a quant tag (Q4_K_M, mxfp4), or "" for the default */
} hub_spec;

/* Parses "ORG/NAME[:SEL]" or a short name (gpt-oss-20b, gpt-oss-120b, gpt-oss:20b, ...).
 * Returns 0, or EXIT_USAGE after one error line. */
int hub_parse_spec(const char *s, hub_spec *out);

/* --- choosing the GGUF file(s) of a repo ----------------------------------------------------- */
typedef struct hub_file {
    char *path;    /* path inside the repo */
    uint64_t size; /* bytes (0 when unknown) */
} hub_file;

/* Picks the model among files[0..n) for sel (see hub_spec): a split model's every shard, in
 * order. On success returns 0 and sets idx[0..*n_idx) (idx has room for n entries). Otherwise
 * returns EXIT_LOAD and writes why into msg (no "gptc: error:" prefix, not printed). */
int hub_select(const hub_file *files, size_t n, const char *sel, size_t *idx, size_t *n_idx,
               char *msg, size_t msg_cap);
/* Split shard name: "NAME-00002-of-00003.gguf" -> 1 with *index = 2, *count = 3 (else 0). */
int hub_split_name(const char *path, int *index, int *count);

/* --- the cache ------------------------------------------------------------------------------- */
/* CACHE/models--ORG--NAME into out. */
void hub_repo_dir(const hub_env *e, const char *repo, char *out, size_t cap);
/* Reads refs/REF of a repo folder: 0 and the commit in out[41], -1 when absent. */
int hub_read_ref(const char *repo_dir, const char *ref, char commit[41]);
/* Every file below repo_dir/snapshots/commit whose link resolves (paths relative to the
 * snapshot), malloc'd; *n files. Returns 0 (n may be 0). Free with hub_files_free. */
int hub_snapshot_files(const char *repo_dir, const char *commit, hub_file **out, size_t *n);
void hub_files_free(hub_file *f, size_t n);
/* Looks for sel in the cache without the network: refs/main's snapshot first, then the others.
 * Returns 0 and the path of the model (its first shard) in out; -1 when not cached. */
int hub_cache_find(const hub_env *e, const hub_spec *s, char *out, size_t cap);

/* --- HTTP (libcurl) ------------------------------------------------------------------------- */
/* Room for a transfer error message. */
#define HUB_ERR_SIZE 512
/* Starts libcurl: 0, or -1 after an error line (a build without libcurl: GPTC_NO_CURL). */
int hub_http_init(void);
void hub_http_cleanup(void);
typedef struct hub_meta {
    long status;     /* final HTTP status of the HEAD */
    char commit[64]; /* X-Repo-Commit */
    char etag[128];  /* X-Linked-Etag, else ETag; quotes and W/ removed */
    uint64_t size;   /* X-Linked-Size, else Content-Length */
    int has_size;
    char location[4096]; /* where to GET the bytes (the redirect target, or the resolve URL) */
    char error_code[64]; /* X-Error-Code (GatedRepo, RepoNotFound, EntryNotFound, ...) */
} hub_meta;

/* Percent-encodes a repo path for a URL (keeps '/'). */
void hub_url_path(const char *path, char *out, size_t cap);
/* GET url into a malloc'd NUL-terminated body; *status the HTTP status. 0, or -1 with a
 * transport error in msg. */
int hub_http_get_text(const hub_env *e, const char *url, char **body, long *status,
                      char *error_code, size_t ec_cap, char *msg, size_t msg_cap);
/* HEAD url (relative redirects followed, others not). 0, or -1 with a transport error in msg. */
int hub_http_head(const hub_env *e, const char *url, hub_meta *m, char *msg, size_t msg_cap);

typedef struct hub_progress {
    const char *name; /* shown in the bar */
    int bar;          /* draw a bar on stderr */
    uint64_t total;   /* expected size */
    double t0;        /* start (ms) */
    uint64_t start;   /* bytes present when this transfer began (resume) */
    double last;      /* last redraw (ms) */
} hub_progress;

/* Transfer outcome */
enum { HUB_DL_OK = 0, HUB_DL_RETRY = 1, HUB_DL_FAIL = 2, HUB_DL_INTERRUPTED = 3 };
/* GETs url into fd from byte *have on (Range), following redirects; the Authorization header
 * goes only to the endpoint's own host. Hashes what it writes into sha (reset when the server
 * ignores the Range and sends everything). Updates *have. HUB_DL_RETRY: a broken transfer worth
 * resuming. */
int hub_http_download(const hub_env *e, const char *url, int fd, uint64_t *have, sha256_ctx *sha,
                      hub_progress *pg, char *msg, size_t msg_cap);
/* Set by SIGINT while a download runs (hub_pull installs the handler). */
extern volatile int hub_interrupted;

/* --- pull ------------------------------------------------------------------------------------ */
typedef struct hub_pull_opts {
    int quiet;   /* no messages (errors still printed) */
    int network; /* 1: ask the hub even when the cache has the model (gptc pull) */
} hub_pull_opts;

/* The model for spec: from the cache when it is there (unless o->network), else downloaded.
 * Returns 0 and the path of the model (its first shard) in out, or an exit code after one error
 * line. */
int hub_pull(const char *spec, const hub_pull_opts *o, char *out, size_t cap);

/* Human-readable size: "12.1 GB", "850 MB", "4.0 kB", "12 B". */
void hub_fmt_size(uint64_t bytes, char *out, size_t cap);

#endif
