/*
 * Aggressive use of DNSSEC-validated cache (RFC 8198), for NSEC zones: the NSEC records
 * that proved a negative answer secure also prove that every other name in their ranges
 * does not exist, so a random-subdomain flood against a signed zone is answered from the
 * cache instead of reaching its servers.
 *
 * What is kept: per zone, one cache entry under a private-use class (CN_CLASS_NSEC_RANGES,
 * key (zone, NSEC)): an RRSET value without records whose DNSSEC trailer (answer.c) holds
 * the zone's SOA and the validated NSEC records, each with its RRSIGs. It lives in the cache
 * like any entry (its bytes count in the budget, eviction may take it) for the least TTL
 * of what it holds (RFC 8198 5.4: the NSEC TTL, the SOA TTL and its MINIMUM, the RRSIGs'
 * validity). Only validated records are added (validate.c after a secure NSEC denial).
 *
 * On a cache miss, cn__aggressive_answer looks for the entry of the closest enclosing zone
 * and asks the same proofs validation uses (nsec.c) whether the name is denied: NXDOMAIN
 * (a cover of the name and of the wildcard at its closest encloser) or NODATA (a matching
 * NSEC without the type). The answer is secure: AD for DO/AD clients, the SOA and the
 * NSEC records with RRSIGs for DO clients. NSEC3 zones are not synthesised from (yet).
 */
#include <string.h>

#include "resolver/dnssec.h"
#include "resolver/internal.h"

#define RANGES_MAX 240 /* records (SOA, NSECs, RRSIGs) one zone's entry keeps */

/* The zone's entry into x (owner/RDATA pointing into buf): its record count, or 0. */
static size_t read_ranges(cn_cache_t *cache, const uint8_t *zone, uint64_t now_s, uint8_t *buf,
			  size_t cap, cn_rr_t *x, uint32_t *ttl_left)
{
	cn_cache_entry_t ent;
	if (cn_cache_lookup(cache, zone, cn_dname_len(zone), CN_TYPE_NSEC, CN_CLASS_NSEC_RANGES,
			    now_s, CN_LOOKUP_PEEK, &ent, buf, cap) != 0 ||
	    ent.kind != CN_CACHE_RRSET)
		return 0;
	size_t body, nx;
	uint8_t state;
	if (cn__value_body_len(buf, ent.data_len, true, &body) != 0 ||
	    cn__value_trailer(buf, ent.data_len, body, &state, x, RANGES_MAX, &nx) != 0 ||
	    state != CN_DNSSEC_STATE_SECURE)
		return 0;
	for (size_t i = 0; i < nx; i++)
		x[i].ttl = ent.ttl_left_s;
	*ttl_left = ent.ttl_left_s;
	return nx;
}

static bool sig_over(const cn_rr_t *rr, uint16_t type, const uint8_t *owner)
{
	return rr->type == CN_TYPE_RRSIG && rr->rdlen >= 2 && cn_wire_get16(rr->rdata) == type &&
	       cn_dname_eq(rr->owner, owner);
}

void cn__aggressive_learn(cn_request_t *r, const uint8_t *zone, const cn_rr_t *soa,
			  const cn_rr_t *nsec, size_t nnsec, uint32_t ttl, uint64_t now_s)
{
	if (!__atomic_load_n(&r->e->conf.dnssec.aggressive_nsec, __ATOMIC_RELAXED) || !soa ||
	    ttl == 0)
		return;
	static _Thread_local cn_rr_t old[RANGES_MAX];
	static _Thread_local uint8_t oldbuf[CN_VALUE_MAX];
	const cn_rr_t *keep[RANGES_MAX];
	uint32_t left = 0;
	size_t nold = read_ranges(r->cache, zone, now_s, oldbuf, sizeof(oldbuf), old, &left);
	if (nold && left < ttl)
		ttl = left;
	size_t n = 0;
	/* the SOA and its RRSIGs (the new ones), then the new NSECs with theirs */
	const cn_result_t *res = &r->result;
	keep[n++] = soa;
	for (size_t i = 0; i < res->nsec && n < RANGES_MAX; i++)
		if (res->sec[i].section == CN_SECTION_AUTHORITY && sig_over(&res->sec[i], CN_TYPE_SOA,
									    soa->owner))
			keep[n++] = &res->sec[i];
	for (size_t k = 0; k < nnsec && n < RANGES_MAX; k++) {
		keep[n++] = &nsec[k];
		for (size_t i = 0; i < res->nsec && n < RANGES_MAX; i++)
			if (res->sec[i].section == CN_SECTION_AUTHORITY &&
			    sig_over(&res->sec[i], CN_TYPE_NSEC, nsec[k].owner))
				keep[n++] = &res->sec[i];
	}
	/* the NSECs known before, and their RRSIGs, unless replaced (newest first, so a full
	 * entry drops the oldest ranges) */
	for (size_t i = 0; i < nold && n < RANGES_MAX; i++) {
		const cn_rr_t *o = &old[i];
		uint16_t t = o->type == CN_TYPE_RRSIG && o->rdlen >= 2 ? cn_wire_get16(o->rdata)
								     : o->type;
		if (t != CN_TYPE_NSEC)
			continue; /* the old SOA and its RRSIGs: replaced */
		bool dup = false;
		for (size_t k = 0; k < nnsec && !dup; k++)
			dup = cn_dname_eq(o->owner, nsec[k].owner);
		if (!dup)
			keep[n++] = o;
	}
	uint8_t *out = r->scratch;
	cn_wire_put16(out, 0);
	size_t len;
	if (cn__value_add_trailer(out, 2, CN_SCRATCH_LEN, CN_DNSSEC_STATE_SECURE, keep, n, &len) != 0)
		return;
	uint8_t key[CN_DNAME_MAX];
	size_t klen = cn_dname_copy(key, zone);
	cn_cache_insert(r->cache, key, klen, CN_TYPE_NSEC, CN_CLASS_NSEC_RANGES, CN_CACHE_RRSET,
			CN_RANK_ADDITIONAL, ttl, now_s, out, len);
}

/* Records of x for the reply: the SOA's RRSIGs and the NSECs (with RRSIGs) whose owner is
 * in keep[]. */
static void pick(const cn_rr_t *x, size_t nx, const uint8_t *const *owners, size_t nown,
		 cn_result_t *res)
{
	for (size_t i = 0; i < nx && res->nsec < res->sec_cap; i++) {
		const cn_rr_t *rr = &x[i];
		bool soa_sig = rr->type == CN_TYPE_RRSIG && rr->rdlen >= 2 &&
			       cn_wire_get16(rr->rdata) == CN_TYPE_SOA;
		bool want = soa_sig;
		for (size_t k = 0; !want && k < nown; k++)
			want = owners[k] && cn_dname_eq(rr->owner, owners[k]) &&
			       (rr->type == CN_TYPE_NSEC || sig_over(rr, CN_TYPE_NSEC, rr->owner));
		if (want)
			res->sec[res->nsec++] = *rr;
	}
}

/* The owner of the NSEC among x that covers or matches name, or NULL. */
static const uint8_t *nsec_for(const cn_rr_t *x, size_t nx, const uint8_t *name)
{
	for (size_t i = 0; i < nx; i++) {
		cn_nsec_t n;
		if (x[i].type != CN_TYPE_NSEC ||
		    cn_dnssec_parse_nsec(x[i].rdata, x[i].rdlen, &n) != 0)
			continue;
		if (cn_dname_eq(x[i].owner, name) || cn_nsec_covers(x[i].owner, &n, name))
			return x[i].owner;
	}
	return NULL;
}

bool cn__aggressive_answer(cn_cache_t *cache, const cn_question_t *q, uint64_t now_s,
			   uint8_t *buf, size_t cap, cn_result_t *res)
{
	static _Thread_local cn_rr_t x[RANGES_MAX];
	uint8_t qname[CN_DNAME_MAX];
	cn_dname_copy(qname, q->qname);
	cn_dname_lower(qname);
	int labels = cn_dname_labels(qname);
	for (int i = 0; i <= labels; i++) {
		const uint8_t *zone = cn_dname_skip(qname, i);
		uint32_t left;
		size_t nx = read_ranges(cache, zone, now_s, buf, cap, x, &left);
		if (nx == 0 || x[0].type != CN_TYPE_SOA)
			continue;
		uint8_t ce[CN_DNAME_MAX], wc[CN_DNAME_MAX + 2];
		bool nxd = cn_nsec_prove_nxdomain(x, nx, qname, zone, ce) == CN_DNSSEC_SECURE;
		if (!nxd && cn_nsec_prove_nodata(x, nx, qname, q->qtype, zone) != CN_DNSSEC_SECURE)
			return false; /* the closest zone with ranges does not deny it */
		res->rcode = nxd ? CN_RCODE_NXDOMAIN : CN_RCODE_NOERROR;
		res->nan = 0;
		res->has_soa = true;
		res->soa = x[0];
		uint32_t minimum;
		if (cn_rdata_soa_minimum(x[0].rdata, x[0].rdlen, &minimum) == 0 &&
		    minimum < res->soa.ttl)
			res->soa.ttl = minimum;
		const uint8_t *owners[2] = { nsec_for(x, nx, qname), NULL };
		if (nxd) {
			wc[0] = 1, wc[1] = '*';
			cn_dname_copy(wc + 2, ce);
			owners[1] = nsec_for(x, nx, wc);
		}
		pick(x, nx, owners, 2, res);
		res->dnssec = CN_DNSSEC_STATE_SECURE;
		return true;
	}
	return false;
}
