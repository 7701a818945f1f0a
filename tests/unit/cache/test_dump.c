/*
 * Unit tests for cache/dump.c: a dump -> load round trip keeps remaining TTLs (expiry is
 * absolute) and skips what expired; corrupt files (truncated at every length, bad magic,
 * bad version, huge lengths, bad fields, trailing bytes) fail cleanly and keep the valid
 * records before the damage.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/cache/cache_test.h"
#include "tests/unit/unit.h"

#define T_A 1
#define T_AAAA 28

static char path[64];

static void setup(void)
{
	snprintf(path, sizeof(path), "/tmp/cairn-test-dump-%d.bin", (int)getpid());
}

static void teardown(void)
{
	unlink(path);
}

static uint8_t *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(*len + 1);
	ck_assert_uint_eq(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

/* 3 live RRsets, a NODATA, an NXDOMAIN, one inside the stale window, one dead at t=1000. */
static cn_cache_t *populated(void)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 100);
	put(c, "a.example", T_A, 300, 1000, "1.1.1.1");
	put(c, "b.example", T_A, 60, 1000, "2.2.2.2");
	put(c, "b.example", T_AAAA, 3600, 1000, "::2");
	uint8_t n[256];
	size_t nl = wire("nodata.example", n);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, T_AAAA, 1, CN_CACHE_NODATA,
					 CN_RANK_AUTH_AUTHORITY, 120, 1000, "soa", 3),
			 0);
	nl = wire("nx.example", n);
	ck_assert_int_eq(cn_cache_insert(c, n, nl, 0, 1, CN_CACHE_NXDOMAIN, CN_RANK_AUTH_ANSWER,
					 900, 1000, "soa!", 4),
			 0);
	put(c, "stale.example", T_A, 10, 950, "s"); /* expired at 960, window until 1060 */
	put(c, "dead.example", T_A, 10, 800, "d");  /* window ended at 910 */
	return c;
}

START_TEST(test_round_trip)
{
	cn_cache_t *c = populated();
	ck_assert_int_eq(cn_cache_dump(c, path, 1000), 6);
	cn_cache_t *d = make_cache(1 << 20, CN_EVICT_SIEVE, 4, 100);
	ck_assert_int_eq(cn_cache_load(d, path, 1010), 6);
	cn_cache_entry_t e;
	uint8_t n[256], buf[64];
	ck_assert_int_eq(get(d, "a.example", T_A, 1010, 0, &e), 0);
	ck_assert_uint_eq(e.ttl_left_s, 290); /* 300 - 10 */
	ck_assert_uint_eq(e.ttl_orig_s, 300);
	ck_assert_uint_eq(e.expire_s, 1300);
	ck_assert_int_eq(get(d, "b.example", T_A, 1010, 0, &e), 0);
	ck_assert_uint_eq(e.ttl_left_s, 50);
	size_t nl = wire("b.example", n);
	ck_assert_int_eq(cn_cache_lookup(d, n, nl, T_AAAA, 1, 1010, 0, &e, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(e.ttl_left_s, 3590);
	ck_assert_mem_eq(buf, "::2", 3);
	nl = wire("nodata.example", n);
	ck_assert_int_eq(cn_cache_lookup(d, n, nl, T_AAAA, 1, 1010, 0, &e, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(e.kind, CN_CACHE_NODATA);
	ck_assert_uint_eq(e.rank, CN_RANK_AUTH_AUTHORITY);
	ck_assert_uint_eq(e.ttl_left_s, 110);
	nl = wire("nx.example", n);
	ck_assert_int_eq(cn_cache_lookup(d, n, nl, 0, 1, 1010, 0, &e, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(e.kind, CN_CACHE_NXDOMAIN);
	ck_assert_uint_eq(e.rank, CN_RANK_AUTH_ANSWER);
	ck_assert_mem_eq(buf, "soa!", 4);
	ck_assert_int_eq(get(d, "stale.example", T_A, 1010, CN_LOOKUP_STALE, &e), 0);
	ck_assert(e.stale);
	ck_assert_int_eq(get(d, "dead.example", T_A, 1010, CN_LOOKUP_STALE, &e), -ENOENT);
	cn_cache_free(d);

	/* later: what expired past the window is skipped, the rest keeps absolute expiry */
	d = make_cache(1 << 20, CN_EVICT_LRU, 0, 100);
	ck_assert_int_eq(cn_cache_load(d, path, 1161), 4); /* b/A (1060) and stale (960) gone */
	ck_assert_int_eq(get(d, "b.example", T_A, 1161, CN_LOOKUP_STALE, &e), -ENOENT);
	ck_assert_int_eq(get(d, "a.example", T_A, 1161, 0, &e), 0);
	ck_assert_uint_eq(e.ttl_left_s, 139);
	ck_assert_int_eq(get(d, "nodata.example", T_AAAA, 1161, CN_LOOKUP_STALE, &e), 0);
	ck_assert(e.stale); /* expired at 1120, inside the window */
	cn_cache_free(d);

	/* a tighter configuration re-clamps loaded TTLs */
	cn_cache_conf_t conf = { .budget_bytes = 1 << 20, .max_ttl_s = 100, .neg_max_ttl_s = 30 };
	ck_assert_int_eq(cn_cache_new(&conf, &d), 0);
	ck_assert_int_eq(cn_cache_load(d, path, 1000), 5);
	ck_assert_int_eq(get(d, "a.example", T_A, 1000, 0, &e), 0);
	ck_assert_uint_eq(e.ttl_left_s, 100);
	ck_assert_int_eq(get(d, "nx.example", 0, 1000, 0, &e), 0);
	ck_assert_uint_eq(e.ttl_left_s, 30);
	cn_cache_free(d);

	/* the dump is atomic: no temp file is left next to it; a second dump replaces it */
	ck_assert_int_eq(cn_cache_dump(c, path, 1000), 6);
	ck_assert_int_eq(cn_cache_dump(c, "/nonexistent-dir/x", 1000), -ENOENT);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_load_buf_matches_file)
{
	cn_cache_t *c = populated();
	ck_assert_int_eq(cn_cache_dump(c, path, 1000), 6);
	size_t len;
	uint8_t *b = slurp(path, &len);
	cn_cache_t *d = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 100);
	ck_assert_int_eq(cn_cache_load_buf(d, b, len, 1010), 6);
	/* loading again: same rank replaces, so the count is the same */
	ck_assert_int_eq(cn_cache_load_buf(d, b, len, 1010), 6);
	cn_cache_stats_t st;
	cn_cache_stats(d, &st);
	ck_assert_uint_eq(st.entries, 6);
	ck_assert_int_eq(cn_cache_load_buf(d, NULL, 0, 0), CN_CACHE_EMALF);
	ck_assert_int_eq(cn_cache_load_buf(NULL, b, len, 0), -EINVAL);
	ck_assert_int_eq(cn_cache_load(d, "/nonexistent-file", 0), -ENOENT);
	free(b);
	cn_cache_free(d);
	cn_cache_free(c);
}
END_TEST

/* Offsets inside the first record (after the 24-byte header). */
#define HDR 24

START_TEST(test_load_corrupt)
{
	cn_cache_t *c = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 0);
	put(c, "a.example", T_A, 300, 1000, "1.1.1.1");
	put(c, "b.example", T_A, 300, 1000, "2.2.2.2");
	ck_assert_int_eq(cn_cache_dump(c, path, 1000), 2);
	size_t len;
	uint8_t *good = slurp(path, &len);
	uint8_t *b = malloc(len + 16);

	/* every truncation fails cleanly, as a file and as a buffer */
	for (size_t cut = 0; cut < len; cut++) {
		cn_cache_t *d = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 0);
		ck_assert_int_eq(cn_cache_load_buf(d, good, cut, 1000), CN_CACHE_EMALF);
		FILE *f = fopen(path, "wb");
		fwrite(good, 1, cut, f);
		fclose(f);
		ck_assert_int_eq(cn_cache_load(d, path, 1000), CN_CACHE_EMALF);
		cn_cache_stats_t st;
		cn_cache_stats(d, &st);
		ck_assert_uint_le(st.entries, 2); /* records before the cut are kept */
		cn_cache_free(d);
	}
	cn_cache_t *d = make_cache(1 << 20, CN_EVICT_S3FIFO, 0, 0);
#define CORRUPT(off, val, want)                                                            \
	do {                                                                               \
		memcpy(b, good, len);                                                      \
		b[off] = (uint8_t)(val);                                                   \
		ck_assert_int_eq(cn_cache_load_buf(d, b, len, 1000), want);                \
	} while (0)
	CORRUPT(0, 'X', CN_CACHE_EMALF);                  /* magic */
	CORRUPT(11, 2, -ENOTSUP);                         /* version 2 */
	size_t nl = 11;                                   /* \1a\7example\0 */
	CORRUPT(HDR, 0xff, CN_CACHE_EMALF);               /* name length runs over */
	CORRUPT(HDR + 1, 0x40, CN_CACHE_EMALF);           /* bad label type */
	CORRUPT(HDR + 1 + nl + 4, 3, CN_CACHE_EMALF);     /* kind 3 */
	CORRUPT(HDR + 1 + nl + 4, 2, CN_CACHE_EMALF);     /* NXDOMAIN with type A */
	CORRUPT(HDR + 1 + nl + 5, 0, CN_CACHE_EMALF);     /* rank 0 */
	CORRUPT(HDR + 1 + nl + 5, 6, CN_CACHE_EMALF);     /* rank 6 */
	CORRUPT(HDR + 1 + nl + 6, 0x80, CN_CACHE_EMALF);  /* TTL above 2^31 - 1 */
	CORRUPT(HDR + 1 + nl + 18, 0xff, CN_CACHE_EMALF); /* data length 4 GiB */
	CORRUPT(HDR + 1 + nl + 20, 0x10, CN_CACHE_EMALF); /* data length runs over */
	CORRUPT(len - 1, 3, CN_CACHE_EMALF);              /* wrong record count */
	/* the second record broken: the first one is kept */
	cn_cache_flush(d);
	size_t second = HDR + 1 + nl + 22 + 7;
	CORRUPT(second + 1 + nl + 5, 9, CN_CACHE_EMALF);
	cn_cache_entry_t e;
	ck_assert_int_eq(get(d, "a.example", T_A, 1000, 0, &e), 0);
	ck_assert_int_eq(get(d, "b.example", T_A, 1000, 0, &e), -ENOENT);
	/* bytes after the trailer */
	memcpy(b, good, len);
	b[len] = 0;
	ck_assert_int_eq(cn_cache_load_buf(d, b, len + 1, 1000), CN_CACHE_EMALF);
	/* a file of garbage */
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 131 + 7);
	ck_assert_int_eq(cn_cache_load_buf(d, b, len, 1000), CN_CACHE_EMALF);
	check_budget(d);
	free(good);
	free(b);
	cn_cache_free(d);
	cn_cache_free(c);
}
END_TEST

START_TEST(test_dump_big)
{
	/* many entries of several shards survive a round trip exactly */
	cn_cache_t *c = make_cache(8 << 20, CN_EVICT_S3FIFO, 0, 0);
	for (int i = 0; i < 5000; i++) {
		char d[40], v[40];
		snprintf(d, sizeof(d), "host%d.zone%d.example", i, i % 17);
		snprintf(v, sizeof(v), "value-%d", i);
		put(c, d, T_A, 100 + (uint32_t)i, 1000, v);
	}
	ck_assert_int_eq(cn_cache_dump(c, path, 1000), 5000);
	cn_cache_t *d = make_cache(8 << 20, CN_EVICT_S3FIFO, 0, 0);
	ck_assert_int_eq(cn_cache_load(d, path, 1050), 5000);
	for (int i = 0; i < 5000; i++) {
		char dn[40], v[40];
		snprintf(dn, sizeof(dn), "host%d.zone%d.example", i, i % 17);
		snprintf(v, sizeof(v), "value-%d", i);
		uint8_t n[256], buf[64];
		size_t nl = wire(dn, n);
		cn_cache_entry_t e;
		ck_assert_int_eq(cn_cache_lookup(d, n, nl, T_A, 1, 1050, 0, &e, buf, sizeof(buf)),
				 0);
		ck_assert_uint_eq(e.ttl_left_s, 50 + (uint32_t)i);
		ck_assert_uint_eq(e.data_len, strlen(v));
		ck_assert_mem_eq(buf, v, e.data_len);
	}
	cn_cache_free(d);
	cn_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_dump");
	TCase *tc = tcase_create("dump");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_load_buf_matches_file);
	tcase_add_test(tc, test_load_corrupt);
	tcase_add_test(tc, test_dump_big);
	suite_add_tcase(s, tc);
	return cn_test_run(s);
}
