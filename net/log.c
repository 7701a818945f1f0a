/*
 * stderr log sink. One fprintf per line (stdio locks the stream, so lines from several
 * threads do not interleave), prefixed with a monotonic-free wall-clock timestamp and the
 * level, the way daemons running under a supervisor are expected to log.
 */
#include "net/log.h"

#include <stdio.h>
#include <string.h>
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

static void emit(int level, const char *msg)
{
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

void cn_log_sink(int level, const char *msg)
{
	if (level > log_level)
		return;
	emit(level, msg);
}
