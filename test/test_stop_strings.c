/* test_stop_strings.c — stop strings (--stop, batch "stop", chat --stop; cli/stopstr.c):
 *  - the matcher on the real GPT-2 tokenizer's pieces of a multilingual text, streamed through
 *    the decoder exactly as generation does (byte tokens split characters across tokens): for
 *    every substring of 1..4 characters as the stop string, and for pairs of them, the emitted
 *    text is the text before the first stop string to end (found here with strstr), and after
 *    every push the text held back is exactly the longest tail that could still start a stop
 *    string (computed here independently);
 *  - the program: a greedy answer's stop string spanning token boundaries (the boundaries read
 *    from --logprobs' bytes) ends one-shot (streamed and --json), batch ("stop" as a string and
 *    as an array) and chat answers before it, never printed, finish reason "stop";
 *  - bad stop strings: one error line, exit 1; a bad batch "stop" gives an error record. */
#include <cJSON.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/stopstr.h"
#include "gptc.h"
#include "test/util/testmodels.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

static char g2[512];

static const char *k_text =
    "Gr\xc3\xbc\xc3\x9f"
    "e aus K\xc3\xb6ln \xe2\x80\x94 \xe4\xb8\x96\xe7\x95\x8c\xe3\x81\xb8! "
    "na\xc3\xafve caf\xc3\xa9 \xf0\x9f\x98\x80 done. \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
    "\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89 end";

/* ---- the matcher on streamed decoder output ---------------------------------------------- */
typedef struct sink_buf {
    char b[4096];
    size_t n;
} sink_buf;

static void to_buf(void *user, const char *t, size_t n) {
    sink_buf *s = user;
    ck_assert_uint_le(s->n + n, sizeof s->b);
    memcpy(s->b + s->n, t, n);
    s->n += n;
}

/* the chunks the streaming decoder gives for text (what generation hands the matcher) */
typedef struct chunks {
    char *c[512];
    size_t n[512];
    int count;
    int split_char; /* some token's piece ends inside a UTF-8 character */
} chunks;

static void make_chunks(chunks *ch) {
    gptc_tokenizer *tok = NULL;
    gptc_error err = {0};
    ck_assert_int_eq(gptc_tokenizer_load_gguf(g2, &tok, &err), GPTC_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(gptc_tokenize(tok, k_text, strlen(k_text), 0, &ids, &n, &err), GPTC_OK);
    gptc_decoder *d = NULL;
    ck_assert_int_eq(gptc_decoder_new(tok, 1, &d, &err), GPTC_OK);
    memset(ch, 0, sizeof *ch);
    for (size_t i = 0; i < n; i++) {
        const char *pb;
        size_t pl;
        ck_assert_int_eq(gptc_tokenizer_piece(tok, ids[i], &pb, &pl), GPTC_OK);
        if (!tu_utf8_valid((const unsigned char *)pb, pl)) ch->split_char = 1;
        const char *o;
        size_t on;
        ck_assert_int_eq(gptc_decoder_push(d, ids[i], &o, &on, &err), GPTC_OK);
        ck_assert_int_lt(ch->count, 512);
        ch->c[ch->count] = malloc(on + 1);
        memcpy(ch->c[ch->count], o, on);
        ch->n[ch->count++] = on;
    }
    gptc_decoder_free(d);
    gptc_free(ids);
    gptc_tokenizer_free(tok);
    /* the chunks are the text */
    size_t tot = 0;
    for (int i = 0; i < ch->count; i++) {
        ck_assert(!memcmp(k_text + tot, ch->c[i], ch->n[i]));
        tot += ch->n[i];
    }
    ck_assert_uint_eq(tot, strlen(k_text));
}

static void free_chunks(chunks *ch) {
    for (int i = 0; i < ch->count; i++) free(ch->c[i]);
}

/* the longest tail of t[0..n) that is a proper prefix of one of the stops (reference) */
static size_t ref_tail(const char *t, size_t n, const char *const *stops, int ns) {
    size_t best = 0;
    for (int k = 0; k < ns; k++) {
        size_t l = strlen(stops[k]);
        for (size_t m = 1; m < l && m <= n; m++)
            if (!strncmp(t + n - m, stops[k], m) && m > best) best = m;
    }
    return best;
}

/* expected output: the text before the stop that ends first (ties: the one starting first) */
static size_t ref_cut(const char *t, const char *const *stops, int ns, int *found) {
    size_t best_end = (size_t)-1, best_start = 0;
    *found = 0;
    for (int k = 0; k < ns; k++) {
        const char *p = strstr(t, stops[k]);
        if (!p) continue;
        size_t st = (size_t)(p - t), en = st + strlen(stops[k]);
        if (!*found || en < best_end || (en == best_end && st < best_start)) {
            best_end = en;
            best_start = st;
        }
        *found = 1;
    }
    return *found ? best_start : strlen(t);
}

static void run_case(const chunks *ch, const char *const *stops, int ns, long *n_cross) {
    cli_stop st;
    memset(&st, 0, sizeof st);
    ck_assert_int_eq(cli_stop_set(&st, stops, ns), 0);
    sink_buf out = {.n = 0};
    size_t fed = 0;
    int hit = 0;
    for (int i = 0; i < ch->count && !hit; i++) {
        hit = cli_stop_push(&st, ch->c[i], ch->n[i], to_buf, &out);
        fed += ch->n[i];
        if (!hit) { /* emitted = fed text less the tail that could still start a stop */
            char sofar[4096];
            memcpy(sofar, k_text, fed);
            sofar[fed] = 0;
            ck_assert_uint_eq(out.n, fed - ref_tail(sofar, fed, stops, ns));
            ck_assert(!memcmp(out.b, k_text, out.n));
        }
    }
    if (!hit) cli_stop_flush(&st, to_buf, &out);
    int found;
    size_t cut = ref_cut(k_text, stops, ns, &found);
    ck_assert_int_eq(hit, found);
    ck_assert_int_eq(st.hit, found);
    ck_assert_msg(out.n == cut && !memcmp(out.b, k_text, cut),
                  "stop '%s': %zu bytes out, %zu expected", stops[0], out.n, cut);
    /* does the (first) stop string span a chunk boundary? */
    const char *p = strstr(k_text, stops[0]);
    if (p) {
        size_t a = (size_t)(p - k_text), b = a + strlen(stops[0]), pos = 0;
        for (int i = 0; i < ch->count; i++) {
            pos += ch->n[i];
            if (pos > a && pos < b) {
                (*n_cross)++;
                break;
            }
        }
    }
    cli_stop_free(&st);
}

/* byte offsets of the character starts of k_text */
static int char_starts(size_t *pos) {
    int n = 0;
    const size_t len = strlen(k_text);
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)k_text[i] & 0xC0) != 0x80) pos[n++] = i;
    pos[n] = len;
    return n;
}

START_TEST(test_matcher_single) {
    chunks ch;
    make_chunks(&ch);
    ck_assert_msg(ch.split_char, "no token piece splits a character: the text tests too little");
    size_t pos[512];
    const int nc = char_starts(pos);
    long cases = 0, cross = 0;
    for (int a = 0; a < nc; a++)
        for (int w = 1; w <= 4 && a + w <= nc; w++) {
            char s[64];
            size_t l = pos[a + w] - pos[a];
            memcpy(s, k_text + pos[a], l);
            s[l] = 0;
            const char *stops[1] = {s};
            run_case(&ch, stops, 1, &cross);
            cases++;
        }
    /* a stop string that never appears, and one that is the whole text */
    const char *none[1] = {"\xe4\xb8\x96\xe7\x95\x8c\xe3\x81\xb8!?"};
    run_case(&ch, none, 1, &cross);
    const char *all[1] = {k_text};
    run_case(&ch, all, 1, &cross);
    fprintf(stderr, "stop strings: %ld cases, %ld spanning a token boundary\n", cases, cross);
    ck_assert_int_gt(cross, 50);
    free_chunks(&ch);
}
END_TEST

START_TEST(test_matcher_pairs) {
    chunks ch;
    make_chunks(&ch);
    size_t pos[512];
    const int nc = char_starts(pos);
    long cross = 0;
    for (int a = 0; a < nc; a += 3)
        for (int b = 1; b < nc; b += 5) {
            char s1[64], s2[64];
            size_t l1 = pos[a + 2 < nc ? a + 2 : nc] - pos[a];
            size_t l2 = pos[b + 1] - pos[b - 1];
            memcpy(s1, k_text + pos[a], l1);
            s1[l1] = 0;
            memcpy(s2, k_text + pos[b - 1], l2);
            s2[l2] = 0;
            const char *stops[4] = {s1, s2, "zz", "\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89 en"};
            run_case(&ch, stops, 4, &cross);
        }
    free_chunks(&ch);
}
END_TEST

START_TEST(test_check) {
    ck_assert_ptr_null(cli_stop_check("ok", 2));
    ck_assert_ptr_null(cli_stop_check("\xe4\xb8\x96", 3));
    ck_assert_ptr_nonnull(cli_stop_check("", 0));
    ck_assert_ptr_nonnull(cli_stop_check("\xe4\xb8", 2));     /* truncated */
    ck_assert_ptr_nonnull(cli_stop_check("\xc0\xaf", 2));     /* overlong */
    ck_assert_ptr_nonnull(cli_stop_check("\xed\xa0\x80", 3)); /* surrogate */
    ck_assert_ptr_nonnull(cli_stop_check("a\0b", 3));
    char big[2000];
    memset(big, 'a', sizeof big);
    ck_assert_ptr_nonnull(cli_stop_check(big, sizeof big));
}
END_TEST

/* ---- the program ------------------------------------------------------------------------- */
static void run_sh(tu_proc *p, const char *stdin_data, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(tu_sh(cmd, stdin_data, stdin_data ? strlen(stdin_data) : 0, 120, p), 0);
}

/* a file with the given content in the temp dir; returns its path (static per slot) */
static const char *tmp_file(int slot, const char *content) {
    static char path[4][600];
    snprintf(path[slot], sizeof path[slot], "%s/stop%d.txt", tu_tmpdir(), slot);
    ck_assert_int_eq(tu_write_file(path[slot], content, strlen(content)), 0);
    return path[slot];
}

/* The greedy answer to "Hello world" (24 tokens) and its token boundaries (from the bytes of
 * --logprobs 0). Picks a stop string from the middle of token 3 to the middle of token 5
 * (spanning two boundaries) whose first occurrence is there. */
static void greedy_answer(char *text, size_t cap, char *stop, size_t scap, size_t *cut) {
    tu_proc p;
    run_sh(&p, NULL, "%s -m %s -p 'Hello world' -n 24 --temp 0 -q --json --logprobs 0", tu_gptc(),
           g2);
    ck_assert_int_eq(p.status, 0);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    snprintf(text, cap, "%s", cJSON_GetObjectItem(j, "text")->valuestring);
    const cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "logprobs"), "content");
    ck_assert_int_eq(cJSON_GetArraySize(content), 24);
    size_t bound[25], pos = 0;
    bound[0] = 0;
    for (int i = 0; i < 24; i++) {
        pos += (size_t)cJSON_GetArraySize(
            cJSON_GetObjectItem(cJSON_GetArrayItem(content, i), "bytes"));
        bound[i + 1] = pos;
    }
    ck_assert_uint_eq(pos, strlen(text)); /* ASCII output: the bytes are the text */
    int found = 0;
    for (int t = 2; t < 20 && !found; t++) {
        size_t a = bound[t] + (bound[t + 1] - bound[t]) / 2, b = bound[t + 2] + 1;
        if (b <= bound[t + 2] || b > bound[t + 3] || a <= bound[t]) continue;
        if (b - a >= scap) continue;
        memcpy(stop, text + a, b - a);
        stop[b - a] = 0;
        if ((size_t)(strstr(text, stop) - text) != a || strchr(stop, '\n')) continue;
        *cut = a;
        found = 1;
    }
    ck_assert_msg(found, "no stop string candidate in '%s'", text);
    cJSON_Delete(j);
    tu_proc_free(&p);
}

START_TEST(test_program) {
    char text[4096], stop[64];
    size_t cut = 0;
    greedy_answer(text, sizeof text, stop, sizeof stop, &cut);
    const char *sf = tmp_file(0, stop);
    tu_proc p;
    /* streamed: stdout is exactly the text before the stop string */
    run_sh(&p, NULL, "%s -m %s -p 'Hello world' -n 24 --temp 0 -q --stop \"$(cat %s)\"", tu_gptc(),
           g2, sf);
    ck_assert_int_eq(p.status, 0);
    ck_assert_uint_eq(p.out_len, cut);
    ck_assert(!memcmp(p.out, text, cut));
    tu_proc_free(&p);
    /* --json: text and finish reason; other stop strings that never appear change nothing */
    run_sh(&p, NULL,
           "%s -m %s -p 'Hello world' -n 24 --temp 0 -q --json --stop QQQ --stop \"$(cat %s)\" "
           "--stop '\xe4\xb8\x96'",
           tu_gptc(), g2, sf);
    ck_assert_int_eq(p.status, 0);
    cJSON *j = cJSON_Parse(p.out);
    ck_assert_ptr_nonnull(j);
    const char *t = cJSON_GetObjectItem(j, "text")->valuestring;
    ck_assert_uint_eq(strlen(t), cut);
    ck_assert(!strncmp(t, text, cut));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "stop");
    cJSON_Delete(j);
    tu_proc_free(&p);
    /* without a match: the whole answer, finish length */
    run_sh(&p, NULL, "%s -m %s -p 'Hello world' -n 24 --temp 0 -q --json --stop QQQ", tu_gptc(),
           g2);
    j = cJSON_Parse(p.out);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring, text);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "length");
    cJSON_Delete(j);
    tu_proc_free(&p);

    /* batch: "stop" as a string, as an array, the command-line default, and a bad one */
    cJSON *sj = cJSON_CreateString(stop);
    char *sq = cJSON_PrintUnformatted(sj);
    cJSON_Delete(sj);
    char in[2048];
    snprintf(in, sizeof in,
             "{\"id\":1,\"prompt\":\"Hello world\",\"stop\":%s}\n"
             "{\"id\":2,\"prompt\":\"Hello world\",\"stop\":[\"QQQ\",%s]}\n"
             "{\"id\":3,\"prompt\":\"Hello world\"}\n"
             "{\"id\":4,\"prompt\":\"Hello world\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}\n"
             "{\"id\":5,\"prompt\":\"Hello world\",\"stop\":\"\"}\n"
             "{\"id\":6,\"prompt\":\"Hello world\",\"stop\":null}\n",
             sq, sq);
    free(sq);
    const char *inf = tmp_file(1, in);
    run_sh(&p, NULL, "%s batch -m %s -i %s -o - -n 24 --temp 0 -q --stop QQQ --parallel 2",
           tu_gptc(), g2, inf);
    ck_assert_int_eq(p.status, 0);
    int seen = 0;
    for (char *save = NULL, *ln = strtok_r(p.out, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *r = cJSON_Parse(ln);
        ck_assert_ptr_nonnull(r);
        int id = cJSON_GetObjectItem(r, "id")->valueint;
        seen |= 1 << id;
        if (id <= 2) {
            const char *rt = cJSON_GetObjectItem(r, "text")->valuestring;
            ck_assert_uint_eq(strlen(rt), cut);
            ck_assert(!strncmp(rt, text, cut));
            ck_assert_str_eq(cJSON_GetObjectItem(r, "finish_reason")->valuestring, "stop");
        } else if (id == 3 || id == 6) { /* the default QQQ never appears */
            ck_assert_str_eq(cJSON_GetObjectItem(r, "text")->valuestring, text);
            ck_assert_str_eq(cJSON_GetObjectItem(r, "finish_reason")->valuestring, "length");
        } else {
            ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(r, "error")->valuestring, "stop"));
        }
        cJSON_Delete(r);
    }
    ck_assert_int_eq(seen, 0x7e);
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_chat) {
    /* the plain (GPT-2) chat: each line is continued; with the stop string the answer ends
     * before it */
    tu_proc p;
    run_sh(&p, "Hello world\n", "%s chat -m %s -n 24 --temp 0 -q", tu_gptc(), g2);
    ck_assert_int_eq(p.status, 0);
    char full[4096];
    snprintf(full, sizeof full, "%s", p.out);
    tu_proc_free(&p);
    size_t n = strlen(full);
    ck_assert_int_gt((int)n, 12);
    /* a stop string from the middle of the answer that first occurs there */
    char stop[8];
    size_t at = 0;
    for (size_t a = n / 3; a + 4 < n; a++) {
        memcpy(stop, full + a, 4);
        stop[4] = 0;
        if ((size_t)(strstr(full, stop) - full) == a && !strchr(stop, '\n') &&
            !strchr(stop, '\'')) {
            at = a;
            break;
        }
    }
    ck_assert_uint_gt(at, 0);
    run_sh(&p, "Hello world\n", "%s chat -m %s -n 24 --temp 0 -q --stop '%s'", tu_gptc(), g2, stop);
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_null(strstr(p.out, stop));
    ck_assert(!strncmp(p.out, full, at));
    ck_assert_str_eq(p.out + at, "\n"); /* the answer's end of line, nothing of the stop string */
    tu_proc_free(&p);
}
END_TEST

START_TEST(test_bad_flags) {
    static const char *bad[] = {"--stop ''", "--stop $(printf '\\344\\270')",
                                "--stop a --stop b --stop c --stop d --stop e", "--stop"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_proc p;
        run_sh(&p, NULL, "%s -m %s -p hi -n 2 %s", tu_gptc(), g2, bad[i]);
        tu_assert_one_error(&p, 1, bad[i]);
        tu_proc_free(&p);
    }
}
END_TEST

int main(void) {
    tu_cached_model(g2, sizeof g2, "tiny-gpt2-s1", "--preset tiny-gpt2 --seed 1");
    Suite *s = suite_create("stop_strings");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_check);
    tcase_add_test(tc, test_matcher_single);
    tcase_add_test(tc, test_matcher_pairs);
    tcase_add_test(tc, test_program);
    tcase_add_test(tc, test_chat);
    tcase_add_test(tc, test_bad_flags);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
