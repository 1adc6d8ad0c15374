/* tus uploads and the jobs API over HTTP: an in-process server with the
 * accounts, jobs and health routes on a FerretDB of the test's own, driven
 * as tus-js-client would (OPTIONS, POST, PATCH in two chunks, HEAD to
 * resume), with every refusal the protocol defines (409, 412, 413, 415,
 * 401, 403, 404). The finished upload becomes a job that a spawned
 * `kino worker --once` completes, while GET /api/v1/jobs/{id} shows its
 * progress and then the asset. PATCHes racing at one offset append once;
 * an abandoned upload expires. */
#include "check.h"
#include "testenv.h"

#include "jobs_internal.h" /* to shorten the upload expiry */

#include "kino/auth.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/error.h"
#include "kino/health.h"
#include "kino/http.h"
#include "kino/ingest.h"
#include "kino/jobs.h"

#include <curl/curl.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLIP KINO_SHARED_DIR "/media/bbb-480p-30s.mp4"
#define CHUNK_MAX (2500 * 1000)

static tenv_db_t db;
static kino_jobs_t *jobs;
static char dir[512], base[128], admin[KINO_AUTH_TOKEN_LEN + 1], viewer[KINO_AUTH_TOKEN_LEN + 1];

typedef struct resp {
	int status;
	char *body;
	size_t len;
	char headers[8192];
	size_t hlen;
} resp_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	resp_t *r = ud;
	char *grown = realloc(r->body, r->len + size * n + 1);

	CHECK(grown != NULL);
	r->body = grown;
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	resp_t *r = ud;
	size_t len = size * n;

	if (r->hlen + len < sizeof(r->headers)) {
		memcpy(r->headers + r->hlen, p, len);
		r->hlen += len;
		r->headers[r->hlen] = '\0';
	}
	return len;
}

/* The value of a response header (case-insensitive name), or NULL. Points
 * into a static buffer. */
static const char *header(const resp_t *r, const char *name)
{
	static char value[512];
	char pat[128];
	const char *h;

	snprintf(pat, sizeof(pat), "\n%s:", name);
	h = strcasestr(r->headers, pat);
	if (h == NULL)
		return NULL;
	h += strlen(pat);
	while (*h == ' ')
		h++;
	snprintf(value, sizeof(value), "%.*s", (int)strcspn(h, "\r\n"), h);
	return value;
}

static bool expect_continue;

/* One request. token may be NULL; tus adds Tus-Resumable: 1.0.0; extra
 * is one more header or NULL. */
static int call(resp_t *r, const char *method, const char *path, const char *token, bool tus,
		const char *extra, const char *extra2, const void *body, size_t len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hs = NULL;
	char url[256], auth[128];
	long status = 0;

	free(r->body);
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", base, path);
	/* Expect: 100-continue only where the body is meant to be refused
	 * unread (413): the client then waits for the answer instead of
	 * writing into a connection the server is closing. */
	hs = curl_slist_append(hs, expect_continue ? "Expect: 100-continue" : "Expect:");
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hs = curl_slist_append(hs, auth);
	}
	if (tus)
		hs = curl_slist_append(hs, "Tus-Resumable: 1.0.0");
	if (extra != NULL)
		hs = curl_slist_append(hs, extra);
	if (extra2 != NULL)
		hs = curl_slist_append(hs, extra2);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	/* No body, no Content-Length: core's server dispatches a request with
	 * "Content-Length: 0" twice (see the jobs report), so these tests do
	 * not send one until that is fixed. */
	if (body != NULL && len > 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	/* A refusal before the whole body is sent (413) may end the transfer
	 * with a send error; the status line has arrived all the same. */
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hs);
	r->status = (int)status;
	if (r->body == NULL)
		r->body = strdup("");
	return r->status;
}

#define OCTETS "Content-Type: application/offset+octet-stream"

static char *clip;
static size_t clip_len;
static char upload_path[128]; /* /api/v1/uploads/<id> */
static char upload_id[KINO_JOBS_ID_LEN + 1];

static void test_options(void)
{
	resp_t r = {0};

	CHECK_INT_EQ(call(&r, "OPTIONS", "/api/v1/uploads", NULL, false, NULL, NULL, NULL, 0), 204);
	CHECK_STR_EQ(header(&r, "Tus-Resumable"), "1.0.0");
	CHECK_STR_EQ(header(&r, "Tus-Version"), "1.0.0");
	CHECK_STR_EQ(header(&r, "Tus-Extension"), "creation,expiration");
	CHECK_STR_EQ(header(&r, "Tus-Max-Size"), "104857600");
	free(r.body);
}

static void test_create_refusals(void)
{
	resp_t r = {0};

	/* No Tus-Resumable: 412, and the answer says which version we speak. */
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, false, "Upload-Length: 100", NULL,
			  NULL, 0), 412);
	CHECK_STR_EQ(header(&r, "Tus-Resumable"), "1.0.0");
	CHECK_STR_EQ(header(&r, "Tus-Version"), "1.0.0");
	CHECK_CONTAINS(r.body, "\"code\":\"precondition_failed\"");
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", NULL, true, "Upload-Length: 100", NULL,
			  NULL, 0), 401);
	CHECK_STR_EQ(header(&r, "Tus-Resumable"), "1.0.0");
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", viewer, true, "Upload-Length: 100", NULL,
			  NULL, 0), 403);
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, "Upload-Length: 104857601",
			  NULL, NULL, 0), 413);
	CHECK_CONTAINS(r.body, "over the 104857600-byte limit");
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, NULL, NULL, NULL, 0), 400);
	CHECK_CONTAINS(r.body, "Upload-Length");
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, "Upload-Length: 12abc", NULL,
			  NULL, 0), 400);
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, "Upload-Defer-Length: 1",
			  NULL, NULL, 0), 400);
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, "Upload-Length: 100",
			  "Upload-Metadata: title !!notbase64", NULL, 0), 400);
	CHECK_CONTAINS(r.body, "title");
	/* ladder "tall" */
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, "Upload-Length: 100",
			  "Upload-Metadata: ladder dGFsbA==", NULL, 0), 400);
	CHECK_CONTAINS(r.body, "ladder");
	free(r.body);
}

static void test_upload_in_two_chunks(void)
{
	resp_t r = {0};
	char length[64], offset[64];
	size_t first = clip_len / 2;
	const char *loc;
	char *big;

	snprintf(length, sizeof(length), "Upload-Length: %zu", clip_len);
	/* filename "bbb.mp4", title "Big Buck Bunny", ladder "360:800,240:400" */
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, length,
			  "Upload-Metadata: filename YmJiLm1wNA==,title QmlnIEJ1Y2sgQnVubnk=,"
			  "ladder MzYwOjgwMCwyNDA6NDAw",
			  NULL, 0), 201);
	loc = header(&r, "Location");
	CHECK(loc != NULL && strncmp(loc, "/api/v1/uploads/", 16) == 0);
	snprintf(upload_path, sizeof(upload_path), "%s", loc);
	snprintf(upload_id, sizeof(upload_id), "%s", loc + 16);
	CHECK_STR_EQ(header(&r, "Tus-Resumable"), "1.0.0");

	CHECK_INT_EQ(call(&r, "HEAD", upload_path, admin, true, NULL, NULL, NULL, 0), 200);
	CHECK_STR_EQ(header(&r, "Upload-Offset"), "0");
	CHECK_STR_EQ(header(&r, "Upload-Length"), length + 15);
	CHECK_STR_EQ(header(&r, "Cache-Control"), "no-store");

	CHECK_INT_EQ(call(&r, "PATCH", upload_path, admin, true, OCTETS, "Upload-Offset: 0", clip,
			  first), 204);
	snprintf(offset, sizeof(offset), "%zu", first);
	CHECK_STR_EQ(header(&r, "Upload-Offset"), offset);

	/* The same chunk again (a client that missed the answer): 409, and
	 * the right offset to go on from. */
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, admin, true, OCTETS, "Upload-Offset: 0", clip,
			  first), 409);
	CHECK_CONTAINS(r.body, "does not match");
	CHECK_STR_EQ(header(&r, "Upload-Offset"), offset);
	/* Refusals that change nothing. */
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, admin, true, "Content-Type: video/mp4",
			  "Upload-Offset: 0", clip, 10), 415);
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, admin, false, OCTETS, "Upload-Offset: 0", clip,
			  10), 412);
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, NULL, true, OCTETS, "Upload-Offset: 0", clip,
			  10), 401);
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, viewer, true, OCTETS, "Upload-Offset: 0", clip,
			  10), 403);
	big = calloc(1, CHUNK_MAX + 1);
	CHECK(big != NULL);
	snprintf(offset, sizeof(offset), "Upload-Offset: %zu", first);
	expect_continue = true;
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, admin, true, OCTETS, offset, big,
			  CHUNK_MAX + 1), 413);
	expect_continue = false;
	free(big);
	CHECK_INT_EQ(call(&r, "PATCH", "/api/v1/uploads/0123456789abcdef01234567", admin, true,
			  OCTETS, "Upload-Offset: 0", clip, 10), 404);
	CHECK_INT_EQ(call(&r, "HEAD", "/api/v1/uploads/0123456789abcdef01234567", admin, true, NULL,
			  NULL, NULL, 0), 404);
	CHECK_INT_EQ(call(&r, "HEAD", "/api/v1/uploads/..%2f..%2fetc", admin, true, NULL, NULL,
			  NULL, 0), 404);

	/* Resume: HEAD says where, PATCH sends the rest. */
	CHECK_INT_EQ(call(&r, "HEAD", upload_path, admin, true, NULL, NULL, NULL, 0), 200);
	snprintf(offset, sizeof(offset), "%zu", first);
	CHECK_STR_EQ(header(&r, "Upload-Offset"), offset);
	snprintf(offset, sizeof(offset), "Upload-Offset: %zu", first);
	/* Past Upload-Length: refused. */
	big = malloc(clip_len);
	CHECK(big != NULL);
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, admin, true, OCTETS, offset, big,
			  clip_len - first + 1), 400);
	free(big);
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, admin, true, OCTETS, offset, clip + first,
			  clip_len - first), 204);
	CHECK_STR_EQ(header(&r, "Upload-Offset"), length + 15);

	/* The file holds exactly the clip, and the upload names its job. */
	char path[700];
	snprintf(path, sizeof(path), "%s/data/uploads/%s.part", dir, upload_id);
	char *got = tenv_read_file(path);
	CHECK(got != NULL && memcmp(got, clip, clip_len) == 0);
	free(got);
	CHECK_INT_EQ(call(&r, "GET", upload_path, admin, true, NULL, NULL, NULL, 0), 200);
	char want[128];
	snprintf(want, sizeof(want), "\"job_id\":\"%s\"", upload_id);
	CHECK_CONTAINS(r.body, want);
	/* A retried last PATCH (empty, at the end) is answered, no second job. */
	snprintf(offset, sizeof(offset), "Upload-Offset: %zu", clip_len);
	CHECK_INT_EQ(call(&r, "PATCH", upload_path, admin, true, OCTETS, offset, NULL, 0), 204);
	free(r.body);
}

/* The worker running now: a failed CHECK exits the test, and atexit then
 * kills it rather than leave it polling a database that is gone. */
static tenv_proc_t *running;

static void kill_running(void)
{
	if (running != NULL)
		tenv_proc_kill(running);
}

static void test_worker_completes_the_upload(void)
{
	char job_path[128], uri[200], data[700], part[700];
	char *const env[] = {uri, data, "KINO_JOBS_LEASE=5s", NULL};
	resp_t r = {0};
	tenv_proc_t w;
	bool ok, seen_progress = false;
	struct stat st;

	snprintf(job_path, sizeof(job_path), "/api/v1/jobs/%s", upload_id);
	CHECK_INT_EQ(call(&r, "GET", job_path, admin, false, NULL, NULL, NULL, 0), 200);
	CHECK_CONTAINS(r.body, "\"state\":\"queued\"");
	CHECK_CONTAINS(r.body, "\"kind\":\"upload\"");
	CHECK_CONTAINS(r.body, "\"title\":\"Big Buck Bunny\"");
	CHECK_CONTAINS(r.body, "\"ladder\":\"360:800,240:400\"");

	snprintf(uri, sizeof(uri), "KINO_MONGO_URI=%s", db.uri);
	snprintf(data, sizeof(data), "KINO_DATA_DIR=%s/data", dir);
	tenv_proc_spawn(&w, dir, (char *[]){KINO_BIN, "worker", "--once", NULL}, env);
	running = &w;
	/* While it runs, GET shows the progress that the lease renewals write. */
	for (int i = 0; i < 1200 && !w.exited; i++) {
		call(&r, "GET", job_path, admin, false, NULL, NULL, NULL, 0);
		if (strstr(r.body, "\"state\":\"running\"") != NULL &&
		    strstr(r.body, "\"phase\":\"transcoding\"") != NULL &&
		    strstr(r.body, "\"fraction\":0.0000") == NULL)
			seen_progress = true;
		tenv_proc_wait(&w, 100);
	}
	ok = tenv_proc_wait(&w, 1000);
	if (!ok)
		tenv_proc_kill(&w);
	running = NULL;
	char *err = tenv_proc_stderr(&w);
	CHECK_MSG(ok && tenv_proc_exit_code(&w) == 0, "worker: exit %d\n%s",
		  tenv_proc_exit_code(&w), err);
	free(err);
	unlink(w.out_path);
	unlink(w.err_path);
	CHECK_MSG(seen_progress, "GET never showed the job running with progress");

	CHECK_INT_EQ(call(&r, "GET", job_path, admin, false, NULL, NULL, NULL, 0), 200);
	CHECK_CONTAINS(r.body, "\"state\":\"done\"");
	CHECK_CONTAINS(r.body, "\"attempts\":1");
	CHECK_CONTAINS(r.body, "\"fraction\":1.0000");
	CHECK_CONTAINS(r.body, "\"error\":null");
	CHECK_CONTAINS(r.body, "master.m3u8");
	CHECK_CONTAINS(r.body, ".mpd");
	CHECK(strstr(r.body, "\"asset_id\":null") == NULL);
	/* The upload's bytes are gone once the asset exists. */
	snprintf(part, sizeof(part), "%s/data/uploads/%s.part", dir, upload_id);
	CHECK(stat(part, &st) != 0);
	/* Jobs are for admins. */
	CHECK_INT_EQ(call(&r, "GET", job_path, viewer, false, NULL, NULL, NULL, 0), 403);
	CHECK_INT_EQ(call(&r, "GET", job_path, NULL, false, NULL, NULL, NULL, 0), 401);
	CHECK_INT_EQ(call(&r, "GET", "/api/v1/jobs/nope", admin, false, NULL, NULL, NULL, 0), 404);
	free(r.body);
}

#define PATCHERS 4

typedef struct patcher {
	pthread_barrier_t *go;
	const char *path;
	int status;
} patcher_t;

static void *patch_at_zero(void *arg)
{
	patcher_t *p = arg;
	resp_t r = {0};

	pthread_barrier_wait(p->go);
	p->status = call(&r, "PATCH", p->path, admin, true, OCTETS, "Upload-Offset: 0", clip, 4096);
	free(r.body);
	return NULL;
}

/* Clients racing at one offset (a retry sent to a second server): one
 * PATCH appends, the others get 409, and the offset counts the bytes once. */
static void test_racing_patches(void)
{
	patcher_t p[PATCHERS];
	pthread_t t[PATCHERS];
	pthread_barrier_t go;
	char path[128];
	resp_t r = {0};
	int ok = 0, conflicts = 0;

	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, "Upload-Length: 8192", NULL,
			  NULL, 0), 201);
	snprintf(path, sizeof(path), "%s", header(&r, "Location"));
	pthread_barrier_init(&go, NULL, PATCHERS);
	for (int i = 0; i < PATCHERS; i++) {
		p[i] = (patcher_t){.go = &go, .path = path};
		CHECK(pthread_create(&t[i], NULL, patch_at_zero, &p[i]) == 0);
	}
	for (int i = 0; i < PATCHERS; i++) {
		pthread_join(t[i], NULL);
		ok += p[i].status == 204;
		conflicts += p[i].status == 409;
	}
	pthread_barrier_destroy(&go);
	CHECK_INT_EQ(ok, 1);
	CHECK_INT_EQ(conflicts, PATCHERS - 1);
	CHECK_INT_EQ(call(&r, "HEAD", path, admin, true, NULL, NULL, NULL, 0), 200);
	CHECK_STR_EQ(header(&r, "Upload-Offset"), "4096");
	free(r.body);
}

/* An upload nobody finishes is removed, record and bytes, once it has been
 * untouched for the expiry (seven days; a millisecond here). */
static void test_abandoned_upload_expires(void)
{
	char path[128], other[128], part[700];
	resp_t r = {0};
	struct stat st;

	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, "Upload-Length: 8192", NULL,
			  NULL, 0), 201);
	CHECK(header(&r, "Upload-Expires") != NULL);
	CHECK_CONTAINS(header(&r, "Upload-Expires"), " GMT");
	snprintf(path, sizeof(path), "%s", header(&r, "Location"));
	CHECK_INT_EQ(call(&r, "PATCH", path, admin, true, OCTETS, "Upload-Offset: 0", clip, 100),
		     204);
	CHECK(header(&r, "Upload-Expires") != NULL);
	snprintf(part, sizeof(part), "%s/data/uploads/%s.part", dir, path + 16);
	CHECK(stat(part, &st) == 0 && st.st_size == 100);

	jobs->upload_expire_ms = 1;
	tenv_sleep_ms(20);
	/* The next creation sweeps. */
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/uploads", admin, true, "Upload-Length: 10", NULL,
			  NULL, 0), 201);
	snprintf(other, sizeof(other), "%s", header(&r, "Location"));
	jobs->upload_expire_ms = JOBS_UPLOAD_EXPIRE_MS;
	CHECK_INT_EQ(call(&r, "HEAD", path, admin, true, NULL, NULL, NULL, 0), 404);
	CHECK(stat(part, &st) != 0);
	/* A finished upload is never expired: its job owns the bytes. */
	CHECK_INT_EQ(call(&r, "HEAD", upload_path, admin, true, NULL, NULL, NULL, 0), 200);
	CHECK_INT_EQ(call(&r, "HEAD", other, admin, true, NULL, NULL, NULL, 0), 200);
	free(r.body);
}

static void test_url_job_api(void)
{
	resp_t r = {0};
	const char *json = "{\"url\":\"http://127.0.0.1:9/clip.mp4\",\"title\":\"Remote\","
			   "\"ladder\":\"360:800\"}";
	char job_path[128];

	CHECK_INT_EQ(call(&r, "POST", "/api/v1/jobs", NULL, false, NULL, NULL, json, strlen(json)), 401);
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/jobs", viewer, false, NULL, NULL, json, strlen(json)),
		     403);
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/jobs", admin, false, NULL, NULL, "{nope", 5), 400);
	CHECK_CONTAINS(r.body, "\"code\":\"malformed\"");
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/jobs", admin, false, NULL, NULL,
			  "{\"url\":\"file:///etc/passwd\"}", 28), 400);
	CHECK_CONTAINS(r.body, "only http and https");
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/jobs", admin, false, NULL, NULL, "{\"url\":42}", 10),
		     400);
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/jobs", admin, false, NULL, NULL,
			  "{\"url\":\"http://h/a.mp4\",\"ladder\":\"tall\"}", 40), 400);
	CHECK_CONTAINS(r.body, "ladder");
	CHECK_INT_EQ(call(&r, "POST", "/api/v1/jobs", admin, false, NULL, NULL, json, strlen(json)),
		     201);
	CHECK_CONTAINS(r.body, "\"state\":\"queued\"");
	CHECK_CONTAINS(r.body, "\"kind\":\"url\"");
	CHECK_CONTAINS(r.body, "\"title\":\"Remote\"");
	CHECK_CONTAINS(r.body, "\"ladder\":\"360:800\"");
	CHECK_CONTAINS(r.body, "\"attempts\":0");
	CHECK(header(&r, "Location") != NULL);
	snprintf(job_path, sizeof(job_path), "%s", header(&r, "Location"));
	CHECK_INT_EQ(call(&r, "GET", job_path, admin, false, NULL, NULL, NULL, 0), 200);
	CHECK_CONTAINS(r.body, "\"source\":\"http://127.0.0.1:9/clip.mp4\"");
	free(r.body);
}

int main(void)
{
	static kino_config_t cfg;
	kino_http_route_t routes[32];
	kino_http_config_t http_cfg = {.host = "127.0.0.1", .port = 0, .max_body = 65536,
				       .workers = 2};
	kino_http_server_t *srv;
	kino_health_t health;
	kino_error_t err = {0};
	kino_db_t *kdb;
	kino_auth_t *auth;
	size_t n = 0;

	kino_db_global_init();
	kino_http_global_init();
	kino_ingest_global_init(); /* curl_global_init, before the racing threads */
	atexit(kill_running);
	kino_log_set_level(KINO_LOG_LEVEL_WARN);
	clip = tenv_read_file(CLIP);
	CHECK(clip != NULL);
	{
		struct stat st;
		CHECK(stat(CLIP, &st) == 0);
		clip_len = (size_t)st.st_size;
	}
	tenv_db_start(&db);
	tenv_tmpdir(dir, sizeof(dir), "jobs-tus");
	kino_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/data", dir);
	snprintf(cfg.db.uri, sizeof(cfg.db.uri), "%s", db.uri);
	cfg.jobs.upload_max = 100 * 1024 * 1024;
	cfg.jobs.upload_chunk = CHUNK_MAX;
	kdb = kino_db_new(&cfg.db, &err);
	CHECK(kdb != NULL);
	CHECK_MSG(kino_db_wait_ready(kdb, 30000, &err) == 0, "%s", err.message);
	CHECK(kino_db_monitor_start(kdb, &err) == 0);
	auth = kino_auth_new(kdb, &cfg.auth, &err);
	CHECK(auth != NULL);
	CHECK(kino_auth_ensure_indexes(auth, &err) == 0);
	jobs = kino_jobs_new(kdb, auth, &cfg, &err);
	CHECK(jobs != NULL);
	CHECK(kino_jobs_ensure_indexes(jobs, &err) == 0);
	tenv_user_new(auth, "admin@example.com", "admin password", KINO_ROLE_ADMIN, NULL, admin);
	tenv_user_new(auth, "viewer@example.com", "viewer password", KINO_ROLE_VIEWER, NULL, viewer);

	kino_health_init(&health, kdb, "test");
	n += kino_auth_routes(auth, routes + n, 32 - n);
	n += kino_jobs_routes(jobs, routes + n, 32 - n);
	routes[n++] = kino_health_route(&health);
	srv = kino_http_server_new(&http_cfg, "test", routes, n, &err);
	CHECK_MSG(srv != NULL, "%s", err.message);
	CHECK(kino_http_server_start(srv, &err) == 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));

	RUN_TEST(test_options);
	RUN_TEST(test_create_refusals);
	RUN_TEST(test_upload_in_two_chunks);
	RUN_TEST(test_worker_completes_the_upload);
	RUN_TEST(test_racing_patches);
	RUN_TEST(test_abandoned_upload_expires);
	RUN_TEST(test_url_job_api);

	kino_http_server_destroy(srv);
	kino_jobs_destroy(jobs);
	kino_auth_destroy(auth);
	kino_db_destroy(kdb);
	tenv_db_stop(&db);
	tenv_rmtree(dir);
	free(clip);
	kino_db_global_cleanup();
	return 0;
}
