/* Telemetry: the collector that video players stream QoE beacons to, on
 * telemetry.listen (127.0.0.1:8081), the play sessions it derives from
 * them, and the reports analysts read. docs/telemetry.md has the beacon
 * schema (v1, and CMCD as a dialect) and the metric definitions.
 *
 * The pieces:
 *   collector  submit(beacon bytes) -> one result per beacon, delivered
 *              through a callback once the beacon is durable (in MongoDB or
 *              in the fsync'd spool), rejected (naming the field), or to be
 *              retried later (back off). submit never blocks on the database,
 *              so a transport may call it from its event loop.
 *   server     the collector's HTTP side: /healthz, /metrics and
 *              POST /v1/beacons (the navigator.sendBeacon fallback).
 *   reports    engagement, QoE and concurrency over `plays` and
 *              `concurrency`, as JSON or CSV, for the API and `kino report`.
 *
 * Collections: `beacons` (raw, unique on (session_id, seq)), `plays` (one
 * per playback session, _id = session_id), `concurrency` (per-minute
 * rollups). Stateless across collectors: any collector may receive any
 * session's beacons; sessions started elsewhere are found in MongoDB. */
#ifndef KINO_TELEMETRY_H
#define KINO_TELEMETRY_H

#include "kino/auth.h"
#include "kino/db.h"
#include "kino/health.h"
#include "kino/http.h"
#include "kino/metrics.h"
#include "kino/playback.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kino_error;
/* kino/config.h may include this header (for kino_telemetry_limits_t), so
 * the configuration is only declared here. */
struct kino_config;

/* ---- the collector ---- */

typedef struct kino_telemetry_limits {
	size_t max_beacon;        /* bytes of one beacon: 8 KiB */
	size_t max_message;       /* bytes of one submitted message: 256 KiB */
	int queue_capacity;       /* beacons waiting per writer: 4096 */
	int writers;              /* writer threads: 4 */
	int batch_max;            /* beacons per bulk insert: 500 */
	int64_t spool_max_bytes;  /* spool size on disk: 256 MiB */
	int slow_db_ms;           /* a batch older than this is spooled: 2000 */
	int bind_capacity;        /* sessions remembered as bound: 20000 */
	int session_timeout_s;    /* a silent play is closed after: 120 */
	int max_past_s;           /* beacon ts at most this old: 86400 */
	int max_future_s;         /* beacon ts at most this far ahead: 300 */
	int rate_per_s;           /* beacons per second per client address: 200;
				     0 turns flood protection off */
	int rate_burst;           /* token bucket depth: 1000 */
	int retry_after_s;        /* advised wait when backing off: 1 */
} kino_telemetry_limits_t;

/* Fills limits with the defaults written above. */
void kino_telemetry_limits_defaults(kino_telemetry_limits_t *limits);

typedef struct kino_telemetry_collector kino_telemetry_collector_t;

typedef enum kino_beacon_status {
	KINO_BEACON_ACK = 0,       /* durable (or a duplicate of a durable one) */
	KINO_BEACON_REJECT = 1,    /* invalid or unbound: never stored, do not retry */
	KINO_BEACON_BACKOFF = 2,   /* overloaded (queue and spool full, or the
				      session's binding cannot be checked now):
				      retry after retry_after_s (HTTP 503) */
	KINO_BEACON_THROTTLED = 3, /* this client sends too fast (HTTP 429) */
} kino_beacon_status_t;

/* One beacon's outcome. session_id/seq are "" / -1 when the beacon was too
 * broken to carry them. */
typedef struct kino_beacon_result {
	kino_beacon_status_t status;
	char session_id[65];
	long long seq;
	unsigned long long tag; /* the submitter's tag, as given to submit */
	char field[48];     /* REJECT: the offending field ("heartbeat.bitrate") */
	char message[160];  /* REJECT/BACKOFF: why, for people */
	int retry_after_s;  /* BACKOFF/THROTTLED */
} kino_beacon_result_t;

/* Called exactly once per beacon of a submitted message. It may run before
 * submit returns, on the submitting thread (rejections, back-off), or later
 * on a writer thread (acks once durable). It must not block for long and
 * must not call back into the collector. r is borrowed for the call. */
typedef void (*kino_beacon_done_fn)(const kino_beacon_result_t *r,
				    void *userdata);

/* keys and db are borrowed and must outlive the collector; limits is copied
 * (NULL: defaults). spool_dir is created if missing (mode 0700); the spool
 * left there by an earlier run (even one that was SIGKILLed) is replayed
 * once the database answers. Starts the writer threads. Returns NULL with
 * err set. Free with kino_telemetry_collector_destroy(). */
kino_telemetry_collector_t *kino_telemetry_collector_new(
	kino_db_t *db, const kino_playback_keyring_t *keys, const char *spool_dir,
	const kino_telemetry_limits_t *limits, struct kino_error *err);

/* Stops accepting, writes what is queued (to MongoDB, else to the spool),
 * answers it, joins the writers and frees; NULL-safe. */
void kino_telemetry_collector_destroy(kino_telemetry_collector_t *c);

/* Submits one message: a JSON beacon, a JSON array of beacons, a CMCD
 * object, or CMCD in its query-string form ("br=3200,bl=21300,sid=\"..\"").
 * `client` is the sender's address, for flood protection; `tag` is handed
 * back in each result (a transport's connection id). done(r, userdata) is
 * called once per beacon (see kino_beacon_done_fn); userdata is borrowed
 * until the last call. Returns the number of beacons (>= 1), or
 * KINO_EPARSE / KINO_ETOOBIG with err set and no callback when the message
 * as a whole is not readable. Never blocks on the database or the disk: any
 * thread, including an event loop. */
int kino_telemetry_collector_submit(kino_telemetry_collector_t *c,
				    const char *data, size_t len,
				    const char *client, unsigned long long tag,
				    kino_beacon_done_fn done,
				    void *userdata, struct kino_error *err);

/* Blocks until everything submitted so far is answered and the spool is
 * empty (replayed into MongoDB), or timeout_ms passes (KINO_ETIMEDOUT).
 * For tests and orderly shutdowns. */
int kino_telemetry_collector_drain(kino_telemetry_collector_t *c,
				   int timeout_ms, struct kino_error *err);

typedef struct kino_telemetry_stats {
	unsigned long long accepted;  /* beacons valid and queued */
	unsigned long long acked;     /* answered durable */
	unsigned long long rejected;  /* invalid or unbound */
	unsigned long long backoff;   /* told to back off (queue/spool full) */
	unsigned long long throttled; /* told to slow down (rate limit) */
	unsigned long long spooled;   /* beacons written to the spool */
	unsigned long long replayed;  /* beacons replayed from the spool */
	unsigned long long refused;   /* spooled beacons the database refused
					 (logged in full at ERROR) */
	long long spool_bytes;        /* on disk now */
	long long queued;             /* waiting for a writer now */
	unsigned long long plays_closed;
	unsigned long long refolds;   /* plays rebuilt from `beacons` (a scan
					 on FerretDB): a beacon was missing */
	/* Where the writers' time went, µs summed over the writers: inserting
	 * beacons, writing plays and rollups, reading back (session_start
	 * lookups, viewers, refolds), and idle on an empty queue. */
	unsigned long long writer_us_insert, writer_us_plays, writer_us_lookups, writer_us_idle;
} kino_telemetry_stats_t;

/* A snapshot of the counters; any thread. */
void kino_telemetry_collector_stats(const kino_telemetry_collector_t *c,
				    kino_telemetry_stats_t *out /* OUT */);

/* Adds the collector's counters as gauges of m (6 of its slots). c is
 * borrowed and must outlive m's server. */
int kino_telemetry_collector_gauges_add(kino_telemetry_collector_t *c,
					kino_metrics_t *m, struct kino_error *err);

/* Creates the indexes: beacons (session_id, seq) unique, plays by
 * started_at and by (closed, updated_at), concurrency by minute.
 * Idempotent. Blocking. */
int kino_telemetry_ensure_indexes(kino_db_t *db, struct kino_error *err);

/* POST /v1/beacons over c, to add to a server's table (blocking route: it
 * waits, on a worker thread, until each beacon is answered). */
kino_http_route_t kino_telemetry_beacons_route(kino_telemetry_collector_t *c);

/* ---- the collector's server ---- */

/* The whole collector role: keyring (cfg->playback.keys, else
 * <data_dir>/keys/playback.keys), collector (spool in <data_dir>/spool),
 * and the server on telemetry.listen with /healthz, /metrics and
 * POST /v1/beacons. health, metrics and db are borrowed and must outlive
 * it; limits NULL means defaults. Call kino_telemetry_start() to serve.
 * Free with kino_telemetry_destroy(). */
typedef struct kino_telemetry kino_telemetry_t;

kino_telemetry_t *kino_telemetry_new(const struct kino_config *cfg, kino_db_t *db,
				     kino_health_t *health,
				     kino_metrics_t *metrics,
				     const kino_telemetry_limits_t *limits,
				     struct kino_error *err);
int kino_telemetry_start(kino_telemetry_t *t, struct kino_error *err);
/* Borrowed from t. */
kino_http_server_t *kino_telemetry_server(kino_telemetry_t *t);
kino_telemetry_collector_t *kino_telemetry_collector(kino_telemetry_t *t);
/* Stops the server, then the collector (see its destroy); NULL-safe. */
void kino_telemetry_destroy(kino_telemetry_t *t);

/* The server alone, with /healthz and /metrics only (no collector): kept
 * for callers that predate kino_telemetry_new(). Binds telemetry.listen
 * (KINO_EADDRINUSE when taken). health and metrics are borrowed. Free with
 * kino_http_server_destroy(). */
kino_http_server_t *kino_telemetry_server_new(const struct kino_config *cfg,
					      kino_health_t *health,
					      kino_metrics_t *metrics,
					      struct kino_error *err);

/* ---- reports ---- */

typedef enum kino_report_kind {
	KINO_REPORT_ENGAGEMENT = 0,
	KINO_REPORT_QOE = 1,
	KINO_REPORT_CONCURRENCY = 2,
} kino_report_kind_t;

typedef enum kino_report_group {
	KINO_REPORT_GROUP_TITLE = 0, /* QoE by title (the default) */
	KINO_REPORT_GROUP_DEVICE = 1,
	KINO_REPORT_GROUP_DAY = 2,
} kino_report_group_t;

typedef struct kino_report_query {
	int64_t from_ms;     /* plays started at or after; 0 = no bound */
	int64_t to_ms;       /* plays started before; 0 = no bound */
	char title_id[128];  /* "" = every title */
	char device[64];     /* "" = every device */
	kino_report_group_t group;
	bool csv;            /* CSV instead of JSON */
	int top;             /* engagement: how many top titles: 10 */
} kino_report_query_t;

/* "engagement", "qoe", "concurrency"; false for anything else. */
bool kino_report_kind_parse(const char *s, kino_report_kind_t *out);

/* Parses a date "2026-11-01" (UTC midnight) or "2026-11-01T12:00:00Z" into
 * Unix milliseconds; KINO_EINVAL naming `field` otherwise. */
int kino_report_date_parse(const char *s, const char *field, int64_t *ms,
			   struct kino_error *err);

/* Computes a report by streaming a projected cursor and aggregating in C
 * (the same figures on MongoDB and FerretDB). *out is a NUL-terminated JSON
 * or CSV text of *len bytes; caller frees it with free(). Blocking. */
int kino_report_run(kino_db_t *db, kino_report_kind_t kind,
		    const kino_report_query_t *q, char **out, size_t *len,
		    struct kino_error *err);

/* What the report routes need; caller-owned, must outlive the server. */
typedef struct kino_reports {
	kino_db_t *db;       /* borrowed */
	kino_auth_t *auth;   /* borrowed */
} kino_reports_t;

void kino_reports_init(kino_reports_t *r, kino_db_t *db, kino_auth_t *auth);

/* GET /api/v1/reports/{engagement,qoe,concurrency} (role analyst; query
 * from, to, title, device, group, top, format=json|csv), blocking routes.
 * Writes at most max routes into out and returns how many (3). */
size_t kino_reports_routes(kino_reports_t *r, kino_http_route_t *out, size_t max);

#endif
