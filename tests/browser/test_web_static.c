/* kino_web: the static serving of the web front-ends (include/kino/web.h), on an
 * in-process HTTP server over a dist directory made by the test: which file each
 * route answers, content types, caching, ETag/304, gzip twins, and refusals of
 * paths that try to leave the directory. */
#include "check.h"
#include "testenv.h"

#include "kino/error.h"
#include "kino/http.h"
#include "kino/web.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512], dist[600], base[64];

static void put(const char *rel, const char *text)
{
	char path[1200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dist, rel);
	f = fopen(path, "w");
	CHECK_MSG(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static void get(const char *path, const char *const *headers, tenv_response_t *r)
{
	char url[1200];

	snprintf(url, sizeof(url), "%s%s", base, path);
	tenv_http_full("GET", url, headers, NULL, r);
}

static void expect(const char *path, int status, const char *body, const char *type,
		   const char *cache)
{
	tenv_response_t r = {0};
	char buf[256];

	get(path, NULL, &r);
	CHECK_MSG(r.status == status, "GET %s: %d, expected %d", path, r.status, status);
	if (body != NULL)
		CHECK_CONTAINS(r.body, body);
	if (type != NULL)
		CHECK_STR_EQ(tenv_response_header(&r, "content-type", buf, sizeof(buf)), type);
	if (cache != NULL)
		CHECK_STR_EQ(tenv_response_header(&r, "cache-control", buf, sizeof(buf)), cache);
	tenv_response_free(&r);
}

static void test_routes(void)
{
	const char *viewer = "text/html; charset=utf-8";

	expect("/", 200, "viewer app", viewer, "no-cache");
	expect("/signin", 200, "viewer app", viewer, NULL);
	expect("/title/6b02675ea9dd2759e404e086", 200, "viewer app", NULL, NULL);
	expect("/watch/6b02675ea9dd2759e404e086", 200, "viewer app", NULL, NULL);
	expect("/admin", 200, "admin app", viewer, "no-cache");
	expect("/admin/titles/new", 200, "admin app", NULL, NULL);
	expect("/analytics", 200, "analytics app", NULL, NULL);
	expect("/analytics/retention", 200, "analytics app", NULL, NULL);
	expect("/assets/viewer-ABC123.js", 200, "console.log", "text/javascript; charset=utf-8",
	       "public, max-age=31536000, immutable");
	expect("/assets/viewer-ABC123.css", 200, "body", "text/css; charset=utf-8", NULL);
	expect("/assets/favicon-1.svg", 200, "<svg", "image/svg+xml", NULL);
	/* Not app routes: left to the API's 404. */
	expect("/assets/missing.js", 404, "not_found", NULL, NULL);
	expect("/nothing-here", 404, NULL, NULL, NULL);
	expect("/api/v1/unknown", 404, NULL, NULL, NULL);
	expect("/adminx", 404, NULL, NULL, NULL);
}

static void test_security_headers(void)
{
	tenv_response_t r = {0};
	char buf[1024];

	get("/", NULL, &r);
	CHECK_STR_EQ(tenv_response_header(&r, "x-content-type-options", buf, sizeof(buf)), "nosniff");
	CHECK_CONTAINS(tenv_response_header(&r, "content-security-policy", buf, sizeof(buf)),
		       "default-src 'self'");
	tenv_response_free(&r);
}

static void test_validators(void)
{
	tenv_response_t r = {0};
	char etag[128], lm[128], h1[200], h2[200];

	get("/assets/viewer-ABC123.js", NULL, &r);
	CHECK(tenv_response_header(&r, "etag", etag, sizeof(etag)) != NULL);
	CHECK(tenv_response_header(&r, "last-modified", lm, sizeof(lm)) != NULL);
	tenv_response_free(&r);

	snprintf(h1, sizeof(h1), "If-None-Match: %s", etag);
	get("/assets/viewer-ABC123.js", (const char *const[]){h1, NULL}, &r);
	CHECK_INT_EQ(r.status, 304);
	CHECK_INT_EQ(r.body_len, 0);
	tenv_response_free(&r);

	get("/assets/viewer-ABC123.js", (const char *const[]){"If-None-Match: \"other\"", NULL}, &r);
	CHECK_INT_EQ(r.status, 200);
	tenv_response_free(&r);

	snprintf(h2, sizeof(h2), "If-Modified-Since: %s", lm);
	get("/admin", (const char *const[]){h2, NULL}, &r);
	CHECK_INT_EQ(r.status, 304);
	tenv_response_free(&r);
}

static void test_gzip(void)
{
	tenv_response_t r = {0};
	char buf[128], etag_plain[128], etag_gz[128];

	get("/assets/big-1.js", (const char *const[]){"Accept-Encoding: gzip, br", NULL}, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_STR_EQ(tenv_response_header(&r, "content-encoding", buf, sizeof(buf)), "gzip");
	CHECK_STR_EQ(tenv_response_header(&r, "content-type", buf, sizeof(buf)),
		     "text/javascript; charset=utf-8");
	CHECK_CONTAINS(r.body, "pretend-gzip");
	tenv_response_header(&r, "etag", etag_gz, sizeof(etag_gz));
	tenv_response_free(&r);

	get("/assets/big-1.js", (const char *const[]){"Accept-Encoding: identity", NULL}, &r);
	CHECK(tenv_response_header(&r, "content-encoding", buf, sizeof(buf)) == NULL);
	CHECK_CONTAINS(r.body, "plain");
	tenv_response_header(&r, "etag", etag_plain, sizeof(etag_plain));
	tenv_response_free(&r);
	CHECK(strcmp(etag_gz, etag_plain) != 0);
}

static void test_traversal(void)
{
	/* Sent exactly as written: the client folds nothing. */
	expect("/assets/../secret.txt", 404, NULL, NULL, NULL);
	/* (libwebsockets itself folds "/./" and "//" before a handler sees the path.) */
	expect("/assets/%2e%2e/secret.txt", 404, NULL, NULL, NULL);
	expect("/assets/..%2fsecret.txt", 404, NULL, NULL, NULL);
	expect("/assets/%5c..%5csecret.txt", 404, NULL, NULL, NULL);
	/* A symlink out of the directory is not followed. */
	expect("/assets/escape.txt", 403, NULL, NULL, NULL);
	/* A directory is not a file. */
	expect("/assets/sub", 404, NULL, NULL, NULL);
}

static void test_not_built(void)
{
	kino_http_config_t cfg = {.host = "127.0.0.1", .port = 0, .max_body = 4096, .workers = 1};
	kino_http_route_t routes[KINO_WEB_ROUTES_MAX];
	kino_error_t err = {0};
	kino_http_server_t *srv;
	char path[700], saved[64], index[1200];
	kino_web_t *web;

	CHECK(kino_web_new("", &err) == NULL);
	CHECK_INT_EQ(err.code, KINO_EINVAL);
	CHECK_STR_EQ(kino_web_content_type("x/app-1.mjs"), "text/javascript; charset=utf-8");
	CHECK_STR_EQ(kino_web_content_type("a.b/noext"), "application/octet-stream");

	/* Never built: the same routes, answering 503 with the way to build... */
	snprintf(path, sizeof(path), "%s/later", dir);
	web = kino_web_new(path, &err);
	CHECK_MSG(web != NULL, "kino_web_new: %s", err.message);
	CHECK(!kino_web_built(path));
	size_t n = kino_web_routes(web, routes, KINO_WEB_ROUTES_MAX);
	CHECK_INT_EQ(n, KINO_WEB_ROUTES_MAX);
	srv = kino_http_server_new(&cfg, "web2", routes, n, &err);
	CHECK(srv != NULL && kino_http_server_start(srv, &err) == 0);
	snprintf(saved, sizeof(saved), "%s", base);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));
	expect("/", 503, "npm run build", NULL, NULL);
	expect("/admin", 503, "web_not_built", NULL, NULL);
	expect("/assets/viewer-ABC123.js", 404, NULL, NULL, NULL);

	/* ...until a build appears, which is served at once, without a restart. */
	CHECK(mkdir(path, 0755) == 0);
	snprintf(index, sizeof(index), "%s/index.html", path);
	FILE *f = fopen(index, "w");
	CHECK(f != NULL);
	fputs("<!doctype html><title>late build</title>", f);
	fclose(f);
	CHECK(kino_web_built(path));
	expect("/", 200, "late build", NULL, NULL);

	kino_http_server_destroy(srv);
	kino_web_destroy(web);
	snprintf(base, sizeof(base), "%s", saved);
}

int main(void)
{
	kino_http_route_t routes[KINO_WEB_ROUTES_MAX + 1];
	kino_http_config_t cfg = {.host = "127.0.0.1", .port = 0, .max_body = 4096, .workers = 1};
	kino_error_t err = {0};
	char sub[1200], link[1200], secret[1200];
	kino_http_server_t *srv;
	kino_web_t *web;
	size_t n;

	tenv_tmpdir(dir, sizeof(dir), "web-static");
	snprintf(dist, sizeof(dist), "%s/dist", dir);
	snprintf(sub, sizeof(sub), "%s/assets/sub", dist);
	CHECK(mkdir(dist, 0755) == 0);
	put("../secret.txt", "secret");
	snprintf(sub, sizeof(sub), "%s/assets", dist);
	CHECK(mkdir(sub, 0755) == 0);
	snprintf(sub, sizeof(sub), "%s/admin", dist);
	CHECK(mkdir(sub, 0755) == 0);
	snprintf(sub, sizeof(sub), "%s/analytics", dist);
	CHECK(mkdir(sub, 0755) == 0);
	snprintf(sub, sizeof(sub), "%s/assets/sub", dist);
	CHECK(mkdir(sub, 0755) == 0);
	put("index.html", "<!doctype html><title>viewer app</title>");
	put("admin/index.html", "<!doctype html><title>admin app</title>");
	put("analytics/index.html", "<!doctype html><title>analytics app</title>");
	put("assets/viewer-ABC123.js", "console.log('hi')");
	put("assets/viewer-ABC123.css", "body{}");
	put("assets/favicon-1.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>");
	put("assets/big-1.js", "plain");
	put("assets/big-1.js.gz", "pretend-gzip");
	snprintf(link, sizeof(link), "%s/assets/escape.txt", dist);
	snprintf(secret, sizeof(secret), "%s/secret.txt", dir);
	CHECK(symlink(secret, link) == 0);

	kino_http_global_init();
	web = kino_web_new(dist, &err);
	CHECK_MSG(web != NULL, "kino_web_new: %s", err.message);
	n = kino_web_routes(web, routes, KINO_WEB_ROUTES_MAX + 1);
	CHECK_INT_EQ(n, KINO_WEB_ROUTES_MAX);
	CHECK_INT_EQ(kino_web_routes(web, routes, 3), 3);
	n = kino_web_routes(web, routes, KINO_WEB_ROUTES_MAX);
	srv = kino_http_server_new(&cfg, "web", routes, n, &err);
	CHECK_MSG(srv != NULL, "server: %s", err.message);
	CHECK(kino_http_server_start(srv, &err) == 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));

	RUN_TEST(test_routes);
	RUN_TEST(test_security_headers);
	RUN_TEST(test_validators);
	RUN_TEST(test_gzip);
	RUN_TEST(test_traversal);
	RUN_TEST(test_not_built);

	kino_http_server_destroy(srv);
	kino_web_destroy(web);
	tenv_rmtree(dir);
	return 0;
}
