/* test_tok_cli.c — `gptc tokenize` / `gptc detokenize` end to end (GPT-2 tokenizer.json and a
 * vocab-only GGUF): expected ids from the HF reference data (docs/tokenizer.md examples),
 * round trip, --json, --jsonl (incl. U+0000 and a bad line), invalid UTF-8 offset, bad ids,
 * exit codes (0 done, 1 usage/bad input, 2 load error). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gptc.h"
#include "test/util/testutil.h"
#include "tokenizer/tokenizer.h"
#include "test/util/tucheck.h"

#define GPT2_JSON "test/data/tokenizer/gpt2/tokenizer.json"

static tu_proc run(const char *sub, const char *flag, const char *file, const char *opt1,
                   const char *opt2, const char *in, size_t in_len) {
    char *argv[8];
    int k = 0;
    argv[k++] = (char *)tu_gptc();
    argv[k++] = (char *)sub;
    if (flag) argv[k++] = (char *)flag;
    if (file) argv[k++] = (char *)file;
    if (opt1) argv[k++] = (char *)opt1;
    if (opt2) argv[k++] = (char *)opt2;
    argv[k] = NULL;
    tu_proc p;
    ck_assert_int_eq(tu_run(argv, in, in_len, 60, &p), 0);
    return p;
}
#define TOK(o1, o2, in) run("tokenize", "--tokenizer", GPT2_JSON, o1, o2, in, strlen(in))
#define DETOK(in) run("detokenize", "--tokenizer", GPT2_JSON, NULL, NULL, in, strlen(in))

START_TEST(test_tokenize_basic) {
    tu_proc p = TOK(NULL, NULL, "hello <|endoftext|> world");
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, "31373 220 50256 995\n");
    ck_assert_int_eq((int)p.err_len, 0);
    tu_proc_free(&p);
    p = TOK("--no-special", "--json", "hello <|endoftext|> world");
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, "[31373,1279,91,437,1659,5239,91,29,995]\n");
    tu_proc_free(&p);
    p = TOK("--json", NULL, "");
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, "[]\n");
    tu_proc_free(&p);
    /* NUL is an ordinary byte: "\u0000" is GPT-2 [188] */
    p = run("tokenize", "--tokenizer", GPT2_JSON, NULL, NULL, "\0", 1);
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, "188\n");
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_detokenize_roundtrip) {
    tu_proc p = DETOK("31373 220 50256 995\n");
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, "hello <|endoftext|> world");
    tu_proc_free(&p);
    p = run("detokenize", "--tokenizer", GPT2_JSON, "--skip-special", NULL, "31373 220 50256 995",
            19);
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, "hello  world");
    tu_proc_free(&p);
    /* text -> ids -> text through the two commands */
    const char *text = "Caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80\n\tx  <|endoftext|>!";
    tu_proc a = TOK(NULL, NULL, text);
    ck_assert_int_eq(a.status, 0);
    tu_proc b = DETOK(a.out);
    ck_assert_int_eq(b.status, 0);
    ck_assert_str_eq(b.out, text);
    tu_proc_free(&a);
    tu_proc_free(&b);
    /* a lone lead byte decodes to U+FFFD, so stdout stays valid UTF-8: GPT-2 id 160 is "ä",
     * byte 0xE4 (bytes_to_unicode: 94 printable ASCII + 12 (A1..AC) + 0xE4 - 0xAE = 160) */
    p = DETOK("160");
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, "\xEF\xBF\xBD");
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_jsonl) {
    const char *in = "{\"id\":1,\"text\":\"hello <|endoftext|> world\"}\n"
                     "{\"text\":\"\\u0000\",\"x\":[1,{\"y\":null}]}\n"
                     "{\"text\":\"\"}\n"
                     "{\"text\": 5}\n"
                     "{\"text\":\"never reached\"}\n";
    tu_proc p = TOK("--jsonl", NULL, in);
    ck_assert_int_eq(p.status, 1);
    ck_assert_str_eq(p.out, "[31373,220,50256,995]\n[188]\n[]\n");
    ck_assert_str_eq(p.err, "gptc: error: stdin line 4: \"text\" is not a string\n");
    tu_proc_free(&p);
    p = TOK("--jsonl", NULL, "{\"text\":\"a\"}\n{\"text\":\"b\"\n");
    ck_assert_int_eq(p.status, 1);
    ck_assert_ptr_nonnull(strstr(p.err, "gptc: error: stdin line 2: "));
    tu_proc_free(&p);
    p = TOK("--jsonl", NULL, "{\"text\":\"\\ud800\"}\n");
    ck_assert_int_eq(p.status, 1);
    ck_assert_str_eq(p.err, "gptc: error: stdin line 1: lone surrogate in \\u escape\n");
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_bad_input) {
    tu_proc p = TOK(NULL, NULL,
                    "ab\xFF"
                    "c");
    ck_assert_int_eq(p.status, 1);
    ck_assert_str_eq(p.err, "gptc: error: stdin: invalid UTF-8 at byte offset 2\n");
    ck_assert_int_eq((int)p.out_len, 0);
    tu_proc_free(&p);
    p = DETOK("31373 50257\n");
    ck_assert_int_eq(p.status, 1);
    ck_assert_str_eq(p.err, "gptc: error: stdin: token id 50257 is out of range (the vocabulary "
                            "has 50257 ids)\n");
    ck_assert_int_eq((int)p.out_len, 0);
    tu_proc_free(&p);
    p = DETOK("12 x3\n");
    ck_assert_int_eq(p.status, 1);
    ck_assert_str_eq(p.err, "gptc: error: stdin: 'x3' is not a token id (byte offset 3)\n");
    tu_proc_free(&p);
    p = DETOK("-1");
    ck_assert_int_eq(p.status, 1);
    tu_proc_free(&p);
    p = DETOK("99999999999999999999999");
    ck_assert_int_eq(p.status, 1);
    ck_assert_ptr_nonnull(strstr(p.err, "out of range"));
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_usage_and_load_errors) {
    tu_proc p = run("tokenize", "--help", NULL, NULL, NULL, NULL, 0);
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_nonnull(strstr(p.out, "usage: gptc tokenize"));
    tu_proc_free(&p);
    p = run("detokenize", "--help", NULL, NULL, NULL, NULL, 0);
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_nonnull(strstr(p.out, "usage: gptc detokenize"));
    tu_proc_free(&p);
    p = run("tokenize", NULL, NULL, NULL, NULL, "x", 1);
    ck_assert_int_eq(p.status, 1);
    ck_assert_ptr_nonnull(strstr(p.err, "gptc: error: tokenize: give exactly one of"));
    tu_proc_free(&p);
    p = run("tokenize", "--tokenizer", GPT2_JSON, "--frobnicate", NULL, "x", 1);
    ck_assert_int_eq(p.status, 1);
    ck_assert_str_eq(p.err, "gptc: error: tokenize: unknown option '--frobnicate' (see gptc "
                            "tokenize --help)\n");
    tu_proc_free(&p);
    p = run("tokenize", "--tokenizer", "/nonexistent.json", NULL, NULL, "x", 1);
    ck_assert_int_eq(p.status, 2);
    ck_assert_ptr_nonnull(strstr(p.err, "gptc: error: /nonexistent.json: cannot open"));
    tu_proc_free(&p);
    p = run("detokenize", "-m", "/nonexistent.gguf", NULL, NULL, "1", 1);
    ck_assert_int_eq(p.status, 2);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_gguf_model_flag) {
    gptc_tokenizer *src;
    gptc_error err;
    ck_assert(gptc_tokenizer_load_json(GPT2_JSON, &src, &err) == GPTC_OK);
    gguf_writer *w = gguf_writer_new();
    ck_assert(gguf_writer_add_str(w, "general.architecture", "gpt2", 4) == GPTC_OK);
    ck_assert(gt_tokenizer_write_gguf_keys(src, w, &err) == GPTC_OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.gguf", tu_tmpdir());
    ck_assert(gguf_writer_write(w, path, &err) == GPTC_OK);
    gguf_writer_free(w);
    gptc_tokenizer_free(src);
    const char *in = "hello <|endoftext|> world";
    tu_proc p = run("tokenize", "-m", path, NULL, NULL, in, strlen(in));
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, "31373 220 50256 995\n");
    tu_proc_free(&p);
    p = run("detokenize", "-m", path, NULL, NULL, "31373 220 50256 995", 19);
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, in);
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tok_cli");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tokenize_basic);
    tcase_add_test(tc, test_detokenize_roundtrip);
    tcase_add_test(tc, test_jsonl);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_usage_and_load_errors);
    tcase_add_test(tc, test_gguf_model_flag);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
