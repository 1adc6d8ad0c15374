/* The QoE SDK (web/src/sdk/) in a real browser, against the real collector
 * (label browser).
 *
 * The driver sets the stage and hands over to tests/browser/qoe_sdk.mjs: a
 * FerretDB of the test's own; a 20 s clip made here with ffmpeg's test
 * sources and ingested with `kino ingest` (two renditions); `kino serve` on a
 * free port serving the web apps built into the build directory (so the page
 * loads the SDK as third parties would, from /assets/kino-qoe.js); an admin
 * made with `kino user add`. The script starts `kino telemetry` itself,
 * because it SIGKILLs and restarts it in the middle of a session.
 *
 * What the script reads of MongoDB it asks the driver for: GET
 * /__test/beacons/{session_id} on a small server here answers every stored
 * beacon of the session as [{"seq":n,"event":".."},...] in seq order,
 * duplicates included (so "exactly once" is checked, not assumed). */
#include "check.h"
#include "testenv.h"

#include "kino/db.h"
#include "kino/error.h"
#include "kino/http.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIN_EMAIL "admin@kino.test"
#define ADMIN_PASSWORD "admin pass 123"

static kino_db_t *kdb;
/* kino serve, killed at exit on every path: a failed CHECK exits at once, and a server
 * left behind would hold its port and data long after the test. */
static tenv_proc_t serve;

static void serve_kill(void)
{
	if (serve.pid > 0)
		tenv_proc_kill(&serve);
}

/* GET /__test/beacons/{session_id}: the stored beacons of a session. Blocking. */
static void beacons_route(kino_http_request_t *req, void *userdata)
{
	const char *sid = kino_http_request_param(req, "session_id");
	mongoc_client_t *client = kino_db_client_pop(kdb);
	mongoc_collection_t *coll = mongoc_client_get_collection(client, "kino", "beacons");
	bson_t *filter = BCON_NEW("session_id", BCON_UTF8(sid ? sid : ""));
	bson_t *opts = BCON_NEW("projection", "{", "seq", BCON_INT32(1), "event", BCON_INT32(1),
				"_id", BCON_INT32(0), "}", "sort", "{", "seq", BCON_INT32(1), "}");
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	const bson_t *doc;
	bson_error_t berr;
	bson_iter_t it;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);

	(void)userdata;
	CHECK(out != NULL);
	len += (size_t)snprintf(out, cap, "[");
	while (mongoc_cursor_next(cur, &doc)) {
		int64_t seq = -1;
		const char *event = "";

		if (bson_iter_init_find(&it, doc, "seq") && BSON_ITER_HOLDS_NUMBER(&it))
			seq = bson_iter_as_int64(&it);
		if (bson_iter_init_find(&it, doc, "event") && BSON_ITER_HOLDS_UTF8(&it))
			event = bson_iter_utf8(&it, NULL);
		if (cap - len < 128) {
			cap *= 2;
			out = realloc(out, cap);
			CHECK(out != NULL);
		}
		/* events are validated names ([a-z_]), nothing to escape */
		len += (size_t)snprintf(out + len, cap - len, "%s{\"seq\":%lld,\"event\":\"%.40s\"}",
					len > 1 ? "," : "", (long long)seq, event);
	}
	if (mongoc_cursor_error(cur, &berr)) {
		kino_http_respond_error(req, KINO_EDB, berr.message);
	} else {
		snprintf(out + len, cap - len, "]");
		kino_http_respond_json(req, 200, out);
	}
	free(out);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(kdb, client);
}

static void make_clip(const char *dir, const char *path)
{
	char *out = NULL, *err = NULL;
	int rc = tenv_run(dir,
			  (char *[]){"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-y",
				     "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
				     "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
				     "-t", "20", "-c:v", "libx264", "-pix_fmt", "yuv420p",
				     "-c:a", "aac", (char *)path, NULL},
			  NULL, 120000, &out, &err);

	CHECK_MSG(rc == 0, "ffmpeg could not make the test clip (%d):\n%s", rc, err);
	free(out);
	free(err);
}

int main(void)
{
	kino_http_config_t http_cfg = {.host = "127.0.0.1", .port = 0, .max_body = 4096, .workers = 2};
	kino_db_config_t dbcfg = {.timeout_ms = 5000};
	kino_http_route_t route = {.method = "GET", .pattern = "/__test/beacons/{session_id}",
				   .handler = beacons_route, .mode = KINO_HTTP_BLOCKING};
	kino_http_server_t *srv;
	kino_error_t err = {0};
	tenv_db_t db;
	char dir[512], data[700], clip[700], asset_id[80], url[128], script[700];
	char env_uri[200], env_data[800], env_http[64], env_dist[700];
	char e_base[96], e_db[96], e_asset[128], e_bin[700], e_uri[220], e_data[800], e_node[700],
		e_only[64];
	char *out = NULL, *errout = NULL;
	bool ok;
	int port, rc;

	CHECK_MSG(access("/usr/bin/chromium", X_OK) == 0,
		  "/usr/bin/chromium is missing: apt-get install -y chromium (scripts/setup does)");
	CHECK_MSG(access(KINO_SOURCE_DIR "/web/node_modules/playwright-core", F_OK) == 0 &&
			  access(KINO_SOURCE_DIR "/web/node_modules/hls.js", F_OK) == 0,
		  "web/node_modules is missing: run `cd web && npm ci` (scripts/setup does)");
	kino_db_global_init();
	kino_http_global_init();

	/* The apps, with the SDK's standalone bundle, built where this test serves them. */
	rc = tenv_run(KINO_SOURCE_DIR "/web",
		      (char *[]){"/usr/bin/env", "node", KINO_SOURCE_DIR "/web/build.mjs", "--outdir",
				 KINO_QOE_BUILD_DIST, NULL},
		      NULL, 120000, &out, &errout);
	CHECK_MSG(rc == 0, "building the web apps failed (%d):\n%s%s", rc, out, errout);
	free(out);
	free(errout);
	CHECK_MSG(access(KINO_QOE_BUILD_DIST "/assets/kino-qoe.js", F_OK) == 0,
		  "web/build.mjs did not emit assets/kino-qoe.js");

	tenv_tmpdir(dir, sizeof(dir), "qoe-sdk");
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(clip, sizeof(clip), "%s/clip.mp4", dir);
	make_clip(dir, clip);
	tenv_db_start(&db);
	port = tenv_free_port();
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s", data);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", port);
	snprintf(env_dist, sizeof(env_dist), "KINO_WEB_DIST=%s", KINO_QOE_BUILD_DIST);
	char *env[] = {env_uri, env_data, env_http, env_dist, NULL};

	rc = tenv_run(dir, (char *[]){KINO_BIN, "ingest", clip, "--title", "QoE clip", "--json",
				     "--ladder", "360:700,180:250", "--segment-seconds", "2", NULL},
		      env, 180000, &out, &errout);
	CHECK_MSG(rc == 0, "kino ingest failed (%d):\n%s", rc, errout);
	CHECK_MSG(tenv_json_str(out, "asset_id", asset_id, sizeof(asset_id)) != NULL, "no asset_id in: %s",
		  out);
	free(out);
	free(errout);
	rc = tenv_run(dir, (char *[]){"/bin/sh", "-c",
				      "printf '" ADMIN_PASSWORD "\\n' | \"$0\" user add --email " ADMIN_EMAIL " --role admin",
				      KINO_BIN, NULL},
		      env, 30000, &out, &errout);
	CHECK_MSG(rc == 0, "kino user add failed:\n%s", errout);
	free(out);
	free(errout);

	tenv_proc_spawn(&serve, dir, (char *[]){KINO_BIN, "serve", NULL}, env);
	atexit(serve_kill);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	TENV_WAIT_UNTIL(ok, tenv_http_get(url, NULL) == 200, 20000);
	CHECK_MSG(ok, "kino serve did not become healthy");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/assets/kino-qoe.js", port);
	CHECK_MSG(tenv_http_get(url, NULL) == 200, "kino serve does not serve /assets/kino-qoe.js");

	snprintf(dbcfg.uri, sizeof(dbcfg.uri), "%s", db.uri);
	snprintf(dbcfg.database, sizeof(dbcfg.database), "kino");
	kdb = kino_db_new(&dbcfg, &err);
	CHECK_MSG(kdb != NULL, "%s", err.message);
	CHECK_MSG(kino_db_wait_ready(kdb, 20000, &err) == 0, "%s", err.message);
	srv = kino_http_server_new(&http_cfg, "test", &route, 1, &err);
	CHECK_MSG(srv != NULL && kino_http_server_start(srv, &err) == 0, "%s", err.message);

	snprintf(e_base, sizeof(e_base), "KINO_BASE=http://127.0.0.1:%d", port);
	snprintf(e_db, sizeof(e_db), "KINO_DB_PEEK=http://127.0.0.1:%d/__test/beacons/",
		 kino_http_server_port(srv));
	snprintf(e_asset, sizeof(e_asset), "KINO_ASSET_ID=%s", asset_id);
	snprintf(e_bin, sizeof(e_bin), "KINO_BIN=%s", KINO_BIN);
	snprintf(e_uri, sizeof(e_uri), "KINO_TEST_MONGO_URI=%s", db.uri);
	snprintf(e_data, sizeof(e_data), "KINO_TEST_DATA_DIR=%s", data);
	snprintf(e_node, sizeof(e_node), "KINO_WORKDIR=%s", dir);
	/* KINO_QOE_ONLY=unit|play|down|unload runs one scenario, when debugging. */
	snprintf(e_only, sizeof(e_only), "KINO_QOE_ONLY=%.40s",
		 getenv("KINO_QOE_ONLY") ? getenv("KINO_QOE_ONLY") : "");
	snprintf(script, sizeof(script), "%s/tests/browser/qoe_sdk.mjs", KINO_SOURCE_DIR);
	rc = tenv_run(dir, (char *[]){"/usr/bin/env", "node", script, NULL},
		      (char *[]){e_base, e_db, e_asset, e_bin, e_uri, e_data, e_node, e_only,
				 "KINO_ADMIN_EMAIL=" ADMIN_EMAIL, "KINO_ADMIN_PASSWORD=" ADMIN_PASSWORD, NULL},
		      360000, &out, &errout);
	printf("%s", out ? out : "");
	fprintf(stderr, "%s", errout ? errout : "");
	if (rc != 0) {
		char *log = tenv_proc_stderr(&serve);
		size_t len = log ? strlen(log) : 0;

		fprintf(stderr, "kino serve: the end of its log:\n%s\n",
			log ? log + (len > 3000 ? len - 3000 : 0) : "");
		free(log);
	}
	CHECK_MSG(rc == 0, "qoe_sdk.mjs failed (exit %d)", rc);
	free(out);
	free(errout);

	kino_http_server_destroy(srv);
	kino_db_destroy(kdb);
	serve_kill();
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	kino_db_global_cleanup();
	return 0;
}
