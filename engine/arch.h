/* arch.h — architecture adapters. One file per architecture (engine/arch_<name>.c) reads the
 * hyperparameters from GGUF metadata, maps tensor names to weights and checks every shape and
 * type; one file (engine/forward_<name>.c) runs its CPU forward pass. Adding an architecture =
 * one adapter + one forward file + one line in the table in arch.c. */
#ifndef GPTC_ENGINE_ARCH_H
#define GPTC_ENGINE_ARCH_H

#include <stdint.h>

#include "engine/cpu.h"
#include "engine/model.h"
#include "engine/session.h"

struct gt_cuda_fw; /* cuda/backend.h */

typedef struct gt_arch_adapter {
    const char *name; /* general.architecture */
    gt_arch arch;
    /* Fills m->hp, m->tok_embd..m->layers from m->gguf. Clear errors naming the tensor/key. */
    gptc_status (*load)(gptc_model *m, gptc_error *err);
    /* CPU forward of a batch of rows (engine/cpu.h gt_batch; T <= the scratch's rows). */
    gptc_status (*forward_cpu)(gt_batch *b, gptc_error *err);
    /* Bytes of CPU forward scratch for a batch of n_batch rows and a context of n_ctx. */
    size_t (*cpu_scratch_bytes)(const gptc_model *m, int n_batch, int n_ctx);
    /* CUDA forward of T tokens (cuda/forward_<name>.c; NULL in builds without CUDA): see
     * cuda/backend.h. logits_all: every token's logits to the host; s (may be NULL): polled
     * for cancellation between layers. */
    gptc_status (*forward_cuda)(struct gt_cuda_fw *F, int T, float *logits_all,
                                const gptc_session *s);
} gt_arch_adapter;

#ifdef GPTC_WITH_CUDA
gptc_status gt_cuda_forward_gpt_oss(struct gt_cuda_fw *F, int T, float *logits_all,
                                    const gptc_session *s);
gptc_status gt_cuda_forward_gpt2(struct gt_cuda_fw *F, int T, float *logits_all,
                                 const gptc_session *s);
#define GT_CUDA_FORWARD(name) gt_cuda_forward_##name
#else
#define GT_CUDA_FORWARD(name) NULL
#endif

/* NULL when unknown. */
const gt_arch_adapter *gt_arch_find(const char *name);

extern const gt_arch_adapter gt_arch_gpt_oss;
extern const gt_arch_adapter gt_arch_gpt2;

/* ---- helpers for adapters (engine/arch.c) ----------------------------------------------- */
/* Returns from the enclosing function when x is not GPTC_OK. */
#define GT_TRY(x)                                                                                  \
    do {                                                                                           \
        gptc_status st_ = (x);                                                                     \
        if (st_ != GPTC_OK) return st_;                                                            \
    } while (0)

/* Looks up `name` and checks n_dims-independent shape (ne[0..3], trailing 1s implied) and type.
 * kind: GT_W_MATRIX (any quant_supported type), GT_W_F32 (F32 only). required = 0: a missing
 * tensor leaves w zeroed and returns OK. Messages: "missing tensor NAME",
 * "NAME: expected shape [a, b], got [c, d]", "NAME: type Q2_K is not supported for a matrix",
 * "NAME: expected type F32, got Q8_0". */
enum { GT_W_MATRIX = 1, GT_W_F32 = 2 };
gptc_status gt_map_weight(gptc_model *m, gt_weight *w, const char *name, int kind, int n_dims,
                          const int64_t *ne, int required, gptc_error *err);
/* u32/f32 metadata "<arch>.<suffix>" with a default when absent (def_ok = 1) or an error
 * "missing key K" when required. */
gptc_status gt_meta_u32(const gptc_model *m, const char *suffix, int required, uint32_t def,
                        uint32_t *out, gptc_error *err);
gptc_status gt_meta_f32(const gptc_model *m, const char *suffix, int required, float def,
                        float *out, gptc_error *err);
/* gt_map_weight of the per-layer tensor "blk.<il>.<suffix>", required. */
gptc_status gt_map_layer_weight(gptc_model *m, gt_weight *w, int il, const char *suffix, int kind,
                                int n_dims, const int64_t *ne, gptc_error *err);
/* Keys every adapter reads first (all required): block_count, context_length,
 * embedding_length into hp.n_layer, hp.n_ctx_train, hp.n_embd. */
gptc_status gt_load_common_hparams(gptc_model *m, gptc_error *err);
/* token_embd.weight [n_embd, n_vocab]: sets hp.n_vocab from its second dimension and maps
 * m->tok_embd (a matrix). */
gptc_status gt_map_token_embd(gptc_model *m, gptc_error *err);
/* m->layers = hp.n_layer zeroed gt_layer. */
gptc_status gt_alloc_layers(gptc_model *m, gptc_error *err);
/* Frees the weight-name strings gt_map_weight allocated (model.c calls it). */
void gt_name_arena_free(gptc_model *m);

#endif
