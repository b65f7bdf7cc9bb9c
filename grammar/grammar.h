/* grammar.h — the constrained-decoding engine's internal types (grammar/).
 *
 * A compiled grammar is byte-level: every terminal matches one byte (a 256-bit set) or one
 * special token (a range of token ids, written <[id]> in GBNF). Character classes over Unicode
 * code points are compiled into alternatives of UTF-8 byte sequences (gbnf.c), so the matcher
 * never holds a partial character: a token that splits a character simply leaves the matcher
 * between two byte terminals of one alternative.
 *
 * Layout (like llama.cpp's): the elements of every alternative of every rule in one array, each
 * alternative ended by GR_END; rule r's alternatives start at alt[rule_alt[r] .. rule_alt[r+1]).
 * A matcher position is an element index. */
#ifndef GPTC_GRAMMAR_GRAMMAR_H
#define GPTC_GRAMMAR_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

enum { GR_END = 0, GR_TERM = 1, GR_REF = 2 };

typedef struct gr_elem {
    int32_t kind; /* GR_END, GR_TERM (val = term index), GR_REF (val = rule index) */
    int32_t val;
} gr_elem;

/* A terminal: a set of bytes, or a range of special-token ids (symbol 256 + id). */
typedef struct gr_term {
    uint32_t bits[8];
    int32_t tok_lo, tok_hi; /* tok_lo > tok_hi: no token */
} gr_term;

/* The first symbol of a special token; bytes are 0..255. */
#define GR_SYM_TOKEN 256

struct gptc_grammar {
    gr_elem *el;
    int n_el;
    int32_t *alt;      /* alternative start positions, grouped by rule */
    int32_t *rule_alt; /* [n_rules + 1] */
    int n_rules;
    gr_term *terms;
    int n_terms;
    int root;
    char *src; /* the GBNF text it was compiled from (NUL-terminated) */
};

static inline int gr_term_has(const gr_term *t, uint32_t sym) {
    if (sym < GR_SYM_TOKEN) return (t->bits[sym >> 5] >> (sym & 31)) & 1;
    int32_t id = (int32_t)(sym - GR_SYM_TOKEN);
    return id >= t->tok_lo && id <= t->tok_hi;
}

/* The vocabulary as a trie of symbols (vocab.c): nodes in depth-first order, node 0 the root;
 * node i's children are i + 1, end[i + 1], end[end[i + 1]], ... up to end[i]; sorted by symbol
 * (bytes first, then special tokens). A text token is its bytes; a special token one symbol
 * GR_SYM_TOKEN + id. */
struct gptc_token_trie {
    int n_vocab;
    int n_nodes;
    uint32_t *sym;   /* [n_nodes] symbol on the edge into the node */
    int32_t *end;    /* [n_nodes] one past the node's last descendant */
    int32_t *tok_lo; /* [n_nodes] first index into toks of the tokens ending here */
    int32_t *tok_n;  /* [n_nodes] how many */
    int32_t *toks;   /* token ids in trie order */
    /* each token's symbols (accepting a sampled token) */
    uint8_t *blob;
    uint32_t *off; /* [n_vocab + 1] into blob */
    uint8_t *special;
    int max_len;
};

/* The matcher's current state as an id, and going back to one it had (tests: try a token from a
 * saved state). */
int32_t gr_matcher_state(const gptc_matcher *m);
void gr_matcher_set_state(gptc_matcher *m, int32_t state);

/* Formats an error into err (may be NULL); returns st. */
gptc_status gr_err(gptc_error *err, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses GBNF text. Rules of `prefix_src` (may be NULL) are parsed first into the same rule
 * namespace with every name (definitions and references) of `src` prefixed by `prefix`; the
 * grammar's root is prefix_src's root when given (harmony wrapping), else src's. Errors name the
 * line and column: "line 3, column 7: expected ::=". */
gptc_status gr_parse(const char *src, size_t len, const char *prefix_src, const char *prefix,
                     gptc_grammar **out, gptc_error *err);

/* One GBNF text of a grammar made of several, its rule names prefixed by prefix (NULL: none). */
typedef struct gr_part {
    const char *src;
    size_t len;
    const char *prefix;
} gr_part;
/* Parses parts[0..n) into one rule namespace; the root is part 0's "root" (prefixed as part 0
 * is). The grammar keeps parts[keep]'s text as its source. */
gptc_status gr_parse_parts(const gr_part *parts, int n_parts, int keep, gptc_grammar **out,
                           gptc_error *err);

#endif
