/*
 * cairn's cache: a TTL-expiring store of RRsets and negative answers under a byte budget.
 *
 * Keys are (owner name, type, class). The name is passed as uncompressed wire bytes with its
 * length; the cache lowercases ASCII letters itself (length octets are <= 63, below 'A', so
 * lowercasing the whole wire form is safe) and otherwise treats names as byte strings. It
 * knows nothing of sockets, clocks or DNS resolution: `now_s` is passed in by the caller
 * (wall-clock seconds, see DESIGN.md "Time"), and values are opaque bytes whose format the
 * resolver owns (see resolver/README.md, "cache values").
 *
 * Every byte the cache holds — keys, values, index slots and per-entry overhead — is counted
 * against budget_bytes, so no sequence of inserts can grow it past the budget. Eviction is
 * behind a small policy interface (cache/evict.h). The table is sharded; each shard has its
 * own lock, so there is no global lock on lookups. Lookups copy the value into the caller's
 * buffer; no pointer into the cache survives a call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cn_cache cn_cache_t;

/** What an entry says. NXDOMAIN entries are keyed with type CN_CACHE_TYPE_NXDOMAIN and
 *  cover every type at that name (RFC 2308 5); NODATA entries cover one (name, type). */
typedef enum cn_cache_kind {
	CN_CACHE_RRSET = 0,
	CN_CACHE_NODATA = 1,
	CN_CACHE_NXDOMAIN = 2,
	CN_CACHE_FAILURE = 3, /* a remembered failure (the resolver's RFC 9520 failure cache):
				 counted apart from the others (failure_entries/bytes), never
				 dumped, still inside the byte budget */
} cn_cache_kind_t;

#define CN_CACHE_TYPE_NXDOMAIN 0 /* the type slot used for NXDOMAIN entries */

/** Trust ranks (RFC 2181 5.4.1), low to high. A live entry is replaced only by data of the
 *  same or a higher rank; an expired entry by anything. */
typedef enum cn_rank {
	CN_RANK_ADDITIONAL = 1,      /* additional section, referral NS and glue */
	CN_RANK_NONAUTH_ANSWER = 2,  /* answer section of a non-authoritative reply */
	CN_RANK_AUTH_AUTHORITY = 3,  /* authority section of an authoritative reply */
	CN_RANK_AUTH_ANSWER = 4,     /* answer section of an authoritative reply */
	CN_RANK_LOCAL = 5,           /* configured data, loaded dumps of rank 5 */
} cn_rank_t;

/** Why a lookup missed; only EVICTED depends on the cache size (docs/hitrate.md 3). */
typedef enum cn_cache_miss {
	CN_MISS_NONE = 0,     /* it was a hit */
	CN_MISS_FIRST = 1,    /* never seen (or its trace is gone) */
	CN_MISS_EXPIRED = 2,  /* was cached, TTL ran out */
	CN_MISS_EVICTED = 3,  /* was cached, evicted while still valid */
} cn_cache_miss_t;

typedef enum cn_cache_policy {
	CN_EVICT_S3FIFO = 0,
	CN_EVICT_SIEVE = 1,
	CN_EVICT_LRU = 2,
} cn_cache_policy_t;

/** Configuration. A zeroed field means its default (so max_ttl_s = 0 is "86400", not
 *  "cache nothing"); see cache/README.md. */
typedef struct cn_cache_conf {
	size_t budget_bytes;      /* everything the cache holds; minimum 64 KiB */
	unsigned shards;          /* power of two; 0 = default (16, halved until each shard
				     has >= 256 KiB); explicit counts need >= 16 KiB each */
	cn_cache_policy_t policy; /* default S3-FIFO */
	uint32_t min_ttl_s;       /* clamp, default 0 */
	uint32_t max_ttl_s;       /* clamp, default 86400 */
	uint32_t neg_max_ttl_s;   /* clamp for NODATA/NXDOMAIN, default 3600 */
	uint32_t stale_window_s;  /* how long past expiry an entry is kept for serve-stale
				     (RFC 8767); 0 = none. Expired entries inside the window
				     still count against the budget and are evicted first. */
	uint8_t hash_key[16];     /* secret hash key chosen by the caller at start */
	uint8_t shadow_shift;     /* hit-rate predictor: sample 2^-shift of the keys (1..16);
				     0 = default (the densest sample whose shadow fits in 1/32
				     of the budget), CN_CACHE_SHADOW_OFF = no predictor */
} cn_cache_conf_t;

#define CN_CACHE_SHADOW_OFF 255
#define CN_CACHE_SHADOW_MAX_SHIFT 16

/** Returned by cn_cache_load*() for a malformed dump; the same value as CN_EMALF in
 *  resolver/errors.h (cache/ cannot include resolver/). */
#define CN_CACHE_EMALF (-1000)

/** A lookup of a key in the predictor's sample, as the predictor saw it: what
 *  cn_cache_replay shows it again when the same answer is served without the cache. */
typedef struct cn_cache_sample {
	uint64_t hash;
	uint32_t charge, ttl_orig_s;
	bool hit;
} cn_cache_sample_t;

/** Result of a lookup. */
typedef struct cn_cache_entry {
	uint8_t kind;          /* cn_cache_kind_t */
	uint8_t rank;          /* cn_rank_t */
	bool stale;            /* expired, but inside the stale window (only with CN_LOOKUP_STALE) */
	uint32_t ttl_left_s;   /* remaining TTL, 0 when stale */
	uint32_t ttl_orig_s;   /* TTL as stored (after clamping) */
	uint64_t expire_s;     /* absolute wall-clock expiry */
	size_t data_len;       /* value length (also set on -ENOSPC) */
	cn_cache_miss_t miss;  /* reason, on -ENOENT */
	bool sampled;          /* the key is in the hit-rate predictor's sample: every lookup
				  of it must reach the predictor (cn_cache_replay) */
	cn_cache_sample_t sample; /* when sampled (and not a PEEK) */
} cn_cache_entry_t;

/* lookup flags */
#define CN_LOOKUP_STALE 0x1   /* return an expired entry that is inside the stale window */
#define CN_LOOKUP_PEEK 0x2    /* do not count in stats nor mark as used (control tool) */

/** Counters. lookups = hits + stale_hits + miss_first + miss_expired + miss_evicted
 *  (PEEK lookups and -ENOSPC are not counted); insertions counts every stored entry,
 *  replacements the subset that replaced one; evictions are live entries removed for room,
 *  expirations expired ones removed (when met, or chosen for room). */
#define CN_CACHE_STATS_MAP(X)                                                           \
	X(entries, "cache.entries")      /* RRset and negative entries */               \
	X(bytes_used, "cache.bytes")     /* all but failure entries: keys, values, index */\
	X(budget_bytes, "cache.budget")  /* >= cache.bytes + cache.failure_bytes */      \
	X(failure_entries, "cache.failure_entries") /* kind CN_CACHE_FAILURE */          \
	X(failure_bytes, "cache.failure_bytes")     /* their charge */                   \
	CN_CACHE_COUNTERS_MAP(X)

/* The per-shard counters (summed by cn_cache_stats). */
#define CN_CACHE_COUNTERS_MAP(X)                                                        \
	X(lookups, "cache.lookups")                                                      \
	X(hits, "cache.hits")                                                            \
	X(stale_hits, "cache.stale_hits")                                                \
	X(miss_first, "cache.miss_first")                                                \
	X(miss_expired, "cache.miss_expired")                                            \
	X(miss_evicted, "cache.miss_evicted")                                            \
	X(insertions, "cache.insertions")                                                \
	X(replacements, "cache.replacements")                                            \
	X(rank_refused, "cache.rank_refused")                                            \
	X(evictions, "cache.evictions")                                                  \
	X(expirations, "cache.expirations")                                              \
	X(too_big, "cache.too_big") /* refused: one entry would exceed the per-entry cap */

/* The rows are X(field, name): the field here and the name `cairnctl stats` prints. */
typedef struct cn_cache_stats {
#define CN_X(field, name) uint64_t field;
	CN_CACHE_STATS_MAP(CN_X)
#undef CN_X
} cn_cache_stats_t;

/** Sizes the predictor reports, as multiples of the budget: 1/4, 1/2, 1, 2, 4. */
#define CN_CACHE_PREDICT_N 5
extern const double cn_cache_predict_scale[CN_CACHE_PREDICT_N];

/**
 * Predicted cache hit rate, (hits + stale_hits) / lookups, had the budget been scale[i] x
 * what it is, under the same policy, TTL clamps and key stream (cache/README.md,
 * "Prediction"). hit_rate[2] is the real cache's own rate. Cumulative since creation or
 * the last full flush. All zero (sample_shift 0) when the predictor is off.
 */
typedef struct cn_cache_predict {
	unsigned sample_shift;         /* keys sampled: 2^-shift */
	uint64_t shadow_bytes;         /* its memory, counted inside the budget */
	uint64_t sampled_lookups;      /* lookups of sampled keys */
	uint64_t sampled_hits[CN_CACHE_PREDICT_N];   /* the miniature caches' own hits */
	double sampled_hit_rate[CN_CACHE_PREDICT_N]; /* ... over sampled_lookups */
	double hit_rate[CN_CACHE_PREDICT_N];         /* predicted */
} cn_cache_predict_t;

/** Fill *out (zeroed when there is no predictor). */
void cn_cache_predict(cn_cache_t *cache, cn_cache_predict_t *out);

/** Create a cache. conf is copied. Returns 0 or -EINVAL / -ENOMEM. */
int cn_cache_new(const cn_cache_conf_t *conf, cn_cache_t **out);
/** Free a cache and everything in it. NULL is fine. */
void cn_cache_free(cn_cache_t *cache);

/**
 * Look up (name, type, rclass) at now_s. On a hit copies the value into buf (cap bytes)
 * and fills *out. Returns 0 on a hit, -ENOENT on a miss (out->miss tells why), -ENOSPC when
 * cap < out->data_len (nothing copied; counted as neither hit nor miss), -EINVAL on bad
 * arguments (NULLs, name_len 0 or > 255, buf NULL with cap > 0).
 */
int cn_cache_lookup(cn_cache_t *cache, const uint8_t *name, size_t name_len, uint16_t type,
		    uint16_t rclass, uint64_t now_s, unsigned flags, cn_cache_entry_t *out,
		    uint8_t *buf, size_t cap);

/**
 * Store a value for (name, type, rclass), copying data. ttl_s is clamped to the configured
 * bounds (negative kinds to neg_max_ttl_s). Returns 0 when stored, -EEXIST when a live
 * entry of higher rank was kept, -E2BIG when the entry alone exceeds 1/8 of a shard's
 * budget, -ENOMEM, -EINVAL (not a well-formed uncompressed wire name, unknown kind or rank,
 * NXDOMAIN not at type 0 or another kind at type 0). Eviction makes room first, so the
 * budget always holds.
 */
int cn_cache_insert(cn_cache_t *cache, const uint8_t *name, size_t name_len, uint16_t type,
		    uint16_t rclass, cn_cache_kind_t kind, cn_rank_t rank, uint32_t ttl_s,
		    uint64_t now_s, const void *data, size_t data_len);

/** Remove one entry (and its history: a later miss reads FIRST). 0, -ENOENT or -EINVAL. */
int cn_cache_remove(cn_cache_t *cache, const uint8_t *name, size_t name_len, uint16_t type,
		    uint16_t rclass);

/** Remove every entry whose owner is name (subtree: or lies below it). Returns the count. */
size_t cn_cache_flush_name(cn_cache_t *cache, const uint8_t *name, size_t name_len,
			   bool subtree);
/** Remove everything. */
void cn_cache_flush(cn_cache_t *cache);

/** Visit every entry (live or not). The callback must not call back into the cache.
 *  Returns the number visited. Locks one shard at a time. */
typedef void (*cn_cache_walk_cb)(void *ctx, const uint8_t *name, size_t name_len,
				 uint16_t type, uint16_t rclass, const cn_cache_entry_t *entry,
				 const uint8_t *data);
size_t cn_cache_walk(cn_cache_t *cache, uint64_t now_s, cn_cache_walk_cb cb, void *ctx);

/** Snapshot of the counters (summed over shards, plus what cn_cache_credit added). */
void cn_cache_stats(cn_cache_t *cache, cn_cache_stats_t *out);

/**
 * Lookups a caller answered without the cache, from a reply it made earlier out of the
 * cache's entries (the engine's ready-to-send answers, resolver/hot.c): counted as the
 * lookups that reply took, so cache.lookups, .hits and the misses stay what clients asked.
 * A sampled key's lookup must also be shown to the predictor (cn_cache_replay). Atomic:
 * any thread.
 */
typedef struct cn_cache_credit {
	uint64_t lookups, hits, miss_first, miss_expired, miss_evicted;
} cn_cache_credit_t;
void cn_cache_credit(cn_cache_t *cache, const cn_cache_credit_t *credit);
/** Show the predictor a sampled key's lookup again (a reply made from it served at now_s
 *  without the cache), as cn_cache_lookup showed it. */
void cn_cache_replay(cn_cache_t *cache, const cn_cache_sample_t *sample, uint64_t now_s);

/**
 * A counter that moves (release) after every change made on purpose rather than by time
 * or room: remove, flush, flush_name and load. A reply made from the cache after reading
 * epoch E (acquire) is only as good as the cache while the epoch is still E.
 */
uint64_t cn_cache_epoch(const cn_cache_t *cache);

/**
 * Write every live (or stale-window) entry to path with absolute expiry times, atomically
 * (temp file + rename). Returns the number written (>= 0) or a negative errno.
 */
long cn_cache_dump(cn_cache_t *cache, const char *path, uint64_t now_s);
/**
 * Load a dump. Entries already expired past the stale window are skipped; each record is
 * checked (lengths, kinds, ranks) and a malformed file stops the load with CN_CACHE_EMALF
 * (== CN_EMALF) after
 * keeping what was valid before it. Returns the number loaded or a negative error.
 */
long cn_cache_load(cn_cache_t *cache, const char *path, uint64_t now_s);
/** Same as cn_cache_load on a memory buffer (used by the fuzz target). */
long cn_cache_load_buf(cn_cache_t *cache, const uint8_t *buf, size_t len, uint64_t now_s);

/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012) of len bytes with a 16-byte secret key: the
 * keyed hash the cache uses, offered to other modules that index attacker-chosen names
 * (net's in-flight table) so there is one implementation.
 */
uint64_t cn_siphash24(const uint8_t key[16], const uint8_t *in, size_t len);

/**
 * One octet of a DNS name, ASCII-lowercased (RFC 4343 2: names compare case-insensitively
 * for A-Z only; other octets are kept). The one case-folding rule of cairn: cache keys,
 * the resolver's name comparisons and net's question matching all use it. Here because
 * cache/ depends on nothing and the resolver and net depend on cache/.
 */
static inline uint8_t cn_ascii_lower(uint8_t c)
{
	return (uint8_t)(c - 'A') < 26 ? (uint8_t)(c | 0x20) : c;
}
