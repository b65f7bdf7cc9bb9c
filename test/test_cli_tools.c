/* test_cli_tools.c — function calling through the program, on the CPU: a tiny random gpt-oss
 * model (the real o200k tokenizer) whose generations are scripted with GPTC_TEST_SCRIPT (its
 * tokens come from a line of harmony text instead of the sampler; scripted.h), so the calls are
 * the ones gpt-oss writes. One-shot --json reports OpenAI's tool_calls; chat runs --tool-exec
 * (docs/tools/demo-tool.py: (17 + 4) * 3 is worked out by hand as 63), or takes a typed result,
 * or a refusal, and continues; /save keeps it all and renders as gpt-oss's Jinja template does.
 * Also the tool runner itself: stdin, GPTC_TOOL_NAME, exit status, time limit, output cap. */
#include <cJSON.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/toolexec.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char oss[512];
#define TOOLS "docs/tools/tools.json"
#define WEATHER_TOOLS                                                                              \
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": "        \
    "\"Weather.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"location\": "         \
    "{\"type\": \"string\"}}, \"required\": [\"location\"]}}}]"

/* gptc with scripted tokens (GPTC_TEST_SCRIPT) through sh, 120 s limit */
#define run(p, script, stdin_text, ...) tu_gptc_script_sh(p, 120, script, stdin_text, __VA_ARGS__)

/* One-shot --json: the call in OpenAI's shape, finish_reason tool_calls. */
START_TEST(test_oneshot_json) {
    char tools[600];
    snprintf(tools, sizeof tools, "%s", tu_tmpfile_with("weather.json", WEATHER_TOOLS));
    static const char *variants[] = {
        /* as documented, and as models also write it */
        "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>"
        "commentary to=functions.get_weather <|constrain|>json<|message|>{\"location\":\"Tokyo\"}"
        "<|call|>\n",
        " to=functions.get_weather<|channel|>commentary json<|message|>{\"location\":\"Tokyo\"}"
        "<|call|>\n",
        "<|channel|>commentary to=functions.get_weatherjson<|message|>{\"location\":\"Tokyo\"}"
        "<|call|>\n",
        "<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>"
        "{\"location\":\"Tokyo\"}<|call|>\n",
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        const char *script = tu_tmpfile_with("script.txt", variants[v]);
        tu_proc p;
        run(&p, script, NULL, "-m %s -p 'Weather in Tokyo?' --tools %s --json -s 1", oss, tools);
        ck_assert_msg(p.status == 0, "variant %zu: %s", v, p.err);
        cJSON *j = cJSON_Parse(p.out);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "tool_calls");
        ck_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring, "");
        if (v == 0)
            ck_assert_str_eq(cJSON_GetObjectItem(j, "reasoning")->valuestring, "Need the weather.");
        cJSON *tc = cJSON_GetObjectItem(j, "tool_calls");
        ck_assert_int_eq(cJSON_GetArraySize(tc), 1);
        cJSON *c = cJSON_GetArrayItem(tc, 0);
        const char *id = cJSON_GetObjectItem(c, "id")->valuestring;
        ck_assert_msg(!strncmp(id, "call_", 5) && strlen(id) > 10, "id %s", id);
        ck_assert_str_eq(cJSON_GetObjectItem(c, "type")->valuestring, "function");
        cJSON *fn = cJSON_GetObjectItem(c, "function");
        ck_assert_str_eq(cJSON_GetObjectItem(fn, "name")->valuestring, "get_weather");
        cJSON *args = cJSON_GetObjectItem(fn, "arguments");
        ck_assert(cJSON_IsString(args)); /* a JSON string, as OpenAI's API gives it */
        cJSON *a = cJSON_Parse(args->valuestring);
        ck_assert_str_eq(cJSON_GetObjectItem(a, "location")->valuestring, "Tokyo");
        cJSON_Delete(a);
        cJSON_Delete(j);
        tu_proc_free(&p);
    }
    /* without --json: the answer on stdout, the call on stderr */
    const char *script = tu_tmpfile_with("script.txt", variants[0]);
    tu_proc p;
    run(&p, script, NULL, "-m %s -p 'Weather?' --tools %s -s 1", oss, tools);
    ck_assert_int_eq(p.status, 0);
    ck_assert_uint_eq(p.out_len, 0);
    ck_assert_ptr_nonnull(strstr(p.err, "tool call: get_weather {\"location\":\"Tokyo\"}"));
    tu_proc_free(&p);
    /* an answer without calls: no tool_calls, finish stop */
    script = tu_tmpfile_with("script.txt", "<|channel|>final<|message|>Hello.<|return|>\n");
    run(&p, script, NULL, "-m %s -p 'Hi' --tools %s --json -s 1", oss, tools);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring, "Hello.");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "stop");
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "tool_calls"));
    cJSON_Delete(j);
    tu_proc_free(&p);
    /* --tool-exec is a chat option */
    run(&p, NULL, NULL, "-m %s -p hi --tool-exec true", oss);
    ck_assert_int_eq(p.status, 1);
    ck_assert_ptr_nonnull(strstr(p.err, "gptc: error: --tool-exec"));
    tu_proc_free(&p);
}
END_TEST

/* --messages in a one-shot run: the prompt is exactly gptc render's. */
START_TEST(test_oneshot_messages) {
    const char *msgs = tu_tmpfile_with(
        "msgs.json",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Weather?\"}, {\"role\": "
        "\"assistant\", \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\", "
        "\"function\": {\"name\": \"get_weather\", \"arguments\": "
        "\"{\\\"location\\\": \\\"Oslo\\\"}\"}}]}, {\"role\": \"tool\", "
        "\"tool_call_id\": \"c1\", \"content\": \"rain\"}], \"tools\": " WEATHER_TOOLS "}");
    tu_proc p, q;
    run(&p, NULL, NULL, "-m %s --messages %s -n 2 --json -s 1 < /dev/null", oss, msgs);
    ck_assert_msg(p.status == 0, "%s", p.err);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    int prompt_tokens =
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "timings"), "prompt_tokens")->valueint;
    cJSON_Delete(j);
    run(&q, NULL, NULL, "render -m %s --messages %s --ids", oss, msgs);
    ck_assert_int_eq(q.status, 0);
    int n = 0;
    for (char *s = strtok(q.out, " \n"); s; s = strtok(NULL, " \n")) n++;
    ck_assert_int_eq(prompt_tokens, n);
    ck_assert_int_gt(n, 100);
    tu_proc_free(&p);
    tu_proc_free(&q);
}
END_TEST

static cJSON *saved_messages(const char *path, cJSON **root) {
    char *s = tu_read_file(path, NULL);
    ck_assert_ptr_nonnull(s);
    *root = cJSON_Parse(s);
    free(s);
    ck_assert_ptr_nonnull(*root);
    return cJSON_GetObjectItem(*root, "messages");
}

#define CALC_SCRIPT                                                                                \
    "<|channel|>analysis<|message|>Use calc.<|end|><|start|>assistant<|channel|>commentary "       \
    "to=functions.calc <|constrain|>json<|message|>{\"expr\":\"(17 + 4) * 3\"}<|call|>\n"          \
    "<|channel|>final<|message|>It is 63.<|return|>\n"

/* The chat runs the tool, feeds its output back and the model answers. */
START_TEST(test_chat_tool_exec) {
    const char *script = tu_tmpfile_with("chat.txt", CALC_SCRIPT);
    char save[600], in[1400];
    snprintf(save, sizeof save, "%s/tools-conv.json", tu_tmpdir());
    snprintf(in, sizeof in, "What is (17+4)*3?\n/tools\n/save %s\n", save);
    tu_proc p;
    run(&p, script, in, "chat -m %s -s 1 --tools %s --tool-exec docs/tools/demo-tool.py --yes", oss,
        TOOLS);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_str_eq(p.out, "It is 63.\n");
    ck_assert_ptr_nonnull(strstr(p.err, "[tool call] calc {\"expr\":\"(17 + 4) * 3\"}"));
    ck_assert_ptr_nonnull(strstr(p.err, "calc "));                  /* /tools */
    ck_assert_ptr_nonnull(strstr(p.err, "The current local date")); /* /tools: now */
    tu_proc_free(&p);
    cJSON *root;
    cJSON *m = saved_messages(save, &root);
    ck_assert_int_eq(cJSON_GetArraySize(m), 4);
    cJSON *call = cJSON_GetArrayItem(m, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(call, "role")->valuestring, "assistant");
    ck_assert_str_eq(cJSON_GetObjectItem(call, "thinking")->valuestring, "Use calc.");
    cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(call, "tool_calls"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "function"), "name")->valuestring,
                     "calc");
    cJSON *res = cJSON_GetArrayItem(m, 2);
    ck_assert_str_eq(cJSON_GetObjectItem(res, "role")->valuestring, "tool");
    ck_assert_str_eq(cJSON_GetObjectItem(res, "content")->valuestring, "63");
    ck_assert_str_eq(cJSON_GetObjectItem(res, "tool_call_id")->valuestring,
                     cJSON_GetObjectItem(tc, "id")->valuestring);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 3), "content")->valuestring,
                     "It is 63.");

    /* the saved conversation renders as gpt-oss's template renders it (Jinja) */
    cJSON_AddStringToObject(root, "name", "saved");
    char *line = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    const char *cases = tu_tmpfile_with("saved.jsonl", line);
    free(line);
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "python3 scripts/render_ref.py test/data/gpt-oss-chat-template.jinja %s 2025-06-28 "
             "%s/saved-ref",
             cases, tu_tmpdir());
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_msg(p.status == 0, "%s", p.err);
    tu_proc_free(&p);
    snprintf(cmd, sizeof cmd, "%s/saved-ref/saved.txt", tu_tmpdir());
    size_t wlen = 0;
    char *want = tu_read_file(cmd, &wlen);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(strstr(want, "<|start|>functions.calc to=assistant<|channel|>commentary"
                                       "<|message|>\"63\"<|end|>"));
    run(&p, NULL, NULL, "render -m %s --messages %s --date 2025-06-28", oss, save);
    ck_assert_int_eq(p.status, 0);
    ck_assert_uint_eq(p.out_len, wlen);
    ck_assert(!memcmp(p.out, want, wlen));
    free(want);
    tu_proc_free(&p);

    /* /load brings it back: the next turn continues after the tool exchange */
    snprintf(in, sizeof in, "/load %s\n/save %s.2\n", save, save);
    run(&p, NULL, in, "chat -m %s -s 1", oss);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "loaded 4 messages"));
    tu_proc_free(&p);
    snprintf(cmd, sizeof cmd, "%s.2", save);
    m = saved_messages(cmd, &root);
    ck_assert_int_eq(cJSON_GetArraySize(m), 4);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "tools")), 2);
    cJSON_Delete(root);
}
END_TEST

/* Without --tool-exec the user types the result; with it but no --yes, a refusal is a result
 * too; a call to an undeclared function is no call: its text is the answer. */
START_TEST(test_chat_typed_and_declined) {
    const char *script = tu_tmpfile_with("chat2.txt", CALC_SCRIPT);
    char save[600], in[1400];
    snprintf(save, sizeof save, "%s/typed.json", tu_tmpdir());
    snprintf(in, sizeof in, "What is (17+4)*3?\n63 (typed)\n/save %s\n", save);
    tu_proc p;
    run(&p, script, in, "chat -m %s -s 1 --tools %s", oss, TOOLS);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "result of calc"));
    ck_assert_str_eq(p.out, "It is 63.\n");
    tu_proc_free(&p);
    cJSON *root;
    cJSON *m = saved_messages(save, &root);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 2), "content")->valuestring,
                     "63 (typed)");
    cJSON_Delete(root);

    snprintf(in, sizeof in, "What is (17+4)*3?\nn\n/save %s\n", save);
    run(&p, script, in, "chat -m %s -s 1 --tools %s --tool-exec docs/tools/demo-tool.py", oss,
        TOOLS);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_ptr_nonnull(strstr(p.err, "run docs/tools/demo-tool.py for calc? [y/N]"));
    tu_proc_free(&p);
    m = saved_messages(save, &root);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 2), "content")->valuestring,
                     "The user declined to run this tool.");
    cJSON_Delete(root);

    const char *bad = tu_tmpfile_with(
        "chat3.txt", "<|channel|>commentary to=functions.rm_rf <|constrain|>json<|message|>{}"
                     "<|call|>\n<|channel|>final<|message|>Sorry.<|return|>\n");
    /* a call to an undeclared function (the script leaves the grammar, as an unconstrained
     * model could): no call, nothing runs; its text is the answer, and -v says why */
    snprintf(in, sizeof in, "Delete everything\n/save %s\n", save);
    run(&p, bad, in, "chat -m %s -s 1 -v --tools %s --tool-exec 'echo RAN' --yes", oss, TOOLS);
    ck_assert_msg(p.status == 0, "%s", p.err);
    ck_assert_str_eq(p.out, "{}\n");
    ck_assert_ptr_null(strstr(p.err, "RAN"));
    ck_assert_ptr_nonnull(strstr(p.err, "gptc: note: a malformed channel header"));
    tu_proc_free(&p);
    m = saved_messages(save, &root);
    ck_assert_int_eq(cJSON_GetArraySize(m), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "content")->valuestring, "{}");
    cJSON_Delete(root);
}
END_TEST

/* The runner: stdin, GPTC_TOOL_NAME, status, time limit, output cap. */
START_TEST(test_toolexec) {
    toolexec_result r;
    ck_assert_int_eq(
        toolexec_run("cat; printf ' %s' \"$GPTC_TOOL_NAME\"", "calc", "{\"a\": 1}", 10, 1000, &r),
        0);
    ck_assert_str_eq(r.out, "{\"a\": 1} calc");
    ck_assert_int_eq(r.status, 0);
    toolexec_result_free(&r);

    ck_assert_int_eq(toolexec_run("echo oops; exit 3", "x", "{}", 10, 1000, &r), 0);
    ck_assert_int_eq(r.status, 3);
    char *t = toolexec_result_text(&r);
    ck_assert_str_eq(t, "oops\n[exit status 3]");
    free(t);
    toolexec_result_free(&r);

    double t0 = tu_now_s();
    ck_assert_int_eq(toolexec_run("sleep 20", "x", "{}", 0.5, 1000, &r), 0);
    ck_assert_int_eq(r.timed_out, 1);
    ck_assert(tu_now_s() - t0 < 10);
    toolexec_result_free(&r);

    /* a program that closes stdout but keeps running is stopped at the limit too */
    t0 = tu_now_s();
    ck_assert_int_eq(toolexec_run("exec >/dev/null; sleep 20", "x", "{}", 0.5, 1000, &r), 0);
    ck_assert_int_eq(r.timed_out, 1);
    ck_assert(tu_now_s() - t0 < 10);
    toolexec_result_free(&r);

    ck_assert_int_eq(toolexec_run("yes 0123456789", "x", "{}", 10, 1000, &r), 0);
    ck_assert_int_eq(r.truncated, 1);
    ck_assert_uint_eq(r.len, 1000);
    t = toolexec_result_text(&r);
    ck_assert_ptr_nonnull(strstr(t, "[output cut at 1000 bytes]"));
    free(t);
    toolexec_result_free(&r);

    /* large arguments to a program that never reads them: no deadlock */
    size_t big = 1 << 20;
    char *args = malloc(big + 1);
    memset(args, 'a', big);
    args[big] = 0;
    ck_assert_int_eq(toolexec_run("echo ignored", "x", args, 10, 1000, &r), 0);
    ck_assert_str_eq(r.out, "ignored\n");
    toolexec_result_free(&r);
    ck_assert_int_eq(toolexec_run("wc -c", "x", args, 10, 1000, &r), 0);
    ck_assert_int_eq(atoi(r.out), (int)big);
    toolexec_result_free(&r);
    free(args);
}
END_TEST

int main(void) {
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cli_tools");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_oneshot_json);
    tcase_add_test(tc, test_oneshot_messages);
    tcase_add_test(tc, test_chat_tool_exec);
    tcase_add_test(tc, test_chat_typed_and_declined);
    tcase_add_test(tc, test_toolexec);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
