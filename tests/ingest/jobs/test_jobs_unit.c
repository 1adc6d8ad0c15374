/* The pure parts of the jobs module: tus Upload-Metadata and base64,
 * offsets, URL checks, names and the job's JSON. No server, no database. */
#include "check.h"

#include "jobs_internal.h"

#include <string.h>

static void test_base64(void)
{
	char out[64];

	CHECK_INT_EQ(tus_base64_decode("aGVsbG8=", 8, out, sizeof(out)), 5);
	CHECK_STR_EQ(out, "hello");
	CHECK_INT_EQ(tus_base64_decode("aGVsbG8", 7, out, sizeof(out)), 5);
	CHECK_STR_EQ(out, "hello");
	CHECK_INT_EQ(tus_base64_decode("", 0, out, sizeof(out)), 0);
	CHECK_STR_EQ(out, "");
	CHECK_INT_EQ(tus_base64_decode("YQ==", 4, out, sizeof(out)), 1);
	CHECK_STR_EQ(out, "a");
	CHECK_INT_EQ(tus_base64_decode("a", 1, out, sizeof(out)), -1);
	CHECK_INT_EQ(tus_base64_decode("aGV$bG8=", 8, out, sizeof(out)), -1);
	CHECK_INT_EQ(tus_base64_decode("YQ=", 3, out, sizeof(out)), -1);
	/* Does not fit: refused, never cut. */
	CHECK_INT_EQ(tus_base64_decode("aGVsbG8=", 8, out, 5), -1);
}

static void test_metadata(void)
{
	const char *h = "filename YmJiLm1wNA==,title QmlnIEJ1Y2sgQnVubnk=,is_confidential";
	kino_error_t err = {0};
	char out[64];

	CHECK_INT_EQ(tus_metadata_get(h, "filename", out, sizeof(out), &err), 0);
	CHECK_STR_EQ(out, "bbb.mp4");
	CHECK_INT_EQ(tus_metadata_get(h, "title", out, sizeof(out), &err), 0);
	CHECK_STR_EQ(out, "Big Buck Bunny");
	CHECK_INT_EQ(tus_metadata_get(h, "is_confidential", out, sizeof(out), &err), KINO_ENOENT);
	CHECK_INT_EQ(tus_metadata_get(h, "file", out, sizeof(out), &err), KINO_ENOENT);
	CHECK_INT_EQ(tus_metadata_get("title %%%", "title", out, sizeof(out), &err), KINO_EPARSE);
	CHECK_CONTAINS(err.message, "title");
	/* Spaces after commas are tolerated, as clients differ. */
	CHECK_INT_EQ(tus_metadata_get("a YQ==, title eA==", "title", out, sizeof(out), &err), 0);
	CHECK_STR_EQ(out, "x");
	/* A value longer than the caller's buffer is an error. */
	CHECK_INT_EQ(tus_metadata_get(h, "title", out, 5, &err), KINO_EPARSE);
	/* Text only: an embedded NUL is refused. */
	CHECK_INT_EQ(tus_metadata_get("title YQBi", "title", out, sizeof(out), &err), KINO_EPARSE);
}

static void test_offsets(void)
{
	int64_t v;

	CHECK(tus_parse_offset("0", &v) && v == 0);
	CHECK(tus_parse_offset("9223372036854775807", &v) && v == INT64_MAX);
	CHECK(!tus_parse_offset("9223372036854775808", &v));
	CHECK(!tus_parse_offset("-1", &v));
	CHECK(!tus_parse_offset(" 1", &v));
	CHECK(!tus_parse_offset("1k", &v));
	CHECK(!tus_parse_offset("", &v));
	CHECK(!tus_parse_offset(NULL, &v));
}

static void test_names_and_ids(void)
{
	char id[KINO_JOBS_ID_LEN + 1], id2[KINO_JOBS_ID_LEN + 1];

	CHECK_STR_EQ(kino_jobs_kind_name(KINO_JOBS_KIND_UPLOAD), "upload");
	CHECK_STR_EQ(kino_jobs_state_name(KINO_JOBS_FAILED), "failed");
	CHECK_STR_EQ(kino_jobs_state_name((kino_jobs_state_t)9), "unknown");
	jobs_id_new(id);
	jobs_id_new(id2);
	CHECK(jobs_id_valid(id));
	CHECK(strcmp(id, id2) != 0);
	CHECK(!jobs_id_valid("../../etc/passwd"));
	CHECK(!jobs_id_valid("0123456789abcdef0123456G"));
	CHECK(!jobs_id_valid(NULL));
}

static void test_job_json(void)
{
	static kino_jobs_info_t job;
	char buf[8192];
	size_t n;

	snprintf(job.id, sizeof(job.id), "0123456789abcdef01234567");
	job.kind = KINO_JOBS_KIND_URL;
	job.state = KINO_JOBS_RUNNING;
	snprintf(job.source, sizeof(job.source), "http://h/a \"b\".mp4");
	snprintf(job.title, sizeof(job.title), "A \"quoted\" title");
	job.attempts = 2;
	snprintf(job.phase, sizeof(job.phase), "transcoding");
	job.fraction = 0.5;
	job.fps = 120;
	job.eta_seconds = -1;
	job.lease_until_ms = 1700000000123LL;
	job.created_at_ms = 1700000000000LL;
	n = kino_jobs_job_json(&job, buf, sizeof(buf));
	CHECK_INT_EQ(n, strlen(buf));
	CHECK_CONTAINS(buf, "\"state\":\"running\"");
	CHECK_CONTAINS(buf, "\"kind\":\"url\"");
	CHECK_CONTAINS(buf, "\"title\":\"A \\\"quoted\\\" title\"");
	CHECK_CONTAINS(buf, "\"attempts\":2");
	CHECK_CONTAINS(buf, "\"progress\":{\"phase\":\"transcoding\",\"fraction\":0.5000,"
			    "\"fps\":120.0,\"eta_seconds\":null}");
	CHECK_CONTAINS(buf, "\"error\":null");
	CHECK_CONTAINS(buf, "\"asset_id\":null");
	CHECK_CONTAINS(buf, "\"lease_until\":\"2023-11-14T22:13:20.123Z\"");
	/* The length it needs, as snprintf: a short buffer is cut, not overrun. */
	CHECK_INT_EQ(kino_jobs_job_json(&job, buf, 10), n);
	CHECK_INT_EQ(strlen(buf), 9);
	CHECK_INT_EQ(kino_jobs_job_json(&job, NULL, 0), n);
}

int main(void)
{
	RUN_TEST(test_base64);
	RUN_TEST(test_metadata);
	RUN_TEST(test_offsets);
	RUN_TEST(test_names_and_ids);
	RUN_TEST(test_job_json);
	return 0;
}
