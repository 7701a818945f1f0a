/*
 * Unit tests for cache/key.c and cache/history.c: SipHash-2-4 against the reference
 * vectors of the SipHash paper (key 00..0f, message 00..len-1), key canonicalisation, the
 * wire-name checks, the subtree test, and the bounded history.
 */
#include <stdlib.h>

#include "tests/unit/cache/cache_test.h"
#include "tests/unit/unit.h"

START_TEST(test_siphash_vectors)
{
	uint8_t key[16], msg[64];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	ck_assert_uint_eq(cn_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
	ck_assert_uint_eq(cn_siphash24(key, msg, 1), 0x74f839c593dc67fdULL);
	ck_assert_uint_eq(cn_siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
	/* the key matters */
	uint64_t h = cn_siphash24(key, msg, 15);
	key[0] ^= 1;
	ck_assert_uint_ne(cn_siphash24(key, msg, 15), h);
}
END_TEST

START_TEST(test_key_canonical)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 0);
	uint8_t n1[256], n2[256], k1[CN__KEY_MAX], k2[CN__KEY_MAX];
	size_t l1 = wire("WwW.ExAmPlE.CoM", n1), l2 = wire("www.example.com", n2);
	uint64_t h1 = cn__key_make(c, n1, l1, 1, 1, k1);
	ck_assert_uint_eq(h1, cn__key_make(c, n2, l2, 1, 1, k2));
	ck_assert_mem_eq(k1, k2, l1 + 4);
	ck_assert_mem_eq(k1, n2, l2);
	ck_assert_uint_ne(h1, cn__key_make(c, n2, l2, 28, 1, k2));
	ck_assert_uint_ne(h1, cn__key_make(c, n2, l2, 1, 3, k2));
	/* bytes above 0x7f and non-letters are left alone */
	uint8_t odd[] = { 3, 0xc1, '@', '[', 0 }, out[8];
	cn__name_lower(odd, sizeof(odd), out);
	ck_assert_mem_eq(odd, out, sizeof(odd));
	cn_cache_free(c);
}
END_TEST

START_TEST(test_name_is_wire)
{
	uint8_t n[300];
	ck_assert(cn__name_is_wire((const uint8_t *)"\0", 1));
	ck_assert(cn__name_is_wire((const uint8_t *)"\3com\0", 5));
	ck_assert(!cn__name_is_wire((const uint8_t *)"\3com\0", 4)); /* no root */
	ck_assert(!cn__name_is_wire((const uint8_t *)"\3com\0\0", 6)); /* trailing byte */
	ck_assert(!cn__name_is_wire((const uint8_t *)"\4com\0", 5));   /* label overruns */
	ck_assert(!cn__name_is_wire((const uint8_t *)"\xc0\x0c", 2));  /* pointer */
	ck_assert(!cn__name_is_wire((const uint8_t *)"\x40", 1));      /* reserved type */
	ck_assert(!cn__name_is_wire(n, 0));
	/* 63-octet labels are fine; 255 octets is the maximum */
	size_t o = 0;
	for (int l = 0; l < 3; l++) {
		n[o++] = 63;
		memset(n + o, 'a', 63);
		o += 63;
	}
	n[o++] = 61;
	memset(n + o, 'b', 61);
	o += 61;
	n[o++] = 0;
	ck_assert_uint_eq(o, 255);
	ck_assert(cn__name_is_wire(n, o));
	ck_assert(!cn__name_is_wire(n, 256));
	n[0] = 64;
	ck_assert(!cn__name_is_wire(n, o));
}
END_TEST

static bool under(const char *name, const char *apex)
{
	uint8_t n[256], a[256];
	size_t nl = wire(name, n), al = wire(apex, a);
	return cn__name_under(n, nl, a, al);
}

START_TEST(test_name_under)
{
	ck_assert(under("example.com", "example.com"));
	ck_assert(under("www.example.com", "example.com"));
	ck_assert(under("a.b.c.example.com", "example.com"));
	ck_assert(under("com", "."));
	ck_assert(under(".", "."));
	ck_assert(!under("notexample.com", "example.com")); /* not at a label boundary */
	ck_assert(!under("example.com", "www.example.com"));
	ck_assert(!under("example.org", "example.com"));
	ck_assert(!under("com", "example.com"));
	/* a label whose bytes happen to look like the apex is not a boundary */
	uint8_t n[] = { 5, 3, 'c', 'o', 'm', 0, 3, 'c', 'o', 'm', 0 };
	uint8_t apex[] = { 3, 'c', 'o', 'm', 0 };
	ck_assert(cn__name_under(n, sizeof(n), apex, sizeof(apex))); /* at the real boundary */
	uint8_t n2[] = { 5, 3, 'c', 'o', 'm', 0, 0 };
	ck_assert(!cn__name_under(n2, sizeof(n2), apex, sizeof(apex)));
}
END_TEST

START_TEST(test_history_bounded)
{
	cn_cache_t *c = make_cache(64 * 1024, CN_EVICT_S3FIFO, 1, 0);
	cn__shard_t *sh = &c->shards[0];
	ck_assert_uint_eq(cn__hist_get(sh, 0x1234), CN__HIST_NONE);
	cn__hist_put(sh, 0x1234 << 16, CN__HIST_EXPIRED);
	cn__hist_put(sh, 0x5678 << 16, CN__HIST_GHOST);
	ck_assert_uint_eq(cn__hist_get(sh, 0x1234 << 16), CN__HIST_EXPIRED);
	ck_assert_uint_eq(cn__hist_get(sh, 0x5678 << 16), CN__HIST_GHOST);
	cn__hist_put(sh, 0x1234 << 16, CN__HIST_EVICTED); /* update in place */
	ck_assert_uint_eq(cn__hist_get(sh, 0x1234 << 16), CN__HIST_EVICTED);
	cn__hist_del(sh, 0x1234 << 16);
	ck_assert_uint_eq(cn__hist_get(sh, 0x1234 << 16), CN__HIST_NONE);
	ck_assert_uint_eq(cn__hist_get(sh, 0x5678 << 16), CN__HIST_GHOST);
	/* one bucket keeps the newest CN__HIST_WAYS records: hashes differing only above the
	 * bucket bits all land in bucket 0 */
	for (uint64_t i = 1; i <= 20; i++)
		cn__hist_put(sh, i << 50, CN__HIST_EXPIRED);
	for (uint64_t i = 1; i <= 20; i++)
		ck_assert_uint_eq(cn__hist_get(sh, i << 50),
				  i > 20 - CN__HIST_WAYS ? CN__HIST_EXPIRED : CN__HIST_NONE);
	/* the history is charged from the start and never grows */
	ck_assert_uint_ge(sh->hist_charge, (sh->hist_mask + 1) * CN__HIST_WAYS * 8);
	ck_assert_uint_le(sh->hist_charge, sh->budget / CN__HIST_DIVISOR + 64);
	cn__hist_clear(sh);
	ck_assert_uint_eq(cn__hist_get(sh, 0x5678 << 16), CN__HIST_NONE);
	cn_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_key");
	TCase *tc = tcase_create("key");
	tcase_add_test(tc, test_siphash_vectors);
	tcase_add_test(tc, test_key_canonical);
	tcase_add_test(tc, test_name_is_wire);
	tcase_add_test(tc, test_name_under);
	tcase_add_test(tc, test_history_bounded);
	suite_add_tcase(s, tc);
	return cn_test_run(s);
}
