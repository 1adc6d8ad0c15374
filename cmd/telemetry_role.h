/* The telemetry role, as both `kino up` and `kino telemetry` run it: the
 * collector with its own /healthz and /metrics, built once here so the two
 * commands cannot drift. Private to cmd/. */
#ifndef KINO_CMD_TELEMETRY_ROLE_H
#define KINO_CMD_TELEMETRY_ROLE_H

#include "kino/config.h"
#include "kino/db.h"
#include "kino/health.h"
#include "kino/metrics.h"
#include "kino/telemetry.h"

struct kino_error;

typedef struct telemetry_role {
	kino_health_t health;
	kino_metrics_t metrics;
	kino_telemetry_t *telemetry;
	kino_http_server_t *server; /* the telemetry's, borrowed from it */
} telemetry_role_t;

/* Builds the collector and binds telemetry.listen; nothing is served until
 * kino_http_server_start(role->server). db is borrowed. On error the role is
 * closed again and err says why. */
int telemetry_role_open(telemetry_role_t *role, const kino_config_t *cfg, kino_db_t *db,
			struct kino_error *err);

/* Stops its server, then its collector; safe on a role that failed to open. */
void telemetry_role_close(telemetry_role_t *role);

#endif
