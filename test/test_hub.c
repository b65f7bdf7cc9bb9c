/* test_hub.c — `gptc pull`, `-hf`, `gptc models`, `gptc rm` against a stand-in for the Hugging
 * Face hub on 127.0.0.1 (test/tools/hub_server.py, started here and stopped at the end; it also
 * stops by itself). Checks the cache against huggingface_hub's layout, resume after a cut and
 * across runs, corruption caught, gated repos, 404s, a stalled server, the disk-space check, a
 * second pull that downloads nothing, files placed by hand found offline, and generation end to
 * end with -hf. Also SHA-256 against the FIPS 180-4 examples, the spec parser and file choice.
 *
 * Expected values come from elsewhere: file bytes are compared with the served originals, blob
 * names with coreutils' sha256sum, request counts with the server's own log. */
#include <cJSON.h>
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hub.h"
#include "cli/sha256.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512], oss[512];
/* tiny-gpt2-s1 written as gguf-split shards (split_n of them, split_dir/s-0000k-of-0000n) */
static char split_dir[700];
static int split_n;       /* tiny models from the generator */
static char root[600];    /* the server's repos */
static char endpoint[64]; /* http://127.0.0.1:PORT */
static pid_t server_pid;
static int home_seq;

/* ---- fixtures ------------------------------------------------------------------------------- */

/* snprintf for the test's paths and commands (buffers are sized for them) */
static void sfmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "test_hub: path too long: %s\n", out);
        exit(1);
    }
}

static void die(const char *what) {
    fprintf(stderr, "test_hub: %s\n", what);
    exit(1);
}

static void put_random(const char *path, size_t n, unsigned seed) {
    unsigned char *b = malloc(n);
    if (!b) die("out of memory");
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (unsigned char)(x >> 16);
    }
    if (tu_write_file(path, b, n)) die(path);
    free(b);
}

static void mkdir_p(const char *path) {
    char cmd[1200];
    sfmt(cmd, sizeof cmd, "mkdir -p '%s'", path);
    if (system(cmd)) die(cmd);
}

/* ROOT/org/name/file from a random fill (or a link to `from`). */
static void repo_file(const char *repo, const char *file, size_t n, unsigned seed,
                      const char *from) {
    char dir[1200], path[1400];
    sfmt(path, sizeof path, "%s/%s/%s", root, repo, file);
    sfmt(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    mkdir_p(dir);
    if (from) {
        char abs[1024];
        if (!realpath(from, abs) || symlink(abs, path)) die(path);
    } else {
        put_random(path, n, seed);
    }
}

static void repo_conf(const char *repo, const char *json) {
    char path[1200];
    sfmt(path, sizeof path, "%s/%s.json", root, repo);
    if (tu_write_file(path, json, strlen(json))) die(path);
}

static void start_server(void) {
    char port_file[700];
    sfmt(port_file, sizeof port_file, "%s/port", root);
    server_pid = fork();
    if (server_pid < 0) die("fork");
    if (server_pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        execlp("python3", "python3", "test/tools/hub_server.py", "--root", root, "--port-file",
               port_file, "--lifetime", "600", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        char *p = tu_read_file(port_file, NULL);
        if (p) {
            sfmt(endpoint, sizeof endpoint, "http://127.0.0.1:%d", atoi(p));
            free(p);
            return;
        }
        usleep(50000);
    }
    die("the hub server did not start (python3 test/tools/hub_server.py)");
}

static void stop_server(void) {
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

static int count_lines_of(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* A fresh HF_HOME for one test. */
static void new_home(char *out, size_t cap) {
    sfmt(out, cap, "%s/home%d-%d", tu_tmpdir(), (int)getpid(), home_seq++);
    mkdir_p(out);
}

/* Runs "gptc ARGS" with HF_HOME=home, HF_ENDPOINT=the server (or ep), extra env first. */
static void run_gptc(tu_proc *p, const char *home, const char *env, double timeout, const char *fmt,
                     ...) {
    char args[3000], cmd[5000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    sfmt(cmd, sizeof cmd,
         "env -u HF_TOKEN -u HUGGING_FACE_HUB_TOKEN -u HF_TOKEN_PATH -u HF_HUB_CACHE "
         "-u HUGGINGFACE_HUB_CACHE -u HF_HUB_OFFLINE -u XDG_CACHE_HOME -u http_proxy "
         "-u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u all_proxy "
         "NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost "
         "HF_HOME='%s' HF_ENDPOINT='%s' GPTC_HUB_TIMEOUT=10 %s %s %s",
         home, endpoint, env ? env : "", tu_gptc(), args);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, timeout, p), 0);
}

/* Requests in the server's log: how many with this method whose path starts with prefix (and,
 * when want_range, carry a Range header); *auth counts those with an Authorization header. */
static int count_requests(const char *method, const char *prefix, int want_range, int *auth) {
    char path[700];
    sfmt(path, sizeof path, "%s/requests.log", root);
    char *log = tu_read_file(path, NULL);
    int n = 0;
    if (auth) *auth = 0;
    if (!log) return 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        ck_assert_ptr_nonnull(j);
        const cJSON *m = cJSON_GetObjectItem(j, "method"), *p = cJSON_GetObjectItem(j, "path");
        const cJSON *r = cJSON_GetObjectItem(j, "range"),
                    *a = cJSON_GetObjectItem(j, "authorization");
        if (!strcmp(m->valuestring, method) && !strncmp(p->valuestring, prefix, strlen(prefix)) &&
            (!want_range || cJSON_IsString(r))) {
            n++;
            if (auth && cJSON_IsString(a)) (*auth)++;
        }
        cJSON_Delete(j);
    }
    free(log);
    return n;
}

/* sha256sum's answer for a file (coreutils: independent of cli/sha256.c). */
static void coreutils_sha(const char *file, char out[65]) {
    char cmd[1200];
    tu_proc p;
    sfmt(cmd, sizeof cmd, "sha256sum '%s'", file);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_int_eq(p.status, 0);
    ck_assert_uint_ge(p.out_len, 64);
    memcpy(out, p.out, 64);
    out[64] = 0;
    tu_proc_free(&p);
}

static int same_bytes(const char *a, const char *b) {
    size_t na, nb;
    char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static int count_files(const char *dir, const char *pattern) {
    char cmd[1400];
    tu_proc p;
    sfmt(cmd, sizeof cmd, "find '%s' -name '%s' 2>/dev/null | wc -l", dir, pattern);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 30, &p), 0);
    int n = atoi(p.out);
    tu_proc_free(&p);
    return n;
}

/* The repo folder of a home. */
static void cache_dir(char *out, size_t cap, const char *home, const char *org, const char *name) {
    sfmt(out, cap, "%s/hub/models--%s--%s", home, org, name);
}

/* ---- SHA-256 (FIPS 180-4 examples) --------------------------------------------------------- */

static void sha_hex_of(const void *d, size_t n, char hex[65]) {
    sha256_ctx c;
    uint8_t dg[32];
    sha256_init(&c);
    sha256_update(&c, d, n);
    sha256_final(&c, dg);
    sha256_hex(dg, hex);
}

START_TEST(test_sha256_vectors) {
    char hex[65];
    sha_hex_of("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha_hex_of("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex_of(m2, strlen(m2), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m3 =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
        "klmnopqrlmnopqrsmnopqrstnopqrstu";
    sha_hex_of(m3, strlen(m3), hex);
    ck_assert_str_eq(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* one million 'a', fed in uneven pieces */
    sha256_ctx c;
    uint8_t dg[32];
    char a[997];
    memset(a, 'a', sizeof a);
    sha256_init(&c);
    size_t left = 1000000, k = 1;
    while (left) {
        size_t n = k % sizeof a + 1;
        if (n > left) n = left;
        sha256_update(&c, a, n);
        left -= n;
        k = k * 7 + 3;
    }
    sha256_final(&c, dg);
    sha256_hex(dg, hex);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(test_sha256_matches_coreutils) {
    /* every length around the 55/56/64-byte padding edges, against sha256sum */
    char path[700], hex[65], ref[65];
    sfmt(path, sizeof path, "%s/shaedge", tu_tmpdir());
    static const size_t lens[] = {1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        put_random(path, lens[i], (unsigned)i + 7);
        size_t n;
        char *d = tu_read_file(path, &n);
        ck_assert_ptr_nonnull(d);
        sha_hex_of(d, n, hex);
        free(d);
        coreutils_sha(path, ref);
        ck_assert_str_eq(hex, ref);
    }
}
END_TEST

/* ---- the environment, as huggingface_hub reads it ------------------------------------------ */

START_TEST(test_env) {
    static const char *vars[] = {
        "HF_HOME",  "HF_HUB_CACHE",  "HUGGINGFACE_HUB_CACHE",  "XDG_CACHE_HOME", "HF_ENDPOINT",
        "HF_TOKEN", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HOME"};
    char *saved[sizeof vars / sizeof *vars];
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(vars[i]);
    }
    hub_env e;
    setenv("HOME", "/home/u", 1);
    hub_env_init(&e);
    ck_assert_str_eq(e.cache, "/home/u/.cache/huggingface/hub");
    ck_assert_str_eq(e.endpoint, "https://huggingface.co");
    ck_assert_str_eq(e.token, "");
    ck_assert_int_eq(e.offline, 0);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    hub_env_init(&e);
    ck_assert_str_eq(e.cache, "/xdg/huggingface/hub");
    setenv("HF_HOME", "~/hf", 1);
    hub_env_init(&e);
    ck_assert_str_eq(e.cache, "/home/u/hf/hub");
    setenv("HF_HOME", "/hf", 1);
    hub_env_init(&e);
    ck_assert_str_eq(e.cache, "/hf/hub");
    setenv("HF_HUB_CACHE", "/cache", 1);
    setenv("HF_ENDPOINT", "http://mirror.example:8080//", 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    hub_env_init(&e);
    ck_assert_str_eq(e.cache, "/cache");
    ck_assert_str_eq(e.endpoint, "http://mirror.example:8080");
    ck_assert_int_eq(e.offline, 1);
    /* the token: HF_TOKEN, else HF_TOKEN_PATH's file, else $HF_HOME/token (trimmed) */
    char tok[700];
    sfmt(tok, sizeof tok, "%s/tokfile", tu_tmpdir());
    ck_assert_int_eq(tu_write_file(tok, "  hf_fromfile \n", 15), 0);
    setenv("HF_TOKEN_PATH", tok, 1);
    hub_env_init(&e);
    ck_assert_str_eq(e.token, "hf_fromfile");
    setenv("HF_TOKEN", "hf_fromenv", 1);
    hub_env_init(&e);
    ck_assert_str_eq(e.token, "hf_fromenv");
    setenv("HF_TOKEN", "bad token", 1); /* would break the header: dropped */
    hub_env_init(&e);
    ck_assert_str_eq(e.token, "");
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
        free(saved[i]);
    }
    /* the repo folder name */
    char dir[HUB_PATH_MAX];
    sfmt(e.cache, sizeof e.cache, "/c");
    hub_repo_dir(&e, "ggml-org/gpt-oss-20b-GGUF", dir, sizeof dir);
    ck_assert_str_eq(dir, "/c/models--ggml-org--gpt-oss-20b-GGUF");
}
END_TEST

/* ---- specs and file choice ------------------------------------------------------------------ */

START_TEST(test_parse_spec) {
    hub_spec s;
    ck_assert_int_eq(hub_parse_spec("gpt-oss-20b", &s), 0);
    ck_assert_str_eq(s.repo, "ggml-org/gpt-oss-20b-GGUF");
    ck_assert_str_eq(s.sel, "");
    ck_assert_int_eq(hub_parse_spec("gpt-oss-120b", &s), 0);
    ck_assert_str_eq(s.repo, "ggml-org/gpt-oss-120b-GGUF");
    ck_assert_int_eq(hub_parse_spec("gpt-oss:20b", &s), 0);
    ck_assert_str_eq(s.repo, "ggml-org/gpt-oss-20b-GGUF");
    ck_assert_int_eq(hub_parse_spec("unsloth/gpt-oss-20b-GGUF:Q4_K_M", &s), 0);
    ck_assert_str_eq(s.repo, "unsloth/gpt-oss-20b-GGUF");
    ck_assert_str_eq(s.sel, "Q4_K_M");
    ck_assert_int_eq(hub_parse_spec("a/b:sub/x.gguf", &s), 0);
    ck_assert_str_eq(s.sel, "sub/x.gguf");
    /* bad: each one error line (not shown here), exit 1 */
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    close(null);
    static const char *bad[] = {"noslash", "a/b/c",   "/b",       "a/",
                                "../x",    "a/..",    "a/b:../x", "a/b:/etc/passwd",
                                "a b/c",   "a/b:x y", "-a/b",     "a--b/c"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(hub_parse_spec(bad[i], &s) == EXIT_USAGE, "%s accepted", bad[i]);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}
END_TEST

static int pick(const char **names, size_t n, const char *sel, size_t *idx, size_t *n_idx) {
    hub_file f[16];
    for (size_t i = 0; i < n; i++) f[i] = (hub_file){(char *)names[i], 1};
    char msg[1024];
    return hub_select(f, n, sel, idx, n_idx, msg, sizeof msg);
}

START_TEST(test_select) {
    const char *files[] = {"README.md",
                           "m-Q8_0.gguf",
                           "Q4_K_M/m-Q4_K_M-00002-of-00003.gguf",
                           "Q4_K_M/m-Q4_K_M-00001-of-00003.gguf",
                           "Q4_K_M/m-Q4_K_M-00003-of-00003.gguf",
                           "m-Q4_K.gguf",
                           "mmproj-F16.gguf"};
    size_t n = sizeof files / sizeof *files, idx[16], k;
    /* no choice: Q4_K_M when there are several; the split's shards in order */
    ck_assert_int_eq(pick(files, n, "", idx, &k), 0);
    ck_assert_uint_eq(k, 3);
    ck_assert_uint_eq(idx[0], 3);
    ck_assert_uint_eq(idx[1], 2);
    ck_assert_uint_eq(idx[2], 4);
    ck_assert_int_eq(pick(files, n, "q8_0", idx, &k), 0); /* tags ignore case */
    ck_assert_uint_eq(k, 1);
    ck_assert_uint_eq(idx[0], 1);
    ck_assert_int_eq(pick(files, n, "Q4_K", idx, &k), 0); /* not Q4_K_M */
    ck_assert_uint_eq(k, 1);
    ck_assert_uint_eq(idx[0], 5);
    /* a shard's name brings the whole model */
    ck_assert_int_eq(pick(files, n, "m-Q4_K_M-00003-of-00003.gguf", idx, &k), 0);
    ck_assert_uint_eq(k, 3);
    ck_assert_uint_eq(idx[0], 3);
    ck_assert_int_eq(pick(files, n, "F16", idx, &k), EXIT_LOAD); /* mmproj is no model */
    ck_assert_int_eq(pick(files, n, "nothere.gguf", idx, &k), EXIT_LOAD);
    /* a missing shard */
    const char *broken[] = {"x-00001-of-00002.gguf"};
    ck_assert_int_eq(pick(broken, 1, "", idx, &k), EXIT_LOAD);
    /* one GGUF: taken whatever its name */
    const char *one[] = {"README.md", "gpt-oss-20b-mxfp4.gguf"};
    ck_assert_int_eq(pick(one, 2, "", idx, &k), 0);
    ck_assert_uint_eq(idx[0], 1);
    ck_assert_int_eq(pick(one, 2, "mxfp4", idx, &k), 0);
    /* several, none Q4_K_M, no choice: refused */
    const char *two[] = {"a-Q8_0.gguf", "a-F16.gguf"};
    ck_assert_int_eq(pick(two, 2, "", idx, &k), EXIT_LOAD);
    const char *none[] = {"README.md"};
    ck_assert_int_eq(pick(none, 1, "", idx, &k), EXIT_LOAD);
    int a, c;
    ck_assert_int_eq(hub_split_name("x-00002-of-00003.gguf", &a, &c), 1);
    ck_assert_int_eq(a, 2);
    ck_assert_int_eq(c, 3);
    ck_assert_int_eq(hub_split_name("x-00004-of-00003.gguf", &a, &c), 0);
    ck_assert_int_eq(hub_split_name("x-0002-of-00003.gguf", &a, &c), 0);
}
END_TEST

/* ---- against the server --------------------------------------------------------------------- */

START_TEST(test_pull_layout_and_noop) {
    char home[700], dir[900], snap[1200], blob[1200], sha[65], orig[900];
    new_home(home, sizeof home);
    tu_proc p;
    run_gptc(&p, home, NULL, 60, "pull test-org/tiny-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    /* stdout: the snapshot path; it is a relative link to ../../blobs/SHA256 */
    sfmt(orig, sizeof orig, "%s/test-org/tiny-GGUF/tiny-gpt2-F32.gguf", root);
    coreutils_sha(orig, sha);
    cache_dir(dir, sizeof dir, home, "test-org", "tiny-GGUF");
    char *nl = strchr(p.out, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    ck_assert_msg(!strncmp(p.out, dir, strlen(dir)), "%s", p.out);
    char target[600];
    ssize_t tn = readlink(p.out, target, sizeof target - 1);
    ck_assert_int_gt(tn, 0);
    target[tn] = 0;
    char want[200];
    sfmt(want, sizeof want, "../../blobs/%s", sha);
    ck_assert_str_eq(target, want);
    ck_assert(same_bytes(p.out, orig));
    /* refs/main holds the snapshot's commit, no newline */
    sfmt(snap, sizeof snap, "%s/refs/main", dir);
    char *ref = tu_read_file(snap, NULL);
    ck_assert_ptr_nonnull(ref);
    ck_assert_uint_eq(strlen(ref), 40);
    sfmt(blob, sizeof blob, "%s/snapshots/%s/tiny-gpt2-F32.gguf", dir, ref);
    ck_assert_str_eq(p.out, blob);
    free(ref);
    ck_assert_int_eq(count_files(dir, "*.incomplete"), 0);
    tu_proc_free(&p);
    int gets = count_requests("GET", "/storage/test-org/tiny-GGUF/", 0, NULL);
    ck_assert_int_ge(gets, 1);
    /* a second pull asks the hub (HEAD) but downloads nothing */
    run_gptc(&p, home, NULL, 60, "pull test-org/tiny-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "already in the cache"));
    tu_proc_free(&p);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/tiny-GGUF/", 0, NULL), gets);
    /* offline, pull answers from the cache */
    int heads = count_requests("HEAD", "/test-org/tiny-GGUF/", 0, NULL);
    run_gptc(&p, home, "HF_HUB_OFFLINE=1", 60, "pull test-org/tiny-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    ck_assert_int_eq(count_requests("HEAD", "/test-org/tiny-GGUF/", 0, NULL), heads);
    /* and -hf uses the cache without asking at all: the endpoint is a closed port */
    char env[200];
    sfmt(env, sizeof env, "HF_ENDPOINT=http://127.0.0.1:1");
    run_gptc(&p, home, env, 60, "inspect -hf test-org/tiny-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "gpt2"));
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_end_to_end_generate) {
    char home[700];
    new_home(home, sizeof home);
    tu_proc p, ref;
    /* the short name, resolved against the stand-in hub, then generation */
    run_gptc(&p, home, NULL, 120, "-hf gpt-oss-20b -p Hello -n 4 --temp 0 -s 1");
    ck_assert_msg(p.status == 0, "%s", p.err);
    run_gptc(&ref, home, NULL, 120, "-m %s -p Hello -n 4 --temp 0 -s 1", oss);
    ck_assert_int_eq(ref.status, 0);
    ck_assert_str_eq(p.out, ref.out);
    tu_proc_free(&p);
    tu_proc_free(&ref);
    /* ORG/REPO with a quant tag; the same text as from the file itself */
    run_gptc(&p, home, NULL, 120, "-hf test-org/tiny-GGUF:F32 -p Hello -n 6 --temp 0 -s 1 -q");
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_str_eq(p.err, "");
    run_gptc(&ref, home, NULL, 120, "-m %s -p Hello -n 6 --temp 0 -s 1", g2);
    ck_assert_str_eq(p.out, ref.out);
    tu_proc_free(&p);
    tu_proc_free(&ref);
    /* the other model-taking commands */
    run_gptc(&p, home, NULL, 120, "bench -hf test-org/tiny-GGUF -p 8 -n 4 -r 1");
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    run_gptc(&p, home, NULL, 120, "chat -hf test-org/tiny-GGUF -n 2 -q < /dev/null");
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_split_and_quant) {
    char home[700], dir[900];
    new_home(home, sizeof home);
    tu_proc p;
    /* several GGUFs: no choice means Q4_K_M, here split in three: all three come */
    run_gptc(&p, home, NULL, 60, "pull test-org/multi-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "m-Q4_K_M-00001-of-00003.gguf"));
    tu_proc_free(&p);
    cache_dir(dir, sizeof dir, home, "test-org", "multi-GGUF");
    ck_assert_int_eq(count_files(dir, "m-Q4_K_M-0000?-of-00003.gguf"), 3);
    for (int i = 1; i <= 3; i++) {
        char a[1200], b[1200], *r;
        sfmt(a, sizeof a, "%s/refs/main", dir);
        r = tu_read_file(a, NULL);
        ck_assert_ptr_nonnull(r);
        sfmt(a, sizeof a, "%s/snapshots/%s/Q4_K_M/m-Q4_K_M-0000%d-of-00003.gguf", dir, r, i);
        sfmt(b, sizeof b, "%s/test-org/multi-GGUF/Q4_K_M/m-Q4_K_M-0000%d-of-00003.gguf", root, i);
        free(r);
        ck_assert_msg(same_bytes(a, b), "shard %d", i);
        char t[300];
        ssize_t n = readlink(a, t, sizeof t - 1);
        ck_assert_int_gt(n, 0);
        t[n] = 0;
        ck_assert_msg(!strncmp(t, "../../../blobs/", 15), "%s", t); /* one folder deeper */
    }
    /* :Q8_0 picks the single file */
    run_gptc(&p, home, NULL, 60, "pull test-org/multi-GGUF:Q8_0");
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "/m-Q8_0.gguf"));
    tu_proc_free(&p);
    /* no match: exit 2, the files named */
    run_gptc(&p, home, NULL, 60, "pull test-org/multi-GGUF:IQ2_XXS");
    ck_assert_int_eq(p.status, 2);
    ck_assert_ptr_nonnull(strstr(p.err, "m-Q8_0.gguf"));
    ck_assert_int_eq(count_lines_of(p.err), 1);
    tu_proc_free(&p);
    /* models lists both, with sizes; rm of one file, then of the repo */
    run_gptc(&p, home, NULL, 60, "models");
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_nonnull(strstr(p.out, "test-org/multi-GGUF"));
    ck_assert_ptr_nonnull(strstr(p.out, "(3 of 3 shards)"));
    ck_assert_ptr_nonnull(strstr(p.out, "m-Q8_0.gguf"));
    ck_assert_ptr_nonnull(strstr(p.out, "30.0 kB")); /* 3 x 10000 bytes */
    tu_proc_free(&p);
    run_gptc(&p, home, NULL, 60, "rm test-org/multi-GGUF:Q8_0");
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    ck_assert_int_eq(count_files(dir, "m-Q8_0.gguf"), 0);
    ck_assert_int_eq(count_files(dir, "m-Q4_K_M-0000?-of-00003.gguf"), 3);
    char blobs[1000];
    sfmt(blobs, sizeof blobs, "%s/blobs", dir);
    ck_assert_int_eq(count_files(blobs, "*"), 4); /* the folder and three shards */
    run_gptc(&p, home, NULL, 60, "rm test-org/multi-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    struct stat st;
    ck_assert_int_ne(stat(dir, &st), 0);
    run_gptc(&p, home, NULL, 60, "rm test-org/multi-GGUF");
    ck_assert_int_eq(p.status, 2);
    tu_proc_free(&p);
}
END_TEST

/* A model published as gguf-split shards: pulled whole, loaded by -hf through its first shard
 * (the others found next to it in the snapshot), the same text as the unsplit file. */
START_TEST(test_split_model_loads) {
    char home[700];
    new_home(home, sizeof home);
    tu_proc p, ref;
    run_gptc(&p, home, NULL, 60, "pull test-org/split-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    run_gptc(&p, home, NULL, 120, "-hf test-org/split-GGUF -p Hello -n 6 --temp 0 -s 1 -q");
    ck_assert_msg(p.status == 0, "%s", p.err);
    run_gptc(&ref, home, NULL, 120, "-m %s -p Hello -n 6 --temp 0 -s 1 -q", g2);
    ck_assert_uint_gt(ref.out_len, 0);
    ck_assert_str_eq(p.out, ref.out);
    tu_proc_free(&p);
    tu_proc_free(&ref);
    run_gptc(&p, home, NULL, 60, "inspect -hf test-org/split-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    char want[64];
    sfmt(want, sizeof want, "shards: %d files", split_n);
    ck_assert_msg(strstr(p.out, want), "%s", p.out);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_cut_resumes) {
    char home[700], dir[900], orig[900];
    new_home(home, sizeof home);
    tu_proc p;
    run_gptc(&p, home, NULL, 60, "pull test-org/cut-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "resuming at 50%"));
    *strchr(p.out, '\n') = 0;
    sfmt(orig, sizeof orig, "%s/test-org/cut-GGUF/cut.gguf", root);
    ck_assert(same_bytes(p.out, orig));
    tu_proc_free(&p);
    /* the second GET asked for the rest only */
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/cut-GGUF/", 0, NULL), 2);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/cut-GGUF/", 1, NULL), 1);
    cache_dir(dir, sizeof dir, home, "test-org", "cut-GGUF");
    ck_assert_int_eq(count_files(dir, "*.incomplete"), 0);
}
END_TEST

START_TEST(test_resume_across_runs) {
    /* a partial blob left by an earlier run (or by huggingface_hub): only the rest is fetched */
    char home[700], dir[900], orig[900], sha[65], part[1200];
    new_home(home, sizeof home);
    sfmt(orig, sizeof orig, "%s/test-org/resume-GGUF/r.gguf", root);
    coreutils_sha(orig, sha);
    cache_dir(dir, sizeof dir, home, "test-org", "resume-GGUF");
    sfmt(part, sizeof part, "%s/blobs", dir);
    mkdir_p(part);
    sfmt(part, sizeof part, "%s/blobs/%s.incomplete", dir, sha);
    size_t n;
    char *data = tu_read_file(orig, &n);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(tu_write_file(part, data, 70000), 0);
    free(data);
    tu_proc p;
    run_gptc(&p, home, NULL, 60, "pull test-org/resume-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    *strchr(p.out, '\n') = 0;
    ck_assert(same_bytes(p.out, orig));
    tu_proc_free(&p);
    char log[700];
    sfmt(log, sizeof log, "%s/requests.log", root);
    char *l = tu_read_file(log, NULL);
    ck_assert_ptr_nonnull(strstr(l, "\"range\": \"bytes=70000-\""));
    free(l);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/resume-GGUF/", 0, NULL), 1);
    ck_assert_int_eq(count_files(dir, "*.incomplete"), 0);
    /* a server that ignores Range sends it all again: the partial file starts over */
    new_home(home, sizeof home);
    sfmt(orig, sizeof orig, "%s/test-org/norange-GGUF/n.gguf", root);
    coreutils_sha(orig, sha);
    cache_dir(dir, sizeof dir, home, "test-org", "norange-GGUF");
    sfmt(part, sizeof part, "%s/blobs", dir);
    mkdir_p(part);
    sfmt(part, sizeof part, "%s/blobs/%s.incomplete", dir, sha);
    ck_assert_int_eq(tu_write_file(part, "not the first bytes", 19), 0);
    run_gptc(&p, home, NULL, 60, "pull test-org/norange-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    *strchr(p.out, '\n') = 0;
    ck_assert(same_bytes(p.out, orig));
    tu_proc_free(&p);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/norange-GGUF/", 1, NULL), 1);
    /* a whole file left as .incomplete (stopped before its check): checked, moved, no GET */
    sfmt(orig, sizeof orig, "%s/test-org/resume-GGUF/r.gguf", root);
    coreutils_sha(orig, sha);
    new_home(home, sizeof home);
    cache_dir(dir, sizeof dir, home, "test-org", "resume-GGUF");
    sfmt(part, sizeof part, "mkdir -p '%s/blobs' && cp '%s' '%s/blobs/%s.incomplete'", dir, orig,
         dir, sha);
    ck_assert_int_eq(system(part), 0);
    run_gptc(&p, home, NULL, 60, "pull test-org/resume-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    *strchr(p.out, '\n') = 0;
    ck_assert(same_bytes(p.out, orig));
    tu_proc_free(&p);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/resume-GGUF/", 0, NULL), 1);
    ck_assert_int_eq(count_files(dir, "*.incomplete"), 0);
}
END_TEST

START_TEST(test_corruption_detected) {
    char home[700], dir[900];
    new_home(home, sizeof home);
    tu_proc p;
    run_gptc(&p, home, NULL, 60, "pull test-org/corrupt-GGUF");
    ck_assert_int_eq(p.status, 3);
    ck_assert_ptr_nonnull(strstr(p.err, "SHA-256 mismatch"));
    ck_assert_ptr_nonnull(strstr(p.err, "deleted"));
    tu_proc_free(&p);
    cache_dir(dir, sizeof dir, home, "test-org", "corrupt-GGUF");
    ck_assert_int_eq(count_files(dir, "*.incomplete"), 0);
    char blobs[1000], snaps[1000];
    sfmt(blobs, sizeof blobs, "%s/blobs", dir);
    sfmt(snaps, sizeof snaps, "%s/snapshots", dir);
    ck_assert_int_eq(count_files(blobs, "?*"), 1); /* the empty folder only */
    ck_assert_int_eq(count_files(snaps, "*.gguf"), 0);
    /* the size the hub names is checked as well */
    run_gptc(&p, home, NULL, 60, "pull test-org/short-GGUF");
    ck_assert_int_eq(p.status, 3);
    ck_assert_ptr_nonnull(strstr(p.err, "got 5000 bytes, the hub says 5010"));
    ck_assert_ptr_nonnull(strstr(p.err, "deleted"));
    tu_proc_free(&p);
    cache_dir(dir, sizeof dir, home, "test-org", "short-GGUF");
    ck_assert_int_eq(count_files(dir, "*.incomplete"), 0);
    sfmt(snaps, sizeof snaps, "%s/snapshots", dir);
    ck_assert_int_eq(count_files(snaps, "*.gguf"), 0);
    /* nothing to use: -hf fails the same way, not with a half file */
    run_gptc(&p, home, NULL, 60, "-hf test-org/corrupt-GGUF -p hi -n 1");
    ck_assert_int_eq(p.status, 3);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_gated) {
    char home[700], tokfile[800];
    new_home(home, sizeof home);
    tu_proc p;
    run_gptc(&p, home, NULL, 60, "pull test-org/gated-GGUF");
    ck_assert_int_eq(p.status, 2);
    ck_assert_ptr_nonnull(strstr(p.err, "gated"));
    ck_assert_ptr_nonnull(strstr(p.err, "HF_TOKEN"));
    ck_assert_int_eq(count_lines_of(p.err), 1);
    tu_proc_free(&p);
    run_gptc(&p, home, "HF_TOKEN=hf_wrong", 60, "pull test-org/gated-GGUF");
    ck_assert_int_eq(p.status, 2);
    ck_assert_ptr_nonnull(strstr(p.err, "no access"));
    tu_proc_free(&p);
    /* the token file under HF_HOME */
    sfmt(tokfile, sizeof tokfile, "%s/token", home);
    ck_assert_int_eq(tu_write_file(tokfile, "hf_good\n", 8), 0);
    run_gptc(&p, home, NULL, 60, "pull test-org/gated-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    /* the token went to the hub, never to the storage host */
    int auth = 0;
    ck_assert_int_ge(count_requests("HEAD", "/test-org/gated-GGUF/resolve/", 0, &auth), 1);
    ck_assert_int_ge(auth, 1);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/gated-GGUF/", 0, &auth), 1);
    ck_assert_int_eq(auth, 0);
}
END_TEST

START_TEST(test_not_found) {
    char home[700];
    new_home(home, sizeof home);
    tu_proc p;
    run_gptc(&p, home, NULL, 60, "pull test-org/nothere");
    ck_assert_int_eq(p.status, 2);
    ck_assert_ptr_nonnull(strstr(p.err, "no such repository"));
    tu_proc_free(&p);
    run_gptc(&p, home, NULL, 60, "-hf test-org/tiny-GGUF:gone.gguf -p hi");
    ck_assert_int_eq(p.status, 2);
    ck_assert_ptr_nonnull(strstr(p.err, "gone.gguf"));
    tu_proc_free(&p);
    run_gptc(&p, home, NULL, 60, "pull test-org/docs-only");
    ck_assert_int_eq(p.status, 2);
    ck_assert_ptr_nonnull(strstr(p.err, "no GGUF file"));
    tu_proc_free(&p);
    /* offline and not cached */
    run_gptc(&p, home, "HF_HUB_OFFLINE=1", 60, "pull test-org/tiny-GGUF");
    ck_assert_int_eq(p.status, 2);
    ck_assert_ptr_nonnull(strstr(p.err, "HF_HUB_OFFLINE"));
    tu_proc_free(&p);
    /* no server at all */
    run_gptc(&p, home, "HF_ENDPOINT=http://127.0.0.1:1", 60, "pull test-org/tiny-GGUF");
    ck_assert_int_eq(p.status, 3);
    ck_assert_ptr_nonnull(strstr(p.err, "cannot reach"));
    ck_assert_int_eq(count_lines_of(p.err), 1);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_stalled_server) {
    char home[700], dir[900];
    new_home(home, sizeof home);
    tu_proc p;
    double t0 = tu_now_s();
    run_gptc(&p, home, "GPTC_HUB_TIMEOUT=1 GPTC_HUB_RETRIES=1", 60, "pull test-org/slow-GGUF");
    double dt = tu_now_s() - t0;
    ck_assert_int_eq(p.status, 3);
    ck_assert_ptr_nonnull(strstr(p.err, "no data for 1 s"));
    ck_assert_ptr_nonnull(strstr(p.err, "run the command again to resume"));
    ck_assert_msg(dt < 20, "took %.1f s", dt);
    tu_proc_free(&p);
    /* the bytes that came are kept for a resume; nothing is in snapshots/ */
    cache_dir(dir, sizeof dir, home, "test-org", "slow-GGUF");
    ck_assert_int_eq(count_files(dir, "*.incomplete"), 1);
    char snaps[1000];
    sfmt(snaps, sizeof snaps, "%s/snapshots", dir);
    ck_assert_int_eq(count_files(snaps, "*.gguf"), 0);
}
END_TEST

START_TEST(test_interrupted) {
    char home[700], cmd[3000], dir[900];
    new_home(home, sizeof home);
    tu_proc p;
    /* Ctrl-C during a (stalled) download: exit 130, the partial file kept. The signal comes
     * once the partial file exists (polled, at most 30 s), not after a fixed sleep that a slow
     * machine could outrun. */
    cache_dir(dir, sizeof dir, home, "test-org", "slow2-GGUF");
    sfmt(cmd, sizeof cmd,
         "HF_HOME='%s' HF_ENDPOINT='%s' NO_PROXY=127.0.0.1,localhost "
         "no_proxy=127.0.0.1,localhost GPTC_HUB_TIMEOUT=30 %s pull test-org/slow2-GGUF & "
         "pid=$!; i=0; while [ $i -lt 600 ] && [ -z \"$(find '%s' -name '*.incomplete' "
         "2>/dev/null)\" ]; do sleep 0.05; i=$((i+1)); done; sleep 0.2; "
         "kill -INT $pid; wait $pid; echo \"rc=$?\"",
         home, endpoint, tu_gptc(), dir);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_msg(strstr(p.out, "rc=130") != NULL, "%s / %s", p.out, p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "interrupted"));
    tu_proc_free(&p);
    ck_assert_int_eq(count_files(dir, "*.incomplete"), 1);
}
END_TEST

START_TEST(test_two_at_once) {
    /* two pulls of one file at the same time: one downloads, the other waits for its lock and
     * finds the blob; both succeed, the bytes come once */
    char home[700], cmd[3000], orig[900];
    new_home(home, sizeof home);
    tu_proc p;
    const char *env = "NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost";
    sfmt(cmd, sizeof cmd,
         "export HF_HOME='%s' HF_ENDPOINT='%s' %s; %s pull test-org/trickle-GGUF > %s/a 2>&1 & "
         "sleep 0.5; %s pull test-org/trickle-GGUF > %s/b 2>&1; rb=$?; wait $!; "
         "echo \"$? $rb\"",
         home, endpoint, env, tu_gptc(), home, tu_gptc(), home);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_str_eq(p.out, "0 0\n");
    tu_proc_free(&p);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/trickle-GGUF/", 0, NULL), 1);
    /* whichever came second waited for the first one's lock */
    char out[900], *log[2];
    for (int i = 0; i < 2; i++) {
        sfmt(out, sizeof out, "%s/%c", home, "ab"[i]);
        log[i] = tu_read_file(out, NULL);
        ck_assert_ptr_nonnull(log[i]);
    }
    ck_assert_msg(strstr(log[0], "waiting for another download") ||
                      strstr(log[1], "waiting for another download"),
                  "%s\n%s", log[0], log[1]);
    free(log[0]);
    char *b = log[1];
    *strrchr(b, '\n') = 0;
    sfmt(orig, sizeof orig, "%s/test-org/trickle-GGUF/t.gguf", root);
    ck_assert(same_bytes(strrchr(b, '\n') + 1, orig));
    free(b);
}
END_TEST

START_TEST(test_disk_space) {
    char home[700];
    new_home(home, sizeof home);
    tu_proc p;
    run_gptc(&p, home, NULL, 60, "pull test-org/huge-GGUF");
    ck_assert_int_eq(p.status, 3);
    ck_assert_ptr_nonnull(strstr(p.err, "not enough disk space"));
    tu_proc_free(&p);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/huge-GGUF/", 0, NULL), 0);
}
END_TEST

START_TEST(test_found_in_hf_layout) {
    /* a file placed as huggingface_hub places it, by hand: found without any network */
    char home[700], dir[900], path[1400], sha[65];
    new_home(home, sizeof home);
    coreutils_sha(g2, sha);
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    cache_dir(dir, sizeof dir, home, "someone", "handmade-GGUF");
    sfmt(path, sizeof path, "%s/blobs", dir);
    mkdir_p(path);
    sfmt(path, sizeof path, "%s/snapshots/%s", dir, commit);
    mkdir_p(path);
    sfmt(path, sizeof path, "%s/refs", dir);
    mkdir_p(path);
    sfmt(path, sizeof path,
         "cp '%s' '%s/blobs/%s' && ln -s ../../blobs/%s "
         "'%s/snapshots/%s/model-F32.gguf' && printf %s > '%s/refs/main'",
         g2, dir, sha, sha, dir, commit, commit, dir);
    ck_assert_int_eq(system(path), 0);
    tu_proc p, ref;
    run_gptc(&p, home, "HF_ENDPOINT=http://127.0.0.1:1", 60,
             "-hf someone/handmade-GGUF -p Hello -n 5 --temp 0 -s 3");
    ck_assert_msg(p.status == 0, "%s", p.err);
    run_gptc(&ref, home, NULL, 60, "-m %s -p Hello -n 5 --temp 0 -s 3", g2);
    ck_assert_str_eq(p.out, ref.out);
    tu_proc_free(&p);
    tu_proc_free(&ref);
    /* HF_HUB_CACHE instead of HF_HOME */
    char env[1000];
    sfmt(env, sizeof env, "HF_HUB_CACHE='%s/hub' HF_ENDPOINT=http://127.0.0.1:1", home);
    run_gptc(&p, "/nonexistent", env, 60, "inspect -hf someone/handmade-GGUF:F32");
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    /* a blob already there (fetched by another tool): pull links it, GETs nothing */
    char orig[900];
    sfmt(orig, sizeof orig, "%s/test-org/placed-GGUF/p.gguf", root);
    coreutils_sha(orig, sha);
    cache_dir(dir, sizeof dir, home, "test-org", "placed-GGUF");
    sfmt(path, sizeof path, "mkdir -p '%s/blobs' && cp '%s' '%s/blobs/%s'", dir, orig, dir, sha);
    ck_assert_int_eq(system(path), 0);
    run_gptc(&p, home, NULL, 60, "pull test-org/placed-GGUF");
    ck_assert_msg(p.status == 0, "%s", p.err);
    *strchr(p.out, '\n') = 0;
    ck_assert(same_bytes(p.out, orig));
    tu_proc_free(&p);
    ck_assert_int_eq(count_requests("GET", "/storage/test-org/placed-GGUF/", 0, NULL), 0);
}
END_TEST

START_TEST(test_usage_errors) {
    char home[700];
    new_home(home, sizeof home);
    tu_proc p;
    static const char *cases[] = {
        "pull",
        "pull a/b c/d",
        "pull --bogus a/b",
        "pull 'not a repo'",
        "-m x.gguf -hf test-org/tiny-GGUF -p hi",
        "-hf '../etc' -p hi",
        "-hf",
        "rm",
        "models extra",
        "inspect -hf",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_gptc(&p, home, NULL, 30, "%s", cases[i]);
        ck_assert_msg(p.status == 1, "%s: status %d", cases[i], p.status);
        ck_assert_msg(count_lines_of(p.err) == 1 && !strncmp(p.err, "gptc: error: ", 13), "%s: %s",
                      cases[i], p.err);
        tu_proc_free(&p);
    }
    run_gptc(&p, home, NULL, 30, "pull --help");
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_nonnull(strstr(p.out, "usage: gptc pull"));
    tu_proc_free(&p);
}
END_TEST

/* ---- main ----------------------------------------------------------------------------------- */

static void make_repos(void) {
    sfmt(root, sizeof root, "%s/hubroot", tu_tmpdir());
    mkdir_p(root);
    repo_file("ggml-org/gpt-oss-20b-GGUF", "gpt-oss-20b-mxfp4.gguf", 0, 0, oss);
    repo_file("test-org/tiny-GGUF", "tiny-gpt2-F32.gguf", 0, 0, g2);
    repo_file("test-org/tiny-GGUF", "README.md", 100, 1, NULL);
    repo_file("test-org/multi-GGUF", "m-Q8_0.gguf", 5000, 2, NULL);
    for (int i = 1; i <= 3; i++) {
        char name[100];
        sfmt(name, sizeof name, "Q4_K_M/m-Q4_K_M-0000%d-of-00003.gguf", i);
        repo_file("test-org/multi-GGUF", name, 10000, 10 + (unsigned)i, NULL);
    }
    for (int i = 1; i <= split_n; i++) {
        char name[100], from[1000];
        sfmt(name, sizeof name, "s-%05d-of-%05d.gguf", i, split_n);
        sfmt(from, sizeof from, "%s/%s", split_dir, name);
        repo_file("test-org/split-GGUF", name, 0, 0, from);
    }
    repo_file("test-org/cut-GGUF", "cut.gguf", 600000, 3, NULL);
    repo_conf("test-org/cut-GGUF", "{\"cut\": [\"cut.gguf\"]}");
    repo_file("test-org/resume-GGUF", "r.gguf", 200000, 4, NULL);
    repo_file("test-org/corrupt-GGUF", "c.gguf", 50000, 5, NULL);
    repo_conf("test-org/corrupt-GGUF", "{\"corrupt\": [\"c.gguf\"]}");
    repo_file("test-org/gated-GGUF", "g.gguf", 3000, 6, NULL);
    repo_conf("test-org/gated-GGUF", "{\"gated\": true}");
    repo_file("test-org/slow-GGUF", "s.gguf", 100000, 7, NULL);
    repo_conf("test-org/slow-GGUF", "{\"stall\": [\"s.gguf\"]}");
    repo_file("test-org/slow2-GGUF", "s.gguf", 100000, 8, NULL);
    repo_conf("test-org/slow2-GGUF", "{\"stall\": [\"s.gguf\"]}");
    repo_file("test-org/huge-GGUF", "h.gguf", 1000, 9, NULL);
    repo_conf("test-org/huge-GGUF", "{\"huge\": {\"h.gguf\": 1152921504606846976}}");
    repo_file("test-org/placed-GGUF", "p.gguf", 4000, 20, NULL);
    repo_file("test-org/norange-GGUF", "n.gguf", 30000, 24, NULL);
    repo_conf("test-org/norange-GGUF", "{\"no_range\": [\"n.gguf\"]}");
    repo_file("test-org/short-GGUF", "s.gguf", 5000, 23, NULL);
    repo_conf("test-org/short-GGUF", "{\"huge\": {\"s.gguf\": 5010}}");
    repo_file("test-org/trickle-GGUF", "t.gguf", 2000000, 22, NULL);
    repo_conf("test-org/trickle-GGUF", "{\"trickle\": [\"t.gguf\"]}");
    repo_file("test-org/docs-only", "README.md", 100, 21, NULL);
}

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    sfmt(split_dir, sizeof split_dir, "%s/split-src", tu_tmpdir());
    mkdir_p(split_dir);
    {
        char cmd[2000];
        sfmt(cmd, sizeof cmd, "%s --preset tiny-gpt2 --seed 1 --split-max-size 10M --out %s/s.gguf",
             tu_tool("gen-model"), split_dir);
        tu_proc p;
        if (tu_sh(cmd, NULL, 0, 300, &p) || p.status != 0) die("gen-model --split-max-size");
        for (const char *c = p.out; *c; c++) split_n += *c == '\n';
        tu_proc_free(&p);
        if (split_n < 2) die("gen-model: too few shards");
    }
    make_repos();
    start_server();
    Suite *s = suite_create("hub");
    TCase *tc = tcase_create("hub");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sha256_vectors);
    tcase_add_test(tc, test_sha256_matches_coreutils);
    tcase_add_test(tc, test_env);
    tcase_add_test(tc, test_parse_spec);
    tcase_add_test(tc, test_select);
    tcase_add_test(tc, test_pull_layout_and_noop);
    tcase_add_test(tc, test_end_to_end_generate);
    tcase_add_test(tc, test_split_and_quant);
    tcase_add_test(tc, test_split_model_loads);
    tcase_add_test(tc, test_cut_resumes);
    tcase_add_test(tc, test_resume_across_runs);
    tcase_add_test(tc, test_corruption_detected);
    tcase_add_test(tc, test_gated);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_stalled_server);
    tcase_add_test(tc, test_interrupted);
    tcase_add_test(tc, test_two_at_once);
    tcase_add_test(tc, test_disk_space);
    tcase_add_test(tc, test_found_in_hf_layout);
    tcase_add_test(tc, test_usage_errors);
    suite_add_tcase(s, tc);
    int nf = tu_suite_failures(s, 1);
    stop_server();
    return nf ? 1 : 0;
}
