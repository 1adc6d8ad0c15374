/* Users and roles from the admin console's side: `kino serve` on a FerretDB
 * of the test's own, driven over HTTP. The list (paging by cursor, search
 * by email with regex characters taken literally, the role filter, plans),
 * role changes and every refusal (bad id, bad role, unknown field, the last
 * administrator), and that a new role applies to the account's next
 * request without signing it out, also when two admins demote each other
 * at the same moment. */
#include "check.h"
#include "testenv.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

static char dir[512], base[128], env_uri[200];
static tenv_db_t db;
static char *root; /* the first admin's token */

static int call(const char *method, const char *path, const char *token, const char *body,
		char **resp)
{
	return tenv_api(base, method, path, token, body, resp);
}

/* The string value of "key" in a JSON answer (the first one); caller frees. */
static char *json_str(const char *json, const char *key)
{
	char pat[64];
	const char *t;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	t = strstr(json, pat);
	CHECK_MSG(t != NULL, "no %s in %s", key, json);
	t += strlen(pat);
	return strndup(t, strcspn(t, "\""));
}

static int count_of(const char *haystack, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Signs up a viewer; returns its token, and its id in id_out (25 bytes). */
static char *signup(const char *email, char *id_out)
{
	char body[256], *resp, *tok, *id;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"password %s\"}", email, email);
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signup", NULL, body, &resp), 201);
	tok = json_str(resp, "token");
	id = json_str(resp, "id");
	if (id_out != NULL)
		snprintf(id_out, 25, "%s", id);
	free(id);
	free(resp);
	return tok;
}

static int patch_role(const char *token, const char *id, const char *body, char **resp)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/admin/users/%s", id);
	return call("PATCH", path, token, body, resp);
}

static void set_role(const char *id, const char *role)
{
	char body[64], *resp;

	snprintf(body, sizeof(body), "{\"role\":\"%s\"}", role);
	int got = patch_role(root, id, body, &resp);
	CHECK_MSG(got == 200, "setting %s to %s: %d %s", id, role, got, resp);
	free(resp);
}

static char ana_id[25];
static char *ana; /* a viewer's token, promoted and demoted below */

static void test_list_and_paging(void)
{
	char path[256], *resp, *cursor = NULL, seen[16][25];
	int pages = 0, total = 0;

	/* Eight accounts: root, ana and six more viewers. */
	ana = signup("ana@example.com", ana_id);
	for (int i = 0; i < 6; i++) {
		char email[64];
		snprintf(email, sizeof(email), "viewer%d@example.com", i);
		free(signup(email, NULL));
	}

	CHECK_INT_EQ(call("GET", "/api/v1/admin/users", root, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"email\":\"root@example.com\",\"role\":\"admin\"");
	CHECK_CONTAINS(resp, "\"plan\":\"free\"");
	CHECK_CONTAINS(resp, "\"created_at\":\"20");
	CHECK_CONTAINS(resp, "\"next_cursor\":null");
	CHECK_INT_EQ(count_of(resp, "\"email\""), 8);
	CHECK(strstr(resp, "password") == NULL && strstr(resp, "scrypt") == NULL);
	free(resp);

	/* Pages of three, in creation order, each account once. */
	do {
		snprintf(path, sizeof(path), "/api/v1/admin/users?limit=3%s%s",
			 cursor ? "&cursor=" : "", cursor ? cursor : "");
		CHECK_INT_EQ(call("GET", path, root, NULL, &resp), 200);
		for (const char *p = strstr(resp, "{\"id\":\""); p; p = strstr(p + 1, "{\"id\":\"")) {
			CHECK(total < 16);
			snprintf(seen[total], 25, "%.24s", p + 7);
			for (int j = 0; j < total; j++)
				CHECK_MSG(strcmp(seen[j], seen[total]) < 0, "%s after %s", seen[total],
					  seen[j]);
			total++;
		}
		free(cursor);
		cursor = strstr(resp, "\"next_cursor\":null") ? NULL : json_str(resp, "next_cursor");
		free(resp);
		pages++;
	} while (cursor != NULL);
	CHECK_INT_EQ(total, 8);
	CHECK_INT_EQ(pages, 3);
}

static void test_search_and_filter(void)
{
	char *resp;

	free(signup("dot.user@example.com", NULL));
	free(signup("dotxuser@example.com", NULL));

	/* Case does not matter; regex characters are taken literally. */
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?q=ANA%40Example", root, NULL, &resp), 200);
	CHECK_INT_EQ(count_of(resp, "\"email\""), 1);
	CHECK_CONTAINS(resp, "ana@example.com");
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?q=dot.", root, NULL, &resp), 200);
	CHECK_INT_EQ(count_of(resp, "\"email\""), 1);
	CHECK_CONTAINS(resp, "dot.user@example.com");
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?q=.*", root, NULL, &resp), 200);
	CHECK_INT_EQ(count_of(resp, "\"email\""), 0);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?q=(%5B%5C", root, NULL, &resp), 200);
	CHECK_INT_EQ(count_of(resp, "\"email\""), 0);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?q=viewer&limit=4", root, NULL, &resp), 200);
	CHECK_INT_EQ(count_of(resp, "\"email\""), 4);
	CHECK(strstr(resp, "\"next_cursor\":null") == NULL);
	free(resp);

	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?role=admin", root, NULL, &resp), 200);
	CHECK_INT_EQ(count_of(resp, "\"email\""), 1);
	CHECK_CONTAINS(resp, "root@example.com");
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?role=analyst", root, NULL, &resp), 200);
	CHECK_INT_EQ(count_of(resp, "\"email\""), 0);
	free(resp);

	/* The plan comes with each account. */
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/admin/users/%s/plan", ana_id);
	CHECK_INT_EQ(call("PUT", path, root, "{\"plan\":\"premium\"}", &resp), 200);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?q=ana%40", root, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"plan\":\"premium\",\"plan_until\":null");
	free(resp);
}

static void test_bad_queries(void)
{
	static const struct {
		const char *query, *field;
	} bad[] = {
		{"role=superuser", "role:"},  {"role=Admin", "role:"},  {"limit=0", "limit:"},
		{"limit=101", "limit:"},      {"limit=ten", "limit:"},  {"limit=5x", "limit:"},
		{"cursor=zzz", "cursor:"},    {"cursor=0123456789abcdef0123456", "cursor:"},
		{"q=%FF%FE", "q:"},
	};
	char path[512], *resp, longq[400];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/admin/users?%s", bad[i].query);
		int got = call("GET", path, root, NULL, &resp);
		CHECK_MSG(got == 400, "%s: %d, not 400: %s", bad[i].query, got, resp);
		CHECK_CONTAINS(resp, "\"code\":\"bad_request\"");
		CHECK_CONTAINS(resp, bad[i].field);
		free(resp);
	}
	memset(longq, 'a', 300);
	longq[300] = '\0';
	snprintf(path, sizeof(path), "/api/v1/admin/users?q=%s", longq);
	CHECK_INT_EQ(call("GET", path, root, NULL, &resp), 400);
	CHECK_CONTAINS(resp, "q:");
	free(resp);
	/* The list is for admins only; a cursor past the end is an empty page. */
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users", ana, NULL, &resp), 403);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?cursor=ffffffffffffffffffffffff", root, NULL,
			  &resp), 200);
	CHECK_CONTAINS(resp, "{\"items\":[],\"next_cursor\":null}");
	free(resp);
}

static void test_bad_patches(void)
{
	static const struct {
		const char *body, *want;
	} bad[] = {
		{"{\"role\":\"root\"}", "role: one of"},
		{"{\"role\":\"Admin\"}", "role: one of"},
		{"{\"role\":42}", "role: one of"},
		{"{\"role\":null}", "role: one of"},
		{"{}", "role: required"},
		{"{\"role\":\"admin\",\"email\":\"x@example.com\"}", "email: unknown field"},
		{"{\"password\":\"a new one\"}", "password: unknown field"},
		{"{not json", "\"code\":\"malformed\""},
		{"[\"admin\"]", "\"code\":\"malformed\""},
		{"", "\"code\":\"malformed\""},
	};
	char *resp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = patch_role(root, ana_id, bad[i].body, &resp);
		CHECK_MSG(got == 400, "%s: %d, not 400: %s", bad[i].body, got, resp);
		CHECK_CONTAINS(resp, bad[i].want);
		free(resp);
	}
	/* Unknown and malformed ids. */
	CHECK_INT_EQ(patch_role(root, "ffffffffffffffffffffffff", "{\"role\":\"analyst\"}", &resp), 404);
	CHECK_CONTAINS(resp, "\"code\":\"not_found\"");
	free(resp);
	CHECK_INT_EQ(patch_role(root, "not-an-id", "{\"role\":\"analyst\"}", &resp), 404);
	free(resp);
	CHECK_INT_EQ(patch_role(root, "0123456789abcdef012345678", "{\"role\":\"analyst\"}", &resp), 404);
	free(resp);
	/* Too big a body, and a viewer or an analyst may not change roles. */
	char big[6000];
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	CHECK_INT_EQ(patch_role(root, ana_id, big, &resp), 413);
	free(resp);
	CHECK_INT_EQ(patch_role(ana, ana_id, "{\"role\":\"admin\"}", &resp), 403);
	free(resp);
	/* Nothing changed. */
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", ana, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"role\":\"viewer\"");
	free(resp);
}

static void test_role_changes_apply_at_once(void)
{
	char *resp;

	/* Promoted: the same token is an analyst's, then an admin's. */
	CHECK_INT_EQ(patch_role(root, ana_id, "{\"role\":\"analyst\"}", &resp), 200);
	CHECK_CONTAINS(resp, "\"email\":\"ana@example.com\",\"role\":\"analyst\"");
	CHECK_CONTAINS(resp, "\"plan\":\"premium\"");
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", ana, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"role\":\"analyst\"");
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users", ana, NULL, &resp), 403);
	free(resp);
	set_role(ana_id, "admin");
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?role=admin", ana, NULL, &resp), 200);
	CHECK_INT_EQ(count_of(resp, "\"email\""), 2);
	free(resp);
	/* The same role again is a no-op. */
	CHECK_INT_EQ(patch_role(root, ana_id, "{\"role\":\"admin\"}", &resp), 200);
	CHECK_CONTAINS(resp, "\"role\":\"admin\"");
	free(resp);

	/* Demoted: the next request is refused, and the session still works
	 * for what a viewer may do. */
	set_role(ana_id, "viewer");
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users", ana, NULL, &resp), 403);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", ana, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "\"role\":\"viewer\"");
	free(resp);
}

static void test_last_admin(void)
{
	char *resp, *root_id;

	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", root, NULL, &resp), 200);
	root_id = json_str(resp, "id");
	free(resp);

	/* The only admin cannot demote themself, to anything. */
	CHECK_INT_EQ(patch_role(root, root_id, "{\"role\":\"viewer\"}", &resp), 409);
	CHECK_CONTAINS(resp, "\"code\":\"last_admin\"");
	CHECK_CONTAINS(resp, "root@example.com is the last administrator");
	free(resp);
	CHECK_INT_EQ(patch_role(root, root_id, "{\"role\":\"analyst\"}", &resp), 409);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users?role=admin", root, NULL, &resp), 200);
	CHECK_CONTAINS(resp, "root@example.com");
	free(resp);

	/* With a second admin they can, and they lose the console at once;
	 * the other admin then cannot demote themself. */
	set_role(ana_id, "admin");
	CHECK_INT_EQ(patch_role(root, root_id, "{\"role\":\"analyst\"}", &resp), 200);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users", root, NULL, &resp), 403);
	free(resp);
	CHECK_INT_EQ(patch_role(ana, ana_id, "{\"role\":\"viewer\"}", &resp), 409);
	CHECK_CONTAINS(resp, "ana@example.com is the last administrator");
	free(resp);
	CHECK_INT_EQ(patch_role(ana, root_id, "{\"role\":\"admin\"}", &resp), 200);
	free(resp);
	CHECK_INT_EQ(call("GET", "/api/v1/admin/users", root, NULL, &resp), 200);
	free(resp);
	free(root_id);
}

typedef struct demotion {
	const char *token, *target;
	int status;
} demotion_t;

static void *demote(void *arg)
{
	demotion_t *d = arg;
	char *resp;

	d->status = patch_role(d->token, d->target, "{\"role\":\"viewer\"}", &resp);
	free(resp);
	return NULL;
}

/* Two admins, alone, demote each other at the same moment: however the
 * requests interleave, one administrator is left. */
static void test_two_admins_demote_each_other(void)
{
	char *resp, *root_id;

	CHECK_INT_EQ(call("GET", "/api/v1/auth/me", root, NULL, &resp), 200);
	root_id = json_str(resp, "id");
	free(resp);
	for (int round = 0; round < 8; round++) {
		demotion_t a = {.token = root, .target = ana_id}, b = {.token = ana, .target = root_id};
		pthread_t ta, tb;

		set_role(ana_id, "admin");
		pthread_create(&ta, NULL, demote, &a);
		pthread_create(&tb, NULL, demote, &b);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		CHECK_MSG((a.status == 200 || a.status == 409 || a.status == 403) &&
				  (b.status == 200 || b.status == 409 || b.status == 403),
			  "round %d: %d and %d", round, a.status, b.status);
		CHECK_MSG(!(a.status == 200 && b.status == 200), "round %d: both demotions passed",
			  round);
		fprintf(stderr, "round %d: %d %d\n", round, a.status, b.status);
		/* Whoever is still an admin lists the admins: one or two. */
		const char *admin_tok = NULL;
		CHECK_INT_EQ(call("GET", "/api/v1/auth/me", root, NULL, &resp), 200);
		if (strstr(resp, "\"role\":\"admin\""))
			admin_tok = root;
		free(resp);
		if (admin_tok == NULL)
			admin_tok = ana;
		CHECK_INT_EQ(call("GET", "/api/v1/admin/users?role=admin", admin_tok, NULL, &resp), 200);
		int n = count_of(resp, "\"email\"");
		CHECK_MSG(n >= 1, "round %d: no administrator left: %s", round, resp);
		free(resp);
		/* Back to root alone as admin. */
		if (admin_tok == ana) {
			CHECK_INT_EQ(patch_role(ana, root_id, "{\"role\":\"admin\"}", &resp), 200);
			free(resp);
		}
		set_role(ana_id, "viewer");
	}
	free(root_id);
}

int main(void)
{
	tenv_proc_t serve;
	char env_http[64], url[128], cmd[512], *out, *err;
	bool ok;

	tenv_tmpdir(dir, sizeof(dir), "users");
	tenv_db_start(&db);
	int port = tenv_free_port();
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", port);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	snprintf(url, sizeof(url), "%s/healthz", base);
	char *env[] = {env_uri, env_http, NULL};
	tenv_proc_spawn(&serve, dir, (char *[]){KINO_BIN, "serve", NULL}, env);
	TENV_WAIT_UNTIL(ok, tenv_http_get(url, NULL) == 200, 20000);
	CHECK_MSG(ok, "kino serve did not become healthy");

	snprintf(cmd, sizeof(cmd),
		 "printf 'root password\\n' | %s user add --email root@example.com --role admin",
		 KINO_BIN);
	CHECK_INT_EQ(tenv_run(dir, (char *[]){"/bin/sh", "-c", cmd, NULL}, env, 30000, &out, &err), 0);
	free(out);
	free(err);
	char *resp;
	CHECK_INT_EQ(call("POST", "/api/v1/auth/signin", NULL,
			  "{\"email\":\"root@example.com\",\"password\":\"root password\"}", &resp), 200);
	root = json_str(resp, "token");
	free(resp);

	RUN_TEST(test_list_and_paging);
	RUN_TEST(test_search_and_filter);
	RUN_TEST(test_bad_queries);
	RUN_TEST(test_bad_patches);
	RUN_TEST(test_role_changes_apply_at_once);
	RUN_TEST(test_last_admin);
	RUN_TEST(test_two_admins_demote_each_other);

	kill(serve.pid, SIGTERM);
	CHECK(tenv_proc_wait(&serve, 15000));
	CHECK_INT_EQ(tenv_proc_exit_code(&serve), 0);
	free(root);
	free(ana);
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	return 0;
}
