/* test_golden.c — gptc's CPU engine against reference logits recorded from Hugging Face
 * transformers (float64, eager) by scripts/hf-compare.sh on the GPU machine.
 *
 * Each JSON file in test/data/golden/ holds: the gen-model arguments of a random-weight model (so
 * the identical file is regenerated here) or a committed trained checkpoint ("checkpoint",
 * "outtype", "sha256" of each of its files: the demo model demo/gpt-oss-demo/, converted here
 * with `gptc convert`, whose record also has the "text" the ids come from, so gptc's tokenizer
 * must give HF tokenizers' ids), the token ids, and per position the top-20 reference logits with
 * their ids, the logsumexp and max|logit|. The model is run through the public API only (gptc.h)
 * with the ids fed in pieces (a multi-batch prefill, single-token decode steps, then the rest),
 * and at every position, with tol = TOL (generated models) or TOL_EXACT (the checkpoint) times
 * max|logit|:
 *   - each recorded top-20 logit is within tol of gptc's,
 *   - gptc's logsumexp over the whole vocabulary is within tol,
 *   - gptc's argmax is the reference's top-1 id; where the reference's top-1 and top-2 are within
 *     2 tol of each other (a near-tie that tol cannot order), gptc's argmax must be one of the
 *     recorded ids within 2 tol of the reference's top-1 logit.
 */
#include <cJSON.h>
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gptc.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

#define GOLDEN_DIR "test/data/golden"
#define TOL 1e-3
/* The demo checkpoint's conversion is exact (bf16 tensors copied, MXFP4 experts repacked bit for
 * bit), the reference ran in float64, gptc's CPU engine in float32: the only differences are
 * float32 rounding through 4 layers of width 256-512 (unit roundoff 6e-8; measured worst
 * |diff|/max|logit| 3.0e-7 on x86-64 AVX2) and the reference's printed digits (~8 significant). */
#define TOL_EXACT 1e-5
#define MAX_FILES 32

static char *g_files[MAX_FILES];
static int g_n_files;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_golden(void) {
    DIR *d = opendir(GOLDEN_DIR);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && g_n_files < MAX_FILES) {
        size_t n = strlen(e->d_name);
        if (n > 5 && !strcmp(e->d_name + n - 5, ".json")) {
            char *p = malloc(sizeof(GOLDEN_DIR) + n + 1);
            sprintf(p, "%s/%s", GOLDEN_DIR, e->d_name);
            g_files[g_n_files++] = p;
        }
    }
    closedir(d);
    qsort(g_files, (size_t)g_n_files, sizeof g_files[0], cmp_str);
}

static double num_at(const cJSON *arr, int i) {
    const cJSON *x = cJSON_GetArrayItem(arr, i);
    ck_assert_msg(cJSON_IsNumber(x), "golden: expected a number at index %d", i);
    return x->valuedouble;
}

/* The record pins the generated weights: sum of the data section's little-endian u32 words w_i
 * times (2i+1), mod 2^64 (same as scripts/hf_reference.py data_checksum). A mismatch means
 * gen-model changed, not the engine: regenerate the records with scripts/hf-compare.sh. */
static void check_checksum(const cJSON *root, const char *name, const char *model_path) {
    const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(root, "data_checksum"));
    ck_assert_msg(want != NULL, "%s: record has no data_checksum", name);
    gguf_file *f = NULL;
    gptc_error err;
    memset(&err, 0, sizeof err);
    ck_assert_msg(gguf_open(model_path, &f, &err) == GPTC_OK, "%s: %s", name, err.msg);
    uint64_t off = gguf_data_offset(f), size = gguf_file_size(f);
    gguf_close(f);
    size_t len;
    char *bytes = tu_read_file(model_path, &len);
    ck_assert(bytes != NULL && len == size && off <= size);
    uint64_t h = 0, i = 0;
    for (uint64_t pos = off; pos < size; pos += 4, i++) {
        uint32_t w = 0;
        for (int k = 0; k < 4 && pos + (uint64_t)k < size; k++)
            w |= (uint32_t)(uint8_t)bytes[pos + (uint64_t)k] << (8 * k);
        h += (uint64_t)w * (2 * i + 1);
    }
    free(bytes);
    char got[17];
    snprintf(got, sizeof got, "%016llx", (unsigned long long)h);
    ck_assert_msg(!strcmp(got, want),
                  "%s: regenerated model differs from the recorded one (data checksum %s, record "
                  "%s): gen-model changed; regenerate the records with scripts/hf-compare.sh",
                  name, got, want);
}

/* A committed checkpoint: every file must be the one the record was made from (demo/SHA256SUMS
 * names the same checksums; sha256sum from coreutils computes them), then `gptc convert` turns it
 * into model_path. */
static void convert_checkpoint(const cJSON *root, const char *name, const char *ckpt,
                               char *model_path, size_t cap) {
    const cJSON *sums = cJSON_GetObjectItem(root, "sha256");
    const char *outtype = cJSON_GetStringValue(cJSON_GetObjectItem(root, "outtype"));
    ck_assert_msg(cJSON_IsObject(sums) && cJSON_GetArraySize(sums) > 0 && outtype,
                  "%s: record has no sha256 table or outtype", name);
    const cJSON *e;
    cJSON_ArrayForEach(e, sums) {
        const char *want = cJSON_GetStringValue(e);
        ck_assert(want != NULL && strlen(want) == 64);
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "sha256sum '%s/%s'", ckpt, e->string);
        tu_proc p;
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
        ck_assert_msg(p.status == 0, "%s: sha256sum %s/%s: %s", name, ckpt, e->string, p.err);
        ck_assert_msg(p.out_len >= 64 && !strncmp(p.out, want, 64),
                      "%s: %s/%s has sha256 %.64s, the record was made from %s", name, ckpt,
                      e->string, p.out, want);
        tu_proc_free(&p);
    }
    snprintf(model_path, cap, "%s/%s.gguf", tu_tmpdir(), name);
    char gptc[4096];
    snprintf(gptc, sizeof gptc, "%s", tu_gptc());
    char *argv[] = {gptc, "convert",  (char *)ckpt, "--outtype", (char *)outtype,
                    "-o", model_path, NULL};
    tu_proc p;
    ck_assert_int_eq(tu_run(argv, NULL, 0, 120, &p), 0);
    ck_assert_msg(p.status == 0, "%s: gptc convert %s failed (%d): %s", name, ckpt, p.status,
                  p.err);
    tu_proc_free(&p);
}

/* The record's ids are Hugging Face tokenizers' encoding of its text: gptc's tokenizer (from the
 * GGUF) must give the same. */
static void check_tokens(const char *name, const char *model_path, const char *text,
                         const cJSON *jids) {
    gptc_tokenizer *tok = NULL;
    gptc_error err;
    ck_assert_msg(gptc_tokenizer_load_gguf(model_path, &tok, &err) == GPTC_OK, "%s: %s", name,
                  err.msg);
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_msg(gptc_tokenize(tok, text, strlen(text), GPTC_TOKENIZE_SPECIAL, &ids, &n, &err) ==
                      GPTC_OK,
                  "%s: %s", name, err.msg);
    ck_assert_msg(n == (size_t)cJSON_GetArraySize(jids), "%s: %zu tokens, reference %d", name, n,
                  cJSON_GetArraySize(jids));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(ids[i] == (int32_t)num_at(jids, (int)i), "%s: token %zu is %d, reference %d",
                      name, i, ids[i], (int)num_at(jids, (int)i));
    gptc_free(ids);
    gptc_tokenizer_free(tok);
}

START_TEST(test_golden_record) {
    ck_assert_msg(g_n_files > 0, "no golden records in %s", GOLDEN_DIR);
    const char *path = g_files[_i];
    size_t len;
    char *text = tu_read_file(path, &len);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    ck_assert_msg(root != NULL, "%s: invalid JSON", path);
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(root, "name"));
    const cJSON *gen = cJSON_GetObjectItem(root, "generator");
    const cJSON *jids = cJSON_GetObjectItem(root, "ids");
    const cJSON *max_abs = cJSON_GetObjectItem(root, "max_abs");
    const cJSON *lse = cJSON_GetObjectItem(root, "lse");
    const cJSON *top_ids = cJSON_GetObjectItem(root, "top_ids");
    const cJSON *top_logits = cJSON_GetObjectItem(root, "top_logits");
    const char *committed = cJSON_GetStringValue(cJSON_GetObjectItem(root, "checkpoint"));
    ck_assert(name && (cJSON_IsArray(gen) || committed) && cJSON_IsArray(jids) &&
              cJSON_IsArray(max_abs) && cJSON_IsArray(lse) && cJSON_IsArray(top_ids) &&
              cJSON_IsArray(top_logits));
    const int T = cJSON_GetArraySize(jids);
    const int n_vocab = cJSON_GetObjectItem(root, "n_vocab")->valueint;
    ck_assert_int_gt(T, 8);

    char model_path[4096];
    if (committed) {
        convert_checkpoint(root, name, committed, model_path, sizeof model_path);
    } else {
        /* regenerate the model: gen-model ARGS... --out TMP/NAME.gguf */
        snprintf(model_path, sizeof model_path, "%s/%s.gguf", tu_tmpdir(), name);
        int n_gen = cJSON_GetArraySize(gen);
        char **argv = calloc((size_t)n_gen + 4, sizeof(char *));
        char tool[4096];
        snprintf(tool, sizeof tool, "%s", tu_tool("gen-model"));
        argv[0] = tool;
        for (int i = 0; i < n_gen; i++) argv[1 + i] = cJSON_GetArrayItem(gen, i)->valuestring;
        argv[1 + n_gen] = "--out";
        argv[2 + n_gen] = model_path;
        tu_proc p;
        ck_assert_int_eq(tu_run(argv, NULL, 0, 300, &p), 0);
        ck_assert_msg(p.status == 0, "%s: gen-model failed (%d): %s", name, p.status, p.err);
        tu_proc_free(&p);
        free(argv);
        check_checksum(root, name, model_path);
    }
    const char *rec_text = cJSON_GetStringValue(cJSON_GetObjectItem(root, "text"));
    if (rec_text) check_tokens(name, model_path, rec_text, jids);

    /* run it */
    gptc_error err;
    memset(&err, 0, sizeof err);
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = model_path;
    mp.backend = GPTC_BACKEND_CPU;
    gptc_model *m = NULL;
    ck_assert_msg(gptc_model_load(&mp, &m, &err) == GPTC_OK, "%s: load: %s", name, err.msg);
    gptc_model_info info;
    gptc_model_get_info(m, &info);
    ck_assert_int_eq(info.n_vocab, n_vocab);
    gptc_session_params sp;
    gptc_session_params_default(m, &sp);
    sp.n_ctx = T + 16;
    sp.n_batch = 64;
    gptc_session *s = NULL;
    ck_assert_msg(gptc_session_new(m, &sp, &s, &err) == GPTC_OK, "%s: session: %s", name, err.msg);
    int32_t *ids = malloc((size_t)T * sizeof(int32_t));
    for (int t = 0; t < T; t++) ids[t] = (int32_t)num_at(jids, t);
    float *logits = malloc((size_t)T * (size_t)n_vocab * sizeof(float));
    ck_assert(ids && logits);
    /* pieces: a multi-batch prefill, three single-token steps, then the rest */
    const int first = T / 2;
    int pieces[5] = {first, 1, 1, 1, T - first - 3}, pos = 0;
    for (int k = 0; k < 5; k++) {
        ck_assert_msg(gptc_session_feed_all_logits(s, ids + pos, (size_t)pieces[k],
                                                   logits + (size_t)pos * (size_t)n_vocab,
                                                   &err) == GPTC_OK,
                      "%s: feed at %d: %s", name, pos, err.msg);
        pos += pieces[k];
    }
    ck_assert_int_eq(gptc_session_n_past(s), T);

    int n_bad = 0;
    double worst = 0;
    int worst_pos = -1;
    for (int t = 0; t < T; t++) {
        const float *row = logits + (size_t)t * (size_t)n_vocab;
        const double scale = num_at(max_abs, t), tol = (committed ? TOL_EXACT : TOL) * scale;
        const cJSON *ti = cJSON_GetArrayItem(top_ids, t), *tl = cJSON_GetArrayItem(top_logits, t);
        const int k = cJSON_GetArraySize(ti);
        double mx = -INFINITY;
        int arg = 0;
        for (int v = 0; v < n_vocab; v++)
            if (row[v] > mx) {
                mx = row[v];
                arg = v;
            }
        double sum = 0;
        for (int v = 0; v < n_vocab; v++) sum += exp((double)row[v] - mx);
        const double my_lse = mx + log(sum);
        double d = fabs(my_lse - num_at(lse, t));
        for (int j = 0; j < k; j++) {
            int id = (int)num_at(ti, j);
            ck_assert(id >= 0 && id < n_vocab);
            double dj = fabs((double)row[id] - num_at(tl, j));
            if (dj > d) d = dj;
        }
        if (d / scale > worst) {
            worst = d / scale;
            worst_pos = t;
        }
        const int ref_arg = (int)num_at(ti, 0);
        int arg_ok = arg == ref_arg;
        if (!arg_ok && k > 1 && num_at(tl, 0) - num_at(tl, 1) <= 2 * tol) {
            /* a near-tie: any recorded id within 2 tol of the reference's top-1 will do */
            for (int j = 1; j < k && !arg_ok; j++)
                arg_ok = (int)num_at(ti, j) == arg && num_at(tl, 0) - num_at(tl, j) <= 2 * tol;
        }
        if (d > tol || !arg_ok) {
            if (n_bad < 5)
                fprintf(stderr,
                        "golden %s: position %d: max |diff| %.3g (tol %.3g), argmax %d vs "
                        "reference %d\n",
                        name, t, d, tol, arg, ref_arg);
            n_bad++;
        }
    }
    fprintf(stderr, "golden %s: %d positions, worst |diff|/max|logit| %.2e at %d, %d bad\n", name,
            T, worst, worst_pos, n_bad);
    ck_assert_msg(n_bad == 0, "%s: %d of %d positions differ from the reference", name, n_bad, T);

    free(ids);
    free(logits);
    gptc_session_free(s);
    gptc_model_free(m);
    cJSON_Delete(root);
}
END_TEST

/* ---- the generator itself ---------------------------------------------------------------- */
static char *run_gen(const char *args, double timeout) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s", tu_tool("gen-model"), args);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, timeout, &p), 0);
    ck_assert_msg(p.status == 0, "gen-model %s: exit %d: %s", args, p.status, p.err);
    char *out = p.out;
    p.out = NULL;
    tu_proc_free(&p);
    return out;
}

/* Same arguments -> byte-identical file, whatever the thread count. */
START_TEST(test_gen_deterministic) {
    char a[4096], b[4096], args[8192];
    snprintf(a, sizeof a, "%s/det-a.gguf", tu_tmpdir());
    snprintf(b, sizeof b, "%s/det-b.gguf", tu_tmpdir());
    const char *common = "--preset tiny-gpt-oss --vocab 600 --layers 2 --seed 9 "
                         "--types embd=Q4_K,output=Q6_K,attn=Q5_1,experts=MXFP4";
    snprintf(args, sizeof args, "%s --threads 1 --out %s", common, a);
    free(run_gen(args, 120));
    snprintf(args, sizeof args, "%s --threads 3 --out %s", common, b);
    free(run_gen(args, 120));
    size_t la, lb;
    char *da = tu_read_file(a, &la), *db = tu_read_file(b, &lb);
    ck_assert(da && db);
    ck_assert_uint_eq(la, lb);
    ck_assert_msg(memcmp(da, db, la) == 0, "gen-model output depends on the thread count");
    free(da);
    free(db);
    /* a different seed gives different weights */
    snprintf(args, sizeof args, "%s --seed 10 --threads 2 --out %s", common, b);
    free(run_gen(args, 120));
    db = tu_read_file(b, &lb);
    da = tu_read_file(a, &la);
    ck_assert(da && db);
    ck_assert_msg(la != lb || memcmp(da, db, la) != 0, "--seed has no effect");
    free(da);
    free(db);
}
END_TEST

/* Layout of the full-size presets against docs/gpt-oss.md §7.1/§7.3 (dry run: nothing written):
 * ggml-org MXFP4 file = 459 tensors and 12,096,558,336 bytes of tensor data; stock Q4_K_M types. */
START_TEST(test_gen_20b_layout) {
    char *out = run_gen("--preset gpt-oss-20b --vocab 201088 --dry-run", 120);
    ck_assert_ptr_nonnull(strstr(out, "tensors: 459, tensor data: 12096558336 bytes"));
    int n_mxfp4 = 0, n_q8 = 0, n_f32 = 0;
    for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char name[128], type[16];
        if (sscanf(l, "%127s %15s", name, type) != 2 || strchr(name, ':')) continue;
        n_mxfp4 += !strcmp(type, "MXFP4");
        n_q8 += !strcmp(type, "Q8_0");
        n_f32 += !strcmp(type, "F32");
    }
    ck_assert_int_eq(n_mxfp4, 72);
    ck_assert_int_eq(n_q8, 98);
    ck_assert_int_eq(n_f32, 289);
    ck_assert_ptr_nonnull(
        strstr(out, "blk.23.ffn_down_exps.weight          MXFP4  [2880, 2880, 32]"));
    free(out);

    out = run_gen("--preset gpt-oss-20b-q4_k_m --vocab 201088 --dry-run", 120);
    static const char *const want[][2] = {
        {"token_embd.weight", "Q5_0"},          {"output.weight", "Q8_0"},
        {"blk.0.attn_q.weight", "Q5_0"},        {"blk.0.attn_k.weight", "Q5_0"},
        {"blk.0.attn_v.weight", "Q8_0"},        {"blk.3.attn_v.weight", "Q5_0"},
        {"blk.5.attn_v.weight", "Q8_0"},        {"blk.23.attn_v.weight", "Q8_0"},
        {"blk.0.attn_output.weight", "Q4_K"},   {"blk.0.ffn_gate_exps.weight", "Q5_0"},
        {"blk.0.ffn_up_exps.weight", "Q5_0"},   {"blk.0.ffn_down_exps.weight", "Q8_0"},
        {"blk.4.ffn_down_exps.weight", "Q5_0"}, {"blk.0.ffn_gate_inp.weight", "F32"},
        {"blk.0.attn_sinks.weight", "F32"},     {"blk.0.ffn_down_exps.bias", "F32"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *l = strstr(out, want[i][0]);
        ck_assert_msg(l != NULL, "no %s", want[i][0]);
        char name[128], type[16];
        ck_assert_int_eq(sscanf(l, "%127s %15s", name, type), 2);
        ck_assert_msg(!strcmp(type, want[i][1]), "%s is %s, expected %s", want[i][0], type,
                      want[i][1]);
    }
    free(out);
}
END_TEST

int main(void) {
    list_golden();
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_golden_record, 0, g_n_files > 0 ? g_n_files : 1);
    suite_add_tcase(s, tc);
    TCase *tg = tcase_create("generator");
    tcase_set_timeout(tg, 300);
    tcase_add_test(tg, test_gen_deterministic);
    tcase_add_test(tg, test_gen_20b_layout);
    suite_add_tcase(s, tg);
    int nf = tu_suite_failures(s, 0);
    for (int i = 0; i < g_n_files; i++) free(g_files[i]);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
