/*
 * DNSSEC record formats and the canonical form: the result table, RDATA parsing of DNSKEY,
 * DS, RRSIG, NSEC and NSEC3 (RFC 4034 2-5, RFC 5155 3), type bit maps, the key tag
 * (RFC 4034 appendix B), canonical RDATA and the data an RRSIG signs (RFC 4034 3.1.8.1,
 * 6.2, 6.3), validity periods in serial number arithmetic (RFC 4034 3.1.5, RFC 1982).
 * No crypto here (dnssec_crypto.c) and no policy (dnssec_verify.c, nsec.c).
 */
#include <stdlib.h>
#include <string.h>

#include "resolver/dnssec.h"
#include "resolver/errors.h"
#include "resolver/wire_internal.h"

static const char *const result_text[] = {
#define XX(name, state, ede, text) text,
	CN_DNSSEC_RESULT_MAP(XX)
#undef XX
};
static const int result_ede[] = {
#define XX(name, state, ede, text) ede,
	CN_DNSSEC_RESULT_MAP(XX)
#undef XX
};
#define S CN_DNSSEC_STATE_SECURE
#define I CN_DNSSEC_STATE_INSECURE
#define B CN_DNSSEC_STATE_BOGUS
#define U CN_DNSSEC_STATE_INDETERMINATE
static const cn_dnssec_state_t result_state[] = {
#define XX(name, state, ede, text) state,
	CN_DNSSEC_RESULT_MAP(XX)
#undef XX
};
#undef S
#undef I
#undef B
#undef U

const char *cn_dnssec_result_str(cn_dnssec_result_t r)
{
	return (unsigned)r < CN_DNSSEC_RESULT_COUNT ? result_text[r] : "unknown DNSSEC result";
}

int cn_dnssec_result_ede(cn_dnssec_result_t r)
{
	return (unsigned)r < CN_DNSSEC_RESULT_COUNT ? result_ede[r] : 6;
}

cn_dnssec_state_t cn_dnssec_result_state(cn_dnssec_result_t r)
{
	return (unsigned)r < CN_DNSSEC_RESULT_COUNT ? result_state[r] : CN_DNSSEC_STATE_BOGUS;
}

/* ------------------------------------------------------------------------------------ */

uint16_t cn_dnssec_key_tag(const uint8_t *rdata, size_t rdlen)
{
	/* Algorithm 1 (RSA/MD5): the tag is the most significant 16 of the least significant
	 * 24 bits of the modulus (RFC 4034 B.1). */
	if (rdlen >= 4 && rdata[3] == 1)
		return rdlen >= 7 ? (uint16_t)(rdata[rdlen - 3] << 8 | rdata[rdlen - 2]) : 0;
	uint32_t ac = 0;
	for (size_t i = 0; i < rdlen; i++)
		ac += (i & 1) ? rdata[i] : (uint32_t)rdata[i] << 8;
	ac += (ac >> 16) & 0xFFFF;
	return (uint16_t)(ac & 0xFFFF);
}

int cn_dnssec_parse_dnskey(const uint8_t *rdata, size_t rdlen, cn_dnskey_t *out)
{
	if (rdlen < 5 || rdlen > UINT16_MAX)
		return CN_ERDATA;
	out->flags = cn_wire_get16(rdata);
	out->protocol = rdata[2];
	out->alg = rdata[3];
	out->key = rdata + 4;
	out->key_len = (uint16_t)(rdlen - 4);
	out->tag = cn_dnssec_key_tag(rdata, rdlen);
	out->rdata = rdata;
	out->rdlen = (uint16_t)rdlen;
	return 0;
}

int cn_dnssec_parse_ds(const uint8_t *rdata, size_t rdlen, cn_ds_t *out)
{
	if (rdlen < 5 || rdlen > UINT16_MAX)
		return CN_ERDATA;
	out->tag = cn_wire_get16(rdata);
	out->alg = rdata[2];
	out->digest_type = rdata[3];
	out->digest = rdata + 4;
	out->digest_len = (uint16_t)(rdlen - 4);
	return 0;
}

int cn_dnssec_parse_rrsig(const uint8_t *rdata, size_t rdlen, cn_rrsig_t *out)
{
	/* type(2) alg(1) labels(1) ttl(4) expiration(4) inception(4) tag(2) signer sig */
	if (rdlen < 19 || rdlen > UINT16_MAX)
		return CN_ERDATA;
	int nlen = cn_dname_check(rdata + 18, rdlen - 18);
	if (nlen < 0 || (size_t)nlen >= rdlen - 18)
		return CN_ERDATA; /* an RRSIG without signature bytes is malformed */
	out->type_covered = cn_wire_get16(rdata);
	out->alg = rdata[2];
	out->labels = rdata[3];
	out->orig_ttl = cn_wire_get32(rdata + 4);
	out->expiration = cn_wire_get32(rdata + 8);
	out->inception = cn_wire_get32(rdata + 12);
	out->tag = cn_wire_get16(rdata + 16);
	out->signer = rdata + 18;
	out->head_len = (uint16_t)(18 + nlen);
	out->sig = rdata + out->head_len;
	out->sig_len = (uint16_t)(rdlen - out->head_len);
	out->rdata = rdata;
	return 0;
}

int cn_dnssec_bitmap_check(const uint8_t *bitmap, size_t len)
{
	size_t p = 0;
	int last = -1;
	while (p < len) {
		if (len - p < 2)
			return CN_ERDATA;
		uint8_t win = bitmap[p], blen = bitmap[p + 1];
		if ((int)win <= last || blen < 1 || blen > 32 || blen > len - p - 2)
			return CN_ERDATA;
		last = win;
		p += 2u + blen;
	}
	return 0;
}

bool cn_dnssec_bitmap_has(const uint8_t *bitmap, size_t len, uint16_t type)
{
	uint8_t want = (uint8_t)(type >> 8), byte = (uint8_t)((type & 0xFF) >> 3);
	size_t p = 0;
	while (p + 2 <= len) {
		uint8_t win = bitmap[p], blen = bitmap[p + 1];
		if (p + 2u + blen > len)
			return false;
		if (win == want)
			return byte < blen && (bitmap[p + 2 + byte] & (0x80 >> (type & 7)));
		p += 2u + blen;
	}
	return false;
}

int cn_dnssec_parse_nsec(const uint8_t *rdata, size_t rdlen, cn_nsec_t *out)
{
	int nlen = cn_dname_check(rdata, rdlen);
	if (nlen < 0 || rdlen > UINT16_MAX)
		return CN_ERDATA;
	out->next = rdata;
	out->bitmap = rdata + nlen;
	out->bitmap_len = (uint16_t)(rdlen - (size_t)nlen);
	return cn_dnssec_bitmap_check(out->bitmap, out->bitmap_len);
}

int cn_dnssec_parse_nsec3(const uint8_t *rdata, size_t rdlen, cn_nsec3_t *out)
{
	/* alg(1) flags(1) iterations(2) salt_len(1) salt hash_len(1) hash bitmaps */
	if (rdlen < 6 || rdlen > UINT16_MAX)
		return CN_ERDATA;
	size_t p = 5 + (size_t)rdata[4];
	if (p >= rdlen)
		return CN_ERDATA;
	size_t hlen = rdata[p];
	if (hlen < 1 || p + 1 + hlen > rdlen)
		return CN_ERDATA;
	out->hash_alg = rdata[0];
	out->flags = rdata[1];
	out->iterations = cn_wire_get16(rdata + 2);
	out->salt_len = rdata[4];
	out->salt = rdata + 5;
	out->hash_len = (uint8_t)hlen;
	out->next_hash = rdata + p + 1;
	out->bitmap = rdata + p + 1 + hlen;
	out->bitmap_len = (uint16_t)(rdlen - (p + 1 + hlen));
	return cn_dnssec_bitmap_check(out->bitmap, out->bitmap_len);
}

/* ------------------------------------------------------------------------------------ */
/* Canonical RDATA: the types whose embedded names RFC 4034 6.2 (as corrected by RFC 6840
 * 5.1: not NSEC, not HINFO) lowercases. cairn's descriptors (rdata.c) cover NS, MD, MF,
 * CNAME, SOA, MB, MG, MR, PTR, MINFO, MX, RP, AFSDB, RT, SRV, NAPTR and DNAME; PX, KX and
 * RRSIG are laid out here. SIG, NXT and A6 (obsolete) stay as they are. */

static const cn__rdesc_t extra_desc[] = {
	{26, {2, CN__RF_NAME, CN__RF_NAME}},  /* PX, RFC 2163 */
	{36, {2, CN__RF_NAME}},               /* KX, RFC 2230 */
};

static const cn__rdesc_t *canon_desc(uint16_t type)
{
	if (type == CN_TYPE_HINFO || type == CN_TYPE_TXT)
		return NULL; /* strings only */
	for (size_t i = 0; i < sizeof(extra_desc) / sizeof(extra_desc[0]); i++)
		if (extra_desc[i].type == type)
			return &extra_desc[i];
	return cn__rdata_desc(type);
}

static int lower_fields(const cn__rdesc_t *d, uint8_t *out, size_t rdlen)
{
	size_t p = 0;
	for (int i = 0; i < CN__RDESC_FIELDS && d->f[i]; i++) {
		uint8_t f = d->f[i];
		int len;
		if (f <= CN__RF_FIXED_MAX) {
			len = f <= rdlen - p ? f : -1;
		} else if (f == CN__RF_NAME || f == CN__RF_NAME_C) {
			len = cn_dname_check(out + p, rdlen - p);
			if (len > 0)
				cn_dname_lower(out + p);
		} else if (f == CN__RF_STR) {
			len = p < rdlen && out[p] < rdlen - p ? out[p] + 1 : -1;
		} else {
			return 0; /* STRS: the rest holds no name */
		}
		if (len < 0)
			return CN_ERDATA;
		p += (size_t)len;
	}
	return p == rdlen ? 0 : CN_ERDATA;
}

int cn_dnssec_canonical_rdata(uint16_t type, const uint8_t *rdata, size_t rdlen,
			      uint8_t *out)
{
	memcpy(out, rdata, rdlen);
	if (type == CN_TYPE_RRSIG) {
		cn_rrsig_t s;
		if (cn_dnssec_parse_rrsig(rdata, rdlen, &s))
			return CN_ERDATA;
		cn_dname_lower(out + 18);
		return 0;
	}
	const cn__rdesc_t *d = canon_desc(type);
	return d ? lower_fields(d, out, rdlen) : 0;
}

/* One record's canonical RDATA, for sorting (RFC 4034 6.3). */
typedef struct canon_rr {
	uint8_t *rdata;
	uint16_t rdlen;
} canon_rr_t;

static int canon_cmp(const void *a, const void *b)
{
	const canon_rr_t *x = a, *y = b;
	size_t m = x->rdlen < y->rdlen ? x->rdlen : y->rdlen;
	int c = memcmp(x->rdata, y->rdata, m);
	if (c)
		return c;
	return (int)x->rdlen - (int)y->rdlen;
}

/* The owner as signed: lowercased, or the wildcard "*." + rightmost labels (RFC 4035
 * 5.3.2). Returns its length, or CN_ERDATA when labels exceeds the owner's count. */
static int signed_owner(const uint8_t *owner, uint8_t labels, uint8_t *out)
{
	int have = cn_dname_labels(owner);
	if (have > 0 && owner[0] == 1 && owner[1] == '*')
		have--; /* the RRSIG labels field never counts a leading "*" (RFC 4034 3.1.3) */
	if (labels > have)
		return CN_ERDATA;
	size_t o = 0;
	if (labels < have) {
		out[0] = 1;
		out[1] = '*';
		o = 2;
		owner = cn_dname_skip(owner, cn_dname_labels(owner) - labels);
	}
	size_t len = cn_dname_len(owner);
	if (o + len > CN_DNAME_MAX)
		return CN_ERDATA;
	memcpy(out + o, owner, len);
	cn_dname_lower(out + o);
	return (int)(o + len);
}

static int canon_set(const cn_rr_t *rrs, size_t n, cn_arena_t *arena, canon_rr_t *v,
		     size_t *total)
{
	*total = 0;
	for (size_t i = 0; i < n; i++) {
		v[i].rdlen = rrs[i].rdlen;
		v[i].rdata = cn_arena_alloc(arena, rrs[i].rdlen ? rrs[i].rdlen : 1);
		if (!v[i].rdata)
			return -ENOMEM;
		if (cn_dnssec_canonical_rdata(rrs[i].type, rrs[i].rdata, rrs[i].rdlen,
					      v[i].rdata))
			return CN_ERDATA;
		*total += rrs[i].rdlen;
	}
	qsort(v, n, sizeof(*v), canon_cmp);
	return 0;
}

int cn_dnssec_signed_data(const cn_rrsig_t *sig, const cn_rr_t *rrs, size_t n,
			  cn_arena_t *arena, uint8_t **out, size_t *out_len)
{
	if (n == 0)
		return -EINVAL;
	uint8_t owner[CN_DNAME_MAX];
	int olen = signed_owner(rrs[0].owner, sig->labels, owner);
	if (olen < 0)
		return olen;
	canon_rr_t *v = cn_arena_alloc(arena, n * sizeof(*v));
	size_t rdata_total;
	if (!v)
		return -ENOMEM;
	int rc = canon_set(rrs, n, arena, v, &rdata_total);
	if (rc)
		return rc;
	/* RRSIG RDATA up to the signature, with the signer lowercased (RFC 6840 5.1) */
	size_t cap = sig->head_len + n * ((size_t)olen + 10) + rdata_total;
	uint8_t *buf = cn_arena_alloc(arena, cap);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, sig->rdata, sig->head_len);
	cn_dname_lower(buf + 18);
	size_t p = sig->head_len;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && canon_cmp(&v[i - 1], &v[i]) == 0)
			continue; /* duplicates dropped (RFC 4034 6.3) */
		memcpy(buf + p, owner, (size_t)olen);
		p += (size_t)olen;
		cn_wire_put16(buf + p, rrs[0].type);
		cn_wire_put16(buf + p + 2, rrs[0].rclass);
		cn_wire_put32(buf + p + 4, sig->orig_ttl);
		cn_wire_put16(buf + p + 8, v[i].rdlen);
		p += 10;
		memcpy(buf + p, v[i].rdata, v[i].rdlen);
		p += v[i].rdlen;
	}
	*out = buf;
	*out_len = p;
	return 0;
}

/* ------------------------------------------------------------------------------------ */

/* a - b in RFC 1982 serial arithmetic on 32 bits: negative when a precedes b. */
static int32_t serial_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

cn_dnssec_result_t cn_dnssec_check_time(const cn_rrsig_t *sig, uint64_t now_s)
{
	uint32_t now = (uint32_t)now_s;
	if (serial_diff(sig->expiration, sig->inception) < 0)
		return CN_DNSSEC_BOGUS;
	if (serial_diff(now, sig->expiration) > 0)
		return CN_DNSSEC_SIG_EXPIRED;
	if (serial_diff(now, sig->inception) < 0)
		return CN_DNSSEC_SIG_NOT_YET_VALID;
	return CN_DNSSEC_SECURE;
}

uint32_t cn_dnssec_ttl_cap(const cn_rrsig_t *sig, uint32_t ttl, uint64_t now_s)
{
	if (ttl > sig->orig_ttl)
		ttl = sig->orig_ttl;
	int32_t left = serial_diff(sig->expiration, (uint32_t)now_s);
	if (left < 0)
		left = 0;
	return (uint32_t)left < ttl ? (uint32_t)left : ttl;
}
