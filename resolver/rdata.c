/*
 * Typed RDATA: the descriptor table, decompression on read, checks on decoded RDATA and
 * field accessors. Which names may be compressed is RFC 3597 4: only those inside the RDATA
 * of the "well-known" RFC 1035 types (NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX);
 * names in later types (RP, AFSDB, RT, SRV, NAPTR, DNAME) must not be compressed by a sender
 * but a receiver should still decompress RP, AFSDB, RT, NAPTR and SRV (RFC 3597 4, RFC 2782).
 * DNAME (RFC 6672 2.5) is decompressed too, for robustness. Every other type stays opaque.
 */
#include <string.h>

#include "resolver/errors.h"
#include "resolver/wire.h"
#include "resolver/wire_internal.h"

#define C CN__RF_NAME_C
#define N CN__RF_NAME
#define S CN__RF_STR
#define SS CN__RF_STRS

static const cn__rdesc_t rdesc_table[] = {
	{CN_TYPE_A, {4}},                     /* RFC 1035 3.4.1 */
	{CN_TYPE_NS, {C}},                    /* RFC 1035 3.3.11 */
	{3, {C}},                             /* MD (obsolete), RFC 1035 3.3.4 */
	{4, {C}},                             /* MF (obsolete), RFC 1035 3.3.5 */
	{CN_TYPE_CNAME, {C}},                 /* RFC 1035 3.3.1 */
	{CN_TYPE_SOA, {C, C, 20}},            /* RFC 1035 3.3.13: mname rname 5x32 bits */
	{7, {C}},                             /* MB, RFC 1035 3.3.3 */
	{8, {C}},                             /* MG, RFC 1035 3.3.6 */
	{9, {C}},                             /* MR, RFC 1035 3.3.8 */
	{CN_TYPE_PTR, {C}},                   /* RFC 1035 3.3.12 */
	{CN_TYPE_HINFO, {S, S}},              /* RFC 1035 3.3.2: cpu os */
	{14, {C, C}},                         /* MINFO, RFC 1035 3.3.7 */
	{CN_TYPE_MX, {2, C}},                 /* RFC 1035 3.3.9 */
	{CN_TYPE_TXT, {SS}},                  /* RFC 1035 3.3.14 */
	{17, {N, N}},                         /* RP, RFC 1183 2.2 */
	{18, {2, N}},                         /* AFSDB, RFC 1183 1 */
	{21, {2, N}},                         /* RT, RFC 1183 3.3 */
	{CN_TYPE_AAAA, {16}},                 /* RFC 3596 2.2 */
	{CN_TYPE_SRV, {6, N}},                /* RFC 2782: priority weight port target */
	{35, {4, S, S, S, N}},                /* NAPTR, RFC 3403 4.1 */
	{CN_TYPE_DNAME, {N}},                 /* RFC 6672 2.1 */
};

#undef C
#undef N
#undef S
#undef SS

const cn__rdesc_t *cn__rdata_desc(uint16_t type)
{
	for (size_t i = 0; i < sizeof(rdesc_table) / sizeof(rdesc_table[0]); i++)
		if (rdesc_table[i].type == type)
			return &rdesc_table[i];
	return NULL;
}

static bool is_name(uint8_t f)
{
	return f == CN__RF_NAME_C || f == CN__RF_NAME;
}

size_t cn__rdata_unpack_bound(const cn__rdesc_t *d, size_t rdlen)
{
	size_t names = 0;
	for (int i = 0; i < CN__RDESC_FIELDS && d->f[i]; i++)
		names += is_name(d->f[i]);
	/* a compressed name takes at least one octet and expands to at most 255 */
	return rdlen + names * CN_DNAME_MAX;
}

/* One character-string (RFC 1035 3.3): a length octet and that many bytes, within end. */
static int str_len(const uint8_t *buf, size_t p, size_t end)
{
	if (p >= end || (size_t)buf[p] >= end - p)
		return CN_ERDATA;
	return buf[p] + 1;
}

/* The span of field f at buf[p], in RDATA ending at end (uncompressed form). */
static int field_len(uint8_t f, const uint8_t *buf, size_t p, size_t end)
{
	if (f <= CN__RF_FIXED_MAX)
		return f <= end - p ? f : CN_ERDATA;
	if (is_name(f)) {
		int r = cn_dname_check(buf + p, end - p);
		return r == CN_ETRUNC ? CN_ERDATA : r;
	}
	if (f == CN__RF_STR)
		return str_len(buf, p, end);
	/* CN__RF_STRS: at least one string, then strings until the end exactly */
	size_t q = p;
	do {
		int r = str_len(buf, q, end);
		if (r < 0)
			return r;
		q += (size_t)r;
	} while (q < end);
	return (int)(q - p);
}

int cn__rdata_unpack(const cn__rdesc_t *d, const uint8_t *msg, size_t pos, size_t rdlen,
		     uint8_t *out, size_t out_cap)
{
	size_t end = pos + rdlen, o = 0;
	for (int i = 0; i < CN__RDESC_FIELDS && d->f[i]; i++) {
		uint8_t f = d->f[i];
		if (is_name(f)) {
			/* Bounded by end: the name's own labels must lie in the RDATA;
			 * pointers still reach back into the message. */
			size_t nlen;
			if (o + CN_DNAME_MAX > out_cap)
				return CN_ERDATA;
			int r = cn_dname_unpack(msg, end, &pos, out + o, &nlen);
			if (r)
				return r == CN_ETRUNC ? CN_ERDATA : r;
			o += nlen;
			continue;
		}
		int r = field_len(f, msg, pos, end);
		if (r < 0)
			return r;
		if (o + (size_t)r > out_cap)
			return CN_ERDATA;
		memcpy(out + o, msg + pos, (size_t)r);
		o += (size_t)r;
		pos += (size_t)r;
	}
	if (pos != end || o > UINT16_MAX)
		return CN_ERDATA;
	return (int)o;
}

int cn_rdata_check(uint16_t type, const uint8_t *rdata, size_t rdlen)
{
	const cn__rdesc_t *d = cn__rdata_desc(type);
	if (!d)
		return 0;
	size_t p = 0;
	for (int i = 0; i < CN__RDESC_FIELDS && d->f[i]; i++) {
		int r = field_len(d->f[i], rdata, p, rdlen);
		if (r < 0)
			return CN_ERDATA;
		p += (size_t)r;
	}
	return p == rdlen ? 0 : CN_ERDATA;
}

const uint8_t *cn_rdata_target(uint16_t type, const uint8_t *rdata, size_t rdlen)
{
	size_t off;
	switch (type) {
	case CN_TYPE_NS:
	case CN_TYPE_CNAME:
	case CN_TYPE_DNAME:
	case CN_TYPE_PTR:
	case CN_TYPE_SOA:
		off = 0;
		break;
	case CN_TYPE_MX:
		off = 2;
		break;
	case CN_TYPE_SRV:
		off = 6;
		break;
	default:
		return NULL;
	}
	if (off >= rdlen || cn_dname_check(rdata + off, rdlen - off) < 0)
		return NULL;
	return rdata + off;
}

int cn_rdata_soa_minimum(const uint8_t *rdata, size_t rdlen, uint32_t *minimum)
{
	if (cn_rdata_check(CN_TYPE_SOA, rdata, rdlen))
		return CN_ERDATA;
	*minimum = cn_wire_get32(rdata + rdlen - 4);
	return 0;
}
