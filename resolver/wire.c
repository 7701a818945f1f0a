/*
 * The DNS message codec: a strict parser (cn_msg_parse, and the allocation-free
 * cn_msg_parse_query for the cache-hit path) and a writer with name compression
 * (cn_writer_*). The message is the most exposed input cairn has: every length is checked
 * against the buffer before it is used, names go through the loop-safe cn_dname_unpack(),
 * and a malformed message gets a specific error code, never an assertion.
 */
#include "resolver/wire.h"

#include <stddef.h>
#include <string.h>

#include "cache/cache.h"
#include "resolver/errors.h"
#include "resolver/wire_internal.h"

/* Smallest possible resource record: root owner (1) + type, class, TTL, RDLENGTH (10). */
#define RR_MIN_LEN 11

/* ------------------------------------------------------------------ reading ------- */

/* The fixed part of a record after its owner name (RFC 1035 4.1.3). */
typedef struct rr_head {
	uint16_t type, rclass, rdlen;
	uint32_t ttl;
	size_t rdata; /* offset of RDATA */
} rr_head_t;

static int read_rr_head(const uint8_t *w, size_t len, size_t *pos, rr_head_t *h)
{
	size_t p = *pos;
	if (len - p < 10)
		return CN_ETRUNC;
	h->type = cn_wire_get16(w + p);
	h->rclass = cn_wire_get16(w + p + 2);
	h->ttl = cn_wire_get32(w + p + 4);
	h->rdlen = cn_wire_get16(w + p + 8);
	h->rdata = p + 10;
	if (h->rdlen > len - h->rdata)
		return CN_ETRUNC; /* RDLENGTH runs past the end of the message */
	*pos = h->rdata + h->rdlen;
	return 0;
}

int cn_msg_parse_question(const uint8_t *w, size_t len, cn_msg_t *msg)
{
	if (!w || len < CN_HEADER_LEN)
		return CN_ETRUNC;
	if (len > CN_MSG_MAX)
		return CN_EMALF;
	memset(msg, 0, offsetof(cn_msg_t, qname));
	msg->qname_len = 0;
	msg->qtype = msg->qclass = 0;
	msg->rrs = NULL;
	msg->an = msg->ns = msg->ar = 0;
	memset(&msg->edns, 0, sizeof(msg->edns));
	msg->id = cn_wire_get16(w);
	msg->flags = cn_wire_get16(w + 2);
	msg->qdcount = cn_wire_get16(w + 4);
	msg->ancount = cn_wire_get16(w + 6);
	msg->nscount = cn_wire_get16(w + 8);
	msg->arcount = cn_wire_get16(w + 10);
	msg->rcode = CN_RCODE(msg->flags);
	size_t p = CN_HEADER_LEN;
	if (msg->qdcount > 1)
		return CN_EMALF;
	if (msg->qdcount == 1) {
		if (p == len)
			return CN_ECOUNT;
		int r = cn_dname_unpack(w, len, &p, msg->qname, &msg->qname_len);
		if (r)
			return r;
		if (len - p < 4)
			return CN_ETRUNC;
		msg->qtype = cn_wire_get16(w + p);
		msg->qclass = cn_wire_get16(w + p + 2);
		p += 4;
		msg->has_question = true;
	}
	msg->question_end = p;
	return 0;
}

/* Header (RFC 1035 4.1.1) and question (4.1.2), then a bound on the record counts. */
static int parse_header_question(const uint8_t *w, size_t len, cn_msg_t *msg, size_t *pos)
{
	int r = cn_msg_parse_question(w, len, msg);
	if (r)
		return r;
	size_t p = msg->question_end;
	/* Cheap early bound: every record needs RR_MIN_LEN octets. */
	size_t nrr = (size_t)msg->ancount + msg->nscount + msg->arcount;
	if (nrr * RR_MIN_LEN > len - p)
		return CN_ECOUNT;
	*pos = p;
	return 0;
}

/*
 * EDNS OPT pseudo-record (RFC 6891 6.1.2, 6.1.3): owner is the root, CLASS carries the
 * payload size, TTL the extended RCODE, version and DO bit; RDATA is a list of
 * {code, length, data} options, each checked against the RDATA length.
 */
static int parse_opt(const uint8_t *w, const uint8_t *owner, const rr_head_t *h,
		     cn_section_t sec, cn_msg_t *msg)
{
	if (msg->edns.present || sec != CN_SECTION_ADDITIONAL || owner[0] != 0)
		return CN_EEDNS;
	cn_edns_t *e = &msg->edns;
	e->present = true;
	e->udp_size = h->rclass;
	e->ext_rcode = (uint8_t)(h->ttl >> 24);
	e->version = (uint8_t)(h->ttl >> 16);
	e->do_bit = (h->ttl & 0x8000) != 0;
	e->options = h->rdlen ? w + h->rdata : NULL;
	e->options_len = h->rdlen;
	const uint8_t *o = w + h->rdata;
	size_t p = 0;
	while (p < h->rdlen) {
		if (h->rdlen - p < 4)
			return CN_EEDNS;
		uint16_t code = cn_wire_get16(o + p), olen = cn_wire_get16(o + p + 2);
		if (olen > h->rdlen - p - 4)
			return CN_EEDNS;
		/* RFC 8914 2: INFO-CODE (16 bits) then optional EXTRA-TEXT. */
		if (code == CN_EDNS_OPT_EDE && !e->has_ede && olen >= 2) {
			e->has_ede = true;
			e->ede_code = cn_wire_get16(o + p + 4);
		}
		e->option_count++;
		p += 4 + (size_t)olen;
	}
	msg->rcode = (uint16_t)(CN_RCODE(msg->flags) | (uint16_t)e->ext_rcode << 4);
	return 0;
}

static cn_section_t section_of(const cn_msg_t *msg, size_t i)
{
	if (i < msg->ancount)
		return CN_SECTION_ANSWER;
	if (i < (size_t)msg->ancount + msg->nscount)
		return CN_SECTION_AUTHORITY;
	return CN_SECTION_ADDITIONAL;
}

/* Decoded RDATA of ordinary size is built on the stack and copied at its exact length, so a
 * hostile message of many compressed names does not reserve 255 arena bytes per name. */
#define RDATA_STACK_MAX 2048

/* RDATA into the arena: decompressed for known IN types, verbatim otherwise (RFC 3597). */
static int store_rdata(const uint8_t *w, const rr_head_t *h, cn_arena_t *arena, cn_rr_t *rr)
{
	const cn__rdesc_t *d = h->rclass == CN_CLASS_IN ? cn__rdata_desc(h->type) : NULL;
	if (!d) {
		rr->rdata = cn_arena_dup(arena, w + h->rdata, h->rdlen);
		rr->rdlen = h->rdlen;
		return rr->rdata ? 0 : -ENOMEM;
	}
	uint8_t stack[RDATA_STACK_MAX];
	size_t cap = cn__rdata_unpack_bound(d, h->rdlen);
	uint8_t *out = cap <= sizeof(stack) ? stack : cn_arena_alloc(arena, cap);
	if (!out)
		return -ENOMEM;
	int r = cn__rdata_unpack(d, w, h->rdata, h->rdlen, out, cap);
	if (r < 0)
		return r;
	if (out == stack && !(out = cn_arena_dup(arena, stack, (size_t)r)))
		return -ENOMEM;
	rr->rdata = out;
	rr->rdlen = (uint16_t)r;
	return 0;
}

/* Owner into the arena, sharing the previous record's copy when it is the same name
 * (the common case: an RRset's records sit together). */
static const uint8_t *store_owner(cn_arena_t *arena, const uint8_t *name, size_t len,
				  const cn_rr_t *prev)
{
	if (prev && cn_dname_len(prev->owner) == len && memcmp(prev->owner, name, len) == 0)
		return prev->owner;
	return cn_arena_dup(arena, name, len);
}

static int parse_rr(const uint8_t *w, size_t len, size_t *pos, cn_section_t sec,
		    cn_arena_t *arena, cn_msg_t *msg)
{
	uint8_t owner[CN_DNAME_MAX];
	size_t olen;
	rr_head_t h;
	if (*pos == len)
		return CN_ECOUNT; /* the header promised more records than there are */
	int r = cn_dname_unpack(w, len, pos, owner, &olen);
	if (r)
		return r;
	if ((r = read_rr_head(w, len, pos, &h)))
		return r;
	if (h.type == CN_TYPE_OPT) {
		if ((r = parse_opt(w, owner, &h, sec, msg)))
			return r;
		if (msg->edns.options_len) {
			msg->edns.options = cn_arena_dup(arena, msg->edns.options, h.rdlen);
			if (!msg->edns.options)
				return -ENOMEM;
		}
		return 0;
	}
	size_t n = msg->an + msg->ns + msg->ar;
	cn_rr_t *rr = &msg->rrs[n];
	rr->owner = store_owner(arena, owner, olen, n ? &msg->rrs[n - 1] : NULL);
	if (!rr->owner)
		return -ENOMEM;
	if ((r = store_rdata(w, &h, arena, rr)))
		return r;
	rr->type = h.type;
	rr->rclass = h.rclass;
	rr->ttl = h.ttl & 0x80000000u ? 0 : h.ttl; /* RFC 2181 8: top bit set means 0 */
	rr->section = (uint8_t)sec;
	if (sec == CN_SECTION_ANSWER)
		msg->an++;
	else if (sec == CN_SECTION_AUTHORITY)
		msg->ns++;
	else
		msg->ar++;
	return 0;
}

int cn_msg_parse(const uint8_t *wire, size_t len, cn_arena_t *arena, cn_msg_t *msg)
{
	size_t pos;
	int r = parse_header_question(wire, len, msg, &pos);
	if (r)
		return r;
	size_t nrr = (size_t)msg->ancount + msg->nscount + msg->arcount;
	if (nrr) {
		msg->rrs = cn_arena_alloc(arena, nrr * sizeof(cn_rr_t));
		if (!msg->rrs)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nrr; i++)
		if ((r = parse_rr(wire, len, &pos, section_of(msg, i), arena, msg)))
			return r;
	return pos == len ? 0 : CN_ETRAILING;
}

/* A record skipped by cn_msg_parse_query: name and lengths checked, RDATA not decoded. */
static int skip_rr(const uint8_t *w, size_t len, size_t *pos, cn_section_t sec, cn_msg_t *msg)
{
	uint8_t owner[CN_DNAME_MAX];
	rr_head_t h;
	if (*pos == len)
		return CN_ECOUNT;
	int r = cn_dname_unpack(w, len, pos, owner, NULL);
	if (r)
		return r;
	if ((r = read_rr_head(w, len, pos, &h)))
		return r;
	if (h.type == CN_TYPE_OPT)
		return parse_opt(w, owner, &h, sec, msg);
	return 0;
}

int cn_msg_parse_query(const uint8_t *wire, size_t len, cn_msg_t *msg)
{
	size_t pos;
	int r = parse_header_question(wire, len, msg, &pos);
	if (r)
		return r;
	size_t nrr = (size_t)msg->ancount + msg->nscount + msg->arcount;
	for (size_t i = 0; i < nrr; i++)
		if ((r = skip_rr(wire, len, &pos, section_of(msg, i), msg)))
			return r;
	return pos == len ? 0 : CN_ETRAILING;
}

/* ------------------------------------------------------------------ writing ------- */

int cn_writer_init(cn_writer_t *w, uint8_t *buf, size_t cap, uint16_t id, uint16_t flags)
{
	/* every field zeroed but comp_off (read only below comp_n): zeroing its 128 bytes
	 * was a measurable part of a cache hit */
	size_t skip = offsetof(cn_writer_t, comp_off), after = skip + sizeof(w->comp_off);
	memset(w, 0, skip);
	memset((uint8_t *)w + after, 0, sizeof(*w) - after);
	w->buf = buf;
	w->cap = cap > CN_MSG_MAX ? CN_MSG_MAX : cap;
	w->compress = true;
	if (w->cap < CN_HEADER_LEN)
		return -ENOSPC;
	memset(buf, 0, CN_HEADER_LEN);
	cn_wire_put16(buf, id);
	cn_wire_put16(buf + 2, flags);
	w->len = CN_HEADER_LEN;
	return 0;
}

/* A writer whose init failed (a buffer under a header) has len 0: it writes nothing, so
 * callers that go on to set flags and finish cannot write past a tiny buffer. */
void cn_writer_set_flags(cn_writer_t *w, uint16_t flags)
{
	if (w->len >= CN_HEADER_LEN)
		cn_wire_put16(w->buf + 2, flags);
}

/* Does the name written at message offset off equal name (case-insensitively)? The
 * message side holds only complete names written earlier, below limit, whose pointers are
 * our own and point backwards; reads are still bounded by limit. */
static bool match_at(const uint8_t *buf, size_t limit, size_t off, const uint8_t *name)
{
	for (int hops = 0; hops < CN_DNAME_MAX; hops++) {
		if (off >= limit)
			return false;
		uint8_t l = buf[off];
		if ((l & 0xC0) == 0xC0) {
			if (off + 1 >= limit)
				return false;
			off = (size_t)(l & 0x3F) << 8 | buf[off + 1];
			continue;
		}
		if (l != *name || l >= limit - off)
			return false;
		if (l == 0)
			return true;
		if (memcmp(buf + off + 1, name + 1, l) != 0) /* the same case: the common one */
			for (size_t i = 1; i <= l; i++)
				if (cn_ascii_lower(buf[off + i]) != cn_ascii_lower(name[i]))
					return false;
		off += (size_t)l + 1;
		name += l + 1;
	}
	return false;
}

/*
 * Offset of an earlier copy of the suffix name, or 0 (0 is the header: never a target).
 * Only the first n entries are searched: those of names completed before the current one
 * began, which all lie below limit. (An entry for an earlier label of the name being
 * written would be followed by bytes not written yet.)
 */
static size_t comp_find(const cn_writer_t *w, size_t n, size_t limit, const uint8_t *name)
{
	for (size_t i = 0; i < n; i++)
		if (w->buf[w->comp_off[i]] == name[0] &&
		    match_at(w->buf, limit, w->comp_off[i], name))
			return w->comp_off[i];
	return 0;
}

static void comp_add(cn_writer_t *w, size_t off)
{
	/* RFC 1035 4.1.4: a pointer holds a 14-bit offset. */
	if (w->comp_n < CN_COMPRESS_MAX && off < 0x4000)
		w->comp_off[w->comp_n++] = (uint16_t)off;
}

/* Write a name, as a pointer to an earlier copy of its longest known suffix when
 * compress is set. 0 or -ENOSPC (the caller rolls back). */
static int write_name(cn_writer_t *w, const uint8_t *name, bool compress)
{
	compress = compress && w->compress;
	size_t known = w->comp_n, start = w->len;
	while (*name) {
		size_t target = compress ? comp_find(w, known, start, name) : 0;
		if (target) {
			if (w->cap - w->len < 2)
				return -ENOSPC;
			cn_wire_put16(w->buf + w->len, (uint16_t)(0xC000 | target));
			w->len += 2;
			return 0;
		}
		size_t l = (size_t)*name + 1;
		if (w->cap - w->len < l)
			return -ENOSPC;
		if (w->compress)
			comp_add(w, w->len);
		memcpy(w->buf + w->len, name, l);
		w->len += l;
		name += l;
	}
	if (w->cap - w->len < 1)
		return -ENOSPC;
	w->buf[w->len++] = 0;
	return 0;
}

static int write_bytes(cn_writer_t *w, const void *src, size_t n)
{
	if (w->cap - w->len < n)
		return -ENOSPC;
	if (n)
		memcpy(w->buf + w->len, src, n);
	w->len += n;
	return 0;
}

/* RDATA by its descriptor: names compressed only where RFC 3597 4 allows. rdata has been
 * checked against the descriptor (cn_rdata_check), so the walk stays inside it. */
static int write_typed_rdata(cn_writer_t *w, const cn__rdesc_t *d, const uint8_t *rdata,
			     uint16_t rdlen)
{
	size_t p = 0;
	for (int i = 0; i < CN__RDESC_FIELDS && d->f[i]; i++) {
		uint8_t f = d->f[i];
		int r;
		if (f == CN__RF_NAME_C || f == CN__RF_NAME) {
			r = write_name(w, rdata + p, f == CN__RF_NAME_C);
			p += cn_dname_len(rdata + p);
		} else if (f <= CN__RF_FIXED_MAX) {
			r = write_bytes(w, rdata + p, f);
			p += f;
		} else if (f == CN__RF_STR) {
			r = write_bytes(w, rdata + p, (size_t)rdata[p] + 1);
			p += (size_t)rdata[p] + 1;
		} else {
			r = write_bytes(w, rdata + p, rdlen - p);
			p = rdlen;
		}
		if (r)
			return r;
	}
	return 0;
}

static int write_rdata(cn_writer_t *w, uint16_t type, uint16_t rclass, const uint8_t *rdata,
		       uint16_t rdlen)
{
	const cn__rdesc_t *d = rclass == CN_CLASS_IN ? cn__rdata_desc(type) : NULL;
	if (!d || cn_rdata_check(type, rdata, rdlen))
		return write_bytes(w, rdata, rdlen); /* opaque, RFC 3597 */
	return write_typed_rdata(w, d, rdata, rdlen);
}

static bool section_order_ok(const cn_writer_t *w, cn_section_t s)
{
	for (int later = (int)s + 1; later <= CN_SECTION_ADDITIONAL; later++)
		if (w->count[later])
			return false;
	return true;
}

int cn_writer_question(cn_writer_t *w, const uint8_t *qname, uint16_t qtype, uint16_t qclass)
{
	if (w->count[0] || !section_order_ok(w, CN_SECTION_QUESTION))
		return -EINVAL;
	size_t save_len = w->len, save_comp = w->comp_n;
	uint8_t tail[4];
	cn_wire_put16(tail, qtype);
	cn_wire_put16(tail + 2, qclass);
	int r = write_name(w, qname, true);
	if (!r)
		r = write_bytes(w, tail, 4);
	if (r) {
		w->len = save_len;
		w->comp_n = save_comp;
		return r;
	}
	w->count[0] = 1;
	return 0;
}

/* Record body after the owner: type, class, TTL, RDLENGTH (patched), RDATA. */
static int write_rr_body(cn_writer_t *w, uint16_t type, uint16_t rclass, uint32_t ttl,
			 const uint8_t *rdata, uint16_t rdlen)
{
	uint8_t head[10];
	cn_wire_put16(head, type);
	cn_wire_put16(head + 2, rclass);
	cn_wire_put32(head + 4, ttl);
	cn_wire_put16(head + 8, 0);
	int r = write_bytes(w, head, 10);
	if (r)
		return r;
	size_t rd_start = w->len;
	if (type == CN_TYPE_OPT)
		r = write_bytes(w, rdata, rdlen);
	else
		r = write_rdata(w, type, rclass, rdata, rdlen);
	if (r)
		return r;
	cn_wire_put16(w->buf + rd_start - 2, (uint16_t)(w->len - rd_start));
	return 0;
}

int cn_writer_rr(cn_writer_t *w, cn_section_t section, const uint8_t *owner, uint16_t type,
		 uint16_t rclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	if (section < CN_SECTION_ANSWER || section > CN_SECTION_ADDITIONAL ||
	    !section_order_ok(w, section) || w->count[section] == UINT16_MAX)
		return -EINVAL;
	if (rdlen && !rdata)
		return -EINVAL;
	size_t save_len = w->len, save_comp = w->comp_n;
	int r = write_name(w, owner, true);
	if (!r)
		r = write_rr_body(w, type, rclass, ttl, rdata, rdlen);
	if (r) {
		/* Roll back: the message is exactly as before the call. */
		w->len = save_len;
		w->comp_n = save_comp;
		return r;
	}
	w->count[section]++;
	return 0;
}

int cn_writer_opt(cn_writer_t *w, uint16_t udp_size, uint8_t ext_rcode, uint8_t version,
		  bool do_bit, const uint8_t *options, uint16_t options_len)
{
	/* RFC 6891 6.1.3: EXTENDED-RCODE(8) VERSION(8) DO(1) Z(15) in the TTL field. */
	uint32_t ttl = (uint32_t)ext_rcode << 24 | (uint32_t)version << 16 |
		       (do_bit ? 0x8000u : 0);
	static const uint8_t root[1] = {0};
	return cn_writer_rr(w, CN_SECTION_ADDITIONAL, root, CN_TYPE_OPT, udp_size, ttl, options,
			    options_len);
}

size_t cn_writer_finish(cn_writer_t *w)
{
	if (w->len < CN_HEADER_LEN)
		return 0;
	for (int s = 0; s < 4; s++)
		cn_wire_put16(w->buf + 4 + 2 * s, w->count[s]);
	return w->len;
}

/* Past the (possibly compressed) name at pos: its end, or 0 when it runs off the message. */
static size_t skip_name(const uint8_t *msg, size_t len, size_t pos)
{
	while (pos < len) {
		uint8_t l = msg[pos];
		if ((l & 0xC0) == 0xC0)
			return pos + 2 <= len ? pos + 2 : 0;
		if (l & 0xC0)
			return 0;
		pos += 1u + l;
		if (l == 0)
			return pos;
	}
	return 0;
}

int cn_wire_ttl_offsets(const uint8_t *msg, size_t len, uint16_t *off, size_t max)
{
	if (len < CN_HEADER_LEN || len > 0xffff)
		return -1;
	size_t pos = CN_HEADER_LEN, n = 0;
	for (unsigned i = 0; i < cn_wire_get16(msg + 4); i++)
		if (!(pos = skip_name(msg, len, pos)) || (pos += 4) > len)
			return -1;
	unsigned rrs = (unsigned)cn_wire_get16(msg + 6) + cn_wire_get16(msg + 8) +
		       cn_wire_get16(msg + 10);
	for (unsigned i = 0; i < rrs; i++) {
		if (!(pos = skip_name(msg, len, pos)) || pos + 10 > len)
			return -1;
		if (cn_wire_get16(msg + pos) != CN_TYPE_OPT) { /* OPT's "TTL" holds flags */
			if (n == max)
				return -1;
			off[n++] = (uint16_t)(pos + 4);
		}
		pos += 10u + cn_wire_get16(msg + pos + 8);
		if (pos > len)
			return -1;
	}
	return pos == len ? (int)n : -1;
}
