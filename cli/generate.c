/* generate.c — one-shot generation: gptc -m MODEL [-p TEXT | -f FILE | stdin] [options].
 *
 * Only generated text reaches stdout (fwrite + fflush per token, always valid UTF-8); logs,
 * reasoning (--show-reasoning) and timings go to stderr. gpt-oss prompts are wrapped in the
 * harmony format and only the final channel is printed; --raw feeds the text as is. */
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
#include "cli/prompt.h"
#include "cli/toolcalls.h"
#include "cli/toolchoice.h"

/* --help prints the complete help, cli/help.txt (cli_help_text). */

/* ---- signals ----------------------------------------------------------------------------------
 */
static gptc_session *volatile g_session;
static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
    gptc_session *s = g_session;
    if (s)
        gptc_session_cancel(s);
    else
        _exit(EXIT_INTERRUPTED);
}

/* ---- output -----------------------------------------------------------------------------------
 */
typedef struct out_state {
    const cli_opts *o;
    int json;
    int dim; /* reasoning dimmed on stderr */
    int reasoning_open;
    strbuf text, reasoning;
    int last_nl; /* last byte written to stdout was '\n' */
    int wrote;
} out_state;

static int sink(void *user, harmony_channel ch, const char *s, size_t n) {
    out_state *st = user;
    if (ch != HARMONY_FINAL) {
        if (st->json) return strbuf_add(&st->reasoning, s, n) ? 1 : 0;
        if (st->o->show_reasoning && !st->o->quiet) {
            if (st->dim && !st->reasoning_open) fputs("\033[2m", stderr);
            st->reasoning_open = 1;
            fwrite(s, 1, n, stderr);
            fflush(stderr);
        }
        return 0;
    }
    if (st->reasoning_open) {
        if (st->dim) fputs("\033[0m", stderr);
        fputs("\n", stderr);
        fflush(stderr);
        st->reasoning_open = 0;
    }
    if (st->json) return strbuf_add(&st->text, s, n) ? 1 : 0;
    if (fwrite(s, 1, n, stdout) != n || fflush(stdout) != 0) return 1; /* EPIPE: done */
    st->wrote = 1;
    st->last_nl = s[n - 1] == '\n';
    return 0;
}

/* ---- prompt -----------------------------------------------------------------------------------
 */
/* Reads -p / -f / stdin into one prompt. *from_stdin_tty = 1 when there is no prompt and stdin
 * is a terminal (the caller starts a chat). */
static int gather_prompt(const cli_opts *o, char **out, size_t *out_len, int *no_prompt) {
    *out = NULL;
    *out_len = 0;
    *no_prompt = 0;
    if (o->prompt && o->prompt_file) {
        cli_error("use either -p or -f, not both");
        return EXIT_USAGE;
    }
    strbuf b = {0};
    int have = 0;
    if (o->prompt) {
        if (strbuf_add(&b, o->prompt, strlen(o->prompt))) goto nomem;
        have = 1;
    } else if (o->prompt_file) {
        size_t n;
        char *t = cli_slurp_file(o->prompt_file, &n);
        if (!t) return EXIT_USAGE;
        int r = strbuf_add(&b, t, n);
        free(t);
        if (r) goto nomem;
        have = 1;
    }
    /* stdin: the prompt when none was given; appended when it is a pipe or a file (not with
     * --no-stdin) */
    int read_stdin = 0;
    if (o->no_stdin && !have && !isatty(0)) {
        cli_error("--no-stdin: give the prompt with -p TEXT or -f FILE");
        return EXIT_USAGE;
    }
    if (!isatty(0) && !o->no_stdin) {
        struct stat sb;
        if (!have)
            read_stdin = 1;
        else if (fstat(0, &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISREG(sb.st_mode)))
            read_stdin = 1;
    }
    if (read_stdin) {
        size_t n;
        char *t = cli_slurp_stdin(&n);
        if (!t) {
            strbuf_free(&b);
            return EXIT_USAGE;
        }
        if (n > 0) {
            int r = (have && b.n ? strbuf_add(&b, "\n", 1) : 0) || strbuf_add(&b, t, n);
            if (r) {
                free(t);
                goto nomem;
            }
        }
        free(t);
        have = 1;
    }
    if (!have) {
        *no_prompt = 1;
        strbuf_free(&b);
        return 0;
    }
    if (!b.s && strbuf_add(&b, "", 0)) goto nomem;
    *out = b.s;
    *out_len = b.n;
    return 0;
nomem:
    strbuf_free(&b);
    cli_error("out of memory");
    return EXIT_RUNTIME;
}

int cli_chat_with(cli_opts *o); /* chat.c */

/* Builds the prompt ids: harmony for gpt-oss, else the text (+BOS when the vocab adds one). */
static int build_prompt(const cli_opts *o, const gptc_tokenizer *tok, int harmony,
                        const harmony_ids *h, const cli_prompt *pr, const char *text, size_t len,
                        const char *rf_text, int32_t **ids, size_t *n) {
    gptc_error err = {0};
    gptc_status st;
    if (harmony) {
        if (memchr(text, 0, len)) {
            cli_error("the prompt contains a NUL byte");
            return EXIT_USAGE;
        }
        harmony_conv c;
        cli_prompt_conv(pr, &c);
        c.response_format = rf_text;
        st = harmony_render(tok, h, &c, 1, ids, n, &err);
    } else {
        int32_t *t = NULL;
        size_t nt = 0;
        st = gptc_tokenize(tok, text, len, o->raw ? GPTC_TOKENIZE_SPECIAL : 0, &t, &nt, &err);
        if (st == GPTC_OK) {
            int32_t bos = gptc_tokenizer_bos(tok);
            int add = gptc_tokenizer_add_bos(tok) && bos >= 0;
            if (nt == 0 && !add && bos >= 0) add = 1; /* an empty prompt needs some token */
            *ids = malloc((nt + 1) * sizeof **ids);
            if (!*ids) {
                gptc_free(t);
                cli_error("out of memory");
                return EXIT_RUNTIME;
            }
            *n = 0;
            if (add) (*ids)[(*n)++] = bos;
            if (nt) memcpy(*ids + *n, t, nt * sizeof *t);
            *n += nt;
            gptc_free(t);
            if (*n == 0) {
                free(*ids);
                *ids = NULL;
                cli_error("the prompt is empty and the vocabulary has no BOS token");
                return EXIT_USAGE;
            }
        }
    }
    if (st != GPTC_OK) {
        cli_error("prompt: %s", err.msg[0] ? err.msg : gptc_status_name(st));
        return st == GPTC_ERR_FORMAT ? EXIT_USAGE : cli_exit_code(st);
    }
    return 0;
}

static void print_timings(const gptc_model_info *info, const gptc_timings *t, int n_gen,
                          double cons_ms) {
    double gen_ms = cli_gen_ms(NULL, t);
    fprintf(stderr,
            "timings: load %.0f ms | prompt %d tokens, %.1f ms, %.2f t/s | generation %d tokens, "
            "%.1f ms, %.2f t/s | sampling %.1f ms",
            info->load_ms, t->n_prompt, t->prompt_ms,
            t->prompt_ms > 0 ? t->n_prompt * 1000.0 / t->prompt_ms : 0.0, n_gen, gen_ms,
            gen_ms > 0 ? n_gen * 1000.0 / gen_ms : 0.0, t->sample_ms);
    if (cons_ms > 0) fprintf(stderr, " | constraint %.1f ms", cons_ms);
    fputc('\n', stderr);
}

static double r2(double v) {
    return round(v * 100.0) / 100.0;
}

static cJSON *timings_json(const gptc_model_info *info, const gptc_timings *t, int n_gen,
                           double cons_ms) {
    double gen_ms = cli_gen_ms(NULL, t);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "load_ms", r2(info->load_ms));
    cJSON_AddNumberToObject(j, "prompt_tokens", t->n_prompt);
    cJSON_AddNumberToObject(j, "prompt_ms", r2(t->prompt_ms));
    cJSON_AddNumberToObject(j, "prompt_tps",
                            r2(t->prompt_ms > 0 ? t->n_prompt * 1000.0 / t->prompt_ms : 0.0));
    cJSON_AddNumberToObject(j, "gen_tokens", n_gen);
    cJSON_AddNumberToObject(j, "gen_ms", r2(gen_ms));
    cJSON_AddNumberToObject(j, "sample_ms", r2(t->sample_ms));
    cJSON_AddNumberToObject(j, "gen_tps", r2(gen_ms > 0 ? n_gen * 1000.0 / gen_ms : 0.0));
    cJSON_AddNumberToObject(j, "constraint_ms", r2(cons_ms));
    return j;
}

int cli_generate(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    int r = cli_parse(argc, argv, ~0u, &o, NULL, NULL, cli_help_text);
    if (r == -2) return EXIT_DONE;
    if (r) return r;
    if (o.interactive) return cli_chat_with(&o);
    if (o.logprobs >= 0 && !o.json) {
        cli_error("--logprobs needs --json (the log-probabilities are part of the JSON result)");
        return EXIT_USAGE;
    }
    if (!o.model) {
        cli_error("no model given (use -m MODEL.gguf)");
        return EXIT_USAGE;
    }
    if (o.system && o.system_file) {
        cli_error("use either --system or --system-file, not both");
        return EXIT_USAGE;
    }
    if (o.tool_exec) {
        cli_error("--tool-exec runs tools in a chat (gptc chat); a one-shot run reports its calls "
                  "(--json: tool_calls)");
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);

    cli_constraint con;
    if ((r = cli_constraint_from_opts(&o, &con))) return r;
    char *text = NULL;
    size_t text_len = 0;
    int no_prompt = 0;
    r = gather_prompt(&o, &text, &text_len, &no_prompt);
    if (r || (no_prompt && !o.messages_file)) cli_constraint_free(&con);
    if (r) return r;
    if (no_prompt && !o.messages_file) return cli_chat_with(&o);
    if (!text && !(text = strdup(""))) {
        cli_error("out of memory");
        cli_constraint_free(&con);
        return EXIT_RUNTIME;
    }
    /* the conversation (checked before the model loads; a bad --system-file is an error even
     * where the model ignores it, GPT-2); with --messages, -p/stdin text is one more user
     * message when there is some */
    cli_prompt pr;
    r = cli_prompt_load(&o, o.messages_file && text_len == 0 ? NULL : text, &pr);
    if (r) {
        free(text);
        cli_constraint_free(&con);
        return r;
    }
    cli_tool_choice choice;
    char why[300];
    if (cli_tool_choice_from_flag(o.tool_choice, &pr.tools, &choice, why, sizeof why)) {
        cli_error("%s", why);
        free(text);
        cli_prompt_free(&pr);
        cli_constraint_free(&con);
        return EXIT_USAGE;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);

    gptc_model *model = NULL;
    r = cli_load_model(&o, 1, &model);
    if (r) {
        free(text);
        cli_prompt_free(&pr);
        cli_constraint_free(&con);
        return r;
    }
    const gptc_tokenizer *tok = gptc_model_tokenizer(model);
    gptc_model_info info;
    gptc_model_get_info(model, &info);
    harmony_ids h;
    int harmony = !o.raw && cli_model_harmony(model, &h);
    cli_warn_unused_harmony(&o, harmony);
    if (!o.raw && !strcmp(info.arch, "gpt-oss") && !harmony)
        cli_log(&o, "gptc: warning: the vocabulary lacks harmony's tokens; using the raw prompt\n");
    cli_log(&o, "model: %s%s%s, %d layers, %.2f B params, %s\n", info.arch, info.name[0] ? " " : "",
            info.name, info.n_layer, info.n_params / 1e9,
            info.device_name[0] ? info.device_name
                                : (info.backend == GPTC_BACKEND_CUDA ? "CUDA" : "CPU"));

    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (!harmony && (o.messages_file || o.tools_file)) {
        cli_error("--messages and --tools need a gpt-oss model (harmony)");
        r = EXIT_USAGE;
    } else
        r = build_prompt(&o, tok, harmony, &h, &pr, text, text_len, con.rf_text, &ids, &n_ids);
    free(text);
    gptc_token_trie *trie = NULL;
    gptc_error err = {0};
    gptc_status st = GPTC_OK;
    if (!r && (con.g || (harmony && pr.tools.n)) &&
        (st = gptc_token_trie_new(tok, &trie, &err)) != GPTC_OK)
        r = cli_fail(st, &err);
    if (r) {
        cli_prompt_free(&pr);
        free(ids);
        cli_constraint_free(&con);
        gptc_model_free(model);
        return r;
    }

    gptc_session_params sp;
    cli_session_params(&o, model, &sp);
    gptc_session *s = NULL;
    st = gptc_session_new(model, &sp, &s, &err);
    if (st != GPTC_OK) {
        cli_error("%s", err.msg[0] ? err.msg : gptc_status_name(st));
        free(ids);
        gptc_token_trie_free(trie);
        cli_constraint_free(&con);
        gptc_model_free(model);
        cli_prompt_free(&pr);
        return cli_exit_code(st);
    }
    int n_ctx = gptc_session_n_ctx(s);
    if (n_ids >= (size_t)n_ctx) {
        if (n_ids == (size_t)n_ctx)
            cli_error("the prompt is %zu tokens and fills the whole context of %d, leaving no room "
                      "to generate (use -c to enlarge it)",
                      n_ids, n_ctx);
        else
            cli_error("the prompt is %zu tokens but the context holds only %d (use -c to enlarge "
                      "it)",
                      n_ids, n_ctx);
        free(ids);
        gptc_session_free(s);
        gptc_token_trie_free(trie);
        cli_constraint_free(&con);
        gptc_model_free(model);
        cli_prompt_free(&pr);
        return EXIT_CONTEXT;
    }
    cli_log(&o, "prompt: %zu tokens, context %d\n", n_ids, n_ctx);

    out_state os = {0};
    os.o = &o;
    os.json = o.json;
    os.dim = cli_use_color(&o, 2);
    os.last_nl = 1;
    cli_gen g;
    st = cli_gen_init(&g, tok, harmony, &h, o.raw, sink, &os, &err);
    if (st == GPTC_OK) st = cli_gen_constrain_tools(&g, con.g, &pr.tools, &choice, trie, &err);
    if (st == GPTC_OK && g.cg_warn[0] && !o.quiet)
        fprintf(stderr, "gptc: warning: %s\n", g.cg_warn);
    if (st != GPTC_OK) {
        cli_error("%s", err.msg);
        cli_gen_free(&g);
        free(ids);
        gptc_session_free(s);
        gptc_token_trie_free(trie);
        cli_constraint_free(&con);
        gptc_model_free(model);
        cli_prompt_free(&pr);
        return cli_exit_code(st);
    }
    if (cli_gen_set_stops(&g, o.stops, o.n_stops)) {
        cli_error("out of memory");
        cli_gen_free(&g);
        free(ids);
        gptc_session_free(s);
        gptc_token_trie_free(trie);
        cli_constraint_free(&con);
        gptc_model_free(model);
        cli_prompt_free(&pr);
        return EXIT_RUNTIME;
    }
    cli_gen_set_logprobs(&g, s, o.logprobs);
    cli_gen_begin(&g, o.n_predict, o.ignore_eos);
    g_session = s;
    if (g_interrupted) gptc_session_cancel(s);
    st = cli_gen_run(&g, s, ids, n_ids, NULL, &err);
    g_session = NULL;
    free(ids);
    if (os.reasoning_open && os.dim) fputs("\033[0m\n", stderr);

    int code = EXIT_DONE;
    if (st != GPTC_OK) {
        if (!os.last_nl && isatty(1)) fputc('\n', stdout);
        code = cli_fail(st, &err);
    } else {
        gptc_timings t;
        gptc_session_timings(s, &t);
        size_t n_calls = harmony ? harmony_parser_n_calls(g.hp) : 0;
        const char *finish = cli_finish_name(g.finish);
        if (n_calls && g.finish == CLI_FINISH_STOP) finish = "tool_calls";
        if (o.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "text", os.text.s ? os.text.s : "");
            if (harmony)
                cJSON_AddStringToObject(j, "reasoning", os.reasoning.s ? os.reasoning.s : "");
            if (n_calls) cJSON_AddItemToObject(j, "tool_calls", toolcalls_json(g.hp, &pr.tools));
            cJSON_AddNumberToObject(j, "tokens", g.n_gen);
            cJSON_AddStringToObject(j, "finish_reason", finish);
            cJSON *lp = cli_gen_take_logprobs(&g);
            if (lp) cJSON_AddItemToObject(j, "logprobs", lp);
            cJSON_AddItemToObject(j, "timings", timings_json(&info, &t, g.n_gen, g.constraint_ms));
            char *js = cJSON_PrintUnformatted(j);
            if (js) {
                fputs(js, stdout);
                fputc('\n', stdout);
                fflush(stdout);
            }
            free(js);
            cJSON_Delete(j);
        } else {
            if (os.wrote && !os.last_nl && isatty(1) && g.finish != CLI_FINISH_CLOSED) {
                fputc('\n', stdout);
                fflush(stdout);
            }
            if (n_calls && !o.quiet) toolcalls_print(stderr, g.hp, &pr.tools);
        }
        if (g.finish == CLI_FINISH_CONTEXT) {
            cli_error("the context is full (%d tokens); use -c to enlarge it", n_ctx);
            code = EXIT_CONTEXT;
        } else if (g.finish == CLI_FINISH_INTERRUPTED) {
            code = EXIT_INTERRUPTED;
        }
        if ((o.timings || o.verbose) && !o.quiet)
            print_timings(&info, &t, g.n_gen, g.constraint_ms);
        if (harmony && harmony_parser_malformed(g.hp) && cli_log_enabled(&o))
            fprintf(stderr,
                    "gptc: note: %d malformed channel header(s) or call(s) to undeclared tools "
                    "shown as text\n",
                    harmony_parser_malformed(g.hp));
    }
    cli_gen_free(&g);
    cli_prompt_free(&pr);
    strbuf_free(&os.text);
    strbuf_free(&os.reasoning);
    gptc_session_free(s);
    gptc_token_trie_free(trie);
    cli_constraint_free(&con);
    gptc_model_free(model);
    return code;
}
