/* quant.h — ggml weight formats on the CPU: read straight from packed GGUF blocks.
 * Layouts: docs/quant.md. Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
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
uint16_t quant_f32_to_bf16(float f);     /* round to nearest even, NaN stays quiet */
float quant_e8m0_to_f32_half(uint8_t e); /* ggml MXFP4 scale: 2^(e-128) (half of E8M0) */

/* ---- additions (weight-format engineer) ---------------------------------------------------- */

/* quant_quantize_row, per format (all deterministic; finite inputs expected):
 *   F16/BF16: round to nearest even.  Q8_0: d = amax/127 (f16, rounded up), q = round(x/d).
 *   Q4_0/Q5_0: d = signed max / -8 (-16), q = clamp(round(x/d) + 8 (16)), as ggml.
 *   Q4_1/Q5_1: m = min (f16 rounded down), d = (max-m)/15 (31) rounded up; |err| <= d/2.
 *   Q4_K/Q5_K: per 32 a least-squares (scale, min) fit over trial scales, 6-bit codes relative
 *     to the super-block maxima, then each element takes its nearest decoded level.
 *   Q6_K: per 16 a symmetric scale amax/31 as int8 times d (rounded up); |err| <= d*sc/2.
 *   MXFP4: ggml's quantize_row_mxfp4_ref rule: e = floor(log2 amax) - 2 + 127, nearest code,
 *     ties to the lowest code (docs/mxfp4.md). */

/* Bytes of a row of n elements; 0 if the type is unsupported or n is not a multiple of the block
 * (e.g. K-quants with n = 2880). Same contract as gguf's ggml_row_size for the 12 types above.
 * quant_dequant_row/quant_dot/quant_dot_rows must only be called when this is non-zero (an
 * invalid call yields NaN outputs; quant_quantize_row returns 0 and writes nothing). */
size_t quant_row_size(uint32_t type, int64_t n);
int quant_block_elems(uint32_t type); /* 1, 32 or 256; 0 if unsupported */

/* Batched dot for prompt processing: out[t*out_stride] = dot(row, x + t*x_stride) for
 * t = 0..T-1 (strides in floats, not bytes). The row is decoded once per chunk into a stack
 * buffer and reused for all T vectors. Thread-safe (no shared state). */
void quant_dot_rows(uint32_t type, const void *row, const float *x, int64_t n, int T,
                    size_t x_stride, float *out, size_t out_stride);

/* Matrix x matrix for prompt processing: out[t*out_stride + r] = dot(row r, x + t*x_stride) for
 * r = 0..R-1, t = 0..T-1, where row r starts at (const char *)w + r*row_stride (strides of x and
 * out in floats). Decodes 4 rows at a time and computes 4-row x 3-token register tiles, so each
 * activation load serves 4 rows (about 2x quant_dot_rows on long prompts). Thread-safe; split
 * rows between threads. Same NaN convention as quant_dot_rows for invalid calls. */
void quant_matmul(uint32_t type, const void *w, size_t row_stride, int64_t R, const float *x,
                  int64_t n, int T, size_t x_stride, float *out, size_t out_stride);

/* Full E8M0 value as ggml computes it: 2^(e-127); e = 0 -> 2^-127, e = 255 -> +inf. */
float quant_e8m0_to_f32(uint8_t e);

/* ggml's MXFP4 code table: twice the E2M1 value of each 4-bit code (bit 3 = sign). */
extern const int8_t quant_kvalues_mxfp4[16];

/* Repacks one HF/OpenAI gpt-oss MXFP4 block (16 bytes of `*_blocks`, element 2b in the low
 * nibble of byte b and 2b+1 in the high nibble, plus its `*_scales` E8M0 byte) into ggml's
 * 17-byte block_mxfp4 (scale byte, then element j low / j+16 high nibble of byte j). Lossless;
 * what llama.cpp's converter does. See docs/mxfp4.md. */
void quant_mxfp4_from_hf(uint8_t scale, const uint8_t hf[16], uint8_t out[17]);

/* For tests and benchmarks: the plain C paths (no intrinsics), always compiled. quant_dot and
 * quant_dequant_row use AVX2/FMA/F16C fast paths when built with them (-march=native) and these
 * otherwise. The SIMD decoder is bit-identical to the portable one. */
float quant_dot_portable(uint32_t type, const void *row, const float *x, int64_t n);
void quant_dequant_row_portable(uint32_t type, const void *src, float *dst, int64_t n);
/* Internals exposed for tests: Q4_K/Q5_K scale unpacking and the MXFP4 nearest-code search. */
void quant_scale_min_k4(int j, const uint8_t *scales12, int *sc, int *m);
uint8_t quant_mxfp4_best_code(float v, float d);

#endif
