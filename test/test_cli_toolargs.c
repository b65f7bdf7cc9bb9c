/* test_cli_toolargs.c — tool calls generated under the tools' JSON Schemas, and tool_choice, as
 * a real process on the CPU. A tiny random-weight gpt-oss model (the real o200k tokenizer) at
 * temperature 1 over many seeds: every call it produces must name a declared tool and its
 * arguments must parse and validate against that tool's "parameters" with Python's jsonschema
 * (test/util/check_constrained.py, independent of gptc); tool_choice none never yields a call,
 * required never ends without one, a named choice always calls that tool. One-shot, chat with
 * --tool-exec, and batch lines with tools/tool_choice. A random model forced into a call header
 * (GPTC_TEST_SCRIPT) still finishes the call. Without tools (no constraint) a call-like header
 * is shown as text, never dropped. Bad tool_choice values: one error line, exit 1, or an error
 * record. */
#include <cJSON.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char oss[512];

/* Every schema keyword here is one the converter supports (so nothing falls back): required
 * fields, enums, nested objects, arrays, numbers, booleans, short strings. */
static const char TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"enum\":[\"Oslo\",\"Tokyo\","
    "\"Lima\"]},\"unit\":{\"enum\":[\"c\",\"f\"]},\"days\":{\"type\":\"integer\",\"minimum\":1}},"
    "\"required\":[\"city\",\"days\"],\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"book\",\"description\":\"Book seats.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"who\":{\"type\":\"object\","
    "\"properties\":{\"n\":{\"type\":\"integer\"},\"vip\":{\"type\":\"boolean\"}},\"required\":["
    "\"n\",\"vip\"],\"additionalProperties\":false},\"seats\":{\"type\":\"array\",\"items\":{"
    "\"enum\":[1,2,3]},\"maxItems\":3},\"price\":{\"type\":\"number\"}},\"required\":[\"who\","
    "\"seats\"],\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"note\",\"description\":\"Note.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"level\":{\"enum\":[\"low\",\"high\"]},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":3},\"maxItems\":2},"
    "\"ok\":{\"type\":\"boolean\"}},\"required\":[\"level\"],\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"now\",\"description\":\"The time.\"}}]";

static cJSON *g_tools;

/* The declared tool's parameters (a tool without them takes {}), or NULL when not declared. */
static cJSON *params_of(const char *name) {
    const cJSON *t;
    cJSON_ArrayForEach(t, g_tools) {
        const cJSON *fn = cJSON_GetObjectItem(t, "function");
        if (strcmp(cJSON_GetObjectItem(fn, "name")->valuestring, name)) continue;
        const cJSON *p = cJSON_GetObjectItem(fn, "parameters");
        return p ? cJSON_Duplicate(p, 1)
                 : cJSON_Parse("{\"type\":\"object\",\"additionalProperties\":false}");
    }
    return NULL;
}

static int params_of_ok(const char *name) {
    cJSON *p = params_of(name);
    cJSON_Delete(p);
    return p != NULL;
}

/* gptc with scripted tokens (GPTC_TEST_SCRIPT) through sh, 600 s limit */
#define run(p, script, stdin_text, ...) tu_gptc_script_sh(p, 600, script, stdin_text, __VA_ARGS__)

/* Adds a call's arguments to the cases (the checker validates them against the tool's
 * parameters); the name must be a declared tool. */
static void add_call(cJSON *cases, const char *name, const char *args) {
    cJSON *schema = params_of(name);
    ck_assert_msg(schema != NULL, "a call to '%s', which is not declared", name);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "kind", "schema");
    cJSON_AddItemToObject(c, "schema", schema);
    cJSON_AddStringToObject(c, "text", args);
    cJSON_AddItemToArray(cases, c);
}

/* The calls of a result (one-shot --json or a batch record): each validated; returns how many
 * there are; `only` (may be NULL) is the one name allowed. */
static int check_calls(const cJSON *rec, cJSON *cases, const char *only) {
    const cJSON *tc = cJSON_GetObjectItem(rec, "tool_calls");
    const char *fin = cJSON_GetObjectItem(rec, "finish_reason")->valuestring;
    if (!tc) {
        ck_assert_str_ne(fin, "tool_calls");
        return 0;
    }
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, tc) {
        const cJSON *fn = cJSON_GetObjectItem(c, "function");
        const char *name = cJSON_GetObjectItem(fn, "name")->valuestring;
        ck_assert_msg(params_of_ok(name), "undeclared tool '%s'", name);
        if (only) ck_assert_str_eq(name, only);
        /* a call cut by -n is not checked: only a finished one must be complete */
        if (!strcmp(fin, "tool_calls"))
            add_call(cases, name, cJSON_GetObjectItem(fn, "arguments")->valuestring);
        n++;
    }
    return n;
}

/* Runs gptc batch over the lines; returns the records. */
static cJSON *run_batch(const char *name, const char *lines, const char *flags) {
    return tu_batch_records(name, oss, lines, flags, 900);
}

/* tool_choice of batch line i, and what it allows: 0 auto, 1 none, 2 required, 3 a name */
static const char *const CHOICES[] = {
    "\"auto\"",
    "\"none\"",
    "\"required\"",
    "{\"type\":\"function\",\"function\":{\"name\":\"book\"}}",
    "{\"type\":\"function\",\"function\":{\"name\":\"note\"}}",
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}",
};
static const char *const FORCED[] = {NULL, NULL, NULL, "book", "note", "get_weather"};
#define N_CHOICES 6

START_TEST(test_batch_seeds) {
    size_t cap = 1 << 22, n = 0;
    char *lines = malloc(cap);
    const int N = 120;
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(lines + n, cap - n,
                              "{\"id\":%d,\"prompt\":\"Weather in Oslo?\",\"seed\":%d,"
                              "\"temperature\":1,\"n_predict\":70,\"reasoning_effort\":\"low\","
                              "\"tools\":%s,\"tool_choice\":%s}\n",
                              i, 100 + i, TOOLS, CHOICES[i % N_CHOICES]);
    cJSON *recs = run_batch("seeds", lines, "");
    free(lines);
    ck_assert_int_eq(cJSON_GetArraySize(recs), N);
    cJSON *cases = cJSON_CreateArray();
    int calls[N_CHOICES] = {0}, finished[N_CHOICES] = {0}, answers = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, recs) {
        const cJSON *err = cJSON_GetObjectItem(r, "error");
        ck_assert_msg(!err, "error record: %s", err ? err->valuestring : "");
        int k = cJSON_GetObjectItem(r, "id")->valueint % N_CHOICES;
        const char *fin = cJSON_GetObjectItem(r, "finish_reason")->valuestring;
        int nc = check_calls(r, cases, FORCED[k]);
        if (!strcmp(fin, "tool_calls")) {
            ck_assert_int_eq(nc, 1); /* generation stops at the call */
            finished[k]++;
        }
        calls[k] += nc;
        if (k == 1) { /* none: never a call */
            ck_assert_int_eq(nc, 0);
            ck_assert_msg(!strcmp(fin, "stop") || !strcmp(fin, "length"), "none: %s", fin);
        }
        if (k >= 2) { /* required or named: a call, or cut by -n before it was complete */
            ck_assert_msg(!strcmp(fin, "tool_calls") || !strcmp(fin, "length"), "%s: %s",
                          CHOICES[k], fin);
            ck_assert_str_eq(cJSON_GetObjectItem(r, "text")->valuestring, "");
        }
        if (!strcmp(fin, "stop")) answers++;
    }
    fprintf(stderr,
            "tool calls by choice (finished): auto %d (%d), none %d, required %d (%d), "
            "book %d (%d), note %d (%d), get_weather %d (%d); answers %d\n",
            calls[0], finished[0], calls[1], calls[2], finished[2], calls[3], finished[3], calls[4],
            finished[4], calls[5], finished[5], answers);
    /* the random model reaches a call in a good share of the seeds (the rest wander in the free
     * analysis text until -n): enough finished calls to mean something */
    int total = 0;
    for (int k = 0; k < N_CHOICES; k++) total += finished[k];
    ck_assert_int_ge(total, 25);
    ck_assert_int_ge(finished[2] + finished[3] + finished[4] + finished[5], 15);
    ck_assert_int_ge(cJSON_GetArraySize(cases), total);
    tu_check_constrained(cases, "seeds");
    cJSON_Delete(cases);
    cJSON_Delete(recs);
}
END_TEST

/* A random model forced into a call header (the script's tokens, then sampling under the
 * grammar) finishes the call: finish_reason tool_calls, arguments valid. Both header layouts
 * and the content type as each writes it. */
START_TEST(test_forced_header) {
    static const struct {
        const char *script, *tool;
    } C[] = {
        {"<|channel|>commentary to=functions.book <|constrain|>json<|message|>\n", "book"},
        {" to=functions.note<|channel|>commentary json<|message|>\n", "note"},
        {"<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>commentary "
         "to=functions.get_weather<|message|>\n",
         "get_weather"},
        {"<|channel|>commentary to=functions.now <|constrain|>json<|message|>\n", "now"},
        {"<|channel|>commentary to=functions.note", "note"}, /* the header's end sampled too */
    };
    char tools[600];
    snprintf(tools, sizeof tools, "%s", tu_tmpfile_with("tools.json", TOOLS));
    cJSON *cases = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++)
        for (int seed = 1; seed <= 3; seed++) {
            const char *script = tu_tmpfile_with("forced.txt", C[i].script);
            tu_proc p;
            run(&p, script, NULL, "-m %s -p 'Go' --tools %s --json -s %d --temp 1 -n 300", oss,
                tools, seed);
            ck_assert_msg(p.status == 0, "%s", p.err);
            cJSON *j = cJSON_Parse(p.out);
            ck_assert_ptr_nonnull(j);
            ck_assert_msg(
                !strcmp(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "tool_calls"),
                "case %zu seed %d: %s", i, seed, p.out);
            ck_assert_int_eq(check_calls(j, cases, C[i].tool), 1);
            cJSON_Delete(j);
            tu_proc_free(&p);
        }
    tu_check_constrained(cases, "forced");
    cJSON_Delete(cases);
}
END_TEST

/* One-shot --tool-choice over seeds; bad values are one error line and exit 1. */
START_TEST(test_oneshot_choice) {
    const char *tools = tu_tmpfile_with("tools.json", TOOLS);
    cJSON *cases = cJSON_CreateArray();
    int finished = 0;
    for (int seed = 1; seed <= 12; seed++) {
        const char *choice = seed % 3 == 0 ? "none" : seed % 3 == 1 ? "required" : "note";
        tu_proc p;
        run(&p, NULL, NULL,
            "-m %s -p 'Go' --tools %s --tool-choice %s --json -s %d --temp 1 -n 70 "
            "--reasoning-effort low",
            oss, tools, choice, seed);
        ck_assert_msg(p.status == 0, "%s", p.err);
        cJSON *j = cJSON_Parse(p.out);
        ck_assert_ptr_nonnull(j);
        const char *fin = cJSON_GetObjectItem(j, "finish_reason")->valuestring;
        int nc = check_calls(j, cases, strcmp(choice, "note") ? NULL : "note");
        if (!strcmp(choice, "none"))
            ck_assert_int_eq(nc, 0);
        else
            ck_assert_msg(!strcmp(fin, "tool_calls") || !strcmp(fin, "length"), "%s", fin);
        finished += !strcmp(fin, "tool_calls");
        cJSON_Delete(j);
        tu_proc_free(&p);
    }
    ck_assert_int_ge(finished, 1);
    tu_check_constrained(cases, "oneshot");
    cJSON_Delete(cases);

    static const struct {
        const char *args, *want;
    } B[] = {
        {"--tools %s --tool-choice sometimes",
         "gptc: error: --tool-choice: 'sometimes' is not a declared tool (nor none, auto or "
         "required)\n"},
        {"--tools %s --tool-choice functions.book",
         "gptc: error: --tool-choice: 'functions.book' is not a declared tool (nor none, auto or "
         "required)\n"},
        {"--tool-choice required",
         "gptc: error: --tool-choice: required needs tools (--tools FILE or \"tools\")\n"},
        {"--tool-choice book", "gptc: error: --tool-choice: 'book' is not one of none, auto, "
                               "required (and there are no tools)\n"},
    };
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) {
        char args[1000];
        snprintf(args, sizeof args, B[i].args, tools);
        for (int chat = 0; chat < 2; chat++) {
            tu_proc p;
            if (chat)
                run(&p, NULL, "hi\n", "chat -m %s -n 3 %s", oss, args);
            else
                run(&p, NULL, NULL, "-m %s -p hi -n 3 %s", oss, args);
            tu_assert_one_error(&p, 1, args);
            ck_assert_str_eq(p.err, B[i].want);
            tu_proc_free(&p);
        }
    }
}
END_TEST

/* Chat: the --tool-exec program gets arguments sampled under the schema; the turn finishes. */
START_TEST(test_chat_tool_exec) {
    const char *tools = tu_tmpfile_with("tools.json", TOOLS);
    char got[600], exec[1400];
    snprintf(got, sizeof got, "%s/args.jsonl", tu_tmpdir());
    remove(got);
    snprintf(exec, sizeof exec, "cat >> %s; echo >> %s; echo done", got, got);
    const char *script =
        tu_tmpfile_with("chat.txt", "<|channel|>commentary to=functions.book <|constrain|>json"
                                    "<|message|>\n<|channel|>final<|message|>Booked.<|return|>\n");
    cJSON *cases = cJSON_CreateArray();
    for (int seed = 1; seed <= 3; seed++) {
        tu_proc p;
        run(&p, script, "Book it\n",
            "chat -m %s -s %d --temp 1 -n 300 --tools %s --tool-exec '%s' --yes", oss, seed, tools,
            exec);
        ck_assert_msg(p.status == 0, "%s", p.err);
        ck_assert_str_eq(p.out, "Booked.\n");
        ck_assert_ptr_nonnull(strstr(p.err, "[tool call] book {"));
        tu_proc_free(&p);
    }
    char *lines = tu_read_file(got, NULL);
    ck_assert_ptr_nonnull(lines);
    int n = 0;
    for (char *save = NULL, *ln = strtok_r(lines, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save), n++)
        add_call(cases, "book", ln);
    free(lines);
    ck_assert_int_eq(n, 3);
    tu_check_constrained(cases, "chat");
    cJSON_Delete(cases);
}
END_TEST

/* Without tools nothing constrains the model: a call-like or broken header is shown as text
 * (with a note under -v), never dropped, never a crash; the turn ends normally. */
START_TEST(test_malformed_header) {
    static const struct {
        const char *script, *text;
    } C[] = {
        {"<|channel|>commentary to=functions.foo <|constrain|>json<|message|>{\"a\":1}<|call|>\n",
         "{\"a\":1}"},
        {"<|channel|>commentary to=functions.foo json{\"a\":2}<|call|>\n",
         "commentary to=functions.foo json{\"a\":2}"},
        {"<|channel|>comm<|constrain|>to=<|message|>hello<|return|>\n", "hello"},
        {" to=functions.x<|channel|>commentary json<|message|>{}<|call|>\n", "{}"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        const char *script = tu_tmpfile_with("bad.txt", C[i].script);
        tu_proc p;
        run(&p, script, NULL, "-m %s -p hi --json -s 1 -n 40 -v", oss);
        ck_assert_msg(p.status == 0, "%s", p.err);
        cJSON *j = cJSON_Parse(p.out);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring, C[i].text);
        ck_assert_ptr_null(cJSON_GetObjectItem(j, "tool_calls"));
        ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "stop");
        ck_assert_ptr_nonnull(strstr(p.err, "gptc: note: "));
        cJSON_Delete(j);
        tu_proc_free(&p);
    }
    /* with tools, a recipient that is not declared (the script leaves the grammar) likewise */
    const char *tools = tu_tmpfile_with("tools.json", TOOLS);
    const char *script = tu_tmpfile_with(
        "bad.txt",
        "<|channel|>commentary to=functions.rm <|constrain|>json<|message|>{}<|call|>\n");
    tu_proc p;
    run(&p, script, NULL, "-m %s -p hi --tools %s --json -s 1 -n 40", oss, tools);
    ck_assert_msg(p.status == 0, "%s", p.err);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring, "{}");
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "tool_calls"));
    cJSON_Delete(j);
    tu_proc_free(&p);
}
END_TEST

/* Batch lines: bad tools/tool_choice are error records; the other lines go on. */
START_TEST(test_batch_bad_lines) {
    char lines[8192];
    snprintf(
        lines, sizeof lines,
        "{\"id\":1,\"prompt\":\"x\",\"n_predict\":3,\"tools\":%s,\"tool_choice\":\"sometimes\"}\n"
        "{\"id\":2,\"prompt\":\"x\",\"n_predict\":3,\"tools\":%s,\"tool_choice\":{\"type\":"
        "\"function\",\"function\":{\"name\":\"nope\"}}}\n"
        "{\"id\":3,\"prompt\":\"x\",\"n_predict\":3,\"tool_choice\":\"required\"}\n"
        "{\"id\":4,\"prompt\":\"x\",\"n_predict\":3,\"tools\":{\"a\":1}}\n"
        "{\"id\":5,\"prompt\":\"x\",\"n_predict\":3,\"tools\":%s,\"tool_choice\":7}\n"
        "{\"id\":6,\"prompt\":\"x\",\"n_predict\":3,\"tools\":[{\"type\":\"function\","
        "\"function\":{\"name\":\"a b\"}}]}\n"
        "{\"id\":7,\"prompt\":\"x\",\"n_predict\":3,\"tools\":%s,\"tool_choice\":\"none\"}\n"
        "{\"id\":8,\"prompt\":\"x\",\"n_predict\":3,\"tool_choice\":\"auto\"}\n",
        TOOLS, TOOLS, TOOLS, TOOLS);
    cJSON *recs = run_batch("bad", lines, "");
    ck_assert_int_eq(cJSON_GetArraySize(recs), 8);
    const cJSON *r;
    int errors = 0;
    cJSON_ArrayForEach(r, recs) {
        int id = cJSON_GetObjectItem(r, "id")->valueint;
        const cJSON *e = cJSON_GetObjectItem(r, "error");
        if (id >= 7) {
            ck_assert_msg(!e, "line %d: %s", id, e ? e->valuestring : "");
            continue;
        }
        ck_assert_msg(e && cJSON_IsString(e), "line %d has no error", id);
        ck_assert_msg(strstr(e->valuestring, id == 4 || id == 6 ? "\"tools\"" : "\"tool_choice\""),
                      "line %d: %s", id, e->valuestring);
        errors++;
    }
    ck_assert_int_eq(errors, 6);
    cJSON_Delete(recs);
}
END_TEST

/* batch --tools FILE --tool-choice C: the defaults of lines without their own */
START_TEST(test_batch_flags) {
    char tools[600], flags[800];
    snprintf(tools, sizeof tools, "%s", tu_tmpfile_with("tools.json", TOOLS));
    char lines[4096];
    size_t n = 0;
    for (int i = 0; i < 12; i++)
        n += (size_t)snprintf(lines + n, sizeof lines - n,
                              "{\"id\":%d,\"prompt\":\"x\",\"seed\":%d,\"n_predict\":70%s}\n", i,
                              300 + i, i % 4 == 3 ? ",\"tool_choice\":\"none\"" : "");
    snprintf(flags, sizeof flags, "--tools %s --tool-choice note --temp 1", tools);
    cJSON *recs = run_batch("flags", lines, flags);
    ck_assert_int_eq(cJSON_GetArraySize(recs), 12);
    cJSON *cases = cJSON_CreateArray();
    int finished = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, recs) {
        ck_assert_ptr_null(cJSON_GetObjectItem(r, "error"));
        int id = cJSON_GetObjectItem(r, "id")->valueint;
        int nc = check_calls(r, cases, "note");
        const char *fin = cJSON_GetObjectItem(r, "finish_reason")->valuestring;
        if (id % 4 == 3)
            ck_assert_int_eq(nc, 0); /* the line's own "none" */
        else
            ck_assert_msg(!strcmp(fin, "tool_calls") || !strcmp(fin, "length"), "%s", fin);
        finished += !strcmp(fin, "tool_calls");
    }
    ck_assert_int_ge(finished, 3);
    tu_check_constrained(cases, "flags");
    cJSON_Delete(cases);
    cJSON_Delete(recs);
    /* a bad flag with --tools: one error line, exit 1 */
    tu_proc p;
    run(&p, NULL, NULL, "batch -m %s -i /dev/null -o - --tools %s --tool-choice sometimes", oss,
        tools);
    tu_assert_one_error(&p, 1, "batch --tool-choice sometimes");
    ck_assert_ptr_nonnull(strstr(p.err, "'sometimes' is not a declared tool"));
    tu_proc_free(&p);
}
END_TEST

int main(void) {
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    g_tools = cJSON_Parse(TOOLS);
    Suite *s = suite_create("cli_toolargs");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_batch_bad_lines);
    tcase_add_test(tc, test_malformed_header);
    tcase_add_test(tc, test_forced_header);
    tcase_add_test(tc, test_oneshot_choice);
    tcase_add_test(tc, test_chat_tool_exec);
    tcase_add_test(tc, test_batch_flags);
    tcase_add_test(tc, test_batch_seeds);
    suite_add_tcase(s, tc);
    int nf = tu_suite_failures(s, 0);
    cJSON_Delete(g_tools);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
