/*
 * Unit tests for net/config.c: a full good file, every error class with its line number,
 * size suffixes, listen addresses and flags-over-file behaviour.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/config.h"
#include "tests/unit/unit.h"

static cn_config_t cfg;
static char err[512];

static void setup(void)
{
	ck_assert_int_eq(cn_config_init(&cfg, NULL), 0);
	err[0] = '\0';
}

static void teardown(void)
{
	cn_config_deinit(&cfg);
}

static int load(const char *text)
{
	return cn_config_load_string(&cfg, "t.yaml", text, strlen(text), err, sizeof(err));
}

/* ------------------------------------------------------------------ defaults ---------- */

START_TEST(test_defaults)
{
	ck_assert_uint_eq(cfg.engine.limits.cname_chain, 11);
	ck_assert_uint_eq(cfg.engine.limits.upstream_queries, 32);
	ck_assert_uint_eq(cfg.engine.limits.client_deadline_ms, 3000);
	ck_assert_uint_eq(cfg.engine.limits.resolve_deadline_ms, 10000);
	ck_assert(cfg.engine.qname_minimisation);
	ck_assert(!cfg.engine.allow_loopback_upstream);
	ck_assert_uint_eq(cfg.engine.edns_udp_size, 1232);
	ck_assert_uint_eq(cfg.tcp_idle_timeout_ms, 10000);
	ck_assert_uint_eq(cfg.tcp_max_clients, 256);
	ck_assert_uint_eq(cfg.cache.budget_bytes, 64u << 20);
	ck_assert_int_eq(cfg.cache.policy, CN_EVICT_S3FIFO);
	ck_assert_uint_eq(cfg.cache.shadow_shift, 0);
	ck_assert_ptr_null(cfg.control_socket);
	ck_assert_uint_eq(cfg.nlisten, 0);
	ck_assert_uint_eq(cfg.nallow, 2); /* loopback */
	ck_assert_int_eq(cfg.allow[0].family, AF_INET);
	ck_assert_uint_eq(cfg.allow[0].prefix, 8);
	ck_assert_int_eq(cfg.allow[1].family, AF_INET6);
	ck_assert_uint_eq(cfg.allow[1].prefix, 128);
	ck_assert_int_eq(cfg.log_level, 2);
	ck_assert_int_eq(cn_config_check(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_engine_defaults_passed_in)
{
	cn_engine_conf_t e;
	memset(&e, 0, sizeof(e));
	e.limits.cname_chain = 7;
	e.timeout_max_ms = 100;
	e.limits.resolve_deadline_ms = 5000;
	cn_config_t c2;
	ck_assert_int_eq(cn_config_init(&c2, &e), 0);
	ck_assert_uint_eq(c2.engine.limits.cname_chain, 7);
	cn_config_deinit(&c2);
}
END_TEST

START_TEST(test_empty_file)
{
	ck_assert_int_eq(load(""), 0);
	ck_assert_int_eq(load("# only a comment\n"), 0);
	ck_assert_uint_eq(cfg.engine.limits.cname_chain, 11);
}
END_TEST

/* ------------------------------------------------------------------ a good file ------- */

static const char good[] =
	"# cairn test config\n"
	"listen:\n"
	"  - 127.0.0.1@5300\n"
	"  - \"::1@5301\"\n"
	"  - 127.0.0.2\n"
	"allow:\n"
	"  - 10.0.0.0/8\n"
	"  - 2001:db8::/32\n"
	"root_hints: /etc/cairn/root.hints\n"
	"allow_loopback_upstream: true\n"
	"qname_minimisation: false\n"
	"use_0x20: no\n"
	"do_ip4: yes\n"
	"do_ip6: off\n"
	"serve_stale: false\n"
	"stale_answer_ttl: 15\n"
	"prefetch: false\n"
	"edns_udp_size: 1400\n"
	"limits:\n"
	"  cname_chain: 8\n"
	"  upstream_queries: 20\n"
	"  glueless_ns: 3\n"
	"  referral_depth: 12\n"
	"  client_deadline_ms: 2000\n"
	"  resolve_deadline_ms: 8000\n"
	"timeouts:\n"
	"  min_ms: 100\n"
	"  max_ms: 2500\n"
	"  initial_rtt_ms: 300\n"
	"cache_size: 128M\n"
	"cache:\n"
	"  min_ttl: 5\n"
	"  max_ttl: 3600\n"
	"  neg_max_ttl: 600\n"
	"  stale_window: 7200\n"
	"  policy: sieve\n"
	"  predict_shift: 4\n"
	"tcp_idle_timeout_ms: 5000\n"
	"tcp_max_clients: 64\n"
	"control_socket: /run/cairn.sock\n"
	"log_level: debug\n"
	"cache_dump_file: /var/lib/cairn/cache.dump\n"
	"load_cache_at_start: true\n"
	"dump_cache_at_exit: true\n";

START_TEST(test_good_file)
{
	ck_assert_msg(load(good) == 0, "%s", err);
	ck_assert_uint_eq(cfg.nlisten, 3);
	const struct sockaddr_in *a0 = (const struct sockaddr_in *)&cfg.listen[0].addr;
	ck_assert_int_eq(a0->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(a0->sin_port), 5300);
	const struct sockaddr_in6 *a1 = (const struct sockaddr_in6 *)&cfg.listen[1].addr;
	ck_assert_int_eq(a1->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(a1->sin6_port), 5301);
	ck_assert_uint_eq(cfg.listen[1].addr_len, sizeof(struct sockaddr_in6));
	const struct sockaddr_in *a2 = (const struct sockaddr_in *)&cfg.listen[2].addr;
	ck_assert_uint_eq(ntohs(a2->sin_port), 53);
	ck_assert_uint_eq(cfg.nallow, 2);
	ck_assert_int_eq(cfg.allow[0].family, AF_INET);
	ck_assert_uint_eq(cfg.allow[0].prefix, 8);
	ck_assert_int_eq(cfg.allow[1].family, AF_INET6);
	ck_assert_uint_eq(cfg.allow[1].prefix, 32);
	ck_assert_str_eq(cfg.root_hints, "/etc/cairn/root.hints");
	ck_assert(cfg.engine.allow_loopback_upstream);
	ck_assert(!cfg.engine.qname_minimisation);
	ck_assert(!cfg.engine.use_0x20);
	ck_assert(cfg.engine.do_ip4);
	ck_assert(!cfg.engine.do_ip6);
	ck_assert(!cfg.engine.serve_stale);
	ck_assert_uint_eq(cfg.engine.stale_answer_ttl_s, 15);
	ck_assert(!cfg.engine.prefetch);
	ck_assert_uint_eq(cfg.engine.edns_udp_size, 1400);
	ck_assert_uint_eq(cfg.engine.limits.cname_chain, 8);
	ck_assert_uint_eq(cfg.engine.limits.upstream_queries, 20);
	ck_assert_uint_eq(cfg.engine.limits.glueless_ns, 3);
	ck_assert_uint_eq(cfg.engine.limits.referral_depth, 12);
	ck_assert_uint_eq(cfg.engine.limits.client_deadline_ms, 2000);
	ck_assert_uint_eq(cfg.engine.limits.resolve_deadline_ms, 8000);
	ck_assert_uint_eq(cfg.engine.timeout_min_ms, 100);
	ck_assert_uint_eq(cfg.engine.timeout_max_ms, 2500);
	ck_assert_uint_eq(cfg.engine.initial_rtt_ms, 300);
	ck_assert_uint_eq(cfg.cache.budget_bytes, 128u << 20);
	ck_assert_uint_eq(cfg.cache.min_ttl_s, 5);
	ck_assert_uint_eq(cfg.cache.max_ttl_s, 3600);
	ck_assert_uint_eq(cfg.cache.neg_max_ttl_s, 600);
	ck_assert_uint_eq(cfg.cache.stale_window_s, 7200);
	ck_assert_int_eq(cfg.cache.policy, CN_EVICT_SIEVE);
	ck_assert_uint_eq(cfg.cache.shadow_shift, 4);
	ck_assert_uint_eq(cfg.tcp_idle_timeout_ms, 5000);
	ck_assert_uint_eq(cfg.tcp_max_clients, 64);
	ck_assert_str_eq(cfg.control_socket, "/run/cairn.sock");
	ck_assert_int_eq(cfg.log_level, 3);
	ck_assert_str_eq(cfg.cache_dump_file, "/var/lib/cairn/cache.dump");
	ck_assert(cfg.load_cache_at_start);
	ck_assert(cfg.dump_cache_at_exit);
}
END_TEST

START_TEST(test_good_file_from_disk)
{
	char path[] = "/tmp/cairn-test-config-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	close(fd);
	int rc = cn_config_load(&cfg, path, err, sizeof(err));
	unlink(path);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_eq(cfg.nlisten, 3);
}
END_TEST

START_TEST(test_missing_file)
{
	int rc = cn_config_load(&cfg, "/nonexistent/cairn.yaml", err, sizeof(err));
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_msg(strncmp(err, "/nonexistent/cairn.yaml: ", 25) == 0, "%s", err);
}
END_TEST

START_TEST(test_scalar_lists_and_nulls)
{
	ck_assert_msg(load("listen: 127.0.0.1@5353\nallow: 192.168.1.0/24\n"
			   "control_socket: ~\nroot_hints: null\n") == 0, "%s", err);
	ck_assert_uint_eq(cfg.nlisten, 1);
	ck_assert_uint_eq(cfg.nallow, 1);
	ck_assert_ptr_null(cfg.control_socket);
	ck_assert_ptr_null(cfg.root_hints);
	/* Numbers with a 0x20-style quoted scalar work the same as plain. */
	ck_assert_msg(load("tcp_max_clients: \"12\"\n") == 0, "%s", err);
	ck_assert_uint_eq(cfg.tcp_max_clients, 12);
}
END_TEST

START_TEST(test_listen_replaces)
{
	ck_assert_int_eq(load("listen: [127.0.0.1@1, 127.0.0.1@2]\n"), 0);
	ck_assert_int_eq(load("listen: [127.0.0.1@3]\n"), 0);
	ck_assert_uint_eq(cfg.nlisten, 1);
}
END_TEST

/* ------------------------------------------------------------------ errors ------------ */

static const struct bad_case {
	const char *text;
	const char *expect; /* exact prefix of the message: "t.yaml:LINE: ..." */
} bad_cases[] = {
	/* YAML syntax */
	{ "listen: [127.0.0.1\n", "t.yaml:2: YAML" },
	{ "a: b\n c: d\n  - x\n", "t.yaml:2: YAML" },
	{ "key: \"unterminated\n", "t.yaml:2: YAML" },
	/* top level */
	{ "- just\n- a list\n", "t.yaml:1: the top level must be a mapping" },
	/* unknown keys, top and nested */
	{ "do_ip4: true\nfrobnicate: 1\n", "t.yaml:2: unknown key \"frobnicate\"" },
	{ "limits:\n  cname_chain: 5\n  nope: 1\n", "t.yaml:3: unknown key \"limits.nope\"" },
	{ "cache:\n  polcy: lru\n", "t.yaml:2: unknown key \"cache.polcy\"" },
	/* duplicates */
	{ "do_ip4: true\ndo_ip4: false\n", "t.yaml:2: duplicate key \"do_ip4\"" },
	/* wrong types */
	{ "do_ip4: [true]\n", "t.yaml:1: do_ip4: expected a single value, got a list" },
	{ "do_ip6:\n  a: b\n", "t.yaml:2: do_ip6: expected a single value, got a mapping" },
	{ "limits: 5\n", "t.yaml:1: limits: expected a mapping" },
	{ "listen:\n  a: b\n", "t.yaml:2: listen: expected a list, got a mapping" },
	{ "allow:\n  - [10.0.0.0/8]\n", "t.yaml:2: allow: each item must be a single" },
	/* bad values */
	{ "\n\nprefetch: maybe\n", "t.yaml:3: prefetch: expected true or false, got \"maybe\"" },
	{ "tcp_max_clients: -1\n", "t.yaml:1: tcp_max_clients: expected a number" },
	{ "tcp_max_clients: 12abc\n", "t.yaml:1: tcp_max_clients: expected a number" },
	{ "tcp_max_clients: 0\n", "t.yaml:1: tcp_max_clients: 0 is out of range" },
	{ "edns_udp_size: 100\n", "t.yaml:1: edns_udp_size: 100 is out of range [512, 4096]" },
	{ "cache:\n  predict_shift: 17\n", "t.yaml:2: cache.predict_shift: 17 is out of range [0, 16]" },
	{ "limits:\n  cname_chain: 1000\n", "t.yaml:2: limits.cname_chain: 1000 is out of range" },
	{ "tcp_idle_timeout_ms: 99999999999999999999999\n",
	  "t.yaml:1: tcp_idle_timeout_ms: expected a number" },
	{ "cache_size: 12X\n", "t.yaml:1: cache_size: expected a size like 64M, got \"12X\"" },
	{ "cache_size: 1K\n", "t.yaml:1: cache_size: must be at least 64K" },
	{ "cache:\n  policy: random\n", "t.yaml:2: cache.policy: expected s3fifo, sieve or lru" },
	{ "log_level: loud\n", "t.yaml:1: log_level: expected error, warning, info or debug" },
	{ "listen:\n  - 127.0.0.1\n  - 999.1.1.1@53\n",
	  "t.yaml:3: listen: bad address[@port] \"999.1.1.1@53\"" },
	{ "listen: [\"127.0.0.1@70000\"]\n", "t.yaml:1: listen: bad address[@port]" },
	{ "allow:\n  - 10.0.0.1/8\n", "t.yaml:2: allow: bad subnet" },
	{ "allow: [fe80::/129]\n", "t.yaml:1: allow: bad subnet" },
	{ "root_hints: \"\"\n", "t.yaml:1: root_hints: empty path" },
	/* cross-field checks, reported at the end of the document */
	{ "timeouts:\n  min_ms: 500\n  max_ms: 100\n", "t.yaml:4: timeouts: min_ms is larger" },
	{ "dump_cache_at_exit: true\n", "t.yaml:2: load_cache_at_start/dump_cache_at_exit need" },
	{ "limits:\n  client_deadline_ms: 20000\n", "t.yaml:3: limits: client_deadline_ms is" },
	{ "allow: []\n", "t.yaml:2: allow: the list is empty" },
	{ "allow: ~\n", "t.yaml:2: allow: the list is empty" },
	/* hosted zones */
	{ "zones: corp.\n", "t.yaml:1: zones: expected a list" },
	{ "zones:\n  - corp.\n", "t.yaml:2: zones: each entry is a mapping" },
	{ "zones:\n  - name: a.\n    file: a.zone\n    fil: b\n", "t.yaml:4: zones: unknown key" },
	{ "zones:\n  - file: a.zone\n", "t.yaml:2: zones: an entry needs a name" },
	{ "zones:\n  - name: a.\n", "t.yaml:2: zones: a. needs a file" },
	{ "zones:\n  - name: a.\n    file: a.zone\n    visible_to: [10.0.0.1/8]\n",
	  "t.yaml:4: zones: visible_to: bad subnet \"10.0.0.1/8\"" },
	{ "zones:\n  - name: a.\n    file: a.zone\n    visible_to: []\n",
	  "t.yaml:4: zones: visible_to is empty" },
	{ "local_data: \"x. A 1.2.3.4\"\n", "t.yaml:1: local_data: expected a list" },
	{ "local_zones_builtin: maybe\n", "t.yaml:1: local_zones_builtin: expected true" },
	{ "local_zones_builtin:\n  localhost.: perhaps\n", "t.yaml:2: local_zones_builtin: each" },
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

/* ------------------------------------------------------------------ value parsers ----- */

START_TEST(test_sizes)
{
	static const struct {
		const char *s;
		size_t v;
	} ok[] = {
		{ "0", 0 },		   { "65536", 65536 },
		{ "64K", 64u << 10 },	   { "64k", 64u << 10 },
		{ "100M", 100u << 20 },	   { "100MB", 100u << 20 },
		{ "100MiB", 100u << 20 }, { "2G", (size_t)2 << 30 },
		{ "1g", (size_t)1 << 30 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t v = 1;
		ck_assert_msg(cn_config_parse_size(ok[i].s, &v) == 0, "%s", ok[i].s);
		ck_assert_uint_eq(v, ok[i].v);
	}
	static const char *const bad[] = { "", "M", "-1", " 1", "1 M", "1T", "1MM", "1.5M",
					   "99999999999999999999", "17179869184G", "0x10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t v = 7;
		ck_assert_msg(cn_config_parse_size(bad[i], &v) == -EINVAL, "%s", bad[i]);
		ck_assert_uint_eq(v, 7);
	}
}
END_TEST

START_TEST(test_listen_parse)
{
	cn_listen_t l;
	ck_assert_int_eq(cn_config_parse_listen("::1@5353", 53, &l), 0);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&l.addr;
	ck_assert_int_eq(s6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 5353);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
	ck_assert_int_eq(cn_config_parse_listen("[::1]:5354", 53, &l), 0);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 5354);
	ck_assert_int_eq(cn_config_parse_listen("[::1]", 53, &l), 0);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 53);
	ck_assert_int_eq(cn_config_parse_listen("::1", 53, &l), 0);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 53);
	ck_assert_int_eq(cn_config_parse_listen("127.0.0.1:99", 53, &l), 0);
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&l.addr;
	ck_assert_int_eq(s4->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(s4->sin_port), 99);
	ck_assert_uint_eq(l.addr_len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(cn_config_parse_listen("0.0.0.0", 5300, &l), 0);
	ck_assert_uint_eq(ntohs(s4->sin_port), 5300);
	static const char *const bad[] = { "", "localhost", "127.0.0.1@", "127.0.0.1@0",
					   "127.0.0.1@65536", "127.0.0.1@5x", "[::1", "[::1]x",
					   "1.2.3.4.5", "::1@-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cn_config_parse_listen(bad[i], 53, &l) == -EINVAL, "%s", bad[i]);
}
END_TEST

START_TEST(test_zones_keys)
{
	ck_assert(cfg.local_zones_builtin);
	const char *text =
		"zones:\n"
		"  - name: corp.example.\n"
		"    file: zones/corp.zone\n"
		"    visible_to: [10.1.0.0/16, 127.0.0.2]\n"
		"  - name: pub.example\n"
		"    file: /abs/pub.zone\n"
		"local_data:\n"
		"  - \"printer.lan. 300 IN A 192.168.1.9\"\n"
		"local_zones_builtin: {2.0.192.in-addr.arpa.: false, localhost.: true}\n";
	ck_assert_int_eq(cn_config_load_string(&cfg, "/etc/cairn/cairn.yaml", text, strlen(text),
					       err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.nzones, 2);
	ck_assert_str_eq(cfg.zones[0].name, "corp.example.");
	ck_assert_str_eq(cfg.zones[0].file, "/etc/cairn/zones/corp.zone"); /* beside the file */
	ck_assert_str_eq(cfg.zones[0].where, "/etc/cairn/cairn.yaml:2");
	ck_assert_uint_eq(cfg.zones[0].nvisible, 2);
	ck_assert_uint_eq(cfg.zones[0].visible_to[0].prefix, 16);
	ck_assert_uint_eq(cfg.zones[0].visible_to[1].prefix, 32);
	ck_assert_str_eq(cfg.zones[1].file, "/abs/pub.zone");
	ck_assert_uint_eq(cfg.zones[1].nvisible, 0);
	ck_assert_uint_eq(cfg.nlocal_data, 1);
	ck_assert_str_eq(cfg.local_data[0].rr, "printer.lan. 300 IN A 192.168.1.9");
	ck_assert_uint_eq(cfg.local_data[0].line, 8);
	ck_assert(cfg.local_zones_builtin);
	ck_assert_uint_eq(cfg.nlocal_zones_off, 1);
	ck_assert_str_eq(cfg.local_zones_off[0], "2.0.192.in-addr.arpa.");
	ck_assert_int_eq(load("local_zones_builtin: false\n"), 0);
	ck_assert(!cfg.local_zones_builtin);
	/* --zone NAME=FILE */
	ck_assert_int_eq(cn_config_add_zone_arg(&cfg, "x.test.=rel/x.zone"), 0);
	ck_assert_str_eq(cfg.zones[2].file, "rel/x.zone");
	ck_assert_int_eq(cn_config_add_zone_arg(&cfg, "x.test."), -EINVAL);
	ck_assert_int_eq(cn_config_add_zone_arg(&cfg, "=x.zone"), -EINVAL);
	ck_assert_int_eq(cn_config_add_zone_arg(&cfg, "x.test.="), -EINVAL);
}
END_TEST

START_TEST(test_flags_over_file)
{
	/* What main does: file first, then -l replaces the listen list. */
	ck_assert_int_eq(load("listen: [127.0.0.1@1, 127.0.0.1@2]\n"), 0);
	cn_config_clear_listen(&cfg);
	ck_assert_int_eq(cn_config_add_listen(&cfg, "::1@5353"), 0);
	ck_assert_uint_eq(cfg.nlisten, 1);
	ck_assert_int_eq(cn_config_add_listen(&cfg, "bogus"), -EINVAL);
	ck_assert_uint_eq(cfg.nlisten, 1);
	ck_assert_int_eq(cn_config_add_allow(&cfg, "10.1.0.0/16"), 0);
	ck_assert_int_eq(cn_config_add_allow(&cfg, "10.1.0.0/33"), -EINVAL);
	ck_assert_uint_eq(cfg.nallow, 3); /* loopback default + 1 */
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_engine_defaults_passed_in);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_good_file_from_disk);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_scalar_lists_and_nulls);
	tcase_add_test(tc, test_listen_replaces);
	tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_listen_parse);
	tcase_add_test(tc, test_flags_over_file);
	tcase_add_test(tc, test_zones_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(config_suite());
}
