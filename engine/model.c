/* model.c — gptc_model_*: open the GGUF, run the architecture adapter, load the tokenizer,
 * pick and start the backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/arch.h"
#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/pool.h"
#include "engine/session.h"

void gptc_model_params_default(gptc_model_params *p) {
    memset(p, 0, sizeof(*p));
    p->backend = GPTC_BACKEND_AUTO;
    p->device = 0;
    p->n_threads = 0;
    p->n_cpu_moe = GPTC_CPU_MOE_AUTO;
    p->yarn_rounded = 0; /* the OpenAI reference / HF (unrounded correction range) */
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Does the tokenizer.json `js` describe the GGUF's own vocabulary `gg`? No larger, and every
 * token (the special ones included) the same text at the same id. A GGUF may pad its list. */
static int same_vocab(const gptc_tokenizer *js, const gptc_tokenizer *gg) {
    int32_t n = gptc_tokenizer_n_vocab(js);
    if (n > gptc_tokenizer_n_vocab(gg)) return 0;
    for (int32_t id = 0; id < n; id++) {
        const char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        int ha = gptc_tokenizer_piece(js, id, &a, &na) == GPTC_OK;
        int hb = gptc_tokenizer_piece(gg, id, &b, &nb) == GPTC_OK;
        if (!ha) continue; /* a hole in the json's ids */
        if (!hb || na != nb || memcmp(a, b, na)) return 0;
        if (gptc_tokenizer_is_special(js, id) && !gptc_tokenizer_is_special(gg, id)) return 0;
    }
    return 1;
}

static gptc_status load_tokenizer(gptc_model *m, const gptc_model_params *p, gptc_error *err) {
    int has_gguf = gguf_has(m->gguf, "tokenizer.ggml.tokens");
    if (p->tokenizer_path && !strcmp(p->tokenizer_path, "gguf")) {
        if (!has_gguf)
            return gt_err(err, GPTC_ERR_FORMAT,
                          "%s: --tokenizer gguf: the file has no vocabulary "
                          "(tokenizer.ggml.tokens)",
                          m->path);
        return gptc_tokenizer_load_gguf(m->path, &m->tok, err);
    }
    if (p->tokenizer_path) return gptc_tokenizer_load_json(p->tokenizer_path, &m->tok, err);
    /* tokenizer.json next to the model file: used when it is the GGUF's own vocabulary (or the
     * GGUF has none); an unrelated one is set aside with a warning */
    const char *slash = strrchr(m->path, '/');
    size_t dir = slash ? (size_t)(slash - m->path) + 1 : 0;
    char *cand = malloc(dir + sizeof("tokenizer.json"));
    if (!cand) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    memcpy(cand, m->path, dir);
    memcpy(cand + dir, "tokenizer.json", sizeof("tokenizer.json"));
    gptc_status st = GPTC_OK;
    if (has_gguf) st = gptc_tokenizer_load_gguf(m->path, &m->tok, err);
    if (st == GPTC_OK && file_exists(cand)) {
        gptc_tokenizer *js = NULL;
        gptc_error jerr = {0};
        gptc_status jst = gptc_tokenizer_load_json(cand, &js, &jerr);
        if (!m->tok) {
            m->tok = js;
            st = jst;
            if (jst != GPTC_OK) *err = jerr;
        } else if (jst != GPTC_OK) {
            snprintf(m->warning, sizeof m->warning,
                     "ignoring %.200s (%.200s); using the model's own vocabulary", cand, jerr.msg);
        } else if (!same_vocab(js, m->tok)) {
            snprintf(m->warning, sizeof m->warning,
                     "ignoring %.300s: its vocabulary (%d tokens) is not the model's own (%d "
                     "tokens); using the model's (--tokenizer FILE forces a file)",
                     cand, (int)gptc_tokenizer_n_vocab(js), (int)gptc_tokenizer_n_vocab(m->tok));
            gptc_tokenizer_free(js);
        } else {
            gptc_tokenizer_free(m->tok);
            m->tok = js;
        }
    }
    /* else: no vocabulary anywhere; the model still runs on token ids */
    free(cand);
    return st;
}

static gptc_status use_backend(gptc_model *m, const gt_backend_ops *ops, gptc_backend kind) {
    m->backend = ops;
    m->backend_kind = kind;
    return GPTC_OK;
}

static gptc_status pick_backend(gptc_model *m, const gptc_model_params *p, gptc_error *err) {
    switch (p->backend) {
    case GPTC_BACKEND_CPU:
        return use_backend(m, gt_cpu_backend(), GPTC_BACKEND_CPU);
    case GPTC_BACKEND_CUDA:
#ifdef GPTC_WITH_CUDA
        if (gt_cuda_device_count() > 0) return use_backend(m, gt_cuda_backend(), GPTC_BACKEND_CUDA);
        return gt_err(err, GPTC_ERR_DEVICE, "CUDA backend requested but no usable GPU was found");
#else
        return gt_err(err, GPTC_ERR_UNSUPPORTED,
                      "CUDA backend requested but this gptc was built without CUDA");
#endif
    case GPTC_BACKEND_AUTO:
#ifdef GPTC_WITH_CUDA
        if (gt_cuda_device_count() > 0) return use_backend(m, gt_cuda_backend(), GPTC_BACKEND_CUDA);
#endif
        return use_backend(m, gt_cpu_backend(), GPTC_BACKEND_CPU);
    }
    return gt_err(err, GPTC_ERR_INVALID_ARG, "unknown backend %d", (int)p->backend);
}

gptc_status gptc_model_load(const gptc_model_params *p, gptc_model **out, gptc_error *err) {
    if (out) *out = NULL;
    if (!p || !out || !p->path)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_model_load: no model path given");
    if (p->n_threads < 0)
        return gt_err(err, GPTC_ERR_INVALID_ARG, "invalid thread count %d", p->n_threads);
    if (p->n_cpu_moe < 0 && p->n_cpu_moe != GPTC_CPU_MOE_AUTO)
        return gt_err(err, GPTC_ERR_INVALID_ARG,
                      "n_cpu_moe %d: must be >= 0 (or GPTC_CPU_MOE_AUTO)", p->n_cpu_moe);
    double t0 = gt_now_ms();
    gptc_model *m = calloc(1, sizeof(*m));
    if (!m) return gt_err(err, GPTC_ERR_NOMEM, "out of memory");
    m->params = *p;
    m->params.path = NULL;
    m->params.tokenizer_path = NULL;
    m->path = strdup(p->path);
    gptc_status st = GPTC_ERR_NOMEM;
    if (!m->path) {
        gt_err(err, st, "out of memory");
        goto fail;
    }
    st = gguf_shards_open(p->path,
                          (p->no_mmap ? GGUF_OPEN_READ : 0u) | (p->mlock ? GGUF_OPEN_MLOCK : 0u),
                          &m->shards, err);
    if (st != GPTC_OK) goto fail;
    m->gguf = gguf_shards_file(m->shards, 0);
    st = gguf_architecture(m->gguf, m->arch_name, sizeof(m->arch_name), err);
    if (st != GPTC_OK) goto fail;
    m->adapter = gt_arch_find(m->arch_name);
    if (!m->adapter) {
        st = gt_err(err, GPTC_ERR_UNSUPPORTED, "%s: unsupported architecture '%s'", m->path,
                    m->arch_name);
        goto fail;
    }
    m->arch = m->adapter->arch;
    if (gguf_has(m->gguf, "general.name")) {
        gguf_str s;
        if (gguf_get_str(m->gguf, "general.name", &s, NULL) == GPTC_OK) {
            size_t n = s.len < sizeof(m->name) - 1 ? (size_t)s.len : sizeof(m->name) - 1;
            memcpy(m->name, s.ptr, n);
            m->name[n] = 0;
        }
    }
    st = m->adapter->load(m, err);
    if (st != GPTC_OK) goto fail;

    if (m->arch == GT_ARCH_GPT_OSS) {
        const gt_hparams *hp = &m->hp;
        m->rope_inv_freq = malloc((size_t)(hp->rope_dim / 2) * sizeof(float));
        if (!m->rope_inv_freq) {
            st = gt_err(err, GPTC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        op_rope_params rp = {.dim = hp->rope_dim,
                             .freq_base = hp->rope_freq_base,
                             .yarn = hp->yarn,
                             .factor = hp->yarn_factor,
                             .orig_ctx = hp->yarn_orig_ctx,
                             .beta_fast = hp->yarn_beta_fast,
                             .beta_slow = hp->yarn_beta_slow};
        op_rope_yarn_inv_freq(m->rope_inv_freq, &rp, hp->yarn_rounded);
        m->rope_mscale = op_rope_yarn_mscale(&rp);
    }

    for (uint64_t i = 0; i < gguf_shards_n_tensors(m->shards); i++) {
        const gguf_tensor *t = gguf_shards_tensor_at(m->shards, i);
        m->n_params += t->n_elements;
        m->weight_bytes += t->n_bytes;
    }

    st = load_tokenizer(m, p, err);
    if (st != GPTC_OK) goto fail;
    if (m->tok && gptc_tokenizer_n_vocab(m->tok) > m->hp.n_vocab) {
        st = gt_err(err, GPTC_ERR_FORMAT,
                    "%s: the tokenizer has %d tokens but the model only %d embedding rows "
                    "(wrong tokenizer for this model?)",
                    m->path, (int)gptc_tokenizer_n_vocab(m->tok), m->hp.n_vocab);
        goto fail;
    }

    if (m->tok && m->arch == GT_ARCH_GPT_OSS && gptc_tokenizer_find(m->tok, "<|start|>") < 0 &&
        gptc_tokenizer_find(m->tok, "<|message|>") < 0 &&
        gptc_tokenizer_find(m->tok, "<|channel|>") < 0) {
        /* e.g. GPT-2's tokenizer.json given to a gpt-oss model: its ids mean other text */
        st = gt_err(err, GPTC_ERR_FORMAT,
                    "%s: the tokenizer (%d tokens) has none of harmony's tokens (<|start|>, "
                    "<|message|>, <|channel|>): wrong tokenizer for this gpt-oss model?",
                    m->path, (int)gptc_tokenizer_n_vocab(m->tok));
        goto fail;
    }

    m->n_threads = p->n_threads > 0 ? p->n_threads : gt_n_cpus();
    st = pick_backend(m, p, err);
    if (st != GPTC_OK) goto fail;
    st = m->backend->model_init(m, p, err);
    if (st != GPTC_OK) {
        m->backend->model_free(m);
        m->backend = NULL;
        goto fail;
    }
    if (p->progress && m->backend_kind == GPTC_BACKEND_CPU) {
        /* fault the mapping in now (one read per page), so the caller's progress bar covers the
         * disk reads instead of the first forward pass */
        uint64_t done = 0;
        volatile unsigned char sink = 0;
        for (uint64_t i = 0; i < gguf_shards_n_tensors(m->shards); i++) {
            const gguf_tensor *t = gguf_shards_tensor_at(m->shards, i);
            const unsigned char *d = t->data;
            for (uint64_t off = 0; off < t->n_bytes; off += 4096) sink ^= d[off];
            done += t->n_bytes;
            p->progress(p->progress_user, done, m->weight_bytes);
        }
        (void)sink;
    } else if (p->progress) {
        p->progress(p->progress_user, m->weight_bytes, m->weight_bytes);
    }
    m->load_ms = gt_now_ms() - t0;
    if (p->verbose) {
        int nf = gguf_shards_count(m->shards);
        char files[48] = "";
        if (nf > 1) snprintf(files, sizeof files, " (%d shards)", nf);
        fprintf(stderr,
                "gptc: model %s%s (%s): %d layers, %.1f M parameters, %.1f MiB of weights, "
                "backend %s, loaded in %.2f s\n",
                m->path, files, m->arch_name, m->hp.n_layer, m->n_params / 1e6,
                m->weight_bytes / 1048576.0, m->device_name, m->load_ms / 1000.0);
    }
    *out = m;
    return GPTC_OK;
fail:
    gptc_model_free(m);
    return st;
}

void gptc_model_free(gptc_model *m) {
    if (!m) return;
    if (m->backend) m->backend->model_free(m);
    gptc_tokenizer_free(m->tok);
    free(m->layers);
    free(m->rope_inv_freq);
    gt_name_arena_free(m);
    gguf_shards_close(m->shards);
    free(m->path);
    free(m);
}

void gptc_model_get_info(const gptc_model *m, gptc_model_info *info) {
    memset(info, 0, sizeof(*info));
    if (!m) return;
    const gt_hparams *hp = &m->hp;
    snprintf(info->arch, sizeof(info->arch), "%s", m->arch_name);
    snprintf(info->name, sizeof(info->name), "%s", m->name);
    info->n_layer = hp->n_layer;
    info->n_embd = hp->n_embd;
    info->n_head = hp->n_head;
    info->n_head_kv = hp->n_head_kv;
    info->head_dim = hp->head_dim;
    info->n_ff = hp->n_ff;
    info->n_expert = hp->n_expert;
    info->n_expert_used = hp->n_expert ? hp->n_expert_used : 0;
    info->n_vocab = hp->n_vocab;
    info->n_ctx_train = hp->n_ctx_train;
    info->sliding_window = hp->sliding_window;
    info->n_params = m->n_params;
    info->weight_bytes = m->weight_bytes;
    info->backend = m->backend_kind;
    snprintf(info->device_name, sizeof(info->device_name), "%s", m->device_name);
    info->load_ms = m->load_ms;
    info->n_threads = m->n_threads;
    snprintf(info->warning, sizeof(info->warning), "%s", m->warning);
}

const gptc_tokenizer *gptc_model_tokenizer(const gptc_model *m) {
    return m ? m->tok : NULL;
}

gptc_status gptc_model_residency(const gptc_model *m, gptc_residency *r, gptc_error *err) {
    if (!m || !r) return gt_err(err, GPTC_ERR_INVALID_ARG, "gptc_model_residency: NULL argument");
    return m->backend->residency(m, r, err);
}

size_t gptc_model_mapping(const gptc_model *m, const void **addr) {
    *addr = NULL;
    return m && m->gguf ? gguf_mapping(m->gguf, addr) : 0;
}

int gptc_model_n_files(const gptc_model *m) {
    return m ? gguf_shards_count(m->shards) : 0;
}

size_t gptc_model_file(const gptc_model *m, int i, const char **path, uint64_t *bytes,
                       const void **addr) {
    const gguf_file *f = m ? gguf_shards_file(m->shards, i) : NULL;
    if (path) *path = f ? gguf_path(f) : NULL;
    if (bytes) *bytes = f ? gguf_file_size(f) : 0;
    const void *a = NULL;
    size_t len = f ? gguf_mapping(f, &a) : 0;
    if (addr) *addr = a;
    return len;
}
