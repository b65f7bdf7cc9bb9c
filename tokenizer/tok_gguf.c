/* tok_gguf.c — the tokenizer from a GGUF file's tokenizer.ggml.* keys (docs/tokenizer.md §8).
 *   model  "gpt2" (byte-level BPE) only;
 *   pre    "gpt-2" / "gpt2" -> GPT-2 regex; "gpt-4o" -> the exact o200k regex (not llama.cpp's
 *          ASCII approximation) with ignore_merges, which is what HF/tiktoken do for gpt-oss;
 *   tokens, token_type (1 normal, 2 unknown, 3 control = special added token, 4 user-defined =
 *          non-special added token, 5 unused, 6 byte), merges "a b" (split at the first space
 *          at index >= 1, like llama.cpp), bos/eos/padding ids, add_bos_token.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

__attribute__((format(printf, 4, 5))) static gptc_status
gfail(const gguf_file *f, gptc_error *err, gptc_status st, const char *fmt, ...) {
    if (err) {
        err->status = st;
        int k = snprintf(err->msg, sizeof err->msg, "%s: ", gguf_path(f));
        if (k < 0) k = 0;
        if ((size_t)k < sizeof err->msg) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->msg + k, sizeof err->msg - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return st;
}

static int str_is(gguf_str s, const char *lit) {
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static gptc_status opt_id(const gguf_file *f, const char *key, int32_t n, int32_t *out,
                          gptc_error *err) {
    *out = -1;
    if (!gguf_has(f, key)) return GPTC_OK;
    uint32_t v;
    gptc_status st = gguf_get_u32(f, key, &v, err);
    if (st) return st;
    if (v >= (uint32_t)n)
        return gfail(f, err, GPTC_ERR_FORMAT, "%s: id %u is out of range (%d tokens)", key, v,
                     (int)n);
    *out = (int32_t)v;
    return GPTC_OK;
}

gptc_status gt_tokenizer_from_gguf(const gguf_file *f, gptc_tokenizer **out, gptc_error *err) {
    *out = NULL;
    gptc_status st;
    gguf_str model, pre;
    if ((st = gguf_get_str(f, "tokenizer.ggml.model", &model, err))) return st;
    if (!str_is(model, "gpt2"))
        return gfail(f, err, GPTC_ERR_UNSUPPORTED,
                     "tokenizer.ggml.model: '%.*s' is not supported (only 'gpt2', byte-level BPE)",
                     (int)(model.len > 64 ? 64 : model.len), model.ptr);
    if ((st = gguf_get_str(f, "tokenizer.ggml.pre", &pre, err))) return st;
    gt_pretok_kind kind;
    int ignore_merges;
    if (str_is(pre, "gpt-2") || str_is(pre, "gpt2"))
        kind = GT_PRETOK_GPT2, ignore_merges = 0;
    else if (str_is(pre, "gpt-4o"))
        kind = GT_PRETOK_O200K, ignore_merges = 1;
    else
        return gfail(f, err, GPTC_ERR_UNSUPPORTED,
                     "tokenizer.ggml.pre: '%.*s' is not supported (only 'gpt-2' and 'gpt-4o')",
                     (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
    const gguf_value *tokens, *types = NULL, *merges;
    if ((st = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING, &tokens, err))) return st;
    if ((st = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_VT_STRING, &merges, err))) return st;
    uint64_t n = tokens->v.arr.count;
    if (n == 0 || n >= (1u << 28))
        return gfail(f, err, GPTC_ERR_FORMAT, "tokenizer.ggml.tokens: %llu tokens",
                     (unsigned long long)n);
    if (gguf_has(f, "tokenizer.ggml.token_type")) {
        if ((st = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, &types, err)))
            return st;
        if (types->v.arr.count != n)
            return gfail(f, err, GPTC_ERR_FORMAT,
                         "tokenizer.ggml.token_type has %llu entries, tokens has %llu",
                         (unsigned long long)types->v.arr.count, (unsigned long long)n);
    }
    gptc_tokenizer *t = gt_alloc((int32_t)n, merges->v.arr.count);
    if (!t) return gfail(f, err, GPTC_ERR_NOMEM, "out of memory");
    t->n_stages = 1;
    t->stages[0] = kind;
    t->ignore_merges = ignore_merges;
    snprintf(t->pre_name, sizeof t->pre_name, "%s", kind == GT_PRETOK_O200K ? "gpt-4o" : "gpt-2");
    char msg[128];
    /* two passes: vocab entries first, then added tokens (so an added token may share the
     * string of a vocab entry, like in tokenizer.json) */
    for (int pass = 0; pass < 2; pass++) {
        uint64_t pos = 0;
        const uint8_t *cur = NULL;
        gguf_str s;
        for (int32_t id = 0; gguf_arr_next_str(tokens, &pos, &cur, &s); id++) {
            int64_t ty = types ? gguf_arr_get_i64(types, (uint64_t)id) : 1;
            int k;
            unsigned fl = 0;
            switch (ty) {
            case 1:
            case 2:
            case 6:
                k = GT_TOK_NORMAL;
                break;
            case 3:
                k = GT_TOK_ADDED, fl = GT_F_SPECIAL;
                break;
            case 4:
                k = GT_TOK_ADDED;
                break;
            case 5:
                k = GT_TOK_UNUSED;
                break;
            default:
                st = gfail(f, err, GPTC_ERR_FORMAT,
                           "tokenizer.ggml.token_type[%d]: unknown type %lld", (int)id,
                           (long long)ty);
                goto fail;
            }
            if ((k == GT_TOK_ADDED) != (pass == 1)) continue;
            st = gt_set_token(t, id, s.ptr, s.len, k, fl, msg, sizeof msg);
            if (st) {
                gfail(f, err, st, "tokenizer.ggml.tokens[%d]: %s", (int)id,
                      st == GPTC_ERR_NOMEM ? "out of memory" : msg);
                goto fail;
            }
            if (ty == 2 && t->unk_id < 0) t->unk_id = id;
        }
    }
    /* merges */
    {
        size_t nm = (size_t)merges->v.arr.count;
        gt_merge_src *src = malloc((nm ? nm : 1) * sizeof *src);
        if (!src) {
            st = gfail(f, err, GPTC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        uint64_t pos = 0;
        const uint8_t *cur = NULL;
        gguf_str s;
        for (size_t i = 0; gguf_arr_next_str(merges, &pos, &cur, &s); i++) {
            /* llama.cpp splits at the first space at index >= 1 */
            const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
            if (!sp) {
                st =
                    gfail(f, err, GPTC_ERR_FORMAT, "tokenizer.ggml.merges[%zu]: no space in '%.*s'",
                          i, (int)(s.len > 40 ? 40 : s.len), s.ptr);
                free(src);
                goto fail;
            }
            size_t al = (size_t)(sp - s.ptr);
            src[i] = (gt_merge_src){s.ptr, sp + 1, al, s.len - al - 1};
        }
        size_t bad = 0;
        int which = 0;
        st = gt_add_merges(t, src, nm, &bad, &which);
        if (st == GPTC_ERR_FORMAT) {
            const gt_merge_src *x = &src[bad];
            gfail(f, err, st,
                  "tokenizer.ggml.merges[%zu]: '%.*s %.*s': %s is not in tokenizer.ggml.tokens",
                  bad, (int)(x->alen > 40 ? 40 : x->alen), x->a, (int)(x->blen > 40 ? 40 : x->blen),
                  x->b,
                  which == 0   ? "the left token"
                  : which == 1 ? "the right token"
                               : "the merged token");
        } else if (st) {
            gfail(f, err, st, "out of memory");
        }
        free(src);
        if (st) goto fail;
    }
    if ((st = gt_finalize(t, msg, sizeof msg))) {
        gfail(f, err, st, "out of memory");
        goto fail;
    }
    if ((st = opt_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos, err)) ||
        (st = opt_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos, err)) ||
        (st = opt_id(f, "tokenizer.ggml.padding_token_id", t->n_vocab, &t->pad, err)))
        goto fail;
    if (gguf_has(f, "tokenizer.ggml.unknown_token_id")) {
        int32_t u;
        if ((st = opt_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, &u, err))) goto fail;
        t->unk_id = u;
    }
    t->add_bos = 0;
    if (gguf_has(f, "tokenizer.ggml.add_bos_token") &&
        (st = gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos, err)))
        goto fail;
    *out = t;
    return GPTC_OK;
fail:
    gptc_tokenizer_free(t);
    return st;
}

gptc_status gptc_tokenizer_load_gguf(const char *gguf_path, gptc_tokenizer **out, gptc_error *err) {
    if (out) *out = NULL;
    if (!gguf_path || !out)
        return gt_tok_fail(err, GPTC_ERR_INVALID_ARG, "gptc_tokenizer_load_gguf: invalid argument");
    gguf_file *f;
    gptc_status st = gguf_open(gguf_path, &f, err);
    if (st) return st;
    st = gt_tokenizer_from_gguf(f, out, err);
    gguf_close(f);
    return st;
}
