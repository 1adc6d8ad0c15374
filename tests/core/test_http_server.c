/* The HTTP server on a real loopback socket: inline and blocking handlers,
 * the one error shape, 404 and 405, body limits, HEAD, many requests at
 * once, and "address in use". */
#include "check.h"
#include "testenv.h"

#include "kino/error.h"
#include "kino/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static char base[64];

static void hello(kino_http_request_t *req, void *ud)
{
	(void)ud;
	kino_http_response_header(req, "Cache-Control", "no-store");
	kino_http_respond(req, 200, "text/plain", "hello", 5);
}

/* Runs on a worker: sleeps like a database call, echoes body and params. */
static void echo(kino_http_request_t *req, void *ud)
{
	size_t len;
	const char *body = kino_http_request_body(req, &len);
	char out[4096];

	(void)ud;
	usleep(20000);
	snprintf(out, sizeof(out), "id=%s q=%s len=%zu body=%s ua=%s",
		 kino_http_request_param(req, "id"),
		 kino_http_request_query(req, "q") ? kino_http_request_query(req, "q") : "-",
		 len, body, kino_http_request_header(req, "user-agent") ? "yes" : "no");
	kino_http_respond(req, 200, "text/plain", out, strlen(out));
}

static void fail(kino_http_request_t *req, void *ud)
{
	(void)ud;
	kino_http_respond_error(req, KINO_ENOENT, "no title \"x\"");
}

static void big(kino_http_request_t *req, void *ud)
{
	size_t n = 1000000;
	char *b = malloc(n);

	(void)ud;
	for (size_t i = 0; i < n; i++)
		b[i] = (char)('a' + i % 26);
	kino_http_respond(req, 200, "application/octet-stream", b, n);
	free(b);
}

static void slow(kino_http_request_t *req, void *ud)
{
	(void)ud;
	usleep(800000);
	kino_http_respond(req, 200, "text/plain", "finished", 8);
}

static void url(char *out, size_t size, const char *path)
{
	snprintf(out, size, "%s%s", base, path);
}

static void test_inline_and_blocking(void)
{
	char u[256], *body;

	url(u, sizeof(u), "/hello");
	CHECK_INT_EQ(tenv_http_get(u, &body), 200);
	CHECK_STR_EQ(body, "hello");
	free(body);

	url(u, sizeof(u), "/echo/42?q=caf%C3%A9");
	CHECK_INT_EQ(tenv_http("POST", u, "{\"a\":1}", &body), 200);
	CHECK_CONTAINS(body, "id=42");
	CHECK_CONTAINS(body, "q=caf\xc3\xa9");
	CHECK_CONTAINS(body, "len=7 body={\"a\":1}");
	free(body);

	url(u, sizeof(u), "/big");
	CHECK_INT_EQ(tenv_http_get(u, &body), 200);
	CHECK_INT_EQ(strlen(body), 1000000);
	CHECK(body[999999] == (char)('a' + 999999 % 26));
	free(body);

	url(u, sizeof(u), "/hello");
	CHECK_INT_EQ(tenv_http("HEAD", u, NULL, &body), 200);
	CHECK_STR_EQ(body, "");
	free(body);
}

static void test_errors_have_one_shape(void)
{
	char u[256], *body;

	url(u, sizeof(u), "/fail");
	CHECK_INT_EQ(tenv_http_get(u, &body), 404);
	CHECK_STR_EQ(body, "{\"error\":{\"code\":\"not_found\",\"message\":\"no title \\\"x\\\"\"}}");
	free(body);

	url(u, sizeof(u), "/nowhere");
	CHECK_INT_EQ(tenv_http_get(u, &body), 404);
	CHECK_CONTAINS(body, "\"code\":\"not_found\"");
	free(body);

	url(u, sizeof(u), "/hello");
	CHECK_INT_EQ(tenv_http("DELETE", u, NULL, &body), 405);
	CHECK_CONTAINS(body, "\"code\":\"method_not_allowed\"");
	free(body);
}

/* A body announced empty is dispatched once, with an empty body. */
static int empty_posts;
static void count_empty(kino_http_request_t *req, void *ud)
{
	size_t len;
	(void)ud;
	kino_http_request_body(req, &len);
	__atomic_add_fetch(&empty_posts, 1, __ATOMIC_SEQ_CST);
	usleep(50000); /* still running when lws reports the body complete */
	kino_http_respond(req, len == 0 ? 200 : 400, "text/plain", "ok", 2);
}

static void test_empty_body(void)
{
	char u[256];

	url(u, sizeof(u), "/empty");
	for (int i = 0; i < 5; i++)
		CHECK_INT_EQ(tenv_http_ex("POST", u, (const char *[]){"Content-Length: 0", NULL}, "", NULL), 200);
	tenv_sleep_ms(100);
	CHECK_INT_EQ(__atomic_load_n(&empty_posts, __ATOMIC_SEQ_CST), 5);
}

static void test_body_limit(void)
{
	char u[256], *body, *big_body = malloc(5000);

	memset(big_body, 'x', 4999);
	big_body[4999] = '\0';
	url(u, sizeof(u), "/echo/1");
	CHECK_INT_EQ(tenv_http("POST", u, big_body, &body), 413);
	CHECK_CONTAINS(body, "\"code\":\"payload_too_large\"");
	free(body);
	free(big_body);
	/* The server still answers afterwards. */
	url(u, sizeof(u), "/hello");
	CHECK_INT_EQ(tenv_http_get(u, NULL), 200);
}

/* A large body over the limit, sent without waiting for 100-continue: the
 * client still reads the 413 (the server drains what is in flight instead
 * of resetting the connection under it), and the server serves on. */
static void test_body_limit_large(void)
{
	char u[256];
	size_t n = 8 * 1024 * 1024;
	char *big = malloc(n + 1);

	memset(big, 'y', n);
	big[n] = '\0';
	url(u, sizeof(u), "/echo/1");
	for (int i = 0; i < 5; i++) {
		tenv_response_t r;
		tenv_http_full("POST", u, (const char *[]){"Expect:", NULL}, big, &r);
		CHECK_MSG(r.status == 413, "try %d: status %d instead of 413", i, r.status);
		CHECK_CONTAINS(r.body, "payload_too_large");
		tenv_response_free(&r);
	}
	free(big);
	url(u, sizeof(u), "/hello");
	CHECK_INT_EQ(tenv_http_get(u, NULL), 200);
}

static void *client(void *arg)
{
	char u[256];
	int *ok = arg;

	for (int i = 0; i < 20; i++) {
		char *body = NULL;
		url(u, sizeof(u), "/echo/7");
		if (tenv_http("POST", u, "x", &body) == 200 && strstr(body, "id=7"))
			(*ok)++;
		free(body);
	}
	return NULL;
}

static void test_concurrent_requests(void)
{
	pthread_t t[8];
	int ok[8] = {0};

	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, client, &ok[i]);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT_EQ(ok[i], 20);
	}
}

static void test_address_in_use(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = tenv_free_port();
	kino_http_config_t cfg = {.host = "127.0.0.1", .port = port,
				  .max_body = 1024, .workers = 1};
	kino_http_route_t r = {.method = "GET", .pattern = "/", .handler = hello};
	kino_error_t err = {0};

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	CHECK(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CHECK(listen(fd, 1) == 0);
	CHECK(kino_http_server_new(&cfg, "test", &r, 1, &err) == NULL);
	CHECK_INT_EQ(err.code, KINO_EADDRINUSE);
	CHECK_CONTAINS(err.message, "address in use");
	close(fd);
}

static void test_listen_parse(void)
{
	kino_http_config_t cfg;
	kino_error_t err = {0};

	CHECK_INT_EQ(kino_http_listen_parse("[::1]:8080", &cfg, &err), 0);
	CHECK_STR_EQ(cfg.host, "::1");
	CHECK_INT_EQ(cfg.port, 8080);
	CHECK(kino_http_listen_parse(":8080", &cfg, &err) != 0);
	CHECK(kino_http_listen_parse("host:", &cfg, &err) != 0);
	CHECK(kino_http_listen_parse("host:12x", &cfg, &err) != 0);
}

static int slow_status;
static char *slow_body;

static void *slow_client(void *arg)
{
	char u[256];

	(void)arg;
	url(u, sizeof(u), "/slow");
	slow_status = tenv_http_get(u, &slow_body);
	return NULL;
}

static void *destroyer(void *arg)
{
	kino_http_server_destroy(arg);
	return NULL;
}

/* Stopping lets an answer in flight finish and refuses new requests. */
static void test_graceful_stop(kino_http_server_t *srv)
{
	pthread_t client, stopper;
	char u[256], *body;

	pthread_create(&client, NULL, slow_client, NULL);
	tenv_sleep_ms(150);
	pthread_create(&stopper, NULL, destroyer, srv);
	tenv_sleep_ms(150);
	url(u, sizeof(u), "/hello");
	CHECK_INT_EQ(tenv_http_get(u, &body), 503);
	CHECK_CONTAINS(body, "\"code\":\"shutting_down\"");
	free(body);
	pthread_join(client, NULL);
	CHECK_INT_EQ(slow_status, 200);
	CHECK_STR_EQ(slow_body, "finished");
	free(slow_body);
	pthread_join(stopper, NULL);
}

int main(void)
{
	kino_http_config_t cfg = {.host = "127.0.0.1", .port = 0,
				  .max_body = 4096, .workers = 2};
	const kino_http_route_t routes[] = {
		{.method = "GET", .pattern = "/hello", .handler = hello},
		{.method = "POST", .pattern = "/echo/{id}", .handler = echo,
		 .mode = KINO_HTTP_BLOCKING},
		{.method = "GET", .pattern = "/fail", .handler = fail,
		 .mode = KINO_HTTP_BLOCKING},
		{.method = "GET", .pattern = "/big", .handler = big,
		 .mode = KINO_HTTP_BLOCKING},
		{.method = "GET", .pattern = "/slow", .handler = slow,
		 .mode = KINO_HTTP_BLOCKING},
		{.method = "POST", .pattern = "/empty", .handler = count_empty,
		 .mode = KINO_HTTP_BLOCKING},
	};
	kino_error_t err = {0};
	kino_http_server_t *srv;

	kino_http_global_init();
	srv = kino_http_server_new(&cfg, "test", routes, 6, &err);
	CHECK_MSG(srv != NULL, "server: %s", kino_error_message(&err));
	CHECK_INT_EQ(kino_http_server_start(srv, &err), 0);
	CHECK(kino_http_server_port(srv) > 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));

	RUN_TEST(test_inline_and_blocking);
	RUN_TEST(test_errors_have_one_shape);
	RUN_TEST(test_empty_body);
	RUN_TEST(test_body_limit);
	RUN_TEST(test_body_limit_large);
	RUN_TEST(test_concurrent_requests);
	RUN_TEST(test_address_in_use);
	RUN_TEST(test_listen_parse);
	RUN_TEST_ARG(test_graceful_stop, srv); /* destroys the server */
	return 0;
}
