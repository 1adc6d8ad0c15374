/* URL sources (issue 3, items 1 and 8): kino_ingest_fetch against a small
 * HTTP server run by the test on 127.0.0.1 (no outside network): a whole
 * download, a connection cut half-way that the retry resumes with Range, a
 * 404 that fails at once without retries, a server that stalls, and whole
 * jobs from a URL through the library and the CLI, with nothing left
 * behind when the URL fails. */
#include "ingest_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIP MEDIA("edge-white.mp4")

static char root[700];
static int port;
static char *clip;
static size_t clip_len;
static atomic_int requests, range_requests;

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void *serve_one(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[8192], path[256] = "", head[512];
	size_t got = 0;
	long from = 0;
	const char *range;

	while (got < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[got] = '\0';
	sscanf(req, "GET %255s", path);
	atomic_fetch_add(&requests, 1);
	range = strstr(req, "Range: bytes=");
	if (range != NULL) {
		from = atol(range + 13);
		atomic_fetch_add(&range_requests, 1);
	}
	if (strcmp(path, "/missing.mp4") == 0) {
		snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
					     "Connection: close\r\n\r\n");
		send_all(fd, head, strlen(head));
	} else if (strcmp(path, "/stall.mp4") == 0) {
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
					     "Connection: close\r\n\r\n", clip_len);
		send_all(fd, head, strlen(head));
		sleep(4); /* then give up; the client must not have waited */
	} else if (range != NULL && from > 0 && (size_t)from < clip_len) {
		snprintf(head, sizeof(head),
			 "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\n"
			 "Content-Range: bytes %ld-%zu/%zu\r\nConnection: close\r\n\r\n",
			 clip_len - (size_t)from, from, clip_len - 1, clip_len);
		send_all(fd, head, strlen(head));
		send_all(fd, clip + from, clip_len - (size_t)from);
	} else {
		/* /flaky.mp4 cuts its first answer half-way. */
		bool cut = strcmp(path, "/flaky.mp4") == 0;
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
					     "Accept-Ranges: bytes\r\nConnection: close\r\n\r\n",
			 clip_len);
		send_all(fd, head, strlen(head));
		send_all(fd, clip, cut ? clip_len / 2 : clip_len);
	}
	close(fd);
	return NULL;
}

static void *serve(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	for (;;) {
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_create(&t, NULL, serve_one, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
	return NULL;
}

static void server_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	pthread_t t;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(fd, 16) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	CHECK(pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) == 0);
	pthread_detach(t);
}

static void url(char *out, size_t n, const char *path)
{
	snprintf(out, n, "http://127.0.0.1:%d%s", port, path);
}

static void check_same_as_clip(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(clip_len + 1);
	size_t n;

	CHECK(f != NULL && buf != NULL);
	n = fread(buf, 1, clip_len + 1, f);
	fclose(f);
	CHECK_INT_EQ(n, clip_len);
	CHECK(memcmp(buf, clip, clip_len) == 0);
	free(buf);
}

static void test_whole_download(void)
{
	char u[128], dest[900];
	kino_error_t err = {0};

	url(u, sizeof(u), "/clip.mp4");
	snprintf(dest, sizeof(dest), "%s/whole.mp4", root);
	CHECK_MSG(kino_ingest_fetch(u, dest, NULL, &err) == 0, "%s", kino_error_message(&err));
	check_same_as_clip(dest);
}

static void test_cut_connection_resumes_with_range(void)
{
	char u[128], dest[900];
	kino_error_t err = {0};
	int before = atomic_load(&range_requests);

	url(u, sizeof(u), "/flaky.mp4");
	snprintf(dest, sizeof(dest), "%s/flaky.mp4", root);
	CHECK_MSG(kino_ingest_fetch(u, dest, NULL, &err) == 0, "%s", kino_error_message(&err));
	check_same_as_clip(dest);
	CHECK_INT_EQ(atomic_load(&range_requests) - before, 1);
}

static void test_404_fails_at_once(void)
{
	char u[128], dest[900];
	kino_error_t err = {0};
	int before = atomic_load(&requests);

	url(u, sizeof(u), "/missing.mp4");
	snprintf(dest, sizeof(dest), "%s/missing.mp4", root);
	CHECK_INT_EQ(kino_ingest_fetch(u, dest, NULL, &err), KINO_ENOENT);
	CHECK_CONTAINS(err.message, "HTTP 404");
	CHECK_INT_EQ(atomic_load(&requests) - before, 1);
	CHECK(!file_exists(dest));
}

static void test_stall_times_out(void)
{
	char u[128], dest[900];
	kino_error_t err = {0};
	kino_ingest_fetch_options_t o;

	kino_ingest_fetch_options_init(&o);
	o.stall_timeout_s = 1;
	o.max_attempts = 2;
	url(u, sizeof(u), "/stall.mp4");
	snprintf(dest, sizeof(dest), "%s/stall.mp4", root);
	CHECK_INT_EQ(kino_ingest_fetch(u, dest, &o, &err), KINO_ETIMEDOUT);
	CHECK_CONTAINS(err.message, "after 2 attempts");
	CHECK(!file_exists(dest));
}

static void test_too_big(void)
{
	char u[128], dest[900];
	kino_error_t err = {0};
	kino_ingest_fetch_options_t o;

	kino_ingest_fetch_options_init(&o);
	o.max_bytes = 1000;
	url(u, sizeof(u), "/clip.mp4");
	snprintf(dest, sizeof(dest), "%s/big.mp4", root);
	CHECK_INT_EQ(kino_ingest_fetch(u, dest, &o, &err), KINO_ETOOBIG);
	CHECK(!file_exists(dest));
}

static void test_job_from_a_url(void)
{
	char u[128], media[900], path[1400], *json;
	kino_ingest_options_t opts;
	kino_ingest_result_t *r = NULL;
	kino_error_t err = {0};

	url(u, sizeof(u), "/flaky.mp4");
	snprintf(media, sizeof(media), "%s/media", root);
	kino_ingest_options_init(&opts);
	opts.input = u;
	opts.title = "from a URL";
	opts.media_root = media;
	CHECK_MSG(kino_ingest_run(&opts, &r, &err) == 0, "%s", kino_error_message(&err));
	snprintf(path, sizeof(path), "%s/asset.json", kino_ingest_result_asset_dir(r));
	json = tenv_read_file(path);
	CHECK_CONTAINS(json, u);
	free(json);
	snprintf(path, sizeof(path), "%s/source.download", kino_ingest_result_asset_dir(r));
	CHECK(!file_exists(path)); /* the source is not published */
	CHECK_INT_EQ(dir_count(media, NULL), 1);
	kino_ingest_result_destroy(&r);

	url(u, sizeof(u), "/missing.mp4");
	CHECK_INT_EQ(kino_ingest_run(&opts, &r, &err), KINO_ENOENT);
	CHECK_INT_EQ(dir_count(media, NULL), 1);
	CHECK_INT_EQ(dir_count(media, ".tmp"), 0);
}

static void test_cli_with_a_url(void)
{
	char u[128], env_data[900], *out = NULL, *errs = NULL;
	char *env[] = {env_data, "KINO_LOG_LEVEL=error", NULL};
	int code;

	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s/cli", root);
	url(u, sizeof(u), "/clip.mp4");
	{
		char *argv[] = {KINO_BIN, "ingest", u, "--title", "url", "--json", NULL};
		code = tenv_run(root, argv, env, 120000, &out, &errs);
	}
	CHECK_MSG(code == 0, "exit %d: %s", code, errs);
	CHECK(strncmp(out, "{\"asset_id\":\"", 13) == 0);
	free(out), free(errs);
	url(u, sizeof(u), "/missing.mp4");
	{
		char *argv[] = {KINO_BIN, "ingest", u, "--title", "url", "--json", NULL};
		code = tenv_run(root, argv, env, 120000, &out, &errs);
	}
	CHECK_INT_EQ(code, 1);
	CHECK_CONTAINS(errs, "HTTP 404");
	CHECK_STR_EQ(out, "");
	free(out), free(errs);
}

int main(void)
{
	FILE *f = fopen(CLIP, "rb");

	kino_ingest_global_init();
	CHECK(f != NULL);
	fseek(f, 0, SEEK_END);
	clip_len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	clip = malloc(clip_len);
	CHECK(clip != NULL && fread(clip, 1, clip_len, f) == clip_len);
	fclose(f);
	tenv_tmpdir(root, sizeof(root), "ingest-fetch");
	server_start();
	RUN_TEST(test_whole_download);
	RUN_TEST(test_cut_connection_resumes_with_range);
	RUN_TEST(test_404_fails_at_once);
	RUN_TEST(test_stall_times_out);
	RUN_TEST(test_too_big);
	RUN_TEST(test_job_from_a_url);
	RUN_TEST(test_cli_with_a_url);
	tenv_rmtree(root);
	free(clip);
	return 0;
}
