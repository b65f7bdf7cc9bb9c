/* test_tok_errors.c — a tiny hand-made byte-level BPE tokenizer.json (hand-worked ids), then
 * malformed or unsupported tokenizer.json files and GGUF tokenizer keys: each gives a clear
 * error naming the JSON path / key, never a crash or a silently different tokenizer. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gptc.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

/* Vocab: a=0 b=1 c=2 ab=3 abc=4 Ġ=5 Ġa=6, merges "a b" (rank 0), "ab c" (1), "Ġ a" (2). */
#define VOCAB "{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"abc\":4,\"\\u0120\":5,\"\\u0120a\":6}"
#define MERGES "[\"a b\",\"ab c\",\"\\u0120 a\"]"
#define PRE "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true}"
#define DEC "{\"type\":\"ByteLevel\"}"
#define ADDED                                                                                      \
    "[{\"id\":7,\"content\":\"<|x|>\",\"special\":true,\"single_word\":false,\"lstrip\":false,"    \
    "\"rstrip\":false,\"normalized\":false}]"

static char *mk(const char *added, const char *pre, const char *model, const char *extra) {
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":%s,"
             "\"normalizer\":null,\"pre_tokenizer\":%s,\"post_processor\":null,\"decoder\":%s%s"
             "%s%s}",
             added, pre, DEC, extra, model ? ",\"model\":" : "", model ? model : "");
    return buf;
}

static gptc_status load_str(const char *json, gptc_tokenizer **tok, gptc_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", tu_tmpdir());
    ck_assert(tu_write_file(path, json, strlen(json)) == 0);
    memset(err, 0, sizeof *err);
    return gptc_tokenizer_load_json(path, tok, err);
}

#define MODEL(v, m) "{\"type\":\"BPE\",\"vocab\":" v ",\"merges\":" m "}"

START_TEST(test_tiny_ok) {
    gptc_tokenizer *tok;
    gptc_error err;
    ck_assert_msg(load_str(mk(ADDED, PRE, MODEL(VOCAB, MERGES), ""), &tok, &err) == GPTC_OK, "%s",
                  err.msg);
    ck_assert_int_eq(gptc_tokenizer_n_vocab(tok), 8);
    int32_t *ids;
    size_t n;
    /* "abc a<|x|>ba": pieces "abc", " a", "<|x|>", "ba"; abc -> a+b (0) -> ab+c (1) = 4;
     * " a" = Ġa 6; special 7; "ba" has no merge -> b a */
    const char *text = "abc a<|x|>ba";
    ck_assert(gptc_tokenize(tok, text, strlen(text), GPTC_TOKENIZE_SPECIAL, &ids, &n, &err) ==
              GPTC_OK);
    int32_t want[] = {4, 6, 7, 1, 0};
    ck_assert_int_eq((int)n, 5);
    ck_assert(!memcmp(ids, want, sizeof want));
    gptc_free(ids);
    /* a byte with no token and no unk is dropped (HF BPE without unk_token) */
    ck_assert(gptc_tokenize(tok, "a?b", 3, 0, &ids, &n, &err) == GPTC_OK);
    ck_assert_int_eq((int)n, 2); /* "a", "?b" -> a | b (the '?' piece is ' ?[^\s\pL\pN]+' -> "?") */
    gptc_free(ids);
    /* invalid UTF-8 names the offset */
    ck_assert(gptc_tokenize(tok, "ab\xC3(", 4, 0, &ids, &n, &err) == GPTC_ERR_FORMAT);
    ck_assert_str_eq(err.msg, "invalid UTF-8 at byte offset 2");
    ck_assert(gptc_tokenize(tok, "\xED\xA0\x80", 3, 0, &ids, &n, &err) == GPTC_ERR_FORMAT);
    ck_assert_str_eq(err.msg, "invalid UTF-8 at byte offset 0");
    gptc_tokenizer_free(tok);
}
END_TEST

/* HF AddedVocabulary semantics, hand-worked: lstrip/rstrip eat the whitespace around the token;
 * with special tokens off, a special match is skipped as a whole (a shorter non-special token
 * inside it is not tried). */
START_TEST(test_added_semantics) {
    gptc_tokenizer *tok;
    gptc_error err;
    const char *added = "[{\"id\":7,\"content\":\"<|x|>\",\"special\":true,\"lstrip\":true,"
                        "\"rstrip\":true,\"normalized\":false},{\"id\":8,\"content\":\"<|\","
                        "\"special\":false,\"normalized\":false}]";
    ck_assert_msg(load_str(mk(added, PRE, MODEL(VOCAB, MERGES), ""), &tok, &err) == GPTC_OK, "%s",
                  err.msg);
    int32_t *ids;
    size_t n;
    /* "a  <|x|>  b": the spaces on both sides go with <|x|> -> a, <|x|>, b */
    const char *t1 = "a  <|x|>  b";
    ck_assert(gptc_tokenize(tok, t1, strlen(t1), GPTC_TOKENIZE_SPECIAL, &ids, &n, &err) == 0);
    int32_t w1[] = {0, 7, 1};
    ck_assert(n == 3 && !memcmp(ids, w1, sizeof w1));
    gptc_free(ids);
    /* special on: "<|x|><|a" -> 7, 8 (non-special <|), a */
    ck_assert(gptc_tokenize(tok, "<|x|><|a", 8, GPTC_TOKENIZE_SPECIAL, &ids, &n, &err) == 0);
    int32_t w2[] = {7, 8, 0};
    ck_assert(n == 3 && !memcmp(ids, w2, sizeof w2));
    gptc_free(ids);
    /* special off: "<|x|>" is matched then skipped whole, so "<|" inside is not used; its
     * bytes have no tokens and are dropped -> only the trailing "<|a" gives 8, 0 */
    ck_assert(gptc_tokenize(tok, "<|x|><|a", 8, 0, &ids, &n, &err) == 0);
    int32_t w3[] = {8, 0};
    ck_assert_int_eq((int)n, 2);
    ck_assert(!memcmp(ids, w3, sizeof w3));
    gptc_free(ids);
    gptc_tokenizer_free(tok);
}
END_TEST

/* Loading `json` fails with `st` and a message containing `want`. */
static void expect_fail(const char *json, gptc_status st, const char *want) {
    gptc_tokenizer *tok = (gptc_tokenizer *)1;
    gptc_error err;
    gptc_status got = load_str(json, &tok, &err);
    ck_assert_msg(got == st, "status %d (want %d): %s", got, st, err.msg);
    ck_assert_ptr_null(tok);
    ck_assert_msg(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    ck_assert_msg(strstr(err.msg, "tokenizer.json: ") != NULL, "no file name in '%s'", err.msg);
}

START_TEST(test_bad_json) {
    const char *ok = mk(ADDED, PRE, MODEL(VOCAB, MERGES), "");
    char trunc[4096];
    snprintf(trunc, sizeof trunc, "%.*s", (int)(strlen(ok) / 2), ok);
    expect_fail(trunc, GPTC_ERR_FORMAT, "invalid JSON at byte offset");
    expect_fail("[1,2]", GPTC_ERR_FORMAT, "expected a JSON object");
    expect_fail(mk(ADDED, PRE, NULL, ""), GPTC_ERR_FORMAT, "model: missing");
    expect_fail(mk(ADDED, PRE, "{\"type\":\"BPE\",\"merges\":[]}", ""), GPTC_ERR_FORMAT,
                "model.vocab: missing");
    expect_fail(mk(ADDED, PRE, MODEL("[1,2]", MERGES), ""), GPTC_ERR_FORMAT,
                "model.vocab: expected an object");
    expect_fail(mk(ADDED, PRE, MODEL("{\"a\":\"zero\"}", "[]"), ""), GPTC_ERR_FORMAT,
                "model.vocab[\"a\"]: expected a non-negative integer id");
    expect_fail(mk(ADDED, PRE, MODEL(VOCAB, "{}"), ""), GPTC_ERR_FORMAT,
                "model.merges: expected an array");
    expect_fail(mk(ADDED, PRE, MODEL(VOCAB, "[\"a b\",\"abc\"]"), ""), GPTC_ERR_FORMAT,
                "model.merges[1]: expected \"left right\"");
    expect_fail(mk(ADDED, PRE, MODEL(VOCAB, "[\"a b\",\"a z\"]"), ""), GPTC_ERR_FORMAT,
                "model.merges[1]: token 'z' is not in model.vocab");
    expect_fail(mk(ADDED, PRE, MODEL(VOCAB, "[[\"b\",\"c\"]]"), ""), GPTC_ERR_FORMAT,
                "model.merges[0]: merged token 'bc' is not in model.vocab");
    expect_fail(mk(ADDED, PRE, MODEL(VOCAB, "[[\"a\"]]"), ""), GPTC_ERR_FORMAT,
                "model.merges[0]: expected a string");
    expect_fail(mk(ADDED, PRE, MODEL(VOCAB, "[7]"), ""), GPTC_ERR_FORMAT, "model.merges[0]");
    expect_fail(mk(ADDED, PRE, MODEL("{\"a\":0,\"b\":0}", "[]"), ""), GPTC_ERR_FORMAT,
                "token id defined twice");
    expect_fail(mk("{}", PRE, MODEL(VOCAB, MERGES), ""), GPTC_ERR_FORMAT,
                "added_tokens: expected an array");
    expect_fail(mk("[{\"id\":7}]", PRE, MODEL(VOCAB, MERGES), ""), GPTC_ERR_FORMAT,
                "added_tokens[0].content: expected a string");
    expect_fail(mk("[{\"id\":9,\"content\":\"<|x|>\"}]", PRE, MODEL(VOCAB, MERGES), ""),
                GPTC_ERR_UNSUPPORTED, "added_tokens[0].id: 9, but tokenizers would assign id 7");
}
END_TEST

START_TEST(test_unsupported) {
    expect_fail(mk(ADDED, "{\"type\":\"Whitespace\"}", MODEL(VOCAB, MERGES), ""),
                GPTC_ERR_UNSUPPORTED, "pre_tokenizer.type: 'Whitespace' is not supported");
    expect_fail(mk(ADDED, "null", MODEL(VOCAB, MERGES), ""), GPTC_ERR_UNSUPPORTED,
                "pre_tokenizer: null is not supported");
    expect_fail(mk(ADDED,
                   "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{"
                   "\"Regex\":\"\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":"
                   "\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}",
                   MODEL(VOCAB, MERGES), ""),
                GPTC_ERR_UNSUPPORTED,
                "pre_tokenizer.pretokenizers[0].pattern.Regex: unsupported pattern");
    expect_fail(
        mk(ADDED,
           "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{"
           "\"Regex\":\"'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}"
           "\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Removed\",\"invert\":false},"
           "{\"type\":\"ByteLevel\",\"use_regex\":false}]}",
           MODEL(VOCAB, MERGES), ""),
        GPTC_ERR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].behavior: 'Removed'");
    expect_fail(
        mk(ADDED, "{\"type\":\"ByteLevel\",\"add_prefix_space\":true}", MODEL(VOCAB, MERGES), ""),
        GPTC_ERR_UNSUPPORTED, "pre_tokenizer.add_prefix_space: true is not supported");
    expect_fail(mk(ADDED, PRE, "{\"type\":\"WordPiece\",\"vocab\":{}}", ""), GPTC_ERR_UNSUPPORTED,
                "model.type: 'WordPiece' is not supported");
    expect_fail(mk(ADDED, PRE, "{\"vocab\":" VOCAB ",\"merges\":[],\"dropout\":0.1}", ""),
                GPTC_ERR_UNSUPPORTED, "model.dropout");
    expect_fail(mk(ADDED, PRE,
                   "{\"vocab\":" VOCAB ",\"merges\":[],\"continuing_subword_prefix\":\"##\"}", ""),
                GPTC_ERR_UNSUPPORTED, "model.continuing_subword_prefix");
    expect_fail(mk("[{\"id\":7,\"content\":\"<|x|>\",\"single_word\":true}]", PRE,
                   MODEL(VOCAB, MERGES), ""),
                GPTC_ERR_UNSUPPORTED, "added_tokens[0].single_word: true is not supported");
    expect_fail(mk("[{\"id\":7,\"content\":\"<|\\u0000|>\"}]", PRE, MODEL(VOCAB, MERGES), ""),
                GPTC_ERR_UNSUPPORTED, "strings containing \\u0000 are not supported");
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", mk(ADDED, PRE, MODEL(VOCAB, MERGES), ""));
    /* replace the null normalizer / post_processor / decoder */
    char *p = strstr(buf, "\"normalizer\":null");
    char tmp[8192];
    snprintf(tmp, sizeof tmp, "%.*s\"normalizer\":{\"type\":\"NFC\"}%s", (int)(p - buf), buf,
             p + strlen("\"normalizer\":null"));
    expect_fail(tmp, GPTC_ERR_UNSUPPORTED, "normalizer: 'NFC' is not supported");
    p = strstr(buf, "\"post_processor\":null");
    snprintf(tmp, sizeof tmp, "%.*s\"post_processor\":{\"type\":\"TemplateProcessing\"}%s",
             (int)(p - buf), buf, p + strlen("\"post_processor\":null"));
    expect_fail(tmp, GPTC_ERR_UNSUPPORTED, "post_processor.type: 'TemplateProcessing'");
    p = strstr(buf, "\"truncation\":null");
    snprintf(tmp, sizeof tmp, "%.*s\"truncation\":{\"max_length\":5}%s", (int)(p - buf), buf,
             p + strlen("\"truncation\":null"));
    expect_fail(tmp, GPTC_ERR_UNSUPPORTED, "truncation: must be null");
    p = strstr(buf, "\"decoder\":{\"type\":\"ByteLevel\"}");
    snprintf(tmp, sizeof tmp, "%.*s\"decoder\":{\"type\":\"WordPiece\"}%s", (int)(p - buf), buf,
             p + strlen("\"decoder\":{\"type\":\"ByteLevel\"}"));
    expect_fail(tmp, GPTC_ERR_UNSUPPORTED, "decoder.type: 'WordPiece' is not supported");
}
END_TEST

START_TEST(test_missing_file) {
    gptc_tokenizer *tok;
    gptc_error err;
    ck_assert(gptc_tokenizer_load_json("/nonexistent/tokenizer.json", &tok, &err) == GPTC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/tokenizer.json: cannot open"));
}
END_TEST

/* GGUF tokenizer keys: a tiny vocab written with the project writer. */
static gptc_status gguf_tok(const char *model, const char *pre, const char *const *merges,
                            int n_merges, gptc_error *err) {
    gguf_writer *w = gguf_writer_new();
    static const char *const toks[] = {"a", "b", "ab", "<|x|>"};
    int32_t types[] = {1, 1, 1, 3};
    ck_assert(gguf_writer_add_str(w, "general.architecture", "gpt2", 4) == GPTC_OK);
    if (model) ck_assert(gguf_writer_add_str(w, "tokenizer.ggml.model", model, strlen(model)) == 0);
    if (pre) ck_assert(gguf_writer_add_str(w, "tokenizer.ggml.pre", pre, strlen(pre)) == 0);
    ck_assert(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4) == GPTC_OK);
    ck_assert(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VT_I32, types, 4) == 0);
    ck_assert(gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, NULL,
                                      (uint64_t)n_merges) == GPTC_OK);
    ck_assert(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 3) == GPTC_OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/tok.gguf", tu_tmpdir());
    ck_assert(gguf_writer_write(w, path, err) == GPTC_OK);
    gguf_writer_free(w);
    gptc_tokenizer *tok = NULL;
    memset(err, 0, sizeof *err);
    gptc_status st = gptc_tokenizer_load_gguf(path, &tok, err);
    if (st == GPTC_OK) {
        ck_assert_int_eq(gptc_tokenizer_eos(tok), 3);
        ck_assert(gptc_tokenizer_is_special(tok, 3));
        int32_t *ids;
        size_t n;
        ck_assert(gptc_tokenize(tok, "ab<|x|>ba", 9, GPTC_TOKENIZE_SPECIAL, &ids, &n, err) == 0);
        int32_t want[] = {2, 3, 1, 0};
        ck_assert(n == 4 && !memcmp(ids, want, sizeof want));
        gptc_free(ids);
        gptc_tokenizer_free(tok);
    }
    return st;
}

START_TEST(test_gguf_keys) {
    static const char *const good[] = {"a b"};
    gptc_error err;
    ck_assert_msg(gguf_tok("gpt2", "gpt-2", good, 1, &err) == GPTC_OK, "%s", err.msg);
    ck_assert_msg(gguf_tok("gpt2", "gpt-4o", good, 1, &err) == GPTC_OK, "%s", err.msg);
    ck_assert(gguf_tok("llama", "gpt-2", good, 1, &err) == GPTC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.ggml.model: 'llama' is not supported"));
    ck_assert(gguf_tok("gpt2", "qwen2", good, 1, &err) == GPTC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.ggml.pre: 'qwen2' is not supported"));
    ck_assert(gguf_tok(NULL, "gpt-2", good, 1, &err) == GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.ggml.model"));
    static const char *const bad1[] = {"a b", "a z"};
    ck_assert(gguf_tok("gpt2", "gpt-2", bad1, 2, &err) == GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.ggml.merges[1]"));
    static const char *const bad2[] = {"ab"};
    ck_assert(gguf_tok("gpt2", "gpt-2", bad2, 1, &err) == GPTC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.ggml.merges[0]: no space"));
}
END_TEST

/* Found by the tok_json fuzzer: a value quoted in the error message held a newline (the JSON
 * escape \n), so the message was two lines. Control characters are written as \xHH. */
START_TEST(test_error_one_line) {
    gptc_tokenizer *tok = NULL;
    gptc_error err;
    const char *json =
        "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
        "\"normalizer\":null,\"pre_tokenizer\":" PRE ",\"post_processor\":null,"
        "\"decoder\":{\"type\":\"ByteL\\nevel\\u001b[31m\"},\"model\":" MODEL(VOCAB, MERGES) "}";
    ck_assert_int_eq(load_str(json, &tok, &err), GPTC_ERR_UNSUPPORTED);
    ck_assert_ptr_null(tok);
    ck_assert_msg(!strchr(err.msg, '\n') && !strchr(err.msg, '\x1b'), "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, "decoder.type: 'ByteL\\x0Aevel\\x1B[31m'"));
}
END_TEST

/* Found by the tok_json fuzzer: one token with id 1e8 among 258 made the loader allocate
 * gigabytes (tables sized by the highest id). A vocabulary that sparse is refused. */
START_TEST(test_sparse_ids_refused) {
    gptc_tokenizer *tok = NULL;
    gptc_error err;
    ck_assert_int_eq(
        load_str(mk("[]", PRE, MODEL("{\"a\":0,\"b\":1,\"ab\":100000000}", "[\"a b\"]"), ""), &tok,
                 &err),
        GPTC_ERR_FORMAT);
    ck_assert_ptr_null(tok);
    ck_assert_ptr_nonnull(strstr(err.msg, "model.vocab: ids up to 100000000 for only 3 tokens"));
    /* a few holes are fine */
    ck_assert_int_eq(
        load_str(mk("[]", PRE, MODEL("{\"a\":0,\"b\":1,\"ab\":900}", "[\"a b\"]"), ""), &tok, &err),
        GPTC_OK);
    ck_assert_int_eq(gptc_tokenizer_n_vocab(tok), 901);
    gptc_tokenizer_free(tok);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tok_errors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tiny_ok);
    tcase_add_test(tc, test_added_semantics);
    tcase_add_test(tc, test_bad_json);
    tcase_add_test(tc, test_unsupported);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_gguf_keys);
    tcase_add_test(tc, test_error_one_line);
    tcase_add_test(tc, test_sparse_ids_refused);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
