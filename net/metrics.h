/*
 * The Prometheus endpoint (`metrics: ADDR@PORT`, --metrics; docs/config.md "Metrics"):
 * `GET /metrics` in the Prometheus text exposition format (version 0.0.4), served by
 * libmicrohttpd on a thread of its own, so a scrape never runs on a worker's or the main
 * loop. What it serves:
 *   - every figure of `cairnctl stats` (cn_stats_walk: the same tables, the same order), as
 *     cairn_<name with '.' -> '_'>, counters with _total, the rest (cache sizes, hit rates,
 *     the predictor's figures) as gauges; the worker and upstream transport counters summed;
 *   - the same worker and upstream rows per worker: cairn_worker_<name>_total{worker="N"}
 *     (also the rows only logged at exit, by field name);
 *   - the latency histograms (net/stats.h CN_HIST_MAP), summed over the workers.
 * Clients outside `metrics_allow` (default loopback) are disconnected at accept.
 *
 * Life: cn_metrics_bind on the main thread before privileges are dropped (a port below
 * 1024 works), cn_metrics_start once the pool exists (the thread starts then),
 * cn_metrics_stop before the pool stops (a scrape reads the workers' counters).
 */
#pragma once

#include "net/control.h"

#include <stdio.h>
#include <sys/socket.h>

#include "net/acl.h"

typedef struct cn_metrics cn_metrics_t;
typedef struct cn_engine cn_engine_t;
typedef struct cn_cache cn_cache_t;
typedef struct cn_pool cn_pool_t;

/** Load libmicrohttpd (dlopen; -ENOENT, logged, when it cannot be), then bind and listen
 *  on addr (a TCP socket, not served yet). acl is borrowed (NULL: loopback). Returns 0,
 *  -ENOENT, -ENOMEM or a negative errno. */
int cn_metrics_bind(const struct sockaddr *addr, socklen_t addr_len, const cn_acl_t *acl,
		    cn_metrics_t **out);

/** Serve /metrics from engine, cache and pool (borrowed) on a thread of libmicrohttpd's.
 *  Returns 0 or -EIO (then cn_metrics_stop still frees it). */
int cn_metrics_start(cn_metrics_t *m, cn_engine_t *engine, cn_cache_t *cache, cn_pool_t *pool,
		     const cn_daemon_stats_t *daemon);

/** Check new connections against acl from now on (borrowed; it must stay valid until the
 *  endpoint stops, like the workers' lists). NULL: loopback. Any thread. */
void cn_metrics_set_acl(cn_metrics_t *m, const cn_acl_t *acl);

/** Stop the thread (waits for a scrape in progress), close the socket, free. NULL is fine. */
void cn_metrics_stop(cn_metrics_t *m);

/** The page /metrics serves, written to f. engine may be NULL (its figures read 0), pool
 *  too (no worker figures). Returns 0 or -EIO (f failed). */
int cn_metrics_render(FILE *f, cn_engine_t *engine, cn_cache_t *cache, const cn_pool_t *pool,
		      const cn_daemon_stats_t *daemon);
