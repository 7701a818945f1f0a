/*
 * The sharded table, byte accounting and entry lifecycle (cache/README.md tells the story).
 *
 * Every operation hashes the key once (key.c), takes exactly one shard's lock and works in
 * that shard: a chained table, the eviction policy's queues (evict.c), the history of
 * removed keys (history.c), and the shard's counters. A shard's `used` counts every byte it
 * holds as malloc really holds it (usable size + chunk header): entry blocks, its table,
 * its history, its share of the shard array, and for shard 0 the cache struct. Room is
 * made *before* anything is allocated, so used <= budget holds at every unlock.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "cache/evict.h"
#include "cache/internal.h"

#define INITIAL_BUCKETS 64 /* per shard; the table doubles as entries come (table_maybe_grow),
			     so a big budget costs nothing until it is used */
#define MAX_TABLE_DIVISOR 4              /* a table never takes more than 1/4 of a shard */
#define SHADOW_TABLE_PERCENT 8 /* a full table's share of entry bytes (the minis have none) */

/* ---- accounting ---- */

size_t cn__alloc_charge(void *p)
{
	return malloc_usable_size(p) + sizeof(size_t);
}

size_t cn__alloc_estimate(size_t n)
{
	/* glibc: a chunk is the request plus an 8-byte header, rounded up to 16, at least 32;
	 * requests served by mmap (128 KiB by default, more once the threshold adapts) are
	 * page-rounded. Sanitizer allocators report the request itself, which is smaller. */
	size_t c = (n + sizeof(size_t) + 15) & ~(size_t)15;
	if (c < 32)
		c = 32;
	if (n >= 64 * 1024)
		c = (n + 2 * sizeof(size_t) + 4095) & ~(size_t)4095;
	return c;
}

/* ---- entries ---- */

void cn__entry_fill(const cn__entry_t *e, uint64_t now_s, uint32_t window_s,
		    cn_cache_entry_t *out)
{
	out->kind = e->kind;
	out->rank = e->rank;
	out->stale = now_s >= e->expire_s;
	out->ttl_left_s = out->stale ? 0 : (uint32_t)(e->expire_s - now_s);
	out->ttl_orig_s = e->ttl_orig_s;
	out->expire_s = e->expire_s;
	out->data_len = e->data_len;
	out->miss = CN_MISS_NONE;
}

static cn__entry_t **chain_of(cn__shard_t *sh, uint64_t hash)
{
	return &sh->buckets[hash & sh->bucket_mask];
}

static void chain_unlink(cn__shard_t *sh, cn__entry_t *e)
{
	for (cn__entry_t **pp = chain_of(sh, e->hash); *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			e->next = NULL;
			return;
		}
	}
}

/** Forget an entry already out of the chain: policy, history, accounting, memory. */
static void release(cn__shard_t *sh, cn__entry_t *e, unsigned hist_reason)
{
	sh->ops->on_remove(sh, e);
	if (hist_reason != CN__HIST_NONE)
		cn__hist_put(sh, e->hash, hist_reason);
	sh->used -= e->charge;
	sh->entries--;
	if (e->kind == CN_CACHE_FAILURE) {
		sh->fail_entries--;
		sh->fail_bytes -= e->charge;
	}
	free(e);
}

/** Remove an entry for the budget or because it is dead; counts and records why. */
static void drop(cn__shard_t *sh, cn__entry_t *e, uint64_t now_s, bool ghost)
{
	chain_unlink(sh, e);
	if (cn__entry_expired(e, now_s)) {
		sh->c.expirations++;
		release(sh, e, CN__HIST_EXPIRED);
	} else {
		sh->c.evictions++;
		release(sh, e, ghost ? CN__HIST_GHOST : CN__HIST_EVICTED);
	}
}

static bool key_eq(const cn__entry_t *e, uint64_t hash, const uint8_t *key, size_t name_len,
		   uint16_t type, uint16_t rclass)
{
	return e->hash == hash && e->type == type && e->rclass == rclass &&
	       e->name_len == name_len && memcmp(e->bytes, key, name_len) == 0;
}

/**
 * Find the key's entry. With reclaim, dead entries met on the way (past the stale window)
 * are removed — the "expired first, when met" rule costs nothing extra here.
 */
static cn__entry_t *find(cn__shard_t *sh, uint64_t hash, const uint8_t *key, size_t name_len,
			 uint16_t type, uint16_t rclass, uint64_t now_s, bool reclaim)
{
	cn__entry_t **pp = chain_of(sh, hash);
	while (*pp) {
		cn__entry_t *e = *pp;
		if (key_eq(e, hash, key, name_len, type, rclass))
			return e;
		if (reclaim && cn__entry_dead(e, now_s, sh->stale_window_s)) {
			*pp = e->next;
			e->next = NULL;
			sh->c.expirations++;
			release(sh, e, CN__HIST_EXPIRED);
			continue;
		}
		pp = &e->next;
	}
	return NULL;
}

/** Evict until `need` more bytes fit. 0, or -ENOMEM when nothing is left to evict. */
static int make_room(cn__shard_t *sh, size_t need, uint64_t now_s)
{
	while (sh->used + need > sh->budget) {
		bool ghost = false;
		cn__entry_t *victim = sh->ops->pick_victim(sh, now_s, &ghost);
		if (!victim)
			return -ENOMEM;
		drop(sh, victim, now_s, ghost);
	}
	return 0;
}

/* ---- table ---- */

static int table_alloc(size_t n, cn__entry_t ***out, size_t *charge)
{
	cn__entry_t **b = calloc(n, sizeof(*b));
	if (!b)
		return -ENOMEM;
	*out = b;
	*charge = cn__alloc_charge(b);
	return 0;
}

/** Double the table when the load factor passes 1, making room for the new array first;
 *  if it cannot fit (1/4 of the shard) the chains just grow a little longer. */
static void table_maybe_grow(cn__shard_t *sh, uint64_t now_s)
{
	size_t n = sh->bucket_mask + 1;
	if (sh->entries < n)
		return;
	size_t bytes = 2 * n * sizeof(cn__entry_t *);
	size_t est = cn__alloc_estimate(bytes);
	if (bytes / sizeof(cn__entry_t *) != 2 * n || est > sh->budget / MAX_TABLE_DIVISOR)
		return;
	if (make_room(sh, est, now_s) != 0)
		return;
	cn__entry_t **nb;
	size_t charge;
	if (table_alloc(2 * n, &nb, &charge) != 0)
		return;
	sh->used += charge; /* both arrays are held until the old one is freed */
	sh->fixed += charge;
	size_t mask = 2 * n - 1;
	for (size_t i = 0; i < n; i++) {
		cn__entry_t *e = sh->buckets[i];
		while (e) {
			cn__entry_t *next = e->next;
			e->next = nb[e->hash & mask];
			nb[e->hash & mask] = e;
			e = next;
		}
	}
	free(sh->buckets);
	sh->used -= sh->buckets_charge;
	sh->fixed -= sh->buckets_charge;
	sh->buckets = nb;
	sh->buckets_charge = charge;
	sh->bucket_mask = mask;
	/* make_room above may have evicted more than the real charge needed: fine. The real
	 * charge can exceed the estimate only with an unusual allocator; restore the bound. */
	if (sh->used > sh->budget)
		make_room(sh, 0, now_s);
}

/* ---- create / free ---- */

const double cn_cache_predict_scale[CN_CACHE_PREDICT_N] = { 0.25, 0.5, 1.0, 2.0, 4.0 };

/**
 * Create the predictor (shadow.c) and charge it to the shards evenly. Its minis simulate
 * the bytes entries can use: what the shards leave after their fixed parts, less a full
 * table's estimate, less the shadow itself. The default rate is the densest whose shadow
 * fits in 1/32 of the budget; an explicit one that leaves a shard less than half for
 * entries is refused (-EINVAL).
 */
static int shadow_setup(cn_cache_t *cache)
{
	unsigned shift = cache->conf.shadow_shift;
	if (shift == CN_CACHE_SHADOW_OFF)
		return 0;
	size_t free_bytes = 0;
	for (unsigned i = 0; i < cache->nshards; i++)
		free_bytes += cache->shards[i].budget - cache->shards[i].fixed;
	free_bytes = free_bytes / 100 * (100 - SHADOW_TABLE_PERCENT);
	if (shift == 0) {
		shift = 1;
		while (shift < CN_CACHE_SHADOW_MAX_SHIFT &&
		       cn__shadow_plan_bytes(free_bytes, shift) > cache->conf.budget_bytes / 32)
			shift++;
	}
	size_t plan = cn__shadow_plan_bytes(free_bytes, shift);
	if (plan >= free_bytes)
		return -EINVAL;
	int ret = cn__shadow_new(cache, free_bytes - plan, shift, &cache->shadow);
	if (ret != 0 || !cache->shadow)
		return ret;
	size_t charge = cn__shadow_charge(cache->shadow);
	size_t each = charge / cache->nshards;
	for (unsigned i = 0; i < cache->nshards; i++) {
		cn__shard_t *sh = &cache->shards[i];
		size_t c = each + (i == 0 ? charge % cache->nshards : 0);
		sh->fixed += c;
		sh->used += c;
		if (sh->used >= sh->budget / 2)
			return -EINVAL;
		sh->small_target = (sh->budget - sh->fixed) * CN__SMALL_PERCENT / 100;
	}
	return 0;
}

static int conf_resolve(const cn_cache_conf_t *in, cn_cache_conf_t *c, unsigned *bits)
{
	*c = *in;
	if (c->budget_bytes < CN__MIN_BUDGET_BYTES)
		return -EINVAL;
	if (!cn__evict_get(c->policy))
		return -EINVAL;
	if (c->max_ttl_s == 0)
		c->max_ttl_s = CN__DEFAULT_MAX_TTL_S;
	if (c->neg_max_ttl_s == 0)
		c->neg_max_ttl_s = CN__DEFAULT_NEG_MAX_TTL_S;
	unsigned n = c->shards;
	if (n == 0) {
		n = CN__DEFAULT_SHARDS;
		while (n > 1 && c->budget_bytes / n < CN__AUTO_SHARD_BYTES)
			n /= 2;
	} else if ((n & (n - 1)) != 0 || n > CN__MAX_SHARDS ||
		   c->budget_bytes / n < CN__MIN_SHARD_BYTES) {
		return -EINVAL;
	}
	if (c->shadow_shift > CN_CACHE_SHADOW_MAX_SHIFT && c->shadow_shift != CN_CACHE_SHADOW_OFF)
		return -EINVAL;
	c->shards = n;
	*bits = 0;
	while ((1u << *bits) < n)
		(*bits)++;
	return 0;
}

static int shard_init(cn__shard_t *sh, const cn_cache_t *cache, size_t budget)
{
	memset(sh, 0, sizeof(*sh));
	sh->ops = cache->ops;
	sh->stale_window_s = cache->conf.stale_window_s;
	sh->budget = budget;
	sh->max_entry = budget / 8;
	if (table_alloc(INITIAL_BUCKETS, &sh->buckets, &sh->buckets_charge) != 0)
		return -ENOMEM;
	sh->bucket_mask = INITIAL_BUCKETS - 1;
	/* The history is allocated when the first key is removed (history.c) but charged from
	 * the start, with the allocation's upper-bound estimate: its room is always there. */
	size_t hb = cn__hist_size(budget);
	sh->hist = NULL;
	sh->hist_mask = hb - 1;
	sh->hist_charge = cn__alloc_estimate(hb * CN__HIST_WAYS * sizeof(uint64_t));
	sh->fixed = sizeof(*sh) + sh->buckets_charge + sh->hist_charge;
	sh->used = sh->fixed;
	if (sh->used >= budget / 2) { /* leave at least half the shard for entries */
		free(sh->buckets);
		free(sh->hist);
		return -EINVAL;
	}
	/* S3-FIFO's small queue: 10% of what entries can use. */
	sh->small_target = (budget - sh->fixed) * CN__SMALL_PERCENT / 100;
	if (pthread_mutex_init(&sh->lock, NULL) != 0) {
		free(sh->buckets);
		free(sh->hist);
		return -ENOMEM;
	}
	return 0;
}

static void shard_flush(cn__shard_t *sh)
{
	for (size_t i = 0; i <= sh->bucket_mask; i++) {
		cn__entry_t *e = sh->buckets[i];
		sh->buckets[i] = NULL;
		while (e) {
			cn__entry_t *next = e->next;
			release(sh, e, CN__HIST_NONE);
			e = next;
		}
	}
	sh->hand = NULL;
}

int cn_cache_new(const cn_cache_conf_t *conf, cn_cache_t **out)
{
	if (!conf || !out)
		return -EINVAL;
	cn_cache_t *cache = calloc(1, sizeof(*cache));
	if (!cache)
		return -ENOMEM;
	int ret = conf_resolve(conf, &cache->conf, &cache->shard_bits);
	if (ret != 0) {
		free(cache);
		return ret;
	}
	cache->nshards = cache->conf.shards;
	cache->ops = cn__evict_get(cache->conf.policy);
	cache->shards = aligned_alloc(alignof(cn__shard_t), cache->nshards * sizeof(cn__shard_t));
	if (!cache->shards) {
		free(cache);
		return -ENOMEM;
	}
	size_t per = cache->conf.budget_bytes / cache->nshards;
	unsigned done = 0;
	for (; done < cache->nshards; done++) {
		ret = shard_init(&cache->shards[done], cache, per);
		if (ret != 0)
			goto fail;
	}
	/* Shard 0 also carries the cache struct and the shard array's malloc overhead. */
	size_t extra = cn__alloc_charge(cache) + cn__alloc_charge(cache->shards) -
		       cache->nshards * sizeof(cn__shard_t);
	cache->shards[0].fixed += extra;
	cache->shards[0].used += extra;
	if (cache->shards[0].used >= per / 2) {
		ret = -EINVAL;
		goto fail;
	}
	ret = shadow_setup(cache);
	if (ret != 0)
		goto fail;
	*out = cache;
	return 0;
fail:
	cn__shadow_free(cache->shadow);
	while (done-- > 0) {
		pthread_mutex_destroy(&cache->shards[done].lock);
		free(cache->shards[done].buckets);
		free(cache->shards[done].hist);
	}
	free(cache->shards);
	free(cache);
	return ret;
}

void cn_cache_free(cn_cache_t *cache)
{
	if (!cache)
		return;
	for (unsigned i = 0; i < cache->nshards; i++) {
		cn__shard_t *sh = &cache->shards[i];
		shard_flush(sh);
		pthread_mutex_destroy(&sh->lock);
		free(sh->buckets);
		free(sh->hist);
	}
	cn__shadow_free(cache->shadow);
	free(cache->shards);
	free(cache);
}

/* ---- lookup ---- */

static cn_cache_miss_t miss_reason(unsigned hist)
{
	switch (hist) {
	case CN__HIST_EXPIRED:
		return CN_MISS_EXPIRED;
	case CN__HIST_EVICTED:
	case CN__HIST_GHOST:
		return CN_MISS_EVICTED;
	default:
		return CN_MISS_FIRST;
	}
}

static void count_miss(cn__shard_t *sh, cn_cache_miss_t why)
{
	if (why == CN_MISS_EXPIRED)
		sh->c.miss_expired++;
	else if (why == CN_MISS_EVICTED)
		sh->c.miss_evicted++;
	else
		sh->c.miss_first++;
}

int cn_cache_lookup(cn_cache_t *cache, const uint8_t *name, size_t name_len, uint16_t type,
		    uint16_t rclass, uint64_t now_s, unsigned flags, cn_cache_entry_t *out,
		    uint8_t *buf, size_t cap)
{
	if (!cache || !name || !out || name_len == 0 || name_len > CN__NAME_MAX ||
	    (cap > 0 && !buf))
		return -EINVAL;
	uint8_t key[CN__KEY_MAX];
	uint64_t hash = cn__key_make(cache, name, name_len, type, rclass, key);
	cn__shard_t *sh = cn__shard_of(cache, hash);
	bool peek = flags & CN_LOOKUP_PEEK;
	int ret = -ENOENT;
	cn__shadow_seen_t seen = { .hit = false };

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&sh->lock);
	cn__entry_t *e = find(sh, hash, key, name_len, type, rclass, now_s, !peek);
	if (e && cn__entry_dead(e, now_s, sh->stale_window_s)) {
		if (!peek) {
			chain_unlink(sh, e);
			sh->c.expirations++;
			release(sh, e, CN__HIST_EXPIRED);
		}
		e = NULL;
		out->miss = CN_MISS_EXPIRED;
	} else if (e && cn__entry_expired(e, now_s) && !(flags & CN_LOOKUP_STALE)) {
		e = NULL;
		out->miss = CN_MISS_EXPIRED;
	} else if (!e) {
		out->miss = miss_reason(cn__hist_get(sh, hash));
	}
	if (e) {
		cn__entry_fill(e, now_s, sh->stale_window_s, out);
		if (cap < e->data_len) {
			ret = -ENOSPC;
			goto done;
		}
		if (e->data_len)
			memcpy(buf, e->bytes + e->name_len, e->data_len);
		ret = 0;
		seen.hit = true;
		seen.charge = e->charge;
		seen.ttl_orig_s = e->ttl_orig_s;
		if (!peek) {
			sh->ops->on_hit(sh, e);
			if (out->stale)
				sh->c.stale_hits++;
			else
				sh->c.hits++;
		}
	} else if (!peek) {
		count_miss(sh, out->miss);
	}
	if (!peek)
		sh->c.lookups++;
	pthread_mutex_unlock(&sh->lock);
	/* After the shard lock (no lock order to keep); an unsampled key costs one compare. */
	out->sampled = cn__shadow_sampled(cache->shadow, hash);
	if (!peek && out->sampled) {
		cn__shadow_lookup(cache->shadow, hash, now_s, flags, &seen);
		out->sample = (cn_cache_sample_t){ .hash = hash, .charge = seen.charge,
						   .ttl_orig_s = seen.ttl_orig_s, .hit = seen.hit };
	}
	return ret;
done:
	pthread_mutex_unlock(&sh->lock);
	return ret;
}

/* ---- insert ---- */

static uint32_t clamp_ttl(const cn_cache_conf_t *c, cn_cache_kind_t kind, uint32_t ttl_s)
{
	uint32_t max = c->max_ttl_s;
	if (kind != CN_CACHE_RRSET && c->neg_max_ttl_s < max)
		max = c->neg_max_ttl_s;
	if (ttl_s < c->min_ttl_s)
		ttl_s = c->min_ttl_s;
	return ttl_s > max ? max : ttl_s; /* the max wins over a min set above it */
}

static bool args_ok(cn_cache_kind_t kind, cn_rank_t rank, uint16_t type)
{
	if (kind != CN_CACHE_RRSET && kind != CN_CACHE_NODATA && kind != CN_CACHE_NXDOMAIN &&
	    kind != CN_CACHE_FAILURE)
		return false;
	if (rank < CN_RANK_ADDITIONAL || rank > CN_RANK_LOCAL)
		return false;
	/* NXDOMAIN lives in the type-0 slot and nothing else does. */
	return (kind == CN_CACHE_NXDOMAIN) == (type == CN_CACHE_TYPE_NXDOMAIN);
}

/* Take the entry the insert replaces (if any) out of the shard, filling the eviction hint
 * from it; -EEXIST when live data of a higher rank must stay (RFC 2181 5.4.1). */
static int take_old(cn__shard_t *sh, uint64_t hash, const uint8_t *key, size_t name_len,
		    uint16_t type, uint16_t rclass, cn_rank_t rank, uint64_t now_s,
		    cn__evict_hint_t *hint)
{
	cn__entry_t *old = find(sh, hash, key, name_len, type, rclass, now_s, true);
	if (old) {
		if (!cn__entry_expired(old, now_s) && rank < old->rank) {
			sh->c.rank_refused++;
			return -EEXIST;
		}
		hint->replaced = true;
		hint->queue = old->queue;
		hint->freq = old->freq;
		chain_unlink(sh, old);
		release(sh, old, CN__HIST_NONE);
		sh->c.replacements++;
	} else {
		hint->ghost = cn__hist_get(sh, hash) == CN__HIST_GHOST;
	}
	cn__hist_del(sh, hash);
	return 0;
}

/* Room and memory for a new entry of size bytes; its real charge in *charge. */
static int entry_alloc(cn__shard_t *sh, size_t size, size_t est, uint64_t now_s,
		       cn__entry_t **out, size_t *charge)
{
	int ret = make_room(sh, est, now_s);
	if (ret != 0)
		return ret;
	cn__entry_t *e = malloc(size);
	if (!e)
		return -ENOMEM;
	/* The allocator may hand out more than estimated. The room made above is not taken
	 * yet (used does not include est), so the whole real charge must fit, not only the
	 * difference: make_room(charge - est) let a shard end 16 bytes over its budget on
	 * glibc, which ASan's exact sizes never showed. */
	*charge = cn__alloc_charge(e);
	if (*charge > est && make_room(sh, *charge, now_s) != 0) {
		free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

/* Put a filled entry into its chain, its policy's queues and the shard's accounts. */
static void entry_link(cn__shard_t *sh, cn__entry_t *e, const cn__evict_hint_t *hint)
{
	cn__entry_t **chain = chain_of(sh, e->hash);
	e->next = *chain;
	*chain = e;
	sh->ops->on_insert(sh, e, hint);
	sh->used += e->charge;
	sh->entries++;
	if (e->kind == CN_CACHE_FAILURE) {
		sh->fail_entries++;
		sh->fail_bytes += e->charge;
	}
	sh->c.insertions++;
}

int cn__insert_abs(cn_cache_t *cache, const uint8_t *name, size_t name_len, uint16_t type,
		   uint16_t rclass, cn_cache_kind_t kind, cn_rank_t rank, uint32_t ttl_orig_s,
		   uint64_t expire_s, uint64_t now_s, const void *data, size_t data_len)
{
	if (!cache || !name || (data_len > 0 && !data) || !cn__name_is_wire(name, name_len) ||
	    !args_ok(kind, rank, type) || data_len > UINT32_MAX)
		return -EINVAL;
	uint8_t key[CN__KEY_MAX];
	uint64_t hash = cn__key_make(cache, name, name_len, type, rclass, key);
	cn__shard_t *sh = cn__shard_of(cache, hash);
	size_t size = CN__ENTRY_HDR + name_len + data_len;
	size_t est = cn__alloc_estimate(size), charge = 0;
	cn__evict_hint_t hint = { .ghost = false };
	cn__entry_t *e = NULL;
	int ret = -E2BIG;

	pthread_mutex_lock(&sh->lock);
	if (est > sh->max_entry) {
		sh->c.too_big++;
		goto done;
	}
	if ((ret = take_old(sh, hash, key, name_len, type, rclass, rank, now_s, &hint)) != 0)
		goto done;
	table_maybe_grow(sh, now_s);
	if ((ret = entry_alloc(sh, size, est, now_s, &e, &charge)) != 0)
		goto done;
	memset(e, 0, CN__ENTRY_HDR);
	e->hash = hash;
	e->expire_s = expire_s;
	e->ttl_orig_s = ttl_orig_s;
	e->data_len = (uint32_t)data_len;
	e->charge = (uint32_t)charge;
	e->type = type;
	e->rclass = rclass;
	e->name_len = (uint8_t)name_len;
	e->kind = (uint8_t)kind;
	e->rank = (uint8_t)rank;
	memcpy(e->bytes, key, name_len);
	if (data_len)
		memcpy(e->bytes + name_len, data, data_len);
	entry_link(sh, e, &hint);
	pthread_mutex_unlock(&sh->lock);
	if (cn__shadow_sampled(cache->shadow, hash))
		cn__shadow_insert(cache->shadow, hash, (uint32_t)charge, ttl_orig_s, expire_s,
				  now_s);
	return 0;
done:
	pthread_mutex_unlock(&sh->lock);
	return ret;
}

int cn_cache_insert(cn_cache_t *cache, const uint8_t *name, size_t name_len, uint16_t type,
		    uint16_t rclass, cn_cache_kind_t kind, cn_rank_t rank, uint32_t ttl_s,
		    uint64_t now_s, const void *data, size_t data_len)
{
	if (!cache)
		return -EINVAL;
	uint32_t ttl = clamp_ttl(&cache->conf, kind, ttl_s);
	return cn__insert_abs(cache, name, name_len, type, rclass, kind, rank, ttl, now_s + ttl,
			      now_s, data, data_len);
}

/* ---- remove, flush, walk, stats ---- */

int cn_cache_remove(cn_cache_t *cache, const uint8_t *name, size_t name_len, uint16_t type,
		    uint16_t rclass)
{
	if (!cache || !name || name_len == 0 || name_len > CN__NAME_MAX)
		return -EINVAL;
	uint8_t key[CN__KEY_MAX];
	uint64_t hash = cn__key_make(cache, name, name_len, type, rclass, key);
	cn__shard_t *sh = cn__shard_of(cache, hash);
	pthread_mutex_lock(&sh->lock);
	cn__entry_t *e = find(sh, hash, key, name_len, type, rclass, 0, false);
	if (e) {
		chain_unlink(sh, e);
		release(sh, e, CN__HIST_NONE); /* removed on purpose: the trace goes too */
	}
	cn__hist_del(sh, hash);
	pthread_mutex_unlock(&sh->lock);
	if (e)
		cn__epoch_bump(cache);
	return e ? 0 : -ENOENT;
}

size_t cn_cache_flush_name(cn_cache_t *cache, const uint8_t *name, size_t name_len,
			   bool subtree)
{
	if (!cache || !name || name_len == 0 || name_len > CN__NAME_MAX)
		return 0;
	uint8_t apex[CN__NAME_MAX];
	cn__name_lower(name, name_len, apex);
	size_t removed = 0;
	for (unsigned s = 0; s < cache->nshards; s++) {
		cn__shard_t *sh = &cache->shards[s];
		pthread_mutex_lock(&sh->lock);
		for (size_t i = 0; i <= sh->bucket_mask; i++) {
			cn__entry_t **pp = &sh->buckets[i];
			while (*pp) {
				cn__entry_t *e = *pp;
				bool hit = subtree ? cn__name_under(e->bytes, e->name_len, apex,
								    name_len)
						   : (e->name_len == name_len &&
						      memcmp(e->bytes, apex, name_len) == 0);
				if (!hit) {
					pp = &e->next;
					continue;
				}
				*pp = e->next;
				e->next = NULL;
				cn__hist_del(sh, e->hash);
				release(sh, e, CN__HIST_NONE);
				removed++;
			}
		}
		pthread_mutex_unlock(&sh->lock);
	}
	if (removed)
		cn__epoch_bump(cache);
	return removed;
}

void cn_cache_flush(cn_cache_t *cache)
{
	if (!cache)
		return;
	for (unsigned s = 0; s < cache->nshards; s++) {
		cn__shard_t *sh = &cache->shards[s];
		pthread_mutex_lock(&sh->lock);
		shard_flush(sh);
		cn__hist_clear(sh);
		pthread_mutex_unlock(&sh->lock);
	}
	cn__shadow_flush(cache->shadow);
	cn__epoch_bump(cache);
}

void cn__epoch_bump(cn_cache_t *cache)
{
	atomic_fetch_add_explicit(&cache->epoch, 1, memory_order_release);
}

uint64_t cn_cache_epoch(const cn_cache_t *cache)
{
	return cache ? atomic_load_explicit(&cache->epoch, memory_order_acquire) : 0;
}

void cn_cache_replay(cn_cache_t *cache, const cn_cache_sample_t *sample, uint64_t now_s)
{
	if (!cache->shadow)
		return;
	cn__shadow_seen_t seen = { .hit = sample->hit, .charge = sample->charge,
				   .ttl_orig_s = sample->ttl_orig_s };
	cn__shadow_lookup(cache->shadow, sample->hash, now_s, 0, &seen);
}

void cn_cache_credit(cn_cache_t *cache, const cn_cache_credit_t *c)
{
	const uint64_t v[5] = { c->lookups, c->hits, c->miss_first, c->miss_expired,
				c->miss_evicted };
	for (unsigned i = 0; i < 5; i++)
		if (v[i])
			atomic_fetch_add_explicit(&cache->credit[i], v[i], memory_order_relaxed);
}

size_t cn_cache_walk(cn_cache_t *cache, uint64_t now_s, cn_cache_walk_cb cb, void *ctx)
{
	if (!cache)
		return 0;
	size_t n = 0;
	for (unsigned s = 0; s < cache->nshards; s++) {
		cn__shard_t *sh = &cache->shards[s];
		pthread_mutex_lock(&sh->lock);
		for (size_t i = 0; i <= sh->bucket_mask; i++) {
			for (cn__entry_t *e = sh->buckets[i]; e; e = e->next) {
				if (cb) {
					cn_cache_entry_t ent;
					cn__entry_fill(e, now_s, sh->stale_window_s, &ent);
					cb(ctx, e->bytes, e->name_len, e->type, e->rclass, &ent,
					   e->bytes + e->name_len);
				}
				n++;
			}
		}
		pthread_mutex_unlock(&sh->lock);
	}
	return n;
}

void cn_cache_stats(cn_cache_t *cache, cn_cache_stats_t *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!cache)
		return;
	out->budget_bytes = cache->conf.budget_bytes;
	for (unsigned s = 0; s < cache->nshards; s++) {
		cn__shard_t *sh = &cache->shards[s];
		pthread_mutex_lock(&sh->lock);
		out->entries += sh->entries - sh->fail_entries;
		out->bytes_used += sh->used - sh->fail_bytes;
		out->failure_entries += sh->fail_entries;
		out->failure_bytes += sh->fail_bytes;
#define CN_X(field, name) out->field += sh->c.field;
		CN_CACHE_COUNTERS_MAP(CN_X)
#undef CN_X
		pthread_mutex_unlock(&sh->lock);
	}
	uint64_t c[5];
	for (unsigned i = 0; i < 5; i++)
		c[i] = atomic_load_explicit(&cache->credit[i], memory_order_relaxed);
	out->lookups += c[0];
	out->hits += c[1];
	out->miss_first += c[2];
	out->miss_expired += c[3];
	out->miss_evicted += c[4];
}

void cn_cache_predict(cn_cache_t *cache, cn_cache_predict_t *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!cache || !cache->shadow)
		return;
	cn_cache_stats_t st;
	cn_cache_stats(cache, &st);
	double real = st.lookups ? (double)(st.hits + st.stale_hits) / (double)st.lookups : 0.0;
	cn__shadow_predict(cache->shadow, real, out);
}
