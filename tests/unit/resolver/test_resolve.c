/*
 * Engine replay tests: the resolution state machine fed by a scripted DNS tree held in
 * memory, with a fake clock and a deterministic random source — no sockets. Each test
 * asserts the client's answer AND the upstream queries the engine produced (where, what),
 * the way Unbound's testbound scenarios do.
 *
 * The fake authoritative servers answer from small zone tables with the logic of a plain
 * authoritative server (referral with glue, AA answer, CNAME, NODATA and NXDOMAIN with the
 * SOA). They are built with cairn's own writer, so a writer bug could hide itself (the
 * engine would read back what the writer meant, not what it wrote). Against that, each
 * reply can be written out with what it should hold, taken from the zone tables and not
 * from the writer: with CAIRN_REPLAY_DUMP=FILE set, every reply is appended to FILE, and
 * check_replay_wire.py (a ctest step, test_resolve_wire) parses each one with dnspython
 * and compares it with its expectation, record by record.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "resolver/internal.h"
#include "resolver/resolver.h"
#include "resolver/wire.h"
#include "tests/unit/unit.h"

/* issue 11: minimisation, hygiene, DNAME (a TCase of its own, at the end of this file) */
static TCase *issue11_tcase(void);

/* ------------------------------------------------------------------ the fake tree --- */

typedef struct frr {
	const char *owner;
	uint16_t type;
	uint32_t ttl;
	const char *data; /* A/AAAA address, a name, or "" for SOA (fixed) */
} frr_t;

typedef struct fzone {
	const char *apex;
	const char *servers[3]; /* addresses serving it */
	const frr_t *rrs;
} fzone_t;

static const frr_t root_rrs[] = {
	{ ".", CN_TYPE_SOA, 86400, "" },
	{ ".", CN_TYPE_NS, 86400, "a.root.test." },
	{ "a.root.test.", CN_TYPE_A, 86400, "127.0.0.1" },
	{ "com.", CN_TYPE_NS, 86400, "a.gtld.com." },
	{ "a.gtld.com.", CN_TYPE_A, 86400, "127.0.0.2" },
	{ "net.", CN_TYPE_NS, 86400, "a.gtld.net." },
	{ "a.gtld.net.", CN_TYPE_A, 86400, "127.0.0.4" },
	{ NULL, 0, 0, NULL },
};
static const frr_t com_rrs[] = {
	{ "com.", CN_TYPE_SOA, 900, "" },
	{ "com.", CN_TYPE_NS, 86400, "a.gtld.com." },
	{ "a.gtld.com.", CN_TYPE_A, 86400, "127.0.0.2" },
	{ "example.com.", CN_TYPE_NS, 3600, "ns1.example.com." },
	{ "example.com.", CN_TYPE_NS, 3600, "ns2.example.com." },
	{ "ns1.example.com.", CN_TYPE_A, 3600, "127.0.0.3" },
	{ "ns2.example.com.", CN_TYPE_A, 3600, "127.0.0.13" },
	{ "glueless.com.", CN_TYPE_NS, 3600, "ns.hoster.net." },
	/* TsuNAME: a cycle of glueless delegations, with 1 s TTLs so nothing saves a repeat
	 * but the failure cache */
	{ "cyc1.com.", CN_TYPE_NS, 1, "ns.cyc2.com." },
	{ "cyc2.com.", CN_TYPE_NS, 1, "ns.cyc1.com." },
	/* NXNS: glueless NS names under a name that does not exist */
	{ "nxns.com.", CN_TYPE_NS, 3600, "ns1.nx.hoster.net." },
	{ "nxns.com.", CN_TYPE_NS, 3600, "ns2.nx.hoster.net." },
	{ "nxns.com.", CN_TYPE_NS, 3600, "ns3.nx.hoster.net." },
	{ "nxns.com.", CN_TYPE_NS, 3600, "ns4.nx.hoster.net." },
	{ "nxns.com.", CN_TYPE_NS, 3600, "ns5.nx.hoster.net." },
	{ "nxns.com.", CN_TYPE_NS, 3600, "ns6.nx.hoster.net." },
	{ "nxns.com.", CN_TYPE_NS, 3600, "ns7.nx.hoster.net." },
	{ "nxns.com.", CN_TYPE_NS, 3600, "ns8.nx.hoster.net." },
	/* a delegation to 30 NS names (more than a frame holds) */
	{ "wide.com.", CN_TYPE_NS, 3600, "ns1.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns2.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns3.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns4.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns5.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns6.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns7.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns8.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns9.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns10.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns11.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns12.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns13.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns14.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns15.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns16.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns17.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns18.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns19.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns20.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns21.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns22.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns23.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns24.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns25.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns26.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns27.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns28.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns29.wide.com." },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns30.wide.com." },
	{ "ns1.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns2.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns3.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns4.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns5.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns6.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns7.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns8.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns9.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns10.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns11.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns12.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns13.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns14.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns15.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns16.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns17.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns18.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns19.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns20.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns21.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns22.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns23.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns24.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns25.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns26.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns27.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns28.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns29.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "ns30.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	/* ghost: the parent delegates for 60 s, the child claims a week (last, see
	 * com_rrs_len: the revoked variant leaves these two out) */
	{ "ghost.com.", CN_TYPE_NS, 60, "ns.ghost.com." },
	{ "ns.ghost.com.", CN_TYPE_A, 60, "127.0.0.6" },
	{ NULL, 0, 0, NULL },
};
static frr_t com_rrs_revoked[sizeof(com_rrs) / sizeof(com_rrs[0]) - 2];
static const frr_t net_rrs[] = {
	{ "net.", CN_TYPE_SOA, 900, "" },
	{ "net.", CN_TYPE_NS, 86400, "a.gtld.net." },
	{ "a.gtld.net.", CN_TYPE_A, 86400, "127.0.0.4" },
	{ "hoster.net.", CN_TYPE_NS, 3600, "ns.hoster.net." },
	{ "ns.hoster.net.", CN_TYPE_A, 3600, "127.0.0.5" },
	{ NULL, 0, 0, NULL },
};
static const frr_t example_rrs[] = {
	{ "example.com.", CN_TYPE_SOA, 3600, "" },
	{ "example.com.", CN_TYPE_NS, 3600, "ns1.example.com." },
	{ "example.com.", CN_TYPE_NS, 3600, "ns2.example.com." },
	{ "ns1.example.com.", CN_TYPE_A, 3600, "127.0.0.3" },
	{ "ns2.example.com.", CN_TYPE_A, 3600, "127.0.0.13" },
	{ "www.example.com.", CN_TYPE_A, 300, "127.0.0.10" },
	{ "alias.example.com.", CN_TYPE_CNAME, 300, "www.example.com." },
	{ "away.example.com.", CN_TYPE_CNAME, 300, "host.hoster.net." },
	{ "loop1.example.com.", CN_TYPE_CNAME, 300, "loop2.example.com." },
	{ "loop2.example.com.", CN_TYPE_CNAME, 300, "loop1.example.com." },
	{ "mail.example.com.", CN_TYPE_MX, 300, "mx.example.com." },
	{ "old.example.com.", CN_TYPE_DNAME, 300, "hoster.net." },
	{ "huge.example.com.", CN_TYPE_DNAME, 300,
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
	  "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.com." },
	{ NULL, 0, 0, NULL },
};
static const frr_t hoster_rrs[] = {
	{ "hoster.net.", CN_TYPE_SOA, 3600, "" },
	{ "hoster.net.", CN_TYPE_NS, 3600, "ns.hoster.net." },
	{ "ns.hoster.net.", CN_TYPE_A, 3600, "127.0.0.5" },
	{ "host.hoster.net.", CN_TYPE_A, 60, "127.0.0.20" },
	{ NULL, 0, 0, NULL },
};
static const frr_t wide_rrs[] = {
	{ "wide.com.", CN_TYPE_SOA, 3600, "" },
	{ "wide.com.", CN_TYPE_NS, 3600, "ns1.wide.com." },
	{ "ns1.wide.com.", CN_TYPE_A, 3600, "127.0.0.7" },
	{ "*.wide.com.", CN_TYPE_A, 300, "127.0.0.70" },
	{ NULL, 0, 0, NULL },
};
static const frr_t ghost_rrs[] = {
	{ "ghost.com.", CN_TYPE_SOA, 3600, "" },
	{ "ghost.com.", CN_TYPE_NS, 604800, "ns.ghost.com." },
	{ "ns.ghost.com.", CN_TYPE_A, 604800, "127.0.0.6" },
	{ "www.ghost.com.", CN_TYPE_A, 30, "127.0.0.40" },
	{ NULL, 0, 0, NULL },
};
static const frr_t glueless_rrs[] = {
	{ "glueless.com.", CN_TYPE_SOA, 3600, "" },
	{ "glueless.com.", CN_TYPE_NS, 3600, "ns.hoster.net." },
	{ "www.glueless.com.", CN_TYPE_A, 300, "127.0.0.30" },
	{ NULL, 0, 0, NULL },
};

/* A bogus root server: ". NS" is answered with a CNAME (found by fuzz_consume). */
static const frr_t badroot_rrs[] = {
	{ ".", CN_TYPE_SOA, 86400, "" },
	{ ".", CN_TYPE_CNAME, 86400, "elsewhere.test." },
	{ NULL, 0, 0, NULL },
};

static fzone_t zones[] = {
	{ ".", { "127.0.0.1" }, root_rrs },
	{ "com.", { "127.0.0.2" }, com_rrs },
	{ "ghost.com.", { "127.0.0.6" }, ghost_rrs },
	{ "wide.com.", { "127.0.0.7" }, wide_rrs },
	{ "net.", { "127.0.0.4" }, net_rrs },
	{ "example.com.", { "127.0.0.3", "127.0.0.13" }, example_rrs },
	{ "hoster.net.", { "127.0.0.5" }, hoster_rrs },
	{ "glueless.com.", { "127.0.0.5" }, glueless_rrs },
	{ ".", { "127.0.0.99" }, badroot_rrs },
};

/* Servers that drop everything (timeouts), by address. */
static const char *dead_servers[4];
/* Servers that echo the qname in lower case (net reports CN_UP_CASE_MISMATCH for a
 * case-mixed query), by address. */
static const char *lowercase_servers[4];
static unsigned case_events;
/* Queries still to be dropped (then answered), by the last octet of 127.0.0.X. */
static unsigned drop_next[16];

static void dname(const char *s, uint8_t *out)
{
	ck_assert_int_eq(cn_dname_from_str(s, out, NULL), 0);
}

static uint16_t rdata_of(const frr_t *rr, uint8_t *out)
{
	if (rr->type == CN_TYPE_A) {
		inet_pton(AF_INET, rr->data, out);
		return 4;
	}
	if (rr->type == CN_TYPE_SOA) {
		static const uint8_t soa[] = { 2, 'n', 's', 0, 4, 'h', 'o', 's', 't', 0,
					       0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10,
					       0, 0x09, 0x3a, 0x80, 0, 0, 0, 60 }; /* MINIMUM 60 */
		memcpy(out, soa, sizeof(soa));
		return sizeof(soa);
	}
	size_t off = 0;
	if (rr->type == CN_TYPE_MX) {
		out[0] = 0, out[1] = 10;
		off = 2;
	}
	size_t len;
	ck_assert_int_eq(cn_dname_from_str(rr->data, out + off, &len), 0);
	return (uint16_t)(off + len);
}

/* ------------------------------------------------------------------ reply check ----- */
/* What the reply being built should hold, as text from the zone tables (see the top). */
static char expect[16384];
static size_t expect_len;
static uint16_t expect_flags;

static void expectf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void expectf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(expect + expect_len, sizeof(expect) - expect_len, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(expect) - expect_len);
	expect_len += (size_t)n;
}

static const char *section_name(cn_section_t sec)
{
	return sec == CN_SECTION_ANSWER ? "answer" : sec == CN_SECTION_AUTHORITY ? "authority"
										 : "additional";
}

/* The record's data in presentation form, from the table (not from rdata_of). */
static void expect_rr(cn_section_t sec, const char *owner, uint16_t type, uint32_t ttl,
		      const char *data)
{
	char tn[16];
	if (type == CN_TYPE_SOA)
		data = "ns. host. 1 3600 3600 604800 60";
	expectf("rr %s %s %s %u %s%s\n", section_name(sec), owner,
		cn_type_to_str(type, tn, sizeof(tn)), ttl, type == CN_TYPE_MX ? "10 " : "", data);
}

static void set_flags(cn_writer_t *w, uint16_t flags)
{
	expect_flags = flags;
	cn_writer_set_flags(w, flags);
}

/* Append the reply and its expectation to $CAIRN_REPLAY_DUMP, in one write. */
static void dump_reply(const uint8_t *wire, size_t len, const cn_msg_t *q)
{
	const char *path = getenv("CAIRN_REPLAY_DUMP");
	if (!path)
		return;
	static char rec[16384 + 2 * 4096 + 512];
	size_t n = 0;
	n += (size_t)snprintf(rec + n, sizeof(rec) - n, "reply ");
	for (size_t i = 0; i < len; i++)
		n += (size_t)snprintf(rec + n, sizeof(rec) - n, "%02x", wire[i]);
	char qn[CN_DNAME_STR_MAX], tn[16];
	cn_dname_to_str(q->qname, qn, sizeof(qn));
	n += (size_t)snprintf(rec + n, sizeof(rec) - n, "\nheader %u %u\nquestion %s %s\n%send\n",
			      q->id, expect_flags, qn, cn_type_to_str(q->qtype, tn, sizeof(tn)),
			      expect);
	ck_assert(n < sizeof(rec));
	FILE *f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(rec, 1, n, f), n);
	fclose(f);
}

static void add_rr(cn_writer_t *w, cn_section_t sec, const frr_t *rr)
{
	uint8_t owner[CN_DNAME_MAX], rdata[300];
	dname(rr->owner, owner);
	expect_rr(sec, rr->owner, rr->type, rr->ttl, rr->data);
	uint16_t rdlen = rdata_of(rr, rdata);
	ck_assert_int_eq(cn_writer_rr(w, sec, owner, rr->type, CN_CLASS_IN, rr->ttl, rdata, rdlen),
			 0);
}

static bool owner_is(const frr_t *rr, const uint8_t *name)
{
	uint8_t o[CN_DNAME_MAX];
	dname(rr->owner, o);
	return cn_dname_eq(o, name);
}

/* The reply of an authoritative server for zone z to q (qname, qtype). */
static size_t auth_build(const fzone_t *z, const cn_msg_t *qp, uint8_t *out)
{
	const cn_msg_t q = *qp;
	uint8_t apex[CN_DNAME_MAX];
	dname(z->apex, apex);
	cn_writer_t w;
	cn_writer_init(&w, out, 4096, q.id, CN_FLAG_QR);
	expect_flags = CN_FLAG_QR;
	cn_writer_question(&w, q.qname, q.qtype, q.qclass);
	/* delegation below the apex, at or above qname? */
	int ql = cn_dname_labels(q.qname), al = cn_dname_labels(apex);
	for (int i = ql - al - 1; i >= 0; i--) {
		const uint8_t *cut = cn_dname_skip(q.qname, i);
		if (cn_dname_eq(cut, apex))
			continue;
		bool found = false;
		for (const frr_t *rr = z->rrs; rr->owner; rr++) {
			if (rr->type == CN_TYPE_NS && owner_is(rr, cut)) {
				add_rr(&w, CN_SECTION_AUTHORITY, rr);
				found = true;
			}
		}
		if (!found)
			continue;
		for (const frr_t *rr = z->rrs; rr->owner; rr++) {
			if (rr->type != CN_TYPE_NS || !owner_is(rr, cut))
				continue;
			uint8_t target[CN_DNAME_MAX];
			dname(rr->data, target);
			for (const frr_t *g = z->rrs; g->owner; g++)
				if (g->type == CN_TYPE_A && owner_is(g, target) &&
				    cn_dname_is_sub(target, apex))
					add_rr(&w, CN_SECTION_ADDITIONAL, g);
		}
		return cn_writer_finish(&w);
	}
	set_flags(&w, CN_FLAG_QR | CN_FLAG_AA);
	/* DNAME at an ancestor (RFC 6672 2.3): the DNAME and a synthesised CNAME */
	for (const frr_t *rr = z->rrs; rr->owner; rr++) {
		uint8_t o[CN_DNAME_MAX];
		dname(rr->owner, o);
		if (rr->type != CN_TYPE_DNAME || !cn_dname_is_sub(q.qname, o) ||
		    cn_dname_eq(q.qname, o))
			continue;
		add_rr(&w, CN_SECTION_ANSWER, rr);
		uint8_t target[CN_DNAME_MAX], syn[2 * CN_DNAME_MAX];
		dname(rr->data, target);
		int skip = cn_dname_labels(q.qname) - cn_dname_labels(o);
		size_t plen = (size_t)(cn_dname_skip(q.qname, skip) - q.qname);
		memcpy(syn, q.qname, plen);
		memcpy(syn + plen, target, cn_dname_len(target));
		if (plen + cn_dname_len(target) > CN_DNAME_MAX) {
			set_flags(&w, CN_FLAG_QR | CN_FLAG_AA | CN_RCODE_YXDOMAIN);
			return cn_writer_finish(&w);
		}
		char qs[CN_DNAME_STR_MAX], ss[CN_DNAME_STR_MAX];
		cn_dname_to_str(q.qname, qs, sizeof(qs));
		cn_dname_to_str(syn, ss, sizeof(ss));
		expect_rr(CN_SECTION_ANSWER, qs, CN_TYPE_CNAME, rr->ttl, ss);
		ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, q.qname, CN_TYPE_CNAME,
					      CN_CLASS_IN, rr->ttl, syn,
					      (uint16_t)cn_dname_len(syn)), 0);
		return cn_writer_finish(&w);
	}
	bool exists = false, answered = false;
	for (const frr_t *rr = z->rrs; rr->owner; rr++) {
		if (!owner_is(rr, q.qname))
			continue;
		exists = true;
		if (rr->type == q.qtype || (rr->type == CN_TYPE_CNAME && q.qtype != CN_TYPE_CNAME)) {
			add_rr(&w, CN_SECTION_ANSWER, rr);
			answered = true;
		}
	}
	/* empty non-terminals exist too */
	for (const frr_t *rr = z->rrs; rr->owner && !exists; rr++) {
		uint8_t o[CN_DNAME_MAX];
		dname(rr->owner, o);
		exists = cn_dname_is_sub(o, q.qname);
	}
	if (!answered) {
		if (!exists)
			set_flags(&w, CN_FLAG_QR | CN_FLAG_AA | CN_RCODE_NXDOMAIN);
		add_rr(&w, CN_SECTION_AUTHORITY, &z->rrs[0]);
	}
	if (answered && q.qtype == CN_TYPE_NS) {
		for (const frr_t *rr = z->rrs; rr->owner; rr++)
			if (rr->type == CN_TYPE_A)
				add_rr(&w, CN_SECTION_ADDITIONAL, rr);
	}
	return cn_writer_finish(&w);
}

/* A scripted misbehaviour (set by a test, cleared by setup): the reply z's server sends
 * instead of auth_build's, or 0 to answer as a plain authoritative server would. */
static size_t (*scripted_reply)(const fzone_t *z, const cn_msg_t *q, uint8_t *out);
/* More zones a test serves beside zones[] (set by a test, cleared by setup). */
static const fzone_t *extra_zones;
static size_t n_extra_zones;

static size_t auth_answer(const fzone_t *z, const uint8_t *query, size_t qlen, uint8_t *out)
{
	cn_msg_t q;
	ck_assert_int_eq(cn_msg_parse_query(query, qlen, &q), 0);
	expect_len = 0;
	expect[0] = 0;
	size_t len = scripted_reply ? scripted_reply(z, &q, out) : 0;
	if (len == 0)
		len = auth_build(z, &q, out);
	dump_reply(out, len, &q);
	return len;
}

static const fzone_t *zone_for(const char *addr, const uint8_t *qname)
{
	const fzone_t *best = NULL;
	int best_labels = -1;
	size_t nz = sizeof(zones) / sizeof(zones[0]);
	for (size_t i = 0; i < nz + n_extra_zones; i++) {
		const fzone_t *z = i < nz ? &zones[i] : &extra_zones[i - nz];
		bool serves = false;
		for (int s = 0; s < 3 && z->servers[s]; s++)
			serves |= strcmp(z->servers[s], addr) == 0;
		uint8_t apex[CN_DNAME_MAX];
		dname(z->apex, apex);
		if (serves && cn_dname_is_sub(qname, apex) && cn_dname_labels(apex) > best_labels) {
			best = z;
			best_labels = cn_dname_labels(apex);
		}
	}
	return best;
}

/* A recursive server (forward zones): 127.0.0.50 and .51 answer RD=1 questions about
 * example.com. from example_rrs with AA=0 and RA=1, the CNAME alone for a chain that
 * leaves the zone, plus a forged address for its out-of-zone target, which cairn must not
 * believe from a forwarder of example.com. */
static bool is_recursive(const char *addr)
{
	return strcmp(addr, "127.0.0.50") == 0 || strcmp(addr, "127.0.0.51") == 0;
}

static size_t recursive_answer(const uint8_t *query, size_t qlen, uint8_t *out)
{
	cn_msg_t q;
	ck_assert_int_eq(cn_msg_parse_query(query, qlen, &q), 0);
	ck_assert(q.flags & CN_FLAG_RD);
	cn_writer_t w;
	cn_writer_init(&w, out, 4096, q.id, CN_FLAG_QR | CN_FLAG_RD | CN_FLAG_RA);
	cn_writer_question(&w, q.qname, q.qtype, q.qclass);
	bool answered = false;
	for (const frr_t *rr = example_rrs; rr->owner; rr++) {
		if (!owner_is(rr, q.qname) ||
		    (rr->type != q.qtype && rr->type != CN_TYPE_CNAME))
			continue;
		add_rr(&w, CN_SECTION_ANSWER, rr);
		answered = true;
		if (rr->type == CN_TYPE_CNAME && strcmp(rr->data, "host.hoster.net.") == 0) {
			static const frr_t forged = { "host.hoster.net.", CN_TYPE_A, 86400,
						      "6.6.6.6" };
			add_rr(&w, CN_SECTION_ANSWER, &forged);
		}
	}
	if (!answered) {
		set_flags(&w, CN_FLAG_QR | CN_FLAG_RD | CN_FLAG_RA | CN_RCODE_NXDOMAIN);
		add_rr(&w, CN_SECTION_AUTHORITY, &example_rrs[0]);
	}
	return cn_writer_finish(&w);
}

/* ------------------------------------------------------------------ the harness ----- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static void fake_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++) {
		rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
		p[i] = (uint8_t)rng_state;
	}
}

static cn_cache_t *cache;
static cn_engine_t *engine;
static cn_time_t now;
static cn_hint_t hint;

/* what the engine asked for, in order: "addr qname TYPE" lines */
static char sent_log[8192];
static unsigned sent_count;
static unsigned sent_to[16];   /* by the last octet of 127.0.0.X */
static unsigned sent_aaaa;
static unsigned frac_ms;       /* wall-clock milliseconds not yet in now.wall_s */

/* Let ms pass on both clocks. */
static void advance_ms(unsigned ms)
{
	now.mono_ms += ms;
	frac_ms += ms;
	now.wall_s += frac_ms / 1000;
	frac_ms %= 1000;
}

static void setup(void)
{
	cn_cache_conf_t cc = { .budget_bytes = 4 << 20, .stale_window_s = 86400 };
	ck_assert_int_eq(cn_cache_new(&cc, &cache), 0);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.allow_loopback_upstream = true;
	conf.do_ip6 = false;
	conf.random = fake_random;
	memset(&hint, 0, sizeof(hint));
	dname("a.root.test.", hint.name);
	struct sockaddr_in *sin = (struct sockaddr_in *)&hint.addr[0];
	sin->sin_family = AF_INET;
	sin->sin_port = htons(53);
	inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
	hint.naddr = 1;
	conf.hints = &hint;
	conf.nhints = 1;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
	now = (cn_time_t){ .wall_s = 1700000000, .mono_ms = 5000 };
	sent_log[0] = 0;
	sent_count = 0;
	memset(sent_to, 0, sizeof(sent_to));
	sent_aaaa = 0;
	frac_ms = 0;
	memset(dead_servers, 0, sizeof(dead_servers));
	memset(lowercase_servers, 0, sizeof(lowercase_servers));
	case_events = 0;
	memset(drop_next, 0, sizeof(drop_next));
	zones[1].rrs = com_rrs;
	scripted_reply = NULL;
	extra_zones = NULL;
	n_extra_zones = 0;
	size_t k = 0;
	for (const frr_t *rr = com_rrs; rr->owner; rr++)
		if (!strstr(rr->owner, "ghost"))
			com_rrs_revoked[k++] = *rr;
	com_rrs_revoked[k] = (frr_t){ NULL, 0, 0, NULL };
}

static void teardown(void)
{
	cn_engine_free(engine);
	cn_cache_free(cache);
}

static void make_question(const char *name, uint16_t type, cn_question_t *q)
{
	memset(q, 0, sizeof(*q));
	q->id = 0x4242;
	q->flags = CN_FLAG_RD;
	dname(name, q->qname);
	q->qname_len = cn_dname_len(q->qname);
	q->qtype = type;
	q->qclass = CN_CLASS_IN;
	q->edns = true;
	q->udp_size = 1232;
}

static bool is_dead(const char *addr)
{
	for (int i = 0; i < 4 && dead_servers[i]; i++)
		if (strcmp(dead_servers[i], addr) == 0)
			return true;
	return false;
}

/* Run a resolution to the end against the fake tree. Returns the final state. */
static cn_state_t run(cn_request_t *req, cn_state_t st)
{
	uint8_t reply[4096];
	for (int guard = 0; st == CN_PRODUCE && guard < 100; guard++) {
		cn_upstream_query_t up;
		ck_assert_int_eq(cn_resolve_produce(req, &up), 0);
		char addr[64], qn[CN_DNAME_STR_MAX], tn[16];
		inet_ntop(AF_INET, &((struct sockaddr_in *)&up.addr)->sin_addr, addr, sizeof(addr));
		cn_msg_t q;
		ck_assert_int_eq(cn_msg_parse_query(up.wire, up.len, &q), 0);
		ck_assert(!(q.flags & CN_FLAG_RD) == !up.forward); /* RD=1 to forwarders only */
		ck_assert(q.edns.present);
		uint8_t lower[CN_DNAME_MAX];
		cn_dname_copy(lower, q.qname);
		cn_dname_lower(lower);
		cn_dname_to_str(lower, qn, sizeof(qn));
		size_t l = strlen(sent_log);
		snprintf(sent_log + l, sizeof(sent_log) - l, "%s %s %s\n", addr, qn,
			 cn_type_to_str(q.qtype, tn, sizeof(tn)));
		sent_count++;
		unsigned octet = (unsigned)(ntohl(((struct sockaddr_in *)&up.addr)->sin_addr.s_addr) &
					    0xff);
		if (octet < 16)
			sent_to[octet]++;
		if (q.qtype == CN_TYPE_AAAA)
			sent_aaaa++;
		now.mono_ms += 10;
		if (is_dead(addr) || (octet < 16 && drop_next[octet] && drop_next[octet]--)) {
			now.mono_ms += up.timeout_ms;
			st = cn_resolve_consume(req, CN_UP_TIMEOUT, NULL, 0, up.timeout_ms, now);
			continue;
		}
		bool mixed = false;
		for (size_t i = 0; i < cn_dname_len(q.qname); i++)
			mixed |= q.qname[i] >= 'A' && q.qname[i] <= 'Z';
		bool lowers = false;
		for (int i = 0; i < 4 && lowercase_servers[i]; i++)
			lowers |= strcmp(lowercase_servers[i], addr) == 0;
		if (lowers && mixed) {
			case_events++;
			now.mono_ms += up.timeout_ms;
			st = cn_resolve_consume(req, CN_UP_CASE_MISMATCH, NULL, 0, up.timeout_ms, now);
			continue;
		}
		if (is_recursive(addr)) {
			size_t len = recursive_answer(up.wire, up.len, reply);
			st = cn_resolve_consume(req, CN_UP_REPLY, reply, len, 10, now);
			continue;
		}
		const fzone_t *z = zone_for(addr, q.qname);
		ck_assert_msg(z != NULL, "no zone at %s for %s", addr, qn);
		size_t len = auth_answer(z, up.wire, up.len, reply);
		st = cn_resolve_consume(req, CN_UP_REPLY, reply, len, 10, now);
	}
	return st;
}

/* Resolve (name, type) as a client would: cache first, then a resolution. Returns the
 * parsed reply in *m (arena-backed) and the outcome. */
static cn_outcome_t ask(const char *name, uint16_t type, cn_arena_t *arena, cn_msg_t *m)
{
	cn_question_t q;
	make_question(name, type, &q);
	uint8_t pkt[512], out[65535];
	cn_writer_t w;
	cn_writer_init(&w, pkt, sizeof(pkt), q.id, CN_FLAG_RD);
	cn_writer_question(&w, q.qname, type, CN_CLASS_IN);
	cn_writer_opt(&w, 1232, 0, 0, false, NULL, 0);
	size_t plen = cn_writer_finish(&w);
	struct sockaddr_in client = { .sin_family = AF_INET };
	cn_client_t cl = { .addr = (struct sockaddr *)&client, .tcp = false };
	size_t out_len = 0;
	cn_outcome_t outcome = CN_OUT_MAX;
	cn_question_t parsed;
	cn_state_t st = cn_engine_query(engine, pkt, plen, &cl, now, out, sizeof(out), &out_len,
					&parsed, &outcome);
	if (st == CN_MISS) {
		cn_request_t *req = cn_request_new(engine);
		st = run(req, cn_resolve_begin(req, &parsed, now));
		ck_assert_int_eq(st, CN_DONE);
		out_len = cn_resolve_answer(req, &parsed, now, out, sizeof(out), &outcome);
		cn_request_free(req);
	}
	ck_assert_int_eq(st, CN_DONE);
	ck_assert_int_eq(cn_msg_parse(out, out_len, arena, m), 0);
	ck_assert_uint_eq(m->id, 0x4242);
	ck_assert(m->flags & CN_FLAG_QR);
	ck_assert(m->flags & CN_FLAG_RA);
	ck_assert(!(m->flags & CN_FLAG_AA));
	return outcome;
}

static void assert_a(const cn_msg_t *m, size_t idx, const char *addr)
{
	ck_assert_uint_gt(m->an, idx);
	ck_assert_uint_eq(m->rrs[idx].type, CN_TYPE_A);
	char buf[64];
	inet_ntop(AF_INET, m->rrs[idx].rdata, buf, sizeof(buf));
	ck_assert_str_eq(buf, addr);
}

/* ------------------------------------------------------------------ tests ----------- */

START_TEST(cold_name_walks_the_tree_then_hits_cache)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	assert_a(&m, 0, "127.0.0.10");
	ck_assert_uint_eq(m.rrs[0].ttl, 300);
	/* priming, then QNAME-minimised NS steps, then the full question at the leaf */
	const char *walk = "127.0.0.1 . NS\n"
			   "127.0.0.1 com. NS\n"
			   "127.0.0.2 example.com. NS\n";
	ck_assert_int_eq(strncmp(sent_log, walk, strlen(walk)), 0);
	/* the last query went to one of the two example.com servers */
	ck_assert_ptr_nonnull(strstr(sent_log + strlen(walk), " www.example.com. A\n"));
	ck_assert_uint_eq(sent_count, 4);

	/* 10 s later: from cache, no upstream query, TTL lower */
	now.wall_s += 10;
	unsigned before = sent_count;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_uint_eq(sent_count, before);
	ck_assert_uint_eq(m.rrs[0].ttl, 290);
	cn_arena_deinit(&a);
}
END_TEST

/* A hit in the last 10% of the TTL marks the question for prefetch; the prefetch's own
 * resolution must go upstream (a refresh answered from the entry it refreshes would renew
 * nothing), and its answer replaces the entry with a full TTL. */
START_TEST(prefetch_refreshes_from_upstream)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	now.wall_s += 295; /* 5 s of 300 left */
	cn_question_t q;
	make_question("www.example.com.", CN_TYPE_A, &q);
	uint8_t pkt[512], out[4096];
	cn_writer_t w;
	cn_writer_init(&w, pkt, sizeof(pkt), q.id, CN_FLAG_RD);
	cn_writer_question(&w, q.qname, CN_TYPE_A, CN_CLASS_IN);
	size_t plen = cn_writer_finish(&w), out_len = 0;
	struct sockaddr_in client = { .sin_family = AF_INET };
	cn_client_t cl = { .addr = (struct sockaddr *)&client, .tcp = false };
	cn_outcome_t outcome;
	cn_question_t parsed;
	ck_assert_int_eq(cn_engine_query(engine, pkt, plen, &cl, now, out, sizeof(out), &out_len,
					 &parsed, &outcome),
			 CN_DONE);
	ck_assert(parsed.prefetch);
	unsigned before = sent_count;
	sent_log[0] = '\0';
	cn_request_t *req = cn_request_new(engine);
	ck_assert_int_eq(run(req, cn_resolve_begin(req, &parsed, now)), CN_DONE);
	cn_request_free(req);
	ck_assert_uint_eq(sent_count, before + 1); /* the cut is cached: one query, the leaf */
	ck_assert_ptr_nonnull(strstr(sent_log, " www.example.com. A\n"));
	before = sent_count;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_uint_eq(m.rrs[0].ttl, 300);
	ck_assert_uint_eq(sent_count, before);
	cn_arena_deinit(&a);
}
END_TEST

/* Forward and stub zones: an engine whose example.com. is forwarded (or stubbed) to the
 * given servers. */
static void fwd_engine(bool stub, bool loopback_ok, const char *a1, const char *a2)
{
	cn_engine_free(engine);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.hints = &hint;
	conf.nhints = 1;
	conf.do_ip6 = false;
	/* loopback_ok false: loopback upstreams refused, as by default; the configured
	 * servers are allowed anyway (the fake public tree is not) */
	conf.allow_loopback_upstream = loopback_ok;
	static cn_fwdzone_t z;
	memset(&z, 0, sizeof(z));
	dname("example.com.", z.name);
	z.stub = stub;
	const char *addrs[2] = { a1, a2 };
	for (int i = 0; i < 2 && addrs[i]; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&z.addr[z.naddr++];
		sin->sin_family = AF_INET;
		sin->sin_port = htons(53);
		inet_pton(AF_INET, addrs[i], &sin->sin_addr);
	}
	conf.fwd = &z;
	conf.nfwd = 1;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
}

START_TEST(forward_zone_asks_the_forwarder_the_whole_question)
{
	fwd_engine(false, false, "127.0.0.50", NULL);
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.10");
	/* no priming, no minimisation, no root: one RD=1 query to the forwarder */
	ck_assert_str_eq(sent_log, "127.0.0.50 www.example.com. A\n");
	ck_assert_int_eq(ask("nope.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m.ns, 1); /* the SOA */
	unsigned before = sent_count;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_int_eq(ask("nope.example.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_NEGATIVE);
	ck_assert_uint_eq(sent_count, before);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(forwarder_cannot_answer_for_names_outside_its_zone)
{
	fwd_engine(false, true, "127.0.0.50", NULL);
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	/* away.example.com CNAME host.hoster.net: the forwarder adds a forged address for the
	 * target; cairn keeps the CNAME and resolves host.hoster.net through the public tree */
	ck_assert_int_eq(ask("away.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(m.an, 2);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_CNAME);
	assert_a(&m, 1, "127.0.0.20");
	ck_assert_ptr_nonnull(strstr(sent_log, "127.0.0.50 away.example.com. A\n"));
	ck_assert_ptr_nonnull(strstr(sent_log, "127.0.0.5 host.hoster.net. A\n"));
	ck_assert_int_eq(ask("host.hoster.net.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	assert_a(&m, 0, "127.0.0.20");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(forward_fails_over_to_the_next_forwarder)
{
	fwd_engine(false, false, "127.0.0.51", "127.0.0.50");
	dead_servers[0] = "127.0.0.51";
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.10");
	ck_assert_ptr_nonnull(strstr(sent_log, "127.0.0.50 www.example.com. A\n"));
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(stub_zone_iterates_from_its_servers)
{
	fwd_engine(true, true, "127.0.0.3", NULL); /* ns1.example.com: authoritative */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.10");
	/* RD=0 (run() checks it), straight to the stub's server, not the root */
	ck_assert_str_eq(sent_log, "127.0.0.3 www.example.com. A\n");
	/* a name outside the stub still walks the public tree */
	ck_assert_int_eq(ask("www.wide.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_ptr_nonnull(strstr(sent_log, "127.0.0.1 . NS\n"));
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(nxdomain_with_soa_and_rfc8020_below)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("nope.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m.an, 0);
	ck_assert_uint_eq(m.ns, 1);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_SOA);
	ck_assert_uint_eq(m.rrs[0].ttl, 60); /* min(SOA TTL 3600, MINIMUM 60) */
	unsigned before = sent_count;
	ck_assert_int_eq(ask("deep.below.nope.example.com.", CN_TYPE_AAAA, &a, &m),
			 CN_OUT_CACHE_NEGATIVE);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(sent_count, before);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(nodata_with_soa)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_MX, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	ck_assert_uint_eq(m.an, 0);
	ck_assert_uint_eq(m.ns, 1);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_SOA);
	unsigned before = sent_count;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_MX, &a, &m), CN_OUT_CACHE_NEGATIVE);
	ck_assert_uint_eq(sent_count, before);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(cname_in_zone_and_across_zones)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("alias.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(m.an, 2);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_CNAME);
	assert_a(&m, 1, "127.0.0.10");

	ck_assert_int_eq(ask("away.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(m.an, 2);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_CNAME);
	assert_a(&m, 1, "127.0.0.20");
	/* the whole chain is answered from cache afterwards */
	unsigned before = sent_count;
	ck_assert_int_eq(ask("away.example.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_uint_eq(m.an, 2);
	ck_assert_uint_eq(sent_count, before);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(cname_loop_is_servfail_with_ede)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("loop1.example.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_SERVFAIL);
	ck_assert(m.edns.has_ede);
	ck_assert_uint_le(sent_count, 16);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(glueless_delegation_uses_a_subrequest)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.glueless.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.30");
	ck_assert_ptr_nonnull(strstr(sent_log, "127.0.0.4 hoster.net. NS\n"));
	ck_assert_ptr_nonnull(strstr(sent_log, "127.0.0.5 ns.hoster.net. A\n"));
	ck_assert_ptr_nonnull(strstr(sent_log, "127.0.0.5 www.glueless.com. A\n"));
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(dead_server_is_skipped_then_avoided)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	dead_servers[0] = "127.0.0.3";
	/* whichever is tried first, the answer comes */
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.10");
	/* next name in the zone goes straight to the live server */
	sent_log[0] = 0;
	ck_assert_int_eq(ask("mail.example.com.", CN_TYPE_MX, &a, &m), CN_OUT_RESOLVED);
	ck_assert_str_eq(sent_log, "127.0.0.13 mail.example.com. MX\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(all_servers_dead_gives_servfail_naming_them)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	dead_servers[0] = "127.0.0.3";
	dead_servers[1] = "127.0.0.13";
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert(m.edns.has_ede);
	ck_assert_uint_eq(m.edns.ede_code, CN_EDE_NO_REACHABLE_AUTHORITY);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(loopback_upstream_refused_by_default)
{
	cn_engine_free(engine);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.hints = &hint;
	conf.nhints = 1;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
	cn_question_t q;
	make_question("www.example.com.", CN_TYPE_A, &q);
	cn_request_t *req = cn_request_new(engine);
	ck_assert_int_eq(cn_resolve_begin(req, &q, now), CN_DONE); /* nothing is sent */
	uint8_t out[512];
	cn_outcome_t o;
	size_t len = cn_resolve_answer(req, &q, now, out, sizeof(out), &o);
	ck_assert_int_eq(o, CN_OUT_SERVFAIL);
	ck_assert_uint_gt(len, 12);
	cn_request_free(req);
}
END_TEST

START_TEST(upstream_query_limit)
{
	cn_engine_free(engine);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.hints = &hint;
	conf.nhints = 1;
	conf.allow_loopback_upstream = true;
	conf.do_ip6 = false;
	conf.limits.upstream_queries = 2;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_eq(sent_count, 2);
	ck_assert(m.edns.has_ede);
	cn_engine_stats_t s;
	cn_engine_stats(engine, &s);
	ck_assert_uint_eq(s.limit_upstream, 1);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(dname_synthesises_a_cname)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("host.old.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	ck_assert_uint_eq(m.an, 3);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_DNAME);
	ck_assert_uint_eq(m.rrs[1].type, CN_TYPE_CNAME);
	char target[CN_DNAME_STR_MAX];
	cn_dname_to_str(m.rrs[1].rdata, target, sizeof(target));
	ck_assert_str_eq(target, "host.hoster.net.");
	assert_a(&m, 2, "127.0.0.20");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(dname_overflow_is_yxdomain)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	/* 4 labels of 63 under huge.example.com. would pass 255 octets once substituted */
	ask("ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd."
	    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee."
	    "huge.example.com.", CN_TYPE_A, &a, &m);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_YXDOMAIN);
	cn_arena_deinit(&a);
}
END_TEST

/* An engine like setup()'s with conf changed by the caller. */
static void new_engine(bool ip6)
{
	cn_engine_free(engine);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.hints = &hint;
	conf.nhints = 1;
	conf.allow_loopback_upstream = true;
	conf.do_ip6 = ip6;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
}

START_TEST(cyclic_glueless_delegation_fails_fast_and_is_remembered)
{
	/* B3 (TsuNAME): cyc1.com NS ns.cyc2.com, cyc2.com NS ns.cyc1.com, no glue, 1 s TTLs.
	 * The cycle is found without waiting; then 100 repeats over 60 s are answered from the
	 * failure cache (RFC 9520), whose backoff (2, 4, 8, 16, 32 s) lets at most 4 of them
	 * try again. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	uint64_t t0 = now.mono_ms;
	ck_assert_int_eq(ask("www.cyc1.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert(m.edns.has_ede);
	ck_assert_uint_lt(now.mono_ms - t0, 1000);
	unsigned first = sent_count;
	ck_assert_uint_le(first, 6);
	unsigned attempts = 0;
	for (int i = 0; i < 100; i++) {
		advance_ms(600);
		unsigned before = sent_count;
		ck_assert_int_eq(ask("www.cyc1.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
		ck_assert(m.edns.has_ede);
		if (sent_count > before)
			attempts++;
		else
			ck_assert_uint_eq(m.edns.ede_code, CN_EDE_CACHED_ERROR);
	}
	fprintf(stderr, "cyclic delegation: %u queries for the first answer, %u for 100 repeats "
		"over 60 s (%u attempts)\n", first, sent_count - first, attempts);
	ck_assert_uint_le(attempts, 4);
	ck_assert_uint_le(sent_count - first, 4 * 2);
	cn_engine_stats_t st;
	cn_engine_stats(engine, &st);
	ck_assert_uint_ge(st.failure_answers, 95);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(nxns_names_under_a_nonexistent_name_cost_one_query)
{
	/* B1 (NXNS): 8 glueless NS names under nx.hoster.net, which does not exist. One query
	 * learns that (RFC 8020); no AAAA is asked after NXDOMAIN, and the other names cost
	 * nothing. */
	new_engine(true);
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.nxns.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert(m.edns.has_ede);
	ck_assert_uint_le(sent_to[5], 2); /* hoster.net's server: "nx.hoster.net NS" */
	ck_assert_uint_eq(sent_aaaa, 0);
	ck_assert_uint_le(sent_count, 8);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(child_ns_ttl_never_extends_the_delegation)
{
	/* A5 (ghost domains): com delegates ghost.com for 60 s; the child says its NS set
	 * lives a week. Cached, the child's set is capped at what is left of the delegation,
	 * so once com drops ghost.com and 60 s pass, the name is gone. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.ghost.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.40");
	advance_ms(5000);
	ck_assert_int_eq(ask("ghost.com.", CN_TYPE_NS, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(m.an, 1);
	ck_assert_uint_le(m.rrs[0].ttl, 55);
	cn_cache_entry_t ent;
	uint8_t name[CN_DNAME_MAX], buf[512];
	dname("ghost.com.", name);
	ck_assert_int_eq(cn_cache_lookup(cache, name, cn_dname_len(name), CN_TYPE_NS, CN_CLASS_IN,
					 now.wall_s, CN_LOOKUP_PEEK, &ent, buf, sizeof(buf)), 0);
	ck_assert_uint_le(ent.ttl_left_s, 55);
	zones[1].rrs = com_rrs_revoked;   /* com drops the delegation */
	advance_ms(61000);
	ck_assert_int_eq(ask("www.ghost.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NXDOMAIN);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(dead_servers_are_remembered_then_recover_within_seconds)
{
	/* D1: both example.com servers stop answering. The failure is remembered (RFC 9520:
	 * no query while it lasts, EDE 13), servers silent twice are skipped (one probe a
	 * second among all requests), and once they answer again cairn uses them within a few
	 * seconds. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("mail.example.com.", CN_TYPE_MX, &a, &m), CN_OUT_RESOLVED);
	dead_servers[0] = "127.0.0.3";
	dead_servers[1] = "127.0.0.13";
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_eq(m.edns.ede_code, CN_EDE_NO_REACHABLE_AUTHORITY);
	unsigned before = sent_count;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_eq(m.edns.ede_code, CN_EDE_CACHED_ERROR);
	ck_assert_uint_eq(sent_count, before);
	/* The first request tried each server twice (a timeout is retried, with a longer
	 * timeout); silent twice and quiet for a second, they are dead. Another name in the
	 * zone costs at most one probe, and the zone cut is remembered: a third name costs
	 * nothing. */
	ck_assert_uint_le(before, 4 + 2 * 3); /* CN_ADDR_TRIES queries per address at most */
	ck_assert_int_eq(ask("other.example.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_le(sent_count, before + 1);
	before = sent_count;
	ck_assert_int_eq(ask("third.example.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_eq(sent_count, before);
	cn_engine_stats_t st;
	cn_engine_stats(engine, &st);
	ck_assert_uint_eq(st.zone_failures_cached, 1);
	/* a minute of clients asking every 500 ms: each server gets about a probe a second */
	for (int i = 0; i < 120; i++) {
		advance_ms(500);
		ask("www.example.com.", CN_TYPE_A, &a, &m);
	}
	unsigned probes = sent_to[3] + sent_to[13];
	fprintf(stderr, "dead servers: %u queries to them in 60 s of clients asking\n", probes);
	ck_assert_uint_le(probes, 2 * 60 + 2); /* <= one probe a second per server */
	/* back: answered within seconds */
	dead_servers[0] = dead_servers[1] = NULL;
	unsigned ms = 0;
	while (ask("www.example.com.", CN_TYPE_A, &a, &m) != CN_OUT_RESOLVED) {
		advance_ms(250);
		ms += 250;
		ck_assert_uint_lt(ms, 10000);
	}
	fprintf(stderr, "dead servers: recovered %u ms after they answered again\n", ms);
	ck_assert_uint_le(ms, 3500);
	assert_a(&m, 0, "127.0.0.10");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(case_fallback_is_per_request_then_per_server)
{
	/* A2: a server that does not echo the qname's case (hoster.net's only one). Each
	 * query to it is retried without case mixing by its own request at once; only after
	 * CN_NSEL_CASE_FAILS queries in a row is it asked without case mixing from the start.
	 * The other servers (root, net) keep case mixing. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	lowercase_servers[0] = "127.0.0.5";
	unsigned events[6];
	for (int i = 0; i < 6; i++) {
		char name[64];
		snprintf(name, sizeof(name), "h%d.hoster.net.", i);
		unsigned before = case_events;
		ck_assert_int_eq(ask(i == 0 ? "host.hoster.net." : name, CN_TYPE_A, &a, &m),
				 CN_OUT_RESOLVED);
		ck_assert_uint_eq(CN_RCODE(m.flags), i == 0 ? CN_RCODE_NOERROR : CN_RCODE_NXDOMAIN);
		events[i] = case_events - before;
	}
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(events[i], i < CN_NSEL_CASE_FAILS ? 1 : 0);
	/* root and net still get mixed case */
	cn_question_t q;
	make_question("x.example.net.", CN_TYPE_A, &q);
	cn_request_t *req = cn_request_new(engine);
	ck_assert_int_eq(cn_resolve_begin(req, &q, now), CN_PRODUCE);
	cn_upstream_query_t up;
	ck_assert_int_eq(cn_resolve_produce(req, &up), 0);
	bool upper = false;
	for (size_t i = 12; i < up.len; i++)
		upper |= up.wire[i] >= 'A' && up.wire[i] <= 'Z';
	ck_assert(upper);
	cn_request_free(req);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lost_queries_are_retried_with_longer_timeouts)
{
	/* D1: both example.com servers lose the next query (or are slow once). With every
	 * address tried, those that only timed out are asked again (timeouts doubled by
	 * nsel), within the request's limits: the client gets the answer, not SERVFAIL. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("mail.example.com.", CN_TYPE_MX, &a, &m), CN_OUT_RESOLVED);
	drop_next[3] = drop_next[13] = 1;
	unsigned before = sent_count;
	uint64_t t0 = now.mono_ms;
	ck_assert_int_eq(ask("www.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.10");
	ck_assert_uint_eq(sent_count - before, 3);
	ck_assert_uint_lt(now.mono_ms - t0, 3000); /* within the client deadline */
	/* a server lost for good: at most CN_ADDR_TRIES (3) queries each, then SERVFAIL */
	drop_next[3] = drop_next[13] = 100;
	before = sent_count;
	ck_assert_int_eq(ask("nope.example.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_le(sent_count - before, 6);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(zone_cut_with_many_ns_names_is_used_from_cache)
{
	/* 30 NS names: more than a frame keeps (13). The cached NS set is still a zone cut:
	 * a second name under it goes straight to its servers, not to com again. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("nope.wide.com.", CN_TYPE_MX, &a, &m), CN_OUT_RESOLVED);
	unsigned com = sent_to[2];
	sent_log[0] = 0;
	ck_assert_int_eq(ask("b.wide.com.", CN_TYPE_TXT, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(sent_to[2], com);
	ck_assert_str_eq(sent_log, "127.0.0.7 b.wide.com. TXT\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(priming_answered_with_a_cname_fails_cleanly)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&hint.addr[0];
	inet_pton(AF_INET, "127.0.0.99", &sin->sin_addr);
	cn_engine_free(engine);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.hints = &hint;
	conf.nhints = 1;
	conf.allow_loopback_upstream = true;
	conf.do_ip6 = false;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	/* priming fails (the answer is bogus), the hints are used as they are; the bogus
	 * server then answers for everything: whatever it says, the request ends cleanly */
	cn_outcome_t o = ask("www.example.com.", CN_TYPE_A, &a, &m);
	ck_assert(o == CN_OUT_RESOLVED || o == CN_OUT_SERVFAIL);
	ck_assert_uint_le(sent_count, 8);
	cn_arena_deinit(&a);
}
END_TEST

/* ================================================================================== */
/* ------------------------------------ issue 11: last resort and classification ---- */
/*
 * A tree of its own under a root at 127.0.0.150 (TCase "last_resort"): the TLD lr. and
 * below it one zone per scripted misbehaviour. Each test asserts the answer and the exact
 * upstream queries.
 */
static const frr_t lr_root_rrs[] = {
	{ ".", CN_TYPE_SOA, 86400, "" },
	{ ".", CN_TYPE_NS, 86400, "a.root.lr." },
	{ "a.root.lr.", CN_TYPE_A, 86400, "127.0.0.150" },
	{ "lr.", CN_TYPE_NS, 86400, "ns.lr." },
	{ "ns.lr.", CN_TYPE_A, 86400, "127.0.0.151" },
	{ NULL, 0, 0, NULL },
};
/* a root whose ". NS" answer carries no address for its own server */
static const frr_t lr_noglue_root_rrs[] = {
	{ ".", CN_TYPE_SOA, 86400, "" },
	{ ".", CN_TYPE_NS, 86400, "a.root.lr." },
	{ "lr.", CN_TYPE_NS, 86400, "ns.lr." },
	{ "ns.lr.", CN_TYPE_A, 86400, "127.0.0.151" },
	{ NULL, 0, 0, NULL },
};
static const frr_t lr_tld_rrs[] = {
	{ "lr.", CN_TYPE_SOA, 900, "" },
	{ "lr.", CN_TYPE_NS, 86400, "ns.lr." },
	{ "ns.lr.", CN_TYPE_A, 86400, "127.0.0.151" },
	/* glue that lives 60 s, delegations that live an hour */
	{ "exp.lr.", CN_TYPE_NS, 3600, "ns.exp.lr." },
	{ "ns.exp.lr.", CN_TYPE_A, 60, "127.0.0.152" },
	{ "cnm.lr.", CN_TYPE_NS, 3600, "ns.cnm.lr." },
	{ "ns.cnm.lr.", CN_TYPE_A, 60, "127.0.0.153" },
	/* the parent's glue is right; the child's own A for its server is not */
	{ "pg.lr.", CN_TYPE_NS, 3600, "ns.pg.lr." },
	{ "ns.pg.lr.", CN_TYPE_A, 3600, "127.0.0.154" },
	{ "up.lr.", CN_TYPE_NS, 3600, "ns1.up.lr." },
	{ "up.lr.", CN_TYPE_NS, 3600, "ns2.up.lr." },
	{ "ns1.up.lr.", CN_TYPE_A, 3600, "127.0.0.155" },
	{ "ns2.up.lr.", CN_TYPE_A, 3600, "127.0.0.156" },
	{ "par.lr.", CN_TYPE_NS, 3600, "ns.par.lr." },
	{ "ns.par.lr.", CN_TYPE_A, 3600, "127.0.0.157" },
	{ "gl.lr.", CN_TYPE_NS, 3600, "alias.cnm.lr." },
	/* an in-zone NS name and no glue at all */
	{ "lame.lr.", CN_TYPE_NS, 3600, "ns.lame.lr." },
	{ NULL, 0, 0, NULL },
};
static const frr_t lr_exp_rrs[] = {
	{ "exp.lr.", CN_TYPE_SOA, 3600, "" },
	{ "exp.lr.", CN_TYPE_NS, 3600, "ns.exp.lr." },
	{ "ns.exp.lr.", CN_TYPE_A, 60, "127.0.0.152" },
	{ "www.exp.lr.", CN_TYPE_A, 30, "127.0.0.160" },
	{ NULL, 0, 0, NULL },
};
/* its NS name is an alias (RFC 2181 10.3 says it must not be; zones do it) */
static const frr_t lr_cnm_rrs[] = {
	{ "cnm.lr.", CN_TYPE_SOA, 3600, "" },
	{ "cnm.lr.", CN_TYPE_NS, 3600, "ns.cnm.lr." },
	{ "ns.cnm.lr.", CN_TYPE_CNAME, 3600, "host.cnm.lr." },
	{ "host.cnm.lr.", CN_TYPE_A, 3600, "127.0.0.153" },
	{ "www.cnm.lr.", CN_TYPE_A, 30, "127.0.0.161" },
	{ "alias.cnm.lr.", CN_TYPE_CNAME, 3600, "host.cnm.lr." },
	{ NULL, 0, 0, NULL },
};
/* served by cnm.lr's server too; its only NS name is an alias in cnm.lr, without glue */
static const frr_t lr_gl_rrs[] = {
	{ "gl.lr.", CN_TYPE_SOA, 3600, "" },
	{ "gl.lr.", CN_TYPE_NS, 3600, "alias.cnm.lr." },
	{ "www.gl.lr.", CN_TYPE_A, 300, "127.0.0.165" },
	{ NULL, 0, 0, NULL },
};
static const frr_t lr_pg_rrs[] = {
	{ "pg.lr.", CN_TYPE_SOA, 3600, "" },
	{ "pg.lr.", CN_TYPE_NS, 3600, "ns.pg.lr." },
	{ "ns.pg.lr.", CN_TYPE_A, 3600, "127.0.0.159" }, /* renumbered, never answers */
	{ "www.pg.lr.", CN_TYPE_A, 300, "127.0.0.162" },
	{ NULL, 0, 0, NULL },
};
static const frr_t lr_up_rrs[] = {
	{ "up.lr.", CN_TYPE_SOA, 3600, "" },
	{ "up.lr.", CN_TYPE_NS, 3600, "ns1.up.lr." },
	{ "up.lr.", CN_TYPE_NS, 3600, "ns2.up.lr." },
	{ "ns1.up.lr.", CN_TYPE_A, 3600, "127.0.0.155" },
	{ "ns2.up.lr.", CN_TYPE_A, 3600, "127.0.0.156" },
	{ "www.up.lr.", CN_TYPE_A, 300, "127.0.0.163" },
	{ NULL, 0, 0, NULL },
};
/* what the upward-referring server sends for every question: back to lr. */
static const frr_t lr_upward_rrs[] = {
	{ "lr.", CN_TYPE_NS, 86400, "ns.lr." },
	{ "ns.lr.", CN_TYPE_A, 86400, "127.0.0.151" },
	{ NULL, 0, 0, NULL },
};
static const frr_t lr_par_rrs[] = {
	{ "par.lr.", CN_TYPE_SOA, 3600, "" },
	{ "par.lr.", CN_TYPE_NS, 3600, "ns.par.lr." },
	{ "ns.par.lr.", CN_TYPE_A, 3600, "127.0.0.157" },
	{ "kid.par.lr.", CN_TYPE_NS, 3600, "ns.kid.par.lr." },
	{ "ns.kid.par.lr.", CN_TYPE_A, 3600, "127.0.0.158" },
	{ NULL, 0, 0, NULL },
};
static const frr_t lr_kid_rrs[] = {
	{ "kid.par.lr.", CN_TYPE_SOA, 3600, "" },
	{ "kid.par.lr.", CN_TYPE_NS, 3600, "ns.kid.par.lr." },
	{ "ns.kid.par.lr.", CN_TYPE_A, 3600, "127.0.0.158" },
	{ "www.kid.par.lr.", CN_TYPE_A, 300, "127.0.0.164" },
	{ NULL, 0, 0, NULL },
};

static const fzone_t lr_zones[] = {
	{ ".", { "127.0.0.150" }, lr_root_rrs },
	{ ".", { "127.0.0.149" }, lr_noglue_root_rrs },
	{ "lr.", { "127.0.0.151" }, lr_tld_rrs },
	{ "exp.lr.", { "127.0.0.152" }, lr_exp_rrs },
	{ "cnm.lr.", { "127.0.0.153" }, lr_cnm_rrs },
	{ "gl.lr.", { "127.0.0.153" }, lr_gl_rrs },
	{ "pg.lr.", { "127.0.0.154" }, lr_pg_rrs },
	{ "up.lr.", { "127.0.0.155" }, lr_upward_rrs }, /* upward referrals (lr_scripted) */
	{ "up.lr.", { "127.0.0.156" }, lr_up_rrs },
	{ "par.lr.", { "127.0.0.157" }, lr_par_rrs },   /* AA on referrals (lr_scripted) */
	{ "kid.par.lr.", { "127.0.0.158" }, lr_kid_rrs },
};

/* The misbehaving servers: 127.0.0.155 answers every question with an upward referral
 * (AA, no answer, no SOA, lr.'s NS set); 127.0.0.157 sets AA on its referrals, as a server
 * authoritative for parent and child may. */
static size_t lr_scripted(const fzone_t *z, const cn_msg_t *q, uint8_t *out)
{
	if (z->rrs == lr_par_rrs) {
		size_t len = auth_build(z, q, out);
		if (!(expect_flags & CN_FLAG_AA)) { /* a referral: auth_build sets AA otherwise */
			expect_flags |= CN_FLAG_AA;
			cn_wire_put16(out + 2, expect_flags);
		}
		return len;
	}
	if (z->rrs != lr_upward_rrs)
		return 0;
	cn_writer_t w;
	cn_writer_init(&w, out, 4096, q->id, CN_FLAG_QR);
	cn_writer_question(&w, q->qname, q->qtype, q->qclass);
	set_flags(&w, CN_FLAG_QR | CN_FLAG_AA);
	for (const frr_t *rr = z->rrs; rr->owner; rr++)
		if (rr->type == CN_TYPE_NS)
			add_rr(&w, CN_SECTION_AUTHORITY, rr);
	for (const frr_t *rr = z->rrs; rr->owner; rr++)
		if (rr->type == CN_TYPE_A)
			add_rr(&w, CN_SECTION_ADDITIONAL, rr);
	return cn_writer_finish(&w);
}

/* An engine whose only root hint is a.root.lr at addr. */
static void lr_engine(const char *addr)
{
	memset(&hint, 0, sizeof(hint));
	dname("a.root.lr.", hint.name);
	struct sockaddr_in *sin = (struct sockaddr_in *)&hint.addr[0];
	sin->sin_family = AF_INET;
	sin->sin_port = htons(53);
	inet_pton(AF_INET, addr, &sin->sin_addr);
	hint.naddr = 1;
	new_engine(false);
}

/* The server at fast answered in 1 ms; the one at slow timed out once a moment ago
 * (failing, not dead). fast is chosen first whatever the random source says (no
 * tie, and no exploration: that needs two servers that are not failing), slow next. */
static void lr_order(const char *fast, const char *slow)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(53);
	inet_pton(AF_INET, fast, &sin->sin_addr);
	cn__nsel_report_rtt(engine->nsel, &ss, 1, now.mono_ms);
	inet_pton(AF_INET, slow, &sin->sin_addr);
	cn__nsel_report_error(engine->nsel, &ss, CN_NSEL_TIMEOUT, now.mono_ms);
}

static void lr_setup(void)
{
	setup();
	extra_zones = lr_zones;
	n_extra_zones = sizeof(lr_zones) / sizeof(lr_zones[0]);
	scripted_reply = lr_scripted;
	lr_engine("127.0.0.150");
}

START_TEST(lr_root_without_glue_falls_back_to_the_hints)
{
	/* 1a: priming answers ". NS a.root.lr." with no address for it (the name is inside
	 * the root zone, so no query can find one). The hints' address is used. */
	lr_engine("127.0.0.149");
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.pg.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.162");
	ck_assert_str_eq(sent_log, "127.0.0.149 . NS\n"
				   "127.0.0.149 lr. NS\n"
				   "127.0.0.151 pg.lr. NS\n"
				   "127.0.0.154 www.pg.lr. A\n");
	/* the root set from the cache still has no address: the hints at once, no priming */
	sent_log[0] = 0;
	ck_assert_int_eq(ask(".", CN_TYPE_SOA, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	ck_assert_uint_eq(m.an, 1);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_SOA);
	ck_assert_str_eq(sent_log, "127.0.0.149 . SOA\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_expired_glue_found_through_a_cached_cname)
{
	/* 1b, cache: the glue of ns.cnm.lr lives 60 s; the child says ns.cnm.lr is a CNAME
	 * to host.cnm.lr, which a client asked for (both cached for an hour). Once the glue
	 * expires, the address is found through the cached CNAME: no query for it. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("ns.cnm.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(m.an, 2);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_CNAME);
	assert_a(&m, 1, "127.0.0.153");
	advance_ms(61000);
	sent_log[0] = 0;
	ck_assert_int_eq(ask("www.cnm.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.161");
	ck_assert_str_eq(sent_log, "127.0.0.153 www.cnm.lr. A\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_glueless_ns_name_that_is_an_alias)
{
	/* 1b, cache, for a glueless NS name: gl.lr NS alias.cnm.lr, a CNAME to host.cnm.lr.
	 * The sub-request for its address ends at the CNAME's target; the NS name gets that
	 * address through the CNAME it cached. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.gl.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.165");
	ck_assert_str_eq(sent_log, "127.0.0.150 . NS\n"
				   "127.0.0.150 lr. NS\n"
				   "127.0.0.151 gl.lr. NS\n"
				   "127.0.0.151 cnm.lr. NS\n"
				   "127.0.0.153 alias.cnm.lr. A\n"
				   "127.0.0.153 host.cnm.lr. A\n"
				   "127.0.0.153 www.gl.lr. A\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_expired_glue_is_fetched_again_from_the_parent)
{
	/* 1b, parent: the delegation exp.lr NS ns.exp.lr lives an hour, its glue 60 s. After
	 * 61 s nothing in the cache has an address for ns.exp.lr (inside the zone it serves):
	 * lr. is asked for the delegation again, and its fresh glue used. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.exp.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.160");
	advance_ms(61000);
	sent_log[0] = 0;
	ck_assert_int_eq(ask("www.exp.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.160");
	ck_assert_str_eq(sent_log, "127.0.0.151 exp.lr. NS\n"
				   "127.0.0.152 www.exp.lr. A\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_expired_glue_below_a_stub_zone_asks_the_stub_servers)
{
	/* 1b under a stub zone (lr. at 127.0.0.151): the parent asked again is the stub's
	 * configured server, never the public tree above it (the root at .150). */
	cn_engine_free(engine);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.hints = &hint;
	conf.nhints = 1;
	conf.do_ip6 = false;
	conf.allow_loopback_upstream = true;
	static cn_fwdzone_t z;
	memset(&z, 0, sizeof(z));
	dname("lr.", z.name);
	z.stub = true;
	struct sockaddr_in *sin = (struct sockaddr_in *)&z.addr[z.naddr++];
	sin->sin_family = AF_INET;
	sin->sin_port = htons(53);
	inet_pton(AF_INET, "127.0.0.151", &sin->sin_addr);
	conf.fwd = &z;
	conf.nfwd = 1;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0);
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	const char *walk = "127.0.0.151 exp.lr. NS\n"
			   "127.0.0.152 www.exp.lr. A\n";
	ck_assert_int_eq(ask("www.exp.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.160");
	ck_assert_str_eq(sent_log, walk);
	advance_ms(61000);
	sent_log[0] = 0;
	ck_assert_int_eq(ask("www.exp.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.160");
	ck_assert_str_eq(sent_log, walk);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_delegation_without_glue_is_asked_again_once_then_remembered)
{
	/* The bound of 1b: lame.lr NS ns.lame.lr with no glue anywhere. A delegation that
	 * just came is not asked again; one from the cache is, once per request; a zone that
	 * still has no address is remembered as failing (RFC 9520) and costs nothing more. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.lame.lr.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_str_eq(sent_log, "127.0.0.150 . NS\n"
				   "127.0.0.150 lr. NS\n"
				   "127.0.0.151 lame.lr. NS\n");
	advance_ms(5000); /* past servfail_ttl: the question and the zone may be tried again */
	sent_log[0] = 0;
	ck_assert_int_eq(ask("www.lame.lr.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_str_eq(sent_log, "127.0.0.151 lame.lr. NS\n");
	sent_log[0] = 0;
	ck_assert_int_eq(ask("other.lame.lr.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_eq(m.edns.ede_code, CN_EDE_NO_REACHABLE_AUTHORITY);
	ck_assert_str_eq(sent_log, "");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_last_resort_counts_against_the_query_budget)
{
	/* The parent asked again is an ordinary query: with limits.upstream_queries 1, that
	 * one query is all the request makes; the resolution fails on the limit and the
	 * client gets the stale answer (RFC 8767) instead of a fresh one. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.exp.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	cn_engine_free(engine);
	cn_engine_conf_t conf;
	cn_engine_conf_default(&conf);
	conf.dnssec.enabled = false; /* an unsigned scripted tree */
	conf.random = fake_random;
	conf.hints = &hint;
	conf.nhints = 1;
	conf.do_ip6 = false;
	conf.allow_loopback_upstream = true;
	conf.limits.upstream_queries = 1;
	ck_assert_int_eq(cn_engine_new(&conf, cache, &engine), 0); /* same cache */
	advance_ms(61000);
	sent_log[0] = 0;
	ck_assert_int_eq(ask("www.exp.lr.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_STALE);
	ck_assert_str_eq(sent_log, "127.0.0.151 exp.lr. NS\n");
	cn_engine_stats_t st;
	cn_engine_stats(engine, &st);
	ck_assert_uint_eq(st.limit_upstream, 1);
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_parent_glue_when_the_childs_address_fails)
{
	/* 1c: lr. gives ns.pg.lr A 127.0.0.154 (right); pg.lr itself says 127.0.0.159 (dead),
	 * and its authoritative answer outranks the glue in the cache. When .59 fails, the
	 * parent's address, kept apart, is tried: one timeout, then the answer. */
	dead_servers[0] = "127.0.0.159";
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("ns.pg.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.159");
	sent_log[0] = 0;
	ck_assert_int_eq(ask("www.pg.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.162");
	ck_assert_str_eq(sent_log, "127.0.0.159 www.pg.lr. A\n"
				   "127.0.0.154 www.pg.lr. A\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_referral_with_aa_is_a_referral)
{
	/* 2: par.lr's server sets AA on its referral to kid.par.lr (NS in AUTHORITY, no SOA,
	 * no answer). It is a referral all the same, not an authoritative NODATA. */
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.kid.par.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.164");
	ck_assert_str_eq(sent_log, "127.0.0.150 . NS\n"
				   "127.0.0.150 lr. NS\n"
				   "127.0.0.151 par.lr. NS\n"
				   "127.0.0.157 kid.par.lr. NS\n"
				   "127.0.0.158 www.kid.par.lr. A\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_upward_referral_with_aa_is_lame)
{
	/* 2: ns1.up.lr (asked first: lr_order) answers with AA, no answer, no SOA and
	 * lr.'s NS set: an upward referral. It is lame, not a NODATA; ns2 answers. */
	lr_order("127.0.0.155", "127.0.0.156");
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("www.up.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	assert_a(&m, 0, "127.0.0.163");
	ck_assert_str_eq(sent_log, "127.0.0.150 . NS\n"
				   "127.0.0.150 lr. NS\n"
				   "127.0.0.151 up.lr. NS\n"
				   "127.0.0.155 www.up.lr. A\n"
				   "127.0.0.156 www.up.lr. A\n");
	cn_arena_deinit(&a);
}
END_TEST

START_TEST(lr_upward_referral_to_a_minimised_question_is_lame)
{
	/* 2, minimised: the same reply to "b.up.lr NS" is no NODATA either. b.up.lr does not
	 * exist (ns2 says so); taking .55's reply as NODATA would end in NOERROR from .55.
	 * Relaxed minimisation (RFC 9156 2.3) may ask .55 the full question once first. */
	lr_order("127.0.0.155", "127.0.0.156");
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("a.b.up.lr.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	const char *walk = "127.0.0.150 . NS\n"
			   "127.0.0.150 lr. NS\n"
			   "127.0.0.151 up.lr. NS\n";
	ck_assert_int_eq(strncmp(sent_log, walk, strlen(walk)), 0);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m.an, 0);
	const char *first = "127.0.0.155 b.up.lr. NS\n";
	const char *rest = sent_log + strlen(walk);
	ck_assert_int_eq(strncmp(rest, first, strlen(first)), 0);
	rest += strlen(first);
	ck_assert(strcmp(rest, "127.0.0.156 b.up.lr. NS\n") == 0 ||
		  strcmp(rest, "127.0.0.156 a.b.up.lr. A\n") == 0 ||
		  strcmp(rest, "127.0.0.155 a.b.up.lr. A\n127.0.0.156 a.b.up.lr. A\n") == 0);
	cn_arena_deinit(&a);
}
END_TEST

static Suite *resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	suite_add_tcase(s, issue11_tcase()); /* at the end of this file */
	TCase *tc = tcase_create("replay");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cold_name_walks_the_tree_then_hits_cache);
	tcase_add_test(tc, prefetch_refreshes_from_upstream);
	tcase_add_test(tc, forward_zone_asks_the_forwarder_the_whole_question);
	tcase_add_test(tc, forwarder_cannot_answer_for_names_outside_its_zone);
	tcase_add_test(tc, forward_fails_over_to_the_next_forwarder);
	tcase_add_test(tc, stub_zone_iterates_from_its_servers);
	tcase_add_test(tc, nxdomain_with_soa_and_rfc8020_below);
	tcase_add_test(tc, nodata_with_soa);
	tcase_add_test(tc, cname_in_zone_and_across_zones);
	tcase_add_test(tc, cname_loop_is_servfail_with_ede);
	tcase_add_test(tc, glueless_delegation_uses_a_subrequest);
	tcase_add_test(tc, dead_server_is_skipped_then_avoided);
	tcase_add_test(tc, all_servers_dead_gives_servfail_naming_them);
	tcase_add_test(tc, loopback_upstream_refused_by_default);
	tcase_add_test(tc, upstream_query_limit);
	tcase_add_test(tc, dname_synthesises_a_cname);
	tcase_add_test(tc, dname_overflow_is_yxdomain);
	tcase_add_test(tc, priming_answered_with_a_cname_fails_cleanly);
	tcase_add_test(tc, cyclic_glueless_delegation_fails_fast_and_is_remembered);
	tcase_add_test(tc, nxns_names_under_a_nonexistent_name_cost_one_query);
	tcase_add_test(tc, child_ns_ttl_never_extends_the_delegation);
	tcase_add_test(tc, dead_servers_are_remembered_then_recover_within_seconds);
	tcase_add_test(tc, case_fallback_is_per_request_then_per_server);
	tcase_add_test(tc, lost_queries_are_retried_with_longer_timeouts);
	tcase_add_test(tc, zone_cut_with_many_ns_names_is_used_from_cache);
	suite_add_tcase(s, tc);
	/* issue 11: last resort and classification */
	TCase *lr = tcase_create("last_resort");
	tcase_add_checked_fixture(lr, lr_setup, teardown); /* setup clears the hooks */
	tcase_set_timeout(lr, 30);
	tcase_add_test(lr, lr_root_without_glue_falls_back_to_the_hints);
	tcase_add_test(lr, lr_expired_glue_found_through_a_cached_cname);
	tcase_add_test(lr, lr_glueless_ns_name_that_is_an_alias);
	tcase_add_test(lr, lr_expired_glue_is_fetched_again_from_the_parent);
	tcase_add_test(lr, lr_expired_glue_below_a_stub_zone_asks_the_stub_servers);
	tcase_add_test(lr, lr_delegation_without_glue_is_asked_again_once_then_remembered);
	tcase_add_test(lr, lr_last_resort_counts_against_the_query_budget);
	tcase_add_test(lr, lr_parent_glue_when_the_childs_address_fails);
	tcase_add_test(lr, lr_referral_with_aa_is_a_referral);
	tcase_add_test(lr, lr_upward_referral_with_aa_is_lame);
	tcase_add_test(lr, lr_upward_referral_to_a_minimised_question_is_lame);
	suite_add_tcase(s, lr);
	return s;
}

int main(void)
{
	return cn_test_run(resolve_suite());
}

/* ==================================================================================
 * issue 11: minimisation, hygiene, DNAME
 *
 * Scripted misbehaviours beside the plain authoritative servers above: qm.com
 * (127.0.0.21) answers minimised NS queries with neither a referral nor proof (RFC 9156
 * 2.3); hyg.com (127.0.0.22) holds duplicate records (RFC 2181 5) and a DNAME that a chain
 * passes twice; com delegates hyg.com with its NS record and glue each given twice. The
 * DNAME cache tests (RFC 6672 3.4) use example.com's old.example.com DNAME hoster.net.
 * ================================================================================== */

static const frr_t b_com_rrs[] = {
	{ "com.", CN_TYPE_SOA, 900, "" },
	{ "com.", CN_TYPE_NS, 86400, "a.gtld.com." },
	{ "a.gtld.com.", CN_TYPE_A, 86400, "127.0.0.2" },
	{ "example.com.", CN_TYPE_NS, 3600, "ns1.example.com." },
	{ "example.com.", CN_TYPE_NS, 3600, "ns2.example.com." },
	{ "ns1.example.com.", CN_TYPE_A, 3600, "127.0.0.3" },
	{ "ns2.example.com.", CN_TYPE_A, 3600, "127.0.0.13" },
	{ "qm.com.", CN_TYPE_NS, 3600, "ns.qm.com." },
	{ "ns.qm.com.", CN_TYPE_A, 3600, "127.0.0.21" },
	/* the same NS record twice, and its glue twice */
	{ "hyg.com.", CN_TYPE_NS, 3600, "ns.hyg.com." },
	{ "hyg.com.", CN_TYPE_NS, 3600, "ns.hyg.com." },
	{ "ns.hyg.com.", CN_TYPE_A, 3600, "127.0.0.22" },
	{ "ns.hyg.com.", CN_TYPE_A, 3600, "127.0.0.22" },
	{ NULL, 0, 0, NULL },
};
static const frr_t qm_rrs[] = {
	{ "qm.com.", CN_TYPE_SOA, 3600, "" },
	{ "qm.com.", CN_TYPE_NS, 3600, "ns.qm.com." },
	{ "ns.qm.com.", CN_TYPE_A, 3600, "127.0.0.21" },
	{ "www.sub.qm.com.", CN_TYPE_A, 300, "127.0.0.50" },
	{ NULL, 0, 0, NULL },
};
static const frr_t hyg_rrs[] = {
	{ "hyg.com.", CN_TYPE_SOA, 3600, "" },
	{ "hyg.com.", CN_TYPE_NS, 3600, "ns.hyg.com." },
	{ "ns.hyg.com.", CN_TYPE_A, 3600, "127.0.0.22" },
	{ "www.hyg.com.", CN_TYPE_A, 300, "127.0.0.60" },
	{ "www.hyg.com.", CN_TYPE_A, 300, "127.0.0.60" },
	{ "dup.hyg.com.", CN_TYPE_CNAME, 300, "www.hyg.com." },
	{ "dup.hyg.com.", CN_TYPE_CNAME, 300, "www.hyg.com." },
	{ "dn.hyg.com.", CN_TYPE_DNAME, 300, "t.hyg.com." },
	{ "x.t.hyg.com.", CN_TYPE_CNAME, 300, "y.dn.hyg.com." },
	{ "x2.t.hyg.com.", CN_TYPE_CNAME, 300, "y.dn.hyg.com." },
	{ "y.t.hyg.com.", CN_TYPE_A, 300, "127.0.0.61" },
	{ NULL, 0, 0, NULL },
};
static const fzone_t b_zones[] = {
	{ "qm.com.", { "127.0.0.21" }, qm_rrs },
	{ "hyg.com.", { "127.0.0.22" }, hyg_rrs },
};

/* What qm.com's server does with a question for a name below its apex. */
typedef enum qm_quirk {
	QM_EMPTY,   /* minimised NS query: an entirely empty reply, AA=0 */
	QM_APEX_NS, /* minimised NS query: AA=0, no SOA, the zone's own NS in AUTHORITY */
	QM_LAME,    /* every question: an entirely empty reply, AA=0 (the full one too) */
} qm_quirk_t;
static qm_quirk_t qm_quirk;

/* The one-reply chain: x2.dn.hyg.com. A answered with the whole chain, through the DNAME
 * twice (a server that follows CNAMEs inside its zone, as RFC 1034 4.3.2 lets it). */
static const frr_t x2_chain[] = {
	{ "dn.hyg.com.", CN_TYPE_DNAME, 300, "t.hyg.com." },
	{ "x2.dn.hyg.com.", CN_TYPE_CNAME, 300, "x2.t.hyg.com." },
	{ "x2.t.hyg.com.", CN_TYPE_CNAME, 300, "y.dn.hyg.com." },
	{ "y.dn.hyg.com.", CN_TYPE_CNAME, 300, "y.t.hyg.com." },
	{ "y.t.hyg.com.", CN_TYPE_A, 300, "127.0.0.61" },
	{ NULL, 0, 0, NULL },
};

static size_t b_reply(const fzone_t *z, const cn_msg_t *q, uint8_t *out)
{
	uint8_t apex[CN_DNAME_MAX], x2[CN_DNAME_MAX];
	dname(z->apex, apex);
	dname("x2.dn.hyg.com.", x2);
	bool below = !cn_dname_eq(q->qname, apex);
	bool qm = strcmp(z->apex, "qm.com.") == 0 && below &&
		  (qm_quirk == QM_LAME || q->qtype == CN_TYPE_NS);
	bool chain = cn_dname_eq(q->qname, x2) && q->qtype == CN_TYPE_A;
	if (!qm && !chain)
		return 0;
	cn_writer_t w;
	cn_writer_init(&w, out, 4096, q->id, CN_FLAG_QR);
	expect_flags = CN_FLAG_QR;
	cn_writer_question(&w, q->qname, q->qtype, q->qclass);
	if (qm && qm_quirk == QM_APEX_NS)
		add_rr(&w, CN_SECTION_AUTHORITY, &z->rrs[1]);
	if (chain) {
		set_flags(&w, CN_FLAG_QR | CN_FLAG_AA);
		for (const frr_t *rr = x2_chain; rr->owner; rr++)
			add_rr(&w, CN_SECTION_ANSWER, rr);
	}
	return cn_writer_finish(&w);
}

static void b_setup(void)
{
	setup();
	zones[1].rrs = b_com_rrs;
	extra_zones = b_zones;
	n_extra_zones = sizeof(b_zones) / sizeof(b_zones[0]);
	scripted_reply = b_reply;
	qm_quirk = QM_EMPTY;
}

/* The type and presentation form of answer record i. */
static void assert_rr(const cn_msg_t *m, size_t i, uint16_t type, const char *owner,
		      const char *data)
{
	ck_assert_uint_gt(m->an, i);
	const cn_rr_t *rr = &m->rrs[i];
	ck_assert_uint_eq(rr->type, type);
	char o[CN_DNAME_STR_MAX], d[CN_DNAME_STR_MAX];
	cn_dname_to_str(rr->owner, o, sizeof(o));
	ck_assert_str_eq(o, owner);
	if (type == CN_TYPE_A)
		inet_ntop(AF_INET, rr->rdata, d, sizeof(d));
	else
		cn_dname_to_str(rr->rdata, d, sizeof(d));
	ck_assert_str_eq(d, data);
}

/* How many records the cache holds in the RRset (name, type); -1 when none. */
static long cached_count(const char *name, uint16_t type)
{
	static uint8_t buf[CN_VALUE_MAX];
	uint8_t n[CN_DNAME_MAX];
	dname(name, n);
	cn_cache_entry_t ent;
	if (cn_cache_lookup(cache, n, cn_dname_len(n), type, CN_CLASS_IN, now.wall_s,
			    CN_LOOKUP_PEEK, &ent, buf, sizeof(buf)) != 0 ||
	    ent.kind != CN_CACHE_RRSET)
		return -1;
	cn_rdata_ref_t refs[16];
	size_t count;
	ck_assert_int_eq(cn__value_decode_rrset_first(buf, ent.data_len, refs, 16, &count), 0);
	return (long)count;
}

static const char *qm_walk = "127.0.0.1 . NS\n"
			     "127.0.0.1 com. NS\n"
			     "127.0.0.2 qm.com. NS\n"
			     "127.0.0.21 sub.qm.com. NS\n"
			     "127.0.0.21 www.sub.qm.com. A\n";

/* Behaviour 3 (RFC 9156 2.3, relaxed): the minimised step sub.qm.com. NS is answered
 * with an entirely empty, non-authoritative reply; the full question goes to the same
 * server, which answers it. */
START_TEST(qmin_empty_reply_asks_the_full_question)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	qm_quirk = QM_EMPTY;
	ck_assert_int_eq(ask("www.sub.qm.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	ck_assert_uint_eq(m.an, 1);
	assert_a(&m, 0, "127.0.0.50");
	ck_assert_str_eq(sent_log, qm_walk);
	cn_arena_deinit(&a);
}
END_TEST

/* ... and with a SOA-less NODATA naming the zone's own NS (AA=0). */
START_TEST(qmin_soa_less_nodata_asks_the_full_question)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	qm_quirk = QM_APEX_NS;
	ck_assert_int_eq(ask("www.sub.qm.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	ck_assert_uint_eq(m.an, 1);
	assert_a(&m, 0, "127.0.0.50");
	ck_assert_str_eq(sent_log, qm_walk);
	cn_arena_deinit(&a);
}
END_TEST

/* A server that answers the full question the same way is lame after that one more
 * query: SERVFAIL, nothing further asked, and nothing cached as an answer. */
START_TEST(qmin_relaxed_server_lame_for_the_full_question_too)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	qm_quirk = QM_LAME;
	ck_assert_int_eq(ask("www.sub.qm.com.", CN_TYPE_A, &a, &m), CN_OUT_SERVFAIL);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_SERVFAIL);
	ck_assert_str_eq(sent_log, qm_walk);
	ck_assert_int_eq(cached_count("www.sub.qm.com.", CN_TYPE_A), -1);
	cn_arena_deinit(&a);
}
END_TEST

/* Behaviour 4 (RFC 2181 5): two equal CNAME records are one CNAME, two equal A records one
 * A; the referral's NS record and glue, each given twice, are one of each in the cache. */
START_TEST(duplicate_records_from_upstream_collapse_into_one)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("dup.hyg.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	ck_assert_uint_eq(m.an, 2);
	assert_rr(&m, 0, CN_TYPE_CNAME, "dup.hyg.com.", "www.hyg.com.");
	assert_rr(&m, 1, CN_TYPE_A, "www.hyg.com.", "127.0.0.60");
	ck_assert_str_eq(sent_log, "127.0.0.1 . NS\n"
				   "127.0.0.1 com. NS\n"
				   "127.0.0.2 hyg.com. NS\n"
				   "127.0.0.22 dup.hyg.com. A\n"
				   "127.0.0.22 www.hyg.com. A\n");
	ck_assert_int_eq(cached_count("dup.hyg.com.", CN_TYPE_CNAME), 1);
	ck_assert_int_eq(cached_count("www.hyg.com.", CN_TYPE_A), 1);
	ck_assert_int_eq(cached_count("hyg.com.", CN_TYPE_NS), 1);
	ck_assert_int_eq(cached_count("ns.hyg.com.", CN_TYPE_A), 1);
	/* from cache: the same single records, no query */
	unsigned before = sent_count;
	ck_assert_int_eq(ask("dup.hyg.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_uint_eq(m.an, 2);
	ck_assert_int_eq(ask("www.hyg.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_uint_eq(m.an, 1);
	ck_assert_uint_eq(sent_count, before);
	cn_arena_deinit(&a);
}
END_TEST

/* Count the answer records of type at owner. */
static unsigned count_rr(const cn_msg_t *m, uint16_t type, const char *owner)
{
	uint8_t o[CN_DNAME_MAX];
	dname(owner, o);
	unsigned n = 0;
	for (size_t i = 0; i < m->an; i++)
		n += m->rrs[i].type == type && cn_dname_eq(m->rrs[i].owner, o);
	return n;
}

/* The chain x.dn -> (DNAME) x.t -> (CNAME) y.dn -> (DNAME) y.t passes dn.hyg.com. DNAME
 * twice, in two replies: the answer carries it once. The second pass comes from the
 * cached DNAME (behaviour 5): y.dn.hyg.com. is never asked. */
START_TEST(dname_passed_twice_across_replies_is_answered_once)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("x.dn.hyg.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	ck_assert_uint_eq(m.an, 5);
	assert_rr(&m, 0, CN_TYPE_DNAME, "dn.hyg.com.", "t.hyg.com.");
	assert_rr(&m, 1, CN_TYPE_CNAME, "x.dn.hyg.com.", "x.t.hyg.com.");
	assert_rr(&m, 2, CN_TYPE_CNAME, "x.t.hyg.com.", "y.dn.hyg.com.");
	assert_rr(&m, 3, CN_TYPE_CNAME, "y.dn.hyg.com.", "y.t.hyg.com.");
	assert_rr(&m, 4, CN_TYPE_A, "y.t.hyg.com.", "127.0.0.61");
	ck_assert_uint_eq(count_rr(&m, CN_TYPE_DNAME, "dn.hyg.com."), 1);
	ck_assert_str_eq(sent_log, "127.0.0.1 . NS\n"
				   "127.0.0.1 com. NS\n"
				   "127.0.0.2 hyg.com. NS\n"
				   "127.0.0.22 dn.hyg.com. NS\n"
				   "127.0.0.22 x.dn.hyg.com. A\n"
				   "127.0.0.22 t.hyg.com. NS\n"
				   "127.0.0.22 x.t.hyg.com. A\n"
				   "127.0.0.22 y.t.hyg.com. A\n");
	/* the whole chain from cache: the DNAME once there too */
	unsigned before = sent_count;
	ck_assert_int_eq(ask("x.dn.hyg.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_uint_eq(sent_count, before);
	ck_assert_uint_eq(m.an, 5);
	ck_assert_uint_eq(count_rr(&m, CN_TYPE_DNAME, "dn.hyg.com."), 1);
	cn_arena_deinit(&a);
}
END_TEST

/* The same chain inside one reply (x2.dn.hyg.com. A): the DNAME once. */
START_TEST(dname_passed_twice_in_one_reply_is_answered_once)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask("x2.dn.hyg.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NOERROR);
	ck_assert_uint_eq(m.an, 5);
	assert_rr(&m, 0, CN_TYPE_DNAME, "dn.hyg.com.", "t.hyg.com.");
	assert_rr(&m, 1, CN_TYPE_CNAME, "x2.dn.hyg.com.", "x2.t.hyg.com.");
	assert_rr(&m, 2, CN_TYPE_CNAME, "x2.t.hyg.com.", "y.dn.hyg.com.");
	assert_rr(&m, 3, CN_TYPE_CNAME, "y.dn.hyg.com.", "y.t.hyg.com.");
	assert_rr(&m, 4, CN_TYPE_A, "y.t.hyg.com.", "127.0.0.61");
	ck_assert_str_eq(sent_log, "127.0.0.1 . NS\n"
				   "127.0.0.1 com. NS\n"
				   "127.0.0.2 hyg.com. NS\n"
				   "127.0.0.22 dn.hyg.com. NS\n"
				   "127.0.0.22 x2.dn.hyg.com. A\n");
	cn_arena_deinit(&a);
}
END_TEST

static const char *host_old = "host.old.example.com.";

/* Behaviour 5 (RFC 6672 3.4): once old.example.com. DNAME hoster.net. is cached, the same
 * question is a cache hit (the CNAME synthesised from the cached DNAME), and a name under
 * it never seen before is resolved at hoster.net's server only. */
START_TEST(cached_dname_synthesises_without_asking_the_owner_zone)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	ck_assert_int_eq(ask(host_old, CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_uint_eq(m.an, 3);
	now.wall_s += 10;
	unsigned before = sent_count;
	ck_assert_int_eq(ask(host_old, CN_TYPE_A, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_uint_eq(sent_count, before);
	ck_assert_uint_eq(m.an, 3);
	assert_rr(&m, 0, CN_TYPE_DNAME, "old.example.com.", "hoster.net.");
	assert_rr(&m, 1, CN_TYPE_CNAME, host_old, "host.hoster.net.");
	assert_rr(&m, 2, CN_TYPE_A, "host.hoster.net.", "127.0.0.20");
	ck_assert_uint_eq(m.rrs[0].ttl, 290); /* the DNAME's TTL left, the CNAME's too */
	ck_assert_uint_eq(m.rrs[1].ttl, 290);
	ck_assert_uint_eq(m.rrs[2].ttl, 50);

	/* a new name under the DNAME: one query, to hoster.net's server */
	sent_log[0] = 0;
	ck_assert_int_eq(ask("other.old.example.com.", CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_str_eq(sent_log, "127.0.0.5 other.hoster.net. A\n");
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m.an, 2);
	assert_rr(&m, 0, CN_TYPE_DNAME, "old.example.com.", "hoster.net.");
	assert_rr(&m, 1, CN_TYPE_CNAME, "other.old.example.com.", "other.hoster.net.");
	ck_assert_uint_eq(m.ns, 1);
	ck_assert_uint_eq(m.rrs[2].type, CN_TYPE_SOA);

	/* qtype CNAME: the synthesised CNAME is the answer, from cache */
	before = sent_count;
	ck_assert_int_eq(ask("c.old.example.com.", CN_TYPE_CNAME, &a, &m), CN_OUT_CACHE_POSITIVE);
	ck_assert_uint_eq(sent_count, before);
	ck_assert_uint_eq(m.an, 2);
	assert_rr(&m, 1, CN_TYPE_CNAME, "c.old.example.com.", "c.hoster.net.");

	/* expired DNAME: the owner's zone is asked again */
	now.wall_s += 300;
	sent_log[0] = 0;
	ck_assert_int_eq(ask(host_old, CN_TYPE_A, &a, &m), CN_OUT_RESOLVED);
	ck_assert_ptr_nonnull(strstr(sent_log, " host.old.example.com. A\n"));
	ck_assert_uint_eq(m.an, 3);
	cn_arena_deinit(&a);
}
END_TEST

/* A cached DNAME whose substitution would pass 255 octets: YXDOMAIN from cache, with the
 * DNAME (RFC 6672 2.2), no query. */
START_TEST(cached_dname_overflow_is_yxdomain_from_cache)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	/* a short name under huge.example.com. resolves (NXDOMAIN at com) and caches the DNAME */
	ask("a.huge.example.com.", CN_TYPE_A, &a, &m);
	ck_assert_uint_eq(count_rr(&m, CN_TYPE_DNAME, "huge.example.com."), 1);
	unsigned before = sent_count;
	ck_assert_int_eq(ask("ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd."
			     "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee."
			     "huge.example.com.", CN_TYPE_A, &a, &m), CN_OUT_CACHE_NEGATIVE);
	ck_assert_uint_eq(sent_count, before);
	ck_assert_uint_eq(CN_RCODE(m.flags), CN_RCODE_YXDOMAIN);
	ck_assert_uint_eq(m.an, 1);
	ck_assert_uint_eq(m.rrs[0].type, CN_TYPE_DNAME);
	cn_arena_deinit(&a);
}
END_TEST

static TCase *issue11_tcase(void)
{
	TCase *tc = tcase_create("issue11");
	tcase_add_checked_fixture(tc, b_setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, qmin_empty_reply_asks_the_full_question);
	tcase_add_test(tc, qmin_soa_less_nodata_asks_the_full_question);
	tcase_add_test(tc, qmin_relaxed_server_lame_for_the_full_question_too);
	tcase_add_test(tc, duplicate_records_from_upstream_collapse_into_one);
	tcase_add_test(tc, dname_passed_twice_across_replies_is_answered_once);
	tcase_add_test(tc, dname_passed_twice_in_one_reply_is_answered_once);
	tcase_add_test(tc, cached_dname_synthesises_without_asking_the_owner_zone);
	tcase_add_test(tc, cached_dname_overflow_is_yxdomain_from_cache);
	return tc;
}
