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
	cn_zoneset_t *old;     /* NULL once freed */
	cn_zoneset_t *now;     /* the set that replaced it (alive at least as long) */
	cn_cache_t *cache;
	atomic_bool done;      /* set by the barrier, after freeing old */
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
	flush_public(r->cache, r->old);
	flush_public(r->cache, r->now);
	cn_zoneset_free(r->old);
	r->old = NULL;
	atomic_store(&r->done, true);
}

int cn_zones_replace(cn_engine_t *engine, cn_pool_t *pool, cn_cache_t *cache,
		     cn_zoneset_t **current, cn_zoneset_t *next, cn_zones_retired_t **retired)
{
	/* records of sets already freed go first (the barrier touches none after done) */
	for (cn_zones_retired_t **pp = retired; *pp;) {
		cn_zones_retired_t *old = *pp;
		if (atomic_load(&old->done)) {
			*pp = old->next;
			free(old);
		} else {
			pp = &old->next;
		}
	}
	cn_zones_retired_t *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->old = *current;
	r->now = next;
	r->cache = cache;
	atomic_init(&r->done, false);
	r->next = *retired;
	*retired = r;
	*current = next;
	cn_engine_set_zones(engine, cn_zoneset_count(next) ? next : NULL);
	if (!pool)
		retire(r);
	else if (cn_pool_quiesce(pool, retire, r) != 0)
		cn_log(CN_LOG_WARNING, "zones: the replaced set stays in memory until exit");
	return 0;
}

void cn_zones_retired_free(cn_zones_retired_t **retired)
{
	cn_zones_retired_t *r = *retired;
	while (r) {
		cn_zones_retired_t *next = r->next;
		if (!atomic_load(&r->done))
			cn_zoneset_free(r->old);
		free(r);
		r = next;
	}
	*retired = NULL;
}
