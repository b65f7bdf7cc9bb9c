/* gguf_seedgen.c — writes the small valid GGUF files in test/fuzz/seeds-gguf/ (fuzz seeds).
 * Not built by the Makefile (the files are checked in); to regenerate:
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -I. test/fuzz/gguf_seedgen.c gguf/types.c gguf/reader.c \
 *      gguf/writer.c gguf/inspect.c -o /tmp/seedgen
 *   /tmp/seedgen test/fuzz/seeds-gguf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static int finish(gguf_writer *w, const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gptc_error err;
    gptc_status st = gguf_writer_write(w, path, &err);
    gguf_writer_free(w);
    if (st) fprintf(stderr, "%s\n", err.msg);
    return st != GPTC_OK;
}

/* Little-endian encoding helpers for a nested-array payload. */
static size_t put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return 4;
}
static size_t put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
    return 8;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "test/fuzz/seeds-gguf";
    int bad = 0;

    /* 1. empty: header only */
    bad |= finish(gguf_writer_new(), dir, "empty.gguf");

    /* 2. every metadata type, arrays, nested arrays, odd strings */
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "gpt2", 4);
    gguf_writer_add_u8(w, "t.u8", 200);
    gguf_writer_add_i8(w, "t.i8", -100);
    gguf_writer_add_u16(w, "t.u16", 60000);
    gguf_writer_add_i16(w, "t.i16", -30000);
    gguf_writer_add_u32(w, "t.u32", 4000000000u);
    gguf_writer_add_i32(w, "t.i32", -2000000000);
    gguf_writer_add_u64(w, "t.u64", 18000000000000000000ull);
    gguf_writer_add_i64(w, "t.i64", -9000000000000000000ll);
    gguf_writer_add_f32(w, "t.f32", 1.5f);
    gguf_writer_add_f64(w, "t.f64", -2.25);
    gguf_writer_add_bool(w, "t.bool", 1);
    gguf_writer_add_str(w, "t.str", "h\xc3\xa9llo\n\"\xff", 10);
    gguf_writer_add_str(w, "t.empty", "", 0);
    const char *strs[] = {"a", "", "\xe2\x82\xac", "<|endoftext|>"};
    gguf_writer_add_arr_str(w, "t.arr_str", strs, NULL, 4);
    int32_t i32s[] = {1, -2, 3};
    gguf_writer_add_arr(w, "t.arr_i32", GGUF_VT_I32, i32s, 3);
    float f32s[] = {0.5f, -1.0f};
    gguf_writer_add_arr(w, "t.arr_f32", GGUF_VT_F32, f32s, 2);
    uint8_t bools[] = {0, 1, 1};
    gguf_writer_add_arr(w, "t.arr_bool", GGUF_VT_BOOL, bools, 3);
    gguf_writer_add_arr(w, "t.arr_empty", GGUF_VT_U8, NULL, 0);
    uint8_t raw[64];
    size_t n = 0; /* array of 2 arrays of u16: [[7], []] */
    n += put_u32(raw + n, GGUF_VT_ARRAY);
    n += put_u64(raw + n, 2);
    n += put_u32(raw + n, GGUF_VT_U16);
    n += put_u64(raw + n, 1);
    raw[n++] = 7;
    raw[n++] = 0;
    n += put_u32(raw + n, GGUF_VT_U16);
    n += put_u64(raw + n, 0);
    gguf_writer_add_raw(w, "t.nested", GGUF_VT_ARRAY, raw, n);
    bad |= finish(w, dir, "metadata.gguf");

    /* 3. one tensor of every type gptc knows */
    w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "gpt-oss", 7);
    static uint8_t data[4096];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 37 + 11);
    for (uint32_t t = 0; t < 64; t++) {
        const ggml_type_info *ti = ggml_type_get(t);
        if (!ti) continue;
        char name[32];
        snprintf(name, sizeof name, "blk.0.%s.weight", ti->name);
        int64_t ne[2] = {ti->block_elems, 2};
        gguf_writer_add_tensor(w, name, t, 2, ne, data);
    }
    bad |= finish(w, dir, "tensors.gguf");

    /* 4. v2, alignment 64, 3-d and 4-d tensors */
    w = gguf_writer_new();
    gguf_writer_set_version(w, 2);
    gguf_writer_set_alignment(w, 64);
    gguf_writer_add_str(w, "general.architecture", "llama", 5);
    int64_t ne3[3] = {4, 3, 2}, ne4[4] = {2, 2, 2, 2};
    gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 3, ne3, data);
    gguf_writer_add_tensor(w, "b", GGML_TYPE_F16, 4, ne4, data);
    bad |= finish(w, dir, "v2_align64.gguf");

    /* 5. a small vocabulary like a tokenizer file */
    w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "gpt2", 4);
    gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4);
    const char *toks[] = {"!", "\"", "a", "b", "ab", "\xc4\xa0", "<|endoftext|>"};
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 7);
    const char *merges[] = {"a b"};
    gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1);
    int32_t types[] = {1, 1, 1, 1, 1, 1, 3};
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, types, 7);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 6);
    bad |= finish(w, dir, "vocab.gguf");
    return bad;
}
