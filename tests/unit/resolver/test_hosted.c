/*
 * Unit tests for resolver/hosted.c: the engine answering from hosted zones before the cache
 * (cn_engine_query with conf.zones), with no network: AA and outcome `local`, visibility by
 * client address, a CNAME chain leaving the zones finished from the cache or turned into a
 * resolution of its target (and rebuilt by cn_engine_hosted_finish), a cached public chain
 * cut where it enters a private zone, public delegations seeded into the cache, private
 * ones refused, and hosted data never written to the cache.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/internal.h"
#include "resolver/zone.h"
#include "zone_test.h"

static void fake_random(void *buf, size_t len)
{
	memset(buf, 0x5a, len);
}

static cn_cache_t *cache;
static cn_engine_t *engine;
static cn_zoneset_t *zs;
static const cn_time_t now = { .wall_s = 1700000000, .mono_ms = 1000 };

static const char corp[] = "$TTL 300\n@ SOA ns h 5 3600 600 86400 60\n@ NS ns\n"
			   "ns A 10.1.0.1\nwww A 10.1.0.10\nout CNAME www.public.test.\n"
			   "sub NS ns.sub\nns.sub A 127.0.0.40\n";
static const char pub[] = "$TTL 300\n@ SOA ns h 9 3600 600 86400 60\n@ NS ns\n"
			  "ns A 192.0.2.1\nhost A 192.0.2.2\nsub NS ns.sub\nns.sub A 127.0.0.41\n";

static void setup(void)
{
	cn_cache_conf_t cc = { .budget_bytes = 4 << 20, .max_ttl_s = 86400,
			       .neg_max_ttl_s = 3600 };
	ck_assert_int_eq(cn_cache_new(&cc, &cache), 0);
	char err[256];
	cn_zone_prefix_t lan;
	ck_assert_int_eq(prefix("127.0.0.2", &lan), 0);
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	ck_assert_msg(cn_zoneset_load_text(zs, "corp.example", "corp", corp, &lan, 1, err,
					   sizeof(err)) == 0, "%s", err);
	ck_assert_msg(cn_zoneset_load_text(zs, "pub.test", "pub", pub, NULL, 0, err,
					   sizeof(err)) == 0, "%s", err);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.zones = zs;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
}

static void teardown(void)
{
	cn_engine_free(engine);
	cn_zoneset_free(zs);
	cn_cache_free(cache);
}

static struct sockaddr_in from;
static uint8_t out[65535];
static size_t out_len;
static cn_question_t q;
static cn_outcome_t outcome;
static cn_arena_t arena;
static cn_msg_t msg;

static bool with_do; /* the next queries carry OPT with DO=1 */

static cn_state_t query(const char *src, const char *name, uint16_t type)
{
	uint8_t pkt[512];
	cn_writer_t w;
	cn_writer_init(&w, pkt, sizeof(pkt), 0x1234, CN_FLAG_RD);
	cn_writer_question(&w, N(name), type, CN_CLASS_IN);
	if (with_do)
		cn_writer_opt(&w, 1232, 0, 0, true, NULL, 0);
	size_t plen = cn_writer_finish(&w);
	memset(&from, 0, sizeof(from));
	from.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, src, &from.sin_addr), 1);
	cn_client_t cl = { .addr = (struct sockaddr *)&from };
	memset(&q, 0, sizeof(q));
	outcome = CN_OUT_MAX;
	return cn_engine_query(engine, pkt, plen, &cl, now, out, sizeof(out), &out_len, &q,
			       &outcome);
}

static void parse_out(void)
{
	cn_arena_deinit(&arena);
	cn_arena_init(&arena, 0);
	ck_assert_int_eq(cn_msg_parse(out, out_len, &arena, &msg), 0);
}

static void a_is(size_t i, const char *ip)
{
	char buf[INET_ADDRSTRLEN];
	ck_assert_uint_gt(msg.an, i);
	ck_assert_uint_eq(msg.rrs[i].type, CN_TYPE_A);
	inet_ntop(AF_INET, msg.rrs[i].rdata, buf, sizeof(buf));
	ck_assert_str_eq(buf, ip);
}

/* Put an authoritative A RRset (one address) into the cache. */
static void cache_a_in(cn_cache_t *into, const char *name, const char *ip)
{
	uint8_t rdata[4], val[64];
	inet_pton(AF_INET, ip, rdata);
	cn_rr_t rr = { .owner = N(name), .rdata = rdata, .rdlen = 4, .ttl = 600,
		       .type = CN_TYPE_A, .rclass = CN_CLASS_IN };
	const cn_rr_t *p = &rr;
	int len = cn__value_encode_rrset(&p, 1, val, sizeof(val));
	ck_assert_int_gt(len, 0);
	const uint8_t *o = N(name);
	ck_assert_int_eq(cn_cache_insert(into, o, cn_dname_len(o), CN_TYPE_A, CN_CLASS_IN,
					 CN_CACHE_RRSET, CN_RANK_AUTH_ANSWER, 600, now.wall_s, val,
					 (size_t)len), 0);
}

static void cache_a(const char *name, const char *ip)
{
	cache_a_in(cache, name, ip);
}

static void cache_cname(const char *name, const char *target)
{
	uint8_t t[CN_DNAME_MAX], val[300];
	size_t tl;
	ck_assert_int_eq(cn_dname_from_str(target, t, &tl), 0);
	cn_rr_t rr = { .owner = N(name), .rdata = t, .rdlen = (uint16_t)tl, .ttl = 600,
		       .type = CN_TYPE_CNAME, .rclass = CN_CLASS_IN };
	const cn_rr_t *p = &rr;
	int len = cn__value_encode_rrset(&p, 1, val, sizeof(val));
	const uint8_t *o = N(name);
	ck_assert_int_eq(cn_cache_insert(cache, o, cn_dname_len(o), CN_TYPE_CNAME, CN_CLASS_IN,
					 CN_CACHE_RRSET, CN_RANK_AUTH_ANSWER, 600, now.wall_s, val,
					 (size_t)len), 0);
}

static bool cached(const char *name, uint16_t type, cn_cache_entry_t *ent)
{
	uint8_t buf[4096];
	const uint8_t *o = N(name);
	return cn_cache_lookup(cache, o, cn_dname_len(o), type, CN_CLASS_IN, now.wall_s, 0, ent,
			       buf, sizeof(buf)) == 0;
}

START_TEST(test_private_answer_and_visibility)
{
	ck_assert_int_eq(query("127.0.0.2", "www.corp.example", CN_TYPE_A), CN_DONE);
	ck_assert_int_eq(outcome, CN_OUT_LOCAL);
	parse_out();
	ck_assert(msg.flags & CN_FLAG_AA);
	ck_assert_uint_eq(msg.id, 0x1234);
	a_is(0, "10.1.0.10");
	/* outside visible_to: not hosted, an ordinary miss */
	ck_assert_int_eq(query("127.0.0.3", "www.corp.example", CN_TYPE_A), CN_MISS);
	ck_assert(cn_dname_eq(q.qname, N("www.corp.example")));
	ck_assert_uint_eq(q.hosted_qname_len, 0);
	/* the hosted answer did not go into the cache */
	cn_cache_entry_t ent;
	ck_assert(!cached("www.corp.example", CN_TYPE_A, &ent));
	/* a public answer cached for the outsider is never served to the insider */
	cache_a("www.corp.example", "198.51.100.1");
	ck_assert_int_eq(query("127.0.0.3", "www.corp.example", CN_TYPE_A), CN_DONE);
	parse_out();
	a_is(0, "198.51.100.1");
	ck_assert(!(msg.flags & CN_FLAG_AA));
	ck_assert_int_eq(query("127.0.0.2", "www.corp.example", CN_TYPE_A), CN_DONE);
	parse_out();
	a_is(0, "10.1.0.10");
	/* negative answers carry the SOA, TTL min(300, 60) */
	ck_assert_int_eq(query("127.0.0.2", "nope.corp.example", CN_TYPE_A), CN_DONE);
	parse_out();
	ck_assert_uint_eq(msg.rcode, CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(msg.ns, 1);
	ck_assert_uint_eq(msg.rrs[0].type, CN_TYPE_SOA);
	ck_assert_uint_eq(msg.rrs[0].ttl, 60);
}
END_TEST

START_TEST(test_chain_out_from_cache)
{
	cache_a("www.public.test", "203.0.113.5");
	ck_assert_int_eq(query("127.0.0.2", "out.corp.example", CN_TYPE_A), CN_DONE);
	ck_assert_int_eq(outcome, CN_OUT_LOCAL);
	parse_out();
	ck_assert(msg.flags & CN_FLAG_AA);
	ck_assert_uint_eq(msg.an, 2);
	ck_assert_uint_eq(msg.rrs[0].type, CN_TYPE_CNAME);
	a_is(1, "203.0.113.5");
	ck_assert(cn_dname_eq(msg.qname, N("out.corp.example")));
	/* a DO client: the same answer, no AD, no DNSSEC records (hosted data is never
	 * validated; the chain's result starts without any) */
	with_do = true;
	ck_assert_int_eq(query("127.0.0.2", "out.corp.example", CN_TYPE_A), CN_DONE);
	with_do = false;
	parse_out();
	ck_assert(!(msg.flags & CN_FLAG_AD));
	ck_assert_uint_eq(msg.an, 2);
	ck_assert_uint_eq(msg.ns, 0);
	ck_assert(msg.edns.present && msg.edns.do_bit);
}
END_TEST

START_TEST(test_chain_out_resolved)
{
	/* not cached: the question becomes the target, the client's name is kept */
	ck_assert_int_eq(query("127.0.0.2", "OUT.corp.example", CN_TYPE_A), CN_MISS);
	ck_assert(cn_dname_eq(q.qname, N("www.public.test")));
	ck_assert_uint_eq(q.hosted_qname_len, cn_dname_len(N("out.corp.example")));
	ck_assert_int_eq(memcmp(q.hosted_qname, "\3OUT", 4), 0);
	/* what a resolution's answer for the target would look like, not cacheable */
	cn_result_t r = { 0 };
	cn_rr_t rr[1];
	uint8_t addr[4] = { 203, 0, 113, 9 };
	rr[0] = (cn_rr_t){ .owner = q.qname, .rdata = addr, .rdlen = 4, .ttl = 0,
			   .type = CN_TYPE_A, .rclass = CN_CLASS_IN };
	r.an = rr;
	r.an_cap = r.nan = 1;
	size_t n = cn__answer_write(&q, &r, 1232, out, sizeof(out));
	cn_outcome_t oc = CN_OUT_RESOLVED;
	out_len = cn_engine_hosted_finish(engine, &q, (struct sockaddr *)&from, out, n,
					  sizeof(out), now, &oc);
	ck_assert_int_eq(oc, CN_OUT_RESOLVED);
	parse_out();
	ck_assert(cn_dname_eq(msg.qname, N("out.corp.example")));
	ck_assert_int_eq(memcmp(msg.qname, "\3OUT", 4), 0); /* the client's case */
	ck_assert(msg.flags & CN_FLAG_AA);
	ck_assert_uint_eq(msg.an, 2);
	ck_assert_uint_eq(msg.rrs[0].type, CN_TYPE_CNAME);
	a_is(1, "203.0.113.9");
	/* once the cache holds the target, the rebuild comes from it */
	cache_a("www.public.test", "203.0.113.5");
	n = cn__answer_write(&q, &r, 1232, out, sizeof(out));
	out_len = cn_engine_hosted_finish(engine, &q, (struct sockaddr *)&from, out, n,
					  sizeof(out), now, &oc);
	parse_out();
	a_is(1, "203.0.113.5");
	/* other questions pass unchanged */
	ck_assert_int_eq(query("127.0.0.3", "www.corp.example", CN_TYPE_A), CN_MISS);
	ck_assert_uint_eq(cn_engine_hosted_finish(engine, &q, (struct sockaddr *)&from, out, 100,
						  sizeof(out), now, &oc), 100);
}
END_TEST

START_TEST(test_cached_chain_into_private_zone)
{
	cache_cname("alias.other.test", "www.corp.example");
	cache_a("www.corp.example", "198.51.100.1");
	ck_assert_int_eq(query("127.0.0.3", "alias.other.test", CN_TYPE_A), CN_DONE);
	parse_out();
	ck_assert_uint_eq(msg.an, 2);
	a_is(1, "198.51.100.1");
	ck_assert_int_eq(query("127.0.0.2", "alias.other.test", CN_TYPE_A), CN_DONE);
	parse_out();
	ck_assert(!(msg.flags & CN_FLAG_AA)); /* the client's own name is not hosted */
	ck_assert_uint_eq(msg.an, 2);
	ck_assert_uint_eq(msg.rrs[0].type, CN_TYPE_CNAME);
	a_is(1, "10.1.0.10");
}
END_TEST

START_TEST(test_delegations)
{
	/* public: NS (rank LOCAL) and glue go to the cache, the name is resolved from there */
	ck_assert_int_eq(query("127.0.0.3", "www.sub.pub.test", CN_TYPE_A), CN_MISS);
	ck_assert(cn_dname_eq(q.qname, N("www.sub.pub.test")));
	ck_assert_uint_eq(q.hosted_qname_len, 0);
	cn_cache_entry_t ent;
	ck_assert(cached("sub.pub.test", CN_TYPE_NS, &ent));
	ck_assert_int_eq(ent.rank, CN_RANK_LOCAL);
	ck_assert(cached("ns.sub.pub.test", CN_TYPE_A, &ent));
	ck_assert_int_eq(ent.rank, CN_RANK_ADDITIONAL);
	/* once resolved (cached), answered from the cache */
	cache_a("www.sub.pub.test", "192.0.2.77");
	ck_assert_int_eq(query("127.0.0.3", "www.sub.pub.test", CN_TYPE_A), CN_DONE);
	parse_out();
	a_is(0, "192.0.2.77");
	ck_assert(!(msg.flags & CN_FLAG_AA));
	/* private: followed in the zone's view, with its own cache; nothing in the shared one */
	ck_assert_int_eq(query("127.0.0.2", "www.sub.corp.example", CN_TYPE_A), CN_MISS);
	ck_assert(cn_dname_eq(q.qname, N("www.sub.corp.example")));
	ck_assert_uint_ne(q.view, 0);
	uint8_t view = q.view;
	cn_cache_t *vc = cn__view_cache(engine, view);
	ck_assert_ptr_nonnull(vc);
	ck_assert(!cached("sub.corp.example", CN_TYPE_NS, &ent));
	uint8_t buf[4096];
	const uint8_t *cut = N("sub.corp.example");
	ck_assert_int_eq(cn_cache_lookup(vc, cut, cn_dname_len(cut), CN_TYPE_NS, CN_CLASS_IN,
					 now.wall_s, 0, &ent, buf, sizeof(buf)), 0);
	ck_assert_int_eq(ent.rank, CN_RANK_LOCAL);
	/* resolved into the view: answered from it, to the zone's clients only */
	cache_a_in(vc, "www.sub.corp.example", "10.9.0.1");
	ck_assert_int_eq(query("127.0.0.2", "www.sub.corp.example", CN_TYPE_A), CN_DONE);
	parse_out();
	a_is(0, "10.9.0.1");
	ck_assert_int_eq(query("127.0.0.3", "www.sub.corp.example", CN_TYPE_A), CN_MISS);
	ck_assert_uint_eq(q.view, 0); /* an outsider resolves the public name */
	/* the same view every time; a reload of the zones empties it */
	ck_assert_int_eq(query("127.0.0.2", "x.sub.corp.example", CN_TYPE_A), CN_MISS);
	ck_assert_uint_eq(q.view, view);
	cn_engine_flush_views(engine);
	ck_assert_int_eq(query("127.0.0.2", "www.sub.corp.example", CN_TYPE_A), CN_MISS);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hosted");
	TCase *tc = tcase_create("engine");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_private_answer_and_visibility);
	tcase_add_test(tc, test_chain_out_from_cache);
	tcase_add_test(tc, test_chain_out_resolved);
	tcase_add_test(tc, test_cached_chain_into_private_zone);
	tcase_add_test(tc, test_delegations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(suite());
}
