/*
 * Unit tests for resolver/answer.c, the one assembly path for client answers:
 *   - the cache value format (encode / decode, malformed values refused);
 *   - cn__answer_from_cache: TTLs decremented on a fake wall clock, CNAME chains followed
 *     through the cache up to the limit, CNAMEs synthesised from a cached DNAME (RFC 6672
 *     3.4: once per chain, YXDOMAIN on overflow, not from glue, probes not counted), NODATA / NXDOMAIN with their SOA, RFC 8020 (an
 *     NXDOMAIN above the name), glue never answering, stale entries only when asked for,
 *     the miss reason, and corrupt values or short buffers giving a miss, not a crash;
 *   - cn__answer_write / cn__answer_error: flags (QR, RA, RD/CD/opcode echoed, AA only
 *     for hosted data), the question echoed in the client's case, EDNS and EDE only for
 *     clients that sent OPT, the extended RCODE, and TC=1 with header + question (+ OPT)
 *     when the reply does not fit the client's limit or the caller's buffer.
 * Replies are read back with cn_msg_parse and, for the header, byte by byte.
 *
 * Regression: with a buffer smaller than a DNS header (cap < 12), cn__answer_write and
 * cn__answer_error used to write past cap (cn_writer_init failed, then cn_writer_set_flags
 * and cn_writer_finish still wrote the header): test_tiny_cap.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resolver/errors.h"
#include "resolver/internal.h"
#include "tests/unit/unit.h"

static cn_cache_t *cache;
static const uint64_t T0 = 1700000000;
static uint8_t scratch[CN_VALUE_MAX * 2];
static cn_rr_t an[64];
static cn_arena_t arena;

static void setup(void)
{
	cn_cache_conf_t cc = { .budget_bytes = 1 << 20, .stale_window_s = 86400 };
	ck_assert_int_eq(cn_cache_new(&cc, &cache), 0);
	cn_arena_init(&arena, 4096);
}

static void teardown(void)
{
	cn_cache_free(cache);
	cache = NULL;
	cn_arena_deinit(&arena);
}

#define N cn_test_name

static const char *S(const uint8_t *name)
{
	static char bufs[4][CN_DNAME_STR_MAX];
	static int next;
	char *b = bufs[next++ % 4];
	ck_assert_int_ge(cn_dname_to_str(name, b, CN_DNAME_STR_MAX), 0);
	return b;
}

/* Cache an RRset of n records, each rdata given as (bytes, len). */
static void put_rrset(const char *owner, uint16_t type, uint32_t ttl, cn_rank_t rank,
		      const uint8_t *const *rdata, const uint16_t *rdlen, size_t n)
{
	cn_rr_t rrs[64];
	const cn_rr_t *p[64];
	ck_assert_uint_le(n, 64);
	for (size_t i = 0; i < n; i++) {
		rrs[i] = (cn_rr_t){ .rdata = rdata[i], .rdlen = rdlen[i] };
		p[i] = &rrs[i];
	}
	uint8_t val[8192];
	int len = cn__value_encode_rrset(p, n, val, sizeof(val));
	ck_assert_int_gt(len, 0);
	uint8_t key[CN_DNAME_MAX];
	size_t klen;
	ck_assert_int_eq(cn_dname_from_str(owner, key, &klen), 0);
	cn_dname_lower(key);
	ck_assert_int_eq(cn_cache_insert(cache, key, klen, type, CN_CLASS_IN, CN_CACHE_RRSET, rank,
					 ttl, T0, val, (size_t)len),
			 0);
}

static void put_a(const char *owner, uint32_t ttl, const char *ip)
{
	uint8_t a[4];
	ck_assert_int_eq(inet_pton(AF_INET, ip, a), 1);
	const uint8_t *r[] = { a };
	uint16_t l[] = { 4 };
	put_rrset(owner, CN_TYPE_A, ttl, CN_RANK_AUTH_ANSWER, r, l, 1);
}

static void put_cname(const char *owner, uint32_t ttl, const char *target)
{
	uint8_t t[CN_DNAME_MAX];
	size_t tl;
	ck_assert_int_eq(cn_dname_from_str(target, t, &tl), 0);
	const uint8_t *r[] = { t };
	uint16_t l[] = { (uint16_t)tl };
	put_rrset(owner, CN_TYPE_CNAME, ttl, CN_RANK_AUTH_ANSWER, r, l, 1);
}

static const uint8_t soa_rdata[] = { 2, 'n', 's', 0, 4, 'h', 'o', 's', 't', 0,
				     0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10,
				     0, 0x09, 0x3a, 0x80, 0, 0, 0, 60 };

/* Cache a negative entry (NODATA at (owner, type), or NXDOMAIN at owner) with the SOA. */
static void put_neg(const char *owner, cn_cache_kind_t kind, uint16_t type, uint32_t ttl,
		    const char *soa_owner)
{
	cn_rr_t soa = { .owner = N(soa_owner), .rdata = soa_rdata, .rdlen = sizeof(soa_rdata),
			.type = CN_TYPE_SOA, .rclass = CN_CLASS_IN };
	uint8_t val[512];
	int len = cn__value_encode_neg(&soa, val, sizeof(val));
	ck_assert_int_gt(len, 0);
	uint8_t key[CN_DNAME_MAX];
	size_t klen;
	ck_assert_int_eq(cn_dname_from_str(owner, key, &klen), 0);
	cn_dname_lower(key);
	ck_assert_int_eq(cn_cache_insert(cache, key, klen,
					 kind == CN_CACHE_NXDOMAIN ? CN_CACHE_TYPE_NXDOMAIN : type,
					 CN_CLASS_IN, kind, CN_RANK_AUTH_AUTHORITY, ttl, T0, val,
					 (size_t)len),
			 0);
}

typedef struct lookup_out {
	int ret;
	cn_result_t res;
	bool stale;
	uint32_t min_left, min_orig;
	cn_cache_miss_t miss;
} lookup_out_t;

static lookup_out_t from_cache(const char *qname, uint16_t qtype, uint64_t now,
			       unsigned flags, unsigned limit)
{
	lookup_out_t o;
	memset(&o, 0, sizeof(o));
	o.res.an = an;
	o.res.an_cap = sizeof(an) / sizeof(an[0]);
	o.ret = cn__answer_from_cache(cache, N(qname), qtype, now, flags, limit, scratch,
				      sizeof(scratch), &o.res, &o.stale, &o.min_left, &o.min_orig,
				      &o.miss);
	return o;
}

static void question(const char *name, uint16_t type, bool edns, cn_question_t *q)
{
	memset(q, 0, sizeof(*q));
	q->id = 0xBEEF;
	q->flags = CN_FLAG_RD;
	ck_assert_int_eq(cn_dname_from_str(name, q->qname, &q->qname_len), 0);
	q->qtype = type;
	q->qclass = CN_CLASS_IN;
	q->edns = edns;
	q->udp_size = edns ? 1232 : 512;
}

static uint16_t hdr16(const uint8_t *p, int off)
{
	return (uint16_t)(p[off] << 8 | p[off + 1]);
}

static void parse(const uint8_t *wire, size_t len, cn_msg_t *m)
{
	cn_arena_reset(&arena);
	ck_assert_int_eq(cn_msg_parse(wire, len, &arena, m), 0);
}

/* ------------------------------------------------------------------ DNSSEC --------- */

static const uint8_t fake_sig[] = { 0, 1, 13, 3, 0, 0, 0x0e, 0x10, 0x7f, 0, 0, 0, 0x60, 0, 0, 0,
				    0x12, 0x34, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't',
				    'e', 's', 't', 0, 0xAA, 0xBB };

/* An A RRset at owner with one RRSIG and the given state in its DNSSEC trailer. */
static void put_a_sec(const char *owner, const char *ip, uint8_t state, bool with_sig)
{
	uint8_t a[4], key[CN_DNAME_MAX], val[512];
	size_t klen, len;
	ck_assert_int_eq(inet_pton(AF_INET, ip, a), 1);
	ck_assert_int_eq(cn_dname_from_str(owner, key, &klen), 0);
	cn_rr_t rr = { .owner = key, .rdata = a, .rdlen = 4, .type = CN_TYPE_A };
	cn_rr_t sig = { .owner = key, .rdata = fake_sig, .rdlen = sizeof(fake_sig),
			.type = CN_TYPE_RRSIG, .section = CN_SECTION_ANSWER };
	const cn_rr_t *p[1] = { &rr }, *x[1] = { &sig };
	int body = cn__value_encode_rrset(p, 1, val, sizeof(val));
	ck_assert_int_gt(body, 0);
	ck_assert_int_eq(cn__value_add_trailer(val, (size_t)body, sizeof(val), state, x,
					       with_sig ? 1 : 0, &len), 0);
	cn_dname_lower(key);
	ck_assert_int_eq(cn_cache_insert(cache, key, klen, CN_TYPE_A, CN_CLASS_IN, CN_CACHE_RRSET,
					 CN_RANK_AUTH_ANSWER, 300, T0, val, len), 0);
}

START_TEST(test_value_trailer)
{
	uint8_t a[4] = { 192, 0, 2, 1 }, val[256];
	cn_rr_t rr = { .owner = N("www.example.test."), .rdata = a, .rdlen = 4,
		       .type = CN_TYPE_A };
	cn_rr_t sig = { .owner = rr.owner, .rdata = fake_sig, .rdlen = sizeof(fake_sig),
			.type = CN_TYPE_RRSIG, .section = CN_SECTION_ANSWER };
	const cn_rr_t *p[1] = { &rr }, *x[1] = { &sig };
	int body = cn__value_encode_rrset(p, 1, val, sizeof(val));
	size_t len;
	ck_assert_int_eq(cn__value_add_trailer(val, (size_t)body, sizeof(val),
					       CN_DNSSEC_STATE_SECURE, x, 1, &len), 0);
	ck_assert_uint_gt(len, (size_t)body);
	/* the records decode as before; the trailer after them */
	cn_rdata_ref_t refs[4];
	size_t n, bl, nx;
	ck_assert_int_eq(cn__value_decode_rrset(val, len, refs, 4, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(cn__value_body_len(val, len, true, &bl), 0);
	ck_assert_uint_eq(bl, (size_t)body);
	uint8_t state;
	cn_rr_t out[2];
	ck_assert_int_eq(cn__value_trailer(val, len, bl, &state, out, 2, &nx), 0);
	ck_assert_uint_eq(state, CN_DNSSEC_STATE_SECURE);
	ck_assert_uint_eq(nx, 1);
	ck_assert_uint_eq(out[0].type, CN_TYPE_RRSIG);
	ck_assert_uint_eq(out[0].section, CN_SECTION_ANSWER);
	ck_assert(cn_dname_eq(out[0].owner, rr.owner));
	ck_assert_mem_eq(out[0].rdata, fake_sig, sizeof(fake_sig));
	/* a broken trailer makes the value malformed: every cut, and a bad state */
	for (size_t cut = (size_t)body + 1; cut < len; cut++)
		ck_assert_int_eq(cn__value_decode_rrset(val, cut, refs, 4, &n), CN_EMALF);
	val[body] = 9;
	ck_assert_int_eq(cn__value_decode_rrset(val, len, refs, 4, &n), CN_EMALF);
	/* nothing is appended for state 0 without records (old values stay as they were) */
	ck_assert_int_eq(cn__value_add_trailer(val, (size_t)body, sizeof(val), 0, NULL, 0, &len),
			 0);
	ck_assert_uint_eq(len, (size_t)body);
	/* a negative value with a trailer */
	cn_rr_t soa = { .owner = N("example.test."), .rdata = soa_rdata,
			.rdlen = sizeof(soa_rdata), .type = CN_TYPE_SOA };
	body = cn__value_encode_neg(&soa, val, sizeof(val));
	ck_assert_int_eq(cn__value_add_trailer(val, (size_t)body, sizeof(val),
					       CN_DNSSEC_STATE_INSECURE, x, 1, &len), 0);
	const uint8_t *owner, *rdata;
	uint16_t rdlen;
	ck_assert_int_eq(cn__value_decode_neg(val, len, &owner, &rdata, &rdlen), 0);
	ck_assert_uint_eq(rdlen, sizeof(soa_rdata));
	ck_assert_int_eq(cn__value_body_len(val, len, false, &bl), 0);
	ck_assert_int_eq(cn__value_trailer(val, len, bl, &state, out, 2, &nx), 0);
	ck_assert_uint_eq(state, CN_DNSSEC_STATE_INSECURE);
	ck_assert_int_eq(cn__value_decode_neg(val, len - 1, &owner, &rdata, &rdlen), CN_EMALF);
}
END_TEST

START_TEST(test_validated_lookups_and_ad)
{
	static cn_rr_t sec[8];
	put_a_sec("www.example.test.", "192.0.2.1", CN_DNSSEC_STATE_SECURE, true);
	put_a("raw.example.test.", 300, "192.0.2.2"); /* never validated */
	put_cname("alias.example.test.", 300, "ins.example.test.");
	put_a_sec("ins.example.test.", "192.0.2.3", CN_DNSSEC_STATE_INSECURE, false);

	lookup_out_t o;
	memset(&o, 0, sizeof(o));
	o.res.an = an;
	o.res.an_cap = 64;
	o.res.sec = sec;
	o.res.sec_cap = 8;
	ck_assert_int_eq(cn__answer_from_cache(cache, N("www.example.test."), CN_TYPE_A, T0 + 1,
					       CN_ANSWER_VALIDATED, 11, scratch, sizeof(scratch),
					       &o.res, &o.stale, &o.min_left, &o.min_orig,
					       &o.miss), 0);
	ck_assert_uint_eq(o.res.dnssec, CN_DNSSEC_STATE_SECURE);
	ck_assert_uint_eq(o.res.nsec, 1);
	ck_assert_uint_eq(o.res.sec[0].ttl, 299);

	/* the client's flags decide AD and the RRSIGs (RFC 6840 5.7, RFC 4035 3.2.1) */
	cn_question_t q;
	cn_msg_t m;
	uint8_t out[1232];
	question("www.example.test.", CN_TYPE_A, true, &q);
	parse(out, cn__answer_write(&q, &o.res, 1232, out, sizeof(out)), &m);
	ck_assert(!(m.flags & CN_FLAG_AD));
	ck_assert_uint_eq(m.ancount, 1);
	q.do_bit = true;
	parse(out, cn__answer_write(&q, &o.res, 1232, out, sizeof(out)), &m);
	ck_assert(m.flags & CN_FLAG_AD);
	ck_assert_uint_eq(m.ancount, 2);
	ck_assert_uint_eq(m.rrs[1].type, CN_TYPE_RRSIG);
	q.do_bit = false;
	q.flags |= CN_FLAG_AD;
	parse(out, cn__answer_write(&q, &o.res, 1232, out, sizeof(out)), &m);
	ck_assert(m.flags & CN_FLAG_AD);
	ck_assert_uint_eq(m.ancount, 1);
	o.res.aa = true; /* hosted data never carries AD */
	parse(out, cn__answer_write(&q, &o.res, 1232, out, sizeof(out)), &m);
	ck_assert(!(m.flags & CN_FLAG_AD));

	/* unvalidated data is a miss for validated lookups, a hit without state otherwise */
	o = from_cache("raw.example.test.", CN_TYPE_A, T0 + 1, CN_ANSWER_VALIDATED, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	o = from_cache("raw.example.test.", CN_TYPE_A, T0 + 1, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.dnssec, CN_DNSSEC_STATE_INDETERMINATE);
	/* a chain is as secure as its weakest part: the unvalidated CNAME makes it a miss */
	o = from_cache("alias.example.test.", CN_TYPE_A, T0 + 1, CN_ANSWER_VALIDATED, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	{
		uint8_t t[CN_DNAME_MAX], key[CN_DNAME_MAX], val[512];
		size_t tl, kl, len;
		ck_assert_int_eq(cn_dname_from_str("ins.example.test.", t, &tl), 0);
		ck_assert_int_eq(cn_dname_from_str("alias.example.test.", key, &kl), 0);
		cn_rr_t c = { .owner = key, .rdata = t, .rdlen = (uint16_t)tl,
			      .type = CN_TYPE_CNAME };
		const cn_rr_t *p[1] = { &c };
		int body = cn__value_encode_rrset(p, 1, val, sizeof(val));
		ck_assert_int_eq(cn__value_add_trailer(val, (size_t)body, sizeof(val),
						       CN_DNSSEC_STATE_SECURE, NULL, 0, &len), 0);
		ck_assert_int_eq(cn_cache_insert(cache, key, kl, CN_TYPE_CNAME, CN_CLASS_IN,
						 CN_CACHE_RRSET, CN_RANK_AUTH_ANSWER, 300, T0, val,
						 len), 0);
	}
	o = from_cache("alias.example.test.", CN_TYPE_A, T0 + 1, CN_ANSWER_VALIDATED, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.nan, 2);
	ck_assert_uint_eq(o.res.dnssec, CN_DNSSEC_STATE_INSECURE); /* secure CNAME, insecure A */
}
END_TEST

/* ------------------------------------------------------------------ value format ---- */

START_TEST(test_value_rrset)
{
	uint8_t r1[] = { 1, 2, 3, 4 }, r2[] = { 9 }, val[64];
	cn_rr_t a = { .rdata = r1, .rdlen = 4 }, b = { .rdata = r2, .rdlen = 1 },
		e = { .rdata = r2, .rdlen = 0 };
	const cn_rr_t *p[] = { &a, &b, &e };
	int len = cn__value_encode_rrset(p, 3, val, sizeof(val));
	/* count, then (rdlen, rdata) per record */
	static const uint8_t want[] = { 0, 3, 0, 4, 1, 2, 3, 4, 0, 1, 9, 0, 0 };
	ck_assert_int_eq(len, sizeof(want));
	ck_assert_mem_eq(val, want, sizeof(want));
	cn_rdata_ref_t refs[4];
	size_t n = 99;
	ck_assert_int_eq(cn__value_decode_rrset(val, (size_t)len, refs, 4, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(refs[0].rdlen, 4);
	ck_assert_mem_eq(refs[0].rdata, r1, 4);
	ck_assert_uint_eq(refs[1].rdlen, 1);
	ck_assert_uint_eq(refs[2].rdlen, 0);
	/* more records than room: an error, unless the first ones will do */
	ck_assert_int_eq(cn__value_decode_rrset(val, (size_t)len, refs, 2, &n), CN_EMALF);
	ck_assert_int_eq(cn__value_decode_rrset_first(val, (size_t)len, refs, 2, &n), 0);
	ck_assert_uint_eq(n, 2);
	/* no room to encode */
	ck_assert_int_eq(cn__value_encode_rrset(p, 3, val, 1), -ENOSPC);
	ck_assert_int_eq(cn__value_encode_rrset(p, 3, val, 8), -ENOSPC);
	ck_assert_int_eq(cn__value_encode_rrset(p, 0, val, 2), 2); /* an empty set */
}
END_TEST

typedef struct bad_value {
	const char *what;
	uint8_t bytes[16];
	size_t len;
} bad_value_t;

static const bad_value_t bad_rrsets[] = {
	{ "empty", { 0 }, 0 },
	{ "half a count", { 0 }, 1 },
	{ "count without records", { 0, 1 }, 2 },
	{ "half an rdlen", { 0, 1, 0 }, 3 },
	{ "rdata past the end", { 0, 1, 0, 5, 1, 2 }, 6 },
	{ "trailing bytes", { 0, 1, 0, 1, 7, 0xff }, 6 },
	{ "count too low", { 0, 1, 0, 1, 7, 0, 1, 8 }, 8 },
};

static const bad_value_t bad_negs[] = {
	{ "empty", { 0 }, 0 },
	{ "no SOA, trailing byte", { 0, 1 }, 2 },
	{ "owner past the end", { 5, 1, 'a' }, 3 },
	{ "owner not a name", { 3, 5, 'a', 0, 0, 0 }, 6 },
	{ "rdlen past the end", { 1, 0, 0, 9, 1 }, 5 },
	{ "trailing bytes", { 1, 0, 0, 1, 1, 2 }, 6 },
};

START_TEST(test_value_malformed)
{
	cn_rdata_ref_t refs[8];
	size_t n;
	for (size_t i = 0; i < sizeof(bad_rrsets) / sizeof(bad_rrsets[0]); i++)
		ck_assert_msg(cn__value_decode_rrset(bad_rrsets[i].bytes, bad_rrsets[i].len, refs,
						     8, &n) == CN_EMALF,
			      "rrset value '%s' accepted", bad_rrsets[i].what);
	const uint8_t *owner, *rdata;
	uint16_t rdlen;
	for (size_t i = 0; i < sizeof(bad_negs) / sizeof(bad_negs[0]); i++)
		ck_assert_msg(cn__value_decode_neg(bad_negs[i].bytes, bad_negs[i].len, &owner,
						   &rdata, &rdlen) == CN_EMALF,
			      "negative value '%s' accepted", bad_negs[i].what);
	/* the good negative forms: no SOA, and the SOA */
	static const uint8_t none[] = { 0 };
	ck_assert_int_eq(cn__value_decode_neg(none, 1, &owner, &rdata, &rdlen), 0);
	ck_assert_ptr_null(owner);
	uint8_t val[64];
	ck_assert_int_eq(cn__value_encode_neg(NULL, val, sizeof(val)), 1);
	ck_assert_int_eq(cn__value_encode_neg(NULL, val, 0), -ENOSPC);
	cn_rr_t soa = { .owner = N("test."), .rdata = soa_rdata, .rdlen = sizeof(soa_rdata) };
	int len = cn__value_encode_neg(&soa, val, sizeof(val));
	ck_assert_int_eq(len, 1 + 6 + 2 + (int)sizeof(soa_rdata));
	ck_assert_int_eq(cn__value_decode_neg(val, (size_t)len, &owner, &rdata, &rdlen), 0);
	ck_assert_str_eq(S(owner), "test.");
	ck_assert_uint_eq(rdlen, sizeof(soa_rdata));
	ck_assert_mem_eq(rdata, soa_rdata, sizeof(soa_rdata));
	ck_assert_int_eq(cn__value_encode_neg(&soa, val, 20), -ENOSPC);
}
END_TEST

START_TEST(test_format_value)
{
	uint8_t a[] = { 192, 0, 2, 7 }, val[64];
	cn_rr_t rr = { .rdata = a, .rdlen = 4 };
	const cn_rr_t *p[] = { &rr };
	int len = cn__value_encode_rrset(p, 1, val, sizeof(val));
	char buf[256];
	int n = cn_engine_format_value(N("www.test."), CN_TYPE_A, CN_CACHE_RRSET, 77, val,
				       (size_t)len, buf, sizeof(buf));
	ck_assert_int_eq(n, (int)strlen(buf));
	ck_assert_msg(strstr(buf, "www.test.") && strstr(buf, "77") && strstr(buf, "192.0.2.7") &&
			      buf[n - 1] == '\n',
		      "format: '%s'", buf);
	ck_assert_int_eq(cn_engine_format_value(N("www.test."), CN_TYPE_A, CN_CACHE_RRSET, 77,
						val, (size_t)len, buf, 0),
			 -ENOSPC);
	ck_assert_int_eq(cn_engine_format_value(N("www.test."), CN_TYPE_A, CN_CACHE_RRSET, 77,
						val, (size_t)len, buf, 10),
			 -ENOSPC);
	ck_assert_int_eq(cn_engine_format_value(N("www.test."), CN_TYPE_A, CN_CACHE_RRSET, 77,
						bad_rrsets[4].bytes, bad_rrsets[4].len, buf,
						sizeof(buf)),
			 CN_EMALF);
	ck_assert_int_eq(cn_engine_format_value(N("x.test."), CN_TYPE_SOA, CN_CACHE_NXDOMAIN, 5,
						bad_negs[2].bytes, bad_negs[2].len, buf,
						sizeof(buf)),
			 CN_EMALF);
}
END_TEST

/* ------------------------------------------------------------------ from the cache -- */

START_TEST(test_ttl_decrement)
{
	put_a("www.example.test.", 300, "192.0.2.1");
	lookup_out_t o = from_cache("www.example.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.nan, 1);
	ck_assert_uint_eq(o.res.an[0].ttl, 300);
	o = from_cache("WWW.Example.TEST.", CN_TYPE_A, T0 + 100, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.rcode, CN_RCODE_NOERROR);
	ck_assert_uint_eq(o.res.an[0].ttl, 200);
	ck_assert_uint_eq(o.res.an[0].type, CN_TYPE_A);
	ck_assert_uint_eq(o.min_left, 200);
	ck_assert_uint_eq(o.min_orig, 300);
	ck_assert(!o.stale && !o.res.has_soa && !o.res.aa);
	ck_assert_uint_eq(o.miss, CN_MISS_NONE);
	o = from_cache("www.example.test.", CN_TYPE_A, T0 + 299, 0, 11);
	ck_assert_uint_eq(o.res.an[0].ttl, 1);
	/* expired: a miss that says so; served stale only when asked, with TTL 0 */
	o = from_cache("www.example.test.", CN_TYPE_A, T0 + 300, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_eq(o.miss, CN_MISS_EXPIRED);
	o = from_cache("www.example.test.", CN_TYPE_A, T0 + 400, CN_LOOKUP_STALE, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert(o.stale);
	ck_assert_uint_eq(o.res.an[0].ttl, 0);
	/* never cached */
	o = from_cache("nothing.example.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_eq(o.miss, CN_MISS_FIRST);
	ck_assert_uint_eq(o.res.nan, 0);
}
END_TEST

START_TEST(test_cname_chain)
{
	put_cname("alias.example.test.", 100, "mid.example.test.");
	put_cname("mid.example.test.", 3600, "www.example.test.");
	put_a("www.example.test.", 300, "192.0.2.1");
	lookup_out_t o = from_cache("alias.example.test.", CN_TYPE_A, T0 + 40, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.nan, 3);
	static const char *owners[] = { "alias.example.test.", "mid.example.test.",
					"www.example.test." };
	static const uint16_t types[] = { CN_TYPE_CNAME, CN_TYPE_CNAME, CN_TYPE_A };
	static const uint32_t ttls[] = { 60, 3560, 260 };
	for (int i = 0; i < 3; i++) {
		ck_assert_str_eq(S(o.res.an[i].owner), owners[i]);
		ck_assert_uint_eq(o.res.an[i].type, types[i]);
		ck_assert_uint_eq(o.res.an[i].ttl, ttls[i]);
		ck_assert_uint_eq(o.res.an[i].section, CN_SECTION_ANSWER);
	}
	ck_assert_uint_eq(o.min_left, 60); /* the chain lives as long as its shortest link */
	ck_assert_uint_eq(o.min_orig, 100);
	/* asking for the CNAME itself: no following */
	o = from_cache("alias.example.test.", CN_TYPE_CNAME, T0, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.nan, 1);
	ck_assert_uint_eq(o.res.an[0].type, CN_TYPE_CNAME);
	/* a broken link: the chain is a miss, with the reason of the missing piece */
	put_cname("dangling.example.test.", 100, "gone.example.test.");
	o = from_cache("dangling.example.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_eq(o.miss, CN_MISS_FIRST);
	/* a CNAME to a name cached as NXDOMAIN: the CNAME and the NXDOMAIN with its SOA */
	put_neg("gone.example.test.", CN_CACHE_NXDOMAIN, 0, 900, "example.test.");
	o = from_cache("dangling.example.test.", CN_TYPE_A, T0 + 10, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.rcode, CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(o.res.nan, 1);
	ck_assert(o.res.has_soa);
	ck_assert_uint_eq(o.res.soa.ttl, 890);
	ck_assert_str_eq(S(o.res.soa.owner), "example.test.");
}
END_TEST

/* A chain of k CNAMEs is answered from cache when k <= the limit; else a miss (FIRST: the
 * resolver decides what a long chain deserves). */
typedef struct chain_case {
	unsigned links, limit;
	bool hit;
} chain_case_t;

static const chain_case_t chain_cases[] = {
	{ 0, 0, true }, { 1, 0, false }, { 1, 1, true },  { 2, 1, false },
	{ 5, 5, true }, { 6, 5, false }, { 11, 11, true }, { 12, 11, false },
};

START_TEST(test_chain_limit)
{
	const chain_case_t *c = &chain_cases[_i];
	char from[64], to[64];
	for (unsigned k = 0; k < c->links; k++) {
		snprintf(from, sizeof(from), "c%u.test.", k);
		snprintf(to, sizeof(to), "c%u.test.", k + 1);
		put_cname(from, 300, to);
	}
	snprintf(to, sizeof(to), "c%u.test.", c->links);
	put_a(to, 300, "192.0.2.9");
	lookup_out_t o = from_cache("c0.test.", CN_TYPE_A, T0, 0, c->limit);
	ck_assert_msg((o.ret == 0) == c->hit, "%u links, limit %u: ret %d", c->links, c->limit,
		      o.ret);
	if (c->hit) {
		ck_assert_uint_eq(o.res.nan, c->links + 1);
		ck_assert_uint_eq(o.res.an[c->links].type, CN_TYPE_A);
	} else {
		ck_assert_uint_eq(o.miss, CN_MISS_FIRST);
	}
}
END_TEST

START_TEST(test_cname_loop_and_bad_cnames)
{
	put_cname("l1.test.", 300, "l2.test.");
	put_cname("l2.test.", 300, "l1.test.");
	lookup_out_t o = from_cache("l1.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_le(o.res.nan, 12);
	/* a loop longer than the room for records: still a clean miss */
	o.res.an_cap = 4;
	o.ret = cn__answer_from_cache(cache, N("l1.test."), CN_TYPE_A, T0, 0, 1000, scratch,
				      sizeof(scratch), &o.res, &o.stale, &o.min_left,
				      &o.min_orig, &o.miss);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_le(o.res.nan, 4);
	/* a CNAME RRset with two records (RFC 2181 10.1 allows one) */
	uint8_t t1[CN_DNAME_MAX], t2[CN_DNAME_MAX];
	size_t l1, l2;
	cn_dname_from_str("a.test.", t1, &l1);
	cn_dname_from_str("b.test.", t2, &l2);
	const uint8_t *r[] = { t1, t2 };
	uint16_t l[] = { (uint16_t)l1, (uint16_t)l2 };
	put_rrset("two.test.", CN_TYPE_CNAME, 300, CN_RANK_AUTH_ANSWER, r, l, 2);
	put_a("a.test.", 300, "192.0.2.1");
	o = from_cache("two.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	/* a CNAME whose target is not a name */
	static const uint8_t junk[] = { 9, 'x' };
	const uint8_t *rj[] = { junk };
	uint16_t lj[] = { sizeof(junk) };
	put_rrset("junk.test.", CN_TYPE_CNAME, 300, CN_RANK_AUTH_ANSWER, rj, lj, 1);
	o = from_cache("junk.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
}
END_TEST

START_TEST(test_negative)
{
	put_neg("www.example.test.", CN_CACHE_NODATA, CN_TYPE_AAAA, 600, "example.test.");
	lookup_out_t o = from_cache("www.example.test.", CN_TYPE_AAAA, T0 + 100, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.rcode, CN_RCODE_NOERROR);
	ck_assert_uint_eq(o.res.nan, 0);
	ck_assert(o.res.has_soa);
	ck_assert_uint_eq(o.res.soa.ttl, 500);
	ck_assert_uint_eq(o.res.soa.type, CN_TYPE_SOA);
	ck_assert_uint_eq(o.res.soa.rdlen, sizeof(soa_rdata));
	ck_assert_uint_eq(o.res.soa.section, CN_SECTION_AUTHORITY);
	/* NODATA is per type */
	o = from_cache("www.example.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	/* NXDOMAIN covers every type at the name, and (RFC 8020) every name below it */
	put_neg("nx.example.test.", CN_CACHE_NXDOMAIN, 0, 900, "example.test.");
	static const char *under[] = { "nx.example.test.", "a.nx.example.test.",
				       "b.a.nx.example.test." };
	for (int i = 0; i < 3; i++) {
		o = from_cache(under[i], i == 1 ? CN_TYPE_MX : CN_TYPE_A, T0 + 1, 0, 11);
		ck_assert_msg(o.ret == 0 && o.res.rcode == CN_RCODE_NXDOMAIN, "%s", under[i]);
		ck_assert_uint_eq(o.res.soa.ttl, 899);
	}
	/* ... but not beside or above it */
	o = from_cache("nxx.example.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	o = from_cache("example.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
}
END_TEST

START_TEST(test_ranks)
{
	/* glue (rank ADDITIONAL) steers iteration but never answers a client */
	uint8_t a[] = { 192, 0, 2, 53 };
	const uint8_t *r[] = { a };
	uint16_t l[] = { 4 };
	put_rrset("ns1.example.test.", CN_TYPE_A, 300, CN_RANK_ADDITIONAL, r, l, 1);
	lookup_out_t o = from_cache("ns1.example.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_eq(o.miss, CN_MISS_FIRST);
	/* a non-authoritative answer does */
	put_rrset("ns2.example.test.", CN_TYPE_A, 300, CN_RANK_NONAUTH_ANSWER, r, l, 1);
	o = from_cache("ns2.example.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, 0);
}
END_TEST

START_TEST(test_room_and_corruption)
{
	/* 10 records, room for 3: a miss (never a partial RRset) */
	uint8_t addrs[10][4];
	const uint8_t *r[10];
	uint16_t l[10];
	for (int i = 0; i < 10; i++) {
		addrs[i][0] = 192, addrs[i][1] = 0, addrs[i][2] = 2, addrs[i][3] = (uint8_t)i;
		r[i] = addrs[i];
		l[i] = 4;
	}
	put_rrset("ten.test.", CN_TYPE_A, 300, CN_RANK_AUTH_ANSWER, r, l, 10);
	lookup_out_t o;
	memset(&o, 0, sizeof(o));
	o.res.an = an;
	o.res.an_cap = 3;
	o.ret = cn__answer_from_cache(cache, N("ten.test."), CN_TYPE_A, T0, 0, 11, scratch,
				      sizeof(scratch), &o.res, &o.stale, &o.min_left, &o.min_orig,
				      &o.miss);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_le(o.res.nan, 3);
	o = from_cache("ten.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.nan, 10);
	/* scratch too small for the value */
	o.ret = cn__answer_from_cache(cache, N("ten.test."), CN_TYPE_A, T0, 0, 11, scratch, 8,
				      &o.res, &o.stale, &o.min_left, &o.min_orig, &o.miss);
	ck_assert_int_eq(o.ret, -ENOENT);
	/* corrupt values of every kind: a miss each, no crash (ASan watches) */
	for (size_t i = 0; i < sizeof(bad_rrsets) / sizeof(bad_rrsets[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "bad%zu.test.", i);
		uint8_t key[CN_DNAME_MAX];
		size_t klen;
		cn_dname_from_str(name, key, &klen);
		cn_cache_insert(cache, key, klen, CN_TYPE_A, CN_CLASS_IN, CN_CACHE_RRSET,
				CN_RANK_AUTH_ANSWER, 300, T0, bad_rrsets[i].bytes, bad_rrsets[i].len);
		o = from_cache(name, CN_TYPE_A, T0, 0, 11);
		ck_assert_msg(o.ret == -ENOENT, "corrupt rrset '%s' answered", bad_rrsets[i].what);
	}
	for (size_t i = 0; i < sizeof(bad_negs) / sizeof(bad_negs[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "neg%zu.test.", i);
		uint8_t key[CN_DNAME_MAX];
		size_t klen;
		cn_dname_from_str(name, key, &klen);
		cn_cache_insert(cache, key, klen, CN_CACHE_TYPE_NXDOMAIN, CN_CLASS_IN,
				CN_CACHE_NXDOMAIN, CN_RANK_AUTH_AUTHORITY, 300, T0, bad_negs[i].bytes,
				bad_negs[i].len);
		o = from_cache(name, CN_TYPE_A, T0, 0, 11);
		ck_assert_msg(o.ret == -ENOENT, "corrupt negative '%s' answered", bad_negs[i].what);
	}
}
END_TEST

/* ------------------------------------------------------------------ client replies -- */

typedef struct limit_case {
	bool tcp, edns;
	uint16_t udp_size, edns_size, want;
} limit_case_t;

static const limit_case_t limit_cases[] = {
	{ true, false, 0, 1232, 65535 },    /* TCP: the 16-bit length */
	{ false, false, 4096, 1232, 512 },  /* no OPT: RFC 1035 */
	{ false, true, 100, 1232, 512 },    /* below 512 means 512 (RFC 6891 6.2.5) */
	{ false, true, 1000, 1232, 1000 },
	{ false, true, 4096, 1232, 1232 },  /* our own limit */
	{ false, true, 65535, 65535, 65535 },
};

START_TEST(test_client_limit)
{
	const limit_case_t *c = &limit_cases[_i];
	cn_question_t q;
	question("x.test.", CN_TYPE_A, c->edns, &q);
	q.tcp = c->tcp;
	q.udp_size = c->udp_size;
	ck_assert_uint_eq(cn__client_limit(&q, c->edns_size), c->want);
}
END_TEST

typedef struct flag_case {
	uint16_t query_flags;
	uint16_t rcode;
	bool aa;
	uint16_t want;
} flag_case_t;

static const flag_case_t flag_cases[] = {
	{ CN_FLAG_RD, 0, false, CN_FLAG_QR | CN_FLAG_RA | CN_FLAG_RD },
	{ 0, 0, false, CN_FLAG_QR | CN_FLAG_RA },                         /* RD=0 echoed */
	{ CN_FLAG_RD | CN_FLAG_CD, 3, false,
	  CN_FLAG_QR | CN_FLAG_RA | CN_FLAG_RD | CN_FLAG_CD | 3 },           /* CD echoed */
	{ CN_FLAG_RD | CN_FLAG_AD | CN_FLAG_TC | CN_FLAG_AA | CN_FLAG_QR, 0, false,
	  CN_FLAG_QR | CN_FLAG_RA | CN_FLAG_RD },                          /* others are not */
	{ CN_FLAG_RD, 0, true, CN_FLAG_QR | CN_FLAG_RA | CN_FLAG_RD | CN_FLAG_AA }, /* hosted */
	{ 0x2000 | CN_FLAG_RD, 4, false,
	  0x2000 | CN_FLAG_QR | CN_FLAG_RA | CN_FLAG_RD | 4 },               /* opcode copied */
};

START_TEST(test_reply_flags)
{
	const flag_case_t *c = &flag_cases[_i];
	cn_question_t q;
	question("x.test.", CN_TYPE_A, false, &q);
	q.flags = c->query_flags;
	cn_result_t res = { .rcode = c->rcode, .aa = c->aa };
	uint8_t out[512];
	size_t len = cn__answer_write(&q, &res, 1232, out, sizeof(out));
	ck_assert_uint_ge(len, 12);
	ck_assert_uint_eq(hdr16(out, 0), 0xBEEF);
	ck_assert_msg(hdr16(out, 2) == c->want, "case %d: flags %04x, want %04x", _i,
		      hdr16(out, 2), c->want);
	/* the error path sets the same bits (never AA) */
	len = cn__answer_error(&q, c->rcode, 0, NULL, 1232, out, sizeof(out));
	ck_assert_uint_eq(hdr16(out, 2), c->want & ~CN_FLAG_AA);
}
END_TEST

START_TEST(test_write_answer)
{
	put_cname("Alias.example.test.", 100, "www.example.test.");
	put_a("www.example.test.", 300, "192.0.2.1");
	lookup_out_t o = from_cache("alias.example.test.", CN_TYPE_A, T0 + 30, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	cn_question_t q;
	question("ALIAS.Example.TEST.", CN_TYPE_A, true, &q);
	uint8_t out[1232];
	size_t len = cn__answer_write(&q, &o.res, 1232, out, sizeof(out));
	cn_msg_t m;
	parse(out, len, &m);
	ck_assert_uint_eq(m.id, 0xBEEF);
	ck_assert_uint_eq(m.qdcount, 1);
	ck_assert_uint_eq(m.ancount, 2);
	ck_assert_uint_eq(m.nscount, 0);
	ck_assert_uint_eq(m.arcount, 1); /* OPT */
	ck_assert(!(m.flags & CN_FLAG_TC));
	/* the question in the client's case, byte for byte */
	ck_assert_mem_eq(m.qname, q.qname, q.qname_len);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_CNAME);
	ck_assert_uint_eq(m.rrs[0].ttl, 70);
	/* compression may point into the client-cased question: names compare caselessly */
	ck_assert_int_eq(strcasecmp(S(m.rrs[0].rdata), "www.example.test."), 0);
	ck_assert_uint_eq(m.rrs[1].type, CN_TYPE_A);
	ck_assert_uint_eq(m.rrs[1].ttl, 270);
	static const uint8_t addr[] = { 192, 0, 2, 1 };
	ck_assert_mem_eq(m.rrs[1].rdata, addr, 4);
	ck_assert(m.edns.present);
	ck_assert_uint_eq(m.edns.udp_size, 1232);
	ck_assert(!m.edns.has_ede);
	/* a client without EDNS gets no OPT */
	question("alias.example.test.", CN_TYPE_A, false, &q);
	len = cn__answer_write(&q, &o.res, 1232, out, sizeof(out));
	parse(out, len, &m);
	ck_assert_uint_eq(m.arcount, 0);
	ck_assert(!m.edns.present);
}
END_TEST

START_TEST(test_write_negative_and_ede)
{
	put_neg("nx.example.test.", CN_CACHE_NXDOMAIN, 0, 900, "example.test.");
	lookup_out_t o = from_cache("nx.example.test.", CN_TYPE_A, T0 + 100, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	o.res.has_ede = true;
	o.res.ede_code = CN_EDE_STALE_ANSWER;
	strcpy(o.res.ede_text, "served stale");
	cn_question_t q;
	question("nx.example.test.", CN_TYPE_A, true, &q);
	uint8_t out[1232];
	size_t len = cn__answer_write(&q, &o.res, 1232, out, sizeof(out));
	cn_msg_t m;
	parse(out, len, &m);
	ck_assert_uint_eq(m.rcode, CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m.ancount, 0);
	ck_assert_uint_eq(m.nscount, 1);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_SOA);
	ck_assert_uint_eq(m.rrs[0].ttl, 800);
	ck_assert_str_eq(S(m.rrs[0].owner), "example.test.");
	ck_assert(m.edns.has_ede);
	ck_assert_uint_eq(m.edns.ede_code, CN_EDE_STALE_ANSWER);
	/* option 15, length 2 + text, info-code, text */
	static const uint8_t opt[] = { 0, 15, 0, 14, 0, 3, 's', 'e', 'r', 'v', 'e', 'd', ' ',
				       's', 't', 'a', 'l', 'e' };
	ck_assert_uint_eq(m.edns.options_len, sizeof(opt));
	ck_assert_mem_eq(m.edns.options, opt, sizeof(opt));
	/* without client EDNS there is nowhere to put the EDE: plain NXDOMAIN */
	question("nx.example.test.", CN_TYPE_A, false, &q);
	len = cn__answer_write(&q, &o.res, 1232, out, sizeof(out));
	parse(out, len, &m);
	ck_assert_uint_eq(m.rcode, CN_RCODE_NXDOMAIN);
	ck_assert(!m.edns.present);
	/* an extended RCODE goes half in the header, half in OPT */
	cn_result_t bad = { .rcode = CN_RCODE_BADVERS };
	question("nx.example.test.", CN_TYPE_A, true, &q);
	len = cn__answer_write(&q, &bad, 1232, out, sizeof(out));
	parse(out, len, &m);
	ck_assert_uint_eq(CN_RCODE(m.flags), 0);
	ck_assert_uint_eq(m.edns.ext_rcode, 1);
	ck_assert_uint_eq(m.rcode, CN_RCODE_BADVERS);
}
END_TEST

/* n A records for one owner, in res (rdata from a static table). */
static void many_a(cn_result_t *res, cn_rr_t *rrs, size_t n, const uint8_t *owner)
{
	static uint8_t addr[4] = { 192, 0, 2, 1 };
	for (size_t i = 0; i < n; i++)
		rrs[i] = (cn_rr_t){ .owner = owner, .rdata = addr, .ttl = 60, .type = CN_TYPE_A,
				    .rclass = CN_CLASS_IN, .rdlen = 4,
				    .section = CN_SECTION_ANSWER };
	memset(res, 0, sizeof(*res));
	res->an = rrs;
	res->nan = n;
	res->an_cap = n;
}

typedef struct tc_case {
	const char *what;
	bool edns, tcp;
	uint16_t udp_size;
	size_t records;   /* 16 bytes each with the owner compressed */
	size_t cap;       /* caller's buffer */
	bool tc;
} tc_case_t;

/* question "big.test." = 14 bytes: header + question = 26; OPT = 11 */
static const tc_case_t tc_cases[] = {
	{ "fits 512", false, false, 0, 30, 4096, false },         /* 26 + 480 = 506 */
	{ "one over 512", false, false, 0, 31, 4096, true },      /* 522 */
	{ "OPT counts", true, false, 512, 30, 4096, true },       /* 506 + 11 */
	{ "EDNS 1232 fits", true, false, 1232, 70, 4096, false }, /* 26 + 1120 + 11 */
	{ "EDNS 1232 over", true, false, 1232, 76, 4096, true },
	{ "small buffer", true, false, 1232, 20, 100, true },
	{ "TCP", false, true, 0, 2000, 65535, false },            /* 32026 */
	{ "TCP, small buffer", false, true, 0, 2000, 4096, true },
};

START_TEST(test_truncation)
{
	const tc_case_t *c = &tc_cases[_i];
	static cn_rr_t rrs[2000];
	cn_result_t res;
	many_a(&res, rrs, c->records, N("big.test."));
	cn_question_t q;
	question("big.test.", CN_TYPE_A, c->edns, &q);
	q.tcp = c->tcp;
	q.udp_size = c->udp_size;
	uint8_t *out = malloc(c->cap); /* exact size: ASan sees any write past it */
	size_t len = cn__answer_write(&q, &res, 1232, out, c->cap);
	size_t limit = cn__client_limit(&q, 1232) < c->cap ? cn__client_limit(&q, 1232) : c->cap;
	ck_assert_msg(len <= limit, "%s: %zu bytes over %zu", c->what, len, limit);
	cn_msg_t m;
	parse(out, len, &m);
	ck_assert_msg(!!(m.flags & CN_FLAG_TC) == c->tc, "%s: TC %d", c->what,
		      !!(m.flags & CN_FLAG_TC));
	ck_assert_uint_eq(m.qdcount, 1);
	ck_assert_uint_eq(m.qtype, CN_TYPE_A);
	ck_assert_uint_eq(m.edns.present, c->edns); /* OPT kept in the truncated form */
	if (c->tc) {
		ck_assert_uint_eq(m.ancount, 0); /* no partial RRset */
		ck_assert_uint_eq(len, 26 + (c->edns ? 11 : 0));
	} else {
		ck_assert_uint_eq(m.ancount, c->records);
	}
	free(out);
}
END_TEST

START_TEST(test_error_replies)
{
	cn_question_t q;
	question("Fail.Test.", CN_TYPE_AAAA, true, &q);
	uint8_t out[512];
	size_t len = cn__answer_error(&q, CN_RCODE_SERVFAIL, CN_EDE_NO_REACHABLE_AUTHORITY,
				      "no server answered", 1232, out, sizeof(out));
	cn_msg_t m;
	parse(out, len, &m);
	ck_assert_uint_eq(m.rcode, CN_RCODE_SERVFAIL);
	ck_assert_uint_eq(m.ancount + m.nscount, 0);
	ck_assert_mem_eq(m.qname, q.qname, q.qname_len);
	ck_assert(m.edns.has_ede);
	ck_assert_uint_eq(m.edns.ede_code, CN_EDE_NO_REACHABLE_AUTHORITY);
	ck_assert_uint_eq(m.edns.options_len, 6 + strlen("no server answered"));
	/* no text: no EDE at all */
	len = cn__answer_error(&q, CN_RCODE_REFUSED, CN_EDE_PROHIBITED, NULL, 1232, out,
			       sizeof(out));
	parse(out, len, &m);
	ck_assert_uint_eq(m.rcode, CN_RCODE_REFUSED);
	ck_assert(m.edns.present && !m.edns.has_ede);
	/* a long name and a long text in a small buffer: the text is dropped, the OPT kept */
	char name[300] = "";
	for (int i = 0; i < 4; i++)
		strcat(name, i < 3 ? "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
				   : "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.");
	question(name, CN_TYPE_A, true, &q);
	char text[CN_EDE_TEXT_MAX];
	memset(text, 't', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	uint8_t *small = malloc(300);
	len = cn__answer_error(&q, CN_RCODE_SERVFAIL, CN_EDE_OTHER, text, 1232, small, 300);
	ck_assert_uint_le(len, 300);
	parse(small, len, &m);
	ck_assert_uint_eq(m.rcode, CN_RCODE_SERVFAIL);
	ck_assert(m.edns.present && !m.edns.has_ede);
	/* the same with room: the whole text */
	len = cn__answer_error(&q, CN_RCODE_SERVFAIL, CN_EDE_OTHER, text, 1232, out, sizeof(out));
	parse(out, len, &m);
	ck_assert(m.edns.has_ede);
	ck_assert_uint_eq(m.edns.options_len, 6 + CN_EDE_TEXT_MAX - 1);
	free(small);
}
END_TEST

/* A buffer under a header gets nothing written, not even the header. */
START_TEST(test_tiny_cap)
{
	cn_question_t q;
	question("x.test.", CN_TYPE_A, true, &q);
	cn_result_t res = { .rcode = 0 };
	for (size_t cap = 0; cap < CN_HEADER_LEN; cap++) {
		uint8_t buf[64];
		memset(buf, 0xEE, sizeof(buf));
		size_t len = cn__answer_write(&q, &res, 1232, buf, cap);
		ck_assert_uint_le(len, cap);
		for (size_t i = cap; i < sizeof(buf); i++)
			ck_assert_msg(buf[i] == 0xEE,
				      "cn__answer_write(cap %zu) wrote byte %zu", cap, i);
		memset(buf, 0xEE, sizeof(buf));
		len = cn__answer_error(&q, CN_RCODE_SERVFAIL, 0, NULL, 1232, buf, cap);
		ck_assert_uint_le(len, cap);
		for (size_t i = cap; i < sizeof(buf); i++)
			ck_assert_msg(buf[i] == 0xEE, "cn__answer_error(cap %zu) wrote byte %zu",
				      cap, i);
	}
}
END_TEST

/* RFC 6672 3.4: a DNAME cached at an ancestor answers for the names below it. */
static void put_dname(const char *owner, uint32_t ttl, cn_rank_t rank, const char *target)
{
	uint8_t t[CN_DNAME_MAX];
	size_t tl;
	ck_assert_int_eq(cn_dname_from_str(target, t, &tl), 0);
	const uint8_t *r[] = { t };
	uint16_t l[] = { (uint16_t)tl };
	put_rrset(owner, CN_TYPE_DNAME, ttl, rank, r, l, 1);
}

START_TEST(test_dname_synthesis)
{
	put_dname("old.test.", 300, CN_RANK_AUTH_ANSWER, "new.test.");
	put_a("host.new.test.", 60, "192.0.2.1");
	lookup_out_t o = from_cache("host.old.test.", CN_TYPE_A, T0 + 10, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.nan, 3);
	ck_assert_uint_eq(o.res.an[0].type, CN_TYPE_DNAME);
	ck_assert_str_eq(S(o.res.an[0].owner), "old.test.");
	ck_assert_uint_eq(o.res.an[1].type, CN_TYPE_CNAME);
	ck_assert_str_eq(S(o.res.an[1].owner), "host.old.test.");
	ck_assert_str_eq(S(o.res.an[1].rdata), "host.new.test.");
	ck_assert_uint_eq(o.res.an[1].ttl, 290); /* the DNAME's TTL left */
	ck_assert_uint_eq(o.res.an[2].type, CN_TYPE_A);
	/* the owner itself is not redirected (RFC 6672 2.3) */
	o = from_cache("old.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_eq(o.res.nan, 0);
	/* a miss after the synthesis leaves the chain so far (the resolver goes on from it) */
	o = from_cache("other.old.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_eq(o.res.nan, 2);
	ck_assert_str_eq(S(o.res.an[1].rdata), "other.new.test.");
	/* glue-rank data never answers, a DNAME neither */
	put_dname("glue.test.", 300, CN_RANK_ADDITIONAL, "new.test.");
	o = from_cache("host.glue.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_eq(o.res.nan, 0);
	/* looking for DNAMEs above a missed name is not counted as cache misses */
	cn_cache_stats_t before, after;
	cn_cache_stats(cache, &before);
	o = from_cache("a.b.c.nothing.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	cn_cache_stats(cache, &after);
	/* A, NXDOMAIN and CNAME at the name, NXDOMAIN at its 4 ancestors below the root */
	ck_assert_uint_eq(after.lookups - before.lookups, 3 + 4);
}
END_TEST

START_TEST(test_dname_chains)
{
	/* x.dn -> x.t (DNAME), x.t CNAME y.dn, y.dn -> y.t (the same DNAME): shown once */
	put_dname("dn.test.", 300, CN_RANK_AUTH_ANSWER, "t.test.");
	put_cname("x.t.test.", 300, "y.dn.test.");
	put_a("y.t.test.", 300, "192.0.2.2");
	lookup_out_t o = from_cache("x.dn.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	static const char *owners[] = { "dn.test.", "x.dn.test.", "x.t.test.", "y.dn.test.",
					"y.t.test." };
	static const uint16_t types[] = { CN_TYPE_DNAME, CN_TYPE_CNAME, CN_TYPE_CNAME,
					  CN_TYPE_CNAME, CN_TYPE_A };
	ck_assert_uint_eq(o.res.nan, 5);
	for (int i = 0; i < 5; i++) {
		ck_assert_str_eq(S(o.res.an[i].owner), owners[i]);
		ck_assert_uint_eq(o.res.an[i].type, types[i]);
	}
	/* qtype CNAME: the synthesised CNAME is the answer */
	o = from_cache("c.dn.test.", CN_TYPE_CNAME, T0, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.nan, 2);
	ck_assert_str_eq(S(o.res.an[1].rdata), "c.t.test.");
	/* a DNAME pointing below itself: each hop counts against the limit, a clean miss */
	put_dname("self.test.", 300, CN_RANK_AUTH_ANSWER, "x.self.test.");
	o = from_cache("a.self.test.", CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, -ENOENT);
	ck_assert_uint_eq(o.res.nan, 1 + 12); /* the DNAME once, a CNAME per hop */
	/* a substitution past 255 octets: YXDOMAIN with the DNAME (RFC 6672 2.2) */
	char longname[300];
	snprintf(longname, sizeof(longname), "%s.%s.%s.old2.test.",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		 "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	put_dname("old2.test.", 300, CN_RANK_AUTH_ANSWER,
		  "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.test.");
	o = from_cache(longname, CN_TYPE_A, T0, 0, 11);
	ck_assert_int_eq(o.ret, 0);
	ck_assert_uint_eq(o.res.rcode, CN_RCODE_YXDOMAIN);
	ck_assert_uint_eq(o.res.nan, 1);
	ck_assert_uint_eq(o.res.an[0].type, CN_TYPE_DNAME);
}
END_TEST

static Suite *answer_suite(void)
{
	Suite *s = suite_create("answer");
	TCase *tc = tcase_create("values");
	tcase_add_test(tc, test_value_rrset);
	tcase_add_test(tc, test_value_malformed);
	tcase_add_test(tc, test_value_trailer);
	tcase_add_test(tc, test_validated_lookups_and_ad);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_format_value);
	suite_add_tcase(s, tc);
	tc = tcase_create("from_cache");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ttl_decrement);
	tcase_add_test(tc, test_cname_chain);
	tcase_add_loop_test(tc, test_chain_limit, 0, sizeof(chain_cases) / sizeof(chain_cases[0]));
	tcase_add_test(tc, test_cname_loop_and_bad_cnames);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_ranks);
	tcase_add_test(tc, test_room_and_corruption);
	tcase_add_test(tc, test_dname_synthesis);
	tcase_add_test(tc, test_dname_chains);
	suite_add_tcase(s, tc);
	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_client_limit, 0, sizeof(limit_cases) / sizeof(limit_cases[0]));
	tcase_add_loop_test(tc, test_reply_flags, 0, sizeof(flag_cases) / sizeof(flag_cases[0]));
	tcase_add_test(tc, test_write_answer);
	tcase_add_test(tc, test_write_negative_and_ede);
	tcase_add_loop_test(tc, test_truncation, 0, sizeof(tc_cases) / sizeof(tc_cases[0]));
	tcase_add_test(tc, test_error_replies);
	tcase_add_test(tc, test_tiny_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(answer_suite());
}
