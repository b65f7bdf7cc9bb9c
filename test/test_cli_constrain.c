/* test_cli_constrain.c — constrained generation as a real process, checked by independent
 * validators: random-weight models at temperature 1 over hundreds of seeds (one batch process
 * each, --parallel), every answer that ended ("stop") must validate — JSON Schema answers with
 * Python's jsonschema, GBNF answers with an Earley recogniser written separately from the grammar
 * text (test/util/check_constrained.py) — and every other answer must have run out of -n
 * ("length"). gpt-oss goes through harmony: the analysis channel is free, the final channel is the
 * JSON. Bad grammars, schemas and response formats: one error line, exit 1 (or an error record). */
#include <cJSON.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512], oss[512];

static const char *const SCHEMAS[] = {
    "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"},\"n\":{\"type\":"
    "\"integer\"},\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]}},\"required\":[\"ok\",\"n\","
    "\"color\"],\"additionalProperties\":false}",
    "{\"type\":\"array\",\"minItems\":1,\"maxItems\":4,\"items\":{\"type\":\"object\","
    "\"properties\":{\"x\":{\"type\":\"number\"},\"tag\":{\"type\":[\"string\",\"null\"],"
    "\"maxLength\":3}},\"required\":[\"x\",\"tag\"],\"additionalProperties\":false}}",
    "{\"$defs\":{\"t\":{\"type\":\"object\",\"properties\":{\"v\":{\"enum\":[1,2,3]},\"kids\":{"
    "\"type\":\"array\",\"maxItems\":2,\"items\":{\"$ref\":\"#/$defs/t\"}}},\"required\":[\"v\"],"
    "\"additionalProperties\":false}},\"$ref\":\"#/$defs/t\"}",
    "{\"type\":\"object\",\"properties\":{\"day\":{\"type\":\"string\",\"format\":\"date\"},\"id\":"
    "{\"type\":\"string\",\"format\":\"uuid\"},\"code\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{"
    "2}-[0-9]{3}$\"}},\"required\":[\"day\",\"id\",\"code\"],\"additionalProperties\":false}",
};
#define N_SCHEMAS (sizeof SCHEMAS / sizeof SCHEMAS[0])

/* Appends {"kind": "schema"|"gbnf", "schema"/"grammar": ..., "text": ...} to cases. */
static void add_case(cJSON *cases, const char *kind, const char *spec, const char *text) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "kind", kind);
    if (!strcmp(kind, "schema"))
        cJSON_AddItemToObject(c, "schema", cJSON_Parse(spec));
    else
        cJSON_AddStringToObject(c, "grammar", spec);
    cJSON_AddStringToObject(c, "text", text);
    cJSON_AddItemToArray(cases, c);
}

/* Runs gptc batch over the lines; returns the records (an array), checks exit 0. */
static cJSON *run_batch(const char *name, const char *model, const char *lines, const char *flags) {
    return tu_batch_records(name, model, lines, flags, 600);
}

/* Collects the answers: stop -> a case to validate; else it must be length. Returns stops. */
static int collect(cJSON *recs, cJSON *cases, const char *kind, const char *const *specs,
                   int n_specs, int *n_length) {
    int stops = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, recs) {
        const cJSON *err = cJSON_GetObjectItem(r, "error");
        ck_assert_msg(!err, "error record: %s", err ? err->valuestring : "");
        const char *fin = cJSON_GetObjectItem(r, "finish_reason")->valuestring;
        int id = cJSON_GetObjectItem(r, "id")->valueint;
        const char *text = cJSON_GetObjectItem(r, "text")->valuestring;
        if (!strcmp(fin, "stop")) {
            add_case(cases, kind, specs[id % n_specs], text);
            stops++;
        } else {
            ck_assert_msg(!strcmp(fin, "length"), "finish %s", fin);
            /* cut by -n: a GBNF answer must still be a viable prefix of the language */
            if (!strcmp(kind, "gbnf")) add_case(cases, "gbnf-prefix", specs[id % n_specs], text);
            (*n_length)++;
        }
    }
    return stops;
}

START_TEST(test_schema_gpt2_seeds) {
    /* 240 seeds over 4 schemas, response_format per line */
    size_t cap = 1 << 20, n = 0;
    char *lines = malloc(cap);
    for (int i = 0; i < 240; i++) {
        char *esc = NULL;
        cJSON *s = cJSON_Parse(SCHEMAS[i % N_SCHEMAS]);
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "id", i);
        cJSON_AddStringToObject(line, "prompt", "JSON:");
        cJSON_AddNumberToObject(line, "seed", i + 1);
        cJSON_AddNumberToObject(line, "temperature", 1);
        cJSON_AddNumberToObject(line, "n_predict", 80);
        cJSON *rf = cJSON_AddObjectToObject(line, "response_format");
        cJSON_AddStringToObject(rf, "type", "json_schema");
        cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
        cJSON_AddStringToObject(js, "name", "answer");
        cJSON_AddItemToObject(js, "schema", s);
        cJSON_AddTrueToObject(js, "strict");
        esc = cJSON_PrintUnformatted(line);
        n += (size_t)snprintf(lines + n, cap - n, "%s\n", esc);
        free(esc);
        cJSON_Delete(line);
    }
    cJSON *recs = run_batch("schema_g2", g2, lines, "");
    free(lines);
    ck_assert_int_eq(cJSON_GetArraySize(recs), 240);
    cJSON *cases = cJSON_CreateArray();
    int n_length = 0;
    int stops = collect(recs, cases, "schema", SCHEMAS, N_SCHEMAS, &n_length);
    fprintf(stderr, "schema/gpt2: %d stop, %d length\n", stops, n_length);
    ck_assert_int_ge(stops, 120); /* most answers end well within 80 tokens */
    tu_check_constrained(cases, "schema_g2");
    cJSON_Delete(cases);
    cJSON_Delete(recs);
}
END_TEST

START_TEST(test_gbnf_gpt2_seeds) {
    /* llama.cpp's grammars (the random model rarely finishes those: the cut answers must be
     * viable prefixes) and a short one that it does finish */
    static const char *const files[] = {"json", "chess", "arithmetic", "list", NULL};
    static const char tiny[] = "root ::= item (\",\" item){0,3} \".\"\n"
                               "item ::= [a-z]{1,6} | [0-9]{1,3} | \"\\\"\" [^\"\\n]{0,5} "
                               "\"\\\"\"\n";
    int all_stops = 0;
    for (int f = 0; f < 5; f++) {
        char path[600], flags[700];
        if (files[f])
            snprintf(path, sizeof path, "test/data/gbnf/%s.gbnf", files[f]);
        else {
            snprintf(path, sizeof path, "%s/tiny.gbnf", tu_tmpdir());
            ck_assert_int_eq(tu_write_file(path, tiny, strlen(tiny)), 0);
        }
        char *grammar = tu_read_file(path, NULL);
        ck_assert_ptr_nonnull(grammar);
        char *lines = malloc(1 << 16);
        size_t n = 0;
        for (int i = 0; i < 40; i++)
            n += (size_t)snprintf(lines + n, (1 << 16) - n,
                                  "{\"id\":%d,\"prompt\":\"x\",\"seed\":%d,\"n_predict\":40}\n", i,
                                  1000 + i);
        snprintf(flags, sizeof flags, "--grammar-file %s --temp 1", path);
        const char *name = files[f] ? files[f] : "tiny";
        cJSON *recs = run_batch(name, g2, lines, flags);
        free(lines);
        ck_assert_int_eq(cJSON_GetArraySize(recs), 40);
        cJSON *cases = cJSON_CreateArray();
        int n_length = 0;
        const char *specs[1] = {grammar};
        int stops = collect(recs, cases, "gbnf", specs, 1, &n_length);
        fprintf(stderr, "gbnf/%s: %d stop, %d length\n", name, stops, n_length);
        if (!files[f]) ck_assert_int_ge(stops, 20);
        all_stops += stops;
        tu_check_constrained(cases, name);
        cJSON_Delete(cases);
        cJSON_Delete(recs);
        free(grammar);
    }
    ck_assert_int_ge(all_stops, 20);
}
END_TEST

START_TEST(test_harmony_oss_seeds) {
    /* gpt-oss: the schema constrains the final channel only; analysis is free text */
    const char *schema = SCHEMAS[0];
    char *lines = malloc(1 << 16);
    size_t n = 0;
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(lines + n, (1 << 16) - n,
                              "{\"id\":%d,\"prompt\":\"Colour?\",\"seed\":%d,\"n_predict\":40}\n",
                              i * (int)N_SCHEMAS, 7 + i);
    char flags[1200];
    snprintf(flags, sizeof flags, "--json-schema '%s' --reasoning-effort low", schema);
    cJSON *recs = run_batch("harmony", oss, lines, flags);
    free(lines);
    ck_assert_int_eq(cJSON_GetArraySize(recs), 32);
    cJSON *cases = cJSON_CreateArray();
    int n_length = 0;
    int stops = collect(recs, cases, "schema", SCHEMAS, N_SCHEMAS, &n_length);
    fprintf(stderr, "harmony/gpt-oss: %d stop, %d length\n", stops, n_length);
    ck_assert_int_ge(stops, 2); /* those that skip the analysis end in the final JSON */
    tu_check_constrained(cases, "harmony");
    /* a length cut: never a final message that the grammar would refuse */
    const cJSON *r;
    cJSON_ArrayForEach(r, recs) {
        if (strcmp(cJSON_GetObjectItem(r, "finish_reason")->valuestring, "stop")) continue;
        ck_assert_int_gt((int)strlen(cJSON_GetObjectItem(r, "text")->valuestring), 1);
    }
    cJSON_Delete(cases);
    cJSON_Delete(recs);
}
END_TEST

START_TEST(test_oneshot) {
    /* one-shot --json-object and --json-schema: stop -> valid, else length */
    cJSON *cases = cJSON_CreateArray();
    int valid = 0;
    for (int seed = 1; seed <= 6; seed++) {
        char cmd[2000];
        snprintf(cmd, sizeof cmd, "%s -m %s -p 'JSON:' -n 100 -s %d --temp 1 --json %s", tu_gptc(),
                 g2, seed,
                 seed % 2 ? "--json-object"
                          : "--json-schema '{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
                            "\"boolean\"}},\"required\":[\"a\"]}'");
        tu_proc p;
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
        ck_assert_msg(p.status == 0, "%s", p.err);
        cJSON *j = cJSON_Parse(p.out);
        ck_assert_ptr_nonnull(j);
        const char *fin = cJSON_GetObjectItem(j, "finish_reason")->valuestring;
        if (!strcmp(fin, "stop")) {
            add_case(cases, "schema",
                     seed % 2
                         ? "{\"type\":\"object\"}"
                         : "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}},"
                           "\"required\":[\"a\"],\"additionalProperties\":false}",
                     cJSON_GetObjectItem(j, "text")->valuestring);
            valid++;
        } else
            ck_assert_str_eq(fin, "length");
        cJSON_Delete(j);
        tu_proc_free(&p);
    }
    ck_assert_int_ge(valid, 1);
    tu_check_constrained(cases, "oneshot");
    cJSON_Delete(cases);
}
END_TEST

START_TEST(test_bad_input) {
    static const struct {
        const char *args, *want;
    } C[] = {
        {"--json-schema '{\"type\":\"object\",\"not\":{}}'",
         "gptc: error: --json-schema: JSON Schema: unsupported JSON Schema keyword 'not' at #\n"},
        {"--grammar 'root ::= x'",
         "gptc: error: --grammar: line 1, column 10: undefined rule 'x'\n"},
        {"--json-schema '{\"type\":'",
         "gptc: error: --json-schema: JSON Schema: invalid JSON at line 1, column 9 (the text ends "
         "too early)\n"},
        {"--json-schema '{\"type\": x}'",
         "gptc: error: --json-schema: JSON Schema: invalid JSON at line 1, column 10\n"},
        {"--json-object --grammar 'root ::= \"a\"'", "gptc: error: use only one of --grammar, "
                                                     "--grammar-file, --json-schema, "
                                                     "--json-schema-file, --json-object\n"},
        {"--grammar-file /nonexistent/g.gbnf", "/nonexistent/g.gbnf"},
        {"--json-schema-file /nonexistent/s.json", "/nonexistent/s.json"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "%s -m %s -p hi -n 3 %s", tu_gptc(), g2, C[i].args);
        tu_proc p;
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
        ck_assert_int_eq(p.status, 1);
        ck_assert_str_eq(p.out, "");
        ck_assert_msg(strstr(p.err, C[i].want), "%s: got %s", C[i].args, p.err);
        ck_assert_int_eq((int)(strchr(p.err, '\n') - p.err), (int)strlen(p.err) - 1); /* 1 line */
        tu_proc_free(&p);
    }
    /* batch: a bad response_format is an error record; the other lines go on */
    const char *lines =
        "{\"id\":1,\"prompt\":\"x\",\"n_predict\":5,\"response_format\":{\"type\":\"xml\"}}\n"
        "{\"id\":2,\"prompt\":\"x\",\"n_predict\":5,\"response_format\":{\"type\":\"json_schema\","
        "\"json_schema\":{\"name\":\"a\",\"schema\":{\"type\":\"object\",\"if\":{}}}}}\n"
        "{\"id\":3,\"prompt\":\"x\",\"n_predict\":5,\"response_format\":{\"type\":\"json_object\"}}"
        "\n"
        "{\"id\":4,\"prompt\":\"x\",\"n_predict\":5,\"response_format\":{\"type\":\"text\"}}\n";
    cJSON *recs = run_batch("bad_rf", g2, lines, "");
    ck_assert_int_eq(cJSON_GetArraySize(recs), 4);
    int errors = 0, ok = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, recs) {
        const cJSON *e = cJSON_GetObjectItem(r, "error");
        if (e) {
            errors++;
            ck_assert(strstr(e->valuestring, "type must be") || strstr(e->valuestring, "'if'"));
        } else
            ok++;
    }
    ck_assert_int_eq(errors, 2);
    ck_assert_int_eq(ok, 2);
    cJSON_Delete(recs);
    /* a grammar the matcher cannot follow within its bound on parser states (lowered here to
     * one state by GPTC_MATCHER_MAX_STATES): one error line and exit 3, one-shot and batch,
     * never a silent "stop" */
    const char *runs[] = {"-p hi -n 3 --grammar 'root ::= \"a\"+'",
                          "batch -i %s -o %s/bound.jsonl --grammar 'root ::= \"a\"+'"};
    char in[600];
    snprintf(in, sizeof in, "%s/bound-in.jsonl", tu_tmpdir());
    const char *line = "{\"id\":1,\"prompt\":\"x\"}\n";
    ck_assert_int_eq(tu_write_file(in, line, strlen(line)), 0);
    for (int i = 0; i < 2; i++) {
        char args[1500], cmd[3000];
        snprintf(args, sizeof args, runs[i], in, tu_tmpdir());
        snprintf(cmd, sizeof cmd, "GPTC_MATCHER_MAX_STATES=1 %s %s -m %s", tu_gptc(), args, g2);
        tu_proc p;
        ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
        tu_assert_one_error(&p, 3, args);
        ck_assert_msg(strstr(p.err, "constrained decoding stopped: the grammar is too ambiguous"),
                      "%s", p.err);
        tu_proc_free(&p);
    }
}
END_TEST

START_TEST(test_chat_format) {
    char path[600], cmd[1400];
    snprintf(path, sizeof path, "%s/s.json", tu_tmpdir());
    const char *schema = "{\"type\":\"object\",\"properties\":{\"k\":{\"enum\":[\"yes\",\"no\"]}},"
                         "\"required\":[\"k\"],\"additionalProperties\":false}";
    ck_assert_int_eq(tu_write_file(path, schema, strlen(schema)), 0);
    char in[1000];
    snprintf(in, sizeof in, "/format schema %s\nQ1\n/format off\nQ2\n/format json\nQ3\n/format\n",
             path);
    snprintf(cmd, sizeof cmd, "%s chat -m %s -n 40 -s 2 --color never", tu_gptc(), g2);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, in, strlen(in), 120, &p), 0);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "answers are constrained"));
    ck_assert_ptr_nonnull(strstr(p.err, "answers are free"));
    ck_assert_ptr_nonnull(strstr(p.err, "usage: /format json | schema FILE | off"));
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cli_constrain");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_schema_gpt2_seeds);
    tcase_add_test(tc, test_gbnf_gpt2_seeds);
    tcase_add_test(tc, test_harmony_oss_seeds);
    tcase_add_test(tc, test_oneshot);
    tcase_add_test(tc, test_chat_format);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
