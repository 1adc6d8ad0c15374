/* The origin over a real socket: content types and cache lifetimes, Range
 * (206, 416, suffixes, multiple ranges), ETag/Last-Modified with 304 and
 * If-Range, HEAD, CORS, every way a token can be wrong, and path traversal
 * by any spelling, including symlinks that lead out of the store. */
#include "check.h"
#include "testenv.h"

#include "kino/error.h"
#include "kino/http.h"
#include "kino/origin.h"
#include "kino/playback.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ASSET "a1b2c3d4e5f60718"
#define OTHER "ffeeddccbbaa9988"
#define SEG_SIZE 3000000
#define SECRET "TOP-SECRET-OUTSIDE-THE-STORE"

static char dir[512], base[128], tok[KINO_PLAYBACK_TOKEN_MAX];
static unsigned char *segment;
static kino_playback_keyring_t *keys;

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK_MSG(f != NULL, "cannot write %s", path);
	CHECK(fwrite(data, 1, len, f) == len);
	fclose(f);
}

static void make_store(void)
{
	char p[800];

	snprintf(p, sizeof(p), "%s/media/" ASSET "/720p", dir);
	CHECK(mkdir(p, 0755) == 0 || 1);
	snprintf(p, sizeof(p), "mkdir -p %s/media/" ASSET "/720p %s/media/" OTHER, dir, dir);
	CHECK(system(p) == 0);
	snprintf(p, sizeof(p), "%s/media/" ASSET "/master.m3u8", dir);
	write_file(p, "#EXTM3U\n", 8);
	snprintf(p, sizeof(p), "%s/media/" ASSET "/manifest.mpd", dir);
	write_file(p, "<MPD/>", 6);
	snprintf(p, sizeof(p), "%s/media/" ASSET "/en.vtt", dir);
	write_file(p, "WEBVTT\n", 7);
	segment = malloc(SEG_SIZE);
	for (size_t i = 0; i < SEG_SIZE; i++)
		segment[i] = (unsigned char)((i * 2654435761u) >> 13);
	snprintf(p, sizeof(p), "%s/media/" ASSET "/720p/seg_00001.m4s", dir);
	write_file(p, segment, SEG_SIZE);
	snprintf(p, sizeof(p), "%s/media/" OTHER "/master.m3u8", dir);
	write_file(p, "#EXTM3U other\n", 14);
	snprintf(p, sizeof(p), "%s/secret.txt", dir);
	write_file(p, SECRET, strlen(SECRET));
	/* Symlinks inside the asset that lead out of the store. */
	char target[800];
	snprintf(p, sizeof(p), "%s/media/" ASSET "/escape.m4s", dir);
	CHECK(symlink("../../secret.txt", p) == 0);
	snprintf(p, sizeof(p), "%s/media/" ASSET "/abs.m4s", dir);
	snprintf(target, sizeof(target), "%s/secret.txt", dir);
	CHECK(symlink(target, p) == 0);
	snprintf(p, sizeof(p), "%s/media/" ASSET "/dirlink", dir);
	CHECK(symlink("/etc", p) == 0);
}

static void get(const char *method, const char *path, const char *const *headers,
		tenv_response_t *r)
{
	char url[2048];

	snprintf(url, sizeof(url), "%s%s", base, path);
	tenv_http_full(method, url, headers, NULL, r);
}

static void media(char *out, size_t size, const char *rest)
{
	snprintf(out, size, "/media/%s/%s", tok, rest);
}

static void expect_header(const tenv_response_t *r, const char *name, const char *want)
{
	char buf[512];
	const char *got = tenv_response_header(r, name, buf, sizeof(buf));

	CHECK_MSG(got != NULL && strcmp(got, want) == 0, "%s: '%s', not '%s'\n%s", name,
		  got ? got : "(absent)", want, r->headers);
}

static void test_types_and_caching(void)
{
	tenv_response_t r;
	char p[1024];

	media(p, sizeof(p), ASSET "/master.m3u8");
	get("GET", p, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_STR_EQ(r.body, "#EXTM3U\n");
	expect_header(&r, "content-type", "application/vnd.apple.mpegurl");
	expect_header(&r, "cache-control", "public, max-age=5");
	expect_header(&r, "access-control-allow-origin", "*");
	expect_header(&r, "accept-ranges", "bytes");
	tenv_response_free(&r);

	media(p, sizeof(p), ASSET "/manifest.mpd");
	get("GET", p, NULL, &r);
	expect_header(&r, "content-type", "application/dash+xml");
	tenv_response_free(&r);
	media(p, sizeof(p), ASSET "/en.vtt");
	get("GET", p, NULL, &r);
	expect_header(&r, "content-type", "text/vtt; charset=utf-8");
	tenv_response_free(&r);

	media(p, sizeof(p), ASSET "/720p/seg_00001.m4s");
	get("GET", p, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(r.body_len, SEG_SIZE);
	CHECK(memcmp(r.body, segment, SEG_SIZE) == 0);
	expect_header(&r, "content-type", "video/iso.segment");
	expect_header(&r, "cache-control", "public, max-age=31536000, immutable");
	tenv_response_free(&r);

	get("HEAD", p, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(r.body_len, 0);
	expect_header(&r, "content-length", "3000000");
	tenv_response_free(&r);

	get("OPTIONS", p, (const char *[]){"Origin: https://player.example", "Access-Control-Request-Method: GET", NULL}, &r);
	CHECK_INT_EQ(r.status, 204);
	expect_header(&r, "access-control-allow-origin", "*");
	expect_header(&r, "access-control-allow-methods", "GET, HEAD, OPTIONS");
	tenv_response_free(&r);
}

static void test_ranges(void)
{
	tenv_response_t r;
	char p[1024];

	media(p, sizeof(p), ASSET "/720p/seg_00001.m4s");
	get("GET", p, (const char *[]){"Range: bytes=0-99", NULL}, &r);
	CHECK_INT_EQ(r.status, 206);
	CHECK_INT_EQ(r.body_len, 100);
	CHECK(memcmp(r.body, segment, 100) == 0);
	expect_header(&r, "content-range", "bytes 0-99/3000000");
	expect_header(&r, "content-length", "100");
	tenv_response_free(&r);

	get("GET", p, (const char *[]){"Range: bytes=2999990-", NULL}, &r);
	CHECK_INT_EQ(r.status, 206);
	CHECK_INT_EQ(r.body_len, 10);
	CHECK(memcmp(r.body, segment + 2999990, 10) == 0);
	tenv_response_free(&r);

	get("GET", p, (const char *[]){"Range: bytes=-10", NULL}, &r);
	CHECK_INT_EQ(r.status, 206);
	expect_header(&r, "content-range", "bytes 2999990-2999999/3000000");
	tenv_response_free(&r);

	get("GET", p, (const char *[]){"Range: bytes=1000000-1999999", NULL}, &r);
	CHECK_INT_EQ(r.status, 206);
	CHECK_INT_EQ(r.body_len, 1000000);
	CHECK(memcmp(r.body, segment + 1000000, 1000000) == 0);
	tenv_response_free(&r);

	get("GET", p, (const char *[]){"Range: bytes=3000000-", NULL}, &r);
	CHECK_INT_EQ(r.status, 416);
	expect_header(&r, "content-range", "bytes */3000000");
	tenv_response_free(&r);

	/* Several ranges, or another unit: the whole file, as RFC 9110 allows. */
	get("GET", p, (const char *[]){"Range: bytes=0-1,5-6", NULL}, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(r.body_len, SEG_SIZE);
	tenv_response_free(&r);
	get("GET", p, (const char *[]){"Range: items=0-1", NULL}, &r);
	CHECK_INT_EQ(r.status, 200);
	tenv_response_free(&r);
}

static void test_validators(void)
{
	tenv_response_t r;
	char p[1024], etag[128], lm[128], h1[256], h2[256];

	media(p, sizeof(p), ASSET "/720p/seg_00001.m4s");
	get("HEAD", p, NULL, &r);
	CHECK(tenv_response_header(&r, "etag", etag, sizeof(etag)) != NULL);
	CHECK(etag[0] == '"');
	CHECK(tenv_response_header(&r, "last-modified", lm, sizeof(lm)) != NULL);
	tenv_response_free(&r);

	snprintf(h1, sizeof(h1), "If-None-Match: %s", etag);
	get("GET", p, (const char *[]){h1, NULL}, &r);
	CHECK_INT_EQ(r.status, 304);
	CHECK_INT_EQ(r.body_len, 0);
	tenv_response_free(&r);
	get("GET", p, (const char *[]){"If-None-Match: \"other\", W/\"x\"", NULL}, &r);
	CHECK_INT_EQ(r.status, 200);
	tenv_response_free(&r);
	snprintf(h1, sizeof(h1), "If-Modified-Since: %s", lm);
	get("GET", p, (const char *[]){h1, NULL}, &r);
	CHECK_INT_EQ(r.status, 304);
	tenv_response_free(&r);
	get("GET", p, (const char *[]){"If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT", NULL}, &r);
	CHECK_INT_EQ(r.status, 200);
	tenv_response_free(&r);
	/* If-Range: the range only while the client's copy is current. */
	snprintf(h2, sizeof(h2), "If-Range: %s", etag);
	get("GET", p, (const char *[]){"Range: bytes=0-9", h2, NULL}, &r);
	CHECK_INT_EQ(r.status, 206);
	tenv_response_free(&r);
	get("GET", p, (const char *[]){"Range: bytes=0-9", "If-Range: \"stale\"", NULL}, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(r.body_len, SEG_SIZE);
	tenv_response_free(&r);
}

static void expect_refused(const char *path, int want)
{
	tenv_response_t r;

	get("GET", path, NULL, &r);
	CHECK_MSG(r.status == want, "%s: %d, not %d: %s", path, r.status, want, r.body);
	CHECK_MSG(strstr(r.body, SECRET) == NULL && strstr(r.body, "root:") == NULL,
		  "%s leaked a file outside the store", path);
	if (want != 404)
		CHECK_CONTAINS(r.body, "\"error\":{\"code\":");
	tenv_response_free(&r);
}

static void test_tokens(void)
{
	char p[1024], t[KINO_PLAYBACK_TOKEN_MAX];
	kino_error_t err = {0};

	expect_refused("/media/" ASSET "/master.m3u8", 403);          /* no token */
	expect_refused("/media/garbage/" ASSET "/master.m3u8", 403);
	snprintf(t, sizeof(t), "%s", tok);
	t[strlen(t) - 5] ^= 1;                                         /* tampered */
	snprintf(p, sizeof(p), "/media/%s/" ASSET "/master.m3u8", t);
	expect_refused(p, 403);
	CHECK_INT_EQ(kino_playback_token_sign(keys, ASSET "/", "abcd", time(NULL) - 5, t, sizeof(t), &err), 0);
	snprintf(p, sizeof(p), "/media/%s/" ASSET "/master.m3u8", t);  /* expired */
	expect_refused(p, 403);
	media(p, sizeof(p), OTHER "/master.m3u8");                     /* another asset */
	expect_refused(p, 403);
	kino_playback_keyring_t *other = kino_playback_keyring_new("k9:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8", &err);
	CHECK(other != NULL);
	CHECK_INT_EQ(kino_playback_token_sign(other, ASSET "/", "abcd", time(NULL) + 60, t, sizeof(t), &err), 0);
	snprintf(p, sizeof(p), "/media/%s/" ASSET "/master.m3u8", t);  /* unknown key */
	expect_refused(p, 403);
	kino_playback_keyring_destroy(other);
	media(p, sizeof(p), ASSET "/missing.m4s");
	expect_refused(p, 404);
	media(p, sizeof(p), ASSET "/720p");                            /* a directory */
	expect_refused(p, 404);
}

/* Key material in the store (a protected asset's keys.json, any *.key) is
 * refused even with a valid token for its asset. */
static void test_key_material_refused(void)
{
	static const char *names[] = {"keys.json", "KEYS.JSON", "content.key", "720p/x.KEY"};
	char p[1024];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tenv_response_t r;
		snprintf(p, sizeof(p), "%s/media/" ASSET "/%s", dir, names[i]);
		write_file(p, "KEY-MATERIAL", 12);
		media(p, sizeof(p), ASSET "/");
		strncat(p, names[i], sizeof(p) - strlen(p) - 1);
		get("GET", p, NULL, &r);
		CHECK_MSG(r.status == 403, "%s: %d", names[i], r.status);
		CHECK(strstr(r.body, "KEY-MATERIAL") == NULL);
		tenv_response_free(&r);
		get("HEAD", p, NULL, &r);
		CHECK_MSG(r.status == 403, "HEAD %s: %d", names[i], r.status);
		tenv_response_free(&r);
	}
}

static void test_traversal(void)
{
	const char *attempts[] = {
		ASSET "/../" OTHER "/master.m3u8",
		ASSET "/%2e%2e/" OTHER "/master.m3u8",
		ASSET "/%2E%2E%2F" OTHER "/master.m3u8",
		ASSET "/..%2f..%2fsecret.txt",
		ASSET "/%2e%2e/%2e%2e/secret.txt",
		ASSET "/%252e%252e/%252e%252e/secret.txt",
		ASSET "//etc/passwd",
		ASSET "/..\\..\\secret.txt",
		ASSET "/%5c..%5c..%5csecret.txt",
		ASSET "/master.m3u8%00.m4s",
		ASSET "/escape.m4s",
		ASSET "/abs.m4s",
		ASSET "/dirlink/passwd",
	};
	char p[1024];
	tenv_response_t r;

	for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		media(p, sizeof(p), attempts[i]);
		get("GET", p, NULL, &r);
		/* 0: libwebsockets' own parser drops the connection (it does
		 * so for an encoded NUL); that serves nothing either. */
		CHECK_MSG(r.status == 0 || r.status == 400 || r.status == 403 || r.status == 404,
			  "%s answered %d", attempts[i], r.status);
		CHECK_MSG(strstr(r.body, SECRET) == NULL && strstr(r.body, "root:") == NULL &&
				  strstr(r.body, "#EXTM3U other") == NULL,
			  "%s leaked: %s", attempts[i], r.body);
		tenv_response_free(&r);
	}
	/* "/./" folds to a file inside the token's own prefix: serving it is
	 * right, as long as it is that file. */
	media(p, sizeof(p), ASSET "/./master.m3u8");
	get("GET", p, NULL, &r);
	CHECK(r.status == 200 || r.status == 403);
	if (r.status == 200)
		CHECK_STR_EQ(r.body, "#EXTM3U\n");
	tenv_response_free(&r);

	/* The symlinks that lead out are refused as such. */
	media(p, sizeof(p), ASSET "/escape.m4s");
	expect_refused(p, 403);
	media(p, sizeof(p), ASSET "/abs.m4s");
	expect_refused(p, 403);
}

static void *download(void *arg)
{
	char p[1024];
	tenv_response_t r;
	int *ok = arg;

	media(p, sizeof(p), ASSET "/720p/seg_00001.m4s");
	for (int i = 0; i < 5; i++) {
		get("GET", p, NULL, &r);
		if (r.status == 200 && r.body_len == SEG_SIZE && memcmp(r.body, segment, SEG_SIZE) == 0)
			(*ok)++;
		tenv_response_free(&r);
	}
	return NULL;
}

static void test_parallel_downloads(void)
{
	pthread_t t[6];
	int ok[6] = {0};

	for (int i = 0; i < 6; i++)
		pthread_create(&t[i], NULL, download, &ok[i]);
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT_EQ(ok[i], 5);
	}
}

int main(void)
{
	kino_http_config_t cfg = {.host = "127.0.0.1", .port = 0, .max_body = 4096, .workers = 1};
	kino_http_route_t routes[4];
	kino_error_t err = {0};
	char media_root[700];
	kino_origin_t *origin;
	kino_http_server_t *srv;
	size_t n;

	tenv_tmpdir(dir, sizeof(dir), "origin");
	make_store();
	keys = kino_playback_keyring_new("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", &err);
	CHECK(keys != NULL);
	CHECK_INT_EQ(kino_playback_token_sign(keys, ASSET "/", "0a1b2c", time(NULL) + 600, tok, sizeof(tok), &err), 0);
	snprintf(media_root, sizeof(media_root), "%s/media", dir);
	origin = kino_origin_new(media_root, keys, &err);
	CHECK_MSG(origin != NULL, "%s", err.message);
	n = kino_origin_routes(origin, routes, 4);
	kino_http_global_init();
	srv = kino_http_server_new(&cfg, "origin-test", routes, n, &err);
	CHECK(srv != NULL);
	CHECK_INT_EQ(kino_http_server_start(srv, &err), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", kino_http_server_port(srv));

	RUN_TEST(test_types_and_caching);
	RUN_TEST(test_ranges);
	RUN_TEST(test_validators);
	RUN_TEST(test_tokens);
	RUN_TEST(test_traversal);
	RUN_TEST(test_key_material_refused);
	RUN_TEST(test_parallel_downloads);

	kino_http_server_destroy(srv);
	kino_origin_destroy(origin);
	kino_playback_keyring_destroy(keys);
	free(segment);
	tenv_rmtree(dir);
	return 0;
}
