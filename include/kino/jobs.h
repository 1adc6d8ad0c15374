/* Ingest jobs: uploads (tus 1.0) and URL sources become jobs in MongoDB,
 * which `kino worker` processes claim with leases and run through
 * kino_ingest_run(). GET /api/v1/jobs/{id} shows a job.
 *
 *   POST /api/v1/uploads (tus) --.
 *   POST /api/v1/jobs {"url"} ---+--> jobs collection: queued
 *                                        |  claim (a unique insert into
 *                                        |  job_claims): running, lease_owner,
 *                                        |  lease_until, attempts+1
 *                                        v
 *   kino worker: [kino_ingest_fetch] -> kino_ingest_run -> done | failed | queued
 *                (a renewal thread extends the lease and writes progress)
 *
 * A worker that dies leaves its job running with a lease that lapses;
 * another worker then claims it again, up to jobs.max_attempts attempts.
 * The job document, the states and the lease rules are in docs/jobs.md.
 *
 * Threads: a kino_jobs_t may be shared by every thread. Everything that
 * touches the database or the network blocks: call it from worker threads
 * (the routes are KINO_HTTP_BLOCKING), never from an event loop. */
#ifndef KINO_JOBS_H
#define KINO_JOBS_H

#include "kino/auth.h"
#include "kino/db.h"
#include "kino/http.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kino_config;
struct kino_error;

typedef struct kino_jobs_config {
	int lease_s;          /* jobs.lease: 60s; a worker renews it while it works */
	int max_attempts;     /* jobs.max_attempts: 3 */
	int64_t upload_max;   /* uploads.max_size: 20g */
	int64_t upload_chunk; /* uploads.max_chunk: 64m, the largest PATCH body */
	int fetch_timeout_s;  /* fetch.timeout: 30s without progress fails a URL */
} kino_jobs_config_t;

/* ---- jobs ---------------------------------------------------------------- */

typedef enum kino_jobs_kind {
	KINO_JOBS_KIND_FILE = 0,   /* source: a path the worker can read */
	KINO_JOBS_KIND_URL = 1,    /* source: an http(s) URL */
	KINO_JOBS_KIND_UPLOAD = 2, /* source: the id of a finished tus upload */
} kino_jobs_kind_t;

typedef enum kino_jobs_state {
	KINO_JOBS_QUEUED = 0,
	KINO_JOBS_RUNNING = 1,
	KINO_JOBS_DONE = 2,
	KINO_JOBS_FAILED = 3,
} kino_jobs_state_t;

/* "file", "url", "upload"; "queued", "running", "done", "failed". */
const char *kino_jobs_kind_name(kino_jobs_kind_t kind);
const char *kino_jobs_state_name(kino_jobs_state_t state);

#define KINO_JOBS_ID_LEN 24 /* hex ObjectId */

/* What a new job is made of; the strings are borrowed for the call. */
typedef struct kino_jobs_spec {
	kino_jobs_kind_t kind;
	const char *source; /* path, URL or upload id, as kind says */
	const char *title;  /* NULL: derived from the source */
	const char *ladder; /* "720:3000,240:400"; NULL or "": the default */
	const char *source_name; /* for asset.json (an upload's file name);
				  * NULL: the URL or the file's base name */
} kino_jobs_spec_t;

/* A job as stored. Plain data, caller-owned (it is large: put it on the
 * heap or in a static when stacks are small). */
typedef struct kino_jobs_info {
	char id[KINO_JOBS_ID_LEN + 1];
	kino_jobs_kind_t kind;
	kino_jobs_state_t state;
	char source[4096];
	char title[512];
	char ladder[256];
	char source_name[256];
	int attempts;           /* attempts so far, this one included */
	int64_t claim;          /* the number of its holder's claim (job_claims) */
	char lease_owner[128];  /* "" when nobody holds it */
	int64_t lease_until_ms; /* running: the lease; queued: not before */
	char phase[16];         /* "", "fetching", "transcoding" */
	double fraction;        /* 0..1 of the current phase */
	double fps;
	double eta_seconds;     /* < 0 while unknown */
	char error[512];        /* why it failed (or why the last attempt did) */
	char asset_id[64];      /* set when done */
	char hls[4096];
	char dash[4096];
	int64_t created_at_ms;
	int64_t updated_at_ms;
} kino_jobs_info_t;

typedef struct kino_jobs kino_jobs_t;

/* db, auth and cfg are borrowed and must outlive the result; auth may be
 * NULL for a process that serves no routes (kino worker). Nothing is
 * contacted here. Returns NULL with err set when out of memory or when
 * cfg->data_dir is empty. Free with kino_jobs_destroy(). */
kino_jobs_t *kino_jobs_new(kino_db_t *db, kino_auth_t *auth,
			   const struct kino_config *cfg,
			   struct kino_error *err);

/* NULL-safe. */
void kino_jobs_destroy(kino_jobs_t *jobs);

/* Creates the indexes of the jobs and uploads collections. Idempotent.
 * Blocking. */
int kino_jobs_ensure_indexes(kino_jobs_t *jobs, struct kino_error *err);

/* Queues a job. KINO_EINVAL for a bad spec (a URL that is not http(s), a
 * ladder that does not parse), KINO_EDB when the database fails. id
 * receives the new job's id. Blocking. */
int kino_jobs_job_create(kino_jobs_t *jobs, const kino_jobs_spec_t *spec,
			 char id[KINO_JOBS_ID_LEN + 1] /* OUT */,
			 struct kino_error *err);

/* Reads a job. KINO_ENOENT when there is none with that id. Blocking. */
int kino_jobs_job_get(kino_jobs_t *jobs, const char *id,
		      kino_jobs_info_t *out /* OUT */, struct kino_error *err);

/* Writes a job as the JSON object GET /api/v1/jobs/{id} answers, cut at
 * size - 1 bytes; returns the length it needed (as snprintf does). */
size_t kino_jobs_job_json(const kino_jobs_info_t *job, char *buf, size_t size);

/* ---- running jobs ---------------------------------------------------------- */

/* Claims one job if one is claimable (queued, or running with a lapsed
 * lease and attempts left) and runs it to its end, renewing the lease and
 * writing progress meanwhile. Jobs whose lease lapsed on their last attempt
 * are marked failed first. `owner` names this runner in lease_owner and
 * must be unique among live runners. When `stop` turns true the job is
 * cancelled and given back to the queue without counting the attempt.
 * *ran (may be NULL) says whether a job was claimed. Returns 0 when no job
 * was claimable or the job reached a state (done, failed, queued for a
 * retry, or taken over by another worker); an error only when the database
 * failed. `threads` is the CPU budget of the transcode (0: every CPU).
 * Blocking. */
int kino_jobs_run_one(kino_jobs_t *jobs, const char *owner, int threads,
		      const atomic_bool *stop, bool *ran /* OUT */,
		      struct kino_error *err);

typedef struct kino_jobs_worker_options {
	int concurrency;          /* jobs at once, one thread each; 0: 1 */
	bool once;                /* claim at most one job, then return */
	int idle_max_ms;          /* longest wait between polls when idle; 0: 2000 */
	const atomic_bool *stop;  /* required; any thread may set it */
} kino_jobs_worker_options_t;

/* The worker: claims and runs jobs until *stop turns true (or, with once,
 * after at most one job), polling with a growing pause while idle. The
 * caller's thread is used; concurrency > 1 adds threads, joined before it
 * returns. *ran (may be NULL) receives the number of jobs claimed. Errors
 * of the database are logged and retried, never returned; the return is
 * KINO_EINVAL for bad options, else 0. Blocking. */
int kino_jobs_worker_run(kino_jobs_t *jobs, const kino_jobs_worker_options_t *opts,
			 size_t *ran /* OUT */, struct kino_error *err);

/* ---- HTTP ---------------------------------------------------------------------- */

#define KINO_JOBS_ROUTES_MAX 6

/* The routes, for a server's table (all blocking but OPTIONS):
 *   OPTIONS /api/v1/uploads            tus discovery
 *   POST    /api/v1/uploads            tus creation (admin)
 *   GET     /api/v1/uploads/{id}       and HEAD: the offset (admin)
 *   PATCH   /api/v1/uploads/{id}       append a chunk (admin)
 *   POST    /api/v1/jobs               {"url","title","ladder"} (admin)
 *   GET     /api/v1/jobs/{id}          a job as JSON (admin)
 * jobs (with its auth) is borrowed and must outlive the server. Writes at
 * most `max` routes into out and returns how many it wrote: none for a
 * kino_jobs_t made without an auth. */
size_t kino_jobs_routes(kino_jobs_t *jobs, kino_http_route_t *out, size_t max);

#endif
