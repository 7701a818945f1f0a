/*
 * Keys whose entries are structures or lists of their own: hosted zones (`zones:`,
 * `local_data:`, `local_zones_builtin:`, --zone, --no-local-zone) and forward and stub zones
 * (`forward:`, `stub:`, --forward, --stub). Checked here as far as the file alone allows
 * (names, subnets, servers); zone files are read by net/zones.c.
 */
#include "net/config_internal.h"

#include "resolver/dname.h"

/* ------------------------------------------------------------------ hosted zones ------ */

static void zone_cfg_free(cn_zone_cfg_t *z)
{
	free(z->name);
	free(z->file);
	free(z->visible_to);
	free(z->where);
}

void cn__config_zones_deinit(cn_config_t *cfg)
{
	for (size_t i = 0; i < cfg->nzones; i++)
		zone_cfg_free(&cfg->zones[i]);
	free(cfg->zones);
	cfg->zones = NULL;
	cfg->nzones = 0;
	for (size_t i = 0; i < cfg->nlocal_data; i++) {
		free(cfg->local_data[i].rr);
		free(cfg->local_data[i].source);
	}
	free(cfg->local_data);
	cfg->local_data = NULL;
	cfg->nlocal_data = 0;
	for (size_t i = 0; i < cfg->nlocal_zones_off; i++)
		free(cfg->local_zones_off[i]);
	free(cfg->local_zones_off);
	cfg->local_zones_off = NULL;
	cfg->nlocal_zones_off = 0;
	for (size_t i = 0; i < cfg->nfwd; i++) {
		free(cfg->fwd[i].name);
		free(cfg->fwd[i].where);
	}
	free(cfg->fwd);
	cfg->fwd = NULL;
	cfg->nfwd = 0;
}

/* A zone file path relative to the config file's folder (absolute paths stay). */
char *cn__config_path_near(const char *config, const char *file)
{
	const char *slash = strrchr(config, '/');
	if (file[0] == '/' || !slash)
		return strdup(file);
	size_t dl = (size_t)(slash - config) + 1, fl = strlen(file);
	char *p = malloc(dl + fl + 1);
	if (p) {
		memcpy(p, config, dl);
		memcpy(p + dl, file, fl + 1);
	}
	return p;
}


static int set_zone_entry(ctx_t *c, const yaml_node_t *item, cn_zone_cfg_t *z)
{
	if (item->type != YAML_MAPPING_NODE)
		return fail(c, item, "zones: each entry is a mapping with name, file, visible_to");
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		if (!kn || kn->type != YAML_SCALAR_NODE ||
		    (strcmp(scalar(kn), "name") && strcmp(scalar(kn), "file") &&
		     strcmp(scalar(kn), "visible_to")))
			return fail(c, kn ? kn : item, "zones: unknown key \"%s\" (name, file, "
				    "visible_to)", kn && kn->type == YAML_SCALAR_NODE ?
				    scalar(kn) : "?");
	}
	const yaml_node_t *name = map_get(c, item, "name"), *file = map_get(c, item, "file");
	const yaml_node_t *vis = map_get(c, item, "visible_to");
	if (!name || name->type != YAML_SCALAR_NODE || !scalar(name)[0])
		return fail(c, item, "zones: an entry needs a name");
	if (!file || file->type != YAML_SCALAR_NODE || !scalar(file)[0])
		return fail(c, item, "zones: %s needs a file", scalar(name));
	char where[300];
	snprintf(where, sizeof(where), "%s:%lu", c->name, (unsigned long)item->start_mark.line + 1);
	if (!(z->name = strdup(scalar(name))) || !(z->file = cn__config_path_near(c->name, scalar(file))) ||
	    !(z->where = strdup(where)))
		return fail(c, item, "out of memory");
	if (!vis || is_null(vis))
		return 0;
	if (vis->type == YAML_MAPPING_NODE)
		return fail(c, vis, "zones: visible_to is a list of subnets");
	const yaml_node_t *one[1] = { vis };
	yaml_node_item_t *it = vis->type == YAML_SEQUENCE_NODE ? vis->data.sequence.items.start
							      : NULL;
	size_t n = vis->type == YAML_SEQUENCE_NODE
			   ? (size_t)(vis->data.sequence.items.top - it) : 1;
	if (n == 0)
		return fail(c, vis, "zones: visible_to is empty: no client would see %s",
			    scalar(name));
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *s = it ? yaml_document_get_node(c->doc, it[i]) : one[0];
		cn_cidr_t cidr;
		if (!s || s->type != YAML_SCALAR_NODE || cn_cidr_parse(scalar(s), &cidr) != 0)
			return fail(c, s ? s : vis, "zones: visible_to: bad subnet \"%s\"",
				    s && s->type == YAML_SCALAR_NODE ? scalar(s) : "?");
		if (append((void **)&z->visible_to, &z->nvisible, sizeof(cidr), &cidr))
			return fail(c, s, "out of memory");
	}
	return 0;
}

int cn__config_set_zones(ctx_t *c, const yaml_node_t *v)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "zones: expected a list");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		cn_zone_cfg_t z = { 0 };
		int rc = item ? set_zone_entry(c, item, &z) : fail(c, v, "broken document");
		if (rc == 0 && append((void **)&c->cfg->zones, &c->cfg->nzones, sizeof(z), &z))
			rc = fail(c, item, "out of memory");
		if (rc) {
			zone_cfg_free(&z);
			return rc;
		}
	}
	return 0;
}

int cn__config_set_local_data(ctx_t *c, const yaml_node_t *v)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "local_data: expected a list of records");
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		if (!item || item->type != YAML_SCALAR_NODE || !scalar(item)[0])
			return fail(c, item ? item : v, "local_data: each item is one record, "
				    "like \"printer.lan. 300 IN A 192.168.1.9\"");
		cn_local_data_cfg_t d = { .rr = strdup(scalar(item)), .source = strdup(c->name),
					  .line = (unsigned)item->start_mark.line + 1 };
		if (!d.rr || !d.source ||
		    append((void **)&c->cfg->local_data, &c->cfg->nlocal_data, sizeof(d), &d)) {
			free(d.rr);
			free(d.source);
			return fail(c, item, "out of memory");
		}
	}
	return 0;
}

int cn__config_set_lz_builtin(ctx_t *c, const yaml_node_t *v)
{
	bool b;
	if (v->type == YAML_SCALAR_NODE) {
		if (parse_bool(scalar(v), &b))
			return fail(c, v, "local_zones_builtin: expected true, false or a mapping "
				    "of zone: false");
		c->cfg->local_zones_builtin = b;
		return 0;
	}
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, v, "local_zones_builtin: expected true, false or a mapping of "
			    "zone: false");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
		if (!kn || !vn || kn->type != YAML_SCALAR_NODE || vn->type != YAML_SCALAR_NODE ||
		    parse_bool(scalar(vn), &b))
			return fail(c, kn ? kn : v, "local_zones_builtin: each entry is zone: "
				    "true/false");
		if (b)
			continue;
		if (cn_config_add_local_zone_off(c->cfg, scalar(kn)))
			return fail(c, kn, "out of memory");
	}
	return 0;
}

int cn_config_add_local_zone_off(cn_config_t *cfg, const char *name)
{
	char *copy = strdup(name);
	if (!copy || append((void **)&cfg->local_zones_off, &cfg->nlocal_zones_off, sizeof(copy),
			    &copy)) {
		free(copy);
		return -ENOMEM;
	}
	return 0;
}

int cn_config_add_zone_arg(cn_config_t *cfg, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1])
		return -EINVAL;
	cn_zone_cfg_t z = { .name = strndup(arg, (size_t)(eq - arg)), .file = strdup(eq + 1),
			    .where = strdup("--zone") };
	if (!z.name || !z.file || !z.where ||
	    append((void **)&cfg->zones, &cfg->nzones, sizeof(z), &z)) {
		zone_cfg_free(&z);
		return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------------ forward, stub ----- */

static const char *fwd_key(bool stub)
{
	return stub ? "stub" : "forward";
}

/* A forward or stub zone's name and one server: checked here, so start-up fails early. */
static int fwd_name_ok(const char *name)
{
	uint8_t wire[CN_DNAME_MAX];
	return cn_dname_from_str(name, wire, NULL) == 0 ? 0 : -EINVAL;
}

/* Append z (owned by cfg from now on, or freed) unless its name is there already. */
static int fwd_add(cn_config_t *cfg, cn_fwd_cfg_t *z, char *err, size_t errlen)
{
	uint8_t a[CN_DNAME_MAX], b[CN_DNAME_MAX];
	cn_dname_from_str(z->name, a, NULL);
	for (size_t i = 0; i < cfg->nfwd; i++) {
		cn_dname_from_str(cfg->fwd[i].name, b, NULL);
		if (cn_dname_eq(a, b)) {
			snprintf(err, errlen, "%s: %s is a forward or stub zone already (%s)",
				 z->where, z->name, cfg->fwd[i].where);
			goto fail;
		}
	}
	if (append((void **)&cfg->fwd, &cfg->nfwd, sizeof(*z), z) == 0)
		return 0;
	snprintf(err, errlen, "out of memory");
fail:
	free(z->name);
	free(z->where);
	return -EINVAL;
}

static int fwd_server(cn_fwd_cfg_t *z, const char *s)
{
	if (z->nservers >= CN_CONFIG_FWD_SERVERS ||
	    cn_config_parse_listen(s, CN_DNS_PORT, &z->servers[z->nservers]) != 0)
		return -EINVAL;
	z->nservers++;
	return 0;
}

static int set_fwd_entry(ctx_t *c, const yaml_node_t *item, bool stub, cn_fwd_cfg_t *z)
{
	const char *key = fwd_key(stub);
	if (item->type != YAML_MAPPING_NODE)
		return fail(c, item, "%s: each entry is a mapping with name and servers", key);
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		if (!kn || kn->type != YAML_SCALAR_NODE ||
		    (strcmp(scalar(kn), "name") && strcmp(scalar(kn), "servers")))
			return fail(c, kn ? kn : item, "%s: unknown key \"%s\" (name, servers)", key,
				    kn && kn->type == YAML_SCALAR_NODE ? scalar(kn) : "?");
	}
	const yaml_node_t *name = map_get(c, item, "name"), *sv = map_get(c, item, "servers");
	if (!name || name->type != YAML_SCALAR_NODE || fwd_name_ok(scalar(name)) != 0)
		return fail(c, item, "%s: an entry needs a name (a domain name)", key);
	if (!sv || sv->type != YAML_SEQUENCE_NODE ||
	    sv->data.sequence.items.top == sv->data.sequence.items.start)
		return fail(c, item, "%s: %s needs a list of servers", key, scalar(name));
	for (yaml_node_item_t *it = sv->data.sequence.items.start;
	     it < sv->data.sequence.items.top; it++) {
		yaml_node_t *s = yaml_document_get_node(c->doc, *it);
		if (!s || s->type != YAML_SCALAR_NODE || fwd_server(z, scalar(s)) != 0)
			return fail(c, s ? s : sv, "%s: %s: bad server \"%s\" (ADDR or ADDR@PORT, "
				    "at most %d)", key, scalar(name),
				    s && s->type == YAML_SCALAR_NODE ? scalar(s) : "?",
				    CN_CONFIG_FWD_SERVERS);
	}
	char where[300];
	snprintf(where, sizeof(where), "%s:%lu", c->name, (unsigned long)item->start_mark.line + 1);
	z->stub = stub;
	if (!(z->name = strdup(scalar(name))) || !(z->where = strdup(where)))
		return fail(c, item, "out of memory");
	return 0;
}

int cn__config_set_fwd(ctx_t *c, const yaml_node_t *v, bool stub)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, "%s: expected a list", fwd_key(stub));
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		cn_fwd_cfg_t z;
		memset(&z, 0, sizeof(z));
		int rc = item ? set_fwd_entry(c, item, stub, &z) : fail(c, v, "broken document");
		if (rc) {
			free(z.name);
			free(z.where);
			return rc;
		}
		char why[512];
		if (fwd_add(c->cfg, &z, why, sizeof(why)) != 0)
			return fail(c, item, "%s", why);
	}
	return 0;
}

int cn_config_add_fwd_arg(cn_config_t *cfg, const char *arg, bool stub, char *err,
			  size_t errlen)
{
	const char *eq = strchr(arg, '=');
	cn_fwd_cfg_t z;
	memset(&z, 0, sizeof(z));
	z.stub = stub;
	if (!eq || eq == arg || !eq[1] || !(z.name = strndup(arg, (size_t)(eq - arg))) ||
	    fwd_name_ok(z.name) != 0) {
		free(z.name);
		snprintf(err, errlen, "expected NAME=ADDR[@PORT][,ADDR...]");
		return -EINVAL;
	}
	char *list = strdup(eq + 1), *save = NULL;
	for (char *s = list ? strtok_r(list, ",", &save) : NULL; s; s = strtok_r(NULL, ",", &save))
		if (fwd_server(&z, s) != 0) {
			snprintf(err, errlen, "bad server \"%s\" (ADDR or ADDR@PORT, at most %d)", s,
				 CN_CONFIG_FWD_SERVERS);
			free(list);
			free(z.name);
			return -EINVAL;
		}
	free(list);
	if (z.nservers == 0 || !(z.where = strdup(stub ? "--stub" : "--forward"))) {
		snprintf(err, errlen, "expected NAME=ADDR[@PORT][,ADDR...]");
		free(z.name);
		return -EINVAL;
	}
	return fwd_add(cfg, &z, err, errlen);
}
