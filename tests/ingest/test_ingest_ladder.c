/* The ladder's shape: which renditions a source gets, and how --ladder is
 * parsed. Pure functions, no media. */
#include "check.h"
#include "kino/error.h"
#include "kino/ingest.h"

static int plan(int w, int h, const kino_ingest_rung_t *rungs, size_t n,
		kino_ingest_rendition_t *out)
{
	kino_error_t err = {0};
	int count = kino_ingest_ladder_plan(w, h, 24.0, rungs, n, out,
					    KINO_INGEST_LADDER_MAX, &err);
	CHECK_MSG(count > 0, "plan %dx%d: %s", w, h, kino_error_message(&err));
	return count;
}

static void test_bbb_480p_gets_480_360_240(void)
{
	kino_ingest_rendition_t r[KINO_INGEST_LADDER_MAX];
	CHECK_INT_EQ(plan(854, 480, NULL, 0, r), 3);
	CHECK_STR_EQ(r[0].name, "480p");
	CHECK_INT_EQ(r[0].width, 854);
	CHECK_INT_EQ(r[0].height, 480);
	CHECK_INT_EQ(r[0].bitrate_kbps, 1400);
	CHECK_STR_EQ(r[1].name, "360p");
	CHECK_INT_EQ(r[1].width, 640);
	CHECK_INT_EQ(r[1].bitrate_kbps, 800);
	CHECK_STR_EQ(r[2].name, "240p");
	CHECK_INT_EQ(r[2].width, 428); /* 426.67 rounded to even */
	CHECK_INT_EQ(r[2].height, 240);
	CHECK(r[2].fps == 24.0);
}

static void test_1080p_gets_all_five(void)
{
	kino_ingest_rendition_t r[KINO_INGEST_LADDER_MAX];
	CHECK_INT_EQ(plan(1920, 1080, NULL, 0, r), 5);
	CHECK_INT_EQ(r[0].width, 1920);
	CHECK_INT_EQ(r[0].bitrate_kbps, 5000);
	CHECK_INT_EQ(r[1].width, 1280);
	CHECK_INT_EQ(r[4].width, 426);
	for (int i = 0; i < 5; i++)
		CHECK(r[i].width % 2 == 0 && r[i].height % 2 == 0);
}

static void test_portrait_uses_short_side(void)
{
	kino_ingest_rendition_t r[KINO_INGEST_LADDER_MAX];
	CHECK_INT_EQ(plan(1080, 1920, NULL, 0, r), 5);
	CHECK_INT_EQ(r[1].width, 720);
	CHECK_INT_EQ(r[1].height, 1280);
}

static void test_tiny_source_keeps_its_size(void)
{
	kino_ingest_rendition_t r[KINO_INGEST_LADDER_MAX];
	/* The rotation clip: 100x60 coded, shown 60x100. */
	CHECK_INT_EQ(plan(60, 100, NULL, 0, r), 1);
	CHECK_INT_EQ(r[0].width, 60);
	CHECK_INT_EQ(r[0].height, 100);
	CHECK(r[0].bitrate_kbps >= 64 && r[0].bitrate_kbps < 400);
	/* Odd sizes come out even. */
	CHECK_INT_EQ(plan(321, 181, NULL, 0, r), 1);
	CHECK(r[0].width % 2 == 0 && r[0].height % 2 == 0);
}

static void test_never_upscales_a_custom_ladder(void)
{
	kino_ingest_rung_t rungs[KINO_INGEST_LADDER_MAX];
	kino_ingest_rendition_t r[KINO_INGEST_LADDER_MAX];
	kino_error_t err = {0};
	size_t n = 0;

	CHECK_INT_EQ(kino_ingest_ladder_parse("480:1400,720:3000,240:300", rungs,
					      KINO_INGEST_LADDER_MAX, &n, &err), 0);
	CHECK_INT_EQ(n, 3);
	CHECK_INT_EQ(rungs[0].short_side, 720); /* sorted, largest first */
	CHECK_INT_EQ(plan(854, 480, rungs, n, r), 2);
	CHECK_STR_EQ(r[0].name, "480p");
	CHECK_INT_EQ(r[1].bitrate_kbps, 300);
}

static void test_parse_errors(void)
{
	static const char *bad[] = {"", "720", "720:", ":3000", "721:3000",
				    "720:3000,", "720:3000,720:2000", "720:10",
				    "x:1", "720:3000;480:1000"};
	kino_ingest_rung_t rungs[KINO_INGEST_LADDER_MAX];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kino_error_t err = {0};
		CHECK_MSG(kino_ingest_ladder_parse(bad[i], rungs, KINO_INGEST_LADDER_MAX,
						   &n, &err) == KINO_EINVAL,
			  "'%s' was accepted", bad[i]);
		CHECK_CONTAINS(err.message, "ladder:");
	}
	CHECK_INT_EQ(kino_ingest_ladder_parse("1080:1000,720:2000", rungs, 1, &n, NULL),
		     KINO_EINVAL);
}

int main(void)
{
	RUN_TEST(test_bbb_480p_gets_480_360_240);
	RUN_TEST(test_1080p_gets_all_five);
	RUN_TEST(test_portrait_uses_short_side);
	RUN_TEST(test_tiny_source_keeps_its_size);
	RUN_TEST(test_never_upscales_a_custom_ladder);
	RUN_TEST(test_parse_errors);
	return 0;
}
