/* test_gguf_inspect.c — `gptc inspect` end to end: a file made by the writer is described as
 * one JSON object (parsed back with cJSON, values checked against what was written) and as
 * text; a malformed file gives one "gptc: error: PATH: offset N: reason" line and exit 2; a bad
 * flag gives exit 1. Needs $(BUILD)/gptc (make test builds it first). */
#include <cJSON.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char model_path[4096];

static int stream_q8(void *user, FILE *out, uint64_t bytes) {
    (void)user;
    for (uint64_t i = 0; i < bytes; i++)
        if (fputc((int)(i % 251), out) == EOF) return -1;
    return 0;
}

/* arch "gpt-oss", alignment 64; 3 tensors: F32 [64, 3] (768 B), Q8_0 [64, 3] (6 blocks x 34 =
 * 204 B), MXFP4 [32, 2, 4] (8 blocks x 17 = 136 B). Offsets 0, 768, 1024 (padded to 64). */
static void make_model(void) {
    snprintf(model_path, sizeof model_path, "%s/model.gguf", tu_tmpdir());
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_alignment(w, 64);
    gguf_writer_add_str(w, "general.architecture", "gpt-oss", 7);
    gguf_writer_add_u32(w, "gpt-oss.block_count", 24);
    gguf_writer_add_f32(w, "gpt-oss.rope.freq_base", 150000.0f);
    gguf_writer_add_f64(w, "x.f64", 0.1);
    gguf_writer_add_bool(w, "x.bool", 1);
    gguf_writer_add_i64(w, "x.i64", -1234567890123ll);
    gguf_writer_add_str(w, "x.odd",
                        "a\xff"
                        "b\"\n\x01\xc3\xa9",
                        8);
    uint32_t many[100];
    for (int i = 0; i < 100; i++) many[i] = (uint32_t)i;
    gguf_writer_add_arr(w, "x.many", GGUF_VT_U32, many, 100);
    const char *strs[] = {"<|start|>", "", "\xe2\x82\xac"};
    gguf_writer_add_arr_str(w, "x.strs", strs, NULL, 3);
    gguf_writer_add_arr(w, "x.empty", GGUF_VT_I8, NULL, 0);
    uint8_t raw[] = {GGUF_VT_I16, 0,    0, 0, 2, 0, 0, 0, 0, 0, 0, 0, /* [[-1, 2]] of i16 */
                     0xff,        0xff, 2, 0};
    uint8_t nested[12 + sizeof raw] = {GGUF_VT_ARRAY, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    memcpy(nested + 12, raw, sizeof raw);
    gguf_writer_add_raw(w, "x.nested", GGUF_VT_ARRAY, nested, sizeof nested);
    static float f32[192];
    for (int i = 0; i < 192; i++) f32[i] = (float)i;
    int64_t ne2[2] = {64, 3}, ne3[3] = {32, 2, 4};
    static uint8_t mx[136];
    gguf_writer_add_tensor(w, "token_embd.weight", GGML_TYPE_F32, 2, ne2, f32);
    gguf_writer_add_tensor_fn(w, "blk.0.attn_q.weight", GGML_TYPE_Q8_0, 2, ne2, stream_q8, NULL);
    gguf_writer_add_tensor(w, "blk.0.ffn_up_exps.weight", GGML_TYPE_MXFP4, 3, ne3, mx);
    gptc_error err;
    ck_assert_msg(gguf_writer_write(w, model_path, &err) == GPTC_OK, "%s", err.msg);
    gguf_writer_free(w);
}

static void run_gptc(const char *a1, const char *a2, const char *a3, tu_proc *p) {
    char *argv[] = {(char *)tu_gptc(), "inspect", (char *)a1, (char *)a2, (char *)a3, NULL};
    ck_assert_int_eq(tu_run(argv, NULL, 0, 30, p), 0);
}

static const cJSON *get(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(v != NULL, "no key %s", key);
    return v;
}

START_TEST(test_json) {
    make_model();
    tu_proc p;
    run_gptc(model_path, "--json", NULL, &p);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    ck_assert_int_eq((int)p.err_len, 0);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_msg(j != NULL, "invalid JSON: %s", p.out);
    ck_assert_int_eq(get(j, "version")->valueint, 3);
    ck_assert_int_eq(get(j, "alignment")->valueint, 64);
    ck_assert_str_eq(get(j, "architecture")->valuestring, "gpt-oss");
    ck_assert(cJSON_IsTrue(get(j, "architecture_supported")));
    ck_assert_int_eq(get(j, "tensor_count")->valueint, 3);
    ck_assert_int_eq((int)get(j, "parameters")->valuedouble, 192 + 192 + 256);

    const cJSON *md = get(j, "metadata");
    ck_assert_int_eq(cJSON_GetArraySize(md), 12); /* 11 added + general.alignment */
    ck_assert_int_eq(get(md, "general.alignment")->valueint, 64);
    ck_assert_int_eq(get(md, "gpt-oss.block_count")->valueint, 24);
    ck_assert(get(md, "gpt-oss.rope.freq_base")->valuedouble == 150000.0);
    ck_assert(get(md, "x.f64")->valuedouble == 0.1);
    ck_assert(cJSON_IsTrue(get(md, "x.bool")));
    ck_assert(get(md, "x.i64")->valuedouble == -1234567890123.0);
    /* invalid UTF-8 byte -> U+FFFD; quote, newline, control char escaped */
    ck_assert_str_eq(get(md, "x.odd")->valuestring, "a\xef\xbf\xbd"
                                                    "b\"\n\x01\xc3\xa9");
    const cJSON *many = get(md, "x.many");
    ck_assert(cJSON_IsObject(many));
    ck_assert_str_eq(get(many, "type")->valuestring, "u32");
    ck_assert_int_eq(get(many, "length")->valueint, 100);
    const cJSON *strs = get(md, "x.strs");
    ck_assert_int_eq(cJSON_GetArraySize(strs), 3);
    ck_assert_str_eq(cJSON_GetArrayItem(strs, 0)->valuestring, "<|start|>");
    ck_assert_str_eq(cJSON_GetArrayItem(strs, 1)->valuestring, "");
    ck_assert_str_eq(cJSON_GetArrayItem(strs, 2)->valuestring, "\xe2\x82\xac");
    ck_assert_int_eq(cJSON_GetArraySize(get(md, "x.empty")), 0);
    const cJSON *nested = get(md, "x.nested");
    ck_assert_int_eq(cJSON_GetArraySize(nested), 1);
    const cJSON *inner = cJSON_GetArrayItem(nested, 0);
    ck_assert_int_eq(cJSON_GetArraySize(inner), 2);
    ck_assert_int_eq(cJSON_GetArrayItem(inner, 0)->valueint, -1);
    ck_assert_int_eq(cJSON_GetArrayItem(inner, 1)->valueint, 2);

    const cJSON *ts = get(j, "tensors");
    ck_assert_int_eq(cJSON_GetArraySize(ts), 3);
    const struct {
        const char *name, *type;
        int nd, shape[3], offset, bytes;
    } want[3] = {
        {"token_embd.weight", "F32", 2, {64, 3}, 0, 768},
        {"blk.0.attn_q.weight", "Q8_0", 2, {64, 3}, 768, 204},
        {"blk.0.ffn_up_exps.weight", "MXFP4", 3, {32, 2, 4}, 1024, 136},
    };
    for (int i = 0; i < 3; i++) {
        const cJSON *t = cJSON_GetArrayItem(ts, i);
        ck_assert_str_eq(get(t, "name")->valuestring, want[i].name);
        ck_assert_str_eq(get(t, "type")->valuestring, want[i].type);
        const cJSON *shape = get(t, "shape");
        ck_assert_int_eq(cJSON_GetArraySize(shape), want[i].nd);
        for (int d = 0; d < want[i].nd; d++)
            ck_assert_int_eq(cJSON_GetArrayItem(shape, d)->valueint, want[i].shape[d]);
        ck_assert_int_eq(get(t, "offset")->valueint, want[i].offset);
        ck_assert_int_eq(get(t, "bytes")->valueint, want[i].bytes);
    }
    const cJSON *bt = get(j, "bytes_by_type");
    ck_assert_int_eq(get(bt, "MXFP4")->valueint, 136);
    cJSON_Delete(j);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_json_odd_bytes) {
    /* NUL, lone continuation bytes, truncated sequences, surrogates and overlongs in keys and
     * values must still give valid JSON */
    char path[4096];
    snprintf(path, sizeof path, "%s/odd.gguf", tu_tmpdir());
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture",
                        "ll\x00"
                        "ama",
                        6);
    gguf_writer_add_str(w, "k\x80\xc3", "\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xe2\x82", 11);
    gptc_error err;
    ck_assert_int_eq(gguf_writer_write(w, path, &err), GPTC_OK);
    gguf_writer_free(w);
    tu_proc p;
    run_gptc(path, "--json", NULL, &p);
    ck_assert_int_eq(p.status, 0);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_msg(j != NULL, "invalid JSON: %s", p.out);
    ck_assert(cJSON_IsFalse(get(j, "architecture_supported")));
    ck_assert_ptr_nonnull(strstr(p.out, "\"ll\\u0000ama\""));
    const cJSON *md = get(j, "metadata");
    /* every invalid byte becomes one U+FFFD */
    const char *fffd = "\xef\xbf\xbd";
    char want[64] = "";
    for (int i = 0; i < 11; i++) strcat(want, fffd);
    char key[16];
    snprintf(key, sizeof key, "k%s%s", fffd, fffd);
    ck_assert_str_eq(get(md, key)->valuestring, want);
    cJSON_Delete(j);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_text) {
    make_model();
    tu_proc p;
    run_gptc(model_path, "--tensors", NULL, &p);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    const char *lines[] = {
        "GGUF version: 3\n",
        "alignment: 64\n",
        "architecture: gpt-oss\n",
        "metadata: 12 keys\n",
        "\"x.many\" (array[u32] of 100) = [0, 1, 2, 3, 4, 5, 6, 7, ...]\n",
        "\"x.nested\" (array[array] of 1) = [[-1, 2]]\n",
        "tensors: 3\n",
        "parameters: 640\n",
        "\"blk.0.ffn_up_exps.weight\" MXFP4 [32, 2, 4] offset 1024 bytes 136\n",
        "\"token_embd.weight\" F32 [64, 3] offset 0 bytes 768\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(strstr(p.out, lines[i]) != NULL, "missing '%s' in:\n%s", lines[i], p.out);
    tu_proc_free(&p);

    run_gptc(model_path, NULL, NULL, &p); /* without --tensors: no tensor list */
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_null(strstr(p.out, "offset 1024"));
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_errors) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bad.gguf", tu_tmpdir());
    ck_assert_int_eq(tu_write_file(path, "GGML\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24), 0);
    tu_proc p;
    run_gptc(path, "--json", NULL, &p);
    ck_assert_int_eq(p.status, 2);
    ck_assert_int_eq((int)p.out_len, 0);
    char want[4300];
    snprintf(want, sizeof want, "gptc: error: %s: offset 0: bad magic 'GGML' (not a GGUF file)\n",
             path);
    ck_assert_str_eq(p.err, want);
    tu_proc_free(&p);

    /* truncated right after the header counts: 1 KV announced, none present */
    ck_assert_int_eq(tu_write_file(path, "GGUF\3\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0", 24), 0);
    run_gptc(path, NULL, NULL, &p);
    ck_assert_int_eq(p.status, 2);
    snprintf(want, sizeof want,
             "gptc: error: %s: offset 16: metadata count 1 is too large for a file of 24 bytes\n",
             path);
    ck_assert_str_eq(p.err, want);
    tu_proc_free(&p);

    snprintf(path, sizeof path, "%s/does-not-exist.gguf", tu_tmpdir());
    run_gptc(path, NULL, NULL, &p);
    ck_assert_int_eq(p.status, 2);
    snprintf(want, sizeof want, "gptc: error: %s: cannot open: No such file or directory\n", path);
    ck_assert_str_eq(p.err, want);
    tu_proc_free(&p);

    run_gptc("x.gguf", "--bogus", NULL, &p);
    ck_assert_int_eq(p.status, 1);
    ck_assert_str_eq(p.err, "gptc: error: inspect: unknown option '--bogus' (see gptc inspect "
                            "--help)\n");
    ck_assert_int_eq((int)p.out_len, 0);
    tu_proc_free(&p);

    run_gptc(NULL, NULL, NULL, &p);
    ck_assert_int_eq(p.status, 1);
    ck_assert_ptr_nonnull(strstr(p.err, "gptc: error: inspect: no file given"));
    tu_proc_free(&p);

    run_gptc("a.gguf", "b.gguf", NULL, &p);
    ck_assert_int_eq(p.status, 1);
    ck_assert_ptr_nonnull(strstr(p.err, "more than one file"));
    tu_proc_free(&p);

    run_gptc("--help", NULL, NULL, &p);
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_nonnull(strstr(p.out, "usage: gptc inspect FILE.gguf [--tensors] [--json]"));
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gguf_inspect");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_json_odd_bytes);
    tcase_add_test(tc, test_text);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
