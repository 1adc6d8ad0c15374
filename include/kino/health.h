/* GET /healthz, the same on every server role: 200 with
 *     {"status":"ok","service":"http","version":"0.1.0","uptime_s":12,"db":"ok"}
 * while the database answers pings, 503 with "db":"unreachable" (and the
 * reason in "db_error") while it does not. It reads the state that the
 * database monitor publishes, so it never blocks its event loop. */
#ifndef KINO_HEALTH_H
#define KINO_HEALTH_H

#include "kino/db.h"
#include "kino/http.h"

#include <time.h>

typedef struct kino_health {
	kino_db_t *db;       /* borrowed; its monitor must be started */
	const char *service; /* "http", "telemetry" */
	time_t started;
} kino_health_t;

/* Caller-owned; must outlive every server whose routes use it. */
void kino_health_init(kino_health_t *health, kino_db_t *db, const char *service);

/* The route to put in a server's table (inline: it never blocks). */
kino_http_route_t kino_health_route(kino_health_t *health);

#endif
