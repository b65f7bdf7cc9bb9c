/* harmony.h — OpenAI's harmony chat format for gpt-oss (spec gpt-oss.md §8): rendering a
 * conversation to token ids, and a streaming parser that splits what the model generates into
 * its channels (analysis / commentary / final).
 *
 * Rendering (harmony's render_conversation_for_completion):
 *   <|start|>system<|message|>{identity}\nKnowledge cutoff: 2024-06\n[Current date: D\n]
 *       \nReasoning: {effort}\n\n# Valid channels: analysis, commentary, final. Channel must be
 *       included for every message.<|end|>
 *   [<|start|>developer<|message|># Instructions\n\n{instructions}<|end|>]
 *   <|start|>user<|message|>{text}<|end|>
 *   <|start|>assistant<|channel|>final<|message|>{text}<|end|>   (earlier turns)
 *   ...
 *   <|start|>assistant                                           (generation prompt)
 * Special tokens are emitted by id; every text part goes through the BPE without special-token
 * parsing. Analysis messages before the last final message are dropped (harmony's rule). */
#ifndef GPTC_CLI_HARMONY_H
#define GPTC_CLI_HARMONY_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

/* Ids of harmony's special tokens, looked up by name. */
typedef struct harmony_ids {
    int32_t start, end, message, channel, constrain, ret, call, endoftext;
} harmony_ids;

/* Fills h; returns 1 when the vocabulary has every token harmony needs, else 0. */
int harmony_ids_find(const gptc_tokenizer *tok, harmony_ids *h);

typedef struct harmony_msg {
    const char *role;    /* "user" | "assistant" (others are rendered as their author name) */
    const char *channel; /* assistant only: "final" (NULL = final), "analysis", "commentary" */
    const char *content;
} harmony_msg;

typedef struct harmony_conv {
    const char *identity;  /* NULL: "You are ChatGPT, a large language model trained by OpenAI." */
    const char *date;      /* "YYYY-MM-DD" or NULL for no "Current date:" line */
    const char *effort;    /* "low" | "medium" | "high"; NULL = medium */
    const char *developer; /* developer instructions or NULL */
    const harmony_msg *msgs;
    size_t n_msgs;
} harmony_conv;

#define HARMONY_DEFAULT_IDENTITY "You are ChatGPT, a large language model trained by OpenAI."

/* Renders the conversation; with add_generation_prompt, ends with <|start|>assistant.
 * *ids is malloc'd (free()). */
gptc_status harmony_render(const gptc_tokenizer *tok, const harmony_ids *h, const harmony_conv *c,
                           int add_generation_prompt, int32_t **ids, size_t *n_ids,
                           gptc_error *err);

/* ---- streaming channel parser ---------------------------------------------------------------
 * Push the ids the model generates after the generation prompt (<|start|>assistant). Text of
 * each message is emitted (valid UTF-8, as it arrives) with its channel. Malformed headers
 * (unknown channel name, a header that never reaches <|message|>, text where a header should
 * be) never fail: the text is emitted as `final` and counted in harmony_parser_malformed(). */
typedef enum harmony_channel {
    HARMONY_ANALYSIS = 0,
    HARMONY_COMMENTARY = 1,
    HARMONY_FINAL = 2,
} harmony_channel;

typedef void (*harmony_emit_fn)(void *user, harmony_channel ch, const char *text, size_t len);

typedef struct harmony_parser harmony_parser;

gptc_status harmony_parser_new(const gptc_tokenizer *tok, const harmony_ids *h,
                               harmony_emit_fn emit, void *user, harmony_parser **out,
                               gptc_error *err);
/* Processes one generated id. */
gptc_status harmony_parser_push(harmony_parser *p, int32_t id, gptc_error *err);
/* Emits any held-back partial UTF-8 (as U+FFFD) at the end of generation. */
void harmony_parser_flush(harmony_parser *p);
/* Back to the start state (just after <|start|>assistant). */
void harmony_parser_reset(harmony_parser *p);
/* Number of malformed headers seen since the last reset. */
int harmony_parser_malformed(const harmony_parser *p);
/* 1 once <|return|> or <|call|> was seen. */
int harmony_parser_done(const harmony_parser *p);
void harmony_parser_free(harmony_parser *p);

const char *harmony_channel_name(harmony_channel ch);

#endif
