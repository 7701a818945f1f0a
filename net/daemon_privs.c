/*
 * Giving up what start-up needed: chroot (`chroot:`) and root (`user:`), and the paths the
 * daemon opens later, named as seen inside the chroot (zone files on reload, the query log,
 * the cache dump, the configuration file).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/daemon.h"
#include "net/log.h"

static bool rebase(const char *root, char **path, bool strict);

/* chroot(root), then everything opened later by path is named as seen from inside. */
static int enter_chroot(daemon_t *d, const char *root)
{
	char why[512];
	if (cn_daemon_rebase_config(root, &d->cfg, true, why, sizeof(why)) != 0) {
		cn_log(CN_LOG_ERROR, "chroot: %s", why);
		return 1;
	}
	if (chroot(root) != 0 || chdir("/") != 0) {
		cn_log(CN_LOG_ERROR, "chroot %s: %s", root, strerror(errno));
		return 1;
	}
	cn_control_rebase(d->control, root);
	if (d->config_path && !cn_daemon_in_root(root, d->config_path))
		cn_log(CN_LOG_WARNING, "chroot %s: the configuration file %s is outside it: "
		       "reloads will fail", root, d->config_path);
	cn_log(CN_LOG_INFO, "chroot %s", root);
	return 0;
}

/* A path as seen inside the chroot root: path with root's prefix removed; path itself
 * when there is no root; NULL when it lies outside root. */
const char *cn_daemon_in_root(const char *root, const char *path)
{
	if (!root || !path || strcmp(path, "-") == 0)
		return path;
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	if (strncmp(path, root, n) != 0 || path[n] != '/')
		return NULL;
	return path + n;
}

/* Replace *path (malloc'ed) by its form inside root; false when it lies outside (strict:
 * at start-up every path is still a real one; on reload a path outside root's prefix is
 * taken as already inside: one derived from the configuration file's folder). */
static bool rebase(const char *root, char **path, bool strict)
{
	if (!*path)
		return true;
	const char *in = cn_daemon_in_root(root, *path);
	if (!in)
		return !strict;
	if (in != *path)
		memmove(*path, in, strlen(in) + 1);
	return true;
}

/* Every path of cfg cairn opens after start-up (zone files on reload, the query log, the
 * cache dump at exit) as seen inside cfg->chroot_dir. Returns 0, or -1 with the path
 * outside it in why. */
int cn_daemon_rebase_config(const char *root, cn_config_t *cfg, bool strict, char *why,
			    size_t whylen)
{
	if (!root)
		return 0;
	for (size_t i = 0; i < cfg->nzones; i++)
		if (!rebase(root, &cfg->zones[i].file, strict)) {
			snprintf(why, whylen, "zone file %s is outside chroot %s", cfg->zones[i].file,
				 root);
			return -1;
		}
	/* read at start only (before the chroot): rebased so that a reload compares it with
	 * the path as seen inside, never refused */
	rebase(root, &cfg->trust_anchor_file, false);
	if (!rebase(root, &cfg->query_log, strict) || !rebase(root, &cfg->cache_dump_file, strict)) {
		snprintf(why, whylen, "query_log or cache_dump_file is outside chroot %s", root);
		return -1;
	}
	return 0;
}

/*
 * Give up what start-up needed: chroot (chroot:) and root (user:), once every listener is
 * bound and the control socket is open, before any worker thread starts (so the switch
 * applies to the one thread there is). The user's entries are looked up, and its groups
 * set, before the chroot (/etc/passwd and /etc/group are outside it). The control socket
 * (and a directory cairn created for it) and the query log are handed to the user, so the
 * daemon can still remove and reopen them. Returns 0 or exit status 1.
 */
int cn_daemon_drop_privileges(daemon_t *d)
{
	const char *user = d->cfg.user, *root = d->cfg.chroot_dir;
	struct passwd *pw = NULL;
	if (user) {
		errno = 0;
		pw = getpwnam(user);
		if (!pw) {
			cn_log(CN_LOG_ERROR, "user %s: %s", user,
			       errno ? strerror(errno) : "no such user");
			return 1;
		}
		if (geteuid() != 0 && geteuid() != pw->pw_uid) {
			cn_log(CN_LOG_ERROR, "user %s: cannot switch to it without root (running as "
			       "uid %u)", user, (unsigned)geteuid());
			return 1;
		}
		if (geteuid() == pw->pw_uid)
			user = NULL; /* already that user */
	}
	if (user) {
		if (d->cfg.control_socket) {
			if (chown(d->cfg.control_socket, pw->pw_uid, pw->pw_gid) != 0)
				cn_log(CN_LOG_WARNING, "chown %s: %s", d->cfg.control_socket,
				       strerror(errno));
			if (d->control_dir_made && chown(d->control_dir, pw->pw_uid, pw->pw_gid) != 0)
				cn_log(CN_LOG_WARNING, "chown %s: %s", d->control_dir,
				       strerror(errno));
		}
		const char *ql = d->cfg.query_log; /* so the user can reopen it (SIGUSR1, reload) */
		if (ql && strcmp(ql, "-") != 0 && chown(ql, pw->pw_uid, pw->pw_gid) != 0)
			cn_log(CN_LOG_WARNING, "chown %s: %s", ql, strerror(errno));
		if (initgroups(pw->pw_name, pw->pw_gid) != 0) {
			cn_log(CN_LOG_ERROR, "user %s: groups: %s", user, strerror(errno));
			return 1;
		}
	}
	if (root && enter_chroot(d, root) != 0)
		return 1;
	if (!user)
		return 0;
	if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		cn_log(CN_LOG_ERROR, "cannot switch to user %s: %s", user, strerror(errno));
		return 1;
	}
	if (setuid(0) == 0) { /* must be impossible now */
		cn_log(CN_LOG_ERROR, "user %s: root could be regained; refusing to run", user);
		return 1;
	}
	cn_log(CN_LOG_INFO, "running as user %s (uid %u, gid %u)", user, (unsigned)pw->pw_uid,
	       (unsigned)pw->pw_gid);
	return 0;
}
