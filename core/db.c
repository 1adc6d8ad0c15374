/* The database connection: a libmongoc client pool, a ping, and a monitor
 * thread that publishes the connection's health as an atomic, so that
 * /healthz on an event loop never waits on the database.
 *
 * Timeouts come from mongo.timeout unless the URI sets its own: a database
 * that hangs (SIGSTOPped, a black-holed route) is reported unreachable within
 * about one timeout, and libmongoc reconnects by itself when it returns. */
#define KINO_LOG_MODULE "db"
#include "kino/db.h"

#include "kino/error.h"
#include "kino/log.h"

#include <mongoc/mongoc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct kino_db {
	mongoc_client_pool_t *pool;
	char database[128];
	char uri_redacted[2048];
	int interval_ms;

	atomic_int state;
	atomic_ullong errors;
	pthread_mutex_t lock; /* guards detail, stopping, the condvar */
	pthread_cond_t wake;
	char detail[512];
	bool monitor_running;
	bool stopping;
	pthread_t monitor;
};

static void mongoc_log_to_kino(mongoc_log_level_t level, const char *domain,
			       const char *message, void *userdata)
{
	kino_log_level_t kl;

	(void)userdata;
	switch (level) {
	case MONGOC_LOG_LEVEL_ERROR:
	case MONGOC_LOG_LEVEL_CRITICAL:
		kl = KINO_LOG_LEVEL_ERROR;
		break;
	case MONGOC_LOG_LEVEL_WARNING:
		kl = KINO_LOG_LEVEL_WARN;
		break;
	case MONGOC_LOG_LEVEL_MESSAGE:
	case MONGOC_LOG_LEVEL_INFO:
		kl = KINO_LOG_LEVEL_DEBUG;
		break;
	default:
		kl = KINO_LOG_LEVEL_TRACE;
		break;
	}
	/* FerretDB v1 has no endSessions; every pool warns about it on close.
	 * It is harmless, so it is not worth a warning on every exit. */
	if (kl == KINO_LOG_LEVEL_WARN && strstr(message, "\"endSessions\"") != NULL)
		kl = KINO_LOG_LEVEL_DEBUG;
	if ((int)kl <= kino_log_threshold)
		kino_log_write(kl, "mongoc", domain, "%s", message);
}

void kino_db_global_init(void)
{
	mongoc_log_set_handler(mongoc_log_to_kino, NULL);
	mongoc_init();
}

void kino_db_global_cleanup(void)
{
	mongoc_cleanup();
}

void kino_db_config_uri(const kino_db_config_t *cfg, char *buf, size_t size)
{
	if (cfg->uri[0] != '\0')
		snprintf(buf, size, "%s", cfg->uri);
	else
		snprintf(buf, size, "mongodb://%s:%d/", cfg->embedded_host,
			 cfg->embedded_port);
}

void kino_db_uri_redact(const char *uri, char *buf, size_t size)
{
	const char *scheme = strstr(uri, "://");
	const char *userinfo, *at, *colon, *slash;

	snprintf(buf, size, "%s", uri);
	if (scheme == NULL)
		return;
	userinfo = scheme + 3;
	slash = strchr(userinfo, '/');
	at = strchr(userinfo, '@');
	/* The userinfo ends at the last '@' before the path. */
	if (at == NULL || (slash != NULL && at > slash))
		return;
	for (const char *p = at + 1; *p && (slash == NULL || p < slash); p++)
		if (*p == '@')
			at = p;
	colon = memchr(userinfo, ':', (size_t)(at - userinfo));
	if (colon == NULL)
		return;
	snprintf(buf, size, "%.*s***%s", (int)(colon + 1 - uri), uri, at);
}

/* Applies mongo.timeout to whichever timeouts the URI leaves unset. */
static void uri_apply_timeouts(mongoc_uri_t *uri, int timeout_ms,
			       int interval_ms)
{
	const char *opts[] = {MONGOC_URI_CONNECTTIMEOUTMS,
			      MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
			      MONGOC_URI_SOCKETTIMEOUTMS};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!mongoc_uri_has_option(uri, opts[i]))
			mongoc_uri_set_option_as_int32(uri, opts[i], timeout_ms);
	/* libmongoc refuses heartbeats under 500 ms. */
	if (!mongoc_uri_has_option(uri, MONGOC_URI_HEARTBEATFREQUENCYMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_HEARTBEATFREQUENCYMS,
					       interval_ms < 500 ? 500 : interval_ms);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME))
		mongoc_uri_set_option_as_utf8(uri, MONGOC_URI_APPNAME, "kino");
}

kino_db_t *kino_db_new(const kino_db_config_t *cfg, kino_error_t *err)
{
	char text[2048];
	bson_error_t berr;
	mongoc_uri_t *uri = NULL;
	kino_db_t *db = NULL;

	kino_db_config_uri(cfg, text, sizeof(text));
	uri = mongoc_uri_new_with_error(text, &berr);
	if (uri == NULL) {
		/* berr.message can quote the URI: redact before reporting. */
		char safe[2048];
		kino_db_uri_redact(text, safe, sizeof(safe));
		kino_error_set(err, KINO_ECONFIG, "mongo.uri: '%s' is not a valid MongoDB URI",
			       safe);
		return NULL;
	}
	uri_apply_timeouts(uri, cfg->timeout_ms, cfg->health_interval_ms);

	db = calloc(1, sizeof(*db));
	if (db == NULL)
		goto nomem;
	db->pool = mongoc_client_pool_new(uri);
	if (db->pool == NULL) {
		kino_error_set(err, KINO_ECONFIG, "mongo.uri: libmongoc refused the URI");
		goto fail;
	}
	mongoc_client_pool_set_error_api(db->pool, MONGOC_ERROR_API_VERSION_2);
	snprintf(db->database, sizeof(db->database), "%s", cfg->database);
	kino_db_uri_redact(text, db->uri_redacted, sizeof(db->uri_redacted));
	db->interval_ms = cfg->health_interval_ms;
	atomic_init(&db->state, KINO_DB_STARTING);
	pthread_mutex_init(&db->lock, NULL);
	pthread_cond_init(&db->wake, NULL);
	snprintf(db->detail, sizeof(db->detail), "no ping has finished yet");
	mongoc_uri_destroy(uri);
	return db;
nomem:
	kino_error_set(err, KINO_ENOMEM, "out of memory");
fail:
	free(db);
	mongoc_uri_destroy(uri);
	return NULL;
}

void kino_db_destroy(kino_db_t *db)
{
	if (db == NULL)
		return;
	pthread_mutex_lock(&db->lock);
	db->stopping = true;
	pthread_cond_broadcast(&db->wake);
	pthread_mutex_unlock(&db->lock);
	if (db->monitor_running)
		pthread_join(db->monitor, NULL);
	mongoc_client_pool_destroy(db->pool);
	pthread_cond_destroy(&db->wake);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

mongoc_client_t *kino_db_client_pop(kino_db_t *db)
{
	return mongoc_client_pool_pop(db->pool);
}

void kino_db_client_push(kino_db_t *db, mongoc_client_t *client)
{
	if (client != NULL)
		mongoc_client_pool_push(db->pool, client);
}

const char *kino_db_name(const kino_db_t *db)
{
	return db->database;
}

void kino_db_record_error(kino_db_t *db)
{
	atomic_fetch_add_explicit(&db->errors, 1, memory_order_relaxed);
}

unsigned long long kino_db_error_count(const kino_db_t *db)
{
	return atomic_load_explicit(&((kino_db_t *)db)->errors, memory_order_relaxed);
}

int kino_db_ping(kino_db_t *db, kino_error_t *err)
{
	mongoc_client_t *client = mongoc_client_pool_pop(db->pool);
	bson_t cmd = BSON_INITIALIZER;
	bson_error_t berr;
	bool ok;

	BSON_APPEND_INT32(&cmd, "ping", 1);
	ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, NULL,
					  &berr);
	bson_destroy(&cmd);
	mongoc_client_pool_push(db->pool, client);
	if (!ok)
		return kino_error_set(err, KINO_EUNAVAIL, "%s: %s",
				      db->uri_redacted, berr.message);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kino_db_wait_ready(kino_db_t *db, int timeout_ms, kino_error_t *err)
{
	int64_t deadline = now_ms() + timeout_ms;
	int ret;

	for (;;) {
		ret = kino_db_ping(db, err);
		if (ret == 0 || now_ms() >= deadline)
			return ret;
		struct timespec pause = {0, 100 * 1000000L};
		nanosleep(&pause, NULL);
	}
}

static void publish(kino_db_t *db, kino_db_state_t state, const char *detail)
{
	int prev = atomic_exchange(&db->state, (int)state);

	pthread_mutex_lock(&db->lock);
	snprintf(db->detail, sizeof(db->detail), "%s", detail);
	pthread_mutex_unlock(&db->lock);
	if (prev == (int)state)
		return;
	if (state == KINO_DB_OK)
		KINO_LOG_INFO("database %s is reachable", db->uri_redacted);
	else
		KINO_LOG_WARN("database unreachable: %s", detail);
}

static void *monitor_main(void *arg)
{
	kino_db_t *db = arg;

	for (;;) {
		kino_error_t err = {0};
		struct timespec until;

		if (kino_db_ping(db, &err) == 0)
			publish(db, KINO_DB_OK, "");
		else
			publish(db, KINO_DB_UNREACHABLE, kino_error_message(&err));

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += db->interval_ms / 1000;
		until.tv_nsec += (long)(db->interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&db->lock);
		while (!db->stopping &&
		       pthread_cond_timedwait(&db->wake, &db->lock, &until) == 0)
			;
		bool stop = db->stopping;
		pthread_mutex_unlock(&db->lock);
		if (stop)
			return NULL;
	}
}

int kino_db_monitor_start(kino_db_t *db, kino_error_t *err)
{
	if (db->monitor_running)
		return 0;
	if (pthread_create(&db->monitor, NULL, monitor_main, db) != 0)
		return kino_error_set(err, KINO_ENOMEM,
				      "cannot start the database monitor thread");
	db->monitor_running = true;
	return 0;
}

kino_db_state_t kino_db_health(kino_db_t *db, char *detail, size_t size)
{
	kino_db_state_t state = (kino_db_state_t)atomic_load(&db->state);

	if (detail != NULL && size > 0) {
		pthread_mutex_lock(&db->lock);
		snprintf(detail, size, "%s", db->detail);
		pthread_mutex_unlock(&db->lock);
	}
	return state;
}

const char *kino_db_state_name(kino_db_state_t state)
{
	switch (state) {
	case KINO_DB_STARTING:
		return "starting";
	case KINO_DB_OK:
		return "ok";
	case KINO_DB_UNREACHABLE:
		return "unreachable";
	}
	return "unknown";
}

bool kino_db_regex_escape(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	for (const char *p = src; *p; p++) {
		bool meta = strchr("\\^$.|?*+()[]{}", *p) != NULL;
		if (o + (meta ? 2 : 1) >= size)
			return false;
		if (meta)
			dst[o++] = '\\';
		dst[o++] = *p;
	}
	if (size == 0)
		return false;
	dst[o] = '\0';
	return true;
}
