/*
 * Per-request bump allocator. Everything a request needs (parsed messages, names, RRsets in
 * flight) is taken from its arena and released at once by cn_arena_reset() or
 * cn_arena_deinit(). After the first request has grown the arena, later requests reuse the
 * same chunk, so a steady state makes no malloc calls.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct cn_arena_chunk cn_arena_chunk_t;

typedef struct cn_arena {
	cn_arena_chunk_t *head;   /* current chunk (newest) */
	size_t chunk_size;        /* default size of a new chunk, bytes */
	size_t used_total;        /* bytes handed out since the last reset */
	size_t limit_bytes;       /* 0 = unlimited; else allocations past it fail (NULL) */
} cn_arena_t;

/** Set up an empty arena whose chunks are chunk_size bytes (0: a default of 16 KiB). */
void cn_arena_init(cn_arena_t *a, size_t chunk_size);
/** Free every chunk. The arena may be initialised again afterwards. */
void cn_arena_deinit(cn_arena_t *a);
/** Forget every allocation; keeps the largest chunk for reuse and frees the others. */
void cn_arena_reset(cn_arena_t *a);
/** size bytes aligned to 8, or NULL when out of memory or over limit_bytes. */
void *cn_arena_alloc(cn_arena_t *a, size_t size);
/** A copy of len bytes of src in the arena, or NULL. */
void *cn_arena_dup(cn_arena_t *a, const void *src, size_t len);
