/*
 * Queries to forward zones' recursive servers (RD=1), sent through c-ares on a worker's
 * libuv loop: the transport net/upstream.c uses when the engine marks a query `forward`
 * (resolver.h, cn_upstream_query_t). Authoritative servers never go through here.
 *
 * One c-ares channel per forwarder address, holding only that server: the engine chooses
 * the server (SRTT, dead servers skipped and probed, failover), c-ares sends the query with
 * the ID we put in it (random from the CSPRNG, unique among the channel's queries in
 * flight: c-ares 1.18 keeps the caller's ID), matches the reply against the ID and the
 * question, and retries over TCP on TC=1. The
 * reply reaches the engine whole (ARES_FLAG_NOCHECKRESP: REFUSED and SERVFAIL packets
 * too), which parses and scrubs it like any other.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "resolver/resolver.h"

typedef struct cn_forward cn_forward_t;
typedef struct cn_fwd_query cn_fwd_query_t;

/** Called once per cn_forward_send unless detached; reply valid during the call only. */
typedef void (*cn_fwd_done_cb)(void *ctx, cn_upstream_event_t ev, const uint8_t *reply,
			       size_t len);

/** A forwarding client on loop (one per worker loop, not thread-safe). 0 or -ENOMEM. */
int cn_forward_new(uv_loop_t *loop, cn_forward_t **out);

/**
 * Send wire (one question; its ID is replaced) to addr and call done(ctx, ...) once: the
 * reply, CN_UP_TIMEOUT (c-ares's one try ran out: CN_FWD_GIVE_UP_MS; the caller's own,
 * shorter deadline detaches the query first), or CN_UP_NETWORK_ERROR. 0 with *out set, or
 * a negative error (done is not called then).
 */
#define CN_FWD_GIVE_UP_MS 5000
int cn_forward_send(cn_forward_t *fw, const uint8_t *wire, size_t len,
		    const struct sockaddr_storage *addr, cn_fwd_done_cb done, void *ctx,
		    cn_fwd_query_t **out);

/** The query's callback will not be called (its caller gave up on it: timeout, cancel). */
void cn_forward_detach(cn_fwd_query_t *q);

/** Queries still pending are dropped (no callback); handles close, memory goes once the
 *  loop has run their close callbacks. May be called from inside a done callback. */
void cn_forward_close(cn_forward_t *fw);
