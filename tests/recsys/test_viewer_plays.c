/* The viewers' plays in memory (recsys/viewer_plays.h), against a FerretDB
 * of the test's own, with plays written as telemetry writes them:
 * - before the first load it says so (the home route then reads `plays`);
 * - a load keeps each viewer's plays newest first, leaves out plays older
 *   than the window, anonymous plays and plays without a title;
 * - a refresh applies a play written since (a new one, and an update of a
 *   live play: same _id, further along), without duplicating it, and
 *   leaves a play written long ago alone;
 * - at most per_viewer plays a viewer, the oldest going first;
 * - the database gone: the load fails and what was there stays. */
#include "check.h"
#include "testenv.h"

#include "../../recsys/viewer_plays.h"

#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static tenv_db_t db;
static kino_db_t *kdb;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes (upserts) one play the way telemetry's writer does. */
static void play_put(const char *sid, const char *viewer, const char *title, double pct,
		     int64_t started_at, int64_t updated_at)
{
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *coll = mongoc_client_get_collection(cl, "kino", "plays");
	bson_t *sel = BCON_NEW("_id", BCON_UTF8(sid));
	bson_t *set = bson_new(), *upd = bson_new(), *opts = BCON_NEW("upsert", BCON_BOOL(true));
	bson_error_t berr;

	BSON_APPEND_UTF8(set, "session_id", sid);
	if (viewer != NULL)
		BSON_APPEND_UTF8(set, "viewer_id", viewer);
	if (title != NULL)
		BSON_APPEND_UTF8(set, "title_id", title);
	BSON_APPEND_DATE_TIME(set, "started_at", started_at);
	BSON_APPEND_DATE_TIME(set, "last_ts", started_at + 60000);
	BSON_APPEND_INT64(set, "duration_ms", 1800000);
	BSON_APPEND_DOUBLE(set, "completion_pct", pct);
	BSON_APPEND_INT64(set, "watch_ms", (int64_t)(pct / 100 * 1800000));
	BSON_APPEND_BOOL(set, "completed", pct >= 95);
	BSON_APPEND_DATE_TIME(set, "updated_at", updated_at);
	BSON_APPEND_DOCUMENT(upd, "$set", set);
	CHECK_MSG(mongoc_collection_update_one(coll, sel, upd, opts, NULL, &berr), "%s",
		  berr.message);
	bson_destroy(opts);
	bson_destroy(upd);
	bson_destroy(set);
	bson_destroy(sel);
	mongoc_collection_destroy(coll);
	kino_db_client_push(kdb, cl);
}

static size_t get(viewer_plays_t *vp, const char *viewer, recsys_play_doc_t *out, size_t max)
{
	size_t n = 99;

	CHECK(viewer_plays_get(vp, viewer, out, max, &n));
	return n;
}

int main(void)
{
	kino_config_t cfg;
	kino_error_t err = {0};
	recsys_play_doc_t p[8];
	viewer_plays_stats_t st;
	int64_t now = now_ms(), day = 86400000, window = now - 30 * day;
	size_t n;

	kino_db_global_init();
	tenv_db_start(&db);
	kino_config_defaults(&cfg);
	snprintf(cfg.db.uri, sizeof(cfg.db.uri), "%s", db.uri);
	snprintf(cfg.db.database, sizeof(cfg.db.database), "kino");
	cfg.db.timeout_ms = 2000;
	kdb = kino_db_new(&cfg.db, &err);
	CHECK_MSG(kdb != NULL, "%s", err.message);
	CHECK_MSG(kino_db_wait_ready(kdb, 20000, &err) == 0, "%s", err.message);

	viewer_plays_t *vp = viewer_plays_new(3);
	CHECK(vp != NULL);
	n = 7;
	CHECK(!viewer_plays_get(vp, "ann", p, 8, &n));
	CHECK(n == 0);
	CHECK(viewer_plays_refresh(vp, kdb, window, &err) == 0); /* no-op before a load */
	viewer_plays_stats(vp, &st);
	CHECK(!st.ready);

	play_put("s1", "ann", "t-drama", 100, now - 3 * day, now - 3 * day);
	play_put("s2", "ann", "t-comedy", 40, now - 2 * day, now - 2 * day);
	play_put("s3", "ann", "t-old", 100, now - 60 * day, now - 60 * day); /* outside */
	play_put("s4", NULL, "t-drama", 100, now - day, now - day);          /* anonymous */
	play_put("s5", "bob", NULL, 100, now - day, now - day);              /* no title */
	play_put("s6", "bob", "t-drama", 10, now - day, now - day);

	CHECK_MSG(viewer_plays_load(vp, kdb, window, &err) == 0, "%s", err.message);
	viewer_plays_stats(vp, &st);
	CHECK(st.ready && st.viewers == 2 && st.plays == 3 && st.loaded_at > 0);
	CHECK_INT_EQ(get(vp, "ann", p, 8), 2);
	CHECK_STR_EQ(p[0].title, "t-comedy"); /* newest first */
	CHECK(p[0].play.completion > 0.39 && p[0].play.completion < 0.41 && !p[0].play.completed);
	CHECK_STR_EQ(p[1].title, "t-drama");
	CHECK(p[1].play.completed && p[1].started_at == now - 3 * day);
	CHECK_STR_EQ(p[1].viewer, "ann");
	CHECK_INT_EQ(get(vp, "carol", p, 8), 0); /* never played: none, but ready */
	CHECK_INT_EQ(get(vp, "ann", p, 1), 1);   /* max is honoured */

	/* ann's live comedy goes on to the end; she starts a thriller; a
	 * play written a minute ago but stamped long ago is not read back */
	play_put("s2", "ann", "t-comedy", 97, now - 2 * day, now_ms());
	play_put("s7", "ann", "t-thriller", 20, now_ms(), now_ms());
	play_put("s8", "dan", "t-drama", 50, now - day, now - 2 * day);
	CHECK_MSG(viewer_plays_refresh(vp, kdb, window, &err) == 0, "%s", err.message);
	CHECK_INT_EQ(get(vp, "ann", p, 8), 3);
	CHECK_STR_EQ(p[0].title, "t-thriller");
	CHECK_STR_EQ(p[1].title, "t-comedy");
	CHECK(p[1].play.completed);
	CHECK_STR_EQ(p[2].title, "t-drama");
	CHECK_INT_EQ(get(vp, "dan", p, 8), 0);
	/* a refresh again reads the overlap: nothing doubles */
	CHECK(viewer_plays_refresh(vp, kdb, window, &err) == 0);
	CHECK_INT_EQ(get(vp, "ann", p, 8), 3);

	/* a fourth play in the window: the oldest of ann's three goes */
	play_put("s9", "ann", "t-doc", 60, now - 1000, now_ms());
	CHECK(viewer_plays_refresh(vp, kdb, window, &err) == 0);
	CHECK_INT_EQ(get(vp, "ann", p, 8), 3);
	CHECK_STR_EQ(p[0].title, "t-thriller");
	CHECK_STR_EQ(p[1].title, "t-doc");
	CHECK_STR_EQ(p[2].title, "t-comedy"); /* the drama, oldest, went */
	/* a play older than every one kept does not push one out */
	play_put("s10", "ann", "t-older", 60, now - 20 * day, now_ms());
	CHECK(viewer_plays_refresh(vp, kdb, window, &err) == 0);
	CHECK_INT_EQ(get(vp, "ann", p, 8), 3);
	CHECK_STR_EQ(p[2].title, "t-comedy");

	/* a full load sees dan's play, written before it */
	CHECK(viewer_plays_load(vp, kdb, window, &err) == 0);
	CHECK_INT_EQ(get(vp, "dan", p, 8), 1);

	/* the database gone: load and refresh fail, the plays stay */
	tenv_db_kill(&db);
	CHECK(viewer_plays_load(vp, kdb, window, &err) == KINO_EDB);
	CHECK_CONTAINS(err.message, "loading the viewers' plays");
	CHECK(viewer_plays_refresh(vp, kdb, window, &err) == KINO_EDB);
	CHECK_INT_EQ(get(vp, "ann", p, 8), 3);
	tenv_db_restart(&db);

	viewer_plays_destroy(vp);
	kino_db_destroy(kdb);
	tenv_db_stop(&db);
	kino_db_global_cleanup();
	return 0;
}
