/* What the files of the jobs module share; private to ingest/jobs/.
 *
 *   jobs.c          kino_jobs_t, names, the job JSON, the routes table
 *   job_store.c     the jobs and uploads collections (the only libmongoc user)
 *   job_runner.c    claim, lease renewal, running a job, the worker loop
 *   tus_metadata.c  Upload-Metadata and base64, pure
 *   tus_routes.c    the tus 1.0 endpoints under /api/v1/uploads
 *   job_routes.c    POST /api/v1/jobs and GET /api/v1/jobs/{id} */
#ifndef KINO_JOBS_INTERNAL_H
#define KINO_JOBS_INTERNAL_H

#include "kino/config.h"
#include "kino/error.h"
#include "kino/jobs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kino_jobs {
	kino_db_t *db;     /* borrowed */
	kino_auth_t *auth; /* borrowed; NULL in a worker */
	kino_jobs_config_t cfg;
	char media_root[4200];  /* <data_dir>/media */
	char uploads_dir[4200]; /* <data_dir>/uploads */
	int64_t upload_expire_ms; /* an unfinished upload untouched this long is removed */
};

/* Seven days, as tus servers commonly keep unfinished uploads. */
#define JOBS_UPLOAD_EXPIRE_MS (7LL * 24 * 3600 * 1000)

/* Milliseconds since the epoch (BSON dates). */
int64_t jobs_now_ms(void);

/* A fresh 24-hex-digit id (an ObjectId's text). */
void jobs_id_new(char id[KINO_JOBS_ID_LEN + 1]);

/* True for 24 hex digits. */
bool jobs_id_valid(const char *id);

/* mkdir -p for one level under an existing parent: creates path and its
 * parent when missing. */
int jobs_mkdirs(const char *path, kino_error_t *err);

/* <uploads_dir>/<id>.part: where an upload or a URL download is written. */
void jobs_part_path(const kino_jobs_t *jobs, const char *id, char *buf,
		    size_t size);

/* <media_root>/.job-<id>: where an attempt at a job builds its asset
 * before moving it into the media root. */
void jobs_staging_path(const kino_jobs_t *jobs, const char *id, char *buf,
		       size_t size);

/* Removes a directory tree (or a file); a missing path is fine. */
int jobs_tree_remove(const char *path, kino_error_t *err);

/* ---- job_store.c: the jobs collection ------------------------------------- */

typedef struct jobs_progress {
	const char *phase; /* static string */
	double fraction, fps, eta_seconds;
} jobs_progress_t;

int store_indexes(kino_jobs_t *jobs, kino_error_t *err);

/* Inserts a queued job with the given id. KINO_EEXIST if it exists. */
int store_job_insert(kino_jobs_t *jobs, const char *id,
		     const kino_jobs_spec_t *spec, const char *title,
		     kino_error_t *err);

int store_job_get(kino_jobs_t *jobs, const char *id, kino_jobs_info_t *out,
		  kino_error_t *err);

/* Who holds a running job: the owner that made the n-th claim on it. */
typedef struct jobs_lease {
	char id[KINO_JOBS_ID_LEN + 1];
	char owner[160];
	int64_t claim;
} jobs_lease_t;

/* Claims the oldest claimable job (queued and due, or running with a
 * lapsed lease and attempts left) for owner: running, lease_owner,
 * lease_until, attempts + 1. KINO_ENOENT when none. */
int store_job_claim(kino_jobs_t *jobs, const char *owner, kino_jobs_info_t *out,
		    jobs_lease_t *lease, kino_error_t *err);

/* Marks failed one running job whose lease lapsed on its last attempt
 * (claiming it for `owner` first) and returns it in out. KINO_ENOENT when
 * there is none. */
int store_job_sweep_one(kino_jobs_t *jobs, const char *owner, kino_jobs_info_t *out,
			kino_error_t *err);

/* Extends the lease and writes progress. *ours is false when the job is
 * no longer the holder's (then nothing was written). */
int store_job_renew(kino_jobs_t *jobs, const jobs_lease_t *lease,
		    const jobs_progress_t *p, bool *ours, kino_error_t *err);

/* The ends of an attempt, each only while the holder still holds the job;
 * KINO_ESTATE when it does not any more. */
int store_job_done(kino_jobs_t *jobs, const jobs_lease_t *lease, const char *asset_id,
		   const char *hls, const char *dash, kino_error_t *err);
int store_job_fail(kino_jobs_t *jobs, const jobs_lease_t *lease, const char *reason,
		   kino_error_t *err);
/* Back to queued, claimable again after delay_ms; reason is kept. */
int store_job_requeue(kino_jobs_t *jobs, const jobs_lease_t *lease, const char *reason,
		      int64_t delay_ms, kino_error_t *err);
/* Back to queued at once, the attempt not counted (a worker stopping). */
int store_job_release(kino_jobs_t *jobs, const jobs_lease_t *lease, kino_error_t *err);

/* ---- job_store.c: the uploads collection ------------------------------------ */

typedef struct jobs_upload {
	char id[KINO_JOBS_ID_LEN + 1];
	int64_t length;
	int64_t offset;
	char filename[256];
	char title[512];
	char ladder[256];                  /* "" = the default ladder */
	char job_id[KINO_JOBS_ID_LEN + 1]; /* "" until complete */
	int64_t updated_at_ms;
} jobs_upload_t;

int store_upload_insert(kino_jobs_t *jobs, const jobs_upload_t *u,
			const char *user_id, kino_error_t *err);
int store_upload_get(kino_jobs_t *jobs, const char *id, jobs_upload_t *out,
		     kino_error_t *err);
/* Takes the upload's write lock at `offset` and checks that the upload is
 * there: KINO_ECONFLICT when another request holds that lock or the offset
 * is not the current one. token identifies the holder; a lock whose holder
 * crashed lapses after lock_ms. */
int store_upload_lock(kino_jobs_t *jobs, const char *id, int64_t offset,
		      const char *token, int64_t lock_ms, kino_error_t *err);
/* Moves the offset to new_offset (nothing moves when it equals offset)
 * and releases the lock. KINO_ECONFLICT when the lock was lost. */
int store_upload_unlock(kino_jobs_t *jobs, const char *id, int64_t offset,
			const char *token, int64_t new_offset, kino_error_t *err);
/* Up to max ids of unfinished uploads untouched since before_ms. Returns
 * how many, or an error. */
int store_upload_stale(kino_jobs_t *jobs, int64_t before_ms,
		       char ids[][KINO_JOBS_ID_LEN + 1], int max, kino_error_t *err);
/* Deletes an upload if it is still unfinished and untouched since
 * before_ms; *deleted says whether it was. */
int store_upload_delete_stale(kino_jobs_t *jobs, const char *id, int64_t before_ms,
			      bool *deleted, kino_error_t *err);
int store_upload_set_job(kino_jobs_t *jobs, const char *id, const char *job_id,
			 kino_error_t *err);

/* ---- tus_metadata.c ------------------------------------------------------------ */

/* Decodes standard base64 (with or without padding) into out. Returns the
 * decoded length, or -1 for bad input or when it does not fit (out is
 * NUL-terminated on success). */
long tus_base64_decode(const char *in, size_t len, char *out, size_t size);

/* Finds `key` in an Upload-Metadata header ("key b64,key b64,flag") and
 * decodes its value into out. KINO_ENOENT when absent (or valueless),
 * KINO_EPARSE when the header or the value is malformed. */
int tus_metadata_get(const char *header, const char *key, char *out,
		     size_t size, kino_error_t *err);

/* Parses a decimal non-negative int64 ("0".."9223372036854775807"), with
 * nothing else around it. */
bool tus_parse_offset(const char *s, int64_t *out);

/* ---- routes ------------------------------------------------------------------------ */

void tus_options(kino_http_request_t *req, void *userdata);
void tus_create(kino_http_request_t *req, void *userdata);
void tus_head(kino_http_request_t *req, void *userdata);
void tus_patch(kino_http_request_t *req, void *userdata);
void job_route_create(kino_http_request_t *req, void *userdata);
void job_route_get(kino_http_request_t *req, void *userdata);

/* Removes the unfinished uploads untouched for upload_expire_ms (at most
 * a few per call), with their files. Returns how many, or an error. */
int jobs_uploads_expire(kino_jobs_t *jobs, kino_error_t *err);

/* Turns an upload that reached its length into a job (idempotent: the job
 * has the upload's id). */
int jobs_upload_complete(kino_jobs_t *jobs, const jobs_upload_t *u,
			 kino_error_t *err);

#endif
