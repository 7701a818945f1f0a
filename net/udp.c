/*
 * UDP listener. Receiving: one slab of CN_UDP_BATCH x 64 KiB per listener, handed to libuv
 * for every recvmmsg call. libuv 1.44 (src/unix/udp.c) sizes a batch as buf.len / 65536
 * and spins at 100% CPU when that is 0, so every slot must be a full 64 KiB (DEPS.md). The
 * slab belongs to the listener and is never freed in recv_cb: chunks (UV_UDP_MMSG_CHUNK)
 * point into it, and the closing UV_UDP_MMSG_FREE call has nothing to release.
 *
 * Sending: uv_udp_try_send first (no allocation, one syscall); when the socket buffer is
 * full or sends are already queued libuv says UV_EAGAIN and the reply is copied into a
 * queued uv_udp_send, with the queue bounded so a client that never reads cannot make us
 * buffer without limit.
 */
#include "net/udp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/log.h"
#include "net/worker.h"

#define CN_UDP_SLOT 65536     /* libuv's recvmmsg slot size: must not be smaller */
#define CN_UDP_BATCH 20       /* UV__MMSG_MAXWIDTH in libuv 1.44 */
#define CN_UDP_MAX_QUEUED (4u << 20) /* bytes of queued replies per listener */

struct cn_udp {
	uv_udp_t handle;
	cn_worker_t *w;
	uint8_t *slab;
	bool slab_busy;
};

typedef struct send_req {
	uv_udp_send_t req;
	size_t len;
	uint8_t data[];
} send_req_t;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	cn_udp_t *u = h->data;
	if (u->slab_busy) {
		/* Never expected (libuv releases the batch before asking again); refusing is
		 * safe: a 0-length buffer makes libuv report UV_ENOBUFS and move on. */
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	u->slab_busy = true;
	*buf = uv_buf_init((char *)u->slab, CN_UDP_SLOT * CN_UDP_BATCH);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		    const struct sockaddr *addr, unsigned flags)
{
	cn_udp_t *u = h->data;
	if (!(flags & UV_UDP_MMSG_CHUNK) && buf->base == (char *)u->slab)
		u->slab_busy = false; /* last call for this buffer (MMSG_FREE, EAGAIN or error) */
	if (nread < 0) {
		cn_log(CN_LOG_DEBUG, "udp receive error: %s", uv_strerror((int)nread));
		return;
	}
	if (nread == 0 || addr == NULL)
		return;
	cn_peer_t peer = { .udp = u, .tcp = NULL };
	memcpy(&peer.addr, addr,
	       addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					   : sizeof(struct sockaddr_in));
	cn_worker_query(u->w, (const uint8_t *)buf->base, (size_t)nread, &peer);
}

int cn_udp_open(uv_loop_t *loop, cn_worker_t *w, const struct sockaddr *addr, cn_udp_t **out)
{
	cn_udp_t *u = calloc(1, sizeof(*u));
	if (!u)
		return UV_ENOMEM;
	u->slab = malloc(CN_UDP_SLOT * CN_UDP_BATCH);
	if (!u->slab) {
		free(u);
		return UV_ENOMEM;
	}
	u->w = w;
	int rc = uv_udp_init_ex(loop, &u->handle, addr->sa_family | UV_UDP_RECVMMSG);
	if (rc < 0) {
		free(u->slab);
		free(u);
		return rc;
	}
	u->handle.data = u;
	unsigned bflags = addr->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
	rc = uv_udp_bind(&u->handle, addr, bflags);
	if (rc == 0)
		rc = uv_udp_recv_start(&u->handle, on_alloc, on_recv);
	if (rc < 0) {
		cn_udp_close(u);
		return rc;
	}
	*out = u;
	return 0;
}

static void on_sent(uv_udp_send_t *req, int status)
{
	send_req_t *s = (send_req_t *)req;
	if (status < 0 && status != UV_ECANCELED)
		cn_log(CN_LOG_DEBUG, "udp send error: %s", uv_strerror(status));
	free(s);
}

int cn_udp_send(cn_udp_t *u, const struct sockaddr *to, const uint8_t *buf, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int rc = uv_udp_try_send(&u->handle, &b, 1, to);
	if (rc >= 0)
		return 0;
	if (rc != UV_EAGAIN)
		return rc;
	if (uv_udp_get_send_queue_size(&u->handle) + len > CN_UDP_MAX_QUEUED)
		return UV_ENOBUFS;
	send_req_t *s = malloc(sizeof(*s) + len);
	if (!s)
		return UV_ENOMEM;
	s->len = len;
	memcpy(s->data, buf, len);
	b = uv_buf_init((char *)s->data, (unsigned)len);
	rc = uv_udp_send(&s->req, &u->handle, &b, 1, to, on_sent);
	if (rc < 0)
		free(s);
	return rc;
}

static void on_closed(uv_handle_t *h)
{
	cn_udp_t *u = h->data;
	free(u->slab);
	free(u);
}

void cn_udp_close(cn_udp_t *u)
{
	if (!u || uv_is_closing((uv_handle_t *)&u->handle))
		return;
	uv_udp_recv_stop(&u->handle);
	uv_close((uv_handle_t *)&u->handle, on_closed);
}
