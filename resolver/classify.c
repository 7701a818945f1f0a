/*
 * Classification: what a parsed reply (NOERROR, NXDOMAIN or YXDOMAIN; other RCODEs never
 * get here) says about the question the frame asked, as one cn_reply_t. Nothing here
 * changes state or the cache: iterate.c acts on the result. The predicates follow RFC 1034
 * 5.3.3 step 4 and Unbound's classify-then-act (iterator/iter_resptype.c): a referral is
 * an NS set below the cut (AA or not, without an SOA); an empty reply whose NS set is at or
 * above the cut (an upward referral) is lame, AA or not; an answer is the RRset asked for;
 * a negative answer counts only with proof (an SOA inside the cut, or AA).
 */
#include "resolver/internal.h"

/* An SOA in AUTHORITY, anywhere: the reply is a negative answer, not a delegation. */
static bool has_soa(const cn_msg_t *m)
{
	for (size_t i = m->an; i < m->an + m->ns; i++)
		if (m->rrs[i].type == CN_TYPE_SOA && m->rrs[i].rclass == CN_CLASS_IN)
			return true;
	return false;
}

/* Where the NS RRset sits decides, not the AA bit (issue 11; Unbound's
 * iter_resptype.c): a server authoritative for both parent and child may set AA on the
 * referral to the child. With AA, an SOA beside the NS makes it a negative answer. */
bool cn__classify_referral(const cn_msg_t *m, const cn_frame_t *f, const cn_rr_t **ns)
{
	if (m->an != 0 || CN_RCODE(m->flags) != CN_RCODE_NOERROR)
		return false;
	if ((m->flags & CN_FLAG_AA) && has_soa(m))
		return false;
	for (size_t i = m->an; i < m->an + m->ns; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		if (rr->type == CN_TYPE_NS && rr->rclass == CN_CLASS_IN &&
		    cn_dname_is_sub(rr->owner, f->zone) && !cn_dname_eq(rr->owner, f->zone) &&
		    cn_dname_is_sub(f->sent_name, rr->owner)) {
			*ns = rr;
			return true;
		}
	}
	return false;
}

bool cn__classify_upward(const cn_msg_t *m, const cn_frame_t *f)
{
	if (m->an != 0 || CN_RCODE(m->flags) != CN_RCODE_NOERROR || has_soa(m))
		return false;
	for (size_t i = m->an; i < m->an + m->ns; i++) {
		const cn_rr_t *rr = &m->rrs[i];
		if (rr->type == CN_TYPE_NS && rr->rclass == CN_CLASS_IN &&
		    cn_dname_is_sub(f->zone, rr->owner))
			return true;
	}
	return false;
}

cn_reply_t cn__classify_qmin(const cn_msg_t *m, const cn_frame_t *f, const cn_rr_t **soa)
{
	bool aa = m->flags & CN_FLAG_AA;
	*soa = cn__scrub_soa(m, f->zone, f->sent_name);
	if (CN_RCODE(m->flags) == CN_RCODE_NXDOMAIN)
		/* RFC 8020: nothing exists below a name that does not exist; unproven, the
		 * full name is asked instead */
		return *soa ? CN_REPLY_NXDOMAIN : CN_REPLY_THROWAWAY;
	const cn_rr_t *set[4];
	if (aa && cn__scrub_rrset(m, CN_SECTION_ANSWER, f->sent_name, CN_TYPE_NS, set, 4) > 0)
		return CN_REPLY_REFERRAL; /* the same servers serve the child: no referral */
	if (m->an > 0)
		return CN_REPLY_THROWAWAY; /* a CNAME or something unexpected at an ancestor */
	if (cn__classify_upward(m, f))
		return CN_REPLY_LAME; /* an upward referral is no NODATA, AA or not */
	if (aa || *soa)
		return CN_REPLY_NODATA; /* not a cut (or an empty non-terminal) */
	return CN_REPLY_LAME;
}

/* A DNAME above name inside the zone (RFC 6672 3.2: it comes first; the server's
 * synthesised CNAME is not needed, cairn synthesises its own). */
static const cn_rr_t *find_dname(const cn_msg_t *m, const cn_frame_t *f, const uint8_t *name)
{
	for (size_t i = 0; i < m->an; i++) {
		const cn_rr_t *d = &m->rrs[i];
		if (d->type == CN_TYPE_DNAME && d->rclass == CN_CLASS_IN &&
		    cn_dname_is_sub(name, d->owner) && !cn_dname_eq(name, d->owner) &&
		    cn_dname_is_sub(d->owner, f->zone))
			return d;
	}
	return NULL;
}

cn_reply_t cn__classify_name(const cn_msg_t *m, const cn_frame_t *f, const uint8_t *name,
			     const cn_rr_t **rr)
{
	/* Scrub: nothing outside the zone that was asked is believed. */
	if (!cn_dname_is_sub(name, f->zone))
		return CN_REPLY_THROWAWAY;
	if (cn__scrub_rrset(m, CN_SECTION_ANSWER, name, f->type, NULL, SIZE_MAX) > 0)
		return CN_REPLY_ANSWER;
	if ((*rr = find_dname(m, f, name)))
		return CN_REPLY_DNAME;
	const cn_rr_t *set[2];
	if (cn__scrub_rrset(m, CN_SECTION_ANSWER, name, CN_TYPE_CNAME, set, 2) == 1) {
		*rr = set[0];
		return CN_REPLY_CNAME; /* (two CNAMEs at one name: neither is believed) */
	}
	if (CN_RCODE(m->flags) == CN_RCODE_YXDOMAIN)
		return CN_REPLY_LAME; /* YXDOMAIN without the DNAME that explains it */
	const cn_rr_t *soa = cn__scrub_soa(m, f->zone, name);
	if (cn_dname_eq(name, f->name)) {
		if (!(m->flags & CN_FLAG_AA) && !soa)
			return CN_REPLY_LAME; /* neither answer nor authoritative negative */
	} else if (!soa) {
		return CN_REPLY_THROWAWAY; /* the chain left this reply: believe the RCODE only
					      with an SOA, else ask for name itself */
	}
	return CN_RCODE(m->flags) == CN_RCODE_NXDOMAIN ? CN_REPLY_NXDOMAIN : CN_REPLY_NODATA;
}
