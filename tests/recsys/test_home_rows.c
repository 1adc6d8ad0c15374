/* The home rows obey the rules of issue 6, item 4: Continue Watching for
 * titles between 5% and 95%, most recent first; Top Picks from ALS; Because
 * You Watched seeded by recent completions; Trending; New Releases; genre
 * rows by affinity; no title twice; finished titles never recommended;
 * cold start falls back to trending, new releases and genres. */
#include "check.h"

#include "kino/error.h"
#include "kino/recsys.h"

#include <string.h>

#define N 30

static const char *genre_of[] = {"Drama", "Comedy", "Documentary"};
static kino_home_title_t titles[N];
static char names[N][16];
static const char *genres[N][1];

static void catalog(void)
{
	for (size_t t = 0; t < N; t++) {
		snprintf(names[t], sizeof(names[t]), "T%02zu", t);
		genres[t][0] = genre_of[t % 3];
		titles[t] = (kino_home_title_t){.id = names[t], .name = names[t],
						 .genres = genres[t], .ngenres = 1,
						 .released_at = (int64_t)(1000 + t) * 1000};
	}
}

static size_t similar(size_t seed, size_t *out, size_t max, void *ud)
{
	/* Neighbours of a seed: the seed itself (must be skipped), then the
	 * next titles in order. */
	size_t n = 0;
	(void)ud;
	for (size_t k = 0; k < 8 && n < max; k++)
		out[n++] = (seed + k) % N;
	return n;
}

static void check_no_repeats(const kino_home_row_t *rows, size_t nrows)
{
	int seen[N] = {0};

	for (size_t r = 0; r < nrows; r++) {
		CHECK(rows[r].nitems > 0);
		for (size_t i = 0; i < rows[r].nitems; i++) {
			CHECK(rows[r].items[i] < N);
			CHECK_MSG(!seen[rows[r].items[i]], "title %zu appears twice (row %zu, %s)",
				  rows[r].items[i], r, rows[r].title);
			seen[rows[r].items[i]] = 1;
		}
	}
}

static bool in_rows(const kino_home_row_t *rows, size_t nrows, size_t t)
{
	for (size_t r = 0; r < nrows; r++)
		for (size_t i = 0; i < rows[r].nitems; i++)
			if (rows[r].items[i] == t)
				return true;
	return false;
}

static void test_cold_start(void)
{
	double trending[N];
	kino_home_row_t rows[16];
	size_t nrows;
	kino_error_t err = {0};

	for (size_t t = 0; t < N; t++)
		trending[t] = (double)(t % 7);
	kino_home_input_t in = {.titles = titles, .ntitles = N, .trending = trending,
				.similar = similar, .row_len = 5, .max_because = 2, .max_genres = 3};
	CHECK_INT_EQ(kino_home_compose(&in, rows, 16, &nrows, &err), 0);
	CHECK(nrows >= 3);
	CHECK_INT_EQ(rows[0].type, KINO_HOME_TRENDING);
	CHECK_INT_EQ(rows[1].type, KINO_HOME_NEW_RELEASES);
	for (size_t r = 0; r < nrows; r++) {
		CHECK(rows[r].type != KINO_HOME_CONTINUE_WATCHING && rows[r].type != KINO_HOME_TOP_PICKS &&
		      rows[r].type != KINO_HOME_BECAUSE_YOU_WATCHED);
		CHECK(rows[r].reason[0] != '\0');
	}
	/* Trending: the highest scores first (6 is the top, at t = 6, 13, 20, 27). */
	CHECK_INT_EQ(rows[0].items[0], 6);
	CHECK_INT_EQ(rows[0].items[1], 13);
	/* New releases: the newest first, among what trending left. */
	CHECK(titles[rows[1].items[0]].released_at >= titles[rows[1].items[1]].released_at);
	check_no_repeats(rows, nrows);
}

static void test_with_history(void)
{
	float als[N];
	double trending[N];
	kino_home_row_t rows[16];
	size_t nrows;
	kino_error_t err = {0};
	const kino_home_play_t plays[] = {
		{.title = 3, .completion = 0.50, .last_played_at = 5000},  /* continue */
		{.title = 4, .completion = 0.20, .last_played_at = 9000},  /* continue, newer */
		{.title = 5, .completion = 0.03, .last_played_at = 9500},  /* barely started: no */
		{.title = 6, .completion = 0.99, .last_played_at = 8000},  /* finished */
		{.title = 9, .completion = 1.00, .last_played_at = 9900},  /* finished, newest */
		{.title = 9, .completion = 0.40, .last_played_at = 100},   /* an older, partial play */
		{.title = 12, .completion = 0.97, .last_played_at = 7000}, /* finished */
	};

	for (size_t t = 0; t < N; t++) {
		als[t] = (float)(N - t); /* ALS likes low ids */
		trending[t] = (double)t;
	}
	kino_home_input_t in = {.titles = titles, .ntitles = N, .plays = plays,
				.nplays = sizeof(plays) / sizeof(plays[0]), .als_scores = als,
				.trending = trending, .similar = similar, .row_len = 4,
				.max_because = 2, .max_genres = 3};
	CHECK_INT_EQ(kino_home_compose(&in, rows, 16, &nrows, &err), 0);
	check_no_repeats(rows, nrows);

	/* Continue Watching: 4 (newer) then 3; not 5 (3%), not finished ones. */
	CHECK_INT_EQ(rows[0].type, KINO_HOME_CONTINUE_WATCHING);
	CHECK_INT_EQ(rows[0].nitems, 2);
	CHECK_INT_EQ(rows[0].items[0], 4);
	CHECK_INT_EQ(rows[0].items[1], 3);

	/* Top Picks: ALS order, skipping what is used or finished. */
	CHECK_INT_EQ(rows[1].type, KINO_HOME_TOP_PICKS);
	CHECK_INT_EQ(rows[1].items[0], 0);
	CHECK_INT_EQ(rows[1].items[1], 1);
	CHECK_INT_EQ(rows[1].items[2], 2);
	CHECK_INT_EQ(rows[1].items[3], 5); /* 3 and 4 are in Continue Watching */

	/* Because You Watched: the newest completion (9) seeds the first. */
	CHECK_INT_EQ(rows[2].type, KINO_HOME_BECAUSE_YOU_WATCHED);
	CHECK_STR_EQ(rows[2].title, "Because You Watched T09");
	CHECK_INT_EQ(rows[2].items[0], 10);
	CHECK_INT_EQ(rows[3].type, KINO_HOME_BECAUSE_YOU_WATCHED);
	CHECK_STR_EQ(rows[3].title, "Because You Watched T06");

	/* Finished titles are never recommended, in any row. */
	CHECK(!in_rows(rows, nrows, 6));
	CHECK(!in_rows(rows, nrows, 9));
	CHECK(!in_rows(rows, nrows, 12));

	/* Genre rows come last, led by the viewer's genre: plays of 3, 6, 9,
	 * 12 are all Drama (t % 3 == 0). */
	size_t first_genre = nrows;
	for (size_t r = 0; r < nrows; r++)
		if (rows[r].type == KINO_HOME_GENRE && first_genre == nrows)
			first_genre = r;
	CHECK(first_genre < nrows);
	CHECK_STR_EQ(rows[first_genre].title, "Drama");
	CHECK_CONTAINS(rows[first_genre].reason, "you watch");
	for (size_t r = first_genre; r < nrows; r++)
		CHECK_INT_EQ(rows[r].type, KINO_HOME_GENRE);
}

/* A hidden title (outside its window now) is on no row, whatever its
 * scores: top of ALS, trending and new releases at once. */
static void test_hidden_titles(void)
{
	double trending[N];
	float als[N];
	unsigned char hidden[N] = {0};
	kino_home_row_t rows[16];
	size_t nrows;
	kino_error_t err = {0};

	for (size_t t = 0; t < N; t++) {
		trending[t] = 1.0;
		als[t] = 0.1f;
	}
	trending[N - 1] = 100.0;
	als[N - 1] = 9.0f;
	hidden[N - 1] = 1;
	hidden[3] = 1;
	kino_home_input_t in = {.titles = titles, .ntitles = N, .als_scores = als,
				.trending = trending, .hidden = hidden, .similar = similar,
				.row_len = 8, .max_because = 2, .max_genres = 3};
	CHECK_INT_EQ(kino_home_compose(&in, rows, 16, &nrows, &err), 0);
	check_no_repeats(rows, nrows);
	CHECK(!in_rows(rows, nrows, N - 1));
	CHECK(!in_rows(rows, nrows, 3));
	/* everything else fits on the screen and is there */
	for (size_t t = 0; t < N; t++)
		if (!hidden[t])
			CHECK_MSG(in_rows(rows, nrows, t), "title %zu is missing", t);
}

static void test_bad_input(void)
{
	kino_home_row_t rows[4];
	size_t nrows;
	kino_error_t err = {0};
	const kino_home_play_t bad[] = {{.title = N, .completion = 0.5, .last_played_at = 1}};
	kino_home_input_t in = {.titles = titles, .ntitles = N, .plays = bad, .nplays = 1, .row_len = 4};

	CHECK_INT_EQ(kino_home_compose(&in, rows, 4, &nrows, &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "play 0");
	in.nplays = 0;
	in.row_len = 0;
	CHECK_INT_EQ(kino_home_compose(&in, rows, 4, &nrows, &err), KINO_EINVAL);
	/* An empty catalog gives an empty screen, not an error. */
	in.row_len = 4;
	in.ntitles = 0;
	CHECK_INT_EQ(kino_home_compose(&in, rows, 4, &nrows, &err), 0);
	CHECK_INT_EQ(nrows, 0);
	/* Rows are cut at max_rows. */
	in.ntitles = N;
	CHECK_INT_EQ(kino_home_compose(&in, rows, 1, &nrows, &err), 0);
	CHECK_INT_EQ(nrows, 1);
}

static bool rows_equal(const kino_home_row_t *a, size_t na, const kino_home_row_t *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t r = 0; r < na; r++) {
		if (a[r].type != b[r].type || a[r].nitems != b[r].nitems ||
		    strcmp(a[r].title, b[r].title) != 0 || strcmp(a[r].reason, b[r].reason) != 0)
			return false;
		for (size_t i = 0; i < a[r].nitems; i++)
			if (a[r].items[i] != b[r].items[i])
				return false;
	}
	return true;
}

/* The genres interned once for a catalog (as the server's view does) give
 * the very rows that interning per screen gives, with and without plays,
 * for titles of several genres; genres of another catalog are refused. */
static void test_genres_interned_once(void)
{
	static const char *multi[N][2];
	kino_home_title_t mt[N];
	double trending[N];
	kino_home_row_t a[16], b[16];
	size_t na, nb;
	kino_error_t err = {0};
	kino_home_genres_t *gs = NULL;
	const kino_home_play_t plays[] = {
		{.title = 1, .completion = 0.99, .last_played_at = 5000},
		{.title = 4, .completion = 0.60, .last_played_at = 6000},
		{.title = 4, .completion = 0.10, .last_played_at = 100},
		{.title = 7, .completion = 0.30, .last_played_at = 7000},
	};

	for (size_t t = 0; t < N; t++) {
		multi[t][0] = genre_of[t % 3];
		multi[t][1] = genre_of[(t / 3) % 3];
		mt[t] = titles[t];
		mt[t].genres = multi[t];
		mt[t].ngenres = t % 3 == (t / 3) % 3 ? 1 : 2;
		trending[t] = (double)((t * 7) % N);
	}
	CHECK_INT_EQ(kino_home_genres_new(mt, N, &gs, &err), 0);
	kino_home_input_t in = {.titles = mt, .ntitles = N, .trending = trending, .row_len = 3,
				.max_genres = 3};
	for (int history = 0; history < 2; history++) {
		in.plays = history ? plays : NULL;
		in.nplays = history ? sizeof(plays) / sizeof(plays[0]) : 0;
		in.genres = NULL;
		CHECK_INT_EQ(kino_home_compose(&in, a, 16, &na, &err), 0);
		in.genres = gs;
		CHECK_INT_EQ(kino_home_compose(&in, b, 16, &nb, &err), 0);
		CHECK_MSG(rows_equal(a, na, b, nb), "rows differ with interned genres (history %d)",
			  history);
		CHECK(na >= 3 && a[na - 1].type == KINO_HOME_GENRE);
	}
	in.ntitles = N - 1;
	CHECK_INT_EQ(kino_home_compose(&in, a, 16, &na, &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "genres");
	kino_home_genres_destroy(gs);
}

int main(void)
{
	catalog();
	RUN_TEST(test_cold_start);
	RUN_TEST(test_with_history);
	RUN_TEST(test_hidden_titles);
	RUN_TEST(test_bad_input);
	RUN_TEST(test_genres_interned_once);
	return 0;
}
