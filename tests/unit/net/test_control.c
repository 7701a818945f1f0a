/*
 * Unit tests for net/control.c, driven over a real Unix socket: a client thread writes
 * bytes and reads the reply to end of file while the main thread runs the loop. Only the
 * behaviour is asserted (commands and their replies, errors, framing, limits, the socket
 * file's life), not how the reply is built. Every test ends by closing the control socket
 * and checking uv_loop_close() == 0 (no handle left behind).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cache/cache.h"
#include "net/control.h"
#include "resolver/dname.h"
#include "resolver/internal.h"
#include "tests/unit/unit.h"

static uv_loop_t loop;
static cn_cache_t *cache;
static cn_control_t *ctl;
static char dir[64], sock_path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/cairn-ctl-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/c.sock", dir);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	cn_cache_conf_t cc = { .budget_bytes = 1 << 20 };
	ck_assert_int_eq(cn_cache_new(&cc, &cache), 0);
	ck_assert_int_eq(cn_control_open(&loop, sock_path, NULL, cache, &ctl), 0);
}

static void teardown(void)
{
	cn_control_close(ctl);
	ctl = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	cn_cache_free(cache);
	unlink(sock_path);
	rmdir(dir);
}

/* ------------------------------------------------------------------ the client ------ */

typedef struct ask {
	const char *bytes;
	size_t len;
	bool half_close;     /* shut down the write side after sending */
	char reply[1 << 16];
	size_t rlen;
	atomic_bool done;
	uv_async_t *wake;
} ask_t;

static int connect_to(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct timeval tv = { .tv_sec = 10 }; /* a bound, never reached when all is well */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *client(void *arg)
{
	ask_t *a = arg;
	int fd = connect_to(sock_path);
	if (fd >= 0) {
		if (a->len)
			(void)!send(fd, a->bytes, a->len, MSG_NOSIGNAL); /* the daemon may have closed */
		if (a->half_close)
			shutdown(fd, SHUT_WR);
		ssize_t n;
		while (a->rlen < sizeof(a->reply) - 1 &&
		       (n = read(fd, a->reply + a->rlen, sizeof(a->reply) - 1 - a->rlen)) > 0)
			a->rlen += (size_t)n;
		close(fd);
	}
	a->reply[a->rlen] = 0;
	atomic_store(&a->done, true);
	uv_async_send(a->wake);
	return NULL;
}

static void on_wake(uv_async_t *h)
{
	(void)h;
}

/* Send bytes (half-closing or not), run the loop until the reply has been read to EOF. */
static ask_t *ask_raw(const char *bytes, size_t len, bool half_close)
{
	static ask_t a;
	memset(&a, 0, sizeof(a));
	a.bytes = bytes;
	a.len = len;
	a.half_close = half_close;
	uv_async_t wake;
	uv_async_init(&loop, &wake, on_wake);
	a.wake = &wake;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, client, &a), 0);
	while (!atomic_load(&a.done))
		uv_run(&loop, UV_RUN_ONCE);
	pthread_join(t, NULL);
	uv_close((uv_handle_t *)&wake, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return &a;
}

static const char *ask(const char *line)
{
	return ask_raw(line, strlen(line), false)->reply;
}

/* The value of "name value" in a stats reply, or -1. */
static long long stat_of(const char *reply, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = reply; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return atoll(p + n + 1);
	return -1;
}

static void put_a(const char *owner, uint32_t ttl, uint8_t last)
{
	uint8_t key[CN_DNAME_MAX], a[4] = { 192, 0, 2, last }, val[16];
	size_t klen;
	ck_assert_int_eq(cn_dname_from_str(owner, key, &klen), 0);
	cn_dname_lower(key);
	cn_rr_t rr = { .rdata = a, .rdlen = 4 };
	const cn_rr_t *p[] = { &rr };
	int len = cn__value_encode_rrset(p, 1, val, sizeof(val));
	ck_assert_int_eq(cn_cache_insert(cache, key, klen, CN_TYPE_A, CN_CLASS_IN, CN_CACHE_RRSET,
					 CN_RANK_AUTH_ANSWER, ttl, (uint64_t)time(NULL), val,
					 (size_t)len),
			 0);
}

/* ------------------------------------------------------------------ argument abuse -- */

START_TEST(test_open_abuse)
{
	cn_control_t *c2 = NULL;
	ck_assert_int_eq(cn_control_open(NULL, sock_path, NULL, cache, &c2), -EINVAL);
	ck_assert_int_eq(cn_control_open(&loop, NULL, NULL, cache, &c2), -EINVAL);
	ck_assert_int_eq(cn_control_open(&loop, "", NULL, cache, &c2), -EINVAL);
	ck_assert_int_eq(cn_control_open(&loop, sock_path, NULL, NULL, &c2), -EINVAL);
	ck_assert_int_eq(cn_control_open(&loop, sock_path, NULL, cache, NULL), -EINVAL);
	char longp[200];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	ck_assert_int_eq(cn_control_open(&loop, longp, NULL, cache, &c2), -ENAMETOOLONG);
	/* a live daemon's socket is left alone */
	ck_assert_int_eq(cn_control_open(&loop, sock_path, NULL, cache, &c2), -EADDRINUSE);
	/* so is a file that is not a socket */
	char file[160];
	snprintf(file, sizeof(file), "%s/plain", dir);
	FILE *f = fopen(file, "w");
	fclose(f);
	ck_assert_int_eq(cn_control_open(&loop, file, NULL, cache, &c2), -EEXIST);
	unlink(file);
	ck_assert_ptr_null(c2);
	cn_control_close(NULL);
	/* the socket is private */
	struct stat st;
	ck_assert_int_eq(stat(sock_path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
}
END_TEST

START_TEST(test_stale_socket_and_close)
{
	/* a socket file left by a run that died: nobody accepts, so it is replaced */
	char stale[160];
	snprintf(stale, sizeof(stale), "%s/stale.sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, stale);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	cn_control_t *c2 = NULL;
	ck_assert_int_eq(cn_control_open(&loop, stale, NULL, cache, &c2), 0);
	/* closing removes the file */
	cn_control_close(c2);
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(access(stale, F_OK), -1);
	/* and our main socket, once closed, refuses connections */
	cn_control_close(ctl);
	ctl = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(access(sock_path, F_OK), -1);
	ck_assert_int_eq(connect_to(sock_path), -1);
}
END_TEST

/* ------------------------------------------------------------------ commands -------- */

typedef struct cmd_case {
	const char *send;
	const char *starts;  /* the reply starts with this */
} cmd_case_t;

static const cmd_case_t cmd_cases[] = {
	{ "help\n", "commands:\n" },
	{ "help\r\n", "commands:\n" },             /* CRLF */
	{ "  help  \n", "commands:\n" },           /* blanks around */
	{ "help", "commands:\n" },                 /* no newline, then end of input */
	{ "\n", "error: empty command" },
	{ "   \n", "error: empty command" },
	{ "frobnicate\n", "error: unknown command 'frobnicate'" },
	{ "HELP\n", "error: unknown command 'HELP'" },
	{ "help me\n", "error: unknown command 'help'" },
	{ "stats now\n", "error: usage: stats [--json]" },
	{ "stats --json x\n", "error: usage: stats [--json]" },
	{ "stats --json\n", "{\n  \"queries\": 0,\n" },
	{ "cache\n", "error: usage: cache lookup" },
	{ "cache frob\n", "error: usage: cache lookup" },
	{ "cache lookup\n", "error: usage: cache lookup" },
	{ "cache lookup a. A extra\n", "error: usage: cache lookup" },
	{ "cache lookup a..b.\n", "error: bad name 'a..b.'" },
	{ "cache lookup a. NOSUCHTYPE\n", "error: unknown type 'NOSUCHTYPE'" },
	{ "cache lookup nothing.test. A\n", "not in cache\n" },
	{ "cache lookup nothing.test.\n", "not in cache\n" },
	{ "cache flush a. b.\n", "error: usage: cache lookup" },
	{ "cache flush a..b.\n", "error: bad name" },
	{ "cache flush nothing.test.\n", "flushed 0\n" },
	{ "cache flush nothing.test. --subtree\n", "flushed 0\n" },
	{ "cache flush --subtree\n", "error: usage: cache lookup" },
	{ "cache flush a. --sub\n", "error: usage: cache lookup" },
	{ "flush\n", "error: usage: flush NAME [--subtree]" },
	{ "flush --subtree\n", "error: usage: flush NAME [--subtree]" },
	{ "flush a. --subtree x\n", "error: usage: flush NAME [--subtree]" },
	{ "flush nothing.test.\n", "flushed 0\n" },
	{ "cache dump\n", "error: usage: cache lookup" },
	{ "cache dump relative.bin\n", "error: dump needs an absolute path" },
	{ "cache load relative.bin\n", "error: load needs an absolute path" },
	{ "cache load /nonexistent/cairn.dump\n", "error: load /nonexistent/cairn.dump:" },
};

START_TEST(test_command_table)
{
	const cmd_case_t *c = &cmd_cases[_i];
	const char *r = ask_raw(c->send, strlen(c->send), true)->reply;
	ck_assert_msg(strncmp(r, c->starts, strlen(c->starts)) == 0, "'%s' -> '%s'", c->send, r);
	ck_assert_msg(r[0] && r[strlen(r) - 1] == '\n', "'%s': reply not a line", c->send);
}
END_TEST

START_TEST(test_stats)
{
	put_a("a.test.", 300, 1);
	put_a("b.test.", 300, 2);
	const char *r = ask("stats\n");
	/* every line "name value" */
	for (const char *p = r; *p; p = strchr(p, '\n') + 1) {
		const char *sp = strchr(p, ' '), *nl = strchr(p, '\n');
		ck_assert_msg(sp && nl && sp < nl, "bad stats line at '%.40s'", p);
	}
	ck_assert_int_eq(stat_of(r, "cache.entries"), 2);
	ck_assert_int_eq(stat_of(r, "cache.budget"), 1 << 20);
	ck_assert_int_gt(stat_of(r, "cache.bytes"), 0);
	ck_assert_int_eq(stat_of(r, "cache.insertions"), 2);
	ck_assert_int_eq(stat_of(r, "queries"), 0); /* no engine: its lines read 0 */
	ck_assert_int_eq(stat_of(r, "upstream.sent_udp"), 0);
	ck_assert_ptr_nonnull(strstr(r, "cache.hit_rate 0"));
}
END_TEST

/* `stats --json`: one object with the text's names and values, in the same order. */
START_TEST(test_stats_json)
{
	put_a("a.test.", 300, 1);
	static char text[1 << 16];
	snprintf(text, sizeof(text), "%s", ask("stats\n"));
	const char *j = ask("stats --json\n");
	ck_assert_msg(strncmp(j, "{\n", 2) == 0 && strcmp(j + strlen(j) - 3, "\n}\n") == 0,
		      "not an object: %.40s", j);
	const char *jp = j + 2;
	size_t lines = 0;
	for (const char *p = text; *p; p = strchr(p, '\n') + 1, lines++) {
		const char *sp = strchr(p, ' '), *nl = strchr(p, '\n');
		char want[256];
		snprintf(want, sizeof(want), "  \"%.*s\": %.*s%s", (int)(sp - p), p,
			 (int)(nl - sp - 1), sp + 1, nl[1] ? ",\n" : "\n}\n");
		ck_assert_msg(strncmp(jp, want, strlen(want)) == 0, "want '%s' at '%.60s'", want,
			      jp);
		jp += strlen(want);
	}
	ck_assert_uint_gt(lines, 40);
	ck_assert_str_eq(jp, "");
}
END_TEST

static void fake_net_stats(void *ctx, cn_control_net_stats_t *out)
{
	(*(int *)ctx)++;
	out->upstream.sent_udp = 7;
	out->upstream.sent_tcp = 3;
}

START_TEST(test_stats_upstream_source)
{
	int calls = 0;
	cn_control_set_net_stats(ctl, fake_net_stats, &calls);
	const char *r = ask("stats\n");
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(stat_of(r, "upstream.sent_udp"), 7);
	ck_assert_int_eq(stat_of(r, "upstream.sent_tcp"), 3);
}
END_TEST

START_TEST(test_lookup_flush)
{
	put_a("www.example.test.", 300, 7);
	put_a("mail.example.test.", 300, 8);
	const char *r = ask("cache lookup WWW.Example.Test. A\n");
	ck_assert_msg(strstr(r, "www.example.test. A rrset rank=auth_answer") && strstr(r, "live"),
		      "%s", r);
	ck_assert_msg(strstr(r, "192.0.2.7"), "%s", r);
	r = ask("cache lookup www.example.test.\n"); /* every type */
	ck_assert_msg(strstr(r, "192.0.2.7") && !strstr(r, "192.0.2.8"), "%s", r);
	r = ask("cache lookup www.example.test. AAAA\n");
	ck_assert_str_eq(r, "not in cache\n");
	/* the lookup is a peek: not counted as a cache lookup */
	ck_assert_int_eq(stat_of(ask("stats\n"), "cache.lookups"), 0);
	ck_assert_str_eq(ask("cache flush www.example.test.\n"), "flushed 1\n");
	ck_assert_str_eq(ask("cache lookup www.example.test. A\n"), "not in cache\n");
	ck_assert_msg(strstr(ask("cache lookup mail.example.test. A\n"), "192.0.2.8"), "kept");
	ck_assert_str_eq(ask("cache flush\n"), "flushed all\n");
	ck_assert_int_eq(stat_of(ask("stats\n"), "cache.entries"), 0);
}
END_TEST

/* --subtree: the name and every name below it, nothing beside it. */
START_TEST(test_flush_subtree)
{
	put_a("example.test.", 300, 1);
	put_a("www.example.test.", 300, 2);
	put_a("a.b.example.test.", 300, 3);
	put_a("notexample.test.", 300, 4);
	put_a("other.test.", 300, 5);
	ck_assert_str_eq(ask("flush Example.TEST. --subtree\n"), "flushed 3\n");
	ck_assert_str_eq(ask("cache lookup a.b.example.test. A\n"), "not in cache\n");
	ck_assert_msg(strstr(ask("cache lookup notexample.test. A\n"), "192.0.2.4"), "kept");
	ck_assert_str_eq(ask("cache flush test. --subtree\n"), "flushed 2\n");
	ck_assert_int_eq(stat_of(ask("stats\n"), "cache.entries"), 0);
}
END_TEST

START_TEST(test_dump_load)
{
	for (int i = 0; i < 5; i++) {
		char n[32];
		snprintf(n, sizeof(n), "h%d.test.", i);
		put_a(n, 3600, (uint8_t)i);
	}
	char cmd[256], want[64], file[160];
	snprintf(file, sizeof(file), "%s/with space.dump", dir); /* a path may hold spaces */
	snprintf(cmd, sizeof(cmd), "cache dump %s  \n", file);
	ck_assert_str_eq(ask(cmd), "dumped 5\n");
	ask("cache flush\n");
	ck_assert_str_eq(ask("cache lookup h3.test. A\n"), "not in cache\n");
	snprintf(cmd, sizeof(cmd), "cache load %s\n", file);
	snprintf(want, sizeof(want), "loaded 5\n");
	ck_assert_str_eq(ask(cmd), want);
	ck_assert_msg(strstr(ask("cache lookup h3.test. A\n"), "192.0.2.3"), "not reloaded");
	unlink(file);
}
END_TEST

/* ------------------------------------------------------------------ framing --------- */

START_TEST(test_framing)
{
	/* the first line is the command; the rest is ignored */
	ck_assert(strncmp(ask("help\nstats\n"), "commands:", 9) == 0);
	/* a NUL ends the command */
	static const char nul[] = "help\0garbage\n";
	ck_assert(strncmp(ask_raw(nul, sizeof(nul) - 1, false)->reply, "commands:", 9) == 0);
	/* a line of exactly the limit is read (and is an unknown command) */
	static char line[CN_CONTROL_LINE_MAX + 2];
	memset(line, 'x', CN_CONTROL_LINE_MAX);
	line[CN_CONTROL_LINE_MAX] = '\n';
	const char *r = ask_raw(line, CN_CONTROL_LINE_MAX + 1, false)->reply;
	ck_assert(strncmp(r, "error: unknown command 'xxxx", 28) == 0);
	/* one byte more, without a newline: refused as too long, without waiting for more */
	memset(line, 'x', CN_CONTROL_LINE_MAX + 1);
	r = ask_raw(line, CN_CONTROL_LINE_MAX + 1, false)->reply;
	ck_assert_str_eq(r, "error: command longer than 4096 bytes\n");
	/* a client that says nothing and hangs up gets nothing */
	ask_t *a = ask_raw("", 0, true);
	ck_assert_uint_eq(a->rlen, 0);
	/* the daemon still serves afterwards */
	ck_assert(strncmp(ask("help\n"), "commands:", 9) == 0);
}
END_TEST

/* More than CN_CONTROL_MAX_CONNS connections at once: the extra ones are closed at once,
 * the others are still served. */
START_TEST(test_connection_cap)
{
	int fds[CN_CONTROL_MAX_CONNS];
	for (int i = 0; i < CN_CONTROL_MAX_CONNS; i++) {
		fds[i] = connect_to(sock_path);
		ck_assert_int_ge(fds[i], 0);
		/* let the loop accept it before the listen backlog (16) could fill */
		for (int k = 0; k < 4; k++)
			uv_run(&loop, UV_RUN_NOWAIT);
	}
	ask_t *a = ask_raw("help\n", 5, false);
	ck_assert_uint_eq(a->rlen, 0); /* closed without a reply */
	/* the held ones are served */
	ck_assert_int_eq(send(fds[0], "help\n", 5, MSG_NOSIGNAL), 5);
	char buf[64];
	ssize_t n = 0;
	for (int i = 0; i < 1000 && n <= 0; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		n = recv(fds[0], buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			usleep(1000);
	}
	ck_assert_int_gt(n, 0);
	ck_assert(strncmp(buf, "commands:", 9) == 0);
	for (int i = 0; i < CN_CONTROL_MAX_CONNS; i++)
		close(fds[i]);
	for (int i = 0; i < 4 * CN_CONTROL_MAX_CONNS; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert(strncmp(ask("help\n"), "commands:", 9) == 0);
}
END_TEST

static Suite *control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_abuse);
	tcase_add_test(tc, test_stale_socket_and_close);
	tcase_add_loop_test(tc, test_command_table, 0, sizeof(cmd_cases) / sizeof(cmd_cases[0]));
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_stats_json);
	tcase_add_test(tc, test_flush_subtree);
	tcase_add_test(tc, test_stats_upstream_source);
	tcase_add_test(tc, test_lookup_flush);
	tcase_add_test(tc, test_dump_load);
	tcase_add_test(tc, test_framing);
	tcase_add_test(tc, test_connection_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cn_test_run(control_suite());
}
