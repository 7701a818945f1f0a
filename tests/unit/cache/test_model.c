/*
 * Randomized model test (after Unbound's testcode/unitlruhash.c test_long_table): thousands
 * of random insert / lookup / remove / flush / advance-time operations on the cache, each
 * mirrored in a plain array of expected states, with a budget large enough that nothing is
 * evicted; after every operation the result is compared with the model, and every so often
 * a walk must list exactly the entries the model holds. Fixed seeds, so failures replay.
 * Then a multi-threaded smoke test: 4 threads hammering one small cache (run under ASan).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "tests/unit/cache/cache_test.h"
#include "tests/unit/unit.h"

#define NAMES 300
#define TYPES 3 /* slot 0 = NXDOMAIN (type 0), 1 = A (NODATA or RRSET), 2 = AAAA */
#define WINDOW 20
#define OPS 40000

static const uint16_t type_of[TYPES] = { 0, 1, 28 };

/* M_UNSURE: a flush met a dead entry that may already have been reclaimed (leaving an
 * "expired" trace, which a flush by name does not erase) or not (no trace). */
typedef enum { M_NONE, M_PRESENT, M_GONE_EXPIRED, M_UNSURE } mstate_t;

typedef struct mkey {
	mstate_t st;
	uint64_t expire_s;
	uint32_t ttl;
	uint8_t rank, kind;
	uint8_t data[64];
	size_t len;
} mkey_t;

static mkey_t model[NAMES][TYPES];

static size_t mname(int i, uint8_t *n, bool upper)
{
	char d[32];
	snprintf(d, sizeof(d), upper ? "K%03d.Model.TEST" : "k%03d.model.test", i);
	return wire(d, n);
}

static bool dead(const mkey_t *k, uint64_t now)
{
	return now >= k->expire_s && now - k->expire_s >= WINDOW;
}

static void op_insert(cn_cache_t *c, uint64_t *seed, uint64_t now)
{
	int i = (int)(rnd(seed) % NAMES), t = (int)(rnd(seed) % TYPES);
	mkey_t *k = &model[i][t];
	uint8_t n[256], data[64];
	size_t nl = mname(i, n, rnd(seed) & 1);
	uint8_t kind = t == 0 ? CN_CACHE_NXDOMAIN : (rnd(seed) % 4 == 0 ? CN_CACHE_NODATA : 0);
	uint8_t rank = (uint8_t)(1 + rnd(seed) % 5);
	uint32_t ttl = (uint32_t)(rnd(seed) % 100);
	size_t len = rnd(seed) % sizeof(data);
	for (size_t j = 0; j < len; j++)
		data[j] = (uint8_t)rnd(seed);
	int ret = cn_cache_insert(c, n, nl, type_of[t], 1, kind, rank, ttl, now, data, len);
	if (k->st == M_PRESENT && now < k->expire_s && rank < k->rank) {
		ck_assert_int_eq(ret, -EEXIST);
		return;
	}
	ck_assert_int_eq(ret, 0);
	*k = (mkey_t){ .st = M_PRESENT, .expire_s = now + ttl, .ttl = ttl, .rank = rank,
		       .kind = kind, .len = len };
	memcpy(k->data, data, len);
}

static void op_lookup(cn_cache_t *c, uint64_t *seed, uint64_t now)
{
	int i = (int)(rnd(seed) % NAMES), t = (int)(rnd(seed) % TYPES);
	mkey_t *k = &model[i][t];
	unsigned flags = rnd(seed) & 1 ? CN_LOOKUP_STALE : 0;
	uint8_t n[256], buf[64];
	size_t nl = mname(i, n, rnd(seed) & 1);
	cn_cache_entry_t e;
	int ret = cn_cache_lookup(c, n, nl, type_of[t], 1, now, flags, &e, buf, sizeof(buf));
	if (k->st == M_PRESENT && dead(k, now))
		k->st = M_GONE_EXPIRED; /* the cache reclaims it now if it had not yet */
	if (k->st == M_NONE) {
		ck_assert_int_eq(ret, -ENOENT);
		ck_assert_int_eq(e.miss, CN_MISS_FIRST);
		return;
	}
	if (k->st == M_UNSURE) {
		ck_assert_int_eq(ret, -ENOENT);
		ck_assert(e.miss == CN_MISS_FIRST || e.miss == CN_MISS_EXPIRED);
		return;
	}
	if (k->st == M_GONE_EXPIRED || (now >= k->expire_s && !(flags & CN_LOOKUP_STALE))) {
		ck_assert_int_eq(ret, -ENOENT);
		ck_assert_int_eq(e.miss, CN_MISS_EXPIRED);
		return;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_eq(e.stale, now >= k->expire_s);
	ck_assert_uint_eq(e.ttl_left_s, e.stale ? 0 : k->expire_s - now);
	ck_assert_uint_eq(e.ttl_orig_s, k->ttl);
	ck_assert_uint_eq(e.expire_s, k->expire_s);
	ck_assert_uint_eq(e.rank, k->rank);
	ck_assert_uint_eq(e.kind, k->kind);
	ck_assert_uint_eq(e.data_len, k->len);
	if (k->len)
		ck_assert_mem_eq(buf, k->data, k->len);
}

static void op_remove(cn_cache_t *c, uint64_t *seed, uint64_t now)
{
	int i = (int)(rnd(seed) % NAMES), t = (int)(rnd(seed) % TYPES);
	mkey_t *k = &model[i][t];
	uint8_t n[256];
	size_t nl = mname(i, n, rnd(seed) & 1);
	int ret = cn_cache_remove(c, n, nl, type_of[t], 1);
	if (k->st == M_PRESENT && !dead(k, now))
		ck_assert_int_eq(ret, 0);
	else if (k->st != M_PRESENT)
		ck_assert_int_eq(ret, -ENOENT);
	/* a dead entry may or may not have been reclaimed already: either answer */
	k->st = M_NONE;
}

static void op_flush_name(cn_cache_t *c, uint64_t *seed, uint64_t now)
{
	int i = (int)(rnd(seed) % NAMES);
	uint8_t n[256];
	size_t nl = mname(i, n, rnd(seed) & 1);
	size_t lo = 0, hi = 0;
	for (int t = 0; t < TYPES; t++) {
		mkey_t *k = &model[i][t];
		if (k->st == M_PRESENT) {
			hi++;
			lo += !dead(k, now);
			k->st = dead(k, now) ? M_UNSURE : M_NONE;
		}
		/* a trace of an entry already gone stays: the flush did not meet it */
	}
	size_t got = cn_cache_flush_name(c, n, nl, false);
	ck_assert_uint_ge(got, lo);
	ck_assert_uint_le(got, hi);
}

typedef struct check_ctx {
	uint64_t now;
	size_t n;
} check_ctx_t;

static void check_cb(void *ctx, const uint8_t *name, size_t name_len, uint16_t type,
		     uint16_t rclass, const cn_cache_entry_t *entry, const uint8_t *data)
{
	check_ctx_t *cc = ctx;
	int i = (name[2] - '0') * 100 + (name[3] - '0') * 10 + (name[4] - '0');
	int t = type == 0 ? 0 : type == 1 ? 1 : 2;
	ck_assert_int_lt(i, NAMES);
	ck_assert_uint_eq(type, type_of[t]);
	ck_assert_uint_eq(name[1], 'k'); /* lowercased */
	mkey_t *k = &model[i][t];
	ck_assert_uint_eq(k->st, M_PRESENT); /* dead ones may linger, but only as PRESENT */
	ck_assert_uint_eq(entry->expire_s, k->expire_s);
	ck_assert_uint_eq(entry->data_len, k->len);
	if (k->len)
		ck_assert_mem_eq(data, k->data, k->len);
	cc->n++;
}

static void check_all(cn_cache_t *c, uint64_t now)
{
	check_budget(c);
	check_ctx_t cc = { .now = now };
	size_t walked = cn_cache_walk(c, now, check_cb, &cc);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(walked, st.entries);
	size_t want = 0, live = 0;
	for (int i = 0; i < NAMES; i++)
		for (int t = 0; t < TYPES; t++) {
			want += model[i][t].st == M_PRESENT;
			live += model[i][t].st == M_PRESENT && !dead(&model[i][t], now);
		}
	/* every model entry not yet dead is in the cache; dead ones may be reclaimed */
	ck_assert_uint_le(cc.n, want);
	ck_assert_uint_ge(cc.n, live);
	ck_assert_uint_eq(st.lookups, st.hits + st.stale_hits + st.miss_first + st.miss_expired +
					      st.miss_evicted);
	ck_assert_uint_eq(st.evictions, 0);
}

static void model_run(cn_cache_policy_t policy, uint64_t seed)
{
	memset(model, 0, sizeof(model));
	cn_cache_t *c = make_cache(8 << 20, policy, 4, WINDOW);
	uint64_t now = 1000000;
	for (int op = 0; op < OPS; op++) {
		uint64_t r = rnd(&seed) % 100;
		if (r < 40)
			op_insert(c, &seed, now);
		else if (r < 85)
			op_lookup(c, &seed, now);
		else if (r < 92)
			op_remove(c, &seed, now);
		else if (r < 93)
			op_flush_name(c, &seed, now);
		else
			now += rnd(&seed) % 15;
		if (op % 97 == 0)
			check_all(c, now);
	}
	check_all(c, now);
	cn_cache_free(c);
}

START_TEST(test_model_s3fifo)
{
	model_run(CN_EVICT_S3FIFO, 0xcafe0001);
}
END_TEST

START_TEST(test_model_sieve)
{
	model_run(CN_EVICT_SIEVE, 0xcafe0002);
}
END_TEST

START_TEST(test_model_lru)
{
	model_run(CN_EVICT_LRU, 0xcafe0003);
}
END_TEST

/* ---- threads ---- */

typedef struct worker {
	cn_cache_t *c;
	uint64_t seed;
	long hits;
} worker_t;

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	uint64_t now = 5000;
	uint8_t n[256], buf[512], v[300];
	memset(v, 0x5a, sizeof(v));
	for (int op = 0; op < 100000; op++) {
		uint64_t r = rnd(&w->seed);
		char d[48];
		snprintf(d, sizeof(d), "n%u.shared.example", (unsigned)(r % 5000));
		size_t nl = wire(d, n);
		uint16_t type = (r >> 16) & 1 ? 1 : 28;
		cn_cache_entry_t e;
		switch ((r >> 20) % 16) {
		case 0 ... 5:
			cn_cache_insert(w->c, n, nl, type, 1, CN_CACHE_RRSET,
					(cn_rank_t)(1 + (r >> 30) % 5), (uint32_t)(r >> 40) % 60,
					now, v, (r >> 50) % sizeof(v));
			break;
		case 6 ... 13:
			if (cn_cache_lookup(w->c, n, nl, type, 1, now, (r >> 24) & 1, &e, buf,
					    sizeof(buf)) == 0)
				w->hits++;
			break;
		case 14:
			cn_cache_remove(w->c, n, nl, type, 1);
			break;
		default:
			if ((r >> 32) % 64 == 0) {
				cn_cache_stats_t st;
				cn_cache_stats(w->c, &st);
				ck_assert_uint_le(st.bytes_used, st.budget_bytes);
			} else if ((r >> 32) % 64 == 1) {
				cn_cache_walk(w->c, now, NULL, NULL);
			} else if ((r >> 32) % 64 == 2) {
				nl = wire("shared.example", n);
				cn_cache_flush_name(w->c, n, nl, true);
			}
			now++;
		}
	}
	return NULL;
}

START_TEST(test_threads)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 10);
	worker_t w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (worker_t){ .c = c, .seed = 0xabc0 + (uint64_t)i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	long hits = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		hits += w[i].hits;
	}
	check_budget(c);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	ck_assert_uint_eq(cn_cache_walk(c, 0, NULL, NULL), st.entries);
	ck_assert_uint_eq(st.hits + st.stale_hits, (uint64_t)hits);
	ck_assert_uint_gt(hits, 0);
	ck_assert_uint_eq(st.lookups, st.hits + st.stale_hits + st.miss_first + st.miss_expired +
					      st.miss_evicted);
	cn_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_model");
	TCase *tc = tcase_create("model");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_model_s3fifo);
	tcase_add_test(tc, test_model_sieve);
	tcase_add_test(tc, test_model_lru);
	suite_add_tcase(s, tc);
	TCase *tt = tcase_create("threads");
	tcase_set_timeout(tt, 120);
	tcase_add_test(tt, test_threads);
	suite_add_tcase(s, tt);
	return cn_test_run(s);
}
