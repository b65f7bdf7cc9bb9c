/* tok_to_gguf.c — gt_tokenizer_write_gguf_keys: a loaded tokenizer (e.g. from tokenizer.json)
 * as tokenizer.ggml.* keys, so that a generated GGUF embeds a real tokenizer and
 * gptc_tokenizer_load_gguf gives back exactly the same ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static gptc_status wfail(gptc_error *err, gptc_status st, const char *msg) {
    return gt_tok_fail(err, st, "tokenizer -> GGUF: %s", msg);
}

gptc_status gt_tokenizer_write_gguf_keys(const gptc_tokenizer *t, gguf_writer *w, gptc_error *err) {
    if (!t || !w) return wfail(err, GPTC_ERR_INVALID_ARG, "invalid argument");
    int o200k = !strcmp(t->pre_name, "gpt-4o"), gpt2 = !strcmp(t->pre_name, "gpt-2");
    if (!(o200k && t->ignore_merges) && !(gpt2 && !t->ignore_merges))
        return wfail(err, GPTC_ERR_UNSUPPORTED,
                     "only the GPT-2 (regex, no ignore_merges) and o200k (ignore_merges) "
                     "configurations have GGUF names");
    if (t->fuse_unk) return wfail(err, GPTC_ERR_UNSUPPORTED, "fuse_unk has no GGUF key");
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->flags[i] & (GT_F_LSTRIP | GT_F_RSTRIP))
            return wfail(err, GPTC_ERR_UNSUPPORTED,
                         "added tokens with lstrip/rstrip have no GGUF key");
    size_t n = (size_t)t->n_vocab;
    const char **strs = malloc(n * sizeof *strs);
    size_t *lens = malloc(n * sizeof *lens);
    int32_t *types = malloc(n * sizeof *types);
    char *pads = malloc(n * 24 + 1);
    const char **mstr = malloc((t->n_merges ? t->n_merges : 1) * sizeof *mstr);
    size_t *mlen = malloc((t->n_merges ? t->n_merges : 1) * sizeof *mlen);
    char *mbuf = NULL;
    gptc_status st = GPTC_OK;
    if (!strs || !lens || !types || !pads || !mstr || !mlen) {
        st = wfail(err, GPTC_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t pp = 0;
    for (size_t i = 0; i < n; i++) {
        switch (t->kind[i]) {
        case GT_TOK_NORMAL:
            types[i] = (int32_t)i == t->unk_id ? 2 : 1;
            break;
        case GT_TOK_ADDED:
            types[i] = (t->flags[i] & GT_F_SPECIAL) ? 3 : 4;
            break;
        default:
            types[i] = 5;
            break;
        }
        if (t->kind[i] == GT_TOK_NONE) { /* a gap in the ids: a placeholder like llama.cpp's */
            int k = snprintf(pads + pp, 24, "[PAD%zu]", i);
            strs[i] = pads + pp;
            lens[i] = (size_t)k;
            pp += (size_t)k + 1;
        } else {
            strs[i] = t->pool + t->str_off[i];
            lens[i] = t->str_len[i];
        }
    }
    /* merges "a b" in rank order */
    size_t total = 0;
    for (uint32_t i = 0; i < t->n_merges; i++)
        total += t->str_len[t->merge_l[i]] + 1 + t->str_len[t->merge_r[i]];
    mbuf = malloc(total + 1);
    if (!mbuf) {
        st = wfail(err, GPTC_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t mp = 0;
    for (uint32_t i = 0; i < t->n_merges; i++) {
        int32_t l = t->merge_l[i], r = t->merge_r[i];
        const char *ls = t->pool + t->str_off[l];
        /* llama.cpp splits at the first space at index >= 1: the left side must not have one */
        if (t->str_len[l] > 1 && memchr(ls + 1, ' ', t->str_len[l] - 1)) {
            st = wfail(err, GPTC_ERR_UNSUPPORTED, "a merge's left token contains a space");
            goto done;
        }
        mstr[i] = mbuf + mp;
        memcpy(mbuf + mp, ls, t->str_len[l]);
        mp += t->str_len[l];
        mbuf[mp++] = ' ';
        memcpy(mbuf + mp, t->pool + t->str_off[r], t->str_len[r]);
        mp += t->str_len[r];
        mlen[i] = t->str_len[l] + 1 + t->str_len[r];
    }
    if ((st = gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4)) ||
        (st = gguf_writer_add_str(w, "tokenizer.ggml.pre", t->pre_name, strlen(t->pre_name))) ||
        (st = gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", strs, lens, n)) ||
        (st = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, types, n)) ||
        (st = gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", mstr, mlen, t->n_merges)) ||
        (t->bos >= 0 &&
         (st = gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos))) ||
        (t->eos >= 0 &&
         (st = gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos))) ||
        (t->pad >= 0 &&
         (st = gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)t->pad))) ||
        (t->unk_id >= 0 &&
         (st = gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)t->unk_id))) ||
        (st = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos)))
        wfail(err, st, "gguf writer failed");
done:
    free(strs);
    free(lens);
    free(types);
    free(pads);
    free(mstr);
    free(mlen);
    free(mbuf);
    return st;
}
