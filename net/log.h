/*
 * The log sink: every log line of the daemon goes to stderr (or syslog) through here, and the engine's
 * cn_log_fn (cn_engine_conf_t.log) is cn_log_sink, so resolver/ never does I/O itself.
 * Levels follow resolver.h: 0 error, 1 warning, 2 info, 3 debug. Lines above the current
 * level are dropped before formatting. Process-wide (main sets the level once at start).
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum {
	CN_LOG_ERROR = 0,
	CN_LOG_WARNING = 1,
	CN_LOG_INFO = 2,
	CN_LOG_DEBUG = 3,
};

/** Set the highest level printed (clamped to [0, 3]). Default CN_LOG_INFO. */
void cn_log_set_level(int level);
int cn_log_get_level(void);

/** Send every line to syslog(3) (facility daemon, ident "cairn", with the PID) instead of
 *  stderr; false: back to stderr. Called once at start, before the threads. */
void cn_log_set_syslog(bool on);

/** Level from "error", "warning", "info", "debug" (or "0".."3"); -1 if unknown. */
int cn_log_level_from_str(const char *s);

/** printf-style log line (a newline is added). */
void cn_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** The sink installed into the engine (matches cn_log_fn). Its lines at info and above
 *  (SERVFAIL reasons, errors) are limited to CN_LOG_ENGINE_RATE a second; the number left
 *  out is logged when the next second begins. */
void cn_log_sink(int level, const char *msg);
#define CN_LOG_ENGINE_RATE 20

/** cn_log_sink with the second given (monotonic seconds), for the unit test. */
void cn__log_sink_at(int level, const char *msg, uint64_t now_s);
