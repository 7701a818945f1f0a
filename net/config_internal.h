/*
 * What the config loader's files (net/config*.c) share and nothing else includes: the walk's
 * context, the small helpers every setter uses (static inline, so each file has them with no
 * link-time name), and the setters of the keys that have a file of their own.
 *
 *   config.c         defaults, cross-field checks, the entry points (file, string)
 *   config_keys.c    the key table and the walk: scalar keys, address and subnet lists, maps
 *   config_value.c   value parsers shared with the flags (sizes, addresses, subnets)
 *   config_zones.c   zones:, local_data:, local_zones_builtin:, forward:, stub:
 *   config_dnssec.c  trust_anchors:, trust_anchor_file:, negative_trust_anchors:, the
 *                    anchor set built from them
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "net/config.h"

/* Free a malloc'ed list and empty it (a macro: the lists have their own element types). */
#define LIST_FREE(list, n) (free(list), (list) = NULL, (n) = 0)

typedef struct ctx {
	const char *name;
	yaml_document_t *doc;
	cn_config_t *cfg;
	char *err;
	size_t errlen;
} ctx_t;

__attribute__((format(printf, 3, 4)))
static inline int fail(ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s:%lu: %s", c->name,
		 (unsigned long)node->start_mark.line + 1, why);
	return -EINVAL;
}

static inline const char *scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

static inline bool is_null(const yaml_node_t *node)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = scalar(node);
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0;
}

static inline int need_scalar(ctx_t *c, const yaml_node_t *v, const char *key)
{
	if (v->type != YAML_SCALAR_NODE)
		return fail(c, v, "%s: expected a single value, got a %s", key,
			    v->type == YAML_MAPPING_NODE ? "mapping" : "list");
	return 0;
}

static inline int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}


/* Grow-by-one append; counts stay small (a handful of addresses). */
static inline int append(void **arr, size_t *n, size_t size, const void *item)
{
	if (*n >= SIZE_MAX / size - 1)
		return -ENOMEM;
	void *p = realloc(*arr, (*n + 1) * size);
	if (!p)
		return -ENOMEM;
	memcpy((char *)p + *n * size, item, size);
	*arr = p;
	(*n)++;
	return 0;
}

static inline const yaml_node_t *map_get(ctx_t *c, const yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
		if (kn && kn->type == YAML_SCALAR_NODE && strcmp(scalar(kn), key) == 0)
			return yaml_document_get_node(c->doc, p->value);
	}
	return NULL;
}

/* The key table's walk from the top-level mapping (config_keys.c). */
int cn__config_walk_top(ctx_t *c, const yaml_node_t *root);
/* config_zones.c */
void cn__config_zones_deinit(cn_config_t *cfg);
int cn__config_set_zones(ctx_t *c, const yaml_node_t *v);
int cn__config_set_local_data(ctx_t *c, const yaml_node_t *v);
int cn__config_set_lz_builtin(ctx_t *c, const yaml_node_t *v);
int cn__config_set_fwd(ctx_t *c, const yaml_node_t *v, bool stub);
/* file relative to the folder of the config file named config (absolute paths stay); NULL:
 * out of memory */
char *cn__config_path_near(const char *config, const char *file);
/* config_dnssec.c; key: the key's full name, for messages */
void cn__config_dnssec_deinit(cn_config_t *cfg);
int cn__config_set_trust_anchors(ctx_t *c, const yaml_node_t *v, const char *key);
int cn__config_set_anchor_file(ctx_t *c, const yaml_node_t *v, const char *key);
int cn__config_set_nta(ctx_t *c, const yaml_node_t *v, const char *key);
