/* tok_json.c — gptc_tokenizer_load_json: a Hugging Face tokenizer.json with a byte-level BPE
 * model (GPT-2, gpt-oss/o200k). Every setting that would change the ids and that gptc does not
 * implement is refused with an error naming its JSON path, e.g.
 *   "tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex: unsupported pattern".
 * What is accepted (anything else is refused):
 *   truncation, padding, normalizer: null;
 *   pre_tokenizer: ByteLevel(add_prefix_space=false, use_regex) or Sequence of
 *     Split(Regex = the GPT-2 or o200k pattern, Isolated, invert=false)... + ByteLevel last;
 *   model: BPE (type may be absent), dropout null/0, empty or null prefix/suffix, unk_token,
 *     fuse_unk, byte_fallback (only when all 256 byte tokens exist, so it never applies),
 *     ignore_merges; merges as "a b" strings or ["a","b"] pairs;
 *   added_tokens with single_word false (lstrip/rstrip are implemented);
 *   decoder: ByteLevel; post_processor: null or ByteLevel.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer/tok_internal.h"

/* Largest tokenizer.json read (the o200k one is 27 MB): an endless source such as /dev/zero is
 * refused instead of eating all memory. */
#define TOK_JSON_MAX ((size_t)1 << 30)

typedef struct jctx {
    const char *file; /* path as given, prefix of every message */
    gptc_error *err;
} jctx;

__attribute__((format(printf, 4, 5))) static gptc_status
jfail(jctx *c, gptc_status st, const char *where, const char *fmt, ...) {
    if (c->err) {
        c->err->status = st;
        int k = snprintf(c->err->msg, sizeof c->err->msg, "%s: %s%s", c->file, where ? where : "",
                         where && *where ? ": " : "");
        if (k < 0) k = 0;
        if ((size_t)k < sizeof c->err->msg) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err->msg + k, sizeof c->err->msg - (size_t)k, fmt, ap);
            va_end(ap);
        }
        /* one line: control characters quoted from the file (a newline in a type name) are
         * written as \xHH */
        char line[sizeof c->err->msg];
        size_t o = 0;
        for (const unsigned char *q = (const unsigned char *)c->err->msg; *q && o + 5 < sizeof line;
             q++) {
            if (*q < 0x20 || *q == 0x7f)
                o += (size_t)snprintf(line + o, sizeof line - o, "\\x%02X", *q);
            else
                line[o++] = (char)*q;
        }
        line[o] = 0;
        memcpy(c->err->msg, line, o + 1);
    }
    return st;
}

/* Printable excerpt of a token for messages (at most 40 bytes). */
static const char *excerpt(const char *s, char *buf, size_t cap) {
    size_t n = strlen(s);
    if (n + 1 <= cap && n <= 40) return s;
    snprintf(buf, cap, "%.40s...", s);
    return buf;
}

static int is_null_or_absent(const cJSON *x) {
    return !x || cJSON_IsNull(x);
}

/* Optional bool: absent/null -> def. Returns -1 on a wrong type. */
static int get_bool(const cJSON *obj, const char *key, int def) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (is_null_or_absent(x)) return def;
    if (!cJSON_IsBool(x)) return -1;
    return cJSON_IsTrue(x) ? 1 : 0;
}

static int get_id(const cJSON *x, int32_t *out) {
    if (!cJSON_IsNumber(x)) return -1;
    double v = x->valuedouble;
    if (!(v >= 0 && v < 2147483647.0) || floor(v) != v) return -1;
    *out = (int32_t)v;
    return 0;
}

static gptc_status check_null_key(jctx *c, const cJSON *root, const char *key) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!is_null_or_absent(x)) return jfail(c, GPTC_ERR_UNSUPPORTED, key, "must be null");
    return GPTC_OK;
}

/* ByteLevel pre-tokenizer element. */
static gptc_status parse_bytelevel(jctx *c, const cJSON *pt, const char *where, gptc_tokenizer *t) {
    char w[160];
    int aps = get_bool(pt, "add_prefix_space", 0);
    snprintf(w, sizeof w, "%s.add_prefix_space", where);
    if (aps < 0) return jfail(c, GPTC_ERR_FORMAT, w, "expected a boolean");
    if (aps) return jfail(c, GPTC_ERR_UNSUPPORTED, w, "true is not supported");
    int ur = get_bool(pt, "use_regex", 1);
    snprintf(w, sizeof w, "%s.use_regex", where);
    if (ur < 0) return jfail(c, GPTC_ERR_FORMAT, w, "expected a boolean");
    if (get_bool(pt, "trim_offsets", 1) < 0) {
        snprintf(w, sizeof w, "%s.trim_offsets", where);
        return jfail(c, GPTC_ERR_FORMAT, w, "expected a boolean");
    }
    if (ur) {
        if (t->n_stages >= GT_MAX_STAGES)
            return jfail(c, GPTC_ERR_UNSUPPORTED, where, "too many pre-tokenizer stages");
        t->stages[t->n_stages++] = GT_PRETOK_GPT2;
    }
    return GPTC_OK;
}

static gptc_status parse_split(jctx *c, const cJSON *pt, const char *where, gptc_tokenizer *t) {
    char w[160];
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
    snprintf(w, sizeof w, "%s.pattern", where);
    if (!cJSON_IsObject(pat)) return jfail(c, GPTC_ERR_FORMAT, w, "expected an object");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    if (!re) {
        if (cJSON_GetObjectItemCaseSensitive(pat, "String"))
            return jfail(c, GPTC_ERR_UNSUPPORTED, w, "String patterns are not supported");
        return jfail(c, GPTC_ERR_FORMAT, w, "expected {\"Regex\": ...}");
    }
    snprintf(w, sizeof w, "%s.pattern.Regex", where);
    if (!cJSON_IsString(re)) return jfail(c, GPTC_ERR_FORMAT, w, "expected a string");
    gt_pretok_kind kind;
    if (!strcmp(re->valuestring, gt_pretok_pattern(GT_PRETOK_O200K)))
        kind = GT_PRETOK_O200K;
    else if (!strcmp(re->valuestring, gt_pretok_pattern(GT_PRETOK_GPT2)))
        kind = GT_PRETOK_GPT2;
    else
        return jfail(c, GPTC_ERR_UNSUPPORTED, w,
                     "unsupported pattern (only the GPT-2 and o200k patterns are implemented)");
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(pt, "behavior");
    snprintf(w, sizeof w, "%s.behavior", where);
    if (!cJSON_IsString(beh)) return jfail(c, GPTC_ERR_FORMAT, w, "expected a string");
    if (strcmp(beh->valuestring, "Isolated"))
        return jfail(c, GPTC_ERR_UNSUPPORTED, w, "'%s' is not supported (only Isolated)",
                     beh->valuestring);
    int inv = get_bool(pt, "invert", 0);
    snprintf(w, sizeof w, "%s.invert", where);
    if (inv < 0) return jfail(c, GPTC_ERR_FORMAT, w, "expected a boolean");
    if (inv) return jfail(c, GPTC_ERR_UNSUPPORTED, w, "true is not supported");
    if (t->n_stages >= GT_MAX_STAGES)
        return jfail(c, GPTC_ERR_UNSUPPORTED, where, "too many pre-tokenizer stages");
    t->stages[t->n_stages++] = kind;
    return GPTC_OK;
}

static gptc_status parse_pretok(jctx *c, const cJSON *root, gptc_tokenizer *t) {
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (is_null_or_absent(pt))
        return jfail(c, GPTC_ERR_UNSUPPORTED, "pre_tokenizer",
                     "null is not supported (a byte-level BPE needs ByteLevel)");
    if (!cJSON_IsObject(pt))
        return jfail(c, GPTC_ERR_FORMAT, "pre_tokenizer", "expected an object");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (!cJSON_IsString(ty))
        return jfail(c, GPTC_ERR_FORMAT, "pre_tokenizer.type", "expected a string");
    if (!strcmp(ty->valuestring, "ByteLevel")) return parse_bytelevel(c, pt, "pre_tokenizer", t);
    if (strcmp(ty->valuestring, "Sequence"))
        return jfail(c, GPTC_ERR_UNSUPPORTED, "pre_tokenizer.type", "'%s' is not supported",
                     ty->valuestring);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    if (!cJSON_IsArray(list))
        return jfail(c, GPTC_ERR_FORMAT, "pre_tokenizer.pretokenizers", "expected an array");
    int n = cJSON_GetArraySize(list), i = 0, saw_bytelevel = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, list) {
        char w[96];
        snprintf(w, sizeof w, "pre_tokenizer.pretokenizers[%d]", i);
        if (!cJSON_IsObject(el)) return jfail(c, GPTC_ERR_FORMAT, w, "expected an object");
        const cJSON *ety = cJSON_GetObjectItemCaseSensitive(el, "type");
        char wt[112];
        snprintf(wt, sizeof wt, "%s.type", w);
        if (!cJSON_IsString(ety)) return jfail(c, GPTC_ERR_FORMAT, wt, "expected a string");
        gptc_status st;
        if (!strcmp(ety->valuestring, "ByteLevel")) {
            if (i != n - 1)
                return jfail(c, GPTC_ERR_UNSUPPORTED, w,
                             "ByteLevel must be the last pre-tokenizer");
            st = parse_bytelevel(c, el, w, t);
            saw_bytelevel = 1;
        } else if (!strcmp(ety->valuestring, "Split")) {
            st = parse_split(c, el, w, t);
        } else {
            return jfail(c, GPTC_ERR_UNSUPPORTED, wt, "'%s' is not supported", ety->valuestring);
        }
        if (st) return st;
        i++;
    }
    if (!saw_bytelevel)
        return jfail(c, GPTC_ERR_UNSUPPORTED, "pre_tokenizer.pretokenizers",
                     "a ByteLevel pre-tokenizer is required");
    return GPTC_OK;
}

static gptc_status parse_misc(jctx *c, const cJSON *root) {
    gptc_status st;
    if ((st = check_null_key(c, root, "truncation")) || (st = check_null_key(c, root, "padding")))
        return st;
    const cJSON *nz = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (!is_null_or_absent(nz)) {
        const cJSON *ty = cJSON_IsObject(nz) ? cJSON_GetObjectItemCaseSensitive(nz, "type") : NULL;
        return jfail(c, GPTC_ERR_UNSUPPORTED, "normalizer", "%s%s%s is not supported (only null)",
                     cJSON_IsString(ty) ? "'" : "",
                     cJSON_IsString(ty) ? ty->valuestring : "a normalizer",
                     cJSON_IsString(ty) ? "'" : "");
    }
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (is_null_or_absent(dec))
        return jfail(c, GPTC_ERR_UNSUPPORTED, "decoder", "null is not supported (only ByteLevel)");
    const cJSON *dty = cJSON_IsObject(dec) ? cJSON_GetObjectItemCaseSensitive(dec, "type") : NULL;
    if (!cJSON_IsString(dty)) return jfail(c, GPTC_ERR_FORMAT, "decoder.type", "expected a string");
    if (strcmp(dty->valuestring, "ByteLevel"))
        return jfail(c, GPTC_ERR_UNSUPPORTED, "decoder.type",
                     "'%s' is not supported (only ByteLevel)", dty->valuestring);
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (!is_null_or_absent(pp)) {
        const cJSON *pty = cJSON_IsObject(pp) ? cJSON_GetObjectItemCaseSensitive(pp, "type") : NULL;
        if (!cJSON_IsString(pty))
            return jfail(c, GPTC_ERR_FORMAT, "post_processor.type", "expected a string");
        if (strcmp(pty->valuestring, "ByteLevel"))
            return jfail(c, GPTC_ERR_UNSUPPORTED, "post_processor.type",
                         "'%s' is not supported (only ByteLevel or null)", pty->valuestring);
    }
    return GPTC_OK;
}

/* Model options that change ids. */
static gptc_status parse_model_opts(jctx *c, const cJSON *model, gptc_tokenizer *t,
                                    int *byte_fallback) {
    /* model.type was checked by build() */
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (!is_null_or_absent(dr) && !(cJSON_IsNumber(dr) && dr->valuedouble == 0.0))
        return jfail(c, GPTC_ERR_UNSUPPORTED, "model.dropout", "only null is supported");
    static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(model, affix[i]);
        char w[64];
        snprintf(w, sizeof w, "model.%s", affix[i]);
        if (is_null_or_absent(x)) continue;
        if (!cJSON_IsString(x)) return jfail(c, GPTC_ERR_FORMAT, w, "expected a string");
        if (x->valuestring[0]) return jfail(c, GPTC_ERR_UNSUPPORTED, w, "only \"\" is supported");
    }
    int fu = get_bool(model, "fuse_unk", 0), bf = get_bool(model, "byte_fallback", 0),
        im = get_bool(model, "ignore_merges", 0);
    if (fu < 0) return jfail(c, GPTC_ERR_FORMAT, "model.fuse_unk", "expected a boolean");
    if (bf < 0) return jfail(c, GPTC_ERR_FORMAT, "model.byte_fallback", "expected a boolean");
    if (im < 0) return jfail(c, GPTC_ERR_FORMAT, "model.ignore_merges", "expected a boolean");
    t->fuse_unk = fu;
    t->ignore_merges = im;
    *byte_fallback = bf;
    return GPTC_OK;
}

static gptc_status parse_merges(jctx *c, const cJSON *merges, gptc_tokenizer *t) {
    int n = cJSON_GetArraySize(merges), i = 0, k = 0;
    gt_merge_src *src = malloc((size_t)(n ? n : 1) * sizeof *src);
    int *jidx = malloc((size_t)(n ? n : 1) * sizeof *jidx); /* JSON index of each merge */
    if (!src || !jidx) {
        free(src);
        free(jidx);
        return jfail(c, GPTC_ERR_NOMEM, NULL, "out of memory");
    }
    gptc_status st = GPTC_OK;
    char w[64], b1[64];
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring;
            if (!strncmp(s, "#version", 8)) {
                i++;
                continue; /* header line of merges.txt: skipped, not ranked */
            }
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                snprintf(w, sizeof w, "model.merges[%d]", i);
                st = jfail(c, GPTC_ERR_FORMAT, w, "expected \"left right\" (exactly one space)");
                goto done;
            }
            src[k] = (gt_merge_src){s, sp + 1, (size_t)(sp - s), strlen(sp + 1)};
        } else if (cJSON_IsArray(m) && m->child && m->child->next && !m->child->next->next &&
                   cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            src[k] = (gt_merge_src){a, b, strlen(a), strlen(b)};
        } else {
            snprintf(w, sizeof w, "model.merges[%d]", i);
            st = jfail(c, GPTC_ERR_FORMAT, w, "expected a string \"a b\" or a pair [\"a\", \"b\"]");
            goto done;
        }
        jidx[k++] = i++;
    }
    size_t bad = 0;
    int which = 0;
    st = gt_add_merges(t, src, (size_t)k, &bad, &which);
    if (st == GPTC_ERR_FORMAT) {
        const gt_merge_src *x = &src[bad];
        char tmp[160];
        if (which == 2)
            snprintf(tmp, sizeof tmp, "%.*s%.*s", (int)(x->alen > 60 ? 60 : x->alen), x->a,
                     (int)(x->blen > 60 ? 60 : x->blen), x->b);
        else
            snprintf(tmp, sizeof tmp, "%.*s", (int)(which ? x->blen : x->alen),
                     which ? x->b : x->a);
        snprintf(w, sizeof w, "model.merges[%d]", jidx[bad]);
        jfail(c, st, w, "%stoken '%s' is not in model.vocab", which == 2 ? "merged " : "",
              excerpt(tmp, b1, sizeof b1));
    } else if (st) {
        jfail(c, st, NULL, "out of memory");
    }
done:
    free(src);
    free(jidx);
    return st;
}

static gptc_status build(jctx *c, const cJSON *root, gptc_tokenizer **out) {
    gptc_status st;
    if (!cJSON_IsObject(root)) return jfail(c, GPTC_ERR_FORMAT, NULL, "expected a JSON object");
    if ((st = parse_misc(c, root))) return st;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!model) return jfail(c, GPTC_ERR_FORMAT, "model", "missing");
    if (!cJSON_IsObject(model)) return jfail(c, GPTC_ERR_FORMAT, "model", "expected an object");
    const cJSON *mty = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (mty && !cJSON_IsString(mty))
        return jfail(c, GPTC_ERR_FORMAT, "model.type", "expected a string");
    if (mty && strcmp(mty->valuestring, "BPE"))
        return jfail(c, GPTC_ERR_UNSUPPORTED, "model.type", "'%s' is not supported (only BPE)",
                     mty->valuestring);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!vocab) return jfail(c, GPTC_ERR_FORMAT, "model.vocab", "missing");
    if (!cJSON_IsObject(vocab))
        return jfail(c, GPTC_ERR_FORMAT, "model.vocab", "expected an object");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!merges) return jfail(c, GPTC_ERR_FORMAT, "model.merges", "missing");
    if (!cJSON_IsArray(merges))
        return jfail(c, GPTC_ERR_FORMAT, "model.merges", "expected an array");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!is_null_or_absent(added) && !cJSON_IsArray(added))
        return jfail(c, GPTC_ERR_FORMAT, "added_tokens", "expected an array");
    if (cJSON_IsNull(added)) added = NULL;

    /* sizes: highest id over vocab and added tokens */
    int64_t max_id = -1, n_model = 0;
    const cJSON *v;
    char w[96], b1[64];
    cJSON_ArrayForEach(v, vocab) {
        int32_t id = 0;
        if (get_id(v, &id)) {
            snprintf(w, sizeof w, "model.vocab[\"%s\"]", excerpt(v->string, b1, sizeof b1));
            return jfail(c, GPTC_ERR_FORMAT, w, "expected a non-negative integer id");
        }
        if (id > max_id) max_id = id;
        n_model++;
    }
    int i = 0;
    if (added) {
        cJSON_ArrayForEach(v, added) {
            snprintf(w, sizeof w, "added_tokens[%d]", i);
            if (!cJSON_IsObject(v)) return jfail(c, GPTC_ERR_FORMAT, w, "expected an object");
            int32_t id = 0;
            snprintf(w, sizeof w, "added_tokens[%d].id", i);
            if (get_id(cJSON_GetObjectItemCaseSensitive(v, "id"), &id))
                return jfail(c, GPTC_ERR_FORMAT, w, "expected a non-negative integer id");
            if (id > max_id) max_id = id;
            i++;
        }
    }
    if (max_id < 0) return jfail(c, GPTC_ERR_FORMAT, "model.vocab", "empty vocabulary");
    if (max_id >= (1 << 28)) return jfail(c, GPTC_ERR_FORMAT, "model.vocab", "ids too large");
    /* the tables are sized by the highest id: a few tokens with a huge id would take gigabytes
     * (found by the fuzzer). Real vocabularies are dense; allow holes up to about half. */
    if (max_id + 1 > 2 * (n_model + i) + 1024)
        return jfail(c, GPTC_ERR_FORMAT, "model.vocab",
                     "ids up to %lld for only %lld tokens: too sparse for a vocabulary",
                     (long long)max_id, (long long)(n_model + i));

    gptc_tokenizer *t = gt_alloc((int32_t)(max_id + 1), (size_t)cJSON_GetArraySize(merges));
    if (!t) return jfail(c, GPTC_ERR_NOMEM, NULL, "out of memory");
    int byte_fallback = 0;
    if ((st = parse_pretok(c, root, t)) || (st = parse_model_opts(c, model, t, &byte_fallback)))
        goto fail;
    char msg[128];
    cJSON_ArrayForEach(v, vocab) {
        int32_t id = 0;
        get_id(v, &id);
        st = gt_set_token(t, id, v->string, strlen(v->string), GT_TOK_NORMAL, 0, msg, sizeof msg);
        if (st) {
            snprintf(w, sizeof w, "model.vocab[\"%s\"]", excerpt(v->string, b1, sizeof b1));
            jfail(c, st, w, "%s", st == GPTC_ERR_NOMEM ? "out of memory" : msg);
            goto fail;
        }
    }
    /* added tokens; ids must be those tokenizers would assign (it re-derives them: the vocab
     * id when the content is a vocab entry, else the next id after the model vocab) */
    i = 0;
    int64_t next_id = n_model;
    if (added) {
        cJSON_ArrayForEach(v, added) {
            int32_t id = 0;
            get_id(cJSON_GetObjectItemCaseSensitive(v, "id"), &id);
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(v, "content");
            snprintf(w, sizeof w, "added_tokens[%d].content", i);
            if (!cJSON_IsString(content)) {
                st = jfail(c, GPTC_ERR_FORMAT, w, "expected a string");
                goto fail;
            }
            static const char *const opts[] = {"single_word", "lstrip", "rstrip"};
            unsigned strip = 0;
            for (int k = 0; k < 3; k++) {
                int b = get_bool(v, opts[k], 0);
                snprintf(w, sizeof w, "added_tokens[%d].%s", i, opts[k]);
                if (b < 0) {
                    st = jfail(c, GPTC_ERR_FORMAT, w, "expected a boolean");
                    goto fail;
                }
                if (b && k == 0) {
                    st = jfail(c, GPTC_ERR_UNSUPPORTED, w, "true is not supported");
                    goto fail;
                }
                if (b) strip |= k == 1 ? GT_F_LSTRIP : GT_F_RSTRIP;
            }
            int special = get_bool(v, "special", 0);
            int normalized = get_bool(v, "normalized", !special);
            if (special < 0 || normalized < 0) {
                snprintf(w, sizeof w, "added_tokens[%d].%s", i,
                         special < 0 ? "special" : "normalized");
                st = jfail(c, GPTC_ERR_FORMAT, w, "expected a boolean");
                goto fail;
            }
            size_t clen = strlen(content->valuestring);
            int32_t in_vocab = gt_vocab_lookup(t, content->valuestring, clen);
            int64_t want = in_vocab >= 0 ? in_vocab : next_id;
            snprintf(w, sizeof w, "added_tokens[%d].id", i);
            if (id != want) {
                st = jfail(c, GPTC_ERR_UNSUPPORTED, w,
                           "%ld, but tokenizers would assign id %ld to '%s'", (long)id, (long)want,
                           excerpt(content->valuestring, b1, sizeof b1));
                goto fail;
            }
            if (in_vocab < 0 && id >= next_id) next_id = (int64_t)id + 1;
            unsigned fl = (special ? GT_F_SPECIAL : 0) | (normalized ? GT_F_NORMALIZED : 0) | strip;
            st = gt_set_token(t, id, content->valuestring, clen, GT_TOK_ADDED, fl, msg, sizeof msg);
            if (st) {
                jfail(c, st, w, "%s", st == GPTC_ERR_NOMEM ? "out of memory" : msg);
                goto fail;
            }
            i++;
        }
    }
    /* unk */
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (!is_null_or_absent(unk)) {
        if (!cJSON_IsString(unk)) {
            st = jfail(c, GPTC_ERR_FORMAT, "model.unk_token", "expected a string");
            goto fail;
        }
        t->unk_id = gt_vocab_lookup(t, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0) {
            st = jfail(c, GPTC_ERR_FORMAT, "model.unk_token", "'%s' is not in model.vocab",
                       excerpt(unk->valuestring, b1, sizeof b1));
            goto fail;
        }
    }
    if ((st = parse_merges(c, merges, t))) goto fail;
    if ((st = gt_finalize(t, msg, sizeof msg))) {
        jfail(c, st, NULL, "%s", "out of memory");
        goto fail;
    }
    if (byte_fallback) {
        for (int b = 0; b < 256; b++)
            if (t->byte_id[b] < 0) {
                st = jfail(c, GPTC_ERR_UNSUPPORTED, "model.byte_fallback",
                           "true is not supported (byte 0x%02X has no token)", b);
                goto fail;
            }
    }
    snprintf(t->pre_name, sizeof t->pre_name, "%s",
             t->n_stages == 1 && t->stages[0] == GT_PRETOK_O200K  ? "gpt-4o"
             : t->n_stages == 1 && t->stages[0] == GT_PRETOK_GPT2 ? "gpt-2"
                                                                  : "");
    gt_default_special_ids(t);
    *out = t;
    return GPTC_OK;
fail:
    gptc_tokenizer_free(t);
    return st;
}

gptc_status gptc_tokenizer_load_json(const char *path, gptc_tokenizer **out, gptc_error *err) {
    if (out) *out = NULL;
    jctx c = {path ? path : "(null)", err};
    if (!path || !out) return jfail(&c, GPTC_ERR_INVALID_ARG, NULL, "invalid argument");
    /* O_NONBLOCK: a FIFO with no writer must not hang the open (its read then sees EOF) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return jfail(&c, GPTC_ERR_IO, NULL, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return jfail(&c, GPTC_ERR_IO, NULL, "cannot stat: %s", strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return jfail(&c, GPTC_ERR_IO, NULL, "is a directory, not a tokenizer.json");
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return jfail(&c, GPTC_ERR_NOMEM, NULL, "out of memory");
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (S_ISREG(sb.st_mode) && sb.st_size > 0 && (uint64_t)sb.st_size < TOK_JSON_MAX)
        cap = (size_t)sb.st_size + 2;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= TOK_JSON_MAX) {
                free(buf);
                fclose(f);
                return jfail(&c, GPTC_ERR_FORMAT, NULL,
                             "larger than %d MiB (not a tokenizer.json?)",
                             (int)(TOK_JSON_MAX >> 20));
            }
            size_t nc = cap ? cap * 2 : 1 << 16;
            if (nc > TOK_JSON_MAX) nc = TOK_JSON_MAX;
            char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return jfail(&c, GPTC_ERR_NOMEM, NULL, "out of memory");
            }
            buf = nb;
            cap = nc;
        } else if (!buf) {
            buf = malloc(cap);
            if (!buf) {
                fclose(f);
                return jfail(&c, GPTC_ERR_NOMEM, NULL, "out of memory");
            }
        }
        size_t k = fread(buf + len, 1, cap - len - 1, f);
        len += k;
        if (k == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return jfail(&c, GPTC_ERR_IO, NULL, "read error");
    }
    buf[len] = 0;
    gptc_status st = gt_tokenizer_load_json_buf(c.file, buf, len, out, err);
    free(buf);
    return st;
}

gptc_status gt_tokenizer_load_json_buf(const char *name, const char *buf, size_t len,
                                       gptc_tokenizer **out, gptc_error *err) {
    if (out) *out = NULL;
    jctx c = {name ? name : "(null)", err};
    if (!buf || !out) return jfail(&c, GPTC_ERR_INVALID_ARG, NULL, "invalid argument");
    /* cJSON cuts strings at U+0000: refuse them rather than load a different token */
    for (const char *q = buf; (q = memmem(q, (size_t)(buf + len - q), "\\u0000", 6)); q += 6) {
        size_t bs = 0;
        while (q - bs > buf && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
        if (bs % 2 == 0) {
            size_t off = (size_t)(q - buf);
            return jfail(&c, GPTC_ERR_UNSUPPORTED, NULL,
                         "byte offset %zu: strings containing \\u0000 are not supported", off);
        }
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;
        return jfail(&c, GPTC_ERR_FORMAT, NULL, "invalid JSON at byte offset %zu", off);
    }
    while (end && end < buf + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if (end && end < buf + len) {
        size_t off = (size_t)(end - buf);
        cJSON_Delete(root);
        return jfail(&c, GPTC_ERR_FORMAT, NULL,
                     "trailing data after the JSON value at byte offset %zu", off);
    }
    gptc_status st = build(&c, root, out);
    cJSON_Delete(root);
    return st;
}
