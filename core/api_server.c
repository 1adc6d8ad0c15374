/* The API server's route table: see include/kino/api.h. */
#include "kino/api.h"

kino_http_server_t *kino_api_server_new(const kino_config_t *cfg,
					kino_health_t *health,
					struct kino_error *err)
{
	const kino_http_route_t routes[] = {
		kino_health_route(health),
	};

	return kino_http_server_new(&cfg->http, "http", routes,
				    sizeof(routes) / sizeof(routes[0]), err);
}
