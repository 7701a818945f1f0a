/*
 * Hosted zones: zones cairn answers itself, authoritatively (AA=1), before its cache.
 *
 * A zone set (cn_zoneset_t) is built once at start by net (zone files read through
 * zoneload.c with libzscanner, `local_data:` records, the built-in local zones), checked,
 * and then handed to the engine, which only reads it (any number of threads at once).
 *
 * Each zone is public (every client) or private (only clients whose address lies in one of
 * its `visible_to` prefixes). For a client, the longest zone visible to it that encloses
 * the name answers; a client that sees no zone for a name resolves it as usual.
 *
 * The lookup (cn_zone_lookup) follows RFC 1034 4.3.2 as the zone's authoritative server
 * would: delegations below the apex, DNAME (RFC 6672), exact match, CNAME (followed into
 * other hosted zones the client sees), wildcards (RFC 4592), NXDOMAIN / NODATA with the
 * zone's SOA, its TTL min(SOA TTL, MINIMUM) (RFC 2308 3). A chain that leaves every hosted
 * zone, and a name below a delegation, are handed back to the engine to finish.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "resolver/dname.h"

typedef struct cn_zoneset cn_zoneset_t;
typedef struct cn_zone cn_zone_t;
typedef struct cn_result cn_result_t;

/** A client prefix of a private zone: family AF_INET/AF_INET6, bits, address bytes (host
 *  bits clear). net parses them (net/acl.c cn_cidr_parse) and hands them over. */
typedef struct cn_zone_prefix {
	int family;
	unsigned bits;
	uint8_t addr[16];
} cn_zone_prefix_t;

/** A new, empty set. Returns 0 or -ENOMEM. */
int cn_zoneset_new(cn_zoneset_t **out);
void cn_zoneset_free(cn_zoneset_t *zs);

/**
 * Read a zone file (RFC 1035 master format, through libzscanner) for zone `name` (text,
 * trailing dot optional) and add it to the set, visible to the nvis prefixes vis (0:
 * public). Every error, parse or consistency check, is "FILE:LINE: reason" in err and the
 * zone is not added. Returns 0, -EINVAL, -EEXIST (a zone of that name is already in the
 * set) or -ENOMEM.
 */
int cn_zoneset_load_file(cn_zoneset_t *zs, const char *name, const char *path,
			 const cn_zone_prefix_t *vis, size_t nvis, char *err, size_t errlen);

/** The same from text in memory; source names it in messages ("SOURCE:LINE: reason"). */
int cn_zoneset_load_text(cn_zoneset_t *zs, const char *name, const char *source,
			 const char *text, const cn_zone_prefix_t *vis, size_t nvis, char *err,
			 size_t errlen);

/**
 * One `local_data:` record ("printer.lan. 300 IN A 192.168.1.9"; names must be absolute).
 * Records with the same owner form one tiny public zone at that owner, with a synthesised
 * SOA (so other types are NODATA and names below it NXDOMAIN). source/line name it in
 * messages. Returns 0, -EINVAL (err: "SOURCE:LINE: reason") or -ENOMEM.
 */
int cn_zoneset_add_local_data(cn_zoneset_t *zs, const char *rr, const char *source,
			      unsigned line, char *err, size_t errlen);

/** The built-in local zones (RFC 6761 localhost. and invalid., the RFC 6303 reverse
 *  zones), NULL-terminated presentation names with a trailing dot. */
extern const char *const cn_zone_builtin_names[];

/**
 * Add the built-in local zones, except those named in off[0..noff) and those a zone already
 * in the set has the name of (configured zones replace built-in ones). Returns 0, -EINVAL
 * (err: a name in off is not a built-in zone) or -ENOMEM.
 */
int cn_zoneset_add_builtin(cn_zoneset_t *zs, const char *const *off, size_t noff, char *err,
			   size_t errlen);

/** Zones in the set, and facts about zone i for the control tool. */
size_t cn_zoneset_count(const cn_zoneset_t *zs);
typedef struct cn_zone_info {
	const uint8_t *name;
	uint32_t serial;
	size_t records;
	size_t nvisible;            /* 0: public */
	const cn_zone_prefix_t *visible;
	bool builtin;
	const char *source;         /* file name, "local_data" or "built-in" */
} cn_zone_info_t;
int cn_zoneset_info(const cn_zoneset_t *zs, size_t i, cn_zone_info_t *out);

/* ------------------------------------------------------------------ lookup ---------- */

typedef enum cn_zone_kind {
	CN_ZONE_NONE = 0,   /* no hosted zone visible to this client encloses the name */
	CN_ZONE_ANSWER,     /* res is the whole answer (positive, NODATA or NXDOMAIN) */
	CN_ZONE_CHAIN_OUT,  /* res holds a CNAME chain whose last target (target) lies in no
			       hosted zone the client sees: the engine finishes it */
	CN_ZONE_DELEGATION, /* target (the question, or the end of a chain in res) lies below
			       a delegation of zone at cut: the engine follows it */
} cn_zone_kind_t;

typedef struct cn_zone_answer {
	cn_zone_kind_t kind;
	bool private_seen;          /* a private zone took part in the answer */
	const uint8_t *target;      /* CHAIN_OUT / DELEGATION: the name still to resolve */
	const cn_zone_t *zone;      /* DELEGATION: the zone holding it */
	const uint8_t *cut;         /* DELEGATION: the delegated name (owner of the NS set) */
	size_t scratch_used;        /* bytes of scratch the records point into */
} cn_zone_answer_t;

/** Room a lookup needs in its scratch buffer for cname_limit hops. */
#define CN_ZONE_SCRATCH(cname_limit) (((size_t)(cname_limit) + 2) * CN_DNAME_MAX)

/**
 * Answer (qname, qtype) for a client at addr (NULL: public zones only) from zs. res->an and
 * res->an_cap must be set by the caller; records point into the zone set, into scratch
 * (synthesised DNAME targets; CN_ZONE_SCRATCH bytes) or at qname (wildcard owners), so all
 * three must outlive res. At most cname_limit CNAME/DNAME steps are followed (beyond:
 * SERVFAIL in res). Returns the kind; out is filled.
 */
cn_zone_kind_t cn_zone_lookup(const cn_zoneset_t *zs, const struct sockaddr *addr,
			      const uint8_t *qname, uint16_t qtype, unsigned cname_limit,
			      cn_result_t *res, uint8_t *scratch, size_t scratch_len,
			      cn_zone_answer_t *out);

/** The zone holding qname for this client (longest visible), or NULL. */
const cn_zone_t *cn_zone_find(const cn_zoneset_t *zs, const struct sockaddr *addr,
			      const uint8_t *qname);

/** Whether zone z is private (has a visible_to list). */
bool cn_zone_is_private(const cn_zone_t *z);
/** Whether the set holds a private zone (NULL: false). */
bool cn_zoneset_has_private(const cn_zoneset_t *zs);

/**
 * Records of (owner, type) in zone z: *first gets the index of the first, the return value
 * their count (0: none). Use cn_zone_record to read them.
 */
size_t cn_zone_rrset(const cn_zone_t *z, const uint8_t *owner, uint16_t type, size_t *first);
/** Record i of z: owner, rdata, TTL. */
void cn_zone_record(const cn_zone_t *z, size_t i, const uint8_t **owner, const uint8_t **rdata,
		    uint16_t *rdlen, uint32_t *ttl);
