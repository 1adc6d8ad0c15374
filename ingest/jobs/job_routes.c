/* The jobs API, for admins:
 *
 *   POST /api/v1/jobs       {"url": "https://...", "title": "...", "ladder": "720:3000"}
 *                           -> 201 the job (queued), Location /api/v1/jobs/{id}
 *   GET  /api/v1/jobs/{id}  -> 200 the job: state, progress, attempts, error,
 *                              asset_id, hls, dash (see kino_jobs_job_json)
 *
 * Request bodies are parsed with libbson's JSON reader, as core's routes do. */
#define KINO_LOG_MODULE "jobs"
#include "jobs_internal.h"

#include <bson/bson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The job as JSON, answered with `status`. */
static void respond_job(kino_http_request_t *req, int status, const kino_jobs_info_t *job)
{
	size_t need = kino_jobs_job_json(job, NULL, 0) + 1;
	char *json = malloc(need);

	if (json == NULL) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		return;
	}
	kino_jobs_job_json(job, json, need);
	kino_http_respond_json(req, status, json);
	free(json);
}

/* A string member, NULL when absent; false (and answered) when present
 * with another type. */
static bool member(kino_http_request_t *req, const bson_t *doc, const char *name,
		   const char **out)
{
	bson_iter_t it;
	char msg[128];

	*out = NULL;
	if (!bson_iter_init_find(&it, doc, name) || BSON_ITER_HOLDS_NULL(&it))
		return true;
	if (!BSON_ITER_HOLDS_UTF8(&it)) {
		snprintf(msg, sizeof(msg), "%s: a string is required", name);
		kino_http_respond_error(req, KINO_EINVAL, msg);
		return false;
	}
	*out = bson_iter_utf8(&it, NULL);
	return true;
}

void job_route_create(kino_http_request_t *req, void *userdata)
{
	kino_jobs_t *jobs = userdata;
	kino_jobs_spec_t spec = {.kind = KINO_JOBS_KIND_URL};
	kino_jobs_info_t *job = NULL;
	kino_error_t err = {0};
	kino_user_t user;
	char id[KINO_JOBS_ID_LEN + 1], location[64], msg[300];
	bson_error_t berr;
	bson_t doc;
	bool parsed = false;
	const char *body;
	size_t len;
	int ret;

	if (kino_auth_require(jobs->auth, req, KINO_ROLE_ADMIN, &user) != 0)
		return;
	body = kino_http_request_body(req, &len);
	if (len == 0 || !bson_init_from_json(&doc, body, (ssize_t)len, &berr)) {
		snprintf(msg, sizeof(msg), "the body must be a JSON object: %s",
			 len == 0 ? "it is empty" : berr.message);
		kino_http_respond_error(req, KINO_EPARSE, msg);
		return;
	}
	parsed = true;
	if (!member(req, &doc, "url", &spec.source) || !member(req, &doc, "title", &spec.title) ||
	    !member(req, &doc, "ladder", &spec.ladder))
		goto out;
	if (spec.source == NULL) {
		kino_http_respond_error(req, KINO_EINVAL, "url: a string is required");
		goto out;
	}
	ret = kino_jobs_job_create(jobs, &spec, id, &err);
	if (ret == 0) {
		job = malloc(sizeof(*job));
		ret = job == NULL ? kino_error_set(&err, KINO_ENOMEM, "out of memory")
				  : kino_jobs_job_get(jobs, id, job, &err);
	}
	if (ret < 0) {
		kino_http_respond_error(req, ret, kino_error_message(&err));
		goto out;
	}
	snprintf(location, sizeof(location), "/api/v1/jobs/%s", id);
	kino_http_response_header(req, "Location", location);
	respond_job(req, 201, job);
out:
	free(job);
	if (parsed)
		bson_destroy(&doc);
}

void job_route_get(kino_http_request_t *req, void *userdata)
{
	kino_jobs_t *jobs = userdata;
	kino_jobs_info_t *job = NULL;
	kino_error_t err = {0};
	kino_user_t user;
	int ret;

	if (kino_auth_require(jobs->auth, req, KINO_ROLE_ADMIN, &user) != 0)
		return;
	job = malloc(sizeof(*job));
	if (job == NULL) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
		return;
	}
	ret = kino_jobs_job_get(jobs, kino_http_request_param(req, "id"), job, &err);
	if (ret == KINO_ENOENT)
		kino_http_respond_error(req, ret, "no such job");
	else if (ret < 0)
		kino_http_respond_error(req, ret, kino_error_message(&err));
	else
		respond_job(req, 200, job);
	free(job);
}
