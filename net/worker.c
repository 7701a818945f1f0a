/*
 * The worker: glue between the listeners, the engine and the upstream client on one loop.
 *
 * Coalescing: one resolution ("flight") per (lowercased qname, qtype, qclass) at a time.
 * Clients asking the same question while it is in flight are added to its waiter list,
 * each with its own cn_question_t (ID, RD/CD, EDNS size, transport), and each gets its own
 * reply from cn_resolve_answer() when the flight finishes. The table is keyed with a
 * secret SipHash key: qnames are chosen by clients, and an unkeyed hash would let them
 * pile every flight into one bucket.
 *
 * Deadlines: waiters join in time order and share one client deadline length, so the
 * list is sorted by deadline and one timer per flight serves them all: it fires at the
 * earlier of the first waiter's deadline and the flight's resolve deadline. A waiter whose
 * deadline passes gets cn_engine_late_answer() (stale data with EDE 3, or SERVFAIL + EDE)
 * and leaves; the flight goes on (its answer fills the cache) until it finishes or its
 * resolve deadline passes, when it is abandoned: pending upstream query cancelled,
 * request freed.
 *
 * Every client query is counted once with cn_engine_count(): when its reply is sent, when
 * it is dropped, or when it is abandoned at shutdown (CN_OUT_DROPPED).
 *
 * Several workers (net/pool.c: one per thread) share one in-flight table: 64 lock stripes
 * over 16384 buckets, a miss takes one stripe lock for a lookup-or-insert (each worker
 * counts its acquisitions, and those that found the stripe held: inflight.lock_*). A worker that
 * misses resolves the question itself unless another worker's flight for it is already in
 * the table; then, and only then, the client is handed to that worker (MSG_QUERY in its
 * inbox: a mutex-protected list plus a uv_async_t), which adds it to its flight like a
 * local one. The answer goes back the same way (MSG_REPLY: the reply bytes), because the
 * client's socket or TCP connection belongs to the worker it came in on and only that
 * worker's thread may use it; that worker sends it, counts it and drops the TCP reference.
 * Cache hits, the common case, never touch the table; a cold miss starts its resolution
 * where it arrived, with no hop between threads. Only the owner worker touches a flight,
 * except for its key, hash and owner, which others read under the stripe lock.
 *
 * Per-client bound (DNSBomb, B7 in docs/attacks.md): a client (an IPv4 address, an IPv6 /64)
 * has at most limits.client_waiting queries waiting on resolutions at once, over all
 * workers; past that its misses are dropped, so no one can pile up replies to release
 * together (or make cairn hold unbounded state for one source). The counters are a fixed
 * table of atomics indexed by a keyed hash of the address (shared by the group, like the
 * in-flight table); a query holds its counter from the miss until its peer is released
 * (peer.wait_slot), on whichever worker that happens.
 *
 * Shutdown (pool.c): each worker is told to stop through its inbox; it drops what it owns
 * (clients of other workers get a drop message), closes its handles, then closes its inbox
 * and lets its loop run dry. Messages that reach a closed inbox wait there until every
 * thread has been joined; cn_worker_drain() then counts and releases them.
 */
#include "net/worker.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "net/log.h"
#include "net/querylog.h"
#include "net/tcp.h"
#include "net/udp.h"
#include "net/upstream.h"
#include "resolver/wire.h"

#define CN_WORKER_MAX_FLIGHTS 10000  /* resolutions in flight per worker */
#define CN_WORKER_MAX_WAITERS 1000   /* clients waiting on one resolution */
#define CN_FLIGHTS_STRIPES 64        /* locks of the shared in-flight table */
#define CN_FLIGHTS_BUCKETS 256       /* buckets per stripe (chains stay short because the
					 hash key is secret) */
#define CN_WORKER_MAX_HOPS 2         /* hand-offs of one query (a flight can end and another
					 worker's start while a hand-off travels) */
#define KEY_MAX (CN_DNAME_MAX + 5) /* name, type, class, view */

/* Counters have one writer (this worker's loop thread) and may be read from another (the
 * control socket): relaxed atomic stores and loads, no locked read-modify-write. */
#define STAT_INC(x) __atomic_store_n(&(x), (x) + 1, __ATOMIC_RELAXED)
#define CN_CLIENT_SLOTS 16384        /* per-client waiting counters (power of two) */

typedef struct waiter {
	struct waiter *next;
	cn_question_t q;
	cn_worker_t *home;    /* the worker that received the query and owns peer */
	cn_peer_t peer;
	uint64_t deadline_ms; /* loop time */
} waiter_t;

/* A message between workers (see the top of the file). */
typedef enum msg_kind { MSG_QUERY, MSG_REPLY, MSG_CALL } msg_kind_t;

typedef struct wmsg {
	struct wmsg *next;
	msg_kind_t kind;
	cn_worker_t *home;      /* MSG_QUERY: where the client is */
	cn_peer_t peer;         /* the client (owned by home) */
	cn_question_t q;        /* MSG_QUERY */
	uint64_t hash;          /* MSG_QUERY: key and hash, computed once */
	size_t key_len;
	uint8_t key[KEY_MAX];
	unsigned hops;          /* MSG_QUERY: hand-offs so far */
	void (*fn)(void *);     /* MSG_CALL: run fn(arg) on the worker's loop */
	void *arg;
	cn_outcome_t outcome;   /* MSG_REPLY */
	size_t len;             /* MSG_REPLY: reply bytes in data (0: nothing to send) */
	uint8_t data[];
} wmsg_t;

typedef struct flight {
	struct flight *hnext;    /* hash chain in the shared table (under its stripe lock) */
	struct flight *prev, *next; /* list of all flights (for shutdown) */
	cn_worker_t *w;
	uint64_t hash;
	uint8_t key[KEY_MAX];
	size_t key_len;
	cn_request_t *req;
	cn_upstream_pending_t *pending;
	waiter_t *head, **tail;
	unsigned nwaiters;
	uint64_t resolve_deadline_ms;
	uv_timer_t timer;
	bool prefetch;
} flight_t;

/* The in-flight table: one per group of workers (each worker has its own until linked). */
typedef struct stripe {
	alignas(64) uv_mutex_t lock;
	flight_t *bucket[CN_FLIGHTS_BUCKETS];
} stripe_t;

typedef struct flights {
	stripe_t stripe[CN_FLIGHTS_STRIPES];
	uint8_t hash_key[16];
	atomic_uint refs;  /* workers using it */
	atomic_uint waiting[CN_CLIENT_SLOTS]; /* queries waiting, per client slot */
	/* rate_limit: UDP cache misses per client prefix (/24, /56) in the current second:
	 * the second (low 32 bits) and the count since, packed in one word */
	atomic_uint_fast64_t rl[CN_CLIENT_SLOTS];
} flights_t;

struct cn_worker {
	uv_loop_t *loop;
	const cn_config_t *cfg;
	cn_engine_t *engine;
	cn_upstream_t *upstream;
	cn_acl_t acl0;                  /* the start-up access list */
	unsigned rl_seen;               /* rate-limited queries here (for slip) */
	_Atomic(const cn_acl_t *) acl;  /* the one in force: acl0, or one a reload installed */
	cn_udp_t **udp;
	size_t nudp;
	cn_tcp_t **tcp;
	size_t ntcp;
	flights_t *ft;     /* the in-flight table (shared by the group) */
	flight_t *flights; /* this worker's in-flight resolutions */
	size_t nflights;
	bool stopping;
	cn_worker_stats_t stats;
	/* inbox: other threads append under the lock and wake the loop with the async */
	uv_async_t async;
	uv_mutex_t inbox_lock;
	wmsg_t *inbox, **inbox_tail;
	bool inbox_closed;     /* the async is closed: messages wait for cn_worker_drain() */
	atomic_bool stop_requested;
	cn_hist_t hist[CN_HIST_MAX]; /* latency histograms (net/stats.h), one writer: us */
	cn_querylog_t *qlog;         /* the query log, or NULL */
	cn_querylog_buf_t qbuf;      /* its lines not written yet */
	uv_prepare_t qflush;         /* writes them out once per loop iteration */
	uint64_t batch_ns;          /* a receive batch's uv_hrtime(), 0 outside one */
	cn_time_t batch_now;        /* and its cn_time_t */
	uint32_t batch_hits;        /* hits of the batch whose latency is recorded at its end */
	cn_hot_t *hot;              /* ready-to-send answers for UDP queries, or NULL */
	uint8_t out[CN_MSG_MAX]; /* reply buffer: every reply is built here and sent at once */
};

/* ------------------------------------------------------------------ helpers ----------- */

const uint64_t cn_hist_bounds_ns[CN_HIST_NBOUNDS] = CN_HIST_BOUNDS_NS;

/* now_ns: a uv_hrtime() reading the caller already has. */
static cn_time_t time_at(uint64_t now_ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	cn_time_t t = { .wall_s = (uint64_t)ts.tv_sec, .mono_ms = now_ns / 1000000 };
	return t;
}

static cn_time_t time_now(void)
{
	return time_at(uv_hrtime());
}

/* Count n latencies of ns each: a few compares (hits land in the first buckets) and
 * relaxed stores. */
static void hist_record(cn_hist_t *h, uint64_t ns, uint64_t n)
{
	unsigned i = 0;
	while (i < CN_HIST_NBOUNDS && ns > cn_hist_bounds_ns[i])
		i++;
	__atomic_store_n(&h->bucket[i], h->bucket[i] + n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->sum_ns, h->sum_ns + ns * n, __ATOMIC_RELAXED);
}

/* After a reply (or a drop): the latency histograms and the query log. start_ns 0: not
 * timed (a query refused by the ACL, or one dropped before the engine saw it). */
static void account(cn_worker_t *w, const cn_peer_t *peer, const uint8_t *buf, size_t len,
		    cn_outcome_t outcome, uint64_t start_ns)
{
	bool log = w->qlog && cn_querylog_on(w->qlog);
	int hist = !start_ns || !len ? -1
		   : peer->wait_slot ? CN_HIST_RESOLUTION
		   : outcome == CN_OUT_CACHE_POSITIVE || outcome == CN_OUT_CACHE_NEGATIVE
			   ? CN_HIST_HIT : -1;
	if (hist < 0 && !log)
		return;
	if (hist == CN_HIST_HIT && !log && start_ns == w->batch_ns) {
		w->batch_hits++; /* timed when the batch's replies have left */
		return;
	}
	uint64_t ns = start_ns ? uv_hrtime() - start_ns : 0;
	if (hist >= 0)
		hist_record(&w->hist[hist], ns, 1);
	if (log) {
		cn_querylog_entry_t e = { .client = (const struct sockaddr *)&peer->addr,
					  .tcp = peer->tcp != NULL, .reply = buf, .reply_len = len,
					  .outcome = outcome, .latency_ns = ns };
		cn_querylog_add(w->qlog, &w->qbuf, &e);
	}
}

/* The coalescing key: lowercased qname, qtype, qclass (the engine's question key). */
static size_t make_key(const cn_question_t *q, uint8_t *key)
{
	size_t n = q->qname_len <= CN_DNAME_MAX ? q->qname_len : CN_DNAME_MAX;
	for (size_t i = 0; i < n; i++)
		key[i] = cn_ascii_lower(q->qname[i]);
	key[n] = (uint8_t)(q->qtype >> 8);
	key[n + 1] = (uint8_t)q->qtype;
	key[n + 2] = (uint8_t)(q->qclass >> 8);
	key[n + 3] = (uint8_t)q->qclass;
	key[n + 4] = q->view; /* a private zone's view never shares a resolution */
	return n + 5;
}

/* ---- the shared in-flight table ---- */

static flights_t *flights_new(void)
{
	flights_t *ft = aligned_alloc(alignof(flights_t), sizeof(flights_t));
	if (!ft)
		return NULL;
	memset(ft, 0, sizeof(*ft));
	for (int i = 0; i < CN_FLIGHTS_STRIPES; i++) {
		if (uv_mutex_init(&ft->stripe[i].lock) != 0) {
			while (i-- > 0)
				uv_mutex_destroy(&ft->stripe[i].lock);
			free(ft);
			return NULL;
		}
	}
	arc4random_buf(ft->hash_key, sizeof(ft->hash_key));
	atomic_init(&ft->refs, 1);
	return ft;
}

static void flights_unref(flights_t *ft)
{
	if (!ft || atomic_fetch_sub(&ft->refs, 1) != 1)
		return;
	for (int i = 0; i < CN_FLIGHTS_STRIPES; i++)
		uv_mutex_destroy(&ft->stripe[i].lock);
	free(ft);
}

static stripe_t *stripe_of(flights_t *ft, uint64_t hash)
{
	return &ft->stripe[hash % CN_FLIGHTS_STRIPES];
}

static flight_t **bucket_of(stripe_t *st, uint64_t hash)
{
	return &st->bucket[(hash / CN_FLIGHTS_STRIPES) % CN_FLIGHTS_BUCKETS];
}

/* Under the stripe lock. */
static flight_t *find_locked(stripe_t *st, const uint8_t *key, size_t len, uint64_t hash)
{
	for (flight_t *f = *bucket_of(st, hash); f; f = f->hnext) {
		if (f->hash == hash && f->key_len == len && memcmp(f->key, key, len) == 0)
			return f;
	}
	return NULL;
}

/*
 * Take a stripe lock; counted per worker (one writer), miss path only: a try first, and
 * when another thread held it, a contended acquisition, then the blocking lock.
 */
static void stripe_lock(cn_worker_t *w, stripe_t *st)
{
	if (uv_mutex_trylock(&st->lock) != 0) {
		STAT_INC(w->stats.flight_lock_contended);
		uv_mutex_lock(&st->lock);
	}
	STAT_INC(w->stats.flight_locks);
}

/*
 * Look the key up and, when absent and mine is not NULL, insert mine: one step under one
 * lock, so two workers can never both start. Returns the flight found (NULL: mine is in,
 * or nothing was there); *owner gets its worker (the flight itself may only be used by
 * its owner: another worker may end it as soon as the lock is released).
 */
static flight_t *flight_claim(cn_worker_t *w, flight_t *mine, const uint8_t *key, size_t len,
			      uint64_t hash, cn_worker_t **owner)
{
	stripe_t *st = stripe_of(w->ft, hash);
	stripe_lock(w, st);
	flight_t *f = find_locked(st, key, len, hash);
	*owner = f ? f->w : NULL;
	if (!f && mine) {
		flight_t **b = bucket_of(st, hash);
		mine->hnext = *b;
		*b = mine;
	}
	uv_mutex_unlock(&st->lock);
	return f;
}

static void flight_unclaim(flight_t *f)
{
	stripe_t *st = stripe_of(f->w->ft, f->hash);
	stripe_lock(f->w, st);
	flight_t **pp = bucket_of(st, f->hash);
	while (*pp != f)
		pp = &(*pp)->hnext;
	*pp = f->hnext;
	uv_mutex_unlock(&st->lock);
}

/* ------------------------------------------------------------------ replies ----------- */

static void peer_send(cn_worker_t *w, const cn_peer_t *peer, const uint8_t *buf, size_t len)
{
	int rc = 0;
	if (len == 0)
		return;
	if (peer->tcp)
		rc = cn_tcp_conn_send(peer->tcp, buf, len);
	else if (peer->udp)
		rc = cn_udp_send(peer->udp, (const struct sockaddr *)&peer->addr, buf, len);
	if (rc < 0) {
		STAT_INC(w->stats.send_errors);
		cn_log(CN_LOG_DEBUG, "reply not sent: %s", uv_strerror(rc));
	}
}

static void peer_release(cn_worker_t *w, const cn_peer_t *peer)
{
	if (peer->wait_slot)
		atomic_fetch_sub_explicit(&w->ft->waiting[peer->wait_slot - 1], 1,
					  memory_order_relaxed);
	if (peer->tcp)
		cn_tcp_conn_release(peer->tcp);
}

/* The per-client counter slot of a client address (IPv4 address, IPv6 /64). */
/* The slot of a client's network in the shared per-client tables: its first v4 bytes
 * (IPv4, or IPv4-mapped IPv6) or v6 bytes (IPv6, tagged apart from IPv4), hashed with the
 * table's secret key. */
static uint32_t prefix_slot(const cn_worker_t *w, const struct sockaddr *sa, size_t v4,
			    size_t v6)
{
	uint8_t buf[17];
	size_t n;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	if (sa->sa_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(buf, &s6->sin6_addr, v6);
		buf[v6] = 6;
		n = v6 + 1;
	} else {
		const uint8_t *a = sa->sa_family == AF_INET6
					   ? &s6->sin6_addr.s6_addr[12]
					   : (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		memcpy(buf, a, v4);
		n = v4;
	}
	return (uint32_t)(cn_siphash24(w->ft->hash_key, buf, n) & (CN_CLIENT_SLOTS - 1));
}

/* limits.client_waiting counts per client: an IPv4 address, an IPv6 /64. */
static uint32_t client_slot(const cn_worker_t *w, const struct sockaddr *sa)
{
	return prefix_slot(w, sa, 4, 8);
}

/* The rate-limit slot of a client: its IPv4 /24 or IPv6 /56 (as BIND's and Unbound's
 * response rate limits). */
static uint32_t rl_slot(const cn_worker_t *w, const struct sockaddr *sa)
{
	return prefix_slot(w, sa, 3, 7);
}

/* rate_limit: may this UDP cache miss go on? Counts it in its prefix's current second
 * (a fixed window; two workers starting a second at once may each let one more through). */
static bool rl_allows(cn_worker_t *w, const struct sockaddr *sa, uint64_t now_s)
{
	atomic_uint_fast64_t *cell = &w->ft->rl[rl_slot(w, sa)];
	uint64_t sec = now_s & 0xffffffffu;
	uint64_t v = atomic_load_explicit(cell, memory_order_relaxed);
	for (;;) {
		uint64_t next = (v >> 32) == sec ? v + 1 : (sec << 32) | 1;
		if (atomic_compare_exchange_weak_explicit(cell, &v, next, memory_order_relaxed,
							  memory_order_relaxed))
			return (next & 0xffffffffu) <=
			       __atomic_load_n(&w->cfg->rl_misses_per_second, __ATOMIC_RELAXED);
	}
}

/* Send a reply (len bytes of buf; 0: none), count it, drop the peer. While stopping the
 * listeners are closed (or gone): only count and release. start_ns: when the query reached
 * its worker (0: not timed). */
static void reply_from(cn_worker_t *w, const cn_peer_t *peer, const uint8_t *buf, size_t len,
		       cn_outcome_t outcome, uint64_t start_ns)
{
	if (w->stopping && len) {
		len = 0;
		outcome = CN_OUT_DROPPED;
	}
	peer_send(w, peer, buf, len);
	cn_engine_count(w->engine, outcome);
	account(w, peer, buf, len, outcome, start_ns);
	peer_release(w, peer);
}

static void reply(cn_worker_t *w, const cn_peer_t *peer, size_t len, cn_outcome_t outcome)
{
	reply_from(w, peer, w->out, len, outcome, peer->start_ns);
}

static void post(cn_worker_t *to, wmsg_t *m);

/* Answer a client of any worker: the reply in w->out (len 0: drop it). A client of another
 * worker gets it through that worker's inbox (only its thread may use the client's socket). */
static void answer(cn_worker_t *w, cn_worker_t *home, const cn_peer_t *peer, size_t len,
		   cn_outcome_t outcome)
{
	if (home == w) {
		reply(w, peer, len, outcome);
		return;
	}
	wmsg_t *m = malloc(sizeof(*m) + len);
	if (!m) {
		/* Cannot tell home: the client gets nothing and, for TCP, its connection keeps
		 * one reference until it closes. Counted as dropped here. */
		STAT_INC(w->stats.send_errors);
		cn_engine_count(w->engine, CN_OUT_DROPPED);
		if (peer->wait_slot) /* the counters are atomic: any thread may release */
			atomic_fetch_sub(&w->ft->waiting[peer->wait_slot - 1], 1);
		return;
	}
	m->kind = MSG_REPLY;
	m->home = home;
	m->peer = *peer;
	m->outcome = outcome;
	m->len = len;
	memcpy(m->data, w->out, len);
	post(home, m);
}

static void late_answer(cn_worker_t *w, const cn_question_t *q, cn_worker_t *home,
			const cn_peer_t *peer, cn_time_t now)
{
	cn_outcome_t outcome = CN_OUT_SERVFAIL;
	size_t n = cn_engine_late_answer(w->engine, q, now, w->out, sizeof(w->out), &outcome);
	n = cn_engine_hosted_finish(w->engine, q, (const struct sockaddr *)&peer->addr, w->out, n,
				    sizeof(w->out), now, &outcome);
	answer(w, home, peer, n, outcome);
}

/* ------------------------------------------------------------------ flights ----------- */

static void flight_drive(flight_t *f, cn_state_t state);

static void on_flight_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Unlink f, free its request, close its timer (the memory goes in the close callback). */
static void flight_free(flight_t *f)
{
	cn_worker_t *w = f->w;
	flight_unclaim(f);
	if (f->prev)
		f->prev->next = f->next;
	else
		w->flights = f->next;
	if (f->next)
		f->next->prev = f->prev;
	w->nflights--;
	if (f->pending) {
		cn_upstream_cancel(f->pending);
		f->pending = NULL;
	}
	cn_request_free(f->req);
	f->req = NULL;
	uv_close((uv_handle_t *)&f->timer, on_flight_closed);
}

static waiter_t *waiter_pop(flight_t *f)
{
	waiter_t *wt = f->head;
	if (wt) {
		f->head = wt->next;
		if (!f->head)
			f->tail = &f->head;
		f->nwaiters--;
	}
	return wt;
}

/* The resolution ended: answer every waiter from it (ok) or late (it failed), free it. */
static void flight_finish(flight_t *f, bool ok)
{
	cn_worker_t *w = f->w;
	cn_time_t now = time_now();
	waiter_t *wt;
	while ((wt = waiter_pop(f))) {
		if (ok) {
			cn_outcome_t outcome = CN_OUT_SERVFAIL;
			size_t n = cn_resolve_answer(f->req, &wt->q, now, w->out, sizeof(w->out),
						     &outcome);
			n = cn_engine_hosted_finish(w->engine, &wt->q,
						    (const struct sockaddr *)&wt->peer.addr,
						    w->out, n, sizeof(w->out), now, &outcome);
			answer(w, wt->home, &wt->peer, n, outcome);
		} else {
			late_answer(w, &wt->q, wt->home, &wt->peer, now);
		}
		free(wt);
	}
	flight_free(f);
}

static void on_flight_timer(uv_timer_t *timer);

/* Arm the timer for the earliest of the first waiter's deadline and the resolve deadline. */
static void flight_arm(flight_t *f)
{
	uint64_t due = f->resolve_deadline_ms;
	if (f->head && f->head->deadline_ms < due)
		due = f->head->deadline_ms;
	uint64_t now = uv_now(f->w->loop);
	uv_timer_start(&f->timer, on_flight_timer, due > now ? due - now : 0, 0);
}

static void on_flight_timer(uv_timer_t *timer)
{
	flight_t *f = timer->data;
	cn_worker_t *w = f->w;
	uint64_t now_ms = uv_now(w->loop);
	cn_time_t now = time_now();
	while (f->head && f->head->deadline_ms <= now_ms) {
		waiter_t *wt = waiter_pop(f);
		STAT_INC(w->stats.late_answers);
		late_answer(w, &wt->q, wt->home, &wt->peer, now);
		free(wt);
	}
	if (now_ms >= f->resolve_deadline_ms) {
		char name[CN_DNAME_STR_MAX];
		if (cn_log_get_level() >= CN_LOG_DEBUG &&
		    cn_dname_to_str(f->key, name, sizeof(name)) >= 0)
			cn_log(CN_LOG_DEBUG, "resolution of %s abandoned at its deadline", name);
		STAT_INC(w->stats.abandoned);
		flight_finish(f, false); /* waiters left (none normally) get late answers */
		return;
	}
	flight_arm(f);
}

static void on_upstream(void *ctx, cn_upstream_event_t ev, const uint8_t *reply_pkt,
			size_t len, unsigned rtt_ms)
{
	flight_t *f = ctx;
	f->pending = NULL;
	cn_state_t state = cn_resolve_consume(f->req, ev, reply_pkt, len, rtt_ms, time_now());
	flight_drive(f, state);
}

/* Feed the engine until it needs to wait for the network, or is done. */
static void flight_drive(flight_t *f, cn_state_t state)
{
	cn_worker_t *w = f->w;
	while (state == CN_PRODUCE) {
		cn_upstream_query_t up;
		if (cn_resolve_produce(f->req, &up) != 0) {
			flight_finish(f, false);
			return;
		}
		int rc = cn_upstream_send(w->upstream, &up, on_upstream, f, &f->pending);
		if (rc == 0)
			return; /* on_upstream continues */
		f->pending = NULL;
		cn_log(CN_LOG_DEBUG, "upstream send failed: %s", uv_strerror(rc));
		if (rc == -ECANCELED) { /* the client is closing: we are shutting down */
			flight_finish(f, false);
			return;
		}
		state = cn_resolve_consume(f->req, CN_UP_NETWORK_ERROR, NULL, 0, 0, time_now());
	}
	flight_finish(f, state == CN_DONE);
}

/*
 * A resolution of q, not started yet. peer: its first waiter (a client of home), or NULL
 * for a background prefetch. NULL when it cannot be made (table full, no memory).
 */
static flight_t *flight_new(cn_worker_t *w, const cn_question_t *q, const uint8_t *key,
			    size_t key_len, uint64_t hash, cn_worker_t *home, const cn_peer_t *peer)
{
	if (w->nflights >= CN_WORKER_MAX_FLIGHTS) {
		STAT_INC(w->stats.overload);
		return NULL;
	}
	flight_t *f = calloc(1, sizeof(*f));
	waiter_t *wt = peer ? calloc(1, sizeof(*wt)) : NULL;
	cn_request_t *req = (f && (wt || !peer)) ? cn_request_new(w->engine) : NULL;
	if (!req) {
		free(f);
		free(wt);
		return NULL;
	}
	f->w = w;
	f->req = req;
	f->hash = hash;
	memcpy(f->key, key, key_len);
	f->key_len = key_len;
	f->tail = &f->head;
	f->prefetch = peer == NULL;
	uint64_t loop_now = uv_now(w->loop);
	f->resolve_deadline_ms = loop_now + w->cfg->engine.limits.resolve_deadline_ms;
	if (wt) {
		wt->q = *q;
		wt->home = home;
		wt->peer = *peer;
		wt->deadline_ms = loop_now + w->cfg->engine.limits.client_deadline_ms;
		*f->tail = wt;
		f->tail = &wt->next;
		f->nwaiters = 1;
	}
	return f;
}

/* A flight that lost the race to claim its key: never started, nothing to close. */
static void flight_discard(flight_t *f)
{
	if (!f)
		return;
	free(f->head);
	cn_request_free(f->req);
	free(f);
}

/* Start a claimed flight. */
static void flight_begin(flight_t *f, const cn_question_t *q, cn_time_t now)
{
	cn_worker_t *w = f->w;
	uv_timer_init(w->loop, &f->timer);
	f->timer.data = f;
	f->next = w->flights;
	if (f->next)
		f->next->prev = f;
	w->flights = f;
	w->nflights++;
	if (f->prefetch)
		STAT_INC(w->stats.prefetches);
	else
		STAT_INC(w->stats.resolutions);
	flight_arm(f);
	flight_drive(f, cn_resolve_begin(f->req, q, now));
}

static void flight_join(cn_worker_t *w, flight_t *f, const cn_question_t *q,
			cn_worker_t *home, const cn_peer_t *peer, cn_time_t now)
{
	waiter_t *wt = f->nwaiters < CN_WORKER_MAX_WAITERS ? calloc(1, sizeof(*wt)) : NULL;
	if (!wt) {
		STAT_INC(w->stats.overload);
		late_answer(w, q, home, peer, now);
		return;
	}
	wt->q = *q;
	wt->home = home;
	wt->peer = *peer;
	wt->deadline_ms = uv_now(w->loop) + w->cfg->engine.limits.client_deadline_ms;
	bool was_empty = f->head == NULL;
	*f->tail = wt;
	f->tail = &wt->next;
	f->nwaiters++;
	STAT_INC(w->stats.coalesced);
	if (was_empty)
		flight_arm(f); /* a prefetch gained its first waiter: its deadline counts now */
}

/* ------------------------------------------------------------------ queries ----------- */

static bool hand_over(cn_worker_t *w, cn_worker_t *owner, const cn_question_t *q,
		      const uint8_t *key, size_t key_len, uint64_t hash, cn_worker_t *home,
		      const cn_peer_t *peer, unsigned hops);

/*
 * A miss: start a resolution of q here, or join the one in flight — here, or on the worker
 * that runs it (hand-off). The client is home's; hops: hand-offs it has made so far.
 */
static void resolve(cn_worker_t *w, const cn_question_t *q, const uint8_t *key,
		    size_t key_len, uint64_t hash, cn_worker_t *home, const cn_peer_t *peer,
		    cn_time_t now, unsigned hops)
{
	flight_t *mine = flight_new(w, q, key, key_len, hash, home, peer);
	cn_worker_t *owner;
	flight_t *f = flight_claim(w, mine, key, key_len, hash, &owner);
	if (!f) {
		if (mine)
			flight_begin(mine, q, now);
		else
			late_answer(w, q, home, peer, now);
		return;
	}
	flight_discard(mine);
	if (owner == w)
		flight_join(w, f, q, home, peer, now);
	else if (hops >= CN_WORKER_MAX_HOPS ||
		 !hand_over(w, owner, q, key, key_len, hash, home, peer, hops + 1))
		late_answer(w, q, home, peer, now);
}

/* Refresh q in the background, unless some worker is resolving it already. */
static void prefetch(cn_worker_t *w, const cn_question_t *q, cn_time_t now)
{
	if (w->nflights >= CN_WORKER_MAX_FLIGHTS / 2)
		return;
	uint8_t key[KEY_MAX];
	size_t key_len = make_key(q, key);
	uint64_t hash = cn_siphash24(w->ft->hash_key, key, key_len);
	cn_worker_t *owner;
	if (flight_claim(w, NULL, key, key_len, hash, &owner))
		return; /* cheap check first: a hot name triggers this on every hit */
	flight_t *mine = flight_new(w, q, key, key_len, hash, w, NULL);
	if (!mine)
		return;
	if (flight_claim(w, mine, key, key_len, hash, &owner))
		flight_discard(mine);
	else
		flight_begin(mine, q, now);
}

/* Give a client to the worker whose flight it joins. Returns false when out of memory. */
static bool hand_over(cn_worker_t *w, cn_worker_t *owner, const cn_question_t *q,
		      const uint8_t *key, size_t key_len, uint64_t hash, cn_worker_t *home,
		      const cn_peer_t *peer, unsigned hops)
{
	wmsg_t *m = malloc(sizeof(*m));
	if (!m)
		return false;
	m->kind = MSG_QUERY;
	m->home = home;
	m->peer = *peer;
	m->q = *q;
	m->hash = hash;
	m->key_len = key_len;
	memcpy(m->key, key, key_len);
	m->hops = hops;
	m->len = 0;
	STAT_INC(w->stats.handoffs);
	post(owner, m);
	return true;
}

void cn_worker_set_acl(cn_worker_t *w, const cn_acl_t *acl)
{
	atomic_store_explicit(&w->acl, acl ? acl : &w->acl0, memory_order_release);
}

/* Over its rate limit: dropped, except every rate_limit.slip-th one, which gets an empty
 * TC=1 answer (a real client asks again over TCP, which is not limited; a forged source
 * gets one small packet in slip). */
static void rate_limited(cn_worker_t *w, const cn_peer_t *peer, const cn_question_t *q,
			 uint64_t start_ns)
{
	STAT_INC(w->stats.rate_limited);
	unsigned slip = __atomic_load_n(&w->cfg->rl_slip, __ATOMIC_RELAXED); /* reloads */
	if (slip && ++w->rl_seen % slip == 0) {
		STAT_INC(w->stats.rate_slipped);
		size_t n = cn_engine_truncated(w->engine, q, w->out, sizeof(w->out));
		reply_from(w, peer, w->out, n, CN_OUT_DROPPED, start_ns); /* not served */
		return;
	}
	cn_engine_count(w->engine, CN_OUT_DROPPED);
	account(w, peer, NULL, 0, CN_OUT_DROPPED, start_ns);
	peer_release(w, peer);
}

void cn_worker_batch_begin(cn_worker_t *w)
{
	w->batch_ns = uv_hrtime();
	w->batch_now = time_at(w->batch_ns);
	w->batch_hits = 0;
}

void cn_worker_batch_answered(cn_worker_t *w)
{
	cn_engine_hot_credit(w->engine, w->hot); /* counted before the replies leave */
}

void cn_worker_batch_end(cn_worker_t *w)
{
	if (w->batch_hits)
		hist_record(&w->hist[CN_HIST_HIT], uv_hrtime() - w->batch_ns, w->batch_hits);
	w->batch_ns = 0;
	w->batch_hits = 0;
}

void cn_worker_query(cn_worker_t *w, const uint8_t *pkt, size_t len, const cn_peer_t *peer)
{
	uint64_t start_ns = w->batch_ns ? w->batch_ns : uv_hrtime();
	STAT_INC(w->stats.queries);
	if (w->stopping) {
		cn_engine_count(w->engine, CN_OUT_DROPPED);
		peer_release(w, peer);
		return;
	}
	const struct sockaddr *from = (const struct sockaddr *)&peer->addr;
	cn_acl_action_t act = cn_acl_check(atomic_load_explicit(&w->acl, memory_order_acquire),
					   from);
	if (act != CN_ACL_ALLOW) {
		STAT_INC(w->stats.refused);
		/* deny: not a byte back (a REFUSED is still a reply an attacker can aim) */
		size_t n = act == CN_ACL_DENY ? 0
					      : cn_engine_refuse(pkt, len, w->out, sizeof(w->out));
		reply_from(w, peer, w->out, n, n ? CN_OUT_REFUSED : CN_OUT_DROPPED, start_ns);
		return;
	}
	cn_time_t now = w->batch_ns ? w->batch_now : time_at(start_ns);
	cn_client_t client = { .addr = from, .tcp = peer->tcp != NULL,
			       .hot = peer->tcp ? NULL : w->hot };
	cn_question_t q;
	memset(&q, 0, sizeof(q));
	size_t out_len = 0;
	cn_outcome_t outcome = CN_OUT_DROPPED;
	cn_state_t st = cn_engine_query(w->engine, pkt, len, &client, now, w->out, sizeof(w->out),
					&out_len, &q, &outcome);
	switch (st) {
	case CN_DONE:
		if (q.ready)
			STAT_INC(w->stats.ready);
		reply_from(w, peer, w->out, out_len, outcome, start_ns);
		if (q.prefetch)
			prefetch(w, &q, now);
		return;
	case CN_MISS: {
		q.tcp = client.tcp;
		if (__atomic_load_n(&w->cfg->rl_misses_per_second, __ATOMIC_RELAXED) && !client.tcp &&
		    !rl_allows(w, from, now.wall_s)) {
			rate_limited(w, peer, &q, start_ns);
			return;
		}
		cn_peer_t waiting = *peer;
		uint32_t slot = client_slot(w, from);
		if (atomic_fetch_add_explicit(&w->ft->waiting[slot], 1, memory_order_relaxed) >=
		    __atomic_load_n(&w->cfg->client_waiting, __ATOMIC_RELAXED)) {
			atomic_fetch_sub_explicit(&w->ft->waiting[slot], 1, memory_order_relaxed);
			STAT_INC(w->stats.client_limit);
			cn_engine_count(w->engine, CN_OUT_DROPPED);
			account(w, peer, NULL, 0, CN_OUT_DROPPED, start_ns);
			peer_release(w, peer);
			return;
		}
		waiting.wait_slot = slot + 1;
		waiting.start_ns = start_ns;
		uint8_t key[KEY_MAX];
		size_t key_len = make_key(&q, key);
		uint64_t hash = cn_siphash24(w->ft->hash_key, key, key_len);
		resolve(w, &q, key, key_len, hash, w, &waiting, now, 0);
		return;
	}
	case CN_DROP:
	default:
		cn_engine_count(w->engine, outcome);
		account(w, peer, NULL, 0, outcome, start_ns);
		peer_release(w, peer);
		return;
	}
}

/* ------------------------------------------------------------------ inbox ------------- */

/* Append m to to's inbox and wake its loop (any thread). A closed inbox keeps the message
 * for cn_worker_drain(). The wake-up is sent under the lock: the owner closes the async
 * only after marking the inbox closed under it, so no send can hit a closed handle. */
static void post(cn_worker_t *to, wmsg_t *m)
{
	m->next = NULL;
	uv_mutex_lock(&to->inbox_lock);
	*to->inbox_tail = m;
	to->inbox_tail = &m->next;
	if (!to->inbox_closed)
		uv_async_send(&to->async);
	uv_mutex_unlock(&to->inbox_lock);
}

static wmsg_t *inbox_take(cn_worker_t *w, bool close)
{
	uv_mutex_lock(&w->inbox_lock);
	wmsg_t *list = w->inbox;
	w->inbox = NULL;
	w->inbox_tail = &w->inbox;
	if (close)
		w->inbox_closed = true;
	uv_mutex_unlock(&w->inbox_lock);
	return list;
}

/* One message, on w's loop. While stopping, queries are dropped back to their home. */
static void handle(cn_worker_t *w, wmsg_t *m)
{
	switch (m->kind) {
	case MSG_QUERY:
		if (w->stopping)
			answer(w, m->home, &m->peer, 0, CN_OUT_DROPPED);
		else
			resolve(w, &m->q, m->key, m->key_len, m->hash, m->home, &m->peer,
				time_now(), m->hops);
		break;
	case MSG_REPLY:
		reply_from(w, &m->peer, m->data, m->len, m->outcome, m->peer.start_ns);
		break;
	case MSG_CALL:
		m->fn(m->arg);
		break;
	}
	free(m);
}

int cn_worker_call(cn_worker_t *w, void (*fn)(void *), void *arg)
{
	wmsg_t *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->kind = MSG_CALL;
	m->fn = fn;
	m->arg = arg;
	post(w, m);
	return 0;
}

static void on_async(uv_async_t *a)
{
	cn_worker_t *w = a->data;
	if (atomic_load(&w->stop_requested)) {
		cn_worker_stop(w);
		return;
	}
	wmsg_t *m = inbox_take(w, false);
	while (m) {
		wmsg_t *next = m->next;
		handle(w, m);
		m = next;
	}
}

void cn_worker_request_stop(cn_worker_t *w)
{
	uv_mutex_lock(&w->inbox_lock);
	if (!w->inbox_closed) {
		atomic_store(&w->stop_requested, true);
		uv_async_send(&w->async);
	}
	uv_mutex_unlock(&w->inbox_lock);
}

void cn_worker_drain(cn_worker_t *w)
{
	wmsg_t *m = inbox_take(w, true);
	while (m) {
		wmsg_t *next = m->next;
		if (m->kind == MSG_CALL) {
			m->fn(m->arg); /* the loop is over: nothing of w runs any more */
		} else {
			cn_engine_count(w->engine, CN_OUT_DROPPED); /* nobody will answer now */
			peer_release(w, &m->peer);
		}
		free(m);
		m = next;
	}
}

/* ------------------------------------------------------------------ lifecycle --------- */

int cn_worker_new(uv_loop_t *loop, const cn_config_t *cfg, cn_engine_t *engine,
		  cn_worker_t **out)
{
	cn_worker_t *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->cfg = cfg;
	w->engine = engine;
	w->acl0.allow = cfg->allow;
	w->acl0.nallow = cfg->nallow;
	w->acl0.refuse = cfg->refuse;
	w->acl0.nrefuse = cfg->nrefuse;
	w->acl0.deny = cfg->deny;
	w->acl0.ndeny = cfg->ndeny;
	atomic_init(&w->acl, &w->acl0);
	w->inbox_tail = &w->inbox;
	atomic_init(&w->stop_requested, false);
	if (!(w->ft = flights_new())) {
		free(w);
		return -ENOMEM;
	}
	int rc = uv_mutex_init(&w->inbox_lock);
	if (rc < 0) {
		flights_unref(w->ft);
		free(w);
		return rc;
	}
	if ((rc = cn_upstream_new(loop, &w->upstream)) < 0) {
		uv_mutex_destroy(&w->inbox_lock);
		flights_unref(w->ft);
		free(w);
		return rc;
	}
	if ((rc = uv_async_init(loop, &w->async, on_async)) < 0) {
		cn_upstream_close(w->upstream); /* its memory goes once the loop runs */
		uv_mutex_destroy(&w->inbox_lock);
		flights_unref(w->ft);
		free(w);
		return rc;
	}
	w->async.data = w;
	uv_prepare_init(loop, &w->qflush);
	w->qflush.data = w;
	if (cn_engine_hot_new(engine, cfg->ready_answers, &w->hot) != 0)
		cn_log(CN_LOG_WARNING, "no memory for %u ready-to-send answers: serving without",
		       cfg->ready_answers);
	*out = w;
	return 0;
}

void cn_worker_link(cn_worker_t *const *all, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		flights_unref(all[i]->ft); /* empty: nothing runs yet */
		all[i]->ft = all[0]->ft;
		atomic_fetch_add(&all[0]->ft->refs, 1);
	}
}

static int grow(void **arr, size_t n, size_t size)
{
	void *p = realloc(*arr, (n + 1) * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

int cn_worker_listen(cn_worker_t *w, const struct sockaddr *addr, bool reuseport,
		     atomic_uint *tcp_conns)
{
	if (grow((void **)&w->udp, w->nudp, sizeof(*w->udp)) ||
	    grow((void **)&w->tcp, w->ntcp, sizeof(*w->tcp)))
		return -ENOMEM;
	cn_udp_t *u;
	int rc = cn_udp_open(w->loop, w, addr, reuseport, w->cfg->freebind, &u);
	if (rc < 0)
		return rc;
	cn_tcp_t *t;
	rc = cn_tcp_open(w->loop, w, addr, reuseport, w->cfg->freebind,
			 w->cfg->tcp_idle_timeout_ms, w->cfg->tcp_max_clients, tcp_conns, &t);
	if (rc < 0) {
		cn_udp_close(u);
		return rc;
	}
	cn_tcp_set_max_per_client(t, w->cfg->tcp_max_per_client);
	w->udp[w->nudp++] = u;
	w->tcp[w->ntcp++] = t;
	return 0;
}

void cn_worker_stop(cn_worker_t *w)
{
	if (!w || w->stopping)
		return;
	w->stopping = true;
	/* Abandon resolutions first: their waiters hold TCP connection references. */
	while (w->flights) {
		flight_t *f = w->flights;
		waiter_t *wt;
		while ((wt = waiter_pop(f))) {
			answer(w, wt->home, &wt->peer, 0, CN_OUT_DROPPED);
			free(wt);
		}
		flight_free(f);
	}
	for (size_t i = 0; i < w->nudp; i++)
		cn_udp_close(w->udp[i]);
	for (size_t i = 0; i < w->ntcp; i++)
		cn_tcp_close(w->tcp[i]);
	w->nudp = w->ntcp = 0;
	cn_upstream_close(w->upstream);
	w->upstream = NULL;
	if (w->qlog)
		cn_querylog_flush(w->qlog, &w->qbuf);
	uv_close((uv_handle_t *)&w->qflush, NULL);
	/* What is in the inbox now is dropped (queries go back to their home as drops); what
	 * arrives later waits for cn_worker_drain(). */
	wmsg_t *m = inbox_take(w, true);
	while (m) {
		wmsg_t *next = m->next;
		handle(w, m);
		m = next;
	}
	uv_close((uv_handle_t *)&w->async, NULL);
}

void cn_worker_free(cn_worker_t *w)
{
	if (!w)
		return;
	cn_worker_drain(w);
	cn_hot_free(w->hot);
	uv_mutex_destroy(&w->inbox_lock);
	flights_unref(w->ft);
	free(w->udp);
	free(w->tcp);
	free(w);
}

void cn_worker_get_stats(const cn_worker_t *w, cn_worker_stats_t *out)
{
#define LOAD(field, name) out->field = __atomic_load_n(&w->stats.field, __ATOMIC_RELAXED);
	CN_WORKER_STATS_MAP(LOAD)
#undef LOAD
}

void cn_worker_get_hist(const cn_worker_t *w, cn_hist_id_t id, cn_hist_t *out)
{
	const cn_hist_t *h = &w->hist[id];
	for (unsigned i = 0; i <= CN_HIST_NBOUNDS; i++)
		out->bucket[i] = __atomic_load_n(&h->bucket[i], __ATOMIC_RELAXED);
	out->sum_ns = __atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED);
}

static void on_qflush(uv_prepare_t *p)
{
	cn_worker_t *w = p->data;
	if (w->qbuf.len)
		cn_querylog_flush(w->qlog, &w->qbuf);
}

void cn_worker_set_querylog(cn_worker_t *w, cn_querylog_t *ql)
{
	w->qlog = ql;
	if (ql)
		uv_prepare_start(&w->qflush, on_qflush);
}

void cn_worker_get_upstream_stats(const cn_worker_t *w, cn_upstream_stats_t *out)
{
	if (w->upstream)
		cn_upstream_get_stats(w->upstream, out);
	else
		memset(out, 0, sizeof(*out));
}
