/* The API server: the HTTP API under /api/v1, the origin for manifests and
 * segments, and the web front-ends, on http.listen (127.0.0.1:8080). Today
 * it serves /healthz, the accounts routes (/api/v1/auth/...) and the origin
 * (/media/...); other modules' routes come in through kino_api_deps_t. */
#ifndef KINO_API_H
#define KINO_API_H

#include "kino/auth.h"
#include "kino/catalog.h"
#include "kino/config.h"
#include "kino/health.h"
#include "kino/http.h"
#include "kino/metrics.h"
#include "kino/origin.h"
#include "kino/protection.h"

struct kino_error;

/* What the API server serves, besides its own routes. Everything is
 * borrowed and must outlive the server. */
typedef struct kino_api_deps {
	kino_health_t *health;
	kino_auth_t *auth;
	kino_origin_t *origin;
	kino_protection_t *protection; /* key routes, matched before the origin */
	kino_catalog_t *catalog; /* titles, entitlement, playback sessions */
	kino_metrics_t *metrics;
	const kino_http_route_t *extra; /* modules core does not know (ingest
					 * jobs and uploads, reports, home rows),
					 * collected by cmd/; copied */
	size_t nextra;
} kino_api_deps_t;

/* Binds http.listen (KINO_EADDRINUSE when taken). Free with
 * kino_http_server_destroy(). */
kino_http_server_t *kino_api_server_new(const kino_config_t *cfg,
					const kino_api_deps_t *deps,
					struct kino_error *err);

#endif
