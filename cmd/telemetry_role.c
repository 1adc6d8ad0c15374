/* The telemetry role's wiring: see telemetry_role.h. */
#include "telemetry_role.h"

#include "kino/error.h"

#include <string.h>

int telemetry_role_open(telemetry_role_t *role, const kino_config_t *cfg, kino_db_t *db,
			kino_error_t *err)
{
	memset(role, 0, sizeof(*role));
	kino_health_init(&role->health, db, "telemetry");
	kino_metrics_init(&role->metrics, db);
	role->telemetry = kino_telemetry_new(cfg, db, &role->health, &role->metrics,
					     &cfg->telemetry_limits, err);
	if (role->telemetry == NULL)
		return err != NULL && err->code != 0 ? err->code : KINO_EIO;
	role->server = kino_telemetry_server(role->telemetry);
	return 0;
}

void telemetry_role_close(telemetry_role_t *role)
{
	kino_telemetry_destroy(role->telemetry); /* its server, then its collector */
	memset(role, 0, sizeof(*role));
}
