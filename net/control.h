/*
 * Control socket: a Unix stream socket (mode 0600) on which cairnctl, or anything that can
 * write a line to a socket (`socat - UNIX-CONNECT:PATH`), asks the running daemon for its
 * stats and inspects or changes its cache. One command line (at most 4 KiB, ending in a
 * newline or in end of input) per connection; the daemon writes a text reply and closes.
 * A reply that starts with "error:" is a failure. Commands (docs/cairnctl.md has the
 * details and every stats name):
 *
 *   help                       list the commands
 *   stats [--json]             "name value" lines (or one JSON object): outcomes, hit
 *                              rate, misses, cache, upstream
 *   reload                     re-read the configuration file (as SIGHUP does)
 *   cache lookup NAME [TYPE]   what the cache holds for NAME (every type, or TYPE)
 *   cache flush [NAME]         drop everything, or every entry owned by NAME
 *   cache flush NAME --subtree ... and every entry below NAME (also: flush NAME [--subtree])
 *   cache dump FILE            write the cache to FILE (absolute path: the daemon's cwd)
 *   cache load FILE            load a dump into the cache
 *   zones                      hosted zones: serial, records, visibility
 *
 * It runs on one loop (the daemon's main loop). Commands run to completion on that loop;
 * dump and load do file I/O synchronously, which stalls only that loop, not the workers.
 * The engine and cache are borrowed, and must outlive the control socket.
 */
#pragma once

#include <uv.h>

#include "net/upstream.h"
#include "net/worker.h"

typedef struct cn_engine cn_engine_t;
typedef struct cn_cache cn_cache_t;
typedef struct cn_control cn_control_t;

/** The path cairnctl uses when neither -s nor $CAIRN_CONTROL says otherwise. */
#define CN_CONTROL_DEFAULT_PATH "/run/cairn/control.sock"

/** Longest command line accepted, newline excluded. */
#define CN_CONTROL_LINE_MAX 4096
/** A connection that has not sent its line by then is closed. */
#define CN_CONTROL_TIMEOUT_MS 5000
/** Connections served at once; more are closed at once. */
#define CN_CONTROL_MAX_CONNS 32

/**
 * Listen on path (at most 107 bytes). A stale socket file left at path by an earlier run is
 * removed first; if a daemon still answers on it, or path is not a socket, nothing is
 * touched and -EADDRINUSE / -EEXIST is returned. The socket is created with mode 0600.
 * engine and cache are borrowed (cache may not be NULL; engine may be NULL in tests: its
 * lines then read 0). Returns 0, -EINVAL, -ENAMETOOLONG, -ENOMEM or a negative errno.
 */
int cn_control_open(uv_loop_t *loop, const char *path, cn_engine_t *engine, cn_cache_t *cache,
		    cn_control_t **out);

/** After chroot(root): the socket file's path as seen from inside (for its removal at
 *  close). A path outside root is left as it is (it cannot be removed then). */
void cn_control_rebase(cn_control_t *c, const char *root);

/** Stop listening, drop open connections, remove the socket file. The memory is released
 *  once libuv has closed the handles: run the loop afterwards. NULL is fine. */
void cn_control_close(cn_control_t *c);

/** net's counters for `stats`: the sums over every worker (rows in net/stats.h). */
typedef struct cn_daemon_stats {
	CN_DAEMON_STATS_MAP(CN__STAT_FIELD)
} cn_daemon_stats_t;

typedef struct cn_control_net_stats {
	cn_worker_stats_t worker;
	cn_upstream_stats_t upstream;
	cn_daemon_stats_t daemon;
} cn_control_net_stats_t;

/**
 * Source of the worker and upstream transport counters for `stats` (the daemon sums its
 * workers'). Called on the control loop; out is zeroed before the call. Without one, those
 * lines read 0.
 */
typedef void (*cn_control_net_stats_fn)(void *ctx, cn_control_net_stats_t *out);
void cn_control_set_net_stats(cn_control_t *c, cn_control_net_stats_fn fn, void *ctx);

/**
 * What `reload` runs (the daemon's reload, the same as SIGHUP). Called on the control loop;
 * returns 0 when the new configuration is in force (msg: what changed, what needs a
 * restart), or nonzero when it was rejected and the old one keeps running (msg: why).
 * Without one, `reload` answers an error.
 */
typedef int (*cn_control_reload_fn)(void *ctx, char *msg, size_t msglen);
void cn_control_set_reload(cn_control_t *c, cn_control_reload_fn fn, void *ctx);

/** One figure of `stats`: its name, whether it is a gauge (else a counter: only grows), and
 *  its value, an integer (u) or, when real, a fraction (d: the hit rates). */
typedef struct cn_stat {
	const char *name;
	bool gauge;
	bool real;
	uint64_t u;
	double d;
} cn_stat_t;

typedef void (*cn_stat_visit_fn)(void *ctx, const cn_stat_t *st);

/**
 * Every figure `cairnctl stats` prints, in its order, from the tables (resolver/stats.h,
 * cache/cache.h, net/stats.h): what both `stats` and /metrics (net/metrics.c) print. engine
 * may be NULL (its figures read 0); ns: the workers' sums. st->name is valid during the call
 * only. Thread-safe (every source is read with atomics or under the cache's locks).
 */
void cn_stats_walk(cn_engine_t *engine, cn_cache_t *cache, const cn_control_net_stats_t *ns,
		   cn_stat_visit_fn fn, void *ctx);
