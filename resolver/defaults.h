/*
 * The engine's configuration defaults, defined once: X(field, value, source). Both
 * cn_engine_conf_default() (resolver/engine.c) and net's config (net/config.c, whose unit
 * tests do not link the engine) fill a cn_engine_conf_t from these rows through
 * cn_engine_conf_fill_defaults(); docs/config.md documents them.
 */
#pragma once

#include <string.h>

#include "resolver/resolver.h"

#define CN_ENGINE_DEFAULTS_MAP(X)                                                            \
	X(limits.cname_chain, 11, "Unbound/BIND max-query-restarts")                         \
	X(limits.upstream_queries, 32, "DESIGN.md limits")                                   \
	X(limits.glueless_ns, 5, "DESIGN.md limits")                                         \
	X(limits.referral_depth, 30, "DESIGN.md limits")                                     \
	X(limits.subrequest_depth, 4, "NS-address sub-request nesting")                      \
	X(limits.client_deadline_ms, 3000, "under glibc's 5 s stub timeout")                 \
	X(limits.resolve_deadline_ms, 10000, "DESIGN.md limits")                             \
	X(limits.rrset_records, 512, "records per RRset from upstream")                      \
	X(qname_minimisation, true, "RFC 9156 relaxed")                                      \
	X(use_0x20, true, "0x20 case randomisation")                                         \
	X(do_ip4, true, "upstream families")                                                 \
	X(do_ip6, true, "upstream families")                                                 \
	X(allow_loopback_upstream, false, "Unbound's do-not-query-localhost")                \
	X(serve_stale, true, "RFC 8767")                                                     \
	X(stale_answer_ttl_s, 30, "RFC 8767 4")                                              \
	X(prefetch, true, "refresh in the last 10% of the TTL")                              \
	X(edns_udp_size, 1232, "DNS flag day 2020")                                          \
	X(timeout_min_ms, 200, "upstream timeout floor")                                     \
	X(timeout_max_ms, 3000, "upstream timeout ceiling")                                  \
	X(initial_rtt_ms, 400, "SRTT assumed for an unknown server")                         \
	X(failure_cache_s, 5, "RFC 9520 3: at least 1 s, at most 5 min")                     \
	X(servfail_ttl_s, 2, "RFC 9520 3.2: >= 1 s; short, so recovery is quick")            \
	X(servfail_ttl_max_s, 300, "RFC 9520 3.2: backoff ceiling, at most 5 min")           \
	X(dnssec.enabled, true, "every peer validates by default")                         \
	X(dnssec.sigs_per_rrset, 8, "KeyTrap: Unbound's cap")                                \
	X(dnssec.sigs_per_request, 64, "KeyTrap: per client request")                        \
	X(dnssec.nsec3_hashes, 64, "CVE-2023-50868: NSEC3 hashes per request")              \
	X(dnssec.nsec3_iter_insecure, 100, "RFC 9276 3.2")                                   \
	X(dnssec.nsec3_iter_bogus, 500, "RFC 9276 3.2")                                      \
	X(dnssec.bogus_ttl_s, 60, "RFC 9520 / RFC 4035 4.7: bogus remembered briefly")      \
	X(dnssec.aggressive_nsec, true, "RFC 8198")                                          \
	X(log_level, 2, "info")

/** Zero c, then set every default row (hints NULL: the compiled-in list). */
static inline void cn_engine_conf_fill_defaults(cn_engine_conf_t *c)
{
	memset(c, 0, sizeof(*c));
#define CN_X(field, value, source) c->field = value;
	CN_ENGINE_DEFAULTS_MAP(CN_X)
#undef CN_X
}
