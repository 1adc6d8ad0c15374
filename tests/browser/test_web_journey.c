/* The end-to-end journey in a real browser (label browser).
 *
 * The driver sets the stage, then hands over to tests/browser/journey.mjs, which drives
 * Debian's chromium with playwright-core: a FerretDB of the test's own, `kino serve` on
 * a free port with a temporary data_dir, the apps built from web/ into the build
 * directory, an admin account made with `kino user add`, and the asset: uploaded through
 * the admin console when the server has the tus routes (then a `kino worker` runs the
 * job), else ingested here with `kino ingest --json` and attached by its id.
 *
 * Where the apps come from: when `kino serve --print-routes` lists the web routes, kino
 * serve itself serves them (KINO_WEB_DIST). Until then the driver serves them with
 * kino_web on an in-process server and journey.mjs puts a small proxy in front of both,
 * so the browser still sees one origin. Screenshots go to KINO_WEB_ARTIFACTS. */
#include "check.h"
#include "testenv.h"

#include "kino/auth.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/health.h"
#include "kino/http.h"
#include "kino/metrics.h"
#include "kino/telemetry.h"
#include "kino/web.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADMIN_EMAIL "admin@kino.test"
#define ADMIN_PASSWORD "admin pass 123"

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* What the driver runs in-process while the kino binary lacks it: the telemetry
 * collector (`kino telemetry` without the beacon endpoint) and the report routes (a
 * `kino serve` without the report routes). The same library code the binary will
 * run once they are wired. */
typedef struct stand_in {
	kino_config_t cfg;
	kino_db_t *db;
	kino_health_t health;
	kino_metrics_t metrics;
	kino_telemetry_t *telemetry;
	kino_auth_t *auth;
	kino_reports_t reports;
} stand_in_t;

static void stand_in_open(stand_in_t *s, const char *uri, const char *data_dir)
{
	kino_error_t err = {0};

	kino_config_defaults(&s->cfg);
	CHECK_MSG(kino_config_set(&s->cfg, "mongo.uri", uri, "web_journey", &err) == 0 &&
			  kino_config_set(&s->cfg, "data_dir", data_dir, "web_journey", &err) == 0,
		  "config: %s", err.message);
	s->db = kino_db_new(&s->cfg.db, &err);
	CHECK_MSG(s->db != NULL, "db: %s", err.message);
	CHECK_MSG(kino_db_monitor_start(s->db, &err) == 0, "db monitor: %s", err.message);
	kino_health_init(&s->health, s->db, "telemetry");
	kino_metrics_init(&s->metrics, s->db);
}

static int stand_in_telemetry(stand_in_t *s)
{
	kino_error_t err = {0};
	char listen[64];
	int port = tenv_free_port();

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	CHECK_MSG(kino_config_set(&s->cfg, "telemetry.listen", listen, "web_journey", &err) == 0, "%s", err.message);
	s->telemetry = kino_telemetry_new(&s->cfg, s->db, &s->health, &s->metrics, NULL, &err);
	CHECK_MSG(s->telemetry != NULL && kino_telemetry_start(s->telemetry, &err) == 0,
		  "in-process telemetry: %s", err.message);
	return port;
}

static size_t stand_in_reports(stand_in_t *s, kino_http_route_t *out, size_t max)
{
	kino_error_t err = {0};

	s->auth = kino_auth_new(s->db, &s->cfg.auth, &err);
	CHECK_MSG(s->auth != NULL, "auth: %s", err.message);
	kino_reports_init(&s->reports, s->db, s->auth);
	return kino_reports_routes(&s->reports, out, max);
}

static void stand_in_close(stand_in_t *s)
{
	kino_telemetry_destroy(s->telemetry);
	kino_auth_destroy(s->auth);
	kino_db_destroy(s->db);
}

static void build_web(void)
{
	char modules[700], script[700], *out = NULL, *err = NULL;
	int rc;

	snprintf(modules, sizeof(modules), "%s/web/node_modules/esbuild", KINO_SOURCE_DIR);
	CHECK_MSG(file_exists(modules),
		  "web/node_modules is missing: run `cd web && npm ci` (scripts/setup does)");
	snprintf(script, sizeof(script), "%s/web/build.mjs", KINO_SOURCE_DIR);
	rc = tenv_run(KINO_SOURCE_DIR "/web",
		      (char *[]){"/usr/bin/env", "node", script, "--outdir", KINO_WEB_BUILD_DIST, NULL}, NULL,
		      120000, &out, &err);
	CHECK_MSG(rc == 0, "building the web apps failed (%d):\n%s%s", rc, out, err);
	free(out);
	free(err);
}

int main(void)
{
	char dir[512], data[700], sub[700], env_uri[200], env_data[800], env_http[64],
		env_dist[700], url[128], clip[700], asset_id[80] = "";
	char e_base[128], e_api[128], e_web[128], e_mode[64], e_asset[128], e_clip[800],
		e_art[800], e_src[800];
	char *out = NULL, *err = NULL, *body = NULL;
	kino_http_config_t wcfg = {.host = "127.0.0.1", .port = 0, .max_body = 4096, .workers = 1};
	kino_http_route_t routes[KINO_WEB_ROUTES_MAX + 8];
	stand_in_t stand = {0};
	bool reports_in_process = false;
	tenv_proc_t serve = {0}, worker = {0}, telemetry = {0};
	kino_http_server_t *websrv = NULL;
	kino_web_t *web = NULL;
	kino_error_t kerr = {0};
	bool ok, kino_serves_web, uploads, reports, beacons;
	char env_tel[64], e_tel[128], e_reports[32], e_beacons[32];
	int tel_port;
	tenv_db_t db;
	int port, rc;

	CHECK_MSG(file_exists("/usr/bin/chromium"),
		  "/usr/bin/chromium is missing: apt-get install -y chromium (scripts/setup does)");
	snprintf(clip, sizeof(clip), "%s/media/bbb-480p-30s.mp4", KINO_SHARED_DIR);
	CHECK_MSG(file_exists(clip), "the test clip %s is missing", clip);
	build_web();

	tenv_tmpdir(dir, sizeof(dir), "web-journey");
	snprintf(data, sizeof(data), "%s/data", dir);
	tenv_db_start(&db);
	port = tenv_free_port();
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s", data);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", port);
	snprintf(env_dist, sizeof(env_dist), "KINO_WEB_DIST=%s", KINO_WEB_BUILD_DIST);
	char *env[] = {env_uri, env_data, env_http, NULL, NULL};

	/* Where kino serve finds the apps: the web.dist setting, once the configuration has
	 * it (KINO_* variables that are not settings are refused). */
	rc = tenv_run(dir, (char *[]){KINO_BIN, "config", NULL}, env, 30000, &out, &err);
	CHECK_MSG(rc == 0, "kino config failed:\n%s", err);
	if (strstr(out, "web.dist") != NULL)
		env[3] = env_dist;
	free(out);
	free(err);

	/* What this kino serve has: the web routes? the tus routes? */
	rc = tenv_run(dir, (char *[]){KINO_BIN, "serve", "--print-routes", NULL}, env, 30000, &out, &err);
	CHECK_MSG(rc == 0, "kino serve --print-routes failed:\n%s", err);
	kino_serves_web = strstr(out, "GET /assets/*") != NULL;
	uploads = strstr(out, "/api/v1/uploads") != NULL && strstr(out, "/api/v1/jobs/{id}") != NULL;
	reports = strstr(out, "/api/v1/reports/engagement") != NULL;
	free(out);
	free(err);
	fprintf(stderr, "web_journey: the apps are served by %s; the asset is %s; reports API: %s\n",
		kino_serves_web ? "kino serve" : "kino_web in the driver, behind journey.mjs's proxy",
		uploads ? "uploaded through the admin console (tus)" : "ingested with `kino ingest`",
		reports ? "yes" : "not wired yet");

	tenv_proc_spawn(&serve, dir, (char *[]){KINO_BIN, "serve", NULL}, env);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	TENV_WAIT_UNTIL(ok, tenv_http_get(url, NULL) == 200, 20000);
	CHECK_MSG(ok, "kino serve did not become healthy");

	/* The telemetry collector, for the player's QoE beacons (it verifies their
	 * playback tokens with the key that kino serve made in the same data_dir). */
	tel_port = tenv_free_port();
	snprintf(env_tel, sizeof(env_tel), "KINO_TELEMETRY_LISTEN=127.0.0.1:%d", tel_port);
	char *tenv_env[] = {env_uri, env_data, env_tel, NULL};
	tenv_proc_spawn(&telemetry, dir, (char *[]){KINO_BIN, "telemetry", NULL}, tenv_env);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", tel_port);
	TENV_WAIT_UNTIL(ok, tenv_http_get(url, NULL) == 200, 20000);
	CHECK_MSG(ok, "kino telemetry did not become healthy");
	/* Does it take beacons yet (POST /v1/beacons; an empty batch is a 400)? If not,
	 * the collector runs in-process instead. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/beacons", tel_port);
	beacons = tenv_http("POST", url, "[]", NULL) != 404;
	stand_in_open(&stand, db.uri, data);
	if (!beacons) {
		tel_port = stand_in_telemetry(&stand);
		beacons = true;
		fprintf(stderr, "web_journey: `kino telemetry` has no /v1/beacons yet: the collector runs in-process\n");
	}

	/* An asset ingested here, with subtitles: the title of an upload-less run, and in
	 * every run the subtitled and the premium titles. */
	if (uploads)
		tenv_proc_spawn(&worker, dir, (char *[]){KINO_BIN, "worker", NULL}, env);
	{
		FILE *f;

		snprintf(sub, sizeof(sub), "%s/bunny.en.vtt", dir);
		f = fopen(sub, "w");
		CHECK(f != NULL);
		fputs("WEBVTT\n\n00:00:00.500 --> 00:00:29.500\nKino test subtitles\n", f);
		fclose(f);
		snprintf(e_src, sizeof(e_src), "%s:en", sub);
		rc = tenv_run(dir, (char *[]){KINO_BIN, "ingest", clip, "--title", "Big Buck Bunny",
					     "--json", "--ladder", "360:800,240:400",
					     "--subtitle", e_src, NULL},
			      env, 180000, &out, &err);
		CHECK_MSG(rc == 0, "kino ingest failed (%d):\n%s", rc, err);
		CHECK_MSG(tenv_json_str(out, "asset_id", asset_id, sizeof(asset_id)) != NULL,
			  "no asset_id in: %s", out);
		free(out);
		free(err);
	}

	rc = tenv_run(dir, (char *[]){"/bin/sh", "-c",
				      "printf '" ADMIN_PASSWORD "\\n' | \"$0\" user add --email " ADMIN_EMAIL " --role admin",
				      KINO_BIN, NULL},
		      env, 30000, &out, &err);
	CHECK_MSG(rc == 0, "kino user add failed:\n%s", err);
	free(out);
	free(err);

	snprintf(e_api, sizeof(e_api), "KINO_API_UPSTREAM=http://127.0.0.1:%d", port);
	if (kino_serves_web) {
		snprintf(e_base, sizeof(e_base), "KINO_BASE=http://127.0.0.1:%d", port);
		snprintf(e_web, sizeof(e_web), "KINO_WEB_UPSTREAM=");
	} else {
		web = kino_web_new(KINO_WEB_BUILD_DIST, &kerr);
		CHECK_MSG(web != NULL, "kino_web_new: %s", kerr.message);
		size_t n = kino_web_routes(web, routes, KINO_WEB_ROUTES_MAX);
		if (!reports) {
			n += stand_in_reports(&stand, routes + n, 8);
			reports = reports_in_process = true;
			fprintf(stderr, "web_journey: `kino serve` has no /api/v1/reports yet: they run in-process\n");
		}
		kino_http_global_init();
		websrv = kino_http_server_new(&wcfg, "web", routes, n, &kerr);
		CHECK_MSG(websrv != NULL && kino_http_server_start(websrv, &kerr) == 0,
			  "web server: %s", kerr.message);
		snprintf(e_web, sizeof(e_web), "KINO_WEB_UPSTREAM=http://127.0.0.1:%d",
			 kino_http_server_port(websrv));
		snprintf(e_base, sizeof(e_base), "KINO_BASE=http://127.0.0.1:%d", tenv_free_port());
	}
	snprintf(e_mode, sizeof(e_mode), "KINO_ASSET_MODE=%s", uploads ? "upload" : "attach");
	snprintf(e_asset, sizeof(e_asset), "KINO_ASSET_ID=%s", asset_id);
	snprintf(e_clip, sizeof(e_clip), "KINO_CLIP=%s", clip);
	snprintf(e_art, sizeof(e_art), "KINO_ARTIFACTS=%s", KINO_WEB_ARTIFACTS);
	snprintf(e_src, sizeof(e_src), "NODE_PATH=%s/web/node_modules", KINO_SOURCE_DIR);
	snprintf(e_tel, sizeof(e_tel), "KINO_TELEMETRY_WS=ws://127.0.0.1:%d/v1/beacons", tel_port);
	snprintf(e_reports, sizeof(e_reports), "KINO_REPORTS=%d", reports ? 1 : 0);
	snprintf(e_beacons, sizeof(e_beacons), "KINO_BEACONS=%d", beacons ? 1 : 0);
	char *jenv[] = {e_base, e_api, e_web, e_mode, e_asset, e_clip, e_art, e_src, e_tel, e_reports, e_beacons,
			reports_in_process ? "KINO_REPORTS_UPSTREAM=web" : "KINO_REPORTS_UPSTREAM=api",
			"KINO_ADMIN_EMAIL=" ADMIN_EMAIL, "KINO_ADMIN_PASSWORD=" ADMIN_PASSWORD, NULL};
	char script[700];
	snprintf(script, sizeof(script), "%s/tests/browser/journey.mjs", KINO_SOURCE_DIR);
	rc = tenv_run(dir, (char *[]){"/usr/bin/env", "node", script, NULL}, jenv, 360000, &out, &err);
	fprintf(stderr, "%s%s", out ? out : "", err ? err : "");
	if (rc != 0) {
		char *log = tenv_proc_stderr(&serve);
		size_t len = log ? strlen(log) : 0;

		fprintf(stderr, "kino serve %s; the end of its log:\n%s\n",
			tenv_proc_wait(&serve, 0) ? "has exited" : "is still running",
			log ? log + (len > 3000 ? len - 3000 : 0) : "");
		free(log);
		log = tenv_proc_stderr(&telemetry);
		len = log ? strlen(log) : 0;
		fprintf(stderr, "kino telemetry %s; the end of its log:\n%s\n",
			tenv_proc_wait(&telemetry, 0) ? "has exited" : "is still running",
			log ? log + (len > 3000 ? len - 3000 : 0) : "");
		free(log);
	}
	CHECK_MSG(rc == 0, "the browser journey failed (exit %d); screenshots in %s", rc,
		  KINO_WEB_ARTIFACTS);
	fprintf(stderr, "web_journey: screenshots in %s\n", KINO_WEB_ARTIFACTS);
	free(out);
	free(err);
	free(body);

	kino_http_server_destroy(websrv);
	kino_web_destroy(web);
	stand_in_close(&stand);
	if (uploads)
		tenv_proc_kill(&worker);
	tenv_proc_kill(&telemetry);
	tenv_proc_kill(&serve);
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	return 0;
}
