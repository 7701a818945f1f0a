/*
 * The query log (net/querylog.h). A line is made from the reply itself (question, RCODE
 * with the EDNS extension, the first Extended DNS Error option, RFC 8914), parsed with the
 * resolver's allocation-free question parser, so the worker hands over only what it sent.
 * Nothing here runs when the log is off: the worker checks cn_querylog_on() first.
 */
#include "net/querylog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "resolver/dname.h"
#include "resolver/wire.h"

#define LINE_MAX_LEN 1536 /* a line: an escaped 255-byte name is at most 1004 bytes */

struct cn_querylog {
	atomic_int fd;        /* -1 until the first open; then never changes (dup2 onto it) */
	atomic_bool on;
	atomic_uint_fast64_t write_errors;
};

int cn_querylog_new(cn_querylog_t **out)
{
	cn_querylog_t *ql = calloc(1, sizeof(*ql));
	if (!ql)
		return -ENOMEM;
	atomic_init(&ql->fd, -1);
	atomic_init(&ql->on, false);
	atomic_init(&ql->write_errors, 0);
	*out = ql;
	return 0;
}

/* Put nfd's file behind ql's descriptor number (the first time, nfd becomes it). */
static int install_fd(cn_querylog_t *ql, int nfd)
{
	int fd = atomic_load(&ql->fd);
	if (fd < 0) {
		atomic_store(&ql->fd, nfd);
		return 0;
	}
	int rc = dup3(nfd, fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(nfd);
	return rc;
}

int cn_querylog_open(cn_querylog_t *ql, const char *path)
{
	if (!path) {
		if (atomic_load(&ql->fd) < 0)
			return 0;
		atomic_store(&ql->on, false);
		int nfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		return nfd < 0 ? -errno : install_fd(ql, nfd);
	}
	int nfd = strcmp(path, "-") == 0
			  ? fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)
			  : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (nfd < 0)
		return -errno;
	int rc = install_fd(ql, nfd);
	if (rc == 0)
		atomic_store(&ql->on, true);
	return rc;
}

bool cn_querylog_on(const cn_querylog_t *ql)
{
	return atomic_load_explicit(&ql->on, memory_order_relaxed);
}

uint64_t cn_querylog_write_errors(const cn_querylog_t *ql)
{
	return atomic_load_explicit(&ql->write_errors, memory_order_relaxed);
}

void cn_querylog_flush(cn_querylog_t *ql, cn_querylog_buf_t *b)
{
	int fd = atomic_load_explicit(&ql->fd, memory_order_acquire);
	size_t off = 0;
	while (fd >= 0 && off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			atomic_fetch_add_explicit(&ql->write_errors, 1, memory_order_relaxed);
			break;
		}
		off += (size_t)n;
	}
	b->len = 0;
}

static const char *rcode_str(unsigned rcode, char *buf, size_t len)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					     "NXRRSET", "NOTAUTH", "NOTZONE" };
	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	if (rcode == CN_RCODE_BADVERS)
		return "BADVERS";
	snprintf(buf, len, "RCODE%u", rcode);
	return buf;
}

/* "ADDR#PORT" of the client. */
static void client_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		port = ntohs(s4->sin_port);
	}
	snprintf(buf, len, "%s#%u", a, port);
}

/* "2026-12-03T11:40:00.123456Z" */
static void time_str(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06ldZ", ts.tv_nsec / 1000);
}

/* One line for e into line; returns its length. */
static size_t format_line(const cn_querylog_entry_t *e, char *line, size_t cap)
{
	char when[40], client[INET6_ADDRSTRLEN + 8], name[CN_DNAME_STR_MAX] = "-";
	char tbuf[16] = "-", rbuf[16], ede[8] = "-";
	const char *type = tbuf, *rcode = "-";
	time_str(when, sizeof(when));
	client_str(e->client, client, sizeof(client));
	cn_msg_t m;
	if (e->reply_len > 0 && cn_msg_parse_query(e->reply, e->reply_len, &m) == 0) {
		if (m.has_question) {
			if (cn_dname_to_str(m.qname, name, sizeof(name)) < 0)
				snprintf(name, sizeof(name), "?");
			type = cn_type_to_str(m.qtype, tbuf, sizeof(tbuf));
		}
		rcode = rcode_str(m.rcode, rbuf, sizeof(rbuf));
		if (m.edns.has_ede)
			snprintf(ede, sizeof(ede), "%u", m.edns.ede_code);
	}
	/* The outcome is the stats name without "answer." (resolver/stats.h). */
	const char *outcome = cn_outcome_name(e->outcome) + strlen("answer.");
	int n = snprintf(line, cap, "%s %s %s %s %s %s %s %" PRIu64 " %s\n", when, client,
			 e->tcp ? "tcp" : "udp", name, type, rcode, outcome,
			 e->latency_ns / 1000, ede);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void cn_querylog_add(cn_querylog_t *ql, cn_querylog_buf_t *b, const cn_querylog_entry_t *e)
{
	char line[LINE_MAX_LEN];
	size_t n = format_line(e, line, sizeof(line));
	if (b->len + n > sizeof(b->data))
		cn_querylog_flush(ql, b);
	memcpy(b->data + b->len, line, n);
	b->len += n;
}

void cn_querylog_free(cn_querylog_t *ql)
{
	if (!ql)
		return;
	int fd = atomic_load(&ql->fd);
	if (fd >= 0)
		close(fd);
	free(ql);
}
