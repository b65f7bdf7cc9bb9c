/* pool.c — persistent worker threads with dynamic task hand-out (see pool.h). */
#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gt_pool {
    int n_threads;
    pthread_t *threads;       /* [n_threads - 1] workers (thread ids 1..n-1) */
    pthread_mutex_t run_lock; /* serialises gt_pool_run callers */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    uint64_t generation;       /* bumped per job (under mu) */
    _Atomic uint64_t gen_seen; /* copy of generation readable without the lock (spinning) */
    int quit;
    /* current job */
    gt_task_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next_task;
    atomic_int active; /* workers still inside the current job */
    /* scratch */
    void **scratch;
    size_t scratch_bytes;
};

static void pool_work(gt_pool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread);
    }
}

typedef struct worker_arg {
    gt_pool *p;
    int id;
} worker_arg;

static void *worker_main(void *arg) {
    gt_pool *p = ((worker_arg *)arg)->p;
    int id = ((worker_arg *)arg)->id;
    free(arg);
    uint64_t seen = 0;
    for (;;) {
        /* decode issues hundreds of small jobs per token: spin briefly before sleeping */
        for (int i = 0; i < 1000; i++) {
            if (atomic_load_explicit(&p->gen_seen, memory_order_acquire) != seen) break;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        pthread_mutex_lock(&p->mu);
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        pool_work(p, id);
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int gt_n_cpus(void) {
    /* the CPUs this process may run on (taskset, cgroup cpusets), else all online CPUs */
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n >= 1) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

gt_pool *gt_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    gt_pool *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->n_threads = n_threads;
    p->scratch = calloc((size_t)n_threads, sizeof(void *));
    p->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!p->scratch || !p->threads) {
        free(p->scratch);
        free(p->threads);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof(*a));
        if (a) {
            a->p = p;
            a->id = i;
        }
        if (!a || pthread_create(&p->threads[i - 1], NULL, worker_main, a) != 0) {
            free(a);
            p->n_threads = i; /* workers 1..i-1 exist */
            gt_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void gt_pool_destroy(gt_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i - 1], NULL);
    for (int i = 0; i < p->n_threads; i++) free(p->scratch[i]);
    pthread_mutex_destroy(&p->run_lock);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p->scratch);
    free(p->threads);
    free(p);
}

int gt_pool_n_threads(const gt_pool *p) {
    return p ? p->n_threads : 1;
}

void gt_pool_run(gt_pool *p, int n_tasks, gt_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->run_lock); /* callers on other threads share thread 0's scratch */
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        pthread_mutex_unlock(&p->run_lock);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next_task, 0);
    atomic_store(&p->active, p->n_threads - 1);
    p->generation++;
    atomic_store_explicit(&p->gen_seen, p->generation, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    pool_work(p, 0);
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->active) != 0) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->run_lock);
}

int gt_pool_reserve(gt_pool *p, size_t bytes) {
    if (!p) return 0;
    /* holding run_lock: no job is using the scratch while it is replaced (scratch contents never
     * live across jobs) */
    pthread_mutex_lock(&p->run_lock);
    int rc = 0;
    if (bytes > p->scratch_bytes) {
        bytes = (bytes + 63) & ~(size_t)63;
        for (int i = 0; i < p->n_threads && rc == 0; i++) {
            void *b = NULL;
            if (posix_memalign(&b, 64, bytes) != 0) {
                rc = -1;
                break;
            }
            free(p->scratch[i]);
            p->scratch[i] = b;
        }
        /* on failure some buffers are bigger already; the recorded size stays the old one */
        if (rc == 0) p->scratch_bytes = bytes;
    }
    pthread_mutex_unlock(&p->run_lock);
    return rc;
}

void *gt_pool_scratch(gt_pool *p, int thread) {
    return p ? p->scratch[thread] : NULL;
}
size_t gt_pool_scratch_bytes(const gt_pool *p) {
    return p ? p->scratch_bytes : 0;
}

typedef struct copy_job {
    uint8_t *dst;
    const uint8_t *src;
    size_t n, piece;
} copy_job;

static void copy_task(void *ctx, int task, int thread) {
    (void)thread;
    const copy_job *j = (const copy_job *)ctx;
    const size_t off = (size_t)task * j->piece;
    memcpy(j->dst + off, j->src + off, j->n - off < j->piece ? j->n - off : j->piece);
}

void gt_pool_memcpy(gt_pool *p, void *dst, const void *src, size_t n) {
    const int nt = gt_pool_n_threads(p);
    if (nt <= 1 || n < ((size_t)1 << 20)) {
        if (n) memcpy(dst, src, n);
        return;
    }
    /* about 4 pieces per thread (tasks are handed out dynamically), 64 KiB multiples */
    size_t piece = (n + (size_t)nt * 4 - 1) / ((size_t)nt * 4);
    piece = (piece + 65535) & ~(size_t)65535;
    copy_job j = {(uint8_t *)dst, (const uint8_t *)src, n, piece};
    gt_pool_run(p, (int)((n + piece - 1) / piece), copy_task, &j);
}
