/*
 * libFuzzer target for the message codec. Each input is parsed with cn_msg_parse; a message
 * that parses is printed (cn_msg_to_str), written back with cn_writer (compressing), and the
 * result must parse again to the same records (names compared case-insensitively, since
 * compression may borrow an earlier name's case). The allocation-free cn_msg_parse_query must
 * accept whatever the full parser accepts. Any violation aborts, which libFuzzer reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/errors.h"
#include "resolver/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEXT_MAX (64 * 1024)

static void fail(const char *what, int r)
{
	fprintf(stderr, "fuzz_wire: %s (%d: %s)\n", what, r, cn_strerror(r));
	abort();
}

static uint8_t fold(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* RDATA equal; typed RDATA may differ in letter case only (names borrowed by compression). */
static bool rdata_same(const cn_rr_t *a, const cn_rr_t *b)
{
	if (a->rdlen != b->rdlen)
		return false;
	bool typed = a->rclass == CN_CLASS_IN && a->type != CN_TYPE_A && a->type != CN_TYPE_AAAA;
	for (size_t i = 0; i < a->rdlen; i++)
		if (typed ? fold(a->rdata[i]) != fold(b->rdata[i]) : a->rdata[i] != b->rdata[i])
			return false;
	return true;
}

static bool rr_same(const cn_rr_t *a, const cn_rr_t *b)
{
	return cn_dname_eq(a->owner, b->owner) && a->type == b->type &&
	       a->rclass == b->rclass && a->ttl == b->ttl && a->section == b->section &&
	       rdata_same(a, b);
}

/* Write m back; stops at the first record that does not fit (-ENOSPC is allowed: SRV and
 * DNAME targets are written uncompressed, so the copy can outgrow 65535). Returns the
 * number of records written. */
static size_t rewrite(const cn_msg_t *m, uint8_t *buf, size_t cap, size_t *len)
{
	cn_writer_t w;
	int r = cn_writer_init(&w, buf, cap, m->id, m->flags);
	if (r)
		fail("writer_init", r);
	if (m->has_question && (r = cn_writer_question(&w, m->qname, m->qtype, m->qclass)))
		fail("writer_question", r);
	size_t n = 0, total = m->an + m->ns + m->ar;
	for (; n < total; n++) {
		const cn_rr_t *rr = &m->rrs[n];
		r = cn_writer_rr(&w, rr->section, rr->owner, rr->type, rr->rclass, rr->ttl,
				 rr->rdata, rr->rdlen);
		if (r == -ENOSPC)
			break;
		if (r)
			fail("writer_rr", r);
	}
	if (n == total && m->edns.present) {
		r = cn_writer_opt(&w, m->edns.udp_size, m->edns.ext_rcode, m->edns.version,
				  m->edns.do_bit, m->edns.options, m->edns.options_len);
		if (r && r != -ENOSPC)
			fail("writer_opt", r);
	}
	*len = cn_writer_finish(&w);
	return n;
}

static void check_copy(const cn_msg_t *m, const cn_msg_t *m2, size_t written)
{
	if (m2->an + m2->ns + m2->ar != written || m2->id != m->id || m2->flags != m->flags ||
	    m2->has_question != m->has_question)
		fail("rewritten message differs (header or counts)", 0);
	if (m->has_question && (!cn_dname_eq(m->qname, m2->qname) || m->qtype != m2->qtype ||
				m->qclass != m2->qclass))
		fail("rewritten message differs (question)", 0);
	for (size_t i = 0; i < written; i++)
		if (!rr_same(&m->rrs[i], &m2->rrs[i]))
			fail("rewritten message differs (record)", (int)i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cn_arena_t arena;
	static bool init;
	static uint8_t out[CN_MSG_MAX];
	static char text[TEXT_MAX];
	if (!init) {
		cn_arena_init(&arena, 0);
		init = true;
	}
	cn_arena_reset(&arena);

	cn_msg_t m, q, m2;
	int rq = cn_msg_parse_query(data, size, &q);
	int r = cn_msg_parse(data, size, &arena, &m);
	if (r)
		return 0;
	if (rq)
		fail("parse_query rejects what parse accepts", rq);
	if (q.qname_len != m.qname_len || q.edns.present != m.edns.present)
		fail("parse_query disagrees with parse", 0);

	int t = cn_msg_to_str(&m, text, sizeof(text));
	if (t != -ENOSPC && (t < 0 || strlen(text) != (size_t)t))
		fail("msg_to_str", t);
	cn_msg_to_str(&m, text, size % 97); /* small buffers cut cleanly */

	size_t len;
	size_t written = rewrite(&m, out, sizeof(out), &len);
	if ((r = cn_msg_parse(out, len, &arena, &m2)))
		fail("rewritten message does not parse", r);
	check_copy(&m, &m2, written);
	return 0;
}
