/* Accounts end to end: `kino serve` on a FerretDB of the test's own, driven
 * over HTTP as a web app would, plus `kino user add` as an operator would.
 * Also looks into the database to check that neither passwords nor tokens
 * are stored in the clear. */
#include "check.h"
#include "testenv.h"

#include "kino/db.h"
#include "kino/error.h"

#include <mongoc/mongoc.h>
#include <openssl/sha.h>

#include <signal.h>
#include <stdio.h>
#include <time.h>

static char dir[512], base[128];
static tenv_db_t db;

static int call(const char *method, const char *path, const char *token, const char *body,
		char **resp)
{
	return tenv_api(base, method, path, token, body, resp);
}

/* The value of "token" in a JSON answer; caller frees. */
static char *token_of(const char *json)
{
	const char *t = strstr(json, "\"token\":\"");

	CHECK_MSG(t != NULL, "no token in %s", json);
	t += 9;
	return strndup(t, strcspn(t, "\""));
}

static char *signin(const char *email, const char *password, int want)
{
	char body[256], *resp, *tok = NULL;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
	int got = call("POST", "/api/v1/auth/signin", NULL, body, &resp);
	CHECK_MSG(got == want, "sign-in of %s: %d, not %d: %s", email, got, want, resp);
	if (got == 200)
		tok = token_of(resp);
	free(resp);
	return tok;
}

static void test_signup_and_sessions(void)
{
	char *resp, *tok, *tok2;

	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL,
			  "{\"email\":\"Ana@Example.com\",\"password\":\"correct horse\"}", &resp), 201);
	CHECK_CONTAINS(resp, "\"email\":\"ana@example.com\"");
	CHECK_CONTAINS(resp, "\"role\":\"viewer\"");
	tok = token_of(resp);
	CHECK_INT_EQ(strlen(tok), 43);
	free(resp);

	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", tok, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"email\":\"ana@example.com\"");
	free(resp);

	/* One account per email, whatever its case. */
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL,
			  "{\"email\":\"ANA@example.com\",\"password\":\"another one\"}", &resp), 409);
	CHECK_CONTAINS(resp, "\"code\":\"email_taken\"");
	free(resp);

	tok2 = signin("ana@example.com", "correct horse", 200);
	CHECK(strcmp(tok, tok2) != 0);

	/* Signing out ends that session only. */
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signout", tok, NULL, &resp), 204);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", tok, NULL, &resp), 401);
	CHECK_CONTAINS(resp, "\"code\":\"unauthorized\"");
	free(resp);
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signout", tok, NULL, &resp), 401);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", tok2, NULL, &resp), 200);
	free(resp);
	free(tok);
	free(tok2);
}

static void test_bad_input(void)
{
	char *resp, big[6000];

	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", NULL, NULL, &resp), 401);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", "not-a-token", NULL, &resp), 401);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, &resp), 401);
	free(resp);
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL, "{not json", &resp), 400);
	CHECK_CONTAINS(resp, "\"code\":\"malformed\"");
	free(resp);
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL, "{\"email\":\"b@example.com\"}", &resp), 400);
	CHECK_CONTAINS(resp, "password");
	free(resp);
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL,
			  "{\"email\":\"b@example.com\",\"password\":\"short\"}", &resp), 400);
	CHECK_CONTAINS(resp, "at least 8");
	free(resp);
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL,
			  "{\"email\":\"no-at-sign\",\"password\":\"long enough\"}", &resp), 400);
	CHECK_CONTAINS(resp, "email");
	free(resp);
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL,
			  "{\"email\":42,\"password\":\"long enough\"}", &resp), 400);
	free(resp);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signin", NULL, big, &resp), 413);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/signin", NULL, NULL, &resp), 405);
	free(resp);
}

static void test_signin_rate_limit_per_account(void)
{
	char *resp, *tok;

	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL,
			  "{\"email\":\"carl@example.com\",\"password\":\"carl's secret\"}", &resp), 201);
	free(resp);
	/* The limit is 3 failures per window (set below): the 4th attempt is
	 * refused even with the right password. */
	for (int i = 0; i < 3; i++)
		signin("carl@example.com", "wrong password", 401);
	CHECK(signin("carl@example.com", "carl's secret", 429) == NULL);
	/* Unknown accounts are answered like wrong passwords. */
	signin("nobody@example.com", "whatever it is", 401);
	/* Other accounts are not affected. */
	tok = signin("ana@example.com", "correct horse", 200);
	free(tok);
}

static void test_user_add_and_roles(void)
{
	char cmd[512], *out, *err, *tok, *resp;

	snprintf(cmd, sizeof(cmd), "printf 'admin pass 123\\n' | %s user add --email root@example.com --role admin", KINO_BIN);
	char env_uri[200];
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	char *env[] = {env_uri, NULL};
	CHECK_INT_EQ(tenv_run(dir, (char *[]){"/bin/sh", "-c", cmd, NULL}, env, 30000, &out, &err), 0);
	CHECK_CONTAINS(out, "created admin account root@example.com");
	free(out);
	free(err);
	tok = signin("root@example.com", "admin pass 123", 200);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", tok, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"role\":\"admin\"");
	free(resp);
	free(tok);

	/* The same email again fails; a bad role is a usage error. */
	CHECK_INT_EQ(tenv_run(dir, (char *[]){"/bin/sh", "-c", cmd, NULL}, env, 30000, &out, &err), 1);
	CHECK_CONTAINS(err, "exists");
	free(out);
	free(err);
	snprintf(cmd, sizeof(cmd), "printf 'admin pass 123\\n' | %s user add --email x@example.com --role root", KINO_BIN);
	CHECK_INT_EQ(tenv_run(dir, (char *[]){"/bin/sh", "-c", cmd, NULL}, env, 30000, &out, &err), 2);
	CHECK_CONTAINS(err, "--role");
	free(out);
	free(err);
	snprintf(cmd, sizeof(cmd), "%s user add --email x@example.com --role viewer < /dev/null", KINO_BIN);
	CHECK_INT_EQ(tenv_run(dir, (char *[]){"/bin/sh", "-c", cmd, NULL}, env, 30000, &out, &err), 2);
	CHECK_CONTAINS(err, "password");
	free(out);
	free(err);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The hex SHA-256 of a token: the _id of its session document. */
static void token_digest(const char *tok, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)tok, strlen(tok), md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Another server signs a session out (or an operator revokes it by hand):
 * this server trusts what it checked for auth.session_cache (5 s) at most,
 * while its own sign-outs apply at once. */
static void test_session_cache(void)
{
	kino_db_config_t cfg = {.database = "kino", .health_interval_ms = 1000, .timeout_ms = 3000};
	kino_error_t err = {0};
	char *tok = signin("ana@example.com", "correct horse", 200), hex[65];
	char *tok2 = signin("ana@example.com", "correct horse", 200);
	bson_error_t berr;
	int64_t t0;
	bool ok;

	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", tok, NULL, NULL), 200);
	t0 = mono_ms();
	snprintf(cfg.uri, sizeof(cfg.uri), "%s", db.uri);
	kino_db_t *kdb = kino_db_new(&cfg, &err);
	CHECK(kdb != NULL);
	mongoc_client_t *c = kino_db_client_pop(kdb);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, "kino", "sessions");
	token_digest(tok, hex);
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(hex));
	bson_t *update = BCON_NEW("$set", "{", "revoked", BCON_BOOL(true), "}");
	CHECK_MSG(mongoc_collection_update_one(coll, filter, update, NULL, NULL, &berr), "%s",
		  berr.message);
	bson_destroy(update);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(kdb, c);
	kino_db_destroy(kdb);

	/* revoked behind this server's back: gone within the cache's 5 s */
	TENV_WAIT_UNTIL(ok, call("GET", "/api/v1/auth/me", tok, NULL, NULL) == 401, 8000);
	CHECK_MSG(ok, "a session revoked in the database still worked 8 s later");
	CHECK_MSG(mono_ms() - t0 <= 7000, "revocation took %lld ms",
		  (long long)(mono_ms() - t0));
	/* signed out here: refused on the very next request */
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", tok2, NULL, NULL), 200);
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signout", tok2, NULL, NULL), 204);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", tok2, NULL, NULL), 401);
	free(tok);
	free(tok2);
}

static void test_nothing_stored_in_the_clear(void)
{
	kino_db_config_t cfg = {.database = "kino", .health_interval_ms = 1000, .timeout_ms = 3000};
	kino_error_t err = {0};
	char *tok = signin("ana@example.com", "correct horse", 200);
	char hex[65];
	kino_db_t *kdb;
	mongoc_client_t *c;
	mongoc_collection_t *coll;
	bson_t *filter;
	bson_error_t berr;

	snprintf(cfg.uri, sizeof(cfg.uri), "%s", db.uri);
	kdb = kino_db_new(&cfg, &err);
	CHECK(kdb != NULL);
	c = kino_db_client_pop(kdb);
	coll = mongoc_client_get_collection(c, "kino", "sessions");
	filter = BCON_NEW("_id", BCON_UTF8(tok));
	CHECK_INT_EQ(mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &berr), 0);
	bson_destroy(filter);
	token_digest(tok, hex);
	filter = BCON_NEW("_id", BCON_UTF8(hex), "revoked", BCON_BOOL(false));
	CHECK_INT_EQ(mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &berr), 1);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);

	coll = mongoc_client_get_collection(c, "kino", "users");
	filter = BCON_NEW("email", BCON_UTF8("ana@example.com"));
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
	const bson_t *doc;
	CHECK(mongoc_cursor_next(cur, &doc));
	char *json = bson_as_relaxed_extended_json(doc, NULL);
	CHECK_CONTAINS(json, "scrypt$");
	CHECK(strstr(json, "correct horse") == NULL);
	bson_free(json);
	mongoc_cursor_destroy(cur);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	kino_db_client_push(kdb, c);
	kino_db_destroy(kdb);
	free(tok);
}

static void test_signin_rate_limit_per_address(void)
{
	char env_uri[200], env_http[64], url[128];
	tenv_proc_t serve;
	bool ok;

	/* A second server whose address limit is 2 attempts per window. */
	int port = tenv_free_port();
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	tenv_proc_spawn(&serve, dir, (char *[]){KINO_BIN, "serve", NULL},
			(char *[]){env_uri, env_http, "KINO_AUTH_SIGNIN_LIMIT_ADDRESS=2", NULL});
	TENV_WAIT_UNTIL(ok, tenv_http_get(url, NULL) == 200, 20000);
	CHECK(ok);
	char saved[128];
	snprintf(saved, sizeof(saved), "%s", base);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	signin("a1@example.com", "whatever it is", 401);
	signin("a2@example.com", "whatever it is", 401);
	CHECK(signin("ana@example.com", "correct horse", 429) == NULL);
	snprintf(base, sizeof(base), "%s", saved);
	kill(serve.pid, SIGTERM);
	CHECK(tenv_proc_wait(&serve, 15000));
}

int main(void)
{
	tenv_proc_t serve;
	char env_uri[200], env_http[64], url[128];
	bool ok;

	kino_db_global_init();
	tenv_tmpdir(dir, sizeof(dir), "auth");
	tenv_db_start(&db);
	int port = tenv_free_port();
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", port);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	snprintf(url, sizeof(url), "%s/healthz", base);
	tenv_proc_spawn(&serve, dir, (char *[]){KINO_BIN, "serve", NULL},
			(char *[]){env_uri, env_http, "KINO_AUTH_SIGNIN_LIMIT_ACCOUNT=3", NULL});
	TENV_WAIT_UNTIL(ok, tenv_http_get(url, NULL) == 200, 20000);
	CHECK_MSG(ok, "kino serve did not become healthy");

	RUN_TEST(test_signup_and_sessions);
	RUN_TEST(test_bad_input);
	RUN_TEST(test_signin_rate_limit_per_account);
	RUN_TEST(test_user_add_and_roles);
	RUN_TEST(test_nothing_stored_in_the_clear);
	RUN_TEST(test_session_cache);
	RUN_TEST(test_signin_rate_limit_per_address);

	kill(serve.pid, SIGTERM);
	CHECK(tenv_proc_wait(&serve, 15000));
	CHECK_INT_EQ(tenv_proc_exit_code(&serve), 0);
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	kino_db_global_cleanup();
	return 0;
}
