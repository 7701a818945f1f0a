/*
 * The resolution failure cache (RFC 9520): a failed resolution is remembered for a short
 * time, so that clients asking again (or an attacker asking on purpose: TsuNAME, NXNS, CNAME
 * loops, a dead or cyclic delegation) cost no upstream work until it expires.
 *
 * Two kinds of entries:
 *   - a question, (qname, qtype): the whole resolution failed (SERVFAIL). Answered at once
 *     with SERVFAIL and EDE 13 "Cached Error" (or a stale answer) until it expires;
 *   - a zone cut, (zone, NS): every server of the zone was asked and none answered (or none
 *     had an address). Resolutions reaching that cut give up at once instead of waiting on
 *     the same dead servers again.
 *
 * Lifetime: servfail_ttl_s for the first failure; a question that keeps failing for reasons
 * other than silence (lame servers, loops, limits) doubles it each time up to
 * servfail_ttl_max_s (RFC 9520 3.2: exponential backoff, at most 5 minutes). Silence (every
 * server timed out) never backs off, and neither do zone entries: a server that answers
 * again is used again within servfail_ttl_s (D1: recover within seconds).
 *
 * The entries live in the cache itself as their own kind, CN_CACHE_FAILURE (counted apart
 * in cache.failure_entries / cache.failure_bytes, never dumped), keyed under private-use
 * classes (RFC 6895 3.2) that no client query can carry (cairn refuses classes other than
 * IN): they are counted against the cache budget, evicted like everything else, and a random-name flood of failures can never
 * grow memory. Value: u8 consecutive failures, u16 EDE code, u64 expiry (wall-clock
 * seconds; the cache's own TTL may be longer when cache.min_ttl raises it, so the value's
 * expiry is what counts), u8 text length, text.
 */
#include <errno.h>
#include <string.h>

#include "resolver/internal.h"

#define FAIL_HDR 12
#define FAIL_VALUE_MAX (FAIL_HDR + CN_EDE_TEXT_MAX)

/* The entry for (name, type, rclass); any_age: also one whose time is up (for the backoff). */
static int lookup(cn_engine_t *e, const uint8_t *name, uint16_t type, uint16_t rclass,
		  uint64_t now_s, bool any_age, cn_failure_t *out)
{
	uint8_t buf[FAIL_VALUE_MAX];
	cn_cache_entry_t ent;
	int ret = cn_cache_lookup(e->cache, name, cn_dname_len(name), type, rclass, now_s,
				  CN_LOOKUP_PEEK | (any_age ? CN_LOOKUP_STALE : 0), &ent, buf,
				  sizeof(buf));
	if (ret != 0 || ent.data_len < FAIL_HDR || ent.data_len < FAIL_HDR + (size_t)buf[11])
		return -ENOENT;
	uint64_t expire = 0;
	for (int i = 0; i < 8; i++)
		expire = expire << 8 | buf[3 + i];
	if (!any_age && expire <= now_s)
		return -ENOENT;
	out->fails = buf[0];
	out->ede_code = (uint16_t)(buf[1] << 8 | buf[2]);
	out->expire_s = expire;
	out->ttl_left_s = expire > now_s ? (uint32_t)(expire - now_s) : 0;
	memcpy(out->text, buf + FAIL_HDR, buf[11]);
	out->text[buf[11]] = 0;
	return 0;
}

int cn__failcache_lookup(cn_engine_t *e, const uint8_t *name, uint16_t type, uint64_t now_s,
			 cn_failure_t *out)
{
	if (e->conf.servfail_ttl_s == 0)
		return -ENOENT;
	return lookup(e, name, type, CN_CLASS_FAIL_QUERY, now_s, false, out);
}

bool cn__failcache_zone_failing(cn_engine_t *e, const uint8_t *zone, uint64_t now_s,
				cn_failure_t *out)
{
	if (e->conf.servfail_ttl_s == 0)
		return false;
	return lookup(e, zone, CN_TYPE_NS, CN_CLASS_FAIL_ZONE, now_s, false, out) == 0;
}

static void store(cn_engine_t *e, const uint8_t *name, uint16_t type, uint16_t rclass,
		  unsigned fails, uint32_t ttl, uint16_t ede, const char *text, uint64_t now_s)
{
	uint8_t buf[FAIL_VALUE_MAX];
	size_t tlen = text ? strnlen(text, CN_EDE_TEXT_MAX - 1) : 0;
	uint64_t expire = now_s + ttl;
	buf[0] = (uint8_t)(fails > 255 ? 255 : fails);
	buf[1] = (uint8_t)(ede >> 8);
	buf[2] = (uint8_t)ede;
	for (int i = 0; i < 8; i++)
		buf[3 + i] = (uint8_t)(expire >> (56 - 8 * i));
	buf[11] = (uint8_t)tlen;
	if (tlen)
		memcpy(buf + FAIL_HDR, text, tlen);
	uint8_t key[CN_DNAME_MAX];
	size_t klen = cn_dname_copy(key, name);
	cn_dname_lower(key);
	/* The cache keeps the entry past its expiry (for 2 x servfail_ttl_max_s more) so the
	 * next failure of the question finds it and backs off further. Rank ADDITIONAL: a
	 * newer failure always replaces the old one. */
	uint32_t keep = ttl + 2 * e->conf.servfail_ttl_max_s;
	cn_cache_insert(e->cache, key, klen, type, rclass, CN_CACHE_FAILURE, CN_RANK_ADDITIONAL,
			keep, now_s, buf, FAIL_HDR + tlen);
}

uint32_t cn__failcache_record(cn_engine_t *e, const uint8_t *name, uint16_t type, bool backoff,
			      uint16_t ede, const char *text, uint64_t now_s)
{
	uint32_t base = e->conf.servfail_ttl_s, max = e->conf.servfail_ttl_max_s;
	if (base == 0)
		return 0;
	if (max < base)
		max = base;
	unsigned fails = 1;
	cn_failure_t prev;
	/* The previous failure of this question (even expired, if it was recent: within twice
	 * the ceiling) continues the backoff; a success in between removes it (cn__failcache_
	 * clear), and an old one starts over. */
	if (backoff && lookup(e, name, type, CN_CLASS_FAIL_QUERY, now_s, true, &prev) == 0 &&
	    prev.expire_s + 2ull * max >= now_s)
		fails = prev.fails + 1u;
	uint64_t ttl = base;
	for (unsigned i = 1; i < fails && ttl < max; i++)
		ttl *= 2;
	if (ttl > max)
		ttl = max;
	store(e, name, type, CN_CLASS_FAIL_QUERY, fails, (uint32_t)ttl, ede, text, now_s);
	CN_STAT_INC(e, failures_cached);
	return (uint32_t)ttl;
}

void cn__failcache_record_bogus(cn_engine_t *e, const uint8_t *name, uint16_t type,
				 uint16_t ede, const char *text, uint64_t now_s)
{
	uint32_t ttl = __atomic_load_n(&e->conf.dnssec.bogus_ttl_s, __ATOMIC_RELAXED);
	if (ttl == 0 || e->conf.servfail_ttl_s == 0)
		return;
	store(e, name, type, CN_CLASS_FAIL_QUERY, 1, ttl, ede, text, now_s);
	CN_STAT_INC(e, failures_cached);
}

void cn__failcache_record_zone(cn_engine_t *e, const uint8_t *zone, const char *text,
			       uint64_t now_s)
{
	if (e->conf.servfail_ttl_s == 0)
		return;
	store(e, zone, CN_TYPE_NS, CN_CLASS_FAIL_ZONE, 1, e->conf.servfail_ttl_s,
	      CN_EDE_NO_REACHABLE_AUTHORITY, text, now_s);
	CN_STAT_INC(e, zone_failures_cached);
}

void cn__failcache_clear_zone(cn_engine_t *e, const uint8_t *zone)
{
	uint8_t key[CN_DNAME_MAX];
	size_t klen = cn_dname_copy(key, zone);
	cn_dname_lower(key);
	cn_cache_remove(e->cache, key, klen, CN_TYPE_NS, CN_CLASS_FAIL_ZONE);
}

void cn__failcache_clear(cn_engine_t *e, const uint8_t *name, uint16_t type)
{
	uint8_t key[CN_DNAME_MAX];
	size_t klen = cn_dname_copy(key, name);
	cn_dname_lower(key);
	cn_cache_remove(e->cache, key, klen, type, CN_CLASS_FAIL_QUERY);
}
