/*
 * The log sink's rate limit (net/log.c): the engine's lines at info and above pass at most
 * CN_LOG_ENGINE_RATE times a second, the rest are counted and reported once the next
 * second starts; debug lines always pass. stderr is redirected to a file and read back.
 */
#include <check.h>

#include "tests/unit/unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/log.h"

static char path[] = "/tmp/cairn-test-log-XXXXXX";

static void capture(void)
{
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
}

/* Lines of the captured log containing needle. */
static int count(const char *needle)
{
	fflush(stderr);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

START_TEST(test_engine_lines_rate_limited)
{
	capture();
	cn_log_set_level(CN_LOG_DEBUG);
	for (int i = 0; i < 100; i++)
		cn__log_sink_at(CN_LOG_INFO, "SERVFAIL: flood", 1000);
	for (int i = 0; i < 30; i++)
		cn__log_sink_at(CN_LOG_DEBUG, "debug line", 1000);
	ck_assert_int_eq(count("SERVFAIL: flood"), CN_LOG_ENGINE_RATE);
	ck_assert_int_eq(count("debug line"), 30);
	ck_assert_int_eq(count("left out"), 0);
	cn__log_sink_at(CN_LOG_ERROR, "next second", 1001);
	ck_assert_int_eq(count("80 resolver log lines left out (at most 20 a second)"), 1);
	ck_assert_int_eq(count("next second"), 1);
	cn__log_sink_at(CN_LOG_ERROR, "third second", 1002);
	ck_assert_int_eq(count("left out"), 1); /* nothing was left out in 1001 */
	/* Below the level: neither written nor counted. */
	cn_log_set_level(CN_LOG_WARNING);
	for (int i = 0; i < 50; i++)
		cn__log_sink_at(CN_LOG_INFO, "quiet", 1003);
	cn__log_sink_at(CN_LOG_ERROR, "after quiet", 1004);
	ck_assert_int_eq(count("quiet"), 1);
	ck_assert_int_eq(count("left out"), 1);
	unlink(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("rate");
	tcase_add_test(tc, test_engine_lines_rate_limited);
	suite_add_tcase(s, tc);
	return cn_test_run(s);
}
