/* Every viewer's recent plays, in memory, for the home screen (recsys/
 * only). A home request used to read the viewer's plays from `plays`; on a
 * real MongoDB that is an index lookup, on FerretDB a scan of the whole
 * collection (170 ms at a thousand plays). This index takes the database
 * out of the request: the home service's maintenance thread loads it once
 * (every play that started within recsys.window) and then, about every
 * second, applies the plays written since (`updated_at`, with an overlap
 * for writes still in flight), so a request only copies the viewer's plays.
 *
 * Memory: about 130 bytes a play, at most `per_viewer` plays a viewer (the
 * newest by start). Plays older than the window leave at the next full
 * load. A play's identity is its _id (hashed).
 *
 * Threads: one thread loads and refreshes; any thread may read at once. */
#ifndef KINO_RECSYS_VIEWER_PLAYS_H
#define KINO_RECSYS_VIEWER_PLAYS_H

#include "plays_doc.h"

#include "kino/db.h"
#include "kino/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct viewer_plays viewer_plays_t;

/* An empty index, not ready until the first load. NULL when out of
 * memory. */
viewer_plays_t *viewer_plays_new(size_t per_viewer);
void viewer_plays_destroy(viewer_plays_t *vp);

/* Replaces everything with the plays that started at or after `since`
 * (ms). On failure what was there stays. Blocking. */
int viewer_plays_load(viewer_plays_t *vp, kino_db_t *db, int64_t since, kino_error_t *err);

/* Applies the plays written since the last load or refresh (and started at
 * or after `since`). A no-op before the first load. Blocking. */
int viewer_plays_refresh(viewer_plays_t *vp, kino_db_t *db, int64_t since, kino_error_t *err);

/* True once loaded: then *n of the viewer's plays, newest first by start,
 * are copied to out (none: the viewer has not played). False before the
 * first load: read the database instead. */
bool viewer_plays_get(viewer_plays_t *vp, const char *viewer, recsys_play_doc_t *out,
		      size_t max, size_t *n);

/* What the index holds, for the admin status. */
typedef struct viewer_plays_stats {
	bool ready;
	size_t viewers, plays;
	int64_t loaded_at, refreshed_at; /* ms; 0: never */
	int64_t refresh_ms;              /* how long the last refresh took */
} viewer_plays_stats_t;

void viewer_plays_stats(viewer_plays_t *vp, viewer_plays_stats_t *out);

#endif
