/*
 * UDP listener on a socket of its own, watched with a uv_poll_t (libuv 1.44's uv_udp_t
 * reads at most 20 datagrams per recvmmsg, into 64 KiB slots, and stops after 32 per
 * wake-up: DEPS.md).
 *
 * Receiving: when the socket is readable, recvmmsg up to CN_UDP_BATCH datagrams into the
 * listener's slab (CN_UDP_BATCH slots of CN_UDP_SLOT bytes; a datagram that does not fit is
 * no DNS query worth answering and is dropped), hand each to cn_worker_query(), send the
 * batch's replies, and read again while batches come back with CN_UDP_BUSY or more (at
 * most CN_UDP_READS per wake-up, so the loop's other handles get their turn). A shorter
 * batch ends the wake-up and the next read waits for the loop's poll, so an idle socket
 * never costs a read that finds nothing. Under sustained load the listener leaves epoll
 * altogether (busy mode, below). The worker reads its clocks
 * once per batch (cn_worker_batch_begin/_end), not per query.
 *
 * Sending: every reply is copied into this listener's reply buffer (packed, up to
 * CN_UDP_OUT_BYTES and CN_UDP_OUT_MSGS) and they leave together in one sendmmsg: at the
 * end of each receive batch, so the replies to one batch of cache hits cost one sendmmsg
 * and go out before the next batch is read; and from a uv_prepare_t, which runs once per
 * loop iteration just before the loop polls, for replies made elsewhere (resolutions
 * finishing, timers). Whatever the kernel does not take (socket buffer full: EAGAIN) is
 * copied into the listener's queue, bounded so a client that never reads cannot make us
 * buffer without limit, and sent when the socket is writable again.
 *
 * Several workers may each bind a listener to the same address (SO_REUSEPORT, set before
 * bind); the kernel spreads clients over them by address and port.
 */
#include "net/udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/log.h"
#include "net/worker.h"

#define CN_UDP_BATCH 64       /* datagrams per recvmmsg */
#define CN_UDP_SLOT 4096      /* bytes per datagram read; larger ones are dropped */
#define CN_UDP_STRIDE (CN_UDP_SLOT + 64) /* slot to slot: one cache line more than a page,
				    so the slots' first lines (where a query is) do not all
				    fall in the same cache set, as page-aligned slots do */
#define CN_UDP_READS 4        /* batches read per wake-up before the loop's others */
#define CN_UDP_BUSY 16        /* a batch this full: read again at once (queries arrived
				 while we answered) instead of asking epoll first */
#define CN_UDP_MAX_QUEUED (4u << 20) /* bytes of queued replies per listener */
#define CN_UDP_OUT_MSGS 64        /* replies per sendmmsg */
#define CN_UDP_OUT_BYTES (64 << 10) /* reply bytes buffered (a reply is at most 4096: the
				       edns_udp_size limit; one larger goes out alone) */

typedef struct queued {
	struct queued *next;
	struct sockaddr_in6 to; /* large enough for IPv4 and IPv6 */
	socklen_t tolen;
	size_t len;
	uint8_t data[];
} queued_t;

struct cn_udp {
	uv_poll_t poll;
	uv_prepare_t flusher;  /* sends the buffered replies before the loop polls */
	uv_idle_t busy;        /* busy mode: reads the socket on every loop iteration */
	bool busy_on;
	unsigned handles_open; /* close callbacks still to come */
	int fd;
	int events;            /* polled for: UV_READABLE, | UV_WRITABLE while queued */
	bool closing;
	cn_worker_t *w;
	/* receiving */
	uint8_t *slab;         /* CN_UDP_BATCH slots of CN_UDP_SLOT, CN_UDP_STRIDE apart */
	struct mmsghdr in[CN_UDP_BATCH];
	struct iovec in_iov[CN_UDP_BATCH];
	struct sockaddr_in6 from[CN_UDP_BATCH];
	/* the reply batch */
	unsigned nout;         /* replies waiting in out */
	size_t out_used;       /* bytes of out they take */
	struct mmsghdr msgs[CN_UDP_OUT_MSGS];
	struct iovec iov[CN_UDP_OUT_MSGS];
	struct sockaddr_in6 to[CN_UDP_OUT_MSGS];
	uint8_t *out;          /* CN_UDP_OUT_BYTES */
	/* what the kernel refused, oldest first */
	queued_t *qhead, **qtail;
	size_t qbytes;
};

static void flush(cn_udp_t *u);
static int freebind_fd(int fd, int family);
static void on_poll(uv_poll_t *p, int status, int events);

static void poll_for(cn_udp_t *u, int events)
{
	if (u->closing || events == u->events)
		return;
	u->events = events;
	int rc = uv_poll_start(&u->poll, events, on_poll);
	if (rc < 0)
		cn_log(CN_LOG_WARNING, "udp poll: %s", uv_strerror(rc));
}

/* Copy one reply into the queue (the socket's buffer is full). */
static int send_queued(cn_udp_t *u, const struct sockaddr *to, socklen_t tolen,
		       const uint8_t *buf, size_t len)
{
	if (u->qbytes + len > CN_UDP_MAX_QUEUED)
		return UV_ENOBUFS;
	queued_t *q = malloc(sizeof(*q) + len);
	if (!q)
		return UV_ENOMEM;
	q->next = NULL;
	memcpy(&q->to, to, tolen);
	q->tolen = tolen;
	q->len = len;
	memcpy(q->data, buf, len);
	*u->qtail = q;
	u->qtail = &q->next;
	u->qbytes += len;
	poll_for(u, UV_READABLE | UV_WRITABLE);
	return 0;
}

static socklen_t addr_len(const struct sockaddr *a)
{
	return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* One datagram now (or queued on EAGAIN). 0 or a negative errno. */
static int send_now(cn_udp_t *u, const struct sockaddr *to, const uint8_t *buf, size_t len)
{
	if (u->closing)
		return UV_ECANCELED;
	socklen_t tolen = addr_len(to);
	ssize_t n;
	do
		n = sendto(u->fd, buf, len, MSG_DONTWAIT, to, tolen);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
		return send_queued(u, to, tolen, buf, len);
	return -errno;
}

/* The socket is writable: send what was queued, in order, until the kernel refuses. */
static void send_queue(cn_udp_t *u)
{
	while (u->qhead) {
		queued_t *q = u->qhead;
		ssize_t n;
		do
			n = sendto(u->fd, q->data, q->len, MSG_DONTWAIT, (struct sockaddr *)&q->to,
				   q->tolen);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
			return; /* still full: wait for the next writable */
		if (n < 0)
			cn_log(CN_LOG_DEBUG, "udp send error: %s", strerror(errno));
		u->qhead = q->next;
		if (!u->qhead)
			u->qtail = &u->qhead;
		u->qbytes -= q->len;
		free(q);
	}
	poll_for(u, UV_READABLE);
}

/* One recvmmsg: every datagram to the worker, then their replies out. The number read,
 * 0 when there was nothing, or -1 on an error. */
static int read_batch(cn_udp_t *u)
{
	for (unsigned i = 0; i < CN_UDP_BATCH; i++) {
		u->in[i].msg_hdr.msg_namelen = sizeof(u->from[i]);
		u->in[i].msg_hdr.msg_flags = 0;
	}
	int n;
	do
		n = recvmmsg(u->fd, u->in, CN_UDP_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		cn_log(CN_LOG_DEBUG, "udp receive error: %s", strerror(errno));
		return -1;
	}
	cn_worker_batch_begin(u->w);
	for (int i = 0; i < n && !u->closing; i++) {
		const struct msghdr *h = &u->in[i].msg_hdr;
		if ((h->msg_flags & MSG_TRUNC) || u->in[i].msg_len == 0)
			continue; /* larger than a slot, or empty: no query */
		cn_peer_t peer = { .udp = u, .tcp = NULL };
		memcpy(&peer.addr, &u->from[i], h->msg_namelen < sizeof(peer.addr)
							? h->msg_namelen : sizeof(peer.addr));
		cn_worker_query(u->w, u->slab + (size_t)i * CN_UDP_STRIDE, u->in[i].msg_len, &peer);
	}
	cn_worker_batch_answered(u->w);
	flush(u); /* the replies to this batch, before the next recvmmsg */
	cn_worker_batch_end(u->w);
	return n;
}

/*
 * Busy mode. A socket registered with epoll pays, for every reply the kernel frees after
 * the client read it, a wake-up of the socket's wait queue (sock_wfree ->
 * sock_def_write_space: two interrupt-saving locks, the epoll entry being a "sleeper"),
 * whatever events it was registered for; in this VM that alone cost ~290 ns a reply
 * (scripts/echo_limit with its socket merely added to an epoll set: 2,124 -> 2,412 ns of
 * CPU per query). So while queries keep coming (a batch of CN_UDP_BUSY or more), the
 * listener takes its socket out of the poll (libuv drops it from epoll at its next event)
 * and reads it on every loop iteration instead (an idle handle: the loop polls its other
 * handles without blocking); a batch under CN_UDP_BUSY / 2 puts it back, so a lightly
 * loaded worker never spins. No query ever waits for it: in busy mode the socket is read
 * at once, out of it epoll wakes us.
 */
static void on_busy(uv_idle_t *h);

static void busy_enter(cn_udp_t *u)
{
	if (u->busy_on || u->closing || u->qhead)
		return; /* queued replies need the writable event: stay in the poll */
	u->busy_on = true;
	uv_poll_stop(&u->poll);
	u->events = 0;
	uv_idle_start(&u->busy, on_busy);
}

static void busy_leave(cn_udp_t *u)
{
	if (!u->busy_on)
		return;
	u->busy_on = false;
	uv_idle_stop(&u->busy);
	if (!u->closing)
		poll_for(u, u->qhead ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

static void on_busy(uv_idle_t *h)
{
	cn_udp_t *u = h->data;
	int n = CN_UDP_BATCH;
	for (unsigned r = 0; r < CN_UDP_READS && !u->closing && n >= CN_UDP_BUSY; r++)
		n = read_batch(u);
	if (n < CN_UDP_BUSY / 2 || u->qhead)
		busy_leave(u); /* load fell (or an error, or replies queued): back to epoll */
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	cn_udp_t *u = p->data;
	if (status < 0) {
		cn_log(CN_LOG_DEBUG, "udp poll error: %s", uv_strerror(status));
		return;
	}
	if (events & UV_WRITABLE)
		send_queue(u);
	if (!(events & UV_READABLE))
		return;
	int n = 0;
	for (unsigned r = 0; r < CN_UDP_READS && !u->closing; r++)
		if ((n = read_batch(u)) < CN_UDP_BUSY)
			break;
	if (n >= CN_UDP_BUSY)
		busy_enter(u);
}

static void on_prepare(uv_prepare_t *p);

/* A socket of this type bound to addr (IPv6 only for IPv6; the reuse option opt, when
 * not 0: SO_REUSEPORT or SO_REUSEADDR; IP_FREEBIND): its fd, or a negative errno. */
static int socket_bound(const struct sockaddr *addr, int type, int opt, bool freebind)
{
	int fd = socket(addr->sa_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, rc = 0;
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		rc = -errno;
	if (rc == 0 && opt && setsockopt(fd, SOL_SOCKET, opt, &one, sizeof(one)) != 0)
		rc = -errno;
	if (rc == 0 && freebind)
		rc = freebind_fd(fd, addr->sa_family);
	if (rc == 0 && bind(fd, addr, addr_len(addr)) != 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

static int socket_open(const struct sockaddr *addr, bool reuseport, bool freebind)
{
	return socket_bound(addr, SOCK_DGRAM | SOCK_NONBLOCK, reuseport ? SO_REUSEPORT : 0,
			    freebind);
}

int cn_udp_open(uv_loop_t *loop, cn_worker_t *w, const struct sockaddr *addr, bool reuseport,
		bool freebind, cn_udp_t **out)
{
	cn_udp_t *u = calloc(1, sizeof(*u));
	if (!u)
		return UV_ENOMEM;
	u->slab = malloc((size_t)CN_UDP_STRIDE * CN_UDP_BATCH);
	u->out = malloc(CN_UDP_OUT_BYTES);
	u->fd = u->slab && u->out ? socket_open(addr, reuseport, freebind) : UV_ENOMEM;
	int rc = u->fd < 0 ? u->fd : uv_poll_init(loop, &u->poll, u->fd);
	if (rc < 0) {
		if (u->fd >= 0)
			close(u->fd);
		free(u->slab);
		free(u->out);
		free(u);
		return rc;
	}
	u->w = w;
	u->qtail = &u->qhead;
	for (unsigned i = 0; i < CN_UDP_BATCH; i++) {
		u->in_iov[i] = (struct iovec){ .iov_base = u->slab + (size_t)i * CN_UDP_STRIDE,
					       .iov_len = CN_UDP_SLOT };
		u->in[i].msg_hdr = (struct msghdr){ .msg_name = &u->from[i],
						    .msg_iov = &u->in_iov[i], .msg_iovlen = 1 };
	}
	u->poll.data = u;
	uv_prepare_init(loop, &u->flusher);
	u->flusher.data = u;
	uv_idle_init(loop, &u->busy);
	u->busy.data = u;
	u->handles_open = 3;
	uv_prepare_start(&u->flusher, on_prepare);
	uv_unref((uv_handle_t *)&u->flusher); /* it must not keep the loop alive */
	uv_unref((uv_handle_t *)&u->busy);
	poll_for(u, UV_READABLE);
	*out = u;
	return 0;
}

/*
 * Send the batched replies with sendmmsg. A message the kernel refuses is retried alone
 * (send_now: queued on EAGAIN, dropped and logged on other errors) and the rest go on.
 */
static void flush(cn_udp_t *u)
{
	unsigned i = 0;
	if (u->nout == 0)
		return;
	while (i < u->nout && !u->closing) {
		int n;
		do
			n = sendmmsg(u->fd, u->msgs + i, u->nout - i, MSG_DONTWAIT);
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
	if (u->closing)
		return UV_ECANCELED;
	if (len > CN_UDP_OUT_BYTES / 8)
		return send_now(u, to, buf, len);
	if (u->nout == CN_UDP_OUT_MSGS || u->out_used + len > CN_UDP_OUT_BYTES)
		flush(u);
	unsigned k = u->nout++;
	uint8_t *slot = u->out + u->out_used;
	u->out_used += len;
	memcpy(slot, buf, len);
	socklen_t tolen = addr_len(to);
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
	/* TCP: SO_REUSEADDR, as libuv sets it, so connections in TIME_WAIT do not count;
	 * Linux still refuses the bind while another socket listens on the address. */
	int fd = socket_bound(addr, type, type == SOCK_STREAM ? SO_REUSEADDR : 0, freebind);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
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
	close(u->fd); /* only now: libuv must not poll a closed descriptor */
	while (u->qhead) {
		queued_t *q = u->qhead;
		u->qhead = q->next;
		free(q);
	}
	free(u->slab);
	free(u->out);
	free(u);
}

void cn_udp_close(cn_udp_t *u)
{
	if (!u || u->closing)
		return;
	flush(u);
	u->closing = true;
	busy_leave(u);
	uv_poll_stop(&u->poll);
	uv_close((uv_handle_t *)&u->poll, on_closed);
	uv_close((uv_handle_t *)&u->flusher, on_closed);
	uv_close((uv_handle_t *)&u->busy, on_closed);
}
