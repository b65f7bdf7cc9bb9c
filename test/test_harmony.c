/* test_harmony.c — harmony rendering compared token-for-token with sequences assembled by hand
 * from the spec (docs/gpt-oss.md §8.2-8.3, harmony's test_simple_convo), and the streaming channel
 * parser on well-formed and malformed streams. Uses the real o200k_harmony tokenizer
 * (.cache/gpt-oss/tokenizer.json, fetched by scripts/setup.sh). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cli/harmony.h"
#include "cli/tooldefs.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

#define TOKENIZER_JSON ".cache/gpt-oss/tokenizer.json"

/* harmony's special ids (docs/gpt-oss.md §8.1) */
enum {
    START = 200006,
    END = 200007,
    MESSAGE = 200008,
    CHANNEL = 200005,
    RETURN = 200002,
    CALL = 200012,
    CONSTRAIN = 200003,
};

static gptc_tokenizer *tok;
static harmony_ids H;

static void setup(void) {
    if (tok) return;
    gptc_error err = {0};
    gptc_status st = gptc_tokenizer_load_json(TOKENIZER_JSON, &tok, &err);
    ck_assert_msg(st == GPTC_OK, "load %s: %s", TOKENIZER_JSON, err.msg);
    ck_assert_int_eq(harmony_ids_find(tok, &H), 1);
}

/* expected-sequence builder */
typedef struct seq {
    int32_t v[4096];
    size_t n;
} seq;

static void sp(seq *s, int32_t id) {
    ck_assert(s->n < 4096);
    s->v[s->n++] = id;
}

static void tx(seq *s, const char *text) {
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_tokenize(tok, text, strlen(text), 0, &ids, &n, &err), GPTC_OK);
    for (size_t i = 0; i < n; i++) sp(s, ids[i]);
    gptc_free(ids);
}

/* the fixed parts of the system message (docs/gpt-oss.md §8.2), around the date and reasoning
 * lines */
#define SYS_HEAD                                                                                   \
    "You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\n"
#define SYS_TAIL                                                                                   \
    "\n\n# Valid channels: analysis, commentary, final. Channel must be included for every "       \
    "message."

/* <|start|>ROLE<|message|>TEXT<|end|> */
static void msg(seq *s, const char *role, const char *text) {
    sp(s, START);
    tx(s, role);
    sp(s, MESSAGE);
    tx(s, text);
    sp(s, END);
}

/* <|start|>assistant<|channel|>CHANNEL<|message|>TEXT<|end|>, the role and channel names given
 * as their token ids (assistant 173781; analysis 35644, final 17196: test_special_ids) */
static void amsg(seq *s, int32_t channel, const char *text) {
    sp(s, START);
    sp(s, 173781);
    sp(s, CHANNEL);
    sp(s, channel);
    sp(s, MESSAGE);
    tx(s, text);
    sp(s, END);
}

static void assert_same(const int32_t *got, size_t n_got, const seq *want) {
    size_t n = n_got < want->n ? n_got : want->n;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want->v[i], "token %zu: got %d, want %d", i, got[i], want->v[i]);
    ck_assert_uint_eq(n_got, want->n);
}

START_TEST(test_special_ids) {
    setup();
    ck_assert_int_eq(H.start, START);
    ck_assert_int_eq(H.end, END);
    ck_assert_int_eq(H.message, MESSAGE);
    ck_assert_int_eq(H.channel, CHANNEL);
    ck_assert_int_eq(H.ret, RETURN);
    ck_assert_int_eq(H.call, CALL);
    ck_assert_int_eq(H.constrain, CONSTRAIN);
    ck_assert_int_eq(H.endoftext, 199999);
    /* role/channel names are ordinary text tokens (harmony's tests, docs/gpt-oss.md §8.1) */
    seq s = {.n = 0};
    tx(&s, "assistant");
    ck_assert_uint_eq(s.n, 1);
    ck_assert_int_eq(s.v[0], 173781);
    s.n = 0;
    tx(&s, "analysis");
    ck_assert_uint_eq(s.n, 1);
    ck_assert_int_eq(s.v[0], 35644);
    s.n = 0;
    tx(&s, "final");
    ck_assert_uint_eq(s.n, 1);
    ck_assert_int_eq(s.v[0], 17196);
}
END_TEST

/* harmony test-data/test_simple_convo.txt (docs/gpt-oss.md §8.3), by hand */
START_TEST(test_simple_convo) {
    setup();
    harmony_msg m = {.role = "user", .content = "What is 2 + 2?"};
    harmony_conv c = {.effort = "medium", .msgs = &m, .n_msgs = 1};
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_error err = {0};
    ck_assert_int_eq(harmony_render(tok, &H, &c, 1, &ids, &n, &err), GPTC_OK);
    seq w = {.n = 0};
    msg(&w, "system", SYS_HEAD "\nReasoning: medium" SYS_TAIL);
    msg(&w, "user", "What is 2 + 2?");
    sp(&w, START);
    sp(&w, 173781); /* assistant */
    assert_same(ids, n, &w);

    /* the same text tokenized in one piece with special-token parsing gives the same ids */
    const char *txt =
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        "Knowledge cutoff: 2024-06\n\nReasoning: medium\n\n# Valid channels: analysis, "
        "commentary, final. Channel must be included for every message.<|end|><|start|>user"
        "<|message|>What is 2 + 2?<|end|><|start|>assistant";
    int32_t *ids2 = NULL;
    size_t n2 = 0;
    ck_assert_int_eq(gptc_tokenize(tok, txt, strlen(txt), GPTC_TOKENIZE_SPECIAL, &ids2, &n2, &err),
                     GPTC_OK);
    ck_assert_uint_eq(n2, n);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(ids2[i], ids[i]);
    gptc_free(ids2);
    free(ids);
}
END_TEST

/* multi-turn: date line, low effort, developer instructions, earlier analysis dropped */
START_TEST(test_multi_turn) {
    setup();
    harmony_msg m[] = {
        {.role = "user", .content = "What is 2 + 2?"},
        {.role = "assistant",
         .channel = "analysis",
         .content = "User asks: \"What is 2 + 2?\" Simple arithmetic."},
        {.role = "assistant", .channel = "final", .content = "2 + 2 = 4."},
        {.role = "user", .content = "And times 3?"},
    };
    harmony_conv c = {.date = "2025-06-28",
                      .effort = "low",
                      .developer = "Answer briefly.",
                      .msgs = m,
                      .n_msgs = 4};
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_error err = {0};
    ck_assert_int_eq(harmony_render(tok, &H, &c, 1, &ids, &n, &err), GPTC_OK);
    seq w = {.n = 0};
    msg(&w, "system", SYS_HEAD "Current date: 2025-06-28\n\nReasoning: low" SYS_TAIL);
    /* gpt-oss's chat template ends the instructions with a blank line (harmony's library does
     * not: docs/harmony.md); gptc follows the template */
    msg(&w, "developer", "# Instructions\n\nAnswer briefly.\n\n");
    msg(&w, "user", "What is 2 + 2?");
    /* analysis dropped: the turn ended in final */
    amsg(&w, 17196 /* final */, "2 + 2 = 4.");
    msg(&w, "user", "And times 3?");
    sp(&w, START);
    sp(&w, 173781);
    assert_same(ids, n, &w);
    free(ids);

    /* analysis of the current turn (no final after it) is kept */
    harmony_msg m2[] = {{.role = "user", .content = "Hi"},
                        {.role = "assistant", .channel = "analysis", .content = "Greet."}};
    harmony_conv c2 = {.effort = "high", .msgs = m2, .n_msgs = 2};
    ck_assert_int_eq(harmony_render(tok, &H, &c2, 0, &ids, &n, &err), GPTC_OK);
    seq w2 = {.n = 0};
    msg(&w2, "system", SYS_HEAD "\nReasoning: high" SYS_TAIL);
    msg(&w2, "user", "Hi");
    amsg(&w2, 35644 /* analysis */, "Greet.");
    assert_same(ids, n, &w2);
    free(ids);
}
END_TEST

/* a response format ends the developer message (harmony's docs/format.md, "Structured output":
 * "# Response Formats", "## name", "// description", the schema), after the instructions if any */
START_TEST(test_response_format) {
    setup();
    harmony_msg m = {.role = "user", .content = "I need to buy coffee, soda and eggs"};
    const char *rf = "# Response Formats\n\n## shopping_list\n\n// entries on the list\n"
                     "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}";
    harmony_conv c = {.effort = "medium",
                      .developer = "You are a helpful shopping assistant",
                      .msgs = &m,
                      .n_msgs = 1,
                      .response_format = rf};
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_error err = {0};
    ck_assert_int_eq(harmony_render(tok, &H, &c, 1, &ids, &n, &err), GPTC_OK);
    seq w = {.n = 0};
    msg(&w, "system", SYS_HEAD "\nReasoning: medium" SYS_TAIL);
    msg(&w, "developer",
        "# Instructions\n\nYou are a helpful shopping assistant\n\n# Response Formats\n\n## "
        "shopping_list\n\n// entries on the list\n{\"type\":\"array\",\"items\":{\"type\":"
        "\"string\"}}");
    msg(&w, "user", "I need to buy coffee, soda and eggs");
    sp(&w, START);
    sp(&w, 173781);
    assert_same(ids, n, &w);
    free(ids);
    /* no instructions: the developer message is the response format alone */
    harmony_conv c2 = {.effort = "medium", .msgs = &m, .n_msgs = 1, .response_format = rf};
    ck_assert_int_eq(harmony_render(tok, &H, &c2, 1, &ids, &n, &err), GPTC_OK);
    seq w2 = {.n = 0};
    msg(&w2, "system", SYS_HEAD "\nReasoning: medium" SYS_TAIL);
    msg(&w2, "developer",
        "# Response Formats\n\n## shopping_list\n\n// entries on the list\n{\"type\":"
        "\"array\",\"items\":{\"type\":\"string\"}}");
    msg(&w2, "user", "I need to buy coffee, soda and eggs");
    sp(&w2, START);
    sp(&w2, 173781);
    assert_same(ids, n, &w2);
    free(ids);
}
END_TEST

/* ---- parser ------------------------------------------------------------------------------------
 */
typedef struct collected {
    char text[3][4096];
    size_t len[3];
    int switches; /* channel changes seen */
    int last;
} collected;

static void collect(void *user, harmony_channel ch, const char *s, size_t n) {
    collected *c = user;
    ck_assert(c->len[ch] + n < sizeof c->text[ch]);
    memcpy(c->text[ch] + c->len[ch], s, n);
    c->len[ch] += n;
    c->text[ch][c->len[ch]] = 0;
    if ((int)ch != c->last) c->switches++;
    c->last = (int)ch;
}

/* Runs a stream given as a mix of special ids (>= 200000) and text pieces. */
typedef struct item {
    int32_t special; /* 0: text */
    const char *text;
} item;

static void run_stream(const item *it, size_t n, collected *c, int *malformed, int *done) {
    memset(c, 0, sizeof *c);
    c->last = -1;
    harmony_parser *p = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(harmony_parser_new(tok, &H, collect, c, &p, &err), GPTC_OK);
    for (size_t i = 0; i < n; i++) {
        if (it[i].special) {
            ck_assert_int_eq(harmony_parser_push(p, it[i].special, &err), GPTC_OK);
            continue;
        }
        int32_t *ids = NULL;
        size_t k = 0;
        ck_assert_int_eq(gptc_tokenize(tok, it[i].text, strlen(it[i].text), 0, &ids, &k, &err),
                         GPTC_OK);
        for (size_t j = 0; j < k; j++)
            ck_assert_int_eq(harmony_parser_push(p, ids[j], &err), GPTC_OK);
        gptc_free(ids);
    }
    harmony_parser_flush(p);
    *malformed = harmony_parser_malformed(p);
    *done = harmony_parser_done(p);
    harmony_parser_free(p);
}

#define RUN(items, c, mal, done) run_stream(items, sizeof items / sizeof items[0], c, mal, done)

START_TEST(test_parser_wellformed) {
    setup();
    /* docs/gpt-oss.md §8.4's typical completion */
    item s[] = {
        {CHANNEL, 0},      {0, "analysis"},
        {MESSAGE, 0},      {0, "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer."},
        {END, 0},          {START, 0},
        {0, "assistant"},  {CHANNEL, 0},
        {0, "final"},      {MESSAGE, 0},
        {0, "2 + 2 = 4."}, {RETURN, 0}};
    collected c;
    int mal, done;
    RUN(s, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_ANALYSIS],
                     "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.");
    ck_assert_str_eq(c.text[HARMONY_FINAL], "2 + 2 = 4.");
    ck_assert_uint_eq(c.len[HARMONY_COMMENTARY], 0);
    ck_assert_int_eq(mal, 0);
    ck_assert_int_eq(done, 1);

    /* a tool call: commentary with a recipient and a constrained type */
    item t[] = {{CHANNEL, 0},   {0, "commentary to=functions.get_weather "},
                {CONSTRAIN, 0}, {0, "json"},
                {MESSAGE, 0},   {0, "{\"location\":\"Tokyo\"}"},
                {CALL, 0}};
    RUN(t, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_COMMENTARY], "{\"location\":\"Tokyo\"}"); /* (also a call) */
    ck_assert_uint_eq(c.len[HARMONY_FINAL], 0);
    ck_assert_int_eq(mal, 0);
    ck_assert_int_eq(done, 1);

    /* UTF-8 split across tokens arrives whole */
    const char *u = "Grüße, 東京 😀 — ok";
    item v[] = {{CHANNEL, 0}, {0, "final"}, {MESSAGE, 0}, {0, u}, {RETURN, 0}};
    RUN(v, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_FINAL], u);
}
END_TEST

START_TEST(test_parser_malformed) {
    setup();
    collected c;
    int mal, done;
    /* no channel at all: the message is the answer */
    item a[] = {{MESSAGE, 0}, {0, "Hello there"}, {RETURN, 0}};
    RUN(a, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_FINAL], "Hello there");
    ck_assert_int_eq(mal, 0);

    /* unknown channel name (llama.cpp#27720's "??"): shown as final */
    item b[] = {{CHANNEL, 0}, {0, "??"}, {MESSAGE, 0}, {0, "It is 4."}, {RETURN, 0}};
    RUN(b, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_FINAL], "It is 4.");
    ck_assert_int_eq(mal, 1);

    /* "commentary?" -> commentary (prefix), counted as malformed */
    item d[] = {{CHANNEL, 0}, {0, "commentary?"}, {MESSAGE, 0},     {0, "Checking."},
                {END, 0},     {START, 0},         {0, "assistant"}, {CHANNEL, 0},
                {0, "final"}, {MESSAGE, 0},       {0, "Done."},     {RETURN, 0}};
    RUN(d, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_COMMENTARY], "Checking.");
    ck_assert_str_eq(c.text[HARMONY_FINAL], "Done.");
    ck_assert_int_eq(mal, 1);

    /* a header that never reaches <|message|>: its text is shown */
    char longtxt[400];
    memset(longtxt, 0, sizeof longtxt);
    for (int i = 0; i < 40; i++) strcat(longtxt, "word ");
    item e[] = {{CHANNEL, 0}, {0, longtxt}, {RETURN, 0}};
    RUN(e, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_FINAL], longtxt);
    ck_assert_int_ge(mal, 1);

    /* plain text where a header should be (a random model): shown as final */
    item f[] = {{0, "just some text, no header"}};
    RUN(f, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_FINAL], "just some text, no header");
    ck_assert_int_eq(done, 0);

    /* text after <|end|> without <|start|> */
    item g[] = {{CHANNEL, 0}, {0, "analysis"},    {MESSAGE, 0}, {0, "think"},
                {END, 0},     {0, "The answer."}, {RETURN, 0}};
    RUN(g, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_ANALYSIS], "think");
    ck_assert_str_eq(c.text[HARMONY_FINAL], "The answer.");
    ck_assert_int_eq(mal, 1);

    /* a new header inside content without <|end|><|start|> */
    item h[] = {{CHANNEL, 0}, {0, "analysis"}, {MESSAGE, 0}, {0, "think"}, {CHANNEL, 0},
                {0, "final"}, {MESSAGE, 0},    {0, "ans"},   {RETURN, 0}};
    RUN(h, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_ANALYSIS], "think");
    ck_assert_str_eq(c.text[HARMONY_FINAL], "ans");
    ck_assert_int_eq(mal, 1);

    /* generation stopped inside a header */
    item k[] = {{CHANNEL, 0}, {0, "fin"}};
    RUN(k, &c, &mal, &done);
    ck_assert_str_eq(c.text[HARMONY_FINAL], "fin");
}
END_TEST

/* ---- tool calls ---------------------------------------------------------------------------- */

typedef struct calls {
    size_t n;
    char recipient[4][256];
    char args[4][512];
    collected c;
    int malformed;
    char seen[256]; /* harmony_parser_recipient() while the first call's arguments came */
} calls;

/* Runs a stream like run_stream and keeps the parser's calls. */
static void run_calls(const item *it, size_t n, calls *out) {
    memset(out, 0, sizeof *out);
    out->c.last = -1;
    harmony_parser *p = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(harmony_parser_new(tok, &H, collect, &out->c, &p, &err), GPTC_OK);
    for (size_t i = 0; i < n; i++) {
        if (it[i].special) {
            ck_assert_int_eq(harmony_parser_push(p, it[i].special, &err), GPTC_OK);
            continue;
        }
        int32_t *ids = NULL;
        size_t k = 0;
        ck_assert_int_eq(gptc_tokenize(tok, it[i].text, strlen(it[i].text), 0, &ids, &k, &err),
                         GPTC_OK);
        for (size_t j = 0; j < k; j++) {
            ck_assert_int_eq(harmony_parser_push(p, ids[j], &err), GPTC_OK);
            if (harmony_parser_in_call(p) && !out->seen[0])
                snprintf(out->seen, sizeof out->seen, "%s", harmony_parser_recipient(p));
            ck_assert(!harmony_parser_in_call(p) == !harmony_parser_recipient(p));
        }
        gptc_free(ids);
    }
    harmony_parser_flush(p);
    out->n = harmony_parser_n_calls(p);
    ck_assert_uint_le(out->n, 4);
    for (size_t i = 0; i < out->n; i++) {
        const char *r, *a;
        harmony_parser_call(p, i, &r, &a);
        snprintf(out->recipient[i], sizeof out->recipient[i], "%s", r);
        snprintf(out->args[i], sizeof out->args[i], "%s", a);
    }
    out->malformed = harmony_parser_malformed(p);
    harmony_parser_free(p);
}

#define CALLS(items, out) run_calls(items, sizeof items / sizeof items[0], out)
#define ARGS "{\"location\":\"Tokyo\"}"

/* The call header as harmony documents it and the variants models emit (ollama, llama.cpp and
 * vLLM reports): each gives one call with its recipient and arguments. */
START_TEST(test_parser_calls) {
    setup();
    calls k;
    /* documented: <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>..<|call|> */
    item a[] = {{CHANNEL, 0},
                {0, "analysis"},
                {MESSAGE, 0},
                {0, "Need weather."},
                {END, 0},
                {START, 0},
                {0, "assistant"},
                {CHANNEL, 0},
                {0, "commentary to=functions.get_weather "},
                {CONSTRAIN, 0},
                {0, "json"},
                {MESSAGE, 0},
                {0, ARGS},
                {CALL, 0}};
    CALLS(a, &k);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_str_eq(k.recipient[0], "functions.get_weather");
    ck_assert_str_eq(k.args[0], ARGS);
    ck_assert_str_eq(k.seen, "functions.get_weather"); /* known while the arguments come */
    ck_assert_str_eq(k.c.text[HARMONY_ANALYSIS], "Need weather.");
    ck_assert_int_eq(k.malformed, 0);

    /* the recipient before <|channel|> (the chat template's own layout) */
    item b[] = {{0, " to=functions.get_weather"},
                {CHANNEL, 0},
                {0, "commentary json"},
                {MESSAGE, 0},
                {0, ARGS},
                {CALL, 0}};
    CALLS(b, &k);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_str_eq(k.recipient[0], "functions.get_weather");
    ck_assert_str_eq(k.args[0], ARGS);

    /* <|constrain|> left out */
    item c[] = {{CHANNEL, 0},
                {0, "commentary to=functions.get_weather json"},
                {MESSAGE, 0},
                {0, ARGS},
                {CALL, 0}};
    CALLS(c, &k);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_str_eq(k.recipient[0], "functions.get_weather");

    /* <|constrain|> glued to the name */
    item d[] = {{CHANNEL, 0},   {0, "commentary to=functions.get_weather"},
                {CONSTRAIN, 0}, {0, "json"},
                {MESSAGE, 0},   {0, ARGS},
                {CALL, 0}};
    CALLS(d, &k);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_str_eq(k.recipient[0], "functions.get_weather");

    /* "json" glued to the name: the recipient as written, resolved against the tools below */
    item e[] = {{CHANNEL, 0},
                {0, "commentary to=functions.get_weatherjson"},
                {MESSAGE, 0},
                {0, ARGS},
                {CALL, 0}};
    CALLS(e, &k);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_str_eq(k.recipient[0], "functions.get_weatherjson");

    /* a second <|channel|> in the header: the name stops at the special token (never
     * "functions.get_weather<|channel|>analysis") */
    item f[] = {{CHANNEL, 0}, {0, "commentary to=functions.get_weather"},
                {CHANNEL, 0}, {0, "analysis"},
                {MESSAGE, 0}, {0, ARGS},
                {CALL, 0}};
    CALLS(f, &k);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_str_eq(k.recipient[0], "functions.get_weather");
    ck_assert_str_eq(k.args[0], ARGS);

    /* "to=assistant" is no call: an ordinary analysis message */
    item g[] = {{0, " to=assistant"}, {CHANNEL, 0}, {0, "analysis"}, {MESSAGE, 0},
                {0, "hmm"},           {END, 0},     {START, 0},      {0, "assistant"},
                {CHANNEL, 0},         {0, "final"}, {MESSAGE, 0},    {0, "Done."},
                {RETURN, 0}};
    CALLS(g, &k);
    ck_assert_uint_eq(k.n, 0);
    ck_assert_str_eq(k.c.text[HARMONY_ANALYSIS], "hmm");
    ck_assert_str_eq(k.c.text[HARMONY_FINAL], "Done.");

    /* <|message|> left out: the call is recovered from the header, nothing lost */
    item h[] = {{CHANNEL, 0}, {0, "commentary to=functions.get_weather json" ARGS}, {CALL, 0}};
    CALLS(h, &k);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_str_eq(k.recipient[0], "functions.get_weather");
    ck_assert_str_eq(k.args[0], ARGS);
    ck_assert_int_ge(k.malformed, 1);

    /* a call cut off by the end of generation (-n): still reported */
    item i2[] = {{CHANNEL, 0},   {0, "commentary to=functions.get_weather "},
                 {CONSTRAIN, 0}, {0, "json"},
                 {MESSAGE, 0},   {0, "{\"loc"}};
    CALLS(i2, &k);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_str_eq(k.args[0], "{\"loc");

    /* "to=" with no name: no call, the text is kept */
    item j[] = {{CHANNEL, 0}, {0, "commentary to= json"}, {MESSAGE, 0}, {0, "text"}, {RETURN, 0}};
    CALLS(j, &k);
    ck_assert_uint_eq(k.n, 0);
    ck_assert_str_eq(k.c.text[HARMONY_COMMENTARY], "text");

    /* two calls in a row (as with --ignore-eos) */
    item m[] = {{CHANNEL, 0},
                {0, "commentary to=functions.a"},
                {MESSAGE, 0},
                {0, "{}"},
                {CALL, 0},
                {START, 0},
                {0, "assistant to=functions.b"},
                {CHANNEL, 0},
                {0, "commentary"},
                {MESSAGE, 0},
                {0, "{\"x\": 1}"},
                {CALL, 0}};
    CALLS(m, &k);
    ck_assert_uint_eq(k.n, 2);
    ck_assert_str_eq(k.recipient[0], "functions.a");
    ck_assert_str_eq(k.args[0], "{}");
    ck_assert_str_eq(k.recipient[1], "functions.b");
    ck_assert_str_eq(k.args[1], "{\"x\": 1}");

    /* the recipients above against a declared tool list */
    tooldefs t;
    char why[200];
    const char *tools = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}, "
                        "{\"type\": \"function\", \"function\": {\"name\": \"get\"}}]";
    ck_assert_int_eq(tooldefs_parse(tools, strlen(tools), &t, why, sizeof why), 0);
    static const struct {
        const char *recipient, *want;
    } r[] = {{"functions.get_weather", "get_weather"},
             {"get_weather", "get_weather"},
             {"functions.get_weatherjson", "get_weather"},
             {"functions.get_weather json", "get_weather"},
             {"functions.get_weather<|constrain|>json", "get_weather"},
             {"functions.get_weather<|channel|>analysis", "get_weather"},
             {"functions.get", "get"},
             {"functions.getjson", "get"},
             {"functions.lookup", NULL},
             {"assistant<|channel|>analysis", NULL},
             {"functions.", NULL}};
    for (size_t q = 0; q < sizeof r / sizeof r[0]; q++) {
        const char *got = tooldefs_resolve(&t, r[q].recipient);
        if (r[q].want)
            ck_assert_msg(got && !strcmp(got, r[q].want), "%s -> %s", r[q].recipient,
                          got ? got : "(none)");
        else
            ck_assert_msg(!got, "%s -> %s", r[q].recipient, got);
    }
    tooldefs_free(&t);
}
END_TEST

static void teardown_all(void) {
    gptc_tokenizer_free(tok);
    tok = NULL;
}

int main(void) {
    Suite *s = suite_create("harmony");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_special_ids);
    tcase_add_test(tc, test_simple_convo);
    tcase_add_test(tc, test_multi_turn);
    tcase_add_test(tc, test_response_format);
    tcase_add_test(tc, test_parser_wellformed);
    tcase_add_test(tc, test_parser_malformed);
    tcase_add_test(tc, test_parser_calls);
    tcase_add_unchecked_fixture(tc, NULL, teardown_all);
    suite_add_tcase(s, tc);
    int nf = tu_suite_failures(s, 1);
    teardown_all();
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
