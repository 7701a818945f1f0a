/*
 * Hosted zones of a running daemon: built from the configuration at start, built again and
 * swapped in by a reload (docs/config.md "Reload"), the old set freed once no worker can
 * still be reading it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cache/cache.h"
#include "net/config.h"
#include "net/pool.h"
#include "resolver/resolver.h"
#include "resolver/zone.h"

/**
 * Build the zones cfg names (`zones:`, --zone, `local_data:`, the built-in local zones)
 * into a new set. 0, or -1 with "FILE:LINE: reason" (or what else went wrong) in err.
 */
int cn_zones_build(const cn_config_t *cfg, cn_zoneset_t **out, char *err, size_t errlen);

typedef struct cn_zones_retired cn_zones_retired_t;

/**
 * Make the engine answer from next (owned from now on; an empty set means none) instead of
 * *current, which becomes next. Once every worker is back in its loop, the cache is
 * flushed below the apex of every public zone of either set (delegations seeded from the
 * old set, data cached for names a zone now covers) and the old set is freed, on that
 * worker's thread. What has not been freed by exit, cn_zones_retired_free() frees.
 */
int cn_zones_replace(cn_engine_t *engine, cn_pool_t *pool, cn_cache_t *cache,
		     cn_zoneset_t **current, cn_zoneset_t *next, cn_zones_retired_t **retired);

/**
 * Make the engine use next's forward and stub zones. Once every worker is back in its
 * loop, the cache is flushed below every zone added, dropped or given other servers, and
 * the old set is freed. 0 or -ENOMEM (the running zones stay).
 */
int cn_zones_replace_fwd(cn_engine_t *engine, cn_pool_t *pool, cn_cache_t *cache,
			 const cn_config_t *next, cn_zones_retired_t **retired);

/** After the workers are joined: free what replaced sets are left, and the records. */
void cn_zones_retired_free(cn_zones_retired_t **retired);

/**
 * The engine's forward and stub zones (resolver.h, cn_fwdzone_t) from cfg->fwd, each name
 * in wire form and lower case; cfg was checked when read. *out is malloc'ed (NULL when there
 * are none). 0 or -ENOMEM.
 */
int cn_zones_fwd(const cn_config_t *cfg, cn_fwdzone_t **out, size_t *n);

/** The same forward and stub zones, with the same servers, in a and b? */
bool cn_zones_fwd_same(const cn_config_t *a, const cn_config_t *b);
