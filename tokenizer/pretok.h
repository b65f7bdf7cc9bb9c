// clang-format off (the patterns below stay on their lines)
/* pretok.h — pre-tokenizer regexes, exactly as Hugging Face tokenizers runs them (Oniguruma
 * semantics, Unicode 16.0 categories). Hand-written matchers for the two patterns gptc knows;
 * see docs/tokenizer.md.
 *
 *   GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   o200k:
 * [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *          |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *          |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 */
// clang-format on
#ifndef GPTC_PRETOK_H
#define GPTC_PRETOK_H

#include <stddef.h>
#include <stdint.h>

typedef enum gt_pretok_kind {
    GT_PRETOK_GPT2 = 0,  /* ByteLevel use_regex=true (GPT-2), GGUF pre "gpt2" */
    GT_PRETOK_O200K = 1, /* Split(o200k pattern, Isolated), GGUF pre "gpt-4o" */
} gt_pretok_kind;

/* The exact pattern string of each kind, as it appears in tokenizer.json. */
const char *gt_pretok_pattern(gt_pretok_kind kind);

/* text[0..len) is valid UTF-8 (one segment between special tokens: its end is end-of-text for
 * the regex). Returns the byte offset where the pre-token starting at byte `pos` ends
 * (pos < end <= len). Pieces cover the text with no gaps (the Isolated behaviour). */
size_t gt_pretok_next(gt_pretok_kind kind, const uint8_t *text, size_t len, size_t pos);

#endif
