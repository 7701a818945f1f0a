/*
 * Client access control. A client may query when its source address lies in one of the
 * allowed subnets: by default loopback only (127.0.0.0/8 and ::1); a configured `allow:`
 * list replaces that default (list loopback in it to keep it). `refuse:` and `deny:` lists
 * carve subnets out (the longest matching prefix decides). Everyone else gets REFUSED
 * (cn_engine_refuse in resolver/ builds it) — never an answer, so cairn cannot be used as an open
 * resolver or amplifier from outside.
 * IPv4-mapped IPv6 sources (::ffff:a.b.c.d, seen on dual-stack sockets) are matched as IPv4.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** One subnet: family AF_INET or AF_INET6, prefix length in bits, address bytes
 *  (4 or 16 used) with the host bits cleared. */
typedef struct cn_cidr {
	int family;
	unsigned prefix;
	uint8_t addr[16];
} cn_cidr_t;

/**
 * Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (a host: /32 or /128).
 * Host bits set below the prefix are an error ("10.0.0.1/8"), as in Unbound, because they
 * are usually a typo. Returns 0 or -EINVAL.
 */
int cn_cidr_parse(const char *s, cn_cidr_t *out);

/** Whether sa (AF_INET or AF_INET6) lies in c. */
bool cn_cidr_match(const cn_cidr_t *c, const struct sockaddr *sa);

/** The access lists. Plain data: the config owns the arrays. */
typedef struct cn_acl {
	const cn_cidr_t *allow;  /* served */
	size_t nallow;
	const cn_cidr_t *refuse; /* answered REFUSED (also everyone in no list) */
	size_t nrefuse;
	const cn_cidr_t *deny;   /* dropped: no reply at all */
	size_t ndeny;
} cn_acl_t;

/** What is done with a client's query. */
typedef enum cn_acl_action {
	CN_ACL_REFUSE = 0,
	CN_ACL_ALLOW,
	CN_ACL_DENY,
} cn_acl_action_t;

/**
 * The action for a client at sa: the list with the longest matching prefix wins (as in
 * Unbound's access-control), deny before refuse before allow on a tie; no match: refuse.
 * acl NULL means the loopback default.
 */
cn_acl_action_t cn_acl_check(const cn_acl_t *acl, const struct sockaddr *sa);

/** The default allow list: 127.0.0.0/8 and ::1. */
extern const cn_cidr_t cn_acl_loopback[2];

/** Whether a client at sa may query (cn_acl_check says allow). An empty allow list allows
 *  nobody. */
bool cn_acl_allows(const cn_acl_t *acl, const struct sockaddr *sa);

