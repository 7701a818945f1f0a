/*
 * The `cairnctl stats` names are defined once, in the X-macro tables (resolver/stats.h,
 * cache/cache.h, net/stats.h), and net/control.c prints them in table order. This test
 * checks that docs/cairnctl.md lists exactly those names, in that order, once each: a
 * counter added to a table without a line in the docs (or a documented name nothing
 * prints) fails here.
 */
#include <check.h>

#include "tests/unit/unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "net/stats.h"
#include "resolver/stats.h"

#define MAX_NAMES 256

typedef struct names {
	const char *v[MAX_NAMES];
	size_t n;
} names_t;

static void add(names_t *l, const char *name)
{
	if (name == NULL)
		return; /* a counter that is only logged */
	ck_assert_uint_lt(l->n, MAX_NAMES);
	l->v[l->n++] = name;
}

/* The printed names, in the order net/control.c's cmd_stats prints them. */
static void printed(names_t *l)
{
	l->n = 0;
	add(l, "queries");
#define ADD(a, name) add(l, name);
	CN_OUTCOME_MAP(ADD)
	add(l, "cache.hit_rate");
	CN_ENGINE_STATS_MAP(ADD)
	CN_NSEL_STATS_MAP(ADD)
	CN_CACHE_STATS_MAP(ADD)
	CN_WORKER_STATS_MAP(ADD)
	CN_UPSTREAM_STATS_MAP(ADD)
	CN_DAEMON_STATS_MAP(ADD)
#undef ADD
}

/* The first `name` of each table row in the doc's `stats` section (static strings). */
static void documented(names_t *l)
{
	static char store[MAX_NAMES][64];
	FILE *f = fopen(CAIRN_SOURCE_DIR "/docs/cairnctl.md", "r");
	ck_assert_ptr_nonnull(f);
	char line[4096];
	int in = 0;
	l->n = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "### ", 4) == 0) {
			in = strncmp(line, "### `stats`", 11) == 0;
			continue;
		}
		if (!in || strncmp(line, "| `", 3) != 0)
			continue;
		char *end = strchr(line + 3, '`');
		ck_assert_ptr_nonnull(end);
		size_t len = (size_t)(end - (line + 3));
		ck_assert_uint_lt(len, sizeof store[0]);
		ck_assert_uint_lt(l->n, MAX_NAMES);
		memcpy(store[l->n], line + 3, len);
		store[l->n][len] = 0;
		l->v[l->n] = store[l->n];
		l->n++;
	}
	fclose(f);
}

START_TEST(test_doc_lists_exactly_the_printed_names)
{
	names_t p, d;
	printed(&p);
	documented(&d);
	ck_assert_uint_gt(p.n, 40);
	for (size_t i = 0; i < p.n && i < d.n; i++)
		ck_assert_msg(strcmp(p.v[i], d.v[i]) == 0, "line %zu: printed %s, documented %s",
			      i, p.v[i], d.v[i]);
	ck_assert_msg(p.n == d.n, "printed %zu names, documented %zu", p.n, d.n);
}
END_TEST

START_TEST(test_names_unique)
{
	names_t p;
	printed(&p);
	for (size_t i = 0; i < p.n; i++)
		for (size_t j = i + 1; j < p.n; j++)
			ck_assert_msg(strcmp(p.v[i], p.v[j]) != 0, "%s printed twice", p.v[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("names");
	tcase_add_test(tc, test_doc_lists_exactly_the_printed_names);
	tcase_add_test(tc, test_names_unique);
	suite_add_tcase(s, tc);
	return cn_test_run(s);
}
