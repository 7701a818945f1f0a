/*
 * Building hosted zones: shared by zone.c (the in-memory zone and its checks), zoneload.c
 * (libzscanner) and the unit tests. Not part of the public API.
 */
#pragma once

#include "resolver/zone.h"

typedef enum cn__zone_origin {
	CN__ZONE_FILE = 0,     /* a zone file (or text standing for one) */
	CN__ZONE_BUILTIN,      /* a built-in local zone */
	CN__ZONE_LOCAL_DATA,   /* local_data records of one owner: SOA synthesised, no NS */
} cn__zone_origin_t;

/** A new empty zone at name (any case), its messages naming source. vis is copied. */
int cn__zone_new(const uint8_t *name, const char *source, const cn_zone_prefix_t *vis,
		 size_t nvis, cn__zone_origin_t origin, cn_zone_t **out);
cn__zone_origin_t cn__zone_origin(const cn_zone_t *z);
/** Local data: the synthesised SOA (negative TTL ttl) that negative answers carry. */
void cn__zone_local_soa(cn_zone_t *z, uint32_t ttl);
/** The zone of exactly this name in zs, or NULL. */
/* The public zone of this name, or NULL. */
cn_zone_t *cn__zoneset_get(cn_zoneset_t *zs, const uint8_t *name);
void cn__zone_free(cn_zone_t *z);
const uint8_t *cn__zone_name(const cn_zone_t *z);

/** Add one record read at file:line. A name outside the zone or bad RDATA of a known type
 *  is -EINVAL with "FILE:LINE: reason" in err. */
int cn__zone_add(cn_zone_t *z, const uint8_t *owner, uint16_t type, uint32_t ttl,
		 const uint8_t *rdata, size_t rdlen, const char *file, unsigned long line,
		 char *err, size_t errlen);

/** Sort, merge identical records, one TTL per RRset, then the checks: one SOA at the
 *  apex, NS at the apex, no CNAME beside other data, nothing below a DNAME, only glue
 *  below a delegation. -EINVAL with "FILE:LINE: reason" in err. */
int cn__zone_finish(cn_zone_t *z, char *err, size_t errlen);

/** Take z into zs (-EEXIST: a zone of that name is there; z stays the caller's). */
int cn__zoneset_insert(cn_zoneset_t *zs, cn_zone_t *z, char *err, size_t errlen);
/* Is there a zone of this name, public (priv false) or private? */
bool cn__zoneset_has(const cn_zoneset_t *zs, const uint8_t *name, bool priv);
