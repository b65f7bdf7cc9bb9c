/* test_tok_vectors.c — every record of test/data/tokenizer/{gpt2,gpt-oss}.jsonl (ids computed by
 * Hugging Face tokenizers 0.22.2, see the README next to the data): `ids` with special tokens
 * recognised, `ids_plain` without, decode(ids) == decode(ids_plain) == text, and
 * decode(ids, skip_special) == decoded_skip_special. Once through tokenizer.json and once through
 * a vocab-only GGUF written with gt_tokenizer_write_gguf_keys (the GGUF-embedded path).
 * The gpt-oss tokenizer.json is .cache/gpt-oss/tokenizer.json (scripts/setup.sh fetches it). */
#include <check.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gptc.h"
#include "test/util/testutil.h"
#include "tokenizer/tokenizer.h"
#include "test/util/tucheck.h"

#define GPT2_JSON "test/data/tokenizer/gpt2/tokenizer.json"
#define GPTOSS_JSON ".cache/gpt-oss/tokenizer.json"

typedef struct rec {
    char name[64];
    char *text;
    size_t text_len;
    char *skip; /* decoded_skip_special or NULL */
    size_t skip_len;
    int32_t *ids, *ids_plain;
    size_t n_ids, n_plain;
} rec;

static void put_utf8(char *o, size_t *n, unsigned cp) {
    if (cp < 0x80)
        o[(*n)++] = (char)cp;
    else if (cp < 0x800) {
        o[(*n)++] = (char)(0xC0 | (cp >> 6));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*n)++] = (char)(0xE0 | (cp >> 12));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*n)++] = (char)(0xF0 | (cp >> 18));
        o[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* The JSON string value of "key" in one record line, decoded with its exact length (the texts
 * contain U+0000, which cJSON would cut). NULL when absent. */
static char *str_field(const char *line, const char *key, size_t *len) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (!p) return NULL;
    p += strlen(pat);
    char *o = malloc(strlen(p) + 1);
    size_t n = 0;
    while (*p && *p != '"') {
        if (*p != '\\') {
            o[n++] = *p++;
            continue;
        }
        p++;
        char e = *p++;
        switch (e) {
        case 'n':
            o[n++] = '\n';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'u': {
            unsigned cp = (unsigned)strtoul((char[]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = (unsigned)strtoul((char[]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(o, &n, cp);
            break;
        }
        default:
            o[n++] = e;
            break;
        }
    }
    o[n] = 0;
    *len = n;
    return o;
}

static int32_t *ids_field(const cJSON *obj, const char *key, size_t *n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsArray(a), "record without %s", key);
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) ids[i++] = (int32_t)x->valuedouble;
    return ids;
}

static rec *load_records(const char *path, size_t *n_out) {
    size_t len;
    char *data = tu_read_file(path, &len);
    ck_assert_msg(data != NULL, "cannot read %s", path);
    size_t cap = 512, n = 0;
    rec *r = calloc(cap, sizeof *r);
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(o != NULL, "bad JSON line in %s", path);
        ck_assert(n < cap);
        rec *x = &r[n++];
        snprintf(x->name, sizeof x->name, "%s",
                 cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring);
        x->text = str_field(line, "text", &x->text_len);
        ck_assert(x->text != NULL);
        x->skip = str_field(line, "decoded_skip_special", &x->skip_len);
        x->ids = ids_field(o, "ids", &x->n_ids);
        x->ids_plain = ids_field(o, "ids_plain", &x->n_plain);
        cJSON_Delete(o);
    }
    free(data);
    *n_out = n;
    return r;
}

static void free_records(rec *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(r[i].text);
        free(r[i].skip);
        free(r[i].ids);
        free(r[i].ids_plain);
    }
    free(r);
}

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* Runs all records; returns the number of failures (printing the first few). */
static int run_vectors(const gptc_tokenizer *tok, const char *data, const char *label) {
    size_t n;
    rec *r = load_records(data, &n);
    ck_assert_int_eq((int)n, 372);
    int fails = 0, ok_special = 0, ok_plain = 0, ok_dec = 0, n_skip = 0, ok_skip = 0;
    for (size_t i = 0; i < n; i++) {
        rec *x = &r[i];
        gptc_error err = {0};
        int32_t *ids;
        size_t nid;
        for (int mode = 0; mode < 2; mode++) {
            unsigned fl = mode == 0 ? GPTC_TOKENIZE_SPECIAL : 0;
            gptc_status st = gptc_tokenize(tok, x->text, x->text_len, fl, &ids, &nid, &err);
            ck_assert_msg(st == GPTC_OK, "%s %s: %s", label, x->name, err.msg);
            int good = mode == 0 ? same_ids(ids, nid, x->ids, x->n_ids)
                                 : same_ids(ids, nid, x->ids_plain, x->n_plain);
            if (good) {
                if (mode == 0)
                    ok_special++;
                else
                    ok_plain++;
            } else if (fails++ < 5) {
                fprintf(stderr, "%s %s (%s): got", label, x->name, mode ? "plain" : "special");
                for (size_t k = 0; k < nid && k < 40; k++) fprintf(stderr, " %d", ids[k]);
                fprintf(stderr, "\n");
            }
            gptc_free(ids);
        }
        /* decode(ids) and decode(ids_plain) give the text back */
        int dec_ok = 1;
        for (int mode = 0; mode < 2; mode++) {
            char *txt;
            size_t tl;
            gptc_status st = gptc_detokenize(tok, mode ? x->ids_plain : x->ids,
                                             mode ? x->n_plain : x->n_ids, 0, &txt, &tl, &err);
            ck_assert_msg(st == GPTC_OK, "%s %s: %s", label, x->name, err.msg);
            if (tl != x->text_len || memcmp(txt, x->text, tl)) dec_ok = 0;
            gptc_free(txt);
        }
        if (dec_ok)
            ok_dec++;
        else if (fails++ < 5)
            fprintf(stderr, "%s %s: decode differs\n", label, x->name);
        if (x->skip) {
            n_skip++;
            char *txt;
            size_t tl;
            ck_assert(gptc_detokenize(tok, x->ids, x->n_ids, 1, &txt, &tl, &err) == GPTC_OK);
            if (tl == x->skip_len && !memcmp(txt, x->skip, tl))
                ok_skip++;
            else if (fails++ < 5)
                fprintf(stderr, "%s %s: skip_special decode differs\n", label, x->name);
            gptc_free(txt);
        }
    }
    printf("%s: ids %d/%zu, ids_plain %d/%zu, decode %d/%zu, decode skip_special %d/%d\n", label,
           ok_special, n, ok_plain, n, ok_dec, n, ok_skip, n_skip);
    free_records(r, n);
    return fails;
}

static gptc_tokenizer *load_json(const char *path) {
    gptc_tokenizer *tok = NULL;
    gptc_error err = {0};
    gptc_status st = gptc_tokenizer_load_json(path, &tok, &err);
    ck_assert_msg(st == GPTC_OK, "load %s: %s", path, err.msg);
    return tok;
}

/* tokenizer.json -> vocab-only GGUF (writer + gt_tokenizer_write_gguf_keys) -> load. */
static gptc_tokenizer *via_gguf(const char *json, const char *name) {
    gptc_tokenizer *src = load_json(json);
    gguf_writer *w = gguf_writer_new();
    ck_assert_ptr_nonnull(w);
    gptc_error err = {0};
    ck_assert(gguf_writer_add_str(w, "general.architecture", "gpt2", 4) == GPTC_OK);
    gptc_status st = gt_tokenizer_write_gguf_keys(src, w, &err);
    ck_assert_msg(st == GPTC_OK, "write keys: %s", err.msg);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", tu_tmpdir(), name);
    st = gguf_writer_write(w, path, &err);
    ck_assert_msg(st == GPTC_OK, "write %s: %s", path, err.msg);
    gguf_writer_free(w);
    gptc_tokenizer *tok = NULL;
    st = gptc_tokenizer_load_gguf(path, &tok, &err);
    ck_assert_msg(st == GPTC_OK, "load %s: %s", path, err.msg);
    /* same vocabulary size and special ids as the source */
    ck_assert_int_eq(gptc_tokenizer_n_vocab(tok), gptc_tokenizer_n_vocab(src));
    ck_assert_int_eq(gptc_tokenizer_bos(tok), gptc_tokenizer_bos(src));
    ck_assert_int_eq(gptc_tokenizer_eos(tok), gptc_tokenizer_eos(src));
    ck_assert_int_eq(gptc_tokenizer_pad(tok), gptc_tokenizer_pad(src));
    gptc_tokenizer_free(src);
    return tok;
}

START_TEST(test_gpt2_json) {
    gptc_tokenizer *tok = load_json(GPT2_JSON);
    ck_assert_int_eq(gptc_tokenizer_n_vocab(tok), 50257);
    ck_assert_int_eq(gptc_tokenizer_find(tok, "<|endoftext|>"), 50256);
    ck_assert_int_eq(gptc_tokenizer_find(tok, "\xC4\xA0the"), 262); /* "Ġthe" */
    ck_assert(gptc_tokenizer_is_special(tok, 50256));
    ck_assert(!gptc_tokenizer_is_special(tok, 262));
    ck_assert_int_eq(run_vectors(tok, "test/data/tokenizer/gpt2.jsonl", "gpt2 tokenizer.json"), 0);
    gptc_tokenizer_free(tok);
}
END_TEST

START_TEST(test_gptoss_json) {
    gptc_tokenizer *tok = load_json(GPTOSS_JSON);
    ck_assert_int_eq(gptc_tokenizer_n_vocab(tok), 200019);
    ck_assert_int_eq(gptc_tokenizer_find(tok, "<|start|>"), 200006);
    ck_assert_int_eq(gptc_tokenizer_bos(tok), 199998);
    ck_assert_int_eq(gptc_tokenizer_eos(tok), 200002);
    ck_assert_int_eq(gptc_tokenizer_pad(tok), 199999);
    ck_assert_int_eq(
        run_vectors(tok, "test/data/tokenizer/gpt-oss.jsonl", "gpt-oss tokenizer.json"), 0);
    gptc_tokenizer_free(tok);
}
END_TEST

START_TEST(test_gpt2_gguf) {
    gptc_tokenizer *tok = via_gguf(GPT2_JSON, "gpt2");
    ck_assert_int_eq(run_vectors(tok, "test/data/tokenizer/gpt2.jsonl", "gpt2 GGUF vocab"), 0);
    gptc_tokenizer_free(tok);
}
END_TEST

START_TEST(test_gptoss_gguf) {
    gptc_tokenizer *tok = via_gguf(GPTOSS_JSON, "gpt-oss");
    ck_assert_int_eq(run_vectors(tok, "test/data/tokenizer/gpt-oss.jsonl", "gpt-oss GGUF vocab"),
                     0);
    gptc_tokenizer_free(tok);
}
END_TEST

/* Added-token options on top of GPT-2: lstrip+rstrip special "<mask>", an overlapping
 * non-special "<m", a normalized rstrip "[R]". Expected ids: HF tokenizers 0.22.2 (the same
 * @anush008/tokenizers binding as the data files) on this exact configuration. */
START_TEST(test_added_options_vs_hf) {
    size_t len;
    char *json = tu_read_file(GPT2_JSON, &len);
    ck_assert_ptr_nonnull(json);
    const char *key = "\"added_tokens\":[";
    char *p = strstr(json, key);
    ck_assert_ptr_nonnull(p);
    char *close = strchr(p, ']');
    const char *extra =
        ",{\"id\":50257,\"content\":\"<mask>\",\"single_word\":false,\"lstrip\":true,"
        "\"rstrip\":true,\"normalized\":false,\"special\":true},"
        "{\"id\":50258,\"content\":\"<m\",\"single_word\":false,\"lstrip\":false,"
        "\"rstrip\":false,\"normalized\":false,\"special\":false},"
        "{\"id\":50259,\"content\":\"[R]\",\"single_word\":false,\"lstrip\":false,"
        "\"rstrip\":true,\"normalized\":true,\"special\":false}";
    size_t head = (size_t)(close - json), el = strlen(extra);
    char *out = malloc(len + el + 1);
    memcpy(out, json, head);
    memcpy(out + head, extra, el);
    memcpy(out + head + el, close, len - head + 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/gpt2-added.json", tu_tmpdir());
    ck_assert(tu_write_file(path, out, len + el) == 0);
    free(out);
    free(json);
    gptc_tokenizer *tok = load_json(path);
    static const struct {
        const char *text;
        int n;
        int32_t ids[6];
    } cases[] = {
        {"a <mask> b", 3, {64, 50257, 65}},
        {"a  \t<mask>\n\n b", 3, {64, 50257, 65}},
        {"<mask>", 1, {50257}},
        {"  <mask>  ", 1, {50257}},
        {"x<mask><mask> y", 4, {87, 50257, 50257, 88}},
        {"<m <mask>", 2, {50258, 50257}},
        {"a\xE3\x80\x80<mask>\xE2\x80\xA8"
         "b",
         3,
         {64, 50257, 65}},
        {"[R]  z <mask>[R] \xC2\xA0q", 5, {50259, 89, 50257, 50259, 80}},
        {"<|endoftext|> <mask> <|endoftext|>", 3, {50256, 50257, 50256}},
        {"<ma<mask>sk>", 5, {50258, 64, 50257, 8135, 29}},
        {" [R]\t\t<mask>  [R]", 4, {220, 50259, 50257, 50259}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *ids;
        size_t n;
        gptc_error err;
        ck_assert(gptc_tokenize(tok, cases[i].text, strlen(cases[i].text), GPTC_TOKENIZE_SPECIAL,
                                &ids, &n, &err) == GPTC_OK);
        ck_assert_msg(same_ids(ids, n, cases[i].ids, (size_t)cases[i].n), "case %zu", i);
        gptc_free(ids);
    }
    gptc_tokenizer_free(tok);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tok_vectors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_gpt2_json);
    tcase_add_test(tc, test_gptoss_json);
    tcase_add_test(tc, test_gpt2_gguf);
    tcase_add_test(tc, test_gptoss_gguf);
    tcase_add_test(tc, test_added_options_vs_hf);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
