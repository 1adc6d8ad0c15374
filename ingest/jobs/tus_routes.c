/* Resumable uploads with the tus 1.0.0 protocol (core, creation and
 * expiration), for admins:
 *
 *   OPTIONS /api/v1/uploads        204, Tus-Version, Tus-Extension, Tus-Max-Size
 *   POST    /api/v1/uploads        Upload-Length, Upload-Metadata -> 201 Location
 *   HEAD    /api/v1/uploads/{id}   200, Upload-Offset, Upload-Length (GET adds JSON)
 *   PATCH   /api/v1/uploads/{id}   Upload-Offset + application/offset+octet-stream
 *                                  body -> 204, the new Upload-Offset
 *
 * With the expiration extension: an unfinished upload untouched for seven
 * days is removed (its record and its file) by the next creation on a
 * server that holds the files; answers carry Upload-Expires.
 *
 * The bytes go to <data_dir>/uploads/<id>.part; the offset lives in the
 * uploads collection and moves only under a short lock taken on the
 * expected offset (job_store.c), so the file and the offset agree even with
 * several API servers sharing the data directory. When the offset reaches
 * Upload-Length the upload becomes a job of kind "upload" whose id is the
 * upload's. Every answer carries Tus-Resumable; a request without
 * "Tus-Resumable: 1.0.0" (OPTIONS aside) gets 412. A PATCH body above
 * uploads.max_chunk is refused with 413 by the server before it is read:
 * clients set their chunk size (tus-js-client's chunkSize) below it. */
#define KINO_LOG_MODULE "jobs"
#include "jobs_internal.h"

#include "kino/ingest.h"
#include "kino/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TUS_VERSION "1.0.0"
#define UPLOAD_LOCK_MS 120000 /* the longest one PATCH may take to write its body */

static void respond_status(kino_http_request_t *req, int code, const kino_error_t *err)
{
	if (code == KINO_ENOSPC)
		kino_http_respond_error_as(req, 507, "insufficient_storage",
					   kino_error_message(err));
	else
		kino_http_respond_error(req, code, kino_error_message(err));
}

/* Every tus answer says the version; every request but OPTIONS must say
 * it too, and come from an admin. On false the request is answered. */
static bool tus_begin(kino_http_request_t *req, kino_jobs_t *jobs, kino_user_t *user)
{
	const char *v = kino_http_request_header(req, "tus-resumable");

	kino_http_response_header(req, "Tus-Resumable", TUS_VERSION);
	if (v == NULL || strcmp(v, TUS_VERSION) != 0) {
		kino_http_response_header(req, "Tus-Version", TUS_VERSION);
		kino_http_respond_error_as(req, 412, "precondition_failed",
					   "this server speaks tus 1.0.0: send Tus-Resumable: 1.0.0");
		return false;
	}
	return kino_auth_require(jobs->auth, req, KINO_ROLE_ADMIN, user) == 0;
}

void tus_options(kino_http_request_t *req, void *userdata)
{
	kino_jobs_t *jobs = userdata;
	char max[32];

	snprintf(max, sizeof(max), "%lld", (long long)jobs->cfg.upload_max);
	kino_http_response_header(req, "Tus-Resumable", TUS_VERSION);
	kino_http_response_header(req, "Tus-Version", TUS_VERSION);
	kino_http_response_header(req, "Tus-Extension", "creation,expiration");
	kino_http_response_header(req, "Tus-Max-Size", max);
	kino_http_respond(req, 204, "text/plain", NULL, 0);
}

/* Upload-Expires: when an upload last touched at `touched_ms` is removed
 * if nothing more arrives (RFC 7231 date). */
static void expires_header(kino_http_request_t *req, const kino_jobs_t *jobs, int64_t touched_ms)
{
	time_t t = (time_t)((touched_ms + jobs->upload_expire_ms) / 1000);
	struct tm tm;
	char when[64];

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	kino_http_response_header(req, "Upload-Expires", when);
}

int jobs_uploads_expire(kino_jobs_t *jobs, kino_error_t *err)
{
	char ids[16][KINO_JOBS_ID_LEN + 1], path[4300];
	int64_t before = jobs_now_ms() - jobs->upload_expire_ms;
	int n = store_upload_stale(jobs, before, ids, 16, err), removed = 0;

	for (int i = 0; i < n; i++) {
		bool deleted = false;

		if (store_upload_delete_stale(jobs, ids[i], before, &deleted, err) < 0)
			return err != NULL ? err->code : KINO_EDB;
		if (!deleted)
			continue; /* written to meanwhile, or removed by another server */
		jobs_part_path(jobs, ids[i], path, sizeof(path));
		unlink(path);
		KINO_LOG_INFO("upload %s expired: untouched for %lld s, removed", ids[i],
			      (long long)(jobs->upload_expire_ms / 1000));
		removed++;
	}
	return n < 0 ? n : removed;
}

/* Reads the metadata an upload keeps: "filename", "title" (else the file
 * name, else "upload <id>") and "ladder" (checked now, not when the job
 * runs). On false the request is answered (malformed metadata). */
static bool read_metadata(kino_http_request_t *req, jobs_upload_t *u)
{
	const char *meta = kino_http_request_header(req, "upload-metadata");
	kino_ingest_rung_t rungs[KINO_INGEST_LADDER_MAX];
	kino_error_t err = {0};
	size_t n;
	int ret = 0;

	if (meta != NULL) {
		ret = tus_metadata_get(meta, "filename", u->filename, sizeof(u->filename), &err);
		if (ret == 0 || ret == KINO_ENOENT)
			ret = tus_metadata_get(meta, "title", u->title, sizeof(u->title), &err);
		if (ret == 0 || ret == KINO_ENOENT)
			ret = tus_metadata_get(meta, "ladder", u->ladder, sizeof(u->ladder), &err);
		if (ret < 0 && ret != KINO_ENOENT) {
			kino_http_respond_error(req, KINO_EPARSE, kino_error_message(&err));
			return false;
		}
	}
	if (u->ladder[0] != '\0' &&
	    kino_ingest_ladder_parse(u->ladder, rungs, KINO_INGEST_LADDER_MAX, &n, &err) < 0) {
		kino_error_prefix(&err, "Upload-Metadata: ladder");
		kino_http_respond_error(req, KINO_EINVAL, kino_error_message(&err));
		return false;
	}
	if (u->title[0] == '\0' && u->filename[0] != '\0')
		snprintf(u->title, sizeof(u->title), "%s", u->filename);
	if (u->title[0] == '\0')
		snprintf(u->title, sizeof(u->title), "upload %s", u->id);
	return true;
}

void tus_create(kino_http_request_t *req, void *userdata)
{
	kino_jobs_t *jobs = userdata;
	const char *length = kino_http_request_header(req, "upload-length");
	jobs_upload_t u = {0};
	kino_user_t user;
	kino_error_t err = {0};
	char path[4300], location[128], body[256], msg[160];
	size_t body_len;
	int fd, ret;

	if (!tus_begin(req, jobs, &user))
		return;
	/* Creations clean up after abandoned uploads, on the server that holds
	 * their files; a failure here must not refuse the new one. */
	if (jobs_uploads_expire(jobs, &err) < 0)
		KINO_LOG_WARN("%s", kino_error_message(&err));
	kino_error_clear(&err);
	kino_http_request_body(req, &body_len);
	if (kino_http_request_header(req, "upload-defer-length") != NULL) {
		kino_http_respond_error(req, KINO_EINVAL,
					"Upload-Defer-Length is not supported: send Upload-Length");
		return;
	}
	if (length == NULL || !tus_parse_offset(length, &u.length) || u.length == 0) {
		kino_http_respond_error(req, KINO_EINVAL,
					"Upload-Length must be a number of bytes above 0");
		return;
	}
	if (u.length > jobs->cfg.upload_max) {
		snprintf(msg, sizeof(msg), "Upload-Length %lld is over the %lld-byte limit",
			 (long long)u.length, (long long)jobs->cfg.upload_max);
		kino_http_respond_error(req, KINO_ETOOBIG, msg);
		return;
	}
	if (body_len > 0) {
		kino_http_respond_error(req, KINO_EINVAL,
					"creation-with-upload is not supported: send the bytes with PATCH");
		return;
	}
	jobs_id_new(u.id);
	if (!read_metadata(req, &u))
		return;

	ret = jobs_mkdirs(jobs->uploads_dir, &err);
	if (ret < 0) {
		respond_status(req, ret, &err);
		return;
	}
	jobs_part_path(jobs, u.id, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = kino_error_set(&err, errno == ENOSPC ? KINO_ENOSPC : KINO_EIO,
				     "creating the upload's file: %s", strerror(errno));
		respond_status(req, ret, &err);
		return;
	}
	close(fd);
	ret = store_upload_insert(jobs, &u, user.id, &err);
	if (ret < 0) {
		unlink(path);
		respond_status(req, ret, &err);
		return;
	}
	KINO_LOG_INFO("upload %s created by %s: %lld bytes, '%s'", u.id, user.email,
		      (long long)u.length, u.title);
	snprintf(location, sizeof(location), "/api/v1/uploads/%s", u.id);
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"location\":\"%s\"}", u.id, location);
	kino_http_response_header(req, "Location", location);
	kino_http_response_header(req, "Upload-Offset", "0");
	expires_header(req, jobs, jobs_now_ms());
	kino_http_respond_json(req, 201, body);
}

/* Reads the upload named by the path; on false the request is answered. */
static bool load_upload(kino_http_request_t *req, kino_jobs_t *jobs, jobs_upload_t *u)
{
	const char *id = kino_http_request_param(req, "id");
	kino_error_t err = {0};
	int ret;

	if (!jobs_id_valid(id)) {
		kino_http_respond_error(req, KINO_ENOENT, "no such upload");
		return false;
	}
	ret = store_upload_get(jobs, id, u, &err);
	if (ret == KINO_ENOENT) {
		kino_http_respond_error(req, KINO_ENOENT, "no such upload");
		return false;
	}
	if (ret < 0) {
		respond_status(req, ret, &err);
		return false;
	}
	return true;
}

static void offset_headers(kino_http_request_t *req, const jobs_upload_t *u)
{
	char n[32];

	snprintf(n, sizeof(n), "%lld", (long long)u->offset);
	kino_http_response_header(req, "Upload-Offset", n);
	snprintf(n, sizeof(n), "%lld", (long long)u->length);
	kino_http_response_header(req, "Upload-Length", n);
	kino_http_response_header(req, "Cache-Control", "no-store");
}

void tus_head(kino_http_request_t *req, void *userdata)
{
	kino_jobs_t *jobs = userdata;
	jobs_upload_t u;
	kino_user_t user;
	char body[256];

	if (!tus_begin(req, jobs, &user) || !load_upload(req, jobs, &u))
		return;
	offset_headers(req, &u);
	if (u.job_id[0] == '\0')
		expires_header(req, jobs, u.updated_at_ms);
	snprintf(body, sizeof(body),
		 "{\"id\":\"%s\",\"offset\":%lld,\"length\":%lld,\"job_id\":%s%s%s}", u.id,
		 (long long)u.offset, (long long)u.length, u.job_id[0] ? "\"" : "",
		 u.job_id[0] ? u.job_id : "null", u.job_id[0] ? "\"" : "");
	kino_http_respond_json(req, 200, body);
}

int jobs_upload_complete(kino_jobs_t *jobs, const jobs_upload_t *u, kino_error_t *err)
{
	kino_jobs_spec_t spec = {.kind = KINO_JOBS_KIND_UPLOAD, .source = u->id,
				 .title = u->title, .ladder = u->ladder,
				 .source_name = u->filename[0] ? u->filename : NULL};
	char id[KINO_JOBS_ID_LEN + 1];
	int ret = kino_jobs_job_create(jobs, &spec, id, err);

	if (ret == KINO_EEXIST)
		ret = 0; /* a retried last PATCH: the job is there */
	if (ret == 0 && u->job_id[0] == '\0')
		ret = store_upload_set_job(jobs, u->id, id, err);
	return ret;
}

/* Writes len bytes at offset into the upload's file, which then ends there. */
static int write_chunk(const char *path, int64_t offset, const char *data, size_t len,
		       kino_error_t *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t done = 0;
	int ret = 0;

	if (fd < 0)
		return kino_error_set(err, errno == ENOENT ? KINO_ENOENT : KINO_EIO,
				      "the upload's file: %s", strerror(errno));
	while (done < len) {
		ssize_t n = pwrite(fd, data + done, len - done, (off_t)(offset + (int64_t)done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = kino_error_set(err, errno == ENOSPC ? KINO_ENOSPC : KINO_EIO,
					     "writing the upload: %s", strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	/* A failed earlier write may have left bytes past the chunk. */
	if (ftruncate(fd, (off_t)(offset + (int64_t)len)) != 0 || fdatasync(fd) != 0)
		ret = kino_error_set(err, errno == ENOSPC ? KINO_ENOSPC : KINO_EIO,
				     "writing the upload: %s", strerror(errno));
out:
	close(fd);
	return ret;
}

void tus_patch(kino_http_request_t *req, void *userdata)
{
	kino_jobs_t *jobs = userdata;
	const char *ctype = kino_http_request_header(req, "content-type");
	const char *hoffset = kino_http_request_header(req, "upload-offset");
	kino_error_t err = {0};
	jobs_upload_t u;
	kino_user_t user;
	int64_t offset;
	const char *body;
	char path[4300], token[KINO_JOBS_ID_LEN + 1], msg[200];
	size_t len;
	int ret;

	if (!tus_begin(req, jobs, &user))
		return;
	if (ctype == NULL || strcmp(ctype, "application/offset+octet-stream") != 0) {
		kino_http_respond_error(req, KINO_EUNSUPPORTED,
					"a PATCH body must be application/offset+octet-stream");
		return;
	}
	if (hoffset == NULL || !tus_parse_offset(hoffset, &offset)) {
		kino_http_respond_error(req, KINO_EINVAL, "Upload-Offset must be a number of bytes");
		return;
	}
	if (!load_upload(req, jobs, &u))
		return;
	body = kino_http_request_body(req, &len);
	if (offset != u.offset) {
		offset_headers(req, &u);
		snprintf(msg, sizeof(msg), "Upload-Offset %lld does not match the upload's offset %lld",
			 (long long)offset, (long long)u.offset);
		kino_http_respond_error(req, KINO_ECONFLICT, msg);
		return;
	}
	if ((int64_t)len > u.length - offset) {
		snprintf(msg, sizeof(msg), "the chunk runs %lld bytes past Upload-Length %lld",
			 (long long)(offset + (int64_t)len - u.length), (long long)u.length);
		kino_http_respond_error(req, KINO_EINVAL, msg);
		return;
	}
	if (len > 0) {
		jobs_id_new(token);
		ret = store_upload_lock(jobs, u.id, offset, token, UPLOAD_LOCK_MS, &err);
		if (ret == 0) {
			jobs_part_path(jobs, u.id, path, sizeof(path));
			ret = write_chunk(path, offset, body, len, &err);
			/* Move the offset only when the bytes are on disk. */
			kino_error_t uerr = {0};
			int uret = store_upload_unlock(jobs, u.id, offset, token,
						       ret == 0 ? offset + (int64_t)len : offset,
						       &uerr);
			if (ret == 0 && uret < 0) {
				ret = uret;
				err = uerr;
			}
		}
		if (ret < 0) {
			respond_status(req, ret, &err);
			return;
		}
		u.offset = offset + (int64_t)len;
	}
	if (u.offset == u.length) {
		ret = jobs_upload_complete(jobs, &u, &err);
		if (ret < 0) {
			/* The bytes are kept: a retried PATCH with an empty body
			 * at the final offset creates the job. */
			respond_status(req, ret, &err);
			return;
		}
		if (len > 0)
			KINO_LOG_INFO("upload %s complete (%lld bytes): job %s queued", u.id,
				      (long long)u.length, u.id);
	}
	offset_headers(req, &u);
	if (u.offset < u.length)
		expires_header(req, jobs, jobs_now_ms());
	kino_http_respond(req, 204, "text/plain", NULL, 0);
}
