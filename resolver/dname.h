/*
 * Domain names (RFC 1034 3.1, RFC 1035 3.1). Inside cairn a name is held in uncompressed
 * wire form: length-prefixed labels ending with the root label 0, at most CN_DNAME_MAX
 * octets in all, each label at most CN_LABEL_MAX octets. Letter case is kept as received;
 * comparisons are ASCII case-insensitive (RFC 4343). The canonical (cache key) form is the
 * same bytes lowercased.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_DNAME_MAX 255      /* octets, RFC 1035 2.3.4 */
#define CN_LABEL_MAX 63       /* octets, RFC 1035 2.3.4 */
#define CN_DNAME_STR_MAX 1024 /* presentation form with every octet escaped as \DDD, plus NUL */

/**
 * Read a possibly compressed name from a message (RFC 1035 4.1.4).
 * msg/msg_len: the whole message; *pos: offset of the name, advanced past the name as it
 * stands in the message (2 octets for a pointer). out: at least CN_DNAME_MAX bytes, receives
 * the uncompressed name; *out_len its length (may be NULL).
 * Strict: a pointer must point strictly backwards, before the start of the label sequence
 * that uses it, and not into the 12-byte header; at most 128 pointers are followed; labels
 * of type 0x40/0x80 are rejected; the decoded name must fit in 255 octets; every read is
 * checked against msg_len. out may be NULL to check and skip a name.
 * Returns 0, or CN_ETRUNC, CN_ELABEL, CN_ENAMELEN, CN_EPTR, CN_ELOOP.
 */
int cn_dname_unpack(const uint8_t *msg, size_t msg_len, size_t *pos, uint8_t *out,
		    size_t *out_len);

/**
 * Validate an uncompressed name held in a buffer of buf_len bytes (no pointers allowed).
 * Returns its wire length (> 0) or a negative error code.
 */
int cn_dname_check(const uint8_t *name, size_t buf_len);

/** Wire length of a valid uncompressed name (including the root label). */
size_t cn_dname_len(const uint8_t *name);

/** Number of labels, not counting the root ("." -> 0, "a.b." -> 2). */
int cn_dname_labels(const uint8_t *name);

/** Pointer inside name to the suffix left after skipping n leading labels (n <= labels). */
const uint8_t *cn_dname_skip(const uint8_t *name, int n);

/** ASCII case-insensitive equality of two valid names. */
bool cn_dname_eq(const uint8_t *a, const uint8_t *b);

/** Canonical DNS name order (RFC 4034 6.1): <0, 0, >0. */
int cn_dname_cmp(const uint8_t *a, const uint8_t *b);

/** True when name equals zone or lies below it (the bailiwick test), case-insensitive. */
bool cn_dname_is_sub(const uint8_t *name, const uint8_t *zone);

/** Lowercase ASCII letters in place. */
void cn_dname_lower(uint8_t *name);

/**
 * DNAME substitution (RFC 6672 2.2): name = prefix . owner (owner a proper ancestor of
 * name) becomes prefix . target, into out (CN_DNAME_MAX bytes). Returns 0, or CN_ENAMELEN
 * when the result would pass 255 octets (the answer is then YXDOMAIN).
 */
int cn_dname_subst(const uint8_t *name, const uint8_t *owner, const uint8_t *target,
		   uint8_t *out);

/** Copy src (a valid name) to dst (CN_DNAME_MAX bytes); returns its length. */
size_t cn_dname_copy(uint8_t *dst, const uint8_t *src);

/**
 * Parse presentation form ("www.example.com", trailing dot optional, "." is the root;
 * escapes \. and \DDD per RFC 1035 5.1). out: CN_DNAME_MAX bytes; *out_len may be NULL.
 * Returns 0 or CN_ESYNTAX, CN_ELABEL, CN_ENAMELEN.
 */
int cn_dname_from_str(const char *str, uint8_t *out, size_t *out_len);

/**
 * Write presentation form with a trailing dot ("." for the root); non-printable octets,
 * '.', '\\', '"', ';', '(', ')' and spaces escaped. Returns the string length, or -ENOSPC.
 */
int cn_dname_to_str(const uint8_t *name, char *buf, size_t buf_len);
