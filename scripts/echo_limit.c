/*
 * echo_limit: the ceiling scripts/bench compares the resolvers with. A UDP responder that
 * does the least a DNS server can do per query: recvmmsg a batch, turn each query into a
 * reply in place (same ID and question, QR=1 and RA=1 set, RD copied, one A record that
 * points at the question name by compression, no EDNS), sendmmsg the batch back. No cache,
 * no parsing beyond finding the end of the question. What it reaches on a core is what that
 * core can do at all with this kernel and this client; a resolver's ratio to it is the
 * share of that left after its own work. -n N threads (default 1), each with its own
 * SO_REUSEPORT socket (as cairn's workers), blocking I/O.
 *
 * Bounded: it exits after -t seconds (default 3600) or on SIGTERM/SIGINT.
 *
 * -e: also add each socket to an epoll set (EPOLLIN), never waited on. That alone makes
 * the kernel wake the socket's wait queue for every reply it frees (sock_wfree ->
 * sock_def_write_space), which an event-loop server pays while its socket is registered:
 * the difference -e makes is that cost (net/README.md, "busy mode").
 *
 * usage: echo_limit -l ADDR@PORT [-t SECONDS] [-n THREADS] [-e]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUF 512
#define MAX_THREADS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Length of the reply written over q (n bytes) in place, or 0 to drop the datagram. */
static size_t make_reply(uint8_t *q, size_t n)
{
	if (n < 12 || (q[2] & 0x80) || q[4] != 0 || q[5] != 1)
		return 0;
	size_t pos = 12;
	while (pos < n && q[pos] != 0) {
		if (q[pos] > 63)
			return 0;
		pos += 1u + q[pos];
	}
	pos += 5; /* root label, QTYPE, QCLASS */
	if (pos > n || pos + 16 > BUF)
		return 0;
	static const uint8_t a_rr[16] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4,
					  192, 0, 2, 1 };
	q[2] = (uint8_t)(0x80 | (q[2] & 0x01)); /* QR, opcode 0, RD copied */
	q[3] = 0x80;                            /* RA, rcode NOERROR */
	q[6] = 0;
	q[7] = 1; /* ANCOUNT */
	memset(q + 8, 0, 4);
	memcpy(q + pos, a_rr, sizeof(a_rr));
	return pos + sizeof(a_rr);
}

static bool with_epoll;

static int open_socket(const char *spec)
{
	char host[64];
	snprintf(host, sizeof(host), "%s", spec);
	char *at = strchr(host, '@');
	int port = at ? atoi(at + 1) : 53;
	if (at)
		*at = '\0';
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "echo_limit: bad address %s\n", spec);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	int size = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 }; /* to notice stop */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("echo_limit: bind");
		return -1;
	}
	if (with_epoll) {
		int ep = epoll_create1(EPOLL_CLOEXEC); /* kept open until exit */
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			perror("echo_limit: epoll");
			return -1;
		}
	}
	return fd;
}

static double seconds = 3600;

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static _Thread_local uint8_t bufs[BATCH][BUF];
	static _Thread_local struct sockaddr_in peers[BATCH];
	static _Thread_local struct iovec iov[BATCH];
	static _Thread_local struct mmsghdr in[BATCH], out[BATCH];
	time_t end = time(NULL) + (time_t)seconds;
	while (!stop && time(NULL) < end) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = BUF };
			in[i].msg_hdr = (struct msghdr){ .msg_name = &peers[i],
							 .msg_namelen = sizeof(peers[i]),
							 .msg_iov = &iov[i], .msg_iovlen = 1 };
		}
		int got = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
		if (got <= 0)
			continue;
		int k = 0;
		for (int i = 0; i < got; i++) {
			size_t len = make_reply(bufs[i], in[i].msg_len);
			if (len == 0)
				continue;
			iov[i].iov_len = len;
			out[k].msg_hdr = in[i].msg_hdr;
			out[k].msg_hdr.msg_iov = &iov[i];
			k++;
		}
		for (int sent = 0; sent < k;) {
			int r = sendmmsg(fd, out + sent, (unsigned)(k - sent), 0);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				break; /* a full socket buffer: drop the rest, as a server would */
			}
			sent += r;
		}
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *listen = NULL;
	int ch, nthreads = 1;
	while ((ch = getopt(argc, argv, "l:t:n:e")) != -1) {
		if (ch == 'e')
			with_epoll = true;
		else if (ch == 'l')
			listen = optarg;
		else if (ch == 't')
			seconds = atof(optarg);
		else if (ch == 'n')
			nthreads = atoi(optarg);
		else
			listen = NULL, optind = argc;
	}
	if (!listen || seconds <= 0 || nthreads < 1 || nthreads > MAX_THREADS) {
		fprintf(stderr, "usage: echo_limit -l ADDR@PORT [-t SECONDS] [-n 1..%d] [-e]\n",
			MAX_THREADS);
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_t tids[MAX_THREADS];
	int fds[MAX_THREADS];
	for (int i = 0; i < nthreads; i++) /* all bound before any serves */
		if ((fds[i] = open_socket(listen)) < 0)
			return 1;
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], NULL, serve, (void *)(intptr_t)fds[i]) != 0)
			return 1;
	for (int i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	return 0;
}
