/* Internals of the catalog, entitlement and playback-session modules,
 * shared by core/catalog*.c, core/entitlement*.c and core/playback_session*.c
 * only (see include/kino/catalog.h for what they do together).
 *
 *   catalog.c                 the object, the route table, clock, ISO-8601,
 *                             JSON text building, asset.json reading
 *   catalog_title.c           a title's fields: validation, BSON, JSON (pure)
 *   catalog_store.c           the `titles` collection
 *   catalog_routes.c          /api/v1/admin/titles..., /api/v1/titles...
 *   entitlement.c             the plan table and the decision (pure, public)
 *   entitlement_store.c       `subscriptions` and `grants`
 *   entitlement_routes.c      /api/v1/admin/users/{id}/..., /api/v1/me/entitlements
 *   user_admin_routes.c       /api/v1/admin/users, PATCH /api/v1/admin/users/{id}:
 *                             accounts (asked of the accounts module) with their plans
 *   playback_session.c        `playback_sessions` and `stream_slots`: leases
 *   playback_session_routes.c /api/v1/playback/... */
#ifndef KINO_CORE_CATALOG_INTERNAL_H
#define KINO_CORE_CATALOG_INTERNAL_H

#include "kino/catalog.h"
#include "kino/entitlement.h"
#include "kino/error.h"

#include <bson/bson.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kino_catalog {
	kino_db_t *db;                        /* borrowed */
	kino_auth_t *auth;                    /* borrowed */
	const kino_playback_keyring_t *keys;  /* borrowed */
	const kino_config_t *cfg;             /* borrowed */
	atomic_bool indexes_ready;
	atomic_uint_fast64_t generation;      /* title writes by this process */
};

/* Creates the indexes once per process, on the first request that needs
 * them (the database may be down when the server starts). */
int catalog_indexes_ensure(kino_catalog_t *c, kino_error_t *err);

/* ---- time ---- */

/* Unix milliseconds, wall clock. */
int64_t catalog_now_ms(void);

/* The bounds that stand for "no start" and "no end" of a window in
 * MongoDB, so that a viewer's query is two plain range conditions:
 * 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z. */
#define CATALOG_TIME_MIN ((int64_t)0)
#define CATALOG_TIME_MAX ((int64_t)253402300799999)

/* Parses "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM[:SS[.frac]]"
 * followed by "Z" or "+HH:MM"/"-HH:MM" into Unix ms, years 1970..9999.
 * False for anything else. */
bool catalog_time_parse(const char *s, int64_t *ms /* OUT */);

#define CATALOG_TIME_TEXT 32
/* "2026-01-31T12:00:00Z", with ".123" before the Z when ms are not 0. */
void catalog_time_format(int64_t ms, char out[CATALOG_TIME_TEXT]);

/* ---- JSON text, built by hand: a growing buffer ---- */

typedef struct jbuf {
	char *data;   /* NUL-terminated; owned */
	size_t len, cap;
	bool failed;  /* an allocation failed: the text is incomplete */
} jbuf_t;

void jbuf_init(jbuf_t *b);
void jbuf_free(jbuf_t *b);
void jbuf_puts(jbuf_t *b, const char *raw);
void jbuf_printf(jbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends src as a quoted, escaped JSON string. */
void jbuf_string(jbuf_t *b, const char *src);
/* A quoted ISO-8601 time, or null for ms outside (CATALOG_TIME_MIN,
 * CATALOG_TIME_MAX) when `open_ends` is set. */
void jbuf_time(jbuf_t *b, int64_t ms, bool open_ends);

/* Answers 200/201 with b's text, or 500 when it is incomplete. */
void catalog_respond_jbuf(kino_http_request_t *req, int status, const jbuf_t *b);

/* Parses the body into doc (caller destroys it on true). On false it has
 * answered 400 (malformed, empty or not an object). */
bool catalog_body_parse(kino_http_request_t *req, bson_t *doc /* OUT */);

/* What every handler does first: checks that the request's user has at
 * least `role` (kino_auth_require: it answers 401/403 itself) and that the
 * indexes exist. On false the request has been answered. */
bool catalog_request_begin(kino_catalog_t *c, kino_http_request_t *req, kino_role_t role,
			   kino_user_t *user /* OUT */);

/* Answers an error from err: its code's status, its message. */
void catalog_respond_err(kino_http_request_t *req, const kino_error_t *err);

/* ---- ids ---- */

/* A 24-hex ObjectId text (lower or upper case) into oid. */
bool catalog_oid_parse(const char *s, bson_oid_t *oid /* OUT */);

/* ---- media: what the catalog reads of <data_dir>/media/<id>/asset.json ---- */

#define CATALOG_ASSET_ID_MAX 64

typedef struct catalog_asset {
	double duration;   /* seconds */
	char hls[256];     /* manifest names, relative to the asset directory */
	char dash[256];
} catalog_asset_t;

/* True for 1..CATALOG_ASSET_ID_MAX lower-case hex digits. */
bool catalog_asset_id_ok(const char *id);

/* Reads the asset's asset.json. KINO_EINVAL for a bad id, KINO_ENOENT when
 * the directory or its asset.json is missing, KINO_EMEDIA when asset.json
 * is not what ingest writes. Blocking (disk). */
int catalog_asset_read(const char *data_dir, const char *asset_id,
		       catalog_asset_t *out /* OUT */, kino_error_t *err);

/* ---- titles (catalog_title.c): pure ---- */

#define TITLE_TEXT_MAX 200
#define TITLE_SYNOPSIS_MAX 4000
#define TITLE_GENRES_MAX 16
#define TITLE_GENRE_MAX 40
#define TITLE_CAST_MAX 64
#define TITLE_PERSON_MAX 100
#define TITLE_ARTWORK_MAX 8
#define TITLE_ARTWORK_URL_MAX 1024
#define TITLE_RATING_MAX 16
#define TITLE_YEAR_MIN 1878
#define TITLE_YEAR_MAX 2100
#define TITLE_DURATION_MAX 1e6 /* seconds: about 11 days */

typedef struct catalog_title {
	char id[25];                 /* "" until stored */
	char title[TITLE_TEXT_MAX * 4 + 1]; /* bounds count characters of UTF-8 */
	char synopsis[TITLE_SYNOPSIS_MAX * 4 + 1];
	char genres[TITLE_GENRES_MAX][TITLE_GENRE_MAX * 4 + 1];
	int ngenres;
	char cast[TITLE_CAST_MAX][TITLE_PERSON_MAX * 4 + 1];
	int ncast;
	char artwork[TITLE_ARTWORK_MAX][TITLE_ARTWORK_URL_MAX + 1];
	int nartwork;
	int year;                    /* 0: unknown */
	double duration;             /* seconds; 0: unknown */
	char maturity_rating[TITLE_RATING_MAX + 1];
	char asset_id[CATALOG_ASSET_ID_MAX + 1]; /* "": none */
	kino_tier_t tier;
	int64_t available_from;      /* ms; CATALOG_TIME_MIN: no start */
	int64_t available_until;     /* ms; CATALOG_TIME_MAX: no end */
	bool published;
	int64_t created_at, updated_at;
} catalog_title_t;

/* A new title's defaults: empty, tier free, an open window, a draft. */
void catalog_title_init(catalog_title_t *t);

/* Applies the fields of a JSON object (parsed into `json`) to t. `create`
 * requires "title" and "tier". Unknown, read-only and duplicate fields,
 * wrong types, bad values and lengths over their bounds are KINO_EINVAL
 * with a message that starts with the field's name ("year: ..."). A null
 * clears an optional field. On error t may be partly changed. */
int catalog_title_apply_json(catalog_title_t *t, const bson_t *json, bool create,
			     kino_error_t *err);

/* Reads a `titles` document. */
void catalog_title_from_bson(catalog_title_t *t, const bson_t *doc);

/* Appends every stored field except _id (and the derived search fields
 * `search` and `genres_lc`) to doc. */
void catalog_title_to_bson(const catalog_title_t *t, bson_t *doc);

/* Whether a viewer may see it at now_ms: published and inside its window. */
bool catalog_title_visible(const catalog_title_t *t, int64_t now_ms);

/* Appends t as a JSON object; `admin` adds published, created_at and
 * updated_at. */
void catalog_title_to_json(const catalog_title_t *t, jbuf_t *b, bool admin);

/* Lower-cases ASCII letters of src into dst (at most size bytes). */
void catalog_lower(char *dst, size_t size, const char *src);


/* ---- the titles collection (catalog_store.c): blocking ---- */

/* Inserts t (filling t->id, created_at and updated_at). */
int catalog_store_title_insert(kino_catalog_t *c, catalog_title_t *t, kino_error_t *err);

/* KINO_ENOENT when there is no title with this id. */
int catalog_store_title_get(kino_catalog_t *c, const char *id, catalog_title_t *out,
			    kino_error_t *err);

/* Replaces the stored fields of t->id with t's, if the stored updated_at is
 * still `seen_updated_at` (optimistic concurrency: KINO_ECONFLICT when
 * someone else changed it meanwhile). Sets t->updated_at. */
int catalog_store_title_replace(kino_catalog_t *c, catalog_title_t *t,
				int64_t seen_updated_at, kino_error_t *err);

typedef struct catalog_query {
	bool viewer;          /* only published titles inside their window at now_ms */
	int64_t now_ms;
	const char *q;        /* lower-cased free text, or NULL */
	const char *genre;    /* lower-cased genre, or NULL */
	const char *after;    /* an id: the page starts after it; or NULL */
	int limit;            /* 1..100 */
} catalog_query_t;

/* Calls fn on each title of one page, in _id order, and sets *more when
 * there are titles after the page. fn's title is valid during the call. */
int catalog_store_title_list(kino_catalog_t *c, const catalog_query_t *q,
			     void (*fn)(const catalog_title_t *t, void *ud), void *ud,
			     bool *more /* OUT */, kino_error_t *err);

/* ---- entitlement (entitlement_store.c): blocking ---- */

typedef struct entitlement_plan_row {
	kino_plan_t plan;
	int64_t until_ms; /* 0: no end */
	int64_t updated_at;
	bool stored;      /* false: the user never had a plan (free) */
} entitlement_plan_row_t;

/* KINO_ENOENT when no account has this id (reads `users`, never writes it). */
int entitlement_user_check(kino_catalog_t *c, const char *user_id, kino_error_t *err);

int entitlement_plan_set(kino_catalog_t *c, const char *user_id, kino_plan_t plan,
			 int64_t until_ms, kino_error_t *err);

/* A user's plan; free with stored=false when there is none. */
int entitlement_plan_get(kino_catalog_t *c, const char *user_id,
			 entitlement_plan_row_t *out /* OUT */, kino_error_t *err);

/* The plans of n users in one query: out[i] is user_ids[i]'s (n rows). */
int entitlement_plan_get_many(kino_catalog_t *c, const char *const *user_ids, size_t n,
			      entitlement_plan_row_t *out /* OUT */, kino_error_t *err);

typedef struct entitlement_grant {
	char id[25];
	char title_id[25];
	bool rental;
	int64_t expires_at; /* rentals: ms; purchases: 0 */
	int64_t created_at;
} entitlement_grant_t;

/* Inserts a grant for user_id (filling g->id and g->created_at). */
int entitlement_grant_add(kino_catalog_t *c, const char *user_id,
			  entitlement_grant_t *g, kino_error_t *err);

/* Calls fn on each grant of a user (of one title when title_id is not
 * NULL), newest first. */
int entitlement_grant_each(kino_catalog_t *c, const char *user_id, const char *title_id,
			   void (*fn)(const entitlement_grant_t *g, void *ud), void *ud,
			   kino_error_t *err);

/* Fills every fact but title_available and title_tier for a user and a
 * title. */
int entitlement_facts_load(kino_catalog_t *c, const char *user_id, const char *title_id,
			   kino_entitlement_facts_t *f /* OUT */, kino_error_t *err);

/* ---- playback sessions and stream slots (playback_session.c): blocking ---- */

typedef struct playback_session {
	char id[25];
	char user_id[32];
	char title_id[25];
	char asset_id[CATALOG_ASSET_ID_MAX + 1];
	char slot[64];
	int64_t created_at, lease_until;
	bool ended;
} playback_session_t;

/* Claims one of the user's max_streams stream slots and records a new
 * session for it, leased until now + lease_ttl. *granted is false (and
 * nothing is stored) when every slot is held by a live session. */
int playback_session_open(kino_catalog_t *c, const kino_user_t *user,
			  const char *title_id, const char *asset_id, int max_streams,
			  playback_session_t *out /* OUT */, bool *granted /* OUT */,
			  kino_error_t *err);

/* Why a heartbeat or a stop was refused. */
typedef enum playback_refusal {
	PLAYBACK_REFUSED_NONE = 0,
	PLAYBACK_REFUSED_UNKNOWN,  /* no such session, or another user's */
	PLAYBACK_REFUSED_ENDED,    /* stopped */
	PLAYBACK_REFUSED_LAPSED,   /* its lease ran out */
} playback_refusal_t;

/* Renews the lease of the user's session by lease_ttl. On refusal returns
 * 0 with *why set. */
int playback_session_renew(kino_catalog_t *c, const kino_user_t *user, const char *id,
			   playback_session_t *out /* OUT */, playback_refusal_t *why /* OUT */,
			   kino_error_t *err);

/* Ends the user's session and frees its slot; stopping an ended or lapsed
 * session is not an error. *why is PLAYBACK_REFUSED_UNKNOWN for an unknown
 * session. */
int playback_session_stop(kino_catalog_t *c, const kino_user_t *user, const char *id,
			  playback_refusal_t *why /* OUT */, kino_error_t *err);

/* ---- MongoDB helpers (catalog_store.c) ---- */

typedef struct _mongoc_collection_t mongoc_collection_t;

/* A collection of Kino's database through a client popped from c->db's
 * pool; caller destroys it before pushing the client back. */
mongoc_collection_t *catalog_collection(kino_catalog_t *c, mongoc_client_t *client,
					const char *name);

/* KINO_EDB with "what: <libmongoc's message>". */
int catalog_db_error(kino_catalog_t *c, kino_error_t *err, const char *what,
		     const bson_error_t *berr);

/* createIndexes for one index; `keys` is borrowed. */
int catalog_index_create(kino_catalog_t *c, const char *collection, const bson_t *keys,
			 const char *name, bool unique, kino_error_t *err);

#define CATALOG_DUPLICATE_KEY 11000

/* ---- index creation, one per store file ---- */
int catalog_store_indexes(kino_catalog_t *c, kino_error_t *err);
int entitlement_store_indexes(kino_catalog_t *c, kino_error_t *err);
int playback_session_indexes(kino_catalog_t *c, kino_error_t *err);

/* ---- route handlers, gathered into one table by catalog.c ---- */
void catalog_route_admin_create(kino_http_request_t *req, void *ud);
void catalog_route_admin_list(kino_http_request_t *req, void *ud);
void catalog_route_admin_get(kino_http_request_t *req, void *ud);
void catalog_route_admin_patch(kino_http_request_t *req, void *ud);
void catalog_route_admin_publish(kino_http_request_t *req, void *ud);
void catalog_route_admin_unpublish(kino_http_request_t *req, void *ud);
void catalog_route_list(kino_http_request_t *req, void *ud);
void catalog_route_get(kino_http_request_t *req, void *ud);
void entitlement_route_plan_put(kino_http_request_t *req, void *ud);
void entitlement_route_grant_post(kino_http_request_t *req, void *ud);
void entitlement_route_admin_get(kino_http_request_t *req, void *ud);
void entitlement_route_mine(kino_http_request_t *req, void *ud);
void user_route_admin_list(kino_http_request_t *req, void *ud);
void user_route_admin_patch(kino_http_request_t *req, void *ud);
void playback_route_start(kino_http_request_t *req, void *ud);
void playback_route_heartbeat(kino_http_request_t *req, void *ud);
void playback_route_stop(kino_http_request_t *req, void *ud);

#endif
