/* batch.c — gptc batch -m MODEL -i prompts.jsonl -o results.jsonl [--parallel N] [--shard I/N]
 *                       [generation flags as defaults for every line]
 *
 * Input: one JSON object per line, {"id": ..., "prompt": "..."} or {"id": ..., "messages":
 * [{"role": "system"|"developer"|"user"|"assistant", "content": "..."}]}, optional n_predict,
 * temperature, top_p, seed, reasoning_effort, stop (a string or up to 4), logprobs (bool),
 * top_logprobs (0..20), logit_bias ({"ID": BIAS}, BIAS in [-100, 100], -100 bans),
 * response_format (OpenAI's {"type": "json_object"} or {"type": "json_schema", "json_schema":
 * {"name", "schema", "strict"}}; the constraint flags are the default). Output: one
 * line per input line, appended and flushed as each finishes: {"id", "text", "reasoning"?
 * (gpt-oss), "tokens", "finish_reason", "logprobs"? ({"content": [...]}), "ms"}; a bad line gives
 * {"line": N, "id"?: ..., "error": "..."} and the rest continue. Rerunning with the same -o skips
 * ids (and error lines) already there, so a killed run resumes.
 * --shard I/N takes the lines whose 0-based index is I modulo N. --parallel N decodes N
 * sequences together (gptc_decode_multi); a finished slot is refilled at once. */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/constrain.h"
#include "cli/genloop.h"

static const char usage_text[] =
    "usage: gptc batch -m MODEL.gguf -i IN.jsonl -o OUT.jsonl [options]\n"
    "  -i, --input FILE       prompts, one JSON object per line:\n"
    "                         {\"id\":..., \"prompt\":\"...\"} or {\"id\":..., "
    "\"messages\":[...]}\n"
    "                         optional per line: n_predict, temperature, top_p, seed,\n"
    "                         reasoning_effort, stop, logprobs, top_logprobs, logit_bias,\n"
    "                         response_format\n"
    "  -o, --output FILE      results, appended one JSON line per prompt as each finishes;\n"
    "                         ids already in FILE are skipped (resume); - for stdout\n"
    "  --parallel N           sequences decoded together (default 1)\n"
    "  --shard I/N            only lines with 0-based index % N == I (e.g. $SLURM_ARRAY_TASK_ID)\n"
    "  generation defaults:   -n --temp --top-k --top-p --min-p --repeat-penalty -s --raw\n"
    "                         --ignore-eos --stop --logprobs -l --system --reasoning-effort\n"
    "                         -c --backend -t ... --grammar --grammar-file --json-schema\n"
    "                         --json-schema-file --json-object\n"
    "  -q, --quiet            no progress bar (it is shown only on a terminal anyway)\n";

typedef struct batch_extra {
    const char *in, *out;
    int parallel;
    int shard_i, shard_n;
} batch_extra;

static int extra_opts(void *user, int argc, char **argv, int i) {
    batch_extra *e = user;
    int used;
    const char *v;
    const char *a = argv[i];
    if (!strcmp(a, "-i") || cli_is_flag(a, "--input")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        e->in = v;
        return used;
    }
    if (!strcmp(a, "-o") || cli_is_flag(a, "--output")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        e->out = v;
        return used;
    }
    if (cli_is_flag(a, "--parallel") || !strcmp(a, "-np")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        return cli_parse_int("--parallel", v, 1, 1024, &e->parallel) ? -1 : used;
    }
    if (cli_is_flag(a, "--shard")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        char buf[64];
        snprintf(buf, sizeof buf, "%s", v);
        char *slash = strchr(buf, '/');
        if (!slash) {
            cli_error("--shard: '%s' is not I/N", v);
            return -1;
        }
        *slash = 0;
        if (cli_parse_int("--shard N", slash + 1, 1, 1 << 30, &e->shard_n) ||
            cli_parse_int("--shard I", buf, 0, 1 << 30, &e->shard_i))
            return -1;
        if (e->shard_i >= e->shard_n) {
            cli_error("--shard: I must be in 0..N-1 (got %d/%d)", e->shard_i, e->shard_n);
            return -1;
        }
        return used;
    }
    return 0;
}

/* ---- a string hash set (ids already done) -----------------------------------------------------
 */
typedef struct strset {
    char **v;
    size_t cap, n;
} strset;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int strset_has(const strset *s, const char *k) {
    if (!s->cap) return 0;
    for (size_t i = fnv(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->v[i]) return 0;
        if (!strcmp(s->v[i], k)) return 1;
    }
}

static int strset_add(strset *s, const char *k) {
    if (strset_has(s, k)) return 0;
    if ((s->n + 1) * 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        char **nv = calloc(nc, sizeof *nv);
        if (!nv) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->v[i]) continue;
            size_t j = fnv(s->v[i]) & (nc - 1);
            while (nv[j]) j = (j + 1) & (nc - 1);
            nv[j] = s->v[i];
        }
        free(s->v);
        s->v = nv;
        s->cap = nc;
    }
    size_t j = fnv(k) & (s->cap - 1);
    while (s->v[j]) j = (j + 1) & (s->cap - 1);
    if (!(s->v[j] = strdup(k))) return -1;
    s->n++;
    return 0;
}

static void strset_free(strset *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Canonical key of an id: its compact JSON ("\"a\"", "17"). NULL when not a string/number. */
static char *id_key(const cJSON *id) {
    if (!cJSON_IsString(id) && !cJSON_IsNumber(id)) return NULL;
    return cJSON_PrintUnformatted(id);
}

static char *line_key(long line) {
    char *k = malloc(32);
    if (k) snprintf(k, 32, "#line%ld", line);
    return k;
}

/* ---- signals ----------------------------------------------------------------------------------
 */
static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
}

/* ---- slots ------------------------------------------------------------------------------------
 */
/* a line's stop strings, logprobs and logit bias (each replaces its command-line default) */
typedef struct line_ctl {
    const char *stops[CLI_MAX_STOP];
    int n_stops;
    int logprobs; /* -1 off, else top alternatives */
    gptc_logit_bias bias[GPTC_LOGIT_BIAS_MAX];
    int n_bias;
    int bias_given;
} line_ctl;

typedef struct slot {
    gptc_session *s;
    cli_gen g;
    strbuf text, reasoning;
    int active;
    long line;
    cJSON *id; /* copy of the input id */
    double t0;
    line_ctl ctl;       /* the line's stop / logprobs / logit_bias */
    cli_constraint con; /* the line's response_format */
} slot;

static int slot_sink(void *user, harmony_channel ch, const char *s, size_t n) {
    slot *sl = user;
    return strbuf_add(ch == HARMONY_FINAL ? &sl->text : &sl->reasoning, s, n) ? 1 : 0;
}

typedef struct batch {
    cli_opts *o;
    batch_extra *e;
    gptc_model *model;
    const gptc_tokenizer *tok;
    int harmony;
    harmony_ids h;
    int n_vocab; /* ids a logit bias may name (those the sampler draws) */
    gptc_session_params sp;
    FILE *out;
    strset done;
    long n_total, n_done, n_tokens;
    double t_start;
    int progress;
    cli_constraint defcon; /* from the flags */
    gptc_token_trie *trie; /* made on first use */
} batch;

static int write_record(batch *b, cJSON *rec) {
    char *s = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    if (!s) return -1;
    int ok = fputs(s, b->out) >= 0 && fputc('\n', b->out) != EOF && fflush(b->out) == 0;
    free(s);
    if (!ok) {
        cli_error("%s: %s", strcmp(b->e->out, "-") ? b->e->out : "stdout", strerror(errno));
        return -1;
    }
    b->n_done++;
    return 0;
}

static int write_error(batch *b, long line, const cJSON *id, const char *msg) {
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddNumberToObject(rec, "line", (double)line);
    if (id) cJSON_AddItemToObject(rec, "id", cJSON_Duplicate(id, 1));
    cJSON_AddStringToObject(rec, "error", msg);
    return write_record(b, rec);
}

static void progress(batch *b, int final) {
    if (!b->progress) return;
    double el = (cli_now_ms() - b->t_start) / 1000.0;
    double rate = el > 0 ? b->n_done / el : 0;
    double tps = el > 0 ? b->n_tokens / el : 0;
    double eta = rate > 0 ? (b->n_total - b->n_done) / rate : 0;
    double frac = b->n_total ? (double)b->n_done / b->n_total : 1;
    int w = 24, fill = (int)(frac * w);
    fputc('\r', stderr);
    fputc('[', stderr);
    for (int i = 0; i < w; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %ld/%ld  %.2f prompts/s  %.1f tok/s  ETA %d:%02d\033[K", b->n_done,
            b->n_total, rate, tps, (int)eta / 60, (int)eta % 60);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

/* The optional number field `name` of j: 0 when absent, 1 with *out set when it is a number in
 * [lo, hi], -1 with msg = "\"NAME\" must be WANT" otherwise. */
static int num_field(const cJSON *j, const char *name, double lo, double hi, const char *want,
                     char *msg, size_t cap, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
        snprintf(msg, cap, "\"%s\" must be %s", name, want);
        return -1;
    }
    *out = v->valuedouble;
    return 1;
}

/* The output-control fields of a line (each replaces its command-line default): stop,
 * logprobs / top_logprobs, logit_bias. Returns 0, or -1 with msg set. */
static int ctl_fields(const batch *b, const cJSON *j, line_ctl *c, char *msg, size_t cap) {
    const cJSON *v;
    c->n_stops = b->o->n_stops;
    memcpy(c->stops, b->o->stops, sizeof c->stops);
    c->logprobs = b->o->logprobs;
    c->n_bias = 0;
    c->bias_given = 0;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "stop")) && !cJSON_IsNull(v)) {
        c->n_stops = 0;
        const cJSON *it = v;
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;
        if (!(cJSON_IsString(v) || cJSON_IsArray(v)) || n > CLI_MAX_STOP) {
            snprintf(msg, cap, "\"stop\" must be a string or an array of up to %d strings",
                     CLI_MAX_STOP);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            if (cJSON_IsArray(v)) it = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsString(it)) {
                snprintf(msg, cap, "\"stop\" must be a string or an array of up to %d strings",
                         CLI_MAX_STOP);
                return -1;
            }
            const char *why = cli_stop_check(it->valuestring, strlen(it->valuestring));
            if (why) {
                snprintf(msg, cap, "\"stop\": %s", why);
                return -1;
            }
            c->stops[c->n_stops++] = it->valuestring;
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "logprobs")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) {
            snprintf(msg, cap, "\"logprobs\" must be true or false");
            return -1;
        }
        c->logprobs = cJSON_IsTrue(v) ? (c->logprobs >= 0 ? c->logprobs : 0) : -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "top_logprobs")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > 20) {
            snprintf(msg, cap, "\"top_logprobs\" must be an integer in [0, 20]");
            return -1;
        }
        if (c->logprobs < 0) {
            snprintf(msg, cap, "\"top_logprobs\" needs \"logprobs\": true");
            return -1;
        }
        c->logprobs = (int)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "logit_bias")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) {
            snprintf(msg, cap, "\"logit_bias\" must be an object {\"TOKEN_ID\": BIAS}");
            return -1;
        }
        c->bias_given = 1;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            const char *k = e->string;
            char *end;
            errno = 0;
            long id = k && k[0] >= '0' && k[0] <= '9' ? strtol(k, &end, 10) : -1;
            if (id < 0 || errno || *end || id >= b->n_vocab) {
                snprintf(msg, cap, "\"logit_bias\": \"%.40s\" is not a token id in [0, %d)",
                         k ? k : "", b->n_vocab);
                return -1;
            }
            float f;
            if (!cJSON_IsNumber(e) || cli_bias_value(e->valuedouble, &f)) {
                snprintf(msg, cap,
                         "\"logit_bias\": the bias of %ld must be a number in [-100, 100]", id);
                return -1;
            }
            if (cli_bias_put(c->bias, &c->n_bias, (int32_t)id, f)) {
                snprintf(msg, cap, "\"logit_bias\": more than %d entries", GPTC_LOGIT_BIAS_MAX);
                return -1;
            }
        }
    }
    return 0;
}

/* Parses one input line into a prompt for the slot and starts it. Returns 0 when started, 1
 * when an error record was written instead, -1 on a fatal error (exit code in *code). */
static int start_job(batch *b, slot *sl, const char *line, long lineno, int *code) {
    cJSON *j = cJSON_Parse(line);
    const cJSON *id = NULL;
    char msg[GPTC_ERROR_MSG_MAX + 64];
    int32_t *ids = NULL;
    size_t n_ids = 0;
    harmony_msg *msgs = NULL;
    strbuf plain = {0};
    char *dev = NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return write_error(b, lineno, NULL, "not a JSON object") ? (*code = EXIT_RUNTIME, -1) : 1;
    }
    id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (!id || !(cJSON_IsString(id) || cJSON_IsNumber(id))) {
        snprintf(msg, sizeof msg, "missing or invalid \"id\" (a string or a number)");
        goto bad;
    }
    gptc_sampler_params samp = b->sp.sampling;
    int n_predict = b->o->n_predict;
    const char *effort = b->o->effort;
    const cJSON *v;
    double x;
    int k;
    if ((k = num_field(j, "n_predict", -1, 1e9, "an integer >= -1", msg, sizeof msg, &x)) < 0 ||
        (k && x != floor(x) && snprintf(msg, sizeof msg, "\"n_predict\" must be an integer >= -1")))
        goto bad;
    if (k) n_predict = (int)x;
    if ((k = num_field(j, "temperature", 0, 100, "a number in [0, 100]", msg, sizeof msg, &x)) < 0)
        goto bad;
    if (k) samp.temperature = (float)x;
    /* top_p 0 would keep no token (the session refuses it): (0, 1] */
    if ((k = num_field(j, "top_p", 0, 1, "a number in (0, 1]", msg, sizeof msg, &x)) < 0 ||
        (k && !(x > 0) && snprintf(msg, sizeof msg, "\"top_p\" must be a number in (0, 1]")))
        goto bad;
    if (k) samp.top_p = (float)x;
    /* below 2^64 (the cast of a larger double is undefined) and whole */
    if ((k = num_field(j, "seed", 0, 18446744073709549568.0, "an integer in [0, 2^64)", msg,
                       sizeof msg, &x)) < 0 ||
        (k && x != floor(x) &&
         snprintf(msg, sizeof msg, "\"seed\" must be an integer in [0, 2^64)")))
        goto bad;
    if (k) samp.seed = (uint64_t)x;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "reasoning_effort"))) {
        if (!cJSON_IsString(v) ||
            (strcmp(v->valuestring, "low") && strcmp(v->valuestring, "medium") &&
             strcmp(v->valuestring, "high"))) {
            snprintf(msg, sizeof msg, "\"reasoning_effort\" must be low, medium or high");
            goto bad;
        }
        effort = v->valuestring;
    }
    if (ctl_fields(b, j, &sl->ctl, msg, sizeof msg)) goto bad;
    if (sl->ctl.bias_given) {
        samp.logit_bias = sl->ctl.n_bias ? sl->ctl.bias : NULL;
        samp.n_logit_bias = sl->ctl.n_bias;
    }
    if (sl->con.g) { /* the last line's own: its matcher goes with it */
        cli_gen_constrain(&sl->g, NULL, NULL, NULL);
        cli_constraint_free(&sl->con);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "response_format")) &&
        cli_constraint_from_response_format(v, &sl->con, msg, sizeof msg))
        goto bad;
    const cli_constraint *con = v ? &sl->con : &b->defcon;
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(j, "messages");
    size_t n_msgs = 0;
    const char *developer = b->o->system;
    if (prompt && messages) {
        snprintf(msg, sizeof msg, "give either \"prompt\" or \"messages\", not both");
        goto bad;
    }
    if (prompt) {
        if (!cJSON_IsString(prompt)) {
            snprintf(msg, sizeof msg, "\"prompt\" must be a string");
            goto bad;
        }
        msgs = calloc(1, sizeof *msgs);
        if (!msgs) goto nomem;
        msgs[0] = (harmony_msg){.role = "user", .content = prompt->valuestring};
        n_msgs = 1;
        if (strbuf_add(&plain, prompt->valuestring, strlen(prompt->valuestring))) goto nomem;
    } else if (cJSON_IsArray(messages)) {
        int cnt = cJSON_GetArraySize(messages);
        msgs = calloc(cnt ? (size_t)cnt : 1, sizeof *msgs);
        if (!msgs) goto nomem;
        const cJSON *m;
        cJSON_ArrayForEach(m, messages) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
            if (!cJSON_IsString(r) || !cJSON_IsString(c)) {
                snprintf(msg, sizeof msg, "each message needs string \"role\" and \"content\"");
                goto bad;
            }
            if (!strcmp(r->valuestring, "system") || !strcmp(r->valuestring, "developer")) {
                developer = c->valuestring;
                continue;
            }
            if (strcmp(r->valuestring, "user") && strcmp(r->valuestring, "assistant")) {
                snprintf(msg, sizeof msg, "unknown role \"%.100s\"", r->valuestring);
                goto bad;
            }
            msgs[n_msgs++] = (harmony_msg){.role = r->valuestring, .content = c->valuestring};
            if (plain.n && strbuf_add(&plain, "\n", 1)) goto nomem;
            if (strbuf_add(&plain, c->valuestring, strlen(c->valuestring))) goto nomem;
        }
        if (n_msgs == 0) {
            snprintf(msg, sizeof msg, "\"messages\" has no user message");
            goto bad;
        }
    } else {
        snprintf(msg, sizeof msg, "missing \"prompt\" (a string) or \"messages\" (an array)");
        goto bad;
    }

    gptc_error err = {0};
    gptc_status st;
    if (b->harmony) {
        char date[16];
        cli_today(date);
        harmony_conv c = {.date = date,
                          .effort = effort,
                          .developer = developer,
                          .msgs = msgs,
                          .n_msgs = n_msgs,
                          .response_format = con->rf_text};
        st = harmony_render(b->tok, &b->h, &c, 1, &ids, &n_ids, &err);
    } else {
        int32_t *t = NULL;
        size_t nt = 0;
        st = gptc_tokenize(b->tok, plain.s ? plain.s : "", plain.n,
                           b->o->raw ? GPTC_TOKENIZE_SPECIAL : 0, &t, &nt, &err);
        if (st == GPTC_OK) {
            int32_t bos = gptc_tokenizer_bos(b->tok);
            int add = bos >= 0 && (gptc_tokenizer_add_bos(b->tok) || nt == 0);
            ids = malloc((nt + 1) * sizeof *ids);
            if (!ids) {
                gptc_free(t);
                goto nomem;
            }
            if (add) ids[n_ids++] = bos;
            if (nt) memcpy(ids + n_ids, t, nt * sizeof *t);
            n_ids += nt;
            gptc_free(t);
        }
    }
    if (st != GPTC_OK) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto bad;
    }
    if (n_ids == 0) {
        snprintf(msg, sizeof msg, "empty prompt");
        goto bad;
    }
    if (n_ids >= (size_t)gptc_session_n_ctx(sl->s)) {
        snprintf(msg, sizeof msg, "the prompt is %zu tokens but the context holds %d", n_ids,
                 gptc_session_n_ctx(sl->s));
        goto bad;
    }
    if (con->g && !b->trie && (st = gptc_token_trie_new(b->tok, &b->trie, &err)) != GPTC_OK) {
        *code = cli_fail(st, &err);
        goto quiet_fail;
    }
    if ((st = cli_gen_constrain(&sl->g, con->g, b->trie, &err)) != GPTC_OK) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto bad;
    }
    sl->t0 = cli_now_ms();
    if (gptc_session_set_sampling(sl->s, &samp) != GPTC_OK) {
        snprintf(msg, sizeof msg, "invalid sampling parameters");
        goto bad;
    }
    if (cli_gen_set_stops(&sl->g, sl->ctl.stops, sl->ctl.n_stops)) goto nomem;
    cli_gen_set_logprobs(&sl->g, sl->s, sl->ctl.logprobs);
    st = gptc_session_truncate(sl->s, 0, &err);
    if (st == GPTC_OK) st = gptc_session_feed(sl->s, ids, n_ids, &err);
    if (st == GPTC_ERR_INTERRUPTED) {
        g_stop = 1;
        goto quiet_fail;
    }
    if (st != GPTC_OK) {
        *code = cli_fail(st, &err);
        goto quiet_fail;
    }
    sl->text.n = sl->reasoning.n = 0;
    if (sl->text.s) sl->text.s[0] = 0;
    if (sl->reasoning.s) sl->reasoning.s[0] = 0;
    cli_gen_begin(&sl->g, n_predict, b->o->ignore_eos);
    sl->id = cJSON_Duplicate(id, 1);
    sl->line = lineno;
    sl->active = 1;
    free(ids);
    free(msgs);
    free(dev);
    strbuf_free(&plain);
    cJSON_Delete(j);
    if (n_predict == 0) sl->g.finish = CLI_FINISH_LENGTH;
    return 0;
nomem:
    snprintf(msg, sizeof msg, "out of memory");
bad : {
    int r = write_error(b, lineno, id, msg);
    free(ids);
    free(msgs);
    free(dev);
    strbuf_free(&plain);
    cJSON_Delete(j);
    if (r) {
        *code = EXIT_RUNTIME;
        return -1;
    }
    return 1;
}
quiet_fail:
    free(ids);
    free(msgs);
    free(dev);
    strbuf_free(&plain);
    cJSON_Delete(j);
    if (!*code) *code = EXIT_INTERRUPTED;
    return -1;
}

static int finish_job(batch *b, slot *sl) {
    cli_gen_end(&sl->g);
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddItemToObject(rec, "id", sl->id);
    sl->id = NULL;
    cJSON_AddStringToObject(rec, "text", sl->text.s ? sl->text.s : "");
    if (b->harmony)
        cJSON_AddStringToObject(rec, "reasoning", sl->reasoning.s ? sl->reasoning.s : "");
    cJSON_AddNumberToObject(rec, "tokens", sl->g.n_gen);
    cJSON_AddStringToObject(rec, "finish_reason", cli_finish_name(sl->g.finish));
    cJSON *lp = cli_gen_take_logprobs(&sl->g);
    if (lp) cJSON_AddItemToObject(rec, "logprobs", lp);
    cJSON_AddNumberToObject(rec, "ms", (double)(long)(cli_now_ms() - sl->t0));
    b->n_tokens += sl->g.n_gen;
    sl->active = 0;
    return write_record(b, rec);
}

/* Reads the existing output: ids done and error lines, and cuts a torn last line. */
static int load_done(batch *b, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? 0 : (cli_error("%s: %s", path, strerror(errno)), -1);
    if (S_ISDIR(sb.st_mode)) {
        cli_error("%s: is a directory", path);
        return -1;
    }
    /* only a regular file can hold earlier records: /dev/full, /dev/null or a FIFO is written
     * to, never read back (reading /dev/full would never end) */
    if (!S_ISREG(sb.st_mode)) return 0;
    size_t len = 0;
    char *txt = cli_slurp_file(path, &len);
    if (!txt) return -1;
    size_t keep = len;
    while (keep > 0 && txt[keep - 1] != '\n') keep--;
    if (keep < len) {
        /* a record cut by a kill: drop it, it will be redone */
        if (truncate(path, (off_t)keep)) {
            cli_error("%s: %s", path, strerror(errno));
            free(txt);
            return -1;
        }
        txt[keep] = 0;
    }
    for (char *save = NULL, *ln = strtok_r(txt, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(ln);
        if (!j) continue;
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *line = cJSON_GetObjectItemCaseSensitive(j, "line");
        char *k = NULL;
        if (err && cJSON_IsNumber(line))
            k = line_key((long)line->valuedouble);
        else if (!err)
            k = id_key(cJSON_GetObjectItemCaseSensitive(j, "id"));
        if (k) strset_add(&b->done, k);
        free(k);
        cJSON_Delete(j);
    }
    free(txt);
    return 0;
}

/* Is this input line already done (by id, or as an error line)? */
static int line_done(batch *b, const char *line, long lineno) {
    char *k = line_key(lineno);
    int d = k && strset_has(&b->done, k);
    free(k);
    if (d) return 1;
    cJSON *j = cJSON_Parse(line);
    if (!j) return 0;
    k = id_key(cJSON_GetObjectItemCaseSensitive(j, "id"));
    d = k && strset_has(&b->done, k);
    free(k);
    cJSON_Delete(j);
    return d;
}

int cli_batch(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    batch_extra e = {NULL, NULL, 1, 0, 1};
    int r = cli_parse_cmd(argc, argv, CLI_G_MODEL | CLI_G_SAMPLE | CLI_G_HARMONY | CLI_G_OUTPUT, &o,
                          extra_opts, &e, usage_text);
    if (r != CLI_CONTINUE) return r;
    if (!e.in || !e.out) {
        cli_error("batch needs -i INPUT.jsonl and -o OUTPUT.jsonl");
        return EXIT_USAGE;
    }
    if (strcmp(e.out, "-") && cli_check_output(&o, e.out, NULL)) return EXIT_USAGE;
    struct stat si, so;
    if (strcmp(e.out, "-") && stat(e.in, &si) == 0 && stat(e.out, &so) == 0 &&
        si.st_dev == so.st_dev && si.st_ino == so.st_ino && S_ISREG(si.st_mode)) {
        cli_error("-i and -o name the same file (%s): the results would be appended to the "
                  "prompts",
                  e.out);
        return EXIT_USAGE;
    }
    size_t in_len = 0;
    char *in = cli_slurp_file(e.in, &in_len);
    if (!in) return EXIT_USAGE;
    if (memchr(in, 0, in_len)) {
        cli_error("%s: contains a NUL byte", e.in);
        free(in);
        return EXIT_USAGE;
    }
    batch b;
    memset(&b, 0, sizeof b);
    b.o = &o;
    b.e = &e;
    if ((r = cli_constraint_from_opts(&o, &b.defcon))) {
        free(in);
        return r;
    }
    int to_stdout = !strcmp(e.out, "-");
    if (!to_stdout && load_done(&b, e.out)) {
        free(in);
        strset_free(&b.done);
        cli_constraint_free(&b.defcon);
        return EXIT_USAGE;
    }
    /* split lines; select this shard's non-blank, not yet done lines */
    size_t n_lines = 0;
    for (size_t i = 0; i < in_len; i++) n_lines += in[i] == '\n';
    n_lines++;
    char **lines = calloc(n_lines, sizeof *lines);
    long *linenos = calloc(n_lines, sizeof *linenos);
    if (!lines || !linenos) {
        cli_error("out of memory");
        free(in);
        free(lines);
        free(linenos);
        strset_free(&b.done);
        cli_constraint_free(&b.defcon);
        return EXIT_RUNTIME;
    }
    size_t n_jobs = 0;
    long idx = 0;
    for (char *p = in; p && *p; idx++) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[l - 1] = 0;
        int blank = strspn(p, " \t") == strlen(p);
        if (!blank && idx % e.shard_n == e.shard_i && !line_done(&b, p, idx + 1)) {
            lines[n_jobs] = p;
            linenos[n_jobs++] = idx + 1;
        }
        p = nl ? nl + 1 : NULL;
    }
    b.n_total = (long)n_jobs;
    int code = EXIT_DONE;
    slot *slots = NULL;
    if (n_jobs == 0) {
        if (!o.quiet && (isatty(2) || o.verbose))
            fprintf(stderr, "batch: nothing to do (all selected lines are in %s)\n", e.out);
        goto out;
    }
    b.out = to_stdout ? stdout : fopen(e.out, "a");
    if (!b.out) {
        cli_error("%s: %s", e.out, strerror(errno));
        code = EXIT_USAGE;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if ((r = cli_load_model(&o, e.parallel, &b.model))) {
        code = r;
        goto out;
    }
    b.tok = gptc_model_tokenizer(b.model);
    b.harmony = !o.raw && cli_model_harmony(b.model, &b.h);
    cli_session_params(&o, b.model, &b.sp);
    {
        gptc_model_info info;
        gptc_model_get_info(b.model, &info);
        int tv = (int)gptc_tokenizer_n_vocab(b.tok);
        b.n_vocab = tv > 0 && tv < info.n_vocab ? tv : info.n_vocab;
    }
    int n_slots = e.parallel < (int)n_jobs ? e.parallel : (int)n_jobs;
    slots = calloc((size_t)n_slots, sizeof *slots);
    if (!slots) {
        cli_error("out of memory");
        code = EXIT_RUNTIME;
        goto out;
    }
    gptc_error err = {0};
    for (int i = 0; i < n_slots; i++) {
        gptc_status st = gptc_session_new(b.model, &b.sp, &slots[i].s, &err);
        if (st == GPTC_OK)
            st = cli_gen_init(&slots[i].g, b.tok, b.harmony, &b.h, o.raw, slot_sink, &slots[i],
                              &err);
        if (st != GPTC_OK) {
            code = cli_fail(st, &err);
            goto out;
        }
    }
    b.progress = !o.quiet && isatty(2);
    b.t_start = cli_now_ms();
    cli_log(&o, "batch: %zu prompts, %d parallel\n", n_jobs, n_slots);
    size_t next = 0;
    gptc_session **ss = calloc((size_t)n_slots, sizeof *ss);
    int32_t *step_ids = calloc((size_t)n_slots, sizeof *step_ids);
    int *step_slot = calloc((size_t)n_slots, sizeof *step_slot);
    if (!ss || !step_ids || !step_slot) {
        free(ss);
        free(step_ids);
        free(step_slot);
        cli_error("out of memory");
        code = EXIT_RUNTIME;
        goto out;
    }
    progress(&b, 0);
    while (!g_stop && code == EXIT_DONE) {
        /* refill free slots */
        for (int i = 0; i < n_slots && !g_stop && code == EXIT_DONE; i++) {
            while (!slots[i].active && next < n_jobs && !g_stop) {
                int sr = start_job(&b, &slots[i], lines[next], linenos[next], &code);
                next++;
                if (sr < 0) break;
                if (sr == 1) progress(&b, 0);
                if (sr == 0 && slots[i].g.finish == CLI_FINISH_LENGTH) { /* n_predict 0 */
                    if (finish_job(&b, &slots[i])) code = EXIT_RUNTIME;
                    progress(&b, 0);
                }
            }
        }
        if (g_stop || code != EXIT_DONE) break;
        /* one step for every active slot */
        int k = 0;
        for (int i = 0; i < n_slots; i++) {
            slot *sl = &slots[i];
            if (!sl->active) continue;
            int32_t id = 0;
            int done = cli_gen_prepare(&sl->g, sl->s); /* 1: the constraint allows nothing */
            gptc_status st = done ? GPTC_OK : gptc_session_sample(sl->s, &id, &err);
            if (st == GPTC_OK && !done) st = cli_gen_token(&sl->g, id, &done, &err);
            if (st != GPTC_OK) {
                code = cli_fail(st, &err);
                break;
            }
            if (!done && gptc_session_n_past(sl->s) >= gptc_session_n_ctx(sl->s)) {
                sl->g.finish = CLI_FINISH_CONTEXT;
                done = 1;
            }
            if (done) {
                if (finish_job(&b, sl)) {
                    code = EXIT_RUNTIME;
                    break;
                }
                progress(&b, 0);
                continue;
            }
            ss[k] = sl->s;
            step_ids[k] = id;
            step_slot[k++] = i;
        }
        if (code != EXIT_DONE) break;
        if (k == 0) {
            if (next >= n_jobs) break;
            continue;
        }
        gptc_status st = k == 1 ? gptc_session_feed(ss[0], step_ids, 1, &err)
                                : gptc_decode_multi(ss, step_ids, k, &err);
        if (st == GPTC_ERR_INTERRUPTED) break;
        if (st != GPTC_OK) {
            code = cli_fail(st, &err);
            break;
        }
    }
    free(ss);
    free(step_ids);
    free(step_slot);
    if (b.progress) progress(&b, 1);
    if (g_stop && code == EXIT_DONE) {
        fprintf(stderr,
                "batch: interrupted; %ld of %ld written. Rerun the same command to "
                "resume.\n",
                b.n_done, b.n_total);
        code = EXIT_INTERRUPTED;
    }
out:
    if (slots) {
        for (int i = 0; i < e.parallel && i < (int)n_jobs; i++) {
            cJSON_Delete(slots[i].id);
            strbuf_free(&slots[i].text);
            strbuf_free(&slots[i].reasoning);
            cli_gen_free(&slots[i].g);
            cli_constraint_free(&slots[i].con);
            gptc_session_free(slots[i].s);
        }
        free(slots);
    }
    gptc_token_trie_free(b.trie);
    cli_constraint_free(&b.defcon);
    if (b.out && (b.out == stdout ? fflush(b.out) : fclose(b.out)) && code == EXIT_DONE)
        code = EXIT_RUNTIME;
    gptc_model_free(b.model);
    strset_free(&b.done);
    free(lines);
    free(linenos);
    free(in);
    return code;
}
