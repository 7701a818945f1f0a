/*
 * Reading hosted zones with libzscanner (Knot DNS's zone-file scanner, Debian libknot-dev):
 * $ORIGIN, $TTL, $INCLUDE, relative names, escapes, every type's text form and RFC 3597
 * "\#" come from it; this file turns its records into a checked cn_zone_t (zone.c).
 *
 * It lives in resolver/ beside the zone it fills, as hints.c does for the root hints: the
 * loader is pure parsing (the file is read by libzscanner, no sockets, no clock), and keeping
 * it here lets the unit tests check each zone-file error with its line without net/. net/
 * calls it at start (and later on reload) and hands the finished set to the engine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libzscanner/scanner.h>

#include "resolver/internal.h"
#include "resolver/zone.h"
#include "resolver/zone_internal.h"

#define DEFAULT_TTL 3600 /* when a file has no $TTL (RFC 2308 4 wants one) */

typedef struct load {
	cn_zone_t *z;
	const char *source;
	char *err;
	size_t errlen;
	int rc;
	/* single-record mode (local_data): the record is kept, not added */
	bool single;
	unsigned nrec;
	uint8_t owner[CN_DNAME_MAX];
	uint16_t type;
	uint32_t ttl;
	uint8_t *rdata;
	size_t rdlen;
} load_t;

static const char *file_of(const zs_scanner_t *s, const load_t *l)
{
	return s->file.name ? s->file.name : l->source;
}

static void on_error(zs_scanner_t *s)
{
	load_t *l = s->process.data;
	if (l->rc == 0) {
		snprintf(l->err, l->errlen, "%s:%llu: %s", file_of(s, l),
			 (unsigned long long)s->line_counter, zs_strerror(s->error.code));
		l->rc = -EINVAL;
	}
	s->state = ZS_STATE_STOP;
}

static void on_record(zs_scanner_t *s)
{
	load_t *l = s->process.data;
	if (l->rc) {
		s->state = ZS_STATE_STOP;
		return;
	}
	unsigned long line = (unsigned long)s->line_counter;
	if (s->r_class != CN_CLASS_IN) {
		snprintf(l->err, l->errlen, "%s:%lu: only class IN is served", file_of(s, l), line);
		l->rc = -EINVAL;
	} else if (l->single) {
		if (++l->nrec > 1) {
			snprintf(l->err, l->errlen, "%s:%lu: one record per local_data entry",
				 l->source, line);
			l->rc = -EINVAL;
		} else if (!(l->rdata = malloc(s->r_data_length + 1))) {
			l->rc = -ENOMEM;
		} else {
			memcpy(l->owner, s->r_owner, s->r_owner_length);
			l->type = s->r_type;
			l->ttl = s->r_ttl;
			memcpy(l->rdata, s->r_data, s->r_data_length);
			l->rdlen = s->r_data_length;
		}
	} else {
		l->rc = cn__zone_add(l->z, s->r_owner, s->r_type, s->r_ttl, s->r_data,
				     s->r_data_length, file_of(s, l), line, l->err, l->errlen);
	}
	if (l->rc)
		s->state = ZS_STATE_STOP;
}

/* Scan text (path NULL) or the file at path with origin into l. */
static int scan(load_t *l, const char *origin, const char *path, const char *text)
{
	zs_scanner_t *s = malloc(sizeof(*s)); /* about 200 KiB: not on the stack */
	if (!s)
		return -ENOMEM;
	if (zs_init(s, origin, CN_CLASS_IN, DEFAULT_TTL) != 0) {
		snprintf(l->err, l->errlen, "%s: bad zone name %s", l->source, origin);
		free(s);
		return -EINVAL;
	}
	int rc = path ? zs_set_input_file(s, path) : zs_set_input_string(s, text, strlen(text));
	if (rc != 0) {
		snprintf(l->err, l->errlen, "%s: cannot read: %s", l->source,
			 zs_strerror(s->error.code));
		zs_deinit(s);
		free(s);
		return -EINVAL;
	}
	zs_set_processing(s, on_record, on_error, l);
	if (zs_parse_all(s) != 0 && l->rc == 0) {
		snprintf(l->err, l->errlen, "%s:%llu: %s", file_of(s, l),
			 (unsigned long long)s->line_counter, zs_strerror(s->error.code));
		l->rc = -EINVAL;
	}
	zs_deinit(s);
	free(s);
	return l->rc;
}

static int load_zone(cn_zoneset_t *zs, const char *name, const char *source, const char *path,
		     const char *text, const cn_zone_prefix_t *vis, size_t nvis,
		     cn__zone_origin_t origin, char *err, size_t errlen)
{
	uint8_t wire[CN_DNAME_MAX];
	if (cn_dname_from_str(name, wire, NULL) != 0) {
		snprintf(err, errlen, "%s: bad zone name \"%s\"", source, name);
		return -EINVAL;
	}
	char origin_str[CN_DNAME_STR_MAX];
	if (cn_dname_to_str(wire, origin_str, sizeof(origin_str)) < 0)
		return -EINVAL;
	if (cn__zoneset_has(zs, wire, nvis > 0)) {
		snprintf(err, errlen, "%s: %s zone %s is defined twice", source,
			 nvis ? "private" : "public", origin_str);
		return -EEXIST;
	}
	cn_zone_t *z;
	int rc = cn__zone_new(wire, source, vis, nvis, origin, &z);
	if (rc)
		return rc;
	load_t l = { .z = z, .source = source, .err = err, .errlen = errlen };
	rc = scan(&l, origin_str, path, text);
	if (rc == 0)
		rc = cn__zone_finish(z, err, errlen);
	if (rc == 0)
		rc = cn__zoneset_insert(zs, z, err, errlen);
	if (rc)
		cn__zone_free(z);
	return rc;
}

int cn_zoneset_load_file(cn_zoneset_t *zs, const char *name, const char *path,
			 const cn_zone_prefix_t *vis, size_t nvis, char *err, size_t errlen)
{
	return load_zone(zs, name, path, path, NULL, vis, nvis, CN__ZONE_FILE, err, errlen);
}

int cn_zoneset_load_text(cn_zoneset_t *zs, const char *name, const char *source,
			 const char *text, const cn_zone_prefix_t *vis, size_t nvis, char *err,
			 size_t errlen)
{
	return load_zone(zs, name, source, NULL, text, vis, nvis, CN__ZONE_FILE, err, errlen);
}

int cn_zoneset_add_local_data(cn_zoneset_t *zs, const char *rr, const char *source,
			      unsigned line, char *err, size_t errlen)
{
	char where[256];
	snprintf(where, sizeof(where), "%s:%u", source, line);
	size_t len = strlen(rr);
	char *text = malloc(len + 2);
	if (!text)
		return -ENOMEM;
	memcpy(text, rr, len);
	memcpy(text + len, "\n", 2);
	load_t l = { .source = where, .err = err, .errlen = errlen, .single = true };
	int rc = scan(&l, ".", NULL, text);
	free(text);
	/* messages read "SOURCE:LINE: reason": the scanner's line 1 is the config's line */
	if (rc == 0 && l.nrec == 0) {
		snprintf(err, errlen, "%s: local_data: no record in \"%s\"", where, rr);
		rc = -EINVAL;
	}
	if (rc) {
		const char *one = strstr(err, ":1: ");
		if (rc == -EINVAL && strncmp(err, where, strlen(where)) == 0 && one &&
		    one == err + strlen(where)) {
			char why[400];
			snprintf(why, sizeof(why), "%s", one + 4);
			snprintf(err, errlen, "%s: local_data: %s", where, why);
		}
		free(l.rdata);
		return rc;
	}
	cn_zone_t *z = cn__zoneset_get(zs, l.owner);
	bool fresh = z == NULL;
	if (z && cn__zone_origin(z) != CN__ZONE_LOCAL_DATA) {
		char a[CN_DNAME_STR_MAX];
		cn_dname_to_str(l.owner, a, sizeof(a));
		snprintf(err, errlen, "%s: local_data: %s is already a hosted zone", where, a);
		free(l.rdata);
		return -EEXIST;
	}
	if (fresh && (rc = cn__zone_new(l.owner, "local_data", NULL, 0, CN__ZONE_LOCAL_DATA,
					&z))) {
		free(l.rdata);
		return rc;
	}
	if (fresh)
		cn__zone_local_soa(z, l.ttl);
	rc = cn__zone_add(z, l.owner, l.type, l.ttl, l.rdata, l.rdlen, source, line, err,
			  errlen);
	free(l.rdata);
	if (rc == 0)
		rc = cn__zone_finish(z, err, errlen);
	if (rc == 0 && fresh)
		rc = cn__zoneset_insert(zs, z, err, errlen);
	if (rc && fresh)
		cn__zone_free(z);
	return rc;
}

/* ------------------------------------------------------------------ built-in zones --- */

/* RFC 6761 6.3-6.4 and RFC 6303 4 (the reverse zones of private-use and special ranges),
 * answered here instead of asking the root servers, as Unbound does by default. */
const char *const cn_zone_builtin_names[] = {
	"localhost.",
	"invalid.",
	"10.in-addr.arpa.",
	"16.172.in-addr.arpa.", "17.172.in-addr.arpa.", "18.172.in-addr.arpa.",
	"19.172.in-addr.arpa.", "20.172.in-addr.arpa.", "21.172.in-addr.arpa.",
	"22.172.in-addr.arpa.", "23.172.in-addr.arpa.", "24.172.in-addr.arpa.",
	"25.172.in-addr.arpa.", "26.172.in-addr.arpa.", "27.172.in-addr.arpa.",
	"28.172.in-addr.arpa.", "29.172.in-addr.arpa.", "30.172.in-addr.arpa.",
	"31.172.in-addr.arpa.",
	"168.192.in-addr.arpa.",
	"0.in-addr.arpa.",
	"127.in-addr.arpa.",
	"254.169.in-addr.arpa.",
	"2.0.192.in-addr.arpa.",
	"100.51.198.in-addr.arpa.",
	"113.0.203.in-addr.arpa.",
	"255.255.255.255.in-addr.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"d.f.ip6.arpa.",
	"8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.",
	"8.b.d.0.1.0.0.2.ip6.arpa.",
	NULL,
};

static const char builtin_apex[] = "@ 10800 IN SOA localhost. nobody.invalid. 1 3600 1200 "
				   "604800 10800\n@ 10800 IN NS localhost.\n";

/* Extra records of some built-in zones (RFC 6761 6.3: localhost and names below it are
 * the loopback addresses; the loopback addresses' reverse names are localhost). */
static const char *builtin_extra(const char *name)
{
	if (strcmp(name, "localhost.") == 0)
		return "@ 10800 IN A 127.0.0.1\n@ 10800 IN AAAA ::1\n"
		       "* 10800 IN A 127.0.0.1\n* 10800 IN AAAA ::1\n";
	if (strcmp(name, "127.in-addr.arpa.") == 0)
		return "1.0.0 10800 IN PTR localhost.\n";
	if (strncmp(name, "1.0.0.0.", 8) == 0)
		return "@ 10800 IN PTR localhost.\n";
	return "";
}

int cn_zoneset_add_builtin(cn_zoneset_t *zs, const char *const *off, size_t noff, char *err,
			   size_t errlen)
{
	for (size_t k = 0; k < noff; k++) {
		uint8_t a[CN_DNAME_MAX], b[CN_DNAME_MAX];
		bool known = false;
		if (cn_dname_from_str(off[k], a, NULL) == 0)
			for (size_t i = 0; cn_zone_builtin_names[i] && !known; i++)
				known = cn_dname_from_str(cn_zone_builtin_names[i], b, NULL) == 0 &&
					cn_dname_eq(a, b);
		if (!known) {
			snprintf(err, errlen, "%s is not a built-in local zone", off[k]);
			return -EINVAL;
		}
	}
	for (size_t i = 0; cn_zone_builtin_names[i]; i++) {
		const char *name = cn_zone_builtin_names[i];
		uint8_t wire[CN_DNAME_MAX];
		if (cn_dname_from_str(name, wire, NULL) != 0)
			return -EINVAL;
		bool skip = cn__zoneset_has(zs, wire, false);
		for (size_t k = 0; k < noff && !skip; k++) {
			uint8_t o[CN_DNAME_MAX];
			skip = cn_dname_from_str(off[k], o, NULL) == 0 && cn_dname_eq(o, wire);
		}
		if (skip)
			continue;
		const char *extra = builtin_extra(name);
		size_t len = sizeof(builtin_apex) + strlen(extra);
		char *text = malloc(len);
		if (!text)
			return -ENOMEM;
		snprintf(text, len, "%s%s", builtin_apex, extra);
		int rc = load_zone(zs, name, "built-in", NULL, text, NULL, 0, CN__ZONE_BUILTIN,
				   err, errlen);
		free(text);
		if (rc)
			return rc;
	}
	return 0;
}
