/*
 * Zone cuts: the closest enclosing NS set of a frame's target (from the cache, or the root
 * from the hints), the addresses of its NS names (glue, cache, or a sub-request when there
 * are none), the choice of the server to ask next, and the evidence that a whole cut is
 * hopeless (RFC 9520). The driver (resolve.c) decides when; this file knows how.
 */
#include <arpa/inet.h>
#include <string.h>

#include "resolver/errors.h"
#include "resolver/internal.h"

/* ------------------------------------------------------------------ addresses ------- */

void cn__zonecut_addr_ss(const cn_ns_addr_t *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = a->port;
		memcpy(&s->sin_addr, a->ip, 4);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = a->port;
		memcpy(&s->sin6_addr, a->ip, 16);
	}
}

static bool addr_from_ss(const struct sockaddr_storage *ss, cn_ns_addr_t *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		a->family = AF_INET;
		a->port = s->sin_port;
		memcpy(a->ip, &s->sin_addr, 4);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		a->family = AF_INET6;
		a->port = s->sin6_port;
		memcpy(a->ip, &s->sin6_addr, 16);
		return true;
	}
	return false;
}

bool cn__zonecut_family_ok(const cn_engine_t *e, const cn_frame_t *f,
			   const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET && !e->conf.do_ip4)
		return false;
	if (ss->ss_family == AF_INET6 && !e->conf.do_ip6)
		return false;
	/* a forward or stub zone's servers were named by the operator: loopback is fine */
	if (!e->conf.allow_loopback_upstream && !f->configured && cn__addr_is_local(ss))
		return false;
	return true;
}

/* Add an address (A or AAAA RDATA) to an NS entry, ignoring duplicates. */
static void ns_add_addr(cn_ns_entry_t *ns, uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (type == CN_TYPE_A && rdlen == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(53);
		memcpy(&s->sin_addr, rdata, 4);
	} else if (type == CN_TYPE_AAAA && rdlen == 16) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(53);
		memcpy(&s->sin6_addr, rdata, 16);
	} else {
		return;
	}
	cn_ns_addr_t a;
	addr_from_ss(&ss, &a);
	for (unsigned i = 0; i < ns->naddr; i++)
		if (ns->addr[i].family == a.family && ns->addr[i].port == a.port &&
		    memcmp(ns->addr[i].ip, a.ip, 16) == 0)
			return;
	if (ns->naddr < CN_NS_ADDRS)
		ns->addr[ns->naddr++] = a;
}

/* Add the cached addresses (A, AAAA) of name under rclass to ns; how many were found. */
static size_t addrs_from_cache(cn_request_t *r, cn_ns_entry_t *ns, const uint8_t *name,
			       uint16_t rclass, uint64_t now_s)
{
	static const uint16_t types[2] = { CN_TYPE_A, CN_TYPE_AAAA };
	size_t found = 0;
	for (int t = 0; t < 2; t++) {
		cn_cache_entry_t ent;
		if (cn_cache_lookup(r->cache, name, cn_dname_len(name), types[t], rclass, now_s,
				    rclass == CN_CLASS_IN ? 0 : CN_LOOKUP_PEEK, &ent, r->scratch,
				    CN_SCRATCH_LEN) != 0 || ent.kind != CN_CACHE_RRSET)
			continue;
		cn_rdata_ref_t refs[16];
		size_t n;
		if (cn__value_decode_rrset_first(r->scratch, ent.data_len, refs, 16, &n) != 0)
			continue;
		for (size_t i = 0; i < n; i++)
			ns_add_addr(ns, types[t], refs[i].rdata, refs[i].rdlen);
		found += n;
	}
	return found;
}

/* A cached CNAME at name: name becomes its target (true), or nothing is cached (false). */
static bool cached_cname(cn_request_t *r, uint8_t *name, uint64_t now_s)
{
	cn_cache_entry_t ent;
	cn_rdata_ref_t ref;
	size_t n;
	if (cn_cache_lookup(r->cache, name, cn_dname_len(name), CN_TYPE_CNAME, CN_CLASS_IN,
			    now_s, CN_LOOKUP_PEEK, &ent, r->scratch, CN_SCRATCH_LEN) != 0 ||
	    ent.kind != CN_CACHE_RRSET ||
	    cn__value_decode_rrset_first(r->scratch, ent.data_len, &ref, 1, &n) != 0 || n != 1 ||
	    cn_dname_check(ref.rdata, ref.rdlen) <= 0)
		return false;
	cn_dname_copy(name, ref.rdata);
	return true;
}

/* An NS name that is an alias (RFC 2181 10.3 forbids it, zones do it anyway) gets the
 * addresses of the CNAME's target, through the cache only (issue 11): no query is made
 * for it here, and at most CN_NS_CNAME_HOPS are followed. */
void cn__zonecut_ns_lookup(cn_request_t *r, cn_ns_entry_t *ns, uint64_t now_s)
{
	uint8_t name[CN_DNAME_MAX];
	cn_dname_copy(name, ns->name);
	for (unsigned hops = 0; addrs_from_cache(r, ns, name, CN_CLASS_IN, now_s) == 0 &&
				hops < CN_NS_CNAME_HOPS && cached_cname(r, name, now_s);
	     hops++)
		;
	if (ns->state == CN_NS_NEW)
		ns->state = CN_NS_KNOWN;
}

/* ------------------------------------------------------------------ the cut --------- */

/* Set the frame's cut to zone, with no NS names yet: everything learnt about the old cut's
 * servers (asked, answered, dead, hopeless) starts over. */
static void set_cut(cn_frame_t *f, const uint8_t *zone)
{
	cn_dname_copy(f->zone, zone);
	f->cut = CN_CUT_NEW;
	f->from_hints = false;
	f->configured = CN_CUT_CFG_NONE;
	f->nns = 0;
	f->glueless = 0;
	f->probed = false;
	f->dead_skipped = f->hopeless = 0;
	f->cut_cached = false;
	int zl = cn_dname_labels(zone);
	if (f->qmin_labels < zl + 1)
		f->qmin_labels = zl + 1;
}

static void cut_add_ns(cn_frame_t *f, const uint8_t *name)
{
	if (f->nns >= CN_FRAME_NS || cn_dname_check(name, CN_DNAME_MAX) <= 0)
		return;
	for (unsigned i = 0; i < f->nns; i++)
		if (cn_dname_eq(f->ns[i].name, name))
			return;
	cn_ns_entry_t *ns = &f->ns[f->nns++];
	memset(ns, 0, sizeof(*ns));
	cn_dname_copy(ns->name, name);
}

void cn__zonecut_from_hints(cn_request_t *r, cn_frame_t *f)
{
	set_cut(f, (const uint8_t *)"");
	f->from_hints = true;
	for (size_t i = 0; i < r->e->nhints && f->nns < CN_FRAME_NS; i++) {
		const cn_hint_t *h = &r->e->hints[i];
		cut_add_ns(f, h->name);
		cn_ns_entry_t *ns = &f->ns[f->nns - 1];
		for (int a = 0; a < h->naddr && ns->naddr < CN_NS_ADDRS; a++)
			if (addr_from_ss(&h->addr[a], &ns->addr[ns->naddr]))
				ns->naddr++;
		ns->state = CN_NS_KNOWN;
	}
}

void cn__zonecut_from_fwd(cn_frame_t *f, const cn_fwdzone_t *z)
{
	set_cut(f, z->name);
	f->from_hints = true;
	f->configured = z->stub ? CN_CUT_CFG_STUB : CN_CUT_CFG_FORWARD;
	/* the servers have no names: each NS entry carries the zone's name, up to
	 * CN_NS_ADDRS addresses each */
	for (unsigned i = 0; i < z->naddr && f->nns < CN_FRAME_NS; i++) {
		if (i % CN_NS_ADDRS == 0) {
			cn_ns_entry_t *ns = &f->ns[f->nns++];
			memset(ns, 0, sizeof(*ns));
			cn_dname_copy(ns->name, z->name);
			ns->state = CN_NS_KNOWN;
		}
		cn_ns_entry_t *ns = &f->ns[f->nns - 1];
		if (addr_from_ss(&z->addr[i], &ns->addr[ns->naddr]))
			ns->naddr++;
	}
}

const cn_fwdzone_t *cn__zonecut_fwd_for(const cn_engine_t *e, const cn_frame_t *f)
{
	/* the DS RRset of a zone's apex lives in the parent (RFC 4034 5) */
	const uint8_t *name = f->type == CN_TYPE_DS && f->name[0] ? cn_dname_skip(f->name, 1)
								  : f->name;
	const cn__fwdset_t *set = __atomic_load_n(&e->fwdset, __ATOMIC_ACQUIRE);
	const cn_fwdzone_t *best = NULL;
	int best_labels = -1;
	for (size_t i = 0; set && i < set->n; i++) {
		const cn_fwdzone_t *z = &set->z[i];
		int l = cn_dname_labels(z->name);
		if (l > best_labels && cn_dname_is_sub(name, z->name)) {
			best = z;
			best_labels = l;
		}
	}
	return best;
}

/* The closest cached NS set at f->name with `first` labels stripped, or above it. */
static bool cut_from_cache(cn_request_t *r, cn_frame_t *f, int first, uint64_t now_s)
{
	int labels = cn_dname_labels(f->name);
	for (int i = first; i <= labels; i++) {
		const uint8_t *anc = cn_dname_skip(f->name, i);
		cn_cache_entry_t ent;
		if (cn_cache_lookup(r->cache, anc, cn_dname_len(anc), CN_TYPE_NS, CN_CLASS_IN,
				    now_s, 0, &ent, r->scratch, CN_SCRATCH_LEN) != 0 ||
		    ent.kind != CN_CACHE_RRSET)
			continue;
		cn_rdata_ref_t refs[CN_FRAME_NS * 2];
		size_t n;
		if (cn__value_decode_rrset_first(r->scratch, ent.data_len, refs, CN_FRAME_NS * 2,
						 &n))
			continue;
		set_cut(f, anc);
		for (size_t k = 0; k < n; k++)
			cut_add_ns(f, refs[k].rdata);
		for (unsigned k = 0; k < f->nns; k++)
			cn__zonecut_ns_lookup(r, &f->ns[k], now_s);
		f->cut_cached = ent.rank != CN_RANK_LOCAL; /* not a hosted zone's delegation */
		return true;
	}
	return false;
}

bool cn__zonecut_from_cache(cn_request_t *r, cn_frame_t *f, uint64_t now_s)
{
	/* The DS RRset of a name lives in the parent zone (RFC 4034 5): its cut is above. */
	int first = (f->type == CN_TYPE_DS) && f->name[0] ? 1 : 0;
	return cut_from_cache(r, f, first, now_s);
}

/* A referral (RFC 4035 3.1.4) carries the child's DS RRset with its RRSIGs, or the NSEC /
 * NSEC3 records proving it has none: kept for validation (validate.c), so the chain of
 * trust needs no DS query of its own. Not over an entry already cached (validated). */
static void keep_ds(cn_request_t *r, const cn_frame_t *f, const cn_msg_t *m,
		    const uint8_t *child, uint64_t now_s)
{
	if (!r->validate)
		return;
	cn_cache_entry_t ent;
	int ret = cn_cache_lookup(r->cache, child, cn_dname_len(child), CN_TYPE_DS, CN_CLASS_IN,
				  now_s, CN_LOOKUP_PEEK, &ent, NULL, 0);
	if (ret == 0 || ret == -ENOSPC)
		return;
	const cn_rr_t *ds[CN_VALUE_EXTRAS_MAX], *x[CN_VALUE_EXTRAS_MAX];
	size_t n = cn__scrub_rrset(m, CN_SECTION_AUTHORITY, child, CN_TYPE_DS, ds,
				   CN_VALUE_EXTRAS_MAX);
	if (n) {
		size_t nx = cn__scrub_dnssec(m, CN_SECTION_AUTHORITY, child, CN_TYPE_DS, NULL, x,
					     CN_VALUE_EXTRAS_MAX);
		cn_rr_t sig[CN_VALUE_EXTRAS_MAX]; /* kept as an answer's RRSIGs are */
		for (size_t i = 0; i < nx; i++) {
			sig[i] = *x[i];
			sig[i].section = CN_SECTION_ANSWER;
			x[i] = &sig[i];
		}
		(void)cn__scrub_store_rrset_sec(r, ds, n, x, nx, 0, CN_RANK_AUTH_AUTHORITY,
						UINT32_MAX, now_s);
		return;
	}
	size_t nx = cn__scrub_dnssec(m, CN_SECTION_AUTHORITY, NULL, 0, f->zone, x,
				     CN_VALUE_EXTRAS_MAX);
	uint32_t ttl = UINT32_MAX;
	bool denial = false;
	for (size_t i = 0; i < nx; i++) {
		denial |= x[i]->type == CN_TYPE_NSEC || x[i]->type == CN_TYPE_NSEC3;
		ttl = x[i]->ttl < ttl ? x[i]->ttl : ttl;
	}
	if (denial)
		(void)cn__scrub_store_negative_sec(r, child, CN_TYPE_DS, false, NULL, x, nx, 0, ttl,
						   CN_RANK_AUTH_AUTHORITY, now_s);
}

bool cn__zonecut_follow(cn_request_t *r, cn_frame_t *f, const cn_msg_t *m, cn_section_t sec,
			const uint8_t *owner, cn_rank_t rank, uint64_t now_s)
{
	if (sec == CN_SECTION_AUTHORITY)
		keep_ds(r, f, m, owner, now_s);
	const cn_rr_t *set[CN_FRAME_NS * 4];
	size_t n = cn__scrub_rrset(m, sec, owner, CN_TYPE_NS, set, CN_FRAME_NS * 4);
	uint8_t old_zone[CN_DNAME_MAX], cut[CN_DNAME_MAX];
	cn_dname_copy(old_zone, f->zone);
	cn_dname_copy(cut, owner);
	bool cacheable = cn__scrub_store_rrset(r, set, n, rank, UINT32_MAX, now_s);
	set_cut(f, cut);
	for (size_t i = 0; i < n; i++)
		cut_add_ns(f, set[i]->rdata);
	for (unsigned k = 0; k < f->nns; k++) {
		cn_ns_entry_t *ns = &f->ns[k];
		/* glue only for names inside the zone that was asked (RFC 2181 5.4.1) */
		if (cn_dname_is_sub(ns->name, old_zone)) {
			static const uint16_t types[2] = { CN_TYPE_A, CN_TYPE_AAAA };
			for (int t = 0; t < 2; t++) {
				const cn_rr_t *glue[CN_NS_ADDRS * 4];
				size_t g = cn__scrub_rrset(m, CN_SECTION_ADDITIONAL, ns->name,
							   types[t], glue, CN_NS_ADDRS * 4);
				cacheable &= cn__scrub_store_rrset(r, glue, g, CN_RANK_ADDITIONAL,
								   UINT32_MAX, now_s);
				cn__scrub_store_parent_glue(r, glue, g, now_s);
				for (size_t j = 0; j < g; j++)
					ns_add_addr(ns, types[t], glue[j]->rdata, glue[j]->rdlen);
			}
		}
		cn__zonecut_ns_lookup(r, ns, now_s);
	}
	return cacheable;
}

/*
 * Ghost domains (A5 in docs/attacks.md; Jiang et al., NDSS 2012): the NS RRset a zone's own
 * servers give for their apex must not outlive the delegation the parent gave, or a
 * revoked domain stays resolvable as long as its servers keep re-serving long TTLs. The
 * cap is what is left of the delegation (the zone cut's NS entry in the cache); without
 * one (evicted) the child's set is not cached at all. The root, from the hints, has no
 * parent.
 */
uint32_t cn__zonecut_ttl_left(cn_request_t *r, const cn_frame_t *f, uint64_t now_s)
{
	if (f->from_hints || f->zone[0] == 0)
		return UINT32_MAX;
	cn_cache_entry_t ent;
	if (cn_cache_lookup(r->cache, f->zone, cn_dname_len(f->zone), CN_TYPE_NS, CN_CLASS_IN,
			    now_s, CN_LOOKUP_PEEK, &ent, r->scratch, CN_SCRATCH_LEN) != 0 ||
	    ent.kind != CN_CACHE_RRSET)
		return 0;
	return ent.ttl_left_s;
}

/* ------------------------------------------------------------------ choosing -------- */

/* Not asked in this request, nor retried: dead, and another request has its probe. */
static void skip_dead(cn_request_t *r, cn_frame_t *f, cn_ns_addr_t *ad)
{
	ad->tried = true;
	ad->timeouts = CN_ADDR_TRIES;
	f->dead_skipped++;
	CN_STAT_INC(r->e, dead_server_skips);
}

/* One pass: 0 = chosen, 1 = chosen but dead (needs the probe slot), -1 = none.
 * Exploration (as Knot Resolver does): one choice in CN_EXPLORE_ONE_IN goes to a random
 * server that is not failing instead of the fastest, so a server whose SRTT went stale (it
 * came back after an outage, or got faster) is measured again instead of starving behind
 * the one that answered meanwhile. */
#define CN_EXPLORE_ONE_IN 20
static int choose_once(cn_request_t *r, cn_frame_t *f, uint64_t now_ms)
{
	unsigned best_score = UINT32_MAX, ties = 0, healthy = 0;
	int bi = -1, ba = -1, hi = -1, ha = -1;
	bool best_dead = false;
	for (unsigned i = 0; i < f->nns; i++) {
		for (unsigned a = 0; a < f->ns[i].naddr; a++) {
			cn_ns_addr_t *ad = &f->ns[i].addr[a];
			struct sockaddr_storage ss;
			cn__zonecut_addr_ss(ad, &ss);
			if (ad->tried || !cn__zonecut_family_ok(r->e, f, &ss))
				continue;
			cn_nsel_info_t info;
			cn__nsel_info(r->e->nsel, &ss, now_ms, &info);
			if (info.dead && !info.probe_ok) {
				skip_dead(r, f, ad); /* its probe is taken */
				continue;
			}
			/* back from its failure window: one request asks it again at once, or a
			 * server that comes back would wait behind its penalised SRTT */
			if (info.retry_due && cn__nsel_claim_probe(r->e->nsel, &ss, now_ms)) {
				f->cur_ns = (int)i;
				f->cur_addr = (int)a;
				return 0;
			}
			uint32_t rnd;
			if (!info.failing && ++healthy > 1) {
				/* reservoir: a uniform pick among the healthy, for exploring */
				r->e->conf.random(&rnd, sizeof(rnd));
				if (rnd % healthy == 0)
					hi = (int)i, ha = (int)a;
			} else if (!info.failing) {
				hi = (int)i, ha = (int)a;
			}
			unsigned score = info.srtt_ms + (info.failing ? 100000u : 0) +
					 (info.dead ? 200000u : 0);
			if (score < best_score) {
				best_score = score, bi = (int)i, ba = (int)a, ties = 1;
				best_dead = info.dead;
			} else if (score == best_score) {
				/* reservoir choice among equals spreads load over the NS set */
				r->e->conf.random(&rnd, sizeof(rnd));
				if (rnd % ++ties == 0)
					bi = (int)i, ba = (int)a, best_dead = info.dead;
			}
		}
	}
	if (bi < 0)
		return -1;
	if (healthy > 1) {
		uint32_t rnd;
		r->e->conf.random(&rnd, sizeof(rnd));
		if (rnd % CN_EXPLORE_ONE_IN == 0)
			bi = hi, ba = ha, best_dead = false;
	}
	f->cur_ns = bi;
	f->cur_addr = ba;
	return best_dead ? 1 : 0;
}

/* Choose the untried usable address with the lowest score. A dead server (silent several
 * times in a row, nsel.c) is not asked unless this request takes its probe slot: one probe
 * per CN_NSEL_PROBE_MS among all requests, and one dead server per cut and request
 * (NRDelegation, B2). */
bool cn__zonecut_choose(cn_request_t *r, cn_frame_t *f, uint64_t now_ms)
{
	for (;;) {
		int ret = choose_once(r, f, now_ms);
		if (ret <= 0)
			return ret == 0;
		/* ret 1: the best is a dead server; ask it only with its probe slot */
		cn_ns_addr_t *ad = &f->ns[f->cur_ns].addr[f->cur_addr];
		struct sockaddr_storage ss;
		cn__zonecut_addr_ss(ad, &ss);
		if (!f->probed && cn__nsel_claim_probe(r->e->nsel, &ss, now_ms)) {
			f->probed = true; /* one probe per cut and request: not a tour of the dead */
			return true;
		}
		skip_dead(r, f, ad); /* another request probes it */
	}
}

/* ------------------------------------------------------------------ sub-requests ---- */

/* Does the cache say name does not exist (an NXDOMAIN at it or above it, RFC 8020)? */
static bool known_nxdomain(cn_request_t *r, const uint8_t *name, uint64_t now_s)
{
	int labels = cn_dname_labels(name);
	for (int i = 0; i < labels; i++) {
		const uint8_t *anc = cn_dname_skip(name, i);
		cn_cache_entry_t ent;
		if (cn_cache_lookup(r->cache, anc, cn_dname_len(anc), CN_CACHE_TYPE_NXDOMAIN,
				    CN_CLASS_IN, now_s, CN_LOOKUP_PEEK, &ent, r->scratch,
				    CN_SCRATCH_LEN) == 0 && ent.kind == CN_CACHE_NXDOMAIN)
			return true;
	}
	return false;
}

/* An NS name that cannot get an address without a query we refuse to make: inside the
 * zone it serves (it needs glue we do not have), already being resolved further down the
 * stack (a cycle: TsuNAME), or known not to exist (NXNS: many NS names under one
 * nonexistent name would each cost a query otherwise). */
static bool ns_hopeless(cn_request_t *r, const cn_frame_t *f, const cn_ns_entry_t *ns,
			uint64_t now_s)
{
	return cn_dname_is_sub(ns->name, f->zone) || cn__resolve_in_stack(r, ns->name) ||
	       known_nxdomain(r, ns->name, now_s);
}

/* May one more sub-request start? Counts and notes the limit that says no. */
static bool subrequest_allowed(cn_request_t *r, const cn_frame_t *f)
{
	const cn_limits_t *lim = &r->e->conf.limits;
	if (f->glueless >= lim->glueless_ns) {
		CN_STAT_INC(r->e, limit_glueless);
		CN_STAT_INC(r->e, limit_hits);
		cn__resolve_note(r, "glueless NS limit (%u) reached", lim->glueless_ns);
		return false;
	}
	if (r->depth >= CN_FRAMES || (unsigned)r->depth > lim->subrequest_depth) {
		cn__resolve_note(r, "sub-request depth limit reached");
		CN_STAT_INC(r->e, limit_hits);
		return false;
	}
	return true;
}

int cn__zonecut_subrequest(cn_request_t *r, cn_frame_t *f, uint64_t now_s)
{
	for (unsigned i = 0; i < f->nns; i++) {
		cn_ns_entry_t *ns = &f->ns[i];
		if (ns->naddr || ns->state == CN_NS_FAILED || ns->state == CN_NS_RESOLVING)
			continue;
		if (ns->state == CN_NS_NEW) {
			cn__zonecut_ns_lookup(r, ns, now_s);
			if (ns->naddr)
				return 1;
		}
		if (ns_hopeless(r, f, ns, now_s)) {
			ns->state = CN_NS_FAILED;
			f->hopeless++;
			continue;
		}
		if (!subrequest_allowed(r, f))
			return 0;
		f->glueless++;
		ns->state = CN_NS_RESOLVING;
		cn_frame_t *sub = cn__resolve_push(r);
		if (!sub) {
			ns->state = CN_NS_FAILED;
			return 0;
		}
		cn__resolve_frame_init(sub, CN_FRAME_NS_ADDR, ns->name,
				       r->e->conf.do_ip4 ? CN_TYPE_A : CN_TYPE_AAAA, (int)i);
		return 2;
	}
	return 0;
}

/* ------------------------------------------------------------------ giving up ------- */

/*
 * May the zone cut be remembered as failing (RFC 9520)? Only on evidence that holds for
 * every request, not just this one's bad luck: every NS name is hopeless (a cycle, missing
 * glue, nonexistent), or every address of the cut is dead in the shared server table
 * (silent twice in a row and quiet for a second: nsel.c). A server that answered another
 * request a moment ago keeps the zone alive; an overloaded one dropping a burst must not
 * take the whole zone down.
 */
bool cn__zonecut_hopeless(cn_request_t *r, const cn_frame_t *f, uint64_t now_ms)
{
	if (f->nns == 0)
		return false;
	if (f->hopeless == f->nns)
		return true;
	unsigned addrs = 0;
	for (unsigned i = 0; i < f->nns; i++) {
		for (unsigned a = 0; a < f->ns[i].naddr; a++) {
			struct sockaddr_storage ss;
			cn__zonecut_addr_ss(&f->ns[i].addr[a], &ss);
			if (!cn__zonecut_family_ok(r->e, f, &ss))
				continue;
			cn_nsel_info_t info;
			cn__nsel_info(r->e->nsel, &ss, now_ms, &info);
			if (!info.dead)
				return false;
			addrs++;
		}
		if (f->ns[i].naddr == 0 && f->ns[i].state != CN_NS_FAILED)
			return false; /* not looked up (a limit): unknown */
	}
	return addrs > 0;
}

/*
 * Every address has been tried: those that only timed out (a lost packet, a slow moment)
 * are tried again, up to CN_ADDR_TRIES queries each in this request; nsel doubles their
 * timeout each time, and a server that is dead (nsel.c) is skipped by cn__zonecut_choose anyway.
 * The request's limits (upstream queries, resolve deadline) bound it all.
 */
bool cn__zonecut_retry_timeouts(cn_frame_t *f)
{
	bool any = false;
	for (unsigned i = 0; i < f->nns; i++)
		for (unsigned a = 0; a < f->ns[i].naddr; a++) {
			cn_ns_addr_t *ad = &f->ns[i].addr[a];
			if (ad->tried && ad->timeouts > 0 && ad->timeouts < CN_ADDR_TRIES) {
				ad->tried = false;
				any = true;
			}
		}
	return any;
}

void cn__zonecut_reset_tried(cn_frame_t *f)
{
	for (unsigned i = 0; i < f->nns; i++)
		for (unsigned a = 0; a < f->ns[i].naddr; a++)
			f->ns[i].addr[a].tried = false;
}

/* ------------------------------------------------------------------ last resort ----- */
/*
 * When a cut's server addresses run out (RFC 1034 5.3.3: SBELT; Unbound's "last resort"
 * and parent-side fallback in iterator.c): the parent's glue for NS names whose child-side
 * addresses all failed; the root hints for a cached root set without one usable address;
 * the parent zone asked again for a cached delegation whose in-zone glue expired. Every
 * query they lead to counts against the request's limits (upstream queries, referrals,
 * deadline) like any other, and a cut that still ends with nothing is remembered as
 * failing (RFC 9520) as before.
 */
bool cn__zonecut_parent_side(cn_request_t *r, cn_frame_t *f, uint64_t now_s)
{
	bool added = false;
	if (f->configured)
		return false; /* configured servers: no parent */
	for (unsigned i = 0; i < f->nns; i++) {
		cn_ns_entry_t *ns = &f->ns[i];
		if (ns->state == CN_NS_RESOLVING || ns->naddr >= CN_NS_ADDRS)
			continue;
		unsigned had = ns->naddr;
		addrs_from_cache(r, ns, ns->name, CN_CLASS_PARENT_GLUE, now_s);
		if (ns->naddr == had)
			continue;
		added = true;
		if (ns->state == CN_NS_FAILED && had == 0 && f->hopeless > 0)
			f->hopeless--;
		ns->state = CN_NS_KNOWN;
		char n[CN_DNAME_STR_MAX];
		cn__resolve_name_str(ns->name, n, sizeof(n));
		cn__resolve_note(r, "parent-side glue of %s tried", n);
	}
	return added;
}

/* Any address of the cut that may be asked (families, loopback policy)? */
static bool cut_has_usable_addr(const cn_request_t *r, const cn_frame_t *f)
{
	for (unsigned i = 0; i < f->nns; i++)
		for (unsigned a = 0; a < f->ns[i].naddr; a++) {
			struct sockaddr_storage ss;
			cn__zonecut_addr_ss(&f->ns[i].addr[a], &ss);
			if (cn__zonecut_family_ok(r->e, f, &ss))
				return true;
		}
	return false;
}

/* An NS name inside the zone it serves with no address: its glue is gone. */
static bool cut_lost_glue(const cn_frame_t *f)
{
	for (unsigned i = 0; i < f->nns; i++)
		if (f->ns[i].naddr == 0 && f->ns[i].state == CN_NS_FAILED &&
		    cn_dname_is_sub(f->ns[i].name, f->zone))
			return true;
	return false;
}

/* The parent of the cut, as the frame's cut, asked for the delegation (its zone name, or
 * the full question when that is the zone). */
static void reask_parent(cn_request_t *r, cn_frame_t *f, uint64_t now_s)
{
	uint8_t child[CN_DNAME_MAX];
	char n[CN_DNAME_STR_MAX];
	cn_dname_copy(child, f->zone);
	cn__resolve_name_str(child, n, sizeof(n));
	cn__resolve_note(r, "glue of %s gone: its parent asked again", n);
	int skip = cn_dname_labels(f->name) - cn_dname_labels(child) + 1;
	/* as find_cut does: below a stub zone, a cut cached strictly inside it or its
	 * configured servers, never the public tree above it */
	const cn_fwdzone_t *z = cn__zonecut_fwd_for(r->e, f);
	bool cached = cut_from_cache(r, f, skip, now_s);
	if (z && (!cached || !cn_dname_is_sub(f->zone, z->name) || cn_dname_eq(f->zone, z->name)))
		cn__zonecut_from_fwd(f, z);
	else if (!cached)
		cn__zonecut_from_hints(r, f);
	f->qmin_labels = cn_dname_labels(child);
}

bool cn__zonecut_last_resort(cn_request_t *r, cn_frame_t *f, uint64_t now_s)
{
	if (f->configured)
		return false; /* a forward or stub zone's configured servers: nothing beyond */
	if (f->zone[0] == 0) {
		if (f->from_hints || (f->resort & CN_RESORT_HINTS) || r->e->nhints == 0 ||
		    cut_has_usable_addr(r, f))
			return false;
		f->resort |= CN_RESORT_HINTS;
		cn__resolve_note(r, "no usable root server address: root hints used");
		cn__zonecut_from_hints(r, f);
		return true;
	}
	if (!f->cut_cached || (f->resort & CN_RESORT_PARENT) || !cut_lost_glue(f))
		return false;
	f->resort |= CN_RESORT_PARENT;
	reask_parent(r, f, now_s);
	return true;
}
