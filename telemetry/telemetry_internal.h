/* The telemetry module's private pieces, shared by its files only:
 *
 *   beacon_schema.c   JSON (v1) and CMCD -> a validated beacon_t, and the
 *                     beacon_t <-> `beacons` document conversions
 *   beacon_cmcd.c     CMCD (CTA-5004) query-string and JSON forms -> beacon_t
 *   beacon_json.c     a message's JSON text -> BSON (plain JSON, no extended)
 *   play_session.c    the sessionizer: folds beacons into play metrics
 *   collector.c       submit, binding, the writer threads
 *   bind_table.c      the bounded table of bound sessions
 *   rate_limit.c      flood protection: a token bucket per client address
 *   spool.c           the fsync'd append-only spool
 *   telemetry_store.c everything that speaks libmongoc for the collector
 *   report.c, report_routes.c   analysts' reports
 *   telemetry_server.c          POST /v1/beacons, the WebSocket, the role
 *
 * Times are Unix milliseconds; "absent" numbers are -1. */
#ifndef KINO_TELEMETRY_INTERNAL_H
#define KINO_TELEMETRY_INTERNAL_H

#include "kino/error.h"
#include "kino/telemetry.h"

#include <bson/bson.h>

#include <pthread.h>

#include <stdbool.h>
#include <stdint.h>

#define BEACON_SCHEMA_VERSION 1
#define BEACON_ID_MAX 64      /* session_id */
#define BEACON_NAME_MAX 127   /* title_id, asset_id */
#define BEACON_SHORT_MAX 63   /* device, player name, codes */
#define SPOOL_SEGMENT_BYTES (4 << 20)
#define DUPLICATE_KEY 11000

typedef enum beacon_event {
	EV_SESSION_START = 0,
	EV_PLAYING,
	EV_HEARTBEAT,
	EV_RENDITION_CHANGE,
	EV_REBUFFER_START,
	EV_REBUFFER_END,
	EV_SEEK,
	EV_PAUSE,
	EV_RESUME,
	EV_ERROR,
	EV_ENDED,
	EV_SESSION_END,
	EV_COUNT
} beacon_event_t;

typedef struct beacon {
	char session_id[BEACON_ID_MAX + 1];
	long long seq;
	int64_t ts;
	beacon_event_t event;
	/* session_start (or, on other events, copied from the binding) */
	char title_id[BEACON_NAME_MAX + 1];
	char asset_id[BEACON_NAME_MAX + 1];
	char device[BEACON_SHORT_MAX + 1];
	char player_name[BEACON_SHORT_MAX + 1];
	char player_version[BEACON_SHORT_MAX + 1];
	char viewer_id[BEACON_ID_MAX + 1];
	char token[KINO_PLAYBACK_TOKEN_MAX];
	int64_t duration_ms;
	/* measurements */
	int64_t playhead_ms, from_ms, bitrate, buffer_ms, dropped_frames;
	int64_t width, height, player_width, player_height, startup_ms;
	/* error */
	char code[BEACON_SHORT_MAX + 1];
	bool fatal;
	bool rebuffered;  /* CMCD bs: a stall happened since the last report */
	bool cmcd;        /* came in as CMCD */
	bson_t cmcd_keys; /* the CMCD keys as sent (when cmcd) */
} beacon_t;

/* Session ids are copied between beacon_t, items and results whole. */
_Static_assert(sizeof(((kino_beacon_result_t *)0)->session_id) == BEACON_ID_MAX + 1,
	       "a result's session_id holds a beacon's");

void beacon_init(beacon_t *b);
void beacon_cleanup(beacon_t *b);
const char *beacon_event_name(beacon_event_t ev);
bool beacon_event_parse(const char *s, beacon_event_t *out);

/* Checks a v1 JSON beacon (a BSON document read from JSON) at time now.
 * On error returns KINO_EINVAL and fills res->field/message. b must be
 * beacon_init()ed. */
int beacon_from_json(const bson_t *obj, const kino_telemetry_limits_t *lim,
		     int64_t now_ms, beacon_t *b, kino_beacon_result_t *res);

/* Checks a CMCD beacon: its keys as a BSON document (from JSON, or from
 * the query-string form by cmcd_parse_text). seq_fallback numbers a beacon
 * that carries no `sn`. */
int beacon_from_cmcd(const bson_t *obj, const kino_telemetry_limits_t *lim,
		     int64_t now_ms, long long seq_fallback, beacon_t *b,
		     kino_beacon_result_t *res);

/* Fills res->session_id/seq from b and checks the session id's characters
 * and ts against the limits' window (field "session_id" or "ts"). */
int beacon_check_identity(beacon_t *b, const kino_telemetry_limits_t *lim,
			  int64_t now_ms, kino_beacon_result_t *res);

/* Parses one CMCD payload in its text form ("br=3200,sid=\"x\",su") into
 * doc (initialised by the caller). KINO_EPARSE naming the key otherwise. */
int cmcd_parse_text(const char *text, size_t len, bson_t *doc,
		    kino_beacon_result_t *res);

/* Reads a message, a JSON object or array, into out (initialised by the
 * caller): the object's fields, or the array's elements under "0", "1",
 * ... with *is_array set. KINO_EPARSE with a message in err otherwise
 * (out then holds what was read before the error, for bson_destroy). */
int beacon_json_parse(const char *text, size_t len, bson_t *out, bool *is_array,
		      char *err, size_t errsize);

/* The `beacons` document for b (doc initialised by the caller). */
void beacon_to_doc(const beacon_t *b, int64_t received_ms, bson_t *doc);
/* Reads a `beacons` document back (for folding). false when it lacks the
 * identity fields. */
bool beacon_from_doc(const bson_t *doc, beacon_t *b);

/* ---- the sessionizer ---- */

typedef enum play_phase {
	PHASE_NONE = 0,  /* no session_start folded yet */
	PHASE_STARTING,  /* asked to play, no frame yet */
	PHASE_PLAYING,
	PHASE_PAUSED,
	PHASE_REBUFFERING,
	PHASE_SEEKING,
	PHASE_ENDED,
} play_phase_t;

typedef struct play_state {
	char session_id[BEACON_ID_MAX + 1];
	char title_id[BEACON_NAME_MAX + 1];
	char asset_id[BEACON_NAME_MAX + 1];
	char device[BEACON_SHORT_MAX + 1];
	char player_name[BEACON_SHORT_MAX + 1];
	char player_version[BEACON_SHORT_MAX + 1];
	char viewer_id[BEACON_ID_MAX + 1];
	play_phase_t phase;
	play_phase_t before_stall; /* the phase a rebuffer or seek returns to */
	bool has_start;
	int64_t start_ts, last_ts;
	long long last_seq;
	int64_t beacons;
	bool played;
	int64_t startup_ms;   /* -1 until the first frame */
	int64_t starting_ms, playing_ms, paused_ms, rebuffer_ms, seeking_ms;
	int rebuffer_count, switches, seeks, errors;
	bool failed, startup_failed, ended;
	char failure_code[BEACON_SHORT_MAX + 1];
	int64_t bitrate, width, height, player_width, player_height;
	double bitrate_time;  /* sum of bitrate x playing ms */
	int64_t bitrate_ms;   /* playing ms with a known bitrate */
	double upscale_time;  /* sum of upscale % x playing ms */
	int64_t size_ms;      /* playing ms with known player and video sizes */
	double max_upscale_pct;
	int64_t furthest_ms, duration_ms, dropped_frames;
	int64_t last_minute;  /* last minute counted for concurrency */
} play_state_t;

void play_state_init(play_state_t *p, const char *session_id);

/* Folds one beacon into p. Beacons of one session must come in seq order;
 * one with seq <= p->last_seq is ignored (a retry). Returns the minute
 * (Unix ms, floored) in which the viewer became counted for concurrency,
 * or -1 when b adds no new minute. */
int64_t play_fold(play_state_t *p, const beacon_t *b);

/* Whether the session ended (session_end, ended, or a fatal error). */
bool play_is_over(const play_state_t *p);

/* The `plays` document's fields (closed: the session is over). */
void play_append_metrics(const play_state_t *p, bool closed, int64_t now_ms,
			 bson_t *doc);
void play_append_identity(const play_state_t *p, bson_t *doc);

/* ---- the spool ---- */

typedef struct spool spool_t;

/* Opens (creating) dir; counts what earlier runs left. NULL with err. */
spool_t *spool_open(const char *dir, long long max_bytes, kino_error_t *err);
void spool_close(spool_t *s);
/* Appends n documents (BSON) and fsyncs: all or nothing. KINO_ENOSPC
 * when they do not fit under max_bytes, KINO_EIO on a write error. */
int spool_append(spool_t *s, bson_t *const *docs, int n, kino_error_t *err);
long long spool_bytes(spool_t *s);
/* Calls fn(docs, n) for the documents of at most max_segments closed
 * segments, oldest first, in chunks of `chunk`; a segment is deleted once
 * fn accepted all of it. fn returns 0 to go on, non-zero to stop (the
 * segment stays). Only one caller at a time replays (others get 0 back at
 * once). Returns the documents replayed. */
typedef int (*spool_chunk_fn)(bson_t **docs, int n, void *ud);
long long spool_replay(spool_t *s, int chunk, int max_segments, spool_chunk_fn fn, void *ud);
/* Calls fn for every document in the spool now, without removing them
 * (to rebuild bindings after a restart). */
void spool_scan(spool_t *s, void (*fn)(const bson_t *doc, void *ud), void *ud);

/* ---- the store ---- */

/* Sets p->viewer_id to the user core issued the playback session to
 * (playback_sessions.user_id, one lookup by _id), when core's document is
 * there: what closing a play does when it needs no refold. */
void tel_play_viewer(kino_db_t *db, play_state_t *p);

/* Inserts docs unordered into `beacons`; duplicates of (session_id, seq)
 * count as success. 0 when the database answered for every document:
 * each is then stored, except those it refused on their own (refused[i],
 * n entries, filled by the call). KINO_EDB when the batch failed as a
 * whole (connection lost, timeout): nothing is known, retry it all. */
int tel_beacons_insert(kino_db_t *db, bson_t *const *docs, int n, bool *refused,
			 kino_error_t *err);
/* Finds the session_start of a session: 0 and b filled, KINO_ENOENT, or
 * KINO_EDB. *legacy: it was found by a query, not under "<sid>:0" (a
 * session stored before beacons had such _ids). */
int tel_session_start_find(kino_db_t *db, const char *session_id,
			     beacon_t *b, bool *legacy, kino_error_t *err);
/* A stored beacon's _id: "<session_id>:<seq>", so that the beacons of a
 * session are found by _id, the one filter FerretDB answers from an index
 * (and the _id index makes (session_id, seq) unique by itself). */
void tel_beacon_id(const char *session_id, long long seq, char *out, size_t size);
/* Refolds a session from every stored beacon, in seq order: looked up by
 * _id from seq 0 to `upto` (the last seq known, -1 for none) and on while
 * any turn up; by a query on session_id when none does, or at once when
 * `legacy` (a session begun before beacons had such _ids). */
int tel_session_refold(kino_db_t *db, const char *session_id, long long upto, bool legacy,
			 play_state_t *p, kino_error_t *err);
/* One writer's concurrent-viewer counts (concurrency_counts.c): plays per
 * (minute, title, device), each in a `concurrency` document of its own
 * (`id`) written with its absolute count, so that no two writers race on
 * a document and a retry never counts twice. */
typedef struct conc_entry {
	int64_t minute;
	char title_id[BEACON_NAME_MAX + 1];
	char device[BEACON_SHORT_MAX + 1];
	char id[BEACON_NAME_MAX + BEACON_SHORT_MAX + 80];
	long long viewers;
	bool dirty; /* counted since last written */
	int next;   /* hash chain */
} conc_entry_t;
typedef struct conc_counts {
	conc_entry_t *e;
	int n, cap;
	int *buckets;
	char owner[40]; /* "<collector>-<writer>", in every _id */
	unsigned long long serial;
	int64_t newest; /* the latest minute counted */
} conc_counts_t;
int conc_counts_init(conc_counts_t *cc, const char *owner);
void conc_counts_free(conc_counts_t *cc);
/* One more play in that minute, title and device; -1 when out of memory. */
int conc_counts_add(conc_counts_t *cc, int64_t minute, const char *title, const char *device);
/* The counts to write (at most max, cc->n is enough) into out; how many. */
int conc_counts_dirty(conc_counts_t *cc, conc_entry_t **out, int max);
bool conc_counts_pending(const conc_counts_t *cc);
/* done[0..n) are written; forgets clean counts 10 minutes behind the
 * newest (the pointers from conc_counts_dirty are then stale). */
void conc_counts_written(conc_counts_t *cc, conc_entry_t *const *done, int n);

/* Writes plays (closed[i]: the play is over) and the concurrency counts
 * conc[0..nconc), a few updates per command (FerretDB, see
 * telemetry_store.c). fresh[i] (fresh may be NULL) says this process never
 * wrote plays[i]: a fresh play (live or closed) is inserted whole, with the
 * others new then in one command, and upserted only when it was there after
 * all. Everything it writes is absolute values, so on an error all of it may
 * be written again. */
int tel_plays_write(kino_db_t *db, play_state_t *const *plays,
		      const bool *closed, const bool *fresh, int nplays,
		      conc_entry_t *const *conc, int nconc, int64_t now_ms, kino_error_t *err);
/* Session ids of plays left open, idle since before idle_before_ms. */
int tel_plays_stale(kino_db_t *db, int64_t idle_before_ms, char (*ids)[BEACON_ID_MAX + 1],
		      int max, int *n, kino_error_t *err);

int64_t telemetry_now_ms(void);

/* FNV-1a of a string (bind_table.c): for the hash tables of the module. */
uint32_t telemetry_hash(const char *s);

/* ---- the table of bound sessions (bind_table.c) ---- */

typedef struct bind_entry {
	char sid[BEACON_ID_MAX + 1];
	char title_id[BEACON_NAME_MAX + 1];
	char asset_id[BEACON_NAME_MAX + 1];
	char device[BEACON_SHORT_MAX + 1];
	int next; /* chain, -1 ends */
	bool used;
} bind_entry_t;

typedef struct bind_table {
	pthread_mutex_t mu;
	bind_entry_t *e;
	int *heads;
	int cap, nheads, clock; /* clock: the slot reused next (oldest first) */
} bind_table_t;

/* 0, or KINO_ENOMEM. binds_free() is safe on a table that failed to init. */
int binds_init(bind_table_t *t, int cap);
void binds_free(bind_table_t *t);
/* Remembers b's session with b's title, asset and device (replacing the
 * oldest entry when full). */
void binds_put(bind_table_t *t, const beacon_t *b);
/* Copies the binding of b's session into b; false when unknown. */
bool binds_get(bind_table_t *t, beacon_t *b);

/* ---- flood protection (rate_limit.c) ---- */

typedef struct flood_slot {
	char client[64];
	double tokens;
	int64_t last_ms;
} flood_slot_t;

typedef struct flood_table {
	pthread_mutex_t mu;
	flood_slot_t *slots;
} flood_table_t;

int flood_init(flood_table_t *t);
void flood_free(flood_table_t *t);
/* Takes one token from client's bucket (per_s a second, at most burst);
 * false when it has none. per_s <= 0 lets everything through. */
bool flood_allow(flood_table_t *t, int per_s, int burst, const char *client, int64_t now);

/* The collector's max_message limit (collector.c), for its transports. */
size_t collector_max_message(const kino_telemetry_collector_t *c);

/* A growing text buffer (report.c): oom is set, and the text left as it
 * was, when memory runs out. */
typedef struct strbuf {
	char *s;
	size_t len, cap;
	bool oom;
} strbuf_t;

void tel_printf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
