/* The API role, as both `kino up` and `kino serve` run it: accounts, the
 * playback keyring, the origin and the modules whose routes the API server
 * carries, wired together once here so the two commands cannot drift.
 * Private to cmd/. */
#ifndef KINO_CMD_API_ROLE_H
#define KINO_CMD_API_ROLE_H

#include "kino/api.h"
#include "kino/auth.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/health.h"
#include "kino/home.h"
#include "kino/jobs.h"
#include "kino/telemetry.h"
#include "kino/web.h"
#include "kino/origin.h"
#include "kino/playback.h"

struct kino_error;

typedef struct api_role {
	kino_health_t health;
	kino_metrics_t metrics;
	kino_auth_t *auth;
	kino_playback_keyring_t *keys;
	kino_origin_t *origin;
	kino_protection_t *protection;
	kino_catalog_t *catalog;
	kino_jobs_t *jobs;         /* uploads and ingest jobs (routes) */
	kino_home_t *home;         /* the home screen and the recommender's admin (routes) */
	kino_reports_t reports;    /* the analysts' reports (routes) */
	kino_web_t *web;           /* the web apps (routes, after the API's) */
	kino_http_server_t *server;
} api_role_t;

typedef enum api_role_mode {
	API_ROLE_SERVE,             /* kino serve */
	API_ROLE_SERVE_AND_RETRAIN, /* kino up: also retrains the recommender on a schedule */
	API_ROLE_ROUTES_ONLY,       /* kino serve --print-routes: no threads, no disk */
} api_role_mode_t;

/* Builds everything and binds http.listen; nothing is served until
 * kino_http_server_start(role->server). db is borrowed. On error the role
 * is closed again and err says why. */
int api_role_open(api_role_t *role, const kino_config_t *cfg, kino_db_t *db,
		  api_role_mode_t mode, struct kino_error *err);

/* Stops the server and frees the rest; safe on a role that failed to open. */
void api_role_close(api_role_t *role);

#endif
