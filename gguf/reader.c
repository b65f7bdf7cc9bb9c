/* reader.c — strict, zero-copy GGUF v2/v3 reader (format and checklist: docs/gguf.md).
 *
 *   offset 0   "GGUF"            magic
 *   offset 4   u32 version       2 or 3 (little-endian only)
 *   offset 8   u64 n_tensors
 *   offset 16  u64 n_kv
 *   offset 24  n_kv      x KV          key: u64 len + bytes, u32 value type, value
 *              n_tensors x tensor info name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset
 *              zero padding up to a multiple of general.alignment (default 32)
 *   data       tensor i at data_offset + offset_i
 *
 * The file is mapped read-only (or a caller's buffer is used) and parsed once, front to back,
 * by a bounds-checked cursor: every count and length is checked against the bytes that remain
 * before anything is allocated or skipped, and all size arithmetic is overflow-checked. Values
 * and tensor data stay in the mapping; the parsed records point into it. Any failure is a
 * GPTC_ERR_FORMAT with the message "PATH: offset N: reason", N being the file offset of the
 * field at fault. Nothing aborts on input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"

#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_KEY 65535u          /* spec: keys are at most 65535 bytes */
#define GGUF_MAX_TENSOR_NAME 63u     /* ggml: name length < GGML_MAX_NAME (64) */
#define GGUF_MAX_STRING (1ull << 30) /* ggml: GGUF_MAX_STRING_LENGTH */
#define GGUF_MAX_ARRAY_DEPTH 4       /* nested arrays: at most this many levels */
#define GGUF_MIN_KV_BYTES 14u        /* key len 8 + key 1 + type 4 + smallest value 1 */
#define GGUF_MIN_TENSOR_BYTES 33u    /* name len 8 + name 1 + n_dims 4 + ne 8 + type 4 + off 8 */

struct gguf_file {
    char *path;
    const uint8_t *base; /* mapping or caller buffer */
    uint64_t size;
    void *map; /* non-NULL when we own an mmap */
    size_t map_len;
    void *owned; /* non-NULL when we read the file into memory (GGUF_OPEN_READ) */
    int locked;  /* mlock'ed (GGUF_OPEN_MLOCK) */
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    gguf_kv *kvs;
    uint64_t n_kv;
    gguf_tensor *tensors;
    uint64_t n_tensors;
    const gguf_kv **kv_sorted;         /* by key bytes: duplicate check and lookup */
    const gguf_tensor **tensor_sorted; /* by name bytes */
};

/* ---- errors and the cursor --------------------------------------------------------------- */

typedef struct cursor {
    gguf_file *f;
    uint64_t pos;
    gptc_error *err;
} cursor;

static gptc_status failv(gptc_error *err, gptc_status st, const char *path, int with_offset,
                         uint64_t off, const char *fmt, va_list ap) {
    int n = with_offset ? snprintf(err->msg, sizeof err->msg, "%s: offset %llu: ", path,
                                   (unsigned long long)off)
                        : snprintf(err->msg, sizeof err->msg, "%s: ", path);
    if (n >= 0 && (size_t)n < sizeof err->msg)
        vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    err->status = st;
    return st;
}

/* A format error at file offset `off`. */
static gptc_status bad(cursor *c, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gptc_status bad(cursor *c, uint64_t off, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    failv(c->err, GPTC_ERR_FORMAT, c->f->path, 1, off, fmt, ap);
    va_end(ap);
    return GPTC_ERR_FORMAT;
}

/* An error without a file offset ("PATH: reason"). */
static gptc_status fail_path(gptc_error *err, gptc_status st, const char *path, const char *fmt,
                             ...) __attribute__((format(printf, 4, 5)));
static gptc_status fail_path(gptc_error *err, gptc_status st, const char *path, const char *fmt,
                             ...) {
    va_list ap;
    va_start(ap, fmt);
    failv(err, st, path, 0, 0, fmt, ap);
    va_end(ap);
    return st;
}

static uint64_t remaining(const cursor *c) {
    return c->f->size - c->pos;
}

/* Ensures n bytes are left for `what`. */
static gptc_status need(cursor *c, uint64_t n, const char *what) {
    if (n > remaining(c))
        return bad(c, c->pos, "unexpected end of file in %s (%llu bytes needed, %llu left)", what,
                   (unsigned long long)n, (unsigned long long)remaining(c));
    return GPTC_OK;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static gptc_status read_u32(cursor *c, const char *what, uint32_t *v) {
    gptc_status st = need(c, 4, what);
    if (st) return st;
    *v = (uint32_t)le(c->f->base + c->pos, 4);
    c->pos += 4;
    return GPTC_OK;
}

static gptc_status read_u64(cursor *c, const char *what, uint64_t *v) {
    gptc_status st = need(c, 8, what);
    if (st) return st;
    *v = le(c->f->base + c->pos, 8);
    c->pos += 8;
    return GPTC_OK;
}

/* gguf_string: u64 length, then that many bytes (at most max_len). */
static gptc_status read_string(cursor *c, const char *what, uint64_t max_len, gguf_str *s) {
    uint64_t at = c->pos, len;
    gptc_status st = read_u64(c, what, &len);
    if (st) return st;
    if (len > max_len)
        return bad(c, at, "%s length %llu exceeds the limit of %llu bytes", what,
                   (unsigned long long)len, (unsigned long long)max_len);
    if (len > remaining(c))
        return bad(c, at, "%s length %llu exceeds the %llu bytes left in the file", what,
                   (unsigned long long)len, (unsigned long long)remaining(c));
    s->ptr = (const char *)(c->f->base + c->pos);
    s->len = len;
    c->pos += len;
    return GPTC_OK;
}

/* Writes a printable, one-line, quoted rendering of s (at most ~64 bytes) for messages. */
static const char *show(gguf_str s, char *buf, size_t cap) {
    size_t o = 0;
    buf[o++] = '\'';
    for (uint64_t i = 0; i < s.len && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (i >= 64) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '\'')
            buf[o++] = (char)ch;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
    }
    buf[o++] = '\'';
    buf[o] = 0;
    return buf;
}
#define SHOW_CAP 300

/* ---- values ------------------------------------------------------------------------------ */

/* Decodes a scalar at p (bounds already checked). */
static void decode_scalar(gguf_vtype t, const uint8_t *p, gguf_value *v) {
    v->type = t;
    switch (t) {
    case GGUF_VT_U8:
    case GGUF_VT_BOOL:
        v->v.u64 = p[0];
        break;
    case GGUF_VT_U16:
        v->v.u64 = le(p, 2);
        break;
    case GGUF_VT_U32:
        v->v.u64 = le(p, 4);
        break;
    case GGUF_VT_U64:
        v->v.u64 = le(p, 8);
        break;
    case GGUF_VT_I8:
        v->v.i64 = (int8_t)p[0];
        break;
    case GGUF_VT_I16:
        v->v.i64 = (int16_t)(uint16_t)le(p, 2);
        break;
    case GGUF_VT_I32:
        v->v.i64 = (int32_t)(uint32_t)le(p, 4);
        break;
    case GGUF_VT_I64:
        v->v.i64 = (int64_t)le(p, 8);
        break;
    case GGUF_VT_F32: {
        uint32_t bits = (uint32_t)le(p, 4);
        float x;
        memcpy(&x, &bits, 4);
        v->v.f64 = x;
    } break;
    case GGUF_VT_F64: {
        uint64_t bits = le(p, 8);
        memcpy(&v->v.f64, &bits, 8);
    } break;
    default:
        break;
    }
}

static gptc_status parse_value(cursor *c, uint32_t type, uint64_t type_at, int depth,
                               gguf_value *v);

/* ARRAY: u32 element type, u64 count, then count elements. */
static gptc_status parse_array(cursor *c, int depth, gguf_value *v) {
    uint64_t at = c->pos, count;
    uint32_t et;
    gptc_status st = read_u32(c, "array element type", &et);
    if (st) return st;
    if (et > GGUF_VT_F64) return bad(c, at, "unknown array element type %u", et);
    if (et == GGUF_VT_ARRAY && depth + 1 >= GGUF_MAX_ARRAY_DEPTH)
        return bad(c, at, "arrays nested deeper than %d levels", GGUF_MAX_ARRAY_DEPTH);
    uint64_t count_at = c->pos;
    if ((st = read_u64(c, "array length", &count))) return st;
    /* Smallest encoding of one element: a scalar's size, a string's or array's header. */
    uint64_t min_elem = et == GGUF_VT_STRING ? 8 : et == GGUF_VT_ARRAY ? 12 : gguf_vtype_size(et);
    if (count > remaining(c) / min_elem)
        return bad(c, count_at, "array of %llu %s elements exceeds the %llu bytes left",
                   (unsigned long long)count, gguf_vtype_name((gguf_vtype)et),
                   (unsigned long long)remaining(c));
    v->type = GGUF_VT_ARRAY;
    v->v.arr.elem_type = (gguf_vtype)et;
    v->v.arr.count = count;
    v->v.arr.data = c->f->base + c->pos;
    uint64_t start = c->pos;
    if (et == GGUF_VT_STRING) {
        for (uint64_t i = 0; i < count; i++) {
            gguf_str s;
            if ((st = read_string(c, "array string", GGUF_MAX_STRING, &s))) return st;
        }
    } else if (et == GGUF_VT_ARRAY) {
        for (uint64_t i = 0; i < count; i++) {
            gguf_value inner;
            if ((st = parse_array(c, depth + 1, &inner))) return st;
        }
    } else if (et == GGUF_VT_BOOL) {
        for (uint64_t i = 0; i < count; i++, c->pos++)
            if (c->f->base[c->pos] > 1)
                return bad(c, c->pos, "invalid bool value %u in array", c->f->base[c->pos]);
    } else {
        c->pos += count * min_elem; /* fits: checked against remaining above */
    }
    v->v.arr.bytes = c->pos - start;
    return GPTC_OK;
}

/* One value of the given type; type_at is the offset of its type field (for messages). */
static gptc_status parse_value(cursor *c, uint32_t type, uint64_t type_at, int depth,
                               gguf_value *v) {
    memset(v, 0, sizeof *v);
    if (type == GGUF_VT_STRING) {
        v->type = GGUF_VT_STRING;
        return read_string(c, "string value", GGUF_MAX_STRING, &v->v.str);
    }
    if (type == GGUF_VT_ARRAY) return parse_array(c, depth, v);
    int size = gguf_vtype_size(type);
    if (size == 0) return bad(c, type_at, "unknown value type %u", type);
    gptc_status st = need(c, (uint64_t)size, gguf_vtype_name((gguf_vtype)type));
    if (st) return st;
    const uint8_t *p = c->f->base + c->pos;
    if (type == GGUF_VT_BOOL && p[0] > 1) return bad(c, c->pos, "invalid bool value %u", p[0]);
    decode_scalar((gguf_vtype)type, p, v);
    c->pos += (uint64_t)size;
    return GPTC_OK;
}

/* KV pair: key string, u32 value type, value. */
static gptc_status parse_kv(cursor *c, gguf_kv *kv) {
    kv->offset = c->pos;
    gptc_status st = read_string(c, "key", GGUF_MAX_KEY, &kv->key);
    if (st) return st;
    if (kv->key.len == 0) return bad(c, kv->offset, "empty key");
    uint64_t type_at = c->pos;
    uint32_t type;
    if ((st = read_u32(c, "value type", &type))) return st;
    return parse_value(c, type, type_at, 0, &kv->value);
}

/* general.alignment: u32, non-zero power of two (ggml's rule). */
static gptc_status check_alignment(cursor *c, const gguf_kv *kv) {
    if (kv->value.type != GGUF_VT_U32)
        return bad(c, kv->offset, "general.alignment has type %s, expected u32",
                   gguf_vtype_name(kv->value.type));
    uint64_t a = kv->value.v.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return bad(c, kv->offset, "general.alignment %llu is not a non-zero power of two",
                   (unsigned long long)a);
    c->f->alignment = (uint32_t)a;
    return GPTC_OK;
}

/* ---- tensor infos ------------------------------------------------------------------------ */

/* Tensor info: name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset. *offset_at receives
 * the file offset of the offset field (where data-placement errors are reported). */
static gptc_status parse_tensor_info(cursor *c, gguf_tensor *t, uint64_t *offset_at) {
    char nb[SHOW_CAP];
    uint64_t at = c->pos;
    gptc_status st = read_string(c, "tensor name", GGUF_MAX_TENSOR_NAME, &t->name);
    if (st) return st;
    if (t->name.len == 0) return bad(c, at, "empty tensor name");
    const char *nm = show(t->name, nb, sizeof nb);

    uint64_t dims_at = c->pos;
    if ((st = read_u32(c, "tensor dimension count", &t->n_dims))) return st;
    if (t->n_dims < 1 || t->n_dims > 4)
        return bad(c, dims_at, "tensor %s has %u dimensions (expected 1 to 4)", nm, t->n_dims);
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne_at = c->pos, ne;
        if ((st = read_u64(c, "tensor dimension", &ne))) return st;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return bad(c, ne_at, "tensor %s dimension %u is %lld (must be positive)", nm, d,
                       (long long)ne);
        if (ne > (uint64_t)INT64_MAX / n_el)
            return bad(c, ne_at, "tensor %s element count overflows", nm);
        n_el *= ne;
        t->ne[d] = (int64_t)ne;
    }
    t->n_elements = n_el;

    uint64_t type_at = c->pos;
    if ((st = read_u32(c, "tensor type", &t->type))) return st;
    const ggml_type_info *ti = ggml_type_get(t->type);
    if (!ti) return bad(c, type_at, "tensor %s has unknown or unsupported type id %u", nm, t->type);
    if (t->ne[0] % ti->block_elems != 0)
        return bad(c, type_at, "tensor %s: ne[0] = %lld is not a multiple of the %s block size %d",
                   nm, (long long)t->ne[0], ti->name, ti->block_elems);
    uint64_t blocks = (uint64_t)(t->ne[0] / ti->block_elems);
    if (blocks > (uint64_t)INT64_MAX / (uint64_t)ti->block_bytes)
        return bad(c, type_at, "tensor %s byte size overflows", nm);
    uint64_t bytes = blocks * (uint64_t)ti->block_bytes;
    for (int d = 1; d < 4; d++) {
        if ((uint64_t)t->ne[d] > (uint64_t)INT64_MAX / bytes)
            return bad(c, type_at, "tensor %s byte size overflows", nm);
        bytes *= (uint64_t)t->ne[d];
    }
    t->n_bytes = bytes;

    *offset_at = c->pos;
    if ((st = read_u64(c, "tensor offset", &t->offset))) return st;
    if (t->offset % c->f->alignment != 0)
        return bad(c, *offset_at, "tensor %s offset %llu is not a multiple of the alignment %u", nm,
                   (unsigned long long)t->offset, c->f->alignment);
    return GPTC_OK;
}

/* ---- sorting, duplicates, lookup --------------------------------------------------------- */

static int str_cmp(gguf_str a, gguf_str b) {
    uint64_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.ptr, b.ptr, (size_t)n) : 0;
    if (r) return r;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* Ties are broken by position so the later duplicate is the one reported. */
static int kv_ptr_cmp(const void *a, const void *b) {
    const gguf_kv *x = *(const gguf_kv *const *)a, *y = *(const gguf_kv *const *)b;
    int r = str_cmp(x->key, y->key);
    return r ? r : (x < y ? -1 : x > y);
}

static int tensor_ptr_cmp(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    int r = str_cmp(x->name, y->name);
    return r ? r : (x < y ? -1 : x > y);
}

/* Sorted lookup tables; rejects duplicate keys and duplicate tensor names. Uses the first
 * duplicate pair in sort order, reporting the later occurrence of it. */
static gptc_status index_names(cursor *c, const uint64_t *tensor_info_at) {
    gguf_file *f = c->f;
    char nb[SHOW_CAP];
    f->kv_sorted = malloc((f->n_kv ? f->n_kv : 1) * sizeof *f->kv_sorted);
    f->tensor_sorted = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *f->tensor_sorted);
    if (!f->kv_sorted || !f->tensor_sorted)
        return fail_path(c->err, GPTC_ERR_NOMEM, f->path, "out of memory");
    for (uint64_t i = 0; i < f->n_kv; i++) f->kv_sorted[i] = &f->kvs[i];
    for (uint64_t i = 0; i < f->n_tensors; i++) f->tensor_sorted[i] = &f->tensors[i];
    qsort(f->kv_sorted, (size_t)f->n_kv, sizeof *f->kv_sorted, kv_ptr_cmp);
    qsort(f->tensor_sorted, (size_t)f->n_tensors, sizeof *f->tensor_sorted, tensor_ptr_cmp);
    for (uint64_t i = 1; i < f->n_kv; i++)
        if (str_cmp(f->kv_sorted[i - 1]->key, f->kv_sorted[i]->key) == 0)
            return bad(c, f->kv_sorted[i]->offset, "duplicate key %s",
                       show(f->kv_sorted[i]->key, nb, sizeof nb));
    for (uint64_t i = 1; i < f->n_tensors; i++)
        if (str_cmp(f->tensor_sorted[i - 1]->name, f->tensor_sorted[i]->name) == 0) {
            uint64_t idx = (uint64_t)(f->tensor_sorted[i] - f->tensors);
            return bad(c, tensor_info_at[idx], "duplicate tensor name %s",
                       show(f->tensor_sorted[i]->name, nb, sizeof nb));
        }
    return GPTC_OK;
}

/* ---- data placement ---------------------------------------------------------------------- */

typedef struct span {
    uint64_t start, end, idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Every tensor inside the file, none overlapping; sets the data pointers. */
static gptc_status place_tensors(cursor *c, const uint64_t *offset_at) {
    gguf_file *f = c->f;
    char nb[SHOW_CAP], nb2[SHOW_CAP];
    if (f->n_tensors == 0) return GPTC_OK;
    if (f->data_offset > f->size)
        return bad(c, c->pos, "data section would start at %llu, past the end of the file (%llu)",
                   (unsigned long long)f->data_offset, (unsigned long long)f->size);
    span *sp = malloc((size_t)f->n_tensors * sizeof *sp);
    if (!sp) return fail_path(c->err, GPTC_ERR_NOMEM, f->path, "out of memory");
    gptc_status st = GPTC_OK;
    for (uint64_t i = 0; i < f->n_tensors && !st; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t room = f->size - f->data_offset;
        if (t->offset > room || t->n_bytes > room - t->offset) {
            st = bad(c, offset_at[i],
                     "tensor %s data (offset %llu, %llu bytes) extends past the end of the file "
                     "(data section of %llu bytes)",
                     show(t->name, nb, sizeof nb), (unsigned long long)t->offset,
                     (unsigned long long)t->n_bytes, (unsigned long long)room);
            break;
        }
        sp[i] = (span){t->offset, t->offset + t->n_bytes, i};
        t->data = f->base + f->data_offset + t->offset;
    }
    if (!st) {
        qsort(sp, (size_t)f->n_tensors, sizeof *sp, span_cmp);
        for (uint64_t i = 1; i < f->n_tensors && !st; i++)
            if (sp[i].start < sp[i - 1].end) {
                uint64_t a = sp[i - 1].idx, b = sp[i].idx;
                uint64_t later = a > b ? a : b, other = a > b ? b : a;
                st = bad(c, offset_at[later], "tensor %s data overlaps tensor %s",
                         show(f->tensors[later].name, nb, sizeof nb),
                         show(f->tensors[other].name, nb2, sizeof nb2));
            }
    }
    free(sp);
    return st;
}

/* ---- the whole file ---------------------------------------------------------------------- */

/* Header: magic, version, counts (each checked against what the file can hold). */
static gptc_status parse_header(cursor *c) {
    gguf_file *f = c->f;
    gptc_status st = need(c, 4, "magic");
    if (st) return st;
    if (memcmp(f->base, "GGUF", 4) != 0) {
        gguf_str m = {(const char *)f->base, 4};
        char nb[SHOW_CAP];
        return bad(c, 0, "bad magic %s (not a GGUF file)", show(m, nb, sizeof nb));
    }
    c->pos = 4;
    if ((st = read_u32(c, "version", &f->version))) return st;
    if (f->version == 0) return bad(c, 4, "unsupported GGUF version 0 (2 or 3)");
    if ((f->version & 0xFFFFu) == 0)
        return bad(c, 4, "version 0x%08x: big-endian or byte-swapped files are not supported",
                   f->version);
    if (f->version == 1) return bad(c, 4, "GGUF version 1 is not supported (2 or 3)");
    if (f->version != 2 && f->version != 3)
        return bad(c, 4, "unsupported GGUF version %u (2 or 3)", f->version);
    if ((st = read_u64(c, "tensor count", &f->n_tensors))) return st;
    if ((st = read_u64(c, "metadata count", &f->n_kv))) return st;
    uint64_t rest = f->size - c->pos;
    if (f->n_tensors > rest / GGUF_MIN_TENSOR_BYTES)
        return bad(c, 8, "tensor count %llu is too large for a file of %llu bytes",
                   (unsigned long long)f->n_tensors, (unsigned long long)f->size);
    if (f->n_kv > rest / GGUF_MIN_KV_BYTES)
        return bad(c, 16, "metadata count %llu is too large for a file of %llu bytes",
                   (unsigned long long)f->n_kv, (unsigned long long)f->size);
    if (f->n_kv * GGUF_MIN_KV_BYTES > rest - f->n_tensors * GGUF_MIN_TENSOR_BYTES)
        return bad(c, 8,
                   "tensor count %llu and metadata count %llu are too large for a file of "
                   "%llu bytes",
                   (unsigned long long)f->n_tensors, (unsigned long long)f->n_kv,
                   (unsigned long long)f->size);
    return GPTC_OK;
}

/* Grows *arr (of elem bytes each) so index i fits; capacity doubles, capped at max. */
static int grow(void **arr, uint64_t *cap, uint64_t i, uint64_t max, size_t elem) {
    if (i < *cap) return 0;
    uint64_t n = *cap ? *cap * 2 : 64;
    if (n > max) n = max;
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p) return -1;
    *arr = p;
    *cap = n;
    return 0;
}

static gptc_status parse_file(cursor *c) {
    gguf_file *f = c->f;
    gptc_status st = parse_header(c);
    if (st) return st;

    /* KVs. Arrays grow as records are parsed, so a hostile count costs nothing. */
    uint64_t n_kv = f->n_kv, cap = 0;
    f->n_kv = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (grow((void **)&f->kvs, &cap, i, n_kv, sizeof *f->kvs))
            return fail_path(c->err, GPTC_ERR_NOMEM, f->path, "out of memory");
        if ((st = parse_kv(c, &f->kvs[i]))) return st;
        f->n_kv = i + 1;
        const gguf_kv *kv = &f->kvs[i];
        if (kv->key.len == 17 && !memcmp(kv->key.ptr, "general.alignment", 17) &&
            (st = check_alignment(c, kv)))
            return st;
    }

    /* Tensor infos. */
    uint64_t n_t = f->n_tensors;
    uint64_t *offset_at = NULL, *info_at = NULL, cap_t = 0, cap_o = 0, cap_i = 0;
    f->n_tensors = 0;
    for (uint64_t i = 0; i < n_t && !st; i++) {
        if (grow((void **)&f->tensors, &cap_t, i, n_t, sizeof *f->tensors) ||
            grow((void **)&offset_at, &cap_o, i, n_t, sizeof *offset_at) ||
            grow((void **)&info_at, &cap_i, i, n_t, sizeof *info_at)) {
            st = fail_path(c->err, GPTC_ERR_NOMEM, f->path, "out of memory");
            break;
        }
        memset(&f->tensors[i], 0, sizeof f->tensors[i]);
        info_at[i] = c->pos;
        st = parse_tensor_info(c, &f->tensors[i], &offset_at[i]);
        if (!st) f->n_tensors = i + 1;
    }

    /* Data section: aligned end of the infos (alignment <= 2^31, position < 2^63). */
    if (!st) {
        uint64_t a = f->alignment;
        f->data_offset = c->pos + (a - c->pos % a) % a;
        st = index_names(c, info_at);
    }
    if (!st) st = place_tensors(c, offset_at);
    free(offset_at);
    free(info_at);
    return st;
}

static gptc_status open_common(gguf_file *f, gguf_file **out, gptc_error *err) {
    cursor c = {.f = f, .pos = 0, .err = err};
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    gptc_status st = parse_file(&c);
    if (st) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return GPTC_OK;
}

gptc_status gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out,
                             gptc_error *err) {
    gptc_error dummy;
    if (!err) err = &dummy;
    err->status = GPTC_OK;
    err->msg[0] = 0;
    if (!out || (!data && size)) {
        err->status = GPTC_ERR_INVALID_ARG;
        snprintf(err->msg, sizeof err->msg, "gguf_open_memory: bad argument");
        return err->status;
    }
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (f) f->path = strdup(name ? name : "<memory>");
    if (!f || !f->path) {
        free(f);
        err->status = GPTC_ERR_NOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return err->status;
    }
    f->base = data ? data : (const uint8_t *)"";
    f->size = size;
    return open_common(f, out, err);
}

gptc_status gguf_open(const char *path, gguf_file **out, gptc_error *err) {
    return gguf_open_opts(path, 0, out, err);
}

/* Reads the whole regular file fd (size bytes) into a new buffer. */
static void *read_whole(int fd, uint64_t size, int *e) {
    if (size > SIZE_MAX - 1) {
        *e = ENOMEM;
        return NULL;
    }
    unsigned char *buf = malloc((size_t)size ? (size_t)size : 1);
    if (!buf) {
        *e = ENOMEM;
        return NULL;
    }
    uint64_t got = 0;
    while (got < size) {
        size_t want = size - got > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)(size - got);
        ssize_t r = pread(fd, buf + got, want, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            *e = r < 0 ? errno : EIO; /* shorter than fstat said: changed while reading */
            free(buf);
            return NULL;
        }
        got += (uint64_t)r;
    }
    return buf;
}

gptc_status gguf_open_opts(const char *path, unsigned flags, gguf_file **out, gptc_error *err) {
    gptc_error dummy;
    if (!err) err = &dummy;
    err->status = GPTC_OK;
    err->msg[0] = 0;
    if (!path || !out) {
        err->status = GPTC_ERR_INVALID_ARG;
        snprintf(err->msg, sizeof err->msg, "gguf_open: bad argument");
        return err->status;
    }
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO with no writer must not hang (it is refused just below) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fail_path(err, GPTC_ERR_IO, path, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return fail_path(err, GPTC_ERR_IO, path, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return fail_path(err, GPTC_ERR_IO, path, "%s",
                         S_ISDIR(sb.st_mode) ? "is a directory, not a GGUF file"
                                             : "not a regular file");
    }
    gguf_file *f = calloc(1, sizeof *f);
    if (f) f->path = strdup(path);
    if (!f || !f->path) {
        free(f);
        close(fd);
        return fail_path(err, GPTC_ERR_NOMEM, path, "out of memory");
    }
    f->size = (uint64_t)sb.st_size;
    if (sb.st_size > 0 && (flags & GGUF_OPEN_READ)) {
        int e = 0;
        f->owned = read_whole(fd, f->size, &e);
        if (!f->owned) {
            close(fd);
            gguf_close(f);
            return fail_path(err, e == ENOMEM ? GPTC_ERR_NOMEM : GPTC_ERR_IO, path,
                             "cannot read: %s", strerror(e));
        }
        f->base = f->owned;
    } else if (sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            gguf_close(f);
            return fail_path(err, e == ENOMEM ? GPTC_ERR_NOMEM : GPTC_ERR_IO, path,
                             "cannot map: %s", strerror(e));
        }
        f->map = m;
        f->map_len = (size_t)sb.st_size;
        f->base = m;
    } else {
        f->base = (const uint8_t *)"";
    }
    close(fd);
    if ((flags & GGUF_OPEN_MLOCK) && f->size > 0) {
        if (mlock(f->base, (size_t)f->size) != 0) {
            int e = errno;
            gguf_close(f);
            return fail_path(err, GPTC_ERR_NOMEM, path,
                             "cannot lock %.1f MiB in memory (--mlock): %s (raise the limit with "
                             "ulimit -l)",
                             (double)sb.st_size / 1048576.0, strerror(e));
        }
        f->locked = 1;
    }
    return open_common(f, out, err);
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->locked) munlock(f->base, (size_t)f->size);
    if (f->map) munmap(f->map, f->map_len);
    free(f->owned);
    free(f->kvs);
    free(f->tensors);
    free(f->kv_sorted);
    free(f->tensor_sorted);
    free(f->path);
    free(f);
}

/* ---- accessors --------------------------------------------------------------------------- */

uint32_t gguf_version(const gguf_file *f) {
    return f->version;
}
uint32_t gguf_alignment(const gguf_file *f) {
    return f->alignment;
}
uint64_t gguf_data_offset(const gguf_file *f) {
    return f->data_offset;
}
uint64_t gguf_file_size(const gguf_file *f) {
    return f->size;
}
uint64_t gguf_trailing_bytes(const gguf_file *f) {
    uint64_t end = f->data_offset, a = f->alignment ? f->alignment : 1;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        uint64_t e = f->data_offset + f->tensors[i].offset + f->tensors[i].n_bytes;
        if (e > end) end = e;
    }
    uint64_t padded = end + (a - end % a) % a; /* writers pad the data to the alignment */
    if (padded < end) padded = end;
    return f->size > padded ? f->size - padded : 0;
}

size_t gguf_mapping(const gguf_file *f, const void **addr) {
    *addr = f->map;
    return f->map ? f->map_len : 0;
}
const char *gguf_path(const gguf_file *f) {
    return f->path;
}
const uint8_t *gguf_bytes(const gguf_file *f) {
    return f->base;
}
uint64_t gguf_n_kv(const gguf_file *f) {
    return f->n_kv;
}
uint64_t gguf_n_tensors(const gguf_file *f) {
    return f->n_tensors;
}

const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i) {
    return i < f->n_kv ? &f->kvs[i] : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i) {
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    if (!f || !key) return NULL;
    gguf_str k = {key, strlen(key)};
    uint64_t lo = 0, hi = f->n_kv;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = str_cmp(f->kv_sorted[mid]->key, k);
        if (r == 0) return f->kv_sorted[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name) return NULL;
    gguf_str k = {name, strlen(name)};
    uint64_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = str_cmp(f->tensor_sorted[mid]->name, k);
        if (r == 0) return f->tensor_sorted[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int gguf_has(const gguf_file *f, const char *key) {
    return gguf_find_kv(f, key) != NULL;
}

/* ---- typed getters ----------------------------------------------------------------------- */

static int is_unsigned(gguf_vtype t) {
    return t == GGUF_VT_U8 || t == GGUF_VT_U16 || t == GGUF_VT_U32 || t == GGUF_VT_U64;
}
static int is_signed(gguf_vtype t) {
    return t == GGUF_VT_I8 || t == GGUF_VT_I16 || t == GGUF_VT_I32 || t == GGUF_VT_I64;
}

static gptc_status missing(const gguf_file *f, const char *key, gptc_error *err) {
    gptc_error dummy;
    return fail_path(err ? err : &dummy, GPTC_ERR_FORMAT, f->path, "missing key %s", key);
}

static gptc_status wrong_type(const gguf_file *f, const gguf_kv *kv, const char *key,
                              const char *expected, gptc_error *err) {
    gptc_error dummy;
    if (!err) err = &dummy;
    char t[64];
    if (kv->value.type == GGUF_VT_ARRAY)
        snprintf(t, sizeof t, "array of %s", gguf_vtype_name(kv->value.v.arr.elem_type));
    else
        snprintf(t, sizeof t, "%s", gguf_vtype_name(kv->value.type));
    cursor c = {.f = (gguf_file *)f, .pos = 0, .err = err};
    return bad(&c, kv->offset, "key %s has type %s, expected %s", key, t, expected);
}

static gptc_status out_of_range(const gguf_file *f, const gguf_kv *kv, const char *key,
                                const char *expected, gptc_error *err) {
    gptc_error dummy;
    if (!err) err = &dummy;
    cursor c = {.f = (gguf_file *)f, .pos = 0, .err = err};
    if (is_unsigned(kv->value.type))
        return bad(&c, kv->offset, "key %s value %llu is out of range for %s", key,
                   (unsigned long long)kv->value.v.u64, expected);
    return bad(&c, kv->offset, "key %s value %lld is out of range for %s", key,
               (long long)kv->value.v.i64, expected);
}

gptc_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, gptc_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return missing(f, key, err);
    gguf_vtype t = kv->value.type;
    if (is_unsigned(t)) {
        if (kv->value.v.u64 > UINT32_MAX) return out_of_range(f, kv, key, "u32", err);
        *out = (uint32_t)kv->value.v.u64;
    } else if (is_signed(t)) {
        if (kv->value.v.i64 < 0 || kv->value.v.i64 > (int64_t)UINT32_MAX)
            return out_of_range(f, kv, key, "u32", err);
        *out = (uint32_t)kv->value.v.i64;
    } else {
        return wrong_type(f, kv, key, "u32", err);
    }
    return GPTC_OK;
}

gptc_status gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, gptc_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return missing(f, key, err);
    gguf_vtype t = kv->value.type;
    if (is_unsigned(t)) {
        if (kv->value.v.u64 > (uint64_t)INT64_MAX) return out_of_range(f, kv, key, "i64", err);
        *out = (int64_t)kv->value.v.u64;
    } else if (is_signed(t)) {
        *out = kv->value.v.i64;
    } else {
        return wrong_type(f, kv, key, "i64", err);
    }
    return GPTC_OK;
}

gptc_status gguf_get_f32(const gguf_file *f, const char *key, float *out, gptc_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return missing(f, key, err);
    if (kv->value.type != GGUF_VT_F32 && kv->value.type != GGUF_VT_F64)
        return wrong_type(f, kv, key, "f32", err);
    *out = (float)kv->value.v.f64;
    return GPTC_OK;
}

gptc_status gguf_get_bool(const gguf_file *f, const char *key, int *out, gptc_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return missing(f, key, err);
    if (kv->value.type != GGUF_VT_BOOL) return wrong_type(f, kv, key, "bool", err);
    *out = kv->value.v.u64 != 0;
    return GPTC_OK;
}

gptc_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, gptc_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return missing(f, key, err);
    if (kv->value.type != GGUF_VT_STRING) return wrong_type(f, kv, key, "string", err);
    *out = kv->value.v.str;
    return GPTC_OK;
}

gptc_status gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype elem_type,
                         const gguf_value **out, gptc_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return missing(f, key, err);
    if (kv->value.type != GGUF_VT_ARRAY || kv->value.v.arr.elem_type != elem_type) {
        char want[64];
        snprintf(want, sizeof want, "array of %s", gguf_vtype_name(elem_type));
        return wrong_type(f, kv, key, want, err);
    }
    *out = &kv->value;
    return GPTC_OK;
}

/* ---- array iteration (contents were validated at open) ----------------------------------- */

/* Encoded size of a validated value of type t at p. */
static uint64_t encoded_size(gguf_vtype t, const uint8_t *p) {
    if (t == GGUF_VT_STRING) return 8 + le(p, 8);
    if (t != GGUF_VT_ARRAY) return (uint64_t)gguf_vtype_size(t);
    gguf_vtype et = (gguf_vtype)le(p, 4);
    uint64_t n = le(p + 4, 8), size = 12;
    if (et != GGUF_VT_STRING && et != GGUF_VT_ARRAY)
        return size + n * (uint64_t)gguf_vtype_size(et);
    for (uint64_t i = 0; i < n; i++) size += encoded_size(et, p + size);
    return size;
}

int gguf_arr_next_value(const gguf_value *arr, uint64_t *pos, const uint8_t **cursor,
                        gguf_value *out) {
    if (!arr || arr->type != GGUF_VT_ARRAY || *pos >= arr->v.arr.count) return 0;
    if (*pos == 0) *cursor = arr->v.arr.data;
    const uint8_t *p = *cursor;
    gguf_vtype et = arr->v.arr.elem_type;
    memset(out, 0, sizeof *out);
    if (et == GGUF_VT_STRING) {
        out->type = GGUF_VT_STRING;
        out->v.str.len = le(p, 8);
        out->v.str.ptr = (const char *)p + 8;
    } else if (et == GGUF_VT_ARRAY) {
        out->type = GGUF_VT_ARRAY;
        out->v.arr.elem_type = (gguf_vtype)le(p, 4);
        out->v.arr.count = le(p + 4, 8);
        out->v.arr.data = p + 12;
        out->v.arr.bytes = encoded_size(GGUF_VT_ARRAY, p) - 12;
    } else {
        decode_scalar(et, p, out);
    }
    *cursor = p + encoded_size(et, p);
    (*pos)++;
    return 1;
}

int gguf_arr_next_str(const gguf_value *arr, uint64_t *pos, const uint8_t **cursor, gguf_str *s) {
    if (!arr || arr->type != GGUF_VT_ARRAY || arr->v.arr.elem_type != GGUF_VT_STRING) return 0;
    gguf_value v;
    if (!gguf_arr_next_value(arr, pos, cursor, &v)) return 0;
    *s = v.v.str;
    return 1;
}

/* Element i of a numeric array decoded, or NULL-typed (0) when not numeric / out of range. */
static int arr_scalar(const gguf_value *arr, uint64_t i, gguf_value *v) {
    if (!arr || arr->type != GGUF_VT_ARRAY || i >= arr->v.arr.count) return 0;
    int es = gguf_vtype_size(arr->v.arr.elem_type);
    if (es == 0) return 0;
    decode_scalar(arr->v.arr.elem_type, arr->v.arr.data + i * (uint64_t)es, v);
    return 1;
}

double gguf_arr_get_f64(const gguf_value *arr, uint64_t i) {
    gguf_value v;
    if (!arr_scalar(arr, i, &v)) return 0.0;
    if (is_signed(v.type)) return (double)v.v.i64;
    if (v.type == GGUF_VT_F32 || v.type == GGUF_VT_F64) return v.v.f64;
    return (double)v.v.u64;
}

int64_t gguf_arr_get_i64(const gguf_value *arr, uint64_t i) {
    gguf_value v;
    if (!arr_scalar(arr, i, &v)) return 0;
    if (is_signed(v.type)) return v.v.i64;
    if (v.type == GGUF_VT_F32 || v.type == GGUF_VT_F64) {
        double d = v.v.f64;
        if (!(d >= -9.2e18 && d <= 9.2e18)) return 0; /* NaN or out of range */
        return (int64_t)d;
    }
    return v.v.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v.v.u64;
}

/* ---- architecture ------------------------------------------------------------------------ */

gptc_status gguf_architecture(const gguf_file *f, char *buf, size_t cap, gptc_error *err) {
    gptc_error dummy;
    if (!err) err = &dummy;
    gguf_str s;
    gptc_status st = gguf_get_str(f, "general.architecture", &s, err);
    if (st) return st;
    static const char *const known[] = {"gpt2", "gpt-oss"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t n = strlen(known[i]);
        if (s.len == n && !memcmp(s.ptr, known[i], n)) {
            if (!buf || cap <= n)
                return fail_path(err, GPTC_ERR_INVALID_ARG, f->path,
                                 "architecture buffer too small");
            memcpy(buf, known[i], n + 1);
            return GPTC_OK;
        }
    }
    char nb[SHOW_CAP];
    show(s, nb, sizeof nb);
    return fail_path(err, GPTC_ERR_UNSUPPORTED, f->path, "unsupported architecture %s", nb);
}
