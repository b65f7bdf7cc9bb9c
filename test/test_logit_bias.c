/* test_logit_bias.c — logit bias (gptc_sampler_params.logit_bias, -l / --logit-bias, batch
 * logit_bias), against choices worked out here from the logits gptc_session_logits returns:
 *  - the API: -inf on the argmax bans it at temperature 0 (the second best comes) and in 300
 *    draws at temperature 1; +100 on the least likely token forces it at any temperature; the
 *    bias comes before the repeat penalty (the reference applies them in that order); the list
 *    is copied (the caller's array may change); bad lists (out-of-range id, a token twice, NaN)
 *    are refused by gptc_session_new and gptc_session_set_sampling;
 *  - the program: -l ID=-100 (OpenAI's ban), ID-inf, ID-100 (llama.cpp's form), --logit-bias=
 *    ID=-inf ban the greedy first token; ID+100 forces one; batch "logit_bias" ({"ID": -100},
 *    {"ID": 100}, {} replacing the command-line default) likewise; bad values are one error line
 *    (exit 1), or an error record in batch. */
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

static char g2[512];

/* the first step after "Hello world": logits and the ids ranked 1st, 2nd and last */
typedef struct first_step {
    int nv;
    float *l;
    int32_t best, second, worst;
    int32_t prompt[64];
    size_t n_prompt;
} first_step;

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

static gptc_sampler_params plain(float temp, uint64_t seed) {
    gptc_sampler_params sp;
    memset(&sp, 0, sizeof sp);
    sp.temperature = temp;
    sp.top_p = 1.0f;
    sp.repeat_penalty = 1.0f;
    sp.penalty_last_n = 64;
    sp.seed = seed;
    return sp;
}

static void first(gptc_model *m, first_step *f) {
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);
    gptc_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(gptc_tokenize(tok, "Hello world", 11, 0, &ids, &n, &err), GPTC_OK);
    f->n_prompt = 0;
    if (gptc_tokenizer_add_bos(tok) && gptc_tokenizer_bos(tok) >= 0)
        f->prompt[f->n_prompt++] = gptc_tokenizer_bos(tok);
    memcpy(f->prompt + f->n_prompt, ids, n * sizeof *ids);
    f->n_prompt += n;
    gptc_free(ids);
    gptc_model_info info;
    gptc_model_get_info(m, &info);
    f->nv = info.n_vocab;
    f->l = malloc(sizeof(float) * (size_t)f->nv);
    gptc_session *s = NULL;
    ck_assert_int_eq(gptc_session_new(m, NULL, &s, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_feed(s, f->prompt, f->n_prompt, &err), GPTC_OK);
    ck_assert_int_eq(gptc_session_logits(s, f->l, &err), GPTC_OK);
    gptc_session_free(s);
    f->best = f->second = f->worst = -1;
    for (int i = 0; i < f->nv; i++) {
        if (f->best < 0 || f->l[i] > f->l[f->best]) {
            f->second = f->best;
            f->best = i;
        } else if (f->second < 0 || f->l[i] > f->l[f->second]) {
            f->second = i;
        }
        if (f->worst < 0 || f->l[i] < f->l[f->worst]) f->worst = i;
    }
    ck_assert(f->l[f->best] > f->l[f->second]); /* no tie: the reference is unambiguous */
}

/* a session on the prompt with these sampler settings */
static gptc_session *session(gptc_model *m, const first_step *f, const gptc_sampler_params *sp) {
    gptc_session_params p;
    gptc_session_params_default(m, &p);
    p.n_ctx = 64;
    p.sampling = *sp;
    gptc_session *s = NULL;
    gptc_error err = {0};
    ck_assert_msg(gptc_session_new(m, &p, &s, &err) == GPTC_OK, "%s", err.msg);
    ck_assert_int_eq(gptc_session_feed(s, f->prompt, f->n_prompt, &err), GPTC_OK);
    return s;
}

static int32_t sample(gptc_session *s) {
    int32_t id = -1;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_session_sample(s, &id, &err), GPTC_OK);
    return id;
}

START_TEST(test_api_ban_force) {
    gptc_model *m = load();
    first_step f;
    first(m, &f);
    /* greedy without a bias takes the argmax; banned, the second best */
    gptc_sampler_params sp = plain(0.0f, 1);
    gptc_session *s = session(m, &f, &sp);
    ck_assert_int_eq(sample(s), f.best);
    gptc_session_free(s);
    gptc_logit_bias b = {f.best, -INFINITY};
    sp.logit_bias = &b;
    sp.n_logit_bias = 1;
    s = session(m, &f, &sp);
    b.id = f.worst; /* the session holds its own copy */
    ck_assert_int_eq(sample(s), f.second);
    /* at temperature 1: never drawn in 300 draws (set_sampling replaces the list) */
    b.id = f.best;
    gptc_sampler_params t1 = plain(1.0f, 77);
    t1.logit_bias = &b;
    t1.n_logit_bias = 1;
    ck_assert_int_eq(gptc_session_set_sampling(s, &t1), GPTC_OK);
    for (int i = 0; i < 300; i++) ck_assert_int_ne(sample(s), f.best);
    /* with top-k 1 the second best every time */
    t1.top_k = 1;
    ck_assert_int_eq(gptc_session_set_sampling(s, &t1), GPTC_OK);
    for (int i = 0; i < 20; i++) ck_assert_int_eq(sample(s), f.second);
    /* +100 on the least likely token forces it, greedy or not */
    gptc_logit_bias fb = {f.worst, 100.0f};
    for (int t = 0; t < 3; t++) {
        gptc_sampler_params q = plain(t * 1.0f, 100 + t);
        q.logit_bias = &fb;
        q.n_logit_bias = 1;
        ck_assert_int_eq(gptc_session_set_sampling(s, &q), GPTC_OK);
        for (int i = 0; i < 50; i++) ck_assert_int_eq(sample(s), f.worst);
    }
    gptc_session_free(s);
    free(f.l);
    gptc_model_free(m);
}
END_TEST

/* the bias is added before the repeat penalty (llama.cpp's order): the reference biases the
 * prompt's last token, then penalises every prompt token, then takes the argmax */
START_TEST(test_api_order) {
    gptc_model *m = load();
    first_step f;
    first(m, &f);
    const int32_t h = f.prompt[f.n_prompt - 1];
    const float rp = 1.5f;
    int checked = 0, differs = 0;
    for (int k = 0; k < 16; k++) {
        const float bias = (f.l[f.best] - f.l[h]) + (k - 4) * 1.5f;
        float *r = malloc(sizeof(float) * (size_t)f.nv);
        memcpy(r, f.l, sizeof(float) * (size_t)f.nv);
        r[h] += bias;
        for (size_t i = 0; i < f.n_prompt; i++) {
            const int32_t id = f.prompt[i];
            int dup = 0;
            for (size_t q = 0; q < i; q++) dup |= f.prompt[q] == id;
            if (!dup) r[id] = r[id] > 0 ? r[id] / rp : r[id] * rp;
        }
        int32_t want = 0;
        for (int i = 1; i < f.nv; i++)
            if (r[i] > r[want]) want = i;
        /* the other order (penalty, then bias) would pick another token in some cases */
        const float pen_h = f.l[h] > 0 ? f.l[h] / rp : f.l[h] * rp;
        const float other_h = pen_h + bias;
        r[h] = other_h;
        int32_t other = 0;
        for (int i = 1; i < f.nv; i++)
            if (r[i] > r[other]) other = i;
        differs += other != want;
        free(r);
        gptc_sampler_params sp = plain(0.0f, 1);
        sp.repeat_penalty = rp;
        gptc_logit_bias b = {h, bias};
        sp.logit_bias = &b;
        sp.n_logit_bias = 1;
        gptc_session *s = session(m, &f, &sp);
        ck_assert_int_eq(sample(s), want);
        checked += want == h;
        gptc_session_free(s);
    }
    ck_assert_int_gt(checked, 0); /* some biases made the penalised token win */
    ck_assert_int_gt(differs, 0); /* and the order of bias and penalty mattered */
    free(f.l);
    gptc_model_free(m);
}
END_TEST

START_TEST(test_api_bad_lists) {
    gptc_model *m = load();
    first_step f;
    first(m, &f);
    gptc_session_params p;
    gptc_session_params_default(m, &p);
    p.n_ctx = 64;
    gptc_error err = {0};
    gptc_session *s = NULL;
    gptc_logit_bias bad[3][2] = {
        {{f.nv, 1.0f}, {0, 0.0f}}, {{5, 1.0f}, {5, -1.0f}}, {{5, NAN}, {6, 1.0f}}};
    for (int i = 0; i < 3; i++) {
        p.sampling.logit_bias = bad[i];
        p.sampling.n_logit_bias = 2;
        ck_assert_int_eq(gptc_session_new(m, &p, &s, &err), GPTC_ERR_INVALID_ARG);
        ck_assert_ptr_null(s);
        ck_assert_ptr_nonnull(strstr(err.msg, "logit bias"));
    }
    p.sampling.logit_bias = NULL;
    p.sampling.n_logit_bias = 1;
    ck_assert_int_eq(gptc_session_new(m, &p, &s, &err), GPTC_ERR_INVALID_ARG);
    p.sampling.n_logit_bias = GPTC_LOGIT_BIAS_MAX + 1;
    ck_assert_int_eq(gptc_session_new(m, &p, &s, &err), GPTC_ERR_INVALID_ARG);
    /* set_sampling refuses them and keeps the old settings (greedy, no bias) */
    gptc_sampler_params sp = plain(0.0f, 1);
    s = session(m, &f, &sp);
    sp.logit_bias = bad[1];
    sp.n_logit_bias = 2;
    sp.temperature = 1.0f;
    ck_assert_int_eq(gptc_session_set_sampling(s, &sp), GPTC_ERR_INVALID_ARG);
    ck_assert_int_eq(sample(s), f.best);
    gptc_session_free(s);
    free(f.l);
    gptc_model_free(m);
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

/* the bytes of the content entries of a --json / batch result as token ids (by piece) */
static int32_t entry_id(const gptc_tokenizer *tok, const cJSON *e, int nv) {
    const cJSON *by = cJSON_GetObjectItem(e, "bytes");
    char b[256];
    int n = cJSON_GetArraySize(by);
    ck_assert_int_lt(n, 256);
    for (int i = 0; i < n; i++) b[i] = (char)cJSON_GetArrayItem(by, i)->valueint;
    for (int32_t id = 0; id < nv; id++) {
        const char *pb;
        size_t pl;
        if (gptc_tokenizer_piece(tok, id, &pb, &pl) == GPTC_OK && pl == (size_t)n &&
            !memcmp(pb, b, pl))
            return id;
    }
    return -1;
}

static int32_t first_token(const cJSON *rec, const gptc_tokenizer *tok, int nv) {
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "logprobs"), "content");
    ck_assert_int_ge(cJSON_GetArraySize(c), 1);
    return entry_id(tok, cJSON_GetArrayItem(c, 0), nv);
}

START_TEST(test_program) {
    gptc_model *m = load();
    first_step f;
    first(m, &f);
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);
    char flags[6][96];
    snprintf(flags[0], 96, "-l %d=-100", f.best);
    snprintf(flags[1], 96, "-l %d-inf", f.best);
    snprintf(flags[2], 96, "-l %d-100", f.best);
    snprintf(flags[3], 96, "--logit-bias=%d=-inf", f.best);
    snprintf(flags[4], 96, "-l %d=5 --logit-bias %d=-100", f.best, f.best); /* the last wins */
    snprintf(flags[5], 96, "-l %d+100", f.worst);
    for (int i = 0; i < 6; i++) {
        tu_proc p;
        run_sh(&p, "%s -m %s -p 'Hello world' -n 3 --temp 0 -q --json --logprobs 0 %s", tu_gptc(),
               g2, flags[i]);
        ck_assert_msg(p.status == 0, "%s: %s", flags[i], p.err);
        cJSON *j = cJSON_Parse(p.out);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(first_token(j, tok, f.nv), i < 5 ? f.second : f.worst);
        if (i == 5) { /* forced every step */
            const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "logprobs"), "content");
            for (int k = 0; k < 3; k++)
                ck_assert_int_eq(entry_id(tok, cJSON_GetArrayItem(c, k), f.nv), f.worst);
        }
        cJSON_Delete(j);
        tu_proc_free(&p);
    }
    /* batch: per line, the command-line default (a ban of the best) and its replacement */
    char in[1200], path[600];
    snprintf(in, sizeof in,
             "{\"id\":1,\"prompt\":\"Hello world\"}\n"
             "{\"id\":2,\"prompt\":\"Hello world\",\"logit_bias\":{}}\n"
             "{\"id\":3,\"prompt\":\"Hello world\",\"logit_bias\":{\"%d\":100}}\n"
             "{\"id\":4,\"prompt\":\"Hello world\",\"logit_bias\":{\"%d\":-100,\"%d\":-100}}\n"
             "{\"id\":5,\"prompt\":\"Hello world\",\"logit_bias\":{\"x\":1}}\n"
             "{\"id\":6,\"prompt\":\"Hello world\",\"logit_bias\":{\"5\":101}}\n"
             "{\"id\":7,\"prompt\":\"Hello world\",\"logit_bias\":{\"5\":\"1\"}}\n"
             "{\"id\":8,\"prompt\":\"Hello world\",\"logit_bias\":{\"%d\":1}}\n"
             "{\"id\":9,\"prompt\":\"Hello world\",\"logit_bias\":[1]}\n"
             "{\"id\":10,\"prompt\":\"Hello world\",\"logit_bias\":{\"-5\":1}}\n",
             f.worst, f.best, f.second, f.nv);
    snprintf(path, sizeof path, "%s/lb.jsonl", tu_tmpdir());
    ck_assert_int_eq(tu_write_file(path, in, strlen(in)), 0);
    tu_proc p;
    run_sh(&p, "%s batch -m %s -i %s -o - -n 2 --temp 0 -q --logprobs 0 -l %d=-100 --parallel 3",
           tu_gptc(), g2, path, f.best);
    ck_assert_int_eq(p.status, 0);
    int seen = 0;
    for (char *save = NULL, *ln = strtok_r(p.out, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *r = cJSON_Parse(ln);
        ck_assert_ptr_nonnull(r);
        const int id = cJSON_GetObjectItem(r, "id")->valueint;
        seen |= 1 << id;
        if (id <= 4) {
            const int32_t want = id == 1 ? f.second : id == 2 ? f.best : id == 3 ? f.worst : -2;
            const int32_t got = first_token(r, tok, f.nv);
            if (want == -2) /* best and second banned: neither */
                ck_assert(got != f.best && got != f.second);
            else
                ck_assert_int_eq(got, want);
        } else {
            ck_assert_ptr_nonnull(
                strstr(cJSON_GetObjectItem(r, "error")->valuestring, "logit_bias"));
        }
        cJSON_Delete(r);
    }
    ck_assert_int_eq(seen, 0x7fe);
    tu_proc_free(&p);
    free(f.l);
    gptc_model_free(m);
}
END_TEST

START_TEST(test_bad_flags) {
    static const char *bad[] = {"-l 5",     "-l x=1", "-l 5=101",    "-l 5=nan",
                                "-l 5=inf", "-l 5=",  "-l =3",       "-l 99999999=1",
                                "-l -5=1",  "-l 5*2", "--logit-bias"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_proc p;
        run_sh(&p, "%s -m %s -p hi -n 2 %s", tu_gptc(), g2, bad[i]);
        tu_assert_one_error(&p, 1, bad[i]);
        tu_proc_free(&p);
    }
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    Suite *s = suite_create("logit_bias");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_api_ban_force);
    tcase_add_test(tc, test_api_order);
    tcase_add_test(tc, test_api_bad_lists);
    tcase_add_test(tc, test_program);
    tcase_add_test(tc, test_bad_flags);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
