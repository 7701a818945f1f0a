/*
 * Unit tests for the message codec (resolver/wire.c, rdata.c, wire_str.c): round trips of
 * every typed RDATA, compression on write (and where it must not happen), a corpus of
 * malformed messages each rejected with its specific error, EDNS, the allocation-free query
 * parser, writer rollback on -ENOSPC, and the presentation forms. Messages for the corpus
 * are built byte by byte here, never with the writer under test.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/errors.h"
#include "resolver/wire.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------------------ builders ------ */

typedef struct bb {
	uint8_t b[70000];
	size_t n;
} bb_t;

static bb_t *bb_new(void)
{
	bb_t *b = calloc(1, sizeof(*b));
	ck_assert_ptr_nonnull(b);
	return b;
}

static void bb_u8(bb_t *b, unsigned v)
{
	b->b[b->n++] = (uint8_t)v;
}

static void bb_u16(bb_t *b, unsigned v)
{
	bb_u8(b, v >> 8);
	bb_u8(b, v);
}

static void bb_u32(bb_t *b, uint32_t v)
{
	bb_u16(b, v >> 16);
	bb_u16(b, v & 0xFFFF);
}

static void bb_raw(bb_t *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void bb_name(bb_t *b, const char *s)
{
	uint8_t n[CN_DNAME_MAX];
	size_t len;
	ck_assert_int_eq(cn_dname_from_str(s, n, &len), 0);
	bb_raw(b, n, len);
}

static void bb_str(bb_t *b, const char *s)
{
	bb_u8(b, strlen(s));
	bb_raw(b, s, strlen(s));
}

static void bb_header(bb_t *b, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	b->n = 0;
	bb_u16(b, 0x1234);
	bb_u16(b, 0x8180);
	bb_u16(b, qd);
	bb_u16(b, an);
	bb_u16(b, ns);
	bb_u16(b, ar);
}

/* owner name (presentation), type, class IN, TTL 300, RDLENGTH */
static void bb_rrhead(bb_t *b, const char *owner, unsigned type, unsigned rdlen)
{
	bb_name(b, owner);
	bb_u16(b, type);
	bb_u16(b, CN_CLASS_IN);
	bb_u32(b, 300);
	bb_u16(b, rdlen);
}

static void bb_question(bb_t *b, const char *name, unsigned type)
{
	bb_name(b, name);
	bb_u16(b, type);
	bb_u16(b, CN_CLASS_IN);
}

static const uint8_t *N(const char *s)
{
	static uint8_t bufs[16][CN_DNAME_MAX];
	static int next;
	uint8_t *b = bufs[next++ % 16];
	ck_assert_int_eq(cn_dname_from_str(s, b, NULL), 0);
	return b;
}

/* ------------------------------------------------------------------ fixtures ------ */

/* Typed RDATA examples, uncompressed wire form, one per type the codec knows. */
typedef struct sample {
	uint16_t type;
	uint16_t rclass;
	uint8_t rdata[600];
	uint16_t rdlen;
	const char *text; /* expected cn_rdata_to_str */
} sample_t;

static size_t nsamples;
static sample_t samples[32];

static bb_t rdb;
static sample_t *sample_begin(uint16_t type, const char *text)
{
	sample_t *s = &samples[nsamples++];
	s->type = type;
	s->rclass = CN_CLASS_IN;
	s->text = text;
	rdb.n = 0;
	return s;
}

static void sample_end(sample_t *s)
{
	memcpy(s->rdata, rdb.b, rdb.n);
	s->rdlen = (uint16_t)rdb.n;
}

static void make_samples(void)
{
	sample_t *s;
	nsamples = 0;
	s = sample_begin(CN_TYPE_A, "192.0.2.1");
	bb_raw(&rdb, "\xC0\x00\x02\x01", 4);
	sample_end(s);
	s = sample_begin(CN_TYPE_AAAA, "2001:db8::1");
	bb_raw(&rdb, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	sample_end(s);
	s = sample_begin(CN_TYPE_NS, "ns1.example.com.");
	bb_name(&rdb, "ns1.example.com");
	sample_end(s);
	s = sample_begin(CN_TYPE_CNAME, "web.example.com.");
	bb_name(&rdb, "web.example.com");
	sample_end(s);
	s = sample_begin(CN_TYPE_DNAME, "example.net.");
	bb_name(&rdb, "example.net");
	sample_end(s);
	s = sample_begin(CN_TYPE_PTR, "host.example.com.");
	bb_name(&rdb, "host.example.com");
	sample_end(s);
	s = sample_begin(CN_TYPE_SOA,
			 "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 "
			 "1209600 300");
	bb_name(&rdb, "ns1.example.com");
	bb_name(&rdb, "hostmaster.example.com");
	bb_u32(&rdb, 2024010101);
	bb_u32(&rdb, 7200);
	bb_u32(&rdb, 3600);
	bb_u32(&rdb, 1209600);
	bb_u32(&rdb, 300);
	sample_end(s);
	s = sample_begin(CN_TYPE_MX, "10 mail.example.com.");
	bb_u16(&rdb, 10);
	bb_name(&rdb, "mail.example.com");
	sample_end(s);
	s = sample_begin(CN_TYPE_TXT, "\"v=spf1 -all\" \"a \\\"q\\\" \\\\ \\009\" \"\"");
	bb_str(&rdb, "v=spf1 -all");
	bb_str(&rdb, "a \"q\" \\ \t");
	bb_str(&rdb, "");
	sample_end(s);
	s = sample_begin(CN_TYPE_SRV, "0 5 5060 sip.example.com.");
	bb_u16(&rdb, 0);
	bb_u16(&rdb, 5);
	bb_u16(&rdb, 5060);
	bb_name(&rdb, "sip.example.com");
	sample_end(s);
	s = sample_begin(CN_TYPE_HINFO, "\"PDP-11\" \"UNIX\"");
	bb_str(&rdb, "PDP-11");
	bb_str(&rdb, "UNIX");
	sample_end(s);
	s = sample_begin(14, "rmail.example.com. email.example.com."); /* MINFO */
	bb_name(&rdb, "rmail.example.com");
	bb_name(&rdb, "email.example.com");
	sample_end(s);
	s = sample_begin(17, "admin.example.com. info.example.com."); /* RP */
	bb_name(&rdb, "admin.example.com");
	bb_name(&rdb, "info.example.com");
	sample_end(s);
	s = sample_begin(35, "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" ."); /* NAPTR */
	bb_u16(&rdb, 100);
	bb_u16(&rdb, 10);
	bb_str(&rdb, "U");
	bb_str(&rdb, "E2U+sip");
	bb_str(&rdb, "!^.*$!sip:info@example.com!");
	bb_name(&rdb, ".");
	sample_end(s);
	s = sample_begin(65280, "\\# 5 07 6578616d"); /* unknown: opaque */
	s->text = "\\# 5 076578616d";
	bb_raw(&rdb, "\x07" "exam", 5);
	sample_end(s);
	s = sample_begin(65281, "\\# 0"); /* unknown, empty */
	sample_end(s);
	s = sample_begin(CN_TYPE_TXT, NULL); /* CH class: kept opaque */
	s->rclass = CN_CLASS_CH;
	bb_str(&rdb, "cairn");
	sample_end(s);
	s = sample_begin(CN_TYPE_NS, "\\# 4 c00c0000"); /* CH class NS: never decompressed */
	s->rclass = CN_CLASS_CH;
	bb_raw(&rdb, "\xC0\x0C\0\0", 4);
	sample_end(s);
}

static size_t write_samples(uint8_t *buf, size_t cap, bool compress)
{
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, cap, 0xBEEF, CN_FLAG_QR | CN_FLAG_RD), 0);
	w.compress = compress;
	ck_assert_int_eq(cn_writer_question(&w, N("www.example.com"), CN_TYPE_A, CN_CLASS_IN), 0);
	for (size_t i = 0; i < nsamples; i++) {
		cn_section_t sec = i < 8 ? CN_SECTION_ANSWER
				   : i < 12 ? CN_SECTION_AUTHORITY : CN_SECTION_ADDITIONAL;
		ck_assert_int_eq(cn_writer_rr(&w, sec, N(i % 2 ? "example.com" : "Www.Example.com"),
					      samples[i].type, samples[i].rclass, 300 + (uint32_t)i,
					      samples[i].rdata, samples[i].rdlen),
				 0);
	}
	ck_assert_int_eq(cn_writer_opt(&w, 1232, 0, 0, true, NULL, 0), 0);
	return cn_writer_finish(&w);
}

static void check_samples(const cn_msg_t *m)
{
	ck_assert_uint_eq(m->an + m->ns + m->ar, nsamples);
	ck_assert_uint_eq(m->an, 8);
	ck_assert_uint_eq(m->ns, 4);
	for (size_t i = 0; i < nsamples; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		ck_assert(cn_dname_eq(rr->owner, N(i % 2 ? "example.com" : "www.example.com")));
		ck_assert_uint_eq(rr->type, samples[i].type);
		ck_assert_uint_eq(rr->rclass, samples[i].rclass);
		ck_assert_uint_eq(rr->ttl, 300 + i);
		ck_assert_uint_eq(rr->rdlen, samples[i].rdlen);
		ck_assert_mem_eq(rr->rdata, samples[i].rdata, rr->rdlen);
	}
	ck_assert(m->edns.present);
	ck_assert_uint_eq(m->edns.udp_size, 1232);
	ck_assert(m->edns.do_bit);
}

/* Write a parsed message back with the writer (the fuzz target does the same). */
static size_t rewrite(const cn_msg_t *m, uint8_t *buf, size_t cap)
{
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, cap, m->id, m->flags), 0);
	if (m->has_question)
		ck_assert_int_eq(cn_writer_question(&w, m->qname, m->qtype, m->qclass), 0);
	for (size_t i = 0; i < m->an + m->ns + m->ar; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		ck_assert_int_eq(cn_writer_rr(&w, rr->section, rr->owner, rr->type, rr->rclass,
					      rr->ttl, rr->rdata, rr->rdlen),
				 0);
	}
	if (m->edns.present)
		ck_assert_int_eq(cn_writer_opt(&w, m->edns.udp_size, m->edns.ext_rcode,
					       m->edns.version, m->edns.do_bit, m->edns.options,
					       m->edns.options_len),
				 0);
	return cn_writer_finish(&w);
}

static cn_arena_t arena;

static void setup(void)
{
	cn_arena_init(&arena, 0);
	make_samples();
}

static void teardown(void)
{
	cn_arena_deinit(&arena);
}

/* ------------------------------------------------------------------ round trips --- */

START_TEST(test_roundtrip_all_types)
{
	uint8_t w1[4096], w2[4096];
	size_t n1 = write_samples(w1, sizeof(w1), true);
	cn_msg_t m1, m2;
	ck_assert_int_eq(cn_msg_parse(w1, n1, &arena, &m1), 0);
	ck_assert_uint_eq(m1.id, 0xBEEF);
	ck_assert_uint_eq(m1.flags, CN_FLAG_QR | CN_FLAG_RD);
	ck_assert(m1.has_question);
	ck_assert(cn_dname_eq(m1.qname, N("www.example.com")));
	ck_assert_uint_eq(m1.qname_len, 17);
	ck_assert_uint_eq(m1.question_end, 12 + 17 + 4);
	check_samples(&m1);
	/* parse -> write -> parse: equal, and byte-identical to the first write */
	size_t n2 = rewrite(&m1, w2, sizeof(w2));
	ck_assert_uint_eq(n2, n1);
	ck_assert_mem_eq(w1, w2, n1);
	ck_assert_int_eq(cn_msg_parse(w2, n2, &arena, &m2), 0);
	check_samples(&m2);
	/* uncompressed output parses to the same records */
	size_t n3 = write_samples(w2, sizeof(w2), false);
	ck_assert_uint_gt(n3, n1);
	ck_assert_int_eq(cn_msg_parse(w2, n3, &arena, &m2), 0);
	check_samples(&m2);
}
END_TEST

START_TEST(test_compression_targets)
{
	uint8_t buf[512];
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, sizeof(buf), 1, 0), 0);
	ck_assert_int_eq(cn_writer_question(&w, N("www.example.com"), CN_TYPE_A, CN_CLASS_IN), 0);
	/* answer owner: a pointer to the question name at 12 */
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("WWW.example.com"), CN_TYPE_CNAME,
				      CN_CLASS_IN, 60, N("web.example.com"), 17),
			 0);
	ck_assert_uint_eq(w.len, 33 + 2 + 10 + 6);
	ck_assert_mem_eq(buf + 33, "\xC0\x0C", 2);
	/* CNAME RDATA: "web" then a pointer to example.com at 16; RDLENGTH 6 */
	ck_assert_mem_eq(buf + 43, "\x00\x06\x03web\xC0\x10", 8);
	/* MX: preference, then a pointer to mail.? no: "mail" + pointer to example.com */
	uint8_t mx[32] = {0, 10};
	memcpy(mx + 2, N("mail.example.com"), 18);
	size_t at = w.len;
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("example.com"), CN_TYPE_MX,
				      CN_CLASS_IN, 60, mx, 20),
			 0);
	ck_assert_mem_eq(buf + at, "\xC0\x10", 2);
	ck_assert_mem_eq(buf + at + 10, "\x00\x09\x00\x0a\x04mail\xC0\x10", 11);
	/* SRV and DNAME targets are never compressed (RFC 3597 4), owners still are */
	uint8_t srv[64] = {0, 1, 0, 2, 0x13, 0xC4};
	memcpy(srv + 6, N("mail.example.com"), 18);
	at = w.len;
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("example.com"), CN_TYPE_SRV,
				      CN_CLASS_IN, 60, srv, 24),
			 0);
	ck_assert_mem_eq(buf + at, "\xC0\x10", 2);
	ck_assert_mem_eq(buf + at + 10, "\x00\x18", 2);
	ck_assert_mem_eq(buf + at + 12, srv, 24);
	at = w.len;
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("example.com"), CN_TYPE_DNAME,
				      CN_CLASS_IN, 60, N("example.com"), 13),
			 0);
	ck_assert_mem_eq(buf + at + 10, "\x00\x0d\x07" "example\x03" "com\x00", 15);
	size_t n = cn_writer_finish(&w);
	ck_assert_mem_eq(buf + 6, "\x00\x04\x00\x00\x00\x00", 6);
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
	ck_assert_uint_eq(m.an, 4);
	ck_assert(cn_dname_eq(m.rrs[0].rdata, N("web.example.com")));
	ck_assert_uint_eq(m.rrs[1].rdlen, 20);
	ck_assert_mem_eq(m.rrs[1].rdata, mx, 20);
	ck_assert_mem_eq(m.rrs[2].rdata, srv, 24);
	/* the owner copies take the case of the name they point to */
	ck_assert_mem_eq(m.rrs[0].owner, "\3www", 4);
}
END_TEST

START_TEST(test_compression_repeated_labels)
{
	/* A name whose suffix equals its own first labels must not point into itself
	 * (the bytes after its first label are not written yet): found by fuzz_wire. */
	static const char *names[] = {"x.x", "a.a.a.a", "b.a.b.a", "A.a"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint8_t buf[512];
		memset(buf, 0, sizeof(buf)); /* stale zeros look like a root label */
		cn_writer_t w;
		ck_assert_int_eq(cn_writer_init(&w, buf, sizeof(buf), 1, 0), 0);
		ck_assert_int_eq(cn_writer_question(&w, N(names[i]), CN_TYPE_A, CN_CLASS_IN), 0);
		ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N(names[i]), CN_TYPE_NS,
					      CN_CLASS_IN, 1, N(names[i]),
					      (uint16_t)cn_dname_len(N(names[i]))),
				 0);
		size_t n = cn_writer_finish(&w);
		cn_msg_t m;
		ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
		ck_assert(cn_dname_eq(m.qname, N(names[i])));
		ck_assert(cn_dname_eq(m.rrs[0].owner, N(names[i])));
		ck_assert(cn_dname_eq(m.rrs[0].rdata, N(names[i])));
		ck_assert_uint_eq(n, 12 + cn_dname_len(N(names[i])) + 4 + 2 + 10 + 2);
	}
}
END_TEST

START_TEST(test_decompress_on_read)
{
	/* SRV and DNAME must not be compressed by senders, but are read if they are */
	bb_t *b = bb_new();
	bb_header(b, 1, 2, 0, 0);
	bb_question(b, "example.com", CN_TYPE_SRV); /* name at 12, example.com at 12 */
	bb_rrhead(b, "example.com", CN_TYPE_SRV, 6 + 6);
	bb_raw(b, "\0\1\0\2\0\3", 6);
	bb_raw(b, "\3sip\xC0\x0C", 6);
	bb_rrhead(b, "example.com", CN_TYPE_DNAME, 2);
	bb_raw(b, "\xC0\x0C", 2);
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(b->b, b->n, &arena, &m), 0);
	ck_assert_uint_eq(m.rrs[0].rdlen, 6 + 17);
	ck_assert(cn_dname_eq(cn_rdata_target(CN_TYPE_SRV, m.rrs[0].rdata, m.rrs[0].rdlen),
			      N("sip.example.com")));
	ck_assert(cn_dname_eq(m.rrs[1].rdata, N("example.com")));
	/* an unknown type's RDATA is kept as is, pointer and all */
	bb_header(b, 1, 1, 0, 0);
	bb_question(b, "example.com", CN_TYPE_A);
	bb_rrhead(b, "example.com", 65280, 2);
	bb_raw(b, "\xC0\x0C", 2);
	ck_assert_int_eq(cn_msg_parse(b->b, b->n, &arena, &m), 0);
	ck_assert_uint_eq(m.rrs[0].rdlen, 2);
	ck_assert_mem_eq(m.rrs[0].rdata, "\xC0\x0C", 2);
	free(b);
}
END_TEST

START_TEST(test_large_txt)
{
	/* 16 strings of 255 octets: RDATA larger than the parser's stack buffer */
	bb_t *rd = bb_new();
	for (int i = 0; i < 16; i++) {
		bb_u8(rd, 255);
		for (int k = 0; k < 255; k++)
			bb_u8(rd, 'a' + (i + k) % 26);
	}
	uint8_t *buf = malloc(8192);
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, 8192, 1, 0), 0);
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("big.example"), CN_TYPE_TXT,
				      CN_CLASS_IN, 1, rd->b, (uint16_t)rd->n),
			 0);
	size_t n = cn_writer_finish(&w);
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
	ck_assert_uint_eq(m.rrs[0].rdlen, rd->n);
	ck_assert_mem_eq(m.rrs[0].rdata, rd->b, rd->n);
	free(buf);
	free(rd);
}
END_TEST

START_TEST(test_ttl_top_bit)
{
	bb_t *b = bb_new();
	bb_header(b, 0, 1, 0, 0);
	bb_name(b, "a");
	bb_u16(b, CN_TYPE_A);
	bb_u16(b, CN_CLASS_IN);
	bb_u32(b, 0x80000001u);
	bb_u16(b, 4);
	bb_raw(b, "\1\2\3\4", 4);
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(b->b, b->n, &arena, &m), 0);
	ck_assert_uint_eq(m.rrs[0].ttl, 0);
	ck_assert(!m.has_question);
	free(b);
}
END_TEST

/* ------------------------------------------------------------------ malformed ----- */

typedef void (*build_fn)(bb_t *b);

static void m_empty(bb_t *b) { b->n = 0; }
static void m_eleven(bb_t *b) { bb_header(b, 0, 0, 0, 0); b->n = 11; }
static void m_self_ptr(bb_t *b) { bb_header(b, 1, 0, 0, 0); bb_raw(b, "\xC0\x0C\0\1\0\1", 6); }
static void m_fwd_ptr(bb_t *b) { bb_header(b, 1, 0, 0, 0); bb_raw(b, "\xC0\x0E\0\1\0\1", 6); }
static void m_hdr_ptr(bb_t *b) { bb_header(b, 1, 0, 0, 0); bb_raw(b, "\xC0\x02\0\1\0\1", 6); }
static void m_end_ptr(bb_t *b)
{
	bb_header(b, 1, 0, 0, 0);
	bb_raw(b, "\1a\xC1\x00\0\1\0\1", 8); /* 0x100: far past this message */
}
static void m_loop(bb_t *b)
{
	/* A (answer 2 owner) -> B (inside answer 1's opaque RDATA, at 23) -> A */
	bb_header(b, 0, 2, 0, 0);
	bb_rrhead(b, ".", 65280, 2); /* 12..22, RDATA at 23 */
	bb_raw(b, "\xC0\x19", 2);    /* B: points to 25 = A */
	bb_raw(b, "\xC0\x17", 2);    /* A at 25: points to 23 = B */
	bb_u16(b, CN_TYPE_A);
	bb_u16(b, 1);
	bb_u32(b, 0);
	bb_u16(b, 4);
	bb_raw(b, "\1\2\3\4", 4);
}
static void m_label64(bb_t *b)
{
	bb_header(b, 1, 0, 0, 0);
	bb_u8(b, 64);
	for (int i = 0; i < 64; i++)
		bb_u8(b, 'a');
	bb_raw(b, "\0\0\1\0\1", 5);
}
static void m_label40(bb_t *b) { bb_header(b, 1, 0, 0, 0); bb_raw(b, "\x41\0\0\1\0\1", 6); }
static void m_name256(bb_t *b)
{
	/* question name of 255 octets, then an owner "x" + pointer to it: 257 */
	bb_header(b, 1, 1, 0, 0);
	for (int l = 0; l < 4; l++) {
		int len = l < 3 ? 63 : 61;
		bb_u8(b, len);
		for (int i = 0; i < len; i++)
			bb_u8(b, 'a');
	}
	bb_raw(b, "\0\0\1\0\1", 5);
	bb_raw(b, "\1x\xC0\x0C", 4);
	bb_raw(b, "\0\1\0\1\0\0\0\0\0\4\1\2\3\4", 14);
}
static void m_rdlen_past(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_A, 10);
	bb_raw(b, "\1\2\3\4", 4);
}
static void m_counts_hdr(bb_t *b)
{
	bb_header(b, 0, 3, 0, 0); /* three records promised, room for one */
	bb_rrhead(b, "a", CN_TYPE_A, 4);
	bb_raw(b, "\1\2\3\4", 4);
}
static void m_counts_late(bb_t *b)
{
	bb_header(b, 0, 2, 0, 0); /* two promised, one long record present */
	bb_rrhead(b, "a", CN_TYPE_TXT, 31);
	bb_u8(b, 30);
	for (int i = 0; i < 30; i++)
		bb_u8(b, 't');
}
static void m_qd_missing(bb_t *b) { bb_header(b, 1, 0, 0, 0); }
static void m_trailing(bb_t *b)
{
	bb_header(b, 1, 0, 0, 0);
	bb_question(b, "example.com", CN_TYPE_A);
	bb_u8(b, 0);
}
static void m_two_questions(bb_t *b)
{
	bb_header(b, 2, 0, 0, 0);
	bb_question(b, "a", CN_TYPE_A);
	bb_question(b, "b", CN_TYPE_A);
}
static void m_question_short(bb_t *b) { bb_header(b, 1, 0, 0, 0); bb_raw(b, "\1a\0\0\1\0", 6); }
static void opt(bb_t *b, const char *owner, unsigned rdlen)
{
	bb_name(b, owner);
	bb_u16(b, CN_TYPE_OPT);
	bb_u16(b, 1232);
	bb_u32(b, 0);
	bb_u16(b, rdlen);
}
static void m_two_opts(bb_t *b)
{
	bb_header(b, 1, 0, 0, 2);
	bb_question(b, "a", CN_TYPE_A);
	opt(b, ".", 0);
	opt(b, ".", 0);
}
static void m_opt_answer(bb_t *b)
{
	bb_header(b, 1, 1, 0, 0);
	bb_question(b, "a", CN_TYPE_A);
	opt(b, ".", 0);
}
static void m_opt_owner(bb_t *b)
{
	bb_header(b, 1, 0, 0, 1);
	bb_question(b, "a", CN_TYPE_A);
	opt(b, "a", 0);
}
static void m_opt_optlen(bb_t *b)
{
	bb_header(b, 1, 0, 0, 1);
	bb_question(b, "a", CN_TYPE_A);
	opt(b, ".", 6);
	bb_raw(b, "\0\x0a\0\x08\1\2", 6); /* cookie says 8 bytes, 2 present */
}
static void m_opt_opthead(bb_t *b)
{
	bb_header(b, 1, 0, 0, 1);
	bb_question(b, "a", CN_TYPE_A);
	opt(b, ".", 3);
	bb_raw(b, "\0\x0a\0", 3);
}
static void m_txt_len(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_TXT, 3);
	bb_raw(b, "\5ab", 3);
}
static void m_txt_empty(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_TXT, 0);
}
static void m_txt_short2(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_TXT, 5);
	bb_raw(b, "\2ab\2c", 5);
}
static void m_a5(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_A, 5);
	bb_raw(b, "\1\2\3\4\5", 5);
}
static void m_aaaa4(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_AAAA, 4);
	bb_raw(b, "\1\2\3\4", 4);
}
static void m_soa_short(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_SOA, 2 + 19);
	bb_raw(b, "\0\0", 2);
	for (int i = 0; i < 19; i++)
		bb_u8(b, 0);
}
static void m_ns_extra(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_NS, 3);
	bb_raw(b, "\0\0\0", 3); /* a name, then bytes the type does not have */
}
static void m_mx_name_past_rdata(bb_t *b)
{
	/* the MX name's labels run past RDLENGTH into the next bytes */
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_MX, 4);
	bb_raw(b, "\0\1\3ab", 5);
	bb_raw(b, "c\0", 2);
}
static void m_ns_bad_ptr(bb_t *b)
{
	bb_header(b, 0, 1, 0, 0);
	bb_rrhead(b, "a", CN_TYPE_NS, 2);
	bb_raw(b, "\xC0\x03", 2);
}
static void m_toolong(bb_t *b)
{
	b->n = 0;
	bb_header(b, 0, 0, 0, 0);
	b->n = 65536;
}

static const struct {
	const char *name;
	build_fn build;
	int err;
	bool in_rdata; /* the error is inside RDATA, which the query parser skips */
} corpus[] = {
	{"empty", m_empty, CN_ETRUNC, false},
	{"11 bytes", m_eleven, CN_ETRUNC, false},
	{"self-pointer", m_self_ptr, CN_EPTR, false},
	{"forward pointer", m_fwd_ptr, CN_EPTR, false},
	{"pointer into header", m_hdr_ptr, CN_EPTR, false},
	{"pointer past end", m_end_ptr, CN_EPTR, false},
	{"pointer loop", m_loop, CN_EPTR, false},
	{"label 64", m_label64, CN_ELABEL, false},
	{"label type 0x40", m_label40, CN_ELABEL, false},
	{"name 256 via pointer", m_name256, CN_ENAMELEN, false},
	{"rdlength past end", m_rdlen_past, CN_ETRUNC, false},
	{"counts (header bound)", m_counts_hdr, CN_ECOUNT, false},
	{"counts (late)", m_counts_late, CN_ECOUNT, false},
	{"question missing", m_qd_missing, CN_ECOUNT, false},
	{"trailing garbage", m_trailing, CN_ETRAILING, false},
	{"two questions", m_two_questions, CN_EMALF, false},
	{"question short", m_question_short, CN_ETRUNC, false},
	{"two OPT", m_two_opts, CN_EEDNS, false},
	{"OPT in answer", m_opt_answer, CN_EEDNS, false},
	{"OPT non-root owner", m_opt_owner, CN_EEDNS, false},
	{"OPT option length", m_opt_optlen, CN_EEDNS, false},
	{"OPT option header", m_opt_opthead, CN_EEDNS, false},
	{"TXT string length", m_txt_len, CN_ERDATA, false},
	{"TXT empty", m_txt_empty, CN_ERDATA, false},
	{"TXT second string", m_txt_short2, CN_ERDATA, false},
	{"A rdlen 5", m_a5, CN_ERDATA, false},
	{"AAAA rdlen 4", m_aaaa4, CN_ERDATA, false},
	{"SOA short", m_soa_short, CN_ERDATA, false},
	{"NS extra bytes", m_ns_extra, CN_ERDATA, false},
	{"MX name past RDATA", m_mx_name_past_rdata, CN_ERDATA, false},
	{"NS pointer into header", m_ns_bad_ptr, CN_EPTR, true},
	{"longer than 65535", m_toolong, CN_EMALF, false},
};


START_TEST(test_malformed_corpus)
{
	bb_t *b = bb_new();
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		cn_msg_t m;
		memset(b, 0, sizeof(*b));
		corpus[i].build(b);
		int r = cn_msg_parse(b->b, b->n, &arena, &m);
		ck_assert_msg(r == corpus[i].err, "%s: got %d (%s), want %d", corpus[i].name, r,
			      cn_strerror(r), corpus[i].err);
		r = cn_msg_parse_query(b->b, b->n, &m);
		if (corpus[i].err != CN_ERDATA && !corpus[i].in_rdata)
			ck_assert_msg(r == corpus[i].err, "%s (query): got %d, want %d",
				      corpus[i].name, r, corpus[i].err);
		else /* RDATA skipped by length: fine, or bytes left over */
			ck_assert(r == 0 || r == CN_ETRAILING);
		/* every strict prefix is rejected too (but for the one that only lacks
		 * the garbage), and never crashes */
		for (size_t cut = 0; cut < b->n && cut < 600; cut++)
			if (corpus[i].err != CN_ETRAILING && b->n <= CN_MSG_MAX)
				ck_assert_int_ne(cn_msg_parse(b->b, cut, &arena, &m), 0);
	}
	ck_assert_int_eq(cn_msg_parse(NULL, 0, &arena, &(cn_msg_t){0}), CN_ETRUNC);
	free(b);
}
END_TEST

/* ------------------------------------------------------------------ EDNS ----------- */

START_TEST(test_edns_fields)
{
	uint8_t buf[512], opts[64];
	bb_t *o = bb_new();
	bb_u16(o, 10); /* COOKIE, 8 bytes */
	bb_u16(o, 8);
	bb_raw(o, "cookie!!", 8);
	bb_u16(o, CN_EDNS_OPT_EDE); /* EDE 22 + text */
	bb_u16(o, 2 + 4);
	bb_u16(o, CN_EDE_NO_REACHABLE_AUTHORITY);
	bb_raw(o, "test", 4);
	bb_u16(o, CN_EDNS_OPT_EDE); /* a second EDE: counted, not taken */
	bb_u16(o, 2);
	bb_u16(o, CN_EDE_STALE_ANSWER);
	bb_u16(o, 65001); /* unknown, empty */
	bb_u16(o, 0);
	memcpy(opts, o->b, o->n);
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, sizeof(buf), 7, CN_FLAG_QR | CN_RCODE_NOERROR), 0);
	ck_assert_int_eq(cn_writer_question(&w, N("example"), CN_TYPE_A, CN_CLASS_IN), 0);
	ck_assert_int_eq(cn_writer_opt(&w, 4096, 1, 0, true, opts, (uint16_t)o->n), 0);
	size_t n = cn_writer_finish(&w);
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
	ck_assert(m.edns.present);
	ck_assert_uint_eq(m.edns.udp_size, 4096);
	ck_assert_uint_eq(m.edns.ext_rcode, 1);
	ck_assert_uint_eq(m.edns.version, 0);
	ck_assert(m.edns.do_bit);
	ck_assert_uint_eq(m.edns.option_count, 4);
	ck_assert(m.edns.has_ede);
	ck_assert_uint_eq(m.edns.ede_code, CN_EDE_NO_REACHABLE_AUTHORITY);
	ck_assert_uint_eq(m.edns.options_len, o->n);
	ck_assert_mem_eq(m.edns.options, opts, o->n);
	ck_assert_uint_eq(m.rcode, CN_RCODE_BADVERS); /* 0 | 1 << 4 */
	ck_assert_uint_eq(m.ar, 0);                   /* OPT is not among rrs */
	ck_assert_uint_eq(m.arcount, 1);
	/* no DO, version 1, no options */
	ck_assert_int_eq(cn_writer_init(&w, buf, sizeof(buf), 7, 0), 0);
	ck_assert_int_eq(cn_writer_opt(&w, 512, 0, 1, false, NULL, 0), 0);
	n = cn_writer_finish(&w);
	ck_assert_mem_eq(buf + 12, "\0\0\x29\x02\0\0\x01\0\0\0\0", 11);
	ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
	ck_assert(!m.edns.do_bit);
	ck_assert_uint_eq(m.edns.version, 1);
	ck_assert_uint_eq(m.edns.option_count, 0);
	ck_assert(!m.edns.has_ede);
	/* no OPT at all */
	ck_assert_int_eq(cn_writer_init(&w, buf, sizeof(buf), 7, 0), 0);
	n = cn_writer_finish(&w);
	ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
	ck_assert(!m.edns.present);
	free(o);
}
END_TEST

/* ------------------------------------------------------------------ query parser --- */

START_TEST(test_parse_query)
{
	uint8_t buf[512];
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, sizeof(buf), 0x4242, CN_FLAG_RD), 0);
	ck_assert_int_eq(cn_writer_question(&w, N("WwW.example.org"), CN_TYPE_AAAA, CN_CLASS_IN),
			 0);
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("x.example.org"), CN_TYPE_A,
				      CN_CLASS_IN, 1, (const uint8_t *)"\1\2\3\4", 4),
			 0);
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ADDITIONAL, N("y.example.org"), CN_TYPE_A,
				      CN_CLASS_IN, 1, (const uint8_t *)"\1\2\3\4", 4),
			 0);
	ck_assert_int_eq(cn_writer_opt(&w, 1232, 0, 0, true, (const uint8_t *)"\0\x0f\0\2\0\x03",
				       6),
			 0);
	size_t n = cn_writer_finish(&w);
	cn_msg_t q;
	ck_assert_int_eq(cn_msg_parse_query(buf, n, &q), 0);
	ck_assert_uint_eq(q.id, 0x4242);
	ck_assert_uint_eq(q.flags, CN_FLAG_RD);
	ck_assert(q.has_question);
	ck_assert_mem_eq(q.qname, "\3WwW\7example\3org", 17); /* case kept */
	ck_assert_uint_eq(q.qname_len, 17);
	ck_assert_uint_eq(q.qtype, CN_TYPE_AAAA);
	ck_assert_uint_eq(q.qclass, CN_CLASS_IN);
	ck_assert(q.edns.present);
	ck_assert(q.edns.do_bit);
	ck_assert_uint_eq(q.edns.udp_size, 1232);
	ck_assert(q.edns.has_ede);
	ck_assert_uint_eq(q.edns.ede_code, 3);
	ck_assert_ptr_null(q.rrs);
	ck_assert_uint_eq(q.an + q.ns + q.ar, 0);
	ck_assert_uint_eq(q.ancount, 1);
	/* same answer from the full parser */
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
	ck_assert_uint_eq(m.question_end, q.question_end);
	ck_assert_uint_eq(m.edns.udp_size, q.edns.udp_size);
	ck_assert_uint_eq(m.an, 1);
	ck_assert_uint_eq(m.ar, 1);
}
END_TEST

/* ------------------------------------------------------------------ writer --------- */

START_TEST(test_writer_enospc_rollback)
{
	uint8_t small[8];
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, small, sizeof(small), 1, 0), -ENOSPC);
	/* for every capacity, add records until one does not fit: the message is always
	 * intact, and a failed call changes nothing */
	uint8_t full[4096];
	size_t total = write_samples(full, sizeof(full), true);
	for (size_t cap = CN_HEADER_LEN; cap <= total; cap++) {
		uint8_t *buf = malloc(cap); /* exact size: ASan catches any overrun */
		ck_assert_int_eq(cn_writer_init(&w, buf, cap, 1, 0), 0);
		int r = cn_writer_question(&w, N("www.example.com"), CN_TYPE_A, CN_CLASS_IN);
		if (r) {
			ck_assert_int_eq(r, -ENOSPC);
			ck_assert_uint_eq(w.len, CN_HEADER_LEN);
			ck_assert_uint_eq(w.count[0], 0);
			ck_assert_uint_eq(w.comp_n, 0);
		}
		size_t written = 0;
		for (size_t i = 0; r == 0 && i < nsamples; i++) {
			size_t len = w.len, comp = w.comp_n;
			r = cn_writer_rr(&w, CN_SECTION_ANSWER, N("Www.Example.com"),
					 samples[i].type, samples[i].rclass, 1, samples[i].rdata,
					 samples[i].rdlen);
			if (r) {
				ck_assert_int_eq(r, -ENOSPC);
				ck_assert_uint_eq(w.len, len);
				ck_assert_uint_eq(w.comp_n, comp);
			} else {
				written++;
			}
		}
		ck_assert_uint_eq(w.count[CN_SECTION_ANSWER], written);
		size_t n = cn_writer_finish(&w);
		ck_assert_uint_le(n, cap);
		cn_msg_t m;
		ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
		ck_assert_uint_eq(m.an, written);
		free(buf);
		cn_arena_reset(&arena);
	}
}
END_TEST

START_TEST(test_writer_order)
{
	uint8_t buf[512];
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, sizeof(buf), 1, 0), 0);
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_AUTHORITY, N("a"), CN_TYPE_A, CN_CLASS_IN, 1,
				      (const uint8_t *)"\1\2\3\4", 4),
			 0);
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_ANSWER, N("a"), CN_TYPE_A, CN_CLASS_IN, 1,
				      (const uint8_t *)"\1\2\3\4", 4),
			 -EINVAL);
	ck_assert_int_eq(cn_writer_question(&w, N("a"), CN_TYPE_A, CN_CLASS_IN), -EINVAL);
	ck_assert_int_eq(cn_writer_rr(&w, CN_SECTION_QUESTION, N("a"), CN_TYPE_A, CN_CLASS_IN, 1,
				      (const uint8_t *)"\1\2\3\4", 4),
			 -EINVAL);
	cn_writer_set_flags(&w, CN_FLAG_QR | CN_RCODE_NXDOMAIN);
	size_t n = cn_writer_finish(&w);
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
	ck_assert_uint_eq(m.rcode, CN_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m.ns, 1);
}
END_TEST

START_TEST(test_writer_bounds)
{
	/* a 40 KiB message: pointers only ever target offsets below 0x4000, and the
	 * compression table stays within CN_COMPRESS_MAX */
	size_t cap = 40000;
	uint8_t *buf = malloc(cap);
	cn_writer_t w;
	ck_assert_int_eq(cn_writer_init(&w, buf, cap, 1, 0), 0);
	char name[64];
	int i = 0;
	for (;; i++) {
		snprintf(name, sizeof(name), "host%d.zone%d.example", i, i % 7);
		uint8_t rd[CN_DNAME_MAX];
		size_t len;
		cn_dname_from_str(name, rd, &len);
		if (cn_writer_rr(&w, CN_SECTION_ANSWER, N(name), CN_TYPE_CNAME, CN_CLASS_IN, 1, rd,
				 (uint16_t)len))
			break;
		ck_assert_uint_le(w.comp_n, CN_COMPRESS_MAX);
	}
	ck_assert_int_gt(i, 500);
	for (size_t k = 0; k < w.comp_n; k++)
		ck_assert_uint_lt(w.comp_off[k], 0x4000);
	size_t n = cn_writer_finish(&w);
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(buf, n, &arena, &m), 0);
	ck_assert_uint_eq(m.an, (size_t)i);
	snprintf(name, sizeof(name), "host%d.zone%d.example", i - 1, (i - 1) % 7);
	ck_assert(cn_dname_eq(m.rrs[i - 1].owner, N(name)));
	ck_assert(cn_dname_eq(m.rrs[i - 1].rdata, N(name)));
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------ text ----------- */

START_TEST(test_rdata_to_str)
{
	char s[1024];
	for (size_t i = 0; i < nsamples; i++) {
		if (!samples[i].text)
			continue;
		int r = cn_rdata_to_str(samples[i].type, samples[i].rdata, samples[i].rdlen, s,
					sizeof(s));
		ck_assert_int_eq(r, (int)strlen(samples[i].text));
		ck_assert_str_eq(s, samples[i].text);
		/* too small: -ENOSPC, still a terminated string */
		ck_assert_int_eq(cn_rdata_to_str(samples[i].type, samples[i].rdata,
						 samples[i].rdlen, s, (size_t)r),
				 -ENOSPC);
		ck_assert_uint_lt(strlen(s), (size_t)r);
	}
	/* malformed typed RDATA falls back to the generic form */
	ck_assert_int_gt(cn_rdata_to_str(CN_TYPE_A, (const uint8_t *)"\1\2\3", 3, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "\\# 3 010203");
}
END_TEST

START_TEST(test_msg_to_str)
{
	uint8_t w1[4096];
	size_t n = write_samples(w1, sizeof(w1), true);
	cn_msg_t m;
	ck_assert_int_eq(cn_msg_parse(w1, n, &arena, &m), 0);
	char *s = malloc(8192);
	int r = cn_msg_to_str(&m, s, 8192);
	ck_assert_int_gt(r, 0);
	ck_assert_uint_eq(strlen(s), (size_t)r);
	ck_assert_ptr_nonnull(strstr(s, ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 48879\n"));
	ck_assert_ptr_nonnull(strstr(s, ";; flags: qr rd; QUERY: 1, ANSWER: 8, AUTHORITY: 4, "
					"ADDITIONAL: 7\n"));
	ck_assert_ptr_nonnull(strstr(s, "; EDNS: version: 0, flags: do; udp: 1232\n"));
	ck_assert_ptr_nonnull(strstr(s, ";; QUESTION SECTION:\n;www.example.com.\t\tIN\tA\n"));
	ck_assert_ptr_nonnull(strstr(s, ";; ANSWER SECTION:\nwww.example.com.\t300\tIN\tA\t192.0.2.1\n"));
	ck_assert_ptr_nonnull(strstr(s, "example.com.\t307\tIN\tMX\t10 mail.example.com.\n"));
	ck_assert_ptr_nonnull(strstr(s, ";; AUTHORITY SECTION:\n"));
	ck_assert_ptr_nonnull(strstr(s, "example.com.\t316\tCH\tTXT\t\"cairn\"\n"));
	ck_assert_ptr_nonnull(strstr(s, "IN\tTYPE65280\t\\# 5 076578616d\n"));
	ck_assert_int_eq(cn_msg_to_str(&m, s, 100), -ENOSPC);
	char rr[256];
	ck_assert_int_gt(cn_rr_to_str(&m.rrs[1], rr, sizeof(rr)), 0);
	ck_assert_str_eq(rr, "example.com.\t301\tIN\tAAAA\t2001:db8::1");
	free(s);
}
END_TEST

START_TEST(test_type_names)
{
	char b[16];
	ck_assert_str_eq(cn_type_to_str(CN_TYPE_AAAA, b, sizeof(b)), "AAAA");
	ck_assert_str_eq(cn_type_to_str(65280, b, sizeof(b)), "TYPE65280");
	ck_assert_uint_eq(cn_type_from_str("aaaa"), CN_TYPE_AAAA);
	ck_assert_uint_eq(cn_type_from_str("SRV"), CN_TYPE_SRV);
	ck_assert_uint_eq(cn_type_from_str("TYPE65280"), 65280);
	ck_assert_uint_eq(cn_type_from_str("type1"), 1);
	ck_assert_uint_eq(cn_type_from_str("TYPE65536"), 0);
	ck_assert_uint_eq(cn_type_from_str("TYPE"), 0);
	ck_assert_uint_eq(cn_type_from_str("TYPE1x"), 0);
	ck_assert_uint_eq(cn_type_from_str("BOGUS"), 0);
	for (unsigned t = 1; t < 300; t++)
		ck_assert_uint_eq(cn_type_from_str(cn_type_to_str((uint16_t)t, b, sizeof(b))), t);
	ck_assert_str_eq(cn_strerror(CN_EPTR), "bad compression pointer (forward, self or outside)");
	ck_assert_str_eq(cn_strerror(-ENOSPC), strerror(ENOSPC));
	ck_assert_str_eq(cn_strerror(0), "success");
}
END_TEST

START_TEST(test_rdata_helpers)
{
	for (size_t i = 0; i < nsamples; i++)
		if (samples[i].rclass == CN_CLASS_IN)
			ck_assert_int_eq(cn_rdata_check(samples[i].type, samples[i].rdata,
							samples[i].rdlen),
					 0);
	ck_assert_int_eq(cn_rdata_check(CN_TYPE_A, (const uint8_t *)"\1\2\3", 3), CN_ERDATA);
	ck_assert_int_eq(cn_rdata_check(CN_TYPE_NS, (const uint8_t *)"\1a", 2), CN_ERDATA);
	ck_assert_int_eq(cn_rdata_check(CN_TYPE_NS, (const uint8_t *)"\xC0\x0C", 2), CN_ERDATA);
	ck_assert_int_eq(cn_rdata_check(CN_TYPE_MX, (const uint8_t *)"\0\1\0\0", 4), CN_ERDATA);
	ck_assert_int_eq(cn_rdata_check(65280, (const uint8_t *)"x", 1), 0);
	const sample_t *soa = NULL, *mx = NULL, *srv = NULL;
	for (size_t i = 0; i < nsamples; i++) {
		if (samples[i].type == CN_TYPE_SOA)
			soa = &samples[i];
		if (samples[i].type == CN_TYPE_MX)
			mx = &samples[i];
		if (samples[i].type == CN_TYPE_SRV)
			srv = &samples[i];
	}
	uint32_t min = 0;
	ck_assert_int_eq(cn_rdata_soa_minimum(soa->rdata, soa->rdlen, &min), 0);
	ck_assert_uint_eq(min, 300);
	ck_assert_int_eq(cn_rdata_soa_minimum(soa->rdata, soa->rdlen - 1, &min), CN_ERDATA);
	ck_assert(cn_dname_eq(cn_rdata_target(CN_TYPE_SOA, soa->rdata, soa->rdlen),
			      N("ns1.example.com")));
	ck_assert(cn_dname_eq(cn_rdata_target(CN_TYPE_MX, mx->rdata, mx->rdlen),
			      N("mail.example.com")));
	ck_assert(cn_dname_eq(cn_rdata_target(CN_TYPE_SRV, srv->rdata, srv->rdlen),
			      N("sip.example.com")));
	ck_assert_ptr_null(cn_rdata_target(CN_TYPE_A, (const uint8_t *)"\1\2\3\4", 4));
	ck_assert_ptr_null(cn_rdata_target(CN_TYPE_MX, (const uint8_t *)"\0\1", 2));
	ck_assert_ptr_null(cn_rdata_target(CN_TYPE_NS, (const uint8_t *)"\5ab", 3));
}
END_TEST

START_TEST(test_arena)
{
	cn_arena_t a;
	cn_arena_init(&a, 64);
	void *p = cn_arena_alloc(&a, 10);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % 8, 0);
	void *big = cn_arena_alloc(&a, 1000); /* larger than a chunk */
	ck_assert_ptr_nonnull(big);
	memset(big, 1, 1000);
	ck_assert_uint_eq(a.used_total, 16 + 1000);
	char *d = cn_arena_dup(&a, "hello", 6);
	ck_assert_str_eq(d, "hello");
	cn_arena_reset(&a);
	ck_assert_uint_eq(a.used_total, 0);
	ck_assert_ptr_nonnull(a.head);
	ck_assert_ptr_eq(cn_arena_alloc(&a, 1000), big); /* the largest chunk is reused */
	a.limit_bytes = 1024;
	ck_assert_ptr_null(cn_arena_alloc(&a, 100));
	ck_assert_ptr_null(cn_arena_alloc(&a, SIZE_MAX));
	a.limit_bytes = 0;
	ck_assert_ptr_null(cn_arena_alloc(&a, SIZE_MAX - 4));
	cn_arena_deinit(&a);
	ck_assert_ptr_null(a.head);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip_all_types);
	tcase_add_test(tc, test_compression_targets);
	tcase_add_test(tc, test_compression_repeated_labels);
	tcase_add_test(tc, test_decompress_on_read);
	tcase_add_test(tc, test_large_txt);
	tcase_add_test(tc, test_ttl_top_bit);
	tcase_add_test(tc, test_malformed_corpus);
	tcase_add_test(tc, test_edns_fields);
	tcase_add_test(tc, test_parse_query);
	tcase_add_test(tc, test_writer_enospc_rollback);
	tcase_add_test(tc, test_writer_order);
	tcase_add_test(tc, test_writer_bounds);
	tcase_add_test(tc, test_rdata_to_str);
	tcase_add_test(tc, test_msg_to_str);
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_rdata_helpers);
	tcase_add_test(tc, test_arena);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(wire_suite());
}
