/* The database: MongoDB (or FerretDB, which speaks its wire protocol) through
 * a libmongoc client pool, and a monitor that keeps the health of the
 * connection current without anyone waiting on it.
 *
 * Threads: a kino_db_t may be used from any thread. Clients popped from the
 * pool belong to the popping thread until pushed back. Never call the
 * database from an event-loop thread: read kino_db_health() there instead,
 * which only loads an atomic. */
#ifndef KINO_DB_H
#define KINO_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kino_error;
typedef struct _mongoc_client_t mongoc_client_t;

typedef struct kino_db_config {
	char uri[2048];             /* mongo.uri: "" = the embedded server */
	char database[128];         /* mongo.database: kino */
	char embedded_host[256];    /* mongo.embedded_listen host: 127.0.0.1 */
	int embedded_port;          /* mongo.embedded_listen port: 27018 */
	char embedded_bin[4096];    /* mongo.embedded_bin: "" = find one */
	int health_interval_ms;     /* mongo.health_interval: 1000 */
	int timeout_ms;             /* mongo.timeout: 2000 */
} kino_db_config_t;

typedef struct kino_db kino_db_t;

typedef enum kino_db_state {
	KINO_DB_STARTING = 0, /* no ping has finished yet */
	KINO_DB_OK = 1,
	KINO_DB_UNREACHABLE = 2,
} kino_db_state_t;

/* Routes libmongoc's log into Kino's and initialises the driver. Call once
 * from main before any thread starts; kino_db_global_cleanup() at exit. */
void kino_db_global_init(void);
void kino_db_global_cleanup(void);

/* The URI to connect to: cfg->uri, or the embedded server's address.
 * Writes at most `size` bytes into buf. */
void kino_db_config_uri(const kino_db_config_t *cfg, char *buf, size_t size);

/* Copies uri into buf with any password replaced by "***", for logs. */
void kino_db_uri_redact(const char *uri, char *buf, size_t size);

/* Opens a pool for cfg. It does not wait for the server: a database that is
 * down at start is reported by the health monitor, not here. Returns NULL
 * with err set for a malformed URI. Caller frees with kino_db_destroy(). */
kino_db_t *kino_db_new(const kino_db_config_t *cfg, struct kino_error *err);

/* Stops the monitor if it runs and frees the pool; NULL-safe. */
void kino_db_destroy(kino_db_t *db);

/* Sends {ping: 1} and waits for the answer, at most cfg->timeout_ms plus
 * server selection. Blocking: not for event-loop threads. */
int kino_db_ping(kino_db_t *db, struct kino_error *err);

/* Pings until one answers or timeout_ms passes. Blocking. */
int kino_db_wait_ready(kino_db_t *db, int timeout_ms, struct kino_error *err);

/* Starts a thread that pings every cfg->health_interval_ms and publishes the
 * state. Idempotent. */
int kino_db_monitor_start(kino_db_t *db, struct kino_error *err);

/* The last published state; never blocks. If detail is not NULL it receives
 * the last error message (at most size bytes). */
kino_db_state_t kino_db_health(kino_db_t *db, char *detail, size_t size);

const char *kino_db_state_name(kino_db_state_t state);

/* A pooled client for blocking work on a worker thread; give it back with
 * kino_db_client_push(). */
mongoc_client_t *kino_db_client_pop(kino_db_t *db);
void kino_db_client_push(kino_db_t *db, mongoc_client_t *client);

const char *kino_db_name(const kino_db_t *db);

/* Counts a failed database operation, for /metrics. Stores call it where
 * they turn a libmongoc error into KINO_EDB. Any thread. */
void kino_db_record_error(kino_db_t *db);
unsigned long long kino_db_error_count(const kino_db_t *db);

/* Writes src into dst with every regex metacharacter escaped by '\', so
 * that a $regex matches it literally (for substring searches that work the
 * same on MongoDB and FerretDB). False when it does not fit in size bytes. */
bool kino_db_regex_escape(char *dst, size_t size, const char *src);

#endif
