/* inspect.c — gptc_inspect_file: open and fully validate a GGUF file, then describe it as text
 * or as one JSON object (public API, include/gptc.h).
 *
 * JSON shape:
 *   {"file": PATH, "version": 3, "alignment": 32, "data_offset": N, "trailing_bytes": N,
 *    "architecture": "gpt-oss" | "other" | null, "architecture_supported": bool,
 *    "metadata": {KEY: VALUE, ...},            arrays > 64 items -> {"type": T, "length": N}
 *    "tensor_count": N, "parameters": N, "bytes_by_type": {"F32": N, ...},
 *    "tensors": [{"name", "type", "shape" (ne order), "offset" (in data section), "bytes"}]}
 * GGUF strings may hold any bytes: JSON strings are escaped, and bytes that are not valid UTF-8
 * become U+FFFD, so the output is always valid JSON (and valid UTF-8).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

#define JSON_ARRAY_MAX 64   /* longer arrays are summarised as {"type", "length"} */
#define TEXT_ARRAY_ITEMS 8  /* text output: first items of an array */
#define TEXT_STRING_MAX 120 /* text output: strings longer than this are cut */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, uint64_t n) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x3Fu >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void json_str(FILE *out, const char *s, uint64_t n) {
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    for (uint64_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc((int)c, out);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n':
                fputs("\\n", out);
                break;
            case '\t':
                fputs("\\t", out);
                break;
            case '\r':
                fputs("\\r", out);
                break;
            default:
                fprintf(out, "\\u%04x", c);
                break;
            }
            i++;
        } else {
            size_t k = utf8_seq(p + i, n - i);
            if (k == 0) {
                fputs("\\ufffd", out);
                i++;
            } else {
                fwrite(p + i, 1, k, out);
                i += k;
            }
        }
    }
    fputc('"', out);
}

static void json_cstr(FILE *out, const char *s) {
    json_str(out, s, strlen(s));
}

/* Shortest decimal that reads back as the same f32 / f64 ("1e-05", not "9.99999975e-06"). */
static void shortest(char *buf, size_t cap, double d, int is_f32) {
    if (d == floor(d) && fabs(d) < 1e15) { /* integral values without exponent: 150000 */
        snprintf(buf, cap, "%.0f", d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (is_f32 ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d) return;
    }
}

static void json_double(FILE *out, double d, int is_f32) {
    char buf[64];
    if (!isfinite(d)) {
        fputs("null", out); /* JSON has no NaN/Inf */
        return;
    }
    shortest(buf, sizeof buf, d, is_f32);
    fputs(buf, out);
}

/* "1.50 MiB" etc. */
static void human_bytes(FILE *out, uint64_t n) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024.0 && u < 4) v /= 1024.0, u++;
    if (u == 0)
        fprintf(out, "%llu B", (unsigned long long)n);
    else
        fprintf(out, "%.2f %s", v, units[u]);
}

/* The tensors described: a single file's, or every shard's of a split model (s != NULL). */
static uint64_t n_tens(const gguf_file *f, const gguf_shards *s) {
    return s ? gguf_shards_n_tensors(s) : gguf_n_tensors(f);
}
static const gguf_tensor *tens(const gguf_file *f, const gguf_shards *s, uint64_t i) {
    return s ? gguf_shards_tensor_at(s, i) : gguf_tensor_at(f, i);
}
static int is_split(const gguf_shards *s) {
    return s && gguf_shards_count(s) > 1;
}

static void json_value(FILE *out, const gguf_value *v) {
    switch (v->type) {
    case GGUF_VT_U8:
    case GGUF_VT_U16:
    case GGUF_VT_U32:
    case GGUF_VT_U64:
        fprintf(out, "%llu", (unsigned long long)v->v.u64);
        break;
    case GGUF_VT_I8:
    case GGUF_VT_I16:
    case GGUF_VT_I32:
    case GGUF_VT_I64:
        fprintf(out, "%lld", (long long)v->v.i64);
        break;
    case GGUF_VT_BOOL:
        fputs(v->v.u64 ? "true" : "false", out);
        break;
    case GGUF_VT_F32:
        json_double(out, v->v.f64, 1);
        break;
    case GGUF_VT_F64:
        json_double(out, v->v.f64, 0);
        break;
    case GGUF_VT_STRING:
        json_str(out, v->v.str.ptr, v->v.str.len);
        break;
    case GGUF_VT_ARRAY:
        if (v->v.arr.count > JSON_ARRAY_MAX) {
            fputs("{\"type\": ", out);
            json_cstr(out, gguf_vtype_name(v->v.arr.elem_type));
            fprintf(out, ", \"length\": %llu}", (unsigned long long)v->v.arr.count);
        } else {
            uint64_t pos = 0;
            const uint8_t *cur = NULL;
            gguf_value e;
            fputc('[', out);
            while (gguf_arr_next_value(v, &pos, &cur, &e)) {
                if (pos > 1) fputs(", ", out);
                json_value(out, &e);
            }
            fputc(']', out);
        }
        break;
    }
}

static void inspect_json(const gguf_file *f, const gguf_shards *s, FILE *out) {
    fputs("{\"file\": ", out);
    json_cstr(out, gguf_path(f));
    fprintf(out, ", \"version\": %u, \"alignment\": %u, \"data_offset\": %llu", gguf_version(f),
            gguf_alignment(f), (unsigned long long)gguf_data_offset(f));
    fprintf(out, ", \"trailing_bytes\": %llu", (unsigned long long)gguf_trailing_bytes(f));

    gguf_str arch;
    const gguf_kv *akv = gguf_find_kv(f, "general.architecture");
    char buf[32];
    int supported = gguf_architecture(f, buf, sizeof buf, NULL) == GPTC_OK;
    fputs(", \"architecture\": ", out);
    if (akv && akv->value.type == GGUF_VT_STRING) {
        arch = akv->value.v.str;
        json_str(out, arch.ptr, arch.len);
    } else {
        fputs("null", out);
    }
    fprintf(out, ", \"architecture_supported\": %s", supported ? "true" : "false");

    fputs(",\n \"metadata\": {", out);
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        fputs(i ? ",\n  " : "\n  ", out);
        json_str(out, kv->key.ptr, kv->key.len);
        fputs(": ", out);
        json_value(out, &kv->value);
    }
    fputs("},\n", out);

    if (is_split(s)) {
        fputs(" \"shards\": [", out);
        for (int k = 0; k < gguf_shards_count(s); k++) {
            const gguf_file *sf = gguf_shards_file(s, k);
            fputs(k ? ",\n  {\"file\": " : "\n  {\"file\": ", out);
            json_cstr(out, gguf_path(sf));
            fprintf(out, ", \"size\": %llu, \"tensor_count\": %llu}",
                    (unsigned long long)gguf_file_size(sf), (unsigned long long)gguf_n_tensors(sf));
        }
        fputs("],\n", out);
    }
    uint64_t params = 0, by_type[64] = {0};
    for (uint64_t i = 0; i < n_tens(f, s); i++) {
        const gguf_tensor *t = tens(f, s, i);
        params += t->n_elements;
        if (t->type < 64) by_type[t->type] += t->n_bytes;
    }
    fprintf(out, " \"tensor_count\": %llu, \"parameters\": %llu, \"bytes_by_type\": {",
            (unsigned long long)n_tens(f, s), (unsigned long long)params);
    int first = 1;
    for (uint32_t ty = 0; ty < 64; ty++) {
        if (!by_type[ty]) continue;
        fprintf(out, "%s\"%s\": %llu", first ? "" : ", ", ggml_type_get(ty)->name,
                (unsigned long long)by_type[ty]);
        first = 0;
    }
    fputs("},\n \"tensors\": [", out);
    for (uint64_t i = 0; i < n_tens(f, s); i++) {
        const gguf_tensor *t = tens(f, s, i);
        fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", out);
        json_str(out, t->name.ptr, t->name.len);
        fprintf(out, ", \"type\": \"%s\", \"shape\": [", ggml_type_get(t->type)->name);
        for (uint32_t d = 0; d < t->n_dims; d++)
            fprintf(out, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
        fprintf(out, "], \"offset\": %llu, \"bytes\": %llu", (unsigned long long)t->offset,
                (unsigned long long)t->n_bytes);
        if (is_split(s)) fprintf(out, ", \"shard\": %d", gguf_shards_shard_of(s, t) + 1);
        fputc('}', out);
    }
    fputs("]}\n", out);
}

/* ---- text --------------------------------------------------------------------------------- */

/* A string in double quotes with C escapes, cut after `max` bytes. */
static void text_str(FILE *out, const char *s, uint64_t n, uint64_t max) {
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    uint64_t i = 0;
    while (i < n && i < max) {
        unsigned c = p[i];
        size_t k = c >= 0x80 ? utf8_seq(p + i, n - i) : 1;
        if (c == '"' || c == '\\') {
            fprintf(out, "\\%c", c);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else if (c == '\t') {
            fputs("\\t", out);
        } else if (c < 0x20 || c == 0x7f || k == 0) {
            fprintf(out, "\\x%02x", c);
            k = 1;
        } else {
            fwrite(p + i, 1, k, out);
            i += k;
            continue;
        }
        i++;
    }
    fputc('"', out);
    if (i < n) fprintf(out, "... (%llu bytes)", (unsigned long long)n);
}

static void text_value(FILE *out, const gguf_value *v, int depth) {
    switch (v->type) {
    case GGUF_VT_STRING:
        text_str(out, v->v.str.ptr, v->v.str.len, TEXT_STRING_MAX);
        break;
    case GGUF_VT_F32:
    case GGUF_VT_F64: {
        char buf[64];
        if (isfinite(v->v.f64))
            shortest(buf, sizeof buf, v->v.f64, v->type == GGUF_VT_F32);
        else
            snprintf(buf, sizeof buf, "%g", v->v.f64);
        fputs(buf, out);
    } break;
    case GGUF_VT_ARRAY: {
        uint64_t pos = 0, shown = depth ? 4 : TEXT_ARRAY_ITEMS;
        const uint8_t *cur = NULL;
        gguf_value e;
        fputc('[', out);
        while (pos < shown && gguf_arr_next_value(v, &pos, &cur, &e)) {
            if (pos > 1) fputs(", ", out);
            text_value(out, &e, depth + 1);
        }
        if (v->v.arr.count > shown) fputs(", ...", out);
        fputc(']', out);
    } break;
    default:
        json_value(out, v);
        break; /* integers and bools print the same */
    }
}

static void type_label(FILE *out, const gguf_value *v) {
    if (v->type == GGUF_VT_ARRAY)
        fprintf(out, "array[%s] of %llu", gguf_vtype_name(v->v.arr.elem_type),
                (unsigned long long)v->v.arr.count);
    else
        fputs(gguf_vtype_name(v->type), out);
}

static void inspect_text(const gguf_file *f, const gguf_shards *s, unsigned flags, FILE *out) {
    fprintf(out, "file: %s\n", gguf_path(f));
    fprintf(out, "GGUF version: %u\nalignment: %u\ndata offset: %llu\nfile size: %llu\n",
            gguf_version(f), gguf_alignment(f), (unsigned long long)gguf_data_offset(f),
            (unsigned long long)gguf_file_size(f));

    char buf[32];
    const gguf_kv *akv = gguf_find_kv(f, "general.architecture");
    fputs("architecture: ", out);
    if (gguf_architecture(f, buf, sizeof buf, NULL) == GPTC_OK)
        fprintf(out, "%s\n", buf);
    else if (akv && akv->value.type == GGUF_VT_STRING) {
        text_str(out, akv->value.v.str.ptr, akv->value.v.str.len, 64);
        fputs(" (unsupported)\n", out);
    } else
        fputs("(none)\n", out);

    fprintf(out, "metadata: %llu keys\n", (unsigned long long)gguf_n_kv(f));
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        fputs("  ", out);
        text_str(out, kv->key.ptr, kv->key.len, 200);
        fputs(" (", out);
        type_label(out, &kv->value);
        fputs(") = ", out);
        text_value(out, &kv->value, 0);
        fputc('\n', out);
    }

    if (is_split(s)) {
        fprintf(out, "shards: %d files, %llu bytes (", gguf_shards_count(s),
                (unsigned long long)gguf_shards_size(s));
        human_bytes(out, gguf_shards_size(s));
        fputs(")\n", out);
        for (int k = 0; k < gguf_shards_count(s); k++) {
            const gguf_file *sf = gguf_shards_file(s, k);
            fprintf(out, "  %d: ", k + 1);
            text_str(out, gguf_path(sf), strlen(gguf_path(sf)), 400);
            fprintf(out, " %llu bytes (", (unsigned long long)gguf_file_size(sf));
            human_bytes(out, gguf_file_size(sf));
            fprintf(out, "), %llu tensors\n", (unsigned long long)gguf_n_tensors(sf));
        }
    }
    uint64_t params = 0, total = 0, by_type[64] = {0}, count[64] = {0};
    for (uint64_t i = 0; i < n_tens(f, s); i++) {
        const gguf_tensor *t = tens(f, s, i);
        params += t->n_elements;
        total += t->n_bytes;
        if (t->type < 64) by_type[t->type] += t->n_bytes, count[t->type]++;
    }
    fprintf(out, "tensors: %llu\n", (unsigned long long)n_tens(f, s));
    for (uint32_t ty = 0; ty < 64; ty++)
        if (count[ty]) {
            fprintf(out, "  %-6s %6llu tensors %16llu bytes (", ggml_type_get(ty)->name,
                    (unsigned long long)count[ty], (unsigned long long)by_type[ty]);
            human_bytes(out, by_type[ty]);
            fputs(")\n", out);
        }
    fprintf(out, "tensor data: %llu bytes (", (unsigned long long)total);
    human_bytes(out, total);
    fputs(")\n", out);
    fprintf(out, "parameters: %llu\n", (unsigned long long)params);
    if (!is_split(s) && gguf_trailing_bytes(f))
        fprintf(out, "trailing data: %llu bytes after the tensor data (no tensor describes them)\n",
                (unsigned long long)gguf_trailing_bytes(f));

    if (flags & GPTC_INSPECT_TENSORS) {
        fprintf(out,
                "tensor list (name, type, shape in ne order, offset in data section, bytes%s):\n",
                is_split(s) ? ", shard" : "");
        for (uint64_t i = 0; i < n_tens(f, s); i++) {
            const gguf_tensor *t = tens(f, s, i);
            fputs("  ", out);
            text_str(out, t->name.ptr, t->name.len, 64);
            fprintf(out, " %s [", ggml_type_get(t->type)->name);
            for (uint32_t d = 0; d < t->n_dims; d++)
                fprintf(out, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
            fprintf(out, "] offset %llu bytes %llu", (unsigned long long)t->offset,
                    (unsigned long long)t->n_bytes);
            if (is_split(s)) fprintf(out, " shard %d", gguf_shards_shard_of(s, t) + 1);
            fputc('\n', out);
        }
    }
}

static void inspect(const gguf_file *f, const gguf_shards *s, unsigned flags, FILE *out) {
    if (flags & GPTC_INSPECT_JSON)
        inspect_json(f, s, out);
    else
        inspect_text(f, s, flags, out);
}

void gguf_inspect(const gguf_file *f, unsigned flags, FILE *out) {
    inspect(f, NULL, flags, out);
}

/* Trailing data of any shard: its bytes and the shard (NULL when none). */
static const gguf_file *trailing_shard(const gguf_shards *s, uint64_t *bytes) {
    for (int k = 0; k < gguf_shards_count(s); k++) {
        const gguf_file *sf = gguf_shards_file(s, k);
        if ((*bytes = gguf_trailing_bytes(sf)) != 0) return sf;
    }
    *bytes = 0;
    return NULL;
}

gptc_status gptc_inspect_file(const char *path, unsigned flags, FILE *out, gptc_error *err) {
    gptc_error dummy;
    if (!err) err = &dummy;
    err->status = GPTC_OK;
    err->msg[0] = 0;
    if (!path || !out) {
        err->status = GPTC_ERR_INVALID_ARG;
        snprintf(err->msg, sizeof err->msg, "gptc_inspect_file: bad argument");
        return err->status;
    }
    gguf_shards *s;
    gptc_status st = gguf_shards_open(path, 0, &s, err);
    if (st) return st;
    uint64_t trailing;
    const gguf_file *tf = trailing_shard(s, &trailing);
    if (trailing && (flags & GPTC_INSPECT_STRICT)) {
        err->status = GPTC_ERR_FORMAT;
        snprintf(err->msg, sizeof err->msg,
                 "%s: %llu bytes of trailing data after the tensor data (%llu tensors declared)",
                 gguf_path(tf), (unsigned long long)trailing,
                 (unsigned long long)gguf_n_tensors(tf));
        gguf_shards_close(s);
        return err->status;
    }
    inspect(gguf_shards_file(s, 0), s, flags, out);
    if (trailing)
        snprintf(err->msg, sizeof err->msg,
                 "%s: %llu bytes of trailing data after the tensor data (%llu tensors declared; "
                 "--strict makes this an error)",
                 gguf_path(tf), (unsigned long long)trailing,
                 (unsigned long long)gguf_n_tensors(tf));
    gguf_shards_close(s);
    if (fflush(out) != 0 || ferror(out)) {
        err->status = GPTC_ERR_IO;
        snprintf(err->msg, sizeof err->msg, "cannot write the output");
        return err->status;
    }
    return GPTC_OK;
}
