/* test_convert.c — `gptc convert` on small checkpoints this test writes itself (safetensors from
 * C: header JSON + data; a byte-level BPE tokenizer.json; config.json), checked against the
 * layouts independently:
 *   - gpt-oss with OpenAI MXFP4 experts, sharded with an index: the tensor table llama.cpp's
 *     converter writes (names, types, shapes), bf16 copied bit for bit, MXFP4 blocks decoded by
 *     the engine equal to a hand-written decoder of OpenAI's layout (element 2b low nibble of
 *     byte b, 2b+1 high nibble, scale 2^(s-127)), gate rows = even, up rows = odd, metadata;
 *   - the same experts stored as floats (a dequantised checkpoint) -> identical expert values;
 *   - GPT-2 (Conv1D weights transposed, q8_0 with the f16 fallback for rows not a multiple of
 *     32, position embeddings F32, no output tensor);
 *   - bad input: one "gptc: error:" line and exit code 2 (1 for usage).
 * The converted gpt-oss model is loaded and run through the public API. */
#include <cJSON.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/quant.h"
#include "gguf/gguf.h"
#include "gptc.h"
#include "test/util/testutil.h"
#include "test/util/tucheck.h"

/* ---- deterministic data --------------------------------------------------------------------- */
static uint64_t g_rng = 1;
static uint64_t rnd(void) {
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float rndf(void) {
    return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2 - 1);
}

/* bf16 of x, truncating (any bf16 pattern will do as test data) */
static uint16_t to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)(u >> 16);
}
static float bf16_val(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- safetensors writer -----------------------------------------------------------------------
 */
typedef struct st_in {
    char name[128];
    const char *dtype;
    int n_dims;
    int64_t shape[4];
    void *data;
    size_t bytes;
} st_in;

typedef struct ckpt {
    st_in t[128];
    int n;
} ckpt;

static st_in *add(ckpt *c, const char *name, const char *dtype, int n_dims, int64_t s0, int64_t s1,
                  int64_t s2, int64_t s3) {
    ck_assert_int_lt(c->n, 128);
    st_in *t = &c->t[c->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype;
    t->n_dims = n_dims;
    int64_t s[4] = {s0, s1, s2, s3}, n = 1;
    for (int i = 0; i < n_dims; i++) n *= (t->shape[i] = s[i]);
    int es = !strcmp(dtype, "F32") ? 4 : !strcmp(dtype, "U8") ? 1 : 2;
    t->bytes = (size_t)n * (size_t)es;
    t->data = malloc(t->bytes ? t->bytes : 1);
    return t;
}

/* random bf16/f16/f32 values in [-1, 1) */
static st_in *add_rand(ckpt *c, const char *name, const char *dtype, int n_dims, int64_t s0,
                       int64_t s1, int64_t s2) {
    st_in *t = add(c, name, dtype, n_dims, s0, s1, s2, 1);
    size_t n = t->bytes / (!strcmp(dtype, "F32") ? 4 : 2);
    for (size_t i = 0; i < n; i++) {
        float v = rndf();
        if (!strcmp(dtype, "F32"))
            ((float *)t->data)[i] = v;
        else if (!strcmp(dtype, "F16"))
            ((uint16_t *)t->data)[i] = quant_f32_to_f16(v);
        else
            ((uint16_t *)t->data)[i] = to_bf16(v);
    }
    return t;
}

static st_in *find_in(ckpt *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->t[i].name, name)) return &c->t[i];
    ck_abort_msg("test: no input tensor %s", name);
    return NULL;
}

static float in_val(const st_in *t, int64_t i) {
    if (!strcmp(t->dtype, "F32")) return ((float *)t->data)[i];
    if (!strcmp(t->dtype, "F16")) return quant_f16_to_f32(((uint16_t *)t->data)[i]);
    return bf16_val(((uint16_t *)t->data)[i]);
}

/* writes the tensors whose index is in [from, to) to path */
static void write_st(const char *path, ckpt *c, int from, int to) {
    char *h = malloc(1 << 20);
    size_t k = (size_t)sprintf(h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (int i = from; i < to; i++) {
        st_in *t = &c->t[i];
        k += (size_t)sprintf(h + k, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name, t->dtype);
        for (int d = 0; d < t->n_dims; d++)
            k += (size_t)sprintf(h + k, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        k += (size_t)sprintf(h + k, "],\"data_offsets\":[%zu,%zu]}", off, off + t->bytes);
        off += t->bytes;
    }
    h[k++] = '}';
    while (k % 8) h[k++] = ' ';
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    uint8_t len[8];
    for (int b = 0; b < 8; b++) len[b] = (uint8_t)((uint64_t)k >> (8 * b));
    fwrite(len, 1, 8, f);
    fwrite(h, 1, k, f);
    for (int i = from; i < to; i++) fwrite(c->t[i].data, 1, c->t[i].bytes, f);
    ck_assert_int_eq(fclose(f), 0);
    free(h);
}

static void free_ckpt(ckpt *c) {
    for (int i = 0; i < c->n; i++) free(c->t[i].data);
    c->n = 0;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
}

/* ---- a tiny o200k-style tokenizer.json: 256 byte tokens, merges, 16 harmony specials ------- */
#define N_MERGES 24
#define N_SPECIAL 16
#define TOK_V (256 + N_MERGES + N_SPECIAL)
static const char *const k_specials[N_SPECIAL] = {
    "<|startoftext|>", "<|endoftext|>",  "<|reserved_a|>", "<|reserved_b|>",
    "<|return|>",      "<|constrain|>",  "<|reserved_c|>", "<|channel|>",
    "<|start|>",       "<|end|>",        "<|message|>",    "<|reserved_d|>",
    "<|reserved_e|>",  "<|reserved_f|>", "<|call|>",       "<|reserved_g|>"};
#define ID_RETURN (256 + N_MERGES + 4)
#define CHAT_TEMPLATE                                                                              \
    "{% for m in messages %}<|start|>{{ m.role }}<|message|>{{ m.content }}<|end|>{% endfor %}"

/* GPT-2's bytes_to_unicode, written here independently */
static void byte_char(int b, char out[3]) {
    int cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
        cp = b;
    } else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

static void write_oss_tokenizer(const char *dir) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < N_SPECIAL; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", 256 + N_MERGES + i);
        cJSON_AddStringToObject(a, "content", k_specials[i]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", 1);
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *seq = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *sp = cJSON_CreateObject();
    cJSON_AddStringToObject(sp, "type", "Split");
    cJSON *pat = cJSON_AddObjectToObject(sp, "pattern");
    cJSON_AddStringToObject(
        pat, "Regex",
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
        "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+"
        "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
    cJSON_AddStringToObject(sp, "behavior", "Isolated");
    cJSON_AddBoolToObject(sp, "invert", 0);
    cJSON_AddItemToArray(seq, sp);
    cJSON *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
    cJSON_AddBoolToObject(bl, "trim_offsets", 1);
    cJSON_AddBoolToObject(bl, "use_regex", 0);
    cJSON_AddItemToArray(seq, bl);
    cJSON_AddNullToObject(root, "post_processor");
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddBoolToObject(model, "ignore_merges", 1);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    char s[3];
    for (int b = 0; b < 256; b++) {
        byte_char(b, s);
        cJSON_AddNumberToObject(vocab, s, b);
    }
    for (int i = 0; i < N_MERGES; i++) { /* "ab", "bc", ... distinct two-letter pairs */
        char a[2] = {(char)('a' + i % 26), 0}, b[2] = {(char)('a' + (i + 1 + i / 26) % 26), 0};
        char ab[3] = {a[0], b[0], 0};
        cJSON_AddNumberToObject(vocab, ab, 256 + i);
        cJSON *m = cJSON_CreateArray();
        cJSON_AddItemToArray(m, cJSON_CreateString(a));
        cJSON_AddItemToArray(m, cJSON_CreateString(b));
        cJSON_AddItemToArray(merges, m);
    }
    char *text = cJSON_PrintUnformatted(root);
    write_text(dir, "tokenizer.json", text);
    free(text);
    cJSON_Delete(root);
}

/* ---- the gpt-oss checkpoint ----------------------------------------------------------------- */
enum { L = 2, D = 96, FF = 64, H = 4, HKV = 1, HD = 16, E = 4, K = 2, V = TOK_V };
#define Q (H * HD)
#define KV (HKV * HD)

static void oss_config(const char *dir) {
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\":[\"GptOssForCausalLM\"],\"model_type\":\"gpt_oss\","
             "\"num_hidden_layers\":%d,\"hidden_size\":%d,\"intermediate_size\":%d,"
             "\"num_attention_heads\":%d,\"num_key_value_heads\":%d,\"head_dim\":%d,"
             "\"num_local_experts\":%d,\"num_experts_per_tok\":%d,\"sliding_window\":8,"
             "\"vocab_size\":%d,\"max_position_embeddings\":131072,\"rms_norm_eps\":1e-05,"
             "\"rope_parameters\":{\"rope_type\":\"yarn\",\"factor\":32.0,\"beta_fast\":32.0,"
             "\"beta_slow\":1.0,\"truncate\":false,\"original_max_position_embeddings\":4096,"
             "\"rope_theta\":150000.0},\"tie_word_embeddings\":false,"
             "\"quantization_config\":{\"quant_method\":\"mxfp4\"}}",
             L, D, FF, H, HKV, HD, E, K, V);
    write_text(dir, "config.json", cfg);
    write_text(dir, "tokenizer_config.json",
               "{\"bos_token\":\"<|startoftext|>\",\"eos_token\":\"<|return|>\","
               "\"pad_token\":{\"content\":\"<|endoftext|>\"},\"chat_template\":\"" CHAT_TEMPLATE
               "\"}");
    write_oss_tokenizer(dir);
}

/* Fills c with a gpt-oss checkpoint; experts as MXFP4 blocks (mx=1) or as the floats those
 * blocks decode to (mx=0). Layer tensors come in layer order; *split = first tensor of layer 1. */
static void oss_tensors(ckpt *c, int mx, int *split) {
    g_rng = 42;
    add_rand(c, "model.embed_tokens.weight", "BF16", 2, V, D, 1);
    char n[160];
    for (int il = 0; il < L; il++) {
        if (il == 1) *split = c->n;
#define NM(fmt) (snprintf(n, sizeof n, "model.layers.%d." fmt, il), n)
        add_rand(c, NM("input_layernorm.weight"), "BF16", 1, D, 1, 1);
        add_rand(c, NM("self_attn.q_proj.weight"), "BF16", 2, Q, D, 1);
        add_rand(c, NM("self_attn.q_proj.bias"), "F32", 1, Q, 1, 1);
        add_rand(c, NM("self_attn.k_proj.weight"), "F16", 2, KV, D, 1);
        add_rand(c, NM("self_attn.k_proj.bias"), "BF16", 1, KV, 1, 1);
        add_rand(c, NM("self_attn.v_proj.weight"), "BF16", 2, KV, D, 1);
        add_rand(c, NM("self_attn.v_proj.bias"), "BF16", 1, KV, 1, 1);
        add_rand(c, NM("self_attn.o_proj.weight"), "BF16", 2, D, Q, 1);
        add_rand(c, NM("self_attn.o_proj.bias"), "BF16", 1, D, 1, 1);
        add_rand(c, NM("self_attn.sinks"), "BF16", 1, H, 1, 1);
        add_rand(c, NM("post_attention_layernorm.weight"), "BF16", 1, D, 1, 1);
        add_rand(c, NM("mlp.router.weight"), "BF16", 2, E, D, 1);
        add_rand(c, NM("mlp.router.bias"), "BF16", 1, E, 1, 1);
        /* MXFP4 blocks of [E, rows, in] matrices: random codes, scales around 2^0 */
        static const struct {
            const char *name;
            int rows, in;
        } ex[2] = {{"gate_up_proj", 2 * FF, D}, {"down_proj", D, FF}};
        for (int x = 0; x < 2; x++) {
            const int rows = ex[x].rows, in = ex[x].in, G = in / 32;
            uint8_t *blk = malloc((size_t)E * rows * G * 16), *sc = malloc((size_t)E * rows * G);
            for (int i = 0; i < E * rows * G * 16; i++) blk[i] = (uint8_t)rnd();
            for (int i = 0; i < E * rows * G; i++) sc[i] = (uint8_t)(122 + rnd() % 8);
            if (mx) {
                snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%s_blocks", il, ex[x].name);
                memcpy(add(c, n, "U8", 4, E, rows, G, 16)->data, blk, (size_t)E * rows * G * 16);
                snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%s_scales", il, ex[x].name);
                memcpy(add(c, n, "U8", 3, E, rows, G, 1)->data, sc, (size_t)E * rows * G);
            } else { /* HF float layout: gate_up_proj [E, D, 2FF], down_proj [E, FF, D] */
                snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%s", il, ex[x].name);
                st_in *t = add(c, n, "F32", 3, E, in, rows, 1);
                float *w = t->data;
                for (int e = 0; e < E; e++)
                    for (int r = 0; r < rows; r++)
                        for (int k = 0; k < in; k++) {
                            const size_t b = ((size_t)(e * rows + r) * G + (size_t)k / 32);
                            const int code = (blk[b * 16 + (k % 32) / 2] >> (4 * (k % 2))) & 15;
                            static const float e2m1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
                            float v = ldexpf(e2m1[code & 7], sc[b] - 127);
                            w[((size_t)e * in + k) * rows + r] = code & 8 ? -v : v;
                        }
            }
            free(blk);
            free(sc);
            snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%s_bias", il, ex[x].name);
            add_rand(c, n, "BF16", 2, E, rows, 1);
        }
#undef NM
    }
    add_rand(c, "model.norm.weight", "BF16", 1, D, 1, 1);
    add_rand(c, "lm_head.weight", "BF16", 2, V, D, 1);
}

/* writes the checkpoint: two shards + index (sharded) or model.safetensors */
static void write_oss(const char *dir, ckpt *c, int split, int sharded) {
    mkdir(dir, 0755);
    oss_config(dir);
    char p[4096];
    if (!sharded) {
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        write_st(p, c, 0, c->n);
        return;
    }
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    write_st(p, c, 0, split);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_st(p, c, split, c->n);
    char *idx = malloc(1 << 16);
    size_t k = (size_t)sprintf(idx, "{\"metadata\":{\"total_size\":0},\"weight_map\":{");
    for (int i = 0; i < c->n; i++)
        k += (size_t)sprintf(idx + k, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"",
                             i ? "," : "", c->t[i].name, i < split ? 1 : 2);
    sprintf(idx + k, "}}");
    write_text(dir, "model.safetensors.index.json", idx);
    free(idx);
}

/* ---- running gptc convert ---------------------------------------------------------------------
 */
static int convert(const char *dir, const char *out, const char *type, tu_proc *p) {
    char *argv[] = {(char *)tu_gptc(), "convert",    (char *)dir, "-o", (char *)out,
                    "--outtype",       (char *)type, "-q",        NULL};
    ck_assert_int_eq(tu_run(argv, NULL, 0, 120, p), 0);
    return p->status;
}

static void convert_ok(const char *dir, const char *out, const char *type) {
    tu_proc p;
    int st = convert(dir, out, type, &p);
    ck_assert_msg(st == 0, "convert %s failed (%d): %s", dir, st, p.err);
    tu_proc_free(&p);
}

static gguf_file *open_gguf(const char *path) {
    gguf_file *f = NULL;
    gptc_error err;
    ck_assert_msg(gguf_open(path, &f, &err) == GPTC_OK, "%s", err.msg);
    return f;
}

static const gguf_tensor *tensor(const gguf_file *f, const char *name, uint32_t type, int64_t ne0,
                                 int64_t ne1, int64_t ne2) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    ck_assert_msg(t != NULL, "GGUF has no tensor %s", name);
    ck_assert_msg(t->type == type, "%s: type %u, expected %u", name, t->type, type);
    int64_t ne[3] = {ne0, ne1, ne2};
    uint32_t nd = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    ck_assert_msg(t->n_dims == nd, "%s: %u dims, expected %u", name, t->n_dims, nd);
    for (uint32_t d = 0; d < nd; d++)
        ck_assert_msg(t->ne[d] == ne[d], "%s: ne[%u] = %lld, expected %lld", name, d,
                      (long long)t->ne[d], (long long)ne[d]);
    return t;
}

/* row r of a GGUF tensor, decoded (F32/F16/BF16/Q8_0/MXFP4 through the engine's decoder) */
static void row(const gguf_tensor *t, int64_t r, float *out) {
    size_t rb = ggml_row_size(t->type, t->ne[0]);
    quant_dequant_row(t->type, (const uint8_t *)t->data + (size_t)r * rb, out, t->ne[0]);
}

static uint32_t kv_u32(const gguf_file *f, const char *key) {
    uint32_t v = 0;
    gptc_error err;
    ck_assert_msg(gguf_get_u32(f, key, &v, &err) == GPTC_OK, "%s", err.msg);
    return v;
}
static float kv_f32(const gguf_file *f, const char *key) {
    float v = 0;
    gptc_error err;
    ck_assert_msg(gguf_get_f32(f, key, &v, &err) == GPTC_OK, "%s", err.msg);
    return v;
}
static void kv_str(const gguf_file *f, const char *key, const char *want) {
    gguf_str s;
    gptc_error err;
    ck_assert_msg(gguf_get_str(f, key, &s, &err) == GPTC_OK, "%s", err.msg);
    ck_assert_msg(s.len == strlen(want) && !memcmp(s.ptr, want, s.len), "%s = '%.*s', want '%s'",
                  key, (int)s.len, s.ptr, want);
}

/* OpenAI MXFP4 decoder (independent of the engine): element k of row r of expert e */
static float hf_mxfp4(const st_in *blk, const st_in *sc, int rows, int in, int e, int r, int k) {
    static const float e2m1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    const size_t b = (size_t)(e * rows + r) * (size_t)(in / 32) + (size_t)k / 32;
    const int code = (((const uint8_t *)blk->data)[b * 16 + (k % 32) / 2] >> (4 * (k % 2))) & 15;
    const float v = ldexpf(e2m1[code & 7], ((const uint8_t *)sc->data)[b] - 127);
    return code & 8 ? -v : v;
}

/* ---- tests ---------------------------------------------------------------------------------- */
START_TEST(test_oss_mxfp4) {
    char dir[2048], out[4096];
    snprintf(dir, sizeof dir, "%s/oss-mx", tu_tmpdir());
    snprintf(out, sizeof out, "%s/oss-mx.gguf", tu_tmpdir());
    ckpt *c = calloc(1, sizeof *c);
    int split = 0;
    oss_tensors(c, 1, &split);
    write_oss(dir, c, split, 1);
    convert_ok(dir, out, "bf16");
    gguf_file *f = open_gguf(out);
    ck_assert_uint_eq(gguf_n_tensors(f), 3 + 19 * L);

    /* the table llama.cpp's converter writes for this checkpoint */
    const gguf_tensor *emb = tensor(f, "token_embd.weight", GGML_TYPE_BF16, D, V, 1);
    tensor(f, "output.weight", GGML_TYPE_BF16, D, V, 1);
    tensor(f, "output_norm.weight", GGML_TYPE_F32, D, 1, 1);
    char n[96];
    for (int il = 0; il < L; il++) {
#define T(fmt, type, a, b, cc)                                                                     \
    (snprintf(n, sizeof n, "blk.%d." fmt, il), tensor(f, n, type, a, b, cc))
        T("attn_norm.weight", GGML_TYPE_F32, D, 1, 1);
        T("attn_q.weight", GGML_TYPE_BF16, D, Q, 1);
        T("attn_q.bias", GGML_TYPE_F32, Q, 1, 1);
        T("attn_k.weight", GGML_TYPE_BF16, D, KV, 1);
        T("attn_k.bias", GGML_TYPE_F32, KV, 1, 1);
        T("attn_v.weight", GGML_TYPE_BF16, D, KV, 1);
        T("attn_v.bias", GGML_TYPE_F32, KV, 1, 1);
        T("attn_output.weight", GGML_TYPE_BF16, Q, D, 1);
        T("attn_output.bias", GGML_TYPE_F32, D, 1, 1);
        T("attn_sinks.weight", GGML_TYPE_F32, H, 1, 1);
        T("post_attention_norm.weight", GGML_TYPE_F32, D, 1, 1);
        T("ffn_gate_inp.weight", GGML_TYPE_F32, D, E, 1);
        T("ffn_gate_inp.bias", GGML_TYPE_F32, E, 1, 1);
        T("ffn_gate_exps.weight", GGML_TYPE_MXFP4, D, FF, E);
        T("ffn_gate_exps.bias", GGML_TYPE_F32, FF, E, 1);
        T("ffn_up_exps.weight", GGML_TYPE_MXFP4, D, FF, E);
        T("ffn_up_exps.bias", GGML_TYPE_F32, FF, E, 1);
        T("ffn_down_exps.weight", GGML_TYPE_MXFP4, FF, D, E);
        T("ffn_down_exps.bias", GGML_TYPE_F32, D, E, 1);
#undef T
    }
    /* bf16 -> bf16: the same bits */
    ck_assert(!memcmp(emb->data, find_in(c, "model.embed_tokens.weight")->data, (size_t)V * D * 2));
    float *x = malloc(sizeof(float) * 4096);
    /* the router: F32 values of the bf16 source, row e = expert e */
    const st_in *rw = find_in(c, "model.layers.1.mlp.router.weight");
    const gguf_tensor *gi = gguf_find_tensor(f, "blk.1.ffn_gate_inp.weight");
    for (int e = 0; e < E; e++) {
        row(gi, e, x);
        for (int k = 0; k < D; k++) ck_assert(x[k] == in_val(rw, (int64_t)e * D + k));
    }
    /* F16 source -> BF16: rounded to nearest even */
    const st_in *kw = find_in(c, "model.layers.0.self_attn.k_proj.weight");
    const gguf_tensor *gk = gguf_find_tensor(f, "blk.0.attn_k.weight");
    for (int r = 0; r < KV; r++) {
        row(gk, r, x);
        for (int k = 0; k < D; k++) {
            float v = in_val(kw, (int64_t)r * D + k);
            ck_assert(fabsf(x[k] - v) <= fabsf(v) * (1.0f / 256));
        }
    }
    /* experts: gate = even rows, up = odd rows of gate_up, decoded values identical; the block
     * scale bytes are copied as they are */
    for (int il = 0; il < L; il++) {
        char b[160], s[160];
        snprintf(b, sizeof b, "model.layers.%d.mlp.experts.gate_up_proj_blocks", il);
        snprintf(s, sizeof s, "model.layers.%d.mlp.experts.gate_up_proj_scales", il);
        const st_in *bb = find_in(c, b), *ss = find_in(c, s);
        for (int h = 0; h < 2; h++) {
            snprintf(n, sizeof n, "blk.%d.ffn_%s_exps.weight", il, h ? "up" : "gate");
            const gguf_tensor *t = gguf_find_tensor(f, n);
            for (int e = 0; e < E; e++)
                for (int r = 0; r < FF; r++) {
                    row(t, (int64_t)e * FF + r, x);
                    for (int k = 0; k < D; k++)
                        ck_assert_msg(x[k] == hf_mxfp4(bb, ss, 2 * FF, D, e, 2 * r + h, k),
                                      "%s e%d r%d k%d", n, e, r, k);
                    const uint8_t *g =
                        (const uint8_t *)t->data + ((size_t)e * FF + r) * (D / 32) * 17;
                    for (int gg = 0; gg < D / 32; gg++)
                        ck_assert_uint_eq(
                            g[17 * gg],
                            ((uint8_t *)
                                 ss->data)[((size_t)e * 2 * FF + 2 * r + h) * (D / 32) + gg]);
                }
            /* bias: column 2i + h */
            snprintf(b, sizeof b, "model.layers.%d.mlp.experts.gate_up_proj_bias", il);
            snprintf(n, sizeof n, "blk.%d.ffn_%s_exps.bias", il, h ? "up" : "gate");
            const st_in *bi = find_in(c, b);
            const gguf_tensor *tb = gguf_find_tensor(f, n);
            for (int e = 0; e < E; e++) {
                row(tb, e, x);
                for (int i = 0; i < FF; i++)
                    ck_assert(x[i] == in_val(bi, (int64_t)e * 2 * FF + 2 * i + h));
            }
        }
        snprintf(b, sizeof b, "model.layers.%d.mlp.experts.down_proj_blocks", il);
        snprintf(s, sizeof s, "model.layers.%d.mlp.experts.down_proj_scales", il);
        snprintf(n, sizeof n, "blk.%d.ffn_down_exps.weight", il);
        const st_in *bb2 = find_in(c, b), *ss2 = find_in(c, s);
        const gguf_tensor *t = gguf_find_tensor(f, n);
        for (int e = 0; e < E; e++)
            for (int r = 0; r < D; r++) {
                row(t, (int64_t)e * D + r, x);
                for (int k = 0; k < FF; k++) ck_assert(x[k] == hf_mxfp4(bb2, ss2, D, FF, e, r, k));
            }
    }
    /* metadata */
    kv_str(f, "general.architecture", "gpt-oss");
    kv_str(f, "general.type", "model");
    kv_str(f, "general.name", "oss-mx");
    ck_assert_uint_eq(kv_u32(f, "general.file_type"), 32);
    ck_assert_uint_eq(kv_u32(f, "general.quantization_version"), 2);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.block_count"), L);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.context_length"), 131072);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.embedding_length"), D);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.feed_forward_length"), FF);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.expert_feed_forward_length"), FF);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.attention.head_count"), H);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.attention.head_count_kv"), HKV);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.attention.key_length"), HD);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.attention.value_length"), HD);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.attention.sliding_window"), 8);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.expert_count"), E);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.expert_used_count"), K);
    ck_assert(kv_f32(f, "gpt-oss.rope.freq_base") == 150000.0f);
    ck_assert(kv_f32(f, "gpt-oss.attention.layer_norm_rms_epsilon") == 1e-5f);
    kv_str(f, "gpt-oss.rope.scaling.type", "yarn");
    ck_assert(kv_f32(f, "gpt-oss.rope.scaling.factor") == 32.0f);
    ck_assert_uint_eq(kv_u32(f, "gpt-oss.rope.scaling.original_context_length"), 4096);
    ck_assert(kv_f32(f, "gpt-oss.rope.scaling.yarn_beta_fast") == 32.0f);
    ck_assert(kv_f32(f, "gpt-oss.rope.scaling.yarn_beta_slow") == 1.0f);
    kv_str(f, "tokenizer.ggml.model", "gpt2");
    kv_str(f, "tokenizer.ggml.pre", "gpt-4o");
    ck_assert_uint_eq(kv_u32(f, "tokenizer.ggml.eos_token_id"), ID_RETURN);
    ck_assert_uint_eq(kv_u32(f, "tokenizer.ggml.bos_token_id"), 256 + N_MERGES);
    ck_assert_uint_eq(kv_u32(f, "tokenizer.ggml.padding_token_id"), 256 + N_MERGES + 1);
    kv_str(f, "tokenizer.chat_template", CHAT_TEMPLATE);
    gguf_close(f);

    /* the engine loads it and computes finite logits */
    gptc_model_params mp;
    gptc_model_params_default(&mp);
    mp.path = out;
    mp.backend = GPTC_BACKEND_CPU;
    gptc_model *m = NULL;
    gptc_error err;
    ck_assert_msg(gptc_model_load(&mp, &m, &err) == GPTC_OK, "load: %s", err.msg);
    gptc_session_params sp;
    gptc_session_params_default(m, &sp);
    sp.n_ctx = 64;
    gptc_session *s = NULL;
    ck_assert_msg(gptc_session_new(m, &sp, &s, &err) == GPTC_OK, "%s", err.msg);
    int32_t ids[5] = {256 + N_MERGES + 8, 1, 2, 3, 4};
    float *logits = malloc(sizeof(float) * 5 * V);
    ck_assert_msg(gptc_session_feed_all_logits(s, ids, 5, logits, &err) == GPTC_OK, "%s", err.msg);
    for (int i = 0; i < 5 * V; i++) ck_assert(isfinite(logits[i]));
    free(logits);
    gptc_session_free(s);
    gptc_model_free(m);
    free(x);
    free_ckpt(c);
    free(c);
}
END_TEST

/* The converter and the model generator (test/tools/gen-model.c, whose 20b table is checked
 * against the ggml-org file in test_golden) agree on the tensor table and the gpt-oss.* keys
 * for the same shape: every tensor with the same name, type and shape, every key with the same
 * value. */
START_TEST(test_oss_same_as_generator) {
    char dir[2048], out[4096], gen[4096], cmd[8192];
    snprintf(dir, sizeof dir, "%s/oss-g", tu_tmpdir());
    snprintf(out, sizeof out, "%s/oss-g.gguf", tu_tmpdir());
    snprintf(gen, sizeof gen, "%s/oss-gen.gguf", tu_tmpdir());
    ckpt *c = calloc(1, sizeof *c);
    int split = 0;
    oss_tensors(c, 1, &split);
    write_oss(dir, c, split, 1);
    free_ckpt(c);
    free(c);
    convert_ok(dir, out, "bf16");
    snprintf(cmd, sizeof cmd,
             "%s --preset tiny-gpt-oss --vocab %d --layers %d --embd %d --ff %d --heads %d "
             "--kv-heads %d --head-dim %d --experts %d --experts-used %d --window 8 --ctx 131072 "
             "--rope-orig-ctx 4096 --rope-theta 150000 --yarn-betas "
             "--types all=BF16,router=F32,experts=MXFP4 --out %s",
             tu_tool("gen-model"), V, L, D, FF, H, HKV, HD, E, K, gen);
    tu_proc p;
    ck_assert_int_eq(tu_sh(cmd, NULL, 0, 120, &p), 0);
    ck_assert_msg(p.status == 0, "gen-model: %s", p.err);
    tu_proc_free(&p);
    gguf_file *a = open_gguf(out), *b = open_gguf(gen);
    ck_assert_uint_eq(gguf_n_tensors(a), gguf_n_tensors(b));
    for (uint64_t i = 0; i < gguf_n_tensors(b); i++) {
        const gguf_tensor *tb = gguf_tensor_at(b, i);
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)tb->name.len, tb->name.ptr);
        const gguf_tensor *ta = gguf_find_tensor(a, name);
        ck_assert_msg(ta != NULL, "converter lacks %s", name);
        ck_assert_msg(ta->type == tb->type, "%s: type %u vs generator %u", name, ta->type,
                      tb->type);
        ck_assert_uint_eq(ta->n_dims, tb->n_dims);
        for (int d = 0; d < 4; d++) ck_assert_int_eq(ta->ne[d], tb->ne[d]);
    }
    int n_arch = 0;
    for (uint64_t i = 0; i < gguf_n_kv(b); i++) {
        const gguf_kv *kb = gguf_kv_at(b, i);
        if (kb->key.len < 8 || memcmp(kb->key.ptr, "gpt-oss.", 8)) continue;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)kb->key.len, kb->key.ptr);
        const gguf_kv *ka = gguf_find_kv(a, key);
        ck_assert_msg(ka != NULL, "converter lacks %s", key);
        ck_assert_msg(ka->value.type == kb->value.type, "%s: value type", key);
        if (kb->value.type == GGUF_VT_STRING)
            ck_assert(ka->value.v.str.len == kb->value.v.str.len &&
                      !memcmp(ka->value.v.str.ptr, kb->value.v.str.ptr, kb->value.v.str.len));
        else if (kb->value.type == GGUF_VT_F32)
            ck_assert_msg(ka->value.v.f64 == kb->value.v.f64, "%s: %g vs %g", key, ka->value.v.f64,
                          kb->value.v.f64);
        else
            ck_assert_msg(ka->value.v.u64 == kb->value.v.u64, "%s: %llu vs %llu", key,
                          (unsigned long long)ka->value.v.u64, (unsigned long long)kb->value.v.u64);
        n_arch++;
    }
    ck_assert_int_eq(n_arch, 19);
    for (uint64_t i = 0; i < gguf_n_kv(a); i++) { /* and nothing more */
        const gguf_kv *ka = gguf_kv_at(a, i);
        if (ka->key.len < 8 || memcmp(ka->key.ptr, "gpt-oss.", 8)) continue;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)ka->key.len, ka->key.ptr);
        ck_assert_msg(gguf_find_kv(b, key) != NULL, "generator lacks %s", key);
    }
    gguf_close(a);
    gguf_close(b);
}
END_TEST

/* A dequantised checkpoint (experts as F32 [E, D, 2FF] / [E, FF, D], one file, no index) gives
 * the same expert values as the MXFP4 one. */
START_TEST(test_oss_float_experts) {
    char dmx[4096], dfl[4096], omx[4096], ofl[4096];
    snprintf(dmx, sizeof dmx, "%s/oss-a", tu_tmpdir());
    snprintf(dfl, sizeof dfl, "%s/oss-b", tu_tmpdir());
    snprintf(omx, sizeof omx, "%s/oss-a.gguf", tu_tmpdir());
    snprintf(ofl, sizeof ofl, "%s/oss-b.gguf", tu_tmpdir());
    ckpt *c = calloc(1, sizeof *c);
    int split = 0;
    oss_tensors(c, 1, &split);
    write_oss(dmx, c, split, 1);
    free_ckpt(c);
    oss_tensors(c, 0, &split);
    write_oss(dfl, c, split, 0);
    free_ckpt(c);
    free(c);
    convert_ok(dmx, omx, "f32");
    convert_ok(dfl, ofl, "f32");
    gguf_file *a = open_gguf(omx), *b = open_gguf(ofl);
    ck_assert_uint_eq(gguf_n_tensors(a), gguf_n_tensors(b));
    float *x = malloc(sizeof(float) * 4096), *y = malloc(sizeof(float) * 4096);
    for (uint64_t i = 0; i < gguf_n_tensors(a); i++) {
        const gguf_tensor *ta = gguf_tensor_at(a, i);
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)ta->name.len, ta->name.ptr);
        const gguf_tensor *tb = gguf_find_tensor(b, name);
        ck_assert_msg(tb != NULL, "%s missing", name);
        const int exps = strstr(name, "_exps.weight") != NULL;
        ck_assert_uint_eq(tb->type, exps ? GGML_TYPE_F32 : ta->type);
        ck_assert_uint_eq(ta->type, exps ? GGML_TYPE_MXFP4 : ta->type);
        for (int d = 0; d < 4; d++) ck_assert_int_eq(ta->ne[d], tb->ne[d]);
        for (int64_t r = 0; r < ta->ne[1] * ta->ne[2]; r++) {
            row(ta, r, x);
            row(tb, r, y);
            for (int64_t k = 0; k < ta->ne[0]; k++)
                ck_assert_msg(x[k] == y[k], "%s row %lld col %lld: %g vs %g", name, (long long)r,
                              (long long)k, x[k], y[k]);
        }
    }
    free(x);
    free(y);
    gguf_close(a);
    gguf_close(b);
}
END_TEST

/* GPT-2: Conv1D transposed, q8_0 with its f16 fallback, F32 position embeddings. */
enum { G_L = 1, G_D = 40, G_H = 4, G_CTX = 32, G_V = 50257 };
START_TEST(test_gpt2) {
    char dir[2048], out[4096], p[4096];
    snprintf(dir, sizeof dir, "%s/gpt2-tiny", tu_tmpdir());
    snprintf(out, sizeof out, "%s/gpt2-tiny.gguf", tu_tmpdir());
    mkdir(dir, 0755);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"n_layer\":%d,"
             "\"n_embd\":%d,\"n_head\":%d,\"n_ctx\":%d,\"n_positions\":%d,\"vocab_size\":%d,"
             "\"layer_norm_epsilon\":1e-05,\"n_inner\":null,\"bos_token_id\":50256,"
             "\"eos_token_id\":50256}",
             G_L, G_D, G_H, G_CTX, G_CTX, G_V);
    write_text(dir, "config.json", cfg);
    size_t len;
    char *tok = tu_read_file("test/data/tokenizer/gpt2/tokenizer.json", &len);
    ck_assert(tok != NULL);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    ck_assert_int_eq(tu_write_file(p, tok, len), 0);
    free(tok);
    ckpt *c = calloc(1, sizeof *c);
    g_rng = 7;
    add_rand(c, "wte.weight", "F32", 2, G_V, G_D, 1);
    add_rand(c, "wpe.weight", "F32", 2, G_CTX, G_D, 1);
    add_rand(c, "h.0.ln_1.weight", "F32", 1, G_D, 1, 1);
    add_rand(c, "h.0.ln_1.bias", "F32", 1, G_D, 1, 1);
    add_rand(c, "h.0.attn.bias", "F32", 2, G_CTX, G_CTX, 1); /* a causal-mask buffer */
    add_rand(c, "h.0.attn.c_attn.weight", "F32", 2, G_D, 3 * G_D, 1);
    add_rand(c, "h.0.attn.c_attn.bias", "F32", 1, 3 * G_D, 1, 1);
    add_rand(c, "h.0.attn.c_proj.weight", "F32", 2, G_D, G_D, 1);
    add_rand(c, "h.0.attn.c_proj.bias", "F32", 1, G_D, 1, 1);
    add_rand(c, "h.0.ln_2.weight", "F32", 1, G_D, 1, 1);
    add_rand(c, "h.0.ln_2.bias", "F32", 1, G_D, 1, 1);
    add_rand(c, "h.0.mlp.c_fc.weight", "F32", 2, G_D, 4 * G_D, 1);
    add_rand(c, "h.0.mlp.c_fc.bias", "F32", 1, 4 * G_D, 1, 1);
    add_rand(c, "h.0.mlp.c_proj.weight", "F32", 2, 4 * G_D, G_D, 1);
    add_rand(c, "h.0.mlp.c_proj.bias", "F32", 1, G_D, 1, 1);
    add_rand(c, "ln_f.weight", "F32", 1, G_D, 1, 1);
    add_rand(c, "ln_f.bias", "F32", 1, G_D, 1, 1);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_st(p, c, 0, c->n);
    convert_ok(dir, out, "q8_0");
    gguf_file *f = open_gguf(out);
    ck_assert_uint_eq(gguf_n_tensors(f), 4 + 12 * G_L);
    ck_assert(gguf_find_tensor(f, "output.weight") == NULL);
    tensor(f, "token_embd.weight", GGML_TYPE_F16, G_D, G_V, 1); /* 40 % 32 != 0: f16 */
    tensor(f, "position_embd.weight", GGML_TYPE_F32, G_D, G_CTX, 1);
    tensor(f, "output_norm.weight", GGML_TYPE_F32, G_D, 1, 1);
    tensor(f, "output_norm.bias", GGML_TYPE_F32, G_D, 1, 1);
    tensor(f, "blk.0.attn_norm.weight", GGML_TYPE_F32, G_D, 1, 1);
    tensor(f, "blk.0.attn_norm.bias", GGML_TYPE_F32, G_D, 1, 1);
    const gguf_tensor *qkv = tensor(f, "blk.0.attn_qkv.weight", GGML_TYPE_F16, G_D, 3 * G_D, 1);
    tensor(f, "blk.0.attn_qkv.bias", GGML_TYPE_F32, 3 * G_D, 1, 1);
    tensor(f, "blk.0.attn_output.weight", GGML_TYPE_F16, G_D, G_D, 1);
    tensor(f, "blk.0.attn_output.bias", GGML_TYPE_F32, G_D, 1, 1);
    tensor(f, "blk.0.ffn_norm.weight", GGML_TYPE_F32, G_D, 1, 1);
    tensor(f, "blk.0.ffn_norm.bias", GGML_TYPE_F32, G_D, 1, 1);
    tensor(f, "blk.0.ffn_up.weight", GGML_TYPE_F16, G_D, 4 * G_D, 1);
    tensor(f, "blk.0.ffn_up.bias", GGML_TYPE_F32, 4 * G_D, 1, 1);
    const gguf_tensor *down = tensor(f, "blk.0.ffn_down.weight", GGML_TYPE_Q8_0, 4 * G_D, G_D, 1);
    tensor(f, "blk.0.ffn_down.bias", GGML_TYPE_F32, G_D, 1, 1);
    float x[256];
    /* Conv1D [in, out]: GGUF row r (output r) = column r of the source */
    const st_in *sq = find_in(c, "h.0.attn.c_attn.weight");
    for (int r = 0; r < 3 * G_D; r++) {
        row(qkv, r, x);
        for (int k = 0; k < G_D; k++) {
            float v = in_val(sq, (int64_t)k * 3 * G_D + r);
            ck_assert(fabsf(x[k] - v) <= fabsf(v) * (1.0f / 2048) + 6e-8f);
        }
    }
    /* Q8_0: |x - q d| <= d/2 + 127 |d - f16(d)|, d = amax/127 per block of 32 */
    const st_in *sd = find_in(c, "h.0.mlp.c_proj.weight");
    for (int r = 0; r < G_D; r++) {
        row(down, r, x);
        for (int b = 0; b < 4 * G_D / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(in_val(sd, (int64_t)(b * 32 + j) * G_D + r)));
            const float d = amax / 127;
            for (int j = 0; j < 32; j++) {
                float v = in_val(sd, (int64_t)(b * 32 + j) * G_D + r);
                ck_assert(fabsf(x[b * 32 + j] - v) <= d / 2 + 127 * d / 2048 + 1e-7f);
            }
        }
    }
    kv_str(f, "general.architecture", "gpt2");
    kv_str(f, "tokenizer.ggml.pre", "gpt-2");
    ck_assert_uint_eq(kv_u32(f, "general.file_type"), 7);
    ck_assert_uint_eq(kv_u32(f, "gpt2.block_count"), G_L);
    ck_assert_uint_eq(kv_u32(f, "gpt2.context_length"), G_CTX);
    ck_assert_uint_eq(kv_u32(f, "gpt2.embedding_length"), G_D);
    ck_assert_uint_eq(kv_u32(f, "gpt2.feed_forward_length"), 4 * G_D);
    ck_assert_uint_eq(kv_u32(f, "gpt2.attention.head_count"), G_H);
    ck_assert(kv_f32(f, "gpt2.attention.layer_norm_epsilon") == 1e-5f);
    ck_assert_uint_eq(kv_u32(f, "tokenizer.ggml.eos_token_id"), 50256);
    gguf_close(f);
    free_ckpt(c);
    free(c);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------------ */
static void expect_fail(const char *dir, const char *type, int code, const char *needle) {
    char out[4096];
    snprintf(out, sizeof out, "%s/bad.gguf", tu_tmpdir());
    tu_proc p;
    int st = convert(dir, out, type, &p);
    ck_assert_msg(st == code, "%s: exit %d, expected %d (%s)", dir, st, code, p.err);
    ck_assert_msg(!strncmp(p.err, "gptc: error: ", 13) &&
                      strchr(p.err, '\n') == p.err + p.err_len - 1,
                  "not one error line: '%s'", p.err);
    ck_assert_msg(strstr(p.err, needle) != NULL, "'%s' not in '%s'", needle, p.err);
    tu_proc_free(&p);
    struct stat sb;
    ck_assert_msg(stat(out, &sb) != 0, "a failed conversion left %s", out);
}

static void fresh(char *dir, size_t cap, const char *name, ckpt *c, int sharded) {
    snprintf(dir, cap, "%s/%s", tu_tmpdir(), name);
    int split = 0;
    free_ckpt(c);
    oss_tensors(c, 1, &split);
    write_oss(dir, c, split, sharded);
}

START_TEST(test_errors) {
    char dir[2048], p[4096];
    ckpt *c = calloc(1, sizeof *c);
    snprintf(dir, sizeof dir, "%s/no-such-dir", tu_tmpdir());
    expect_fail(dir, "auto", 2, "config.json");

    fresh(dir, sizeof dir, "bad-arch", c, 0);
    write_text(dir, "config.json", "{\"architectures\":[\"LlamaForCausalLM\"]}");
    expect_fail(dir, "auto", 2, "'LlamaForCausalLM' is not supported");

    fresh(dir, sizeof dir, "bad-json", c, 0);
    write_text(dir, "config.json", "{\"architectures\":");
    expect_fail(dir, "auto", 2, "not a JSON object");

    /* a tensor missing, a wrong shape, an extra tensor */
    fresh(dir, sizeof dir, "missing", c, 0);
    st_in keep = c->t[3]; /* drops q_proj.bias of layer 0 */
    c->t[3] = c->t[--c->n];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_st(p, c, 0, c->n);
    c->t[c->n++] = keep;
    expect_fail(dir, "auto", 2, "is missing");

    fresh(dir, sizeof dir, "shape", c, 0);
    c->t[1].shape[0] = D / 2; /* input_layernorm of layer 0, with half its data */
    c->t[1].bytes /= 2;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_st(p, c, 0, c->n);
    expect_fail(dir, "auto", 2, "has shape [48], config.json implies [96]");

    fresh(dir, sizeof dir, "extra", c, 0);
    add_rand(c, "model.layers.0.mlp.something_new", "BF16", 1, 8, 1, 1);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_st(p, c, 0, c->n);
    expect_fail(dir, "auto", 2, "cannot map tensor 'model.layers.0.mlp.something_new'");

    /* broken safetensors files */
    fresh(dir, sizeof dir, "trunc", c, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    ck_assert_int_eq(truncate(p, 4000), 0);
    expect_fail(dir, "auto", 2, "model.safetensors");
    ck_assert_int_eq(tu_write_file(p, "\x10\0\0\0\0\0\0\0{\"a\":[1,2,3]}xxx", 24), 0);
    expect_fail(dir, "auto", 2, "tensor 'a' is not an object");
    ck_assert_int_eq(tu_write_file(p, "\xff\xff\0\0\0\0\0\0{}", 10), 0);
    expect_fail(dir, "auto", 2, "does not fit the file");
    ck_assert_int_eq(tu_write_file(p, "\x08\0\0\0\0\0\0\0not json", 16), 0);
    expect_fail(dir, "auto", 2, "not a JSON object");
    const char ov[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    char buf[512];
    size_t hl = strlen(ov);
    memset(buf, 0, sizeof buf);
    buf[0] = (char)hl;
    memcpy(buf + 8, ov, hl);
    ck_assert_int_eq(tu_write_file(p, buf, 8 + hl + 12), 0);
    expect_fail(dir, "auto", 2, "overlap");
    const char dt[] = "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    hl = strlen(dt);
    memset(buf, 0, sizeof buf);
    buf[0] = (char)hl;
    memcpy(buf + 8, dt, hl);
    ck_assert_int_eq(tu_write_file(p, buf, 8 + hl + 8), 0);
    expect_fail(dir, "auto", 2, "unknown dtype 'Q4'");

    /* the index names a shard that is not there / a tensor the shard lacks */
    fresh(dir, sizeof dir, "index", c, 1);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    ck_assert_int_eq(unlink(p), 0);
    expect_fail(dir, "auto", 2, "model-00002-of-00002.safetensors");
    fresh(dir, sizeof dir, "index2", c, 1);
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"lm_head.weight\":\"model-00001-of-00002.safetensors\"}}");
    expect_fail(dir, "auto", 2, "'lm_head.weight' is not in model-00001-of-00002.safetensors");

    /* tokenizer and vocabulary must agree */
    fresh(dir, sizeof dir, "tok", c, 0);
    write_text(dir, "tokenizer.json", "{\"model\":{\"type\":\"WordPiece\"}}");
    expect_fail(dir, "auto", 2, "tokenizer.json");

    /* usage */
    fresh(dir, sizeof dir, "usage", c, 0);
    expect_fail(dir, "q4_k", 1, "--outtype 'q4_k'");
    tu_proc pr;
    char *argv[] = {(char *)tu_gptc(), "convert", NULL};
    ck_assert_int_eq(tu_run(argv, NULL, 0, 30, &pr), 0);
    ck_assert_int_eq(pr.status, 1);
    ck_assert_ptr_nonnull(strstr(pr.err, "gptc: error: convert: no checkpoint folder"));
    tu_proc_free(&pr);
    char *argv2[] = {(char *)tu_gptc(), "convert", "--help", NULL};
    ck_assert_int_eq(tu_run(argv2, NULL, 0, 30, &pr), 0);
    ck_assert_int_eq(pr.status, 0);
    ck_assert_ptr_nonnull(strstr(pr.out, "usage: gptc convert DIR"));
    tu_proc_free(&pr);
    free_ckpt(c);
    free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("convert");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_oss_mxfp4);
    tcase_add_test(tc, test_oss_same_as_generator);
    tcase_add_test(tc, test_oss_float_experts);
    tcase_add_test(tc, test_gpt2);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tu_suite_failures(s, 0) ? EXIT_FAILURE : EXIT_SUCCESS;
}
