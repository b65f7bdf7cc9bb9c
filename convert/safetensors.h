/* safetensors.h — a Hugging Face checkpoint's tensors: one or more *.safetensors files (an
 * 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then
 * the data), with model.safetensors.index.json naming the shard of each tensor when the model is
 * sharded. Files are mapped read-only; everything in the headers is validated (offsets inside
 * the file, sizes = elements x dtype size, no overlaps, index and shards agree). */
#ifndef GPTC_CONVERT_SAFETENSORS_H
#define GPTC_CONVERT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

typedef enum st_dtype {
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_F64,
    ST_U8,
    ST_I8,
    ST_I16,
    ST_I32,
    ST_I64,
    ST_BOOL,
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int n_dims;
    int64_t shape[ST_MAX_DIMS]; /* row-major, shape[n_dims-1] fastest (PyTorch order) */
    uint64_t n_elements;
    uint64_t n_bytes;
    const uint8_t *data; /* inside the file's mapping */
    int file;            /* index into the checkpoint's files */
} st_tensor;

typedef struct st_checkpoint st_checkpoint;

/* Opens every safetensors file of the folder `dir`: the shards listed by
 * model.safetensors.index.json when it exists, else all *.safetensors files (sorted). */
gptc_status st_open_dir(const char *dir, st_checkpoint **out, gptc_error *err);
/* One file (for tests). */
gptc_status st_open_file(const char *path, st_checkpoint **out, gptc_error *err);
void st_close(st_checkpoint *c);

size_t st_count(const st_checkpoint *c);
const st_tensor *st_at(const st_checkpoint *c, size_t i);           /* sorted by name */
const st_tensor *st_find(const st_checkpoint *c, const char *name); /* NULL when absent */
const char *st_file_path(const st_checkpoint *c, int file);

const char *st_dtype_name(st_dtype t); /* "F32", "BF16", ... as in the header */
int st_dtype_size(st_dtype t);

#endif
