/* safetensors.c — see safetensors.h. */
#include "convert/safetensors.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_HEADER_MAX ((uint64_t)100 << 20) /* 100 MB of JSON header: far above any real one */
#define ST_MAX_FILES 4096

typedef struct st_file {
    char *path;
    const uint8_t *map;
    size_t size;
} st_file;

struct st_checkpoint {
    st_file *files;
    int n_files;
    st_tensor *t;
    size_t n, cap;
};

static const struct {
    const char *name;
    int size;
} k_dtypes[] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2},   [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8},
    [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},     [ST_I16] = {"I16", 2},   [ST_I32] = {"I32", 4},
    [ST_I64] = {"I64", 8}, [ST_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof k_dtypes / sizeof k_dtypes[0]))

const char *st_dtype_name(st_dtype t) {
    return (int)t < N_DTYPES ? k_dtypes[t].name : "?";
}
int st_dtype_size(st_dtype t) {
    return (int)t < N_DTYPES ? k_dtypes[t].size : 0;
}

__attribute__((format(printf, 3, 4))) static gptc_status fail(gptc_error *err, gptc_status st,
                                                              const char *fmt, ...) {
    if (err) {
        err->status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

void st_close(st_checkpoint *c) {
    if (!c) return;
    for (int i = 0; i < c->n_files; i++) {
        if (c->files[i].map && c->files[i].size) munmap((void *)c->files[i].map, c->files[i].size);
        free(c->files[i].path);
    }
    for (size_t i = 0; i < c->n; i++) free(c->t[i].name);
    free(c->files);
    free(c->t);
    free(c);
}

size_t st_count(const st_checkpoint *c) {
    return c->n;
}
const st_tensor *st_at(const st_checkpoint *c, size_t i) {
    return i < c->n ? &c->t[i] : NULL;
}
const char *st_file_path(const st_checkpoint *c, int file) {
    return file >= 0 && file < c->n_files ? c->files[file].path : "?";
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

const st_tensor *st_find(const st_checkpoint *c, const char *name) {
    st_tensor key;
    key.name = (char *)name;
    return bsearch(&key, c->t, c->n, sizeof *c->t, cmp_tensor);
}

static gptc_status map_file(st_file *f, gptc_error *err) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(err, GPTC_ERR_IO, "%s: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return fail(err, GPTC_ERR_IO, "%s: %s", f->path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(err, GPTC_ERR_IO, "%s: not a regular file", f->path);
    }
    f->size = (size_t)sb.st_size;
    if (f->size < 8) {
        close(fd);
        return fail(err, GPTC_ERR_FORMAT, "%s: %zu bytes: too short for a safetensors file",
                    f->path, f->size);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        f->size = 0;
        return fail(err, GPTC_ERR_IO, "%s: mmap: %s", f->path, strerror(e));
    }
    f->map = m;
    return GPTC_OK;
}

static int parse_dtype(const char *s, st_dtype *out) {
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(s, k_dtypes[i].name)) {
            *out = (st_dtype)i;
            return 0;
        }
    return -1;
}

/* a JSON number that is an exact non-negative integer below 2^53 */
static int json_u64(const cJSON *x, uint64_t *out) {
    if (!cJSON_IsNumber(x)) return -1;
    double v = x->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || floor(v) != v) return -1;
    *out = (uint64_t)v;
    return 0;
}

typedef struct span {
    uint64_t b, e;
    size_t idx;
} span;
static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e < y->e ? -1 : x->e > y->e);
}

static gptc_status add_tensor(st_checkpoint *c, st_tensor *t, gptc_error *err) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        st_tensor *nt = realloc(c->t, nc * sizeof *nt);
        if (!nt) return fail(err, GPTC_ERR_NOMEM, "out of memory");
        c->t = nt;
        c->cap = nc;
    }
    c->t[c->n++] = *t;
    return GPTC_OK;
}

/* Parses the header of file `fi` and appends its tensors. */
static gptc_status parse_file(st_checkpoint *c, int fi, gptc_error *err) {
    st_file *f = &c->files[fi];
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)f->map[k] << (8 * k);
    if (hlen > f->size - 8 || hlen > ST_HEADER_MAX || hlen < 2)
        return fail(err, GPTC_ERR_FORMAT,
                    "%s: header length %llu does not fit the file (%zu bytes)", f->path,
                    (unsigned long long)hlen, f->size);
    const uint64_t data0 = 8 + hlen, data_size = f->size - data0;
    cJSON *root = cJSON_ParseWithLength((const char *)f->map + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, GPTC_ERR_FORMAT, "%s: the header is not a JSON object", f->path);
    }
    gptc_status st = GPTC_OK;
    size_t first = c->n;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const char *name = e->string;
        if (!strcmp(name, "__metadata__")) {
            if (!cJSON_IsObject(e)) {
                st = fail(err, GPTC_ERR_FORMAT, "%s: __metadata__ is not an object", f->path);
                goto done;
            }
            continue;
        }
        if (!cJSON_IsObject(e)) {
            st = fail(err, GPTC_ERR_FORMAT, "%s: tensor '%.80s' is not an object", f->path, name);
            goto done;
        }
        st_tensor t;
        memset(&t, 0, sizeof t);
        t.file = fi;
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(jd) || parse_dtype(jd->valuestring, &t.dtype)) {
            st =
                fail(err, GPTC_ERR_FORMAT, "%s: tensor '%.80s': missing or unknown dtype %s%.16s%s",
                     f->path, name, cJSON_IsString(jd) ? "'" : "",
                     cJSON_IsString(jd) ? jd->valuestring : "", cJSON_IsString(jd) ? "'" : "");
            goto done;
        }
        if (!cJSON_IsArray(js) || cJSON_GetArraySize(js) > ST_MAX_DIMS) {
            st = fail(err, GPTC_ERR_FORMAT,
                      "%s: tensor '%.80s': shape must be a list of at most %d "
                      "sizes",
                      f->path, name, ST_MAX_DIMS);
            goto done;
        }
        t.n_dims = cJSON_GetArraySize(js);
        uint64_t n_el = 1;
        for (int d = 0; d < t.n_dims; d++) {
            uint64_t v;
            if (json_u64(cJSON_GetArrayItem(js, d), &v) || v > ((uint64_t)1 << 40)) {
                st = fail(err, GPTC_ERR_FORMAT, "%s: tensor '%.80s': bad size in shape[%d]",
                          f->path, name, d);
                goto done;
            }
            t.shape[d] = (int64_t)v;
            if (v && n_el > UINT64_MAX / v) {
                st = fail(err, GPTC_ERR_FORMAT, "%s: tensor '%.80s': shape overflows", f->path,
                          name);
                goto done;
            }
            n_el *= v;
        }
        t.n_elements = n_el;
        uint64_t b, en;
        if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 ||
            json_u64(cJSON_GetArrayItem(jo, 0), &b) || json_u64(cJSON_GetArrayItem(jo, 1), &en) ||
            b > en) {
            st = fail(err, GPTC_ERR_FORMAT, "%s: tensor '%.80s': data_offsets must be [begin, end]",
                      f->path, name);
            goto done;
        }
        if (en > data_size) {
            st = fail(err, GPTC_ERR_FORMAT,
                      "%s: tensor '%.80s': data [%llu, %llu) runs past the end "
                      "of the file (%llu data bytes)",
                      f->path, name, (unsigned long long)b, (unsigned long long)en,
                      (unsigned long long)data_size);
            goto done;
        }
        const uint64_t esz = (uint64_t)st_dtype_size(t.dtype);
        if (n_el > UINT64_MAX / esz || en - b != n_el * esz) {
            st = fail(err, GPTC_ERR_FORMAT,
                      "%s: tensor '%.80s': %llu bytes of data for %llu "
                      "elements of %s",
                      f->path, name, (unsigned long long)(en - b), (unsigned long long)n_el,
                      st_dtype_name(t.dtype));
            goto done;
        }
        t.n_bytes = en - b;
        t.data = f->map + data0 + b;
        if (!(t.name = strdup(name))) {
            st = fail(err, GPTC_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((st = add_tensor(c, &t, err))) {
            free(t.name);
            goto done;
        }
    }
    /* no two tensors may share bytes */
    size_t n = c->n - first;
    if (n > 1) {
        span *sp = malloc(n * sizeof *sp);
        if (!sp) {
            st = fail(err, GPTC_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            const st_tensor *t = &c->t[first + i];
            sp[i].b = (uint64_t)(t->data - (f->map + data0));
            sp[i].e = sp[i].b + t->n_bytes;
            sp[i].idx = first + i;
        }
        qsort(sp, n, sizeof *sp, cmp_span);
        for (size_t i = 1; i < n; i++)
            if (sp[i].b < sp[i - 1].e) {
                st = fail(err, GPTC_ERR_FORMAT, "%s: tensors '%.80s' and '%.80s' overlap", f->path,
                          c->t[sp[i - 1].idx].name, c->t[sp[i].idx].name);
                break;
            }
        free(sp);
    }
done:
    cJSON_Delete(root);
    return st;
}

static gptc_status add_file(st_checkpoint *c, const char *dir, const char *name, gptc_error *err) {
    if (c->n_files >= ST_MAX_FILES)
        return fail(err, GPTC_ERR_FORMAT, "%s: more than %d safetensors files", dir, ST_MAX_FILES);
    for (int i = 0; i < c->n_files; i++) { /* the index names each shard many times */
        const char *p = c->files[i].path;
        size_t dl = dir ? strlen(dir) + 1 : 0;
        if (!strcmp(p + dl, name)) return GPTC_OK;
    }
    st_file *nf = realloc(c->files, (size_t)(c->n_files + 1) * sizeof *nf);
    if (!nf) return fail(err, GPTC_ERR_NOMEM, "out of memory");
    c->files = nf;
    st_file *f = &c->files[c->n_files];
    memset(f, 0, sizeof *f);
    size_t len = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    if (!(f->path = malloc(len))) return fail(err, GPTC_ERR_NOMEM, "out of memory");
    snprintf(f->path, len, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    c->n_files++;
    gptc_status st = map_file(f, err);
    if (st == GPTC_OK) st = parse_file(c, c->n_files - 1, err);
    return st;
}

static gptc_status finish(st_checkpoint *c, gptc_error *err) {
    qsort(c->t, c->n, sizeof *c->t, cmp_tensor);
    for (size_t i = 1; i < c->n; i++)
        if (!strcmp(c->t[i].name, c->t[i - 1].name))
            return fail(err, GPTC_ERR_FORMAT, "tensor '%.80s' appears twice (%s and %s)",
                        c->t[i].name, c->files[c->t[i - 1].file].path, c->files[c->t[i].file].path);
    return GPTC_OK;
}

gptc_status st_open_file(const char *path, st_checkpoint **out, gptc_error *err) {
    *out = NULL;
    st_checkpoint *c = calloc(1, sizeof *c);
    if (!c) return fail(err, GPTC_ERR_NOMEM, "out of memory");
    gptc_status st = add_file(c, NULL, path, err);
    if (st == GPTC_OK) st = finish(c, err);
    if (st != GPTC_OK) {
        st_close(c);
        return st;
    }
    *out = c;
    return GPTC_OK;
}

static char *read_small(const char *path, size_t max, size_t *len, gptc_error *err,
                        gptc_status *st) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = fail(err, GPTC_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        *st = fail(err, GPTC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (bad || n > max) {
        free(buf);
        *st = fail(err, bad ? GPTC_ERR_IO : GPTC_ERR_FORMAT, "%s: %s", path,
                   bad ? "read error" : "file too large");
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int valid_shard_name(const char *s) {
    size_t n = strlen(s);
    return n > 12 && !strcmp(s + n - 12, ".safetensors") && !strchr(s, '/') && s[0] != '.';
}

gptc_status st_open_dir(const char *dir, st_checkpoint **out, gptc_error *err) {
    *out = NULL;
    st_checkpoint *c = calloc(1, sizeof *c);
    if (!c) return fail(err, GPTC_ERR_NOMEM, "out of memory");
    gptc_status st = GPTC_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    cJSON *index = NULL;
    if (access(path, F_OK) == 0) {
        size_t len;
        char *text = read_small(path, (size_t)64 << 20, &len, err, &st);
        if (!text) goto fail;
        index = cJSON_ParseWithLength(text, len);
        free(text);
        const cJSON *wm = index ? cJSON_GetObjectItemCaseSensitive(index, "weight_map") : NULL;
        if (!cJSON_IsObject(wm)) {
            st = fail(err, GPTC_ERR_FORMAT, "%s: no \"weight_map\" object", path);
            goto fail;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, wm) {
            if (!cJSON_IsString(e) || !valid_shard_name(e->valuestring)) {
                st = fail(err, GPTC_ERR_FORMAT,
                          "%s: weight_map['%.80s'] is not a file name ending "
                          "in .safetensors",
                          path, e->string);
                goto fail;
            }
            if ((st = add_file(c, dir, e->valuestring, err))) goto fail;
        }
        if ((st = finish(c, err))) goto fail;
        /* the index and the shards must agree */
        cJSON_ArrayForEach(e, wm) {
            const st_tensor *t = st_find(c, e->string);
            const char *want = e->valuestring;
            if (!t) {
                st = fail(err, GPTC_ERR_FORMAT, "%s: tensor '%.80s' is not in %s", path, e->string,
                          want);
                goto fail;
            }
            const char *have = c->files[t->file].path + strlen(dir) + 1;
            if (strcmp(have, want)) {
                st = fail(err, GPTC_ERR_FORMAT, "%s: tensor '%.80s' is in %s, not in %s", path,
                          e->string, have, want);
                goto fail;
            }
        }
        if ((size_t)cJSON_GetArraySize(wm) != c->n) {
            for (size_t i = 0; i < c->n; i++)
                if (!cJSON_GetObjectItemCaseSensitive(wm, c->t[i].name)) {
                    st = fail(err, GPTC_ERR_FORMAT, "%s: tensor '%.80s' of %s is not in the index",
                              path, c->t[i].name, c->files[c->t[i].file].path);
                    goto fail;
                }
        }
    } else {
        DIR *d = opendir(dir);
        if (!d) {
            st = fail(err, GPTC_ERR_IO, "%s: %s", dir, strerror(errno));
            goto fail;
        }
        char **names = NULL;
        size_t nn = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!valid_shard_name(de->d_name)) continue;
            char **nv = realloc(names, (nn + 1) * sizeof *nv);
            if (!nv || !(nv[nn] = strdup(de->d_name))) {
                names = nv ? nv : names;
                st = fail(err, GPTC_ERR_NOMEM, "out of memory");
                break;
            }
            names = nv;
            nn++;
        }
        closedir(d);
        if (st == GPTC_OK && nn == 0)
            st = fail(err, GPTC_ERR_IO,
                      "%s: no *.safetensors file (and no "
                      "model.safetensors.index.json)",
                      dir);
        if (st == GPTC_OK) qsort(names, nn, sizeof *names, cmp_str);
        for (size_t i = 0; i < nn && st == GPTC_OK; i++) st = add_file(c, dir, names[i], err);
        for (size_t i = 0; i < nn; i++) free(names[i]);
        free(names);
        if (st == GPTC_OK) st = finish(c, err);
        if (st) goto fail;
    }
    cJSON_Delete(index);
    *out = c;
    return GPTC_OK;
fail:
    cJSON_Delete(index);
    st_close(c);
    return st;
}
