/* types.c — the ggml tensor type table (block sizes from docs/quant.md §1), GGUF metadata type
 * names, and the generic public functions of gptc.h (gptc_status_name, gptc_cache_type_name,
 * gptc_free), which
 * live here because gguf is the base library every other module links. */
#include <stdlib.h>

#include "gguf/gguf.h"

/* Only the types gptc implements. Removed ids (4, 5, 31-33, 36-38), IQ and TQ types, Q8_1
 * (activation-only, its size differs between ggml and gguf-py) and unknown ids are absent, so
 * ggml_type_get returns NULL and readers reject them. */
static const ggml_type_info TYPES[] = {
#define TYPE_INFO_(name, id, be, bb, use) [id] = {use ? #name : NULL, be, bb},
    GGML_TYPE_TABLE(TYPE_INFO_)
#undef TYPE_INFO_
};

const ggml_type_info *ggml_type_get(uint32_t type) {
    if (type >= sizeof TYPES / sizeof TYPES[0] || TYPES[type].name == NULL) return NULL;
    return &TYPES[type];
}

size_t ggml_row_size(uint32_t type, int64_t n) {
    const ggml_type_info *t = ggml_type_get(type);
    if (!t || n < 0 || n % t->block_elems != 0) return 0;
    uint64_t blocks = (uint64_t)n / (uint64_t)t->block_elems;
    if (blocks > SIZE_MAX / (uint64_t)t->block_bytes) return 0;
    return (size_t)(blocks * (uint64_t)t->block_bytes);
}

const char *gguf_vtype_name(gguf_vtype t) {
    static const char *const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    if ((unsigned)t >= sizeof names / sizeof names[0]) return "unknown";
    return names[t];
}

const char *gptc_status_name(gptc_status s) {
    switch (s) {
    case GPTC_OK:
        return "ok";
    case GPTC_ERR_INVALID_ARG:
        return "invalid argument";
    case GPTC_ERR_IO:
        return "i/o error";
    case GPTC_ERR_FORMAT:
        return "format error";
    case GPTC_ERR_UNSUPPORTED:
        return "unsupported";
    case GPTC_ERR_NOMEM:
        return "out of memory";
    case GPTC_ERR_DEVICE:
        return "device error";
    case GPTC_ERR_DEVICE_NOMEM:
        return "out of device memory";
    case GPTC_ERR_CONTEXT_FULL:
        return "context full";
    case GPTC_ERR_INTERRUPTED:
        return "interrupted";
    }
    return "unknown status";
}

const char *gptc_cache_type_name(gptc_cache_type t) {
    switch (t) {
    case GPTC_CACHE_DEFAULT:
        return "default";
    case GPTC_CACHE_F32:
        return "f32";
    case GPTC_CACHE_F16:
        return "f16";
    case GPTC_CACHE_Q8_0:
        return "q8_0";
    }
    return "unknown";
}

void gptc_free(void *p) {
    free(p);
}

int gguf_vtype_size(uint32_t t) {
    switch (t) {
    case GGUF_VT_U8:
    case GGUF_VT_I8:
    case GGUF_VT_BOOL:
        return 1;
    case GGUF_VT_U16:
    case GGUF_VT_I16:
        return 2;
    case GGUF_VT_U32:
    case GGUF_VT_I32:
    case GGUF_VT_F32:
        return 4;
    case GGUF_VT_U64:
    case GGUF_VT_I64:
    case GGUF_VT_F64:
        return 8;
    default:
        return 0;
    }
}
