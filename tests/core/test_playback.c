/* Catalog, entitlement and playback end to end, over HTTP, on an in-process
 * server (health + accounts + catalog routes) and a FerretDB of the test's
 * own: role checks on every admin route, validation, visibility, search and
 * pages, every refusal reason, plan expiry, purchases and rentals, the
 * stream limit under parallel requests, leases that heartbeats renew and
 * that lapse, and the signed URLs of the answer. Leases last 2 s here. */
#include "check.h"
#include "testenv.h"

#include "kino/auth.h"
#include "kino/catalog.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/health.h"
#include "kino/http.h"
#include "kino/playback.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#define LEASE_S 2
#define ASSET_A "00aa11bb22cc33dd"
#define ASSET_B "ffee0011"

static char base[128], data_dir[512];
static kino_config_t cfg;
static kino_db_t *kdb;
static kino_auth_t *auth;
static kino_playback_keyring_t *keys;
static char admin_tok[64], analyst_tok[64], viewer_tok[64], viewer2_tok[64], rich_tok[64];
static kino_user_t viewer, viewer2, rich;

static int call(const char *method, const char *path, const char *token, const char *body,
		char **resp)
{
	return tenv_api(base, method, path, token, body, resp);
}

/* Calls and checks the status; returns the body (caller frees). */
static char *expect(int want, const char *method, const char *path, const char *token,
		    const char *body)
{
	return tenv_api_expect(base, want, method, path, token, body);
}

static void expect_error(int want, const char *code, const char *method, const char *path,
			 const char *token, const char *body)
{
	char needle[128], *resp = expect(want, method, path, token, body);

	snprintf(needle, sizeof(needle), "\"code\":\"%s\"", code);
	CHECK_CONTAINS(resp, needle);
	free(resp);
}

/* The string value of a top-level key of a JSON answer; caller frees. */
static char *json_str(const char *json, const char *key)
{
	bson_error_t berr;
	bson_iter_t it;
	bson_t doc;
	char *v;

	CHECK_MSG(bson_init_from_json(&doc, json, -1, &berr), "not JSON: %s", json);
	CHECK_MSG(bson_iter_init_find(&it, &doc, key) && BSON_ITER_HOLDS_UTF8(&it),
		  "no string %s in %s", key, json);
	v = strdup(bson_iter_utf8(&it, NULL));
	bson_destroy(&doc);
	return v;
}

static void make_asset(const char *id, double duration)
{
	char media[700];

	snprintf(media, sizeof(media), "%s/media", data_dir);
	tenv_fake_asset(media, id, duration);
}

/* Creates a title as admin and returns its id (caller frees). */
static char *title_new(const char *json)
{
	char *resp = expect(201, "POST", "/api/v1/admin/titles", admin_tok, json);
	char *id = json_str(resp, "id");

	free(resp);
	return id;
}

static void title_publish(const char *id)
{
	char path[200];

	snprintf(path, sizeof(path), "/api/v1/admin/titles/%s/publish", id);
	free(expect(200, "POST", path, admin_tok, NULL));
}

static char *published_title(const char *json)
{
	char *id = title_new(json);

	title_publish(id);
	return id;
}

/* ---- the tests ---- */

static void test_admin_roles(void)
{
	char *id = title_new("{\"title\":\"Roles\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A "\"}");
	char p_title[200], p_publish[200], p_unpublish[200], p_plan[200], p_grants[200], p_ent[200];
	char grant[200];
	struct {
		const char *method, *path, *body;
		int ok;
	} routes[] = {
		{"POST", "/api/v1/admin/titles", "{\"title\":\"R2\",\"tier\":\"free\"}", 201},
		{"GET", "/api/v1/admin/titles", NULL, 200},
		{"GET", p_title, NULL, 200},
		{"PATCH", p_title, "{\"year\":2001}", 200},
		{"POST", p_publish, NULL, 200},
		{"POST", p_unpublish, NULL, 200},
		{"PUT", p_plan, "{\"plan\":\"free\"}", 200},
		{"POST", p_grants, grant, 201},
		{"GET", p_ent, NULL, 200},
	};

	snprintf(p_title, sizeof(p_title), "/api/v1/admin/titles/%s", id);
	snprintf(p_publish, sizeof(p_publish), "/api/v1/admin/titles/%s/publish", id);
	snprintf(p_unpublish, sizeof(p_unpublish), "/api/v1/admin/titles/%s/unpublish", id);
	snprintf(p_plan, sizeof(p_plan), "/api/v1/admin/users/%s/plan", viewer2.id);
	snprintf(p_grants, sizeof(p_grants), "/api/v1/admin/users/%s/grants", viewer2.id);
	snprintf(p_ent, sizeof(p_ent), "/api/v1/admin/users/%s/entitlements", viewer2.id);
	snprintf(grant, sizeof(grant), "{\"title_id\":\"%s\",\"kind\":\"purchase\"}", id);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *m = routes[i].method, *p = routes[i].path, *b = routes[i].body;
		expect_error(401, "unauthorized", m, p, NULL, b);
		expect_error(403, "forbidden", m, p, viewer_tok, b);
		expect_error(403, "forbidden", m, p, analyst_tok, b);
		free(expect(routes[i].ok, m, p, admin_tok, b));
	}
	/* Viewer routes want a signed-in user too. */
	expect_error(401, "unauthorized", "GET", "/api/v1/titles", NULL, NULL);
	snprintf(p_title, sizeof(p_title), "/api/v1/titles/%s", id);
	expect_error(401, "unauthorized", "GET", p_title, NULL, NULL);
	expect_error(401, "unauthorized", "POST", "/api/v1/playback/65a000000000000000000001", NULL,
		     NULL);
	expect_error(401, "unauthorized", "GET", "/api/v1/me/entitlements", NULL, NULL);
	free(id);
}

static void test_validation(void)
{
	char path[200], *id, *resp;

	struct {
		const char *body, *field;
	} bad[] = {
		{"{\"tier\":\"free\"}", "title"},
		{"{\"title\":\"x\",\"tier\":\"gold\"}", "tier"},
		{"{\"title\":\"x\",\"tier\":\"free\",\"rating\":\"PG\"}", "rating: unknown field"},
		{"{\"title\":\"x\",\"tier\":\"free\",\"year\":99999}", "year"},
		{"{\"title\":\"x\",\"tier\":\"free\",\"genres\":\"drama\"}", "genres"},
		{"{\"title\":\"x\",\"tier\":\"free\",\"asset_id\":\"abcdef99\"}", "asset_id: no asset"},
		{"{\"title\":\"x\",\"tier\":\"free\",\"asset_id\":\"../../etc\"}", "asset_id"},
		{"{\"title\":\"x\",\"tier\":\"free\",\"available_from\":\"soon\"}", "available_from"},
		{"{\"title\":\"x\",\"tier\":\"free\",\"published\":true}", "published: read-only"},
		{"{\"title\":\"x\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A "\",\"duration\":5}",
		 "duration"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		resp = expect(400, "POST", "/api/v1/admin/titles", admin_tok, bad[i].body);
		CHECK_CONTAINS(resp, bad[i].field);
		free(resp);
	}
	expect_error(400, "malformed", "POST", "/api/v1/admin/titles", admin_tok, "{oops");
	expect_error(400, "malformed", "POST", "/api/v1/admin/titles", admin_tok, "[1,2]");
	expect_error(400, "malformed", "POST", "/api/v1/admin/titles", admin_tok, NULL);

	/* The duration comes from asset.json. */
	resp = expect(201, "POST", "/api/v1/admin/titles", admin_tok,
		      "{\"title\":\"Timed\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A "\"}");
	CHECK_CONTAINS(resp, "\"duration\":30.000");
	CHECK_CONTAINS(resp, "\"published\":false");
	id = json_str(resp, "id");
	free(resp);
	snprintf(path, sizeof(path), "/api/v1/admin/titles/%s", id);
	resp = expect(200, "PATCH", path, admin_tok, "{\"asset_id\":\"" ASSET_B "\",\"year\":2008}");
	CHECK_CONTAINS(resp, "\"duration\":12.500");
	CHECK_CONTAINS(resp, "\"year\":2008");
	CHECK_CONTAINS(resp, "\"title\":\"Timed\"");
	free(resp);
	resp = expect(400, "PATCH", path, admin_tok, "{\"title\":null}");
	CHECK_CONTAINS(resp, "title");
	free(resp);
	/* Publishing needs an asset; a published title keeps one. */
	title_publish(id);
	resp = expect(409, "PATCH", path, admin_tok, "{\"asset_id\":null}");
	CHECK_CONTAINS(resp, "asset_id");
	free(resp);
	free(id);
	id = title_new("{\"title\":\"No media\",\"tier\":\"free\"}");
	snprintf(path, sizeof(path), "/api/v1/admin/titles/%s/publish", id);
	resp = expect(409, "POST", path, admin_tok, NULL);
	CHECK_CONTAINS(resp, "asset_id");
	free(resp);
	free(id);
	expect_error(404, "not_found", "GET", "/api/v1/admin/titles/65a000000000000000000001",
		     admin_tok, NULL);
	expect_error(404, "not_found", "GET", "/api/v1/admin/titles/nope", admin_tok, NULL);
	expect_error(404, "not_found", "PUT", "/api/v1/admin/users/65a000000000000000000001/plan",
		     admin_tok, "{\"plan\":\"basic\"}");
	snprintf(path, sizeof(path), "/api/v1/admin/users/%s/plan", viewer2.id);
	resp = expect(400, "PUT", path, admin_tok, "{\"plan\":\"gold\"}");
	CHECK_CONTAINS(resp, "plan");
	free(resp);
	resp = expect(400, "PUT", path, admin_tok, "{\"plan\":\"basic\",\"until\":\"later\"}");
	CHECK_CONTAINS(resp, "until");
	free(resp);
	snprintf(path, sizeof(path), "/api/v1/admin/users/%s/grants", viewer2.id);
	resp = expect(400, "POST", path, admin_tok,
		      "{\"title_id\":\"65a000000000000000000001\",\"kind\":\"rental\"}");
	CHECK_CONTAINS(resp, "hours");
	free(resp);
	resp = expect(400, "POST", path, admin_tok,
		      "{\"title_id\":\"65a000000000000000000001\",\"kind\":\"purchase\"}");
	CHECK_CONTAINS(resp, "title_id: no such title");
	free(resp);
	resp = expect(400, "POST", path, admin_tok, "{\"title_id\":\"x\",\"kind\":\"gift\"}");
	CHECK_CONTAINS(resp, "title_id");
	free(resp);
}

static bool listed(const char *query, const char *id)
{
	char path[300], *resp;
	bool found;

	snprintf(path, sizeof(path), "/api/v1/titles%s", query);
	resp = expect(200, "GET", path, viewer_tok, NULL);
	found = strstr(resp, id) != NULL;
	free(resp);
	return found;
}

static void test_visibility(void)
{
	char path[200], upath[200], *id, *past, *future;

	id = title_new("{\"title\":\"Draft first\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A "\"}");
	snprintf(path, sizeof(path), "/api/v1/titles/%s", id);
	CHECK(!listed("", id));
	expect_error(404, "not_found", "GET", path, viewer_tok, NULL);
	title_publish(id);
	CHECK(listed("", id));
	free(expect(200, "GET", path, viewer_tok, NULL));
	snprintf(upath, sizeof(upath), "/api/v1/admin/titles/%s/unpublish", id);
	free(expect(200, "POST", upath, admin_tok, NULL));
	CHECK(!listed("", id));
	expect_error(404, "not_found", "GET", path, viewer_tok, NULL);

	past = published_title("{\"title\":\"Gone\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A
			       "\",\"available_from\":\"2020-01-01\",\"available_until\":"
			       "\"2021-01-01T00:00:00Z\"}");
	future = published_title("{\"title\":\"Coming\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A
				 "\",\"available_from\":\"2999-01-01\"}");
	CHECK(!listed("", past));
	CHECK(!listed("", future));
	snprintf(path, sizeof(path), "/api/v1/titles/%s", future);
	expect_error(404, "not_found", "GET", path, viewer_tok, NULL);
	/* Admins see drafts and everything else. */
	char *all = expect(200, "GET", "/api/v1/admin/titles?limit=100", admin_tok, NULL);
	CHECK_CONTAINS(all, id);
	CHECK_CONTAINS(all, past);
	CHECK_CONTAINS(all, future);
	free(all);
	/* A window that opens: move it into the present. */
	snprintf(path, sizeof(path), "/api/v1/admin/titles/%s", future);
	free(expect(200, "PATCH", path, admin_tok, "{\"available_from\":\"2020-01-01\"}"));
	CHECK(listed("", future));
	free(id);
	free(past);
	free(future);
}

static void test_search_and_pages(void)
{
	char *ids[5], path[300], *resp, *cursor = NULL;
	int seen[5] = {0}, pages = 0;

	ids[0] = published_title("{\"title\":\"Zebra Crossing\",\"tier\":\"free\",\"genres\":"
				 "[\"Documentary\"],\"asset_id\":\"" ASSET_A "\"}");
	ids[1] = published_title("{\"title\":\"Night Owls\",\"synopsis\":\"Birds (and a ZEBRA?) at "
				 "night\",\"tier\":\"free\",\"genres\":[\"Nature\",\"Documentary\"],"
				 "\"asset_id\":\"" ASSET_A "\"}");
	ids[2] = published_title("{\"title\":\"Quiet\",\"cast\":[\"Zelda Zebrowski\"],\"tier\":"
				 "\"free\",\"genres\":[\"Drama\"],\"asset_id\":\"" ASSET_A "\"}");
	ids[3] = published_title("{\"title\":\"Loud\",\"tier\":\"free\",\"genres\":[\"Drama\"],"
				 "\"asset_id\":\"" ASSET_A "\"}");
	ids[4] = title_new("{\"title\":\"Zebra draft\",\"tier\":\"free\"}");

	CHECK(listed("?q=zebra", ids[0]));
	CHECK(listed("?q=zebra", ids[1]));
	CHECK(listed("?q=ZEBRO", ids[2]));
	CHECK(!listed("?q=zebra", ids[3]));
	CHECK(!listed("?q=zebra", ids[4]));
	CHECK(listed("?q=zebra%3F", ids[1])); /* "zebra?" matched literally */
	CHECK(!listed("?q=zebr.", ids[0]));
	free(expect(200, "GET", "/api/v1/titles?q=%28%5B*", viewer_tok, NULL));
	CHECK(listed("?genre=documentary", ids[0]));
	CHECK(listed("?genre=Documentary", ids[1]));
	CHECK(!listed("?genre=documentary", ids[2]));
	CHECK(listed("?genre=drama&q=loud", ids[3]));
	CHECK(!listed("?genre=drama&q=loud", ids[2]));

	/* Pages of 2 cover every visible title once, in a stable order. */
	for (;;) {
		snprintf(path, sizeof(path), "/api/v1/titles?limit=2%s%s", cursor ? "&cursor=" : "",
			 cursor ? cursor : "");
		resp = expect(200, "GET", path, viewer_tok, NULL);
		for (int i = 0; i < 5; i++)
			if (strstr(resp, ids[i]) != NULL)
				seen[i]++;
		free(cursor);
		cursor = NULL;
		pages++;
		if (strstr(resp, "\"next_cursor\":null") == NULL)
			cursor = json_str(resp, "next_cursor");
		free(resp);
		if (cursor == NULL)
			break;
		CHECK(pages < 50);
	}
	CHECK(pages >= 3);
	for (int i = 0; i < 4; i++)
		CHECK_INT_EQ(seen[i], 1);
	CHECK_INT_EQ(seen[4], 0);
	expect_error(400, "bad_request", "GET", "/api/v1/titles?limit=101", viewer_tok, NULL);
	expect_error(400, "bad_request", "GET", "/api/v1/titles?limit=0", viewer_tok, NULL);
	expect_error(400, "bad_request", "GET", "/api/v1/titles?cursor=xyz", viewer_tok, NULL);
	for (int i = 0; i < 5; i++)
		free(ids[i]);
}

static char *play(const char *title_id, const char *token, int want)
{
	char path[200];

	snprintf(path, sizeof(path), "/api/v1/playback/%s", title_id);
	return expect(want, "POST", path, token, NULL);
}

static void play_refused(const char *title_id, const char *token, const char *code)
{
	char needle[100], *resp = play(title_id, token, 403);

	snprintf(needle, sizeof(needle), "\"code\":\"%s\"", code);
	CHECK_CONTAINS(resp, needle);
	free(resp);
}

static void stop(const char *session_id, const char *token)
{
	char path[200];

	snprintf(path, sizeof(path), "/api/v1/playback/%s/stop", session_id);
	free(expect(204, "POST", path, token, NULL));
}

/* Plays and stops at once; true when it was allowed. */
static void play_ok(const char *title_id, const char *token)
{
	char *resp = play(title_id, token, 201), *sid = json_str(resp, "session_id");

	stop(sid, token);
	free(sid);
	free(resp);
}

static void grant(const kino_user_t *u, const char *body)
{
	char path[200];

	snprintf(path, sizeof(path), "/api/v1/admin/users/%s/grants", u->id);
	free(expect(201, "POST", path, admin_tok, body));
}

static void set_plan(const kino_user_t *u, const char *body)
{
	char path[200];

	snprintf(path, sizeof(path), "/api/v1/admin/users/%s/plan", u->id);
	free(expect(200, "PUT", path, admin_tok, body));
}

static void iso_in(int seconds, char *out, size_t size)
{
	time_t t = time(NULL) + seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void test_entitlement(void)
{
	char *free_t, *basic_t, *prem_t, *rent_t, *draft_t, *gone_t, body[300], when[40], *resp;

	free_t = published_title("{\"title\":\"Free\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A "\"}");
	basic_t = published_title("{\"title\":\"Basic\",\"tier\":\"basic\",\"asset_id\":\"" ASSET_A "\"}");
	prem_t = published_title("{\"title\":\"Premium\",\"tier\":\"premium\",\"asset_id\":\"" ASSET_A "\"}");
	rent_t = published_title("{\"title\":\"Rentable\",\"tier\":\"premium\",\"asset_id\":\"" ASSET_B "\"}");
	draft_t = title_new("{\"title\":\"Draft\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A "\"}");
	gone_t = published_title("{\"title\":\"Expired window\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A
				 "\",\"available_until\":\"2021-01-01\"}");

	/* Free titles for everyone; drafts and closed windows for no one. */
	play_ok(free_t, viewer_tok);
	play_refused(draft_t, viewer_tok, "not_available");
	play_refused(gone_t, viewer_tok, "not_available");
	play_refused(draft_t, rich_tok, "not_available");
	expect_error(404, "not_found", "POST", "/api/v1/playback/65a000000000000000000001",
		     viewer_tok, NULL);
	/* Plans by tier. */
	play_refused(basic_t, viewer_tok, "not_subscribed");
	set_plan(&viewer, "{\"plan\":\"basic\"}");
	play_ok(basic_t, viewer_tok);
	play_refused(prem_t, viewer_tok, "not_subscribed");
	/* An expired plan is the free plan. */
	iso_in(-60, when, sizeof(when));
	snprintf(body, sizeof(body), "{\"plan\":\"premium\",\"until\":\"%s\"}", when);
	set_plan(&viewer, body);
	play_refused(basic_t, viewer_tok, "not_subscribed");
	play_ok(free_t, viewer_tok);
	iso_in(3600, when, sizeof(when));
	snprintf(body, sizeof(body), "{\"plan\":\"premium\",\"until\":\"%s\"}", when);
	set_plan(&viewer, body);
	play_ok(prem_t, viewer_tok);
	set_plan(&viewer, "{\"plan\":\"free\",\"until\":null}");
	play_refused(prem_t, viewer_tok, "not_subscribed");
	/* A purchase opens one title for good. */
	snprintf(body, sizeof(body), "{\"title_id\":\"%s\",\"kind\":\"purchase\"}", prem_t);
	grant(&viewer, body);
	play_ok(prem_t, viewer_tok);
	play_refused(basic_t, viewer_tok, "not_subscribed");
	/* A rental, for 2 seconds. */
	snprintf(body, sizeof(body), "{\"title_id\":\"%s\",\"kind\":\"rental\",\"seconds\":2}", rent_t);
	grant(&viewer, body);
	play_ok(rent_t, viewer_tok);
	tenv_sleep_ms(2300);
	play_refused(rent_t, viewer_tok, "rental_expired");
	play_ok(prem_t, viewer_tok);
	/* Renting again helps; hours work as well. */
	snprintf(body, sizeof(body), "{\"title_id\":\"%s\",\"kind\":\"rental\",\"hours\":48}", rent_t);
	grant(&viewer, body);
	play_ok(rent_t, viewer_tok);
	resp = expect(200, "GET", "/api/v1/me/entitlements", viewer_tok, NULL);
	CHECK_CONTAINS(resp, "\"plan\":\"free\"");
	CHECK_CONTAINS(resp, "\"kind\":\"purchase\"");
	CHECK_CONTAINS(resp, "\"active\":false");
	CHECK_CONTAINS(resp, "\"active\":true");
	free(resp);
	free(free_t);
	free(basic_t);
	free(prem_t);
	free(rent_t);
	free(draft_t);
	free(gone_t);
}

static void test_playback_answer(void)
{
	char *t = published_title("{\"title\":\"Signed\",\"tier\":\"free\",\"asset_id\":\"" ASSET_B "\"}");
	char *resp = play(t, viewer2_tok, 201);
	char *sid = json_str(resp, "session_id"), *hls = json_str(resp, "hls_url");
	char *dash = json_str(resp, "dash_url"), *exp = json_str(resp, "expires_at");
	kino_playback_grant_t g;
	kino_error_t err = {0};
	char token[KINO_PLAYBACK_TOKEN_MAX], path[300];
	const char *slash;
	int64_t now = time(NULL);

	CHECK_INT_EQ(strlen(sid), 24);
	CHECK(strncmp(hls, "/media/", 7) == 0);
	slash = strchr(hls + 7, '/');
	CHECK(slash != NULL);
	snprintf(token, sizeof(token), "%.*s", (int)(slash - hls - 7), hls + 7);
	CHECK_STR_EQ(slash, "/" ASSET_B "/master.m3u8");
	snprintf(path, sizeof(path), "/media/%s/" ASSET_B "/manifest.mpd", token);
	CHECK_STR_EQ(dash, path);
	CHECK_MSG(kino_playback_token_verify(keys, token, ASSET_B "/video/480p/seg-00001.m4s", now, &g,
					     &err) == 0,
		  "%s", err.message);
	CHECK_STR_EQ(g.prefix, ASSET_B "/");
	CHECK_STR_EQ(g.session_id, sid);
	CHECK(g.expires_at >= now + cfg.playback.token_ttl_s - 5 &&
	      g.expires_at <= now + cfg.playback.token_ttl_s + 5);
	CHECK(kino_playback_token_verify(keys, token, ASSET_A "/master.m3u8", now, NULL, &err) != 0);
	CHECK_INT_EQ(strlen(exp), 20); /* 2026-01-31T20:00:00Z */
	stop(sid, viewer2_tok);
	free(sid);
	free(hls);
	free(dash);
	free(exp);
	free(resp);
	free(t);
}

static void test_leases(void)
{
	char *t = published_title("{\"title\":\"Leases\",\"tier\":\"free\",\"asset_id\":\"" ASSET_A "\"}");
	char path[200], *resp, *s1, *s2;

	/* viewer2 is on free: one stream. */
	resp = play(t, viewer2_tok, 201);
	s1 = json_str(resp, "session_id");
	free(resp);
	play_refused(t, viewer2_tok, "too_many_streams");
	/* Heartbeats keep the lease past its first 2 s. */
	snprintf(path, sizeof(path), "/api/v1/playback/%s/heartbeat", s1);
	for (int i = 0; i < 4; i++) {
		tenv_sleep_ms(800);
		resp = expect(200, "POST", path, viewer2_tok, NULL);
		CHECK_CONTAINS(resp, "lease_until");
		free(resp);
	}
	play_refused(t, viewer2_tok, "too_many_streams");
	/* Only the owner may renew. */
	expect_error(404, "not_found", "POST", path, viewer_tok, NULL);
	expect_error(404, "not_found", "POST", "/api/v1/playback/65a000000000000000000001/heartbeat",
		     viewer2_tok, NULL);
	/* Without heartbeats the lease lapses and frees the slot. */
	tenv_sleep_ms(LEASE_S * 1000 + 300);
	expect_error(410, "lease_expired", "POST", path, viewer2_tok, NULL);
	resp = play(t, viewer2_tok, 201);
	s2 = json_str(resp, "session_id");
	free(resp);
	/* Stopping frees it at once; a stopped session cannot be renewed. */
	play_refused(t, viewer2_tok, "too_many_streams");
	stop(s2, viewer2_tok);
	snprintf(path, sizeof(path), "/api/v1/playback/%s/heartbeat", s2);
	expect_error(410, "session_ended", "POST", path, viewer2_tok, NULL);
	snprintf(path, sizeof(path), "/api/v1/playback/%s/stop", s2);
	expect_error(404, "not_found", "POST", path, viewer_tok, NULL);
	play_ok(t, viewer2_tok);
	free(s1);
	free(s2);
	free(t);
}

typedef struct racer {
	const char *title;
	int status;
	char *body;
} racer_t;

static void *race(void *arg)
{
	racer_t *r = arg;
	char path[200];

	snprintf(path, sizeof(path), "/api/v1/playback/%s", r->title);
	r->status = call("POST", path, rich_tok, NULL, &r->body);
	return NULL;
}

static int64_t live_slots(const char *user_id)
{
	mongoc_client_t *c = kino_db_client_pop(kdb);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, "kino", "stream_slots");
	bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user_id), "lease_until", "{", "$gt",
				  BCON_DATE_TIME(time(NULL) * 1000), "}");
	bson_error_t berr;
	int64_t n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &berr);

	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(kdb, c);
	return n;
}

static void test_concurrent_streams(void)
{
	char *t = published_title("{\"title\":\"Race\",\"tier\":\"premium\",\"asset_id\":\"" ASSET_A "\"}");
	enum { N = 12 };
	racer_t r[N];
	pthread_t th[N];
	int ok = 0, refused = 0;

	set_plan(&rich, "{\"plan\":\"premium\"}");
	for (int round = 0; round < 2; round++) {
		ok = refused = 0;
		for (int i = 0; i < N; i++) {
			r[i] = (racer_t){.title = t};
			CHECK(pthread_create(&th[i], NULL, race, &r[i]) == 0);
		}
		for (int i = 0; i < N; i++) {
			pthread_join(th[i], NULL);
			if (r[i].status == 201)
				ok++;
			else if (r[i].status == 403 && strstr(r[i].body, "too_many_streams"))
				refused++;
			else
				CHECK_FAIL("unexpected answer %d: %s", r[i].status, r[i].body);
		}
		/* Exactly the plan's 4, never more, with no false refusals. */
		CHECK_INT_EQ(ok, 4);
		CHECK_INT_EQ(refused, N - 4);
		CHECK_INT_EQ(live_slots(rich.id), 4);
		for (int i = 0; i < N; i++) {
			if (r[i].status == 201) {
				char *sid = json_str(r[i].body, "session_id");
				stop(sid, rich_tok);
				free(sid);
			}
			free(r[i].body);
		}
		CHECK_INT_EQ(live_slots(rich.id), 0);
	}
	/* A lower plan lowers the limit. */
	char *resp;
	char *sids[3];
	for (int i = 0; i < 3; i++) {
		resp = play(t, rich_tok, 201);
		sids[i] = json_str(resp, "session_id");
		free(resp);
	}
	set_plan(&rich, "{\"plan\":\"basic\"}");
	char *basic_t = published_title("{\"title\":\"Race basic\",\"tier\":\"basic\",\"asset_id\":\"" ASSET_A "\"}");
	/* Slots 0..2 are live; on basic (2 streams) nothing more may start. */
	play_refused(basic_t, rich_tok, "too_many_streams");
	stop(sids[0], rich_tok);
	play_refused(basic_t, rich_tok, "too_many_streams"); /* still 2 live */
	stop(sids[1], rich_tok);
	resp = play(basic_t, rich_tok, 201);
	free(resp);
	for (int i = 0; i < 3; i++)
		free(sids[i]);
	free(basic_t);
	free(t);
}

int main(void)
{
	kino_http_config_t http_cfg = {.host = "127.0.0.1", .port = 0, .max_body = 65536, .workers = 8};
	kino_http_route_t routes[64];
	kino_error_t err = {0};
	kino_health_t health;
	kino_catalog_t *cat;
	kino_http_server_t *srv;
	kino_user_t admin, analyst;
	tenv_db_t db;
	char path[700];
	size_t n = 0;

	kino_db_global_init();
	kino_http_global_init();
	tenv_tmpdir(data_dir, sizeof(data_dir), "catalog");
	snprintf(path, sizeof(path), "%s/media", data_dir);
	CHECK(mkdir(path, 0755) == 0);
	make_asset(ASSET_A, 30.0);
	make_asset(ASSET_B, 12.5);
	tenv_db_start(&db);

	kino_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
	snprintf(cfg.db.uri, sizeof(cfg.db.uri), "%s", db.uri);
	snprintf(cfg.db.database, sizeof(cfg.db.database), "kino");
	cfg.db.timeout_ms = 5000;
	cfg.playback.lease_ttl_s = LEASE_S; /* below the config's floor, for speed */
	kdb = kino_db_new(&cfg.db, &err);
	CHECK_MSG(kdb != NULL, "%s", err.message);
	CHECK_MSG(kino_db_wait_ready(kdb, 20000, &err) == 0, "%s", err.message);
	CHECK(kino_db_monitor_start(kdb, &err) == 0);
	auth = kino_auth_new(kdb, &cfg.auth, &err);
	CHECK(auth != NULL);
	keys = kino_playback_keyring_new("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", &err);
	CHECK_MSG(keys != NULL, "%s", err.message);
	cat = kino_catalog_new(kdb, auth, keys, &cfg, &err);
	CHECK(cat != NULL);
	kino_health_init(&health, kdb, "http");
	routes[n++] = kino_health_route(&health);
	n += kino_auth_routes(auth, routes + n, 64 - n);
	n += kino_catalog_routes(cat, routes + n, 64 - n);
	CHECK(n >= 1 + 4 + 15);
	srv = kino_http_server_new(&http_cfg, "test", routes, n, &err);
	CHECK_MSG(srv != NULL, "%s", err.message);
	CHECK(kino_http_server_start(srv, &err) == 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));

	tenv_user_new(auth, "admin@example.com", "password 123", KINO_ROLE_ADMIN, &admin, admin_tok);
	tenv_user_new(auth, "analyst@example.com", "password 123", KINO_ROLE_ANALYST, &analyst, analyst_tok);
	tenv_user_new(auth, "viewer@example.com", "password 123", KINO_ROLE_VIEWER, &viewer, viewer_tok);
	tenv_user_new(auth, "viewer2@example.com", "password 123", KINO_ROLE_VIEWER, &viewer2, viewer2_tok);
	tenv_user_new(auth, "rich@example.com", "password 123", KINO_ROLE_VIEWER, &rich, rich_tok);

	RUN_TEST(test_admin_roles);
	RUN_TEST(test_validation);
	RUN_TEST(test_visibility);
	RUN_TEST(test_search_and_pages);
	RUN_TEST(test_entitlement);
	RUN_TEST(test_playback_answer);
	RUN_TEST(test_leases);
	RUN_TEST(test_concurrent_streams);

	kino_http_server_destroy(srv);
	kino_catalog_destroy(cat);
	kino_playback_keyring_destroy(keys);
	kino_auth_destroy(auth);
	kino_db_destroy(kdb);
	tenv_db_stop(&db);
	tenv_rmtree(data_dir);
	kino_db_global_cleanup();
	return 0;
}
