/*
 * The YAML configuration loader. libyaml builds the document tree (so YAML syntax, anchors
 * and quoting are its business, not ours); config_keys.c walks it against a table of keys,
 * each with a type, a range and the offset of the field it sets. Every error names the file
 * and the line of the offending node, because an operator fixing a config at 3 a.m. should
 * not have to guess (Unbound and Knot both report file:line). This file: the defaults, the
 * cross-field checks and the entry points; config_internal.h lists the others.
 */
#include "net/config_internal.h"

#include "resolver/defaults.h"

/* ------------------------------------------------------------------ defaults --------- */

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
	cfg->ready_answers = 2048;
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
	cn__config_zones_deinit(cfg);
	cn__config_dnssec_deinit(cfg);
}

/* ------------------------------------------------------------------ checks ---------- */

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
	else if (e->dnssec.sigs_per_rrset > e->dnssec.sigs_per_request)
		why = "dnssec_limits: sigs_per_rrset is larger than sigs_per_request";
	else if (e->dnssec.nsec3_iter_insecure > e->dnssec.nsec3_iter_bogus)
		why = "dnssec_limits: nsec3_iterations_insecure is larger than "
		      "nsec3_iterations_bogus";
	if (!why)
		return 0;
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
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
		rc = cn__config_walk_top(&c, root);
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
