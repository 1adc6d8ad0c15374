/* The API server's route table: see include/kino/api.h. */
#include "kino/api.h"

#include "kino/error.h"

#define MAX_ROUTES 96

kino_http_server_t *kino_api_server_new(const kino_config_t *cfg,
					const kino_api_deps_t *deps,
					struct kino_error *err)
{
	kino_http_route_t routes[MAX_ROUTES];
	size_t n = 0;

	routes[n++] = kino_health_route(deps->health);
	routes[n++] = kino_metrics_route(deps->metrics);
	n += kino_auth_routes(deps->auth, routes + n, MAX_ROUTES - n);
	/* The key routes live under /media/<token>/ too: they come first. */
	n += kino_protection_routes(deps->protection, routes + n, MAX_ROUTES - n);
	n += kino_origin_routes(deps->origin, routes + n, MAX_ROUTES - n);
	n += kino_catalog_routes(deps->catalog, routes + n, MAX_ROUTES - n);
	if (deps->nextra > MAX_ROUTES - n) {
		kino_error_set(err, KINO_EINVAL, "too many routes for the API server (%zu)",
			       n + deps->nextra);
		return NULL;
	}
	for (size_t i = 0; i < deps->nextra; i++)
		routes[n++] = deps->extra[i];
	return kino_http_server_new(&cfg->http, "http", routes, n, err);
}
