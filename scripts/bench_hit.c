/*
 * bench_hit: the cache-hit path in-process, with no sockets and no kernel: nanoseconds per
 * cn_engine_query() on a warm cache, i.e. what the engine itself costs per hit (question
 * parsing, the hosted-zone check, the cache lookups, answer writing), apart from what
 * recvmmsg/sendmmsg cost (scripts/bench measures the whole, scripts/echo_limit.c the kernel
 * alone).
 *
 * The cache is filled directly (the resolver's own value encoding) with -n names in eight
 * kinds, one in eight each: A, A, AAAA, MX, TXT, a two-link CNAME chain to an A, NXDOMAIN
 * and NODATA (an AAAA asked of a name with only an A); queries carry EDNS (1232 bytes, as
 * scripts/loadgen.c sends them), are asked in a shuffled order, and every reply is checked
 * (RCODE, ANCOUNT): a run that answered anything else is reported as failed, never timed.
 * Prints each round's ns per query (this thread's CPU time, so time spent preempted on a
 * shared machine does not count) and their median [min-max] over -r rounds of -l queries. -t SECONDS: one long run instead, to profile (perf record -p).
 * Numbers go in notes, not tests; run it pinned (taskset -c 1).
 *
 * usage: bench_hit [-n names] [-l queries per round] [-r rounds] [-t seconds] [-o]
 * -o: DNSSEC validation off (the values are marked validated, insecure: with it on, the
 * default, each hit also reads their validation state).
 */
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "resolver/internal.h"
#include "resolver/resolver.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static void fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rnd() >> 56);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Rounds are timed in this thread's CPU time: on a shared machine, time spent preempted
 * is not the engine's. The -t limit is wall time. */
static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static uint64_t cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

enum { K_A, K_A2, K_AAAA, K_MX, K_TXT, K_CNAME, K_NXDOMAIN, K_NODATA, K_KINDS };

typedef struct query {
	uint16_t len, ancount;
	uint8_t rcode;
	uint8_t wire[300];
} query_t;

static cn_cache_t *cache;
static uint64_t now_s;

/* "\2nI\1w\5zZZZZ\4test" style names: label nI, then the zone of the name. */
static size_t make_name(const char *prefix, unsigned i, uint8_t *out)
{
	char label[32];
	int n = snprintf(label, sizeof(label), "%s%u", prefix, i);
	size_t pos = 0;
	out[pos++] = (uint8_t)n;
	memcpy(out + pos, label, (size_t)n);
	pos += (size_t)n;
	static const uint8_t tail[] = "\1w\5z0042\5bench";
	memcpy(out + pos, tail, sizeof(tail));
	return pos + sizeof(tail);
}

static const uint8_t zone[] = "\1w\5z0042\5bench";
static const uint8_t soa_rdata[] = "\3ns1\1w\5z0042\5bench\0\12hostmaster\1w\5z0042\5bench\0"
				   "\0\0\0\1\0\0\x0e\x10\0\0\x02\x58\0\1\x51\x80\0\0\0\x3c";

static int insert(const uint8_t *name, size_t nlen, uint16_t type, const uint8_t *rdata,
		  uint16_t rdlen, unsigned count)
{
	cn_rr_t rrs[4];
	const cn_rr_t *set[4];
	for (unsigned i = 0; i < count; i++) {
		rrs[i] = (cn_rr_t){ .owner = name, .rdata = rdata + i * rdlen, .ttl = 86400,
				    .type = type, .rclass = CN_CLASS_IN, .rdlen = rdlen,
				    .section = CN_SECTION_ANSWER };
		set[i] = &rrs[i];
	}
	uint8_t val[1024];
	int n = cn__value_encode_rrset(set, count, val, sizeof(val));
	size_t len;
	if (n <= 0 || cn__value_add_trailer(val, (size_t)n, sizeof(val), CN_DNSSEC_STATE_INSECURE,
					    NULL, 0, &len) != 0)
		return -1;
	return cn_cache_insert(cache, name, nlen, type, CN_CLASS_IN, CN_CACHE_RRSET,
			       CN_RANK_AUTH_ANSWER, 86400, now_s, val, len);
}

static int insert_negative(const uint8_t *name, size_t nlen, uint16_t type,
			   cn_cache_kind_t kind)
{
	cn_rr_t soa = { .owner = zone, .rdata = soa_rdata, .ttl = 3600, .type = CN_TYPE_SOA,
			.rclass = CN_CLASS_IN, .rdlen = sizeof(soa_rdata) - 1,
			.section = CN_SECTION_AUTHORITY };
	uint8_t val[512];
	int n = cn__value_encode_neg(&soa, val, sizeof(val));
	size_t len;
	if (n <= 0 || cn__value_add_trailer(val, (size_t)n, sizeof(val), CN_DNSSEC_STATE_INSECURE,
					    NULL, 0, &len) != 0)
		return -1;
	return cn_cache_insert(cache, name, nlen, type, CN_CLASS_IN, kind, CN_RANK_AUTH_ANSWER,
			       3600, now_s, val, len);
}

static void make_query(const uint8_t *name, size_t nlen, uint16_t type, uint8_t rcode,
		       uint16_t ancount, query_t *q)
{
	uint8_t *p = q->wire;
	memset(p, 0, 12);
	p[2] = 0x01; /* RD */
	p[5] = 1;
	p[11] = 1; /* OPT */
	size_t pos = 12;
	memcpy(p + pos, name, nlen);
	pos += nlen;
	p[pos++] = (uint8_t)(type >> 8);
	p[pos++] = (uint8_t)type;
	p[pos++] = 0;
	p[pos++] = 1;
	static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };
	memcpy(p + pos, opt, sizeof(opt));
	q->len = (uint16_t)(pos + sizeof(opt));
	q->rcode = rcode;
	q->ancount = ancount;
}

/* Name i's records and the query that asks for them. */
static int fill_one(unsigned i, query_t *q)
{
	uint8_t name[64], alias2[64], target[64];
	size_t nl = make_name("n", i, name);
	static const uint8_t a[8] = { 192, 0, 2, 1, 192, 0, 2, 2 };
	static const uint8_t aaaa[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t mx[] = "\0\12\4mail\1w\5z0042\5bench";
	static const uint8_t txt[] = "\30v=spf1 -all and a bit more";
	int rc = 0;
	switch (i % K_KINDS) {
	case K_A:
	case K_A2:
		rc = insert(name, nl, CN_TYPE_A, a, 4, 1 + i % 2);
		make_query(name, nl, CN_TYPE_A, 0, (uint16_t)(1 + i % 2), q);
		break;
	case K_AAAA:
		rc = insert(name, nl, CN_TYPE_AAAA, aaaa, 16, 1);
		make_query(name, nl, CN_TYPE_AAAA, 0, 1, q);
		break;
	case K_MX:
		rc = insert(name, nl, CN_TYPE_MX, mx, sizeof(mx) - 1, 1);
		make_query(name, nl, CN_TYPE_MX, 0, 1, q);
		break;
	case K_TXT:
		rc = insert(name, nl, CN_TYPE_TXT, txt, sizeof(txt) - 1, 1);
		make_query(name, nl, CN_TYPE_TXT, 0, 1, q);
		break;
	case K_CNAME: {
		size_t l2 = make_name("c", i, alias2), lt = make_name("t", i, target);
		rc = insert(name, nl, CN_TYPE_CNAME, alias2, (uint16_t)l2, 1);
		rc = rc ? rc : insert(alias2, l2, CN_TYPE_CNAME, target, (uint16_t)lt, 1);
		rc = rc ? rc : insert(target, lt, CN_TYPE_A, a, 4, 1);
		make_query(name, nl, CN_TYPE_A, 0, 3, q);
		break;
	}
	case K_NXDOMAIN:
		rc = insert_negative(name, nl, CN_CACHE_TYPE_NXDOMAIN, CN_CACHE_NXDOMAIN);
		make_query(name, nl, CN_TYPE_A, 3, 0, q);
		break;
	default: /* NODATA */
		rc = insert(name, nl, CN_TYPE_A, a, 4, 1);
		rc = rc ? rc : insert_negative(name, nl, CN_TYPE_AAAA, CN_CACHE_NODATA);
		make_query(name, nl, CN_TYPE_AAAA, 0, 0, q);
		break;
	}
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned names = 1000, rounds = 5;
	uint64_t per_round = 2000000;
	double seconds = 0;
	int ch;
	bool validate = true;
	unsigned ready = 0;
	while ((ch = getopt(argc, argv, "n:l:r:t:oH:")) != -1) {
		switch (ch) {
		case 'n': names = (unsigned)atoi(optarg); break;
		case 'l': per_round = strtoull(optarg, NULL, 10); break;
		case 'r': rounds = (unsigned)atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'o': validate = false; break; /* DNSSEC validation off */
		case 'H': ready = (unsigned)atoi(optarg); break; /* ready-to-send answers */
		default:
			fprintf(stderr, "usage: bench_hit [-n names] [-l queries per round]"
					" [-r rounds] [-t seconds] [-o] [-H ready answers]\n");
			return 2;
		}
	}
	if (names < K_KINDS || rounds < 1 || rounds > 1000 || per_round < 1 || seconds < 0 ||
	    seconds > 3600) {
		fprintf(stderr, "bench_hit: -n >= %d, 1 <= -r <= 1000, -l >= 1, 0 <= -t <= 3600\n",
			K_KINDS);
		return 2;
	}
	/* A miss must never leave the process: nothing here sends, but the engine still wants
	 * hints; one on loopback's discard port. */
	static cn_hint_t hint = { .name = "\1a\14root-servers\3net", .naddr = 1 };
	struct sockaddr_in *h4 = (struct sockaddr_in *)&hint.addr[0];
	h4->sin_family = AF_INET;
	h4->sin_port = htons(9);
	h4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cn_engine_conf_t ec;
	cn_engine_conf_default(&ec);
	ec.random = fill_random;
	ec.prefetch = false;
	ec.hints = &hint;
	ec.nhints = 1;
	ec.allow_loopback_upstream = true;
	ec.dnssec.enabled = validate; /* the values are marked validated (insecure) */
	cn_cache_conf_t cc = { .budget_bytes = 256u << 20 };
	fill_random(cc.hash_key, sizeof(cc.hash_key));
	cn_engine_t *engine;
	if (cn_cache_new(&cc, &cache) != 0 || cn_engine_new(&ec, cache, &engine) != 0) {
		fprintf(stderr, "bench_hit: cannot make the cache or the engine\n");
		return 1;
	}
	now_s = (uint64_t)time(NULL);
	query_t *qs = malloc(names * sizeof(*qs));
	uint64_t *ns = malloc(rounds * sizeof(*ns));
	if (!qs || !ns)
		return 1;
	for (unsigned i = 0; i < names; i++)
		if (fill_one(i, &qs[i]) != 0) {
			fprintf(stderr, "bench_hit: cache insert failed for name %u\n", i);
			return 1;
		}
	for (unsigned i = names - 1; i > 0; i--) { /* shuffled: no two kinds in lockstep */
		unsigned j = (unsigned)(rnd() % (i + 1));
		query_t t = qs[i];
		qs[i] = qs[j];
		qs[j] = t;
	}
	struct sockaddr_in client = { .sin_family = AF_INET, .sin_port = htons(40000) };
	client.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cn_client_t cl = { .addr = (const struct sockaddr *)&client, .tcp = false };
	if (ready && cn_engine_hot_new(engine, ready, &cl.hot) != 0)
		return 1;
	cn_time_t now = { .wall_s = now_s, .mono_ms = now_ns() / 1000000 };
	static uint8_t out[CN_MSG_MAX];
	uint64_t bad = 0, total = 0;
	if (seconds > 0) {
		rounds = 1;
		per_round = UINT64_MAX;
	}
	uint64_t stop = seconds > 0 ? now_ns() + (uint64_t)(seconds * 1e9) : UINT64_MAX;
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t t0 = cpu_ns(), k = 0;
		for (; k < per_round; k++) {
			query_t *q = &qs[k % names];
			q->wire[0] = (uint8_t)(k >> 8);
			q->wire[1] = (uint8_t)k;
			size_t len = 0;
			cn_question_t qq;
			cn_outcome_t oc;
			cn_state_t st = cn_engine_query(engine, q->wire, q->len, &cl, now, out,
							sizeof(out), &len, &qq, &oc);
			if (st != CN_DONE || len < 12 || (out[3] & 0x0f) != q->rcode ||
			    (unsigned)(out[6] << 8 | out[7]) != q->ancount)
				bad++;
			if ((k & 63) == 63)
				cn_engine_hot_credit(engine, cl.hot); /* as a worker, per batch */
			if ((k & 4095) == 4095 && now_ns() >= stop)
				break;
		}
		uint64_t t1 = cpu_ns();
		total += k;
		ns[r] = k ? (t1 - t0) / k : 0;
		printf("round %u: %llu ns/query (%llu queries)\n", r + 1, (unsigned long long)ns[r],
		       (unsigned long long)k);
	}
	if (bad) {
		fprintf(stderr, "bench_hit: %llu of %llu answers were not the cached ones\n",
			(unsigned long long)bad, (unsigned long long)total);
		return 1;
	}
	qsort(ns, rounds, sizeof(*ns), cmp_u64);
	printf("cn_engine_query, %u names in %d kinds: %llu ns/query [%llu-%llu] over %u rounds"
	       " (%.0fk queries/s on this core)\n",
	       names, K_KINDS, (unsigned long long)ns[rounds / 2], (unsigned long long)ns[0],
	       (unsigned long long)ns[rounds - 1], rounds,
	       ns[rounds / 2] ? 1e6 / (double)ns[rounds / 2] : 0.0);
	if (cl.hot) {
		uint64_t served, stored;
		cn_hot_counts(cl.hot, &served, &stored);
		printf("ready-to-send table (%u entries): %.1f%% of the answers, %llu stored\n",
		       ready, total ? 100.0 * (double)served / (double)total : 0.0,
		       (unsigned long long)stored);
		cn_hot_free(cl.hot);
	}
	cn_engine_free(engine);
	cn_cache_free(cache);
	free(qs);
	free(ns);
	return 0;
}
