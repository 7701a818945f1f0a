/*
 * Helpers shared between the files of resolver/ (the engine: engine.c, answer.c, nsel.c,
 * failcache.c; a resolution: resolve.c, zonecut.c, classify.c, iterate.c, scrub.c) and
 * their unit tests, named cn__<file>_<what>. Not part of the public API.
 */
#pragma once

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "cache/cache.h"
#include "resolver/dnssec.h"
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

/*
 * DNSSEC trailer (optional, after either value; a value without one is INDETERMINATE with
 * no records): u8 state (cn_dnssec_state_t), u16 n, then n x (u8 owner_len, owner, u16 type,
 * u8 section, u16 rdlen, rdata): the RRSIGs over the RRset (section ANSWER) and the records
 * proving a negative answer or a wildcard expansion (NSEC, NSEC3, their RRSIGs, the SOA's
 * RRSIG: section AUTHORITY), what a DO client gets beside the data and what validation
 * reads.
 */
#define CN_VALUE_EXTRAS_MAX 48 /* DNSSEC records kept with one value */

/** Append a DNSSEC trailer to a value of len bytes in out (cap): 0 or -ENOSPC (then the
 *  value is left without one). Nothing is appended for state 0 with no records. */
int cn__value_add_trailer(uint8_t *out, size_t len, size_t cap, uint8_t state,
			  const cn_rr_t *const *x, size_t nx, size_t *new_len);
/** The trailer of a value whose own part is body_len bytes: *state, and up to max records
 *  into x (owner and RDATA point into val; TTL 0). 0 or CN_EMALF. */
int cn__value_trailer(const uint8_t *val, size_t len, size_t body_len, uint8_t *state,
		      cn_rr_t *x, size_t max, size_t *nx);
/** Length of the own part of a value (RRSET or negative, by kind). CN_EMALF if broken. */
int cn__value_body_len(const uint8_t *val, size_t len, bool rrset, size_t *body_len);

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

#define CN_RESULT_SAMPLES 3 /* sampled lookups a result keeps (cn_result_t.sample) */
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
	/* DNSSEC: RRSIGs over the answer's RRsets (section ANSWER) and the NSEC/NSEC3 records
	 * and RRSIGs of a denial or wildcard proof (section AUTHORITY), for DO clients */
	cn_rr_t *sec;
	size_t nsec, sec_cap;
	uint8_t dnssec;       /* cn_dnssec_state_t of the whole answer: AD when SECURE */
	bool bogus;           /* validation failed: SERVFAIL + EDE unless the client set CD */
	uint16_t bogus_ede;
	char bogus_text[CN_EDE_TEXT_MAX];
	/* set by a hit of cn__answer_from_cache, for a ready-to-send answer (hot.c): the
	 * lookups it made as the cache counted them, and those of sampled keys as the
	 * predictor saw them (nsample > CN_RESULT_SAMPLES: more than kept) */
	cn_cache_credit_t looked;
	cn_cache_sample_t sample[CN_RESULT_SAMPLES];
	unsigned nsample;
} cn_result_t;

#define CN_RESULT_SEC_MAX 128 /* DNSSEC records one answer carries */

/** An empty result with these record slots (sec may be NULL: no DNSSEC records kept);
 *  the EDE texts are emptied, not cleared whole. */
void cn__result_init(cn_result_t *res, cn_rr_t *an, size_t an_cap, cn_rr_t *sec,
		     size_t sec_cap);

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
 * flags: CN_LOOKUP_STALE to accept stale entries; CN_ANSWER_VALIDATED (the engine validates)
 * to take only data validation has judged (secure or insecure: unvalidated data is a
 * miss), res->dnssec then the state of the whole answer (else INDETERMINATE); the DNSSEC
 * records go into res->sec when res->sec_cap allows. Returns 0 on a full answer (*stale set
 * when any part was stale, *min_ttl_left / *min_ttl_orig for prefetch), -ENOENT on a miss
 * with *miss set to the reason of the first missing piece.
 */
#define CN_ANSWER_VALIDATED 0x100
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
bool cn__hosted_query(cn_engine_t *e, const cn_zoneset_t *zs, const cn_client_t *client,
		      cn_question_t *q,
		      cn_time_t now, uint8_t *out, size_t cap, size_t *out_len,
		      cn_outcome_t *outcome, cn_state_t *state);
/** A cache hit whose CNAME chain leads into a hosted zone the client sees: true, with the
 *  answer finished from that zone (*state as above). False for every other hit. */
bool cn__hosted_cached_chain(cn_engine_t *e, const cn_zoneset_t *zs,
			     const cn_client_t *client, cn_question_t *q,
			     const cn_result_t *hit, cn_time_t now, uint8_t *out, size_t cap,
			     size_t *out_len, cn_outcome_t *outcome, cn_state_t *state);

/* ------------------------------------------------------------------ failure cache ---- */
/* RFC 9520 failure cache (failcache.c). Entries live in the cache under private-use classes
 * (RFC 6895 3.2) that no client query reaches (cairn REFUSEs classes other than IN). */
#define CN_CLASS_FAIL_QUERY 0xFF53 /* (qname, qtype): the resolution failed */
#define CN_CLASS_FAIL_ZONE 0xFF54  /* (zone, NS): no server of the zone answered */
#define CN_CLASS_PARENT_GLUE 0xFF55 /* (NS name, A/AAAA): the addresses a parent's referral
				      gave, kept beside the child's own data (zonecut.c) */
#define CN_CLASS_NSEC_RANGES 0xFF56 /* (zone, NSEC): validated NSEC ranges (aggressive.c) */
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
/** Remember that (name, type) validated as bogus, for dnssec.bogus_ttl_s (RFC 9520 /
 *  RFC 4035 4.7), with the DNSSEC EDE the clients get meanwhile. */
void cn__failcache_record_bogus(cn_engine_t *e, const uint8_t *name, uint16_t type,
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
/* A reload's timeouts and failure window for the server table. */
void cn__nsel_reconfigure(cn_nsel_t *ns, const cn_engine_conf_t *conf);

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
	uint32_t replies, failures; /* counted since the server was first seen */
	bool retry_due;        /* it failed, its failure window is over, and it has not been
				  asked since: one request (cn__nsel_claim_probe) tries it */
	unsigned rttvar_ms;    /* RFC 6298 RTT variation */
	unsigned fails;        /* failures in a row (any kind) */
	unsigned silent;       /* timeouts / network errors in a row */
	uint64_t fail_left_ms; /* failing: how long its failure window still lasts */
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
/** Read-only walk of the table for the control tool: fn(arg, address, info) for every
 *  entry held, in table order, under the table's lock (fn only copies: it must not call
 *  into nsel). Returns the number of entries. Creates and touches no entry. */
typedef void (*cn_nsel_walk_fn)(void *arg, const struct sockaddr_storage *addr,
				const cn_nsel_info_t *info);
size_t cn__nsel_walk(cn_nsel_t *ns, uint64_t now_ms, cn_nsel_walk_fn fn, void *arg);
/* The lock's counters (resolver/stats.h CN_NSEL_STATS_MAP) into s->nsel_*. */
void cn__nsel_stats(const cn_nsel_t *ns, cn_engine_stats_t *s);

/* ------------------------------------------------------------------ the engine ------ */

/* The forward and stub zones in force: swapped whole by a reload (cn_engine_set_forwards),
 * read only inside one call (find_cut). */
typedef struct cn__fwdset {
	size_t n;
	cn_fwdzone_t z[];
} cn__fwdset_t;

/* A private zone's view (hosted.c): the cache that what lies below its delegations is
 * resolved into, so none of it reaches the shared cache or clients outside the zone. */
#define CN_VIEWS 64
#define CN_VIEW_CACHE_BYTES (1u << 20)
typedef struct cn__view {
	uint8_t apex[CN_DNAME_MAX];
	cn_cache_t *cache;
} cn__view_t;

struct cn_engine {
	cn_engine_conf_t conf;
	cn__fwdset_t *fwdset;  /* NULL: none (atomic: reloads swap it) */
	cn__view_t views[CN_VIEWS];
	unsigned nviews;       /* published with release after the view is complete */
	pthread_mutex_t views_lock;
	cn_hint_t *hints;
	size_t nhints;
	struct cn_anchor_set *anchors;      /* conf.dnssec.anchors, or builtin_anchors */
	struct cn_anchor_set *builtin_anchors; /* owned: the built-in root anchors */
	uint8_t (*nta)[CN_DNAME_MAX];       /* negative trust anchors (copied) */
	size_t nnta;
	cn_cache_t *cache;
	cn_nsel_t *nsel;
	_Atomic uint64_t epoch; /* moved by every change of what answers say (hot.c) */
	_Atomic uint64_t outcome[CN_OUT_MAX];
#define CN_X(field, name) _Atomic uint64_t field;
	CN_ENGINE_STATS_MAP(CN_X) /* resolver/stats.h */
#undef CN_X
};

/* hot.c: ready-to-send answers. The epoch to read before answering (the engine's and the
 * cache's); a reply from the table for pkt (its length, 0: none); remember the reply just
 * made from the cache for the pkt cn__hot_answer last did not answer (res, left, orig:
 * from cn__answer_from_cache). */
uint64_t cn__hot_epoch(const cn_engine_t *e);
static inline void cn__epoch_bump(cn_engine_t *e)
{
	atomic_fetch_add_explicit(&e->epoch, 1, memory_order_release);
}
size_t cn__hot_answer(cn_hot_t *h, cn_engine_t *e, uint64_t epoch, const uint8_t *pkt,
		      size_t len, uint64_t now_s, uint8_t *out, size_t cap, cn_outcome_t *outcome);
void cn__hot_store(cn_hot_t *h, const cn_engine_t *e, uint64_t epoch, const uint8_t *pkt,
		   size_t len, const cn_result_t *res, uint32_t left, uint32_t orig,
		   uint64_t now_s, const uint8_t *reply, size_t rlen, cn_outcome_t outcome);

/* The view of a private zone's apex: 1.. CN_VIEWS, made on first use; 0 when the table is
 * full or out of memory (the caller answers SERVFAIL). */
uint8_t cn__view_get(cn_engine_t *e, const uint8_t *apex);
/* The cache of view id (1..), or NULL. */
cn_cache_t *cn__view_cache(const cn_engine_t *e, uint8_t id);
/* Empty every view's cache (the hosted zones were replaced). */
void cn__views_flush(cn_engine_t *e);

/* The hosted zones: a reload swaps the set while workers answer (cn_engine_set_zones). */
static inline const cn_zoneset_t *cn__zones(const cn_engine_t *e)
{
	return __atomic_load_n(&e->conf.zones, __ATOMIC_ACQUIRE);
}

/** Log through the engine's sink when level <= conf.log_level. */
void cn__log(const cn_engine_t *e, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** True for addresses cairn never queries unless allow_loopback_upstream (127/8, ::1,
 *  0.0.0.0/8, ::, v4-mapped loopback). */
bool cn__addr_is_local(const struct sockaddr_storage *ss);

/** Effective reply size limit for a client question. */
uint16_t cn__client_limit(const cn_question_t *q, uint16_t edns_size);

#define CN_STAT_INC(e, field) atomic_fetch_add_explicit(&(e)->field, 1, memory_order_relaxed)

/* ------------------------------------------------------------------ resolution ------ */
/*
 * A request and its frames, shared by the resolution driver (resolve.c) and the files that
 * do one part of a step: zonecut.c (the cut and its servers), classify.c (what a reply
 * says), iterate.c (acting on it, the next query), scrub.c (what may be cached).
 */

#define CN_FRAME_NS 13     /* NS names considered per zone cut (BIND: 13 root-style) */
#define CN_NS_ADDRS 4      /* addresses kept per NS name */
#define CN_FRAMES 6        /* frame 0 + priming + sub-requests */
#define CN_ADDR_TRIES 3    /* queries to one address per request while it only times out */
/* Cache values are read into a per-thread buffer of this size (resolve.c): a request only
 * needs it during one call into the engine, and thousands may be in flight per worker. */
#define CN_SCRATCH_LEN (2 * CN_VALUE_MAX)

/* Fetches of DNSKEY / DS RRsets one request may make for validation (validate.c). */
#define CN_KEY_FETCHES 16

/* A server address, compact (a request holds up to CN_FRAMES x CN_FRAME_NS x CN_NS_ADDRS). */
typedef struct cn_ns_addr {
	uint8_t ip[16];
	uint16_t port;    /* network order */
	uint8_t family;   /* AF_INET / AF_INET6 */
	bool tried;
	bool no_0x20;     /* this request asks it without case mixing (it failed to echo) */
	uint8_t timeouts; /* this request's queries to it that timed out */
} cn_ns_addr_t;

/* Where an NS name of a cut stands in finding its addresses. */
typedef enum cn_ns_state {
	CN_NS_NEW = 0,    /* the cache was not consulted for its addresses yet */
	CN_NS_KNOWN,      /* it was: naddr addresses (maybe none, then a sub-request may run) */
	CN_NS_RESOLVING,  /* a sub-request (frame above) is finding its addresses */
	CN_NS_FAILED,     /* no address to be had: a cycle, no glue, nonexistent, a limit */
} cn_ns_state_t;

typedef struct cn_ns_entry {
	uint8_t name[CN_DNAME_MAX];
	cn_ns_addr_t addr[CN_NS_ADDRS];
	uint8_t naddr;
	cn_ns_state_t state;
} cn_ns_entry_t;

/* What a frame resolves. */
typedef enum cn_frame_kind {
	CN_FRAME_TARGET = 0, /* frame 0: the client's question (or where a CNAME/DNAME led) */
	CN_FRAME_PRIMING,    /* ". NS" at the hints' servers (RFC 8109), on first need */
	CN_FRAME_NS_ADDR,    /* the address (A, then AAAA) of a glueless NS name of the frame
				below it (a sub-request; parent_ns is that NS entry) */
	CN_FRAME_KEY,        /* a DNSKEY or DS RRset validation needs (validate.c): pushed
				once frame 0 is answered, its answer only cached */
} cn_frame_kind_t;

/* Where a frame stands with its zone cut; it only moves forward, until set_cut (a new cut)
 * or a reset (frame_init, or the cache to be consulted again) starts it over. */
typedef enum cn_cut_state {
	CN_CUT_NONE = 0, /* no cut: find the closest one (cache, priming, hints) */
	CN_CUT_NEW,      /* a cut; the failure cache not yet consulted for it */
	CN_CUT_OPEN,     /* not marked failing (RFC 9520): its servers may be asked */
	CN_CUT_ASKED,    /* a server of it was asked */
	CN_CUT_ANSWERED, /* ... and one of them answered (parsed, any RCODE) */
} cn_cut_state_t;

/* Where a frame's cut came from, when the configuration gave it (resolver.h cn_fwdzone_t):
 * the servers were copied into the frame, so a reload may replace the zones meanwhile. */
enum { CN_CUT_CFG_NONE = 0, CN_CUT_CFG_FORWARD, CN_CUT_CFG_STUB };

typedef struct cn_frame {
	cn_frame_kind_t kind;
	cn_cut_state_t cut;
	uint8_t name[CN_DNAME_MAX];   /* target */
	uint16_t type;
	uint8_t zone[CN_DNAME_MAX];   /* current zone cut */
	bool from_hints;              /* the cut is the root from the hints, or a forward or
					 stub zone from the configuration (no parent) */
	uint8_t configured;           /* the cut came from a forward or stub zone (CN_CUT_CFG_*):
					 its servers are the configured ones */
	cn_ns_entry_t ns[CN_FRAME_NS];
	unsigned nns;
	unsigned glueless;            /* sub-requests started for this cut */
	bool qmin_off;                /* ask the full name (minimising met an oddity) */
	int qmin_labels;              /* labels of the name asked while minimising */
	uint8_t sent_name[CN_DNAME_MAX];
	uint16_t sent_type;
	int cur_ns, cur_addr;         /* server of the query in flight */
	int parent_ns;                /* CN_FRAME_NS_ADDR: the parent's NS entry; else -1 */
	unsigned dead_skipped;        /* addresses not asked: dead servers (nsel) */
	bool probed;                  /* a dead server was probed for this cut: no more */
	unsigned hopeless;            /* NS names failed without a lookup: in a cycle, inside
					 the zone without glue, or known not to exist */
	bool nxdomain;                /* sub-request: its name does not exist */
	bool cut_cached;              /* the cut's NS set came from the cache (from a reply
					 earlier, not from a hosted zone), not from a reply now */
	uint8_t resort;               /* last resorts taken by this frame (CN_RESORT_*) */
} cn_frame_t;

/* Last resorts when a cut's addresses run out (zonecut.c), each once per frame. */
#define CN_RESORT_HINTS 0x1   /* the root from the cache had no usable address: hints */
#define CN_RESORT_PARENT 0x2  /* in-zone NS names without glue: the parent asked again */
#define CN_NS_CNAME_HOPS 4    /* cached CNAMEs followed from an NS name to its address */

struct cn_request {
	cn_engine_t *e;
	cn_cache_t *cache;       /* e->cache, or the question's view's (q.view) */
	cn_arena_t arena;        /* the reply being consumed; reset per reply */
	cn_arena_t keep;         /* the result's records; lives as long as the request */
	cn_question_t q;
	cn_frame_t *fr[CN_FRAMES]; /* allocated on first push, reused, freed with the request */
	int depth;               /* frames in use */
	bool primed;             /* priming tried in this request */
	cn_result_t result;
	bool done;
	bool cacheable;          /* the answer may be cached (no TTL 0, no unproven part) */
	unsigned upstream, restarts, referrals;
	uint64_t start_ms;
	uint64_t done_wall_s;
	uint8_t qbuf[CN_DNAME_MAX + 64];
	size_t qlen;
	bool sent_edns;
	cn_upstream_query_t up;
	char why[CN_EDE_TEXT_MAX];
	uint8_t *scratch;        /* the thread's buffer for cache values, valid during a call */
	/* DNSSEC (validate.c) */
	bool validate;           /* frame 0's answer is validated before the request is done */
	bool budget_set;
	cn_dnssec_budget_t budget;
	uint32_t fetched[CN_KEY_FETCHES]; /* (name, type) hashes of the key fetches made */
	unsigned nfetched;
};

/* How a failure is remembered (RFC 9520): not at all (our own trouble: memory), for
 * servfail_ttl_s (the servers were silent: they may be back soon), or with backoff. */
typedef enum cn_fail_memory {
	CN_FAIL_NOCACHE = 0,
	CN_FAIL_SILENT,
	CN_FAIL_BACKOFF,
} cn_fail_memory_t;

/* What acting on a reply came to (iterate.c -> resolve.c). */
typedef enum cn_iter {
	CN_ITER_DONE,     /* the frame's target answered (positive or negative): frame done */
	CN_ITER_CONTINUE, /* go on at the same or a new cut (referral, qmin step, restart) */
	CN_ITER_BAD,      /* lame or bogus: try another server */
	CN_ITER_FAIL,     /* the whole request failed (a limit; r->why says which) */
	CN_ITER_FOLLOW,   /* inside iterate.c only: follow the CNAME/DNAME chain in the reply */
} cn_iter_t;

/* What a reply says (classify.c), in the terms of RFC 1034 5.3.3 / Unbound's resptype. */
typedef enum cn_reply {
	CN_REPLY_ANSWER,    /* the RRset asked for */
	CN_REPLY_REFERRAL,  /* NS of a zone below the cut: a referral (AUTHORITY), or while
			       minimising an AA NS answer: a cut without referral (ANSWER) */
	CN_REPLY_CNAME,     /* one CNAME at the name */
	CN_REPLY_DNAME,     /* a DNAME above the name, inside the zone (RFC 6672) */
	CN_REPLY_NODATA,    /* the name exists, not the type: proven (SOA in the zone or AA) */
	CN_REPLY_NXDOMAIN,  /* the name does not exist: proven */
	CN_REPLY_LAME,      /* neither answer nor proof: the server is lame or bogus */
	CN_REPLY_THROWAWAY, /* nothing in it to believe for this name (outside the zone, or
			       unproven): ask again elsewhere or differently */
} cn_reply_t;

/* resolve.c: the driver */
static inline cn_frame_t *cn__resolve_top(cn_request_t *r) { return r->fr[r->depth - 1]; }
/** Push a frame (allocated the first time this depth is used); NULL when out of memory or
 *  past CN_FRAMES. */
cn_frame_t *cn__resolve_push(cn_request_t *r);
void cn__resolve_frame_init(cn_frame_t *f, cn_frame_kind_t kind, const uint8_t *name,
			    uint16_t type, int parent_ns);
/** Is name the target of a frame on the stack? (CNAME and NS cycles) */
bool cn__resolve_in_stack(const cn_request_t *r, const uint8_t *name);
/** Add "; text" to the reason a failure will carry in its EDE. */
void cn__resolve_note(cn_request_t *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cn__resolve_name_str(const uint8_t *name, char *buf, size_t len);
void cn__resolve_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len);
/** Copy an RR into the request's long-lived arena (dst), or into the result (add). */
int cn__resolve_keep_rr(cn_request_t *r, const cn_rr_t *src, cn_rr_t *dst);
int cn__resolve_result_add(cn_request_t *r, const cn_rr_t *rr);
/** Add rr to the result unless one of its first upto records is the same record (an
 *  answer carries each RRset once, RFC 2181 5): 0 added, 1 already there, < 0 error. */
int cn__resolve_result_add_new(cn_request_t *r, const cn_rr_t *rr, size_t upto);
/** The whole answer for frame f's target from the cache, into r->result; true if found.
 *  When only the start of a CNAME/DNAME chain is cached, that part goes into the result
 *  and f restarts where the cache ends (false). validated: only data validation has
 *  judged (CN_ANSWER_VALIDATED); false takes unvalidated data too, for validation to check. */
bool cn__resolve_from_cache(cn_request_t *r, cn_frame_t *f, bool validated, cn_time_t now);
/** Finish the request with SERVFAIL, EDE ede and "what: why"; returns CN_DONE. */
cn_state_t cn__resolve_fail(cn_request_t *r, uint16_t ede, const char *what,
			    cn_fail_memory_t mem, uint64_t now_s);

/* zonecut.c: the cut of a frame, its NS names, their addresses, server choice */
void cn__zonecut_addr_ss(const cn_ns_addr_t *a, struct sockaddr_storage *ss);
/** May this address be asked (families enabled, loopback policy)? */
bool cn__zonecut_family_ok(const cn_engine_t *e, const cn_frame_t *f,
			   const struct sockaddr_storage *ss);
/** Addresses of an NS name from the cache (a NEW entry becomes KNOWN). */
void cn__zonecut_ns_lookup(cn_request_t *r, cn_ns_entry_t *ns, uint64_t now_s);
/** The root from the hints, as the frame's cut. */
void cn__zonecut_from_hints(cn_request_t *r, cn_frame_t *f);
/* The forward or stub zone the frame's name falls in (longest match), or NULL. */
const cn_fwdzone_t *cn__zonecut_fwd_for(const cn_engine_t *e, const cn_frame_t *f);
/* The cut is zone z, its servers those configured. */
void cn__zonecut_from_fwd(cn_frame_t *f, const cn_fwdzone_t *z);
/** The closest enclosing cut with a live NS RRset in the cache; false when none. */
bool cn__zonecut_from_cache(cn_request_t *r, cn_frame_t *f, uint64_t now_s);
/** Take the NS RRset at owner (section sec of m) as the new cut, with glue from inside the
 *  zone that was asked; caches both. Returns whether the answer may still be cached. */
bool cn__zonecut_follow(cn_request_t *r, cn_frame_t *f, const cn_msg_t *m, cn_section_t sec,
			const uint8_t *owner, cn_rank_t rank, uint64_t now_s);
/** What is left of the cut's delegation in the cache (ghost domains); UINT32_MAX: none
 *  applies (the root), 0: no delegation cached. */
uint32_t cn__zonecut_ttl_left(cn_request_t *r, const cn_frame_t *f, uint64_t now_s);
/** Choose the server to ask next (f->cur_ns, f->cur_addr); false when none is left. */
bool cn__zonecut_choose(cn_request_t *r, cn_frame_t *f, uint64_t now_ms);
/** Find addresses for an NS name without: 1 = found in the cache, 2 = sub-request pushed,
 *  0 = nothing to do (r->why may say which limit). */
int cn__zonecut_subrequest(cn_request_t *r, cn_frame_t *f, uint64_t now_s);
/** May the cut be remembered as failing, for every request (RFC 9520)? */
bool cn__zonecut_hopeless(cn_request_t *r, const cn_frame_t *f, uint64_t now_ms);
/** Every address an NS name has failed: add the addresses the parent's referral gave for
 *  it (CN_CLASS_PARENT_GLUE) that the cut does not have yet. True when any was added. */
bool cn__zonecut_parent_side(cn_request_t *r, cn_frame_t *f, uint64_t now_s);
/** Nothing left to ask: the root hints for a cached root without usable addresses, or the
 *  parent zone asked again for a cached delegation whose in-zone glue expired. True when
 *  the frame has a new cut to ask (each once per frame). */
bool cn__zonecut_last_resort(cn_request_t *r, cn_frame_t *f, uint64_t now_s);
/** Make addresses that only timed out (< CN_ADDR_TRIES times) askable again; any? */
bool cn__zonecut_retry_timeouts(cn_frame_t *f);
/** Every address of the cut may be asked the next question. */
void cn__zonecut_reset_tried(cn_frame_t *f);

/* classify.c: what a reply says */
/** A referral: NS RRset in AUTHORITY for a zone strictly below the cut that contains the
 *  name asked, NOERROR, no answer, and (when AA is set) no SOA: the AA bit alone does not
 *  make it an answer. *ns: its first NS record. */
bool cn__classify_referral(const cn_msg_t *m, const cn_frame_t *f, const cn_rr_t **ns);
/** An upward referral: NOERROR, no answer, no SOA, and an NS RRset in AUTHORITY at or above
 *  the cut (the server sends us back up): lame, AA or not (a minimised step: LAME from
 *  cn__classify_qmin). Ask after the referral test. */
bool cn__classify_upward(const cn_msg_t *m, const cn_frame_t *f);
/** The reply to a minimised question (sent_name, NS): NXDOMAIN (*soa set), REFERRAL (AA
 *  NS answer), NODATA (*soa set or NULL under AA), THROWAWAY (stop minimising) or LAME. */
cn_reply_t cn__classify_qmin(const cn_msg_t *m, const cn_frame_t *f, const cn_rr_t **soa);
/** What the reply to the full question says about name (f->name, or where the chain in the
 *  reply led): ANSWER, DNAME / CNAME (*rr the record), NODATA / NXDOMAIN, LAME, THROWAWAY
 *  (outside the zone, or the chain left the reply without proof: restart at name). */
cn_reply_t cn__classify_name(const cn_msg_t *m, const cn_frame_t *f, const uint8_t *name,
			     const cn_rr_t **rr);

/* scrub.c: what of a reply may be believed and cached */
/** The RRset (owner, type, IN) of a section into set[] (at most max; set NULL: count). */
size_t cn__scrub_rrset(const cn_msg_t *m, cn_section_t sec, const uint8_t *owner,
		       uint16_t type, const cn_rr_t **set, size_t max);
/** Are a and b the same record (owner, type, class, RDATA; names without case)? */
bool cn__scrub_same_rr(const cn_rr_t *a, const cn_rr_t *b);
/** The SOA proving a negative answer for name: in AUTHORITY, inside the zone (A6). */
const cn_rr_t *cn__scrub_soa(const cn_msg_t *m, const uint8_t *zone, const uint8_t *name);
/** Cache an RRset, TTL the lowest of its records' and ttl_cap. Returns false when the
 *  answer it is part of may not be cached (TTL 0). */
bool cn__scrub_store_rrset(cn_request_t *r, const cn_rr_t *const *set, size_t n,
			   cn_rank_t rank, uint32_t ttl_cap, uint64_t now_s);
/** Cache a negative answer for (name, type) with its SOA (RFC 2308 5). Returns false when
 *  the answer may not be cached (no usable SOA, TTL 0). */
bool cn__scrub_store_negative(cn_request_t *r, const uint8_t *name, uint16_t type,
			      bool nxdomain, const cn_rr_t *soa, cn_rank_t rank, uint64_t now_s);
/** Keep a referral's glue RRset a second time, under CN_CLASS_PARENT_GLUE, where the
 *  child's own (higher-ranked) data for the name cannot replace it. */
void cn__scrub_store_parent_glue(cn_request_t *r, const cn_rr_t *const *set, size_t n,
				 uint64_t now_s);
/** Cache the addresses of the NS names of an NS answer found in ADDITIONAL, for names
 *  inside the zone asked only. Returns false as cn__scrub_store_rrset does. */
bool cn__scrub_store_glue(cn_request_t *r, const cn_frame_t *f, const cn_msg_t *m,
			  const cn_rr_t *const *ns, size_t n, uint64_t now_s);

/** Add rr to the result's DNSSEC records (copied into the request). 0 or < 0. */
int cn__resolve_sec_add(cn_request_t *r, const cn_rr_t *rr);

/* validate.c: the chain of trust (RFC 4035 5) for frame 0's answer */
typedef enum cn_val {
	CN_VAL_DONE,  /* r->result.dnssec (and .bogus) set, the answer re-cached with its state */
	CN_VAL_FETCH, /* a CN_FRAME_KEY frame was pushed: call again once it is done */
} cn_val_t;
/** Does the engine validate answers for this request's question? */
bool cn__validate_wanted(const cn_request_t *r);
cn_val_t cn__validate(cn_request_t *r, cn_time_t now);
/** The DNSSEC records of reply section sec that go with the RRset (owner, type) (its
 *  RRSIGs: ANSWER) or with a denial inside zone (NSEC, NSEC3, their RRSIGs and the SOA's:
 *  AUTHORITY; owner NULL), at most max, into out. */
size_t cn__scrub_dnssec(const cn_msg_t *m, cn_section_t sec, const uint8_t *owner,
			uint16_t type, const uint8_t *zone, const cn_rr_t **out, size_t max);
/** Cache an RRset as cn__scrub_store_rrset does, with its DNSSEC records and state. */
bool cn__scrub_store_rrset_sec(cn_request_t *r, const cn_rr_t *const *set, size_t n,
			       const cn_rr_t *const *x, size_t nx, uint8_t state,
			       cn_rank_t rank, uint32_t ttl_cap, uint64_t now_s);
/** Cache a negative answer as cn__scrub_store_negative does, with DNSSEC records, state
 *  and a TTL cap. */
bool cn__scrub_store_negative_sec(cn_request_t *r, const uint8_t *name, uint16_t type,
				  bool nxdomain, const cn_rr_t *soa, const cn_rr_t *const *x,
				  size_t nx, uint8_t state, uint32_t ttl_cap, cn_rank_t rank,
				  uint64_t now_s);

/* aggressive.c: RFC 8198 for NSEC zones */
/** Keep the validated NSEC records nsec[0..n) of zone (the SOA and the RRSIGs come from
 *  r->result) for answering names they deny, for at most ttl seconds. */
void cn__aggressive_learn(cn_request_t *r, const uint8_t *zone, const cn_rr_t *soa,
			  const cn_rr_t *nsec, size_t n, uint32_t ttl, uint64_t now_s);
/** A cache miss for q: NXDOMAIN or NODATA synthesised from the validated NSEC ranges of the
 *  closest enclosing zone that has some (res: slots as for cn__answer_from_cache; buf for
 *  the records). True when res holds the answer. */
bool cn__aggressive_answer(cn_cache_t *cache, const cn_question_t *q, uint64_t now_s,
			   uint8_t *buf, size_t cap, cn_result_t *res);

/* iterate.c: one step of RFC 1034 5.3.3 */
/** Build the next query of the top frame to its chosen server; CN_PRODUCE. */
cn_state_t cn__iterate_query(cn_request_t *r, cn_frame_t *f, cn_time_t now);
/** Act on a parsed NOERROR / NXDOMAIN / YXDOMAIN reply to the top frame's query. */
cn_iter_t cn__iterate_reply(cn_request_t *r, cn_frame_t *f, const cn_msg_t *m, cn_time_t now);
