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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- the visible catalog at once ------------------------------------------
 *
 * For whatever ranks the whole catalog (the home screen): every published
 * title whose window has not ended, read in one query, with each title's
 * viewer JSON rendered once. Titles whose window starts later are included
 * so that a cached snapshot shows them on time: callers check
 * kino_catalog_entry_visible() when they use one. Immutable once made; any
 * thread may read it. */

typedef struct kino_catalog_entry {
	const char *id;             /* 24 hex digits */
	const char *name;
	const char *const *genres;
	size_t ngenres;
	int64_t released_at;        /* ms: the window's start, else the creation time */
	int64_t available_from, available_until; /* ms */
	const char *json;           /* as GET /api/v1/titles/{id} answers it */
	size_t json_len;
} kino_catalog_entry_t;

typedef struct kino_catalog_snapshot kino_catalog_snapshot_t;

/* Reads the snapshot at now_ms (titles in _id order). Blocking. */
int kino_catalog_snapshot_new(kino_catalog_t *c, int64_t now_ms,
			      kino_catalog_snapshot_t **out /* OUT */,
			      struct kino_error *err);
void kino_catalog_snapshot_destroy(kino_catalog_snapshot_t *s);
size_t kino_catalog_snapshot_count(const kino_catalog_snapshot_t *s);
/* The entries, count of them (borrowed while the snapshot lives). */
const kino_catalog_entry_t *kino_catalog_snapshot_entries(const kino_catalog_snapshot_t *s);
/* A number that changes whenever this process writes a title: a snapshot
 * made before a change is stale. Titles written by other processes are
 * not seen here; refresh on a timer too. Any thread. */
uint64_t kino_catalog_generation(kino_catalog_t *c);

/* Whether a viewer may see the entry at now_ms. */
bool kino_catalog_entry_visible(const kino_catalog_entry_t *e, int64_t now_ms);

#endif
