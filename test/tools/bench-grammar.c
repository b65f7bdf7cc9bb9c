/* bench-grammar — the per-token cost of the constrained-decoding mask over a whole vocabulary
 * (gptc_matcher_mask), not a test. Two drives:
 *   replay: a reference document (valid for the grammar) is tokenized and replayed token by token;
 *           each step computes the mask, checks that the document's token is in it, accepts it.
 *           Run twice: cold (first time every grammar state is seen) and warm (same matcher reset:
 *           the per-state caches are filled, as in a long generation).
 *   random: tokens drawn uniformly from each step's mask (seeded), N steps.
 * Times are this thread's CPU time.
 *
 *   build/tools/bench-grammar TOKENIZER.json (--schema FILE | --grammar FILE | --json-object)
 *       [--doc FILE] [--steps N] [--seed S]
 * Without --doc the built-in schema and document below are used (nested objects, arrays, enums). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gptc.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\"},"
    "\"status\":{\"enum\":[\"active\",\"inactive\",\"pending\"]},"
    "\"age\":{\"type\":\"integer\"},"
    "\"score\":{\"type\":\"number\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":8},"
    "\"address\":{\"type\":\"object\",\"properties\":{"
    "  \"street\":{\"type\":\"string\"},\"city\":{\"type\":\"string\"},"
    "  \"country\":{\"enum\":[\"US\",\"FR\",\"DE\",\"JP\"]}},"
    "  \"required\":[\"street\",\"city\",\"country\"],\"additionalProperties\":false},"
    "\"orders\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "  \"id\":{\"type\":\"string\",\"format\":\"uuid\"},\"qty\":{\"type\":\"integer\"},"
    "  \"when\":{\"type\":\"string\",\"format\":\"date\"},"
    "  \"kind\":{\"enum\":[\"book\",\"music\",\"video\"]}},"
    "  \"required\":[\"id\",\"qty\",\"when\",\"kind\"],\"additionalProperties\":false}}},"
    "\"required\":[\"name\",\"status\",\"age\",\"score\",\"tags\",\"address\",\"orders\"],"
    "\"additionalProperties\":false}";

static const char DOC[] =
    "{\"name\": \"Ada Lovelace, Countess of Lovelace\", \"status\": \"active\", \"age\": 36, "
    "\"score\": 98.25, \"tags\": [\"mathematics\", \"analytical engine\", \"poetry\", "
    "\"Bernoulli numbers\"], \"address\": {\"street\": \"12 St James's Square\", \"city\": "
    "\"London\", \"country\": \"US\"}, \"orders\": [{\"id\": "
    "\"123e4567-e89b-12d3-a456-426614174000\", \"qty\": 2, \"when\": \"1843-07-10\", \"kind\": "
    "\"book\"}, {\"id\": \"f47ac10b-58cc-4372-a567-0e02b2c3d479\", \"qty\": 15, \"when\": "
    "\"1852-11-27\", \"kind\": \"music\"}, {\"id\": \"9b2d5c1e-0000-4fff-8abc-1234567890ab\", "
    "\"qty\": 1, \"when\": \"1850-01-31\", \"kind\": \"video\"}]}";

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

static int die(const char *what, const gptc_error *e) {
    fprintf(stderr, "bench-grammar: %s: %s\n", what, e ? e->msg : "");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench-grammar TOKENIZER.json [--schema F | --grammar F | "
                        "--json-object] [--doc F] [--steps N] [--seed S]\n");
        return 1;
    }
    const char *schema_f = NULL, *grammar_f = NULL, *doc_f = NULL;
    int json_object = 0, steps = 2000;
    unsigned long long seed = 1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--schema") && i + 1 < argc)
            schema_f = argv[++i];
        else if (!strcmp(argv[i], "--grammar") && i + 1 < argc)
            grammar_f = argv[++i];
        else if (!strcmp(argv[i], "--doc") && i + 1 < argc)
            doc_f = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--json-object"))
            json_object = 1;
        else {
            fprintf(stderr, "bench-grammar: unknown argument %s\n", argv[i]);
            return 1;
        }
    }
    gptc_error err = {0};
    gptc_tokenizer *tok = NULL;
    double t0 = now();
    if (gptc_tokenizer_load_json(argv[1], &tok, &err) != GPTC_OK) return die(argv[1], &err);
    double t1 = now();
    gptc_token_trie *trie = NULL;
    if (gptc_token_trie_new(tok, &trie, &err) != GPTC_OK) return die("trie", &err);
    double t2 = now();
    gptc_grammar *g = NULL;
    char *text = NULL;
    gptc_status st;
    if (grammar_f) {
        text = slurp(grammar_f);
        if (!text) return die(grammar_f, NULL);
        st = gptc_grammar_parse(text, strlen(text), &g, &err);
    } else if (json_object) {
        st = gptc_grammar_json_object(&g, &err);
    } else {
        text = schema_f ? slurp(schema_f) : strdup(SCHEMA);
        if (!text) return die(schema_f, NULL);
        st = gptc_grammar_from_json_schema(text, strlen(text), &g, &err);
    }
    if (st != GPTC_OK) return die("grammar", &err);
    double t3 = now();
    printf("vocabulary: %d tokens; load %.0f ms, trie %.0f ms, grammar %.1f ms\n",
           gptc_tokenizer_n_vocab(tok), (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3);
    gptc_matcher *m = NULL;
    if (gptc_matcher_new(g, trie, &m, &err) != GPTC_OK) return die("matcher", &err);
    int32_t eos = gptc_tokenizer_eos(tok);
    gptc_matcher_set_end_tokens(m, &eos, eos >= 0 ? 1 : 0, NULL);
    const int nw = gptc_matcher_n_words(m);
    uint32_t *bits = malloc((size_t)nw * sizeof *bits);
    int rc = 0;

    /* replay */
    char *doc =
        doc_f ? slurp(doc_f) : (!grammar_f && !schema_f && !json_object ? strdup(DOC) : NULL);
    if (doc) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (gptc_tokenize(tok, doc, strlen(doc), 0, &ids, &n, &err) != GPTC_OK)
            return die("tokenize", &err);
        for (int pass = 0; pass < 2; pass++) {
            gptc_matcher_reset(m);
            double a = now(), worst = 0;
            long allowed = 0;
            for (size_t i = 0; i < n; i++) {
                double s0 = now();
                allowed += gptc_matcher_mask(m, bits);
                double s1 = now();
                if (s1 - s0 > worst) worst = s1 - s0;
                if (!((bits[ids[i] >> 5] >> (ids[i] & 31)) & 1)) {
                    printf("replay: token %zu (id %d) of the document is masked out\n", i, ids[i]);
                    rc = 1;
                    break;
                }
                if (!gptc_matcher_accept_token(m, ids[i])) {
                    printf("replay: token %zu (id %d) refused\n", i, ids[i]);
                    rc = 1;
                    break;
                }
            }
            double b = now();
            printf("replay %-4s: %zu tokens, %.1f us/token mask+accept (worst step %.0f us), "
                   "%.0f allowed/step, complete=%d\n",
                   pass ? "warm" : "cold", n, (b - a) * 1e6 / (double)n, worst * 1e6,
                   (double)allowed / (double)n, gptc_matcher_is_complete(m));
        }
        gptc_free(ids);
    }

    /* random walk */
    gptc_matcher_reset(m);
    unsigned long long r = seed * 0x9E3779B97F4A7C15ull + 1;
    int32_t *cand = malloc(((size_t)nw * 32) * sizeof *cand);
    double worst = 0, mask_t = 0;
    int done = 0, produced = 0;
    for (int i = 0; i < steps; i++) {
        double s0 = now();
        int cnt = gptc_matcher_mask(m, bits);
        double s1 = now();
        mask_t += s1 - s0;
        if (s1 - s0 > worst) worst = s1 - s0;
        if (!cnt) break;
        int k = 0;
        for (int w = 0; w < nw; w++)
            for (uint32_t x = bits[w]; x; x &= x - 1) cand[k++] = w * 32 + __builtin_ctz(x);
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int32_t id = cand[r % (unsigned long long)k];
        if (!gptc_matcher_accept_token(m, id)) {
            printf("random: allowed token %d refused\n", id);
            rc = 1;
            break;
        }
        produced++;
        if (gptc_matcher_is_ended(m)) {
            done++;
            gptc_matcher_reset(m);
        }
    }
    printf("random walk: %d tokens, %.1f us/token for the mask (worst step %.0f us), %d "
           "documents ended\n",
           produced, produced ? mask_t * 1e6 / produced : 0.0, worst * 1e6, done);
    free(cand);
    free(doc);
    free(bits);
    free(text);
    gptc_matcher_free(m);
    gptc_grammar_free(g);
    gptc_token_trie_free(trie);
    gptc_tokenizer_free(tok);
    return rc;
}
