/*
 * cairn's command-line flags: the usage text and two getopt passes, the first for what
 * decides how to start (-c, --help, --version, --check-config), the second applying every
 * flag over the configuration file (again at every reload: flags keep overriding the file).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/daemon.h"
#include "net/log.h"

enum {
	OPT_ROOT_HINTS = 256,
	OPT_ALLOW_LOOPBACK,
	OPT_NO_QMIN,
	OPT_CACHE_SIZE,
	OPT_CONTROL,
	OPT_WORKERS,
	OPT_ZONE,
	OPT_FORWARD,
	OPT_STUB,
	OPT_NO_LOCAL_ZONE,
	OPT_HELP,
	OPT_VERSION,
	OPT_CHECK_CONFIG,
	OPT_METRICS,
	OPT_QUERY_LOG,
	OPT_NO_DNSSEC,
	OPT_TRUST_ANCHOR,
	OPT_TRUST_ANCHOR_FILE,
	OPT_NTA,
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "listen", required_argument, NULL, 'l' },
	{ "root-hints", required_argument, NULL, OPT_ROOT_HINTS },
	{ "allow-loopback-upstream", no_argument, NULL, OPT_ALLOW_LOOPBACK },
	{ "no-qname-minimisation", no_argument, NULL, OPT_NO_QMIN },
	{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "zone", required_argument, NULL, OPT_ZONE },
	{ "forward", required_argument, NULL, OPT_FORWARD },
	{ "stub", required_argument, NULL, OPT_STUB },
	{ "no-local-zone", required_argument, NULL, OPT_NO_LOCAL_ZONE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "query-log", required_argument, NULL, OPT_QUERY_LOG },
	{ "no-dnssec", no_argument, NULL, OPT_NO_DNSSEC },
	{ "trust-anchor", required_argument, NULL, OPT_TRUST_ANCHOR },
	{ "trust-anchor-file", required_argument, NULL, OPT_TRUST_ANCHOR_FILE },
	{ "nta", required_argument, NULL, OPT_NTA },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cairn [options]\n"
		"A caching recursive DNS resolver. Runs in the foreground, logs to stderr\n"
		"(or syslog: log_target).\n\n"
		"  -c, --config FILE            YAML configuration (docs/config.md)\n"
		"  -l, --listen ADDR[@PORT]     serve UDP and TCP on ADDR (repeatable; replaces the\n"
		"                               file's list; default 127.0.0.1 and ::1, port 53)\n"
		"      --root-hints FILE        root hints in named.root format\n"
		"      --allow-loopback-upstream  allow upstream servers on 127.0.0.0/8 and ::1\n"
		"      --no-qname-minimisation  send full query names upstream\n"
		"      --cache-size N[K|M|G]    cache budget in bytes (default 64M)\n"
		"      --control PATH           serve the control socket (cairnctl) on PATH\n"
		"      --workers N              threads serving queries (default: one per CPU)\n"
		"      --zone NAME=FILE         host the zone NAME from FILE, public (repeatable)\n"
		"      --forward NAME=ADDR[,ADDR]  ask these recursive servers for NAME and below\n"
		"      --stub NAME=ADDR[,ADDR]  iterate from these authoritative servers for NAME\n"
		"      --no-local-zone NAME     do not answer the built-in local zone NAME\n"
		"                               (e.g. 2.0.192.in-addr.arpa.; repeatable)\n"
		"      --metrics ADDR@PORT      serve Prometheus metrics on http://ADDR:PORT/metrics\n"
		"      --query-log PATH         one line per client query to PATH (- : stdout)\n"
		"      --no-dnssec              do not validate (dnssec: false)\n"
		"      --trust-anchor 'RR'      a DS or DNSKEY record to trust instead of the\n"
		"                               built-in root anchors (repeatable)\n"
		"      --trust-anchor-file FILE  the same from a zone file of DS/DNSKEY records\n"
		"      --nta NAME               negative trust anchor: do not validate NAME and\n"
		"                               below (RFC 7646; repeatable)\n"
		"  -v, --verbose                more logging (repeat for debug)\n"
		"  -q, --quiet                  less logging (repeat for errors only)\n"
		"      --help                   this text\n"
		"      --version                print the version\n"
		"      --check-config           read the configuration (and root hints), report\n"
		"                               the first error or \"ok\", and exit (0 ok, 2 error)\n\n"
		"Flags override the configuration file. Stop with SIGINT or SIGTERM; SIGHUP\n"
		"re-reads the configuration (docs/config.md, \"Reload\"); SIGUSR1 reopens the\n"
		"query log.\n");
}

/* ------------------------------------------------------------------ arguments --------- */

/* First pass: -c, --help, --version, --check-config. Returns -1 to go on, else an exit
 * status. */
int cn_daemon_args_first_pass(int argc, char **argv, const char **config_path,
			      bool *check_only)
{
	opterr = 0; /* the second pass reports unknown options */
	int ch;
	while ((ch = getopt_long(argc, argv, "c:l:vq", long_opts, NULL)) != -1) {
		if (ch == 'c')
			*config_path = optarg;
		else if (ch == OPT_HELP) {
			usage(stdout);
			return 0;
		} else if (ch == OPT_VERSION) {
			printf("cairn %s\n", CAIRN_VERSION);
			return 0;
		} else if (ch == OPT_CHECK_CONFIG) {
			*check_only = true;
		}
	}
	return -1;
}
static int set_path_opt(char **field, const char *arg)
{
	char *copy = strdup(arg);
	if (!copy)
		return 2;
	free(*field);
	*field = copy;
	return 0;
}

static int set_workers_opt(cn_config_t *cfg, const char *arg)
{
	char *end;
	unsigned long n = strtoul(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || n > 256) {
		fprintf(stderr, "cairn: --workers %s: expected 0..256 (0: one per CPU)\n", arg);
		return 2;
	}
	cfg->workers = (unsigned)n;
	return 0;
}

/* A DNSSEC flag onto cfg: 0, 2 (the exit status) after a message, or -1: not one. */
static int apply_dnssec_opt(int ch, const char *arg, cn_config_t *cfg)
{
	char err[300];
	int rc;
	switch (ch) {
	case OPT_NO_DNSSEC:
		cfg->engine.dnssec.enabled = false;
		return 0;
	case OPT_TRUST_ANCHOR_FILE:
		return set_path_opt(&cfg->trust_anchor_file, arg);
	case OPT_TRUST_ANCHOR:
		if (cn_config_add_trust_anchor(cfg, arg, "--trust-anchor", err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "cairn: --trust-anchor \"%s\": %s\n", arg, err);
		return 2;
	case OPT_NTA:
		if ((rc = cn_config_add_nta(cfg, arg)) == 0)
			return 0;
		fprintf(stderr, "cairn: --nta %s: %s\n", arg,
			rc == -ENOSPC ? "too many negative trust anchors" : "expected a domain name");
		return 2;
	default:
		return -1;
	}
}

/* One command-line option onto cfg: 0, or 2 (the exit status) after a message. */
static int apply_opt(int ch, const char *arg, cn_config_t *cfg, bool *listen_cleared)
{
	int rc;
	switch (ch) {
	case 'c':
	case OPT_CHECK_CONFIG:
		return 0;
	case 'l':
		if (!*listen_cleared) {
			cn_config_clear_listen(cfg);
			*listen_cleared = true;
		}
		if (cn_config_add_listen(cfg, arg) == 0)
			return 0;
		fprintf(stderr, "cairn: -l %s: expected ADDR or ADDR@PORT\n", arg);
		return 2;
	case OPT_ROOT_HINTS:
		return set_path_opt(&cfg->root_hints, arg);
	case OPT_CONTROL:
		return set_path_opt(&cfg->control_socket, arg);
	case OPT_QUERY_LOG:
		return set_path_opt(&cfg->query_log, arg);
	case OPT_METRICS:
		if (cn_config_set_metrics(cfg, arg) == 0)
			return 0;
		fprintf(stderr, "cairn: --metrics %s: expected ADDR@PORT\n", arg);
		return 2;
	case OPT_ALLOW_LOOPBACK:
		cfg->engine.allow_loopback_upstream = true;
		return 0;
	case OPT_NO_LOCAL_ZONE:
		return cn_config_add_local_zone_off(cfg, arg) != 0 ? 2 : 0;
	case OPT_ZONE:
		if (cn_config_add_zone_arg(cfg, arg) == 0)
			return 0;
		fprintf(stderr, "cairn: --zone %s: expected NAME=FILE\n", arg);
		return 2;
	case OPT_FORWARD:
	case OPT_STUB: {
		char err[400];
		if (cn_config_add_fwd_arg(cfg, arg, ch == OPT_STUB, err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "cairn: --%s %s: %s\n", ch == OPT_STUB ? "stub" : "forward", arg,
			err);
		return 2;
	}
	case OPT_NO_QMIN:
		cfg->engine.qname_minimisation = false;
		return 0;
	case OPT_WORKERS:
		return set_workers_opt(cfg, arg);
	case OPT_CACHE_SIZE:
		if (cn_config_parse_size(arg, &cfg->cache.budget_bytes) == 0)
			return 0;
		fprintf(stderr, "cairn: --cache-size %s: expected N, NK, NM or NG\n", arg);
		return 2;
	case 'v':
		if (cfg->log_level < CN_LOG_DEBUG)
			cfg->log_level++;
		return 0;
	case 'q':
		if (cfg->log_level > CN_LOG_ERROR)
			cfg->log_level--;
		return 0;
	default:
		if ((rc = apply_dnssec_opt(ch, arg, cfg)) >= 0)
			return rc;
		usage(stderr);
		return 2;
	}
}

/* Second pass: every flag, applied over the file. Returns 0 or 2 (usage error). */
int cn_daemon_args_apply(int argc, char **argv, cn_config_t *cfg)
{
	optind = 0; /* glibc: full re-initialisation */
	opterr = 1;
	bool listen_cleared = false;
	int ch, rc;
	while ((ch = getopt_long(argc, argv, "c:l:vq", long_opts, NULL)) != -1)
		if ((rc = apply_opt(ch, optarg, cfg, &listen_cleared)) != 0)
			return rc;
	if (optind < argc) {
		fprintf(stderr, "cairn: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	char err[256];
	if (cn_config_check(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "cairn: %s\n", err);
		return 2;
	}
	return 0;
}
