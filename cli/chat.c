/* chat.c — interactive chat: gptc chat -m MODEL, or gptc -m MODEL -i.
 *
 * gpt-oss: harmony multi-turn (system with reasoning effort + date, developer instructions from
 * --system/--system-file, user/assistant turns). The final channel streams to stdout; analysis
 * is hidden, or dimmed on stderr with --show-reasoning. The KV cache is kept between turns: each
 * turn re-renders the conversation, keeps the longest common prefix with what the session holds
 * (earlier analysis is dropped per harmony, so the cache is truncated there) and feeds the rest.
 * Tools (--tools): a call ends the generation at <|call|>; its result (the --tool-exec program's
 * output, or what the user types) is added as a tool message and the model continues, until it
 * answers. GPT-2 and --raw: a plain continuation REPL.
 *
 * On a terminal the prompt line is editable, with history (cli/lineedit.c); piped input is read
 * line by line. Ctrl-C while generating stops that answer; at the prompt it clears a half-typed
 * line, and a second Ctrl-C on an empty line (or Ctrl-D) exits. */
#include <cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/constrain.h"
#include "cli/lineedit.h"
#include "cli/genloop.h"
#include "cli/prompt.h"
#include "cli/toolcalls.h"
#include "cli/toolchoice.h"
#include "cli/toolexec.h"

static const char usage_text[] =
    "usage: gptc chat -m MODEL.gguf [options]     (or gptc -m MODEL.gguf -i)\n"
    "\n"
    "Interactive chat. gpt-oss speaks harmony; GPT-2 models get a plain continuation REPL.\n"
    "  --system TEXT / --system-file FILE   developer instructions\n"
    "  --reasoning-effort low|medium|high   (default medium)\n"
    "  --show-reasoning                     show the analysis channel dimmed on stderr\n"
    "  --tools FILE                         functions the model may call (OpenAI's tools list)\n"
    "  --tool-exec CMD                      run each call: `sh -c CMD`, arguments (JSON) on\n"
    "                                       stdin, name in $GPTC_TOOL_NAME; stdout is the result\n"
    "  -y, --yes                            run --tool-exec without asking each time\n"
    "  --tool-choice none|auto|required|NAME  whether answers may or must be calls\n"
    "  --messages FILE                      continue a conversation (OpenAI messages JSON)\n"
    "  -n N                                 max tokens per answer (default: until the end token)\n"
    "  --stop S, -l ID=BIAS                 stop strings and logit bias for every answer\n"
    "  -c, --temp, --top-p, ... , --backend, -t: as in one-shot mode (gptc --help)\n"
    "  --grammar, --json-schema, --json-object, ...: constrain the answers (gptc --help)\n"
    "In the chat: /help /reset /system TEXT /effort low|medium|high /format json|schema FILE|off\n"
    "/save FILE /load FILE /stats\n"
    "/tools /quit. End a line with \\ to continue it, or wrap several lines in \"\"\" ... \"\"\".\n"
    "On a terminal the line is editable: arrows, Home/End, Ctrl-A/E/K/U/W, Up/Down history\n"
    "(kept in $XDG_STATE_HOME/gptc/history), Ctrl-R search, Tab completes /commands, pasted\n"
    "lines are one message. Ctrl-C stops an answer; at the prompt it clears the line, and a\n"
    "second Ctrl-C on an empty line (or Ctrl-D) exits.\n";

static const char help_text[] =
    "commands:\n"
    "  /help                 this text\n"
    "  /reset                forget the conversation\n"
    "  /system TEXT          set the developer instructions (empty: none)\n"
    "  /effort low|medium|high  reasoning effort\n"
    "  /format json          the next answers are a JSON object\n"
    "  /format schema FILE   the next answers follow the JSON Schema in FILE\n"
    "  /format off           unconstrained answers again\n"
    "  /save FILE            save the conversation as JSON\n"
    "  /load FILE            load a conversation saved with /save\n"
    "  /stats                context use and speed\n"
    "  /tools                the tools the model may call (--tools FILE)\n"
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

/* ---- conversation -----------------------------------------------------------------------------
 * The chat's conversation is a cli_prompt (prompt.h): messages in OpenAI's shape (tool calls and
 * results included), the tools, the developer instructions and the effort. */
typedef cli_prompt conv;

static int conv_add(conv *c, const char *role, const char *content) {
    harmony_msg m = {.role = role, .content = content};
    return msglist_add(&c->msgs, &m);
}

static void conv_pop(conv *c) {
    msglist_pop(&c->msgs);
}

static void conv_clear(conv *c) {
    msglist_clear(&c->msgs);
}

static void conv_free(conv *c) {
    cli_prompt_free(c);
}

static int conv_set_system(conv *c, const char *s) {
    free(c->system);
    c->system = (s && *s) ? strdup(s) : NULL;
    return 0;
}

/* {"reasoning_effort", "system"?, "tools"?, "messages": [...]} (messages.h reads it back) */
static int conv_save(const conv *c, const char *path) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "reasoning_effort", c->effort);
    if (c->system) cJSON_AddStringToObject(j, "system", c->system);
    if (c->tools.n) {
        cJSON *tools = cJSON_AddArrayToObject(j, "tools");
        for (size_t i = 0; i < c->tools.n; i++) {
            jbuf b = {0};
            jval_dump_py(&b, c->tools.fn[i]);
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "type", "function");
            cJSON_AddItemToObject(t, "function", cJSON_Parse(b.s ? b.s : "{}"));
            cJSON_AddItemToArray(tools, t);
            jbuf_free(&b);
        }
    }
    cJSON_AddItemToObject(j, "messages", msglist_to_cjson(&c->msgs));
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) return -1;
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

/* A conversation saved with /save, or any --messages file. Its tools replace the chat's when it
 * has some. */
static int conv_load(conv *c, const char *path) {
    msglist l = {0};
    tooldefs t = {0};
    char *effort = NULL, *system = NULL;
    if (messages_load(path, &l, &t, &effort, &system)) return -1;
    msglist_free(&c->msgs);
    c->msgs = l;
    if (t.n && cli_prompt_set_tools(c, &t)) tooldefs_free(&t);
    conv_set_system(c, system);
    if (effort) snprintf(c->effort, sizeof c->effort, "%s", effort);
    free(effort);
    free(system);
    return 0;
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
    strbuf thinking; /* this generation's analysis text (kept with a tool call) */
    int color_out, color_err, tty_in, tty_out;
    int reasoning_open;
    lineedit *le; /* the prompt line editor (NULL unless stdin and stdout are terminals) */
    int last_nl;
    double last_tps;
    int last_tokens;
    cli_constraint con;     /* the answers' constraint (flags, /format) */
    cli_tool_choice choice; /* --tool-choice (against the current tools) */
    gptc_token_trie *trie;  /* made on first use */
    char *text;             /* a plain (GPT-2) chat's text: inputs and continuations */
} chat;

/* Makes con the answers' constraint (taking it over); prints the error and returns -1 on
 * failure (the old constraint stays). */
static int chat_set_format(chat *ct, cli_constraint *con) {
    gptc_error err = {0};
    gptc_status st = GPTC_OK;
    const tooldefs *t = ct->harmony ? &ct->c.tools : NULL;
    if ((con->g || (t && t->n)) && !ct->trie) st = gptc_token_trie_new(ct->tok, &ct->trie, &err);
    if (st == GPTC_OK) st = cli_gen_constrain_tools(&ct->g, con->g, t, &ct->choice, ct->trie, &err);
    if (st != GPTC_OK) {
        cli_error("%s", err.msg);
        cli_constraint_free(con);
        cli_gen_constrain_tools(&ct->g, ct->con.g, t, &ct->choice, ct->trie, NULL);
        return -1;
    }
    if (ct->g.cg_warn[0] && !ct->o->quiet) fprintf(stderr, "gptc: warning: %s\n", ct->g.cg_warn);
    cli_constraint_free(&ct->con);
    ct->con = *con;
    return 0;
}

static int chat_sink(void *user, harmony_channel ch, const char *s, size_t n) {
    chat *ct = user;
    if (ch == HARMONY_ANALYSIS) strbuf_add(&ct->thinking, s, n);
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

static const char *const chat_commands[] = {"/help",   "/reset", "/system", "/effort",
                                            "/save",   "/load",  "/stats",  "/tools",
                                            "/format", "/quit",  NULL};

/* One line of input: from the line editor on a terminal, else a plain read after the prompt
 * marker. Returns 1 ok, 0 EOF, -1 interrupted (or Ctrl-C twice at an empty prompt). */
static int chat_read(chat *ct, strbuf *line, int cont) {
    if (!ct->le) {
        prompt_marker(ct, cont);
        return read_line(line);
    }
    const char *p = cont ? (ct->color_out ? "\033[1;32m. \033[0m" : ". ")
                         : (ct->color_out ? "\033[1;32m> \033[0m" : "> ");
    const char *s;
    size_t n;
    int r = le_read(ct->le, p, &s, &n);
    if (r != 1) return r;
    line->n = 0;
    if (strbuf_add(line, s, n)) return 0;
    return 1;
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
    ct->thinking.n = 0;
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
        fprintf(stderr, "gptc: note: a malformed channel header (or a call to a tool that is not "
                        "declared) was shown as text\n");
    return 0;
}

/* Reads a tool result typed by the user: one line, or a \"\"\" block. 1 ok, 0 EOF, -1 Ctrl-C. */
static int read_result(chat *ct, strbuf *out) {
    strbuf line = {0};
    out->n = 0;
    strbuf_add(out, "", 0);
    int rl = read_line(&line);
    if (rl > 0 && line.s && !strcmp(line.s, "\"\"\"")) {
        for (;;) {
            prompt_marker(ct, 1);
            rl = read_line(&line);
            if (rl <= 0 || !strcmp(line.s, "\"\"\"")) break;
            if (out->n) strbuf_add(out, "\n", 1);
            strbuf_add(out, line.s, line.n);
        }
    } else if (rl > 0) {
        strbuf_add(out, line.s, line.n);
    }
    strbuf_free(&line);
    return rl;
}

/* Asks a yes/no question on the terminal; 1 for y/yes. -1 on Ctrl-C or EOF. */
static int ask_yes(chat *ct, const char *q) {
    fputs(q, stderr);
    fflush(stderr);
    strbuf line = {0};
    int rl = read_line(&line);
    int yes = rl > 0 && line.s &&
              (!strcmp(line.s, "y") || !strcmp(line.s, "Y") || !strcmp(line.s, "yes"));
    strbuf_free(&line);
    (void)ct;
    return rl <= 0 ? -1 : yes;
}

/* The result of one call: the --tool-exec program's output (after asking, unless --yes), or
 * what the user types. *result is malloc'd. Returns 0, or -1 when the user ended the chat. */
static int tool_result(chat *ct, const char *name, int known, const char *args, char **result) {
    *result = NULL;
    if (!known) {
        *result = strdup("Error: no such tool. Use one of the declared functions.");
        return *result ? 0 : -1;
    }
    if (ct->o->tool_exec) {
        if (!ct->o->yes) {
            char q[512];
            snprintf(q, sizeof q, "run %.200s for %s? [y/N] ", ct->o->tool_exec, name);
            int y = ask_yes(ct, q);
            if (y < 0) return -1;
            if (!y) {
                *result = strdup("The user declined to run this tool.");
                return *result ? 0 : -1;
            }
        }
        toolexec_result r;
        toolexec_run(ct->o->tool_exec, name, args, TOOLEXEC_TIMEOUT_S, TOOLEXEC_MAX_OUTPUT, &r);
        *result = toolexec_result_text(&r);
        if (r.status != 0 || r.timed_out || r.truncated)
            fprintf(stderr, "[tool %s: %s]\n", name,
                    r.timed_out    ? "stopped at its time limit"
                    : r.truncated  ? "output cut"
                    : r.status < 0 ? "could not start"
                                   : "failed");
        toolexec_result_free(&r);
        return *result ? 0 : -1;
    }
    fprintf(stderr, "result of %s (one line, or a \"\"\" block): ", name);
    fflush(stderr);
    strbuf b = {0};
    int rl = read_result(ct, &b);
    if (rl <= 0) {
        strbuf_free(&b);
        return -1;
    }
    *result = b.s;
    return 0;
}

/* At most this many tool rounds per user message (a model calling tools forever). */
#define CHAT_MAX_TOOL_ROUNDS 16

static int chat_turn_harmony(chat *ct, const char *text) {
    if (conv_add(&ct->c, "user", text)) return EXIT_RUNTIME;
    size_t turn_start = ct->c.msgs.n - 1;
    for (int round = 0;; round++) {
        cli_today(ct->c.date);
        harmony_conv hc;
        cli_prompt_conv(&ct->c, &hc);
        hc.response_format = ct->con.rf_text;
        int32_t *ids = NULL;
        size_t n = 0;
        gptc_error err = {0};
        gptc_status st = harmony_render(ct->tok, &ct->h, &hc, 1, &ids, &n, &err);
        if (st != GPTC_OK) {
            cli_error("%s", err.msg);
            while (ct->c.msgs.n > turn_start) conv_pop(&ct->c);
            return 0;
        }
        int r = chat_generate(ct, ids, n);
        free(ids);
        if (r < 0) { /* did not fit: forget this turn */
            while (ct->c.msgs.n > turn_start) conv_pop(&ct->c);
            return 0;
        }
        size_t n_calls = harmony_parser_n_calls(ct->g.hp);
        if (r || n_calls == 0 || ct->g.finish != CLI_FINISH_STOP) {
            if (ct->answer.n > 0) {
                if (conv_add(&ct->c, "assistant", ct->answer.s)) return EXIT_RUNTIME;
            } else if (ct->g.finish == CLI_FINISH_INTERRUPTED ||
                       ct->g.finish == CLI_FINISH_CONTEXT) {
                if (ct->c.msgs.n == turn_start + 1) conv_pop(&ct->c); /* nothing answered */
            } else {
                if (conv_add(&ct->c, "assistant", "")) return EXIT_RUNTIME;
            }
            return r;
        }
        if (round >= CHAT_MAX_TOOL_ROUNDS) {
            fprintf(stderr, "gptc: %d tool rounds for one message; stopping here\n", round);
            return 0;
        }
        /* the model called tools: remember the calls, get each result, let it continue */
        harmony_tool_call calls[8];
        char ids_buf[8][32], names[8][160];
        const char *args[8];
        int known[8];
        size_t nc = n_calls < 8 ? n_calls : 8;
        for (size_t i = 0; i < nc; i++) {
            const char *recipient;
            harmony_parser_call(ct->g.hp, i, &recipient, &args[i]);
            const char *nm =
                toolcall_name(&ct->c.tools, recipient, names[i], sizeof names[i], &known[i]);
            if (nm != names[i]) snprintf(names[i], sizeof names[i], "%s", nm);
            toolcall_id(ids_buf[i]);
            calls[i] = (harmony_tool_call){ids_buf[i], names[i], args[i]};
        }
        harmony_msg am = {.role = "assistant",
                          .thinking = ct->thinking.n ? ct->thinking.s : NULL,
                          .calls = calls,
                          .n_calls = nc};
        if (msglist_add(&ct->c.msgs, &am)) return EXIT_RUNTIME;
        for (size_t i = 0; i < nc; i++) {
            fprintf(stderr, "%s[tool call] %s %s%s\n", ct->color_err ? "\033[1;33m" : "", names[i],
                    args[i], ct->color_err ? "\033[0m" : "");
            char *res = NULL; /* (args stay valid until the next generation resets the parser) */
            if (tool_result(ct, names[i], known[i], args[i], &res)) {
                free(res);
                return EXIT_INTERRUPTED;
            }
            harmony_msg tm = {.role = "tool", .content = res, .tool_call_id = ids_buf[i]};
            int bad = msglist_add(&ct->c.msgs, &tm);
            free(res);
            if (bad) return EXIT_RUNTIME;
        }
    }
}

/* A plain chat's text grows by each input and its continuation (what the user saw). */
static int text_append(chat *ct, const char *a, size_t na) {
    size_t old = ct->text ? strlen(ct->text) : 0;
    char *t = realloc(ct->text, old + na + 1);
    if (!t) return -1;
    memcpy(t + old, a, na);
    t[old + na] = 0;
    ct->text = t;
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
    if (r >= 0 && (text_append(ct, text, strlen(text)) ||
                   text_append(ct, ct->answer.s ? ct->answer.s : "", ct->answer.n)))
        return EXIT_RUNTIME;
    return r < 0 ? 0 : r;
}

static void chat_stats(chat *ct) {
    gptc_model_info info;
    gptc_model_get_info(ct->model, &info);
    fprintf(stderr,
            "context: %d / %d tokens | turns: %zu | last answer: %d tokens, %.2f t/s | %s\n",
            gptc_session_n_past(ct->s), gptc_session_n_ctx(ct->s), ct->c.msgs.n, ct->last_tokens,
            ct->last_tps,
            info.device_name[0] ? info.device_name
                                : (info.backend == GPTC_BACKEND_CUDA ? "CUDA" : "CPU"));
}

/* /save: a harmony chat saves its messages (conv_save); a plain one its text, as
 * {"messages": [], "text": "..."}. */
static void chat_save(chat *ct, const char *path) {
    if (ct->harmony) {
        if (!conv_save(&ct->c, path))
            fprintf(stderr, "saved %zu messages to %s\n", ct->c.msgs.n, path);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "messages", cJSON_CreateArray());
    cJSON_AddStringToObject(j, "text", ct->text ? ct->text : "");
    char *js = cJSON_Print(j);
    cJSON_Delete(j);
    FILE *f = js ? fopen(path, "w") : NULL;
    int bad = !f || fputs(js, f) < 0 || fputc('\n', f) == EOF;
    if (f && fclose(f)) bad = 1;
    free(js);
    if (bad)
        cli_error("%s: cannot write: %s", path, strerror(errno));
    else
        fprintf(stderr, "saved the text (%zu bytes) to %s\n", ct->text ? strlen(ct->text) : 0,
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
    if (all.n >= (size_t)n_ctx || all.n == 0) {
        cli_error("%s: the text is %zu tokens but the context holds %d (use a larger -c)", path,
                  all.n, n_ctx);
    } else {
        chat_reset(ct);
        free(ct->text);
        ct->text = NULL;
        if (gptc_session_feed(ct->s, all.v, all.n, &err) != GPTC_OK) {
            cli_error("%s", err.msg[0] ? err.msg : "cannot feed the text");
            chat_reset(ct);
        } else if (!tokvec_append(&ct->hist, all.v, all.n) &&
                   !text_append(ct, text, strlen(text))) {
            r = 0;
        }
    }
    tokvec_free(&all);
    return r;
}

/* The tools changed (/load): the choice is read again against them (a tool it names that is gone:
 * auto) and the reply grammar is made anew. */
static void chat_retool(chat *ct) {
    char why[300];
    if (cli_tool_choice_from_flag(ct->o->tool_choice, &ct->c.tools, &ct->choice, why, sizeof why)) {
        fprintf(stderr, "gptc: warning: %s; calls are now auto\n", why);
        ct->choice = CLI_TOOL_CHOICE_AUTO;
    }
    cli_constraint con = ct->con;
    memset(&ct->con, 0, sizeof ct->con);
    cli_gen_constrain(&ct->g, NULL, NULL, NULL);
    if (chat_set_format(ct, &con)) chat_set_format(ct, &ct->con); /* failed: free answers */
}

/* /load: a harmony chat takes a conversation file (conv_load checks all of it first); a plain
 * one the text of a plain chat's /save ({"messages": [], "text": "..."}: valid UTF-8, no NUL). */
static void chat_load(chat *ct, const char *path) {
    size_t len = 0;
    char *buf = cli_slurp_file(path, &len);
    if (!buf) return;
    char why[256];
    jval *root = jval_parse(buf, len, why, sizeof why);
    free(buf);
    if (!root) {
        cli_error("%s: not valid JSON (%s)", path, why);
        return;
    }
    const jval *tx = root->type == JV_OBJ ? jval_get(root, "text") : NULL;
    const jval *ms = root->type == JV_OBJ ? jval_get(root, "messages") : root;
    if (ct->harmony) {
        if (jval_str(tx) && !(ms && ms->type == JV_ARR && ms->n))
            cli_error("%s: holds the text of a plain continuation chat (GPT-2 or --raw), not "
                      "messages",
                      path);
        else if (!conv_load(&ct->c, path)) {
            fprintf(stderr, "loaded %zu messages from %s\n", ct->c.msgs.n, path);
            chat_retool(ct);
        }
    } else if (!tx || !jval_str(tx)) {
        if (ms && ms->type == JV_ARR && ms->n)
            cli_error("%s: holds the messages of a harmony chat, not a plain continuation text",
                      path);
        else
            cli_error("%s: expected {\"text\": \"...\"} (a plain chat's /save)", path);
    } else if (memchr(tx->s, 0, tx->len)) {
        cli_error("%s: \"text\" contains a NUL character", path);
    } else if (!*tx->s) {
        chat_reset(ct);
        free(ct->text);
        ct->text = NULL;
        fprintf(stderr, "loaded an empty text from %s\n", path);
    } else if (!plain_restore(ct, path, tx->s)) {
        fprintf(stderr, "loaded the text (%zu tokens) from %s\n", ct->hist.n, path);
    }
    jval_free(root);
}

/* The system and developer messages alone must leave room for a question and an answer: when
 * they fill the context, no turn could ever fit. Returns 0, or EXIT_CONTEXT after the error. */
static int check_system_fits(chat *ct) {
    char date[16];
    cli_today(date);
    harmony_conv hc = {.date = date, .effort = ct->c.effort, .developer = ct->c.system};
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
    } else if (IS("/format")) {
        cli_constraint con = {0};
        gptc_error err = {0};
        int ok = 0;
        if (arg && !strcmp(arg, "off")) {
            ok = 1;
        } else if (arg && !strcmp(arg, "json")) {
            ok = gptc_grammar_json_object(&con.g, &err) == GPTC_OK;
            if (!ok) cli_error("%s", err.msg);
        } else if (arg && !strncmp(arg, "schema ", 7)) {
            const char *f = arg + 7;
            while (*f == ' ') f++;
            size_t len = 0;
            char *t = cli_slurp_file(f, &len);
            if (t) {
                ok = cli_constraint_from_schema(t, len, NULL, NULL, &con, &err) == GPTC_OK;
                if (!ok) cli_error("%s: %s", f, err.msg);
                free(t);
            }
        } else
            fputs("usage: /format json | schema FILE | off\n", stderr);
        if (ok && !chat_set_format(ct, &con))
            fprintf(stderr, ct->con.g ? "answers are constrained\n" : "answers are free\n");
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
    else if (IS("/tools")) {
        if (!ct->c.tools.n) fputs("no tools (start the chat with --tools FILE)\n", stderr);
        for (size_t i = 0; i < ct->c.tools.n; i++) {
            const char *d = jval_str(jval_get(ct->c.tools.fn[i], "description"));
            fprintf(stderr, "  %-20s %s\n", ct->c.tools.name[i], d ? d : "");
        }
        if (ct->c.tools.n)
            fprintf(stderr, "%s\n",
                    ct->o->tool_exec
                        ? (ct->o->yes ? "calls run --tool-exec without asking"
                                      : "calls run --tool-exec after asking")
                        : "you type each call's result (or start with --tool-exec CMD)");
    } else
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
    /* --system/--system-file, --tools, and a conversation to continue (--messages) */
    int r = cli_prompt_load(o, NULL, &ct.c);
    if (r) return r;
    char why[300];
    if (cli_tool_choice_from_flag(o->tool_choice, &ct.c.tools, &ct.choice, why, sizeof why)) {
        cli_error("%s", why);
        conv_free(&ct.c);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read at the prompt returns EINTR */
    sigaction(SIGINT, &sa, NULL);

    cli_constraint con0;
    r = cli_constraint_from_opts(o, &con0);
    if (r) {
        conv_free(&ct.c);
        return r;
    }
    r = cli_load_model(o, 1, &ct.model);
    if (r) {
        conv_free(&ct.c);
        cli_constraint_free(&con0);
        return r;
    }
    if (g_sigint) { /* Ctrl-C while loading */
        gptc_model_free(ct.model);
        conv_free(&ct.c);
        cli_constraint_free(&con0);
        return EXIT_INTERRUPTED;
    }
    ct.tok = gptc_model_tokenizer(ct.model);
    ct.harmony = !o->raw && cli_model_harmony(ct.model, &ct.h);
    if (!ct.harmony && (ct.c.tools.n || ct.c.msgs.n)) {
        cli_error("--messages and --tools need a gpt-oss model (harmony)");
        gptc_model_free(ct.model);
        conv_free(&ct.c);
        cli_constraint_free(&con0);
        return EXIT_USAGE;
    }
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
        cli_gen_free(&ct.g);
        gptc_session_free(ct.s);
        gptc_model_free(ct.model);
        conv_free(&ct.c);
        cli_constraint_free(&con0);
        return cli_exit_code(st);
    }
    if (((con0.g || (ct.harmony && ct.c.tools.n)) && chat_set_format(&ct, &con0) &&
         (r = EXIT_RUNTIME)) ||
        (ct.harmony && (r = check_system_fits(&ct)))) {
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

    ct.le = le_open(NULL, chat_commands, &g_sigint);
    int code = EXIT_DONE;
    strbuf line = {0}, msg = {0};
    for (;;) {
        g_sigint = 0;
        int rl = chat_read(&ct, &line, 0);
        if (rl < 0) { /* Ctrl-C at the prompt */
            if (ct.tty_in && !ct.le) fputc('\n', stdout);
            code = EXIT_INTERRUPTED;
            break;
        }
        if (rl == 0) { /* Ctrl-D */
            if (ct.tty_in && !ct.le) fputc('\n', stdout);
            if (g_line_too_long) code = EXIT_USAGE;
            break;
        }
        msg.n = 0;
        strbuf_add(&msg, "", 0);
        int interrupted = 0;
        if (!strcmp(line.s, "\"\"\"")) { /* block until a closing """ */
            for (;;) {
                rl = chat_read(&ct, &line, 1);
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
                rl = chat_read(&ct, &line, 1);
                if (rl <= 0) {
                    interrupted = rl < 0;
                    break;
                }
            }
        }
        if (interrupted) {
            if (ct.tty_in && !ct.le) fputc('\n', stdout);
            code = EXIT_INTERRUPTED;
            break;
        }
        if (msg.n == 0) continue;
        if (ct.le) le_history_add(ct.le, msg.s, msg.n);
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
    le_close(ct.le);
    strbuf_free(&line);
    strbuf_free(&msg);
    strbuf_free(&ct.answer);
    strbuf_free(&ct.thinking);
    tokvec_free(&ct.hist);
    cli_gen_free(&ct.g);
    cli_constraint_free(&ct.con);
    gptc_token_trie_free(ct.trie);
    free(ct.text);
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
