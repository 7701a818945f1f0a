/*
 * cairn: the daemon. Reads the configuration (file, then flags on top), creates the cache,
 * the engine and the worker pool (net/pool.h: one loop and thread per worker), binds the
 * listen addresses in every worker, starts the workers' threads, and runs the main loop —
 * signals and the control socket — in the foreground, logging to stderr, until SIGINT or
 * SIGTERM. SIGHUP (and `cairnctl reload`) re-read the configuration and apply what can
 * change live (reload() below); SIGUSR1 is logged and otherwise harmless. Then it stops
 * cleanly: the workers are told to stop (uv_async) and joined,
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
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "cache/cache.h"
#include "net/config.h"
#include "net/log.h"
#include "net/metrics.h"
#include "net/pool.h"
#include "net/udp.h"
#include "net/querylog.h"
#include "resolver/errors.h"
#include "resolver/resolver.h"
#include "resolver/zone.h"
#include "net/control.h"
#include "net/zones.h"

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
	OPT_FORWARD,
	OPT_STUB,
	OPT_NO_LOCAL_ZONE,
	OPT_HELP,
	OPT_VERSION,
	OPT_CHECK_CONFIG,
	OPT_METRICS,
	OPT_QUERY_LOG,
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
	{ "forward", required_argument, NULL, OPT_FORWARD },
	{ "stub", required_argument, NULL, OPT_STUB },
	{ "no-local-zone", required_argument, NULL, OPT_NO_LOCAL_ZONE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "query-log", required_argument, NULL, OPT_QUERY_LOG },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cairn [options]\n"
		"A caching recursive DNS resolver. Runs in the foreground, logs to stderr\n"
		"(or syslog: log_target).\n\n"
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
		"      --forward NAME=ADDR[,ADDR]  ask these recursive servers for NAME and below\n"
		"      --stub NAME=ADDR[,ADDR]  iterate from these authoritative servers for NAME\n"
		"      --no-local-zone NAME     do not answer the built-in local zone NAME\n"
		"                               (e.g. 2.0.192.in-addr.arpa.; repeatable)\n"
		"      --metrics ADDR@PORT      serve Prometheus metrics on http://ADDR:PORT/metrics\n"
		"      --query-log PATH         one line per client query to PATH (- : stdout)\n"
		"  -v, --verbose                more logging (repeat for debug)\n"
		"  -q, --quiet                  less logging (repeat for errors only)\n"
		"      --help                   this text\n"
		"      --version                print the version\n"
		"      --check-config           read the configuration (and root hints), report\n"
		"                               the first error or \"ok\", and exit (0 ok, 2 error)\n\n"
		"Flags override the configuration file. Stop with SIGINT or SIGTERM; SIGHUP\n"
		"re-reads the configuration (docs/config.md, \"Reload\"); SIGUSR1 reopens the\n"
		"query log.\n");
}

typedef struct daemon {
	cn_config_t cfg;
	cn_hint_t *hints;
	size_t nhints;
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

/* ------------------------------------------------------------------ arguments --------- */

/* First pass: -c, --help, --version, --check-config. Returns -1 to go on, else an exit
 * status. */
static int args_first_pass(int argc, char **argv, const char **config_path, bool *check_only)
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
		} else if (ch == OPT_CHECK_CONFIG) {
			*check_only = true;
		}
	}
	return -1;
}

/* Second pass: every flag, applied over the file. Returns 0 or 2 (usage error). */
/* chroot: paths as seen from inside it (defined with drop_privileges below). */
static const char *in_root(const char *root, const char *path);
static bool rebase(const char *root, char **path, bool strict);
static int rebase_config(const char *root, cn_config_t *cfg, bool strict, char *why,
			 size_t whylen);

static int set_path_opt(char **field, const char *arg)
{
	char *copy = strdup(arg);
	if (!copy)
		return 2;
	free(*field);
	*field = copy;
	return 0;
}

static int set_workers_opt(cn_config_t *cfg, const char *arg)
{
	char *end;
	unsigned long n = strtoul(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || n > 256) {
		fprintf(stderr, "cairn: --workers %s: expected 0..256 (0: one per CPU)\n", arg);
		return 2;
	}
	cfg->workers = (unsigned)n;
	return 0;
}

/* One command-line option onto cfg: 0, or 2 (the exit status) after a message. */
static int apply_opt(int ch, const char *arg, cn_config_t *cfg, bool *listen_cleared)
{
	switch (ch) {
	case 'c':
	case OPT_CHECK_CONFIG:
		return 0;
	case 'l':
		if (!*listen_cleared) {
			cn_config_clear_listen(cfg);
			*listen_cleared = true;
		}
		if (cn_config_add_listen(cfg, arg) == 0)
			return 0;
		fprintf(stderr, "cairn: -l %s: expected ADDR or ADDR@PORT\n", arg);
		return 2;
	case OPT_ROOT_HINTS:
		return set_path_opt(&cfg->root_hints, arg);
	case OPT_CONTROL:
		return set_path_opt(&cfg->control_socket, arg);
	case OPT_QUERY_LOG:
		return set_path_opt(&cfg->query_log, arg);
	case OPT_METRICS:
		if (cn_config_set_metrics(cfg, arg) == 0)
			return 0;
		fprintf(stderr, "cairn: --metrics %s: expected ADDR@PORT\n", arg);
		return 2;
	case OPT_ALLOW_LOOPBACK:
		cfg->engine.allow_loopback_upstream = true;
		return 0;
	case OPT_NO_LOCAL_ZONE:
		return cn_config_add_local_zone_off(cfg, arg) != 0 ? 2 : 0;
	case OPT_ZONE:
		if (cn_config_add_zone_arg(cfg, arg) == 0)
			return 0;
		fprintf(stderr, "cairn: --zone %s: expected NAME=FILE\n", arg);
		return 2;
	case OPT_FORWARD:
	case OPT_STUB: {
		char err[400];
		if (cn_config_add_fwd_arg(cfg, arg, ch == OPT_STUB, err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "cairn: --%s %s: %s\n", ch == OPT_STUB ? "stub" : "forward", arg,
			err);
		return 2;
	}
	case OPT_NO_QMIN:
		cfg->engine.qname_minimisation = false;
		return 0;
	case OPT_WORKERS:
		return set_workers_opt(cfg, arg);
	case OPT_CACHE_SIZE:
		if (cn_config_parse_size(arg, &cfg->cache.budget_bytes) == 0)
			return 0;
		fprintf(stderr, "cairn: --cache-size %s: expected N, NK, NM or NG\n", arg);
		return 2;
	case 'v':
		if (cfg->log_level < CN_LOG_DEBUG)
			cfg->log_level++;
		return 0;
	case 'q':
		if (cfg->log_level > CN_LOG_ERROR)
			cfg->log_level--;
		return 0;
	default:
		usage(stderr);
		return 2;
	}
}

static int args_apply(int argc, char **argv, cn_config_t *cfg)
{
	optind = 0; /* glibc: full re-initialisation */
	opterr = 1;
	bool listen_cleared = false;
	int ch, rc;
	while ((ch = getopt_long(argc, argv, "c:l:vq", long_opts, NULL)) != -1)
		if ((rc = apply_opt(ch, optarg, cfg, &listen_cleared)) != 0)
			return rc;
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

static void close_signals(daemon_t *d)
{
	if (!d->signals_ok)
		return;
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigusr1, NULL);
	d->signals_ok = false;
}

static void on_signal(uv_signal_t *sig, int signum)
{
	daemon_t *d = sig->data;
	const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
	if (d->stopping) {
		/* A second signal while stopping (a supervisor's or a user's repeated Ctrl-C)
		 * must not kill a shutdown that is dumping the cache: the handlers stay
		 * installed until stop() is done, so it is only logged. */
		cn_log(CN_LOG_INFO, "%s received, already stopping", name);
		return;
	}
	d->stopping = true;
	cn_log(CN_LOG_INFO, "%s received, stopping", name);
	sd_notify(0, "STOPPING=1");
	cn_metrics_stop(d->metrics); /* its scrapes read the workers: before they stop */
	d->metrics = NULL;
	cn_pool_stop(d->pool);
	cn_control_close(d->control);
	d->control = NULL;
	/* The handlers keep catching signals but no longer keep the main loop alive. */
	uv_unref((uv_handle_t *)&d->sigint);
	uv_unref((uv_handle_t *)&d->sigterm);
	uv_unref((uv_handle_t *)&d->sighup);
	uv_unref((uv_handle_t *)&d->sigusr1);
}

static void net_stats(void *ctx, cn_control_net_stats_t *out)
{
	daemon_t *d = ctx;
	cn_pool_get_stats(d->pool, &out->worker);
	cn_pool_get_upstream_stats(d->pool, &out->upstream);
#define LOAD(field, name) out->daemon.field = __atomic_load_n(&d->stats.field, __ATOMIC_RELAXED);
	CN_DAEMON_STATS_MAP(LOAD)
#undef LOAD
}

/* ------------------------------------------------------------------ reload ------------ */

static bool same_bytes(const void *a, size_t na, const void *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Append " KEY" to the list of changed keys that only a restart applies. */
static void note_restart(char *buf, size_t len, bool changed, const char *key)
{
	size_t used = strlen(buf);
	if (changed && used + strlen(key) + 2 < len)
		snprintf(buf + used, len - used, " %s", key);
}

/* The keys a running daemon cannot apply, each named when the new file changes it. */
static void restart_keys(const cn_config_t *old, const cn_config_t *new, char *buf, size_t len)
{
	buf[0] = '\0';
	note_restart(buf, len, !same_bytes(old->listen, old->nlisten * sizeof(*old->listen),
					   new->listen, new->nlisten * sizeof(*new->listen)),
		     "listen");
	note_restart(buf, len, old->workers != new->workers, "workers");
	note_restart(buf, len, memcmp(&old->cache, &new->cache, sizeof(old->cache)) != 0,
		     "cache");
	note_restart(buf, len, !same_str(old->root_hints, new->root_hints), "root_hints");
	note_restart(buf, len, !same_str(old->user, new->user), "user");
	note_restart(buf, len, !same_str(old->chroot_dir, new->chroot_dir), "chroot");
	note_restart(buf, len, old->freebind != new->freebind, "freebind");
	note_restart(buf, len, old->log_syslog != new->log_syslog, "log_target");
	note_restart(buf, len, old->metrics_on != new->metrics_on ||
				       (new->metrics_on &&
					!same_bytes(&old->metrics, sizeof(old->metrics), &new->metrics,
						    sizeof(new->metrics))),
		     "metrics");
	note_restart(buf, len, !same_str(old->control_socket, new->control_socket),
		     "control_socket");
	note_restart(buf, len, !same_str(old->cache_dump_file, new->cache_dump_file) ||
				       old->load_cache_at_start != new->load_cache_at_start ||
				       old->dump_cache_at_exit != new->dump_cache_at_exit,
		     "cache_dump_file");
	note_restart(buf, len, old->tcp_idle_timeout_ms != new->tcp_idle_timeout_ms ||
				       old->tcp_max_clients != new->tcp_max_clients ||
				       old->tcp_max_per_client != new->tcp_max_per_client,
		     "tcp_*");
}

/* Move the lists into a new cn_acl_t kept in d->acls until exit (a worker or the metrics
 * thread may still be reading the one it replaces); refuse and deny may be NULL (metrics'
 * list has neither). NULL: out of memory. */
static const cn_acl_t *keep_acl(daemon_t *d, cn_cidr_t **allow, size_t *nallow,
				cn_cidr_t **refuse, size_t *nrefuse, cn_cidr_t **deny,
				size_t *ndeny)
{
	cn_acl_t *acl = calloc(1, sizeof(*acl));
	cn_acl_t **grown = realloc(d->acls, (d->nacls + 1) * sizeof(*d->acls));
	if (grown)
		d->acls = grown;
	if (!acl || !grown) {
		free(acl);
		return NULL;
	}
	acl->allow = *allow;
	acl->nallow = *nallow;
	*allow = NULL; /* owned by acl now */
	*nallow = 0;
	if (refuse) {
		acl->refuse = *refuse;
		acl->nrefuse = *nrefuse;
		acl->deny = *deny;
		acl->ndeny = *ndeny;
		*refuse = *deny = NULL;
		*nrefuse = *ndeny = 0;
	}
	d->acls[d->nacls++] = acl;
	return acl;
}

/* Whether one list in force (a, na) differs from (b, nb). */
static bool list_changed(const cn_cidr_t *a, size_t na, const cn_cidr_t *b, size_t nb)
{
	return !same_bytes(a, na * sizeof(*a), b, nb * sizeof(*b));
}

/* Whether the client access lists in force (a reload's, or the start-up ones) differ from
 * new's. */
static bool client_acl_changed(const daemon_t *d, const cn_config_t *new)
{
	const cn_acl_t *now = d->allow_now;
	const cn_config_t *c = &d->cfg;
	return list_changed(now ? now->allow : c->allow, now ? now->nallow : c->nallow,
			    new->allow, new->nallow) ||
	       list_changed(now ? now->refuse : c->refuse, now ? now->nrefuse : c->nrefuse,
			    new->refuse, new->nrefuse) ||
	       list_changed(now ? now->deny : c->deny, now ? now->ndeny : c->ndeny, new->deny,
			    new->ndeny);
}

/* The query log of new (another path, the same one reopened, or none). 0, or -errno with
 * the old log still going. */
static int reload_querylog(daemon_t *d, cn_config_t *new, char *msg, size_t msglen)
{
	if (!new->query_log && !d->cfg.query_log)
		return 0;
	int rc = cn_querylog_open(d->qlog, new->query_log);
	if (rc < 0) {
		snprintf(msg, msglen, "query_log %s: %s", new->query_log, strerror(-rc));
		return rc;
	}
	char *old = d->cfg.query_log;
	d->cfg.query_log = new->query_log;
	new->query_log = old; /* freed with new */
	return 0;
}

/* Install the allow lists that changed. Returns a bit per list changed (1 allow, 2
 * metrics_allow), or -ENOMEM with nothing changed. */
static int reload_acls(daemon_t *d, cn_config_t *new)
{
	bool allow = client_acl_changed(d, new);
	const cn_acl_t *mnow = d->metrics_now;
	bool mallow = d->metrics &&
		      list_changed(mnow ? mnow->allow : d->cfg.metrics_allow,
				   mnow ? mnow->nallow : d->cfg.nmetrics_allow, new->metrics_allow,
				   new->nmetrics_allow);
	const cn_acl_t *a = allow ? keep_acl(d, &new->allow, &new->nallow, &new->refuse,
					     &new->nrefuse, &new->deny, &new->ndeny)
				  : NULL;
	const cn_acl_t *m = mallow ? keep_acl(d, &new->metrics_allow, &new->nmetrics_allow, NULL,
					      NULL, NULL, NULL)
				   : NULL;
	if ((allow && !a) || (mallow && !m))
		return -ENOMEM; /* a list kept but not installed is freed at exit */
	if (a)
		cn_pool_set_acl(d->pool, d->allow_now = a);
	if (m)
		cn_metrics_set_acl(d->metrics, d->metrics_now = m);
	return (allow ? 1 : 0) | (mallow ? 2 : 0);
}

static void free_acls(daemon_t *d)
{
	for (size_t i = 0; i < d->nacls; i++) {
		free((void *)d->acls[i]->allow);
		free((void *)d->acls[i]->refuse);
		free((void *)d->acls[i]->deny);
		free(d->acls[i]);
	}
	free(d->acls);
	d->acls = NULL;
	d->nacls = 0;
}

/* The zone settings of new move into d->cfg (its old ones into new, freed with it). */
static void take_zone_config(cn_config_t *cur, cn_config_t *new)
{
	cn_config_t t = *cur;
	cur->zones = new->zones;
	cur->nzones = new->nzones;
	cur->local_data = new->local_data;
	cur->nlocal_data = new->nlocal_data;
	cur->local_zones_builtin = new->local_zones_builtin;
	cur->local_zones_off = new->local_zones_off;
	cur->nlocal_zones_off = new->nlocal_zones_off;
	new->zones = t.zones;
	new->nzones = t.nzones;
	new->local_data = t.local_data;
	new->nlocal_data = t.nlocal_data;
	new->local_zones_builtin = t.local_zones_builtin;
	new->local_zones_off = t.local_zones_off;
	new->nlocal_zones_off = t.nlocal_zones_off;
}

/*
 * Hosted zones are read again at every reload (zone files change under a running daemon):
 * the new set replaces the old one whole. A zone file that fails to parse keeps every
 * running zone as it was, and says why in msg (the rest of the reload still applies).
 */
static void reload_zones(daemon_t *d, cn_config_t *new, char *msg, size_t msglen)
{
	char err[512];
	cn_zoneset_t *zs;
	if (cn_zones_build(new, &zs, err, sizeof(err)) != 0) {
		__atomic_fetch_add(&d->stats.zone_reloads_failed, 1, __ATOMIC_RELAXED);
		snprintf(msg, msglen, "; hosted zones NOT reloaded (%s), the running ones are kept",
			 err);
		cn_log(CN_LOG_ERROR, "reload: hosted zones kept: %s", err);
		return;
	}
	cn_zones_replace(d->engine, d->pool, d->cache, &d->zones, zs, &d->retired);
	take_zone_config(&d->cfg, new);
	snprintf(msg, msglen, "; %zu hosted zone(s) loaded", cn_zoneset_count(zs));
}

/* Forward and stub zones, when the new file changes them: replaced at once, the cache
 * flushed below the zones that changed (net/zones.c). */
static void reload_fwd(daemon_t *d, cn_config_t *new, char *msg, size_t msglen)
{
	msg[0] = '\0';
	if (cn_zones_fwd_same(&d->cfg, new))
		return;
	if (cn_zones_replace_fwd(d->engine, d->pool, d->cache, new, &d->retired) != 0) {
		snprintf(msg, msglen, "; forward/stub zones NOT replaced (out of memory)");
		cn_log(CN_LOG_ERROR, "reload: forward/stub zones kept: out of memory");
		return;
	}
	cn_fwd_cfg_t *t = d->cfg.fwd;
	size_t tn = d->cfg.nfwd;
	d->cfg.fwd = new->fwd;
	d->cfg.nfwd = new->nfwd;
	new->fwd = t; /* freed with new */
	new->nfwd = tn;
	snprintf(msg, msglen, "; forward/stub zones replaced (%zu)", d->cfg.nfwd);
}

/* Read the file and the flags again, into *new. Returns 0, or nonzero with why in msg. */
static int reload_read(daemon_t *d, cn_config_t *new, char *msg, size_t msglen)
{
	cn_engine_conf_t engine_defaults;
	cn_engine_conf_default(&engine_defaults);
	if (cn_config_init(new, &engine_defaults) != 0) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	/* chrooted: the file as seen from inside (start-up checked it is there) */
	const char *root = d->cfg.chroot_dir, *path = in_root(root, d->config_path);
	if (d->config_path && !path) {
		snprintf(msg, msglen, "%s is outside chroot %s", d->config_path, root);
		return -1;
	}
	if (path && cn_config_load(new, path, msg, msglen) != 0)
		return -1;
	if (args_apply(d->argc, d->argv, new) != 0) {
		snprintf(msg, msglen, "the command-line flags no longer apply");
		return -1;
	}
	if (rebase_config(root, new, false, msg, msglen) != 0)
		return -1;
	if (new->nlisten == 0 &&
	    (cn_config_add_listen(new, "127.0.0.1@53") || cn_config_add_listen(new, "::1@53"))) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * SIGHUP and `cairnctl reload`: read the configuration again and apply what a running
 * daemon can (the allow list and the log level), without a restart and without touching
 * the cache. Keys that need a restart are named, not silently ignored. A file with an
 * error is rejected whole and the running configuration stays.
 */
static int reload(void *ctx, char *msg, size_t msglen)
{
	daemon_t *d = ctx;
	cn_config_t new;
	char why[512] = "";
	if (reload_read(d, &new, why, sizeof(why)) != 0) {
		cn_config_deinit(&new);
		__atomic_fetch_add(&d->stats.reloads_failed, 1, __ATOMIC_RELAXED);
		snprintf(msg, msglen, "%s; the running configuration is kept", why);
		cn_log(CN_LOG_ERROR, "reload rejected: %s", msg);
		return -1;
	}
	char restart[256];
	restart_keys(&d->cfg, &new, restart, sizeof(restart));
	int acls = reload_querylog(d, &new, why, sizeof(why)) < 0 ? -1 : reload_acls(d, &new);
	if (acls < 0) {
		cn_config_deinit(&new);
		__atomic_fetch_add(&d->stats.reloads_failed, 1, __ATOMIC_RELAXED);
		snprintf(msg, msglen, "%s; the running configuration is kept",
			 why[0] ? why : "out of memory");
		cn_log(CN_LOG_ERROR, "reload rejected: %s", msg);
		return -1;
	}
	char zones_msg[600], fwd_msg[80];
	reload_zones(d, &new, zones_msg, sizeof(zones_msg));
	reload_fwd(d, &new, fwd_msg, sizeof(fwd_msg));
	bool rl_changed = new.rl_misses_per_second != d->cfg.rl_misses_per_second ||
			  new.rl_slip != d->cfg.rl_slip;
	/* the workers read these two at every cache miss */
	__atomic_store_n(&d->cfg.rl_misses_per_second, new.rl_misses_per_second, __ATOMIC_RELAXED);
	__atomic_store_n(&d->cfg.rl_slip, new.rl_slip, __ATOMIC_RELAXED);
	/* the engine's settings (limits, timeouts, upstream flags): live, field by field */
	cn_engine_conf_t oe = d->cfg.engine, ne = new.engine;
	oe.log_level = ne.log_level = 0;
	bool engine_changed = memcmp(&oe, &ne, sizeof(oe)) != 0 ||
			      new.client_waiting != d->cfg.client_waiting;
	new.engine.log_level = new.log_level;
	cn_engine_reconfigure(d->engine, &new.engine);
	d->cfg.engine = new.engine;
	__atomic_store_n(&d->cfg.client_waiting, new.client_waiting, __ATOMIC_RELAXED);
	bool level_changed = new.log_level != d->cfg.log_level;
	d->cfg.log_level = new.log_level;
	cn_log_set_level(new.log_level);
	cn_config_deinit(&new);
	__atomic_fetch_add(&d->stats.reloads, 1, __ATOMIC_RELAXED);
	snprintf(msg, msglen, "reloaded%s%s%s%s%s%s%s%s%s%s",
		 acls & 1 ? "; allow list replaced" : "", acls & 2 ? "; metrics_allow replaced" : "",
		 level_changed ? "; log level changed" : "",
		 engine_changed ? "; limits/timeouts/upstream settings applied" : "",
		 rl_changed ? "; rate_limit changed" : "",
		 d->cfg.query_log ? "; query log reopened" : "", zones_msg, fwd_msg,
		 restart[0] ? "; changed but needs a restart:" : "", restart);
	cn_log(restart[0] ? CN_LOG_WARNING : CN_LOG_INFO, "%s", msg);
	return 0;
}

static void on_reload_signal(uv_signal_t *sig, int signum)
{
	daemon_t *d = sig->data;
	if (signum == SIGUSR1) {
		/* logrotate's signal: the query log is opened again at its path (the daemon's own
		 * log goes to stderr, which it does not reopen). */
		const char *path = d->cfg.query_log;
		int rc = path ? cn_querylog_open(d->qlog, path) : 0;
		if (!path)
			cn_log(CN_LOG_INFO, "SIGUSR1 received: no query log to reopen");
		else if (rc < 0)
			cn_log(CN_LOG_ERROR, "SIGUSR1: cannot reopen the query log %s: %s (still "
			       "writing to the old file)", path, strerror(-rc));
		else
			cn_log(CN_LOG_INFO, "SIGUSR1 received: query log %s reopened", path);
		return;
	}
	cn_log(CN_LOG_INFO, "SIGHUP received, reloading %s",
	       d->config_path ? d->config_path : "(no configuration file: flags only)");
	sd_notify(0, "RELOADING=1");
	char msg[1024];
	reload(d, msg, sizeof(msg));
	sd_notifyf(0, "READY=1\nSTATUS=%s", msg);
}

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
static void warn_loopback_hints(const daemon_t *d)
{
	if (d->cfg.engine.allow_loopback_upstream)
		return;
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
	cn_control_set_net_stats(d->control, net_stats, d);
	cn_control_set_reload(d->control, reload, d);
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
	d->metrics_now = keep_acl(d, &d->cfg.metrics_allow, &d->cfg.nmetrics_allow, NULL, NULL, NULL,
				  NULL);
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

static int start_signals(daemon_t *d)
{
	uv_signal_init(&d->loop, &d->sigint);
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sighup);
	uv_signal_init(&d->loop, &d->sigusr1);
	d->sigint.data = d->sigterm.data = d->sighup.data = d->sigusr1.data = d;
	d->signals_ok = true;
	int rc;
	if ((rc = uv_signal_start(&d->sigint, on_signal, SIGINT)) < 0 ||
	    (rc = uv_signal_start(&d->sigterm, on_signal, SIGTERM)) < 0 ||
	    (rc = uv_signal_start(&d->sighup, on_reload_signal, SIGHUP)) < 0 ||
	    (rc = uv_signal_start(&d->sigusr1, on_reload_signal, SIGUSR1)) < 0) {
		cn_log(CN_LOG_ERROR, "signals: %s", uv_strerror(rc));
		return 1;
	}
	return 0;
}

/* Give up root for `user:` once every listener is bound and the control socket is open,
 * before any worker thread starts (so the switch applies to the one thread there is).
 * The control socket (and a directory cairn created for it) are handed to the user, so
 * the daemon can still remove it at exit. Returns 0 or exit status 1. */

/* chroot(root), then everything opened later by path is named as seen from inside. */
static int enter_chroot(daemon_t *d, const char *root)
{
	char why[512];
	if (rebase_config(root, &d->cfg, true, why, sizeof(why)) != 0) {
		cn_log(CN_LOG_ERROR, "chroot: %s", why);
		return 1;
	}
	if (chroot(root) != 0 || chdir("/") != 0) {
		cn_log(CN_LOG_ERROR, "chroot %s: %s", root, strerror(errno));
		return 1;
	}
	cn_control_rebase(d->control, root);
	if (d->config_path && !in_root(root, d->config_path))
		cn_log(CN_LOG_WARNING, "chroot %s: the configuration file %s is outside it: "
		       "reloads will fail", root, d->config_path);
	cn_log(CN_LOG_INFO, "chroot %s", root);
	return 0;
}

/* A path as seen inside the chroot root: path with root's prefix removed; path itself
 * when there is no root; NULL when it lies outside root. */
static const char *in_root(const char *root, const char *path)
{
	if (!root || !path || strcmp(path, "-") == 0)
		return path;
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	if (strncmp(path, root, n) != 0 || path[n] != '/')
		return NULL;
	return path + n;
}

/* Replace *path (malloc'ed) by its form inside root; false when it lies outside (strict:
 * at start-up every path is still a real one; on reload a path outside root's prefix is
 * taken as already inside: one derived from the configuration file's folder). */
static bool rebase(const char *root, char **path, bool strict)
{
	if (!*path)
		return true;
	const char *in = in_root(root, *path);
	if (!in)
		return !strict;
	if (in != *path)
		memmove(*path, in, strlen(in) + 1);
	return true;
}

/* Every path of cfg cairn opens after start-up (zone files on reload, the query log, the
 * cache dump at exit) as seen inside cfg->chroot_dir. Returns 0, or -1 with the path
 * outside it in why. */
static int rebase_config(const char *root, cn_config_t *cfg, bool strict, char *why,
			 size_t whylen)
{
	if (!root)
		return 0;
	for (size_t i = 0; i < cfg->nzones; i++)
		if (!rebase(root, &cfg->zones[i].file, strict)) {
			snprintf(why, whylen, "zone file %s is outside chroot %s", cfg->zones[i].file,
				 root);
			return -1;
		}
	if (!rebase(root, &cfg->query_log, strict) || !rebase(root, &cfg->cache_dump_file, strict)) {
		snprintf(why, whylen, "query_log or cache_dump_file is outside chroot %s", root);
		return -1;
	}
	return 0;
}

/*
 * Give up what start-up needed: chroot (chroot:) and root (user:), once every listener is
 * bound and the control socket is open, before any worker thread starts (so the switch
 * applies to the one thread there is). The user's entries are looked up, and its groups
 * set, before the chroot (/etc/passwd and /etc/group are outside it). The control socket
 * (and a directory cairn created for it) and the query log are handed to the user, so the
 * daemon can still remove and reopen them. Returns 0 or exit status 1.
 */
static int drop_privileges(daemon_t *d)
{
	const char *user = d->cfg.user, *root = d->cfg.chroot_dir;
	struct passwd *pw = NULL;
	if (user) {
		errno = 0;
		pw = getpwnam(user);
		if (!pw) {
			cn_log(CN_LOG_ERROR, "user %s: %s", user,
			       errno ? strerror(errno) : "no such user");
			return 1;
		}
		if (geteuid() != 0 && geteuid() != pw->pw_uid) {
			cn_log(CN_LOG_ERROR, "user %s: cannot switch to it without root (running as "
			       "uid %u)", user, (unsigned)geteuid());
			return 1;
		}
		if (geteuid() == pw->pw_uid)
			user = NULL; /* already that user */
	}
	if (user) {
		if (d->cfg.control_socket) {
			if (chown(d->cfg.control_socket, pw->pw_uid, pw->pw_gid) != 0)
				cn_log(CN_LOG_WARNING, "chown %s: %s", d->cfg.control_socket,
				       strerror(errno));
			if (d->control_dir_made && chown(d->control_dir, pw->pw_uid, pw->pw_gid) != 0)
				cn_log(CN_LOG_WARNING, "chown %s: %s", d->control_dir,
				       strerror(errno));
		}
		const char *ql = d->cfg.query_log; /* so the user can reopen it (SIGUSR1, reload) */
		if (ql && strcmp(ql, "-") != 0 && chown(ql, pw->pw_uid, pw->pw_gid) != 0)
			cn_log(CN_LOG_WARNING, "chown %s: %s", ql, strerror(errno));
		if (initgroups(pw->pw_name, pw->pw_gid) != 0) {
			cn_log(CN_LOG_ERROR, "user %s: groups: %s", user, strerror(errno));
			return 1;
		}
	}
	if (root && enter_chroot(d, root) != 0)
		return 1;
	if (!user)
		return 0;
	if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		cn_log(CN_LOG_ERROR, "cannot switch to user %s: %s", user, strerror(errno));
		return 1;
	}
	if (setuid(0) == 0) { /* must be impossible now */
		cn_log(CN_LOG_ERROR, "user %s: root could be regained; refusing to run", user);
		return 1;
	}
	cn_log(CN_LOG_INFO, "running as user %s (uid %u, gid %u)", user, (unsigned)pw->pw_uid,
	       (unsigned)pw->pw_gid);
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
	if ((status = load_hints(d)) || (status = load_zones(d)) || (status = open_cache(d)) ||
	    (status = open_engine(d)) ||
	    (status = open_loop(d)) || (status = open_metrics(d)) || (status = open_control(d)) ||
	    (status = open_workers(d, nworkers)) || (status = open_querylog(d)) ||
	    (status = drop_privileges(d)) || (status = start_signals(d)))
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
		close_signals(d);
		/* Shutdown is committed: a signal during the join or the cache dump would
		 * otherwise find libuv's handlers gone and the default action (death) back. */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGUSR1, SIG_IGN);
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
	free_acls(d);
	cn_config_deinit(&d->cfg);
	return status;
}

/* --check-config, after the file and the flags were read without error: what start-up
 * reads besides them (the root hints), then "ok". Like unbound-checkconf. */
static int check_config(daemon_t *d, const char *config_path)
{
	int status = load_hints(d);
	if (status == 0)
		status = load_zones(d);
	if (status == 0)
		printf("%s: ok\n", config_path ? config_path : "(no configuration file)");
	cn_zoneset_free(d->zones);
	free(d->hints);
	cn_config_deinit(&d->cfg);
	return status;
}

int main(int argc, char **argv)
{
	static daemon_t d; /* zeroed; static only to keep a large struct off the stack */
	const char *config_path = NULL;
	bool check_only = false;
	int status = args_first_pass(argc, argv, &config_path, &check_only);
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
