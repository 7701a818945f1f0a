/*
 * Client answers: the one assembly path for cached and freshly resolved data.
 *
 * cn__answer_from_cache() builds a cn_result_t from the cache (CNAME chain followed through
 * the cache, CNAMEs synthesised from a cached DNAME (RFC 6672 3.4), RFC 2308 negative
 * entries, RFC 8020 "nothing below an NXDOMAIN"), and
 * cn__answer_write() turns any cn_result_t into the client's reply: QR, RA, the client's
 * ID, RD and CD echoed, AA only for hosted data, the question echoed in the client's case,
 * minimal sections (answer only for positive answers, the zone's SOA in AUTHORITY for
 * negative ones), EDNS and an Extended DNS Error when the client sent OPT, and TC=1 when
 * the reply does not fit the client's size limit. The cache values' format (owned by the
 * resolver) is also encoded and decoded here.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "resolver/dnssec.h"
#include "resolver/errors.h"
#include "resolver/internal.h"

/* ------------------------------------------------------------------ cache values ---- */


/* ---- DNSSEC trailer (internal.h) ---- */

int cn__value_add_trailer(uint8_t *out, size_t len, size_t cap, uint8_t state,
			  const cn_rr_t *const *x, size_t nx, size_t *new_len)
{
	*new_len = len;
	if (state == 0 && nx == 0)
		return 0;
	if (nx > 0xffff)
		return -ENOSPC;
	size_t pos = len;
	if (pos + 3 > cap)
		return -ENOSPC;
	out[pos] = state;
	cn_wire_put16(out + pos + 1, (uint16_t)nx);
	pos += 3;
	for (size_t i = 0; i < nx; i++) {
		size_t olen = cn_dname_len(x[i]->owner);
		if (pos + 1 + olen + 5 + x[i]->rdlen > cap)
			return -ENOSPC;
		out[pos] = (uint8_t)olen;
		memcpy(out + pos + 1, x[i]->owner, olen);
		pos += 1 + olen;
		cn_wire_put16(out + pos, x[i]->type);
		out[pos + 2] = (uint8_t)x[i]->section;
		cn_wire_put16(out + pos + 3, x[i]->rdlen);
		memcpy(out + pos + 5, x[i]->rdata, x[i]->rdlen);
		pos += 5 + (size_t)x[i]->rdlen;
	}
	*new_len = pos;
	return 0;
}

int cn__value_trailer(const uint8_t *val, size_t len, size_t body_len, uint8_t *state,
		      cn_rr_t *x, size_t max, size_t *nx)
{
	*state = 0;
	*nx = 0;
	if (body_len == len)
		return 0;
	if (body_len + 3 > len || val[body_len] > CN_DNSSEC_STATE_BOGUS)
		return CN_EMALF;
	*state = val[body_len];
	size_t n = cn_wire_get16(val + body_len + 1), pos = body_len + 3;
	for (size_t i = 0; i < n; i++) {
		if (pos + 1 > len)
			return CN_EMALF;
		size_t olen = val[pos];
		if (pos + 1 + olen + 5 > len || cn_dname_check(val + pos + 1, olen) != (int)olen)
			return CN_EMALF;
		const uint8_t *owner = val + pos + 1;
		pos += 1 + olen;
		uint16_t rdlen = cn_wire_get16(val + pos + 3);
		if (pos + 5 + rdlen > len)
			return CN_EMALF;
		if (x && *nx < max)
			x[(*nx)++] = (cn_rr_t){ .owner = owner, .type = cn_wire_get16(val + pos),
						.rclass = CN_CLASS_IN,
						.section = (cn_section_t)val[pos + 2],
						.rdata = val + pos + 5, .rdlen = rdlen };
		pos += 5 + (size_t)rdlen;
	}
	return pos == len ? 0 : CN_EMALF;
}

static int neg_body_len(const uint8_t *val, size_t len, size_t *body)
{
	if (len < 1)
		return CN_EMALF;
	size_t olen = val[0];
	if (olen == 0) {
		*body = 1;
		return 0;
	}
	if (1 + olen + 2 > len)
		return CN_EMALF;
	*body = 1 + olen + 2 + cn_wire_get16(val + 1 + olen);
	return *body <= len ? 0 : CN_EMALF;
}

int cn__value_body_len(const uint8_t *val, size_t len, bool rrset, size_t *body_len)
{
	if (!rrset)
		return neg_body_len(val, len, body_len);
	if (len < 2)
		return CN_EMALF;
	size_t count = cn_wire_get16(val), pos = 2;
	for (size_t i = 0; i < count; i++) {
		if (pos + 2 > len)
			return CN_EMALF;
		pos += 2 + (size_t)cn_wire_get16(val + pos);
		if (pos > len)
			return CN_EMALF;
	}
	*body_len = pos;
	return 0;
}

/* A value's own part ends at body: the rest is nothing or a well-formed trailer. */
static int trailer_ok(const uint8_t *val, size_t len, size_t body)
{
	uint8_t state;
	size_t nx;
	return cn__value_trailer(val, len, body, &state, NULL, 0, &nx);
}

int cn__value_encode_rrset(const cn_rr_t *const *rrs, size_t n, uint8_t *out, size_t cap)
{
	if (n > 0xffff || cap < 2)
		return -ENOSPC;
	size_t len = 2;
	cn_wire_put16(out, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		if (len + 2 + rrs[i]->rdlen > cap)
			return -ENOSPC;
		cn_wire_put16(out + len, rrs[i]->rdlen);
		memcpy(out + len + 2, rrs[i]->rdata, rrs[i]->rdlen);
		len += 2 + (size_t)rrs[i]->rdlen;
	}
	return (int)len;
}

static int decode_rrset(const uint8_t *val, size_t len, cn_rdata_ref_t *refs, size_t max,
			size_t *n, bool first)
{
	if (len < 2)
		return CN_EMALF;
	size_t count = cn_wire_get16(val), pos = 2;
	if (count > max && !first)
		return CN_EMALF;
	for (size_t i = 0; i < count; i++) {
		if (pos + 2 > len)
			return CN_EMALF;
		uint16_t rdlen = cn_wire_get16(val + pos);
		if (pos + 2 + rdlen > len)
			return CN_EMALF;
		if (i < max) {
			refs[i].rdata = val + pos + 2;
			refs[i].rdlen = rdlen;
		}
		pos += 2 + (size_t)rdlen;
	}
	*n = count < max ? count : max;
	return pos == len ? 0 : trailer_ok(val, len, pos);
}

int cn__value_decode_rrset(const uint8_t *val, size_t len, cn_rdata_ref_t *refs, size_t max,
			   size_t *n)
{
	return decode_rrset(val, len, refs, max, n, false);
}

int cn__value_decode_rrset_first(const uint8_t *val, size_t len, cn_rdata_ref_t *refs,
				 size_t max, size_t *n)
{
	return decode_rrset(val, len, refs, max, n, true);
}

int cn__value_encode_neg(const cn_rr_t *soa, uint8_t *out, size_t cap)
{
	if (!soa) {
		if (cap < 1)
			return -ENOSPC;
		out[0] = 0;
		return 1;
	}
	size_t olen = cn_dname_len(soa->owner);
	size_t len = 1 + olen + 2 + soa->rdlen;
	if (len > cap)
		return -ENOSPC;
	out[0] = (uint8_t)olen;
	memcpy(out + 1, soa->owner, olen);
	cn_wire_put16(out + 1 + olen, soa->rdlen);
	memcpy(out + 3 + olen, soa->rdata, soa->rdlen);
	return (int)len;
}

int cn__value_decode_neg(const uint8_t *val, size_t len, const uint8_t **owner,
			 const uint8_t **rdata, uint16_t *rdlen)
{
	if (len < 1)
		return CN_EMALF;
	size_t olen = val[0];
	if (olen == 0) {
		*owner = NULL;
		*rdata = NULL;
		*rdlen = 0;
		return trailer_ok(val, len, 1);
	}
	if (1 + olen + 2 > len || cn_dname_check(val + 1, olen) != (int)olen)
		return CN_EMALF;
	uint16_t rl = cn_wire_get16(val + 1 + olen);
	if (1 + olen + 2 + rl > len || trailer_ok(val, len, 1 + olen + 2 + rl) != 0)
		return CN_EMALF;
	*owner = val + 1;
	*rdata = val + 3 + olen;
	*rdlen = rl;
	return 0;
}

/* Append one RR's presentation line to buf at *off. */
static int format_rr(const cn_rr_t *rr, char *buf, size_t cap, size_t *off)
{
	int n = cn_rr_to_str(rr, buf + *off, cap - *off);
	if (n < 0 || *off + (size_t)n + 2 > cap)
		return -ENOSPC;
	*off += (size_t)n;
	buf[(*off)++] = '\n';
	buf[*off] = 0;
	return 0;
}

/* The DNSSEC trailer's records, then "; dnssec STATE" when validation judged the value. */
static int format_trailer(const uint8_t *val, size_t len, bool rrset, uint32_t ttl, char *buf,
			  size_t cap, size_t *off)
{
	static const char *const states[] = { "unvalidated", "secure", "insecure", "bogus" };
	size_t body, nx;
	uint8_t state;
	cn_rr_t x[CN_VALUE_EXTRAS_MAX];
	if (cn__value_body_len(val, len, rrset, &body) != 0 ||
	    cn__value_trailer(val, len, body, &state, x, CN_VALUE_EXTRAS_MAX, &nx) != 0)
		return CN_EMALF;
	if (body == len)
		return 0;
	for (size_t i = 0; i < nx; i++) {
		x[i].ttl = ttl;
		if (format_rr(&x[i], buf, cap, off) != 0)
			return -ENOSPC;
	}
	int n = snprintf(buf + *off, cap - *off, "; dnssec %s\n", states[state & 3]);
	if (n < 0 || *off + (size_t)n >= cap)
		return -ENOSPC;
	*off += (size_t)n;
	return 0;
}

int cn_engine_format_value(const uint8_t *owner, uint16_t type, unsigned kind, uint32_t ttl,
			   const uint8_t *val, size_t len, char *buf, size_t cap)
{
	size_t off = 0;
	if (cap == 0)
		return -ENOSPC;
	buf[0] = 0;
	if (kind == CN_CACHE_RRSET) {
		cn_rdata_ref_t refs[CN_ANSWER_MAX_RRS];
		size_t n;
		if (cn__value_decode_rrset(val, len, refs, CN_ANSWER_MAX_RRS, &n) != 0)
			return CN_EMALF;
		for (size_t i = 0; i < n; i++) {
			cn_rr_t rr = { .owner = owner, .rdata = refs[i].rdata, .ttl = ttl,
				       .type = type, .rclass = CN_CLASS_IN, .rdlen = refs[i].rdlen };
			if (format_rr(&rr, buf, cap, &off) != 0)
				return -ENOSPC;
		}
		int ret = format_trailer(val, len, true, ttl, buf, cap, &off);
		return ret < 0 ? ret : (int)off;
	}
	const uint8_t *soa_owner, *rdata;
	uint16_t rdlen;
	if (cn__value_decode_neg(val, len, &soa_owner, &rdata, &rdlen) != 0)
		return CN_EMALF;
	if (soa_owner) {
		cn_rr_t rr = { .owner = soa_owner, .rdata = rdata, .ttl = ttl, .type = CN_TYPE_SOA,
			       .rclass = CN_CLASS_IN, .rdlen = rdlen };
		if (format_rr(&rr, buf, cap, &off) != 0)
			return -ENOSPC;
	}
	int ret = format_trailer(val, len, false, ttl, buf, cap, &off);
	return ret < 0 ? ret : (int)off;
}

/* ------------------------------------------------------------------ replies --------- */

void cn__result_init(cn_result_t *res, cn_rr_t *an, size_t an_cap, cn_rr_t *sec,
		     size_t sec_cap)
{
	memset(res, 0, offsetof(cn_result_t, ede_text));
	res->ede_text[0] = 0;
	res->an = an;
	res->an_cap = an_cap;
	res->sec = sec;
	res->nsec = 0;
	res->sec_cap = sec ? sec_cap : 0;
	res->dnssec = CN_DNSSEC_STATE_INDETERMINATE;
	res->bogus = false;
	res->bogus_ede = 0;
	res->bogus_text[0] = 0;
}

uint16_t cn__client_limit(const cn_question_t *q, uint16_t edns_size)
{
	if (q->tcp)
		return 65535;
	if (!q->edns)
		return 512; /* RFC 1035 4.2.1 */
	uint16_t size = q->udp_size < 512 ? 512 : q->udp_size; /* RFC 6891 6.2.5 */
	return size > edns_size ? edns_size : size;
}

/* The EDE option (RFC 8914 2): code 15, info-code, UTF-8 text. */
static size_t ede_option(uint8_t *buf, size_t cap, uint16_t code, const char *text)
{
	size_t tlen = text ? strnlen(text, CN_EDE_TEXT_MAX) : 0;
	if (4 + 2 + tlen > cap)
		tlen = cap > 6 ? cap - 6 : 0;
	cn_wire_put16(buf, CN_EDNS_OPT_EDE);
	cn_wire_put16(buf + 2, (uint16_t)(2 + tlen));
	cn_wire_put16(buf + 4, code);
	if (tlen)
		memcpy(buf + 6, text, tlen);
	return 6 + tlen;
}

static uint16_t reply_flags(const cn_question_t *q, uint16_t rcode, bool aa)
{
	/* RFC 1035 4.1.1: the opcode is copied into the response (NOTIMP for opcode != 0) */
	uint16_t f = CN_FLAG_QR | CN_FLAG_RA | (q->flags & (0x7800 | CN_FLAG_RD | CN_FLAG_CD));
	if (aa)
		f |= CN_FLAG_AA;
	return f | (rcode & 0xF);
}

/* RFC 6840 5.7 / RFC 4035 3.2.3: AD only on data validation found secure, and only for a
 * client that said it understands it (DO or AD in its query); never on hosted data. */
static uint16_t result_flags(const cn_question_t *q, const cn_result_t *res)
{
	uint16_t f = reply_flags(q, res->rcode, res->aa);
	if (res->dnssec == CN_DNSSEC_STATE_SECURE && !res->aa &&
	    (q->do_bit || (q->flags & CN_FLAG_AD)))
		f |= CN_FLAG_AD;
	return f;
}

/* The DNSSEC records of section sec, for a client that set DO (RFC 4035 3.2.1). */
static int write_sec(cn_writer_t *w, const cn_question_t *q, const cn_result_t *res,
		     cn_section_t sec)
{
	int ret = 0;
	for (size_t i = 0; q->do_bit && ret == 0 && i < res->nsec; i++) {
		const cn_rr_t *rr = &res->sec[i];
		if (rr->section == sec)
			ret = cn_writer_rr(w, sec, rr->owner, rr->type, CN_CLASS_IN, rr->ttl,
					   rr->rdata, rr->rdlen);
	}
	return ret;
}

/* Header + question (+ OPT); used as the truncated form too. */
static int write_start(cn_writer_t *w, const cn_question_t *q, uint16_t rcode, bool aa,
		       uint8_t *out, size_t cap)
{
	int ret = cn_writer_init(w, out, cap, q->id, reply_flags(q, rcode, aa));
	if (ret == 0)
		ret = cn_writer_question(w, q->qname, q->qtype, q->qclass);
	return ret;
}

static int write_opt(cn_writer_t *w, const cn_question_t *q, uint16_t rcode, bool has_ede,
		     uint16_t ede_code, const char *ede_text, uint16_t edns_size)
{
	if (!q->edns)
		return 0;
	uint8_t opts[6 + CN_EDE_TEXT_MAX];
	size_t olen = has_ede ? ede_option(opts, sizeof(opts), ede_code, ede_text) : 0;
	return cn_writer_opt(w, edns_size, (uint8_t)(rcode >> 4), 0, q->do_bit, /* RFC 3225 3 */
			     olen ? opts : NULL, (uint16_t)olen);
}

size_t cn__answer_write(const cn_question_t *q, const cn_result_t *res, uint16_t edns_size,
			uint8_t *out, size_t cap)
{
	size_t limit = cn__client_limit(q, edns_size);
	if (limit > cap)
		limit = cap;
	cn_writer_t w;
	int ret = write_start(&w, q, res->rcode, res->aa, out, limit);
	if (ret == 0)
		cn_writer_set_flags(&w, result_flags(q, res));
	for (size_t i = 0; ret == 0 && i < res->nan; i++) {
		const cn_rr_t *rr = &res->an[i];
		ret = cn_writer_rr(&w, CN_SECTION_ANSWER, rr->owner, rr->type, rr->rclass, rr->ttl,
				   rr->rdata, rr->rdlen);
	}
	if (ret == 0)
		ret = write_sec(&w, q, res, CN_SECTION_ANSWER);
	if (ret == 0 && res->has_soa)
		ret = cn_writer_rr(&w, CN_SECTION_AUTHORITY, res->soa.owner, CN_TYPE_SOA,
				   CN_CLASS_IN, res->soa.ttl, res->soa.rdata, res->soa.rdlen);
	if (ret == 0)
		ret = write_sec(&w, q, res, CN_SECTION_AUTHORITY);
	/* Reserve room for the OPT record by writing it last and redoing on failure. */
	if (ret == 0)
		ret = write_opt(&w, q, res->rcode, res->has_ede, res->ede_code, res->ede_text,
				edns_size);
	if (ret == 0)
		return cn_writer_finish(&w);
	/* Does not fit: TC=1 with header, question and OPT only (RFC 2181 9). */
	ret = write_start(&w, q, res->rcode, res->aa, out, limit);
	cn_writer_set_flags(&w, result_flags(q, res) | CN_FLAG_TC);
	if (ret == 0)
		write_opt(&w, q, res->rcode, false, 0, NULL, edns_size);
	return cn_writer_finish(&w);
}

size_t cn__answer_error(const cn_question_t *q, uint16_t rcode, uint16_t ede_code,
			const char *ede_text, uint16_t edns_size, uint8_t *out, size_t cap)
{
	cn_writer_t w;
	size_t limit = cn__client_limit(q, edns_size);
	if (limit > cap)
		limit = cap;
	int ret = write_start(&w, q, rcode, false, out, limit);
	if (ret == 0)
		ret = write_opt(&w, q, rcode, ede_text != NULL, ede_code, ede_text, edns_size);
	if (ret != 0) { /* EDE text too long for 512: drop the text */
		write_start(&w, q, rcode, false, out, limit);
		write_opt(&w, q, rcode, false, 0, NULL, edns_size);
	}
	return cn_writer_finish(&w);
}

/* ------------------------------------------------------------------ from cache ------ */

typedef struct lookup_ctx {
	cn_cache_t *cache;
	uint64_t now_s;
	unsigned flags;
	uint8_t *scratch;
	size_t scratch_len, used;
	bool stale;
	uint32_t min_left, min_orig;
	bool validated;   /* CN_ANSWER_VALIDATED */
	uint8_t state;    /* the parts' DNSSEC states combined */
	cn_cache_credit_t looked; /* what the lookups counted in the cache's statistics */
	cn_cache_sample_t sample[CN_RESULT_SAMPLES]; /* the predictor's view of them */
	unsigned nsample; /* > CN_RESULT_SAMPLES: more than kept */
} lookup_ctx_t;

/* The state of an answer made of parts in states a and b: bogus, then unvalidated, then
 * insecure win; secure only when every part is. */
static uint8_t state_combine(uint8_t a, uint8_t b)
{
	static const uint8_t weight[4] = { [CN_DNSSEC_STATE_INDETERMINATE] = 2,
					   [CN_DNSSEC_STATE_SECURE] = 0,
					   [CN_DNSSEC_STATE_INSECURE] = 1,
					   [CN_DNSSEC_STATE_BOGUS] = 3 };
	return weight[a & 3] >= weight[b & 3] ? a : b;
}

/* The DNSSEC state a value's trailer gives (0 when it has none or is broken). */
static uint8_t value_state(const cn_cache_entry_t *ent, const uint8_t *val)
{
	size_t body, nx;
	uint8_t state;
	if (cn__value_body_len(val, ent->data_len, ent->kind == CN_CACHE_RRSET, &body) != 0 ||
	    cn__value_trailer(val, ent->data_len, body, &state, NULL, 0, &nx) != 0)
		return CN_DNSSEC_STATE_INDETERMINATE;
	return state;
}

/* The DNSSEC records of a value into res->sec (as many as there is room for), with the
 * entry's TTL. */
static void add_sec(cn_result_t *res, const cn_cache_entry_t *ent, const uint8_t *val)
{
	size_t body, nx;
	uint8_t state;
	if (!res->sec || res->nsec >= res->sec_cap ||
	    cn__value_body_len(val, ent->data_len, ent->kind == CN_CACHE_RRSET, &body) != 0 ||
	    cn__value_trailer(val, ent->data_len, body, &state, res->sec + res->nsec,
			      res->sec_cap - res->nsec, &nx) != 0)
		return;
	for (size_t i = 0; i < nx; i++)
		res->sec[res->nsec + i].ttl = ent->ttl_left_s;
	res->nsec += nx;
}

/* Look one key up into the next free part of scratch. */
static int lookup(lookup_ctx_t *c, const uint8_t *name, uint16_t type, cn_cache_entry_t *ent,
		  const uint8_t **val)
{
	uint8_t *buf = c->scratch + c->used;
	int ret = cn_cache_lookup(c->cache, name, cn_dname_len(name), type, CN_CLASS_IN, c->now_s,
				  c->flags & ~CN_ANSWER_VALIDATED, ent, buf,
				  c->scratch_len - c->used);
	if (ret == 0 || ret == -ENOENT) { /* as cn_cache_lookup counts them (stale: no hot) */
		c->looked.lookups++;
		c->looked.hits += ret == 0;
		c->looked.miss_first += ret != 0 && ent->miss != CN_MISS_EXPIRED &&
					ent->miss != CN_MISS_EVICTED;
		c->looked.miss_expired += ret != 0 && ent->miss == CN_MISS_EXPIRED;
		c->looked.miss_evicted += ret != 0 && ent->miss == CN_MISS_EVICTED;
		if (ent->sampled && c->nsample++ < CN_RESULT_SAMPLES)
			c->sample[c->nsample - 1] = ent->sample;
	}
	if (ret != 0)
		return ret;
	if (ent->rank < CN_RANK_NONAUTH_ANSWER) {
		/* glue and referral data steer iteration; they are never answers (RFC 2181
		 * 5.4.1): a resolution replaces them with authoritative data */
		ent->miss = CN_MISS_FIRST;
		return -ENOENT;
	}
	if (c->validated) {
		uint8_t st = value_state(ent, buf);
		if (st == CN_DNSSEC_STATE_INDETERMINATE || st == CN_DNSSEC_STATE_BOGUS) {
			/* not validated (yet): a resolution validates it first */
			ent->miss = CN_MISS_FIRST;
			return -ENOENT;
		}
		c->state = state_combine(c->state, st);
	}
	*val = buf;
	c->used += ent->data_len;
	c->stale |= ent->stale;
	if (ent->ttl_left_s < c->min_left)
		c->min_left = ent->ttl_left_s;
	if (ent->ttl_orig_s < c->min_orig)
		c->min_orig = ent->ttl_orig_s;
	return 0;
}

/* Append the records of an RRSET value to res->an. */
static int add_rrset(cn_result_t *res, const uint8_t *owner, uint16_t type,
		     const cn_cache_entry_t *ent, const uint8_t *val)
{
	cn_rdata_ref_t refs[CN_ANSWER_MAX_RRS];
	size_t n;
	size_t room = res->an_cap - res->nan;
	if (cn__value_decode_rrset(val, ent->data_len, refs,
				   room < CN_ANSWER_MAX_RRS ? room : CN_ANSWER_MAX_RRS, &n))
		return CN_EMALF;
	for (size_t i = 0; i < n; i++) {
		cn_rr_t *rr = &res->an[res->nan++];
		*rr = (cn_rr_t){ .owner = owner, .rdata = refs[i].rdata, .ttl = ent->ttl_left_s,
				 .type = type, .rclass = CN_CLASS_IN, .rdlen = refs[i].rdlen,
				 .section = CN_SECTION_ANSWER };
	}
	add_sec(res, ent, val);
	return 0;
}

static int set_negative(cn_result_t *res, uint16_t rcode, const cn_cache_entry_t *ent,
			const uint8_t *val)
{
	const uint8_t *owner, *rdata;
	uint16_t rdlen;
	if (cn__value_decode_neg(val, ent->data_len, &owner, &rdata, &rdlen))
		return CN_EMALF;
	res->rcode = rcode;
	res->has_soa = owner != NULL;
	if (owner)
		res->soa = (cn_rr_t){ .owner = owner, .rdata = rdata, .ttl = ent->ttl_left_s,
				      .type = CN_TYPE_SOA, .rclass = CN_CLASS_IN, .rdlen = rdlen,
				      .section = CN_SECTION_AUTHORITY };
	add_sec(res, ent, val);
	return 0;
}

/* Is (name, type) in the cache? A peek: not counted in the cache's statistics, so that
 * looking for a DNAME at each ancestor of a missed name does not count as misses. */
static bool cached(lookup_ctx_t *c, const uint8_t *name, uint16_t type)
{
	cn_cache_entry_t ent;
	int ret = cn_cache_lookup(c->cache, name, cn_dname_len(name), type, CN_CLASS_IN,
				  c->now_s, CN_LOOKUP_PEEK | (c->flags & CN_LOOKUP_STALE), &ent,
				  NULL, 0);
	return ret == 0 || ret == -ENOSPC; /* found (its value not copied) */
}

/* RFC 6672 3.4: a DNAME cached at owner, an ancestor of name, answers for name with the
 * CNAME a server would synthesise (TTL of the DNAME; 2.2: YXDOMAIN when the new name would
 * pass 255 octets). A chain passing the same DNAME twice carries it once. Returns 0 for a
 * final answer, 1 with *next the target to go on with, -ENOENT (res unchanged) if unusable. */
static int synthesise(lookup_ctx_t *c, const uint8_t *name, const uint8_t *owner,
		      uint16_t qtype, const cn_cache_entry_t *ent, const uint8_t *val,
		      cn_result_t *res, const uint8_t **next)
{
	size_t before = res->nan;
	const cn_rr_t *d = &res->an[before];
	if (add_rrset(res, owner, CN_TYPE_DNAME, ent, val) || res->nan != before + 1 ||
	    cn_dname_check(d->rdata, d->rdlen) != (int)d->rdlen ||
	    c->scratch_len - c->used < CN_DNAME_MAX) {
		res->nan = before; /* a DNAME RRset holds one record (RFC 6672 2.4) */
		return -ENOENT;
	}
	for (size_t i = 0; i < before; i++)
		if (cn__scrub_same_rr(&res->an[i], d)) {
			res->nan = before;
			break;
		}
	uint8_t *syn = c->scratch + c->used;
	if (cn_dname_subst(name, owner, d->rdata, syn) != 0) {
		res->rcode = CN_RCODE_YXDOMAIN;
		return 0;
	}
	if (res->nan >= res->an_cap) {
		res->nan = before;
		return -ENOENT;
	}
	c->used += cn_dname_len(syn);
	res->an[res->nan++] = (cn_rr_t){ .owner = name, .rdata = syn, .ttl = ent->ttl_left_s,
					 .type = CN_TYPE_CNAME, .rclass = CN_CLASS_IN,
					 .rdlen = (uint16_t)cn_dname_len(syn),
					 .section = CN_SECTION_ANSWER };
	*next = syn;
	return qtype == CN_TYPE_CNAME ? 0 : 1;
}

/* What is cached above name, closest ancestor first: an NXDOMAIN covers it (RFC 8020), a
 * DNAME redirects it (synthesise). Returns 0 for a final answer, 1 with *next set, or
 * -ENOENT when neither is cached. */
static int above(lookup_ctx_t *c, const uint8_t *name, uint16_t qtype, cn_result_t *res,
		 const uint8_t **next)
{
	int labels = cn_dname_labels(name);
	for (int i = 1; i < labels; i++) {
		const uint8_t *anc = cn_dname_skip(name, i);
		cn_cache_entry_t ent;
		const uint8_t *val;
		if (lookup(c, anc, CN_CACHE_TYPE_NXDOMAIN, &ent, &val) == 0)
			return set_negative(res, CN_RCODE_NXDOMAIN, &ent, val) ? -ENOENT : 0;
		if (cached(c, anc, CN_TYPE_DNAME) && lookup(c, anc, CN_TYPE_DNAME, &ent, &val) == 0 &&
		    ent.kind == CN_CACHE_RRSET)
			return synthesise(c, name, anc, qtype, &ent, val, res, next);
	}
	return -ENOENT;
}

int cn__answer_from_cache(cn_cache_t *cache, const uint8_t *qname, uint16_t qtype,
			  uint64_t now_s, unsigned flags, unsigned cname_limit, uint8_t *scratch,
			  size_t scratch_len, cn_result_t *res, bool *stale, uint32_t *min_ttl_left,
			  uint32_t *min_ttl_orig, cn_cache_miss_t *miss)
{
	lookup_ctx_t c = { .cache = cache, .now_s = now_s, .flags = flags, .scratch = scratch,
			   .scratch_len = scratch_len, .min_left = UINT32_MAX,
			   .min_orig = UINT32_MAX, .validated = flags & CN_ANSWER_VALIDATED,
			   .state = CN_DNSSEC_STATE_SECURE };
	res->rcode = CN_RCODE_NOERROR;
	res->nan = 0;
	res->nsec = 0;
	res->dnssec = CN_DNSSEC_STATE_INDETERMINATE;
	res->bogus = false;
	res->has_soa = false;
	res->aa = false;
	res->has_ede = false;
	*miss = CN_MISS_NONE;
	const uint8_t *name = qname;
	for (unsigned hop = 0; hop <= cname_limit; hop++) {
		cn_cache_entry_t ent;
		const uint8_t *val;
		int ret = lookup(&c, name, qtype, &ent, &val);
		if (ret == 0 && ent.kind == CN_CACHE_RRSET) {
			if (add_rrset(res, name, qtype, &ent, val))
				return -ENOENT;
			goto hit;
		}
		if (ret == 0 && ent.kind == CN_CACHE_NODATA) {
			if (set_negative(res, CN_RCODE_NOERROR, &ent, val))
				return -ENOENT;
			goto hit;
		}
		cn_cache_miss_t first_reason = ret == -ENOENT ? ent.miss : CN_MISS_FIRST;
		if (lookup(&c, name, CN_CACHE_TYPE_NXDOMAIN, &ent, &val) == 0) {
			if (set_negative(res, CN_RCODE_NXDOMAIN, &ent, val))
				return -ENOENT;
			goto hit;
		}
		if (qtype != CN_TYPE_CNAME && lookup(&c, name, CN_TYPE_CNAME, &ent, &val) == 0 &&
		    ent.kind == CN_CACHE_RRSET) {
			size_t before = res->nan;
			const cn_rr_t *cn = &res->an[before];
			if (add_rrset(res, name, CN_TYPE_CNAME, &ent, val) || res->nan != before + 1 ||
			    cn_dname_check(cn->rdata, cn->rdlen) <= 0) {
				res->nan = before; /* a CNAME RRset holds one record (RFC 2181 10.1) */
				return -ENOENT;
			}
			name = cn->rdata;
			continue;
		}
		const uint8_t *next;
		ret = above(&c, name, qtype, res, &next);
		if (ret == 0)
			goto hit;
		if (ret == 1) {
			name = next;
			continue;
		}
		*miss = first_reason;
		return -ENOENT;
	}
	*miss = CN_MISS_FIRST; /* chain longer than the limit: let the resolver decide */
	return -ENOENT;
hit:
	if (c.validated)
		res->dnssec = c.state;
	res->looked = c.looked;
	res->nsample = c.nsample;
	memcpy(res->sample, c.sample, sizeof(res->sample));
	*stale = c.stale;
	*min_ttl_left = c.min_left;
	*min_ttl_orig = c.min_orig;
	return 0;
}
