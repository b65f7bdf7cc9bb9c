/* test_cli_ppl.c — gptc perplexity on a tiny model: llama-perplexity's output format, the final
 * PPL and its error recomputed from the per-token dump with llama.cpp's formula, the dump's
 * targets checked against an independent tokenization of the file (one trailing newline
 * dropped, second half of each chunk), and the KL tools (self-KL ~ 0, other model > 0). */
#include <cJSON.h>
#include <check.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512], g2b[512], text[512];

static void write_text(void) {
    static const char *words[] = {"the",  "quick", "brown",  "fox",   "jumps", "over",
                                  "a",    "lazy",  "dog",    "and",   "runs",  "far",
                                  "into", "the",   "forest", "while", "birds", "sing"};
    snprintf(text, sizeof text, "%s/text.txt", tu_tmpdir());
    FILE *f = fopen(text, "w");
    unsigned s = 12345;
    for (int i = 0; i < 500; i++) {
        s = s * 1103515245u + 12345u;
        fprintf(f, "%s%s", words[(s >> 16) % 18], i % 17 == 16 ? ".\n" : " ");
    }
    fputs("end\n", f); /* one trailing newline: dropped like llama.cpp's -f */
    fclose(f);
}

static void run(tu_proc *p, const char *fmt, ...) {
    char args[3000], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s perplexity %s", tu_gptc(), args);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, p), 0);
}

START_TEST(test_format_and_formula) {
    char dump[600];
    snprintf(dump, sizeof dump, "%s/dump.jsonl", tu_tmpdir());
    tu_proc p;
    run(&p, "-m %s -f %s -c 64 -b 16 --dump-tokens %s", g2, text, dump);
    ck_assert_msg(p.status == 0, "%s", p.err);

    /* independent tokenization of the file without its trailing newline */
    gptc_tokenizer *tok = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_tokenizer_load_gguf(g2, &tok, &err), GPTC_OK);
    size_t len = 0;
    char *t = tu_read_file(text, &len);
    ck_assert(len > 0 && t[len - 1] == '\n');
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(gptc_tokenize(tok, t, len - 1, 0, &ids, &n, &err), GPTC_OK);
    ck_assert(!gptc_tokenizer_add_bos(tok)); /* GPT-2 adds no BOS: tokens are the text's */
    free(t);
    int n_ctx = 64, first = 32, n_chunk = (int)(n / 64);
    ck_assert_int_ge(n_chunk, 2);

    /* stdout: "[1]x,[2]y,...,[K]z,\nFinal estimate: PPL = X +/- E\n" */
    char pat[256];
    snprintf(pat, sizeof pat,
             "^(\\[[0-9]+\\][0-9]+\\.[0-9]{4},){%d}\nFinal estimate: PPL = ([0-9]+\\.[0-9]{4}) "
             "\\+/- ([0-9]+\\.[0-9]{5})\n$",
             n_chunk);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pat, REG_EXTENDED), 0);
    regmatch_t m[4];
    ck_assert_msg(regexec(&re, p.out, 4, m, 0) == 0, "output: %s", p.out);
    double ppl = atof(p.out + m[2].rm_so), e = atof(p.out + m[3].rm_so);
    regfree(&re);
    tu_proc_free(&p);

    /* the dump: one line per scored position, in order, targets = the file's tokens */
    char *d = tu_read_file(dump, NULL);
    ck_assert_ptr_nonnull(d);
    double s1 = 0, s2 = 0;
    long cnt = 0;
    int c = 0, pos = first;
    for (char *save = NULL, *ln = strtok_r(d, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(ln);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(cJSON_GetObjectItem(j, "chunk")->valueint, c);
        ck_assert_int_eq(cJSON_GetObjectItem(j, "pos")->valueint, pos);
        ck_assert_int_eq(cJSON_GetObjectItem(j, "target")->valueint, ids[c * n_ctx + pos + 1]);
        double lp = cJSON_GetObjectItem(j, "logprob")->valuedouble;
        double l1 = cJSON_GetObjectItem(j, "top1_logprob")->valuedouble;
        double l2 = cJSON_GetObjectItem(j, "top2_logprob")->valuedouble;
        ck_assert(lp <= 0 && lp <= l1 + 1e-6 && l2 <= l1 + 1e-6 && l1 <= 0);
        if (cJSON_GetObjectItem(j, "top1")->valueint == ids[c * n_ctx + pos + 1])
            ck_assert(fabs(lp - l1) < 1e-5);
        s1 += -lp;
        s2 += lp * lp;
        cnt++;
        cJSON_Delete(j);
        if (++pos == n_ctx - 1) {
            pos = first;
            c++;
        }
    }
    free(d);
    ck_assert_int_eq(cnt, (long)n_chunk * (n_ctx - first - 1));
    /* llama.cpp: PPL = exp(mean nll); E = PPL * sqrt((mean nll^2 - mean^2) / (N - 1)) */
    double mean = s1 / cnt, var = s2 / cnt - mean * mean;
    double want_ppl = exp(mean), want_e = want_ppl * sqrt(var / (cnt - 1));
    ck_assert_msg(fabs(ppl - want_ppl) <= 1e-4 * want_ppl + 1e-4, "%f vs %f", ppl, want_ppl);
    ck_assert_msg(fabs(e - want_e) <= 1e-3 * want_e + 1e-5, "%f vs %f", e, want_e);
    gptc_free(ids);
    gptc_tokenizer_free(tok);

    /* --chunks 1 scores one chunk */
    run(&p, "-m %s -f %s -c 64 --chunks 1", g2, text);
    ck_assert_int_eq(p.status, 0);
    ck_assert(!strncmp(p.out, "[1]", 3) && !strstr(p.out, "[2]"));
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_kl) {
    char base[600];
    snprintf(base, sizeof base, "%s/base.kl", tu_tmpdir());
    tu_proc p;
    run(&p, "-m %s -f %s -c 64 --chunks 2 --kl-base %s", g2, text, base);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    /* the same model against itself: KL ~ 0 (only the uint16 quantisation), top-1 all equal */
    run(&p, "-m %s -f %s --kl %s", g2, text, base);
    ck_assert_msg(p.status == 0, "%s", p.err);
    const char *k = strstr(p.out, "Mean    KLD:");
    ck_assert_ptr_nonnull(k);
    ck_assert(atof(k + 12) < 1e-4);
    ck_assert_ptr_nonnull(strstr(p.out, "Same top p: 100.000"));
    ck_assert_msg(strstr(p.out, "Same top p (base top-1 ahead by >= 0.5 nats): 100.000") != NULL,
                  "%s", p.out);
    const char *r = strstr(p.out, "Mean PPL(Q)/PPL(base):");
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(fabs(atof(r + 22) - 1) < 1e-3, "%s", r); /* uint16 steps of <= 1e-3 nats */
    tu_proc_free(&p);
    /* the two models' perplexities, each from its own run */
    double ppl[2];
    for (int i = 0; i < 2; i++) {
        run(&p, "-m %s -f %s -c 64 --chunks 2", i ? g2b : g2, text);
        ck_assert_msg(p.status == 0, "%s", p.err);
        const char *f = strstr(p.out, "Final estimate: PPL = ");
        ck_assert_ptr_nonnull(f);
        ppl[i] = atof(f + 22);
        tu_proc_free(&p);
    }
    /* another model (other seed): clearly positive; the ratio is that of the two runs' PPL */
    run(&p, "-m %s -f %s --kl %s", g2b, text, base);
    ck_assert_msg(p.status == 0, "%s", p.err);
    k = strstr(p.out, "Mean    KLD:");
    ck_assert_ptr_nonnull(k);
    ck_assert(atof(k + 12) > 1e-3);
    r = strstr(p.out, "Mean PPL(Q)/PPL(base):");
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(fabs(atof(r + 22) / (ppl[1] / ppl[0]) - 1) < 2e-3, "%s vs %g / %g", r, ppl[1],
                  ppl[0]);
    const char *c = strstr(p.out, "Same top p (base top-1 ahead by >= 0.5 nats): ");
    ck_assert_ptr_nonnull(c);
    const double pc = atof(c + 46);
    ck_assert(pc >= 0 && pc <= 100);
    tu_proc_free(&p);
    /* -c must match the base file */
    run(&p, "-m %s -f %s -c 32 --kl %s", g2, text, base);
    ck_assert_int_eq(p.status, 1);
    ck_assert(!strncmp(p.err, "gptc: error: ", 13));
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_errors) {
    tu_proc p;
    /* too little text for two chunks */
    char small[600];
    snprintf(small, sizeof small, "%s/small.txt", tu_tmpdir());
    tu_write_file(small, "just a few words\n", 17);
    run(&p, "-m %s -f %s -c 64", g2, small);
    ck_assert_int_eq(p.status, 1);
    ck_assert_ptr_nonnull(strstr(p.err, "you need at least 128 tokens"));
    ck_assert_uint_eq(p.out_len, 0);
    tu_proc_free(&p);
    run(&p, "-m %s", g2);
    ck_assert_int_eq(p.status, 1);
    tu_proc_free(&p);
    run(&p, "-m %s -f %s/none.txt", g2, tu_tmpdir());
    ck_assert_int_eq(p.status, 1);
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(g2b, sizeof g2b, "tiny-gpt2-s2", "--preset tiny-gpt2 --seed 2");
    write_text();
    Suite *s = suite_create("cli_ppl");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_format_and_formula);
    tcase_add_test(tc, test_kl);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
