/*
 * The worker pool (net/pool.h): one loop, one worker and one thread per slot. The threads
 * share nothing but the engine and the cache (both thread-safe: sharded cache locks, the
 * server-selection table behind a mutex, atomic counters) and the workers' inboxes.
 *
 * Loops and listeners are set up on the main thread before any worker thread starts, so a
 * bind error is reported at start-up like with one worker; a loop is then only ever run
 * by its own thread. Stopping goes through each worker's inbox (cn_worker_request_stop);
 * the pool waits for the threads, closes the loops, and only then drains the inboxes,
 * when no other thread can touch the clients they hold.
 */
#include "net/pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "net/log.h"

#define CN_POOL_MAX_WORKERS 256 /* the config key's upper bound */

typedef struct slot {
	cn_pool_t *pool;
	unsigned index;
	uv_loop_t loop;
	bool loop_ok;
	cn_worker_t *w;
	uv_thread_t thread;
	bool started;
} slot_t;

struct cn_pool {
	const cn_config_t *cfg;
	unsigned n;
	slot_t *slots;
	cn_worker_t **workers;  /* the group, in slot order */
	atomic_uint **tcp_conns; /* one shared TCP connection count per listen address */
	size_t nlisten;
	bool joined;
};

unsigned cn_pool_workers_for(unsigned n)
{
	if (n == 0)
		n = uv_available_parallelism();
	if (n == 0)
		n = 1;
	return n > CN_POOL_MAX_WORKERS ? CN_POOL_MAX_WORKERS : n;
}

int cn_pool_new(const cn_config_t *cfg, cn_engine_t *engine, unsigned n, cn_pool_t **out)
{
	if (!cfg || !engine || !out || n == 0 || n > CN_POOL_MAX_WORKERS)
		return -EINVAL;
	cn_pool_t *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = cfg;
	p->n = n;
	p->slots = calloc(n, sizeof(*p->slots));
	p->workers = calloc(n, sizeof(*p->workers));
	if (!p->slots || !p->workers) {
		free(p->slots);
		free(p->workers);
		free(p);
		return -ENOMEM;
	}
	int rc = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		slot_t *s = &p->slots[i];
		s->pool = p;
		s->index = i;
		if ((rc = uv_loop_init(&s->loop)) < 0)
			break;
		s->loop_ok = true;
		rc = cn_worker_new(&s->loop, cfg, engine, &s->w);
		p->workers[i] = s->w;
	}
	if (rc == 0)
		cn_worker_link(p->workers, n);
	*out = p; /* on error too: the caller stops, joins and frees as usual */
	return rc;
}

int cn_pool_listen(cn_pool_t *p, const struct sockaddr *addr)
{
	atomic_uint **grown = realloc(p->tcp_conns, (p->nlisten + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	p->tcp_conns = grown;
	atomic_uint *conns = malloc(sizeof(*conns));
	if (!conns)
		return -ENOMEM;
	atomic_init(conns, 0);
	p->tcp_conns[p->nlisten++] = conns;
	for (unsigned i = 0; i < p->n; i++) {
		int rc = cn_worker_listen(p->slots[i].w, addr, p->n > 1, conns);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void run(void *arg)
{
	slot_t *s = arg;
	/* The daemon's signals go to the main thread only, so that it can close libuv's
	 * handlers and ignore them with no moment where one kills the process (main.c). */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	char name[16];
	snprintf(name, sizeof(name), "cairn-w%u", s->index);
	pthread_setname_np(pthread_self(), name);
	uv_run(&s->loop, UV_RUN_DEFAULT);
}

int cn_pool_start(cn_pool_t *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		slot_t *s = &p->slots[i];
		int rc = uv_thread_create(&s->thread, run, s);
		if (rc < 0)
			return rc;
		s->started = true;
	}
	return 0;
}

void cn_pool_stop(cn_pool_t *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++) {
		slot_t *s = &p->slots[i];
		if (s->w && s->started)
			cn_worker_request_stop(s->w);
	}
}

int cn_pool_join(cn_pool_t *p)
{
	if (!p || p->joined)
		return 0;
	p->joined = true;
	int status = 0;
	for (unsigned i = 0; i < p->n; i++) {
		slot_t *s = &p->slots[i];
		if (s->started) {
			uv_thread_join(&s->thread);
		} else if (s->loop_ok) {
			/* Never ran: stop here and let the loop close what was opened. */
			if (s->w)
				cn_worker_stop(s->w);
			uv_run(&s->loop, UV_RUN_DEFAULT);
		}
	}
	for (unsigned i = 0; i < p->n; i++) {
		slot_t *s = &p->slots[i];
		if (!s->loop_ok)
			continue;
		int rc = uv_loop_close(&s->loop);
		if (rc != 0) {
			cn_log(CN_LOG_ERROR, "worker %u: loop closed with handles still open: %s",
			       i, uv_strerror(rc));
			status = -EBUSY;
		}
		s->loop_ok = false;
	}
	for (unsigned i = 0; i < p->n; i++)
		if (p->slots[i].w)
			cn_worker_drain(p->slots[i].w);
	return status;
}

void cn_pool_free(cn_pool_t *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++)
		cn_worker_free(p->slots[i].w);
	for (size_t i = 0; i < p->nlisten; i++)
		free(p->tcp_conns[i]);
	free(p->tcp_conns);
	free(p->workers);
	free(p->slots);
	free(p);
}

unsigned cn_pool_size(const cn_pool_t *p)
{
	return p->n;
}


void cn_pool_get_stats(const cn_pool_t *p, cn_worker_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < p->n; i++) {
		if (!p->slots[i].w)
			continue;
		cn_worker_stats_t ws;
		cn_worker_get_stats(p->slots[i].w, &ws);
		CN_STATS_ADD(CN_WORKER_STATS_MAP, out, &ws);
	}
}

void cn_pool_get_upstream_stats(const cn_pool_t *p, cn_upstream_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < p->n; i++) {
		if (!p->slots[i].w)
			continue;
		cn_upstream_stats_t us;
		cn_worker_get_upstream_stats(p->slots[i].w, &us);
		CN_STATS_ADD(CN_UPSTREAM_STATS_MAP, out, &us);
	}
}

typedef struct barrier {
	atomic_uint left;
	void (*done)(void *);
	void *arg;
} barrier_t;

static void barrier_pass(void *arg)
{
	barrier_t *b = arg;
	if (atomic_fetch_sub(&b->left, 1) == 1) {
		b->done(b->arg);
		free(b);
	}
}

int cn_pool_quiesce(cn_pool_t *p, void (*done)(void *), void *arg)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->n; i++)
		n += p->slots[i].w != NULL;
	if (n == 0) {
		done(arg);
		return 0;
	}
	barrier_t *b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	/* one extra count held while posting, so no worker finishes the barrier early */
	atomic_init(&b->left, n + 1);
	b->done = done;
	b->arg = arg;
	int rc = 0;
	for (unsigned i = 0; i < p->n; i++)
		if (p->slots[i].w && cn_worker_call(p->slots[i].w, barrier_pass, b) != 0)
			rc = -ENOMEM; /* that worker never passes: done is never called */
	barrier_pass(b);
	return rc;
}

void cn_pool_set_acl(cn_pool_t *p, const cn_acl_t *acl)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->slots[i].w)
			cn_worker_set_acl(p->slots[i].w, acl);
	}
}

void cn_pool_get_worker_stats(const cn_pool_t *p, unsigned i, cn_worker_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	if (i < p->n && p->slots[i].w)
		cn_worker_get_stats(p->slots[i].w, out);
}

void cn_pool_get_worker_upstream_stats(const cn_pool_t *p, unsigned i, cn_upstream_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	if (i < p->n && p->slots[i].w)
		cn_worker_get_upstream_stats(p->slots[i].w, out);
}

void cn_pool_get_worker_hist(const cn_pool_t *p, unsigned i, cn_hist_id_t id, cn_hist_t *out)
{
	memset(out, 0, sizeof(*out));
	if (i < p->n && p->slots[i].w)
		cn_worker_get_hist(p->slots[i].w, id, out);
}

void cn_pool_set_querylog(cn_pool_t *p, cn_querylog_t *ql)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->slots[i].w)
			cn_worker_set_querylog(p->slots[i].w, ql);
	}
}
