/*
 * cairnctl: the control client. Joins its arguments into one command line, sends it to the
 * daemon's control socket (net/control.h), prints the reply and exits 0, or 1 when the reply
 * is an error ("error: ..."), or 2 when the daemon cannot be reached. Plain blocking
 * sockets: one request, one reply.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/control.h"

#define EXIT_ERROR_REPLY 1
#define EXIT_NO_DAEMON 2
#define REPLY_TIMEOUT_S 60 /* a dump of a large cache takes a while */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cairnctl [-s SOCKET] COMMAND...\n"
		"\n"
		"Send COMMAND to a running cairn over its control socket and print the reply.\n"
		"\n"
		"options:\n"
		"  -s, --socket SOCKET  control socket (default: $CAIRN_CONTROL, else %s)\n"
		"  -h, --help           this text\n"
		"\n"
		"commands:\n"
		"  help                      the daemon's list of commands\n"
		"  stats [--json]            counters, one \"name value\" per line (or JSON)\n"
		"  reload                    re-read the configuration file (as SIGHUP)\n"
		"  cache lookup NAME [TYPE]  cached entries for NAME (all types, or TYPE)\n"
		"  cache flush [NAME]        remove everything, or the entries owned by NAME\n"
		"  cache flush NAME --subtree  ... and by every name below NAME\n"
		"  flush NAME [--subtree]    the same as cache flush NAME [--subtree]\n"
		"  cache dump FILE           write the cache to FILE (relative to this directory)\n"
		"  cache load FILE           load a dump from FILE\n"
		"  zones                     hosted zones: serial, records, visibility\n"
		"  infra                     upstream servers: SRTT, failures, EDNS, 0x20\n"
		"\n"
		"exit status: 0 success, 1 the daemon answered with an error, 2 no daemon reached\n",
		CN_CONTROL_DEFAULT_PATH);
}

/* Append s to the line; false when it would not fit. */
static bool append(char *line, size_t *len, const char *s)
{
	size_t n = strlen(s);
	if (*len + n + 2 > CN_CONTROL_LINE_MAX)
		return false;
	memcpy(line + *len, s, n);
	*len += n;
	line[*len] = '\0';
	return true;
}

/*
 * One line from the arguments. The daemon resolves file names against its own working
 * directory, so a relative FILE of "cache dump|load" is made absolute here.
 */
static bool build_line(int argc, char **argv, char *line, size_t *len)
{
	*len = 0;
	line[0] = '\0';
	bool file_cmd = argc >= 3 && strcmp(argv[0], "cache") == 0 &&
			(strcmp(argv[1], "dump") == 0 || strcmp(argv[1], "load") == 0);
	for (int i = 0; i < argc; i++) {
		if (strpbrk(argv[i], "\r\n") != NULL) {
			fprintf(stderr, "cairnctl: arguments may not contain line breaks\n");
			return false;
		}
		if (i > 0 && !append(line, len, " "))
			goto too_long;
		if (file_cmd && i == 2 && argv[i][0] != '/') {
			char cwd[PATH_MAX];
			if (getcwd(cwd, sizeof cwd) == NULL) {
				fprintf(stderr, "cairnctl: getcwd: %s\n", strerror(errno));
				return false;
			}
			if (!append(line, len, cwd) || !append(line, len, "/"))
				goto too_long;
		}
		if (!append(line, len, argv[i]))
			goto too_long;
	}
	line[(*len)++] = '\n';
	return true;
too_long:
	fprintf(stderr, "cairnctl: command longer than %d bytes\n", CN_CONTROL_LINE_MAX);
	return false;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	struct timeval tv = {.tv_sec = REPLY_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Copy the reply to stdout; returns the exit status. */
static int relay_reply(int fd, const char *path)
{
	char buf[8192];
	size_t total = 0;
	bool is_error = false;
	char head[6];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "cairnctl: reading from %s: %s\n", path, strerror(errno));
			return EXIT_NO_DAEMON;
		}
		if (n == 0)
			break;
		/* The first 6 bytes decide: "error:". */
		for (ssize_t i = 0; i < n && total + (size_t)i < sizeof head; i++)
			head[total + (size_t)i] = buf[i];
		total += (size_t)n;
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
			perror("cairnctl: stdout");
			return EXIT_FAILURE;
		}
	}
	if (total == 0) {
		fprintf(stderr, "cairnctl: %s closed the connection without a reply\n", path);
		return EXIT_NO_DAEMON;
	}
	is_error = total >= sizeof head && memcmp(head, "error:", sizeof head) == 0;
	if (fflush(stdout) != 0) {
		perror("cairnctl: stdout");
		return EXIT_FAILURE;
	}
	return is_error ? EXIT_ERROR_REPLY : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("CAIRN_CONTROL");
	if (path == NULL || path[0] == '\0')
		path = CN_CONTROL_DEFAULT_PATH;
	int ch;
	/* '+': stop at the first command word, so "cache lookup -x" reaches the daemon. */
	while ((ch = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_ERROR_REPLY;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_ERROR_REPLY;
	}
	char line[CN_CONTROL_LINE_MAX + 1];
	size_t len;
	if (!build_line(argc - optind, argv + optind, line, &len))
		return EXIT_ERROR_REPLY;

	int fd = connect_to(path);
	if (fd < 0) {
		fprintf(stderr,
			"cairnctl: cannot connect to %s: %s\n"
			"  (is cairn running with control_socket: %s? use -s or $CAIRN_CONTROL)\n",
			path, strerror(errno), path);
		return EXIT_NO_DAEMON;
	}
	if (!send_all(fd, line, len)) {
		fprintf(stderr, "cairnctl: sending to %s: %s\n", path, strerror(errno));
		close(fd);
		return EXIT_NO_DAEMON;
	}
	shutdown(fd, SHUT_WR);
	int rc = relay_reply(fd, path);
	close(fd);
	return rc;
}
