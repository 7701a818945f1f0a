/*
 * dnssec_zonecheck: cairn's DNSSEC library run over a whole signed zone file, for the signed
 * testbed's test (tests/integration/test_testbed_signed.py) — the library's verdict on each
 * zone the real signer signed, next to Unbound's. Not a product tool: built with the tests.
 *
 *   dnssec_zonecheck ZONE ZONEFILE PARENTFILE NOW [QNAME QTYPE]...
 *
 * Reads ZONEFILE (the signed zone) and the DS records of ZONE from PARENTFILE (the parent's
 * signed zone, or a trust-anchor file for the root) with libzscanner, then prints one line
 * per check, "OWNER<TAB>TYPE<TAB>RESULT<TAB>EDE": the DNSKEY RRset against the DS set, every
 * authoritative RRset of the zone (not the NS of delegations, not glue) against the zone's
 * keys, and for each QNAME QTYPE pair the denial proof (NXDOMAIN when no record has QNAME
 * as owner or ancestor, else NODATA) from the zone's NSEC or NSEC3 records. NOW is the
 * wall time in seconds. Exit 0, or 2 on a usage or file error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libzscanner/scanner.h>

#include "resolver/dnssec.h"

typedef struct rrs {
	cn_rr_t *v;
	size_t n, cap;
	int err;
} rrs_t;

static void on_record(zs_scanner_t *s)
{
	rrs_t *l = s->process.data;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		cn_rr_t *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			l->err = 1;
			s->state = ZS_STATE_STOP;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	uint8_t *owner = malloc(s->r_owner_length), *rd = malloc(s->r_data_length + 1);
	if (!owner || !rd) {
		free(owner);
		free(rd);
		l->err = 1;
		s->state = ZS_STATE_STOP;
		return;
	}
	memcpy(owner, s->r_owner, s->r_owner_length);
	memcpy(rd, s->r_data, s->r_data_length);
	l->v[l->n++] = (cn_rr_t){.owner = owner, .rdata = rd, .ttl = s->r_ttl, .type = s->r_type,
				 .rclass = s->r_class, .rdlen = (uint16_t)s->r_data_length};
}

static int load(const char *path, const char *origin, rrs_t *l)
{
	zs_scanner_t *s = malloc(sizeof(*s));
	int rc = -1;
	if (s && zs_init(s, origin, CN_CLASS_IN, 3600) == 0) {
		if (zs_set_input_file(s, path) == 0 &&
		    zs_set_processing(s, on_record, NULL, l) == 0 && zs_parse_all(s) == 0 && !l->err)
			rc = 0;
		else
			fprintf(stderr, "%s: %s\n", path, zs_strerror(s->error.code));
		zs_deinit(s);
	}
	free(s);
	return rc;
}

static void release(rrs_t *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((void *)l->v[i].owner);
		free((void *)l->v[i].rdata);
	}
	free(l->v);
}

/* The records of l with owner (NULL: any) and type into out (capacity l->n). */
static size_t pick(const rrs_t *l, const uint8_t *owner, uint16_t type, cn_rr_t *out)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].type == type && (!owner || cn_dname_eq(l->v[i].owner, owner)))
			out[k++] = l->v[i];
	return k;
}

static void print(const uint8_t *owner, uint16_t type, cn_dnssec_result_t r)
{
	char name[CN_DNAME_STR_MAX], tb[16];
	cn_dname_to_str(owner, name, sizeof(name));
	printf("%s\t%s\t%s\t%d\n", name, cn_type_to_str(type, tb, sizeof(tb)),
	       cn_dnssec_result_str(r), cn_dnssec_result_ede(r));
}

/* Whether the record at i is authoritative data of zone: not below a delegation (glue),
 * not the NS RRset of a delegation point. */
static bool authoritative(const rrs_t *z, size_t i, const uint8_t *zone)
{
	const cn_rr_t *rr = &z->v[i];
	for (size_t j = 0; j < z->n; j++) {
		const cn_rr_t *d = &z->v[j];
		if (d->type != CN_TYPE_NS || cn_dname_eq(d->owner, zone) ||
		    !cn_dname_is_sub(rr->owner, d->owner))
			continue;
		if (!cn_dname_eq(rr->owner, d->owner) || rr->type == CN_TYPE_NS)
			return false; /* glue, or the delegation's NS (DS and NSEC stay) */
	}
	return true;
}

static void check_rrsets(const rrs_t *z, const uint8_t *zone, cn_rr_t *keys, size_t nkeys,
			 uint64_t now, cn_arena_t *a)
{
	cn_rr_t *set = malloc(z->n * sizeof(*set));
	for (size_t i = 0; set && i < z->n; i++) {
		const cn_rr_t *rr = &z->v[i];
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = !(z->v[j].type == rr->type && cn_dname_eq(z->v[j].owner, rr->owner));
		if (!first || rr->type == CN_TYPE_RRSIG || !authoritative(z, i, zone))
			continue;
		size_t n = pick(z, rr->owner, rr->type, set);
		cn_dnssec_budget_t b;
		cn_dnssec_budget_init(&b);
		print(rr->owner, rr->type,
		      cn_dnssec_verify_rrset(set, n, z->v, z->n, keys, nkeys, zone, now, &b, a, NULL));
		cn_arena_reset(a);
	}
	free(set);
}

static void prove(const rrs_t *z, const uint8_t *zone, const char *qs, const char *ts)
{
	uint8_t q[CN_DNAME_MAX];
	uint16_t t = cn_type_from_str(ts);
	if (cn_dname_from_str(qs, q, NULL) || !t)
		return;
	bool exists = false;
	for (size_t i = 0; i < z->n; i++)
		exists |= cn_dname_is_sub(z->v[i].owner, q) && z->v[i].type != CN_TYPE_NSEC3;
	cn_dnssec_budget_t b;
	cn_dnssec_budget_init(&b);
	bool nsec3 = false;
	for (size_t i = 0; i < z->n; i++)
		nsec3 |= z->v[i].type == CN_TYPE_NSEC3;
	cn_dnssec_result_t r;
	if (nsec3)
		r = exists ? cn_nsec3_prove_nodata(z->v, z->n, q, t, zone, &b)
			   : cn_nsec3_prove_nxdomain(z->v, z->n, q, zone, &b);
	else
		r = exists ? cn_nsec_prove_nodata(z->v, z->n, q, t, zone)
			   : cn_nsec_prove_nxdomain(z->v, z->n, q, zone, NULL);
	printf("%s\t%s\t%s %s\t%d\n", qs, ts, exists ? "nodata" : "nxdomain",
	       cn_dnssec_result_str(r), cn_dnssec_result_ede(r));
}

int main(int argc, char **argv)
{
	if (argc < 5 || argc % 2 == 0) {
		fprintf(stderr, "usage: %s ZONE ZONEFILE PARENTFILE NOW [QNAME QTYPE]...\n", argv[0]);
		return 2;
	}
	uint8_t zone[CN_DNAME_MAX];
	rrs_t z = {0}, p = {0};
	if (cn_dname_from_str(argv[1], zone, NULL) || load(argv[2], argv[1], &z) ||
	    load(argv[3], ".", &p))
		return 2;
	uint64_t now = strtoull(argv[4], NULL, 10);
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_rr_t *keys = malloc((z.n + 1) * sizeof(*keys)), *ds = malloc((p.n + 1) * sizeof(*ds));
	if (!keys || !ds)
		return 2;
	size_t nkeys = pick(&z, zone, CN_TYPE_DNSKEY, keys), nds = pick(&p, zone, CN_TYPE_DS, ds);
	cn_dnssec_budget_t b;
	cn_dnssec_budget_init(&b);
	print(zone, CN_TYPE_DNSKEY,
	      cn_dnssec_verify_dnskeys(keys, nkeys, z.v, z.n, ds, nds, zone, now, &b, &a));
	cn_arena_reset(&a);
	check_rrsets(&z, zone, keys, nkeys, now, &a);
	for (int i = 5; i + 1 < argc; i += 2)
		prove(&z, zone, argv[i], argv[i + 1]);
	cn_arena_deinit(&a);
	free(keys);
	free(ds);
	release(&z);
	release(&p);
	return 0;
}
