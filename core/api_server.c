/* The API server's route table: see include/kino/api.h. */
#include "kino/api.h"

#include "kino/error.h"

#define MAX_ROUTES 64

kino_http_server_t *kino_api_server_new(const kino_config_t *cfg,
					kino_health_t *health,
					kino_auth_t *auth,
					const kino_http_route_t *extra,
					size_t nextra,
					struct kino_error *err)
{
	kino_http_route_t routes[MAX_ROUTES];
	size_t n = 0;

	routes[n++] = kino_health_route(health);
	n += kino_auth_routes(auth, routes + n, MAX_ROUTES - n);
	if (nextra > MAX_ROUTES - n) {
		kino_error_set(err, KINO_EINVAL, "too many routes for the API server (%zu)",
			       n + nextra);
		return NULL;
	}
	for (size_t i = 0; i < nextra; i++)
		routes[n++] = extra[i];
	return kino_http_server_new(&cfg->http, "http", routes, n, err);
}
