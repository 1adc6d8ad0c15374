/* The API server: the HTTP API under /api/v1, the origin for manifests and
 * segments, and the web front-ends, on http.listen (127.0.0.1:8080). Today
 * it serves /healthz and the accounts routes (/api/v1/auth/...); the core,
 * ingest and web issues add their routes to its table in core/api_server.c. */
#ifndef KINO_API_H
#define KINO_API_H

#include "kino/auth.h"
#include "kino/config.h"
#include "kino/health.h"
#include "kino/http.h"

struct kino_error;

/* Binds http.listen (KINO_EADDRINUSE when taken). health and auth are
 * borrowed and must outlive the server. `extra` are the routes of modules
 * that core does not know (ingest jobs and uploads, reports, home rows),
 * which cmd/ collects; copied, their userdata borrowed. Free with
 * kino_http_server_destroy(). */
kino_http_server_t *kino_api_server_new(const kino_config_t *cfg,
					kino_health_t *health,
					kino_auth_t *auth,
					const kino_http_route_t *extra,
					size_t nextra,
					struct kino_error *err);

#endif
