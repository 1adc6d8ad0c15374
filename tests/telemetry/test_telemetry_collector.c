/* The collector against a FerretDB of its own:
 *   - a scripted play end to end: acks, duplicates ignored, a beacon before
 *     its session_start rejected, the closed `plays` document equal to the
 *     metrics worked out by hand, the per-minute concurrency rollups, a new
 *     collector finding a session started before it (binding fallback),
 *     CMCD as a dialect;
 *   - the database stopped under load and restarted: the spool takes over,
 *     and afterwards every acknowledged beacon is in MongoDB exactly once;
 *   - back-off when the queue and the spool are both full, over the API and
 *     over POST /v1/beacons (503 + Retry-After), and nothing unanswered. */
#include "beacon_fixture.h"
#include "check.h"
#include "testenv.h"

#include "kino/db.h"
#include "kino/error.h"
#include "kino/telemetry.h"

#include <mongoc/mongoc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

static tenv_db_t tdb;
static kino_db_t *kdb;
static kino_playback_keyring_t *keys;
static char dir[512];
static int64_t t0;

/* ---- results ---- */

#define MAX_SESS 16
#define MAX_SEQ 20000

typedef struct tally {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long long n, acks, rejects, backoffs;
	kino_beacon_result_t last_reject;
	unsigned char acked[MAX_SESS][MAX_SEQ]; /* by session index (tag), seq */
} tally_t;

static tally_t tal;

static void tally_reset(void)
{
	pthread_mutex_lock(&tal.mu);
	tal.n = tal.acks = tal.rejects = tal.backoffs = 0;
	memset(tal.acked, 0, sizeof(tal.acked));
	pthread_mutex_unlock(&tal.mu);
}

static void on_result(const kino_beacon_result_t *r, void *ud)
{
	(void)ud;
	pthread_mutex_lock(&tal.mu);
	tal.n++;
	if (r->status == KINO_BEACON_ACK) {
		tal.acks++;
		if (r->tag < MAX_SESS && r->seq >= 0 && r->seq < MAX_SEQ)
			tal.acked[r->tag][r->seq] = 1;
	} else if (r->status == KINO_BEACON_REJECT) {
		tal.rejects++;
		tal.last_reject = *r;
	} else {
		tal.backoffs++;
	}
	pthread_cond_broadcast(&tal.cv);
	pthread_mutex_unlock(&tal.mu);
}

/* Waits until n results in all have come (fails after 30 s). */
static void wait_results(long long n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&tal.mu);
	while (tal.n < n) {
		if (pthread_cond_timedwait(&tal.cv, &tal.mu, &ts) != 0) {
			pthread_mutex_unlock(&tal.mu);
			CHECK_FAIL("only %lld of %lld results came", tal.n, n);
		}
	}
	pthread_mutex_unlock(&tal.mu);
}

static void submit(kino_telemetry_collector_t *c, const char *msg, unsigned long long tag)
{
	kino_error_t err = {0};
	int n = kino_telemetry_collector_submit(c, msg, strlen(msg), "127.0.0.1", tag, on_result,
						NULL, &err);
	CHECK_MSG(n >= 1, "submit: %s", err.message);
}

static kino_telemetry_collector_t *collector(const char *name, const kino_telemetry_limits_t *l)
{
	char spool[700];
	kino_error_t err = {0};
	kino_telemetry_collector_t *c;

	snprintf(spool, sizeof(spool), "%s/%s", dir, name);
	c = kino_telemetry_collector_new(kdb, keys, spool, l, &err);
	CHECK_MSG(c != NULL, "%s", err.message);
	return c;
}

/* ---- looking into the database ---- */

static mongoc_collection_t *coll(mongoc_client_t *cl, const char *name)
{
	return mongoc_client_get_collection(cl, "kino_tel", name);
}

static long long count(const char *name, bson_t *filter)
{
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *co = coll(cl, name);
	bson_error_t berr;
	long long n = mongoc_collection_count_documents(co, filter, NULL, NULL, NULL, &berr);

	CHECK_MSG(n >= 0, "count: %s", berr.message);
	mongoc_collection_destroy(co);
	kino_db_client_push(kdb, cl);
	bson_destroy(filter);
	return n;
}

/* The one document of a collection matching filter; caller destroys. */
static bson_t *find_one(const char *name, bson_t *filter)
{
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *co = coll(cl, name);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(co, filter, NULL, NULL);
	const bson_t *doc;
	bson_t *out = NULL;

	if (mongoc_cursor_next(cur, &doc))
		out = bson_copy(doc);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(co);
	kino_db_client_push(kdb, cl);
	bson_destroy(filter);
	return out;
}

static double num(const bson_t *d, const char *k)
{
	bson_iter_t it;

	CHECK_MSG(bson_iter_init_find(&it, d, k), "no %s", k);
	if (BSON_ITER_HOLDS_BOOL(&it))
		return bson_iter_bool(&it);
	return bson_iter_as_double(&it);
}

/* The concurrent viewers of the `concurrency` documents matching filter,
 * summed as the report sums them (one document per writer). */
static long long viewers(bson_t *filter)
{
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *co = coll(cl, "concurrency");
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(co, filter, NULL, NULL);
	const bson_t *doc;
	bson_error_t berr;
	long long n = 0;

	while (mongoc_cursor_next(cur, &doc))
		n += (long long)num(doc, "viewers");
	CHECK_MSG(!mongoc_cursor_error(cur, &berr), "%s", berr.message);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(co);
	kino_db_client_push(kdb, cl);
	bson_destroy(filter);
	return n;
}

/* ---- a scripted play ---- */

static void test_pipeline(void)
{
	kino_telemetry_limits_t l;
	kino_telemetry_collector_t *c;
	kino_error_t err = {0};
	char msg[16384], b[1024];
	const char *sid = "00a1";
	bson_t *play;
	bson_iter_t it;
	size_t n;

	kino_telemetry_limits_defaults(&l);
	l.rate_per_s = 0;
	c = collector("spool-pipeline", &l);
	tally_reset();

	/* before any session_start: looked up in MongoDB, and refused */
	fx_heartbeat(msg, sizeof(msg), "00b2", 1, t0, 0, 1000000);
	submit(c, msg, 1);
	wait_results(1);
	CHECK_INT_EQ(tal.rejects, 1);
	CHECK_STR_EQ(tal.last_reject.field, "session_id");

	/* the same trace as the unit test, in one array */
	n = (size_t)snprintf(msg, sizeof(msg), "[");
#define ADD(...) (fx_event(b, sizeof(b), sid, __VA_ARGS__), n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b))
	fx_start(b, sizeof(b), keys, sid, 0, t0, "title1", "asset1", "tv", 600000);
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b);
	ADD(1, t0 + 500, "rendition_change", ",\"bitrate\":1000000,\"width\":640,\"height\":360");
	ADD(2, t0 + 2000, "playing", "");
	fx_heartbeat(b, sizeof(b), sid, 3, t0 + 12000, 10000, 1000000);
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b);
	ADD(4, t0 + 22000, "rendition_change", ",\"bitrate\":3000000,\"width\":1280,\"height\":720");
	ADD(5, t0 + 32000, "rebuffer_start", "");
	ADD(6, t0 + 35000, "rebuffer_end", "");
	ADD(7, t0 + 40000, "seek", ",\"from_ms\":33000,\"playhead_ms\":120000");
	ADD(8, t0 + 40500, "rebuffer_start", "");
	ADD(9, t0 + 41000, "playing", "");
	ADD(10, t0 + 51000, "pause", "");
	ADD(11, t0 + 61000, "resume", "");
	fx_heartbeat(b, sizeof(b), sid, 12, t0 + 71000, 150000, 3000000);
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b);
	ADD(13, t0 + 71000, "rendition_change", ",\"bitrate\":1000000,\"width\":640,\"height\":360");
	ADD(14, t0 + 81000, "ended", "");
	ADD(15, t0 + 82000, "session_end", "");
#undef ADD
	msg[n - 1] = ']';
	submit(c, msg, 0);
	wait_results(17);
	CHECK_INT_EQ(tal.acks, 16);
	/* retries of beacons already durable: acknowledged, not stored twice */
	fx_heartbeat(msg, sizeof(msg), sid, 3, t0 + 12000, 10000, 1000000);
	submit(c, msg, 0);
	wait_results(18);
	CHECK_INT_EQ(tal.acks, 17);
	CHECK_MSG(kino_telemetry_collector_drain(c, 30000, &err) == 0, "%s", err.message);
	CHECK_INT_EQ(count("beacons", BCON_NEW("session_id", BCON_UTF8(sid))), 16);
	CHECK_INT_EQ(count("beacons", BCON_NEW("session_id", BCON_UTF8("00b2"))), 0);

	play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sid)));
	CHECK(play != NULL);
	CHECK(num(play, "closed") == 1);
	CHECK_INT_EQ(num(play, "startup_ms"), 2000);
	CHECK_INT_EQ(num(play, "watch_ms"), 71000);
	CHECK_INT_EQ(num(play, "playing_ms"), 65000);
	CHECK_INT_EQ(num(play, "rebuffer_count"), 1);
	CHECK_INT_EQ(num(play, "rebuffer_ms"), 3000);
	CHECK_INT_EQ(num(play, "avg_bitrate"), 2076923);
	CHECK_INT_EQ(num(play, "switches"), 2);
	CHECK_INT_EQ(num(play, "completion_pct"), 100);
	CHECK(num(play, "ebvs") == 0);
	CHECK(bson_iter_init_find(&it, play, "device") && strcmp(bson_iter_utf8(&it, NULL), "tv") == 0);
	CHECK(bson_iter_init_find(&it, play, "title_id") && strcmp(bson_iter_utf8(&it, NULL), "title1") == 0);
	bson_destroy(play);
	CHECK_INT_EQ(viewers(BCON_NEW("minute", BCON_DATE_TIME(t0 + 60000))), 1);
	CHECK_INT_EQ(count("concurrency", BCON_NEW("title_id", BCON_UTF8("title1"))), 2);
	kino_telemetry_collector_destroy(c);

	/* A new collector knows nothing of 00a1, but MongoDB does. This one
	 * closes plays after a second of silence. */
	l.session_timeout_s = 1;
	c = collector("spool-pipeline2", &l);
	fx_heartbeat(msg, sizeof(msg), sid, 20, t0 + 90000, 170000, 1000000);
	submit(c, msg, 0);
	wait_results(19);
	CHECK_INT_EQ(tal.acks, 18);

	/* CMCD: the payload with com.kino-token opens the session */
	{
		char tok[KINO_PLAYBACK_TOKEN_MAX];
		CHECK(kino_playback_token_sign(keys, "asset7/", "0c7d", fx_now_ms() / 1000 + 600, tok,
					       sizeof(tok), &err) == 0);
		snprintf(msg, sizeof(msg),
			 "sid=\"0c7d\",sn=0,ts=%lld,cid=\"title7\",com.kino-token=\"%s\",com.kino-device=\"stb\",v=2\n"
			 "e=ps,sta=p,msd=900,sid=\"0c7d\",sn=1,ts=%lld,pt=0,v=2\n"
			 "br=4500,bl=9000,sid=\"0c7d\",sn=2,ts=%lld,su=?0,v=2\n"
			 "e=ps,sta=q,sid=\"0c7d\",sn=3,ts=%lld,v=2",
			 (long long)t0, tok, (long long)t0 + 900, (long long)t0 + 5000, (long long)t0 + 10000);
		submit(c, msg, 2);
		wait_results(23);
		CHECK_INT_EQ(tal.acks, 22);
	}
	CHECK_MSG(kino_telemetry_collector_drain(c, 30000, &err) == 0, "%s", err.message);
	/* 00a1 closed again with its late beacon: this collector never wrote
	 * it, so it tried an insert, found it there, and updated it */
	play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sid)));
	CHECK(play != NULL);
	CHECK(num(play, "closed") == 1);
	CHECK(bson_iter_init_find(&it, play, "last_ts") && BSON_ITER_HOLDS_DATE_TIME(&it) &&
	      bson_iter_date_time(&it) == t0 + 90000);
	CHECK(bson_iter_init_find(&it, play, "device") && strcmp(bson_iter_utf8(&it, NULL), "tv") == 0);
	bson_destroy(play);
	CHECK_INT_EQ(count("plays", BCON_NEW("_id", BCON_UTF8(sid))), 1);
	play = find_one("plays", BCON_NEW("_id", BCON_UTF8("0c7d")));
	CHECK(play != NULL);
	CHECK(num(play, "closed") == 1);
	CHECK_INT_EQ(num(play, "startup_ms"), 900);
	CHECK_INT_EQ(num(play, "avg_bitrate"), 4500000);
	CHECK(bson_iter_init_find(&it, play, "asset_id") && strcmp(bson_iter_utf8(&it, NULL), "asset7") == 0);
	CHECK(bson_iter_init_find(&it, play, "device") && strcmp(bson_iter_utf8(&it, NULL), "stb") == 0);
	bson_destroy(play);
	play = find_one("beacons", BCON_NEW("session_id", BCON_UTF8("0c7d"), "seq", BCON_INT64(2)));
	CHECK(play != NULL);
	CHECK(bson_iter_init(&it, play) && bson_iter_find_descendant(&it, "cmcd.bl", &it) &&
	      bson_iter_as_int64(&it) == 9000);
	bson_destroy(play);

	/* silent plays are closed by the timeout: one that started playing,
	 * and one that never did (exit before video start) */
	fx_start(msg, sizeof(msg), keys, "0a0a", 0, t0, "title1", "asset1", "web", 600000);
	submit(c, msg, 3);
	fx_event(msg, sizeof(msg), "0a0a", 1, t0 + 1500, "playing", "");
	submit(c, msg, 3);
	fx_start(msg, sizeof(msg), keys, "0a0b", 0, t0, "title1", "asset1", "web", 600000);
	submit(c, msg, 3);
	wait_results(26);
	CHECK_INT_EQ(tal.acks, 25);
	{
		bool closed;
		TENV_WAIT_UNTIL(closed, (play = find_one("plays", BCON_NEW("_id", BCON_UTF8("0a0b"),
									   "closed", BCON_BOOL(true)))) != NULL,
				10000);
		CHECK_MSG(closed, "a silent play was not closed");
		CHECK(num(play, "ebvs") == 1);
		bson_destroy(play);
		TENV_WAIT_UNTIL(closed, (play = find_one("plays", BCON_NEW("_id", BCON_UTF8("0a0a"),
									   "closed", BCON_BOOL(true)))) != NULL,
				10000);
		CHECK(closed);
		CHECK(num(play, "ebvs") == 0);
		CHECK_INT_EQ(num(play, "startup_ms"), 1500);
		bson_destroy(play);
	}
	kino_telemetry_collector_destroy(c);
}

/* A play's first two beacons: its session_start at t0 (acknowledged, the
 * results then numbering `results`), and its first frame 2 s later. */
static void open_play(kino_telemetry_collector_t *c, const char *sid, int results)
{
	char msg[4096];

	fx_start(msg, sizeof(msg), keys, sid, 0, t0, "title2", "asset2", "web", 600000);
	submit(c, msg, 5);
	wait_results(results);
	fx_event(msg, sizeof(msg), sid, 1, t0 + 2000, "playing", "");
	submit(c, msg, 5);
}

/* Beacons out of order (one told to back off comes again after the next
 * ones): the collector holds those that came ahead and folds them once the
 * missing one is in, so the play is exact without being rebuilt from
 * `beacons` (a scan on FerretDB). */
static void test_out_of_order(void)
{
	kino_telemetry_limits_t l;
	kino_telemetry_collector_t *c;
	kino_telemetry_stats_t st;
	kino_error_t err = {0};
	char msg[4096];
	const char *sid = "0e0e";
	bson_t *play;

	kino_telemetry_limits_defaults(&l);
	l.rate_per_s = 0;
	c = collector("spool-order", &l);
	tally_reset();
	open_play(c, sid, 1);
	/* 2 (rebuffer_start) is missing for now */
	fx_event(msg, sizeof(msg), sid, 3, t0 + 13000, "rebuffer_end", "");
	submit(c, msg, 5);
	fx_heartbeat(msg, sizeof(msg), sid, 4, t0 + 20000, 15000, 2000000);
	submit(c, msg, 5);
	fx_heartbeat(msg, sizeof(msg), sid, 4, t0 + 20000, 15000, 2000000); /* a retry */
	submit(c, msg, 5);
	wait_results(5);
	fx_event(msg, sizeof(msg), sid, 2, t0 + 10000, "rebuffer_start", "");
	submit(c, msg, 5);
	fx_event(msg, sizeof(msg), sid, 5, t0 + 30000, "ended", "");
	submit(c, msg, 5);
	fx_event(msg, sizeof(msg), sid, 6, t0 + 31000, "session_end", "");
	submit(c, msg, 5);
	wait_results(8);
	CHECK_INT_EQ(tal.acks, 8);
	CHECK_MSG(kino_telemetry_collector_drain(c, 30000, &err) == 0, "%s", err.message);
	play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sid), "closed", BCON_BOOL(true)));
	CHECK(play != NULL);
	CHECK_INT_EQ(num(play, "startup_ms"), 2000);
	CHECK_INT_EQ(num(play, "rebuffer_count"), 1);
	CHECK_INT_EQ(num(play, "rebuffer_ms"), 3000);
	bson_destroy(play);
	kino_telemetry_collector_stats(c, &st);
	CHECK_MSG(st.refolds == 0, "the play was rebuilt from beacons %llu times", st.refolds);
	kino_telemetry_collector_destroy(c);
}

/* A play closed on `ended` before its session_end came (a batch later, or
 * told to back off and sent again): the session_end is folded into the
 * closed play, which is written again, not rebuilt from `beacons` as a
 * play begun elsewhere would be, and counted closed once. */
static void test_end_after_close(void)
{
	kino_telemetry_limits_t l;
	kino_telemetry_collector_t *c;
	kino_telemetry_stats_t st;
	kino_error_t err = {0};
	char msg[4096];
	const char *sid = "0b1e";
	bson_t *play;
	bool closed;

	kino_telemetry_limits_defaults(&l);
	l.rate_per_s = 0;
	c = collector("spool-end", &l);
	tally_reset();
	open_play(c, sid, 1);
	fx_event(msg, sizeof(msg), sid, 2, t0 + 30000, "ended", "");
	submit(c, msg, 5);
	wait_results(3);
	CHECK_INT_EQ(tal.acks, 3);
	TENV_WAIT_UNTIL(closed, (play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sid), "closed",
								   BCON_BOOL(true)))) != NULL,
			10000);
	CHECK_MSG(closed, "the play did not close on `ended`");
	CHECK_INT_EQ(num(play, "beacons"), 3);
	bson_destroy(play);

	tenv_sleep_ms(1000); /* as one told to back off comes again: retry_after_s */
	fx_event(msg, sizeof(msg), sid, 3, t0 + 31000, "session_end", "");
	submit(c, msg, 5);
	wait_results(4);
	CHECK_INT_EQ(tal.acks, 4);
	CHECK_MSG(kino_telemetry_collector_drain(c, 30000, &err) == 0, "%s", err.message);
	play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sid), "closed", BCON_BOOL(true)));
	CHECK(play != NULL);
	CHECK_INT_EQ(num(play, "beacons"), 4);
	CHECK_INT_EQ(num(play, "startup_ms"), 2000);
	bson_destroy(play);
	kino_telemetry_collector_stats(c, &st);
	CHECK_MSG(st.refolds == 0, "the play was rebuilt from beacons %llu times", st.refolds);
	CHECK_INT_EQ(st.plays_closed, 1);
	kino_telemetry_collector_destroy(c);
}

/* Concurrent viewers are counted once each, though every writer counts
 * the same (minute, title, device) keys at the same time: the writers race
 * to create each rollup document (an upsert that loses gets E11000 on
 * FerretDB), and the counts that did apply are never applied again. */
static void test_concurrency_exact(void)
{
	static const char *const titles[] = {"title9a", "title9b", "title9c", "title9d"};
	static const char *const devices[] = {"web", "tv", "mobile"};
	enum { MINUTES = 4, PER_KEY = 4, NT = 4, ND = 3, PER_MINUTE = NT * ND * PER_KEY };
	kino_telemetry_limits_t l;
	kino_telemetry_collector_t *c;
	kino_error_t err = {0};
	static char msg[PER_MINUTE * 1024];
	char one[1024];

	kino_telemetry_limits_defaults(&l);
	l.rate_per_s = 0;
	c = collector("spool-conc", &l);
	tally_reset();
	for (int m = 0; m < MINUTES; m++) {
		int64_t minute = t0 + 60000 + m * 60000;
		size_t n = (size_t)snprintf(msg, sizeof(msg), "[");

		for (int i = 0; i < PER_MINUTE; i++) {
			char sid[8];
			snprintf(sid, sizeof(sid), "09%02x", m * PER_MINUTE + i);
			fx_start(one, sizeof(one), keys, sid, 0, minute + i * 100, titles[i % NT],
				 "asset9", devices[(i / NT) % ND], 600000);
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", one);
		}
		msg[n - 1] = ']';
		submit(c, msg, 0);
		wait_results((long long)(m + 1) * PER_MINUTE);
		tenv_sleep_ms(300); /* a flush of every writer between minutes */
	}
	CHECK_INT_EQ(tal.acks, MINUTES * PER_MINUTE);
	CHECK_MSG(kino_telemetry_collector_drain(c, 30000, &err) == 0, "%s", err.message);
	for (int m = 0; m < MINUTES; m++) {
		for (int t = 0; t < NT; t++) {
			for (int d = 0; d < ND; d++) {
				long long v = viewers(BCON_NEW("minute", BCON_DATE_TIME(t0 + 60000 + m * 60000),
							       "title_id", BCON_UTF8(titles[t]),
							       "device", BCON_UTF8(devices[d])));
				CHECK_MSG(v == PER_KEY, "minute %d, %s, %s: %lld viewers counted, %d watched",
					  m, titles[t], devices[d], v, PER_KEY);
			}
		}
	}
	kino_telemetry_collector_destroy(c);
}

/* A hole the collector stops waiting for (more beacons came after it than
 * it holds): the play is folded across it. If the missing beacon never
 * comes, that play is what a refold would give, so none is done; if it
 * comes late, the play is refolded from `beacons` when it closes, and is
 * exact. */
static void test_hole_filled_late(void)
{
	kino_telemetry_limits_t l;
	kino_telemetry_collector_t *c;
	kino_telemetry_stats_t st;
	kino_error_t err = {0};
	char msg[4096];
	const char *sids[2] = {"0b0b", "0b0c"}; /* filled late; never filled */
	const int after = 140;                  /* heartbeats past the hole: more than are held */
	bson_t *play;

	kino_telemetry_limits_defaults(&l);
	l.rate_per_s = 0;
	c = collector("spool-hole", &l);
	tally_reset();
	for (int k = 0; k < 2; k++) {
		open_play(c, sids[k], 1 + k * (after + 3));
		/* 2 (rebuffer_start at +10 s) is missing */
		fx_event(msg, sizeof(msg), sids[k], 3, t0 + 13000, "rebuffer_end", "");
		submit(c, msg, 5);
		for (int i = 0; i < after; i++) {
			fx_heartbeat(msg, sizeof(msg), sids[k], 4 + i, t0 + 14000 + i * 100, 12000 + i * 100,
				     2000000);
			submit(c, msg, 5);
		}
		wait_results((k + 1) * (after + 3));
	}
	fx_event(msg, sizeof(msg), sids[0], 2, t0 + 10000, "rebuffer_start", "");
	submit(c, msg, 5);
	for (int k = 0; k < 2; k++) {
		fx_event(msg, sizeof(msg), sids[k], 4 + after, t0 + 30000, "session_end", "");
		submit(c, msg, 5);
	}
	wait_results(2 * (after + 3) + 3);
	CHECK_INT_EQ(tal.acks, 2 * (after + 3) + 3);
	CHECK_MSG(kino_telemetry_collector_drain(c, 30000, &err) == 0, "%s", err.message);
	play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sids[0]), "closed", BCON_BOOL(true)));
	CHECK(play != NULL);
	CHECK_INT_EQ(num(play, "startup_ms"), 2000);
	CHECK_INT_EQ(num(play, "rebuffer_count"), 1); /* the late beacon counts */
	CHECK_INT_EQ(num(play, "rebuffer_ms"), 3000);
	bson_destroy(play);
	play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sids[1]), "closed", BCON_BOOL(true)));
	CHECK(play != NULL);
	CHECK_INT_EQ(num(play, "startup_ms"), 2000);
	CHECK_INT_EQ(num(play, "rebuffer_count"), 0); /* as `beacons` has it */
	bson_destroy(play);
	kino_telemetry_collector_stats(c, &st);
	CHECK_MSG(st.refolds == 1, "plays rebuilt from beacons %llu times, want 1 (the filled hole)",
		  st.refolds);
	kino_telemetry_collector_destroy(c);
}

/* A session that began before beacons had "<sid>:<seq>" _ids (stored with
 * ObjectIds) and goes on after an upgrade: its play is rebuilt from all its
 * beacons, old and new, by a query, not from the new ones alone. */
static void test_refold_legacy(void)
{
	kino_telemetry_limits_t l;
	kino_telemetry_collector_t *c;
	kino_error_t err = {0};
	char msg[4096];
	const char *sid = "0d0d";
	bson_t *play;

	kino_telemetry_limits_defaults(&l);
	l.rate_per_s = 0;
	c = collector("spool-legacy", &l);
	tally_reset();
	open_play(c, sid, 1);
	fx_event(msg, sizeof(msg), sid, 2, t0 + 10000, "rebuffer_start", "");
	submit(c, msg, 5);
	fx_event(msg, sizeof(msg), sid, 3, t0 + 13000, "rebuffer_end", "");
	submit(c, msg, 5);
	wait_results(4);
	CHECK_INT_EQ(tal.acks, 4);
	kino_telemetry_collector_destroy(c);
	/* stopping wrote the live play: open, as it is */
	play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sid)));
	CHECK_MSG(play != NULL, "a stopping collector did not write its live play");
	CHECK(bson_has_field(play, "closed"));
	{
		bson_iter_t it;
		CHECK(bson_iter_init_find(&it, play, "closed") && !bson_iter_as_bool(&it));
	}
	bson_destroy(play);

	/* the old collector's documents: the same, under ObjectIds */
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *co = coll(cl, "beacons");
	for (int seq = 0; seq < 4; seq++) {
		char id[32];
		bson_error_t berr;
		bson_t old = BSON_INITIALIZER;
		bson_iter_t it;

		snprintf(id, sizeof(id), "%s:%d", sid, seq);
		bson_t *doc = find_one("beacons", BCON_NEW("_id", BCON_UTF8(id)));
		CHECK_MSG(doc != NULL, "beacon %s is not stored under its _id", id);
		bson_iter_init(&it, doc);
		while (bson_iter_next(&it))
			if (strcmp(bson_iter_key(&it), "_id") != 0)
				bson_append_iter(&old, NULL, 0, &it);
		bson_t *sel = BCON_NEW("_id", BCON_UTF8(id));
		CHECK_MSG(mongoc_collection_delete_one(co, sel, NULL, NULL, &berr), "%s", berr.message);
		CHECK_MSG(mongoc_collection_insert_one(co, &old, NULL, NULL, &berr), "%s", berr.message);
		bson_destroy(sel);
		bson_destroy(&old);
		bson_destroy(doc);
	}
	mongoc_collection_destroy(co);
	kino_db_client_push(kdb, cl);

	/* a new collector (nothing bound) takes the rest of the session */
	c = collector("spool-legacy2", &l);
	tally_reset();
	fx_heartbeat(msg, sizeof(msg), sid, 4, t0 + 20000, 15000, 2000000);
	submit(c, msg, 5);
	fx_event(msg, sizeof(msg), sid, 5, t0 + 31000, "session_end", "");
	submit(c, msg, 5);
	wait_results(2);
	CHECK_INT_EQ(tal.acks, 2);
	CHECK_MSG(kino_telemetry_collector_drain(c, 30000, &err) == 0, "%s", err.message);
	play = find_one("plays", BCON_NEW("_id", BCON_UTF8(sid), "closed", BCON_BOOL(true)));
	CHECK_MSG(play != NULL, "the play was not closed");
	CHECK_INT_EQ(num(play, "startup_ms"), 2000);
	CHECK_INT_EQ(num(play, "rebuffer_count"), 1);
	CHECK_INT_EQ(num(play, "rebuffer_ms"), 3000);
	CHECK_INT_EQ(num(play, "beacons"), 6);
	bson_destroy(play);
	kino_telemetry_collector_destroy(c);
}

/* ---- the database goes away under load ---- */

typedef struct loader {
	kino_telemetry_collector_t *c;
	int nsess;
	atomic_bool stop;
	long long sent;
	long long next_seq[MAX_SESS];
} loader_t;

static void *load(void *arg)
{
	loader_t *ld = arg;
	char msg[32768], b[512];

	while (!atomic_load(&ld->stop)) {
		for (int s = 0; s < ld->nsess && !atomic_load(&ld->stop); s++) {
			char sid[16];
			size_t n = (size_t)snprintf(msg, sizeof(msg), "[");

			snprintf(sid, sizeof(sid), "0f%02x", s);
			for (int k = 0; k < 10 && ld->next_seq[s] < MAX_SEQ; k++) {
				long long seq = ld->next_seq[s]++;
				fx_heartbeat(b, sizeof(b), sid, seq, fx_now_ms(), seq * 1000, 2000000);
				n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b);
				ld->sent++;
			}
			msg[n - 1] = ']';
			submit(ld->c, msg, (unsigned long long)s);
		}
		tenv_sleep_ms(50);
	}
	return NULL;
}

/* Every acknowledged beacon of the sessions "<prefix>NN" (tags 0..nsess-1)
 * is in `beacons` exactly once. */
static void check_acked_stored(const char *prefix, int nsess)
{
	mongoc_client_t *cl = kino_db_client_pop(kdb);
	mongoc_collection_t *co = coll(cl, "beacons");
	char re[16];
	bson_t *filter;
	bson_t *opts = BCON_NEW("projection", "{", "session_id", BCON_INT32(1), "seq", BCON_INT32(1), "}");
	mongoc_cursor_t *cur;
	static unsigned char seen[MAX_SESS][MAX_SEQ];
	const bson_t *doc;
	bson_error_t berr;
	long long stored = 0, missing = 0;

	snprintf(re, sizeof(re), "^%s", prefix);
	filter = BCON_NEW("session_id", "{", "$regex", BCON_UTF8(re), "}");
	cur = mongoc_collection_find_with_opts(co, filter, opts, NULL);
	memset(seen, 0, sizeof(seen));
	while (mongoc_cursor_next(cur, &doc)) {
		bson_iter_t it;
		unsigned s = 0;
		long long seq = -1;

		if (bson_iter_init_find(&it, doc, "session_id"))
			sscanf(bson_iter_utf8(&it, NULL) + strlen(prefix), "%x", &s);
		if (bson_iter_init_find(&it, doc, "seq"))
			seq = bson_iter_as_int64(&it);
		CHECK(s < MAX_SESS && seq >= 0 && seq < MAX_SEQ);
		CHECK_MSG(seen[s][seq] == 0, "beacon %s%02x/%lld is stored twice", prefix, s, seq);
		seen[s][seq] = 1;
		stored++;
	}
	CHECK_MSG(!mongoc_cursor_error(cur, &berr), "%s", berr.message);
	for (int s = 0; s < nsess; s++) {
		for (int q = 0; q < MAX_SEQ; q++) {
			if (tal.acked[s][q] && !seen[s][q])
				missing++;
		}
	}
	fprintf(stderr, "   %lld acknowledged, %lld stored, %lld missing\n", tal.acks, stored, missing);
	CHECK_INT_EQ(missing, 0);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(filter);
	mongoc_collection_destroy(co);
	kino_db_client_push(kdb, cl);
}

static void start_sessions(kino_telemetry_collector_t *c, int nsess, loader_t *ld)
{
	char msg[2048], sid[16];

	for (int s = 0; s < nsess; s++) {
		snprintf(sid, sizeof(sid), "0f%02x", s);
		fx_start(msg, sizeof(msg), keys, sid, 0, fx_now_ms(), "loadtitle", "loadasset", "web", 3600000);
		submit(c, msg, (unsigned long long)s);
		ld->next_seq[s] = 1;
	}
	wait_results(nsess);
	CHECK_INT_EQ(tal.acks, nsess);
}

static void test_outage(void)
{
	kino_telemetry_limits_t l;
	kino_telemetry_collector_t *c;
	kino_telemetry_stats_t st;
	kino_error_t err = {0};
	loader_t ld = {.nsess = 8};
	pthread_t th;

	kino_telemetry_limits_defaults(&l);
	l.rate_per_s = 0;
	l.slow_db_ms = 1500;
	c = collector("spool-outage", &l);
	tally_reset();
	ld.c = c;
	start_sessions(c, ld.nsess, &ld);
	CHECK(pthread_create(&th, NULL, load, &ld) == 0);
	tenv_sleep_ms(1500);
	fprintf(stderr, "   stopping the database\n");
	tenv_db_kill(&tdb);
	{
		/* the first inserts wait for server selection (mongo.timeout)
		 * before they give up and spool */
		bool spooling;
		TENV_WAIT_UNTIL(spooling, (kino_telemetry_collector_stats(c, &st), st.spooled > 0), 20000);
		CHECK_MSG(spooling, "nothing was spooled while the database was down");
		tenv_sleep_ms(3000);
		kino_telemetry_collector_stats(c, &st);
	}
	fprintf(stderr, "   restarting it (%llu beacons spooled so far)\n", st.spooled);
	tenv_db_restart(&tdb);
	tenv_sleep_ms(2000);
	atomic_store(&ld.stop, true);
	pthread_join(th, NULL);
	wait_results(ld.sent + ld.nsess);
	CHECK_MSG(kino_telemetry_collector_drain(c, 45000, &err) == 0, "%s", err.message);
	kino_telemetry_collector_stats(c, &st);
	fprintf(stderr, "   sent %lld, acked %lld, backoff %lld; spooled %llu, replayed %llu\n",
		ld.sent, tal.acks, tal.backoffs, st.spooled, st.replayed);
	CHECK(st.replayed >= st.spooled);
	CHECK_INT_EQ(tal.rejects, 0);
	CHECK(tal.acks > ld.sent / 4);
	check_acked_stored("0f", ld.nsess);
	kino_telemetry_collector_destroy(c);
}

/* ---- back-off when the queue and the spool are full ---- */

static void test_backoff(void)
{
	kino_telemetry_limits_t l;
	kino_telemetry_collector_t *c;
	kino_http_server_t *srv;
	kino_http_config_t hc = {.host = "127.0.0.1", .port = 0, .max_body = 1 << 20, .workers = 2};
	kino_http_route_t route;
	kino_error_t err = {0};
	tenv_response_t resp;
	char msg[16384], b[512], url[128], ra[16];
	long long total = 1;

	kino_telemetry_limits_defaults(&l);
	l.rate_per_s = 0;
	l.writers = 1;
	l.queue_capacity = 4;
	l.batch_max = 4;
	l.spool_max_bytes = 4000;
	c = collector("spool-backoff", &l);
	tally_reset();
	fx_start(msg, sizeof(msg), keys, "0e01", 0, fx_now_ms(), "bt", "ba", "web", 60000);
	submit(c, msg, 1);
	wait_results(1);
	CHECK_INT_EQ(tal.acks, 1);
	tenv_db_kill(&tdb);
	for (int round = 0; round < 20; round++) {
		size_t n = (size_t)snprintf(msg, sizeof(msg), "[");
		for (int k = 0; k < 10; k++) {
			long long seq = 1 + round * 10 + k;
			fx_heartbeat(b, sizeof(b), "0e01", seq, fx_now_ms(), seq * 1000, 800000);
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b);
		}
		msg[n - 1] = ']';
		submit(c, msg, 1);
		total += 10;
		tenv_sleep_ms(30);
	}
	wait_results(total);
	fprintf(stderr, "   %lld beacons: %lld acked (spooled), %lld told to back off\n", total,
		tal.acks, tal.backoffs);
	CHECK(tal.backoffs > 0);
	CHECK(tal.acks > 1);
	CHECK_INT_EQ(tal.acks + tal.backoffs, total);

	/* the sendBeacon fallback says the same with 503 and Retry-After */
	route = kino_telemetry_beacons_route(c);
	srv = kino_http_server_new(&hc, "tel-test", &route, 1, &err);
	CHECK_MSG(srv != NULL, "%s", err.message);
	CHECK(kino_http_server_start(srv, &err) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/beacons", kino_http_server_port(srv));
	{
		size_t n = (size_t)snprintf(msg, sizeof(msg), "[");
		for (int k = 0; k < 30; k++) {
			fx_heartbeat(b, sizeof(b), "0e01", 500 + k, fx_now_ms(), 1000, 800000);
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b);
		}
		msg[n - 1] = ']';
	}
	tenv_http_full("POST", url, (const char *const[]){"Content-Type: application/json", NULL},
		       msg, &resp);
	CHECK_INT_EQ(resp.status, 503);
	CHECK(tenv_response_header(&resp, "retry-after", ra, sizeof(ra)) != NULL);
	CHECK_CONTAINS(resp.body, "\"retry\":[");
	tenv_response_free(&resp);
	tenv_http_full("POST", url, NULL, "{not json", &resp);
	CHECK_INT_EQ(resp.status, 400);
	tenv_response_free(&resp);

	tenv_db_restart(&tdb);
	CHECK_MSG(kino_telemetry_collector_drain(c, 45000, &err) == 0, "%s", err.message);
	{ /* session 0e01 has tag 1: check_acked_stored looks at 0e00..0e01 */
		check_acked_stored("0e", 2);
	}
	/* once there is room again, a batch that fits the queue goes through */
	{
		size_t n = (size_t)snprintf(msg, sizeof(msg), "[");
		for (int k = 0; k < 4; k++) {
			fx_heartbeat(b, sizeof(b), "0e01", 600 + k, fx_now_ms(), 1000, 800000);
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s,", b);
		}
		msg[n - 1] = ']';
	}
	tenv_http_full("POST", url, (const char *const[]){"Content-Type: application/json", NULL},
		       msg, &resp);
	CHECK_INT_EQ(resp.status, 200);
	CHECK_CONTAINS(resp.body, "\"acks\":[600,601,602,603]");
	tenv_response_free(&resp);
	kino_http_server_destroy(srv);
	kino_telemetry_collector_destroy(c);
}

int main(void)
{
	kino_db_config_t dbc = {.timeout_ms = 5000, .health_interval_ms = 200};
	kino_error_t err = {0};

	kino_db_global_init();
	kino_http_global_init();
	pthread_mutex_init(&tal.mu, NULL);
	pthread_cond_init(&tal.cv, NULL);
	tenv_tmpdir(dir, sizeof(dir), "telemetry");
	tenv_db_start(&tdb);
	snprintf(dbc.uri, sizeof(dbc.uri), "%s", tdb.uri);
	snprintf(dbc.database, sizeof(dbc.database), "kino_tel");
	kdb = kino_db_new(&dbc, &err);
	CHECK_MSG(kdb != NULL, "%s", err.message);
	CHECK_MSG(kino_db_wait_ready(kdb, 20000, &err) == 0, "%s", err.message);
	CHECK(kino_db_monitor_start(kdb, &err) == 0);
	keys = kino_playback_keyring_new(FX_KEYS, &err);
	CHECK_MSG(keys != NULL, "%s", err.message);
	t0 = (fx_now_ms() / 60000) * 60000 - 300000;

	RUN_TEST(test_pipeline);
	RUN_TEST(test_out_of_order);
	RUN_TEST(test_end_after_close);
	RUN_TEST(test_concurrency_exact);
	RUN_TEST(test_hole_filled_late);
	RUN_TEST(test_refold_legacy);
	RUN_TEST(test_outage);
	RUN_TEST(test_backoff);

	kino_playback_keyring_destroy(keys);
	kino_db_destroy(kdb);
	tenv_db_stop(&tdb);
	tenv_rmtree(dir);
	kino_db_global_cleanup();
	return 0;
}
