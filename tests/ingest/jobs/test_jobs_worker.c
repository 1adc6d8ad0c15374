/* `kino worker` processes against a FerretDB of the test's own, with
 * KINO_JOBS_LEASE=5s: a worker SIGKILLed mid-job leaves its lease to lapse
 * and a second worker takes the job over and finishes it (attempts 2),
 * cleaning what the first left; with KINO_JOBS_MAX_ATTEMPTS=1 the same
 * death fails the job with its reason; SIGTERM gives a running job back to
 * the queue; --once runs one job, or none when the queue is empty; two
 * workers (one with --concurrency 2) share four jobs and run each once. */
#include "check.h"
#include "testenv.h"

#include "jobs_internal.h"

#include "kino/db.h"
#include "kino/ingest.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BBB KINO_SHARED_DIR "/media/bbb-480p-30s.mp4"

static tenv_db_t db;
static char dir[512], media[600], uploads[600];
static char env_uri[200], env_data[700];
static kino_config_t *cfg;
static kino_db_t *kdb;
static kino_jobs_t *jobs;
static kino_jobs_info_t job;

static void get_job(const char *id)
{
	kino_error_t err = {0};

	CHECK_MSG(kino_jobs_job_get(jobs, id, &job, &err) == 0, "%s", err.message);
}

static void create(const char *source, char id[KINO_JOBS_ID_LEN + 1])
{
	kino_jobs_spec_t spec = {.kind = KINO_JOBS_KIND_FILE, .source = source,
				 .ladder = "240:400"};
	kino_error_t err = {0};

	CHECK_MSG(kino_jobs_job_create(jobs, &spec, id, &err) == 0, "%s", err.message);
}

/* The workers running now: a failed CHECK exits the test, and atexit
 * then kills them rather than leave them polling a database that is gone. */
static tenv_proc_t *running[8];

static void kill_running(void)
{
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
		if (running[i] != NULL)
			tenv_proc_kill(running[i]);
}

static void track(tenv_proc_t *p, bool on)
{
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
		if (on && running[i] == NULL) {
			running[i] = p;
			return;
		}
		if (!on && running[i] == p)
			running[i] = NULL;
	}
}

static void spawn_worker(tenv_proc_t *p, char *const argv[], char *const env[])
{
	tenv_proc_spawn(p, dir, argv, env);
	track(p, true);
}

static void spawn(tenv_proc_t *p, bool once, const char *max_attempts)
{
	char *env[] = {env_uri, env_data, "KINO_JOBS_LEASE=5s", "KINO_LOG_LEVEL=info",
		       (char *)max_attempts, NULL};
	char *argv[] = {KINO_BIN, "worker", once ? "--once" : NULL, NULL};

	spawn_worker(p, argv, env);
}

/* Waits for the process to end by itself and checks it ended well;
 * returns its stderr (caller frees) and removes its output files. */
static char *reap(tenv_proc_t *p, int timeout_ms)
{
	char *err;
	bool ok = tenv_proc_wait(p, timeout_ms);

	if (!ok)
		tenv_proc_kill(p);
	track(p, false);
	err = tenv_proc_stderr(p);
	CHECK_MSG(ok && tenv_proc_exit_code(p) == 0, "kino worker: exit %d (%s)\n%s",
		  tenv_proc_exit_code(p), ok ? "ended" : "did not end", err);
	unlink(p->out_path);
	unlink(p->err_path);
	return err;
}

static void killed(tenv_proc_t *p)
{
	tenv_proc_kill(p);
	track(p, false);
	unlink(p->out_path);
	unlink(p->err_path);
}

/* Names in the media root that are not published assets (".job-*",
 * ".tmp-*"); the count of assets into *assets. */
static int leftovers(int *assets)
{
	DIR *d = opendir(media);
	struct dirent *e;
	int n = 0;

	*assets = 0;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (e->d_name[0] == '.') {
			fprintf(stderr, "left behind: %s/%s\n", media, e->d_name);
			n++;
		} else {
			(*assets)++;
		}
	}
	closedir(d);
	return n;
}

static void wait_running(const char *id, int timeout_ms)
{
	bool ok;

	for (int waited = 0; waited < timeout_ms; waited += 10) {
		get_job(id);
		if (job.state == KINO_JOBS_RUNNING)
			return;
		tenv_sleep_ms(10);
	}
	ok = false;
	CHECK_MSG(ok, "job %s never ran: %s", id, kino_jobs_state_name(job.state));
}

static void test_killed_worker_is_taken_over(void)
{
	char id[KINO_JOBS_ID_LEN + 1], staging[700], first_owner[128];
	tenv_proc_t a, b;
	int assets, before;
	struct stat st;
	char *err;
	bool ok;

	leftovers(&before);
	create(BBB, id);
	spawn(&a, false, NULL);
	wait_running(id, 20000);
	snprintf(first_owner, sizeof(first_owner), "%s", job.lease_owner);
	CHECK_INT_EQ(job.attempts, 1);
	/* Let it get into the transcode (the whole of it takes about a second
	 * on an idle machine), then kill it without warning. */
	tenv_sleep_ms(300);
	get_job(id);
	CHECK_MSG(job.state == KINO_JOBS_RUNNING, "the job ended before the kill: %s %s",
		  kino_jobs_state_name(job.state), job.error);
	killed(&a);
	jobs_staging_path(jobs, id, staging, sizeof(staging));
	CHECK_MSG(stat(staging, &st) == 0, "the killed attempt left nothing to clean up");

	/* A second worker, polling: it cannot have the job while the lease
	 * holds, and takes it over once it lapses. */
	spawn(&b, false, NULL);
	tenv_sleep_ms(1000);
	get_job(id);
	CHECK_INT_EQ(job.attempts, 1);
	CHECK_STR_EQ(job.lease_owner, first_owner);
	TENV_WAIT_UNTIL(ok, (get_job(id), job.attempts == 2), 15000);
	CHECK_MSG(ok, "nobody took the job over: %s, attempts %d", kino_jobs_state_name(job.state),
		  job.attempts);
	CHECK(strcmp(job.lease_owner, first_owner) != 0);
	TENV_WAIT_UNTIL(ok, (get_job(id), job.state == KINO_JOBS_DONE), 90000);
	CHECK_MSG(ok, "the job did not finish: %s %s", kino_jobs_state_name(job.state), job.error);
	kill(b.pid, SIGTERM);
	err = reap(&b, 20000);
	CHECK_CONTAINS(err, "removing what an earlier attempt left");
	free(err);

	get_job(id);
	CHECK_INT_EQ(job.attempts, 2);
	CHECK_STR_EQ(job.lease_owner, "");
	CHECK(stat(job.hls, &st) == 0);
	CHECK_INT_EQ(leftovers(&assets), 0);
	CHECK_INT_EQ(assets, before + 1);
}

static void test_last_attempt_killed_fails(void)
{
	char id[KINO_JOBS_ID_LEN + 1];
	tenv_proc_t c, d;
	int assets, before;
	char *err;
	bool ok;

	leftovers(&before);
	create(BBB, id);
	spawn(&c, false, "KINO_JOBS_MAX_ATTEMPTS=1");
	wait_running(id, 20000);
	tenv_sleep_ms(300);
	killed(&c);
	get_job(id);
	TENV_WAIT_UNTIL(ok, jobs_now_ms() > job.lease_until_ms + 100, 10000);
	CHECK(ok);
	/* The next worker has nothing to run: the job had its one attempt. */
	spawn(&d, true, "KINO_JOBS_MAX_ATTEMPTS=1");
	err = reap(&d, 20000);
	CHECK_CONTAINS(err, "worker stopped after 0 job(s)");
	free(err);
	get_job(id);
	CHECK_INT_EQ(job.state, KINO_JOBS_FAILED);
	CHECK_INT_EQ(job.attempts, 1);
	CHECK_CONTAINS(job.error, "gave up after 1 attempt:");
	CHECK_CONTAINS(job.error, "stopped renewing its lease");
	CHECK_INT_EQ(leftovers(&assets), 0);
	CHECK_INT_EQ(assets, before);
}

static void test_sigterm_and_once(void)
{
	char id[KINO_JOBS_ID_LEN + 1];
	tenv_proc_t e, f;
	int assets, before;
	struct stat st;
	char *err;

	/* An empty queue: --once has nothing to do and says so. */
	spawn(&f, true, NULL);
	err = reap(&f, 20000);
	CHECK_CONTAINS(err, "worker stopped after 0 job(s)");
	free(err);

	leftovers(&before);
	create(BBB, id);
	spawn(&e, false, NULL);
	wait_running(id, 20000);
	tenv_sleep_ms(300);
	kill(e.pid, SIGTERM);
	err = reap(&e, 20000);
	CHECK_CONTAINS(err, "given back to the queue");
	free(err);
	get_job(id);
	CHECK_INT_EQ(job.state, KINO_JOBS_QUEUED);
	CHECK_INT_EQ(job.attempts, 0);
	CHECK_INT_EQ(leftovers(&assets), 0);
	CHECK_INT_EQ(assets, before);

	spawn(&f, true, NULL);
	err = reap(&f, 90000);
	CHECK_CONTAINS(err, "worker stopped after 1 job(s)");
	free(err);
	get_job(id);
	CHECK_MSG(job.state == KINO_JOBS_DONE, "%s: %s", kino_jobs_state_name(job.state), job.error);
	CHECK_INT_EQ(job.attempts, 1);
	CHECK(stat(job.dash, &st) == 0);
	CHECK_INT_EQ(leftovers(&assets), 0);
	CHECK_INT_EQ(assets, before + 1);
}

/* Two workers, one with two slots, share four jobs: each job runs once. */
static void test_concurrent_workers_claim_once(void)
{
	char ids[4][KINO_JOBS_ID_LEN + 1];
	const char *srcs[4] = {KINO_SHARED_DIR "/media/edge-white.mp4",
			       KINO_SHARED_DIR "/media/edge-minimal.mp4",
			       KINO_SHARED_DIR "/media/edge-video_rotation_90.mp4",
			       KINO_SHARED_DIR "/media/edge-white.mp4"};
	char *env[] = {env_uri, env_data, "KINO_JOBS_LEASE=5s", "KINO_LOG_LEVEL=info", NULL};
	tenv_proc_t x, y;
	char *ex, *ey;
	int assets, before, done = 0, ran = 0;
	bool ok;

	leftovers(&before);
	for (int i = 0; i < 4; i++)
		create(srcs[i], ids[i]);
	spawn_worker(&x, (char *[]){KINO_BIN, "worker", "--concurrency", "2", NULL}, env);
	spawn_worker(&y, (char *[]){KINO_BIN, "worker", NULL}, env);
	for (int waited = 0; waited < 90000 && done < 4; waited += 100) {
		done = 0;
		for (int i = 0; i < 4; i++) {
			get_job(ids[i]);
			done += job.state == KINO_JOBS_DONE || job.state == KINO_JOBS_FAILED;
		}
		tenv_sleep_ms(100);
	}
	kill(x.pid, SIGTERM);
	kill(y.pid, SIGTERM);
	ex = reap(&x, 20000);
	ey = reap(&y, 20000);
	CHECK_CONTAINS(ex, "2 slot(s)");
	for (int i = 0; i < 4; i++) {
		get_job(ids[i]);
		CHECK_MSG(job.state == KINO_JOBS_DONE, "%s: %s %s", srcs[i],
			  kino_jobs_state_name(job.state), job.error);
		CHECK_INT_EQ(job.attempts, 1);
	}
	/* Between them the workers ran exactly the four jobs. */
	for (char *e = ex; (e = strstr(e, " claimed by ")) != NULL; e++)
		ran++;
	for (char *e = ey; (e = strstr(e, " claimed by ")) != NULL; e++)
		ran++;
	CHECK_MSG(ran == 4, "%d claims:\n%s\n%s", ran, ex, ey);
	free(ex);
	free(ey);
	ok = leftovers(&assets) == 0;
	CHECK(ok);
	CHECK_INT_EQ(assets, before + 4);
}

int main(void)
{
	kino_error_t err = {0};

	kino_db_global_init();
	kino_log_set_level(KINO_LOG_LEVEL_WARN);
	atexit(kill_running);
	tenv_db_start(&db);
	tenv_tmpdir(dir, sizeof(dir), "jobs-worker");
	snprintf(media, sizeof(media), "%s/data/media", dir);
	snprintf(uploads, sizeof(uploads), "%s/data/uploads", dir);
	snprintf(env_uri, sizeof(env_uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s/data", dir);
	cfg = calloc(1, sizeof(*cfg));
	CHECK(cfg != NULL);
	kino_config_defaults(cfg);
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s/data", dir);
	snprintf(cfg->db.uri, sizeof(cfg->db.uri), "%s", db.uri);
	cfg->jobs.lease_s = 5;
	kdb = kino_db_new(&cfg->db, &err);
	CHECK(kdb != NULL);
	CHECK_MSG(kino_db_wait_ready(kdb, 30000, &err) == 0, "%s", err.message);
	jobs = kino_jobs_new(kdb, NULL, cfg, &err);
	CHECK(jobs != NULL);

	RUN_TEST(test_killed_worker_is_taken_over);
	RUN_TEST(test_last_attempt_killed_fails);
	RUN_TEST(test_sigterm_and_once);
	RUN_TEST(test_concurrent_workers_claim_once);

	kino_jobs_destroy(jobs);
	kino_db_destroy(kdb);
	free(cfg);
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	kino_db_global_cleanup();
	return 0;
}
