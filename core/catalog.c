/* The catalog object and what its three route groups share: the route
 * table, the clock and ISO-8601 times, JSON text building, request body
 * parsing, and reading the asset.json that ingest leaves in each asset's
 * directory (read as JSON, never through ingest's headers: core does not
 * depend on ingest). See include/kino/catalog.h and docs/catalog.md. */
#define KINO_LOG_MODULE "catalog"
#include "catalog_internal.h"

#include "kino/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Request body limits: a title with every field at its bound is ~60 KB of
 * JSON; the entitlement bodies are a few fields. */
#define TITLE_MAX_BODY (96 * 1024)
#define SMALL_MAX_BODY 4096
/* asset.json of a ladder with every subtitle track stays far below this. */
#define ASSET_JSON_MAX (1024 * 1024)

kino_catalog_t *kino_catalog_new(kino_db_t *db, kino_auth_t *auth,
				 const kino_playback_keyring_t *keys,
				 const kino_config_t *cfg, kino_error_t *err)
{
	kino_catalog_t *c;

	if (db == NULL || auth == NULL || keys == NULL || cfg == NULL) {
		kino_error_set(err, KINO_EINVAL, "kino_catalog_new: db, auth, keys and cfg are required");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	c->db = db;
	c->auth = auth;
	c->keys = keys;
	c->cfg = cfg;
	atomic_init(&c->indexes_ready, false);
	return c;
}

void kino_catalog_destroy(kino_catalog_t *c)
{
	free(c);
}

int kino_catalog_ensure_indexes(kino_catalog_t *c, kino_error_t *err)
{
	int ret = catalog_store_indexes(c, err);

	if (ret == 0)
		ret = entitlement_store_indexes(c, err);
	if (ret == 0)
		ret = playback_session_indexes(c, err);
	if (ret == 0)
		atomic_store(&c->indexes_ready, true);
	return ret;
}

int catalog_indexes_ensure(kino_catalog_t *c, kino_error_t *err)
{
	if (atomic_load(&c->indexes_ready))
		return 0;
	return kino_catalog_ensure_indexes(c, err);
}

size_t kino_catalog_routes(kino_catalog_t *c, kino_http_route_t *out, size_t max)
{
#define ROUTE(m, p, h, body) \
	{.method = (m), .pattern = (p), .handler = (h), .mode = KINO_HTTP_BLOCKING, \
	 .max_body = (body), .userdata = c}
	const kino_http_route_t routes[] = {
		ROUTE("POST", "/api/v1/admin/titles", catalog_route_admin_create, TITLE_MAX_BODY),
		ROUTE("GET", "/api/v1/admin/titles", catalog_route_admin_list, SMALL_MAX_BODY),
		ROUTE("GET", "/api/v1/admin/titles/{id}", catalog_route_admin_get, SMALL_MAX_BODY),
		ROUTE("PATCH", "/api/v1/admin/titles/{id}", catalog_route_admin_patch, TITLE_MAX_BODY),
		ROUTE("POST", "/api/v1/admin/titles/{id}/publish", catalog_route_admin_publish,
		      SMALL_MAX_BODY),
		ROUTE("POST", "/api/v1/admin/titles/{id}/unpublish", catalog_route_admin_unpublish,
		      SMALL_MAX_BODY),
		ROUTE("GET", "/api/v1/titles", catalog_route_list, SMALL_MAX_BODY),
		ROUTE("GET", "/api/v1/titles/{id}", catalog_route_get, SMALL_MAX_BODY),
		ROUTE("GET", "/api/v1/admin/users", user_route_admin_list, SMALL_MAX_BODY),
		ROUTE("PATCH", "/api/v1/admin/users/{id}", user_route_admin_patch, SMALL_MAX_BODY),
		ROUTE("PUT", "/api/v1/admin/users/{id}/plan", entitlement_route_plan_put,
		      SMALL_MAX_BODY),
		ROUTE("POST", "/api/v1/admin/users/{id}/grants", entitlement_route_grant_post,
		      SMALL_MAX_BODY),
		ROUTE("GET", "/api/v1/admin/users/{id}/entitlements", entitlement_route_admin_get,
		      SMALL_MAX_BODY),
		ROUTE("GET", "/api/v1/me/entitlements", entitlement_route_mine, SMALL_MAX_BODY),
		ROUTE("POST", "/api/v1/playback/{title_id}", playback_route_start, SMALL_MAX_BODY),
		ROUTE("POST", "/api/v1/playback/{session_id}/heartbeat", playback_route_heartbeat,
		      SMALL_MAX_BODY),
		ROUTE("POST", "/api/v1/playback/{session_id}/stop", playback_route_stop,
		      SMALL_MAX_BODY),
	};
#undef ROUTE
	size_t n = sizeof(routes) / sizeof(routes[0]);

	_Static_assert(sizeof(routes) / sizeof(routes[0]) <= KINO_CATALOG_ROUTES_MAX,
		       "raise KINO_CATALOG_ROUTES_MAX");
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof(routes[0]));
	return n;
}

/* ---- time ---- */

int64_t catalog_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n digits at *p into *v and advances *p. */
static bool digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];
		if (ch < '0' || ch > '9')
			return false;
		*v = *v * 10 + (ch - '0');
	}
	*p += n;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

bool catalog_time_parse(const char *s, int64_t *ms)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0, off_min = 0;
	struct tm tm = {0};
	int64_t t;

	if (s == NULL || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return false;
	if (*p == 'T' || *p == 't') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return false;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return false;
			if (*p == '.') {
				int scale = 100, n = 0;
				p++;
				while (*p >= '0' && *p <= '9' && n < 9) {
					frac_ms += (*p - '0') * scale;
					scale /= 10;
					p++;
					n++;
				}
				if (n == 0)
					return false;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return false;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1, oh, om;
			p++;
			if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 ||
			    om > 59)
				return false;
			off_min = sign * (oh * 60 + om);
		} else {
			return false; /* a time without a zone is ambiguous */
		}
	}
	if (*p != '\0')
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm) - (int64_t)off_min * 60;
	t = t * 1000 + frac_ms;
	if (t < CATALOG_TIME_MIN || t > CATALOG_TIME_MAX)
		return false;
	*ms = t;
	return true;
}

void catalog_time_format(int64_t ms, char out[CATALOG_TIME_TEXT])
{
	time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int rem = (int)(ms - (int64_t)secs * 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(out, CATALOG_TIME_TEXT, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rem != 0)
		snprintf(out + n, CATALOG_TIME_TEXT - n, ".%03dZ", rem);
	else
		snprintf(out + n, CATALOG_TIME_TEXT - n, "Z");
}

/* ---- JSON text ---- */

void jbuf_init(jbuf_t *b)
{
	memset(b, 0, sizeof(*b));
}

void jbuf_free(jbuf_t *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static bool jbuf_reserve(jbuf_t *b, size_t more)
{
	size_t cap;
	char *d;

	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + more + 1)
		cap *= 2;
	d = realloc(b->data, cap);
	if (d == NULL) {
		b->failed = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void jbuf_puts(jbuf_t *b, const char *raw)
{
	size_t n = strlen(raw);

	if (!jbuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, raw, n + 1);
	b->len += n;
}

void jbuf_printf(jbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !jbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void jbuf_string(jbuf_t *b, const char *src)
{
	/* \u00XX is the longest escape: 6 bytes for each byte of src. */
	size_t need = strlen(src) * 6 + 3;

	if (!jbuf_reserve(b, need))
		return;
	b->data[b->len++] = '"';
	b->len += kino_http_json_escape(b->data + b->len, need - 2, src);
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

void jbuf_time(jbuf_t *b, int64_t ms, bool open_ends)
{
	char text[CATALOG_TIME_TEXT];

	if (open_ends && (ms <= CATALOG_TIME_MIN || ms >= CATALOG_TIME_MAX)) {
		jbuf_puts(b, "null");
		return;
	}
	catalog_time_format(ms, text);
	jbuf_printf(b, "\"%s\"", text);
}

void catalog_respond_jbuf(kino_http_request_t *req, int status, const jbuf_t *b)
{
	if (b->failed || b->data == NULL) {
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory building the answer");
		return;
	}
	kino_http_response_header(req, "Cache-Control", "no-store");
	kino_http_respond_json(req, status, b->data);
}

void catalog_respond_err(kino_http_request_t *req, const kino_error_t *err)
{
	if (err->code == KINO_EDB || err->code == 0)
		KINO_LOG_ERROR("%s", kino_error_message(err));
	kino_http_respond_error(req, err->code ? err->code : KINO_EIO, kino_error_message(err));
}

bool catalog_request_begin(kino_catalog_t *c, kino_http_request_t *req, kino_role_t role,
			   kino_user_t *user)
{
	kino_error_t err = {0};

	if (kino_auth_require(c->auth, req, role, user) != 0)
		return false;
	if (catalog_indexes_ensure(c, &err) != 0) {
		catalog_respond_err(req, &err);
		return false;
	}
	return true;
}

bool catalog_body_parse(kino_http_request_t *req, bson_t *doc)
{
	size_t len;
	const char *body = kino_http_request_body(req, &len);
	bson_error_t berr;
	char msg[400];
	size_t i = 0;

	/* libbson reads a top-level array as an object with keys "0", "1"...:
	 * refuse anything but an object before it gets there. */
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	if (len == 0 || body[i] != '{') {
		kino_http_respond_error(req, KINO_EPARSE,
					len == 0 ? "the body must be a JSON object: it is empty"
						 : "the body must be a JSON object");
		return false;
	}
	if (!bson_init_from_json(doc, body, (ssize_t)len, &berr)) {
		snprintf(msg, sizeof(msg), "the body must be a JSON object: %s", berr.message);
		kino_http_respond_error(req, KINO_EPARSE, msg);
		return false;
	}
	return true;
}

bool catalog_oid_parse(const char *s, bson_oid_t *oid)
{
	if (s == NULL || strlen(s) != 24 || !bson_oid_is_valid(s, 24))
		return false;
	bson_oid_init_from_string(oid, s);
	return true;
}

/* ---- asset.json ---- */

bool catalog_asset_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > CATALOG_ASSET_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* A manifest name from asset.json: a relative path inside the asset
 * directory, without "..", that can go into a URL as it is. */
static bool manifest_name_ok(const char *s)
{
	if (s[0] == '\0' || s[0] == '/' || strstr(s, "..") != NULL)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_' ||
		      *p == '/'))
			return false;
	return true;
}

static int manifest_name(const bson_t *doc, const char *key, const char *def, char *out,
			 size_t size, const char *path, kino_error_t *err)
{
	bson_iter_t it;
	const char *v = def;

	if (bson_iter_init_find(&it, doc, key)) {
		if (!BSON_ITER_HOLDS_UTF8(&it))
			return kino_error_set(err, KINO_EMEDIA, "%s: \"%s\" is not a string",
					      path, key);
		v = bson_iter_utf8(&it, NULL);
	}
	if (!manifest_name_ok(v) || strlen(v) >= size)
		return kino_error_set(err, KINO_EMEDIA, "%s: \"%s\" is not a usable file name",
				      path, key);
	snprintf(out, size, "%s", v);
	return 0;
}

int catalog_asset_read(const char *data_dir, const char *asset_id, catalog_asset_t *out,
		       kino_error_t *err)
{
	char path[4096 + 128];
	char *text = NULL;
	FILE *f = NULL;
	struct stat st;
	bson_t doc = BSON_INITIALIZER;
	bson_error_t berr;
	bson_iter_t it;
	size_t got;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!catalog_asset_id_ok(asset_id)) {
		ret = kino_error_set(err, KINO_EINVAL,
				     "asset_id: 1 to %d lower-case hex digits are required",
				     CATALOG_ASSET_ID_MAX);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/media/%s/asset.json", data_dir, asset_id);
	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		ret = kino_error_set(err, KINO_ENOENT, "asset_id: no asset %s in the media store",
				     asset_id);
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > ASSET_JSON_MAX) {
		ret = kino_error_set(err, KINO_EMEDIA, "%s: %lld bytes is not a usable size", path,
				     (long long)st.st_size);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto out;
	}
	got = fread(text, 1, (size_t)st.st_size, f);
	if (got != (size_t)st.st_size) {
		ret = kino_error_set(err, KINO_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!bson_init_from_json(&doc, text, (ssize_t)got, &berr)) {
		ret = kino_error_set(err, KINO_EMEDIA, "%s: %s", path, berr.message);
		goto out;
	}
	if (!bson_iter_init_find(&it, &doc, "duration") || !BSON_ITER_HOLDS_NUMBER(&it) ||
	    !(bson_iter_as_double(&it) > 0)) {
		ret = kino_error_set(err, KINO_EMEDIA, "%s: no positive \"duration\"", path);
		goto out;
	}
	out->duration = bson_iter_as_double(&it);
	ret = manifest_name(&doc, "hls", "master.m3u8", out->hls, sizeof(out->hls), path, err);
	if (ret == 0)
		ret = manifest_name(&doc, "dash", "manifest.mpd", out->dash, sizeof(out->dash),
				    path, err);
out:
	bson_destroy(&doc);
	free(text);
	if (f != NULL)
		fclose(f);
	return ret;
}
