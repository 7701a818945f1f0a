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
 * All state lives in cn_worker_t (no globals), so several workers can run side by side,
 * one per thread, once the listeners share ports with SO_REUSEPORT (a later issue).
 * Not thread-safe: every call on the worker's loop thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "net/config.h"
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
} cn_peer_t;

typedef struct cn_worker_stats {
	uint64_t queries;       /* client packets handed to the worker */
	uint64_t refused;       /* by the ACL */
	uint64_t coalesced;     /* joined a resolution already in flight */
	uint64_t resolutions;   /* started for clients */
	uint64_t prefetches;    /* started in the background */
	uint64_t late_answers;  /* client deadline passed first */
	uint64_t abandoned;     /* resolutions stopped at the resolve deadline */
	uint64_t overload;      /* answered at once because the flight table was full */
	uint64_t send_errors;
} cn_worker_stats_t;

/**
 * Create a worker on loop. cfg and engine are borrowed and must outlive it. Creates the
 * upstream client. Returns 0, -ENOMEM, or a libuv error.
 */
int cn_worker_new(uv_loop_t *loop, const cn_config_t *cfg, cn_engine_t *engine,
		  cn_worker_t **out);

/** Serve UDP and TCP on addr. Returns 0 or a negative libuv/errno code (nothing left open). */
int cn_worker_listen(cn_worker_t *w, const struct sockaddr *addr);

/**
 * Stop: abandon every resolution (waiting clients get no reply), close listeners,
 * connections and the upstream client. The loop then runs dry; call cn_worker_free after
 * uv_run() returns. Idempotent.
 */
void cn_worker_stop(cn_worker_t *w);
/** Free a stopped worker once its loop has closed every handle. NULL is fine. */
void cn_worker_free(cn_worker_t *w);

void cn_worker_get_stats(const cn_worker_t *w, cn_worker_stats_t *out);
/** The worker's upstream client counters (zeros once stopped). */
void cn_worker_get_upstream_stats(const cn_worker_t *w, cn_upstream_stats_t *out);

/* ---- for the listeners (udp.c, tcp.c) ---------------------------------------------- */

/**
 * One client packet (pkt is only read during the call). For TCP the caller has taken a
 * reference on peer->tcp (cn_tcp_conn_hold) that the worker drops exactly once, when the
 * query is answered or abandoned.
 */
void cn_worker_query(cn_worker_t *w, const uint8_t *pkt, size_t len, const cn_peer_t *peer);
