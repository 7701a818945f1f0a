/*
 * The cache-hit path allocates nothing (DESIGN.md "Performance rules"): a real worker on a
 * real loop, a cache filled by hand, and clients on loopback sending batches of queries
 * that are all cache hits (positive, CNAME chain, NXDOMAIN, NODATA, with and without EDNS,
 * over UDP and pipelined over TCP). After a warm-up round, every allocation made while the
 * loop serves the measured rounds is counted — through the sanitizer's allocation hook in
 * the ASan build (scripts/test), through malloc/calloc/realloc interposed here otherwise —
 * and the count must stay 0. The replies are checked too (ID, RCODE, answer count), so a
 * path that answered nothing would not pass for an allocation-free one.
 *
 * No ck_assert inside a counted window: in fork mode every Check assertion sends its
 * location to the parent, and that allocates. Problems are tallied in `bad` and asserted
 * once counting has stopped.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cache/cache.h"
#include "net/config.h"
#include "net/worker.h"
#include "resolver/internal.h"
#include "resolver/resolver.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------------------ counting -------- */

static atomic_bool counting;
static atomic_ulong allocs;
static unsigned long bad; /* wrong or missing replies seen while counting */
static const char *bad_what = "";

#define EXPECT(cond)                          \
	do {                                  \
		if (!(cond)) {                \
			bad++;                \
			bad_what = #cond;     \
		}                             \
	} while (0)

#if defined(__SANITIZE_ADDRESS__)
/* sanitizer/allocator_interface.h (not shipped with gcc 12's headers) */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
					      void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add(&allocs, 1);
}

static void on_free(const volatile void *p)
{
}

static void hooks_install(void)
{
	__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
/* glibc's own entry points; ours take precedence over libc's for every caller (libuv too). */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);

static void count(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add(&allocs, 1);
}

void *malloc(size_t n)
{
	count();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	count();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	count();
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	count();
	return __libc_memalign(align, n);
}

static void hooks_install(void)
{
}
#endif

/* ------------------------------------------------------------------ fixture --------- */

static cn_config_t cfg;
static cn_cache_t *cache;
static cn_engine_t *engine;
static uv_loop_t loop;
static cn_worker_t *worker;
static uint16_t port;

static void insert_rrset(const uint8_t *name, size_t nlen, uint16_t type, const uint8_t *rdata,
			 uint16_t rdlen)
{
	cn_rr_t rr = { .owner = name, .rdata = rdata, .ttl = 3600, .type = type,
		       .rclass = CN_CLASS_IN, .rdlen = rdlen, .section = CN_SECTION_ANSWER };
	const cn_rr_t *set[1] = { &rr };
	uint8_t val[512];
	int n = cn__value_encode_rrset(set, 1, val, sizeof(val));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(cn_cache_insert(cache, name, nlen, type, CN_CLASS_IN, CN_CACHE_RRSET,
					 CN_RANK_AUTH_ANSWER, 3600, (uint64_t)time(NULL), val,
					 (size_t)n), 0);
}

static const uint8_t zone[] = "\7example\3com";
static const uint8_t soa_rdata[] = "\3ns1\7example\3com\0\12hostmaster\7example\3com\0"
				   "\0\0\0\1\0\0\x0e\x10\0\0\x02\x58\0\1\x51\x80\0\0\0\x3c";

static void insert_negative(const uint8_t *name, size_t nlen, uint16_t type,
			    cn_cache_kind_t kind)
{
	cn_rr_t soa = { .owner = zone, .rdata = soa_rdata, .ttl = 60, .type = CN_TYPE_SOA,
			.rclass = CN_CLASS_IN, .rdlen = sizeof(soa_rdata) - 1,
			.section = CN_SECTION_AUTHORITY };
	uint8_t val[512];
	int n = cn__value_encode_neg(&soa, val, sizeof(val));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(cn_cache_insert(cache, name, nlen, type, CN_CLASS_IN, kind,
					 CN_RANK_AUTH_ANSWER, 3600, (uint64_t)time(NULL), val,
					 (size_t)n), 0);
}

static const uint8_t www[] = "\3www\7example\3com";
static const uint8_t alias[] = "\5alias\7example\3com";
static const uint8_t nope[] = "\4nope\7example\3com";

static void setup(void)
{
	hooks_install();
	/* A miss must never leave the machine: one root hint on loopback, where nothing listens
	 * (port 9, discard), instead of the compiled-in IANA list. */
	static cn_hint_t hint = { .name = "\1a\14root-servers\3net", .naddr = 1 };
	struct sockaddr_in *h4 = (struct sockaddr_in *)&hint.addr[0];
	h4->sin_family = AF_INET;
	h4->sin_port = htons(9);
	h4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cn_engine_conf_t ec;
	cn_engine_conf_default(&ec);
	ec.dnssec.enabled = false; /* an unsigned scripted tree */
	ec.random = arc4random_buf;
	ec.prefetch = false;
	ec.hints = &hint;
	ec.nhints = 1;
	ec.allow_loopback_upstream = true;
	ck_assert_int_eq(cn_config_init(&cfg, &ec), 0);
	cn_cache_conf_t cc = cfg.cache;
	cc.budget_bytes = 4u << 20;
	arc4random_buf(cc.hash_key, sizeof(cc.hash_key));
	ck_assert_int_eq(cn_cache_new(&cc, &cache), 0);
	ck_assert_int_eq(cn_engine_new(&ec, cache, &engine), 0);

	static const uint8_t a[4] = { 192, 0, 2, 1 };
	insert_rrset(www, sizeof(www), CN_TYPE_A, a, 4);
	insert_rrset(alias, sizeof(alias), CN_TYPE_CNAME, www, sizeof(www));
	insert_negative(nope, sizeof(nope), CN_CACHE_TYPE_NXDOMAIN, CN_CACHE_NXDOMAIN);
	insert_negative(www, sizeof(www), CN_TYPE_TXT, CN_CACHE_NODATA);

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(cn_worker_new(&loop, &cfg, engine, &worker), 0);
	int rc = -1;
	for (int tries = 0; tries < 50 && rc != 0; tries++) {
		port = (uint16_t)(20000 + arc4random_uniform(30000));
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = cn_worker_listen(worker, (const struct sockaddr *)&sa, false, NULL);
	}
	ck_assert_int_eq(rc, 0);
}

static void teardown(void)
{
	cn_worker_stop(worker);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	cn_worker_free(worker);
	cn_engine_free(engine);
	cn_cache_free(cache);
	cn_config_deinit(&cfg);
}

/* ------------------------------------------------------------------ clients --------- */

typedef struct kind {
	const uint8_t *name;
	size_t nlen;
	uint16_t type;
	bool edns;
	uint8_t rcode;
	uint16_t ancount;
} kind_t;

static const kind_t kinds[] = {
	{ www, sizeof(www), CN_TYPE_A, false, 0, 1 },
	{ www, sizeof(www), CN_TYPE_A, true, 0, 1 },
	{ alias, sizeof(alias), CN_TYPE_A, true, 0, 2 },      /* CNAME chain through the cache */
	{ nope, sizeof(nope), CN_TYPE_A, true, 3, 0 },        /* NXDOMAIN */
	{ www, sizeof(www), CN_TYPE_TXT, false, 0, 0 },       /* NODATA */
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static size_t make_query(uint16_t id, const kind_t *k, uint8_t *out)
{
	memset(out, 0, 12);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	out[2] = 0x01; /* RD */
	out[5] = 1;
	out[11] = k->edns ? 1 : 0;
	size_t pos = 12;
	memcpy(out + pos, k->name, k->nlen);
	pos += k->nlen;
	out[pos++] = (uint8_t)(k->type >> 8);
	out[pos++] = (uint8_t)k->type;
	out[pos++] = 0;
	out[pos++] = 1;
	if (k->edns) {
		static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };
		memcpy(out + pos, opt, sizeof(opt));
		pos += sizeof(opt);
	}
	return pos;
}

static void check_reply(const uint8_t *r, size_t len, uint16_t id)
{
	const kind_t *k = &kinds[id % NKINDS];
	EXPECT(len >= 12);
	EXPECT((r[2] & 0x80) == 0x80);
	EXPECT((r[3] & 0x0f) == k->rcode);
	EXPECT((unsigned)(r[6] << 8 | r[7]) == k->ancount);
}

static int client_socket(int type)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	ck_assert(rc == 0 || errno == EINPROGRESS);
	return fd;
}

/* Run the loop until fd is readable. false after 5 s. */
static bool serve_until_readable(int fd)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		uv_run(&loop, UV_RUN_NOWAIT);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 1) == 1)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 5)
			return false;
	}
}

#define BATCH 16

/* One UDP round: BATCH queries in one sendmmsg, every reply read back and checked. */
static void udp_round(int fd, uint16_t first_id)
{
	static uint8_t q[BATCH][300], r[BATCH][1500];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	for (int i = 0; i < BATCH; i++) {
		uint16_t id = (uint16_t)(first_id + i);
		iov[i] = (struct iovec){ q[i], make_query(id, &kinds[id % NKINDS], q[i]) };
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	EXPECT(sendmmsg(fd, m, BATCH, 0) == BATCH);
	int got = 0;
	while (got < BATCH) {
		if (!serve_until_readable(fd)) {
			EXPECT(!"a reply within 5 s");
			return;
		}
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ r[i], sizeof(r[i]) };
			m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		int n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			uint16_t id = (uint16_t)(r[i][0] << 8 | r[i][1]);
			EXPECT((uint16_t)(id - first_id) < BATCH);
			check_reply(r[i], m[i].msg_len, id);
		}
		got += n > 0 ? n : 0;
	}
}

/* One TCP round: BATCH pipelined queries in one write, every framed reply read back. */
static void tcp_round(int fd, uint16_t first_id)
{
	static uint8_t buf[BATCH * 302], in[BATCH * 1502];
	size_t len = 0;
	for (int i = 0; i < BATCH; i++) {
		uint16_t id = (uint16_t)(first_id + i);
		size_t n = make_query(id, &kinds[id % NKINDS], buf + len + 2);
		buf[len] = (uint8_t)(n >> 8);
		buf[len + 1] = (uint8_t)n;
		len += 2 + n;
	}
	EXPECT(write(fd, buf, len) == (ssize_t)len);
	size_t have = 0, off = 0;
	int got = 0;
	while (got < BATCH) {
		ssize_t n = -1;
		if (serve_until_readable(fd))
			n = read(fd, in + have, sizeof(in) - have);
		if (n <= 0) {
			EXPECT(!"a TCP reply within 5 s");
			return;
		}
		have += (size_t)n;
		while (have - off >= 2) {
			size_t flen = (size_t)(in[off] << 8 | in[off + 1]);
			if (have - off < 2 + flen)
				break;
			uint16_t id = (uint16_t)(in[off + 2] << 8 | in[off + 3]);
			EXPECT((uint16_t)(id - first_id) < BATCH);
			check_reply(in + off + 2, flen, id);
			off += 2 + flen;
			got++;
		}
	}
	EXPECT(off == have);
}

/* ------------------------------------------------------------------ tests ----------- */

#define ROUNDS 200

START_TEST(udp_hits_allocate_nothing)
{
	int fd = client_socket(SOCK_DGRAM);
	udp_round(fd, 0); /* warm-up: lazily made state (libuv, TLS scratch) */
	atomic_store(&allocs, 0);
	atomic_store(&counting, true);
	for (int i = 1; i <= ROUNDS; i++)
		udp_round(fd, (uint16_t)(i * BATCH));
	atomic_store(&counting, false);
	ck_assert_msg(bad == 0, "%lu bad replies (%s)", bad, bad_what);
	ck_assert_msg(atomic_load(&allocs) == 0, "%lu allocations serving %d cache hits",
		      atomic_load(&allocs), ROUNDS * BATCH);
	cn_engine_stats_t st;
	cn_engine_stats(engine, &st);
	ck_assert_uint_eq(st.queries, (ROUNDS + 1) * BATCH);
	ck_assert_uint_eq(st.outcome[CN_OUT_CACHE_POSITIVE] + st.outcome[CN_OUT_CACHE_NEGATIVE],
			  (ROUNDS + 1) * BATCH);
	close(fd);
}
END_TEST

START_TEST(tcp_hits_allocate_nothing)
{
	int fd = client_socket(SOCK_STREAM);
	tcp_round(fd, 0); /* warm-up: accepts the connection, sizes its read buffer */
	atomic_store(&allocs, 0);
	atomic_store(&counting, true);
	for (int i = 1; i <= ROUNDS; i++)
		tcp_round(fd, (uint16_t)(i * BATCH));
	atomic_store(&counting, false);
	ck_assert_msg(bad == 0, "%lu bad replies (%s)", bad, bad_what);
	ck_assert_msg(atomic_load(&allocs) == 0, "%lu allocations serving %d cache hits",
		      atomic_load(&allocs), ROUNDS * BATCH);
	close(fd);
}
END_TEST

/* The counter itself works: a miss (a flight, a request, an upstream socket) allocates. */
START_TEST(counter_sees_a_miss)
{
	int fd = client_socket(SOCK_DGRAM);
	udp_round(fd, 0);
	ck_assert_uint_eq(bad, 0);
	uint8_t q[300];
	static const uint8_t other[] = "\5other\7example\3com";
	kind_t k = { other, sizeof(other), CN_TYPE_A, false, 0, 0 };
	size_t n = make_query(7, &k, q);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n); /* the loop has not read it yet */
	atomic_store(&allocs, 0);
	atomic_store(&counting, true);
	for (int i = 0; i < 200 && atomic_load(&allocs) == 0; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	atomic_store(&counting, false);
	ck_assert_uint_gt(atomic_load(&allocs), 0);
	close(fd);
}
END_TEST

/* The listener reads datagrams of up to 4 KiB: a larger one (a query padded past it) gets
 * no reply and the query after it is still answered; and more queries than one recvmmsg
 * batch (64) waiting at once are all answered. */
START_TEST(udp_oversize_dropped_and_long_bursts_served)
{
	int fd = client_socket(SOCK_DGRAM);
	static uint8_t big[5000];
	size_t n = make_query(9999, &kinds[1], big); /* an ID no round below uses */
	memset(big + n, 0, sizeof(big) - n); /* trailing bytes: the datagram is 5000 long */
	ck_assert_int_eq(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	udp_round(fd, 0); /* every reply's ID must be one of this round's: 9999 is not */
	ck_assert_msg(bad == 0, "%lu bad replies (%s)", bad, bad_what);
	enum { BURST = 150 };
	static uint8_t q[BURST][300], rbuf[1500];
	for (int i = 0; i < BURST; i++) {
		uint16_t id = (uint16_t)(1000 + i);
		size_t len = make_query(id, &kinds[id % NKINDS], q[i]);
		ck_assert_int_eq(send(fd, q[i], len, 0), (ssize_t)len);
	}
	int got = 0;
	while (got < BURST && serve_until_readable(fd)) {
		ssize_t len;
		while ((len = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT)) > 0) {
			uint16_t id = (uint16_t)(rbuf[0] << 8 | rbuf[1]);
			ck_assert_uint_lt((uint16_t)(id - 1000), BURST);
			check_reply(rbuf, (size_t)len, id);
			got++;
		}
	}
	ck_assert_int_eq(got, BURST);
	ck_assert_msg(bad == 0, "%lu bad replies (%s)", bad, bad_what);
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hitpath");
	TCase *tc = tcase_create("hits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, udp_hits_allocate_nothing);
	tcase_add_test(tc, udp_oversize_dropped_and_long_bursts_served);
	tcase_add_test(tc, tcp_hits_allocate_nothing);
	tcase_add_test(tc, counter_sees_a_miss);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(suite());
}
