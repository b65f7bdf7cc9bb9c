/* test_cli_batch_openai.c — gptc batch on files in OpenAI's Batch API format, through the
 * program, on a tiny random gpt-oss model (the real o200k tokenizer) on the CPU. Every output line
 * is validated with the standard jsonschema package (test/util/check_openai_batch.py) against
 * schemas derived from OpenAI's OpenAPI description (test/data/openai/, README there), and the
 * test's own good input lines against the input-line schema. Also: one record per line, error
 * records (wrong types, method, url, not JSON, duplicate custom_id) naming their line; n > 1
 * gives n choices 0..n-1, whose shared prefill gives the same greedy answer as a line of its own;
 * logit_bias forces a token; /v1/completions answers a text_completion with legacy logprobs;
 * resume after a record cut short; --order input under --parallel; a conversation with tool
 * calls and a tool result renders to as many tokens as `gptc render` makes of it, and a scripted
 * tool call (GPTC_TEST_SCRIPT) comes back as OpenAI's tool_calls. */
#include <cJSON.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char oss[512];
#define SCHEMAS "test/data/openai"

static const char *tmp(const char *name) {
    static char path[8][600];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 600, "%s/%s", tu_tmpdir(), name);
    return p;
}

static const char *file_with(const char *name, const char *text) {
    const char *p = tmp(name);
    ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
    return p;
}

/* Runs `gptc ARGS` (with GPTC_TEST_SCRIPT=script when given); exit status must be 0. */
static void gptc(const char *script, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gptc(const char *script, const char *fmt, ...) {
    char args[4000], cmd[5000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "GPTC_TEST_SCRIPT=%s %s %s", script ? script : "", tu_gptc(), args);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 240, &p), 0);
    ck_assert_msg(p.status == 0, "gptc %s: exit %d: %s", args, p.status, p.err);
    tu_proc_free(&p);
}

/* check_openai_batch.py MODE FILE must say "ok N" with N = lines */
static void validate(const char *mode, const char *path, int lines) {
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "python3 test/util/check_openai_batch.py %s %s %s", SCHEMAS, mode,
             path);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    char want[32];
    snprintf(want, sizeof want, "ok %d\n", lines);
    ck_assert_msg(p.status == 0 && !strcmp(p.out, want), "%s %s: %s%s", mode, path, p.out, p.err);
    tu_proc_free(&p);
}

/* The records of an output file, in file order. */
typedef struct recs {
    cJSON *r[64];
    int n;
} recs;

static void read_recs(const char *path, recs *rs) {
    memset(rs, 0, sizeof *rs);
    char *txt = tu_read_file(path, NULL);
    ck_assert_ptr_nonnull(txt);
    for (char *save = NULL, *ln = strtok_r(txt, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        ck_assert_int_lt(rs->n, 64);
        rs->r[rs->n] = cJSON_Parse(ln);
        ck_assert_msg(rs->r[rs->n] != NULL, "not JSON: %s", ln);
        rs->n++;
    }
    free(txt);
}

static void free_recs(recs *rs) {
    for (int i = 0; i < rs->n; i++) cJSON_Delete(rs->r[i]);
}

/* The record of custom_id cid: its result (errors 0) or its error record (errors 1); exactly
 * one must be there. */
static const cJSON *find(const recs *rs, const char *cid, int errors) {
    const cJSON *found = NULL;
    for (int i = 0; i < rs->n; i++) {
        const cJSON *c = cJSON_GetObjectItem(rs->r[i], "custom_id");
        int is_err = !cJSON_IsNull(cJSON_GetObjectItem(rs->r[i], "error"));
        if (cJSON_IsString(c) && !strcmp(c->valuestring, cid) && is_err == errors) {
            ck_assert_msg(!found, "custom_id %s twice", cid);
            found = rs->r[i];
        }
    }
    ck_assert_msg(found != NULL, "no %s for %s", errors ? "error record" : "result", cid);
    return found;
}
#define by_custom_id(rs, cid) find(rs, cid, 0)
#define error_of(rs, cid) find(rs, cid, 1)

static const cJSON *body_of(const cJSON *rec) {
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rec, "error")));
    const cJSON *resp = cJSON_GetObjectItem(rec, "response");
    ck_assert_int_eq(cJSON_GetObjectItem(resp, "status_code")->valueint, 200);
    return cJSON_GetObjectItem(resp, "body");
}

/* An error record for input line `line` whose message mentions `what`. */
static void expect_error(const cJSON *rec, int line, const char *what) {
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rec, "response")));
    const cJSON *e = cJSON_GetObjectItem(rec, "error");
    const char *m = cJSON_GetObjectItem(e, "message")->valuestring;
    char want[32];
    snprintf(want, sizeof want, "line %d: ", line);
    ck_assert_msg(!strncmp(m, want, strlen(want)) && strstr(m, what), "line %d: %s", line, m);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(e, "code")));
}

#define CHAT(cid, body)                                                                            \
    "{\"custom_id\":\"" cid                                                                        \
    "\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":" body "}\n"
#define HI "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]"

/* The good lines (validated as OpenAI input lines too), then the bad ones. */
static const char *GOOD =
    CHAT("full", "{\"model\":\"gpt-oss-20b\",\"messages\":[{\"role\":\"system\",\"content\":\"Be "
                 "brief.\"},{\"role\":\"developer\",\"content\":\"Answer in French.\"},{\"role\":"
                 "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello \"},{\"type\":"
                 "\"text\",\"text\":\"there\"}]}],\"max_completion_tokens\":6,\"temperature\":"
                 "0.7,\"top_p\":0.9,\"seed\":5,\"stop\":[\"zz\",\"yy\"],\"reasoning_effort\":"
                 "\"low\",\"logprobs\":true,\"top_logprobs\":2,\"user\":\"ignored\","
                 "\"unknown_field\":{\"x\":1}}")
        CHAT("n3", "{" HI ",\"max_tokens\":4,\"n\":3,\"temperature\":0,\"stop\":\"zz\"}")
            CHAT("one", "{" HI ",\"max_tokens\":4,\"temperature\":0}") CHAT(
                "bias", "{" HI ",\"max_tokens\":4,\"logit_bias\":{\"1000\":100},\"logprobs\":true}")
                CHAT("json", "{" HI ",\"max_tokens\":3,\"response_format\":{\"type\":\"json_"
                             "object\"}}") "{\"custom_id\":\"cmpl\",\"method\":\"POST\","
                                           "\"url\":\"/v1/completions\",\"body\":{\"model\":"
                                           "\"x\",\"prompt\":\"Once upon a "
                                           "time\",\"max_tokens\":3,\"logprobs\":2}}\n";
#define N_GOOD 6
#define E2 "\xC3\xA9"
#define ROLE30                                                                                     \
    E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2
static const char *BAD = CHAT("t-temp", "{" HI ",\"temperature\":\"hot\"}") /* line 7 */
    "{\"custom_id\":\"t-get\",\"method\":\"GET\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n"
    "{\"custom_id\":\"t-url\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{}}\n"
    "this is not json\n" /* line 10 */
    "{\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{" HI
    "}}\n" CHAT("t-content", "{\"messages\":[{\"role\":\"user\",\"content\":17}]}") /* line 12 */
    CHAT("t-n", "{" HI ",\"n\":0}") CHAT("one", "{" HI "}") /* line 14: duplicate */
    CHAT("t-stop", "{" HI ",\"stop\":5}")
        CHAT("t-lp", "{" HI ",\"logprobs\":\"yes\"}") /* line 16 */
    CHAT("t-bias", "{" HI ",\"logit_bias\":[1]}")
        CHAT("t-tools", "{" HI ",\"tools\":{\"type\":\"function\"}}") /* line 18 */
    /* line 19: an unknown role of 'a' and 30 e-acutes (61 bytes); the error quotes 40 bytes at
     * most, cut at a character boundary (39 here), so the record stays valid UTF-8 (found by the
     * batch_line fuzzer: the cut fell inside a character) */
    CHAT("t-role", "{\"messages\":[{\"role\":\"a" ROLE30 "\",\"content\":\"x\"}]}")
    /* line 20: the same 61 bytes as a logit_bias key: quoted the same way */
    CHAT("t-bias2", "{" HI ",\"logit_bias\":{\"a" ROLE30 "\":1}}");
#define N_BAD 14

START_TEST(test_chat_lines_validate) {
    const char *good = file_with("good.jsonl", GOOD);
    validate("input", good, N_GOOD);
    char *all = malloc(strlen(GOOD) + strlen(BAD) + 1);
    ck_assert_ptr_nonnull(all);
    strcpy(all, GOOD);
    strcat(all, BAD);
    const char *in = file_with("in.jsonl", all), *out = tmp("out.jsonl");
    free(all);
    unlink(out);
    gptc(NULL, "batch -m %s -i %s -o %s -t 2 -c 512 --parallel 2", oss, in, out);
    validate("output", out, N_GOOD + N_BAD);
    recs rs;
    read_recs(out, &rs);
    ck_assert_int_eq(rs.n, N_GOOD + N_BAD);

    /* "full": every field taken, the unknown ones ignored */
    const cJSON *b = body_of(by_custom_id(&rs, "full"));
    ck_assert_str_eq(cJSON_GetObjectItem(b, "object")->valuestring, "chat.completion");
    const cJSON *ch = cJSON_GetObjectItem(b, "choices");
    ck_assert_int_eq(cJSON_GetArraySize(ch), 1);
    const cJSON *c0 = cJSON_GetArrayItem(ch, 0);
    const cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "logprobs"), "content");
    const cJSON *usage = cJSON_GetObjectItem(b, "usage");
    int ct = cJSON_GetObjectItem(usage, "completion_tokens")->valueint;
    ck_assert_int_le(ct, 6);
    ck_assert_int_eq(cJSON_GetObjectItem(usage, "total_tokens")->valueint,
                     ct + cJSON_GetObjectItem(usage, "prompt_tokens")->valueint);
    const cJSON *e;
    cJSON_ArrayForEach(e, content) {
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(e, "top_logprobs")), 2);
    }

    /* n = 3: choices 0, 1, 2; greedy, so all equal to the answer of the same prompt alone
     * ("one": its own prefill, where the three share one) */
    b = body_of(by_custom_id(&rs, "n3"));
    ch = cJSON_GetObjectItem(b, "choices");
    ck_assert_int_eq(cJSON_GetArraySize(ch), 3);
    const char *alone =
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(
                cJSON_GetArrayItem(
                    cJSON_GetObjectItem(body_of(by_custom_id(&rs, "one")), "choices"), 0),
                "message"),
            "content")
            ->valuestring;
    int tokens = 0;
    for (int k = 0; k < 3; k++) {
        const cJSON *c = cJSON_GetArrayItem(ch, k);
        ck_assert_int_eq(cJSON_GetObjectItem(c, "index")->valueint, k);
        ck_assert_str_eq(
            cJSON_GetObjectItem(cJSON_GetObjectItem(c, "message"), "content")->valuestring, alone);
        ck_assert(cJSON_IsNull(cJSON_GetObjectItem(c, "logprobs")));
    }
    (void)tokens;

    /* logit_bias +100 on token 1000: every token of the answer is 1000 */
    b = body_of(by_custom_id(&rs, "bias"));
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "choices"), 0);
    content = cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "logprobs"), "content");
    ck_assert_int_eq(cJSON_GetArraySize(content), 4);
    const char *tok0 = cJSON_GetObjectItem(cJSON_GetArrayItem(content, 0), "token")->valuestring;
    char four[256] = "";
    cJSON_ArrayForEach(e, content) {
        ck_assert_str_eq(cJSON_GetObjectItem(e, "token")->valuestring, tok0);
        strncat(four, tok0, sizeof four - strlen(four) - 1);
    }
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "message"), "content")->valuestring, four);

    /* /v1/completions: a text_completion with the legacy logprobs, 2 alternatives a token */
    b = body_of(by_custom_id(&rs, "cmpl"));
    ck_assert_str_eq(cJSON_GetObjectItem(b, "object")->valuestring, "text_completion");
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "choices"), 0);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(c0, "text")));
    const cJSON *lp = cJSON_GetObjectItem(c0, "logprobs");
    ck_assert_int_eq(
        cJSON_GetArraySize(cJSON_GetObjectItem(lp, "tokens")),
        cJSON_GetObjectItem(cJSON_GetObjectItem(b, "usage"), "completion_tokens")->valueint);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(lp, "top_logprobs")) {
        ck_assert_int_ge(cJSON_GetArraySize(e), 1); /* two, unless two alternatives share text */
        ck_assert_int_le(cJSON_GetArraySize(e), 2);
    }

    /* the bad lines: one error record each, naming the line */
    expect_error(error_of(&rs, "t-temp"), 7, "temperature");
    expect_error(error_of(&rs, "t-get"), 8, "method");
    expect_error(error_of(&rs, "t-url"), 9, "url");
    expect_error(error_of(&rs, "t-content"), 12, "content");
    expect_error(error_of(&rs, "t-n"), 13, "\"n\"");
    expect_error(error_of(&rs, "t-stop"), 15, "stop");
    expect_error(error_of(&rs, "t-lp"), 16, "logprobs");
    expect_error(error_of(&rs, "t-bias"), 17, "logit_bias");
    expect_error(error_of(&rs, "t-tools"), 18, "tools");
    expect_error(error_of(&rs, "t-role"), 19,
                 "unknown role \"a" E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 "\"");
    expect_error(error_of(&rs, "t-bias2"), 20,
                 "\"a" E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2
                 "\" is not a token id");
    int nulls = 0, dup = 0;
    for (int i = 0; i < rs.n; i++) {
        const cJSON *cid = cJSON_GetObjectItem(rs.r[i], "custom_id");
        const cJSON *err = cJSON_GetObjectItem(rs.r[i], "error");
        if (cJSON_IsNull(cid)) {
            const char *m = cJSON_GetObjectItem(err, "message")->valuestring;
            ck_assert_msg(!strncmp(m, "line 10: ", 9) || !strncmp(m, "line 11: ", 9), "%s", m);
            nulls++;
        }
        if (cJSON_IsString(cid) && !strcmp(cid->valuestring, "one") && !cJSON_IsNull(err)) {
            expect_error(rs.r[i], 14, "duplicate");
            dup++;
        }
    }
    ck_assert_int_eq(nulls, 2);
    ck_assert_int_eq(dup, 1);
    free_recs(&rs);
}
END_TEST

/* A record cut short by a kill is removed and redone; the others (results and error records)
 * are not repeated. */
START_TEST(test_resume) {
    const char *in = file_with(
        "resume.jsonl",
        CHAT("r1", "{" HI ",\"max_tokens\":2}")
            CHAT("r2", "{" HI ",\"max_tokens\":2,\"n\":2}") "not json\n" CHAT(
                "r3", "{" HI ",\"max_tokens\":2}") CHAT("r4", "{" HI ",\"max_tokens\":2}"));
    const char *out = tmp("resume-out.jsonl");
    unlink(out);
    gptc(NULL, "batch -m %s -i %s -o %s -t 2 -c 512", oss, in, out);
    recs full;
    read_recs(out, &full);
    ck_assert_int_eq(full.n, 5);
    free_recs(&full);
    /* keep the first three records and half of the fourth, as a kill would leave them */
    char *txt = tu_read_file(out, NULL);
    char *p = txt;
    for (int i = 0; i < 3; i++) p = strchr(p, '\n') + 1;
    size_t cut = (size_t)(p - txt) + (strchr(p, '\n') - p) / 2;
    ck_assert_int_eq(tu_write_file(out, txt, cut), 0);
    free(txt);
    gptc(NULL, "batch -m %s -i %s -o %s -t 2 -c 512", oss, in, out);
    validate("output", out, 5);
    recs rs;
    read_recs(out, &rs);
    ck_assert_int_eq(rs.n, 5);
    const char *ids[] = {"r1", "r2", "r3", "r4"};
    for (int i = 0; i < 4; i++) body_of(by_custom_id(&rs, ids[i])); /* each exactly once */
    /* n = 2 at temperature 1: each choice samples with its own seed */
    const cJSON *r2 = cJSON_GetObjectItem(body_of(by_custom_id(&rs, "r2")), "choices");
    ck_assert_int_eq(cJSON_GetArraySize(r2), 2);
    const cJSON *m0 = cJSON_GetObjectItem(cJSON_GetArrayItem(r2, 0), "message");
    const cJSON *m1 = cJSON_GetObjectItem(cJSON_GetArrayItem(r2, 1), "message");
    ck_assert_str_ne(cJSON_GetObjectItem(m0, "content")->valuestring,
                     cJSON_GetObjectItem(m1, "content")->valuestring);
    free_recs(&rs);
    /* a third run has nothing left to do */
    gptc(NULL, "batch -m %s -i %s -o %s -t 2 -c 512", oss, in, out);
    read_recs(out, &rs);
    ck_assert_int_eq(rs.n, 5);
    free_recs(&rs);
}
END_TEST

/* --order input under --parallel 3: the first line is the longest, so in completion order it
 * comes last; in input order it comes first and the rest follow in their order. */
START_TEST(test_order_input) {
    char lines[4000] = "";
    const int lens[] = {40, 2, 3, 1, 2, 6, 1, 2};
    for (int i = 0; i < 8; i++) {
        char l[300];
        snprintf(l, sizeof l,
                 "{\"custom_id\":\"o%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
                 "\"body\":{" HI ",\"max_tokens\":%d}}\n",
                 i, lens[i]);
        strcat(lines, l);
    }
    const char *in = file_with("order.jsonl", lines);
    const char *out = tmp("order-out.jsonl"), *out2 = tmp("order-out2.jsonl");
    unlink(out);
    unlink(out2);
    gptc(NULL, "batch -m %s -i %s -o %s -t 2 -c 512 --parallel 3 --ignore-eos --order input", oss,
         in, out);
    gptc(NULL, "batch -m %s -i %s -o %s -t 2 -c 512 --parallel 3 --ignore-eos", oss, in, out2);
    validate("output", out, 8);
    recs rs, rc;
    read_recs(out, &rs);
    read_recs(out2, &rc);
    ck_assert_int_eq(rs.n, 8);
    ck_assert_int_eq(rc.n, 8);
    for (int i = 0; i < 8; i++) {
        char want[16];
        snprintf(want, sizeof want, "o%d", i);
        ck_assert_str_eq(cJSON_GetObjectItem(rs.r[i], "custom_id")->valuestring, want);
    }
    ck_assert_str_eq(cJSON_GetObjectItem(rc.r[7], "custom_id")->valuestring, "o0");
    free_recs(&rs);
    free_recs(&rc);
}
END_TEST

#define WEATHER                                                                                    \
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather.\"," \
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"         \
    "\"required\":[\"city\"]}}}]"
#define CONV                                                                                       \
    "[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},{\"role\":\"assistant\","              \
    "\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"      \
    "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},{\"role\":"     \
    "\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18 C, sunny\"}]"

/* The number of ids `gptc render --ids` makes of messages (and tools). */
static int render_count(const char *msgs, const char *tools) {
    const char *mf = file_with("render-msgs.json", msgs);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "%s render -m %s --messages %s --ids%s%s", tu_gptc(), oss, mf,
             tools ? " --tools " : "", tools ? file_with("render-tools.json", tools) : "");
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 60, &p), 0);
    ck_assert_msg(p.status == 0, "%s", p.err);
    int n = 0;
    for (char *s = strtok(p.out, " \n"); s; s = strtok(NULL, " \n")) n++;
    tu_proc_free(&p);
    return n;
}

/* A conversation with a call and its result renders as gptc render renders it (same token
 * count, with and without tools); a scripted call comes back as OpenAI's tool_calls, with the
 * reasoning as reasoning_content; a scripted answer has content and reasoning_content. */
START_TEST(test_tools) {
    int n_tools = render_count(CONV, WEATHER), n_plain = render_count(CONV, NULL);
    ck_assert_int_gt(n_tools, n_plain);
    const char *in = file_with("tools.jsonl",
                               CHAT("with-tools", "{\"messages\":" CONV ",\"tools\":" WEATHER
                                                  ",\"tool_choice\":\"auto\",\"max_tokens\":200}")
                                   CHAT("no-tools", "{\"messages\":" CONV ",\"max_tokens\":200}"));
    const char *script = file_with(
        "script.txt",
        "<|channel|>analysis<|message|>Need it.<|end|><|start|>assistant<|channel|>commentary "
        "to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>\n"
        "<|channel|>analysis<|message|>Sunny.<|end|><|start|>assistant<|channel|>final<|message|>"
        "It is 18 C.<|return|>\n");
    const char *out = tmp("tools-out.jsonl");
    unlink(out);
    gptc(script, "batch -m %s -i %s -o %s -t 2 -c 1024", oss, in, out);
    validate("output", out, 2);
    recs rs;
    read_recs(out, &rs);
    const cJSON *b = body_of(by_custom_id(&rs, "with-tools"));
    ck_assert_int_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(b, "usage"), "prompt_tokens")->valueint, n_tools);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "choices"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(c0, "finish_reason")->valuestring, "tool_calls");
    const cJSON *m = cJSON_GetObjectItem(c0, "message");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(m, "content")));
    ck_assert_str_eq(cJSON_GetObjectItem(m, "reasoning_content")->valuestring, "Need it.");
    const cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "tool_calls"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(tc, "type")->valuestring, "function");
    ck_assert(!strncmp(cJSON_GetObjectItem(tc, "id")->valuestring, "call_", 5));
    const cJSON *fn = cJSON_GetObjectItem(tc, "function");
    ck_assert_str_eq(cJSON_GetObjectItem(fn, "name")->valuestring, "get_weather");
    ck_assert_str_eq(cJSON_GetObjectItem(fn, "arguments")->valuestring, "{\"city\":\"Paris\"}");

    b = body_of(by_custom_id(&rs, "no-tools"));
    ck_assert_int_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(b, "usage"), "prompt_tokens")->valueint, n_plain);
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "choices"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(c0, "finish_reason")->valuestring, "stop");
    m = cJSON_GetObjectItem(c0, "message");
    ck_assert_str_eq(cJSON_GetObjectItem(m, "content")->valuestring, "It is 18 C.");
    ck_assert_str_eq(cJSON_GetObjectItem(m, "reasoning_content")->valuestring, "Sunny.");
    ck_assert_ptr_null(cJSON_GetObjectItem(m, "tool_calls"));
    free_recs(&rs);
}
END_TEST

int main(void) {
    tu_cached_model(oss, sizeof oss, "tiny-gpt-oss-s1",
                    "--preset tiny-gpt-oss --seed 1 --tokenizer .cache/gpt-oss/tokenizer.json");
    Suite *s = suite_create("cli_batch_openai");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_chat_lines_validate);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_order_input);
    tcase_add_test(tc, test_tools);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 1) ? EXIT_FAILURE : EXIT_SUCCESS;
}
