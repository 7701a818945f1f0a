/*
 * Validation of one RRset (RFC 4035 5.3) and of a zone's DNSKEY RRset against its DS set or
 * trust anchors (RFC 4035 5.2, RFC 6840 5.2), under a budget of signature verifications.
 *
 * The budget is the KeyTrap defence (CVE-2023-50387): a zone can publish many keys with one
 * key tag and many RRSIGs per RRset, so that a validator trying every (RRSIG, key) pair does
 * quadratic work. Every verification attempt is counted against the RRset's cap and the
 * request's pool, and cheap checks (validity period, tag, algorithm, flags) come first, so
 * that only pairs that could verify cost crypto.
 */
#include <string.h>

#include "resolver/dnssec.h"
#include "resolver/errors.h"

void cn_dnssec_budget_init(cn_dnssec_budget_t *b)
{
	memset(b, 0, sizeof(*b));
	b->sig_per_rrset = CN_DNSSEC_SIGS_PER_RRSET;
	b->sig_left = CN_DNSSEC_SIGS_PER_REQUEST;
	b->hash_left = CN_DNSSEC_HASHES_PER_REQUEST;
	b->nsec3_iter_insecure = CN_NSEC3_ITER_INSECURE;
	b->nsec3_iter_bogus = CN_NSEC3_ITER_BOGUS;
}

/* What the RRSIGs of one RRset showed, to choose the result when none verified. */
typedef struct tally {
	unsigned covering;     /* RRSIGs for this RRset from zone */
	unsigned supported;    /* ... of an algorithm cairn verifies */
	unsigned in_time;      /* ... inside their validity period */
	unsigned expired, not_yet;
	unsigned keyed;        /* ... with a matching key */
	unsigned tried;        /* verifications made */
	bool budget;           /* stopped for the budget */
	bool malformed;
} tally_t;

/* A usable zone key for sig (RFC 4035 5.3.1: tag, algorithm, zone flag, protocol 3; a
 * revoked key signs nothing but its own DNSKEY RRset, RFC 5011 2.1). */
static bool key_fits(const cn_dnskey_t *k, const cn_rrsig_t *sig, const uint8_t *zone,
		     const cn_rr_t *krr)
{
	return k->tag == sig->tag && k->alg == sig->alg && k->protocol == 3 &&
	       (k->flags & CN_DNSKEY_FLAG_ZONE) && !(k->flags & CN_DNSKEY_FLAG_REVOKE) &&
	       cn_dname_eq(krr->owner, zone);
}

/* Whether the RRSIG record s may sign rrs from zone; fills *sig. */
static bool sig_fits(const cn_rr_t *s, const cn_rr_t *rrs, const uint8_t *zone,
		     cn_rrsig_t *sig, tally_t *t)
{
	if (s->type != CN_TYPE_RRSIG || !cn_dname_eq(s->owner, rrs[0].owner))
		return false;
	if (cn_dnssec_parse_rrsig(s->rdata, s->rdlen, sig)) {
		t->malformed = true;
		return false;
	}
	if (sig->type_covered != rrs[0].type || !cn_dname_eq(sig->signer, zone) ||
	    s->rclass != rrs[0].rclass)
		return false;
	/* the owner must be inside the signer's zone (RFC 4035 5.3.1) */
	if (!cn_dname_is_sub(rrs[0].owner, zone))
		return false;
	t->covering++;
	return true;
}

/* Try the keys for one RRSIG. SECURE, or BOGUS/BUDGET with the tally updated. */
static cn_dnssec_result_t try_keys(const cn_rrsig_t *sig, const cn_rr_t *rrs, size_t n,
				   const cn_rr_t *keys, size_t nkeys, const uint8_t *zone,
				   cn_dnssec_budget_t *b, cn_arena_t *arena, tally_t *t)
{
	uint8_t *data = NULL;
	size_t len = 0;
	for (size_t k = 0; k < nkeys; k++) {
		cn_dnskey_t key;
		if (keys[k].type != CN_TYPE_DNSKEY ||
		    cn_dnssec_parse_dnskey(keys[k].rdata, keys[k].rdlen, &key) ||
		    !key_fits(&key, sig, zone, &keys[k]))
			continue;
		t->keyed++;
		if (t->tried >= b->sig_per_rrset || b->sig_left == 0) {
			t->budget = true;
			return CN_DNSSEC_BUDGET;
		}
		if (!data) {
			int rc = cn_dnssec_signed_data(sig, rrs, n, arena, &data, &len);
			if (rc) {
				t->malformed = true;
				return CN_DNSSEC_BOGUS;
			}
		}
		t->tried++;
		b->sig_left--;
		b->sigs_done++;
		if (cn_dnssec_verify_sig(&key, sig, data, len) == CN_DNSSEC_SECURE)
			return CN_DNSSEC_SECURE;
	}
	return CN_DNSSEC_BOGUS;
}

static cn_dnssec_result_t pick_failure(const tally_t *t)
{
	if (t->covering == 0)
		return t->malformed ? CN_DNSSEC_MALFORMED : CN_DNSSEC_RRSIGS_MISSING;
	if (t->supported == 0)
		return CN_DNSSEC_UNSUPPORTED_ALG;
	if (t->in_time == 0) {
		if (t->expired)
			return CN_DNSSEC_SIG_EXPIRED;
		return t->not_yet ? CN_DNSSEC_SIG_NOT_YET_VALID : CN_DNSSEC_BOGUS;
	}
	if (t->keyed == 0)
		return CN_DNSSEC_DNSKEY_MISSING;
	if (t->budget)
		return CN_DNSSEC_BUDGET;
	return CN_DNSSEC_BOGUS;
}

cn_dnssec_result_t cn_dnssec_verify_rrset(const cn_rr_t *rrs, size_t n, const cn_rr_t *sigs,
					  size_t nsigs, const cn_rr_t *keys, size_t nkeys,
					  const uint8_t *zone, uint64_t now_s,
					  cn_dnssec_budget_t *budget, cn_arena_t *arena,
					  const cn_rr_t **used)
{
	if (n == 0)
		return CN_DNSSEC_MALFORMED;
	tally_t t = {0};
	for (size_t i = 0; i < nsigs; i++) {
		cn_rrsig_t sig;
		if (!sig_fits(&sigs[i], rrs, zone, &sig, &t))
			continue;
		if (!cn_dnssec_alg_supported(sig.alg))
			continue;
		t.supported++;
		if (sig.labels > cn_dname_labels(rrs[0].owner))
			continue; /* cannot have signed this owner: RFC 4035 5.3.1 */
		cn_dnssec_result_t tr = cn_dnssec_check_time(&sig, now_s);
		if (tr != CN_DNSSEC_SECURE) {
			t.expired += tr == CN_DNSSEC_SIG_EXPIRED;
			t.not_yet += tr == CN_DNSSEC_SIG_NOT_YET_VALID;
			continue;
		}
		t.in_time++;
		cn_dnssec_result_t r = try_keys(&sig, rrs, n, keys, nkeys, zone, budget, arena, &t);
		if (r == CN_DNSSEC_SECURE) {
			if (used)
				*used = &sigs[i];
			return r;
		}
		if (r == CN_DNSSEC_BUDGET)
			break;
	}
	return pick_failure(&t);
}

/* ------------------------------------------------------------------------------------ */

/* RFC 4035 5.2 / RFC 6840 5.2: SECURE when some anchor of zone is usable (a DS with a
 * supported digest type and algorithm, a DNSKEY of a supported algorithm); else
 * UNSUPPORTED_ALG / UNSUPPORTED_DIGEST when there are anchors cairn cannot use (the zone is
 * then insecure), DNSKEY_MISSING when there are none at all. */
static cn_dnssec_result_t anchors_usable(const cn_rr_t *anchors, size_t nanchors,
					 const uint8_t *zone)
{
	bool unsup_alg = false, unsup_digest = false;
	for (size_t a = 0; a < nanchors; a++) {
		const cn_rr_t *ta = &anchors[a];
		if (!cn_dname_eq(ta->owner, zone))
			continue;
		cn_ds_t ds;
		cn_dnskey_t k;
		if (ta->type == CN_TYPE_DS && cn_dnssec_parse_ds(ta->rdata, ta->rdlen, &ds) == 0) {
			if (!cn_dnssec_digest_supported(ds.digest_type))
				unsup_digest = true;
			else if (!cn_dnssec_alg_supported(ds.alg))
				unsup_alg = true;
			else
				return CN_DNSSEC_SECURE;
		} else if (ta->type == CN_TYPE_DNSKEY &&
			   cn_dnssec_parse_dnskey(ta->rdata, ta->rdlen, &k) == 0) {
			if (!cn_dnssec_alg_supported(k.alg))
				unsup_alg = true;
			else
				return CN_DNSSEC_SECURE;
		}
	}
	if (unsup_alg)
		return CN_DNSSEC_UNSUPPORTED_ALG;
	return unsup_digest ? CN_DNSSEC_UNSUPPORTED_DIGEST : CN_DNSSEC_DNSKEY_MISSING;
}

/* Whether DNSKEY record k is trusted by an anchor: an equal DNSKEY or a matching DS. */
static bool key_trusted(const cn_rr_t *k, const cn_rr_t *anchors, size_t nanchors,
			const uint8_t *zone)
{
	cn_dnskey_t key;
	if (k->type != CN_TYPE_DNSKEY || cn_dnssec_parse_dnskey(k->rdata, k->rdlen, &key))
		return false;
	for (size_t a = 0; a < nanchors; a++) {
		const cn_rr_t *ta = &anchors[a];
		if (!cn_dname_eq(ta->owner, zone))
			continue;
		cn_ds_t ds;
		if (ta->type == CN_TYPE_DNSKEY && ta->rdlen == key.rdlen &&
		    !memcmp(ta->rdata, key.rdata, key.rdlen))
			return true;
		if (ta->type == CN_TYPE_DS && cn_dnssec_parse_ds(ta->rdata, ta->rdlen, &ds) == 0 &&
		    cn_dnssec_ds_match(&ds, zone, &key) == CN_DNSSEC_SECURE)
			return true;
	}
	return false;
}

cn_dnssec_result_t cn_dnssec_verify_dnskeys(const cn_rr_t *dnskeys, size_t n,
					    const cn_rr_t *sigs, size_t nsigs,
					    const cn_rr_t *anchors, size_t nanchors,
					    const uint8_t *zone, uint64_t now_s,
					    cn_dnssec_budget_t *budget, cn_arena_t *arena)
{
	cn_dnssec_result_t r = anchors_usable(anchors, nanchors, zone);
	if (r != CN_DNSSEC_SECURE)
		return r;
	if (n == 0)
		return CN_DNSSEC_DNSKEY_MISSING;
	cn_rr_t *trusted = cn_arena_alloc(arena, n * sizeof(*trusted));
	if (!trusted)
		return CN_DNSSEC_BUDGET; /* out of request memory: no answer, never "secure" */
	size_t nt = 0;
	for (size_t i = 0; i < n; i++)
		if (key_trusted(&dnskeys[i], anchors, nanchors, zone))
			trusted[nt++] = dnskeys[i];
	if (nt == 0)
		return CN_DNSSEC_DNSKEY_MISSING;
	return cn_dnssec_verify_rrset(dnskeys, n, sigs, nsigs, trusted, nt, zone, now_s, budget,
				      arena, NULL);
}
