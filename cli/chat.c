/* chat.c — interactive chat: gptc chat -m MODEL, or gptc -m MODEL -i.
 *
 * gpt-oss: harmony multi-turn (system with reasoning effort + date, developer instructions from
 * --system/--system-file, user/assistant turns). The final channel streams to stdout; analysis
 * is hidden, or dimmed on stderr with --show-reasoning. The KV cache is kept between turns: each
 * turn re-renders the conversation, keeps the longest common prefix with what the session holds
 * (earlier analysis is dropped per harmony, so the cache is truncated there) and feeds the rest.
 * GPT-2 and --raw: a plain continuation REPL.
 *
 * Ctrl-C while generating stops that answer; Ctrl-C at the prompt or Ctrl-D exits. */
#include <cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/conv.h"
#include "cli/genloop.h"

static const char usage_text[] =
    "usage: gptc chat -m MODEL.gguf [options]     (or gptc -m MODEL.gguf -i)\n"
    "\n"
    "Interactive chat. gpt-oss speaks harmony; GPT-2 models get a plain continuation REPL.\n"
    "  --system TEXT / --system-file FILE   developer instructions\n"
    "  --reasoning-effort low|medium|high   (default medium)\n"
    "  --show-reasoning                     show the analysis channel dimmed on stderr\n"
    "  -n N                                 max tokens per answer (default: until the end token)\n"
    "  --stop S, -l ID=BIAS                 stop strings and logit bias for every answer\n"
    "  -c, --temp, --top-p, ... , --backend, -t: as in one-shot mode (gptc --help)\n"
    "In the chat: /help /reset /system TEXT /effort low|medium|high /save FILE /load FILE /stats\n"
    "/quit. End a line with \\ to continue it, or wrap several lines in \"\"\" ... \"\"\".\n"
    "Ctrl-C stops an answer; Ctrl-C at the prompt or Ctrl-D exits.\n";

static const char help_text[] =
    "commands:\n"
    "  /help                 this text\n"
    "  /reset                forget the conversation\n"
    "  /system TEXT          set the developer instructions (empty: none)\n"
    "  /effort low|medium|high  reasoning effort\n"
    "  /save FILE            save the conversation as JSON\n"
    "  /load FILE            load a conversation saved with /save\n"
    "  /stats                context use and speed\n"
    "  /quit                 exit (also Ctrl-D)\n"
    "multi-line: end a line with \\, or start and end a block with \"\"\"\n";

static gptc_session *volatile g_session;
static volatile sig_atomic_t g_sigint;

static void on_sigint(int sig) {
    (void)sig;
    g_sigint = 1;
    gptc_session *s = g_session;
    if (s) gptc_session_cancel(s);
}

/* ---- conversation files (cli/conv.h has the format) ------------------------------------------
 */
static int conv_save(const conv *c, const char *path) {
    char *s = conv_to_json(c);
    if (!s) {
        cli_error("%s: out of memory", path);
        return -1;
    }
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    free(s);
    if (!ok) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int conv_load(conv *c, const char *path) {
    size_t len = 0;
    char *txt = cli_slurp_file(path, &len);
    if (!txt) return -1;
    char msg[GPTC_ERROR_MSG_MAX];
    int r = conv_from_json(c, txt, len, msg, sizeof msg);
    free(txt);
    if (r) cli_error("%s: %s", path, msg);
    return r;
}

/* ---- input ------------------------------------------------------------------------------------
 */
/* Longest input line (more text than any context holds). */
#define CHAT_MAX_LINE (4 << 20)
static int g_line_too_long;

/* Bytes read from fd 0 but not yet returned (input is read in blocks, not a byte per call). */
static char g_in_buf[1 << 16];
static size_t g_in_pos, g_in_len;

/* Reads one line from fd 0 (without the newline). Returns 1 ok, 0 EOF, -1 interrupted.
 * poll() with a short timeout so a SIGINT that lands just before a blocking read is not lost. */
static int read_line(strbuf *line) {
    line->n = 0;
    if (strbuf_add(line, "", 0)) return 0;
    for (;;) {
        if (g_sigint) return -1;
        if (g_in_pos == g_in_len) {
            struct pollfd pf = {0, POLLIN, 0};
            int pr = poll(&pf, 1, 100);
            if (pr < 0 && errno == EINTR) continue;
            if (pr == 0) continue;
            ssize_t r = read(0, g_in_buf, sizeof g_in_buf);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return line->n ? 1 : 0;
            g_in_pos = 0;
            g_in_len = (size_t)r;
        }
        const char *p = g_in_buf + g_in_pos;
        size_t avail = g_in_len - g_in_pos;
        const char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        if (line->n + take > CHAT_MAX_LINE) { /* e.g. stdin is /dev/zero: end like EOF, exit 1 */
            cli_error("stdin: a line longer than %d MiB", CHAT_MAX_LINE >> 20);
            g_line_too_long = 1;
            return 0;
        }
        if (strbuf_add(line, p, take)) return 0;
        g_in_pos += take + (nl ? 1 : 0);
        if (nl) return 1;
    }
}

/* ---- chat state -------------------------------------------------------------------------------
 */
typedef struct chat {
    cli_opts *o;
    gptc_model *model;
    const gptc_tokenizer *tok;
    gptc_session *s;
    int harmony;
    harmony_ids h;
    cli_gen g;
    conv c;
    tokvec hist; /* ids in the session's KV cache */
    strbuf answer;
    int color_out, color_err, tty_in, tty_out;
    int reasoning_open;
    int last_nl;
    double last_tps;
    int last_tokens;
} chat;

static int chat_sink(void *user, harmony_channel ch, const char *s, size_t n) {
    chat *ct = user;
    if (ch != HARMONY_FINAL) {
        if (ct->o->show_reasoning) {
            if (!ct->reasoning_open && ct->color_err) fputs("\033[2m", stderr);
            ct->reasoning_open = 1;
            fwrite(s, 1, n, stderr);
            fflush(stderr);
        }
        return 0;
    }
    if (ct->reasoning_open) {
        fputs(ct->color_err ? "\033[0m\n" : "\n", stderr);
        fflush(stderr);
        ct->reasoning_open = 0;
    }
    strbuf_add(&ct->answer, s, n);
    if (fwrite(s, 1, n, stdout) != n || fflush(stdout)) return 1;
    ct->last_nl = s[n - 1] == '\n';
    return 0;
}

static void prompt_marker(chat *ct, int cont) {
    if (!ct->tty_in) return;
    if (ct->color_out)
        fputs(cont ? "\033[1;32m. \033[0m" : "\033[1;32m> \033[0m", stdout);
    else
        fputs(cont ? ". " : "> ", stdout);
    fflush(stdout);
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* Brings the session to exactly `ids[0..keep)` + feeds nothing: truncates to the common prefix.
 * Returns the number of ids already in the cache. */
static size_t sync_cache(chat *ct, const int32_t *ids, size_t n) {
    size_t p = common_prefix(ct->hist.v, ct->hist.n, ids, n);
    if (p == n && p > 0) p--; /* always feed at least one id so fresh logits exist */
    if (p < ct->hist.n) {
        gptc_error err = {0};
        if (gptc_session_truncate(ct->s, (int)p, &err) != GPTC_OK) {
            gptc_session_truncate(ct->s, 0, &err);
            p = 0;
        }
        ct->hist.n = p;
    }
    return p;
}

static void chat_reset(chat *ct) {
    conv_clear(&ct->c);
    gptc_error err = {0};
    gptc_session_truncate(ct->s, 0, &err);
    ct->hist.n = 0;
}

/* Generates after feeding ids[p..n). Returns 0 ok, or an exit code on a fatal error. */
static int chat_generate(chat *ct, const int32_t *ids, size_t n) {
    size_t p = sync_cache(ct, ids, n);
    int n_ctx = gptc_session_n_ctx(ct->s);
    if (n >= (size_t)n_ctx) {
        fprintf(stderr,
                "gptc: the conversation (%zu tokens) no longer fits the context (%d). "
                "Type /reset to start over (or restart with a larger -c).\n",
                n, n_ctx);
        return -1;
    }
    if (cli_log_enabled(ct->o) && ct->o->verbose)
        fprintf(stderr, "[kv cache: %zu tokens reused, %zu to process]\n", p, n - p);
    ct->answer.n = 0;
    ct->last_nl = 1;
    gptc_session_clear_cancel(ct->s);
    /* g_sigint is cleared before each prompt: a Ctrl-C that lands after the line was read
     * but before generation starts stops this answer (checked right below) */
    int n_predict = ct->o->n_predict;
    if (!ct->harmony && n_predict < 0) n_predict = 256;
    cli_gen_begin(&ct->g, n_predict, ct->o->ignore_eos);
    gptc_error err = {0};
    gptc_timings t0, t1;
    gptc_session_timings(ct->s, &t0);
    g_session = ct->s;
    if (g_sigint) gptc_session_cancel(ct->s);
    gptc_status st = cli_gen_run(&ct->g, ct->s, ids + p, n - p, &ct->hist, &err);
    g_session = NULL;
    gptc_session_timings(ct->s, &t1);
    if (ct->reasoning_open) {
        fputs(ct->color_err ? "\033[0m\n" : "\n", stderr);
        ct->reasoning_open = 0;
    }
    if (!ct->last_nl) fputc('\n', stdout);
    fflush(stdout);
    ct->last_tokens = ct->g.n_gen;
    double ms = cli_gen_ms(&t0, &t1);
    ct->last_tps = ms > 0 ? ct->last_tokens * 1000.0 / ms : 0;
    if (st != GPTC_OK) {
        cli_error("%s", err.msg[0] ? err.msg : gptc_status_name(st));
        /* the cache may hold a partial state: start the next turn from scratch */
        gptc_session_truncate(ct->s, 0, &err);
        ct->hist.n = 0;
        return cli_exit_code(st);
    }
    /* keep hist consistent with the session (a cancelled feed appends nothing) */
    if ((size_t)gptc_session_n_past(ct->s) != ct->hist.n) {
        gptc_session_truncate(ct->s, 0, &err);
        ct->hist.n = 0;
    }
    switch (ct->g.finish) {
    case CLI_FINISH_INTERRUPTED:
        fputs("[answer stopped]\n", stderr);
        break;
    case CLI_FINISH_CONTEXT:
        fprintf(stderr, "gptc: the context is full (%d tokens). Type /reset to start over.\n",
                n_ctx);
        break;
    case CLI_FINISH_CLOSED:
        return EXIT_DONE + 1000; /* stdout closed: quit */
    default:
        break;
    }
    if (ct->harmony && harmony_parser_malformed(ct->g.hp) && cli_log_enabled(ct->o))
        fprintf(stderr, "gptc: note: a malformed channel header was shown as text\n");
    return 0;
}

static int chat_turn_harmony(chat *ct, const char *text) {
    if (conv_add(&ct->c, "user", text)) return EXIT_RUNTIME;
    harmony_msg *msgs = calloc(ct->c.n ? ct->c.n : 1, sizeof *msgs);
    if (!msgs) return EXIT_RUNTIME;
    for (size_t i = 0; i < ct->c.n; i++)
        msgs[i] = (harmony_msg){ct->c.role[i], NULL, ct->c.content[i]};
    char date[16];
    cli_today(date);
    harmony_conv hc = {NULL, date, ct->c.effort, ct->c.system, msgs, ct->c.n};
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_error err = {0};
    gptc_status st = harmony_render(ct->tok, &ct->h, &hc, 1, &ids, &n, &err);
    free(msgs);
    if (st != GPTC_OK) {
        cli_error("%s", err.msg);
        conv_pop(&ct->c);
        return 0;
    }
    int r = chat_generate(ct, ids, n);
    free(ids);
    if (r < 0) { /* did not fit: forget this user message */
        conv_pop(&ct->c);
        return 0;
    }
    if (ct->answer.n > 0) {
        if (conv_add(&ct->c, "assistant", ct->answer.s)) return EXIT_RUNTIME;
    } else if (ct->g.finish == CLI_FINISH_INTERRUPTED || ct->g.finish == CLI_FINISH_CONTEXT) {
        conv_pop(&ct->c); /* nothing answered: drop the question */
    } else {
        if (conv_add(&ct->c, "assistant", "")) return EXIT_RUNTIME;
    }
    return r;
}

/* A plain chat's text grows by each input and its continuation (what the user saw). */
static int text_append(conv *c, const char *a, size_t na) {
    size_t old = c->text ? strlen(c->text) : 0;
    char *t = realloc(c->text, old + na + 1);
    if (!t) return -1;
    memcpy(t + old, a, na);
    t[old + na] = 0;
    c->text = t;
    return 0;
}

static int chat_turn_plain(chat *ct, const char *text) {
    int32_t *t = NULL;
    size_t nt = 0;
    gptc_error err = {0};
    gptc_status st = gptc_tokenize(ct->tok, text, strlen(text), 0, &t, &nt, &err);
    if (st != GPTC_OK) {
        cli_error("%s", err.msg);
        return 0;
    }
    tokvec all = {0};
    int32_t bos = gptc_tokenizer_bos(ct->tok);
    if (ct->hist.n == 0 && bos >= 0 && (gptc_tokenizer_add_bos(ct->tok) || nt == 0))
        tokvec_push(&all, bos);
    tokvec_append(&all, ct->hist.v, ct->hist.n);
    tokvec_append(&all, t, nt);
    gptc_free(t);
    int r = 0;
    if (all.n > 0) r = chat_generate(ct, all.v, all.n);
    tokvec_free(&all);
    if (r >= 0 && (text_append(&ct->c, text, strlen(text)) ||
                   text_append(&ct->c, ct->answer.s ? ct->answer.s : "", ct->answer.n)))
        return EXIT_RUNTIME;
    return r < 0 ? 0 : r;
}

static void chat_stats(chat *ct) {
    gptc_model_info info;
    gptc_model_get_info(ct->model, &info);
    fprintf(stderr,
            "context: %d / %d tokens | turns: %zu | last answer: %d tokens, %.2f t/s | %s\n",
            gptc_session_n_past(ct->s), gptc_session_n_ctx(ct->s), ct->c.n, ct->last_tokens,
            ct->last_tps,
            info.device_name[0] ? info.device_name
                                : (info.backend == GPTC_BACKEND_CUDA ? "CUDA" : "CPU"));
}

/* /save: a harmony chat saves its messages; a plain one its text (inputs and continuations). */
static void chat_save(chat *ct, const char *path) {
    if (conv_save(&ct->c, path)) return;
    if (ct->harmony)
        fprintf(stderr, "saved %zu messages to %s\n", ct->c.n, path);
    else
        fprintf(stderr, "saved the text (%zu bytes) to %s\n", ct->c.text ? strlen(ct->c.text) : 0,
                path);
}

/* Puts a plain chat's context back: the text of a /save, fed at once. */
static int plain_restore(chat *ct, const char *path, const char *text) {
    int32_t *t = NULL;
    size_t nt = 0;
    gptc_error err = {0};
    if (gptc_tokenize(ct->tok, text, strlen(text), 0, &t, &nt, &err) != GPTC_OK) {
        cli_error("%s: %s", path, err.msg);
        return -1;
    }
    tokvec all = {0};
    int32_t bos = gptc_tokenizer_bos(ct->tok);
    if (bos >= 0 && (gptc_tokenizer_add_bos(ct->tok) || nt == 0)) tokvec_push(&all, bos);
    tokvec_append(&all, t, nt);
    gptc_free(t);
    int n_ctx = gptc_session_n_ctx(ct->s);
    int r = -1;
    if (all.n >= (size_t)n_ctx || all.n == 0)
        cli_error("%s: the text is %zu tokens but the context holds %d (use a larger -c)", path,
                  all.n, n_ctx);
    else {
        chat_reset(ct);
        if (gptc_session_feed(ct->s, all.v, all.n, &err) != GPTC_OK) {
            cli_error("%s", err.msg[0] ? err.msg : "cannot feed the text");
            chat_reset(ct);
        } else if (!tokvec_append(&ct->hist, all.v, all.n) &&
                   !conv_set_text(&ct->c, text, strlen(text))) {
            r = 0;
        }
    }
    tokvec_free(&all);
    return r;
}

/* /load: checks the whole file first; a harmony chat takes messages, a plain one text. */
static void chat_load(chat *ct, const char *path) {
    conv nc;
    memset(&nc, 0, sizeof nc);
    snprintf(nc.effort, sizeof nc.effort, "%s", ct->c.effort);
    if (conv_load(&nc, path)) return;
    if (ct->harmony && nc.text && nc.n == 0) {
        cli_error("%s: holds the text of a plain continuation chat (GPT-2 or --raw), not messages",
                  path);
    } else if (!ct->harmony && !nc.text && nc.n > 0) {
        cli_error("%s: holds the messages of a harmony chat, not a plain continuation text", path);
    } else if (!ct->harmony) {
        if (!nc.text || !*nc.text) {
            chat_reset(ct);
            fprintf(stderr, "loaded an empty text from %s\n", path);
        } else if (!plain_restore(ct, path, nc.text))
            fprintf(stderr, "loaded the text (%zu tokens) from %s\n", ct->hist.n, path);
    } else {
        conv_free(&ct->c);
        ct->c = nc;
        memset(&nc, 0, sizeof nc);
        fprintf(stderr, "loaded %zu messages from %s\n", ct->c.n, path);
    }
    conv_free(&nc);
}

/* The system and developer messages alone must leave room for a question and an answer: when
 * they fill the context, no turn could ever fit. Returns 0, or EXIT_CONTEXT after the error. */
static int check_system_fits(chat *ct) {
    char date[16];
    cli_today(date);
    harmony_conv hc = {NULL, date, ct->c.effort, ct->c.system, NULL, 0};
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_error err = {0};
    gptc_status st = harmony_render(ct->tok, &ct->h, &hc, 1, &ids, &n, &err);
    free(ids);
    if (st != GPTC_OK) return cli_fail(st, &err);
    int n_ctx = gptc_session_n_ctx(ct->s);
    if (n < (size_t)n_ctx) return 0;
    cli_error("the system prompt and developer instructions alone are %zu tokens, but the context "
              "holds %d: no turn can fit (use a larger -c or shorter instructions)",
              n, n_ctx);
    return EXIT_CONTEXT;
}

/* Handles a /command. Returns 1 to quit, 0 otherwise. */
static int chat_command(chat *ct, const char *line) {
    const char *arg = strchr(line, ' ');
    size_t cl = arg ? (size_t)(arg - line) : strlen(line);
    while (arg && *arg == ' ') arg++;
    if (arg && !*arg) arg = NULL;
#define IS(name) (cl == strlen(name) && !strncmp(line, name, cl))
    if (IS("/quit") || IS("/exit") || IS("/bye")) return 1;
    if (IS("/help") || IS("/?"))
        fputs(help_text, stderr);
    else if (IS("/reset") || IS("/clear")) {
        chat_reset(ct);
        fputs("conversation reset\n", stderr);
    } else if ((IS("/system") || IS("/effort")) && !ct->harmony) {
        fprintf(stderr,
                "%.*s has no effect: a plain continuation chat has no instructions and "
                "no reasoning\n",
                (int)cl, line);
    } else if (IS("/system")) {
        conv_set_system(&ct->c, arg);
        fprintf(stderr, arg ? "developer instructions set\n" : "developer instructions cleared\n");
    } else if (IS("/effort")) {
        if (!arg || (strcmp(arg, "low") && strcmp(arg, "medium") && strcmp(arg, "high")))
            fprintf(stderr, "usage: /effort low|medium|high (now %s)\n", ct->c.effort);
        else {
            snprintf(ct->c.effort, sizeof ct->c.effort, "%s", arg);
            fprintf(stderr, "reasoning effort: %s\n", ct->c.effort);
        }
    } else if (IS("/save")) {
        if (!arg)
            fputs("usage: /save FILE\n", stderr);
        else if (!cli_check_output(ct->o, arg, NULL))
            chat_save(ct, arg);
    } else if (IS("/load")) {
        if (!arg)
            fputs("usage: /load FILE\n", stderr);
        else
            chat_load(ct, arg);
    } else if (IS("/stats"))
        chat_stats(ct);
    else
        fprintf(stderr, "unknown command %.*s (try /help)\n", (int)cl, line);
#undef IS
    return 0;
}

int cli_chat_with(cli_opts *o) {
    if (o->system && o->system_file) {
        cli_error("use either --system or --system-file, not both");
        return EXIT_USAGE;
    }
    if (o->logprobs >= 0) {
        cli_error("--logprobs is for --json output (one-shot) and gptc batch, not a chat");
        return EXIT_USAGE;
    }
    if (o->json) { /* one JSON object per run is one-shot generation's; a chat has /save */
        cli_error("--json is for one-shot generation (-p or stdin); in a chat, /save FILE writes "
                  "the conversation as JSON");
        return EXIT_USAGE;
    }
    chat ct;
    memset(&ct, 0, sizeof ct);
    ct.o = o;
    snprintf(ct.c.effort, sizeof ct.c.effort, "%s", o->effort ? o->effort : "medium");
    if (o->system_file) {
        char *t = cli_slurp_file(o->system_file, NULL);
        if (!t) return EXIT_USAGE;
        conv_set_system(&ct.c, t);
        free(t);
    } else if (o->system) {
        conv_set_system(&ct.c, o->system);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read at the prompt returns EINTR */
    sigaction(SIGINT, &sa, NULL);

    int r = cli_load_model(o, 1, &ct.model);
    if (r) {
        conv_free(&ct.c);
        return r;
    }
    if (g_sigint) { /* Ctrl-C while loading */
        gptc_model_free(ct.model);
        conv_free(&ct.c);
        return EXIT_INTERRUPTED;
    }
    ct.tok = gptc_model_tokenizer(ct.model);
    ct.harmony = !o->raw && cli_model_harmony(ct.model, &ct.h);
    cli_warn_unused_harmony(o, ct.harmony);
    gptc_session_params sp;
    cli_session_params(o, ct.model, &sp);
    gptc_error err = {0};
    gptc_status st = gptc_session_new(ct.model, &sp, &ct.s, &err);
    if (st == GPTC_OK)
        st = cli_gen_init(&ct.g, ct.tok, ct.harmony, &ct.h, o->raw, chat_sink, &ct, &err);
    if (st == GPTC_OK && cli_gen_set_stops(&ct.g, o->stops, o->n_stops)) {
        st = GPTC_ERR_NOMEM;
        snprintf(err.msg, sizeof err.msg, "out of memory");
    }
    if (st != GPTC_OK) {
        cli_error("%s", err.msg[0] ? err.msg : gptc_status_name(st));
        gptc_session_free(ct.s);
        gptc_model_free(ct.model);
        conv_free(&ct.c);
        return cli_exit_code(st);
    }
    if (ct.harmony && (r = check_system_fits(&ct))) {
        cli_gen_free(&ct.g);
        gptc_session_free(ct.s);
        gptc_model_free(ct.model);
        conv_free(&ct.c);
        return r;
    }
    ct.tty_in = isatty(0);
    ct.tty_out = isatty(1);
    ct.color_out = cli_use_color(o, 1);
    ct.color_err = cli_use_color(o, 2);
    if (ct.tty_in && !o->quiet) {
        gptc_model_info info;
        gptc_model_get_info(ct.model, &info);
        fprintf(stderr, "gptc chat: %s%s%s, context %d, %s. /help for commands, Ctrl-D to quit.\n",
                info.arch, info.name[0] ? " " : "", info.name, gptc_session_n_ctx(ct.s),
                ct.harmony ? "harmony" : "plain continuation");
    }

    int code = EXIT_DONE;
    strbuf line = {0}, msg = {0};
    for (;;) {
        g_sigint = 0;
        prompt_marker(&ct, 0);
        int rl = read_line(&line);
        if (rl < 0) { /* Ctrl-C at the prompt */
            if (ct.tty_in) fputc('\n', stdout);
            code = EXIT_INTERRUPTED;
            break;
        }
        if (rl == 0) { /* Ctrl-D */
            if (ct.tty_in) fputc('\n', stdout);
            if (g_line_too_long) code = EXIT_USAGE;
            break;
        }
        msg.n = 0;
        strbuf_add(&msg, "", 0);
        int interrupted = 0;
        if (!strcmp(line.s, "\"\"\"")) { /* block until a closing """ */
            for (;;) {
                prompt_marker(&ct, 1);
                rl = read_line(&line);
                if (rl <= 0) {
                    interrupted = rl < 0;
                    break;
                }
                if (!strcmp(line.s, "\"\"\"")) break;
                if (msg.n) strbuf_add(&msg, "\n", 1);
                strbuf_add(&msg, line.s, line.n);
            }
        } else {
            for (;;) {
                int cont = line.n > 0 && line.s[line.n - 1] == '\\';
                if (msg.n) strbuf_add(&msg, "\n", 1);
                strbuf_add(&msg, line.s, cont ? line.n - 1 : line.n);
                if (!cont) break;
                prompt_marker(&ct, 1);
                rl = read_line(&line);
                if (rl <= 0) {
                    interrupted = rl < 0;
                    break;
                }
            }
        }
        if (interrupted) {
            if (ct.tty_in) fputc('\n', stdout);
            code = EXIT_INTERRUPTED;
            break;
        }
        if (msg.n == 0) continue;
        if (msg.s[0] == '/') {
            if (chat_command(&ct, msg.s)) break;
            continue;
        }
        r = ct.harmony ? chat_turn_harmony(&ct, msg.s) : chat_turn_plain(&ct, msg.s);
        if (r == EXIT_DONE + 1000) break;
        if (r) {
            code = r;
            break;
        }
    }
    fflush(stdout);
    strbuf_free(&line);
    strbuf_free(&msg);
    strbuf_free(&ct.answer);
    tokvec_free(&ct.hist);
    cli_gen_free(&ct.g);
    conv_free(&ct.c);
    gptc_session_free(ct.s);
    gptc_model_free(ct.model);
    return code;
}

int cli_chat(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    int r = cli_parse_cmd(argc, argv, ~0u & ~CLI_G_PROMPT, &o, NULL, NULL, usage_text);
    if (r != CLI_CONTINUE) return r;
    return cli_chat_with(&o);
}
