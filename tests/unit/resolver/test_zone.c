/*
 * Unit tests for resolver/zone.c and zoneload.c: the hosted-zone lookup (exact match,
 * longest visible zone, wildcards, CNAME inside and out of the hosted zones, DNAME,
 * delegations, NXDOMAIN / NODATA with the SOA and its RFC 2308 TTL, private visibility),
 * local_data, the built-in local zones, and every zone-file error with its line.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolver/internal.h"
#include "resolver/zone.h"
#include "zone_test.h"

static struct sockaddr_storage client_ss;

static const struct sockaddr *client(const char *ip)
{
	memset(&client_ss, 0, sizeof(client_ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&client_ss;
		in6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&client_ss;
		in->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	}
	return (const struct sockaddr *)&client_ss;
}

static const char corp[] =
	"$ORIGIN corp.example.\n"
	"$TTL 300\n"
	"@      IN SOA ns1 hostmaster 2024010101 3600 600 86400 60\n"
	"       IN NS  ns1\n"
	"ns1    IN A   10.1.0.1\n"
	"www    IN A   10.1.0.10\n"
	"       IN A   10.1.0.11\n"
	"www    IN TXT \"hello\"\n"
	"alias  IN CNAME www\n"
	"out    IN CNAME www.public.test.\n"
	"loop1  IN CNAME loop2\n"
	"loop2  IN CNAME loop1\n"
	"*.wild IN A   10.1.0.99\n"
	"*.wild IN MX  10 mail\n"
	"x.y.ent IN A  10.1.0.5\n"
	"*.cn   IN CNAME www\n"
	"old    IN DNAME new.corp.example.\n"
	"a.new  IN A   10.1.0.77\n"
	"sub    IN NS  ns.sub\n"
	"ns.sub IN A   127.0.0.40\n";

static cn_zoneset_t *zs;
static cn_rr_t rrs[64];
static cn_result_t res;
static uint8_t scratch[CN_ZONE_SCRATCH(11)];
static cn_zone_answer_t ans;

static void load_corp(const cn_zone_prefix_t *vis, size_t nvis)
{
	char err[512] = "";
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	int rc = cn_zoneset_load_text(zs, "corp.example", "corp.zone", corp, vis, nvis, err,
				      sizeof(err));
	ck_assert_msg(rc == 0, "load: %s", err);
}

static cn_zone_kind_t ask(const struct sockaddr *from, const char *name, uint16_t type)
{
	memset(&res, 0, sizeof(res));
	res.an = rrs;
	res.an_cap = 64;
	return cn_zone_lookup(zs, from, N(name), type, 11, &res, scratch, sizeof(scratch),
			      &ans);
}

static void teardown(void)
{
	cn_zoneset_free(zs);
	zs = NULL;
}

static void setup_public(void)
{
	load_corp(NULL, 0);
}

static void rdata_a_is(const cn_rr_t *rr, const char *ip)
{
	char buf[INET_ADDRSTRLEN];
	ck_assert_uint_eq(rr->type, CN_TYPE_A);
	ck_assert_uint_eq(rr->rdlen, 4);
	inet_ntop(AF_INET, rr->rdata, buf, sizeof(buf));
	ck_assert_str_eq(buf, ip);
}

START_TEST(test_exact)
{
	ck_assert_int_eq(ask(NULL, "www.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert(res.aa);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NOERROR);
	ck_assert_uint_eq(res.nan, 2);
	rdata_a_is(&res.an[0], "10.1.0.10");
	rdata_a_is(&res.an[1], "10.1.0.11");
	ck_assert_uint_eq(res.an[0].ttl, 300);
	ck_assert(cn_dname_eq(res.an[0].owner, N("www.corp.example")));
	/* case does not matter */
	ck_assert_int_eq(ask(NULL, "WWW.Corp.EXAMPLE", CN_TYPE_TXT), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	ck_assert_uint_eq(res.an[0].type, CN_TYPE_TXT);
	/* the apex */
	ck_assert_int_eq(ask(NULL, "corp.example", CN_TYPE_SOA), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	ck_assert_int_eq(ask(NULL, "corp.example", CN_TYPE_NS), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	/* not ours */
	ck_assert_int_eq(ask(NULL, "www.example", CN_TYPE_A), CN_ZONE_NONE);
	ck_assert_int_eq(ask(NULL, "example", CN_TYPE_A), CN_ZONE_NONE);
}
END_TEST

START_TEST(test_negative)
{
	/* NXDOMAIN with the SOA, TTL min(SOA TTL 300, MINIMUM 60) */
	ck_assert_int_eq(ask(NULL, "nope.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(res.nan, 0);
	ck_assert(res.has_soa);
	ck_assert(cn_dname_eq(res.soa.owner, N("corp.example")));
	ck_assert_uint_eq(res.soa.ttl, 60);
	/* NODATA */
	ck_assert_int_eq(ask(NULL, "www.corp.example", CN_TYPE_AAAA), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NOERROR);
	ck_assert_uint_eq(res.nan, 0);
	ck_assert(res.has_soa);
	/* an empty non-terminal exists: NODATA, not NXDOMAIN (RFC 8020) */
	ck_assert_int_eq(ask(NULL, "y.ent.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NOERROR);
	ck_assert(res.has_soa);
	ck_assert_int_eq(ask(NULL, "ent.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NOERROR);
	/* below a name that does not exist */
	ck_assert_int_eq(ask(NULL, "a.b.nope.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NXDOMAIN);
}
END_TEST

START_TEST(test_wildcard)
{
	ck_assert_int_eq(ask(NULL, "anything.wild.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	rdata_a_is(&res.an[0], "10.1.0.99");
	/* the owner is the name asked for (RFC 4592 3.3.1) */
	ck_assert(cn_dname_eq(res.an[0].owner, N("anything.wild.corp.example")));
	/* several labels below the closest encloser */
	ck_assert_int_eq(ask(NULL, "a.b.c.wild.corp.example", CN_TYPE_MX), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	ck_assert_uint_eq(res.an[0].type, CN_TYPE_MX);
	/* wildcard exists, type does not: NODATA */
	ck_assert_int_eq(ask(NULL, "z.wild.corp.example", CN_TYPE_AAAA), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NOERROR);
	ck_assert_uint_eq(res.nan, 0);
	ck_assert(res.has_soa);
	/* an existing name blocks the wildcard: x.y.ent exists, so w.y.ent's closest encloser
	 * is y.ent, and there is no *.y.ent */
	ck_assert_int_eq(ask(NULL, "w.y.ent.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NXDOMAIN);
	/* the wildcard's own name answers literally */
	ck_assert_int_eq(ask(NULL, "*.wild.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	/* a wildcard CNAME: synthesised with the asked-for owner, then followed */
	ck_assert_int_eq(ask(NULL, "q.cn.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 3);
	ck_assert_uint_eq(res.an[0].type, CN_TYPE_CNAME);
	ck_assert(cn_dname_eq(res.an[0].owner, N("q.cn.corp.example")));
	rdata_a_is(&res.an[1], "10.1.0.10");
}
END_TEST

START_TEST(test_cname)
{
	/* in-zone chain */
	ck_assert_int_eq(ask(NULL, "alias.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 3);
	ck_assert_uint_eq(res.an[0].type, CN_TYPE_CNAME);
	ck_assert(cn_dname_eq(res.an[0].rdata, N("www.corp.example")));
	rdata_a_is(&res.an[1], "10.1.0.10");
	/* asking for the CNAME itself */
	ck_assert_int_eq(ask(NULL, "alias.corp.example", CN_TYPE_CNAME), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	/* a chain that leaves the hosted zones: handed back with its target */
	ck_assert_int_eq(ask(NULL, "out.corp.example", CN_TYPE_A), CN_ZONE_CHAIN_OUT);
	ck_assert_uint_eq(res.nan, 1);
	ck_assert(cn_dname_eq(ans.target, N("www.public.test")));
	/* a loop ends at the limit with SERVFAIL */
	ck_assert_int_eq(ask(NULL, "loop1.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_SERVFAIL);
	ck_assert_uint_eq(res.nan, 0);
}
END_TEST

START_TEST(test_dname)
{
	ck_assert_int_eq(ask(NULL, "a.old.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 3);
	ck_assert_uint_eq(res.an[0].type, CN_TYPE_DNAME);
	ck_assert_uint_eq(res.an[1].type, CN_TYPE_CNAME);
	ck_assert(cn_dname_eq(res.an[1].owner, N("a.old.corp.example")));
	ck_assert(cn_dname_eq(res.an[1].rdata, N("a.new.corp.example")));
	rdata_a_is(&res.an[2], "10.1.0.77");
	/* the DNAME owner itself is not redirected */
	ck_assert_int_eq(ask(NULL, "old.corp.example", CN_TYPE_DNAME), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	ck_assert_int_eq(ask(NULL, "old.corp.example", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 0);
	ck_assert(res.has_soa);
}
END_TEST

START_TEST(test_delegation)
{
	ck_assert_int_eq(ask(NULL, "www.sub.corp.example", CN_TYPE_A), CN_ZONE_DELEGATION);
	ck_assert(cn_dname_eq(ans.cut, N("sub.corp.example")));
	ck_assert(cn_dname_eq(ans.target, N("www.sub.corp.example")));
	/* glue is below the cut: still the delegation */
	ck_assert_int_eq(ask(NULL, "ns.sub.corp.example", CN_TYPE_A), CN_ZONE_DELEGATION);
	ck_assert_int_eq(ask(NULL, "sub.corp.example", CN_TYPE_NS), CN_ZONE_DELEGATION);
	/* the NS set and glue are there for the engine */
	size_t first;
	ck_assert_uint_eq(cn_zone_rrset(ans.zone, N("sub.corp.example"), CN_TYPE_NS, &first), 1);
	ck_assert_uint_eq(cn_zone_rrset(ans.zone, N("ns.sub.corp.example"), CN_TYPE_A, &first),
			  1);
	/* DS is the parent's */
	ck_assert_int_eq(ask(NULL, "sub.corp.example", CN_TYPE_DS), CN_ZONE_ANSWER);
	ck_assert(res.has_soa);
}
END_TEST

START_TEST(test_longest_and_private)
{
	/* a public parent zone and a private child: the longest visible zone wins */
	cn_zone_prefix_t lan;
	ck_assert_int_eq(prefix("127.0.0.2", &lan), 0);
	char err[256];
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	ck_assert_int_eq(cn_zoneset_load_text(zs, "example.", "pub", "@ SOA ns h 1 2 3 4 5\n"
					      "@ NS ns\nns A 192.0.2.1\n"
					      "host.lan A 192.0.2.2\n", NULL, 0, err,
					      sizeof(err)), 0);
	ck_assert_int_eq(cn_zoneset_load_text(zs, "lan.example.", "priv",
					      "@ SOA ns h 7 2 3 4 5\n@ NS ns\nns A 10.0.0.1\n"
					      "host A 10.0.0.2\n", &lan, 1, err, sizeof(err)), 0);
	/* inside visible_to: the private zone */
	ck_assert_int_eq(ask(client("127.0.0.2"), "host.lan.example", CN_TYPE_A),
			 CN_ZONE_ANSWER);
	rdata_a_is(&res.an[0], "10.0.0.2");
	ck_assert(ans.private_seen);
	/* outside: the public zone, which holds other data for the name */
	ck_assert_int_eq(ask(client("127.0.0.3"), "host.lan.example", CN_TYPE_A),
			 CN_ZONE_ANSWER);
	rdata_a_is(&res.an[0], "192.0.2.2");
	ck_assert(!ans.private_seen);
	/* no address (prefetch, internal): public only */
	ck_assert_int_eq(ask(NULL, "host.lan.example", CN_TYPE_A), CN_ZONE_ANSWER);
	rdata_a_is(&res.an[0], "192.0.2.2");
	/* v4-mapped IPv6 matches as IPv4 */
	ck_assert_int_eq(ask(client("::ffff:127.0.0.2"), "host.lan.example", CN_TYPE_A),
			 CN_ZONE_ANSWER);
	rdata_a_is(&res.an[0], "10.0.0.2");
	/* the same private zone twice: an error */
	ck_assert_int_eq(cn_zoneset_load_text(zs, "LAN.example", "again", "@ SOA ns h 1 2 3 4 5\n"
					      "@ NS ns\n", &lan, 1, err, sizeof(err)),
			 -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "defined twice"));
	cn_zone_info_t info;
	ck_assert_uint_eq(cn_zoneset_count(zs), 2);
	ck_assert_int_eq(cn_zoneset_info(zs, 1, &info), 0);
	ck_assert_uint_eq(info.serial, 7);
	ck_assert_uint_eq(info.nvisible, 1);
	ck_assert_uint_eq(info.records, 4);
	/* a public twin of the private zone: the zone's clients keep the private one, everyone
	 * else gets the twin (not the parent) */
	ck_assert_int_eq(cn_zoneset_load_text(zs, "LAN.example", "twin", "@ SOA ns h 9 2 3 4 5\n"
					      "@ NS ns\nns A 198.51.100.1\n"
					      "host A 198.51.100.2\n", NULL, 0, err, sizeof(err)),
			 0);
	ck_assert_int_eq(ask(client("127.0.0.2"), "host.lan.example", CN_TYPE_A),
			 CN_ZONE_ANSWER);
	rdata_a_is(&res.an[0], "10.0.0.2");
	ck_assert_int_eq(ask(client("127.0.0.3"), "host.lan.example", CN_TYPE_A),
			 CN_ZONE_ANSWER);
	rdata_a_is(&res.an[0], "198.51.100.2");
	ck_assert_int_eq(cn_zoneset_load_text(zs, "lan.example.", "twice", "@ SOA ns h 1 2 3 4 5\n"
					      "@ NS ns\n", NULL, 0, err, sizeof(err)),
			 -EEXIST);
}
END_TEST

START_TEST(test_private_only)
{
	/* a private zone with no public counterpart: for outsiders it does not exist */
	cn_zone_prefix_t p[2];
	ck_assert_int_eq(prefix("10.1.0.0/16", &p[0]), 0);
	ck_assert_int_eq(prefix("2001:db8::/32", &p[1]), 0);
	load_corp(p, 2);
	ck_assert_int_eq(ask(client("10.1.200.3"), "www.corp.example", CN_TYPE_A),
			 CN_ZONE_ANSWER);
	ck_assert_int_eq(ask(client("2001:db8:1::5"), "www.corp.example", CN_TYPE_A),
			 CN_ZONE_ANSWER);
	ck_assert_int_eq(ask(client("10.2.0.1"), "www.corp.example", CN_TYPE_A), CN_ZONE_NONE);
	ck_assert_int_eq(ask(client("2001:db9::1"), "www.corp.example", CN_TYPE_A), CN_ZONE_NONE);
	ck_assert_int_eq(ask(NULL, "www.corp.example", CN_TYPE_A), CN_ZONE_NONE);
}
END_TEST

START_TEST(test_chain_across_zones)
{
	char err[256];
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	ck_assert_int_eq(cn_zoneset_load_text(zs, "a.test", "a", "@ SOA ns h 1 2 3 4 5\n"
					      "@ NS ns\nns A 192.0.2.1\nx CNAME y.b.test.\n",
					      NULL, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(cn_zoneset_load_text(zs, "b.test", "b", "@ SOA ns h 1 2 3 4 5\n"
					      "@ NS ns\nns A 192.0.2.1\ny A 192.0.2.9\n", NULL,
					      0, err, sizeof(err)), 0);
	ck_assert_int_eq(ask(NULL, "x.a.test", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 2);
	rdata_a_is(&res.an[1], "192.0.2.9");
	/* NXDOMAIN at the end of a chain keeps the chain (RFC 6604) */
	ck_assert_int_eq(cn_zoneset_load_text(zs, "c.test", "c", "@ SOA ns h 1 2 3 4 5\n"
					      "@ NS ns\nns A 192.0.2.1\nz CNAME gone.b.test.\n",
					      NULL, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(ask(NULL, "z.c.test", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(res.nan, 1);
	ck_assert(cn_dname_eq(res.soa.owner, N("b.test")));
}
END_TEST

START_TEST(test_local_data)
{
	char err[256];
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	ck_assert_int_eq(cn_zoneset_add_local_data(zs, "printer.lan. 300 IN A 192.168.1.9",
						   "cfg", 4, err, sizeof(err)), 0);
	ck_assert_int_eq(cn_zoneset_add_local_data(zs, "printer.lan. 300 IN A 192.168.1.10",
						   "cfg", 5, err, sizeof(err)), 0);
	ck_assert_int_eq(cn_zoneset_add_local_data(zs, "nas.lan. 60 IN CNAME printer.lan.",
						   "cfg", 6, err, sizeof(err)), 0);
	ck_assert_int_eq(ask(NULL, "printer.lan", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 2);
	ck_assert_int_eq(ask(NULL, "printer.lan", CN_TYPE_AAAA), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 0);
	ck_assert(res.has_soa);
	ck_assert_uint_eq(res.soa.ttl, 300);
	ck_assert_int_eq(ask(NULL, "x.printer.lan", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NXDOMAIN);
	ck_assert_int_eq(ask(NULL, "nas.lan", CN_TYPE_A), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 3);
	ck_assert_int_eq(ask(NULL, "lan", CN_TYPE_A), CN_ZONE_NONE);
	/* errors name the config line */
	ck_assert_int_eq(cn_zoneset_add_local_data(zs, "bad.lan. 300 IN A 1.2.3", "cfg", 9, err,
						   sizeof(err)), -EINVAL);
	ck_assert_msg(strncmp(err, "cfg:9: ", 7) == 0, "%s", err);
	ck_assert_int_eq(cn_zoneset_add_local_data(zs, "nas.lan. 60 IN A 1.2.3.4", "cfg", 11,
						   err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "CNAME beside other data"), "%s", err);
}
END_TEST

START_TEST(test_builtin)
{
	char err[256];
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	/* a configured zone replaces the built-in one of the same name */
	ck_assert_int_eq(cn_zoneset_load_text(zs, "10.in-addr.arpa", "mine",
					      "@ SOA ns h 1 2 3 4 5\n@ NS ns.lan.\n"
					      "1.0.0 PTR gw.lan.\n", NULL, 0, err, sizeof(err)),
			 0);
	const char *off[] = { "invalid." };
	ck_assert_int_eq(cn_zoneset_add_builtin(zs, off, 1, err, sizeof(err)), 0);
	ck_assert_int_eq(ask(NULL, "localhost", CN_TYPE_A), CN_ZONE_ANSWER);
	rdata_a_is(&res.an[0], "127.0.0.1");
	ck_assert_int_eq(ask(NULL, "foo.localhost", CN_TYPE_AAAA), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	ck_assert_uint_eq(res.an[0].rdlen, 16);
	ck_assert_int_eq(ask(NULL, "1.0.0.127.in-addr.arpa", CN_TYPE_PTR), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.nan, 1);
	ck_assert(cn_dname_eq(res.an[0].rdata, N("localhost")));
	ck_assert_int_eq(ask(NULL, "5.1.168.192.in-addr.arpa", CN_TYPE_PTR), CN_ZONE_ANSWER);
	ck_assert_uint_eq(res.rcode, CN_RCODE_NXDOMAIN);
	ck_assert_int_eq(ask(NULL, "1.0.0.10.in-addr.arpa", CN_TYPE_PTR), CN_ZONE_ANSWER);
	ck_assert(cn_dname_eq(res.an[0].rdata, N("gw.lan")));
	/* switched off */
	ck_assert_int_eq(ask(NULL, "foo.invalid", CN_TYPE_A), CN_ZONE_NONE);
	ck_assert_int_eq(ask(NULL, "1.0.0.11.in-addr.arpa", CN_TYPE_PTR), CN_ZONE_NONE);
	/* unknown names to switch off are an error */
	const char *bad[] = { "example." };
	ck_assert_int_eq(cn_zoneset_add_builtin(zs, bad, 1, err, sizeof(err)), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ zone-file errors - */

static const char head[] = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

/* Load head + body as zone t.test from a file; returns the error text ("" on success). */
static const char *load_err(const char *body)
{
	static char err[512];
	char path[] = "/tmp/cairn-zone-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "%s%s", head, body);
	fclose(f);
	cn_zoneset_t *set;
	ck_assert_int_eq(cn_zoneset_new(&set), 0);
	err[0] = 0;
	char e[512] = "";
	int rc = cn_zoneset_load_file(set, "t.test.", path, NULL, 0, e, sizeof(e));
	unlink(path);
	cn_zoneset_free(set);
	if (rc == 0)
		return "";
	/* strip the temporary path: keep ":LINE: reason" */
	const char *p = strncmp(e, path, strlen(path)) == 0 ? e + strlen(path) : e;
	snprintf(err, sizeof(err), "%s", p);
	return err;
}

#define ERR_IS(body, prefix, what)                                                       \
	do {                                                                             \
		const char *_e = load_err(body);                                         \
		ck_assert_msg(strncmp(_e, prefix, strlen(prefix)) == 0 && strstr(_e, what), \
			      "got \"%s\", want \"%s...%s\"", _e, prefix, what);         \
	} while (0)

START_TEST(test_file_errors)
{
	ck_assert_str_eq(load_err("www A 192.0.2.7\n"), "");
	/* the head is lines 1-4 */
	ERR_IS("www A 192.0.2.7\nwww.other.test. A 192.0.2.8\n", ":6: ", "outside the zone");
	ERR_IS("\n\nsub SOA ns h 1 2 3 4 5\n", ":7: ", "not at the apex");
	ERR_IS("@ SOA ns2 h 2 2 3 4 5\n", ":5: ", "second SOA");
	ERR_IS("a CNAME b\na A 192.0.2.3\n", ":6: ", "CNAME beside other data");
	ERR_IS("a A 192.0.2.3\n\na CNAME b\n", ":7: ", "CNAME beside other data");
	ERR_IS("a CNAME b\na CNAME c\n", ":6: ", "more than one CNAME");
	ERR_IS("sub NS ns.sub\nns.sub A 192.0.2.5\nwww.sub TXT hi\n", ":7: ", "delegation");
	ERR_IS("sub NS ns.sub\nsub MX 10 mail\n", ":6: ", "delegation");
	ERR_IS("d DNAME x.test.\nq.d A 192.0.2.1\n", ":6: ", "below the DNAME");
	ERR_IS("www A 999.1.1.1\n", ":5: ", "");
	ERR_IS("www IN BOGUSTYPE 1\n", ":5: ", "");
	ERR_IS("www CH A 192.0.2.1\n", ":5: ", "");
	/* RFC 3597 form is accepted */
	ck_assert_str_eq(load_err("u TYPE65280 \\# 3 010203\n"), "");
	/* relative $INCLUDE of a missing file fails with the including line */
	ERR_IS("$INCLUDE /nonexistent/cairn.inc\n", ":5: ", "");
}
END_TEST

START_TEST(test_file_missing_apex)
{
	char err[256];
	ck_assert_int_eq(cn_zoneset_new(&zs), 0);
	ck_assert_int_eq(cn_zoneset_load_text(zs, "t.test", "z", "$TTL 60\n@ NS ns\nns A 1.2.3.4\n",
					      NULL, 0, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strcmp(err, "z:3: no SOA record at the apex t.test.") == 0, "%s", err);
	ck_assert_int_eq(cn_zoneset_load_text(zs, "t.test", "z", "@ 60 SOA ns h 1 2 3 4 5\n",
					      NULL, 0, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "z:1: no NS record at the apex"), "%s", err);
	ck_assert_int_eq(cn_zoneset_load_file(zs, "t.test", "/nonexistent/z.zone", NULL, 0, err,
					      sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/z.zone"));
	ck_assert_uint_eq(cn_zoneset_count(zs), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("zone");
	TCase *tc = tcase_create("lookup");
	tcase_add_checked_fixture(tc, setup_public, teardown);
	tcase_add_test(tc, test_exact);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_wildcard);
	tcase_add_test(tc, test_cname);
	tcase_add_test(tc, test_dname);
	tcase_add_test(tc, test_delegation);
	suite_add_tcase(s, tc);
	TCase *tv = tcase_create("sets");
	tcase_add_checked_fixture(tv, NULL, teardown);
	tcase_add_test(tv, test_longest_and_private);
	tcase_add_test(tv, test_private_only);
	tcase_add_test(tv, test_chain_across_zones);
	tcase_add_test(tv, test_local_data);
	tcase_add_test(tv, test_builtin);
	tcase_add_test(tv, test_file_errors);
	tcase_add_test(tv, test_file_missing_apex);
	suite_add_tcase(s, tv);
	return s;
}

int main(void)
{
	return cn_test_run(suite());
}
