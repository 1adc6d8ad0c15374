/* URL sources against a local origin (http_fixture.c): a whole clip, a
 * 404, a stall that the low-speed timeout ends, a dropped connection that
 * the next try resumes with Range, a server that ignores Range, a 503 that
 * a retry gets past, the size cap and cancelling. Loopback only, no
 * database. */
#include "check.h"
#include "http_fixture.h"
#include "testenv.h"

#include "kino/error.h"
#include "kino/jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static fixture_http_t *origin;
static char dir[512];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void url_of(char *buf, size_t size, const char *path)
{
	snprintf(buf, size, "http://127.0.0.1:%d%s", fixture_http_port(origin), path);
}

static void check_whole_clip(const char *path)
{
	size_t len, got_len;
	const char *clip = fixture_http_clip(origin, &len);
	char *got = tenv_read_file(path);
	struct stat st;

	CHECK(got != NULL);
	CHECK(stat(path, &st) == 0);
	got_len = (size_t)st.st_size;
	CHECK_INT_EQ(got_len, len);
	CHECK(memcmp(got, clip, len) == 0);
	free(got);
}

static int64_t last_done;

static void on_progress(int64_t done, int64_t total, void *ud)
{
	(void)total;
	(void)ud;
	last_done = done;
}

static void test_whole_clip(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 5, .progress = on_progress};
	kino_error_t err = {0};
	char url[128], path[600];

	url_of(url, sizeof(url), "/clip.mp4");
	snprintf(path, sizeof(path), "%s/whole.part", dir);
	CHECK_MSG(kino_jobs_url_fetch(url, path, &o, &err) == 0, "%s", err.message);
	check_whole_clip(path);
	CHECK(last_done > 0);
	unlink(path);
}

static void test_redirect_followed(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 5};
	kino_error_t err = {0};
	char url[128], path[600];

	url_of(url, sizeof(url), "/redirect");
	snprintf(path, sizeof(path), "%s/redirect.part", dir);
	CHECK_MSG(kino_jobs_url_fetch(url, path, &o, &err) == 0, "%s", err.message);
	check_whole_clip(path); /* the redirect's own body is not in it */
	unlink(path);
}

static void test_404_is_final(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 5};
	kino_error_t err = {0};
	char url[128], path[600];

	url_of(url, sizeof(url), "/missing");
	snprintf(path, sizeof(path), "%s/missing.part", dir);
	CHECK_INT_EQ(kino_jobs_url_fetch(url, path, &o, &err), KINO_ENOENT);
	CHECK_CONTAINS(err.message, "the URL answered 404");
	/* Not retried: a 404 will not go away. */
	CHECK_INT_EQ(fixture_http_hits(origin, "/missing"), 1);
	/* The body of the error page is not kept. */
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size == 0);
	unlink(path);
}

static void test_stall_times_out(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 1, .tries = 2, .backoff_ms = 100};
	kino_error_t err = {0};
	char url[128], path[600];
	double t0 = now_s(), took;

	url_of(url, sizeof(url), "/stall");
	snprintf(path, sizeof(path), "%s/stall.part", dir);
	CHECK_MSG(kino_jobs_url_fetch(url, path, &o, &err) == KINO_ETIMEDOUT, "%s", err.message);
	took = now_s() - t0;
	CHECK_CONTAINS(err.message, "stalled");
	CHECK_CONTAINS(err.message, "after 2 tries");
	CHECK_INT_EQ(fixture_http_hits(origin, "/stall"), 2);
	/* Two tries of about a second each, not the 6-hour total cap. */
	CHECK_MSG(took > 1.5 && took < 10, "the stall took %.1f s", took);
	unlink(path);
}

static void test_resume_with_range(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 5, .backoff_ms = 50};
	kino_error_t err = {0};
	char url[128], path[600], range[64], want[64];
	size_t len;

	fixture_http_clip(origin, &len);
	url_of(url, sizeof(url), "/drop.mp4");
	snprintf(path, sizeof(path), "%s/drop.part", dir);
	CHECK_MSG(kino_jobs_url_fetch(url, path, &o, &err) == 0, "%s", err.message);
	check_whole_clip(path);
	CHECK_INT_EQ(fixture_http_hits(origin, "/drop.mp4"), 2);
	fixture_http_last_range(origin, "/drop.mp4", range, sizeof(range));
	snprintf(want, sizeof(want), "bytes=%zu-", len / 2);
	CHECK_STR_EQ(range, want);
	unlink(path);
}

static void test_range_ignored_restarts(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 5};
	kino_error_t err = {0};
	char url[128], path[600];
	FILE *f;

	/* 100 bytes of junk from an earlier try: the server sends the whole
	 * body with 200, so the file must start over, not append. */
	snprintf(path, sizeof(path), "%s/norange.part", dir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	for (int i = 0; i < 100; i++)
		fputc('x', f);
	fclose(f);
	url_of(url, sizeof(url), "/norange.mp4");
	CHECK_MSG(kino_jobs_url_fetch(url, path, &o, &err) == 0, "%s", err.message);
	check_whole_clip(path);
	unlink(path);
}

static void test_retry_after_503(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 5, .backoff_ms = 50};
	kino_error_t err = {0};
	char url[128], path[600];

	url_of(url, sizeof(url), "/flaky.mp4");
	snprintf(path, sizeof(path), "%s/flaky.part", dir);
	CHECK_MSG(kino_jobs_url_fetch(url, path, &o, &err) == 0, "%s", err.message);
	check_whole_clip(path);
	CHECK_INT_EQ(fixture_http_hits(origin, "/flaky.mp4"), 2);
	unlink(path);
}

static void test_size_cap(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 5, .max_size = 4096};
	kino_error_t err = {0};
	char url[128], path[600];

	url_of(url, sizeof(url), "/clip.mp4");
	snprintf(path, sizeof(path), "%s/big.part", dir);
	CHECK_INT_EQ(kino_jobs_url_fetch(url, path, &o, &err), KINO_ETOOBIG);
	CHECK_CONTAINS(err.message, "4096-byte limit");
	unlink(path);
}

static void test_bad_schemes(void)
{
	kino_error_t err = {0};
	char path[600];

	snprintf(path, sizeof(path), "%s/scheme.part", dir);
	CHECK_INT_EQ(kino_jobs_url_fetch("file:///etc/hostname", path, NULL, &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_jobs_url_fetch("gopher://127.0.0.1/", path, NULL, &err), KINO_EINVAL);
	CHECK(access(path, F_OK) != 0);
}

static atomic_bool cancel_flag;

static void *cancel_soon(void *arg)
{
	(void)arg;
	tenv_sleep_ms(300);
	atomic_store(&cancel_flag, true);
	return NULL;
}

static void test_cancel(void)
{
	kino_jobs_fetch_options_t o = {.timeout_s = 30, .cancel = &cancel_flag};
	kino_error_t err = {0};
	char url[128], path[600];
	pthread_t t;
	double t0 = now_s();

	url_of(url, sizeof(url), "/stall");
	snprintf(path, sizeof(path), "%s/cancel.part", dir);
	CHECK(pthread_create(&t, NULL, cancel_soon, NULL) == 0);
	CHECK_INT_EQ(kino_jobs_url_fetch(url, path, &o, &err), KINO_ECANCELED);
	pthread_join(t, NULL);
	CHECK_MSG(now_s() - t0 < 5, "cancelling took %.1f s", now_s() - t0);
	unlink(path);
}

int main(void)
{
	kino_jobs_global_init();
	tenv_tmpdir(dir, sizeof(dir), "jobs-fetch");
	origin = fixture_http_start(KINO_SHARED_DIR "/media/edge-bipbop_nonfragment_header.mp4");
	RUN_TEST(test_whole_clip);
	RUN_TEST(test_redirect_followed);
	RUN_TEST(test_404_is_final);
	RUN_TEST(test_stall_times_out);
	RUN_TEST(test_resume_with_range);
	RUN_TEST(test_range_ignored_restarts);
	RUN_TEST(test_retry_after_503);
	RUN_TEST(test_size_cap);
	RUN_TEST(test_bad_schemes);
	RUN_TEST(test_cancel);
	fixture_http_stop(origin);
	CHECK(rmdir(dir) == 0); /* every test removed what it wrote */
	return 0;
}
