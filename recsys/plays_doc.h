/* Reading telemetry's `plays` documents, for recsys/ only: one parser for
 * the fields the recommender uses and one loop over a find, shared by
 * training (plays_source.c), the home view's trending (home_service.c) and a
 * viewer's plays at request time (home_routes.c). */
#ifndef KINO_RECSYS_PLAYS_DOC_H
#define KINO_RECSYS_PLAYS_DOC_H

#include "kino/db.h"
#include "kino/recsys.h"

#include <bson/bson.h>

#include <stdbool.h>
#include <stdint.h>

/* One play as the recommender reads it. */
typedef struct recsys_play_doc {
	char viewer[KINO_RECSYS_KEY_MAX + 1]; /* "" when absent or not a usable key */
	char title[KINO_RECSYS_KEY_MAX + 1];  /* likewise */
	kino_recsys_play_t play;              /* completion -1 when unknown */
	int64_t started_at;                   /* ms; 0 when absent */
	int64_t last_at;                      /* ms: the later of last_ts and started_at */
	int64_t updated_at;                   /* ms: when telemetry last wrote it; 0 absent */
	uint64_t key;                         /* a hash of the play's _id; 0 when absent */
} recsys_play_doc_t;

/* Reads doc into out. Keys (viewer_id, title_id) are kept only when they
 * are 1..KINO_RECSYS_KEY_MAX bytes of printable ASCII, as a model stores
 * them. */
void recsys_play_doc_read(const bson_t *doc, recsys_play_doc_t *out);

/* Called for each play of a find; returns false to stop early. */
typedef bool (*recsys_play_fn)(const recsys_play_doc_t *play, void *userdata);

/* Runs find(filter, opts) on `plays` and calls fn on each document read.
 * KINO_EDB ("<what>: <why>") when the database fails, after the calls made
 * so far. Blocking. */
int recsys_plays_each(kino_db_t *db, const bson_t *filter, const bson_t *opts,
		      recsys_play_fn fn, void *userdata, const char *what, kino_error_t *err);

/* The plays of a find that name a viewer and a title, in a growing array. */
typedef struct recsys_play_rows {
	recsys_play_doc_t *rows; /* caller frees */
	size_t n, cap;
	size_t skipped;          /* plays without a viewer or a title */
} recsys_play_rows_t;

/* Appends to rows the plays of find(filter) on `plays` (the fields above)
 * that name a viewer and a title and started at or after `since`. KINO_EDB
 * or KINO_ENOMEM ("<what>: <why>"), keeping what was read. Blocking. */
int recsys_plays_collect(kino_db_t *db, const bson_t *filter, int64_t since,
			 recsys_play_rows_t *rows, const char *what, kino_error_t *err);

#endif
