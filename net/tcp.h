/*
 * TCP listener per RFC 7766: two-byte length framing (RFC 1035 4.2.2), several queries per
 * connection, each handed to the worker at once so answers go out in whatever order they
 * are ready (RFC 7766 6.2.1.1), an idle timeout, a cap on connections and bounded buffering
 * per connection. A frame too short to hold a DNS header closes the connection.
 *
 * Connections are reference-counted: the worker holds one reference per query it has not
 * answered yet, so a connection closed by the client (or by the idle timer) stays in
 * memory, unusable, until its last answer is dropped.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct cn_worker cn_worker_t;
typedef struct cn_tcp cn_tcp_t;
typedef struct cn_tcp_conn cn_tcp_conn_t;

/* Per-connection bounds (RFC 7766 6.2.2 leaves them to the server). */
#define CN_TCP_MAX_PIPELINE 64            /* queries in flight before we stop reading */
#define CN_TCP_MAX_QUEUED_BYTES (256 << 10) /* unsent answer bytes before we stop reading */

typedef struct cn_tcp_stats {
	uint64_t accepted, refused_over_cap, idle_closed, malformed_closed, frames;
	uint64_t refused_per_client; /* closed at once: the client had max_per_client open */
} cn_tcp_stats_t;

/** Bind addr, listen. reuseport: set SO_REUSEPORT first (every worker binds addr);
 *  freebind: IP_FREEBIND / IPV6_FREEBIND (cn_set_freebind).
 *  idle_ms: idle timeout; max_clients: cap on open connections (over it the newest is
 *  closed), counted in *shared when not NULL — one counter for every worker's listener on
 *  addr, so the cap holds for the address whatever the number of workers. Returns 0 or a
 *  libuv error. */
int cn_tcp_open(uv_loop_t *loop, cn_worker_t *w, const struct sockaddr *addr, bool reuseport,
		bool freebind, unsigned idle_ms, unsigned max_clients, atomic_uint *shared, cn_tcp_t **out);
/** Cap the connections one client address may hold open on this listener (0: none; D3 in
 *  docs/attacks.md). Over it, the new connection is closed at once. Per listener, that is per
 *  worker: with N workers a client may hold up to N times as many. */
void cn_tcp_set_max_per_client(cn_tcp_t *t, unsigned n);
/** Close the listener and every connection it accepted. */
void cn_tcp_close(cn_tcp_t *t);
void cn_tcp_get_stats(const cn_tcp_t *t, cn_tcp_stats_t *out);

/** Take / drop a reference (one per query handed to the worker). */
void cn_tcp_conn_hold(cn_tcp_conn_t *c);
void cn_tcp_conn_release(cn_tcp_conn_t *c);
/** Send one answer (framed): written at once when the socket takes it all and nothing is
 *  queued, else what is left is copied and queued. 0, or -EPIPE when the connection is
 *  closing (the answer is dropped), -ENOMEM, or a libuv error (the connection closes). */
int cn_tcp_conn_send(cn_tcp_conn_t *c, const uint8_t *buf, size_t len);
