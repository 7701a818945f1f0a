/*
 * Hosted zones in memory, their consistency checks, and the lookup (RFC 1034 4.3.2).
 *
 * A zone is one array of records sorted in canonical order (RFC 4034 6.1) of owner, then
 * type, then RDATA: an RRset is a run of equal (owner, type), and every name below a node
 * follows that node, so "does this name exist, perhaps as an empty non-terminal" is one
 * binary search (the first record at or after the name is the name or lies below it).
 * Zones are immutable once checked; lookups only read them. Loading from text is in
 * zoneload.c (libzscanner).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "resolver/internal.h"
#include "resolver/wire.h"
#include "resolver/zone.h"
#include "resolver/zone_internal.h"

typedef struct zrec {
	uint8_t *owner;        /* wire form, case as loaded; rdata follows in the same block */
	uint8_t *rdata;
	uint32_t ttl;
	uint16_t type;
	uint16_t rdlen;
	uint32_t line;
	const char *file;      /* one of the zone's file names */
} zrec_t;

struct cn_zone {
	uint8_t name[CN_DNAME_MAX];
	size_t name_len;
	int labels;
	zrec_t *rec;
	size_t n, cap;
	char **files;          /* names of the files records came from ($INCLUDE adds some) */
	size_t nfiles;
	cn_zone_prefix_t *vis;
	size_t nvis;
	cn__zone_origin_t origin;
	uint32_t serial;
	const char *source;    /* files[0] */
	uint32_t last_line;
	const zrec_t *soa;     /* the apex SOA once checked (local data: local_soa) */
	uint32_t *owners;      /* exact-match index: 1 + first record of each owner, by hash
				  of the lowercased name (open addressing; 0 = empty) */
	size_t owners_mask;
	zrec_t local_soa;      /* local data: synthesised, not a record of the zone */
	uint8_t local_soa_rdata[64];
};

/* Zones are found through their last label (the TLD): each query looks only at the zones
 * of its own TLD's bucket, and at a hosted root zone, if any. */
#define TLD_BUCKETS 64

typedef struct zlist {
	cn_zone_t **zone;
	size_t n, cap;
} zlist_t;

struct cn_zoneset {
	zlist_t all;                 /* in the order they were added */
	zlist_t tld[TLD_BUCKETS];    /* by the hash of the last label */
	zlist_t root;                /* the zone ".", if hosted */
	size_t nprivate;             /* zones with a visible_to list */
};

/* The bucket of a label (length-prefixed), case-insensitive. */
static unsigned tld_bucket(const uint8_t *label)
{
	uint32_t h = 2166136261u;
	for (unsigned i = 0; i <= label[0]; i++) {
		uint8_t c = label[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		h = (h ^ c) * 16777619u;
	}
	return h % TLD_BUCKETS;
}

static int zlist_add(zlist_t *l, cn_zone_t *z)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		cn_zone_t **p = realloc(l->zone, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->zone = p;
		l->cap = cap;
	}
	l->zone[l->n++] = z;
	return 0;
}

/* ------------------------------------------------------------------ building --------- */

int cn_zoneset_new(cn_zoneset_t **out)
{
	cn_zoneset_t *zs = calloc(1, sizeof(*zs));
	if (!zs)
		return -ENOMEM;
	*out = zs;
	return 0;
}

void cn__zone_free(cn_zone_t *z)
{
	if (!z)
		return;
	for (size_t i = 0; i < z->n; i++)
		free(z->rec[i].owner);
	free(z->rec);
	free(z->owners);
	for (size_t i = 0; i < z->nfiles; i++)
		free(z->files[i]);
	free(z->files);
	free(z->vis);
	free(z);
}

void cn_zoneset_free(cn_zoneset_t *zs)
{
	if (!zs)
		return;
	for (size_t i = 0; i < zs->all.n; i++)
		cn__zone_free(zs->all.zone[i]);
	free(zs->all.zone);
	for (size_t i = 0; i < TLD_BUCKETS; i++)
		free(zs->tld[i].zone);
	free(zs->root.zone);
	free(zs);
}

/* Intern a file name in z; returns the stored copy, or NULL without memory. */
static const char *zone_file(cn_zone_t *z, const char *file)
{
	for (size_t i = z->nfiles; i-- > 0;)
		if (strcmp(z->files[i], file) == 0)
			return z->files[i];
	char **f = realloc(z->files, (z->nfiles + 1) * sizeof(*f));
	if (!f)
		return NULL;
	z->files = f;
	if (!(f[z->nfiles] = strdup(file)))
		return NULL;
	return f[z->nfiles++];
}

int cn__zone_new(const uint8_t *name, const char *source, const cn_zone_prefix_t *vis,
		 size_t nvis, cn__zone_origin_t origin, cn_zone_t **out)
{
	cn_zone_t *z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->name_len = cn_dname_copy(z->name, name);
	cn_dname_lower(z->name);
	z->labels = cn_dname_labels(z->name);
	z->origin = origin;
	if (!(z->source = zone_file(z, source)) ||
	    (nvis && !(z->vis = malloc(nvis * sizeof(*vis))))) {
		cn__zone_free(z);
		return -ENOMEM;
	}
	if (nvis)
		memcpy(z->vis, vis, nvis * sizeof(*vis));
	z->nvis = nvis;
	*out = z;
	return 0;
}

void cn__zone_local_soa(cn_zone_t *z, uint32_t ttl)
{
	/* localhost. nobody.invalid. 1 3600 1200 604800 <ttl> */
	static const uint8_t names[] = { 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0,
					 6, 'n', 'o', 'b', 'o', 'd', 'y',
					 7, 'i', 'n', 'v', 'a', 'l', 'i', 'd', 0 };
	uint32_t nums[5] = { 1, 3600, 1200, 604800, ttl };
	uint8_t *p = z->local_soa_rdata;
	memcpy(p, names, sizeof(names));
	p += sizeof(names);
	for (int i = 0; i < 5; i++, p += 4) {
		p[0] = nums[i] >> 24;
		p[1] = (nums[i] >> 16) & 0xff;
		p[2] = (nums[i] >> 8) & 0xff;
		p[3] = nums[i] & 0xff;
	}
	z->local_soa = (zrec_t){ .owner = z->name, .rdata = z->local_soa_rdata, .ttl = ttl,
				 .type = CN_TYPE_SOA,
				 .rdlen = (uint16_t)(p - z->local_soa_rdata), .file = z->source };
	z->serial = 1;
}

cn__zone_origin_t cn__zone_origin(const cn_zone_t *z)
{
	return z->origin;
}

const uint8_t *cn__zone_name(const cn_zone_t *z)
{
	return z->name;
}

__attribute__((format(printf, 5, 6)))
static int zerr(char *err, size_t errlen, const char *file, unsigned long line,
		const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%lu: %s", file, line, why);
	return -EINVAL;
}

static const char *name_str(const uint8_t *name, char *buf, size_t len)
{
	if (cn_dname_to_str(name, buf, len) < 0)
		snprintf(buf, len, "(name)");
	return buf;
}

int cn__zone_add(cn_zone_t *z, const uint8_t *owner, uint16_t type, uint32_t ttl,
		 const uint8_t *rdata, size_t rdlen, const char *file, unsigned long line,
		 char *err, size_t errlen)
{
	char a[CN_DNAME_STR_MAX], b[CN_DNAME_STR_MAX];
	if (line > z->last_line)
		z->last_line = (uint32_t)line;
	if (cn_dname_check(owner, CN_DNAME_MAX) <= 0)
		return zerr(err, errlen, file, line, "bad owner name");
	if (!cn_dname_is_sub(owner, z->name))
		return zerr(err, errlen, file, line, "%s is outside the zone %s",
			    name_str(owner, a, sizeof(a)), name_str(z->name, b, sizeof(b)));
	if (rdlen > 65535)
		return zerr(err, errlen, file, line, "record data too long");
	if (type == CN_TYPE_SOA || type == CN_TYPE_NS || type == CN_TYPE_CNAME ||
	    type == CN_TYPE_DNAME || type == CN_TYPE_A || type == CN_TYPE_AAAA ||
	    type == CN_TYPE_PTR || type == CN_TYPE_MX) {
		if (cn_rdata_check(type, rdata, rdlen) != 0)
			return zerr(err, errlen, file, line, "bad record data for its type");
	}
	if (z->n == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 16;
		zrec_t *r = realloc(z->rec, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		z->rec = r;
		z->cap = cap;
	}
	size_t olen = cn_dname_len(owner);
	uint8_t *blk = malloc(olen + rdlen + 1);
	const char *f = zone_file(z, file);
	if (!blk || !f) {
		free(blk);
		return -ENOMEM;
	}
	memcpy(blk, owner, olen);
	if (rdlen)
		memcpy(blk + olen, rdata, rdlen);
	z->rec[z->n++] = (zrec_t){ .owner = blk, .rdata = blk + olen, .ttl = ttl, .type = type,
				   .rdlen = (uint16_t)rdlen, .line = (uint32_t)line, .file = f };
	return 0;
}

static int rec_cmp(const void *pa, const void *pb)
{
	const zrec_t *a = pa, *b = pb;
	int d = cn_dname_cmp(a->owner, b->owner);
	if (d)
		return d;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	size_t m = a->rdlen < b->rdlen ? a->rdlen : b->rdlen;
	d = memcmp(a->rdata, b->rdata, m);
	if (d)
		return d;
	if (a->rdlen != b->rdlen)
		return a->rdlen < b->rdlen ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

/* The end of the owner group (records with the owner of rec[i]). */
static size_t group_end(const cn_zone_t *z, size_t i)
{
	size_t j = i + 1;
	while (j < z->n && cn_dname_eq(z->rec[j].owner, z->rec[i].owner))
		j++;
	return j;
}

/* FNV-1a over the lowercased wire name: the owner index's hash (zone data is the
 * operator's, and queries never insert, so no keyed hash is needed). */
static uint32_t owner_hash(const uint8_t *name)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0, n = cn_dname_len(name); i < n; i++)
		h = (h ^ cn_ascii_lower(name[i])) * 16777619u;
	return h;
}

/* The exact-match index over the sorted records (a hosted answer is one hash probe, not a
 * binary search of canonical name comparisons). No index (out of memory) is fine: lookups
 * fall back to the binary search. */
static void index_owners(cn_zone_t *z)
{
	size_t groups = 0;
	for (size_t i = 0; i < z->n; i = group_end(z, i))
		groups++;
	size_t cap = 8;
	while (cap < groups * 2)
		cap *= 2;
	free(z->owners);
	z->owners = calloc(cap, sizeof(*z->owners));
	if (!z->owners || z->n >= UINT32_MAX)
		return;
	z->owners_mask = cap - 1;
	for (size_t i = 0; i < z->n; i = group_end(z, i)) {
		size_t k = owner_hash(z->rec[i].owner) & z->owners_mask;
		while (z->owners[k])
			k = (k + 1) & z->owners_mask;
		z->owners[k] = (uint32_t)i + 1;
	}
}

/* The first record owned by name, or -1 when name owns none (or there is no index). */
static long owner_first(const cn_zone_t *z, const uint8_t *name)
{
	if (!z->owners)
		return -1;
	for (size_t k = owner_hash(name) & z->owners_mask; z->owners[k];
	     k = (k + 1) & z->owners_mask)
		if (cn_dname_eq(z->rec[z->owners[k] - 1].owner, name))
			return (long)z->owners[k] - 1;
	return -1;
}

static const zrec_t *group_find(const cn_zone_t *z, size_t i, size_t j, uint16_t type)
{
	for (size_t k = i; k < j; k++)
		if (z->rec[k].type == type)
			return &z->rec[k];
	return NULL;
}

/* Types that may sit beside a CNAME (RFC 2181 10.1, RFC 4035 2.5). */
static bool cname_companion(uint16_t t)
{
	return t == CN_TYPE_CNAME || t == CN_TYPE_RRSIG || t == CN_TYPE_NSEC;
}

/* Identical records are one record (RFC 2181 5); one TTL per RRset, the lowest (5.2).
 * z->rec is sorted. */
static void zone_normalise(cn_zone_t *z)
{
	size_t w = 0;
	for (size_t i = 0; i < z->n; i++) {
		if (w && z->rec[w - 1].type == z->rec[i].type &&
		    cn_dname_eq(z->rec[w - 1].owner, z->rec[i].owner) &&
		    z->rec[w - 1].rdlen == z->rec[i].rdlen &&
		    memcmp(z->rec[w - 1].rdata, z->rec[i].rdata, z->rec[i].rdlen) == 0) {
			free(z->rec[i].owner);
			continue;
		}
		z->rec[w++] = z->rec[i];
	}
	z->n = w;
	for (size_t i = 0; i < z->n;) {
		size_t j = i;
		uint32_t min = z->rec[i].ttl;
		while (j < z->n && z->rec[j].type == z->rec[i].type &&
		       cn_dname_eq(z->rec[j].owner, z->rec[i].owner)) {
			if (z->rec[j].ttl < min)
				min = z->rec[j].ttl;
			j++;
		}
		for (size_t k = i; k < j; k++)
			z->rec[k].ttl = min;
		i = j;
	}
}

/* The walk over a sorted zone's owner groups: what the names above the current one set. */
typedef struct zwalk {
	cn_zone_t *z;
	char *err;
	size_t errlen;
	bool have_soa, have_ns;
	const uint8_t *cut;   /* the delegation the current name lies at or below */
	const uint8_t *dname; /* the DNAME the current name lies at or below */
} zwalk_t;

static bool glue_or_cut_type(uint16_t t)
{
	return t == CN_TYPE_A || t == CN_TYPE_AAAA || t == CN_TYPE_NS || t == CN_TYPE_DS ||
	       t == CN_TYPE_RRSIG || t == CN_TYPE_NSEC;
}

/* One record r of the group whose CNAME (if any) is cname: -EINVAL with the reason. */
static int check_record(zwalk_t *wk, const zrec_t *r, const zrec_t *cname, bool apex)
{
	char a[CN_DNAME_STR_MAX];
	const uint8_t *owner = r->owner;
	if (r->type == CN_TYPE_SOA) {
		if (!apex)
			return zerr(wk->err, wk->errlen, r->file, r->line,
				    "SOA record at %s, not at the apex", name_str(owner, a, sizeof(a)));
		if (wk->have_soa)
			return zerr(wk->err, wk->errlen, r->file, r->line,
				    "a second SOA record at the apex");
		wk->have_soa = true;
		wk->z->soa = r;
	}
	if (r->type == CN_TYPE_NS && apex)
		wk->have_ns = true;
	if (cname && r != cname && !cname_companion(r->type)) {
		const zrec_t *later = r->line > cname->line ? r : cname;
		return zerr(wk->err, wk->errlen, later->file, later->line,
			    "CNAME beside other data at %s", name_str(owner, a, sizeof(a)));
	}
	if (cname && r != cname && r->type == CN_TYPE_CNAME)
		return zerr(wk->err, wk->errlen, r->file, r->line, "more than one CNAME at %s",
			    name_str(owner, a, sizeof(a)));
	if (wk->dname && !cn_dname_eq(owner, wk->dname))
		return zerr(wk->err, wk->errlen, r->file, r->line,
			    "%s lies below the DNAME at %s", name_str(owner, a, sizeof(a)),
			    "its ancestor");
	if (wk->cut) {
		bool at_cut = cn_dname_eq(owner, wk->cut);
		bool ok = r->type == CN_TYPE_A || r->type == CN_TYPE_AAAA ||
			  (at_cut && glue_or_cut_type(r->type));
		if (!ok)
			return zerr(wk->err, wk->errlen, r->file, r->line,
				    "%s is below a delegation: only glue (A/AAAA) may be there",
				    name_str(owner, a, sizeof(a)));
	}
	return 0;
}

/* The owner group z->rec[i..j): its records, then whether it opens a cut or a DNAME. */
static int check_group(zwalk_t *wk, size_t i, size_t j)
{
	cn_zone_t *z = wk->z;
	const uint8_t *owner = z->rec[i].owner;
	bool apex = cn_dname_eq(owner, z->name);
	if (wk->cut && !cn_dname_is_sub(owner, wk->cut))
		wk->cut = NULL;
	if (wk->dname && !cn_dname_is_sub(owner, wk->dname))
		wk->dname = NULL;
	const zrec_t *cname = group_find(z, i, j, CN_TYPE_CNAME);
	int rc;
	for (size_t k = i; k < j; k++)
		if ((rc = check_record(wk, &z->rec[k], cname, apex)) != 0)
			return rc;
	if (!apex && !wk->cut && group_find(z, i, j, CN_TYPE_NS)) {
		char a[CN_DNAME_STR_MAX];
		wk->cut = owner;
		/* records at the cut sorted before NS (A, type 1) are glue: fine */
		for (size_t k = i; k < j; k++)
			if (!glue_or_cut_type(z->rec[k].type))
				return zerr(wk->err, wk->errlen, z->rec[k].file, z->rec[k].line,
					    "%s is a delegation: only NS, DS and glue may be there",
					    name_str(owner, a, sizeof(a)));
	}
	if (!wk->dname && group_find(z, i, j, CN_TYPE_DNAME))
		wk->dname = owner;
	return 0;
}

int cn__zone_finish(cn_zone_t *z, char *err, size_t errlen)
{
	char a[CN_DNAME_STR_MAX];
	const char *src = z->source;
	unsigned long end = z->last_line ? z->last_line : 1;
	if (z->n)
		qsort(z->rec, z->n, sizeof(zrec_t), rec_cmp);
	zone_normalise(z);
	zwalk_t wk = { .z = z, .err = err, .errlen = errlen };
	int rc;
	for (size_t i = 0, j; i < z->n; i = j) {
		j = group_end(z, i);
		if ((rc = check_group(&wk, i, j)) != 0)
			return rc;
	}
	if (z->origin == CN__ZONE_LOCAL_DATA) {
		if (wk.have_soa || wk.have_ns)
			return zerr(err, errlen, src, end, "local_data: SOA and NS records are "
				    "made by cairn; give them in a zone file instead");
		z->soa = &z->local_soa;
		index_owners(z);
		return 0;
	}
	if (!wk.have_soa)
		return zerr(err, errlen, src, end, "no SOA record at the apex %s",
			    name_str(z->name, a, sizeof(a)));
	if (!wk.have_ns)
		return zerr(err, errlen, src, end, "no NS record at the apex %s",
			    name_str(z->name, a, sizeof(a)));
	const zrec_t *soa = z->soa;
	size_t off = 0;
	for (int k = 0; k < 2; k++) /* MNAME, RNAME */
		off += cn_dname_len(soa->rdata + off);
	z->serial = cn_wire_get32(soa->rdata + off);
	index_owners(z);
	return 0;
}

/* The public (priv false) or the private zone of this name. A name may have one of each:
 * a private twin answers its visible_to, the public one everyone else. */
static cn_zone_t *set_find_exact(const cn_zoneset_t *zs, const uint8_t *name, bool priv)
{
	for (size_t i = 0; i < zs->all.n; i++)
		if ((zs->all.zone[i]->nvis > 0) == priv && cn_dname_eq(zs->all.zone[i]->name, name))
			return zs->all.zone[i];
	return NULL;
}

int cn__zoneset_insert(cn_zoneset_t *zs, cn_zone_t *z, char *err, size_t errlen)
{
	const cn_zone_t *old = set_find_exact(zs, z->name, z->nvis > 0);
	if (old) {
		char a[CN_DNAME_STR_MAX];
		snprintf(err, errlen, "%s: zone %s is defined twice (also by %s)", z->source,
			 name_str(z->name, a, sizeof(a)), old->source);
		return -EEXIST;
	}
	zlist_t *l = z->labels == 0 ? &zs->root
				    : &zs->tld[tld_bucket(cn_dname_skip(z->name, z->labels - 1))];
	if (zlist_add(l, z) != 0)
		return -ENOMEM;
	if (zlist_add(&zs->all, z) != 0) {
		l->n--;
		return -ENOMEM;
	}
	zs->nprivate += z->nvis > 0;
	return 0;
}

bool cn_zoneset_has_private(const cn_zoneset_t *zs)
{
	return zs && zs->nprivate > 0;
}

bool cn__zoneset_has(const cn_zoneset_t *zs, const uint8_t *name, bool priv)
{
	return set_find_exact(zs, name, priv) != NULL;
}

cn_zone_t *cn__zoneset_get(cn_zoneset_t *zs, const uint8_t *name)
{
	return set_find_exact(zs, name, false);
}

/* ------------------------------------------------------------------ facts ------------ */

size_t cn_zoneset_count(const cn_zoneset_t *zs)
{
	return zs ? zs->all.n : 0;
}

int cn_zoneset_info(const cn_zoneset_t *zs, size_t i, cn_zone_info_t *out)
{
	if (!zs || i >= zs->all.n)
		return -ENOENT;
	const cn_zone_t *z = zs->all.zone[i];
	*out = (cn_zone_info_t){ .name = z->name, .serial = z->serial, .records = z->n,
				 .nvisible = z->nvis, .visible = z->vis,
				 .builtin = z->origin == CN__ZONE_BUILTIN,
				 .source = z->source };
	return 0;
}

/* ------------------------------------------------------------------ lookup ----------- */

static bool prefix_match(const cn_zone_prefix_t *p, const struct sockaddr *sa)
{
	const uint8_t *a;
	int fam = sa->sa_family;
	if (fam == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (fam == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
			a += 12;
			fam = AF_INET;
		}
	} else {
		return false;
	}
	if (fam != p->family)
		return false;
	unsigned full = p->bits / 8, rest = p->bits % 8;
	if (memcmp(a, p->addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((a[full] & mask) != (p->addr[full] & mask))
			return false;
	}
	return true;
}

static bool visible(const cn_zone_t *z, const struct sockaddr *sa)
{
	if (z->nvis == 0)
		return true;
	if (!sa)
		return false;
	for (size_t i = 0; i < z->nvis; i++)
		if (prefix_match(&z->vis[i], sa))
			return true;
	return false;
}

bool cn_zone_is_private(const cn_zone_t *z)
{
	return z->nvis > 0;
}

const cn_zone_t *cn_zone_find(const cn_zoneset_t *zs, const struct sockaddr *addr,
			      const uint8_t *qname)
{
	if (!zs || zs->all.n == 0)
		return NULL;
	/* every query passes here: find the labels once, look only at the zones of the
	 * name's TLD, reject a zone on its label count and length before comparing bytes */
	uint8_t off[CN_DNAME_MAX / 2 + 1];
	int labels = 0;
	size_t pos = 0;
	while (qname[pos] && labels < (int)sizeof(off)) {
		off[labels++] = (uint8_t)pos;
		pos += (size_t)qname[pos] + 1;
	}
	size_t len = pos + 1;
	const cn_zone_t *best = NULL;
	if (labels > 0) {
		const zlist_t *l = &zs->tld[tld_bucket(qname + off[labels - 1])];
		for (size_t i = 0; i < l->n; i++) {
			const cn_zone_t *z = l->zone[i];
			/* longest wins; of twins (same name), the private one the client sees */
			if (z->labels > labels ||
			    (best && (z->labels < best->labels ||
				      (z->labels == best->labels && (best->nvis || !z->nvis)))))
				continue;
			size_t start = z->labels == labels ? 0 : off[labels - z->labels];
			if (len - start != z->name_len)
				continue;
			if (cn_dname_eq(qname + start, z->name) && visible(z, addr))
				best = z;
		}
	}
	for (size_t i = 0; (!best || (best->labels == 0 && !best->nvis)) && i < zs->root.n; i++)
		if (visible(zs->root.zone[i], addr) && (!best || zs->root.zone[i]->nvis))
			best = zs->root.zone[i];
	return best;
}

/* First record index whose owner sorts at or after name. */
static size_t lower_bound(const cn_zone_t *z, const uint8_t *name)
{
	size_t lo = 0, hi = z->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cn_dname_cmp(z->rec[mid].owner, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t cn_zone_rrset(const cn_zone_t *z, const uint8_t *owner, uint16_t type, size_t *first)
{
	long f = owner_first(z, owner);
	size_t i = f >= 0 ? (size_t)f : lower_bound(z, owner);
	while (i < z->n && cn_dname_eq(z->rec[i].owner, owner) && z->rec[i].type < type)
		i++;
	size_t j = i;
	while (j < z->n && z->rec[j].type == type && cn_dname_eq(z->rec[j].owner, owner))
		j++;
	*first = i;
	return j - i;
}

void cn_zone_record(const cn_zone_t *z, size_t i, const uint8_t **owner, const uint8_t **rdata,
		    uint16_t *rdlen, uint32_t *ttl)
{
	*owner = z->rec[i].owner;
	*rdata = z->rec[i].rdata;
	*rdlen = z->rec[i].rdlen;
	*ttl = z->rec[i].ttl;
}

/* One binary search for a node: whether it exists, and [*i, *j) the records it owns
 * (empty for an empty non-terminal). */
static bool node_find(const cn_zone_t *z, const uint8_t *name, size_t *i, size_t *j)
{
	long f = owner_first(z, name);
	if (f >= 0) {
		*i = (size_t)f;
		*j = group_end(z, (size_t)f);
		return true;
	}
	size_t a = lower_bound(z, name), b = a;
	while (b < z->n && cn_dname_eq(z->rec[b].owner, name))
		b++;
	*i = a;
	*j = b;
	return b > a || (a < z->n && cn_dname_is_sub(z->rec[a].owner, name));
}

/* The records of type in the node's [i, j): count, *first. */
static size_t node_type(const cn_zone_t *z, size_t i, size_t j, uint16_t type, size_t *first)
{
	while (i < j && z->rec[i].type < type)
		i++;
	size_t k = i;
	while (k < j && z->rec[k].type == type)
		k++;
	*first = i;
	return k - i;
}

/* Append n records from first to res, with owner as their owner. */
static void add_records(cn_result_t *res, const cn_zone_t *z, size_t first, size_t n,
			const uint8_t *owner)
{
	for (size_t k = 0; k < n && res->nan < res->an_cap; k++) {
		const zrec_t *r = &z->rec[first + k];
		res->an[res->nan++] = (cn_rr_t){ .owner = owner, .rdata = r->rdata, .ttl = r->ttl,
						 .type = r->type, .rclass = CN_CLASS_IN,
						 .rdlen = r->rdlen,
						 .section = CN_SECTION_ANSWER };
	}
}

/* NXDOMAIN / NODATA: the apex SOA in AUTHORITY, TTL min(SOA TTL, MINIMUM) (RFC 2308 3). */
static void set_negative(cn_result_t *res, const cn_zone_t *z, uint16_t rcode)
{
	const zrec_t *soa = z->soa;
	uint32_t min = soa->ttl;
	if (cn_rdata_soa_minimum(soa->rdata, soa->rdlen, &min) != 0 || min > soa->ttl)
		min = soa->ttl;
	res->rcode = rcode;
	res->has_soa = true;
	res->soa = (cn_rr_t){ .owner = z->name, .rdata = soa->rdata, .ttl = min,
			      .type = CN_TYPE_SOA, .rclass = CN_CLASS_IN, .rdlen = soa->rdlen,
			      .section = CN_SECTION_AUTHORITY };
}

typedef enum step {
	STEP_DONE,       /* res complete */
	STEP_CNAME,      /* a CNAME was appended; follow *next */
	STEP_DELEGATION, /* name lies at/below the delegation *cut */
} step_t;

/* One zone's answer for name (RFC 1034 4.3.2 step 3, RFC 4592, RFC 6672). */
static step_t zone_step(const cn_zone_t *z, const uint8_t *name, uint16_t qtype,
			cn_result_t *res, uint8_t *synth, const uint8_t **next,
			const uint8_t **cut)
{
	int nl = cn_dname_labels(name);
	const uint8_t *encloser = z->name; /* closest encloser so far */
	size_t gi = 0, gj = 0, first, n;   /* the records of the node at hand */
	bool exact = nl == z->labels;
	if (exact)
		node_find(z, name, &gi, &gj);
	/* Walk down from the label below the apex to the name itself. */
	for (int skip = nl - z->labels - 1; skip >= 0; skip--) {
		const uint8_t *anc = cn_dname_skip(name, skip);
		if (!node_find(z, anc, &gi, &gj))
			break; /* nothing below a name that does not exist */
		encloser = anc;
		exact = skip == 0;
		if (node_type(z, gi, gj, CN_TYPE_NS, &first) && !(exact && qtype == CN_TYPE_DS)) {
			*cut = z->rec[first].owner;
			return STEP_DELEGATION;
		}
		if (!exact && node_type(z, gi, gj, CN_TYPE_DNAME, &first)) {
			/* RFC 6672 2.2: the DNAME, then a CNAME to name with anc replaced */
			const zrec_t *d = &z->rec[first];
			add_records(res, z, first, 1, d->owner);
			size_t plen = (size_t)(anc - name), tlen = cn_dname_len(d->rdata);
			if (plen + tlen > CN_DNAME_MAX) {
				res->rcode = CN_RCODE_YXDOMAIN;
				return STEP_DONE;
			}
			memcpy(synth, name, plen);
			memcpy(synth + plen, d->rdata, tlen);
			if (res->nan < res->an_cap)
				res->an[res->nan++] = (cn_rr_t){
					.owner = name, .rdata = synth, .ttl = d->ttl,
					.type = CN_TYPE_CNAME, .rclass = CN_CLASS_IN,
					.rdlen = (uint16_t)(plen + tlen),
					.section = CN_SECTION_ANSWER };
			*next = synth;
			return STEP_CNAME;
		}
	}
	if (!exact) {
		/* RFC 4592 3.3.1: the source of synthesis is *.<closest encloser> */
		static const uint8_t star[] = { 1, '*' };
		size_t el = cn_dname_len(encloser);
		if (el + 2 > CN_DNAME_MAX) {
			set_negative(res, z, CN_RCODE_NXDOMAIN);
			return STEP_DONE;
		}
		memcpy(synth, star, 2);
		memcpy(synth + 2, encloser, el);
		if (!node_find(z, synth, &gi, &gj)) {
			set_negative(res, z, CN_RCODE_NXDOMAIN);
			return STEP_DONE;
		}
	}
	if ((n = node_type(z, gi, gj, qtype, &first))) {
		add_records(res, z, first, n, name);
		return STEP_DONE;
	}
	if (qtype != CN_TYPE_CNAME && node_type(z, gi, gj, CN_TYPE_CNAME, &first)) {
		add_records(res, z, first, 1, name);
		*next = z->rec[first].rdata;
		return STEP_CNAME;
	}
	set_negative(res, z, CN_RCODE_NOERROR); /* NODATA */
	return STEP_DONE;
}

cn_zone_kind_t cn_zone_lookup(const cn_zoneset_t *zs, const struct sockaddr *addr,
			      const uint8_t *qname, uint16_t qtype, unsigned cname_limit,
			      cn_result_t *res, uint8_t *scratch, size_t scratch_len,
			      cn_zone_answer_t *out)
{
	memset(out, 0, sizeof(*out));
	const cn_zone_t *z = cn_zone_find(zs, addr, qname);
	if (!z)
		return CN_ZONE_NONE;
	res->rcode = CN_RCODE_NOERROR;
	res->nan = 0;
	res->has_soa = false;
	res->aa = true;
	res->has_ede = false;
	const uint8_t *name = qname;
	size_t synth_off = 0;
	for (unsigned hop = 0;; hop++) {
		if (cn_zone_is_private(z))
			out->private_seen = true;
		if (synth_off + CN_DNAME_MAX > scratch_len) {
			res->rcode = CN_RCODE_SERVFAIL;
			return out->kind = CN_ZONE_ANSWER;
		}
		const uint8_t *next = NULL, *cut = NULL;
		step_t st = zone_step(z, name, qtype, res, scratch + synth_off, &next, &cut);
		out->scratch_used = synth_off + CN_DNAME_MAX; /* wildcard lookups used it too */
		if (st == STEP_DONE)
			return out->kind = CN_ZONE_ANSWER;
		if (st == STEP_DELEGATION) {
			out->target = name;
			out->zone = z;
			out->cut = cut;
			return out->kind = CN_ZONE_DELEGATION;
		}
		if (next == scratch + synth_off)
			synth_off += CN_DNAME_MAX;
		if (hop + 1 > cname_limit) {
			res->rcode = CN_RCODE_SERVFAIL;
			res->nan = 0;
			res->has_soa = false;
			return out->kind = CN_ZONE_ANSWER;
		}
		name = next;
		if (!(z = cn_zone_find(zs, addr, name))) {
			out->target = name;
			return out->kind = CN_ZONE_CHAIN_OUT;
		}
	}
}
