/*
 * The resolution engine: pure DNS logic driven by net/ (Knot Resolver's begin/consume/produce
 * pattern). No sockets, no clock reads, no libuv: net passes bytes, the time and a random
 * source in, and carries out what the engine asks for.
 *
 * A client query's path through the engine:
 *
 *   net                                   engine
 *   ---                                   ------
 *   datagram / TCP frame --------------->  cn_engine_query()
 *                                            parse (FORMERR/NOTIMP/BADVERS/REFUSED: CN_DONE),
 *                                            hosted zones, whole answer from cache: CN_DONE
 *                                            else CN_MISS + the question (cn_question_t)
 *   coalesce on the question key; if no
 *   resolution is in flight for it:
 *   req = cn_request_new(); ------------->  cn_resolve_begin(req, question)
 *   while state == CN_PRODUCE:
 *     cn_resolve_produce(req, &up) <------  which server, which query bytes, UDP or TCP,
 *                                            timeout from that server's SRTT
 *     send with a random ID and source port, match the reply (address, port, ID, question
 *     with exact 0x20 case), retry over TCP on TC=1 itself; then
 *     cn_resolve_consume(req, reply|NULL) >  scrub, cache, follow referral/CNAME, next server
 *   state == CN_DONE:
 *     for each waiting client:
 *       cn_resolve_answer(req, client) -->  the reply from the result (same assembly code as
 *                                            cache hits), TTLs decremented, TC if too big
 *   cn_request_free(req)
 *
 *   client deadline passes first ------->  cn_engine_late_answer(): stale answer with EDE 3,
 *                                            or SERVFAIL with an EDE saying what is pending
 *
 * Threads: one engine is shared by all workers; requests belong to one worker. The engine's
 * server-selection table and stats are internally synchronised.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "resolver/dname.h"
#include "resolver/stats.h"
#include "resolver/wire.h"

typedef struct cn_cache cn_cache_t;
typedef struct cn_zoneset cn_zoneset_t;
typedef struct cn_engine cn_engine_t;
typedef struct cn_hot cn_hot_t;
typedef struct cn_request cn_request_t;

/** The two clocks (DESIGN.md "Time"), read by net and passed down. */
typedef struct cn_time {
	uint64_t wall_s;   /* CLOCK_REALTIME seconds: TTLs, expiry, failure caching */
	uint64_t mono_ms;  /* monotonic milliseconds: timeouts, RTT */
} cn_time_t;

/** Fill buf with len random bytes from a CSPRNG (net passes arc4random_buf). */
typedef void (*cn_random_fn)(void *buf, size_t len);

/** Log sink installed by net. level: 0 error, 1 warning, 2 info, 3 debug. */
typedef void (*cn_log_fn)(int level, const char *msg);

/**
 * A forward or stub zone (docs/config.md "Forward and stub zones"): names at or below name
 * are asked of these servers only. Forward: recursive resolvers, asked the full question
 * with RD=1 (net sends those through c-ares: cn_upstream_query_t.forward), their answers
 * taken as final. Stub: authoritative servers, the zone cut to iterate from (RD=0), like
 * root hints for that zone. Configured servers may be loopback addresses.
 */
#define CN_FWD_SERVERS 8
typedef struct cn_fwdzone {
	uint8_t name[255];            /* wire form, lower case */
	bool stub;
	struct sockaddr_storage addr[CN_FWD_SERVERS];
	unsigned naddr;
} cn_fwdzone_t;

/** Same family, address and port (IPv4 or IPv6)? */
bool cn_sockaddr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/** One root server from the hints. */
typedef struct cn_hint {
	uint8_t name[CN_DNAME_MAX];
	struct sockaddr_storage addr[4]; /* port 53 unless the file says otherwise */
	int naddr;
} cn_hint_t;

/** Every limit (DESIGN.md "Limits"), each a config key; defaults in cn_engine_conf_default. */
typedef struct cn_limits {
	unsigned cname_chain;        /* CNAME/DNAME restarts per client query, 11 */
	unsigned upstream_queries;   /* upstream queries per client request, 32 */
	unsigned glueless_ns;        /* glueless NS names resolved per delegation, 5 */
	unsigned referral_depth;     /* referrals followed per resolution, 30 */
	unsigned subrequest_depth;   /* nesting of NS-address sub-requests, 4 */
	unsigned client_deadline_ms; /* the client gets an answer by then, 3000 */
	unsigned resolve_deadline_ms;/* a resolution may go on this long to fill the cache, 10000 */
	unsigned rrset_records;      /* records per RRset accepted from upstream, 512 */
} cn_limits_t;

/**
 * DNSSEC validation (docs/dnssec.md): the chain of trust from the trust anchors, budgets
 * against CPU exhaustion (KeyTrap CVE-2023-50387, NSEC3 CVE-2023-50868). Each a config key.
 */
struct cn_anchor_set;
typedef struct cn_dnssec_conf {
	bool enabled;                 /* dnssec:, default true */
	const struct cn_anchor_set *anchors; /* trust_anchors: / trust_anchor_file:; NULL: the
					 built-in root anchors. Borrowed: must outlive the
					 engine (read at start only) */
	const uint8_t (*nta)[CN_DNAME_MAX]; /* negative_trust_anchors: (RFC 7646), wire form,
					 lower case; copied by cn_engine_new */
	size_t nnta;
	unsigned sigs_per_rrset;      /* verifications per RRset, 8 */
	unsigned sigs_per_request;    /* verifications per client request, 64 */
	unsigned nsec3_hashes;        /* NSEC3 hashes per request, 64 */
	unsigned nsec3_iter_insecure; /* above: insecure + EDE 27 (RFC 9276), 100 */
	unsigned nsec3_iter_bogus;    /* above: bogus, 500 */
	unsigned bogus_ttl_s;         /* how long a bogus result is remembered (RFC 9520), 60 */
	bool aggressive_nsec;         /* RFC 8198: answer from cached validated NSEC, true */
} cn_dnssec_conf_t;

#define CN_NTA_MAX 64

typedef struct cn_engine_conf {
	cn_limits_t limits;
	cn_dnssec_conf_t dnssec;
	bool qname_minimisation;      /* RFC 9156 relaxed, default true */
	bool use_0x20;                /* randomise qname case upstream, default true */
	bool do_ip4, do_ip6;          /* upstream families, default both */
	bool allow_loopback_upstream; /* default false (Unbound's do-not-query-localhost) */
	bool serve_stale;             /* RFC 8767, default true */
	uint32_t stale_answer_ttl_s;  /* TTL of a stale answer, 30 */
	bool prefetch;                /* refresh entries asked for in the last 10% of TTL */
	uint16_t edns_udp_size;       /* advertised upstream and max to clients, 1232 */
	unsigned timeout_min_ms;      /* upstream timeout floor, 200 */
	unsigned timeout_max_ms;      /* upstream timeout ceiling, 3000 */
	unsigned initial_rtt_ms;      /* SRTT assumed for an unknown server, 400 */
	unsigned failure_cache_s;     /* RFC 9520: remember a failed server this long, 5 */
	unsigned servfail_ttl_s;      /* RFC 9520: remember a failed resolution this long, 2
					 (0: off); also a zone whose servers all failed */
	unsigned servfail_ttl_max_s;  /* ceiling of its exponential backoff, 300 */
	const cn_hint_t *hints;       /* root hints; NULL = compiled-in IANA list */
	size_t nhints;
	const cn_zoneset_t *zones;    /* hosted zones (resolver/zone.h), answered before the
					 cache; NULL: none. Borrowed: must outlive the engine */
	const cn_fwdzone_t *fwd;      /* forward and stub zones at start (copied; a reload
					 replaces them: cn_engine_set_forwards), longest name
					 wins */
	size_t nfwd;
	cn_random_fn random;          /* required */
	cn_log_fn log;                /* may be NULL */
	int log_level;
} cn_engine_conf_t;

/** Defaults as documented. */
void cn_engine_conf_default(cn_engine_conf_t *conf);

/**
 * Apply conf's settings (every row of resolver/defaults.h: limits, timeouts, the failure
 * cache's times, upstream flags, serve-stale, prefetch, EDNS size, log level) to a running
 * engine, as a reload does; hints, zones, forward zones and the callbacks are not touched.
 * Each field is stored whole (atomically): a request running meanwhile sees each setting
 * old or new.
 */
void cn_engine_reconfigure(cn_engine_t *engine, const cn_engine_conf_t *conf);

/** The forward and stub zones, for the control tool: the i-th, or NULL past the end. */
const cn_fwdzone_t *cn_engine_fwdzone(const cn_engine_t *engine, size_t i);
/**
 * Use these n forward and stub zones (copied) from now on, as a reload does. *old: the set
 * replaced, which workers may still be reading: free it with cn_engine_forwards_free()
 * once every worker has gone back to its loop (cn_pool_quiesce). 0, -EINVAL or -ENOMEM.
 */
int cn_engine_set_forwards(cn_engine_t *engine, const cn_fwdzone_t *z, size_t n, void **old);
void cn_engine_forwards_free(void *old);

/** What the engine knows of one upstream server (server selection, RFC 9520), for the
 *  control tool. now_ms: the monotonic clock the workers use (uv_hrtime() / 1e6). */
typedef struct cn_server_health {
	bool known;        /* answered or failed at least once */
	unsigned srtt_ms;  /* smoothed RTT (the initial guess when unknown) */
	bool failing;      /* inside its failure window */
	bool dead;         /* silent again and again: asked only by a probe now and then */
	bool no_edns;
	uint32_t replies;  /* good replies since the server was first seen */
	uint32_t failures; /* timeouts, network errors and bad replies since then */
	bool no_0x20;      /* not echoing the qname's case: asked without case mixing */
	unsigned rttvar_ms;   /* RTT variation (RFC 6298) */
	unsigned timeout_ms;  /* what the next query to it waits */
	unsigned fails_row;   /* failures in a row */
	unsigned silent_row;  /* of those, timeouts / network errors in a row */
	uint64_t fail_left_ms; /* failing: what is left of its failure window */
} cn_server_health_t;
void cn_engine_server_health(const cn_engine_t *engine, const struct sockaddr_storage *addr,
			     uint64_t now_ms, cn_server_health_t *out);

/** One row of cn_engine_servers. */
typedef struct cn_server_row {
	struct sockaddr_storage addr;
	cn_server_health_t h;
} cn_server_row_t;
/** Every upstream server the selection table holds (authoritative and forwarders, up to
 *  4096, least recently used ones replaced), for `cairnctl infra`: at most max rows into
 *  out, in table order. Returns how many the table holds (more than max: rows left out).
 *  Read-only: creates and refreshes no entry. */
size_t cn_engine_servers(const cn_engine_t *engine, uint64_t now_ms, cn_server_row_t *out,
			 size_t max);

/** Create an engine. conf and the hints are copied; cache is borrowed (not owned).
 *  Returns 0, -EINVAL or -ENOMEM. */
int cn_engine_new(const cn_engine_conf_t *conf, cn_cache_t *cache, cn_engine_t **out);
void cn_engine_free(cn_engine_t *engine);

/**
 * Parse a root hints file in named.root (zone file) format: NS records at "." and A/AAAA
 * records for their names. *out is malloc'ed (free() it). Returns 0 or a cn error; on error
 * errbuf gets "line N: reason".
 */
int cn_hints_load(const char *path, cn_hint_t **out, size_t *n, char *errbuf, size_t errlen);

/**
 * The compiled-in root hints: IANA's 13 root servers, each with its IPv4 and IPv6 address
 * (port 53). Static data, built once on first call (thread-safe); never free it. *n gets
 * the number of entries.
 */
const cn_hint_t *cn_hints_builtin(size_t *n);

/* ---------------------------------------------------------------- client queries ---- */

/** What a client asked, as needed to answer it later (copied by net per waiting client). */
typedef struct cn_question {
	uint16_t id;
	uint16_t flags;                 /* the query's flags (RD, CD echoed) */
	uint8_t qname[CN_DNAME_MAX];   /* as sent by the client (case kept for the echo) */
	size_t qname_len;
	uint16_t qtype, qclass;
	bool edns;                      /* the client sent OPT */
	bool do_bit;
	uint16_t udp_size;              /* the reply size limit: 512, or EDNS size in [512, max] */
	bool tcp;                       /* arrived over TCP: limit 65535 */
	uint8_t miss;                   /* set by cn_engine_query on CN_MISS: why the cache
					   missed (cn_cache_miss_t); counted when answered */
	bool prefetch;                  /* set by cn_engine_query on a hit in the last 10% of
					   the TTL: net should refresh q in the background if no
					   resolution for it is in flight */
	uint16_t hosted_qname_len;      /* != 0: the client asked hosted_qname, a hosted
					   zone's CNAME chain led to qname, which is what gets
					   resolved; the reply for qname must go through
					   cn_engine_hosted_finish() */
	uint8_t hosted_qname[CN_DNAME_MAX];
	bool ready;                     /* set by cn_engine_query: the reply came from the
					   ready-to-send table (the rest of q is untouched) */
	uint8_t view;                   /* != 0: the name lies below a delegation inside a
					   private zone; it is resolved with that zone's own
					   cache (resolver/hosted.c, "views"), never the shared
					   one, and never coalesced with other questions */
} cn_question_t;

/** Outcome of one client query, for the stats (each query counts in exactly one). */
typedef enum cn_outcome {
#define CN_X(suffix, name) CN_OUT_##suffix,
	CN_OUTCOME_MAP(CN_X)
#undef CN_X
	CN_OUT_MAX
} cn_outcome_t;

typedef enum cn_state {
	CN_DONE = 0,  /* a reply is ready (cn_engine_query: in out) */
	CN_DROP,      /* send nothing */
	CN_MISS,      /* cn_engine_query: the question needs resolving */
	CN_PRODUCE,   /* cn_resolve_*: send the query from cn_resolve_produce() */
} cn_state_t;

/** The client's identity, for hosted private zones and logs. */
typedef struct cn_client {
	const struct sockaddr *addr;
	bool tcp;
	cn_hot_t *hot;  /* the worker's ready-to-send answers (UDP only), or NULL */
} cn_client_t;

/**
 * Ready-to-send answers (resolver/hot.c): a table of about `entries` (two-way sets, a power
 * of two of them; 0: *out NULL, none) replies made from the cache, for one thread (a
 * worker's UDP queries: cn_client_t.hot). A query whose bytes after the ID match one
 * made in the last second is answered by a copy with its ID and the TTLs counted down.
 * cn_engine_hot_credit hands what the table served to the cache's counters (call it
 * before the replies leave, e.g. once per receive batch). 0 or -ENOMEM.
 */
int cn_engine_hot_new(const cn_engine_t *engine, size_t entries, cn_hot_t **out);
void cn_hot_free(cn_hot_t *hot);
void cn_engine_hot_credit(cn_engine_t *engine, cn_hot_t *hot);
/** Replies served from the table and stored in it since it was made. */
void cn_hot_counts(const cn_hot_t *hot, uint64_t *served, uint64_t *stored);
/** The memory a table of this many entries takes. */
size_t cn_hot_bytes(size_t entries);

/**
 * First step for every client packet. On CN_DONE *out_len bytes of reply are in out (cap
 * >= 512; the reply respects the client's size limit, TC=1 when cut). On CN_MISS, q holds
 * the question to resolve (its key: lowercased qname, qtype, qclass). *outcome is set for
 * CN_DONE and CN_DROP. Never allocates on the cache-hit path.
 */
cn_state_t cn_engine_query(cn_engine_t *engine, const uint8_t *pkt, size_t len,
			   const cn_client_t *client, cn_time_t now, uint8_t *out, size_t cap,
			   size_t *out_len, cn_question_t *q, cn_outcome_t *outcome);

/**
 * Answer a client whose deadline passed while its resolution goes on: a stale answer
 * (TTL stale_answer_ttl_s, EDE 3) when the cache has one in the stale window, else
 * SERVFAIL with EDE 22 "resolution still in progress". Returns the reply length.
 */
size_t cn_engine_late_answer(cn_engine_t *engine, const cn_question_t *q, cn_time_t now,
			     uint8_t *out, size_t cap, cn_outcome_t *outcome);

/**
 * Hosted zones' last word on a reply to a resolved question (net calls it for every
 * reply from cn_resolve_answer or cn_engine_late_answer; buf holds its len bytes):
 * - a question that went through a hosted zone's CNAME chain (q->hosted_qname_len != 0,
 *   q->qname the chain's target): the reply becomes the client's answer (its own qname,
 *   the hosted chain, then the resolved records);
 * - a resolved CNAME chain that enters a hosted zone this client sees (a private zone's
 *   public twin): the chain is cut there and finished from the zone.
 * client: the client's address. Returns the new length (<= cap), or len unchanged (no
 * zones, nothing to do). *outcome becomes SERVFAIL when the answer is.
 */
size_t cn_engine_hosted_finish(cn_engine_t *engine, const cn_question_t *q,
			       const struct sockaddr *client, uint8_t *buf, size_t len,
			       size_t cap, cn_time_t now, cn_outcome_t *outcome);

/** The hosted zones the engine answers from (conf.zones), or NULL. */
const cn_zoneset_t *cn_engine_zones(const cn_engine_t *engine);
/**
 * Answer from zs from now on (NULL: no hosted zones), as a reload does. Workers may still
 * be reading the old set: the caller frees it only after every worker has gone back to its
 * loop since the call (cn_pool_quiesce in net/).
 */
void cn_engine_set_zones(cn_engine_t *engine, const cn_zoneset_t *zs);
/** Empty the caches of private zones' views (what was resolved below their delegations),
 *  as a reload of the hosted zones does. */
void cn_engine_flush_views(cn_engine_t *engine);

/**
 * The REFUSED reply to a query from a client the ACL does not allow (net calls it before
 * cn_engine_query; no engine needed, nothing allocated, no cache looked at, so a refused
 * client costs as little as possible): the header with QR=1, RA=1, opcode, RD and CD
 * echoed, RCODE 5, the question echoed when it parses (cn_msg_parse_question; else QDCOUNT
 * 0), nothing else. Returns the reply length, or 0 when nothing must be sent: shorter than
 * a header, QR already set (never answer a response: reflection loops), or cap < 12.
 */
size_t cn_engine_refuse(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);

/** An empty answer to q with TC=1 (the client may ask again over TCP): what a rate-limited
 *  UDP client gets now and then ("slip"). Returns the length written to out. */
size_t cn_engine_truncated(const cn_engine_t *engine, const cn_question_t *q, uint8_t *out,
			   size_t cap);

/* ---------------------------------------------------------------- resolutions ------- */

/** Transport the engine asks for. */
typedef struct cn_upstream_query {
	struct sockaddr_storage addr; /* server address and port */
	socklen_t addr_len;
	bool tcp;                     /* start over TCP (net also switches on TC=1 by itself) */
	bool forward;                 /* to a forward zone's recursive server (RD=1): net
					 sends it through c-ares */
	const uint8_t *wire;          /* the query; ID field is 0: net sets a random one */
	size_t len;
	unsigned timeout_ms;          /* from the server's SRTT, clamped */
} cn_upstream_query_t;

/** What happened to the last produced query. */
typedef enum cn_upstream_event {
	CN_UP_REPLY = 0,        /* reply holds a matched reply (address, port, ID, question) */
	CN_UP_TIMEOUT,          /* nothing valid came back in time */
	CN_UP_CASE_MISMATCH,    /* only replies whose qname case differed came back (0x20) */
	CN_UP_NETWORK_ERROR,    /* send failed, ICMP unreachable, TCP reset */
} cn_upstream_event_t;

cn_request_t *cn_request_new(cn_engine_t *engine);
void cn_request_free(cn_request_t *req);

/** Start resolving q (RD must have been set, class IN). Returns CN_PRODUCE or CN_DONE. */
cn_state_t cn_resolve_begin(cn_request_t *req, const cn_question_t *q, cn_time_t now);
/** The next upstream query; valid until the next consume. Returns 0, or -EINVAL if the
 *  state is not CN_PRODUCE. */
int cn_resolve_produce(cn_request_t *req, cn_upstream_query_t *up);
/** Feed the outcome of the produced query. rtt_ms is measured by net. */
cn_state_t cn_resolve_consume(cn_request_t *req, cn_upstream_event_t ev, const uint8_t *reply,
			      size_t len, unsigned rtt_ms, cn_time_t now);
/**
 * The reply for one client waiting on this finished resolution (q: that client's question,
 * which has this resolution's key). Returns the length written to out (cap >= 512).
 */
size_t cn_resolve_answer(cn_request_t *req, const cn_question_t *q, cn_time_t now,
			 uint8_t *out, size_t cap, cn_outcome_t *outcome);

/** Upstream queries this request has produced so far. */
unsigned cn_request_upstream_count(const cn_request_t *req);

/**
 * Presentation form of a cache value (whose format the resolver owns) for the control tool:
 * one line per record, "owner ttl IN TYPE rdata\n" (for NODATA / NXDOMAIN entries the SOA
 * kept for the answer). kind: cn_cache_kind_t. Returns the length written, or -ENOSPC
 * (buf too small) / CN_EMALF (not a value cairn wrote).
 */
int cn_engine_format_value(const uint8_t *owner, uint16_t type, unsigned kind, uint32_t ttl,
			   const uint8_t *val, size_t len, char *buf, size_t cap);

/* ---------------------------------------------------------------- stats ------------- */

/** A snapshot of the engine's counters (rows in resolver/stats.h). */
typedef struct cn_engine_stats {
	uint64_t outcome[CN_OUT_MAX];
	uint64_t queries; /* client queries seen (sum of outcome[]) */
#define CN_X(field, name) uint64_t field;
	CN_ENGINE_STATS_MAP(CN_X)
#undef CN_X
#define CN_X(field, name) uint64_t nsel_##field;
	CN_NSEL_STATS_MAP(CN_X)
#undef CN_X
} cn_engine_stats_t;

/** Count one client outcome (net calls this for every reply it sends or drops). */
void cn_engine_count(cn_engine_t *engine, cn_outcome_t outcome);
void cn_engine_stats(cn_engine_t *engine, cn_engine_stats_t *out);
/** The printed name of outcome o ("answer.cache.positive"), or NULL. */
const char *cn_outcome_name(cn_outcome_t o);
