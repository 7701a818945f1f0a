/*
 * cairn's configuration: one YAML file (read with libyaml, documented key by key in
 * docs/config.md), then command-line flags on top. cn_config_t is plain data owned by main
 * for the life of the process (DESIGN.md "process" lifetime); the engine and cache parts
 * are the very structs handed to cn_engine_new() and cn_cache_new().
 *
 * Errors: a bad file, an unknown key, a wrong type or a bad value stops start-up. The
 * loader reports the first one as "FILE:LINE: reason" and main exits with status 2.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cache/cache.h"
#include "net/acl.h"
#include "resolver/resolver.h"

#define CN_DNS_PORT 53

/** One listen address: UDP and TCP are both served on it. */
typedef struct cn_listen {
	struct sockaddr_storage addr;
	socklen_t addr_len;
} cn_listen_t;

/** One hosted zone (`zones:` / --zone). */
typedef struct cn_zone_cfg {
	char *name;                 /* as written */
	char *file;                 /* relative paths already joined to the config's folder */
	cn_cidr_t *visible_to;      /* malloc'ed; none: public */
	size_t nvisible;
	char *where;                /* "FILE:LINE" of the entry, for messages */
} cn_zone_cfg_t;

/** One forward or stub zone (`forward:` / `stub:`, --forward / --stub NAME=ADDR,...). */
#define CN_CONFIG_FWD_SERVERS 8
typedef struct cn_fwd_cfg {
	char *name;                 /* as written */
	bool stub;                  /* stub: authoritative servers; else recursive forwarders */
	cn_listen_t servers[CN_CONFIG_FWD_SERVERS]; /* port 53 unless ADDR@PORT */
	unsigned nservers;
	char *where;                /* "FILE:LINE" or the flag, for messages */
} cn_fwd_cfg_t;

/** One `local_data:` record and where it was written. */
typedef struct cn_local_data_cfg {
	char *rr;
	char *source;               /* the config file */
	unsigned line;
} cn_local_data_cfg_t;

/** One `trust_anchors:` record (or --trust-anchor) and where it was written. */
typedef struct cn_anchor_cfg {
	char *rr;                   /* DS or DNSKEY in presentation format, checked as read */
	char *where;                /* "FILE:LINE" or "--trust-anchor", for messages */
} cn_anchor_cfg_t;

typedef struct cn_config {
	cn_engine_conf_t engine;    /* limits, flags, timeouts (hints/random/log left to main) */
	cn_cache_conf_t cache;      /* budget, policy, TTL clamps, stale window */

	cn_listen_t *listen;        /* malloc'ed; empty = the defaults (127.0.0.1, ::1 port 53) */
	size_t nlisten;
	cn_cidr_t *allow;           /* malloc'ed; default 127.0.0.0/8 and ::1 */
	size_t nallow;
	cn_cidr_t *refuse;          /* answered REFUSED even inside allow; default none */
	size_t nrefuse;
	cn_cidr_t *deny;            /* dropped without a reply; default none */
	size_t ndeny;

	char *root_hints;           /* path or NULL (compiled-in hints) */
	char *control_socket;       /* path or NULL (no control socket) */
	char *cache_dump_file;      /* path or NULL */
	bool load_cache_at_start;   /* default false; needs cache_dump_file */
	bool dump_cache_at_exit;    /* default false; needs cache_dump_file */

	unsigned tcp_idle_timeout_ms; /* default 10000 */
	unsigned tcp_max_clients;     /* default 256 */
	unsigned tcp_max_per_client;  /* TCP connections from one address, default 32 */
	unsigned client_waiting;      /* queries of one client waiting on resolutions, 1000 */
	unsigned rl_misses_per_second; /* rate_limit: UDP cache misses a second per client
					  /24 or /56; 0 (default): no limit */
	unsigned rl_slip;             /* rate_limit.slip: every Nth limited query gets a TC=1
					 reply instead of nothing; 0: never; default 2 */
	unsigned workers;             /* threads serving queries; 0 (default) = one per CPU */
	unsigned ready_answers;       /* cache.ready_answers: ready-to-send replies per worker
					 (resolver/hot.c); 0 = none; default 2048 */
	char *user;                   /* switch to this user after binding; NULL = no switch */
	char *chroot_dir;             /* chroot: confine the process here after start-up;
					 NULL = none */
	int log_level;                /* 0..3, default 2 (info) */
	bool log_syslog;              /* log_target: syslog (syslog(3)); default stderr */
	cn_listen_t metrics;          /* the /metrics endpoint (`metrics:`, --metrics) ... */
	bool metrics_on;              /* ... when set; default off */
	cn_cidr_t *metrics_allow;     /* malloc'ed; who may scrape it, default loopback */
	size_t nmetrics_allow;
	char *query_log;              /* path, "-" (stdout) or NULL (no query log) */
	bool freebind;                /* IP_FREEBIND on the listeners; default false */

	/* hosted zones (docs/config.md "Hosted zones") */
	cn_zone_cfg_t *zones;         /* malloc'ed list */
	size_t nzones;
	cn_local_data_cfg_t *local_data;
	size_t nlocal_data;
	bool local_zones_builtin;     /* default true */
	char **local_zones_off;       /* built-in zones switched off one by one */
	size_t nlocal_zones_off;
	cn_fwd_cfg_t *fwd;            /* forward and stub zones, malloc'ed list */
	size_t nfwd;

	/* DNSSEC (docs/config.md "DNSSEC"): dnssec:, dnssec_limits:, bogus_ttl and
	 * aggressive_nsec are in engine.dnssec; its anchors and nta pointers stay NULL here
	 * (main points them at what it builds from these, for the engine's copy only) */
	cn_anchor_cfg_t *trust_anchors; /* malloc'ed list; none: see trust_anchor_file */
	size_t ntrust_anchors;
	char *trust_anchor_file;      /* relative paths joined to the config's folder; with
					 neither this nor trust_anchors: the built-in ones */
	uint8_t (*nta)[CN_DNAME_MAX]; /* negative_trust_anchors: wire form, lower case,
					 malloc'ed, at most CN_NTA_MAX, no duplicates */
	size_t nnta;
} cn_config_t;

/**
 * Fill cfg with the defaults. engine_defaults: the engine's own defaults
 * (cn_engine_conf_default), or NULL for the values documented in resolver.h, so this file
 * does not need the engine to link (the config unit tests run without it).
 */
/** Returns 0 or -ENOMEM. */
int cn_config_init(cn_config_t *cfg, const cn_engine_conf_t *engine_defaults);
/** Free what the config owns (lists, paths) and reset those fields. */
void cn_config_deinit(cn_config_t *cfg);

/**
 * Read a YAML file into cfg (on top of what is there; cn_config_init first). Returns 0, or
 * -EINVAL / -ENOENT / -ENOMEM with "FILE:LINE: reason" (or "FILE: reason" when no line
 * applies) in err. On error cfg may be partly updated: cn_config_deinit it.
 */
int cn_config_load(cn_config_t *cfg, const char *path, char *err, size_t errlen);
/** Same, from a string; name is used in messages. */
int cn_config_load_string(cn_config_t *cfg, const char *name, const char *text, size_t len,
			  char *err, size_t errlen);

/** Cross-field checks (timeouts min <= max, dump flags need a file...), run by the loader
 *  and again by main after applying flags. Returns 0 or -EINVAL with a reason in err. */
int cn_config_check(const cn_config_t *cfg, char *err, size_t errlen);

/** "64M", "1G", "65536", "512K" (powers of 1024; case-insensitive suffix) -> bytes.
 *  Returns 0 or -EINVAL (empty, junk, overflow). */
int cn_config_parse_size(const char *s, size_t *out);

/** "127.0.0.1", "127.0.0.1@5353", "::1@53", "[::1]:53" -> address with port (default_port
 *  when none). Returns 0 or -EINVAL. */
int cn_config_parse_listen(const char *s, uint16_t default_port, cn_listen_t *out);

/** Append a listen address / allowed subnet. Returns 0, -EINVAL or -ENOMEM. */
int cn_config_add_listen(cn_config_t *cfg, const char *s);
/** --forward / --stub NAME=ADDR[@PORT][,ADDR...]: 0, or -EINVAL with why in err. */
int cn_config_add_fwd_arg(cn_config_t *cfg, const char *arg, bool stub, char *err,
			  size_t errlen);
int cn_config_add_allow(cn_config_t *cfg, const char *s);
int cn_config_add_refuse(cn_config_t *cfg, const char *s);
int cn_config_add_deny(cn_config_t *cfg, const char *s);
int cn_config_add_metrics_allow(cn_config_t *cfg, const char *s);
/** The /metrics address from "ADDR@PORT" (a port is required). 0 or -EINVAL. */
int cn_config_set_metrics(cn_config_t *cfg, const char *s);
/** Add a hosted zone from "NAME=FILE" (--zone; FILE relative to the working directory).
 *  Returns 0, -EINVAL or -ENOMEM. */
int cn_config_add_zone_arg(cn_config_t *cfg, const char *arg);
/** Switch one built-in local zone off (--no-local-zone NAME). 0 or -ENOMEM. */
int cn_config_add_local_zone_off(cn_config_t *cfg, const char *name);

/** --trust-anchor RR: one DS or DNSKEY record in presentation format, appended to
 *  trust_anchors (where: for messages). 0, or -EINVAL / -ENOMEM with why in err. */
int cn_config_add_trust_anchor(cn_config_t *cfg, const char *rr, const char *where, char *err,
			       size_t errlen);
/** --nta NAME: one negative trust anchor (RFC 7646), appended unless listed already.
 *  0, -EINVAL (not a domain name), -ENOSPC (more than CN_NTA_MAX) or -ENOMEM. */
int cn_config_add_nta(cn_config_t *cfg, const char *name);
struct cn_anchor_set;
/**
 * The trust anchors cfg names, into the empty set: trust_anchors and the records of
 * trust_anchor_file (both: the union), or the built-in root anchors when neither is set.
 * Returns 0, or -EINVAL / -ENOMEM with "FILE:LINE: reason" in err (the set is then freed).
 */
int cn_config_anchors(const cn_config_t *cfg, struct cn_anchor_set *set, char *err,
		      size_t errlen);
/** Whether cfg names trust anchors of its own (else the built-in root anchors apply). */
bool cn_config_has_anchors(const cn_config_t *cfg);

/** Drop every listen address (a -l flag replaces the file's list). */
void cn_config_clear_listen(cn_config_t *cfg);
/** Drop every allowed subnet (an `allow:` list replaces the loopback default). */
void cn_config_clear_allow(cn_config_t *cfg);
