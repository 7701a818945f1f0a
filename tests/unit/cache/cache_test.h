/*
 * Helpers shared by the cache unit tests: dotted names to wire form, a cache with a given
 * budget and policy, a budget check, and a small deterministic PRNG (the tests use fixed
 * seeds so every failure replays). The clock is just the now_s numbers the tests pass.
 */
#pragma once

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/internal.h"

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
