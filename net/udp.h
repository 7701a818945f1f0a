/*
 * UDP listener: one socket bound to one explicit address, read with recvmmsg in batches
 * (UV_UDP_RECVMMSG; research/DEPS.md: every batch slot must be a full 64 KiB or libuv 1.44
 * spins). Each datagram goes to cn_worker_query(); replies go out with uv_udp_try_send and
 * fall back to a queued uv_udp_send when the socket is busy.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct cn_worker cn_worker_t;
typedef struct cn_udp cn_udp_t;

/** Bind addr (IPv6 sockets are v6-only) and start reading. 0 or a libuv error. */
int cn_udp_open(uv_loop_t *loop, cn_worker_t *w, const struct sockaddr *addr, cn_udp_t **out);

/** Send one datagram to `to` (copied when it has to be queued). 0, UV_ENOBUFS when the
 *  send queue is over its bound (the reply is dropped), or a libuv error. */
int cn_udp_send(cn_udp_t *u, const struct sockaddr *to, const uint8_t *buf, size_t len);

/** Stop reading and close; memory goes in the close callback. Queued sends are cancelled. */
void cn_udp_close(cn_udp_t *u);
