/* perplexity.c — gptc perplexity -m MODEL -f FILE [-c CTX] [-b BATCH] [--chunks N]
 *                  [--dump-tokens FILE] [--kl-base FILE] [--kl FILE]
 *
 * Same method and output as llama.cpp's llama-perplexity, so numbers compare across tools:
 * the whole file is tokenized (one trailing newline dropped, no special-token parsing, BOS
 * first when the vocabulary adds one), cut into chunks of CTX tokens; the first token of each
 * chunk is replaced by BOS when the vocab adds BOS; the predictions of the second half of each
 * chunk (positions CTX/2 .. CTX-2 predicting the next token) are scored. Prints the running
 * estimate after each chunk "[1]X,[2]Y,..." and "Final estimate: PPL = X +/- E" where
 * E = PPL * sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)).
 *
 * --kl-base FILE stores the full log-softmax of every scored position (uint16-quantised per
 * position, see the format below); --kl FILE compares this model's predictions with them:
 * mean KL(base || this) with its standard error, top-1 agreement (all positions, and those where
 * the base's top-1 leads its runner-up by >= 0.5 nats: the confident ones, where a different
 * top-1 is a real disagreement rather than a near-tie), and PPL(this) / PPL(base) (the base's
 * perplexity from its stored log-probabilities of the targets).
 *
 * KL file (little endian): "GPTCKLD1", u32 version=1, u32 n_vocab, u32 n_ctx, u32 n_chunk,
 * u32 first, u32 n_tokens, i32 tokens[n_tokens], then per scored position (chunk-major):
 * i32 top1, f32 min_lp, f32 step, u16 q[n_vocab] with log p = min_lp + q * step. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"

static const char usage_text[] =
    "usage: gptc perplexity -m MODEL.gguf -f FILE [options]\n"
    "  -c, --ctx-size N       tokens per chunk (default 512)\n"
    "  -b, --batch-size N     tokens per forward batch (default: the chunk size)\n"
    "  --chunks N             score at most N chunks (default: all)\n"
    "  --dump-tokens FILE     one JSON line per scored position: chunk, pos (the predicting\n"
    "                         position in the chunk), target, logprob, top1, top1_logprob,\n"
    "                         top2_logprob (full-softmax log-probabilities)\n"
    "  --kl-base FILE         save every scored position's log-probabilities (binary)\n"
    "  --kl FILE              compare with a --kl-base file: mean KL divergence, top-1 agreement\n"
    "  -t, --threads N  --backend auto|cpu|cuda  --device N  --tokenizer FILE  -v  -q\n"
    "Method and output as llama.cpp's llama-perplexity.\n";

typedef struct ppl_extra {
    int chunks;
    const char *dump, *kl_base, *kl;
} ppl_extra;

static int extra_opts(void *user, int argc, char **argv, int i) {
    ppl_extra *e = user;
    int used;
    const char *v;
    if (cli_is_flag(argv[i], "--chunks")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        return cli_parse_int("--chunks", v, 1, 1 << 30, &e->chunks) ? -1 : used;
    }
    if (cli_is_flag(argv[i], "--dump-tokens")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        e->dump = v;
        return used;
    }
    if (cli_is_flag(argv[i], "--kl-base")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        e->kl_base = v;
        return used;
    }
    if (cli_is_flag(argv[i], "--kl") || cli_is_flag(argv[i], "--kl-divergence")) {
        if (!(v = cli_optval(argc, argv, i, &used))) return -1;
        e->kl = v;
        return used;
    }
    return 0;
}

/* log-softmax facts of one row of logits */
typedef struct row_stats {
    double max, lse; /* lse = log sum exp */
    int32_t top1, top2;
} row_stats;

static void row_scan(const float *l, int n, row_stats *r) {
    int32_t t1 = 0, t2 = -1;
    for (int i = 1; i < n; i++) {
        if (l[i] > l[t1]) {
            t2 = t1;
            t1 = i;
        } else if (t2 < 0 || l[i] > l[t2]) {
            t2 = i;
        }
    }
    double mx = l[t1], sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)l[i] - mx);
    r->max = mx;
    r->lse = mx + log(sum);
    r->top1 = t1;
    r->top2 = t2 < 0 ? t1 : t2;
}

static int wr(FILE *f, const void *p, size_t n) {
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}
static int rd(FILE *f, void *p, size_t n) {
    return fread(p, 1, n, f) == n ? 0 : -1;
}

#define KL_MAGIC "GPTCKLD1"

int cli_perplexity(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    ppl_extra e = {0};
    int r = cli_parse_cmd(argc, argv, CLI_G_MODEL | CLI_G_PROMPT | CLI_G_OUTPUT, &o, extra_opts, &e,
                          usage_text);
    if (r != CLI_CONTINUE) return r;
    if (o.prompt) {
        cli_error("perplexity reads its text from a file: use -f FILE");
        return EXIT_USAGE;
    }
    if (!o.prompt_file) {
        cli_error("no text given (use -f FILE)");
        return EXIT_USAGE;
    }
    if (e.kl && e.kl_base) {
        cli_error("use either --kl-base or --kl, not both");
        return EXIT_USAGE;
    }
    if ((e.dump && cli_check_output(&o, e.dump, e.kl ? e.kl : e.kl_base)) ||
        (e.kl_base && cli_check_output(&o, e.kl_base, NULL)))
        return EXIT_USAGE;
    size_t text_len = 0;
    char *text = cli_slurp_file(o.prompt_file, &text_len);
    if (!text) return EXIT_USAGE;
    if (text_len && text[text_len - 1] == '\n') text[--text_len] = 0; /* as llama.cpp's -f */

    /* the KL base file fixes the chunking */
    FILE *klf = NULL;
    uint32_t kl_hdr[6] = {0}; /* n_vocab n_ctx n_chunk first n_tokens version */
    if (e.kl) {
        int kfd = cli_open_input(e.kl); /* no hang on a FIFO, no directory */
        klf = kfd >= 0 ? fdopen(kfd, "rb") : NULL;
        char magic[8];
        uint32_t h[6];
        if (!klf) {
            if (kfd >= 0) {
                cli_error("%s: %s", e.kl, strerror(errno));
                close(kfd);
            }
            free(text);
            return EXIT_USAGE;
        }
        if (rd(klf, magic, 8) || memcmp(magic, KL_MAGIC, 8) || rd(klf, h, sizeof h) || h[0] != 1) {
            cli_error("%s: not a gptc --kl-base file", e.kl);
            fclose(klf);
            free(text);
            return EXIT_USAGE;
        }
        memcpy(kl_hdr, h + 1, 5 * sizeof *h);
        if (o.n_ctx && (uint32_t)o.n_ctx != kl_hdr[1]) {
            cli_error("-c %d differs from the %u of the --kl file", o.n_ctx, kl_hdr[1]);
            fclose(klf);
            free(text);
            return EXIT_USAGE;
        }
        o.n_ctx = (int)kl_hdr[1];
        if (!e.chunks) e.chunks = (int)kl_hdr[2];
    }
    int n_ctx = o.n_ctx > 0 ? o.n_ctx : 512;
    if (n_ctx < 4) {
        cli_error("-c must be at least 4 for perplexity");
        free(text);
        if (klf) fclose(klf);
        return EXIT_USAGE;
    }
    o.n_ctx = n_ctx;
    int n_batch = o.n_batch > 0 ? (o.n_batch < n_ctx ? o.n_batch : n_ctx) : n_ctx;

    gptc_model *model = NULL;
    r = cli_load_model(&o, 1, &model);
    if (r) {
        free(text);
        if (klf) fclose(klf);
        return r;
    }
    const gptc_tokenizer *tok = gptc_model_tokenizer(model);
    gptc_model_info info;
    gptc_model_get_info(model, &info);
    gptc_error err = {0};
    int32_t *toks = NULL;
    size_t n_tok_text = 0;
    gptc_status st = gptc_tokenize(tok, text, text_len, 0, &toks, &n_tok_text, &err);
    free(text);
    int code = EXIT_DONE;
    int32_t *tokens = NULL;
    float *logits = NULL;
    gptc_session *s = NULL;
    FILE *dump = NULL, *klb = NULL;
    if (st != GPTC_OK) {
        cli_error("%s: %s", o.prompt_file, err.msg);
        code = st == GPTC_ERR_FORMAT ? EXIT_USAGE : cli_exit_code(st);
        goto done;
    }
    int32_t bos = gptc_tokenizer_bos(tok);
    int add_bos = gptc_tokenizer_add_bos(tok) && bos >= 0;
    size_t n_tokens = n_tok_text + (add_bos ? 1 : 0);
    tokens = malloc((n_tokens ? n_tokens : 1) * sizeof *tokens);
    if (!tokens) {
        cli_error("out of memory");
        code = EXIT_RUNTIME;
        goto done;
    }
    if (add_bos) tokens[0] = bos;
    if (n_tok_text) memcpy(tokens + (add_bos ? 1 : 0), toks, n_tok_text * sizeof *toks);
    gptc_free(toks);
    toks = NULL;
    if (n_tokens < 2 * (size_t)n_ctx) {
        cli_error("you need at least %d tokens to evaluate perplexity with a context of %d "
                  "(the file has %zu)",
                  2 * n_ctx, n_ctx, n_tokens);
        code = EXIT_USAGE;
        goto done;
    }
    int n_chunk = (int)(n_tokens / (size_t)n_ctx);
    if (e.chunks > 0 && e.chunks < n_chunk) n_chunk = e.chunks;
    int first = n_ctx / 2;
    int n_vocab = info.n_vocab;
    if (klf) {
        if ((int)kl_hdr[0] != n_vocab || (int)kl_hdr[3] != first || (int)kl_hdr[2] < n_chunk) {
            cli_error("%s: made with a different vocabulary size or chunking (n_vocab %u, "
                      "%u chunks of %u)",
                      e.kl, kl_hdr[0], kl_hdr[2], kl_hdr[1]);
            code = EXIT_USAGE;
            goto done;
        }
        size_t nt = kl_hdr[4];
        int32_t *bt = malloc(nt * sizeof *bt);
        int same = bt && !rd(klf, bt, nt * sizeof *bt) && nt >= (size_t)n_chunk * (size_t)n_ctx &&
                   !memcmp(bt, tokens, (size_t)n_chunk * (size_t)n_ctx * sizeof *bt);
        free(bt);
        if (!same) {
            cli_error("%s: the text's tokens differ from those the base logits were made from",
                      e.kl);
            code = EXIT_USAGE;
            goto done;
        }
    }
    if (e.dump && !(dump = fopen(e.dump, "w"))) {
        cli_error("%s: %s", e.dump, strerror(errno));
        code = EXIT_USAGE;
        goto done;
    }
    if (e.kl_base) {
        klb = fopen(e.kl_base, "wb");
        uint32_t h[6] = {1,
                         (uint32_t)n_vocab,
                         (uint32_t)n_ctx,
                         (uint32_t)n_chunk,
                         (uint32_t)first,
                         (uint32_t)n_chunk * (uint32_t)n_ctx};
        /* one rule for output files: one that cannot be opened is a usage error (1), a write
         * that fails (a full disk, /dev/full) a runtime error (3), as for --dump-tokens */
        if (!klb || wr(klb, KL_MAGIC, 8) || wr(klb, h, sizeof h) ||
            wr(klb, tokens, (size_t)n_chunk * n_ctx * sizeof *tokens)) {
            cli_error("%s: %s", e.kl_base, strerror(errno));
            code = klb ? EXIT_RUNTIME : EXIT_USAGE;
            goto done;
        }
    }

    gptc_session_params sp;
    cli_session_params(&o, model, &sp);
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    st = gptc_session_new(model, &sp, &s, &err);
    if (st != GPTC_OK) {
        cli_error("%s", err.msg);
        code = cli_exit_code(st);
        goto done;
    }
    logits = malloc((size_t)n_ctx * (size_t)n_vocab * sizeof *logits);
    float *lp_row = malloc((size_t)n_vocab * sizeof *lp_row);
    uint16_t *q = malloc((size_t)n_vocab * sizeof *q);
    int32_t *chunk = malloc((size_t)n_ctx * sizeof *chunk);
    if (!logits || !lp_row || !q || !chunk) {
        free(lp_row);
        free(q);
        free(chunk);
        cli_error("out of memory for %d x %d logits", n_ctx, n_vocab);
        code = EXIT_RUNTIME;
        goto done;
    }
    cli_log(&o, "perplexity: %zu tokens, %d chunks of %d, batch %d, scoring the last %d of each\n",
            n_tokens, n_chunk, n_ctx, n_batch, n_ctx - first - 1);

    double nll = 0, nll2 = 0, kld = 0, kld2 = 0, base_nll = 0;
    long count = 0, same_top = 0, n_conf = 0, same_conf = 0;
    double t0 = cli_now_ms();
    for (int c = 0; c < n_chunk && code == EXIT_DONE; c++) {
        memcpy(chunk, tokens + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (add_bos) chunk[0] = bos;
        st = gptc_session_truncate(s, 0, &err);
        for (int j = 0; st == GPTC_OK && j < n_ctx; j += n_batch) {
            int nb = n_ctx - j < n_batch ? n_ctx - j : n_batch;
            st = gptc_session_feed_all_logits(s, chunk + j, (size_t)nb,
                                              logits + (size_t)j * n_vocab, &err);
        }
        if (st != GPTC_OK) {
            code = cli_fail(st, &err);
            break;
        }
        for (int j = first; j < n_ctx - 1; j++) {
            const float *l = logits + (size_t)j * n_vocab;
            int32_t target = tokens[(size_t)c * n_ctx + j + 1];
            row_stats rs;
            row_scan(l, n_vocab, &rs);
            double lp = (target >= 0 && target < n_vocab) ? l[target] - rs.lse : -INFINITY;
            nll -= lp;
            nll2 += lp * lp;
            count++;
            if (dump)
                fprintf(dump,
                        "{\"chunk\":%d,\"pos\":%d,\"target\":%d,\"logprob\":%.7g,\"top1\":%d,"
                        "\"top1_logprob\":%.7g,\"top2_logprob\":%.7g}\n",
                        c, j, target, lp, rs.top1, l[rs.top1] - rs.lse, l[rs.top2] - rs.lse);
            if (klb) {
                float mn = 0;
                for (int i = 0; i < n_vocab; i++) {
                    lp_row[i] = (float)(l[i] - rs.lse);
                    if (lp_row[i] < mn) mn = lp_row[i];
                }
                if (mn < -64.f) mn = -64.f;
                float step = mn < 0 ? -mn / 65535.f : 1.f;
                for (int i = 0; i < n_vocab; i++) {
                    float v = lp_row[i] < mn ? mn : lp_row[i];
                    float qq = roundf((v - mn) / step);
                    q[i] = (uint16_t)(qq > 65535.f ? 65535.f : qq);
                }
                int32_t t1 = rs.top1;
                if (wr(klb, &t1, 4) || wr(klb, &mn, 4) || wr(klb, &step, 4) ||
                    wr(klb, q, (size_t)n_vocab * 2)) {
                    cli_error("%s: write failed", e.kl_base);
                    code = EXIT_RUNTIME;
                    break;
                }
            }
            if (klf) {
                int32_t bt1;
                float mn, step;
                if (rd(klf, &bt1, 4) || rd(klf, &mn, 4) || rd(klf, &step, 4) ||
                    rd(klf, q, (size_t)n_vocab * 2)) {
                    cli_error("%s: truncated", e.kl);
                    code = EXIT_USAGE;
                    break;
                }
                /* base log-probs, renormalised after quantisation */
                double bmax = -DBL_MAX, bsum = 0;
                for (int i = 0; i < n_vocab; i++) {
                    lp_row[i] = mn + q[i] * step;
                    if (lp_row[i] > bmax) bmax = lp_row[i];
                }
                for (int i = 0; i < n_vocab; i++) bsum += exp(lp_row[i] - bmax);
                double blse = bmax + log(bsum), kl = 0, second = -DBL_MAX;
                for (int i = 0; i < n_vocab; i++) {
                    double lb = lp_row[i] - blse;
                    kl += exp(lb) * (lb - ((double)l[i] - rs.lse));
                    if (i != bt1 && lp_row[i] > second) second = lp_row[i];
                }
                kld += kl;
                kld2 += kl * kl;
                same_top += bt1 == rs.top1;
                if (bt1 >= 0 && bt1 < n_vocab && lp_row[bt1] - second >= 0.5) {
                    n_conf++;
                    same_conf += bt1 == rs.top1;
                }
                base_nll -= (target >= 0 && target < n_vocab) ? lp_row[target] - blse : -INFINITY;
            }
        }
        if (code != EXIT_DONE) break;
        printf("[%d]%.4lf,", c + 1, exp(nll / (double)count));
        fflush(stdout);
        if (cli_stdout_gone()) break; /* `| head`: stop computing (cli_finish_stdout reports) */
        if (c == 0 && cli_log_enabled(&o)) {
            double ms = cli_now_ms() - t0;
            fprintf(stderr, "perplexity: %.2f s per chunk, ETA %.1f min\n", ms / 1000,
                    ms * (n_chunk - 1) / 60000);
        }
    }
    free(lp_row);
    free(q);
    free(chunk);
    if (code == EXIT_DONE && !cli_stdout_gone()) {
        printf("\n");
        double m = nll / (double)count, m2 = nll2 / (double)count;
        double ppl = exp(m), var = m2 - m * m;
        if (var > 0 && count > 1)
            printf("Final estimate: PPL = %.4lf +/- %.5lf\n", ppl, sqrt(var / (count - 1)) * ppl);
        else
            printf("Unexpected negative standard deviation of log(prob)\n");
        if (klf && count > 0) {
            double mk = kld / count, vk = kld2 / count - mk * mk;
            double ek = (vk > 0 && count > 1) ? sqrt(vk / (count - 1)) : 0;
            double pt = (double)same_top / count;
            double et = count > 1 ? sqrt(pt * (1 - pt) / (count - 1)) : 0;
            printf("Mean    KLD: %10.6lf ± %10.6lf\n", mk, ek);
            printf("Same top p: %6.3lf ± %5.3lf %%\n", 100 * pt, 100 * et);
            const double pc = n_conf ? (double)same_conf / n_conf : 1.0;
            const double ec = n_conf > 1 ? sqrt(pc * (1 - pc) / (n_conf - 1)) : 0;
            printf("Same top p (base top-1 ahead by >= 0.5 nats): %6.3lf ± %5.3lf %% of %ld\n",
                   100 * pc, 100 * ec, n_conf);
            printf("Mean PPL(Q)/PPL(base): %10.6lf\n", exp((nll - base_nll) / (double)count));
        }
        fflush(stdout);
    }
done:
    gptc_free(toks);
    free(tokens);
    free(logits);
    /* ferror too: after a failed write glibc may drop the buffer and fclose then succeeds */
    if (dump && (ferror(dump) | fclose(dump)) && code == EXIT_DONE) {
        cli_error("%s: write failed", e.dump);
        code = EXIT_RUNTIME;
    }
    if (klb && (ferror(klb) | fclose(klb)) && code == EXIT_DONE) {
        cli_error("%s: write failed", e.kl_base);
        code = EXIT_RUNTIME;
    }
    if (klf) fclose(klf);
    gptc_session_free(s);
    gptc_model_free(model);
    return code;
}
