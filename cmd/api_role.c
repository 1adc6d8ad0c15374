/* The API role's wiring: see api_role.h. */
#include "api_role.h"

#include "kino/error.h"

#include <stdio.h>
#include <string.h>

/* playback.keys, or the key file under data_dir that the first start
 * creates. */
static kino_playback_keyring_t *open_keys(const kino_config_t *cfg, kino_error_t *err)
{
	char path[4200];

	if (cfg->playback.keys[0] != '\0')
		return kino_playback_keyring_new(cfg->playback.keys, err);
	snprintf(path, sizeof(path), "%s/keys/playback.keys", cfg->data_dir);
	return kino_playback_keyring_load_or_create(path, err);
}

static int active_streams(void *userdata, double *value)
{
	long long n = 0;
	int ret = kino_catalog_active_streams(userdata, &n, NULL);

	*value = (double)n;
	return ret;
}

int api_role_open(api_role_t *role, const kino_config_t *cfg, kino_db_t *db,
		  api_role_mode_t mode, kino_error_t *err)
{
	char media[4200], master[4300];

	memset(role, 0, sizeof(*role));
	kino_health_init(&role->health, db, "http");
	kino_metrics_init(&role->metrics, db);
	snprintf(media, sizeof(media), "%s/media", cfg->data_dir);
	role->auth = kino_auth_new(db, &cfg->auth, err);
	if (role->auth == NULL)
		goto fail;
	role->keys = open_keys(cfg, err);
	if (role->keys == NULL)
		goto fail;
	role->origin = kino_origin_new(media, role->keys, err);
	if (role->origin == NULL)
		goto fail;
	if (cfg->keys.master[0] != '\0')
		snprintf(master, sizeof(master), "%s", cfg->keys.master);
	else
		snprintf(master, sizeof(master), "%s/keys/master.key", cfg->data_dir);
	role->protection = kino_protection_new(db, role->keys, media, master, err);
	if (role->protection == NULL)
		goto fail;
	role->catalog = kino_catalog_new(db, role->auth, role->keys, cfg, err);
	if (role->catalog == NULL)
		goto fail;
	role->jobs = kino_jobs_new(db, role->auth, cfg, err);
	if (role->jobs == NULL)
		goto fail;
	kino_metrics_gauge_add(&role->metrics, "kino_active_streams",
			       "Playback sessions whose stream lease is live.", active_streams,
			       role->catalog);
	/* Routes of modules core does not link: copied by the server. */
	role->home = kino_home_new(db, role->auth, role->catalog, cfg,
				   mode == API_ROLE_SERVE_AND_RETRAIN, err);
	if (role->home == NULL || (mode != API_ROLE_ROUTES_ONLY && kino_home_start(role->home, err) != 0))
		goto fail;
	kino_http_route_t extra[KINO_JOBS_ROUTES_MAX + KINO_HOME_ROUTES_MAX + 8 +
				KINO_WEB_ROUTES_MAX];
	size_t nextra = kino_jobs_routes(role->jobs, extra, KINO_JOBS_ROUTES_MAX);
	nextra += kino_home_routes(role->home, extra + nextra, KINO_HOME_ROUTES_MAX);
	kino_reports_init(&role->reports, db, role->auth);
	nextra += kino_reports_routes(&role->reports, extra + nextra,
				      sizeof(extra) / sizeof(extra[0]) - nextra);
	/* The apps come last: an unknown /api/... path still gets JSON 404s. */
	role->web = kino_web_new(cfg->web.dist, err);
	if (role->web == NULL)
		goto fail;
	nextra += kino_web_routes(role->web, extra + nextra,
				  sizeof(extra) / sizeof(extra[0]) - nextra);
	kino_api_deps_t deps = {
		.health = &role->health,
		.auth = role->auth,
		.origin = role->origin,
		.protection = role->protection,
		.catalog = role->catalog,
		.metrics = &role->metrics,
		.extra = extra,
		.nextra = nextra,
	};
	role->server = kino_api_server_new(cfg, &deps, err);
	if (role->server == NULL)
		goto fail;
	return 0;
fail:
	api_role_close(role);
	return err != NULL && err->code != 0 ? err->code : KINO_EIO;
}

void api_role_close(api_role_t *role)
{
	kino_http_server_destroy(role->server);
	kino_web_destroy(role->web);
	kino_home_destroy(role->home);
	kino_jobs_destroy(role->jobs);
	kino_catalog_destroy(role->catalog);
	kino_protection_destroy(role->protection);
	kino_origin_destroy(role->origin);
	kino_playback_keyring_destroy(role->keys);
	kino_auth_destroy(role->auth);
	memset(role, 0, sizeof(*role));
}
