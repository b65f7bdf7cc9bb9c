/* gguf_fuzz.c — libFuzzer target for the GGUF reader: `make fuzz-gguf SECONDS=N`.
 * Opens the input with gguf_open_memory; when it is accepted, walks everything a consumer
 * could touch (every value, nested arrays, strings, tensor bytes, lookups, typed getters) and
 * renders it as gptc inspect would (text with --tensors, and JSON) into /dev/null.
 * Seeds: test/fuzz/seeds-gguf/ (made by test/fuzz/gguf_seedgen.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static volatile uint64_t sink;

static void walk_value(const gguf_value *v) {
    switch (v->type) {
    case GGUF_VT_STRING:
        for (uint64_t i = 0; i < v->v.str.len; i++) sink += (unsigned char)v->v.str.ptr[i];
        break;
    case GGUF_VT_ARRAY: {
        uint64_t pos = 0;
        const uint8_t *cur = NULL;
        gguf_value e;
        while (gguf_arr_next_value(v, &pos, &cur, &e)) walk_value(&e);
        if (v->v.arr.count) {
            sink += (uint64_t)gguf_arr_get_i64(v, v->v.arr.count - 1);
            sink += gguf_arr_get_f64(v, 0) > 0.0;
        }
        if (v->v.arr.elem_type == GGUF_VT_STRING) {
            gguf_str s;
            pos = 0;
            while (gguf_arr_next_str(v, &pos, &cur, &s)) sink += s.len;
        }
    } break;
    default:
        sink += v->v.u64;
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    gptc_error err;
    if (gguf_open_memory(data, size, "fuzz.gguf", &f, &err) != GPTC_OK) {
        if (strncmp(err.msg, "fuzz.gguf: ", 11) != 0) abort(); /* message format */
        return 0;
    }
    char key[256];
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        walk_value(&kv->value);
        size_t n = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
        memcpy(key, kv->key.ptr, n);
        key[n] = 0;
        uint32_t u32;
        int64_t i64;
        float f32;
        int b;
        gguf_str s;
        const gguf_value *arr;
        sink += gguf_has(f, key);
        gguf_get_u32(f, key, &u32, &err);
        gguf_get_i64(f, key, &i64, &err);
        gguf_get_f32(f, key, &f32, &err);
        gguf_get_bool(f, key, &b, &err);
        gguf_get_str(f, key, &s, &err);
        gguf_get_arr(f, key, GGUF_VT_STRING, &arr, &err);
        gguf_get_arr(f, key, GGUF_VT_U32, &arr, &err);
    }
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const uint8_t *d = t->data;
        sink += d[0] + d[t->n_bytes - 1];
        size_t n = (size_t)t->name.len;
        memcpy(key, t->name.ptr, n);
        key[n] = 0;
        if (!gguf_find_tensor(f, key) && !memchr(key, 0, n)) abort(); /* lookup must work */
    }
    char arch[32];
    gguf_architecture(f, arch, sizeof arch, &err);
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        gguf_inspect(f, GPTC_INSPECT_TENSORS, null);
        gguf_inspect(f, GPTC_INSPECT_JSON, null);
        fclose(null);
    }
    gguf_close(f);
    return 0;
}
