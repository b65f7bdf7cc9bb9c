/* ggml_types.h — the one table of ggml tensor types gptc knows, shared by the GGUF reader and
 * writer (gguf/types.c), the CPU formats (engine/quant.c) and the CUDA kernels (cuda/). Plain C
 * (also read by nvcc). Ids and block sizes are fixed by the format (docs/quant.md).
 *
 * X(NAME, id, block elements, block bytes, use): use 2 = a format the engine computes with as a
 * weight matrix (CPU and CUDA: dequantise, dot, quantise); 1 = only read, written and listed;
 * 0 = a named id the reader refuses (Q8_1: activation-only, its size differs between ggml and
 * gguf-py). */
#ifndef GPTC_GGUF_GGML_TYPES_H
#define GPTC_GGUF_GGML_TYPES_H

#define GGML_TYPE_TABLE(X)                                                                         \
    X(F32, 0, 1, 4, 2)                                                                             \
    X(F16, 1, 1, 2, 2)                                                                             \
    X(Q4_0, 2, 32, 18, 2)                                                                          \
    X(Q4_1, 3, 32, 20, 2)                                                                          \
    X(Q5_0, 6, 32, 22, 2)                                                                          \
    X(Q5_1, 7, 32, 24, 2)                                                                          \
    X(Q8_0, 8, 32, 34, 2)                                                                          \
    X(Q8_1, 9, 32, 36, 0)                                                                          \
    X(Q2_K, 10, 256, 84, 1)                                                                        \
    X(Q3_K, 11, 256, 110, 1)                                                                       \
    X(Q4_K, 12, 256, 144, 2)                                                                       \
    X(Q5_K, 13, 256, 176, 2)                                                                       \
    X(Q6_K, 14, 256, 210, 2)                                                                       \
    X(Q8_K, 15, 256, 292, 1)                                                                       \
    X(I8, 24, 1, 1, 1)                                                                             \
    X(I16, 25, 1, 2, 1)                                                                            \
    X(I32, 26, 1, 4, 1)                                                                            \
    X(I64, 27, 1, 8, 1)                                                                            \
    X(F64, 28, 1, 8, 1)                                                                            \
    X(BF16, 30, 1, 2, 2)                                                                           \
    X(MXFP4, 39, 32, 17, 2)

typedef enum ggml_type {
#define GGML_TYPE_ENUM_(name, id, be, bb, use) GGML_TYPE_##name = id,
    GGML_TYPE_TABLE(GGML_TYPE_ENUM_)
#undef GGML_TYPE_ENUM_
} ggml_type;

/* 1 when the engine computes with this type as a weight matrix (use 2). */
static inline int ggml_type_computed(unsigned type) {
    switch (type) {
#define GGML_TYPE_CASE_(name, id, be, bb, use)                                                     \
    case id:                                                                                       \
        return use == 2;
        GGML_TYPE_TABLE(GGML_TYPE_CASE_)
#undef GGML_TYPE_CASE_
    default:
        return 0;
    }
}

#endif
