/*
 * The query log (`query_log: PATH`, docs/config.md): one line per client query, written by
 * the worker that answered it. Each worker formats its lines into its own buffer
 * (cn_querylog_buf_t, at most 4 KiB, whole lines) and writes the buffer with one write(2)
 * when the next line would not fit and once per loop iteration; the file is opened with
 * O_APPEND, so the workers' writes never tear each other's lines (a pipe, for `-`, keeps
 * writes of at most PIPE_BUF whole too).
 *
 * Line format (space separated, fixed order; docs/config.md "Query log"):
 *   TIME CLIENT PROTO QNAME QTYPE RCODE OUTCOME LATENCY_US EDE
 *   2026-12-03T11:40:00.123456Z 127.0.0.1#40123 udp www.example.com. A NOERROR cache.positive 3 -
 *
 * Threads: cn_querylog_open (start-up, reload, SIGUSR1) on the main thread; add and flush on
 * any worker's thread. Reopening keeps the file descriptor number: the new file is dup2()ed
 * onto it, so a worker writing at that moment finishes on the old file and the next write
 * goes to the new one (what logrotate needs after a rename).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "resolver/resolver.h"

typedef struct cn_querylog cn_querylog_t;

#define CN_QUERYLOG_BUF 4096

/** A worker's pending lines. Zero-initialised is empty. */
typedef struct cn_querylog_buf {
	size_t len;
	char data[CN_QUERYLOG_BUF];
} cn_querylog_buf_t;

/** One client query as the worker saw it. reply: the reply sent (len 0: none). */
typedef struct cn_querylog_entry {
	const struct sockaddr *client;
	bool tcp;
	const uint8_t *reply;
	size_t reply_len;
	cn_outcome_t outcome;
	uint64_t latency_ns;
} cn_querylog_entry_t;

/** A query log, off. Returns 0 or -ENOMEM. */
int cn_querylog_new(cn_querylog_t **out);

/**
 * Log to path from now on: "-" is standard output, anything else a file opened for
 * appending (created 0640). The same path again reopens it (after logrotate renamed it).
 * NULL turns the log off (the file is closed: /dev/null takes its descriptor). On error
 * (-errno) the log keeps going where it went.
 */
int cn_querylog_open(cn_querylog_t *ql, const char *path);

/** Whether lines are being written (one relaxed atomic load). */
bool cn_querylog_on(const cn_querylog_t *ql);

/** Format e as one line into b, writing b out first when the line would not fit. */
void cn_querylog_add(cn_querylog_t *ql, cn_querylog_buf_t *b, const cn_querylog_entry_t *e);

/** Write out b's lines (nothing to do when empty). */
void cn_querylog_flush(cn_querylog_t *ql, cn_querylog_buf_t *b);

/** Lines lost to write errors since start. */
uint64_t cn_querylog_write_errors(const cn_querylog_t *ql);

/** Close and free (after every worker is gone). NULL is fine. */
void cn_querylog_free(cn_querylog_t *ql);
