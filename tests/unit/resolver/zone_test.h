/* Helpers shared by the hosted-zone unit tests (test_zone.c, test_hosted.c). */
#pragma once

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/zone.h"
#include "tests/unit/unit.h"

#define N cn_test_name /* a name in wire form from text; the last 8 stay valid */

/* "10.1.0.0/16", "2001:db8::/32" or a bare address (net parses these in real use). */
static inline int prefix(const char *s, cn_zone_prefix_t *p)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	memset(p, 0, sizeof(*p));
	p->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	p->bits = slash ? (unsigned)atoi(slash + 1) : p->family == AF_INET ? 32 : 128;
	return inet_pton(p->family, buf, p->addr) == 1 ? 0 : -1;
}
