/* `kino serve` and `kino telemetry` against a database that goes away:
 * /healthz answers 200 while it is up, 503 while it is stopped (and the
 * servers keep running), and 200 again once it is back on the same port. */
#include "check.h"
#include "testenv.h"

#include <signal.h>
#include <stdio.h>

static char dir[512];

static void wait_status(const char *url, int want, int timeout_ms, const char *why)
{
	bool ok;
	int got = 0;

	TENV_WAIT_UNTIL(ok, (got = tenv_http_get(url, NULL)) == want, timeout_ms);
	CHECK_MSG(ok, "%s: %s answered %d, not %d", why, url, got, want);
}

int main(void)
{
	tenv_db_t db;
	tenv_proc_t serve, tel;
	char env_uri[200], env_http[64], env_tel[64], url[128], tel_url[128];
	char *body;

	tenv_tmpdir(dir, sizeof(dir), "serve");
	tenv_db_start(&db);
	int http = tenv_free_port(), telp = tenv_free_port();
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", http);
	snprintf(env_tel, sizeof(env_tel), "KINO_TELEMETRY_LISTEN=127.0.0.1:%d", telp);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", http);
	snprintf(tel_url, sizeof(tel_url), "http://127.0.0.1:%d/healthz", telp);
	char *env[] = {env_uri, env_http, env_tel, "KINO_MONGO_HEALTH_INTERVAL=200ms",
		       "KINO_MONGO_TIMEOUT=1s", NULL};

	tenv_proc_spawn(&serve, dir, (char *[]){KINO_BIN, "serve", NULL}, env);
	tenv_proc_spawn(&tel, dir, (char *[]){KINO_BIN, "telemetry", NULL}, env);
	wait_status(url, 200, 20000, "serve with the database up");
	wait_status(tel_url, 200, 20000, "telemetry with the database up");
	CHECK_INT_EQ(tenv_http_get(tel_url, &body), 200);
	CHECK_CONTAINS(body, "\"service\":\"telemetry\"");
	free(body);

	fprintf(stderr, "-- the database stops\n");
	tenv_db_kill(&db);
	wait_status(url, 503, 10000, "serve with the database stopped");
	wait_status(tel_url, 503, 10000, "telemetry with the database stopped");
	CHECK_INT_EQ(tenv_http_get(url, &body), 503);
	CHECK_CONTAINS(body, "\"db\":\"unreachable\"");
	free(body);
	CHECK(!tenv_proc_wait(&serve, 0));
	CHECK(!tenv_proc_wait(&tel, 0));

	fprintf(stderr, "-- the database returns\n");
	tenv_db_restart(&db);
	wait_status(url, 200, 20000, "serve after the database returned");
	wait_status(tel_url, 200, 20000, "telemetry after the database returned");

	kill(serve.pid, SIGTERM);
	kill(tel.pid, SIGTERM);
	CHECK(tenv_proc_wait(&serve, 15000));
	CHECK(tenv_proc_wait(&tel, 15000));
	CHECK_INT_EQ(tenv_proc_exit_code(&serve), 0);
	CHECK_INT_EQ(tenv_proc_exit_code(&tel), 0);
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	return 0;
}
