/* convert.c — gptc_convert: a Hugging Face checkpoint folder (config.json, *.safetensors with an
 * optional model.safetensors.index.json, tokenizer.json, tokenizer_config.json /
 * chat_template.jinja)
 * -> one GGUF file, written the way llama.cpp's convert_hf_to_gguf.py writes it:
 *   - the same tensor names, shapes and types (per architecture: map_gpt_oss.c, map_gpt2.c);
 *   - float types: 1-D tensors, norms, biases, MoE routers and position embeddings in F32, the
 *     other matrices in the --outtype (f32, f16, bf16, q8_0; q8_0 falls back to f16 for rows that
 *     are not a multiple of 32; auto = f16 when the first tensor is f16, else bf16), values
 *     rounded to nearest even, Q8_0 blocks computed like gguf-py (d = amax/127, q = round half
 *     away from zero of x * (1/d), d stored as f16);
 *   - OpenAI MXFP4 experts (_blocks and _scales tensors) kept as MXFP4, repacked bit-exactly;
 *   - general.* keys (type, name = folder name, size_label, file_type, quantization_version),
 *     the architecture's hyperparameters, and the tokenizer (tokenizer.ggml.*: byte-level BPE
 *     from tokenizer.json, bos/eos/pad from tokenizer_config.json or config.json, the chat
 *     template).
 * Tensor data is streamed from the mapped safetensors files row by row. */
#include "convert/convert.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/quant.h"
#include "tokenizer/tok_internal.h"

gptc_status cv_fail(cv_ctx *c, gptc_status st, const char *fmt, ...) {
    if (c->err) {
        c->err->status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* ---- config.json ---------------------------------------------------------------------------- */
gptc_status cv_cfg_num(cv_ctx *c, const cJSON *obj, const char *key, double *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!x) return cv_fail(c, GPTC_ERR_FORMAT, "config.json: missing \"%s\"", key);
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
        return cv_fail(c, GPTC_ERR_FORMAT, "config.json: \"%s\" is not a number", key);
    *out = x->valuedouble;
    return GPTC_OK;
}

gptc_status cv_cfg_int(cv_ctx *c, const cJSON *obj, const char *key, int64_t *out) {
    double v;
    gptc_status st = cv_cfg_num(c, obj, key, &v);
    if (st) return st;
    if (v != floor(v) || v < 0 || v > 4294967295.0)
        return cv_fail(c, GPTC_ERR_FORMAT, "config.json: \"%s\" = %g is not a size", key, v);
    *out = (int64_t)v;
    return GPTC_OK;
}

gptc_status cv_cfg_int_any(cv_ctx *c, const char *const *keys, int64_t *out) {
    for (int i = 0; keys[i]; i++)
        if (cJSON_GetObjectItemCaseSensitive(c->config, keys[i]))
            return cv_cfg_int(c, c->config, keys[i], out);
    return cv_fail(c, GPTC_ERR_FORMAT, "config.json: missing \"%s\"", keys[0]);
}

/* ---- checkpoint tensors --------------------------------------------------------------------- */
static void shape_str(char *buf, size_t cap, int n, const int64_t *sh) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)sh[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

const st_tensor *cv_maybe(cv_ctx *c, const char *name) {
    const st_tensor *t = st_find(c->ckpt, name);
    if (t) c->used[t - st_at(c->ckpt, 0)] = 1;
    return t;
}

const st_tensor *cv_need(cv_ctx *c, const char *name, int n_dims, const int64_t *shape,
                         int want_u8) {
    const st_tensor *t = cv_maybe(c, name);
    if (!t) {
        cv_fail(c, GPTC_ERR_FORMAT, "%s: tensor '%s' is missing from the checkpoint", c->dir, name);
        return NULL;
    }
    int same = t->n_dims == n_dims;
    for (int i = 0; same && i < n_dims; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[128], b[128];
        shape_str(a, sizeof a, t->n_dims, t->shape);
        shape_str(b, sizeof b, n_dims, shape);
        cv_fail(c, GPTC_ERR_FORMAT, "%s: tensor '%s' has shape %s, config.json implies %s",
                st_file_path(c->ckpt, t->file), name, a, b);
        return NULL;
    }
    int ok = want_u8 ? t->dtype == ST_U8
                     : (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16);
    if (!ok) {
        cv_fail(c, GPTC_ERR_UNSUPPORTED, "%s: tensor '%s' is %s, expected %s",
                st_file_path(c->ckpt, t->file), name, st_dtype_name(t->dtype),
                want_u8 ? "U8 (MXFP4 blocks/scales)" : "F32, F16 or BF16");
        return NULL;
    }
    return t;
}

static cv_tensor *new_tensor(cv_ctx *c, const char *name) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        cv_tensor *nt = realloc(c->t, nc * sizeof *nt);
        if (!nt) {
            cv_fail(c, GPTC_ERR_NOMEM, "out of memory");
            return NULL;
        }
        c->t = nt;
        c->cap = nc;
    }
    cv_tensor *t = &c->t[c->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

gptc_status cv_add_gather(cv_ctx *c, const char *name, const st_tensor *src, int src_dims,
                          int force_f32, int n_dims, const int64_t *ne, int64_t base, int64_t sm,
                          int64_t sr, int64_t sc) {
    cv_tensor *t = new_tensor(c, name);
    if (!t) return GPTC_ERR_NOMEM;
    t->kind = CV_GATHER;
    t->n_dims = n_dims;
    t->ne[0] = ne[0];
    t->ne[1] = n_dims > 1 ? ne[1] : 1;
    t->ne[2] = n_dims > 2 ? ne[2] : 1;
    t->src = src;
    t->base = base;
    t->sm = sm;
    t->sr = sr;
    t->sc = sc;
    /* llama.cpp: 1-D tensors and norms, then routers/position embeddings and anything that is
     * not a ".weight", stay F32; the rest takes the output type (Q8_0 needs rows of 32k) */
    if (src_dims <= 1 || ends_with(name, "_norm.weight") || force_f32 ||
        !ends_with(name, ".weight"))
        t->type = GGML_TYPE_F32;
    else if (c->outtype == CV_OUT_F32)
        t->type = GGML_TYPE_F32;
    else if (c->outtype == CV_OUT_BF16)
        t->type = GGML_TYPE_BF16;
    else if (c->outtype == CV_OUT_Q8_0 && ne[0] % 32 == 0)
        t->type = GGML_TYPE_Q8_0;
    else
        t->type = GGML_TYPE_F16;
    /* every gathered index must be inside the source */
    const int64_t last = base + sm * (t->ne[2] - 1) + sr * (t->ne[1] - 1) + sc * (t->ne[0] - 1);
    if (base < 0 || last >= (int64_t)src->n_elements)
        return cv_fail(c, GPTC_ERR_FORMAT, "internal: %s reads outside %s", name, src->name);
    return GPTC_OK;
}

gptc_status cv_add_mxfp4(cv_ctx *c, const char *name, const st_tensor *blocks,
                         const st_tensor *scales, int64_t n_mat, int64_t rows, int64_t k,
                         int64_t row_step, int64_t row_off, int64_t src_rows) {
    cv_tensor *t = new_tensor(c, name);
    if (!t) return GPTC_ERR_NOMEM;
    t->kind = CV_MXFP4;
    t->type = GGML_TYPE_MXFP4;
    t->n_dims = 3;
    t->ne[0] = k;
    t->ne[1] = rows;
    t->ne[2] = n_mat;
    t->src = blocks;
    t->scales = scales;
    t->row_step = row_step;
    t->row_off = row_off;
    t->src_rows = src_rows;
    if ((rows - 1) * row_step + row_off >= src_rows)
        return cv_fail(c, GPTC_ERR_FORMAT, "internal: %s reads outside %s", name, blocks->name);
    return GPTC_OK;
}

/* ---- data encoding ------------------------------------------------------------------------- */
static float load_el(const st_tensor *s, int64_t i) {
    const uint8_t *p = s->data;
    switch (s->dtype) {
    case ST_F32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    case ST_F16:
        return quant_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    case ST_BF16:
        return quant_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    default:
        return NAN;
    }
}

/* gguf-py's Q8_0: d = amax/127, q = round-half-away(x * (1/d)), all in float32; d as f16. */
static void q8_0_row(const float *x, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++, x += 32, dst += 34) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = quant_f32_to_f16(d);
        dst[0] = (uint8_t)(h & 0xff);
        dst[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < 32; j++) {
            const float v = x[j] * id;
            const float a = floorf(fabsf(v) + 0.5f);
            dst[2 + j] = (uint8_t)(int8_t)(v < 0 ? -a : a);
        }
    }
}

static void encode_row(uint32_t type, const float *x, uint8_t *dst, int64_t n) {
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, x, (size_t)n * 4);
        break;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = quant_f32_to_f16(x[i]);
            dst[2 * i] = (uint8_t)(h & 0xff);
            dst[2 * i + 1] = (uint8_t)(h >> 8);
        }
        break;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = quant_f32_to_bf16(x[i]);
            dst[2 * i] = (uint8_t)(h & 0xff);
            dst[2 * i + 1] = (uint8_t)(h >> 8);
        }
        break;
    case GGML_TYPE_Q8_0:
        q8_0_row(x, dst, n);
        break;
    }
}

static int write_tensor(void *user, FILE *out, uint64_t bytes) {
    const cv_tensor *t = user;
    const size_t row_bytes = ggml_row_size(t->type, t->ne[0]);
    const int64_t n_rows = t->ne[1] * t->ne[2];
    if (row_bytes == 0 || (uint64_t)row_bytes * (uint64_t)n_rows != bytes) return -1;
    uint8_t *buf = malloc(row_bytes);
    float *x = t->kind == CV_GATHER ? malloc((size_t)t->ne[0] * sizeof *x) : NULL;
    int rc = 0;
    if (!buf || (t->kind == CV_GATHER && !x)) rc = -1;
    for (int64_t m = 0; m < t->ne[2] && !rc; m++)
        for (int64_t r = 0; r < t->ne[1] && !rc; r++) {
            if (t->kind == CV_GATHER) {
                const int64_t i0 = t->base + m * t->sm + r * t->sr;
                for (int64_t k = 0; k < t->ne[0]; k++) x[k] = load_el(t->src, i0 + k * t->sc);
                encode_row(t->type, x, buf, t->ne[0]);
            } else {
                const int64_t G = t->ne[0] / 32;
                const int64_t srow = m * t->src_rows + r * t->row_step + t->row_off;
                const uint8_t *blk = t->src->data + (size_t)(srow * G) * 16;
                const uint8_t *sc = t->scales->data + (size_t)(srow * G);
                for (int64_t g = 0; g < G; g++)
                    quant_mxfp4_from_hf(sc[g], blk + 16 * g, buf + 17 * g);
            }
            if (fwrite(buf, 1, row_bytes, out) != row_bytes) rc = -1;
        }
    free(buf);
    free(x);
    return rc;
}

/* ---- general.* ------------------------------------------------------------------------------ */
static void pretty_count(char *buf, size_t cap, double n) {
    double s;
    const char *suf;
    if (n > 1e12)
        s = n * 1e-12, suf = "T";
    else if (n > 1e9)
        s = n * 1e-9, suf = "B";
    else if (n > 1e6)
        s = n * 1e-6, suf = "M";
    else
        s = n * 1e-3, suf = "K";
    /* digits after the point: enough for 2 significant digits in the integer part */
    char ip[32];
    snprintf(ip, sizeof ip, "%.0f", nearbyint(s));
    const char *p = ip;
    while (*p == '0') p++;
    int fix = 2 - (int)strlen(p);
    if (fix < 0) fix = 0;
    snprintf(buf, cap, "%.*f%s", fix, s, suf);
}

/* llama.cpp's size label: "E x per-expert size" for MoE models, else the parameter count */
static void size_label(const cv_ctx *c, char *buf, size_t cap) {
    double shared = 0, expert = 0, total = 0, esum = 0;
    int n_exp = 0;
    for (size_t i = 0; i < c->n; i++) {
        const cv_tensor *t = &c->t[i];
        const double size = (double)t->ne[0] * (double)t->ne[1] * (double)t->ne[2];
        if (strstr(t->name, "_exps.")) {
            const int64_t e = strstr(t->name, ".bias") ? t->ne[1] : t->ne[2];
            expert += floor(size / (double)e);
            esum += (double)e;
            n_exp++;
        } else {
            shared += size;
        }
        total += size;
    }
    if (n_exp) {
        char p[32];
        pretty_count(p, sizeof p, shared + expert);
        snprintf(buf, cap, "%.0fx%s", floor(esum / n_exp), p);
    } else {
        pretty_count(buf, cap, total);
    }
}

static uint32_t file_type(int outtype) {
    switch (outtype) {
    case CV_OUT_F32:
        return 0;
    case CV_OUT_F16:
        return 1;
    case CV_OUT_Q8_0:
        return 7;
    default:
        return 32; /* MOSTLY_BF16 */
    }
}

/* ---- tokenizer ------------------------------------------------------------------------------ */
static char *read_text(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = ferror(f) || n > max;
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* a special token named in tokenizer_config.json: "<|x|>" or {"content": "<|x|>"} */
static int32_t config_token(const gptc_tokenizer *tok, const cJSON *tc, const char *key) {
    const cJSON *x = tc ? cJSON_GetObjectItemCaseSensitive(tc, key) : NULL;
    if (cJSON_IsObject(x)) x = cJSON_GetObjectItemCaseSensitive(x, "content");
    return cJSON_IsString(x) ? gptc_tokenizer_find(tok, x->valuestring) : -1;
}

static int32_t config_id(const cJSON *cfg, const char *key) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsArray(x)) x = cJSON_GetArrayItem(x, 0);
    return cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble < 2147483647.0
               ? (int32_t)x->valuedouble
               : -1;
}

static gptc_status add_tokenizer(cv_ctx *c, gguf_writer *w) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", c->dir);
    gptc_tokenizer *tok = NULL;
    gptc_status st = gptc_tokenizer_load_json(path, &tok, c->err);
    if (st) return st;
    if (tok->n_vocab != c->vocab_rows) {
        st = cv_fail(c, GPTC_ERR_UNSUPPORTED,
                     "%s: %d tokens, but the embedding has %lld rows "
                     "(config.json vocab_size)",
                     path, tok->n_vocab, (long long)c->vocab_rows);
        goto done;
    }
    /* bos/eos/pad: tokenizer_config.json names, then config.json ids (as llama.cpp's
     * SpecialVocab), else the tokenizer's defaults */
    snprintf(path, sizeof path, "%s/tokenizer_config.json", c->dir);
    size_t len = 0;
    char *text = read_text(path, (size_t)64 << 20, &len);
    cJSON *tc = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    if (text && !tc) {
        st = cv_fail(c, GPTC_ERR_FORMAT, "%s: invalid JSON", path);
        goto done;
    }
    static const char *const names[3] = {"bos", "eos", "pad"};
    int32_t *slot[3] = {&tok->bos, &tok->eos, &tok->pad};
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s_token", names[i]);
        int32_t id = config_token(tok, tc, key);
        if (id < 0) {
            snprintf(key, sizeof key, "%s_token_id", names[i]);
            id = config_id(c->config, key);
            if (id >= tok->n_vocab) id = -1;
        }
        if (id >= 0) *slot[i] = id;
    }
    st = gt_tokenizer_write_gguf_keys(tok, w, c->err);
    /* chat template: chat_template.jinja, else tokenizer_config.json's chat_template (a string,
     * or a list of {name, template}: "default" -> tokenizer.chat_template, others
     * tokenizer.chat_template.NAME) */
    if (st == GPTC_OK) {
        snprintf(path, sizeof path, "%s/chat_template.jinja", c->dir);
        char *jt = read_text(path, (size_t)16 << 20, &len);
        const cJSON *ct = tc ? cJSON_GetObjectItemCaseSensitive(tc, "chat_template") : NULL;
        if (jt) {
            st = gguf_writer_add_str(w, "tokenizer.chat_template", jt, len);
        } else if (cJSON_IsString(ct)) {
            st = gguf_writer_add_str(w, "tokenizer.chat_template", ct->valuestring,
                                     strlen(ct->valuestring));
        } else if (cJSON_IsArray(ct)) {
            const cJSON *e;
            cJSON_ArrayForEach(e, ct) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
                const cJSON *tt = cJSON_GetObjectItemCaseSensitive(e, "template");
                if (!cJSON_IsString(n) || !cJSON_IsString(tt)) continue;
                char key[160];
                if (!strcmp(n->valuestring, "default"))
                    snprintf(key, sizeof key, "tokenizer.chat_template");
                else
                    snprintf(key, sizeof key, "tokenizer.chat_template.%.120s", n->valuestring);
                if ((st = gguf_writer_add_str(w, key, tt->valuestring, strlen(tt->valuestring))))
                    break;
            }
        }
        free(jt);
        if (st && c->err && c->err->msg[0] == 0) cv_fail(c, st, "cannot add the chat template");
    }
    cJSON_Delete(tc);
done:
    gptc_tokenizer_free(tok);
    return st;
}

/* ---- driver --------------------------------------------------------------------------------- */
static const char *type_label(uint32_t t) {
    const ggml_type_info *i = ggml_type_get(t);
    return i ? i->name : "?";
}

gptc_status gptc_convert(const gptc_convert_params *p, gptc_error *err) {
    gptc_error local;
    if (!err) err = &local;
    memset(err, 0, sizeof *err);
    if (!p || !p->dir || !p->out || p->outtype < GPTC_CONVERT_AUTO ||
        p->outtype > GPTC_CONVERT_Q8_0) {
        err->status = GPTC_ERR_INVALID_ARG;
        snprintf(err->msg, sizeof err->msg, "convert: invalid arguments");
        return GPTC_ERR_INVALID_ARG;
    }
    cv_ctx c;
    memset(&c, 0, sizeof c);
    c.dir = p->dir;
    c.err = err;
    gptc_status st = GPTC_OK;
    cJSON *cfg = NULL;
    gguf_writer *w = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", p->dir);
    size_t len = 0;
    char *text = read_text(path, (size_t)16 << 20, &len);
    if (!text) {
        st = cv_fail(&c, GPTC_ERR_IO, "%s: %s", path, errno ? strerror(errno) : "unreadable");
        goto done;
    }
    cfg = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(cfg)) {
        st = cv_fail(&c, GPTC_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    c.config = cfg;
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const char *arch = cJSON_IsString(a0) ? a0->valuestring : "";
    int is_oss = !strcmp(arch, "GptOssForCausalLM") ||
                 (!*arch && cJSON_IsString(mt) && !strcmp(mt->valuestring, "gpt_oss"));
    int is_gpt2 = !strcmp(arch, "GPT2LMHeadModel") ||
                  (!*arch && cJSON_IsString(mt) && !strcmp(mt->valuestring, "gpt2"));
    if (!is_oss && !is_gpt2) {
        st = cv_fail(&c, GPTC_ERR_UNSUPPORTED,
                     "%s: architecture '%.64s' is not supported "
                     "(GptOssForCausalLM, GPT2LMHeadModel)",
                     path, *arch ? arch : (cJSON_IsString(mt) ? mt->valuestring : "?"));
        goto done;
    }
    if ((st = st_open_dir(p->dir, &c.ckpt, err))) goto done;
    c.used = calloc(st_count(c.ckpt) + 1, 1);
    if (!c.used) {
        st = cv_fail(&c, GPTC_ERR_NOMEM, "out of memory");
        goto done;
    }
    c.outtype = p->outtype;
    if (c.outtype == GPTC_CONVERT_AUTO) { /* llama.cpp: f16 if the first tensor is f16 */
        c.outtype = CV_OUT_BF16;
        for (size_t i = 0; i < st_count(c.ckpt); i++) {
            st_dtype d = st_at(c.ckpt, i)->dtype;
            if (d == ST_F16 || d == ST_F32 || d == ST_BF16) {
                if (d == ST_F16) c.outtype = CV_OUT_F16;
                break;
            }
        }
    }
    if ((st = is_oss ? cv_map_gpt_oss(&c) : cv_map_gpt2(&c))) goto done;
    for (size_t i = 0; i < st_count(c.ckpt); i++)
        if (!c.used[i]) {
            const st_tensor *t = st_at(c.ckpt, i);
            st = cv_fail(&c, GPTC_ERR_UNSUPPORTED, "%s: cannot map tensor '%.100s'",
                         st_file_path(c.ckpt, t->file), t->name);
            goto done;
        }

    w = gguf_writer_new();
    if (!w) {
        st = cv_fail(&c, GPTC_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *an = is_oss ? "gpt-oss" : "gpt2";
    const char *base = strrchr(p->dir, '/');
    char name[256];
    snprintf(name, sizeof name, "%s", base && base[1] ? base + 1 : p->dir);
    size_t nl = strlen(name);
    while (nl > 1 && name[nl - 1] == '/') name[--nl] = 0;
    if (!strcmp(name, ".") || !strcmp(name, "..") || !nl) {
        char cwd[4096];
        const char *s = getcwd(cwd, sizeof cwd) ? strrchr(cwd, '/') : NULL;
        snprintf(name, sizeof name, "%s", s && s[1] ? s + 1 : "model");
    }
    char label[64];
    size_label(&c, label, sizeof label);
    if ((st = gguf_writer_add_str(w, "general.architecture", an, strlen(an))) ||
        (st = gguf_writer_add_str(w, "general.type", "model", 5)) ||
        (st = gguf_writer_add_str(w, "general.name", name, strlen(name))) ||
        (st = gguf_writer_add_str(w, "general.size_label", label, strlen(label))) ||
        (st = is_oss ? cv_meta_gpt_oss(&c, w) : cv_meta_gpt2(&c, w)) ||
        (st = gguf_writer_add_u32(w, "general.file_type", file_type(c.outtype))) ||
        (st = gguf_writer_add_u32(w, "general.quantization_version", 2))) {
        if (!err->msg[0]) cv_fail(&c, st, "cannot build the metadata");
        goto done;
    }
    if ((st = add_tokenizer(&c, w))) goto done;
    for (size_t i = 0; i < c.n; i++) {
        cv_tensor *t = &c.t[i];
        if (ggml_row_size(t->type, t->ne[0]) == 0) {
            st = cv_fail(&c, GPTC_ERR_FORMAT, "%s: rows of %lld do not fit type %s", t->name,
                         (long long)t->ne[0], type_label(t->type));
            goto done;
        }
        if ((st = gguf_writer_add_tensor_fn(w, t->name, t->type, (uint32_t)t->n_dims, t->ne,
                                            write_tensor, t))) {
            cv_fail(&c, st, "%s: cannot add the tensor", t->name);
            goto done;
        }
        if (p->log) {
            char sh[96];
            int k = snprintf(sh, sizeof sh, "{%lld", (long long)t->ne[0]);
            for (int d = 1; d < t->n_dims; d++)
                k += snprintf(sh + k, sizeof sh - (size_t)k, ", %lld", (long long)t->ne[d]);
            snprintf(sh + k, sizeof sh - (size_t)k, "}");
            fprintf(p->log, "%-36s %-26s %-5s -> %-5s %s\n", t->name, t->src->name,
                    t->kind == CV_MXFP4 ? "MXFP4" : st_dtype_name(t->src->dtype),
                    type_label(t->type), sh);
        }
    }
    if ((st = gguf_writer_write(w, p->out, err))) goto done; /* PATH.tmp, then renamed */
    if (p->log)
        fprintf(p->log, "wrote %s: %s, %zu tensors, %s, file type %u\n", p->out, an, c.n, label,
                file_type(c.outtype));
done:
    gguf_writer_free(w);
    st_close(c.ckpt);
    cJSON_Delete(cfg);
    free(c.t);
    free(c.used);
    return st;
}
