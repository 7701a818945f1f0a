/*
 * The daemon's state and what its files share (the cairn executable only: net/main.c and
 * net/daemon_*.c, which need libsystemd; the rest of net/ never includes this).
 *
 *   main.c           start-up in order (hints, zones, cache, engine, loop, listeners...),
 *                    shutdown, --check-config, main()
 *   daemon_args.c    the command-line flags: usage, the two getopt passes
 *   daemon_privs.c   chroot and user: giving up privileges, paths as seen inside the chroot
 *   daemon_reload.c  signals (stop, reload, reopen), reload (SIGHUP, cairnctl reload)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "net/config.h"
#include "net/control.h"
#include "net/metrics.h"
#include "net/pool.h"
#include "net/querylog.h"
#include "net/stats.h"
#include "net/zones.h"
#include "resolver/dnssec.h"
#include "resolver/resolver.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.0.0"
#endif

typedef struct daemon {
	cn_config_t cfg;
	cn_hint_t *hints;
	size_t nhints;
	cn_anchor_set_t anchors; /* trust anchors, built at start for the process's life
				    (the engine borrows them) */
	cn_cache_t *cache;
	cn_engine_t *engine;
	cn_zoneset_t *zones;    /* hosted zones, read at start and by reloads; the engine
				   borrows them */
	cn_zones_retired_t *retired; /* sets reloads replaced, freed by a pool barrier */
	uv_loop_t loop;         /* main loop: signals, control socket */
	bool loop_ok;
	cn_pool_t *pool;        /* the workers, each on its own thread and loop */
	bool workers_ran;
	uv_signal_t sigint, sigterm, sighup, sigusr1;
	bool signals_ok;
	bool stopping;          /* SIGINT/SIGTERM seen */
	cn_control_t *control;
	cn_metrics_t *metrics;  /* /metrics, or NULL */
	cn_querylog_t *qlog;    /* the query log (off unless query_log is set) */
	char control_dir[256];  /* the control socket's directory ... */
	bool control_dir_made;  /* ... when cairn created it */
	/* What a reload reads again: the file, then the same flags over it. */
	const char *config_path;
	int argc;
	char **argv;
	/* Access lists installed by reloads: workers may still be reading an older one, so
	 * each is kept until exit (a few bytes per reload). */
	cn_acl_t **acls;
	size_t nacls;
	const cn_acl_t *allow_now;   /* the workers' list a reload installed (NULL: d->cfg's) */
	const cn_acl_t *metrics_now; /* the same for metrics_allow */
	cn_daemon_stats_t stats; /* reloads (net/stats.h); read by /metrics' thread too */
} daemon_t;

/* daemon_args.c. First pass: -c, --help, --version, --check-config. Returns -1 to go on,
 * else an exit status. */
int cn_daemon_args_first_pass(int argc, char **argv, const char **config_path,
			      bool *check_only);
/* Second pass: every flag, applied over the file. Returns 0 or 2 (usage error). */
int cn_daemon_args_apply(int argc, char **argv, cn_config_t *cfg);

/* daemon_privs.c. A path as seen inside the chroot root (NULL: outside it; path itself
 * without a root). */
const char *cn_daemon_in_root(const char *root, const char *path);
/* Every path of cfg opened after start-up, as seen inside root. 0, or -1 with why. */
int cn_daemon_rebase_config(const char *root, cn_config_t *cfg, bool strict, char *why,
			    size_t whylen);
/* chroot and user, after every listener is bound. 0 or exit status 1. */
int cn_daemon_drop_privileges(daemon_t *d);

/* daemon_reload.c */
int cn_daemon_start_signals(daemon_t *d);
void cn_daemon_close_signals(daemon_t *d);
/* SIGHUP and `cairnctl reload` (the control socket's reload callback). */
int cn_daemon_reload(void *ctx, char *msg, size_t msglen);
/* The control socket's `stats` lines of net/ (workers, upstream, the daemon's counters). */
void cn_daemon_net_stats(void *ctx, cn_control_net_stats_t *out);
/* Lists moved into a cn_acl_t kept until exit (refuse, deny may be NULL). NULL: ENOMEM. */
const cn_acl_t *cn_daemon_keep_acl(daemon_t *d, cn_cidr_t **allow, size_t *nallow,
				   cn_cidr_t **refuse, size_t *nrefuse, cn_cidr_t **deny,
				   size_t *ndeny);
void cn_daemon_free_acls(daemon_t *d);
