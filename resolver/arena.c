/*
 * Per-request bump allocator. Memory comes from a list of chunks, newest first; an
 * allocation is a pointer bump in the newest chunk, and a request's memory is released all
 * at once by cn_arena_reset(), which keeps the largest chunk so that a steady state of
 * similar requests makes no further malloc calls. limit_bytes caps what one request may
 * take, so a hostile upstream reply cannot grow a request without bound.
 */
#include "resolver/arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_DEFAULT_CHUNK (16 * 1024) /* bytes */
#define ARENA_ALIGN 8

struct cn_arena_chunk {
	cn_arena_chunk_t *next;
	size_t size; /* usable bytes in data */
	size_t used;
	alignas(max_align_t) uint8_t data[];
};

void cn_arena_init(cn_arena_t *a, size_t chunk_size)
{
	a->head = NULL;
	a->chunk_size = chunk_size ? chunk_size : ARENA_DEFAULT_CHUNK;
	a->used_total = 0;
	a->limit_bytes = 0;
}

void cn_arena_deinit(cn_arena_t *a)
{
	cn_arena_chunk_t *c = a->head;
	while (c) {
		cn_arena_chunk_t *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used_total = 0;
}

void cn_arena_reset(cn_arena_t *a)
{
	cn_arena_chunk_t *keep = NULL;
	for (cn_arena_chunk_t *c = a->head; c; c = c->next)
		if (!keep || c->size > keep->size)
			keep = c;
	cn_arena_chunk_t *c = a->head;
	while (c) {
		cn_arena_chunk_t *next = c->next;
		if (c != keep)
			free(c);
		c = next;
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->head = keep;
	a->used_total = 0;
}

static cn_arena_chunk_t *chunk_new(size_t size)
{
	if (size > SIZE_MAX - sizeof(cn_arena_chunk_t))
		return NULL;
	cn_arena_chunk_t *c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->size = size;
	c->used = 0;
	c->next = NULL;
	return c;
}

void *cn_arena_alloc(cn_arena_t *a, size_t size)
{
	if (size > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (size == 0)
		size = ARENA_ALIGN;
	if (a->limit_bytes && (size > a->limit_bytes || a->used_total > a->limit_bytes - size))
		return NULL;
	cn_arena_chunk_t *c = a->head;
	if (!c || c->size - c->used < size) {
		c = chunk_new(size > a->chunk_size ? size : a->chunk_size);
		if (!c)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += size;
	a->used_total += size;
	return p;
}

void *cn_arena_dup(cn_arena_t *a, const void *src, size_t len)
{
	void *p = cn_arena_alloc(a, len);
	if (p && len)
		memcpy(p, src, len);
	return p;
}
