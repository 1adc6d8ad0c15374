/* The web front-ends: serves the built single-page apps of web/dist (the
 * viewer app at /, the admin console at /admin, the analyst dashboard at
 * /analytics) from the API server.
 *
 *     GET|HEAD /assets/<file>            hashed bundles, images, fonts:
 *                                        Cache-Control immutable, 1 year
 *     GET|HEAD /, /signin, /signup, /search, /account, /title/..., /watch/...
 *                                        web/dist/index.html
 *     GET|HEAD /admin, /admin/...        web/dist/admin/index.html
 *     GET|HEAD /analytics, /analytics/...  web/dist/analytics/index.html
 *
 * An app route always answers its index.html (the app routes in the
 * browser), with Cache-Control no-cache so a new build is picked up at once;
 * the bundles it names carry a content hash in their file names and never
 * change. Every answer has a strong ETag and Last-Modified with 304 answers,
 * the right Content-Type and X-Content-Type-Options: nosniff; a precompressed
 * "<file>.gz" next to a file is sent instead, with Content-Encoding: gzip,
 * to clients that accept it. Paths with an empty, "." or ".." segment, a
 * backslash or a control character are refused before the filesystem sees
 * them, and files are opened with openat2(RESOLVE_BENEATH) from a descriptor
 * of the dist directory, so no symlink leads out of it.
 *
 * The routes are explicit prefixes rather than one catch-all subtree, so an
 * unknown /api/... path still gets the API's JSON 404 and other methods
 * their 405. Add them to a server's table after the API's routes.
 *
 * Threads: the routes are inline (no database); files are opened on the
 * event loop and streamed from it. */
#ifndef KINO_WEB_H
#define KINO_WEB_H

#include "kino/http.h"

#include <stdbool.h>
#include <stddef.h>

struct kino_error;

typedef struct kino_web kino_web_t;

/* How many routes kino_web_routes() writes at most. */
#define KINO_WEB_ROUTES_MAX 12

/* Serves the apps built into dist_dir (web/dist; `cd web && npm run build`
 * makes it). The path is copied. The directory is looked up on every request,
 * so a build made while the server runs is picked up at once; while it holds
 * no index.html (never built) the app routes answer 503 web_not_built, saying
 * how to build, and a warning is logged here. The routes are thus the same
 * whether or not the apps are built. Returns NULL with err set only for an
 * empty or too long path or no memory. Free with kino_web_destroy() after
 * the servers that use its routes. */
kino_web_t *kino_web_new(const char *dist_dir, struct kino_error *err);
void kino_web_destroy(kino_web_t *web); /* NULL-safe */

/* The routes, for a server's table (userdata borrowed: web must outlive
 * the server); returns how many it wrote, at most max. */
size_t kino_web_routes(kino_web_t *web, kino_http_route_t *out, size_t max);

/* The Content-Type served for a file name ("app-3FQ2.js" ->
 * "text/javascript; charset=utf-8"). */
const char *kino_web_content_type(const char *name);

/* Does dist_dir hold built apps (an index.html)? */
bool kino_web_built(const char *dist_dir);

#endif
