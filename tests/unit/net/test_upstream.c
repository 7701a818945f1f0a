/*
 * Unit tests for net/upstream.c. Each test runs a real libuv loop with a fake authoritative
 * server on loopback (UDP and TCP on one port, on the same loop). The fake server's replies
 * are built byte by byte here from the bytes of the query it received, never with cairn's
 * codec, so a codec bug cannot hide a transport bug. Every test ends by closing all handles
 * and checking uv_loop_close() == 0 (libuv's test style); ASan checks for leaks.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "net/upstream.h"
#include "tests/unit/unit.h"

/* www.example.com A IN with mixed (0x20) case, RD=0, EDNS 1232, ID 0 (set by upstream.c). */
static const uint8_t QUERY[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	3, 'w', 'W', 'w', 7, 'E', 'x', 'A', 'm', 'P', 'l', 'E', 3, 'c', 'O', 'm', 0,
	0x00, 0x01, 0x00, 0x01,
	0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
#define QEND 33 /* header + question */
/* Scheduling slack allowed past a deadline (2 shared cores, sanitizers on). */
#define MARGIN_MS 200

/* ------------------------------------------------------------------ fake server ------- */

enum fake_mode {
	F_GOOD,          /* answer at once */
	F_SILENT,        /* never answer over UDP */
	F_BAD_THEN_GOOD, /* a bad packet at once, the good answer 50 ms later */
	F_CASE_ONLY,     /* only an answer whose qname case differs */
	F_TC,            /* UDP: TC=1, empty; TCP: the full answer */
	F_OVERSIZE,      /* UDP: 100 answers (> 1232 bytes) without TC */
	F_TCP_BAD_FIRST, /* TCP: wrong-ID and wrong-case frames, then the good one */
	F_TCP_STALL,     /* TCP: accept, read, never answer */
};

/* The last three copy the right header and question but break the rest: the whole message
 * must parse before it is accepted (TuDoor). */
enum bad_kind { B_WRONG_ID, B_WRONG_CASE, B_GARBAGE, B_SHORT, B_QR0, B_WRONG_QTYPE,
		B_CUT_RR, B_BAD_POINTER, B_COUNT_OVER, B_MAX };

typedef struct fake {
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_tcp_t listener;
	int mode, bad;
	unsigned udp_answers, tcp_answers;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	unsigned udp_queries, tcp_queries, tcp_conns_open;
	uint16_t ports[2048], ids[2048];
	size_t nseen;
	uint8_t rbuf[65536];
} fake_t;

typedef struct delayed {
	uv_timer_t timer;
	fake_t *f;
	struct sockaddr_storage to;
	size_t len;
	uint8_t pkt[];
} delayed_t;

typedef struct conn {
	uv_tcp_t h;
	fake_t *f;
	size_t len;
	uint8_t buf[2 + 65535];
} conn_t;

typedef struct wreq {
	uv_write_t w;
	uint8_t data[];
} wreq_t;

static size_t question_end(const uint8_t *q, size_t len)
{
	size_t off = 12;
	while (off < len && q[off] != 0)
		off += 1u + q[off];
	return off + 1 + 4;
}

/* Reply: ID and question echoed, QR AA (RD echoed), nans A records 192.0.2.i. */
static size_t build_reply(const uint8_t *q, size_t qlen, uint8_t *out, unsigned nans, bool tc)
{
	size_t qe = question_end(q, qlen);
	out[0] = q[0];
	out[1] = q[1];
	out[2] = (uint8_t)(0x84 | (q[2] & 0x01) | (tc ? 0x02 : 0));
	out[3] = 0x00;
	out[4] = 0;
	out[5] = 1;
	out[6] = (uint8_t)(nans >> 8);
	out[7] = (uint8_t)nans;
	memset(out + 8, 0, 4);
	memcpy(out + 12, q + 12, qe - 12);
	size_t off = qe;
	for (unsigned i = 0; i < nans; i++) {
		const uint8_t rr[16] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4,
					192, 0, 2, (uint8_t)i};
		memcpy(out + off, rr, sizeof rr);
		off += sizeof rr;
	}
	return off;
}

static void flip_first_letter(uint8_t *pkt)
{
	for (size_t i = 13;; i++) {
		if ((pkt[i] | 0x20) >= 'a' && (pkt[i] | 0x20) <= 'z') {
			pkt[i] ^= 0x20;
			return;
		}
	}
}

static size_t make_bad(int kind, const uint8_t *good, size_t glen, uint8_t *out)
{
	memcpy(out, good, glen);
	switch (kind) {
	case B_WRONG_ID:
		out[0] ^= 0x5a;
		return glen;
	case B_WRONG_CASE:
		flip_first_letter(out);
		return glen;
	case B_GARBAGE:
		for (size_t i = 0; i < 48; i++)
			out[i] = (uint8_t)(i * 37 + 11);
		return 48;
	case B_SHORT:
		return 7;
	case B_QR0:
		out[2] &= 0x7f;
		return glen;
	case B_WRONG_QTYPE:
		out[question_end(good, glen) - 3] ^= 0x1d; /* A -> AAAA */
		return glen;
	case B_CUT_RR:
		return glen - 3; /* inside the answer's RDATA */
	case B_BAD_POINTER:
		out[question_end(good, glen)] = 0xff; /* the answer's owner points past the end */
		return glen;
	case B_COUNT_OVER:
		out[7] += 4; /* ANCOUNT larger than the records present */
		return glen;
	}
	return glen;
}

static void fake_send(fake_t *f, const uint8_t *pkt, size_t len, const struct sockaddr *to)
{
	uv_buf_t b = uv_buf_init((char *)pkt, (unsigned)len);
	ck_assert_int_eq(uv_udp_try_send(&f->udp, &b, 1, to), (int)len);
}

static void delayed_closed(uv_handle_t *h)
{
	free(h->data);
}

static void delayed_fire(uv_timer_t *t)
{
	delayed_t *d = t->data;
	fake_send(d->f, d->pkt, d->len, (const struct sockaddr *)&d->to);
	uv_close((uv_handle_t *)t, delayed_closed);
}

static void send_later(fake_t *f, const uint8_t *pkt, size_t len, const struct sockaddr *to,
		       unsigned ms)
{
	delayed_t *d = malloc(sizeof *d + len);
	ck_assert_ptr_nonnull(d);
	d->f = f;
	d->len = len;
	memcpy(d->pkt, pkt, len);
	memcpy(&d->to, to, to->sa_family == AF_INET ? sizeof(struct sockaddr_in)
						    : sizeof(struct sockaddr_in6));
	uv_timer_init(f->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, delayed_fire, ms, 0);
}

static void fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	fake_t *f = h->data;
	*buf = uv_buf_init((char *)f->rbuf, sizeof f->rbuf);
}

static void record(fake_t *f, const uint8_t *q, const struct sockaddr *from)
{
	if (f->nseen >= 2048)
		return;
	uint16_t port = from->sa_family == AF_INET
				? ((const struct sockaddr_in *)from)->sin_port
				: ((const struct sockaddr_in6 *)from)->sin6_port;
	f->ports[f->nseen] = ntohs(port);
	f->ids[f->nseen] = cn_wire_get16(q);
	f->nseen++;
}

static void fake_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			  const struct sockaddr *from, unsigned flags)
{
	fake_t *f = h->data;
	if (nread <= 0 || from == NULL)
		return;
	const uint8_t *q = (const uint8_t *)buf->base;
	ck_assert_int_ge(nread, 17);
	f->udp_queries++;
	record(f, q, from);
	static uint8_t good[65536], bad[65536];
	size_t glen = build_reply(q, (size_t)nread, good, f->udp_answers, false);
	switch (f->mode) {
	case F_GOOD:
	case F_TCP_BAD_FIRST:
	case F_TCP_STALL:
		fake_send(f, good, glen, from);
		break;
	case F_SILENT:
		break;
	case F_BAD_THEN_GOOD:
		fake_send(f, bad, make_bad(f->bad, good, glen, bad), from);
		send_later(f, good, glen, from, 50);
		break;
	case F_CASE_ONLY:
		fake_send(f, bad, make_bad(B_WRONG_CASE, good, glen, bad), from);
		break;
	case F_TC:
		fake_send(f, good, build_reply(q, (size_t)nread, good, 0, true), from);
		break;
	case F_OVERSIZE:
		fake_send(f, good, build_reply(q, (size_t)nread, good, 100, false), from);
		break;
	}
}

static void conn_closed(uv_handle_t *h)
{
	conn_t *c = h->data;
	c->f->tcp_conns_open--;
	free(c);
}

static void written(uv_write_t *w, int status)
{
	free(w);
}

static void conn_write(conn_t *c, const uint8_t *msg, size_t len)
{
	wreq_t *w = malloc(sizeof *w + 2 + len);
	ck_assert_ptr_nonnull(w);
	w->data[0] = (uint8_t)(len >> 8);
	w->data[1] = (uint8_t)len;
	memcpy(w->data + 2, msg, len);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(2 + len));
	ck_assert_int_eq(uv_write(&w->w, (uv_stream_t *)&c->h, &b, 1, written), 0);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn_t *c = h->data;
	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = s->data;
	fake_t *f = c->f;
	if (nread < 0) {
		uv_close((uv_handle_t *)&c->h, conn_closed);
		return;
	}
	c->len += (size_t)nread;
	if (c->len < 2 || c->len < 2u + cn_wire_get16(c->buf))
		return;
	const uint8_t *q = c->buf + 2;
	size_t qlen = cn_wire_get16(c->buf);
	f->tcp_queries++;
	static uint8_t good[65536], bad[65536];
	size_t glen = build_reply(q, qlen, good, f->tcp_answers, false);
	if (f->mode == F_TCP_STALL) {
		c->len = 0;
		return;
	}
	if (f->mode == F_TCP_BAD_FIRST) {
		conn_write(c, bad, make_bad(B_WRONG_ID, good, glen, bad));
		conn_write(c, bad, make_bad(B_WRONG_CASE, good, glen, bad));
	}
	conn_write(c, good, glen);
	c->len = 0;
}

static void fake_accept(uv_stream_t *l, int status)
{
	fake_t *f = l->data;
	ck_assert_int_eq(status, 0);
	conn_t *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->f = f;
	uv_tcp_init(f->loop, &c->h);
	c->h.data = c;
	f->tcp_conns_open++;
	ck_assert_int_eq(uv_accept(l, (uv_stream_t *)&c->h), 0);
	ck_assert_int_eq(uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read), 0);
}

/* Start the fake server on ip, port chosen by the kernel (UDP first, TCP on the same port). */
static bool fake_start(fake_t *f, uv_loop_t *loop, const char *ip, int mode)
{
	memset(f, 0, sizeof *f);
	f->loop = loop;
	f->mode = mode;
	f->udp_answers = 1;
	f->tcp_answers = 200;
	bool v6 = strchr(ip, ':') != NULL;
	if (v6)
		ck_assert_int_eq(uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&f->addr), 0);
	else
		ck_assert_int_eq(uv_ip4_addr(ip, 0, (struct sockaddr_in *)&f->addr), 0);
	uv_udp_init(loop, &f->udp);
	f->udp.data = f;
	uv_tcp_init(loop, &f->listener);
	f->listener.data = f;
	if (uv_udp_bind(&f->udp, (struct sockaddr *)&f->addr, 0) != 0)
		return false;
	int len = sizeof f->addr;
	ck_assert_int_eq(uv_udp_getsockname(&f->udp, (struct sockaddr *)&f->addr, &len), 0);
	f->addr_len = (socklen_t)len;
	ck_assert_int_eq(uv_tcp_bind(&f->listener, (struct sockaddr *)&f->addr, 0), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&f->listener, 16, fake_accept), 0);
	ck_assert_int_eq(uv_udp_recv_start(&f->udp, fake_alloc, fake_udp_recv), 0);
	return true;
}

static void fake_stop(fake_t *f)
{
	uv_close((uv_handle_t *)&f->udp, NULL);
	uv_close((uv_handle_t *)&f->listener, NULL);
}

/* ------------------------------------------------------------------ client side ------- */

typedef struct result {
	int calls;
	cn_upstream_event_t ev;
	size_t len;
	unsigned rtt_ms;
	uint64_t at_ns;
	uint8_t reply[65536];
} result_t;

static uv_loop_t loop;
static fake_t fake;
static cn_upstream_t *up;
static result_t res;

static void on_done(void *ctx, cn_upstream_event_t ev, const uint8_t *reply, size_t len,
		    unsigned rtt)
{
	result_t *r = ctx;
	r->calls++;
	r->ev = ev;
	r->len = len;
	r->rtt_ms = rtt;
	r->at_ns = uv_hrtime();
	if (ev == CN_UP_REPLY) {
		ck_assert_ptr_nonnull(reply);
		memcpy(r->reply, reply, len);
	} else {
		ck_assert_ptr_null(reply);
		ck_assert_uint_eq(len, 0);
	}
}

static void start(const char *ip, int mode)
{
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert(fake_start(&fake, &loop, ip, mode));
	ck_assert_int_eq(cn_upstream_new(&loop, &up), 0);
	memset(&res, 0, sizeof res);
}

/* Close everything and prove no handle is left behind. */
static void stop(void)
{
	if (up != NULL)
		cn_upstream_close(up);
	up = NULL;
	fake_stop(&fake);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(fake.tcp_conns_open, 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static cn_upstream_query_t make_query(unsigned timeout_ms, bool tcp)
{
	cn_upstream_query_t q;
	memset(&q, 0, sizeof q);
	memcpy(&q.addr, &fake.addr, sizeof q.addr);
	q.addr_len = fake.addr_len;
	q.wire = QUERY;
	q.len = sizeof QUERY;
	q.timeout_ms = timeout_ms;
	q.tcp = tcp;
	return q;
}

static void run_until_calls(result_t *r, int n)
{
	while (r->calls < n)
		uv_run(&loop, UV_RUN_ONCE);
}

static bool timer_done;
static void on_timer(uv_timer_t *t)
{
	timer_done = true;
}

/* Run the loop for ms milliseconds (the fake server keeps it alive). */
static void run_for(unsigned ms)
{
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	timer_done = false;
	uv_timer_start(&t, on_timer, ms, 0);
	while (!timer_done)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static unsigned elapsed_ms(uint64_t t0, uint64_t t1)
{
	return (unsigned)((t1 - t0) / 1000000u);
}

static void assert_good_reply(const result_t *r, unsigned nans)
{
	ck_assert_int_eq(r->ev, CN_UP_REPLY);
	ck_assert_uint_eq(r->len, QEND + 16u * nans);
	ck_assert_uint_eq(cn_wire_get16(r->reply + 6), nans);
	ck_assert_mem_eq(r->reply + 12, QUERY + 12, QEND - 12); /* exact case echoed */
}

static cn_upstream_stats_t stats(void)
{
	cn_upstream_stats_t s;
	cn_upstream_get_stats(up, &s);
	return s;
}

/* ------------------------------------------------------------------ tests ------------- */

START_TEST(test_params)
{
	start("127.0.0.1", F_GOOD);
	cn_upstream_query_t q = make_query(500, false);
	cn_upstream_pending_t *h = NULL;
	ck_assert_int_eq(cn_upstream_new(NULL, &up), -EINVAL);
	ck_assert_int_eq(cn_upstream_send(NULL, &q, on_done, &res, &h), -EINVAL);
	ck_assert_int_eq(cn_upstream_send(up, NULL, on_done, &res, &h), -EINVAL);
	ck_assert_int_eq(cn_upstream_send(up, &q, NULL, &res, &h), -EINVAL);
	cn_upstream_query_t bad = q;
	bad.len = 16;
	ck_assert_int_eq(cn_upstream_send(up, &bad, on_done, &res, &h), -EINVAL);
	bad = q;
	bad.timeout_ms = 0;
	ck_assert_int_eq(cn_upstream_send(up, &bad, on_done, &res, &h), -EINVAL);
	bad = q;
	bad.addr.ss_family = AF_UNIX;
	ck_assert_int_eq(cn_upstream_send(up, &bad, on_done, &res, &h), -EINVAL);
	uint8_t w[sizeof QUERY];
	memcpy(w, QUERY, sizeof w);
	w[5] = 2; /* QDCOUNT 2 */
	bad = q;
	bad.wire = w;
	ck_assert_int_eq(cn_upstream_send(up, &bad, on_done, &res, &h), -EINVAL);
	memcpy(w, QUERY, sizeof w);
	w[12] = 0xc0; /* compression pointer in the qname */
	ck_assert_int_eq(cn_upstream_send(up, &bad, on_done, &res, &h), -EINVAL);
	ck_assert_ptr_null(h);
	cn_upstream_cancel(NULL);
	cn_upstream_close(NULL);
	ck_assert_int_eq(res.calls, 0);
	ck_assert_uint_eq(stats().sent_udp, 0);
	stop();
}
END_TEST

START_TEST(test_good_reply)
{
	start("127.0.0.1", F_GOOD);
	cn_upstream_query_t q = make_query(1000, false);
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 1);
	ck_assert_uint_lt(res.rtt_ms, 500);
	cn_upstream_stats_t s = stats();
	ck_assert_uint_eq(s.sent_udp, 1);
	ck_assert_uint_eq(s.replies, 1);
	ck_assert_uint_eq(s.sent_tcp, 0);
	ck_assert_uint_eq(s.ignored_mismatch + s.ignored_case + s.ignored_malformed, 0);
	ck_assert_uint_eq(fake.udp_queries, 1);
	/* The query on the wire carries the ID that came back, and the caller's bytes. */
	ck_assert_uint_eq(fake.ids[0], cn_wire_get16(res.reply));
	ck_assert_uint_ge(fake.ports[0], 1024);
	stop();
}
END_TEST

/* docs/attacks.md A3 (TuDoor): each bad packet is ignored and the real answer still wins. */
START_TEST(test_bad_then_good)
{
	start("127.0.0.1", F_BAD_THEN_GOOD);
	fake.bad = _i;
	cn_upstream_query_t q = make_query(2000, false);
	uint64_t t0 = uv_hrtime();
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 1);
	ck_assert_uint_ge(elapsed_ms(t0, res.at_ns), 45);
	ck_assert_uint_ge(res.rtt_ms, 45);
	cn_upstream_stats_t s = stats();
	ck_assert_uint_eq(s.replies, 1);
	ck_assert_uint_eq(s.ignored_mismatch + s.ignored_case + s.ignored_malformed, 1);
	switch (_i) {
	case B_WRONG_ID:
	case B_WRONG_QTYPE:
		ck_assert_uint_eq(s.ignored_mismatch, 1);
		break;
	case B_WRONG_CASE:
		ck_assert_uint_eq(s.ignored_case, 1);
		break;
	case B_SHORT:
	case B_QR0:
	case B_CUT_RR:
	case B_BAD_POINTER:
	case B_COUNT_OVER:
		ck_assert_uint_eq(s.ignored_malformed, 1);
		break;
	}
	stop();
}
END_TEST

START_TEST(test_case_mismatch_timeout)
{
	start("127.0.0.1", F_CASE_ONLY);
	cn_upstream_query_t q = make_query(200, false);
	uint64_t t0 = uv_hrtime();
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	ck_assert_int_eq(res.ev, CN_UP_CASE_MISMATCH);
	unsigned ms = elapsed_ms(t0, res.at_ns);
	ck_assert_uint_ge(ms, 195);
	ck_assert_uint_lt(ms, 200 + MARGIN_MS);
	cn_upstream_stats_t s = stats();
	ck_assert_uint_eq(s.ignored_case, 1);
	ck_assert_uint_eq(s.case_failures, 1);
	ck_assert_uint_eq(s.timeouts, 0);
	stop();
}
END_TEST

START_TEST(test_timeout)
{
	start("127.0.0.1", F_SILENT);
	cn_upstream_query_t q = make_query(250, false);
	uint64_t t0 = uv_hrtime();
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	ck_assert_int_eq(res.ev, CN_UP_TIMEOUT);
	unsigned ms = elapsed_ms(t0, res.at_ns);
	ck_assert_uint_ge(ms, 245);
	ck_assert_uint_lt(ms, 250 + MARGIN_MS);
	ck_assert_uint_ge(res.rtt_ms, 245);
	ck_assert_uint_eq(stats().timeouts, 1);
	stop();
}
END_TEST

START_TEST(test_tc_retries_over_tcp)
{
	start("127.0.0.1", F_TC);
	cn_upstream_query_t q = make_query(2000, false);
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 200); /* the full 3233-byte TCP answer */
	ck_assert_uint_eq(fake.udp_queries, 1);
	ck_assert_uint_eq(fake.tcp_queries, 1);
	cn_upstream_stats_t s = stats();
	ck_assert_uint_eq(s.sent_udp, 1);
	ck_assert_uint_eq(s.sent_tcp, 1);
	ck_assert_uint_eq(s.tc_retries, 1);
	ck_assert_uint_eq(s.oversize_retries, 0);
	ck_assert_uint_eq(s.replies, 1);
	stop();
}
END_TEST

/* docs/attacks.md A7: a UDP answer longer than the EDNS size we offered is asked again over TCP. */
START_TEST(test_oversize_udp_retries_over_tcp)
{
	start("127.0.0.1", F_OVERSIZE);
	cn_upstream_query_t q = make_query(2000, false);
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 200);
	cn_upstream_stats_t s = stats();
	ck_assert_uint_eq(s.tc_retries, 1);
	ck_assert_uint_eq(s.oversize_retries, 1);
	ck_assert_uint_eq(fake.tcp_queries, 1);
	stop();
}
END_TEST

START_TEST(test_tcp_from_start)
{
	start("127.0.0.1", F_GOOD);
	fake.tcp_answers = 3;
	cn_upstream_query_t q = make_query(2000, true);
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 3);
	ck_assert_uint_eq(fake.udp_queries, 0);
	ck_assert_uint_eq(fake.tcp_queries, 1);
	ck_assert_uint_eq(stats().sent_tcp, 1);
	ck_assert_uint_eq(stats().sent_udp, 0);
	stop();
}
END_TEST

START_TEST(test_tcp_ignores_bad_frames)
{
	start("127.0.0.1", F_TCP_BAD_FIRST);
	fake.tcp_answers = 2;
	cn_upstream_query_t q = make_query(2000, true);
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 2);
	cn_upstream_stats_t s = stats();
	ck_assert_uint_eq(s.ignored_mismatch, 1);
	ck_assert_uint_eq(s.ignored_case, 1);
	stop();
}
END_TEST

/* docs/attacks.md D2: a server that accepts TCP and never answers costs one timeout. */
START_TEST(test_tcp_stall_times_out)
{
	start("127.0.0.1", F_TCP_STALL);
	cn_upstream_query_t q = make_query(200, true);
	uint64_t t0 = uv_hrtime();
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	ck_assert_int_eq(res.ev, CN_UP_TIMEOUT);
	ck_assert_uint_lt(elapsed_ms(t0, res.at_ns), 200 + MARGIN_MS);
	stop();
}
END_TEST

START_TEST(test_tcp_refused)
{
	start("127.0.0.1", F_GOOD);
	uv_close((uv_handle_t *)&fake.listener, NULL); /* nobody listens on TCP any more */
	uv_run(&loop, UV_RUN_NOWAIT); /* the close callback runs: the struct may be reused */
	uv_tcp_init(&loop, &fake.listener);
	cn_upstream_query_t q = make_query(2000, true);
	uint64_t t0 = uv_hrtime();
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	ck_assert_int_eq(res.ev, CN_UP_NETWORK_ERROR);
	ck_assert_uint_lt(elapsed_ms(t0, res.at_ns), MARGIN_MS); /* timeout is 2000 */
	ck_assert_uint_eq(stats().network_errors, 1);
	stop();
}
END_TEST

/* A closed UDP port: ICMP port unreachable -> ECONNREFUSED on the connected socket. */
START_TEST(test_icmp_unreachable)
{
	start("127.0.0.1", F_GOOD);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a;
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 0, &a), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t alen = sizeof a;
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	cn_upstream_query_t q = make_query(2000, false);
	memcpy(&q.addr, &a, sizeof a);
	q.addr_len = sizeof a;
	uint64_t t0 = uv_hrtime();
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	ck_assert_int_eq(res.ev, CN_UP_NETWORK_ERROR);
	ck_assert_uint_lt(elapsed_ms(t0, res.at_ns), MARGIN_MS); /* timeout is 2000 */
	ck_assert_uint_eq(stats().network_errors, 1);
	stop();
}
END_TEST

START_TEST(test_ipv6)
{
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	if (!fake_start(&fake, &loop, "::1", F_TC)) {
		fake_stop(&fake);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		fprintf(stderr, "test_ipv6: ::1 not available, skipped\n");
		return;
	}
	ck_assert_int_eq(cn_upstream_new(&loop, &up), 0);
	memset(&res, 0, sizeof res);
	cn_upstream_query_t q = make_query(2000, false);
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 200);
	ck_assert_uint_eq(fake.udp_queries, 1);
	ck_assert_uint_eq(fake.tcp_queries, 1);
	stop();
}
END_TEST

/* RFC 5452: 1000 queries, each from its own random port with its own random ID. */
#define MANY 1000
#define IN_FLIGHT 32
static int many_sent;

static void many_send(void);

static void many_done(void *ctx, cn_upstream_event_t ev, const uint8_t *reply, size_t len,
		      unsigned rtt)
{
	result_t *r = ctx;
	ck_assert_int_eq(ev, CN_UP_REPLY);
	r->calls++;
	if (many_sent < MANY)
		many_send();
}

static void many_send(void)
{
	cn_upstream_query_t q = make_query(2000, false);
	ck_assert_int_eq(cn_upstream_send(up, &q, many_done, &res, NULL), 0);
	many_sent++;
}

static int cmp16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static size_t distinct(uint16_t *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp16);
	size_t d = n > 0;
	for (size_t i = 1; i < n; i++)
		d += v[i] != v[i - 1];
	return d;
}

START_TEST(test_random_ports_and_ids)
{
	start("127.0.0.1", F_GOOD);
	many_sent = 0;
	for (int i = 0; i < IN_FLIGHT; i++)
		many_send();
	run_until_calls(&res, MANY);
	ck_assert_uint_eq(fake.nseen, MANY);
	unsigned lo = 65535, hi = 0;
	for (size_t i = 0; i < fake.nseen; i++) {
		lo = fake.ports[i] < lo ? fake.ports[i] : lo;
		hi = fake.ports[i] > hi ? fake.ports[i] : hi;
	}
	size_t ports = distinct(fake.ports, fake.nseen);
	size_t ids = distinct(fake.ids, fake.nseen);
	fprintf(stderr, "test_random_ports_and_ids: %zu queries, %zu distinct ports (%u..%u), "
		"%zu distinct IDs\n", fake.nseen, ports, lo, hi, ids);
	ck_assert_uint_gt(ports, 900);
	ck_assert_uint_gt(ids, 900);
	/* Wider than the kernel's ephemeral range (32768-60999 here). */
	ck_assert_uint_lt(lo, 32768);
	ck_assert_uint_gt(hi, 61000);
	ck_assert_uint_eq(stats().replies, MANY);
	stop();
}
END_TEST

static cn_upstream_pending_t *to_cancel;
static void cancel_timer(uv_timer_t *t)
{
	cn_upstream_cancel(to_cancel);
	uv_close((uv_handle_t *)t, NULL);
}

START_TEST(test_cancel)
{
	/* _i: 0 cancel at once, 1 cancel while waiting on UDP, 2 while waiting on TCP */
	start("127.0.0.1", _i == 2 ? F_TCP_STALL : F_SILENT);
	cn_upstream_query_t q = make_query(300, _i == 2);
	cn_upstream_pending_t *h = NULL;
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, &h), 0);
	ck_assert_ptr_nonnull(h);
	uv_timer_t t;
	if (_i == 0) {
		cn_upstream_cancel(h);
	} else {
		to_cancel = h;
		uv_timer_init(&loop, &t);
		uv_timer_start(&t, cancel_timer, 50, 0);
	}
	run_for(500); /* past the timeout: the callback must never run */
	ck_assert_int_eq(res.calls, 0);
	cn_upstream_stats_t s = stats();
	ck_assert_uint_eq(s.timeouts + s.replies + s.network_errors, 0);
	stop();
}
END_TEST

/* A TC=1 reply that is cancelled while the TCP retry is connecting. */
static void cancel_on_tc(void *ctx, cn_upstream_event_t ev, const uint8_t *reply, size_t len,
			 unsigned rtt)
{
	ck_abort_msg("cancelled query called back");
}

START_TEST(test_cancel_during_tc_retry)
{
	start("127.0.0.1", F_TC);
	cn_upstream_query_t q = make_query(1000, false);
	cn_upstream_pending_t *h = NULL;
	ck_assert_int_eq(cn_upstream_send(up, &q, cancel_on_tc, NULL, &h), 0);
	while (stats().tc_retries == 0)
		uv_run(&loop, UV_RUN_ONCE);
	cn_upstream_cancel(h);
	run_for(100);
	stop();
}
END_TEST

START_TEST(test_close_with_pending)
{
	start("127.0.0.1", F_SILENT);
	result_t r[3];
	memset(r, 0, sizeof r);
	cn_upstream_query_t q = make_query(1000, false);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &r[i], NULL), 0);
	cn_upstream_close(up);
	up = NULL;
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(r[i].calls, 1);
		ck_assert_int_eq(r[i].ev, CN_UP_NETWORK_ERROR);
	}
	stop();
}
END_TEST

/* The owner may close the client from inside a callback (a worker shutting down). */
static void close_in_cb(void *ctx, cn_upstream_event_t ev, const uint8_t *reply, size_t len,
			unsigned rtt)
{
	on_done(ctx, ev, reply, len, rtt);
	cn_upstream_close(up);
	up = NULL;
}

START_TEST(test_close_inside_callback)
{
	start("127.0.0.1", F_GOOD);
	result_t other;
	memset(&other, 0, sizeof other);
	cn_upstream_query_t q = make_query(1000, false);
	ck_assert_int_eq(cn_upstream_send(up, &q, close_in_cb, &res, NULL), 0);
	cn_upstream_query_t slow = make_query(1000, true);
	fake.mode = F_TCP_STALL;
	ck_assert_int_eq(cn_upstream_send(up, &slow, on_done, &other, NULL), 0);
	run_until_calls(&res, 1);
	ck_assert_int_eq(res.ev, CN_UP_REPLY);
	ck_assert_int_eq(other.calls, 1);
	ck_assert_int_eq(other.ev, CN_UP_NETWORK_ERROR);
	stop();
}
END_TEST

/* ------------------------------------------------------------------ forward (c-ares) -- */
/* Queries marked forward go through c-ares (net/forward.c): same contract, its transport. */

static cn_upstream_query_t fwd_query(unsigned timeout_ms)
{
	cn_upstream_query_t q = make_query(timeout_ms, false);
	q.forward = true;
	return q;
}

START_TEST(test_forward_good_reply)
{
	start("127.0.0.1", F_GOOD);
	cn_upstream_query_t q = fwd_query(1000);
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 1);
	cn_upstream_stats_t s = stats();
	ck_assert_uint_eq(s.forwarded, 1);
	ck_assert_uint_eq(s.replies, 1);
	ck_assert_uint_eq(s.sent_udp + s.sent_tcp, 0);
	ck_assert_uint_eq(fake.udp_queries, 1);
	/* our random ID went out (c-ares keeps the caller's) and came back */
	ck_assert_uint_eq(fake.ids[0], cn_wire_get16(res.reply));
	stop();
}
END_TEST

START_TEST(test_forward_tc_goes_to_tcp)
{
	start("127.0.0.1", F_TC);
	cn_upstream_query_t q = fwd_query(2000);
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	assert_good_reply(&res, 200); /* c-ares asked again over TCP */
	ck_assert_uint_eq(fake.udp_queries, 1);
	ck_assert_uint_eq(fake.tcp_queries, 1);
	stop();
}
END_TEST

/* Our deadline, not c-ares's: the query is detached and its late end dropped. */
START_TEST(test_forward_timeout)
{
	start("127.0.0.1", F_SILENT);
	cn_upstream_query_t q = fwd_query(250);
	uint64_t t0 = uv_hrtime();
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, NULL), 0);
	run_until_calls(&res, 1);
	ck_assert_int_eq(res.ev, CN_UP_TIMEOUT);
	unsigned ms = elapsed_ms(t0, res.at_ns);
	ck_assert_uint_ge(ms, 245);
	ck_assert_uint_lt(ms, 250 + MARGIN_MS);
	run_for(100);
	ck_assert_int_eq(res.calls, 1);
	stop(); /* c-ares still holds the query: destroyed with the channel, nothing leaks */
}
END_TEST

START_TEST(test_forward_cancel)
{
	start("127.0.0.1", F_GOOD);
	cn_upstream_query_t q = fwd_query(500);
	cn_upstream_pending_t *h = NULL;
	ck_assert_int_eq(cn_upstream_send(up, &q, on_done, &res, &h), 0);
	cn_upstream_cancel(h);
	run_for(200); /* the reply arrives: dropped */
	ck_assert_int_eq(res.calls, 0);
	ck_assert_uint_eq(fake.udp_queries, 1);
	stop();
}
END_TEST

/* The worker closes its client from inside a reply's callback: c-ares is still on the
 * stack, so the channel is destroyed only when it returns. */
static void close_in_fwd_callback(void *ctx, cn_upstream_event_t ev, const uint8_t *reply,
				  size_t len, unsigned rtt)
{
	on_done(ctx, ev, reply, len, rtt);
	cn_upstream_close(up);
	up = NULL;
}

START_TEST(test_forward_close_inside_callback)
{
	start("127.0.0.1", F_GOOD);
	cn_upstream_query_t q = fwd_query(1000);
	ck_assert_int_eq(cn_upstream_send(up, &q, close_in_fwd_callback, &res, NULL), 0);
	cn_upstream_query_t q2 = fwd_query(1000); /* pending when the close comes */
	result_t res2;
	memset(&res2, 0, sizeof(res2));
	ck_assert_int_eq(cn_upstream_send(up, &q2, on_done, &res2, NULL), 0);
	run_until_calls(&res, 1);
	ck_assert_int_eq(res.ev, CN_UP_REPLY);
	ck_assert_int_le(res2.calls, 1);
	stop();
}
END_TEST

static Suite *upstream_suite(void)
{
	Suite *s = suite_create("upstream");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_good_reply);
	tcase_add_loop_test(tc, test_bad_then_good, 0, B_MAX);
	tcase_add_test(tc, test_case_mismatch_timeout);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_tc_retries_over_tcp);
	tcase_add_test(tc, test_oversize_udp_retries_over_tcp);
	tcase_add_test(tc, test_tcp_from_start);
	tcase_add_test(tc, test_tcp_ignores_bad_frames);
	tcase_add_test(tc, test_tcp_stall_times_out);
	tcase_add_test(tc, test_tcp_refused);
	tcase_add_test(tc, test_icmp_unreachable);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_random_ports_and_ids);
	tcase_add_loop_test(tc, test_cancel, 0, 3);
	tcase_add_test(tc, test_cancel_during_tc_retry);
	tcase_add_test(tc, test_close_with_pending);
	tcase_add_test(tc, test_close_inside_callback);
	tcase_add_test(tc, test_forward_good_reply);
	tcase_add_test(tc, test_forward_tc_goes_to_tcp);
	tcase_add_test(tc, test_forward_timeout);
	tcase_add_test(tc, test_forward_cancel);
	tcase_add_test(tc, test_forward_close_inside_callback);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(upstream_suite());
}
