/*
 * Eviction policies behind cache/evict.h, all sized in bytes (entry charges):
 *
 * - S3-FIFO (Yang et al., SOSP 2023), the default. New entries enter the small FIFO S; the
 *   main FIFO M holds entries that were hit while in S (or whose key is a ghost). When room
 *   is needed and S holds at least its target (10% of the shard's bytes), S's tail leaves:
 *   hit at least once -> moved to M, otherwise evicted and its hash kept as a ghost. Else
 *   M's tail leaves unless its 2-bit counter is non-zero, in which case it is decremented
 *   and the entry reinserted at M's head. A flood of one-hit names thus cycles through S
 *   and never touches M (docs/hitrate.md 4).
 * - SIEVE (Zhang et al., NSDI 2024): one FIFO, a visited bit, a hand moving from the tail
 *   towards the head; visited entries keep their place and lose the bit, the first
 *   unvisited one is evicted.
 * - LRU: the baseline; a hit moves the entry to the head, the tail is evicted.
 *
 * A hit only touches a counter/bit in S3-FIFO and SIEVE; LRU writes the list on each hit.
 * An expired entry met by a scan is returned at once (cheapest victim, docs/hitrate.md 4).
 */
#include "cache/evict.h"

void cn__queue_push(cn__queue_t *q, cn__entry_t *e)
{
	e->older = q->head;
	e->newer = NULL;
	if (q->head)
		q->head->newer = e;
	else
		q->tail = e;
	q->head = e;
	q->bytes += e->charge;
	q->count++;
}

void cn__queue_unlink(cn__queue_t *q, cn__entry_t *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		q->head = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		q->tail = e->newer;
	e->newer = e->older = NULL;
	q->bytes -= e->charge;
	q->count--;
}

/* ---- S3-FIFO ---- */

#define S3_FREQ_MAX 3 /* 2-bit counter */

static void s3_insert(cn__shard_t *sh, cn__entry_t *e, const cn__evict_hint_t *hint)
{
	if (hint->replaced) {
		e->queue = hint->queue;
		e->freq = hint->freq;
	} else {
		e->queue = hint->ghost ? CN__Q_MAIN : CN__Q_SMALL;
		e->freq = 0;
	}
	cn__queue_push(&sh->q[e->queue], e);
}

static void s3_hit(cn__shard_t *sh, cn__entry_t *e)
{
	if (e->freq < S3_FREQ_MAX)
		e->freq++;
}

static void s3_remove(cn__shard_t *sh, cn__entry_t *e)
{
	cn__queue_unlink(&sh->q[e->queue], e);
}

static cn__entry_t *s3_pick(cn__shard_t *sh, uint64_t now_s, bool *ghost)
{
	cn__queue_t *s = &sh->q[CN__Q_SMALL], *m = &sh->q[CN__Q_MAIN];
	/* Terminates: each turn moves an entry from S to M or lowers a counter in M. */
	for (;;) {
		if (s->tail && (s->bytes >= sh->small_target || !m->tail)) {
			cn__entry_t *e = s->tail;
			if (cn__entry_expired(e, now_s))
				return e;
			if (e->freq == 0) {
				*ghost = true;
				return e;
			}
			cn__queue_unlink(s, e);
			e->queue = CN__Q_MAIN;
			e->freq = 0;
			cn__queue_push(m, e);
			continue;
		}
		cn__entry_t *e = m->tail;
		if (!e)
			return NULL;
		if (cn__entry_expired(e, now_s) || e->freq == 0)
			return e;
		e->freq--;
		cn__queue_unlink(m, e);
		cn__queue_push(m, e);
	}
}

const cn__evict_ops_t cn__evict_s3fifo = {
	.name = "s3fifo",
	.on_insert = s3_insert,
	.on_hit = s3_hit,
	.on_remove = s3_remove,
	.pick_victim = s3_pick,
};

/* ---- SIEVE ---- */

static void sieve_insert(cn__shard_t *sh, cn__entry_t *e, const cn__evict_hint_t *hint)
{
	e->queue = 0;
	e->freq = hint->replaced ? hint->freq : 0;
	cn__queue_push(&sh->q[0], e);
}

static void sieve_hit(cn__shard_t *sh, cn__entry_t *e)
{
	e->freq = 1;
}

static void sieve_remove(cn__shard_t *sh, cn__entry_t *e)
{
	if (sh->hand == e)
		sh->hand = e->newer;
	cn__queue_unlink(&sh->q[0], e);
}

static cn__entry_t *sieve_pick(cn__shard_t *sh, uint64_t now_s, bool *ghost)
{
	cn__queue_t *q = &sh->q[0];
	if (!q->tail)
		return NULL;
	cn__entry_t *e = sh->hand ? sh->hand : q->tail;
	/* Terminates: every visited entry passed loses its bit, so the second lap stops. */
	for (;;) {
		if (e->freq == 0 || cn__entry_expired(e, now_s)) {
			sh->hand = e->newer;
			return e;
		}
		e->freq = 0;
		e = e->newer ? e->newer : q->tail;
	}
}

const cn__evict_ops_t cn__evict_sieve = {
	.name = "sieve",
	.on_insert = sieve_insert,
	.on_hit = sieve_hit,
	.on_remove = sieve_remove,
	.pick_victim = sieve_pick,
};

/* ---- LRU ---- */

static void lru_insert(cn__shard_t *sh, cn__entry_t *e, const cn__evict_hint_t *hint)
{
	e->queue = 0;
	e->freq = 0;
	cn__queue_push(&sh->q[0], e);
}

static void lru_hit(cn__shard_t *sh, cn__entry_t *e)
{
	if (sh->q[0].head == e)
		return;
	cn__queue_unlink(&sh->q[0], e);
	cn__queue_push(&sh->q[0], e);
}

static void lru_remove(cn__shard_t *sh, cn__entry_t *e)
{
	cn__queue_unlink(&sh->q[0], e);
}

static cn__entry_t *lru_pick(cn__shard_t *sh, uint64_t now_s, bool *ghost)
{
	return sh->q[0].tail;
}

const cn__evict_ops_t cn__evict_lru = {
	.name = "lru",
	.on_insert = lru_insert,
	.on_hit = lru_hit,
	.on_remove = lru_remove,
	.pick_victim = lru_pick,
};

const cn__evict_ops_t *cn__evict_get(cn_cache_policy_t policy)
{
	switch (policy) {
	case CN_EVICT_S3FIFO:
		return &cn__evict_s3fifo;
	case CN_EVICT_SIEVE:
		return &cn__evict_sieve;
	case CN_EVICT_LRU:
		return &cn__evict_lru;
	}
	return NULL;
}
