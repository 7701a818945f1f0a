/*
 * Value parsers the file and the command-line flags share: sizes ("64M"), listen addresses
 * ("ADDR@PORT", "[V6]:PORT"), subnets, the /metrics address; and the lists they feed.
 */
#include "net/config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>

/* ------------------------------------------------------------------ value parsers ----- */

int cn_config_parse_size(const char *s, size_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return -EINVAL;
	}
	/* Accept "64MB"/"64MiB" as well: operators write them. */
	if (shift && (strcasecmp(end, "b") == 0 || strcasecmp(end, "ib") == 0))
		end += strlen(end);
	if (*end != '\0')
		return -EINVAL;
	if (shift && v > (SIZE_MAX >> shift))
		return -EINVAL;
	if (v > SIZE_MAX)
		return -EINVAL;
	*out = (size_t)(v << shift);
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int cn_config_parse_listen(const char *s, uint16_t default_port, cn_listen_t *out)
{
	char host[INET6_ADDRSTRLEN + 16];
	const char *port_str = NULL;
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n + 1);
	if (host[0] == '[') {
		/* [addr]:port or [addr] */
		char *close = strchr(host, ']');
		if (!close)
			return -EINVAL;
		const char *rest = s + (close - host) + 1; /* just past ']' */
		*close = '\0';
		memmove(host, host + 1, strlen(host + 1) + 1);
		if (*rest == ':' || *rest == '@')
			port_str = rest + 1;
		else if (*rest != '\0')
			return -EINVAL;
	} else {
		char *at = strrchr(host, '@');
		if (at) {
			*at = '\0';
			port_str = at + 1;
		} else if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':')) {
			/* exactly one ':' : IPv4 "addr:port" */
			at = strchr(host, ':');
			*at = '\0';
			port_str = at + 1;
		}
	}
	uint16_t port = default_port;
	if (port_str && parse_port(port_str, &port) != 0)
		return -EINVAL;
	cn_listen_t l;
	memset(&l, 0, sizeof(l));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&l.addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&l.addr;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		l.addr_len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		l.addr_len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	*out = l;
	return 0;
}


int cn_config_add_listen(cn_config_t *cfg, const char *s)
{
	cn_listen_t l;
	if (cn_config_parse_listen(s, CN_DNS_PORT, &l) != 0)
		return -EINVAL;
	return append((void **)&cfg->listen, &cfg->nlisten, sizeof(l), &l);
}

static int add_cidr(cn_cidr_t **list, size_t *n, const char *s)
{
	cn_cidr_t c;
	if (cn_cidr_parse(s, &c) != 0)
		return -EINVAL;
	return append((void **)list, n, sizeof(c), &c);
}

int cn_config_add_refuse(cn_config_t *cfg, const char *s)
{
	return add_cidr(&cfg->refuse, &cfg->nrefuse, s);
}

int cn_config_add_deny(cn_config_t *cfg, const char *s)
{
	return add_cidr(&cfg->deny, &cfg->ndeny, s);
}

int cn_config_add_allow(cn_config_t *cfg, const char *s)
{
	cn_cidr_t c;
	if (cn_cidr_parse(s, &c) != 0)
		return -EINVAL;
	return append((void **)&cfg->allow, &cfg->nallow, sizeof(c), &c);
}

int cn_config_add_metrics_allow(cn_config_t *cfg, const char *s)
{
	cn_cidr_t c;
	if (cn_cidr_parse(s, &c) != 0)
		return -EINVAL;
	return append((void **)&cfg->metrics_allow, &cfg->nmetrics_allow, sizeof(c), &c);
}

int cn_config_set_metrics(cn_config_t *cfg, const char *s)
{
	cn_listen_t l;
	/* Default port 0 is no port: cn_config_parse_listen never yields 0 from the text. */
	if (cn_config_parse_listen(s, 0, &l) != 0 ||
	    ((struct sockaddr_in *)&l.addr)->sin_port == 0)
		return -EINVAL;
	cfg->metrics = l;
	cfg->metrics_on = true;
	return 0;
}

void cn_config_clear_listen(cn_config_t *cfg)
{
	LIST_FREE(cfg->listen, cfg->nlisten);
}

void cn_config_clear_allow(cn_config_t *cfg)
{
	LIST_FREE(cfg->allow, cfg->nallow);
}
