/*
 * The resolution driver: RFC 1034 5.3.3 iteration as an explicit state machine that net
 * feeds (cn_resolve_begin / produce / consume / answer). No sockets, no clock reads.
 *
 * A request resolves one question. It keeps a small stack of frames: frame 0 resolves the
 * client's question (its target changes when a CNAME or DNAME restarts it); the frames above
 * it resolve what the frame below needs and cannot find in the cache — the root NS set
 * (priming, on first need) or the address of a glueless NS name (a sub-request). Each frame
 * holds its current zone cut (cn_cut_state_t says how far it got with it): the zone, up to
 * CN_FRAME_NS NS names and their addresses.
 *
 * This file knows *when*: the states, the stack, the request's limits, failure and its
 * memory (RFC 9520). The files it calls know *how*: zonecut.c finds the cut, its servers and
 * sub-requests and chooses whom to ask; iterate.c builds the query and acts on a reply that
 * classify.c has classified; scrub.c decides what of it is cached. Every limit in cn_limits_t
 * is enforced in one of them and counted in the engine's stats; a failure ends in SERVFAIL
 * with an Extended DNS Error (RFC 8914) saying which limit or which servers.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/errors.h"
#include "resolver/internal.h"

/* Cache values are read into a per-thread buffer (CN_SCRATCH_LEN, internal.h). */
static _Thread_local uint8_t tl_scratch[CN_SCRATCH_LEN];

/* ------------------------------------------------------------------ small helpers --- */

void cn__resolve_note(cn_request_t *r, const char *fmt, ...)
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

void cn__resolve_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf,
			  (socklen_t)len);
}

void cn__resolve_name_str(const uint8_t *name, char *buf, size_t len)
{
	if (cn_dname_to_str(name, buf, len) < 0)
		snprintf(buf, len, "(name)");
}

cn_frame_t *cn__resolve_push(cn_request_t *r)
{
	if (r->depth >= CN_FRAMES)
		return NULL;
	if (!r->fr[r->depth] && !(r->fr[r->depth] = malloc(sizeof(cn_frame_t))))
		return NULL;
	return r->fr[r->depth++];
}

void cn__resolve_frame_init(cn_frame_t *f, cn_frame_kind_t kind, const uint8_t *name,
			    uint16_t type, int parent_ns)
{
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->cut = CN_CUT_NONE;
	cn_dname_copy(f->name, name);
	f->type = type;
	f->parent_ns = parent_ns;
	f->cur_ns = f->cur_addr = -1;
}

bool cn__resolve_in_stack(const cn_request_t *r, const uint8_t *name)
{
	for (int i = 0; i < r->depth; i++)
		if (cn_dname_eq(r->fr[i]->name, name))
			return true;
	return false;
}

int cn__resolve_keep_rr(cn_request_t *r, const cn_rr_t *src, cn_rr_t *dst)
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

/* Append a copy of rr to the record list *v (n used, *cap slots, doubled in the request's
 * arena when full). */
static int list_add(cn_request_t *r, cn_rr_t **v, size_t *n, size_t *cap, const cn_rr_t *rr)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		cn_rr_t *nv = cn_arena_alloc(&r->keep, c * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		if (*n)
			memcpy(nv, *v, *n * sizeof(*nv));
		*v = nv;
		*cap = c;
	}
	return cn__resolve_keep_rr(r, rr, &(*v)[(*n)++]);
}

int cn__resolve_result_add(cn_request_t *r, const cn_rr_t *rr)
{
	cn_result_t *res = &r->result;
	if (res->nan >= CN_ANSWER_MAX_RRS)
		return CN_ELIMIT;
	return list_add(r, &res->an, &res->nan, &res->an_cap, rr);
}

int cn__resolve_sec_add(cn_request_t *r, const cn_rr_t *rr)
{
	cn_result_t *res = &r->result;
	for (size_t i = 0; i < res->nsec; i++)
		if (res->sec[i].section == rr->section && cn__scrub_same_rr(&res->sec[i], rr))
			return 0;
	if (res->nsec >= CN_RESULT_SEC_MAX)
		return 0; /* more than a client answer carries: the rest is left out */
	return list_add(r, &res->sec, &res->nsec, &res->sec_cap, rr);
}

/* The DNSSEC records of an answer taken from the cache, into the request's result. */
static bool sec_from(cn_request_t *r, const cn_result_t *tmp)
{
	for (size_t i = 0; i < tmp->nsec; i++)
		if (cn__resolve_sec_add(r, &tmp->sec[i]) < 0)
			return false;
	return true;
}

int cn__resolve_result_add_new(cn_request_t *r, const cn_rr_t *rr, size_t upto)
{
	for (size_t i = 0; i < upto && i < r->result.nan; i++)
		if (cn__scrub_same_rr(&r->result.an[i], rr))
			return 1;
	int ret = cn__resolve_result_add(r, rr);
	return ret < 0 ? ret : 0;
}

/* The answer of a frame whose target just changed, looked up in the cache. */
static _Thread_local cn_rr_t tl_rrs[CN_ANSWER_MAX_RRS];
static _Thread_local cn_rr_t tl_sec[CN_RESULT_SEC_MAX];
static _Thread_local cn_result_t tl_result;

/* The cache holds only the start of the chain from f's target (CNAMEs, CNAMEs synthesised
 * from a cached DNAME, RFC 6672 3.4): put it in the result and restart f where it ends,
 * so the owners' zones are not asked again. Each hop counts against cname_chain. */
static void partial_chain(cn_request_t *r, cn_frame_t *f, const cn_result_t *tmp)
{
	unsigned hops = 0;
	for (size_t i = 0; i < tmp->nan; i++)
		hops += tmp->an[i].type == CN_TYPE_CNAME;
	const cn_rr_t *last = tmp->nan ? &tmp->an[tmp->nan - 1] : NULL;
	if (!last || last->type != CN_TYPE_CNAME || f->type == CN_TYPE_CNAME ||
	    r->restarts + hops > r->e->conf.limits.cname_chain ||
	    cn_dname_check(last->rdata, last->rdlen) <= 0 ||
	    cn__resolve_in_stack(r, last->rdata) || cn_dname_eq(last->rdata, r->q.qname))
		return; /* nothing cached, or a chain the resolution itself must judge */
	size_t before = r->result.nan;
	for (size_t i = 0; i < tmp->nan; i++)
		if (cn__resolve_result_add_new(r, &tmp->an[i], before) < 0) {
			r->result.nan = before;
			return;
		}
	(void)sec_from(r, tmp);
	r->restarts += hops;
	uint8_t target[CN_DNAME_MAX];
	cn_dname_copy(target, last->rdata);
	cn__resolve_frame_init(f, f->kind, target, f->type, f->parent_ns);
}

bool cn__resolve_from_cache(cn_request_t *r, cn_frame_t *f, bool validated, cn_time_t now)
{
	cn_result_t *tmp = &tl_result; /* copied into the request before the call returns */
	cn__result_init(tmp, tl_rrs, CN_ANSWER_MAX_RRS, tl_sec, CN_RESULT_SEC_MAX);
	bool stale, found = false;
	uint32_t left, orig;
	cn_cache_miss_t miss;
	if (cn__answer_from_cache(r->cache, f->name, f->type, now.wall_s,
				  validated ? CN_ANSWER_VALIDATED : 0,
				  r->e->conf.limits.cname_chain - r->restarts, r->scratch,
				  CN_SCRATCH_LEN, tmp, &stale, &left, &orig, &miss) == 0) {
		found = true;
		size_t before = r->result.nan;
		for (size_t i = 0; i < tmp->nan && found; i++)
			found = cn__resolve_result_add_new(r, &tmp->an[i], before) >= 0;
		r->result.rcode = tmp->rcode;
		r->result.dnssec = tmp->dnssec;
		found = found && sec_from(r, tmp);
		if (found && tmp->has_soa) {
			found = cn__resolve_keep_rr(r, &tmp->soa, &r->result.soa) == 0;
			r->result.has_soa = true;
		}
	} else {
		partial_chain(r, f, tmp);
	}
	return found;
}

/* ------------------------------------------------------------------ endings --------- */

cn_state_t cn__resolve_fail(cn_request_t *r, uint16_t ede, const char *what,
			    cn_fail_memory_t mem, uint64_t now_s)
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
	if (mem != CN_FAIL_NOCACHE && !r->q.view) { /* a view's failures stay out of the
							shared failure cache */
		uint32_t ttl = cn__failcache_record(r->e, r->q.qname, r->q.qtype,
						    mem == CN_FAIL_BACKOFF, ede, t, now_s);
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
	cn_frame_t *f = cn__resolve_top(r);
	if (f->kind == CN_FRAME_KEY) { /* a key validation needed: validate again */
		r->depth--;
		return frame_done(r, now);
	}
	if (r->depth == 1) {
		if (r->validate && cn__validate(r, now) == CN_VAL_FETCH)
			return step(r, now); /* the key frame pushed on top */
		r->done = true;
		if (!r->q.view)
			cn__failcache_clear(r->e, r->q.qname, r->q.qtype); /* backoff restarts */
		return CN_DONE;
	}
	if (f->kind != CN_FRAME_NS_ADDR) {
		r->depth--;
		/* priming done: look again, the root NS set is in the cache now */
		cn__resolve_top(r)->cut = CN_CUT_NONE;
		return step(r, now);
	}
	cn_frame_t *p = r->fr[r->depth - 2];
	cn_ns_entry_t *ns = &p->ns[f->parent_ns];
	cn__zonecut_ns_lookup(r, ns, now.wall_s);
	if (ns->naddr == 0 && f->type == CN_TYPE_A && r->e->conf.do_ip6 && !f->nxdomain) {
		/* no IPv4 address: try the IPv6 one before giving up on this NS name (not when
		 * the name does not exist: NXNS, B1 in docs/attacks.md, would get twice the queries) */
		uint8_t name[CN_DNAME_MAX];
		cn_dname_copy(name, f->name);
		cn__resolve_frame_init(f, CN_FRAME_NS_ADDR, name, CN_TYPE_AAAA, f->parent_ns);
		return step(r, now);
	}
	r->depth--;
	ns->state = ns->naddr ? CN_NS_KNOWN : CN_NS_FAILED;
	return step(r, now);
}

/* ------------------------------------------------------------------ the step -------- */

/* CN_CUT_NONE: the closest cut in the cache; with none at all, prime (RFC 8109) on first
 * need — push a frame asking the hints' servers for ". NS" — or use the hints. Returns
 * 1 when a priming frame was pushed, 0 when f has its cut, -1 when out of memory. */
static int find_cut(cn_request_t *r, cn_frame_t *f, uint64_t now_s)
{
	/* Forward zone: its servers answer for everything below. Stub zone: iterate from its
	 * servers, or from a cut cached below its apex (learnt from them). */
	const cn_fwdzone_t *z = cn__zonecut_fwd_for(r->e, f);
	if (z && !z->stub) {
		cn__zonecut_from_fwd(f, z);
		return 0;
	}
	if (cn__zonecut_from_cache(r, f, now_s)) {
		if (!z || (cn_dname_is_sub(f->zone, z->name) && !cn_dname_eq(f->zone, z->name)))
			return 0;
	}
	if (z) {
		cn__zonecut_from_fwd(f, z);
		return 0;
	}
	if (!r->primed && r->depth < CN_FRAMES &&
	    !(r->depth == 1 && f->type == CN_TYPE_NS && f->name[0] == 0)) {
		r->primed = true;
		cn_frame_t *p = cn__resolve_push(r);
		if (!p)
			return -1;
		cn__resolve_frame_init(p, CN_FRAME_PRIMING, (const uint8_t *)"", CN_TYPE_NS, -1);
		cn__zonecut_from_hints(r, p);
		return 1;
	}
	cn__zonecut_from_hints(r, f);
	return 0;
}

/* CN_CUT_NEW: did no server of this zone answer a moment ago (RFC 9520)? Then the frame
 * gives up at once: returns true with *st set. */
static bool cut_failing(cn_request_t *r, cn_frame_t *f, cn_time_t now, cn_state_t *st)
{
	f->cut = CN_CUT_OPEN;
	cn_failure_t fl;
	if (r->q.view || !cn__failcache_zone_failing(r->e, f->zone, now.wall_s, &fl))
		return false;
	char zone[CN_DNAME_STR_MAX];
	cn__resolve_name_str(f->zone, zone, sizeof(zone));
	cn__resolve_note(r, "no server of %s answered %u s ago", zone,
			 (unsigned)(r->e->conf.servfail_ttl_s - fl.ttl_left_s));
	if (r->depth > 1) {
		*st = frame_done(r, now);
		return true;
	}
	char msg[CN_DNAME_STR_MAX + 40];
	snprintf(msg, sizeof(msg), "cached failure of %s", zone);
	*st = cn__resolve_fail(r, CN_EDE_NO_REACHABLE_AUTHORITY, msg, CN_FAIL_SILENT,
			       now.wall_s);
	return true;
}

/* Nothing left to ask at this cut. If none of its servers answered (all silent, dead, or
 * without an address), remember the zone cut for a moment (RFC 9520): the next requests
 * below it give up at once instead of waiting again. */
static cn_state_t out_of_servers(cn_request_t *r, cn_frame_t *f, cn_time_t now)
{
	char zone[CN_DNAME_STR_MAX];
	cn__resolve_name_str(f->zone, zone, sizeof(zone));
	bool answered = f->cut == CN_CUT_ANSWERED;
	bool silent = f->cut == CN_CUT_ASKED;
	if (f->dead_skipped)
		cn__resolve_note(r, "%u dead server(s) of %s not asked", f->dead_skipped, zone);
	if (!answered && cn__zonecut_hopeless(r, f, now.mono_ms)) {
		char why[CN_DNAME_STR_MAX + 40];
		snprintf(why, sizeof(why), "%s: %s", zone,
			 f->hopeless == f->nns ? "no server address" : "no server answers");
		if (!r->q.view)
			cn__failcache_record_zone(r->e, f->zone, why, now.wall_s);
	}
	if (r->depth > 1) {
		cn__resolve_note(r, "no usable server for %s", zone);
		return frame_done(r, now);
	}
	char msg[CN_DNAME_STR_MAX + 40];
	snprintf(msg, sizeof(msg), "no reachable authority for %s", zone);
	return cn__resolve_fail(r, CN_EDE_NO_REACHABLE_AUTHORITY, msg,
				silent || f->dead_skipped ? CN_FAIL_SILENT : CN_FAIL_BACKOFF,
				now.wall_s);
}

/* Run the top frame until it needs a reply (CN_PRODUCE) or the request is over. */
static cn_state_t step(cn_request_t *r, cn_time_t now)
{
	const cn_limits_t *lim = &r->e->conf.limits;
	for (;;) {
		cn_frame_t *f = cn__resolve_top(r);
		if (now.mono_ms - r->start_ms > lim->resolve_deadline_ms) {
			CN_STAT_INC(r->e, limit_deadline);
			CN_STAT_INC(r->e, limit_hits);
			return cn__resolve_fail(r, CN_EDE_NO_REACHABLE_AUTHORITY,
						"resolution deadline passed", CN_FAIL_SILENT,
						now.wall_s);
		}
		if (f->cut == CN_CUT_NONE) {
			int ret = find_cut(r, f, now.wall_s);
			if (ret < 0)
				return cn__resolve_fail(r, CN_EDE_OTHER, "out of memory",
							CN_FAIL_NOCACHE, 0);
			if (ret > 0)
				continue; /* the priming frame is on top */
		}
		cn_state_t st;
		if (f->cut == CN_CUT_NEW && cut_failing(r, f, now, &st))
			return st;
		if (r->upstream >= lim->upstream_queries) {
			CN_STAT_INC(r->e, limit_upstream);
			CN_STAT_INC(r->e, limit_hits);
			char msg[64];
			snprintf(msg, sizeof(msg), "upstream query limit (%u) reached",
				 lim->upstream_queries);
			return cn__resolve_fail(r, CN_EDE_OTHER, msg, CN_FAIL_BACKOFF, now.wall_s);
		}
		if (cn__zonecut_choose(r, f, now.mono_ms))
			return cn__iterate_query(r, f, now);
		if (cn__zonecut_subrequest(r, f, now.wall_s) > 0)
			continue;
		if (cn__zonecut_parent_side(r, f, now.wall_s))
			continue; /* the parent's glue for names whose own addresses failed */
		if (cn__zonecut_retry_timeouts(f))
			continue; /* the same servers again, with longer timeouts (nsel backoff) */
		if (cn__zonecut_last_resort(r, f, now.wall_s))
			continue; /* root hints, or the parent asked again for fresh glue */
		return out_of_servers(r, f, now);
	}
}

/* ------------------------------------------------------------------ consume --------- */

/* A server failed this query: remember why and go on with the next one. */
static cn_state_t server_failed(cn_request_t *r, cn_nsel_error_t err, const char *why,
				cn_time_t now)
{
	cn_frame_t *f = cn__resolve_top(r);
	struct sockaddr_storage ss;
	cn__zonecut_addr_ss(&f->ns[f->cur_ns].addr[f->cur_addr], &ss);
	char a[64];
	cn__resolve_addr_str(&ss, a, sizeof(a));
	cn__resolve_note(r, "%s %s", a, why);
	cn__nsel_report_error(r->e->nsel, &ss, err, now.mono_ms);
	return step(r, now);
}

/* No reply: a timeout, a network error, or only replies with the wrong letter case. */
static cn_state_t on_no_reply(cn_request_t *r, cn_ns_addr_t *ad, cn_upstream_event_t ev,
			      cn_time_t now)
{
	switch (ev) {
	case CN_UP_TIMEOUT:
		CN_STAT_INC(r->e, upstream_timeouts);
		ad->timeouts++;
		return server_failed(r, CN_NSEL_TIMEOUT, "timed out", now);
	case CN_UP_CASE_MISMATCH: {
		/* Ask it again without case mixing, in this request only; a server doing this
		 * for several queries in a row is marked (nsel.c). Once per address and
		 * request. */
		if (ad->no_0x20)
			return server_failed(r, CN_NSEL_LAME, "echoed the wrong case", now);
		struct sockaddr_storage ss;
		cn__zonecut_addr_ss(ad, &ss);
		cn__nsel_case_failure(r->e->nsel, &ss, now.mono_ms);
		ad->no_0x20 = true;
		ad->tried = false;
		return step(r, now);
	}
	case CN_UP_NETWORK_ERROR:
	default:
		return server_failed(r, CN_NSEL_NETERR, "unreachable", now);
	}
}

/* Undo 0x20 before parsing: the reply's question holds the case-mixed name we sent (net
 * matched it byte for byte), and a server compresses the names of its records against it.
 * Writing the plain name back there keeps the random case out of what is cached and of
 * what clients see. Returns the reply to parse (a copy in the request's arena). */
static const uint8_t *uncase_reply(cn_request_t *r, const cn_frame_t *f, const uint8_t *reply,
				   size_t len)
{
	size_t qlen = cn_dname_len(f->sent_name);
	uint8_t *copy = len >= CN_HEADER_LEN + qlen ? cn_arena_dup(&r->arena, reply, len) : NULL;
	if (!copy)
		return reply;
	uint8_t mixed[CN_DNAME_MAX];
	memcpy(mixed, copy + CN_HEADER_LEN, qlen);
	if (cn_dname_check(mixed, qlen) == (int)qlen && cn_dname_eq(mixed, f->sent_name))
		memcpy(copy + CN_HEADER_LEN, f->sent_name, qlen);
	return copy;
}

/* A parsed reply from the server of the top frame's query. */
static cn_state_t on_reply(cn_request_t *r, cn_frame_t *f, cn_ns_addr_t *ad,
			   const cn_msg_t *m, unsigned rtt_ms, cn_time_t now)
{
	struct sockaddr_storage ss;
	cn__zonecut_addr_ss(ad, &ss);
	f->cut = CN_CUT_ANSWERED; /* alive, whatever it says */
	cn_nsel_info_t was;
	cn__nsel_info(r->e->nsel, &ss, now.mono_ms, &was);
	if (was.dead && !r->q.view) /* a probe came back: the zone is not failing (RFC 9520) */
		cn__failcache_clear_zone(r->e, f->zone);
	uint16_t rcode = CN_RCODE(m->flags);
	if (rcode == CN_RCODE_FORMERR && r->sent_edns && !m->edns.present) {
		/* RFC 6891 7: retry without EDNS, remembered for this server only */
		cn__nsel_set_no_edns(r->e->nsel, &ss, now.mono_ms);
		ad->tried = false;
		return step(r, now);
	}
	if (rcode != CN_RCODE_NOERROR && rcode != CN_RCODE_NXDOMAIN &&
	    rcode != CN_RCODE_YXDOMAIN) {
		char why[32];
		snprintf(why, sizeof(why), "answered RCODE %u", rcode);
		return server_failed(r, CN_NSEL_LAME, why, now);
	}
	cn__nsel_report_rtt(r->e->nsel, &ss, rtt_ms, now.mono_ms);
	switch (cn__iterate_reply(r, f, m, now)) {
	case CN_ITER_DONE:
		return frame_done(r, now);
	case CN_ITER_CONTINUE:
		/* progress was made (new cut, longer qname, restart): every server of the cut
		 * may be asked the next question */
		cn__zonecut_reset_tried(cn__resolve_top(r));
		return step(r, now);
	case CN_ITER_BAD:
		return server_failed(r, CN_NSEL_LAME, "sent a lame or bogus reply", now);
	case CN_ITER_FAIL:
	default:
		return cn__resolve_fail(r, CN_EDE_OTHER, "resolution failed", CN_FAIL_BACKOFF,
					now.wall_s);
	}
}

static cn_state_t consume(cn_request_t *r, cn_upstream_event_t ev, const uint8_t *reply,
			  size_t len, unsigned rtt_ms, cn_time_t now)
{
	cn_frame_t *f = cn__resolve_top(r);
	cn_ns_addr_t *ad = &f->ns[f->cur_ns].addr[f->cur_addr];
	ad->tried = true;
	if (ev != CN_UP_REPLY)
		return on_no_reply(r, ad, ev, now);
	cn_arena_reset(&r->arena);
	reply = uncase_reply(r, f, reply, len);
	cn_msg_t m;
	if (cn_msg_parse(reply, len, &r->arena, &m) != 0 || !m.has_question)
		return server_failed(r, CN_NSEL_MALFORMED, "sent a malformed reply", now);
	return on_reply(r, f, ad, &m, rtt_ms, now);
}

cn_state_t cn_resolve_consume(cn_request_t *r, cn_upstream_event_t ev, const uint8_t *reply,
			      size_t len, unsigned rtt_ms, cn_time_t now)
{
	if (r->done || r->depth == 0 || cn__resolve_top(r)->cur_ns < 0)
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
	r->cache = e->cache;
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
	r->cache = q->view ? cn__view_cache(r->e, q->view) : r->e->cache;
	if (!r->cache)
		r->cache = r->e->cache; /* not reached: a view is made before it is named */
	r->validate = cn__validate_wanted(r);
	r->scratch = tl_scratch;
	r->start_ms = now.mono_ms;
	r->cacheable = true;
	r->depth = 0;
	cn_frame_t *f0 = cn__resolve_push(r);
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
	cn__resolve_frame_init(f0, CN_FRAME_TARGET, q->qname, q->qtype, -1);
	cn_dname_lower(f0->name);
	/* A prefetch refreshes what the cache holds: it must not be answered from it. */
	if (!q->prefetch && cn__resolve_from_cache(r, f0, r->validate, now)) {
		r->done = true;
		r->done_wall_s = now.wall_s;
		return CN_DONE;
	}
	cn_state_t st;
	/* In the cache but never validated (a sub-request's, or cached while validation was
	 * off): validated as it is (keys fetched as needed), not asked again. */
	if (!q->prefetch && r->validate && cn__resolve_from_cache(r, f0, false, now))
		st = frame_done(r, now);
	else
		st = step(r, now);
	if (st == CN_DONE)
		r->done_wall_s = now.wall_s;
	return st;
}

int cn_resolve_produce(cn_request_t *r, cn_upstream_query_t *up)
{
	if (r->done || r->depth == 0 || cn__resolve_top(r)->cur_ns < 0)
		return -EINVAL;
	*up = r->up;
	return 0;
}

size_t cn_resolve_answer(cn_request_t *r, const cn_question_t *q, cn_time_t now,
			 uint8_t *out, size_t cap, cn_outcome_t *outcome)
{
	if (r->done && r->result.bogus && !(q->flags & CN_FLAG_CD)) {
		/* RFC 4035 5.5: bogus data is not given out; CD=1 clients get it unvalidated */
		cn__count_miss(r->e, q, true);
		*outcome = CN_OUT_SERVFAIL;
		return cn__answer_error(q, CN_RCODE_SERVFAIL, r->result.bogus_ede,
					r->result.bogus_text, r->e->conf.edns_udp_size, out, cap);
	}
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
	for (size_t i = 0; i < res->nsec; i++)
		res->sec[i].ttl = res->sec[i].ttl > elapsed ? res->sec[i].ttl - elapsed : 0;
	if (res->has_soa)
		res->soa.ttl = res->soa.ttl > elapsed ? res->soa.ttl - elapsed : 0;
	r->done_wall_s = now.wall_s;
	cn__count_miss(r->e, q, !r->cacheable);
	/* each waiter has its own ID, RD/CD, size limit and qname case */
	*outcome = CN_OUT_RESOLVED;
	return cn__answer_write(q, res, r->e->conf.edns_udp_size, out, cap);
}
