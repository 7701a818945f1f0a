/*
 * Upstream transport: sends one query to an authoritative server and waits for the reply
 * that really answers it (RFC 5452): a fresh socket with a random source port per UDP query,
 * a random ID from the CSPRNG, and a reply accepted only when its source address and port,
 * ID and question match — the question compared byte for byte, so a 0x20-mixed qname must
 * come back with exactly the case sent. Anything else that arrives (garbage, wrong ID, wrong
 * case, wrong source) is counted and ignored while the wait goes on. A UDP reply with TC=1 is
 * retried over TCP to the same server within the same timeout budget, and the TCP reply is
 * what the caller gets.
 */
#pragma once

#include <stdint.h>
#include <uv.h>

#include "net/stats.h"
#include "resolver/resolver.h"

typedef struct cn_upstream cn_upstream_t;

/** Per-worker upstream client counters (rows in net/stats.h). */
typedef struct cn_upstream_stats {
	CN_UPSTREAM_STATS_MAP(CN__STAT_FIELD)
} cn_upstream_stats_t;

/**
 * Called once per cn_upstream_send. reply/len valid only during the call (NULL unless
 * ev == CN_UP_REPLY). rtt_ms: time from send to the accepted reply (or the timeout).
 */
typedef void (*cn_upstream_done_cb)(void *ctx, cn_upstream_event_t ev, const uint8_t *reply,
				    size_t len, unsigned rtt_ms);

/** Create a client on loop (one per worker loop; not thread-safe). 0, -EINVAL, -ENOMEM. */
int cn_upstream_new(uv_loop_t *loop, cn_upstream_t **out);
/** Cancels every pending query (their callbacks run with CN_UP_NETWORK_ERROR, not counted
 *  in network_errors), closes handles; the memory is released once libuv has closed them,
 *  so run the loop afterwards. cn_upstream_send fails with -ECANCELED from then on. May be
 *  called from inside a done callback. NULL is fine. */
void cn_upstream_close(cn_upstream_t *up);

/**
 * Send q (its ID field is overwritten with a random ID) and call done(ctx, ...) exactly once.
 * q->wire is copied (one question, uncompressed; an OPT RR right after the question sets
 * the UDP size limit, else 512). A matched UDP reply longer than that limit is treated like
 * TC=1. The whole exchange, UDP and any TCP retry, ends q->timeout_ms after this call.
 * Returns 0, or a negative error: -EINVAL (bad query or address, timeout 0), -ECANCELED
 * (client closing), -ENOMEM, or a libuv error from socket/bind/connect/send (done is not
 * called then).
 * The returned handle (may be NULL) lets the caller cancel: cn_upstream_cancel().
 */
typedef struct cn_upstream_pending cn_upstream_pending_t;
int cn_upstream_send(cn_upstream_t *up, const cn_upstream_query_t *q, cn_upstream_done_cb done,
		     void *ctx, cn_upstream_pending_t **handle);
/** Cancel a pending query; its callback is not called. Valid until the callback has been
 *  called (a no-op from inside it); the handle must not be used after that. NULL is fine. */
void cn_upstream_cancel(cn_upstream_pending_t *p);

/** A copy of the counters; may be called from any thread while the client is open. */
void cn_upstream_get_stats(const cn_upstream_t *up, cn_upstream_stats_t *out);
