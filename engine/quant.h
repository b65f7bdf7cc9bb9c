/* quant.h — ggml weight formats on the CPU: read straight from packed GGUF blocks.
 * Layouts: ../shared/spec/quant.md. Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q4_K, Q5_K, Q6_K, MXFP4 (ids in gguf/gguf.h). These functions are also the CPU twins the
 * CUDA kernels are tested against. n is the row length in elements (a multiple of the block). */
#ifndef GPTC_QUANT_H
#define GPTC_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* 1 if gptc can compute with this type (dequant + dot + quantize). */
int quant_supported(uint32_t type);

/* Decodes n elements of one row (`src` points at its first block) into dst (fp32). */
void quant_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);

/* dot(row, x) over n elements with fp32 accumulation, x in fp32 (no activation quantisation,
 * so the result equals dot(dequant(row), x) up to float summation order). */
float quant_dot(uint32_t type, const void *row, const float *x, int64_t n);

/* Reference quantiser (deterministic, round-to-nearest like ggml's *_ref functions): encodes n
 * floats into dst; returns the bytes written (= ggml_row_size(type, n)). For the model generator
 * and tests. */
size_t quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* Scalar conversions. */
float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f); /* round to nearest even */
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f); /* round to nearest even, NaN stays quiet */
float quant_e8m0_to_f32_half(uint8_t e); /* ggml MXFP4 scale: 2^(e-128) (half of E8M0) */

#endif
