/*
 * net's counters, defined once (the engine's are in resolver/stats.h). Each row is
 * X(field, name): the field of the per-worker struct, and the name `cairnctl stats` prints,
 * or NULL for a counter only logged at exit. The structs, the sums over workers
 * (net/pool.c) and the control socket's output (net/control.c) are generated from these
 * rows; docs/cairnctl.md lists every printed name (tests/unit/net/test_stats.c checks it).
 */
#pragma once

#include <stdint.h>

/* The upstream client, one per worker (net/upstream.c). */
#define CN_UPSTREAM_STATS_MAP(X)                                                        \
	X(sent_udp, "upstream.sent_udp")        /* UDP queries written */                \
	X(tcp, "upstream.tcp")                  /* queries that went to TCP (asked for, \
						   or after TC=1): connections tried */   \
	X(sent_tcp, "upstream.sent_tcp")        /* TCP queries written (connected) */    \
	X(replies, "upstream.replies")          /* replies accepted */                   \
	X(timeouts, "upstream.transport_timeouts")                                      \
	X(tc_retries, "upstream.tc_retries")                                            \
	X(oversize_retries, "upstream.oversize_retries") /* of tc_retries: longer than \
						   the EDNS size, no TC (A7) */            \
	X(ignored_mismatch, "upstream.ignored_mismatch") /* wrong ID/question/source */  \
	X(ignored_case, "upstream.ignored_case")         /* only the 0x20 case wrong */  \
	X(ignored_malformed, "upstream.ignored_malformed") /* short, not a reply */      \
	X(case_failures, "upstream.case_failures") /* ended CN_UP_CASE_MISMATCH */       \
	X(network_errors, "upstream.network_errors") /* ICMP, refused/reset, send */      \
	X(forwarded, "upstream.forwarded") /* to forward zones' servers, via c-ares */

/* The daemon's reloads (net/daemon_reload.c): SIGHUP and `cairnctl reload`. */
#define CN_DAEMON_STATS_MAP(X)                                                          \
	X(reloads, "reload.applied")       /* a new configuration is in force */         \
	X(reloads_failed, "reload.rejected") /* rejected whole: the old one runs on */   \
	X(zone_reloads_failed, "reload.zones_kept") /* applied, but a zone file did not \
						       parse: the old zones answer */

/* The worker (net/worker.c). */
#define CN_WORKER_STATS_MAP(X)                                                          \
	X(queries, NULL)          /* client packets handed to the worker */              \
	X(refused, NULL)          /* by the ACL (also in answer.refused) */              \
	X(coalesced, NULL)        /* joined a resolution already in flight here */       \
	X(handoffs, NULL)         /* handed to the worker running their resolution */    \
	X(resolutions, NULL)      /* started for clients */                              \
	X(prefetches, "prefetches") /* started in the background */                     \
	X(ready, "answer.ready")  /* of the cache hits: sent from the ready-to-send table */ \
	X(late_answers, NULL)     /* client deadline passed first */                     \
	X(abandoned, NULL)        /* resolutions stopped at the resolve deadline */      \
	X(overload, NULL)         /* answered at once: the flight table was full */      \
	X(client_limit, NULL)     /* dropped: limits.client_waiting reached */           \
	X(rate_limited, "rate_limit.limited") /* UDP misses over rate_limit */         \
	X(rate_slipped, "rate_limit.slipped") /* of those: answered TC=1 (slip) */      \
	X(send_errors, NULL)                                                             \
	X(flight_locks, "inflight.lock_acquired") /* stripe locks of the shared in-flight \
						     table taken: a claim, a release */    \
	X(flight_lock_contended, "inflight.lock_contended") /* of those: held by another \
							       thread at the first try */

/*
 * Latency histograms, recorded by each worker (net/worker.c) and served by /metrics
 * (net/metrics.c): X(index suffix, metric name, help). The time is measured inside cairn,
 * from the client packet handed to the worker to its reply queued for sending.
 *   HIT: queries answered at once from the cache (answer.cache.positive and .negative);
 *   RESOLUTION: queries that missed the cache, however they were answered (resolved,
 *   joined a resolution in flight, stale or SERVFAIL at the client deadline).
 */
#define CN_HIST_MAP(X)                                                                  \
	X(HIT, "cairn_cache_hit_duration_seconds",                                       \
	  "Time to answer a client query from the cache")                                \
	X(RESOLUTION, "cairn_resolution_duration_seconds",                               \
	  "Time to answer a client query that missed the cache")

typedef enum cn_hist_id {
#define CN__HIST_ENUM(id, name, help) CN_HIST_##id,
	CN_HIST_MAP(CN__HIST_ENUM)
#undef CN__HIST_ENUM
	CN_HIST_MAX
} cn_hist_id_t;

/* The fixed upper bounds of the buckets, in nanoseconds (1-2.5-5 per decade, 1 us to 10 s),
 * shared by every histogram; a last bucket (+Inf) takes the rest. */
#define CN_HIST_BOUNDS_NS                                                               \
	{ 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,                \
	  1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,           \
	  250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000 }
#define CN_HIST_NBOUNDS 22

/* One histogram: counts per bucket (not cumulative; bucket[CN_HIST_NBOUNDS] is +Inf; their
 * sum is the count) and the sum of the times. One writer (the worker's thread), relaxed
 * atomic reads. */
typedef struct cn_hist {
	uint64_t bucket[CN_HIST_NBOUNDS + 1];
	uint64_t sum_ns;
} cn_hist_t;

extern const uint64_t cn_hist_bounds_ns[CN_HIST_NBOUNDS];

#define CN__STAT_FIELD(field, name) uint64_t field;
/* out += in, field by field, for a struct generated from MAP. */
#define CN__STAT_ADD(field, name) cn__sum->field += cn__in->field;
#define CN_STATS_ADD(MAP, out, in)                                                      \
	do {                                                                            \
		__typeof__(out) cn__sum = (out);                                        \
		__typeof__(in) cn__in = (in);                                           \
		MAP(CN__STAT_ADD)                                                       \
	} while (0)
