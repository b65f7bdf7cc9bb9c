/* test_gen_120b.c — the generator's gpt-oss-120b preset (issue 15): its tensor table is the
 * ggml-org layout (3 + 36 x 19 tensors; the byte total computed here from the shapes and the
 * block sizes of Q8_0, MXFP4 and F32, and equal to docs/gpt-oss.md's 63,374,323,968); a
 * reduced-depth, small-width variant with the preset's 128 experts (top 4) is a model gptc runs
 * on the CPU, unsplit and split, with the same text; nothing here writes more than a few MB. */
#include <cJSON.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static void run(tu_proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run(tu_proc *p, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 300, p), 0);
}

/* Q8_0: 34 bytes per 32 values; MXFP4: 17 per 32; F32: 4 per value. */
static uint64_t q8(uint64_t n) {
    return n / 32 * 34;
}
static uint64_t mx(uint64_t n) {
    return n / 32 * 17;
}
static uint64_t f32(uint64_t n) {
    return n * 4;
}

START_TEST(test_full_preset_table) {
    tu_proc p;
    run(&p, "%s --preset gpt-oss-120b --dry-run", tu_tool("gen-model"));
    ck_assert_msg(p.status == 0, "%s", p.err);
    const uint64_t d = 2880, V = 201088, q = 64 * 64, kv = 8 * 64, ff = 2880, E = 128, L = 36;
    uint64_t global = q8(d * V) * 2 + f32(d);
    uint64_t layer = f32(d) * 2 + q8(d * q) + f32(q) + 2 * (q8(d * kv) + f32(kv)) + q8(q * d) +
                     f32(d) + f32(64) + f32(d * E) + f32(E) + 3 * mx(d * ff * E) + 2 * f32(ff * E) +
                     f32(d * E);
    uint64_t total = global + L * layer;
    ck_assert_uint_eq(total, 63374323968ull); /* docs/gpt-oss.md §7.1 */
    char want[128];
    snprintf(want, sizeof want, "tensors: %llu, tensor data: %llu bytes, vocab: 201088",
             (unsigned long long)(3 + L * 19), (unsigned long long)total);
    ck_assert_msg(strstr(p.out, want), "%s", p.out);
    /* the expert tensors: [2880, 2880, 128] MXFP4; the router [2880, 128] F32 */
    ck_assert_ptr_nonnull(strstr(p.out, "blk.35.ffn_down_exps.weight"));
    ck_assert_ptr_nonnull(strstr(p.out, "MXFP4  [2880, 2880, 128]"));
    ck_assert_ptr_nonnull(strstr(p.out, "blk.0.ffn_gate_inp.weight"));
    ck_assert_ptr_nonnull(strstr(p.out, "F32    [2880, 128, 1]"));
    ck_assert_ptr_null(strstr(p.out, "blk.36."));
    tu_proc_free(&p);
}
END_TEST

/* --layers 2 with small widths: 128 experts, top 4, as the preset says; generates on the CPU. */
START_TEST(test_reduced_runs) {
    char one[600], stem[600], first[700];
    snprintf(one, sizeof one, "%s/r120.gguf", tu_tmpdir());
    snprintf(stem, sizeof stem, "%s/r120-split", tu_tmpdir());
    snprintf(first, sizeof first, "%s-00001-of-00003.gguf", stem);
    const char *args = "--preset gpt-oss-120b --layers 2 --embd 256 --ff 256 --heads 8 "
                       "--kv-heads 2 --vocab 2000 --seed 5";
    tu_proc p, s;
    run(&p, "%s %s --out %s", tu_tool("gen-model"), args, one);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    run(&p, "%s %s --split-max-size 12M --out %s.gguf", tu_tool("gen-model"), args, stem);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_msg(strstr(p.out, first), "%s", p.out); /* three shards */
    tu_proc_free(&p);
    run(&p, "%s inspect %s --json", tu_gptc(), first);
    ck_assert_msg(p.status == 0, "%s", p.err);
    cJSON *j = cJSON_Parse(p.out), *md = cJSON_GetObjectItem(j, "metadata");
    ck_assert_int_eq(cJSON_GetObjectItem(md, "gpt-oss.expert_count")->valuedouble, 128);
    ck_assert_int_eq(cJSON_GetObjectItem(md, "gpt-oss.expert_used_count")->valuedouble, 4);
    ck_assert_int_eq(cJSON_GetObjectItem(md, "gpt-oss.block_count")->valuedouble, 2);
    ck_assert_str_eq(cJSON_GetObjectItem(md, "general.size_label")->valuestring, "120B");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "shards")), 3);
    cJSON_Delete(j);
    tu_proc_free(&p);
    run(&p, "%s -m %s -p 'The quick brown fox' -n 12 --temp 0 --raw --json", tu_gptc(), one);
    ck_assert_msg(p.status == 0, "%s", p.err);
    j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    cJSON *t = cJSON_GetObjectItem(j, "timings");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens")->valuedouble, 12);
    ck_assert_int_eq(cJSON_GetObjectItem(t, "gen_tokens")->valuedouble, 12);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(t, "load_ms")); /* the load time is reported */
    cJSON_Delete(j);
    run(&s, "%s -m %s -p 'The quick brown fox' -n 12 --temp 0 --raw --json", tu_gptc(), first);
    ck_assert_msg(s.status == 0, "%s", s.err);
    j = cJSON_Parse(p.out);
    cJSON *k = cJSON_Parse(s.out);
    ck_assert(j && k);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring,
                     cJSON_GetObjectItem(k, "text")->valuestring);
    cJSON_Delete(j);
    cJSON_Delete(k);
    tu_proc_free(&p);
    tu_proc_free(&s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gen_120b");
    TCase *tc = tcase_create("gen_120b");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_full_preset_table);
    tcase_add_test(tc, test_reduced_runs);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
