/* Telemetry: the collector that video players stream QoE beacons to, on
 * telemetry.listen (127.0.0.1:8081). Stateless, so many can run behind a
 * load balancer. Today it serves /healthz and /metrics; the telemetry issue adds the
 * beacon WebSocket (/v1/beacons), its HTTP fallback and the writers. */
#ifndef KINO_TELEMETRY_H
#define KINO_TELEMETRY_H

#include "kino/config.h"
#include "kino/health.h"
#include "kino/http.h"
#include "kino/metrics.h"

struct kino_error;

/* Binds telemetry.listen (KINO_EADDRINUSE when taken). health and metrics
 * are borrowed and must outlive the server. Free with
 * kino_http_server_destroy(). */
kino_http_server_t *kino_telemetry_server_new(const kino_config_t *cfg,
					      kino_health_t *health,
					      kino_metrics_t *metrics,
					      struct kino_error *err);

#endif
