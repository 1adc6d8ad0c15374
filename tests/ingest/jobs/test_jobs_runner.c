/* Jobs in a FerretDB of the test's own, run in-process with
 * kino_jobs_run_one: a file job to done, bad media failing at once with no
 * asset and no temporary file, URL jobs (a clip, a 404, an unreachable
 * host retried then given up), the lease rules (a second claimer waits for
 * the lease, takes over with attempts 2, the first one's writes are
 * refused, a lease lapsing on the last attempt fails the job), claimers
 * racing for one job, and a stopping worker giving its job back. */
#include "check.h"
#include "http_fixture.h"
#include "testenv.h"

#include "jobs_internal.h"

#include "kino/db.h"
#include "kino/ingest.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static tenv_db_t db;
static char dir[512];
static kino_config_t *cfg;
static kino_db_t *kdb;
static kino_jobs_t *jobs;
static fixture_http_t *origin;
static kino_jobs_info_t job; /* large: static */

static void get_job(const char *id)
{
	kino_error_t err = {0};

	CHECK_MSG(kino_jobs_job_get(jobs, id, &job, &err) == 0, "%s", err.message);
}

static void create(kino_jobs_kind_t kind, const char *source, const char *ladder,
		   char id[KINO_JOBS_ID_LEN + 1])
{
	kino_jobs_spec_t spec = {.kind = kind, .source = source, .ladder = ladder};
	kino_error_t err = {0};

	CHECK_MSG(kino_jobs_job_create(jobs, &spec, id, &err) == 0, "%s", err.message);
}

static bool run_one(const char *owner)
{
	kino_error_t err = {0};
	bool ran = false;

	CHECK_MSG(kino_jobs_run_one(jobs, owner, 1, NULL, &ran, &err) == 0, "%s", err.message);
	return ran;
}

/* Entries of a directory (without . and ..); -1 when it does not exist.
 * Fails the test on a ".tmp-" entry: nothing temporary may stay. */
static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		CHECK_MSG(strncmp(e->d_name, ".tmp-", 5) != 0, "left behind: %s/%s", path,
			  e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void url_of(char *buf, size_t size, const char *path)
{
	snprintf(buf, size, "http://127.0.0.1:%d%s", fixture_http_port(origin), path);
}

static void test_file_job_done(void)
{
	char id[KINO_JOBS_ID_LEN + 1];
	struct stat st;

	create(KINO_JOBS_KIND_FILE, KINO_SHARED_DIR "/media/edge-white.mp4", "240:400", id);
	get_job(id);
	CHECK_INT_EQ(job.state, KINO_JOBS_QUEUED);
	CHECK_STR_EQ(job.title, "edge-white.mp4");
	CHECK(run_one("test:a"));
	get_job(id);
	CHECK_MSG(job.state == KINO_JOBS_DONE, "state %s: %s", kino_jobs_state_name(job.state),
		  job.error);
	CHECK_INT_EQ(job.attempts, 1);
	CHECK(job.asset_id[0] != '\0');
	CHECK(stat(job.hls, &st) == 0);
	CHECK(stat(job.dash, &st) == 0);
	CHECK(job.fraction == 1.0);
	CHECK_STR_EQ(job.lease_owner, "");
	/* The source file is the user's: never removed. */
	CHECK(access(KINO_SHARED_DIR "/media/edge-white.mp4", R_OK) == 0);
	/* Nothing left to claim. */
	CHECK(!run_one("test:a"));
}

static void test_bad_media_fails_at_once(void)
{
	char id[KINO_JOBS_ID_LEN + 1], path[600], media[600];
	int before;
	FILE *f;

	snprintf(path, sizeof(path), "%s/notes.mp4", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("These are meeting notes, not a video.\n", f);
	fclose(f);
	snprintf(media, sizeof(media), "%s/data/media", dir);
	before = entries(media);
	create(KINO_JOBS_KIND_FILE, path, "240:400", id);
	CHECK(run_one("test:a"));
	get_job(id);
	CHECK_INT_EQ(job.state, KINO_JOBS_FAILED);
	CHECK_INT_EQ(job.attempts, 1); /* no point retrying bad media */
	CHECK_CONTAINS(job.error, "is not a media file");
	CHECK_INT_EQ(entries(media), before);
	unlink(path);
}

static void test_url_jobs(void)
{
	char id[KINO_JOBS_ID_LEN + 1], id404[KINO_JOBS_ID_LEN + 1], url[128], uploads[600];
	struct stat st;

	snprintf(uploads, sizeof(uploads), "%s/data/uploads", dir);
	url_of(url, sizeof(url), "/drop.mp4");
	create(KINO_JOBS_KIND_URL, url, "240:400", id);
	CHECK(run_one("test:a"));
	get_job(id);
	CHECK_MSG(job.state == KINO_JOBS_DONE, "state %s: %s", kino_jobs_state_name(job.state),
		  job.error);
	CHECK_STR_EQ(job.title, "drop.mp4");
	CHECK(stat(job.hls, &st) == 0);
	CHECK_INT_EQ(fixture_http_hits(origin, "/drop.mp4"), 2); /* dropped, resumed */

	url_of(url, sizeof(url), "/missing");
	create(KINO_JOBS_KIND_URL, url, NULL, id404);
	CHECK(run_one("test:a"));
	get_job(id404);
	CHECK_INT_EQ(job.state, KINO_JOBS_FAILED);
	CHECK_INT_EQ(job.attempts, 1);
	CHECK_CONTAINS(job.error, "the URL answered 404");
	/* Neither download is left behind. */
	CHECK_INT_EQ(entries(uploads), 0);
}

static void test_unreachable_retried_then_failed(void)
{
	char id[KINO_JOBS_ID_LEN + 1], url[128];
	bool ok;

	/* A port where nothing listens: refused at once, a transient error. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/gone.mp4", tenv_free_port());
	create(KINO_JOBS_KIND_URL, url, NULL, id);
	CHECK(run_one("test:a"));
	get_job(id);
	CHECK_INT_EQ(job.state, KINO_JOBS_QUEUED);
	CHECK_INT_EQ(job.attempts, 1);
	CHECK_CONTAINS(job.error, "after 3 tries");
	/* Not claimable before its backoff (2 s) is over. */
	CHECK(job.lease_until_ms > jobs_now_ms());
	CHECK(!run_one("test:b"));
	TENV_WAIT_UNTIL(ok, jobs_now_ms() > job.lease_until_ms, 5000);
	CHECK(ok);
	CHECK(run_one("test:b"));
	get_job(id);
	CHECK_INT_EQ(job.state, KINO_JOBS_FAILED);
	CHECK_INT_EQ(job.attempts, 2);
	CHECK_CONTAINS(job.error, "gave up after 2 attempts");
	CHECK_CONTAINS(job.error, "Couldn't connect");
}

static void test_lease_rules(void)
{
	static kino_jobs_info_t a, b;
	jobs_lease_t la, lb;
	char id[KINO_JOBS_ID_LEN + 1];
	jobs_progress_t p = {.phase = "transcoding", .fraction = 0.25, .fps = 30, .eta_seconds = 3};
	kino_error_t err = {0};
	bool ours, ok;

	create(KINO_JOBS_KIND_FILE, "/nonexistent/never-run.mp4", NULL, id);
	CHECK_INT_EQ(store_job_claim(jobs, "A", &a, &la, &err), 0);
	CHECK_STR_EQ(a.id, id);
	CHECK_INT_EQ(a.attempts, 1);
	CHECK_STR_EQ(a.lease_owner, "A");
	/* Held: nobody else gets it. */
	CHECK_INT_EQ(store_job_claim(jobs, "B", &b, &lb, &err), KINO_ENOENT);
	CHECK_INT_EQ(store_job_renew(jobs, &la, &p, &ours, &err), 0);
	CHECK(ours);
	get_job(id);
	CHECK_STR_EQ(job.phase, "transcoding");
	CHECK(job.fraction == 0.25);
	/* A stops renewing (as a killed worker would); once the lease lapses B
	 * takes over with the next attempt. */
	TENV_WAIT_UNTIL(ok, jobs_now_ms() > job.lease_until_ms + 50, 5000);
	CHECK(ok);
	CHECK_INT_EQ(store_job_claim(jobs, "B", &b, &lb, &err), 0);
	CHECK_STR_EQ(b.id, id);
	CHECK_INT_EQ(b.attempts, 2);
	CHECK_STR_EQ(b.lease_owner, "B");
	/* A, if it comes back, can change nothing. */
	CHECK_INT_EQ(store_job_renew(jobs, &la, &p, &ours, &err), 0);
	CHECK(!ours);
	CHECK_INT_EQ(store_job_done(jobs, &la, "x", "x", "x", &err), KINO_ESTATE);
	CHECK_INT_EQ(store_job_fail(jobs, &la, "x", &err), KINO_ESTATE);
	CHECK_INT_EQ(store_job_release(jobs, &la, &err), KINO_ESTATE);
	get_job(id);
	CHECK_STR_EQ(job.lease_owner, "B");
	CHECK_INT_EQ(job.attempts, 2);
	/* B's lease lapses too, on the last attempt (max 2): nobody may claim
	 * it, and the sweep fails it with the reason. */
	get_job(id);
	TENV_WAIT_UNTIL(ok, jobs_now_ms() > job.lease_until_ms + 50, 5000);
	CHECK(ok);
	CHECK_INT_EQ(store_job_claim(jobs, "C", &b, &lb, &err), KINO_ENOENT);
	/* What the dead attempt left in its staging directory goes with it. */
	char staging[700], junk[800];
	jobs_staging_path(jobs, id, staging, sizeof(staging));
	CHECK(mkdir(staging, 0755) == 0);
	snprintf(junk, sizeof(junk), "%s/.tmp-0123456789abcdef", staging);
	CHECK(mkdir(junk, 0755) == 0);
	CHECK(!run_one("C")); /* sweeps, and finds nothing to claim */
	CHECK(access(staging, F_OK) != 0);
	CHECK_INT_EQ(store_job_sweep_one(jobs, "C", &b, &err), KINO_ENOENT);
	get_job(id);
	CHECK_INT_EQ(job.state, KINO_JOBS_FAILED);
	CHECK_CONTAINS(job.error, "gave up after 2 attempts");
	CHECK_CONTAINS(job.error, "lease");
}

#define RACERS 6

typedef struct racer {
	pthread_barrier_t *go;
	char owner[16];
	int ret;
} racer_t;

static void *race(void *arg)
{
	static kino_jobs_info_t infos[RACERS];
	racer_t *r = arg;
	jobs_lease_t lease;

	pthread_barrier_wait(r->go);
	r->ret = store_job_claim(jobs, r->owner, &infos[r->owner[1] - '0'], &lease, NULL);
	return NULL;
}

/* Workers claiming at the same moment: exactly one gets the job (FerretDB's
 * own findAndModify would let several "win"). */
static void test_racing_claims(void)
{
	char id[KINO_JOBS_ID_LEN + 1];
	pthread_barrier_t go;
	pthread_t t[RACERS];
	racer_t r[RACERS];
	jobs_lease_t lease;
	int winners = 0;

	for (int round = 0; round < 3; round++) {
		create(KINO_JOBS_KIND_FILE, "/nonexistent/raced.mp4", NULL, id);
		pthread_barrier_init(&go, NULL, RACERS);
		for (int i = 0; i < RACERS; i++) {
			r[i] = (racer_t){.go = &go};
			snprintf(r[i].owner, sizeof(r[i].owner), "R%d", i);
			CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0);
		}
		winners = 0;
		for (int i = 0; i < RACERS; i++) {
			pthread_join(t[i], NULL);
			CHECK_MSG(r[i].ret == 0 || r[i].ret == KINO_ENOENT, "claim: %d", r[i].ret);
			winners += r[i].ret == 0;
		}
		pthread_barrier_destroy(&go);
		CHECK_INT_EQ(winners, 1);
		get_job(id);
		CHECK_INT_EQ(job.attempts, 1);
		CHECK_INT_EQ(job.state, KINO_JOBS_RUNNING);
		/* The job's holder, whoever won, ends it. */
		lease = (jobs_lease_t){.claim = 1};
		snprintf(lease.id, sizeof(lease.id), "%s", id);
		snprintf(lease.owner, sizeof(lease.owner), "%s", job.lease_owner);
		CHECK_INT_EQ(store_job_fail(jobs, &lease, "raced", NULL), 0);
	}
}

typedef struct runner_arg {
	atomic_bool stop;
	bool ran;
	int ret;
} runner_arg_t;

static void *runner(void *arg)
{
	runner_arg_t *r = arg;
	kino_error_t err = {0};

	r->ret = kino_jobs_run_one(jobs, "test:stopping", 1, &r->stop, &r->ran, &err);
	return NULL;
}

static void test_stop_gives_job_back(void)
{
	char id[KINO_JOBS_ID_LEN + 1], media[600];
	runner_arg_t r = {0};
	pthread_t t;
	bool ok;
	int before;

	snprintf(media, sizeof(media), "%s/data/media", dir);
	before = entries(media);
	create(KINO_JOBS_KIND_FILE, KINO_SHARED_DIR "/media/bbb-480p-30s.mp4", "240:400", id);
	CHECK(pthread_create(&t, NULL, runner, &r) == 0);
	/* Progress reaches the database while it runs. */
	TENV_WAIT_UNTIL(ok, (get_job(id), job.state == KINO_JOBS_RUNNING && job.fraction > 0), 20000);
	CHECK_MSG(ok, "no progress written: state %s, phase '%s'", kino_jobs_state_name(job.state),
		  job.phase);
	CHECK_STR_EQ(job.phase, "transcoding");
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	CHECK_INT_EQ(r.ret, 0);
	CHECK(r.ran);
	get_job(id);
	CHECK_INT_EQ(job.state, KINO_JOBS_QUEUED);
	CHECK_INT_EQ(job.attempts, 0); /* a stop does not count as an attempt */
	CHECK_STR_EQ(job.lease_owner, "");
	CHECK_INT_EQ(entries(media), before);
	/* Leave the queue empty for whatever comes next. */
	jobs_lease_t lease;
	CHECK_INT_EQ(store_job_claim(jobs, "test:cleanup", &job, &lease, &(kino_error_t){0}), 0);
	CHECK_INT_EQ(store_job_fail(jobs, &lease, "test over", NULL), 0);
}

int main(void)
{
	kino_error_t err = {0};

	kino_db_global_init();
	kino_ingest_global_init(); /* libcurl, for the URL jobs */
	kino_log_set_level(KINO_LOG_LEVEL_WARN);
	tenv_db_start(&db);
	tenv_tmpdir(dir, sizeof(dir), "jobs-runner");
	cfg = calloc(1, sizeof(*cfg));
	CHECK(cfg != NULL);
	kino_config_defaults(cfg);
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s/data", dir);
	snprintf(cfg->db.uri, sizeof(cfg->db.uri), "%s", db.uri);
	cfg->jobs.lease_s = 2; /* below the configurable minimum, to keep this fast */
	cfg->jobs.max_attempts = 2;
	cfg->jobs.fetch_timeout_s = 2;
	kdb = kino_db_new(&cfg->db, &err);
	CHECK(kdb != NULL);
	CHECK_MSG(kino_db_wait_ready(kdb, 30000, &err) == 0, "%s", err.message);
	jobs = kino_jobs_new(kdb, NULL, cfg, &err);
	CHECK(jobs != NULL);
	CHECK_MSG(kino_jobs_ensure_indexes(jobs, &err) == 0, "%s", err.message);
	origin = fixture_http_start(KINO_SHARED_DIR "/media/edge-white.mp4");

	RUN_TEST(test_file_job_done);
	RUN_TEST(test_bad_media_fails_at_once);
	RUN_TEST(test_url_jobs);
	RUN_TEST(test_unreachable_retried_then_failed);
	RUN_TEST(test_lease_rules);
	RUN_TEST(test_racing_claims);
	RUN_TEST(test_stop_gives_job_back);

	fixture_http_stop(origin);
	kino_jobs_destroy(jobs);
	kino_db_destroy(kdb);
	free(cfg);
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	kino_db_global_cleanup();
	return 0;
}
