/* GET /metrics in the Prometheus text format: the server's requests by
 * route and status and their latency histograms (kino/http.h), the
 * database's state and error count, and gauges that other modules provide
 * (active streams, for one). The route is blocking, so a gauge may query
 * the database. Bind the servers to a private address or filter /metrics
 * at the load balancer: it is operational detail, not for the public. */
#ifndef KINO_METRICS_H
#define KINO_METRICS_H

#include "kino/db.h"
#include "kino/http.h"

#define KINO_METRICS_GAUGES_MAX 16

/* Writes the gauge's current value; returns 0, or an error code to leave
 * the gauge out of this scrape. */
typedef int (*kino_metrics_gauge_fn)(void *userdata, double *value);

typedef struct kino_metrics_gauge {
	const char *name; /* "kino_active_streams"; borrowed */
	const char *help; /* borrowed */
	kino_metrics_gauge_fn fn;
	void *userdata;
} kino_metrics_gauge_t;

/* Caller-owned; must outlive the server whose table has its route. */
typedef struct kino_metrics {
	kino_db_t *db; /* borrowed */
	kino_metrics_gauge_t gauges[KINO_METRICS_GAUGES_MAX];
	int ngauges;
} kino_metrics_t;

void kino_metrics_init(kino_metrics_t *m, kino_db_t *db);

/* KINO_ETOOBIG past KINO_METRICS_GAUGES_MAX. */
int kino_metrics_gauge_add(kino_metrics_t *m, const char *name, const char *help,
			   kino_metrics_gauge_fn fn, void *userdata);

kino_http_route_t kino_metrics_route(kino_metrics_t *m);

#endif
