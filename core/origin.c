/* The origin: see include/kino/origin.h for what it promises.
 *
 * Every request takes the same few steps, cheapest refusal first: split
 * "<token>/<path>", check the path's syntax, verify the token (one HMAC),
 * open the file beneath the store with openat2, then decide between 304,
 * 206, 416 and 200 from the request's validators and Range. The answer's
 * body is streamed by the HTTP server from the open descriptor. */
#define KINO_LOG_MODULE "origin"
#include "kino/origin.h"

#include "kino/error.h"
#include "kino/fs.h"
#include "kino/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEGMENT_CACHE "public, max-age=31536000, immutable"
#define MANIFEST_CACHE "public, max-age=5"

struct kino_origin {
	int root_fd; /* O_PATH descriptor of the media store */
	char root[4096];
	const kino_playback_keyring_t *keys;
};

static const struct {
	const char *ext;
	const char *type;
	bool manifest;
} types[] = {
	{".m3u8", "application/vnd.apple.mpegurl", true},
	{".mpd", "application/dash+xml", true},
	{".m4s", "video/iso.segment", false},
	{".mp4", "video/mp4", false},
	{".m4v", "video/mp4", false},
	{".m4a", "audio/mp4", false},
	{".vtt", "text/vtt; charset=utf-8", false},
	{".jpg", "image/jpeg", false},
	{".jpeg", "image/jpeg", false},
	{".png", "image/png", false},
	{".webp", "image/webp", false},
	{".json", "application/json", true},
	{".key", "application/octet-stream", false},
};

static int type_index(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return (int)i;
	return -1;
}

const char *kino_origin_content_type(const char *name)
{
	int i = type_index(name);

	return i >= 0 ? types[i].type : "application/octet-stream";
}

kino_origin_t *kino_origin_new(const char *media_root,
			       const kino_playback_keyring_t *keys,
			       kino_error_t *err)
{
	kino_origin_t *o = calloc(1, sizeof(*o));

	if (o == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	o->keys = keys;
	snprintf(o->root, sizeof(o->root), "%s", media_root);
	if (kino_fs_mkdir_p(media_root, 0750) != 0 ||
	    (o->root_fd = open(media_root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		kino_error_set(err, KINO_EIO, "media store '%s': %s", media_root,
			       strerror(errno));
		free(o);
		return NULL;
	}
	return o;
}

void kino_origin_destroy(kino_origin_t *o)
{
	if (o == NULL)
		return;
	close(o->root_fd);
	free(o);
}

/* Key material is never served, whatever the token: an asset's keys.json
 * (its wrapped content key, read only by the key service) and any *.key
 * file. Checked on the last segment, case-insensitively. */
static bool path_denied(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	return strcasecmp(base, "keys.json") == 0 ||
	       (n >= 4 && strcasecmp(base + n - 4, ".key") == 0);
}

static void http_date(time_t t, char *out, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static bool parse_http_date(const char *s, time_t *out)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);

	if (end == NULL || *end != '\0')
		return false;
	*out = timegm(&tm);
	return true;
}

/* Is a file last modified at mtime unchanged since the If-Modified-Since
 * date ims (which may be NULL or malformed: then it is not)? */
static bool unmodified_since(const char *ims, time_t mtime)
{
	time_t t;

	return ims != NULL && parse_http_date(ims, &t) && mtime <= t;
}

/* Does an If-None-Match list ("*", or etags separated by commas, weak or
 * strong) name etag? Weak comparison, as RFC 9110 asks for this header. */
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
		if (strncmp(p, etag, elen) == 0 && (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' '))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

/* Parses one "bytes=a-b", "bytes=a-" or "bytes=-n" against size.
 * Returns 1 with the range, 0 to serve the whole file (absent, multiple
 * ranges, or another unit), -1 when unsatisfiable. */
static int parse_range(const char *h, long long size, long long *first, long long *last)
{
	char *end;
	long long a, b;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return 0;
	h += 6;
	if (*h == '-') {
		b = strtoll(h + 1, &end, 10);
		if (end == h + 1 || *end != '\0' || b <= 0)
			return b == 0 && *end == '\0' ? -1 : 0;
		if (size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	a = strtoll(h, &end, 10);
	if (end == h || *end != '-' || a < 0)
		return 0;
	h = end + 1;
	if (*h == '\0') {
		b = size - 1;
	} else {
		b = strtoll(h, &end, 10);
		if (*end != '\0' || b < a)
			return 0;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b;
	return 1;
}

static void add_cors(kino_http_request_t *req)
{
	kino_http_response_header(req, "Access-Control-Allow-Origin", "*");
	kino_http_response_header(req, "Access-Control-Expose-Headers",
				  "Content-Length, Content-Range, ETag");
}

static void forbidden(kino_http_request_t *req, const char *why)
{
	add_cors(req);
	kino_http_respond_error(req, KINO_EFORBIDDEN, why);
}

static void serve(kino_http_request_t *req, void *userdata)
{
	kino_origin_t *o = userdata;
	const char *rest = kino_http_request_param(req, "*");
	const char *slash = rest ? strchr(rest, '/') : NULL;
	char token[KINO_PLAYBACK_TOKEN_MAX], etag[80], date[64], range[96];
	kino_error_t err = {0};
	const char *inm, *ims;
	long long first = 0, last = -1, size;
	struct stat st;
	int fd, r, ti;

	if (slash == NULL || (size_t)(slash - rest) >= sizeof(token)) {
		forbidden(req, "playback token: missing");
		return;
	}
	memcpy(token, rest, (size_t)(slash - rest));
	token[slash - rest] = '\0';
	if (!kino_fs_path_is_clean(slash + 1)) {
		forbidden(req, "the path is not allowed");
		return;
	}
	if (path_denied(slash + 1)) {
		forbidden(req, "key material is not served");
		return;
	}
	if (kino_playback_token_verify(o->keys, token, slash + 1, (int64_t)time(NULL), NULL,
				       &err) != 0) {
		forbidden(req, kino_error_message(&err));
		return;
	}
	fd = kino_fs_open_beneath(o->root_fd, slash + 1);
	if (fd < 0) {
		add_cors(req);
		if (errno == ENOENT || errno == ENOTDIR)
			kino_http_respond_error(req, KINO_ENOENT, "no such file");
		else if (errno == EXDEV || errno == ELOOP)
			kino_http_respond_error(req, KINO_EFORBIDDEN, "the path leads out of the media store");
		else
			kino_http_respond_error(req, KINO_EIO, "the file cannot be opened");
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		add_cors(req);
		kino_http_respond_error(req, KINO_ENOENT, "no such file");
		return;
	}
	size = (long long)st.st_size;
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)st.st_mtim.tv_nsec);
	http_date(st.st_mtime, date, sizeof(date));
	ti = type_index(slash + 1);
	add_cors(req);
	kino_http_response_header(req, "ETag", etag);
	kino_http_response_header(req, "Last-Modified", date);
	kino_http_response_header(req, "Accept-Ranges", "bytes");
	kino_http_response_header(req, "Cache-Control",
				  ti >= 0 && types[ti].manifest ? MANIFEST_CACHE : SEGMENT_CACHE);

	inm = kino_http_request_header(req, "if-none-match");
	ims = kino_http_request_header(req, "if-modified-since");
	/* If-None-Match wins over If-Modified-Since when both are sent. */
	if (inm != NULL ? etag_listed(inm, etag) : unmodified_since(ims, st.st_mtime)) {
		close(fd);
		kino_http_respond(req, 304, kino_origin_content_type(slash + 1), NULL, 0);
		return;
	}

	r = parse_range(kino_http_request_header(req, "range"), size, &first, &last);
	/* If-Range: a range only while the client's copy is still current. */
	const char *if_range = kino_http_request_header(req, "if-range");
	if (r != 0 && if_range != NULL && strcmp(if_range, etag) != 0)
		r = 0;
	if (r < 0) {
		close(fd);
		snprintf(range, sizeof(range), "bytes */%lld", size);
		kino_http_response_header(req, "Content-Range", range);
		kino_http_respond_error_as(req, 416, "range_not_satisfiable",
					   "the range lies beyond the end of the file");
		return;
	}
	if (r > 0) {
		snprintf(range, sizeof(range), "bytes %lld-%lld/%lld", first, last, size);
		kino_http_response_header(req, "Content-Range", range);
		kino_http_respond_fd(req, 206, kino_origin_content_type(slash + 1), fd, first,
				     last - first + 1);
		return;
	}
	kino_http_respond_fd(req, 200, kino_origin_content_type(slash + 1), fd, 0, size);
}

static void preflight(kino_http_request_t *req, void *userdata)
{
	(void)userdata;
	kino_http_response_header(req, "Access-Control-Allow-Origin", "*");
	kino_http_response_header(req, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
	kino_http_response_header(req, "Access-Control-Allow-Headers",
				  "Range, If-None-Match, If-Modified-Since, If-Range");
	kino_http_response_header(req, "Access-Control-Max-Age", "86400");
	kino_http_respond(req, 204, "text/plain", NULL, 0);
}

size_t kino_origin_routes(kino_origin_t *o, kino_http_route_t *out, size_t max)
{
	const kino_http_route_t routes[] = {
		{.method = "GET", .pattern = "/media/*", .handler = serve,
		 .mode = KINO_HTTP_INLINE, .userdata = o},
		{.method = "OPTIONS", .pattern = "/media/*", .handler = preflight,
		 .mode = KINO_HTTP_INLINE, .userdata = o},
	};
	size_t n = sizeof(routes) / sizeof(routes[0]);

	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof(routes[0]));
	return n;
}
