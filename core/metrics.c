/* GET /metrics: see include/kino/metrics.h. */
#include "kino/metrics.h"

#include "kino/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kino_metrics_init(kino_metrics_t *m, kino_db_t *db)
{
	memset(m, 0, sizeof(*m));
	m->db = db;
}

int kino_metrics_gauge_add(kino_metrics_t *m, const char *name, const char *help,
			   kino_metrics_gauge_fn fn, void *userdata)
{
	if (m->ngauges == KINO_METRICS_GAUGES_MAX)
		return KINO_ETOOBIG;
	m->gauges[m->ngauges++] = (kino_metrics_gauge_t){name, help, fn, userdata};
	return 0;
}

static void render(kino_http_request_t *req, void *userdata)
{
	kino_metrics_t *m = userdata;
	char *out = NULL, line[512];
	size_t len = 0;

	if (kino_http_server_metrics(kino_http_request_server(req), &out, &len) != 0) {
		free(out);
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		return;
	}
	/* The rest is short: one line at a time through a small buffer. */
	for (int i = -2; i < m->ngauges; i++) {
		double value = 0;
		int n;

		if (i == -2)
			n = snprintf(line, sizeof(line),
				     "# HELP kino_db_up Whether the database answered its last ping.\n"
				     "# TYPE kino_db_up gauge\nkino_db_up %d\n",
				     kino_db_health(m->db, NULL, 0) == KINO_DB_OK);
		else if (i == -1)
			n = snprintf(line, sizeof(line),
				     "# HELP kino_db_errors_total Database operations that failed.\n"
				     "# TYPE kino_db_errors_total counter\nkino_db_errors_total %llu\n",
				     kino_db_error_count(m->db));
		else if (m->gauges[i].fn(m->gauges[i].userdata, &value) == 0)
			n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n",
				     m->gauges[i].name, m->gauges[i].help, m->gauges[i].name,
				     m->gauges[i].name, value);
		else
			continue;
		char *grown = realloc(out, len + (size_t)n + 1);
		if (grown == NULL) {
			free(out);
			kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
			return;
		}
		out = grown;
		memcpy(out + len, line, (size_t)n + 1);
		len += (size_t)n;
	}
	kino_http_response_header(req, "Cache-Control", "no-store");
	kino_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", out, len);
	free(out);
}

kino_http_route_t kino_metrics_route(kino_metrics_t *m)
{
	return (kino_http_route_t){
		.method = "GET",
		.pattern = "/metrics",
		.handler = render,
		.mode = KINO_HTTP_BLOCKING,
		.userdata = m,
	};
}
