/* test_tok_decode.c — decoding: lossy UTF-8 exactly like Rust's String::from_utf8_lossy (the
 * Unicode "maximal subpart" rule, hand-worked examples below), and the streaming decoder:
 * random id sequences (seeded) including byte tokens that form invalid UTF-8 -> the streamed
 * output equals the batch decode and every chunk is valid UTF-8. GPT-2 tokenizer.json. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

#define GPT2_JSON "test/data/tokenizer/gpt2/tokenizer.json"

static gptc_tokenizer *tok;
static int32_t byte_tok[256]; /* id of the single-byte token of each byte */

/* GPT-2 bytes_to_unicode, written out independently of the library. */
static unsigned byte_char(unsigned b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) n++;
    return 256 + n;
}

static void setup(void) {
    gptc_error err = {0};
    ck_assert_msg(gptc_tokenizer_load_json(GPT2_JSON, &tok, &err) == GPTC_OK, "%s", err.msg);
    for (unsigned b = 0; b < 256; b++) {
        unsigned cp = byte_char(b);
        char s[4] = {0};
        if (cp < 0x80)
            s[0] = (char)cp;
        else
            s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F));
        byte_tok[b] = gptc_tokenizer_find(tok, s);
        ck_assert_msg(byte_tok[b] >= 0, "no token for byte %u", b);
    }
}

static void teardown(void) {
    gptc_tokenizer_free(tok);
}

static char *decode_bytes(const char *bytes, size_t n, size_t *len) {
    int32_t ids[64];
    for (size_t i = 0; i < n; i++) ids[i] = byte_tok[(unsigned char)bytes[i]];
    char *out;
    gptc_error err;
    ck_assert(gptc_detokenize(tok, ids, n, 0, &out, len, &err) == GPTC_OK);
    return out;
}

#define R "\xEF\xBF\xBD" /* U+FFFD */
START_TEST(test_lossy_examples) {
    /* Unicode Standard §3.9 example (U+FFFD substitution of maximal subparts), as Rust does */
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } cases[] = {
        {"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", 13, "a" R R R "b" R "c" R R "d"},
        {"\xED\xA0\x80", 3, R R R},       /* surrogate: ED then A0 is out of 80..9F */
        {"\xC0\x80", 2, R R},             /* C0 is never a lead byte */
        {"\xE0\x80\x80", 3, R R R},       /* overlong: E0 needs A0..BF */
        {"\xF4\x90\x80\x80", 4, R R R R}, /* above U+10FFFF */
        {"\xF0\x9F\x98", 3, R},           /* truncated 4-byte sequence at the end: one */
        {"\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80"},
        {"\xE2\x82"
         "a",
         3, R "a"},
        {"\xFF\xFE", 2, R R},
        {"\xC3\xA9\x80", 3, "\xC3\xA9" R},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *out = decode_bytes(cases[i].in, cases[i].n, &len);
        ck_assert_msg(len == strlen(cases[i].want) && !memcmp(out, cases[i].want, len), "case %zu",
                      i);
        gptc_free(out);
    }
}
END_TEST

START_TEST(test_stream_examples) {
    gptc_decoder *d;
    gptc_error err;
    ck_assert(gptc_decoder_new(tok, 0, &d, &err) == GPTC_OK);
    const char *o;
    size_t n;
    /* 😀 = F0 9F 98 80: nothing until the last byte */
    const unsigned char emoji[] = {0xF0, 0x9F, 0x98, 0x80};
    for (int i = 0; i < 3; i++) {
        ck_assert(gptc_decoder_push(d, byte_tok[emoji[i]], &o, &n, &err) == GPTC_OK);
        ck_assert_int_eq((int)n, 0);
    }
    ck_assert(gptc_decoder_push(d, byte_tok[emoji[3]], &o, &n, &err) == GPTC_OK);
    ck_assert(n == 4 && !memcmp(o, emoji, 4));
    /* E2 then 'a': the E2 can never complete -> U+FFFD as soon as 'a' arrives */
    ck_assert(gptc_decoder_push(d, byte_tok[0xE2], &o, &n, &err) == GPTC_OK);
    ck_assert_int_eq((int)n, 0);
    ck_assert(gptc_decoder_push(d, byte_tok['a'], &o, &n, &err) == GPTC_OK);
    ck_assert(n == 4 && !memcmp(o, R "a", 4));
    /* a held tail is flushed as one U+FFFD */
    ck_assert(gptc_decoder_push(d, byte_tok[0xE2], &o, &n, &err) == GPTC_OK);
    ck_assert(gptc_decoder_push(d, byte_tok[0x82], &o, &n, &err) == GPTC_OK);
    ck_assert_int_eq((int)n, 0);
    gptc_decoder_flush(d, &o, &n);
    ck_assert(n == 3 && !memcmp(o, R, 3));
    gptc_decoder_flush(d, &o, &n);
    ck_assert_int_eq((int)n, 0);
    /* special tokens: literal text, or nothing with skip_special */
    ck_assert(gptc_decoder_push(d, 50256, &o, &n, &err) == GPTC_OK);
    ck_assert(n == 13 && !memcmp(o, "<|endoftext|>", 13));
    /* out of range */
    ck_assert(gptc_decoder_push(d, 50257, &o, &n, &err) == GPTC_ERR_INVALID_ARG);
    ck_assert(gptc_decoder_push(d, -1, &o, &n, &err) == GPTC_ERR_INVALID_ARG);
    gptc_decoder_free(d);
    ck_assert(gptc_decoder_new(tok, 1, &d, &err) == GPTC_OK);
    ck_assert(gptc_decoder_push(d, 50256, &o, &n, &err) == GPTC_OK);
    ck_assert_int_eq((int)n, 0);
    gptc_decoder_free(d);
}
END_TEST

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

START_TEST(test_stream_equals_batch) {
    int32_t nv = gptc_tokenizer_n_vocab(tok);
    char *acc = malloc(1 << 16);
    int32_t ids[96];
    for (int iter = 0; iter < 3000; iter++) {
        int n = 1 + (int)(rnd() % 96);
        for (int i = 0; i < n; i++) {
            uint32_t k = rnd() % 100;
            if (k < 45)
                ids[i] = byte_tok[0x80 + rnd() % 128]; /* lead/continuation/invalid bytes */
            else if (k < 55)
                ids[i] = byte_tok[rnd() % 128];
            else if (k < 60)
                ids[i] = 50256;
            else
                ids[i] = (int32_t)(rnd() % (uint32_t)nv);
        }
        for (int skip = 0; skip < 2; skip++) {
            char *batch;
            size_t blen;
            gptc_error err;
            ck_assert(gptc_detokenize(tok, ids, (size_t)n, skip, &batch, &blen, &err) == GPTC_OK);
            ck_assert(tu_utf8_valid((unsigned char *)batch, blen));
            gptc_decoder *d;
            ck_assert(gptc_decoder_new(tok, skip, &d, &err) == GPTC_OK);
            size_t alen = 0;
            for (int i = 0; i < n; i++) {
                const char *o;
                size_t ol;
                ck_assert(gptc_decoder_push(d, ids[i], &o, &ol, &err) == GPTC_OK);
                ck_assert_msg(tu_utf8_valid((const unsigned char *)o, ol), "iter %d chunk %d", iter,
                              i);
                memcpy(acc + alen, o, ol);
                alen += ol;
            }
            const char *o;
            size_t ol;
            gptc_decoder_flush(d, &o, &ol);
            ck_assert(tu_utf8_valid((const unsigned char *)o, ol));
            memcpy(acc + alen, o, ol);
            alen += ol;
            ck_assert_msg(alen == blen && !memcmp(acc, batch, blen), "iter %d skip %d", iter, skip);
            /* reset makes it reusable */
            gptc_decoder_reset(d);
            gptc_decoder_free(d);
            gptc_free(batch);
        }
    }
    free(acc);
}
END_TEST

START_TEST(test_piece_and_bad_ids) {
    const char *p;
    size_t n;
    ck_assert(gptc_tokenizer_piece(tok, 262, &p, &n) == GPTC_OK); /* "Ġthe" */
    ck_assert(n == 4 && !memcmp(p, " the", 4));
    ck_assert(gptc_tokenizer_piece(tok, 50257, &p, &n) == GPTC_ERR_INVALID_ARG);
    int32_t bad[] = {31373, 50257};
    char *out;
    size_t len;
    gptc_error err;
    ck_assert(gptc_detokenize(tok, bad, 2, 0, &out, &len, &err) == GPTC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "50257"));
    ck_assert(gptc_detokenize(tok, NULL, 0, 0, &out, &len, &err) == GPTC_OK);
    ck_assert_int_eq((int)len, 0);
    gptc_free(out);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tok_decode");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lossy_examples);
    tcase_add_test(tc, test_stream_examples);
    tcase_add_test(tc, test_stream_equals_batch);
    tcase_add_test(tc, test_piece_and_bad_ids);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
