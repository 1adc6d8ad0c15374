/* The telemetry collector's route table: see include/kino/telemetry.h. */
#include "kino/telemetry.h"

kino_http_server_t *kino_telemetry_server_new(const kino_config_t *cfg,
					      kino_health_t *health,
					      kino_metrics_t *metrics,
					      struct kino_error *err)
{
	const kino_http_route_t routes[] = {
		kino_health_route(health),
		kino_metrics_route(metrics),
	};

	return kino_http_server_new(&cfg->telemetry, "telemetry", routes,
				    sizeof(routes) / sizeof(routes[0]), err);
}
