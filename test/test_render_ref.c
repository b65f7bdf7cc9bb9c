/* test_render_ref.c — gptc's harmony prompts against gpt-oss's own chat template rendered by an
 * independent Jinja engine (python3-jinja2, set up as Hugging Face transformers sets it up:
 * scripts/render_ref.py). Every conversation of test/data/render/cases.jsonl (system/developer
 * messages, tools with many schema shapes, tool calls and results, reasoning, multi-turn,
 * Unicode, empty content, the template's own refusals) must render to the same bytes, then to
 * the same token ids as tokenizing the reference text with special tokens recognised. Also
 * gptc render as a process, and its errors. */
#include <cJSON.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/harmony.h"
#include "cli/prompt.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

#define TOKENIZER_JSON ".cache/gpt-oss/tokenizer.json"
#define CASES "test/data/render/cases.jsonl"
#define TEMPLATE "test/data/gpt-oss-chat-template.jinja"
#define DATE "2025-06-28"

static gptc_tokenizer *tok;
static harmony_ids H;
static char refdir[512];

static void setup_once(void) {
    if (tok) return;
    gptc_error err = {0};
    ck_assert_msg(gptc_tokenizer_load_json(TOKENIZER_JSON, &tok, &err) == GPTC_OK, "%s", err.msg);
    ck_assert_int_eq(harmony_ids_find(tok, &H), 1);
    snprintf(refdir, sizeof refdir, "%s/ref", tu_tmpdir());
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 scripts/render_ref.py %s %s %s %s", TEMPLATE, CASES, DATE,
             refdir);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
    ck_assert_msg(p.status == 0, "render_ref.py (needs python3-jinja2) failed: %s", p.err);
    tu_proc_free(&p);
}

/* Writes the case line itself as the request file (gptc reads its "messages", "tools" and
 * "reasoning_effort" and ignores the rest; the numbers stay as written). Returns its path. */
static const char *write_request(const char *line, const char *name) {
    static char path[700];
    snprintf(path, sizeof path, "%s/%s.json", tu_tmpdir(), name);
    ck_assert_int_eq(tu_write_file(path, line, strlen(line)), 0);
    return path;
}

static void report_diff(const char *name, const char *got, const char *want) {
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    size_t from = i > 60 ? i - 60 : 0;
    ck_abort_msg(
        "%s: differs from the template at byte %zu:\n  gptc:     %.120s\n  template: %.120s", name,
        i, got + from, want + from);
}

START_TEST(test_corpus) {
    setup_once();
    size_t len = 0;
    char *all = tu_read_file(CASES, &len);
    ck_assert_ptr_nonnull(all);
    int n_cases = 0, n_text = 0, n_refused = 0, n_tokens = 0;
    char *save = NULL;
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *c = cJSON_Parse(line);
        ck_assert_ptr_nonnull(c);
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const cJSON *agp = cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt");
        int gen = !cJSON_IsFalse(agp);
        int tokens = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "tokens"));
        int template_fails = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "template_fails"));
        n_cases++;

        cli_opts o;
        cli_opts_init(&o);
        o.messages_file = write_request(line, name);
        cli_prompt p;
        ck_assert_msg(cli_prompt_load(&o, NULL, &p) == 0, "%s: load", name);
        snprintf(p.date, sizeof p.date, "%s", DATE);
        harmony_conv hc;
        cli_prompt_conv(&p, &hc);
        int32_t *ids = NULL;
        size_t n = 0;
        char *text = NULL;
        gptc_error err = {0};
        gptc_status st = harmony_render_ex(tok, &H, &hc, gen, &ids, &n, &text, &err);

        char path[700];
        snprintf(path, sizeof path, "%s/%s.txt", refdir, name);
        size_t wlen = 0;
        char *want = tu_read_file(path, &wlen);
        if (!want) { /* the template refused it */
            n_refused++;
            if (template_fails)
                ck_assert_msg(st == GPTC_OK, "%s: gptc renders what the template cannot", name);
            else
                ck_assert_msg(st == GPTC_ERR_FORMAT, "%s: the template refuses it, gptc gave %d",
                              name, (int)st);
        } else {
            ck_assert_msg(!template_fails, "%s: marked template_fails but it rendered", name);
            ck_assert_msg(st == GPTC_OK, "%s: %s", name, err.msg);
            if (strlen(text) != wlen || memcmp(text, want, wlen)) report_diff(name, text, want);
            n_text++;
            /* token for token: the reference text tokenized with special tokens recognised */
            int32_t *ref = NULL;
            size_t nref = 0;
            ck_assert_int_eq(
                gptc_tokenize(tok, want, wlen, GPTC_TOKENIZE_SPECIAL, &ref, &nref, &err), GPTC_OK);
            if (tokens) {
                size_t k = 0;
                while (k < n && k < nref && ids[k] == ref[k]) k++;
                ck_assert_msg(k == n && n == nref, "%s: token %zu differs (%zu vs %zu tokens)",
                              name, k, n, nref);
                n_tokens++;
            } else {
                /* special-token strings inside a message stay text in gptc (never control
                 * tokens), so only the decoded bytes agree */
                char *back = NULL;
                size_t nb = 0;
                ck_assert_int_eq(gptc_detokenize(tok, ids, n, 0, &back, &nb, &err), GPTC_OK);
                ck_assert_uint_eq(nb, wlen);
                ck_assert(!memcmp(back, want, wlen));
                ck_assert_uint_lt(n, nref + 100);
                ck_assert_msg(n != nref || memcmp(ids, ref, n * sizeof *ids),
                              "%s: expected text tokens where the string names a special token",
                              name);
                gptc_free(back);
            }
            gptc_free(ref);
        }
        free(want);
        free(ids);
        free(text);
        cli_prompt_free(&p);
        cJSON_Delete(c);
    }
    free(all);
    ck_assert_int_ge(n_cases, 40);
    ck_assert_int_ge(n_text, 40);
    ck_assert_int_ge(n_tokens, 40);
    ck_assert_int_ge(n_refused, 3);
}
END_TEST

/* gptc render as a process: the same text, --ids equal to gptc tokenize of that text. */
START_TEST(test_render_cli) {
    setup_once();
    const char *req =
        "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
        "{\"role\": \"user\", \"content\": \"Weather in Tokyo?\"}, {\"role\": "
        "\"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c1\", \"type\": "
        "\"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": "
        "\"{\\\"location\\\":\\\"Tokyo\\\"}\"}}]}, {\"role\": \"tool\", "
        "\"tool_call_id\": \"c1\", \"content\": \"sunny\"}]}";
    const char *tools = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
                        "\"description\": \"Weather.\", \"parameters\": {\"type\": \"object\", "
                        "\"properties\": {\"location\": {\"type\": \"string\"}}, \"required\": "
                        "[\"location\"]}}}]";
    char mpath[600], tpath[600], cases[700], cmd[3000];
    snprintf(mpath, sizeof mpath, "%s/cli-msgs.json", tu_tmpdir());
    snprintf(tpath, sizeof tpath, "%s/cli-tools.json", tu_tmpdir());
    snprintf(cases, sizeof cases, "%s/cli-case.jsonl", tu_tmpdir());
    ck_assert_int_eq(tu_write_file(mpath, req, strlen(req)), 0);
    ck_assert_int_eq(tu_write_file(tpath, tools, strlen(tools)), 0);
    /* the reference for this request: the same messages and tools through Jinja */
    cJSON *c = cJSON_Parse(req);
    cJSON_AddStringToObject(c, "name", "cli");
    cJSON_AddItemToObject(c, "tools", cJSON_Parse(tools));
    char *line = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    ck_assert_int_eq(tu_write_file(cases, line, strlen(line)), 0);
    free(line);
    snprintf(cmd, sizeof cmd, "python3 scripts/render_ref.py %s %s %s %s/cli-ref", TEMPLATE, cases,
             DATE, tu_tmpdir());
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_int_eq(p.status, 0);
    tu_proc_free(&p);
    snprintf(cmd, sizeof cmd, "%s/cli-ref/cli.txt", tu_tmpdir());
    size_t wlen = 0;
    char *want = tu_read_file(cmd, &wlen);
    ck_assert_ptr_nonnull(want);

    snprintf(cmd, sizeof cmd, "%s render --tokenizer %s --messages %s --tools %s --date %s",
             tu_gptc(), TOKENIZER_JSON, mpath, tpath, DATE);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_uint_eq(p.out_len, wlen);
    ck_assert(!memcmp(p.out, want, wlen));
    tu_proc_free(&p);

    tu_proc q;
    snprintf(cmd, sizeof cmd, "%s render --tokenizer %s --messages %s --tools %s --date %s --ids",
             tu_gptc(), TOKENIZER_JSON, mpath, tpath, DATE);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_int_eq(p.status, 0);
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer %s", tu_gptc(), TOKENIZER_JSON);
    ck_assert_int_eq(tu_sh(cmd, want, wlen, 60, &q), 0);
    ck_assert_int_eq(q.status, 0);
    ck_assert_str_eq(p.out, q.out);
    tu_proc_free(&p);
    tu_proc_free(&q);
    free(want);
}
END_TEST

/* Bad input: one error line, exit code 1. */
START_TEST(test_render_errors) {
    setup_once();
    static const struct {
        const char *messages, *tools, *extra, *needle;
    } bad[] = {
        {"[{\"role\": \"user\", \"content\": \"x\"", NULL, "", "not valid JSON"},
        {"{\"messages\": 3}", NULL, "", "expected a JSON array"},
        {"[{\"role\": \"wizard\", \"content\": \"x\"}]", NULL, "", "unknown role"},
        {"[{\"role\": \"user\", \"content\": 5}]", NULL, "", "content"},
        {"[{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"tool\", \"content\": \"r\"}]",
         NULL, "", "tool message comes before"},
        {"[{\"role\": \"user\", \"content\": \"x\"}]", "{\"nope\": 1}", "", "tools must be"},
        {"[{\"role\": \"user\", \"content\": \"x\"}]",
         "[{\"type\": \"function\", \"function\": {\"name\": \"a b\"}}]", "", "function.name"},
        {"[{\"role\": \"user\", \"content\": \"x\"}]",
         "[{\"type\": \"function\", \"function\": {\"name\": \"a\"}}, {\"type\": \"function\", "
         "\"function\": {\"name\": \"a\"}}]",
         "", "second tool"},
        {"[{\"role\": \"system\", \"content\": \"x\"}]", NULL, "--system y", "given twice"},
        {"[{\"role\": \"user\", \"content\": \"x\"}]", NULL, "--date 2025-13-01", "--date"},
        {"[{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"arguments\": \"{}\"}}]}]",
         NULL, "", "function.name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char mpath[600], tpath[600], cmd[2000];
        snprintf(mpath, sizeof mpath, "%s/bad%zu.json", tu_tmpdir(), i);
        snprintf(tpath, sizeof tpath, "%s/badtools%zu.json", tu_tmpdir(), i);
        ck_assert_int_eq(tu_write_file(mpath, bad[i].messages, strlen(bad[i].messages)), 0);
        char topt[700] = "";
        if (bad[i].tools) {
            ck_assert_int_eq(tu_write_file(tpath, bad[i].tools, strlen(bad[i].tools)), 0);
            snprintf(topt, sizeof topt, "--tools %s", tpath);
        }
        snprintf(cmd, sizeof cmd, "%s render --tokenizer %s --messages %s %s %s", tu_gptc(),
                 TOKENIZER_JSON, mpath, topt, bad[i].extra);
        tu_proc p;
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
        ck_assert_msg(p.status == 1, "case %zu: exit %d (%s)", i, p.status, p.err);
        ck_assert_msg(strstr(p.err, bad[i].needle) && !strncmp(p.err, "gptc: error: ", 13),
                      "case %zu: %s", i, p.err);
        ck_assert_msg(strchr(p.err, '\n') == p.err + p.err_len - 1, "case %zu: one line: %s", i,
                      p.err);
        ck_assert_uint_eq(p.out_len, 0);
        tu_proc_free(&p);
    }
    tu_proc p;
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "%s render --tokenizer %s --messages /nonexistent.json", tu_gptc(),
             TOKENIZER_JSON);
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_int_eq(p.status, 1);
    tu_proc_free(&p);
    snprintf(cmd, sizeof cmd, "%s render --messages x.json", tu_gptc());
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_int_eq(p.status, 1);
    tu_proc_free(&p);
}
END_TEST

static void teardown_all(void) {
    gptc_tokenizer_free(tok);
    tok = NULL;
}

int main(void) {
    Suite *s = suite_create("render_ref");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_corpus);
    tcase_add_test(tc, test_render_cli);
    tcase_add_test(tc, test_render_errors);
    suite_add_tcase(s, tc);
    int nf = tu_suite_failures(s, 1);
    teardown_all();
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
