/*
 * Unit tests for cache/cache.c: arguments, expiry to the second, serve-stale, TTL clamps,
 * trust ranks, negative kinds, flush/remove/walk, miss reasons, stats, and the byte budget
 * under a million random names. The clock is the now_s passed in.
 */
#include <errno.h>
#include <stdlib.h>

#include "tests/unit/cache/cache_test.h"
#include "tests/unit/unit.h"

#define A 1
#define AAAA 28
#define MX 15

START_TEST(test_new_params)
{
	cn_cache_t *c = NULL;
	cn_cache_conf_t conf = { .budget_bytes = 1 << 20 };
	ck_assert_int_eq(cn_cache_new(NULL, &c), -EINVAL);
	ck_assert_int_eq(cn_cache_new(&conf, NULL), -EINVAL);
	conf.budget_bytes = 64 * 1024 - 1;
	ck_assert_int_eq(cn_cache_new(&conf, &c), -EINVAL);
	conf.budget_bytes = 1 << 20;
	conf.shards = 3; /* not a power of two */
	ck_assert_int_eq(cn_cache_new(&conf, &c), -EINVAL);
	conf.shards = 1024; /* 1 KiB per shard */
	ck_assert_int_eq(cn_cache_new(&conf, &c), -EINVAL);
	conf.shards = 0;
	conf.policy = (cn_cache_policy_t)7;
	ck_assert_int_eq(cn_cache_new(&conf, &c), -EINVAL);
	ck_assert_ptr_null(c);
	conf.policy = CN_EVICT_SIEVE;
	conf.budget_bytes = 64 * 1024; /* the minimum works, with one shard */
	ck_assert_int_eq(cn_cache_new(&conf, &c), 0);
	ck_assert_uint_eq(c->nshards, 1);
	check_budget(c);
	cn_cache_free(c);
	cn_cache_free(NULL);
	conf.budget_bytes = 64 << 20;
	ck_assert_int_eq(cn_cache_new(&conf, &c), 0);
	ck_assert_uint_eq(c->nshards, 16);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.budget_bytes, 64 << 20);
	ck_assert_uint_gt(st.bytes_used, 0); /* tables and history are charged from the start */
	ck_assert_uint_le(st.bytes_used, st.budget_bytes);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_call_params)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 0);
	uint8_t n[300], buf[16];
	size_t nl = wire("example.com", n);
	cn_cache_entry_t e;
	ck_assert_int_eq(cn_cache_lookup(NULL, n, nl, A, 1, 0, 0, &e, buf, 16), -EINVAL);
	ck_assert_int_eq(cn_cache_lookup(c, NULL, nl, A, 1, 0, 0, &e, buf, 16), -EINVAL);
	ck_assert_int_eq(cn_cache_lookup(c, n, 0, A, 1, 0, 0, &e, buf, 16), -EINVAL);
	ck_assert_int_eq(cn_cache_lookup(c, n, 256, A, 1, 0, 0, &e, buf, 16), -EINVAL);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 0, 0, NULL, buf, 16), -EINVAL);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 0, 0, &e, NULL, 16), -EINVAL);
	/* bad kind, rank, kind/type pairing, name, data */
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, 4, CN_RANK_LOCAL, 60, 0, "x", 1), -EINVAL);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 0, 60, 0, "x", 1), -EINVAL);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 6, 60, 0, "x", 1), -EINVAL);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_NXDOMAIN, 2, 60, 0, "x", 1),
			 -EINVAL);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, 0, 1, CN_CACHE_RRSET, 2, 60, 0, "x", 1), -EINVAL);
	ck_assert_int_eq(cn_cache_insert(c, n, nl - 1, A, 1, CN_CACHE_RRSET, 2, 60, 0, "x", 1),
			 -EINVAL); /* no root label */
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 2, 60, 0, NULL, 1), -EINVAL);
	n[0] = 0xc0; /* a compression pointer is not an uncompressed name */
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 2, 60, 0, "x", 1), -EINVAL);
	ck_assert_int_eq(cn_cache_insert(NULL, n, nl, A, 1, CN_CACHE_RRSET, 2, 60, 0, "x", 1),
			 -EINVAL);
	ck_assert_int_eq(cn_cache_remove(c, n, 0, A, 1), -EINVAL);
	ck_assert_uint_eq(cn_cache_flush_name(c, NULL, 1, true), 0);
	cn_cache_flush(NULL);
	/* empty values are fine */
	nl = wire("empty.example", n);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 2, 60, 0, NULL, 0), 0);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 0, 0, &e, NULL, 0), 0);
	ck_assert_uint_eq(e.data_len, 0);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_value_and_case)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 0);
	put(c, "WWW.Example.COM", A, 300, 1000, "abcdef");
	uint8_t n[256], buf[16];
	size_t nl = wire("www.example.com", n);
	cn_cache_entry_t e;
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 1000, 0, &e, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(e.data_len, 6);
	ck_assert_mem_eq(buf, "abcdef", 6);
	ck_assert_uint_eq(e.kind, CN_CACHE_RRSET);
	ck_assert_uint_eq(e.rank, CN_RANK_NONAUTH_ANSWER);
	/* a short buffer: -ENOSPC, the length reported, nothing counted */
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 1000, 0, &e, buf, 5), -ENOSPC);
	ck_assert_uint_eq(e.data_len, 6);
	/* other type, other class: misses */
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, AAAA, 1, 1000, 0, &e, buf, 16), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_FIRST);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 3, 1000, 0, &e, buf, 16), -ENOENT);
	/* lowercasing touches ASCII letters only */
	ck_assert_int_eq(get(c, "WWW.EXAMPLE.COM", A, 1000, 0, &e), 0);
	ck_assert_int_eq(get(c, "www.examplf.com", A, 1000, 0, &e), -ENOENT);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.lookups, 5);
	ck_assert_uint_eq(st.hits, 2);
	ck_assert_uint_eq(st.miss_first, 3);
	ck_assert_uint_eq(st.insertions, 1);
	ck_assert_uint_eq(st.entries, 1);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_expiry_to_the_second)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 0);
	cn_cache_entry_t e;
	put(c, "a.example", A, 300, 1000, "v");
	ck_assert_int_eq(get(c, "a.example", A, 1000, 0, &e), 0);
	ck_assert_uint_eq(e.ttl_left_s, 300);
	ck_assert_uint_eq(e.ttl_orig_s, 300);
	ck_assert_uint_eq(e.expire_s, 1300);
	ck_assert(!e.stale);
	ck_assert_int_eq(get(c, "a.example", A, 1299, 0, &e), 0);
	ck_assert_uint_eq(e.ttl_left_s, 1);
	ck_assert_int_eq(get(c, "a.example", A, 1300, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EXPIRED);
	/* without a stale window the entry is gone, and the history still explains it */
	ck_assert_int_eq(get(c, "a.example", A, 1300, CN_LOOKUP_STALE, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EXPIRED);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.entries, 0);
	ck_assert_uint_eq(st.expirations, 1);
	ck_assert_uint_eq(st.miss_expired, 2);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_serve_stale)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 60);
	cn_cache_entry_t e;
	put(c, "a.example", A, 300, 1000, "v");
	ck_assert_int_eq(get(c, "a.example", A, 1299, CN_LOOKUP_STALE, &e), 0);
	ck_assert(!e.stale);
	ck_assert_uint_eq(e.ttl_left_s, 1);
	/* expired inside the window: a miss unless stale is asked for */
	ck_assert_int_eq(get(c, "a.example", A, 1300, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EXPIRED);
	ck_assert_int_eq(get(c, "a.example", A, 1300, CN_LOOKUP_STALE, &e), 0);
	ck_assert(e.stale);
	ck_assert_uint_eq(e.ttl_left_s, 0);
	ck_assert_int_eq(get(c, "a.example", A, 1359, CN_LOOKUP_STALE, &e), 0);
	ck_assert(e.stale);
	/* past the window: reclaimed, explained as expired */
	ck_assert_int_eq(get(c, "a.example", A, 1360, CN_LOOKUP_STALE, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EXPIRED);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.stale_hits, 2);
	ck_assert_uint_eq(st.hits, 1);
	ck_assert_uint_eq(st.miss_expired, 2);
	ck_assert_uint_eq(st.entries, 0);
	/* PEEK neither counts nor reclaims */
	put(c, "b.example", A, 10, 2000, "v");
	ck_assert_int_eq(get(c, "b.example", A, 3000, CN_LOOKUP_PEEK, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EXPIRED);
	cn_cache_stats_t st2;
	cn_cache_stats(c, &st2);
	ck_assert_uint_eq(st2.lookups, st.lookups);
	ck_assert_uint_eq(st2.entries, 1);
	cn_cache_free(c);
}
END_TEST

static uint32_t stored_ttl(cn_cache_t *c, const char *name, uint16_t type, cn_cache_kind_t kind,
			   uint32_t ttl)
{
	uint8_t n[256];
	size_t nl = wire(name, n);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, type, 1, kind, CN_RANK_AUTH_ANSWER, ttl, 100, "",
					 0),
			 0);
	cn_cache_entry_t e;
	ck_assert_int_eq(get(c, name, type, 100, CN_LOOKUP_PEEK | CN_LOOKUP_STALE, &e), 0);
	ck_assert_uint_eq(e.expire_s, 100 + e.ttl_orig_s);
	return e.ttl_orig_s;
}

START_TEST(test_ttl_clamps)
{
	/* zeroed fields mean the defaults: min 0, max 86400, negative max 3600 (a stale
	 * window lets the TTL-0 entry be read back) */
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 10);
	ck_assert_uint_eq(stored_ttl(c, "a.x", A, CN_CACHE_RRSET, 0), 0);
	ck_assert_uint_eq(stored_ttl(c, "a.x", A, CN_CACHE_RRSET, 86400), 86400);
	ck_assert_uint_eq(stored_ttl(c, "b.x", A, CN_CACHE_RRSET, 86401), 86400);
	ck_assert_uint_eq(stored_ttl(c, "c.x", A, CN_CACHE_RRSET, UINT32_MAX), 86400);
	ck_assert_uint_eq(stored_ttl(c, "d.x", A, CN_CACHE_NODATA, 3600), 3600);
	ck_assert_uint_eq(stored_ttl(c, "e.x", A, CN_CACHE_NODATA, 3601), 3600);
	ck_assert_uint_eq(stored_ttl(c, "f.x", 0, CN_CACHE_NXDOMAIN, 86400), 3600);
	ck_assert_uint_eq(stored_ttl(c, "g.x", 0, CN_CACHE_NXDOMAIN, 900), 900);
	cn_cache_free(c);

	cn_cache_conf_t conf = { .budget_bytes = 1 << 20, .min_ttl_s = 30, .max_ttl_s = 600,
				 .neg_max_ttl_s = 60 };
	ck_assert_int_eq(cn_cache_new(&conf, &c), 0);
	ck_assert_uint_eq(stored_ttl(c, "a.x", A, CN_CACHE_RRSET, 5), 30);
	ck_assert_uint_eq(stored_ttl(c, "b.x", A, CN_CACHE_RRSET, 601), 600);
	ck_assert_uint_eq(stored_ttl(c, "c.x", A, CN_CACHE_NODATA, 5), 30);
	ck_assert_uint_eq(stored_ttl(c, "d.x", A, CN_CACHE_NODATA, 61), 60);
	ck_assert_uint_eq(stored_ttl(c, "e.x", 0, CN_CACHE_NXDOMAIN, 3600), 60);
	cn_cache_free(c);

	/* a negative max above the positive max is capped by the positive max; the max wins
	 * over a min set above it */
	cn_cache_conf_t conf2 = { .budget_bytes = 1 << 20, .min_ttl_s = 900, .max_ttl_s = 300,
				  .neg_max_ttl_s = 7200 };
	ck_assert_int_eq(cn_cache_new(&conf2, &c), 0);
	ck_assert_uint_eq(stored_ttl(c, "a.x", A, CN_CACHE_RRSET, 5), 300);
	ck_assert_uint_eq(stored_ttl(c, "b.x", 0, CN_CACHE_NXDOMAIN, 7200), 300);
	cn_cache_free(c);
}
END_TEST

static int put_rank(cn_cache_t *c, const char *name, cn_rank_t rank, uint32_t ttl,
		    uint64_t now, const char *v)
{
	uint8_t n[256];
	size_t nl = wire(name, n);
	return cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, rank, ttl, now, v, strlen(v));
}

START_TEST(test_rank_replacement)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 30);
	cn_cache_entry_t e;
	uint8_t n[256], buf[64];
	size_t nl = wire("ns.example", n);
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_AUTH_AUTHORITY, 100, 1000, "auth"), 0);
	/* live: lower rank refused, same rank replaces, higher rank replaces */
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_ADDITIONAL, 100, 1001, "glue"), -EEXIST);
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_NONAUTH_ANSWER, 100, 1001, "na"),
			 -EEXIST);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 1002, 0, &e, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, "auth", 4);
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_AUTH_AUTHORITY, 200, 1010, "same"), 0);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 1010, 0, &e, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, "same", 4);
	ck_assert_uint_eq(e.ttl_left_s, 200);
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_AUTH_ANSWER, 50, 1020, "higher"), 0);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 1020, 0, &e, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, "higher", 6);
	ck_assert_uint_eq(e.rank, CN_RANK_AUTH_ANSWER);
	/* at expiry (1070), even inside the stale window, anything replaces it */
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_ADDITIONAL, 100, 1069, "x"), -EEXIST);
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_ADDITIONAL, 100, 1070, "glue"), 0);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 1070, 0, &e, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, "glue", 4);
	ck_assert_uint_eq(e.rank, CN_RANK_ADDITIONAL);
	/* and past the stale window too */
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_LOCAL, 100, 2000, "local"), 0);
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_AUTH_ANSWER, 100, 2050, "y"), -EEXIST);
	ck_assert_int_eq(put_rank(c, "ns.example", CN_RANK_ADDITIONAL, 100, 5000, "late"), 0);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.rank_refused, 4);
	ck_assert_uint_eq(st.insertions, 6);
	ck_assert_uint_eq(st.entries, 1);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_negative_kinds)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 0);
	uint8_t n[256], buf[64];
	size_t nl = wire("nx.example", n);
	cn_cache_entry_t e;
	ck_assert_int_eq(cn_cache_insert(c, n, nl, CN_CACHE_TYPE_NXDOMAIN, 1, CN_CACHE_NXDOMAIN,
					 CN_RANK_AUTH_AUTHORITY, 900, 100, "soa", 3),
			 0);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, CN_CACHE_TYPE_NXDOMAIN, 1, 100, 0, &e, buf, 64),
			 0);
	ck_assert_uint_eq(e.kind, CN_CACHE_NXDOMAIN);
	ck_assert_uint_eq(e.ttl_left_s, 900);
	/* exact-key semantics: the typed slot is separate (the resolver checks type 0) */
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 100, 0, &e, buf, 64), -ENOENT);

	nl = wire("nodata.example", n);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, AAAA, 1, CN_CACHE_NODATA, CN_RANK_AUTH_AUTHORITY,
					 300, 100, "soa", 3),
			 0);
	put(c, "nodata.example", A, 300, 100, "1.2.3.4");
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, AAAA, 1, 150, 0, &e, buf, 64), 0);
	ck_assert_uint_eq(e.kind, CN_CACHE_NODATA);
	ck_assert_uint_eq(e.ttl_left_s, 250);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, A, 1, 150, 0, &e, buf, 64), 0);
	ck_assert_uint_eq(e.kind, CN_CACHE_RRSET);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, MX, 1, 150, 0, &e, buf, 64), -ENOENT);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, CN_CACHE_TYPE_NXDOMAIN, 1, 150, 0, &e, buf, 64),
			 -ENOENT);
	/* a NODATA may be replaced by a positive answer of the same rank and vice versa */
	ck_assert_int_eq(cn_cache_insert(c, n, nl, AAAA, 1, CN_CACHE_RRSET, CN_RANK_AUTH_AUTHORITY,
					 300, 160, "::1", 3),
			 0);
	ck_assert_int_eq(cn_cache_lookup(c, n, nl, AAAA, 1, 160, 0, &e, buf, 64), 0);
	ck_assert_uint_eq(e.kind, CN_CACHE_RRSET);
	cn_cache_free(c);
}
END_TEST

typedef struct walk_ctx {
	size_t n;
	size_t stale;
	size_t bytes;
} walk_ctx_t;

static void walk_cb(void *ctx, const uint8_t *name, size_t name_len, uint16_t type,
		    uint16_t rclass, const cn_cache_entry_t *entry, const uint8_t *data)
{
	walk_ctx_t *w = ctx;
	w->n++;
	w->stale += entry->stale;
	w->bytes += entry->data_len;
	for (size_t i = 0; i < name_len; i++)
		ck_assert(!(name[i] >= 'A' && name[i] <= 'Z')); /* stored lowercased */
}

START_TEST(test_remove_flush_walk)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 100);
	const char *names[] = { "example.com", "www.example.com", "a.b.example.com",
				"Example.COM", "notexample.com", "example.org", "com" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		put(c, names[i], A, 300, 10, "abc");
		put(c, names[i], AAAA, 30, 10, "abcd");
	}
	/* "Example.COM" replaced "example.com": 6 names x 2 types */
	walk_ctx_t w = { 0 };
	ck_assert_uint_eq(cn_cache_walk(c, 50, walk_cb, &w), 12);
	ck_assert_uint_eq(w.n, 12);
	ck_assert_uint_eq(w.stale, 6); /* the AAAA ones expired at 40 */
	ck_assert_uint_eq(w.bytes, 6 * 7);

	uint8_t n[256];
	size_t nl = wire("WWW.example.com", n);
	ck_assert_int_eq(cn_cache_remove(c, n, nl, A, 1), 0);
	ck_assert_int_eq(cn_cache_remove(c, n, nl, A, 1), -ENOENT);
	cn_cache_entry_t e;
	ck_assert_int_eq(get(c, "www.example.com", A, 50, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_FIRST); /* removed on purpose: no trace */

	/* exact name: both types at example.com only */
	nl = wire("EXAMPLE.com", n);
	ck_assert_uint_eq(cn_cache_flush_name(c, n, nl, false), 2);
	ck_assert_int_eq(get(c, "www.example.com", AAAA, 50, CN_LOOKUP_STALE, &e), 0);
	/* subtree: www (1 left) + a.b (2); not notexample.com */
	ck_assert_uint_eq(cn_cache_flush_name(c, n, nl, true), 3);
	ck_assert_int_eq(get(c, "notexample.com", A, 50, 0, &e), 0);
	ck_assert_int_eq(get(c, "example.org", A, 50, 0, &e), 0);
	/* subtree at com: notexample.com and com */
	nl = wire("com", n);
	ck_assert_uint_eq(cn_cache_flush_name(c, n, nl, true), 4);
	ck_assert_uint_eq(cn_cache_walk(c, 50, NULL, NULL), 2);
	/* the root covers everything */
	nl = wire(".", n);
	ck_assert_uint_eq(cn_cache_flush_name(c, n, nl, true), 2);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.entries, 0);

	put(c, "x.example", A, 300, 10, "abc");
	put(c, "y.example", A, 300, 10, "abc");
	cn_cache_flush(c);
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.entries, 0);
	ck_assert_uint_eq(cn_cache_walk(c, 10, walk_cb, &w), 0);
	/* after a flush everything reads as first seen, and bytes are back to the fixed part */
	ck_assert_int_eq(get(c, "x.example", A, 10, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_FIRST);
	size_t fixed = 0;
	for (unsigned i = 0; i < c->nshards; i++)
		fixed += c->shards[i].fixed;
	ck_assert_uint_eq(st.bytes_used, fixed);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_too_big)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 4, 0); /* 256 KiB shards */
	uint8_t n[256];
	size_t nl = wire("big.example", n);
	size_t len = 256 * 1024 / 8;
	uint8_t *v = calloc(1, len);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 2, 60, 0, v, len), -E2BIG);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 2, 60, 0, v, len / 2), 0);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.too_big, 1);
	check_budget(c);
	free(v);
	cn_cache_free(c);
}
END_TEST

/* The budget holds after every batch while a million random names go in (4 MiB, so
 * eviction runs all the time); values vary in size, some names repeat. */
static void budget_run(cn_cache_policy_t policy, int batches)
{
	cn_cache_t *c = make_cache(4 << 20, policy, 0, 30);
	uint64_t seed = 0x5eed0001 + policy;
	uint8_t n[256], v[512];
	memset(v, 0xab, sizeof(v));
	for (int batch = 0; batch < batches; batch++) {
		for (int i = 0; i < 1000; i++) {
			uint64_t r = rnd(&seed);
			char dotted[64];
			/* 1/8 of the names come from a small hot pool */
			if ((r & 7) == 0)
				snprintf(dotted, sizeof(dotted), "hot%u.example.com",
					 (unsigned)(r >> 8) % 1000);
			else
				snprintf(dotted, sizeof(dotted), "%016llx.victim.example",
					 (unsigned long long)r);
			size_t nl = wire(dotted, n);
			size_t vl = 16 + (r >> 40) % 300;
			uint16_t type = (r >> 20) & 1 ? A : AAAA;
			int ret = cn_cache_insert(c, n, nl, type, 1, CN_CACHE_RRSET, 2,
						  (uint32_t)(r >> 50) % 600, batch, v, vl);
			ck_assert_int_eq(ret, 0);
			cn_cache_entry_t e;
			uint8_t buf[512];
			cn_cache_lookup(c, n, nl, type, 1, batch, 0, &e, buf, sizeof(buf));
		}
		check_budget(c);
	}
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_gt(st.evictions, (uint64_t)batches * 500);
	ck_assert_uint_gt(st.entries, 1000);
	ck_assert_uint_eq(cn_cache_walk(c, batches, NULL, NULL), st.entries);
	/* near the budget: eviction keeps it full rather than empty */
	ck_assert_uint_gt(st.bytes_used, st.budget_bytes * 9 / 10);
	cn_cache_free(c);
}

START_TEST(test_budget_million_s3fifo)
{
	budget_run(CN_EVICT_S3FIFO, 1000);
}
END_TEST

START_TEST(test_budget_million_sieve_lru)
{
	budget_run(CN_EVICT_SIEVE, 1000);
	budget_run(CN_EVICT_LRU, 1000);
}
END_TEST

START_TEST(test_miss_reasons)
{
	/* one 64 KiB shard, ~1 KiB values: eviction after a few dozen entries */
	cn_cache_t *c = make_cache(64 * 1024, CN_EVICT_LRU, 1, 0);
	uint8_t n[256], v[1000] = { 0 };
	cn_cache_entry_t e;
	ck_assert_int_eq(get(c, "first.example", A, 0, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_FIRST);
	put(c, "short.example", A, 10, 0, "v");
	ck_assert_int_eq(get(c, "short.example", A, 10, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EXPIRED);
	ck_assert_int_eq(get(c, "short.example", A, 11, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EXPIRED); /* from the history: entry gone */
	/* reinsert clears the trace; then evict it while valid */
	put(c, "victim.example", A, 1000, 20, "v");
	for (int i = 0; i < 200; i++) {
		char d[32];
		snprintf(d, sizeof(d), "filler%d.example", i);
		size_t nl = wire(d, n);
		ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 2, 1000, 20, v,
						 sizeof(v)),
				 0);
	}
	ck_assert_int_eq(get(c, "victim.example", A, 21, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EVICTED);
	/* an entry evicted after its expiry is an expiry, not an eviction */
	put(c, "old.example", A, 5, 30, "v");
	for (int i = 0; i < 200; i++) {
		char d[32];
		snprintf(d, sizeof(d), "filler%d.example", i);
		size_t nl = wire(d, n);
		ck_assert_int_eq(cn_cache_insert(c, n, nl, A, 1, CN_CACHE_RRSET, 2, 1000, 40, v,
						 sizeof(v)),
				 0);
	}
	ck_assert_int_eq(get(c, "old.example", A, 41, 0, &e), -ENOENT);
	ck_assert_int_eq(e.miss, CN_MISS_EXPIRED);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(st.miss_first, 1);
	ck_assert_uint_eq(st.miss_expired, 3);
	ck_assert_uint_eq(st.miss_evicted, 1);
	ck_assert_uint_eq(st.lookups, 5);
	ck_assert_uint_ge(st.expirations, 2);
	cn_cache_free(c);
}
END_TEST

Suite *cache_suite(void);
Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_new_params);
	tcase_add_test(tc, test_call_params);
	tcase_add_test(tc, test_value_and_case);
	tcase_add_test(tc, test_expiry_to_the_second);
	tcase_add_test(tc, test_serve_stale);
	tcase_add_test(tc, test_ttl_clamps);
	tcase_add_test(tc, test_rank_replacement);
	tcase_add_test(tc, test_negative_kinds);
	tcase_add_test(tc, test_remove_flush_walk);
	tcase_add_test(tc, test_too_big);
	tcase_add_test(tc, test_miss_reasons);
	tcase_add_test(tc, test_budget_million_s3fifo);
	tcase_add_test(tc, test_budget_million_sieve_lru);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(cache_suite());
}
