/* logprobs.c — see logprobs.h. */
#include "cli/logprobs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/stopstr.h"

/* obj.token / .logprob / .bytes for one id */
static int add_token(cJSON *o, const gptc_tokenizer *tok, int32_t id, float lp) {
    const char *b = NULL;
    size_t n = 0;
    if (gptc_tokenizer_piece(tok, id, &b, &n) != GPTC_OK) {
        b = "";
        n = 0;
    }
    char *txt = malloc(3 * n + 1); /* each bad byte becomes the 3 bytes of U+FFFD */
    if (!txt) return -1;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t k = cli_utf8_char((const unsigned char *)b + i, n - i);
        if (k && !(k == 1 && b[i] == 0)) {
            memcpy(txt + w, b + i, k);
            w += k;
            i += k;
        } else {
            memcpy(txt + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
        }
    }
    txt[w] = 0;
    cJSON *bytes = cJSON_CreateArray();
    for (size_t i = 0; bytes && i < n; i++)
        cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)b[i]));
    int ok = cJSON_AddStringToObject(o, "token", txt) &&
             cJSON_AddNumberToObject(o, "logprob", lp > -INFINITY ? (double)lp : -9999.0) && bytes;
    free(txt);
    if (bytes) cJSON_AddItemToObject(o, "bytes", bytes);
    return ok ? 0 : -1;
}

cJSON *cli_logprob_entry(gptc_session *s, const gptc_tokenizer *tok, int32_t id, int n_top,
                         gptc_error *err) {
    gptc_token_logprob top[CLI_MAX_TOP_LOGPROBS];
    float lp = 0.0f;
    if (n_top > CLI_MAX_TOP_LOGPROBS) n_top = CLI_MAX_TOP_LOGPROBS;
    if (n_top < 0) n_top = 0;
    gptc_status st = gptc_session_logprobs(s, id, &lp, top, n_top, err);
    if (st != GPTC_OK) return NULL;
    cJSON *e = cJSON_CreateObject();
    cJSON *alts = cJSON_CreateArray();
    int bad = !e || !alts || add_token(e, tok, id, lp);
    for (int i = 0; !bad && i < n_top; i++) {
        cJSON *a = cJSON_CreateObject();
        bad = !a || add_token(a, tok, top[i].id, top[i].logprob);
        if (a) cJSON_AddItemToArray(alts, a);
    }
    if (alts) cJSON_AddItemToObject(e, "top_logprobs", alts);
    if (bad) {
        cJSON_Delete(e);
        if (err) {
            err->status = GPTC_ERR_NOMEM;
            strcpy(err->msg, "out of memory (logprobs)");
        }
        return NULL;
    }
    return e;
}
