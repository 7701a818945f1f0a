/*
 * libFuzzer target for the resolution engine consuming upstream replies (docs/attacks.md C1-C3
 * from the server side, and everything the iterate state machine does with what it gets).
 *
 * Per input: a fresh cache and engine with fixed root hints and a deterministic random
 * source; a client question chosen by the first byte; cn_resolve_begin, then for every
 * query the engine produces the next fuzzed reply is fed to cn_resolve_consume (or, once the
 * input is used up, a timeout), until the request is done. Every state returned must be
 * CN_PRODUCE or CN_DONE, the request must be done within a bounded number of steps (the
 * engine's own limits guarantee it), and the client reply built from the result must
 * parse. Then the same question is asked through cn_engine_query (the cache path). Leaks
 * and memory errors are the sanitizers' business.
 *
 * Input: [question byte][mode byte] then replies, each a big-endian u16 length and bytes.
 * mode bit 0: "patch": the reply given is a header plus records without a question, and
 * the harness inserts the question of the query it answers (the exact bytes, 0x20 case
 * included), so the fuzzer spends its time past the question. bits 1-2: the event for a
 * missing reply (timeout, case mismatch, network error). bit 3: QNAME minimisation off.
 * bit 4: DNSSEC validation off (on, from the built-in root anchors: every answer the fuzzer
 * makes goes through the chain of trust, DNSKEY fetches and all, and ends bogus or insecure).
 * tests/fuzz/gen_consume_corpus.py writes the seeds (dnspython, not cairn's codec).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "resolver/internal.h"
#include "resolver/resolver.h"
#include "resolver/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS 80

static uint64_t rng;
static void fuzz_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		p[i] = (uint8_t)rng;
	}
}

static void die(const char *what, long v)
{
	fprintf(stderr, "fuzz_consume: %s (%ld)\n", what, v);
	abort();
}

static const struct {
	const char *name;
	uint16_t type;
} questions[] = {
	{ "www.example.com.", CN_TYPE_A },   { "www.example.com.", CN_TYPE_AAAA },
	{ "example.com.", CN_TYPE_NS },      { "example.com.", CN_TYPE_MX },
	{ "a.b.c.example.net.", CN_TYPE_TXT }, { "example.com.", CN_TYPE_DS },
	{ ".", CN_TYPE_NS },                 { "alias.example.org.", CN_TYPE_CNAME },
	{ "1.2.0.192.in-addr.arpa.", CN_TYPE_PTR }, { "example.com.", CN_TYPE_SOA },
};

static void name_from_str(const char *s, uint8_t *out)
{
	if (cn_dname_from_str(s, out, NULL) != 0)
		die("bad built-in name", 0);
}

/* Build the reply to feed: raw, or (patch) header + the query's question + the rest. */
static size_t build_reply(const uint8_t *chunk, size_t clen, bool patch,
			  const cn_upstream_query_t *up, uint8_t *out)
{
	if (!patch || clen < CN_HEADER_LEN) {
		memcpy(out, chunk, clen);
		return clen;
	}
	cn_msg_t q;
	if (cn_msg_parse_query(up->wire, up->len, &q) != 0)
		die("the engine produced a query it cannot parse", 0);
	size_t qlen = q.question_end - CN_HEADER_LEN;
	if (clen + qlen > CN_MSG_MAX)
		clen = CN_MSG_MAX - qlen;
	memcpy(out, chunk, CN_HEADER_LEN);
	out[0] = up->wire[0];
	out[1] = up->wire[1];
	out[2] |= 0x80; /* QR */
	out[4] = 0;
	out[5] = 1;     /* QDCOUNT */
	memcpy(out + CN_HEADER_LEN, up->wire + CN_HEADER_LEN, qlen);
	memcpy(out + CN_HEADER_LEN + qlen, chunk + CN_HEADER_LEN, clen - CN_HEADER_LEN);
	return clen + qlen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t reply[CN_MSG_MAX], out[CN_MSG_MAX];
	static cn_hint_t hint;
	if (size < 2)
		return 0;
	rng = 0x9e3779b97f4a7c15ull;
	memset(&hint, 0, sizeof(hint));
	name_from_str("a.root-servers.net.", hint.name);
	struct sockaddr_in *sin = (struct sockaddr_in *)&hint.addr[0];
	sin->sin_family = AF_INET;
	sin->sin_port = htons(53);
	inet_pton(AF_INET, "198.41.0.4", &sin->sin_addr);
	hint.naddr = 1;

	cn_cache_conf_t cc = { .budget_bytes = 1 << 20, .stale_window_s = 3600 };
	cn_cache_t *cache;
	if (cn_cache_new(&cc, &cache) != 0)
		die("cache", 0);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.random = fuzz_random;
	conf.hints = &hint;
	conf.nhints = 1;
	conf.log_level = 0;
	uint8_t sel = data[0], mode = data[1];
	conf.qname_minimisation = !(mode & 8);
	conf.dnssec.enabled = !(mode & 16);
	cn_engine_t *engine;
	if (cn_engine_new(&conf, cache, &engine) != 0)
		die("engine", 0);

	cn_question_t q;
	memset(&q, 0, sizeof(q));
	size_t qi = sel % (sizeof(questions) / sizeof(questions[0]));
	name_from_str(questions[qi].name, q.qname);
	q.qname_len = cn_dname_len(q.qname);
	q.qtype = questions[qi].type;
	q.qclass = CN_CLASS_IN;
	q.id = 0x4242;
	q.flags = CN_FLAG_RD;
	q.edns = sel & 0x80;
	q.udp_size = (sel & 0x40) ? 512 : 1232;
	q.tcp = sel & 0x20;

	cn_time_t now = { .wall_s = 1700000000, .mono_ms = 1000 };
	cn_request_t *req = cn_request_new(engine);
	if (!req)
		die("request", 0);
	cn_state_t st = cn_resolve_begin(req, &q, now);
	size_t pos = 2;
	static const cn_upstream_event_t missing[4] = { CN_UP_TIMEOUT, CN_UP_CASE_MISMATCH,
							 CN_UP_NETWORK_ERROR, CN_UP_TIMEOUT };
	int steps = 0;
	for (; st == CN_PRODUCE && steps < MAX_STEPS; steps++) {
		cn_upstream_query_t up;
		if (cn_resolve_produce(req, &up) != 0)
			die("PRODUCE without a query", steps);
		if (up.len < CN_HEADER_LEN || up.len > CN_MSG_MAX || up.timeout_ms == 0)
			die("bad produced query", (long)up.len);
		now.mono_ms += 7;
		if (pos + 2 <= size) {
			size_t clen = (size_t)(data[pos] << 8 | data[pos + 1]);
			pos += 2;
			if (clen > size - pos)
				clen = size - pos;
			size_t rlen = build_reply(data + pos, clen, mode & 1, &up, reply);
			pos += clen;
			st = cn_resolve_consume(req, CN_UP_REPLY, reply, rlen, 7, now);
		} else {
			now.mono_ms += up.timeout_ms;
			st = cn_resolve_consume(req, missing[(mode >> 1) & 3], NULL, 0, up.timeout_ms,
						now);
		}
		if (st != CN_PRODUCE && st != CN_DONE)
			die("consume returned a state other than PRODUCE or DONE", st);
	}
	if (st != CN_DONE)
		die("request not done within the step bound", steps);
	if (cn_request_upstream_count(req) > conf.limits.upstream_queries)
		die("more upstream queries than the limit", cn_request_upstream_count(req));

	cn_outcome_t outcome;
	size_t len = cn_resolve_answer(req, &q, now, out, sizeof(out), &outcome);
	cn_arena_t arena;
	cn_arena_init(&arena, 0);
	cn_msg_t m;
	if (len < CN_HEADER_LEN || cn_msg_parse(out, len, &arena, &m) != 0)
		die("the client reply does not parse", (long)len);
	if (m.id != q.id || !(m.flags & CN_FLAG_QR))
		die("the client reply header is wrong", m.flags);
	cn_request_free(req);

	/* the same question through the client path: from whatever is cached now */
	uint8_t pkt[512];
	cn_writer_t w;
	cn_writer_init(&w, pkt, sizeof(pkt), 0x5151, CN_FLAG_RD);
	cn_writer_question(&w, q.qname, q.qtype, CN_CLASS_IN);
	size_t plen = cn_writer_finish(&w);
	struct sockaddr_in client = { .sin_family = AF_INET };
	cn_client_t cl = { .addr = (struct sockaddr *)&client, .tcp = false };
	cn_question_t q2;
	size_t out_len = 0;
	now.wall_s += 1;
	st = cn_engine_query(engine, pkt, plen, &cl, now, out, sizeof(out), &out_len, &q2,
			     &outcome);
	if (st == CN_DONE) {
		cn_arena_reset(&arena);
		if (out_len > 512 || cn_msg_parse(out, out_len, &arena, &m) != 0)
			die("a cache answer does not parse (or exceeds 512 over UDP)", (long)out_len);
	} else if (st != CN_MISS) {
		die("client query state", st);
	}
	cn_arena_deinit(&arena);
	cn_engine_free(engine);
	cn_cache_free(cache);
	return 0;
}
