/*
 * A worker: one libuv loop and everything that runs on it — the UDP and TCP listeners, the
 * upstream client, and the table of resolutions in flight. It drives the engine
 * (resolver/resolver.h) for each client packet:
 *
 *   listener -> cn_worker_query(): ACL (else REFUSED), cn_engine_query();
 *     CN_DONE: send, count        CN_DROP: count
 *     CN_MISS: join the resolution in flight for (qname, qtype, qclass), or start one:
 *              cn_resolve_begin, then produce -> cn_upstream_send -> consume until CN_DONE,
 *              then cn_resolve_answer for every waiting client.
 *   a client's deadline (limits.client_deadline_ms) passes first: cn_engine_late_answer();
 *   the resolution goes on until limits.resolve_deadline_ms, then is abandoned.
 *
 * All state lives in cn_worker_t (no globals). Several workers run side by side, one per
 * thread (net/pool.c), each with its own listeners on the same addresses (SO_REUSEPORT),
 * linked with cn_worker_link() into one in-flight table, so that identical questions are
 * coalesced across all of them (worker.c explains the hand-off).
 * Threads: every call on the worker's loop thread, except cn_worker_request_stop() (any
 * thread), cn_worker_get_upstream_stats() (any thread while the worker runs) and
 * cn_worker_drain()/cn_worker_free() (once every worker's loop has ended).
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "net/config.h"
#include "net/stats.h"
#include "net/upstream.h"
#include "resolver/resolver.h"

typedef struct cn_worker cn_worker_t;
typedef struct cn_udp cn_udp_t;
typedef struct cn_tcp_conn cn_tcp_conn_t;

/** Where the answer to one client query goes. UDP: listener + client address. TCP: the
 *  connection, on which the query holds a reference until cn_worker_peer_release(). */
typedef struct cn_peer {
	cn_udp_t *udp;
	cn_tcp_conn_t *tcp;
	struct sockaddr_storage addr; /* the client's address (both transports) */
	uint32_t wait_slot;           /* worker.c: 1 + the per-client counter this query holds
					 while it waits on a resolution; 0: none */
	uint64_t start_ns;            /* worker.c: uv_hrtime() when the query reached the
					 worker, set for queries that wait on a resolution */
} cn_peer_t;

typedef struct cn_querylog cn_querylog_t;

/** Per-worker counters (rows in net/stats.h). */
typedef struct cn_worker_stats {
	CN_WORKER_STATS_MAP(CN__STAT_FIELD)
} cn_worker_stats_t;

/**
 * Create a worker on loop (not running yet, or this thread's). cfg and engine are borrowed
 * and must outlive it. Creates the upstream client and the inbox (a uv_async_t that keeps
 * the loop alive until cn_worker_stop). Returns 0, -ENOMEM, or a libuv error (then run the
 * loop once: a half-made upstream client is closing on it).
 */
int cn_worker_new(uv_loop_t *loop, const cn_config_t *cfg, cn_engine_t *engine,
		  cn_worker_t **out);

/**
 * Make n workers one group (before any of them runs): they share one in-flight table, so a
 * question is resolved by one of them at a time and the others hand their clients to it.
 * Not needed for one.
 */
void cn_worker_link(cn_worker_t *const *all, size_t n);

/** Serve UDP and TCP on addr. reuseport: set SO_REUSEPORT (several workers bind addr).
 *  tcp_conns: the address's connection count shared by every worker's TCP listener (the
 *  tcp_max_clients cap applies to it), or NULL. Returns 0 or a negative libuv/errno code
 *  (nothing left open). */
int cn_worker_listen(cn_worker_t *w, const struct sockaddr *addr, bool reuseport,
		     atomic_uint *tcp_conns);

/**
 * Stop: abandon every resolution (waiting clients get no reply), close listeners,
 * connections, the upstream client and the inbox. The loop then runs dry; call
 * cn_worker_free after uv_run() returns. Idempotent. On the worker's thread.
 */
void cn_worker_stop(cn_worker_t *w);
/** From any thread: make the worker's loop call cn_worker_stop. */
void cn_worker_request_stop(cn_worker_t *w);
/** Count and release the clients in messages that reached the inbox after it closed (their
 *  workers' loops are gone: call only when every worker of the group has stopped and its
 *  loop has ended). cn_worker_free does it too. */
void cn_worker_drain(cn_worker_t *w);
/** Free a stopped worker once its loop has closed every handle. NULL is fine. */
void cn_worker_free(cn_worker_t *w);

void cn_worker_get_stats(const cn_worker_t *w, cn_worker_stats_t *out);

/** Install another access list (a reload), from any thread: queries that arrive after the
 *  call are checked against it. acl is borrowed and must stay valid until the worker is
 *  freed or another list replaces it and no query can still be reading it (the daemon keeps
 *  every list it installed until exit). NULL restores the start-up list. */
void cn_worker_set_acl(cn_worker_t *w, const cn_acl_t *acl);
/** A worker's latency histogram (net/stats.h CN_HIST_MAP), from any thread. */
void cn_worker_get_hist(const cn_worker_t *w, cn_hist_id_t id, cn_hist_t *out);

/** Write one line per client query to ql (net/querylog.h) while it is on; NULL: never.
 *  Set before the worker runs; ql is borrowed and must outlive the worker. */
void cn_worker_set_querylog(cn_worker_t *w, cn_querylog_t *ql);

/** Run fn(arg) on w's loop, between two queries (from any thread); after the loop ended,
 * at cn_worker_drain(). 0 or -ENOMEM. */
int cn_worker_call(cn_worker_t *w, void (*fn)(void *), void *arg);
/** The worker's upstream client counters (zeros once stopped). From any thread while the
 *  worker runs (not while it stops). */
void cn_worker_get_upstream_stats(const cn_worker_t *w, cn_upstream_stats_t *out);

/* ---- for the listeners (udp.c, tcp.c) ---------------------------------------------- */

/**
 * One client packet (pkt is only read during the call). For TCP the caller has taken a
 * reference on peer->tcp (cn_tcp_conn_hold) that the worker drops exactly once, when the
 * query is answered or abandoned.
 */
void cn_worker_query(cn_worker_t *w, const uint8_t *pkt, size_t len, const cn_peer_t *peer);

/**
 * A UDP listener brackets each receive batch with these: between them cn_worker_query()
 * takes the batch's clock readings (monotonic and wall, read once at begin) instead of
 * reading the clocks per query, and a cache hit's latency is recorded at end, once the
 * batch's replies are sent (end - begin for every hit of the batch). Not nested.
 */
void cn_worker_batch_begin(cn_worker_t *w);
void cn_worker_batch_end(cn_worker_t *w);
/** Between the batch's last query and its sendmmsg: what the ready-to-send table served
 *  is counted in the cache's statistics (cn_engine_hot_credit) before a client can see a
 *  reply. */
void cn_worker_batch_answered(cn_worker_t *w);
