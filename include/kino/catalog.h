/* The catalog, entitlement and playback sessions behind Kino's API.
 *
 * One object serves three groups of routes (docs/catalog.md has them all,
 * with examples):
 *
 *   titles       admins create, edit, publish and unpublish titles
 *                (/api/v1/admin/titles...); signed-in viewers browse the
 *                published ones inside their availability window
 *                (/api/v1/titles...)
 *   entitlement  admins set a viewer's plan and grant purchases and
 *                rentals (/api/v1/admin/users/{id}/plan, .../grants)
 *   playback     POST /api/v1/playback/{title_id} checks entitlement and
 *                the concurrent-stream limit, opens a playback session
 *                with a lease and answers signed HLS and DASH URLs;
 *                .../{session_id}/heartbeat renews the lease, .../stop ends it
 *
 * MongoDB collections: titles, subscriptions, grants, playback_sessions,
 * stream_slots; only features that FerretDB v1.24 supports are used.
 *
 * Threads: every route is KINO_HTTP_BLOCKING (they all touch the database
 * or the disk); a kino_catalog_t may be shared by all worker threads. */
#ifndef KINO_CATALOG_H
#define KINO_CATALOG_H

#include "kino/auth.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/http.h"
#include "kino/playback.h"

#include <stddef.h>

struct kino_error;

typedef struct kino_catalog kino_catalog_t;

/* The most routes kino_catalog_routes() writes. */
#define KINO_CATALOG_ROUTES_MAX 24

/* db, auth, keys and cfg are borrowed and must outlive the result (and
 * every server that uses its routes). Does not touch the database: indexes
 * are created on first use. Returns NULL with err set when out of memory
 * or when an argument is NULL. Free with kino_catalog_destroy(). */
kino_catalog_t *kino_catalog_new(kino_db_t *db, kino_auth_t *auth,
				 const kino_playback_keyring_t *keys,
				 const kino_config_t *cfg, struct kino_error *err);

/* NULL-safe. Stop the servers that use its routes first. */
void kino_catalog_destroy(kino_catalog_t *c);

/* Creates the indexes of the catalog's collections. Idempotent. Blocking. */
int kino_catalog_ensure_indexes(kino_catalog_t *c, struct kino_error *err);

/* Writes at most `max` routes (all of them when max is at least
 * KINO_CATALOG_ROUTES_MAX) into out and returns how many it wrote. The
 * routes borrow c. */
size_t kino_catalog_routes(kino_catalog_t *c, kino_http_route_t *out, size_t max);

/* The playback sessions live now (not stopped, lease not lapsed): the
 * active streams of /metrics. Blocking. */
int kino_catalog_active_streams(kino_catalog_t *c, long long *out /* OUT */,
				struct kino_error *err);

#endif
