/* scripts/demo-seed, as scripts/up runs it: against a `kino up` (API,
 * telemetry and a worker) on a FerretDB of the test's own, it publishes six
 * titles that the demo viewer can list and play, keeps the accounts'
 * passwords in a 0600 file, has simulated viewers watch through the real
 * telemetry path (their plays are in `plays` with viewer ids and the
 * engagement report counts them), trains the recommender on those plays
 * (the admin route reports the model), and a second run changes nothing.
 * 60 simulated viewers here instead of the demo's 300, for time. */
#include "check.h"
#include "testenv.h"

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

int main(void)
{
	char dir[512], env_uri[200], env_http[64], env_data[600], env_tel[64], url[256], path[700];
	char *out, *err, *resp;
	tenv_db_t db;
	tenv_proc_t serve;
	struct stat st;
	bool ok;

	tenv_tmpdir(dir, sizeof(dir), "demo");
	tenv_db_start(&db);
	int port = tenv_free_port();
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", port);
	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s/var", dir);
	snprintf(env_tel, sizeof(env_tel), "KINO_TELEMETRY_LISTEN=127.0.0.1:%d", tenv_free_port());
	char *env[] = {env_uri, env_http, env_data, env_tel, NULL};
	tenv_proc_spawn(&serve, dir, (char *[]){KINO_BIN, "up", NULL}, env);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	TENV_WAIT_UNTIL(ok, tenv_http_get(url, NULL) == 200, 20000);
	CHECK_MSG(ok, "kino up did not become healthy");

	int code = tenv_run(dir, (char *[]){KINO_SOURCE_DIR "/scripts/demo-seed", "--viewers", "60", NULL}, env, 240000, &out, &err);
	CHECK_MSG(code == 0, "demo-seed failed (%d): %s", code, err);
	CHECK_CONTAINS(out, "viewer@demo.kino");
	CHECK_CONTAINS(err, "6 titles published, 60 simulated viewers, recommender trained");
	CHECK_CONTAINS(err, "simulated 60 viewers");
	free(out);
	free(err);

	snprintf(path, sizeof(path), "%s/var/demo-accounts.txt", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
	char *accounts = tenv_read_file(path), viewer_pw[64];
	const char *v = strstr(accounts, "viewer@demo.kino");
	CHECK(v != NULL && sscanf(v, "viewer@demo.kino %63s", viewer_pw) == 1);
	free(accounts);

	/* The viewer signs in and lists the six titles. */
	char body[256], *tok;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/auth/signin", port);
	snprintf(body, sizeof(body), "{\"email\":\"viewer@demo.kino\",\"password\":\"%s\"}", viewer_pw);
	CHECK_INT_EQ(tenv_http("POST", url, body, &resp), 200);
	tok = strstr(resp, "\"token\":\"");
	CHECK(tok != NULL);
	tok = strndup(tok + 9, 43);
	free(resp);
	char auth[128];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/titles?limit=20", port);
	CHECK_INT_EQ(tenv_http_ex("GET", url, (const char *[]){auth, NULL}, NULL, &resp), 200);
	int titles = 0;
	for (const char *p = resp; (p = strstr(p, "\"asset_id\":\"")) != NULL; p++)
		titles++;
	CHECK_MSG(titles == 6, "the viewer sees %d titles, not 6: %s", titles, resp);
	CHECK_CONTAINS(resp, "The Mandelbrot Descent");
	free(resp);

	/* The simulated plays reach the analysts' report... */
	char admin_pw[64], admin_auth[128], *atok;
	accounts = tenv_read_file(path);
	CHECK(sscanf(strstr(accounts, "admin@demo.kino"), "admin@demo.kino %63s", admin_pw) == 1);
	free(accounts);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/auth/signin", port);
	snprintf(body, sizeof(body), "{\"email\":\"admin@demo.kino\",\"password\":\"%s\"}", admin_pw);
	CHECK_INT_EQ(tenv_http("POST", url, body, &resp), 200);
	atok = strndup(strstr(resp, "\"token\":\"") + 9, 43);
	free(resp);
	snprintf(admin_auth, sizeof(admin_auth), "Authorization: Bearer %s", atok);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/reports/engagement", port);
	CHECK_INT_EQ(tenv_http_ex("GET", url, (const char *[]){admin_auth, NULL}, NULL, &resp), 200);
	long long plays = -1, viewers = -1;
	CHECK(sscanf(strstr(resp, "\"plays\":"), "\"plays\":%lld", &plays) == 1);
	CHECK(sscanf(strstr(resp, "\"unique_viewers\":"), "\"unique_viewers\":%lld", &viewers) == 1);
	CHECK_MSG(plays >= 60 && viewers >= 50, "the report counts %lld plays by %lld viewers: %.300s",
		  plays, viewers, resp);
	free(resp);
	/* ...and the recommender learnt from them. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/admin/recsys", port);
	CHECK_INT_EQ(tenv_http_ex("GET", url, (const char *[]){admin_auth, NULL}, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"model\":{");
	CHECK_CONTAINS(resp, "\"catalog_titles_known\":");
	CHECK_CONTAINS(resp, "\"source\":\"plays:");
	free(resp);
	free(atok);
	/* The demo viewer's home screen is served. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/home", port);
	CHECK_INT_EQ(tenv_http_ex("GET", url, (const char *[]){auth, NULL}, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"type\":\"trending\"");
	free(resp);
	free(tok);

	/* A second run does nothing and still prints the accounts. */
	code = tenv_run(dir, (char *[]){KINO_SOURCE_DIR "/scripts/demo-seed", NULL}, env, 30000, &out, &err);
	CHECK_INT_EQ(code, 0);
	CHECK_CONTAINS(out, "viewer@demo.kino");
	CHECK(strstr(err, "rendering") == NULL && strstr(err, "simulating") == NULL);
	free(out);
	free(err);

	kill(serve.pid, SIGTERM);
	CHECK(tenv_proc_wait(&serve, 15000));
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	return 0;
}
