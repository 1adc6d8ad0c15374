/* Shared by the recsys tests: the MovieLens ratings under ../shared (read in
 * place, never copied), and smaller settings under AddressSanitizer, whose
 * slowdown would otherwise push the ALS tests past their time limit. */
#ifndef KINO_TEST_RECSYS_DATA_H
#define KINO_TEST_RECSYS_DATA_H

#include "check.h"
#include "kino/recsys.h"

#define ML_SMALL_RATINGS KINO_SHARED_DIR "/datasets/ml-latest-small/ratings.csv"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_UNDER_SANITIZER 1
#endif
#endif
#ifndef TEST_UNDER_SANITIZER
#define TEST_UNDER_SANITIZER 0
#endif

/* Reads ml-latest-small or fails the test saying what is missing. */
static inline void test_read_ml_small(kino_recsys_ratings_t *out)
{
	kino_error_t err = {0};

	kino_recsys_ratings_init(out);
	CHECK_MSG(kino_recsys_ratings_read(ML_SMALL_RATINGS, out, &err) == 0,
		  "missing dependency: %s (%s)", ML_SMALL_RATINGS,
		  kino_error_message(&err));
}

#endif
