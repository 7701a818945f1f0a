/*
 * Cache keys: the owner name lowercased (ASCII only; wire length octets are <= 63, below
 * 'A', so lowercasing the whole wire form is safe), then type and class in network order,
 * hashed with SipHash-2-4 under the secret conf.hash_key. Names are attacker-chosen: with
 * an unkeyed hash a flood of colliding names turns every chain walk into a linear scan
 * (the CPU DoS PowerDNS fixed in advisory 2018-06), so the key is chosen by the caller at
 * start and never leaves the process. Also the name checks the cache needs: wire-form
 * validity (insert and load) and the subtree test (flush).
 */
#include <string.h>

#include "cache/internal.h"

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v)); /* one load: gcc kept the byte loop as 8 loads and shifts */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* One SipRound (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012, fig. 2.1). */
#define SIPROUND                                                                           \
	do {                                                                               \
		v0 += v1;                                                                  \
		v1 = rotl64(v1, 13);                                                       \
		v1 ^= v0;                                                                  \
		v0 = rotl64(v0, 32);                                                       \
		v2 += v3;                                                                  \
		v3 = rotl64(v3, 16);                                                       \
		v3 ^= v2;                                                                  \
		v0 += v3;                                                                  \
		v3 = rotl64(v3, 21);                                                       \
		v3 ^= v0;                                                                  \
		v2 += v1;                                                                  \
		v1 = rotl64(v1, 17);                                                       \
		v1 ^= v2;                                                                  \
		v2 = rotl64(v2, 32);                                                       \
	} while (0)

uint64_t cn_siphash24(const uint8_t key[16], const uint8_t *in, size_t len)
{
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;

	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = load_le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	/* Last block: the remaining 0..7 bytes, little-endian, length mod 256 in the top byte. */
	uint64_t b = (uint64_t)(len & 0xff) << 56;
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)in[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

void cn__name_lower(const uint8_t *name, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++)
		out[i] = cn_ascii_lower(name[i]);
}

uint64_t cn__key_make(const cn_cache_t *cache, const uint8_t *name, size_t name_len,
		      uint16_t type, uint16_t rclass, uint8_t *out)
{
	cn__name_lower(name, name_len, out);
	out[name_len] = (uint8_t)(type >> 8);
	out[name_len + 1] = (uint8_t)type;
	out[name_len + 2] = (uint8_t)(rclass >> 8);
	out[name_len + 3] = (uint8_t)rclass;
	return cn_siphash24(cache->conf.hash_key, out, name_len + 4);
}

bool cn__name_is_wire(const uint8_t *name, size_t len)
{
	if (len == 0 || len > CN__NAME_MAX)
		return false;
	size_t pos = 0;
	while (pos < len) {
		uint8_t l = name[pos];
		if (l == 0)
			return pos + 1 == len;
		if (l > 63) /* compression pointers and reserved label types (RFC 1035 4.1.4) */
			return false;
		pos += (size_t)l + 1;
	}
	return false;
}

bool cn__name_under(const uint8_t *name, size_t len, const uint8_t *apex, size_t apex_len)
{
	/* Walk name's label boundaries; a suffix that starts on one and equals apex is a match.
	 * Bounded by len even if a stored name were not well-formed. */
	size_t pos = 0;
	while (pos < len && len - pos >= apex_len) {
		if (len - pos == apex_len && memcmp(name + pos, apex, apex_len) == 0)
			return true;
		pos += (size_t)name[pos] + 1;
	}
	return false;
}
