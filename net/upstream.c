/*
 * Upstream transport: one query to one authoritative server, and the reply that really
 * answers it (RFC 5452). Each UDP query gets its own socket, bound to a source port we pick
 * from the CSPRNG over 1024-65535 (about 16 bits, wider than the kernel's ephemeral range),
 * and a fresh CSPRNG ID; the socket is connect()ed so the kernel drops other sources and
 * reports ICMP errors, and every datagram is still checked for source address and port, ID,
 * opcode and the question section byte for byte (so 0x20 case mixing must be echoed
 * exactly), and the whole message must parse (resolver/wire.c's strict parser: a copy of
 * the right header and question followed by garbage is garbage). Whatever fails those
 * checks is counted and ignored while the wait goes on: a spoofed or broken packet must
 * never end a pending query (the TuDoor attack, docs/attacks.md A3).
 * A matched UDP reply with TC=1, or one longer than the EDNS size the query advertised
 * (a sign of fragments, docs/attacks.md A7), is asked again over TCP, to the same server, within
 * the same timeout. TCP is one connection per query, RFC 1035 4.2.2 two-byte framing.
 *
 * Lifetime: a pending query embeds its libuv handles (timer, UDP, TCP) and is freed only when
 * the last of their close callbacks has run (libuv design.rst). The client struct itself is
 * freed once it is closing and no pending query remains.
 */
#include "net/upstream.h"

#include "net/forward.h"

#include "resolver/arena.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define UP_PORT_MIN 1024u    /* lowest source port we choose (below: privileged) */
#define UP_PORT_MAX 65535u
#define UP_BIND_TRIES 8      /* random ports tried before letting the kernel choose */
#define UP_HDR_LEN 12        /* RFC 1035 4.1.1 */
#define UP_UDP_BUF 65536     /* any UDP datagram fits */
#define UP_TCP_MSG_MAX 65535 /* RFC 1035 4.2.2: two-byte length prefix */
#define UP_UDP_NOEDNS 512    /* RFC 1035 2.3.4: UDP size without EDNS */

typedef enum phase {
	PH_UDP,  /* waiting for a UDP reply */
	PH_TCP,  /* connecting, writing or reading over TCP */
	PH_FWD,  /* with c-ares: a forward zone's recursive server (net/forward.c) */
	PH_DONE, /* callback run or cancelled; handles closing */
} phase_t;

/* Result of checking one received message against the query. */
typedef enum match {
	M_OK,
	M_MALFORMED, /* shorter than a header or its question, QR=0 */
	M_MISMATCH,  /* wrong ID, opcode, QDCOUNT or question */
	M_CASE,      /* right except for the case of qname letters (0x20) */
} match_t;

/* Counters have one writer (the worker's loop thread) and may be read from another thread
 * (the control socket on the main loop): relaxed atomic stores and loads, no locked
 * read-modify-write. */
#define STAT_INC(x) __atomic_store_n(&(x), (x) + 1, __ATOMIC_RELAXED)

struct cn_upstream {
	uv_loop_t *loop;
	cn_upstream_stats_t stats;
	cn_upstream_pending_t *active; /* queries still waiting (doubly linked) */
	size_t live;                   /* pending structs not yet freed (waiting or closing) */
	bool closing;
	cn_forward_t *fwd;        /* forward zones' queries, made on the first one */
	uint8_t rbuf[UP_UDP_BUF]; /* UDP receive buffer: one loop, used only inside recv_cb */
	cn_arena_t arena;         /* for checking that a matched reply parses */
};

struct cn_upstream_pending {
	cn_upstream_t *up;
	cn_upstream_pending_t *prev, *next;
	cn_upstream_done_cb done;
	void *ctx;
	struct sockaddr_storage addr;
	uint64_t start_ns;
	phase_t phase;
	bool seen_case;     /* a case-only mismatch arrived */
	bool udp_open;      /* p->udp initialised: needs uv_close */
	bool tcp_open;      /* p->tcp initialised: needs uv_close */
	bool udp_sending;   /* a queued uv_udp_send has not completed */
	bool udp_close_due; /* close p->udp when that send completes */
	unsigned handles;   /* close callbacks still to come */
	size_t qend;        /* end of the question section in the query */
	size_t udp_limit;   /* largest UDP reply the query asked for */
	uv_timer_t timer;
	uv_udp_t udp;
	uv_udp_send_t sreq;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	cn_fwd_query_t *fq; /* PH_FWD: the c-ares query, detached when p ends first */
	uint8_t *tbuf;      /* TCP receive buffer, 2 + UP_TCP_MSG_MAX bytes */
	size_t tlen;
	size_t qlen;
	uint8_t wire[];     /* 2-byte TCP length prefix, then the query */
};

static uint8_t *query_of(cn_upstream_pending_t *p)
{
	return p->wire + 2;
}

/*
 * Check the query the engine produced (the resolver's own parser: header, one question,
 * OPT) and find the end of its question and the UDP size it advertises in its OPT record
 * (RFC 6891 6.1.2: CLASS = UDP payload size; 512 without one, RFC 1035 4.2.1).
 */
static int parse_query(const uint8_t *w, size_t len, size_t *qend, size_t *udp_limit)
{
	cn_msg_t m;
	if (len < UP_HDR_LEN + 5 || len > UP_TCP_MSG_MAX || cn_msg_parse_query(w, len, &m) != 0 ||
	    !m.has_question)
		return -EINVAL;
	*qend = m.question_end;
	*udp_limit = m.edns.present && m.edns.udp_size > UP_UDP_NOEDNS ? m.edns.udp_size
								       : UP_UDP_NOEDNS;
	return 0;
}

/* Does the whole message parse? A TC=1 reply is not checked: only its header matters (the
 * question is asked again over TCP), and servers may cut it anywhere. */
static bool parses(cn_upstream_t *up, const uint8_t *m, size_t n)
{
	cn_msg_t msg;
	cn_arena_reset(&up->arena);
	return cn_msg_parse(m, n, &up->arena, &msg) == 0;
}

/* RFC 5452 9.1: ID, question (exact, for 0x20) and, for UDP, address and port; then the
 * whole message must parse (A3: a broken packet is ignored, the wait goes on). */
static match_t match_reply(cn_upstream_pending_t *p, const uint8_t *m, size_t n)
{
	const uint8_t *q = query_of(p);
	if (n < UP_HDR_LEN || !(m[2] & 0x80))
		return M_MALFORMED;
	if (n < p->qend)
		return cn_wire_get16(m + 4) == 0 ? M_MISMATCH : M_MALFORMED;
	if (m[0] != q[0] || m[1] != q[1] || (m[2] & 0x78) != (q[2] & 0x78) ||
	    cn_wire_get16(m + 4) != 1)
		return M_MISMATCH;
	size_t qlen = p->qend - UP_HDR_LEN;
	if (memcmp(m + UP_HDR_LEN, q + UP_HDR_LEN, qlen) == 0)
		return (m[2] & 0x02) || parses(p->up, m, n) ? M_OK : M_MALFORMED;
	/* The name is the question minus its 4 bytes of type and class. */
	/* cn_dname_eq stops at the first length octet that differs, so it reads no further
	 * into the reply than the query's own (valid) name reaches: n >= p->qend. */
	if (memcmp(m + p->qend - 4, q + p->qend - 4, 4) == 0 &&
	    cn_dname_eq(q + UP_HDR_LEN, m + UP_HDR_LEN))
		return M_CASE;
	return M_MISMATCH;
}

/* Count a message that did not match; returns true when it was accepted (M_OK). */
static bool judge(cn_upstream_pending_t *p, match_t m)
{
	cn_upstream_stats_t *s = &p->up->stats;
	switch (m) {
	case M_OK:
		return true;
	case M_MALFORMED:
		STAT_INC(s->ignored_malformed);
		break;
	case M_MISMATCH:
		STAT_INC(s->ignored_mismatch);
		break;
	case M_CASE:
		STAT_INC(s->ignored_case);
		p->seen_case = true;
		break;
	}
	return false;
}

/* From the server asked? (a: libuv's sockaddr_storage for the datagram) */
static bool same_source(const cn_upstream_pending_t *p, const struct sockaddr *a)
{
	return a != NULL && cn_sockaddr_eq((const struct sockaddr_storage *)(const void *)a,
					   &p->addr);
}

static void new_id(cn_upstream_pending_t *p)
{
	cn_wire_put16(query_of(p), (uint16_t)arc4random_uniform(65536));
}

static unsigned rtt_ms(const cn_upstream_pending_t *p)
{
	return (unsigned)((uv_hrtime() - p->start_ns) / 1000000u);
}

/* ------------------------------------------------------------------ lifetime ---------- */

static void unlink_active(cn_upstream_pending_t *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->up->active = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static void upstream_free(cn_upstream_t *up)
{
	cn_arena_deinit(&up->arena);
	free(up);
}

static void on_handle_closed(uv_handle_t *h)
{
	cn_upstream_pending_t *p = h->data;
	if (--p->handles > 0)
		return;
	cn_upstream_t *up = p->up;
	free(p->tbuf);
	free(p);
	if (--up->live == 0 && up->closing)
		upstream_free(up);
}

/*
 * Close p->udp. libuv 1.44 can touch freed send requests when a UDP handle is closed while a
 * send is queued (fixed upstream in 1.49, a7c44d674), so with a send in flight the close
 * waits for its callback.
 */
static void close_udp(cn_upstream_pending_t *p)
{
	if (!p->udp_open)
		return;
	if (p->udp_sending) {
		p->udp_close_due = true;
		uv_udp_recv_stop(&p->udp);
		return;
	}
	p->udp_open = false;
	uv_close((uv_handle_t *)&p->udp, on_handle_closed);
}

static void release(cn_upstream_pending_t *p)
{
	uv_close((uv_handle_t *)&p->timer, on_handle_closed);
	close_udp(p);
	if (p->tcp_open) {
		p->tcp_open = false;
		uv_close((uv_handle_t *)&p->tcp, on_handle_closed);
	}
}

/* End the query: count, tell the caller (when notify), start closing its handles. */
static void finish(cn_upstream_pending_t *p, cn_upstream_event_t ev, const uint8_t *reply,
		   size_t len, bool notify)
{
	if (p->phase == PH_DONE)
		return;
	p->phase = PH_DONE;
	unlink_active(p);
	uv_timer_stop(&p->timer);
	cn_forward_detach(p->fq); /* its late answer, if any, is dropped */
	p->fq = NULL;
	if (p->udp_open)
		uv_udp_recv_stop(&p->udp);
	if (p->tcp_open)
		uv_read_stop((uv_stream_t *)&p->tcp);
	cn_upstream_stats_t *s = &p->up->stats;
	if (notify) {
		switch (ev) {
		case CN_UP_REPLY:
			STAT_INC(s->replies);
			break;
		case CN_UP_TIMEOUT:
			STAT_INC(s->timeouts);
			break;
		case CN_UP_CASE_MISMATCH:
			STAT_INC(s->case_failures);
			break;
		case CN_UP_NETWORK_ERROR:
			if (!p->up->closing)
				STAT_INC(s->network_errors);
			break;
		}
		p->done(p->ctx, ev, ev == CN_UP_REPLY ? reply : NULL, ev == CN_UP_REPLY ? len : 0,
			rtt_ms(p));
	}
	/* p stays valid (and p->up with it) until its close callbacks have run. */
	release(p);
}

static void fail(cn_upstream_pending_t *p)
{
	finish(p, p->seen_case ? CN_UP_CASE_MISMATCH : CN_UP_NETWORK_ERROR, NULL, 0, true);
}

static void on_timeout(uv_timer_t *t)
{
	cn_upstream_pending_t *p = t->data;
	finish(p, p->seen_case ? CN_UP_CASE_MISMATCH : CN_UP_TIMEOUT, NULL, 0, true);
}

/* ------------------------------------------------------------------ TCP --------------- */

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	cn_upstream_pending_t *p = h->data;
	if (p->tbuf == NULL)
		p->tbuf = malloc(2 + UP_TCP_MSG_MAX);
	if (p->tbuf == NULL) {
		*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
		return;
	}
	*buf = uv_buf_init((char *)p->tbuf + p->tlen, (unsigned)(2 + UP_TCP_MSG_MAX - p->tlen));
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	cn_upstream_pending_t *p = s->data;
	if (p->phase != PH_TCP || nread == 0)
		return;
	if (nread < 0) {
		fail(p); /* EOF or reset before a matching reply */
		return;
	}
	p->tlen += (size_t)nread;
	/* The buffer holds one maximal frame, so a frame never waits for room. */
	while (p->tlen >= 2) {
		size_t mlen = cn_wire_get16(p->tbuf);
		if (p->tlen < 2 + mlen)
			return;
		if (judge(p, match_reply(p, p->tbuf + 2, mlen))) {
			finish(p, CN_UP_REPLY, p->tbuf + 2, mlen, true);
			return;
		}
		p->tlen -= 2 + mlen;
		memmove(p->tbuf, p->tbuf + 2 + mlen, p->tlen);
	}
}

static void tcp_written(uv_write_t *req, int status)
{
	cn_upstream_pending_t *p = req->data;
	if (p->phase == PH_TCP && status < 0)
		fail(p);
}

static void tcp_connected(uv_connect_t *req, int status)
{
	cn_upstream_pending_t *p = req->data;
	if (p->phase != PH_TCP)
		return; /* UV_ECANCELED after finish() closed the handle */
	if (status < 0) {
		fail(p);
		return;
	}
	cn_wire_put16(p->wire, (uint16_t)p->qlen);
	uv_buf_t b = uv_buf_init((char *)p->wire, (unsigned)(2 + p->qlen));
	p->wreq.data = p;
	if (uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, tcp_written) < 0 ||
	    uv_read_start((uv_stream_t *)&p->tcp, tcp_alloc, tcp_read) < 0) {
		fail(p);
		return;
	}
	STAT_INC(p->up->stats.sent_tcp);
}

static int start_tcp(cn_upstream_pending_t *p)
{
	p->phase = PH_TCP;
	STAT_INC(p->up->stats.tcp);
	new_id(p); /* a fresh ID: the UDP one may have been seen by an attacker */
	int rc = uv_tcp_init(p->up->loop, &p->tcp);
	if (rc < 0)
		return rc;
	p->tcp_open = true;
	p->handles++;
	p->tcp.data = p;
	p->creq.data = p;
	return uv_tcp_connect(&p->creq, &p->tcp, (const struct sockaddr *)&p->addr,
			      tcp_connected);
}

/* ------------------------------------------------------------------ UDP --------------- */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	cn_upstream_pending_t *p = h->data;
	*buf = uv_buf_init((char *)p->up->rbuf, sizeof p->up->rbuf);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		     const struct sockaddr *from, unsigned flags)
{
	cn_upstream_pending_t *p = h->data;
	if (p->phase != PH_UDP)
		return;
	if (nread < 0) {
		/* ICMP port/host unreachable on the connected socket: ECONNREFUSED etc. */
		finish(p, CN_UP_NETWORK_ERROR, NULL, 0, true);
		return;
	}
	if (nread == 0 && from == NULL)
		return; /* nothing more to read */
	if (!same_source(p, from)) {
		STAT_INC(p->up->stats.ignored_mismatch);
		return;
	}
	const uint8_t *m = (const uint8_t *)buf->base;
	size_t n = (size_t)nread;
	if ((flags & UV_UDP_PARTIAL) || !judge(p, match_reply(p, m, n)))
		return;
	/* TC=1, or longer than we allowed: perhaps reassembled from forged fragments. */
	if ((m[2] & 0x02) || n > p->udp_limit) {
		STAT_INC(p->up->stats.tc_retries);
		if (n > p->udp_limit)
			STAT_INC(p->up->stats.oversize_retries);
		close_udp(p);
		if (start_tcp(p) < 0)
			fail(p);
		return;
	}
	finish(p, CN_UP_REPLY, m, n, true);
}

static void udp_sent(uv_udp_send_t *req, int status)
{
	cn_upstream_pending_t *p = req->data;
	p->udp_sending = false;
	if (p->udp_close_due) {
		p->udp_close_due = false;
		close_udp(p);
		return;
	}
	if (p->phase == PH_UDP && status < 0)
		finish(p, CN_UP_NETWORK_ERROR, NULL, 0, true);
}

/* Bind to a source port from the CSPRNG (RFC 5452 10); the kernel's on failure. */
static int bind_random_port(cn_upstream_pending_t *p)
{
	struct sockaddr_storage local;
	memset(&local, 0, sizeof local);
	unsigned flags = 0;
	in_port_t *port;
	if (p->addr.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&local;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_ANY);
		port = &a->sin_port;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&local;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_any;
		port = &a->sin6_port;
		flags = UV_UDP_IPV6ONLY;
	}
	for (int i = 0; i < UP_BIND_TRIES; i++) {
		*port = htons((uint16_t)(UP_PORT_MIN +
					 arc4random_uniform(UP_PORT_MAX - UP_PORT_MIN + 1)));
		int rc = uv_udp_bind(&p->udp, (const struct sockaddr *)&local, flags);
		if (rc != UV_EADDRINUSE && rc != UV_EACCES)
			return rc;
	}
	*port = 0;
	return uv_udp_bind(&p->udp, (const struct sockaddr *)&local, flags);
}

static int start_udp(cn_upstream_pending_t *p)
{
	new_id(p);
	int rc = uv_udp_init_ex(p->up->loop, &p->udp, p->addr.ss_family);
	if (rc < 0)
		return rc;
	p->udp_open = true;
	p->handles++;
	p->udp.data = p;
	if ((rc = bind_random_port(p)) < 0 ||
	    (rc = uv_udp_connect(&p->udp, (const struct sockaddr *)&p->addr)) < 0 ||
	    (rc = uv_udp_recv_start(&p->udp, udp_alloc, udp_recv)) < 0)
		return rc;
	/* Connected: addr must be NULL. try_send leaves nothing queued (see close_udp). */
	uv_buf_t b = uv_buf_init((char *)query_of(p), (unsigned)p->qlen);
	rc = uv_udp_try_send(&p->udp, &b, 1, NULL);
	if (rc == UV_EAGAIN) {
		p->sreq.data = p;
		rc = uv_udp_send(&p->sreq, &p->udp, &b, 1, NULL, udp_sent);
		if (rc == 0)
			p->udp_sending = true;
	}
	if (rc < 0)
		return rc;
	STAT_INC(p->up->stats.sent_udp);
	return 0;
}

/* ------------------------------------------------------------------ API --------------- */

int cn_upstream_new(uv_loop_t *loop, cn_upstream_t **out)
{
	if (loop == NULL || out == NULL)
		return -EINVAL;
	cn_upstream_t *up = calloc(1, sizeof *up);
	if (up == NULL)
		return -ENOMEM;
	up->loop = loop;
	cn_arena_init(&up->arena, 8192);
	*out = up;
	return 0;
}

void cn_upstream_close(cn_upstream_t *up)
{
	if (up == NULL || up->closing)
		return;
	up->closing = true;
	/* Callbacks may cancel other queries; take the head each time. */
	while (up->active != NULL)
		finish(up->active, CN_UP_NETWORK_ERROR, NULL, 0, true);
	cn_forward_close(up->fwd); /* frees itself once its handles are closed */
	up->fwd = NULL;
	if (up->live == 0)
		upstream_free(up);
}

static bool addr_ok(const cn_upstream_query_t *q)
{
	if (q->addr.ss_family == AF_INET)
		return q->addr_len >= sizeof(struct sockaddr_in);
	if (q->addr.ss_family == AF_INET6)
		return q->addr_len >= sizeof(struct sockaddr_in6);
	return false;
}

/* c-ares matched the reply (ID, question, source) and did any TCP retry itself. */
static void on_fwd_done(void *ctx, cn_upstream_event_t ev, const uint8_t *reply, size_t len)
{
	cn_upstream_pending_t *p = ctx;
	p->fq = NULL; /* c-ares frees it */
	if (ev == CN_UP_REPLY && !parses(p->up, reply, len)) {
		STAT_INC(p->up->stats.ignored_malformed);
		ev = CN_UP_NETWORK_ERROR; /* one try per query: nothing else will come */
	}
	finish(p, ev, reply, len, true);
}

static int start_fwd(cn_upstream_pending_t *p)
{
	cn_upstream_t *up = p->up;
	if (!up->fwd && cn_forward_new(up->loop, &up->fwd) != 0)
		return -ENOMEM;
	int rc = cn_forward_send(up->fwd, query_of(p), p->qlen, &p->addr, on_fwd_done, p, &p->fq);
	if (rc == 0)
		STAT_INC(up->stats.forwarded);
	return rc;
}

int cn_upstream_send(cn_upstream_t *up, const cn_upstream_query_t *q, cn_upstream_done_cb done,
		     void *ctx, cn_upstream_pending_t **handle)
{
	if (up == NULL || q == NULL || q->wire == NULL || done == NULL || !addr_ok(q) ||
	    q->timeout_ms == 0)
		return -EINVAL;
	if (up->closing)
		return -ECANCELED;
	size_t qend, udp_limit;
	if (parse_query(q->wire, q->len, &qend, &udp_limit) < 0)
		return -EINVAL;
	cn_upstream_pending_t *p = calloc(1, sizeof *p + 2 + q->len);
	if (p == NULL)
		return -ENOMEM;
	p->up = up;
	p->done = done;
	p->ctx = ctx;
	memcpy(&p->addr, &q->addr, q->addr.ss_family == AF_INET ? sizeof(struct sockaddr_in)
								 : sizeof(struct sockaddr_in6));
	p->qend = qend;
	p->udp_limit = udp_limit;
	p->qlen = q->len;
	memcpy(query_of(p), q->wire, q->len);
	uv_timer_init(up->loop, &p->timer);
	p->timer.data = p;
	p->handles = 1;
	up->live++;
	p->next = up->active;
	if (p->next)
		p->next->prev = p;
	up->active = p;

	uv_update_time(up->loop); /* the timeout counts from now, not the loop's cached time */
	p->start_ns = uv_hrtime();
	p->phase = q->forward ? PH_FWD : q->tcp ? PH_TCP : PH_UDP;
	int rc = q->forward ? start_fwd(p) : q->tcp ? start_tcp(p) : start_udp(p);
	if (rc < 0) {
		STAT_INC(up->stats.network_errors);
		finish(p, CN_UP_NETWORK_ERROR, NULL, 0, false);
		return rc;
	}
	uv_timer_start(&p->timer, on_timeout, q->timeout_ms, 0);
	if (handle != NULL)
		*handle = p;
	return 0;
}

void cn_upstream_cancel(cn_upstream_pending_t *p)
{
	if (p != NULL)
		finish(p, CN_UP_NETWORK_ERROR, NULL, 0, false);
}

void cn_upstream_get_stats(const cn_upstream_t *up, cn_upstream_stats_t *out)
{
#define LOAD(field, name) out->field = __atomic_load_n(&up->stats.field, __ATOMIC_RELAXED);
	CN_UPSTREAM_STATS_MAP(LOAD)
#undef LOAD
}
