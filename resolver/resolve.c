/*
 * The resolution driver: RFC 1034 5.3.3 iteration as an explicit state machine that net
 * feeds (cn_resolve_begin / produce / consume / answer). No sockets, no clock reads.
 *
 * A request resolves one question. It keeps a small stack of frames: frame 0 resolves the
 * client's question (its target changes when a CNAME or DNAME restarts it); the frames above
 * it resolve what frame below needs and cannot find in the cache — the root NS set
 * (priming, on first need) or the address of a glueless NS name (a sub-request). Each frame
 * holds its current zone cut: the zone, up to CN_FRAME_NS NS names and their addresses.
 *
 * One step: find the closest zone cut in the cache (or prime from the hints); choose the
 * untried address with the lowest smoothed RTT; ask it the next question — with QNAME
 * minimisation (RFC 9156) the cut's zone plus one more label, type NS, until the full name
 * is reached; then act on the classified reply: a referral moves the cut down (glue only
 * from inside the zone being asked: RFC 2181 5.4.1), an answer or an authoritative negative
 * answer ends the frame, a CNAME/DNAME restarts it, anything else counts against that server
 * and the next one is tried. Only records the step asked for and inside the zone cut are
 * cached (scrubbing: A4 in ATTACKS.md): nothing else in a reply is ever kept.
 *
 * Every limit in cn_limits_t is enforced here and counted in the engine's stats; a failure
 * ends in SERVFAIL with an Extended DNS Error (RFC 8914) saying which limit or which servers.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/errors.h"
#include "resolver/internal.h"

#define CN_FRAME_NS 13     /* NS names considered per zone cut (BIND: 13 root-style) */
#define CN_NS_ADDRS 4      /* addresses kept per NS name */
#define CN_FRAMES 6        /* frame 0 + priming + sub-requests */

/* A server address, compact (a request holds up to CN_FRAMES x CN_FRAME_NS x CN_NS_ADDRS). */
typedef struct ns_addr {
	uint8_t ip[16];
	uint16_t port;   /* network order */
	uint8_t family;  /* AF_INET / AF_INET6 */
	bool tried;
	bool no_0x20;    /* this request asks it without case mixing (it failed to echo) */
	uint8_t timeouts;/* this request's queries to it that timed out */
} ns_addr_t;

#define CN_ADDR_TRIES 3    /* queries to one address per request while it only times out */

typedef struct ns_entry {
	uint8_t name[CN_DNAME_MAX];
	ns_addr_t addr[CN_NS_ADDRS];
	uint8_t naddr;
	bool looked_up;   /* cache consulted for its addresses */
	bool failed;      /* its addresses could not be found */
	bool resolving;   /* a sub-request is finding its addresses */
} ns_entry_t;

static void addr_to_ss(const ns_addr_t *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = a->port;
		memcpy(&s->sin_addr, a->ip, 4);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = a->port;
		memcpy(&s->sin6_addr, a->ip, 16);
	}
}

static bool addr_from_ss(const struct sockaddr_storage *ss, ns_addr_t *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		a->family = AF_INET;
		a->port = s->sin_port;
		memcpy(a->ip, &s->sin_addr, 4);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		a->family = AF_INET6;
		a->port = s->sin6_port;
		memcpy(a->ip, &s->sin6_addr, 16);
		return true;
	}
	return false;
}

typedef struct frame {
	uint8_t name[CN_DNAME_MAX];   /* target */
	uint16_t type;
	uint8_t zone[CN_DNAME_MAX];   /* current zone cut */
	bool have_cut;
	bool from_hints;
	ns_entry_t ns[CN_FRAME_NS];
	unsigned nns;
	unsigned glueless;            /* sub-requests started for this cut */
	bool qmin_off;
	int qmin_labels;              /* labels of the name asked while minimising */
	uint8_t sent_name[CN_DNAME_MAX];
	uint16_t sent_type;
	int cur_ns, cur_addr;         /* server of the query in flight */
	int parent_ns;                /* sub-request: the parent's NS entry it resolves */
	bool priming;
	bool queried;                 /* a server of this cut was asked */
	bool answered;                /* ... and one of them answered (parsed, any RCODE) */
	bool zone_checked;            /* the failure cache was consulted for this cut */
	bool zone_cached_fail;        /* ... and said no server of it answers */
	unsigned dead_skipped;        /* addresses not asked: dead servers (nsel) */
	bool probed;                  /* a dead server was probed for this cut: no more */
	unsigned hopeless;            /* NS names failed without a lookup: in a cycle, inside
					 the zone without glue, or known not to exist */
	bool nxdomain;                /* sub-request: its name does not exist */
} frame_t;

struct cn_request {
	cn_engine_t *e;
	cn_arena_t arena;       /* the reply being consumed; reset per reply */
	cn_arena_t keep;        /* the result's records; lives as long as the request */
	cn_question_t q;
	frame_t *fr[CN_FRAMES];  /* allocated on first push, reused, freed with the request */
	int depth;              /* frames in use */
	bool primed;            /* priming tried in this request */
	cn_result_t result;
	bool done;
	bool cacheable;
	unsigned upstream, restarts, referrals;
	uint64_t start_ms;
	uint64_t done_wall_s;
	uint8_t qbuf[CN_DNAME_MAX + 64];
	size_t qlen;
	bool sent_edns;
	cn_upstream_query_t up;
	char why[CN_EDE_TEXT_MAX];
	uint8_t *scratch;       /* the thread's buffer for cache values, valid during a call */
};

/* Cache values are read into a per-thread buffer: a request only needs it during one call
 * into the engine, and thousands of requests may be in flight per worker. */
static _Thread_local uint8_t tl_scratch[2 * CN_VALUE_MAX];
#define CN_SCRATCH_LEN sizeof(tl_scratch)

/* ------------------------------------------------------------------ small helpers --- */

static void note(cn_request_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(cn_request_t *r, const char *fmt, ...)
{
	size_t len = strlen(r->why);
	if (len + 4 >= sizeof(r->why))
		return;
	if (len)
		r->why[len++] = ';', r->why[len++] = ' ', r->why[len] = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why + len, sizeof(r->why) - len, fmt, ap);
	va_end(ap);
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf,
			  (socklen_t)len);
}

static void name_str(const uint8_t *name, char *buf, size_t len)
{
	if (cn_dname_to_str(name, buf, len) < 0)
		snprintf(buf, len, "(name)");
}

static frame_t *top(cn_request_t *r) { return r->fr[r->depth - 1]; }

/* Push a frame (allocating it the first time this depth is used). NULL when out of memory
 * or past CN_FRAMES. */
static frame_t *push_frame(cn_request_t *r)
{
	if (r->depth >= CN_FRAMES)
		return NULL;
	if (!r->fr[r->depth] && !(r->fr[r->depth] = malloc(sizeof(frame_t))))
		return NULL;
	return r->fr[r->depth++];
}

static const ns_addr_t *cur_server(cn_request_t *r)
{
	frame_t *f = top(r);
	return &f->ns[f->cur_ns].addr[f->cur_addr];
}

static bool family_ok(const cn_engine_t *e, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET && !e->conf.do_ip4)
		return false;
	if (ss->ss_family == AF_INET6 && !e->conf.do_ip6)
		return false;
	if (!e->conf.allow_loopback_upstream && cn__addr_is_local(ss))
		return false;
	return true;
}

/* Add an address (A or AAAA RDATA) to an NS entry, ignoring duplicates. */
static void ns_add_addr(ns_entry_t *ns, uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (type == CN_TYPE_A && rdlen == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(53);
		memcpy(&s->sin_addr, rdata, 4);
	} else if (type == CN_TYPE_AAAA && rdlen == 16) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(53);
		memcpy(&s->sin6_addr, rdata, 16);
	} else {
		return;
	}
	ns_addr_t a;
	addr_from_ss(&ss, &a);
	for (unsigned i = 0; i < ns->naddr; i++)
		if (ns->addr[i].family == a.family && ns->addr[i].port == a.port &&
		    memcmp(ns->addr[i].ip, a.ip, 16) == 0)
			return;
	if (ns->naddr < CN_NS_ADDRS)
		ns->addr[ns->naddr++] = a;
}

/* Copy an RR (owner and rdata) into the request's long-lived arena. */
static int keep_rr(cn_request_t *r, const cn_rr_t *src, cn_rr_t *dst)
{
	uint8_t *owner = cn_arena_dup(&r->keep, src->owner, cn_dname_len(src->owner));
	uint8_t *rdata = cn_arena_dup(&r->keep, src->rdata, src->rdlen ? src->rdlen : 1);
	if (!owner || !rdata)
		return -ENOMEM;
	*dst = *src;
	dst->owner = owner;
	dst->rdata = rdata;
	return 0;
}

static int result_add(cn_request_t *r, const cn_rr_t *rr)
{
	cn_result_t *res = &r->result;
	if (res->nan >= CN_ANSWER_MAX_RRS)
		return CN_ELIMIT;
	if (res->nan == res->an_cap) {
		size_t cap = res->an_cap ? res->an_cap * 2 : 8;
		cn_rr_t *an = cn_arena_alloc(&r->keep, cap * sizeof(*an));
		if (!an)
			return -ENOMEM;
		if (res->nan)
			memcpy(an, res->an, res->nan * sizeof(*an));
		res->an = an;
		res->an_cap = cap;
	}
	return keep_rr(r, rr, &res->an[res->nan++]);
}

/* ------------------------------------------------------------------ cache I/O ------- */

static uint32_t rrset_ttl(const cn_rr_t *const *set, size_t n)
{
	uint32_t ttl = UINT32_MAX;
	for (size_t i = 0; i < n; i++)
		if (set[i]->ttl < ttl)
			ttl = set[i]->ttl; /* RFC 2181 5.2: one TTL per RRset, take the lowest */
	return ttl == UINT32_MAX ? 0 : ttl;
}

/* Gather the RRset (owner, type) of a section into set[] (at most max records; set NULL:
 * just count them); returns how many were gathered. */
static size_t gather(const cn_msg_t *m, cn_section_t sec, const uint8_t *owner, uint16_t type,
		     const cn_rr_t **set, size_t max)
{
	size_t from = sec == CN_SECTION_ANSWER ? 0 : sec == CN_SECTION_AUTHORITY ? m->an
										  : m->an + m->ns;
	size_t to = sec == CN_SECTION_ANSWER ? m->an : sec == CN_SECTION_AUTHORITY
							 ? m->an + m->ns : m->an + m->ns + m->ar;
	size_t n = 0;
	for (size_t i = from; i < to && n < max; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		if (rr->type == type && rr->rclass == CN_CLASS_IN && cn_dname_eq(rr->owner, owner)) {
			if (set)
				set[n] = rr;
			n++;
		}
	}
	return n;
}

/* Store an RRset; its TTL is the lowest of its records' and of ttl_cap. */
static void cache_rrset_capped(cn_request_t *r, const cn_rr_t *const *set, size_t n,
			       cn_rank_t rank, uint32_t ttl_cap, uint64_t now_s)
{
	if (n == 0 || n > r->e->conf.limits.rrset_records)
		return;
	int len = cn__value_encode_rrset(set, n, r->scratch, CN_SCRATCH_LEN);
	if (len < 0)
		return;
	uint32_t ttl = rrset_ttl(set, n);
	if (ttl > ttl_cap)
		ttl = ttl_cap;
	if (ttl == 0)
		r->cacheable = false;
	uint8_t key[CN_DNAME_MAX];
	size_t klen = cn_dname_copy(key, set[0]->owner);
	cn_cache_insert(r->e->cache, key, klen, set[0]->type, CN_CLASS_IN, CN_CACHE_RRSET, rank,
			ttl, now_s, r->scratch, (size_t)len);
}

static void cache_rrset(cn_request_t *r, const cn_rr_t *const *set, size_t n, cn_rank_t rank,
			uint64_t now_s)
{
	cache_rrset_capped(r, set, n, rank, UINT32_MAX, now_s);
}

/*
 * Ghost domains (A5 in ATTACKS.md; Jiang et al., NDSS 2012): the NS RRset a zone's own
 * servers give for their apex must not outlive the delegation the parent gave, or a
 * revoked domain stays resolvable as long as its servers keep re-serving long TTLs. The
 * cap is what is left of the delegation (the zone cut's NS entry in the cache); without
 * one (evicted) the child's set is not cached at all. The root, from the hints, has no
 * parent.
 */
static uint32_t delegation_ttl_left(cn_request_t *r, const frame_t *f, uint64_t now_s)
{
	if (f->from_hints || f->zone[0] == 0)
		return UINT32_MAX;
	cn_cache_entry_t ent;
	if (cn_cache_lookup(r->e->cache, f->zone, cn_dname_len(f->zone), CN_TYPE_NS, CN_CLASS_IN,
			    now_s, CN_LOOKUP_PEEK, &ent, r->scratch, CN_SCRATCH_LEN) != 0 ||
	    ent.kind != CN_CACHE_RRSET)
		return 0;
	return ent.ttl_left_s;
}

/* Cache a negative answer for (name, type) with its SOA (RFC 2308 5: TTL is the lower of
 * the SOA's TTL and its MINIMUM field). */
static void cache_negative(cn_request_t *r, const uint8_t *name, uint16_t type, bool nxdomain,
			   const cn_rr_t *soa, cn_rank_t rank, uint64_t now_s)
{
	uint32_t minimum;
	if (!soa || cn_rdata_soa_minimum(soa->rdata, soa->rdlen, &minimum) != 0) {
		r->cacheable = false;
		return;
	}
	uint32_t ttl = soa->ttl < minimum ? soa->ttl : minimum;
	if (ttl == 0)
		r->cacheable = false;
	int len = cn__value_encode_neg(soa, r->scratch, CN_SCRATCH_LEN);
	if (len < 0)
		return;
	cn_cache_insert(r->e->cache, name, cn_dname_len(name),
			nxdomain ? CN_CACHE_TYPE_NXDOMAIN : type, CN_CLASS_IN,
			nxdomain ? CN_CACHE_NXDOMAIN : CN_CACHE_NODATA, rank, ttl, now_s,
			r->scratch, (size_t)len);
}

/* Addresses of an NS name from the cache. */
static void ns_addrs_from_cache(cn_request_t *r, ns_entry_t *ns, uint64_t now_s)
{
	static const uint16_t types[2] = { CN_TYPE_A, CN_TYPE_AAAA };
	for (int t = 0; t < 2; t++) {
		cn_cache_entry_t ent;
		if (cn_cache_lookup(r->e->cache, ns->name, cn_dname_len(ns->name), types[t],
				    CN_CLASS_IN, now_s, 0, &ent, r->scratch,
				    CN_SCRATCH_LEN) != 0 || ent.kind != CN_CACHE_RRSET)
			continue;
		cn_rdata_ref_t refs[16];
		size_t n;
		if (cn__value_decode_rrset_first(r->scratch, ent.data_len, refs, 16, &n) != 0)
			continue;
		for (size_t i = 0; i < n; i++)
			ns_add_addr(ns, types[t], refs[i].rdata, refs[i].rdlen);
	}
	ns->looked_up = true;
}

/* Set the frame's cut to zone with the NS names in rdata refs. */
static void set_cut(frame_t *f, const uint8_t *zone)
{
	cn_dname_copy(f->zone, zone);
	f->have_cut = true;
	f->from_hints = false;
	f->nns = 0;
	f->glueless = 0;
	f->queried = f->answered = f->zone_checked = f->zone_cached_fail = f->probed = false;
	f->dead_skipped = f->hopeless = 0;
	int zl = cn_dname_labels(zone);
	if (f->qmin_labels < zl + 1)
		f->qmin_labels = zl + 1;
}

static void cut_add_ns(frame_t *f, const uint8_t *name)
{
	if (f->nns >= CN_FRAME_NS || cn_dname_check(name, CN_DNAME_MAX) <= 0)
		return;
	for (unsigned i = 0; i < f->nns; i++)
		if (cn_dname_eq(f->ns[i].name, name))
			return;
	ns_entry_t *ns = &f->ns[f->nns++];
	memset(ns, 0, sizeof(*ns));
	cn_dname_copy(ns->name, name);
}

static void cut_from_hints(cn_request_t *r, frame_t *f)
{
	set_cut(f, (const uint8_t *)"");
	f->from_hints = true;
	for (size_t i = 0; i < r->e->nhints && f->nns < CN_FRAME_NS; i++) {
		const cn_hint_t *h = &r->e->hints[i];
		cut_add_ns(f, h->name);
		ns_entry_t *ns = &f->ns[f->nns - 1];
		for (int a = 0; a < h->naddr && ns->naddr < CN_NS_ADDRS; a++)
			if (addr_from_ss(&h->addr[a], &ns->addr[ns->naddr]))
				ns->naddr++;
		ns->looked_up = true;
	}
}

/* The closest enclosing zone cut with a live NS RRset in the cache. Returns false when
 * the cache holds no NS at all on the way to the root. */
static bool cut_from_cache(cn_request_t *r, frame_t *f, uint64_t now_s)
{
	int labels = cn_dname_labels(f->name);
	/* A question for the NS (or DS) of a name is answered by the cut above it. */
	int first = (f->type == CN_TYPE_DS) && labels > 0 ? 1 : 0;
	for (int i = first; i <= labels; i++) {
		const uint8_t *anc = cn_dname_skip(f->name, i);
		cn_cache_entry_t ent;
		if (cn_cache_lookup(r->e->cache, anc, cn_dname_len(anc), CN_TYPE_NS, CN_CLASS_IN,
				    now_s, 0, &ent, r->scratch, CN_SCRATCH_LEN) != 0 ||
		    ent.kind != CN_CACHE_RRSET)
			continue;
		cn_rdata_ref_t refs[CN_FRAME_NS * 2];
		size_t n;
		if (cn__value_decode_rrset_first(r->scratch, ent.data_len, refs, CN_FRAME_NS * 2,
						 &n))
			continue;
		set_cut(f, anc);
		for (size_t k = 0; k < n; k++)
			cut_add_ns(f, refs[k].rdata);
		for (unsigned k = 0; k < f->nns; k++)
			ns_addrs_from_cache(r, &f->ns[k], now_s);
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------ frames ---------- */

static void frame_init(frame_t *f, const uint8_t *name, uint16_t type, int parent_ns)
{
	memset(f, 0, sizeof(*f));
	cn_dname_copy(f->name, name);
	f->type = type;
	f->parent_ns = parent_ns;
	f->cur_ns = f->cur_addr = -1;
}

static bool in_stack(cn_request_t *r, const uint8_t *name)
{
	for (int i = 0; i < r->depth; i++)
		if (cn_dname_eq(r->fr[i]->name, name))
			return true;
	return false;
}

/* How a failure is remembered (RFC 9520): not at all (our own trouble: memory), for
 * servfail_ttl_s (the servers were silent: they may be back soon), or with backoff. */
typedef enum fail_memory {
	FAIL_NOCACHE = 0,
	FAIL_SILENT,
	FAIL_BACKOFF,
} fail_memory_t;

/* Finish the whole request with SERVFAIL and an EDE. */
static cn_state_t fail(cn_request_t *r, uint16_t ede, const char *what, fail_memory_t mem,
		       uint64_t now_s)
{
	r->result.rcode = CN_RCODE_SERVFAIL;
	r->result.nan = 0;
	r->result.has_soa = false;
	r->result.has_ede = true;
	r->result.ede_code = ede;
	/* "what: why", cut to the EDE text size (the EDE is for people, not parsers) */
	char *t = r->result.ede_text;
	size_t cap = sizeof(r->result.ede_text);
	size_t n = strnlen(what, cap - 1);
	memcpy(t, what, n);
	if (r->why[0] && n + 2 < cap - 1) {
		memcpy(t + n, ": ", 2);
		n += 2;
		size_t w = strnlen(r->why, cap - 1 - n);
		memcpy(t + n, r->why, w);
		n += w;
	}
	t[n] = 0;
	r->done = true;
	r->cacheable = false;
	if (mem != FAIL_NOCACHE) {
		uint32_t ttl = cn__failcache_record(r->e, r->q.qname, r->q.qtype,
						    mem == FAIL_BACKOFF, ede, t, now_s);
		cn__log(r->e, 2, "SERVFAIL (remembered %u s): %s", ttl, r->result.ede_text);
	} else {
		cn__log(r->e, 2, "SERVFAIL: %s", r->result.ede_text);
	}
	return CN_DONE;
}

static cn_state_t step(cn_request_t *r, cn_time_t now);

/* The top frame ended, answered or given up (frame 0: the result is in r->result; a
 * sub-request: whatever addresses it found are in the cache, which is what counts). */
static cn_state_t frame_done(cn_request_t *r, cn_time_t now)
{
	frame_t *f = top(r);
	if (r->depth == 1) {
		r->done = true;
		cn__failcache_clear(r->e, r->q.qname, r->q.qtype); /* backoff starts over */
		return CN_DONE;
	}
	if (f->priming || f->parent_ns < 0) {
		r->depth--;
		top(r)->have_cut = false; /* look again: the root NS set is in the cache now */
		return step(r, now);
	}
	frame_t *p = r->fr[r->depth - 2];
	ns_entry_t *ns = &p->ns[f->parent_ns];
	ns_addrs_from_cache(r, ns, now.wall_s);
	if (ns->naddr == 0 && f->type == CN_TYPE_A && r->e->conf.do_ip6 && !f->nxdomain) {
		/* no IPv4 address: try the IPv6 one before giving up on this NS name (not when
		 * the name does not exist: NXNS, B1 in ATTACKS.md, would get twice the queries) */
		uint8_t name[CN_DNAME_MAX];
		int parent_ns = f->parent_ns;
		cn_dname_copy(name, f->name);
		frame_init(f, name, CN_TYPE_AAAA, parent_ns);
		return step(r, now);
	}
	r->depth--;
	ns->resolving = false;
	if (ns->naddr == 0)
		ns->failed = true;
	return step(r, now);
}

static void reset_tried(frame_t *f)
{
	for (unsigned i = 0; i < f->nns; i++)
		for (unsigned a = 0; a < f->ns[i].naddr; a++)
			f->ns[i].addr[a].tried = false;
}

static int choose_once(cn_request_t *r, frame_t *f, uint64_t now_ms);

/* Choose the untried usable address with the lowest score. A dead server (silent several
 * times in a row, nsel.c) is not asked unless this request takes its probe slot: one probe
 * per CN_NSEL_PROBE_MS among all requests, and one dead server per cut and request
 * (NRDelegation, B2). */
static bool choose(cn_request_t *r, frame_t *f, uint64_t now_ms)
{
	for (;;) {
		int ret = choose_once(r, f, now_ms);
		if (ret <= 0)
			return ret == 0;
		/* ret 1: the best is a dead server; ask it only with its probe slot */
		ns_addr_t *ad = &f->ns[f->cur_ns].addr[f->cur_addr];
		struct sockaddr_storage ss;
		addr_to_ss(ad, &ss);
		if (!f->probed && cn__nsel_claim_probe(r->e->nsel, &ss, now_ms)) {
			f->probed = true; /* one probe per cut and request: not a tour of the dead */
			return true;
		}
		ad->tried = true; /* another request probes it */
		ad->timeouts = CN_ADDR_TRIES;
		f->dead_skipped++;
		CN_STAT_INC(r->e, dead_server_skips);
	}
}

/* One pass: 0 = chosen, 1 = chosen but dead (needs the probe slot), -1 = none. */
static int choose_once(cn_request_t *r, frame_t *f, uint64_t now_ms)
{
	unsigned best_score = UINT32_MAX, ties = 0;
	int bi = -1, ba = -1;
	bool best_dead = false;
	for (unsigned i = 0; i < f->nns; i++) {
		for (unsigned a = 0; a < f->ns[i].naddr; a++) {
			ns_addr_t *ad = &f->ns[i].addr[a];
			struct sockaddr_storage ss;
			addr_to_ss(ad, &ss);
			if (ad->tried || !family_ok(r->e, &ss))
				continue;
			cn_nsel_info_t info;
			cn__nsel_info(r->e->nsel, &ss, now_ms, &info);
			if (info.dead && !info.probe_ok) {
				ad->tried = true; /* not asked: dead, and its probe is taken */
				ad->timeouts = CN_ADDR_TRIES; /* nor retried */
				f->dead_skipped++;
				CN_STAT_INC(r->e, dead_server_skips);
				continue;
			}
			unsigned score = info.srtt_ms + (info.failing ? 100000u : 0) +
					 (info.dead ? 200000u : 0);
			if (score < best_score) {
				best_score = score, bi = (int)i, ba = (int)a, ties = 1;
				best_dead = info.dead;
			} else if (score == best_score) {
				/* reservoir choice among equals spreads load over the NS set */
				uint32_t rnd;
				r->e->conf.random(&rnd, sizeof(rnd));
				if (rnd % ++ties == 0)
					bi = (int)i, ba = (int)a, best_dead = info.dead;
			}
		}
	}
	if (bi < 0)
		return -1;
	f->cur_ns = bi;
	f->cur_addr = ba;
	return best_dead ? 1 : 0;
}

/* Does the cache say name does not exist (an NXDOMAIN at it or above it, RFC 8020)? */
static bool known_nxdomain(cn_request_t *r, const uint8_t *name, uint64_t now_s)
{
	int labels = cn_dname_labels(name);
	for (int i = 0; i < labels; i++) {
		const uint8_t *anc = cn_dname_skip(name, i);
		cn_cache_entry_t ent;
		if (cn_cache_lookup(r->e->cache, anc, cn_dname_len(anc), CN_CACHE_TYPE_NXDOMAIN,
				    CN_CLASS_IN, now_s, CN_LOOKUP_PEEK, &ent, r->scratch,
				    CN_SCRATCH_LEN) == 0 && ent.kind == CN_CACHE_NXDOMAIN)
			return true;
	}
	return false;
}

/* Start a sub-request for the address of an NS name that has none. */
static int start_subrequest(cn_request_t *r, frame_t *f, uint64_t now_s)
{
	for (unsigned i = 0; i < f->nns; i++) {
		ns_entry_t *ns = &f->ns[i];
		if (ns->naddr || ns->failed || ns->resolving)
			continue;
		if (!ns->looked_up) {
			ns_addrs_from_cache(r, ns, now_s);
			if (ns->naddr)
				return 1;
		}
		/* An NS name inside the zone it serves needs glue we do not have; one that is
		 * already being resolved further down the stack would be a cycle (TsuNAME). */
		if (cn_dname_is_sub(ns->name, f->zone) || in_stack(r, ns->name)) {
			ns->failed = true;
			f->hopeless++;
			continue;
		}
		/* A name already known not to exist costs nothing (NXNS: many NS names under
		 * one nonexistent name would each cost a query otherwise). */
		if (known_nxdomain(r, ns->name, now_s)) {
			ns->failed = true;
			f->hopeless++;
			continue;
		}
		if (f->glueless >= r->e->conf.limits.glueless_ns) {
			CN_STAT_INC(r->e, limit_glueless);
			CN_STAT_INC(r->e, limit_hits);
			note(r, "glueless NS limit (%u) reached", r->e->conf.limits.glueless_ns);
			return 0;
		}
		if (r->depth >= CN_FRAMES || (unsigned)r->depth > r->e->conf.limits.subrequest_depth) {
			note(r, "sub-request depth limit reached");
			CN_STAT_INC(r->e, limit_hits);
			return 0;
		}
		f->glueless++;
		ns->resolving = true;
		frame_t *sub = push_frame(r);
		if (!sub) {
			ns->failed = true;
			return 0;
		}
		frame_init(sub, ns->name, r->e->conf.do_ip4 ? CN_TYPE_A : CN_TYPE_AAAA, (int)i);
		return 2;
	}
	return 0;
}

/* Randomise the letter case of a name (0x20, draft-vixie-dnsext-dns0x20). Length octets
 * are <= 63, below every letter, so testing for letters skips them. */
static void mix_case(cn_request_t *r, uint8_t *name)
{
	uint8_t bits[CN_DNAME_MAX / 8 + 1];
	r->e->conf.random(bits, sizeof(bits));
	size_t len = cn_dname_len(name);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i] | 0x20;
		if (c >= 'a' && c <= 'z')
			name[i] = (bits[i / 8] >> (i % 8)) & 1 ? (uint8_t)(c & ~0x20) : c;
	}
}

/* Is name known not to be a zone cut? An earlier minimised step cached NODATA for
 * (name, NS): an empty non-terminal, or a name with data but no delegation. */
static bool known_not_cut(cn_request_t *r, const uint8_t *name, uint64_t now_s)
{
	cn_cache_entry_t ent;
	return cn_cache_lookup(r->e->cache, name, cn_dname_len(name), CN_TYPE_NS, CN_CLASS_IN,
			       now_s, CN_LOOKUP_PEEK, &ent, r->scratch, CN_SCRATCH_LEN) == 0 &&
	       ent.kind == CN_CACHE_NODATA;
}

/* What to ask next: the full question, or (RFC 9156) one label more than the cut —
 * skipping labels already known not to be cuts, so names under one empty non-terminal
 * (x.w.example, y.w.example) do not each ask w.example NS again. */
static void next_question(cn_request_t *r, frame_t *f, uint64_t now_s)
{
	int nl = cn_dname_labels(f->name);
	bool qmin = r->e->conf.qname_minimisation && !f->qmin_off && f->type != CN_TYPE_DS;
	while (qmin && f->qmin_labels < nl &&
	       known_not_cut(r, cn_dname_skip(f->name, nl - f->qmin_labels), now_s))
		f->qmin_labels++;
	if (qmin && f->qmin_labels < nl) {
		cn_dname_copy(f->sent_name, cn_dname_skip(f->name, nl - f->qmin_labels));
		f->sent_type = CN_TYPE_NS;
		return;
	}
	cn_dname_copy(f->sent_name, f->name);
	f->sent_type = f->type;
}

static cn_state_t produce_query(cn_request_t *r, frame_t *f, cn_time_t now)
{
	const ns_addr_t *ad = &f->ns[f->cur_ns].addr[f->cur_addr];
	struct sockaddr_storage ss;
	addr_to_ss(ad, &ss);
	cn_nsel_info_t info;
	cn__nsel_info(r->e->nsel, &ss, now.mono_ms, &info);
	next_question(r, f, now.wall_s);
	uint8_t qname[CN_DNAME_MAX];
	cn_dname_copy(qname, f->sent_name);
	if (r->e->conf.use_0x20 && !info.no_0x20 && !ad->no_0x20)
		mix_case(r, qname);
	cn_writer_t w;
	int ret = cn_writer_init(&w, r->qbuf, sizeof(r->qbuf), 0, 0);
	if (ret == 0)
		ret = cn_writer_question(&w, qname, f->sent_type, CN_CLASS_IN);
	r->sent_edns = !info.no_edns;
	if (ret == 0 && r->sent_edns)
		ret = cn_writer_opt(&w, r->e->conf.edns_udp_size, 0, 0, false, NULL, 0);
	if (ret != 0)
		return fail(r, CN_EDE_OTHER, "could not build an upstream query", FAIL_NOCACHE, 0);
	r->qlen = cn_writer_finish(&w);
	memset(&r->up, 0, sizeof(r->up));
	r->up.addr = ss;
	r->up.addr_len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						      : sizeof(struct sockaddr_in6);
	r->up.wire = r->qbuf;
	r->up.len = r->qlen;
	r->up.timeout_ms = info.timeout_ms;
	r->upstream++;
	f->queried = true;
	CN_STAT_INC(r->e, upstream_queries);
	if (r->e->conf.log_level >= 3) {
		char n[CN_DNAME_STR_MAX], a[64], t[16];
		name_str(qname, n, sizeof(n));
		addr_str(&ss, a, sizeof(a));
		cn__log(r->e, 3, "query %s %s -> %s (timeout %u ms)", n,
			cn_type_to_str(f->sent_type, t, sizeof(t)), a, info.timeout_ms);
	}
	return CN_PRODUCE;
}

/* Look in the cache for the answer of a frame whose target just changed. */
static _Thread_local cn_rr_t tl_rrs[CN_ANSWER_MAX_RRS];
static _Thread_local cn_result_t tl_result;

static bool answer_from_cache(cn_request_t *r, frame_t *f, cn_time_t now)
{
	cn_result_t *tmp = &tl_result; /* copied into the request before the call returns */
	memset(tmp, 0, sizeof(*tmp));
	tmp->an = tl_rrs;
	tmp->an_cap = CN_ANSWER_MAX_RRS;
	bool stale, found = false;
	uint32_t left, orig;
	cn_cache_miss_t miss;
	if (cn__answer_from_cache(r->e->cache, f->name, f->type, now.wall_s, 0,
				  r->e->conf.limits.cname_chain - r->restarts, r->scratch,
				  CN_SCRATCH_LEN, tmp, &stale, &left, &orig, &miss) == 0) {
		found = true;
		for (size_t i = 0; i < tmp->nan && found; i++)
			found = result_add(r, &tmp->an[i]) == 0;
		r->result.rcode = tmp->rcode;
		if (found && tmp->has_soa) {
			found = keep_rr(r, &tmp->soa, &r->result.soa) == 0;
			r->result.has_soa = true;
		}
	}
	return found;
}

/*
 * May the zone cut be remembered as failing (RFC 9520)? Only on evidence that holds for
 * every request, not just this one's bad luck: every NS name is hopeless (a cycle, missing
 * glue, nonexistent), or every address of the cut is dead in the shared server table
 * (silent twice in a row and quiet for a second: nsel.c). A server that answered another
 * request a moment ago keeps the zone alive; an overloaded one dropping a burst must not
 * take the whole zone down.
 */
static bool zone_hopeless(cn_request_t *r, frame_t *f, uint64_t now_ms)
{
	if (f->nns == 0)
		return false;
	if (f->hopeless == f->nns)
		return true;
	unsigned addrs = 0;
	for (unsigned i = 0; i < f->nns; i++) {
		for (unsigned a = 0; a < f->ns[i].naddr; a++) {
			struct sockaddr_storage ss;
			addr_to_ss(&f->ns[i].addr[a], &ss);
			if (!family_ok(r->e, &ss))
				continue;
			cn_nsel_info_t info;
			cn__nsel_info(r->e->nsel, &ss, now_ms, &info);
			if (!info.dead)
				return false;
			addrs++;
		}
		if (f->ns[i].naddr == 0 && !f->ns[i].failed)
			return false; /* not looked up (a limit): unknown */
	}
	return addrs > 0;
}

/*
 * Every address has been tried: those that only timed out (a lost packet, a slow moment)
 * are tried again, up to CN_ADDR_TRIES queries each in this request; nsel doubles their
 * timeout each time, and a server that is dead (nsel.c) is skipped by choose() anyway.
 * The request's limits (upstream queries, resolve deadline) bound it all.
 */
static bool retry_timeouts(frame_t *f)
{
	bool any = false;
	for (unsigned i = 0; i < f->nns; i++)
		for (unsigned a = 0; a < f->ns[i].naddr; a++) {
			ns_addr_t *ad = &f->ns[i].addr[a];
			if (ad->tried && ad->timeouts > 0 && ad->timeouts < CN_ADDR_TRIES) {
				ad->tried = false;
				any = true;
			}
		}
	return any;
}

static cn_state_t step(cn_request_t *r, cn_time_t now)
{
	const cn_limits_t *lim = &r->e->conf.limits;
	for (;;) {
		frame_t *f = top(r);
		if (now.mono_ms - r->start_ms > lim->resolve_deadline_ms) {
			CN_STAT_INC(r->e, limit_deadline);
			CN_STAT_INC(r->e, limit_hits);
			return fail(r, CN_EDE_NO_REACHABLE_AUTHORITY, "resolution deadline passed",
				    FAIL_SILENT, now.wall_s);
		}
		if (!f->have_cut) {
			if (!cut_from_cache(r, f, now.wall_s)) {
				if (!r->primed && r->depth < CN_FRAMES &&
				    !(r->depth == 1 && f->type == CN_TYPE_NS && f->name[0] == 0)) {
					/* priming (RFC 8109) on first need */
					r->primed = true;
					frame_t *p = push_frame(r);
					if (!p)
						return fail(r, CN_EDE_OTHER, "out of memory",
							    FAIL_NOCACHE, 0);
					frame_init(p, (const uint8_t *)"", CN_TYPE_NS, -1);
					p->priming = true;
					cut_from_hints(r, p);
					continue;
				}
				cut_from_hints(r, f);
			}
		}
		if (!f->zone_checked) {
			/* RFC 9520: no server of this zone answered a moment ago */
			f->zone_checked = true;
			cn_failure_t fl;
			if (cn__failcache_zone_failing(r->e, f->zone, now.wall_s, &fl)) {
				char zone[CN_DNAME_STR_MAX];
				name_str(f->zone, zone, sizeof(zone));
				f->zone_cached_fail = true;
				note(r, "no server of %s answered %u s ago", zone,
				     (unsigned)(r->e->conf.servfail_ttl_s - fl.ttl_left_s));
				if (r->depth > 1)
					return frame_done(r, now);
				char msg[CN_DNAME_STR_MAX + 40];
				snprintf(msg, sizeof(msg), "cached failure of %s", zone);
				return fail(r, CN_EDE_NO_REACHABLE_AUTHORITY, msg, FAIL_SILENT,
					    now.wall_s);
			}
		}
		if (r->upstream >= lim->upstream_queries) {
			CN_STAT_INC(r->e, limit_upstream);
			CN_STAT_INC(r->e, limit_hits);
			char msg[64];
			snprintf(msg, sizeof(msg), "upstream query limit (%u) reached",
				 lim->upstream_queries);
			return fail(r, CN_EDE_OTHER, msg, FAIL_BACKOFF, now.wall_s);
		}
		if (choose(r, f, now.mono_ms))
			return produce_query(r, f, now);
		int sub = start_subrequest(r, f, now.wall_s);
		if (sub > 0)
			continue;
		if (retry_timeouts(f))
			continue; /* the same servers again, with longer timeouts (nsel backoff) */
		/* Nothing left to ask at this cut. If none of its servers answered (all silent,
		 * dead, or without an address), remember the zone cut for a moment (RFC 9520):
		 * the next requests below it give up at once instead of waiting again. */
		char zone[CN_DNAME_STR_MAX];
		name_str(f->zone, zone, sizeof(zone));
		bool silent = f->queried && !f->answered;
		if (f->dead_skipped)
			note(r, "%u dead server(s) of %s not asked", f->dead_skipped, zone);
		if (!f->answered && zone_hopeless(r, f, now.mono_ms)) {
			char why[CN_DNAME_STR_MAX + 40];
			snprintf(why, sizeof(why), "%s: %s", zone,
				 f->hopeless == f->nns ? "no server address" : "no server answers");
			cn__failcache_record_zone(r->e, f->zone, why, now.wall_s);
		}
		if (r->depth > 1) {
			note(r, "no usable server for %s", zone);
			return frame_done(r, now);
		}
		char msg[CN_DNAME_STR_MAX + 40];
		snprintf(msg, sizeof(msg), "no reachable authority for %s", zone);
		return fail(r, CN_EDE_NO_REACHABLE_AUTHORITY, msg,
			    silent || f->dead_skipped ? FAIL_SILENT : FAIL_BACKOFF, now.wall_s);
	}
}

/* ------------------------------------------------------------------ consume --------- */

typedef enum reply_kind {
	R_ANSWER,    /* the frame's target answered (positive or negative): frame done */
	R_CONTINUE,  /* go on at the same or a new cut (referral, qmin step, restart) */
	R_BAD,       /* lame or bogus: try another server */
	R_FAIL,      /* the whole request failed (limit) */
} reply_kind_t;

static const cn_rr_t *find_soa(const cn_msg_t *m, const uint8_t *zone, const uint8_t *name)
{
	for (size_t i = m->an; i < m->an + m->ns; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		/* in-zone SOA only: its owner inside the cut, the name inside its zone (A6) */
		if (rr->type == CN_TYPE_SOA && rr->rclass == CN_CLASS_IN &&
		    cn_dname_is_sub(rr->owner, zone) && cn_dname_is_sub(name, rr->owner))
			return rr;
	}
	return NULL;
}

/* A referral: NS RRset in AUTHORITY for a zone strictly below the cut that contains the
 * name asked, without AA. */
static const cn_rr_t *find_referral(const cn_msg_t *m, const frame_t *f)
{
	if (m->flags & CN_FLAG_AA)
		return NULL;
	for (size_t i = m->an; i < m->an + m->ns; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		if (rr->type == CN_TYPE_NS && rr->rclass == CN_CLASS_IN &&
		    cn_dname_is_sub(rr->owner, f->zone) && !cn_dname_eq(rr->owner, f->zone) &&
		    cn_dname_is_sub(f->sent_name, rr->owner))
			return rr;
	}
	return NULL;
}

/* Take the NS RRset at owner (from section sec) as the new cut, with glue from inside the
 * zone that was asked (the old cut). */
static void follow_cut(cn_request_t *r, frame_t *f, const cn_msg_t *m, cn_section_t sec,
		       const uint8_t *owner, cn_rank_t rank, uint64_t now_s)
{
	const cn_rr_t *set[CN_FRAME_NS * 4];
	size_t n = gather(m, sec, owner, CN_TYPE_NS, set, CN_FRAME_NS * 4);
	uint8_t old_zone[CN_DNAME_MAX], cut[CN_DNAME_MAX];
	cn_dname_copy(old_zone, f->zone);
	cn_dname_copy(cut, owner);
	cache_rrset(r, set, n, rank, now_s);
	set_cut(f, cut);
	for (size_t i = 0; i < n; i++)
		cut_add_ns(f, set[i]->rdata);
	for (unsigned k = 0; k < f->nns; k++) {
		ns_entry_t *ns = &f->ns[k];
		if (cn_dname_is_sub(ns->name, old_zone)) {
			static const uint16_t types[2] = { CN_TYPE_A, CN_TYPE_AAAA };
			for (int t = 0; t < 2; t++) {
				const cn_rr_t *glue[CN_NS_ADDRS * 4];
				size_t g = gather(m, CN_SECTION_ADDITIONAL, ns->name, types[t], glue,
						  CN_NS_ADDRS * 4);
				cache_rrset(r, glue, g, CN_RANK_ADDITIONAL, now_s);
				for (size_t j = 0; j < g; j++)
					ns_add_addr(ns, types[t], glue[j]->rdata, glue[j]->rdlen);
			}
		}
		ns_addrs_from_cache(r, ns, now_s);
	}
}

/* Addresses of the NS names of an NS answer (priming: the root servers' addresses), taken
 * from ADDITIONAL only for names inside the zone asked. */
static void cache_glue(cn_request_t *r, const frame_t *f, const cn_msg_t *m,
		       const cn_rr_t *const *ns, size_t n, uint64_t now_s)
{
	static const uint16_t types[2] = { CN_TYPE_A, CN_TYPE_AAAA };
	for (size_t i = 0; i < n; i++) {
		if (cn_dname_check(ns[i]->rdata, ns[i]->rdlen) <= 0 ||
		    !cn_dname_is_sub(ns[i]->rdata, f->zone))
			continue;
		for (int t = 0; t < 2; t++) {
			const cn_rr_t *glue[CN_NS_ADDRS * 4];
			size_t g = gather(m, CN_SECTION_ADDITIONAL, ns[i]->rdata, types[t], glue,
					  CN_NS_ADDRS * 4);
			cache_rrset(r, glue, g, CN_RANK_ADDITIONAL, now_s);
		}
	}
}

/* Positive or negative end of frame 0: record the result. */
static reply_kind_t final_negative(cn_request_t *r, frame_t *f, const cn_msg_t *m,
				   const uint8_t *name, bool nxdomain, cn_rank_t rank,
				   uint64_t now_s)
{
	const cn_rr_t *soa = find_soa(m, f->zone, name);
	cache_negative(r, name, f->type, nxdomain, soa, rank, now_s);
	f->nxdomain = nxdomain && cn_dname_eq(name, f->name);
	if (r->depth == 1) {
		r->result.rcode = nxdomain ? CN_RCODE_NXDOMAIN : CN_RCODE_NOERROR;
		if (soa && keep_rr(r, soa, &r->result.soa) == 0) {
			uint32_t minimum;
			r->result.has_soa = true;
			if (cn_rdata_soa_minimum(soa->rdata, soa->rdlen, &minimum) == 0 &&
			    minimum < r->result.soa.ttl)
				r->result.soa.ttl = minimum;
		}
	}
	return R_ANSWER;
}

/* Restart frame 0 (or a sub-request) at a new target after a CNAME/DNAME. */
/* The restart was counted by the caller when it followed the CNAME. */
static reply_kind_t restart(cn_request_t *r, frame_t *f, const uint8_t *target, cn_time_t now)
{
	if (f->priming)
		return R_BAD; /* ". NS" answered with a CNAME or DNAME: a bogus root server */
	uint8_t name[CN_DNAME_MAX];
	cn_dname_copy(name, target);
	uint16_t type = f->type;
	int parent_ns = f->parent_ns;
	frame_init(f, name, type, parent_ns);
	if (r->depth == 1 && answer_from_cache(r, f, now))
		return R_ANSWER;
	return R_CONTINUE;
}

/* DNAME substitution (RFC 6672 2.2): name = prefix . owner  ->  prefix . target. */
static int dname_subst(const uint8_t *name, const uint8_t *owner, const uint8_t *target,
		       uint8_t *out)
{
	int skip = cn_dname_labels(name) - cn_dname_labels(owner);
	size_t plen = (size_t)(cn_dname_skip(name, skip) - name);
	size_t tlen = cn_dname_len(target);
	if (plen + tlen > CN_DNAME_MAX)
		return CN_ENAMELEN;
	memcpy(out, name, plen);
	memcpy(out + plen, target, tlen);
	return 0;
}

/* Act on the answer to the full question (sent_name == target, sent_type == type). */
static reply_kind_t on_full_answer(cn_request_t *r, frame_t *f, const cn_msg_t *m,
				   cn_time_t now)
{
	bool aa = m->flags & CN_FLAG_AA;
	cn_rank_t rank = aa ? CN_RANK_AUTH_ANSWER : CN_RANK_NONAUTH_ANSWER;
	uint8_t name[CN_DNAME_MAX];
	cn_dname_copy(name, f->name);
	static _Thread_local const cn_rr_t *set[CN_ANSWER_MAX_RRS];
	for (unsigned hops = 0; hops <= r->e->conf.limits.cname_chain; hops++) {
		/* Scrub: nothing outside the zone that was asked is believed. */
		if (!cn_dname_is_sub(name, f->zone))
			return restart(r, f, name, now);
		/* C6: the whole RRset is counted, however large (gather stops at its max) */
		size_t n = gather(m, CN_SECTION_ANSWER, name, f->type, NULL, SIZE_MAX);
		if (n > 0) {
			if (n > r->e->conf.limits.rrset_records || n > CN_ANSWER_MAX_RRS) {
				note(r, "RRset of %zu records, more than limits.rrset_records %u", n,
				     r->e->conf.limits.rrset_records);
				return R_FAIL;
			}
			n = gather(m, CN_SECTION_ANSWER, name, f->type, set, CN_ANSWER_MAX_RRS);
			uint32_t cap = UINT32_MAX;
			if (f->type == CN_TYPE_NS && cn_dname_eq(name, f->zone))
				cap = delegation_ttl_left(r, f, now.wall_s); /* ghost domains */
			if (cap > 0)
				cache_rrset_capped(r, set, n, rank, cap, now.wall_s);
			else
				r->cacheable = false;
			if (f->type == CN_TYPE_NS)
				cache_glue(r, f, m, set, n, now.wall_s);
			if (r->depth == 1) {
				for (size_t i = 0; i < n; i++) {
					if (result_add(r, set[i]) != 0)
						return R_FAIL;
					cn_rr_t *kept = &r->result.an[r->result.nan - 1];
					if (kept->ttl > cap)
						kept->ttl = cap;
				}
				r->result.rcode = CN_RCODE_NOERROR;
			}
			return R_ANSWER;
		}
		const cn_rr_t *cname = NULL;
		uint8_t next[CN_DNAME_MAX];
		/* A DNAME above name inside the zone comes first (RFC 6672 3.2): the
		 * server's synthesised CNAME is not needed, cairn synthesises its own. */
		for (size_t i = 0; i < m->an && !cname; i++) {
			const cn_rr_t *d = &m->rrs[i];
			if (d->type != CN_TYPE_DNAME || d->rclass != CN_CLASS_IN ||
			    !cn_dname_is_sub(name, d->owner) || cn_dname_eq(name, d->owner) ||
			    !cn_dname_is_sub(d->owner, f->zone))
				continue;
			if (dname_subst(name, d->owner, d->rdata, next) != 0) {
				if (r->depth == 1) {
					r->result.rcode = CN_RCODE_YXDOMAIN; /* RFC 6672 2.2 */
					if (result_add(r, d) != 0)
						return R_FAIL;
				}
				r->cacheable = false;
				return R_ANSWER;
			}
			cname = d;
			const cn_rr_t *one[1] = { d };
			cache_rrset(r, one, 1, rank, now.wall_s);
			if (r->depth == 1) {
				/* the synthesised CNAME (RFC 6672 3.1), TTL of the DNAME */
				cn_rr_t syn = { .owner = name, .rdata = next, .ttl = d->ttl,
						.type = CN_TYPE_CNAME, .rclass = CN_CLASS_IN,
						.rdlen = (uint16_t)cn_dname_len(next),
						.section = CN_SECTION_ANSWER };
				if (result_add(r, d) != 0 || result_add(r, &syn) != 0)
					return R_FAIL;
			}
		}
		if (!cname && gather(m, CN_SECTION_ANSWER, name, CN_TYPE_CNAME, set, 2) == 1) {
			cname = set[0];
			cache_rrset(r, set, 1, rank, now.wall_s);
			if (cn_dname_check(cname->rdata, cname->rdlen) <= 0)
				return R_BAD;
			cn_dname_copy(next, cname->rdata);
			if (r->depth == 1 && result_add(r, cname) != 0)
				return R_FAIL;
		}
		if (!cname) {
			if (CN_RCODE(m->flags) == CN_RCODE_YXDOMAIN)
				return R_BAD; /* YXDOMAIN without the DNAME that explains it */
			if (cn_dname_eq(name, f->name) && !aa && !find_soa(m, f->zone, name))
				return R_BAD; /* neither answer nor authoritative negative: lame */
			if (!cn_dname_eq(name, f->name)) {
				/* chain left inside this reply: believe the RCODE only with an SOA */
				if (!find_soa(m, f->zone, name))
					return restart(r, f, name, now);
			}
			bool nx = CN_RCODE(m->flags) == CN_RCODE_NXDOMAIN;
			return final_negative(r, f, m, name, nx, aa ? CN_RANK_AUTH_AUTHORITY
								    : CN_RANK_ADDITIONAL, now.wall_s);
		}
		if (f->type == CN_TYPE_CNAME)
			return R_ANSWER;
		if (++r->restarts > r->e->conf.limits.cname_chain) {
			CN_STAT_INC(r->e, limit_cname);
			CN_STAT_INC(r->e, limit_hits);
			note(r, "CNAME chain longer than %u", r->e->conf.limits.cname_chain);
			return R_FAIL;
		}
		if (cn_dname_eq(next, name) || in_stack(r, next) || cn_dname_eq(next, r->q.qname)) {
			note(r, "CNAME loop");
			return R_FAIL;
		}
		cn_dname_copy(name, next);
	}
	note(r, "CNAME chain longer than %u", r->e->conf.limits.cname_chain);
	return R_FAIL;
}

/* Act on the answer to a minimised question (an ancestor of the target, type NS). */
static reply_kind_t on_qmin_answer(cn_request_t *r, frame_t *f, const cn_msg_t *m,
				   cn_time_t now)
{
	bool aa = m->flags & CN_FLAG_AA;
	const cn_rr_t *set[4];
	if (CN_RCODE(m->flags) == CN_RCODE_NXDOMAIN) {
		/* RFC 8020: nothing exists below a name that does not exist. */
		if (!find_soa(m, f->zone, f->sent_name)) {
			f->qmin_off = true; /* unproven: ask the full name instead */
			return R_CONTINUE;
		}
		const cn_rr_t *soa = find_soa(m, f->zone, f->sent_name);
		cache_negative(r, f->sent_name, 0, true, soa, CN_RANK_AUTH_AUTHORITY, now.wall_s);
		return final_negative(r, f, m, f->name, true, CN_RANK_AUTH_AUTHORITY, now.wall_s);
	}
	if (gather(m, CN_SECTION_ANSWER, f->sent_name, CN_TYPE_NS, set, 4) > 0 && aa) {
		/* the same servers are authoritative for the child: a cut without a referral */
		follow_cut(r, f, m, CN_SECTION_ANSWER, f->sent_name, CN_RANK_AUTH_ANSWER, now.wall_s);
		return R_CONTINUE;
	}
	if (m->an > 0) {
		/* a CNAME or something unexpected at an ancestor: stop minimising */
		f->qmin_off = true;
		return R_CONTINUE;
	}
	const cn_rr_t *soa = find_soa(m, f->zone, f->sent_name);
	if (aa || soa) {
		/* not a cut (or an empty non-terminal): one label more. Remembered as NODATA
		 * for (name, NS), so the next name below it skips this step (next_question);
		 * it says nothing about the client's answer, so it leaves cacheable alone. */
		if (soa) {
			bool cacheable = r->cacheable;
			cache_negative(r, f->sent_name, CN_TYPE_NS, false, soa,
				       CN_RANK_AUTH_AUTHORITY, now.wall_s);
			r->cacheable = cacheable;
		}
		f->qmin_labels++;
		return R_CONTINUE;
	}
	return R_BAD;
}

static reply_kind_t classify_and_act(cn_request_t *r, frame_t *f, const cn_msg_t *m,
				     cn_time_t now)
{
	uint16_t rcode = CN_RCODE(m->flags);
	const cn_rr_t *ref = find_referral(m, f);
	if (ref && m->an == 0 && rcode == CN_RCODE_NOERROR) {
		if (++r->referrals > r->e->conf.limits.referral_depth) {
			CN_STAT_INC(r->e, limit_referral);
			CN_STAT_INC(r->e, limit_hits);
			note(r, "referral limit (%u) reached", r->e->conf.limits.referral_depth);
			return R_FAIL;
		}
		uint8_t owner[CN_DNAME_MAX];
		cn_dname_copy(owner, ref->owner);
		follow_cut(r, f, m, CN_SECTION_AUTHORITY, owner, CN_RANK_ADDITIONAL, now.wall_s);
		return R_CONTINUE;
	}
	if (!cn_dname_eq(f->sent_name, f->name))
		return on_qmin_answer(r, f, m, now);
	return on_full_answer(r, f, m, now);
}

/* A server failed this query: remember why and go on with the next one. */
static void server_failed(cn_request_t *r, cn_nsel_error_t err, const char *why, cn_time_t now)
{
	struct sockaddr_storage ss;
	addr_to_ss(cur_server(r), &ss);
	char a[64];
	addr_str(&ss, a, sizeof(a));
	note(r, "%s %s", a, why);
	cn__nsel_report_error(r->e->nsel, &ss, err, now.mono_ms);
}

static cn_state_t consume(cn_request_t *r, cn_upstream_event_t ev, const uint8_t *reply,
			  size_t len, unsigned rtt_ms, cn_time_t now)
{
	frame_t *f = top(r);
	ns_addr_t *ad = &f->ns[f->cur_ns].addr[f->cur_addr];
	ad->tried = true;
	struct sockaddr_storage ss;
	addr_to_ss(ad, &ss);
	switch (ev) {
	case CN_UP_TIMEOUT:
		CN_STAT_INC(r->e, upstream_timeouts);
		ad->timeouts++;
		server_failed(r, CN_NSEL_TIMEOUT, "timed out", now);
		return step(r, now);
	case CN_UP_NETWORK_ERROR:
		server_failed(r, CN_NSEL_NETERR, "unreachable", now);
		return step(r, now);
	case CN_UP_CASE_MISMATCH:
		/* Only replies with the wrong case came: ask it again without case mixing, in
		 * this request only; a server doing this for several queries in a row is marked
		 * (nsel.c). Once per address and request. */
		if (ad->no_0x20) {
			server_failed(r, CN_NSEL_LAME, "echoed the wrong case", now);
			return step(r, now);
		}
		cn__nsel_case_failure(r->e->nsel, &ss, now.mono_ms);
		ad->no_0x20 = true;
		ad->tried = false;
		return step(r, now);
	case CN_UP_REPLY:
		break;
	}
	cn_arena_reset(&r->arena);
	/* Undo 0x20 before parsing: the reply's question holds the case-mixed name we sent
	 * (net matched it byte for byte), and a server compresses the names of its records
	 * against it. Writing the plain name back there keeps the random case out of what is
	 * cached and of what clients see. */
	size_t qlen = cn_dname_len(f->sent_name);
	uint8_t *copy = len >= CN_HEADER_LEN + qlen ? cn_arena_dup(&r->arena, reply, len) : NULL;
	if (copy) {
		uint8_t mixed[CN_DNAME_MAX];
		memcpy(mixed, copy + CN_HEADER_LEN, qlen);
		if (cn_dname_check(mixed, qlen) == (int)qlen && cn_dname_eq(mixed, f->sent_name))
			memcpy(copy + CN_HEADER_LEN, f->sent_name, qlen);
		reply = copy;
	}
	cn_msg_t m;
	if (cn_msg_parse(reply, len, &r->arena, &m) != 0 || !m.has_question) {
		server_failed(r, CN_NSEL_MALFORMED, "sent a malformed reply", now);
		return step(r, now);
	}
	f->answered = true; /* alive, whatever it says */
	cn_nsel_info_t was;
	cn__nsel_info(r->e->nsel, &ss, now.mono_ms, &was);
	if (was.dead) /* a probe came back: the zone is not failing any more (RFC 9520) */
		cn__failcache_clear_zone(r->e, f->zone);
	uint16_t rcode = CN_RCODE(m.flags);
	if (rcode == CN_RCODE_FORMERR && r->sent_edns && !m.edns.present) {
		/* RFC 6891 7: retry without EDNS, remembered for this server only */
		cn__nsel_set_no_edns(r->e->nsel, &ss, now.mono_ms);
		ad->tried = false;
		return step(r, now);
	}
	if (rcode != CN_RCODE_NOERROR && rcode != CN_RCODE_NXDOMAIN &&
	    rcode != CN_RCODE_YXDOMAIN) {
		char why[32];
		snprintf(why, sizeof(why), "answered RCODE %u", rcode);
		server_failed(r, CN_NSEL_LAME, why, now);
		return step(r, now);
	}
	cn__nsel_report_rtt(r->e->nsel, &ss, rtt_ms, now.mono_ms);
	switch (classify_and_act(r, f, &m, now)) {
	case R_ANSWER:
		return frame_done(r, now);
	case R_CONTINUE:
		/* progress was made (new cut, longer qname, restart): every server of the cut
		 * may be asked the next question */
		reset_tried(top(r));
		return step(r, now);
	case R_BAD:
		server_failed(r, CN_NSEL_LAME, "sent a lame or bogus reply", now);
		return step(r, now);
	case R_FAIL:
	default:
		return fail(r, CN_EDE_OTHER, "resolution failed", FAIL_BACKOFF, now.wall_s);
	}
}

cn_state_t cn_resolve_consume(cn_request_t *r, cn_upstream_event_t ev, const uint8_t *reply,
			      size_t len, unsigned rtt_ms, cn_time_t now)
{
	if (r->done || r->depth == 0 || top(r)->cur_ns < 0)
		return CN_DONE;
	r->scratch = tl_scratch;
	cn_state_t st = consume(r, ev, reply, len, rtt_ms, now);
	if (st == CN_DONE)
		r->done_wall_s = now.wall_s; /* TTLs in the result count down from here */
	return st;
}

/* ------------------------------------------------------------------ public API ------ */

cn_request_t *cn_request_new(cn_engine_t *e)
{
	cn_request_t *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->e = e;
	cn_arena_init(&r->arena, 8192);  /* one reply at a time */
	cn_arena_init(&r->keep, 2048);   /* the result's records */
	return r;
}

void cn_request_free(cn_request_t *r)
{
	if (!r)
		return;
	cn_arena_deinit(&r->arena);
	cn_arena_deinit(&r->keep);
	for (int i = 0; i < CN_FRAMES; i++)
		free(r->fr[i]);
	free(r);
}

unsigned cn_request_upstream_count(const cn_request_t *r)
{
	return r->upstream;
}

cn_state_t cn_resolve_begin(cn_request_t *r, const cn_question_t *q, cn_time_t now)
{
	r->q = *q;
	r->scratch = tl_scratch;
	r->start_ms = now.mono_ms;
	r->cacheable = true;
	r->depth = 0;
	frame_t *f0 = push_frame(r);
	if (!f0) {
		r->done = true;
		r->cacheable = false;
		r->result.rcode = CN_RCODE_SERVFAIL;
		r->result.has_ede = true;
		r->result.ede_code = CN_EDE_OTHER;
		snprintf(r->result.ede_text, sizeof(r->result.ede_text), "out of memory");
		r->done_wall_s = now.wall_s;
		return CN_DONE;
	}
	frame_init(f0, q->qname, q->qtype, -1);
	cn_dname_lower(f0->name);
	if (answer_from_cache(r, f0, now)) {
		r->done = true;
		r->done_wall_s = now.wall_s;
		return CN_DONE;
	}
	cn_state_t st = step(r, now);
	if (st == CN_DONE)
		r->done_wall_s = now.wall_s;
	return st;
}

int cn_resolve_produce(cn_request_t *r, cn_upstream_query_t *up)
{
	if (r->done || r->depth == 0 || top(r)->cur_ns < 0)
		return -EINVAL;
	*up = r->up;
	return 0;
}

size_t cn_resolve_answer(cn_request_t *r, const cn_question_t *q, cn_time_t now,
			 uint8_t *out, size_t cap, cn_outcome_t *outcome)
{
	if (!r->done || r->result.rcode == CN_RCODE_SERVFAIL) {
		size_t len;
		if (cn__answer_stale(r->e, q, now, out, cap, &len) == 1) {
			*outcome = CN_OUT_CACHE_STALE;
			return len;
		}
		cn__count_miss(r->e, q, true);
		*outcome = CN_OUT_SERVFAIL;
		const char *text = r->done ? r->result.ede_text : "resolution unfinished";
		uint16_t code = r->done ? r->result.ede_code : CN_EDE_NO_REACHABLE_AUTHORITY;
		return cn__answer_error(q, CN_RCODE_SERVFAIL, code, text, r->e->conf.edns_udp_size,
					out, cap);
	}
	/* TTLs count down from when the resolution finished. */
	uint32_t elapsed = now.wall_s > r->done_wall_s ? (uint32_t)(now.wall_s - r->done_wall_s)
						      : 0;
	cn_result_t *res = &r->result;
	for (size_t i = 0; i < res->nan; i++)
		res->an[i].ttl = res->an[i].ttl > elapsed ? res->an[i].ttl - elapsed : 0;
	if (res->has_soa)
		res->soa.ttl = res->soa.ttl > elapsed ? res->soa.ttl - elapsed : 0;
	r->done_wall_s = now.wall_s;
	cn__count_miss(r->e, q, !r->cacheable);
	/* each waiter has its own ID, RD/CD, size limit and qname case */
	*outcome = CN_OUT_RESOLVED;
	return cn__answer_write(q, res, r->e->conf.edns_udp_size, out, cap);
}
