/*
 * Helpers shared by the codec files (wire.c, rdata.c, wire_str.c) and their tests only.
 * An RDATA descriptor lists the fields of a type's RDATA in order, so that reading
 * (decompression and checks), writing (compression where RFC 3597 4 allows it) and the
 * presentation form walk one table instead of three switch statements.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Field kinds in a descriptor; values 1..CN__RF_FIXED_MAX are fixed fields of that many
 * octets. */
enum {
	CN__RF_END = 0,
	CN__RF_FIXED_MAX = 32,
	CN__RF_NAME_C = 100, /* domain name, compressible on write (RFC 1035 types) */
	CN__RF_NAME = 101,   /* domain name, decompressed on read, never compressed on write */
	CN__RF_STR = 102,    /* one <character-string>: length octet + bytes */
	CN__RF_STRS = 103,   /* one or more character-strings filling the rest (TXT) */
};

#define CN__RDESC_FIELDS 7

typedef struct cn__rdesc {
	uint16_t type;
	uint8_t f[CN__RDESC_FIELDS]; /* field kinds, CN__RF_END-terminated */
} cn__rdesc_t;

/** Descriptor of a type whose IN-class RDATA cairn understands, or NULL (opaque). */
const cn__rdesc_t *cn__rdata_desc(uint16_t type);

/**
 * Decode the RDATA at msg[*pos, *pos + rdlen) of a record of the described type into out
 * (capacity out_cap), expanding compressed names. msg is the whole message (pointers may
 * target earlier bytes). Returns the decoded length, or CN_ERDATA (fields do not fill RDATA
 * exactly), CN_EPTR, CN_ELABEL, CN_ENAMELEN, CN_ELOOP.
 */
int cn__rdata_unpack(const cn__rdesc_t *d, const uint8_t *msg, size_t pos, size_t rdlen,
		     uint8_t *out, size_t out_cap);

/** Upper bound of the decoded length of RDATA of rdlen octets on the wire. */
size_t cn__rdata_unpack_bound(const cn__rdesc_t *d, size_t rdlen);
