/*
 * Helpers shared between the engine's files (engine.c, resolve.c, answer.c, nsel.c,
 * rrvalue.c) and their unit tests. Not part of the public API.
 */
#pragma once

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "cache/cache.h"
#include "resolver/resolver.h"
#include "resolver/wire.h"

/* ------------------------------------------------------------------ cache values ---- */
/*
 * The resolver owns the format of cache values (the cache sees opaque bytes):
 *   RRSET:    u16 count, then count x (u16 rdlen, rdata[rdlen])   (rdata uncompressed)
 *   NODATA / NXDOMAIN:  u8 soa_owner_len, soa_owner, u16 rdlen, soa_rdata   (count may be 0
 *             when the negative answer came without SOA: then owner_len is 0)
 * All integers in network byte order.
 */
#define CN_VALUE_MAX 65535

/** One decoded record of an RRset value (points into the value buffer). */
typedef struct cn_rdata_ref {
	const uint8_t *rdata;
	uint16_t rdlen;
} cn_rdata_ref_t;

/** Encode the rdata of rrs[0..n) into out; returns its length or -ENOSPC. */
int cn__value_encode_rrset(const cn_rr_t *const *rrs, size_t n, uint8_t *out, size_t cap);
/** Decode an RRSET value: fills up to max refs, *n = count. 0 or CN_EMALF. */
int cn__value_decode_rrset(const uint8_t *val, size_t len, cn_rdata_ref_t *refs, size_t max,
			   size_t *n);
/** Same, but a set larger than max is not an error: the first max records are returned
 *  (*n = min(count, max)); for zone cuts and server addresses, where some will do. */
int cn__value_decode_rrset_first(const uint8_t *val, size_t len, cn_rdata_ref_t *refs,
				 size_t max, size_t *n);
/** Encode a negative value with its SOA (soa may be NULL). */
int cn__value_encode_neg(const cn_rr_t *soa, uint8_t *out, size_t cap);
/** Decode a negative value: *owner / *rdata point into val (owner NULL when no SOA). */
int cn__value_decode_neg(const uint8_t *val, size_t len, const uint8_t **owner,
			 const uint8_t **rdata, uint16_t *rdlen);

/* ------------------------------------------------------------------ answers --------- */

#define CN_ANSWER_MAX_RRS 1024  /* records one client answer may carry (CNAME chain + set);
				   limits.rrset_records is at most CN_RRSET_RECORDS_MAX */
#define CN_RRSET_RECORDS_MAX 900
#define CN_EDE_TEXT_MAX 200

/** A finished answer, from cache or from a resolution: what the client reply carries. */
typedef struct cn_result {
	uint16_t rcode;
	cn_rr_t *an;          /* answer records, an_cap slots owned by whoever built it */
	size_t nan, an_cap;
	cn_rr_t soa;          /* AUTHORITY for negative answers */
	bool has_soa;
	bool aa;              /* hosted-zone answers only */
	bool has_ede;
	uint16_t ede_code;
	char ede_text[CN_EDE_TEXT_MAX];
} cn_result_t;

/** Write the client reply for q from res (TTLs as they are in res). Truncates to the
 *  client's limit with TC=1 (header, question and OPT kept). Returns the length. */
size_t cn__answer_write(const cn_question_t *q, const cn_result_t *res, uint16_t edns_size,
			uint8_t *out, size_t cap);
/** A reply with just an RCODE (and optional EDE), for errors. */
size_t cn__answer_error(const cn_question_t *q, uint16_t rcode, uint16_t ede_code,
			const char *ede_text, uint16_t edns_size, uint8_t *out, size_t cap);

/**
 * Try to build the whole answer for (qname, qtype) from the cache (res->an and res->an_cap
 * must be set by the caller; at most an_cap records are returned), following CNAMEs
 * through it and applying RFC 8020 (a cached NXDOMAIN above qname answers for it).
 * scratch: at least CN_VALUE_MAX * 2 bytes; the result's records point into it.
 * flags: CN_LOOKUP_STALE to accept stale entries. Returns 0 on a full answer (*stale set
 * when any part was stale, *min_ttl_left / *min_ttl_orig for prefetch), -ENOENT on a miss
 * with *miss set to the reason of the first missing piece.
 */
int cn__answer_from_cache(cn_cache_t *cache, const uint8_t *qname, uint16_t qtype,
			  uint64_t now_s, unsigned flags, unsigned cname_limit, uint8_t *scratch,
			  size_t scratch_len, cn_result_t *res, bool *stale, uint32_t *min_ttl_left,
			  uint32_t *min_ttl_orig, cn_cache_miss_t *miss);

/** A stale (or fresh) answer from cache for q, if serve-stale is on: returns 1 when the
 *  answer is stale (TTL stale_answer_ttl_s, EDE 3), 0 when fresh, -ENOENT when none. */
int cn__answer_stale(cn_engine_t *e, const cn_question_t *q, cn_time_t now, uint8_t *out,
		     size_t cap, size_t *len);

/** Count why the cache missed for a client answered after resolution (see stats). */
void cn__count_miss(cn_engine_t *e, const cn_question_t *q, bool uncacheable);

/* ------------------------------------------------------------------ hosted zones ---- */
/* hosted.c: the engine's side of resolver/zone.c (conf.zones set). */

/** The client's name lies in a hosted zone it sees: true, with *state CN_DONE (reply in
 *  out) or CN_MISS (q rewritten: qname is what to resolve, hosted_qname the client's). */
bool cn__hosted_query(cn_engine_t *e, const cn_client_t *client, cn_question_t *q,
		      cn_time_t now, uint8_t *out, size_t cap, size_t *out_len,
		      cn_outcome_t *outcome, cn_state_t *state);
/** A cache hit whose CNAME chain leads into a hosted zone the client sees: true, with the
 *  answer finished from that zone (*state as above). False for every other hit. */
bool cn__hosted_cached_chain(cn_engine_t *e, const cn_client_t *client, cn_question_t *q,
			     const cn_result_t *hit, cn_time_t now, uint8_t *out, size_t cap,
			     size_t *out_len, cn_outcome_t *outcome, cn_state_t *state);

/* ------------------------------------------------------------------ failure cache ---- */
/* RFC 9520 failure cache (failcache.c). Entries live in the cache under private-use classes
 * (RFC 6895 3.2) that no client query reaches (cairn REFUSEs classes other than IN). */
#define CN_CLASS_FAIL_QUERY 0xFF53 /* (qname, qtype): the resolution failed */
#define CN_CLASS_FAIL_ZONE 0xFF54  /* (zone, NS): no server of the zone answered */
#define CN_EDE_CACHED_ERROR 13     /* RFC 8914 4.14 */

typedef struct cn_failure {
	unsigned fails;            /* consecutive failures of this question */
	uint16_t ede_code;         /* EDE of the failure */
	uint32_t ttl_left_s;       /* until it expires */
	uint64_t expire_s;         /* wall clock */
	char text[CN_EDE_TEXT_MAX];
} cn_failure_t;

/** A live failure of (name, type) (name in any case). 0 or -ENOENT. */
int cn__failcache_lookup(cn_engine_t *e, const uint8_t *name, uint16_t type, uint64_t now_s,
			 cn_failure_t *out);
/** Remember that resolving (name, type) failed; backoff: double the previous time (lame
 *  servers, loops, limits) rather than start over (silence). Returns the time chosen. */
uint32_t cn__failcache_record(cn_engine_t *e, const uint8_t *name, uint16_t type, bool backoff,
			      uint16_t ede, const char *text, uint64_t now_s);
/** Forget the failure history of (name, type) (it resolved). */
void cn__failcache_clear(cn_engine_t *e, const uint8_t *name, uint16_t type);
/** Is the zone cut marked as having no answering server? */
bool cn__failcache_zone_failing(cn_engine_t *e, const uint8_t *zone, uint64_t now_s,
				cn_failure_t *out);
/** A server of the zone answered again: forget that the zone was failing. */
void cn__failcache_clear_zone(cn_engine_t *e, const uint8_t *zone);
/** Mark a zone cut whose servers were all asked and none answered, for servfail_ttl_s. */
void cn__failcache_record_zone(cn_engine_t *e, const uint8_t *zone, const char *text,
			       uint64_t now_s);

/* ------------------------------------------------------------------ server selection */

typedef struct cn_nsel cn_nsel_t;

typedef enum cn_nsel_error {
	CN_NSEL_TIMEOUT = 0,
	CN_NSEL_NETERR,
	CN_NSEL_LAME,       /* REFUSED / SERVFAIL / NOTIMP / bogus referral */
	CN_NSEL_MALFORMED,
} cn_nsel_error_t;

typedef struct cn_nsel_info {
	unsigned srtt_ms;      /* smoothed RTT (initial_rtt_ms when unknown) */
	unsigned timeout_ms;   /* what to wait for the next query */
	bool known;
	bool failing;          /* inside its failure-cache window (RFC 9520) */
	bool no_edns;
	bool no_0x20;
	bool dead;             /* failing after >= CN_NSEL_DEAD_FAILS timeouts in a row and
				  quiet for CN_NSEL_DEAD_QUIET_MS: not asked again until its
				  probe slot is free */
	bool probe_ok;         /* dead, and a probe may be sent now (cn__nsel_claim_probe) */
} cn_nsel_info_t;

#define CN_NSEL_DEAD_FAILS 2       /* timeouts in a row that make a failing server dead */
#define CN_NSEL_PROBE_MS 1000      /* one probe of a dead server per this long, in all */
#define CN_NSEL_DEAD_QUIET_MS 1000 /* ... and no answer from it for at least this long */
#define CN_NSEL_CASE_FAILS 3       /* case-only failures before no 0x20 to a server */

int cn__nsel_new(const cn_engine_conf_t *conf, cn_nsel_t **out);
void cn__nsel_free(cn_nsel_t *ns);
void cn__nsel_info(cn_nsel_t *ns, const struct sockaddr_storage *addr, uint64_t now_ms,
		   cn_nsel_info_t *out);
void cn__nsel_report_rtt(cn_nsel_t *ns, const struct sockaddr_storage *addr, unsigned rtt_ms,
			 uint64_t now_ms);
void cn__nsel_report_error(cn_nsel_t *ns, const struct sockaddr_storage *addr,
			   cn_nsel_error_t err, uint64_t now_ms);
void cn__nsel_set_no_edns(cn_nsel_t *ns, const struct sockaddr_storage *addr, uint64_t now_ms);
/** A query to addr saw only case-mismatched replies (0x20). Returns true when that makes
 *  CN_NSEL_CASE_FAILS (each within 10 minutes of the last): the server is marked as not
 *  echoing case. */
bool cn__nsel_case_failure(cn_nsel_t *ns, const struct sockaddr_storage *addr, uint64_t now_ms);
/** Take the probe slot of a dead server (true), or learn that another request took it. */
bool cn__nsel_claim_probe(cn_nsel_t *ns, const struct sockaddr_storage *addr, uint64_t now_ms);

/* ------------------------------------------------------------------ the engine ------ */

struct cn_engine {
	cn_engine_conf_t conf;
	cn_hint_t *hints;
	size_t nhints;
	cn_cache_t *cache;
	cn_nsel_t *nsel;
	_Atomic uint64_t outcome[CN_OUT_MAX];
	_Atomic uint64_t upstream_queries, upstream_timeouts, limit_hits, limit_cname,
		limit_upstream, limit_glueless, limit_referral, limit_deadline, prefetches,
		miss_uncacheable, miss_first, miss_expired, miss_evicted, failures_cached,
		zone_failures_cached, failure_answers, dead_server_skips;
};

/** Log through the engine's sink when level <= conf.log_level. */
void cn__log(const cn_engine_t *e, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** True for addresses cairn never queries unless allow_loopback_upstream (127/8, ::1,
 *  0.0.0.0/8, ::, v4-mapped loopback). */
bool cn__addr_is_local(const struct sockaddr_storage *ss);

/** Effective reply size limit for a client question. */
uint16_t cn__client_limit(const cn_question_t *q, uint16_t edns_size);

#define CN_STAT_INC(e, field) atomic_fetch_add_explicit(&(e)->field, 1, memory_order_relaxed)
