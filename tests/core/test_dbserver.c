/* The embedded database server and the health monitor, against a real
 * FerretDB: it starts, answers pings, is reported unreachable while hung
 * and reachable again after, restarts after a crash, refuses a taken port,
 * and leaves no process behind when stopped; and a lookup by _id uses the
 * _id index (scripts/ferretdb/sqlite-id-index.patch), which every update
 * of a play, a title or a session relies on to cost the same at a million
 * documents as at ten. */
#include "check.h"
#include "testenv.h"

#include "kino/db.h"
#include "kino/dbserver.h"
#include "kino/error.h"

#include <mongoc/mongoc.h>

#include <errno.h>
#include <signal.h>
#include <string.h>

static kino_db_t *open_db(const char *uri)
{
	kino_db_config_t cfg = {.database = "kino_test", .health_interval_ms = 200,
				.timeout_ms = 1000};
	kino_error_t err = {0};
	kino_db_t *db;

	snprintf(cfg.uri, sizeof(cfg.uri), "%s", uri);
	db = kino_db_new(&cfg, &err);
	CHECK_MSG(db != NULL, "kino_db_new: %s", kino_error_message(&err));
	return db;
}

static void test_lifecycle(void)
{
	tenv_db_t fx;
	kino_error_t err = {0};
	kino_db_t *db;
	bool ok;
	pid_t pid;
	int status;

	tenv_db_start(&fx);
	db = open_db(fx.uri);
	CHECK_INT_EQ(kino_db_wait_ready(db, 10000, &err), 0);
	CHECK_INT_EQ(kino_db_monitor_start(db, &err), 0);
	TENV_WAIT_UNTIL(ok, kino_db_health(db, NULL, 0) == KINO_DB_OK, 5000);
	CHECK_MSG(ok, "the monitor never saw the database");

	/* Hung (SIGSTOP): unreachable within about one timeout, with a reason. */
	CHECK_INT_EQ(kino_dbserver_pause(fx.server, true), 0);
	TENV_WAIT_UNTIL(ok, kino_db_health(db, NULL, 0) == KINO_DB_UNREACHABLE, 8000);
	CHECK_MSG(ok, "a hung database was not reported unreachable");
	char detail[512];
	kino_db_health(db, detail, sizeof(detail));
	CHECK_CONTAINS(detail, fx.uri);
	CHECK_INT_EQ(kino_dbserver_pause(fx.server, false), 0);
	TENV_WAIT_UNTIL(ok, kino_db_health(db, NULL, 0) == KINO_DB_OK, 8000);
	CHECK_MSG(ok, "the database came back but stayed unreachable");

	/* Crash and restart on the same port and data. */
	pid = kino_dbserver_pid(fx.server);
	CHECK(kill(pid, SIGKILL) == 0);
	TENV_WAIT_UNTIL(ok, !kino_dbserver_alive(fx.server, &status), 5000);
	CHECK(ok);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK_INT_EQ(kino_dbserver_restart(fx.server, 30000, &err), 0);
	CHECK(kino_dbserver_pid(fx.server) != pid);
	CHECK_INT_EQ(kino_db_wait_ready(db, 10000, &err), 0);

	/* A second server on a taken port says so. */
	char bin[4096];
	CHECK_INT_EQ(kino_dbserver_find(NULL, KINO_SOURCE_DIR, bin, sizeof(bin), &err), 0);
	kino_dbserver_config_t cfg = {.bin = bin, .dir = fx.dir, .host = "127.0.0.1",
				      .port = fx.port};
	CHECK(kino_dbserver_start(&cfg, 5000, &err) == NULL);
	CHECK_INT_EQ(err.code, KINO_EADDRINUSE);
	CHECK_CONTAINS(err.message, "address in use");

	pid = kino_dbserver_pid(fx.server);
	kino_db_destroy(db);
	tenv_db_stop(&fx);
	CHECK(kill(pid, 0) != 0 && errno == ESRCH);
}

static void test_missing_binary_is_explained(void)
{
	char out[4096];
	kino_error_t err = {0};

	CHECK_INT_EQ(kino_dbserver_find("/nonexistent/ferretdb", NULL, out, sizeof(out), &err),
		     KINO_ENOENT);
	CHECK_CONTAINS(err.message, "mongo.embedded_bin");
	CHECK_CONTAINS(err.message, "/nonexistent/ferretdb");
}

static void test_unreachable_from_the_start(void)
{
	kino_error_t err = {0};
	char uri[64];
	kino_db_t *db;
	bool ok;

	snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/", tenv_free_port());
	db = open_db(uri);
	CHECK_INT_EQ(kino_db_health(db, NULL, 0), KINO_DB_STARTING);
	CHECK(kino_db_ping(db, &err) != 0);
	CHECK_INT_EQ(err.code, KINO_EUNAVAIL);
	CHECK_INT_EQ(kino_db_monitor_start(db, &err), 0);
	TENV_WAIT_UNTIL(ok, kino_db_health(db, NULL, 0) == KINO_DB_UNREACHABLE, 8000);
	CHECK(ok);
	kino_db_destroy(db);
}

/* Whether an explain reply names the _id index (FerretDB on SQLite: its
 * query plan's lines; MongoDB: an IDHACK, EXPRESS or IXSCAN stage). */
static bool plan_uses_id_index(const bson_t *reply)
{
	char *json = bson_as_relaxed_extended_json(reply, NULL);
	bool yes = json != NULL && (strstr(json, "USING INDEX") != NULL || strstr(json, "IDHACK") != NULL ||
				    strstr(json, "EXPRESS") != NULL || strstr(json, "IXSCAN") != NULL);

	if (!yes)
		fprintf(stderr, "explain: %s\n", json ? json : "?");
	bson_free(json);
	return yes;
}

static void test_id_lookups_use_the_index(void)
{
	tenv_db_t fx;
	kino_error_t err = {0};
	kino_db_t *db;
	mongoc_client_t *c;
	mongoc_collection_t *coll;
	bson_error_t berr;
	bson_t reply;

	tenv_db_start(&fx);
	db = open_db(fx.uri);
	CHECK_INT_EQ(kino_db_wait_ready(db, 10000, &err), 0);
	c = kino_db_client_pop(db);
	coll = mongoc_client_get_collection(c, kino_db_name(db), "lookups");
	for (int i = 0; i < 50; i++) {
		char id[32];
		snprintf(id, sizeof(id), "play-%d", i);
		bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "n", BCON_INT32(i));
		CHECK_MSG(mongoc_collection_insert_one(coll, doc, NULL, NULL, &berr), "insert: %s",
			  berr.message);
		bson_destroy(doc);
	}
	/* A find, and the query an update by _id runs first. */
	bson_t *cmd = BCON_NEW("explain", "{", "find", BCON_UTF8("lookups"), "filter", "{", "_id",
			       BCON_UTF8("play-7"), "}", "}");
	CHECK_MSG(mongoc_client_command_simple(c, kino_db_name(db), cmd, NULL, &reply, &berr),
		  "explain: %s", berr.message);
	CHECK_MSG(plan_uses_id_index(&reply), "a find by _id scans the whole collection");
	bson_destroy(&reply);
	bson_destroy(cmd);
	/* And the update itself finds its document (and only it). */
	bson_t *sel = BCON_NEW("_id", BCON_UTF8("play-7"));
	bson_t *upd = BCON_NEW("$set", "{", "n", BCON_INT32(700), "}");
	CHECK_MSG(mongoc_collection_update_one(coll, sel, upd, NULL, &reply, &berr), "update: %s",
		  berr.message);
	bson_iter_t it;
	CHECK(bson_iter_init_find(&it, &reply, "modifiedCount") && bson_iter_as_int64(&it) == 1);
	bson_destroy(&reply);
	CHECK_INT_EQ((int)mongoc_collection_count_documents(coll, sel, NULL, NULL, NULL, &berr), 1);
	bson_destroy(upd);
	bson_destroy(sel);
	bson_t *q = BCON_NEW("n", BCON_INT32(700));
	CHECK_INT_EQ((int)mongoc_collection_count_documents(coll, q, NULL, NULL, NULL, &berr), 1);
	bson_destroy(q);
	mongoc_collection_destroy(coll);
	kino_db_client_push(db, c);
	kino_db_destroy(db);
	tenv_db_stop(&fx);
}

int main(void)
{
	kino_db_global_init();
	RUN_TEST(test_missing_binary_is_explained);
	RUN_TEST(test_lifecycle);
	RUN_TEST(test_unreachable_from_the_start);
	RUN_TEST(test_id_lookups_use_the_index);
	kino_db_global_cleanup();
	return 0;
}
