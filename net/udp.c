/*
 * UDP listener. Receiving: one slab of CN_UDP_BATCH x 64 KiB per listener, handed to libuv
 * for every recvmmsg call. libuv 1.44 (src/unix/udp.c) sizes a batch as buf.len / 65536
 * and spins at 100% CPU when that is 0, so every slot must be a full 64 KiB (DEPS.md). The
 * slab belongs to the listener and is never freed in recv_cb: chunks (UV_UDP_MMSG_CHUNK)
 * point into it, and the closing UV_UDP_MMSG_FREE call has nothing to release.
 *
 * Sending: every reply is copied into this listener's reply buffer (packed, up to
 * CN_UDP_OUT_BYTES and CN_UDP_OUT_MSGS) and they leave together in one sendmmsg on the
 * socket (libuv 1.44 has no batched try_send): at the end of each recvmmsg batch (the
 * UV_UDP_MMSG_FREE callback), so the replies to one batch of cache hits cost one sendmmsg
 * and go out before the next batch is read (the client's next queries overlap with our
 * work: flushing only once per loop wake-up, after up to 32 datagrams, measured slower);
 * and from a uv_prepare_t, which runs once per loop iteration just before the loop polls,
 * for replies made elsewhere (resolutions finishing, timers). Whatever the kernel does not
 * take (socket buffer full: EAGAIN) is copied into a queued uv_udp_send, with the queue
 * bounded so a client that never reads cannot make us buffer without limit.
 *
 * Several workers may each bind a listener to the same address (SO_REUSEPORT, set before
 * bind as DEPS.md describes); the kernel spreads clients over them by address and port.
 */
#include "net/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/log.h"
#include "net/worker.h"

#define CN_UDP_SLOT 65536     /* libuv's recvmmsg slot size: must not be smaller */
#define CN_UDP_BATCH 20       /* UV__MMSG_MAXWIDTH in libuv 1.44 */
#define CN_UDP_MAX_QUEUED (4u << 20) /* bytes of queued replies per listener */
#define CN_UDP_OUT_MSGS 64        /* replies per sendmmsg */
#define CN_UDP_OUT_BYTES (64 << 10) /* reply bytes buffered (a reply is at most 4096: the
				       edns_udp_size limit; one larger goes out alone) */

struct cn_udp {
	uv_udp_t handle;
	uv_prepare_t flusher;  /* sends the buffered replies before the loop polls */
	unsigned handles_open; /* close callbacks still to come */
	cn_worker_t *w;
	uint8_t *slab;
	bool slab_busy;
	unsigned nout;         /* replies waiting in out */
	size_t out_used;       /* bytes of out they take */
	struct mmsghdr msgs[CN_UDP_OUT_MSGS];
	struct iovec iov[CN_UDP_OUT_MSGS];
	struct sockaddr_in6 to[CN_UDP_OUT_MSGS]; /* large enough for IPv4 and IPv6 */
	uint8_t *out;          /* CN_UDP_OUT_BYTES */
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

static void flush(cn_udp_t *u);

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		    const struct sockaddr *addr, unsigned flags)
{
	cn_udp_t *u = h->data;
	if (!(flags & UV_UDP_MMSG_CHUNK) && buf->base == (char *)u->slab) {
		u->slab_busy = false; /* last call for this buffer (MMSG_FREE, EAGAIN or error) */
		flush(u); /* the replies to this recvmmsg batch, before the next recvmmsg */
	}
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

static void on_prepare(uv_prepare_t *p);

int cn_udp_open(uv_loop_t *loop, cn_worker_t *w, const struct sockaddr *addr, bool reuseport,
		bool freebind, cn_udp_t **out)
{
	cn_udp_t *u = calloc(1, sizeof(*u));
	if (!u)
		return UV_ENOMEM;
	u->slab = malloc(CN_UDP_SLOT * CN_UDP_BATCH);
	u->out = malloc(CN_UDP_OUT_BYTES);
	if (!u->slab || !u->out) {
		free(u->slab);
		free(u->out);
		free(u);
		return UV_ENOMEM;
	}
	u->w = w;
	int rc = uv_udp_init_ex(loop, &u->handle, addr->sa_family | UV_UDP_RECVMMSG);
	if (rc < 0) {
		free(u->slab);
		free(u->out);
		free(u);
		return rc;
	}
	u->handle.data = u;
	uv_prepare_init(loop, &u->flusher);
	u->flusher.data = u;
	u->handles_open = 2;
	uv_prepare_start(&u->flusher, on_prepare);
	uv_unref((uv_handle_t *)&u->flusher); /* it must not keep the loop alive */
	if (reuseport)
		rc = cn_set_reuseport((uv_handle_t *)&u->handle);
	if (rc == 0 && freebind)
		rc = cn_set_freebind((uv_handle_t *)&u->handle, addr->sa_family);
	unsigned bflags = addr->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
	if (rc == 0)
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

/* Copy one reply into a uv_udp_send request queued on the handle (its buffer is full). */
static int send_queued(cn_udp_t *u, const struct sockaddr *to, const uint8_t *buf, size_t len)
{
	if (uv_udp_get_send_queue_size(&u->handle) + len > CN_UDP_MAX_QUEUED)
		return UV_ENOBUFS;
	send_req_t *s = malloc(sizeof(*s) + len);
	if (!s)
		return UV_ENOMEM;
	s->len = len;
	memcpy(s->data, buf, len);
	uv_buf_t b = uv_buf_init((char *)s->data, (unsigned)len);
	int rc = uv_udp_send(&s->req, &u->handle, &b, 1, to, on_sent);
	if (rc < 0)
		free(s);
	return rc;
}

static int send_now(cn_udp_t *u, const struct sockaddr *to, const uint8_t *buf, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int rc = uv_udp_try_send(&u->handle, &b, 1, to);
	if (rc >= 0)
		return 0;
	return rc == UV_EAGAIN ? send_queued(u, to, buf, len) : rc;
}

/*
 * Send the batched replies with sendmmsg. A message the kernel refuses is retried alone
 * (send_now: queued on EAGAIN, dropped and logged on other errors) and the rest go on.
 */
static void flush(cn_udp_t *u)
{
	uv_os_fd_t fd;
	unsigned i = 0;
	if (u->nout == 0)
		return;
	if (uv_fileno((uv_handle_t *)&u->handle, &fd) != 0) {
		u->nout = 0; /* closing: nothing can be sent */
		u->out_used = 0;
		return;
	}
	while (i < u->nout) {
		int n;
		do
			n = sendmmsg(fd, u->msgs + i, u->nout - i, MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			i += (unsigned)n;
			continue;
		}
		/* The first message of the rest failed: send it the slow way, move past it. */
		struct mmsghdr *m = &u->msgs[i];
		int rc = send_now(u, m->msg_hdr.msg_name, m->msg_hdr.msg_iov->iov_base,
				  m->msg_hdr.msg_iov->iov_len);
		if (rc < 0)
			cn_log(CN_LOG_DEBUG, "udp send error: %s", uv_strerror(rc));
		i++;
	}
	u->nout = 0;
	u->out_used = 0;
}

static void on_prepare(uv_prepare_t *p)
{
	flush(p->data);
}

int cn_udp_send(cn_udp_t *u, const struct sockaddr *to, const uint8_t *buf, size_t len)
{
	if (len > CN_UDP_OUT_BYTES / 8 || uv_is_closing((uv_handle_t *)&u->handle))
		return send_now(u, to, buf, len);
	if (u->nout == CN_UDP_OUT_MSGS || u->out_used + len > CN_UDP_OUT_BYTES)
		flush(u);
	unsigned k = u->nout++;
	uint8_t *slot = u->out + u->out_used;
	u->out_used += len;
	memcpy(slot, buf, len);
	socklen_t tolen = to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);
	memcpy(&u->to[k], to, tolen);
	u->iov[k] = (struct iovec){ .iov_base = slot, .iov_len = len };
	u->msgs[k].msg_hdr = (struct msghdr){ .msg_name = &u->to[k], .msg_namelen = tolen,
					      .msg_iov = &u->iov[k], .msg_iovlen = 1 };
	return 0;
}

int cn_set_reuseport(uv_handle_t *h)
{
	uv_os_fd_t fd;
	int one = 1;
	int rc = uv_fileno(h, &fd);
	if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		rc = -errno;
	return rc;
}

static int freebind_fd(int fd, int family)
{
	int one = 1;
	if (family == AF_INET6)
		return setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)) ? -errno : 0;
	return setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) ? -errno : 0;
}

int cn_set_freebind(uv_handle_t *h, int family)
{
	uv_os_fd_t fd;
	int rc = uv_fileno(h, &fd);
	return rc == 0 ? freebind_fd(fd, family) : rc;
}

/* One plain bind (no SO_REUSEPORT) of a socket of this type; 0 or a negative errno. */
static int probe_one(const struct sockaddr *addr, int type, bool freebind)
{
	int fd = socket(addr->sa_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, rc = 0;
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		rc = -errno;
	/* TCP: SO_REUSEADDR, as libuv sets it, so connections in TIME_WAIT do not count;
	 * Linux still refuses the bind while another socket listens on the address. */
	if (rc == 0 && type == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		rc = -errno;
	if (rc == 0 && freebind)
		rc = freebind_fd(fd, addr->sa_family);
	socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);
	if (rc == 0 && bind(fd, addr, len) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int cn_listen_probe(const struct sockaddr *addr, bool freebind)
{
	int rc = probe_one(addr, SOCK_DGRAM, freebind);
	return rc == 0 ? probe_one(addr, SOCK_STREAM, freebind) : rc;
}

static void on_closed(uv_handle_t *h)
{
	cn_udp_t *u = h->data;
	if (--u->handles_open > 0)
		return;
	free(u->slab);
	free(u->out);
	free(u);
}

void cn_udp_close(cn_udp_t *u)
{
	if (!u || uv_is_closing((uv_handle_t *)&u->handle))
		return;
	flush(u);
	uv_udp_recv_stop(&u->handle);
	uv_close((uv_handle_t *)&u->handle, on_closed);
	uv_close((uv_handle_t *)&u->flusher, on_closed);
}
