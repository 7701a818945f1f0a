/*
 * Failure entries (kind CN_CACHE_FAILURE, the resolver's RFC 9520 failure cache) are their
 * own kind: counted apart from RRset and negative entries, never dumped, and inside the
 * same byte budget (evicted like the rest).
 */
#include <check.h>

#include "tests/unit/unit.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/cache/cache_test.h"

#define T_A 1
#define CLASS_FAIL 0xFF53 /* resolver/failcache.c's private class for questions */

static int put_kind(cn_cache_t *c, const char *name, uint16_t rclass, cn_cache_kind_t kind,
		    uint64_t now, const char *val)
{
	uint8_t n[256];
	size_t nl = wire(name, n);
	return cn_cache_insert(c, n, nl, T_A, rclass, kind, CN_RANK_ADDITIONAL, 60, now, val,
			       strlen(val));
}

START_TEST(test_counted_apart)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 1, 0);
	cn_cache_stats_t s0, s1, s2;
	cn_cache_stats(c, &s0);
	ck_assert_uint_eq(s0.failure_entries, 0);
	ck_assert_uint_eq(s0.failure_bytes, 0);
	ck_assert_int_eq(put_kind(c, "a.example", 1, CN_CACHE_RRSET, 1000, "1234"), 0);
	cn_cache_stats(c, &s1);
	ck_assert_int_eq(put_kind(c, "a.example", CLASS_FAIL, CN_CACHE_FAILURE, 1000, "fail"), 0);
	ck_assert_int_eq(put_kind(c, "b.example", CLASS_FAIL, CN_CACHE_FAILURE, 1000, "fail"), 0);
	cn_cache_stats(c, &s2);
	ck_assert_uint_eq(s2.entries, 1);            /* only the RRset */
	ck_assert_uint_eq(s2.bytes_used, s1.bytes_used);
	ck_assert_uint_eq(s2.failure_entries, 2);
	ck_assert_uint_gt(s2.failure_bytes, 2 * 4);
	ck_assert_uint_le(s2.bytes_used + s2.failure_bytes, s2.budget_bytes);
	/* a replacement keeps the count; a removal gives the bytes back */
	ck_assert_int_eq(put_kind(c, "b.example", CLASS_FAIL, CN_CACHE_FAILURE, 1001, "again"), 0);
	uint8_t n[256];
	size_t nl = wire("a.example", n);
	ck_assert_int_eq(cn_cache_remove(c, n, nl, T_A, CLASS_FAIL), 0);
	nl = wire("b.example", n);
	ck_assert_int_eq(cn_cache_remove(c, n, nl, T_A, CLASS_FAIL), 0);
	cn_cache_stats(c, &s2);
	ck_assert_uint_eq(s2.failure_entries, 0);
	ck_assert_uint_eq(s2.failure_bytes, 0);
	ck_assert_uint_eq(s2.entries, 1);
	ck_assert_uint_eq(s2.bytes_used, s1.bytes_used);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_not_dumped)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/cairn-test-failure-%d.bin", (int)getpid());
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_SIEVE, 1, 0);
	ck_assert_int_eq(put_kind(c, "a.example", 1, CN_CACHE_RRSET, 1000, "1234"), 0);
	ck_assert_int_eq(put_kind(c, "a.example", CLASS_FAIL, CN_CACHE_FAILURE, 1000, "fail"), 0);
	ck_assert_int_eq(cn_cache_dump(c, path, 1000), 1);
	cn_cache_t *d = make_cache(1 << 20, CN_EVICT_SIEVE, 1, 0);
	ck_assert_int_eq(cn_cache_load(d, path, 1000), 1);
	cn_cache_stats_t s;
	cn_cache_stats(d, &s);
	ck_assert_uint_eq(s.entries, 1);
	ck_assert_uint_eq(s.failure_entries, 0);
	unlink(path);
	cn_cache_free(c);
	cn_cache_free(d);
}
END_TEST

/* A flood of failures stays inside the budget: they are evicted like everything else. */
START_TEST(test_flood_within_budget)
{
	cn_cache_t *c = make_cache(64 * 1024, CN_EVICT_S3FIFO, 1, 0);
	char name[64];
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "f%d.example", i);
		ck_assert_int_eq(put_kind(c, name, CLASS_FAIL, CN_CACHE_FAILURE, 1000, "fail"), 0);
	}
	cn_cache_stats_t s;
	cn_cache_stats(c, &s);
	ck_assert_uint_gt(s.evictions, 0);
	ck_assert_uint_gt(s.failure_entries, 0);
	ck_assert_uint_lt(s.failure_entries, 20000);
	ck_assert_uint_eq(s.entries, 0);
	ck_assert_uint_le(s.bytes_used + s.failure_bytes, s.budget_bytes);
	check_budget(c);
	cn_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_failure");
	TCase *tc = tcase_create("failure");
	tcase_add_test(tc, test_counted_apart);
	tcase_add_test(tc, test_not_dumped);
	tcase_add_test(tc, test_flood_within_budget);
	suite_add_tcase(s, tc);
	return cn_test_run(s);
}
