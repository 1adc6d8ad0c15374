/* Every admin and analyst route refuses who may not use it: no token gets
 * 401, a viewer 403, and an analyst 403 on admin routes. The routes come
 * from the server itself (`kino serve --print-routes`), so a route added
 * later without its role check fails here. The check must come before
 * anything else: a refused request learns nothing from validation. */
#include "check.h"
#include "testenv.h"

#include <signal.h>
#include <stdio.h>

#define DUMMY_ID "000000000000000000000000"

typedef struct rule {
	const char *prefix;
	bool admin; /* else analyst */
} rule_t;

static const rule_t rules[] = {
	{"/api/v1/admin/", true},
	{"/api/v1/uploads", true},
	{"/api/v1/jobs", true},
	{"/api/v1/reports/", false},
};

static char base[128];

static char *token_of(const char *json)
{
	const char *t = strstr(json, "\"token\":\"");
	CHECK_MSG(t != NULL, "no token in %s", json);
	t += 9;
	return strndup(t, strcspn(t, "\""));
}

/* The route's pattern with every {param} replaced by a dummy id. */
static void concrete(const char *pattern, char *out, size_t size)
{
	size_t n = 0;

	for (const char *p = pattern; *p && n + 30 < size;) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			n += (size_t)snprintf(out + n, size - n, "%s", DUMMY_ID);
			p = close != NULL ? close + 1 : p + strlen(p);
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
}

static int call(const char *method, const char *path, const char *token)
{
	char url[512], auth[128];
	const char *headers[4] = {"Content-Type: application/json", "Tus-Resumable: 1.0.0", NULL, NULL};

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers[2] = auth;
	}
	return tenv_http_ex(method, url, headers,
			    strcmp(method, "GET") && strcmp(method, "HEAD") ? "{}" : NULL, NULL);
}

int main(void)
{
	char dir[512], env_uri[200], env_http[64], env_data[600], health[160];
	char *out, *err, *resp;
	tenv_db_t db;
	tenv_proc_t serve;
	int checked = 0;
	bool ok;

	tenv_tmpdir(dir, sizeof(dir), "roles");
	tenv_db_start(&db);
	int port = tenv_free_port();
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", port);
	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s/var", dir);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	snprintf(health, sizeof(health), "%s/healthz", base);
	char *env[] = {env_uri, env_http, env_data, NULL};

	CHECK_INT_EQ(tenv_run(dir, (char *[]){KINO_BIN, "serve", "--print-routes", NULL}, env, 30000,
			      &out, &err), 0);
	tenv_proc_spawn(&serve, dir, (char *[]){KINO_BIN, "serve", NULL}, env);
	TENV_WAIT_UNTIL(ok, tenv_http_get(health, NULL) == 200, 20000);
	CHECK_MSG(ok, "kino serve did not become healthy");

	/* A viewer by sign-up, an analyst by the operator's command. */
	char url[256];
	snprintf(url, sizeof(url), "%s/api/v1/auth/signup", base);
	CHECK_INT_EQ(tenv_http("POST", url, "{\"email\":\"v@example.com\",\"password\":\"viewer pass\"}", &resp), 201);
	char *viewer = token_of(resp);
	free(resp);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "printf 'analyst pass\\n' | %s user add --email a@example.com --role analyst", KINO_BIN);
	char *o2, *e2;
	CHECK_INT_EQ(tenv_run(dir, (char *[]){"/bin/sh", "-c", cmd, NULL}, env, 30000, &o2, &e2), 0);
	free(o2);
	free(e2);
	snprintf(url, sizeof(url), "%s/api/v1/auth/signin", base);
	CHECK_INT_EQ(tenv_http("POST", url, "{\"email\":\"a@example.com\",\"password\":\"analyst pass\"}", &resp), 200);
	char *analyst = token_of(resp);
	free(resp);

	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char method[16], pattern[256], path[512];
		const rule_t *rule = NULL;

		CHECK(sscanf(line, "%15s %255s", method, pattern) == 2);
		if (strcmp(method, "OPTIONS") == 0)
			continue; /* CORS and tus discovery are public by their specs */
		for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
			if (strncmp(pattern, rules[i].prefix, strlen(rules[i].prefix)) == 0)
				rule = &rules[i];
		if (rule == NULL)
			continue;
		concrete(pattern, path, sizeof(path));
		int s0 = call(method, path, NULL), s1 = call(method, path, viewer);
		CHECK_MSG(s0 == 401, "%s %s without a token: %d, not 401", method, pattern, s0);
		CHECK_MSG(s1 == 403, "%s %s as a viewer: %d, not 403", method, pattern, s1);
		if (rule->admin) {
			int s2 = call(method, path, analyst);
			CHECK_MSG(s2 == 403, "%s %s as an analyst: %d, not 403", method, pattern, s2);
		}
		checked++;
	}
	fprintf(stderr, "%d admin and analyst routes refuse lower roles\n", checked);
	CHECK_MSG(checked >= 9, "only %d admin/analyst routes found", checked);

	kill(serve.pid, SIGTERM);
	CHECK(tenv_proc_wait(&serve, 15000));
	free(out);
	free(err);
	free(viewer);
	free(analyst);
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	return 0;
}
