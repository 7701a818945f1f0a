/*
 * Unit tests for resolver/dname.c: strict decompression (the malformed-pointer corpus),
 * validation of uncompressed names, presentation form both ways, RFC 4034 6.1 canonical
 * order and the bailiwick test.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/dname.h"
#include "resolver/errors.h"
#include "tests/unit/unit.h"

/* A message buffer: 12 zero header bytes, then what a case appends. */
typedef struct buf {
	uint8_t b[2048];
	size_t n;
} buf_t;

static void buf_init(buf_t *m)
{
	memset(m, 0, sizeof(*m));
	m->n = 12;
}

static void put(buf_t *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put_label(buf_t *m, size_t len, char fill)
{
	m->b[m->n++] = (uint8_t)len;
	memset(m->b + m->n, fill, len);
	m->n += len;
}

static void put_ptr(buf_t *m, size_t off)
{
	m->b[m->n++] = (uint8_t)(0xC0 | off >> 8);
	m->b[m->n++] = (uint8_t)off;
}

static int unpack_at(const buf_t *m, size_t pos, size_t *end, size_t *len)
{
	uint8_t out[CN_DNAME_MAX];
	size_t p = pos, l = 0;
	int r = cn_dname_unpack(m->b, m->n, &p, out, &l);
	if (end)
		*end = p;
	if (len)
		*len = l;
	return r;
}

static const uint8_t *N(const char *s)
{
	static uint8_t bufs[8][CN_DNAME_MAX];
	static int next;
	uint8_t *b = bufs[next++ % 8];
	ck_assert_int_eq(cn_dname_from_str(s, b, NULL), 0);
	return b;
}

START_TEST(test_unpack_plain_and_compressed)
{
	buf_t m;
	buf_init(&m);
	put(&m, "\3www\7example\3com\0", 17);     /* at 12 */
	put(&m, "\4mail\xC0\x10", 7);             /* at 29: mail + ->example.com */
	size_t end, len;
	ck_assert_int_eq(unpack_at(&m, 12, &end, &len), 0);
	ck_assert_uint_eq(end, 29);
	ck_assert_uint_eq(len, 17);
	uint8_t out[CN_DNAME_MAX];
	size_t p = 29;
	ck_assert_int_eq(cn_dname_unpack(m.b, m.n, &p, out, &len), 0);
	ck_assert_uint_eq(p, 36); /* past the pointer, not past the target */
	ck_assert(cn_dname_eq(out, N("mail.example.com")));
	ck_assert_uint_eq(len, 18);
	/* out_len may be NULL */
	p = 29;
	ck_assert_int_eq(cn_dname_unpack(m.b, m.n, &p, out, NULL), 0);
}
END_TEST

START_TEST(test_unpack_malformed)
{
	buf_t m;
	size_t end;

	buf_init(&m); /* self-pointer */
	put_ptr(&m, 12);
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_EPTR);

	buf_init(&m); /* forward pointer */
	put_ptr(&m, 14);
	put(&m, "\0", 1);
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_EPTR);

	buf_init(&m); /* A -> B -> A: B (at 12) points forward to A (at 14) */
	put_ptr(&m, 14);
	put_ptr(&m, 12);
	ck_assert_int_eq(unpack_at(&m, 14, NULL, NULL), CN_EPTR);

	buf_init(&m); /* pointer past the end of the message */
	put(&m, "\1a\0", 3);
	put_ptr(&m, 0x3FFF);
	ck_assert_int_eq(unpack_at(&m, 15, NULL, NULL), CN_EPTR);

	buf_init(&m); /* pointer into the header */
	put_ptr(&m, 4);
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_EPTR);

	buf_init(&m); /* label of 64 */
	put_label(&m, 64, 'a');
	put(&m, "\0", 1);
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_ELABEL);

	buf_init(&m); /* label types 0x40 and 0x80 */
	put(&m, "\x41\0", 2);
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_ELABEL);
	m.b[12] = 0x80;
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_ELABEL);

	buf_init(&m); /* label running past the end; missing root; half a pointer */
	put(&m, "\5ab", 3);
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_ETRUNC);
	buf_init(&m);
	put(&m, "\2ab", 3);
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_ETRUNC);
	buf_init(&m);
	put(&m, "\0\xC0", 2);
	ck_assert_int_eq(unpack_at(&m, 13, NULL, NULL), CN_ETRUNC);
	ck_assert_int_eq(unpack_at(&m, m.n, &end, NULL), CN_ETRUNC);
}
END_TEST

START_TEST(test_unpack_name_length)
{
	buf_t m;
	buf_init(&m); /* 3x63 + 59 + root = 253 octets at 12 */
	for (int i = 0; i < 3; i++)
		put_label(&m, 63, 'a' + i);
	put_label(&m, 59, 'z');
	put(&m, "\0", 1);
	size_t second = m.n;
	put(&m, "\1x", 2);
	put_ptr(&m, 12); /* 255: allowed */
	size_t third = m.n;
	put(&m, "\2xy", 3);
	put_ptr(&m, 12); /* 256 through a pointer: too long */
	size_t len;
	ck_assert_int_eq(unpack_at(&m, 12, NULL, &len), 0);
	ck_assert_uint_eq(len, 253);
	ck_assert_int_eq(unpack_at(&m, second, NULL, &len), 0);
	ck_assert_uint_eq(len, 255);
	ck_assert_int_eq(unpack_at(&m, third, NULL, NULL), CN_ENAMELEN);

	buf_init(&m); /* 256 octets without pointers */
	for (int i = 0; i < 4; i++)
		put_label(&m, 63, 'a');
	put(&m, "\0", 1);
	ck_assert_int_eq(unpack_at(&m, 12, NULL, NULL), CN_ENAMELEN);
}
END_TEST

START_TEST(test_unpack_pointer_chain)
{
	/* a chain of pointers, each to the one before: bounded at 128 jumps */
	buf_t m;
	buf_init(&m);
	put(&m, "\0", 1);
	size_t prev = 12;
	for (int i = 0; i < 130; i++) {
		size_t here = m.n;
		put_ptr(&m, prev);
		prev = here;
	}
	ck_assert_int_eq(unpack_at(&m, prev, NULL, NULL), CN_ELOOP);
	ck_assert_int_eq(unpack_at(&m, 13 + 2 * 10, NULL, NULL), 0);
}
END_TEST

START_TEST(test_check)
{
	ck_assert_int_eq(cn_dname_check((const uint8_t *)"\0", 1), 1);
	ck_assert_int_eq(cn_dname_check((const uint8_t *)"\1a\0", 3), 3);
	ck_assert_int_eq(cn_dname_check((const uint8_t *)"\1a\0", 2), CN_ETRUNC);
	ck_assert_int_eq(cn_dname_check((const uint8_t *)"\1a\xC0\x0C", 4), CN_EPTR);
	ck_assert_int_eq(cn_dname_check((const uint8_t *)"\x40", 1), CN_ELABEL);
	ck_assert_int_eq(cn_dname_check((const uint8_t *)"", 0), CN_ETRUNC);
	uint8_t big[300];
	memset(big, 0, sizeof(big));
	for (int i = 0; i < 4; i++)
		big[i * 64] = 63;
	ck_assert_int_eq(cn_dname_check(big, sizeof(big)), CN_ENAMELEN);
}
END_TEST

START_TEST(test_from_to_str)
{
	static const struct {
		const char *in, *out;
		size_t len;
	} ok[] = {
		{".", ".", 1},
		{"com", "com.", 5},
		{"www.Example.COM.", "www.Example.COM.", 17},
		{"a\\.b.c", "a\\.b.c.", 7},
		{"\\065\\032z", "A\\032z.", 5},
		{"semi\\;colon", "semi\\;colon.", 12},
		{"q\\\"x", "q\\\"x.", 5},
		{"\\000\\255", "\\000\\255.", 4},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint8_t name[CN_DNAME_MAX];
		size_t len;
		char s[CN_DNAME_STR_MAX];
		ck_assert_int_eq(cn_dname_from_str(ok[i].in, name, &len), 0);
		ck_assert_uint_eq(len, ok[i].len);
		ck_assert_int_eq(cn_dname_to_str(name, s, sizeof(s)), (int)strlen(ok[i].out));
		ck_assert_str_eq(s, ok[i].out);
		uint8_t again[CN_DNAME_MAX];
		ck_assert_int_eq(cn_dname_from_str(s, again, NULL), 0);
		ck_assert_mem_eq(name, again, len);
	}
	uint8_t name[CN_DNAME_MAX];
	ck_assert_int_eq(cn_dname_from_str("", name, NULL), CN_ESYNTAX);
	ck_assert_int_eq(cn_dname_from_str("a..b", name, NULL), CN_ESYNTAX);
	ck_assert_int_eq(cn_dname_from_str(".a", name, NULL), CN_ESYNTAX);
	ck_assert_int_eq(cn_dname_from_str("a\\", name, NULL), CN_ESYNTAX);
	ck_assert_int_eq(cn_dname_from_str("a\\25", name, NULL), CN_ESYNTAX);
	ck_assert_int_eq(cn_dname_from_str("a\\256", name, NULL), CN_ESYNTAX);
	char lab[80];
	memset(lab, 'x', 64);
	lab[64] = 0;
	ck_assert_int_eq(cn_dname_from_str(lab, name, NULL), CN_ELABEL);
	lab[63] = 0;
	ck_assert_int_eq(cn_dname_from_str(lab, name, NULL), 0);
	char longname[400] = "";
	for (int i = 0; i < 4; i++) { /* 4 x 63-octet labels: 257 octets */
		strcat(longname, lab);
		strcat(longname, ".");
	}
	ck_assert_int_eq(cn_dname_from_str(longname, name, NULL), CN_ENAMELEN);
	longname[strlen(longname) - 3] = '\0'; /* 4th label of 61: 255 octets */
	size_t len;
	ck_assert_int_eq(cn_dname_from_str(longname, name, &len), 0);
	ck_assert_uint_eq(len, 255);
	char s[CN_DNAME_STR_MAX];
	ck_assert_int_eq(cn_dname_to_str(name, s, sizeof(s)), 255 - 1);
	ck_assert_int_eq(cn_dname_to_str(name, s, 100), -ENOSPC);
	ck_assert_int_eq(cn_dname_to_str(N("."), s, 1), -ENOSPC);
	ck_assert_int_eq(cn_dname_to_str(N("ab"), s, 4), 3);
	ck_assert_int_eq(cn_dname_to_str(N("ab"), s, 3), -ENOSPC);
	/* every octet escaped: the documented worst case fits */
	uint8_t worst[CN_DNAME_MAX];
	memset(worst, 1, sizeof(worst));
	for (int i = 0; i < 4; i++)
		worst[i * 64] = i < 3 ? 63 : 61;
	worst[254] = 0;
	ck_assert_int_eq(cn_dname_check(worst, sizeof(worst)), 255);
	ck_assert_int_gt(cn_dname_to_str(worst, s, sizeof(s)), 0);
}
END_TEST

START_TEST(test_canonical_order)
{
	/* RFC 4034 6.1's example, in order */
	static const char *order[] = {
		"example",      "a.example",     "yljkjljk.a.example", "Z.a.example",
		"zABC.a.EXAMPLE", "z.example",   "\\001.z.example",    "*.z.example",
		"\\200.z.example",
	};
	size_t n = sizeof(order) / sizeof(order[0]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint8_t a[CN_DNAME_MAX], b[CN_DNAME_MAX];
			cn_dname_from_str(order[i], a, NULL);
			cn_dname_from_str(order[j], b, NULL);
			int c = cn_dname_cmp(a, b);
			if (i < j)
				ck_assert_int_lt(c, 0);
			else if (i > j)
				ck_assert_int_gt(c, 0);
			else
				ck_assert_int_eq(c, 0);
		}
	ck_assert_int_lt(cn_dname_cmp(N("."), N("a")), 0);
	ck_assert_int_eq(cn_dname_cmp(N("WWW.a"), N("www.A")), 0);
}
END_TEST

START_TEST(test_helpers)
{
	ck_assert(cn_dname_eq(N("WwW.Example."), N("www.example")));
	ck_assert(!cn_dname_eq(N("www.example"), N("ww.example")));
	ck_assert(!cn_dname_eq(N("a.example"), N("example")));
	ck_assert_int_eq(cn_dname_labels(N(".")), 0);
	ck_assert_int_eq(cn_dname_labels(N("a.b.")), 2);
	ck_assert_uint_eq(cn_dname_len(N(".")), 1);
	ck_assert_uint_eq(cn_dname_len(N("a.bc")), 6);
	ck_assert(cn_dname_eq(cn_dname_skip(N("a.b.c"), 1), N("b.c")));
	ck_assert(cn_dname_eq(cn_dname_skip(N("a.b.c"), 3), N(".")));
	ck_assert(cn_dname_is_sub(N("www.Example.com"), N("example.COM")));
	ck_assert(cn_dname_is_sub(N("example.com"), N("example.com")));
	ck_assert(cn_dname_is_sub(N("example.com"), N(".")));
	ck_assert(!cn_dname_is_sub(N("wwwexample.com"), N("example.com")));
	ck_assert(!cn_dname_is_sub(N("com"), N("example.com")));
	uint8_t n[CN_DNAME_MAX];
	size_t len = cn_dname_copy(n, N("MiXeD.CaSe"));
	ck_assert_uint_eq(len, 12);
	cn_dname_lower(n);
	ck_assert_mem_eq(n, "\5mixed\4case\0", 12);
}
END_TEST

static Suite *dname_suite(void)
{
	Suite *s = suite_create("dname");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_unpack_plain_and_compressed);
	tcase_add_test(tc, test_unpack_malformed);
	tcase_add_test(tc, test_unpack_name_length);
	tcase_add_test(tc, test_unpack_pointer_chain);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_from_to_str);
	tcase_add_test(tc, test_canonical_order);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(dname_suite());
}
