/* batch.c — gptc batch -m MODEL -i prompts.jsonl -o results.jsonl [--parallel N] [--shard I/N]
 *                       [--order completion|input] [generation flags as defaults for every line]
 *
 * Input: one JSON object per line, in gptc's native format or OpenAI's Batch API format, told
 * apart line by line (cli/batch_line.h has both and their checks); response_format, stop,
 * logprobs / top_logprobs and logit_bias are read here (they need the model); the constraint
 * flags are the default; -i - reads stdin. Output: one record per input line (cli/batch_out.h:
 * native records, or OpenAI's batch output lines for OpenAI input), appended and flushed as each
 * finishes (--order completion, the default) or in input order (--order input: records that
 * finish early wait in memory, at most ORDER_WINDOW(parallel) of them; while that many wait no
 * new line starts). A bad line gets an error record and the rest continue. An id (custom_id)
 * already used on an earlier line of the input makes an error record for the later line.
 * Rerunning with the same -o skips the ids (and error lines) already there, so a killed run
 * resumes; an interrupted and resumed run writes the same set of records as one uninterrupted
 * run. The output file is locked (fcntl) while a run writes it: a second run on it stops at once.
 * Only gptc's own records are appended to: another file is refused, and of a last line without
 * its newline only a record cut short by a kill is removed.
 * Each line without its own "seed" samples with a seed derived from the run's seed (-s) and the
 * line number, so identical prompts give different samples, reproducibly; OpenAI's "n" samples
 * choice k > 0 with a seed derived from the line's seed and k.
 * --shard I/N takes the lines whose 0-based index is I modulo N. --parallel N decodes N
 * sequences together (gptc_decode_multi); a finished slot is refilled at once. The n choices of
 * a line share its prefill: the prompt is fed once into a spare session and copied into each
 * choice's slot (gptc_session_copy). */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/batch_line.h"
#include "cli/batch_out.h"
#include "cli/constrain.h"
#include "cli/genloop.h"
#include "cli/jsontext.h"
#include "cli/toolcalls.h"
#include "cli/toolchoice.h"

static const char usage_text[] =
    "usage: gptc batch -m MODEL.gguf -i IN.jsonl -o OUT.jsonl [options]\n"
    "  -i, --input FILE       prompts, one JSON object per line (- for stdin):\n"
    "                         {\"id\":..., \"prompt\":\"...\"} or {\"id\":..., "
    "\"messages\":[...]}\n"
    "                         optional per line: n_predict, temperature, top_p, seed,\n"
    "                         reasoning_effort, stop, logprobs, top_logprobs, logit_bias,\n"
    "                         response_format, tools, tool_choice;\n"
    "                         or OpenAI's batch lines {\"custom_id\":..., \"method\":\"POST\",\n"
    "                         \"url\":\"/v1/chat/completions\", \"body\":{...}} (also\n"
    "                         /v1/completions), answered with OpenAI's batch output lines\n"
    "  -o, --output FILE      results, appended one JSON line per prompt as each finishes;\n"
    "                         ids already in FILE are skipped (resume); - for stdout;\n"
    "                         a later line reusing an id gets an error record\n"
    "  --order completion|input  write each result when it finishes (default), or in the\n"
    "                         order of the input lines\n"
    "  --parallel N           sequences decoded together (default 1)\n"
    "  --shard I/N            only lines with 0-based index % N == I (e.g. $SLURM_ARRAY_TASK_ID)\n"
    "  generation defaults:   -n --temp --top-k --top-p --min-p --repeat-penalty --raw\n"
    "                         --ignore-eos --stop --logprobs -l --system --reasoning-effort\n"
    "                         -c --backend -t ... --grammar --grammar-file --json-schema\n"
    "                         --json-schema-file --json-object --tools --tool-choice; -s SEED\n"
    "                         (each line's seed is derived from it and the line number,\n"
    "                         unless the line gives \"seed\")\n"
    "  -q, --quiet            no progress bar (it is shown only on a terminal anyway)\n";

/* --order input: records that finished ahead of an earlier line wait in memory, at most this
 * many; while the window is full no new line starts. */
#define ORDER_WINDOW(parallel) ((parallel)*16 > 256 ? (parallel)*16 : 256)

typedef struct batch_extra {
    const char *in, *out;
    int parallel;
    int shard_i, shard_n;
    int order_input;
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
    if (cli_is_flag(a, "--order")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        if (strcmp(v, "input") && strcmp(v, "completion")) {
            cli_error("--order: '%s' is not completion or input", v);
            return -1;
        }
        e->order_input = !strcmp(v, "input");
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
    long *val;
    size_t cap, n;
} strset;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

/* The value stored with k, 0 when k is absent. */
static long strset_get(const strset *s, const char *k) {
    if (!s->cap) return 0;
    for (size_t i = fnv(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->v[i]) return 0;
        if (!strcmp(s->v[i], k)) return s->val[i];
    }
}

/* Adds k with value val (> 0) unless present. */
static int strset_add(strset *s, const char *k, long val) {
    if (strset_get(s, k)) return 0;
    if ((s->n + 1) * 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        char **nv = calloc(nc, sizeof *nv);
        long *nval = calloc(nc, sizeof *nval);
        if (!nv || !nval) {
            free(nv);
            free(nval);
            return -1;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->v[i]) continue;
            size_t j = fnv(s->v[i]) & (nc - 1);
            while (nv[j]) j = (j + 1) & (nc - 1);
            nv[j] = s->v[i];
            nval[j] = s->val[i];
        }
        free(s->v);
        free(s->val);
        s->v = nv;
        s->val = nval;
        s->cap = nc;
    }
    size_t j = fnv(k) & (s->cap - 1);
    while (s->v[j]) j = (j + 1) & (s->cap - 1);
    if (!(s->v[j] = strdup(k))) return -1;
    s->val[j] = val;
    s->n++;
    return 0;
}

static void strset_free(strset *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->v[i]);
    free(s->v);
    free(s->val);
    memset(s, 0, sizeof *s);
}

/* ---- signals ----------------------------------------------------------------------------------
 */
static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) {
    g_stop = sig == SIGTERM ? 2 : 1;
}

/* ---- slots and jobs ---------------------------------------------------------------------------
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

/* One input line being answered: its n choices run in slots, one each. */
typedef struct bjob {
    batch_job pj; /* the parsed line (the strings below point into it) */
    long line;    /* 1-based line number */
    size_t seq;   /* index among the selected lines (--order input) */
    int32_t *ids; /* the prompt */
    size_t n_ids;
    gptc_sampler_params samp; /* choice 0's; choice k > 0 reseeded */
    int n_predict;
    line_ctl ctl;
    cli_constraint con; /* the line's response_format (con.g NULL: none) */
    const cli_constraint *conp;
    const tooldefs *tools;   /* the line's "tools", else --tools */
    cli_tool_choice tchoice; /* the line's "tool_choice", else --tool-choice */
    int started, finished;   /* choices */
    cJSON *choices;          /* finished choices, by index */
    int completion_tokens;
    double t0;
} bjob;

typedef struct slot {
    gptc_session *s;
    cli_gen g;
    strbuf text, reasoning;
    int active;
    bjob *job;
    int choice;
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
    char model_name[256];
    gptc_session_params sp;
    FILE *out;
    int need_nl; /* the output's last record lacks its newline */
    int closed;  /* stdout can no longer be written */
    strset done;
    long n_total, n_done, n_tokens;
    double t_start;
    int progress;
    cli_constraint defcon; /* from the flags */
    tooldefs deftools;     /* --tools: for lines without "tools" */
    gptc_token_trie *trie; /* made on first use */
    batch_format file_fmt; /* the shape of error records for lines that are not JSON */
    gptc_session *prefix;  /* holds the prompt of a line with n > 1 (made on first use) */
    /* --order input */
    char **wait;     /* [window] records that wait for an earlier line, by seq % window */
    size_t window;   /* its size */
    size_t next_out; /* seq of the next record to write */
} batch;

static int write_text(batch *b, const char *s) {
    int ok = (!b->need_nl || fputc('\n', b->out) != EOF) && fputs(s, b->out) >= 0 &&
             fputc('\n', b->out) != EOF && fflush(b->out) == 0;
    b->need_nl = 0;
    if (!ok) {
        if (b->out == stdout) {
            /* stdout's reader went away (| head) or stdout cannot be written: the same rule as
             * every command (cli.h), applied by cli_finish_stdout at exit */
            b->closed = 1;
            return -1;
        }
        cli_error("%s: %s", b->e->out, strerror(errno));
        return -1;
    }
    b->n_done++;
    return 0;
}

/* Writes the record of selected line seq (taking rec): at once, or with --order input when
 * every earlier line's is out (the ones waiting behind it follow). */
static int write_record(batch *b, size_t seq, cJSON *rec) {
    char *s = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    if (!s) {
        cli_error("out of memory");
        return -1;
    }
    if (!b->wait) {
        int r = write_text(b, s);
        free(s);
        return r;
    }
    b->wait[seq % b->window] = s;
    while (b->wait[b->next_out % b->window]) {
        char **w = &b->wait[b->next_out % b->window];
        int r = write_text(b, *w);
        free(*w);
        *w = NULL;
        b->next_out++;
        if (r) return r;
    }
    return 0;
}

static int write_error(batch *b, size_t seq, long line, batch_format f, const cJSON *id,
                       const char *code, const char *msg) {
    return write_record(b, seq, batch_error(f, line, id, code, msg));
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

/* The seed of a line without its own: the run's seed and the line number mixed (splitmix64),
 * so that every line samples differently and a rerun (resumed, sharded, parallel) repeats it. */
static uint64_t line_seed(uint64_t run_seed, long lineno) {
    uint64_t z = run_seed + 0x9E3779B97F4A7C15ull * (uint64_t)lineno;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The output-control fields of a line (each replaces its command-line default): stop,
 * logprobs / top_logprobs, logit_bias (completion: /v1/completions, whose logprobs is a count).
 * Returns 0, or -1 with msg set. */
static int ctl_fields(const batch *b, const cJSON *j, int completion, line_ctl *c, char *msg,
                      size_t cap) {
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
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "logprobs")) && !cJSON_IsNull(v) && completion &&
        cJSON_IsNumber(v)) {
        /* /v1/completions: "logprobs": N asks for N alternatives */
        if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 20) {
            snprintf(msg, cap, "\"logprobs\" must be an integer in [0, 20]");
            return -1;
        }
        c->logprobs = (int)v->valuedouble;
    } else if (v && !cJSON_IsNull(v)) {
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
                const char *ks = k ? k : ""; /* quoted up to 40 bytes of whole characters */
                const size_t kl = cli_utf8_prefix(ks, strnlen(ks, 40));
                snprintf(msg, cap, "\"logit_bias\": \"%.*s\" is not a token id in [0, %d)", (int)kl,
                         ks, b->n_vocab);
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

static gptc_status set_err(gptc_error *e, gptc_status st, const char *msg) {
    e->status = st;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    return st;
}

static void job_free(bjob *j) {
    if (!j) return;
    batch_job_free(&j->pj);
    free(j->ids);
    cli_constraint_free(&j->con);
    cJSON_Delete(j->choices);
    free(j);
}

/* Does the conversation use tools (tool messages, calls)? A plain model cannot render them. */
static int uses_tools(const batch_job *pj) {
    if (pj->tools.n) return 1;
    for (size_t i = 0; i < pj->msgs.n; i++)
        if (pj->msgs.m[i].n_calls || !strcmp(pj->msgs.m[i].role, "tool")) return 1;
    return 0;
}

/* The prompt of a job: harmony's rendering of the conversation (gpt-oss), or the texts of its
 * user/assistant/tool messages joined by newlines (plain models). */
static gptc_status render_prompt(batch *b, bjob *j, gptc_error *err) {
    const batch_job *pj = &j->pj;
    if (b->harmony) {
        char date[16];
        cli_today(date);
        char *tools = j->tools->n ? tooldefs_render(j->tools) : NULL;
        if (j->tools->n && !tools) return GPTC_ERR_NOMEM;
        harmony_conv c = {.date = date,
                          .effort = pj->effort ? pj->effort : b->o->effort,
                          .developer = pj->has_system ? NULL : b->o->system,
                          .msgs = pj->msgs.m,
                          .n_msgs = pj->msgs.n,
                          .tools = tools,
                          .response_format = j->conp->rf_text};
        gptc_status st = harmony_render(b->tok, &b->h, &c, 1, &j->ids, &j->n_ids, err);
        free(tools);
        return st;
    }
    strbuf plain = {0};
    for (size_t i = 0; i < pj->msgs.n; i++) {
        const harmony_msg *m = &pj->msgs.m[i];
        if (!strcmp(m->role, "system") || !strcmp(m->role, "developer") || !m->content) continue;
        if ((plain.n && strbuf_add(&plain, "\n", 1)) ||
            strbuf_add(&plain, m->content, strlen(m->content))) {
            strbuf_free(&plain);
            return GPTC_ERR_NOMEM;
        }
    }
    int32_t *t = NULL;
    size_t nt = 0;
    gptc_status st = gptc_tokenize(b->tok, plain.s ? plain.s : "", plain.n,
                                   b->o->raw ? GPTC_TOKENIZE_SPECIAL : 0, &t, &nt, err);
    strbuf_free(&plain);
    if (st != GPTC_OK) return st;
    int32_t bos = gptc_tokenizer_bos(b->tok);
    int add = bos >= 0 && (gptc_tokenizer_add_bos(b->tok) || nt == 0);
    j->ids = malloc((nt + 1) * sizeof *j->ids);
    if (!j->ids) {
        gptc_free(t);
        return GPTC_ERR_NOMEM;
    }
    if (add) j->ids[j->n_ids++] = bos;
    if (nt) memcpy(j->ids + j->n_ids, t, nt * sizeof *t);
    j->n_ids += nt;
    gptc_free(t);
    return GPTC_OK;
}

/* Parses selected line seq (input line `lineno`) into a job ready to start: its settings,
 * constraint and rendered prompt. Returns 0 with *out set, 1 when an error record was written
 * instead, -1 on a fatal error (exit code in *code). dup_of: the earlier line that used this
 * line's id (0: none). */
static int make_job(batch *b, const char *line, long lineno, size_t seq, long dup_of, bjob **out,
                    int *code) {
    char msg[GPTC_ERROR_MSG_MAX + 64];
    const char *ecode = "invalid_request";
    *out = NULL;
    bjob *j = calloc(1, sizeof *j);
    if (!j) {
        cli_error("out of memory");
        *code = EXIT_RUNTIME;
        return -1;
    }
    j->line = lineno;
    j->seq = seq;
    batch_job *pj = &j->pj;
    gptc_error err = {0};
    gptc_status st;
    if (batch_line_parse(line, strlen(line), pj, msg, sizeof msg)) {
        if (!cJSON_IsObject(pj->json)) {
            pj->format = b->file_fmt;
            ecode = "invalid_json_line";
        }
        goto bad;
    }
    if (dup_of) {
        snprintf(msg, sizeof msg, "duplicate %s (already used on line %ld)",
                 pj->format == BATCH_NATIVE ? "id" : "custom_id", dup_of);
        ecode = "duplicate_custom_id";
        goto bad;
    }
    j->samp = b->sp.sampling;
    j->samp.seed = pj->has_seed ? pj->seed : line_seed(b->sp.sampling.seed, lineno);
    if (pj->has_temperature) j->samp.temperature = pj->temperature;
    if (pj->has_top_p) j->samp.top_p = pj->top_p;
    j->n_predict = pj->has_n_predict ? pj->n_predict : b->o->n_predict;
    if (ctl_fields(b, pj->body, pj->format == BATCH_OPENAI_COMPLETION, &j->ctl, msg, sizeof msg))
        goto bad;
    if (j->ctl.bias_given) {
        j->samp.logit_bias = j->ctl.n_bias ? j->ctl.bias : NULL;
        j->samp.n_logit_bias = j->ctl.n_bias;
    }
    const cJSON *rf = pj->response_format;
    if (rf && cli_constraint_from_response_format(rf, &j->con, msg, sizeof msg)) goto bad;
    j->conp = rf ? &j->con : &b->defcon;
    /* the line's tools and tool_choice, else the flags' */
    j->tools = pj->tools.n ? &pj->tools : &b->deftools;
    if (pj->tool_choice
            ? cli_tool_choice_from_json(pj->tool_choice, j->tools, &j->tchoice, msg, sizeof msg)
            : cli_tool_choice_from_flag(b->o->tool_choice, j->tools, &j->tchoice, msg, sizeof msg))
        goto bad;
    if (!b->harmony && (uses_tools(pj) || j->tools->n)) {
        snprintf(msg, sizeof msg, "tools, tool calls and tool messages need a gpt-oss model");
        goto bad;
    }
    if ((st = render_prompt(b, j, &err)) != GPTC_OK) {
        snprintf(msg, sizeof msg, "%s", st == GPTC_ERR_NOMEM ? "out of memory" : err.msg);
        goto bad;
    }
    if (j->n_ids == 0) {
        snprintf(msg, sizeof msg, "empty prompt");
        goto bad;
    }
    if (j->n_ids >= (size_t)b->sp.n_ctx && b->sp.n_ctx > 0) {
        snprintf(msg, sizeof msg, "the prompt is %zu tokens but the context holds %d", j->n_ids,
                 b->sp.n_ctx);
        ecode = "context_length_exceeded";
        goto bad;
    }
    if ((j->conp->g || (b->harmony && j->tools->n)) && !b->trie &&
        (st = gptc_token_trie_new(b->tok, &b->trie, &err)) != GPTC_OK) {
        *code = cli_fail(st, &err);
        job_free(j);
        return -1;
    }
    if (!(j->choices = cJSON_CreateArray())) goto nomem;
    for (int k = 0; k < pj->n_choices; k++) {
        cJSON *ph = cJSON_CreateNull();
        if (!ph) goto nomem;
        cJSON_AddItemToArray(j->choices, ph);
    }
    *out = j;
    return 0;
nomem:
    snprintf(msg, sizeof msg, "out of memory");
bad : {
    int r = write_error(b, seq, lineno, pj->format, pj->id, ecode, msg);
    job_free(j);
    if (r) {
        *code = b->closed ? EXIT_DONE : EXIT_RUNTIME;
        return -1;
    }
    return 1;
}
}

/* Starts job j's next choice in the free slot sl. The prompt is fed into the slot's session;
 * for a line with n > 1 it is fed once into b->prefix and copied into each choice's slot.
 * Returns 0, or -1 with the exit code in *code. */
static int start_choice(batch *b, slot *sl, bjob *j, int *code) {
    const int k = j->started++;
    gptc_sampler_params samp = j->samp;
    if (k > 0) samp.seed = line_seed(j->samp.seed, k);
    gptc_error err = {0};
    gptc_status st =
        cli_gen_constrain_tools(&sl->g, j->conp->g, j->tools, &j->tchoice, b->trie, &err);
    if (st == GPTC_OK && gptc_session_set_sampling(sl->s, &samp) != GPTC_OK)
        st = set_err(&err, GPTC_ERR_INVALID_ARG, "invalid sampling parameters");
    if (st == GPTC_OK && cli_gen_set_stops(&sl->g, j->ctl.stops, j->ctl.n_stops))
        st = set_err(&err, GPTC_ERR_NOMEM, "out of memory");
    if (st != GPTC_OK) {
        *code = cli_fail(st, &err);
        return -1;
    }
    cli_gen_set_logprobs(&sl->g, sl->s, j->ctl.logprobs);
    if (j->pj.n_choices == 1) {
        st = gptc_session_truncate(sl->s, 0, &err);
        if (st == GPTC_OK) st = gptc_session_feed(sl->s, j->ids, j->n_ids, &err);
    } else {
        if (!b->prefix) st = gptc_session_new(b->model, &b->sp, &b->prefix, &err);
        if (st == GPTC_OK && k == 0) {
            st = gptc_session_truncate(b->prefix, 0, &err);
            if (st == GPTC_OK) st = gptc_session_feed(b->prefix, j->ids, j->n_ids, &err);
        }
        if (st == GPTC_OK) st = gptc_session_copy(sl->s, b->prefix, &err);
    }
    if (st == GPTC_ERR_INTERRUPTED) {
        if (!g_stop) g_stop = 1;
        *code = EXIT_INTERRUPTED;
        return -1;
    }
    if (st != GPTC_OK) {
        *code = cli_fail(st, &err);
        return -1;
    }
    if (k == 0) j->t0 = cli_now_ms();
    sl->text.n = sl->reasoning.n = 0;
    if (sl->text.s) sl->text.s[0] = 0;
    if (sl->reasoning.s) sl->reasoning.s[0] = 0;
    cli_gen_begin(&sl->g, j->n_predict, b->o->ignore_eos);
    sl->job = j;
    sl->choice = k;
    sl->active = 1;
    if (j->n_predict == 0) sl->g.finish = CLI_FINISH_LENGTH;
    return 0;
}

/* The slot's answer is complete: it becomes its job's choice; the job's record is written once
 * every choice is in. Returns 0, or -1 when the record could not be written. */
static int finish_choice(batch *b, slot *sl) {
    cli_gen_end(&sl->g);
    bjob *j = sl->job;
    batch_answer a = {.text = sl->text.s ? sl->text.s : "",
                      .reasoning = b->harmony ? (sl->reasoning.s ? sl->reasoning.s : "") : NULL,
                      .n_gen = sl->g.n_gen,
                      .finish = sl->g.finish};
    if (b->harmony && harmony_parser_n_calls(sl->g.hp))
        a.tool_calls = toolcalls_json(sl->g.hp, j->tools);
    a.logprobs = cli_gen_take_logprobs(&sl->g);
    cJSON *c = batch_choice(j->pj.format, sl->choice, &a);
    if (!c || !cJSON_ReplaceItemInArray(j->choices, sl->choice, c)) {
        cJSON_Delete(c);
        cli_error("out of memory");
        return -1;
    }
    j->completion_tokens += sl->g.n_gen;
    b->n_tokens += sl->g.n_gen;
    j->finished++;
    sl->active = 0;
    sl->job = NULL;
    cli_gen_constrain(&sl->g, NULL, NULL, NULL); /* the job's grammar goes with it */
    if (j->finished < j->pj.n_choices) return 0;
    cJSON *choices = j->choices;
    if (j->pj.format == BATCH_NATIVE) {
        choices = cJSON_DetachItemFromArray(j->choices, 0);
    } else
        j->choices = NULL;
    cJSON *rec = batch_result(j->pj.format, j->pj.id, choices, b->model_name, (int)j->n_ids,
                              j->completion_tokens, cli_now_ms() - j->t0);
    size_t seq = j->seq;
    job_free(j);
    return rec ? write_record(b, seq, rec) : -1;
}

/* Opens the output file -o for appending. A regular file is locked first (fcntl: a second run
 * on it stops with the holder's pid), then its records are read (what is done), a record cut
 * short by a kill is removed, and a file that is not gptc's JSON lines is refused. Other files
 * (/dev/null, a FIFO) are only written. Returns 0, or the exit code after one error line.
 * The lock lasts until b->out is closed; no other descriptor of the file may be opened and
 * closed meanwhile (closing one would drop the lock). */
static int open_output(batch *b, const char *path) {
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (!exists && errno != ENOENT) {
        cli_error("%s: %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    if (exists && S_ISDIR(sb.st_mode)) {
        cli_error("%s: is a directory", path);
        return EXIT_USAGE;
    }
    if (exists && !S_ISREG(sb.st_mode)) {
        b->out = fopen(path, "a");
        if (!b->out) {
            cli_error("%s: %s", path, strerror(errno));
            return EXIT_USAGE;
        }
        return 0;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_error("%s: %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) != 0 && (errno == EACCES || errno == EAGAIN)) {
        struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        char who[64] = "another process";
        if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK && q.l_pid > 0)
            snprintf(who, sizeof who, "another process (pid %ld)", (long)q.l_pid);
        cli_error("%s: %s is writing this file; wait for it to finish, or give each run its "
                  "own -o (--shard I/N splits the input)",
                  path, who);
        close(fd);
        return EXIT_USAGE;
    }
    /* (a file system without locks: go on unlocked) */
    if (fstat(fd, &sb) != 0) {
        cli_error("%s: %s", path, strerror(errno));
        close(fd);
        return EXIT_USAGE;
    }
    size_t len = 0, cap = (size_t)sb.st_size;
    char *txt = malloc(cap + 1);
    if (!txt) {
        cli_error("%s: out of memory", path);
        close(fd);
        return EXIT_RUNTIME;
    }
    while (len < cap) {
        ssize_t r = pread(fd, txt + len, cap - len, (off_t)len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            cli_error("%s: %s", path, strerror(errno));
            free(txt);
            close(fd);
            return EXIT_USAGE;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    txt[len] = 0;
    int code = 0;
    long lineno = 0;
    for (size_t at = 0; at < len && !code; lineno++) {
        char *nl = memchr(txt + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - txt) : len;
        cJSON *j = cJSON_ParseWithLength(txt + at, end - at);
        int blank = strspn(txt + at, " \t\r") >= end - at;
        char *key = NULL;
        if (batch_record_key(j, &key)) {
            if (!key || strset_add(&b->done, key, 1)) code = EXIT_RUNTIME;
            free(key);
            if (!nl) b->need_nl = 1; /* complete, only its newline is missing */
        } else if (!nl && !j &&
                   (!strncmp(txt + at, "{\"id\":", 6) || !strncmp(txt + at, "{\"line\":", 8))) {
            /* a record of ours cut short by a kill: remove it, it will be redone */
            if (ftruncate(fd, (off_t)at)) {
                cli_error("%s: %s", path, strerror(errno));
                code = EXIT_USAGE;
            }
        } else if (!blank) {
            cli_error("%s: line %ld is not a gptc batch record; refusing to append to a file that "
                      "gptc batch did not write (choose another -o)",
                      path, lineno + 1);
            code = EXIT_USAGE;
        }
        cJSON_Delete(j);
        at = end + 1;
    }
    free(txt);
    if (code) {
        close(fd);
        return code;
    }
    if (!(b->out = fdopen(fd, "a"))) {
        cli_error("%s: %s", path, strerror(errno));
        close(fd);
        return EXIT_RUNTIME;
    }
    return 0;
}

int cli_batch(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    batch_extra e = {NULL, NULL, 1, 0, 1, 0};
    int r = cli_parse_cmd(argc, argv, CLI_G_MODEL | CLI_G_SAMPLE | CLI_G_HARMONY | CLI_G_OUTPUT, &o,
                          extra_opts, &e, usage_text);
    if (r != CLI_CONTINUE) return r;
    if (!e.in || !e.out) {
        cli_error("batch needs -i INPUT.jsonl and -o OUTPUT.jsonl");
        return EXIT_USAGE;
    }
    if (o.json) {
        cli_error("--json: batch always writes JSON lines (-o FILE, or -o - for stdout)");
        return EXIT_USAGE;
    }
    int from_stdin = !strcmp(e.in, "-");
    if (strcmp(e.out, "-") && cli_check_output(&o, e.out, NULL)) return EXIT_USAGE;
    if (!from_stdin && strcmp(e.out, "-") && cli_same_file(e.in, e.out)) {
        cli_error("-i and -o name the same file (%s): the results would be appended to the "
                  "prompts",
                  e.out);
        return EXIT_USAGE;
    }
    size_t in_len = 0;
    char *in = from_stdin ? cli_slurp_stdin(&in_len) : cli_slurp_file(e.in, &in_len);
    if (!in) return EXIT_USAGE;
    if (memchr(in, 0, in_len)) {
        cli_error("%s: contains a NUL byte", from_stdin ? "stdin" : e.in);
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
    /* --tools and --tool-choice: the defaults of lines without "tools" / "tool_choice" */
    cli_tool_choice defchoice;
    char why[300];
    if (o.tool_exec) {
        cli_error("--tool-exec runs tools in a chat (gptc chat); batch records report the calls");
        r = EXIT_USAGE;
    } else if (o.tools_file && tooldefs_load(o.tools_file, &b.deftools)) {
        r = EXIT_USAGE;
    } else if (o.tools_file && /* else checked against each line's own tools */
               cli_tool_choice_from_flag(o.tool_choice, &b.deftools, &defchoice, why, sizeof why)) {
        cli_error("%s", why);
        r = EXIT_USAGE;
    }
    if (r) {
        free(in);
        cli_constraint_free(&b.defcon);
        tooldefs_free(&b.deftools);
        return r;
    }
    int to_stdout = !strcmp(e.out, "-");
    if (!to_stdout && (r = open_output(&b, e.out))) {
        free(in);
        strset_free(&b.done);
        cli_constraint_free(&b.defcon);
        tooldefs_free(&b.deftools);
        return r;
    }
    if (to_stdout) b.out = stdout;
    /* split lines; select this shard's non-blank, not yet done lines. An id's first line owns
     * it; a later line with the same id is a duplicate (over the whole input, so that shards
     * and resumed runs agree) */
    size_t n_lines = 0;
    for (size_t i = 0; i < in_len; i++) n_lines += in[i] == '\n';
    n_lines++;
    char **lines = calloc(n_lines, sizeof *lines);
    long *linenos = calloc(n_lines, sizeof *linenos);
    long *dups = calloc(n_lines, sizeof *dups);
    strset first = {0};
    if (!lines || !linenos || !dups) {
        cli_error("out of memory");
        if (b.out && b.out != stdout) fclose(b.out);
        free(in);
        free(lines);
        free(linenos);
        free(dups);
        strset_free(&b.done);
        cli_constraint_free(&b.defcon);
        tooldefs_free(&b.deftools);
        return EXIT_RUNTIME;
    }
    size_t n_jobs = 0, n_choices = 0;
    int any_n = 0;
    long idx = 0;
    for (char *p = in; p && *p; idx++) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[l - 1] = 0;
        int blank = strspn(p, " \t") == strlen(p);
        if (!blank) {
            long lineno = idx + 1, dup = 0;
            batch_format fmt;
            char *key = batch_line_peek(p, strlen(p), &fmt);
            if (fmt != BATCH_NATIVE && b.file_fmt == BATCH_NATIVE) b.file_fmt = fmt;
            if (key && !(dup = strset_get(&first, key))) strset_add(&first, key, lineno);
            char *lk = batch_line_key(lineno);
            int done = (lk && strset_get(&b.done, lk)) || (!dup && key && strset_get(&b.done, key));
            free(lk);
            free(key);
            if (idx % e.shard_n == e.shard_i && !done) {
                int nc = batch_line_peek_n(p, strlen(p));
                any_n |= nc > 1;
                n_choices += (size_t)nc;
                lines[n_jobs] = p;
                linenos[n_jobs] = lineno;
                dups[n_jobs++] = dup;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    strset_free(&first);
    b.n_total = (long)n_jobs;
    int code = EXIT_DONE;
    slot *slots = NULL;
    int n_slots = e.parallel < (int)n_choices ? e.parallel : (int)n_choices;
    bjob *cur = NULL; /* the line whose choices have not all started */
    if (n_jobs == 0) {
        if (!o.quiet && (isatty(2) || o.verbose))
            fprintf(stderr, "batch: nothing to do (all selected lines are in %s)\n", e.out);
        goto out;
    }
    if (e.order_input) {
        b.window = (size_t)ORDER_WINDOW(e.parallel);
        if (!(b.wait = calloc(b.window, sizeof *b.wait))) {
            cli_error("out of memory");
            code = EXIT_RUNTIME;
            goto out;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if ((r = cli_load_model(&o, n_slots + any_n, &b.model))) {
        code = r;
        goto out;
    }
    b.tok = gptc_model_tokenizer(b.model);
    b.harmony = !o.raw && cli_model_harmony(b.model, &b.h);
    cli_warn_unused_harmony(&o, b.harmony);
    cli_session_params(&o, b.model, &b.sp);
    {
        gptc_model_info info;
        gptc_model_get_info(b.model, &info);
        int tv = (int)gptc_tokenizer_n_vocab(b.tok);
        b.n_vocab = tv > 0 && tv < info.n_vocab ? tv : info.n_vocab;
        const char *base = o.model ? strrchr(o.model, '/') : NULL;
        snprintf(b.model_name, sizeof b.model_name, "%s",
                 info.name[0] ? info.name
                 : base       ? base + 1
                 : o.model    ? o.model
                              : info.arch);
    }
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
    if (!b.sp.n_ctx) b.sp.n_ctx = gptc_session_n_ctx(slots[0].s); /* for the prompt check */
    b.progress = !o.quiet && isatty(2);
    b.t_start = cli_now_ms();
    cli_log(&o, "batch: %zu prompts, %d parallel\n", n_jobs, n_slots);
    size_t next = 0;
    gptc_session **ss = calloc((size_t)n_slots, sizeof *ss);
    int32_t *step_ids = calloc((size_t)n_slots, sizeof *step_ids);
    if (!ss || !step_ids) {
        free(ss);
        free(step_ids);
        cli_error("out of memory");
        code = EXIT_RUNTIME;
        goto out;
    }
    progress(&b, 0);
    while (!g_stop && !b.closed && code == EXIT_DONE) {
        /* refill free slots: the started line's next choice, else the next line */
        for (int i = 0; i < n_slots && !g_stop && !b.closed && code == EXIT_DONE; i++) {
            while (!slots[i].active && !g_stop && !b.closed && code == EXIT_DONE) {
                if (!cur) {
                    if (next >= n_jobs || (b.wait && next >= b.next_out + b.window)) break;
                    int sr =
                        make_job(&b, lines[next], linenos[next], next, dups[next], &cur, &code);
                    next++;
                    if (sr < 0) break;
                    if (sr == 1) {
                        progress(&b, 0);
                        continue;
                    }
                }
                if (start_choice(&b, &slots[i], cur, &code)) break;
                if (cur->started == cur->pj.n_choices) cur = NULL;
                if (slots[i].g.finish == CLI_FINISH_LENGTH) { /* n_predict 0 */
                    if (finish_choice(&b, &slots[i])) code = b.closed ? EXIT_DONE : EXIT_RUNTIME;
                    progress(&b, 0);
                }
            }
        }
        if (g_stop || b.closed || code != EXIT_DONE) break;
        /* one step for every active slot */
        int k = 0;
        for (int i = 0; i < n_slots; i++) {
            slot *sl = &slots[i];
            if (!sl->active) continue;
            int32_t id = 0;
            int done = cli_gen_prepare(&sl->g, sl->s); /* 1: the constraint allows nothing */
            gptc_status st = done ? cli_gen_constraint_status(&sl->g, &err)
                                  : cli_gen_sample(&sl->g, sl->s, &id, &err);
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
                if (finish_choice(&b, sl)) {
                    code = b.closed ? EXIT_DONE : EXIT_RUNTIME;
                    break;
                }
                progress(&b, 0);
                continue;
            }
            ss[k] = sl->s;
            step_ids[k++] = id;
        }
        if (code != EXIT_DONE || b.closed) break;
        if (k == 0) {
            if (next >= n_jobs && !cur) break;
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
    if (b.progress) progress(&b, 1);
    if (g_stop && (code == EXIT_DONE || code == EXIT_INTERRUPTED)) {
        fprintf(stderr,
                "batch: interrupted; %ld of %ld written. Rerun the same command to "
                "resume.\n",
                b.n_done, b.n_total);
        code = g_stop == 2 ? EXIT_TERMINATED : EXIT_INTERRUPTED;
    }
out:
    if (slots) {
        for (int i = 0; i < n_slots; i++) { /* a line in flight is freed once, by its first slot */
            if (slots[i].job && slots[i].job != cur) {
                bjob *j = slots[i].job;
                for (int k = i; k < n_slots; k++)
                    if (slots[k].job == j) slots[k].job = NULL;
                job_free(j);
            }
            strbuf_free(&slots[i].text);
            strbuf_free(&slots[i].reasoning);
            cli_gen_free(&slots[i].g);
            gptc_session_free(slots[i].s);
        }
        free(slots);
    }
    job_free(cur);
    if (b.wait) {
        for (size_t i = 0; i < b.window; i++) free(b.wait[i]);
        free(b.wait);
    }
    gptc_session_free(b.prefix);
    gptc_token_trie_free(b.trie);
    cli_constraint_free(&b.defcon);
    tooldefs_free(&b.deftools);
    /* stdout: cli_finish_stdout applies the output policy at exit */
    if (b.out && b.out != stdout && fclose(b.out) && code == EXIT_DONE) {
        cli_error("%s: %s", e.out, strerror(errno));
        code = EXIT_RUNTIME;
    }
    gptc_model_free(b.model);
    strset_free(&b.done);
    free(lines);
    free(linenos);
    free(dups);
    free(in);
    return code;
}
