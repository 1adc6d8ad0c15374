/* Running jobs: claim, lease renewal, the ingest itself, and the verdict.
 *
 * One attempt at a job, on the caller's thread:
 *
 *   sweep (fail jobs whose lease lapsed on their last attempt)
 *   claim (a unique insert into job_claims, then running, lease_owner,
 *     lease_until, attempts + 1: see job_store.c)
 *   start the renewer thread: every lease/3 (1..5 s) it extends the lease
 *     and writes the latest progress, conditional on still owning the job;
 *     when it does not (another worker took over) or cannot renew for a
 *     whole lease, it raises the cancel flag that the fetch and the
 *     pipeline poll. It also turns the worker's stop flag into a cancel.
 *   [url: fetch into <data_dir>/uploads/<id>.part]  kino_ingest_run
 *   stop the renewer, then the verdict, written only while we own the job:
 *     success               -> done, with asset_id, hls, dash
 *     stop requested        -> queued again, the attempt not counted
 *     lease lost            -> nothing: the job is someone else's now
 *     permanent failure     -> failed at once (bad media, 404, too big...)
 *     other, attempts left  -> queued again after a backoff (2^n s, <= 60 s)
 *     other, none left      -> failed, "gave up after N attempts: ..."
 *   An attempt builds its asset in <media_root>/.job-<id>/ (kino_ingest_run
 *   publishes there) and moves it into the media root when it succeeds; the
 *   next attempt, or the sweep, removes what a dead attempt left there.
 *   Downloads and uploads are removed once the job is done or failed; a
 *   download is kept for a retry, which resumes it with Range. */
#define KINO_LOG_MODULE "jobs"
#include "jobs_internal.h"

#include "kino/ingest.h"
#include "kino/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RENEW_MIN_MS 1000
#define RENEW_MAX_MS 5000
#define FIRST_RENEW_MS 500
#define WATCH_MS 100 /* how often the renewer looks at the stop flag */

typedef struct run {
	kino_jobs_t *jobs;
	jobs_lease_t lease;  /* what the claim made us */
	kino_jobs_info_t *job;
	const atomic_bool *stop;
	atomic_bool cancel;  /* read by the fetch and the pipeline */
	atomic_bool lost;    /* the lease is gone */
	atomic_bool stopped; /* the cancel came from the stop flag */
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool finished;       /* under lock: the renewer should end */
	jobs_progress_t progress; /* under lock */
	char asset_id[64];   /* what a successful attempt published */
	char hls[4400];
	char dash[4400];
} run_t;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_ingest_progress(const kino_ingest_progress_t *p, void *userdata)
{
	run_t *r = userdata;

	pthread_mutex_lock(&r->lock);
	r->progress = (jobs_progress_t){.phase = "transcoding", .fraction = p->fraction,
					.fps = p->fps, .eta_seconds = p->eta_seconds};
	pthread_mutex_unlock(&r->lock);
}

static void on_fetch_progress(int64_t done, int64_t total, void *userdata)
{
	run_t *r = userdata;

	pthread_mutex_lock(&r->lock);
	r->progress = (jobs_progress_t){.phase = "fetching",
					.fraction = total > 0 ? (double)done / (double)total : 0,
					.eta_seconds = -1};
	pthread_mutex_unlock(&r->lock);
}

static void *renewer_main(void *arg)
{
	run_t *r = arg;
	int64_t lease_ms = (int64_t)r->jobs->cfg.lease_s * 1000;
	int64_t period = lease_ms / 3, last_ok = mono_ms(), next;

	if (period < RENEW_MIN_MS)
		period = RENEW_MIN_MS;
	if (period > RENEW_MAX_MS)
		period = RENEW_MAX_MS;
	/* The first write comes early, so that the job shows its phase and
	 * progress soon after it starts; then one per period. */
	next = mono_ms() + (period < FIRST_RENEW_MS ? period : FIRST_RENEW_MS);
	pthread_mutex_lock(&r->lock);
	while (!r->finished) {
		struct timespec until;
		jobs_progress_t p;
		kino_error_t err = {0};
		bool ours = true;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCH_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cv, &r->lock, &until);
		if (r->finished)
			break;
		if (r->stop != NULL && atomic_load(r->stop) && !atomic_load(&r->cancel)) {
			atomic_store(&r->stopped, true);
			atomic_store(&r->cancel, true);
		}
		if (mono_ms() < next)
			continue;
		p = r->progress;
		pthread_mutex_unlock(&r->lock);
		if (store_job_renew(r->jobs, &r->lease, &p, &ours, &err) < 0) {
			KINO_LOG_WARN("job %s: %s", r->job->id, kino_error_message(&err));
			if (mono_ms() - last_ok > lease_ms) {
				/* Someone else may hold it by now: stop working blind. */
				KINO_LOG_ERROR("job %s: no renewal for a whole lease; giving it up",
					       r->job->id);
				atomic_store(&r->lost, true);
				atomic_store(&r->cancel, true);
			}
		} else if (!ours) {
			KINO_LOG_WARN("job %s: another worker holds it now; cancelling", r->job->id);
			atomic_store(&r->lost, true);
			atomic_store(&r->cancel, true);
		} else {
			last_ok = mono_ms();
		}
		next = mono_ms() + period;
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* The local file the pipeline reads, and whether it is ours to remove
 * when the job ends. */
static bool input_path(const kino_jobs_t *jobs, const kino_jobs_info_t *job, char *buf,
		       size_t size)
{
	if (job->kind == KINO_JOBS_KIND_FILE)
		snprintf(buf, size, "%s", job->source);
	else if (job->kind == KINO_JOBS_KIND_UPLOAD)
		jobs_part_path(jobs, job->source, buf, size);
	else
		jobs_part_path(jobs, job->id, buf, size);
	return job->kind != KINO_JOBS_KIND_FILE;
}

/* Removes what attempts at a job left on disk: its staging directory, and
 * with `input` the download or upload too (once the job is over). */
static void remove_leftovers(kino_jobs_t *jobs, const kino_jobs_info_t *job, bool input)
{
	char path[4400];
	kino_error_t err = {0};

	jobs_staging_path(jobs, job->id, path, sizeof(path));
	if (jobs_tree_remove(path, &err) < 0)
		KINO_LOG_WARN("job %s: %s", job->id, kino_error_message(&err));
	if (input && input_path(jobs, job, path, sizeof(path)) && unlink(path) == 0)
		KINO_LOG_DEBUG("job %s: removed '%s'", job->id, path);
}

/* Moves the asset that kino_ingest_run published in the staging directory
 * into the media root, where readers look; rename(2) keeps it atomic. */
static int publish(run_t *r, const kino_ingest_result_t *result, const char *staging,
		   kino_error_t *err)
{
	const char *id = kino_ingest_result_asset_id(result);
	const char *hls = strrchr(kino_ingest_result_hls_path(result), '/');
	const char *dash = strrchr(kino_ingest_result_dash_path(result), '/');
	char to[4400];

	snprintf(to, sizeof(to), "%s/%s", r->jobs->media_root, id);
	if (rename(kino_ingest_result_asset_dir(result), to) != 0)
		return kino_error_set(err, errno == ENOSPC ? KINO_ENOSPC : KINO_EIO,
				      "moving asset %s into '%s': %s", id, r->jobs->media_root,
				      strerror(errno));
	rmdir(staging);
	snprintf(r->asset_id, sizeof(r->asset_id), "%s", id);
	snprintf(r->hls, sizeof(r->hls), "%s%s", to, hls ? hls : "/master.m3u8");
	snprintf(r->dash, sizeof(r->dash), "%s%s", to, dash ? dash : "/manifest.mpd");
	return 0;
}

static int execute(run_t *r, int threads, const char *input, kino_error_t *err)
{
	const kino_jobs_info_t *job = r->job;
	kino_ingest_rung_t rungs[KINO_INGEST_LADDER_MAX];
	kino_ingest_result_t *result = NULL;
	kino_ingest_options_t opts;
	char staging[4400];
	size_t nrungs = 0;
	struct stat st;
	int ret;

	if (job->ladder[0] != '\0') {
		ret = kino_ingest_ladder_parse(job->ladder, rungs, KINO_INGEST_LADDER_MAX,
					       &nrungs, err);
		if (ret < 0)
			return kino_error_prefix(err, "ladder");
	}
	/* An earlier attempt that died mid-job left its work here. */
	jobs_staging_path(r->jobs, job->id, staging, sizeof(staging));
	if (lstat(staging, &st) == 0) {
		KINO_LOG_INFO("job %s: removing what an earlier attempt left in '%s'", job->id,
			      staging);
		ret = jobs_tree_remove(staging, err);
		if (ret < 0)
			return ret;
	}
	if (job->kind == KINO_JOBS_KIND_URL) {
		kino_ingest_fetch_options_t fo;

		kino_ingest_fetch_options_init(&fo);
		/* fetch.timeout bounds the connection as well as a stall. */
		fo.connect_timeout_s = r->jobs->cfg.fetch_timeout_s;
		fo.stall_timeout_s = r->jobs->cfg.fetch_timeout_s;
		fo.tries = 3; /* more come from the job's own attempts */
		fo.max_bytes = r->jobs->cfg.upload_max;
		fo.keep_partial = true; /* the next attempt resumes; remove_leftovers ends it */
		fo.cancel = &r->cancel;
		fo.progress = on_fetch_progress;
		fo.progress_userdata = r;
		ret = jobs_mkdirs(r->jobs->uploads_dir, err);
		if (ret == 0)
			ret = kino_ingest_fetch(job->source, input, &fo, err);
		if (ret < 0)
			return ret;
	}
	kino_ingest_options_init(&opts);
	opts.input = input;
	opts.source_name = job->source_name[0] != '\0' ? job->source_name
			   : job->kind == KINO_JOBS_KIND_FILE ? NULL
							       : job->source;
	opts.title = job->title;
	opts.media_root = staging;
	opts.ladder = nrungs > 0 ? rungs : NULL;
	opts.ladder_len = nrungs;
	opts.threads = threads;
	opts.progress = on_ingest_progress;
	opts.progress_userdata = r;
	opts.cancel = &r->cancel;
	ret = jobs_mkdirs(r->jobs->media_root, err);
	if (ret == 0)
		ret = kino_ingest_run(&opts, &result, err);
	if (ret == 0)
		ret = publish(r, result, staging, err);
	if (ret == 0)
		KINO_LOG_INFO("job %s: asset %s, %.1f s of media in %.1f s", job->id, r->asset_id,
			      kino_ingest_result_duration(result),
			      kino_ingest_result_elapsed(result));
	kino_ingest_result_destroy(&result);
	return ret;
}

/* Failures that another attempt cannot fix. */
static bool permanent(int code)
{
	switch (code) {
	case KINO_EMEDIA:
	case KINO_ETOOBIG:
	case KINO_EINVAL:
	case KINO_ENOENT:
	case KINO_EFORBIDDEN:
	case KINO_EUNSUPPORTED:
	case KINO_EPARSE:
		return true;
	default:
		return false;
	}
}

/* Writes the verdict of an attempt that ended with `code`. */
static int conclude(run_t *r, int code, const kino_error_t *why, kino_error_t *err)
{
	const kino_jobs_info_t *job = r->job;
	int max = r->jobs->cfg.max_attempts, ret;
	char reason[KINO_ERROR_MESSAGE_MAX + 64];

	if (code == 0) {
		ret = store_job_done(r->jobs, &r->lease, r->asset_id, r->hls, r->dash, err);
		if (ret == KINO_ESTATE) {
			/* The new holder makes its own: ours would be an orphan. */
			char dir[4400];

			snprintf(dir, sizeof(dir), "%s/%s", r->jobs->media_root, r->asset_id);
			KINO_LOG_WARN("job %s finished after another worker took it over; "
				      "removing its asset %s", job->id, r->asset_id);
			jobs_tree_remove(dir, NULL);
			return 0;
		}
		if (ret == 0) {
			KINO_LOG_INFO("job %s done: asset %s", job->id, r->asset_id);
			remove_leftovers(r->jobs, job, true);
		}
		return ret;
	}
	if (atomic_load(&r->lost)) {
		/* Whatever is on disk belongs to the new owner now. */
		KINO_LOG_WARN("job %s: attempt abandoned, the lease is lost (%s)", job->id,
			      kino_error_message(why));
		return 0;
	}
	if (code == KINO_ECANCELED && atomic_load(&r->stopped)) {
		KINO_LOG_INFO("job %s given back to the queue: the worker is stopping", job->id);
		remove_leftovers(r->jobs, job, false); /* a download is kept, to resume */
		ret = store_job_release(r->jobs, &r->lease, err);
		return ret == KINO_ESTATE ? 0 : ret;
	}
	if (permanent(code) || job->attempts >= max) {
		if (permanent(code))
			snprintf(reason, sizeof(reason), "%s", kino_error_message(why));
		else
			snprintf(reason, sizeof(reason), "gave up after %d attempt%s: %s",
				 job->attempts, job->attempts == 1 ? "" : "s",
				 kino_error_message(why));
		KINO_LOG_WARN("job %s failed: %s", job->id, reason);
		ret = store_job_fail(r->jobs, &r->lease, reason, err);
		if (ret == 0)
			remove_leftovers(r->jobs, job, true);
		return ret == KINO_ESTATE ? 0 : ret;
	}
	int64_t delay = (int64_t)1000 << (job->attempts < 6 ? job->attempts : 6);
	KINO_LOG_WARN("job %s: attempt %d of %d failed (%s); again in %lld s", job->id,
		      job->attempts, max, kino_error_message(why), (long long)(delay / 1000));
	remove_leftovers(r->jobs, job, false);
	ret = store_job_requeue(r->jobs, &r->lease, kino_error_message(why), delay, err);
	return ret == KINO_ESTATE ? 0 : ret;
}

/* Fails the jobs whose lease lapsed on their last attempt, and removes
 * what their dead workers left. */
static int sweep(kino_jobs_t *jobs, const char *owner, kino_jobs_info_t *scratch,
		 kino_error_t *err)
{
	int ret;

	while ((ret = store_job_sweep_one(jobs, owner, scratch, err)) == 0) {
		KINO_LOG_WARN("job %s failed: %s", scratch->id, scratch->error);
		remove_leftovers(jobs, scratch, true);
	}
	return ret == KINO_ENOENT ? 0 : ret;
}

int kino_jobs_run_one(kino_jobs_t *jobs, const char *owner, int threads,
		      const atomic_bool *stop, bool *ran, kino_error_t *err)
{
	kino_error_t why = {0};
	run_t *r = NULL;
	pthread_t renewer;
	char input[4300];
	int ret, code;

	if (ran != NULL)
		*ran = false;
	r = calloc(1, sizeof(*r));
	if (r != NULL)
		r->job = malloc(sizeof(*r->job));
	if (r == NULL || r->job == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "jobs: out of memory");
		goto out;
	}
	ret = sweep(jobs, owner, r->job, err);
	if (ret == 0)
		ret = store_job_claim(jobs, owner, r->job, &r->lease, err);
	if (ret == KINO_ENOENT) {
		ret = 0;
		goto out;
	}
	if (ret < 0)
		goto out;
	if (ran != NULL)
		*ran = true;
	KINO_LOG_INFO("job %s claimed by %s: attempt %d of %d, %s '%s'", r->job->id, owner,
		      r->job->attempts, jobs->cfg.max_attempts,
		      kino_jobs_kind_name(r->job->kind), r->job->source);
	r->jobs = jobs;
	r->stop = stop;
	r->progress = (jobs_progress_t){.phase = "", .eta_seconds = -1};
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&renewer, NULL, renewer_main, r) != 0) {
		/* Without renewals the lease would lapse mid-job: give it back. */
		ret = kino_error_set(err, KINO_ENOMEM, "jobs: cannot start the lease renewer");
		store_job_release(jobs, &r->lease, NULL);
		goto out;
	}

	input_path(jobs, r->job, input, sizeof(input));
	code = execute(r, threads, input, &why);

	pthread_mutex_lock(&r->lock);
	r->finished = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->lock);
	pthread_join(renewer, NULL);
	ret = conclude(r, code, &why, err);
out:
	if (r != NULL && r->jobs != NULL) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->lock);
	}
	if (r != NULL)
		free(r->job);
	free(r);
	return ret;
}

/* ---- the worker ------------------------------------------------------------------ */

typedef struct slot {
	kino_jobs_t *jobs;
	const kino_jobs_worker_options_t *opts;
	char owner[160];
	int threads;
	size_t ran;
	pthread_t thread;
} slot_t;

/* Sleeps ms unless stop turns true meanwhile. */
static void nap(int ms, const atomic_bool *stop)
{
	for (int slept = 0; slept < ms && !atomic_load(stop); slept += 50) {
		struct timespec ts = {0, 50 * 1000000L};

		nanosleep(&ts, NULL);
	}
}

static void *slot_main(void *arg)
{
	slot_t *s = arg;
	int idle_max = s->opts->idle_max_ms > 0 ? s->opts->idle_max_ms : 2000;
	int pause = 100;

	while (!atomic_load(s->opts->stop)) {
		kino_error_t err = {0};
		bool ran = false;

		if (kino_jobs_run_one(s->jobs, s->owner, s->threads, s->opts->stop, &ran,
				      &err) < 0)
			KINO_LOG_WARN("%s: %s", s->owner, kino_error_message(&err));
		if (ran) {
			s->ran++;
			pause = 100;
			if (s->opts->once)
				break;
			continue;
		}
		if (s->opts->once)
			break;
		nap(pause, s->opts->stop);
		pause = pause * 2 < idle_max ? pause * 2 : idle_max;
	}
	return NULL;
}

int kino_jobs_worker_run(kino_jobs_t *jobs, const kino_jobs_worker_options_t *opts,
			 size_t *ran, kino_error_t *err)
{
	slot_t *slots = NULL;
	char host[64] = "";
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int n, started = 0;

	if (ran != NULL)
		*ran = 0;
	if (jobs == NULL || opts == NULL || opts->stop == NULL || opts->concurrency < 0 ||
	    opts->concurrency > 64)
		return kino_error_set(err, KINO_EINVAL,
				      "worker: a stop flag and a concurrency of 1..64 are required");
	n = opts->once || opts->concurrency == 0 ? 1 : opts->concurrency;
	slots = calloc((size_t)n, sizeof(*slots));
	if (slots == NULL)
		return kino_error_set(err, KINO_ENOMEM, "worker: out of memory");
	gethostname(host, sizeof(host) - 1);
	for (int i = 0; i < n; i++) {
		char tag[KINO_JOBS_ID_LEN + 1];

		jobs_id_new(tag);
		slots[i].jobs = jobs;
		slots[i].opts = opts;
		/* Unique across restarts too: the tail of a fresh ObjectId. */
		snprintf(slots[i].owner, sizeof(slots[i].owner), "%s:%d:%d:%s", host,
			 (int)getpid(), i, tag + 16);
		slots[i].threads = cpus > n ? (int)(cpus / n) : 1;
	}
	KINO_LOG_INFO("worker %s:%d: %d slot(s)%s, lease %d s, %d attempts", host,
		      (int)getpid(), n, opts->once ? ", one job" : "", jobs->cfg.lease_s,
		      jobs->cfg.max_attempts);
	/* Slot 0 runs on the caller's thread; the others get their own. */
	for (int i = 1; i < n; i++) {
		if (pthread_create(&slots[i].thread, NULL, slot_main, &slots[i]) != 0) {
			KINO_LOG_WARN("worker: cannot start slot %d; running with %d", i, i);
			break;
		}
		started = i;
	}
	slot_main(&slots[0]);
	for (int i = 1; i <= started; i++)
		pthread_join(slots[i].thread, NULL);
	for (int i = 0; i < n && ran != NULL; i++)
		*ran += slots[i].ran;
	free(slots);
	return 0;
}
