/* test_grammar.c — the constrained-decoding engine (grammar/) without a model: llama.cpp's GBNF
 * files (test/data/gbnf, MIT) accept hand-written members of their languages and refuse
 * non-members; malformed grammars and schemas give one error line with the position or the
 * keyword; a corpus of real-world style JSON Schemas (nested, recursive, $ref) converts and
 * accepts / refuses hand-written documents; the token mask equals the brute-force answer (every
 * token tried on a fresh matcher) along random walks; harmony's reply structure. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "grammar/grammar.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512];
static gptc_tokenizer *tok;     /* GPT-2's vocabulary (50257 tokens) */
static gptc_token_trie *trie;   /* of tok */
static gptc_tokenizer *oss_tok; /* gpt-oss's (harmony tokens) */
static gptc_token_trie *oss_trie;

static char *data_file(const char *rel) {
    char *t = tu_read_file(rel, NULL);
    ck_assert_msg(t != NULL, "cannot read %s", rel);
    return t;
}

static gptc_grammar *compile(const char *src) {
    gptc_grammar *g = NULL;
    gptc_error err = {0};
    gptc_status st = gptc_grammar_parse(src, strlen(src), &g, &err);
    ck_assert_msg(st == GPTC_OK, "grammar: %s", err.msg);
    return g;
}

/* Does the grammar accept exactly this text (all of it, and may end there)? */
static int accepts(gptc_matcher *m, const char *text) {
    gptc_matcher_reset(m);
    return gptc_matcher_accept_bytes(m, text, strlen(text)) && gptc_matcher_is_complete(m);
}

static const struct {
    const char *file;
    const char *good[4];
    const char *bad[4];
} GBNF_CASES[] = {
    {"json",
     {"{\"a\": [1, 2, {\"b\": \"c\\n\"}], \"x\": -1.5e3}", "{}", "{\"k\":true,\"v\":null}",
      "{\"\\u00e9\": \"é\"}"},
     {"{\"a\" 1}", "[1]", "{\"a\": tru}", "{\"a\": \"x\"} {"}},
    {"json_arr", {"[\n{\"a\": 1},\n2]", "[\n]", NULL}, {"[1]", "[\n1,2]", NULL}},
    {"chess",
     {"1. e4 e5\n2. Nf3 Nc6\n", "1. d4 d5\n2. c4 dxc4\n3. O-O O-O-O\n", NULL},
     {"1. e9 e5\n2. a3 a6\n", "1. e4 e5\n", "2. e4 e5\n3. a3 a6\n", NULL}},
    {"arithmetic", {"(a+b)*3= x\n", "x1=2\ny=(z)\n", NULL}, {"a+=b\n", "(a=b\n", "1+2=3", NULL}},
    {"list", {"- one\n- two\n", "- \xc3\xa9t\xc3\xa9\n", NULL}, {"- one", "-one\n", "- \n", NULL}},
    {"japanese",
     {"\xe3\x81\xb2\xe3\x82\x89\xe3\x81\x8c\xe3\x81\xaa \xe3\x82\xab\xe3\x82\xbf", NULL},
     {"abc", "\xe3\x81\xb2 ", NULL}},
    {"english", {"Hello, world!", "a b\tc", NULL}, {"h\xc3\xa9llo", " a", NULL}},
    {"c",
     {"int main(){return 0;}", "float f(int x){x = x*2;}", NULL},
     {"int main(", "main(){}", NULL}},
};

START_TEST(test_llama_grammars) {
    for (size_t i = 0; i < sizeof GBNF_CASES / sizeof GBNF_CASES[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "test/data/gbnf/%s.gbnf", GBNF_CASES[i].file);
        char *src = data_file(path);
        gptc_grammar *g = compile(src);
        gptc_matcher *m = NULL;
        ck_assert_int_eq(gptc_matcher_new(g, trie, &m, NULL), GPTC_OK);
        for (int k = 0; k < 4 && GBNF_CASES[i].good[k]; k++)
            ck_assert_msg(accepts(m, GBNF_CASES[i].good[k]), "%s refuses %s", path,
                          GBNF_CASES[i].good[k]);
        for (int k = 0; k < 4 && GBNF_CASES[i].bad[k]; k++)
            ck_assert_msg(!accepts(m, GBNF_CASES[i].bad[k]), "%s accepts %s", path,
                          GBNF_CASES[i].bad[k]);
        gptc_matcher_free(m);
        gptc_grammar_free(g);
        free(src);
    }
}
END_TEST

START_TEST(test_repetition_and_classes) {
    static const struct {
        const char *g, *good, *bad;
    } C[] = {
        {"root ::= \"a\"{2,3}", "aaa", "aaaa"},
        {"root ::= \"a\"{2,3}", "aa", "a"},
        {"root ::= (\"ab\"){2}", "abab", "ab"},
        {"root ::= \"x\"{,2} \"y\"", "xxy", "xxxy"},
        {"root ::= [a-c]{3,} \"!\"", "abcab!", "ab!"},
        {"root ::= [^a-z\\n]+", "ABC\xe2\x82\xac", "AbC"},
        {"root ::= [\\x41-\\x43\\u00e9]+", "AB\xc3\xa9", "ABD"},
        {"root ::= [\\U0001F600-\\U0001F64F]", "\xf0\x9f\x98\x80", "\xf0\x9f\x99\x90"},
        {"root ::= .\"|\"", "\xe4\xb8\xad|", "ab|"},
        {"root ::= a | b\na ::= \"1\" # comment\nb ::= \"2\" |\n  \"3\"", "3", "4"},
        {"root ::= \"\\\"\\\\\\t\\[\"", "\"\\\t[", "\"\\ ["},
        {"root ::= [-a]+ [\\]]", "-a-]", "b]"},
        {"root ::= ( \"a\"\n  | \"b\" )?\n", "", "ab"},
        /* stacked quantifiers: x++ = x+, x?? = x?, x** = x* (collapsed by the compiler),
         * x+? = x* (the languages worked out by hand) */
        {"root ::= \"ab\"++", "abab", ""},
        {"root ::= \"ab\"++ \"!\"", "ab!", "!"},
        {"root ::= \"ab\"?? \"!\"", "ab!", "abab!"},
        {"root ::= \"ab\"?? \"!\"", "!", "a!"},
        {"root ::= \"ab\"** \"!\"", "abab!", "aba!"},
        {"root ::= \"ab\"** \"!\"", "!", "b!"},
        {"root ::= \"ab\"+? \"!\"", "!", "a!"},
        {"root ::= \"ab\"+? \"!\"", "ababab!", "abb!"},
        {"root ::= \"ab\"{2}+ \"!\"", "abababab!", "ababab!"},
        /* [^] (no range, negated): any one character (the gbnf fuzzer: qsort was called with
         * the empty class's NULL array, which UBSan reports in the second pass of make test) */
        {"root ::= [^] \"!\"", "x!", "!"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        gptc_grammar *g = compile(C[i].g);
        gptc_matcher *m = NULL;
        ck_assert_int_eq(gptc_matcher_new(g, trie, &m, NULL), GPTC_OK);
        ck_assert_msg(accepts(m, C[i].good), "%s refuses %s", C[i].g, C[i].good);
        ck_assert_msg(!accepts(m, C[i].bad), "%s accepts %s", C[i].g, C[i].bad);
        gptc_matcher_free(m);
        gptc_grammar_free(g);
    }
}
END_TEST

START_TEST(test_malformed_grammars) {
    static const struct {
        const char *g, *want;
    } C[] = {
        {"root ::= \"abc", "line 1, column 10: unterminated string literal"},
        {"root ::= foo", "line 1, column 10: undefined rule 'foo'"},
        {"root ::= [a-", "unterminated character class"},
        {"root ::= (\"a\"\n", "unclosed '('"},
        {"root := \"a\"", "line 1, column 6: expected '::='"},
        {"foo ::= \"a\"", "no 'root' rule"},
        {"root ::= root \"a\"", "'root' is left-recursive"},
        {"root ::= x* \"b\"\nx ::= \"a\"?", "left-recursive"},
        {"root ::= \"a\"{3,1}", "maximum is below the minimum"},
        {"root ::= [z-a]", "reversed"},
        {"root ::= \"\\q\"", "unknown escape"},
        {"root ::= *", "'*' must follow an item"},
        {"root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice"},
        {"root ::= \"a\" )", "unexpected ')'"},
        {"root ::= \"\\xZZ\"", "hex digits"},
        {"root ::= <|end|>", "token names"},
        {"root ::= \"a\"{99999}", "repetition count"},
        {"\n\nroot ::= \"a\"\n  b ::= [", "line 4, column 9"},
        {"root ::= \"\xff\"", "invalid UTF-8"},
        {"", "no 'root' rule"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        gptc_grammar *g = NULL;
        gptc_error err = {0};
        gptc_status st = gptc_grammar_parse(C[i].g, strlen(C[i].g), &g, &err);
        ck_assert_msg(st != GPTC_OK, "accepted: %s", C[i].g);
        ck_assert_ptr_null(g);
        ck_assert_msg(strstr(err.msg, C[i].want), "'%s': got '%s', want '%s'", C[i].g, err.msg,
                      C[i].want);
        ck_assert_ptr_null(strchr(err.msg, '\n'));
    }
    /* the API takes (pointer, length): a buffer without a NUL after it is read only up to its
     * length, also when the error names an undefined rule (the gbnf fuzzer found a strlen past
     * the end there; ASan, the second pass of make test, sees any over-read) */
    static const char undef[] = "root ::= \"a\" foo";
    char *buf = malloc(sizeof undef - 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, undef, sizeof undef - 1);
    gptc_grammar *g = NULL;
    gptc_error err = {0};
    ck_assert_int_ne(gptc_grammar_parse(buf, sizeof undef - 1, &g, &err), GPTC_OK);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, "line 1, column 14: undefined rule 'foo'"), "%s", err.msg);
    free(buf);
}
END_TEST

/* The gbnf fuzzer's slow grammar: 61 '+' stacked on one item used to nest 61 one-or-more loops
 * (the state sets grew for minutes); collapsed, masks and tokens go as for " -"+. */
START_TEST(test_stacked_plus) {
    char src[200];
    int n = snprintf(src, sizeof src, "root ::= item+\nitem ::= \" -\"");
    for (int i = 0; i < 61; i++) src[n++] = '+';
    src[n] = 0;
    gptc_grammar *g = compile(src);
    gptc_matcher *m = NULL;
    ck_assert_int_eq(gptc_matcher_new(g, trie, &m, NULL), GPTC_OK);
    uint32_t *bits = malloc(((size_t)gptc_tokenizer_n_vocab(tok) + 31) / 32 * sizeof *bits);
    ck_assert_ptr_nonnull(bits);
    for (int step = 0; step < 8; step++) {
        ck_assert_int_gt(gptc_matcher_mask(m, bits), 0);
        ck_assert_int_eq(gptc_matcher_accept_bytes(m, " -", 2), 1);
    }
    ck_assert(gptc_matcher_is_complete(m));
    ck_assert_ptr_null(gptc_matcher_failure(m));
    ck_assert(accepts(m, " - - -"));
    ck_assert(!accepts(m, " - -x"));
    free(bits);
    gptc_matcher_free(m);
    gptc_grammar_free(g);
}
END_TEST

/* The matcher's bound on parser states (GPTC_MATCHER_MAX_STATES lowers it): past it the mask is
 * empty and gptc_matcher_failure says why; a reset starts afresh; without the variable the same
 * grammar is followed. */
START_TEST(test_matcher_bound) {
    gptc_grammar *g = compile("root ::= \"{\" [a-z]+ \":\" [0-9]+ \"}\"");
    uint32_t *bits = malloc(((size_t)gptc_tokenizer_n_vocab(tok) + 31) / 32 * sizeof *bits);
    ck_assert_ptr_nonnull(bits);
    setenv("GPTC_MATCHER_MAX_STATES", "1", 1);
    gptc_matcher *m = NULL;
    ck_assert_int_eq(gptc_matcher_new(g, trie, &m, NULL), GPTC_OK);
    unsetenv("GPTC_MATCHER_MAX_STATES");
    ck_assert_ptr_null(gptc_matcher_failure(m));
    ck_assert_int_eq(gptc_matcher_mask(m, bits), 0);
    const char *why = gptc_matcher_failure(m);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "too ambiguous"), "%s", why);
    ck_assert_int_eq(gptc_matcher_accept_bytes(m, "{", 1), 0);
    gptc_matcher_reset(m);
    ck_assert_ptr_null(gptc_matcher_failure(m));
    gptc_matcher_free(m);
    ck_assert_int_eq(gptc_matcher_new(g, trie, &m, NULL), GPTC_OK);
    ck_assert_int_gt(gptc_matcher_mask(m, bits), 0);
    ck_assert_int_eq(gptc_matcher_accept_bytes(m, "{ab:12}", 7), 1);
    ck_assert(gptc_matcher_is_complete(m));
    ck_assert_ptr_null(gptc_matcher_failure(m));
    gptc_matcher_free(m);
    gptc_grammar_free(g);
    free(bits);
}
END_TEST

/* ---- JSON Schema ------------------------------------------------------------------------------
 */
static const struct {
    const char *schema;
    const char *good[3];
    const char *bad[3];
} SCHEMAS[] = {
    /* a package manifest: nested objects, optional keys, additionalProperties as a schema */
    {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"pattern\":\"^[a-z][a-z0-"
     "9-]*$\"},\"version\":{\"type\":\"string\",\"pattern\":\"^[0-9]+\\\\.[0-9]+\\\\.[0-9]+$\"},"
     "\"private\":{\"type\":\"boolean\"},\"dependencies\":{\"type\":\"object\","
     "\"additionalProperties\":{\"type\":\"string\"}}},\"required\":[\"name\",\"version\"],"
     "\"additionalProperties\":false}",
     {"{\"name\": \"left-pad\", \"version\": \"1.3.0\"}",
      "{\"name\":\"x\",\"version\":\"0.0.1\",\"private\":true,\"dependencies\":{\"a\":\"^1\"}}",
      NULL},
     {"{\"name\": \"Left\", \"version\": \"1.3.0\"}", "{\"version\": \"1.3.0\"}",
      "{\"name\": \"a\", \"version\": \"1.3\"}"}},
    /* a recursive tree through $defs / $ref */
    {"{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"value\":{\"type\":\"integer\"},"
     "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":["
     "\"value\",\"children\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}",
     {"{\"value\": 1, \"children\": [{\"value\": -2, \"children\": []}]}",
      "{\"value\":0,\"children\":[{\"value\":1,\"children\":[{\"value\":2,\"children\":[]}]}]}",
      NULL},
     {"{\"value\": 1}", "{\"value\": 1.5, \"children\": []}", "{\"value\": 01, \"children\": []}"}},
    /* recursion through "#", anyOf, null */
    {"{\"type\":\"object\",\"properties\":{\"op\":{\"enum\":[\"+\",\"*\"]},\"args\":{\"type\":"
     "\"array\",\"minItems\":2,\"maxItems\":3,\"items\":{\"anyOf\":[{\"type\":\"number\"},{\"$"
     "ref\":"
     "\"#\"},{\"type\":\"null\"}]}}},\"required\":[\"op\",\"args\"],\"additionalProperties\":"
     "false}",
     {"{\"op\": \"+\", \"args\": [1, {\"op\": \"*\", \"args\": [2.5, null]}]}",
      "{\"op\":\"*\",\"args\":[1,2,3e2]}", NULL},
     {"{\"op\": \"-\", \"args\": [1, 2]}", "{\"op\": \"+\", \"args\": [1]}",
      "{\"op\": \"+\", \"args\": [1, 2, 3, 4]}"}},
    /* OpenAI structured-outputs style: strict, all required, nullable via type lists, formats */
    {"{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
     "\"when\":{\"type\":\"string\",\"format\":\"date-time\"},\"day\":{\"type\":\"string\","
     "\"format\":\"date\"},\"email\":{\"type\":[\"string\",\"null\"],\"format\":\"email\"},"
     "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":"
     "3}},\"kind\":{\"const\":\"event\"}},\"required\":[\"id\",\"when\",\"day\",\"email\","
     "\"tags\",\"kind\"],\"additionalProperties\":false}",
     {"{\"id\": \"123e4567-e89b-12d3-a456-426614174000\", \"when\": \"2024-02-28T12:30:00Z\", "
      "\"day\": \"2024-12-31\", \"email\": null, \"tags\": [\"a\", \"xyz\"], \"kind\": \"event\"}",
      "{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"when\":\"2024-02-28T12:30:00.5+01:00\","
      "\"day\":\"2024-01-01\",\"email\":\"a.b@example.com\",\"tags\":[],\"kind\":\"event\"}",
      NULL},
     {"{\"id\": \"123\", \"when\": \"2024-02-28T12:30:00Z\", \"day\": \"2024-12-31\", \"email\": "
      "null, \"tags\": [], \"kind\": \"event\"}",
      "{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"when\":\"2024-02-28T12:30:00Z\","
      "\"day\":\"2024-13-01\",\"email\":null,\"tags\":[],\"kind\":\"event\"}",
      "{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"when\":\"2024-02-28T12:30:00Z\","
      "\"day\":\"2024-01-01\",\"email\":null,\"tags\":[\"abcd\"],\"kind\":\"event\"}"}},
    /* no required keys, integers with a lower bound, definitions (draft-07 spelling) */
    {"{\"definitions\":{\"count\":{\"type\":\"integer\",\"minimum\":0}},\"type\":\"object\","
     "\"properties\":{\"a\":{\"$ref\":\"#/definitions/count\"},\"b\":{\"type\":\"boolean\"}},"
     "\"additionalProperties\":false}",
     {"{}", "{\"b\": false}", "{\"a\": 0, \"b\": true}"},
     {"{\"a\": -1}", "{\"b\": false, \"a\": 1, \"c\": 2}", "{\"c\": 1}"}},
    /* pattern characters JSON must escape: '"', '\\', controls */
    {"{\"type\":\"string\",\"pattern\":\"^a[\\\"\\n]{2}$\"}",
     {"\"a\\\"\\u000a\"", "\"a\\u000a\\n\"", "\"a\\n\\\"\""},
     {"\"a\\t\\n\"", "\"ab\"", "\"a\"\""}},
    /* anything goes */
    {"{}", {"[1, \"a\", {\"b\": null}]", "\"s\"", "-0.5"}, {"[1,]", "{'a': 1}", NULL}},
};

START_TEST(test_schema_corpus) {
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof SCHEMAS[0]; i++) {
        gptc_grammar *g = NULL;
        gptc_error err = {0};
        const char *s = SCHEMAS[i].schema;
        ck_assert_msg(gptc_grammar_from_json_schema(s, strlen(s), &g, &err) == GPTC_OK,
                      "schema %zu: %s", i, err.msg);
        gptc_matcher *m = NULL;
        ck_assert_int_eq(gptc_matcher_new(g, trie, &m, NULL), GPTC_OK);
        for (int k = 0; k < 3 && SCHEMAS[i].good[k]; k++)
            ck_assert_msg(accepts(m, SCHEMAS[i].good[k]), "schema %zu refuses %s", i,
                          SCHEMAS[i].good[k]);
        for (int k = 0; k < 3 && SCHEMAS[i].bad[k]; k++)
            ck_assert_msg(!accepts(m, SCHEMAS[i].bad[k]), "schema %zu accepts %s", i,
                          SCHEMAS[i].bad[k]);
        gptc_matcher_free(m);
        gptc_grammar_free(g);
    }
    /* json_object mode: any object, nothing else */
    gptc_grammar *g = NULL;
    ck_assert_int_eq(gptc_grammar_json_object(&g, NULL), GPTC_OK);
    gptc_matcher *m = NULL;
    ck_assert_int_eq(gptc_matcher_new(g, trie, &m, NULL), GPTC_OK);
    ck_assert(accepts(m, "{\"a\": [1, {\"b\": \"\\\"\"}], \"c\": {}}"));
    ck_assert(!accepts(m, "[1]"));
    ck_assert(!accepts(m, "{\"a\": 1"));
    gptc_matcher_free(m);
    gptc_grammar_free(g);
}
END_TEST

START_TEST(test_schema_errors) {
    static const struct {
        const char *s, *want;
    } C[] = {
        {"{\"type\":\"object\",\"properties\":{\"x\":{\"not\":{\"type\":\"string\"}}}}",
         "unsupported JSON Schema keyword 'not' at #/properties/x"},
        {"{\"type\":\"object\",\"patternProperties\":{}}",
         "unsupported JSON Schema keyword 'patternProperties' at #"},
        {"{\"if\":{}}", "keyword 'if'"},
        {"{\"type\":\"array\",\"items\":{\"type\":\"string\",\"uniqueItems\":true}}",
         "'uniqueItems' at #/items"},
        {"{\"type\":\"string\",\"format\":\"uri\"}", "unsupported string format 'uri'"},
        {"{\"$ref\":\"#/$defs/missing\"}", "points at nothing"},
        {"{\"$ref\":\"https://example.com/s.json\"}", "same document"},
        {"{\"type\":\"strin\"}", "unknown type 'strin'"},
        {"{\"type\":\"object\",\"properties\":{\"a\":false}}", "matches nothing"},
        {"{\"type\":\"object\",\n \"properties\": {\"a\": }}", "invalid JSON at line 2, column 22"},
        {"{\"type\":\"string\"} x", "extra text"},
        {"{\"type\":\"integer\",\"maximum\":5}", "'maximum'"},
        {"{\"type\":\"string\",\"pattern\":\"(?=a)\"}", "pattern"},
        {"{\"type\":\"object\",\"required\":[\"a\"]}", "required property 'a'"},
        {"{\"enum\":[\"\xff\"]}", "invalid UTF-8 at byte 10"},
        {"{\"type\":\"string\",\"pattern\":\"a{3,1}\"}", "bad {m,n}"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        gptc_grammar *g = NULL;
        gptc_error err = {0};
        gptc_status st = gptc_grammar_from_json_schema(C[i].s, strlen(C[i].s), &g, &err);
        ck_assert_msg(st != GPTC_OK, "accepted: %s", C[i].s);
        ck_assert_ptr_null(g);
        ck_assert_msg(strstr(err.msg, C[i].want), "'%s': got '%s', want '%s'", C[i].s, err.msg,
                      C[i].want);
        ck_assert_ptr_null(strchr(err.msg, '\n'));
    }
}
END_TEST

/* ---- the mask against brute force --------------------------------------------------------------
 */
static uint64_t rng = 88172645463325252ull;
static uint32_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Random walks: at every step, the mask (the cached trie walk) must equal "accept_token succeeds
 * from the same state" (the plain byte-by-byte advance), token by token over the vocabulary. */
static void check_mask(const gptc_grammar *g, const gptc_token_trie *t, const int32_t *ends,
                       int n_ends, int walks, int steps) {
    gptc_matcher *m = NULL;
    ck_assert_int_eq(gptc_matcher_new(g, t, &m, NULL), GPTC_OK);
    gptc_matcher_set_end_tokens(m, ends, n_ends, NULL);
    const int nw = gptc_matcher_n_words(m), nv = gptc_token_trie_n_vocab(t);
    uint32_t *bits = malloc((size_t)nw * 4);
    int32_t *allowed = malloc((size_t)nv * sizeof *allowed);
    for (int w = 0; w < walks; w++) {
        gptc_matcher_reset(m);
        for (int s = 0; s < steps; s++) {
            int cnt = gptc_matcher_mask(m, bits);
            int k = 0;
            const int32_t state = gr_matcher_state(m);
            for (int id = 0; id < nv; id++) {
                gr_matcher_set_state(m, state);
                int want = gptc_matcher_accept_token(m, id);
                int got = (bits[id >> 5] >> (id & 31)) & 1;
                ck_assert_msg(want == got, "walk %d step %d token %d: mask %d, brute force %d", w,
                              s, id, got, want);
                if (got) allowed[k++] = id;
            }
            gr_matcher_set_state(m, state);
            ck_assert_int_eq(cnt, k);
            if (!k) break;
            int32_t pick = allowed[next_rand() % (uint32_t)k];
            ck_assert(gptc_matcher_accept_token(m, pick));
            if (gptc_matcher_is_ended(m)) break;
        }
    }
    free(bits);
    free(allowed);
    gptc_matcher_free(m);
}

START_TEST(test_mask_brute_force) {
    int32_t eos = gptc_tokenizer_eos(tok);
    char *src = data_file("test/data/gbnf/json.gbnf");
    gptc_grammar *g = compile(src);
    check_mask(g, trie, &eos, 1, 2, 8);
    gptc_grammar_free(g);
    free(src);
    src = data_file("test/data/gbnf/arithmetic.gbnf");
    g = compile(src);
    check_mask(g, trie, &eos, 1, 2, 8);
    gptc_grammar_free(g);
    free(src);
    const char *s = SCHEMAS[2].schema;
    ck_assert_int_eq(gptc_grammar_from_json_schema(s, strlen(s), &g, NULL), GPTC_OK);
    check_mask(g, trie, &eos, 1, 2, 8);
    gptc_grammar_free(g);
}
END_TEST

/* ---- harmony -----------------------------------------------------------------------------------
 */
static int feed_text(gptc_matcher *m, const char *text) {
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(
        gptc_tokenize(oss_tok, text, strlen(text), GPTC_TOKENIZE_SPECIAL, &ids, &n, NULL), GPTC_OK);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) ok = gptc_matcher_accept_token(m, ids[i]);
    gptc_free(ids);
    return ok;
}

START_TEST(test_harmony_structure) {
    gptc_grammar *g = NULL, *h = NULL;
    ck_assert_int_eq(gptc_grammar_json_object(&g, NULL), GPTC_OK);
    ck_assert_int_eq(gptc_grammar_harmony(g, oss_tok, &h, NULL), GPTC_OK);
    gptc_matcher *m = NULL;
    ck_assert_int_eq(gptc_matcher_new(h, oss_trie, &m, NULL), GPTC_OK);
    /* analysis then final */
    ck_assert(feed_text(m, "<|channel|>analysis<|message|>Think: {not json}<|end|><|start|>"
                           "assistant<|channel|>final<|message|>{\"a\": 1}"));
    ck_assert(!gptc_matcher_is_complete(m));
    ck_assert(feed_text(m, "<|return|>"));
    ck_assert(gptc_matcher_is_complete(m));
    /* a constrained header, as harmony writes one */
    gptc_matcher_reset(m);
    ck_assert(feed_text(m, "<|channel|>final <|constrain|>json<|message|>{}<|return|>"));
    ck_assert(gptc_matcher_is_complete(m));
    /* straight to final */
    gptc_matcher_reset(m);
    ck_assert(feed_text(m, "<|channel|>final<|message|>{}<|return|>"));
    ck_assert(gptc_matcher_is_complete(m));
    /* what harmony allows elsewhere is refused here */
    static const char *const refused[] = {
        "<|channel|>commentary<|message|>",
        "<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>analysis",
        "<|channel|>final<|message|>[1]",
        "<|channel|>final<|message|>{}<|end|>",
        "<|channel|>analysis<|message|>a<|return|>",
        "<|channel|>final<|message|>{\"a\"<|return|>",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        gptc_matcher_reset(m);
        ck_assert_msg(!feed_text(m, refused[i]), "accepted %s", refused[i]);
    }
    /* the mask at the start: only <|channel|> */
    gptc_matcher_reset(m);
    uint32_t *bits = calloc((size_t)gptc_matcher_n_words(m), 4);
    ck_assert_int_eq(gptc_matcher_mask(m, bits), 1);
    int32_t ch = gptc_tokenizer_find(oss_tok, "<|channel|>");
    ck_assert((bits[ch >> 5] >> (ch & 31)) & 1);
    /* inside the analysis: every text token and <|end|>, no other special token */
    ck_assert(feed_text(m, "<|channel|>analysis<|message|>"));
    int n = gptc_matcher_mask(m, bits);
    int32_t end = gptc_tokenizer_find(oss_tok, "<|end|>"),
            ret = gptc_tokenizer_find(oss_tok, "<|return|>");
    ck_assert((bits[end >> 5] >> (end & 31)) & 1);
    ck_assert(!((bits[ret >> 5] >> (ret & 31)) & 1));
    ck_assert_int_gt(n, 150000);
    free(bits);
    gptc_matcher_free(m);
    gptc_grammar_free(h);
    gptc_grammar_free(g);
}
END_TEST

/* The reply grammar with tools: which headers and arguments it takes, for each tool_choice. */
START_TEST(test_harmony_tools_structure) {
    static const char *const names[] = {"get_weather", "get"};
    static const char *const schemas[] = {
        "{\"type\":\"object\",\"properties\":{\"city\":{\"enum\":[\"Oslo\",\"Lima\"]}},"
        "\"required\":[\"city\"]}",
        NULL};
    static const struct {
        const char *text;
        int ok[4]; /* accepted under auto, none, required, get_weather (forced) */
    } C[] = {
        /* harmony's call layout, its content type in each spelling, or none */
        {"<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
         "{\"city\":\"Oslo\"}<|call|>",
         {1, 0, 1, 1}},
        {"<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>"
         "{\"city\": \"Lima\"} <|call|>",
         {1, 0, 1, 1}},
        {"<|channel|>commentary to=functions.get_weather json<|message|>{\"city\":\"Oslo\"}"
         "<|call|>",
         {1, 0, 1, 1}},
        /* the template's layout, after reasoning and a preamble */
        {"<|channel|>analysis<|message|>hm<|end|><|start|>assistant<|channel|>commentary"
         "<|message|>Checking.<|end|><|start|>assistant to=functions.get_weather<|channel|>"
         "commentary json<|message|>{\"city\":\"Lima\"}<|call|>",
         {1, 0, 1, 1}},
        /* a tool without parameters takes {} */
        {"<|channel|>commentary to=functions.get<|message|>{}<|call|>", {1, 0, 1, 0}},
        /* answers */
        {"<|channel|>final<|message|>Sunny.<|return|>", {1, 1, 0, 0}},
        {"<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>final<|message|>y"
         "<|return|>",
         {1, 1, 0, 0}},
        /* refused everywhere: arguments off the schema, names not declared or glued, a
         * channel as a name, a call on analysis, text after the arguments */
        {"<|channel|>commentary to=functions.get_weather<|message|>{\"city\":\"Rome\"}",
         {0, 0, 0, 0}},
        {"<|channel|>commentary to=functions.get_weather<|message|>{}<|call|>", {0, 0, 0, 0}},
        {"<|channel|>commentary to=functions.get_weatherjson<|message|>", {0, 0, 0, 0}},
        {"<|channel|>commentary to=functions.rm<|message|>", {0, 0, 0, 0}},
        {"<|channel|>commentary to=assistant<|channel|>analysis<|message|>", {0, 0, 0, 0}},
        {"<|channel|>analysis to=functions.get<|message|>", {0, 0, 0, 0}},
        {"<|channel|>commentary to=functions.get<|message|>{}x<|call|>", {0, 0, 0, 0}},
        {"<|channel|>commentary to=functions.get<|message|>{}<|return|>", {0, 0, 0, 0}},
    };
    for (int k = 0; k < 4; k++) {
        gptc_grammar *g = NULL;
        gptc_tool_choice choice = k == 0   ? GPTC_TOOL_CHOICE_AUTO
                                  : k == 1 ? GPTC_TOOL_CHOICE_NONE
                                           : GPTC_TOOL_CHOICE_REQUIRED;
        gptc_error err = {0};
        ck_assert_msg(gptc_grammar_harmony_tools(NULL, oss_tok, names, schemas, 2, choice,
                                                 k == 3 ? 0 : -1, &g, &err) == GPTC_OK,
                      "%s", err.msg);
        gptc_matcher *m = NULL;
        ck_assert_int_eq(gptc_matcher_new(g, oss_trie, &m, NULL), GPTC_OK);
        for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
            gptc_matcher_reset(m);
            int ok = feed_text(m, C[i].text) && gptc_matcher_is_complete(m);
            ck_assert_msg(ok == C[i].ok[k], "choice %d: %s %s", k, ok ? "accepted" : "refused",
                          C[i].text);
        }
        gptc_matcher_free(m);
        gptc_grammar_free(g);
    }
    /* a final grammar: the answer follows it */
    gptc_grammar *fg = NULL, *g = NULL;
    ck_assert_int_eq(gptc_grammar_json_object(&fg, NULL), GPTC_OK);
    ck_assert_int_eq(gptc_grammar_harmony_tools(fg, oss_tok, names, schemas, 2,
                                                GPTC_TOOL_CHOICE_AUTO, -1, &g, NULL),
                     GPTC_OK);
    gptc_matcher *m = NULL;
    ck_assert_int_eq(gptc_matcher_new(g, oss_trie, &m, NULL), GPTC_OK);
    ck_assert(!feed_text(m, "<|channel|>final<|message|>Sunny."));
    gptc_matcher_reset(m);
    ck_assert(feed_text(m, "<|channel|>final<|message|>{\"a\":1}<|return|>"));
    gptc_matcher_free(m);
    gptc_grammar_free(g);
    gptc_grammar_free(fg);
    /* errors */
    gptc_error err = {0};
    static const char *const bad[] = {"{\"type\":\"object\",\"not\":{}}", NULL};
    ck_assert_int_eq(gptc_grammar_harmony_tools(NULL, oss_tok, names, bad, 2, GPTC_TOOL_CHOICE_AUTO,
                                                -1, &g, &err),
                     GPTC_ERR_UNSUPPORTED);
    ck_assert_str_eq(err.msg, "tool get_weather: JSON Schema: unsupported JSON Schema keyword "
                              "'not' at #");
    ck_assert_ptr_null(g);
    ck_assert_int_eq(gptc_grammar_harmony_tools(NULL, oss_tok, names, schemas, 0,
                                                GPTC_TOOL_CHOICE_REQUIRED, -1, &g, &err),
                     GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(gptc_grammar_harmony_tools(NULL, oss_tok, names, schemas, 2,
                                                GPTC_TOOL_CHOICE_AUTO, 2, &g, &err),
                     GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(gptc_grammar_harmony_tools(NULL, tok, names, schemas, 2, GPTC_TOOL_CHOICE_AUTO,
                                                -1, &g, &err),
                     GPTC_ERR_UNSUPPORTED); /* GPT-2's vocabulary has no harmony tokens */
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    gptc_error err = {0};
    if (gptc_tokenizer_load_gguf(g2, &tok, &err) != GPTC_OK ||
        gptc_token_trie_new(tok, &trie, &err) != GPTC_OK ||
        gptc_tokenizer_load_json(".cache/gpt-oss/tokenizer.json", &oss_tok, &err) != GPTC_OK ||
        gptc_token_trie_new(oss_tok, &oss_trie, &err) != GPTC_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("grammar");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_llama_grammars);
    tcase_add_test(tc, test_repetition_and_classes);
    tcase_add_test(tc, test_malformed_grammars);
    tcase_add_test(tc, test_matcher_bound);
    tcase_add_test(tc, test_stacked_plus);
    tcase_add_test(tc, test_schema_corpus);
    tcase_add_test(tc, test_schema_errors);
    tcase_add_test(tc, test_mask_brute_force);
    tcase_add_test(tc, test_harmony_structure);
    tcase_add_test(tc, test_harmony_tools_structure);
    suite_add_tcase(s, tc);
    int nf = tu_suite_failures(s, 1);
    gptc_token_trie_free(trie);
    gptc_token_trie_free(oss_trie);
    gptc_tokenizer_free(tok);
    gptc_tokenizer_free(oss_tok);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
