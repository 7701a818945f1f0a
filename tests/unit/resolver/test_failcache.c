/*
 * Unit tests for resolver/failcache.c, the RFC 9520 resolution failure cache, through its
 * function API only (resolver/internal.h: cn__failcache_*): where the entries are stored is
 * the module's business. A fake wall clock (now_s) crosses every window: an entry is live
 * one second before its expiry and gone at it; the backoff doubles per repeated failure up
 * to the ceiling, continues across an expiry only while the previous failure is recent,
 * and starts over after a success; zone entries never back off.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/internal.h"
#include "tests/unit/unit.h"

static cn_cache_t *cache;
static cn_engine_t *engine;
static const uint64_t T0 = 1700000000;

static void fake_random(void *buf, size_t len)
{
	memset(buf, 0x5a, len);
}

static void make(unsigned base, unsigned max, uint32_t cache_min_ttl)
{
	/* a long stale window, as the daemon has: the cache keeps entries past their expiry,
	 * so the failure cache's own rules decide */
	cn_cache_conf_t cc = { .budget_bytes = 1 << 20, .min_ttl_s = cache_min_ttl,
			       .stale_window_s = 86400 };
	ck_assert_int_eq(cn_cache_new(&cc, &cache), 0);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.servfail_ttl_s = base;
	conf.servfail_ttl_max_s = max;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
}

static void setup(void)
{
	make(2, 300, 0); /* the defaults */
}

static void teardown(void)
{
	cn_engine_free(engine);
	cn_cache_free(cache);
	engine = NULL;
	cache = NULL;
}

#define N cn_test_name

static bool live(const char *name, uint16_t type, uint64_t now, cn_failure_t *f)
{
	cn_failure_t tmp;
	return cn__failcache_lookup(engine, N(name), type, now, f ? f : &tmp) == 0;
}

/* ------------------------------------------------------------------ argument abuse -- */

START_TEST(test_disabled)
{
	teardown();
	make(0, 300, 0); /* servfail_ttl_s = 0: the failure cache is off */
	cn_failure_t f;
	ck_assert_uint_eq(cn__failcache_record(engine, N("a.test."), CN_TYPE_A, true,
					       CN_EDE_OTHER, "x", T0), 0);
	ck_assert(!live("a.test.", CN_TYPE_A, T0, &f));
	cn__failcache_record_zone(engine, N("test."), "dead", T0);
	ck_assert(!cn__failcache_zone_failing(engine, N("test."), T0, &f));
	/* clearing what is not there is harmless */
	cn__failcache_clear(engine, N("a.test."), CN_TYPE_A);
	cn__failcache_clear_zone(engine, N("test."));
}
END_TEST

START_TEST(test_odd_arguments)
{
	cn_failure_t f;
	/* no text, the root name, a type nobody queries */
	ck_assert_uint_eq(cn__failcache_record(engine, N("."), 65535, false, 0, NULL, T0), 2);
	ck_assert(live(".", 65535, T0, &f));
	ck_assert_str_eq(f.text, "");
	ck_assert_uint_eq(f.ede_code, 0);
	/* a name of the maximum length (255 octets) */
	char longname[300] = "";
	for (int i = 0; i < 4; i++)
		strcat(longname, i < 3 ? "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
				       : "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.");
	ck_assert_uint_eq(cn_dname_len(N(longname)), 255);
	ck_assert_uint_eq(cn__failcache_record(engine, N(longname), CN_TYPE_A, false, 22, "t",
					       T0), 2);
	ck_assert(live(longname, CN_TYPE_A, T0 + 1, &f));
	/* a text longer than an EDE text may be is cut, and stays a C string */
	char text[CN_EDE_TEXT_MAX * 2];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	cn__failcache_record(engine, N("t.test."), CN_TYPE_A, false, 22, text, T0);
	ck_assert(live("t.test.", CN_TYPE_A, T0, &f));
	ck_assert_uint_eq(strlen(f.text), CN_EDE_TEXT_MAX - 1);
	ck_assert(strspn(f.text, "x") == CN_EDE_TEXT_MAX - 1);
	/* a ceiling under the base is raised to the base */
	teardown();
	make(10, 3, 0);
	ck_assert_uint_eq(cn__failcache_record(engine, N("c.test."), CN_TYPE_A, true, 0, "", T0),
			  10);
	ck_assert_uint_eq(cn__failcache_record(engine, N("c.test."), CN_TYPE_A, true, 0, "", T0),
			  10);
}
END_TEST

/* ------------------------------------------------------------------ one failure ----- */

START_TEST(test_window_and_fields)
{
	cn_failure_t f;
	ck_assert(!live("www.example.test.", CN_TYPE_A, T0, &f));
	ck_assert_uint_eq(cn__failcache_record(engine, N("www.example.test."), CN_TYPE_A, true,
					       CN_EDE_NO_REACHABLE_AUTHORITY, "no server answered",
					       T0), 2);
	ck_assert(live("www.example.test.", CN_TYPE_A, T0, &f));
	ck_assert_uint_eq(f.fails, 1);
	ck_assert_uint_eq(f.ede_code, CN_EDE_NO_REACHABLE_AUTHORITY);
	ck_assert_str_eq(f.text, "no server answered");
	ck_assert_uint_eq(f.expire_s, T0 + 2);
	ck_assert_uint_eq(f.ttl_left_s, 2);
	ck_assert(live("www.example.test.", CN_TYPE_A, T0 + 1, &f));
	ck_assert_uint_eq(f.ttl_left_s, 1);
	ck_assert(!live("www.example.test.", CN_TYPE_A, T0 + 2, &f));
	ck_assert(!live("www.example.test.", CN_TYPE_A, T0 + 1000, &f));
	/* it is per question: other types and names are not failing */
	ck_assert(!live("www.example.test.", CN_TYPE_AAAA, T0, &f));
	ck_assert(!live("example.test.", CN_TYPE_A, T0, &f));
	ck_assert(!live("x.www.example.test.", CN_TYPE_A, T0, &f));
}
END_TEST

START_TEST(test_case_insensitive)
{
	cn_failure_t f;
	cn__failcache_record(engine, N("WwW.ExAmPlE.TeSt."), CN_TYPE_MX, false, 0, "loop", T0);
	ck_assert(live("www.example.test.", CN_TYPE_MX, T0, &f));
	ck_assert(live("WWW.EXAMPLE.TEST.", CN_TYPE_MX, T0, &f));
	cn__failcache_clear(engine, N("WWW.example.test."), CN_TYPE_MX);
	ck_assert(!live("www.example.test.", CN_TYPE_MX, T0, &f));
}
END_TEST

/* The cache's own min_ttl clamp must not stretch a failure: its expiry is its own. */
START_TEST(test_cache_min_ttl_ignored)
{
	teardown();
	make(2, 300, 3600);
	cn_failure_t f;
	cn__failcache_record(engine, N("m.test."), CN_TYPE_A, false, 0, "x", T0);
	ck_assert(live("m.test.", CN_TYPE_A, T0 + 1, &f));
	ck_assert(!live("m.test.", CN_TYPE_A, T0 + 2, &f));
	cn__failcache_record_zone(engine, N("z.test."), "x", T0);
	ck_assert(cn__failcache_zone_failing(engine, N("z.test."), T0 + 1, &f));
	ck_assert(!cn__failcache_zone_failing(engine, N("z.test."), T0 + 2, &f));
}
END_TEST

/* ------------------------------------------------------------------ backoff --------- */

typedef struct step {
	uint64_t at;       /* seconds after T0 */
	bool backoff;
	int clear;         /* 1: cn__failcache_clear before recording */
	uint32_t ttl;      /* expected time chosen */
	unsigned fails;    /* expected consecutive failures */
} step_t;

typedef struct backoff_case {
	const char *what;
	unsigned base, max;
	step_t steps[12];  /* ttl 0 ends */
} backoff_case_t;

static const backoff_case_t backoff_cases[] = {
	{ "doubles while failing, to the ceiling", 2, 30,
	  { { 0, true, 0, 2, 1 }, { 2, true, 0, 4, 2 }, { 6, true, 0, 8, 3 },
	    { 14, true, 0, 16, 4 }, { 30, true, 0, 30, 5 }, { 60, true, 0, 30, 6 },
	    { 90, true, 0, 30, 7 } } },
	{ "a repeat inside the window backs off too", 5, 300,
	  { { 0, true, 0, 5, 1 }, { 1, true, 0, 10, 2 }, { 2, true, 0, 20, 3 } } },
	{ "silence never backs off", 2, 300,
	  { { 0, false, 0, 2, 1 }, { 2, false, 0, 2, 1 }, { 4, false, 0, 2, 1 },
	    { 4, true, 0, 4, 2 } } },
	/* the previous failure counts while its expiry is within 2 x max of now */
	{ "recent history continues, old history starts over", 2, 10,
	  { { 0, true, 0, 2, 1 }, { 22, true, 0, 4, 2 }, { 26 + 20, true, 0, 8, 3 },
	    { 54 + 21, true, 0, 2, 1 } } },
	{ "a success in between starts over", 2, 300,
	  { { 0, true, 0, 2, 1 }, { 2, true, 0, 4, 2 }, { 6, true, 1, 2, 1 },
	    { 8, true, 0, 4, 2 } } },
};

START_TEST(test_backoff_table)
{
	const backoff_case_t *c = &backoff_cases[_i];
	teardown();
	make(c->base, c->max, 0);
	const uint8_t *name = N("fail.example.test.");
	for (int k = 0; k < 12 && c->steps[k].ttl; k++) {
		const step_t *s = &c->steps[k];
		uint64_t now = T0 + s->at;
		if (s->clear)
			cn__failcache_clear(engine, name, CN_TYPE_A);
		uint32_t ttl = cn__failcache_record(engine, name, CN_TYPE_A, s->backoff,
						    CN_EDE_OTHER, "lame", now);
		ck_assert_msg(ttl == s->ttl, "%s, step %d: ttl %u, want %u", c->what, k, ttl,
			      s->ttl);
		cn_failure_t f;
		ck_assert_int_eq(cn__failcache_lookup(engine, name, CN_TYPE_A, now, &f), 0);
		ck_assert_msg(f.fails == s->fails, "%s, step %d: fails %u, want %u", c->what, k,
			      f.fails, s->fails);
		ck_assert_uint_eq(f.expire_s, now + s->ttl);
		ck_assert_int_eq(cn__failcache_lookup(engine, name, CN_TYPE_A, now + s->ttl - 1, &f),
				 0);
		ck_assert_int_eq(cn__failcache_lookup(engine, name, CN_TYPE_A, now + s->ttl, &f),
				 -ENOENT);
	}
}
END_TEST

/* The newest failure replaces the older one's reason. */
START_TEST(test_newer_reason_wins)
{
	cn_failure_t f;
	cn__failcache_record(engine, N("r.test."), CN_TYPE_A, true, CN_EDE_OTHER, "first", T0);
	cn__failcache_record(engine, N("r.test."), CN_TYPE_A, true, CN_EDE_NETWORK_ERROR,
			     "second", T0 + 1);
	ck_assert(live("r.test.", CN_TYPE_A, T0 + 1, &f));
	ck_assert_uint_eq(f.ede_code, CN_EDE_NETWORK_ERROR);
	ck_assert_str_eq(f.text, "second");
	ck_assert_uint_eq(f.fails, 2);
}
END_TEST

/* ------------------------------------------------------------------ zones ----------- */

START_TEST(test_zone_entries)
{
	cn_failure_t f;
	const uint8_t *zone = N("dead.test.");
	ck_assert(!cn__failcache_zone_failing(engine, zone, T0, &f));
	cn__failcache_record_zone(engine, zone, "all servers timed out", T0);
	ck_assert(cn__failcache_zone_failing(engine, N("DEAD.test."), T0, &f));
	ck_assert_uint_eq(f.ede_code, CN_EDE_NO_REACHABLE_AUTHORITY);
	ck_assert_str_eq(f.text, "all servers timed out");
	ck_assert_uint_eq(f.ttl_left_s, 2);
	ck_assert(cn__failcache_zone_failing(engine, zone, T0 + 1, &f));
	ck_assert(!cn__failcache_zone_failing(engine, zone, T0 + 2, &f));
	/* zone entries never back off: each lasts servfail_ttl_s */
	for (int k = 0; k < 5; k++)
		cn__failcache_record_zone(engine, zone, "again", T0 + 10);
	ck_assert(cn__failcache_zone_failing(engine, zone, T0 + 11, &f));
	ck_assert(!cn__failcache_zone_failing(engine, zone, T0 + 12, &f));
	/* a zone entry is not a question entry, either way round */
	cn__failcache_record_zone(engine, zone, "z", T0 + 20);
	ck_assert(!live("dead.test.", CN_TYPE_NS, T0 + 20, &f));
	cn__failcache_record(engine, N("q.test."), CN_TYPE_NS, false, 0, "q", T0 + 20);
	ck_assert(!cn__failcache_zone_failing(engine, N("q.test."), T0 + 20, &f));
	/* nor a parent's or child's: the cut itself */
	ck_assert(!cn__failcache_zone_failing(engine, N("test."), T0 + 20, &f));
	ck_assert(!cn__failcache_zone_failing(engine, N("sub.dead.test."), T0 + 20, &f));
	/* a server answered: cleared at once; clearing the zone leaves the question */
	cn__failcache_clear_zone(engine, zone);
	ck_assert(!cn__failcache_zone_failing(engine, zone, T0 + 20, &f));
	cn__failcache_clear_zone(engine, N("q.test."));
	ck_assert(live("q.test.", CN_TYPE_NS, T0 + 20, &f));
}
END_TEST

/* Many failures: each is found with its own reason; the cache's budget bounds them (a
 * random-name flood of failures cannot grow memory), so old ones may be gone but none is
 * ever wrong. */
START_TEST(test_many_failures)
{
	enum { N_FAIL = 20000 };
	char name[64], text[32];
	for (unsigned k = 0; k < N_FAIL; k++) {
		snprintf(name, sizeof(name), "n%u.flood.test.", k);
		snprintf(text, sizeof(text), "reason %u", k);
		cn__failcache_record(engine, N(name), CN_TYPE_A, false, (uint16_t)(k % 30), text,
				     T0);
	}
	unsigned found = 0;
	for (unsigned k = 0; k < N_FAIL; k++) {
		snprintf(name, sizeof(name), "n%u.flood.test.", k);
		snprintf(text, sizeof(text), "reason %u", k);
		cn_failure_t f;
		if (!live(name, CN_TYPE_A, T0 + 1, &f))
			continue;
		found++;
		ck_assert_str_eq(f.text, text);
		ck_assert_uint_eq(f.ede_code, k % 30);
	}
	cn_cache_stats_t cs;
	cn_cache_stats(cache, &cs);
	ck_assert_uint_le(cs.bytes_used, cs.budget_bytes);
	ck_assert_uint_gt(found, 0);
	/* the newest is always there */
	snprintf(name, sizeof(name), "n%u.flood.test.", N_FAIL - 1);
	ck_assert(live(name, CN_TYPE_A, T0 + 1, NULL));
}
END_TEST

static Suite *failcache_suite(void)
{
	Suite *s = suite_create("failcache");
	TCase *tc = tcase_create("abuse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_disabled);
	tcase_add_test(tc, test_odd_arguments);
	suite_add_tcase(s, tc);
	tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_window_and_fields);
	tcase_add_test(tc, test_case_insensitive);
	tcase_add_test(tc, test_cache_min_ttl_ignored);
	tcase_add_loop_test(tc, test_backoff_table, 0,
			    sizeof(backoff_cases) / sizeof(backoff_cases[0]));
	tcase_add_test(tc, test_newer_reason_wins);
	tcase_add_test(tc, test_zone_entries);
	tcase_add_test(tc, test_many_failures);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(failcache_suite());
}
