/* test_gguf_roundtrip.c — the GGUF writer and reader agree: every metadata type (scalars at
 * their limits, strings with odd bytes, arrays of every scalar type, string arrays, nested and
 * empty arrays) and every tensor type round-trips bit for bit, in v2 and v3, with the default
 * and custom alignments; tensor data pointers lie inside the mapping (zero copy). Expected
 * values come from the test's own literals and from the block sizes in docs/quant.md §1. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char *tmp_path(const char *name) {
    static char buf[4][4096];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 4096, "%s/%s", tu_tmpdir(), name);
    return p;
}

static gguf_file *write_and_open(gguf_writer *w, const char *name) {
    gptc_error err;
    const char *path = tmp_path(name);
    ck_assert_msg(gguf_writer_write(w, path, &err) == GPTC_OK, "%s", err.msg);
    gguf_writer_free(w);
    gguf_file *f = NULL;
    ck_assert_msg(gguf_open(path, &f, &err) == GPTC_OK, "%s", err.msg);
    return f;
}

static const gguf_kv *kv_of(const gguf_file *f, const char *key, gguf_vtype type) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    ck_assert_msg(kv != NULL, "missing %s", key);
    ck_assert_int_eq(kv->value.type, type);
    return kv;
}

/* ---- block sizes from docs/quant.md §1 (independent of gguf/types.c) ---------------------- */
static const struct {
    uint32_t id;
    const char *name;
    int elems, bytes;
} QUANT_MD[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},    {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},    {8, "Q8_0", 32, 34},    {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210},
    {15, "Q8_K", 256, 292}, {24, "I8", 1, 1},       {25, "I16", 1, 2},      {26, "I32", 1, 4},
    {27, "I64", 1, 8},      {28, "F64", 1, 8},      {30, "BF16", 1, 2},     {39, "MXFP4", 32, 17},
};
#define N_TYPES (sizeof QUANT_MD / sizeof QUANT_MD[0])

START_TEST(test_type_table) {
    for (size_t i = 0; i < N_TYPES; i++) {
        const ggml_type_info *t = ggml_type_get(QUANT_MD[i].id);
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(t->name, QUANT_MD[i].name);
        ck_assert_int_eq(t->block_elems, QUANT_MD[i].elems);
        ck_assert_int_eq(t->block_bytes, QUANT_MD[i].bytes);
        ck_assert_uint_eq(ggml_row_size(QUANT_MD[i].id, QUANT_MD[i].elems * 3),
                          (size_t)QUANT_MD[i].bytes * 3);
        if (QUANT_MD[i].elems > 1) ck_assert_uint_eq(ggml_row_size(QUANT_MD[i].id, 7), 0);
    }
    /* removed ids, activation-only Q8_1, IQ/TQ types and unknown ids are refused */
    const uint32_t refused[] = {4,  5,  9,  16, 23, 29, 31, 32,   33,
                                34, 35, 36, 37, 38, 40, 41, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ck_assert_ptr_null(ggml_type_get(refused[i]));
        ck_assert_uint_eq(ggml_row_size(refused[i], 256), 0);
    }
    /* a worked example: gpt-oss expert row of 2880 MXFP4 values = 90 blocks x 17 bytes */
    ck_assert_uint_eq(ggml_row_size(GGML_TYPE_MXFP4, 2880), 1530);
    ck_assert_str_eq(gguf_vtype_name(GGUF_VT_U32), "u32");
    ck_assert_str_eq(gguf_vtype_name(GGUF_VT_ARRAY), "array");
    ck_assert_str_eq(gptc_status_name(GPTC_ERR_FORMAT), "format error");
    ck_assert_str_eq(gptc_status_name(GPTC_OK), "ok");
}
END_TEST

/* ---- metadata ------------------------------------------------------------------------------ */

static size_t le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return 4;
}
static size_t le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
    return 8;
}

static gguf_writer *metadata_writer(void) {
    gguf_writer *w = gguf_writer_new();
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(gguf_writer_add_str(w, "general.architecture", "gpt-oss", 7), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_u8(w, "s.u8", 255), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_i8(w, "s.i8", -128), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_u16(w, "s.u16", 65535), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_i16(w, "s.i16", -32768), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_u32(w, "s.u32", 4294967295u), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_i32(w, "s.i32", INT32_MIN), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_u64(w, "s.u64", UINT64_MAX), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_i64(w, "s.i64", INT64_MIN), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_f32(w, "s.f32", 1e-5f), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_f64(w, "s.f64", -1.0 / 3.0), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_bool(w, "s.true", 1), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_bool(w, "s.false", 0), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_str(w, "s.empty", "", 0), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_str(w, "s.bytes", "a\0b\xff\n", 5), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_u32(w, "gpt-oss.block_count", 24), GPTC_OK);

    uint8_t u8s[] = {0, 1, 255};
    int8_t i8s[] = {-128, 0, 127};
    uint16_t u16s[] = {0, 65535};
    int16_t i16s[] = {-32768, 32767};
    uint32_t u32s[] = {0, 7, 4294967295u};
    int32_t i32s[] = {INT32_MIN, -1, INT32_MAX};
    uint64_t u64s[] = {UINT64_MAX, 1};
    int64_t i64s[] = {INT64_MIN, INT64_MAX};
    float f32s[] = {0.5f, -2.0f, 3.25f};
    double f64s[] = {1e300, -0.0};
    uint8_t bools[] = {1, 0, 1, 1};
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.u8", GGUF_VT_U8, u8s, 3), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.i8", GGUF_VT_I8, i8s, 3), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.u16", GGUF_VT_U16, u16s, 2), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.i16", GGUF_VT_I16, i16s, 2), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.u32", GGUF_VT_U32, u32s, 3), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.i32", GGUF_VT_I32, i32s, 3), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.u64", GGUF_VT_U64, u64s, 2), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.i64", GGUF_VT_I64, i64s, 2), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.f32", GGUF_VT_F32, f32s, 3), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.f64", GGUF_VT_F64, f64s, 2), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.bool", GGUF_VT_BOOL, bools, 4), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr(w, "a.empty", GGUF_VT_F32, NULL, 0), GPTC_OK);
    const char *strs[] = {"hello", "", "\xe2\x82\xac", "x\0y"};
    size_t lens[] = {5, 0, 3, 3};
    ck_assert_int_eq(gguf_writer_add_arr_str(w, "a.str", strs, lens, 4), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_arr_str(w, "a.str_empty", NULL, NULL, 0), GPTC_OK);

    /* nested: [[1, 2], [], [3]] of i32, and [[["deep"]]] of strings (3 levels) */
    uint8_t raw[256];
    size_t n = 0;
    n += le32(raw + n, GGUF_VT_ARRAY);
    n += le64(raw + n, 3);
    n += le32(raw + n, GGUF_VT_I32);
    n += le64(raw + n, 2);
    n += le32(raw + n, 1);
    n += le32(raw + n, 2);
    n += le32(raw + n, GGUF_VT_I32);
    n += le64(raw + n, 0);
    n += le32(raw + n, GGUF_VT_I32);
    n += le64(raw + n, 1);
    n += le32(raw + n, 3);
    ck_assert_int_eq(gguf_writer_add_raw(w, "a.nested", GGUF_VT_ARRAY, raw, n), GPTC_OK);
    n = 0;
    n += le32(raw + n, GGUF_VT_ARRAY);
    n += le64(raw + n, 1);
    n += le32(raw + n, GGUF_VT_ARRAY);
    n += le64(raw + n, 1);
    n += le32(raw + n, GGUF_VT_STRING);
    n += le64(raw + n, 1);
    n += le64(raw + n, 4);
    memcpy(raw + n, "deep", 4);
    n += 4;
    ck_assert_int_eq(gguf_writer_add_raw(w, "a.nested3", GGUF_VT_ARRAY, raw, n), GPTC_OK);
    return w;
}

static void check_metadata(const gguf_file *f) {
    ck_assert_uint_eq(gguf_n_kv(f), 32); /* counted from metadata_writer */
    ck_assert_uint_eq(kv_of(f, "s.u8", GGUF_VT_U8)->value.v.u64, 255);
    ck_assert_int_eq(kv_of(f, "s.i8", GGUF_VT_I8)->value.v.i64, -128);
    ck_assert_uint_eq(kv_of(f, "s.u16", GGUF_VT_U16)->value.v.u64, 65535);
    ck_assert_int_eq(kv_of(f, "s.i16", GGUF_VT_I16)->value.v.i64, -32768);
    ck_assert_uint_eq(kv_of(f, "s.u32", GGUF_VT_U32)->value.v.u64, 4294967295u);
    ck_assert_int_eq(kv_of(f, "s.i32", GGUF_VT_I32)->value.v.i64, INT32_MIN);
    ck_assert_uint_eq(kv_of(f, "s.u64", GGUF_VT_U64)->value.v.u64, UINT64_MAX);
    ck_assert(kv_of(f, "s.i64", GGUF_VT_I64)->value.v.i64 == INT64_MIN);
    ck_assert(kv_of(f, "s.f32", GGUF_VT_F32)->value.v.f64 == (double)1e-5f);
    ck_assert(kv_of(f, "s.f64", GGUF_VT_F64)->value.v.f64 == -1.0 / 3.0);
    ck_assert_uint_eq(kv_of(f, "s.true", GGUF_VT_BOOL)->value.v.u64, 1);
    ck_assert_uint_eq(kv_of(f, "s.false", GGUF_VT_BOOL)->value.v.u64, 0);
    ck_assert_uint_eq(kv_of(f, "s.empty", GGUF_VT_STRING)->value.v.str.len, 0);
    const gguf_str b = kv_of(f, "s.bytes", GGUF_VT_STRING)->value.v.str;
    ck_assert_uint_eq(b.len, 5);
    ck_assert(memcmp(b.ptr, "a\0b\xff\n", 5) == 0);
    /* strings point into the mapping */
    ck_assert(b.ptr > (const char *)gguf_bytes(f) &&
              b.ptr + b.len <= (const char *)gguf_bytes(f) + gguf_file_size(f));

    /* numeric arrays: every element through both accessors */
    struct {
        const char *key;
        gguf_vtype t;
        uint64_t n;
        double v[4];
    } arrs[] = {
        {"a.u8", GGUF_VT_U8, 3, {0, 1, 255}},
        {"a.i8", GGUF_VT_I8, 3, {-128, 0, 127}},
        {"a.u16", GGUF_VT_U16, 2, {0, 65535}},
        {"a.i16", GGUF_VT_I16, 2, {-32768, 32767}},
        {"a.u32", GGUF_VT_U32, 3, {0, 7, 4294967295.0}},
        {"a.i32", GGUF_VT_I32, 3, {-2147483648.0, -1, 2147483647.0}},
        {"a.f32", GGUF_VT_F32, 3, {0.5, -2.0, 3.25}},
        {"a.f64", GGUF_VT_F64, 2, {1e300, -0.0}},
        {"a.bool", GGUF_VT_BOOL, 4, {1, 0, 1, 1}},
        {"a.empty", GGUF_VT_F32, 0, {0}},
    };
    gptc_error err;
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        const gguf_value *a;
        ck_assert_int_eq(gguf_get_arr(f, arrs[i].key, arrs[i].t, &a, &err), GPTC_OK);
        ck_assert_uint_eq(a->v.arr.count, arrs[i].n);
        for (uint64_t k = 0; k < arrs[i].n; k++) {
            ck_assert_msg(gguf_arr_get_f64(a, k) == arrs[i].v[k], "%s[%llu]", arrs[i].key,
                          (unsigned long long)k);
            if (arrs[i].t != GGUF_VT_F64)
                ck_assert(gguf_arr_get_i64(a, k) == (int64_t)arrs[i].v[k]);
        }
    }
    const gguf_value *a;
    ck_assert_int_eq(gguf_get_arr(f, "a.u64", GGUF_VT_U64, &a, &err), GPTC_OK);
    uint64_t pos = 0;
    const uint8_t *cur;
    gguf_value e;
    ck_assert(gguf_arr_next_value(a, &pos, &cur, &e) && e.v.u64 == UINT64_MAX);
    ck_assert(gguf_arr_next_value(a, &pos, &cur, &e) && e.v.u64 == 1);
    ck_assert(!gguf_arr_next_value(a, &pos, &cur, &e));
    ck_assert_int_eq(gguf_get_arr(f, "a.i64", GGUF_VT_I64, &a, &err), GPTC_OK);
    ck_assert(gguf_arr_get_i64(a, 0) == INT64_MIN && gguf_arr_get_i64(a, 1) == INT64_MAX);

    /* string arrays */
    ck_assert_int_eq(gguf_get_arr(f, "a.str", GGUF_VT_STRING, &a, &err), GPTC_OK);
    const char *want[] = {"hello", "", "\xe2\x82\xac", "x\0y"};
    size_t wlen[] = {5, 0, 3, 3};
    gguf_str s;
    pos = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert(gguf_arr_next_str(a, &pos, &cur, &s));
        ck_assert_uint_eq(s.len, wlen[i]);
        ck_assert(memcmp(s.ptr, want[i], wlen[i]) == 0);
    }
    ck_assert(!gguf_arr_next_str(a, &pos, &cur, &s));
    ck_assert_int_eq(gguf_get_arr(f, "a.str_empty", GGUF_VT_STRING, &a, &err), GPTC_OK);
    pos = 0;
    ck_assert_uint_eq(a->v.arr.count, 0);
    ck_assert(!gguf_arr_next_str(a, &pos, &cur, &s));

    /* nested arrays */
    ck_assert_int_eq(gguf_get_arr(f, "a.nested", GGUF_VT_ARRAY, &a, &err), GPTC_OK);
    ck_assert_uint_eq(a->v.arr.count, 3);
    const int64_t inner_want[3][2] = {{1, 2}, {0, 0}, {3, 0}};
    const uint64_t inner_n[3] = {2, 0, 1};
    pos = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert(gguf_arr_next_value(a, &pos, &cur, &e));
        ck_assert_int_eq(e.type, GGUF_VT_ARRAY);
        ck_assert_int_eq(e.v.arr.elem_type, GGUF_VT_I32);
        ck_assert_uint_eq(e.v.arr.count, inner_n[i]);
        for (uint64_t k = 0; k < inner_n[i]; k++)
            ck_assert(gguf_arr_get_i64(&e, k) == inner_want[i][k]);
    }
    ck_assert(!gguf_arr_next_value(a, &pos, &cur, &e));
    ck_assert_int_eq(gguf_get_arr(f, "a.nested3", GGUF_VT_ARRAY, &a, &err), GPTC_OK);
    gguf_value l2, l3;
    uint64_t p2 = 0, p3 = 0;
    const uint8_t *c2, *c3;
    pos = 0;
    ck_assert(gguf_arr_next_value(a, &pos, &cur, &l2));
    ck_assert(gguf_arr_next_value(&l2, &p2, &c2, &l3));
    ck_assert(gguf_arr_next_str(&l3, &p3, &c3, &s));
    ck_assert(s.len == 4 && memcmp(s.ptr, "deep", 4) == 0);
    ck_assert(!gguf_arr_next_str(&l3, &p3, &c3, &s));
}

START_TEST(test_metadata_v3) {
    gguf_file *f = write_and_open(metadata_writer(), "meta3.gguf");
    ck_assert_uint_eq(gguf_version(f), 3);
    ck_assert_uint_eq(gguf_alignment(f), 32);
    ck_assert_uint_eq(gguf_n_tensors(f), 0);
    check_metadata(f);
    gguf_close(f);
}
END_TEST

START_TEST(test_metadata_v2_memory) {
    gguf_writer *w = metadata_writer();
    gguf_writer_set_version(w, 2);
    const char *path = tmp_path("meta2.gguf");
    gptc_error err;
    ck_assert_int_eq(gguf_writer_write(w, path, &err), GPTC_OK);
    gguf_writer_free(w);
    size_t len;
    char *bytes = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(bytes);
    ck_assert(memcmp(bytes, "GGUF\x02\0\0\0", 8) == 0);
    gguf_file *f;
    ck_assert_msg(gguf_open_memory(bytes, len, "mem", &f, &err) == GPTC_OK, "%s", err.msg);
    ck_assert_uint_eq(gguf_version(f), 2);
    ck_assert_ptr_eq(gguf_bytes(f), (const uint8_t *)bytes); /* no copy */
    check_metadata(f);
    gguf_close(f);
    free(bytes);
}
END_TEST

START_TEST(test_getters) {
    gguf_file *f = write_and_open(metadata_writer(), "getters.gguf");
    gptc_error err;
    uint32_t u32 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    int b = -1;
    gguf_str s;
    ck_assert_int_eq(gguf_get_u32(f, "gpt-oss.block_count", &u32, &err), GPTC_OK);
    ck_assert_uint_eq(u32, 24);
    ck_assert_int_eq(gguf_get_u32(f, "s.u8", &u32, &err), GPTC_OK); /* any integer that fits */
    ck_assert_uint_eq(u32, 255);
    ck_assert_int_eq(gguf_get_u32(f, "s.u64", &u32, &err), GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "key s.u64 value 18446744073709551615 is out of range"));
    ck_assert_int_eq(gguf_get_u32(f, "s.i8", &u32, &err), GPTC_ERR_FORMAT);
    ck_assert_int_eq(gguf_get_i64(f, "s.i64", &i64, &err), GPTC_OK);
    ck_assert(i64 == INT64_MIN);
    ck_assert_int_eq(gguf_get_i64(f, "s.u32", &i64, &err), GPTC_OK);
    ck_assert(i64 == 4294967295ll);
    ck_assert_int_eq(gguf_get_f32(f, "s.f32", &f32, &err), GPTC_OK);
    ck_assert(f32 == 1e-5f);
    ck_assert_int_eq(gguf_get_bool(f, "s.true", &b, &err), GPTC_OK);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(gguf_get_str(f, "s.bytes", &s, &err), GPTC_OK);
    ck_assert_uint_eq(s.len, 5);

    /* "missing" and "wrong type" are distinct, with the key named */
    ck_assert_int_eq(gguf_has(f, "nope"), 0);
    ck_assert_int_eq(gguf_has(f, "s.u8"), 1);
    ck_assert_int_eq(gguf_get_u32(f, "nope", &u32, &err), GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing key nope"));
    ck_assert_int_eq(gguf_get_str(f, "s.u32", &s, &err), GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "key s.u32 has type u32, expected string"));
    ck_assert_int_eq(gguf_get_u32(f, "s.f32", &u32, &err), GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "key s.f32 has type f32, expected u32"));
    ck_assert_int_eq(gguf_get_bool(f, "s.u8", &b, &err), GPTC_ERR_FORMAT);
    ck_assert_int_eq(gguf_get_f32(f, "s.bytes", &f32, &err), GPTC_ERR_FORMAT);
    const gguf_value *a;
    ck_assert_int_eq(gguf_get_arr(f, "a.u32", GGUF_VT_STRING, &a, &err), GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "has type array of u32, expected array of string"));

    /* architecture */
    char arch[16];
    ck_assert_int_eq(gguf_architecture(f, arch, sizeof arch, &err), GPTC_OK);
    ck_assert_str_eq(arch, "gpt-oss");
    gguf_close(f);

    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "llama", 5);
    f = write_and_open(w, "llama.gguf");
    ck_assert_int_eq(gguf_architecture(f, arch, sizeof arch, &err), GPTC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "unsupported architecture 'llama'"));
    gguf_close(f);

    w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "gpt2", 4);
    f = write_and_open(w, "gpt2.gguf");
    ck_assert_int_eq(gguf_architecture(f, arch, sizeof arch, &err), GPTC_OK);
    ck_assert_str_eq(arch, "gpt2");
    gguf_close(f);

    f = write_and_open(gguf_writer_new(), "noarch.gguf");
    ck_assert_int_eq(gguf_architecture(f, arch, sizeof arch, &err), GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing key general.architecture"));
    gguf_close(f);
}
END_TEST

/* ---- tensors -------------------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

typedef struct stream_src {
    uint32_t seed;
    uint64_t chunk;
} stream_src;

/* Streams the same bytes as fill(seed) in small chunks, as a model generator would. */
static int stream_fn(void *user, FILE *out, uint64_t bytes) {
    stream_src *src = user;
    uint8_t *all = malloc(bytes);
    if (!all) return -1;
    fill(all, (size_t)bytes, src->seed);
    for (uint64_t o = 0; o < bytes; o += src->chunk) {
        size_t k = (size_t)(bytes - o < src->chunk ? bytes - o : src->chunk);
        if (fwrite(all + o, 1, k, out) != k) {
            free(all);
            return -1;
        }
    }
    free(all);
    return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

/* One tensor per type (ne = [2 blocks, 3, (2)]), alternating buffer and callback data. */
static void tensor_roundtrip(uint32_t version, uint32_t alignment) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_version(w, version);
    if (alignment) gguf_writer_set_alignment(w, alignment);
    gguf_writer_add_str(w, "general.architecture", "gpt2", 4);
    uint8_t *bufs[N_TYPES];
    uint64_t nbytes[N_TYPES];
    stream_src srcs[N_TYPES];
    for (size_t i = 0; i < N_TYPES; i++) {
        int64_t ne[3] = {2 * QUANT_MD[i].elems, 3, 2};
        uint32_t nd = 2 + (uint32_t)(i % 2);
        nbytes[i] = (uint64_t)2 * QUANT_MD[i].bytes * 3 * (nd == 3 ? 2 : 1);
        bufs[i] = malloc(nbytes[i]);
        fill(bufs[i], nbytes[i], (uint32_t)i + 1);
        char name[64];
        snprintf(name, sizeof name, "t.%s", QUANT_MD[i].name);
        if (i % 2 == 0) {
            ck_assert_int_eq(gguf_writer_add_tensor(w, name, QUANT_MD[i].id, nd, ne, bufs[i]),
                             GPTC_OK);
        } else {
            srcs[i] = (stream_src){(uint32_t)i + 1, 7};
            ck_assert_int_eq(
                gguf_writer_add_tensor_fn(w, name, QUANT_MD[i].id, nd, ne, stream_fn, &srcs[i]),
                GPTC_OK);
        }
    }
    char fname[64];
    snprintf(fname, sizeof fname, "tensors_v%u_a%u.gguf", version, alignment);
    gguf_file *f = write_and_open(w, fname);
    uint32_t a = alignment ? alignment : 32;
    ck_assert_uint_eq(gguf_version(f), version);
    ck_assert_uint_eq(gguf_alignment(f), a);
    if (alignment) {
        const gguf_kv *kv = kv_of(f, "general.alignment", GGUF_VT_U32);
        ck_assert_uint_eq(kv->value.v.u64, alignment);
    } else {
        ck_assert(!gguf_has(f, "general.alignment"));
    }
    ck_assert_uint_eq(gguf_data_offset(f) % a, 0);
    ck_assert_uint_eq(gguf_n_tensors(f), N_TYPES);
    const uint8_t *base = gguf_bytes(f);
    uint64_t expect_off = 0;
    for (size_t i = 0; i < N_TYPES; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[64];
        snprintf(name, sizeof name, "t.%s", QUANT_MD[i].name);
        ck_assert_ptr_eq(gguf_find_tensor(f, name), t);
        ck_assert_uint_eq(t->name.len, strlen(name));
        ck_assert_uint_eq(t->type, QUANT_MD[i].id);
        ck_assert_uint_eq(t->n_dims, 2 + i % 2);
        ck_assert_int_eq(t->ne[0], 2 * QUANT_MD[i].elems);
        ck_assert_int_eq(t->ne[1], 3);
        ck_assert_int_eq(t->ne[2], i % 2 ? 2 : 1);
        ck_assert_int_eq(t->ne[3], 1);
        ck_assert_uint_eq(t->n_elements, (uint64_t)2 * QUANT_MD[i].elems * 3 * (i % 2 ? 2 : 1));
        ck_assert_uint_eq(t->n_bytes, nbytes[i]);
        ck_assert_uint_eq(t->offset, expect_off); /* ggml's layout: running padded sum */
        ck_assert_uint_eq(t->offset % a, 0);
        expect_off += align_up(nbytes[i], a);
        /* zero copy: the pointer is the mapping at data_offset + offset */
        ck_assert_ptr_eq(t->data, base + gguf_data_offset(f) + t->offset);
        ck_assert(memcmp(t->data, bufs[i], nbytes[i]) == 0);
        free(bufs[i]);
    }
    ck_assert_ptr_null(gguf_find_tensor(f, "t.nope"));
    ck_assert_uint_eq(gguf_file_size(f), gguf_data_offset(f) + expect_off);
    gguf_close(f);
}

START_TEST(test_tensors_v3) {
    tensor_roundtrip(3, 0);
}
END_TEST
START_TEST(test_tensors_v2) {
    tensor_roundtrip(2, 0);
}
END_TEST
START_TEST(test_tensors_align64) {
    tensor_roundtrip(3, 64);
}
END_TEST
START_TEST(test_tensors_align1_v2) {
    tensor_roundtrip(2, 1);
}
END_TEST
START_TEST(test_tensors_align4096) {
    tensor_roundtrip(3, 4096);
}
END_TEST

/* ---- writer errors ------------------------------------------------------------------------ */

static int bad_stream(void *user, FILE *out, uint64_t bytes) {
    (void)user;
    return fwrite("x", 1, 1, out) == 1 && bytes > 1 ? 0 : -1; /* writes 1 byte, claims success */
}

START_TEST(test_writer_errors) {
    gptc_error err;
    int64_t ne[2] = {32, 2};
    float data[64] = {0};

    gguf_writer *w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_u32(w, "k", 1), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_u32(w, "k", 2), GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(gguf_writer_write(w, tmp_path("dup.gguf"), &err), GPTC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate metadata key k"));
    gguf_writer_free(w);

    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "t", 4, 2, ne, data), GPTC_ERR_INVALID_ARG);
    gguf_writer_free(w);
    w = gguf_writer_new();
    int64_t ne_bad[2] = {33, 2};
    ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q8_0, 2, ne_bad, data),
                     GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(gguf_writer_write(w, tmp_path("bad.gguf"), &err), GPTC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a multiple of 32"));
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 5, ne, data),
                     GPTC_ERR_INVALID_ARG);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 2, ne, data), GPTC_OK);
    ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 2, ne, data),
                     GPTC_ERR_INVALID_ARG);
    gguf_writer_free(w);
    w = gguf_writer_new();
    char long_name[80];
    memset(long_name, 'a', 64);
    long_name[64] = 0;
    ck_assert_int_eq(gguf_writer_add_tensor(w, long_name, GGML_TYPE_F32, 2, ne, data),
                     GPTC_ERR_INVALID_ARG);
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_writer_set_alignment(w, 48);
    ck_assert_int_eq(gguf_writer_write(w, tmp_path("a48.gguf"), &err), GPTC_ERR_INVALID_ARG);
    gguf_writer_free(w);

    /* a callback that writes the wrong number of bytes fails the write; no file is left */
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor_fn(w, "t", GGML_TYPE_F32, 2, ne, bad_stream, NULL),
                     GPTC_OK);
    const char *path = tmp_path("short.gguf");
    ck_assert_int_eq(gguf_writer_write(w, path, &err), GPTC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "callback wrote 1 bytes, expected 256"));
    gguf_writer_free(w);
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_null(fp);

    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err), GPTC_ERR_IO);
    gguf_writer_free(w);
}
END_TEST

/* The exact bytes of a tiny file, worked out by hand from docs/gguf.md §1. */
START_TEST(test_writer_bytes) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_u32(w, "a", 7);
    float one = 1.0f;
    int64_t ne[1] = {1};
    gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 1, ne, &one);
    const char *path = tmp_path("tiny.gguf");
    gptc_error err;
    ck_assert_int_eq(gguf_writer_write(w, path, &err), GPTC_OK);
    gguf_writer_free(w);
    static const uint8_t want[] = {
        'G', 'G', 'U',  'F',  3, 0, 0, 0,                           /* magic, version 3 */
        1,   0,   0,    0,    0, 0, 0, 0, 1,   0, 0, 0, 0, 0, 0, 0, /* 1 tensor, 1 kv */
        1,   0,   0,    0,    0, 0, 0, 0, 'a', 4, 0, 0, 0, 7, 0, 0,
        0,                                                          /* "a": u32 7 (bytes 24..40) */
        1,   0,   0,    0,    0, 0, 0, 0, 'w', 1, 0, 0, 0,          /* "w", 1 dim */
        1,   0,   0,    0,    0, 0, 0, 0, 0,   0, 0, 0,             /* ne[0] = 1, type F32 */
        0,   0,   0,    0,    0, 0, 0, 0,                           /* offset 0; infos end at 74 */
        0,   0,   0,    0,    0, 0,                                 /* pad to 96 - 16 ... */
        0,   0,   0,    0,    0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, /* ... data_start = 96 */
        0,   0,   0x80, 0x3f,                                       /* 1.0f */
        0,   0,   0,    0,    0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, /* pad to 32 */
        0,   0,   0,    0,    0, 0, 0, 0, 0,   0, 0, 0};
    size_t len;
    char *got = tu_read_file(path, &len);
    ck_assert_uint_eq(len, sizeof want);
    ck_assert(memcmp(got, want, sizeof want) == 0);
    free(got);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gguf_roundtrip");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_type_table);
    tcase_add_test(tc, test_metadata_v3);
    tcase_add_test(tc, test_metadata_v2_memory);
    tcase_add_test(tc, test_getters);
    tcase_add_test(tc, test_tensors_v3);
    tcase_add_test(tc, test_tensors_v2);
    tcase_add_test(tc, test_tensors_align64);
    tcase_add_test(tc, test_tensors_align1_v2);
    tcase_add_test(tc, test_tensors_align4096);
    tcase_add_test(tc, test_writer_errors);
    tcase_add_test(tc, test_writer_bytes);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
