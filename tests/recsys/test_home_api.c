/* The home screen over HTTP, on an in-process server (accounts, catalog and
 * the home service) and a FerretDB of the test's own, with plays written
 * into `plays` the way telemetry writes them:
 *
 * - roles: /api/v1/home needs a session, the recommender's admin routes an
 *   admin;
 * - cold start: no model and no plays gives trending, new releases and
 *   genre rows only, never a draft, an ended or a future title, no title
 *   twice;
 * - training from plays through the admin route, and `kino recsys train
 *   --from-db` / `recommend` on the same database;
 * - a drama fan then gets Continue Watching (their half-watched title, with
 *   its progress), Top Picks led by the dramas they have not seen, a
 *   Because You Watched row, and never a title they finished;
 * - fold-in: a viewer the model does not know watches comedies and at once
 *   gets comedies as top picks, without retraining;
 * - a title published here reaches New Releases within seconds;
 * - a retraining swaps the model under load without a failed request;
 * - a second retraining while one runs is refused 409; a training that
 *   cannot save fails with its reason while the old model keeps serving;
 * - the database stopped (SIGSTOP): answers are 503 within seconds, not a
 *   hang, and everything recovers when the database does. */
#include "check.h"
#include "testenv.h"

#include "kino/auth.h"
#include "kino/catalog.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/home.h"
#include "kino/http.h"
#include "kino/playback.h"
#include "kino/recsys.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ASSET "00aa11bb22cc33dd"
#define NGENRE 16 /* titles per genre */
#define FANS 30  /* synthetic viewers per genre */

static const char *const genres[] = {"Drama", "Comedy", "Documentary"};

static char base[128], data_dir[512], model_path[700];
static kino_config_t cfg;
static kino_db_t *kdb;
static kino_auth_t *auth;
static tenv_db_t db;
static char admin_tok[64], viewer_tok[64], fan_tok[64], cold_tok[64];
static kino_user_t fan, cold;
/* title ids by genre, and their names */
static char ids[3][NGENRE][32];
static char draft_id[32], ended_id[32], future_id[32];

static int64_t now_ms(void)
{
	return (int64_t)time(NULL) * 1000;
}

static int call(const char *method, const char *path, const char *token, const char *body,
		char **resp)
{
	return tenv_api(base, method, path, token, body, resp);
}

static char *expect(int want, const char *method, const char *path, const char *token,
		    const char *body)
{
	return tenv_api_expect(base, want, method, path, token, body);
}

/* Creates (and publishes unless draft) a title; its id into out. */
static void title_add(const char *json, bool publish, char *out)
{
	bson_error_t berr;
	bson_iter_t it;
	bson_t doc;
	char *resp = expect(201, "POST", "/api/v1/admin/titles", admin_tok, json);

	CHECK(bson_init_from_json(&doc, resp, -1, &berr));
	CHECK(bson_iter_init_find(&it, &doc, "id"));
	snprintf(out, 32, "%s", bson_iter_utf8(&it, NULL));
	bson_destroy(&doc);
	free(resp);
	if (publish) {
		char path[200];
		snprintf(path, sizeof(path), "/api/v1/admin/titles/%s/publish", out);
		free(expect(200, "POST", path, admin_tok, NULL));
	}
}

/* One `plays` document as telemetry closes it. */
static void play_insert(const char *viewer, const char *title, double completion_pct,
			int64_t started_at)
{
	static atomic_int seq;
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *coll = mongoc_client_get_collection(cl, "kino", "plays");
	char sid[64];
	bson_error_t berr;
	int64_t duration = 1800000;

	snprintf(sid, sizeof(sid), "test-session-%d", atomic_fetch_add(&seq, 1));
	bson_t *doc = BCON_NEW("_id", BCON_UTF8(sid), "session_id", BCON_UTF8(sid), "title_id",
			       BCON_UTF8(title), "viewer_id", BCON_UTF8(viewer), "device",
			       BCON_UTF8("web-desktop-chrome"), "started_at",
			       BCON_DATE_TIME(started_at), "last_ts",
			       BCON_DATE_TIME(started_at + 60000), "duration_ms",
			       BCON_INT64(duration), "completion_pct", BCON_DOUBLE(completion_pct),
			       "furthest_ms", BCON_INT64((int64_t)(completion_pct / 100 * duration)),
			       "watch_ms", BCON_INT64((int64_t)(completion_pct / 100 * duration)),
			       "completed", BCON_BOOL(completion_pct >= 95), "closed",
			       BCON_BOOL(true), "updated_at", BCON_DATE_TIME(now_ms()));
	CHECK_MSG(mongoc_collection_insert_one(coll, doc, NULL, NULL, &berr), "%s", berr.message);
	bson_destroy(doc);
	mongoc_collection_destroy(coll);
	kino_db_client_push(kdb, cl);
}

/* ---- reading answers ---- */

typedef struct row {
	char type[32];
	char title[200];
	char reason[200];
	char items[40][32];
	double progress[40];
	size_t n;
} row_t;

typedef struct home {
	row_t rows[16];
	size_t n;
	bool personalized, fold_in, degraded;
} home_t;

static bool json_bool(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	CHECK_MSG(bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_BOOL(&it), "no %s", key);
	return bson_iter_bool(&it);
}

static void home_parse(const char *json, home_t *h)
{
	bson_error_t berr;
	bson_iter_t it, rows, row, items, item, f;
	bson_t doc;

	memset(h, 0, sizeof(*h));
	CHECK_MSG(bson_init_from_json(&doc, json, -1, &berr), "not JSON: %.300s", json);
	h->personalized = json_bool(&doc, "personalized");
	h->fold_in = json_bool(&doc, "fold_in");
	h->degraded = json_bool(&doc, "degraded");
	CHECK(bson_iter_init_find(&it, &doc, "rows") && bson_iter_recurse(&it, &rows));
	while (bson_iter_next(&rows)) {
		row_t *r = &h->rows[h->n++];
		CHECK(h->n <= 16 && bson_iter_recurse(&rows, &row));
		while (bson_iter_next(&row)) {
			const char *k = bson_iter_key(&row);
			if (strcmp(k, "type") == 0)
				snprintf(r->type, sizeof(r->type), "%s", bson_iter_utf8(&row, NULL));
			else if (strcmp(k, "title") == 0)
				snprintf(r->title, sizeof(r->title), "%s", bson_iter_utf8(&row, NULL));
			else if (strcmp(k, "reason") == 0)
				snprintf(r->reason, sizeof(r->reason), "%s", bson_iter_utf8(&row, NULL));
			else if (strcmp(k, "items") == 0) {
				CHECK(bson_iter_recurse(&row, &items));
				while (bson_iter_next(&items)) {
					CHECK(r->n < 40 && bson_iter_recurse(&items, &item));
					r->progress[r->n] = -1;
					while (bson_iter_next(&item)) {
						if (strcmp(bson_iter_key(&item), "id") == 0)
							snprintf(r->items[r->n], 32, "%s",
								 bson_iter_utf8(&item, NULL));
						else if (strcmp(bson_iter_key(&item), "progress") == 0)
							r->progress[r->n] = bson_iter_as_double(&item);
					}
					(void)f;
					r->n++;
				}
			}
		}
		CHECK_MSG(r->type[0] && r->title[0] && r->reason[0] && r->n > 0,
			  "row %zu lacks a type, title, reason or items", h->n - 1);
	}
	bson_destroy(&doc);
}

static void home_get(const char *token, home_t *h)
{
	char *resp = expect(200, "GET", "/api/v1/home", token, NULL);

	home_parse(resp, h);
	free(resp);
}

static const row_t *row_of(const home_t *h, const char *type)
{
	for (size_t r = 0; r < h->n; r++)
		if (strcmp(h->rows[r].type, type) == 0)
			return &h->rows[r];
	return NULL;
}

static bool shows(const home_t *h, const char *id)
{
	for (size_t r = 0; r < h->n; r++)
		for (size_t i = 0; i < h->rows[r].n; i++)
			if (strcmp(h->rows[r].items[i], id) == 0)
				return true;
	return false;
}

static int genre_of(const char *id)
{
	for (int g = 0; g < 3; g++)
		for (int t = 0; t < NGENRE; t++)
			if (strcmp(ids[g][t], id) == 0)
				return g;
	return -1;
}

/* The rules that hold for every screen. */
static void check_rules(const home_t *h)
{
	CHECK(h->n > 0);
	for (size_t r = 0; r < h->n; r++)
		for (size_t i = 0; i < h->rows[r].n; i++) {
			const char *id = h->rows[r].items[i];
			CHECK_MSG(strcmp(id, draft_id) != 0 && strcmp(id, ended_id) != 0 &&
					  strcmp(id, future_id) != 0,
				  "row %s shows a title viewers may not see", h->rows[r].title);
			for (size_t r2 = 0; r2 <= r; r2++)
				for (size_t j = 0; j < (r2 == r ? i : h->rows[r2].n); j++)
					CHECK_MSG(strcmp(id, h->rows[r2].items[j]) != 0,
						  "%s appears twice (%s, %s)", id, h->rows[r2].title,
						  h->rows[r].title);
		}
}

static void status_wait_idle(void)
{
	bool ok = false;

	for (int i = 0; i < 600 && !ok; i++) {
		char *resp = expect(200, "GET", "/api/v1/admin/recsys", admin_tok, NULL);
		ok = strstr(resp, "\"state\":\"running\"") == NULL;
		free(resp);
		if (!ok)
			tenv_sleep_ms(100);
	}
	CHECK_MSG(ok, "the training did not finish within a minute");
}

/* ---- the tests ---- */

static void test_roles(void)
{
	free(expect(401, "GET", "/api/v1/home", NULL, NULL));
	free(expect(401, "GET", "/api/v1/admin/recsys", NULL, NULL));
	free(expect(403, "GET", "/api/v1/admin/recsys", viewer_tok, NULL));
	free(expect(403, "POST", "/api/v1/admin/recsys/retrain", viewer_tok, NULL));
	free(expect(401, "POST", "/api/v1/admin/recsys/retrain", "not-a-token", NULL));
}

static void test_cold_start(void)
{
	home_t h;
	char *resp = expect(200, "GET", "/api/v1/admin/recsys", admin_tok, NULL);

	CHECK_CONTAINS(resp, "\"model\":null");
	CHECK_CONTAINS(resp, "\"state\":\"idle\"");
	free(resp);
	home_get(cold_tok, &h);
	check_rules(&h);
	CHECK(!h.personalized && !h.fold_in && !h.degraded);
	CHECK(row_of(&h, "continue_watching") == NULL);
	CHECK(row_of(&h, "top_picks") == NULL);
	CHECK(row_of(&h, "because_you_watched") == NULL);
	CHECK_STR_EQ(h.rows[0].type, "trending");
	CHECK(row_of(&h, "new_releases") != NULL);
	/* every published title is somewhere on a cold screen this small (the
	 * two rows hold them all, so no genre row is left: see the unit test) */
	for (int g = 0; g < 3; g++)
		for (int t = 0; t < NGENRE; t++)
			CHECK_MSG(shows(&h, ids[g][t]), "%s %d is not on the screen", genres[g], t);
}

static void test_train_and_personalize(void)
{
	home_t h;
	char *resp;

	resp = expect(202, "POST", "/api/v1/admin/recsys/retrain", admin_tok, NULL);
	CHECK_CONTAINS(resp, "\"state\":\"running\"");
	free(resp);
	status_wait_idle();
	resp = expect(200, "GET", "/api/v1/admin/recsys", admin_tok, NULL);
	CHECK_MSG(strstr(resp, "\"model\":{") != NULL && strstr(resp, "\"error\":null") != NULL,
		  "no model after training: %s", resp);
	CHECK_CONTAINS(resp, "\"catalog_titles_known\":48");
	free(resp);

	/* the fan finished dramas 0-3 and is halfway through drama 4 */
	bool ok;
	TENV_WAIT_UNTIL(ok, (home_get(fan_tok, &h), h.personalized), 5000);
	CHECK_MSG(ok, "the fan's home is not personalized after training");
	check_rules(&h);
	CHECK(!h.fold_in);
	CHECK_STR_EQ(h.rows[0].type, "continue_watching");
	CHECK_INT_EQ(h.rows[0].n, 1);
	CHECK_STR_EQ(h.rows[0].items[0], ids[0][4]);
	CHECK_MSG(h.rows[0].progress[0] > 0.49 && h.rows[0].progress[0] < 0.51, "progress %f",
		  h.rows[0].progress[0]);
	for (int t = 0; t < 4; t++)
		CHECK_MSG(!shows(&h, ids[0][t]), "finished drama %d is recommended again", t);
	const row_t *picks = row_of(&h, "top_picks");
	CHECK(picks != NULL && picks->n >= 3);
	for (size_t i = 0; i < 3; i++)
		CHECK_MSG(genre_of(picks->items[i]) == 0, "top pick %zu is a %s, not a drama", i,
			  genres[genre_of(picks->items[i])]);
	const row_t *because = row_of(&h, "because_you_watched");
	CHECK(because != NULL);
	CHECK_CONTAINS(because->title, "Because You Watched Drama ");
}

static void test_cli_from_db(void)
{
	char out_path[800], uri[200], dir[600], *out = NULL, *err = NULL, users[64];
	char *env[] = {uri, "KINO_MONGO_DATABASE=kino", NULL};
	kino_recsys_model_t *m = NULL;
	kino_error_t kerr = {0};

	snprintf(dir, sizeof(dir), "%s", data_dir);
	snprintf(uri, sizeof(uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(out_path, sizeof(out_path), "%s/cli-model.kals", data_dir);
	CHECK_INT_EQ(tenv_run(dir, (char *[]){KINO_BIN, "recsys", "train", "--from-db", "--out",
					      out_path, "--factors", "8", NULL},
			      env, 60000, &out, &err),
		     0);
	CHECK_CONTAINS(err, "model written to");
	free(out);
	free(err);
	CHECK_MSG(kino_recsys_model_load(out_path, &m, &kerr) == 0, "%s", kerr.message);
	CHECK(kino_recsys_model_has_keys(m));
	CHECK(kino_recsys_model_user_by_key(m, fan.id) >= 0);
	CHECK(kino_recsys_model_item_by_key(m, ids[1][0]) >= 0);
	CHECK_CONTAINS(kino_recsys_model_info(m)->source, "plays:");
	kino_recsys_model_destroy(m);

	snprintf(users, sizeof(users), "--users=%s", fan.id);
	CHECK_INT_EQ(tenv_run(dir, (char *[]){KINO_BIN, "recsys", "recommend", "--model", out_path,
					      "--k", "3", users, NULL},
			      env, 30000, &out, &err),
		     0);
	/* keys in, keys out: "<viewer id>\t<title id>\t1\t<score>" */
	char want[128];
	snprintf(want, sizeof(want), "%s\t", fan.id);
	CHECK_CONTAINS(out, want);
	CHECK_CONTAINS(out, "\t1\t");
	free(out);
	free(err);

	/* --from-db with --ratings is a usage error; no database is a failure */
	CHECK_INT_EQ(tenv_run(dir, (char *[]){KINO_BIN, "recsys", "train", "--from-db",
					      "--ratings", "x.csv", NULL},
			      env, 30000, &out, &err),
		     2);
	free(out);
	free(err);
	char *down[] = {"KINO_MONGO_URI=mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500",
			NULL};
	CHECK_INT_EQ(tenv_run(dir, (char *[]){KINO_BIN, "recsys", "train", "--from-db", "--out",
					      out_path, NULL},
			      down, 60000, &out, &err),
		     1);
	CHECK_CONTAINS(err, "the database does not answer");
	free(out);
	free(err);
}

static void test_fold_in(void)
{
	home_t h;

	/* the cold viewer, unknown to the model, finishes three comedies now */
	for (int t = 0; t < 3; t++)
		play_insert(cold.id, ids[1][t], 100.0, now_ms() - 1000 * (3 - t));
	/* the plays index picks them up about a second later */
	bool ok;
	TENV_WAIT_UNTIL(ok, (home_get(cold_tok, &h), h.fold_in && !shows(&h, ids[1][2])), 5000);
	CHECK_MSG(ok, "three finished comedies were not on the viewer's home within 5 s");
	check_rules(&h);
	CHECK(h.personalized && h.fold_in);
	for (int t = 0; t < 3; t++)
		CHECK_MSG(!shows(&h, ids[1][t]), "finished comedy %d shown again", t);
	const row_t *picks = row_of(&h, "top_picks");
	CHECK(picks != NULL && picks->n >= 3);
	for (size_t i = 0; i < 3; i++)
		CHECK_MSG(genre_of(picks->items[i]) == 1, "top pick %zu after comedies is a %s", i,
			  genres[genre_of(picks->items[i])]);
}

static void test_new_release(void)
{
	char id[32];
	home_t h;
	bool ok;

	title_add("{\"title\":\"Brand New\",\"tier\":\"free\",\"genres\":[\"Drama\"],"
		  "\"asset_id\":\"" ASSET "\"}",
		  true, id);
	TENV_WAIT_UNTIL(ok, (home_get(cold_tok, &h), row_of(&h, "new_releases") != NULL &&
			     strcmp(row_of(&h, "new_releases")->items[0], id) == 0),
			5000);
	CHECK_MSG(ok, "a title published here did not lead New Releases within 5 s");
}

static atomic_bool hammering;
static atomic_int hammered, hammer_failed;

static void *hammer(void *arg)
{
	(void)arg;
	while (atomic_load(&hammering)) {
		char *resp = NULL;
		int st = call("GET", "/api/v1/home", fan_tok, NULL, &resp);
		if (st != 200 || strstr(resp, "\"personalized\":true") == NULL)
			atomic_fetch_add(&hammer_failed, 1);
		atomic_fetch_add(&hammered, 1);
		free(resp);
	}
	return NULL;
}

static void test_reload_under_load(void)
{
	pthread_t th[2];
	struct stat before, after;

	CHECK(stat(model_path, &before) == 0);
	atomic_store(&hammering, true);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, hammer, NULL) == 0);
	tenv_sleep_ms(300);
	free(expect(202, "POST", "/api/v1/admin/recsys/retrain", admin_tok, NULL));
	status_wait_idle();
	tenv_sleep_ms(1500); /* the reload happens within a second */
	atomic_store(&hammering, false);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK(stat(model_path, &after) == 0);
	CHECK_MSG(after.st_ino != before.st_ino, "the model file was not replaced");
	CHECK_MSG(atomic_load(&hammered) > 20, "only %d requests", atomic_load(&hammered));
	CHECK_MSG(atomic_load(&hammer_failed) == 0, "%d of %d requests failed across the reload",
		  atomic_load(&hammer_failed), atomic_load(&hammered));
}

/* A second retraining while one runs is refused; a training that cannot
 * save its model fails with the reason and the old model keeps serving. */
static void test_retrain_conflict_and_failure(void)
{
	char dir[700], moved[720], *resp;
	home_t h;
	FILE *fp;

	/* long enough (seconds) that the second request comes during it */
	cfg.recsys.factors = 64;
	cfg.recsys.iterations = 300;
	free(expect(202, "POST", "/api/v1/admin/recsys/retrain", admin_tok, NULL));
	resp = expect(409, "POST", "/api/v1/admin/recsys/retrain", admin_tok, NULL);
	CHECK_CONTAINS(resp, "\"code\":\"conflict\"");
	CHECK_CONTAINS(resp, "already running");
	free(resp);
	resp = expect(200, "GET", "/api/v1/admin/recsys", admin_tok, NULL);
	CHECK_CONTAINS(resp, "\"state\":\"running\"");
	free(resp);
	status_wait_idle();
	cfg.recsys.factors = 8;
	cfg.recsys.iterations = 10;

	/* the model's directory replaced by a file: the save fails */
	snprintf(dir, sizeof(dir), "%s/recsys", data_dir);
	snprintf(moved, sizeof(moved), "%s/recsys.moved", data_dir);
	CHECK(rename(dir, moved) == 0);
	CHECK((fp = fopen(dir, "w")) != NULL);
	fclose(fp);
	free(expect(202, "POST", "/api/v1/admin/recsys/retrain", admin_tok, NULL));
	status_wait_idle();
	resp = expect(200, "GET", "/api/v1/admin/recsys", admin_tok, NULL);
	CHECK_CONTAINS(resp, "\"state\":\"failed\"");
	CHECK_CONTAINS(resp, "\"model\":{");
	CHECK_MSG(strstr(resp, "\"error\":null") == NULL, "no reason for the failure: %s", resp);
	free(resp);
	home_get(fan_tok, &h);
	CHECK(h.personalized);
	CHECK(remove(dir) == 0);
	CHECK(rename(moved, dir) == 0);
}

/* The database hung. A viewer whose session this server checked in the
 * last auth.session_cache (5 s) still gets their whole home screen, from
 * memory (the view and the plays index); a session that must be looked up
 * gets 503 (it cannot be checked), and nothing hangs for long; all
 * recovers with the database. */
static void test_database_stopped(void)
{
	pid_t pid = kino_dbserver_pid(db.server);
	char *resp = NULL, unknown[KINO_AUTH_TOKEN_LEN + 1];
	home_t h;
	time_t t0;
	int st;

	memset(unknown, 'A', KINO_AUTH_TOKEN_LEN);
	unknown[KINO_AUTH_TOKEN_LEN] = '\0';
	home_get(fan_tok, &h); /* checked just now */
	CHECK(pid > 0 && kill(pid, SIGSTOP) == 0);
	t0 = time(NULL);
	home_get(fan_tok, &h);
	CHECK(h.personalized && !h.degraded);
	CHECK(row_of(&h, "continue_watching") != NULL);
	st = call("GET", "/api/v1/home", unknown, NULL, &resp);
	CHECK_MSG(st == 503, "home while the database is stopped: %d %s", st, resp ? resp : "");
	CHECK_CONTAINS(resp, "\"code\":");
	CHECK_MSG(time(NULL) - t0 <= 10, "the answers took %lld s", (long long)(time(NULL) - t0));
	free(resp);
	CHECK(kill(pid, SIGCONT) == 0);
	bool ok;
	TENV_WAIT_UNTIL(ok, call("GET", "/api/v1/home", unknown, NULL, NULL) == 401, 15000);
	CHECK_MSG(ok, "sessions were not checked again once the database was back");
	home_get(fan_tok, &h);
	CHECK(h.personalized && !h.degraded);
}

int main(void)
{
	kino_http_config_t http_cfg = {.host = "127.0.0.1", .port = 0, .max_body = 65536, .workers = 4};
	kino_http_route_t routes[64];
	kino_error_t err = {0};
	kino_playback_keyring_t *keys;
	kino_catalog_t *cat;
	kino_home_t *home;
	kino_http_server_t *srv;
	kino_user_t admin, viewer;
	char path[700], json[600];
	size_t n = 0;

	kino_db_global_init();
	kino_http_global_init();
	tenv_tmpdir(data_dir, sizeof(data_dir), "home");
	snprintf(path, sizeof(path), "%s/media", data_dir);
	CHECK(mkdir(path, 0755) == 0);
	tenv_fake_asset(path, ASSET, 1800.0);
	tenv_db_start(&db);

	kino_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
	snprintf(cfg.db.uri, sizeof(cfg.db.uri), "%s", db.uri);
	snprintf(cfg.db.database, sizeof(cfg.db.database), "kino");
	cfg.db.timeout_ms = 2000;
	cfg.recsys.refresh_s = 1;
	cfg.recsys.factors = 8;
	cfg.recsys.iterations = 10;
	cfg.recsys.regularization = 10.0f;
	cfg.recsys.alpha = 2.0f;
	cfg.recsys.retrain_interval_s = 0;
	snprintf(model_path, sizeof(model_path), "%s/recsys/model.kals", data_dir);
	kdb = kino_db_new(&cfg.db, &err);
	CHECK_MSG(kdb != NULL, "%s", err.message);
	CHECK_MSG(kino_db_wait_ready(kdb, 20000, &err) == 0, "%s", err.message);
	CHECK(kino_db_monitor_start(kdb, &err) == 0);
	auth = kino_auth_new(kdb, &cfg.auth, &err);
	CHECK(auth != NULL);
	keys = kino_playback_keyring_new("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", &err);
	CHECK(keys != NULL);
	cat = kino_catalog_new(kdb, auth, keys, &cfg, &err);
	CHECK(cat != NULL);
	home = kino_home_new(kdb, auth, cat, &cfg, false, &err);
	CHECK_MSG(home != NULL, "%s", err.message);
	n += kino_auth_routes(auth, routes + n, 64 - n);
	n += kino_catalog_routes(cat, routes + n, 64 - n);
	n += kino_home_routes(home, routes + n, 64 - n);
	srv = kino_http_server_new(&http_cfg, "test", routes, n, &err);
	CHECK_MSG(srv != NULL, "%s", err.message);
	CHECK(kino_http_server_start(srv, &err) == 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));

	tenv_user_new(auth, "admin@example.com", "password 123", KINO_ROLE_ADMIN, &admin, admin_tok);
	tenv_user_new(auth, "viewer@example.com", "password 123", KINO_ROLE_VIEWER, &viewer, viewer_tok);
	tenv_user_new(auth, "fan@example.com", "password 123", KINO_ROLE_VIEWER, &fan, fan_tok);
	tenv_user_new(auth, "cold@example.com", "password 123", KINO_ROLE_VIEWER, &cold, cold_tok);

	/* The catalog: 16 titles in each of 3 genres, released a day apart,
	 * plus a draft, one whose window has ended and one not yet started. */
	for (int g = 0; g < 3; g++)
		for (int t = 0; t < NGENRE; t++) {
			snprintf(json, sizeof(json),
				 "{\"title\":\"%s %d\",\"tier\":\"free\",\"genres\":[\"%s\"],"
				 "\"asset_id\":\"" ASSET "\",\"available_from\":\"2026-0%d-%02dT00:00:00Z\"}",
				 genres[g], t, genres[g], 1 + g, 1 + t);
			title_add(json, true, ids[g][t]);
		}
	title_add("{\"title\":\"Draft\",\"tier\":\"free\",\"genres\":[\"Drama\"]}", false, draft_id);
	title_add("{\"title\":\"Ended\",\"tier\":\"free\",\"genres\":[\"Drama\"],\"asset_id\":\"" ASSET
		  "\",\"available_from\":\"2020-01-01\",\"available_until\":\"2021-01-01\"}",
		  true, ended_id);
	title_add("{\"title\":\"Future\",\"tier\":\"free\",\"genres\":[\"Drama\"],\"asset_id\":\"" ASSET
		  "\",\"available_from\":\"2099-01-01\"}",
		  true, future_id);

	/* Plays from a day ago: fans of each genre finish most of its titles
	 * (a different six each); the fan finished dramas 0-3 and is halfway
	 * through drama 4. Some trending for the cold screen. */
	int64_t day_ago = now_ms() - 86400000;
	for (int g = 0; g < 3; g++)
		for (int v = 0; v < FANS; v++) {
			char viewer_id[32];
			snprintf(viewer_id, sizeof(viewer_id), "5f%02d%020d", g, v);
			for (int k = 0; k < 6; k++)
				play_insert(viewer_id, ids[g][(v + k) % NGENRE], 100.0,
					    day_ago + v * 1000 + k);
		}
	for (int t = 0; t < 4; t++)
		play_insert(fan.id, ids[0][t], 100.0, day_ago + t);
	play_insert(fan.id, ids[0][4], 50.0, day_ago + 10);

	CHECK_MSG(kino_home_start(home, &err) == 0, "%s", err.message);
	bool ready;
	TENV_WAIT_UNTIL(ready, call("GET", "/api/v1/home", viewer_tok, NULL, NULL) == 200, 10000);
	CHECK_MSG(ready, "the home screen did not become ready");

	RUN_TEST(test_roles);
	RUN_TEST(test_cold_start);
	RUN_TEST(test_train_and_personalize);
	RUN_TEST(test_cli_from_db);
	RUN_TEST(test_fold_in);
	RUN_TEST(test_new_release);
	RUN_TEST(test_reload_under_load);
	RUN_TEST(test_retrain_conflict_and_failure);
	RUN_TEST(test_database_stopped);

	kino_http_server_destroy(srv);
	kino_home_destroy(home);
	kino_catalog_destroy(cat);
	kino_playback_keyring_destroy(keys);
	kino_auth_destroy(auth);
	kino_db_destroy(kdb);
	tenv_db_stop(&db);
	tenv_rmtree(data_dir);
	kino_db_global_cleanup();
	return 0;
}
