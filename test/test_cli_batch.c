/* test_cli_batch.c — gptc batch: one output record per input line (results and error records),
 * resume after the process is killed mid-file (no duplicate, no missing id), --shard splits,
 * and --parallel (gptc_decode_multi) gives the same greedy text as one sequence at a time.
 * Tiny random GPT-2 and gpt-oss models (CPU). */
#include <cJSON.h>
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512], oss[512];

#define N_GOOD 30
/* input: N_GOOD prompts with ids "p0".."p29" (every 7th as messages), plus 3 bad lines */
static void write_input(const char *path) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < N_GOOD; i++) {
        if (i == 5) fputs("this is not json\n", f);
        if (i == 11) fputs("{\"prompt\":\"no id here\"}\n", f);
        if (i == 17) fputs("{\"id\":\"bad-temp\",\"prompt\":\"x\",\"temperature\":\"hot\"}\n", f);
        if (i == 20) fputs("\n", f); /* blank lines are skipped */
        if (i % 7 == 3)
            fprintf(f,
                    "{\"id\":\"p%d\",\"messages\":[{\"role\":\"system\",\"content\":\"Be "
                    "brief.\"},{\"role\":\"user\",\"content\":\"Question %d\"}]}\n",
                    i, i);
        else
            fprintf(f, "{\"id\":\"p%d\",\"prompt\":\"Tell me about number %d\"}\n", i, i);
    }
    fclose(f);
}

typedef struct results {
    int seen[N_GOOD];
    char *text[N_GOOD];
    int errors, bad_temp, records;
} results;

static void read_results(const char *path, results *r) {
    memset(r, 0, sizeof *r);
    size_t len = 0;
    char *txt = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(txt);
    ck_assert(len == 0 || txt[len - 1] == '\n');
    for (char *save = NULL, *ln = strtok_r(txt, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(ln);
        ck_assert_msg(j != NULL, "bad output line: %s", ln);
        r->records++;
        cJSON *err = cJSON_GetObjectItem(j, "error");
        cJSON *id = cJSON_GetObjectItem(j, "id");
        if (err) {
            ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "line")));
            r->errors++;
            if (cJSON_IsString(id) && !strcmp(id->valuestring, "bad-temp")) r->bad_temp++;
        } else {
            ck_assert(cJSON_IsString(id));
            int k = atoi(id->valuestring + 1);
            ck_assert(k >= 0 && k < N_GOOD);
            r->seen[k]++;
            ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "text")));
            ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "tokens")));
            ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "ms")));
            const char *fr = cJSON_GetObjectItem(j, "finish_reason")->valuestring;
            ck_assert(!strcmp(fr, "stop") || !strcmp(fr, "length") || !strcmp(fr, "context"));
            free(r->text[k]);
            r->text[k] = strdup(cJSON_GetObjectItem(j, "text")->valuestring);
        }
        cJSON_Delete(j);
    }
    free(txt);
}

static void free_results(results *r) {
    for (int i = 0; i < N_GOOD; i++) free(r->text[i]);
}

static int count_lines(const char *path) {
    char *t = tu_read_file(path, NULL);
    int n = 0;
    for (char *p = t; p && *p; p++) n += *p == '\n';
    free(t);
    return n;
}

START_TEST(test_resume_after_kill) {
    char in[600], out[600];
    snprintf(in, sizeof in, "%s/in.jsonl", tu_tmpdir());
    snprintf(out, sizeof out, "%s/out-kill.jsonl", tu_tmpdir());
    write_input(in);
    /* start, let a few records land, then SIGKILL (no chance to clean up) */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int dn = open("/dev/null", 1);
        dup2(dn, 1);
        dup2(dn, 2);
        execl(tu_gptc(), "gptc", "batch", "-m", g2, "-i", in, "-o", out, "-n", "32", "--ignore-eos",
              "--temp", "0", "-c", "256", (char *)NULL);
        _exit(127);
    }
    double end = tu_now_s() + 60;
    while (count_lines(out) < 6 && tu_now_s() < end) usleep(20000);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int partial = count_lines(out);
    ck_assert_int_ge(partial, 6);
    ck_assert_int_lt(partial, N_GOOD + 3); /* really killed mid-file */

    /* rerun: finishes the rest */
    char cmd[2048];
    tu_proc p;
    snprintf(cmd, sizeof cmd, "%s batch -m %s -i %s -o %s -n 32 --ignore-eos --temp 0 -c 256",
             tu_gptc(), g2, in, out);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_str_eq(p.err, ""); /* no progress bar off a terminal */
    tu_proc_free(&p);
    results r;
    read_results(out, &r);
    for (int i = 0; i < N_GOOD; i++)
        ck_assert_msg(r.seen[i] == 1, "p%d seen %d times", i, r.seen[i]);
    ck_assert_int_eq(r.errors, 3);
    ck_assert_int_eq(r.bad_temp, 1);
    ck_assert_int_eq(r.records, N_GOOD + 3);
    free_results(&r);

    /* a third run has nothing to do and writes nothing */
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_int_eq(p.status, 0);
    tu_proc_free(&p);
    ck_assert_int_eq(count_lines(out), N_GOOD + 3);
}
END_TEST

START_TEST(test_shards_and_parallel) {
    char in[600], out1[600], outp[600], cmd[3000];
    snprintf(in, sizeof in, "%s/in2.jsonl", tu_tmpdir());
    snprintf(out1, sizeof out1, "%s/out-seq.jsonl", tu_tmpdir());
    snprintf(outp, sizeof outp, "%s/out-shards.jsonl", tu_tmpdir());
    write_input(in);
    tu_proc p;
    /* one sequence at a time, greedy */
    snprintf(cmd, sizeof cmd, "%s batch -m %s -i %s -o %s -n 10 --temp 0 -c 256", tu_gptc(), g2, in,
             out1);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    /* three shards, 4 parallel sequences each, into one file */
    for (int s = 0; s < 3; s++) {
        snprintf(cmd, sizeof cmd,
                 "%s batch -m %s -i %s -o %s -n 10 --temp 0 -c 256 --parallel 4 --shard %d/3",
                 tu_gptc(), g2, in, outp, s);
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
        ck_assert_msg(p.status == 0, "%s", p.err);
        tu_proc_free(&p);
    }
    results a, b;
    read_results(out1, &a);
    read_results(outp, &b);
    ck_assert_int_eq(b.records, N_GOOD + 3);
    for (int i = 0; i < N_GOOD; i++) {
        ck_assert_int_eq(a.seen[i], 1);
        ck_assert_int_eq(b.seen[i], 1);
        ck_assert_msg(!strcmp(a.text[i], b.text[i]), "p%d: '%s' vs '%s'", i, a.text[i], b.text[i]);
    }
    free_results(&a);
    free_results(&b);
    /* bad shard spec */
    snprintf(cmd, sizeof cmd, "%s batch -m %s -i %s -o %s --shard 3/3", tu_gptc(), g2, in, outp);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_int_eq(p.status, 1);
    ck_assert(!strncmp(p.err, "gptc: error: ", 13));
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_harmony_records) {
    char in[600], out[600], cmd[3000];
    snprintf(in, sizeof in, "%s/in3.jsonl", tu_tmpdir());
    snprintf(out, sizeof out, "%s/out3.jsonl", tu_tmpdir());
    const char *lines = "{\"id\":1,\"prompt\":\"What is 2 + 2?\",\"reasoning_effort\":\"low\"}\n"
                        "{\"id\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                        "\"n_predict\":3,\"seed\":5}\n";
    tu_write_file(in, lines, strlen(lines));
    tu_proc p;
    snprintf(cmd, sizeof cmd, "%s batch -m %s -i %s -o %s -n 5 --parallel 2", tu_gptc(), oss, in,
             out);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    char *txt = tu_read_file(out, NULL);
    ck_assert_ptr_nonnull(txt);
    int n = 0;
    for (char *save = NULL, *ln = strtok_r(txt, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(ln);
        ck_assert_ptr_nonnull(j);
        int id = cJSON_GetObjectItem(j, "id")->valueint;
        ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "reasoning")));
        ck_assert_int_eq(cJSON_GetObjectItem(j, "tokens")->valueint, id == 1 ? 5 : 3);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "length");
        cJSON_Delete(j);
        n++;
    }
    ck_assert_int_eq(n, 2);
    free(txt);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cli_batch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_resume_after_kill);
    tcase_add_test(tc, test_shards_and_parallel);
    tcase_add_test(tc, test_harmony_records);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
