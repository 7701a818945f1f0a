/*
 * Root hints: the compiled-in IANA root server list and the loader for a named.root file
 * (the zone-file format IANA publishes at https://www.internic.net/domain/named.root).
 * The loader reads "." NS records and the A/AAAA records of the names they list, with
 * optional TTL and class in either order (RFC 1035 5.1), ';' comments, $TTL and $ORIGIN.
 * As an extension for test beds, an address may carry a port: "127.0.0.1@5353".
 * Hints are process-lifetime data (STYLE.md 6): loaded once at start, malloc'ed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resolver/errors.h"
#include "resolver/resolver.h"

#define HINTS_MAX 64       /* root server names accepted from a file */
#define HINTS_ADDRS_MAX 4  /* addresses kept per name: cn_hint_t.addr */
#define HINTS_TOKENS_MAX 8 /* owner ttl class type rdata, with room to spare */
#define DNS_PORT 53

/* ------------------------------------------------------------------ built-in ------- */

/* IANA root servers (root-servers.org; b.root-servers.net renumbered on 2023-11-27). */
static const struct {
	const char *name, *v4, *v6;
} iana_roots[] = {
	{"a.root-servers.net", "198.41.0.4", "2001:503:ba3e::2:30"},
	{"b.root-servers.net", "170.247.170.2", "2801:1b8:10::b"},
	{"c.root-servers.net", "192.33.4.12", "2001:500:2::c"},
	{"d.root-servers.net", "199.7.91.13", "2001:500:2d::d"},
	{"e.root-servers.net", "192.203.230.10", "2001:500:a8::e"},
	{"f.root-servers.net", "192.5.5.241", "2001:500:2f::f"},
	{"g.root-servers.net", "192.112.36.4", "2001:500:12::d0d"},
	{"h.root-servers.net", "198.97.190.53", "2001:500:1::53"},
	{"i.root-servers.net", "192.36.148.17", "2001:7fe::53"},
	{"j.root-servers.net", "192.58.128.30", "2001:503:c27::2:30"},
	{"k.root-servers.net", "193.0.14.129", "2001:7fd::1"},
	{"l.root-servers.net", "199.7.83.42", "2001:500:9f::42"},
	{"m.root-servers.net", "202.12.27.33", "2001:dc3::35"},
};
#define IANA_N (sizeof(iana_roots) / sizeof(iana_roots[0]))

static cn_hint_t builtin[IANA_N];
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

/* Parse an address (IPv4 or IPv6) into ss with port; false if it is neither. */
static bool addr_parse(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return true;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return true;
	}
	return false;
}

static void builtin_build(void)
{
	for (size_t i = 0; i < IANA_N; i++) {
		cn_hint_t *h = &builtin[i];
		cn_dname_from_str(iana_roots[i].name, h->name, NULL);
		h->naddr = 0;
		if (addr_parse(iana_roots[i].v4, DNS_PORT, &h->addr[h->naddr]))
			h->naddr++;
		if (addr_parse(iana_roots[i].v6, DNS_PORT, &h->addr[h->naddr]))
			h->naddr++;
	}
}

const cn_hint_t *cn_hints_builtin(size_t *n)
{
	pthread_once(&builtin_once, builtin_build);
	*n = IANA_N;
	return builtin;
}

/* ------------------------------------------------------------------ file ----------- */

/* Address records seen, to be matched to the NS names once the whole file is read. */
typedef struct addr_rec {
	uint8_t name[CN_DNAME_MAX];
	struct sockaddr_storage addr;
} addr_rec_t;

typedef struct loader {
	cn_hint_t *hints;   /* HINTS_MAX entries */
	int ns_line[HINTS_MAX];
	size_t nhints;
	addr_rec_t *addrs;
	size_t naddrs, addrs_cap;
	uint8_t origin[CN_DNAME_MAX];
	uint8_t owner[CN_DNAME_MAX]; /* the previous owner, for lines starting with blanks */
	bool have_owner;
	int line;
	char *err;
	size_t errlen;
} loader_t;

static int fail(loader_t *l, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(loader_t *l, int code, const char *fmt, ...)
{
	if (l->err && l->errlen) {
		int n = l->line ? snprintf(l->err, l->errlen, "line %d: ", l->line) : 0;
		va_list ap;
		va_start(ap, fmt);
		if (n >= 0 && (size_t)n < l->errlen)
			vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A name in the file: absolute with a trailing dot, "@" for the origin, else relative
 * to the origin. */
static int name_parse(loader_t *l, const char *s, uint8_t out[CN_DNAME_MAX])
{
	if (strcmp(s, "@") == 0) {
		cn_dname_copy(out, l->origin);
		return 0;
	}
	size_t len, n = strlen(s);
	int r = cn_dname_from_str(s, out, &len);
	if (r)
		return fail(l, CN_ESYNTAX, "bad name \"%s\": %s", s, cn_strerror(r));
	bool absolute = n > 0 && s[n - 1] == '.' && (n < 2 || s[n - 2] != '\\');
	if (absolute || l->origin[0] == 0)
		return 0;
	size_t olen = cn_dname_len(l->origin);
	if (len - 1 + olen > CN_DNAME_MAX)
		return fail(l, CN_ESYNTAX, "name \"%s\" too long with the origin", s);
	memcpy(out + len - 1, l->origin, olen);
	return 0;
}

/* TTL: decimal seconds, or BIND-style units (1h30m, 2d, 1w). The value is not used:
 * root hints are primed, not cached as such. */
static bool is_ttl(const char *s)
{
	if (!isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && !strchr("sSmMhHdDwW", *s))
			return false;
	return true;
}

static int add_ns(loader_t *l, const uint8_t *owner, const char *target)
{
	if (owner[0] != 0)
		return fail(l, CN_ESYNTAX, "NS record not at the root");
	uint8_t name[CN_DNAME_MAX];
	int r = name_parse(l, target, name);
	if (r)
		return r;
	for (size_t i = 0; i < l->nhints; i++)
		if (cn_dname_eq(l->hints[i].name, name))
			return 0; /* listed twice: once is enough */
	if (l->nhints == HINTS_MAX)
		return fail(l, CN_ELIMIT, "more than %d root server names", HINTS_MAX);
	cn_hint_t *h = &l->hints[l->nhints];
	memset(h, 0, sizeof(*h));
	cn_dname_copy(h->name, name);
	l->ns_line[l->nhints++] = l->line;
	return 0;
}

static int add_addr(loader_t *l, const uint8_t *owner, int family, char *text)
{
	uint16_t port = DNS_PORT;
	char *at = strchr(text, '@');
	if (at) {
		char *end;
		*at = '\0';
		long p = strtol(at + 1, &end, 10);
		if (*end || p < 1 || p > 65535)
			return fail(l, CN_ESYNTAX, "bad port \"%s\"", at + 1);
		port = (uint16_t)p;
	}
	addr_rec_t rec;
	cn_dname_copy(rec.name, owner);
	if (!addr_parse(text, port, &rec.addr) || rec.addr.ss_family != family)
		return fail(l, CN_ESYNTAX, "bad %s address \"%s\"",
			    family == AF_INET ? "IPv4" : "IPv6", text);
	if (l->naddrs == l->addrs_cap) {
		size_t cap = l->addrs_cap ? l->addrs_cap * 2 : 32;
		addr_rec_t *a = realloc(l->addrs, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		l->addrs = a;
		l->addrs_cap = cap;
	}
	l->addrs[l->naddrs++] = rec;
	return 0;
}

static int directive(loader_t *l, char **tok, int ntok)
{
	if (strcasecmp(tok[0], "$TTL") == 0 && ntok == 2 && is_ttl(tok[1]))
		return 0;
	if (strcasecmp(tok[0], "$ORIGIN") == 0 && ntok == 2) {
		size_t n = strlen(tok[1]);
		if (n == 0 || tok[1][n - 1] != '.')
			return fail(l, CN_ESYNTAX, "$ORIGIN must be an absolute name");
		return name_parse(l, tok[1], l->origin);
	}
	return fail(l, CN_ESYNTAX, "unsupported directive \"%s\"", tok[0]);
}

/* One record: [owner] [ttl] [class] type rdata (RFC 1035 5.1; TTL and class either way). */
static int record(loader_t *l, char **tok, int ntok, bool blank_owner)
{
	int i = 0;
	if (!blank_owner) {
		int r = name_parse(l, tok[i++], l->owner);
		if (r)
			return r;
		l->have_owner = true;
	} else if (!l->have_owner) {
		return fail(l, CN_ESYNTAX, "record without an owner name");
	}
	for (int k = 0; k < 2 && i < ntok; k++) {
		if (is_ttl(tok[i]))
			i++;
		else if (strcasecmp(tok[i], "IN") == 0)
			i++;
		else if (strcasecmp(tok[i], "CH") == 0 || strcasecmp(tok[i], "HS") == 0)
			return fail(l, CN_ESYNTAX, "class %s: root hints are class IN", tok[i]);
	}
	if (ntok - i != 2)
		return fail(l, CN_ESYNTAX, "expected \"type data\" after owner, TTL and class");
	const char *type = tok[i];
	char *data = tok[i + 1];
	if (strcasecmp(type, "NS") == 0)
		return add_ns(l, l->owner, data);
	if (strcasecmp(type, "A") == 0)
		return add_addr(l, l->owner, AF_INET, data);
	if (strcasecmp(type, "AAAA") == 0)
		return add_addr(l, l->owner, AF_INET6, data);
	return fail(l, CN_ESYNTAX, "unsupported record type \"%s\" (NS, A, AAAA only)", type);
}

/* Split a line at blanks after cutting its comment; returns the token count or -1 when
 * there are too many, -2 for parentheses (multi-line records are not supported). */
static int tokenize(char *line, char **tok)
{
	char *semi = strchr(line, ';');
	if (semi)
		*semi = '\0';
	if (strpbrk(line, "()"))
		return -2;
	int n = 0;
	for (char *s = strtok(line, " \t\r\n"); s; s = strtok(NULL, " \t\r\n")) {
		if (n == HINTS_TOKENS_MAX)
			return -1;
		tok[n++] = s;
	}
	return n;
}

static int line_parse(loader_t *l, char *line)
{
	bool blank_owner = line[0] == ' ' || line[0] == '\t';
	char *tok[HINTS_TOKENS_MAX];
	int ntok = tokenize(line, tok);
	if (ntok == -2)
		return fail(l, CN_ESYNTAX, "parentheses are not supported");
	if (ntok < 0)
		return fail(l, CN_ESYNTAX, "too many fields");
	if (ntok == 0)
		return 0;
	if (tok[0][0] == '$' && !blank_owner)
		return directive(l, tok, ntok);
	return record(l, tok, ntok, blank_owner);
}

/* Give each NS name its addresses, in file order, at most HINTS_ADDRS_MAX. */
static int attach_addrs(loader_t *l)
{
	if (l->nhints == 0)
		return fail(l, CN_ESYNTAX, "no NS records for the root");
	for (size_t i = 0; i < l->nhints; i++) {
		cn_hint_t *h = &l->hints[i];
		for (size_t k = 0; k < l->naddrs && h->naddr < HINTS_ADDRS_MAX; k++)
			if (cn_dname_eq(l->addrs[k].name, h->name))
				h->addr[h->naddr++] = l->addrs[k].addr;
		if (h->naddr == 0) {
			char s[CN_DNAME_STR_MAX];
			cn_dname_to_str(h->name, s, sizeof(s));
			l->line = l->ns_line[i];
			return fail(l, CN_ESYNTAX, "no A or AAAA record for %s", s);
		}
	}
	return 0;
}

static int load_stream(loader_t *l, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	while (getline(&line, &cap, f) >= 0) {
		l->line++;
		if ((r = line_parse(l, line)))
			break;
	}
	free(line);
	if (!r && ferror(f))
		r = fail(l, -EIO, "read error");
	if (!r) {
		l->line++; /* errors found at the end point just past the last line */
		r = attach_addrs(l);
	}
	return r;
}

int cn_hints_load(const char *path, cn_hint_t **out, size_t *n, char *errbuf, size_t errlen)
{
	loader_t l = {.err = errbuf, .errlen = errlen};
	if (errbuf && errlen)
		errbuf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		return fail(&l, -e, "%s: %s", path, strerror(e));
	}
	l.hints = calloc(HINTS_MAX, sizeof(*l.hints));
	int r = l.hints ? load_stream(&l, f) : -ENOMEM;
	fclose(f);
	free(l.addrs);
	if (r) {
		free(l.hints);
		return r;
	}
	cn_hint_t *shrunk = realloc(l.hints, l.nhints * sizeof(*l.hints));
	*out = shrunk ? shrunk : l.hints;
	*n = l.nhints;
	return 0;
}
