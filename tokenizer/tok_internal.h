/* tok_internal.h — the tokenizer's in-memory form, shared by the loaders (tokenizer.json, GGUF),
 * the encoder/decoder (tokenizer.c) and the GGUF key writer (tok_to_gguf.c).
 *
 * Every token id has two strings in one pool:
 *   str   — the token exactly as the file spells it (byte-level alphabet "Ġthe" for vocab
 *           entries, raw text "<|start|>" for added tokens);
 *   piece — the bytes the ByteLevel decoder gives for it: every character mapped back to its
 *           byte when all characters are in the byte map, else str's own UTF-8 (HF semantics).
 * BPE runs on raw bytes: a vocab entry whose characters are all in the byte map ("mapped") is
 * keyed by its piece in `raw`; the rare unmapped entries are keyed by str in `lit` (only found
 * by lookups, never produced by BPE, since pre-tokens are always mapped).
 */
#ifndef GPTC_TOK_INTERNAL_H
#define GPTC_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"

/* A string -> id hash map over byte strings kept in the tokenizer's pool (by offset). */
typedef struct gt_strmap {
    struct gt_strent {
        uint32_t hash; /* 0 marks an empty slot (never stored) */
        int32_t id;
        uint32_t off, len;
        char pre[8]; /* the key's first bytes, so short keys compare without touching the pool */
    } * slots;
    uint32_t mask;
    uint32_t count;
} gt_strmap;

/* (left id, right id) -> (rank, merged id). */
typedef struct gt_mergemap {
    struct gt_mergeent {
        uint64_t key; /* (uint64)left << 32 | right, +1 so that 0 = empty */
        uint32_t rank;
        int32_t merged;
    } * slots;
    uint32_t mask;
    uint32_t count;
} gt_mergemap;

/* Token kinds. */
enum {
    GT_TOK_NONE = 0, /* id with no token (a gap): decodes to nothing */
    GT_TOK_NORMAL,   /* model vocab entry */
    GT_TOK_ADDED,    /* added token (matched in raw text before pre-tokenization) */
    GT_TOK_UNUSED,   /* GGUF UNUSED/PAD placeholder: decodes to nothing, never produced */
};
/* Token flags. */
enum {
    GT_F_SPECIAL = 1 << 0,    /* added token with special=true (CONTROL in GGUF) */
    GT_F_NORMALIZED = 1 << 1, /* added token with normalized=true (second matching pass) */
    GT_F_MAPPED = 1 << 2,     /* all characters of str are in the byte map (piece = raw bytes) */
    GT_F_INVOCAB = 1 << 3,    /* also a model vocab entry (GPT-2's <|endoftext|>) */
    GT_F_LSTRIP = 1 << 4,     /* added token with lstrip=true: eats the whitespace before it */
    GT_F_RSTRIP = 1 << 5,     /* added token with rstrip=true: eats the whitespace after it */
};

#define GT_MAX_STAGES 4

struct gptc_tokenizer {
    int32_t n_vocab;                 /* highest id + 1 */
    uint8_t *kind;                   /* [n_vocab] GT_TOK_* */
    uint8_t *flags;                  /* [n_vocab] GT_F_* */
    uint32_t *str_off, *str_len;     /* [n_vocab] into pool */
    uint32_t *piece_off, *piece_len; /* [n_vocab] into pool */
    char *pool;
    size_t pool_len, pool_cap;

    gt_strmap raw;   /* mapped vocab entries by raw bytes */
    gt_strmap lit;   /* unmapped vocab entries by str */
    gt_strmap added; /* added tokens by content */
    gt_mergemap merges;
    uint32_t n_merges;          /* merges added (rank of the next one) */
    int32_t *merge_l, *merge_r; /* [n_merges] in rank order (for writing them out) */
    size_t merge_cap;
    int32_t byte_id[256]; /* id of each single-byte token, -1 when missing */

    /* added-token matchers: ids sorted by first byte, then length descending. Pass 0 holds
     * the normalized=false tokens, pass 1 the normalized=true ones. */
    int32_t *match_ids[2];
    uint32_t n_match[2];
    uint32_t first_idx[2][257]; /* match_ids[p][first_idx[p][b] .. first_idx[p][b+1]) */

    /* pre-tokenizer: stages applied in order; 0 stages = the whole segment is one piece */
    int n_stages;
    gt_pretok_kind stages[GT_MAX_STAGES];
    char pre_name[32]; /* GGUF tokenizer.ggml.pre equivalent: "gpt-2", "gpt-4o" or "" */

    /* BPE model options */
    int ignore_merges;
    int32_t unk_id; /* -1 when none */
    int fuse_unk;

    int32_t bos, eos, pad; /* -1 when none */
    int add_bos;
};

/* ---- building (used by the loaders) --------------------------------------------------------- */
gptc_tokenizer *gt_alloc(int32_t n_vocab, size_t n_merges_hint);
/* Sets the token `id` (0 <= id < n_vocab). Fails (GPTC_ERR_FORMAT) on a second definition of
 * the same id or a duplicate string of the same class; msg gets the reason. */
gptc_status gt_set_token(gptc_tokenizer *t, int32_t id, const char *s, size_t len, int kind,
                         unsigned flags, char *msg, size_t msg_cap);
/* Id of a model vocab entry spelled s (byte-level alphabet), -1 when absent. */
int32_t gt_vocab_lookup(const gptc_tokenizer *t, const char *s, size_t len);
/* Id of the vocab entry spelled a+b, -1 when absent. */
int32_t gt_vocab_lookup2(const gptc_tokenizer *t, const char *a, size_t alen, const char *b,
                         size_t blen);
/* Id of the vocab entry spelled str(l)+str(r), -1 when absent (both must be vocab ids). */
int32_t gt_vocab_concat(const gptc_tokenizer *t, int32_t l, int32_t r);
/* Adds merge (left, right) -> merged with rank = t->n_merges (a repeated pair keeps the last
 * rank, like HF's HashMap collect). */
gptc_status gt_add_merge(gptc_tokenizer *t, int32_t left, int32_t right, int32_t merged);
/* Adds the merges src[0..n) in rank order (faster than one by one). On a merge naming a
 * missing token: GPTC_ERR_FORMAT, *bad = its index, *which = 0 left / 1 right / 2 merged. */
typedef struct gt_merge_src {
    const char *a, *b; /* byte-level spellings */
    size_t alen, blen;
} gt_merge_src;
gptc_status gt_add_merges(gptc_tokenizer *t, const gt_merge_src *src, size_t n, size_t *bad,
                          int *which);
/* After all tokens and merges: byte table, matchers, special flags. */
gptc_status gt_finalize(gptc_tokenizer *t, char *msg, size_t msg_cap);
/* gptc_tokenizer_load_json from memory: buf[0..len) (need not be NUL-terminated) is the file's
 * text; name prefixes the error messages. The fuzzer calls it directly. */
gptc_status gt_tokenizer_load_json_buf(const char *name, const char *buf, size_t len,
                                       gptc_tokenizer **out, gptc_error *err);
/* The default bos/eos/pad for tokenizer.json files (which do not name them): harmony
 * (<|startoftext|>, <|return|>, <|endoftext|>), else GPT-2 (<|endoftext|> for bos and eos). */
void gt_default_special_ids(gptc_tokenizer *t);

/* The ByteLevel (GPT-2 bytes_to_unicode) map. */
uint32_t gt_byte_to_cp(uint8_t b);
int gt_cp_to_byte(uint32_t cp); /* -1 when cp is not in the map */

/* Sets *err (when not NULL) to st and the formatted message; returns st. */
gptc_status gt_tok_fail(gptc_error *err, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Strict UTF-8 check: returns len when valid, else the offset of the first bad byte. */
size_t gt_utf8_check(const uint8_t *s, size_t len);

#endif
