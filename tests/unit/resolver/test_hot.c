/*
 * Unit tests for resolver/hot.c, the ready-to-send answers, through cn_engine_query as net
 * calls it (a cn_client_t whose hot is the table) on a fake wall clock, with the engine's
 * own reply (the same query, no table) as the reference every served copy must equal byte
 * for byte:
 *   - replies served from the table for A (with and without EDNS, DO with an RRSIG),
 *     a mixed-case qname, a CNAME chain, a DNAME, NXDOMAIN (also RFC 8020 from above),
 *     NODATA and a truncated (TC) reply; at now+1 the same with every TTL one less and
 *     the OPT record untouched; nothing served at now+2 or when the clock went back;
 *   - what is never stored: hosted data, RFC 8198 synthesis, ANY, errors, misses, RD=0
 *     refusals, question and reply over 400 bytes or more than 16 TTLs, a query of a
 *     255-byte name (each limit tried at its edge), a full set's admission rule, anything while a private zone is configured,
 *     the prefetch window
 *     (and no copy served inside it);
 *   - every epoch: cache flush, remove and flush_name (when they removed something: when
 *     not, the table stays), load_buf, engine set_zones, reconfigure, set_forwards and the
 *     views' flush;
 *   - the cache's counters: two engines over two caches, one with a table and one without,
 *     fed the same queries over 40 seconds (without validation and with it), give the
 *     same replies and, after
 *     cn_engine_hot_credit, the same cn_cache_stats field by field and the same
 *     predictor figures;
 *   - cn_wire_ttl_offsets on well-formed and malformed messages (truncated names, pointer
 *     bytes, reserved label types, rdlen past the end, too many records, trailing bytes,
 *     every prefix and random mutations of a real reply) in buffers of exactly len bytes,
 *     so that ASan sees any read past the end.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolver/internal.h"
#include "resolver/zone.h"
#include "zone_test.h"

static const uint64_t T = 1700000000;

static void fake_random(void *buf, size_t len)
{
	memset(buf, 0x5a, len);
}

/* ------------------------------------------------------------------ fixture --------- */

static cn_cache_t *cache;
static cn_engine_t *engine;
static cn_hot_t *hot;

static cn_cache_t *cache_make(uint8_t shadow_shift)
{
	cn_cache_conf_t cc = { .budget_bytes = 4 << 20, .stale_window_s = 3600,
			       .shadow_shift = shadow_shift };
	memset(cc.hash_key, 0x33, sizeof(cc.hash_key));
	cn_cache_t *c;
	ck_assert_int_eq(cn_cache_new(&cc, &c), 0);
	return c;
}

static void engine_conf(cn_engine_conf_t *conf, bool prefetch, const cn_zoneset_t *zs)
{
	cn_engine_conf_default(conf);
	conf->dnssec.enabled = false; /* cached data is taken as it is */
	conf->random = fake_random;
	conf->prefetch = prefetch;
	conf->zones = zs;
}

static bool validating; /* engines made validate; values get an INSECURE trailer */

static cn_engine_t *engine_make(cn_cache_t *c, bool prefetch, const cn_zoneset_t *zs)
{
	cn_engine_conf_t conf;
	engine_conf(&conf, prefetch, zs);
	conf.dnssec.enabled = validating;
	cn_engine_t *e;
	ck_assert_int_eq(cn_engine_new(&conf, c, &e), 0);
	return e;
}

static void data_fill(cn_cache_t *c);

static void setup(void)
{
	cache = cache_make(CN_CACHE_SHADOW_OFF);
	engine = engine_make(cache, false, NULL);
	ck_assert_int_eq(cn_engine_hot_new(engine, 64, &hot), 0);
	ck_assert_ptr_nonnull(hot);
	data_fill(cache);
}

static void teardown(void)
{
	cn_hot_free(hot);
	cn_engine_free(engine);
	cn_cache_free(cache);
	hot = NULL;
	engine = NULL;
	cache = NULL;
}

/* ------------------------------------------------------------------ cache data ------ */

static void insert(cn_cache_t *c, const char *owner, uint16_t type, cn_cache_kind_t kind,
		   uint32_t ttl, uint64_t now, const uint8_t *val, size_t len)
{
	uint8_t key[CN_DNAME_MAX];
	size_t klen;
	ck_assert_int_eq(cn_dname_from_str(owner, key, &klen), 0);
	cn_dname_lower(key);
	ck_assert_int_eq(cn_cache_insert(c, key, klen, type, CN_CLASS_IN, kind,
					 CN_RANK_AUTH_ANSWER, ttl, now, val, len), 0);
}

/* An RRset of n records (rdata[i], rdlen[i]); with sig, an RRSIG over it in the trailer. */
static void put_set(cn_cache_t *c, const char *owner, uint16_t type, uint32_t ttl, uint64_t now,
		    const uint8_t *const *rdata, const uint16_t *rdlen, size_t n, bool sig)
{
	static const uint8_t fake_sig[] = { 0, 1, 13, 3, 0, 0, 0x0e, 0x10, 0x7f, 0, 0, 0,
					    0x60, 0, 0, 0, 0x12, 0x34, 7, 'e', 'x', 'a', 'm',
					    'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0xAA, 0xBB };
	cn_rr_t rrs[32];
	const cn_rr_t *p[32];
	ck_assert_uint_le(n, 32);
	for (size_t i = 0; i < n; i++) {
		rrs[i] = (cn_rr_t){ .rdata = rdata[i], .rdlen = rdlen[i], .type = type };
		p[i] = &rrs[i];
	}
	uint8_t val[8192];
	int len = cn__value_encode_rrset(p, n, val, sizeof(val));
	ck_assert_int_gt(len, 0);
	size_t total = (size_t)len;
	if (sig) {
		cn_rr_t s = { .owner = N(owner), .rdata = fake_sig, .rdlen = sizeof(fake_sig),
			      .type = CN_TYPE_RRSIG, .section = CN_SECTION_ANSWER };
		const cn_rr_t *x[1] = { &s };
		ck_assert_int_eq(cn__value_add_trailer(val, (size_t)len, sizeof(val),
						       CN_DNSSEC_STATE_SECURE, x, 1, &total), 0);
	} else if (validating) {
		ck_assert_int_eq(cn__value_add_trailer(val, (size_t)len, sizeof(val),
						       CN_DNSSEC_STATE_INSECURE, NULL, 0, &total),
				 0);
	}
	insert(c, owner, type, CN_CACHE_RRSET, ttl, now, val, total);
}

static void put_a(cn_cache_t *c, const char *owner, uint32_t ttl, uint64_t now, const char *ip)
{
	uint8_t a[4];
	ck_assert_int_eq(inet_pton(AF_INET, ip, a), 1);
	const uint8_t *r[] = { a };
	uint16_t l[] = { 4 };
	put_set(c, owner, CN_TYPE_A, ttl, now, r, l, 1, false);
}

static void put_name(cn_cache_t *c, const char *owner, uint16_t type, uint32_t ttl,
		     uint64_t now, const char *target)
{
	uint8_t t[CN_DNAME_MAX];
	size_t tl;
	ck_assert_int_eq(cn_dname_from_str(target, t, &tl), 0);
	const uint8_t *r[] = { t };
	uint16_t l[] = { (uint16_t)tl };
	put_set(c, owner, type, ttl, now, r, l, 1, false);
}

static const uint8_t soa_rdata[] = { 2, 'n', 's', 0, 4, 'h', 'o', 's', 't', 0,
				     0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10,
				     0, 0x09, 0x3a, 0x80, 0, 0, 0, 60 };

/* NODATA at (owner, type), or NXDOMAIN at owner (kind), with the zone's SOA. */
static void put_neg(cn_cache_t *c, const char *owner, cn_cache_kind_t kind, uint16_t type,
		    uint32_t ttl, uint64_t now)
{
	cn_rr_t soa = { .owner = N("example.com"), .rdata = soa_rdata,
			.rdlen = sizeof(soa_rdata), .type = CN_TYPE_SOA, .rclass = CN_CLASS_IN };
	uint8_t val[512];
	int len = cn__value_encode_neg(&soa, val, sizeof(val));
	ck_assert_int_gt(len, 0);
	size_t total = (size_t)len;
	if (validating)
		ck_assert_int_eq(cn__value_add_trailer(val, (size_t)len, sizeof(val),
						       CN_DNSSEC_STATE_INSECURE, NULL, 0, &total),
				 0);
	insert(c, owner, kind == CN_CACHE_NXDOMAIN ? CN_CACHE_TYPE_NXDOMAIN : type, kind, ttl, now,
	       val, total);
}

/* n TXT records of 200 bytes each */
static void put_txt(cn_cache_t *c, const char *owner, size_t n, uint64_t now)
{
	static uint8_t txt[200];
	memset(txt, 'x', sizeof(txt));
	txt[0] = 199;
	const uint8_t *r[8];
	uint16_t l[8];
	for (size_t i = 0; i < n; i++) {
		r[i] = txt;
		l[i] = sizeof(txt);
	}
	put_set(c, owner, CN_TYPE_TXT, 300, now, r, l, n, false);
}

/* n A records 192.0.2.1.. */
static void put_many_a(cn_cache_t *c, const char *owner, size_t n, uint64_t now)
{
	static uint8_t a[32][4];
	const uint8_t *r[32];
	uint16_t l[32];
	for (size_t i = 0; i < n; i++) {
		a[i][0] = 192, a[i][1] = 0, a[i][2] = 2, a[i][3] = (uint8_t)(i + 1);
		r[i] = a[i];
		l[i] = 4;
	}
	put_set(c, owner, CN_TYPE_A, 300, now, r, l, n, false);
}

static void data_fill(cn_cache_t *c)
{
	put_a(c, "www.example.com", 300, T, "192.0.2.1");
	put_a(c, "signed.example.com", 600, T, "192.0.2.7");
	{ /* again with an RRSIG (the same key: replaced) */
		uint8_t a[4] = { 192, 0, 2, 7 };
		const uint8_t *r[] = { a };
		uint16_t l[] = { 4 };
		put_set(c, "signed.example.com", CN_TYPE_A, 600, T, r, l, 1, true);
	}
	put_name(c, "alias.example.com", CN_TYPE_CNAME, 120, T, "alias2.example.com");
	put_name(c, "alias2.example.com", CN_TYPE_CNAME, 3600, T, "www.example.com");
	put_name(c, "dn.example.com", CN_TYPE_DNAME, 900, T, "example.com");
	put_neg(c, "nope.example.com", CN_CACHE_NXDOMAIN, 0, 60, T);
	put_neg(c, "www.example.com", CN_CACHE_NODATA, CN_TYPE_TXT, 45, T);
	put_txt(c, "big.example.com", 4, T);
	put_many_a(c, "sixteen.example.com", 16, T);
	put_many_a(c, "seventeen.example.com", 17, T);
	put_a(c, "one.example.com", 1, T, "192.0.2.9");
	put_a(c, "two.example.com", 2, T, "192.0.2.10");
}

/* ------------------------------------------------------------------ queries -------- */

#define Q_NOEDNS 0
#define Q_DO 0x10000

/* A query: id, flags, name as text (case kept), type, class IN; edns 0: no OPT, else OPT
 * with that UDP size (| Q_DO: DO set); pad: an EDNS padding option of pad bytes. */
static size_t build_q(uint8_t *p, uint16_t id, uint16_t flags, const char *name, uint16_t type,
		      unsigned edns, size_t pad)
{
	uint8_t qn[CN_DNAME_MAX];
	size_t qlen;
	ck_assert_int_eq(cn_dname_from_str(name, qn, &qlen), 0);
	memset(p, 0, CN_HEADER_LEN);
	cn_wire_put16(p, id);
	cn_wire_put16(p + 2, flags);
	cn_wire_put16(p + 4, 1);
	cn_wire_put16(p + 10, edns ? 1 : 0);
	size_t pos = CN_HEADER_LEN;
	memcpy(p + pos, qn, qlen);
	pos += qlen;
	cn_wire_put16(p + pos, type);
	cn_wire_put16(p + pos + 2, CN_CLASS_IN);
	pos += 4;
	if (edns) {
		p[pos] = 0;
		cn_wire_put16(p + pos + 1, CN_TYPE_OPT);
		cn_wire_put16(p + pos + 3, (uint16_t)edns);
		p[pos + 5] = 0, p[pos + 6] = 0;
		cn_wire_put16(p + pos + 7, (edns & Q_DO) ? 0x8000 : 0);
		cn_wire_put16(p + pos + 9, (uint16_t)(pad ? 4 + pad : 0));
		pos += 11;
		if (pad) {
			cn_wire_put16(p + pos, 12); /* RFC 7830 padding */
			cn_wire_put16(p + pos + 2, (uint16_t)pad);
			memset(p + pos + 4, 0, pad);
			pos += 4 + pad;
		}
	}
	return pos;
}

typedef struct reply {
	cn_state_t st;
	uint8_t out[4096];
	size_t len;
	cn_outcome_t outcome;
	cn_question_t q;
} reply_t;

/* cn_engine_query as a worker calls it for a UDP client (h: its table, or NULL). */
static void ask_raw(cn_engine_t *e, cn_hot_t *h, const uint8_t *pkt, size_t len, uint64_t now,
		    bool tcp, reply_t *r)
{
	static struct sockaddr_in from;
	from.sin_family = AF_INET;
	from.sin_addr.s_addr = htonl(0x7f000002);
	cn_client_t cl = { .addr = (struct sockaddr *)&from, .tcp = tcp, .hot = h };
	cn_time_t t = { .wall_s = now, .mono_ms = 1000 + (now - T) * 1000 };
	memset(&r->q, 0, sizeof(r->q));
	r->len = 0;
	r->outcome = CN_OUT_MAX;
	r->st = cn_engine_query(e, pkt, len, &cl, t, r->out, sizeof(r->out), &r->len, &r->q,
				&r->outcome);
}

/* A query as in build_q, asked of engine with the table (into *r) and without it (into
 * *ref, when not NULL), at now. */
typedef struct qspec {
	const char *name;
	uint16_t type;
	unsigned edns;
	uint16_t flags;
} qspec_t;

static size_t qspec_build(const qspec_t *s, uint16_t id, uint8_t *pkt)
{
	return build_q(pkt, id, s->flags ? s->flags : CN_FLAG_RD, s->name, s->type, s->edns, 0);
}

static void ask(const qspec_t *s, uint16_t id, uint64_t now, reply_t *r, reply_t *ref)
{
	uint8_t pkt[512];
	size_t len = qspec_build(s, id, pkt);
	ask_raw(engine, hot, pkt, len, now, false, r);
	if (ref)
		ask_raw(engine, NULL, pkt, len, now, false, ref);
}

static void same_reply(const reply_t *a, const reply_t *b, const char *what)
{
	ck_assert_int_eq(a->st, CN_DONE);
	ck_assert_int_eq(b->st, CN_DONE);
	ck_assert_msg(a->len == b->len, "%s: length %zu, the engine's %zu", what, a->len, b->len);
	for (size_t i = 0; i < a->len; i++)
		ck_assert_msg(a->out[i] == b->out[i], "%s: byte %zu is %02x, the engine's %02x",
			      what, i, a->out[i], b->out[i]);
	ck_assert_int_eq(a->outcome, b->outcome);
}

static uint64_t served(void)
{
	uint64_t s, st;
	cn_hot_counts(hot, &s, &st);
	return s;
}

static uint64_t stored(void)
{
	uint64_t s, st;
	cn_hot_counts(hot, &s, &st);
	return st;
}

static cn_arena_t arena;

static void parse(const reply_t *r, cn_msg_t *m)
{
	cn_arena_deinit(&arena);
	cn_arena_init(&arena, 0);
	ck_assert_int_eq(cn_msg_parse(r->out, r->len, &arena, m), 0);
}

/* Is the query stored at T (asked once), served at T (asked again)? */
static bool stored_and_served(const qspec_t *s, uint64_t now)
{
	reply_t r1, r2;
	ask(s, 1, now, &r1, NULL);
	ck_assert(!r1.q.ready);
	ask(s, 2, now, &r2, NULL);
	return r2.q.ready;
}

/* ------------------------------------------------------------------ byte identity --- */

static const qspec_t kinds[] = {
	{ "www.example.com", CN_TYPE_A, Q_NOEDNS, 0 },
	{ "www.example.com", CN_TYPE_A, 1232, 0 },
	{ "www.example.com", CN_TYPE_A, 1232 | Q_DO, 0 },
	{ "signed.example.com", CN_TYPE_A, 1232 | Q_DO, 0 },     /* + RRSIG */
	{ "signed.example.com", CN_TYPE_A, 4096 | Q_DO, CN_FLAG_RD | CN_FLAG_CD },
	{ "WwW.ExAmPlE.cOm", CN_TYPE_A, 1232, 0 },               /* 0x20-style case */
	{ "alias.example.com", CN_TYPE_A, 1232, 0 },             /* CNAME chain, 2 links */
	{ "ALIAS.example.COM", CN_TYPE_A, Q_NOEDNS, 0 },
	{ "www.dn.example.com", CN_TYPE_A, 1232, 0 },            /* DNAME + CNAME synthesised */
	{ "nope.example.com", CN_TYPE_A, 1232, 0 },              /* NXDOMAIN */
	{ "deep.er.nope.example.com", CN_TYPE_AAAA, Q_NOEDNS, 0 }, /* RFC 8020 */
	{ "www.example.com", CN_TYPE_TXT, 1232 | Q_DO, 0 },      /* NODATA */
	{ "www.example.com", CN_TYPE_TXT, Q_NOEDNS, CN_FLAG_RD | CN_FLAG_AD },
	{ "big.example.com", CN_TYPE_TXT, Q_NOEDNS, 0 },         /* TC=1: 800 bytes > 512 */
	{ "big.example.com", CN_TYPE_TXT, 512, 0 },              /* TC=1 with OPT */
	{ "sixteen.example.com", CN_TYPE_A, 1232, 0 },           /* 16 TTLs: the most kept */
	{ "www.example.com", CN_TYPE_A, Q_NOEDNS, CN_FLAG_CD },  /* RD=0, CD=1: a hit */
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

START_TEST(test_identity)
{
	const qspec_t *s = &kinds[_i];
	reply_t r, ref;
	ask(s, 0x1111, T, &r, NULL); /* made by the engine, stored */
	ck_assert_int_eq(r.st, CN_DONE);
	ck_assert(!r.q.ready);
	ck_assert_msg(r.outcome == CN_OUT_CACHE_POSITIVE || r.outcome == CN_OUT_CACHE_NEGATIVE,
		      "%s: outcome %d", s->name, r.outcome);
	ck_assert_uint_eq(stored(), 1);
	ck_assert_uint_le(r.len, 512);
	/* the same second, another ID: the copy, as the engine writes it now */
	ask(s, 0x2222, T, &r, &ref);
	ck_assert_msg(r.q.ready, "%s type %u not served from the table", s->name, s->type);
	ck_assert(!ref.q.ready);
	ck_assert_uint_eq(cn_wire_get16(r.out), 0x2222);
	same_reply(&r, &ref, "now");
	ck_assert(!r.q.prefetch);
	uint8_t at_t[4096];
	size_t at_t_len = r.len;
	memcpy(at_t, r.out, r.len);
	/* a second later: every TTL one less, the rest as it was */
	ask(s, 0x3333, T + 1, &r, &ref);
	ck_assert(r.q.ready);
	same_reply(&r, &ref, "now + 1");
	ck_assert_uint_eq(r.len, at_t_len);
	uint16_t off[32];
	int n = cn_wire_ttl_offsets(r.out, r.len, off, 32);
	ck_assert_int_ge(n, 0);
	ck_assert_int_eq(n, cn_wire_ttl_offsets(at_t, at_t_len, off, 32));
	for (int i = 0; i < n; i++)
		ck_assert_uint_eq(cn_wire_get32(r.out + off[i]) + 1, cn_wire_get32(at_t + off[i]));
	cn_msg_t m, m0;
	parse(&r, &m);
	ck_assert_uint_eq(m.id, 0x3333);
	ck_assert_uint_eq(m.edns.present, s->edns != 0);
	ck_assert_uint_eq(m.edns.do_bit, (s->edns & Q_DO) != 0);
	uint8_t qn[CN_DNAME_MAX];
	ck_assert_int_eq(cn_dname_from_str(s->name, qn, NULL), 0);
	ck_assert_mem_eq(m.qname, qn, cn_dname_len(qn)); /* the client's case */
	for (size_t i = 2; i < 12; i++) /* flags and counts */
		ck_assert_uint_eq(r.out[i], at_t[i]);
	(void)m0;
	/* two seconds later: made by the engine again (and stored anew) */
	uint64_t before = served();
	ask(s, 0x4444, T + 2, &r, &ref);
	ck_assert(!r.q.ready);
	ck_assert_uint_eq(served(), before);
	same_reply(&r, &ref, "now + 2 (the engine)");
	/* the clock went back: built at T+2, never served at T+1 */
	ask(s, 0x5555, T + 1, &r, &ref);
	ck_assert(!r.q.ready);
	same_reply(&r, &ref, "clock back (the engine)");
}
END_TEST

/* The case of the qname is part of the key: another spelling is another entry. */
START_TEST(test_case_is_key)
{
	qspec_t lower = { "www.example.com", CN_TYPE_A, 1232, 0 };
	qspec_t mixed = { "wWw.example.com", CN_TYPE_A, 1232, 0 };
	reply_t r, ref;
	ask(&lower, 1, T, &r, NULL);
	ask(&mixed, 2, T, &r, &ref);
	ck_assert(!r.q.ready);
	same_reply(&r, &ref, "mixed case");
	ask(&mixed, 3, T, &r, &ref);
	ck_assert(r.q.ready);
	same_reply(&r, &ref, "mixed case, served");
	ck_assert_uint_eq(r.out[CN_HEADER_LEN + 2], 'W');
}
END_TEST

/* A reply whose least TTL bounds the life: 2 s left is served at T+1 with TTL 1, never at
 * T+2 (expired); 1 s left is at most served in the same second (hot.c does not store it
 * at all), never with a TTL of 0. */
START_TEST(test_ttl_bounds)
{
	qspec_t two = { "two.example.com", CN_TYPE_A, 1232, 0 };
	qspec_t one = { "one.example.com", CN_TYPE_A, 1232, 0 };
	reply_t r, ref;
	ask(&one, 1, T, &r, NULL);
	ask(&one, 2, T, &r, &ref);
	if (r.q.ready)
		same_reply(&r, &ref, "TTL 1 left");
	ask(&one, 3, T + 1, &r, NULL);
	ck_assert(!r.q.ready);
	ck_assert_int_eq(r.st, CN_MISS);
	ask(&two, 1, T, &r, NULL);
	ask(&two, 2, T + 1, &r, &ref);
	ck_assert(r.q.ready);
	same_reply(&r, &ref, "TTL 1 left at T+1");
	cn_msg_t m;
	parse(&r, &m);
	ck_assert_uint_eq(m.rrs[0].ttl, 1);
	ask(&two, 3, T + 2, &r, NULL);
	ck_assert(!r.q.ready);
	ck_assert_int_eq(r.st, CN_MISS);
	/* made at T+2 with 1 s left: never served at T+3 (expired); made at T+1: at T+2 */
	put_a(cache, "three.example.com", 3, T, "192.0.2.11");
	qspec_t three = { "three.example.com", CN_TYPE_A, 1232, 0 };
	ask(&three, 1, T + 2, &r, NULL);
	ask(&three, 2, T + 3, &r, NULL);
	ck_assert(!r.q.ready);
	ck_assert_int_eq(r.st, CN_MISS);
	ck_assert(stored_and_served(&three, T + 1));
	ask(&three, 4, T + 2, &r, &ref);
	ck_assert(r.q.ready);
	same_reply(&r, &ref, "three at T+2");
}
END_TEST

/* ------------------------------------------------------------------ never stored --- */

START_TEST(test_never_stored)
{
	const qspec_t never[] = {
		{ "big.example.com", CN_TYPE_TXT, 1232, 0 },          /* 800 bytes > 512 */
		{ "seventeen.example.com", CN_TYPE_A, 1232, 0 },      /* 17 TTLs */
		{ "www.example.com", CN_TYPE_ANY, 1232, 0 },          /* RFC 8482 over UDP */
		{ "www.example.com", CN_TYPE_AXFR, 1232, 0 },         /* REFUSED */
		{ "www.example.com", 0, 1232, 0 },                    /* FORMERR */
		{ "missing.example.com", CN_TYPE_A, 1232, 0 },        /* a miss */
		{ "missing.example.com", CN_TYPE_A, 1232, CN_FLAG_CD },     /* RD=0 miss: REFUSED */
		{ "www.example.com", CN_TYPE_A, 1232, CN_FLAG_RD | 0x0800 }, /* opcode 1: NOTIMP */
	};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		ck_assert_msg(!stored_and_served(&never[i], T), "case %zu served", i);
		ck_assert_msg(stored() == 0, "case %zu stored", i);
	}
	/* EDNS version 1: BADVERS */
	uint8_t pkt[512];
	size_t len = build_q(pkt, 9, CN_FLAG_RD, "www.example.com", CN_TYPE_A, 1232, 0);
	pkt[len - 5] = 1;
	reply_t r;
	for (int k = 0; k < 2; k++) {
		ask_raw(engine, hot, pkt, len, T, false, &r);
		ck_assert(!r.q.ready);
	}
	ck_assert_uint_eq(stored(), 0);
	/* class CH */
	len = build_q(pkt, 9, CN_FLAG_RD, "www.example.com", CN_TYPE_A, 1232, 0);
	cn_wire_put16(pkt + CN_HEADER_LEN + 17 + 2, 3);
	for (int k = 0; k < 2; k++) {
		ask_raw(engine, hot, pkt, len, T, false, &r);
		ck_assert(!r.q.ready);
		ck_assert_int_eq(r.outcome, CN_OUT_REFUSED);
	}
	ck_assert_uint_eq(stored(), 0);
	ck_assert_uint_eq(served(), 0);
}
END_TEST

/* A 255-byte name: its 290-byte query (288 bytes after the ID, the most a key takes) and
 * reply do not fit the 400 bytes a slot holds for both, nor does a 291-byte query: neither
 * is kept, both are answered by the engine. */
START_TEST(test_query_size_limit)
{
	/* 12 + 63.63.63.61 (255) + 4 + 11 = 282; padding 4 + pad brings it to 290 / 291 */
	char name[300];
	memset(name, 0, sizeof(name));
	char *p = name;
	for (int i = 0; i < 3; i++) {
		memset(p, 'a' + i, 63);
		p[63] = '.';
		p += 64;
	}
	memset(p, 'd', 61);
	uint8_t wire[CN_DNAME_MAX];
	size_t wl;
	ck_assert_int_eq(cn_dname_from_str(name, wire, &wl), 0);
	ck_assert_uint_eq(wl, 255);
	{
		uint8_t rd[4] = { 192, 0, 2, 200 };
		const uint8_t *r[] = { rd };
		uint16_t l[] = { 4 };
		put_set(cache, name, CN_TYPE_A, 300, T, r, l, 1, false);
	}
	uint8_t pkt[512];
	reply_t r;
	size_t len = build_q(pkt, 1, CN_FLAG_RD, name, CN_TYPE_A, 1232, 4);
	ck_assert_uint_eq(len, 290);
	for (int k = 0; k < 2; k++) {
		ask_raw(engine, hot, pkt, len, T, false, &r);
		ck_assert_int_eq(r.outcome, CN_OUT_CACHE_POSITIVE);
		ck_assert(!r.q.ready);
	}
	len = build_q(pkt, 1, CN_FLAG_RD, name, CN_TYPE_A, 1232, 5);
	ck_assert_uint_eq(len, 291);
	for (int k = 0; k < 2; k++) {
		ask_raw(engine, hot, pkt, len, T, false, &r);
		ck_assert_int_eq(r.outcome, CN_OUT_CACHE_POSITIVE);
		ck_assert(!r.q.ready);
	}
	ck_assert_uint_eq(stored(), 0);
}
END_TEST

/* Question (after the ID) and reply share 400 bytes: a TXT answer for which they take
 * exactly 400 is kept, one more byte is not. */
static void put_txt_len(const char *owner, size_t rdlen)
{
	static uint8_t rd[600];
	memset(rd, 'y', sizeof(rd));
	rd[0] = 254;
	rd[255] = (uint8_t)(rdlen - 256);
	const uint8_t *r[] = { rd };
	uint16_t l[] = { (uint16_t)rdlen };
	put_set(cache, owner, CN_TYPE_TXT, 300, T, r, l, 1, false);
}

START_TEST(test_reply_size_limit)
{
	/* query 12 + 22 + 11 = 45 (43 after the ID); reply 12 + 22 + 12 + rdlen + 11 */
	put_txt_len("t400.example.com", 300); /* 43 + 357 = 400 */
	put_txt_len("t401.example.com", 301);
	qspec_t a = { "t400.example.com", CN_TYPE_TXT, 1232, 0 };
	qspec_t b = { "t401.example.com", CN_TYPE_TXT, 1232, 0 };
	reply_t r, ref;
	ask(&a, 1, T, &r, NULL);
	ck_assert_uint_eq(r.len, 357);
	ask(&a, 2, T, &r, &ref);
	ck_assert(r.q.ready);
	same_reply(&r, &ref, "400 bytes");
	ask(&b, 1, T, &r, NULL);
	ck_assert_uint_eq(r.len, 358);
	ask(&b, 2, T, &r, NULL);
	ck_assert(!r.q.ready);
	ck_assert_uint_eq(stored(), 1);
}
END_TEST

/* TCP: net passes no table (cn_client_t.hot NULL): nothing stored, nothing served, even
 * for the bytes a UDP client had stored. */
START_TEST(test_tcp_never)
{
	qspec_t s = { "www.example.com", CN_TYPE_A, 1232, 0 };
	uint8_t pkt[512];
	size_t len = qspec_build(&s, 7, pkt);
	reply_t r;
	ask_raw(engine, NULL, pkt, len, T, true, &r);
	ask_raw(engine, NULL, pkt, len, T, true, &r);
	ck_assert(!r.q.ready);
	ck_assert_uint_eq(stored(), 0);
	ask_raw(engine, hot, pkt, len, T, false, &r); /* UDP: stored */
	ck_assert_uint_eq(stored(), 1);
	ask_raw(engine, NULL, pkt, len, T, true, &r);
	ck_assert(!r.q.ready);
	ck_assert_uint_eq(served(), 0);
}
END_TEST

/* Hosted zone data (public here) is never stored; the cache's answers beside it are. */
START_TEST(test_hosted_not_stored)
{
	cn_zoneset_t *zs;
	char err[256];
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	ck_assert_msg(cn_zoneset_load_text(zs, "hosted.test", "h",
					   "$TTL 300\n@ SOA ns h 1 3600 600 86400 60\n@ NS ns\n"
					   "ns A 192.0.2.53\nwww A 192.0.2.80\n", NULL, 0, err,
					   sizeof(err)) == 0, "%s", err);
	cn_engine_set_zones(engine, zs);
	qspec_t h = { "www.hosted.test", CN_TYPE_A, 1232, 0 };
	qspec_t nx = { "nope.hosted.test", CN_TYPE_A, 1232, 0 };
	ck_assert(!stored_and_served(&h, T));
	ck_assert(!stored_and_served(&nx, T));
	ck_assert_uint_eq(stored(), 0);
	qspec_t c = { "www.example.com", CN_TYPE_A, 1232, 0 };
	ck_assert(stored_and_served(&c, T)); /* public zones only: the cache path stores */
	cn_engine_set_zones(engine, NULL);
	cn_zoneset_free(zs);
}
END_TEST

/* With a private zone in the set, an answer may depend on the client's address: nothing
 * is stored, not even the cache's answers for names outside it. */
START_TEST(test_private_zone_stops_storing)
{
	cn_zoneset_t *zs;
	char err[256];
	cn_zone_prefix_t lan;
	ck_assert_int_eq(prefix("10.0.0.0/8", &lan), 0);
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	ck_assert_msg(cn_zoneset_load_text(zs, "corp.test", "corp",
					   "$TTL 300\n@ SOA ns h 1 3600 600 86400 60\n@ NS ns\n"
					   "ns A 10.0.0.1\n", &lan, 1, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert(cn_zoneset_has_private(zs));
	cn_engine_set_zones(engine, zs);
	for (size_t i = 0; i < NKINDS; i++) {
		reply_t r, ref;
		ask(&kinds[i], 1, T, &r, NULL);
		ask(&kinds[i], 2, T, &r, &ref);
		ck_assert(!r.q.ready);
		same_reply(&r, &ref, "private zone configured");
	}
	ck_assert_uint_eq(stored(), 0);
	ck_assert_uint_eq(served(), 0);
	cn_engine_set_zones(engine, NULL);
	cn_zoneset_free(zs);
	ck_assert(stored_and_served(&kinds[0], T));
}
END_TEST

/* RFC 8198: a denial synthesised from cached validated NSEC ranges is never stored. */
START_TEST(test_aggressive_not_stored)
{
	cn_engine_t *e;
	cn_engine_conf_t conf;
	engine_conf(&conf, false, NULL);
	conf.dnssec.enabled = true;
	conf.dnssec.aggressive_nsec = true;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &e), 0);
	cn_hot_t *h;
	ck_assert_int_eq(cn_engine_hot_new(e, 16, &h), 0);
	/* the zone's ranges: its SOA and one NSEC example.com -> zzz.example.com */
	static const uint8_t nsec_rdata[] = { 3, 'z', 'z', 'z', 7, 'e', 'x', 'a', 'm', 'p', 'l',
					      'e', 3, 'c', 'o', 'm', 0, 0, 6, 0x22, 0, 0, 0,
					      0, 3 }; /* NS SOA RRSIG NSEC */
	cn_rr_t soa = { .owner = N("example.com"), .rdata = soa_rdata,
			.rdlen = sizeof(soa_rdata), .type = CN_TYPE_SOA,
			.section = CN_SECTION_AUTHORITY };
	cn_rr_t nsec = { .owner = N("example.com"), .rdata = nsec_rdata,
			 .rdlen = sizeof(nsec_rdata), .type = CN_TYPE_NSEC,
			 .section = CN_SECTION_AUTHORITY };
	const cn_rr_t *x[2] = { &soa, &nsec };
	uint8_t val[512];
	size_t vlen;
	cn_wire_put16(val, 0);
	ck_assert_int_eq(cn__value_add_trailer(val, 2, sizeof(val), CN_DNSSEC_STATE_SECURE, x, 2,
					       &vlen), 0);
	const uint8_t *apex = N("example.com");
	ck_assert_int_eq(cn_cache_insert(cache, apex, cn_dname_len(apex), CN_TYPE_NSEC,
					 CN_CLASS_NSEC_RANGES, CN_CACHE_RRSET, CN_RANK_ADDITIONAL,
					 300, T, val, vlen), 0);
	uint8_t pkt[512];
	size_t len = build_q(pkt, 5, CN_FLAG_RD, "mmm.example.com", CN_TYPE_A, 1232 | Q_DO, 0);
	reply_t r;
	for (int k = 0; k < 3; k++) {
		ask_raw(e, h, pkt, len, T, false, &r);
		ck_assert_int_eq(r.st, CN_DONE);
		ck_assert_int_eq(r.outcome, CN_OUT_CACHE_NEGATIVE);
		ck_assert(!r.q.ready);
	}
	cn_engine_stats_t st;
	cn_engine_stats(e, &st);
	ck_assert_uint_eq(st.dnssec_aggressive, 3);
	uint64_t s, stc;
	cn_hot_counts(h, &s, &stc);
	ck_assert_uint_eq(stc, 0);
	cn_hot_free(h);
	cn_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ the prefetch window */

/* An A RRset of TTL 100 asked at every second of its life, with prefetch on: a copy is
 * only served where the engine would give the same bytes and no prefetch; and in the
 * last 10% (left < 10) nothing is served or stored. Built at T+89 (11 left): served at
 * T+90; built at T+90 (10 left): served at T+90 only. */
START_TEST(test_prefetch_window)
{
	cn_engine_conf_t conf;
	engine_conf(&conf, true, NULL);
	cn_engine_reconfigure(engine, &conf);
	put_a(cache, "pf.example.com", 100, T, "192.0.2.60");
	qspec_t s = { "pf.example.com", CN_TYPE_A, 1232, 0 };
	for (uint64_t b = T; b < T + 100; b++) {
		for (uint64_t age = 0; age <= 2; age++) {
			reply_t r, ref;
			ask(&s, 1, b, &r, NULL);
			bool in_window = (T + 100 - b) * 10 < 100;
			ck_assert_uint_eq(r.q.prefetch, in_window);
			if (b + age >= T + 100)
				continue;
			ask(&s, 2, b + age, &r, &ref);
			bool window_then = (T + 100 - (b + age)) * 10 < 100;
			if (r.q.ready) {
				same_reply(&r, &ref, "prefetch");
				ck_assert(!ref.q.prefetch);
				ck_assert(!in_window && !window_then);
			}
			/* served whenever allowed: age 0 or 1 before the window, and age 1 only
			 * when the window has not begun by then */
			bool want = !in_window && !window_then && age <= 1;
			ck_assert_msg(r.q.ready == want, "built T+%u, asked T+%u: served %d",
				      (unsigned)(b - T), (unsigned)(b + age - T), r.q.ready);
			/* leave the table empty for the next round */
			void *old;
			ck_assert_int_eq(cn_engine_set_forwards(engine, NULL, 0, &old), 0);
		}
	}
	/* with prefetch off the same entry is served to its last second with TTL >= 1 */
	engine_conf(&conf, false, NULL);
	cn_engine_reconfigure(engine, &conf);
	ck_assert(stored_and_served(&s, T + 97));
	reply_t r, ref;
	ask(&s, 3, T + 98, &r, &ref);
	ck_assert(r.q.ready);
	same_reply(&r, &ref, "prefetch off, T+98");
	ask(&s, 4, T + 99, &r, NULL);
	ck_assert(!r.q.ready); /* 1 s left: never stored, so made by the engine */
	ck_assert_int_eq(r.outcome, CN_OUT_CACHE_POSITIVE);
}
END_TEST

/* ------------------------------------------------------------------ epochs ---------- */

static const qspec_t www_a = { "www.example.com", CN_TYPE_A, 1232, 0 };

/* Store www A; do what; then the next query must be answered by the engine (served ==
 * false) or may still be served (true). */
static void after(bool (*what)(void), bool still_served)
{
	reply_t r, ref;
	ask(&www_a, 1, T, &r, NULL);
	ask(&www_a, 2, T, &r, NULL);
	ck_assert(r.q.ready);
	bool data_back = what();
	ask(&www_a, 3, T, &r, &ref);
	ck_assert_msg(r.q.ready == still_served, "served %d, expected %d", r.q.ready,
		      still_served);
	if (data_back)
		same_reply(&r, &ref, "after the event");
}

static bool ev_flush(void)
{
	cn_cache_flush(cache);
	data_fill(cache); /* the same data again: only the epoch tells */
	return true;
}

static bool ev_remove(void)
{
	const uint8_t *n = N("www.example.com");
	ck_assert_int_eq(cn_cache_remove(cache, n, cn_dname_len(n), CN_TYPE_A, CN_CLASS_IN), 0);
	put_a(cache, "www.example.com", 300, T, "192.0.2.1");
	return true;
}

static bool ev_remove_other(void)
{
	const uint8_t *n = N("nope.example.com");
	ck_assert_int_eq(cn_cache_remove(cache, n, cn_dname_len(n), CN_CACHE_TYPE_NXDOMAIN,
					 CN_CLASS_IN), 0);
	return true;
}

static bool ev_remove_nothing(void)
{
	const uint8_t *n = N("absent.example.com");
	ck_assert_int_eq(cn_cache_remove(cache, n, cn_dname_len(n), CN_TYPE_A, CN_CLASS_IN),
			 -ENOENT);
	return true;
}

static bool ev_flush_name(void)
{
	const uint8_t *n = N("www.example.com");
	ck_assert_uint_eq(cn_cache_flush_name(cache, n, cn_dname_len(n), false), 2); /* A, TXT */
	put_a(cache, "www.example.com", 300, T, "192.0.2.1");
	return true;
}

static bool ev_flush_subtree(void)
{
	const uint8_t *n = N("example.com");
	ck_assert_uint_gt(cn_cache_flush_name(cache, n, cn_dname_len(n), true), 5);
	data_fill(cache);
	return true;
}

static bool ev_flush_name_nothing(void)
{
	const uint8_t *n = N("absent.example.com");
	ck_assert_uint_eq(cn_cache_flush_name(cache, n, cn_dname_len(n), true), 0);
	return true;
}

static bool ev_load_buf(void)
{
	char path[] = "/tmp/cairn-test-hot-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_gt(cn_cache_dump(cache, path, T), 0);
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	static uint8_t buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	unlink(path);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, sizeof(buf));
	ck_assert_int_ge(cn_cache_load_buf(cache, buf, n, T), 0);
	return true;
}

static bool ev_load_file(void)
{
	char path[] = "/tmp/cairn-test-hot-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_gt(cn_cache_dump(cache, path, T), 0);
	ck_assert_int_ge(cn_cache_load(cache, path, T), 0);
	unlink(path);
	return true;
}

static bool ev_set_zones(void)
{
	cn_engine_set_zones(engine, NULL);
	return true;
}

static bool ev_reconfigure(void)
{
	cn_engine_conf_t conf;
	engine_conf(&conf, false, NULL);
	cn_engine_reconfigure(engine, &conf);
	return true;
}

static bool ev_set_forwards(void)
{
	void *old;
	ck_assert_int_eq(cn_engine_set_forwards(engine, NULL, 0, &old), 0);
	cn_engine_forwards_free(old);
	return true;
}

static bool ev_flush_views(void)
{
	cn_engine_flush_views(engine);
	return true;
}

static bool ev_insert_other(void)
{
	put_a(cache, "new.example.com", 300, T, "192.0.2.99");
	return true;
}

START_TEST(test_epoch_cache_flush) { after(ev_flush, false); }
END_TEST
START_TEST(test_epoch_cache_remove) { after(ev_remove, false); }
END_TEST
START_TEST(test_epoch_cache_remove_other) { after(ev_remove_other, false); }
END_TEST
START_TEST(test_epoch_cache_remove_nothing) { after(ev_remove_nothing, true); }
END_TEST
START_TEST(test_epoch_cache_flush_name) { after(ev_flush_name, false); }
END_TEST
START_TEST(test_epoch_cache_flush_subtree) { after(ev_flush_subtree, false); }
END_TEST
START_TEST(test_epoch_cache_flush_name_nothing) { after(ev_flush_name_nothing, true); }
END_TEST
START_TEST(test_epoch_cache_load_buf) { after(ev_load_buf, false); }
END_TEST
START_TEST(test_epoch_cache_load_file) { after(ev_load_file, false); }
END_TEST
START_TEST(test_epoch_engine_set_zones) { after(ev_set_zones, false); }
END_TEST
START_TEST(test_epoch_engine_reconfigure) { after(ev_reconfigure, false); }
END_TEST
START_TEST(test_epoch_engine_set_forwards) { after(ev_set_forwards, false); }
END_TEST
START_TEST(test_epoch_engine_flush_views) { after(ev_flush_views, false); }
END_TEST
START_TEST(test_epoch_insert_other) { after(ev_insert_other, true); }
END_TEST

/* A removal the table does not hold stops every copy (one epoch for the whole cache),
 * and the hosted zones appearing answer at once. */
START_TEST(test_zone_added_answers_at_once)
{
	qspec_t s = { "www.example.com", CN_TYPE_A, 1232, 0 };
	ck_assert(stored_and_served(&s, T));
	cn_zoneset_t *zs;
	char err[256];
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	ck_assert_msg(cn_zoneset_load_text(zs, "example.com", "ex",
					   "$TTL 300\n@ SOA ns h 1 3600 600 86400 60\n@ NS ns\n"
					   "ns A 192.0.2.53\nwww A 198.51.100.80\n", NULL, 0, err,
					   sizeof(err)) == 0, "%s", err);
	cn_engine_set_zones(engine, zs);
	reply_t r;
	ask(&s, 3, T, &r, NULL);
	ck_assert(!r.q.ready);
	ck_assert_int_eq(r.outcome, CN_OUT_LOCAL);
	cn_msg_t m;
	parse(&r, &m);
	ck_assert_uint_eq(m.an, 1);
	ck_assert_mem_eq(m.rrs[0].rdata, ((uint8_t[]){ 198, 51, 100, 80 }), 4);
	ask(&s, 4, T, &r, NULL);
	ck_assert(!r.q.ready);
	cn_engine_set_zones(engine, NULL);
	cn_zoneset_free(zs);
}
END_TEST

/* ------------------------------------------------------------------ the predictor's sample */

static bool key_sampled(cn_cache_t *c, const char *name, uint16_t type)
{
	cn_cache_entry_t ent;
	const uint8_t *n = N(name);
	cn_cache_lookup(c, n, cn_dname_len(n), type, CN_CLASS_IN, T, CN_LOOKUP_PEEK, &ent, NULL,
			0);
	return ent.sampled;
}

/* With an eighth of the keys sampled (shift 3, the densest the cache takes: 1 and 2 would
 * leave a shard less than half for entries): an answer whose lookups touch a sampled key is
 * stored like any other, and every copy served shows the predictor those lookups again
 * (cn_cache_replay), so it sees each one. Both the hit key and a missed key count
 * (NXDOMAIN: the qtype first misses), and a CNAME chain's target. */
START_TEST(test_sampled_replayed)
{
	teardown();
	cache = cache_make(3);
	engine = engine_make(cache, false, NULL);
	ck_assert_int_eq(cn_engine_hot_new(engine, 256, &hot), 0);
	char name[64];
	int found_s = -1, found_nx_miss_sampled = -1;
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "n%d.example.com", i);
		bool a = key_sampled(cache, name, CN_TYPE_A);
		bool nx = key_sampled(cache, name, CN_CACHE_TYPE_NXDOMAIN);
		if (a && !nx && found_nx_miss_sampled < 0)
			found_nx_miss_sampled = i;
		else if (a && found_s < 0)
			found_s = i;
	}
	ck_assert(found_s >= 0 && found_nx_miss_sampled >= 0);
	char sn[64], nxs[64];
	snprintf(sn, sizeof(sn), "n%d.example.com", found_s);
	snprintf(nxs, sizeof(nxs), "n%d.example.com", found_nx_miss_sampled);
	put_a(cache, sn, 300, T, "192.0.2.1");
	put_neg(cache, nxs, CN_CACHE_NXDOMAIN, 0, 300, T);
	qspec_t s = { sn, CN_TYPE_A, 1232, 0 };
	qspec_t xs = { nxs, CN_TYPE_A, 1232, 0 };
	cn_cache_predict_t p0, p1;
	cn_cache_predict(cache, &p0);
	for (int k = 0; k < 3; k++) {
		reply_t r;
		ask(&s, 1, T, &r, NULL);
		ck_assert_int_eq(r.outcome, CN_OUT_CACHE_POSITIVE);
		ck_assert(r.q.ready == (k > 0));
		ask(&xs, 1, T, &r, NULL);
		ck_assert_int_eq(r.outcome, CN_OUT_CACHE_NEGATIVE);
		ck_assert(r.q.ready == (k > 0));
	}
	cn_cache_predict(cache, &p1);
	ck_assert_uint_eq(p1.sampled_lookups - p0.sampled_lookups, 6); /* every one seen */
	ck_assert_uint_eq(stored(), 2);
	/* a chain through a sampled key: stored, its target's lookup replayed */
	char cn[64];
	for (int i = 0;; i++) {
		snprintf(cn, sizeof(cn), "c%d.example.com", i);
		if (!key_sampled(cache, cn, CN_TYPE_A) &&
		    !key_sampled(cache, cn, CN_CACHE_TYPE_NXDOMAIN) &&
		    !key_sampled(cache, cn, CN_TYPE_CNAME))
			break;
	}
	put_name(cache, cn, CN_TYPE_CNAME, 300, T, sn);
	qspec_t c = { cn, CN_TYPE_A, 1232, 0 };
	ck_assert(stored_and_served(&c, T));
	cn_cache_predict(cache, &p0);
	ck_assert_uint_eq(p0.sampled_lookups - p1.sampled_lookups, 2); /* the target, twice */
}
END_TEST

/* ------------------------------------------------------------------ the cache's counters */

/* Two engines, each over its own cache (same key, same data, sample shift 3), one with a
 * table and one without, prefetch on: the same queries at the same times give the same
 * replies, and after cn_engine_hot_credit the same cache statistics, every field, and the
 * same predictor figures; the engines' own counters too. Run twice: without validation,
 * and validating (the data insecure, signed.example.com secure: AD for DO clients; RFC
 * 8198 on, with no ranges cached). */

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void stats_equal(cn_cache_t *a, cn_cache_t *b, uint64_t t)
{
	cn_cache_stats_t sa, sb;
	cn_cache_stats(a, &sa);
	cn_cache_stats(b, &sb);
	/* the bytes are what malloc really holds (malloc_usable_size): with glibc they depend
	 * on the heap's state, which two caches sharing one heap do not share */
	sa.bytes_used = sb.bytes_used = 0;
#define CN_X(field, name)                                                                  \
	ck_assert_msg(sa.field == sb.field, "T+%u: %s %llu with the table, %llu without",    \
		      (unsigned)(t - T), name, (unsigned long long)sa.field,                 \
		      (unsigned long long)sb.field);
	CN_CACHE_STATS_MAP(CN_X)
#undef CN_X
	cn_cache_predict_t pa, pb;
	cn_cache_predict(a, &pa);
	cn_cache_predict(b, &pb);
	ck_assert_uint_eq(pa.sampled_lookups, pb.sampled_lookups);
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++) {
		ck_assert_uint_eq(pa.sampled_hits[i], pb.sampled_hits[i]);
		ck_assert(pa.hit_rate[i] == pb.hit_rate[i]);
	}
}

/* Entries that expire during the run, put back every 6 s once expired (an insert that
 * replaces a live entry moves no epoch: a copy made before it may keep the old TTL for
 * its last second, which this comparison would see). */
static void short_data(cn_cache_t *c, uint64_t now)
{
	put_a(c, "short.example.com", 3, now, "192.0.2.30");
	put_neg(c, "gone.example.com", CN_CACHE_NXDOMAIN, 0, 4, now);
}

START_TEST(test_credit_exact)
{
	teardown();
	validating = _i == 1;
	cn_cache_t *c1 = cache_make(3), *c2 = cache_make(3);
	cn_engine_t *e1 = engine_make(c1, true, NULL), *e2 = engine_make(c2, true, NULL);
	cn_hot_t *h;
	ck_assert_int_eq(cn_engine_hot_new(e1, 1024, &h), 0);
	data_fill(c1);
	data_fill(c2);
	short_data(c1, T);
	short_data(c2, T);
	for (int i = 0; i < 2; i++) {
		cn_cache_t *c = i ? c2 : c1;
		put_a(c, "mid.example.com", 20, T, "192.0.2.31");
		put_name(c, "to-short.example.com", CN_TYPE_CNAME, 300, T, "short.example.com");
	}
	static const qspec_t qs[] = {
		{ "www.example.com", CN_TYPE_A, Q_NOEDNS, 0 },
		{ "www.example.com", CN_TYPE_A, 1232, 0 },
		{ "www.example.com", CN_TYPE_A, 1232 | Q_DO, 0 },
		{ "WWW.example.com", CN_TYPE_A, 1232, 0 },
		{ "signed.example.com", CN_TYPE_A, 1232 | Q_DO, 0 },
		{ "alias.example.com", CN_TYPE_A, 1232, 0 },
		{ "alias2.example.com", CN_TYPE_A, Q_NOEDNS, 0 },
		{ "alias.example.com", CN_TYPE_CNAME, 1232, 0 },
		{ "www.dn.example.com", CN_TYPE_A, 1232, 0 },
		{ "other.dn.example.com", CN_TYPE_A, 1232, 0 },   /* DNAME, then a miss */
		{ "nope.example.com", CN_TYPE_A, 1232, 0 },
		{ "nope.example.com", CN_TYPE_MX, Q_NOEDNS, 0 },
		{ "a.b.nope.example.com", CN_TYPE_A, 1232, 0 },   /* RFC 8020 */
		{ "www.example.com", CN_TYPE_TXT, 1232, 0 },      /* NODATA */
		{ "big.example.com", CN_TYPE_TXT, Q_NOEDNS, 0 },  /* TC */
		{ "big.example.com", CN_TYPE_TXT, 1232, 0 },      /* > 512: not stored */
		{ "sixteen.example.com", CN_TYPE_A, 1232, 0 },
		{ "seventeen.example.com", CN_TYPE_A, 1232, 0 },
		{ "short.example.com", CN_TYPE_A, 1232, 0 },      /* TTL 3, refilled */
		{ "to-short.example.com", CN_TYPE_A, 1232, 0 },
		{ "mid.example.com", CN_TYPE_A, 1232, 0 },        /* TTL 20: prefetch window */
		{ "gone.example.com", CN_TYPE_A, 1232, 0 },       /* NXDOMAIN for 4 s */
		{ "missing.example.com", CN_TYPE_A, 1232, 0 },    /* a miss */
		{ "missing.example.com", CN_TYPE_A, 1232, CN_FLAG_CD }, /* RD=0: refused */
		{ "www.example.com", CN_TYPE_A, 1232, CN_FLAG_CD },     /* RD=0: a hit */
		{ "www.example.com", CN_TYPE_ANY, 1232, 0 },
		{ "one.example.com", CN_TYPE_A, 1232, 0 },
		{ "two.example.com", CN_TYPE_A, 1232, 0 },
	};
	const size_t nq = sizeof(qs) / sizeof(qs[0]);
	uint64_t ready = 0, asked = 0, ad = 0;
	uint16_t id = 0;
	for (uint64_t t = T; t < T + 40; t++) {
		if ((t - T) % 6 == 5) { /* expired by now: the same data again, in both */
			short_data(c1, t);
			short_data(c2, t);
		}
		if (t == T + 13) { /* epoch events, in both */
			const uint8_t *n = N("alias2.example.com");
			cn_cache_flush_name(c1, n, cn_dname_len(n), false);
			cn_cache_flush_name(c2, n, cn_dname_len(n), false);
		}
		if (t == T + 17) {
			put_name(c1, "alias2.example.com", CN_TYPE_CNAME, 3600, t, "www.example.com");
			put_name(c2, "alias2.example.com", CN_TYPE_CNAME, 3600, t, "www.example.com");
			const uint8_t *n = N("www.example.com");
			cn_cache_remove(c1, n, cn_dname_len(n), CN_TYPE_TXT, CN_CLASS_IN);
			cn_cache_remove(c2, n, cn_dname_len(n), CN_TYPE_TXT, CN_CLASS_IN);
		}
		for (int batch = 0; batch < 4; batch++) {
			unsigned nb = 1 + (unsigned)(next_rand() % 40);
			for (unsigned k = 0; k < nb; k++) {
				const qspec_t *s = &qs[next_rand() % nq];
				uint8_t pkt[512];
				size_t len = qspec_build(s, ++id, pkt);
				reply_t r1, r2;
				ask_raw(e1, h, pkt, len, t, false, &r1);
				ask_raw(e2, NULL, pkt, len, t, false, &r2);
				ck_assert_int_eq(r1.st, r2.st);
				if (r1.st == CN_DONE)
					same_reply(&r1, &r2, s->name);
				else
					ck_assert_uint_eq(r1.q.miss, r2.q.miss);
				if (r1.q.ready)
					ck_assert(!r2.q.prefetch);
				ready += r1.q.ready;
				ad += r1.st == CN_DONE && (cn_wire_get16(r1.out + 2) & CN_FLAG_AD);
				asked++;
			}
			cn_engine_hot_credit(e1, h); /* once per receive batch */
			stats_equal(c1, c2, t);
		}
	}
	uint64_t s, st;
	cn_hot_counts(h, &s, &st);
	ck_assert_uint_eq(s, ready);
	ck_assert_uint_gt(ready, asked / 4); /* the table did serve */
	ck_assert(validating ? ad > 0 : ad == 0);
	cn_engine_stats_t es1, es2;
	cn_engine_stats(e1, &es1);
	cn_engine_stats(e2, &es2);
	ck_assert_mem_eq(&es1, &es2, sizeof(es1));
	/* a credit with nothing pending changes nothing */
	cn_engine_hot_credit(e1, h);
	cn_engine_hot_credit(e1, NULL);
	stats_equal(c1, c2, T + 40);
	cn_hot_free(h);
	cn_engine_free(e1);
	cn_engine_free(e2);
	cn_cache_free(c1);
	cn_cache_free(c2);
}
END_TEST

/* What a served reply stands for, exactly: an NXDOMAIN reply first misses its qtype,
 * then hits the NXDOMAIN entry; a CNAME chain misses the qtype and the NXDOMAIN slot at
 * each link it follows. */
START_TEST(test_credit_counts)
{
	static const struct {
		qspec_t s;
		uint64_t lookups, hits, miss_first;
	} want[] = {
		{ { "www.example.com", CN_TYPE_A, 1232, 0 }, 1, 1, 0 },
		{ { "nope.example.com", CN_TYPE_A, 1232, 0 }, 2, 1, 1 },
		{ { "www.example.com", CN_TYPE_TXT, 1232, 0 }, 1, 1, 0 },
		{ { "alias.example.com", CN_TYPE_A, 1232, 0 }, 7, 3, 4 },
		{ { "x.y.nope.example.com", CN_TYPE_A, 1232, 0 }, 5, 1, 4 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		reply_t r;
		ask(&want[i].s, 1, T, &r, NULL);
		ck_assert(!r.q.ready);
		cn_cache_stats_t a, b;
		cn_cache_stats(cache, &a);
		for (int k = 0; k < 5; k++) {
			ask(&want[i].s, 2, T, &r, NULL);
			ck_assert(r.q.ready);
		}
		cn_cache_stats(cache, &b);
		ck_assert_uint_eq(b.lookups, a.lookups); /* not credited yet */
		cn_engine_hot_credit(engine, hot);
		cn_cache_stats(cache, &b);
		ck_assert_msg(b.lookups - a.lookups == 5 * want[i].lookups, "%s: %llu lookups",
			      want[i].s.name, (unsigned long long)(b.lookups - a.lookups));
		ck_assert_uint_eq(b.hits - a.hits, 5 * want[i].hits);
		ck_assert_uint_eq(b.miss_first - a.miss_first, 5 * want[i].miss_first);
		ck_assert_uint_eq(b.miss_expired, a.miss_expired);
		ck_assert_uint_eq(b.miss_evicted, a.miss_evicted);
	}
}
END_TEST

/* The misses a reply stands for keep their reason: an NXDOMAIN over a name whose A expired
 * is credited as miss_expired, as the cache counted it. */
START_TEST(test_credit_miss_reason)
{
	put_a(cache, "was.example.com", 5, T, "192.0.2.40");
	put_neg(cache, "was.example.com", CN_CACHE_NXDOMAIN, 0, 600, T + 1);
	qspec_t s = { "was.example.com", CN_TYPE_A, 1232, 0 };
	reply_t r;
	ask(&s, 1, T + 10, &r, NULL); /* the A expired: miss (expired), NXDOMAIN hit */
	ck_assert_int_eq(r.outcome, CN_OUT_CACHE_NEGATIVE);
	cn_cache_stats_t a, b;
	cn_cache_stats(cache, &a);
	ask(&s, 2, T + 10, &r, NULL);
	ck_assert(r.q.ready);
	cn_engine_hot_credit(engine, hot);
	cn_cache_stats(cache, &b);
	ck_assert_uint_eq(b.lookups - a.lookups, 2);
	ck_assert_uint_eq(b.hits - a.hits, 1);
	ck_assert_uint_eq(b.miss_expired - a.miss_expired, 1);
	ck_assert_uint_eq(b.miss_first, a.miss_first);
}
END_TEST

/* A table of 0 entries is none; the memory a table takes. */
START_TEST(test_table_sizes)
{
	cn_hot_t *h = (cn_hot_t *)1;
	ck_assert_int_eq(cn_engine_hot_new(engine, 0, &h), 0);
	ck_assert_ptr_null(h);
	cn_hot_free(NULL);
	uint64_t s = 1, st = 1;
	cn_hot_counts(NULL, &s, &st);
	ck_assert_uint_eq(s + st, 0);
	ck_assert_uint_eq(cn_hot_bytes(0), 0);
	ck_assert_uint_eq(cn_hot_bytes(1000), cn_hot_bytes(1024));
	ck_assert_uint_eq(cn_hot_bytes(1024) * 2, cn_hot_bytes(1025));
	/* a table of one set (two ways): a third question is taken only when it missed there
	 * before and a way was not served since; the older of those goes */
	ck_assert_int_eq(cn_engine_hot_new(engine, 1, &h), 0);
	cn_hot_free(hot);
	hot = h;
	qspec_t a = { "www.example.com", CN_TYPE_A, 1232, 0 };
	qspec_t b = { "nope.example.com", CN_TYPE_A, 1232, 0 };
	qspec_t c = { "alias.example.com", CN_TYPE_A, 1232, 0 };
	reply_t r, ref;
	ask(&a, 1, T, &r, NULL);
	ask(&b, 1, T, &r, NULL);
	ck_assert_uint_eq(stored(), 2);
	ask(&c, 1, T, &r, NULL); /* full: c becomes the candidate */
	ask(&a, 2, T, &r, NULL);
	ck_assert(r.q.ready);
	ask(&b, 2, T, &r, NULL);
	ck_assert(r.q.ready);
	ask(&c, 2, T, &r, NULL); /* both ways served since: not taken */
	ck_assert(!r.q.ready);
	ck_assert_uint_eq(stored(), 2);
	ask(&c, 3, T, &r, NULL); /* again, nothing served in between: taken, a (older) goes */
	ck_assert_uint_eq(stored(), 3);
	ask(&c, 4, T, &r, &ref);
	ck_assert(r.q.ready);
	same_reply(&r, &ref, "taken");
	ask(&b, 3, T, &r, NULL);
	ck_assert(r.q.ready);
	ask(&a, 3, T, &r, &ref);
	ck_assert(!r.q.ready);
	same_reply(&r, &ref, "pushed out");
}
END_TEST

/* ------------------------------------------------------------------ cn_wire_ttl_offsets */

/* A copy of msg in a buffer of exactly len bytes (ASan: any read past it is reported). */
static int offsets_exact(const uint8_t *msg, size_t len, uint16_t *off, size_t max)
{
	uint8_t *b = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(b);
	memcpy(b, msg, len);
	int n = cn_wire_ttl_offsets(b, len, off, max);
	free(b);
	if (n >= 0) {
		ck_assert_uint_le((size_t)n, max);
		for (int i = 0; i < n; i++)
			ck_assert_uint_le((size_t)off[i] + 4, len);
	}
	return n;
}

/* A reply with the question, two answers (one compressed owner), an SOA in authority
 * and OPT in additional. */
static size_t sample_reply(uint8_t *buf, size_t cap, uint16_t *want_off)
{
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, cap, 7, CN_FLAG_QR | CN_FLAG_RD), 0);
	ck_assert_int_eq(cn_writer_question(&w, N("www.example.com"), CN_TYPE_A, CN_CLASS_IN), 0);
	static const uint8_t a1[4] = { 192, 0, 2, 1 }, a2[4] = { 192, 0, 2, 2 };
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("www.example.com"), CN_TYPE_A,
				      CN_CLASS_IN, 0x01020304, a1, 4), 0);
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("www.example.com"), CN_TYPE_A,
				      CN_CLASS_IN, 0x01020305, a2, 4), 0);
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_AUTHORITY, N("example.com"), CN_TYPE_SOA,
				      CN_CLASS_IN, 0x01020306, soa_rdata, sizeof(soa_rdata)), 0);
	ck_assert_int_eq(cn_writer_opt(&w, 1232, 0, 0, true, NULL, 0), 0);
	size_t len = cn_writer_finish(&w);
	ck_assert_uint_gt(len, 0);
	/* the TTLs by value, to find their offsets independently */
	size_t k = 0;
	for (size_t i = 0; i + 4 <= len && k < 3; i++)
		if (cn_wire_get32(buf + i) == 0x01020304u + k)
			want_off[k++] = (uint16_t)i;
	ck_assert_uint_eq(k, 3);
	return len;
}

START_TEST(test_ttl_offsets_valid)
{
	uint8_t msg[512];
	uint16_t want[3], off[16];
	size_t len = sample_reply(msg, sizeof(msg), want);
	ck_assert_int_eq(offsets_exact(msg, len, off, 16), 3); /* OPT's "TTL" is not one */
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(off[i], want[i]);
	ck_assert_int_eq(offsets_exact(msg, len, off, 3), 3);
	ck_assert_int_eq(offsets_exact(msg, len, off, 2), -1); /* too many records */
	ck_assert_int_eq(offsets_exact(msg, len, off, 0), -1);
	/* a header alone, no records */
	uint8_t hdr[12] = { 0 };
	ck_assert_int_eq(offsets_exact(hdr, 12, off, 16), 0);
	ck_assert_int_eq(offsets_exact(hdr, 11, off, 16), -1);
	ck_assert_int_eq(offsets_exact(hdr, 0, off, 16), -1);
	/* trailing bytes */
	uint8_t more[520];
	memcpy(more, msg, len);
	more[len] = 0;
	ck_assert_int_eq(offsets_exact(more, len + 1, off, 16), -1);
	/* every prefix is refused, and none is read past */
	for (size_t l = 0; l < len; l++)
		ck_assert_msg(offsets_exact(msg, l, off, 16) == -1, "prefix %zu accepted", l);
}
END_TEST

START_TEST(test_ttl_offsets_malformed)
{
	uint16_t off[16];
	/* a question name running off the end: label length past len */
	static const uint8_t q1[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 'a', 'b' };
	ck_assert_int_eq(offsets_exact(q1, sizeof(q1), off, 16), -1);
	/* no terminating root label */
	static const uint8_t q2[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 1, 'b' };
	ck_assert_int_eq(offsets_exact(q2, sizeof(q2), off, 16), -1);
	/* a pointer's first byte as the last byte */
	static const uint8_t q3[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xC0 };
	ck_assert_int_eq(offsets_exact(q3, sizeof(q3), off, 16), -1);
	/* reserved label types 0x40 and 0x80 */
	static const uint8_t q4[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'a', 0, 0, 1, 0, 1 };
	ck_assert_int_eq(offsets_exact(q4, sizeof(q4), off, 16), -1);
	static const uint8_t q5[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x81, 'a', 0, 0, 1, 0, 1 };
	ck_assert_int_eq(offsets_exact(q5, sizeof(q5), off, 16), -1);
	/* the question's type and class cut */
	static const uint8_t q6[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	ck_assert_int_eq(offsets_exact(q6, sizeof(q6), off, 16), -1);
	/* a whole question, then a record whose fixed part is cut */
	static const uint8_t r1[] = { 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1,
				      0xC0, 12, 0, 1, 0, 1, 0, 0, 0 };
	ck_assert_int_eq(offsets_exact(r1, sizeof(r1), off, 16), -1);
	/* a record with rdlen past the end */
	static const uint8_t r2[] = { 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1,
				      0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 1, 2, 3, 4 };
	ck_assert_int_eq(offsets_exact(r2, sizeof(r2), off, 16), -1);
	/* the same with rdlen right: one TTL at 17 + 2 + 4 */
	uint8_t r3[sizeof(r2)];
	memcpy(r3, r2, sizeof(r2));
	r3[28] = 4;
	ck_assert_int_eq(offsets_exact(r3, sizeof(r3) - 1, off, 16), -1);
	r3[28] = 3;
	ck_assert_int_eq(offsets_exact(r3, sizeof(r3) - 1, off, 16), 1);
	ck_assert_uint_eq(off[0], 23);
	/* rdlen 0xffff */
	memcpy(r3, r2, sizeof(r2));
	r3[27] = 0xff, r3[28] = 0xff;
	ck_assert_int_eq(offsets_exact(r3, sizeof(r3), off, 16), -1);
	/* counts claiming more records than there are */
	uint8_t r4[sizeof(r2)];
	memcpy(r4, r2, sizeof(r2));
	r4[28] = 4;
	r4[7] = 2;
	ck_assert_int_eq(offsets_exact(r4, sizeof(r4), off, 16), -1);
	r4[7] = 0, r4[9] = 0xff, r4[11] = 0xff;
	ck_assert_int_eq(offsets_exact(r4, sizeof(r4), off, 16), -1);
	r4[5] = 0xff; /* 65535 questions */
	ck_assert_int_eq(offsets_exact(r4, sizeof(r4), off, 16), -1);
	/* an owner that is a pointer's first byte at the very end of the message */
	static const uint8_t r5[] = { 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0 };
	ck_assert_int_eq(offsets_exact(r5, sizeof(r5), off, 16), -1);
	/* seventeen records, room for sixteen */
	uint8_t many[12 + 17 * 15];
	memset(many, 0, sizeof(many));
	many[7] = 17;
	for (int i = 0; i < 17; i++) {
		uint8_t *p = many + 12 + i * 15;
		p[0] = 0; /* root owner */
		p[1] = 0, p[2] = 1, p[3] = 0, p[4] = 1;
		p[5] = 0, p[6] = 0, p[7] = 0, p[8] = (uint8_t)i;
		p[9] = 0, p[10] = 4;
	}
	ck_assert_int_eq(offsets_exact(many, sizeof(many), off, 16), -1);
	many[7] = 16;
	ck_assert_int_eq(offsets_exact(many, sizeof(many) - 15, off, 16), 16);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(cn_wire_get32(many + off[i]), (uint32_t)i);
	/* OPT records do not count against max */
	many[7] = 0, many[11] = 17;
	for (int i = 0; i < 17; i++)
		cn_wire_put16(many + 12 + i * 15 + 1, CN_TYPE_OPT);
	ck_assert_int_eq(offsets_exact(many, sizeof(many), off, 16), 0);
}
END_TEST

/* Random mutations of a real reply and random bytes: never a read past len (ASan), and
 * whatever is accepted has its offsets inside the message. */
START_TEST(test_ttl_offsets_mutations)
{
	uint8_t msg[512], m[512];
	uint16_t want[3], off[16];
	size_t len = sample_reply(msg, sizeof(msg), want);
	for (int round = 0; round < 20000; round++) {
		memcpy(m, msg, len);
		size_t l = len;
		int edits = 1 + (int)(next_rand() % 4);
		for (int k = 0; k < edits; k++) {
			size_t at = next_rand() % len;
			switch (next_rand() % 4) {
			case 0: m[at] = (uint8_t)next_rand(); break;
			case 1: m[at] = 0xC0 | (uint8_t)(next_rand() & 0x3f); break;
			case 2: m[at] = (uint8_t)(next_rand() % 64); break;
			default: l = 12 + next_rand() % (len - 11); break;
			}
		}
		offsets_exact(m, l, off, 16);
	}
	for (int round = 0; round < 5000; round++) {
		size_t l = next_rand() % 300;
		for (size_t i = 0; i < l; i++)
			m[i] = (uint8_t)next_rand();
		if (l >= 12)
			m[4] = 0, m[5] = (uint8_t)(next_rand() % 3), m[6] = 0,
			m[7] = (uint8_t)(next_rand() % 8), m[8] = 0, m[9] = 0, m[10] = 0,
			m[11] = (uint8_t)(next_rand() % 3);
		offsets_exact(m, l, off, 16);
	}
}
END_TEST

/* ------------------------------------------------------------------ suite ----------- */

static Suite *suite(void)
{
	Suite *s = suite_create("hot");
	TCase *tc = tcase_create("served");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_identity, 0, NKINDS);
	tcase_add_test(tc, test_case_is_key);
	tcase_add_test(tc, test_ttl_bounds);
	tcase_add_test(tc, test_never_stored);
	tcase_add_test(tc, test_query_size_limit);
	tcase_add_test(tc, test_reply_size_limit);
	tcase_add_test(tc, test_tcp_never);
	tcase_add_test(tc, test_hosted_not_stored);
	tcase_add_test(tc, test_private_zone_stops_storing);
	tcase_add_test(tc, test_aggressive_not_stored);
	tcase_add_test(tc, test_prefetch_window);
	tcase_add_test(tc, test_zone_added_answers_at_once);
	tcase_add_test(tc, test_table_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("epochs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_epoch_cache_flush);
	tcase_add_test(tc, test_epoch_cache_remove);
	tcase_add_test(tc, test_epoch_cache_remove_other);
	tcase_add_test(tc, test_epoch_cache_remove_nothing);
	tcase_add_test(tc, test_epoch_cache_flush_name);
	tcase_add_test(tc, test_epoch_cache_flush_subtree);
	tcase_add_test(tc, test_epoch_cache_flush_name_nothing);
	tcase_add_test(tc, test_epoch_cache_load_buf);
	tcase_add_test(tc, test_epoch_cache_load_file);
	tcase_add_test(tc, test_epoch_engine_set_zones);
	tcase_add_test(tc, test_epoch_engine_reconfigure);
	tcase_add_test(tc, test_epoch_engine_set_forwards);
	tcase_add_test(tc, test_epoch_engine_flush_views);
	tcase_add_test(tc, test_epoch_insert_other);
	suite_add_tcase(s, tc);

	tc = tcase_create("counters");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_sampled_replayed);
	tcase_add_loop_test(tc, test_credit_exact, 0, 2);
	tcase_add_test(tc, test_credit_counts);
	tcase_add_test(tc, test_credit_miss_reason);
	suite_add_tcase(s, tc);

	tc = tcase_create("ttl_offsets");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ttl_offsets_valid);
	tcase_add_test(tc, test_ttl_offsets_malformed);
	tcase_add_test(tc, test_ttl_offsets_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(suite());
}
