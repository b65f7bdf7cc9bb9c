/* hub_env.c — the hub's environment variables, read as huggingface_hub reads them (see hub.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/hub.h"

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Copies the first line of a small file, trimmed; "" when unreadable. */
static void read_token_file(const char *path, char *out, size_t cap) {
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(out, (int)cap, f)) {
        size_t n = strlen(out);
        while (n && isspace((unsigned char)out[n - 1])) out[--n] = 0;
        size_t s = 0;
        while (out[s] && isspace((unsigned char)out[s])) s++;
        memmove(out, out + s, n - s + 1);
    }
    fclose(f);
}

static int truthy(const char *v) {
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
                 !strcasecmp(v, "on"));
}

/* A path from the environment, "~/..." expanded as Python's expanduser does. */
static void expand_user(char *out, size_t cap, const char *v) {
    if (v[0] == '~' && (v[1] == '/' || v[1] == 0) && env("HOME"))
        hub_path(out, cap, "%s%s", env("HOME"), v + 1);
    else
        hub_path(out, cap, "%s", v);
}

void hub_env_init(hub_env *e) {
    memset(e, 0, sizeof *e);
    char home[HUB_PATH_MAX];
    const char *hf_home = env("HF_HOME");
    if (hf_home)
        expand_user(home, sizeof home, hf_home);
    else if (env("XDG_CACHE_HOME"))
        snprintf(home, sizeof home, "%s/huggingface", env("XDG_CACHE_HOME"));
    else
        snprintf(home, sizeof home, "%s/.cache/huggingface", env("HOME") ? env("HOME") : "/tmp");
    const char *hub = env("HF_HUB_CACHE") ? env("HF_HUB_CACHE") : env("HUGGINGFACE_HUB_CACHE");
    if (hub)
        expand_user(e->cache, sizeof e->cache, hub);
    else
        hub_path(e->cache, sizeof e->cache, "%s/hub", home);

    const char *ep = env("HF_ENDPOINT") ? env("HF_ENDPOINT") : "https://huggingface.co";
    snprintf(e->endpoint, sizeof e->endpoint, "%s", ep);
    for (size_t n = strlen(e->endpoint); n && e->endpoint[n - 1] == '/';) e->endpoint[--n] = 0;

    const char *tok = env("HF_TOKEN") ? env("HF_TOKEN") : env("HUGGING_FACE_HUB_TOKEN");
    if (tok) {
        snprintf(e->token, sizeof e->token, "%s", tok);
    } else {
        char path[HUB_PATH_MAX + 16];
        if (env("HF_TOKEN_PATH"))
            snprintf(path, sizeof path, "%s", env("HF_TOKEN_PATH"));
        else
            snprintf(path, sizeof path, "%s/token", home);
        read_token_file(path, e->token, sizeof e->token);
    }
    /* a token is one printable word: anything else would corrupt the header */
    for (const char *p = e->token; *p; p++)
        if (!isgraph((unsigned char)*p)) {
            e->token[0] = 0;
            break;
        }

    e->offline = truthy(env("HF_HUB_OFFLINE"));
    e->timeout_s = 60;
    const char *t = env("GPTC_HUB_TIMEOUT");
    if (t && atof(t) > 0) e->timeout_s = atof(t);
    e->retries = 3;
    const char *r = env("GPTC_HUB_RETRIES");
    if (r && atoi(r) >= 0 && atoi(r) <= 100) e->retries = atoi(r);
}

void hub_fmt_size(uint64_t b, char *out, size_t cap) {
    static const char *unit[] = {"kB", "MB", "GB", "TB", "PB"};
    if (b < 1000) {
        snprintf(out, cap, "%llu B", (unsigned long long)b);
        return;
    }
    double v = (double)b / 1000;
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(out, cap, v < 100 ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

int hub_path(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}
