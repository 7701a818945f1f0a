/*
 * The key table and its walk: every key of the file with its kind, range and the field it
 * sets (scalar keys, address and subnet lists, nested maps); keys with a structure of their
 * own are handed to their file (config_zones.c, config_dnssec.c).
 */
#include "net/config_internal.h"

#include <ctype.h>

#include "net/log.h"

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
	K_ANCHORS, /* list of DS/DNSKEY records (or one scalar) */
	K_ANCHOR_FILE, /* path, relative to the config's folder; null clears it */
	K_NTA,     /* list of domain names (or one scalar) */
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
	UINT("ready_answers", ready_answers, 0, 65536),
	END,
};

/* KeyTrap (CVE-2023-50387), NSEC3 (CVE-2023-50868, RFC 9276); NSEC3 iterations are a
 * 16-bit field, and RFC 5155 10.3 allowed at most 2500 */
static const cfgkey_t dnssec_limits_keys[] = {
	UINT("sigs_per_rrset", engine.dnssec.sigs_per_rrset, 1, 1000),
	UINT("sigs_per_request", engine.dnssec.sigs_per_request, 1, 10000),
	UINT("nsec3_hashes", engine.dnssec.nsec3_hashes, 1, 10000),
	UINT("nsec3_iterations_insecure", engine.dnssec.nsec3_iter_insecure, 0, 2500),
	UINT("nsec3_iterations_bogus", engine.dnssec.nsec3_iter_bogus, 0, 65535),
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
	BOOL("dnssec", engine.dnssec.enabled),
	{ "trust_anchors", K_ANCHORS, 0, 0, 0, 0, NULL },
	{ "trust_anchor_file", K_ANCHOR_FILE, 0, 0, 0, 0, NULL },
	{ "negative_trust_anchors", K_NTA, 0, 0, 0, 0, NULL },
	{ "dnssec_limits", K_MAP, 0, 0, 0, 0, dnssec_limits_keys },
	UINT("bogus_ttl", engine.dnssec.bogus_ttl_s, 1, 300),
	BOOL("aggressive_nsec", engine.dnssec.aggressive_nsec),
	END,
};

/* ------------------------------------------------------------------ the walk ---------- */

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
		return cn__config_set_zones(c, v);
	case K_LOCAL_DATA:
		return cn__config_set_local_data(c, v);
	case K_LZ_BUILTIN:
		return cn__config_set_lz_builtin(c, v);
	case K_FORWARD:
	case K_STUB:
		return cn__config_set_fwd(c, v, k->kind == K_STUB);
	case K_ANCHORS:
		return cn__config_set_trust_anchors(c, v, path);
	case K_ANCHOR_FILE:
		return cn__config_set_anchor_file(c, v, path);
	case K_NTA:
		return cn__config_set_nta(c, v, path);
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

int cn__config_walk_top(ctx_t *c, const yaml_node_t *root)
{
	return walk_map(c, root, top_keys, NULL);
}
