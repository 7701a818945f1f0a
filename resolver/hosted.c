/*
 * The engine's side of hosted zones (zone.c): answering a client from them before the
 * cache, and finishing what a hosted answer leaves open.
 *
 * A client's answer is built as a chain of segments, each from a hosted zone the client
 * sees or from the cache, alternating as CNAMEs lead in and out of hosted zones:
 *
 *   hosted lookup  -- CNAME leaves every visible zone --> cache (shared, public data only)
 *        ^                                                  |
 *        +------ a cached CNAME leads into a visible zone --+
 *
 * When the cache cannot finish a chain, the question becomes the name still to resolve
 * (q->qname), and the client's own qname is kept in q->hosted_qname; when that resolution
 * ends, net hands its reply to cn_engine_hosted_finish(), which rebuilds the whole answer
 * (or appends the resolved records to the hosted part when they could not be cached).
 *
 * Split horizon: hosted data is never written to the cache, so a private zone's records
 * reach only the clients in its visible_to; and because the hosted lookup comes first and
 * every cached CNAME target is checked against the zones the client sees, a public answer
 * cached for someone else is never served for a name a client's private zone covers.
 *
 * A delegation below a public zone's apex is followed like a referral: its NS set and glue
 * are put in the cache (NS at rank LOCAL, so a child's own NS set cannot replace it; glue
 * at rank ADDITIONAL, so the child's authoritative addresses do), and the name is resolved
 * from there.
 *
 * Views: a delegation inside a private zone is followed the same way, but in the zone's
 * view: a cache of its own (CN_VIEW_CACHE_BYTES, made on first use, one per private apex),
 * which the NS set and glue are seeded into, the resolution reads and writes (the
 * question carries the view: cn_question_t.view; net never coalesces it with others) and
 * the next client of the zone is answered from. Nothing resolved below a private
 * delegation reaches the shared cache or the shared failure cache; a reload of the hosted
 * zones empties the views.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/errors.h"
#include "resolver/internal.h"
#include "resolver/zone.h"
#include "resolver/zone_internal.h"

#define SEGMENTS 3   /* cache segments one answer may hold (each needs its own scratch) */
#define SEED_MAX 16  /* NS records, and addresses per NS name, put in the cache for a delegation */

/*
 * Per-thread working memory (about 550 KiB), malloc'ed on a thread's first hosted answer
 * and freed when the thread ends. Not thread-local arrays: glibc clears a thread's whole
 * static TLS when it creates the thread, which would make every thread resident in all of
 * it, hosted zones or not.
 */
typedef struct hctx {
	uint8_t seg_scratch[SEGMENTS][2 * CN_VALUE_MAX];
	uint8_t zone_scratch[CN_ZONE_SCRATCH(100) * 2];
	cn_rr_t rrs[CN_ANSWER_MAX_RRS];
	cn_result_t res;
	uint8_t reply_copy[65535];
} hctx_t;

static pthread_key_t hctx_key;
static pthread_once_t hctx_once = PTHREAD_ONCE_INIT;
static bool hctx_key_ok;

static void hctx_key_make(void)
{
	hctx_key_ok = pthread_key_create(&hctx_key, free) == 0;
}

/* This thread's working memory, or NULL when out of memory. */
static hctx_t *hctx_get(void)
{
	pthread_once(&hctx_once, hctx_key_make);
	if (!hctx_key_ok)
		return NULL;
	hctx_t *h = pthread_getspecific(hctx_key);
	if (!h && (h = malloc(sizeof(*h))) && pthread_setspecific(hctx_key, h) != 0) {
		free(h);
		h = NULL;
	}
	return h;
}

typedef struct chain {
	hctx_t *h;
	cn_engine_t *e;
	const cn_zoneset_t *zs; /* one snapshot of the hosted zones for the whole answer: a
				   reload swapping them meanwhile is not seen half-way */
	cn_cache_t *cache;   /* the shared cache, or a private zone's view once the chain
				went below one of its delegations */
	uint8_t view;        /* that view (cn_question_t.view), or 0 */
	const struct sockaddr *addr;
	uint16_t qtype;
	uint64_t now_s;
	cn_result_t *res;
	size_t zone_used;
	unsigned seg;
	bool upstream;       /* a segment came from the cache (not all hosted) */
	const uint8_t *pending;
} chain_t;

const cn_zoneset_t *cn_engine_zones(const cn_engine_t *e)
{
	return e ? cn__zones(e) : NULL;
}

void cn_engine_set_zones(cn_engine_t *e, const cn_zoneset_t *zs)
{
	__atomic_store_n(&e->conf.zones, zs, __ATOMIC_RELEASE);
	cn__epoch_bump(e);
}

void cn_engine_flush_views(cn_engine_t *e)
{
	cn__views_flush(e);
}

/* Append sub's records and its outcome to res. */
static void merge(cn_result_t *res, const cn_result_t *sub)
{
	res->nan += sub->nan;
	res->rcode = sub->rcode;
	res->has_soa = sub->has_soa;
	res->soa = sub->soa;
}

/* A sub-result writing into res's free record slots. */
static void sub_init(cn_result_t *sub, cn_result_t *res)
{
	cn__result_init(sub, res->an + res->nan, res->an_cap - res->nan, NULL, 0);
}

/* Copy the RRset (owner, type) of zone z into the cache at rank. */
static void seed_rrset(cn_cache_t *cache, const cn_zone_t *z, const uint8_t *owner,
		       uint16_t type, cn_rank_t rank, uint64_t now_s)
{
	size_t first, n = cn_zone_rrset(z, owner, type, &first);
	cn_rr_t rr[SEED_MAX];
	const cn_rr_t *ptrs[SEED_MAX];
	uint8_t val[4096];
	size_t k;
	uint32_t ttl = 0;
	for (k = 0; k < n && k < SEED_MAX; k++) {
		const uint8_t *o, *rdata;
		uint16_t rdlen;
		cn_zone_record(z, first + k, &o, &rdata, &rdlen, &ttl);
		rr[k] = (cn_rr_t){ .owner = o, .rdata = rdata, .rdlen = rdlen, .ttl = ttl,
				   .type = type, .rclass = CN_CLASS_IN };
		ptrs[k] = &rr[k];
	}
	int len = k ? cn__value_encode_rrset(ptrs, k, val, sizeof(val)) : -ENOENT;
	if (len > 0)
		cn_cache_insert(cache, owner, cn_dname_len(owner), type, CN_CLASS_IN,
				CN_CACHE_RRSET, rank, ttl, now_s, val, (size_t)len);
}

/* Put the NS set of a public delegation (rank LOCAL: a child's own NS set cannot replace
 * it) and its glue (rank ADDITIONAL: the child's authoritative addresses do) into the
 * cache, so the iteration starts at the delegated servers. */
static void seed_delegation(cn_cache_t *cache, const cn_zone_t *z, const uint8_t *cut,
			    uint64_t now_s)
{
	seed_rrset(cache, z, cut, CN_TYPE_NS, CN_RANK_LOCAL, now_s);
	size_t first, n = cn_zone_rrset(z, cut, CN_TYPE_NS, &first);
	for (size_t i = 0; i < n && i < SEED_MAX; i++) {
		const uint8_t *owner, *target;
		uint16_t rdlen;
		uint32_t ttl;
		cn_zone_record(z, first + i, &owner, &target, &rdlen, &ttl);
		if (!cn_dname_is_sub(target, cut))
			continue; /* glue lives below the cut */
		seed_rrset(cache, z, target, CN_TYPE_A, CN_RANK_ADDITIONAL, now_s);
		seed_rrset(cache, z, target, CN_TYPE_AAAA, CN_RANK_ADDITIONAL, now_s);
	}
}

/* The first CNAME in res->an[from..] whose target lies in a hosted zone the client sees
 * (a cached chain entering it): its index, or -1. */
static long chain_enters_zone(const chain_t *c, size_t from)
{
	for (size_t i = from; i < c->res->nan; i++) {
		const cn_rr_t *rr = &c->res->an[i];
		if (rr->type == CN_TYPE_CNAME && cn_zone_find(c->zs, c->addr, rr->rdata))
			return (long)i;
	}
	return -1;
}

/* Below a delegation inside private zone z: what follows is resolved in z's view (its own
 * cache), never in the shared one. False (res: SERVFAIL) when no view can be made. */
static bool enter_view(chain_t *c, const cn_zone_t *z)
{
	uint8_t id = cn__view_get(c->e, cn__zone_name(z));
	if (!id) {
		c->res->nan = 0;
		c->res->rcode = CN_RCODE_SERVFAIL;
		c->res->has_soa = false;
		c->res->has_ede = true;
		c->res->ede_code = CN_EDE_OTHER;
		snprintf(c->res->ede_text, sizeof(c->res->ede_text),
			 "no view for a private zone's delegation (at most %d)", CN_VIEWS);
		return false;
	}
	c->view = id;
	c->cache = cn__view_cache(c->e, id);
	return true;
}

typedef enum chain_end {
	CHAIN_DONE,      /* res is the whole answer */
	CHAIN_RESOLVE,   /* c->pending must be resolved first (res: the chain up to it) */
	CHAIN_NOT_OURS,  /* no hosted zone took part: the ordinary path answers */
} chain_end_t;

/* One cache segment for name: CHAIN_DONE (maybe back into a hosted zone: *next), or
 * CHAIN_RESOLVE. */
static chain_end_t cache_segment(chain_t *c, const uint8_t *name, const uint8_t **next)
{
	*next = NULL;
	if (c->seg >= SEGMENTS) {
		c->res->rcode = CN_RCODE_SERVFAIL;
		return CHAIN_DONE;
	}
	cn_result_t sub;
	sub_init(&sub, c->res);
	bool stale;
	uint32_t left, orig;
	cn_cache_miss_t miss;
	uint8_t *scratch = c->h->seg_scratch[c->seg];
	int ret = cn__answer_from_cache(c->cache, name, c->qtype, c->now_s, 0,
					c->e->conf.limits.cname_chain, scratch,
					sizeof(c->h->seg_scratch[0]), &sub, &stale, &left, &orig,
					&miss);
	c->seg++;
	c->upstream = true;
	if (ret != 0) {
		c->pending = name;
		return CHAIN_RESOLVE;
	}
	size_t from = c->res->nan;
	merge(c->res, &sub);
	long k = chain_enters_zone(c, from);
	if (k >= 0) {
		c->res->nan = (size_t)k + 1;
		c->res->rcode = CN_RCODE_NOERROR;
		c->res->has_soa = false;
		*next = c->res->an[k].rdata;
	}
	return CHAIN_DONE;
}

/* Build the answer for name from hosted zones and the cache, alternating. */
static chain_end_t chain_run(chain_t *c, const uint8_t *name, bool first_hosted)
{
	cn_engine_t *e = c->e;
	for (unsigned hop = 0; hop <= e->conf.limits.cname_chain + 1; hop++) {
		cn_result_t sub;
		sub_init(&sub, c->res);
		cn_zone_answer_t za;
		const uint8_t *next = NULL;
		if (!(hop == 0 && !first_hosted)) {
			size_t room = sizeof(c->h->zone_scratch) - c->zone_used;
			cn_zone_kind_t kind = cn_zone_lookup(c->zs, c->addr, name, c->qtype,
							     e->conf.limits.cname_chain, &sub,
							     c->h->zone_scratch + c->zone_used,
							     room,
							     &za);
			c->zone_used += za.scratch_used;
			if (kind == CN_ZONE_NONE && hop == 0)
				return CHAIN_NOT_OURS;
			if (kind != CN_ZONE_NONE) {
				merge(c->res, &sub);
				/* AA: the client's own name was answered from a zone (not just
				 * found below one of its delegations) */
				c->res->aa |= hop == 0 && (kind != CN_ZONE_DELEGATION || sub.nan);
			}
			if (kind == CN_ZONE_ANSWER)
				return CHAIN_DONE;
			if (kind == CN_ZONE_DELEGATION) {
				if (cn_zone_is_private(za.zone) && !enter_view(c, za.zone))
					return CHAIN_DONE;
				seed_delegation(c->cache, za.zone, za.cut, c->now_s);
			}
			if (kind != CN_ZONE_NONE)
				name = za.target;
		}
		if (cache_segment(c, name, &next) == CHAIN_RESOLVE)
			return CHAIN_RESOLVE;
		if (!next)
			return CHAIN_DONE;
		name = next;
	}
	c->res->nan = 0;
	c->res->rcode = CN_RCODE_SERVFAIL;
	c->res->has_soa = false;
	return CHAIN_DONE;
}

static cn_result_t *chain_result(hctx_t *h)
{
	/* no DNSSEC records: a chain through hosted data is never validated (no AD) */
	cn__result_init(&h->res, h->rrs, CN_ANSWER_MAX_RRS, NULL, 0);
	return &h->res;
}

/* Out of memory for the working memory: SERVFAIL for q. */
static size_t servfail(cn_engine_t *e, const cn_question_t *q, uint8_t *out, size_t cap,
		       cn_outcome_t *outcome)
{
	*outcome = CN_OUT_SERVFAIL;
	return cn__answer_error(q, CN_RCODE_SERVFAIL, CN_EDE_OTHER, "out of memory",
				e->conf.edns_udp_size, out, cap);
}

/* q becomes the question of the resolution of pending; with a chain before it (or a name
 * other than the client's), the client's name is kept in hosted_qname for the rebuild. */
static void become_resolution(cn_question_t *q, const uint8_t *pending, bool chain,
			      uint8_t view, cn_state_t *state)
{
	q->view = view;
	uint8_t name[CN_DNAME_MAX];
	size_t plen = cn_dname_copy(name, pending); /* pending may point into q */
	if (chain || !cn_dname_eq(name, q->qname)) {
		memcpy(q->hosted_qname, q->qname, q->qname_len);
		q->hosted_qname_len = (uint16_t)q->qname_len;
	}
	memcpy(q->qname, name, plen);
	q->qname_len = plen;
	q->miss = CN_MISS_FIRST;
	*state = CN_MISS;
}

bool cn__hosted_query(cn_engine_t *e, const cn_zoneset_t *zs, const cn_client_t *client,
		      cn_question_t *q, cn_time_t now, uint8_t *out, size_t cap, size_t *out_len,
		      cn_outcome_t *outcome, cn_state_t *state)
{
	const struct sockaddr *addr = client ? client->addr : NULL;
	if (!cn_zone_find(zs, addr, q->qname))
		return false; /* the common case, kept cheap: no result to clear */
	hctx_t *h = hctx_get();
	if (!h) {
		*out_len = servfail(e, q, out, cap, outcome);
		*state = CN_DONE;
		return true;
	}
	chain_t c = { .h = h, .e = e, .zs = zs, .cache = e->cache, .addr = addr, .qtype = q->qtype, .now_s = now.wall_s,
		      .res = chain_result(h) };
	chain_end_t end = chain_run(&c, q->qname, true);
	if (end == CHAIN_NOT_OURS)
		return false;
	if (end == CHAIN_RESOLVE && !(q->flags & CN_FLAG_RD) && !c.res->nan)
		return false; /* RD=0 below a delegation: the cache alone answers, as usual */
	if (end == CHAIN_DONE) {
		*out_len = cn__answer_write(q, c.res, e->conf.edns_udp_size, out, cap);
		*outcome = c.res->rcode == CN_RCODE_SERVFAIL ? CN_OUT_SERVFAIL : CN_OUT_LOCAL;
		*state = CN_DONE;
		return true;
	}
	if (!(q->flags & CN_FLAG_RD) && c.res->nan) {
		/* RD=0: the hosted part is the answer; nothing is resolved for it */
		*out_len = cn__answer_write(q, c.res, e->conf.edns_udp_size, out, cap);
		*outcome = CN_OUT_LOCAL;
		*state = CN_DONE;
		return true;
	}
	/* resolve the rest: the question becomes the pending name */
	become_resolution(q, c.pending, c.res->nan > 0, c.view, state);
	return true;
}

bool cn__hosted_cached_chain(cn_engine_t *e, const cn_zoneset_t *zs,
			     const cn_client_t *client, cn_question_t *q, const cn_result_t *hit,
			     cn_time_t now, uint8_t *out, size_t cap, size_t *out_len,
			     cn_outcome_t *outcome, cn_state_t *state)
{
	const struct sockaddr *addr = client ? client->addr : NULL;
	size_t k = 0;
	while (k < hit->nan && !(hit->an[k].type == CN_TYPE_CNAME &&
				 cn_zone_find(zs, addr, hit->an[k].rdata)))
		k++;
	if (k == hit->nan)
		return false; /* the common case: no CNAME into a zone this client sees */
	hctx_t *h = hctx_get();
	if (!h) {
		*out_len = servfail(e, q, out, cap, outcome);
		*state = CN_DONE;
		return true;
	}
	cn_result_t *res = chain_result(h);
	chain_t c = { .h = h, .e = e, .zs = zs, .cache = e->cache, .addr = addr, .qtype = q->qtype, .now_s = now.wall_s,
		      .res = res };
	/* the hit's records point into the engine's hit scratch, which stays put */
	memcpy(res->an, hit->an, (k + 1) * sizeof(cn_rr_t));
	res->nan = k + 1;
	chain_end_t end = chain_run(&c, res->an[k].rdata, true);
	if (end == CHAIN_RESOLVE) {
		/* the chain entered a visible zone and left it again: resolve that part */
		become_resolution(q, c.pending, true, c.view, state);
		return true;
	}
	res->aa = false; /* the client's name is not hosted */
	*out_len = cn__answer_write(q, res, e->conf.edns_udp_size, out, cap);
	*outcome = res->rcode == CN_RCODE_SERVFAIL ? CN_OUT_SERVFAIL : CN_OUT_LOCAL;
	*state = CN_DONE;
	return true;
}

/* Append the answer records, RCODE and SOA of a reply (for the pending name) to res. */
static int append_reply(cn_result_t *res, const uint8_t *reply, size_t len, cn_arena_t *arena)
{
	cn_msg_t m;
	if (cn_msg_parse(reply, len, arena, &m) != 0)
		return -EINVAL;
	/* net hands over replies cairn wrote itself; still, keep only what is well-formed */
	for (size_t i = 0; i < m.an && res->nan < res->an_cap; i++)
		if (m.rrs[i].rclass == CN_CLASS_IN &&
		    cn_rdata_check(m.rrs[i].type, m.rrs[i].rdata, m.rrs[i].rdlen) == 0)
			res->an[res->nan++] = m.rrs[i];
	res->rcode = m.rcode;
	res->has_soa = false;
	for (size_t i = m.an; i < m.an + m.ns; i++)
		if (m.rrs[i].type == CN_TYPE_SOA && m.rrs[i].rclass == CN_CLASS_IN &&
		    cn_rdata_check(CN_TYPE_SOA, m.rrs[i].rdata, m.rrs[i].rdlen) == 0) {
			res->soa = m.rrs[i];
			res->has_soa = true;
			break;
		}
	return 0;
}

/* A resolved reply whose CNAME chain enters a hosted zone the client sees (the
 * resolution followed the public tree there): true. */
static bool reply_enters_zone(const cn_zoneset_t *zs, const struct sockaddr *client,
			      const uint8_t *buf, size_t len)
{
	if ((buf[6] << 8 | buf[7]) < 2)
		return false; /* a chain needs a CNAME and something after it */
	cn_arena_t arena;
	cn_arena_init(&arena, 0);
	cn_msg_t m;
	bool enters = false;
	if (cn_msg_parse(buf, len, &arena, &m) == 0)
		for (size_t i = 0; i < m.an && !enters; i++)
			enters = m.rrs[i].type == CN_TYPE_CNAME &&
				 cn_zone_find(zs, client, m.rrs[i].rdata);
	cn_arena_deinit(&arena);
	return enters;
}

size_t cn_engine_hosted_finish(cn_engine_t *e, const cn_question_t *q,
			       const struct sockaddr *client, uint8_t *buf, size_t len,
			       size_t cap, cn_time_t now, cn_outcome_t *outcome)
{
	const cn_zoneset_t *zs = cn__zones(e); /* one snapshot for the whole rebuild */
	if (!zs || len < CN_HEADER_LEN || len > cap)
		return len;
	hctx_t *h;
	if (!q->hosted_qname_len) {
		if (!reply_enters_zone(zs, client, buf, len))
			return len;
		if (!(h = hctx_get()))
			return servfail(e, q, buf, cap, outcome);
		/* rebuild from the cache the resolution filled, cut where the chain enters */
		chain_t c = { .h = h, .e = e, .zs = zs, .cache = e->cache, .addr = client, .qtype = q->qtype,
			      .now_s = now.wall_s, .res = chain_result(h) };
		if (chain_run(&c, q->qname, false) != CHAIN_DONE)
			return len; /* not cacheable: nothing better to offer than the reply */
		if (c.res->rcode == CN_RCODE_SERVFAIL)
			*outcome = CN_OUT_SERVFAIL;
		return cn__answer_write(q, c.res, e->conf.edns_udp_size, buf, cap);
	}
	cn_question_t orig = *q;
	memcpy(orig.qname, q->hosted_qname, q->hosted_qname_len);
	orig.qname_len = q->hosted_qname_len;
	orig.hosted_qname_len = 0;
	if (!(h = hctx_get()))
		return servfail(e, &orig, buf, cap, outcome);
	uint8_t *reply_copy = h->reply_copy;
	memcpy(reply_copy, buf, len);
	bool hosted = cn_zone_find(zs, client, orig.qname) != NULL;
	chain_t c = { .h = h, .e = e, .zs = zs, .cache = e->cache, .addr = client, .qtype = q->qtype, .now_s = now.wall_s,
		      .res = chain_result(h) };
	chain_end_t end = chain_run(&c, orig.qname, hosted);
	if (end == CHAIN_NOT_OURS) /* the zones changed under the resolution: as resolved */
		end = chain_run(&c, orig.qname, false);
	if (end == CHAIN_RESOLVE) {
		/* not cacheable (TTL 0, SERVFAIL...): this reply is the rest of the chain, if
		 * the chain still ends where it did when the resolution began */
		cn_arena_t arena;
		cn_arena_init(&arena, 0);
		if (!cn_dname_eq(c.pending, q->qname) ||
		    append_reply(c.res, reply_copy, len, &arena) != 0) {
			c.res->nan = 0;
			c.res->rcode = CN_RCODE_SERVFAIL;
			c.res->has_soa = false;
		}
		c.res->aa = hosted;
		size_t n = cn__answer_write(&orig, c.res, e->conf.edns_udp_size, buf, cap);
		cn_arena_deinit(&arena);
		return n;
	}
	c.res->aa = hosted;
	if (c.res->rcode == CN_RCODE_SERVFAIL)
		*outcome = CN_OUT_SERVFAIL;
	return cn__answer_write(&orig, c.res, e->conf.edns_udp_size, buf, cap);
}
