/*
 * cairn: the daemon. Reads the configuration (file, then flags on top), creates the cache,
 * the engine and the worker pool (net/pool.h: one loop and thread per worker), binds the
 * listen addresses in every worker, starts the workers' threads, and runs the main loop —
 * signals and the control socket — in the foreground, logging to stderr, until SIGINT or
 * SIGTERM. Then it stops cleanly: the workers are told to stop (uv_async) and joined,
 * every handle closed, every loop closed, the cache dumped if configured, everything
 * freed, exit 0.
 *
 * Exit status: 0 after a signal, 1 when start-up fails at run time (a bind, memory),
 * 2 for a usage or configuration error ("FILE:LINE: reason" on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cache/cache.h"
#include "net/config.h"
#include "net/log.h"
#include "net/pool.h"
#include "resolver/errors.h"
#include "resolver/resolver.h"
#include "resolver/zone.h"
#if __has_include("net/control.h")
#include "net/control.h"
#define CAIRN_HAVE_CONTROL 1
#endif

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.0.0"
#endif

enum {
	OPT_ROOT_HINTS = 256,
	OPT_ALLOW_LOOPBACK,
	OPT_NO_QMIN,
	OPT_CACHE_SIZE,
	OPT_CONTROL,
	OPT_WORKERS,
	OPT_ZONE,
	OPT_NO_LOCAL_ZONE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "listen", required_argument, NULL, 'l' },
	{ "root-hints", required_argument, NULL, OPT_ROOT_HINTS },
	{ "allow-loopback-upstream", no_argument, NULL, OPT_ALLOW_LOOPBACK },
	{ "no-qname-minimisation", no_argument, NULL, OPT_NO_QMIN },
	{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "zone", required_argument, NULL, OPT_ZONE },
	{ "no-local-zone", required_argument, NULL, OPT_NO_LOCAL_ZONE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cairn [options]\n"
		"A caching recursive DNS resolver. Runs in the foreground, logs to stderr.\n\n"
		"  -c, --config FILE            YAML configuration (docs/config.md)\n"
		"  -l, --listen ADDR[@PORT]     serve UDP and TCP on ADDR (repeatable; replaces the\n"
		"                               file's list; default 127.0.0.1 and ::1, port 53)\n"
		"      --root-hints FILE        root hints in named.root format\n"
		"      --allow-loopback-upstream  allow upstream servers on 127.0.0.0/8 and ::1\n"
		"      --no-qname-minimisation  send full query names upstream\n"
		"      --cache-size N[K|M|G]    cache budget in bytes (default 64M)\n"
		"      --control PATH           serve the control socket (cairnctl) on PATH\n"
		"      --workers N              threads serving queries (default: one per CPU)\n"
		"      --zone NAME=FILE         host the zone NAME from FILE, public (repeatable)\n"
		"      --no-local-zone NAME     do not answer the built-in local zone NAME\n"
		"                               (e.g. 2.0.192.in-addr.arpa.; repeatable)\n"
		"  -v, --verbose                more logging (repeat for debug)\n"
		"  -q, --quiet                  less logging (repeat for errors only)\n"
		"      --help                   this text\n"
		"      --version                print the version\n\n"
		"Flags override the configuration file. Stop with SIGINT or SIGTERM.\n");
}

typedef struct daemon {
	cn_config_t cfg;
	cn_hint_t *hints;
	size_t nhints;
	cn_cache_t *cache;
	cn_engine_t *engine;
	cn_zoneset_t *zones;    /* hosted zones, read at start; the engine borrows them */
	uv_loop_t loop;         /* main loop: signals, control socket */
	bool loop_ok;
	cn_pool_t *pool;        /* the workers, each on its own thread and loop */
	bool workers_ran;
	uv_signal_t sigint, sigterm;
	bool signals_ok;
#ifdef CAIRN_HAVE_CONTROL
	cn_control_t *control;
#endif
} daemon_t;

/* ------------------------------------------------------------------ arguments --------- */

/* First pass: -c, --help, --version. Returns -1 to go on, else an exit status. */
static int args_first_pass(int argc, char **argv, const char **config_path)
{
	opterr = 0; /* the second pass reports unknown options */
	int ch;
	while ((ch = getopt_long(argc, argv, "c:l:vq", long_opts, NULL)) != -1) {
		if (ch == 'c')
			*config_path = optarg;
		else if (ch == OPT_HELP) {
			usage(stdout);
			return 0;
		} else if (ch == OPT_VERSION) {
			printf("cairn %s\n", CAIRN_VERSION);
			return 0;
		}
	}
	return -1;
}

/* Second pass: every flag, applied over the file. Returns 0 or 2 (usage error). */
static int args_apply(int argc, char **argv, cn_config_t *cfg)
{
	optind = 0; /* glibc: full re-initialisation */
	opterr = 1;
	bool listen_cleared = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "c:l:vq", long_opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			break;
		case 'l':
			if (!listen_cleared) {
				cn_config_clear_listen(cfg);
				listen_cleared = true;
			}
			if (cn_config_add_listen(cfg, optarg) != 0) {
				fprintf(stderr, "cairn: -l %s: expected ADDR or ADDR@PORT\n", optarg);
				return 2;
			}
			break;
		case OPT_ROOT_HINTS:
		case OPT_CONTROL: {
			char *copy = strdup(optarg);
			if (!copy)
				return 2;
			char **field = ch == OPT_ROOT_HINTS ? &cfg->root_hints : &cfg->control_socket;
			free(*field);
			*field = copy;
			break;
		}
		case OPT_ALLOW_LOOPBACK:
			cfg->engine.allow_loopback_upstream = true;
			break;
		case OPT_NO_LOCAL_ZONE:
			if (cn_config_add_local_zone_off(cfg, optarg) != 0)
				return 2;
			break;
		case OPT_ZONE:
			if (cn_config_add_zone_arg(cfg, optarg) != 0) {
				fprintf(stderr, "cairn: --zone %s: expected NAME=FILE\n", optarg);
				return 2;
			}
			break;
		case OPT_NO_QMIN:
			cfg->engine.qname_minimisation = false;
			break;
		case OPT_WORKERS: {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || n > 256) {
				fprintf(stderr, "cairn: --workers %s: expected 0..256 (0: one per CPU)\n",
					optarg);
				return 2;
			}
			cfg->workers = (unsigned)n;
			break;
		}
		case OPT_CACHE_SIZE:
			if (cn_config_parse_size(optarg, &cfg->cache.budget_bytes) != 0) {
				fprintf(stderr, "cairn: --cache-size %s: expected N, NK, NM or NG\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			if (cfg->log_level < CN_LOG_DEBUG)
				cfg->log_level++;
			break;
		case 'q':
			if (cfg->log_level > CN_LOG_ERROR)
				cfg->log_level--;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairn: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	char err[256];
	if (cn_config_check(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "cairn: %s\n", err);
		return 2;
	}
	return 0;
}

/* ------------------------------------------------------------------ signals ----------- */

static void on_signal(uv_signal_t *sig, int signum)
{
	daemon_t *d = sig->data;
	cn_log(CN_LOG_INFO, "%s received, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	cn_pool_stop(d->pool);
#ifdef CAIRN_HAVE_CONTROL
	cn_control_close(d->control);
	d->control = NULL;
#endif
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	d->signals_ok = false;
}

#ifdef CAIRN_HAVE_CONTROL
static void upstream_stats(void *ctx, cn_upstream_stats_t *out)
{
	daemon_t *d = ctx;
	cn_pool_get_upstream_stats(d->pool, out);
}
#endif

/* ------------------------------------------------------------------ start / stop ------ */

static uint64_t wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

static void log_addr(int level, const char *what, const struct sockaddr *sa, int rc)
{
	char host[64] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		uv_ip4_name((const struct sockaddr_in *)sa, host, sizeof(host));
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)sa, host, sizeof(host));
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	}
	if (rc < 0)
		cn_log(level, "%s %s@%d: %s", what, host, port, uv_strerror(rc));
	else
		cn_log(level, "%s %s@%d", what, host, port);
}

/*
 * Hosted zones (`zones:`, --zone, `local_data:`, the built-in local zones) into d->zones.
 * Any error stops start-up with status 2 and "FILE:LINE: reason" on stderr.
 */
static int load_zones(daemon_t *d)
{
	const cn_config_t *cfg = &d->cfg;
	char err[512];
	if (cn_zoneset_new(&d->zones) != 0)
		return 1;
	for (size_t i = 0; i < cfg->nzones; i++) {
		const cn_zone_cfg_t *z = &cfg->zones[i];
		cn_zone_prefix_t vis[64];
		if (z->nvisible > 64) {
			fprintf(stderr, "%s: zone %s: at most 64 visible_to subnets\n", z->where,
				z->name);
			return 2;
		}
		for (size_t k = 0; k < z->nvisible; k++) {
			vis[k].family = z->visible_to[k].family;
			vis[k].bits = z->visible_to[k].prefix;
			memcpy(vis[k].addr, z->visible_to[k].addr, 16);
		}
		int rc = cn_zoneset_load_file(d->zones, z->name, z->file, vis, z->nvisible, err,
					      sizeof(err));
		if (rc == -EEXIST) {
			fprintf(stderr, "%s: zone %s is listed twice\n", z->where, z->name);
			return 2;
		}
		if (rc != 0) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		cn_log(CN_LOG_INFO, "zone %s: %s from %s", z->name,
		       z->nvisible ? "private" : "public", z->file);
	}
	for (size_t i = 0; i < cfg->nlocal_data; i++) {
		const cn_local_data_cfg_t *l = &cfg->local_data[i];
		if (cn_zoneset_add_local_data(d->zones, l->rr, l->source, l->line, err,
					      sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
	}
	if (cfg->local_zones_builtin &&
	    cn_zoneset_add_builtin(d->zones, (const char *const *)cfg->local_zones_off,
				   cfg->nlocal_zones_off, err, sizeof(err)) != 0) {
		fprintf(stderr, "cairn: local_zones_builtin: %s\n", err);
		return 2;
	}
	return 0;
}

/* Everything up to a running loop. Returns 0, or an exit status. */
static int start(daemon_t *d)
{
	cn_config_t *cfg = &d->cfg;
	if (cfg->nlisten == 0 &&
	    (cn_config_add_listen(cfg, "127.0.0.1@53") || cn_config_add_listen(cfg, "::1@53")))
		return 1;

	if (cfg->root_hints) {
		char err[256];
		int rc = cn_hints_load(cfg->root_hints, &d->hints, &d->nhints, err, sizeof(err));
		if (rc < 0) {
			/* "FILE:LINE: reason" like the config loader ("line N: reason" from it). */
			size_t plen = strlen(cfg->root_hints);
			if (strncmp(err, cfg->root_hints, plen) == 0)
				fprintf(stderr, "%s\n", err);
			else if (strncmp(err, "line ", 5) == 0)
				fprintf(stderr, "%s:%s\n", cfg->root_hints, err + 5);
			else
				fprintf(stderr, "%s: %s\n", cfg->root_hints, err);
			return 2;
		}
		cn_log(CN_LOG_INFO, "root hints: %zu servers from %s", d->nhints, cfg->root_hints);
	}

	cn_cache_conf_t cc = cfg->cache;
	arc4random_buf(cc.hash_key, sizeof(cc.hash_key));
	int rc = cn_cache_new(&cc, &d->cache);
	if (rc < 0) {
		cn_log(CN_LOG_ERROR, "cannot create the cache: %s", cn_strerror(rc));
		return 1;
	}
	if (cfg->load_cache_at_start && cfg->cache_dump_file) {
		long n = cn_cache_load(d->cache, cfg->cache_dump_file, wall_now());
		if (n >= 0)
			cn_log(CN_LOG_INFO, "cache: %ld entries loaded from %s", n,
			       cfg->cache_dump_file);
		else
			cn_log(CN_LOG_WARNING, "cache: not loaded from %s: %s",
			       cfg->cache_dump_file, cn_strerror((int)n));
	}

	if ((rc = load_zones(d)) != 0)
		return rc;

	cn_engine_conf_t ec = cfg->engine;
	ec.zones = cn_zoneset_count(d->zones) ? d->zones : NULL;
	ec.hints = d->hints;
	ec.nhints = d->nhints;
	ec.random = arc4random_buf;
	ec.log = cn_log_sink;
	ec.log_level = cfg->log_level;
	rc = cn_engine_new(&ec, d->cache, &d->engine);
	if (rc < 0) {
		cn_log(CN_LOG_ERROR, "cannot create the engine: %s", cn_strerror(rc));
		return 1;
	}

	if ((rc = uv_loop_init(&d->loop)) < 0) {
		cn_log(CN_LOG_ERROR, "uv_loop_init: %s", uv_strerror(rc));
		return 1;
	}
	d->loop_ok = true;
	unsigned nworkers = cn_pool_workers_for(cfg->workers);
	if ((rc = cn_pool_new(cfg, d->engine, nworkers, &d->pool)) < 0) {
		cn_log(CN_LOG_ERROR, "cannot create the workers: %s", uv_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&cfg->listen[i].addr;
		rc = cn_pool_listen(d->pool, sa);
		if (rc < 0) {
			log_addr(CN_LOG_ERROR, "cannot listen on", sa, rc);
			return 1;
		}
		log_addr(CN_LOG_INFO, "listening on", sa, 0);
	}

#ifdef CAIRN_HAVE_CONTROL
	if (cfg->control_socket) {
		rc = cn_control_open(&d->loop, cfg->control_socket, d->engine, d->cache,
				     &d->control);
		if (rc < 0) {
			cn_log(CN_LOG_ERROR, "control socket %s: %s", cfg->control_socket,
			       strerror(-rc));
			return 1;
		}
		cn_control_set_upstream_stats(d->control, upstream_stats, d);
		cn_log(CN_LOG_INFO, "control socket on %s", cfg->control_socket);
	}
#else
	if (cfg->control_socket)
		cn_log(CN_LOG_WARNING, "control socket not built in; ignoring %s",
		       cfg->control_socket);
#endif

	uv_signal_init(&d->loop, &d->sigint);
	uv_signal_init(&d->loop, &d->sigterm);
	d->sigint.data = d->sigterm.data = d;
	d->signals_ok = true;
	if ((rc = uv_signal_start(&d->sigint, on_signal, SIGINT)) < 0 ||
	    (rc = uv_signal_start(&d->sigterm, on_signal, SIGTERM)) < 0) {
		cn_log(CN_LOG_ERROR, "signals: %s", uv_strerror(rc));
		return 1;
	}
	d->workers_ran = true;
	if ((rc = cn_pool_start(d->pool)) < 0) {
		cn_log(CN_LOG_ERROR, "cannot start the worker threads: %s", uv_strerror(rc));
		return 1;
	}
	cn_log(CN_LOG_INFO, "%u worker%s", nworkers, nworkers == 1 ? "" : "s");
	return 0;
}

static void log_stats(daemon_t *d)
{
	cn_worker_stats_t ws;
	cn_pool_get_stats(d->pool, &ws);
	cn_engine_stats_t es;
	cn_engine_stats(d->engine, &es);
	cn_log(CN_LOG_INFO,
	       "queries %llu (refused %llu), resolutions %llu, coalesced %llu (handed to another "
	       "worker %llu), prefetches %llu, late answers %llu, abandoned %llu, upstream "
	       "queries %llu",
	       (unsigned long long)ws.queries, (unsigned long long)ws.refused,
	       (unsigned long long)ws.resolutions, (unsigned long long)ws.coalesced,
	       (unsigned long long)ws.handoffs,
	       (unsigned long long)ws.prefetches, (unsigned long long)ws.late_answers,
	       (unsigned long long)ws.abandoned, (unsigned long long)es.upstream_queries);
}

/* Close whatever start() opened (it may have stopped half way), run the loops dry, free. */
static int stop(daemon_t *d)
{
	int status = 0;
	cn_pool_stop(d->pool);
	if (d->loop_ok) {
#ifdef CAIRN_HAVE_CONTROL
		cn_control_close(d->control);
		d->control = NULL;
#endif
		if (d->signals_ok) {
			uv_close((uv_handle_t *)&d->sigint, NULL);
			uv_close((uv_handle_t *)&d->sigterm, NULL);
			d->signals_ok = false;
		}
		uv_run(&d->loop, UV_RUN_DEFAULT);
		int rc = uv_loop_close(&d->loop);
		if (rc != 0) {
			cn_log(CN_LOG_ERROR, "loop closed with handles still open: %s",
			       uv_strerror(rc));
			status = 1;
		}
	}
	if (d->pool) {
		if (cn_pool_join(d->pool) != 0)
			status = 1;
		if (d->workers_ran)
			log_stats(d);
	}
	cn_pool_free(d->pool);
	d->pool = NULL;
	if (d->cache && d->cfg.dump_cache_at_exit && d->cfg.cache_dump_file) {
		long n = cn_cache_dump(d->cache, d->cfg.cache_dump_file, wall_now());
		if (n >= 0)
			cn_log(CN_LOG_INFO, "cache: %ld entries dumped to %s", n,
			       d->cfg.cache_dump_file);
		else
			cn_log(CN_LOG_WARNING, "cache: dump to %s failed: %s",
			       d->cfg.cache_dump_file, cn_strerror((int)n));
	}
	cn_engine_free(d->engine);
	cn_zoneset_free(d->zones);
	cn_cache_free(d->cache);
	free(d->hints);
	cn_config_deinit(&d->cfg);
	return status;
}

int main(int argc, char **argv)
{
	static daemon_t d; /* zeroed; static only to keep a large struct off the stack */
	const char *config_path = NULL;
	int status = args_first_pass(argc, argv, &config_path);
	if (status >= 0)
		return status;

	cn_engine_conf_t engine_defaults;
	cn_engine_conf_default(&engine_defaults);
	if (cn_config_init(&d.cfg, &engine_defaults) != 0) {
		fprintf(stderr, "cairn: out of memory\n");
		return 1;
	}
	if (config_path) {
		char err[512];
		if (cn_config_load(&d.cfg, config_path, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			cn_config_deinit(&d.cfg);
			return 2;
		}
	}
	if ((status = args_apply(argc, argv, &d.cfg)) != 0) {
		cn_config_deinit(&d.cfg);
		return status;
	}
	cn_log_set_level(d.cfg.log_level);
	signal(SIGPIPE, SIG_IGN);

	status = start(&d);
	if (status == 0) {
		cn_log(CN_LOG_INFO, "cairn %s running", CAIRN_VERSION);
		uv_run(&d.loop, UV_RUN_DEFAULT);
	}
	int stop_status = stop(&d);
	if (status == 0)
		status = stop_status;
	if (status == 0)
		cn_log(CN_LOG_INFO, "stopped");
	return status;
}
