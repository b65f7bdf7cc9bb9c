/* harmony.h — OpenAI's harmony chat format for gpt-oss (docs/gpt-oss.md §8): rendering a
 * conversation to token ids (and to text: gptc render), and a streaming parser that splits what
 * the model generates into its channels (analysis / commentary / final) and picks out its tool
 * calls.
 *
 * Rendering follows gpt-oss's chat template (the Jinja in tokenizer.chat_template) byte for
 * byte; docs/harmony.md lists where that template and OpenAI's harmony library differ and which
 * one gptc follows. In short:
 *   <|start|>system<|message|>{identity}\nKnowledge cutoff: 2024-06\n[Current date: D\n]
 *       \nReasoning: {effort}\n\n# Valid channels: analysis, commentary, final. Channel must be
 *       included for every message.[\nCalls to these tools must go to the commentary channel:
 *       'functions'.]<|end|>
 *   [<|start|>developer<|message|>[# Instructions\n\n{instructions}\n\n][#
 * Tools\n\n{tools}]<|end|>]
 *   <|start|>user<|message|>{text}<|end|>
 *   [<|start|>assistant<|channel|>analysis<|message|>{thinking}<|end|>]   (before a call, until
 *                                                                         the turn's answer)
 *   <|start|>assistant to=functions.NAME<|channel|>commentary json<|message|>{args}<|call|>
 *   <|start|>functions.NAME to=assistant<|channel|>commentary<|message|>{"result" as JSON}<|end|>
 *   <|start|>assistant<|channel|>final<|message|>{text}<|end|>   (earlier answers)
 *   ...
 *   <|start|>assistant                                           (generation prompt)
 * Special tokens are emitted by id; the text between two of them is tokenized in one piece
 * without special-token parsing (so the ids equal tokenizing the rendered text, and a message
 * that contains "<|end|>" stays text). */
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

/* One function call of an assistant message. */
typedef struct harmony_tool_call {
    const char *id;        /* "call_..." (matches a tool message's tool_call_id) or NULL */
    const char *name;      /* function name, without "functions." */
    const char *arguments; /* JSON text; rendered as Python's json.dumps writes it when it
                              parses (the template's |tojson), else as is */
} harmony_tool_call;

typedef struct harmony_msg {
    const char *role;     /* "user" | "assistant" | "tool"; a first "system"/"developer" message
                             gives the developer instructions, later ones are skipped (template) */
    const char *channel;  /* legacy, assistant only: "analysis"/"commentary" render as a message
                             on that channel; NULL or "final" is an ordinary assistant message */
    const char *content;  /* NULL = absent */
    const char *thinking; /* assistant: its reasoning (NULL = absent) */
    const harmony_tool_call *calls; /* assistant: function calls */
    size_t n_calls;
    const char *tool_call_id; /* tool: the call it answers (NULL: the latest call) */
} harmony_msg;

typedef struct harmony_conv {
    const char *identity;  /* NULL: "You are ChatGPT, a large language model trained by OpenAI." */
    const char *date;      /* "YYYY-MM-DD" or NULL for no "Current date:" line */
    const char *effort;    /* "low" | "medium" | "high"; NULL = medium */
    const char *developer; /* developer instructions or NULL (else a first system message's) */
    const harmony_msg *msgs;
    size_t n_msgs;
    const char *tools; /* the rendered functions namespace (tooldefs_render) or NULL */
    /* a "# Response Formats" section (cli_response_format_text) ending the developer message,
     * or NULL */
    const char *response_format;
} harmony_conv;

#define HARMONY_DEFAULT_IDENTITY "You are ChatGPT, a large language model trained by OpenAI."

/* Renders the conversation; with add_generation_prompt, ends with <|start|>assistant.
 * *ids is malloc'd (free()). A conversation the template refuses (a tool message before any
 * call, "<|channel|>" tags inside a message, both content and thinking on a call) is
 * GPTC_ERR_FORMAT with the reason. */
gptc_status harmony_render(const gptc_tokenizer *tok, const harmony_ids *h, const harmony_conv *c,
                           int add_generation_prompt, int32_t **ids, size_t *n_ids,
                           gptc_error *err);
/* The same, also (or only: ids NULL) as text with the special tokens spelled out; *text is
 * malloc'd and NUL-terminated (tok may be NULL when ids is NULL). */
gptc_status harmony_render_ex(const gptc_tokenizer *tok, const harmony_ids *h,
                              const harmony_conv *c, int add_generation_prompt, int32_t **ids,
                              size_t *n_ids, char **text, gptc_error *err);

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

/* Tool calls. A message whose header names a recipient ("to=functions.get_weather", before or
 * after <|channel|>, with or without <|constrain|>json, even glued to it) is a call: its content
 * is still emitted (on its channel, commentary by default) and also collected as the call's
 * arguments, complete at <|call|>, <|end|>, <|return|>, a new <|start|> or the flush. A
 * recipient of "assistant", "user" or "all" is no call, nor one the filter refuses
 * (harmony_parser_set_filter). The recipient is kept as written (tooldefs_resolve maps it to a
 * declared tool). The parser only reads: what the model may write is decided before sampling,
 * by the tools' reply grammar (gptc_grammar_harmony_tools, cli_gen_constrain_tools). */
/* 1 while the current message's content is a call's arguments, and that call's recipient
 * (NULL otherwise). */
int harmony_parser_in_call(const harmony_parser *p);
const char *harmony_parser_recipient(const harmony_parser *p);
/* Calls completed since the last reset; the i-th one's recipient and arguments (valid until
 * the next reset). */
size_t harmony_parser_n_calls(const harmony_parser *p);
void harmony_parser_call(const harmony_parser *p, size_t i, const char **recipient,
                         const char **args);
void harmony_parser_free(harmony_parser *p);
/* Which recipients are calls: with a filter set, a header whose recipient the filter refuses
 * (returns 0: a tool nobody declared) is no call: its content is emitted on the final channel as
 * text and the header counts as malformed. NULL: every recipient is a call. */
typedef int (*harmony_recipient_fn)(void *user, const char *recipient);
void harmony_parser_set_filter(harmony_parser *p, harmony_recipient_fn fn, void *user);

const char *harmony_channel_name(harmony_channel ch);

#endif
