/*
 * UDP listener: one socket of its own bound to one explicit address, watched with a
 * uv_poll_t and read with recvmmsg in batches of 64 datagrams (each up to 4 KiB; larger ones
 * are dropped). Each datagram goes to cn_worker_query(); replies are buffered and leave
 * together in one sendmmsg per receive batch (others before the loop next polls); what
 * the kernel refuses while its buffer is full is queued (bounded) and sent when the socket
 * is writable. Owned by one worker: every call on that worker's loop thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct cn_worker cn_worker_t;
typedef struct cn_udp cn_udp_t;

/** Bind addr (IPv6 sockets are v6-only) and start reading. reuseport: set SO_REUSEPORT
 *  before binding, so every worker's listener can bind the same address and port.
 *  freebind: set IP_FREEBIND / IPV6_FREEBIND (an address not configured yet binds).
 *  0 or a libuv error. */
int cn_udp_open(uv_loop_t *loop, cn_worker_t *w, const struct sockaddr *addr, bool reuseport,
		bool freebind, cn_udp_t **out);

/** Send one datagram to `to`: copied into the batch sent at the end of the current
 *  receive batch, or before the loop next polls.
 *  0, or (when it had to go out at once) UV_ENOBUFS when the send queue is over its bound
 *  (the reply is dropped), UV_ECANCELED once the listener is closing, or a negative
 *  errno. */
int cn_udp_send(cn_udp_t *u, const struct sockaddr *to, const uint8_t *buf, size_t len);

/** Set SO_REUSEPORT on a UDP or TCP handle created with an address family (uv_*_init_ex),
 *  before it is bound (libuv 1.44 has no flag for it). 0 or a negative errno. */
int cn_set_reuseport(uv_handle_t *h);
/** Set IP_FREEBIND (AF_INET) or IPV6_FREEBIND (AF_INET6) on such a handle, before bind. */
int cn_set_freebind(uv_handle_t *h, int family);
/** The second-instance probe: bind a UDP and then a TCP socket to addr without
 *  SO_REUSEPORT (so a socket another process holds there, SO_REUSEPORT or not, makes it
 *  fail), close them, and return 0 or the first bind's negative errno (-EADDRINUSE:
 *  someone serves addr already). Run before the listeners bind with SO_REUSEPORT. */
int cn_listen_probe(const struct sockaddr *addr, bool freebind);

/** Send the batched replies, stop reading and close; the socket and memory go in the
 *  close callback. Queued replies are dropped. */
void cn_udp_close(cn_udp_t *u);
