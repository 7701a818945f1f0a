/*
 * Domain names: loop-safe decompression from a message, validation of uncompressed names,
 * case-insensitive comparison in canonical order, bailiwick tests and the presentation form.
 * Names here are attacker-controlled bytes from the network, so every read is bounded by
 * an explicit length and no function trusts a length octet it has not checked.
 */
#include "resolver/dname.h"

#include <string.h>

#include "cache/cache.h"
#include "resolver/errors.h"
#include "resolver/wire.h"

/*
 * Compression pointers followed per name. Every pointer must go strictly backwards, so
 * loops are already impossible; this bounds the work of a pointer chain (a 255-octet name
 * has at most 127 labels, each could legitimately sit behind one pointer).
 */
#define DNAME_MAX_JUMPS 128

/* RFC 1035 4.1.4: the top two bits 11 mark a pointer; 01 and 10 are reserved (RFC 6891
 * retired the 01 "extended label" type), so both are rejected. */
static int label_kind_error(uint8_t len)
{
	return (len & 0xC0) == 0xC0 ? CN_EPTR : CN_ELABEL;
}

int cn_dname_unpack(const uint8_t *msg, size_t msg_len, size_t *pos, uint8_t *out,
		    size_t *out_len)
{
	size_t p = *pos;
	size_t seg_start = p; /* start of the label run being read: pointers must go below */
	size_t end = 0;       /* where the name ends in the message as it stands */
	size_t n = 0;         /* decoded octets so far */
	int jumps = 0;

	for (;;) {
		if (p >= msg_len)
			return CN_ETRUNC;
		uint8_t len = msg[p];
		if ((len & 0xC0) == 0xC0) {
			if (p + 1 >= msg_len)
				return CN_ETRUNC;
			size_t target = ((size_t)(len & 0x3F) << 8) | msg[p + 1];
			/* Strictly backwards, before the run that uses it, and never into
			 * the 12-byte header: no self-pointers, no loops, no forward refs. */
			if (target >= seg_start || target < CN_HEADER_LEN)
				return CN_EPTR;
			if (++jumps > DNAME_MAX_JUMPS)
				return CN_ELOOP;
			if (!end)
				end = p + 2;
			p = seg_start = target;
			continue;
		}
		if (len > CN_LABEL_MAX)
			return label_kind_error(len);
		/* RFC 1035 2.3.4: 255 octets counted on the decoded name, root included. */
		if (n + 1 + len > CN_DNAME_MAX)
			return CN_ENAMELEN;
		if (len >= msg_len - p)
			return CN_ETRUNC;
		if (out)
			memcpy(out + n, msg + p, (size_t)len + 1);
		n += (size_t)len + 1;
		p += (size_t)len + 1;
		if (len == 0)
			break;
	}
	*pos = end ? end : p;
	if (out_len)
		*out_len = n;
	return 0;
}

int cn_dname_check(const uint8_t *name, size_t buf_len)
{
	size_t p = 0;
	for (;;) {
		if (p >= buf_len)
			return CN_ETRUNC;
		uint8_t len = name[p];
		if (len > CN_LABEL_MAX)
			return label_kind_error(len);
		if (p + 1 + len > CN_DNAME_MAX)
			return CN_ENAMELEN;
		if (len >= buf_len - p)
			return CN_ETRUNC;
		p += (size_t)len + 1;
		if (len == 0)
			return (int)p;
	}
}

size_t cn_dname_len(const uint8_t *name)
{
	size_t p = 0;
	while (name[p])
		p += (size_t)name[p] + 1;
	return p + 1;
}

int cn_dname_labels(const uint8_t *name)
{
	int n = 0;
	for (size_t p = 0; name[p]; p += (size_t)name[p] + 1)
		n++;
	return n;
}

const uint8_t *cn_dname_skip(const uint8_t *name, int n)
{
	while (n-- > 0 && *name)
		name += *name + 1;
	return name;
}

static bool label_eq(const uint8_t *a, const uint8_t *b)
{
	if (*a != *b)
		return false;
	for (int i = 1; i <= *a; i++)
		if (cn_ascii_lower(a[i]) != cn_ascii_lower(b[i]))
			return false;
	return true;
}

bool cn_dname_eq(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (!label_eq(a, b))
			return false;
		if (*a == 0)
			return true;
		a += *a + 1;
		b += *b + 1;
	}
}

/* Offsets of each label of name, leftmost first; returns the count (root excluded). */
static int label_offsets(const uint8_t *name, uint8_t off[CN_DNAME_MAX / 2 + 1])
{
	int n = 0;
	for (size_t p = 0; name[p]; p += (size_t)name[p] + 1)
		off[n++] = (uint8_t)p;
	return n;
}

/* RFC 4034 6.1: labels compared as lowercased octet strings, a shorter string that is a
 * prefix of the other sorting first. */
static int label_cmp(const uint8_t *a, const uint8_t *b)
{
	int la = a[0], lb = b[0];
	int m = la < lb ? la : lb;
	for (int i = 1; i <= m; i++) {
		int d = (int)cn_ascii_lower(a[i]) - (int)cn_ascii_lower(b[i]);
		if (d)
			return d;
	}
	return la - lb;
}

int cn_dname_cmp(const uint8_t *a, const uint8_t *b)
{
	/* RFC 4034 6.1: compare from the most significant (rightmost) label; a name
	 * with fewer labels that matches so far sorts first. */
	uint8_t oa[CN_DNAME_MAX / 2 + 1], ob[CN_DNAME_MAX / 2 + 1];
	int na = label_offsets(a, oa), nb = label_offsets(b, ob);
	while (na > 0 && nb > 0) {
		int d = label_cmp(a + oa[--na], b + ob[--nb]);
		if (d)
			return d;
	}
	return na - nb;
}

bool cn_dname_is_sub(const uint8_t *name, const uint8_t *zone)
{
	int ln = cn_dname_labels(name), lz = cn_dname_labels(zone);
	if (ln < lz)
		return false;
	return cn_dname_eq(cn_dname_skip(name, ln - lz), zone);
}

void cn_dname_lower(uint8_t *name)
{
	for (size_t p = 0; name[p]; p += (size_t)name[p] + 1)
		for (size_t i = 1; i <= name[p]; i++)
			name[p + i] = cn_ascii_lower(name[p + i]);
}

size_t cn_dname_copy(uint8_t *dst, const uint8_t *src)
{
	size_t len = cn_dname_len(src);
	memmove(dst, src, len);
	return len;
}

/* One escape after a backslash (RFC 1035 5.1): \DDD (decimal, <= 255) or \X. */
static int parse_escape(const char **s, uint8_t *c)
{
	const char *p = *s;
	if (*p >= '0' && *p <= '9') {
		if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'))
			return CN_ESYNTAX;
		int v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (v > 255)
			return CN_ESYNTAX;
		*c = (uint8_t)v;
		*s = p + 3;
		return 0;
	}
	if (*p == '\0')
		return CN_ESYNTAX;
	*c = (uint8_t)*p;
	*s = p + 1;
	return 0;
}

int cn_dname_from_str(const char *str, uint8_t *out, size_t *out_len)
{
	if (!str || !*str)
		return CN_ESYNTAX;
	size_t n = 0;
	const char *s = str;
	if (s[0] == '.' && s[1] == '\0')
		s++;
	while (*s) {
		size_t lab = n++; /* length octet of this label */
		size_t len = 0;
		while (*s && *s != '.') {
			uint8_t c = (uint8_t)*s++;
			if (c == '\\') {
				int r = parse_escape(&s, &c);
				if (r)
					return r;
			}
			if (++len > CN_LABEL_MAX)
				return CN_ELABEL;
			if (n + 1 >= CN_DNAME_MAX)
				return CN_ENAMELEN;
			out[n++] = c;
		}
		if (len == 0)
			return CN_ESYNTAX; /* empty label: "a..b" or a leading dot */
		out[lab] = (uint8_t)len;
		if (*s == '.')
			s++;
	}
	if (n + 1 > CN_DNAME_MAX)
		return CN_ENAMELEN;
	out[n++] = 0;
	if (out_len)
		*out_len = n;
	return 0;
}

static bool needs_backslash(uint8_t c)
{
	return c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' ||
	       c == '$' || c == '@';
}

int cn_dname_to_str(const uint8_t *name, char *buf, size_t buf_len)
{
	size_t o = 0;
	char tmp[5];
	if (name[0] == 0) {
		if (buf_len < 2)
			return -ENOSPC;
		buf[0] = '.';
		buf[1] = '\0';
		return 1;
	}
	for (size_t p = 0; name[p]; p += (size_t)name[p] + 1) {
		for (size_t i = 1; i <= name[p]; i++) {
			uint8_t c = name[p + i];
			size_t k;
			if (c <= 0x20 || c >= 0x7F) {
				tmp[0] = '\\';
				tmp[1] = (char)('0' + c / 100);
				tmp[2] = (char)('0' + c / 10 % 10);
				tmp[3] = (char)('0' + c % 10);
				k = 4;
			} else if (needs_backslash(c)) {
				tmp[0] = '\\';
				tmp[1] = (char)c;
				k = 2;
			} else {
				tmp[0] = (char)c;
				k = 1;
			}
			if (o + k + 1 >= buf_len)
				return -ENOSPC;
			memcpy(buf + o, tmp, k);
			o += k;
		}
		if (o + 2 > buf_len)
			return -ENOSPC;
		buf[o++] = '.';
	}
	buf[o] = '\0';
	return (int)o;
}

int cn_dname_subst(const uint8_t *name, const uint8_t *owner, const uint8_t *target,
		   uint8_t *out)
{
	int skip = cn_dname_labels(name) - cn_dname_labels(owner);
	size_t plen = (size_t)(cn_dname_skip(name, skip) - name);
	size_t tlen = cn_dname_len(target);
	if (plen + tlen > CN_DNAME_MAX)
		return CN_ENAMELEN;
	memmove(out, name, plen);
	memmove(out + plen, target, tlen);
	return 0;
}
