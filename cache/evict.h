/*
 * Eviction policy interface. A policy keeps its own order of a shard's entries (in the
 * shard's queues and the entry's queue/freq fields) and answers one question: which entry
 * goes next. The shard code does the rest (unlinking from the table, history, accounting,
 * counters). Every call runs under the shard lock.
 *
 * Policies: S3-FIFO (default), SIEVE, LRU (the baseline). Any expired entry a policy meets
 * while scanning is returned at once: expired entries are the cheapest victims.
 */
#pragma once

#include "cache/internal.h"

/** What on_insert should know about the new entry. */
typedef struct cn__evict_hint {
	bool ghost;     /* the key's hash is in the ghost set (S3-FIFO: go straight to main) */
	bool replaced;  /* it replaces an entry of the same key; queue/freq are the old one's */
	uint8_t queue;
	uint8_t freq;
} cn__evict_hint_t;

typedef struct cn__evict_ops {
	const char *name;
	/** Link a new entry (its charge already set) into the policy's order. */
	void (*on_insert)(cn__shard_t *sh, cn__entry_t *e, const cn__evict_hint_t *hint);
	/** A lookup hit e (not called for CN_LOOKUP_PEEK). */
	void (*on_hit)(cn__shard_t *sh, cn__entry_t *e);
	/** Unlink e from the policy's order; it is about to be freed. */
	void (*on_remove)(cn__shard_t *sh, cn__entry_t *e);
	/** Choose the next victim, still linked, or NULL when the shard is empty. Sets *ghost
	 *  when the key should be remembered as a ghost (evicted from S3-FIFO's small queue). */
	cn__entry_t *(*pick_victim)(cn__shard_t *sh, uint64_t now_s, bool *ghost);
} cn__evict_ops_t;

extern const cn__evict_ops_t cn__evict_s3fifo;
extern const cn__evict_ops_t cn__evict_sieve;
extern const cn__evict_ops_t cn__evict_lru;

const cn__evict_ops_t *cn__evict_get(cn_cache_policy_t policy);
