/* Route patterns: literals, {name} captures, a trailing * subtree, and
 * method matching with HEAD served by GET. */
#include "check.h"

#include "http_internal.h"

static void test_patterns(void)
{
	http_pair_t params[HTTP_MAX_PARAMS] = {0};
	int n = 0;

	CHECK(http_pattern_match("/healthz", "/healthz", params, &n));
	CHECK(!http_pattern_match("/healthz", "/healthz/", params, &n));
	CHECK(!http_pattern_match("/healthz", "/health", params, &n));
	CHECK(!http_pattern_match("/healthz", "/healthzz", params, &n));

	CHECK(http_pattern_match("/api/v1/jobs/{id}", "/api/v1/jobs/abc123", params, &n));
	CHECK_INT_EQ(n, 1);
	CHECK_STR_EQ(params[0].name, "id");
	CHECK_STR_EQ(params[0].value, "abc123");
	CHECK(!http_pattern_match("/api/v1/jobs/{id}", "/api/v1/jobs/", params, &n));
	CHECK_INT_EQ(n, 0);
	CHECK(!http_pattern_match("/api/v1/jobs/{id}", "/api/v1/jobs/a/b", params, &n));

	CHECK(http_pattern_match("/api/v1/titles/{id}/publish", "/api/v1/titles/t1/publish",
				 params, &n));
	CHECK_STR_EQ(params[0].value, "t1");

	CHECK(http_pattern_match("/media/*", "/media/tok/asset/master.m3u8", params, &n));
	CHECK_STR_EQ(params[0].name, "*");
	CHECK_STR_EQ(params[0].value, "tok/asset/master.m3u8");
	CHECK(!http_pattern_match("/media/*", "/mediax/a", params, &n));
	for (int i = 0; i < n; i++) {
		free(params[i].name);
		free(params[i].value);
	}
}

static void handler(kino_http_request_t *req, void *ud)
{
	(void)req;
	(void)ud;
}

static void test_methods(void)
{
	const kino_http_route_t routes[] = {
		{.method = "GET", .pattern = "/a/{x}", .handler = handler},
		{.method = "POST", .pattern = "/a/{x}", .handler = handler},
	};
	kino_http_request_t req = {0};
	bool path_matched;

	req.path = "/a/1";
	snprintf(req.method, sizeof(req.method), "POST");
	CHECK(http_route_match(routes, 2, &req, &path_matched) == &routes[1]);
	snprintf(req.method, sizeof(req.method), "HEAD");
	CHECK(http_route_match(routes, 2, &req, &path_matched) == &routes[0]);
	CHECK(req.head);
	snprintf(req.method, sizeof(req.method), "DELETE");
	CHECK(http_route_match(routes, 2, &req, &path_matched) == NULL);
	CHECK(path_matched); /* so the server answers 405, not 404 */
	req.path = "/b";
	CHECK(http_route_match(routes, 2, &req, &path_matched) == NULL);
	CHECK(!path_matched);
}

int main(void)
{
	RUN_TEST(test_patterns);
	RUN_TEST(test_methods);
	return 0;
}
