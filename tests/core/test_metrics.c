/* /metrics: requests counted by route, method and status, latency
 * histograms whose buckets add up, the database gauges, and gauges from
 * other modules (a failing one is left out, not reported as zero). */
#include "check.h"
#include "testenv.h"

#include "kino/error.h"
#include "kino/http.h"
#include "kino/metrics.h"

static void hello(kino_http_request_t *req, void *ud)
{
	(void)ud;
	kino_http_respond(req, 200, "text/plain", "hi", 2);
}

static int streams(void *ud, double *v)
{
	(void)ud;
	*v = 7;
	return 0;
}

static int broken(void *ud, double *v)
{
	(void)ud;
	(void)v;
	return KINO_EDB;
}

int main(void)
{
	kino_http_config_t cfg = {.host = "127.0.0.1", .port = 0, .max_body = 16, .workers = 1};
	kino_db_config_t dcfg = {.database = "x", .health_interval_ms = 1000, .timeout_ms = 200};
	kino_error_t err = {0};
	kino_metrics_t m;
	char base[64], url[128], *body;
	kino_db_t *db;

	kino_db_global_init();
	snprintf(dcfg.uri, sizeof(dcfg.uri), "mongodb://127.0.0.1:%d/", tenv_free_port());
	db = kino_db_new(&dcfg, &err);
	CHECK(db != NULL);
	kino_metrics_init(&m, db);
	CHECK_INT_EQ(kino_metrics_gauge_add(&m, "kino_active_streams", "Streams playing.", streams, NULL), 0);
	CHECK_INT_EQ(kino_metrics_gauge_add(&m, "kino_broken", "Never shown.", broken, NULL), 0);
	kino_http_route_t routes[] = {
		{.method = "GET", .pattern = "/hello", .handler = hello},
		{.method = "POST", .pattern = "/hello", .handler = hello},
		kino_metrics_route(&m),
	};
	kino_http_global_init();
	kino_http_server_t *srv = kino_http_server_new(&cfg, "test", routes, 3, &err);
	CHECK(srv != NULL);
	CHECK_INT_EQ(kino_http_server_start(srv, &err), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));

	snprintf(url, sizeof(url), "%s/hello", base);
	for (int i = 0; i < 5; i++)
		CHECK_INT_EQ(tenv_http_get(url, NULL), 200);
	CHECK_INT_EQ(tenv_http("POST", url, "this body is far too long", NULL), 413);
	snprintf(url, sizeof(url), "%s/nope", base);
	CHECK_INT_EQ(tenv_http_get(url, NULL), 404);
	CHECK_INT_EQ(tenv_http_get(url, NULL), 404);

	snprintf(url, sizeof(url), "%s/metrics", base);
	CHECK_INT_EQ(tenv_http_get(url, &body), 200);
	CHECK_CONTAINS(body, "# TYPE kino_http_requests_total counter\n");
	CHECK_CONTAINS(body, "kino_http_requests_total{server=\"test\",method=\"GET\",route=\"/hello\",code=\"200\"} 5\n");
	CHECK_CONTAINS(body, "kino_http_requests_total{server=\"test\",method=\"POST\",route=\"/hello\",code=\"413\"} 1\n");
	CHECK_CONTAINS(body, "kino_http_requests_total{server=\"test\",method=\"\",route=\"unrouted\",code=\"404\"} 2\n");
	CHECK_CONTAINS(body, "# TYPE kino_http_request_duration_seconds histogram\n");
	CHECK_CONTAINS(body, "kino_http_request_duration_seconds_bucket{server=\"test\",method=\"GET\",route=\"/hello\",le=\"+Inf\"} 5\n");
	CHECK_CONTAINS(body, "kino_http_request_duration_seconds_count{server=\"test\",method=\"GET\",route=\"/hello\"} 5\n");
	CHECK_CONTAINS(body, "kino_db_up 0\n");
	CHECK_CONTAINS(body, "kino_db_errors_total 0\n");
	CHECK_CONTAINS(body, "# TYPE kino_active_streams gauge\nkino_active_streams 7\n");
	CHECK(strstr(body, "kino_broken") == NULL);
	free(body);

	/* The second scrape counts the first. */
	CHECK_INT_EQ(tenv_http_get(url, &body), 200);
	CHECK_CONTAINS(body, "route=\"/metrics\",code=\"200\"} 1\n");
	free(body);

	kino_db_record_error(db);
	CHECK_INT_EQ(kino_db_error_count(db), 1);
	kino_http_server_destroy(srv);
	kino_db_destroy(db);
	kino_db_global_cleanup();
	return 0;
}
