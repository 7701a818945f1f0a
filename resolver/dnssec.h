/*
 * DNSSEC validation primitives (RFC 4033, 4034, 4035, 5155, 6840, 9276): the pieces the
 * engine needs to validate a chain of trust, pure like the rest of resolver/ (no sockets,
 * no clock: the wall time is a parameter, now_s).
 *
 *   rdata parsing     cn_dnssec_parse_{dnskey,ds,rrsig,nsec,nsec3}, type bitmaps, key tag
 *   canonical form    cn_dnssec_signed_data: RRSIG RDATA + the RRset in canonical form and
 *                     order with the original TTL and the wildcard owner (RFC 4034 3.1.8.1,
 *                     6.2, 6.3)
 *   crypto            cn_dnssec_verify_sig (OpenSSL 3 EVP, algorithms 8 10 13 14 15 16),
 *                     cn_dnssec_ds_match (digest types 2 and 4), cn_nsec3_hash (SHA-1)
 *   RRsets            cn_dnssec_verify_rrset: the RRSIGs of an RRset against a zone's keys,
 *                     under a validation budget (KeyTrap, CVE-2023-50387)
 *   keys              cn_dnssec_verify_dnskeys: a DNSKEY RRset against its DS set or trust
 *                     anchors (RFC 4035 5.2, RFC 6840 5.2 unsupported => insecure)
 *   denial            cn_nsec_* (RFC 4035 5.4) and cn_nsec3_* (RFC 5155 8) proofs of
 *                     NXDOMAIN, NODATA, wildcard expansion and insecure delegations
 *   anchors           the built-in root anchors and presentation-format DS/DNSKEY parsing
 *                     (cn_anchor_*, anchors.c, through libzscanner)
 *
 * Every check returns a cn_dnssec_result_t: SECURE, one of the insecure outcomes
 * (cn_dnssec_result_state() says which state each one means) or a bogus kind, each with the
 * Extended DNS Error (RFC 8914) that a SERVFAIL for it carries (cn_dnssec_result_ede()).
 * The verification functions never look at RR TTLs other than to copy them; they do not
 * check that an RRset's records share owner, type and class: the caller passes RRsets that
 * scrub.c built. Records are cn_rr_t as cn_msg_parse() gives them (RDATA uncompressed).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolver/arena.h"
#include "resolver/wire.h"

enum { CN_TYPE_NSEC3 = 50, CN_TYPE_NSEC3PARAM = 51 };

/* DNSSEC algorithm numbers (IANA "DNS Security Algorithm Numbers"; RFC 8624 3.1). */
enum {
	CN_DNSSEC_ALG_RSASHA1 = 5,
	CN_DNSSEC_ALG_RSASHA256 = 8,         /* RFC 5702 */
	CN_DNSSEC_ALG_RSASHA512 = 10,        /* RFC 5702 */
	CN_DNSSEC_ALG_ECDSAP256SHA256 = 13,  /* RFC 6605 */
	CN_DNSSEC_ALG_ECDSAP384SHA384 = 14,  /* RFC 6605 */
	CN_DNSSEC_ALG_ED25519 = 15,          /* RFC 8080 */
	CN_DNSSEC_ALG_ED448 = 16,            /* RFC 8080 */
};
/* DS digest types (RFC 4509, RFC 6605). SHA-1 (1) is not accepted (issue 15). */
enum { CN_DNSSEC_DIGEST_SHA256 = 2, CN_DNSSEC_DIGEST_SHA384 = 4 };

#define CN_DNSKEY_FLAG_ZONE 0x0100   /* RFC 4034 2.1.1 bit 7 */
#define CN_DNSKEY_FLAG_REVOKE 0x0080 /* RFC 5011 3 bit 8 */
#define CN_DNSKEY_FLAG_SEP 0x0001    /* RFC 4034 2.1.1 bit 15 */
#define CN_NSEC3_FLAG_OPTOUT 0x01    /* RFC 5155 3.1.2.1 */
#define CN_NSEC3_HASH_SHA1 1         /* RFC 5155 11 */
#define CN_NSEC3_HASH_LEN 20

/* Limits (each a default the engine may override from the config later). */
#define CN_DNSSEC_SIGS_PER_RRSET 8   /* signature verifications per RRset (KeyTrap; Unbound 8) */
#define CN_DNSSEC_SIGS_PER_REQUEST 64 /* per request, across the whole chain */
#define CN_DNSSEC_HASHES_PER_REQUEST 64 /* NSEC3 hash computations (CVE-2023-50868) */
#define CN_NSEC3_ITER_INSECURE 100   /* above: insecure, EDE 27 (RFC 9276 3.2) */
#define CN_NSEC3_ITER_BOGUS 500      /* above: bogus (RFC 9276 3.2 allows SERVFAIL) */

/*
 * XX(name, state, ede, text). state: S secure, I insecure, B bogus, U indeterminate.
 * ede: the RFC 8914 INFO-CODE a reply for this result carries, -1 for none.
 */
#define CN_DNSSEC_RESULT_MAP(XX)                                                         \
	XX(SECURE, S, -1, "secure")                                                      \
	XX(INSECURE, I, -1, "insecure (proven unsigned or opt-out)")                     \
	XX(UNSUPPORTED_ALG, I, 1, "unsupported DNSKEY algorithm")                        \
	XX(UNSUPPORTED_DIGEST, I, 2, "unsupported DS digest type")                       \
	XX(NSEC3_ITERATIONS, I, 27, "unsupported NSEC3 iterations value")                \
	XX(BOGUS, B, 6, "DNSSEC bogus")                                                  \
	XX(SIG_EXPIRED, B, 7, "signature expired")                                       \
	XX(SIG_NOT_YET_VALID, B, 8, "signature not yet valid")                           \
	XX(DNSKEY_MISSING, B, 9, "DNSKEY missing")                                       \
	XX(RRSIGS_MISSING, B, 10, "RRSIGs missing")                                      \
	XX(NSEC_MISSING, B, 12, "NSEC missing")                                          \
	XX(BUDGET, B, 6, "validation budget exceeded (KeyTrap)")                         \
	XX(MALFORMED, B, 6, "malformed DNSSEC record")

typedef enum cn_dnssec_result {
#define XX(name, state, ede, text) CN_DNSSEC_##name,
	CN_DNSSEC_RESULT_MAP(XX)
#undef XX
	CN_DNSSEC_RESULT_COUNT
} cn_dnssec_result_t;

/** Validation state of an RRset (RFC 4033 5), what the cache will keep beside it. */
typedef enum cn_dnssec_state {
	CN_DNSSEC_STATE_INDETERMINATE = 0,
	CN_DNSSEC_STATE_SECURE,
	CN_DNSSEC_STATE_INSECURE,
	CN_DNSSEC_STATE_BOGUS,
} cn_dnssec_state_t;

/** Short text for a result ("signature expired"). */
const char *cn_dnssec_result_str(cn_dnssec_result_t r);
/** The Extended DNS Error INFO-CODE for a result, or -1 (secure, plain insecure). */
int cn_dnssec_result_ede(cn_dnssec_result_t r);
/** The state a result puts the data in. */
cn_dnssec_state_t cn_dnssec_result_state(cn_dnssec_result_t r);

/* ------------------------------------------------------------------------------------ */
/* RDATA. Every parsed struct points into the RDATA it came from.                       */

typedef struct cn_dnskey {
	uint16_t flags;
	uint8_t protocol;        /* must be 3 (RFC 4034 2.1.2) */
	uint8_t alg;
	const uint8_t *key;      /* public key field */
	uint16_t key_len;
	uint16_t tag;            /* RFC 4034 appendix B */
	const uint8_t *rdata;    /* the whole RDATA (DS digests and key matching use it) */
	uint16_t rdlen;
} cn_dnskey_t;

typedef struct cn_ds {
	uint16_t tag;
	uint8_t alg;
	uint8_t digest_type;
	const uint8_t *digest;
	uint16_t digest_len;
} cn_ds_t;

typedef struct cn_rrsig {
	uint16_t type_covered;
	uint8_t alg;
	uint8_t labels;
	uint32_t orig_ttl;
	uint32_t expiration;     /* seconds since the epoch mod 2^32 (RFC 4034 3.1.5) */
	uint32_t inception;
	uint16_t tag;
	const uint8_t *signer;   /* wire name inside the RDATA */
	const uint8_t *sig;
	uint16_t sig_len;
	const uint8_t *rdata;
	uint16_t head_len;       /* RDATA up to the signature: what the signed data starts with */
} cn_rrsig_t;

typedef struct cn_nsec {
	const uint8_t *next;     /* next owner name (wire, case as signed: RFC 6840 5.1) */
	const uint8_t *bitmap;   /* type bit maps (RFC 4034 4.1.2) */
	uint16_t bitmap_len;
} cn_nsec_t;

typedef struct cn_nsec3 {
	uint8_t hash_alg;
	uint8_t flags;
	uint16_t iterations;
	const uint8_t *salt;
	uint8_t salt_len;
	const uint8_t *next_hash; /* raw hash (not base32) */
	uint8_t hash_len;
	const uint8_t *bitmap;
	uint16_t bitmap_len;
} cn_nsec3_t;

/** Parse DNSKEY RDATA (RFC 4034 2.1), computing the key tag. 0 or CN_ERDATA. */
int cn_dnssec_parse_dnskey(const uint8_t *rdata, size_t rdlen, cn_dnskey_t *out);
/** Parse DS RDATA (RFC 4034 5.1). 0 or CN_ERDATA. */
int cn_dnssec_parse_ds(const uint8_t *rdata, size_t rdlen, cn_ds_t *out);
/** Parse RRSIG RDATA (RFC 4034 3.1); the signer name must be uncompressed. 0 or CN_ERDATA. */
int cn_dnssec_parse_rrsig(const uint8_t *rdata, size_t rdlen, cn_rrsig_t *out);
/** Parse NSEC RDATA (RFC 4034 4.1), checking the bitmap. 0 or CN_ERDATA. */
int cn_dnssec_parse_nsec(const uint8_t *rdata, size_t rdlen, cn_nsec_t *out);
/** Parse NSEC3 RDATA (RFC 5155 3.2), checking the bitmap. 0 or CN_ERDATA. */
int cn_dnssec_parse_nsec3(const uint8_t *rdata, size_t rdlen, cn_nsec3_t *out);

/** Check a type bit map field (RFC 4034 4.1.2: windows ascending, 1..32 octets each,
 *  exactly filling len). 0 or CN_ERDATA. */
int cn_dnssec_bitmap_check(const uint8_t *bitmap, size_t len);
/** Whether a checked type bit map has type. */
bool cn_dnssec_bitmap_has(const uint8_t *bitmap, size_t len, uint16_t type);

/** Key tag of DNSKEY RDATA (RFC 4034 appendix B; algorithm 1 uses its own rule). */
uint16_t cn_dnssec_key_tag(const uint8_t *rdata, size_t rdlen);

/* ------------------------------------------------------------------------------------ */
/* Canonical form and time.                                                             */

/**
 * The data an RRSIG signs (RFC 4034 3.1.8.1): the RRSIG RDATA without the signature, then
 * every record of the RRset in canonical form (RFC 4034 6.2: owner lowercased, or "*." and
 * the rightmost sig->labels labels when the owner has more labels (wildcard expansion,
 * RFC 4035 5.3.2); the original TTL; names in the RDATA of the RFC 4034 6.2 types
 * lowercased, RFC 6840 5.1), sorted by canonical RDATA with duplicates dropped (6.3).
 * rrs: n records of one RRset. Memory from arena; *out and *out_len set on success.
 * Returns 0, CN_ERDATA (a record's RDATA malformed, or labels above the owner's count),
 * -EINVAL (n == 0) or -ENOMEM.
 */
int cn_dnssec_signed_data(const cn_rrsig_t *sig, const cn_rr_t *rrs, size_t n,
			  cn_arena_t *arena, uint8_t **out, size_t *out_len);

/** Canonical RDATA of a record (RFC 4034 6.2) into out (rdlen bytes): a copy with the
 *  embedded names of the listed types lowercased. 0 or CN_ERDATA. */
int cn_dnssec_canonical_rdata(uint16_t type, const uint8_t *rdata, size_t rdlen,
			      uint8_t *out);

/**
 * Validity period of an RRSIG at now_s (wall seconds), in RFC 1982 serial number
 * arithmetic on 32 bits (RFC 4034 3.1.5): SECURE when inception <= now <= expiration,
 * SIG_EXPIRED, SIG_NOT_YET_VALID, or BOGUS when expiration precedes inception.
 */
cn_dnssec_result_t cn_dnssec_check_time(const cn_rrsig_t *sig, uint64_t now_s);

/**
 * TTL a validated RRset may be kept for (RFC 4035 5.3.3): the least of ttl, the RRSIG's
 * original TTL and the seconds until its expiration.
 */
uint32_t cn_dnssec_ttl_cap(const cn_rrsig_t *sig, uint32_t ttl, uint64_t now_s);

/* ------------------------------------------------------------------------------------ */
/* Crypto (dnssec_crypto.c, the only file that sees OpenSSL).                            */

/** Whether cairn verifies this DNSKEY/RRSIG algorithm. */
bool cn_dnssec_alg_supported(uint8_t alg);
/** Whether cairn checks this DS digest type. */
bool cn_dnssec_digest_supported(uint8_t type);

/**
 * Verify one signature over data with one key. SECURE, BOGUS (bad signature, a key the
 * algorithm cannot use, algorithms differing), UNSUPPORTED_ALG. Does not look at the
 * key tag, the flags or the time.
 */
cn_dnssec_result_t cn_dnssec_verify_sig(const cn_dnskey_t *key, const cn_rrsig_t *sig,
					const uint8_t *data, size_t len);

/**
 * Whether a DS matches a DNSKEY of owner (RFC 4034 5.1.4: digest over the canonical owner
 * and the DNSKEY RDATA; tag and algorithm must agree). SECURE, BOGUS (no match),
 * UNSUPPORTED_DIGEST, UNSUPPORTED_ALG (the DS names an algorithm cairn does not verify).
 */
cn_dnssec_result_t cn_dnssec_ds_match(const cn_ds_t *ds, const uint8_t *owner,
				      const cn_dnskey_t *key);

/**
 * NSEC3 hash of name (RFC 5155 5): SHA-1 iterated, over the lowercased name and the salt.
 * out: CN_NSEC3_HASH_LEN bytes. 0, or -EINVAL for a hash algorithm other than 1.
 */
int cn_nsec3_hash(const uint8_t *name, uint8_t alg, const uint8_t *salt, size_t salt_len,
		  uint16_t iterations, uint8_t *out);

/* ------------------------------------------------------------------------------------ */
/* Validation of RRsets and key sets (dnssec_verify.c).                                   */

/**
 * The work one request may spend on validation. sig_per_rrset caps the verifications tried
 * for one RRset (each call of cn_dnssec_verify_rrset), sig_left the verifications left for
 * the whole request, hash_left the NSEC3 hashes left; each decreases as work is done, and a
 * call that would need more returns CN_DNSSEC_BUDGET. sigs_done/hashes_done count the work.
 * nsec3_iter_insecure / nsec3_iter_bogus: RFC 9276 caps (see CN_NSEC3_ITER_*).
 */
typedef struct cn_dnssec_budget {
	uint32_t sig_per_rrset;
	uint32_t sig_left;
	uint32_t hash_left;
	uint16_t nsec3_iter_insecure;
	uint16_t nsec3_iter_bogus;
	uint32_t sigs_done;
	uint32_t hashes_done;
} cn_dnssec_budget_t;

/** A budget with the CN_DNSSEC_* defaults. */
void cn_dnssec_budget_init(cn_dnssec_budget_t *b);

/**
 * Validate an RRset (RFC 4035 5.3): some RRSIG in sigs (records of type RRSIG, any owner
 * and covered type: those not covering rrs are skipped) whose signer is zone, whose owner
 * and type match the RRset, whose labels do not exceed the owner's, inside its validity
 * period, made by a zone key in keys (DNSKEY records of zone, protocol 3, zone flag, not
 * revoked) with the same tag and algorithm, must verify. Stops at the first that does.
 * On SECURE, *used (may be NULL) receives the RRSIG that verified (it points into sigs)
 * so the caller can cap the TTL and learn about wildcard expansion.
 * Results, when none verified, in this order: RRSIGS_MISSING (no RRSIG for the RRset
 * from zone; MALFORMED when the only ones could not be parsed), UNSUPPORTED_ALG (every such
 * RRSIG of an algorithm cairn does not verify), SIG_EXPIRED / SIG_NOT_YET_VALID (every
 * candidate out of its validity period; BOGUS when they failed other checks),
 * DNSKEY_MISSING (no key with the tag and algorithm), BUDGET (the caps stopped the work),
 * BOGUS (signatures tried and wrong).
 */
cn_dnssec_result_t cn_dnssec_verify_rrset(const cn_rr_t *rrs, size_t n, const cn_rr_t *sigs,
					  size_t nsigs, const cn_rr_t *keys, size_t nkeys,
					  const uint8_t *zone, uint64_t now_s,
					  cn_dnssec_budget_t *budget, cn_arena_t *arena,
					  const cn_rr_t **used);

/**
 * Validate the DNSKEY RRset of zone against its trust: anchors holds DS records (from the
 * parent, already validated) and/or DNSKEY records (trust anchors configured as keys).
 * A DNSKEY is trusted when a supported DS matches it (tag, algorithm, digest) or when it
 * equals an anchor DNSKEY; the RRset must then verify (cn_dnssec_verify_rrset) with one of
 * the trusted keys. RFC 6840 5.2 / RFC 4035 5.2: when no anchor has a supported digest
 * type and algorithm, the zone is insecure: UNSUPPORTED_DIGEST or UNSUPPORTED_ALG.
 * DNSKEY_MISSING when no key of the RRset matches a usable anchor. Else as verify_rrset.
 */
cn_dnssec_result_t cn_dnssec_verify_dnskeys(const cn_rr_t *dnskeys, size_t n,
					    const cn_rr_t *sigs, size_t nsigs,
					    const cn_rr_t *anchors, size_t nanchors,
					    const uint8_t *zone, uint64_t now_s,
					    cn_dnssec_budget_t *budget, cn_arena_t *arena);

/* ------------------------------------------------------------------------------------ */
/* Authenticated denial (nsec.c). The NSEC/NSEC3 records passed in must already have been */
/* validated (cn_dnssec_verify_rrset) and belong to zone; records of other types are      */
/* skipped, so a whole authority section may be passed. A name outside zone is never      */
/* proven absent.                                                                         */

/** NSEC at owner with RDATA covers name: owner < name < next in canonical order (RFC 4034
 *  6.1), the last NSEC of a zone (next <= owner) covering everything after owner. */
bool cn_nsec_covers(const uint8_t *owner, const cn_nsec_t *nsec, const uint8_t *name);

/**
 * NXDOMAIN proof (RFC 4035 5.4): an NSEC covering qname, and one covering the wildcard at
 * the closest encloser (derived from the covering NSEC). SECURE or NSEC_MISSING.
 * ce_out (CN_DNAME_MAX bytes, may be NULL) receives the closest encloser.
 */
cn_dnssec_result_t cn_nsec_prove_nxdomain(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					  const uint8_t *zone, uint8_t *ce_out);

/**
 * NODATA proof (RFC 4035 5.4, RFC 6840 4.3): an NSEC at qname without qtype and without
 * CNAME; for qtype DS at a delegation the NSEC must be the parent's (NS, no SOA) and an
 * NSEC at a delegation (NS without SOA) does not prove other types; or, for a name that
 * only a wildcard covers, an NSEC covering qname and an NSEC at the wildcard of its closest
 * encloser without qtype. SECURE or NSEC_MISSING.
 */
cn_dnssec_result_t cn_nsec_prove_nodata(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					uint16_t qtype, const uint8_t *zone);

/**
 * Wildcard expansion proof for a positive answer (RFC 4035 5.3.4): the answer's RRSIG had
 * labels < the owner's, so an NSEC must cover the next closer name (the ancestor of qname
 * with sig_labels + 1 labels): no closer match exists. SECURE or NSEC_MISSING.
 */
cn_dnssec_result_t cn_nsec_prove_wildcard(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					  uint8_t sig_labels);

/**
 * Insecure delegation proof (RFC 4035 5.2): an NSEC at the child name with NS and without
 * DS and SOA. INSECURE when proven, NSEC_MISSING otherwise (SECURE is never returned: a
 * delegation with DS is validated through its DS RRset).
 */
cn_dnssec_result_t cn_nsec_prove_no_ds(const cn_rr_t *rrs, size_t n, const uint8_t *child);

/** Whether NSEC3 at owner (first label base32hex) covers hash (strictly between owner and
 *  next hash, with wrap-around). owner_hash: the owner's decoded hash. */
bool cn_nsec3_covers(const uint8_t *owner_hash, const cn_nsec3_t *nsec3, const uint8_t *hash);

/** Decode the first label of an NSEC3 owner name (base32hex, RFC 4648 7, no padding) into
 *  out (CN_NSEC3_HASH_LEN); returns the decoded length or -1. */
int cn_nsec3_owner_hash(const uint8_t *owner, uint8_t *out);

/**
 * The NSEC3 proofs (RFC 5155 8). rrs may hold any records; NSEC3 records whose owner is not
 * one label below zone, with a hash algorithm other than SHA-1 or flags other than
 * opt-out, are ignored (RFC 5155 8.1, 8.2). The parameters come from the first usable
 * NSEC3; records with other parameters are ignored. Iterations above
 * budget->nsec3_iter_insecure give NSEC3_ITERATIONS (insecure), above nsec3_iter_bogus
 * BOGUS (RFC 9276 3.2). Every hash computed is taken from budget->hash_left (BUDGET when
 * none is left).
 *
 * prove_nxdomain (8.4): closest encloser proof (8.3) and a cover of the wildcard at it.
 * prove_nodata (8.5, 8.6, 8.7): an NSEC3 matching qname without qtype and CNAME; for DS,
 *   when none matches, a closest encloser proof whose next closer name an opt-out NSEC3
 *   covers gives INSECURE; a wildcard NODATA (8.7): closest encloser proof and a matching
 *   NSEC3 for the wildcard without qtype.
 * prove_wildcard (8.8): an NSEC3 covers the next closer name of qname below the wildcard's
 *   closest encloser (the sig's labels give the encloser).
 * prove_no_ds (8.6): a matching NSEC3 for child with NS and without DS and SOA, or a
 *   closest encloser proof with the next closer name covered by an opt-out NSEC3:
 *   INSECURE when proven.
 * Otherwise NSEC_MISSING.
 */
cn_dnssec_result_t cn_nsec3_prove_nxdomain(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					   const uint8_t *zone, cn_dnssec_budget_t *budget);
cn_dnssec_result_t cn_nsec3_prove_nodata(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					 uint16_t qtype, const uint8_t *zone,
					 cn_dnssec_budget_t *budget);
cn_dnssec_result_t cn_nsec3_prove_wildcard(const cn_rr_t *rrs, size_t n, const uint8_t *qname,
					   uint8_t sig_labels, const uint8_t *zone,
					   cn_dnssec_budget_t *budget);
cn_dnssec_result_t cn_nsec3_prove_no_ds(const cn_rr_t *rrs, size_t n, const uint8_t *child,
					const uint8_t *zone, cn_dnssec_budget_t *budget);

/* ------------------------------------------------------------------------------------ */
/* Trust anchors (anchors.c).                                                            */

/** One trust anchor: a DS or DNSKEY record of owner, RDATA in wire form. */
typedef struct cn_anchor {
	uint8_t owner[CN_DNAME_MAX];
	uint16_t type;           /* CN_TYPE_DS or CN_TYPE_DNSKEY */
	uint16_t rdlen;
	uint8_t *rdata;          /* malloc'd, freed by cn_anchor_set_free */
} cn_anchor_t;

/** A list of trust anchors (process lifetime: built at start, freed at exit). */
typedef struct cn_anchor_set {
	cn_anchor_t *v;
	size_t n;
} cn_anchor_set_t;

/** The built-in root anchors in presentation form (IANA root-anchors.xml: KSK-2017 tag
 *  20326 and KSK-2024 tag 38696, both DS 8 2), NULL-terminated. */
extern const char *const cn_anchor_root_builtin[];

/**
 * Add the DS and DNSKEY records in presentation-format text (one or more records, as in a
 * zone file: "owner [ttl] [IN] DS|DNSKEY rdata"; names absolute or relative to the root)
 * to set. Any other type, class or a syntax error gives -EINVAL with "source:line: reason"
 * in err; a DNSKEY without the zone flag or with protocol != 3 is refused too. On error the
 * set is unchanged. path != NULL reads that file instead of text (trust_anchor_file:).
 * Returns 0, -EINVAL or -ENOMEM.
 */
int cn_anchor_set_add(cn_anchor_set_t *set, const char *text, const char *path,
		      const char *source, char *err, size_t errlen);

/** The built-in root anchors into an empty set. 0 or -ENOMEM. */
int cn_anchor_set_builtin(cn_anchor_set_t *set);

/** Free every anchor and empty the set. */
void cn_anchor_set_free(cn_anchor_set_t *set);

/**
 * The anchors of the closest enclosing zone of name that has any (the zone to start the
 * chain of trust at): their records in out (cn_rr_t pointing into the set, at most cap),
 * *zone_out its owner (points into the set). Returns how many were written, 0 when no
 * anchor encloses name.
 */
size_t cn_anchor_set_find(const cn_anchor_set_t *set, const uint8_t *name, cn_rr_t *out,
			  size_t cap, const uint8_t **zone_out);
