/*
 * Unit tests for net/acl.c: CIDR parsing, matching (IPv4, IPv6, v4-mapped), the loopback
 * default, and the REFUSED reply built for refused clients.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "net/acl.h"
#include "resolver/resolver.h"
#include "tests/unit/unit.h"

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(4242);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, s, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

START_TEST(test_cidr_parse_good)
{
	static const struct {
		const char *s;
		int family;
		unsigned prefix;
	} ok[] = {
		{ "10.0.0.0/8", AF_INET, 8 },	     { "192.0.2.1", AF_INET, 32 },
		{ "0.0.0.0/0", AF_INET, 0 },	     { "192.0.2.128/25", AF_INET, 25 },
		{ "2001:db8::/32", AF_INET6, 32 },  { "::1", AF_INET6, 128 },
		{ "::/0", AF_INET6, 0 },	     { "fe80::/10", AF_INET6, 10 },
		{ "2001:db8::1/128", AF_INET6, 128 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cn_cidr_t c;
		ck_assert_msg(cn_cidr_parse(ok[i].s, &c) == 0, "%s", ok[i].s);
		ck_assert_int_eq(c.family, ok[i].family);
		ck_assert_uint_eq(c.prefix, ok[i].prefix);
	}
}
END_TEST

START_TEST(test_cidr_parse_bad)
{
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x",
		"10.0.0.1/8",	/* host bits set */
		"2001:db8::1/32", "::/129", "10.0.0", "example.com", "10.0.0.0/ 8",
		"10.0.0.0/8/8", "fe80::/0x10",
		"aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa/128",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cn_cidr_t c = { .family = 99 };
		ck_assert_msg(cn_cidr_parse(bad[i], &c) == -EINVAL, "%s", bad[i]);
		ck_assert_int_eq(c.family, 99); /* untouched on error */
	}
}
END_TEST

START_TEST(test_cidr_match)
{
	cn_cidr_t c;
	ck_assert_int_eq(cn_cidr_parse("192.0.2.128/25", &c), 0);
	struct sockaddr_storage in = addr("192.0.2.200"), out = addr("192.0.2.127");
	ck_assert(cn_cidr_match(&c, SA(in)));
	ck_assert(!cn_cidr_match(&c, SA(out)));
	struct sockaddr_storage mapped = addr("::ffff:192.0.2.129");
	ck_assert(cn_cidr_match(&c, SA(mapped)));
	struct sockaddr_storage v6 = addr("2001:db8::1");
	ck_assert(!cn_cidr_match(&c, SA(v6)));

	ck_assert_int_eq(cn_cidr_parse("2001:db8:ab00::/41", &c), 0);
	struct sockaddr_storage y = addr("2001:db8:ab7f:ffff::1"), n = addr("2001:db8:ab80::");
	ck_assert(cn_cidr_match(&c, SA(y)));
	ck_assert(!cn_cidr_match(&c, SA(n)));
	ck_assert(!cn_cidr_match(&c, SA(in)));

	ck_assert_int_eq(cn_cidr_parse("0.0.0.0/0", &c), 0);
	ck_assert(cn_cidr_match(&c, SA(in)));
	ck_assert(!cn_cidr_match(&c, SA(v6)));
}
END_TEST

START_TEST(test_acl_default_loopback)
{
	static const char *const yes[] = { "127.0.0.1", "127.0.0.2", "127.255.255.254", "::1",
					   "::ffff:127.0.0.1" };
	static const char *const no[] = { "128.0.0.1", "10.0.0.1", "::2", "::", "0.0.0.0",
					  "fe80::1", "::ffff:10.0.0.1", "126.255.255.255" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct sockaddr_storage ss = addr(yes[i]);
		ck_assert_msg(cn_acl_allows(NULL, SA(ss)), "%s", yes[i]);
	}
	cn_acl_t empty = { .allow = NULL };
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct sockaddr_storage ss = addr(no[i]);
		ck_assert_msg(!cn_acl_allows(NULL, SA(ss)), "%s", no[i]);
		ck_assert_msg(!cn_acl_allows(&empty, SA(ss)), "%s", no[i]);
	}
}
END_TEST

/* allow / refuse / deny: the longest matching prefix decides; deny wins a tie. */
START_TEST(test_acl_actions_longest_prefix)
{
	cn_cidr_t allow[2], refuse[1], deny[2];
	ck_assert_int_eq(cn_cidr_parse("10.0.0.0/8", &allow[0]), 0);
	ck_assert_int_eq(cn_cidr_parse("10.9.8.0/24", &allow[1]), 0);
	ck_assert_int_eq(cn_cidr_parse("10.9.0.0/16", &refuse[0]), 0);
	ck_assert_int_eq(cn_cidr_parse("10.66.0.0/16", &deny[0]), 0);
	ck_assert_int_eq(cn_cidr_parse("10.9.8.0/24", &deny[1]), 0);
	cn_acl_t acl = { .allow = allow, .nallow = 1, .refuse = refuse, .nrefuse = 1,
			 .deny = deny, .ndeny = 1 };
	struct sockaddr_storage a = addr("10.1.2.3"), r = addr("10.9.1.1"), d = addr("10.66.1.1"),
				in = addr("10.9.8.7"), out = addr("192.0.2.1");
	ck_assert_int_eq(cn_acl_check(&acl, SA(a)), CN_ACL_ALLOW);
	ck_assert_int_eq(cn_acl_check(&acl, SA(r)), CN_ACL_REFUSE); /* /16 beats /8 */
	ck_assert_int_eq(cn_acl_check(&acl, SA(d)), CN_ACL_DENY);
	ck_assert_int_eq(cn_acl_check(&acl, SA(out)), CN_ACL_REFUSE); /* in no list */
	acl.nallow = 2; /* 10.9.8.0/24 allowed inside the refused /16 */
	ck_assert_int_eq(cn_acl_check(&acl, SA(in)), CN_ACL_ALLOW);
	acl.ndeny = 2; /* and denied with the same prefix: deny wins the tie */
	ck_assert_int_eq(cn_acl_check(&acl, SA(in)), CN_ACL_DENY);
	ck_assert(!cn_acl_allows(&acl, SA(in)));
	ck_assert_int_eq(cn_acl_check(NULL, SA(a)), CN_ACL_REFUSE); /* the loopback default */
}
END_TEST

START_TEST(test_acl_configured)
{
	cn_cidr_t list[2];
	ck_assert_int_eq(cn_cidr_parse("10.0.0.0/8", &list[0]), 0);
	ck_assert_int_eq(cn_cidr_parse("fd00::/8", &list[1]), 0);
	cn_acl_t acl = { .allow = list, .nallow = 2 };
	struct sockaddr_storage a = addr("10.9.8.7"), b = addr("fd12::1"), c = addr("11.0.0.1"),
				lo = addr("127.0.0.1"), d = addr("fe00::1");
	ck_assert(cn_acl_allows(&acl, SA(a)));
	ck_assert(cn_acl_allows(&acl, SA(b)));
	ck_assert(!cn_acl_allows(&acl, SA(lo))); /* a configured list replaces loopback */
	cn_acl_t none = { .allow = NULL };
	ck_assert(!cn_acl_allows(&none, SA(lo)));
	cn_acl_t deflt = { .allow = cn_acl_loopback, .nallow = 2 };
	ck_assert(cn_acl_allows(&deflt, SA(lo)));
	ck_assert(!cn_acl_allows(&deflt, SA(a)));
	ck_assert(!cn_acl_allows(&acl, SA(c)));
	ck_assert(!cn_acl_allows(&acl, SA(d)));
	struct sockaddr_storage unix_like;
	memset(&unix_like, 0, sizeof(unix_like));
	unix_like.ss_family = AF_UNIX;
	ck_assert(!cn_acl_allows(&acl, SA(unix_like)));
}
END_TEST

/* A query for "example.com. A IN" with RD and CD, ID 0xbeef, plus an OPT record. */
static const uint8_t query[] = {
	0xbe, 0xef, 0x01, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x01, 0x00, 0x01,
	0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

START_TEST(test_refuse_echoes_question)
{
	uint8_t out[512];
	size_t n = cn_engine_refuse(query, sizeof(query), out, sizeof(out));
	ck_assert_uint_eq(n, 12 + 17);
	ck_assert_uint_eq(out[0], 0xbe);
	ck_assert_uint_eq(out[1], 0xef);
	/* QR, opcode 0, RD echoed; RA, CD echoed, RCODE 5 */
	ck_assert_uint_eq(out[2], 0x81);
	ck_assert_uint_eq(out[3], 0x95);
	ck_assert_uint_eq(out[4] << 8 | out[5], 1);
	for (int i = 6; i < 12; i++)
		ck_assert_uint_eq(out[i], 0);
	ck_assert_mem_eq(out + 12, query + 12, 17);
}
END_TEST

START_TEST(test_refuse_header_only)
{
	uint8_t out[512];
	/* Header alone, QDCOUNT 1 but nothing follows: header-only reply with QDCOUNT 0. */
	uint8_t q[12] = { 1, 2, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	ck_assert_uint_eq(cn_engine_refuse(q, sizeof(q), out, sizeof(out)), 12);
	ck_assert_uint_eq(out[2], 0x80);
	ck_assert_uint_eq(out[3], 0x85);
	ck_assert_uint_eq(out[5], 0);
	/* A compression pointer in the question: not parseable, header only. */
	uint8_t p[18] = { 1, 2, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1 };
	ck_assert_uint_eq(cn_engine_refuse(p, sizeof(p), out, sizeof(out)), 12);
	/* Truncated qtype/qclass. */
	ck_assert_uint_eq(cn_engine_refuse(query, 12 + 15, out, sizeof(out)), 12);
	/* QDCOUNT 2: no echo. */
	uint8_t two[sizeof(query)];
	memcpy(two, query, sizeof(query));
	two[5] = 2;
	ck_assert_uint_eq(cn_engine_refuse(two, sizeof(two), out, sizeof(out)), 12);
	/* The opcode is kept (NOTIFY = 4). */
	uint8_t notify[12] = { 1, 2, 0x20, 0x00, 0, 0, 0, 0, 0, 0, 0, 0 };
	ck_assert_uint_eq(cn_engine_refuse(notify, sizeof(notify), out, sizeof(out)), 12);
	ck_assert_uint_eq(out[2], 0xa0);
}
END_TEST

START_TEST(test_refuse_drops)
{
	uint8_t out[512];
	ck_assert_uint_eq(cn_engine_refuse(query, 11, out, sizeof(out)), 0);
	ck_assert_uint_eq(cn_engine_refuse(query, 0, out, sizeof(out)), 0);
	uint8_t resp[sizeof(query)];
	memcpy(resp, query, sizeof(query));
	resp[2] |= 0x80; /* QR=1: never answer a response */
	ck_assert_uint_eq(cn_engine_refuse(resp, sizeof(resp), out, sizeof(out)), 0);
	ck_assert_uint_eq(cn_engine_refuse(query, sizeof(query), out, 11), 0);
	/* Room for the header but not the question: header only. */
	ck_assert_uint_eq(cn_engine_refuse(query, sizeof(query), out, 20), 12);
	/* A name longer than 255 octets. */
	uint8_t longname[12 + 5 * 64 + 5];
	memset(longname, 0, sizeof(longname));
	longname[5] = 1;
	for (int i = 0; i < 5; i++)
		longname[12 + i * 64] = 63;
	ck_assert_uint_eq(cn_engine_refuse(longname, sizeof(longname), out, sizeof(out)), 12);
}
END_TEST

static Suite *acl_suite(void)
{
	Suite *s = suite_create("acl");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_cidr_parse_good);
	tcase_add_test(tc, test_cidr_parse_bad);
	tcase_add_test(tc, test_cidr_match);
	tcase_add_test(tc, test_acl_default_loopback);
	tcase_add_test(tc, test_acl_configured);
	tcase_add_test(tc, test_refuse_echoes_question);
	tcase_add_test(tc, test_acl_actions_longest_prefix);
	tcase_add_test(tc, test_refuse_header_only);
	tcase_add_test(tc, test_refuse_drops);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(acl_suite());
}
