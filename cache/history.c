/*
 * History of recently removed keys, so a miss can say why after the entry is gone
 * (docs/hitrate.md 3: only EVICTED misses depend on the cache size) and so S3-FIFO has its
 * ghost set (keys evicted from the small queue without a hit).
 *
 * A record is the key's 64-bit hash with its low 2 bits replaced by the reason
 * (CN__HIST_*); 0 is an empty slot. Records live in buckets of CN__HIST_WAYS (one 64-byte
 * line); a bucket is kept newest-first, a new record shifts the others down and the oldest
 * falls off the end. So the history is bounded (its bytes are charged to the shard at
 * creation), costs O(1) per operation, and forgets roughly in FIFO order. A hash that loses
 * its record simply reads as "first seen".
 *
 * The table is allocated on the first record (a cache that never removes anything never
 * pays for it in memory) and freed by a full clear; with no table every key reads as
 * "first seen". Allocation failure just loses the record.
 */
#include <stdlib.h>
#include <string.h>

#include "cache/internal.h"

#define TAG_MASK (~(uint64_t)3)

static inline uint64_t tag_of(uint64_t hash)
{
	uint64_t t = hash & TAG_MASK;
	return t ? t : 4; /* keep 0 for empty slots */
}

static inline uint64_t *bucket_of(const cn__shard_t *sh, uint64_t hash)
{
	/* Bits 16.. pick the bucket: the shard index uses the top bits, which are constant
	 * inside one shard, and the low bits hold the reason. */
	return &sh->hist[((hash >> 16) & sh->hist_mask) * CN__HIST_WAYS];
}

size_t cn__hist_size(size_t shard_budget)
{
	size_t want = shard_budget / CN__HIST_DIVISOR;
	size_t line = CN__HIST_WAYS * sizeof(uint64_t);
	size_t n = 1;
	while (n * 2 * line <= want)
		n *= 2;
	return n; /* buckets */
}

static int find(const uint64_t *b, uint64_t tag)
{
	for (int i = 0; i < CN__HIST_WAYS; i++) {
		if (b[i] == 0)
			return -1; /* buckets are packed: the rest is empty */
		if ((b[i] & TAG_MASK) == tag)
			return i;
	}
	return -1;
}

static void del_at(uint64_t *b, int i)
{
	memmove(&b[i], &b[i + 1], (size_t)(CN__HIST_WAYS - 1 - i) * sizeof(*b));
	b[CN__HIST_WAYS - 1] = 0;
}

void cn__hist_put(cn__shard_t *sh, uint64_t hash, unsigned reason)
{
	if (!sh->hist) {
		/* charged at creation (cache.c shard_init): the estimate bounds the real size */
		sh->hist = calloc((sh->hist_mask + 1) * CN__HIST_WAYS, sizeof(uint64_t));
		if (!sh->hist)
			return;
	}
	uint64_t *b = bucket_of(sh, hash);
	uint64_t tag = tag_of(hash);
	int i = find(b, tag);
	if (i >= 0)
		del_at(b, i);
	memmove(&b[1], &b[0], (CN__HIST_WAYS - 1) * sizeof(*b));
	b[0] = tag | (reason & 3);
}

unsigned cn__hist_get(const cn__shard_t *sh, uint64_t hash)
{
	if (!sh->hist)
		return CN__HIST_NONE;
	const uint64_t *b = bucket_of(sh, hash);
	int i = find(b, tag_of(hash));
	return i < 0 ? CN__HIST_NONE : (unsigned)(b[i] & 3);
}

void cn__hist_del(cn__shard_t *sh, uint64_t hash)
{
	if (!sh->hist)
		return;
	uint64_t *b = bucket_of(sh, hash);
	int i = find(b, tag_of(hash));
	if (i >= 0)
		del_at(b, i);
}

void cn__hist_clear(cn__shard_t *sh)
{
	free(sh->hist);
	sh->hist = NULL;
}
