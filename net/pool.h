/*
 * The worker pool: N workers (net/worker.h), each with its own libuv loop on its own
 * thread, all serving the same listen addresses through SO_REUSEPORT sockets and sharing
 * one engine and one cache. Main owns the pool and drives its life from the main thread:
 *
 *   cn_pool_new        loops and workers created, linked into one group (coalescing)
 *   cn_pool_listen     every worker binds every address (errors come back at once)
 *   cn_pool_start      one thread per worker runs its loop
 *   ...                main's loop runs signals and the control socket
 *   cn_pool_stop       each worker is told to stop (uv_async); returns at once
 *   cn_pool_join       waits for every thread, then releases what was left in inboxes
 *   cn_pool_free
 *
 * cn_pool_stop and cn_pool_join also work when cn_pool_start never ran (start-up failed
 * half way): the loops are then run dry on the calling thread.
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "net/config.h"
#include "net/upstream.h"
#include "net/worker.h"

typedef struct cn_pool cn_pool_t;

/** The number of workers for a configured value: n, or when n is 0 the CPUs this process
 *  may run on (uv_available_parallelism: honours taskset / the affinity mask). */
unsigned cn_pool_workers_for(unsigned n);

/** Create n >= 1 workers. cfg and engine are borrowed and must outlive the pool. Returns
 *  0, -EINVAL, -ENOMEM or a libuv error; after an error other than -EINVAL *out is set
 *  too, and is stopped, joined and freed like a working pool. */
int cn_pool_new(const cn_config_t *cfg, cn_engine_t *engine, unsigned n, cn_pool_t **out);

/** Every worker serves UDP and TCP on addr (SO_REUSEPORT when there are several).
 *  Returns 0 or a negative libuv/errno code. */
int cn_pool_listen(cn_pool_t *p, const struct sockaddr *addr);

/** Start one thread per worker. Returns 0 or a libuv error (threads already started keep
 *  running: stop and join as usual). */
int cn_pool_start(cn_pool_t *p);

/** Ask every worker to stop (any time, any number of times). Does not wait. */
void cn_pool_stop(cn_pool_t *p);

/** Wait until every worker has stopped and its loop has closed (runs them here if they were
 *  never started), then drop the clients left in inboxes. Returns 0, or -EBUSY when a loop
 *  closed with handles still open. Call once, after cn_pool_stop. */
int cn_pool_join(cn_pool_t *p);

/** Free the pool after cn_pool_join. NULL is fine. */
void cn_pool_free(cn_pool_t *p);

unsigned cn_pool_size(const cn_pool_t *p);

/** Sum of the workers' counters (exact after cn_pool_join). */
void cn_pool_get_stats(const cn_pool_t *p, cn_worker_stats_t *out);
/** Sum of the workers' upstream counters; from the main thread while the pool runs. */
void cn_pool_get_upstream_stats(const cn_pool_t *p, cn_upstream_stats_t *out);

/** Every worker checks clients against acl from now on (cn_worker_set_acl: borrowed). */
void cn_pool_set_acl(cn_pool_t *p, const cn_acl_t *acl);

/**
 * Call done(arg) once every worker has gone back to its loop since this call (so none is
 * still inside a query that began before it): on the last worker's thread, or at once when
 * there is no worker. What a reload swapped out can be freed then. 0, or -ENOMEM: then done
 * may never be called (the caller keeps what it meant to free until exit).
 */
int cn_pool_quiesce(cn_pool_t *p, void (*done)(void *), void *arg);
