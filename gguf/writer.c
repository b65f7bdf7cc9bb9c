/* writer.c — builds GGUF v2/v3 files (format: docs/gguf.md §1).
 *
 *   header   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   KVs      key (u64 len + bytes), u32 value type, value
 *   infos    name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset (relative to the data)
 *   padding  zeros up to a multiple of the alignment (from file offset 0)
 *   data     each tensor in info order, padded with zeros to the alignment, so
 *            offset_i = sum_{k<i} align_up(nbytes_k) — the layout ggml's reader insists on.
 *
 * Metadata is encoded into one byte buffer as it is added (it is small: the largest is a
 * tokenizer vocabulary). Tensor data is not copied: the writer keeps the caller's pointer or
 * calls the caller's callback at write time, so a 12 GB model streams straight to disk.
 * Errors in add_* calls are remembered; gguf_writer_write reports the first one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "gguf/gguf.h"

#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_TENSOR_NAME 63 /* ggml: name length < GGML_MAX_NAME (64) */
#define GGUF_MAX_KEY 65535      /* spec */

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
    uint64_t n_bytes;
    const void *data;
    gguf_tensor_writer_fn fn;
    void *user;
} wtensor;

struct gguf_writer {
    uint32_t version;
    uint32_t alignment;     /* used for the layout */
    int alignment_set;      /* set_alignment called: emit general.alignment at write time */
    int alignment_key_seen; /* a general.alignment key was added explicitly */
    uint8_t *meta;          /* encoded KV pairs */
    size_t meta_len, meta_cap;
    uint64_t n_kv;
    char **keys; /* for duplicate detection */
    size_t keys_cap;
    wtensor *tensors;
    uint64_t n_tensors;
    size_t tensors_cap;
    gptc_status status; /* first error of an add_* call */
    char msg[GPTC_ERROR_MSG_MAX];
};

static gptc_status fail(gguf_writer *w, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gptc_status fail(gguf_writer *w, gptc_status st, const char *fmt, ...) {
    if (w->status == GPTC_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->msg, sizeof w->msg, fmt, ap);
        va_end(ap);
        w->status = st;
    }
    return st;
}

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->version = 3;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    free(w->meta);
    free(w);
}

static int is_pow2(uint64_t x) {
    return x != 0 && (x & (x - 1)) == 0;
}

void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment) {
    if (!w) return;
    if (!is_pow2(alignment)) {
        fail(w, GPTC_ERR_INVALID_ARG, "alignment %u is not a power of two", alignment);
        return;
    }
    w->alignment = alignment;
    w->alignment_set = 1;
}

void gguf_writer_set_version(gguf_writer *w, uint32_t version) {
    if (!w) return;
    if (version != 2 && version != 3) {
        fail(w, GPTC_ERR_INVALID_ARG, "GGUF version %u cannot be written (2 or 3)", version);
        return;
    }
    w->version = version;
}

/* ---- metadata encoding ------------------------------------------------------------------- */

static int meta_put(gguf_writer *w, const void *p, size_t n) {
    if (n > SIZE_MAX - w->meta_len) return -1;
    if (w->meta_len + n > w->meta_cap) {
        size_t cap = w->meta_cap ? w->meta_cap : 4096;
        while (cap < w->meta_len + n) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        uint8_t *m = realloc(w->meta, cap);
        if (!m) return -1;
        w->meta = m;
        w->meta_cap = cap;
    }
    if (n) memcpy(w->meta + w->meta_len, p, n);
    w->meta_len += n;
    return 0;
}

static int meta_u32(gguf_writer *w, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    return meta_put(w, b, 4);
}

static int meta_u64(gguf_writer *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    return meta_put(w, b, 8);
}

static int meta_str(gguf_writer *w, const char *s, size_t len) {
    return meta_u64(w, len) || meta_put(w, s, len);
}

/* Checks the key and appends "key, type" to the metadata. */
static gptc_status begin_kv(gguf_writer *w, const char *key, gguf_vtype type) {
    if (!key || !*key) return fail(w, GPTC_ERR_INVALID_ARG, "empty metadata key");
    size_t klen = strlen(key);
    if (klen > GGUF_MAX_KEY)
        return fail(w, GPTC_ERR_INVALID_ARG, "metadata key of %zu bytes is too long", klen);
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key))
            return fail(w, GPTC_ERR_INVALID_ARG, "duplicate metadata key %s", key);
    if (w->n_kv == w->keys_cap) {
        size_t cap = w->keys_cap ? w->keys_cap * 2 : 32;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return fail(w, GPTC_ERR_NOMEM, "out of memory");
        w->keys = k;
        w->keys_cap = cap;
    }
    char *copy = strdup(key);
    if (!copy || meta_str(w, key, klen) || meta_u32(w, (uint32_t)type)) {
        free(copy);
        return fail(w, GPTC_ERR_NOMEM, "out of memory");
    }
    w->keys[w->n_kv++] = copy;
    if (!strcmp(key, "general.alignment")) w->alignment_key_seen = 1;
    return GPTC_OK;
}

static gptc_status add_scalar(gguf_writer *w, const char *key, gguf_vtype t, uint64_t bits,
                              int size) {
    if (!w) return GPTC_ERR_INVALID_ARG;
    gptc_status st = begin_kv(w, key, t);
    if (st) return st;
    uint8_t b[8];
    for (int i = 0; i < size; i++) b[i] = (uint8_t)(bits >> (8 * i));
    if (meta_put(w, b, (size_t)size)) return fail(w, GPTC_ERR_NOMEM, "out of memory");
    return GPTC_OK;
}

gptc_status gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v) {
    return add_scalar(w, key, GGUF_VT_U8, v, 1);
}
gptc_status gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v) {
    return add_scalar(w, key, GGUF_VT_I8, (uint8_t)v, 1);
}
gptc_status gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v) {
    return add_scalar(w, key, GGUF_VT_U16, v, 2);
}
gptc_status gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v) {
    return add_scalar(w, key, GGUF_VT_I16, (uint16_t)v, 2);
}
gptc_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v) {
    gptc_status st = add_scalar(w, key, GGUF_VT_U32, v, 4);
    /* An explicit general.alignment also drives the layout (when it is a usable value). */
    if (st == GPTC_OK && !strcmp(key, "general.alignment") && is_pow2(v)) w->alignment = v;
    return st;
}
gptc_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v) {
    return add_scalar(w, key, GGUF_VT_I32, (uint32_t)v, 4);
}
gptc_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v) {
    return add_scalar(w, key, GGUF_VT_U64, v, 8);
}
gptc_status gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v) {
    return add_scalar(w, key, GGUF_VT_I64, (uint64_t)v, 8);
}
gptc_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return add_scalar(w, key, GGUF_VT_F32, bits, 4);
}
gptc_status gguf_writer_add_f64(gguf_writer *w, const char *key, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return add_scalar(w, key, GGUF_VT_F64, bits, 8);
}
gptc_status gguf_writer_add_bool(gguf_writer *w, const char *key, int v) {
    return add_scalar(w, key, GGUF_VT_BOOL, v ? 1 : 0, 1);
}

gptc_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *s, size_t len) {
    if (!w) return GPTC_ERR_INVALID_ARG;
    if (!s && len) return fail(w, GPTC_ERR_INVALID_ARG, "NULL string for key %s", key);
    gptc_status st = begin_kv(w, key, GGUF_VT_STRING);
    if (st) return st;
    if (meta_str(w, s ? s : "", len)) return fail(w, GPTC_ERR_NOMEM, "out of memory");
    return GPTC_OK;
}

gptc_status gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_vtype elem_type,
                                const void *data, uint64_t count) {
    if (!w) return GPTC_ERR_INVALID_ARG;
    int es = gguf_vtype_size(elem_type);
    if (es == 0)
        return fail(w, GPTC_ERR_INVALID_ARG, "array %s: element type %d is not a scalar", key,
                    (int)elem_type);
    if (count && !data) return fail(w, GPTC_ERR_INVALID_ARG, "array %s: NULL data", key);
    if (count > SIZE_MAX / (size_t)es)
        return fail(w, GPTC_ERR_INVALID_ARG, "array %s: too many elements", key);
    gptc_status st = begin_kv(w, key, GGUF_VT_ARRAY);
    if (st) return st;
    if (meta_u32(w, (uint32_t)elem_type) || meta_u64(w, count))
        return fail(w, GPTC_ERR_NOMEM, "out of memory");
    /* Elements are written little-endian one by one (host order may differ). */
    const uint8_t *p = data;
    for (uint64_t i = 0; i < count; i++, p += es) {
        uint64_t bits = 0;
        switch (es) {
        case 1:
            bits = *p;
            break;
        case 2: {
            uint16_t v;
            memcpy(&v, p, 2);
            bits = v;
        } break;
        case 4: {
            uint32_t v;
            memcpy(&v, p, 4);
            bits = v;
        } break;
        default:
            memcpy(&bits, p, 8);
            break;
        }
        if (elem_type == GGUF_VT_BOOL) bits = bits ? 1 : 0;
        uint8_t b[8];
        for (int k = 0; k < es; k++) b[k] = (uint8_t)(bits >> (8 * k));
        if (meta_put(w, b, (size_t)es)) return fail(w, GPTC_ERR_NOMEM, "out of memory");
    }
    return GPTC_OK;
}

gptc_status gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                    const size_t *lens, uint64_t count) {
    if (!w) return GPTC_ERR_INVALID_ARG;
    if (count && !strs) return fail(w, GPTC_ERR_INVALID_ARG, "array %s: NULL strings", key);
    for (uint64_t i = 0; i < count; i++)
        if (!strs[i] && (!lens || lens[i]))
            return fail(w, GPTC_ERR_INVALID_ARG, "array %s: NULL string %llu", key,
                        (unsigned long long)i);
    gptc_status st = begin_kv(w, key, GGUF_VT_ARRAY);
    if (st) return st;
    if (meta_u32(w, GGUF_VT_STRING) || meta_u64(w, count))
        return fail(w, GPTC_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < count; i++) {
        const char *s = strs[i] ? strs[i] : "";
        if (meta_str(w, s, lens ? lens[i] : strlen(s)))
            return fail(w, GPTC_ERR_NOMEM, "out of memory");
    }
    return GPTC_OK;
}

gptc_status gguf_writer_add_raw(gguf_writer *w, const char *key, gguf_vtype vtype,
                                const void *encoded, size_t bytes) {
    if (!w) return GPTC_ERR_INVALID_ARG;
    if (bytes && !encoded) return fail(w, GPTC_ERR_INVALID_ARG, "raw value %s: NULL data", key);
    gptc_status st = begin_kv(w, key, vtype);
    if (st) return st;
    if (meta_put(w, encoded, bytes)) return fail(w, GPTC_ERR_NOMEM, "out of memory");
    return GPTC_OK;
}

/* ---- tensors ------------------------------------------------------------------------------ */

static gptc_status add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const int64_t *ne, const void *data, gguf_tensor_writer_fn fn,
                              void *user) {
    if (!w) return GPTC_ERR_INVALID_ARG;
    if (!name || !*name) return fail(w, GPTC_ERR_INVALID_ARG, "empty tensor name");
    if (strlen(name) > GGUF_MAX_TENSOR_NAME)
        return fail(w, GPTC_ERR_INVALID_ARG, "tensor name %s is longer than %d bytes", name,
                    GGUF_MAX_TENSOR_NAME);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return fail(w, GPTC_ERR_INVALID_ARG, "duplicate tensor name %s", name);
    const ggml_type_info *ti = ggml_type_get(type);
    if (!ti) return fail(w, GPTC_ERR_INVALID_ARG, "tensor %s: unknown type %u", name, type);
    if (n_dims < 1 || n_dims > 4 || !ne)
        return fail(w, GPTC_ERR_INVALID_ARG, "tensor %s: %u dimensions (1..4)", name, n_dims);
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .fn = fn, .user = user};
    for (int d = 0; d < 4; d++) t.ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0)
            return fail(w, GPTC_ERR_INVALID_ARG, "tensor %s: dimension %u is %lld", name, d,
                        (long long)ne[d]);
        t.ne[d] = ne[d];
    }
    size_t row = ggml_row_size(type, t.ne[0]);
    if (row == 0)
        return fail(w, GPTC_ERR_INVALID_ARG, "tensor %s: ne[0]=%lld is not a multiple of %d", name,
                    (long long)t.ne[0], ti->block_elems);
    uint64_t nb = row;
    for (int d = 1; d < 4; d++) {
        if ((uint64_t)t.ne[d] > (UINT64_MAX >> 1) / nb)
            return fail(w, GPTC_ERR_INVALID_ARG, "tensor %s: size overflows", name);
        nb *= (uint64_t)t.ne[d];
    }
    t.n_bytes = nb;
    if (!data && !fn) return fail(w, GPTC_ERR_INVALID_ARG, "tensor %s: no data", name);
    if (w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? w->tensors_cap * 2 : 64;
        wtensor *n = realloc(w->tensors, cap * sizeof *n);
        if (!n) return fail(w, GPTC_ERR_NOMEM, "out of memory");
        w->tensors = n;
        w->tensors_cap = cap;
    }
    t.name = strdup(name);
    if (!t.name) return fail(w, GPTC_ERR_NOMEM, "out of memory");
    w->tensors[w->n_tensors++] = t;
    return GPTC_OK;
}

gptc_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, const void *data) {
    if (!data)
        return w ? fail(w, GPTC_ERR_INVALID_ARG, "tensor %s: NULL data", name)
                 : GPTC_ERR_INVALID_ARG;
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL);
}

gptc_status gguf_writer_add_tensor_fn(gguf_writer *w, const char *name, uint32_t type,
                                      uint32_t n_dims, const int64_t *ne, gguf_tensor_writer_fn fn,
                                      void *user) {
    if (!fn)
        return w ? fail(w, GPTC_ERR_INVALID_ARG, "tensor %s: NULL callback", name)
                 : GPTC_ERR_INVALID_ARG;
    return add_tensor(w, name, type, n_dims, ne, NULL, fn, user);
}

/* ---- writing ------------------------------------------------------------------------------ */

static uint64_t align_up(uint64_t x, uint64_t a) {
    return x + (a - x % a) % a;
}

static int put_u32(FILE *f, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int put_u64(FILE *f, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    return fwrite(b, 1, 8, f) == 8 ? 0 : -1;
}

static int put_zeros(FILE *f, uint64_t n) {
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, f) != k) return -1;
        n -= k;
    }
    return 0;
}

/* Header, KVs and tensor infos; returns the file position at their end in *pos. */
static int write_meta(gguf_writer *w, FILE *f, uint64_t *pos) {
    if (fwrite("GGUF", 1, 4, f) != 4 || put_u32(f, w->version) || put_u64(f, w->n_tensors) ||
        put_u64(f, w->n_kv) || (w->meta_len && fwrite(w->meta, 1, w->meta_len, f) != w->meta_len))
        return -1;
    uint64_t p = 24 + w->meta_len, offset = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        size_t nlen = strlen(t->name);
        if (put_u64(f, nlen) || fwrite(t->name, 1, nlen, f) != nlen || put_u32(f, t->n_dims))
            return -1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if (put_u64(f, (uint64_t)t->ne[d])) return -1;
        if (put_u32(f, t->type) || put_u64(f, offset)) return -1;
        p += 8 + nlen + 4 + 8ull * t->n_dims + 4 + 8;
        offset += align_up(t->n_bytes, w->alignment);
    }
    *pos = p;
    return 0;
}

/* One tensor's bytes, then zero padding to the alignment. */
static int write_tensor_data(gguf_writer *w, FILE *f, const wtensor *t, char *why, size_t cap) {
    if (t->data) {
        if (fwrite(t->data, 1, (size_t)t->n_bytes, f) != t->n_bytes) return -1;
    } else {
        off_t before = ftello(f);
        if (t->fn(t->user, f, t->n_bytes) != 0) {
            snprintf(why, cap, "tensor %s: data callback failed", t->name);
            return -1;
        }
        off_t after = ftello(f);
        if (before < 0 || after < 0 || (uint64_t)(after - before) != t->n_bytes) {
            snprintf(why, cap, "tensor %s: data callback wrote %lld bytes, expected %llu", t->name,
                     (long long)(after - before), (unsigned long long)t->n_bytes);
            return -1;
        }
    }
    return put_zeros(f, align_up(t->n_bytes, w->alignment) - t->n_bytes);
}

static gptc_status set_err(gptc_error *err, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gptc_status set_err(gptc_error *err, gptc_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = st;
    return st;
}

gptc_status gguf_writer_write(gguf_writer *w, const char *path, gptc_error *err) {
    gptc_error dummy;
    if (!err) err = &dummy;
    err->status = GPTC_OK;
    err->msg[0] = 0;
    if (!w || !path) return set_err(err, GPTC_ERR_INVALID_ARG, "gguf writer: NULL argument");
    if (w->alignment_set && !w->alignment_key_seen) {
        gguf_writer_add_u32(w, "general.alignment", w->alignment);
    }
    if (w->status != GPTC_OK) return set_err(err, w->status, "%s: %s", path, w->msg);
    /* Write to PATH.tmp, then rename: a failed write never leaves a half file under PATH. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return set_err(err, GPTC_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        set_err(err, GPTC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return err->status;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    char why[256] = "";
    uint64_t pos = 0;
    int bad = write_meta(w, f, &pos);
    if (!bad) bad = put_zeros(f, align_up(pos, w->alignment) - pos);
    for (uint64_t i = 0; !bad && i < w->n_tensors; i++)
        bad = write_tensor_data(w, f, &w->tensors[i], why, sizeof why);
    int saved = errno;
    if (fclose(f) != 0 && !bad) {
        bad = -1;
        saved = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = -1;
        saved = errno;
    }
    if (bad) {
        remove(tmp);
        if (why[0])
            set_err(err, GPTC_ERR_IO, "%s: %s", path, why);
        else
            set_err(err, GPTC_ERR_IO, "%s: cannot write: %s", path, strerror(saved));
    }
    free(tmp);
    return err->status;
}
