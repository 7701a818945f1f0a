/*
 * Unit tests for resolver/hints.c: the compiled-in IANA list, a named.root file as IANA
 * publishes it (abridged), the extensions (TTL/class order, $ORIGIN, relative names,
 * addr@port), and broken files, each rejected with "line N: reason".
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolver/errors.h"
#include "resolver/resolver.h"
#include "tests/unit/unit.h"

static char path[64];

static const char *write_file(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/cairn-hints-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int load(const char *text, cn_hint_t **h, size_t *n, char *err, size_t errlen)
{
	int r = cn_hints_load(write_file(text), h, n, err, errlen);
	unlink(path);
	return r;
}

static const uint8_t *N(const char *s)
{
	static uint8_t bufs[4][CN_DNAME_MAX];
	static int next;
	uint8_t *b = bufs[next++ % 4];
	ck_assert_int_eq(cn_dname_from_str(s, b, NULL), 0);
	return b;
}

static void addr_is(const struct sockaddr_storage *ss, const char *text, unsigned port)
{
	char buf[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
		ck_assert_uint_eq(ntohs(in->sin_port), port);
	} else {
		ck_assert_int_eq(ss->ss_family, AF_INET6);
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
		ck_assert_uint_eq(ntohs(in6->sin6_port), port);
	}
	ck_assert_str_eq(buf, text);
}

START_TEST(test_builtin)
{
	size_t n = 0;
	const cn_hint_t *h = cn_hints_builtin(&n);
	ck_assert_uint_eq(n, 13);
	ck_assert(cn_dname_eq(h[0].name, N("a.root-servers.net")));
	ck_assert(cn_dname_eq(h[12].name, N("m.root-servers.net")));
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(h[i].naddr, 2);
		ck_assert_int_eq(h[i].addr[0].ss_family, AF_INET);
		ck_assert_int_eq(h[i].addr[1].ss_family, AF_INET6);
	}
	addr_is(&h[0].addr[0], "198.41.0.4", 53);
	addr_is(&h[1].addr[1], "2801:1b8:10::b", 53);
	ck_assert_ptr_eq(cn_hints_builtin(&n), h); /* same static table every time */
}
END_TEST

static const char named_root[] =
	";       This file holds the information on root name servers needed to\n"
	";       initialize cache of Internet domain name servers\n"
	";\n"
	"; FORMERLY NS.INTERNIC.NET\n"
	";\n"
	".                        3600000      NS    A.ROOT-SERVERS.NET.\n"
	"A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4\n"
	"A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30\n"
	";\n"
	"; FORMERLY NS1.ISI.EDU\n"
	";\n"
	".                        3600000      NS    B.ROOT-SERVERS.NET.\n"
	"B.ROOT-SERVERS.NET.      3600000      A     170.247.170.2\n"
	"B.ROOT-SERVERS.NET.      3600000      AAAA  2801:1b8:10::b\n"
	"; END OF FILE\n";

START_TEST(test_named_root)
{
	cn_hint_t *h = NULL;
	size_t n = 0;
	char err[128];
	ck_assert_int_eq(load(named_root, &h, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(cn_dname_eq(h[0].name, N("a.root-servers.net")));
	ck_assert_int_eq(h[0].naddr, 2);
	addr_is(&h[0].addr[0], "198.41.0.4", 53);
	addr_is(&h[0].addr[1], "2001:503:ba3e::2:30", 53);
	ck_assert(cn_dname_eq(h[1].name, N("b.root-servers.net")));
	addr_is(&h[1].addr[0], "170.247.170.2", 53);
	free(h);
}
END_TEST

START_TEST(test_variants)
{
	/* class and TTL in either order or absent, $TTL, $ORIGIN, relative names, "@",
	 * blank owner, addresses before the NS, ports, addresses capped at four */
	static const char text[] =
		"$TTL 1d\n"
		"$ORIGIN test.\n"
		"ns1 IN 300 A 127.0.0.2@5353 ; a comment\n"
		"\tAAAA ::1\n"
		"ns2.test. A 127.0.0.3\n"
		"$ORIGIN .\n"
		"@ 3600 IN NS ns1.test.\n"
		". IN 1h NS NS2.TEST\n"
		". NS ns1.test.\n"
		"ns2.test. A 127.0.0.4\n"
		"ns2.test. A 127.0.0.5\n"
		"ns2.test. A 127.0.0.6\n"
		"ns2.test. A 127.0.0.7\n"
		"other.test. A 10.0.0.1\n"
		"\n";
	cn_hint_t *h = NULL;
	size_t n = 0;
	char err[128] = "";
	ck_assert_msg(load(text, &h, &n, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(n, 2);
	ck_assert(cn_dname_eq(h[0].name, N("ns1.test")));
	ck_assert_int_eq(h[0].naddr, 2);
	addr_is(&h[0].addr[0], "127.0.0.2", 5353);
	addr_is(&h[0].addr[1], "::1", 53);
	ck_assert(cn_dname_eq(h[1].name, N("ns2.test")));
	ck_assert_int_eq(h[1].naddr, 4);
	addr_is(&h[1].addr[0], "127.0.0.3", 53);
	addr_is(&h[1].addr[3], "127.0.0.6", 53);
	free(h);
}
END_TEST

START_TEST(test_broken_files)
{
	static const struct {
		const char *text, *err;
	} bad[] = {
		{"", "line 1: no NS records for the root"},
		{"; only a comment\n", "line 2: no NS records for the root"},
		{". NS a.test.\n", "line 1: no A or AAAA record for a.test."},
		{"; c\n. NS a.test.\na.test. A 1.2.3.4\n. NS b.test.\n",
		 "line 4: no A or AAAA record for b.test."},
		{"a.test. NS b.test.\n", "line 1: NS record not at the root"},
		{"\n\n. NS a.test.\na.test. A 1.2.3.400\n", "line 4: bad IPv4 address \"1.2.3.400\""},
		{". NS a.test.\na.test. AAAA 1.2.3.4\n", "line 2: bad IPv6 address \"1.2.3.4\""},
		{". NS a.test.\na.test. A 1.2.3.4@0\n", "line 2: bad port \"0\""},
		{". NS a.test.\na.test. MX 10 b.test.\n",
		 "line 2: expected \"type data\" after owner, TTL and class"},
		{". NS a.test.\na.test. TXT hello\n",
		 "line 2: unsupported record type \"TXT\" (NS, A, AAAA only)"},
		{". CH NS a.test.\n", "line 1: class CH: root hints are class IN"},
		{". NS a..test.\n", "line 1: bad name \"a..test.\": syntax error in presentation format"},
		{"\tNS a.test.\n", "line 1: record without an owner name"},
		{". NS (\n a.test. )\n", "line 1: parentheses are not supported"},
		{"$INCLUDE other\n", "line 1: unsupported directive \"$INCLUDE\""},
		{"$ORIGIN test\n", "line 1: $ORIGIN must be an absolute name"},
		{". NS\n", "line 1: expected \"type data\" after owner, TTL and class"},
		{". 1 2 3 4 5 6 7 8 9\n", "line 1: too many fields"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cn_hint_t *h = (cn_hint_t *)&h; /* must stay untouched */
		cn_hint_t *before = h;
		size_t n = 99;
		char err[160] = "";
		int r = load(bad[i].text, &h, &n, err, sizeof(err));
		ck_assert_msg(r < 0, "case %zu accepted", i);
		ck_assert_msg(strcmp(err, bad[i].err) == 0, "case %zu: got \"%s\", want \"%s\"", i,
			      err, bad[i].err);
		ck_assert_ptr_eq(h, before);
		ck_assert_uint_eq(n, 99);
	}
	/* a missing file: -ENOENT and the path in the message; a tiny errbuf is cut safely */
	cn_hint_t *h;
	size_t n;
	char err[128];
	ck_assert_int_eq(cn_hints_load("/nonexistent/named.root", &h, &n, err, sizeof(err)),
			 -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/named.root: No such file or directory");
	char tiny[4];
	ck_assert_int_lt(load(". NS a.test.\n", &h, &n, tiny, sizeof(tiny)), 0);
	ck_assert_uint_lt(strlen(tiny), sizeof(tiny));
	ck_assert_int_lt(load(". NS a.test.\n", &h, &n, NULL, 0), 0);
}
END_TEST

START_TEST(test_many_names)
{
	/* more than 64 NS names is refused, 64 is fine */
	size_t cap = 100 * 64;
	char *text = malloc(cap);
	for (int total = 64; total <= 65; total++) {
		size_t o = 0;
		for (int i = 0; i < total; i++)
			o += (size_t)snprintf(text + o, cap - o, ". NS n%d.test.\nn%d.test. A 10.0.0.%d\n",
					      i, i, i % 250 + 1);
		cn_hint_t *h = NULL;
		size_t n = 0;
		char err[128] = "";
		int r = load(text, &h, &n, err, sizeof(err));
		if (total == 64) {
			ck_assert_msg(r == 0, "%s", err);
			ck_assert_uint_eq(n, 64);
			free(h);
		} else {
			ck_assert_int_eq(r, CN_ELIMIT);
			ck_assert_str_eq(err, "line 129: more than 64 root server names");
		}
	}
	free(text);
}
END_TEST

static Suite *hints_suite(void)
{
	Suite *s = suite_create("hints");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_builtin);
	tcase_add_test(tc, test_named_root);
	tcase_add_test(tc, test_variants);
	tcase_add_test(tc, test_broken_files);
	tcase_add_test(tc, test_many_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(hints_suite());
}
