/*
 * The DNSSEC keys with a structure of their own: `trust_anchors:` (DS or DNSKEY records in
 * presentation format, each checked as it is read, through the resolver's anchor parser,
 * libzscanner), `trust_anchor_file:` (a zone file of them, read at start by
 * cn_config_anchors()), `negative_trust_anchors:` (RFC 7646: names below which nothing is
 * validated), their flags, and the anchor set built from them. The scalar keys (`dnssec:`,
 * `dnssec_limits:`, `bogus_ttl`, `aggressive_nsec`) are plain rows of config_keys.c.
 */
#include "net/config_internal.h"

#include "resolver/dname.h"
#include "resolver/dnssec.h"

void cn__config_dnssec_deinit(cn_config_t *cfg)
{
	for (size_t i = 0; i < cfg->ntrust_anchors; i++) {
		free(cfg->trust_anchors[i].rr);
		free(cfg->trust_anchors[i].where);
	}
	LIST_FREE(cfg->trust_anchors, cfg->ntrust_anchors);
	free(cfg->trust_anchor_file);
	cfg->trust_anchor_file = NULL;
	LIST_FREE(cfg->nta, cfg->nnta);
}

/* ------------------------------------------------------------------ trust anchors ----- */

/* Whether rr holds at least one acceptable DS or DNSKEY record: 0, or -EINVAL / -ENOMEM
 * with the reason alone (no source or line: the caller names those) in why. */
static int anchor_check(const char *rr, char *why, size_t whylen)
{
	cn_anchor_set_t set = { 0 };
	char err[256];
	int rc = cn_anchor_set_add(&set, rr, NULL, "trust_anchors", err, sizeof(err));
	size_t n = set.n;
	cn_anchor_set_free(&set);
	if (rc == -ENOMEM || (rc && !err[0])) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	if (rc) {
		/* "trust_anchors:LINE: reason" -> "reason" */
		const char *r = strstr(err, ": ");
		snprintf(why, whylen, "%s", r ? r + 2 : err);
		return -EINVAL;
	}
	if (n == 0) {
		snprintf(why, whylen, "no DS or DNSKEY record in it");
		return -EINVAL;
	}
	return 0;
}

int cn_config_add_trust_anchor(cn_config_t *cfg, const char *rr, const char *where, char *err,
			       size_t errlen)
{
	int rc = anchor_check(rr, err, errlen);
	if (rc)
		return rc;
	cn_anchor_cfg_t a = { .rr = strdup(rr), .where = strdup(where) };
	if (!a.rr || !a.where ||
	    append((void **)&cfg->trust_anchors, &cfg->ntrust_anchors, sizeof(a), &a)) {
		free(a.rr);
		free(a.where);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* The items of a list key (or its one scalar) through each(); a list replaces what an
 * earlier file or the defaults put there, which the caller has dropped already. */
static int each_item(ctx_t *c, const yaml_node_t *v, const char *key,
		     int (*each)(ctx_t *c, const yaml_node_t *item, const char *key))
{
	if (is_null(v))
		return 0;
	if (v->type == YAML_MAPPING_NODE)
		return fail(c, v, "%s: expected a list, got a mapping", key);
	if (v->type == YAML_SCALAR_NODE)
		return each(c, v, key);
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		if (!item)
			return fail(c, v, "broken document");
		int rc = each(c, item, key);
		if (rc)
			return rc;
	}
	return 0;
}

static int anchor_item(ctx_t *c, const yaml_node_t *item, const char *key)
{
	if (item->type != YAML_SCALAR_NODE || !scalar(item)[0])
		return fail(c, item, "%s: each item is one DS or DNSKEY record, like \". IN DS "
			    "20326 8 2 E06D...\"", key);
	char where[300], why[256];
	snprintf(where, sizeof(where), "%s:%lu", c->name, (unsigned long)item->start_mark.line + 1);
	int rc = cn_config_add_trust_anchor(c->cfg, scalar(item), where, why, sizeof(why));
	if (rc == -ENOMEM)
		return fail(c, item, "out of memory");
	return rc ? fail(c, item, "%s: %s: \"%.80s\"", key, why, scalar(item)) : 0;
}

int cn__config_set_trust_anchors(ctx_t *c, const yaml_node_t *v, const char *key)
{
	cn_config_t *cfg = c->cfg;
	for (size_t i = 0; i < cfg->ntrust_anchors; i++) {
		free(cfg->trust_anchors[i].rr);
		free(cfg->trust_anchors[i].where);
	}
	LIST_FREE(cfg->trust_anchors, cfg->ntrust_anchors);
	return each_item(c, v, key, anchor_item);
}

int cn__config_set_anchor_file(ctx_t *c, const yaml_node_t *v, const char *key)
{
	int rc = need_scalar(c, v, key);
	if (rc)
		return rc;
	char *path = NULL;
	if (!is_null(v)) {
		if (!scalar(v)[0])
			return fail(c, v, "%s: empty path", key);
		if (!(path = cn__config_path_near(c->name, scalar(v))))
			return fail(c, v, "out of memory");
	}
	free(c->cfg->trust_anchor_file);
	c->cfg->trust_anchor_file = path;
	return 0;
}

bool cn_config_has_anchors(const cn_config_t *cfg)
{
	return cfg->ntrust_anchors > 0 || cfg->trust_anchor_file != NULL;
}

static int anchors_fail(cn_anchor_set_t *set, int rc, char *err, size_t errlen)
{
	if (rc == -ENOMEM || !err[0])
		snprintf(err, errlen, "trust anchors: out of memory");
	cn_anchor_set_free(set);
	return rc == -ENOMEM ? -ENOMEM : -EINVAL;
}

int cn_config_anchors(const cn_config_t *cfg, cn_anchor_set_t *set, char *err, size_t errlen)
{
	err[0] = '\0';
	if (!cn_config_has_anchors(cfg)) {
		int rc = cn_anchor_set_builtin(set);
		return rc ? anchors_fail(set, rc, err, errlen) : 0;
	}
	char why[256];
	for (size_t i = 0; i < cfg->ntrust_anchors; i++) {
		const cn_anchor_cfg_t *a = &cfg->trust_anchors[i];
		int rc = cn_anchor_set_add(set, a->rr, NULL, a->where, why, sizeof(why));
		if (rc) { /* checked when read: only memory, or a file changed under us */
			if (why[0])
				snprintf(err, errlen, "%s: trust_anchors: %s", a->where, why);
			return anchors_fail(set, rc, err, errlen);
		}
	}
	const char *file = cfg->trust_anchor_file;
	size_t before = set->n;
	if (file) {
		int rc = cn_anchor_set_add(set, NULL, file, file, err, errlen);
		if (rc)
			return anchors_fail(set, rc, err, errlen);
		if (set->n == before) {
			snprintf(err, errlen, "%s: trust_anchor_file: no DS or DNSKEY record in it",
				 file);
			return anchors_fail(set, -EINVAL, err, errlen);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ negative anchors -- */

int cn_config_add_nta(cn_config_t *cfg, const char *name)
{
	uint8_t wire[CN_DNAME_MAX] = { 0 }; /* zero past the name: lists compare bytewise */
	if (!name[0] || cn_dname_from_str(name, wire, NULL) != 0)
		return -EINVAL;
	cn_dname_lower(wire);
	for (size_t i = 0; i < cfg->nnta; i++)
		if (cn_dname_eq(cfg->nta[i], wire))
			return 0;
	if (cfg->nnta >= CN_NTA_MAX)
		return -ENOSPC;
	return append((void **)&cfg->nta, &cfg->nnta, sizeof(wire), wire);
}

static int nta_item(ctx_t *c, const yaml_node_t *item, const char *key)
{
	if (item->type != YAML_SCALAR_NODE)
		return fail(c, item, "%s: each item is one domain name", key);
	int rc = cn_config_add_nta(c->cfg, scalar(item));
	if (rc == -ENOSPC)
		return fail(c, item, "%s: more than %d names", key, CN_NTA_MAX);
	if (rc == -ENOMEM)
		return fail(c, item, "out of memory");
	return rc ? fail(c, item, "%s: bad domain name \"%s\"", key, scalar(item)) : 0;
}

int cn__config_set_nta(ctx_t *c, const yaml_node_t *v, const char *key)
{
	LIST_FREE(c->cfg->nta, c->cfg->nnta);
	return each_item(c, v, key, nta_item);
}
