/*
 * net's counters, defined once (the engine's are in resolver/stats.h). Each row is
 * X(field, name): the field of the per-worker struct, and the name `cairnctl stats` prints,
 * or NULL for a counter only logged at exit. The structs, the sums over workers
 * (net/pool.c) and the control socket's output (net/control.c) are generated from these
 * rows; docs/cairnctl.md lists every printed name (tests/unit/net/test_stats.c checks it).
 */
#pragma once

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

/* The worker (net/worker.c). */
#define CN_WORKER_STATS_MAP(X)                                                          \
	X(queries, NULL)          /* client packets handed to the worker */              \
	X(refused, NULL)          /* by the ACL (also in answer.refused) */              \
	X(coalesced, NULL)        /* joined a resolution already in flight here */       \
	X(handoffs, NULL)         /* handed to the worker running their resolution */    \
	X(resolutions, NULL)      /* started for clients */                              \
	X(prefetches, "prefetches") /* started in the background */                     \
	X(late_answers, NULL)     /* client deadline passed first */                     \
	X(abandoned, NULL)        /* resolutions stopped at the resolve deadline */      \
	X(overload, NULL)         /* answered at once: the flight table was full */      \
	X(client_limit, NULL)     /* dropped: limits.client_waiting reached */           \
	X(send_errors, NULL)

#define CN__STAT_FIELD(field, name) uint64_t field;
/* out += in, field by field, for a struct generated from MAP. */
#define CN__STAT_ADD(field, name) cn__sum->field += cn__in->field;
#define CN_STATS_ADD(MAP, out, in)                                                      \
	do {                                                                            \
		__typeof__(out) cn__sum = (out);                                        \
		__typeof__(in) cn__in = (in);                                           \
		MAP(CN__STAT_ADD)                                                       \
	} while (0)
