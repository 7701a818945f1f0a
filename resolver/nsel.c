/*
 * Server selection state: per-address smoothed RTT, timeouts with bounded exponential
 * backoff, and brief failure caching (RFC 9520), plus what each server cannot do (EDNS,
 * 0x20). One table is shared by every request and worker, behind one mutex (a lookup is a
 * few dozen instructions; the table is locked a few times per upstream query: once per
 * candidate address when choosing, for the query's timeout, for the reply or the error;
 * never on the cache-hit path). Every acquisition is counted, and those that found the
 * lock held by another thread (a trylock first): server_selection.lock_acquired and
 * _contended.
 *
 * SRTT follows RFC 6298: srtt += (rtt - srtt) / 8, rttvar += (|rtt - srtt| - rttvar) / 4,
 * timeout = srtt + 4 * rttvar, clamped to [timeout_min_ms, timeout_max_ms]. Each consecutive
 * timeout doubles the next timeout (capped) and marks the server failing for
 * failure_cache_s seconds; one good reply clears both, so a server that comes back is
 * trusted again at once (Unbound is known to recover slowly after an outage because its
 * infra cache holds on to such state: NLnetLabs/unbound#830, #282, #1461).
 *
 * A server silent (timeouts, network errors) CN_NSEL_DEAD_FAILS times in a row is "dead"
 * while its failure window lasts: requests no longer wait on it (NRDelegation, B2 in
 * docs/attacks.md: a delegation to blackholed servers must not hold every request for their
 * timeouts), except one probe per CN_NSEL_PROBE_MS shared by all requests, whose answer
 * brings it back at once. Each further silence doubles its failure window (up to a
 * minute), so a dead delegation stays known as dead between bursts of requests. A server that answers, even badly (REFUSED, lame), is not dead,
 * and neither is one that answered anything in the last CN_NSEL_DEAD_QUIET_MS: an
 * overloaded server that drops a burst of queries but answers others must not be shunned.
 *
 * 0x20: a server is marked as not echoing the qname's case (no case mixing towards it for
 * NSEL_CAP_SECONDS) only after CN_NSEL_CASE_FAILS queries, none more than NSEL_CAP_SECONDS
 * after the previous one, saw nothing but case-mismatched replies. One such query is retried without case mixing by its request
 * alone: a forged case-flipped reply and a slow server must not switch 0x20 off for
 * everyone (A2, A3).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/internal.h"

#define NSEL_SLOTS 4096            /* servers remembered; oldest-used slot is reused */
#define NSEL_CAP_SECONDS 600       /* how long no-EDNS / no-0x20 marks last, seconds */
#define NSEL_DEAD_WINDOW_MAX_MS 60000 /* failure window of a server silent again and again */

typedef struct nsel_entry {
	struct sockaddr_storage addr;
	bool used;
	unsigned srtt_ms, rttvar_ms;
	bool known;
	unsigned fails;            /* consecutive failures */
	unsigned silent;           /* consecutive timeouts / network errors (no reply at all) */
	uint64_t fail_until_ms;    /* monotonic: failing until then */
	uint64_t no_edns_until_ms, no_0x20_until_ms;
	unsigned case_fails;       /* queries that saw only case-mismatched replies ... */
	uint64_t case_fail_ms;     /* ... the last of them then */
	uint64_t probe_at_ms;      /* dead: the next probe may go then */
	uint64_t last_reply_ms;    /* monotonic: when it last answered anything */
	uint32_t replies, failures; /* since the slot was taken: good replies, and timeouts,
				       network errors or bad replies (for the control tool) */
	uint64_t last_used_ms;
} nsel_entry_t;

struct cn_nsel {
	pthread_mutex_t lock;
	/* written under the lock (plain stores, relaxed: read without it by cn__nsel_stats) */
#define CN_X(field, name) uint64_t field;
	CN_NSEL_STATS_MAP(CN_X)
#undef CN_X
	unsigned initial_rtt_ms, tmin_ms, tmax_ms, fail_ms;
	nsel_entry_t slot[NSEL_SLOTS];
};

int cn__nsel_new(const cn_engine_conf_t *conf, cn_nsel_t **out)
{
	cn_nsel_t *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	pthread_mutex_init(&ns->lock, NULL);
	ns->initial_rtt_ms = conf->initial_rtt_ms;
	ns->tmin_ms = conf->timeout_min_ms;
	ns->tmax_ms = conf->timeout_max_ms;
	ns->fail_ms = conf->failure_cache_s * 1000u;
	*out = ns;
	return 0;
}

void cn__nsel_free(cn_nsel_t *ns)
{
	if (!ns)
		return;
	pthread_mutex_destroy(&ns->lock);
	free(ns);
}

/* Take the lock: a try first; when another thread holds it, counted as contended, then
 * the blocking lock. */
static void nsel_lock(cn_nsel_t *ns)
{
	if (pthread_mutex_trylock(&ns->lock) != 0) {
		pthread_mutex_lock(&ns->lock);
		__atomic_store_n(&ns->lock_contended, ns->lock_contended + 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&ns->locks, ns->locks + 1, __ATOMIC_RELAXED);
}

void cn__nsel_stats(const cn_nsel_t *ns, cn_engine_stats_t *s)
{
#define CN_X(field, name) s->nsel_##field = __atomic_load_n(&ns->field, __ATOMIC_RELAXED);
	CN_NSEL_STATS_MAP(CN_X)
#undef CN_X
}

void cn__nsel_reconfigure(cn_nsel_t *ns, const cn_engine_conf_t *conf)
{
	nsel_lock(ns);
	ns->initial_rtt_ms = conf->initial_rtt_ms;
	ns->tmin_ms = conf->timeout_min_ms;
	ns->tmax_ms = conf->timeout_max_ms;
	ns->fail_ms = conf->failure_cache_s * 1000u;
	pthread_mutex_unlock(&ns->lock);
}

bool cn_sockaddr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

static unsigned addr_hash(const struct sockaddr_storage *a)
{
	const uint8_t *p;
	size_t n;
	uint16_t port;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)a;
		p = (const uint8_t *)&s->sin_addr;
		n = 4;
		port = s->sin_port;
	} else {
		const struct sockaddr_in6 *s = (const void *)a;
		p = (const uint8_t *)&s->sin6_addr;
		n = 16;
		port = s->sin6_port;
	}
	uint32_t h = 2166136261u ^ port; /* FNV-1a: addresses are ours (from referrals), a
					    collision only costs a probe */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Find or claim the entry for addr (lock held). Linear probing over 8 slots, then the
 * least recently used of them is reused. */
static nsel_entry_t *entry_get(cn_nsel_t *ns, const struct sockaddr_storage *addr,
			       uint64_t now_ms)
{
	unsigned h = addr_hash(addr);
	nsel_entry_t *victim = NULL;
	for (unsigned i = 0; i < 8; i++) {
		nsel_entry_t *e = &ns->slot[(h + i) % NSEL_SLOTS];
		if (e->used && cn_sockaddr_eq(&e->addr, addr)) {
			e->last_used_ms = now_ms;
			return e;
		}
		if (!e->used) {
			if (!victim || victim->used)
				victim = e;
		} else if (!victim || (victim->used && e->last_used_ms < victim->last_used_ms)) {
			victim = e;
		}
	}
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->addr = *addr;
	victim->srtt_ms = ns->initial_rtt_ms;
	victim->rttvar_ms = ns->initial_rtt_ms / 2;
	victim->last_used_ms = now_ms;
	return victim;
}

static unsigned clamp(unsigned v, unsigned lo, unsigned hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The info of one entry (lock held). */
static void fill_info(const cn_nsel_t *ns, const nsel_entry_t *e, uint64_t now_ms,
		      cn_nsel_info_t *out)
{
	unsigned rto = e->srtt_ms + 4 * e->rttvar_ms;
	for (unsigned i = 0; i < e->fails && i < 4; i++)
		rto *= 2; /* bounded exponential backoff */
	out->srtt_ms = e->srtt_ms;
	out->timeout_ms = clamp(rto, ns->tmin_ms, ns->tmax_ms);
	out->known = e->known;
	out->failing = e->fail_until_ms > now_ms;
	out->no_edns = e->no_edns_until_ms > now_ms;
	out->no_0x20 = e->no_0x20_until_ms > now_ms;
	out->dead = out->failing && e->silent >= CN_NSEL_DEAD_FAILS &&
		    (e->last_reply_ms == 0 || now_ms - e->last_reply_ms >= CN_NSEL_DEAD_QUIET_MS);
	out->probe_ok = out->dead && e->probe_at_ms <= now_ms;
	out->replies = e->replies;
	out->failures = e->failures;
	out->retry_due = e->fails > 0 && e->fail_until_ms != 0 && e->fail_until_ms <= now_ms;
	out->rttvar_ms = e->rttvar_ms;
	out->fails = e->fails;
	out->silent = e->silent;
	out->fail_left_ms = out->failing ? e->fail_until_ms - now_ms : 0;
}

void cn__nsel_info(cn_nsel_t *ns, const struct sockaddr_storage *addr, uint64_t now_ms,
		   cn_nsel_info_t *out)
{
	nsel_lock(ns);
	fill_info(ns, entry_get(ns, addr, now_ms), now_ms, out);
	pthread_mutex_unlock(&ns->lock);
}

size_t cn__nsel_walk(cn_nsel_t *ns, uint64_t now_ms, cn_nsel_walk_fn fn, void *arg)
{
	size_t n = 0;
	nsel_lock(ns);
	for (size_t i = 0; i < NSEL_SLOTS; i++) {
		const nsel_entry_t *e = &ns->slot[i];
		if (!e->used)
			continue;
		cn_nsel_info_t info;
		fill_info(ns, e, now_ms, &info);
		fn(arg, &e->addr, &info);
		n++;
	}
	pthread_mutex_unlock(&ns->lock);
	return n;
}

bool cn__nsel_claim_probe(cn_nsel_t *ns, const struct sockaddr_storage *addr, uint64_t now_ms)
{
	nsel_lock(ns);
	nsel_entry_t *e = entry_get(ns, addr, now_ms);
	bool ok = e->probe_at_ms <= now_ms;
	if (ok)
		e->probe_at_ms = now_ms + CN_NSEL_PROBE_MS;
	pthread_mutex_unlock(&ns->lock);
	return ok;
}

void cn__nsel_report_rtt(cn_nsel_t *ns, const struct sockaddr_storage *addr, unsigned rtt_ms,
			 uint64_t now_ms)
{
	nsel_lock(ns);
	nsel_entry_t *e = entry_get(ns, addr, now_ms);
	if (!e->known) {
		e->srtt_ms = rtt_ms;
		e->rttvar_ms = rtt_ms / 2;
		e->known = true;
	} else {
		int diff = (int)rtt_ms - (int)e->srtt_ms;
		unsigned adiff = (unsigned)(diff < 0 ? -diff : diff);
		e->rttvar_ms = (3 * e->rttvar_ms + adiff) / 4;
		e->srtt_ms = (unsigned)((int)e->srtt_ms + diff / 8);
	}
	e->fails = 0;
	e->silent = 0;
	e->fail_until_ms = 0;
	e->probe_at_ms = 0;
	e->last_reply_ms = now_ms ? now_ms : 1;
	e->replies++;
	pthread_mutex_unlock(&ns->lock);
}

void cn__nsel_report_error(cn_nsel_t *ns, const struct sockaddr_storage *addr,
			   cn_nsel_error_t err, uint64_t now_ms)
{
	nsel_lock(ns);
	nsel_entry_t *e = entry_get(ns, addr, now_ms);
	e->failures++;
	if (e->fails < 16)
		e->fails++;
	if (err == CN_NSEL_TIMEOUT || err == CN_NSEL_NETERR) {
		/* a timeout also says the server is at least this slow */
		unsigned penalty = clamp(e->srtt_ms * 2, ns->tmin_ms, ns->tmax_ms);
		if (e->srtt_ms < penalty)
			e->srtt_ms = penalty;
		e->known = true;
		if (e->silent < 16)
			e->silent++;
	} else {
		e->silent = 0; /* it answered, if badly: alive */
		e->last_reply_ms = now_ms ? now_ms : 1;
	}
	/* A server that stays silent is remembered longer (doubling, up to a minute): its
	 * probes, not the window, bring it back when it answers again. */
	uint64_t window = ns->fail_ms;
	for (unsigned i = 1; i < e->silent && window < NSEL_DEAD_WINDOW_MAX_MS; i++)
		window *= 2;
	if (e->silent > 1 && window > NSEL_DEAD_WINDOW_MAX_MS)
		window = NSEL_DEAD_WINDOW_MAX_MS > ns->fail_ms ? NSEL_DEAD_WINDOW_MAX_MS : ns->fail_ms;
	e->fail_until_ms = now_ms + window;
	pthread_mutex_unlock(&ns->lock);
}

void cn__nsel_set_no_edns(cn_nsel_t *ns, const struct sockaddr_storage *addr, uint64_t now_ms)
{
	nsel_lock(ns);
	entry_get(ns, addr, now_ms)->no_edns_until_ms = now_ms + NSEL_CAP_SECONDS * 1000ull;
	pthread_mutex_unlock(&ns->lock);
}

bool cn__nsel_case_failure(cn_nsel_t *ns, const struct sockaddr_storage *addr, uint64_t now_ms)
{
	nsel_lock(ns);
	nsel_entry_t *e = entry_get(ns, addr, now_ms);
	if (e->case_fails && now_ms - e->case_fail_ms > NSEL_CAP_SECONDS * 1000ull)
		e->case_fails = 0; /* an old one: start over */
	e->case_fail_ms = now_ms;
	bool marked = ++e->case_fails >= CN_NSEL_CASE_FAILS;
	if (marked) {
		e->no_0x20_until_ms = now_ms + NSEL_CAP_SECONDS * 1000ull;
		e->case_fails = 0;
	}
	pthread_mutex_unlock(&ns->lock);
	return marked;
}
