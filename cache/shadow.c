/*
 * The hit-rate predictor: miniature simulations (Waldspurger et al., USENIX ATC 2017) on a
 * SHARDS-style spatial sample (Waldspurger et al., FAST 2015) of the cache's key stream.
 *
 * A key is sampled iff 16 bits of its keyed hash (bits 36..51: not the shard bits, not the
 * table's low bits, not the history's bits 16..) fall below 2^(16 - shift), i.e. a fixed
 * rate R = 2^-shift of the *keys* (every request to a sampled key is seen). Five minis run
 * the cache's own eviction policy (evict.c: the same on_insert/on_hit/pick_victim) on the
 * sampled keys with budgets R x {1/4, 1/2, 1, 2, 4} x the real cache's entry bytes, TTL
 * expiry and serve-stale included; an entry in a mini is a bare cn__entry_t header whose
 * charge is the real entry's charge. Ghosts (S3-FIFO) use a per-mini history table.
 *
 * A mini sees what the real cache sees: each sampled lookup (hit or miss in the mini); when
 * the mini misses but the real cache hit, the smaller cache would have fetched the answer
 * again, so the mini inserts it at once with its original TTL; when the real cache missed,
 * the resolver's insert that follows reaches every mini. Every insert the real cache stores
 * reaches the minis too.
 *
 * Prediction: predicted(s) = real hit rate + (mini_s - mini_1x). The 1x mini is a control:
 * sampling noise (which heavy names happen to be sampled) and the simulation's own bias
 * (one mini vs 16 shards, estimated fixed overhead) largely cancel in the difference.
 *
 * Memory: every node, table and ghost table is allocated at creation and charged to the
 * cache's budget (cache.c). The lookup path never allocates: nodes come from a free list,
 * and a mini that runs out of nodes evicts by its policy as if it were out of bytes.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "cache/evict.h"
#include "cache/internal.h"

#define SAMPLE_SHIFT_BITS 36
#define SAMPLE_SPACE 65536u         /* 16 hash bits */
#define NODE_MIN_CHARGE 96          /* nodes per mini = budget / this (an A entry is ~130) */
#define DEFAULT_DIVISOR 32          /* default: the shadow takes at most 1/32 of the budget */
#define TABLE_ESTIMATE_PERCENT 8    /* a full cache's table, in % of its entry bytes */

static const unsigned quarters[CN_CACHE_PREDICT_N] = { 1, 2, 4, 8, 16 };

struct cn__shadow {
	pthread_mutex_t lock;
	unsigned shift;
	uint32_t threshold;
	size_t charge;              /* bytes charged to the cache */
	cn__entry_t *nodes;         /* one array for every mini */
	uint64_t lookups;           /* sampled lookups, the same for every mini */
	uint64_t hits[CN_CACHE_PREDICT_N];
	struct mini {
		cn__shard_t sh;     /* buckets, hist, q, hand, budget, used, small_target */
		cn__entry_t *free;  /* free nodes */
		cn__entry_t *base;  /* its slice of nodes */
		size_t nodes;
	} m[CN_CACHE_PREDICT_N];
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;
	while (p < n)
		p *= 2;
	return p;
}

typedef struct plan {
	size_t budget[CN_CACHE_PREDICT_N], nodes[CN_CACHE_PREDICT_N];
	size_t buckets[CN_CACHE_PREDICT_N], hist[CN_CACHE_PREDICT_N];
	size_t bytes; /* upper-bound charge of everything */
} plan_t;

static void make_plan(size_t entry_bytes, unsigned shift, plan_t *p)
{
	memset(p, 0, sizeof(*p));
	p->bytes = cn__alloc_estimate(sizeof(cn__shadow_t));
	size_t total = 0;
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++) {
		size_t b = (entry_bytes >> shift) * quarters[i] / 4;
		p->budget[i] = b;
		p->nodes[i] = b / NODE_MIN_CHARGE + 8;
		p->buckets[i] = pow2_at_least(p->nodes[i]);
		p->hist[i] = pow2_at_least(p->nodes[i] / CN__HIST_WAYS + 1);
		total += p->nodes[i];
		p->bytes += cn__alloc_estimate(p->buckets[i] * sizeof(cn__entry_t *));
		p->bytes += cn__alloc_estimate(p->hist[i] * CN__HIST_WAYS * sizeof(uint64_t));
	}
	p->bytes += cn__alloc_estimate(total * sizeof(cn__entry_t));
}

size_t cn__shadow_plan_bytes(size_t entry_bytes, unsigned shift)
{
	plan_t p;
	make_plan(entry_bytes, shift, &p);
	return p.bytes;
}

static void shadow_free(cn__shadow_t *s)
{
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++) {
		free(s->m[i].sh.buckets);
		free(s->m[i].sh.hist);
	}
	free(s->nodes);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void mini_reset(struct mini *m)
{
	cn__shard_t *sh = &m->sh;
	memset(sh->buckets, 0, (sh->bucket_mask + 1) * sizeof(*sh->buckets));
	memset(sh->hist, 0, (sh->hist_mask + 1) * CN__HIST_WAYS * sizeof(uint64_t));
	memset(sh->q, 0, sizeof(sh->q));
	sh->hand = NULL;
	sh->used = 0;
	sh->entries = 0;
	m->free = NULL;
	for (size_t j = m->nodes; j-- > 0;) {
		m->base[j].next = m->free;
		m->free = &m->base[j];
	}
}

int cn__shadow_new(const cn_cache_t *cache, size_t entry_bytes, unsigned shift,
		   cn__shadow_t **out)
{
	*out = NULL;
	plan_t p;
	make_plan(entry_bytes, shift, &p);
	if (p.budget[0] < 4 * NODE_MIN_CHARGE)
		return 0; /* too small to say anything: no shadow */
	/* aligned: the minis' cn__shard_t is cache-line aligned */
	size_t sz = (sizeof(cn__shadow_t) + 63) & ~(size_t)63;
	cn__shadow_t *s = aligned_alloc(alignof(cn__shadow_t), sz);
	if (!s)
		return -ENOMEM;
	memset(s, 0, sz);
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return -ENOMEM;
	}
	s->shift = shift;
	s->threshold = SAMPLE_SPACE >> shift;
	size_t total = 0;
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++)
		total += p.nodes[i];
	s->nodes = calloc(total, sizeof(cn__entry_t));
	int bad = !s->nodes;
	size_t at = 0;
	for (int i = 0; i < CN_CACHE_PREDICT_N && !bad; i++) {
		struct mini *m = &s->m[i];
		cn__shard_t *sh = &m->sh;
		sh->ops = cache->ops;
		sh->stale_window_s = cache->conf.stale_window_s;
		sh->budget = p.budget[i];
		sh->max_entry = p.budget[i] / 8;
		sh->small_target = p.budget[i] * CN__SMALL_PERCENT / 100;
		sh->bucket_mask = p.buckets[i] - 1;
		sh->hist_mask = p.hist[i] - 1;
		sh->buckets = calloc(p.buckets[i], sizeof(cn__entry_t *));
		sh->hist = calloc(p.hist[i] * CN__HIST_WAYS, sizeof(uint64_t));
		bad = !sh->buckets || !sh->hist;
		if (bad)
			break;
		s->charge += cn__alloc_charge(sh->buckets) + cn__alloc_charge(sh->hist);
		m->base = s->nodes + at;
		m->nodes = p.nodes[i];
		at += p.nodes[i];
		mini_reset(m);
	}
	if (bad) {
		shadow_free(s);
		return -ENOMEM;
	}
	s->charge += cn__alloc_charge(s) + cn__alloc_charge(s->nodes);
	*out = s;
	return 0;
}

void cn__shadow_free(cn__shadow_t *s)
{
	if (s)
		shadow_free(s);
}

size_t cn__shadow_charge(const cn__shadow_t *s)
{
	return s ? s->charge : 0;
}

bool cn__shadow_sampled(const cn__shadow_t *s, uint64_t hash)
{
	return s && ((hash >> SAMPLE_SHIFT_BITS) & (SAMPLE_SPACE - 1)) < s->threshold;
}

/* ---- one mini ---- */

static cn__entry_t **mini_chain(cn__shard_t *sh, uint64_t hash)
{
	return &sh->buckets[hash & sh->bucket_mask];
}

/** Unlink e (already out of its chain) from the policy and give the node back. */
static void mini_release(struct mini *m, cn__entry_t *e)
{
	m->sh.ops->on_remove(&m->sh, e);
	m->sh.used -= e->charge;
	m->sh.entries--;
	e->next = m->free;
	m->free = e;
}

static void mini_chain_unlink(cn__shard_t *sh, cn__entry_t *e)
{
	for (cn__entry_t **pp = mini_chain(sh, e->hash); *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			e->next = NULL;
			return;
		}
	}
}

/** The key's node (the 64-bit hash stands for the key); dead nodes met are dropped. */
static cn__entry_t *mini_find(struct mini *m, uint64_t hash, uint64_t now_s)
{
	cn__entry_t **pp = mini_chain(&m->sh, hash);
	while (*pp) {
		cn__entry_t *e = *pp;
		if (e->hash == hash)
			return e;
		if (cn__entry_dead(e, now_s, m->sh.stale_window_s)) {
			*pp = e->next;
			e->next = NULL;
			mini_release(m, e);
			continue;
		}
		pp = &e->next;
	}
	return NULL;
}

static bool mini_evict_one(struct mini *m, uint64_t now_s)
{
	bool ghost = false;
	cn__entry_t *v = m->sh.ops->pick_victim(&m->sh, now_s, &ghost);
	if (!v)
		return false;
	mini_chain_unlink(&m->sh, v);
	uint64_t h = v->hash;
	bool expired = cn__entry_expired(v, now_s);
	mini_release(m, v);
	if (ghost && !expired)
		cn__hist_put(&m->sh, h, CN__HIST_GHOST);
	return true;
}

static void mini_put(struct mini *m, uint64_t hash, uint32_t charge, uint32_t ttl_orig_s,
		     uint64_t expire_s, uint64_t now_s)
{
	cn__shard_t *sh = &m->sh;
	if (charge > sh->max_entry)
		return; /* the real cache refuses such an entry at this size too (-E2BIG) */
	cn__evict_hint_t hint = { .ghost = false };
	cn__entry_t *old = mini_find(m, hash, now_s);
	if (old) {
		hint.replaced = true;
		hint.queue = old->queue;
		hint.freq = old->freq;
		mini_chain_unlink(sh, old);
		mini_release(m, old);
	} else {
		hint.ghost = cn__hist_get(sh, hash) == CN__HIST_GHOST;
	}
	cn__hist_del(sh, hash);
	while ((sh->used + charge > sh->budget || !m->free) && mini_evict_one(m, now_s))
		;
	if (!m->free || sh->used + charge > sh->budget)
		return;
	cn__entry_t *e = m->free;
	m->free = e->next;
	memset(e, 0, sizeof(*e));
	e->hash = hash;
	e->expire_s = expire_s;
	e->ttl_orig_s = ttl_orig_s;
	e->charge = charge;
	e->next = *mini_chain(sh, hash);
	*mini_chain(sh, hash) = e;
	sh->ops->on_insert(sh, e, &hint);
	sh->used += charge;
	sh->entries++;
}

/* ---- hooks ---- */

void cn__shadow_lookup(cn__shadow_t *s, uint64_t hash, uint64_t now_s, unsigned flags,
		       const cn__shadow_seen_t *real)
{
	pthread_mutex_lock(&s->lock);
	s->lookups++;
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++) {
		struct mini *m = &s->m[i];
		cn__entry_t *e = mini_find(m, hash, now_s);
		bool hit = e && !cn__entry_dead(e, now_s, m->sh.stale_window_s) &&
			   (!cn__entry_expired(e, now_s) || (flags & CN_LOOKUP_STALE));
		if (hit) {
			m->sh.ops->on_hit(&m->sh, e);
			s->hits[i]++;
		} else if (real->hit) {
			/* a cache this size would have fetched it again now */
			mini_put(m, hash, real->charge, real->ttl_orig_s,
				 now_s + real->ttl_orig_s, now_s);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

void cn__shadow_insert(cn__shadow_t *s, uint64_t hash, uint32_t charge, uint32_t ttl_orig_s,
		       uint64_t expire_s, uint64_t now_s)
{
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++)
		mini_put(&s->m[i], hash, charge, ttl_orig_s, expire_s, now_s);
	pthread_mutex_unlock(&s->lock);
}

void cn__shadow_flush(cn__shadow_t *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++) {
		mini_reset(&s->m[i]);
		s->hits[i] = 0;
	}
	s->lookups = 0;
	pthread_mutex_unlock(&s->lock);
}

void cn__shadow_predict(cn__shadow_t *s, double real_rate, cn_cache_predict_t *out)
{
	pthread_mutex_lock(&s->lock);
	out->sample_shift = s->shift;
	out->shadow_bytes = s->charge;
	out->sampled_lookups = s->lookups;
	double base = s->lookups ? (double)s->hits[2] / (double)s->lookups : 0.0;
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++) {
		double raw = s->lookups ? (double)s->hits[i] / (double)s->lookups : 0.0;
		double p = real_rate + (raw - base);
		out->sampled_hits[i] = s->hits[i];
		out->sampled_hit_rate[i] = raw;
		out->hit_rate[i] = p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
	}
	pthread_mutex_unlock(&s->lock);
}
