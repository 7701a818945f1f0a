/*
 * DNSSEC validation of a request's answer (RFC 4033-4035, 5155, 6840): the chain of trust
 * from the trust anchors down to the zone that signed each RRset, run once frame 0 has its
 * answer and before the request is done.
 *
 * Everything the chain needs is read from the cache: a DNSKEY or DS RRset (with its RRSIGs,
 * kept beside it in the value's DNSSEC trailer, answer.c) or a denial of a DS (NODATA with
 * its NSEC/NSEC3 records). What is missing is fetched by a CN_FRAME_KEY frame pushed on the
 * request's stack, resolved like any other question (resolve.c); when it is done the
 * validation runs again from the top, finding what the frame cached. What validation
 * proves is stored back with its state (secure or insecure), so the next walk through the
 * same zones costs no cryptography, and a client's answer from cache keeps its AD bit.
 *
 * The walk goes down from the closest trust anchor one label at a time towards the zone
 * that signed the data (the RRSIG's signer), or for unsigned data towards its owner: at
 * each label the parent's DS RRset (validated with the parent's keys) leads to the child's
 * DNSKEY RRset, or a validated denial of the DS proves either an unsigned delegation (the
 * rest is insecure, RFC 4035 5.2) or that the label is no zone cut. Negative trust anchors
 * (RFC 7646), names no anchor covers, and forward and stub zones are insecure. Every
 * verification and NSEC3 hash is taken from the request's budget (KeyTrap CVE-2023-50387,
 * CVE-2023-50868): when it runs out, the answer is bogus with EDE 6.
 *
 * Pure like the rest of resolver/: the wall time comes in with the call.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "resolver/dnssec.h"
#include "resolver/errors.h"
#include "resolver/internal.h"

#define ANCHORS_MAX 16
#define PROOF_MAX CN_RESULT_SEC_MAX

typedef enum walk {
	W_KEYS,     /* secure: the keys of the zone (or, for unsigned data, the zone above) */
	W_INSECURE, /* proven insecure (or nothing to validate against) */
	W_BOGUS,    /* v says why and which zone */
	W_FETCH,    /* a key frame was pushed */
} walk_t;

typedef struct keyset {
	const uint8_t *zone;
	cn_rr_t *keys;
	size_t n;
} keyset_t;

typedef struct verdict {
	cn_dnssec_result_t res;
	uint8_t zone[CN_DNAME_MAX];
} verdict_t;

/* A cache entry as validation reads it: the records, the DNSSEC trailer, the state. */
typedef struct cached {
	bool found;
	unsigned kind;       /* cn_cache_kind_t */
	uint8_t state;
	cn_rank_t rank;
	cn_rr_t *rrs;        /* the RRset, or the SOA of a negative entry (n 0 or 1) */
	size_t n;
	cn_rr_t x[CN_VALUE_EXTRAS_MAX];
	size_t nx;
} cached_t;

static walk_t bogus(verdict_t *v, cn_dnssec_result_t res, const uint8_t *zone)
{
	v->res = res;
	cn_dname_copy(v->zone, zone);
	return W_BOGUS;
}

/* ------------------------------------------------------------------ the cache ------- */

/* (name, type) from the cache, any rank, not counted (a peek). The value is copied into
 * the request's reply arena, which lives until the next reply. */
static int read_cached(cn_request_t *r, const uint8_t *name, uint16_t type, uint64_t now_s,
		       cached_t *c)
{
	memset(c, 0, offsetof(cached_t, x));
	c->nx = 0;
	size_t nlen = cn_dname_len(name);
	cn_cache_entry_t ent;
	int ret = cn_cache_lookup(r->cache, name, nlen, type, CN_CLASS_IN, now_s, CN_LOOKUP_PEEK,
				  &ent, NULL, 0);
	if (ret != 0 && ret != -ENOSPC)
		return 0;
	uint8_t *buf = cn_arena_alloc(&r->arena, ent.data_len ? ent.data_len : 1);
	if (!buf || cn_cache_lookup(r->cache, name, nlen, type, CN_CLASS_IN, now_s,
				    CN_LOOKUP_PEEK, &ent, buf, ent.data_len) != 0)
		return -ENOMEM;
	bool rrset = ent.kind == CN_CACHE_RRSET;
	size_t body;
	if (cn__value_body_len(buf, ent.data_len, rrset, &body) != 0 ||
	    cn__value_trailer(buf, ent.data_len, body, &c->state, c->x, CN_VALUE_EXTRAS_MAX,
			      &c->nx) != 0)
		return 0; /* not a value cairn wrote: as if absent */
	c->kind = ent.kind;
	c->rank = (cn_rank_t)ent.rank;
	if (rrset) {
		cn_rdata_ref_t refs[CN_RRSET_RECORDS_MAX];
		size_t n;
		if (cn__value_decode_rrset(buf, ent.data_len, refs, CN_RRSET_RECORDS_MAX, &n) != 0)
			return 0;
		if (!(c->rrs = cn_arena_alloc(&r->arena, (n ? n : 1) * sizeof(cn_rr_t))))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			c->rrs[i] = (cn_rr_t){ .owner = name, .type = type, .rclass = CN_CLASS_IN,
					       .ttl = ent.ttl_left_s, .rdata = refs[i].rdata,
					       .rdlen = refs[i].rdlen,
					       .section = CN_SECTION_ANSWER };
		c->n = n;
	} else {
		const uint8_t *owner, *rdata;
		uint16_t rdlen;
		if (cn__value_decode_neg(buf, ent.data_len, &owner, &rdata, &rdlen) != 0)
			return 0;
		if (owner) {
			if (!(c->rrs = cn_arena_alloc(&r->arena, sizeof(cn_rr_t))))
				return -ENOMEM;
			c->rrs[0] = (cn_rr_t){ .owner = owner, .type = CN_TYPE_SOA,
					       .rclass = CN_CLASS_IN, .ttl = ent.ttl_left_s,
					       .rdata = rdata, .rdlen = rdlen,
					       .section = CN_SECTION_AUTHORITY };
			c->n = 1;
		}
	}
	for (size_t i = 0; i < c->nx; i++)
		c->x[i].ttl = ent.ttl_left_s;
	c->found = true;
	return 0;
}

/* The least TTL the RRSIGs among x allow (RFC 4035 5.3.3: original TTL, expiration). */
static uint32_t sig_cap(const cn_rr_t *x, size_t nx, uint16_t covered, uint64_t now_s)
{
	uint32_t cap = UINT32_MAX;
	for (size_t i = 0; i < nx; i++) {
		cn_rrsig_t sig;
		if (x[i].type != CN_TYPE_RRSIG ||
		    cn_dnssec_parse_rrsig(x[i].rdata, x[i].rdlen, &sig) != 0 ||
		    (covered && sig.type_covered != covered))
			continue;
		uint32_t c = cn_dnssec_ttl_cap(&sig, UINT32_MAX, now_s);
		if (c < cap)
			cap = c;
	}
	return cap;
}

/* Store an entry read with read_cached back with its validation state. */
static void restore(cn_request_t *r, const uint8_t *name, uint16_t type, const cached_t *c,
		    uint8_t state, uint16_t covered, uint64_t now_s)
{
	const cn_rr_t *set[CN_RRSET_RECORDS_MAX], *x[CN_VALUE_EXTRAS_MAX];
	for (size_t i = 0; i < c->nx; i++)
		x[i] = &c->x[i];
	uint32_t cap = sig_cap(c->x, c->nx, covered, now_s);
	if (c->kind == CN_CACHE_RRSET) {
		for (size_t i = 0; i < c->n; i++)
			set[i] = &c->rrs[i];
		(void)cn__scrub_store_rrset_sec(r, set, c->n, x, c->nx, state, c->rank, cap, now_s);
	} else {
		if (!c->n && c->nx && c->x[0].ttl < cap)
			cap = c->x[0].ttl; /* a referral's denial: what is left of it */
		(void)cn__scrub_store_negative_sec(r, name, type, c->kind == CN_CACHE_NXDOMAIN,
						   c->n ? &c->rrs[0] : NULL, x, c->nx, state, cap,
						   c->rank, now_s);
	}
}

/* ------------------------------------------------------------------ pieces ---------- */

static uint32_t fetch_hash(const uint8_t *name, uint16_t type)
{
	uint32_t h = 2166136261u ^ type;
	for (size_t i = 0, n = cn_dname_len(name); i < n; i++)
		h = (h ^ cn_ascii_lower(name[i])) * 16777619u;
	return h;
}

/* Push a frame to fetch (name, type), once per request: a second need of it means the
 * fetch brought nothing usable (fail says what that makes the answer). */
static walk_t fetch(cn_request_t *r, const uint8_t *name, uint16_t type, verdict_t *v,
		    cn_dnssec_result_t fail)
{
	uint32_t h = fetch_hash(name, type);
	for (unsigned i = 0; i < r->nfetched; i++)
		if (r->fetched[i] == h)
			return bogus(v, fail, name);
	cn_frame_t *f = r->nfetched < CN_KEY_FETCHES ? cn__resolve_push(r) : NULL;
	if (!f)
		return bogus(v, CN_DNSSEC_BOGUS, name);
	cn__resolve_frame_init(f, CN_FRAME_KEY, name, type, -1);
	r->fetched[r->nfetched++] = h;
	CN_STAT_INC(r->e, dnssec_key_fetches);
	return W_FETCH;
}

/* The RRSIGs among x over (owner, type), copied contiguous into out. */
static size_t sigs_of(const cn_rr_t *x, size_t nx, const uint8_t *owner, uint16_t type,
		      cn_section_t sec, cn_rr_t *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < nx && n < max; i++)
		if (x[i].type == CN_TYPE_RRSIG && x[i].section == sec && x[i].rdlen >= 2 &&
		    cn_wire_get16(x[i].rdata) == type && cn_dname_eq(x[i].owner, owner))
			out[n++] = x[i];
	return n;
}

/* The NSEC and NSEC3 RRsets among x (section sec) that verify with the zone's keys, into
 * out. BUDGET when the budget ran out; SECURE otherwise (RRsets that do not verify are
 * left out: a proof made without them fails on its own). */
static cn_dnssec_result_t verified_proofs(cn_request_t *r, const cn_rr_t *x, size_t nx,
					  cn_section_t sec, const keyset_t *ks, uint64_t now_s,
					  cn_rr_t *out, size_t *nout)
{
	cn_rr_t group[PROOF_MAX], sigs[PROOF_MAX];
	bool done[PROOF_MAX] = { false };
	*nout = 0;
	for (size_t i = 0; i < nx && i < PROOF_MAX; i++) {
		if (done[i] || x[i].section != sec ||
		    (x[i].type != CN_TYPE_NSEC && x[i].type != CN_TYPE_NSEC3))
			continue;
		size_t ng = 0;
		for (size_t j = i; j < nx && j < PROOF_MAX; j++)
			if (!done[j] && x[j].section == sec && x[j].type == x[i].type &&
			    cn_dname_eq(x[j].owner, x[i].owner)) {
				done[j] = true;
				group[ng++] = x[j];
			}
		size_t ns = sigs_of(x, nx, x[i].owner, x[i].type, sec, sigs, PROOF_MAX);
		cn_dnssec_result_t res = cn_dnssec_verify_rrset(group, ng, sigs, ns, ks->keys,
								ks->n, ks->zone, now_s, &r->budget,
								&r->arena, NULL);
		if (res == CN_DNSSEC_BUDGET)
			return res;
		if (res != CN_DNSSEC_SECURE)
			continue;
		for (size_t k = 0; k < ng && *nout < PROOF_MAX; k++)
			out[(*nout)++] = group[k];
	}
	return CN_DNSSEC_SECURE;
}

static bool has_type(const cn_rr_t *rrs, size_t n, uint16_t type)
{
	for (size_t i = 0; i < n; i++)
		if (rrs[i].type == type)
			return true;
	return false;
}

/* The validated DNSKEY RRset of zone, trusted through trust (the validated DS RRset from
 * the parent, or the trust anchors). */
static walk_t zone_keys(cn_request_t *r, const uint8_t *zone, const cn_rr_t *trust,
			size_t ntrust, uint64_t now_s, keyset_t *ks, verdict_t *v)
{
	cached_t *c = cn_arena_alloc(&r->arena, sizeof(*c));
	if (!c || read_cached(r, zone, CN_TYPE_DNSKEY, now_s, c) != 0)
		return bogus(v, CN_DNSSEC_BOGUS, zone);
	if (!c->found)
		return fetch(r, zone, CN_TYPE_DNSKEY, v, CN_DNSSEC_DNSKEY_MISSING);
	if (c->kind != CN_CACHE_RRSET || c->state == CN_DNSSEC_STATE_BOGUS)
		return bogus(v, CN_DNSSEC_DNSKEY_MISSING, zone);
	if (c->state == CN_DNSSEC_STATE_INSECURE)
		return W_INSECURE;
	if (c->state != CN_DNSSEC_STATE_SECURE) {
		cn_rr_t sigs[CN_VALUE_EXTRAS_MAX];
		size_t ns = sigs_of(c->x, c->nx, zone, CN_TYPE_DNSKEY, CN_SECTION_ANSWER, sigs,
				    CN_VALUE_EXTRAS_MAX);
		cn_dnssec_result_t res = cn_dnssec_verify_dnskeys(c->rrs, c->n, sigs, ns, trust,
								  ntrust, zone, now_s, &r->budget,
								  &r->arena);
		if (cn_dnssec_result_state(res) == CN_DNSSEC_STATE_INSECURE) {
			restore(r, zone, CN_TYPE_DNSKEY, c, CN_DNSSEC_STATE_INSECURE, CN_TYPE_DNSKEY,
				now_s);
			return W_INSECURE;
		}
		if (res != CN_DNSSEC_SECURE)
			return bogus(v, res, zone);
		restore(r, zone, CN_TYPE_DNSKEY, c, CN_DNSSEC_STATE_SECURE, CN_TYPE_DNSKEY, now_s);
	}
	ks->zone = zone;
	ks->keys = c->rrs;
	ks->n = c->n;
	return W_KEYS;
}

/* A validated denial of the DS RRset at child, from the zone of ks: INSECURE (an unsigned
 * delegation, or an opt-out span), SECURE (no delegation at child: no zone cut), or why
 * not proven. */
static cn_dnssec_result_t ds_denial(cn_request_t *r, const uint8_t *child, const cached_t *c,
				    const keyset_t *ks, uint64_t now_s)
{
	cn_rr_t *v = cn_arena_alloc(&r->arena, PROOF_MAX * sizeof(cn_rr_t));
	size_t nv;
	if (!v)
		return CN_DNSSEC_BOGUS;
	cn_dnssec_result_t res = verified_proofs(r, c->x, c->nx, CN_SECTION_AUTHORITY, ks, now_s,
						 v, &nv);
	if (res != CN_DNSSEC_SECURE)
		return res;
	if (has_type(v, nv, CN_TYPE_NSEC3)) {
		res = cn_nsec3_prove_no_ds(v, nv, child, ks->zone, &r->budget);
		if (res == CN_DNSSEC_INSECURE || res == CN_DNSSEC_BUDGET ||
		    cn_dnssec_result_state(res) == CN_DNSSEC_STATE_INSECURE)
			return res;
		return cn_nsec3_prove_nodata(v, nv, child, CN_TYPE_DS, ks->zone, &r->budget);
	}
	if (cn_nsec_prove_no_ds(v, nv, child) == CN_DNSSEC_INSECURE)
		return CN_DNSSEC_INSECURE;
	return cn_nsec_prove_nodata(v, nv, child, CN_TYPE_DS, ks->zone);
}

/* One label of the walk: the DS RRset at child, or its denial, from the zone of ks.
 * W_KEYS with *ks the child's keys (a secure delegation), or ks unchanged and *no_cut
 * (child is no zone cut); W_INSECURE, W_BOGUS or W_FETCH. */
static walk_t step_down(cn_request_t *r, const uint8_t *child, uint64_t now_s, keyset_t *ks,
			bool *no_cut, verdict_t *v)
{
	*no_cut = false;
	cached_t *c = cn_arena_alloc(&r->arena, sizeof(*c));
	if (!c || read_cached(r, child, CN_TYPE_DS, now_s, c) != 0)
		return bogus(v, CN_DNSSEC_BOGUS, ks->zone);
	if (!c->found) {
		cached_t nx;
		if (read_cached(r, child, CN_CACHE_TYPE_NXDOMAIN, now_s, &nx) == 0 && nx.found)
			return bogus(v, CN_DNSSEC_NSEC_MISSING, ks->zone); /* the data's zone
									     does not exist */
		return fetch(r, child, CN_TYPE_DS, v, CN_DNSSEC_BOGUS);
	}
	if (c->state == CN_DNSSEC_STATE_INSECURE)
		return W_INSECURE;
	if (c->kind != CN_CACHE_RRSET) { /* NODATA: a denial */
		if (c->state == CN_DNSSEC_STATE_SECURE) {
			*no_cut = true;
			return W_KEYS;
		}
		cn_dnssec_result_t res = ds_denial(r, child, c, ks, now_s);
		if (cn_dnssec_result_state(res) == CN_DNSSEC_STATE_INSECURE) {
			restore(r, child, CN_TYPE_DS, c, CN_DNSSEC_STATE_INSECURE, 0, now_s);
			return W_INSECURE;
		}
		if (res != CN_DNSSEC_SECURE)
			return bogus(v, res, ks->zone);
		restore(r, child, CN_TYPE_DS, c, CN_DNSSEC_STATE_SECURE, 0, now_s);
		*no_cut = true;
		return W_KEYS;
	}
	if (c->state != CN_DNSSEC_STATE_SECURE) {
		cn_rr_t sigs[CN_VALUE_EXTRAS_MAX];
		size_t ns = sigs_of(c->x, c->nx, child, CN_TYPE_DS, CN_SECTION_ANSWER, sigs,
				    CN_VALUE_EXTRAS_MAX);
		cn_dnssec_result_t res = cn_dnssec_verify_rrset(c->rrs, c->n, sigs, ns, ks->keys,
								ks->n, ks->zone, now_s, &r->budget,
								&r->arena, NULL);
		if (cn_dnssec_result_state(res) == CN_DNSSEC_STATE_INSECURE) {
			restore(r, child, CN_TYPE_DS, c, CN_DNSSEC_STATE_INSECURE, CN_TYPE_DS, now_s);
			return W_INSECURE;
		}
		if (res != CN_DNSSEC_SECURE)
			return bogus(v, res, ks->zone);
		restore(r, child, CN_TYPE_DS, c, CN_DNSSEC_STATE_SECURE, CN_TYPE_DS, now_s);
	}
	return zone_keys(r, child, c->rrs, c->n, now_s, ks, v);
}

static bool under_nta(const cn_engine_t *e, const uint8_t *name)
{
	for (size_t i = 0; i < e->nnta; i++)
		if (cn_dname_is_sub(name, e->nta[i]))
			return true;
	return false;
}

/*
 * The chain of trust from the closest anchor down to target: signer, the zone that signed
 * the data (W_KEYS: its keys); or the owner of unsigned data (W_KEYS: the keys of its zone,
 * which should have signed it; W_INSECURE when an unsigned delegation lies above it).
 */
static walk_t walk(cn_request_t *r, const uint8_t *target, bool signer, uint64_t now_s,
		   keyset_t *ks, verdict_t *v)
{
	const cn_engine_t *e = r->e;
	if (under_nta(e, target))
		return W_INSECURE;
	cn_rr_t anchors[ANCHORS_MAX];
	const uint8_t *azone;
	size_t na = cn_anchor_set_find(e->anchors, target, anchors, ANCHORS_MAX, &azone);
	if (na == 0)
		return W_INSECURE; /* no anchor above it: nothing to validate against */
	walk_t w = zone_keys(r, azone, anchors, na, now_s, ks, v);
	int tl = cn_dname_labels(target);
	for (int l = cn_dname_labels(azone) + 1; w == W_KEYS && l <= tl; l++) {
		bool no_cut;
		w = step_down(r, cn_dname_skip(target, tl - l), now_s, ks, &no_cut, v);
	}
	if (w == W_KEYS && signer && !cn_dname_eq(ks->zone, target))
		return bogus(v, CN_DNSSEC_DNSKEY_MISSING, target); /* the signer is no zone */
	return w;
}

/* ------------------------------------------------------------------ the answer ------ */

/* The signer of the first RRSIG among sigs whose signer encloses owner, or NULL. */
static const uint8_t *signer_of(const cn_rr_t *sigs, size_t n, const uint8_t *owner)
{
	for (size_t i = 0; i < n; i++) {
		cn_rrsig_t sig;
		if (cn_dnssec_parse_rrsig(sigs[i].rdata, sigs[i].rdlen, &sig) == 0 &&
		    cn_dname_is_sub(owner, sig.signer))
			return sig.signer;
	}
	return NULL;
}

/* Unsigned data at owner: insecure if an unsigned delegation lies above it, else bogus
 * (what: the result that names the missing piece). */
static walk_t unsigned_data(cn_request_t *r, const uint8_t *owner, uint64_t now_s,
			    cn_dnssec_result_t what, verdict_t *v)
{
	keyset_t ks;
	walk_t w = walk(r, owner, false, now_s, &ks, v);
	return w == W_KEYS ? bogus(v, what, ks.zone) : w;
}

/* The denial proofs of the result (AUTHORITY), verified with the keys of ks. */
static cn_dnssec_result_t result_proofs(cn_request_t *r, const keyset_t *ks, uint64_t now_s,
					cn_rr_t **out, size_t *nout)
{
	*out = cn_arena_alloc(&r->arena, PROOF_MAX * sizeof(cn_rr_t));
	if (!*out)
		return CN_DNSSEC_BOGUS;
	return verified_proofs(r, r->result.sec, r->result.nsec, CN_SECTION_AUTHORITY, ks, now_s,
			       *out, nout);
}

/* One RRset of the answer (set[0..n)): W_KEYS when secure (*cap: the TTL its RRSIG allows),
 * W_INSECURE, W_BOGUS or W_FETCH. */
static walk_t check_rrset(cn_request_t *r, const cn_rr_t *set, size_t n, uint64_t now_s,
			  uint32_t *cap, verdict_t *v)
{
	const uint8_t *owner = set[0].owner;
	cn_rr_t sigs[CN_VALUE_EXTRAS_MAX];
	size_t ns = sigs_of(r->result.sec, r->result.nsec, owner, set[0].type,
			    CN_SECTION_ANSWER, sigs, CN_VALUE_EXTRAS_MAX);
	const uint8_t *signer = signer_of(sigs, ns, owner);
	if (!signer)
		return unsigned_data(r, owner, now_s, CN_DNSSEC_RRSIGS_MISSING, v);
	keyset_t ks;
	walk_t w = walk(r, signer, true, now_s, &ks, v);
	if (w != W_KEYS)
		return w;
	const cn_rr_t *used = NULL;
	cn_dnssec_result_t res = cn_dnssec_verify_rrset(set, n, sigs, ns, ks.keys, ks.n, signer,
							now_s, &r->budget, &r->arena, &used);
	if (cn_dnssec_result_state(res) == CN_DNSSEC_STATE_INSECURE)
		return W_INSECURE;
	if (res != CN_DNSSEC_SECURE)
		return bogus(v, res, signer);
	cn_rrsig_t sig;
	if (cn_dnssec_parse_rrsig(used->rdata, used->rdlen, &sig) != 0)
		return bogus(v, CN_DNSSEC_MALFORMED, signer);
	*cap = cn_dnssec_ttl_cap(&sig, UINT32_MAX, now_s);
	if (sig.labels < cn_dname_labels(owner)) { /* a wildcard expansion: no closer match */
		cn_rr_t *p;
		size_t np;
		res = result_proofs(r, &ks, now_s, &p, &np);
		if (res == CN_DNSSEC_SECURE)
			res = has_type(p, np, CN_TYPE_NSEC3)
				      ? cn_nsec3_prove_wildcard(p, np, owner, sig.labels, signer,
								&r->budget)
				      : cn_nsec_prove_wildcard(p, np, owner, sig.labels);
		if (cn_dnssec_result_state(res) == CN_DNSSEC_STATE_INSECURE)
			return W_INSECURE; /* an opt-out span */
		if (res != CN_DNSSEC_SECURE)
			return bogus(v, res, signer);
	}
	return W_KEYS;
}

/* The negative part of the answer: name does not exist (nx) or has no qtype. */
static walk_t check_negative(cn_request_t *r, const uint8_t *name, uint16_t qtype, bool nx,
			     uint64_t now_s, uint32_t *cap, verdict_t *v)
{
	cn_result_t *res = &r->result;
	cn_rr_t sigs[CN_VALUE_EXTRAS_MAX];
	size_t ns = 0;
	const uint8_t *signer = NULL;
	if (res->has_soa) {
		ns = sigs_of(res->sec, res->nsec, res->soa.owner, CN_TYPE_SOA,
			     CN_SECTION_AUTHORITY, sigs, CN_VALUE_EXTRAS_MAX);
		signer = signer_of(sigs, ns, name);
	}
	for (size_t i = 0; !signer && i < res->nsec; i++)
		if (res->sec[i].section == CN_SECTION_AUTHORITY && res->sec[i].type == CN_TYPE_RRSIG)
			signer = signer_of(&res->sec[i], 1, name);
	if (!signer)
		return unsigned_data(r, res->has_soa ? res->soa.owner : name, now_s,
				     res->has_soa ? CN_DNSSEC_RRSIGS_MISSING
						  : CN_DNSSEC_NSEC_MISSING, v);
	keyset_t ks;
	walk_t w = walk(r, signer, true, now_s, &ks, v);
	if (w != W_KEYS)
		return w;
	cn_dnssec_result_t d = CN_DNSSEC_SECURE;
	if (res->has_soa) {
		d = cn_dnssec_verify_rrset(&res->soa, 1, sigs, ns, ks.keys, ks.n, signer, now_s,
					   &r->budget, &r->arena, NULL);
		*cap = sig_cap(sigs, ns, CN_TYPE_SOA, now_s);
	}
	cn_rr_t *p = NULL;
	size_t np = 0;
	if (d == CN_DNSSEC_SECURE)
		d = result_proofs(r, &ks, now_s, &p, &np);
	if (d == CN_DNSSEC_SECURE) {
		if (has_type(p, np, CN_TYPE_NSEC3))
			d = nx ? cn_nsec3_prove_nxdomain(p, np, name, signer, &r->budget)
			       : cn_nsec3_prove_nodata(p, np, name, qtype, signer, &r->budget);
		else
			d = nx ? cn_nsec_prove_nxdomain(p, np, name, signer, NULL)
			       : cn_nsec_prove_nodata(p, np, name, qtype, signer);
	}
	if (cn_dnssec_result_state(d) == CN_DNSSEC_STATE_INSECURE)
		return W_INSECURE;
	if (d != CN_DNSSEC_SECURE)
		return bogus(v, d, signer);
	if (res->has_soa && np && !has_type(p, np, CN_TYPE_NSEC3) && r->cacheable) {
		uint32_t ttl = res->soa.ttl < *cap ? res->soa.ttl : *cap;
		uint32_t ncap = sig_cap(res->sec, res->nsec, CN_TYPE_NSEC, now_s);
		ttl = ncap < ttl ? ncap : ttl;
		for (size_t i = 0; i < np; i++)
			ttl = p[i].ttl < ttl ? p[i].ttl : ttl;
		cn__aggressive_learn(r, signer, &res->soa, p, np, ttl, now_s);
	}
	return W_KEYS;
}

/* An RRset of the answer: records [i, *end) share owner and type. */
static size_t group_end(const cn_result_t *res, size_t i)
{
	size_t j = i + 1;
	while (j < res->nan && res->an[j].type == res->an[i].type &&
	       cn_dname_eq(res->an[j].owner, res->an[i].owner))
		j++;
	return j;
}

/* A CNAME cairn synthesised from the DNAME just before it (RFC 6672 3.4): no RRSIG of its
 * own; the DNAME's stands for it (RFC 6672 5.3.1). */
static bool synthesised(const cn_result_t *res, size_t i)
{
	return res->an[i].type == CN_TYPE_CNAME && i > 0 &&
	       res->an[i - 1].type == CN_TYPE_DNAME &&
	       cn_dname_is_sub(res->an[i].owner, res->an[i - 1].owner) &&
	       !cn_dname_eq(res->an[i].owner, res->an[i - 1].owner);
}

/* The name a negative answer is about: the end of the CNAME chain, or the question. */
static const uint8_t *negative_name(const cn_request_t *r)
{
	const cn_result_t *res = &r->result;
	if (res->nan && res->an[res->nan - 1].type == CN_TYPE_CNAME && r->q.qtype != CN_TYPE_CNAME)
		return res->an[res->nan - 1].rdata;
	return r->q.qname;
}

/* Cache the answer again with the state validation gave it. */
static void store_result(cn_request_t *r, uint8_t state, uint32_t neg_cap, uint64_t now_s)
{
	cn_result_t *res = &r->result;
	const cn_rr_t *set[CN_RRSET_RECORDS_MAX], *x[CN_VALUE_EXTRAS_MAX];
	for (size_t i = 0; i < res->nan;) {
		size_t end = group_end(res, i), n = 0, nx = 0;
		if (synthesised(res, i)) {
			i = end;
			continue;
		}
		for (size_t k = i; k < end && n < CN_RRSET_RECORDS_MAX; k++)
			set[n++] = &res->an[k];
		for (size_t k = 0; k < res->nsec && nx < CN_VALUE_EXTRAS_MAX; k++) {
			const cn_rr_t *s = &res->sec[k];
			bool mine = s->section == CN_SECTION_ANSWER && s->type == CN_TYPE_RRSIG &&
				    s->rdlen >= 2 && cn_wire_get16(s->rdata) == set[0]->type &&
				    cn_dname_eq(s->owner, set[0]->owner);
			bool last = end == res->nan && !res->has_soa &&
				    s->section == CN_SECTION_AUTHORITY; /* wildcard proof */
			if (mine || last)
				x[nx++] = s;
		}
		uint32_t cap = state == CN_DNSSEC_STATE_SECURE
				       ? sig_cap(res->sec, res->nsec, set[0]->type, now_s)
				       : UINT32_MAX;
		(void)cn__scrub_store_rrset_sec(r, set, n, x, nx, state, CN_RANK_AUTH_ANSWER, cap,
						now_s);
		i = end;
	}
	if (!res->has_soa || (res->rcode != CN_RCODE_NXDOMAIN && res->rcode != CN_RCODE_NOERROR))
		return;
	size_t nx = 0;
	for (size_t k = 0; k < res->nsec && nx < CN_VALUE_EXTRAS_MAX; k++)
		if (res->sec[k].section == CN_SECTION_AUTHORITY)
			x[nx++] = &res->sec[k];
	uint8_t name[CN_DNAME_MAX];
	cn_dname_copy(name, negative_name(r));
	cn_dname_lower(name);
	bool nxd = res->rcode == CN_RCODE_NXDOMAIN;
	(void)cn__scrub_store_negative_sec(r, name, r->q.qtype, nxd, &res->soa, x, nx, state,
					   neg_cap, CN_RANK_AUTH_AUTHORITY, now_s);
}

static void finish_bogus(cn_request_t *r, const verdict_t *v, uint64_t now_s)
{
	cn_result_t *res = &r->result;
	char zone[CN_DNAME_STR_MAX];
	cn__resolve_name_str(v->zone, zone, sizeof(zone));
	int ede = cn_dnssec_result_ede(v->res);
	res->bogus = true;
	res->dnssec = CN_DNSSEC_STATE_BOGUS;
	res->bogus_ede = (uint16_t)(ede < 0 ? CN_EDE_DNSSEC_BOGUS : ede);
	snprintf(res->bogus_text, sizeof(res->bogus_text), "DNSSEC validation failed in %.100s: %.60s",
		 zone, cn_dnssec_result_str(v->res));
	r->cacheable = false;
	CN_STAT_INC(r->e, dnssec_bogus);
	if (v->res == CN_DNSSEC_BUDGET)
		CN_STAT_INC(r->e, dnssec_budget);
	cn__log(r->e, 2, "bogus: %s", res->bogus_text);
	cn__failcache_record_bogus(r->e, r->q.qname, r->q.qtype, res->bogus_ede, res->bogus_text,
				   now_s);
}

bool cn__validate_wanted(const cn_request_t *r)
{
	const cn_engine_t *e = r->e;
	if (!__atomic_load_n(&e->conf.dnssec.enabled, __ATOMIC_RELAXED) || r->q.view)
		return false;
	/* forward and stub zones are not validated (docs/dnssec.md): their servers answer
	 * for names the public tree may deny */
	const cn__fwdset_t *set = __atomic_load_n(&e->fwdset, __ATOMIC_ACQUIRE);
	for (size_t i = 0; set && i < set->n; i++)
		if (cn_dname_is_sub(r->q.qname, set->z[i].name))
			return false;
	return true;
}

static void budget_init(cn_request_t *r)
{
	const cn_dnssec_conf_t *c = &r->e->conf.dnssec;
	cn_dnssec_budget_init(&r->budget);
	r->budget.sig_per_rrset = __atomic_load_n(&c->sigs_per_rrset, __ATOMIC_RELAXED);
	r->budget.sig_left = __atomic_load_n(&c->sigs_per_request, __ATOMIC_RELAXED);
	r->budget.hash_left = __atomic_load_n(&c->nsec3_hashes, __ATOMIC_RELAXED);
	r->budget.nsec3_iter_insecure =
		(uint16_t)__atomic_load_n(&c->nsec3_iter_insecure, __ATOMIC_RELAXED);
	r->budget.nsec3_iter_bogus =
		(uint16_t)__atomic_load_n(&c->nsec3_iter_bogus, __ATOMIC_RELAXED);
	r->budget_set = true;
}

cn_val_t cn__validate(cn_request_t *r, cn_time_t now)
{
	cn_result_t *res = &r->result;
	if (res->rcode != CN_RCODE_NOERROR && res->rcode != CN_RCODE_NXDOMAIN)
		return CN_VAL_DONE;
	if (r->q.qtype == CN_TYPE_RRSIG) {
		/* RRSIGs are not signed themselves (RFC 4035 2.2): nothing to validate them by */
		res->dnssec = CN_DNSSEC_STATE_INSECURE;
		CN_STAT_INC(r->e, dnssec_insecure);
		if (r->cacheable)
			store_result(r, CN_DNSSEC_STATE_INSECURE, UINT32_MAX, now.wall_s);
		return CN_VAL_DONE;
	}
	if (!r->budget_set)
		budget_init(r);
	uint32_t before_sigs = r->budget.sigs_done, before_hashes = r->budget.hashes_done;
	verdict_t v = { .res = CN_DNSSEC_SECURE };
	uint8_t state = CN_DNSSEC_STATE_SECURE;
	uint32_t cap = UINT32_MAX;
	walk_t w = W_KEYS;
	for (size_t i = 0; i < res->nan && w != W_FETCH && w != W_BOGUS;) {
		size_t end = group_end(res, i);
		if (!synthesised(res, i)) {
			w = check_rrset(r, &res->an[i], end - i, now.wall_s, &cap, &v);
			if (w == W_INSECURE)
				state = CN_DNSSEC_STATE_INSECURE;
		}
		i = end;
	}
	bool negative = res->has_soa || res->rcode == CN_RCODE_NXDOMAIN ||
			(res->nan && res->an[res->nan - 1].type == CN_TYPE_CNAME &&
			 r->q.qtype != CN_TYPE_CNAME);
	uint32_t neg_cap = UINT32_MAX;
	if (negative && (w == W_KEYS || w == W_INSECURE)) {
		w = check_negative(r, negative_name(r), r->q.qtype,
				   res->rcode == CN_RCODE_NXDOMAIN, now.wall_s, &neg_cap, &v);
		if (w == W_INSECURE)
			state = CN_DNSSEC_STATE_INSECURE;
	}
	atomic_fetch_add_explicit(&r->e->dnssec_sigs, r->budget.sigs_done - before_sigs,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&r->e->dnssec_hashes, r->budget.hashes_done - before_hashes,
				  memory_order_relaxed);
	if (w == W_FETCH)
		return CN_VAL_FETCH;
	if (w == W_BOGUS) {
		finish_bogus(r, &v, now.wall_s);
		return CN_VAL_DONE;
	}
	res->dnssec = state;
	if (state == CN_DNSSEC_STATE_SECURE)
		CN_STAT_INC(r->e, dnssec_secure);
	else
		CN_STAT_INC(r->e, dnssec_insecure);
	if (r->cacheable)
		store_result(r, state, neg_cap, now.wall_s);
	return CN_VAL_DONE;
}
