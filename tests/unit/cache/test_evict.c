/*
 * Unit tests for cache/evict.c: the order in which S3-FIFO, SIEVE and LRU give up entries,
 * on hand-made sequences in a single shard sized to hold exactly N equal entries, and the
 * property S3-FIFO is the default for: a flood of one-hit names does not push out a hot
 * set that keeps being hit.
 */
#include <errno.h>
#include <stdlib.h>

#include "tests/unit/cache/cache_test.h"
#include "tests/unit/unit.h"

#define T_A 1

typedef struct fixture {
	cn_cache_t *c;
	uint8_t *val;
	size_t val_len;
} fixture_t;

/* Names of equal length so every entry costs the same: "eNNN.example". */
static size_t ename(int i, uint8_t *n)
{
	char d[32];
	snprintf(d, sizeof(d), "e%03d.example", i);
	return wire(d, n);
}

static int ins(fixture_t *f, int i, uint64_t now)
{
	uint8_t n[256];
	size_t nl = ename(i, n);
	return cn_cache_insert(f->c, n, nl, T_A, 1, CN_CACHE_RRSET, 2, 3600, now, f->val,
			       f->val_len);
}

static bool has(fixture_t *f, int i)
{
	uint8_t n[256];
	size_t nl = ename(i, n);
	cn_cache_entry_t e;
	return cn_cache_lookup(f->c, n, nl, T_A, 1, 0, CN_LOOKUP_PEEK, &e, NULL, 0) == -ENOSPC;
}

static void hit(fixture_t *f, int i)
{
	static uint8_t buf[65536];
	uint8_t n[256];
	size_t nl = ename(i, n);
	cn_cache_entry_t e;
	ck_assert_int_eq(cn_cache_lookup(f->c, n, nl, T_A, 1, 0, 0, &e, buf, sizeof(buf)), 0);
}

/** One shard of `budget` bytes holding exactly n entries. */
static fixture_t fit(cn_cache_policy_t policy, size_t budget, int n, bool exact)
{
	fixture_t f = { .c = make_cache(budget, policy, 1, 0) };
	cn__shard_t *sh = &f.c->shards[0];
	size_t avail = sh->budget - sh->used;
	size_t target = avail * 2 / (2 * (size_t)n + 1); /* n + 1/2 entries' worth */
	uint8_t name[256];
	size_t nl = ename(0, name);
	f.val_len = target - CN__ENTRY_HDR - nl - 16;
	f.val = calloc(1, f.val_len);
	/* measure the real charge and check n fit, n + 1 do not */
	ck_assert_int_eq(ins(&f, 999, 0), 0);
	size_t charge = sh->used - (sh->budget - avail);
	ck_assert_int_eq(cn_cache_remove(f.c, (uint8_t *)"\004e999\007example", 14, T_A, 1), 0);
	ck_assert_uint_le(charge * (size_t)n, avail);
	if (exact)
		ck_assert_uint_gt(charge * (size_t)(n + 1), avail);
	return f;
}

static void unfit(fixture_t *f)
{
	cn_cache_free(f->c);
	free(f->val);
}

START_TEST(test_sieve_order)
{
	fixture_t f = fit(CN_EVICT_SIEVE, 64 * 1024, 8, true);
	for (int i = 0; i < 8; i++) /* A..H = 0..7 */
		ck_assert_int_eq(ins(&f, i, 0), 0);
	ck_assert_uint_eq(f.c->shards[0].c.evictions, 0);
	hit(&f, 0); /* A visited */
	/* I..O: the hand keeps A (clearing its bit) and evicts B..H in order */
	for (int i = 8; i < 15; i++) {
		ck_assert_int_eq(ins(&f, i, 0), 0);
		ck_assert(!has(&f, i - 7));
		ck_assert(has(&f, 0));
	}
	/* P: the hand is past A, at I (newer than H), which goes; A stays in place */
	ck_assert_int_eq(ins(&f, 15, 0), 0);
	ck_assert(has(&f, 0));
	ck_assert(!has(&f, 8));
	/* Q: the hand goes on towards the head (J), not back to the tail */
	ck_assert_int_eq(ins(&f, 16, 0), 0);
	ck_assert(has(&f, 0));
	ck_assert(!has(&f, 9));
	ck_assert(has(&f, 10));
	ck_assert_uint_eq(f.c->shards[0].c.evictions, 9);
	unfit(&f);
}
END_TEST

START_TEST(test_lru_order)
{
	fixture_t f = fit(CN_EVICT_LRU, 64 * 1024, 8, true);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(ins(&f, i, 0), 0);
	hit(&f, 0); /* A becomes the most recent */
	for (int i = 8; i < 15; i++) {
		ck_assert_int_eq(ins(&f, i, 0), 0);
		ck_assert(!has(&f, i - 7));
	}
	/* P: A is now the least recent and goes (SIEVE keeps it here) */
	ck_assert_int_eq(ins(&f, 15, 0), 0);
	ck_assert(!has(&f, 0));
	ck_assert(has(&f, 8));
	/* hits reorder: touch I, then two inserts evict J and K */
	hit(&f, 8);
	ck_assert_int_eq(ins(&f, 16, 0), 0);
	ck_assert_int_eq(ins(&f, 17, 0), 0);
	ck_assert(has(&f, 8));
	ck_assert(!has(&f, 9));
	ck_assert(!has(&f, 10));
	unfit(&f);
}
END_TEST

START_TEST(test_s3fifo_order)
{
	fixture_t f = fit(CN_EVICT_S3FIFO, 256 * 1024, 20, true);
	cn__shard_t *sh = &f.c->shards[0];
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(ins(&f, i, 0), 0);
	ck_assert_uint_eq(sh->q[CN__Q_SMALL].count, 20);
	hit(&f, 0);
	hit(&f, 1);
	/* the small queue is over its 10% target: A and B (hit) move to main, C leaves as a
	 * ghost */
	ck_assert_int_eq(ins(&f, 20, 0), 0);
	ck_assert_uint_eq(sh->q[CN__Q_MAIN].count, 2);
	ck_assert(has(&f, 0) && has(&f, 1) && !has(&f, 2));
	ck_assert_uint_eq(cn__hist_get(sh, sh->q[CN__Q_MAIN].head->hash), CN__HIST_NONE);
	/* C comes back: a ghost hit puts it straight into main; D leaves from small */
	ck_assert_int_eq(ins(&f, 2, 0), 0);
	ck_assert_uint_eq(sh->q[CN__Q_MAIN].count, 3);
	ck_assert(has(&f, 2) && !has(&f, 3));
	cn_cache_entry_t e;
	uint8_t n[256];
	size_t nl = ename(3, n);
	ck_assert_int_eq(cn_cache_lookup(f.c, n, nl, T_A, 1, 0, 0, &e, NULL, 0), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EVICTED);
	/* main is FIFO with reinsertion: hit A twice, B never again; fill up until main must
	 * give: B goes before A */
	hit(&f, 0);
	hit(&f, 0);
	for (int i = 100; i < 140; i++)
		ck_assert_int_eq(ins(&f, i, 0), 0);
	ck_assert(has(&f, 0));
	unfit(&f);
}
END_TEST

/* A hot set looked up (and inserted on a miss) every round, then a flood of one-hit names
 * twice the size of the whole cache. Returns the share of hot lookups that hit from round 2
 * on: in S3-FIFO round 0's hot entries leave the small queue as ghosts (never hit yet),
 * round 1 misses once and reinserts them straight into main, where the flood cannot reach. */
static double flood_run(cn_cache_policy_t policy)
{
	fixture_t f = fit(policy, 1 << 20, 1000, false);
	int hot = 100, hits = 0, lookups = 0, flood = 100000;
	for (int round = 0; round < 30; round++) {
		for (int h = 0; h < hot; h++) {
			uint8_t n[256], buf[2048];
			char d[32];
			snprintf(d, sizeof(d), "hot%03d.example", h);
			size_t nl = wire(d, n);
			cn_cache_entry_t e;
			int ret = cn_cache_lookup(f.c, n, nl, T_A, 1, 0, 0, &e, buf, sizeof(buf));
			if (round > 1) {
				lookups++;
				hits += ret == 0;
			}
			if (ret != 0)
				ck_assert_int_eq(cn_cache_insert(f.c, n, nl, T_A, 1, CN_CACHE_RRSET, 2,
								 3600, 0, f.val, f.val_len),
						 0);
		}
		for (int i = 0; i < 2000; i++) { /* two caches' worth of one-hit names */
			uint8_t n[256];
			char d[32];
			snprintf(d, sizeof(d), "r%07d.victim.example", flood++);
			size_t nl = wire(d, n);
			ck_assert_int_eq(cn_cache_insert(f.c, n, nl, T_A, 1, CN_CACHE_RRSET, 2,
							 3600, 0, f.val, f.val_len),
					 0);
		}
		check_budget(f.c);
	}
	unfit(&f);
	return (double)hits / lookups;
}

START_TEST(test_flood_keeps_hot_set)
{
	double s3 = flood_run(CN_EVICT_S3FIFO);
	double sieve = flood_run(CN_EVICT_SIEVE);
	double lru = flood_run(CN_EVICT_LRU);
	fprintf(stderr, "hot-set hit rate under a one-hit flood: s3fifo %.3f sieve %.3f lru %.3f\n",
		s3, sieve, lru);
	ck_assert(s3 >= 0.99);
	ck_assert(lru <= 0.01); /* the baseline loses everything: the flood is 2x the cache */
	/* SIEVE clears the bits on one lap and the flood takes the next: no better than LRU
	 * here (docs/hitrate.md 4: no ghost, weak on scans) */
	ck_assert(sieve >= lru);
}
END_TEST

START_TEST(test_expired_first)
{
	/* every policy takes an expired entry it meets before a live one */
	for (int p = CN_EVICT_S3FIFO; p <= CN_EVICT_LRU; p++) {
		fixture_t f = fit((cn_cache_policy_t)p, 64 * 1024, 8, true);
		uint8_t n[256];
		size_t nl = ename(0, n);
		ck_assert_int_eq(cn_cache_insert(f.c, n, nl, T_A, 1, CN_CACHE_RRSET, 2, 10, 0,
						 f.val, f.val_len),
				 0);
		for (int i = 1; i < 8; i++)
			ck_assert_int_eq(ins(&f, i, 0), 0);
		ck_assert_int_eq(ins(&f, 8, 20), 0);
		ck_assert(!has(&f, 0));
		for (int i = 1; i < 9; i++)
			ck_assert(has(&f, i));
		ck_assert_uint_eq(f.c->shards[0].c.expirations, 1);
		ck_assert_uint_eq(f.c->shards[0].c.evictions, 0);
		unfit(&f);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_evict");
	TCase *tc = tcase_create("order");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sieve_order);
	tcase_add_test(tc, test_lru_order);
	tcase_add_test(tc, test_s3fifo_order);
	tcase_add_test(tc, test_flood_keeps_hot_set);
	tcase_add_test(tc, test_expired_first);
	suite_add_tcase(s, tc);
	return cn_test_run(s);
}
