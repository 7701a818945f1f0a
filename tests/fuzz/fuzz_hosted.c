/*
 * libFuzzer target for client queries answered from hosted zones (resolver/zone.c,
 * hosted.c): names the client chooses walk wildcards, DNAMEs (with overflowing
 * substitutions), CNAME loops, delegations and private zones.
 *
 * Built once: a zone set with a public and a private zone exercising every branch, and a
 * cache. Per input: [client byte][query packet length u16][query packet][reply]. The
 * client byte picks the source address (inside or outside the private zone); the packet
 * goes through cn_engine_query; on CN_MISS the rest of the input stands for the reply of
 * the resolution and goes through cn_engine_hosted_finish, whose result must parse. Leaks
 * and memory errors are the sanitizers' business.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "resolver/internal.h"
#include "resolver/zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_random(void *buf, size_t len)
{
	memset(buf, 0x3c, len);
}

static const char zone_a[] =
	"$TTL 300\n@ SOA ns h 1 2 3 4 60\n@ NS ns\nns A 10.0.0.1\nwww A 10.0.0.2\n"
	"*.w A 10.0.0.3\n*.w MX 10 www\n*.c CNAME www\nalias CNAME www\nout CNAME www.x.test.\n"
	"loop1 CNAME loop2\nloop2 CNAME loop1\nd DNAME a.test.\n"
	"long DNAME aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
	"ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.test.\n"
	"sub NS ns.sub\nns.sub A 127.0.0.40\nx.y.ent TXT hi\npriv CNAME www.p.test.\n";
static const char zone_p[] =
	"$TTL 300\n@ SOA ns h 1 2 3 4 60\n@ NS ns\nns A 10.1.0.1\nwww A 10.1.0.2\n"
	"back CNAME alias.a.test.\nsub NS ns.sub\nns.sub A 127.0.0.41\n";

static cn_cache_t *cache;
static cn_engine_t *engine;
static cn_zoneset_t *zones;

static void init(void)
{
	cn_cache_conf_t cc = { .budget_bytes = 1 << 20, .max_ttl_s = 86400 };
	if (cn_cache_new(&cc, &cache) != 0 || cn_zoneset_new(&zones) != 0)
		abort();
	char err[256];
	cn_zone_prefix_t p = { .family = AF_INET, .bits = 32 };
	inet_pton(AF_INET, "127.0.0.2", p.addr);
	if (cn_zoneset_load_text(zones, "a.test", "a", zone_a, NULL, 0, err, sizeof(err)) ||
	    cn_zoneset_load_text(zones, "p.test", "p", zone_p, &p, 1, err, sizeof(err)) ||
	    cn_zoneset_add_local_data(zones, "printer.lan. 60 IN A 192.168.1.9", "f", 1, err,
				      sizeof(err)) ||
	    cn_zoneset_add_builtin(zones, NULL, 0, err, sizeof(err)))
		abort();
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.random = fuzz_random;
	conf.zones = zones;
	if (cn_engine_new(&conf, cache, &engine) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[65535];
	if (!engine)
		init();
	if (size < 3)
		return 0;
	struct sockaddr_in from = { .sin_family = AF_INET };
	from.sin_addr.s_addr = htonl(0x7f000000u | (data[0] & 3));
	size_t plen = (size_t)(data[1] << 8 | data[2]);
	if (plen > size - 3)
		plen = size - 3;
	const uint8_t *pkt = data + 3, *rest = pkt + plen;
	size_t rlen = size - 3 - plen;
	cn_client_t cl = { .addr = (struct sockaddr *)&from, .tcp = data[0] & 4 };
	cn_question_t q;
	memset(&q, 0, sizeof(q));
	size_t out_len = 0;
	cn_outcome_t outcome;
	cn_time_t now = { .wall_s = 1700000000, .mono_ms = 1 };
	cn_state_t st = cn_engine_query(engine, pkt, plen, &cl, now, out, sizeof(out), &out_len,
					&q, &outcome);
	if (st == CN_MISS && rlen <= sizeof(out)) {
		memcpy(out, rest, rlen);
		outcome = CN_OUT_RESOLVED;
		out_len = cn_engine_hosted_finish(engine, &q, (struct sockaddr *)&from, out, rlen,
						  sizeof(out), now, &outcome);
		if (out_len > sizeof(out))
			abort();
		if (q.hosted_qname_len && out_len >= CN_HEADER_LEN) {
			cn_arena_t arena;
			cn_msg_t m;
			cn_arena_init(&arena, 0);
			if (cn_msg_parse(out, out_len, &arena, &m) != 0)
				abort(); /* a rebuilt answer always parses */
			cn_arena_deinit(&arena);
		}
	}
	if (st == CN_DONE && out_len > sizeof(out))
		abort();
	return 0;
}
