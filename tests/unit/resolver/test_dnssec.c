/*
 * Unit tests for the DNSSEC library (resolver/dnssec.c, dnssec_crypto.c, dnssec_verify.c,
 * nsec.c, anchors.c) against real signatures: dnssec_vectors.h holds zones signed by
 * dnspython's dns.dnssec (one per algorithm 8, 10, 13, 14, 15, 16, with DS digests 2 and 4)
 * and by ldns-signzone (NSEC with algorithm 13, NSEC3 with algorithm 8, NSEC3 opt-out with
 * algorithm 15), made by gen_dnssec_vectors.py; and the IANA root KSK-2017 with its published
 * DS. Each verdict is checked on the good data, then on data tampered one field at a time,
 * so every result code is reached. The clock is a parameter (VEC_NOW and moves around it).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolver/dnssec.h"
#include "resolver/errors.h"
#include "tests/unit/resolver/dnssec_vectors.h"
#include "tests/unit/unit.h"

#define RD_MAX 1024
#define SET_MAX 64

/* every vector decoded once: owner in wire form, RDATA bytes */
static uint8_t g_owner[VEC_COUNT][CN_DNAME_MAX];
static uint8_t g_rdata[VEC_COUNT][RD_MAX];
static cn_rr_t g_rr[VEC_COUNT];
static cn_arena_t arena;

typedef struct set {
	cn_rr_t rr[SET_MAX];
	size_t n;
} set_t;

static size_t unhex(const char *hx, uint8_t *out, size_t cap)
{
	size_t n = strlen(hx) / 2;
	ck_assert_uint_le(n, cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hx + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void setup(void)
{
	cn_arena_init(&arena, 0);
	for (size_t i = 0; i < VEC_COUNT; i++) {
		const vec_rr_t *v = &vec_rrs[i];
		ck_assert_int_eq(cn_dname_from_str(v->owner, g_owner[i], NULL), 0);
		size_t len = v->type ? unhex(v->hex, g_rdata[i], RD_MAX) : 0;
		g_rr[i] = (cn_rr_t){.owner = g_owner[i], .rdata = g_rdata[i], .ttl = v->ttl,
				    .type = v->type, .rclass = CN_CLASS_IN, .rdlen = (uint16_t)len};
	}
}

static void teardown(void)
{
	cn_arena_deinit(&arena);
}

/* The records of case kase, of type (0: any) and owner (NULL: any), appended to s. */
static set_t *add(set_t *s, const char *kase, uint16_t type, const char *owner)
{
	uint8_t want[CN_DNAME_MAX];
	if (owner)
		ck_assert_int_eq(cn_dname_from_str(owner, want, NULL), 0);
	for (size_t i = 0; i < VEC_COUNT; i++) {
		if (strcmp(vec_rrs[i].kase, kase) || !g_rr[i].type ||
		    (type && g_rr[i].type != type) || (owner && !cn_dname_eq(g_rr[i].owner, want)))
			continue;
		ck_assert_uint_lt(s->n, SET_MAX);
		s->rr[s->n++] = g_rr[i];
	}
	return s;
}

static set_t *sel(set_t *s, const char *kase, uint16_t type, const char *owner)
{
	s->n = 0;
	return add(s, kase, type, owner);
}

/* RRSIGs of kase covering type at owner */
static set_t *sigs_for(set_t *s, const char *kase, uint16_t type, const char *owner)
{
	set_t all = {0};
	sel(&all, kase, CN_TYPE_RRSIG, owner);
	s->n = 0;
	for (size_t i = 0; i < all.n; i++)
		if (cn_wire_get16(all.rr[i].rdata) == type)
			s->rr[s->n++] = all.rr[i];
	return s;
}

/* A private copy of record r's RDATA (to tamper with). */
static cn_rr_t copy_rr(const cn_rr_t *r, uint8_t *buf)
{
	memcpy(buf, r->rdata, r->rdlen);
	cn_rr_t c = *r;
	c.rdata = buf;
	return c;
}

static const uint8_t *N(const char *s)
{
	return cn_test_name(s);
}

/* A name that outlives the 8 rotating buffers of N(). */
static const uint8_t *Z(const char *s)
{
	static uint8_t bufs[4][CN_DNAME_MAX];
	static int next;
	uint8_t *b = bufs[next++ % 4];
	cn_dname_copy(b, N(s));
	return b;
}

static cn_dnssec_budget_t budget(void)
{
	cn_dnssec_budget_t b;
	cn_dnssec_budget_init(&b);
	return b;
}

/* Validate the RRset (kase, type, owner) with the case's DNSKEYs at now. */
static cn_dnssec_result_t check_rrset(const char *kase, const char *zone, uint16_t type,
				      const char *owner, uint64_t now)
{
	set_t rrs, sigs, keys;
	sel(&rrs, kase, type, owner);
	sigs_for(&sigs, kase, type, owner);
	sel(&keys, kase, CN_TYPE_DNSKEY, zone);
	ck_assert_uint_gt(rrs.n, 0);
	cn_dnssec_budget_t b = budget();
	return cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, keys.rr, keys.n, N(zone),
				      now, &b, &arena, NULL);
}

/* ------------------------------------------------------------------------------------ */

START_TEST(test_result_table)
{
	/* the EDE codes of issue 15 / RFC 8914 4 */
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_SECURE), -1);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_INSECURE), -1);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_UNSUPPORTED_ALG), 1);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_UNSUPPORTED_DIGEST), 2);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_BOGUS), 6);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_SIG_EXPIRED), 7);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_SIG_NOT_YET_VALID), 8);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_DNSKEY_MISSING), 9);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_RRSIGS_MISSING), 10);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_NSEC_MISSING), 12);
	ck_assert_int_eq(cn_dnssec_result_ede(CN_DNSSEC_NSEC3_ITERATIONS), 27);
	ck_assert_int_eq(cn_dnssec_result_state(CN_DNSSEC_UNSUPPORTED_ALG), CN_DNSSEC_STATE_INSECURE);
	ck_assert_int_eq(cn_dnssec_result_state(CN_DNSSEC_BUDGET), CN_DNSSEC_STATE_BOGUS);
	ck_assert_int_eq(cn_dnssec_result_state(CN_DNSSEC_SECURE), CN_DNSSEC_STATE_SECURE);
	ck_assert_str_eq(cn_dnssec_result_str(CN_DNSSEC_SIG_EXPIRED), "signature expired");
	ck_assert_str_eq(cn_dnssec_result_str(CN_DNSSEC_RESULT_COUNT), "unknown DNSSEC result");
}
END_TEST

/* The root KSK-2017 (IANA root-anchors.xml): its key tag, and the built-in DS matches it. */
static const char *const ksk2017 =
	". 172800 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3"
	"+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2"
	"n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+e"
	"oZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws"
	"9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=";

START_TEST(test_root_anchor)
{
	cn_anchor_set_t keys = {0}, ds = {0};
	char err[256];
	ck_assert_int_eq(cn_anchor_set_add(&keys, ksk2017, NULL, "test", err, sizeof(err)), 0);
	ck_assert_uint_eq(keys.n, 1);
	cn_dnskey_t k;
	ck_assert_int_eq(cn_dnssec_parse_dnskey(keys.v[0].rdata, keys.v[0].rdlen, &k), 0);
	ck_assert_uint_eq(k.tag, 20326);
	ck_assert_uint_eq(k.flags, 257);
	ck_assert_uint_eq(k.alg, 8);
	ck_assert_int_eq(cn_anchor_set_builtin(&ds), 0);
	ck_assert_uint_eq(ds.n, 2);
	cn_ds_t d0, d1;
	ck_assert_int_eq(cn_dnssec_parse_ds(ds.v[0].rdata, ds.v[0].rdlen, &d0), 0);
	ck_assert_int_eq(cn_dnssec_parse_ds(ds.v[1].rdata, ds.v[1].rdlen, &d1), 0);
	ck_assert_uint_eq(d0.tag, 20326);
	ck_assert_uint_eq(d1.tag, 38696);
	ck_assert_uint_eq(d0.digest_len, 32);
	ck_assert_int_eq(cn_dnssec_ds_match(&d0, N("."), &k), CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_dnssec_ds_match(&d1, N("."), &k), CN_DNSSEC_BOGUS);
	/* the same digest for another owner does not match */
	ck_assert_int_eq(cn_dnssec_ds_match(&d0, N("org."), &k), CN_DNSSEC_BOGUS);
	cn_anchor_set_free(&keys);
	cn_anchor_set_free(&ds);
	ck_assert_ptr_null(ds.v);
}
END_TEST

static const char *const alg_case[] = {"alg8", "alg10", "alg13", "alg14", "alg15", "alg16"};
static const char *const alg_zone[] = {"alg8.example.", "alg10.example.", "alg13.example.",
				       "alg14.example.", "alg15.example.", "alg16.example."};
static const uint8_t alg_num[] = {8, 10, 13, 14, 15, 16};

START_TEST(test_alg_secure)
{
	const char *k = alg_case[_i], *z = alg_zone[_i];
	char www[64], dscase[16];
	snprintf(www, sizeof(www), "www.%s", z);
	snprintf(dscase, sizeof(dscase), "%s_ds", k);
	ck_assert(cn_dnssec_alg_supported(alg_num[_i]));
	/* the DNSKEY RRset against each DS digest type alone */
	set_t keys, ksigs, ds;
	sel(&keys, k, CN_TYPE_DNSKEY, z);
	sigs_for(&ksigs, k, CN_TYPE_DNSKEY, z);
	ck_assert_uint_eq(keys.n, 2);
	sel(&ds, dscase, CN_TYPE_DS, z);
	ck_assert_uint_eq(ds.n, 2);
	for (size_t d = 0; d < 2; d++) {
		cn_dnssec_budget_t b = budget();
		ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, ksigs.rr, ksigs.n,
							  &ds.rr[d], 1, N(z), VEC_NOW, &b, &arena),
				 CN_DNSSEC_SECURE);
		ck_assert_uint_eq(b.sigs_done, 1);
	}
	/* the DNSKEY trusted as a key anchor itself (trust_anchors: with a DNSKEY) */
	cn_rr_t ksk = keys.rr[cn_wire_get16(keys.rr[0].rdata) == 257 ? 0 : 1];
	cn_dnssec_budget_t b = budget();
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, ksigs.rr, ksigs.n, &ksk, 1,
						  N(z), VEC_NOW, &b, &arena),
			 CN_DNSSEC_SECURE);
	/* data RRsets signed by the ZSK */
	ck_assert_int_eq(check_rrset(k, z, CN_TYPE_A, www, VEC_NOW), CN_DNSSEC_SECURE);
	ck_assert_int_eq(check_rrset(k, z, CN_TYPE_MX, z, VEC_NOW), CN_DNSSEC_SECURE);
	/* the key tag in each RRSIG is one of the DNSKEYs' computed tags */
	set_t sigs;
	sigs_for(&sigs, k, CN_TYPE_A, www);
	cn_rrsig_t s;
	cn_dnskey_t k0, k1;
	ck_assert_int_eq(cn_dnssec_parse_rrsig(sigs.rr[0].rdata, sigs.rr[0].rdlen, &s), 0);
	ck_assert_int_eq(cn_dnssec_parse_dnskey(keys.rr[0].rdata, keys.rr[0].rdlen, &k0), 0);
	ck_assert_int_eq(cn_dnssec_parse_dnskey(keys.rr[1].rdata, keys.rr[1].rdlen, &k1), 0);
	ck_assert(s.tag == k0.tag || s.tag == k1.tag);
	ck_assert_uint_eq(s.alg, alg_num[_i]);
}
END_TEST

/* Owner and RDATA names in another case still verify (canonical form, RFC 4034 6.2). */
START_TEST(test_alg_case_folding)
{
	const char *k = alg_case[_i], *z = alg_zone[_i];
	set_t rrs, sigs, keys;
	sel(&rrs, k, CN_TYPE_MX, z);
	sigs_for(&sigs, k, CN_TYPE_MX, z);
	sel(&keys, k, CN_TYPE_DNSKEY, z);
	uint8_t upper[CN_DNAME_MAX], rd[RD_MAX];
	cn_dname_copy(upper, rrs.rr[0].owner);
	for (size_t i = 0; upper[i]; i += upper[i] + 1u)
		for (size_t j = 1; j <= upper[i]; j++)
			if (upper[i + j] >= 'a' && upper[i + j] <= 'z')
				upper[i + j] -= 32;
	rrs.rr[0] = copy_rr(&rrs.rr[0], rd);
	rrs.rr[0].owner = upper;
	for (size_t i = 2; i < rrs.rr[0].rdlen; i++)
		if (rd[i] >= 'a' && rd[i] <= 'z')
			rd[i] -= 32;
	cn_dnssec_budget_t b = budget();
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, 1, sigs.rr, sigs.n, keys.rr, keys.n,
						N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_SECURE);
	/* but a different name in the RDATA does not */
	rd[rrs.rr[0].rdlen - 3] ^= 0x01;
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, 1, sigs.rr, sigs.n, keys.rr, keys.n,
						N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_BOGUS);
}
END_TEST

/* A wildcard expansion: the RRSIG of *.wild.Z over a.b.wild.Z (RFC 4035 5.3.2). */
START_TEST(test_alg_wildcard)
{
	const char *z = alg_zone[_i];
	char kase[16], owner[64];
	snprintf(kase, sizeof(kase), "%s_wild", alg_case[_i]);
	snprintf(owner, sizeof(owner), "a.b.wild.%s", z);
	set_t rrs, sigs, keys;
	sel(&rrs, kase, CN_TYPE_TXT, owner);
	sel(&sigs, kase, CN_TYPE_RRSIG, owner);
	sel(&keys, alg_case[_i], CN_TYPE_DNSKEY, z);
	const cn_rr_t *used = NULL;
	cn_dnssec_budget_t b = budget();
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, keys.rr, keys.n,
						N(z), VEC_NOW, &b, &arena, &used),
			 CN_DNSSEC_SECURE);
	ck_assert_ptr_eq(used, &sigs.rr[0]);
	cn_rrsig_t s;
	ck_assert_int_eq(cn_dnssec_parse_rrsig(used->rdata, used->rdlen, &s), 0);
	ck_assert_int_eq(s.labels, 3); /* *.wild.algN.example: the "*" is not counted */
	ck_assert_int_lt(s.labels, cn_dname_labels(N(owner)));
	/* the labels field raised to the owner's count: the signed owner changes, bogus */
	uint8_t rd[RD_MAX];
	cn_rr_t t = copy_rr(&sigs.rr[0], rd);
	rd[3] = 5;
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, &t, 1, keys.rr, keys.n, N(z),
						VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_BOGUS);
	/* above the owner's count: no usable signature at all */
	rd[3] = 6;
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, &t, 1, keys.rr, keys.n, N(z),
						VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_BOGUS);
}
END_TEST

/* One field changed at a time: each makes the RRset bogus. */
START_TEST(test_alg_tampered)
{
	const char *k = alg_case[_i], *z = alg_zone[_i];
	char www[64];
	snprintf(www, sizeof(www), "www.%s", z);
	set_t rrs, sigs, keys;
	sel(&rrs, k, CN_TYPE_A, www);
	sigs_for(&sigs, k, CN_TYPE_A, www);
	sel(&keys, k, CN_TYPE_DNSKEY, z);
	ck_assert_uint_eq(rrs.n, 2);
	uint8_t rd[RD_MAX], sd[RD_MAX];
	struct {
		int which; /* 0: data, 1: RRSIG */
		size_t off;
	} cases[] = {{0, 3}, {1, 0}, {1, 5}, {1, 17}, {1, 0xFFFF}};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		set_t r = rrs, s = sigs;
		r.rr[0] = copy_rr(&rrs.rr[0], rd);
		s.rr[0] = copy_rr(&sigs.rr[0], sd);
		if (cases[c].which == 0)
			rd[cases[c].off] ^= 0x01;            /* an address octet */
		else if (cases[c].off == 0xFFFF)
			sd[s.rr[0].rdlen - 1] ^= 0x01;       /* the signature's last octet */
		else
			sd[cases[c].off] ^= cases[c].off == 0 ? 0 : 0x01; /* TTL / tag */
		if (cases[c].which == 1 && cases[c].off == 0)
			r.n = 1; /* a record removed from the RRset */
		cn_dnssec_budget_t b = budget();
		cn_dnssec_result_t want = cases[c].off == 17 ? CN_DNSSEC_DNSKEY_MISSING
							     : CN_DNSSEC_BOGUS;
		ck_assert_int_eq(cn_dnssec_verify_rrset(r.rr, r.n, s.rr, s.n, keys.rr, keys.n,
							N(z), VEC_NOW, &b, &arena, NULL),
				 want);
	}
	/* a duplicate record does not change the signed data (RFC 4034 6.3) */
	set_t dup = rrs;
	dup.rr[2] = rrs.rr[0];
	dup.n = 3;
	cn_dnssec_budget_t b = budget();
	ck_assert_int_eq(cn_dnssec_verify_rrset(dup.rr, dup.n, sigs.rr, sigs.n, keys.rr, keys.n,
						N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_SECURE);
	/* the keys of another algorithm's zone do not verify it */
	set_t other;
	sel(&other, alg_case[(_i + 1) % 6], CN_TYPE_DNSKEY, alg_zone[(_i + 1) % 6]);
	for (size_t i = 0; i < other.n; i++)
		other.rr[i].owner = N(z);
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, other.rr, other.n,
						N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_DNSKEY_MISSING);
}
END_TEST

START_TEST(test_time)
{
	const char *k = "alg13", *z = "alg13.example.";
	ck_assert_int_eq(check_rrset(k, z, CN_TYPE_A, "www.alg13.example.", VEC_EXPIRATION),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(check_rrset(k, z, CN_TYPE_A, "www.alg13.example.", VEC_EXPIRATION + 1),
			 CN_DNSSEC_SIG_EXPIRED);
	ck_assert_int_eq(check_rrset(k, z, CN_TYPE_A, "www.alg13.example.", VEC_INCEPTION),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(check_rrset(k, z, CN_TYPE_A, "www.alg13.example.", VEC_INCEPTION - 1),
			 CN_DNSSEC_SIG_NOT_YET_VALID);
	/* serial number arithmetic across the 2^32 wrap (RFC 4034 3.1.5, RFC 1982) */
	cn_rrsig_t s = {.inception = 0xFFFFFF00u, .expiration = 0x00000100u, .orig_ttl = 3600};
	ck_assert_int_eq(cn_dnssec_check_time(&s, 0x100000010ULL), CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_dnssec_check_time(&s, 0xFFFFFFF0ULL), CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_dnssec_check_time(&s, 0x100000101ULL), CN_DNSSEC_SIG_EXPIRED);
	ck_assert_int_eq(cn_dnssec_check_time(&s, 0xFFFFFE00ULL), CN_DNSSEC_SIG_NOT_YET_VALID);
	s.inception = 200;
	s.expiration = 100; /* ends before it starts */
	ck_assert_int_eq(cn_dnssec_check_time(&s, 150), CN_DNSSEC_BOGUS);
	/* TTL caps (RFC 4035 5.3.3): original TTL, then time left */
	s = (cn_rrsig_t){.inception = 0, .expiration = 1000, .orig_ttl = 300};
	ck_assert_uint_eq(cn_dnssec_ttl_cap(&s, 3600, 100), 300);
	ck_assert_uint_eq(cn_dnssec_ttl_cap(&s, 60, 100), 60);
	ck_assert_uint_eq(cn_dnssec_ttl_cap(&s, 3600, 900), 100);
	ck_assert_uint_eq(cn_dnssec_ttl_cap(&s, 3600, 2000), 0);
}
END_TEST

START_TEST(test_missing)
{
	const char *k = "alg15", *z = "alg15.example.";
	set_t rrs, sigs, keys, ksigs, ds;
	sel(&rrs, k, CN_TYPE_A, "www.alg15.example.");
	sigs_for(&sigs, k, CN_TYPE_A, "www.alg15.example.");
	sel(&keys, k, CN_TYPE_DNSKEY, z);
	sigs_for(&ksigs, k, CN_TYPE_DNSKEY, z);
	sel(&ds, "alg15_ds", CN_TYPE_DS, z);
	cn_dnssec_budget_t b = budget();
	/* no RRSIG at all, or only RRSIGs over other types or from another signer */
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, NULL, 0, keys.rr, keys.n, N(z),
						VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_RRSIGS_MISSING);
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, ksigs.rr, ksigs.n, keys.rr, keys.n,
						N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_RRSIGS_MISSING);
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, keys.rr, keys.n,
						N("example."), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_RRSIGS_MISSING);
	/* the ZSK missing from the key set */
	set_t ksk_only = {0};
	for (size_t i = 0; i < keys.n; i++)
		if (cn_wire_get16(keys.rr[i].rdata) == 257)
			ksk_only.rr[ksk_only.n++] = keys.rr[i];
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, ksk_only.rr,
						ksk_only.n, N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_DNSKEY_MISSING);
	/* a DS that matches no key (a digest octet changed): DNSKEY missing (EDE 9) */
	uint8_t rd[RD_MAX];
	cn_rr_t bad = copy_rr(&ds.rr[0], rd);
	rd[bad.rdlen - 1] ^= 0x01;
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, ksigs.rr, ksigs.n, &bad, 1,
						  N(z), VEC_NOW, &b, &arena),
			 CN_DNSSEC_DNSKEY_MISSING);
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, ksigs.rr, ksigs.n, NULL, 0,
						  N(z), VEC_NOW, &b, &arena),
			 CN_DNSSEC_DNSKEY_MISSING);
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, 0, ksigs.rr, ksigs.n, ds.rr, 1, N(z),
						  VEC_NOW, &b, &arena),
			 CN_DNSSEC_DNSKEY_MISSING);
	/* a DS-trusted KSK whose RRSIG over the DNSKEY RRset is gone */
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, NULL, 0, ds.rr, 1, N(z),
						  VEC_NOW, &b, &arena),
			 CN_DNSSEC_RRSIGS_MISSING);
	/* a malformed RRSIG only */
	cn_rr_t ms = sigs.rr[0];
	ms.rdlen = 10;
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, &ms, 1, keys.rr, keys.n, N(z),
						VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_MALFORMED);
}
END_TEST

/* A revoked ZSK (RFC 5011) or one without the zone flag signs nothing. */
START_TEST(test_key_flags)
{
	const char *k = "alg15", *z = "alg15.example.";
	set_t rrs, sigs, keys;
	sel(&rrs, k, CN_TYPE_A, "www.alg15.example.");
	sigs_for(&sigs, k, CN_TYPE_A, "www.alg15.example.");
	sel(&keys, k, CN_TYPE_DNSKEY, z);
	cn_dnssec_budget_t b = budget();
	/* The key octets compensate the flag change so the tag stays: without the flag checks
	 * the signature would be tried (and fail: BOGUS); with them no key fits. */
	for (int flag = 0; flag < 2; flag++) {
		set_t rk = keys;
		uint8_t kd[RD_MAX];
		for (size_t i = 0; i < rk.n; i++) {
			if (cn_wire_get16(rk.rr[i].rdata) != 256)
				continue;
			cn_dnskey_t before, after;
			ck_assert_int_eq(cn_dnssec_parse_dnskey(rk.rr[i].rdata, rk.rr[i].rdlen,
								&before), 0);
			rk.rr[i] = copy_rr(&rk.rr[i], kd);
			size_t p = flag ? 5 : 4;
			if (flag) {
				kd[1] |= 0x80; /* REVOKE, +0x80 in an odd octet */
				while (kd[p] < 0x80)
					p += 2;
				kd[p] -= 0x80;
			} else {
				kd[0] = 0;     /* zone flag cleared, -1 in an even octet */
				while (kd[p] == 0xFF)
					p += 2;
				kd[p]++;
			}
			ck_assert_int_eq(cn_dnssec_parse_dnskey(kd, rk.rr[i].rdlen, &after), 0);
			ck_assert_uint_eq(after.tag, before.tag);
		}
		ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, rk.rr, rk.n,
							N(z), VEC_NOW, &b, &arena, NULL),
				 CN_DNSSEC_DNSKEY_MISSING);
	}
}
END_TEST

/* RFC 6840 5.2: unsupported digest or algorithm => insecure, each with its own result. */
START_TEST(test_unsupported)
{
	const char *k = "alg8", *z = "alg8.example.";
	set_t keys, ksigs, ds, rrs, sigs;
	sel(&keys, k, CN_TYPE_DNSKEY, z);
	sigs_for(&ksigs, k, CN_TYPE_DNSKEY, z);
	sel(&ds, "alg8_ds", CN_TYPE_DS, z);
	uint8_t rd[RD_MAX], rd2[RD_MAX];
	cn_dnssec_budget_t b = budget();
	cn_rr_t d = copy_rr(&ds.rr[0], rd);
	rd[3] = 1; /* SHA-1: not accepted */
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, ksigs.rr, ksigs.n, &d, 1, N(z),
						  VEC_NOW, &b, &arena),
			 CN_DNSSEC_UNSUPPORTED_DIGEST);
	/* insecure whatever the keys: even with no DNSKEY RRset at all */
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, 0, NULL, 0, &d, 1, N(z), VEC_NOW, &b,
						  &arena),
			 CN_DNSSEC_UNSUPPORTED_DIGEST);
	rd[3] = 2;
	rd[2] = 253; /* PRIVATEDNS */
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, ksigs.rr, ksigs.n, &d, 1, N(z),
						  VEC_NOW, &b, &arena),
			 CN_DNSSEC_UNSUPPORTED_ALG);
	/* one supported DS beside an unsupported one: the supported one decides */
	cn_rr_t two[2] = {d, ds.rr[1]};
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, ksigs.rr, ksigs.n, two, 2, N(z),
						  VEC_NOW, &b, &arena),
			 CN_DNSSEC_SECURE);
	ck_assert(!cn_dnssec_alg_supported(5));
	ck_assert(!cn_dnssec_alg_supported(12));
	ck_assert(!cn_dnssec_digest_supported(1));
	ck_assert(!cn_dnssec_digest_supported(3));
	/* an RRSIG of an algorithm cairn does not verify */
	sel(&rrs, k, CN_TYPE_A, "www.alg8.example.");
	sigs_for(&sigs, k, CN_TYPE_A, "www.alg8.example.");
	cn_rr_t s = copy_rr(&sigs.rr[0], rd2);
	rd2[2] = 5;
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, &s, 1, keys.rr, keys.n, N(z),
						VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_UNSUPPORTED_ALG);
	cn_rrsig_t ps;
	cn_dnskey_t pk;
	ck_assert_int_eq(cn_dnssec_parse_rrsig(s.rdata, s.rdlen, &ps), 0);
	ck_assert_int_eq(cn_dnssec_parse_dnskey(keys.rr[0].rdata, keys.rr[0].rdlen, &pk), 0);
	ck_assert_int_eq(cn_dnssec_verify_sig(&pk, &ps, (const uint8_t *)"x", 1),
			 CN_DNSSEC_UNSUPPORTED_ALG);
}
END_TEST

/* KeyTrap (CVE-2023-50387): many keys sharing the ZSK's tag. Each fake differs from the ZSK
 * in two modulus octets changed by +1 and -1, which keeps the key tag (a plain sum). */
START_TEST(test_keytrap_budget)
{
	const char *k = "alg8", *z = "alg8.example.";
	set_t rrs, sigs, keys;
	sel(&rrs, k, CN_TYPE_A, "www.alg8.example.");
	sigs_for(&sigs, k, CN_TYPE_A, "www.alg8.example.");
	sel(&keys, k, CN_TYPE_DNSKEY, z);
	cn_rr_t zsk = keys.rr[cn_wire_get16(keys.rr[0].rdata) == 256 ? 0 : 1];
	cn_dnskey_t real;
	ck_assert_int_eq(cn_dnssec_parse_dnskey(zsk.rdata, zsk.rdlen, &real), 0);
	enum { FAKES = 12 };
	static uint8_t fake[FAKES][RD_MAX];
	set_t trap = {0};
	for (int f = 0; f < FAKES; f++) {
		cn_rr_t r = copy_rr(&zsk, fake[f]);
		size_t i = 10 + 2 * (size_t)f, j = 100 + 2 * (size_t)f;
		while (fake[f][i] == 0xFF)
			i += 2;
		while (fake[f][j] == 0x00)
			j += 2;
		fake[f][i]++;
		fake[f][j]--;
		cn_dnskey_t pk;
		ck_assert_int_eq(cn_dnssec_parse_dnskey(r.rdata, r.rdlen, &pk), 0);
		ck_assert_uint_eq(pk.tag, real.tag);
		trap.rr[trap.n++] = r;
	}
	trap.rr[trap.n++] = zsk; /* the real key last: the worst order */
	cn_dnssec_budget_t b = budget();
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, trap.rr, trap.n,
						N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_BUDGET);
	ck_assert_uint_eq(b.sigs_done, CN_DNSSEC_SIGS_PER_RRSET);
	ck_assert_uint_eq(b.sig_left, CN_DNSSEC_SIGS_PER_REQUEST - CN_DNSSEC_SIGS_PER_RRSET);
	/* a larger per-RRset cap gets through, after trying every fake */
	b = budget();
	b.sig_per_rrset = FAKES + 1;
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, trap.rr, trap.n,
						N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_SECURE);
	ck_assert_uint_eq(b.sigs_done, FAKES + 1);
	/* the request's pool runs out first */
	b = budget();
	b.sig_per_rrset = 100;
	b.sig_left = 3;
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, trap.rr, trap.n,
						N(z), VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_BUDGET);
	ck_assert_uint_eq(b.sigs_done, 3);
	ck_assert_uint_eq(b.sig_left, 0);
	/* many RRSIGs with the tag and only fakes: bogus within the cap, never more work */
	b = budget();
	ck_assert_int_eq(cn_dnssec_verify_rrset(rrs.rr, rrs.n, sigs.rr, sigs.n, trap.rr, 4, N(z),
						VEC_NOW, &b, &arena, NULL),
			 CN_DNSSEC_BOGUS);
	ck_assert_uint_eq(b.sigs_done, 4);
}
END_TEST

/* The signed data laid out by hand for a small RRset (RFC 4034 3.1.8.1, 6.2, 6.3). */
START_TEST(test_signed_data_layout)
{
	static const uint8_t rrsig[] = {
		0, 1, 13, 2, 0, 0, 0x0e, 0x10,  /* A, alg 13, labels 2, original TTL 3600 */
		0, 0, 0, 2, 0, 0, 0, 1, 0x12, 0x34, /* expiration 2, inception 1, tag */
		2, 'E', 'x', 3, 'c', 'o', 'M', 0,   /* signer Ex.coM. */
		0xAA, 0xBB};                        /* signature */
	cn_rrsig_t s;
	ck_assert_int_eq(cn_dnssec_parse_rrsig(rrsig, sizeof(rrsig), &s), 0);
	ck_assert_uint_eq(s.head_len, 26);
	ck_assert_uint_eq(s.sig_len, 2);
	ck_assert_uint_eq(s.tag, 0x1234);
	const uint8_t a1[] = {192, 0, 2, 9}, a2[] = {10, 0, 0, 1};
	uint8_t owner[] = {1, 'X', 2, 'e', 'X', 3, 'C', 'o', 'm', 0};
	cn_rr_t rrs[3] = {
		{.owner = owner, .rdata = a1, .ttl = 5, .type = 1, .rclass = 1, .rdlen = 4},
		{.owner = owner, .rdata = a2, .ttl = 5, .type = 1, .rclass = 1, .rdlen = 4},
		{.owner = owner, .rdata = a1, .ttl = 5, .type = 1, .rclass = 1, .rdlen = 4},
	};
	uint8_t *d;
	size_t len;
	/* labels 2 < 3: signed as the wildcard *.ex.com */
	ck_assert_int_eq(cn_dnssec_signed_data(&s, rrs, 3, &arena, &d, &len), 0);
	static const uint8_t want_rr[] = {1, '*', 2, 'e', 'x', 3, 'c', 'o', 'm', 0,
					  0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4};
	ck_assert_uint_eq(len, 26 + 2 * (sizeof(want_rr) + 4));
	ck_assert_int_eq(memcmp(d + 18, "\2ex\3com", 8), 0); /* signer lowercased */
	ck_assert_int_eq(memcmp(d + 26, want_rr, sizeof(want_rr)), 0);
	ck_assert_int_eq(memcmp(d + 26 + sizeof(want_rr), a2, 4), 0); /* 10.0.0.1 first */
	ck_assert_int_eq(memcmp(d + 26 + 2 * sizeof(want_rr) + 4, a1, 4), 0);
	/* labels 3: the owner itself, lowercased */
	uint8_t r3[sizeof(rrsig)];
	memcpy(r3, rrsig, sizeof(rrsig));
	r3[3] = 3;
	ck_assert_int_eq(cn_dnssec_parse_rrsig(r3, sizeof(r3), &s), 0);
	ck_assert_int_eq(cn_dnssec_signed_data(&s, rrs, 1, &arena, &d, &len), 0);
	ck_assert_int_eq(memcmp(d + 26, "\1x\2ex\3com", 10), 0);
	r3[3] = 4; /* more labels than the owner has */
	ck_assert_int_eq(cn_dnssec_parse_rrsig(r3, sizeof(r3), &s), 0);
	ck_assert_int_eq(cn_dnssec_signed_data(&s, rrs, 1, &arena, &d, &len), CN_ERDATA);
	ck_assert_int_eq(cn_dnssec_signed_data(&s, rrs, 0, &arena, &d, &len), -EINVAL);
	/* canonical RDATA: SOA names lowercased, TXT untouched, NSEC's next name kept */
	static const uint8_t soa[] = {1, 'N', 0, 1, 'H', 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
				      0, 0, 0, 4, 0, 0, 0, 5};
	uint8_t out[64];
	ck_assert_int_eq(cn_dnssec_canonical_rdata(CN_TYPE_SOA, soa, sizeof(soa), out), 0);
	ck_assert_int_eq(out[1], 'n');
	ck_assert_int_eq(out[4], 'h');
	static const uint8_t txt[] = {2, 'A', 'B'};
	ck_assert_int_eq(cn_dnssec_canonical_rdata(CN_TYPE_TXT, txt, 3, out), 0);
	ck_assert_int_eq(out[1], 'A');
	static const uint8_t nsec[] = {1, 'A', 0, 0, 1, 0x40};
	ck_assert_int_eq(cn_dnssec_canonical_rdata(CN_TYPE_NSEC, nsec, sizeof(nsec), out), 0);
	ck_assert_int_eq(out[1], 'A');
	static const uint8_t kx[] = {0, 1, 1, 'K', 0};
	ck_assert_int_eq(cn_dnssec_canonical_rdata(36, kx, sizeof(kx), out), 0);
	ck_assert_int_eq(out[3], 'k');
	ck_assert_int_eq(cn_dnssec_canonical_rdata(CN_TYPE_SOA, soa, 5, out), CN_ERDATA);
}
END_TEST

START_TEST(test_parse_errors)
{
	cn_dnskey_t k;
	cn_ds_t d;
	cn_rrsig_t s;
	cn_nsec_t n;
	cn_nsec3_t n3;
	static const uint8_t shortbuf[4] = {1, 0, 3, 8};
	ck_assert_int_eq(cn_dnssec_parse_dnskey(shortbuf, 4, &k), CN_ERDATA);
	ck_assert_int_eq(cn_dnssec_parse_ds(shortbuf, 4, &d), CN_ERDATA);
	static const uint8_t nosig[19] = {0, 1, 13, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	ck_assert_int_eq(cn_dnssec_parse_rrsig(nosig, sizeof(nosig), &s), CN_ERDATA);
	static const uint8_t badname[20] = {0, 1, 13, 2, [18] = 5, 'a'};
	ck_assert_int_eq(cn_dnssec_parse_rrsig(badname, sizeof(badname), &s), CN_ERDATA);
	/* bitmaps: windows ascending, 1..32 octets, filling the RDATA exactly */
	static const uint8_t ok[] = {0, 0, 1, 0x40, 1, 1, 0x01};
	ck_assert_int_eq(cn_dnssec_parse_nsec(ok, sizeof(ok), &n), 0);
	ck_assert(cn_dnssec_bitmap_has(n.bitmap, n.bitmap_len, CN_TYPE_A));
	ck_assert(!cn_dnssec_bitmap_has(n.bitmap, n.bitmap_len, CN_TYPE_NS));
	ck_assert(cn_dnssec_bitmap_has(n.bitmap, n.bitmap_len, 263)); /* window 1, bit 7 */
	ck_assert(!cn_dnssec_bitmap_has(n.bitmap, n.bitmap_len, 0x8000));
	static const uint8_t down[] = {1, 1, 0x40, 0, 1, 0x40};
	static const uint8_t zero[] = {0, 0};
	static const uint8_t big[] = {0, 33};
	static const uint8_t over[] = {0, 3, 0x40};
	static const uint8_t odd[] = {0};
	ck_assert_int_eq(cn_dnssec_bitmap_check(down, sizeof(down)), CN_ERDATA);
	ck_assert_int_eq(cn_dnssec_bitmap_check(zero, sizeof(zero)), CN_ERDATA);
	ck_assert_int_eq(cn_dnssec_bitmap_check(big, sizeof(big)), CN_ERDATA);
	ck_assert_int_eq(cn_dnssec_bitmap_check(over, sizeof(over)), CN_ERDATA);
	ck_assert_int_eq(cn_dnssec_bitmap_check(odd, sizeof(odd)), CN_ERDATA);
	ck_assert_int_eq(cn_dnssec_bitmap_check(NULL, 0), 0);
	static const uint8_t n3ok[] = {1, 1, 0, 10, 2, 0xab, 0xcd, 1, 0x55, 0, 1, 0x02};
	ck_assert_int_eq(cn_dnssec_parse_nsec3(n3ok, sizeof(n3ok), &n3), 0);
	ck_assert_uint_eq(n3.iterations, 10);
	ck_assert_uint_eq(n3.salt_len, 2);
	ck_assert_uint_eq(n3.hash_len, 1);
	ck_assert(cn_dnssec_bitmap_has(n3.bitmap, n3.bitmap_len, CN_TYPE_SOA));
	static const uint8_t n3salt[] = {1, 0, 0, 0, 9, 1};
	static const uint8_t n3nohash[] = {1, 0, 0, 0, 0, 0};
	ck_assert_int_eq(cn_dnssec_parse_nsec3(n3salt, sizeof(n3salt), &n3), CN_ERDATA);
	ck_assert_int_eq(cn_dnssec_parse_nsec3(n3nohash, sizeof(n3nohash), &n3), CN_ERDATA);
	/* base32hex owner labels */
	uint8_t h[CN_NSEC3_HASH_LEN];
	ck_assert_int_eq(cn_nsec3_owner_hash(N("00000000.x."), h), 5);
	ck_assert_int_eq(cn_nsec3_owner_hash(N("0000000w.x."), h), -1);
	ck_assert_int_eq(cn_nsec3_owner_hash(N("abc.x."), h), -1);
	ck_assert_int_eq(cn_nsec3_hash(N("x."), 2, NULL, 0, 0, h), -EINVAL);
}
END_TEST

/* Every RRset the real signer signed verifies with the zone's keys. */
static void all_rrsets_secure(const char *kase, const char *zone)
{
	size_t checked = 0;
	for (size_t i = 0; i < VEC_COUNT; i++) {
		if (strcmp(vec_rrs[i].kase, kase) || g_rr[i].type != CN_TYPE_RRSIG)
			continue;
		uint16_t covered = cn_wire_get16(g_rr[i].rdata);
		ck_assert_int_eq(check_rrset(kase, zone, covered, vec_rrs[i].owner, VEC_NOW),
				 CN_DNSSEC_SECURE);
		checked++;
	}
	ck_assert_uint_ge(checked, 10);
	/* the DNSKEY RRset with the KSK as its own anchor */
	set_t keys, ksigs;
	sel(&keys, kase, CN_TYPE_DNSKEY, zone);
	sigs_for(&ksigs, kase, CN_TYPE_DNSKEY, zone);
	size_t ksk = cn_wire_get16(keys.rr[0].rdata) == 257 ? 0 : 1;
	cn_dnssec_budget_t b = budget();
	ck_assert_int_eq(cn_dnssec_verify_dnskeys(keys.rr, keys.n, ksigs.rr, ksigs.n,
						  &keys.rr[ksk], 1, N(zone), VEC_NOW, &b, &arena),
			 CN_DNSSEC_SECURE);
}

START_TEST(test_ldns_signed_zones)
{
	all_rrsets_secure("ldns13", "nsec.example.");
	all_rrsets_secure("ldns8", "nsec3.example.");
	all_rrsets_secure("ldns15", "optout.example.");
	/* the unsigned delegation's NS is not signed */
	set_t s;
	ck_assert_uint_eq(sigs_for(&s, "ldns13", CN_TYPE_NS, "sub.nsec.example.")->n, 0);
}
END_TEST

START_TEST(test_nsec_proofs)
{
	set_t all, part;
	sel(&all, "ldns13", CN_TYPE_NSEC, NULL);
	const uint8_t *z = Z("nsec.example.");
	uint8_t ce[CN_DNAME_MAX];
	ck_assert_int_eq(cn_nsec_prove_nxdomain(all.rr, all.n, N("nope.nsec.example."), z, ce),
			 CN_DNSSEC_SECURE);
	ck_assert(cn_dname_eq(ce, z));
	/* nope is covered by b.c's NSEC, *.nsec.example by the apex's: one alone is not proof */
	sel(&part, "ldns13", CN_TYPE_NSEC, "b.c.nsec.example.");
	ck_assert_int_eq(cn_nsec_prove_nxdomain(part.rr, part.n, N("nope.nsec.example."), z, NULL),
			 CN_DNSSEC_NSEC_MISSING);
	sel(&part, "ldns13", CN_TYPE_NSEC, "nsec.example.");
	ck_assert_int_eq(cn_nsec_prove_nxdomain(part.rr, part.n, N("nope.nsec.example."), z, NULL),
			 CN_DNSSEC_NSEC_MISSING);
	/* an existing name, and a name below a delegation (the parent cannot deny it) */
	ck_assert_int_eq(cn_nsec_prove_nxdomain(all.rr, all.n, N("www.nsec.example."), z, NULL),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec_prove_nxdomain(all.rr, all.n, N("x.sub.nsec.example."), z, NULL),
			 CN_DNSSEC_NSEC_MISSING);
	/* a name that a wildcard covers: no NXDOMAIN */
	ck_assert_int_eq(cn_nsec_prove_nxdomain(all.rr, all.n, N("x.wild.nsec.example."), z, NULL),
			 CN_DNSSEC_NSEC_MISSING);
	/* NODATA: plain, empty non-terminal, wildcard; and the types that do exist */
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("www.nsec.example."), CN_TYPE_TXT, z),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("www.nsec.example."), CN_TYPE_A, z),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("c.nsec.example."), CN_TYPE_A, z),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("x.wild.nsec.example."),
					      CN_TYPE_TXT, z),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("x.wild.nsec.example."),
					      CN_TYPE_A, z),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("nope.nsec.example."), CN_TYPE_A, z),
			 CN_DNSSEC_NSEC_MISSING);
	/* at the delegation: DS is denied by the parent's NSEC, other types are not */
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("sub.nsec.example."), CN_TYPE_DS, z),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("sub.nsec.example."), CN_TYPE_A, z),
			 CN_DNSSEC_NSEC_MISSING);
	/* the apex NSEC has SOA: it cannot deny the zone's own DS (that is the parent's) */
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, z, CN_TYPE_DS, z),
			 CN_DNSSEC_NSEC_MISSING);
	/* wildcard answer proof (the A RRSIG at *.wild has labels 3) */
	ck_assert_int_eq(cn_nsec_prove_wildcard(all.rr, all.n, N("x.wild.nsec.example."), 3),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec_prove_wildcard(part.rr, part.n, N("x.wild.nsec.example."), 3),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec_prove_wildcard(all.rr, all.n, N("www.nsec.example."), 2),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec_prove_wildcard(all.rr, all.n, N("x.wild.nsec.example."), 4),
			 CN_DNSSEC_NSEC_MISSING);
	/* the zone's last NSEC (www -> apex) covers everything after www: not names of
	 * other zones */
	ck_assert_int_eq(cn_nsec_prove_nxdomain(all.rr, all.n, N("zzz.example."), z, NULL),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec_prove_nodata(all.rr, all.n, N("zzz.example."), CN_TYPE_A, z),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec_prove_nxdomain(all.rr, all.n, N("zzz.nsec.example."), z, NULL),
			 CN_DNSSEC_SECURE);
	/* insecure delegation */
	ck_assert_int_eq(cn_nsec_prove_no_ds(all.rr, all.n, N("sub.nsec.example.")),
			 CN_DNSSEC_INSECURE);
	ck_assert_int_eq(cn_nsec_prove_no_ds(all.rr, all.n, N("www.nsec.example.")),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec_prove_no_ds(all.rr, all.n, N("nope.nsec.example.")),
			 CN_DNSSEC_NSEC_MISSING);
}
END_TEST

/* cn_nsec_covers on hand-made ranges, including the zone's last NSEC wrapping around. */
START_TEST(test_nsec_covers)
{
	uint8_t rd[CN_DNAME_MAX + 4];
	cn_nsec_t n;
	size_t l = cn_dname_copy(rd, N("d.example."));
	rd[l] = 0;
	rd[l + 1] = 1;
	rd[l + 2] = 0x40;
	ck_assert_int_eq(cn_dnssec_parse_nsec(rd, l + 3, &n), 0);
	const uint8_t *b = N("b.example.");
	ck_assert(cn_nsec_covers(b, &n, N("c.example.")));
	ck_assert(cn_nsec_covers(b, &n, N("x.b.example.")));
	ck_assert(!cn_nsec_covers(b, &n, N("b.example.")));
	ck_assert(!cn_nsec_covers(b, &n, N("d.example.")));
	ck_assert(!cn_nsec_covers(b, &n, N("a.example.")));
	/* last NSEC: z.example. -> example. */
	l = cn_dname_copy(rd, N("example."));
	rd[l] = 0;
	rd[l + 1] = 1;
	rd[l + 2] = 0x40;
	ck_assert_int_eq(cn_dnssec_parse_nsec(rd, l + 3, &n), 0);
	ck_assert(cn_nsec_covers(N("z.example."), &n, N("zz.example.")));
	ck_assert(cn_nsec_covers(N("z.example."), &n, N("a.z.example.")));
	ck_assert(!cn_nsec_covers(N("z.example."), &n, N("y.example.")));
}
END_TEST

static void hash_vectors(const char *kase, const char *zone)
{
	char hc[32];
	snprintf(hc, sizeof(hc), "%s_hash", kase);
	set_t p;
	sel(&p, kase, CN_TYPE_NSEC3PARAM, zone);
	ck_assert_uint_eq(p.n, 1);
	const uint8_t *prm = p.rr[0].rdata;
	size_t done = 0;
	for (size_t i = 0; i < VEC_COUNT; i++) {
		if (strcmp(vec_rrs[i].kase, hc))
			continue;
		uint8_t label[64] = {32}, want[CN_NSEC3_HASH_LEN], got[CN_NSEC3_HASH_LEN];
		memcpy(label + 1, vec_rrs[i].hex, 32);
		ck_assert_int_eq(cn_nsec3_owner_hash(label, want), CN_NSEC3_HASH_LEN);
		ck_assert_uint_eq(cn_wire_get16(prm + 2), vec_rrs[i].ttl);
		ck_assert_int_eq(cn_nsec3_hash(g_owner[i], prm[0], prm + 5, prm[4],
					       cn_wire_get16(prm + 2), got), 0);
		ck_assert_int_eq(memcmp(got, want, CN_NSEC3_HASH_LEN), 0);
		done++;
	}
	ck_assert_uint_eq(done, 9);
}

START_TEST(test_nsec3_proofs)
{
	hash_vectors("ldns8", "nsec3.example.");
	hash_vectors("ldns15", "optout.example.");
	set_t all;
	sel(&all, "ldns8", CN_TYPE_NSEC3, NULL);
	const uint8_t *z = Z("nsec3.example.");
	cn_dnssec_budget_t b = budget();
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, N("nope.nsec3.example."), z, &b),
			 CN_DNSSEC_SECURE);
	ck_assert_uint_eq(b.hashes_done, 4); /* nope, apex (ce), nope (next closer), *.apex */
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, N("www.nsec3.example."), z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, N("a.x.wild.nsec3.example."), z,
						 &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, N("x.sub.nsec3.example."), z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("www.nsec3.example."), CN_TYPE_TXT,
					       z, &b),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("www.nsec3.example."), CN_TYPE_A,
					       z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("c.nsec3.example."), CN_TYPE_A, z,
					       &b),
			 CN_DNSSEC_SECURE); /* the empty non-terminal has its own NSEC3 */
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("x.wild.nsec3.example."),
					       CN_TYPE_TXT, z, &b),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("x.wild.nsec3.example."),
					       CN_TYPE_A, z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("sub.nsec3.example."), CN_TYPE_DS,
					       z, &b),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("sub.nsec3.example."), CN_TYPE_A,
					       z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_wildcard(all.rr, all.n, N("x.wild.nsec3.example."), 3, z,
						 &b),
			 CN_DNSSEC_SECURE);
	ck_assert_int_eq(cn_nsec3_prove_wildcard(all.rr, all.n, N("www.nsec3.example."), 2, z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_no_ds(all.rr, all.n, N("sub.nsec3.example."), z, &b),
			 CN_DNSSEC_INSECURE);
	ck_assert_int_eq(cn_nsec3_prove_no_ds(all.rr, all.n, N("www.nsec3.example."), z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	/* names outside the zone: no proof, and no hash spent on them */
	b = budget();
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, N("nope.other.example."), z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("x.org."), CN_TYPE_A, z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_uint_eq(b.hashes_done, 0);
	/* NSEC3 records of another zone are not used */
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, N("nope.nsec3.example."),
						 N("example."), &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(NULL, 0, N("nope.nsec3.example."), z, &b),
			 CN_DNSSEC_NSEC_MISSING);
}
END_TEST

/* RFC 9276 iteration caps and the hash budget (CVE-2023-50868). */
START_TEST(test_nsec3_limits)
{
	set_t all;
	sel(&all, "ldns8", CN_TYPE_NSEC3, NULL); /* 5 iterations */
	const uint8_t *z = Z("nsec3.example."), *q = Z("nope.nsec3.example.");
	cn_dnssec_budget_t b = budget();
	b.nsec3_iter_insecure = 4;
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, q, z, &b),
			 CN_DNSSEC_NSEC3_ITERATIONS);
	ck_assert_int_eq(cn_dnssec_result_state(CN_DNSSEC_NSEC3_ITERATIONS),
			 CN_DNSSEC_STATE_INSECURE);
	b.nsec3_iter_bogus = 4;
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, q, z, &b), CN_DNSSEC_BOGUS);
	ck_assert_uint_eq(b.hashes_done, 0); /* refused before any hashing */
	b = budget();
	b.hash_left = 2;
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, q, z, &b), CN_DNSSEC_BUDGET);
	ck_assert_uint_eq(b.hashes_done, 2);
	/* a long name costs one hash per label up to the closest encloser, within the budget */
	b = budget();
	b.hash_left = 5;
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n,
						 N("a.b.c.d.e.f.g.h.nope.nsec3.example."), z, &b),
			 CN_DNSSEC_BUDGET);
	ck_assert_uint_eq(b.hashes_done, 5);
}
END_TEST

START_TEST(test_nsec3_optout)
{
	set_t all;
	sel(&all, "ldns15", CN_TYPE_NSEC3, NULL);
	const uint8_t *z = Z("optout.example.");
	cn_dnssec_budget_t b = budget();
	/* ldns-signzone -p keeps an NSEC3 for the unsigned delegation sub (NS, no DS): */
	ck_assert_int_eq(cn_nsec3_prove_no_ds(all.rr, all.n, N("sub.optout.example."), z, &b),
			 CN_DNSSEC_INSECURE);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("sub.optout.example."),
					       CN_TYPE_DS, z, &b),
			 CN_DNSSEC_SECURE);
	/* a name without NSEC3 lies in an opt-out span: it could be an unsigned delegation */
	ck_assert_int_eq(cn_nsec3_prove_no_ds(all.rr, all.n, N("other.optout.example."), z, &b),
			 CN_DNSSEC_INSECURE);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("other.optout.example."),
					       CN_TYPE_DS, z, &b),
			 CN_DNSSEC_INSECURE);
	/* inside an opt-out span a name error is not proven secure */
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, N("nope.optout.example."), z, &b),
			 CN_DNSSEC_INSECURE);
	ck_assert_int_eq(cn_nsec3_prove_nodata(all.rr, all.n, N("www.optout.example."),
					       CN_TYPE_TXT, z, &b),
			 CN_DNSSEC_SECURE);
	/* the same records with opt-out cleared prove nothing about sub */
	static uint8_t rd[SET_MAX][RD_MAX];
	for (size_t i = 0; i < all.n; i++) {
		all.rr[i] = copy_rr(&all.rr[i], rd[i]);
		rd[i][1] = 0;
	}
	ck_assert_int_eq(cn_nsec3_prove_no_ds(all.rr, all.n, N("other.optout.example."), z, &b),
			 CN_DNSSEC_NSEC_MISSING);
	ck_assert_int_eq(cn_nsec3_prove_nxdomain(all.rr, all.n, N("nope.optout.example."), z, &b),
			 CN_DNSSEC_SECURE);
}
END_TEST

START_TEST(test_anchor_parse)
{
	cn_anchor_set_t set = {0};
	char err[256];
	ck_assert_int_eq(cn_anchor_set_add(&set, "example. IN A 192.0.2.1", NULL, "cfg", err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "cfg:1: a trust anchor must be a DS or DNSKEY record");
	ck_assert_int_eq(cn_anchor_set_add(&set, "example. IN DNSKEY 0 3 8 AwEAAQ==", NULL, "cfg",
					   err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "zone key flag"));
	ck_assert_int_eq(cn_anchor_set_add(&set, "example. IN DS 1 8 2 zz", NULL, "cfg", err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "cfg:1: "));
	ck_assert_int_eq(cn_anchor_set_add(&set, "example. CH DS 1 8 2 00", NULL, "cfg", err,
					   sizeof(err)),
			 -EINVAL);
	/* a good line then a bad one: nothing is added */
	ck_assert_int_eq(cn_anchor_set_add(&set, "a. DS 1 8 2 00\nb. IN MX 1 x.\n", NULL, "cfg",
					   err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "cfg:2: a trust anchor must be a DS or DNSKEY record");
	ck_assert_uint_eq(set.n, 0);
	ck_assert_int_eq(cn_anchor_set_builtin(&set), 0);
	ck_assert_int_eq(cn_anchor_set_add(&set, "example. 3600 IN DS 1 13 2 0011\n"
						 "Example. DNSKEY 257 3 13 AAAA\n",
					   NULL, "cfg", err, sizeof(err)),
			 0);
	ck_assert_uint_eq(set.n, 4);
	/* a file (trust_anchor_file:) */
	char path[] = "/tmp/cairn-test-anchors-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	const char *text = "; comment\n$ORIGIN org.\n@ IN DS 2 8 4 "
			   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
			   "00112233445566778899aabbccddeeff\n";
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(cn_anchor_set_add(&set, NULL, path, "file", err, sizeof(err)), 0);
	unlink(path);
	ck_assert_uint_eq(set.n, 5);
	ck_assert_int_eq(cn_anchor_set_add(&set, NULL, "/nonexistent/x", "file", err, sizeof(err)),
			 -EINVAL);
	/* the closest enclosing anchored zone */
	cn_rr_t out[8];
	const uint8_t *zone = NULL;
	ck_assert_uint_eq(cn_anchor_set_find(&set, N("www.EXAMPLE."), out, 8, &zone), 2);
	ck_assert(cn_dname_eq(zone, N("example.")));
	ck_assert_uint_eq(out[0].type, CN_TYPE_DS);
	ck_assert_uint_eq(out[1].type, CN_TYPE_DNSKEY);
	ck_assert_uint_eq(cn_anchor_set_find(&set, N("a.org."), out, 8, &zone), 1);
	ck_assert_uint_eq(out[0].rdlen, 4 + 48);
	ck_assert_uint_eq(cn_anchor_set_find(&set, N("net."), out, 8, &zone), 2);
	ck_assert(cn_dname_eq(zone, N(".")));
	ck_assert_uint_eq(cn_anchor_set_find(&set, N("net."), out, 1, &zone), 1);
	cn_anchor_set_free(&set);
	ck_assert_uint_eq(cn_anchor_set_find(&set, N("net."), out, 8, &zone), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dnssec");
	TCase *tc = tcase_create("dnssec");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_result_table);
	tcase_add_test(tc, test_root_anchor);
	tcase_add_loop_test(tc, test_alg_secure, 0, 6);
	tcase_add_loop_test(tc, test_alg_case_folding, 0, 6);
	tcase_add_loop_test(tc, test_alg_wildcard, 0, 6);
	tcase_add_loop_test(tc, test_alg_tampered, 0, 6);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_key_flags);
	tcase_add_test(tc, test_unsupported);
	tcase_add_test(tc, test_keytrap_budget);
	tcase_add_test(tc, test_signed_data_layout);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_ldns_signed_zones);
	tcase_add_test(tc, test_nsec_proofs);
	tcase_add_test(tc, test_nsec_covers);
	tcase_add_test(tc, test_nsec3_proofs);
	tcase_add_test(tc, test_nsec3_limits);
	tcase_add_test(tc, test_nsec3_optout);
	tcase_add_test(tc, test_anchor_parse);
	suite_add_tcase(s, tc);
	return cn_test_run(s);
}
