/*
 * cairn error codes. Functions return int: 0 on success, a negative value on failure.
 * Generic failures are negative errno values (-ENOMEM, -EINVAL, -ENOSPC, -ENOENT);
 * resolver-specific codes start at CN_ERROR_MIN (-1000) and come from one X-macro table,
 * which also gives cn_strerror() (the libuv UV_ERRNO_MAP pattern). Values are never reused:
 * -1011 and -1013 (bailiwick, configuration) were never returned and are retired.
 */
#pragma once

#include <errno.h>

#define CN_ERROR_MIN (-1000)

/* XX(name, value, text) */
#define CN_ERRNO_MAP(XX)                                                       \
	XX(EMALF, -1000, "malformed message")                                  \
	XX(ETRUNC, -1001, "message truncated: a length runs past the end")     \
	XX(ELABEL, -1002, "label longer than 63 octets or of a reserved type") \
	XX(ENAMELEN, -1003, "name longer than 255 octets")                     \
	XX(EPTR, -1004, "bad compression pointer (forward, self or outside)")  \
	XX(ELOOP, -1005, "too many compression pointers")                      \
	XX(ERDATA, -1006, "RDATA does not match its type")                     \
	XX(ECOUNT, -1007, "section counts larger than the data")               \
	XX(EEDNS, -1008, "bad EDNS OPT record (duplicate, misplaced, non-root)")\
	XX(ETRAILING, -1009, "bytes left after the last record")               \
	XX(ELIMIT, -1010, "a resolution limit was reached")                    \
	XX(ESYNTAX, -1012, "syntax error in presentation format")

typedef enum cn_errno {
#define XX(name, value, text) CN_##name = (value),
	CN_ERRNO_MAP(XX)
#undef XX
} cn_errno_t;

/** Text for any cairn return code: resolver codes from the table, others via strerror(). */
const char *cn_strerror(int err);
