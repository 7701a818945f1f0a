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

/* Types whose RDATA is one name: compared without case (RFC 4034 6.2). */
static bool name_rdata(uint16_t type)
{
	return type == CN_TYPE_NS || type == CN_TYPE_CNAME || type == CN_TYPE_DNAME ||
	       type == CN_TYPE_PTR;
}

/* Are a and b (same owner, type and class) the same record? RFC 2181 5: an RRset holds
 * each record once. Names in RDATA compare without case for the types whose RDATA is one
 * name; other RDATA byte for byte. */
static bool same_rdata(const cn_rr_t *a, const cn_rr_t *b)
{
	if (a->rdlen != b->rdlen)
		return false;
	if (name_rdata(a->type) && cn_dname_check(a->rdata, a->rdlen) == (int)a->rdlen &&
	    cn_dname_check(b->rdata, b->rdlen) == (int)b->rdlen)
		return cn_dname_eq(a->rdata, b->rdata);
	return memcmp(a->rdata, b->rdata, a->rdlen) == 0;
}

bool cn__scrub_same_rr(const cn_rr_t *a, const cn_rr_t *b)
{
	return a->type == b->type && a->rclass == b->rclass && cn_dname_eq(a->owner, b->owner) &&
	       same_rdata(a, b);
}

/* Large sets find their duplicates through a hash table of indices into set (open
 * addressing, at most half full), so a hostile RRset of hundreds of records costs O(n)
 * compares, not O(n^2). Small sets are scanned. */
#define DUP_SCAN 16     /* up to this many records: a plain scan */
#define DUP_SLOTS 2048  /* a power of two; a hashed set holds at most DUP_SLOTS / 2 */
_Static_assert(CN_ANSWER_MAX_RRS <= DUP_SLOTS / 2, "an answer's RRset fits the table");

static uint32_t rdata_hash(const cn_rr_t *rr)
{
	bool fold = name_rdata(rr->type); /* length octets (< 64) are no letters */
	uint32_t h = 2166136261u;         /* FNV-1a */
	for (size_t i = 0; i < rr->rdlen; i++)
		h = (h ^ (fold ? cn_ascii_lower(rr->rdata[i]) : rr->rdata[i])) * 16777619u;
	return h;
}

/* Is rr equal to one of set[0..n)? If not, slots (when given) learns it as set[n]. */
static bool seen(const cn_rr_t **set, size_t n, const cn_rr_t *rr, uint16_t *slots)
{
	if (!slots) {
		for (size_t k = 0; k < n; k++)
			if (same_rdata(set[k], rr))
				return true;
		return false;
	}
	for (uint32_t i = rdata_hash(rr);; i++) {
		uint16_t *slot = &slots[i & (DUP_SLOTS - 1)];
		if (*slot == UINT16_MAX) {
			*slot = (uint16_t)n;
			return false;
		}
		if (same_rdata(set[*slot], rr))
			return true;
	}
}

/* Gathering into set drops records equal to one already gathered (RFC 2181 5: two equal
 * CNAME records are one CNAME); counting (set NULL) counts every record, so the RRset size
 * limit (C6) sees what the server sent. */
size_t cn__scrub_rrset(const cn_msg_t *m, cn_section_t sec, const uint8_t *owner,
		       uint16_t type, const cn_rr_t **set, size_t max)
{
	size_t from = sec == CN_SECTION_ANSWER ? 0 : sec == CN_SECTION_AUTHORITY ? m->an
										  : m->an + m->ns;
	size_t to = sec == CN_SECTION_ANSWER ? m->an : sec == CN_SECTION_AUTHORITY
							 ? m->an + m->ns : m->an + m->ns + m->ar;
	uint16_t table[DUP_SLOTS], *slots = NULL;
	if (set && max > DUP_SCAN) {
		memset(table, 0xff, sizeof(table));
		slots = table;
		if (max > DUP_SLOTS / 2)
			max = DUP_SLOTS / 2; /* more than any RRset cairn keeps (CN_ANSWER_MAX_RRS) */
	}
	size_t n = 0;
	for (size_t i = from; i < to && n < max; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		if (rr->type != type || rr->rclass != CN_CLASS_IN || !cn_dname_eq(rr->owner, owner))
			continue;
		if (set) {
			if (seen(set, n, rr, slots))
				continue; /* a duplicate */
			set[n] = rr;
		}
		n++;
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

size_t cn__scrub_dnssec(const cn_msg_t *m, cn_section_t sec, const uint8_t *owner,
			uint16_t type, const uint8_t *zone, const cn_rr_t **out, size_t max)
{
	size_t from = sec == CN_SECTION_ANSWER ? 0 : m->an;
	size_t to = sec == CN_SECTION_ANSWER ? m->an : m->an + m->ns;
	size_t n = 0;
	for (size_t i = from; i < to && n < max; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		if (rr->rclass != CN_CLASS_IN)
			continue;
		if (owner) { /* the RRSIGs over (owner, type) */
			if (rr->type == CN_TYPE_RRSIG && rr->rdlen >= 2 &&
			    cn_wire_get16(rr->rdata) == type && cn_dname_eq(rr->owner, owner))
				out[n++] = rr;
			continue;
		}
		/* a denial's records, inside the zone that was asked */
		uint16_t covered = rr->type == CN_TYPE_RRSIG && rr->rdlen >= 2
					   ? cn_wire_get16(rr->rdata) : 0;
		bool proof = rr->type == CN_TYPE_NSEC || rr->type == CN_TYPE_NSEC3 ||
			     covered == CN_TYPE_NSEC || covered == CN_TYPE_NSEC3 ||
			     covered == CN_TYPE_SOA;
		if (proof && cn_dname_is_sub(rr->owner, zone))
			out[n++] = rr;
	}
	return n;
}

static bool store_rrset(cn_request_t *r, const cn_rr_t *const *set, size_t n,
			uint16_t rclass, cn_rank_t rank, uint32_t ttl_cap, uint64_t now_s,
			const cn_rr_t *const *x, size_t nx, uint8_t state)
{
	if (n == 0 || n > r->e->conf.limits.rrset_records)
		return true; /* nothing to store (or too big to: C6), nothing against the answer */
	int len = cn__value_encode_rrset(set, n, r->scratch, CN_SCRATCH_LEN);
	if (len < 0)
		return true;
	size_t vlen;
	(void)cn__value_add_trailer(r->scratch, (size_t)len, CN_SCRATCH_LEN, state, x, nx, &vlen);
	len = (int)vlen;
	uint32_t ttl = rrset_ttl(set, n);
	if (ttl > ttl_cap)
		ttl = ttl_cap;
	uint8_t key[CN_DNAME_MAX];
	size_t klen = cn_dname_copy(key, set[0]->owner);
	cn_cache_insert(r->cache, key, klen, set[0]->type, rclass, CN_CACHE_RRSET, rank,
			ttl, now_s, r->scratch, (size_t)len);
	return ttl != 0;
}

bool cn__scrub_store_rrset(cn_request_t *r, const cn_rr_t *const *set, size_t n,
			   cn_rank_t rank, uint32_t ttl_cap, uint64_t now_s)
{
	return store_rrset(r, set, n, CN_CLASS_IN, rank, ttl_cap, now_s, NULL, 0, 0);
}

bool cn__scrub_store_rrset_sec(cn_request_t *r, const cn_rr_t *const *set, size_t n,
			       const cn_rr_t *const *x, size_t nx, uint8_t state,
			       cn_rank_t rank, uint32_t ttl_cap, uint64_t now_s)
{
	return store_rrset(r, set, n, CN_CLASS_IN, rank, ttl_cap, now_s, x, nx, state);
}

/* The parent's glue, in its own slot (issue 11, Unbound's parent-side fallback): when the
 * child's authoritative addresses for its NS name (rank AUTH_ANSWER, which the glue cannot
 * replace) all fail, the parent's are tried. A private-use class (RFC 6895 3.2): no client
 * query reaches it, answers are never built from it. */
void cn__scrub_store_parent_glue(cn_request_t *r, const cn_rr_t *const *set, size_t n,
				 uint64_t now_s)
{
	(void)store_rrset(r, set, n, CN_CLASS_PARENT_GLUE, CN_RANK_ADDITIONAL, UINT32_MAX,
			  now_s, NULL, 0, 0);
}

/* RFC 2308 5: the TTL of a negative answer is the lower of the SOA's TTL and its MINIMUM
 * field. */
bool cn__scrub_store_negative(cn_request_t *r, const uint8_t *name, uint16_t type,
			      bool nxdomain, const cn_rr_t *soa, cn_rank_t rank, uint64_t now_s)
{
	return cn__scrub_store_negative_sec(r, name, type, nxdomain, soa, NULL, 0, 0, UINT32_MAX,
					    rank, now_s);
}

bool cn__scrub_store_negative_sec(cn_request_t *r, const uint8_t *name, uint16_t type,
				  bool nxdomain, const cn_rr_t *soa, const cn_rr_t *const *x,
				  size_t nx, uint8_t state, uint32_t ttl_cap, cn_rank_t rank,
				  uint64_t now_s)
{
	uint32_t minimum, ttl;
	if (!soa) {
		/* a denial without SOA: a referral's proof that the child has no DS (RFC 4035
		 * 3.1.4), kept for its NSEC records' TTL (ttl_cap) */
		if (!nx || ttl_cap == UINT32_MAX)
			return false;
		ttl = ttl_cap;
	} else if (cn_rdata_soa_minimum(soa->rdata, soa->rdlen, &minimum) != 0) {
		return false;
	} else {
		ttl = soa->ttl < minimum ? soa->ttl : minimum;
	}
	if (ttl > ttl_cap)
		ttl = ttl_cap;
	int len = cn__value_encode_neg(soa, r->scratch, CN_SCRATCH_LEN);
	if (len < 0)
		return ttl != 0;
	size_t vlen;
	(void)cn__value_add_trailer(r->scratch, (size_t)len, CN_SCRATCH_LEN, state, x, nx, &vlen);
	len = (int)vlen;
	cn_cache_insert(r->cache, name, cn_dname_len(name),
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
