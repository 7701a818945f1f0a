/*
 * The engine object and the first step of every client query: parse, policy checks,
 * the whole answer from cache, or CN_MISS with the question to resolve. Also the late
 * answer for clients whose deadline passed (serve-stale, RFC 8767), and the counters.
 *
 * The cache-hit path (cn_engine_query -> cn__answer_from_cache -> cn__answer_write) makes
 * no allocation: the question is parsed in place, cache values are copied into a
 * thread-local scratch buffer, and the reply is written into net's buffer.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "resolver/defaults.h"
#include "resolver/errors.h"
#include "resolver/internal.h"
#include "resolver/zone.h"

void cn_engine_conf_default(cn_engine_conf_t *c)
{
	cn_engine_conf_fill_defaults(c); /* the rows of resolver/defaults.h */
}

void cn__log(const cn_engine_t *e, int level, const char *fmt, ...)
{
	if (!e->conf.log || level > __atomic_load_n(&e->conf.log_level, __ATOMIC_RELAXED))
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->conf.log(level, buf);
}

void cn_engine_reconfigure(cn_engine_t *e, const cn_engine_conf_t *conf)
{
#define CN_X(field, value, source) __atomic_store_n(&e->conf.field, conf->field, __ATOMIC_RELAXED);
	CN_ENGINE_DEFAULTS_MAP(CN_X)
#undef CN_X
	cn__nsel_reconfigure(e->nsel, conf);
	cn__epoch_bump(e);
}

bool cn__addr_is_local(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);
		return (a >> 24) == 127 || (a >> 24) == 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127 || a->s6_addr[12] == 0;
		return false;
	}
	return true;
}

/* The trust anchors (the configured set, or the built-in root anchors) and a copy of the
 * negative trust anchors. */
static int dnssec_setup(cn_engine_t *e, const cn_engine_conf_t *conf)
{
	e->conf.dnssec.nta = NULL;
	e->anchors = (cn_anchor_set_t *)conf->dnssec.anchors;
	if (!e->anchors) {
		if (!(e->builtin_anchors = calloc(1, sizeof(cn_anchor_set_t))) ||
		    cn_anchor_set_builtin(e->builtin_anchors) != 0)
			return -ENOMEM;
		e->anchors = e->builtin_anchors;
	}
	size_t n = conf->dnssec.nnta < CN_NTA_MAX ? conf->dnssec.nnta : CN_NTA_MAX;
	if (n && conf->dnssec.nta) {
		if (!(e->nta = calloc(n, CN_DNAME_MAX)))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			cn_dname_copy(e->nta[i], conf->dnssec.nta[i]);
			cn_dname_lower(e->nta[i]);
		}
		e->nnta = n;
	}
	return 0;
}

int cn_engine_new(const cn_engine_conf_t *conf, cn_cache_t *cache, cn_engine_t **out)
{
	if (!conf || !cache || !out || !conf->random || (conf->nfwd && !conf->fwd))
		return -EINVAL;
	cn_engine_t *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->conf = *conf;
	e->cache = cache;
	pthread_mutex_init(&e->views_lock, NULL);
	const cn_hint_t *hints = conf->hints;
	size_t n = conf->nhints;
	if (!hints)
		hints = cn_hints_builtin(&n);
	e->hints = calloc(n ? n : 1, sizeof(cn_hint_t));
	if (!e->hints || cn__nsel_new(conf, &e->nsel) != 0) {
		free(e->hints);
		free(e);
		return -ENOMEM;
	}
	memcpy(e->hints, hints, n * sizeof(cn_hint_t));
	e->nhints = n;
	if (dnssec_setup(e, conf) != 0) {
		cn_engine_free(e);
		return -ENOMEM;
	}
	e->conf.hints = e->hints;
	e->conf.fwd = NULL; /* copied into e->fwdset */
	e->conf.nfwd = 0;
	void *none;
	if (cn_engine_set_forwards(e, conf->fwd, conf->nfwd, &none) != 0) {
		cn_engine_free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

void cn_engine_free(cn_engine_t *e)
{
	if (!e)
		return;
	cn__nsel_free(e->nsel);
	free(e->hints);
	if (e->builtin_anchors)
		cn_anchor_set_free(e->builtin_anchors);
	free(e->builtin_anchors);
	free(e->nta);
	free(e->fwdset);
	for (unsigned i = 0; i < e->nviews; i++)
		cn_cache_free(e->views[i].cache);
	pthread_mutex_destroy(&e->views_lock);
	free(e);
}

/* ------------------------------------------------------------------ views ---------- */

uint8_t cn__view_get(cn_engine_t *e, const uint8_t *apex)
{
	unsigned n = __atomic_load_n(&e->nviews, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		if (cn_dname_eq(e->views[i].apex, apex))
			return (uint8_t)(i + 1);
	pthread_mutex_lock(&e->views_lock);
	uint8_t id = 0;
	n = e->nviews;
	for (unsigned i = 0; i < n && !id; i++) /* made meanwhile by another worker */
		if (cn_dname_eq(e->views[i].apex, apex))
			id = (uint8_t)(i + 1);
	cn_cache_conf_t cc = { .budget_bytes = CN_VIEW_CACHE_BYTES };
	if (!id && n < CN_VIEWS && cn_cache_new(&cc, &e->views[n].cache) == 0) {
		cn_dname_copy(e->views[n].apex, apex);
		__atomic_store_n(&e->nviews, n + 1, __ATOMIC_RELEASE);
		id = (uint8_t)(n + 1);
	}
	pthread_mutex_unlock(&e->views_lock);
	return id;
}

cn_cache_t *cn__view_cache(const cn_engine_t *e, uint8_t id)
{
	return id && id <= __atomic_load_n(&e->nviews, __ATOMIC_ACQUIRE) ? e->views[id - 1].cache
									   : NULL;
}

void cn__views_flush(cn_engine_t *e)
{
	unsigned n = __atomic_load_n(&e->nviews, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		cn_cache_flush(e->views[i].cache);
	cn__epoch_bump(e);
}

const cn_fwdzone_t *cn_engine_fwdzone(const cn_engine_t *e, size_t i)
{
	const cn__fwdset_t *set = e ? __atomic_load_n(&e->fwdset, __ATOMIC_ACQUIRE) : NULL;
	return set && i < set->n ? &set->z[i] : NULL;
}

int cn_engine_set_forwards(cn_engine_t *e, const cn_fwdzone_t *z, size_t n, void **old)
{
	cn__fwdset_t *set = NULL;
	if (n) {
		if (!z || n > SIZE_MAX / sizeof(*z) - 1)
			return -EINVAL;
		if (!(set = malloc(sizeof(*set) + n * sizeof(*z))))
			return -ENOMEM;
		set->n = n;
		memcpy(set->z, z, n * sizeof(*z));
	}
	*old = __atomic_exchange_n(&e->fwdset, set, __ATOMIC_ACQ_REL);
	cn__epoch_bump(e);
	return 0;
}

void cn_engine_forwards_free(void *old)
{
	free(old);
}

static void health_of(const cn_nsel_info_t *info, cn_server_health_t *out)
{
	*out = (cn_server_health_t){ .known = info->known, .srtt_ms = info->srtt_ms,
				     .failing = info->failing, .dead = info->dead,
				     .no_edns = info->no_edns, .replies = info->replies,
				     .failures = info->failures, .no_0x20 = info->no_0x20,
				     .rttvar_ms = info->rttvar_ms, .timeout_ms = info->timeout_ms,
				     .fails_row = info->fails, .silent_row = info->silent,
				     .fail_left_ms = info->fail_left_ms };
}

void cn_engine_server_health(const cn_engine_t *e, const struct sockaddr_storage *addr,
			     uint64_t now_ms, cn_server_health_t *out)
{
	cn_nsel_info_t info;
	cn__nsel_info(e->nsel, addr, now_ms, &info);
	health_of(&info, out);
}

typedef struct servers_walk {
	cn_server_row_t *out;
	size_t max, n;
} servers_walk_t;

static void servers_row(void *arg, const struct sockaddr_storage *addr,
			const cn_nsel_info_t *info)
{
	servers_walk_t *w = arg;
	if (w->n < w->max) {
		w->out[w->n].addr = *addr;
		health_of(info, &w->out[w->n].h);
	}
	w->n++;
}

size_t cn_engine_servers(const cn_engine_t *e, uint64_t now_ms, cn_server_row_t *out,
			 size_t max)
{
	servers_walk_t w = { .out = out, .max = max };
	return cn__nsel_walk(e->nsel, now_ms, servers_row, &w);
}

void cn_engine_count(cn_engine_t *e, cn_outcome_t outcome)
{
	if (outcome < CN_OUT_MAX)
		atomic_fetch_add_explicit(&e->outcome[outcome], 1, memory_order_relaxed);
}

void cn_engine_stats(cn_engine_t *e, cn_engine_stats_t *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < CN_OUT_MAX; i++) {
		s->outcome[i] = atomic_load(&e->outcome[i]);
		s->queries += s->outcome[i];
	}
#define CN_X(field, name) s->field = atomic_load_explicit(&e->field, memory_order_relaxed);
	CN_ENGINE_STATS_MAP(CN_X)
#undef CN_X
	cn__nsel_stats(e->nsel, s);
}

const char *cn_outcome_name(cn_outcome_t o)
{
	static const char *const names[] = {
#define CN_X(suffix, name) [CN_OUT_##suffix] = name,
		CN_OUTCOME_MAP(CN_X)
#undef CN_X
	};
	return (unsigned)o < CN_OUT_MAX ? names[o] : NULL;
}

/* ------------------------------------------------------------------ client queries -- */

/* Scratch for cache values on the hit path: one per thread, never freed while it runs. */
static _Thread_local uint8_t hit_scratch[2 * CN_VALUE_MAX];
static _Thread_local cn_rr_t hit_rrs[CN_ANSWER_MAX_RRS];
static _Thread_local cn_rr_t hit_sec[CN_RESULT_SEC_MAX];
static _Thread_local cn_result_t hit_result;

/* The thread's result, empty, with its record slots. */
static cn_result_t *hit_result_get(void)
{
	cn__result_init(&hit_result, hit_rrs, CN_ANSWER_MAX_RRS, hit_sec, CN_RESULT_SEC_MAX);
	return &hit_result;
}

/* Cache lookups for client answers take only validated data while the engine validates. */
static unsigned answer_flags(const cn_engine_t *e)
{
	return __atomic_load_n(&e->conf.dnssec.enabled, __ATOMIC_RELAXED) ? CN_ANSWER_VALIDATED
									   : 0;
}

/* Fill q from a parsed client query. */
static void question_from_msg(const cn_msg_t *m, const cn_client_t *client, cn_question_t *q)
{
	q->id = m->id;
	q->flags = m->flags;
	memcpy(q->qname, m->qname, m->qname_len);
	q->qname_len = m->qname_len;
	q->qtype = m->qtype;
	q->qclass = m->qclass;
	q->edns = m->edns.present;
	q->do_bit = m->edns.do_bit;
	q->udp_size = m->edns.present ? m->edns.udp_size : 512;
	q->tcp = client && client->tcp;
	q->miss = CN_MISS_NONE;
	q->prefetch = false;
	q->hosted_qname_len = 0;
}

/* A bare error reply to pkt: its ID, QR set, the opcode (RFC 1035 4.1.1: copied into the
 * response), RD and CD echoed, RA, rcode; the question's qlen bytes echoed (0: none, and
 * QDCOUNT 0), nothing else. out must hold CN_HEADER_LEN + qlen bytes. */
static size_t bare_reply(const uint8_t *pkt, uint16_t rcode, size_t qlen, uint8_t *out)
{
	memcpy(out, pkt, 2);
	uint16_t f = cn_wire_get16(pkt + 2) & (0x7800 | CN_FLAG_RD | CN_FLAG_CD);
	cn_wire_put16(out + 2, (uint16_t)(f | CN_FLAG_QR | CN_FLAG_RA | rcode));
	cn_wire_put16(out + 4, qlen ? 1 : 0);
	memset(out + 6, 0, 6);
	memcpy(out + CN_HEADER_LEN, pkt + CN_HEADER_LEN, qlen);
	return CN_HEADER_LEN + qlen;
}

size_t cn_engine_refuse(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	if (len < CN_HEADER_LEN || cap < CN_HEADER_LEN || (pkt[2] & 0x80))
		return 0; /* not a query: never answer a response (reflection loops) */
	cn_msg_t m;
	size_t qlen = 0;
	if (cn_msg_parse_question(pkt, len, &m) == 0 && m.has_question)
		qlen = m.question_end - CN_HEADER_LEN;
	if (CN_HEADER_LEN + qlen > cap)
		qlen = 0;
	return bare_reply(pkt, CN_RCODE_REFUSED, qlen, out);
}

size_t cn_engine_truncated(const cn_engine_t *e, const cn_question_t *q, uint8_t *out,
			   size_t cap)
{
	size_t len = cn__answer_write(q, hit_result_get(), e->conf.edns_udp_size, out, cap);
	if (len >= CN_HEADER_LEN)
		out[2] |= CN_FLAG_TC >> 8;
	return len;
}

/* RFC 8482: ANY is answered with one synthesised HINFO record, no upstream work. Over UDP
 * not even that: an empty reply with TC=1, no larger than the query (B5 in docs/attacks.md:
 * ANY is the classic amplification query); a real client asks again over TCP. */
static size_t answer_any(const cn_engine_t *e, const cn_question_t *q, uint8_t *out, size_t cap)
{
	static const uint8_t hinfo[] = { 7, 'R', 'F', 'C', '8', '4', '8', '2', 0 };
	cn_result_t *res = hit_result_get();
	if (!q->tcp) {
		size_t len = cn__answer_write(q, res, e->conf.edns_udp_size, out, cap);
		out[2] |= CN_FLAG_TC >> 8;
		return len;
	}
	res->an[0] = (cn_rr_t){ .owner = q->qname, .rdata = hinfo, .ttl = 3600,
				.type = CN_TYPE_HINFO, .rclass = CN_CLASS_IN,
				.rdlen = sizeof(hinfo), .section = CN_SECTION_ANSWER };
	res->nan = 1;
	return cn__answer_write(q, res, e->conf.edns_udp_size, out, cap);
}

/* Policy for what cannot be resolved: returns an RCODE, or 0 to go on. */
static uint16_t query_policy(const cn_msg_t *m, uint16_t *ede)
{
	*ede = 0xffff;
	if (CN_OPCODE(m->flags) != 0)
		return CN_RCODE_NOTIMP;
	if (m->edns.present && m->edns.version > 0)
		return CN_RCODE_BADVERS; /* RFC 6891 6.1.3 */
	if (m->qclass != CN_CLASS_IN) {
		*ede = CN_EDE_NOT_SUPPORTED;
		return CN_RCODE_REFUSED;
	}
	switch (m->qtype) {
	case 0:
	case CN_TYPE_OPT:
		return CN_RCODE_FORMERR;
	case CN_TYPE_AXFR:
	case CN_TYPE_IXFR:
	case 249: /* TKEY */
	case 250: /* TSIG */
	case 253: /* MAILB */
	case 254: /* MAILA */
		*ede = CN_EDE_NOT_SUPPORTED;
		return CN_RCODE_REFUSED;
	}
	return 0;
}

/*
 * RFC 9520: the question failed to resolve a moment ago (failcache.c). Answer at once — a
 * stale answer if serve-stale has one (RFC 8767), else SERVFAIL with EDE 13 "Cached Error"
 * saying what failed — with no upstream work. False when nothing is remembered.
 */
static bool answer_failure(cn_engine_t *e, cn_question_t *q, cn_time_t now, uint8_t *out,
			   size_t cap, size_t *out_len, cn_outcome_t *outcome)
{
	cn_failure_t fl;
	if (cn__failcache_lookup(e, q->qname, q->qtype, now.wall_s, &fl) != 0)
		return false;
	bool dnssec = fl.ede_code == 1 || fl.ede_code == 2 ||
		      (fl.ede_code >= CN_EDE_DNSSEC_BOGUS && fl.ede_code <= 12);
	if (dnssec && (q->flags & CN_FLAG_CD))
		return false; /* bogus data: a CD=1 client gets it, unvalidated (RFC 4035 3.2.2) */
	CN_STAT_INC(e, failure_answers);
	int ret = cn__answer_stale(e, q, now, out, cap, out_len);
	if (ret >= 0) {
		*outcome = ret == 1 ? CN_OUT_CACHE_STALE : CN_OUT_CACHE_POSITIVE;
		return true;
	}
	char text[CN_EDE_TEXT_MAX];
	int n = snprintf(text, sizeof(text), "cached failure, %u s left: ", fl.ttl_left_s);
	size_t room = sizeof(text) - 1 - (size_t)n, tl = strnlen(fl.text, room);
	memcpy(text + n, fl.text, tl);
	text[(size_t)n + tl] = 0;
	cn__count_miss(e, q, true);
	/* a bogus answer keeps its own EDE (which DNSSEC failure), other failures EDE 13 */
	*out_len = cn__answer_error(q, CN_RCODE_SERVFAIL,
				    dnssec ? fl.ede_code : CN_EDE_CACHED_ERROR, dnssec ? fl.text : text,
				    e->conf.edns_udp_size, out, cap);
	*outcome = CN_OUT_SERVFAIL;
	return true;
}

cn_state_t cn_engine_query(cn_engine_t *e, const uint8_t *pkt, size_t len,
			   const cn_client_t *client, cn_time_t now, uint8_t *out, size_t cap,
			   size_t *out_len, cn_question_t *q, cn_outcome_t *outcome)
{
	/* NSD's rule: shorter than a header, or a response: drop without a word. */
	if (len < CN_HEADER_LEN || (pkt[2] & 0x80) || cap < 512) {
		*outcome = CN_OUT_DROPPED;
		return CN_DROP;
	}
	cn_hot_t *hot = client ? client->hot : NULL;
	uint64_t epoch = hot ? cn__hot_epoch(e) : 0; /* before anything the reply rests on */
	if (hot && (*out_len = cn__hot_answer(hot, e, epoch, pkt, len, now.wall_s, out,
					      cap, outcome))) {
		q->ready = true;
		q->prefetch = false;
		return CN_DONE;
	}
	cn_msg_t m;
	int ret = cn_msg_parse_query(pkt, len, &m);
	if (ret != 0 || !m.has_question) {
		uint16_t rcode = CN_OPCODE(cn_wire_get16(pkt + 2)) != 0 ? CN_RCODE_NOTIMP
									: CN_RCODE_FORMERR;
		cn__log(e, 3, "client query: %s", ret ? cn_strerror(ret) : "no question");
		*out_len = bare_reply(pkt, rcode, 0, out);
		*outcome = CN_OUT_FORMERR;
		return CN_DONE;
	}
	question_from_msg(&m, client, q);
	uint16_t ede;
	uint16_t rcode = query_policy(&m, &ede);
	if (rcode) {
		bool has_ede = ede != 0xffff;
		*out_len = cn__answer_error(q, rcode, has_ede ? ede : 0,
					    has_ede ? "query type or class not served" : NULL,
					    e->conf.edns_udp_size, out, cap);
		*outcome = rcode == CN_RCODE_REFUSED ? CN_OUT_REFUSED : CN_OUT_FORMERR;
		return CN_DONE;
	}
	if (m.qtype == CN_TYPE_ANY) {
		*out_len = answer_any(e, q, out, cap);
		*outcome = CN_OUT_LOCAL;
		return CN_DONE;
	}
	cn_state_t hosted_state;
	const cn_zoneset_t *zs = cn__zones(e); /* one snapshot for this query (reloads) */
	if (zs && cn__hosted_query(e, zs, client, q, now, out, cap, out_len, outcome,
				   &hosted_state))
		return hosted_state;
	bool stale;
	uint32_t left, orig;
	cn_cache_miss_t miss;
	cn_result_t *res = hit_result_get();
	ret = cn__answer_from_cache(e->cache, q->qname, q->qtype, now.wall_s, answer_flags(e),
				    e->conf.limits.cname_chain, hit_scratch, sizeof(hit_scratch),
				    res, &stale, &left, &orig, &miss);
	if (ret == 0) {
		if (zs && cn__hosted_cached_chain(e, zs, client, q, res, now, out, cap, out_len,
						  outcome, &hosted_state))
			return hosted_state;
		*out_len = cn__answer_write(q, res, e->conf.edns_udp_size, out, cap);
		*outcome = res->rcode == CN_RCODE_NOERROR && res->nan ? CN_OUT_CACHE_POSITIVE
								      : CN_OUT_CACHE_NEGATIVE;
		/* Prefetch: asked for in the last 10% of its TTL (and TTL worth refreshing). */
		if (e->conf.prefetch && orig >= 10 && left * 10u < orig)
			q->prefetch = true;
		else if (hot && !stale && !cn_zoneset_has_private(zs))
			cn__hot_store(hot, e, epoch, pkt, len, res, left, orig, now.wall_s, out,
				      *out_len, *outcome);
		return CN_DONE;
	}
	if (answer_flags(e) && __atomic_load_n(&e->conf.dnssec.aggressive_nsec, __ATOMIC_RELAXED) &&
	    cn__aggressive_answer(e->cache, q, now.wall_s, hit_scratch, sizeof(hit_scratch),
				  (res = hit_result_get()))) {
		/* RFC 8198: denied by validated NSEC ranges already cached */
		CN_STAT_INC(e, dnssec_aggressive);
		*out_len = cn__answer_write(q, res, e->conf.edns_udp_size, out, cap);
		*outcome = CN_OUT_CACHE_NEGATIVE;
		return CN_DONE;
	}
	if (!(m.flags & CN_FLAG_RD)) {
		/* RD=0: answered from cache only; a miss is REFUSED, never resolved */
		*out_len = cn__answer_error(q, CN_RCODE_REFUSED, CN_EDE_PROHIBITED,
					    "recursion not requested and not cached",
					    e->conf.edns_udp_size, out, cap);
		*outcome = CN_OUT_REFUSED;
		return CN_DONE;
	}
	q->miss = (uint8_t)(miss == CN_MISS_NONE ? CN_MISS_FIRST : miss);
	if (answer_failure(e, q, now, out, cap, out_len, outcome))
		return CN_DONE;
	return CN_MISS;
}

void cn__count_miss(cn_engine_t *e, const cn_question_t *q, bool uncacheable)
{
	if (uncacheable) {
		CN_STAT_INC(e, miss_uncacheable);
		return;
	}
	switch (q->miss) {
	case CN_MISS_EXPIRED: CN_STAT_INC(e, miss_expired); break;
	case CN_MISS_EVICTED: CN_STAT_INC(e, miss_evicted); break;
	default: CN_STAT_INC(e, miss_first); break;
	}
}

/* A stale answer from cache (RFC 8767 4: TTL 30, EDE 3), or -ENOENT. */
int cn__answer_stale(cn_engine_t *e, const cn_question_t *q, cn_time_t now, uint8_t *out,
		     size_t cap, size_t *len)
{
	if (!e->conf.serve_stale)
		return -ENOENT;
	bool stale;
	uint32_t left, orig;
	cn_cache_miss_t miss;
	cn_result_t *res = hit_result_get();
	cn_cache_t *cache = q->view ? cn__view_cache(e, q->view) : e->cache;
	if (!cache)
		return -ENOENT;
	int ret = cn__answer_from_cache(cache, q->qname, q->qtype, now.wall_s,
					CN_LOOKUP_STALE | (q->view ? 0 : answer_flags(e)),
					e->conf.limits.cname_chain, hit_scratch,
					sizeof(hit_scratch), res, &stale, &left, &orig, &miss);
	if (ret != 0)
		return -ENOENT;
	if (stale) {
		uint32_t ttl = e->conf.stale_answer_ttl_s;
		for (size_t i = 0; i < res->nan; i++)
			res->an[i].ttl = ttl;
		res->soa.ttl = ttl;
		res->has_ede = true;
		res->ede_code = CN_EDE_STALE_ANSWER;
		snprintf(res->ede_text, sizeof(res->ede_text), "stale answer: resolution failed");
	}
	*len = cn__answer_write(q, res, e->conf.edns_udp_size, out, cap);
	return stale ? 1 : 0;
}

size_t cn_engine_late_answer(cn_engine_t *e, const cn_question_t *q, cn_time_t now,
			     uint8_t *out, size_t cap, cn_outcome_t *outcome)
{
	size_t len;
	int ret = cn__answer_stale(e, q, now, out, cap, &len);
	if (ret >= 0) {
		*outcome = ret == 1 ? CN_OUT_CACHE_STALE : CN_OUT_CACHE_POSITIVE;
		return len;
	}
	CN_STAT_INC(e, limit_deadline);
	cn__count_miss(e, q, true);
	*outcome = CN_OUT_SERVFAIL;
	return cn__answer_error(q, CN_RCODE_SERVFAIL, CN_EDE_NO_REACHABLE_AUTHORITY,
				"client deadline passed; resolution still in progress",
				e->conf.edns_udp_size, out, cap);
}
