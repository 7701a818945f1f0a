/*
 * libFuzzer target for the DNSSEC library (resolver/dnssec*.c, nsec.c, anchors.c): the
 * RDATA parsers, the canonical form and signed data, RRset and DNSKEY validation under a
 * small budget, and every NSEC / NSEC3 proof, on records an attacker chooses.
 *
 * Input: [mode byte][rest]. Mode & 1: the rest is presentation text for the trust-anchor
 * parser. Otherwise the rest is a DNS message (a reply): its question gives qname/qtype,
 * the signer of its first RRSIG the zone, and every record goes through the functions
 * above. The clock is fixed. Nothing must crash, leak or read out of bounds; the budget
 * must bound the work (the fuzzer's -timeout catches a loop).
 */
#include <stdlib.h>
#include <string.h>

#include "resolver/dnssec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1811808000ULL

static void parse_all(const cn_rr_t *rr)
{
	cn_dnskey_t k;
	cn_ds_t d;
	cn_rrsig_t s;
	cn_nsec_t n;
	cn_nsec3_t n3;
	uint8_t canon[CN_MSG_MAX];
	switch (rr->type) {
	case CN_TYPE_DNSKEY:
		(void)cn_dnssec_parse_dnskey(rr->rdata, rr->rdlen, &k);
		break;
	case CN_TYPE_DS:
		(void)cn_dnssec_parse_ds(rr->rdata, rr->rdlen, &d);
		break;
	case CN_TYPE_RRSIG:
		if (cn_dnssec_parse_rrsig(rr->rdata, rr->rdlen, &s) == 0)
			(void)cn_dnssec_check_time(&s, NOW);
		break;
	case CN_TYPE_NSEC:
		if (cn_dnssec_parse_nsec(rr->rdata, rr->rdlen, &n) == 0)
			(void)cn_nsec_covers(rr->owner, &n, rr->owner);
		break;
	case CN_TYPE_NSEC3:
		if (cn_dnssec_parse_nsec3(rr->rdata, rr->rdlen, &n3) == 0) {
			uint8_t h[CN_NSEC3_HASH_LEN];
			if (cn_nsec3_owner_hash(rr->owner, h) == CN_NSEC3_HASH_LEN &&
			    n3.hash_len == CN_NSEC3_HASH_LEN)
				(void)cn_nsec3_covers(h, &n3, h);
		}
		break;
	default:
		break;
	}
	(void)cn_dnssec_canonical_rdata(rr->type, rr->rdata, rr->rdlen, canon);
}

/* Validate each RRset of the answer and authority sections with every DNSKEY present. */
static void verify_all(const cn_msg_t *m, const uint8_t *zone, cn_dnssec_budget_t *b,
		       cn_arena_t *a)
{
	size_t n = m->an + m->ns;
	cn_rr_t *set = cn_arena_alloc(a, (n + 1) * sizeof(*set));
	if (!set)
		return;
	for (size_t i = 0; i < n; i++) {
		if (m->rrs[i].type == CN_TYPE_RRSIG)
			continue;
		size_t k = 0;
		for (size_t j = 0; j < n; j++)
			if (m->rrs[j].type == m->rrs[i].type &&
			    cn_dname_eq(m->rrs[j].owner, m->rrs[i].owner))
				set[k++] = m->rrs[j];
		if (m->rrs[i].type == CN_TYPE_DNSKEY)
			(void)cn_dnssec_verify_dnskeys(set, k, m->rrs, m->an + m->ns + m->ar,
						       m->rrs, m->an + m->ns + m->ar, zone, NOW, b,
						       a);
		(void)cn_dnssec_verify_rrset(set, k, m->rrs, n, m->rrs, m->an + m->ns + m->ar,
					     zone, NOW, b, a, NULL);
	}
}

static void proofs(const cn_msg_t *m, const uint8_t *zone, cn_dnssec_budget_t *b)
{
	const cn_rr_t *r = m->rrs;
	size_t n = m->an + m->ns;
	uint8_t ce[CN_DNAME_MAX];
	(void)cn_nsec_prove_nxdomain(r, n, m->qname, zone, ce);
	(void)cn_nsec_prove_nodata(r, n, m->qname, m->qtype, zone);
	(void)cn_nsec_prove_wildcard(r, n, m->qname, (uint8_t)(m->id & 0x7F));
	(void)cn_nsec_prove_no_ds(r, n, m->qname);
	(void)cn_nsec3_prove_nxdomain(r, n, m->qname, zone, b);
	(void)cn_nsec3_prove_nodata(r, n, m->qname, m->qtype, zone, b);
	(void)cn_nsec3_prove_wildcard(r, n, m->qname, (uint8_t)(m->id & 0x7F), zone, b);
	(void)cn_nsec3_prove_no_ds(r, n, m->qname, zone, b);
}

static void fuzz_message(const uint8_t *data, size_t size)
{
	cn_arena_t a;
	cn_arena_init(&a, 0);
	cn_msg_t m;
	if (cn_msg_parse(data, size, &a, &m) == 0 && m.has_question) {
		const uint8_t *zone = m.qname;
		size_t all = m.an + m.ns + m.ar;
		for (size_t i = 0; i < all; i++) {
			parse_all(&m.rrs[i]);
			cn_rrsig_t s;
			if (zone == m.qname && m.rrs[i].type == CN_TYPE_RRSIG &&
			    cn_dnssec_parse_rrsig(m.rrs[i].rdata, m.rrs[i].rdlen, &s) == 0)
				zone = s.signer;
		}
		/* small caps: a KeyTrap input must stay cheap here too */
		cn_dnssec_budget_t b;
		cn_dnssec_budget_init(&b);
		b.sig_per_rrset = 2;
		b.sig_left = 8;
		b.hash_left = 24;
		b.nsec3_iter_insecure = 10;
		b.nsec3_iter_bogus = 20;
		verify_all(&m, zone, &b, &a);
		proofs(&m, zone, &b);
	}
	cn_arena_deinit(&a);
}

static void fuzz_anchors(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = 0;
	cn_anchor_set_t set = {0};
	char err[256];
	if (cn_anchor_set_add(&set, text, NULL, "fuzz", err, sizeof(err)) == 0) {
		cn_rr_t out[4];
		const uint8_t *zone;
		static const uint8_t name[] = {3, 'w', 'w', 'w', 0};
		(void)cn_anchor_set_find(&set, name, out, 4, &zone);
	}
	cn_anchor_set_free(&set);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_anchors(data + 1, size - 1);
	else
		fuzz_message(data + 1, size - 1);
	return 0;
}
