/*
 * DNS message codec (RFC 1035 4, RFC 3597, RFC 6891).
 *
 * Reading: cn_msg_parse() checks a whole message and gives its header, question, every
 * record of every section and the EDNS OPT record. Names (owners and the names inside the
 * RDATA of NS, CNAME, DNAME, PTR, MX, SOA, SRV and the other RFC 1035 types) come out
 * decompressed, so every RDATA handed out is self-contained wire form that can be cached,
 * compared and written again. Types cairn does not know are kept opaque (RFC 3597).
 * Memory for records and names comes from the caller's arena.
 *
 * Writing: cn_writer_* builds a message into a caller buffer, compressing owner names and
 * the RDATA names that RFC 3597 4 allows to be compressed (the RFC 1035 types), never the
 * others (SRV, DNAME, unknown). A record that does not fit returns -ENOSPC and leaves the
 * message as it was before the call, so the caller can set TC and stop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolver/arena.h"
#include "resolver/dname.h"

#define CN_HEADER_LEN 12
#define CN_MSG_MAX 65535

/* Network-order integers in DNS messages (RFC 1035 2.3.2): the one set of helpers for
 * every reader and writer of DNS bytes in resolver/ and net/ (cache/ keeps its own for its
 * dump file format: it may not depend on resolver/). p must have 2 or 4 bytes. */
static inline uint16_t cn_wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t cn_wire_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void cn_wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void cn_wire_put32(uint8_t *p, uint32_t v)
{
	cn_wire_put16(p, (uint16_t)(v >> 16));
	cn_wire_put16(p + 2, (uint16_t)v);
}

/* Header flag bits in the 16-bit flags word (RFC 1035 4.1.1, RFC 4035 for AD/CD). */
#define CN_FLAG_QR 0x8000
#define CN_FLAG_AA 0x0400
#define CN_FLAG_TC 0x0200
#define CN_FLAG_RD 0x0100
#define CN_FLAG_RA 0x0080
#define CN_FLAG_AD 0x0020
#define CN_FLAG_CD 0x0010
#define CN_OPCODE(flags) (((flags) >> 11) & 0xF)
#define CN_RCODE(flags) ((flags) & 0xF)

enum {
	CN_RCODE_NOERROR = 0, CN_RCODE_FORMERR = 1, CN_RCODE_SERVFAIL = 2,
	CN_RCODE_NXDOMAIN = 3, CN_RCODE_NOTIMP = 4, CN_RCODE_REFUSED = 5,
	CN_RCODE_YXDOMAIN = 6, CN_RCODE_BADVERS = 16,
};

enum {
	CN_TYPE_A = 1, CN_TYPE_NS = 2, CN_TYPE_CNAME = 5, CN_TYPE_SOA = 6, CN_TYPE_PTR = 12,
	CN_TYPE_HINFO = 13, CN_TYPE_MX = 15, CN_TYPE_TXT = 16, CN_TYPE_AAAA = 28,
	CN_TYPE_SRV = 33, CN_TYPE_DNAME = 39, CN_TYPE_OPT = 41, CN_TYPE_DS = 43,
	CN_TYPE_RRSIG = 46, CN_TYPE_NSEC = 47, CN_TYPE_DNSKEY = 48, CN_TYPE_IXFR = 251,
	CN_TYPE_AXFR = 252, CN_TYPE_ANY = 255,
};
enum { CN_CLASS_IN = 1, CN_CLASS_CH = 3, CN_CLASS_ANY = 255 };

typedef enum cn_section {
	CN_SECTION_QUESTION = 0,
	CN_SECTION_ANSWER = 1,
	CN_SECTION_AUTHORITY = 2,
	CN_SECTION_ADDITIONAL = 3,
} cn_section_t;

/* Extended DNS Error codes used by cairn (RFC 8914 4). */
enum {
	CN_EDE_OTHER = 0, CN_EDE_STALE_ANSWER = 3, CN_EDE_NO_REACHABLE_AUTHORITY = 22,
	CN_EDE_NETWORK_ERROR = 23, CN_EDE_PROHIBITED = 18, CN_EDE_NOT_SUPPORTED = 21,
	CN_EDE_DNSSEC_BOGUS = 6, /* 1, 2, 6-12, 27: the DNSSEC ones (resolver/dnssec.h) */
};
#define CN_EDNS_OPT_EDE 15

/** One resource record. owner and rdata point into the parse arena (or a caller's memory). */
typedef struct cn_rr {
	const uint8_t *owner;  /* uncompressed wire name, case as received */
	const uint8_t *rdata;  /* uncompressed RDATA: names inside are expanded */
	uint32_t ttl;          /* seconds, as received (top bit set values clamped to 0) */
	uint16_t type;
	uint16_t rclass;
	uint16_t rdlen;
	uint8_t section;       /* cn_section_t */
} cn_rr_t;

/** EDNS(0) OPT pseudo-record (RFC 6891 6.1). */
typedef struct cn_edns {
	bool present;
	uint16_t udp_size;      /* requestor's payload size as sent (not clamped) */
	uint8_t ext_rcode;      /* upper 8 bits of the 12-bit RCODE */
	uint8_t version;
	bool do_bit;
	uint16_t option_count;  /* number of options, each checked against the RDATA length */
	const uint8_t *options; /* the OPT RDATA (option list), options_len bytes */
	uint16_t options_len;
	uint16_t ede_code;      /* first Extended DNS Error option (RFC 8914), if has_ede */
	bool has_ede;
} cn_edns_t;

/** A parsed message. rrs holds the answer, authority and additional records in that
 *  order; the OPT record is not among them (see edns). */
typedef struct cn_msg {
	uint16_t id;
	uint16_t flags;
	uint16_t qdcount, ancount, nscount, arcount; /* counts as found in the header */
	bool has_question;                            /* qdcount == 1 */
	uint8_t qname[CN_DNAME_MAX];
	size_t qname_len;
	uint16_t qtype;
	uint16_t qclass;
	size_t question_end;  /* offset just past the question section */
	cn_rr_t *rrs;
	size_t an, ns, ar;    /* records per section in rrs (ar excludes OPT) */
	cn_edns_t edns;
	uint16_t rcode;       /* full RCODE: header RCODE | ext_rcode << 4 */
} cn_msg_t;

/**
 * Parse and check a whole message. The question section must hold 0 or 1 entries
 * (more gives CN_EMALF). A second OPT, an OPT outside ADDITIONAL or with a non-root owner
 * gives CN_EEDNS. Trailing bytes after the last record give CN_ETRAILING. On error *msg is
 * unspecified. Returns 0 or a negative cn error.
 */
int cn_msg_parse(const uint8_t *wire, size_t len, cn_arena_t *arena, cn_msg_t *msg);

/**
 * Parse only the header and the question (at most one: more gives CN_EMALF; none leaves
 * has_question false), with no allocation and nothing after it looked at:
 * msg->question_end is where the question ends. The one question parser of cairn:
 * cn_msg_parse and cn_msg_parse_query start with it, and the engine's REFUSED reply
 * (cn_engine_refuse) echoes what it accepts. Returns 0 or a negative cn error.
 */
int cn_msg_parse_question(const uint8_t *wire, size_t len, cn_msg_t *msg);

/**
 * Parse only header, question and (by skipping answer/authority) the OPT record of a
 * client query, with no allocation. Same checks as cn_msg_parse for what it reads.
 */
int cn_msg_parse_query(const uint8_t *wire, size_t len, cn_msg_t *msg);

/** Check typed RDATA (already decompressed) for a type: 0 or CN_ERDATA. Unknown types: 0. */
int cn_rdata_check(uint16_t type, const uint8_t *rdata, size_t rdlen);

/**
 * The domain name embedded in RDATA for NS, CNAME, DNAME, PTR (whole RDATA), MX (after the
 * preference), SRV (after priority, weight, port), SOA (mname); NULL for other types.
 */
const uint8_t *cn_rdata_target(uint16_t type, const uint8_t *rdata, size_t rdlen);

/** SOA fields from its RDATA: serial, refresh, retry, expire, minimum. 0 or CN_ERDATA. */
int cn_rdata_soa_minimum(const uint8_t *rdata, size_t rdlen, uint32_t *minimum);

/** Presentation form of RDATA ("10 mail.example.com.", "\"text\"", "\\# 4 0a000001").
 *  Returns the length written or -ENOSPC. */
int cn_rdata_to_str(uint16_t type, const uint8_t *rdata, size_t rdlen, char *buf, size_t len);

/** "owner ttl class type rdata" for logs and tests. Returns length or -ENOSPC. */
int cn_rr_to_str(const cn_rr_t *rr, char *buf, size_t len);

/** Mnemonic of a type ("A", "TYPE65280" for unknown) into buf; returns buf. */
const char *cn_type_to_str(uint16_t type, char *buf, size_t len);
/** Type from mnemonic or TYPEnnn; 0 when unknown. */
uint16_t cn_type_from_str(const char *str);

/** The offsets of the TTL fields of every record of a message (OPT's excepted), in
 *  order, into off (at most max): their number, or -1 when the message is malformed or
 *  has more. */
int cn_wire_ttl_offsets(const uint8_t *msg, size_t len, uint16_t *off, size_t max);

/** A whole message in dig-like text, for logs and tests. Returns length or -ENOSPC. */
int cn_msg_to_str(const cn_msg_t *msg, char *buf, size_t len);

/* ------------------------------------------------------------------------------------ */

#define CN_COMPRESS_MAX 64 /* names remembered for compression per message (bounds work) */

/** Message writer over a caller buffer. */
typedef struct cn_writer {
	uint8_t *buf;
	size_t cap;     /* bytes usable in buf (<= CN_MSG_MAX) */
	size_t len;     /* bytes written so far */
	uint16_t count[4]; /* records written per section */
	uint16_t comp_off[CN_COMPRESS_MAX]; /* offsets of names usable as pointer targets */
	size_t comp_n;
	bool compress;  /* default true */
} cn_writer_t;

/** Start a message: writes a 12-byte header with id and flags and zero counts.
 *  Returns 0 or -ENOSPC (cap < 12). */
int cn_writer_init(cn_writer_t *w, uint8_t *buf, size_t cap, uint16_t id, uint16_t flags);
/** Set the flags word (RCODE included) of the message being written. */
void cn_writer_set_flags(cn_writer_t *w, uint16_t flags);
/** Write the (single) question. Must come before any record. 0 or -ENOSPC. */
int cn_writer_question(cn_writer_t *w, const uint8_t *qname, uint16_t qtype, uint16_t qclass);
/** Append one record to section (ANSWER, AUTHORITY or ADDITIONAL, in that order).
 *  rdata is uncompressed wire form. On -ENOSPC nothing is added. */
int cn_writer_rr(cn_writer_t *w, cn_section_t section, const uint8_t *owner, uint16_t type,
		 uint16_t rclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);
/** Append an OPT record to ADDITIONAL; options: raw option list (may be NULL). */
int cn_writer_opt(cn_writer_t *w, uint16_t udp_size, uint8_t ext_rcode, uint8_t version,
		  bool do_bit, const uint8_t *options, uint16_t options_len);
/** Patch the section counts into the header; returns the message length. */
size_t cn_writer_finish(cn_writer_t *w);
