/* tokenizer.h — tokenizer entry points for other modules (beyond the public gptc.h API):
 * loading from a GGUF file that is already open, and writing a tokenizer into a GGUF. */
#ifndef GPTC_TOKENIZER_H
#define GPTC_TOKENIZER_H

#include "gguf/gguf.h"
#include "gptc.h"

/* Builds the tokenizer from the tokenizer.ggml.* keys of an open GGUF file (model "gpt2";
 * pre "gpt-2"/"gpt2" -> GPT-2 regex, "gpt-4o" -> exact o200k regex with ignore_merges). */
gptc_status gt_tokenizer_from_gguf(const gguf_file *f, gptc_tokenizer **out, gptc_error *err);

/* Adds the tokenizer.ggml.* keys describing `tok` to a GGUF writer: model "gpt2", pre
 * ("gpt-2" or "gpt-4o"), tokens, token_type (1 normal, 3 control = special added, 4 user-defined
 * = other added, 5 unused), merges "a b" in rank order, bos/eos/padding ids when set,
 * add_bos_token. Loading the written file with gptc_tokenizer_load_gguf gives the same ids. */
gptc_status gt_tokenizer_write_gguf_keys(const gptc_tokenizer *tok, gguf_writer *w,
                                         gptc_error *err);

#endif
