/* The catalog's pure parts: ISO-8601 times, title validation (every error
 * names its field), the stored and answered forms of a title, regex
 * escaping for search, and asset.json reading. */
#include "check.h"
#include "testenv.h"

#include "catalog_internal.h"

#include <stdio.h>
#include <sys/stat.h>

static void test_times(void)
{
	char text[CATALOG_TIME_TEXT];
	int64_t ms = -1;

	CHECK(catalog_time_parse("1970-01-01", &ms) && ms == 0);
	CHECK(catalog_time_parse("2026-01-31T20:00:00Z", &ms) && ms == 1769889600000LL);
	CHECK(catalog_time_parse("2026-01-31T21:30:00+01:30", &ms) && ms == 1769889600000LL);
	CHECK(catalog_time_parse("2026-01-31T20:00Z", &ms) && ms == 1769889600000LL);
	CHECK(catalog_time_parse("2026-01-31T20:00:00.250Z", &ms) && ms == 1769889600250LL);
	CHECK(catalog_time_parse("2024-02-29", &ms));
	CHECK(!catalog_time_parse("2023-02-29", &ms));
	CHECK(!catalog_time_parse("2026-13-01", &ms));
	CHECK(!catalog_time_parse("2026-01-31T20:00:00", &ms)); /* no zone */
	CHECK(!catalog_time_parse("2026-01-31T24:00:00Z", &ms));
	CHECK(!catalog_time_parse("1969-12-31", &ms));
	CHECK(!catalog_time_parse("2026-1-31", &ms));
	CHECK(!catalog_time_parse("2026-01-31 junk", &ms));
	CHECK(!catalog_time_parse("", &ms));
	CHECK(!catalog_time_parse(NULL, &ms));
	catalog_time_format(1769889600000LL, text);
	CHECK_STR_EQ(text, "2026-01-31T20:00:00Z");
	catalog_time_format(1769889600250LL, text);
	CHECK_STR_EQ(text, "2026-01-31T20:00:00.250Z");
	catalog_time_format(CATALOG_TIME_MAX, text);
	CHECK_STR_EQ(text, "9999-12-31T23:59:59.999Z");
}

/* Applies a JSON text to t; returns the error code, err holds the message. */
static int apply(catalog_title_t *t, const char *json, bool create, kino_error_t *err)
{
	bson_error_t berr;
	bson_t doc;
	int ret;

	CHECK_MSG(bson_init_from_json(&doc, json, -1, &berr), "bad test JSON %s", json);
	kino_error_clear(err);
	ret = catalog_title_apply_json(t, &doc, create, err);
	bson_destroy(&doc);
	return ret;
}

/* The body must be refused with a message that starts with `field`. */
static void refused(const char *json, const char *field)
{
	static catalog_title_t t;
	kino_error_t err = {0};

	catalog_title_init(&t);
	CHECK_MSG(apply(&t, json, true, &err) == KINO_EINVAL, "accepted: %s", json);
	CHECK_MSG(strncmp(err.message, field, strlen(field)) == 0,
		  "%s: the message \"%s\" does not name %s", json, err.message, field);
}

static void test_validation(void)
{
	char big[2000];

	refused("{\"tier\":\"free\"}", "title");
	refused("{\"title\":\"x\"}", "tier");
	refused("{\"title\":\"   \",\"tier\":\"free\"}", "title");
	refused("{\"title\":42,\"tier\":\"free\"}", "title");
	refused("{\"title\":\"x\",\"tier\":\"gold\"}", "tier");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"colour\":\"red\"}", "colour");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"published\":true}", "published");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"id\":\"abc\"}", "id");
	refused("{\"title\":\"x\",\"title\":\"y\",\"tier\":\"free\"}", "title");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"year\":1700}", "year");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"year\":\"2001\"}", "year");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"year\":2001.5}", "year");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"genres\":\"drama\"}", "genres");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"genres\":[\"drama\",3]}", "genres[1]");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"genres\":[\"\"]}", "genres[0]");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"cast\":[\"a\\u0001b\"]}", "cast[0]");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"duration\":0}", "duration");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"duration\":\"90\"}", "duration");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"maturity_rating\":\"PG 13\"}", "maturity_rating");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"asset_id\":\"../etc\"}", "asset_id");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"asset_id\":\"ABCDEF\"}", "asset_id");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"artwork\":[1]}", "artwork[0]");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"available_from\":\"tomorrow\"}", "available_from");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"available_until\":\"2026-01-01T10:00:00\"}",
		"available_until");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"available_from\":\"2026-02-01\","
		"\"available_until\":\"2026-01-01\"}",
		"available_until");
	refused("{\"title\":\"x\",\"tier\":\"free\",\"genres\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\","
		"\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
		"genres");
	/* Lengths count characters: 200 "é" pass, 201 "a" do not. */
	strcpy(big, "{\"tier\":\"free\",\"title\":\"");
	for (int i = 0; i < 200; i++)
		strcat(big, "\xc3\xa9");
	strcat(big, "\"}");
	{
		static catalog_title_t t;
		kino_error_t err = {0};
		catalog_title_init(&t);
		CHECK_INT_EQ(apply(&t, big, true, &err), 0);
	}
	strcpy(big, "{\"tier\":\"free\",\"title\":\"");
	for (int i = 0; i < 201; i++)
		strcat(big, "a");
	strcat(big, "\"}");
	refused(big, "title");
}

static void test_round_trip(void)
{
	static catalog_title_t t, back;
	kino_error_t err = {0};
	bson_t doc = BSON_INITIALIZER;
	bson_iter_t it;
	jbuf_t b;

	catalog_title_init(&t);
	CHECK_INT_EQ(apply(&t,
			   "{\"title\":\"Big Buck \\\"Bunny\\\"\",\"synopsis\":\"A rabbit.\\nAnd "
			   "friends.\",\"genres\":[\"Comedy\",\"Animation\"],\"year\":2008,"
			   "\"cast\":[\"Bunny\",\"Frank\"],\"duration\":596.5,\"maturity_rating\":"
			   "\"PG\",\"artwork\":[\"/art/bbb.jpg\"],\"tier\":\"basic\","
			   "\"available_from\":\"2026-01-01\",\"available_until\":null}",
			   true, &err),
		     0);
	catalog_title_to_bson(&t, &doc);
	CHECK(bson_iter_init_find(&it, &doc, "search"));
	CHECK_STR_EQ(bson_iter_utf8(&it, NULL), "big buck \"bunny\"\na rabbit.\nand friends.\nbunny\nfrank");
	CHECK(bson_iter_init_find(&it, &doc, "genres_lc"));
	CHECK(bson_iter_init_find(&it, &doc, "available_until") && BSON_ITER_HOLDS_DATE_TIME(&it) &&
	      bson_iter_date_time(&it) == CATALOG_TIME_MAX);
	catalog_title_from_bson(&back, &doc);
	CHECK_STR_EQ(back.title, t.title);
	CHECK_INT_EQ(back.ngenres, 2);
	CHECK_STR_EQ(back.genres[1], "Animation");
	CHECK_INT_EQ(back.tier, KINO_PLAN_BASIC);
	CHECK_INT_EQ(back.year, 2008);
	CHECK(back.duration == 596.5);

	/* A patch changes only what it names; null clears. */
	CHECK_INT_EQ(apply(&back, "{\"year\":null,\"tier\":\"premium\"}", false, &err), 0);
	CHECK_INT_EQ(back.year, 0);
	CHECK_INT_EQ(back.tier, KINO_PLAN_PREMIUM);
	CHECK_STR_EQ(back.title, t.title);

	jbuf_init(&b);
	snprintf(back.id, sizeof(back.id), "65a000000000000000000001");
	catalog_title_to_json(&back, &b, false);
	CHECK(!b.failed);
	CHECK_CONTAINS(b.data, "\"title\":\"Big Buck \\\"Bunny\\\"\"");
	CHECK_CONTAINS(b.data, "\"synopsis\":\"A rabbit.\\nAnd friends.\"");
	CHECK_CONTAINS(b.data, "\"year\":null");
	CHECK_CONTAINS(b.data, "\"available_from\":\"2026-01-01T00:00:00Z\"");
	CHECK_CONTAINS(b.data, "\"available_until\":null");
	CHECK_CONTAINS(b.data, "\"tier\":\"premium\"");
	CHECK(strstr(b.data, "published") == NULL);
	bson_error_t berr;
	bson_t parsed;
	CHECK_MSG(bson_init_from_json(&parsed, b.data, -1, &berr), "not JSON: %s", b.data);
	bson_destroy(&parsed);
	jbuf_free(&b);
	bson_destroy(&doc);
}

static void test_regex_escape(void)
{
	char out[64];

	CHECK(kino_db_regex_escape(out, sizeof(out), "a.b*(c)[d]{e}|^$?+\\"));
	CHECK_STR_EQ(out, "a\\.b\\*\\(c\\)\\[d\\]\\{e\\}\\|\\^\\$\\?\\+\\\\");
	CHECK(kino_db_regex_escape(out, sizeof(out), "plain text"));
	CHECK_STR_EQ(out, "plain text");
	CHECK(!kino_db_regex_escape(out, 4, "a.b"));
	catalog_lower(out, sizeof(out), "MiXeD Ünï");
	CHECK_STR_EQ(out, "mixed Ünï");
}

static void test_asset_read(void)
{
	char dir[512], path[700];
	catalog_asset_t a;
	kino_error_t err = {0};
	FILE *f;

	tenv_tmpdir(dir, sizeof(dir), "catalog-unit");
	snprintf(path, sizeof(path), "%s/media", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/media/0123abcd", dir);
	CHECK(mkdir(path, 0755) == 0);
	CHECK_INT_EQ(catalog_asset_read(dir, "0123abcd", &a, &err), KINO_ENOENT);
	snprintf(path, sizeof(path), "%s/media/0123abcd/asset.json", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("{\"version\":1,\"asset_id\":\"0123abcd\",\"duration\":30.5,"
	      "\"hls\":\"master.m3u8\",\"dash\":\"manifest.mpd\"}", f);
	fclose(f);
	CHECK_INT_EQ(catalog_asset_read(dir, "0123abcd", &a, &err), 0);
	CHECK(a.duration == 30.5);
	CHECK_STR_EQ(a.hls, "master.m3u8");
	CHECK_STR_EQ(a.dash, "manifest.mpd");
	CHECK_INT_EQ(catalog_asset_read(dir, "../0123", &a, &err), KINO_EINVAL);
	CHECK_INT_EQ(catalog_asset_read(dir, "ffff", &a, &err), KINO_ENOENT);
	f = fopen(path, "w");
	fputs("{\"duration\":30.5,\"hls\":\"../../etc/passwd\"}", f);
	fclose(f);
	CHECK_INT_EQ(catalog_asset_read(dir, "0123abcd", &a, &err), KINO_EMEDIA);
	f = fopen(path, "w");
	fputs("{\"hls\":\"master.m3u8\"}", f);
	fclose(f);
	CHECK_INT_EQ(catalog_asset_read(dir, "0123abcd", &a, &err), KINO_EMEDIA);
	CHECK_CONTAINS(err.message, "duration");
	tenv_rmtree(dir);
}

int main(void)
{
	RUN_TEST(test_times);
	RUN_TEST(test_validation);
	RUN_TEST(test_round_trip);
	RUN_TEST(test_regex_escape);
	RUN_TEST(test_asset_read);
	return 0;
}
