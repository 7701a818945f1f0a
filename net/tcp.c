/*
 * TCP listener and connections (RFC 7766). Each connection reads into a buffer that grows
 * to fit the frame being assembled (at most 2 + 65535 bytes), hands every complete frame to
 * the worker at once (pipelining; answers leave in completion order, RFC 7766 6.2.1.1), and
 * writes each framed answer with uv_try_write (no copy, no allocation), queueing with
 * uv_write only what the socket does not take at once.
 *
 * Bounds: at most CN_TCP_MAX_PIPELINE unanswered queries and CN_TCP_MAX_QUEUED_BYTES of
 * unsent answers per connection; past either we stop reading (TCP flow control pushes back
 * on the client) and resume when answers drain. The idle timer runs whenever nothing is
 * outstanding — also while a frame is only partly received, so a client trickling bytes
 * (slowloris) is closed after tcp_idle_timeout_ms like an idle one.
 *
 * Lifetime: a connection is freed when both of its handles have closed and the worker
 * holds no reference (refs counts unanswered queries).
 */
#include "net/tcp.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net/log.h"
#include "net/udp.h"
#include "net/worker.h"

#define HDR_LEN 12        /* a frame shorter than a DNS header is malformed */
#define FRAME_MAX (2 + 65535)
#define RBUF_INITIAL 1024

struct cn_tcp {
	uv_tcp_t handle;
	cn_worker_t *w;
	unsigned idle_ms, max_clients;
	unsigned max_per_client;  /* connections from one address (0: no cap) */
	unsigned nconns;
	atomic_uint *shared;  /* open connections of every worker's listener on this address */
	cn_tcp_conn_t *conns; /* open (not yet closing) connections */
	cn_tcp_stats_t stats;
	bool closing;
};

struct cn_tcp_conn {
	uv_tcp_t handle;
	uv_timer_t idle;
	cn_tcp_t *srv;            /* NULL once closing (the listener may be gone) */
	cn_worker_t *w;
	cn_tcp_conn_t *prev, *next;
	struct sockaddr_storage peer;
	uint8_t *rbuf;
	size_t rlen, rcap;
	unsigned refs;            /* unanswered queries (+1 while processing frames) */
	size_t queued_bytes;      /* answers written but not yet completed */
	unsigned handles_open;    /* 2 until both handles are closed */
	bool closing, reading;
	bool processing;          /* inside conn_process (no re-entry) */
	bool eof;                 /* the client shut its side: answer what is owed, close */
};

typedef struct write_req {
	uv_write_t req;
	cn_tcp_conn_t *conn;
	size_t len;
	uint8_t data[];
} write_req_t;

static void conn_close(cn_tcp_conn_t *c);
static void conn_process(cn_tcp_conn_t *c);

static void conn_maybe_free(cn_tcp_conn_t *c)
{
	if (c->handles_open == 0 && c->refs == 0) {
		free(c->rbuf);
		free(c);
	}
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	cn_tcp_conn_t *c = h->data;
	c->handles_open--;
	conn_maybe_free(c);
}

static void conn_close(cn_tcp_conn_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->srv) {
		cn_tcp_t *t = c->srv;
		if (c->prev)
			c->prev->next = c->next;
		else
			t->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		t->nconns--;
		if (t->shared)
			atomic_fetch_sub(t->shared, 1);
		c->srv = NULL;
	}
	uv_close((uv_handle_t *)&c->handle, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, on_conn_handle_closed);
}

static void on_idle(uv_timer_t *timer)
{
	cn_tcp_conn_t *c = timer->data;
	if (c->srv)
		c->srv->stats.idle_closed++;
	conn_close(c);
}

/* Idle means nothing outstanding: no unanswered query, no unsent answer. */
static void conn_update_idle(cn_tcp_conn_t *c)
{
	if (c->closing)
		return;
	if (c->eof && c->refs == 0 && c->queued_bytes == 0 && !c->processing) {
		conn_close(c);
		return;
	}
	if (c->refs == 0 && c->queued_bytes == 0) {
		unsigned ms = c->srv ? c->srv->idle_ms : 1;
		uv_timer_start(&c->idle, on_idle, ms, 0);
	} else {
		uv_timer_stop(&c->idle);
	}
}

static bool conn_over_limits(const cn_tcp_conn_t *c)
{
	unsigned queries = c->refs - (c->processing ? 1u : 0u);
	return queries >= CN_TCP_MAX_PIPELINE || c->queued_bytes >= CN_TCP_MAX_QUEUED_BYTES;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	cn_tcp_conn_t *c = h->data;
	/* Room for at least the frame being assembled, never past one maximal frame. */
	size_t want = RBUF_INITIAL;
	if (c->rlen >= 2) {
		size_t flen = 2 + (size_t)(c->rbuf[0] << 8 | c->rbuf[1]);
		if (flen > want)
			want = flen;
	}
	if (c->rlen + 1 > want)
		want = c->rlen + 1;
	if (want > FRAME_MAX)
		want = FRAME_MAX;
	if (c->rcap < want) {
		uint8_t *p = realloc(c->rbuf, want);
		if (p) {
			c->rbuf = p;
			c->rcap = want;
		}
	}
	if (c->rlen >= c->rcap) {
		*buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS; we close */
		return;
	}
	*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void conn_pause(cn_tcp_conn_t *c)
{
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->handle);
		c->reading = false;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_resume(cn_tcp_conn_t *c)
{
	if (c->closing || c->eof || c->reading || conn_over_limits(c))
		return;
	if (uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) == 0)
		c->reading = true;
	else
		conn_close(c);
}

/*
 * Dispatch every complete frame in the buffer, stopping at the per-connection bounds, then
 * read again if under them. The worker may answer (and release) synchronously from inside
 * cn_worker_query; the extra reference keeps c alive and `processing` stops re-entry.
 */
static void conn_process(cn_tcp_conn_t *c)
{
	if (c->processing || c->closing)
		return;
	c->processing = true;
	c->refs++;
	size_t off = 0;
	while (!c->closing && c->rlen - off >= 2) {
		size_t flen = (size_t)(c->rbuf[off] << 8 | c->rbuf[off + 1]);
		if (flen < HDR_LEN) {
			if (c->srv)
				c->srv->stats.malformed_closed++;
			conn_close(c);
			break;
		}
		if (c->rlen - off < 2 + flen)
			break;
		if (conn_over_limits(c)) {
			conn_pause(c);
			break;
		}
		if (c->srv)
			c->srv->stats.frames++;
		cn_peer_t peer = { .udp = NULL, .tcp = c, .addr = c->peer };
		c->refs++;
		cn_worker_query(c->w, c->rbuf + off + 2, flen, &peer);
		off += 2 + flen;
	}
	if (off && !c->closing) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	c->processing = false;
	c->refs--;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	conn_update_idle(c);
	conn_resume(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	cn_tcp_conn_t *c = s->data;
	if (nread == UV_EOF) {
		/* The client shut its sending side (allowed after its last query): send the
		 * answers still owed, then close (conn_update_idle does when nothing is left). */
		c->eof = true;
		conn_pause(c);
		conn_process(c);
		return;
	}
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->rlen += (size_t)nread;
	conn_process(c);
}

static void on_written(uv_write_t *req, int status)
{
	write_req_t *wr = (write_req_t *)req;
	cn_tcp_conn_t *c = wr->conn;
	c->queued_bytes -= wr->len;
	free(wr);
	if (c->closing)
		return; /* the close callbacks (which run after this) free c */
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->reading || c->eof)
		conn_update_idle(c);
	else
		conn_process(c); /* paused on the byte bound: resume */
}

int cn_tcp_conn_send(cn_tcp_conn_t *c, const uint8_t *buf, size_t len)
{
	if (c->closing)
		return -EPIPE;
	if (len > 65535)
		return -EINVAL;
	/* Straight to the socket when nothing is queued (libuv says UV_EAGAIN otherwise, which
	 * keeps answers in order): no copy, no allocation. What it does not take is queued. */
	uint8_t prefix[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	uv_buf_t bufs[2] = { uv_buf_init((char *)prefix, 2), uv_buf_init((char *)buf, (unsigned)len) };
	int n = uv_try_write((uv_stream_t *)&c->handle, bufs, 2);
	if (n < 0 && n != UV_EAGAIN) {
		conn_close(c);
		return n;
	}
	size_t done = n > 0 ? (size_t)n : 0;
	if (done == 2 + len)
		return 0;
	size_t rest = 2 + len - done;
	write_req_t *wr = malloc(sizeof(*wr) + rest);
	if (!wr) {
		if (done)
			conn_close(c); /* half a frame went out: the stream is unusable */
		return -ENOMEM;
	}
	wr->conn = c;
	wr->len = rest;
	for (size_t i = done; i < 2 + len; i++)
		wr->data[i - done] = i < 2 ? prefix[i] : buf[i - 2];
	uv_buf_t b = uv_buf_init((char *)wr->data, (unsigned)wr->len);
	int rc = uv_write(&wr->req, (uv_stream_t *)&c->handle, &b, 1, on_written);
	if (rc < 0) {
		free(wr);
		conn_close(c);
		return rc;
	}
	c->queued_bytes += wr->len;
	return 0;
}

void cn_tcp_conn_hold(cn_tcp_conn_t *c)
{
	c->refs++;
}

void cn_tcp_conn_release(cn_tcp_conn_t *c)
{
	c->refs--;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (c->processing)
		return; /* conn_process finishes the bookkeeping */
	if (c->reading)
		conn_update_idle(c);
	else
		conn_process(c); /* paused (pipeline bound or EOF): dispatch what is buffered */
}

static bool same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* Open connections of this listener from the client at addr (a scan: accepts are rare
 * next to queries, and the list is bounded by tcp_max_clients). */
static unsigned conns_from(const cn_tcp_t *t, const struct sockaddr_storage *addr)
{
	unsigned n = 0;
	for (const cn_tcp_conn_t *c = t->conns; c; c = c->next)
		if (same_client(&c->peer, addr))
			n++;
	return n;
}

void cn_tcp_set_max_per_client(cn_tcp_t *t, unsigned n)
{
	t->max_per_client = n;
}

static void on_connection(uv_stream_t *server, int status)
{
	cn_tcp_t *t = server->data;
	if (status < 0) {
		cn_log(CN_LOG_WARNING, "tcp accept error: %s", uv_strerror(status));
		return;
	}
	cn_tcp_conn_t *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->w = t->w;
	uv_tcp_init(server->loop, &c->handle);
	uv_timer_init(server->loop, &c->idle);
	c->handle.data = c;
	c->idle.data = c;
	c->handles_open = 2;
	c->srv = t;
	c->next = t->conns;
	if (c->next)
		c->next->prev = c;
	t->conns = c;
	t->nconns++;
	unsigned total = t->shared ? atomic_fetch_add(t->shared, 1) + 1 : t->nconns;
	if (uv_accept(server, (uv_stream_t *)&c->handle) != 0) {
		conn_close(c);
		return;
	}
	t->stats.accepted++;
	if (total > t->max_clients) {
		/* Over the cap: close the newest, so established clients keep working. */
		t->stats.refused_over_cap++;
		conn_close(c);
		return;
	}
	int len = sizeof(c->peer);
	if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &len) != 0) {
		conn_close(c);
		return;
	}
	if (t->max_per_client && conns_from(t, &c->peer) > t->max_per_client) {
		/* One client may not hold the listener (slowloris from one address, D3). */
		t->stats.refused_per_client++;
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->handle, 1);
	conn_update_idle(c);
	conn_resume(c);
}

int cn_tcp_open(uv_loop_t *loop, cn_worker_t *w, const struct sockaddr *addr, bool reuseport,
		bool freebind, unsigned idle_ms, unsigned max_clients, atomic_uint *shared, cn_tcp_t **out)
{
	cn_tcp_t *t = calloc(1, sizeof(*t));
	if (!t)
		return UV_ENOMEM;
	t->w = w;
	t->idle_ms = idle_ms;
	t->max_clients = max_clients;
	t->shared = shared;
	int rc = uv_tcp_init_ex(loop, &t->handle, addr->sa_family);
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->handle.data = t;
	if (reuseport)
		rc = cn_set_reuseport((uv_handle_t *)&t->handle);
	if (rc == 0 && freebind)
		rc = cn_set_freebind((uv_handle_t *)&t->handle, addr->sa_family);
	unsigned flags = addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	if (rc == 0)
		rc = uv_tcp_bind(&t->handle, addr, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&t->handle, 128, on_connection);
	if (rc < 0) {
		cn_tcp_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
	free(h->data);
}

void cn_tcp_close(cn_tcp_t *t)
{
	if (!t || t->closing)
		return;
	t->closing = true;
	while (t->conns)
		conn_close(t->conns);
	uv_close((uv_handle_t *)&t->handle, on_listener_closed);
}

void cn_tcp_get_stats(const cn_tcp_t *t, cn_tcp_stats_t *out)
{
	*out = t->stats;
}
