/*
 * Authenticated denial of existence: NSEC proofs (RFC 4035 5.4, RFC 6840 4.1-4.4) and NSEC3
 * proofs (RFC 5155 8) of NXDOMAIN, NODATA, wildcard expansion and insecure delegations.
 * The records handed in are already validated; these functions only reason about names,
 * hashes and type bit maps. NSEC3 hashing is bounded by the budget (CVE-2023-50868: a
 * closest-encloser proof for a long name costs one hash per label) and by the RFC 9276
 * iteration caps.
 */
#include <string.h>

#include "resolver/dnssec.h"
#include "resolver/errors.h"

/* Number of rightmost labels a and b share (case-insensitive). */
static int common_labels(const uint8_t *a, const uint8_t *b)
{
	int la = cn_dname_labels(a), lb = cn_dname_labels(b);
	for (int k = la < lb ? la : lb; k > 0; k--)
		if (cn_dname_eq(cn_dname_skip(a, la - k), cn_dname_skip(b, lb - k)))
			return k;
	return 0;
}

/* "*." + name into out; its length, or 0 when it would be too long. */
static size_t wildcard_of(const uint8_t *name, uint8_t *out)
{
	size_t len = cn_dname_len(name);
	if (len + 2 > CN_DNAME_MAX)
		return 0;
	out[0] = 1;
	out[1] = '*';
	memcpy(out + 2, name, len);
	return len + 2;
}

/* The ancestor of name with keep labels (keep <= labels(name)). */
static const uint8_t *ancestor(const uint8_t *name, int keep)
{
	return cn_dname_skip(name, cn_dname_labels(name) - keep);
}

/* ------------------------------------------------------------------------------------ */
/* NSEC */

bool cn_nsec_covers(const uint8_t *owner, const cn_nsec_t *nsec, const uint8_t *name)
{
	/* owner < name < next; the zone's last NSEC (next <= owner, next is the apex) covers
	 * every name after its owner */
	if (cn_dname_cmp(owner, name) >= 0)
		return false;
	return cn_dname_cmp(name, nsec->next) < 0 || cn_dname_cmp(nsec->next, owner) <= 0;
}

/* The NSEC record i as a usable denial for names below or at zone. */
static bool nsec_at(const cn_rr_t *rr, const uint8_t *zone, cn_nsec_t *out)
{
	return rr->type == CN_TYPE_NSEC && (!zone || cn_dname_is_sub(rr->owner, zone)) &&
	       cn_dnssec_parse_nsec(rr->rdata, rr->rdlen, out) == 0;
}

/* Whether an NSEC may deny names below its owner: not at a delegation (NS without SOA:
 * the parent is not authoritative below it) nor at a DNAME (RFC 6840 4.1). */
static bool may_deny_below(const cn_nsec_t *n)
{
	bool ns = cn_dnssec_bitmap_has(n->bitmap, n->bitmap_len, CN_TYPE_NS);
	bool soa = cn_dnssec_bitmap_has(n->bitmap, n->bitmap_len, CN_TYPE_SOA);
	return !(ns && !soa) && !cn_dnssec_bitmap_has(n->bitmap, n->bitmap_len, CN_TYPE_DNAME);
}

/* An NSEC in rrs covering name; its owner and the NSEC in *nsec. */
static const cn_rr_t *find_cover(const cn_rr_t *rrs, size_t n, const uint8_t *name,
				 const uint8_t *zone, cn_nsec_t *nsec)
{
	for (size_t i = 0; i < n; i++) {
		if (!nsec_at(&rrs[i], zone, nsec) || !cn_nsec_covers(rrs[i].owner, nsec, name))
			continue;
		if (cn_dname_is_sub(name, rrs[i].owner) && !may_deny_below(nsec))
			continue;
		return &rrs[i];
	}
	return NULL;
}

static const cn_rr_t *find_match(const cn_rr_t *rrs, size_t n, const uint8_t *name,
				 const uint8_t *zone, cn_nsec_t *nsec)
{
	for (size_t i = 0; i < n; i++)
		if (nsec_at(&rrs[i], zone, nsec) && cn_dname_eq(rrs[i].owner, name))
			return &rrs[i];
	return NULL;
}

/* Closest encloser of name given the NSEC covering it (RFC 4035 5.4: the longest of the
 * common ancestors of name with the NSEC's owner and with its next name). */
static const uint8_t *nsec_ce(const uint8_t *name, const cn_rr_t *rr, const cn_nsec_t *nsec)
{
	int a = common_labels(name, rr->owner), b = common_labels(name, nsec->next);
	return ancestor(name, a > b ? a : b);
}

cn_dnssec_result_t cn_nsec_prove_nxdomain(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					  const uint8_t *zone, uint8_t *ce_out)
{
	if (!cn_dname_is_sub(qname, zone))
		return CN_DNSSEC_NSEC_MISSING; /* a zone cannot deny names outside it */
	cn_nsec_t nsec;
	const cn_rr_t *cover = find_cover(rrs, n, qname, zone, &nsec);
	if (!cover)
		return CN_DNSSEC_NSEC_MISSING;
	const uint8_t *ce = nsec_ce(qname, cover, &nsec);
	if (!cn_dname_is_sub(ce, zone))
		return CN_DNSSEC_NSEC_MISSING;
	uint8_t wc[CN_DNAME_MAX];
	if (!wildcard_of(ce, wc) || !find_cover(rrs, n, wc, zone, &nsec))
		return CN_DNSSEC_NSEC_MISSING;
	if (ce_out)
		cn_dname_copy(ce_out, ce);
	return CN_DNSSEC_SECURE;
}

/* What a matching NSEC or NSEC3 type bitmap denies (RFC 4035 5.4, RFC 5155 8.5, RFC 6840
 * 4.3 and 4.4): no qtype and no CNAME; at a delegation (NS without SOA) nothing but DS, and
 * DS not from a child's apex (SOA) unless ds_at_apex (the root's own, or the zone's apex). */
static bool bitmap_denies(const uint8_t *bm, uint16_t len, uint16_t qtype, bool ds_at_apex)
{
	if (cn_dnssec_bitmap_has(bm, len, qtype) || cn_dnssec_bitmap_has(bm, len, CN_TYPE_CNAME))
		return false;
	bool ns = cn_dnssec_bitmap_has(bm, len, CN_TYPE_NS);
	bool soa = cn_dnssec_bitmap_has(bm, len, CN_TYPE_SOA);
	if (qtype == CN_TYPE_DS)
		return !soa || ds_at_apex;
	return !(ns && !soa);
}

/* A matching NSEC proves no qtype at its owner. */
static bool nsec_no_type(const cn_nsec_t *m, uint16_t qtype, const uint8_t *owner)
{
	return bitmap_denies(m->bitmap, m->bitmap_len, qtype, owner[0] == 0);
}

cn_dnssec_result_t cn_nsec_prove_nodata(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					uint16_t qtype, const uint8_t *zone)
{
	if (!cn_dname_is_sub(qname, zone))
		return CN_DNSSEC_NSEC_MISSING;
	cn_nsec_t nsec;
	const cn_rr_t *m = find_match(rrs, n, qname, zone, &nsec);
	if (m)
		return nsec_no_type(&nsec, qtype, m->owner) ? CN_DNSSEC_SECURE
							    : CN_DNSSEC_NSEC_MISSING;
	const cn_rr_t *cover = find_cover(rrs, n, qname, zone, &nsec);
	if (!cover)
		return CN_DNSSEC_NSEC_MISSING;
	/* an empty non-terminal: the next name lies below qname */
	if (cn_dname_is_sub(nsec.next, qname) && !cn_dname_eq(nsec.next, qname))
		return CN_DNSSEC_SECURE;
	/* wildcard NODATA: qname covered, and the wildcard at its closest encloser matched */
	const uint8_t *ce = nsec_ce(qname, cover, &nsec);
	uint8_t wc[CN_DNAME_MAX];
	if (!cn_dname_is_sub(ce, zone) || !wildcard_of(ce, wc))
		return CN_DNSSEC_NSEC_MISSING;
	m = find_match(rrs, n, wc, zone, &nsec);
	return m && nsec_no_type(&nsec, qtype, m->owner) ? CN_DNSSEC_SECURE
							 : CN_DNSSEC_NSEC_MISSING;
}

cn_dnssec_result_t cn_nsec_prove_wildcard(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					  uint8_t sig_labels)
{
	/* The next closer name (one label below the source's parent) must not exist, which
	 * proves that qname, at or below it, does not either (RFC 4035 5.3.4). */
	int ql = cn_dname_labels(qname);
	if (sig_labels >= ql)
		return CN_DNSSEC_NSEC_MISSING;
	const uint8_t *nc = ancestor(qname, sig_labels + 1);
	cn_nsec_t nsec;
	return find_cover(rrs, n, nc, NULL, &nsec) ? CN_DNSSEC_SECURE : CN_DNSSEC_NSEC_MISSING;
}

cn_dnssec_result_t cn_nsec_prove_no_ds(const cn_rr_t *rrs, size_t n, const uint8_t *child)
{
	cn_nsec_t nsec;
	if (!find_match(rrs, n, child, NULL, &nsec))
		return CN_DNSSEC_NSEC_MISSING;
	const uint8_t *bm = nsec.bitmap;
	uint16_t len = nsec.bitmap_len;
	if (cn_dnssec_bitmap_has(bm, len, CN_TYPE_NS) && !cn_dnssec_bitmap_has(bm, len, CN_TYPE_DS) &&
	    !cn_dnssec_bitmap_has(bm, len, CN_TYPE_SOA))
		return CN_DNSSEC_INSECURE;
	return CN_DNSSEC_NSEC_MISSING;
}

/* ------------------------------------------------------------------------------------ */
/* NSEC3 */

int cn_nsec3_owner_hash(const uint8_t *owner, uint8_t *out)
{
	/* base32hex (RFC 4648 7): 8 characters give 5 octets; a SHA-1 hash is 32 characters */
	size_t len = owner[0];
	if (len == 0 || len > 32 || len % 8)
		return -1;
	uint64_t acc = 0;
	int bits = 0, o = 0;
	for (size_t i = 1; i <= len; i++) {
		uint8_t c = owner[i];
		int v = c >= '0' && c <= '9' ? c - '0'
			: (c | 0x20) >= 'a' && (c | 0x20) <= 'v' ? (c | 0x20) - 'a' + 10
								 : -1;
		if (v < 0)
			return -1;
		acc = acc << 5 | (uint64_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

bool cn_nsec3_covers(const uint8_t *owner_hash, const cn_nsec3_t *nsec3, const uint8_t *hash)
{
	size_t l = nsec3->hash_len;
	int on = memcmp(owner_hash, hash, l), hn = memcmp(hash, nsec3->next_hash, l);
	if (memcmp(owner_hash, nsec3->next_hash, l) < 0)
		return on < 0 && hn < 0;
	return on < 0 || hn < 0; /* the last NSEC3 of the chain wraps around */
}

typedef struct n3 {
	const cn_rr_t *rrs;
	size_t n;
	const uint8_t *zone;
	cn_dnssec_budget_t *b;
	const cn_nsec3_t *params; /* of the first usable record */
	cn_nsec3_t first;
	bool have;
} n3_t;

/* NSEC3 record rr usable for zone with the chain's parameters (RFC 5155 8.1, 8.2). */
static bool n3_usable(n3_t *c, const cn_rr_t *rr, cn_nsec3_t *out, uint8_t *hash)
{
	if (rr->type != CN_TYPE_NSEC3 || cn_dname_labels(rr->owner) != cn_dname_labels(c->zone) + 1 ||
	    !cn_dname_is_sub(rr->owner, c->zone) ||
	    cn_dnssec_parse_nsec3(rr->rdata, rr->rdlen, out) ||
	    out->hash_alg != CN_NSEC3_HASH_SHA1 || (out->flags & ~CN_NSEC3_FLAG_OPTOUT) ||
	    out->hash_len != CN_NSEC3_HASH_LEN ||
	    cn_nsec3_owner_hash(rr->owner, hash) != CN_NSEC3_HASH_LEN)
		return false;
	if (!c->have) {
		c->first = *out;
		c->have = true;
	}
	return out->iterations == c->first.iterations && out->salt_len == c->first.salt_len &&
	       !memcmp(out->salt, c->first.salt, out->salt_len);
}

/* Set up the chain's parameters; SECURE to go on, or the iteration verdict. */
static cn_dnssec_result_t n3_init(n3_t *c, const cn_rr_t *rrs, size_t n, const uint8_t *zone,
				  const uint8_t *qname, cn_dnssec_budget_t *b)
{
	memset(c, 0, sizeof(*c));
	if (!cn_dname_is_sub(qname, zone))
		return CN_DNSSEC_NSEC_MISSING; /* before any hashing: names outside the zone */
	c->rrs = rrs;
	c->n = n;
	c->zone = zone;
	c->b = b;
	cn_nsec3_t tmp;
	uint8_t h[CN_NSEC3_HASH_LEN];
	for (size_t i = 0; i < n && !c->have; i++)
		n3_usable(c, &rrs[i], &tmp, h);
	if (!c->have)
		return CN_DNSSEC_NSEC_MISSING;
	if (c->first.iterations > b->nsec3_iter_bogus)
		return CN_DNSSEC_BOGUS;
	if (c->first.iterations > b->nsec3_iter_insecure)
		return CN_DNSSEC_NSEC3_ITERATIONS;
	return CN_DNSSEC_SECURE;
}

static cn_dnssec_result_t n3_hash(n3_t *c, const uint8_t *name, uint8_t *out)
{
	if (c->b->hash_left == 0)
		return CN_DNSSEC_BUDGET;
	c->b->hash_left--;
	c->b->hashes_done++;
	if (cn_nsec3_hash(name, c->first.hash_alg, c->first.salt, c->first.salt_len,
			  c->first.iterations, out))
		return CN_DNSSEC_BOGUS;
	return CN_DNSSEC_SECURE;
}

/* The usable NSEC3 matching (cover false) or covering (cover true) hash, or NULL. */
static const cn_rr_t *n3_find(n3_t *c, const uint8_t *hash, bool cover, cn_nsec3_t *out)
{
	uint8_t oh[CN_NSEC3_HASH_LEN];
	for (size_t i = 0; i < c->n; i++) {
		if (!n3_usable(c, &c->rrs[i], out, oh))
			continue;
		if (cover ? cn_nsec3_covers(oh, out, hash) : !memcmp(oh, hash, CN_NSEC3_HASH_LEN))
			return &c->rrs[i];
	}
	return NULL;
}

/* The closest encloser proof (RFC 5155 8.3). On SECURE: *ce_labels the closest encloser's
 * label count, *optout whether the NSEC3 covering the next closer name has opt-out. */
static cn_dnssec_result_t n3_closest_encloser(n3_t *c, const uint8_t *qname, int *ce_labels,
					      bool *optout)
{
	int zl = cn_dname_labels(c->zone);
	uint8_t h[CN_NSEC3_HASH_LEN];
	cn_nsec3_t m;
	for (int k = cn_dname_labels(qname); k >= zl; k--) {
		cn_dnssec_result_t r = n3_hash(c, ancestor(qname, k), h);
		if (r != CN_DNSSEC_SECURE)
			return r;
		if (!n3_find(c, h, false, &m))
			continue;
		/* an encloser at a delegation or DNAME cannot prove anything below it */
		bool ns = cn_dnssec_bitmap_has(m.bitmap, m.bitmap_len, CN_TYPE_NS);
		bool soa = cn_dnssec_bitmap_has(m.bitmap, m.bitmap_len, CN_TYPE_SOA);
		if ((ns && !soa) || cn_dnssec_bitmap_has(m.bitmap, m.bitmap_len, CN_TYPE_DNAME))
			return CN_DNSSEC_NSEC_MISSING;
		if (k == cn_dname_labels(qname))
			return CN_DNSSEC_NSEC_MISSING; /* qname exists: no encloser proof */
		r = n3_hash(c, ancestor(qname, k + 1), h);
		if (r != CN_DNSSEC_SECURE)
			return r;
		if (!n3_find(c, h, true, &m))
			return CN_DNSSEC_NSEC_MISSING;
		*ce_labels = k;
		*optout = m.flags & CN_NSEC3_FLAG_OPTOUT;
		return CN_DNSSEC_SECURE;
	}
	return CN_DNSSEC_NSEC_MISSING;
}

cn_dnssec_result_t cn_nsec3_prove_nxdomain(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					   const uint8_t *zone, cn_dnssec_budget_t *budget)
{
	n3_t c;
	cn_dnssec_result_t r = n3_init(&c, rrs, n, zone, qname, budget);
	int ce;
	bool optout;
	if (r == CN_DNSSEC_SECURE)
		r = n3_closest_encloser(&c, qname, &ce, &optout);
	if (r != CN_DNSSEC_SECURE)
		return r;
	uint8_t wc[CN_DNAME_MAX], h[CN_NSEC3_HASH_LEN];
	cn_nsec3_t m;
	if (!wildcard_of(ancestor(qname, ce), wc))
		return CN_DNSSEC_NSEC_MISSING;
	if ((r = n3_hash(&c, wc, h)) != CN_DNSSEC_SECURE)
		return r;
	if (!n3_find(&c, h, true, &m))
		return CN_DNSSEC_NSEC_MISSING;
	/* an opt-out span may hide an unsigned delegation: not proof of absence */
	return optout ? CN_DNSSEC_INSECURE : CN_DNSSEC_SECURE;
}

/* A matching NSEC3 without qtype (and CNAME). */
static bool n3_no_type(const cn_nsec3_t *m, uint16_t qtype, bool apex_of_zone)
{
	return bitmap_denies(m->bitmap, m->bitmap_len, qtype, apex_of_zone);
}

cn_dnssec_result_t cn_nsec3_prove_nodata(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					 uint16_t qtype, const uint8_t *zone,
					 cn_dnssec_budget_t *budget)
{
	n3_t c;
	cn_dnssec_result_t r = n3_init(&c, rrs, n, zone, qname, budget);
	uint8_t h[CN_NSEC3_HASH_LEN], wc[CN_DNAME_MAX];
	cn_nsec3_t m;
	if (r == CN_DNSSEC_SECURE)
		r = n3_hash(&c, qname, h);
	if (r != CN_DNSSEC_SECURE)
		return r;
	if (n3_find(&c, h, false, &m))
		return n3_no_type(&m, qtype, qname[0] == 0) ? CN_DNSSEC_SECURE
							    : CN_DNSSEC_NSEC_MISSING;
	int ce;
	bool optout;
	if ((r = n3_closest_encloser(&c, qname, &ce, &optout)) != CN_DNSSEC_SECURE)
		return r;
	if (qtype == CN_TYPE_DS && optout)
		return CN_DNSSEC_INSECURE; /* RFC 5155 8.6: an unsigned delegation may be there */
	if (!wildcard_of(ancestor(qname, ce), wc))
		return CN_DNSSEC_NSEC_MISSING;
	if ((r = n3_hash(&c, wc, h)) != CN_DNSSEC_SECURE)
		return r;
	return n3_find(&c, h, false, &m) && n3_no_type(&m, qtype, false) ? CN_DNSSEC_SECURE
									  : CN_DNSSEC_NSEC_MISSING;
}

cn_dnssec_result_t cn_nsec3_prove_wildcard(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					   uint8_t sig_labels, const uint8_t *zone,
					   cn_dnssec_budget_t *budget)
{
	if (sig_labels >= cn_dname_labels(qname) || sig_labels < cn_dname_labels(zone))
		return CN_DNSSEC_NSEC_MISSING;
	n3_t c;
	cn_dnssec_result_t r = n3_init(&c, rrs, n, zone, qname, budget);
	uint8_t h[CN_NSEC3_HASH_LEN];
	cn_nsec3_t m;
	if (r == CN_DNSSEC_SECURE)
		r = n3_hash(&c, ancestor(qname, sig_labels + 1), h);
	if (r != CN_DNSSEC_SECURE)
		return r;
	return n3_find(&c, h, true, &m) ? CN_DNSSEC_SECURE : CN_DNSSEC_NSEC_MISSING;
}

cn_dnssec_result_t cn_nsec3_prove_no_ds(const cn_rr_t *rrs, size_t n, const uint8_t *child,
					const uint8_t *zone, cn_dnssec_budget_t *budget)
{
	n3_t c;
	cn_dnssec_result_t r = n3_init(&c, rrs, n, zone, child, budget);
	uint8_t h[CN_NSEC3_HASH_LEN];
	cn_nsec3_t m;
	if (r == CN_DNSSEC_SECURE)
		r = n3_hash(&c, child, h);
	if (r != CN_DNSSEC_SECURE)
		return r;
	if (n3_find(&c, h, false, &m)) {
		const uint8_t *bm = m.bitmap;
		bool ok = cn_dnssec_bitmap_has(bm, m.bitmap_len, CN_TYPE_NS) &&
			  !cn_dnssec_bitmap_has(bm, m.bitmap_len, CN_TYPE_DS) &&
			  !cn_dnssec_bitmap_has(bm, m.bitmap_len, CN_TYPE_SOA);
		return ok ? CN_DNSSEC_INSECURE : CN_DNSSEC_NSEC_MISSING;
	}
	int ce;
	bool optout;
	if ((r = n3_closest_encloser(&c, child, &ce, &optout)) != CN_DNSSEC_SECURE)
		return r;
	return optout ? CN_DNSSEC_INSECURE : CN_DNSSEC_NSEC_MISSING;
}
