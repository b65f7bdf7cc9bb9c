/* convert.h — internals of gptc_convert (HF checkpoint folder -> GGUF), shared by the driver
 * (convert.c) and the per-architecture tensor maps (map_gpt_oss.c, map_gpt2.c). */
#ifndef GPTC_CONVERT_CONVERT_H
#define GPTC_CONVERT_CONVERT_H

#include <cJSON.h>
#include <stdint.h>

#include "convert/safetensors.h"
#include "gguf/gguf.h"
#include "gptc.h"

/* One GGUF tensor and how its data is made from the checkpoint. */
typedef enum cv_kind {
    CV_GATHER, /* floats: out (m, r, c) = src[base + m*sm + r*sr + c*sc], then encoded */
    CV_MXFP4,  /* OpenAI MXFP4 blocks/scales: out block (m, r, g) from source row
                * r*row_step + row_off of matrix m, repacked bit-exactly */
} cv_kind;

typedef struct cv_tensor {
    char name[96];
    uint32_t type; /* ggml type written */
    int n_dims;    /* GGUF dims, ne[0] fastest */
    int64_t ne[3];
    cv_kind kind;
    const st_tensor *src;    /* float source, or the *_blocks tensor */
    const st_tensor *scales; /* CV_MXFP4 */
    int64_t base, sm, sr, sc;
    int64_t row_step, row_off, src_rows; /* CV_MXFP4 */
} cv_tensor;

/* How a float tensor's type is chosen (llama.cpp's convert_hf_to_gguf rules). */
enum {
    CV_OUT_AUTO = 0, /* the "--outtype" values */
    CV_OUT_F32,
    CV_OUT_F16,
    CV_OUT_BF16,
    CV_OUT_Q8_0,
};

typedef struct cv_ctx {
    const char *dir;
    const cJSON *config; /* config.json */
    st_checkpoint *ckpt;
    int outtype; /* resolved: CV_OUT_F32 .. CV_OUT_Q8_0 */
    cv_tensor *t;
    size_t n, cap;
    unsigned char *used; /* per checkpoint tensor: consumed by the map */
    gptc_error *err;
    int64_t vocab_rows; /* rows of the token embedding (tokenizer size check) */
} cv_ctx;

/* config.json helpers: 0 on success; on a missing/wrong key an error naming it. */
gptc_status cv_cfg_int(cv_ctx *c, const cJSON *obj, const char *key, int64_t *out);
gptc_status cv_cfg_num(cv_ctx *c, const cJSON *obj, const char *key, double *out);
/* first present key of a NULL-terminated list; GPTC_ERR_FORMAT naming them all when none */
gptc_status cv_cfg_int_any(cv_ctx *c, const char *const *keys, int64_t *out);

/* The checkpoint tensor `name` with the given row-major shape (n_dims sizes) and a float dtype
 * (or U8 when want_u8); marks it used. NULL (and an error) when absent or different. */
const st_tensor *cv_need(cv_ctx *c, const char *name, int n_dims, const int64_t *shape,
                         int want_u8);
const st_tensor *cv_maybe(cv_ctx *c, const char *name); /* NULL when absent, no error */

/* Adds a GGUF tensor gathered from floats; its type follows the llama.cpp rules from its name,
 * the checkpoint tensor's number of dims (src_dims) and force_f32 (routers, position
 * embeddings). ne: n_dims GGUF sizes. */
gptc_status cv_add_gather(cv_ctx *c, const char *name, const st_tensor *src, int src_dims,
                          int force_f32, int n_dims, const int64_t *ne, int64_t base, int64_t sm,
                          int64_t sr, int64_t sc);
gptc_status cv_add_mxfp4(cv_ctx *c, const char *name, const st_tensor *blocks,
                         const st_tensor *scales, int64_t n_mat, int64_t rows, int64_t k,
                         int64_t row_step, int64_t row_off, int64_t src_rows);

gptc_status cv_fail(cv_ctx *c, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Per architecture: fill c->t from the checkpoint, then write the arch metadata. */
gptc_status cv_map_gpt_oss(cv_ctx *c);
gptc_status cv_meta_gpt_oss(cv_ctx *c, gguf_writer *w);
gptc_status cv_map_gpt2(cv_ctx *c);
gptc_status cv_meta_gpt2(cv_ctx *c, gguf_writer *w);

#endif
