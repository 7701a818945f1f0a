/*
 * Small helpers shared by the unit tests: the Check runner every test main() uses, and a
 * name parser.
 */
#pragma once

#include <check.h>
#include <stdlib.h>

#include "resolver/dname.h"

/** Run a suite in fork mode (one process per test, Check's per-test timeout). */
static inline int cn_test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/** A presentation name in wire form, in one of 8 rotating static buffers. */
static inline const uint8_t *cn_test_name(const char *s)
{
	static uint8_t bufs[8][CN_DNAME_MAX];
	static int next;
	uint8_t *b = bufs[next++ % 8];
	ck_assert_int_eq(cn_dname_from_str(s, b, NULL), 0);
	return b;
}
