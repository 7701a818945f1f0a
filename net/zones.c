/*
 * Hosted zones of a running daemon (net/zones.h). Parsing and answering are resolver/'s
 * (zone.c, zoneload.c, hosted.c); here the configuration becomes a zone set, and a reload
 * swaps sets under the workers without a lock on the query path: the engine reads its set
 * through an atomic pointer, and the old one is freed only after a pool barrier
 * (cn_pool_quiesce), when every worker has finished the query it may have begun with it.
 */
#include "net/zones.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/log.h"

#define MAX_VISIBLE 64

static int build_file_zone(cn_zoneset_t *zs, const cn_zone_cfg_t *z, char *err,
			   size_t errlen)
{
	cn_zone_prefix_t vis[MAX_VISIBLE];
	if (z->nvisible > MAX_VISIBLE) {
		snprintf(err, errlen, "%s: zone %s: at most %d visible_to subnets", z->where,
			 z->name, MAX_VISIBLE);
		return -1;
	}
	for (size_t k = 0; k < z->nvisible; k++) {
		vis[k].family = z->visible_to[k].family;
		vis[k].bits = z->visible_to[k].prefix;
		memcpy(vis[k].addr, z->visible_to[k].addr, 16);
	}
	int rc = cn_zoneset_load_file(zs, z->name, z->file, vis, z->nvisible, err, errlen);
	if (rc == -EEXIST)
		snprintf(err, errlen, "%s: zone %s is listed twice", z->where, z->name);
	return rc == 0 ? 0 : -1;
}

int cn_zones_build(const cn_config_t *cfg, cn_zoneset_t **out, char *err, size_t errlen)
{
	cn_zoneset_t *zs;
	if (cn_zoneset_new(&zs) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->nzones; i++) {
		if (build_file_zone(zs, &cfg->zones[i], err, errlen) != 0)
			goto fail;
		cn_log(CN_LOG_INFO, "zone %s: %s from %s", cfg->zones[i].name,
		       cfg->zones[i].nvisible ? "private" : "public", cfg->zones[i].file);
	}
	for (size_t i = 0; i < cfg->nlocal_data; i++) {
		const cn_local_data_cfg_t *l = &cfg->local_data[i];
		if (cn_zoneset_add_local_data(zs, l->rr, l->source, l->line, err, errlen) != 0)
			goto fail;
	}
	if (cfg->local_zones_builtin) {
		char why[256];
		if (cn_zoneset_add_builtin(zs, (const char *const *)cfg->local_zones_off,
					   cfg->nlocal_zones_off, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "local_zones_builtin: %s", why);
			goto fail;
		}
	}
	*out = zs;
	return 0;
fail:
	cn_zoneset_free(zs);
	return -1;
}

/* ------------------------------------------------------------------ replacing -------- */

struct cn_zones_retired {
	cn_zones_retired_t *next;
	cn_zoneset_t *old;     /* hosted zones replaced (NULL: none, or freed) */
	cn_zoneset_t *now;     /* the set that replaced it (alive at least as long) */
	void *old_fwd;         /* forward/stub zones replaced (cn_engine_forwards_free) */
	uint8_t (*flush)[CN_DNAME_MAX]; /* names whose subtree leaves the cache */
	size_t nflush;
	cn_cache_t *cache;
	cn_engine_t *engine;
	atomic_bool done;      /* set by the barrier, after freeing what it held */
};

static void flush_public(cn_cache_t *cache, const cn_zoneset_t *zs)
{
	size_t n = zs ? cn_zoneset_count(zs) : 0;
	for (size_t i = 0; i < n; i++) {
		cn_zone_info_t zi;
		if (cn_zoneset_info(zs, i, &zi) == 0 && zi.nvisible == 0 && !zi.builtin)
			cn_cache_flush_name(cache, zi.name, cn_dname_len(zi.name), true);
	}
}

/* The pool barrier: no worker reads the old set any more. */
static void retire(void *arg)
{
	cn_zones_retired_t *r = arg;
	if (r->old) {
		flush_public(r->cache, r->old);
		flush_public(r->cache, r->now);
		cn_engine_flush_views(r->engine); /* delegations inside private zones */
	}
	for (size_t i = 0; i < r->nflush; i++)
		cn_cache_flush_name(r->cache, r->flush[i], cn_dname_len(r->flush[i]), true);
	cn_zoneset_free(r->old);
	r->old = NULL;
	cn_engine_forwards_free(r->old_fwd);
	r->old_fwd = NULL;
	atomic_store(&r->done, true);
}

static void retired_free(cn_zones_retired_t *r)
{
	free(r->flush);
	free(r);
}

/* A new record at the head of *retired, after freeing the records already done. */
static cn_zones_retired_t *retired_new(cn_zones_retired_t **retired, cn_cache_t *cache)
{
	/* the barrier touches a record no more after setting done */
	for (cn_zones_retired_t **pp = retired; *pp;) {
		cn_zones_retired_t *old = *pp;
		if (atomic_load(&old->done)) {
			*pp = old->next;
			retired_free(old);
		} else {
			pp = &old->next;
		}
	}
	cn_zones_retired_t *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cache = cache;
	atomic_init(&r->done, false);
	r->next = *retired;
	*retired = r;
	return r;
}

static void retire_after_barrier(cn_pool_t *pool, cn_zones_retired_t *r)
{
	if (!pool)
		retire(r);
	else if (cn_pool_quiesce(pool, retire, r) != 0)
		cn_log(CN_LOG_WARNING, "zones: the replaced set stays in memory until exit");
}

int cn_zones_replace(cn_engine_t *engine, cn_pool_t *pool, cn_cache_t *cache,
		     cn_zoneset_t **current, cn_zoneset_t *next, cn_zones_retired_t **retired)
{
	cn_zones_retired_t *r = retired_new(retired, cache);
	if (!r)
		return -ENOMEM;
	r->old = *current;
	r->now = next;
	r->engine = engine;
	*current = next;
	cn_engine_set_zones(engine, cn_zoneset_count(next) ? next : NULL);
	retire_after_barrier(pool, r);
	return 0;
}

/* Is zone z (by name, kind and servers) in set? */
static bool fwd_has(const cn_fwdzone_t *set, size_t n, const cn_fwdzone_t *z)
{
	for (size_t i = 0; i < n; i++)
		if (cn_dname_eq(set[i].name, z->name) && set[i].stub == z->stub &&
		    set[i].naddr == z->naddr &&
		    memcmp(set[i].addr, z->addr, z->naddr * sizeof(z->addr[0])) == 0)
			return true;
	return false;
}

int cn_zones_replace_fwd(cn_engine_t *engine, cn_pool_t *pool, cn_cache_t *cache,
			 const cn_config_t *next, cn_zones_retired_t **retired)
{
	cn_fwdzone_t *now = NULL, *old = NULL;
	size_t nnow = 0, nold = 0;
	while (cn_engine_fwdzone(engine, nold))
		nold++;
	if (nold && !(old = calloc(nold, sizeof(*old))))
		return -ENOMEM;
	for (size_t i = 0; i < nold; i++)
		old[i] = *cn_engine_fwdzone(engine, i);
	cn_zones_retired_t *r = NULL;
	int rc = cn_zones_fwd(next, &now, &nnow);
	if (rc == 0 && !(r = retired_new(retired, cache)))
		rc = -ENOMEM;
	/* the zones added, dropped or given other servers: what is cached below them came
	 * from servers no longer asked */
	if (rc == 0 && nold + nnow && !(r->flush = calloc(nold + nnow, sizeof(*r->flush))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < nold; i++)
		if (!fwd_has(now, nnow, &old[i]))
			cn_dname_copy(r->flush[r->nflush++], old[i].name);
	for (size_t i = 0; rc == 0 && i < nnow; i++)
		if (!fwd_has(old, nold, &now[i]))
			cn_dname_copy(r->flush[r->nflush++], now[i].name);
	if (rc == 0)
		rc = cn_engine_set_forwards(engine, now, nnow, &r->old_fwd);
	free(now);
	free(old);
	if (r) /* on failure it holds nothing yet: the barrier just marks it done */
		retire_after_barrier(pool, r);
	return rc;
}

void cn_zones_retired_free(cn_zones_retired_t **retired)
{
	cn_zones_retired_t *r = *retired;
	while (r) {
		cn_zones_retired_t *next = r->next;
		if (!atomic_load(&r->done)) {
			cn_zoneset_free(r->old);
			cn_engine_forwards_free(r->old_fwd);
		}
		retired_free(r);
		r = next;
	}
	*retired = NULL;
}

/* ------------------------------------------------------------------ forward, stub ----- */

int cn_zones_fwd(const cn_config_t *cfg, cn_fwdzone_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (cfg->nfwd == 0)
		return 0;
	cn_fwdzone_t *z = calloc(cfg->nfwd, sizeof(*z));
	if (!z)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nfwd; i++) {
		const cn_fwd_cfg_t *c = &cfg->fwd[i];
		if (cn_dname_from_str(c->name, z[i].name, NULL) != 0) {
			free(z);
			return -EINVAL; /* checked when read: cannot happen */
		}
		cn_dname_lower(z[i].name);
		z[i].stub = c->stub;
		for (unsigned k = 0; k < c->nservers && k < CN_FWD_SERVERS; k++)
			memcpy(&z[i].addr[z[i].naddr++], &c->servers[k].addr,
			       sizeof(c->servers[k].addr));
		char name[CN_DNAME_STR_MAX];
		cn_dname_to_str(z[i].name, name, sizeof(name));
		cn_log(CN_LOG_INFO, "%s zone %s: %u server(s)", c->stub ? "stub" : "forward", name,
		       z[i].naddr);
	}
	*out = z;
	*n = cfg->nfwd;
	return 0;
}

bool cn_zones_fwd_same(const cn_config_t *a, const cn_config_t *b)
{
	if (a->nfwd != b->nfwd)
		return false;
	for (size_t i = 0; i < a->nfwd; i++) {
		const cn_fwd_cfg_t *x = &a->fwd[i], *y = &b->fwd[i];
		if (strcmp(x->name, y->name) != 0 || x->stub != y->stub ||
		    x->nservers != y->nservers ||
		    memcmp(x->servers, y->servers, x->nservers * sizeof(x->servers[0])) != 0)
			return false;
	}
	return true;
}
