/*
 * The YAML configuration loader. libyaml builds the document tree (so YAML syntax, anchors
 * and quoting are its business, not ours); this file walks it against a table of keys, each
 * with a type, a range and the offset of the field it sets. Every error names the file and
 * the line of the offending node, because an operator fixing a config at 3 a.m. should not
 * have to guess (Unbound and Knot both report file:line).
 */
#include "net/config.h"
#include "net/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "resolver/defaults.h"
#include "resolver/dname.h"

/* ------------------------------------------------------------------ defaults --------- */

static void zones_deinit(cn_config_t *cfg);

int cn_config_init(cn_config_t *cfg, const cn_engine_conf_t *engine_defaults)
{
	memset(cfg, 0, sizeof(*cfg));
	if (engine_defaults)
		cfg->engine = *engine_defaults;
	else
		cn_engine_conf_fill_defaults(&cfg->engine); /* resolver/defaults.h */
	cfg->cache.budget_bytes = (size_t)64 << 20;
	cfg->cache.shards = 0;
	cfg->cache.policy = CN_EVICT_S3FIFO;
	cfg->cache.min_ttl_s = 0;
	cfg->cache.max_ttl_s = 86400;
	cfg->cache.neg_max_ttl_s = 3600;
	cfg->cache.stale_window_s = 86400;
	cfg->tcp_idle_timeout_ms = 10000;
	cfg->tcp_max_clients = 256;
	cfg->tcp_max_per_client = 32;
	cfg->client_waiting = 1000;
	cfg->rl_slip = 2;
	cfg->log_level = 2;
	cfg->local_zones_builtin = true;
	cfg->allow = malloc(sizeof(cn_acl_loopback));
	if (!cfg->allow)
		return -ENOMEM;
	memcpy(cfg->allow, cn_acl_loopback, sizeof(cn_acl_loopback));
	cfg->nallow = sizeof(cn_acl_loopback) / sizeof(cn_acl_loopback[0]);
	cfg->metrics_allow = malloc(sizeof(cn_acl_loopback));
	if (!cfg->metrics_allow)
		return -ENOMEM;
	memcpy(cfg->metrics_allow, cn_acl_loopback, sizeof(cn_acl_loopback));
	cfg->nmetrics_allow = cfg->nallow;
	return 0;
}

/* Free a malloc'ed list and empty it (a macro: the lists have their own element types). */
#define LIST_FREE(list, n) (free(list), (list) = NULL, (n) = 0)

void cn_config_deinit(cn_config_t *cfg)
{
	LIST_FREE(cfg->listen, cfg->nlisten);
	LIST_FREE(cfg->allow, cfg->nallow);
	LIST_FREE(cfg->refuse, cfg->nrefuse);
	LIST_FREE(cfg->deny, cfg->ndeny);
	free(cfg->root_hints);
	cfg->root_hints = NULL;
	free(cfg->control_socket);
	cfg->control_socket = NULL;
	free(cfg->cache_dump_file);
	cfg->cache_dump_file = NULL;
	free(cfg->user);
	cfg->user = NULL;
	free(cfg->chroot_dir);
	cfg->chroot_dir = NULL;
	LIST_FREE(cfg->metrics_allow, cfg->nmetrics_allow);
	free(cfg->query_log);
	cfg->query_log = NULL;
	zones_deinit(cfg);
}

/* ------------------------------------------------------------------ value parsers ----- */

int cn_config_parse_size(const char *s, size_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return -EINVAL;
	}
	/* Accept "64MB"/"64MiB" as well: operators write them. */
	if (shift && (strcasecmp(end, "b") == 0 || strcasecmp(end, "ib") == 0))
		end += strlen(end);
	if (*end != '\0')
		return -EINVAL;
	if (shift && v > (SIZE_MAX >> shift))
		return -EINVAL;
	if (v > SIZE_MAX)
		return -EINVAL;
	*out = (size_t)(v << shift);
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int cn_config_parse_listen(const char *s, uint16_t default_port, cn_listen_t *out)
{
	char host[INET6_ADDRSTRLEN + 16];
	const char *port_str = NULL;
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n + 1);
	if (host[0] == '[') {
		/* [addr]:port or [addr] */
		char *close = strchr(host, ']');
		if (!close)
			return -EINVAL;
		const char *rest = s + (close - host) + 1; /* just past ']' */
		*close = '\0';
		memmove(host, host + 1, strlen(host + 1) + 1);
		if (*rest == ':' || *rest == '@')
			port_str = rest + 1;
		else if (*rest != '\0')
			return -EINVAL;
	} else {
		char *at = strrchr(host, '@');
		if (at) {
			*at = '\0';
			port_str = at + 1;
		} else if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':')) {
			/* exactly one ':' : IPv4 "addr:port" */
			at = strchr(host, ':');
			*at = '\0';
			port_str = at + 1;
		}
	}
	uint16_t port = default_port;
	if (port_str && parse_port(port_str, &port) != 0)
		return -EINVAL;
	cn_listen_t l;
	memset(&l, 0, sizeof(l));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&l.addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&l.addr;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		l.addr_len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		l.addr_len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	*out = l;
	return 0;
}

/* Grow-by-one append; counts stay small (a handful of addresses). */
static int append(void **arr, size_t *n, size_t size, const void *item)
{
	if (*n >= SIZE_MAX / size - 1)
		return -ENOMEM;
	void *p = realloc(*arr, (*n + 1) * size);
	if (!p)
		return -ENOMEM;
	memcpy((char *)p + *n * size, item, size);
	*arr = p;
	(*n)++;
	return 0;
}

int cn_config_add_listen(cn_config_t *cfg, const char *s)
{
	cn_listen_t l;
	if (cn_config_parse_listen(s, CN_DNS_PORT, &l) != 0)
		return -EINVAL;
	return append((void **)&cfg->listen, &cfg->nlisten, sizeof(l), &l);
}

static int add_cidr(cn_cidr_t **list, size_t *n, const char *s)
{
	cn_cidr_t c;
	if (cn_cidr_parse(s, &c) != 0)
		return -EINVAL;
	return append((void **)list, n, sizeof(c), &c);
}

int cn_config_add_refuse(cn_config_t *cfg, const char *s)
{
	return add_cidr(&cfg->refuse, &cfg->nrefuse, s);
}

int cn_config_add_deny(cn_config_t *cfg, const char *s)
{
	return add_cidr(&cfg->deny, &cfg->ndeny, s);
}

int cn_config_add_allow(cn_config_t *cfg, const char *s)
{
	cn_cidr_t c;
	if (cn_cidr_parse(s, &c) != 0)
		return -EINVAL;
	return append((void **)&cfg->allow, &cfg->nallow, sizeof(c), &c);
}

int cn_config_add_metrics_allow(cn_config_t *cfg, const char *s)
{
	cn_cidr_t c;
	if (cn_cidr_parse(s, &c) != 0)
		return -EINVAL;
	return append((void **)&cfg->metrics_allow, &cfg->nmetrics_allow, sizeof(c), &c);
}

int cn_config_set_metrics(cn_config_t *cfg, const char *s)
{
	cn_listen_t l;
	/* Default port 0 is no port: cn_config_parse_listen never yields 0 from the text. */
	if (cn_config_parse_listen(s, 0, &l) != 0 ||
	    ((struct sockaddr_in *)&l.addr)->sin_port == 0)
		return -EINVAL;
	cfg->metrics = l;
	cfg->metrics_on = true;
	return 0;
}

void cn_config_clear_listen(cn_config_t *cfg)
{
	LIST_FREE(cfg->listen, cfg->nlisten);
}

void cn_config_clear_allow(cn_config_t *cfg)
{
	LIST_FREE(cfg->allow, cfg->nallow);
}

int cn_config_check(const cn_config_t *cfg, char *err, size_t errlen)
{
	const cn_engine_conf_t *e = &cfg->engine;
	const char *why = NULL;
	if (e->timeout_min_ms > e->timeout_max_ms)
		why = "timeouts: min_ms is larger than max_ms";
	else if (e->limits.client_deadline_ms > e->limits.resolve_deadline_ms)
		why = "limits: client_deadline_ms is larger than resolve_deadline_ms";
	else if (e->servfail_ttl_s > e->servfail_ttl_max_s)
		why = "servfail_ttl is larger than servfail_ttl_max";
	else if (cfg->cache.min_ttl_s > cfg->cache.max_ttl_s)
		why = "cache: min_ttl is larger than max_ttl";
	else if ((cfg->load_cache_at_start || cfg->dump_cache_at_exit) && !cfg->cache_dump_file)
		why = "load_cache_at_start/dump_cache_at_exit need cache_dump_file";
	else if (cfg->nallow == 0)
		why = "allow: the list is empty, no client could query";
	else if (cfg->metrics_on && cfg->nmetrics_allow == 0)
		why = "metrics_allow: the list is empty, nobody could scrape /metrics";
	else if (cfg->cache.budget_bytes < 65536)
		why = "cache_size must be at least 64K";
	if (!why)
		return 0;
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

/* ------------------------------------------------------------------ the key table ----- */

typedef enum kind {
	K_BOOL,    /* true/false/yes/no/on/off */
	K_UINT,    /* decimal, in [min, max], stored in a field of `width` bytes */
	K_SIZE,    /* bytes with K/M/G suffix -> size_t */
	K_STR,     /* path -> malloc'ed char *, null/~ clears it */
	K_LISTEN,  /* list of addr[@port] (or one scalar) */
	K_ALLOW,   /* list of CIDRs (or one scalar) */
	K_REFUSE,  /* the same, answered REFUSED */
	K_DENY,    /* the same, dropped */
	K_POLICY,  /* s3fifo | sieve | lru */
	K_LOGLEVEL,/* error | warning | info | debug | 0..3 */
	K_LOGTARGET, /* stderr | syslog, into a bool (true: syslog) */
	K_MAP,     /* nested mapping: sub */
	K_ZONES,   /* list of {name, file, visible_to} */
	K_LOCAL_DATA, /* list of records in zone-file form */
	K_LZ_BUILTIN, /* true/false, or a mapping zone: true/false */
	K_FORWARD, /* list of {name, servers}: recursive servers */
	K_STUB,    /* list of {name, servers}: authoritative servers */
	K_METRICS, /* ADDR@PORT, or null: off */
	K_METRICS_ALLOW, /* list of CIDRs (or one scalar) */
} kind_t;

typedef struct key {
	const char *name;
	kind_t kind;
	size_t off;
	size_t width;
	unsigned long min, max;
	const struct key *sub;
} cfgkey_t;

#define FIELD(f) offsetof(cn_config_t, f), sizeof(((cn_config_t *)0)->f)
#define BOOL(n, f) { n, K_BOOL, FIELD(f), 0, 0, NULL }
#define UINT(n, f, lo, hi) { n, K_UINT, FIELD(f), lo, hi, NULL }
#define STR(n, f) { n, K_STR, FIELD(f), 0, 0, NULL }
#define END { NULL, K_BOOL, 0, 0, 0, 0, NULL }

static const cfgkey_t limits_keys[] = {
	UINT("cname_chain", engine.limits.cname_chain, 1, 100),
	UINT("upstream_queries", engine.limits.upstream_queries, 1, 1000),
	UINT("glueless_ns", engine.limits.glueless_ns, 0, 100),
	UINT("referral_depth", engine.limits.referral_depth, 1, 100),
	UINT("subrequest_depth", engine.limits.subrequest_depth, 0, 32),
	UINT("client_deadline_ms", engine.limits.client_deadline_ms, 100, 600000),
	UINT("resolve_deadline_ms", engine.limits.resolve_deadline_ms, 100, 600000),
	UINT("rrset_records", engine.limits.rrset_records, 1, 900),
	UINT("client_waiting", client_waiting, 1, 1000000),
	END,
};

static const cfgkey_t rate_limit_keys[] = {
	UINT("misses_per_second", rl_misses_per_second, 0, 1000000),
	UINT("slip", rl_slip, 0, 10),
	END,
};

static const cfgkey_t timeouts_keys[] = {
	UINT("min_ms", engine.timeout_min_ms, 10, 60000),
	UINT("max_ms", engine.timeout_max_ms, 10, 60000),
	UINT("initial_rtt_ms", engine.initial_rtt_ms, 1, 60000),
	UINT("failure_cache_s", engine.failure_cache_s, 0, 3600),
	END,
};

static const cfgkey_t cache_keys[] = {
	{ "size", K_SIZE, FIELD(cache.budget_bytes), 0, 0, NULL },
	UINT("min_ttl", cache.min_ttl_s, 0, 604800),
	UINT("max_ttl", cache.max_ttl_s, 0, 604800),
	UINT("neg_max_ttl", cache.neg_max_ttl_s, 0, 604800),
	UINT("stale_window", cache.stale_window_s, 0, 604800),
	UINT("shards", cache.shards, 0, 1024),
	{ "policy", K_POLICY, FIELD(cache.policy), 0, 0, NULL },
	UINT("predict_shift", cache.shadow_shift, 0, CN_CACHE_SHADOW_MAX_SHIFT),
	END,
};

static const cfgkey_t top_keys[] = {
	{ "listen", K_LISTEN, 0, 0, 0, 0, NULL },
	{ "allow", K_ALLOW, 0, 0, 0, 0, NULL },
	{ "refuse", K_REFUSE, 0, 0, 0, 0, NULL },
	{ "deny", K_DENY, 0, 0, 0, 0, NULL },
	STR("root_hints", root_hints),
	BOOL("allow_loopback_upstream", engine.allow_loopback_upstream),
	BOOL("qname_minimisation", engine.qname_minimisation),
	BOOL("use_0x20", engine.use_0x20),
	BOOL("do_ip4", engine.do_ip4),
	BOOL("do_ip6", engine.do_ip6),
	BOOL("serve_stale", engine.serve_stale),
	UINT("stale_answer_ttl", engine.stale_answer_ttl_s, 0, 86400),
	BOOL("prefetch", engine.prefetch),
	UINT("edns_udp_size", engine.edns_udp_size, 512, 4096),
	UINT("servfail_ttl", engine.servfail_ttl_s, 0, 300),
	UINT("servfail_ttl_max", engine.servfail_ttl_max_s, 1, 300),
	{ "limits", K_MAP, 0, 0, 0, 0, limits_keys },
	{ "rate_limit", K_MAP, 0, 0, 0, 0, rate_limit_keys },
	{ "timeouts", K_MAP, 0, 0, 0, 0, timeouts_keys },
	{ "cache_size", K_SIZE, FIELD(cache.budget_bytes), 0, 0, NULL },
	{ "cache", K_MAP, 0, 0, 0, 0, cache_keys },
	UINT("tcp_idle_timeout_ms", tcp_idle_timeout_ms, 100, 3600000),
	UINT("tcp_max_clients", tcp_max_clients, 1, 1000000),
	UINT("tcp_max_per_client", tcp_max_per_client, 1, 1000000),
	UINT("workers", workers, 0, 256),
	STR("control_socket", control_socket),
	STR("user", user),
	STR("chroot", chroot_dir),
	{ "log_level", K_LOGLEVEL, FIELD(log_level), 0, 0, NULL },
	{ "log_target", K_LOGTARGET, FIELD(log_syslog), 0, 0, NULL },
	STR("cache_dump_file", cache_dump_file),
	BOOL("load_cache_at_start", load_cache_at_start),
	BOOL("dump_cache_at_exit", dump_cache_at_exit),
	{ "zones", K_ZONES, 0, 0, 0, 0, NULL },
	{ "local_data", K_LOCAL_DATA, 0, 0, 0, 0, NULL },
	{ "local_zones_builtin", K_LZ_BUILTIN, 0, 0, 0, 0, NULL },
	{ "forward", K_FORWARD, 0, 0, 0, 0, NULL },
	{ "stub", K_STUB, 0, 0, 0, 0, NULL },
	{ "metrics", K_METRICS, 0, 0, 0, 0, NULL },
	{ "metrics_allow", K_METRICS_ALLOW, 0, 0, 0, 0, NULL },
	STR("query_log", query_log),
	BOOL("freebind", freebind),
	END,
};

/* ------------------------------------------------------------------ the walk ---------- */

typedef struct ctx {
	const char *name;
	yaml_document_t *doc;
	cn_config_t *cfg;
	char *err;
	size_t errlen;
} ctx_t;

__attribute__((format(printf, 3, 4)))
static int fail(ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s:%lu: %s", c->name,
		 (unsigned long)node->start_mark.line + 1, why);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

static bool is_null(const yaml_node_t *node)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = scalar(node);
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0;
}

static int need_scalar(ctx_t *c, const yaml_node_t *v, const char *key)
{
	if (v->type != YAML_SCALAR_NODE)
		return fail(c, v, "%s: expected a single value, got a %s", key,
			    v->type == YAML_MAPPING_NODE ? "mapping" : "list");
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static void store_uint(void *field, size_t width, unsigned long v)
{
	switch (width) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: *(uint64_t *)field = (uint64_t)v; break;
	}
}

/* Apply a list-or-scalar of strings through add(). */
static int set_list(ctx_t *c, const yaml_node_t *v, const cfgkey_t *k,
		    int (*add)(cn_config_t *, const char *), const char *what)
{
	/* A list in the file replaces the previous one (the default, or an earlier file). */
	if (k->kind == K_LISTEN) {
		cn_config_clear_listen(c->cfg);
	} else if (k->kind == K_METRICS_ALLOW) {
		LIST_FREE(c->cfg->metrics_allow, c->cfg->nmetrics_allow);
	} else if (k->kind == K_REFUSE) {
		LIST_FREE(c->cfg->refuse, c->cfg->nrefuse);
	} else if (k->kind == K_DENY) {
		LIST_FREE(c->cfg->deny, c->cfg->ndeny);
	} else {
		cn_config_clear_allow(c->cfg);
	}
	if (v->type == YAML_MAPPING_NODE)
		return fail(c, v, "%s: expected a list, got a mapping", k->name);
	if (v->type == YAML_SCALAR_NODE) {
		if (is_null(v))
			return 0;
		int rc = add(c->cfg, scalar(v));
		if (rc == -ENOMEM)
			return fail(c, v, "out of memory");
		return rc ? fail(c, v, "%s: bad %s \"%s\"", k->name, what, scalar(v)) : 0;
	}
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		if (!item || item->type != YAML_SCALAR_NODE)
			return fail(c, item ? item : v, "%s: each item must be a single %s",
				    k->name, what);
		int rc = add(c->cfg, scalar(item));
		if (rc == -ENOMEM)
			return fail(c, item, "out of memory");
		if (rc)
			return fail(c, item, "%s: bad %s \"%s\"", k->name, what, scalar(item));
	}
	return 0;
}

static int walk_map(ctx_t *c, const yaml_node_t *map, const cfgkey_t *keys, const char *prefix);
static int set_zones(ctx_t *c, const yaml_node_t *v);
static int set_local_data(ctx_t *c, const yaml_node_t *v);
static int set_lz_builtin(ctx_t *c, const yaml_node_t *v);
static int set_fwd(ctx_t *c, const yaml_node_t *v, bool stub);

static int set_uint(ctx_t *c, const yaml_node_t *v, const cfgkey_t *k, const char *path,
		    const char *s, void *field)
{
	char *end;
	errno = 0;
	unsigned long n = isdigit((unsigned char)s[0]) ? strtoul(s, &end, 10) : 0;
	if (!isdigit((unsigned char)s[0]) || errno || *end != '\0')
		return fail(c, v, "%s: expected a number, got \"%s\"", path, s);
	if (n < k->min || n > k->max)
		return fail(c, v, "%s: %lu is out of range [%lu, %lu]", path, n, k->min, k->max);
	store_uint(field, k->width, n);
	return 0;
}

static int set_str(ctx_t *c, const yaml_node_t *v, const char *path, const char *s,
		   char **field)
{
	char *copy = NULL;
	if (!is_null(v)) {
		if (s[0] == '\0')
			return fail(c, v, "%s: empty path", path);
		if (!(copy = strdup(s)))
			return fail(c, v, "out of memory");
	}
	free(*field);
	*field = copy;
	return 0;
}

static int set_policy(ctx_t *c, const yaml_node_t *v, const char *path, const char *s,
		      cn_cache_policy_t *field)
{
	if (strcasecmp(s, "s3fifo") == 0 || strcasecmp(s, "s3-fifo") == 0)
		*field = CN_EVICT_S3FIFO;
	else if (strcasecmp(s, "sieve") == 0)
		*field = CN_EVICT_SIEVE;
	else if (strcasecmp(s, "lru") == 0)
		*field = CN_EVICT_LRU;
	else
		return fail(c, v, "%s: expected s3fifo, sieve or lru, got \"%s\"", path, s);
	return 0;
}

/* A key whose value is one scalar: parse it into its field by kind. */
static int set_scalar(ctx_t *c, const yaml_node_t *v, const cfgkey_t *k, const char *path,
		      void *field)
{
	int rc;
	if ((rc = need_scalar(c, v, path)))
		return rc;
	const char *s = scalar(v);
	switch (k->kind) {
	case K_BOOL:
		if (parse_bool(s, (bool *)field))
			return fail(c, v, "%s: expected true or false, got \"%s\"", path, s);
		return 0;
	case K_UINT:
		return set_uint(c, v, k, path, s, field);
	case K_SIZE:
		if (cn_config_parse_size(s, (size_t *)field))
			return fail(c, v, "%s: expected a size like 64M, got \"%s\"", path, s);
		if (*(size_t *)field < 65536)
			return fail(c, v, "%s: must be at least 64K", path);
		return 0;
	case K_STR:
		return set_str(c, v, path, s, field);
	case K_POLICY:
		return set_policy(c, v, path, s, field);
	case K_LOGLEVEL:
		if ((*(int *)field = cn_log_level_from_str(s)) < 0)
			return fail(c, v, "%s: expected error, warning, info or debug, got \"%s\"",
				    path, s);
		return 0;
	case K_LOGTARGET:
		if (strcmp(s, "stderr") != 0 && strcmp(s, "syslog") != 0)
			return fail(c, v, "%s: expected stderr or syslog, got \"%s\"", path, s);
		*(bool *)field = strcmp(s, "syslog") == 0;
		return 0;
	default:
		return fail(c, v, "%s: internal error", path);
	}
}

static int set_metrics(ctx_t *c, const yaml_node_t *v, const char *path)
{
	int rc = need_scalar(c, v, path);
	if (rc)
		return rc;
	if (is_null(v)) {
		c->cfg->metrics_on = false;
		return 0;
	}
	if (cn_config_set_metrics(c->cfg, scalar(v)) != 0)
		return fail(c, v, "%s: expected ADDR@PORT (a port is required), got \"%s\"", path,
			    scalar(v));
	return 0;
}

static int set_value(ctx_t *c, const yaml_node_t *v, const cfgkey_t *k, const char *path)
{
	switch (k->kind) {
	case K_MAP:
		if (v->type != YAML_MAPPING_NODE) {
			if (is_null(v))
				return 0;
			return fail(c, v, "%s: expected a mapping", path);
		}
		return walk_map(c, v, k->sub, path);
	case K_LISTEN:
		return set_list(c, v, k, cn_config_add_listen, "address[@port]");
	case K_ALLOW:
		return set_list(c, v, k, cn_config_add_allow, "subnet (address/prefix)");
	case K_REFUSE:
		return set_list(c, v, k, cn_config_add_refuse, "subnet (address/prefix)");
	case K_DENY:
		return set_list(c, v, k, cn_config_add_deny, "subnet (address/prefix)");
	case K_METRICS_ALLOW:
		return set_list(c, v, k, cn_config_add_metrics_allow, "subnet (address/prefix)");
	case K_METRICS:
		return set_metrics(c, v, path);
	case K_ZONES:
		return set_zones(c, v);
	case K_LOCAL_DATA:
		return set_local_data(c, v);
	case K_LZ_BUILTIN:
		return set_lz_builtin(c, v);
	case K_FORWARD:
	case K_STUB:
		return set_fwd(c, v, k->kind == K_STUB);
	default:
		return set_scalar(c, v, k, path, (char *)c->cfg + k->off);
	}
}

static int walk_map(ctx_t *c, const yaml_node_t *map, const cfgkey_t *keys, const char *prefix)
{
	unsigned char seen[64] = { 0 };
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
		if (!kn || !vn)
			return fail(c, map, "broken document");
		if (kn->type != YAML_SCALAR_NODE)
			return fail(c, kn, "keys must be plain names");
		const char *name = scalar(kn);
		char path[128];
		if (prefix)
			snprintf(path, sizeof(path), "%s.%s", prefix, name);
		else
			snprintf(path, sizeof(path), "%s", name);
		size_t i = 0;
		while (keys[i].name && strcmp(keys[i].name, name) != 0)
			i++;
		if (!keys[i].name)
			return fail(c, kn, "unknown key \"%s\"", path);
		if (i < sizeof(seen) && seen[i])
			return fail(c, kn, "duplicate key \"%s\"", path);
		if (i < sizeof(seen))
			seen[i] = 1;
		int rc = set_value(c, vn, &keys[i], path);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ hosted zones ------ */

static void zone_cfg_free(cn_zone_cfg_t *z)
{
	free(z->name);
	free(z->file);
	free(z->visible_to);
	free(z->where);
}

static void zones_deinit(cn_config_t *cfg)
{
	for (size_t i = 0; i < cfg->nzones; i++)
		zone_cfg_free(&cfg->zones[i]);
	free(cfg->zones);
	cfg->zones = NULL;
	cfg->nzones = 0;
	for (size_t i = 0; i < cfg->nlocal_data; i++) {
		free(cfg->local_data[i].rr);
		free(cfg->local_data[i].source);
	}
	free(cfg->local_data);
	cfg->local_data = NULL;
	cfg->nlocal_data = 0;
	for (size_t i = 0; i < cfg->nlocal_zones_off; i++)
		free(cfg->local_zones_off[i]);
	free(cfg->local_zones_off);
	cfg->local_zones_off = NULL;
	cfg->nlocal_zones_off = 0;
	for (size_t i = 0; i < cfg->nfwd; i++) {
		free(cfg->fwd[i].name);
		free(cfg->fwd[i].where);
	}
	free(cfg->fwd);
	cfg->fwd = NULL;
	cfg->nfwd = 0;
}

/* A zone file path relative to the config file's folder (absolute paths stay). */
static char *zone_path(const char *config, const char *file)
{
	const char *slash = strrchr(config, '/');
	if (file[0] == '/' || !slash)
		return strdup(file);
	size_t dl = (size_t)(slash - config) + 1, fl = strlen(file);
	char *p = malloc(dl + fl + 1);
	if (p) {
		memcpy(p, config, dl);
		memcpy(p + dl, file, fl + 1);
	}
	return p;
}

static const yaml_node_t *map_get(ctx_t *c, const yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		if (kn && kn->type == YAML_SCALAR_NODE && strcmp(scalar(kn), key) == 0)
			return yaml_document_get_node(c->doc, p->value);
	}
	return NULL;
}

static int set_zone_entry(ctx_t *c, const yaml_node_t *item, cn_zone_cfg_t *z)
{
	if (item->type != YAML_MAPPING_NODE)
		return fail(c, item, "zones: each entry is a mapping with name, file, visible_to");
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		if (!kn || kn->type != YAML_SCALAR_NODE ||
		    (strcmp(scalar(kn), "name") && strcmp(scalar(kn), "file") &&
		     strcmp(scalar(kn), "visible_to")))
			return fail(c, kn ? kn : item, "zones: unknown key \"%s\" (name, file, "
				    "visible_to)", kn && kn->type == YAML_SCALAR_NODE ?
				    scalar(kn) : "?");
	}
	const yaml_node_t *name = map_get(c, item, "name"), *file = map_get(c, item, "file");
	const yaml_node_t *vis = map_get(c, item, "visible_to");
	if (!name || name->type != YAML_SCALAR_NODE || !scalar(name)[0])
		return fail(c, item, "zones: an entry needs a name");
	if (!file || file->type != YAML_SCALAR_NODE || !scalar(file)[0])
		return fail(c, item, "zones: %s needs a file", scalar(name));
	char where[300];
	snprintf(where, sizeof(where), "%s:%lu", c->name, (unsigned long)item->start_mark.line + 1);
	if (!(z->name = strdup(scalar(name))) || !(z->file = zone_path(c->name, scalar(file))) ||
	    !(z->where = strdup(where)))
		return fail(c, item, "out of memory");
	if (!vis || is_null(vis))
		return 0;
	if (vis->type == YAML_MAPPING_NODE)
		return fail(c, vis, "zones: visible_to is a list of subnets");
	const yaml_node_t *one[1] = { vis };
	yaml_node_item_t *it = vis->type == YAML_SEQUENCE_NODE ? vis->data.sequence.items.start
							      : NULL;
	size_t n = vis->type == YAML_SEQUENCE_NODE
			   ? (size_t)(vis->data.sequence.items.top - it) : 1;
	if (n == 0)
		return fail(c, vis, "zones: visible_to is empty: no client would see %s",
			    scalar(name));
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *s = it ? yaml_document_get_node(c->doc, it[i]) : one[0];
		cn_cidr_t cidr;
		if (!s || s->type != YAML_SCALAR_NODE || cn_cidr_parse(scalar(s), &cidr) != 0)
			return fail(c, s ? s : vis, "zones: visible_to: bad subnet \"%s\"",
				    s && s->type == YAML_SCALAR_NODE ? scalar(s) : "?");
		if (append((void **)&z->visible_to, &z->nvisible, sizeof(cidr), &cidr))
			return fail(c, s, "out of memory");
	}
	return 0;
}

static int set_zones(ctx_t *c, const yaml_node_t *v)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "zones: expected a list");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		cn_zone_cfg_t z = { 0 };
		int rc = item ? set_zone_entry(c, item, &z) : fail(c, v, "broken document");
		if (rc == 0 && append((void **)&c->cfg->zones, &c->cfg->nzones, sizeof(z), &z))
			rc = fail(c, item, "out of memory");
		if (rc) {
			zone_cfg_free(&z);
			return rc;
		}
	}
	return 0;
}

static int set_local_data(ctx_t *c, const yaml_node_t *v)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "local_data: expected a list of records");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		if (!item || item->type != YAML_SCALAR_NODE || !scalar(item)[0])
			return fail(c, item ? item : v, "local_data: each item is one record, "
				    "like \"printer.lan. 300 IN A 192.168.1.9\"");
		cn_local_data_cfg_t d = { .rr = strdup(scalar(item)), .source = strdup(c->name),
					  .line = (unsigned)item->start_mark.line + 1 };
		if (!d.rr || !d.source ||
		    append((void **)&c->cfg->local_data, &c->cfg->nlocal_data, sizeof(d), &d)) {
			free(d.rr);
			free(d.source);
			return fail(c, item, "out of memory");
		}
	}
	return 0;
}

static int set_lz_builtin(ctx_t *c, const yaml_node_t *v)
{
	bool b;
	if (v->type == YAML_SCALAR_NODE) {
		if (parse_bool(scalar(v), &b))
			return fail(c, v, "local_zones_builtin: expected true, false or a mapping "
				    "of zone: false");
		c->cfg->local_zones_builtin = b;
		return 0;
	}
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v, "local_zones_builtin: expected true, false or a mapping of "
			    "zone: false");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
		if (!kn || !vn || kn->type != YAML_SCALAR_NODE || vn->type != YAML_SCALAR_NODE ||
		    parse_bool(scalar(vn), &b))
			return fail(c, kn ? kn : v, "local_zones_builtin: each entry is zone: "
				    "true/false");
		if (b)
			continue;
		if (cn_config_add_local_zone_off(c->cfg, scalar(kn)))
			return fail(c, kn, "out of memory");
	}
	return 0;
}

int cn_config_add_local_zone_off(cn_config_t *cfg, const char *name)
{
	char *copy = strdup(name);
	if (!copy || append((void **)&cfg->local_zones_off, &cfg->nlocal_zones_off, sizeof(copy),
			    &copy)) {
		free(copy);
		return -ENOMEM;
	}
	return 0;
}

int cn_config_add_zone_arg(cn_config_t *cfg, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1])
		return -EINVAL;
	cn_zone_cfg_t z = { .name = strndup(arg, (size_t)(eq - arg)), .file = strdup(eq + 1),
			    .where = strdup("--zone") };
	if (!z.name || !z.file || !z.where ||
	    append((void **)&cfg->zones, &cfg->nzones, sizeof(z), &z)) {
		zone_cfg_free(&z);
		return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------------ forward, stub ----- */

static const char *fwd_key(bool stub)
{
	return stub ? "stub" : "forward";
}

/* A forward or stub zone's name and one server: checked here, so start-up fails early. */
static int fwd_name_ok(const char *name)
{
	uint8_t wire[CN_DNAME_MAX];
	return cn_dname_from_str(name, wire, NULL) == 0 ? 0 : -EINVAL;
}

/* Append z (owned by cfg from now on, or freed) unless its name is there already. */
static int fwd_add(cn_config_t *cfg, cn_fwd_cfg_t *z, char *err, size_t errlen)
{
	uint8_t a[CN_DNAME_MAX], b[CN_DNAME_MAX];
	cn_dname_from_str(z->name, a, NULL);
	for (size_t i = 0; i < cfg->nfwd; i++) {
		cn_dname_from_str(cfg->fwd[i].name, b, NULL);
		if (cn_dname_eq(a, b)) {
			snprintf(err, errlen, "%s: %s is a forward or stub zone already (%s)",
				 z->where, z->name, cfg->fwd[i].where);
			goto fail;
		}
	}
	if (append((void **)&cfg->fwd, &cfg->nfwd, sizeof(*z), z) == 0)
		return 0;
	snprintf(err, errlen, "out of memory");
fail:
	free(z->name);
	free(z->where);
	return -EINVAL;
}

static int fwd_server(cn_fwd_cfg_t *z, const char *s)
{
	if (z->nservers >= CN_CONFIG_FWD_SERVERS ||
	    cn_config_parse_listen(s, CN_DNS_PORT, &z->servers[z->nservers]) != 0)
		return -EINVAL;
	z->nservers++;
	return 0;
}

static int set_fwd_entry(ctx_t *c, const yaml_node_t *item, bool stub, cn_fwd_cfg_t *z)
{
	const char *key = fwd_key(stub);
	if (item->type != YAML_MAPPING_NODE)
		return fail(c, item, "%s: each entry is a mapping with name and servers", key);
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		if (!kn || kn->type != YAML_SCALAR_NODE ||
		    (strcmp(scalar(kn), "name") && strcmp(scalar(kn), "servers")))
			return fail(c, kn ? kn : item, "%s: unknown key \"%s\" (name, servers)", key,
				    kn && kn->type == YAML_SCALAR_NODE ? scalar(kn) : "?");
	}
	const yaml_node_t *name = map_get(c, item, "name"), *sv = map_get(c, item, "servers");
	if (!name || name->type != YAML_SCALAR_NODE || fwd_name_ok(scalar(name)) != 0)
		return fail(c, item, "%s: an entry needs a name (a domain name)", key);
	if (!sv || sv->type != YAML_SEQUENCE_NODE ||
	    sv->data.sequence.items.top == sv->data.sequence.items.start)
		return fail(c, item, "%s: %s needs a list of servers", key, scalar(name));
	for (yaml_node_item_t *it = sv->data.sequence.items.start;
	     it < sv->data.sequence.items.top; it++) {
		yaml_node_t *s = yaml_document_get_node(c->doc, *it);
		if (!s || s->type != YAML_SCALAR_NODE || fwd_server(z, scalar(s)) != 0)
			return fail(c, s ? s : sv, "%s: %s: bad server \"%s\" (ADDR or ADDR@PORT, "
				    "at most %d)", key, scalar(name),
				    s && s->type == YAML_SCALAR_NODE ? scalar(s) : "?",
				    CN_CONFIG_FWD_SERVERS);
	}
	char where[300];
	snprintf(where, sizeof(where), "%s:%lu", c->name, (unsigned long)item->start_mark.line + 1);
	z->stub = stub;
	if (!(z->name = strdup(scalar(name))) || !(z->where = strdup(where)))
		return fail(c, item, "out of memory");
	return 0;
}

static int set_fwd(ctx_t *c, const yaml_node_t *v, bool stub)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "%s: expected a list", fwd_key(stub));
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		cn_fwd_cfg_t z;
		memset(&z, 0, sizeof(z));
		int rc = item ? set_fwd_entry(c, item, stub, &z) : fail(c, v, "broken document");
		if (rc) {
			free(z.name);
			free(z.where);
			return rc;
		}
		char why[512];
		if (fwd_add(c->cfg, &z, why, sizeof(why)) != 0)
			return fail(c, item, "%s", why);
	}
	return 0;
}

int cn_config_add_fwd_arg(cn_config_t *cfg, const char *arg, bool stub, char *err,
			  size_t errlen)
{
	const char *eq = strchr(arg, '=');
	cn_fwd_cfg_t z;
	memset(&z, 0, sizeof(z));
	z.stub = stub;
	if (!eq || eq == arg || !eq[1] || !(z.name = strndup(arg, (size_t)(eq - arg))) ||
	    fwd_name_ok(z.name) != 0) {
		free(z.name);
		snprintf(err, errlen, "expected NAME=ADDR[@PORT][,ADDR...]");
		return -EINVAL;
	}
	char *list = strdup(eq + 1), *save = NULL;
	for (char *s = list ? strtok_r(list, ",", &save) : NULL; s; s = strtok_r(NULL, ",", &save))
		if (fwd_server(&z, s) != 0) {
			snprintf(err, errlen, "bad server \"%s\" (ADDR or ADDR@PORT, at most %d)", s,
				 CN_CONFIG_FWD_SERVERS);
			free(list);
			free(z.name);
			return -EINVAL;
		}
	free(list);
	if (z.nservers == 0 || !(z.where = strdup(stub ? "--stub" : "--forward"))) {
		snprintf(err, errlen, "expected NAME=ADDR[@PORT][,ADDR...]");
		free(z.name);
		return -EINVAL;
	}
	return fwd_add(cfg, &z, err, errlen);
}

/* ------------------------------------------------------------------ entry points ------ */

int cn_config_load_string(cn_config_t *cfg, const char *name, const char *text, size_t len,
			  char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%lu: YAML %s error: %s%s%s", name,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.error == YAML_SCANNER_ERROR ? "syntax" :
			 parser.error == YAML_PARSER_ERROR  ? "structure" : "read",
			 parser.problem ? parser.problem : "unknown problem",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	int rc = 0;
	ctx_t c = { .name = name, .doc = &doc, .cfg = cfg, .err = err, .errlen = errlen };
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || is_null(root)) {
		/* An empty file: every default stands. */
	} else if (root->type != YAML_MAPPING_NODE) {
		rc = fail(&c, root, "the top level must be a mapping of key: value");
	} else {
		rc = walk_map(&c, root, top_keys, NULL);
	}
	if (rc == 0) {
		char why[200];
		if (cn_config_check(cfg, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%lu: %s", name,
				 (unsigned long)root->end_mark.line + 1, why);
			rc = -EINVAL;
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

int cn_config_load(cn_config_t *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return e == ENOENT ? -ENOENT : -EINVAL;
	}
	/* Config files are small; cap them so a wrong path (a disk image...) fails fast. */
	enum { MAX_CONFIG = 1 << 20 };
	char *text = malloc(MAX_CONFIG);
	if (!text) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	size_t n = fread(text, 1, MAX_CONFIG, f);
	int rc;
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		rc = -EINVAL;
	} else if (n == MAX_CONFIG) {
		snprintf(err, errlen, "%s: file larger than 1 MiB", path);
		rc = -EINVAL;
	} else {
		rc = cn_config_load_string(cfg, path, text, n, err, errlen);
	}
	free(text);
	fclose(f);
	return rc;
}
