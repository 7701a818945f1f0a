/*
 * stderr log sink (or syslog(3), `log_target: syslog`: the timestamp and level are then
 * syslog's). One fprintf per line (stdio locks the stream, so lines from several
 * threads do not interleave), prefixed with a monotonic-free wall-clock timestamp and the
 * level, the way daemons running under a supervisor are expected to log.
 */
#include "net/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static int log_level = CN_LOG_INFO;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void cn_log_set_level(int level)
{
	if (level < CN_LOG_ERROR)
		level = CN_LOG_ERROR;
	if (level > CN_LOG_DEBUG)
		level = CN_LOG_DEBUG;
	log_level = level;
}

int cn_log_get_level(void)
{
	return log_level;
}

int cn_log_level_from_str(const char *s)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0)
			return i;
	}
	if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
		return s[0] - '0';
	if (strcmp(s, "warn") == 0)
		return CN_LOG_WARNING;
	return -1;
}

static bool to_syslog;

void cn_log_set_syslog(bool on)
{
	if (on && !to_syslog)
		openlog("cairn", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && to_syslog)
		closelog();
	to_syslog = on;
}

static void emit(int level, const char *msg)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	if (to_syslog) {
		syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char when[32] = "";
	clock_gettime(CLOCK_REALTIME, &ts);
	if (localtime_r(&ts.tv_sec, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (level < 0)
		level = 0;
	if (level > 3)
		level = 3;
	fprintf(stderr, "%s.%03ld cairn[%s]: %s\n", when, ts.tv_nsec / 1000000,
		level_names[level], msg);
}

void cn_log(int level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(level, buf);
}

/*
 * The engine's lines at info and above (every SERVFAIL with its reason, errors) come from
 * client queries, so a flood of failing queries would flood the log: at most
 * CN_LOG_ENGINE_RATE of them per second are written; the rest are counted and one line
 * says how many were left out once the next second's first line goes. Debug lines, which
 * an operator asks for, are never held back.
 */
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rate_second;
static unsigned rate_used;
static uint64_t rate_dropped;

void cn__log_sink_at(int level, const char *msg, uint64_t now_s)
{
	if (level > log_level)
		return;
	if (level >= CN_LOG_DEBUG) {
		emit(level, msg);
		return;
	}
	pthread_mutex_lock(&rate_lock);
	uint64_t dropped = 0;
	if (now_s != rate_second) {
		rate_second = now_s;
		rate_used = 0;
		dropped = rate_dropped;
		rate_dropped = 0;
	}
	bool pass = rate_used < CN_LOG_ENGINE_RATE;
	if (pass)
		rate_used++;
	else
		rate_dropped++;
	pthread_mutex_unlock(&rate_lock);
	if (dropped)
		cn_log(CN_LOG_WARNING, "%llu resolver log lines left out (at most %d a second)",
		       (unsigned long long)dropped, CN_LOG_ENGINE_RATE);
	if (pass)
		emit(level, msg);
}

void cn_log_sink(int level, const char *msg)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	cn__log_sink_at(level, msg, (uint64_t)ts.tv_sec);
}
