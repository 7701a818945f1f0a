/*
 * cairn: the daemon. Reads the configuration (file, then flags on top), creates the cache,
 * the engine and the worker pool (net/pool.h: one loop and thread per worker), binds the
 * listen addresses in every worker, starts the workers' threads, and runs the main loop —
 * signals and the control socket — in the foreground, logging to stderr, until SIGINT or
 * SIGTERM. SIGHUP (and `cairnctl reload`) re-read the configuration and apply what can
 * change live (net/daemon_reload.c); SIGUSR1 reopens the query log. Then it stops cleanly:
 * the workers are told to stop (uv_async) and joined, every handle closed, every loop
 * closed, the cache dumped if configured, everything freed, exit 0. This file holds the
 * start-up steps in order and the shutdown; net/daemon.h lists the daemon's other files.
 *
 * Exit status: 0 after a signal, 1 when start-up fails at run time (a bind, memory),
 * 2 for a usage or configuration error ("FILE:LINE: reason" on stderr).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "cache/cache.h"
#include "net/daemon.h"
#include "net/log.h"
#include "net/udp.h"
#include "resolver/errors.h"
#include "resolver/zone.h"

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

/* Hosted zones into d->zones (net/zones.c). An error stops start-up with status 2 and
 * "FILE:LINE: reason" on stderr. */
static int load_zones(daemon_t *d)
{
	char err[512];
	if (cn_zones_build(&d->cfg, &d->zones, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	return 0;
}

/* A loopback root-hint address is never asked unless allow_loopback_upstream is on (a
 * test tree on 127.x, most likely): say so at start rather than fail every query. */
static size_t loopback_hints(const daemon_t *d, size_t *all_out)
{
	size_t loop = 0, all = 0;
	for (size_t i = 0; i < d->nhints; i++)
		for (int a = 0; a < d->hints[i].naddr; a++) {
			const struct sockaddr_storage *ss = &d->hints[i].addr[a];
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
			all++;
			loop += ss->ss_family == AF_INET
					? (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >>
					   24) == 127
					: IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
		}
	*all_out = all;
	return loop;
}

static void warn_loopback_hints(const daemon_t *d)
{
	if (d->cfg.engine.allow_loopback_upstream)
		return;
	size_t all, loop = loopback_hints(d, &all);
	if (loop)
		cn_log(CN_LOG_WARNING, "root hints: %zu of %zu addresses are loopback, and "
		       "allow_loopback_upstream is off: they will not be asked", loop, all);
}

/* Root hints from the configured file, if any. Returns 0 or exit status 2. */
static int load_hints(daemon_t *d)
{
	const char *path = d->cfg.root_hints;
	if (!path)
		return 0;
	char err[256];
	int rc = cn_hints_load(path, &d->hints, &d->nhints, err, sizeof(err));
	if (rc < 0) {
		/* "FILE:LINE: reason" like the config loader ("line N: reason" from it). */
		size_t plen = strlen(path);
		if (strncmp(err, path, plen) == 0)
			fprintf(stderr, "%s\n", err);
		else if (strncmp(err, "line ", 5) == 0)
			fprintf(stderr, "%s:%s\n", path, err + 5);
		else
			fprintf(stderr, "%s: %s\n", path, err);
		return 2;
	}
	cn_log(CN_LOG_INFO, "root hints: %zu servers from %s", d->nhints, path);
	warn_loopback_hints(d);
	return 0;
}

/*
 * The trust anchors (trust_anchors:, trust_anchor_file:, or the built-in root anchors),
 * built once and kept until exit. A bad record or file stops start-up with status 2 and
 * "FILE:LINE: reason" on stderr. Root hints on loopback are a test tree, most likely, whose
 * signed root the built-in anchors do not trust: said at start (after load_hints).
 */
static int load_anchors(daemon_t *d)
{
	char err[512];
	if (cn_config_anchors(&d->cfg, &d->anchors, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	const char *file = d->cfg.trust_anchor_file;
	if (cn_config_has_anchors(&d->cfg))
		cn_log(CN_LOG_INFO, "trust anchors: %zu record(s) from %s%s%s", d->anchors.n,
		       d->cfg.ntrust_anchors ? "trust_anchors" : "", file && d->cfg.ntrust_anchors
		       ? " and " : "", file ? file : "");
	size_t all;
	if (d->cfg.engine.dnssec.enabled && !cn_config_has_anchors(&d->cfg) &&
	    loopback_hints(d, &all) > 0)
		cn_log(CN_LOG_WARNING, "dnssec is on with the built-in root trust anchors, but the "
		       "root hints are loopback addresses (a test tree?): its answers will be "
		       "bogus unless trust_anchor_file names its anchor (`scripts/testbed up "
		       "--signed` writes trust-anchor.ds) or dnssec is off");
	if (!d->cfg.engine.dnssec.enabled)
		cn_log(CN_LOG_INFO, "dnssec: off (no validation)");
	return 0;
}

/* The cache (keyed with a fresh secret), warmed from the dump file when configured. */
static int open_cache(daemon_t *d)
{
	const cn_config_t *cfg = &d->cfg;
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
	return 0;
}

static int open_engine(daemon_t *d)
{
	cn_engine_conf_t ec = d->cfg.engine;
	ec.zones = cn_zoneset_count(d->zones) ? d->zones : NULL;
	cn_fwdzone_t *fwd = NULL;
	if (cn_zones_fwd(&d->cfg, &fwd, &ec.nfwd) != 0) {
		cn_log(CN_LOG_ERROR, "cannot create the engine: out of memory");
		return 1;
	}
	ec.fwd = fwd;
	ec.hints = d->hints;
	ec.nhints = d->nhints;
	ec.dnssec.anchors = &d->anchors; /* borrowed until exit; the NTA list is copied */
	ec.dnssec.nta = (const uint8_t (*)[CN_DNAME_MAX])d->cfg.nta;
	ec.dnssec.nnta = d->cfg.nnta;
	ec.random = arc4random_buf;
	ec.log = cn_log_sink;
	ec.log_level = d->cfg.log_level;
	int rc = cn_engine_new(&ec, d->cache, &d->engine);
	free(fwd); /* the engine keeps its own copy */
	if (rc < 0) {
		cn_log(CN_LOG_ERROR, "cannot create the engine: %s", cn_strerror(rc));
		return 1;
	}
	return 0;
}

/* The main loop (signals, control socket). */
static int open_loop(daemon_t *d)
{
	int rc = uv_loop_init(&d->loop);
	if (rc < 0) {
		cn_log(CN_LOG_ERROR, "uv_loop_init: %s", uv_strerror(rc));
		return 1;
	}
	d->loop_ok = true;
	return 0;
}

/* The second-instance probe (cn_listen_probe) of every listen address, all before the
 * first real bind: the workers' SO_REUSEPORT sockets would otherwise share a port another
 * process (a second cairn of the same user) serves, silently. */
static int probe_listeners(const cn_config_t *cfg)
{
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&cfg->listen[i].addr;
		int rc = cn_listen_probe(sa, cfg->freebind);
		if (rc < 0)
			log_addr(CN_LOG_ERROR, "cannot listen on", sa, rc);
		if (rc == -EADDRINUSE)
			cn_log(CN_LOG_ERROR, "another process (a second cairn?) serves that address "
			       "already; not starting a second instance");
		else if (rc == -EADDRNOTAVAIL && !cfg->freebind)
			cn_log(CN_LOG_ERROR, "the address is on no interface (yet); `freebind: true` "
			       "binds it anyway");
		if (rc < 0)
			return 1;
	}
	return 0;
}

/* The worker pool (not started yet) and every configured listener. */
static int open_workers(daemon_t *d, unsigned nworkers)
{
	const cn_config_t *cfg = &d->cfg;
	int rc;
	if (probe_listeners(cfg))
		return 1;
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
	return 0;
}

/* The control socket's directory (/run/cairn by default) is created when missing, mode
 * 0750, as a service manager's RuntimeDirectory= would; only the last component. */
static void make_control_dir(daemon_t *d, const char *path)
{
	char *dir = d->control_dir;
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(d->control_dir))
		return;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (mkdir(dir, 0750) == 0) {
		d->control_dir_made = true;
		cn_log(CN_LOG_INFO, "created %s for the control socket", dir);
	} else if (errno != EEXIST)
		cn_log(CN_LOG_WARNING, "cannot create %s: %s", dir, strerror(errno));
}

static int open_control(daemon_t *d)
{
	const char *path = d->cfg.control_socket;
	if (!path)
		return 0;
	make_control_dir(d, path);
	int rc = cn_control_open(&d->loop, path, d->engine, d->cache, &d->control);
	if (rc < 0) {
		cn_log(CN_LOG_ERROR, "control socket %s: %s", path, strerror(-rc));
		return 1;
	}
	cn_control_set_net_stats(d->control, cn_daemon_net_stats, d);
	cn_control_set_reload(d->control, cn_daemon_reload, d);
	cn_log(CN_LOG_INFO, "control socket on %s", path);
	return 0;
}

/* Bind the /metrics socket before the DNS listeners (so a client that waits for port 53
 * finds it listening; connections wait in its backlog until the thread starts) and before
 * privileges are dropped; start() serves it once the workers run. */
static int open_metrics(daemon_t *d)
{
	const cn_config_t *cfg = &d->cfg;
	if (!cfg->metrics_on)
		return 0;
	const struct sockaddr *sa = (const struct sockaddr *)&cfg->metrics.addr;
	d->metrics_now = cn_daemon_keep_acl(d, &d->cfg.metrics_allow, &d->cfg.nmetrics_allow, NULL,
					    NULL, NULL, NULL);
	int rc = d->metrics_now ? cn_metrics_bind(sa, cfg->metrics.addr_len, d->metrics_now,
						  &d->metrics)
				: -ENOMEM;
	if (rc == -ENOENT)
		return 1; /* libmicrohttpd could not be loaded: said already */
	if (rc < 0) {
		log_addr(CN_LOG_ERROR, "metrics: cannot listen on", sa, uv_translate_sys_error(-rc));
		return 1;
	}
	return 0;
}

/* The query log: created off, opened when configured (before privileges are dropped, so a
 * root-owned directory works; a reopen later needs the file to be writable by `user`). */
static int open_querylog(daemon_t *d)
{
	if (cn_querylog_new(&d->qlog) != 0)
		return 1;
	cn_pool_set_querylog(d->pool, d->qlog);
	const char *path = d->cfg.query_log;
	int rc = path ? cn_querylog_open(d->qlog, path) : 0;
	if (rc < 0) {
		cn_log(CN_LOG_ERROR, "query_log %s: %s", path, strerror(-rc));
		return 1;
	}
	if (path)
		cn_log(CN_LOG_INFO, "query log to %s", strcmp(path, "-") ? path : "stdout");
	return 0;
}


/* Everything up to a running loop, in order (the control socket and /metrics before the
 * DNS listeners: whoever waits for port 53 finds them in place). Returns 0, or an exit
 * status; stop() closes whatever was opened before a failure. */
static int start(daemon_t *d)
{
	cn_config_t *cfg = &d->cfg;
	if (cfg->nlisten == 0 &&
	    (cn_config_add_listen(cfg, "127.0.0.1@53") || cn_config_add_listen(cfg, "::1@53")))
		return 1;
	unsigned nworkers = cn_pool_workers_for(cfg->workers);
	int status;
	if ((status = load_hints(d)) || (status = load_anchors(d)) || (status = load_zones(d)) ||
	    (status = open_cache(d)) ||
	    (status = open_engine(d)) ||
	    (status = open_loop(d)) || (status = open_metrics(d)) || (status = open_control(d)) ||
	    (status = open_workers(d, nworkers)) || (status = open_querylog(d)) ||
	    (status = cn_daemon_drop_privileges(d)) || (status = cn_daemon_start_signals(d)))
		return status;
	d->workers_ran = true;
	int rc = cn_pool_start(d->pool);
	if (rc < 0) {
		cn_log(CN_LOG_ERROR, "cannot start the worker threads: %s", uv_strerror(rc));
		return 1;
	}
	cn_log(CN_LOG_INFO, "%u worker%s", nworkers, nworkers == 1 ? "" : "s");
	if (d->metrics) {
		if (cn_metrics_start(d->metrics, d->engine, d->cache, d->pool, &d->stats) != 0) {
			cn_log(CN_LOG_ERROR, "metrics: cannot start the HTTP server");
			return 1;
		}
		log_addr(CN_LOG_INFO, "metrics: GET /metrics on", (const struct sockaddr *)&cfg->metrics.addr,
			 0);
	}
	/* systemd Type=notify: every listener is bound and the workers run. */
	sd_notify(0, "READY=1");
	return 0;
}

static void log_stats(daemon_t *d)
{
	cn_worker_stats_t ws;
	cn_pool_get_stats(d->pool, &ws);
	cn_engine_stats_t es;
	cn_engine_stats(d->engine, &es);
	cn_log(CN_LOG_INFO,
	       "queries %llu (%llu refused or dropped by the access lists), resolutions %llu, "
	       "coalesced %llu (handed to another "
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
	cn_metrics_stop(d->metrics); /* before the workers stop (on_signal did it already) */
	d->metrics = NULL;
	cn_pool_stop(d->pool);
	if (d->loop_ok) {
		cn_control_close(d->control);
		d->control = NULL;
		/* Shutdown is committed: a signal during the join or the cache dump would
		 * otherwise find libuv's handlers gone and the default action (death) back.
		 * Closing them restores SIG_DFL, so they are blocked (workers block them
		 * always: pool.c) until SIG_IGN is in place; one pending is then discarded. */
		sigset_t set, old;
		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		cn_daemon_close_signals(d);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGUSR1, SIG_IGN);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
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
	cn_querylog_free(d->qlog); /* after the workers flushed their lines */
	d->qlog = NULL;
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
	cn_zones_retired_free(&d->retired);
	cn_zoneset_free(d->zones);
	cn_cache_free(d->cache);
	free(d->hints);
	cn_anchor_set_free(&d->anchors);
	cn_daemon_free_acls(d);
	cn_config_deinit(&d->cfg);
	return status;
}

/* --check-config, after the file and the flags were read without error: what start-up
 * reads besides them (root hints, trust anchors, zone files), then "ok". Like unbound-checkconf. */
static int check_config(daemon_t *d, const char *config_path)
{
	int status = load_hints(d);
	if (status == 0)
		status = load_anchors(d);
	if (status == 0)
		status = load_zones(d);
	if (status == 0)
		printf("%s: ok\n", config_path ? config_path : "(no configuration file)");
	cn_zoneset_free(d->zones);
	free(d->hints);
	cn_anchor_set_free(&d->anchors);
	cn_config_deinit(&d->cfg);
	return status;
}

int main(int argc, char **argv)
{
	static daemon_t d; /* zeroed; static only to keep a large struct off the stack */
	const char *config_path = NULL;
	bool check_only = false;
	int status = cn_daemon_args_first_pass(argc, argv, &config_path, &check_only);
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
	if ((status = cn_daemon_args_apply(argc, argv, &d.cfg)) != 0) {
		cn_config_deinit(&d.cfg);
		return status;
	}
	cn_log_set_level(d.cfg.log_level);
	if (check_only)
		return check_config(&d, config_path);
	cn_log_set_syslog(d.cfg.log_syslog);
	signal(SIGPIPE, SIG_IGN);
	d.config_path = config_path;
	d.argc = argc;
	d.argv = argv;

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
