/* The jobs module's handle and what does not belong to one collaborator:
 * kino_jobs_new/destroy, creating and reading jobs (checks here, storage in
 * job_store.c), the JSON shape of a job, and the routes table. */
#define KINO_LOG_MODULE "jobs"
#include "jobs_internal.h"

#include "kino/ingest.h"
#include "kino/log.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const kind_names[] = {"file", "url", "upload"};
static const char *const state_names[] = {"queued", "running", "done", "failed"};

const char *kino_jobs_kind_name(kino_jobs_kind_t kind)
{
	return (unsigned)kind < 3 ? kind_names[kind] : "unknown";
}

const char *kino_jobs_state_name(kino_jobs_state_t state)
{
	return (unsigned)state < 4 ? state_names[state] : "unknown";
}

int64_t jobs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool jobs_id_valid(const char *id)
{
	if (id == NULL || strlen(id) != KINO_JOBS_ID_LEN)
		return false;
	for (const char *c = id; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	return true;
}

static int mkdir_one(const char *path, kino_error_t *err)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return kino_error_set(err, errno == ENOSPC ? KINO_ENOSPC : KINO_EIO,
				      "mkdir '%s': %s", path, strerror(errno));
	return 0;
}

int jobs_mkdirs(const char *path, kino_error_t *err)
{
	char parent[4300];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		if (mkdir_one(parent, err) < 0)
			return err != NULL ? err->code : KINO_EIO;
	}
	return mkdir_one(path, err);
}

void jobs_part_path(const kino_jobs_t *jobs, const char *id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s.part", jobs->uploads_dir, id);
}

void jobs_staging_path(const kino_jobs_t *jobs, const char *id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/.job-%s", jobs->media_root, id);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int jobs_tree_remove(const char *path, kino_error_t *err)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return 0;
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return kino_error_set(err, KINO_EIO, "removing '%s': %s", path, strerror(errno));
	return 0;
}

kino_jobs_t *kino_jobs_new(kino_db_t *db, kino_auth_t *auth,
			   const kino_config_t *cfg, kino_error_t *err)
{
	kino_jobs_t *jobs;

	if (db == NULL || cfg == NULL || cfg->data_dir[0] == '\0') {
		kino_error_set(err, KINO_EINVAL, "jobs: a database and a data_dir are required");
		return NULL;
	}
	jobs = calloc(1, sizeof(*jobs));
	if (jobs == NULL) {
		kino_error_set(err, KINO_ENOMEM, "jobs: out of memory");
		return NULL;
	}
	jobs->db = db;
	jobs->auth = auth;
	jobs->cfg = cfg->jobs;
	jobs->upload_expire_ms = JOBS_UPLOAD_EXPIRE_MS;
	snprintf(jobs->media_root, sizeof(jobs->media_root), "%s/media", cfg->data_dir);
	snprintf(jobs->uploads_dir, sizeof(jobs->uploads_dir), "%s/uploads", cfg->data_dir);
	return jobs;
}

void kino_jobs_destroy(kino_jobs_t *jobs)
{
	free(jobs);
}

int kino_jobs_ensure_indexes(kino_jobs_t *jobs, kino_error_t *err)
{
	return store_indexes(jobs, err);
}

/* The title of a job without one: the last path segment of its source. */
static void title_from_source(const char *source, char *out, size_t size)
{
	const char *end = source + strcspn(source, "?#");
	const char *start = end;

	while (start > source && start[-1] != '/')
		start--;
	if (start == end)
		snprintf(out, size, "%s", source);
	else
		snprintf(out, size, "%.*s", (int)(end - start), start);
}

int kino_jobs_job_create(kino_jobs_t *jobs, const kino_jobs_spec_t *spec,
			 char id[KINO_JOBS_ID_LEN + 1], kino_error_t *err)
{
	kino_ingest_rung_t rungs[KINO_INGEST_LADDER_MAX];
	char title[512];
	size_t n;
	int ret;

	if (spec == NULL || spec->source == NULL || spec->source[0] == '\0' ||
	    (unsigned)spec->kind > KINO_JOBS_KIND_UPLOAD)
		return kino_error_set(err, KINO_EINVAL, "a job needs a kind and a source");
	if (strlen(spec->source) >= sizeof(((kino_jobs_info_t *)0)->source))
		return kino_error_set(err, KINO_EINVAL, "the source is longer than 4095 bytes");
	if (spec->kind == KINO_JOBS_KIND_URL) {
		ret = kino_ingest_url_check(spec->source, err);
		if (ret < 0)
			return ret;
	}
	if (spec->source_name != NULL && strlen(spec->source_name) >= 256)
		return kino_error_set(err, KINO_EINVAL, "source name: longer than 255 bytes");
	if (spec->kind == KINO_JOBS_KIND_UPLOAD && !jobs_id_valid(spec->source))
		return kino_error_set(err, KINO_EINVAL, "an upload job's source is an upload id");
	if (spec->ladder != NULL && spec->ladder[0] != '\0') {
		if (strlen(spec->ladder) >= sizeof(((kino_jobs_info_t *)0)->ladder))
			return kino_error_set(err, KINO_EINVAL, "ladder: longer than 255 bytes");
		ret = kino_ingest_ladder_parse(spec->ladder, rungs, KINO_INGEST_LADDER_MAX,
					       &n, err);
		if (ret < 0)
			return kino_error_prefix(err, "ladder");
	}
	if (spec->title != NULL && spec->title[0] != '\0') {
		if (strlen(spec->title) >= sizeof(title))
			return kino_error_set(err, KINO_EINVAL, "title: longer than 511 bytes");
		snprintf(title, sizeof(title), "%s", spec->title);
	} else {
		title_from_source(spec->source, title, sizeof(title));
	}
	/* An upload's job takes the upload's id, so creating it twice (a
	 * client retrying its last PATCH) finds the first one. */
	if (spec->kind == KINO_JOBS_KIND_UPLOAD)
		snprintf(id, KINO_JOBS_ID_LEN + 1, "%s", spec->source);
	else
		jobs_id_new(id);
	ret = store_job_insert(jobs, id, spec, title, err);
	if (ret == 0)
		KINO_LOG_INFO("job %s queued: %s '%s'", id, kino_jobs_kind_name(spec->kind),
			      spec->kind == KINO_JOBS_KIND_URL ? spec->source : title);
	return ret;
}

int kino_jobs_job_get(kino_jobs_t *jobs, const char *id, kino_jobs_info_t *out,
		      kino_error_t *err)
{
	if (!jobs_id_valid(id))
		return kino_error_set(err, KINO_ENOENT, "no such job");
	return store_job_get(jobs, id, out, err);
}

/* ---- JSON ----------------------------------------------------------------------- */

typedef struct jbuf {
	char *buf;
	size_t size, len;
} jbuf_t;

__attribute__((format(printf, 2, 3))) static void jb_printf(jbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->len < b->size ? b->buf + b->len : NULL,
		      b->len < b->size ? b->size - b->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

/* "name":"escaped value" or "name":null for "". */
static void jb_string(jbuf_t *b, const char *name, const char *value)
{
	char esc[8192];

	if (value == NULL || value[0] == '\0') {
		jb_printf(b, "\"%s\":null", name);
		return;
	}
	kino_http_json_escape(esc, sizeof(esc), value);
	jb_printf(b, "\"%s\":\"%s\"", name, esc);
}

static void jb_date(jbuf_t *b, const char *name, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char when[32];

	if (ms <= 0) {
		jb_printf(b, "\"%s\":null", name);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	jb_printf(b, "\"%s\":\"%s.%03dZ\"", name, when, (int)(ms % 1000));
}

size_t kino_jobs_job_json(const kino_jobs_info_t *job, char *buf, size_t size)
{
	jbuf_t b = {.buf = buf, .size = size};

	if (size > 0)
		buf[0] = '\0';
	jb_printf(&b, "{\"id\":\"%s\",\"kind\":\"%s\",\"state\":\"%s\",", job->id,
		  kino_jobs_kind_name(job->kind), kino_jobs_state_name(job->state));
	jb_string(&b, "title", job->title);
	jb_printf(&b, ",");
	jb_string(&b, "source", job->source);
	jb_printf(&b, ",");
	jb_string(&b, "ladder", job->ladder);
	jb_printf(&b, ",\"attempts\":%d,", job->attempts);
	jb_printf(&b, "\"progress\":{");
	jb_string(&b, "phase", job->phase);
	jb_printf(&b, ",\"fraction\":%.4f,\"fps\":%.1f,\"eta_seconds\":", job->fraction,
		  job->fps);
	if (job->eta_seconds < 0)
		jb_printf(&b, "null},");
	else
		jb_printf(&b, "%.1f},", job->eta_seconds);
	jb_string(&b, "error", job->error);
	jb_printf(&b, ",");
	jb_string(&b, "asset_id", job->asset_id);
	jb_printf(&b, ",");
	jb_string(&b, "hls", job->hls);
	jb_printf(&b, ",");
	jb_string(&b, "dash", job->dash);
	jb_printf(&b, ",");
	jb_string(&b, "lease_owner", job->lease_owner);
	jb_printf(&b, ",");
	jb_date(&b, job->state == KINO_JOBS_RUNNING ? "lease_until" : "not_before",
		job->state == KINO_JOBS_RUNNING || job->state == KINO_JOBS_QUEUED
			? job->lease_until_ms : 0);
	jb_printf(&b, ",");
	jb_date(&b, "created_at", job->created_at_ms);
	jb_printf(&b, ",");
	jb_date(&b, "updated_at", job->updated_at_ms);
	jb_printf(&b, "}");
	return b.len;
}

/* ---- routes ------------------------------------------------------------------- */

size_t kino_jobs_routes(kino_jobs_t *jobs, kino_http_route_t *out, size_t max)
{
	size_t chunk = jobs->cfg.upload_chunk > 0 ? (size_t)jobs->cfg.upload_chunk : 0;
	const kino_http_route_t routes[KINO_JOBS_ROUTES_MAX] = {
		{.method = "OPTIONS", .pattern = "/api/v1/uploads", .handler = tus_options,
		 .mode = KINO_HTTP_INLINE, .userdata = jobs},
		{.method = "POST", .pattern = "/api/v1/uploads", .handler = tus_create,
		 .mode = KINO_HTTP_BLOCKING, .max_body = 4096, .userdata = jobs},
		/* HEAD is served by this GET route, which lets the server drop
		 * the body of error answers to HEAD. */
		{.method = "GET", .pattern = "/api/v1/uploads/{id}", .handler = tus_head,
		 .mode = KINO_HTTP_BLOCKING, .userdata = jobs},
		{.method = "PATCH", .pattern = "/api/v1/uploads/{id}", .handler = tus_patch,
		 .mode = KINO_HTTP_BLOCKING, .max_body = chunk, .userdata = jobs},
		{.method = "POST", .pattern = "/api/v1/jobs", .handler = job_route_create,
		 .mode = KINO_HTTP_BLOCKING, .max_body = 16384, .userdata = jobs},
		{.method = "GET", .pattern = "/api/v1/jobs/{id}", .handler = job_route_get,
		 .mode = KINO_HTTP_BLOCKING, .userdata = jobs},
	};
	size_t n = max < KINO_JOBS_ROUTES_MAX ? max : KINO_JOBS_ROUTES_MAX;

	if (jobs->auth == NULL) {
		/* Every route but OPTIONS checks an admin's session. */
		KINO_LOG_ERROR("jobs: routes need a kino_jobs_t made with an auth");
		return 0;
	}
	memcpy(out, routes, n * sizeof(routes[0]));
	return n;
}
