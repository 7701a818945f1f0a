/*
 * Access control: subnet parsing and matching. The REFUSED reply for clients outside the
 * allowed subnets is the engine's (cn_engine_refuse: DNS bytes belong to resolver/).
 */
#include "net/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int cn_cidr_parse(const char *s, cn_cidr_t *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		prefix = strtol(slash + 1, &end, 10);
		if (*end != '\0')
			return -EINVAL;
	}
	cn_cidr_t c = { 0 };
	unsigned bits;
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		bits = 128;
	} else {
		return -EINVAL;
	}
	if (prefix < 0)
		prefix = bits;
	if ((unsigned long)prefix > bits)
		return -EINVAL;
	c.prefix = (unsigned)prefix;
	/* Host bits must be clear. */
	for (unsigned i = c.prefix; i < bits; i++) {
		if (c.addr[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	}
	*out = c;
	return 0;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	unsigned rest = prefix % 8;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* The address bytes and family of sa, with IPv4-mapped IPv6 turned into IPv4. */
static int addr_of(const struct sockaddr *sa, uint8_t addr[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, a6->s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(addr, a6->s6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

bool cn_cidr_match(const cn_cidr_t *c, const struct sockaddr *sa)
{
	uint8_t addr[16] = { 0 };
	int family = addr_of(sa, addr);
	return family == c->family && prefix_eq(addr, c->addr, c->prefix);
}

const cn_cidr_t cn_acl_loopback[2] = {
	{ .family = AF_INET, .prefix = 8, .addr = { 127 } },
	{ .family = AF_INET6, .prefix = 128, .addr = { [15] = 1 } },
};

/* The longest prefix of list matching sa, or -1. */
static int longest(const cn_cidr_t *list, size_t n, const struct sockaddr *sa)
{
	int best = -1;
	for (size_t i = 0; i < n; i++)
		if ((int)list[i].prefix > best && cn_cidr_match(&list[i], sa))
			best = (int)list[i].prefix;
	return best;
}

cn_acl_action_t cn_acl_check(const cn_acl_t *acl, const struct sockaddr *sa)
{
	if (!acl) {
		static const cn_acl_t deflt = { .allow = cn_acl_loopback, .nallow = 2 };
		acl = &deflt;
	}
	int a = longest(acl->allow, acl->nallow, sa);
	int r = longest(acl->refuse, acl->nrefuse, sa);
	int d = longest(acl->deny, acl->ndeny, sa);
	if (d >= 0 && d >= r && d >= a)
		return CN_ACL_DENY;
	if (a > r)
		return CN_ACL_ALLOW;
	return CN_ACL_REFUSE;
}

bool cn_acl_allows(const cn_acl_t *acl, const struct sockaddr *sa)
{
	return cn_acl_check(acl, sa) == CN_ACL_ALLOW;
}
