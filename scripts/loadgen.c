/*
 * loadgen: a lean UDP DNS load generator for scripts/bench. dnsperf saturates its own core
 * near 110k queries/s, below what a resolver serves from cache on one core, so this client
 * does as little per query as it can: the wire form of every name is built once, queries
 * leave in sendmmsg batches and replies arrive in recvmmsg batches on a few connected
 * sockets, and each query is timed from its batch's send to its batch's receive.
 *
 * What a latency here is: from just before the sendmmsg that carried the query to the
 * return of the recvmmsg that read the reply (default), or, with -K, to the kernel's
 * receive timestamp of the reply (SO_TIMESTAMPNS: when the reply reached this client's
 * socket), so the client's own work and scheduling after that point (reading other
 * sockets, its next send batch) do not count; then both ends are CLOCK_REALTIME readings.
 * In both, the server's wake-up (an idle server sleeps in epoll or recvmmsg) and both
 * directions of the loopback count: what a client on this host would see.
 *
 * Modes: closed loop (default: keep -w queries outstanding), or open loop at -r queries/s
 * (outstanding capped at -w; when the client falls behind by more than a batch, e.g. it
 * was not scheduled, the schedule slips instead of sending a burst). Names come from a file of "NAME TYPE" lines (dnsperf's
 * format) and are asked in order (cycling), uniformly at random (-u), or Zipf-distributed
 * over the line order (-z S, rank 1 = first line). Every run is bounded by a query count
 * (-n) and by time (-t); queries unanswered after -T ms count as lost.
 *
 * Output: one JSON object on stdout (counts, rcodes, qps, latency percentiles in µs).
 *
 * usage: loadgen -s ADDR[@PORT] -f FILE [-n COUNT] [-t SECONDS] [-w WINDOW] [-S SOCKETS]
 *                [-T TIMEOUT_MS] [-r QPS] [-z S | -u] [-E] [-D] [-K] [-x SEED]
 *
 * -E: no OPT record; -D: the DNSSEC OK bit set in the OPT record (RFC 3225).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64            /* datagrams per sendmmsg / recvmmsg */
#define MAX_SOCKETS 16
#define IDS 65536           /* DNS IDs per socket */
#define QMAX 300            /* header + name + type/class + OPT */
#define HIST_US 200000      /* latency histogram: 1 µs buckets up to 200 ms */
#define RBUF 4096           /* reply slot (larger replies are counted, content ignored) */
#define ORDER (1u << 20)    /* send-order ring per socket; when full the oldest is lost */

typedef struct query {
	uint16_t len;
	uint8_t wire[QMAX];
} query_t;

typedef struct slot {
	uint64_t sent_ns;   /* 0: free */
	uint32_t name;      /* index of the name asked */
} slot_t;

typedef struct sent {
	uint64_t sent_ns;
	uint16_t id;
} sent_t;

typedef struct sock {
	int fd;
	slot_t *slots;      /* by DNS ID */
	uint16_t *fifo;     /* free IDs, reused oldest first (a late reply cannot match) */
	uint32_t head, count;
	sent_t *order;      /* queries in send order, for timeouts (answered ones skipped) */
	uint32_t ohead, ocount;
} sock_t;

static query_t *queries;
static size_t nqueries;
static uint64_t hist[HIST_US + 1];
static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static clockid_t clock_id = CLOCK_MONOTONIC; /* -K: CLOCK_REALTIME, the timestamps' clock */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(clock_id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int type_code(const char *t)
{
	static const struct { const char *n; int v; } types[] = {
		{ "A", 1 }, { "NS", 2 }, { "CNAME", 5 }, { "SOA", 6 }, { "PTR", 12 },
		{ "MX", 15 }, { "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 }, { "ANY", 255 },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(t, types[i].n) == 0)
			return types[i].v;
	if (strncasecmp(t, "TYPE", 4) == 0)
		return atoi(t + 4);
	return -1;
}

static bool dnssec_ok; /* -D: DO=1 in the OPT record */

/* Header (ID filled at send), RD=1, one question, optionally OPT with 1232 bytes (and
 * DO=1 with -D). */
static int build_query(const char *name, int type, bool edns, query_t *q)
{
	uint8_t *p = q->wire;
	memset(p, 0, 12);
	p[2] = 0x01; /* RD */
	p[5] = 1;    /* QDCOUNT */
	p[11] = edns ? 1 : 0;
	size_t pos = 12;
	const char *s = name;
	while (*s && !(s[0] == '.' && s[1] == '\0')) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		if (l == 0 || l > 63 || pos + 1 + l + 16 > QMAX)
			return -1;
		p[pos++] = (uint8_t)l;
		memcpy(p + pos, s, l);
		pos += l;
		s += l + (dot ? 1 : 0);
	}
	p[pos++] = 0;
	p[pos++] = (uint8_t)(type >> 8);
	p[pos++] = (uint8_t)type;
	p[pos++] = 0;
	p[pos++] = 1; /* IN */
	if (edns) {
		static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };
		memcpy(p + pos, opt, sizeof(opt));
		if (dnssec_ok)
			p[pos + 7] = 0x80; /* the OPT TTL's flags: DO */
		pos += sizeof(opt);
	}
	q->len = (uint16_t)pos;
	return 0;
}

static int load_names(const char *path, bool edns)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 1024;
	queries = malloc(cap * sizeof(*queries));
	char line[512], name[300], type[32];
	while (queries && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%299s %31s", name, type) < 1 || name[0] == '#')
			continue;
		int t = type_code(type[0] ? type : "A");
		if (t <= 0 || nqueries == cap) {
			if (t <= 0)
				continue;
			cap *= 2;
			query_t *n = realloc(queries, cap * sizeof(*queries));
			if (!n)
				break;
			queries = n;
		}
		if (build_query(name, t, edns, &queries[nqueries]) == 0)
			nqueries++;
		type[0] = '\0';
	}
	fclose(f);
	return nqueries ? 0 : -1;
}

/* Zipf over ranks 1..n with exponent s: the cumulative distribution, searched per draw. */
static double *zipf_cdf;

static void zipf_init(size_t n, double s)
{
	zipf_cdf = malloc(n * sizeof(double));
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += 1.0 / pow((double)(i + 1), s);
	double acc = 0;
	for (size_t i = 0; i < n; i++) {
		acc += 1.0 / pow((double)(i + 1), s) / sum;
		zipf_cdf[i] = acc;
	}
	zipf_cdf[n - 1] = 1.0;
}

static size_t zipf_draw(size_t n)
{
	double u = (double)(rnd() >> 11) / 9007199254740992.0;
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	int port = 53;
	snprintf(host, sizeof(host), "%s", s);
	char *at = strrchr(host, '@');
	if (at) {
		*at = '\0';
		port = atoi(at + 1);
	}
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static int sock_open(sock_t *k, const struct sockaddr_storage *to, socklen_t tolen)
{
	k->fd = socket(to->ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (k->fd < 0 || connect(k->fd, (const struct sockaddr *)to, tolen) != 0)
		return -1;
	int buf = 4 << 20, one = 1;
	if (clock_id == CLOCK_REALTIME &&
	    setsockopt(k->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) != 0)
		return -1;
	setsockopt(k->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(k->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	k->slots = calloc(IDS, sizeof(*k->slots));
	k->fifo = malloc(IDS * sizeof(*k->fifo));
	k->order = malloc(ORDER * sizeof(*k->order));
	if (!k->slots || !k->fifo || !k->order)
		return -1;
	uint16_t start = (uint16_t)rnd();
	for (uint32_t i = 0; i < IDS; i++)
		k->fifo[i] = (uint16_t)(start + i);
	k->count = IDS;
	return 0;
}

typedef struct stats {
	uint64_t sent, received, lost, mismatched, truncated;
	uint64_t rcode[16];
} stats_t;

static void record(uint64_t ns)
{
	uint64_t us = ns / 1000;
	hist[us < HIST_US ? us : HIST_US]++;
}

static double percentile(double p, uint64_t total)
{
	if (total == 0)
		return 0;
	uint64_t want = (uint64_t)ceil(p * (double)total), acc = 0;
	if (want == 0)
		want = 1;
	for (size_t i = 0; i <= HIST_US; i++) {
		acc += hist[i];
		if (acc >= want)
			return (double)i;
	}
	return HIST_US;
}

/* -K: the kernel's receive timestamp of a reply; otherwise (or if absent) fallback. */
static uint64_t rx_time(struct msghdr *h, uint64_t fallback)
{
	if (clock_id != CLOCK_REALTIME)
		return fallback;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		}
	return fallback;
}

static void release_id(sock_t *k, uint16_t id)
{
	k->slots[id].sent_ns = 0;
	k->fifo[(k->head + k->count) % IDS] = id;
	k->count++;
}

/* Is the query of this send-order entry still unanswered? */
static bool pending(const sock_t *k, const sent_t *e)
{
	return k->slots[e->id].sent_ns == e->sent_ns;
}

/* Drop timed-out queries: the send-order ring is oldest first. With force, drop the
 * oldest entry whatever its age (the ring is full). Returns the queries lost. */
static uint64_t expire(sock_t *k, uint64_t now, uint64_t timeout_ns, bool force)
{
	uint64_t lost = 0;
	while (k->ocount) {
		const sent_t *e = &k->order[k->ohead];
		if (pending(k, e)) {
			if (!force && now - e->sent_ns < timeout_ns)
				break;
			lost++;
			release_id(k, e->id);
		}
		k->ohead = (k->ohead + 1) % ORDER;
		k->ocount--;
		if (force)
			break;
	}
	return lost;
}

int main(int argc, char **argv)
{
	const char *server = NULL, *file = NULL;
	uint64_t count = 1000000;
	double seconds = 10, rate = 0, zipf_s = 0;
	unsigned window = 100, nsocks = 1, timeout_ms = 1000;
	bool uniform = false, edns = true;
	int ch;
	while ((ch = getopt(argc, argv, "s:f:n:t:w:S:T:r:z:uEDKx:")) != -1) {
		switch (ch) {
		case 's': server = optarg; break;
		case 'f': file = optarg; break;
		case 'n': count = strtoull(optarg, NULL, 10); break;
		case 't': seconds = atof(optarg); break;
		case 'w': window = (unsigned)atoi(optarg); break;
		case 'S': nsocks = (unsigned)atoi(optarg); break;
		case 'T': timeout_ms = (unsigned)atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'z': zipf_s = atof(optarg); break;
		case 'u': uniform = true; break;
		case 'E': edns = false; break;
		case 'D': dnssec_ok = true; break;
		case 'K': clock_id = CLOCK_REALTIME; break;
		case 'x': rng = strtoull(optarg, NULL, 0) | 1; break;
		default:
			fprintf(stderr, "usage: loadgen -s ADDR[@PORT] -f FILE [-n COUNT] [-t SECONDS]"
					" [-w WINDOW] [-S SOCKETS] [-T TIMEOUT_MS] [-r QPS] [-z S|-u]"
					" [-E] [-D] [-K] [-x SEED]\n");
			return 2;
		}
	}
	struct sockaddr_storage to;
	socklen_t tolen;
	if (!server || !file || parse_addr(server, &to, &tolen) != 0 || window == 0 ||
	    nsocks == 0 || nsocks > MAX_SOCKETS || seconds <= 0 || seconds > 3600) {
		fprintf(stderr, "loadgen: need -s ADDR[@PORT] and -f FILE; 1 <= -S <= %d;"
				" 0 < -t <= 3600\n", MAX_SOCKETS);
		return 2;
	}
	if (window > (IDS / 2) * nsocks)
		window = (IDS / 2) * nsocks;
	if (load_names(file, edns) != 0) {
		fprintf(stderr, "loadgen: no usable names in %s\n", file);
		return 2;
	}
	if (zipf_s > 0)
		zipf_init(nqueries, zipf_s);

	sock_t socks[MAX_SOCKETS];
	memset(socks, 0, sizeof(socks));
	for (unsigned i = 0; i < nsocks; i++)
		if (sock_open(&socks[i], &to, tolen) != 0) {
			perror("loadgen: socket");
			return 1;
		}

	static uint8_t rbuf[BATCH][RBUF];
	static uint8_t cbuf[BATCH][CMSG_SPACE(sizeof(struct timespec))];
	static query_t sbuf[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	stats_t st;
	memset(&st, 0, sizeof(st));
	uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000u;
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), last_rx = t0;
	uint64_t outstanding = 0, next_name = 0, skipped = 0;
	unsigned turn = 0;

	for (;;) {
		uint64_t now = now_ns();
		bool sending = st.sent < count && now < end;
		if (!sending && outstanding == 0)
			break;
		if (now >= end + timeout_ns) /* the last queries had their full timeout */
			break;
		/* Send: fill the window (closed loop) or catch up with the schedule (open). */
		uint64_t want = 0;
		if (sending) {
			want = window > outstanding ? window - outstanding : 0;
			if (rate > 0) {
				/* Behind schedule by more than a batch (we were not running): let
				 * the schedule slip rather than burst, which would measure the
				 * server's socket buffer, not its latency. */
				uint64_t due = (uint64_t)((double)(now - t0) * rate / 1e9) - skipped;
				if (due > st.sent + BATCH) {
					skipped += due - st.sent - BATCH;
					due = st.sent + BATCH;
				}
				due = due > st.sent ? due - st.sent : 0;
				if (due < want)
					want = due;
			}
			if (want > count - st.sent)
				want = count - st.sent;
		}
		bool progress = false;
		while (want > 0) {
			sock_t *k = &socks[turn++ % nsocks];
			unsigned n = 0;
			while (n < BATCH && n < want && k->count > 0) {
				size_t qi = zipf_s > 0 ? zipf_draw(nqueries)
					    : uniform  ? rnd() % nqueries
						       : next_name++ % nqueries;
				uint16_t id = k->fifo[k->head];
				k->head = (k->head + 1) % IDS;
				k->count--;
				sbuf[n] = queries[qi];
				sbuf[n].wire[0] = (uint8_t)(id >> 8);
				sbuf[n].wire[1] = (uint8_t)id;
				k->slots[id].sent_ns = now;
				k->slots[id].name = (uint32_t)qi;
				if (k->ocount == ORDER) {
					uint64_t lost = expire(k, now, timeout_ns, true);
					st.lost += lost;
					outstanding -= lost;
				}
				k->order[(k->ohead + k->ocount) % ORDER] =
					(sent_t){ .sent_ns = now, .id = id };
				k->ocount++;
				iov[n].iov_base = sbuf[n].wire;
				iov[n].iov_len = sbuf[n].len;
				memset(&msgs[n].msg_hdr, 0, sizeof(msgs[n].msg_hdr));
				msgs[n].msg_hdr.msg_iov = &iov[n];
				msgs[n].msg_hdr.msg_iovlen = 1;
				n++;
			}
			if (n == 0)
				break;
			int r = sendmmsg(k->fd, msgs, n, 0);
			unsigned done = r > 0 ? (unsigned)r : 0;
			/* Unsent ones (socket buffer full): give their IDs back, newest first. */
			for (unsigned i = n; i > done; i--) {
				uint16_t id = (uint16_t)(sbuf[i - 1].wire[0] << 8 | sbuf[i - 1].wire[1]);
				k->slots[id].sent_ns = 0;
				k->head = (k->head + IDS - 1) % IDS;
				k->fifo[k->head] = id;
				k->count++;
				k->ocount--;
			}
			st.sent += done;
			outstanding += done;
			want -= done < want ? done : want;
			if (done)
				progress = true;
			if (done < n)
				break;
		}
		/* Receive whatever is there on every socket. */
		for (unsigned s = 0; s < nsocks; s++) {
			sock_t *k = &socks[s];
			for (;;) {
				for (unsigned i = 0; i < BATCH; i++) {
					iov[i].iov_base = rbuf[i];
					iov[i].iov_len = RBUF;
					memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
					msgs[i].msg_hdr.msg_iov = &iov[i];
					msgs[i].msg_hdr.msg_iovlen = 1;
					if (clock_id == CLOCK_REALTIME) {
						msgs[i].msg_hdr.msg_control = cbuf[i];
						msgs[i].msg_hdr.msg_controllen = sizeof(cbuf[i]);
					}
				}
				int r = recvmmsg(k->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
				if (r <= 0)
					break;
				uint64_t rt = now_ns();
				last_rx = rt;
				progress = true;
				for (int i = 0; i < r; i++) {
					size_t len = msgs[i].msg_len;
					const uint8_t *p = rbuf[i];
					if (len < 12) {
						st.mismatched++;
						continue;
					}
					uint16_t id = (uint16_t)(p[0] << 8 | p[1]);
					slot_t *sl = &k->slots[id];
					const query_t *q = &queries[sl->name];
					/* the question must be the one sent with this ID */
					size_t qlen = q->len - (edns ? 11u : 0u) - 12;
					if (!sl->sent_ns || !(p[2] & 0x80) || len < 12 + qlen ||
					    memcmp(p + 12, q->wire + 12, qlen) != 0) {
						st.mismatched++;
						continue;
					}
					record(rx_time(&msgs[i].msg_hdr, rt) - sl->sent_ns);
					st.received++;
					st.rcode[p[3] & 0xf]++;
					if (p[2] & 0x02)
						st.truncated++;
					outstanding--;
					release_id(k, id);
				}
				if (r < BATCH)
					break;
			}
			uint64_t lost = expire(k, now_ns(), timeout_ns, false);
			st.lost += lost;
			outstanding -= lost;
		}
		if (!progress) {
			/* Nothing to do: wait for a reply, or until the schedule wants a send. */
			struct pollfd pfd[MAX_SOCKETS];
			for (unsigned s = 0; s < nsocks; s++)
				pfd[s] = (struct pollfd){ .fd = socks[s].fd, .events = POLLIN };
			poll(pfd, nsocks, rate > 0 ? 0 : 1); /* open loop: keep to the schedule */
		}
	}
	/* QPS over the time replies were arriving (not the wait for the lost ones). */
	double elapsed = (double)(last_rx - t0) / 1e9;
	printf("{\"sent\": %llu, \"received\": %llu, \"lost\": %llu, \"mismatched\": %llu, "
	       "\"truncated\": %llu, \"noerror\": %llu, \"servfail\": %llu, \"nxdomain\": %llu, "
	       "\"refused\": %llu, \"elapsed_s\": %.3f, \"qps\": %.0f, \"loss\": %.5f, "
	       "\"p50_us\": %.0f, \"p90_us\": %.0f, \"p99_us\": %.0f, \"p999_us\": %.0f}\n",
	       (unsigned long long)st.sent, (unsigned long long)st.received,
	       (unsigned long long)st.lost, (unsigned long long)st.mismatched,
	       (unsigned long long)st.truncated, (unsigned long long)st.rcode[0],
	       (unsigned long long)st.rcode[2], (unsigned long long)st.rcode[3],
	       (unsigned long long)st.rcode[5], elapsed,
	       elapsed > 0 ? (double)st.received / elapsed : 0.0,
	       st.sent ? (double)st.lost / (double)st.sent : 0.0,
	       percentile(0.50, st.received), percentile(0.90, st.received),
	       percentile(0.99, st.received), percentile(0.999, st.received));
	for (unsigned i = 0; i < nsocks; i++)
		close(socks[i].fd);
	return 0;
}
