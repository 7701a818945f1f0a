/*
 * /metrics (net/metrics.h). libmicrohttpd does the HTTP (parsing, keep-alive, timeouts,
 * the connection cap) on its one internal thread; this file only renders the page. The
 * names come from cn_stats_walk (the tables behind `cairnctl stats`) and from the worker
 * and upstream tables in net/stats.h, so nothing is listed here.
 *
 * libmicrohttpd is loaded with dlopen() when an endpoint is configured, not linked: Debian
 * builds it with GnuTLS, whose libraries add some 2.5 MiB to the resident size of every
 * cairn, metrics or not (measured: 6.1 -> 8.6 MiB idle), which the memory bounds of the
 * flood tests (docs/attacks.md B6) would pay for nothing. Only its header is used at build
 * time; the soname is CN_MHD_SONAME (net/CMakeLists.txt).
 */
#include "net/metrics.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/control.h"
#include "net/log.h"
#include "net/pool.h"

#define METRICS_MAX_CONNS 16u   /* scrapers served at once */
#define METRICS_TIMEOUT_S 10u   /* an idle connection is closed after this */
#define NAME_MAX_LEN 128

#ifndef CN_MHD_SONAME
#define CN_MHD_SONAME "libmicrohttpd.so.12"
#endif

/* The libmicrohttpd functions used, resolved from the library once. */
static struct mhd_api {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
} mhd;

/* Load the library (main thread, at start-up). 0, or -ENOENT with the reason logged. */
static int mhd_load(void)
{
	if (mhd.start_daemon)
		return 0;
	void *h = dlopen(CN_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		cn_log(CN_LOG_ERROR, "metrics: cannot load %s: %s", CN_MHD_SONAME, dlerror());
		return -ENOENT;
	}
	struct mhd_api a;
	*(void **)&a.start_daemon = dlsym(h, "MHD_start_daemon");
	*(void **)&a.stop_daemon = dlsym(h, "MHD_stop_daemon");
	*(void **)&a.create_response_from_buffer = dlsym(h, "MHD_create_response_from_buffer");
	*(void **)&a.add_response_header = dlsym(h, "MHD_add_response_header");
	*(void **)&a.queue_response = dlsym(h, "MHD_queue_response");
	*(void **)&a.destroy_response = dlsym(h, "MHD_destroy_response");
	if (!a.start_daemon || !a.stop_daemon || !a.create_response_from_buffer ||
	    !a.add_response_header || !a.queue_response || !a.destroy_response) {
		cn_log(CN_LOG_ERROR, "metrics: %s lacks a function cairn needs", CN_MHD_SONAME);
		dlclose(h);
		return -ENOENT;
	}
	mhd = a; /* the library stays loaded until exit */
	return 0;
}

struct cn_metrics {
	int fd;
	bool v6;
	struct MHD_Daemon *mhd;
	_Atomic(const cn_acl_t *) acl;
	cn_engine_t *engine;
	cn_cache_t *cache;
	cn_pool_t *pool;
	const cn_daemon_stats_t *daemon; /* the daemon's reload counters (atomics) */
};

/* ------------------------------------------------------------------ rendering --------- */

/* "cairn_" + name with every character outside [a-zA-Z0-9_] made '_' + suffix. */
static void metric_name(char *out, size_t len, const char *prefix, const char *name,
			const char *suffix)
{
	size_t n = (size_t)snprintf(out, len, "%s", prefix);
	for (const char *p = name; *p && n + 1 < len; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		out[n++] = ok ? c : '_';
	}
	out[n] = '\0';
	snprintf(out + n, len - n, "%s", suffix);
}

static void family(FILE *f, const char *name, const char *type, const char *help,
		   const char *what)
{
	fprintf(f, "# HELP %s %s%s\n# TYPE %s %s\n", name, help, what, name, type);
}

/* One figure of cn_stats_walk: one family with one sample. */
static void put_total(void *ctx, const cn_stat_t *st)
{
	FILE *f = ctx;
	char name[NAME_MAX_LEN];
	metric_name(name, sizeof(name), "cairn_", st->name, st->gauge ? "" : "_total");
	family(f, name, st->gauge ? "gauge" : "counter", "cairnctl stats: ", st->name);
	if (st->real)
		fprintf(f, "%s %.6f\n", name, st->d);
	else
		fprintf(f, "%s %" PRIu64 "\n", name, st->u);
}

typedef struct per_worker {
	unsigned n;
	cn_worker_stats_t *ws;
	cn_upstream_stats_t *us;
} per_worker_t;

/* One family per row, one sample per worker. */
static void put_row(FILE *f, const per_worker_t *pw, const char *field, const char *sname,
		    size_t off, bool upstream)
{
	char name[NAME_MAX_LEN];
	metric_name(name, sizeof(name), "cairn_worker_", sname ? sname : field, "_total");
	family(f, name, "counter", sname ? "per worker: cairnctl stats: " :
		"per worker (not in cairnctl stats): ", sname ? sname : field);
	for (unsigned i = 0; i < pw->n; i++) {
		const char *base = upstream ? (const char *)&pw->us[i] : (const char *)&pw->ws[i];
		uint64_t v;
		memcpy(&v, base + off, sizeof(v));
		fprintf(f, "%s{worker=\"%u\"} %" PRIu64 "\n", name, i, v);
	}
}

static void put_per_worker(FILE *f, const per_worker_t *pw)
{
#define ROW(field, sname) put_row(f, pw, #field, sname, offsetof(cn_worker_stats_t, field), false);
	CN_WORKER_STATS_MAP(ROW)
#undef ROW
#define ROW(field, sname) \
	put_row(f, pw, #field, sname, offsetof(cn_upstream_stats_t, field), true);
	CN_UPSTREAM_STATS_MAP(ROW)
#undef ROW
}

/* A histogram summed over the workers: cumulative buckets, le in seconds. */
static void put_hist(FILE *f, const cn_pool_t *pool, unsigned n, cn_hist_id_t id,
		     const char *name, const char *help)
{
	cn_hist_t sum;
	memset(&sum, 0, sizeof(sum));
	for (unsigned i = 0; i < n; i++) {
		cn_hist_t h;
		cn_pool_get_worker_hist(pool, i, id, &h);
		for (unsigned b = 0; b <= CN_HIST_NBOUNDS; b++)
			sum.bucket[b] += h.bucket[b];
		sum.sum_ns += h.sum_ns;
	}
	family(f, name, "histogram", help, " (inside cairn: from the packet to its reply)");
	uint64_t cum = 0;
	for (unsigned b = 0; b < CN_HIST_NBOUNDS; b++) {
		cum += sum.bucket[b];
		fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			(double)cn_hist_bounds_ns[b] / 1e9, cum);
	}
	cum += sum.bucket[CN_HIST_NBOUNDS];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	fprintf(f, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name, (double)sum.sum_ns / 1e9, name,
		cum);
}

int cn_metrics_render(FILE *f, cn_engine_t *engine, cn_cache_t *cache, const cn_pool_t *pool,
		      const cn_daemon_stats_t *daemon)
{
	per_worker_t pw = { .n = pool ? cn_pool_size(pool) : 0 };
	pw.ws = calloc(pw.n ? pw.n : 1, sizeof(*pw.ws));
	pw.us = calloc(pw.n ? pw.n : 1, sizeof(*pw.us));
	if (!pw.ws || !pw.us) {
		free(pw.ws);
		free(pw.us);
		return -ENOMEM;
	}
	/* Each worker read once: its row sums and the totals below agree. */
	cn_control_net_stats_t ns;
	memset(&ns, 0, sizeof(ns));
	for (unsigned i = 0; i < pw.n; i++) {
		cn_pool_get_worker_stats(pool, i, &pw.ws[i]);
		cn_pool_get_worker_upstream_stats(pool, i, &pw.us[i]);
		CN_STATS_ADD(CN_WORKER_STATS_MAP, &ns.worker, &pw.ws[i]);
		CN_STATS_ADD(CN_UPSTREAM_STATS_MAP, &ns.upstream, &pw.us[i]);
	}
#define LOAD(field, name)                                                                \
	ns.daemon.field = daemon ? __atomic_load_n(&daemon->field, __ATOMIC_RELAXED) : 0;
	CN_DAEMON_STATS_MAP(LOAD)
#undef LOAD
	cn_stats_walk(engine, cache, &ns, put_total, f);
	put_per_worker(f, &pw);
#define HIST(id, name, help) put_hist(f, pool, pw.n, CN_HIST_##id, name, help);
	CN_HIST_MAP(HIST)
#undef HIST
	free(pw.ws);
	free(pw.us);
	return ferror(f) ? -EIO : 0;
}

/* ------------------------------------------------------------------ HTTP -------------- */

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	cn_metrics_t *m = cls;
	(void)len;
	const cn_acl_t *acl = atomic_load_explicit(&m->acl, memory_order_acquire);
	return cn_acl_allows(acl, addr) ? MHD_YES : MHD_NO;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, char *body,
				 size_t len, bool must_free, const char *type)
{
	struct MHD_Response *r = mhd.create_response_from_buffer(
		len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (must_free)
			free(body);
		return MHD_NO;
	}
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ret = mhd.queue_response(conn, status, r);
	mhd.destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_len, void **state)
{
	cn_metrics_t *m = cls;
	(void)version;
	(void)upload;
	(void)state;
	if (*upload_len != 0) {
		*upload_len = 0; /* a body is ignored */
		return MHD_YES;
	}
	static char not_found[] = "not found: the page is /metrics\n";
	static char not_allowed[] = "method not allowed\n";
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
				 sizeof(not_allowed) - 1, false, "text/plain");
	if (strcmp(url, "/metrics") != 0)
		return send_text(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1, false,
				 "text/plain");
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	int rc = cn_metrics_render(f, m->engine, m->cache, m->pool, m->daemon);
	if (fclose(f) != 0 || rc != 0) {
		free(body);
		return MHD_NO;
	}
	return send_text(conn, MHD_HTTP_OK, body, len, true,
			 "text/plain; version=0.0.4; charset=utf-8");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	cn_log(CN_LOG_WARNING, "metrics: %s", msg);
}

/* ------------------------------------------------------------------ life -------------- */

int cn_metrics_bind(const struct sockaddr *addr, socklen_t addr_len, const cn_acl_t *acl,
		    cn_metrics_t **out)
{
	if (mhd_load() != 0)
		return -ENOENT;
	cn_metrics_t *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->v6 = addr->sa_family == AF_INET6;
	atomic_init(&m->acl, acl);
	m->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, rc = 0;
	if (m->fd < 0 ||
	    setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (m->v6 && setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(m->fd, addr, addr_len) < 0 || listen(m->fd, 16) < 0)
		rc = -errno;
	if (rc < 0) {
		if (m->fd >= 0)
			close(m->fd);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int cn_metrics_start(cn_metrics_t *m, cn_engine_t *engine, cn_cache_t *cache, cn_pool_t *pool,
		     const cn_daemon_stats_t *daemon)
{
	m->daemon = daemon;
	m->engine = engine;
	m->cache = cache;
	m->pool = pool;
	unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 (m->v6 ? MHD_USE_IPv6 : 0);
	m->mhd = mhd.start_daemon(flags, 0, on_accept, m, on_request, m,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)m->fd,
				  MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CONNS,
				  MHD_OPTION_CONNECTION_TIMEOUT, METRICS_TIMEOUT_S, MHD_OPTION_END);
	return m->mhd ? 0 : -EIO;
}

void cn_metrics_set_acl(cn_metrics_t *m, const cn_acl_t *acl)
{
	atomic_store_explicit(&m->acl, acl, memory_order_release);
}

void cn_metrics_stop(cn_metrics_t *m)
{
	if (!m)
		return;
	if (m->mhd)
		mhd.stop_daemon(m->mhd); /* joins its thread and closes the listening socket */
	else
		close(m->fd);
	free(m);
}
