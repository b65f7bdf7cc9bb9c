/* gguf.h — GGUF v2/v3 reader (mmap, zero copy, everything validated) and writer.
 * Internal API shared by engine/, tokenizer/, cli/ (through gptc.h) and test tools.
 * Format: docs/gguf.md; type layouts: docs/quant.md.
 */
#ifndef GPTC_GGUF_H
#define GPTC_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gptc.h"

/* ---- ggml tensor types -------------------------------------------------------------------- */
#include "gguf/ggml_types.h" /* enum ggml_type, GGML_TYPE_TABLE */

typedef struct ggml_type_info {
    const char *name; /* "F32", "Q8_0", "MXFP4", ... */
    int block_elems;  /* elements per block */
    int block_bytes;  /* bytes per block */
} ggml_type_info;

/* NULL for ids gptc does not know (removed or unimplemented types). */
const ggml_type_info *ggml_type_get(uint32_t type);
/* Bytes of a row of n elements; 0 if the type is unknown or n is not a multiple of the block. */
size_t ggml_row_size(uint32_t type, int64_t n);

/* ---- metadata values ---------------------------------------------------------------------- */
typedef enum gguf_vtype {
    GGUF_VT_U8 = 0,
    GGUF_VT_I8 = 1,
    GGUF_VT_U16 = 2,
    GGUF_VT_I16 = 3,
    GGUF_VT_U32 = 4,
    GGUF_VT_I32 = 5,
    GGUF_VT_F32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8,
    GGUF_VT_ARRAY = 9,
    GGUF_VT_U64 = 10,
    GGUF_VT_I64 = 11,
    GGUF_VT_F64 = 12,
} gguf_vtype;
const char *gguf_vtype_name(gguf_vtype t); /* "u32", "string", "array", ... */
/* Encoded bytes of one scalar value of type t; 0 for string, array and unknown ids. */
int gguf_vtype_size(uint32_t t);

typedef struct gguf_str {
    const char *ptr; /* points into the mapping; NOT NUL-terminated */
    uint64_t len;
} gguf_str;

/* A value. Scalars are decoded; strings point into the mapping; arrays keep a pointer to their
 * first element in the mapping plus type/count (nested arrays: elem_type == GGUF_VT_ARRAY). */
typedef struct gguf_value {
    gguf_vtype type;
    union {
        uint64_t u64; /* u8/u16/u32/u64/bool */
        int64_t i64;  /* i8/i16/i32/i64 */
        double f64;   /* f32/f64 */
        gguf_str str;
        struct {
            gguf_vtype elem_type;
            uint64_t count;
            const uint8_t *data; /* first element in the mapping */
            uint64_t bytes;      /* total encoded size of the elements */
        } arr;
    } v;
} gguf_value;

typedef struct gguf_kv {
    gguf_str key;
    gguf_value value;
    uint64_t offset; /* file offset of the key */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[4];   /* GGUF order: ne[0] fastest; unused dims are 1 */
    uint32_t type;   /* ggml_type */
    uint64_t offset; /* relative to the data section */
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data; /* points into the mapping (zero copy) */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Opens path, mmaps it read-only and validates everything (see docs/gguf.md §3). On failure the
 * error message is "PATH: offset N: reason" (status GPTC_ERR_FORMAT, or GPTC_ERR_IO). */
gptc_status gguf_open(const char *path, gguf_file **out, gptc_error *err);
/* gguf_open with options: GGUF_OPEN_READ reads the file into memory instead of mapping it (a
 * file truncated or rewritten while in use can then do no harm); GGUF_OPEN_MLOCK locks the
 * bytes in RAM (mlock; fails with GPTC_ERR_NOMEM beyond RLIMIT_MEMLOCK). */
enum { GGUF_OPEN_READ = 1 << 0, GGUF_OPEN_MLOCK = 1 << 1 };
gptc_status gguf_open_opts(const char *path, unsigned flags, gguf_file **out, gptc_error *err);
/* Bytes after the end of the data section (the last tensor's data, padded to the alignment;
 * the aligned end of the header when there are no tensors): data no tensor describes. */
uint64_t gguf_trailing_bytes(const gguf_file *f);
/* The read-only mapping of a gguf_open'ed file: its address and length (0 when the file was
 * read into memory or is empty), so that a SIGBUS handler can tell a fault in it. */
size_t gguf_mapping(const gguf_file *f, const void **addr);
/* Same, over a caller-owned memory buffer (fuzzers, tests). `name` appears in messages. */
gptc_status gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out,
                             gptc_error *err);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
const char *gguf_path(const gguf_file *f);
/* The whole file: the read-only mapping (or the gguf_open_memory buffer), gguf_file_size bytes.
 * Tensor data and strings point inside it. */
const uint8_t *gguf_bytes(const gguf_file *f);

uint64_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i);
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key); /* NULL when missing */

uint64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name); /* NULL if missing */

/* Typed getters: GPTC_OK, or GPTC_ERR_FORMAT with "missing key K" / "key K has type T, expected
 * U" in err. Integer getters accept any integer type whose value fits. */
gptc_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, gptc_error *err);
gptc_status gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, gptc_error *err);
gptc_status gguf_get_f32(const gguf_file *f, const char *key, float *out, gptc_error *err);
gptc_status gguf_get_bool(const gguf_file *f, const char *key, int *out, gptc_error *err);
gptc_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, gptc_error *err);
/* Array of the given element type. */
gptc_status gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype elem_type,
                         const gguf_value **out, gptc_error *err);
/* Distinguish "missing" from "wrong type" without an error: 0 missing, 1 present. */
int gguf_has(const gguf_file *f, const char *key);

/* Iterate a string array: call with *pos = 0 first; returns 0 at the end. Strings were validated
 * at open, so iteration cannot fail. */
int gguf_arr_next_str(const gguf_value *arr, uint64_t *pos, const uint8_t **cursor, gguf_str *s);
/* Same for any element type: each element decoded as a gguf_value (scalars decoded, strings
 * and nested arrays pointing into the mapping; iterate a nested array with this again). */
int gguf_arr_next_value(const gguf_value *arr, uint64_t *pos, const uint8_t **cursor,
                        gguf_value *out);
/* Element i of a numeric array (u8..i64, f32, f64, bool) as double / int64. */
double gguf_arr_get_f64(const gguf_value *arr, uint64_t i);
int64_t gguf_arr_get_i64(const gguf_value *arr, uint64_t i);

/* Architecture from general.architecture: "gpt2", "gpt-oss"; anything else -> UNSUPPORTED
 * "unsupported architecture 'X'". */
gptc_status gguf_architecture(const gguf_file *f, char *buf, size_t cap, gptc_error *err);

/* Describes an open file as gptc inspect does (flags: GPTC_INSPECT_TENSORS, GPTC_INSPECT_JSON). */
void gguf_inspect(const gguf_file *f, unsigned flags, FILE *out);

/* ---- split models (gguf/shards.c) ---------------------------------------------------------
 * A model in one file or in llama.cpp gguf-split shards NAME-00001-of-0000N.gguf (docs/gguf.md
 * §2.1). gguf_shards_open takes the first shard (or the single file), opens every shard with
 * `flags` (GGUF_OPEN_*) and checks they form one model; messages name the shard at fault
 * ("missing shard PATH ...", "PATH is shard 2 of 3 of a split model: pass the first shard (...)").
 * Metadata lives in shard 0; tensors are looked up across all shards, each pointing into its own
 * shard's mapping. */
typedef struct gguf_shards gguf_shards;
gptc_status gguf_shards_open(const char *path, unsigned flags, gguf_shards **out, gptc_error *err);
void gguf_shards_close(gguf_shards *s);
int gguf_shards_count(const gguf_shards *s);              /* 1 for an unsplit file */
gguf_file *gguf_shards_file(const gguf_shards *s, int i); /* 0: the metadata (first shard) */
uint64_t gguf_shards_n_tensors(const gguf_shards *s);     /* all shards */
const gguf_tensor *gguf_shards_tensor_at(const gguf_shards *s, uint64_t i); /* shard order */
const gguf_tensor *gguf_shards_find_tensor(const gguf_shards *s, const char *name);
int gguf_shards_shard_of(const gguf_shards *s, const gguf_tensor *t); /* -1 when not ours */
uint64_t gguf_shards_size(const gguf_shards *s);                      /* bytes of all files */
/* "NAME-00002-of-00003.gguf" -> 1 with *no = 2, *count = 3; else 0. */
int gguf_split_name(const char *path, int *no, int *count);
/* The path of shard `no` (1-based) of `count`: path's NAME with "-0000no-of-0000count.gguf"
 * (path may itself be a shard name or a plain NAME). malloc'ed; NULL when out of memory. */
char *gguf_split_path(const char *path, int no, int count);

/* ---- writer ------------------------------------------------------------------------------- */
/* Builds a GGUF v3 file: add metadata and tensor descriptors (shapes, types, data pointers
 * or a callback), then write. Tensor data can be streamed (write_data callback) so a 12 GB model
 * never sits in memory. */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment); /* writes general.alignment */
void gguf_writer_set_version(gguf_writer *w, uint32_t version);     /* 2 or 3 (default 3) */

gptc_status gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v);
gptc_status gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v);
gptc_status gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v);
gptc_status gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v);
gptc_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v);
gptc_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v);
gptc_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v);
gptc_status gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v);
gptc_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v);
gptc_status gguf_writer_add_f64(gguf_writer *w, const char *key, double v);
gptc_status gguf_writer_add_bool(gguf_writer *w, const char *key, int v);
gptc_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *s, size_t len);
/* Array of scalars: elem_type is a scalar vtype, data holds count packed little-endian values. */
gptc_status gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_vtype elem_type,
                                const void *data, uint64_t count);
/* Array of strings. lens may be NULL (then strs are NUL-terminated). */
gptc_status gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                    const size_t *lens, uint64_t count);
/* Nested/raw value: `encoded` is the already-encoded value payload of type vtype (for tests of
 * nested arrays and deliberately odd files). */
gptc_status gguf_writer_add_raw(gguf_writer *w, const char *key, gguf_vtype vtype,
                                const void *encoded, size_t bytes);

/* Streaming tensor data: called once per tensor at write time; must write exactly `bytes`
 * bytes with fwrite to `out`. Return 0 on success. */
typedef int (*gguf_tensor_writer_fn)(void *user, FILE *out, uint64_t bytes);
/* Adds a tensor; data (copied lazily: the pointer must stay valid until write) or fn. */
gptc_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, const void *data);
gptc_status gguf_writer_add_tensor_fn(gguf_writer *w, const char *name, uint32_t type,
                                      uint32_t n_dims, const int64_t *ne, gguf_tensor_writer_fn fn,
                                      void *user);
gptc_status gguf_writer_write(gguf_writer *w, const char *path, gptc_error *err);

#endif /* GPTC_GGUF_H */
