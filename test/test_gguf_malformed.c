/* test_gguf_malformed.c — a corpus of malformed GGUF files, each built here byte by byte from
 * the format (docs/gguf.md), each violating one rule once; the reader must reject every one
 * with GPTC_ERR_FORMAT and the message "NAME: offset N: REASON", where N is the offset of the
 * field at fault (computed by the builder as it writes) and REASON contains the expected text.
 * Then: truncation of a valid file at every structural boundary, and random byte flips on a
 * valid file with a fixed seed (rejected with a well-formed message, or accepted and safe to
 * walk). Runs clean under ASan+UBSan. */
#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

/* ---- a byte builder ---------------------------------------------------------------------- */
typedef struct buf {
    uint8_t p[8192];
    size_t len;
} buf;

static void put(buf *b, const void *d, size_t n) {
    ck_assert(b->len + n <= sizeof b->p);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void u8(buf *b, uint8_t v) {
    put(b, &v, 1);
}
static void u32(buf *b, uint32_t v) {
    for (int i = 0; i < 4; i++) u8(b, (uint8_t)(v >> (8 * i)));
}
static void u64(buf *b, uint64_t v) {
    for (int i = 0; i < 8; i++) u8(b, (uint8_t)(v >> (8 * i)));
}
static void str(buf *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void zeros(buf *b, size_t n) {
    while (n--) u8(b, 0);
}
static void hdr(buf *b, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    u32(b, 3);
    u64(b, n_tensors);
    u64(b, n_kv);
}
/* Tensor info: name, dims, ne, type, offset. */
static void tinfo(buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type,
                  uint64_t off) {
    str(b, name);
    u32(b, nd);
    for (uint32_t d = 0; d < nd; d++) u64(b, ne[d]);
    u32(b, type);
    u64(b, off);
}
static void pad_to(buf *b, size_t a) {
    while (b->len % a) u8(b, 0);
}

/* ---- the corpus --------------------------------------------------------------------------- */
typedef struct mcase {
    buf b;
    uint64_t off;     /* expected offset in the message */
    char reason[200]; /* expected substring of the reason */
} mcase;

static void expect(mcase *m, uint64_t off, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->reason, sizeof m->reason, fmt, ap);
    va_end(ap);
    m->off = off;
}
#define HERE (m->b.len)
#define TAIL 96 /* trailing bytes so the header's count check passes */

/* header */
static void c_empty(mcase *m) {
    expect(m, 0, "unexpected end of file in magic");
}
static void c_short_magic(mcase *m) {
    put(&m->b, "GGU", 3);
    expect(m, 0, "unexpected end of file in magic");
}
static void c_bad_magic(mcase *m) {
    put(&m->b, "GGML", 4);
    zeros(&m->b, 60);
    expect(m, 0, "bad magic 'GGML' (not a GGUF file)");
}
static void version_case(mcase *m, uint32_t v, const char *why) {
    put(&m->b, "GGUF", 4);
    u32(&m->b, v);
    zeros(&m->b, 16 + TAIL);
    expect(m, 4, "%s", why);
}
static void c_v0(mcase *m) {
    version_case(m, 0, "unsupported GGUF version 0");
}
static void c_v1(mcase *m) {
    version_case(m, 1, "GGUF version 1 is not supported");
}
static void c_v4(mcase *m) {
    version_case(m, 4, "unsupported GGUF version 4");
}
static void c_v_big_endian(mcase *m) {
    version_case(m, 0x03000000u, "big-endian");
}
static void c_trunc_version(mcase *m) {
    put(&m->b, "GGUF\x03\x00", 6);
    expect(m, 4, "unexpected end of file in version");
}
static void c_trunc_tcount(mcase *m) {
    put(&m->b, "GGUF", 4);
    u32(&m->b, 3);
    u32(&m->b, 0);
    expect(m, 8, "unexpected end of file in tensor count");
}
static void c_trunc_kvcount(mcase *m) {
    put(&m->b, "GGUF", 4);
    u32(&m->b, 3);
    u64(&m->b, 0);
    u32(&m->b, 0);
    expect(m, 16, "unexpected end of file in metadata count");
}
static void c_tcount_huge(mcase *m) {
    hdr(&m->b, 1ull << 63, 0);
    zeros(&m->b, TAIL);
    expect(m, 8, "tensor count 9223372036854775808 is too large for a file of 120 bytes");
}
static void c_tcount_max(mcase *m) {
    hdr(&m->b, UINT64_MAX, 0);
    zeros(&m->b, TAIL);
    expect(m, 8, "tensor count 18446744073709551615 is too large");
}
static void c_kvcount_huge(mcase *m) {
    hdr(&m->b, 0, 1000000);
    zeros(&m->b, TAIL);
    expect(m, 16, "metadata count 1000000 is too large for a file of 120 bytes");
}
static void c_counts_together(mcase *m) {
    /* 59 bytes after the header: 1 tensor (>= 33) fits, 2 KVs (>= 28) fit, both do not */
    hdr(&m->b, 1, 2);
    zeros(&m->b, 59);
    expect(m, 8, "tensor count 1 and metadata count 2 are too large for a file of 83 bytes");
}

/* KVs */
static void c_key_len_max(mcase *m) {
    hdr(&m->b, 0, 1);
    u64(&m->b, UINT64_MAX);
    zeros(&m->b, TAIL);
    expect(m, 24, "key length 18446744073709551615 exceeds the limit of 65535 bytes");
}
static void c_key_len_limit(mcase *m) {
    hdr(&m->b, 0, 1);
    u64(&m->b, 70000);
    zeros(&m->b, TAIL);
    expect(m, 24, "key length 70000 exceeds the limit of 65535 bytes");
}
static void c_key_past_eof(mcase *m) {
    hdr(&m->b, 0, 1);
    u64(&m->b, 1000);
    zeros(&m->b, TAIL);
    expect(m, 24, "key length 1000 exceeds the 96 bytes left in the file");
}
static void c_key_empty(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "");
    u32(&m->b, GGUF_VT_U8);
    zeros(&m->b, TAIL);
    expect(m, 24, "empty key");
}
static void bad_vtype(mcase *m, uint32_t t) {
    hdr(&m->b, 0, 1);
    str(&m->b, "k");
    uint64_t at = HERE;
    u32(&m->b, t);
    zeros(&m->b, TAIL);
    expect(m, at, "unknown value type %" PRIu32, t);
}
static void c_vtype_13(mcase *m) {
    bad_vtype(m, 13);
}
static void c_vtype_high(mcase *m) {
    bad_vtype(m, 0x80000000u);
}
static void c_str_past_eof(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "k");
    u32(&m->b, GGUF_VT_STRING);
    uint64_t at = HERE;
    u64(&m->b, 500);
    zeros(&m->b, TAIL);
    expect(m, at, "string value length 500 exceeds the 96 bytes left in the file");
}
static void c_str_len_max(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "k");
    u32(&m->b, GGUF_VT_STRING);
    uint64_t at = HERE;
    u64(&m->b, UINT64_MAX);
    zeros(&m->b, TAIL);
    expect(m, at, "string value length 18446744073709551615 exceeds the limit of 1073741824");
}
static void c_bool_2(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "k");
    u32(&m->b, GGUF_VT_BOOL);
    uint64_t at = HERE;
    u8(&m->b, 2);
    zeros(&m->b, TAIL);
    expect(m, at, "invalid bool value 2");
}
static void c_trunc_u64_value(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "k");
    u32(&m->b, GGUF_VT_U64);
    uint64_t at = HERE;
    zeros(&m->b, 3);
    expect(m, at, "unexpected end of file in u64 (8 bytes needed, 3 left)");
}
static void c_trunc_u32_value(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "abcdefgh");
    u32(&m->b, GGUF_VT_U32);
    uint64_t at = HERE;
    zeros(&m->b, 1);
    expect(m, at, "unexpected end of file in u32 (4 bytes needed, 1 left)");
}
static void c_trunc_value_type(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "abcdefghij");
    uint64_t at = HERE;
    zeros(&m->b, 2);
    expect(m, at, "unexpected end of file in value type");
}
static void kv_array_head(mcase *m, uint32_t et) {
    hdr(&m->b, 0, 1);
    str(&m->b, "arr");
    u32(&m->b, GGUF_VT_ARRAY);
    u32(&m->b, et);
}
static void c_arr_bad_elem(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "arr");
    u32(&m->b, GGUF_VT_ARRAY);
    uint64_t at = HERE;
    u32(&m->b, 13);
    u64(&m->b, 1);
    zeros(&m->b, TAIL);
    expect(m, at, "unknown array element type 13");
}
static void arr_count_case(mcase *m, uint32_t et, uint64_t count, const char *tname) {
    kv_array_head(m, et);
    uint64_t at = HERE;
    u64(&m->b, count);
    zeros(&m->b, TAIL);
    expect(m, at, "array of %" PRIu64 " %s elements exceeds the 96 bytes left", count, tname);
}
static void c_arr_u32_huge(mcase *m) {
    arr_count_case(m, GGUF_VT_U32, 1ull << 62, "u32");
}
static void c_arr_u64_wrap(mcase *m) {
    /* count x 8 wraps to 8 in 64-bit arithmetic: must still be refused */
    arr_count_case(m, GGUF_VT_U64, (1ull << 61) + 1, "u64");
}
static void c_arr_str_huge(mcase *m) {
    arr_count_case(m, GGUF_VT_STRING, UINT64_MAX, "string");
}
static void c_arr_arr_huge(mcase *m) {
    arr_count_case(m, GGUF_VT_ARRAY, 1ull << 60, "array");
}
static void c_arr_u16_short(mcase *m) {
    kv_array_head(m, GGUF_VT_U16);
    uint64_t at = HERE;
    u64(&m->b, 3);
    zeros(&m->b, 4);
    expect(m, at, "array of 3 u16 elements exceeds the 4 bytes left");
}
static void c_arr_str_inner_eof(mcase *m) {
    kv_array_head(m, GGUF_VT_STRING);
    u64(&m->b, 2);
    str(&m->b, "first");
    uint64_t at = HERE;
    u64(&m->b, 200);
    zeros(&m->b, TAIL);
    expect(m, at, "array string length 200 exceeds the 96 bytes left");
}
static void c_arr_too_deep(mcase *m) {
    kv_array_head(m, GGUF_VT_ARRAY); /* level 1 */
    u64(&m->b, 1);
    u32(&m->b, GGUF_VT_ARRAY); /* level 2 */
    u64(&m->b, 1);
    u32(&m->b, GGUF_VT_ARRAY); /* level 3 */
    u64(&m->b, 1);
    uint64_t at = HERE;
    u32(&m->b, GGUF_VT_ARRAY); /* level 4 would hold level 5 */
    u64(&m->b, 1);
    u32(&m->b, GGUF_VT_U8);
    u64(&m->b, 1);
    u8(&m->b, 1);
    zeros(&m->b, TAIL);
    expect(m, at, "arrays nested deeper than 4 levels");
}
static void c_arr_bool_2(mcase *m) {
    kv_array_head(m, GGUF_VT_BOOL);
    u64(&m->b, 3);
    u8(&m->b, 1);
    u8(&m->b, 0);
    uint64_t at = HERE;
    u8(&m->b, 2);
    zeros(&m->b, TAIL);
    expect(m, at, "invalid bool value 2 in array");
}
static void c_dup_key(mcase *m) {
    hdr(&m->b, 0, 3);
    str(&m->b, "k");
    u32(&m->b, GGUF_VT_U8);
    u8(&m->b, 1);
    str(&m->b, "other");
    u32(&m->b, GGUF_VT_U8);
    u8(&m->b, 1);
    uint64_t at = HERE;
    str(&m->b, "k");
    u32(&m->b, GGUF_VT_U16);
    u32(&m->b, 1);
    zeros(&m->b, TAIL);
    expect(m, at, "duplicate key 'k'");
}
static void align_kv(mcase *m, uint32_t type, uint64_t v, int size) {
    hdr(&m->b, 0, 1);
    str(&m->b, "general.alignment");
    u32(&m->b, type);
    for (int i = 0; i < size; i++) u8(&m->b, (uint8_t)(v >> (8 * i)));
    zeros(&m->b, TAIL);
}
static void c_align_u64(mcase *m) {
    align_kv(m, GGUF_VT_U64, 32, 8);
    expect(m, 24, "general.alignment has type u64, expected u32");
}
static void c_align_i32(mcase *m) {
    align_kv(m, GGUF_VT_I32, 32, 4);
    expect(m, 24, "general.alignment has type i32, expected u32");
}
static void c_align_str(mcase *m) {
    hdr(&m->b, 0, 1);
    str(&m->b, "general.alignment");
    u32(&m->b, GGUF_VT_STRING);
    str(&m->b, "32");
    zeros(&m->b, TAIL);
    expect(m, 24, "general.alignment has type string, expected u32");
}
static void c_align_0(mcase *m) {
    align_kv(m, GGUF_VT_U32, 0, 4);
    expect(m, 24, "general.alignment 0 is not a non-zero power of two");
}
static void c_align_48(mcase *m) {
    align_kv(m, GGUF_VT_U32, 48, 4);
    expect(m, 24, "general.alignment 48 is not a non-zero power of two");
}

/* tensor infos (no KVs) */
static const uint64_t NE_32x2[2] = {32, 2};
static void c_tname_64(mcase *m) {
    hdr(&m->b, 1, 0);
    char name[65];
    memset(name, 'n', 64);
    name[64] = 0;
    tinfo(&m->b, name, 2, NE_32x2, GGML_TYPE_F32, 0);
    zeros(&m->b, TAIL);
    expect(m, 24, "tensor name length 64 exceeds the limit of 63 bytes");
}
static void c_tname_empty(mcase *m) {
    hdr(&m->b, 1, 0);
    tinfo(&m->b, "", 2, NE_32x2, GGML_TYPE_F32, 0);
    zeros(&m->b, TAIL);
    expect(m, 24, "empty tensor name");
}
static void ndims_case(mcase *m, uint32_t nd) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    uint64_t at = HERE;
    u32(&m->b, nd);
    zeros(&m->b, TAIL);
    expect(m, at, "tensor 'w' has %" PRIu32 " dimensions (expected 1 to 4)", nd);
}
static void c_ndims_0(mcase *m) {
    ndims_case(m, 0);
}
static void c_ndims_5(mcase *m) {
    ndims_case(m, 5);
}
static void c_ndims_max(mcase *m) {
    ndims_case(m, UINT32_MAX);
}
static void c_dim_zero(mcase *m) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    u32(&m->b, 2);
    u64(&m->b, 32);
    uint64_t at = HERE;
    u64(&m->b, 0);
    zeros(&m->b, TAIL);
    expect(m, at, "tensor 'w' dimension 1 is 0 (must be positive)");
}
static void c_dim_negative(mcase *m) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    u32(&m->b, 1);
    uint64_t at = HERE;
    u64(&m->b, (uint64_t)-5);
    zeros(&m->b, TAIL);
    expect(m, at, "tensor 'w' dimension 0 is -5 (must be positive)");
}
static void c_elements_overflow(mcase *m) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    u32(&m->b, 3);
    u64(&m->b, 1ull << 32);
    u64(&m->b, 1ull << 30);
    uint64_t at = HERE;
    u64(&m->b, 4); /* 2^32 * 2^30 * 4 = 2^64 elements */
    zeros(&m->b, TAIL);
    expect(m, at, "tensor 'w' element count overflows");
}
static void type_case(mcase *m, uint32_t type) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    u32(&m->b, 2);
    u64(&m->b, 256);
    u64(&m->b, 2);
    uint64_t at = HERE;
    u32(&m->b, type);
    u64(&m->b, 0);
    zeros(&m->b, TAIL);
    expect(m, at, "tensor 'w' has unknown or unsupported type id %" PRIu32, type);
}
/* removed ids (4, 5, 31-33, 36-38), unimplemented (Q8_1, IQ2_XXS, TQ1_0, NVFP4), unknown */
static void c_type_4(mcase *m) {
    type_case(m, 4);
}
static void c_type_5(mcase *m) {
    type_case(m, 5);
}
static void c_type_9(mcase *m) {
    type_case(m, 9);
}
static void c_type_16(mcase *m) {
    type_case(m, 16);
}
static void c_type_31(mcase *m) {
    type_case(m, 31);
}
static void c_type_32(mcase *m) {
    type_case(m, 32);
}
static void c_type_33(mcase *m) {
    type_case(m, 33);
}
static void c_type_34(mcase *m) {
    type_case(m, 34);
}
static void c_type_36(mcase *m) {
    type_case(m, 36);
}
static void c_type_37(mcase *m) {
    type_case(m, 37);
}
static void c_type_38(mcase *m) {
    type_case(m, 38);
}
static void c_type_40(mcase *m) {
    type_case(m, 40);
}
static void c_type_1000(mcase *m) {
    type_case(m, 1000);
}
static void block_case(mcase *m, uint32_t type, uint64_t ne0, const char *tname, int block) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    u32(&m->b, 1);
    u64(&m->b, ne0);
    uint64_t at = HERE;
    u32(&m->b, type);
    u64(&m->b, 0);
    zeros(&m->b, TAIL);
    expect(m, at, "tensor 'w': ne[0] = %" PRIu64 " is not a multiple of the %s block size %d", ne0,
           tname, block);
}
static void c_block_q8_0(mcase *m) {
    block_case(m, GGML_TYPE_Q8_0, 33, "Q8_0", 32);
}
static void c_block_mxfp4(mcase *m) {
    block_case(m, GGML_TYPE_MXFP4, 100, "MXFP4", 32);
}
static void c_block_q4_k(mcase *m) {
    block_case(m, GGML_TYPE_Q4_K, 128, "Q4_K", 256);
}
static void bytes_overflow_case(mcase *m, uint32_t type, uint32_t nd, const uint64_t *ne) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    u32(&m->b, nd);
    for (uint32_t d = 0; d < nd; d++) u64(&m->b, ne[d]);
    uint64_t at = HERE;
    u32(&m->b, type);
    u64(&m->b, 0);
    zeros(&m->b, TAIL);
    expect(m, at, "tensor 'w' byte size overflows");
}
static void c_bytes_overflow_row(mcase *m) {
    const uint64_t ne[1] = {1ull << 62}; /* 2^62 elements fit int64; 2^64 bytes do not */
    bytes_overflow_case(m, GGML_TYPE_F32, 1, ne);
}
static void c_bytes_overflow_rows(mcase *m) {
    const uint64_t ne[2] = {1ull << 31, 1ull << 31}; /* 2^62 elements x 8 bytes */
    bytes_overflow_case(m, GGML_TYPE_F64, 2, ne);
}
static void c_offset_misaligned(mcase *m) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    u32(&m->b, 2);
    u64(&m->b, 32);
    u64(&m->b, 2);
    u32(&m->b, GGML_TYPE_F32);
    uint64_t at = HERE;
    u64(&m->b, 4);
    zeros(&m->b, 512);
    expect(m, at, "tensor 'w' offset 4 is not a multiple of the alignment 32");
}
static void c_offset_misaligned_64(mcase *m) {
    hdr(&m->b, 1, 1);
    str(&m->b, "general.alignment");
    u32(&m->b, GGUF_VT_U32);
    u32(&m->b, 64);
    str(&m->b, "w");
    u32(&m->b, 1);
    u64(&m->b, 8);
    u32(&m->b, GGML_TYPE_F32);
    uint64_t at = HERE;
    u64(&m->b, 32);
    zeros(&m->b, 512);
    expect(m, at, "tensor 'w' offset 32 is not a multiple of the alignment 64");
}
/* One F32 tensor [32, 2] (256 bytes) at `off`, with `data` bytes of data section. */
static void placed(mcase *m, uint64_t off, size_t data) {
    hdr(&m->b, 1, 0);
    str(&m->b, "w");
    u32(&m->b, 2);
    u64(&m->b, 32);
    u64(&m->b, 2);
    u32(&m->b, GGML_TYPE_F32);
    uint64_t at = HERE;
    u64(&m->b, off);
    pad_to(&m->b, 32);
    zeros(&m->b, data);
    m->off = at;
}
static void c_data_past_eof(mcase *m) {
    placed(m, 1024, 512);
    expect(m, m->off,
           "tensor 'w' data (offset 1024, 256 bytes) extends past the end of the file (data "
           "section of 512 bytes)");
}
static void c_data_short_by_one(mcase *m) {
    placed(m, 0, 255);
    expect(m, m->off, "tensor 'w' data (offset 0, 256 bytes) extends past the end of the file");
}
static void c_data_offset_wraps(mcase *m) {
    placed(m, UINT64_MAX - 31, 512); /* aligned; offset + size wraps around 2^64 */
    expect(m, m->off, "extends past the end of the file");
}
static void two_tensors(mcase *m, const char *n1, uint64_t off1, const char *n2, uint64_t off2) {
    hdr(&m->b, 2, 0);
    tinfo(&m->b, n1, 2, NE_32x2, GGML_TYPE_F32, off1); /* 256 bytes each */
    str(&m->b, n2);
    u32(&m->b, 2);
    u64(&m->b, 32);
    u64(&m->b, 2);
    u32(&m->b, GGML_TYPE_F32);
    m->off = HERE;
    u64(&m->b, off2);
    pad_to(&m->b, 32);
    zeros(&m->b, 1024);
}
static void c_overlap_same(mcase *m) {
    two_tensors(m, "a", 0, "b", 0);
    expect(m, m->off, "tensor 'b' data overlaps tensor 'a'");
}
static void c_overlap_partial(mcase *m) {
    two_tensors(m, "a", 0, "b", 224);
    expect(m, m->off, "tensor 'b' data overlaps tensor 'a'");
}
static void c_dup_tensor(mcase *m) {
    hdr(&m->b, 2, 0);
    tinfo(&m->b, "a", 2, NE_32x2, GGML_TYPE_F32, 0);
    uint64_t at = HERE;
    tinfo(&m->b, "a", 2, NE_32x2, GGML_TYPE_F32, 256);
    pad_to(&m->b, 32);
    zeros(&m->b, 512);
    expect(m, at, "duplicate tensor name 'a'");
}
static void c_data_start_past_eof(mcase *m) {
    hdr(&m->b, 1, 0);
    tinfo(&m->b, "a-tensor-name-long-enough-to-fill", 1, NE_32x2, GGML_TYPE_F32, 0);
    expect(m, HERE, "data section would start at %zu, past the end of the file (%zu)",
           (HERE + 31) / 32 * 32, HERE);
}
static void trunc_tinfo(mcase *m, int stop, const char *what) {
    hdr(&m->b, 1, 0);
    str(&m->b, "a-tensor-name-long-enough-to-fill-the-count");
    if (stop > 0) u32(&m->b, 1);
    if (stop > 1) u64(&m->b, 32);
    if (stop > 2) u32(&m->b, GGML_TYPE_F32);
    uint64_t at = HERE;
    u8(&m->b, 0);
    expect(m, at, "unexpected end of file in %s", what);
}
static void c_trunc_ndims(mcase *m) {
    trunc_tinfo(m, 0, "tensor dimension count");
}
static void c_trunc_dim(mcase *m) {
    trunc_tinfo(m, 1, "tensor dimension");
}
static void c_trunc_type(mcase *m) {
    trunc_tinfo(m, 2, "tensor type");
}
static void c_trunc_offset(mcase *m) {
    trunc_tinfo(m, 3, "tensor offset");
}

typedef void (*case_fn)(mcase *);
static const struct {
    const char *name;
    case_fn fn;
} CASES[] = {
#define C(x)                                                                                       \
    { #x, c_##x }
    C(empty),
    C(short_magic),
    C(bad_magic),
    C(v0),
    C(v1),
    C(v4),
    C(v_big_endian),
    C(trunc_version),
    C(trunc_tcount),
    C(trunc_kvcount),
    C(tcount_huge),
    C(tcount_max),
    C(kvcount_huge),
    C(counts_together),
    C(key_len_max),
    C(key_len_limit),
    C(key_past_eof),
    C(key_empty),
    C(vtype_13),
    C(vtype_high),
    C(str_past_eof),
    C(str_len_max),
    C(bool_2),
    C(trunc_u64_value),
    C(trunc_u32_value),
    C(trunc_value_type),
    C(arr_bad_elem),
    C(arr_u32_huge),
    C(arr_u64_wrap),
    C(arr_str_huge),
    C(arr_arr_huge),
    C(arr_u16_short),
    C(arr_str_inner_eof),
    C(arr_too_deep),
    C(arr_bool_2),
    C(dup_key),
    C(align_u64),
    C(align_i32),
    C(align_str),
    C(align_0),
    C(align_48),
    C(tname_64),
    C(tname_empty),
    C(ndims_0),
    C(ndims_5),
    C(ndims_max),
    C(dim_zero),
    C(dim_negative),
    C(elements_overflow),
    C(type_4),
    C(type_5),
    C(type_9),
    C(type_16),
    C(type_31),
    C(type_32),
    C(type_33),
    C(type_34),
    C(type_36),
    C(type_37),
    C(type_38),
    C(type_40),
    C(type_1000),
    C(block_q8_0),
    C(block_mxfp4),
    C(block_q4_k),
    C(bytes_overflow_row),
    C(bytes_overflow_rows),
    C(offset_misaligned),
    C(offset_misaligned_64),
    C(data_past_eof),
    C(data_short_by_one),
    C(data_offset_wraps),
    C(overlap_same),
    C(overlap_partial),
    C(dup_tensor),
    C(data_start_past_eof),
    C(trunc_ndims),
    C(trunc_dim),
    C(trunc_type),
    C(trunc_offset),
#undef C
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

static void check_rejected(const uint8_t *p, size_t n, const char *name, uint64_t off,
                           const char *reason) {
    /* an exact-size heap copy, so ASan catches any read past the end */
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, p, n);
    gguf_file *f = (gguf_file *)0x1;
    gptc_error err;
    gptc_status st = gguf_open_memory(copy, n, name, &f, &err);
    ck_assert_msg(st == GPTC_ERR_FORMAT, "%s: accepted (status %d), expected '%s'", name, st,
                  reason);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(err.status, GPTC_ERR_FORMAT);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s: offset %" PRIu64 ": ", name, off);
    ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s: got '%s', want '%s%s'", name,
                  err.msg, prefix, reason);
    ck_assert_msg(strstr(err.msg + strlen(prefix), reason) != NULL, "%s: got '%s', want '%s'", name,
                  err.msg, reason);
    ck_assert(strchr(err.msg, '\n') == NULL);
    free(copy);
}

START_TEST(test_corpus) {
    mcase *m = calloc(1, sizeof *m);
    CASES[_i].fn(m);
    check_rejected(m->b.p, m->b.len, CASES[_i].name, m->off, m->reason);
    free(m);
}
END_TEST

/* The same through gguf_open on disk: the message starts with the path. */
START_TEST(test_on_disk) {
    mcase *m = calloc(1, sizeof *m);
    c_dup_key(m);
    char path[4096];
    snprintf(path, sizeof path, "%s/dup.gguf", tu_tmpdir());
    ck_assert_int_eq(tu_write_file(path, m->b.p, m->b.len), 0);
    gguf_file *f;
    gptc_error err;
    ck_assert_int_eq(gguf_open(path, &f, &err), GPTC_ERR_FORMAT);
    char want[4200];
    snprintf(want, sizeof want, "%s: offset %" PRIu64 ": duplicate key 'k'", path, m->off);
    ck_assert_str_eq(err.msg, want);
    free(m);

    snprintf(path, sizeof path, "%s/empty.gguf", tu_tmpdir());
    ck_assert_int_eq(tu_write_file(path, "", 0), 0);
    ck_assert_int_eq(gguf_open(path, &f, &err), GPTC_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: offset 0: unexpected end of file in magic", path);
    ck_assert_ptr_nonnull(strstr(err.msg, want));

    ck_assert_int_eq(gguf_open(tu_tmpdir(), &f, &err), GPTC_ERR_IO); /* a directory */
    snprintf(path, sizeof path, "%s/missing.gguf", tu_tmpdir());
    ck_assert_int_eq(gguf_open(path, &f, &err), GPTC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
}
END_TEST

/* Near-limit inputs that are valid must still be accepted. */
START_TEST(test_valid_edges) {
    gguf_file *f;
    gptc_error err;
    buf *b = calloc(1, sizeof *b);
    /* four levels of nesting: [[[[1]]]] */
    hdr(b, 0, 1);
    str(b, "deep");
    u32(b, GGUF_VT_ARRAY);
    for (int i = 0; i < 3; i++) {
        u32(b, GGUF_VT_ARRAY);
        u64(b, 1);
    }
    u32(b, GGUF_VT_U8);
    u64(b, 1);
    u8(b, 1);
    ck_assert_msg(gguf_open_memory(b->p, b->len, "deep", &f, &err) == GPTC_OK, "%s", err.msg);
    gguf_close(f);

    /* 63-byte tensor name, alignment 1, no padding after the last tensor, ne[0] a block */
    b->len = 0;
    hdr(b, 1, 1);
    str(b, "general.alignment");
    u32(b, GGUF_VT_U32);
    u32(b, 1);
    char name[64];
    memset(name, 'x', 63);
    name[63] = 0;
    const uint64_t ne[1] = {32};
    tinfo(b, name, 1, ne, GGML_TYPE_MXFP4, 0);
    zeros(b, 17);
    ck_assert_msg(gguf_open_memory(b->p, b->len, "edge", &f, &err) == GPTC_OK, "%s", err.msg);
    ck_assert_uint_eq(gguf_alignment(f), 1);
    ck_assert_uint_eq(gguf_data_offset(f), b->len - 17);
    ck_assert_ptr_nonnull(gguf_find_tensor(f, name));
    gguf_close(f);

    /* no tensors: the data section may be missing entirely */
    b->len = 0;
    hdr(b, 0, 1);
    str(b, "k");
    u32(b, GGUF_VT_U8);
    u8(b, 5);
    ck_assert_msg(gguf_open_memory(b->p, b->len, "kvonly", &f, &err) == GPTC_OK, "%s", err.msg);
    gguf_close(f);
    free(b);
}
END_TEST

/* ---- truncation at every structural boundary of a valid file ------------------------------ */

typedef struct mark {
    size_t at;     /* truncate the file to this many bytes */
    uint64_t off;  /* expected error offset */
    char why[128]; /* expected reason */
} mark;
typedef struct marked {
    buf b;
    mark marks[128];
    int n;
} marked;

static void mk(marked *v, uint64_t off, const char *fmt, ...) {
    ck_assert(v->n < 128);
    mark *k = &v->marks[v->n++];
    k->at = v->b.len;
    k->off = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof k->why, fmt, ap);
    va_end(ap);
}
static void mk_u32(marked *v, const char *what, uint32_t x) {
    mk(v, v->b.len, "unexpected end of file in %s", what);
    u32(&v->b, x);
}
static void mk_u64(marked *v, const char *what, uint64_t x) {
    mk(v, v->b.len, "unexpected end of file in %s", what);
    u64(&v->b, x);
}
static void mk_str(marked *v, const char *what, const char *s) {
    uint64_t at = v->b.len;
    mk_u64(v, what, strlen(s));
    if (*s) mk(v, at, "%s length %zu exceeds the 0 bytes left", what, strlen(s));
    put(&v->b, s, strlen(s));
}

/* 3 KVs (string, u32, string) and 2 tensors (F32 [8, 2], Q8_0 [32]), alignment 32. */
static void build_marked(marked *v) {
    put(&v->b, "GGUF", 4);
    u32(&v->b, 3);
    u64(&v->b, 2);
    u64(&v->b, 3);
    const char *keys[3] = {"general.architecture", "gpt2.context_length", "general.name"};
    for (int i = 0; i < 3; i++) {
        mk_str(v, "key", keys[i]);
        mk_u32(v, "value type", i == 1 ? GGUF_VT_U32 : GGUF_VT_STRING);
        if (i == 1)
            mk_u32(v, "u32", 1024);
        else
            mk_str(v, "string value", i == 0 ? "gpt2" : "a model with a longer name");
    }
    const char *names[2] = {"token_embd.weight", "output.weight"};
    uint64_t offat[2];
    for (int t = 0; t < 2; t++) {
        mk_str(v, "tensor name", names[t]);
        mk_u32(v, "tensor dimension count", t == 0 ? 2 : 1);
        mk_u64(v, "tensor dimension", t == 0 ? 8 : 32);
        if (t == 0) mk_u64(v, "tensor dimension", 2);
        mk_u32(v, "tensor type", t == 0 ? GGML_TYPE_F32 : GGML_TYPE_Q8_0);
        offat[t] = v->b.len;
        mk_u64(v, "tensor offset", t == 0 ? 0 : 64);
    }
    size_t end_infos = v->b.len, data = (end_infos + 31) / 32 * 32;
    mk(v, end_infos, "data section would start at %zu, past the end of the file", data);
    pad_to(&v->b, 32);
    mk(v, offat[0], "tensor 'token_embd.weight' data (offset 0, 64 bytes) extends past");
    for (int i = 0; i < 64; i++) u8(&v->b, (uint8_t)i);
    mk(v, offat[1], "tensor 'output.weight' data (offset 64, 34 bytes) extends past");
    for (int i = 0; i < 34; i++) u8(&v->b, (uint8_t)(i * 3));
}

START_TEST(test_truncation_sweep) {
    marked *v = calloc(1, sizeof *v);
    build_marked(v);
    gguf_file *f;
    gptc_error err;
    ck_assert_msg(gguf_open_memory(v->b.p, v->b.len, "full", &f, &err) == GPTC_OK, "%s", err.msg);
    gguf_close(f);
    /* header boundaries */
    check_rejected(v->b.p, 0, "trunc", 0, "unexpected end of file in magic");
    check_rejected(v->b.p, 4, "trunc", 4, "unexpected end of file in version");
    check_rejected(v->b.p, 8, "trunc", 8, "unexpected end of file in tensor count");
    check_rejected(v->b.p, 16, "trunc", 16, "unexpected end of file in metadata count");
    int checked = 4;
    for (int i = 0; i < v->n; i++) {
        const mark *k = &v->marks[i];
        /* The header's count check (n_kv x 14 + n_tensors x 33 bytes at least) fires first
         * while the file is too short for that. */
        size_t rest = k->at - 24;
        char why[160];
        uint64_t off = k->off;
        if (2 > rest / 33) {
            snprintf(why, sizeof why, "tensor count 2 is too large for a file of %zu bytes", k->at);
            off = 8;
        } else if (3 > rest / 14) {
            snprintf(why, sizeof why, "metadata count 3 is too large for a file of %zu bytes",
                     k->at);
            off = 16;
        } else if (3 * 14 + 2 * 33 > rest) {
            snprintf(why, sizeof why, "are too large for a file of %zu bytes", k->at);
            off = 8;
        } else {
            snprintf(why, sizeof why, "%s", k->why);
        }
        check_rejected(v->b.p, k->at, "trunc", off, why);
        checked++;
    }
    ck_assert_int_ge(checked, 30);
    free(v);
}
END_TEST

/* ---- random byte flips (fixed seed) ------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static volatile uint64_t sink;

static void walk(const gguf_value *v) {
    if (v->type == GGUF_VT_STRING)
        for (uint64_t i = 0; i < v->v.str.len; i++) sink += (uint8_t)v->v.str.ptr[i];
    if (v->type != GGUF_VT_ARRAY) return;
    uint64_t pos = 0;
    const uint8_t *cur;
    gguf_value e;
    while (gguf_arr_next_value(v, &pos, &cur, &e)) walk(&e);
}

START_TEST(test_random_flips) {
    marked *v = calloc(1, sizeof *v);
    build_marked(v);
    size_t n = v->b.len;
    int rejected = 0, accepted = 0;
    FILE *null = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(null);
    for (int iter = 0; iter < 3000; iter++) {
        uint8_t *p = malloc(n);
        memcpy(p, v->b.p, n);
        int flips = 1 + (int)(next_rand() % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)(next_rand() % n);
            if (next_rand() % 2)
                p[at] ^= (uint8_t)(1u << (next_rand() % 8));
            else
                p[at] = (uint8_t)next_rand();
        }
        gguf_file *f;
        gptc_error err;
        gptc_status st = gguf_open_memory(p, n, "flip", &f, &err);
        if (st == GPTC_OK) {
            accepted++;
            for (uint64_t i = 0; i < gguf_n_kv(f); i++) walk(&gguf_kv_at(f, i)->value);
            for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
                const gguf_tensor *t = gguf_tensor_at(f, i);
                const uint8_t *d = t->data;
                ck_assert(d >= p && d + t->n_bytes <= p + n);
                sink += d[0] + d[t->n_bytes - 1];
            }
            gguf_inspect(f, GPTC_INSPECT_JSON, null);
            gguf_inspect(f, GPTC_INSPECT_TENSORS, null);
            gguf_close(f);
        } else {
            rejected++;
            ck_assert_int_eq(st, GPTC_ERR_FORMAT);
            unsigned long long off;
            ck_assert_msg(sscanf(err.msg, "flip: offset %llu: ", &off) == 1, "%s", err.msg);
            ck_assert_uint_le(off, n);
            ck_assert(strchr(err.msg, '\n') == NULL);
        }
        free(p);
    }
    fclose(null);
    ck_assert_int_gt(rejected, 1000); /* most flips break something */
    ck_assert_int_gt(accepted, 10);   /* flips in tensor data or string bytes are harmless */
    free(v);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gguf_malformed");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_corpus, 0, N_CASES);
    tcase_add_test(tc, test_on_disk);
    tcase_add_test(tc, test_valid_edges);
    tcase_add_test(tc, test_truncation_sweep);
    tcase_add_test(tc, test_random_flips);
    suite_add_tcase(s, tc);
    int nf = tu_suite_failures(s, 0);
    printf("malformed corpus: %d hand-built files + truncation sweep + 3000 random flips\n",
           N_CASES);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
