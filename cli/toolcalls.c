/* toolcalls.c — see toolcalls.h. */
#include "cli/toolcalls.h"

#include <cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *toolcall_name(const tooldefs *t, const char *recipient, char *buf, size_t n,
                          int *known) {
    const char *hit = tooldefs_resolve(t, recipient);
    *known = hit != NULL;
    if (hit) return hit;
    const char *s = recipient;
    if (!strncmp(s, "functions.", 10)) s += 10;
    snprintf(buf, n, "%s", s);
    return buf;
}

void toolcall_id(char out[32]) {
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static uint64_t counter;
    unsigned char r[24];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, r, sizeof r) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof r) { /* no urandom: time, pid and a counter */
        uint64_t x = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid() ^
                     (++counter * 1442695040888963407ull);
        for (size_t i = 0; i < sizeof r; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r[i] = (unsigned char)x;
        }
    }
    memcpy(out, "call_", 5);
    for (size_t i = 0; i < sizeof r; i++) out[5 + i] = al[r[i] % (sizeof al - 1)];
    out[5 + sizeof r] = 0;
}

cJSON *toolcalls_json(const harmony_parser *p, const tooldefs *t) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < harmony_parser_n_calls(p); i++) {
        const char *recipient, *args;
        harmony_parser_call(p, i, &recipient, &args);
        char buf[160], id[32];
        int known;
        const char *name = toolcall_name(t, recipient, buf, sizeof buf, &known);
        toolcall_id(id);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "id", id);
        cJSON_AddStringToObject(c, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(c, "function");
        cJSON_AddStringToObject(fn, "name", name);
        cJSON_AddStringToObject(fn, "arguments", args);
        cJSON_AddItemToArray(arr, c);
    }
    return arr;
}

void toolcalls_print(FILE *f, const harmony_parser *p, const tooldefs *t) {
    for (size_t i = 0; i < harmony_parser_n_calls(p); i++) {
        const char *recipient, *args;
        harmony_parser_call(p, i, &recipient, &args);
        char buf[160];
        int known;
        const char *name = toolcall_name(t, recipient, buf, sizeof buf, &known);
        fprintf(f, "tool call: %s %s%s\n", name, args, known ? "" : "  (not a declared tool)");
    }
    fflush(f);
}
