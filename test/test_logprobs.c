/* test_logprobs.c — log-probabilities (gptc_session_logprobs, --logprobs N, batch logprobs /
 * top_logprobs), checked against a log-softmax computed here in double from the logits that
 * gptc_session_logits returns:
 *  - the API on a tiny GPT-2 (CPU), 16 sampled steps: the full sorted list is a permutation in
 *    descending order, every value <= 0, exp-sum 1 within 1e-4, every value and the sampled
 *    token's equal to the reference within 1e-4; a top-5 call is the full list's prefix; with
 *    temperature, top-k and a logit bias the values stay the model's raw distribution;
 *  - the program: --json --logprobs 3 at temperature 0 against a greedy replay through the API
 *    (same tokens, bytes and values), OpenAI's shape, valid UTF-8 "token" strings; batch records
 *    (logprobs true/false, top_logprobs, the --logprobs default) equal the one-shot values;
 *  - bad values: one error line, exit 1; bad batch fields give error records. */
#include <cJSON.h>
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

#define TOL 1e-4

static char g2[512];

static gptc_model *load(void) {
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = g2;
    mp.backend = GPTC_BACKEND_CPU;
    mp.n_threads = 2;
    gptc_model *m = NULL;
    gptc_error err = {0};
    ck_assert_msg(gptc_model_load(&mp, &m, &err) == GPTC_OK, "%s", err.msg);
    return m;
}

/* the prompt as gptc builds it for a plain model: the text's ids, BOS first when the vocabulary
 * adds one */
static size_t prompt_ids(const gptc_tokenizer *tok, const char *text, int32_t *out) {
    int32_t *ids = NULL;
    size_t n = 0, k = 0;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_tokenize(tok, text, strlen(text), 0, &ids, &n, &err), GPTC_OK);
    if (gptc_tokenizer_add_bos(tok) && gptc_tokenizer_bos(tok) >= 0)
        out[k++] = gptc_tokenizer_bos(tok);
    memcpy(out + k, ids, n * sizeof *ids);
    gptc_free(ids);
    return k + n;
}

/* reference log-softmax in double over l[0..n) */
static void ref_logsoftmax(const float *l, int n, double *out) {
    double mx = -INFINITY, z = 0.0;
    for (int i = 0; i < n; i++)
        if (l[i] > mx) mx = l[i];
    for (int i = 0; i < n; i++) z += exp((double)l[i] - mx);
    const double lse = mx + log(z);
    for (int i = 0; i < n; i++) out[i] = (double)l[i] - lse;
}

static void check_step(gptc_session *s, int nv, int32_t id, float *logits, double *ref,
                       gptc_token_logprob *all) {
    gptc_error err = {0};
    ck_assert_int_eq(gptc_session_logits(s, logits, &err), GPTC_OK);
    ref_logsoftmax(logits, nv, ref);
    float lp = 1.0f;
    ck_assert_int_eq(gptc_session_logprobs(s, id, &lp, all, nv, &err), GPTC_OK);
    ck_assert_msg(fabs(lp - ref[id]) < TOL, "sampled %d: %g vs %g", id, lp, ref[id]);
    char *seen = calloc((size_t)nv, 1);
    double sum = 0.0;
    int found = 0;
    for (int i = 0; i < nv; i++) {
        const gptc_token_logprob *t = &all[i];
        ck_assert(t->id >= 0 && t->id < nv && !seen[t->id]);
        seen[t->id] = 1;
        ck_assert(t->logprob <= 0.0f);
        if (i) ck_assert(all[i - 1].logprob >= t->logprob);
        ck_assert_msg(fabs(t->logprob - ref[t->id]) < TOL, "id %d: %g vs %g", t->id, t->logprob,
                      ref[t->id]);
        sum += exp((double)t->logprob);
        if (t->id == id) {
            ck_assert(t->logprob == lp);
            found = 1;
        }
    }
    ck_assert(found);
    ck_assert_msg(fabs(sum - 1.0) < TOL, "exp-sum %.8f", sum);
    free(seen);
    gptc_token_logprob top5[5];
    ck_assert_int_eq(gptc_session_logprobs(s, id, NULL, top5, 5, &err), GPTC_OK);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(top5[i].id, all[i].id);
        ck_assert(top5[i].logprob == all[i].logprob);
    }
}

static void run_steps(const gptc_sampler_params *sp, int banned) {
    gptc_model *m = load();
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);
    gptc_session_params p;
    gptc_session_params_default(m, &p);
    p.n_ctx = 128;
    p.sampling = *sp;
    gptc_session *s = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_session_new(m, &p, &s, &err), GPTC_OK);
    int32_t ids[64];
    size_t n = prompt_ids(tok, "The quick brown fox", ids);
    ck_assert_int_eq(gptc_session_feed(s, ids, n, &err), GPTC_OK);
    gptc_model_info info;
    gptc_model_get_info(m, &info);
    const int nv =
        gptc_tokenizer_n_vocab(tok) < info.n_vocab ? gptc_tokenizer_n_vocab(tok) : info.n_vocab;
    float *logits = malloc(sizeof(float) * (size_t)info.n_vocab);
    double *ref = malloc(sizeof(double) * (size_t)info.n_vocab);
    gptc_token_logprob *all = malloc(sizeof *all * (size_t)nv);
    for (int step = 0; step < 16; step++) {
        int32_t id;
        ck_assert_int_eq(gptc_session_sample(s, &id, &err), GPTC_OK);
        ck_assert_int_ne(id, banned);
        check_step(s, nv, id, logits, ref, all);
        ck_assert_int_eq(gptc_session_feed(s, &id, 1, &err), GPTC_OK);
    }
    /* bad arguments */
    ck_assert_int_eq(gptc_session_logprobs(s, 0, NULL, NULL, 1, &err), GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(gptc_session_logprobs(s, 0, NULL, all, nv + 1, &err), GPTC_ERR_INVALID_ARG);
    float lp;
    ck_assert_int_eq(gptc_session_logprobs(s, nv, &lp, NULL, 0, &err), GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(gptc_session_logprobs(s, -1, &lp, NULL, 0, &err), GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(gptc_session_truncate(s, 0, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_logprobs(s, 0, &lp, NULL, 0, &err), GPTC_ERR_INVALID_ARG);
    free(logits);
    free(ref);
    free(all);
    gptc_session_free(s);
    gptc_model_free(m);
}

START_TEST(test_api_plain) {
    gptc_sampler_params sp;
    memset(&sp, 0, sizeof sp);
    sp.temperature = 1.0f;
    sp.top_p = 1.0f;
    sp.repeat_penalty = 1.0f;
    sp.penalty_last_n = 64;
    sp.seed = 5;
    run_steps(&sp, -1);
}
END_TEST

/* temperature, top-k, a repeat penalty and a logit bias change what is drawn, not the values */
START_TEST(test_api_raw_distribution) {
    gptc_logit_bias b[2] = {{13, -INFINITY}, {262, 2.5f}};
    gptc_sampler_params sp;
    memset(&sp, 0, sizeof sp);
    sp.temperature = 0.4f;
    sp.top_k = 5;
    sp.top_p = 1.0f;
    sp.repeat_penalty = 1.3f;
    sp.penalty_last_n = 64;
    sp.seed = 9;
    sp.logit_bias = b;
    sp.n_logit_bias = 2;
    run_steps(&sp, 13);
}
END_TEST

/* ---- the program --------------------------------------------------------------------------- */
static void run_sh(tu_proc *p, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, p), 0);
}

/* one {"token","logprob","bytes"} object against the id and reference value */
static void check_tok(const cJSON *o, const gptc_tokenizer *tok, int32_t id, double ref) {
    const cJSON *t = cJSON_GetObjectItem(o, "token"), *lp = cJSON_GetObjectItem(o, "logprob"),
                *by = cJSON_GetObjectItem(o, "bytes");
    ck_assert(cJSON_IsString(t) && cJSON_IsNumber(lp) && cJSON_IsArray(by));
    ck_assert(tu_utf8_valid((const unsigned char *)t->valuestring, strlen(t->valuestring)));
    const char *pb;
    size_t pl;
    ck_assert_int_eq(gptc_tokenizer_piece(tok, id, &pb, &pl), GPTC_OK);
    ck_assert_int_eq(cJSON_GetArraySize(by), (int)pl);
    for (size_t i = 0; i < pl; i++)
        ck_assert_int_eq(cJSON_GetArrayItem(by, (int)i)->valueint, (unsigned char)pb[i]);
    if (tu_utf8_valid((const unsigned char *)pb, pl)) {
        ck_assert_uint_eq(strlen(t->valuestring), pl);
        ck_assert(!memcmp(t->valuestring, pb, pl));
    }
    ck_assert(lp->valuedouble <= 0.0);
    ck_assert_msg(fabs(lp->valuedouble - ref) < TOL, "%g vs %g", lp->valuedouble, ref);
}

/* content[] of a greedy answer to `prompt` with n_top alternatives, against a greedy replay */
static void check_content(const cJSON *content, const char *prompt, int n_tok, int n_top) {
    ck_assert_int_eq(cJSON_GetArraySize(content), n_tok);
    gptc_model *m = load();
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);
    gptc_session *s = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_session_new(m, NULL, &s, &err), GPTC_OK);
    int32_t ids[64];
    size_t n = prompt_ids(tok, prompt, ids);
    ck_assert_int_eq(gptc_session_feed(s, ids, n, &err), GPTC_OK);
    gptc_model_info info;
    gptc_model_get_info(m, &info);
    const int nv = info.n_vocab;
    float *l = malloc(sizeof(float) * (size_t)nv);
    double *ref = malloc(sizeof(double) * (size_t)nv);
    for (int k = 0; k < n_tok; k++) {
        ck_assert_int_eq(gptc_session_logits(s, l, &err), GPTC_OK);
        ref_logsoftmax(l, nv, ref);
        /* the reference ranking: value descending, then id ascending */
        int32_t rank[21];
        for (int r = 0; r <= n_top; r++) {
            int best = -1;
            for (int i = 0; i < nv; i++) {
                int used = 0;
                for (int q = 0; q < r; q++) used |= rank[q] == i;
                if (!used && (best < 0 || l[i] > l[best])) best = i;
            }
            rank[r] = best;
        }
        const cJSON *e = cJSON_GetArrayItem(content, k);
        check_tok(e, tok, rank[0], ref[rank[0]]); /* greedy: the sampled token is the argmax */
        const cJSON *top = cJSON_GetObjectItem(e, "top_logprobs");
        ck_assert_int_eq(cJSON_GetArraySize(top), n_top);
        double prev = 0.0, mass = 0.0;
        for (int r = 0; r < n_top; r++) {
            const cJSON *a = cJSON_GetArrayItem(top, r);
            check_tok(a, tok, rank[r], ref[rank[r]]);
            double v = cJSON_GetObjectItem(a, "logprob")->valuedouble;
            ck_assert(r == 0 || v <= prev);
            prev = v;
            mass += exp(v);
        }
        ck_assert(mass <= 1.0 + TOL);
        ck_assert_int_eq(gptc_session_feed(s, &rank[0], 1, &err), GPTC_OK);
    }
    free(l);
    free(ref);
    gptc_session_free(s);
    gptc_model_free(m);
}

START_TEST(test_program_json) {
    tu_proc p;
    run_sh(&p, "%s -m %s -p 'Hello world' -n 8 --temp 0 -q --json --logprobs 3", tu_gptc(), g2);
    ck_assert_int_eq(p.status, 0);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens")->valueint, 8);
    const cJSON *lp = cJSON_GetObjectItem(j, "logprobs");
    ck_assert(cJSON_IsObject(lp));
    check_content(cJSON_GetObjectItem(lp, "content"), "Hello world", 8, 3);
    cJSON_Delete(j);
    tu_proc_free(&p);
    /* without --logprobs there is no "logprobs" key */
    run_sh(&p, "%s -m %s -p 'Hello world' -n 2 --temp 0 -q --json", tu_gptc(), g2);
    j = cJSON_Parse(p.out);
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "logprobs"));
    cJSON_Delete(j);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_program_batch) {
    char in[600], path[600];
    snprintf(in, sizeof in,
             "{\"id\":\"a\",\"prompt\":\"Hello world\",\"logprobs\":true,\"top_logprobs\":2}\n"
             "{\"id\":\"b\",\"prompt\":\"Hello world\"}\n"
             "{\"id\":\"c\",\"prompt\":\"Hello world\",\"logprobs\":false}\n"
             "{\"id\":\"d\",\"prompt\":\"Hello world\",\"logprobs\":false,\"top_logprobs\":2}\n"
             "{\"id\":\"e\",\"prompt\":\"Hello world\",\"logprobs\":\"yes\"}\n"
             "{\"id\":\"f\",\"prompt\":\"Hello world\",\"logprobs\":true,\"top_logprobs\":21}\n");
    snprintf(path, sizeof path, "%s/lp.jsonl", tu_tmpdir());
    ck_assert_int_eq(tu_write_file(path, in, strlen(in)), 0);
    tu_proc p;
    run_sh(&p, "%s batch -m %s -i %s -o - -n 6 --temp 0 -q --logprobs 1", tu_gptc(), g2, path);
    ck_assert_int_eq(p.status, 0);
    int seen = 0;
    for (char *save = NULL, *ln = strtok_r(p.out, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *r = cJSON_Parse(ln);
        ck_assert_ptr_nonnull(r);
        const char id = cJSON_GetObjectItem(r, "id")->valuestring[0];
        seen |= 1 << (id - 'a');
        const cJSON *lp = cJSON_GetObjectItem(r, "logprobs");
        if (id == 'a' || id == 'b') {
            check_content(cJSON_GetObjectItem(lp, "content"), "Hello world", 6, id == 'a' ? 2 : 1);
        } else if (id == 'c') {
            ck_assert_ptr_null(lp);
            ck_assert_str_eq(cJSON_GetObjectItem(r, "finish_reason")->valuestring, "length");
        } else {
            ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(r, "error")->valuestring, "logprobs"));
        }
        cJSON_Delete(r);
    }
    ck_assert_int_eq(seen, 0x3f);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_bad_flags) {
    static const char *bad[] = {"-p hi --logprobs 2", "-p hi --json --logprobs 21",
                                "-p hi --json --logprobs -1", "-p hi --json --logprobs x",
                                "-i --logprobs 2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_proc p;
        run_sh(&p, "%s -m %s -n 2 %s < /dev/null", tu_gptc(), g2, bad[i]);
        tu_assert_one_error(&p, 1, bad[i]);
        tu_proc_free(&p);
    }
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    Suite *s = suite_create("logprobs");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_api_plain);
    tcase_add_test(tc, test_api_raw_distribution);
    tcase_add_test(tc, test_program_json);
    tcase_add_test(tc, test_program_batch);
    tcase_add_test(tc, test_bad_flags);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
