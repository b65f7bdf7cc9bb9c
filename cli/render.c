/* render.c — gptc render: prints the exact prompt gpt-oss would see for a conversation.
 *
 *   gptc render (-m MODEL.gguf | --tokenizer F.json) [--messages FILE] [-p TEXT] [--tools FILE]
 *               [--system TEXT] [--reasoning-effort L] [--date YYYY-MM-DD] [--ids]
 *               [--no-generation-prompt]
 *
 * The text (special tokens spelled out) or, with --ids, the token ids space-separated: the same
 * ids one-shot generation and chat feed the model (tokenizer.json next to the model when there
 * is one, as when the model loads). Nothing is loaded but the tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/prompt.h"

static const char usage_text[] =
    "usage: gptc render (-m MODEL.gguf | --tokenizer F.json) [--messages FILE] [-p TEXT]\n"
    "                   [--tools FILE] [options]\n"
    "\n"
    "Prints the harmony prompt gpt-oss sees for a conversation (gpt-oss's chat template).\n"
    "  --messages FILE           conversation: a JSON array of OpenAI chat messages (system,\n"
    "                            developer, user, assistant with thinking/tool_calls, tool), or\n"
    "                            an object with \"messages\" (and \"tools\", "
    "\"reasoning_effort\")\n"
    "  -p, --prompt TEXT         a user message (after --messages)\n"
    "  --tools FILE              function tools: [{\"type\":\"function\",\"function\":{...}}]\n"
    "  --system TEXT / --system-file FILE   developer instructions\n"
    "  --reasoning-effort L      low | medium | high (default medium)\n"
    "  --date YYYY-MM-DD         the system message's date (default: today)\n"
    "  --ids                     print the token ids instead of the text\n"
    "  --no-generation-prompt    do not end with <|start|>assistant\n";

typedef struct render_opts {
    const char *date;
    int ids, no_gen;
} render_opts;

static int render_arg(void *user, int argc, char **argv, int i) {
    render_opts *r = user;
    if (!strcmp(argv[i], "--ids")) return r->ids = 1;
    if (!strcmp(argv[i], "--no-generation-prompt")) return r->no_gen = 1;
    if (cli_is_flag(argv[i], "--date")) {
        int used = 0;
        const char *v = cli_optval(argc, argv, i, &used);
        if (!v) return -1;
        int y, m, d;
        char tail;
        if (strlen(v) != 10 || sscanf(v, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 ||
            m > 12 || d < 1 || d > 31) {
            cli_error("--date: '%s' is not YYYY-MM-DD", v);
            return -1;
        }
        r->date = v;
        return used;
    }
    return 0;
}

static int load_tokenizer(const cli_opts *o, gptc_tokenizer **tok) {
    gptc_error err = {0};
    gptc_status st;
    if (o->tokenizer) {
        st = gptc_tokenizer_load_json(o->tokenizer, tok, &err);
    } else {
        /* as the model loads it: tokenizer.json next to the model, else the GGUF vocabulary */
        const char *slash = strrchr(o->model, '/');
        size_t dir = slash ? (size_t)(slash - o->model) + 1 : 0;
        char *cand = malloc(dir + sizeof "tokenizer.json");
        if (!cand) {
            cli_error("out of memory");
            return EXIT_RUNTIME;
        }
        memcpy(cand, o->model, dir);
        memcpy(cand + dir, "tokenizer.json", sizeof "tokenizer.json");
        struct stat sb;
        if (stat(cand, &sb) == 0 && S_ISREG(sb.st_mode))
            st = gptc_tokenizer_load_json(cand, tok, &err);
        else
            st = gptc_tokenizer_load_gguf(o->model, tok, &err);
        free(cand);
    }
    if (st != GPTC_OK) return cli_fail(st, &err);
    return 0;
}

int cli_render(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    render_opts ro = {0};
    int r = cli_parse(argc, argv, CLI_G_MODEL | CLI_G_PROMPT | CLI_G_HARMONY, &o, render_arg, &ro,
                      usage_text);
    if (r == -2) return EXIT_DONE;
    if (r) return r;
    if (!o.model && !o.tokenizer) {
        cli_error("render: give -m MODEL.gguf or --tokenizer FILE.json");
        return EXIT_USAGE;
    }
    if (!o.messages_file && !o.prompt && !o.prompt_file) {
        cli_error("render: give --messages FILE, -p TEXT or -f FILE");
        return EXIT_USAGE;
    }
    if (o.prompt && o.prompt_file) {
        cli_error("use either -p or -f, not both");
        return EXIT_USAGE;
    }
    char *ptext = NULL;
    if (o.prompt_file && !(ptext = cli_slurp_file(o.prompt_file, NULL))) return EXIT_USAGE;
    cli_prompt p;
    r = cli_prompt_load(&o, ptext ? ptext : o.prompt, &p);
    free(ptext);
    if (r) return r;
    if (ro.date) snprintf(p.date, sizeof p.date, "%s", ro.date);
    gptc_tokenizer *tok = NULL;
    harmony_ids h;
    if ((r = load_tokenizer(&o, &tok))) {
        cli_prompt_free(&p);
        return r;
    }
    if (!harmony_ids_find(tok, &h)) {
        cli_error("render: the vocabulary lacks harmony's special tokens (not a gpt-oss model)");
        gptc_tokenizer_free(tok);
        cli_prompt_free(&p);
        return EXIT_LOAD;
    }
    harmony_conv c;
    cli_prompt_conv(&p, &c);
    int32_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    gptc_error err = {0};
    gptc_status st = harmony_render_ex(tok, &h, &c, !ro.no_gen, ro.ids ? &ids : NULL, &n,
                                       ro.ids ? NULL : &text, &err);
    int code = EXIT_DONE;
    if (st != GPTC_OK) {
        cli_error("%s", err.msg[0] ? err.msg : gptc_status_name(st));
        code = st == GPTC_ERR_FORMAT ? EXIT_USAGE : cli_exit_code(st);
    } else if (ro.ids) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    } else {
        fputs(text, stdout);
    }
    free(ids);
    free(text);
    gptc_tokenizer_free(tok);
    cli_prompt_free(&p);
    return code;
}
