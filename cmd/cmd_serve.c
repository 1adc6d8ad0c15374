/* kino serve and kino telemetry: one server role each, on its own, against
 * the configured database (mongo.uri, or the embedded server that a
 * `kino up` on this machine runs). They share everything but the server
 * they start, so they live together. */
#define KINO_LOG_MODULE "main"
#include "commands.h"
#include "service_loop.h"

#include "kino/api.h"
#include "kino/auth.h"
#include "kino/error.h"
#include "kino/health.h"
#include "kino/log.h"
#include "kino/telemetry.h"

#include <stdio.h>

typedef kino_http_server_t *(*server_new_fn)(const kino_config_t *cfg,
					     kino_health_t *health,
					     kino_auth_t *auth,
					     kino_error_t *err);

static kino_http_server_t *api_new(const kino_config_t *cfg, kino_health_t *health,
				   kino_auth_t *auth, kino_error_t *err)
{
	return kino_api_server_new(cfg, health, auth, NULL, 0, err);
}

/* The collector needs no accounts; it checks playback sessions instead. */
static kino_http_server_t *telemetry_new(const kino_config_t *cfg,
					 kino_health_t *health, kino_auth_t *auth,
					 kino_error_t *err)
{
	(void)auth;
	return kino_telemetry_server_new(cfg, health, err);
}

static int run_role(const kino_config_t *cfg, const char *service,
		    server_new_fn server_new)
{
	kino_http_server_t *srv = NULL;
	kino_auth_t *auth = NULL;
	kino_db_t *db = NULL;
	kino_health_t health;
	kino_error_t err = {0};
	int ret = KINO_EXIT_FAILURE;

	kino_service_signals_block();
	db = kino_db_new(&cfg->db, &err);
	if (db == NULL) {
		fprintf(stderr, "kino %s: %s\n", service, kino_error_message(&err));
		return err.code == KINO_ECONFIG ? KINO_EXIT_USAGE : KINO_EXIT_FAILURE;
	}
	kino_health_init(&health, db, service);
	auth = kino_auth_new(db, &cfg->auth, &err);
	if (auth != NULL)
		srv = server_new(cfg, &health, auth, &err);
	if (srv == NULL) {
		fprintf(stderr, "kino %s: %s\n", service, kino_error_message(&err));
		goto out;
	}
	if (kino_db_monitor_start(db, &err) != 0 ||
	    kino_http_server_start(srv, &err) != 0) {
		fprintf(stderr, "kino %s: %s\n", service, kino_error_message(&err));
		goto out;
	}
	kino_service_wait(1000, NULL, NULL);
	ret = KINO_EXIT_OK;
out:
	kino_http_server_destroy(srv);
	kino_auth_destroy(auth);
	kino_db_destroy(db);
	return ret;
}

static int run_serve(int argc, char **argv, const kino_config_t *cfg)
{
	if (argc > 1) {
		fprintf(stderr, "kino serve: unexpected argument '%s'\n", argv[1]);
		return KINO_EXIT_USAGE;
	}
	return run_role(cfg, "http", api_new);
}

static int run_telemetry(int argc, char **argv, const kino_config_t *cfg)
{
	if (argc > 1) {
		fprintf(stderr, "kino telemetry: unexpected argument '%s'\n", argv[1]);
		return KINO_EXIT_USAGE;
	}
	return run_role(cfg, "telemetry", telemetry_new);
}

const kino_command_t kino_cmd_serve = {
	.name = "serve",
	.summary = "run the HTTP API, the origin and the web front-ends",
	.usage = "Usage: kino serve\n"
		 "\n"
		 "Runs the HTTP server on http.listen (default 127.0.0.1:8080): the API\n"
		 "under /api/v1, the origin for manifests and segments, the web\n"
		 "front-ends, and GET /healthz. It connects to mongo.uri, or to the\n"
		 "embedded server of a `kino up` on this machine when mongo.uri is empty.\n"
		 "Stops cleanly on SIGINT or SIGTERM.\n",
	.run = run_serve,
};

const kino_command_t kino_cmd_telemetry = {
	.name = "telemetry",
	.summary = "run the QoE beacon collector (WebSocket)",
	.usage = "Usage: kino telemetry\n"
		 "\n"
		 "Runs the beacon collector on telemetry.listen (default 127.0.0.1:8081),\n"
		 "with GET /healthz. Collectors are stateless: run as many as you need\n"
		 "behind a load balancer. Stops cleanly on SIGINT or SIGTERM.\n",
	.run = run_telemetry,
};
