/*
 * Forwarding through c-ares (net/forward.h), driven by a worker's libuv loop the way
 * Node.js drives it: c-ares reports each socket it opens or closes through
 * ARES_OPT_SOCK_STATE_CB, we watch it with a uv_poll_t and call ares_process_fd when it is
 * ready; a uv_timer_t armed from ares_timeout() lets c-ares handle its own timeouts.
 *
 * c-ares 1.18.1 facts this relies on (DEPS.md section 2): ares_send keeps the caller's ID
 * (so the ID is ours: arc4random, unique in the channel); NOCHECKRESP hands over REFUSED
 * and SERVFAIL packets instead of moving to another server (there is one per channel: the
 * engine fails over itself); EDNS adds an OPT of our size; TC=1 is retried over TCP.
 */
#include "net/forward.h"

#include <ares.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "net/log.h"
#include "resolver/wire.h"

#define FWD_CHANNELS 64 /* distinct forwarder addresses per worker */
#define FWD_POLLS 4     /* sockets c-ares holds per channel: UDP, TCP */
#define FWD_EDNS_SIZE 1232

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

typedef struct fwd_poll {
	uv_poll_t poll;
	struct fwd_channel *ch;
	ares_socket_t fd;
	bool used;
} fwd_poll_t;

typedef struct fwd_channel {
	cn_forward_t *fw;
	struct sockaddr_storage addr;
	ares_channel ares;
	uv_timer_t timer;
	fwd_poll_t *polls[FWD_POLLS];
	cn_fwd_query_t *inflight; /* for unique IDs */
	bool destroyed;           /* ares_destroy done */
} fwd_channel_t;

struct cn_fwd_query {
	cn_fwd_query_t *next;
	fwd_channel_t *ch;
	cn_fwd_done_cb done; /* NULL once detached */
	void *ctx;
	uint16_t id;
};

struct cn_forward {
	uv_loop_t *loop;
	fwd_channel_t *ch[FWD_CHANNELS];
	size_t nch;
	unsigned busy;     /* inside c-ares (process or send): destroying must wait */
	bool closing;
	unsigned handles;  /* uv handles not closed yet */
};

static uv_once_t lib_once = UV_ONCE_INIT;
static int lib_status;

static void lib_init(void)
{
	lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* ------------------------------------------------------------------ handles -------- */

/* Once closing and outside c-ares: destroy the channels (their detached queries end in
 * on_answer with ARES_EDESTRUCTION), and free everything when the handles are closed. */
static void maybe_free(cn_forward_t *fw)
{
	if (!fw->closing || fw->busy)
		return;
	for (size_t i = 0; i < fw->nch; i++)
		if (!fw->ch[i]->destroyed) {
			fw->ch[i]->destroyed = true;
			fw->busy++;
			ares_destroy(fw->ch[i]->ares);
			fw->busy--;
		}
	if (fw->handles == 0) {
		for (size_t i = 0; i < fw->nch; i++)
			free(fw->ch[i]);
		free(fw);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	cn_forward_t *fw = h->data;
	if (h->type == UV_POLL)
		free(container_of((uv_poll_t *)h, fwd_poll_t, poll));
	fw->handles--;
	maybe_free(fw);
}

static void close_handle(cn_forward_t *fw, uv_handle_t *h)
{
	h->data = fw;
	uv_close(h, on_handle_closed);
}

static void arm_timer(fwd_channel_t *ch);

static void process(fwd_channel_t *ch, ares_socket_t r, ares_socket_t w)
{
	cn_forward_t *fw = ch->fw;
	fw->busy++;
	ares_process_fd(ch->ares, r, w);
	fw->busy--;
	if (!fw->closing)
		arm_timer(ch);
	maybe_free(fw); /* a callback may have closed fw */
}

static void on_timer(uv_timer_t *t)
{
	fwd_channel_t *ch = t->data;
	process(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void arm_timer(fwd_channel_t *ch)
{
	struct timeval tv, *next = ares_timeout(ch->ares, NULL, &tv);
	if (!next) {
		uv_timer_stop(&ch->timer);
		return;
	}
	uint64_t ms = (uint64_t)next->tv_sec * 1000 + (uint64_t)next->tv_usec / 1000;
	uv_timer_start(&ch->timer, on_timer, ms ? ms : 1, 0);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	fwd_poll_t *p = container_of(h, fwd_poll_t, poll);
	ares_socket_t fd = p->fd;
	/* an error is handed to c-ares as readiness: its read or write fails and it acts */
	bool r = status < 0 || (events & UV_READABLE), w = status < 0 || (events & UV_WRITABLE);
	process(p->ch, r ? fd : ARES_SOCKET_BAD, w ? fd : ARES_SOCKET_BAD);
}

/* c-ares opened, changed or closed a socket. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	fwd_channel_t *ch = data;
	cn_forward_t *fw = ch->fw;
	int slot = -1, free_slot = -1;
	for (int i = 0; i < FWD_POLLS; i++) {
		if (ch->polls[i] && ch->polls[i]->fd == fd)
			slot = i;
		else if (!ch->polls[i] && free_slot < 0)
			free_slot = i;
	}
	if (!readable && !writable) {
		if (slot >= 0) {
			uv_poll_stop(&ch->polls[slot]->poll);
			close_handle(fw, (uv_handle_t *)&ch->polls[slot]->poll);
			ch->polls[slot] = NULL;
		}
		return;
	}
	if (fw->closing)
		return;
	if (slot < 0) {
		fwd_poll_t *p = calloc(1, sizeof(*p));
		if (free_slot < 0 || !p || uv_poll_init_socket(fw->loop, &p->poll, fd) != 0) {
			free(p);
			cn_log(CN_LOG_WARNING, "forward: cannot watch a c-ares socket");
			return; /* its queries time out */
		}
		p->ch = ch;
		p->fd = fd;
		fw->handles++;
		ch->polls[slot = free_slot] = p;
	}
	uv_poll_start(&ch->polls[slot]->poll,
		      (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

/* ------------------------------------------------------------------ channels ------- */

static int set_server(fwd_channel_t *ch)
{
	struct ares_addr_port_node n;
	memset(&n, 0, sizeof(n));
	if (ch->addr.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&ch->addr;
		n.family = AF_INET;
		memcpy(&n.addr.addr4, &a->sin_addr, sizeof(a->sin_addr));
		n.udp_port = n.tcp_port = ntohs(a->sin_port);
	} else {
		const struct sockaddr_in6 *a = (const void *)&ch->addr;
		n.family = AF_INET6;
		memcpy(&n.addr.addr6, &a->sin6_addr, sizeof(a->sin6_addr));
		n.udp_port = n.tcp_port = ntohs(a->sin6_port);
	}
	return ares_set_servers_ports(ch->ares, &n);
}

static fwd_channel_t *channel_for(cn_forward_t *fw, const struct sockaddr_storage *addr)
{
	for (size_t i = 0; i < fw->nch; i++)
		if (cn_sockaddr_eq(&fw->ch[i]->addr, addr))
			return fw->ch[i];
	if (fw->nch >= FWD_CHANNELS)
		return NULL;
	fwd_channel_t *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->fw = fw;
	ch->addr = *addr;
	struct ares_options o;
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH;
	o.tries = 1;
	o.timeout = CN_FWD_GIVE_UP_MS;
	o.ednspsz = FWD_EDNS_SIZE;
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = ch;
	o.resolvconf_path = (char *)"/dev/null"; /* servers are ours, not the host's */
	int mask = ARES_OPT_FLAGS | ARES_OPT_TRIES | ARES_OPT_TIMEOUTMS | ARES_OPT_EDNSPSZ |
		   ARES_OPT_SOCK_STATE_CB | ARES_OPT_RESOLVCONF;
	if (ares_init_options(&ch->ares, &o, mask) != ARES_SUCCESS) {
		free(ch);
		return NULL;
	}
	if (set_server(ch) != ARES_SUCCESS) {
		ares_destroy(ch->ares);
		free(ch);
		return NULL;
	}
	uv_timer_init(fw->loop, &ch->timer);
	ch->timer.data = ch;
	fw->handles++;
	fw->ch[fw->nch++] = ch;
	return ch;
}

/* ------------------------------------------------------------------ queries -------- */

static void unlink_query(cn_fwd_query_t *q)
{
	for (cn_fwd_query_t **pp = &q->ch->inflight; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			return;
		}
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	cn_fwd_query_t *q = arg;
	unlink_query(q);
	cn_fwd_done_cb done = q->done;
	void *ctx = q->ctx;
	free(q);
	if (!done)
		return; /* detached */
	if (abuf && alen >= CN_HEADER_LEN) /* NOCHECKRESP: any RCODE comes with its packet */
		done(ctx, CN_UP_REPLY, abuf, (size_t)alen);
	else if (status == ARES_ETIMEOUT)
		done(ctx, CN_UP_TIMEOUT, NULL, 0);
	else
		done(ctx, CN_UP_NETWORK_ERROR, NULL, 0);
}

static uint16_t fresh_id(const fwd_channel_t *ch)
{
	for (;;) {
		uint16_t id;
		arc4random_buf(&id, sizeof(id));
		bool taken = false;
		for (const cn_fwd_query_t *q = ch->inflight; q && !taken; q = q->next)
			taken = q->id == id;
		if (!taken)
			return id;
	}
}

int cn_forward_send(cn_forward_t *fw, const uint8_t *wire, size_t len,
		    const struct sockaddr_storage *addr, cn_fwd_done_cb done, void *ctx,
		    cn_fwd_query_t **out)
{
	if (!fw || !wire || len < CN_HEADER_LEN || len > 512 || !addr || !done)
		return -EINVAL;
	if (fw->closing)
		return -ECANCELED;
	uv_once(&lib_once, lib_init);
	if (lib_status != ARES_SUCCESS)
		return -ENOMEM;
	fwd_channel_t *ch = channel_for(fw, addr);
	cn_fwd_query_t *q = ch ? calloc(1, sizeof(*q)) : NULL;
	if (!q)
		return -ENOMEM;
	q->ch = ch;
	q->done = done;
	q->ctx = ctx;
	q->id = fresh_id(ch);
	q->next = ch->inflight;
	ch->inflight = q;
	uint8_t buf[512];
	memcpy(buf, wire, len);
	cn_wire_put16(buf, q->id);
	*out = q;
	fw->busy++;
	ares_send(ch->ares, buf, (int)len, on_answer, q); /* may call on_answer at once */
	fw->busy--;
	if (!fw->closing)
		arm_timer(ch);
	maybe_free(fw);
	return 0;
}

void cn_forward_detach(cn_fwd_query_t *q)
{
	if (q)
		q->done = NULL;
}

void cn_forward_close(cn_forward_t *fw)
{
	if (!fw || fw->closing)
		return;
	fw->closing = true;
	for (size_t i = 0; i < fw->nch; i++) {
		fwd_channel_t *ch = fw->ch[i];
		for (cn_fwd_query_t *q = ch->inflight; q; q = q->next)
			q->done = NULL;
		for (int k = 0; k < FWD_POLLS; k++)
			if (ch->polls[k]) {
				uv_poll_stop(&ch->polls[k]->poll);
				close_handle(fw, (uv_handle_t *)&ch->polls[k]->poll);
				ch->polls[k] = NULL;
			}
		uv_timer_stop(&ch->timer);
		close_handle(fw, (uv_handle_t *)&ch->timer);
	}
	maybe_free(fw); /* inside a c-ares callback: when it returns */
}

int cn_forward_new(uv_loop_t *loop, cn_forward_t **out)
{
	cn_forward_t *fw = calloc(1, sizeof(*fw));
	if (!loop || !fw) {
		free(fw);
		return -ENOMEM;
	}
	fw->loop = loop;
	*out = fw;
	return 0;
}
