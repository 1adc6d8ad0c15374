/* A tiny HTTP/1.1 origin on 127.0.0.1 for the URL-source tests, with the
 * misbehaviours a worker must survive. One request per connection.
 *
 *   /clip.mp4      the clip, 200, or 206 for "Range: bytes=N-"
 *   /missing       404
 *   /stall         200 with the clip's Content-Length, 1000 bytes, then
 *                  nothing (the connection stays open)
 *   /drop.mp4      the first request gets half the clip and a closed
 *                  connection; later ones are served like /clip.mp4
 *   /norange.mp4   the clip, always 200 (Range ignored)
 *   /flaky.mp4     503 for the first request, then like /clip.mp4
 *   /redirect      302 to /clip.mp4, with a body of its own
 *   /status/NNN    that status (401, 403, 410...) with a short body
 *   anything else  404 */
#ifndef KINO_TEST_HTTP_FIXTURE_H
#define KINO_TEST_HTTP_FIXTURE_H

#include <stddef.h>

typedef struct fixture_http fixture_http_t;

/* Serves the file at clip_path (read into memory). Fails the test on error. */
fixture_http_t *fixture_http_start(const char *clip_path);
void fixture_http_stop(fixture_http_t *f);
int fixture_http_port(const fixture_http_t *f);

/* Requests seen for a path, and the last Range header sent for it ("" when
 * none). */
int fixture_http_hits(fixture_http_t *f, const char *path);
void fixture_http_last_range(fixture_http_t *f, const char *path, char *out, size_t size);

/* The clip's bytes, borrowed. */
const char *fixture_http_clip(const fixture_http_t *f, size_t *len);

#endif
