/*
 * Scrubbing: what of a reply may be believed and cached (A4, A6 in docs/attacks.md). Records
 * are taken one RRset at a time, by owner and type, only from the section a step expects
 * them in; a negative answer needs an SOA inside the zone cut that proves it; glue is
 * kept only for NS names inside the zone that was asked (RFC 2181 5.4.1). Whatever a
 * step did not ask for is never stored. The store functions say whether the client's
 * answer they are part of may itself be cached (not with a TTL of 0): the caller decides
 * whether that matters.
 */
#include <string.h>

#include "resolver/internal.h"

size_t cn__scrub_rrset(const cn_msg_t *m, cn_section_t sec, const uint8_t *owner,
		       uint16_t type, const cn_rr_t **set, size_t max)
{
	size_t from = sec == CN_SECTION_ANSWER ? 0 : sec == CN_SECTION_AUTHORITY ? m->an
										  : m->an + m->ns;
	size_t to = sec == CN_SECTION_ANSWER ? m->an : sec == CN_SECTION_AUTHORITY
							 ? m->an + m->ns : m->an + m->ns + m->ar;
	size_t n = 0;
	for (size_t i = from; i < to && n < max; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		if (rr->type == type && rr->rclass == CN_CLASS_IN && cn_dname_eq(rr->owner, owner)) {
			if (set)
				set[n] = rr;
			n++;
		}
	}
	return n;
}

const cn_rr_t *cn__scrub_soa(const cn_msg_t *m, const uint8_t *zone, const uint8_t *name)
{
	for (size_t i = m->an; i < m->an + m->ns; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		/* in-zone SOA only: its owner inside the cut, the name inside its zone (A6) */
		if (rr->type == CN_TYPE_SOA && rr->rclass == CN_CLASS_IN &&
		    cn_dname_is_sub(rr->owner, zone) && cn_dname_is_sub(name, rr->owner))
			return rr;
	}
	return NULL;
}

static uint32_t rrset_ttl(const cn_rr_t *const *set, size_t n)
{
	uint32_t ttl = UINT32_MAX;
	for (size_t i = 0; i < n; i++)
		if (set[i]->ttl < ttl)
			ttl = set[i]->ttl; /* RFC 2181 5.2: one TTL per RRset, take the lowest */
	return ttl == UINT32_MAX ? 0 : ttl;
}

static bool store_rrset(cn_request_t *r, const cn_rr_t *const *set, size_t n,
			uint16_t rclass, cn_rank_t rank, uint32_t ttl_cap, uint64_t now_s)
{
	if (n == 0 || n > r->e->conf.limits.rrset_records)
		return true; /* nothing to store (or too big to: C6), nothing against the answer */
	int len = cn__value_encode_rrset(set, n, r->scratch, CN_SCRATCH_LEN);
	if (len < 0)
		return true;
	uint32_t ttl = rrset_ttl(set, n);
	if (ttl > ttl_cap)
		ttl = ttl_cap;
	uint8_t key[CN_DNAME_MAX];
	size_t klen = cn_dname_copy(key, set[0]->owner);
	cn_cache_insert(r->e->cache, key, klen, set[0]->type, rclass, CN_CACHE_RRSET, rank,
			ttl, now_s, r->scratch, (size_t)len);
	return ttl != 0;
}

bool cn__scrub_store_rrset(cn_request_t *r, const cn_rr_t *const *set, size_t n,
			   cn_rank_t rank, uint32_t ttl_cap, uint64_t now_s)
{
	return store_rrset(r, set, n, CN_CLASS_IN, rank, ttl_cap, now_s);
}

/* The parent's glue, in its own slot (issue 11, Unbound's parent-side fallback): when the
 * child's authoritative addresses for its NS name (rank AUTH_ANSWER, which the glue cannot
 * replace) all fail, the parent's are tried. A private-use class (RFC 6895 3.2): no client
 * query reaches it, answers are never built from it. */
void cn__scrub_store_parent_glue(cn_request_t *r, const cn_rr_t *const *set, size_t n,
				 uint64_t now_s)
{
	(void)store_rrset(r, set, n, CN_CLASS_PARENT_GLUE, CN_RANK_ADDITIONAL, UINT32_MAX,
			  now_s);
}

/* RFC 2308 5: the TTL of a negative answer is the lower of the SOA's TTL and its MINIMUM
 * field. */
bool cn__scrub_store_negative(cn_request_t *r, const uint8_t *name, uint16_t type,
			      bool nxdomain, const cn_rr_t *soa, cn_rank_t rank, uint64_t now_s)
{
	uint32_t minimum;
	if (!soa || cn_rdata_soa_minimum(soa->rdata, soa->rdlen, &minimum) != 0)
		return false;
	uint32_t ttl = soa->ttl < minimum ? soa->ttl : minimum;
	int len = cn__value_encode_neg(soa, r->scratch, CN_SCRATCH_LEN);
	if (len < 0)
		return ttl != 0;
	cn_cache_insert(r->e->cache, name, cn_dname_len(name),
			nxdomain ? CN_CACHE_TYPE_NXDOMAIN : type, CN_CLASS_IN,
			nxdomain ? CN_CACHE_NXDOMAIN : CN_CACHE_NODATA, rank, ttl, now_s,
			r->scratch, (size_t)len);
	return ttl != 0;
}

/* Priming, or any NS answer: the addresses of the NS names come from ADDITIONAL, and only
 * for names inside the zone asked (an out-of-zone address there is anyone's claim). */
bool cn__scrub_store_glue(cn_request_t *r, const cn_frame_t *f, const cn_msg_t *m,
			  const cn_rr_t *const *ns, size_t n, uint64_t now_s)
{
	static const uint16_t types[2] = { CN_TYPE_A, CN_TYPE_AAAA };
	bool cacheable = true;
	for (size_t i = 0; i < n; i++) {
		if (cn_dname_check(ns[i]->rdata, ns[i]->rdlen) <= 0 ||
		    !cn_dname_is_sub(ns[i]->rdata, f->zone))
			continue;
		for (int t = 0; t < 2; t++) {
			const cn_rr_t *glue[CN_NS_ADDRS * 4];
			size_t g = cn__scrub_rrset(m, CN_SECTION_ADDITIONAL, ns[i]->rdata, types[t],
						   glue, CN_NS_ADDRS * 4);
			cacheable &= cn__scrub_store_rrset(r, glue, g, CN_RANK_ADDITIONAL,
							   UINT32_MAX, now_s);
		}
	}
	return cacheable;
}
