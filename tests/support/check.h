/* The assertions every Kino test uses. A failed check prints where and why
 * and ends the test process with status 1, which ctest reports as a failure.
 * There is no skip: a missing dependency is a failure that says what is
 * missing (see CHECK_DEPENDENCY). */
#ifndef KINO_TEST_CHECK_H
#define KINO_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_FAIL(...)                                                        \
	do {                                                                   \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                \
		fprintf(stderr, __VA_ARGS__);                                  \
		fprintf(stderr, "\n");                                         \
		exit(1);                                                       \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			CHECK_FAIL("CHECK failed: %s", #cond);                 \
	} while (0)

#define CHECK_MSG(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond))                                                   \
			CHECK_FAIL(__VA_ARGS__);                               \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                     \
	do {                                                                   \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
		if (check_a_ != check_b_)                                      \
			CHECK_FAIL("CHECK_INT_EQ failed: %s == %lld, %s == %lld", \
				   #a, check_a_, #b, check_b_);                \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                     \
	do {                                                                   \
		const char *check_a_ = (a), *check_b_ = (b);                   \
		if (check_a_ == NULL || check_b_ == NULL ||                    \
		    strcmp(check_a_, check_b_) != 0)                           \
			CHECK_FAIL("CHECK_STR_EQ failed: %s == \"%s\", %s == \"%s\"", \
				   #a, check_a_ ? check_a_ : "(null)", #b,     \
				   check_b_ ? check_b_ : "(null)");            \
	} while (0)

#define CHECK_CONTAINS(haystack, needle)                                       \
	do {                                                                   \
		const char *check_h_ = (haystack), *check_n_ = (needle);       \
		if (check_h_ == NULL || strstr(check_h_, check_n_) == NULL)    \
			CHECK_FAIL("CHECK_CONTAINS failed: %s does not contain \"%s\"; it is:\n%s", \
				   #haystack, check_n_,                        \
				   check_h_ ? check_h_ : "(null)");            \
	} while (0)

/* Runs one test function and says so, so ctest's output shows which case
 * of a file failed. */
#define RUN_TEST(fn)                                                           \
	do {                                                                   \
		fprintf(stderr, "-- %s\n", #fn);                               \
		fn();                                                          \
	} while (0)

/* The same, for a test that takes one argument (a fixture). */
#define RUN_TEST_ARG(fn, arg)                                                  \
	do {                                                                   \
		fprintf(stderr, "-- %s\n", #fn);                              \
		fn(arg);                                                       \
	} while (0)

#endif
