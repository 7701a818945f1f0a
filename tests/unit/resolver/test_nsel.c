/*
 * Unit tests for resolver/nsel.c, server selection: SRTT smoothing (RFC 6298 with the
 * integer arithmetic nsel.c documents), timeouts with bounded exponential backoff, failure
 * windows (RFC 9520) and their growth for servers that stay silent, dead servers and their
 * shared probe slot, the no-EDNS and no-0x20 marks, the table under pressure, and the
 * control tool's read-only walk, the lock's counters. Time is a
 * plain argument (now_ms): every window is crossed by moving a fake clock to one millisecond
 * before and at its end. The expected figures are worked out by hand in the comments, not
 * computed with the formulas under test.
 */
#include <arpa/inet.h>
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/internal.h"
#include "tests/unit/unit.h"

static cn_nsel_t *ns;

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
	return ss;
}

/* A table with the given clamps; initial RTT 400 ms, failure window 5 s (the defaults). */
static void make(unsigned tmin, unsigned tmax)
{
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.initial_rtt_ms = 400;
	conf.timeout_min_ms = tmin;
	conf.timeout_max_ms = tmax;
	conf.failure_cache_s = 5;
	ck_assert_int_eq(cn__nsel_new(&conf, &ns), 0);
}

static void teardown(void)
{
	cn__nsel_free(ns);
	ns = NULL;
}

static cn_nsel_info_t info(const struct sockaddr_storage *a, uint64_t now_ms)
{
	cn_nsel_info_t i;
	memset(&i, 0xAB, sizeof(i)); /* every field must be written */
	cn__nsel_info(ns, a, now_ms, &i);
	return i;
}

/* ------------------------------------------------------------------ argument abuse -- */

START_TEST(test_abuse)
{
	cn__nsel_free(NULL); /* no-op */

	/* An initial RTT of 0 and RTT samples of 0 ms: the timeout stays at the floor. */
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.initial_rtt_ms = 0;
	conf.timeout_min_ms = 200;
	conf.timeout_max_ms = 3000;
	ck_assert_int_eq(cn__nsel_new(&conf, &ns), 0);
	struct sockaddr_storage a = v4("192.0.2.1", 53);
	cn_nsel_info_t i = info(&a, 0);
	ck_assert_uint_eq(i.srtt_ms, 0);
	ck_assert_uint_eq(i.timeout_ms, 200);
	ck_assert(!i.known && !i.failing && !i.dead && !i.probe_ok && !i.no_edns && !i.no_0x20);
	cn__nsel_report_rtt(ns, &a, 0, 0);
	i = info(&a, 0);
	ck_assert(i.known);
	ck_assert_uint_eq(i.srtt_ms, 0);
	ck_assert_uint_eq(i.timeout_ms, 200);

	/* A reply reported at monotonic time 0 still counts as a reply (it is stored as 1 ms,
	 * 0 meaning "never"): two timeouts right after it do not make the server dead. */
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 0);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 1);
	i = info(&a, 1);
	ck_assert(i.failing);
	ck_assert(!i.dead);
	teardown();

	/* failure_cache_s = 0: errors back the timeout off but never open a window. */
	conf.initial_rtt_ms = 400;
	conf.failure_cache_s = 0;
	ck_assert_int_eq(cn__nsel_new(&conf, &ns), 0);
	for (int k = 0; k < 3; k++)
		cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 1000);
	i = info(&a, 1000);
	ck_assert(!i.failing && !i.dead);
	ck_assert_uint_eq(i.timeout_ms, 3000);
}
END_TEST

/* ------------------------------------------------------------------ SRTT ------------ */

typedef struct rtt_case {
	const char *what;
	unsigned samples[12];   /* RTTs reported in order; 0 ends the list */
	unsigned srtt, timeout; /* expected afterwards (clamps wide open: [1, 10^6]) */
} rtt_case_t;

static const rtt_case_t rtt_cases[] = {
	/* unknown: srtt = initial 400, rttvar 200 -> 400 + 4 * 200 */
	{ "unknown", { 0 }, 400, 1200 },
	/* the first sample replaces the guess: srtt 100, rttvar 50 */
	{ "first sample", { 100 }, 100, 300 },
	/* 100, 200: rttvar (3*50 + 100)/4 = 62, srtt 100 + 100/8 = 112 -> 112 + 248 */
	{ "slower", { 100, 200 }, 112, 360 },
	/* then 200 again: diff 88, rttvar (186 + 88)/4 = 68, srtt 112 + 11 = 123 */
	{ "slower twice", { 100, 200, 200 }, 123, 395 },
	/* 200, 100: rttvar (300 + 100)/4 = 100, srtt 200 - 100/8 = 188 (truncated) */
	{ "faster", { 200, 100 }, 188, 588 },
	/* one spike moves srtt by an eighth: 100 then 900 -> 200; rttvar (150+800)/4 = 237 */
	{ "spike", { 100, 900 }, 200, 1148 },
	/* a steady server: rttvar 25,18,13,9,6,4,3,2,1,0 -> the timeout reaches the RTT */
	{ "steady", { 50, 50, 50, 50, 50, 50, 50, 50, 50, 50 }, 50, 50 },
};

START_TEST(test_srtt_table)
{
	const rtt_case_t *c = &rtt_cases[_i];
	make(1, 1000000);
	struct sockaddr_storage a = v4("192.0.2.10", 53);
	uint64_t now = 1000;
	for (int k = 0; k < 12 && c->samples[k]; k++)
		cn__nsel_report_rtt(ns, &a, c->samples[k], now += 10);
	cn_nsel_info_t i = info(&a, now);
	ck_assert_msg(i.srtt_ms == c->srtt, "%s: srtt %u, want %u", c->what, i.srtt_ms, c->srtt);
	ck_assert_msg(i.timeout_ms == c->timeout, "%s: timeout %u, want %u", c->what,
		      i.timeout_ms, c->timeout);
	ck_assert(i.known == (c->samples[0] != 0));
	ck_assert(!i.failing && !i.dead);
}
END_TEST

START_TEST(test_timeout_clamps)
{
	make(200, 3000);
	struct sockaddr_storage fast = v4("192.0.2.1", 53), slow = v4("192.0.2.2", 53);
	cn__nsel_report_rtt(ns, &fast, 10, 100);  /* 10 + 20 = 30 -> floor */
	cn__nsel_report_rtt(ns, &slow, 2000, 100); /* 2000 + 4000 -> ceiling */
	ck_assert_uint_eq(info(&fast, 100).timeout_ms, 200);
	ck_assert_uint_eq(info(&fast, 100).srtt_ms, 10);
	ck_assert_uint_eq(info(&slow, 100).timeout_ms, 3000);
	ck_assert_uint_eq(info(&slow, 100).srtt_ms, 2000);
}
END_TEST

/* ------------------------------------------------------------------ backoff --------- */

START_TEST(test_backoff_timeouts)
{
	make(1, 100000);
	struct sockaddr_storage a = v4("192.0.2.20", 53);
	cn__nsel_report_rtt(ns, &a, 100, 1000); /* srtt 100, rttvar 50 */
	/* Each timeout raises srtt to twice itself (the server is at least that slow) and
	 * doubles the timeout once more, at most 4 times:
	 *   1: srtt 200,  (200 + 200) * 2  =   800
	 *   2: srtt 400,  (400 + 200) * 4  =  2400
	 *   3: srtt 800,  (800 + 200) * 8  =  8000
	 *   4: srtt 1600, (1600 + 200) * 16 = 28800
	 *   5: srtt 3200, (3200 + 200) * 16 = 54400  (no fifth doubling) */
	static const unsigned srtt[] = { 200, 400, 800, 1600, 3200 };
	static const unsigned rto[] = { 800, 2400, 8000, 28800, 54400 };
	uint64_t now = 1000;
	for (int k = 0; k < 5; k++) {
		now += 10;
		cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, now);
		cn_nsel_info_t i = info(&a, now);
		ck_assert_msg(i.srtt_ms == srtt[k], "timeout %d: srtt %u", k + 1, i.srtt_ms);
		ck_assert_msg(i.timeout_ms == rto[k], "timeout %d: rto %u", k + 1, i.timeout_ms);
		ck_assert(i.failing);
	}
	/* One reply clears the backoff and the failure at once; the sample is smoothed into
	 * srtt: 3200 + (100 - 3200)/8 = 2813, rttvar (150 + 3100)/4 = 812 -> 2813 + 3248. */
	cn__nsel_report_rtt(ns, &a, 100, now + 10);
	cn_nsel_info_t i = info(&a, now + 10);
	ck_assert_uint_eq(i.srtt_ms, 2813);
	ck_assert_uint_eq(i.timeout_ms, 6061);
	ck_assert(!i.failing && !i.dead && !i.probe_ok);
}
END_TEST

START_TEST(test_backoff_clamped)
{
	make(200, 3000); /* the defaults */
	struct sockaddr_storage a = v4("192.0.2.21", 53);
	/* unknown: 400 + 800 = 1200; one timeout: srtt 800, (800 + 800) * 2 -> 3000 */
	ck_assert_uint_eq(info(&a, 10).timeout_ms, 1200);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 10);
	ck_assert_uint_eq(info(&a, 10).srtt_ms, 800);
	ck_assert_uint_eq(info(&a, 10).timeout_ms, 3000);
	ck_assert(info(&a, 10).known); /* a timeout is knowledge too */
	/* the srtt penalty is clamped as well: 800 * 2 = 1600, then 3200 -> 3000 */
	cn__nsel_report_error(ns, &a, CN_NSEL_NETERR, 20);
	ck_assert_uint_eq(info(&a, 20).srtt_ms, 1600);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 30);
	ck_assert_uint_eq(info(&a, 30).srtt_ms, 3000);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 40);
	ck_assert_uint_eq(info(&a, 40).srtt_ms, 3000);
	ck_assert_uint_eq(info(&a, 40).timeout_ms, 3000);
}
END_TEST

START_TEST(test_lame_backoff)
{
	make(1, 100000);
	struct sockaddr_storage a = v4("192.0.2.22", 53);
	cn__nsel_report_rtt(ns, &a, 100, 1000);
	/* A lame answer (REFUSED, SERVFAIL...) doubles the timeout but says nothing about
	 * speed: srtt stays; the server is failing, never dead (it answered). */
	cn__nsel_report_error(ns, &a, CN_NSEL_LAME, 5000);
	cn__nsel_report_error(ns, &a, CN_NSEL_MALFORMED, 5001);
	cn__nsel_report_error(ns, &a, CN_NSEL_LAME, 5002);
	cn_nsel_info_t i = info(&a, 7000);
	ck_assert_uint_eq(i.srtt_ms, 100);
	ck_assert_uint_eq(i.timeout_ms, 300 * 8);
	ck_assert(i.failing);
	ck_assert(!i.dead && !i.probe_ok);
}
END_TEST

/* ------------------------------------------------------------------ failure windows - */

START_TEST(test_failure_window)
{
	make(200, 3000);
	struct sockaddr_storage a = v4("192.0.2.30", 53);
	/* a lame server is failing for failure_cache_s = 5 s, then trusted again */
	cn__nsel_report_error(ns, &a, CN_NSEL_LAME, 10000);
	ck_assert(info(&a, 10000).failing);
	ck_assert(info(&a, 14999).failing);
	ck_assert(!info(&a, 15000).failing);
	/* the backoff is not forgotten with the window: only a reply clears it */
	ck_assert_uint_eq(info(&a, 15000).timeout_ms, 2400);
	/* a second lame answer opens a new 5 s window (lame never grows the window) */
	cn__nsel_report_error(ns, &a, CN_NSEL_LAME, 20000);
	ck_assert(info(&a, 24999).failing);
	ck_assert(!info(&a, 25000).failing);
}
END_TEST

/* Silence again and again: the window doubles per consecutive silence, to 60 s. */
START_TEST(test_silent_window_growth)
{
	make(200, 3000);
	struct sockaddr_storage a = v4("192.0.2.31", 53);
	static const uint64_t window[] = { 5000, 10000, 20000, 40000, 60000, 60000, 60000 };
	uint64_t now = 100000;
	for (int k = 0; k < 7; k++) {
		now += 100;
		cn__nsel_report_error(ns, &a, k % 2 ? CN_NSEL_NETERR : CN_NSEL_TIMEOUT, now);
		ck_assert_msg(info(&a, now + window[k] - 1).failing, "silence %d: ends early", k + 1);
		ck_assert_msg(!info(&a, now + window[k]).failing, "silence %d: lasts past %llu ms",
			      k + 1, (unsigned long long)window[k]);
	}
	/* a lame answer resets the silence: back to one 5 s window */
	cn__nsel_report_error(ns, &a, CN_NSEL_LAME, now += 100);
	ck_assert(info(&a, now + 4999).failing);
	ck_assert(!info(&a, now + 5000).failing);
	/* and so does a reply, for the next silence */
	cn__nsel_report_rtt(ns, &a, 50, now += 100);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, now += 100);
	ck_assert(!info(&a, now + 5000).failing);
}
END_TEST

/* ------------------------------------------------------------------ dead servers ---- */

START_TEST(test_dead_and_probe)
{
	make(200, 3000);
	struct sockaddr_storage a = v4("192.0.2.40", 53);
	/* one timeout: failing, not dead */
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 1000);
	ck_assert(info(&a, 1000).failing);
	ck_assert(!info(&a, 1000).dead);
	/* CN_NSEL_DEAD_FAILS = 2 silences in a row, never a reply: dead, probe allowed */
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 2000);
	cn_nsel_info_t i = info(&a, 2000);
	ck_assert(i.dead && i.probe_ok);
	/* one probe per CN_NSEL_PROBE_MS for everyone */
	ck_assert(cn__nsel_claim_probe(ns, &a, 2000));
	ck_assert(!cn__nsel_claim_probe(ns, &a, 2000));
	ck_assert(!info(&a, 2999).probe_ok);
	ck_assert(!cn__nsel_claim_probe(ns, &a, 2999));
	ck_assert(info(&a, 3000).dead && info(&a, 3000).probe_ok);
	ck_assert(cn__nsel_claim_probe(ns, &a, 3000));
	/* dead only while the window lasts (2 silences: 10 s from the last) */
	ck_assert(info(&a, 11999).dead);
	ck_assert(!info(&a, 12000).dead && !info(&a, 12000).failing);
	/* the probe is answered: alive at once */
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 20000);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 20001);
	ck_assert(info(&a, 20001).dead);
	cn__nsel_report_rtt(ns, &a, 30, 20002);
	i = info(&a, 20002);
	ck_assert(!i.dead && !i.failing && !i.probe_ok);
	ck_assert(cn__nsel_claim_probe(ns, &a, 20002)); /* the slot was freed by the reply */
}
END_TEST

START_TEST(test_not_dead_when_answering)
{
	make(200, 3000);
	struct sockaddr_storage a = v4("192.0.2.41", 53), b = v4("192.0.2.42", 53);
	/* a: answered at 1000, then dropped two queries: overloaded, not dead, until it has
	 * been quiet for CN_NSEL_DEAD_QUIET_MS */
	cn__nsel_report_rtt(ns, &a, 20, 1000);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 1500);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 1800);
	ck_assert(info(&a, 1999).failing);
	ck_assert(!info(&a, 1999).dead);
	ck_assert(info(&a, 2000).dead);
	/* b: a lame answer between two silences breaks the run */
	cn__nsel_report_error(ns, &b, CN_NSEL_TIMEOUT, 1000);
	cn__nsel_report_error(ns, &b, CN_NSEL_LAME, 1100);
	cn__nsel_report_error(ns, &b, CN_NSEL_TIMEOUT, 1200);
	ck_assert(info(&b, 5000).failing);
	ck_assert(!info(&b, 5000).dead);
	/* a second silence in a row, 3.9 s after its last (lame) answer: now it is dead */
	cn__nsel_report_error(ns, &b, CN_NSEL_NETERR, 5000);
	ck_assert(info(&b, 5000).dead);
}
END_TEST

/* ------------------------------------------------------------------ capability marks */

START_TEST(test_no_edns_mark)
{
	make(200, 3000);
	struct sockaddr_storage a = v4("192.0.2.50", 53);
	cn__nsel_set_no_edns(ns, &a, 7000);
	ck_assert(info(&a, 7000).no_edns);
	ck_assert(info(&a, 7000 + 600000 - 1).no_edns);
	ck_assert(!info(&a, 7000 + 600000).no_edns);
	ck_assert(!info(&a, 7000).failing); /* not an error */
}
END_TEST

START_TEST(test_case_failures)
{
	make(200, 3000);
	struct sockaddr_storage a = v4("192.0.2.51", 53), b = v4("192.0.2.52", 53);
	/* CN_NSEL_CASE_FAILS = 3 queries with only case-mismatched replies mark it */
	ck_assert(!cn__nsel_case_failure(ns, &a, 1000));
	ck_assert(!cn__nsel_case_failure(ns, &a, 2000));
	ck_assert(!info(&a, 2000).no_0x20);
	ck_assert(cn__nsel_case_failure(ns, &a, 3000));
	ck_assert(info(&a, 3000).no_0x20);
	ck_assert(info(&a, 3000 + 600000 - 1).no_0x20);
	ck_assert(!info(&a, 3000 + 600000).no_0x20);
	/* the count restarts after a mark */
	ck_assert(!cn__nsel_case_failure(ns, &a, 700000));
	/* failures more than 10 minutes apart never add up (a forger's rare hits) */
	uint64_t t = 1000;
	for (int k = 0; k < 5; k++, t += 600001)
		ck_assert_msg(!cn__nsel_case_failure(ns, &b, t), "spaced failure %d marked", k);
	ck_assert(!info(&b, t).no_0x20);
	/* ... but three, each at most 10 minutes after the previous one, do */
	ck_assert(!cn__nsel_case_failure(ns, &b, t));
	ck_assert(!cn__nsel_case_failure(ns, &b, t + 600000)); /* exactly 10 min: counts */
	ck_assert(cn__nsel_case_failure(ns, &b, t + 600001));
}
END_TEST

/* ------------------------------------------------------------------ addresses ------- */

START_TEST(test_addresses_apart)
{
	make(200, 3000);
	struct sockaddr_storage a = v4("192.0.2.60", 53), port = v4("192.0.2.60", 5353),
				other = v4("192.0.2.61", 53), six = v6("2001:db8::60", 53),
				six_port = v6("2001:db8::60", 54),
				mapped = v6("::ffff:192.0.2.60", 53);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 1000);
	cn__nsel_report_error(ns, &a, CN_NSEL_TIMEOUT, 1001);
	cn__nsel_report_rtt(ns, &six, 77, 1002);
	ck_assert(info(&a, 1002).dead);
	const struct sockaddr_storage *others[] = { &port, &other, &six, &six_port, &mapped };
	for (size_t k = 0; k < 5; k++) {
		cn_nsel_info_t i = info(others[k], 1002);
		ck_assert_msg(!i.failing && !i.dead, "address %zu shares a's failure", k);
	}
	ck_assert_uint_eq(info(&six, 1002).srtt_ms, 77);
	ck_assert(info(&six, 1002).known);
	ck_assert(!info(&six_port, 1002).known);
	ck_assert_uint_eq(info(&six_port, 1002).srtt_ms, 400);
}
END_TEST

/* More servers than the table holds (4096 slots): nothing breaks, the servers used last
 * keep their state, and a forgotten server starts again from the initial guess. */
START_TEST(test_table_pressure)
{
	make(1, 100000);
	enum { N = 10000 };
	uint64_t now = 1000;
	for (unsigned k = 0; k < N; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", k >> 16 & 255, k >> 8 & 255, k & 255);
		struct sockaddr_storage s = v4(ip, 53);
		cn__nsel_report_rtt(ns, &s, 1 + k % 500, now++);
	}
	unsigned kept = 0;
	for (unsigned k = N - 64; k < N; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", k >> 16 & 255, k >> 8 & 255, k & 255);
		struct sockaddr_storage s = v4(ip, 53);
		cn_nsel_info_t i = info(&s, now);
		if (i.known) {
			ck_assert_uint_eq(i.srtt_ms, 1 + k % 500);
			kept++;
		}
	}
	ck_assert_uint_eq(kept, 64);
	/* the oldest were overwritten: at most 4096 of the 10000 are still known (info()
	 * claims a slot for an unknown server, so count from the newest down), and the very
	 * first one starts again from the initial guess */
	unsigned known = 0;
	for (unsigned k = N; k-- > 0;) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", k >> 16 & 255, k >> 8 & 255, k & 255);
		struct sockaddr_storage s = v4(ip, 53);
		known += info(&s, now).known;
	}
	ck_assert_uint_le(known, 4096);
	ck_assert_uint_ge(known, 64);
	struct sockaddr_storage first = v4("10.0.0.0", 53);
	cn_nsel_info_t i = info(&first, now);
	ck_assert(!i.known);
	ck_assert_uint_eq(i.srtt_ms, 400);
}
END_TEST

/* The control tool's walk (cn__nsel_walk): every entry held, with its info, and nothing
 * created or changed by walking. */
typedef struct walked {
	struct sockaddr_storage addr[8];
	cn_nsel_info_t info[8];
	size_t n;
} walked_t;

static void walk_cb(void *arg, const struct sockaddr_storage *addr, const cn_nsel_info_t *info)
{
	walked_t *w = arg;
	ck_assert_uint_lt(w->n, 8);
	w->addr[w->n] = *addr;
	w->info[w->n++] = *info;
}

static const cn_nsel_info_t *walked_find(const walked_t *w, const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < w->n; i++)
		if (memcmp(&w->addr[i], a, sizeof(*a)) == 0)
			return &w->info[i];
	return NULL;
}

START_TEST(test_walk)
{
	make(200, 3000);
	walked_t w = { .n = 0 };
	ck_assert_uint_eq(cn__nsel_walk(ns, 1000, walk_cb, &w), 0);
	struct sockaddr_storage a = v4("192.0.2.1", 53), b = v4("192.0.2.2", 53),
				c = v6("2001:db8::1", 5353);
	cn__nsel_report_rtt(ns, &a, 100, 1000);
	cn__nsel_report_error(ns, &b, CN_NSEL_TIMEOUT, 1000); /* window 5 s: until 6000 */
	cn__nsel_report_error(ns, &b, CN_NSEL_TIMEOUT, 1001); /* silent twice: 10 s, 11001 */
	cn__nsel_set_no_edns(ns, &c, 1000);
	ck_assert_uint_eq(cn__nsel_walk(ns, 2000, walk_cb, &w), 3);
	ck_assert_uint_eq(w.n, 3);
	const cn_nsel_info_t *ia = walked_find(&w, &a), *ib = walked_find(&w, &b),
			     *ic = walked_find(&w, &c);
	ck_assert_ptr_nonnull(ia);
	ck_assert_ptr_nonnull(ib);
	ck_assert_ptr_nonnull(ic);
	ck_assert(ia->known && !ia->failing && !ia->dead && !ia->no_edns);
	ck_assert_uint_eq(ia->srtt_ms, 100);
	ck_assert_uint_eq(ia->rttvar_ms, 50);
	ck_assert_uint_eq(ia->replies, 1);
	ck_assert_uint_eq(ia->failures, 0);
	ck_assert(ib->failing && ib->dead);
	ck_assert_uint_eq(ib->failures, 2);
	ck_assert_uint_eq(ib->fails, 2);
	ck_assert_uint_eq(ib->silent, 2);
	ck_assert_uint_eq(ib->fail_left_ms, 9001);
	ck_assert(ic->no_edns && !ic->known && !ic->no_0x20);
	ck_assert_uint_eq(ic->fail_left_ms, 0);
	/* Walking created and refreshed nothing: still the three entries. */
	w.n = 0;
	ck_assert_uint_eq(cn__nsel_walk(ns, 12000, walk_cb, &w), 3);
	ib = walked_find(&w, &b);
	ck_assert(!ib->failing && !ib->dead && ib->retry_due); /* window over at 11001 */
	ck_assert_uint_eq(ib->fail_left_ms, 0);
}
END_TEST

/* ------------------------------------------------------------------ lock counters -- */

/* A walk that holds the lock (its callback runs under it) until the main thread is about
 * to take it, then a little longer, so the main thread's try finds it held. */
typedef struct holder {
	atomic_int state; /* 0 idle, 1 the walk holds the lock, 2 main is about to lock */
} holder_t;

static void nap_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void hold_cb(void *arg, const struct sockaddr_storage *addr, const cn_nsel_info_t *info)
{
	(void)addr;
	(void)info;
	holder_t *h = arg;
	atomic_store(&h->state, 1);
	for (int i = 0; i < 5000 && atomic_load(&h->state) != 2; i++)
		nap_ms(1);
	nap_ms(100);
}

static void *hold_thread(void *arg)
{
	cn__nsel_walk(ns, 1000, hold_cb, arg);
	return NULL;
}

static cn_engine_stats_t lock_stats(void)
{
	cn_engine_stats_t s;
	memset(&s, 0, sizeof(s));
	cn__nsel_stats(ns, &s);
	return s;
}

START_TEST(test_lock_counters)
{
	make(200, 3000);
	struct sockaddr_storage a = v4("192.0.2.1", 53);
	cn_engine_stats_t s = lock_stats();
	ck_assert_uint_eq(s.nsel_locks, 0);
	cn__nsel_report_rtt(ns, &a, 100, 1000);
	(void)info(&a, 1000);
	s = lock_stats();
	ck_assert_uint_eq(s.nsel_locks, 2); /* one per call, uncontended */
	ck_assert_uint_eq(s.nsel_lock_contended, 0);

	/* Another thread holds the lock while this one takes it: counted as contended. (The
	 * holder waits until this thread is about to lock, then 100 ms more; should this
	 * thread still come late, the try is made again, at most 5 times.) */
	unsigned tries = 0;
	while (tries < 5 && lock_stats().nsel_lock_contended == 0) {
		holder_t h = { .state = 0 };
		pthread_t t;
		ck_assert_int_eq(pthread_create(&t, NULL, hold_thread, &h), 0);
		while (atomic_load(&h.state) != 1)
			nap_ms(1);
		atomic_store(&h.state, 2);
		cn_nsel_info_t i = info(&a, 1000);
		ck_assert(i.known);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		tries++;
	}
	s = lock_stats();
	ck_assert_uint_eq(s.nsel_lock_contended, 1);
	ck_assert_uint_eq(s.nsel_locks, 2 + 2 * tries); /* a walk and a lookup per try */
}
END_TEST

static Suite *nsel_suite(void)
{
	Suite *s = suite_create("nsel");
	TCase *tc = tcase_create("abuse");
	tcase_add_test(tc, test_abuse);
	tcase_add_checked_fixture(tc, NULL, teardown);
	suite_add_tcase(s, tc);
	tc = tcase_create("core");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_srtt_table, 0, sizeof(rtt_cases) / sizeof(rtt_cases[0]));
	tcase_add_test(tc, test_timeout_clamps);
	tcase_add_test(tc, test_backoff_timeouts);
	tcase_add_test(tc, test_backoff_clamped);
	tcase_add_test(tc, test_lame_backoff);
	tcase_add_test(tc, test_failure_window);
	tcase_add_test(tc, test_silent_window_growth);
	tcase_add_test(tc, test_dead_and_probe);
	tcase_add_test(tc, test_not_dead_when_answering);
	tcase_add_test(tc, test_no_edns_mark);
	tcase_add_test(tc, test_case_failures);
	tcase_add_test(tc, test_addresses_apart);
	tcase_add_test(tc, test_table_pressure);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_lock_counters);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(nsel_suite());
}
