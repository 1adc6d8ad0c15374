/* Configuration: defaults, then one file, then KINO_* environment variables.
 *
 * Every key is one row of `keys` below: its name, its type, where it lands in
 * kino_config_t, its bounds and its help. The same table parses the file,
 * the environment and `kino config` output, so they cannot disagree. Errors
 * name the key and where the value came from ("kino.conf:12",
 * "KINO_HTTP_LISTEN") and are all KINO_ECONFIG, for which kino exits 2. */
#include "kino/config.h"

#include "kino/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

extern char **environ;

typedef enum key_type {
	KEY_STRING,   /* char[] of `size` bytes */
	KEY_LISTEN,   /* kino_http_config_t host + port */
	KEY_HOSTPORT, /* kino_db_config_t embedded host + port */
	KEY_INT,      /* int within [min, max] */
	KEY_SIZE,     /* size_t bytes, with k/m/g suffixes, within [min, max] */
	KEY_DURATION, /* int milliseconds, with ms/s/m/h suffixes, within [min, max] */
	KEY_SECONDS,  /* int seconds, written like a duration, within [min, max] s */
	KEY_SIZE64,   /* int64_t bytes, with k/m/g suffixes, within [min, max] */
	KEY_LOG_LEVEL,
	KEY_FLOAT,    /* float within [min, max], and > 0 when `positive` */
} key_type_t;

typedef struct config_key {
	const char *name;
	key_type_t type;
	size_t offset;
	size_t size; /* for KEY_STRING */
	long long min, max;
	const char *def;
	const char *help;
	bool secret; /* never printed */
	bool positive; /* KEY_FLOAT: 0 is refused too */
} config_key_t;

#define FIELD(f) offsetof(kino_config_t, f)

static const config_key_t keys[] = {
	{.name = "data_dir", .type = KEY_STRING, .offset = FIELD(data_dir),
	 .size = sizeof(((kino_config_t *)0)->data_dir), .def = "var",
	 .help = "where the embedded database, the media store and logs live"},
	{.name = "log.level", .type = KEY_LOG_LEVEL, .offset = FIELD(log.level),
	 .def = "info", .help = "error, warn, info, debug or trace"},
	{.name = "log.file", .type = KEY_STRING, .offset = FIELD(log.file),
	 .size = sizeof(((kino_config_t *)0)->log.file), .def = "",
	 .help = "append the log to this file; empty means stderr"},
	{.name = "http.listen", .type = KEY_LISTEN, .offset = FIELD(http),
	 .def = "127.0.0.1:8080",
	 .help = "address of the API, the origin and the web front-ends"},
	{.name = "http.max_body", .type = KEY_SIZE, .offset = FIELD(http.max_body),
	 .min = 1024, .max = 1LL << 30, .def = "1m",
	 .help = "largest request body accepted by default (413 beyond)"},
	{.name = "http.workers", .type = KEY_INT, .offset = FIELD(http.workers),
	 .min = 1, .max = 256, .def = "4",
	 .help = "threads that run blocking requests (database, disk)"},
	{.name = "telemetry.listen", .type = KEY_LISTEN,
	 .offset = FIELD(telemetry), .def = "127.0.0.1:8081",
	 .help = "address of the QoE beacon collector"},
	{.name = "telemetry.max_body", .type = KEY_SIZE,
	 .offset = FIELD(telemetry.max_body), .min = 1024, .max = 1LL << 24,
	 .def = "64k", .help = "largest beacon request accepted"},
	{.name = "telemetry.workers", .type = KEY_INT,
	 .offset = FIELD(telemetry.workers), .min = 1, .max = 256, .def = "2",
	 .help = "threads that run the collector's blocking work"},
	{.name = "telemetry.queue", .type = KEY_INT,
	 .offset = FIELD(telemetry_limits.queue_capacity), .min = 1, .max = 1000000,
	 .def = "4096", .help = "beacons waiting per writer before clients back off"},
	{.name = "telemetry.writers", .type = KEY_INT,
	 .offset = FIELD(telemetry_limits.writers), .min = 1, .max = 64,
	 .def = "4", .help = "threads writing beacons to MongoDB or the spool"},
	{.name = "telemetry.batch", .type = KEY_INT,
	 .offset = FIELD(telemetry_limits.batch_max), .min = 1, .max = 100000,
	 .def = "500", .help = "beacons per bulk insert"},
	{.name = "telemetry.spool_max", .type = KEY_SIZE64,
	 .offset = FIELD(telemetry_limits.spool_max_bytes), .min = 1LL << 20, .max = 1LL << 40,
	 .def = "256m", .help = "largest spool in data_dir/spool; beyond it clients back off"},
	{.name = "telemetry.slow_db", .type = KEY_DURATION,
	 .offset = FIELD(telemetry_limits.slow_db_ms), .min = 100, .max = 600000,
	 .def = "2s", .help = "a batch that waited longer for the database is spooled"},
	{.name = "telemetry.max_beacon", .type = KEY_SIZE,
	 .offset = FIELD(telemetry_limits.max_beacon), .min = 256, .max = 1 << 20,
	 .def = "8k", .help = "largest beacon"},
	{.name = "telemetry.max_message", .type = KEY_SIZE,
	 .offset = FIELD(telemetry_limits.max_message), .min = 1024, .max = 1 << 24,
	 .def = "256k", .help = "largest message or POST body of beacons"},
	{.name = "telemetry.bind_capacity", .type = KEY_INT,
	 .offset = FIELD(telemetry_limits.bind_capacity), .min = 1, .max = 10000000,
	 .def = "20000", .help = "sessions each collector remembers as bound"},
	{.name = "telemetry.session_timeout", .type = KEY_SECONDS,
	 .offset = FIELD(telemetry_limits.session_timeout_s), .min = 5, .max = 86400,
	 .def = "2m", .help = "a silent play is closed after this"},
	{.name = "telemetry.max_past", .type = KEY_SECONDS,
	 .offset = FIELD(telemetry_limits.max_past_s), .min = 60, .max = 2592000,
	 .def = "24h", .help = "oldest beacon timestamp accepted"},
	{.name = "telemetry.max_future", .type = KEY_SECONDS,
	 .offset = FIELD(telemetry_limits.max_future_s), .min = 1, .max = 86400,
	 .def = "5m", .help = "furthest-ahead beacon timestamp accepted"},
	{.name = "telemetry.rate", .type = KEY_INT,
	 .offset = FIELD(telemetry_limits.rate_per_s), .min = 0, .max = 1000000,
	 .def = "200", .help = "beacons per second per client address (0: no limit)"},
	{.name = "telemetry.burst", .type = KEY_INT,
	 .offset = FIELD(telemetry_limits.rate_burst), .min = 1, .max = 10000000,
	 .def = "1000", .help = "token-bucket depth of that limit"},
	{.name = "telemetry.retry_after", .type = KEY_SECONDS,
	 .offset = FIELD(telemetry_limits.retry_after_s), .min = 1, .max = 3600,
	 .def = "1s", .help = "Retry-After when clients must back off"},
	{.name = "mongo.uri", .type = KEY_STRING, .offset = FIELD(db.uri),
	 .size = sizeof(((kino_config_t *)0)->db.uri), .def = "",
	 .help = "a MongoDB URI; empty means the embedded server that `kino up` starts"},
	{.name = "mongo.database", .type = KEY_STRING,
	 .offset = FIELD(db.database),
	 .size = sizeof(((kino_config_t *)0)->db.database), .def = "kino",
	 .help = "the database that holds Kino's collections"},
	{.name = "mongo.embedded_listen", .type = KEY_HOSTPORT,
	 .offset = FIELD(db), .def = "127.0.0.1:27018",
	 .help = "where the embedded FerretDB listens"},
	{.name = "mongo.embedded_bin", .type = KEY_STRING,
	 .offset = FIELD(db.embedded_bin),
	 .size = sizeof(((kino_config_t *)0)->db.embedded_bin), .def = "",
	 .help = "the embedded server's binary; empty means .local/bin/ferretdb, then ferretdb or mongod on PATH"},
	{.name = "mongo.health_interval", .type = KEY_DURATION,
	 .offset = FIELD(db.health_interval_ms), .min = 100, .max = 600000,
	 .def = "1s", .help = "how often the database is pinged for /healthz"},
	{.name = "mongo.timeout", .type = KEY_DURATION,
	 .offset = FIELD(db.timeout_ms), .min = 100, .max = 600000,
	 .def = "2s", .help = "connect, server-selection and socket timeout"},
	{.name = "auth.session_ttl", .type = KEY_SECONDS,
	 .offset = FIELD(auth.session_ttl_s), .min = 60, .max = 366LL * 86400,
	 .def = "30d", .help = "how long a sign-in lasts before it expires"},
	{.name = "auth.session_cache", .type = KEY_DURATION,
	 .offset = FIELD(auth.session_cache_ms), .min = 0, .max = 60000,
	 .def = "5s", .help = "how long a checked session is trusted without the database "
			      "(sign-outs and role changes made by another server take this "
			      "long to apply here; 0s: never)"},
	{.name = "auth.signin_window", .type = KEY_DURATION,
	 .offset = FIELD(auth.signin_window_ms), .min = 1000, .max = 86400000,
	 .def = "15m", .help = "the window of the sign-in rate limits"},
	{.name = "auth.signin_limit_account", .type = KEY_INT,
	 .offset = FIELD(auth.signin_limit_account), .min = 1, .max = 100000,
	 .def = "5", .help = "failed sign-ins per account per window before 429"},
	{.name = "auth.signin_limit_address", .type = KEY_INT,
	 .offset = FIELD(auth.signin_limit_address), .min = 1, .max = 1000000,
	 .def = "50", .help = "sign-in attempts per client address per window before 429"},
	{.name = "playback.keys", .type = KEY_STRING, .offset = FIELD(playback.keys),
	 .size = sizeof(((kino_config_t *)0)->playback.keys), .def = "", .secret = true,
	 .help = "signing keys for playback URLs, \"kid:secret,...\" (first signs); empty means data_dir/keys/playback.keys, created on first start"},
	{.name = "playback.token_ttl", .type = KEY_SECONDS,
	 .offset = FIELD(playback.token_ttl_s), .min = 60, .max = 7 * 86400,
	 .def = "6h", .help = "how long a playback URL stays valid"},
	{.name = "playback.lease_ttl", .type = KEY_SECONDS,
	 .offset = FIELD(playback.lease_ttl_s), .min = 10, .max = 3600,
	 .def = "60s", .help = "a stream counts against the account's limit until its lease lapses without a heartbeat"},
	{.name = "web.dist", .type = KEY_STRING, .offset = FIELD(web.dist),
	 .size = sizeof(((kino_config_t *)0)->web.dist), .def = "web/dist",
	 .help = "the built web apps (scripts/setup builds them); served at /, /admin and /analytics"},
	{.name = "recsys.model", .type = KEY_STRING, .offset = FIELD(recsys.model),
	 .size = sizeof(((kino_config_t *)0)->recsys.model), .def = "",
	 .help = "the recommender's model file; empty means data_dir/recsys/model.kals"},
	{.name = "recsys.retrain_interval", .type = KEY_SECONDS,
	 .offset = FIELD(recsys.retrain_interval_s), .min = 0, .max = 30 * 86400, .def = "6h",
	 .help = "kino up retrains the recommender from plays this often; 0 means only on demand"},
	{.name = "recsys.window", .type = KEY_SECONDS, .offset = FIELD(recsys.window_s),
	 .min = 3600, .max = 3650 * 86400, .def = "180d",
	 .help = "training reads the plays that started within this window"},
	{.name = "recsys.factors", .type = KEY_INT, .offset = FIELD(recsys.factors),
	 .min = 1, .max = 1024, .def = "64", .help = "latent factors of the ALS model"},
	{.name = "recsys.iterations", .type = KEY_INT, .offset = FIELD(recsys.iterations),
	 .min = 1, .max = 1000, .def = "15", .help = "ALS iterations per training"},
	{.name = "recsys.regularization", .type = KEY_FLOAT,
	 .offset = FIELD(recsys.regularization), .min = 0, .max = 1000000, .positive = true,
	 .def = "10", .help = "ALS regularization (lambda); strong regularization suits sparse plays"},
	{.name = "recsys.alpha", .type = KEY_FLOAT, .offset = FIELD(recsys.alpha), .min = 0,
	 .max = 1000000, .def = "2", .help = "ALS confidence scale: c = 1 + alpha * strength"},
	{.name = "recsys.threads", .type = KEY_INT, .offset = FIELD(recsys.threads),
	 .min = 1, .max = 256, .def = "1",
	 .help = "threads a training uses (the server keeps serving on the others)"},
	{.name = "recsys.refresh", .type = KEY_SECONDS, .offset = FIELD(recsys.refresh_s),
	 .min = 1, .max = 86400, .def = "30s",
	 .help = "the home screen re-reads the catalog and trending this often (and at once after a title changes here)"},
	{.name = "keys.master", .type = KEY_STRING, .offset = FIELD(keys.master),
	 .size = sizeof(((kino_config_t *)0)->keys.master), .def = "", .secret = true,
	 .help = "content-protection master key, base64url of 32 bytes; empty means data_dir/keys/master.key, created on first use"},
	{.name = "jobs.lease", .type = KEY_SECONDS, .offset = FIELD(jobs.lease_s),
	 .min = 5, .max = 3600, .def = "60s",
	 .help = "how long a worker holds a job without renewing it; then another may retry it"},
	{.name = "jobs.max_attempts", .type = KEY_INT, .offset = FIELD(jobs.max_attempts),
	 .min = 1, .max = 100, .def = "3", .help = "attempts at a job before it is marked failed"},
	{.name = "uploads.max_size", .type = KEY_SIZE64, .offset = FIELD(jobs.upload_max),
	 .min = 1024, .max = 1LL << 40, .def = "20g", .help = "the largest upload accepted (tus Upload-Length)"},
	{.name = "uploads.max_chunk", .type = KEY_SIZE64, .offset = FIELD(jobs.upload_chunk),
	 .min = 65536, .max = 1LL << 30, .def = "64m", .help = "the largest body of one tus PATCH request"},
	{.name = "fetch.timeout", .type = KEY_SECONDS, .offset = FIELD(jobs.fetch_timeout_s),
	 .min = 1, .max = 3600, .def = "30s", .help = "a URL source that makes no progress for this long fails"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const config_key_t *key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Parses a non-negative integer with an optional suffix from `units`
 * (pairs of suffix and multiplier). Returns false on any junk. */
typedef struct unit {
	const char *suffix;
	long long mult;
} unit_t;

static bool parse_scaled(const char *s, const unit_t *units, long long *out)
{
	char *end;
	long long v, mult = 1;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return false;
	if (*end != '\0') {
		bool found = false;
		for (const unit_t *u = units; u->suffix != NULL; u++) {
			if (strcasecmp(end, u->suffix) == 0) {
				mult = u->mult;
				found = true;
				break;
			}
		}
		if (!found)
			return false;
	}
	if (v > LLONG_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

static const unit_t size_units[] = {
	{"b", 1}, {"k", 1024}, {"kb", 1024}, {"m", 1024 * 1024},
	{"mb", 1024 * 1024}, {"g", 1024LL * 1024 * 1024},
	{"gb", 1024LL * 1024 * 1024}, {NULL, 0}};
static const unit_t duration_units[] = {
	{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
	{NULL, 0}};
static const unit_t no_units[] = {{NULL, 0}};

static int set_key(kino_config_t *cfg, const config_key_t *k, const char *value,
		   const char *source, kino_error_t *err)
{
	char *field = (char *)cfg + k->offset;
	long long v;

	switch (k->type) {
	case KEY_STRING:
		if (strlen(value) >= k->size)
			return kino_error_set(err, KINO_ECONFIG,
					      "%s (from %s): value is longer than %zu bytes",
					      k->name, source, k->size - 1);
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case KEY_LISTEN: {
		kino_http_config_t *http = (kino_http_config_t *)field;
		kino_error_t perr = {0};
		if (kino_http_listen_parse(value, http, &perr) != 0)
			return kino_error_set(err, KINO_ECONFIG, "%s (from %s): %s",
					      k->name, source,
					      kino_error_message(&perr));
		return 0;
	}
	case KEY_HOSTPORT: {
		kino_db_config_t *db = (kino_db_config_t *)field;
		kino_http_config_t tmp = {0};
		kino_error_t perr = {0};
		if (kino_http_listen_parse(value, &tmp, &perr) != 0)
			return kino_error_set(err, KINO_ECONFIG, "%s (from %s): %s",
					      k->name, source,
					      kino_error_message(&perr));
		if (tmp.port == 0)
			return kino_error_set(err, KINO_ECONFIG,
					      "%s (from %s): port 0 is not allowed here",
					      k->name, source);
		memcpy(db->embedded_host, tmp.host, sizeof(db->embedded_host));
		db->embedded_port = tmp.port;
		return 0;
	}
	case KEY_INT:
	case KEY_SIZE:
	case KEY_SIZE64:
	case KEY_DURATION:
	case KEY_SECONDS: {
		bool is_duration = k->type == KEY_DURATION || k->type == KEY_SECONDS;
		bool is_size = k->type == KEY_SIZE || k->type == KEY_SIZE64;
		const unit_t *units = is_size ? size_units
				      : is_duration ? duration_units
						    : no_units;
		const char *what = is_size ? "a size such as 64k or 1m"
				   : is_duration ? "a duration such as 500ms, 2s or 30d"
						 : "a whole number";
		if (!parse_scaled(value, units, &v))
			return kino_error_set(err, KINO_ECONFIG,
					      "%s (from %s): '%s' is not %s",
					      k->name, source, value, what);
		if (k->type == KEY_SECONDS)
			v /= 1000; /* parsed in milliseconds */
		if (v < k->min || v > k->max)
			return kino_error_set(err, KINO_ECONFIG,
					      "%s (from %s): %s is out of range [%lld, %lld]%s",
					      k->name, source, value, k->min, k->max,
					      is_size ? " bytes"
					      : k->type == KEY_DURATION ? " ms"
					      : k->type == KEY_SECONDS ? " s" : "");
		if (k->type == KEY_SIZE)
			*(size_t *)field = (size_t)v;
		else if (k->type == KEY_SIZE64)
			*(int64_t *)field = (int64_t)v;
		else
			*(int *)field = (int)v;
		return 0;
	}
	case KEY_FLOAT: {
		char *end = NULL;
		double d;
		errno = 0;
		d = strtod(value, &end);
		if (value[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || !isfinite(d))
			return kino_error_set(err, KINO_ECONFIG, "%s (from %s): '%s' is not a number",
					      k->name, source, value);
		if (d < (double)k->min || d > (double)k->max || (k->positive && d <= 0))
			return kino_error_set(err, KINO_ECONFIG,
					      "%s (from %s): %s is out of range %s%lld, %lld]",
					      k->name, source, value, k->positive ? "(" : "[",
					      k->min, k->max);
		*(float *)field = (float)d;
		return 0;
	}
	case KEY_LOG_LEVEL:
		if (!kino_log_level_parse(value, (kino_log_level_t *)field))
			return kino_error_set(err, KINO_ECONFIG,
					      "%s (from %s): '%s' is not one of error, warn, info, debug, trace",
					      k->name, source, value);
		return 0;
	}
	return kino_error_set(err, KINO_ECONFIG, "%s: unknown type", k->name);
}

int kino_config_set(kino_config_t *cfg, const char *key, const char *value,
		    const char *source, kino_error_t *err)
{
	const config_key_t *k = key_find(key);

	if (k == NULL)
		return kino_error_set(err, KINO_ECONFIG,
				      "%s: unknown key '%s' (see 'kino config' for the list)",
				      source, key);
	return set_key(cfg, k, value, source, err);
}

void kino_config_defaults(kino_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		/* The defaults are ours: a failure here is a bug in `keys`. */
		if (set_key(cfg, &keys[i], keys[i].def, "default", NULL) != 0)
			abort();
	}
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Strips one pair of matching quotes; a '#' starts a comment only outside
 * quotes. Returns false for an unterminated quote. */
static bool unquote(char *value)
{
	size_t n;

	if (value[0] != '"' && value[0] != '\'') {
		char *hash = strchr(value, '#');
		if (hash != NULL) {
			*hash = '\0';
			char *t = trim(value);
			memmove(value, t, strlen(t) + 1);
		}
		return true;
	}
	char *close = strchr(value + 1, value[0]);
	if (close == NULL)
		return false;
	char *rest = trim(close + 1);
	if (*rest != '\0' && *rest != '#')
		return false;
	n = (size_t)(close - value - 1);
	memmove(value, value + 1, n);
	value[n] = '\0';
	return true;
}

static int load_file(kino_config_t *cfg, const char *path, kino_error_t *err)
{
	char line[8192], source[4200];
	FILE *f;
	int lineno = 0, ret = 0;

	f = fopen(path, "r");
	if (f == NULL)
		return kino_error_set(err, KINO_ECONFIG, "cannot read '%s': %s",
				      path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *key, *value;

		lineno++;
		snprintf(source, sizeof(source), "%s:%d", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			ret = kino_error_set(err, KINO_ECONFIG,
					     "%s: line is longer than %zu bytes",
					     source, sizeof(line) - 2);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			ret = kino_error_set(err, KINO_ECONFIG,
					     "%s: expected 'key = value', got '%s'",
					     source, s);
			break;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (!unquote(value)) {
			ret = kino_error_set(err, KINO_ECONFIG,
					     "%s: %s: unterminated or trailing text after a quoted value",
					     source, key);
			break;
		}
		ret = kino_config_set(cfg, key, value, source, err);
		if (ret != 0)
			break;
	}
	if (ret == 0 && ferror(f))
		ret = kino_error_set(err, KINO_ECONFIG, "error reading '%s'", path);
	fclose(f);
	return ret;
}

/* KINO_HTTP_LISTEN -> http.listen. Keys are lower case with '.' and '_',
 * so the variable names are compared against each key's upper-cased form. */
static const config_key_t *key_for_env(const char *var, size_t len)
{
	char want[128];

	for (size_t i = 0; i < NKEYS; i++) {
		size_t n = strlen(keys[i].name);
		if (n != len || n >= sizeof(want))
			continue;
		for (size_t j = 0; j < n; j++)
			want[j] = keys[i].name[j] == '.'
					  ? '_'
					  : (char)toupper((unsigned char)keys[i].name[j]);
		if (memcmp(want, var, n) == 0)
			return &keys[i];
	}
	return NULL;
}

static int load_env(kino_config_t *cfg, char **envp, kino_error_t *err)
{
	for (char **e = envp; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		const config_key_t *k;
		char source[160];

		if (strncmp(*e, "KINO_", 5) != 0 || eq == NULL)
			continue;
		if ((size_t)(eq - *e) == 11 && strncmp(*e, "KINO_CONFIG", 11) == 0)
			continue;
		snprintf(source, sizeof(source), "%.*s", (int)(eq - *e), *e);
		k = key_for_env(*e + 5, (size_t)(eq - *e) - 5);
		if (k == NULL)
			return kino_error_set(err, KINO_ECONFIG,
					      "%s: unknown setting (KINO_* variables are configuration keys; see 'kino config')",
					      source);
		if (set_key(cfg, k, eq + 1, source, err) != 0)
			return KINO_ECONFIG;
	}
	return 0;
}

int kino_config_load(kino_config_t *cfg, const char *path, char **envp,
		     kino_error_t *err)
{
	int ret;

	if (envp == NULL)
		envp = environ;
	kino_config_defaults(cfg);
	if (path == NULL) {
		for (char **e = envp; *e != NULL; e++)
			if (strncmp(*e, "KINO_CONFIG=", 12) == 0 && (*e)[12] != '\0')
				path = *e + 12;
	}
	if (path == NULL && access("kino.conf", F_OK) == 0)
		path = "kino.conf";
	if (path != NULL) {
		if (strlen(path) >= sizeof(cfg->config_file))
			return kino_error_set(err, KINO_ECONFIG,
					      "config file path is too long");
		ret = load_file(cfg, path, err);
		if (ret != 0)
			return ret;
		snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", path);
	}
	return load_env(cfg, envp, err);
}

static void print_value(const kino_config_t *cfg, const config_key_t *k,
			FILE *out)
{
	const char *field = (const char *)cfg + k->offset;

	switch (k->type) {
	case KEY_STRING:
		fprintf(out, "\"%s\"", field);
		break;
	case KEY_LISTEN: {
		const kino_http_config_t *h = (const kino_http_config_t *)field;
		fprintf(out, strchr(h->host, ':') ? "[%s]:%d" : "%s:%d",
			h->host, h->port);
		break;
	}
	case KEY_HOSTPORT: {
		const kino_db_config_t *d = (const kino_db_config_t *)field;
		fprintf(out, "%s:%d", d->embedded_host, d->embedded_port);
		break;
	}
	case KEY_INT:
		fprintf(out, "%d", *(const int *)field);
		break;
	case KEY_SIZE:
		fprintf(out, "%zu", *(const size_t *)field);
		break;
	case KEY_DURATION:
		fprintf(out, "%dms", *(const int *)field);
		break;
	case KEY_SECONDS:
		fprintf(out, "%ds", *(const int *)field);
		break;
	case KEY_SIZE64:
		fprintf(out, "%lld", (long long)*(const int64_t *)field);
		break;
	case KEY_LOG_LEVEL:
		fprintf(out, "%s", kino_log_level_name(*(const kino_log_level_t *)field));
		break;
	case KEY_FLOAT:
		fprintf(out, "%g", (double)*(const float *)field);
		break;
	}
}

void kino_config_print(const kino_config_t *cfg, FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const config_key_t *k = &keys[i];

		fprintf(out, "# %s (default: %s)\n", k->help,
			k->def[0] ? k->def : "empty");
		fprintf(out, "%s = ", k->name);
		/* mongo.uri may carry a password: never print it whole. */
		if (k->secret) {
			fprintf(out, "%s", *((const char *)cfg + k->offset) ? "\"***\"" : "\"\"");
		} else if (strcmp(k->name, "mongo.uri") == 0) {
			char safe[2048];
			kino_db_uri_redact(cfg->db.uri, safe, sizeof(safe));
			fprintf(out, "\"%s\"", safe);
		} else {
			print_value(cfg, k, out);
		}
		fprintf(out, "\n\n");
	}
}
