/* regex_ref.h — test-only reference regex engine: plain backtracking over the constructs the
 * GPT-2 and o200k pre-tokenizer patterns use (alternation, (?:..), (?i:..) with Unicode simple
 * case folding, (?!..), classes with \p{..}, \s, \S, \r, \n and negation, ?, *, +, {m,n}, all
 * greedy). Categories come from gt_uc_category() (UCD 16.0); \s is the 25-code-point Unicode
 * White_Space list written out here. Slow by design; use it only to check pretok.c. */
#ifndef GPTC_REGEX_REF_H
#define GPTC_REGEX_REF_H

#include <stddef.h>
#include <stdint.h>

typedef struct rr_regex rr_regex;

/* Compiles pattern; NULL with a message in err on a syntax error or unsupported construct. */
rr_regex *rr_compile(const char *pattern, char *err, size_t errlen);
void rr_free(rr_regex *re);

/* Leftmost match starting at or after byte pos of the valid UTF-8 text[0..len) (len is end of
 * text for look-ahead), Oniguruma order: first start position, then first successful path.
 * Returns 1 and sets [*ms, *me), or 0 when there is none. */
int rr_search(const rr_regex *re, const uint8_t *text, size_t len, size_t pos, size_t *ms,
              size_t *me);

/* Splits text like HF Split(pattern, Isolated): matches and the gaps between them. Writes the
 * end offset of each piece to ends (capacity cap) and returns the number of pieces (may exceed
 * cap: then only cap were written). Returns -1 on an empty match (never expected here). */
long rr_split(const rr_regex *re, const uint8_t *text, size_t len, size_t *ends, size_t cap);

#endif
