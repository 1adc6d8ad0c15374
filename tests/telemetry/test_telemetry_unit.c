/* Telemetry without a database: the beacon schema and its rejections (each
 * names the field), the CMCD dialect and its mapping, the binding checks
 * that need only the keyring (no token, bad token, another asset, another
 * session), flood protection, and the sessionizer against metrics worked
 * out by hand from a scripted trace. */
#include "check.h"
#include "testenv.h"

#include "telemetry_internal.h"

#include "kino/db.h"
#include "kino/playback.h"

#include <math.h>
#include <pthread.h>

#define KEYS "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

static kino_telemetry_limits_t lim;
static int64_t now;

/* Validates a JSON beacon, read as the collector reads it; returns the
 * rejected field, or "" when valid. */
static const char *check_json(const char *json)
{
	static kino_beacon_result_t res;
	bson_t obj = BSON_INITIALIZER;
	char perr[128];
	bool is_array;
	beacon_t b;
	int r;

	CHECK_MSG(beacon_json_parse(json, strlen(json), &obj, &is_array, perr, sizeof(perr)) == 0 &&
		  !is_array, "bad test JSON %s: %s", json, perr);
	memset(&res, 0, sizeof(res));
	beacon_init(&b);
	r = beacon_from_json(&obj, &lim, now, &b, &res);
	beacon_cleanup(&b);
	bson_destroy(&obj);
	if (r == 0)
		return "";
	CHECK_MSG(strstr(res.message, res.field) != NULL, "message '%s' does not name '%s'",
		  res.message, res.field);
	return res.field;
}

static void test_schema(void)
{
	char j[1024];

#define BEACON(extra) snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s1\",\"seq\":3,\"ts\":%lld%s}", (long long)now, extra)
	BEACON(",\"event\":\"heartbeat\",\"playhead_ms\":1000,\"bitrate\":3000000,\"buffer_ms\":8000,"
	       "\"dropped_frames\":0,\"player_width\":1280,\"player_height\":720");
	CHECK_STR_EQ(check_json(j), "");
	BEACON(",\"event\":\"heartbeat\",\"playhead_ms\":1000,\"buffer_ms\":8000,"
	       "\"dropped_frames\":0,\"player_width\":1280,\"player_height\":720");
	CHECK_STR_EQ(check_json(j), "bitrate");
	BEACON(",\"event\":\"heartbeat\",\"playhead_ms\":1000,\"bitrate\":-5,\"buffer_ms\":8000,"
	       "\"dropped_frames\":0,\"player_width\":1280,\"player_height\":720");
	CHECK_STR_EQ(check_json(j), "bitrate");
	BEACON(",\"event\":\"heartbeat\",\"playhead_ms\":\"x\",\"bitrate\":5,\"buffer_ms\":8000,"
	       "\"dropped_frames\":0,\"player_width\":1280,\"player_height\":720");
	CHECK_STR_EQ(check_json(j), "playhead_ms");
	BEACON(",\"event\":\"teleport\"");
	CHECK_STR_EQ(check_json(j), "event");
	BEACON("");
	CHECK_STR_EQ(check_json(j), "event");
	BEACON(",\"event\":\"pause\"");
	CHECK_STR_EQ(check_json(j), "");
	BEACON(",\"event\":\"error\",\"code\":\"E1\",\"fatal\":\"yes\"");
	CHECK_STR_EQ(check_json(j), "fatal");
	BEACON(",\"event\":\"error\",\"fatal\":true");
	CHECK_STR_EQ(check_json(j), "code");
	BEACON(",\"event\":\"seek\"");
	CHECK_STR_EQ(check_json(j), "playhead_ms");
	BEACON(",\"event\":\"session_start\",\"title_id\":\"t\",\"asset_id\":\"a\",\"device\":\"tv\","
	       "\"token\":\"x\",\"player\":{\"name\":\"hls.js\"}");
	CHECK_STR_EQ(check_json(j), "player.version");
	BEACON(",\"event\":\"session_start\",\"title_id\":\"t\",\"asset_id\":\"a\",\"device\":\"tv\","
	       "\"player\":{\"name\":\"hls.js\",\"version\":\"1\"}");
	CHECK_STR_EQ(check_json(j), "token");
	BEACON(",\"event\":\"session_start\",\"title_id\":7,\"asset_id\":\"a\",\"device\":\"tv\","
	       "\"token\":\"x\",\"player\":{\"name\":\"hls.js\",\"version\":\"1\"}");
	CHECK_STR_EQ(check_json(j), "title_id");
#undef BEACON
	snprintf(j, sizeof(j), "{\"session_id\":\"s1\",\"seq\":1,\"ts\":%lld,\"event\":\"pause\"}", (long long)now);
	CHECK_STR_EQ(check_json(j), "v");
	snprintf(j, sizeof(j), "{\"v\":2,\"session_id\":\"s1\",\"seq\":1,\"ts\":%lld,\"event\":\"pause\"}", (long long)now);
	CHECK_STR_EQ(check_json(j), "v");
	snprintf(j, sizeof(j), "{\"v\":1,\"seq\":1,\"ts\":%lld,\"event\":\"pause\"}", (long long)now);
	CHECK_STR_EQ(check_json(j), "session_id");
	snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s 1\",\"seq\":1,\"ts\":%lld,\"event\":\"pause\"}", (long long)now);
	CHECK_STR_EQ(check_json(j), "session_id");
	snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s1\",\"seq\":-1,\"ts\":%lld,\"event\":\"pause\"}", (long long)now);
	CHECK_STR_EQ(check_json(j), "seq");
	snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s\\u00001\",\"seq\":1,\"ts\":%lld,\"event\":\"pause\"}", (long long)now);
	CHECK_STR_EQ(check_json(j), "session_id");
	/* past int64: libbson wrapped it around; now a double, refused */
	snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s1\",\"seq\":99999999999999999999,\"ts\":%lld,\"event\":\"pause\"}", (long long)now);
	CHECK_STR_EQ(check_json(j), "seq");
	snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s1\",\"seq\":1.5,\"ts\":%lld,\"event\":\"pause\"}", (long long)now);
	CHECK_STR_EQ(check_json(j), "seq");
	snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s1\",\"seq\":1,\"ts\":%lld,\"event\":\"pause\"}", (long long)now + 3600 * 1000);
	CHECK_STR_EQ(check_json(j), "ts");
	snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s1\",\"seq\":1,\"ts\":%lld,\"event\":\"pause\"}", (long long)now - 3LL * 86400 * 1000);
	CHECK_STR_EQ(check_json(j), "ts");
	snprintf(j, sizeof(j), "{\"v\":1,\"session_id\":\"s1\",\"seq\":1,\"ts\":\"today\",\"event\":\"pause\"}");
	CHECK_STR_EQ(check_json(j), "ts");
}

/* The collector's JSON reader gives what libbson's gives for plain JSON,
 * and refuses what is not JSON. */
static void test_json_reader(void)
{
	static const char *const same[] = {
		"{}",
		"{\"a\":1,\"b\":-2147483649,\"c\":1.5,\"d\":1e3,\"e\":\"h\\u00e9\\n\\\"\\/\",\"f\":[1,{\"g\":null}]}",
		" { \"h\" : true , \"i\":false,\"j\":{},\"k\":[],\"l\":\"\\ud83d\\ude00 \xc3\xa9\"}\n",
		"{\"m\":9223372036854775807,\"n\":0,\"o\":-0.5,\"p\":2147483647,\"q\":-2147483648,\"r\":1E-2}",
		"{\"v\":1,\"session_id\":\"s1\",\"seq\":3,\"player\":{\"name\":\"hls.js\",\"version\":\"1.5\"},\"dup\":1,\"dup\":2}",
		"{\"$where\":1,\"a\":\"x\\u0000y\"}",
	};
	static const char *const bad[] = {
		"{\"a\":}", "{\"a\":1,}", "{\"a\":\"\\u00\"}", "{\"a\":\"x", "{\"a\":01}",
		"{\"a\\u0000b\":1}", "{\"a\":\"\\ud800\"}", "[1,2]x", "{\"a\":tru}", "{\"a\":\"\x01\"}",
		"{\"a\":\"\xff\"}", "{\"a\" 1}", "{a:1}", "{\"a\":1.}", "{\"a\":-}",
		"{\"a\":\"\\q\"}", "", "   ", "{\"a\":[1,]}", "{\"a\":1}}",
	};
	char deep[200], perr[128];
	bool is_array;

	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		bson_error_t berr;
		bson_t *want = bson_new_from_json((const uint8_t *)same[i], -1, &berr);
		bson_t got = BSON_INITIALIZER;

		CHECK_MSG(want != NULL, "libbson cannot read test %zu: %s", i, berr.message);
		CHECK_MSG(beacon_json_parse(same[i], strlen(same[i]), &got, &is_array, perr,
					    sizeof(perr)) == 0, "test %zu: %s", i, perr);
		CHECK(!is_array);
		if (!bson_equal(&got, want)) {
			char *a = bson_as_canonical_extended_json(&got, NULL);
			char *b = bson_as_canonical_extended_json(want, NULL);
			CHECK_FAIL("test %zu reads as %s, libbson reads %s", i, a, b);
		}
		bson_destroy(&got);
		bson_destroy(want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bson_t got = BSON_INITIALIZER;

		CHECK_MSG(beacon_json_parse(bad[i], strlen(bad[i]), &got, &is_array, perr,
					    sizeof(perr)) == KINO_EPARSE, "'%s' was read", bad[i]);
		CHECK(perr[0] != '\0');
		bson_destroy(&got);
	}
	/* an array of beacons: its elements under "0", "1", ... */
	{
		bson_t got = BSON_INITIALIZER;
		bson_iter_t it;

		const char *arr = "[{\"a\":1},{\"b\":2}, 3]";

		CHECK(beacon_json_parse(arr, strlen(arr), &got, &is_array, perr, sizeof(perr)) == 0 &&
		      is_array);
		CHECK(bson_iter_init_find(&it, &got, "1") && BSON_ITER_HOLDS_DOCUMENT(&it));
		CHECK(bson_iter_init_find(&it, &got, "2") && BSON_ITER_HOLDS_INT32(&it));
		CHECK_INT_EQ(bson_count_keys(&got), 3);
		bson_destroy(&got);
	}
	/* nesting is bounded */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	{
		bson_t got = BSON_INITIALIZER;

		CHECK(beacon_json_parse(deep, sizeof(deep), &got, &is_array, perr, sizeof(perr)) ==
		      KINO_EPARSE);
		CHECK_CONTAINS(perr, "nested");
		bson_destroy(&got);
	}
}

/* Maps one CMCD text payload; returns the rejected field or "". */
static const char *check_cmcd(const char *text, beacon_t *b)
{
	static kino_beacon_result_t res;
	bson_t keys = BSON_INITIALIZER;
	int r;

	memset(&res, 0, sizeof(res));
	r = cmcd_parse_text(text, strlen(text), &keys, &res);
	if (r == 0)
		r = beacon_from_cmcd(&keys, &lim, now, 777, b, &res);
	bson_destroy(&keys);
	return r == 0 ? "" : res.field;
}

static void test_cmcd(void)
{
	char t[512];
	beacon_t b;
	bson_iter_t it;

	beacon_init(&b);
	CHECK_STR_EQ(check_cmcd("br=3200,bl=21300,bs,cid=\"movie-1\",d=4004,dl=18500,mtp=25400,"
				"nor=\"../300kbps/seg-2.m4s\",nrr=\"12323-48763\",ot=v,pr=1.08,"
				"rtp=15000,sf=h,sid=\"6e2fb550\",st=v,su,tb=6000,v=1", &b), "");
	CHECK_INT_EQ(b.event, EV_HEARTBEAT);
	CHECK_STR_EQ(b.session_id, "6e2fb550");
	CHECK_INT_EQ(b.seq, 777); /* no sn: the collector numbers it */
	CHECK_INT_EQ(b.bitrate, 3200000);
	CHECK_INT_EQ(b.buffer_ms, 21300);
	CHECK(b.rebuffered);
	CHECK(b.cmcd);
	CHECK(bson_iter_init_find(&it, &b.cmcd_keys, "ot") && strcmp(bson_iter_utf8(&it, NULL), "v") == 0);
	CHECK(bson_iter_init_find(&it, &b.cmcd_keys, "pr") && fabs(bson_iter_double(&it) - 1.08) < 1e-9);
	CHECK(bson_iter_init_find(&it, &b.cmcd_keys, "tb") && bson_iter_as_int64(&it) == 6000);
	CHECK(bson_iter_init_find(&it, &b.cmcd_keys, "su") && bson_iter_bool(&it));
	beacon_cleanup(&b);

	/* v2 event mode */
	beacon_init(&b);
	snprintf(t, sizeof(t), "e=ps,sta=p,msd=1250,sid=\"abc\",sn=4,ts=%lld,pt=0,v=2", (long long)now);
	CHECK_STR_EQ(check_cmcd(t, &b), "");
	CHECK_INT_EQ(b.event, EV_PLAYING);
	CHECK_INT_EQ(b.startup_ms, 1250);
	CHECK_INT_EQ(b.seq, 4);
	CHECK_INT_EQ(b.ts, now);
	CHECK_INT_EQ(b.playhead_ms, 0);
	beacon_cleanup(&b);
	struct {
		const char *sta;
		beacon_event_t ev;
	} states[] = {{"r", EV_REBUFFER_START}, {"a", EV_PAUSE}, {"e", EV_ENDED},
		      {"q", EV_SESSION_END}, {"w", EV_HEARTBEAT}, {"k", EV_SEEK},
		      {"f", EV_ERROR}};
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		beacon_init(&b);
		snprintf(t, sizeof(t), "e=ps,sta=%s,sid=\"abc\",sn=%zu,pt=5000", states[i].sta, 10 + i);
		CHECK_STR_EQ(check_cmcd(t, &b), "");
		CHECK_INT_EQ(b.event, states[i].ev);
		if (states[i].ev == EV_ERROR)
			CHECK(b.fatal);
		beacon_cleanup(&b);
	}
	beacon_init(&b);
	CHECK_STR_EQ(check_cmcd("e=e,ec=(\"MEDIA_ERR_DECODE\" \"X2\"),sid=\"abc\",sn=20", &b), "");
	CHECK_INT_EQ(b.event, EV_ERROR);
	CHECK_STR_EQ(b.code, "MEDIA_ERR_DECODE");
	CHECK(!b.fatal);
	beacon_cleanup(&b);
	beacon_init(&b);
	CHECK_STR_EQ(check_cmcd("e=ps,sta=k,sid=\"abc\",sn=21", &b), "cmcd.pt");
	beacon_cleanup(&b);
	beacon_init(&b);
	CHECK_STR_EQ(check_cmcd("br=3200,bl=100", &b), "cmcd.sid");
	beacon_cleanup(&b);
	beacon_init(&b);
	CHECK_STR_EQ(check_cmcd("br=\"fast\",sid=\"abc\"", &b), "cmcd.br");
	beacon_cleanup(&b);
	beacon_init(&b);
	CHECK_STR_EQ(check_cmcd("e=ps,sta=z,sid=\"abc\"", &b), "cmcd.sta");
	beacon_cleanup(&b);
	beacon_init(&b);
	snprintf(t, sizeof(t), "sid=\"abc\",ts=%lld", (long long)now + 86400000LL);
	CHECK_STR_EQ(check_cmcd(t, &b), "cmcd.ts");
	beacon_cleanup(&b);
	beacon_init(&b);
	CHECK_STR_EQ(check_cmcd("sid=\"abc\",cid=\"t9\",com.kino-token=\"v1.x\",com.kino-device=\"tv\",v=2", &b), "");
	CHECK_INT_EQ(b.event, EV_SESSION_START);
	CHECK_STR_EQ(b.title_id, "t9");
	CHECK_STR_EQ(b.device, "tv");
	CHECK_STR_EQ(b.token, "v1.x");
	beacon_cleanup(&b);

	/* The JSON form goes through the same mapping. */
	{
		bson_error_t berr;
		bson_t *o = bson_new_from_json((const uint8_t *)"{\"sid\":\"abc\",\"br\":800,\"bs\":true,\"sn\":9}", -1, &berr);
		kino_beacon_result_t res = {0};
		beacon_init(&b);
		CHECK(beacon_from_cmcd(o, &lim, now, 1, &b, &res) == 0);
		CHECK_INT_EQ(b.bitrate, 800000);
		CHECK_INT_EQ(b.seq, 9);
		CHECK(b.rebuffered);
		beacon_cleanup(&b);
		bson_destroy(o);
	}
}

/* ---- the sessionizer ---- */

static beacon_t ev(long long seq, int64_t ts, beacon_event_t e)
{
	beacon_t b;

	beacon_init(&b);
	snprintf(b.session_id, sizeof(b.session_id), "play1");
	b.seq = seq;
	b.ts = ts;
	b.event = e;
	return b;
}

static double doc_double(const bson_t *d, const char *k)
{
	bson_iter_t it;

	CHECK_MSG(bson_iter_init_find(&it, d, k), "no %s", k);
	return bson_iter_as_double(&it);
}

static void test_sessionizer(void)
{
	int64_t t0 = (now / 60000) * 60000 - 300000, minutes[8];
	int nmin = 0;
	play_state_t p;
	beacon_t tr[16];
	bson_t doc = BSON_INITIALIZER;
	bson_iter_t it;

	/* The trace: start, switch, first frame, heartbeat, up-switch,
	 * rebuffer 3 s, seek (with a stall inside it), pause 10 s, resume,
	 * down-switch, ended, session_end. */
	tr[0] = ev(0, t0, EV_SESSION_START);
	snprintf(tr[0].title_id, sizeof(tr[0].title_id), "title1");
	snprintf(tr[0].asset_id, sizeof(tr[0].asset_id), "asset1");
	snprintf(tr[0].device, sizeof(tr[0].device), "tv");
	tr[0].duration_ms = 600000;
	tr[1] = ev(1, t0 + 500, EV_RENDITION_CHANGE);
	tr[1].bitrate = 1000000, tr[1].width = 640, tr[1].height = 360;
	tr[2] = ev(2, t0 + 2000, EV_PLAYING);
	tr[3] = ev(3, t0 + 12000, EV_HEARTBEAT);
	tr[3].playhead_ms = 10000, tr[3].bitrate = 1000000, tr[3].player_width = 1280,
	tr[3].player_height = 720, tr[3].dropped_frames = 4;
	tr[4] = ev(4, t0 + 22000, EV_RENDITION_CHANGE);
	tr[4].bitrate = 3000000, tr[4].width = 1280, tr[4].height = 720;
	tr[5] = ev(5, t0 + 32000, EV_REBUFFER_START);
	tr[6] = ev(6, t0 + 35000, EV_REBUFFER_END);
	tr[7] = ev(7, t0 + 40000, EV_SEEK);
	tr[7].from_ms = 33000, tr[7].playhead_ms = 120000;
	tr[8] = ev(8, t0 + 40500, EV_REBUFFER_START); /* part of the seek */
	tr[9] = ev(9, t0 + 41000, EV_PLAYING);
	tr[10] = ev(10, t0 + 51000, EV_PAUSE);
	tr[11] = ev(11, t0 + 61000, EV_RESUME);
	tr[12] = ev(12, t0 + 71000, EV_HEARTBEAT);
	tr[12].playhead_ms = 150000, tr[12].bitrate = 3000000, tr[12].dropped_frames = 9;
	tr[13] = ev(13, t0 + 71000, EV_RENDITION_CHANGE);
	tr[13].bitrate = 1000000, tr[13].width = 640, tr[13].height = 360;
	tr[14] = ev(14, t0 + 81000, EV_ENDED);
	tr[15] = ev(15, t0 + 82000, EV_SESSION_END);

	play_state_init(&p, "play1");
	for (int i = 0; i < 16; i++) {
		int64_t m = play_fold(&p, &tr[i]);
		if (m >= 0)
			minutes[nmin++] = m;
		if (i == 12) /* a retry of an earlier beacon changes nothing */
			CHECK_INT_EQ(play_fold(&p, &tr[3]), -1);
	}
	CHECK(play_is_over(&p));
	/* By hand: startup 2 s; playing 10+10+10+5+10+10+10 = 65 s; rebuffer
	 * 3 s (once: the stall inside the seek is the seek's); seeking 1 s;
	 * paused 10 s; watch = 2 + 65 + 3 + 1 = 71 s. */
	CHECK_INT_EQ(p.startup_ms, 2000);
	CHECK_INT_EQ(p.playing_ms, 65000);
	CHECK_INT_EQ(p.rebuffer_ms, 3000);
	CHECK_INT_EQ(p.rebuffer_count, 1);
	CHECK_INT_EQ(p.seeking_ms, 1000);
	CHECK_INT_EQ(p.seeks, 1);
	CHECK_INT_EQ(p.paused_ms, 10000);
	CHECK_INT_EQ(p.switches, 2);
	CHECK_INT_EQ(p.dropped_frames, 9);
	CHECK_INT_EQ(p.beacons, 16);
	CHECK_INT_EQ(nmin, 2); /* minutes t0 and t0 + 1 min */
	CHECK_INT_EQ(minutes[0], t0);
	CHECK_INT_EQ(minutes[1], t0 + 60000);

	play_append_metrics(&p, true, now, &doc);
	CHECK_INT_EQ(doc_double(&doc, "watch_ms"), 71000);
	CHECK(fabs(doc_double(&doc, "rebuffer_ratio") - 3000.0 / 71000.0) < 1e-9);
	/* 1 Mb/s for 30 s, 3 Mb/s for 35 s: 135e9 / 65000 */
	CHECK_INT_EQ(doc_double(&doc, "avg_bitrate"), 2076923);
	/* sizes known from 12 s on: 55 s, of which 20 s at 640x360 in a
	 * 1280x720 player (100 % upscale) */
	CHECK(fabs(doc_double(&doc, "upscale_pct") - 2e6 / 55000.0) < 1e-9);
	CHECK(fabs(doc_double(&doc, "max_upscale_pct") - 100.0) < 1e-9);
	CHECK_INT_EQ(doc_double(&doc, "furthest_ms"), 600000); /* ended: the whole */
	CHECK(fabs(doc_double(&doc, "completion_pct") - 100.0) < 1e-9);
	CHECK(bson_iter_init_find(&it, &doc, "ebvs") && !bson_iter_bool(&it));
	CHECK(bson_iter_init_find(&it, &doc, "completed") && bson_iter_bool(&it));
	CHECK(bson_iter_init_find(&it, &doc, "failed") && !bson_iter_bool(&it));
	bson_destroy(&doc);
	for (int i = 0; i < 16; i++)
		beacon_cleanup(&tr[i]);

	/* Exit before video start: no frame, no fatal error. */
	play_state_init(&p, "play2");
	tr[0] = ev(0, t0, EV_SESSION_START);
	tr[1] = ev(1, t0 + 4000, EV_HEARTBEAT);
	tr[2] = ev(2, t0 + 6000, EV_SESSION_END);
	for (int i = 0; i < 3; i++)
		play_fold(&p, &tr[i]);
	bson_init(&doc);
	play_append_metrics(&p, true, now, &doc);
	CHECK(bson_iter_init_find(&it, &doc, "ebvs") && bson_iter_bool(&it));
	CHECK(bson_iter_init_find(&it, &doc, "startup_ms") && BSON_ITER_HOLDS_NULL(&it));
	CHECK_INT_EQ(doc_double(&doc, "watch_ms"), 6000);
	bson_destroy(&doc);

	/* A startup failure. */
	play_state_init(&p, "play3");
	tr[0] = ev(0, t0, EV_SESSION_START);
	tr[1] = ev(1, t0 + 3000, EV_ERROR);
	snprintf(tr[1].code, sizeof(tr[1].code), "DRM_DENIED");
	tr[1].fatal = true;
	play_fold(&p, &tr[0]);
	play_fold(&p, &tr[1]);
	CHECK(p.failed && p.startup_failed);
	CHECK_STR_EQ(p.failure_code, "DRM_DENIED");
	bson_init(&doc);
	play_append_metrics(&p, true, now, &doc);
	CHECK(bson_iter_init_find(&it, &doc, "ebvs") && !bson_iter_bool(&it));
	bson_destroy(&doc);
}

/* ---- the collector's synchronous answers (no database needed) ---- */

typedef struct results {
	pthread_mutex_t mu;
	kino_beacon_result_t r[64];
	int n;
} results_t;

static void collect(const kino_beacon_result_t *r, void *ud)
{
	results_t *rs = ud;

	pthread_mutex_lock(&rs->mu);
	if (rs->n < 64)
		rs->r[rs->n] = *r;
	rs->n++;
	pthread_mutex_unlock(&rs->mu);
}

#define START_FMT                                                              \
	"{\"v\":1,\"session_id\":\"%s\",\"seq\":0,\"ts\":%lld,\"event\":\"session_start\","   \
	"\"title_id\":\"t1\",\"asset_id\":\"%s\",\"device\":\"web\",\"token\":\"%s\","        \
	"\"player\":{\"name\":\"hls.js\",\"version\":\"1.5\"}}"

static void test_binding_and_limits(void)
{
	kino_error_t err = {0};
	kino_db_config_t dbc = {.timeout_ms = 200, .health_interval_ms = 100};
	kino_playback_keyring_t *kr = kino_playback_keyring_new(KEYS, &err);
	kino_telemetry_limits_t l = lim;
	kino_telemetry_collector_t *c;
	kino_db_t *db;
	char dir[512], spool[600], tok[KINO_PLAYBACK_TOKEN_MAX], msg[2048];
	results_t rs = {.n = 0};

	CHECK_MSG(kr != NULL, "%s", err.message);
	/* a database nobody listens on: these answers never need it */
	snprintf(dbc.uri, sizeof(dbc.uri), "mongodb://127.0.0.1:%d/", tenv_free_port());
	snprintf(dbc.database, sizeof(dbc.database), "kino");
	db = kino_db_new(&dbc, &err);
	CHECK(db != NULL);
	tenv_tmpdir(dir, sizeof(dir), "tel-unit");
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	l.max_beacon = 600;
	l.rate_per_s = 1; /* refills nothing to speak of during the test */
	l.rate_burst = 8;
	pthread_mutex_init(&rs.mu, NULL);
	c = kino_telemetry_collector_new(db, kr, spool, &l, &err);
	CHECK_MSG(c != NULL, "%s", err.message);

	/* no token, a forged one, one for another asset, one for another session */
	snprintf(msg, sizeof(msg),
		 "{\"v\":1,\"session_id\":\"5a\",\"seq\":0,\"ts\":%lld,\"event\":\"session_start\","
		 "\"title_id\":\"t1\",\"asset_id\":\"a1\",\"device\":\"web\","
		 "\"player\":{\"name\":\"hls.js\",\"version\":\"1.5\"}}", (long long)now);
	CHECK_INT_EQ(kino_telemetry_collector_submit(c, msg, strlen(msg), "10.0.0.1", 0, collect, &rs, &err), 1);
	CHECK_INT_EQ(rs.r[0].status, KINO_BEACON_REJECT);
	CHECK_STR_EQ(rs.r[0].field, "token");

	CHECK(kino_playback_token_sign(kr, "a1/", "5a", now / 1000 + 3600, tok, sizeof(tok), &err) == 0);
	tok[strlen(tok) - 2] ^= 1; /* flip a bit of the MAC */
	snprintf(msg, sizeof(msg), START_FMT, "5a", (long long)now, "a1", tok);
	kino_telemetry_collector_submit(c, msg, strlen(msg), "10.0.0.1", 0, collect, &rs, &err);
	CHECK_INT_EQ(rs.r[1].status, KINO_BEACON_REJECT);
	CHECK_STR_EQ(rs.r[1].field, "token");

	CHECK(kino_playback_token_sign(kr, "a2/", "5a", now / 1000 + 3600, tok, sizeof(tok), &err) == 0);
	snprintf(msg, sizeof(msg), START_FMT, "5a", (long long)now, "a1", tok);
	kino_telemetry_collector_submit(c, msg, strlen(msg), "10.0.0.1", 0, collect, &rs, &err);
	CHECK_INT_EQ(rs.r[2].status, KINO_BEACON_REJECT);
	CHECK_STR_EQ(rs.r[2].field, "asset_id");

	CHECK(kino_playback_token_sign(kr, "a1/", "0bcd", now / 1000 + 3600, tok, sizeof(tok), &err) == 0);
	snprintf(msg, sizeof(msg), START_FMT, "5a", (long long)now, "a1", tok);
	kino_telemetry_collector_submit(c, msg, strlen(msg), "10.0.0.1", 0, collect, &rs, &err);
	CHECK_INT_EQ(rs.r[3].status, KINO_BEACON_REJECT);
	CHECK_STR_EQ(rs.r[3].field, "session_id");

	/* an expired token */
	CHECK(kino_playback_token_sign(kr, "a1/", "5a", now / 1000 - 10, tok, sizeof(tok), &err) == 0);
	snprintf(msg, sizeof(msg), START_FMT, "5a", (long long)now, "a1", tok);
	kino_telemetry_collector_submit(c, msg, strlen(msg), "10.0.0.1", 0, collect, &rs, &err);
	CHECK_INT_EQ(rs.r[4].status, KINO_BEACON_REJECT);
	CHECK_STR_EQ(rs.r[4].field, "token");

	/* whole messages: not JSON, too big, an array with a non-object */
	CHECK_INT_EQ(kino_telemetry_collector_submit(c, "{\"v\":", 5, "10.0.0.1", 0, collect, &rs, &err), KINO_EPARSE);
	memset(msg, ' ', sizeof(msg));
	msg[0] = '{';
	msg[998] = '}';
	msg[999] = '\0';
	CHECK_INT_EQ(kino_telemetry_collector_submit(c, msg, 999, "10.0.0.2", 0, collect, &rs, &err), 1);
	CHECK_INT_EQ(rs.r[5].status, KINO_BEACON_REJECT);
	CHECK_STR_EQ(rs.r[5].field, "beacon"); /* over max_beacon */
	CHECK_INT_EQ(kino_telemetry_collector_submit(c, "[1, {\"v\":1}]", 12, "10.0.0.2", 0, collect, &rs, &err), 2);
	CHECK_STR_EQ(rs.r[6].field, "beacon");
	CHECK_STR_EQ(rs.r[7].field, "session_id");

	/* flood: 10.0.0.1 has spent 5 of its 8; three more pass, then it is
	 * throttled while another address still gets through */
	for (int i = 0; i < 4; i++)
		kino_telemetry_collector_submit(c, "[{\"v\":1}]", 9, "10.0.0.1", 0, collect, &rs, &err);
	CHECK_INT_EQ(rs.r[8].status, KINO_BEACON_REJECT);
	CHECK_INT_EQ(rs.r[10].status, KINO_BEACON_REJECT);
	CHECK_INT_EQ(rs.r[11].status, KINO_BEACON_THROTTLED);
	CHECK(rs.r[11].retry_after_s >= 1);
	kino_telemetry_collector_submit(c, "[{\"v\":1}]", 9, "10.0.0.3", 0, collect, &rs, &err);
	CHECK_INT_EQ(rs.r[12].status, KINO_BEACON_REJECT);

	{
		kino_telemetry_stats_t st;
		kino_telemetry_collector_stats(c, &st);
		CHECK_INT_EQ(st.throttled, 1);
		CHECK_INT_EQ(st.rejected, 12);
		CHECK_INT_EQ(st.accepted, 0);
	}
	kino_telemetry_collector_destroy(c);
	kino_db_destroy(db);
	kino_playback_keyring_destroy(kr);
	pthread_mutex_destroy(&rs.mu);
	tenv_rmtree(dir);
}

int main(void)
{
	kino_db_global_init();
	kino_telemetry_limits_defaults(&lim);
	now = telemetry_now_ms();
	RUN_TEST(test_json_reader);
	RUN_TEST(test_schema);
	RUN_TEST(test_cmcd);
	RUN_TEST(test_sessionizer);
	RUN_TEST(test_binding_and_limits);
	kino_db_global_cleanup();
	return 0;
}
