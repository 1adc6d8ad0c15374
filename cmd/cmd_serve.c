/* kino serve and kino telemetry: one server role each, on its own, against
 * the configured database (mongo.uri, or the embedded server that a
 * `kino up` on this machine runs). They differ only in the server they
 * start, so they live together. */
#define KINO_LOG_MODULE "main"
#include "api_role.h"
#include "telemetry_role.h"
#include "commands.h"
#include "service_loop.h"

#include "kino/error.h"
#include "kino/health.h"
#include "kino/log.h"
#include "kino/telemetry.h"

#include <stdio.h>
#include <string.h>

/* Opens the database, lets `start` build the role's server, serves until a
 * stop signal, and lets `stop` tear it down. */
typedef struct role_ops {
	const char *name;
	int (*start)(void *state, const kino_config_t *cfg, kino_db_t *db,
		     kino_http_server_t **server, kino_error_t *err);
	void (*stop)(void *state);
} role_ops_t;

static int run_role(const kino_config_t *cfg, const role_ops_t *ops, void *state,
		    int argc, char **argv)
{
	kino_http_server_t *server = NULL;
	kino_error_t err = {0};
	kino_db_t *db = NULL;
	int ret = KINO_EXIT_FAILURE;

	if (argc > 1) {
		fprintf(stderr, "kino %s: unexpected argument '%s'\n", argv[0], argv[1]);
		return KINO_EXIT_USAGE;
	}
	kino_service_signals_block();
	db = kino_db_new(&cfg->db, &err);
	if (db == NULL) {
		fprintf(stderr, "kino %s: %s\n", argv[0], kino_error_message(&err));
		return err.code == KINO_ECONFIG ? KINO_EXIT_USAGE : KINO_EXIT_FAILURE;
	}
	if (ops->start(state, cfg, db, &server, &err) != 0 ||
	    kino_db_monitor_start(db, &err) != 0 ||
	    kino_http_server_start(server, &err) != 0) {
		fprintf(stderr, "kino %s: %s\n", argv[0], kino_error_message(&err));
		if (err.code == KINO_ECONFIG)
			ret = KINO_EXIT_USAGE;
		goto out;
	}
	kino_service_wait(1000, NULL, NULL);
	ret = KINO_EXIT_OK;
out:
	ops->stop(state);
	kino_db_destroy(db);
	return ret;
}

static int api_start(void *state, const kino_config_t *cfg, kino_db_t *db,
		     kino_http_server_t **server, kino_error_t *err)
{
	api_role_t *role = state;
	int ret = api_role_open(role, cfg, db, API_ROLE_SERVE, err);

	*server = role->server;
	return ret;
}

static void api_stop(void *state)
{
	api_role_close(state);
}

static int telemetry_start(void *state, const kino_config_t *cfg, kino_db_t *db,
			   kino_http_server_t **server, kino_error_t *err)
{
	telemetry_role_t *role = state;
	int ret = telemetry_role_open(role, cfg, db, err);

	*server = role->server;
	return ret;
}

static void telemetry_stop(void *state)
{
	telemetry_role_close(state);
}

/* kino serve --print-routes: the API role's route table, one
 * "METHOD PATTERN" a line, without serving (it binds a throwaway port). */
static int print_routes(const kino_config_t *cfg)
{
	kino_config_t quiet = *cfg;
	kino_error_t err = {0};
	api_role_t role = {0};
	kino_db_t *db = kino_db_new(&cfg->db, &err);
	int ret = KINO_EXIT_FAILURE;

	quiet.http.port = 0;
	snprintf(quiet.http.host, sizeof(quiet.http.host), "127.0.0.1");
	if (db == NULL || api_role_open(&role, &quiet, db, API_ROLE_ROUTES_ONLY, &err) != 0) {
		fprintf(stderr, "kino serve: %s\n", kino_error_message(&err));
		goto out;
	}
	for (size_t i = 0; i < kino_http_server_route_count(role.server); i++) {
		const kino_http_route_t *r = kino_http_server_route(role.server, i);
		printf("%s %s\n", r->method, r->pattern);
	}
	ret = KINO_EXIT_OK;
out:
	api_role_close(&role);
	kino_db_destroy(db);
	return ret;
}

static int run_serve(int argc, char **argv, const kino_config_t *cfg)
{
	static const role_ops_t ops = {"serve", api_start, api_stop};
	api_role_t role = {0};

	if (argc == 2 && strcmp(argv[1], "--print-routes") == 0)
		return print_routes(cfg);
	return run_role(cfg, &ops, &role, argc, argv);
}

static int run_telemetry(int argc, char **argv, const kino_config_t *cfg)
{
	static const role_ops_t ops = {"telemetry", telemetry_start, telemetry_stop};
	telemetry_role_t role = {0};

	return run_role(cfg, &ops, &role, argc, argv);
}

const kino_command_t kino_cmd_serve = {
	.name = "serve",
	.summary = "run the HTTP API, the origin and the web front-ends",
	.usage = "Usage: kino serve [--print-routes]\n"
		 "\n"
		 "Runs the HTTP server on http.listen (default 127.0.0.1:8080): the API\n"
		 "under /api/v1, the origin for manifests and segments under /media,\n"
		 "the web front-ends, and GET /healthz. It connects to mongo.uri, or to\n"
		 "the embedded server of a `kino up` on this machine when mongo.uri is\n"
		 "empty. Stops cleanly on SIGINT or SIGTERM.\n"
		 "\n"
		 "--print-routes  print the route table (METHOD PATTERN) and exit;\n"
		 "                docs/openapi.yaml must list the same routes.\n",
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
