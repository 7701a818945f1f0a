/*
 * The engine's counters, defined once. Each row is X(field, name): the field of
 * cn_engine_stats_t (and of the engine's atomic counters, resolver/internal.h), and the name
 * `cairnctl stats` prints (docs/cairnctl.md lists every name; tests/unit/net/test_stats.c
 * checks the list against these tables). Adding a row adds the field, its snapshot, its
 * output line and makes the doc test and the integration driver test
 * (tests/integration/test_stats.py) ask for a description and a driver.
 */
#pragma once

/* Client outcomes: X(enum suffix, name). Every client query counts in exactly one. */
#define CN_OUTCOME_MAP(X)                                                                \
	X(CACHE_POSITIVE, "answer.cache.positive") /* from cache, positive */           \
	X(CACHE_NEGATIVE, "answer.cache.negative") /* from cache, NXDOMAIN/NODATA */    \
	X(CACHE_STALE, "answer.cache.stale")       /* from cache, stale (RFC 8767) */   \
	X(LOCAL, "answer.local")                   /* from a hosted zone */             \
	X(RESOLVED, "answer.resolved")             /* upstream work (also coalesced) */ \
	X(SERVFAIL, "answer.servfail")                                                   \
	X(REFUSED, "answer.refused")                                                     \
	X(FORMERR, "answer.formerr")               /* FORMERR, NOTIMP or BADVERS */     \
	X(DROPPED, "answer.dropped")               /* no reply (QR=1, short) */

/* Engine counters: X(field, name). */
#define CN_ENGINE_STATS_MAP(X)                                                           \
	/* Every client query answered after a cache miss (RESOLVED or SERVFAIL) is        \
	 * explained in exactly one of these four, so they sum to those two outcomes. */   \
	X(miss_first, "miss.first")             /* never seen (or its trace is gone) */  \
	X(miss_expired, "miss.expired")         /* was cached, TTL ran out */            \
	X(miss_evicted, "miss.evicted")         /* was cached, evicted while valid */    \
	X(miss_uncacheable, "miss.uncacheable") /* TTL 0, SERVFAIL, no SOA */            \
	X(limit_hits, "limits.hit")             /* any limit reached */                  \
	X(limit_cname, "limits.cname")                                                   \
	X(limit_upstream, "limits.upstream")                                             \
	X(limit_glueless, "limits.glueless")                                             \
	X(limit_referral, "limits.referral")                                             \
	X(limit_deadline, "limits.deadline")                                             \
	X(failures_cached, "failures.cached")   /* resolution failures (RFC 9520) */     \
	X(zone_failures_cached, "failures.zones_cached") /* cuts with no server */       \
	X(failure_answers, "failures.answered") /* answered from the failure cache */    \
	X(dead_server_skips, "upstream.dead_skips") /* dead servers not asked */         \
	X(upstream_queries, "upstream.queries") /* produced */                          \
	X(upstream_timeouts, "upstream.timeouts")                                         \
	/* DNSSEC (validate.c): answers validated, and the work it took */                \
	X(dnssec_secure, "dnssec.secure")       /* answers proven secure (AD) */          \
	X(dnssec_insecure, "dnssec.insecure")   /* answers proven insecure / unanchored */\
	X(dnssec_bogus, "dnssec.bogus")         /* answers that failed validation */      \
	X(dnssec_budget, "dnssec.budget_exceeded") /* of those: the budget ran out */     \
	X(dnssec_key_fetches, "dnssec.key_fetches") /* DNSKEY / DS queries it needed */   \
	X(dnssec_sigs, "dnssec.verifications")  /* signature verifications */             \
	X(dnssec_hashes, "dnssec.nsec3_hashes") /* NSEC3 hashes computed */              \
	X(dnssec_aggressive, "dnssec.aggressive") /* denials from cached NSECs (RFC 8198) */

/* Server selection's one mutex (nsel.c), X(field, name): the fields are nsel_FIELD in
 * cn_engine_stats_t, counted by nsel.c under the lock itself (no shared line of their own). */
#define CN_NSEL_STATS_MAP(X)                                                             \
	X(locks, "server_selection.lock_acquired")  /* times taken (several per upstream \
						       query) */                            \
	X(lock_contended, "server_selection.lock_contended") /* of those: held by another \
								thread at the first try */
