/* The analysts' reports on a known dataset (`plays` and `concurrency`
 * documents written here by hand): figures and percentiles worked out by
 * hand, filters, CSV, the HTTP routes with their role checks (none 401,
 * viewer 403, analyst 200), and `kino report` giving the same text. */
#include "check.h"
#include "testenv.h"

#include "kino/auth.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/telemetry.h"

#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>

#define DAY1 1793527200000LL /* 2026-11-01T10:00:00Z */
#define DAY2 (DAY1 + 86400000LL)
#define MIN0 1793527200000LL

static tenv_db_t tdb;
static kino_db_t *kdb;

static void insert(const char *coll, bson_t *doc)
{
	mongoc_client_t *c = kino_db_client_pop(kdb);
	mongoc_collection_t *co = mongoc_client_get_collection(c, "kino", coll);
	bson_error_t berr;

	CHECK_MSG(mongoc_collection_insert_one(co, doc, NULL, NULL, &berr), "%s", berr.message);
	mongoc_collection_destroy(co);
	kino_db_client_push(kdb, c);
	bson_destroy(doc);
}

/* 20 plays of tA on the web (startup 100..2000 ms, 60 s watched, 600 ms
 * rebuffering, 2 Mb/s, furthest 5..100 s of 100 s, 5 completed, viewers
 * u0..u9, half on each day); 4 plays of tB on tv (2 EBVS, 1 failure, 1
 * with startup 5000 ms), viewers v0..v3, on day 1. */
static void dataset(void)
{
	char id[32], viewer[16];

	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "a%02d", i);
		snprintf(viewer, sizeof(viewer), "u%d", i % 10);
		insert("plays", BCON_NEW("_id", BCON_UTF8(id), "title_id", BCON_UTF8("tA"),
					 "device", BCON_UTF8("web"), "viewer_id", BCON_UTF8(viewer),
					 "started_at", BCON_DATE_TIME(i < 10 ? DAY1 : DAY2),
					 "closed", BCON_BOOL(true), "played", BCON_BOOL(true),
					 "startup_ms", BCON_INT64(100 * (i + 1)), "watch_ms", BCON_INT64(60000),
					 "rebuffer_ms", BCON_INT64(600), "avg_bitrate", BCON_INT64(2000000),
					 "bitrate_ms", BCON_INT64(50000), "duration_ms", BCON_INT64(100000),
					 "furthest_ms", BCON_INT64(5000 * (i + 1)),
					 "completed", BCON_BOOL(i >= 15), "failed", BCON_BOOL(false),
					 "ebvs", BCON_BOOL(false)));
	}
	for (int i = 0; i < 4; i++) {
		bool ebvs = i < 2, failed = i == 2;
		snprintf(id, sizeof(id), "b%02d", i);
		snprintf(viewer, sizeof(viewer), "v%d", i);
		insert("plays", BCON_NEW("_id", BCON_UTF8(id), "title_id", BCON_UTF8("tB"),
					 "device", BCON_UTF8("tv"), "viewer_id", BCON_UTF8(viewer),
					 "started_at", BCON_DATE_TIME(DAY1 + 1000), "closed", BCON_BOOL(true),
					 "played", BCON_BOOL(i == 3),
					 "watch_ms", BCON_INT64(i == 3 ? 30000 : 4000),
					 "rebuffer_ms", BCON_INT64(0), "furthest_ms", BCON_INT64(0),
					 "completed", BCON_BOOL(false), "failed", BCON_BOOL(failed),
					 "ebvs", BCON_BOOL(ebvs)));
		if (i == 3) {
			bson_t *u = BCON_NEW("$set", "{", "startup_ms", BCON_INT64(5000), "}");
			bson_t *f = BCON_NEW("_id", BCON_UTF8(id));
			mongoc_client_t *c = kino_db_client_pop(kdb);
			mongoc_collection_t *co = mongoc_client_get_collection(c, "kino", "plays");
			CHECK(mongoc_collection_update_one(co, f, u, NULL, NULL, NULL));
			mongoc_collection_destroy(co);
			kino_db_client_push(kdb, c);
			bson_destroy(u);
			bson_destroy(f);
		}
	}
	insert("concurrency", BCON_NEW("_id", BCON_UTF8("m0|tA|web"), "minute", BCON_DATE_TIME(MIN0),
				       "title_id", BCON_UTF8("tA"), "device", BCON_UTF8("web"),
				       "viewers", BCON_INT64(3)));
	insert("concurrency", BCON_NEW("_id", BCON_UTF8("m0|tB|tv"), "minute", BCON_DATE_TIME(MIN0),
				       "title_id", BCON_UTF8("tB"), "device", BCON_UTF8("tv"),
				       "viewers", BCON_INT64(2)));
	insert("concurrency", BCON_NEW("_id", BCON_UTF8("m1|tA|web"),
				       "minute", BCON_DATE_TIME(MIN0 + 60000), "title_id", BCON_UTF8("tA"),
				       "device", BCON_UTF8("web"), "viewers", BCON_INT64(7)));
}

static char *report(kino_report_kind_t kind, const kino_report_query_t *q)
{
	kino_error_t err = {0};
	char *out = NULL;
	size_t len;

	CHECK_MSG(kino_report_run(kdb, kind, q, &out, &len, &err) == 0, "%s", err.message);
	CHECK_INT_EQ(strlen(out), len);
	return out;
}

static void test_figures(void)
{
	kino_report_query_t q = {.top = 10};
	char *out;

	out = report(KINO_REPORT_ENGAGEMENT, &q);
	CHECK_CONTAINS(out, "\"plays\":24,\"unique_viewers\":14,");
	/* 20 x 60 s + 3 x 4 s + 30 s = 1242 s */
	CHECK_CONTAINS(out, "\"watch_hours\":0.3450,\"avg_watch_time_s\":51.8,\"completion_rate\":0.2083");
	CHECK_CONTAINS(out, "\"top_titles\":[{\"title_id\":\"tA\",\"plays\":20,\"unique_viewers\":10,"
			    "\"watch_hours\":0.3333,\"avg_watch_time_s\":60.0,\"completion_rate\":0.2500}");
	CHECK_CONTAINS(out, "{\"title_id\":\"tA\",\"plays\":20,\"step_pct\":5,\"curve\":[1.0000,1.0000,0.9500,0.9000,");
	CHECK_CONTAINS(out, ",0.1000,0.0500]}");
	free(out);

	q.group = KINO_REPORT_GROUP_TITLE;
	out = report(KINO_REPORT_QOE, &q);
	/* nearest rank over 100..2000: p50 = 10th, p90 = 18th, p95 = 19th */
	CHECK_CONTAINS(out, "{\"key\":\"tA\",\"plays\":20,\"startup_ms\":{\"p50\":1000,\"p90\":1800,"
			    "\"p95\":1900,\"n\":20},\"rebuffer_ratio\":0.010000,\"failure_pct\":0.0000,"
			    "\"ebvs_pct\":0.0000,\"avg_bitrate\":2000000}");
	CHECK_CONTAINS(out, "{\"key\":\"tB\",\"plays\":4,\"startup_ms\":{\"p50\":5000,\"p90\":5000,"
			    "\"p95\":5000,\"n\":1},\"rebuffer_ratio\":0.000000,\"failure_pct\":25.0000,"
			    "\"ebvs_pct\":50.0000,\"avg_bitrate\":0}");
	/* overall: 21 startups, p50 = 11th = 1100 */
	CHECK_CONTAINS(out, "\"overall\":{\"key\":\"*\",\"plays\":24,\"startup_ms\":{\"p50\":1100,");
	free(out);

	q.group = KINO_REPORT_GROUP_DAY;
	out = report(KINO_REPORT_QOE, &q);
	CHECK_CONTAINS(out, "\"group_by\":\"day\"");
	CHECK_CONTAINS(out, "{\"key\":\"2026-11-01\",\"plays\":14,");
	CHECK_CONTAINS(out, "{\"key\":\"2026-11-02\",\"plays\":10,\"startup_ms\":{\"p50\":1500,");
	free(out);

	/* filters */
	q.from_ms = DAY2 - 3600000;
	out = report(KINO_REPORT_ENGAGEMENT, &q);
	CHECK_CONTAINS(out, "\"plays\":10,");
	free(out);
	q.from_ms = 0;
	snprintf(q.device, sizeof(q.device), "tv");
	out = report(KINO_REPORT_ENGAGEMENT, &q);
	CHECK_CONTAINS(out, "\"plays\":4,\"unique_viewers\":4,");
	free(out);
	q.device[0] = '\0';

	out = report(KINO_REPORT_CONCURRENCY, &q);
	CHECK_CONTAINS(out, "\"timeline\":[{\"minute\":\"2026-11-01T10:00:00Z\",\"viewers\":5},"
			    "{\"minute\":\"2026-11-01T10:01:00Z\",\"viewers\":7}],"
			    "\"peak\":{\"minute\":\"2026-11-01T10:01:00Z\",\"viewers\":7}");
	free(out);
	snprintf(q.title_id, sizeof(q.title_id), "tB");
	out = report(KINO_REPORT_CONCURRENCY, &q);
	CHECK_CONTAINS(out, "\"peak\":{\"minute\":\"2026-11-01T10:00:00Z\",\"viewers\":2}");
	free(out);
	q.title_id[0] = '\0';

	q.csv = true;
	q.group = KINO_REPORT_GROUP_DEVICE;
	out = report(KINO_REPORT_QOE, &q);
	CHECK_CONTAINS(out, "device,plays,startup_p50_ms,startup_p90_ms,startup_p95_ms,rebuffer_ratio,"
			    "failure_pct,ebvs_pct,avg_bitrate\n");
	CHECK_CONTAINS(out, "\ntv,4,5000,5000,5000,0.000000,25.0000,50.0000,0\n");
	CHECK_CONTAINS(out, "\nweb,20,1000,1800,1900,0.010000,0.0000,0.0000,2000000\n");
	free(out);
	out = report(KINO_REPORT_CONCURRENCY, &q);
	CHECK_STR_EQ(out, "minute,viewers\n2026-11-01T10:00:00Z,5\n2026-11-01T10:01:00Z,7\n");
	free(out);
}

static void test_http_and_cli(void)
{
	kino_config_t cfg;
	kino_error_t err = {0};
	kino_auth_t *auth;
	kino_reports_t reports;
	kino_http_route_t routes[8];
	kino_http_config_t hc = {.host = "127.0.0.1", .port = 0, .max_body = 65536, .workers = 2};
	kino_http_server_t *srv;
	kino_user_t viewer, analyst;
	char vtok[KINO_AUTH_TOKEN_LEN + 1], atok[KINO_AUTH_TOKEN_LEN + 1], url[256], h[128];
	char *body = NULL, *out = NULL, *errout = NULL, env[256], ct[64];
	const char *hdr[2] = {h, NULL};
	tenv_response_t resp;
	size_t n;

	kino_config_defaults(&cfg);
	auth = kino_auth_new(kdb, &cfg.auth, &err);
	CHECK(auth != NULL);
	tenv_user_new(auth, "viewer@example.com", "viewer pass 1", KINO_ROLE_VIEWER, &viewer, vtok);
	tenv_user_new(auth, "analyst@example.com", "analyst pass 1", KINO_ROLE_ANALYST, &analyst,
		      atok);
	kino_reports_init(&reports, kdb, auth);
	n = kino_reports_routes(&reports, routes, 8);
	CHECK_INT_EQ(n, 3);
	srv = kino_http_server_new(&hc, "reports", routes, n, &err);
	CHECK_MSG(srv != NULL, "%s", err.message);
	CHECK(kino_http_server_start(srv, &err) == 0);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/reports/qoe?group=title", kino_http_server_port(srv));
	CHECK_INT_EQ(tenv_http_get(url, &body), 401);
	free(body);
	snprintf(h, sizeof(h), "Authorization: Bearer %s", vtok);
	CHECK_INT_EQ(tenv_http_ex("GET", url, hdr, NULL, &body), 403);
	free(body);
	snprintf(h, sizeof(h), "Authorization: Bearer %s", atok);
	CHECK_INT_EQ(tenv_http_ex("GET", url, hdr, NULL, &body), 200);
	CHECK_CONTAINS(body, "\"p90\":1800");
	free(body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/reports/engagement?format=csv&title=tA",
		 kino_http_server_port(srv));
	tenv_http_full("GET", url, hdr, NULL, &resp);
	CHECK_INT_EQ(resp.status, 200);
	CHECK(tenv_response_header(&resp, "content-type", ct, sizeof(ct)) != NULL);
	CHECK_CONTAINS(ct, "text/csv");
	CHECK_CONTAINS(resp.body, "title_id,plays,unique_viewers,watch_hours,avg_watch_time_s,completion_rate,retention_0,");
	CHECK_CONTAINS(resp.body, "\ntA,20,10,0.3333,60.0,0.2500,1.0000,1.0000,0.9500,");
	tenv_response_free(&resp);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/reports/engagement?from=yesterday",
		 kino_http_server_port(srv));
	CHECK_INT_EQ(tenv_http_ex("GET", url, hdr, NULL, &body), 400);
	CHECK_CONTAINS(body, "from");
	free(body);
	kino_http_server_destroy(srv);
	kino_auth_destroy(auth);

	/* the CLI prints what the API answers */
	snprintf(env, sizeof(env), "KINO_MONGO_URI=%s", tdb.uri);
	CHECK_INT_EQ(tenv_run(tdb.dir, (char *[]){KINO_BIN, "report", "concurrency", "--format", "csv",
						 "--from", "2026-11-01", "--to", "2026-11-02", NULL},
			      (char *[]){env, NULL}, 30000, &out, &errout), 0);
	CHECK_STR_EQ(out, "minute,viewers\n2026-11-01T10:00:00Z,5\n2026-11-01T10:01:00Z,7\n");
	free(out);
	free(errout);
	CHECK_INT_EQ(tenv_run(tdb.dir, (char *[]){KINO_BIN, "report", "qoe", "--group", "device",
						 "--device", "tv", NULL},
			      (char *[]){env, NULL}, 30000, &out, &errout), 0);
	CHECK_CONTAINS(out, "\"group_by\":\"device\",\"overall\":{\"key\":\"*\",\"plays\":4,");
	free(out);
	free(errout);
	CHECK_INT_EQ(tenv_run(tdb.dir, (char *[]){KINO_BIN, "report", "popularity", NULL},
			      (char *[]){env, NULL}, 30000, &out, &errout), 2);
	free(out);
	free(errout);
	CHECK_INT_EQ(tenv_run(tdb.dir, (char *[]){KINO_BIN, "report", "qoe", "--from", "11/01/2026", NULL},
			      (char *[]){env, NULL}, 30000, &out, &errout), 2);
	CHECK_CONTAINS(errout, "--from");
	free(out);
	free(errout);
}

int main(void)
{
	kino_db_config_t dbc = {.timeout_ms = 5000, .health_interval_ms = 500};
	kino_error_t err = {0};

	kino_db_global_init();
	kino_http_global_init();
	tenv_db_start(&tdb);
	snprintf(dbc.uri, sizeof(dbc.uri), "%s", tdb.uri);
	snprintf(dbc.database, sizeof(dbc.database), "kino");
	kdb = kino_db_new(&dbc, &err);
	CHECK_MSG(kdb != NULL, "%s", err.message);
	CHECK_MSG(kino_db_wait_ready(kdb, 20000, &err) == 0, "%s", err.message);
	CHECK(kino_db_monitor_start(kdb, &err) == 0);
	dataset();

	RUN_TEST(test_figures);
	RUN_TEST(test_http_and_cli);

	kino_db_destroy(kdb);
	tenv_db_stop(&tdb);
	kino_db_global_cleanup();
	return 0;
}
