/* pool.h — a small persistent thread pool. gt_pool_run(pool, n_tasks, fn, ctx) calls
 * fn(ctx, task, thread) once for every task in [0, n_tasks) and returns when all are done.
 * Tasks are handed out dynamically, so callers must make each task's result independent of
 * which thread runs it (partition by output rows; no cross-task reductions): results are then
 * bit-identical for any thread count. The calling thread works too (it is thread 0).
 * Runs from different threads on the same pool are serialised by a mutex.
 * Each thread owns a scratch buffer (gt_pool_scratch) reserved up front, so hot loops never
 * call malloc. A NULL pool runs everything on the caller (thread 0) with a private scratch. */
#ifndef GPTC_ENGINE_POOL_H
#define GPTC_ENGINE_POOL_H

#include <stddef.h>

typedef struct gt_pool gt_pool;
typedef void (*gt_task_fn)(void *ctx, int task, int thread);

/* n_threads >= 1 (threads including the caller). NULL on allocation failure. */
gt_pool *gt_pool_create(int n_threads);
void gt_pool_destroy(gt_pool *p);
int gt_pool_n_threads(const gt_pool *p); /* 1 for NULL */

void gt_pool_run(gt_pool *p, int n_tasks, gt_task_fn fn, void *ctx);

/* memcpy(dst, src, n) split over the pool's threads in 64 KiB-aligned pieces (small copies and a
 * NULL or one-thread pool: one memcpy on the caller). For copies out of a file mapping into
 * pinned staging, where one thread's page faults and memory bandwidth are the limit. */
void gt_pool_memcpy(gt_pool *p, void *dst, const void *src, size_t n);

/* Makes every thread's scratch at least `bytes` (64-byte aligned); waits for a running job
 * (scratch contents never live across jobs). Returns 0 on success, -1 on OOM. */
int gt_pool_reserve(gt_pool *p, size_t bytes);
/* Scratch of `thread` (valid inside a task). For a NULL pool: a process-wide buffer is NOT used;
 * callers must pass a pool when they need scratch. */
void *gt_pool_scratch(gt_pool *p, int thread);
size_t gt_pool_scratch_bytes(const gt_pool *p);

/* CPUs this process may use (affinity mask; else online CPUs), at least 1. */
int gt_n_cpus(void);

#endif
