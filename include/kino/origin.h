/* The origin: serves manifests, segments and the other files of published
 * assets from the media store to players and CDNs, behind playback tokens.
 *
 *     GET|HEAD /media/<token>/<asset_id>/<file...>
 *     OPTIONS  /media/...               (CORS preflight)
 *
 * What a player or CDN gets: the right Content-Type; Range requests (one
 * range; 206, or 416 when unsatisfiable); strong ETags and Last-Modified with
 * 304 answers; CORS for web players; long-lived immutable caching for
 * segments and short caching for manifests. 403 for a missing, malformed,
 * tampered or expired token and for any path outside the token's prefix;
 * a path is refused before the filesystem sees it when it has an empty,
 * "." or ".." segment, a backslash or a control character, and it is
 * opened with openat2(RESOLVE_BENEATH) so that no symlink leads out of the
 * store.
 *
 * Threads: the routes are inline (they never touch the database); files
 * are opened on the event loop and streamed from it. */
#ifndef KINO_ORIGIN_H
#define KINO_ORIGIN_H

#include "kino/http.h"
#include "kino/playback.h"

#include <stddef.h>

struct kino_error;

typedef struct kino_origin kino_origin_t;

/* Serves files under media_root (created if missing). keys is borrowed and
 * must outlive the origin. Free with kino_origin_destroy(). */
kino_origin_t *kino_origin_new(const char *media_root,
			       const kino_playback_keyring_t *keys,
			       struct kino_error *err);
void kino_origin_destroy(kino_origin_t *origin);

/* The origin's routes, for a server's table; returns how many it wrote. */
size_t kino_origin_routes(kino_origin_t *origin, kino_http_route_t *out,
			  size_t max);

/* The Content-Type Kino serves for a file name ("x.m3u8" ->
 * "application/vnd.apple.mpegurl"). */
const char *kino_origin_content_type(const char *name);

#endif
