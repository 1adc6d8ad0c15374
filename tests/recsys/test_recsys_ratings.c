/* Ratings files: both MovieLens formats parse, malformed input is rejected
 * with its line number, the matrix is built the same whatever the row order,
 * thresholds and duplicates are counted, and the split is deterministic. */
#include <stdio.h>
#include <string.h>

#include "recsys_test_data.h"

static int parse(const char *text, kino_recsys_ratings_t *out, kino_error_t *err)
{
	kino_recsys_ratings_init(out);
	return kino_recsys_ratings_parse(text, strlen(text), "t.csv", out, err);
}

static void test_parses_both_formats(void)
{
	kino_recsys_ratings_t r;
	kino_error_t err = {0};

	CHECK(parse("userId,movieId,rating,timestamp\r\n1,10,4.5,100\r\n2,20,3,200\r\n",
		    &r, &err) == 0);
	CHECK_INT_EQ(r.count, 2);
	CHECK_INT_EQ(r.rows[1].user, 2);
	CHECK_INT_EQ(r.rows[1].item, 20);
	CHECK(r.rows[0].value == 4.5f);
	CHECK_INT_EQ(r.rows[1].timestamp, 200);
	kino_recsys_ratings_close(&r);

	CHECK(parse("196\t242\t3\t881250949\n186\t302\t3\t891717742", &r, &err) == 0);
	CHECK_INT_EQ(r.count, 2);
	CHECK_INT_EQ(r.rows[0].user, 196);
	CHECK_INT_EQ(r.rows[1].item, 302);
	kino_recsys_ratings_close(&r);
}

static void expect_error(const char *text, const char *needle)
{
	kino_recsys_ratings_t r;
	kino_error_t err = {0};

	CHECK_INT_EQ(parse(text, &r, &err), KINO_EPARSE);
	CHECK_CONTAINS(err.message, needle);
	kino_recsys_ratings_close(&r);
}

static void test_rejects_malformed_input(void)
{
	const char *h = "userId,movieId,rating,timestamp\n";
	char buf[256];

#define BAD(body, needle)                                                      \
	do {                                                                   \
		snprintf(buf, sizeof(buf), "%s%s", h, body);                   \
		expect_error(buf, needle);                                     \
	} while (0)
	BAD("1,2,3,4\n1,2,3\n", "t.csv:3: expected 4");
	BAD("1,2,3,4,5\n", "t.csv:2: expected 4");
	BAD("1,2,3,4\n\n1,2,3,4\n", "t.csv:3: empty line");
	BAD("x,2,3,4\n", "t.csv:2: bad user id 'x'");
	BAD("1,99999999999,3,4\n", "t.csv:2: bad item id '99999999999'");
	BAD("-1,2,3,4\n", "t.csv:2: bad user id");
	BAD("1,2,nan,4\n", "t.csv:2: bad rating 'nan'");
	BAD("1,2,-3,4\n", "t.csv:2: bad rating");
	BAD("1,2,3,4.5\n", "t.csv:2: bad timestamp");
	BAD("1, 2,3,4\n", "t.csv:2: bad item id");
	BAD("1,2,3,99999999999999999999999\n", "t.csv:2: bad timestamp");
#undef BAD
	expect_error("", "no ratings");
	expect_error(h, "no ratings");
	expect_error("hello world\n", "t.csv:1:");
	expect_error("1\t2\t3\t4\n1,2,3,4\n", "t.csv:2: expected 4 tab-separated");
}

static void test_read_reports_missing_file(void)
{
	kino_recsys_ratings_t r;
	kino_error_t err = {0};

	kino_recsys_ratings_init(&r);
	CHECK_INT_EQ(kino_recsys_ratings_read("/nonexistent/ratings.csv", &r, &err),
		     KINO_ENOENT);
	CHECK_CONTAINS(err.message, "/nonexistent/ratings.csv");
	kino_recsys_ratings_close(&r);
}

static void test_interactions(void)
{
	kino_recsys_ratings_t r, rev;
	kino_recsys_interactions_t *a = NULL, *b = NULL;
	kino_recsys_interactions_options_t opt = {.positive_threshold = 4.0f};
	kino_error_t err = {0};
	int64_t items[8];

	CHECK(parse("u,i,r,t\n5,100,5,10\n3,100,2,11\n5,200,4,12\n5,100,1,13\n"
		    "9,300,4.5,9\n",
		    &r, &err) == 0);
	kino_recsys_ratings_init(&rev);
	for (size_t i = r.count; i > 0; i--)
		CHECK(kino_recsys_ratings_append(&rev, &r.rows[i - 1], &err) == 0);

	CHECK(kino_recsys_interactions_new(&r, NULL, &a, &err) == 0);
	CHECK(kino_recsys_interactions_new(&rev, NULL, &b, &err) == 0);
	CHECK_INT_EQ(kino_recsys_interactions_users(a), 3);
	CHECK_INT_EQ(kino_recsys_interactions_items(a), 3);
	CHECK_INT_EQ(kino_recsys_interactions_nnz(a), 4); /* (5,100) twice */
	CHECK_INT_EQ(kino_recsys_interactions_stats(a)->duplicates, 1);
	CHECK_INT_EQ(kino_recsys_interactions_stats(a)->first_timestamp, 9);
	CHECK_INT_EQ(kino_recsys_interactions_stats(a)->last_timestamp, 13);
	CHECK_INT_EQ(kino_recsys_interactions_user_items(a, 5, items, 8), 2);
	CHECK_INT_EQ(items[0], 100);
	CHECK_INT_EQ(items[1], 200);
	CHECK_INT_EQ(kino_recsys_interactions_user_items(b, 5, items, 8), 2);
	CHECK_INT_EQ(items[0], 100);
	CHECK_INT_EQ(kino_recsys_interactions_user_items(a, 4, items, 8), 0);
	kino_recsys_interactions_destroy(a);
	kino_recsys_interactions_destroy(b);

	/* Threshold 4: the 2 is left out and counted; user 3 disappears. */
	CHECK(kino_recsys_interactions_new(&r, &opt, &a, &err) == 0);
	CHECK_INT_EQ(kino_recsys_interactions_stats(a)->below_threshold, 2);
	CHECK_INT_EQ(kino_recsys_interactions_users(a), 2);
	CHECK_INT_EQ(kino_recsys_interactions_nnz(a), 3);
	kino_recsys_interactions_destroy(a);

	opt.positive_threshold = 10.0f;
	CHECK_INT_EQ(kino_recsys_interactions_new(&r, &opt, &a, &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "no interactions");
	CHECK(a == NULL);
	kino_recsys_ratings_close(&rev);
	kino_recsys_ratings_close(&r);
}

static void test_split_is_deterministic(void)
{
	kino_recsys_ratings_t all, tr1, te1, tr2, te2;
	kino_error_t err = {0};

	test_read_ml_small(&all);
	kino_recsys_ratings_init(&tr1);
	kino_recsys_ratings_init(&te1);
	kino_recsys_ratings_init(&tr2);
	kino_recsys_ratings_init(&te2);
	CHECK(kino_recsys_ratings_split(&all, 42, 0.2, &tr1, &te1, &err) == 0);
	CHECK(kino_recsys_ratings_split(&all, 42, 0.2, &tr2, &te2, &err) == 0);
	CHECK_INT_EQ(te1.count, te2.count);
	CHECK(memcmp(te1.rows, te2.rows, te1.count * sizeof(te1.rows[0])) == 0);
	printf("ml-latest-small: %zu ratings, train %zu, test %zu\n", all.count,
	       tr1.count, te1.count);
	CHECK(te1.count > all.count / 6 && te1.count < all.count / 4);
	CHECK_INT_EQ(kino_recsys_ratings_split(&all, 42, 1.5, &tr1, &te1, &err),
		     KINO_EINVAL);
	kino_recsys_ratings_close(&te2);
	kino_recsys_ratings_close(&tr2);
	kino_recsys_ratings_close(&te1);
	kino_recsys_ratings_close(&tr1);
	kino_recsys_ratings_close(&all);
}

int main(void)
{
	RUN_TEST(test_parses_both_formats);
	RUN_TEST(test_rejects_malformed_input);
	RUN_TEST(test_read_reports_missing_file);
	RUN_TEST(test_interactions);
	RUN_TEST(test_split_is_deterministic);
	return 0;
}
