/*
 * The main loop's signals and the reload. SIGINT/SIGTERM stop the daemon (the workers are
 * told through their inboxes, main() joins them); SIGHUP and `cairnctl reload` read the
 * configuration again and apply what a running daemon can (cn_daemon_reload() below);
 * SIGUSR1 reopens the query log.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "net/daemon.h"
#include "net/log.h"

/* ------------------------------------------------------------------ signals ----------- */

void cn_daemon_close_signals(daemon_t *d)
{
	if (!d->signals_ok)
		return;
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigusr1, NULL);
	d->signals_ok = false;
}

static void on_reload_signal(uv_signal_t *sig, int signum);

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

void cn_daemon_net_stats(void *ctx, cn_control_net_stats_t *out)
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

/* Whether the trust_anchors: records differ (as written: the file's, then the flags'). */
static bool anchors_changed(const cn_config_t *old, const cn_config_t *new)
{
	if (old->ntrust_anchors != new->ntrust_anchors)
		return true;
	for (size_t i = 0; i < old->ntrust_anchors; i++)
		if (strcmp(old->trust_anchors[i].rr, new->trust_anchors[i].rr) != 0)
			return true;
	return false;
}

/* The keys a running daemon cannot apply, each named when the new file changes it. The
 * trust anchors and negative trust anchors are the engine's from start-up (it borrows the
 * set and copies the NTA list once): a change waits for a restart, and trust_anchor_file is
 * not read again (a new file at the same path needs a restart too). */
static void restart_keys(const cn_config_t *old, const cn_config_t *new, char *buf, size_t len)
{
	buf[0] = '\0';
	note_restart(buf, len, !same_bytes(old->listen, old->nlisten * sizeof(*old->listen),
					   new->listen, new->nlisten * sizeof(*new->listen)),
		     "listen");
	note_restart(buf, len, old->workers != new->workers, "workers");
	note_restart(buf, len, memcmp(&old->cache, &new->cache, sizeof(old->cache)) != 0 ||
				       old->ready_answers != new->ready_answers,
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
	note_restart(buf, len, anchors_changed(old, new), "trust_anchors");
	note_restart(buf, len, !same_str(old->trust_anchor_file, new->trust_anchor_file),
		     "trust_anchor_file");
	note_restart(buf, len, !same_bytes(old->nta, old->nnta * sizeof(*old->nta), new->nta,
					   new->nnta * sizeof(*new->nta)),
		     "negative_trust_anchors");
	note_restart(buf, len, old->tcp_idle_timeout_ms != new->tcp_idle_timeout_ms ||
				       old->tcp_max_clients != new->tcp_max_clients ||
				       old->tcp_max_per_client != new->tcp_max_per_client,
		     "tcp_*");
}

/* Move the lists into a new cn_acl_t kept in d->acls until exit (a worker or the metrics
 * thread may still be reading the one it replaces); refuse and deny may be NULL (metrics'
 * list has neither). NULL: out of memory. */
const cn_acl_t *cn_daemon_keep_acl(daemon_t *d, cn_cidr_t **allow, size_t *nallow,
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
	const cn_acl_t *a = allow ? cn_daemon_keep_acl(d, &new->allow, &new->nallow,
						       &new->refuse, &new->nrefuse, &new->deny,
						       &new->ndeny)
				  : NULL;
	const cn_acl_t *m = mallow ? cn_daemon_keep_acl(d, &new->metrics_allow,
							&new->nmetrics_allow, NULL, NULL, NULL,
							NULL)
				   : NULL;
	if ((allow && !a) || (mallow && !m))
		return -ENOMEM; /* a list kept but not installed is freed at exit */
	if (a)
		cn_pool_set_acl(d->pool, d->allow_now = a);
	if (m)
		cn_metrics_set_acl(d->metrics, d->metrics_now = m);
	return (allow ? 1 : 0) | (mallow ? 2 : 0);
}

void cn_daemon_free_acls(daemon_t *d)
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
	const char *root = d->cfg.chroot_dir, *path = cn_daemon_in_root(root, d->config_path);
	if (d->config_path && !path) {
		snprintf(msg, msglen, "%s is outside chroot %s", d->config_path, root);
		return -1;
	}
	if (path && cn_config_load(new, path, msg, msglen) != 0)
		return -1;
	if (cn_daemon_args_apply(d->argc, d->argv, new) != 0) {
		snprintf(msg, msglen, "the command-line flags no longer apply");
		return -1;
	}
	if (cn_daemon_rebase_config(root, new, false, msg, msglen) != 0)
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
int cn_daemon_reload(void *ctx, char *msg, size_t msglen)
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
	cn_daemon_reload(d, msg, sizeof(msg));
	sd_notifyf(0, "READY=1\nSTATUS=%s", msg);
}

int cn_daemon_start_signals(daemon_t *d)
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
