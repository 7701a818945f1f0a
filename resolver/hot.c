/*
 * Ready-to-send answers: a table per worker (net owns one per UDP listener's worker and
 * passes it in cn_client_t.hot) of the replies the engine made from the cache, keyed by
 * the query's bytes after its ID (flags, question in the client's case, OPT), so that the
 * same query asked again in the same wall-clock second or the next is answered by copying the reply, with the
 * client's ID and the TTLs counted down, without parsing, cache lookups or writing.
 *
 * A reply is stored only when nothing but those bytes, the cache and the engine's
 * settings decide it: an answer from the shared cache (not a hosted zone, not stale, not
 * synthesised from NSEC ranges), over UDP, with no private zone configured (whose answers
 * depend on the client's address), and outside the prefetch window. It is served while
 * the wall clock (whole seconds) is at most CN_HOT_LIFE_S past the second it was made in
 * (so for less than 2 s), never past the point where a TTL would reach 0 or the prefetch
 * window begin, and only while the epoch read before it was made still holds: the
 * engine's (reconfigure, zones, forwards, views) plus the cache's (remove, flush, load).
 * An insert replacing a live entry moves no epoch (it would empty every table at each
 * resolution): a copy may show the replaced RRset for those < 2 s, inside its TTL, which
 * DNS allows. The bound also keeps the cache's eviction policy seeing a hot entry's use
 * at least every 2 s per worker: enough for S3-FIFO and SIEVE (a frequency counter, a
 * visited bit), while LRU with a cache that turns over within 2 s may evict a hot entry
 * (tests/unit/resolver/test_hot.c compares the counters with the table off).
 *
 * The cache's counters stay what clients asked: each reply served counts the lookups the
 * engine made for it (hits, and the misses on the way: an NXDOMAIN answer first misses its
 * type), handed to the cache in bulk by cn_engine_hot_credit; and the hit-rate predictor
 * sees each lookup of a key of its sample again (cn_cache_replay), as it must see every
 * one of those (cache/shadow.c).
 *
 * Two-way sets indexed by a keyed hash (an attacker cannot aim at a set); a full set takes
 * a new reply only for a question seen twice in a row there. A reply (question and answer)
 * of more than CN_HOT_DATA bytes or CN_HOT_TTL_MAX records is not kept.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/internal.h"

#define CN_HOT_KEY_MAX 288   /* a query's bytes after the ID: header 10, name 255, 4, OPT 11 */
#define CN_HOT_DATA 400      /* key and reply together */
#define CN_HOT_TTL_MAX 16
#define CN_HOT_LIFE_S 1

typedef struct hot_slot {
	uint64_t epoch;
	uint64_t built_s;
	uint8_t life_s;       /* served while now_s - built_s <= life_s */
	uint8_t outcome, nttl, nsample;
	uint16_t key_len, reply_len; /* data: the key, then the reply */
	uint8_t looked[5];    /* lookups, hits, miss_first, miss_expired, miss_evicted */
	uint16_t ttl_off[CN_HOT_TTL_MAX];
	uint32_t ttl[CN_HOT_TTL_MAX];
	cn_cache_sample_t sample[CN_RESULT_SAMPLES];
	uint8_t data[CN_HOT_DATA];
} hot_slot_t;

/* Two ways per set. A full set admits a new reply only when its question was already the
 * set's candidate (missed here before), and then only in place of a way not served since
 * the candidate was chosen: a question asked once does not push out the ones asked again
 * and again, and three questions asked as often as each other leave two of them in place
 * instead of taking turns. A set's tag (its ways' hashes) takes half a cache line, so a
 * question not in the table costs one line read. */
typedef struct hot_tag {
	uint64_t hash[2];     /* the ways' questions; 0: empty */
	uint64_t candidate;
	bool used[2];         /* served since the candidate last changed */
} hot_tag_t;

struct cn_hot {
	size_t mask;          /* sets - 1 */
	uint64_t seed[2];
	uint64_t hash;        /* of the last query cn__hot_answer did not answer */
	uint64_t pending[5];  /* served, not yet credited to the cache (cn_cache_credit_t) */
	uint64_t served, stored;
	hot_tag_t *tags;      /* mask + 1 */
	hot_slot_t *slots;    /* 2 x (mask + 1): set i's ways are 2i and 2i + 1 */
};

static size_t sets_for(size_t entries)
{
	size_t n = 1;
	while (2 * n < entries && n < (1u << 19))
		n <<= 1;
	return n;
}

int cn_engine_hot_new(const cn_engine_t *e, size_t entries, cn_hot_t **out)
{
	*out = NULL;
	if (entries == 0)
		return 0;
	size_t n = sets_for(entries);
	cn_hot_t *h = calloc(1, sizeof(*h));
	if (h) {
		h->tags = calloc(n, sizeof(hot_tag_t));
		h->slots = calloc(2 * n, sizeof(hot_slot_t));
	}
	if (!h || !h->tags || !h->slots) {
		cn_hot_free(h);
		return -ENOMEM;
	}
	h->mask = n - 1;
	e->conf.random(h->seed, sizeof(h->seed));
	*out = h;
	return 0;
}

void cn_hot_free(cn_hot_t *h)
{
	if (h) {
		free(h->tags);
		free(h->slots);
	}
	free(h);
}

void cn_hot_counts(const cn_hot_t *h, uint64_t *served, uint64_t *stored)
{
	*served = h ? h->served : 0;
	*stored = h ? h->stored : 0;
}

size_t cn_hot_bytes(size_t entries)
{
	return entries ? sets_for(entries) * (sizeof(hot_tag_t) + 2 * sizeof(hot_slot_t)) : 0;
}

static inline uint64_t mum(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* A keyed multiply-fold hash (wyhash's mixing step), a word at a time; never 0 (its low
 * bit is always set: sets are picked by its high bits). */
static uint64_t hot_hash(const cn_hot_t *h, const uint8_t *p, size_t n)
{
	uint64_t x = h->seed[0] ^ n, k = h->seed[1] | 1;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		x = mum(x ^ w, k ^ 0x9E3779B97F4A7C15ull);
	}
	uint64_t w = 0;
	memcpy(&w, p, n);
	x = mum(x ^ w, k ^ 0xD6E8FEB86659FD93ull);
	return x | 1;
}

uint64_t cn__hot_epoch(const cn_engine_t *e)
{
	return atomic_load_explicit(&e->epoch, memory_order_acquire) + cn_cache_epoch(e->cache);
}

static bool usable(const hot_slot_t *s, uint64_t epoch, uint64_t now_s)
{
	return s->epoch == epoch && now_s >= s->built_s && now_s - s->built_s <= s->life_s;
}

size_t cn__hot_answer(cn_hot_t *h, cn_engine_t *e, uint64_t epoch, const uint8_t *pkt,
		      size_t len, uint64_t now_s, uint8_t *out, size_t cap, cn_outcome_t *outcome)
{
	h->hash = 0;
	if (len < CN_HEADER_LEN || len - 2 > CN_HOT_KEY_MAX)
		return 0;
	uint64_t hash = hot_hash(h, pkt + 2, len - 2);
	h->hash = hash;
	size_t set = (hash >> 40) & h->mask;
	hot_tag_t *t = &h->tags[set];
	unsigned way = t->hash[0] == hash ? 0 : t->hash[1] == hash ? 1 : 2;
	if (way == 2)
		return 0;
	hot_slot_t *s = &h->slots[2 * set + way];
	if (s->key_len != len - 2 || !usable(s, epoch, now_s) || s->reply_len > cap ||
	    memcmp(s->data, pkt + 2, len - 2) != 0)
		return 0;
	memcpy(out, s->data + s->key_len, s->reply_len);
	memcpy(out, pkt, 2); /* the client's ID */
	uint32_t age = (uint32_t)(now_s - s->built_s);
	if (age)
		for (unsigned i = 0; i < s->nttl; i++)
			cn_wire_put32(out + s->ttl_off[i], s->ttl[i] - age);
	for (unsigned i = 0; i < 5; i++)
		h->pending[i] += s->looked[i];
	for (unsigned i = 0; i < s->nsample; i++)
		cn_cache_replay(e->cache, &s->sample[i], now_s);
	t->used[way] = true;
	h->served++;
	*outcome = (cn_outcome_t)s->outcome;
	return s->reply_len;
}

/* The way of set a new reply for hash goes to (0, 1), or -1 (not admitted yet). */
static int way_for(cn_hot_t *h, size_t set, uint64_t hash, uint64_t epoch, uint64_t now_s)
{
	hot_tag_t *t = &h->tags[set];
	const hot_slot_t *s = &h->slots[2 * set];
	for (int i = 0; i < 2; i++)
		if (t->hash[i] == hash || !t->hash[i] || !usable(&s[i], epoch, now_s))
			return i;
	int w = -1;
	if (t->candidate == hash)
		for (int i = 0; i < 2; i++)
			if (!t->used[i] && (w < 0 || s[i].built_s < s[w].built_s))
				w = i; /* not served since: the older of those */
	t->candidate = w >= 0 ? 0 : hash;
	t->used[0] = t->used[1] = false;
	return w;
}

void cn__hot_store(cn_hot_t *h, const cn_engine_t *e, uint64_t epoch, const uint8_t *pkt,
		   size_t len, const cn_result_t *res, uint32_t left, uint32_t orig,
		   uint64_t now_s, const uint8_t *reply, size_t rlen, cn_outcome_t outcome)
{
	uint64_t hash = h->hash; /* cn__hot_answer's, for this pkt */
	if (!hash || len - 2 + rlen > CN_HOT_DATA || rlen < CN_HEADER_LEN ||
	    res->nsample > CN_RESULT_SAMPLES || res->looked.lookups > 255 || left < 2)
		return;
	size_t set = (hash >> 40) & h->mask;
	int way = way_for(h, set, hash, epoch, now_s);
	if (way < 0)
		return;
	hot_slot_t *s = &h->slots[2 * set + (size_t)way];
	uint16_t off[CN_HOT_TTL_MAX];
	int n = cn_wire_ttl_offsets(reply, rlen, off, CN_HOT_TTL_MAX);
	if (n < 0)
		return;
	uint32_t least = left;
	for (int i = 0; i < n; i++) {
		uint32_t t = cn_wire_get32(reply + off[i]);
		if (t < least)
			least = t;
	}
	/* served while every TTL stays >= 1 and (prefetch) outside the last 10% of orig */
	int64_t life = (int64_t)least - 1;
	if (__atomic_load_n(&e->conf.prefetch, __ATOMIC_RELAXED) && orig >= 10 &&
	    (int64_t)left - (orig + 9) / 10 < life)
		life = (int64_t)left - (orig + 9) / 10;
	if (life > CN_HOT_LIFE_S)
		life = CN_HOT_LIFE_S;
	if (life < 0)
		return;
	h->tags[set].hash[way] = hash;
	h->tags[set].used[way] = false;
	s->epoch = epoch;
	s->built_s = now_s;
	s->life_s = (uint8_t)life;
	s->key_len = (uint16_t)(len - 2);
	s->reply_len = (uint16_t)rlen;
	memcpy(s->data, pkt + 2, len - 2);
	memcpy(s->data + s->key_len, reply, rlen);
	s->outcome = (uint8_t)outcome;
	s->nttl = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		s->ttl_off[i] = off[i];
		s->ttl[i] = cn_wire_get32(reply + off[i]);
	}
	const uint64_t looked[5] = { res->looked.lookups, res->looked.hits,
				     res->looked.miss_first, res->looked.miss_expired,
				     res->looked.miss_evicted };
	for (unsigned i = 0; i < 5; i++)
		s->looked[i] = (uint8_t)looked[i];
	s->nsample = (uint8_t)res->nsample;
	memcpy(s->sample, res->sample, sizeof(s->sample));
	h->stored++;
}

void cn_engine_hot_credit(cn_engine_t *e, cn_hot_t *h)
{
	if (!h || !h->pending[0])
		return;
	cn_cache_credit_t c = { .lookups = h->pending[0], .hits = h->pending[1],
				.miss_first = h->pending[2], .miss_expired = h->pending[3],
				.miss_evicted = h->pending[4] };
	cn_cache_credit(e->cache, &c);
	memset(h->pending, 0, sizeof(h->pending));
}
