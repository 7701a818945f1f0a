/*
 * Unit tests for the DNSSEC keys of the configuration (net/config_dnssec.c and their rows in
 * net/config_keys.c): dnssec:, trust_anchors:, trust_anchor_file:, negative_trust_anchors:,
 * dnssec_limits:, bogus_ttl, aggressive_nsec; their defaults, good values, bad values with
 * the message each gives, the flags' entry points and the anchor set built from them.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/config.h"
#include "resolver/dname.h"
#include "resolver/dnssec.h"
#include "tests/unit/unit.h"

static cn_config_t cfg;
static char err[512];

#define ROOT_DS ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
/* 64 bytes 0..63, base64: a DNSKEY public key field (its content is not checked here) */
#define KEY64                                                                                \
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
#define TEST_DNSKEY "test. 3600 IN DNSKEY 257 3 13 " KEY64

static void setup(void)
{
	ck_assert_int_eq(cn_config_init(&cfg, NULL), 0);
	err[0] = '\0';
}

static void teardown(void)
{
	cn_config_deinit(&cfg);
}

static int load_as(const char *name, const char *text)
{
	return cn_config_load_string(&cfg, name, text, strlen(text), err, sizeof(err));
}

static int load(const char *text)
{
	return load_as("t.yaml", text);
}

static void wire(const char *name, uint8_t *out)
{
	ck_assert_int_eq(cn_dname_from_str(name, out, NULL), 0);
}

/* ------------------------------------------------------------------ defaults ---------- */

START_TEST(test_defaults)
{
	const cn_dnssec_conf_t *d = &cfg.engine.dnssec;
	ck_assert(d->enabled);
	ck_assert_uint_eq(d->sigs_per_rrset, 8);
	ck_assert_uint_eq(d->sigs_per_request, 64);
	ck_assert_uint_eq(d->nsec3_hashes, 64);
	ck_assert_uint_eq(d->nsec3_iter_insecure, 100);
	ck_assert_uint_eq(d->nsec3_iter_bogus, 500);
	ck_assert_uint_eq(d->bogus_ttl_s, 60);
	ck_assert(d->aggressive_nsec);
	ck_assert_ptr_null(d->anchors);
	ck_assert_ptr_null(d->nta);
	ck_assert_uint_eq(cfg.ntrust_anchors, 0);
	ck_assert_ptr_null(cfg.trust_anchor_file);
	ck_assert_uint_eq(cfg.nnta, 0);
	ck_assert(!cn_config_has_anchors(&cfg));
	/* an empty file changes none of it */
	ck_assert_int_eq(load(""), 0);
	ck_assert(cfg.engine.dnssec.enabled);
	ck_assert(!cn_config_has_anchors(&cfg));
}
END_TEST

/* No anchors configured: the set is the two built-in root DS records. */
START_TEST(test_builtin_set)
{
	cn_anchor_set_t set = { 0 };
	ck_assert_int_eq(cn_config_anchors(&cfg, &set, err, sizeof(err)), 0);
	ck_assert_uint_eq(set.n, 2);
	for (size_t i = 0; i < set.n; i++) {
		ck_assert_uint_eq(set.v[i].type, CN_TYPE_DS);
		ck_assert_uint_eq(set.v[i].owner[0], 0); /* the root */
	}
	cn_anchor_set_free(&set);
}
END_TEST

/* ------------------------------------------------------------------ good values ------- */

START_TEST(test_good_keys)
{
	ck_assert_msg(load("dnssec: false\n"
			   "trust_anchors:\n"
			   "  - \"" ROOT_DS "\"\n"
			   "  - \"" TEST_DNSKEY "\"\n"
			   "trust_anchor_file: anchors/root.ds\n"
			   "negative_trust_anchors: [Broken.EXAMPLE, \"corp.\", broken.example.]\n"
			   "dnssec_limits:\n"
			   "  sigs_per_rrset: 4\n"
			   "  sigs_per_request: 40\n"
			   "  nsec3_hashes: 30\n"
			   "  nsec3_iterations_insecure: 50\n"
			   "  nsec3_iterations_bogus: 150\n"
			   "bogus_ttl: 30\n"
			   "aggressive_nsec: no\n") == 0, "%s", err);
	const cn_dnssec_conf_t *d = &cfg.engine.dnssec;
	ck_assert(!d->enabled);
	ck_assert_uint_eq(d->sigs_per_rrset, 4);
	ck_assert_uint_eq(d->sigs_per_request, 40);
	ck_assert_uint_eq(d->nsec3_hashes, 30);
	ck_assert_uint_eq(d->nsec3_iter_insecure, 50);
	ck_assert_uint_eq(d->nsec3_iter_bogus, 150);
	ck_assert_uint_eq(d->bogus_ttl_s, 30);
	ck_assert(!d->aggressive_nsec);
	ck_assert_uint_eq(cfg.ntrust_anchors, 2);
	ck_assert_str_eq(cfg.trust_anchors[0].rr, ROOT_DS);
	ck_assert_str_eq(cfg.trust_anchors[0].where, "t.yaml:3");
	ck_assert_str_eq(cfg.trust_anchors[1].where, "t.yaml:4");
	ck_assert_str_eq(cfg.trust_anchor_file, "anchors/root.ds"); /* no folder in "t.yaml" */
	ck_assert(cn_config_has_anchors(&cfg));
	/* lower-case wire form, the duplicate (another case, a trailing dot) dropped */
	ck_assert_uint_eq(cfg.nnta, 2);
	uint8_t w[CN_DNAME_MAX];
	wire("broken.example.", w);
	ck_assert_mem_eq(cfg.nta[0], w, cn_dname_len(w));
	wire("corp.", w);
	ck_assert_mem_eq(cfg.nta[1], w, cn_dname_len(w));
	/* the engine's pointers are main's business */
	ck_assert_ptr_null(d->anchors);
	ck_assert_ptr_null(d->nta);
}
END_TEST

/* trust_anchor_file is relative to the config file's folder, as zone files are. */
START_TEST(test_anchor_file_path)
{
	ck_assert_int_eq(load_as("/etc/cairn/cairn.yaml", "trust_anchor_file: root.ds\n"), 0);
	ck_assert_str_eq(cfg.trust_anchor_file, "/etc/cairn/root.ds");
	ck_assert_int_eq(load_as("/etc/cairn/cairn.yaml", "trust_anchor_file: /var/ta.ds\n"), 0);
	ck_assert_str_eq(cfg.trust_anchor_file, "/var/ta.ds");
	ck_assert_int_eq(load_as("/etc/cairn/cairn.yaml", "trust_anchor_file: ~\n"), 0);
	ck_assert_ptr_null(cfg.trust_anchor_file);
}
END_TEST

/* A list in a later file replaces the earlier one; one scalar is a list of one. */
START_TEST(test_lists_replace)
{
	ck_assert_int_eq(load("trust_anchors: [\"" ROOT_DS "\"]\n"
			      "negative_trust_anchors: [a., b.]\n"), 0);
	ck_assert_int_eq(load("trust_anchors: \"" TEST_DNSKEY "\"\nnegative_trust_anchors: c.\n"),
			 0);
	ck_assert_uint_eq(cfg.ntrust_anchors, 1);
	ck_assert_str_eq(cfg.trust_anchors[0].rr, TEST_DNSKEY);
	ck_assert_uint_eq(cfg.nnta, 1);
	ck_assert_int_eq(load("trust_anchors: ~\nnegative_trust_anchors: []\n"), 0);
	ck_assert_uint_eq(cfg.ntrust_anchors, 0);
	ck_assert_uint_eq(cfg.nnta, 0);
	ck_assert(!cn_config_has_anchors(&cfg));
}
END_TEST

START_TEST(test_limits_ranges)
{
	ck_assert_int_eq(load("dnssec_limits:\n  sigs_per_rrset: 1\n  sigs_per_request: 1\n"
			      "  nsec3_hashes: 1\n  nsec3_iterations_insecure: 0\n"
			      "  nsec3_iterations_bogus: 0\nbogus_ttl: 1\n"), 0);
	ck_assert_uint_eq(cfg.engine.dnssec.nsec3_iter_bogus, 0);
	ck_assert_int_eq(load("dnssec_limits:\n  sigs_per_rrset: 1000\n  sigs_per_request: 10000\n"
			      "  nsec3_hashes: 10000\n  nsec3_iterations_insecure: 2500\n"
			      "  nsec3_iterations_bogus: 65535\nbogus_ttl: 300\n"), 0);
	ck_assert_uint_eq(cfg.engine.dnssec.nsec3_iter_bogus, 65535);
	ck_assert_uint_eq(cfg.engine.dnssec.bogus_ttl_s, 300);
	ck_assert_int_eq(load("dnssec: on\n"), 0);
	ck_assert(cfg.engine.dnssec.enabled);
}
END_TEST

/* ------------------------------------------------------------------ bad values -------- */

struct bad_case {
	const char *text;
	const char *expect; /* prefix of the message */
};

static const struct bad_case bad_cases[] = {
	{ "dnssec: maybe\n", "t.yaml:1: dnssec: expected true or false, got \"maybe\"" },
	{ "dnssec: [true]\n", "t.yaml:1: dnssec: expected a single value, got a list" },
	{ "trust_anchors:\n  - \"x. IN A 192.0.2.1\"\n",
	  "t.yaml:2: trust_anchors: a trust anchor must be a DS or DNSKEY record: "
	  "\"x. IN A 192.0.2.1\"" },
	/* libzscanner knows DS in class IN only */
	{ "trust_anchors:\n  - \". CH DS 20326 8 2 E06D\"\n",
	  "t.yaml:2: trust_anchors: unsupported record type: \". CH DS" },
	{ "trust_anchors:\n  - \". IN DS 20326 8 two E06D\"\n", "t.yaml:2: trust_anchors: " },
	{ "trust_anchors:\n  - \"test. IN DNSKEY 0 3 13 " KEY64 "\"\n",
	  "t.yaml:2: trust_anchors: a DNSKEY trust anchor needs protocol 3 and the zone key flag" },
	{ "trust_anchors:\n  - \"test. IN DNSKEY 257 2 13 " KEY64 "\"\n",
	  "t.yaml:2: trust_anchors: a DNSKEY trust anchor needs protocol 3" },
	{ "trust_anchors:\n  - \"; a comment only\"\n",
	  "t.yaml:2: trust_anchors: no DS or DNSKEY record in it" },
	{ "trust_anchors:\n  - \"\"\n",
	  "t.yaml:2: trust_anchors: each item is one DS or DNSKEY" },
	{ "trust_anchors:\n  - [a, b]\n",
	  "t.yaml:2: trust_anchors: each item is one DS or DNSKEY" },
	{ "trust_anchors: {a: b}\n", "t.yaml:1: trust_anchors: expected a list, got a mapping" },
	{ "trust_anchor_file: \"\"\n", "t.yaml:1: trust_anchor_file: empty path" },
	{ "trust_anchor_file: [a, b]\n", "t.yaml:1: trust_anchor_file: expected a single value" },
	{ "negative_trust_anchors: [a..b]\n",
	  "t.yaml:1: negative_trust_anchors: bad domain name \"a..b\"" },
	{ "negative_trust_anchors: [\"\"]\n",
	  "t.yaml:1: negative_trust_anchors: bad domain name \"\"" },
	{ "negative_trust_anchors:\n  - {a: b}\n",
	  "t.yaml:2: negative_trust_anchors: each item is one domain name" },
	{ "dnssec_limits: 5\n", "t.yaml:1: dnssec_limits: expected a mapping" },
	{ "dnssec_limits:\n  sigs: 5\n", "t.yaml:2: unknown key \"dnssec_limits.sigs\"" },
	{ "dnssec_limits:\n  sigs_per_rrset: 0\n",
	  "t.yaml:2: dnssec_limits.sigs_per_rrset: 0 is out of range [1, 1000]" },
	{ "dnssec_limits:\n  sigs_per_request: 10001\n",
	  "t.yaml:2: dnssec_limits.sigs_per_request: 10001 is out of range [1, 10000]" },
	{ "dnssec_limits:\n  nsec3_hashes: 0\n",
	  "t.yaml:2: dnssec_limits.nsec3_hashes: 0 is out of range [1, 10000]" },
	{ "dnssec_limits:\n  nsec3_iterations_insecure: 2501\n",
	  "t.yaml:2: dnssec_limits.nsec3_iterations_insecure: 2501 is out of range [0, 2500]" },
	{ "dnssec_limits:\n  nsec3_iterations_bogus: 65536\n",
	  "t.yaml:2: dnssec_limits.nsec3_iterations_bogus: 65536 is out of range [0, 65535]" },
	{ "dnssec_limits:\n  nsec3_iterations_bogus: many\n",
	  "t.yaml:2: dnssec_limits.nsec3_iterations_bogus: expected a number, got \"many\"" },
	{ "dnssec_limits:\n  sigs_per_rrset: 100\n",
	  "t.yaml:3: dnssec_limits: sigs_per_rrset is larger than sigs_per_request" },
	{ "dnssec_limits:\n  nsec3_iterations_insecure: 600\n",
	  "t.yaml:3: dnssec_limits: nsec3_iterations_insecure is larger than "
	  "nsec3_iterations_bogus" },
	{ "bogus_ttl: 0\n", "t.yaml:1: bogus_ttl: 0 is out of range [1, 300]" },
	{ "bogus_ttl: 301\n", "t.yaml:1: bogus_ttl: 301 is out of range [1, 300]" },
	{ "aggressive_nsec: sometimes\n",
	  "t.yaml:1: aggressive_nsec: expected true or false, got \"sometimes\"" },
};

START_TEST(test_bad)
{
	const struct bad_case *bc = &bad_cases[_i];
	int rc = load(bc->text);
	ck_assert_msg(rc == -EINVAL, "case %d accepted: %s", _i, bc->text);
	ck_assert_msg(strncmp(err, bc->expect, strlen(bc->expect)) == 0,
		      "case %d: got \"%s\", want \"%s...\"", _i, err, bc->expect);
}
END_TEST

/* CN_NTA_MAX names, and not one more. */
START_TEST(test_nta_max)
{
	char text[4096] = "negative_trust_anchors:\n";
	for (int i = 0; i < CN_NTA_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "  - n%d.test.\n", i);
	ck_assert_msg(load(text) == 0, "%s", err);
	ck_assert_uint_eq(cfg.nnta, CN_NTA_MAX);
	ck_assert_int_eq(cn_config_add_nta(&cfg, "n0.test."), 0); /* listed already */
	ck_assert_int_eq(cn_config_add_nta(&cfg, "one-more.test."), -ENOSPC);
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "  - one-more.test.\n");
	ck_assert_int_eq(load(text), -EINVAL);
	ck_assert_str_eq(err, "t.yaml:66: negative_trust_anchors: more than 64 names");
}
END_TEST

/* ------------------------------------------------------------------ flags ------------- */

START_TEST(test_flag_entry_points)
{
	ck_assert_int_eq(cn_config_add_trust_anchor(&cfg, ROOT_DS, "--trust-anchor", err,
						    sizeof(err)), 0);
	ck_assert_uint_eq(cfg.ntrust_anchors, 1);
	ck_assert_str_eq(cfg.trust_anchors[0].where, "--trust-anchor");
	ck_assert_int_eq(cn_config_add_trust_anchor(&cfg, "x. IN TXT hi", "--trust-anchor", err,
						    sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "a trust anchor must be a DS or DNSKEY record");
	ck_assert_uint_eq(cfg.ntrust_anchors, 1);
	ck_assert_int_eq(cn_config_add_nta(&cfg, "Example.ORG"), 0);
	ck_assert_int_eq(cn_config_add_nta(&cfg, "example.org."), 0);
	ck_assert_uint_eq(cfg.nnta, 1);
	uint8_t w[CN_DNAME_MAX] = { 0 };
	wire("example.org.", w);
	ck_assert_mem_eq(cfg.nta[0], w, sizeof(w)); /* zero past the name: lists compare whole */
	ck_assert_int_eq(cn_config_add_nta(&cfg, "a..b"), -EINVAL);
	ck_assert_int_eq(cn_config_add_nta(&cfg, ""), -EINVAL);
	ck_assert_uint_eq(cfg.nnta, 1);
	/* the file's settings, then a flag: --trust-anchor adds to the file's list */
	ck_assert_int_eq(load("trust_anchors: [\"" TEST_DNSKEY "\"]\n"), 0);
	ck_assert_int_eq(cn_config_add_trust_anchor(&cfg, ROOT_DS, "--trust-anchor", err,
						    sizeof(err)), 0);
	ck_assert_uint_eq(cfg.ntrust_anchors, 2);
}
END_TEST

/* ------------------------------------------------------------------ the anchor set ---- */

static char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/cairn-test-ta-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* trust_anchors and trust_anchor_file together: the union, and no built-in ones. */
START_TEST(test_set_union)
{
	char *path = write_tmp("; the test tree\n" ROOT_DS "\n" TEST_DNSKEY "\n");
	cn_config_add_trust_anchor(&cfg, "example. IN DS 1 13 2 "
			      "0001020304050607080900010203040506070809000102030405060708090001",
			      "t", err, sizeof(err));
	cfg.trust_anchor_file = strdup(path);
	cn_anchor_set_t set = { 0 };
	int rc = cn_config_anchors(&cfg, &set, err, sizeof(err));
	unlink(path);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_eq(set.n, 3);
	ck_assert_uint_eq(set.v[0].type, CN_TYPE_DS);
	ck_assert_uint_eq(set.v[1].type, CN_TYPE_DS);
	ck_assert_uint_eq(set.v[2].type, CN_TYPE_DNSKEY);
	uint8_t w[CN_DNAME_MAX];
	wire("example.", w);
	ck_assert(cn_dname_eq(set.v[0].owner, w));
	wire("test.", w);
	ck_assert(cn_dname_eq(set.v[2].owner, w));
	cn_anchor_set_free(&set);
}
END_TEST

/* A broken file: "FILE:LINE: reason", and the set left empty. */
START_TEST(test_set_bad_file)
{
	char *path = write_tmp(ROOT_DS "\nwww.test. IN A 192.0.2.1\n");
	cfg.trust_anchor_file = strdup(path);
	cn_anchor_set_t set = { 0 };
	int rc = cn_config_anchors(&cfg, &set, err, sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: a trust anchor must be a DS or DNSKEY record", path);
	ck_assert_str_eq(err, want);
	ck_assert_uint_eq(set.n, 0);
	ck_assert_ptr_null(set.v);
	/* no record at all */
	FILE *f = fopen(path, "w");
	fputs("; nothing here\n", f);
	fclose(f);
	ck_assert_int_eq(cn_config_anchors(&cfg, &set, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: trust_anchor_file: no DS or DNSKEY record in it", path);
	ck_assert_str_eq(err, want);
	unlink(path);
	/* missing */
	ck_assert_int_eq(cn_config_anchors(&cfg, &set, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, "cannot read"), "%s",
		      err);
	ck_assert_uint_eq(set.n, 0);
}
END_TEST

static Suite *config_dnssec_suite(void)
{
	Suite *s = suite_create("config_dnssec");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_builtin_set);
	tcase_add_test(tc, test_good_keys);
	tcase_add_test(tc, test_anchor_file_path);
	tcase_add_test(tc, test_lists_replace);
	tcase_add_test(tc, test_limits_ranges);
	tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_nta_max);
	tcase_add_test(tc, test_flag_entry_points);
	tcase_add_test(tc, test_set_union);
	tcase_add_test(tc, test_set_bad_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(config_dnssec_suite());
}
