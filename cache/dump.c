/*
 * Dump to and load from a file (format in cache/README.md, "Dump format"). Expiry times are
 * absolute wall-clock seconds, so a dump loaded after a restart keeps each entry's remaining
 * TTL without any arithmetic. The loader never trusts the file — it is fuzzed
 * (tests/fuzz/fuzz_cache_load.c): every length is checked against what is left before it is
 * used, every field against its range, and the first bad record stops the load with
 * CN_CACHE_EMALF, keeping the records before it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/internal.h"

#define DUMP_MAGIC "CAIRNCDB"
#define DUMP_MAGIC_LEN 8
#define DUMP_VERSION 1u
#define DUMP_HDR_LEN (DUMP_MAGIC_LEN + 4 + 4 + 8)
#define DUMP_DATA_MAX (16u * 1024 * 1024) /* a value larger than this is a broken file */
#define DUMP_TTL_MAX 0x7fffffffu          /* RFC 2181 8: TTLs are 31-bit */

/* ---- writing ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static bool write_entry(FILE *f, const cn__entry_t *e)
{
	uint8_t fix[1 + 2 + 2 + 1 + 1 + 4 + 8 + 4];
	fix[0] = e->name_len;
	if (fwrite(fix, 1, 1, f) != 1 || fwrite(e->bytes, 1, e->name_len, f) != e->name_len)
		return false;
	put16(fix, e->type);
	put16(fix + 2, e->rclass);
	fix[4] = e->kind;
	fix[5] = e->rank;
	put32(fix + 6, e->ttl_orig_s);
	put64(fix + 10, e->expire_s);
	put32(fix + 18, e->data_len);
	return fwrite(fix, 1, 22, f) == 22 &&
	       fwrite(e->bytes + e->name_len, 1, e->data_len, f) == e->data_len;
}

/** Write one shard's live and stale-window entries; returns the count or -1. */
static long dump_shard(cn__shard_t *sh, FILE *f, uint64_t now_s)
{
	long n = 0;
	pthread_mutex_lock(&sh->lock);
	for (size_t i = 0; i <= sh->bucket_mask && n >= 0; i++) {
		for (cn__entry_t *e = sh->buckets[i]; e; e = e->next) {
			/* failure entries are minutes-long state of this run, not data */
			if (cn__entry_dead(e, now_s, sh->stale_window_s) ||
			    e->kind == CN_CACHE_FAILURE)
				continue;
			if (!write_entry(f, e)) {
				n = -1;
				break;
			}
			n++;
		}
	}
	pthread_mutex_unlock(&sh->lock);
	return n;
}

long cn_cache_dump(cn_cache_t *cache, const char *path, uint64_t now_s)
{
	if (!cache || !path)
		return -EINVAL;
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "wb");
	if (!f) {
		int err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	long total = 0;
	uint8_t hdr[DUMP_HDR_LEN];
	memcpy(hdr, DUMP_MAGIC, DUMP_MAGIC_LEN);
	put32(hdr + 8, DUMP_VERSION);
	put32(hdr + 12, 0); /* flags, none defined */
	put64(hdr + 16, now_s);
	if (fwrite(hdr, 1, sizeof(hdr), f) != sizeof(hdr))
		goto fail;
	/* Records are written under each shard's lock in turn: lookups on that shard wait
	 * for its records to reach stdio's buffer, other shards are untouched. */
	for (unsigned s = 0; s < cache->nshards; s++) {
		long n = dump_shard(&cache->shards[s], f, now_s);
		if (n < 0)
			goto fail;
		total += n;
	}
	uint8_t trailer[9] = { 0 }; /* name length 0 ends the records, then the count */
	put64(trailer + 1, (uint64_t)total);
	if (fwrite(trailer, 1, sizeof(trailer), f) != sizeof(trailer) || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0)
		goto fail;
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		int err = -errno;
		unlink(tmp);
		return err;
	}
	return total;
fail:;
	int err = errno ? -errno : -EIO;
	if (f)
		fclose(f);
	unlink(tmp);
	return err;
}

/* ---- reading ---- */

/** A bounded source: a memory buffer, or a file read through a scratch buffer. */
typedef struct src {
	const uint8_t *buf;
	size_t len, pos;
	FILE *f;
	uint8_t *scratch;
	size_t scratch_cap;
	int err; /* -ENOMEM from the scratch buffer */
} src_t;

/** The next n bytes, or NULL when fewer are left (or on a read error). */
static const uint8_t *take(src_t *s, size_t n)
{
	if (!s->f) {
		if (n > s->len - s->pos)
			return NULL;
		const uint8_t *p = s->buf + s->pos;
		s->pos += n;
		return p;
	}
	if (n > s->scratch_cap) {
		uint8_t *p = realloc(s->scratch, n);
		if (!p) {
			s->err = -ENOMEM;
			return NULL;
		}
		s->scratch = p;
		s->scratch_cap = n;
	}
	if (n && fread(s->scratch, 1, n, s->f) != n)
		return NULL;
	return s->scratch;
}

static bool at_end(src_t *s)
{
	if (!s->f)
		return s->pos == s->len;
	return fgetc(s->f) == EOF;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

typedef struct rec {
	uint8_t name[CN__NAME_MAX];
	size_t name_len;
	uint16_t type, rclass;
	uint8_t kind, rank;
	uint32_t ttl_orig_s;
	uint64_t expire_s;
	const uint8_t *data;
	uint32_t data_len;
} rec_t;

/** Read and check one record. 1 = got one, 0 = the end marker, <0 = malformed/error. */
static int read_rec(src_t *s, rec_t *r)
{
	const uint8_t *p = take(s, 1);
	if (!p)
		return s->err ? s->err : CN_CACHE_EMALF;
	r->name_len = p[0];
	if (r->name_len == 0)
		return 0;
	if (!(p = take(s, r->name_len)))
		return s->err ? s->err : CN_CACHE_EMALF;
	memcpy(r->name, p, r->name_len);
	if (!cn__name_is_wire(r->name, r->name_len))
		return CN_CACHE_EMALF;
	if (!(p = take(s, 22)))
		return s->err ? s->err : CN_CACHE_EMALF;
	r->type = get16(p);
	r->rclass = get16(p + 2);
	r->kind = p[4];
	r->rank = p[5];
	r->ttl_orig_s = get32(p + 6);
	r->expire_s = get64(p + 10);
	r->data_len = get32(p + 18);
	if (r->kind > CN_CACHE_NXDOMAIN || r->rank < CN_RANK_ADDITIONAL ||
	    r->rank > CN_RANK_LOCAL ||
	    (r->kind == CN_CACHE_NXDOMAIN) != (r->type == CN_CACHE_TYPE_NXDOMAIN) ||
	    r->ttl_orig_s > DUMP_TTL_MAX || r->data_len > DUMP_DATA_MAX)
		return CN_CACHE_EMALF;
	if (!(r->data = take(s, r->data_len)))
		return s->err ? s->err : CN_CACHE_EMALF;
	return 1;
}

/** Store one valid record: skip it past the stale window, re-clamp its TTL to this
 *  cache's configuration (the dump may come from a differently configured cache or a
 *  clock that ran ahead). 1 = stored, 0 = skipped, <0 = error. */
static int store_rec(cn_cache_t *cache, const rec_t *r, uint64_t now_s)
{
	const cn_cache_conf_t *c = &cache->conf;
	if (now_s >= r->expire_s && now_s - r->expire_s >= c->stale_window_s)
		return 0;
	uint32_t max = c->max_ttl_s;
	if (r->kind != CN_CACHE_RRSET && c->neg_max_ttl_s < max)
		max = c->neg_max_ttl_s;
	uint32_t ttl = r->ttl_orig_s > max ? max : r->ttl_orig_s;
	uint64_t expire = r->expire_s;
	if (expire > now_s && expire - now_s > ttl)
		expire = now_s + ttl;
	int ret = cn__insert_abs(cache, r->name, r->name_len, r->type, r->rclass,
				 (cn_cache_kind_t)r->kind, (cn_rank_t)r->rank, ttl, expire, now_s,
				 r->data, r->data_len);
	if (ret == 0)
		return 1;
	if (ret == -EEXIST || ret == -E2BIG)
		return 0; /* kept better data / cannot hold it: not a file error */
	return ret;
}

static long load(cn_cache_t *cache, src_t *s, uint64_t now_s)
{
	const uint8_t *hdr = take(s, DUMP_HDR_LEN);
	if (!hdr)
		return s->err ? s->err : CN_CACHE_EMALF;
	if (memcmp(hdr, DUMP_MAGIC, DUMP_MAGIC_LEN) != 0)
		return CN_CACHE_EMALF;
	if (get32(hdr + 8) != DUMP_VERSION)
		return -ENOTSUP;
	long loaded = 0;
	uint64_t seen = 0;
	for (;;) {
		rec_t r;
		int ret = read_rec(s, &r);
		if (ret < 0)
			return ret;
		if (ret == 0)
			break;
		seen++;
		ret = store_rec(cache, &r, now_s);
		if (ret < 0)
			return ret;
		loaded += ret;
	}
	const uint8_t *p = take(s, 8);
	if (!p)
		return s->err ? s->err : CN_CACHE_EMALF;
	if (get64(p) != seen || !at_end(s))
		return CN_CACHE_EMALF; /* a lost or extra record, or bytes after the trailer */
	return loaded;
}

long cn_cache_load_buf(cn_cache_t *cache, const uint8_t *buf, size_t len, uint64_t now_s)
{
	if (!cache || (!buf && len))
		return -EINVAL;
	src_t s = { .buf = buf, .len = len };
	long n = load(cache, &s, now_s);
	cn__epoch_bump(cache);
	return n;
}

long cn_cache_load(cn_cache_t *cache, const char *path, uint64_t now_s)
{
	if (!cache || !path)
		return -EINVAL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	src_t s = { .f = f };
	long ret = load(cache, &s, now_s);
	cn__epoch_bump(cache);
	if (ret >= 0 && ferror(f))
		ret = -EIO;
	free(s.scratch);
	fclose(f);
	return ret;
}
