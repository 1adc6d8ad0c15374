/* Static serving of the web front-ends: see include/kino/web.h.
 *
 * Each request takes the origin's steps (core/origin.c), minus tokens and
 * ranges: check the path's syntax, open the file beneath the dist directory
 * with openat2, then answer 304 or stream it. App routes map to a fixed
 * index.html; /assets/<file> maps to dist/assets/<file>. The validators and
 * path rules repeat the origin's on purpose: its helpers are private to it,
 * and the two differ in caching and in what a missing file means. */
#define KINO_LOG_MODULE "web"
#include "kino/web.h"

#include "kino/error.h"
#include "kino/fs.h"
#include "kino/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ASSET_CACHE "public, max-age=31536000, immutable"
#define INDEX_CACHE "no-cache"
/* The apps load everything from this origin; media, artwork and beacons may
 * come from elsewhere (a CDN, the telemetry collector's port). */
#define INDEX_CSP                                                              \
	"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " \
	"img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; " \
	"connect-src 'self' http: https: ws: wss:; worker-src 'self' blob:; "   \
	"object-src 'none'; base-uri 'self'; frame-ancestors 'none'"

/* Which file an app route answers with; its userdata. */
typedef struct web_app {
	const struct kino_web *web;
	const char *index; /* relative to the dist directory */
} web_app_t;

struct kino_web {
	char dist[4096];
	web_app_t viewer, admin, analytics;
};

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".map", "application/json"},
	{".json", "application/json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".jpg", "image/jpeg"},
	{".jpeg", "image/jpeg"},
	{".webp", "image/webp"},
	{".ico", "image/x-icon"},
	{".woff2", "font/woff2"},
	{".woff", "font/woff"},
	{".txt", "text/plain; charset=utf-8"},
	{".webmanifest", "application/manifest+json"},
};

const char *kino_web_content_type(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(slash ? slash : name, '.');

	if (dot != NULL)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

bool kino_web_built(const char *dist_dir)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/index.html", dist_dir);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

kino_web_t *kino_web_new(const char *dist_dir, kino_error_t *err)
{
	kino_web_t *w;

	if (dist_dir == NULL || dist_dir[0] == '\0' || strlen(dist_dir) >= sizeof(w->dist)) {
		kino_error_set(err, KINO_EINVAL, "web: the dist directory must be a path of 1 to %zu bytes",
			       sizeof(w->dist) - 1);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(w->dist, dist_dir, strlen(dist_dir) + 1);
	w->viewer = (web_app_t){w, "index.html"};
	w->admin = (web_app_t){w, "admin/index.html"};
	w->analytics = (web_app_t){w, "analytics/index.html"};
	if (!kino_web_built(dist_dir))
		KINO_LOG_WARN("the web apps are not built in '%s' (run `cd web && npm ci && "
			      "npm run build`): their routes answer 503 until they are",
			      dist_dir);
	return w;
}

void kino_web_destroy(kino_web_t *w)
{
	free(w);
}

/* Opens a regular file beneath the dist directory; -1 with errno set
 * (ENOENT for anything that is not a regular file). The directory is opened
 * per request, not once: a build replaces it while the server runs. */
static int open_file(const kino_web_t *w, const char *path, struct stat *st)
{
	int root = open(w->dist, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd, saved;

	if (root < 0)
		return -1;
	fd = kino_fs_open_beneath(root, path);
	saved = errno;
	close(root);
	errno = saved;
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	return fd;
}

static bool accepts_gzip(const char *accept_encoding)
{
	const char *p = accept_encoding;

	/* "gzip" as a token, not refused with q=0 (rare enough to treat any
	 * "gzip;q=0" as a refusal). */
	while (p != NULL && (p = strcasestr(p, "gzip")) != NULL) {
		const char *after = p + 4;

		if ((p == accept_encoding || p[-1] == ' ' || p[-1] == ',') &&
		    (*after == '\0' || *after == ',' || *after == ' ' || *after == ';'))
			return strncmp(after, ";q=0", 4) != 0 || after[4] == '.';
		p = after;
	}
	return false;
}

static bool etag_listed(const char *list, const char *etag)
{
	const char *p = list;
	size_t elen = strlen(etag);

	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, elen) == 0 &&
		    (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' '))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

static bool unmodified_since(const char *ims, time_t mtime)
{
	struct tm tm = {0};
	const char *end;

	if (ims == NULL)
		return false;
	end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return end != NULL && *end == '\0' && mtime <= timegm(&tm);
}

/* Answers with the file at `path` beneath the dist directory (or its .gz
 * twin), with `cache` as Cache-Control. */
static void send_file(kino_http_request_t *req, const kino_web_t *w, const char *path,
		      const char *cache, bool is_index)
{
	char gz[KINO_FS_URL_PATH_MAX + 8], etag[96], date[64];
	const char *type = kino_web_content_type(path);
	bool gzipped = false;
	struct stat st;
	struct tm tm;
	int fd = -1;

	if (accepts_gzip(kino_http_request_header(req, "accept-encoding"))) {
		snprintf(gz, sizeof(gz), "%s.gz", path);
		fd = open_file(w, gz, &st);
		gzipped = fd >= 0;
	}
	if (fd < 0)
		fd = open_file(w, path, &st);
	if (fd < 0) {
		if (errno == EXDEV || errno == ELOOP)
			kino_http_respond_error(req, KINO_EFORBIDDEN,
						"the path leads out of the web directory");
		else if (errno == ENOENT || errno == ENOTDIR)
			kino_http_respond_error(req, KINO_ENOENT, "no such file");
		else
			kino_http_respond_error(req, KINO_EIO, "the file cannot be opened");
		return;
	}
	/* The encoding is part of the tag: the two bodies differ. */
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx%s\"", (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
			 (unsigned long long)st.st_mtim.tv_nsec,
		 gzipped ? "-gz" : "");
	gmtime_r(&st.st_mtime, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	kino_http_response_header(req, "ETag", etag);
	kino_http_response_header(req, "Last-Modified", date);
	kino_http_response_header(req, "Cache-Control", cache);
	kino_http_response_header(req, "Vary", "Accept-Encoding");
	kino_http_response_header(req, "X-Content-Type-Options", "nosniff");
	if (is_index) {
		kino_http_response_header(req, "Content-Security-Policy", INDEX_CSP);
		kino_http_response_header(req, "Referrer-Policy", "same-origin");
	}
	if (gzipped)
		kino_http_response_header(req, "Content-Encoding", "gzip");

	const char *inm = kino_http_request_header(req, "if-none-match");
	/* If-None-Match wins over If-Modified-Since when both are sent. */
	if (inm != NULL ? etag_listed(inm, etag)
			: unmodified_since(kino_http_request_header(req, "if-modified-since"),
					   st.st_mtime)) {
		close(fd);
		kino_http_respond(req, 304, type, NULL, 0);
		return;
	}
	kino_http_respond_fd(req, 200, type, fd, 0, (long long)st.st_size);
}

static void serve_asset(kino_http_request_t *req, void *userdata)
{
	const kino_web_t *w = userdata;
	const char *rest = kino_http_request_param(req, "*");
	char path[KINO_FS_URL_PATH_MAX + 16];

	if (rest == NULL || !kino_fs_path_is_clean(rest)) {
		kino_http_respond_error(req, KINO_ENOENT, "no such file");
		return;
	}
	snprintf(path, sizeof(path), "assets/%s", rest);
	send_file(req, w, path, ASSET_CACHE, false);
}

static void serve_app(kino_http_request_t *req, void *userdata)
{
	const web_app_t *app = userdata;

	if (!kino_web_built(app->web->dist)) {
		kino_http_respond_error_as(req, 503, "web_not_built",
					   "the web apps are not built: run `cd web && npm ci && "
					   "npm run build`");
		return;
	}
	send_file(req, app->web, app->index, INDEX_CACHE, true);
}

size_t kino_web_routes(kino_web_t *w, kino_http_route_t *out, size_t max)
{
	/* The apps' own paths: keep in step with web/src/viewer/router.js and
	 * the admin and analytics apps. */
	static const char *const viewer_paths[] = {
		"/", "/signin", "/signup", "/search", "/account", "/title/*", "/watch/*",
	};
	size_t n = 0;

#define WEB_ROUTE(pat, fn, ud)                                                 \
	do {                                                                   \
		if (n < max)                                                   \
			out[n++] = (kino_http_route_t){.method = "GET", .pattern = (pat), \
						       .handler = (fn),        \
						       .mode = KINO_HTTP_INLINE, \
						       .userdata = (ud)};      \
	} while (0)
	WEB_ROUTE("/assets/*", serve_asset, w);
	for (size_t i = 0; i < sizeof(viewer_paths) / sizeof(viewer_paths[0]); i++)
		WEB_ROUTE(viewer_paths[i], serve_app, &w->viewer);
	WEB_ROUTE("/admin", serve_app, &w->admin);
	WEB_ROUTE("/admin/*", serve_app, &w->admin);
	WEB_ROUTE("/analytics", serve_app, &w->analytics);
	WEB_ROUTE("/analytics/*", serve_app, &w->analytics);
#undef WEB_ROUTE
	return n;
}
