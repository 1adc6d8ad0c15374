/* The key service over HTTP, on an in-process server wired as the API
 * server will be (key routes, then the origin's) with a FerretDB of the
 * test's own: every refusal (no token, tampered, another asset's token,
 * unknown, ended and lapsed sessions, a clear asset, a wrong method, an
 * unknown key system), the AES-128 key and the ClearKey licence of a live
 * session (and no key for an unknown KID), CORS, no-store, and the origin
 * refusing keys.json. One session goes end to end through the catalog:
 * opened by POST /api/v1/playback, keyed, stopped, refused. */
#include "check.h"
#include "testenv.h"

#include "kino/auth.h"
#include "kino/catalog.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/http.h"
#include "kino/origin.h"
#include "kino/playback.h"
#include "kino/protection.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PROT "00aa11bb22cc33dd"
#define CLEAR "44ee55ff66aa77bb"
#define OTHER "8899aabbccddeeff"
#define MASTER "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define S_LIVE "0123456789abcdef01234567"
#define S_ENDED "0123456789abcdef01234568"
#define S_LAPSED "0123456789abcdef01234569"
#define S_CLEAR "0123456789abcdef0123456a"
#define S_OTHER "0123456789abcdef0123456b"
#define S_NONE "0123456789abcdef0123456c"

static char base[128], data_dir[512], media_root[700];
static kino_config_t cfg;
static kino_db_t *kdb;
static kino_playback_keyring_t *keys;
static kino_protection_asset_key_t prot_key;
static char admin_tok[64], viewer_tok[64];

static void b64url(const uint8_t *in, size_t len, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		if (i + 1 < len)
			out[o++] = t[v >> 6 & 63];
		if (i + 2 < len)
			out[o++] = t[v & 63];
	}
	out[o] = '\0';
}

static void make_asset(const char *id, bool protect, kino_protection_asset_key_t *k)
{
	char path[900];
	uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN];
	kino_error_t err = {0};

	tenv_fake_asset(media_root, id, 10.0);
	if (!protect)
		return;
	CHECK_INT_EQ(kino_protection_master_key_load(MASTER, master, &err), 0);
	CHECK_INT_EQ(kino_protection_asset_key_new(k, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", media_root, id);
	CHECK_INT_EQ(kino_protection_keys_write(path, master, k, &err), 0);
}

static void session_insert(mongoc_collection_t *coll, const char *id, const char *asset,
			   bool ended, int64_t lease_from_now_s)
{
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8("u1"), "title_id",
			       BCON_UTF8("t1"), "asset_id", BCON_UTF8(asset), "created_at",
			       BCON_DATE_TIME(now_ms), "lease_until",
			       BCON_DATE_TIME(now_ms + lease_from_now_s * 1000), "ended",
			       BCON_BOOL(ended));
	bson_error_t berr;

	CHECK_MSG(mongoc_collection_insert_one(coll, doc, NULL, NULL, &berr), "%s", berr.message);
	bson_destroy(doc);
}

static void sessions_make(void)
{
	mongoc_client_t *client = kino_db_client_pop(kdb);
	mongoc_collection_t *coll = mongoc_client_get_collection(client, "kino", "playback_sessions");

	session_insert(coll, S_LIVE, PROT, false, 60);
	session_insert(coll, S_ENDED, PROT, true, 60);
	session_insert(coll, S_LAPSED, PROT, false, -1);
	session_insert(coll, S_CLEAR, CLEAR, false, 60);
	session_insert(coll, S_OTHER, OTHER, false, 60);
	mongoc_collection_destroy(coll);
	kino_db_client_push(kdb, client);
}

/* "/media/<token for asset, session>/<asset>/<rest>" */
static void key_path(char *out, size_t size, const char *token_asset, const char *sid,
		     const char *asset, const char *rest)
{
	char prefix[64], tok[KINO_PLAYBACK_TOKEN_MAX];
	kino_error_t err = {0};

	snprintf(prefix, sizeof(prefix), "%s/", token_asset);
	CHECK_INT_EQ(kino_playback_token_sign(keys, prefix, sid, time(NULL) + 600, tok, sizeof(tok),
					      &err), 0);
	snprintf(out, size, "/media/%s/%s/%s", tok, asset, rest);
}

static void call(const char *method, const char *path, const char *body, tenv_response_t *r)
{
	char url[2048];
	const char *headers[] = {"Content-Type: application/json", NULL};

	snprintf(url, sizeof(url), "%s%s", base, path);
	tenv_http_full(method, url, headers, body, r);
}

static void expect_refusal(const char *method, const char *path, const char *body, int status,
			   const char *code)
{
	tenv_response_t r;
	char needle[100];

	call(method, path, body, &r);
	CHECK_MSG(r.status == status, "%s %s: %d, not %d: %s", method, path, r.status, status,
		  r.body);
	if (code != NULL) {
		snprintf(needle, sizeof(needle), "\"code\":\"%s\"", code);
		CHECK_CONTAINS(r.body, needle);
	}
	CHECK(r.body_len != KINO_PROTECTION_KEY_LEN ||
	      memcmp(r.body, prot_key.key, KINO_PROTECTION_KEY_LEN) != 0);
	tenv_response_free(&r);
}

static void test_refusals(void)
{
	char p[1200];

	/* No token: the path is the origin's, which refuses it. */
	expect_refusal("GET", "/media/" PROT "/key/aes128", NULL, 403, NULL);
	expect_refusal("GET", "/media/garbage/" PROT "/key/aes128", NULL, 403, "forbidden");
	key_path(p, sizeof(p), PROT, S_LIVE, PROT, "key/aes128");
	p[strlen("/media/") + 20] ^= 1; /* tampered */
	expect_refusal("GET", p, NULL, 403, "forbidden");
	key_path(p, sizeof(p), OTHER, S_OTHER, PROT, "key/aes128"); /* another asset's token */
	expect_refusal("GET", p, NULL, 403, "forbidden");
	key_path(p, sizeof(p), PROT, S_OTHER, PROT, "key/aes128"); /* session of another asset */
	expect_refusal("GET", p, NULL, 403, "forbidden");
	key_path(p, sizeof(p), PROT, S_NONE, PROT, "key/aes128");
	expect_refusal("GET", p, NULL, 403, "unknown_session");
	key_path(p, sizeof(p), PROT, S_ENDED, PROT, "key/aes128");
	expect_refusal("GET", p, NULL, 403, "session_ended");
	key_path(p, sizeof(p), PROT, S_ENDED, PROT, "key/clearkey");
	expect_refusal("POST", p, "{\"kids\":[]}", 403, "session_ended");
	key_path(p, sizeof(p), PROT, S_LAPSED, PROT, "key/aes128");
	expect_refusal("GET", p, NULL, 403, "lease_expired");
	key_path(p, sizeof(p), CLEAR, S_CLEAR, CLEAR, "key/aes128");
	expect_refusal("GET", p, NULL, 404, "not_protected");
	key_path(p, sizeof(p), CLEAR, S_CLEAR, CLEAR, "key/clearkey");
	expect_refusal("POST", p, "{\"kids\":[]}", 404, "not_protected");
	key_path(p, sizeof(p), PROT, S_LIVE, PROT, "key/widevine");
	expect_refusal("POST", p, "x", 404, "unknown_key_system");
	key_path(p, sizeof(p), PROT, S_LIVE, PROT, "key/clearkey");
	expect_refusal("GET", p, NULL, 405, "method_not_allowed");
	expect_refusal("POST", p, "{\"kids\":\"nope\"}", 400, "bad_request");
	expect_refusal("POST", p, "not json", 400, "bad_request");
	expect_refusal("POST", p, "{\"kids\":[\"short\"]}", 400, "bad_request");
}

static void expect_header(const tenv_response_t *r, const char *name, const char *want)
{
	char buf[256];
	const char *got = tenv_response_header(r, name, buf, sizeof(buf));

	CHECK_MSG(got != NULL && strcmp(got, want) == 0, "%s: '%s', not '%s'", name,
		  got ? got : "(absent)", want);
}

static void test_aes128_key(void)
{
	char p[1200];
	tenv_response_t r;

	key_path(p, sizeof(p), PROT, S_LIVE, PROT, "key/aes128");
	call("GET", p, NULL, &r);
	CHECK_MSG(r.status == 200, "%d: %s", r.status, r.body);
	CHECK_INT_EQ((int)r.body_len, KINO_PROTECTION_KEY_LEN);
	CHECK(memcmp(r.body, prot_key.key, KINO_PROTECTION_KEY_LEN) == 0);
	expect_header(&r, "content-type", "application/octet-stream");
	expect_header(&r, "cache-control", "no-store");
	expect_header(&r, "access-control-allow-origin", "*");
	tenv_response_free(&r);
}

static void test_clearkey_licence(void)
{
	char p[1200], kid[32], k[32], body[256], want[256], other[32];
	uint8_t other_kid[16] = {0xde, 0xad};
	tenv_response_t r;

	b64url(prot_key.kid, 16, kid);
	b64url(prot_key.key, 16, k);
	b64url(other_kid, 16, other);
	key_path(p, sizeof(p), PROT, S_LIVE, PROT, "key/clearkey");
	snprintf(body, sizeof(body), "{\"kids\":[\"%s\"],\"type\":\"temporary\"}", kid);
	call("POST", p, body, &r);
	CHECK_MSG(r.status == 200, "%d: %s", r.status, r.body);
	snprintf(want, sizeof(want),
		 "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"%s\"}],\"type\":\"temporary\"}",
		 kid, k);
	CHECK_STR_EQ(r.body, want);
	expect_header(&r, "content-type", "application/json");
	expect_header(&r, "cache-control", "no-store");
	expect_header(&r, "access-control-allow-origin", "*");
	tenv_response_free(&r);

	/* An unknown KID gets no key; with the known one, only the known. */
	snprintf(body, sizeof(body), "{\"kids\":[\"%s\"],\"type\":\"temporary\"}", other);
	call("POST", p, body, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_STR_EQ(r.body, "{\"keys\":[],\"type\":\"temporary\"}");
	tenv_response_free(&r);
	snprintf(body, sizeof(body), "{\"kids\":[\"%s\",\"%s==\"],\"type\":\"temporary\"}", other,
		 kid);
	call("POST", p, body, &r);
	CHECK_STR_EQ(r.body, want);
	tenv_response_free(&r);

	/* The CORS preflight a browser sends before the POST. */
	call("OPTIONS", p, NULL, &r);
	CHECK_INT_EQ(r.status, 204);
	expect_header(&r, "access-control-allow-origin", "*");
	expect_header(&r, "access-control-allow-methods", "GET, POST, OPTIONS");
	expect_header(&r, "access-control-allow-headers", "Content-Type");
	tenv_response_free(&r);
}

static void test_origin_refuses_keys_json(void)
{
	char p[1200];

	key_path(p, sizeof(p), PROT, S_LIVE, PROT, "keys.json");
	expect_refusal("GET", p, NULL, 403, "forbidden");
	/* while the asset's other files are served */
	key_path(p, sizeof(p), PROT, S_LIVE, PROT, "asset.json");
	expect_refusal("GET", p, NULL, 200, NULL);
}

static int api(const char *path, const char *token, const char *body, char **resp)
{
	char url[600], authz[128];
	const char *headers[3] = {"Content-Type: application/json", authz, NULL};

	snprintf(url, sizeof(url), "%s%s", base, path);
	snprintf(authz, sizeof(authz), "Authorization: Bearer %s", token);
	return tenv_http_ex("POST", url, headers, body, resp);
}

static char *json_str(const char *json, const char *key)
{
	bson_error_t berr;
	bson_iter_t it;
	bson_t doc;
	char *v;

	CHECK_MSG(bson_init_from_json(&doc, json, -1, &berr), "not JSON: %s", json);
	CHECK_MSG(bson_iter_init_find(&it, &doc, key) && BSON_ITER_HOLDS_UTF8(&it), "no %s in %s",
		  key, json);
	v = strdup(bson_iter_utf8(&it, NULL));
	bson_destroy(&doc);
	return v;
}

/* A session opened by the catalog for an entitled viewer gets the key
 * until it is stopped. */
static void test_catalog_session_end_to_end(void)
{
	char *resp = NULL, *title, *sid, *dash, path[1200];
	tenv_response_t r;

	CHECK_INT_EQ(api("/api/v1/admin/titles", admin_tok,
			 "{\"title\":\"Locked\",\"tier\":\"free\",\"asset_id\":\"" PROT "\"}",
			 &resp), 201);
	title = json_str(resp, "id");
	free(resp);
	snprintf(path, sizeof(path), "/api/v1/admin/titles/%s/publish", title);
	CHECK_INT_EQ(api(path, admin_tok, NULL, &resp), 200);
	free(resp);
	snprintf(path, sizeof(path), "/api/v1/playback/%s", title);
	CHECK_INT_EQ(api(path, viewer_tok, NULL, &resp), 201);
	sid = json_str(resp, "session_id");
	dash = json_str(resp, "dash_url");
	free(resp);
	/* The licence URL is the MPD's dashif:Laurl resolved against it. */
	CHECK(strstr(dash, "/manifest.mpd") != NULL);
	snprintf(path, sizeof(path), "%.*s/key/aes128",
		 (int)(strstr(dash, "/manifest.mpd") - dash), dash);
	call("GET", path, NULL, &r);
	CHECK_MSG(r.status == 200, "%d: %s", r.status, r.body);
	CHECK(memcmp(r.body, prot_key.key, KINO_PROTECTION_KEY_LEN) == 0);
	tenv_response_free(&r);
	{
		char stop[200];
		snprintf(stop, sizeof(stop), "/api/v1/playback/%s/stop", sid);
		CHECK_INT_EQ(api(stop, viewer_tok, NULL, &resp), 204);
		free(resp);
	}
	expect_refusal("GET", path, NULL, 403, "session_ended");
	free(title);
	free(sid);
	free(dash);
}

static void test_bad_master_key(void)
{
	kino_error_t err = {0};
	kino_protection_t *p = kino_protection_new(kdb, keys, media_root, "c2hvcnQ", &err);

	CHECK(p == NULL);
	CHECK_INT_EQ(err.code, KINO_ECONFIG);
	CHECK(strstr(err.message, "c2hvcnQ") == NULL);
}

int main(void)
{
	kino_http_config_t http_cfg = {.host = "127.0.0.1", .port = 0, .max_body = 65536, .workers = 4};
	kino_http_route_t routes[64];
	kino_error_t err = {0};
	kino_protection_asset_key_t other_key;
	kino_protection_t *prot;
	kino_origin_t *origin;
	kino_auth_t *auth;
	kino_catalog_t *cat;
	kino_http_server_t *srv;
	kino_user_t admin, viewer;
	tenv_db_t db;
	size_t n = 0;

	kino_db_global_init();
	kino_http_global_init();
	tenv_tmpdir(data_dir, sizeof(data_dir), "protection");
	snprintf(media_root, sizeof(media_root), "%s/media", data_dir);
	CHECK(mkdir(media_root, 0755) == 0);
	make_asset(PROT, true, &prot_key);
	make_asset(OTHER, true, &other_key);
	make_asset(CLEAR, false, NULL);
	tenv_db_start(&db);

	kino_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
	snprintf(cfg.db.uri, sizeof(cfg.db.uri), "%s", db.uri);
	snprintf(cfg.db.database, sizeof(cfg.db.database), "kino");
	cfg.db.timeout_ms = 5000;
	kdb = kino_db_new(&cfg.db, &err);
	CHECK_MSG(kdb != NULL, "%s", err.message);
	CHECK_MSG(kino_db_wait_ready(kdb, 20000, &err) == 0, "%s", err.message);
	keys = kino_playback_keyring_new("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", &err);
	CHECK(keys != NULL);
	auth = kino_auth_new(kdb, &cfg.auth, &err);
	CHECK(auth != NULL);
	cat = kino_catalog_new(kdb, auth, keys, &cfg, &err);
	CHECK_MSG(cat != NULL, "%s", err.message);
	prot = kino_protection_new(kdb, keys, media_root, MASTER, &err);
	CHECK_MSG(prot != NULL, "%s", err.message);
	origin = kino_origin_new(media_root, keys, &err);
	CHECK(origin != NULL);
	/* As the API server wires them: the key routes before the origin's. */
	n += kino_auth_routes(auth, routes + n, 64 - n);
	n += kino_catalog_routes(cat, routes + n, 64 - n);
	n += kino_protection_routes(prot, routes + n, 64 - n);
	n += kino_origin_routes(origin, routes + n, 64 - n);
	srv = kino_http_server_new(&http_cfg, "test", routes, n, &err);
	CHECK_MSG(srv != NULL, "%s", err.message);
	CHECK(kino_http_server_start(srv, &err) == 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));
	tenv_user_new(auth, "admin@example.com", "password 123", KINO_ROLE_ADMIN, &admin, admin_tok);
	tenv_user_new(auth, "viewer@example.com", "password 123", KINO_ROLE_VIEWER, &viewer,
		      viewer_tok);
	sessions_make();

	RUN_TEST(test_refusals);
	RUN_TEST(test_aes128_key);
	RUN_TEST(test_clearkey_licence);
	RUN_TEST(test_origin_refuses_keys_json);
	RUN_TEST(test_catalog_session_end_to_end);
	RUN_TEST(test_bad_master_key);

	kino_http_server_destroy(srv);
	kino_origin_destroy(origin);
	kino_protection_destroy(prot);
	kino_catalog_destroy(cat);
	kino_auth_destroy(auth);
	kino_playback_keyring_destroy(keys);
	kino_db_destroy(kdb);
	tenv_db_stop(&db);
	kino_protection_asset_key_wipe(&prot_key);
	kino_protection_asset_key_wipe(&other_key);
	tenv_rmtree(data_dir);
	kino_db_global_cleanup();
	return 0;
}
