/*
 * cache/ internals shared between cache.c, key.c, evict.c, history.c and dump.c (and the
 * unit tests, which may include this header). Nothing here is part of the public API.
 *
 * Layout: a cn_cache_t is a power-of-two array of shards. A key's 64-bit keyed hash picks
 * the shard (top bits) and the bucket inside the shard's chained table (low bits). Each
 * shard has its own mutex, its own slice of the byte budget, its own eviction queues and
 * its own history of recently removed keys; no operation holds two shard locks.
 */
#pragma once

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"

/* Limits (units in the name; sources in cache/README.md). */
#define CN__NAME_MAX 255              /* RFC 1035 3.1: a wire name is at most 255 octets */
#define CN__KEY_MAX (CN__NAME_MAX + 4) /* lowercased name + type + class */
#define CN__MIN_BUDGET_BYTES (64u * 1024) /* cache.h: minimum budget */
#define CN__MIN_SHARD_BYTES (16u * 1024)  /* below this an explicit shard count is refused */
#define CN__AUTO_SHARD_BYTES (256u * 1024) /* the default shard count shrinks to keep this */
#define CN__MAX_SHARDS 4096u
#define CN__DEFAULT_SHARDS 16u
#define CN__DEFAULT_MAX_TTL_S 86400u  /* 1 day */
#define CN__DEFAULT_NEG_MAX_TTL_S 3600u /* 1 hour (RFC 2308 5 suggests 1-3 hours) */
#define CN__SMALL_PERCENT 10          /* S3-FIFO small queue: 10% of a shard's entry bytes */
#define CN__HIST_WAYS 8               /* history records per bucket (one 64-byte line) */
#define CN__HIST_DIVISOR 12           /* history gets at most 1/12 of a shard's budget */

/* History reasons, kept in the low 2 bits of a history record. */
enum {
	CN__HIST_NONE = 0,
	CN__HIST_EXPIRED = 1,   /* removed after its TTL ran out */
	CN__HIST_EVICTED = 2,   /* evicted while valid */
	CN__HIST_GHOST = 3,     /* evicted while valid from S3-FIFO's small queue, never hit */
};

/* Policy queues (entry->queue). */
enum { CN__Q_SMALL = 0, CN__Q_MAIN = 1 };

/**
 * One cached entry: a single malloc'd block holding this header, the lowercased owner name
 * and the value. `charge` is what the block costs (malloc's usable size + its chunk header).
 */
typedef struct cn__entry {
	struct cn__entry *next;   /* hash chain */
	struct cn__entry *newer;  /* policy queue, towards the head (newest) */
	struct cn__entry *older;  /* policy queue, towards the tail (oldest) */
	uint64_t hash;
	uint64_t expire_s;        /* absolute; live while now_s < expire_s */
	uint32_t ttl_orig_s;
	uint32_t data_len;
	uint32_t charge;          /* accounted bytes of this block */
	uint16_t type;
	uint16_t rclass;
	uint8_t name_len;         /* 1..255 (a 256-byte name cannot be valid wire) */
	uint8_t kind;
	uint8_t rank;
	uint8_t queue;            /* CN__Q_* (S3-FIFO) */
	uint8_t freq;             /* S3-FIFO 2-bit counter, SIEVE visited bit */
	uint8_t bytes[];          /* name_len bytes of name, then data_len bytes of data */
} cn__entry_t;

#define CN__ENTRY_HDR offsetof(cn__entry_t, bytes)

typedef struct cn__queue {
	cn__entry_t *head; /* newest */
	cn__entry_t *tail; /* oldest */
	size_t bytes;      /* sum of charges */
	size_t count;
} cn__queue_t;

typedef struct cn__counters {
#define CN_X(field, name) uint64_t field;
	CN_CACHE_COUNTERS_MAP(CN_X) /* cache/cache.h */
#undef CN_X
} cn__counters_t;

struct cn__evict_ops;

typedef struct cn__shard {
	alignas(64) pthread_mutex_t lock;
	const struct cn__evict_ops *ops;
	uint32_t stale_window_s;
	/* chained hash table */
	cn__entry_t **buckets;
	size_t bucket_mask;
	size_t buckets_charge;
	/* history of removed keys: (bucket_mask+1) buckets of CN__HIST_WAYS records */
	uint64_t *hist;
	size_t hist_mask;
	size_t hist_charge;
	/* accounting */
	size_t budget;      /* this shard's share of budget_bytes */
	size_t used;        /* every byte charged to this shard, fixed parts included */
	size_t fixed;       /* shard struct share + table + history (+ cache struct for shard 0) */
	size_t max_entry;   /* budget / 8 (cache.h: -E2BIG) */
	size_t small_target;/* S3-FIFO: bytes the small queue may hold before it is evicted */
	uint64_t entries;    /* every entry, failure entries included */
	uint64_t fail_entries; /* of those, kind CN_CACHE_FAILURE */
	size_t fail_bytes;     /* their charges (included in used) */
	/* eviction state */
	cn__queue_t q[2];   /* S3-FIFO small + main; SIEVE and LRU use q[0] only */
	cn__entry_t *hand;  /* SIEVE hand */
	cn__counters_t c;
} cn__shard_t;

struct cn_cache {
	cn_cache_conf_t conf;   /* defaults resolved */
	unsigned shard_bits;
	unsigned nshards;
	const struct cn__evict_ops *ops;
	cn__shard_t *shards;
	struct cn__shadow *shadow; /* hit-rate predictor (shadow.c), NULL when off */
	_Atomic uint64_t epoch;    /* cn_cache_epoch */
	_Atomic uint64_t credit[5]; /* cn_cache_credit: lookups, hits, miss_first, _expired, _evicted */
};

/** Move the epoch (after a removal, flush or load). */
void cn__epoch_bump(cn_cache_t *cache);

/* key.c */
/** Lowercase name into out (CN__KEY_MAX bytes), append type and class, return the keyed
 *  hash. name_len must be 1..CN__NAME_MAX. */
uint64_t cn__key_make(const cn_cache_t *cache, const uint8_t *name, size_t name_len,
		      uint16_t type, uint16_t rclass, uint8_t *out);
void cn__name_lower(const uint8_t *name, size_t len, uint8_t *out);
/** An uncompressed wire name: labels of 1..63 octets ending in the root label, <= 255. */
bool cn__name_is_wire(const uint8_t *name, size_t len);
/** Is the (lowercased) name equal to apex or below it at a label boundary? */
bool cn__name_under(const uint8_t *name, size_t len, const uint8_t *apex, size_t apex_len);

/* cache.c: accounting helpers */
/** What malloc really holds for p: its usable size plus the chunk header. */
size_t cn__alloc_charge(void *p);
/** Upper bound of cn__alloc_charge() for a malloc(n), computed before allocating. */
size_t cn__alloc_estimate(size_t n);
static inline bool cn__entry_expired(const cn__entry_t *e, uint64_t now_s)
{
	return now_s >= e->expire_s;
}
static inline bool cn__entry_dead(const cn__entry_t *e, uint64_t now_s, uint32_t window_s)
{
	return now_s >= e->expire_s && now_s - e->expire_s >= window_s;
}
static inline cn__shard_t *cn__shard_of(cn_cache_t *cache, uint64_t hash)
{
	return &cache->shards[cache->shard_bits ? hash >> (64 - cache->shard_bits) : 0];
}
/** Store a record with an absolute expiry (dump.c uses it; cn_cache_insert wraps it). */
int cn__insert_abs(cn_cache_t *cache, const uint8_t *name, size_t name_len, uint16_t type,
		   uint16_t rclass, cn_cache_kind_t kind, cn_rank_t rank, uint32_t ttl_orig_s,
		   uint64_t expire_s, uint64_t now_s, const void *data, size_t data_len);
void cn__entry_fill(const cn__entry_t *e, uint64_t now_s, uint32_t window_s,
		    cn_cache_entry_t *out);

/* history.c */
size_t cn__hist_size(size_t shard_budget);
void cn__hist_put(cn__shard_t *sh, uint64_t hash, unsigned reason);
unsigned cn__hist_get(const cn__shard_t *sh, uint64_t hash);
void cn__hist_del(cn__shard_t *sh, uint64_t hash);
void cn__hist_clear(cn__shard_t *sh);

/* queue helpers (evict.c) */
void cn__queue_push(cn__queue_t *q, cn__entry_t *e);
void cn__queue_unlink(cn__queue_t *q, cn__entry_t *e);

/* shadow.c: the hit-rate predictor (miniature simulations on a sampled key stream) */
typedef struct cn__shadow cn__shadow_t;
/** What the real cache did with a sampled lookup. */
typedef struct cn__shadow_seen {
	bool hit;              /* fresh or stale hit */
	uint32_t charge;       /* the real entry's charge (on a hit) */
	uint32_t ttl_orig_s;   /* its TTL as stored (on a hit) */
} cn__shadow_seen_t;
/** Upper bound of the bytes a shadow over entry_bytes at rate 2^-shift takes. */
size_t cn__shadow_plan_bytes(size_t entry_bytes, unsigned shift);
/** 0 with *out NULL when the sample would be too small to mean anything. */
int cn__shadow_new(const cn_cache_t *cache, size_t entry_bytes, unsigned shift,
		   cn__shadow_t **out);
void cn__shadow_free(cn__shadow_t *s);
size_t cn__shadow_charge(const cn__shadow_t *s);
bool cn__shadow_sampled(const cn__shadow_t *s, uint64_t hash);
void cn__shadow_lookup(cn__shadow_t *s, uint64_t hash, uint64_t now_s, unsigned flags,
		       const cn__shadow_seen_t *real);
void cn__shadow_insert(cn__shadow_t *s, uint64_t hash, uint32_t charge, uint32_t ttl_orig_s,
		       uint64_t expire_s, uint64_t now_s);
void cn__shadow_flush(cn__shadow_t *s);
void cn__shadow_predict(cn__shadow_t *s, double real_rate, cn_cache_predict_t *out);
