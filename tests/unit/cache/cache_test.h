/*
 * Helpers shared by the cache unit tests: dotted names to wire form, a cache with a given
 * budget and policy, a budget check, and a small deterministic PRNG (the tests use fixed
 * seeds so every failure replays). The clock is just the now_s numbers the tests pass.
 */
#pragma once

#include <check.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/internal.h"

/* Check's ck_assert_* macros record a mark point through a pipe write on every call, even
 * when they pass; in loops of millions of operations that write dominates the run. These
 * replacements only do work when they fail (same names, same messages, values included). */
#define CN_T_CMP(X, OP, Y, T, FMT)                                                         \
	do {                                                                               \
		T cn_t_x = (T)(X), cn_t_y = (T)(Y);                                        \
		if (!(cn_t_x OP cn_t_y))                                                   \
			ck_abort_msg("Assertion '%s %s %s' failed: " FMT " vs " FMT, #X, #OP, #Y, \
				     cn_t_x, cn_t_y);                                      \
	} while (0)
#undef ck_assert
#define ck_assert(C)                                                                       \
	do {                                                                               \
		if (!(C))                                                                  \
			ck_abort_msg("Assertion '%s' failed", #C);                        \
	} while (0)
#undef ck_assert_int_eq
#define ck_assert_int_eq(X, Y) CN_T_CMP(X, ==, Y, intmax_t, "%jd")
#undef ck_assert_int_lt
#define ck_assert_int_lt(X, Y) CN_T_CMP(X, <, Y, intmax_t, "%jd")
#undef ck_assert_uint_eq
#define ck_assert_uint_eq(X, Y) CN_T_CMP(X, ==, Y, uintmax_t, "%ju")
#undef ck_assert_uint_ne
#define ck_assert_uint_ne(X, Y) CN_T_CMP(X, !=, Y, uintmax_t, "%ju")
#undef ck_assert_uint_le
#define ck_assert_uint_le(X, Y) CN_T_CMP(X, <=, Y, uintmax_t, "%ju")
#undef ck_assert_uint_lt
#define ck_assert_uint_lt(X, Y) CN_T_CMP(X, <, Y, uintmax_t, "%ju")
#undef ck_assert_uint_ge
#define ck_assert_uint_ge(X, Y) CN_T_CMP(X, >=, Y, uintmax_t, "%ju")
#undef ck_assert_uint_gt
#define ck_assert_uint_gt(X, Y) CN_T_CMP(X, >, Y, uintmax_t, "%ju")
#undef ck_assert_mem_eq
#define ck_assert_mem_eq(X, Y, N)                                                          \
	do {                                                                               \
		if (memcmp((X), (Y), (N)) != 0)                                            \
			ck_abort_msg("Assertion '%s == %s' (%zu bytes) failed", #X, #Y,   \
				     (size_t)(N));                                         \
	} while (0)

/** "www.Example.com" -> \3www\7Example\3com\0; "." or "" -> the root. Returns the length. */
static inline size_t wire(const char *dotted, uint8_t *out)
{
	size_t o = 0;
	const char *p = dotted;
	while (*p && !(p[0] == '.' && p[1] == 0)) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		out[o++] = (uint8_t)l;
		memcpy(out + o, p, l);
		o += l;
		p += l;
		if (*p == '.')
			p++;
	}
	out[o++] = 0;
	return o;
}

static inline cn_cache_t *make_cache(size_t budget, cn_cache_policy_t policy, unsigned shards,
				     uint32_t stale_window_s)
{
	cn_cache_conf_t conf = {
		.budget_bytes = budget,
		.shards = shards,
		.policy = policy,
		.stale_window_s = stale_window_s,
	};
	for (int i = 0; i < 16; i++)
		conf.hash_key[i] = (uint8_t)(i * 37 + 11);
	cn_cache_t *c = NULL;
	ck_assert_int_eq(cn_cache_new(&conf, &c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

/** The byte budget holds, overall and in every shard. */
static inline void check_budget(cn_cache_t *c)
{
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_le(st.bytes_used, st.budget_bytes);
	for (unsigned i = 0; i < c->nshards; i++)
		ck_assert_uint_le(c->shards[i].used, c->shards[i].budget);
}

/* xorshift64*: deterministic and good enough for test workloads. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/** Insert a plain RRset (rank NONAUTH_ANSWER) with a short value; asserts success. */
static inline void put(cn_cache_t *c, const char *dotted, uint16_t type, uint32_t ttl_s,
		       uint64_t now_s, const char *value)
{
	uint8_t n[256];
	size_t nl = wire(dotted, n);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, type, 1, CN_CACHE_RRSET, CN_RANK_NONAUTH_ANSWER,
					 ttl_s, now_s, value, strlen(value)),
			 0);
}

/** Look up; returns the cn_cache_lookup result and fills *e (value ignored). */
static inline int get(cn_cache_t *c, const char *dotted, uint16_t type, uint64_t now_s,
		      unsigned flags, cn_cache_entry_t *e)
{
	uint8_t n[256], buf[65536];
	size_t nl = wire(dotted, n);
	return cn_cache_lookup(c, n, nl, type, 1, now_s, flags, e, buf, sizeof(buf));
}
