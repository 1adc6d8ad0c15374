/* URL sources: kino_ingest_fetch, the one fetcher (of `kino ingest URL`
 * and of the workers' URL jobs), against a local origin (http_fixture.h;
 * loopback only). What a flaky origin must not break: a whole clip with
 * progress, a redirect, 404/410/401/403/400 answered at once without
 * retries, a stall ended by the timeout, a dropped connection resumed with
 * Range within a call, a partial file resumed across calls (keep_partial),
 * a server ignoring Range, a 503 retried, the size cap, bad schemes,
 * cancelling, and what each mode leaves behind on error. Then whole jobs
 * from a URL through the library and the CLI. */
#include "http_fixture.h"
#include "ingest_test_support.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static fixture_http_t *origin;
static char root[700];

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

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", root, name);
}

/* A fast-failing configuration for the tests. */
static kino_ingest_fetch_options_t quick(void)
{
	kino_ingest_fetch_options_t o;

	kino_ingest_fetch_options_init(&o);
	o.stall_timeout_s = 5;
	o.backoff_ms = 50;
	return o;
}

static int64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static void write_bytes(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	CHECK_INT_EQ(fwrite(data, 1, len, f), len);
	CHECK(fclose(f) == 0);
}

static void check_whole_clip(const char *path)
{
	size_t len;
	const char *clip = fixture_http_clip(origin, &len);
	char *got = tenv_read_file(path);

	CHECK(got != NULL);
	CHECK_INT_EQ(file_size(path), (int64_t)len);
	CHECK(memcmp(got, clip, len) == 0);
	free(got);
}

static void test_url_check(void)
{
	kino_error_t err = {0};

	CHECK_INT_EQ(kino_ingest_url_check("http://127.0.0.1:8080/a.mp4", &err), 0);
	CHECK_INT_EQ(kino_ingest_url_check("https://example.com/v?id=1", &err), 0);
	CHECK_INT_EQ(kino_ingest_url_check("file:///etc/passwd", &err), KINO_EINVAL);
	CHECK_CONTAINS(err.message, "only http and https");
	CHECK_INT_EQ(kino_ingest_url_check("ftp://example.com/a.mp4", &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_ingest_url_check("not a url", &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_ingest_url_check("", &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_ingest_url_check(NULL, &err), KINO_EINVAL);
}

/* Fetches the origin's url_path into path (under root); returns what
 * kino_ingest_fetch returned. */
static int fetch(const char *url_path, const char *path, const kino_ingest_fetch_options_t *o,
		 kino_error_t *err)
{
	char url[128];

	url_of(url, sizeof(url), url_path);
	return kino_ingest_fetch(url, path, o, err);
}

/* The same, for fetches that must succeed: path then holds the whole clip,
 * and url_path's last request asked for last_range ("" for none). */
static void fetch_whole(const char *url_path, const char *path,
			const kino_ingest_fetch_options_t *o, const char *last_range)
{
	kino_error_t err = {0};
	char range[64];

	CHECK_MSG(fetch(url_path, path, o, &err) == 0, "%s", err.message);
	check_whole_clip(path);
	fixture_http_last_range(origin, url_path, range, sizeof(range));
	CHECK_STR_EQ(range, last_range);
}

static int64_t last_done, last_total;

static void on_progress(int64_t done, int64_t total, void *ud)
{
	CHECK(ud == &last_done);
	last_done = done;
	last_total = total;
}

static void test_whole_clip_with_progress(void)
{
	kino_ingest_fetch_options_t o = quick();
	char path[900];
	size_t len;

	fixture_http_clip(origin, &len);
	o.progress = on_progress;
	o.progress_userdata = &last_done;
	path_of(path, sizeof(path), "whole.part");
	fetch_whole("/clip.mp4", path, &o, "");
	CHECK(last_done > 0 && last_done <= (int64_t)len);
	CHECK_INT_EQ(last_total, (int64_t)len);
	unlink(path);
}

static void test_redirect_followed_with_defaults(void)
{
	char path[900];

	path_of(path, sizeof(path), "redirect.part");
	/* Whole: the redirect's own body is not in it. */
	fetch_whole("/redirect", path, NULL, "");
	unlink(path);
}

/* Answers that will not change fail at once, each with its own code. */
static void test_final_answers(void)
{
	static const struct {
		const char *path;
		int code;
		const char *says;
	} cases[] = {
		{"/missing", KINO_ENOENT, "the URL answered 404"},
		{"/status/410", KINO_ENOENT, "the URL answered 410"},
		{"/status/401", KINO_EFORBIDDEN, "the URL answered 401"},
		{"/status/403", KINO_EFORBIDDEN, "the URL answered 403"},
		{"/status/400", KINO_EINVAL, "the URL answered 400"},
	};
	kino_ingest_fetch_options_t o = quick();
	char path[900];

	path_of(path, sizeof(path), "final.part");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kino_error_t err = {0};

		CHECK_INT_EQ(fetch(cases[i].path, path, &o, &err), cases[i].code);
		CHECK_CONTAINS(err.message, cases[i].says);
		CHECK_INT_EQ(fixture_http_hits(origin, cases[i].path), 1); /* no retry */
		CHECK(!file_exists(path)); /* removed without keep_partial */
	}
}

/* With keep_partial a failure leaves what it got, and nothing of an error
 * page; without, it leaves nothing. */
static void test_what_a_failure_leaves(void)
{
	kino_ingest_fetch_options_t o = quick();
	kino_error_t err = {0};
	char path[900];

	o.keep_partial = true;
	o.stall_timeout_s = 1;
	o.tries = 1;
	path_of(path, sizeof(path), "leaves.part");
	CHECK_INT_EQ(fetch("/missing", path, &o, &err), KINO_ENOENT);
	CHECK_INT_EQ(file_size(path), 0);
	CHECK_INT_EQ(fetch("/stall", path, &o, &err), KINO_ETIMEDOUT);
	CHECK_INT_EQ(file_size(path), 1000); /* what /stall sent before stalling */
	o.keep_partial = false;
	CHECK_INT_EQ(fetch("/stall", path, &o, &err), KINO_ETIMEDOUT);
	CHECK(!file_exists(path));
}

static void test_stall_times_out(void)
{
	kino_ingest_fetch_options_t o = quick();
	kino_error_t err = {0};
	char path[900];
	int before = fixture_http_hits(origin, "/stall");
	double t0 = now_s(), took;

	o.stall_timeout_s = 1;
	o.tries = 2;
	o.backoff_ms = 100;
	path_of(path, sizeof(path), "stall.part");
	CHECK_MSG(fetch("/stall", path, &o, &err) == KINO_ETIMEDOUT, "%s", err.message);
	took = now_s() - t0;
	CHECK_CONTAINS(err.message, "stalled");
	CHECK_CONTAINS(err.message, "after 2 tries");
	CHECK_INT_EQ(fixture_http_hits(origin, "/stall") - before, 2);
	/* Two tries of about a second each, not the 6-hour total cap. */
	CHECK_MSG(took > 1.5 && took < 10, "the stall took %.1f s", took);
	CHECK(!file_exists(path));
}

static void test_resume_within_a_call(void)
{
	kino_ingest_fetch_options_t o = quick();
	char path[900], want[64];
	size_t len;

	fixture_http_clip(origin, &len);
	snprintf(want, sizeof(want), "bytes=%zu-", len / 2);
	path_of(path, sizeof(path), "drop.part");
	fetch_whole("/drop.mp4", path, &o, want);
	CHECK_INT_EQ(fixture_http_hits(origin, "/drop.mp4"), 2);
	unlink(path);
}

/* A URL job's next attempt: the bytes already in the file are kept. */
static void test_resume_across_calls(void)
{
	kino_ingest_fetch_options_t o = quick();
	char path[900], want[64];
	size_t len;
	const char *clip = fixture_http_clip(origin, &len);

	o.keep_partial = true;
	path_of(path, sizeof(path), "across.part");
	write_bytes(path, clip, len / 3);
	snprintf(want, sizeof(want), "bytes=%zu-", len / 3);
	fetch_whole("/clip.mp4", path, &o, want);
	/* A file the server cannot extend (416) is fetched again. */
	fetch_whole("/clip.mp4", path, &o, "");
	unlink(path);
}

/* Without keep_partial, what dest held before is not taken for a start. */
static void test_fresh_call_truncates(void)
{
	kino_ingest_fetch_options_t o = quick();
	char path[900];

	path_of(path, sizeof(path), "fresh.part");
	write_bytes(path, "junk", 4);
	fetch_whole("/clip.mp4", path, &o, "");
	unlink(path);
}

static void test_range_ignored_restarts(void)
{
	kino_ingest_fetch_options_t o = quick();
	char path[900], junk[100];

	/* Junk from an earlier attempt: the server sends the whole body with
	 * 200, so the file must start over, not append. */
	memset(junk, 'x', sizeof(junk));
	o.keep_partial = true;
	path_of(path, sizeof(path), "norange.part");
	write_bytes(path, junk, sizeof(junk));
	fetch_whole("/norange.mp4", path, &o, "bytes=100-");
	unlink(path);
}

static void test_retry_after_503(void)
{
	kino_ingest_fetch_options_t o = quick();
	char path[900];

	path_of(path, sizeof(path), "flaky.part");
	fetch_whole("/flaky.mp4", path, &o, "");
	CHECK_INT_EQ(fixture_http_hits(origin, "/flaky.mp4"), 2);
	unlink(path);
}

static void test_size_cap(void)
{
	kino_ingest_fetch_options_t o = quick();
	kino_error_t err = {0};
	char path[900];

	o.max_bytes = 4096;
	path_of(path, sizeof(path), "big.part");
	CHECK_INT_EQ(fetch("/clip.mp4", path, &o, &err), KINO_ETOOBIG);
	CHECK_CONTAINS(err.message, "4096-byte limit");
	CHECK(!file_exists(path));
}

static void test_bad_schemes(void)
{
	kino_error_t err = {0};
	char path[900];

	path_of(path, sizeof(path), "scheme.part");
	CHECK_INT_EQ(kino_ingest_fetch("file:///etc/hostname", path, NULL, &err), KINO_EINVAL);
	CHECK_INT_EQ(kino_ingest_fetch("gopher://127.0.0.1/", path, NULL, &err), KINO_EINVAL);
	CHECK(!file_exists(path));
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
	kino_ingest_fetch_options_t o = quick();
	kino_error_t err = {0};
	char path[900];
	pthread_t t;
	double t0 = now_s();

	o.stall_timeout_s = 30;
	o.cancel = &cancel_flag;
	path_of(path, sizeof(path), "cancel.part");
	CHECK(pthread_create(&t, NULL, cancel_soon, NULL) == 0);
	CHECK_INT_EQ(fetch("/stall", path, &o, &err), KINO_ECANCELED);
	pthread_join(t, NULL);
	CHECK_MSG(now_s() - t0 < 5, "cancelling took %.1f s", now_s() - t0);
	CHECK(!file_exists(path));
}

static void test_job_from_a_url(void)
{
	char u[128], media[900], path[1400], *json;
	kino_ingest_options_t opts;
	kino_ingest_result_t *r = NULL;
	kino_error_t err = {0};

	url_of(u, sizeof(u), "/clip.mp4");
	path_of(media, sizeof(media), "media");
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

	url_of(u, sizeof(u), "/missing");
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
	url_of(u, sizeof(u), "/clip.mp4");
	{
		char *argv[] = {KINO_BIN, "ingest", u, "--title", "url", "--json", NULL};
		code = tenv_run(root, argv, env, 120000, &out, &errs);
	}
	CHECK_MSG(code == 0, "exit %d: %s", code, errs);
	CHECK(strncmp(out, "{\"asset_id\":\"", 13) == 0);
	free(out), free(errs);
	url_of(u, sizeof(u), "/missing");
	{
		char *argv[] = {KINO_BIN, "ingest", u, "--title", "url", "--json", NULL};
		code = tenv_run(root, argv, env, 120000, &out, &errs);
	}
	CHECK_INT_EQ(code, 1);
	CHECK_CONTAINS(errs, "the URL answered 404");
	CHECK_STR_EQ(out, "");
	free(out), free(errs);
}

int main(void)
{
	kino_ingest_global_init();
	tenv_tmpdir(root, sizeof(root), "ingest-fetch");
	origin = fixture_http_start(MEDIA("edge-white.mp4"));
	RUN_TEST(test_url_check);
	RUN_TEST(test_whole_clip_with_progress);
	RUN_TEST(test_redirect_followed_with_defaults);
	RUN_TEST(test_final_answers);
	RUN_TEST(test_what_a_failure_leaves);
	RUN_TEST(test_stall_times_out);
	RUN_TEST(test_resume_within_a_call);
	RUN_TEST(test_resume_across_calls);
	RUN_TEST(test_fresh_call_truncates);
	RUN_TEST(test_range_ignored_restarts);
	RUN_TEST(test_retry_after_503);
	RUN_TEST(test_size_cap);
	RUN_TEST(test_bad_schemes);
	RUN_TEST(test_cancel);
	RUN_TEST(test_job_from_a_url);
	RUN_TEST(test_cli_with_a_url);
	fixture_http_stop(origin);
	tenv_rmtree(root);
	return 0;
}
