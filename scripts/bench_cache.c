/*
 * bench_cache: lookups per second of cairn's cache alone (no sockets, no resolver), and the
 * bytes it accounts per entry. Fills the cache with N names (A-like values of 16-64 bytes),
 * draws L lookup keys in advance (Zipf or uniform over the N names, plus a share of names
 * never inserted), then times the lookups on one thread. Numbers go in notes, not tests
 * (DESIGN.md "Performance rules"); run it pinned: scripts/bench-cache does taskset -c 1.
 *
 * Usage: bench_cache [-n names] [-l lookups] [-u] [-a alpha] [-m miss%] [-b budget_MiB]
 *                    [-p s3fifo|sieve|lru] [-s shards]
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/** Resident set size in KiB, from /proc/self/status (0 if unavailable). */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

typedef struct name {
	uint8_t len;
	uint8_t wire[40];
} name_t;

static void make_name(uint32_t i, name_t *n)
{
	char label[24];
	int l = snprintf(label, sizeof(label), "host%u", i);
	size_t o = 0;
	n->wire[o++] = (uint8_t)l;
	memcpy(n->wire + o, label, (size_t)l);
	o += (size_t)l;
	static const char *zones[] = { "\7example\3com", "\4test\3org", "\5cairn\3net" };
	const char *z = zones[i % 3];
	size_t zl = strlen(z) + 1; /* + root */
	memcpy(n->wire + o, z, zl);
	o += zl;
	n->len = (uint8_t)o;
}

int main(int argc, char **argv)
{
	uint32_t names = 100000;
	uint64_t lookups = 10000000;
	bool zipf = true;
	double alpha = 0.9, miss_pct = 0;
	size_t budget_mib = 64;
	unsigned shards = 0;
	cn_cache_policy_t policy = CN_EVICT_S3FIFO;
	int opt;
	while ((opt = getopt(argc, argv, "n:l:ua:m:b:p:s:")) != -1) {
		switch (opt) {
		case 'n': names = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'l': lookups = strtoull(optarg, NULL, 10); break;
		case 'u': zipf = false; break;
		case 'a': alpha = strtod(optarg, NULL); break;
		case 'm': miss_pct = strtod(optarg, NULL); break;
		case 'b': budget_mib = strtoul(optarg, NULL, 10); break;
		case 's': shards = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'p':
			policy = !strcmp(optarg, "sieve") ? CN_EVICT_SIEVE
				 : !strcmp(optarg, "lru") ? CN_EVICT_LRU
							  : CN_EVICT_S3FIFO;
			break;
		default:
			fprintf(stderr, "usage: %s [-n names] [-l lookups] [-u] [-a alpha] "
					"[-m miss%%] [-b budget_MiB] [-p s3fifo|sieve|lru] [-s shards]\n",
				argv[0]);
			return 2;
		}
	}
	if (names == 0 || lookups == 0)
		return 2;
	uint32_t total = names + (uint32_t)(names * miss_pct / 100); /* extra: never inserted */
	name_t *n = malloc((size_t)total * sizeof(*n));
	if (!n)
		return 1;
	for (uint32_t i = 0; i < total; i++)
		make_name(i, &n[i]);
	long rss0 = rss_kib();
	cn_cache_conf_t conf = { .budget_bytes = budget_mib << 20, .policy = policy,
				 .shards = shards };
	for (int i = 0; i < 16; i++)
		conf.hash_key[i] = (uint8_t)rnd();
	cn_cache_t *c;
	int ret = cn_cache_new(&conf, &c);
	if (ret != 0) {
		fprintf(stderr, "cn_cache_new: %s\n", strerror(-ret));
		return 1;
	}
	cn_cache_stats_t st0;
	cn_cache_stats(c, &st0); /* the fixed part: tables, history, shard structs */
	uint8_t val[64];
	memset(val, 0x42, sizeof(val));
	uint64_t t0 = 1700000000;
	for (uint32_t i = 0; i < names; i++)
		cn_cache_insert(c, n[i].wire, n[i].len, 1, 1, CN_CACHE_RRSET, CN_RANK_AUTH_ANSWER,
				86400, t0, val, 16 + rnd() % 49);
	long rss1 = rss_kib();
	uint32_t *seq = malloc(lookups * sizeof(*seq));
	double *cdf = zipf ? malloc((size_t)total * sizeof(*cdf)) : NULL;
	if (!seq || (zipf && !cdf))
		return 1;
	/* Popularity rank r gets weight 1/r^alpha; names are shuffled relative to ranks by the
	 * hash, so hot names spread over the shards. Missing names take ranks too. */
	if (zipf) {
		double sum = 0;
		for (uint32_t r = 0; r < total; r++)
			cdf[r] = (sum += 1.0 / pow(r + 1.0, alpha));
		for (uint32_t r = 0; r < total; r++)
			cdf[r] /= sum;
	}
	uint32_t *perm = malloc((size_t)total * sizeof(*perm));
	for (uint32_t i = 0; i < total; i++)
		perm[i] = i;
	for (uint32_t i = total - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rnd() % (i + 1)), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint64_t k = 0; k < lookups; k++) {
		uint32_t r;
		if (zipf) {
			double u = (double)(rnd() >> 11) / (double)(1ULL << 53);
			uint32_t lo = 0, hi = total - 1;
			while (lo < hi) {
				uint32_t mid = lo + (hi - lo) / 2;
				if (cdf[mid] < u)
					lo = mid + 1;
				else
					hi = mid;
			}
			r = lo;
		} else {
			r = (uint32_t)(rnd() % total);
		}
		seq[k] = perm[r];
	}
	uint8_t buf[512];
	cn_cache_entry_t e;
	uint64_t hits = 0;
	double start = now_s();
	for (uint64_t k = 0; k < lookups; k++) {
		const name_t *q = &n[seq[k]];
		hits += cn_cache_lookup(c, q->wire, q->len, 1, 1, t0 + 1, 0, &e, buf,
					sizeof(buf)) == 0;
	}
	double secs = now_s() - start;
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	printf("policy=%s names=%u lookups=%llu dist=%s alpha=%.2f miss_names=%.0f%% shards=%u\n",
	       policy == CN_EVICT_SIEVE ? "sieve" : policy == CN_EVICT_LRU ? "lru" : "s3fifo",
	       names, (unsigned long long)lookups, zipf ? "zipf" : "uniform", alpha, miss_pct,
	       conf.shards);
	printf("lookups/s: %.0f  (%.1f ns/lookup, hit rate %.3f)\n", lookups / secs,
	       secs * 1e9 / lookups, (double)hits / lookups);
	double ent = st.entries ? (double)st.entries : 1.0;
	printf("entries: %llu  bytes_used: %llu of %llu (fixed at start: %llu)  evictions: %llu\n",
	       (unsigned long long)st.entries, (unsigned long long)st.bytes_used,
	       (unsigned long long)st.budget_bytes, (unsigned long long)st0.bytes_used,
	       (unsigned long long)st.evictions);
	printf("bytes/entry: %.1f accounted in total (incl. fixed), %.1f added per entry "
	       "(entry block + table growth)\n",
	       st.bytes_used / ent, (st.bytes_used - st0.bytes_used) / ent);
	printf("RSS growth while creating and filling the cache: %ld KiB (accounted: %llu KiB)\n",
	       rss1 - rss0, (unsigned long long)st.bytes_used / 1024);
	cn_cache_free(c);
	free(n);
	free(seq);
	free(cdf);
	free(perm);
	return 0;
}
