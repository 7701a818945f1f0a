/*
 * The control socket (net/control.h): a Unix stream listener on the main loop, one command
 * line per connection, a text reply, then close. Each connection owns a pipe handle and a
 * timer; it is freed when both close callbacks have run, and the listener's struct when its
 * own handle and every connection are gone (libuv: memory only from the close callback).
 * The reply is built in a growing buffer and written in one uv_write.
 *
 * The socket file is created 0600 without touching the process umask (other threads run):
 * on Linux a Unix socket's file takes its mode from the socket inode, which fchmod() on the
 * unbound socket sets. chmod() after bind() repeats it for other systems.
 */
#include "net/control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "resolver/dname.h"
#include "resolver/errors.h"
#include "resolver/resolver.h"
#include "resolver/wire.h"
#include "resolver/zone.h"

#define CLASS_IN 1
#define HEX_PER_LINE 16

typedef struct conn conn_t;

struct cn_control {
	uv_loop_t *loop;
	uv_pipe_t listener;
	cn_engine_t *engine;
	cn_cache_t *cache;
	cn_control_net_stats_fn net_stats;
	void *net_ctx;
	cn_control_reload_fn reload;
	void *reload_ctx;
	conn_t *conns;   /* open connections (doubly linked) */
	size_t nconns;
	size_t live;     /* listener + connections not yet freed */
	bool closing;
	char *path;
};

struct conn {
	cn_control_t *ctl;
	conn_t *prev, *next;
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_write_t wreq;
	unsigned handles; /* close callbacks still to come */
	bool answered;    /* the command ran; only the write and the close are left */
	bool closing;
	char *reply;
	size_t len;
	char line[CN_CONTROL_LINE_MAX + 1];
};

/* ------------------------------------------------------------------ reply buffer ----- */

typedef struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = b->cap - b->len;
		int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (s == NULL) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* ------------------------------------------------------------------ commands --------- */

static uint64_t wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

static void cmd_help(sbuf_t *b)
{
	sb_printf(b, "commands:\n"
		     "  help                      this list\n"
		     "  stats [--json]            counters, one \"name value\" per line (or JSON)\n"
		     "  reload                    re-read the configuration file (as SIGHUP)\n"
		     "  cache lookup NAME [TYPE]  cached entries for NAME (all types, or TYPE)\n"
		     "  cache flush [NAME]        remove everything, or the entries owned by NAME\n"
		     "  cache flush NAME --subtree  ... and by every name below NAME\n"
		     "  flush NAME [--subtree]    the same as cache flush NAME [--subtree]\n"
		     "  cache dump FILE           write the cache to FILE (absolute path)\n"
		     "  cache load FILE           load a dump from FILE\n"
		     "  zones                     hosted zones: serial, records, visibility\n"
		     "  infra                     upstream servers: SRTT, failures, EDNS, 0x20\n");
}

/* ------------------------------------------------------------------ stats ------------ */

/* Whether name is a row of the cache's counters (the rest of its table are gauges). */
static bool cache_counter(const char *name)
{
	static const char *const counters[] = {
#define NAME(field, n) n,
		CN_CACHE_COUNTERS_MAP(NAME)
#undef NAME
	};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		if (strcmp(counters[i], name) == 0)
			return true;
	return false;
}

static void visit_u(cn_stat_visit_fn fn, void *ctx, const char *name, bool gauge, uint64_t v)
{
	if (name == NULL)
		return; /* a counter that is only logged at exit */
	cn_stat_t st = { .name = name, .gauge = gauge, .u = v };
	fn(ctx, &st);
}

static void visit_d(cn_stat_visit_fn fn, void *ctx, const char *name, double v)
{
	cn_stat_t st = { .name = name, .gauge = true, .real = true, .d = v };
	fn(ctx, &st);
}

/** The hit-rate predictor's figures (cache/cache.h cn_cache_predict): none when it is off. */
static void walk_predict(cn_cache_t *cache, cn_stat_visit_fn fn, void *ctx)
{
	cn_cache_predict_t p;
	cn_cache_predict(cache, &p);
	if (p.sample_shift == 0)
		return;
	visit_u(fn, ctx, "cache.predict.sample_shift", true, p.sample_shift);
	visit_u(fn, ctx, "cache.predict.bytes", true, p.shadow_bytes);
	visit_u(fn, ctx, "cache.predict.sampled_lookups", false, p.sampled_lookups);
	for (int i = 0; i < CN_CACHE_PREDICT_N; i++) {
		char name[64];
		snprintf(name, sizeof(name), "cache.predict.x%g", cn_cache_predict_scale[i]);
		visit_d(fn, ctx, name, p.hit_rate[i]);
	}
}

void cn_stats_walk(cn_engine_t *engine, cn_cache_t *cache, const cn_control_net_stats_t *ns,
		   cn_stat_visit_fn fn, void *ctx)
{
	cn_engine_stats_t e;
	memset(&e, 0, sizeof e);
	if (engine != NULL)
		cn_engine_stats(engine, &e);
	cn_cache_stats_t cs;
	cn_cache_stats(cache, &cs);

	/* Every figure comes from a row of resolver/stats.h, cache/cache.h or net/stats.h. */
	visit_u(fn, ctx, "queries", false, e.queries);
	for (int o = 0; o < CN_OUT_MAX; o++)
		visit_u(fn, ctx, cn_outcome_name((cn_outcome_t)o), false, e.outcome[o]);
	/* Client queries answered from the cache with no upstream query, over all client
	 * queries. Stale answers are not counted: one is only served after an upstream
	 * attempt failed or ran past the client deadline (RFC 8767). Hosted-zone answers are
	 * not cache answers. 0 before the first query. */
	uint64_t from_cache = e.outcome[CN_OUT_CACHE_POSITIVE] + e.outcome[CN_OUT_CACHE_NEGATIVE];
	visit_d(fn, ctx, "cache.hit_rate",
		e.queries ? (double)from_cache / (double)e.queries : 0.0);
#define VISIT(field, name) visit_u(fn, ctx, name, false, e.field);
	CN_ENGINE_STATS_MAP(VISIT)
#undef VISIT
#define VISIT(field, name) visit_u(fn, ctx, name, false, e.nsel_##field);
	CN_NSEL_STATS_MAP(VISIT)
#undef VISIT
#define VISIT(field, name) visit_u(fn, ctx, name, !cache_counter(name), cs.field);
	CN_CACHE_STATS_MAP(VISIT)
#undef VISIT
	walk_predict(cache, fn, ctx); /* not a table: absent when the predictor is off */
#define VISIT(field, name) visit_u(fn, ctx, name, false, ns->worker.field);
	CN_WORKER_STATS_MAP(VISIT)
#undef VISIT
#define VISIT(field, name) visit_u(fn, ctx, name, false, ns->upstream.field);
	CN_UPSTREAM_STATS_MAP(VISIT)
#undef VISIT
#define VISIT(field, name) visit_u(fn, ctx, name, false, ns->daemon.field);
	CN_DAEMON_STATS_MAP(VISIT)
#undef VISIT
}

typedef struct stats_out {
	sbuf_t *b;
	bool json;
	bool first;
} stats_out_t;

/* Text: "name value" per line; JSON: one object, the same names, in the same order. */
static void put_stat(void *ctx, const cn_stat_t *st)
{
	stats_out_t *o = ctx;
	if (o->json)
		sb_printf(o->b, "%s\n  \"%s\": ", o->first ? "{" : ",", st->name);
	else
		sb_printf(o->b, "%s ", st->name);
	o->first = false;
	if (st->real)
		sb_printf(o->b, "%.6f", st->d);
	else
		sb_printf(o->b, "%" PRIu64, st->u);
	if (!o->json)
		sb_printf(o->b, "\n");
}

static void cmd_stats(cn_control_t *c, sbuf_t *b, bool json)
{
	cn_control_net_stats_t ns;
	memset(&ns, 0, sizeof ns);
	if (c->net_stats != NULL)
		c->net_stats(c->net_ctx, &ns);
	stats_out_t o = { .b = b, .json = json, .first = true };
	cn_stats_walk(c->engine, c->cache, &ns, put_stat, &o);
	if (json)
		sb_printf(b, "%s\n}\n", o.first ? "{" : "");
}

static const char *kind_str(uint8_t kind)
{
	switch (kind) {
	case CN_CACHE_RRSET:
		return "rrset";
	case CN_CACHE_NODATA:
		return "nodata";
	case CN_CACHE_NXDOMAIN:
		return "nxdomain";
	case CN_CACHE_FAILURE:
		return "failure";
	}
	return "unknown";
}

static const char *rank_str(uint8_t rank)
{
	switch (rank) {
	case CN_RANK_ADDITIONAL:
		return "additional";
	case CN_RANK_NONAUTH_ANSWER:
		return "nonauth_answer";
	case CN_RANK_AUTH_AUTHORITY:
		return "auth_authority";
	case CN_RANK_AUTH_ANSWER:
		return "auth_answer";
	case CN_RANK_LOCAL:
		return "local";
	}
	return "unknown";
}

/*
 * One entry: a summary line, then its records in presentation form (the value's format
 * belongs to the resolver: cn_engine_format_value), or the value as hex if that fails.
 */
static void print_entry(sbuf_t *b, const uint8_t *name, uint16_t type, uint16_t rclass,
			const cn_cache_entry_t *e, const uint8_t *data)
{
	char nbuf[CN_DNAME_MAX * 4 + 1], tbuf[16];
	if (cn_dname_to_str(name, nbuf, sizeof nbuf) < 0)
		snprintf(nbuf, sizeof nbuf, "?");
	const char *tstr = e->kind == CN_CACHE_NXDOMAIN && type == CN_CACHE_TYPE_NXDOMAIN
				   ? "*"
				   : cn_type_to_str(type, tbuf, sizeof tbuf);
	const char *state = e->stale ? "stale" : e->ttl_left_s == 0 ? "expired" : "live";
	char cbuf[16] = "";
	if (rclass != CLASS_IN)
		snprintf(cbuf, sizeof cbuf, " CLASS%u", rclass);
	sb_printf(b, "%s%s %s %s rank=%s ttl=%" PRIu32 "/%" PRIu32 " expires=%" PRIu64
		     " %s len=%zu\n",
		  nbuf, cbuf, tstr, kind_str(e->kind), rank_str(e->rank), e->ttl_left_s,
		  e->ttl_orig_s, e->expire_s, state, e->data_len);
	static char text[65536 * 4];
	uint16_t rtype = e->kind == CN_CACHE_NXDOMAIN ? CN_TYPE_SOA : type;
	if (rclass == CLASS_IN &&
	    cn_engine_format_value(name, rtype, e->kind, e->ttl_left_s, data, e->data_len, text,
				   sizeof text) >= 0) {
		for (char *sv, *line = strtok_r(text, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv))
			sb_printf(b, "  %s\n", line);
		return;
	}
	for (size_t off = 0; off < e->data_len; off += HEX_PER_LINE) {
		sb_printf(b, "  %04zx:", off);
		for (size_t i = off; i < e->data_len && i < off + HEX_PER_LINE; i++)
			sb_printf(b, " %02x", data[i]);
		sb_printf(b, "\n");
	}
}

typedef struct walk_ctx {
	sbuf_t *b;
	const uint8_t *name; /* lowercased wire form */
	size_t name_len;
	size_t found;
} walk_ctx_t;

static void walk_one(void *ctx, const uint8_t *name, size_t name_len, uint16_t type,
		     uint16_t rclass, const cn_cache_entry_t *e, const uint8_t *data)
{
	walk_ctx_t *w = ctx;
	if (name_len != w->name_len || memcmp(name, w->name, name_len) != 0)
		return;
	w->found++;
	print_entry(w->b, name, type, rclass, e, data);
}

/* Look up one (name, type) with PEEK (no stats, no use bit); 1 if found, 0 if not. */
static int lookup_one(cn_control_t *c, sbuf_t *b, const uint8_t *name, size_t name_len,
		      uint16_t type, uint64_t now)
{
	uint8_t small[4096];
	uint8_t *buf = small;
	size_t cap = sizeof small;
	cn_cache_entry_t e;
	unsigned flags = CN_LOOKUP_PEEK | CN_LOOKUP_STALE;
	int rc = cn_cache_lookup(c->cache, name, name_len, type, CLASS_IN, now, flags, &e, buf,
				 cap);
	if (rc == -ENOSPC) {
		cap = e.data_len;
		buf = malloc(cap ? cap : 1);
		if (buf == NULL) {
			sb_printf(b, "error: out of memory\n");
			return -ENOMEM;
		}
		rc = cn_cache_lookup(c->cache, name, name_len, type, CLASS_IN, now, flags, &e, buf,
				     cap);
	}
	if (rc == 0)
		print_entry(b, name, type, CLASS_IN, &e, buf);
	if (buf != small)
		free(buf);
	return rc == 0;
}

static void cmd_lookup(cn_control_t *c, sbuf_t *b, const char *name_s, const char *type_s)
{
	uint8_t name[CN_DNAME_MAX];
	size_t name_len;
	int rc = cn_dname_from_str(name_s, name, &name_len);
	if (rc < 0) {
		sb_printf(b, "error: bad name '%s': %s\n", name_s, cn_strerror(rc));
		return;
	}
	cn_dname_lower(name);
	uint64_t now = wall_now();
	size_t found = 0;
	if (type_s != NULL) {
		uint16_t type = cn_type_from_str(type_s);
		if (type == 0) {
			sb_printf(b, "error: unknown type '%s'\n", type_s);
			return;
		}
		/* The NXDOMAIN entry at the name answers every type. */
		int r1 = lookup_one(c, b, name, name_len, type, now);
		int r2 = r1 < 0 ? r1 : lookup_one(c, b, name, name_len, CN_CACHE_TYPE_NXDOMAIN, now);
		if (r1 < 0 || r2 < 0)
			return;
		found = (size_t)(r1 + r2);
	} else {
		/* Every type: one pass over the cache (a control-tool cost, not a query cost). */
		walk_ctx_t w = {.b = b, .name = name, .name_len = name_len};
		cn_cache_walk(c->cache, now, walk_one, &w);
		found = w.found;
	}
	if (found == 0)
		sb_printf(b, "not in cache\n");
}

/* name_s NULL: everything. subtree: name_s and every name below it (the root: all). */
static void cmd_flush(cn_control_t *c, sbuf_t *b, const char *name_s, bool subtree)
{
	if (name_s == NULL) {
		cn_cache_flush(c->cache);
		sb_printf(b, "flushed all\n");
		return;
	}
	uint8_t name[CN_DNAME_MAX];
	size_t name_len;
	int rc = cn_dname_from_str(name_s, name, &name_len);
	if (rc < 0) {
		sb_printf(b, "error: bad name '%s': %s\n", name_s, cn_strerror(rc));
		return;
	}
	size_t n = cn_cache_flush_name(c->cache, name, name_len, subtree);
	sb_printf(b, "flushed %zu\n", n);
}

static void cmd_dump_load(cn_control_t *c, sbuf_t *b, bool dump, const char *path)
{
	if (path[0] != '/') {
		sb_printf(b, "error: %s needs an absolute path\n", dump ? "dump" : "load");
		return;
	}
	long n = dump ? cn_cache_dump(c->cache, path, wall_now())
		      : cn_cache_load(c->cache, path, wall_now());
	if (n < 0)
		sb_printf(b, "error: %s %s: %s\n", dump ? "dump" : "load", path,
			  cn_strerror((int)n));
	else
		sb_printf(b, "%s %ld\n", dump ? "dumped" : "loaded", n);
}

/* Split off the next whitespace-separated word; NULL when none is left. */
static void cmd_reload(cn_control_t *c, sbuf_t *b)
{
	if (!c->reload) {
		sb_printf(b, "error: reload is not available\n");
		return;
	}
	char msg[1024] = "";
	if (c->reload(c->reload_ctx, msg, sizeof(msg)) == 0)
		sb_printf(b, "ok: %s\n", msg[0] ? msg : "configuration reloaded");
	else
		sb_printf(b, "error: %s\n", msg[0] ? msg : "reload failed");
}

static char *next_word(char **s)
{
	char *p = *s + strspn(*s, " \t");
	if (*p == '\0') {
		*s = p;
		return NULL;
	}
	char *end = p + strcspn(p, " \t");
	if (*end != '\0')
		*end++ = '\0';
	*s = end;
	return p;
}

/* The rest of the line, trimmed (a file name may hold spaces). */
static char *rest(char **s)
{
	char *p = *s + strspn(*s, " \t");
	size_t n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		p[--n] = '\0';
	return n ? p : NULL;
}

/* One line per forward or stub zone: "NAME forward|stub SERVER (HEALTH), ...", the health
 * as server selection sees it: "srtt N ms" once it answered, "untried", "failing",
 * "dead" (asked only by a probe a second). */
static void cmd_fwdzones(cn_control_t *c, sbuf_t *b)
{
	uint64_t now_ms = uv_hrtime() / 1000000;
	const cn_fwdzone_t *z;
	for (size_t i = 0; (z = cn_engine_fwdzone(c->engine, i)); i++) {
		char name[CN_DNAME_STR_MAX];
		if (cn_dname_to_str(z->name, name, sizeof(name)) < 0)
			continue;
		sb_printf(b, "%s %s", name, z->stub ? "stub" : "forward");
		for (unsigned k = 0; k < z->naddr; k++) {
			const struct sockaddr_storage *ss = &z->addr[k];
			char a[INET6_ADDRSTRLEN] = "?";
			const void *ip = ss->ss_family == AF_INET
						 ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
			unsigned port = ntohs(ss->ss_family == AF_INET
						      ? ((const struct sockaddr_in *)ss)->sin_port
						      : ((const struct sockaddr_in6 *)ss)->sin6_port);
			inet_ntop(ss->ss_family, ip, a, sizeof(a));
			cn_server_health_t h;
			cn_engine_server_health(c->engine, ss, now_ms, &h);
			sb_printf(b, "%s %s@%u (", k ? "," : "", a, port);
			if (h.dead)
				sb_printf(b, "dead");
			else if (h.failing)
				sb_printf(b, "failing");
			else if (!h.known)
				sb_printf(b, "untried");
			else
				sb_printf(b, "srtt %u ms", h.srtt_ms);
			sb_printf(b, ", %" PRIu32 " replies, %" PRIu32 " failures)", h.replies,
				  h.failures);
		}
		sb_printf(b, "\n");
	}
}

/* ------------------------------------------------------------------ infra ------------ */

static int row_cmp(const void *pa, const void *pb)
{
	const cn_server_row_t *a = pa, *b = pb;
	if (a->addr.ss_family != b->addr.ss_family)
		return a->addr.ss_family == AF_INET ? -1 : 1;
	int c;
	uint16_t pa_, pb_;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->addr, *y = (const void *)&b->addr;
		c = memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr));
		pa_ = ntohs(x->sin_port), pb_ = ntohs(y->sin_port);
	} else {
		const struct sockaddr_in6 *x = (const void *)&a->addr, *y = (const void *)&b->addr;
		c = memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
		pa_ = ntohs(x->sin6_port), pb_ = ntohs(y->sin6_port);
	}
	return c ? c : (int)pa_ - (int)pb_;
}

#define CN_INFRA_ROWS 4096 /* the selection table's size (resolver/nsel.c) */

/* One line per server of the engine's selection table (docs/cairnctl.md "infra"), sorted
 * by address: "ADDR@PORT STATE srtt_ms=N rttvar_ms=N timeout_ms=N replies=N failures=N
 * fails_in_row=N silent_in_row=N edns=yes|no 0x20=yes|no failing_ms=N", then
 * "servers N". */
static void cmd_infra(cn_control_t *c, sbuf_t *b)
{
	uint64_t now_ms = uv_hrtime() / 1000000;
	cn_server_row_t *rows = malloc(CN_INFRA_ROWS * sizeof(*rows));
	if (!rows) {
		sb_printf(b, "error: out of memory\n");
		return;
	}
	size_t n = cn_engine_servers(c->engine, now_ms, rows, CN_INFRA_ROWS);
	size_t shown = n < CN_INFRA_ROWS ? n : CN_INFRA_ROWS;
	qsort(rows, shown, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < shown; i++) {
		const cn_server_row_t *r = &rows[i];
		const cn_server_health_t *h = &r->h;
		char a[INET6_ADDRSTRLEN] = "?";
		const bool v4 = r->addr.ss_family == AF_INET;
		const struct sockaddr_in *s4 = (const void *)&r->addr;
		const struct sockaddr_in6 *s6 = (const void *)&r->addr;
		inet_ntop(r->addr.ss_family, v4 ? (const void *)&s4->sin_addr
					       : (const void *)&s6->sin6_addr, a, sizeof(a));
		const char *state = h->dead ? "dead" : h->failing ? "failing"
					       : h->known ? "ok" : "untried";
		sb_printf(b, v4 ? "%s@%u %s" : "[%s]:%u %s", a,
			  ntohs(v4 ? s4->sin_port : s6->sin6_port), state);
		sb_printf(b, " srtt_ms=%u rttvar_ms=%u timeout_ms=%u replies=%" PRIu32
			  " failures=%" PRIu32 " fails_in_row=%u silent_in_row=%u edns=%s"
			  " 0x20=%s failing_ms=%" PRIu64 "\n", h->srtt_ms, h->rttvar_ms,
			  h->timeout_ms, h->replies, h->failures, h->fails_row, h->silent_row,
			  h->no_edns ? "no" : "yes", h->no_0x20 ? "no" : "yes", h->fail_left_ms);
	}
	sb_printf(b, "servers %zu\n", n); /* never an empty reply (cairnctl: exit 2) */
	free(rows);
}

/* One line per hosted zone: "NAME serial N records N public|private SUBNETS source S". */
static void cmd_zones(cn_control_t *c, sbuf_t *b)
{
	const cn_zoneset_t *zs = cn_engine_zones(c->engine);
	size_t n = cn_zoneset_count(zs);
	for (size_t i = 0; i < n; i++) {
		cn_zone_info_t zi;
		char name[CN_DNAME_STR_MAX];
		if (cn_zoneset_info(zs, i, &zi) != 0 || cn_dname_to_str(zi.name, name,
									 sizeof(name)) < 0)
			continue;
		sb_printf(b, "%s serial %" PRIu32 " records %zu ", name, zi.serial, zi.records);
		if (zi.nvisible == 0)
			sb_printf(b, "public");
		for (size_t k = 0; k < zi.nvisible; k++) {
			char a[INET6_ADDRSTRLEN];
			const cn_zone_prefix_t *p = &zi.visible[k];
			if (!inet_ntop(p->family, p->addr, a, sizeof(a)))
				snprintf(a, sizeof(a), "?");
			sb_printf(b, "%s%s/%u", k ? "," : "private ", a, p->bits);
		}
		sb_printf(b, " source %s\n", zi.builtin ? "built-in" : zi.source);
	}
	cmd_fwdzones(c, b);
}

/* "[NAME [--subtree]]" after flush (need_name: NAME is not optional); false when the
 * words do not fit. */
static bool flush_args(cn_control_t *c, sbuf_t *b, char **s, bool need_name)
{
	char *name = next_word(s), *opt = next_word(s);
	bool subtree = opt != NULL && strcmp(opt, "--subtree") == 0;
	if ((name == NULL && need_name) || (name != NULL && strcmp(name, "--subtree") == 0) ||
	    (opt != NULL && !subtree) || next_word(s) != NULL)
		return false;
	cmd_flush(c, b, name, subtree);
	return true;
}

static void run_command(cn_control_t *c, char *line, sbuf_t *b)
{
	char *s = line;
	char *cmd = next_word(&s);
	if (cmd == NULL) {
		sb_printf(b, "error: empty command (try 'help')\n");
		return;
	}
	if (strcmp(cmd, "help") == 0 && next_word(&s) == NULL) {
		cmd_help(b);
		return;
	}
	if (strcmp(cmd, "stats") == 0) {
		char *opt = next_word(&s);
		bool json = opt != NULL && strcmp(opt, "--json") == 0;
		if ((opt == NULL || json) && next_word(&s) == NULL) {
			cmd_stats(c, b, json);
			return;
		}
		sb_printf(b, "error: usage: stats [--json]\n");
		return;
	}
	if (strcmp(cmd, "zones") == 0 && next_word(&s) == NULL) {
		cmd_zones(c, b);
		return;
	}
	if (strcmp(cmd, "reload") == 0 && next_word(&s) == NULL) {
		cmd_reload(c, b);
		return;
	}
	if (strcmp(cmd, "infra") == 0 && next_word(&s) == NULL) {
		cmd_infra(c, b);
		return;
	}
	if (strcmp(cmd, "flush") == 0) { /* "flush NAME [--subtree]": cache flush's alias */
		if (!flush_args(c, b, &s, true))
			sb_printf(b, "error: usage: flush NAME [--subtree]\n");
		return;
	}
	if (strcmp(cmd, "cache") != 0) {
		sb_printf(b, "error: unknown command '%s' (try 'help')\n", cmd);
		return;
	}
	char *sub = next_word(&s);
	if (sub != NULL && strcmp(sub, "lookup") == 0) {
		char *name = next_word(&s), *type = next_word(&s);
		if (name != NULL && next_word(&s) == NULL) {
			cmd_lookup(c, b, name, type);
			return;
		}
	} else if (sub != NULL && strcmp(sub, "flush") == 0) {
		if (flush_args(c, b, &s, false))
			return;
	} else if (sub != NULL && (strcmp(sub, "dump") == 0 || strcmp(sub, "load") == 0)) {
		char *path = rest(&s);
		if (path != NULL) {
			cmd_dump_load(c, b, sub[0] == 'd', path);
			return;
		}
	}
	sb_printf(b, "error: usage: cache lookup NAME [TYPE] | cache flush [NAME [--subtree]] | "
		     "cache dump FILE | cache load FILE\n");
}

/* ------------------------------------------------------------------ connections ------ */

static void free_control(cn_control_t *c)
{
	free(c->path);
	free(c);
}

static void conn_closed(uv_handle_t *h)
{
	conn_t *k = h->data;
	if (--k->handles > 0)
		return;
	cn_control_t *c = k->ctl;
	free(k->reply);
	free(k);
	if (--c->live == 0 && c->closing)
		free_control(c);
}

static void conn_close(conn_t *k)
{
	if (k->closing)
		return;
	k->closing = true;
	cn_control_t *c = k->ctl;
	if (k->prev)
		k->prev->next = k->next;
	else
		c->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	c->nconns--;
	uv_close((uv_handle_t *)&k->timer, conn_closed);
	uv_close((uv_handle_t *)&k->pipe, conn_closed);
}

static void conn_written(uv_write_t *req, int status)
{
	conn_close(req->data);
}

static void conn_reply(conn_t *k, sbuf_t *b)
{
	k->answered = true;
	uv_read_stop((uv_stream_t *)&k->pipe);
	if (b->oom || b->len == 0) {
		free(b->s);
		conn_close(k);
		return;
	}
	k->reply = b->s;
	uv_buf_t buf = uv_buf_init(k->reply, (unsigned)b->len);
	k->wreq.data = k;
	if (uv_write(&k->wreq, (uv_stream_t *)&k->pipe, &buf, 1, conn_written) < 0)
		conn_close(k);
}

static void conn_answer(conn_t *k)
{
	sbuf_t b = {0};
	k->line[k->len] = '\0';
	size_t n = strlen(k->line); /* a NUL byte ends the command */
	if (n > 0 && k->line[n - 1] == '\r')
		k->line[n - 1] = '\0';
	run_command(k->ctl, k->line, &b);
	conn_reply(k, &b);
}

static void conn_timeout(uv_timer_t *t)
{
	conn_t *k = t->data;
	if (!k->answered)
		conn_close(k);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn_t *k = h->data;
	/* One byte more than a line may hold, so an over-long line is detected. */
	*buf = uv_buf_init(k->line + k->len, (unsigned)(CN_CONTROL_LINE_MAX + 1 - k->len));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *k = s->data;
	if (k->answered || nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && k->len > 0)
			conn_answer(k); /* a last line without a newline */
		else
			conn_close(k);
		return;
	}
	char *nl = memchr(k->line + k->len, '\n', (size_t)nread);
	k->len += (size_t)nread;
	if (nl != NULL) {
		k->len = (size_t)(nl - k->line);
		conn_answer(k);
		return;
	}
	if (k->len > CN_CONTROL_LINE_MAX) {
		sbuf_t b = {0};
		sb_printf(&b, "error: command longer than %d bytes\n", CN_CONTROL_LINE_MAX);
		conn_reply(k, &b);
	}
}

static void on_connection(uv_stream_t *l, int status)
{
	cn_control_t *c = l->data;
	if (status < 0 || c->closing)
		return;
	conn_t *k = calloc(1, sizeof *k);
	if (k == NULL)
		return; /* the connection waits in the backlog */
	k->ctl = c;
	uv_pipe_init(c->loop, &k->pipe, 0);
	uv_timer_init(c->loop, &k->timer);
	k->pipe.data = k;
	k->timer.data = k;
	k->handles = 2;
	c->live++;
	k->next = c->conns;
	if (k->next)
		k->next->prev = k;
	c->conns = k;
	c->nconns++;
	if (uv_accept(l, (uv_stream_t *)&k->pipe) < 0 || c->nconns > CN_CONTROL_MAX_CONNS ||
	    uv_read_start((uv_stream_t *)&k->pipe, conn_alloc, conn_read) < 0) {
		conn_close(k);
		return;
	}
	uv_timer_start(&k->timer, conn_timeout, CN_CONTROL_TIMEOUT_MS, 0);
}

/* ------------------------------------------------------------------ socket ----------- */

/*
 * A socket file at path: if nobody accepts on it, it is left over from a run that did not
 * clean up, and is removed. A live daemon's socket, or a file of another kind, is kept.
 */
static int remove_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
	int err = errno;
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (err != ECONNREFUSED)
		return -err;
	return unlink(sa->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

static int listen_socket(const char *path, int *out)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int rc = remove_stale(&sa);
	if (rc < 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (chmod(path, 0600) < 0) {
		rc = -errno;
		unlink(path);
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static void listener_closed(uv_handle_t *h)
{
	cn_control_t *c = h->data;
	if (--c->live == 0)
		free_control(c);
}

int cn_control_open(uv_loop_t *loop, const char *path, cn_engine_t *engine, cn_cache_t *cache,
		    cn_control_t **out)
{
	if (loop == NULL || path == NULL || path[0] == '\0' || cache == NULL || out == NULL)
		return -EINVAL;
	cn_control_t *c = calloc(1, sizeof *c);
	if (c == NULL || (c->path = strdup(path)) == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->loop = loop;
	c->engine = engine;
	c->cache = cache;
	int fd;
	int rc = listen_socket(path, &fd);
	if (rc < 0) {
		free_control(c);
		return rc;
	}
	uv_pipe_init(loop, &c->listener, 0);
	c->listener.data = c;
	c->live = 1;
	if ((rc = uv_pipe_open(&c->listener, fd)) < 0) {
		close(fd);
	} else if ((rc = uv_listen((uv_stream_t *)&c->listener, 16, on_connection)) == 0) {
		*out = c;
		return 0;
	}
	unlink(path);
	c->closing = true;
	uv_close((uv_handle_t *)&c->listener, listener_closed);
	return rc;
}

void cn_control_rebase(cn_control_t *c, const char *root)
{
	size_t n = root ? strlen(root) : 0;
	while (n > 1 && root[n - 1] == '/')
		n--;
	if (!c || !c->path || n == 0 || strncmp(c->path, root, n) != 0 || c->path[n] != '/')
		return;
	memmove(c->path, c->path + n, strlen(c->path + n) + 1);
}

void cn_control_close(cn_control_t *c)
{
	if (c == NULL || c->closing)
		return;
	c->closing = true;
	unlink(c->path);
	while (c->conns != NULL)
		conn_close(c->conns);
	uv_close((uv_handle_t *)&c->listener, listener_closed);
}

void cn_control_set_net_stats(cn_control_t *c, cn_control_net_stats_fn fn, void *ctx)
{
	c->net_stats = fn;
	c->net_ctx = ctx;
}

void cn_control_set_reload(cn_control_t *c, cn_control_reload_fn fn, void *ctx)
{
	c->reload = fn;
	c->reload_ctx = ctx;
}
