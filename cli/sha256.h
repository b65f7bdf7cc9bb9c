/* sha256.h — SHA-256 (FIPS 180-4), streaming: the hub reports an LFS file's SHA-256 as its
 * X-Linked-Etag, and a download is checked against it before it is moved into the cache. */
#ifndef GPTC_CLI_SHA256_H
#define GPTC_CLI_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t n_bytes;  /* message length so far */
    uint8_t block[64]; /* pending partial block */
    size_t n_block;    /* bytes in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t digest[32]);
/* digest as 64 lowercase hex characters + NUL */
void sha256_hex(const uint8_t digest[32], char hex[65]);

#endif
