/*
 * One step of RFC 1034 5.3.3, for the frame on top of the stack: the next query to the
 * server the zone cut chose (QNAME-minimised, RFC 9156; 0x20 case; EDNS), and what to do
 * with a reply once classify.c has said what it is — move the cut down, take one label
 * more, follow a CNAME/DNAME chain, record the answer, or call the server lame. What is
 * cached goes through scrub.c; r->cacheable collects whether the answer may be.
 */
#include <stdio.h>
#include <string.h>

#include "resolver/errors.h"
#include "resolver/internal.h"

/* ------------------------------------------------------------------ the query ------- */

/* Randomise the letter case of a name (0x20, draft-vixie-dnsext-dns0x20). Length octets
 * are <= 63, below every letter, so testing for letters skips them. */
static void mix_case(cn_request_t *r, uint8_t *name)
{
	uint8_t bits[CN_DNAME_MAX / 8 + 1];
	r->e->conf.random(bits, sizeof(bits));
	size_t len = cn_dname_len(name);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i] | 0x20;
		if (c >= 'a' && c <= 'z')
			name[i] = (bits[i / 8] >> (i % 8)) & 1 ? (uint8_t)(c & ~0x20) : c;
	}
}

/* Is name known not to be a zone cut? An earlier minimised step cached NODATA for
 * (name, NS): an empty non-terminal, or a name with data but no delegation. */
static bool known_not_cut(cn_request_t *r, const uint8_t *name, uint64_t now_s)
{
	cn_cache_entry_t ent;
	return cn_cache_lookup(r->cache, name, cn_dname_len(name), CN_TYPE_NS, CN_CLASS_IN,
			       now_s, CN_LOOKUP_PEEK, &ent, r->scratch, CN_SCRATCH_LEN) == 0 &&
	       ent.kind == CN_CACHE_NODATA;
}

/* Is the frame's cut a forward zone (recursive servers, RD=1)? */
static bool forwarding(const cn_frame_t *f)
{
	return f->configured == CN_CUT_CFG_FORWARD;
}

/* What to ask next: the full question, or (RFC 9156) one label more than the cut —
 * skipping labels already known not to be cuts, so names under one empty non-terminal
 * (x.w.example, y.w.example) do not each ask w.example NS again. */
static void next_question(cn_request_t *r, cn_frame_t *f, uint64_t now_s)
{
	int nl = cn_dname_labels(f->name);
	bool qmin = r->e->conf.qname_minimisation && !f->qmin_off && f->type != CN_TYPE_DS &&
		    !forwarding(f); /* a recursive forwarder gets the whole question */
	while (qmin && f->qmin_labels < nl &&
	       known_not_cut(r, cn_dname_skip(f->name, nl - f->qmin_labels), now_s))
		f->qmin_labels++;
	if (qmin && f->qmin_labels < nl) {
		cn_dname_copy(f->sent_name, cn_dname_skip(f->name, nl - f->qmin_labels));
		f->sent_type = CN_TYPE_NS;
		return;
	}
	cn_dname_copy(f->sent_name, f->name);
	f->sent_type = f->type;
}

cn_state_t cn__iterate_query(cn_request_t *r, cn_frame_t *f, cn_time_t now)
{
	const cn_ns_addr_t *ad = &f->ns[f->cur_ns].addr[f->cur_addr];
	struct sockaddr_storage ss;
	cn__zonecut_addr_ss(ad, &ss);
	cn_nsel_info_t info;
	cn__nsel_info(r->e->nsel, &ss, now.mono_ms, &info);
	next_question(r, f, now.wall_s);
	uint8_t qname[CN_DNAME_MAX];
	cn_dname_copy(qname, f->sent_name);
	bool fwd = forwarding(f);
	/* 0x20 is for authoritative servers: c-ares matches a forwarder's reply without case */
	if (r->e->conf.use_0x20 && !info.no_0x20 && !ad->no_0x20 && !fwd)
		mix_case(r, qname);
	cn_writer_t w;
	int ret = cn_writer_init(&w, r->qbuf, sizeof(r->qbuf), 0, fwd ? CN_FLAG_RD : 0);
	if (ret == 0)
		ret = cn_writer_question(&w, qname, f->sent_type, CN_CLASS_IN);
	r->sent_edns = !info.no_edns;
	if (ret == 0 && r->sent_edns)
		ret = cn_writer_opt(&w, r->e->conf.edns_udp_size, 0, 0,
				    __atomic_load_n(&r->e->conf.dnssec.enabled, __ATOMIC_RELAXED),
				    NULL, 0); /* DO=1: RRSIGs and denial proofs (RFC 4035 4.1) */
	if (ret != 0)
		return cn__resolve_fail(r, CN_EDE_OTHER, "could not build an upstream query",
					CN_FAIL_NOCACHE, 0);
	r->qlen = cn_writer_finish(&w);
	memset(&r->up, 0, sizeof(r->up));
	r->up.addr = ss;
	r->up.addr_len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						      : sizeof(struct sockaddr_in6);
	r->up.wire = r->qbuf;
	r->up.len = r->qlen;
	r->up.timeout_ms = info.timeout_ms;
	r->up.forward = fwd;
	r->upstream++;
	if (f->cut < CN_CUT_ASKED)
		f->cut = CN_CUT_ASKED;
	CN_STAT_INC(r->e, upstream_queries);
	if (__atomic_load_n(&r->e->conf.log_level, __ATOMIC_RELAXED) >= 3) { /* reloads change it */
		char n[CN_DNAME_STR_MAX], a[64], t[16];
		cn__resolve_name_str(qname, n, sizeof(n));
		cn__resolve_addr_str(&ss, a, sizeof(a));
		cn__log(r->e, 3, "query %s %s -> %s (timeout %u ms)", n,
			cn_type_to_str(f->sent_type, t, sizeof(t)), a, info.timeout_ms);
	}
	return CN_PRODUCE;
}

/* ------------------------------------------------------------------ endings --------- */

/* A negative end of the frame (NXDOMAIN or NODATA for name, proven): cached, and for
 * frame 0 the result, its SOA's TTL no more than its MINIMUM (RFC 2308 5). */
/* The DNSSEC records that go with an answer's RRset or a denial, into the value cached
 * and, for frame 0, the result. */
typedef struct sec_set {
	const cn_rr_t *rr[CN_VALUE_EXTRAS_MAX];
	size_t n;
} sec_set_t;

static void sec_gather(const cn_request_t *r, const cn_msg_t *m, const cn_frame_t *f,
		       const uint8_t *owner,
		       uint16_t type, bool proofs, sec_set_t *x)
{
	x->n = 0;
	if (!__atomic_load_n(&r->e->conf.dnssec.enabled, __ATOMIC_RELAXED))
		return; /* validation off: queries went with DO=0, what came unasked is dropped */
	if (owner)
		x->n = cn__scrub_dnssec(m, CN_SECTION_ANSWER, owner, type, NULL, x->rr,
					CN_VALUE_EXTRAS_MAX);
	if (proofs) /* a denial, or the NSECs proving a wildcard answer's expansion */
		x->n += cn__scrub_dnssec(m, CN_SECTION_AUTHORITY, NULL, 0, f->zone, x->rr + x->n,
					 CN_VALUE_EXTRAS_MAX - x->n);
}

static int sec_keep(cn_request_t *r, const sec_set_t *x)
{
	for (size_t i = 0; r->depth == 1 && i < x->n; i++)
		if (cn__resolve_sec_add(r, x->rr[i]) < 0)
			return -1;
	return 0;
}

static cn_iter_t final_negative(cn_request_t *r, cn_frame_t *f, const cn_msg_t *m,
				const uint8_t *name, bool nxdomain, cn_rank_t rank, uint64_t now_s)
{
	const cn_rr_t *soa = cn__scrub_soa(m, f->zone, name);
	sec_set_t x;
	sec_gather(r, m, f, NULL, 0, true, &x);
	r->cacheable &= cn__scrub_store_negative_sec(r, name, f->type, nxdomain, soa, x.rr, x.n,
						     0, UINT32_MAX, rank, now_s);
	f->nxdomain = nxdomain && cn_dname_eq(name, f->name);
	if (sec_keep(r, &x) < 0)
		return CN_ITER_FAIL;
	if (r->depth == 1) {
		r->result.rcode = nxdomain ? CN_RCODE_NXDOMAIN : CN_RCODE_NOERROR;
		if (soa && cn__resolve_keep_rr(r, soa, &r->result.soa) == 0) {
			uint32_t minimum;
			r->result.has_soa = true;
			if (cn_rdata_soa_minimum(soa->rdata, soa->rdlen, &minimum) == 0 &&
			    minimum < r->result.soa.ttl)
				r->result.soa.ttl = minimum;
		}
	}
	return CN_ITER_DONE;
}

/* Restart frame 0 (or a sub-request) at a new target after a CNAME/DNAME, or where the
 * chain left the zone; the restart was counted when the CNAME was followed. */
static cn_iter_t restart(cn_request_t *r, cn_frame_t *f, const uint8_t *target, cn_time_t now)
{
	if (f->kind == CN_FRAME_PRIMING)
		return CN_ITER_BAD; /* ". NS" answered with a CNAME or DNAME: a bogus root */
	uint8_t name[CN_DNAME_MAX];
	cn_dname_copy(name, target);
	cn__resolve_frame_init(f, f->kind, name, f->type, f->parent_ns);
	if (r->depth == 1 && !r->q.prefetch && cn__resolve_from_cache(r, f, r->validate, now))
		return CN_ITER_DONE; /* a prefetch refreshes the whole chain */
	return CN_ITER_CONTINUE;
}

/* The RRset asked for, at name: cached (an apex NS set no longer than its delegation:
 * ghost domains), and for frame 0 the result. */
static cn_iter_t on_answer(cn_request_t *r, cn_frame_t *f, const cn_msg_t *m,
			   const uint8_t *name, cn_rank_t rank, cn_time_t now)
{
	static _Thread_local const cn_rr_t *set[CN_ANSWER_MAX_RRS];
	/* C6: the whole RRset is counted, however large (gathering stops at its max) */
	size_t n = cn__scrub_rrset(m, CN_SECTION_ANSWER, name, f->type, NULL, SIZE_MAX);
	if (n > r->e->conf.limits.rrset_records || n > CN_ANSWER_MAX_RRS) {
		cn__resolve_note(r, "RRset of %zu records, more than limits.rrset_records %u", n,
				 r->e->conf.limits.rrset_records);
		return CN_ITER_FAIL;
	}
	n = cn__scrub_rrset(m, CN_SECTION_ANSWER, name, f->type, set, CN_ANSWER_MAX_RRS);
	uint32_t cap = UINT32_MAX;
	if (f->type == CN_TYPE_NS && cn_dname_eq(name, f->zone))
		cap = cn__zonecut_ttl_left(r, f, now.wall_s);
	sec_set_t x;
	sec_gather(r, m, f, name, f->type, true, &x);
	if (cap > 0)
		r->cacheable &= cn__scrub_store_rrset_sec(r, set, n, x.rr, x.n, 0, rank, cap,
							  now.wall_s);
	else
		r->cacheable = false;
	if (sec_keep(r, &x) < 0)
		return CN_ITER_FAIL;
	if (f->type == CN_TYPE_NS)
		r->cacheable &= cn__scrub_store_glue(r, f, m, set, n, now.wall_s);
	if (r->depth == 1) {
		size_t chain = r->result.nan; /* the set is unique (scrub); not yet in the chain */
		for (size_t i = 0; i < n; i++) {
			int ret = cn__resolve_result_add_new(r, set[i], chain);
			if (ret < 0)
				return CN_ITER_FAIL;
			if (ret > 0)
				continue;
			cn_rr_t *kept = &r->result.an[r->result.nan - 1];
			if (kept->ttl > cap)
				kept->ttl = cap;
		}
		r->result.rcode = CN_RCODE_NOERROR;
	}
	return CN_ITER_DONE;
}

/* ------------------------------------------------------------------ chains ---------- */

/* A DNAME d above name: *next = the substituted name, with the CNAME cairn synthesises
 * (RFC 6672 3.1, TTL of the DNAME) in the result; a name too long is YXDOMAIN (2.2). */
static cn_iter_t on_dname(cn_request_t *r, const cn_msg_t *m, const cn_frame_t *f,
			  const cn_rr_t *d, const uint8_t *name, uint8_t *next, cn_rank_t rank,
			  uint64_t now_s)
{
	/* the DNAME is cached either way: it answers other names below it (RFC 6672 3.4) */
	const cn_rr_t *one[1] = { d };
	sec_set_t x;
	sec_gather(r, m, f, d->owner, CN_TYPE_DNAME, false, &x);
	bool stored = cn__scrub_store_rrset_sec(r, one, 1, x.rr, x.n, 0, rank, UINT32_MAX,
						now_s);
	if (sec_keep(r, &x) < 0)
		return CN_ITER_FAIL;
	if (cn_dname_subst(name, d->owner, d->rdata, next) != 0) {
		if (r->depth == 1) {
			r->result.rcode = CN_RCODE_YXDOMAIN;
			if (cn__resolve_result_add_new(r, d, r->result.nan) < 0)
				return CN_ITER_FAIL;
		}
		r->cacheable = false;
		return CN_ITER_DONE;
	}
	r->cacheable &= stored;
	if (r->depth == 1) {
		cn_rr_t syn = { .owner = name, .rdata = next, .ttl = d->ttl,
				.type = CN_TYPE_CNAME, .rclass = CN_CLASS_IN,
				.rdlen = (uint16_t)cn_dname_len(next),
				.section = CN_SECTION_ANSWER };
		size_t chain = r->result.nan; /* a chain may pass one DNAME twice: once in
						  the answer */
		if (cn__resolve_result_add_new(r, d, chain) < 0 ||
		    cn__resolve_result_add_new(r, &syn, chain) < 0)
			return CN_ITER_FAIL;
	}
	return CN_ITER_FOLLOW;
}

/* A CNAME at name: *next = its target. */
static cn_iter_t on_cname(cn_request_t *r, const cn_msg_t *m, const cn_frame_t *f,
			  const cn_rr_t *c, uint8_t *next, cn_rank_t rank, uint64_t now_s)
{
	const cn_rr_t *one[1] = { c };
	sec_set_t x;
	sec_gather(r, m, f, c->owner, CN_TYPE_CNAME, true, &x); /* a wildcard CNAME's proof */
	r->cacheable &= cn__scrub_store_rrset_sec(r, one, 1, x.rr, x.n, 0, rank, UINT32_MAX,
						  now_s);
	if (sec_keep(r, &x) < 0)
		return CN_ITER_FAIL;
	if (cn_dname_check(c->rdata, c->rdlen) <= 0)
		return CN_ITER_BAD;
	cn_dname_copy(next, c->rdata);
	if (r->depth == 1 && cn__resolve_result_add_new(r, c, r->result.nan) < 0)
		return CN_ITER_FAIL;
	return CN_ITER_FOLLOW;
}

/* May the chain go on from name to next? (cname_chain limit, loops) */
static cn_iter_t chain_step(cn_request_t *r, const cn_frame_t *f, const uint8_t *name,
			    const uint8_t *next)
{
	if (f->type == CN_TYPE_CNAME)
		return CN_ITER_DONE;
	if (++r->restarts > r->e->conf.limits.cname_chain) {
		CN_STAT_INC(r->e, limit_cname);
		CN_STAT_INC(r->e, limit_hits);
		cn__resolve_note(r, "CNAME chain longer than %u", r->e->conf.limits.cname_chain);
		return CN_ITER_FAIL;
	}
	if (cn_dname_eq(next, name) || cn__resolve_in_stack(r, next) ||
	    cn_dname_eq(next, r->q.qname)) {
		cn__resolve_note(r, "CNAME loop");
		return CN_ITER_FAIL;
	}
	return CN_ITER_FOLLOW;
}

/* ------------------------------------------------------------------ replies --------- */

/* The reply to the full question (sent_name == target, sent_type == type): walk the
 * CNAME/DNAME chain inside it while it stays in bailiwick. */
static cn_iter_t on_full_answer(cn_request_t *r, cn_frame_t *f, const cn_msg_t *m,
				cn_time_t now)
{
	bool aa = m->flags & CN_FLAG_AA;
	cn_rank_t rank = aa ? CN_RANK_AUTH_ANSWER : CN_RANK_NONAUTH_ANSWER;
	uint8_t name[CN_DNAME_MAX], next[CN_DNAME_MAX];
	cn_dname_copy(name, f->name);
	for (unsigned hops = 0; hops <= r->e->conf.limits.cname_chain; hops++) {
		const cn_rr_t *rr = NULL;
		cn_reply_t kind = cn__classify_name(m, f, name, &rr);
		cn_iter_t it;
		switch (kind) {
		case CN_REPLY_THROWAWAY:
			return restart(r, f, name, now);
		case CN_REPLY_ANSWER:
			return on_answer(r, f, m, name, rank, now);
		case CN_REPLY_DNAME:
			it = on_dname(r, m, f, rr, name, next, rank, now.wall_s);
			break;
		case CN_REPLY_CNAME:
			it = on_cname(r, m, f, rr, next, rank, now.wall_s);
			break;
		case CN_REPLY_NODATA:
		case CN_REPLY_NXDOMAIN:
			/* a forwarder's negative answer is its final word, like its answers */
			return final_negative(r, f, m, name, kind == CN_REPLY_NXDOMAIN,
					      aa ? CN_RANK_AUTH_AUTHORITY
					      : forwarding(f) ? CN_RANK_NONAUTH_ANSWER
							      : CN_RANK_ADDITIONAL,
					      now.wall_s);
		case CN_REPLY_LAME:
		default:
			return CN_ITER_BAD;
		}
		if (it == CN_ITER_FOLLOW)
			it = chain_step(r, f, name, next);
		if (it != CN_ITER_FOLLOW)
			return it;
		cn_dname_copy(name, next);
	}
	cn__resolve_note(r, "CNAME chain longer than %u", r->e->conf.limits.cname_chain);
	return CN_ITER_FAIL;
}

/* The reply to a minimised question (an ancestor of the target, type NS). */
static cn_iter_t on_qmin_answer(cn_request_t *r, cn_frame_t *f, const cn_msg_t *m,
				cn_time_t now)
{
	const cn_rr_t *soa;
	switch (cn__classify_qmin(m, f, &soa)) {
	case CN_REPLY_NXDOMAIN:
		/* RFC 8020: the target, below it, does not exist either */
		r->cacheable &= cn__scrub_store_negative(r, f->sent_name, 0, true, soa,
							 CN_RANK_AUTH_AUTHORITY, now.wall_s);
		return final_negative(r, f, m, f->name, true, CN_RANK_AUTH_AUTHORITY, now.wall_s);
	case CN_REPLY_REFERRAL:
		r->cacheable &= cn__zonecut_follow(r, f, m, CN_SECTION_ANSWER, f->sent_name,
						   CN_RANK_AUTH_ANSWER, now.wall_s);
		return CN_ITER_CONTINUE;
	case CN_REPLY_THROWAWAY:
		f->qmin_off = true; /* ask the full name instead */
		return CN_ITER_CONTINUE;
	case CN_REPLY_NODATA:
		/* One label more. Remembered as NODATA for (name, NS), so the next name below
		 * it skips this step (next_question); it says nothing about the client's
		 * answer, so whether it could be cached does not count against that. */
		if (soa)
			(void)cn__scrub_store_negative(r, f->sent_name, CN_TYPE_NS, false, soa,
						       CN_RANK_AUTH_AUTHORITY, now.wall_s);
		f->qmin_labels++;
		return CN_ITER_CONTINUE;
	case CN_REPLY_LAME:
		/* Neither a referral nor a provable negative (an empty or SOA-less NODATA
		 * without AA): some servers answer only the full question (RFC 9156 2.3;
		 * Knot Resolver's relaxed mode). Ask that before calling the server lame: the
		 * same reply to the full question is (classify_name). One more query at most
		 * per frame, inside the request's query budget. */
		f->qmin_off = true;
		return CN_ITER_CONTINUE;
	default:
		return CN_ITER_BAD;
	}
}

cn_iter_t cn__iterate_reply(cn_request_t *r, cn_frame_t *f, const cn_msg_t *m, cn_time_t now)
{
	const cn_rr_t *ref;
	if (cn__classify_referral(m, f, &ref)) {
		if (forwarding(f)) {
			cn__resolve_note(r, "a forwarder answered with a referral");
			return CN_ITER_BAD; /* it does not recurse for us */
		}
		if (++r->referrals > r->e->conf.limits.referral_depth) {
			CN_STAT_INC(r->e, limit_referral);
			CN_STAT_INC(r->e, limit_hits);
			cn__resolve_note(r, "referral limit (%u) reached",
					 r->e->conf.limits.referral_depth);
			return CN_ITER_FAIL;
		}
		uint8_t owner[CN_DNAME_MAX];
		cn_dname_copy(owner, ref->owner);
		r->cacheable &= cn__zonecut_follow(r, f, m, CN_SECTION_AUTHORITY, owner,
						   CN_RANK_ADDITIONAL, now.wall_s);
		return CN_ITER_CONTINUE;
	}
	if (!cn_dname_eq(f->sent_name, f->name))
		return on_qmin_answer(r, f, m, now);
	if (cn__classify_upward(m, f))
		return CN_ITER_BAD; /* an upward referral: lame, whatever its AA bit says */
	return on_full_answer(r, f, m, now);
}
