/*
 * Presentation format (RFC 1035 5.1, RFC 3597 5) of types, RDATA, records and whole
 * messages, for logs and tests. The message form follows dig's layout so that a test
 * failure reads like a dig answer. Output always goes into a caller buffer and is cut off
 * cleanly with -ENOSPC; none of this is on the query path.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "resolver/errors.h"
#include "resolver/wire.h"
#include "resolver/wire_internal.h"

/* An append-only text buffer that remembers overflow instead of checking every call. */
typedef struct sbuf {
	char *buf;
	size_t cap, len;
	bool full;
} sbuf_t;

static void sb_init(sbuf_t *s, char *buf, size_t cap)
{
	s->buf = buf;
	s->cap = cap;
	s->len = 0;
	s->full = cap == 0;
	if (cap)
		buf[0] = '\0';
}

static void sb_printf(sbuf_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *s, const char *fmt, ...)
{
	if (s->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= s->cap - s->len) {
		s->full = true;
		s->buf[s->len] = '\0'; /* drop the partial piece */
		return;
	}
	s->len += (size_t)n;
}

static void sb_name(sbuf_t *s, const uint8_t *name)
{
	char tmp[CN_DNAME_STR_MAX];
	if (cn_dname_to_str(name, tmp, sizeof(tmp)) < 0)
		s->full = true;
	else
		sb_printf(s, "%s", tmp);
}

static int sb_result(const sbuf_t *s)
{
	return s->full ? -ENOSPC : (int)s->len;
}

/* ------------------------------------------------------------------ types ---------- */

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
	{1, "A"},        {2, "NS"},       {3, "MD"},         {4, "MF"},     {5, "CNAME"},
	{6, "SOA"},      {7, "MB"},       {8, "MG"},         {9, "MR"},     {10, "NULL"},
	{11, "WKS"},     {12, "PTR"},     {13, "HINFO"},     {14, "MINFO"}, {15, "MX"},
	{16, "TXT"},     {17, "RP"},      {18, "AFSDB"},     {21, "RT"},    {28, "AAAA"},
	{29, "LOC"},     {33, "SRV"},     {35, "NAPTR"},     {39, "DNAME"}, {41, "OPT"},
	{43, "DS"},      {44, "SSHFP"},   {46, "RRSIG"},     {47, "NSEC"},  {48, "DNSKEY"},
	{50, "NSEC3"},   {51, "NSEC3PARAM"}, {52, "TLSA"},   {59, "CDS"},   {60, "CDNSKEY"},
	{64, "SVCB"},    {65, "HTTPS"},   {99, "SPF"},       {251, "IXFR"}, {252, "AXFR"},
	{255, "ANY"},    {257, "CAA"},
};

const char *cn_type_to_str(uint16_t type, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type) {
			snprintf(buf, len, "%s", type_names[i].name);
			return buf;
		}
	snprintf(buf, len, "TYPE%u", (unsigned)type); /* RFC 3597 5 */
	return buf;
}

/* Decimal 0..65535 with no sign, no leading '+', at least one digit; -1 otherwise. */
static long parse_u16(const char *s)
{
	long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return -1;
	}
	return v;
}

uint16_t cn_type_from_str(const char *str)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(type_names[i].name, str) == 0)
			return type_names[i].type;
	if (strncasecmp(str, "TYPE", 4) == 0) {
		long v = parse_u16(str + 4);
		return v > 0 ? (uint16_t)v : 0;
	}
	return 0;
}

static void sb_class(sbuf_t *s, uint16_t rclass)
{
	switch (rclass) {
	case CN_CLASS_IN:
		sb_printf(s, "IN");
		break;
	case CN_CLASS_CH:
		sb_printf(s, "CH");
		break;
	case 4:
		sb_printf(s, "HS");
		break;
	case CN_CLASS_ANY:
		sb_printf(s, "ANY");
		break;
	default:
		sb_printf(s, "CLASS%u", (unsigned)rclass);
	}
}

static void sb_type(sbuf_t *s, uint16_t type)
{
	char t[16];
	sb_printf(s, "%s", cn_type_to_str(type, t, sizeof(t)));
}

/* ------------------------------------------------------------------ RDATA ---------- */

/* RFC 3597 5: "\# <length> <hex>" for RDATA cairn does not type. */
static void sb_generic(sbuf_t *s, const uint8_t *rdata, size_t rdlen)
{
	sb_printf(s, "\\# %zu%s", rdlen, rdlen ? " " : "");
	for (size_t i = 0; i < rdlen && !s->full; i++)
		sb_printf(s, "%02x", rdata[i]);
}

/* A <character-string> in double quotes; '"' and '\\' escaped, non-printables \DDD. */
static size_t sb_string(sbuf_t *s, const uint8_t *p)
{
	sb_printf(s, "\"");
	for (size_t i = 1; i <= p[0] && !s->full; i++) {
		uint8_t c = p[i];
		if (c == '"' || c == '\\')
			sb_printf(s, "\\%c", c);
		else if (c < 0x20 || c >= 0x7F)
			sb_printf(s, "\\%03u", c);
		else
			sb_printf(s, "%c", c);
	}
	sb_printf(s, "\"");
	return (size_t)p[0] + 1;
}

/* A fixed field: the known integer layouts, as numbers; A/AAAA as addresses. */
static void sb_fixed(sbuf_t *s, uint16_t type, const uint8_t *p, size_t n)
{
	char addr[INET6_ADDRSTRLEN];
	if (type == CN_TYPE_A || type == CN_TYPE_AAAA) {
		inet_ntop(type == CN_TYPE_A ? AF_INET : AF_INET6, p, addr, sizeof(addr));
		sb_printf(s, "%s", addr);
	} else if (n == 20) { /* SOA serial refresh retry expire minimum */
		sb_printf(s, "%u %u %u %u %u", cn_wire_get32(p), cn_wire_get32(p + 4),
			  cn_wire_get32(p + 8), cn_wire_get32(p + 12), cn_wire_get32(p + 16));
	} else {
		for (size_t i = 0; i + 1 < n; i += 2) /* MX, SRV, AFSDB, RT, NAPTR: 16-bit */
			sb_printf(s, "%s%u", i ? " " : "", (unsigned)cn_wire_get16(p + i));
	}
}

static void sb_typed(sbuf_t *s, const cn__rdesc_t *d, const uint8_t *rdata, size_t rdlen)
{
	size_t p = 0;
	for (int i = 0; i < CN__RDESC_FIELDS && d->f[i]; i++) {
		uint8_t f = d->f[i];
		if (i)
			sb_printf(s, " ");
		if (f <= CN__RF_FIXED_MAX) {
			sb_fixed(s, d->type, rdata + p, f);
			p += f;
		} else if (f == CN__RF_STR) {
			p += sb_string(s, rdata + p);
		} else if (f == CN__RF_STRS) {
			for (bool first = true; p < rdlen; first = false) {
				if (!first)
					sb_printf(s, " ");
				p += sb_string(s, rdata + p);
			}
		} else {
			sb_name(s, rdata + p);
			p += cn_dname_len(rdata + p);
		}
	}
}

static void sb_rdata(sbuf_t *s, uint16_t type, const uint8_t *rdata, size_t rdlen)
{
	const cn__rdesc_t *d = cn__rdata_desc(type);
	if (d && cn_rdata_check(type, rdata, rdlen) == 0)
		sb_typed(s, d, rdata, rdlen);
	else
		sb_generic(s, rdata, rdlen);
}

int cn_rdata_to_str(uint16_t type, const uint8_t *rdata, size_t rdlen, char *buf, size_t len)
{
	sbuf_t s;
	sb_init(&s, buf, len);
	sb_rdata(&s, type, rdata, rdlen);
	return sb_result(&s);
}

static void sb_rr(sbuf_t *s, const cn_rr_t *rr)
{
	sb_name(s, rr->owner);
	sb_printf(s, "\t%u\t", (unsigned)rr->ttl);
	sb_class(s, rr->rclass);
	sb_printf(s, "\t");
	sb_type(s, rr->type);
	sb_printf(s, "\t");
	/* Other classes are kept opaque by the parser: their RDATA is not decompressed. */
	if (rr->rclass == CN_CLASS_IN || rr->type == CN_TYPE_TXT)
		sb_rdata(s, rr->type, rr->rdata, rr->rdlen);
	else
		sb_generic(s, rr->rdata, rr->rdlen);
}

int cn_rr_to_str(const cn_rr_t *rr, char *buf, size_t len)
{
	sbuf_t s;
	sb_init(&s, buf, len);
	sb_rr(&s, rr);
	return sb_result(&s);
}

/* ------------------------------------------------------------------ messages ------- */

static const char *const rcode_names[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
};

static void sb_rcode(sbuf_t *s, unsigned rcode)
{
	if (rcode < sizeof(rcode_names) / sizeof(rcode_names[0]))
		sb_printf(s, "%s", rcode_names[rcode]);
	else if (rcode == CN_RCODE_BADVERS)
		sb_printf(s, "BADVERS");
	else
		sb_printf(s, "RCODE%u", rcode);
}

static void sb_opcode(sbuf_t *s, unsigned op)
{
	static const char *const names[] = {"QUERY", "IQUERY", "STATUS", NULL, "NOTIFY",
					    "UPDATE"};
	if (op < 6 && names[op])
		sb_printf(s, "%s", names[op]);
	else
		sb_printf(s, "OPCODE%u", op);
}

static void sb_header(sbuf_t *s, const cn_msg_t *m)
{
	static const struct {
		uint16_t bit;
		const char *name;
	} flags[] = {{CN_FLAG_QR, "qr"}, {CN_FLAG_AA, "aa"}, {CN_FLAG_TC, "tc"},
		     {CN_FLAG_RD, "rd"}, {CN_FLAG_RA, "ra"}, {CN_FLAG_AD, "ad"},
		     {CN_FLAG_CD, "cd"}};
	sb_printf(s, ";; ->>HEADER<<- opcode: ");
	sb_opcode(s, CN_OPCODE(m->flags));
	sb_printf(s, ", status: ");
	sb_rcode(s, m->rcode);
	sb_printf(s, ", id: %u\n;; flags:", (unsigned)m->id);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (m->flags & flags[i].bit)
			sb_printf(s, " %s", flags[i].name);
	sb_printf(s, "; QUERY: %u, ANSWER: %u, AUTHORITY: %u, ADDITIONAL: %u\n",
		  (unsigned)m->qdcount, (unsigned)m->ancount, (unsigned)m->nscount,
		  (unsigned)m->arcount);
}

static void sb_edns(sbuf_t *s, const cn_edns_t *e)
{
	sb_printf(s, "\n;; OPT PSEUDOSECTION:\n; EDNS: version: %u, flags:%s; udp: %u\n",
		  (unsigned)e->version, e->do_bit ? " do" : "", (unsigned)e->udp_size);
	if (e->option_count)
		sb_printf(s, "; options: %u\n", (unsigned)e->option_count);
	if (e->has_ede)
		sb_printf(s, "; EDE: %u\n", (unsigned)e->ede_code);
}

static void sb_section(sbuf_t *s, const cn_msg_t *m, const char *title, size_t from, size_t n)
{
	if (!n)
		return;
	sb_printf(s, "\n;; %s SECTION:\n", title);
	for (size_t i = from; i < from + n && !s->full; i++) {
		sb_rr(s, &m->rrs[i]);
		sb_printf(s, "\n");
	}
}

int cn_msg_to_str(const cn_msg_t *msg, char *buf, size_t len)
{
	sbuf_t s;
	sb_init(&s, buf, len);
	sb_header(&s, msg);
	if (msg->edns.present)
		sb_edns(&s, &msg->edns);
	if (msg->has_question) {
		sb_printf(&s, "\n;; QUESTION SECTION:\n;");
		sb_name(&s, msg->qname);
		sb_printf(&s, "\t\t");
		sb_class(&s, msg->qclass);
		sb_printf(&s, "\t");
		sb_type(&s, msg->qtype);
		sb_printf(&s, "\n");
	}
	if (msg->rrs) {
		sb_section(&s, msg, "ANSWER", 0, msg->an);
		sb_section(&s, msg, "AUTHORITY", msg->an, msg->ns);
		sb_section(&s, msg, "ADDITIONAL", msg->an + msg->ns, msg->ar);
	}
	return sb_result(&s);
}
