/* GET /api/v1/reports/{engagement,qoe,concurrency}: the reports of
 * report.c over HTTP, for analysts (role analyst or above).
 *
 *   ?from=2026-11-01&to=2026-11-08   start time range (dates or UTC times)
 *   &title=<title_id>&device=<device>
 *   &group=title|device|day          (qoe)
 *   &top=10                          (engagement)
 *   &format=json|csv
 *
 * Blocking routes: they read MongoDB on a worker thread. */
#include "telemetry_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kino_reports_init(kino_reports_t *r, kino_db_t *db, kino_auth_t *auth)
{
	r->db = db;
	r->auth = auth;
}

/* Reads the query string into q; on false the request has been answered. */
static bool parse_query(kino_http_request_t *req, kino_report_query_t *q)
{
	kino_error_t err = {0};
	const char *v;

	memset(q, 0, sizeof(*q));
	q->top = 10;
	if ((v = kino_http_request_query(req, "from")) != NULL &&
	    kino_report_date_parse(v, "from", &q->from_ms, &err) != 0)
		goto bad;
	if ((v = kino_http_request_query(req, "to")) != NULL &&
	    kino_report_date_parse(v, "to", &q->to_ms, &err) != 0)
		goto bad;
	if ((v = kino_http_request_query(req, "title")) != NULL) {
		if (strlen(v) >= sizeof(q->title_id)) {
			kino_error_set(&err, KINO_EINVAL, "title is too long");
			goto bad;
		}
		snprintf(q->title_id, sizeof(q->title_id), "%s", v);
	}
	if ((v = kino_http_request_query(req, "device")) != NULL) {
		if (strlen(v) >= sizeof(q->device)) {
			kino_error_set(&err, KINO_EINVAL, "device is too long");
			goto bad;
		}
		snprintf(q->device, sizeof(q->device), "%s", v);
	}
	if ((v = kino_http_request_query(req, "group")) != NULL) {
		if (strcmp(v, "title") == 0)
			q->group = KINO_REPORT_GROUP_TITLE;
		else if (strcmp(v, "device") == 0)
			q->group = KINO_REPORT_GROUP_DEVICE;
		else if (strcmp(v, "day") == 0)
			q->group = KINO_REPORT_GROUP_DAY;
		else {
			kino_error_set(&err, KINO_EINVAL, "group must be title, device or day");
			goto bad;
		}
	}
	if ((v = kino_http_request_query(req, "top")) != NULL) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*end != '\0' || n < 1 || n > 1000) {
			kino_error_set(&err, KINO_EINVAL, "top must be 1 to 1000");
			goto bad;
		}
		q->top = (int)n;
	}
	if ((v = kino_http_request_query(req, "format")) != NULL) {
		if (strcmp(v, "csv") == 0)
			q->csv = true;
		else if (strcmp(v, "json") != 0) {
			kino_error_set(&err, KINO_EINVAL, "format must be json or csv");
			goto bad;
		}
	}
	return true;
bad:
	kino_http_respond_error(req, KINO_EINVAL, kino_error_message(&err));
	return false;
}

static void serve(kino_http_request_t *req, kino_reports_t *r, kino_report_kind_t kind)
{
	kino_report_query_t q;
	kino_user_t user;
	kino_error_t err = {0};
	char *out = NULL;
	size_t len = 0;

	if (kino_auth_require(r->auth, req, KINO_ROLE_ANALYST, &user) != 0)
		return;
	if (!parse_query(req, &q))
		return;
	if (kino_report_run(r->db, kind, &q, &out, &len, &err) != 0) {
		kino_http_respond_error(req, err.code, kino_error_message(&err));
		return;
	}
	kino_http_response_header(req, "Cache-Control", "no-store");
	if (q.csv)
		kino_http_respond(req, 200, "text/csv; charset=utf-8", out, len);
	else
		kino_http_respond_json(req, 200, out);
	free(out);
}

static void engagement(kino_http_request_t *req, void *ud)
{
	serve(req, ud, KINO_REPORT_ENGAGEMENT);
}

static void qoe(kino_http_request_t *req, void *ud)
{
	serve(req, ud, KINO_REPORT_QOE);
}

static void concurrency(kino_http_request_t *req, void *ud)
{
	serve(req, ud, KINO_REPORT_CONCURRENCY);
}

size_t kino_reports_routes(kino_reports_t *r, kino_http_route_t *out, size_t max)
{
	const kino_http_route_t routes[] = {
		{.method = "GET", .pattern = "/api/v1/reports/engagement", .handler = engagement,
		 .mode = KINO_HTTP_BLOCKING, .userdata = r},
		{.method = "GET", .pattern = "/api/v1/reports/qoe", .handler = qoe,
		 .mode = KINO_HTTP_BLOCKING, .userdata = r},
		{.method = "GET", .pattern = "/api/v1/reports/concurrency", .handler = concurrency,
		 .mode = KINO_HTTP_BLOCKING, .userdata = r},
	};
	size_t n = 0;

	for (; n < max && n < sizeof(routes) / sizeof(routes[0]); n++)
		out[n] = routes[n];
	return n;
}
