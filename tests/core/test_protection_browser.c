/* Protected playback in a real browser (label browser). The driver sets the
 * stage and hands over to tests/core/protection_browser.mjs, which drives
 * Debian's chromium with playwright-core: a FerretDB of the test's own, a
 * protected ingest of 8 s of Big Buck Bunny (240p), an in-process server
 * with the key routes before the origin's (as the API server wires them),
 * a live playback session and its signed URLs. The script plays the DASH
 * with dash.js through EME ClearKey and the HLS with hls.js and AES-128,
 * then asks the driver (POST /__test/stop) to end the session and checks
 * that a new player gets no licence. Needs `npm ci` in web/ and chromium. */
#include "check.h"
#include "testenv.h"

#include "kino/db.h"
#include "kino/error.h"
#include "kino/http.h"
#include "kino/ingest.h"
#include "kino/origin.h"
#include "kino/playback.h"
#include "kino/protection.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MASTER "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define SESSION "00112233445566778899aabb"

static kino_db_t *kdb;

static void session_set(bool ended)
{
	mongoc_client_t *client = kino_db_client_pop(kdb);
	mongoc_collection_t *coll = mongoc_client_get_collection(client, "kino", "playback_sessions");
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	bson_t *sel = BCON_NEW("_id", BCON_UTF8(SESSION));
	bson_t *doc = BCON_NEW("$set", "{", "ended", BCON_BOOL(ended), "lease_until",
			       BCON_DATE_TIME(now_ms + 600000), "user_id", BCON_UTF8("u1"),
			       "created_at", BCON_DATE_TIME(now_ms), "}");
	bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
	bson_error_t berr;

	CHECK_MSG(mongoc_collection_update_one(coll, sel, doc, opts, NULL, &berr), "%s",
		  berr.message);
	bson_destroy(opts);
	bson_destroy(doc);
	bson_destroy(sel);
	mongoc_collection_destroy(coll);
	kino_db_client_push(kdb, client);
}

/* POST /__test/stop: ends the session, as POST /api/v1/playback/{id}/stop
 * would (core/playback_session.c sets ended). Blocking. */
static void stop_route(kino_http_request_t *req, void *userdata)
{
	(void)userdata;
	session_set(true);
	kino_http_response_header(req, "Access-Control-Allow-Origin", "*");
	kino_http_respond(req, 204, "text/plain", NULL, 0);
}

int main(void)
{
	kino_http_config_t http_cfg = {.host = "127.0.0.1", .port = 0, .max_body = 65536, .workers = 4};
	kino_db_config_t dbcfg = {.timeout_ms = 5000};
	kino_http_route_t routes[16];
	kino_ingest_rung_t rung = {.short_side = 240, .bitrate_kbps = 300};
	kino_ingest_options_t opts;
	kino_ingest_result_t *result = NULL;
	kino_error_t err = {0};
	kino_playback_keyring_t *keys;
	kino_protection_t *prot;
	kino_origin_t *origin;
	kino_http_server_t *srv;
	tenv_db_t db;
	char dir[512], media_root[700], prefix[64], tok[KINO_PLAYBACK_TOKEN_MAX];
	char e_mpd[2048], e_hls[2048], e_stop[256], script[600], *out = NULL, *errout = NULL;
	const char *asset;
	size_t n = 0;
	int port, rc;

	CHECK_MSG(access("/usr/bin/chromium", X_OK) == 0,
		  "/usr/bin/chromium is missing: apt-get install -y chromium");
	CHECK_MSG(access(KINO_SOURCE_DIR "/web/node_modules/playwright-core", F_OK) == 0 &&
			  access(KINO_SOURCE_DIR "/web/node_modules/dashjs", F_OK) == 0 &&
			  access(KINO_SOURCE_DIR "/web/node_modules/hls.js", F_OK) == 0,
		  "web/node_modules is missing: run `cd web && npm ci` (scripts/setup does)");
	kino_db_global_init();
	kino_http_global_init();
	kino_ingest_global_init();
	tenv_tmpdir(dir, sizeof(dir), "protection-browser");
	snprintf(media_root, sizeof(media_root), "%s/media", dir);

	kino_ingest_options_init(&opts);
	opts.input = KINO_SHARED_DIR "/media/bbb-480p-30s.mp4";
	opts.title = "Protected Bunny";
	opts.media_root = media_root;
	opts.ladder = &rung;
	opts.ladder_len = 1;
	opts.segment_seconds = 2;
	opts.threads = 2;
	opts.max_seconds = 8;
	opts.protect = true;
	opts.master_key = MASTER;
	CHECK_MSG(kino_ingest_run(&opts, &result, &err) == 0, "ingest: %s", err.message);
	asset = kino_ingest_result_asset_id(result);

	tenv_db_start(&db);
	snprintf(dbcfg.uri, sizeof(dbcfg.uri), "%s", db.uri);
	snprintf(dbcfg.database, sizeof(dbcfg.database), "kino");
	kdb = kino_db_new(&dbcfg, &err);
	CHECK_MSG(kdb != NULL, "%s", err.message);
	CHECK_MSG(kino_db_wait_ready(kdb, 20000, &err) == 0, "%s", err.message);
	keys = kino_playback_keyring_new("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", &err);
	CHECK(keys != NULL);
	prot = kino_protection_new(kdb, keys, media_root, MASTER, &err);
	CHECK_MSG(prot != NULL, "%s", err.message);
	origin = kino_origin_new(media_root, keys, &err);
	CHECK(origin != NULL);
	routes[n++] = (kino_http_route_t){.method = "POST", .pattern = "/__test/stop",
					  .handler = stop_route, .mode = KINO_HTTP_BLOCKING};
	n += kino_protection_routes(prot, routes + n, 16 - n);
	n += kino_origin_routes(origin, routes + n, 16 - n);
	srv = kino_http_server_new(&http_cfg, "test", routes, n, &err);
	CHECK_MSG(srv != NULL, "%s", err.message);
	CHECK(kino_http_server_start(srv, &err) == 0);
	port = kino_http_server_port(srv);

	/* A live session for the asset, as core opens one for an entitled
	 * viewer; its signed URLs, as POST /api/v1/playback answers them. */
	{
		mongoc_client_t *client = kino_db_client_pop(kdb);
		mongoc_collection_t *coll =
			mongoc_client_get_collection(client, "kino", "playback_sessions");
		bson_t *doc = BCON_NEW("_id", BCON_UTF8(SESSION), "asset_id", BCON_UTF8(asset),
				       "title_id", BCON_UTF8("t1"), "ended", BCON_BOOL(false));
		bson_error_t berr;
		CHECK_MSG(mongoc_collection_insert_one(coll, doc, NULL, NULL, &berr), "%s",
			  berr.message);
		bson_destroy(doc);
		mongoc_collection_destroy(coll);
		kino_db_client_push(kdb, client);
	}
	session_set(false);
	snprintf(prefix, sizeof(prefix), "%s/", asset);
	CHECK_INT_EQ(kino_playback_token_sign(keys, prefix, SESSION, time(NULL) + 3600, tok,
					      sizeof(tok), &err), 0);
	snprintf(e_mpd, sizeof(e_mpd), "KINO_MPD=http://127.0.0.1:%d/media/%s/%s/manifest.mpd",
		 port, tok, asset);
	snprintf(e_hls, sizeof(e_hls), "KINO_HLS=http://127.0.0.1:%d/media/%s/%s/master.m3u8",
		 port, tok, asset);
	snprintf(e_stop, sizeof(e_stop), "KINO_STOP_URL=http://127.0.0.1:%d/__test/stop", port);
	snprintf(script, sizeof(script), "%s/tests/core/protection_browser.mjs", KINO_SOURCE_DIR);
	rc = tenv_run(dir, (char *[]){"/usr/bin/env", "node", script, NULL},
		      (char *[]){e_mpd, e_hls, e_stop, NULL}, 240000, &out, &errout);
	printf("%s", out ? out : "");
	fprintf(stderr, "%s", errout ? errout : "");
	CHECK_MSG(rc == 0, "protection_browser.mjs failed (exit %d)", rc);
	free(out);
	free(errout);

	kino_http_server_destroy(srv);
	kino_origin_destroy(origin);
	kino_protection_destroy(prot);
	kino_playback_keyring_destroy(keys);
	kino_db_destroy(kdb);
	tenv_db_stop(&db);
	kino_ingest_result_destroy(&result);
	tenv_rmtree(dir);
	kino_db_global_cleanup();
	return 0;
}
