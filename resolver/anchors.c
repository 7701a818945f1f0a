/*
 * Trust anchors: the built-in root anchors (IANA root-anchors.xml, as DS records) and the
 * parsing of DS and DNSKEY records in presentation format for `trust_anchors:` and
 * `trust_anchor_file:` (the text through libzscanner, as hosted zones are read), and the
 * lookup of the anchors that start a chain of trust for a name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libzscanner/scanner.h>

#include "resolver/dnssec.h"
#include "resolver/errors.h"

const char *const cn_anchor_root_builtin[] = {
	/* KSK-2017 */
	". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
	/* KSK-2024, the successor of the 2024-2026 root KSK rollover */
	". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
	NULL,
};

typedef struct scan {
	cn_anchor_set_t add;   /* records read so far */
	const char *source;
	char *err;
	size_t errlen;
	int rc;
} scan_t;

static void fail(zs_scanner_t *s, scan_t *c, const char *why)
{
	if (c->rc == 0) {
		snprintf(c->err, c->errlen, "%s:%llu: %s", s->file.name ? s->file.name : c->source,
			 (unsigned long long)s->line_counter, why);
		c->rc = -EINVAL;
	}
	s->state = ZS_STATE_STOP;
}

static void on_error(zs_scanner_t *s)
{
	fail(s, s->process.data, zs_strerror(s->error.code));
}

/* Why a record cannot be a trust anchor, or NULL when it can. */
static const char *refuse(const zs_scanner_t *s)
{
	if (s->r_class != CN_CLASS_IN)
		return "a trust anchor must be of class IN";
	if (s->r_type == CN_TYPE_DS) {
		cn_ds_t ds;
		return cn_dnssec_parse_ds(s->r_data, s->r_data_length, &ds) ? "bad DS record"
									     : NULL;
	}
	if (s->r_type != CN_TYPE_DNSKEY)
		return "a trust anchor must be a DS or DNSKEY record";
	cn_dnskey_t k;
	if (cn_dnssec_parse_dnskey(s->r_data, s->r_data_length, &k))
		return "bad DNSKEY record";
	if (k.protocol != 3 || !(k.flags & CN_DNSKEY_FLAG_ZONE))
		return "a DNSKEY trust anchor needs protocol 3 and the zone key flag";
	return NULL;
}

static void on_record(zs_scanner_t *s)
{
	scan_t *c = s->process.data;
	const char *why = refuse(s);
	if (why) {
		fail(s, c, why);
		return;
	}
	cn_anchor_t *v = realloc(c->add.v, (c->add.n + 1) * sizeof(*v));
	uint8_t *rd = malloc(s->r_data_length ? s->r_data_length : 1);
	if (v)
		c->add.v = v;
	if (!v || !rd) {
		free(rd);
		c->rc = -ENOMEM;
		s->state = ZS_STATE_STOP;
		return;
	}
	cn_anchor_t *a = &c->add.v[c->add.n++];
	memcpy(a->owner, s->r_owner, s->r_owner_length);
	a->type = s->r_type;
	a->rdlen = (uint16_t)s->r_data_length;
	a->rdata = rd;
	memcpy(rd, s->r_data, s->r_data_length);
}

static int scan_into(scan_t *c, const char *text, const char *path)
{
	zs_scanner_t *s = malloc(sizeof(*s)); /* about 200 KiB: not on the stack */
	if (!s)
		return -ENOMEM;
	if (zs_init(s, ".", CN_CLASS_IN, 3600) != 0) {
		free(s);
		return -ENOMEM;
	}
	int rc = path ? zs_set_input_file(s, path) : zs_set_input_string(s, text, strlen(text));
	if (rc != 0) {
		snprintf(c->err, c->errlen, "%s: cannot read: %s", c->source,
			 zs_strerror(s->error.code));
		c->rc = -EINVAL;
	} else {
		zs_set_processing(s, on_record, on_error, c);
		if (zs_parse_all(s) != 0 && c->rc == 0)
			fail(s, c, zs_strerror(s->error.code));
	}
	zs_deinit(s);
	free(s);
	return c->rc;
}

int cn_anchor_set_add(cn_anchor_set_t *set, const char *text, const char *path,
		      const char *source, char *err, size_t errlen)
{
	scan_t c = {.source = source ? source : "trust_anchors", .err = err, .errlen = errlen};
	if (err && errlen)
		err[0] = 0;
	int rc = scan_into(&c, text, path);
	cn_anchor_t *v = NULL;
	if (rc == 0 && c.add.n) {
		v = realloc(set->v, (set->n + c.add.n) * sizeof(*v));
		rc = v ? 0 : -ENOMEM;
	}
	if (rc) {
		cn_anchor_set_free(&c.add);
		return rc;
	}
	if (c.add.n) {
		memcpy(v + set->n, c.add.v, c.add.n * sizeof(*v));
		set->v = v;
		set->n += c.add.n;
	}
	free(c.add.v);
	return 0;
}

int cn_anchor_set_builtin(cn_anchor_set_t *set)
{
	char err[256];
	for (size_t i = 0; cn_anchor_root_builtin[i]; i++) {
		int rc = cn_anchor_set_add(set, cn_anchor_root_builtin[i], NULL, "built-in", err,
					   sizeof(err));
		if (rc)
			return rc;
	}
	return 0;
}

void cn_anchor_set_free(cn_anchor_set_t *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i].rdata);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

size_t cn_anchor_set_find(const cn_anchor_set_t *set, const uint8_t *name, cn_rr_t *out,
			  size_t cap, const uint8_t **zone_out)
{
	const uint8_t *best = NULL;
	int best_labels = -1;
	for (size_t i = 0; i < set->n; i++) {
		int l = cn_dname_labels(set->v[i].owner);
		if (l > best_labels && cn_dname_is_sub(name, set->v[i].owner)) {
			best = set->v[i].owner;
			best_labels = l;
		}
	}
	if (!best)
		return 0;
	size_t k = 0;
	for (size_t i = 0; i < set->n && k < cap; i++) {
		const cn_anchor_t *a = &set->v[i];
		if (!cn_dname_eq(a->owner, best))
			continue;
		out[k] = (cn_rr_t){.owner = a->owner, .rdata = a->rdata, .ttl = 0, .type = a->type,
				   .rclass = CN_CLASS_IN, .rdlen = a->rdlen};
		k++;
	}
	*zone_out = best;
	return k;
}
