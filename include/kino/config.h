/* Kino's configuration: one file plus KINO_* environment overrides.
 *
 * main() reads both once, with kino_config_load(), and passes a const
 * pointer down; nothing else reads the environment for settings. Every key
 * has a default, a type and bounds, all in one table in core/config.c; the
 * documented file is kino.conf at the project's root.
 *
 *   file:  `http.listen = 127.0.0.1:8080`   (# starts a comment)
 *   env:   KINO_HTTP_LISTEN=127.0.0.1:8080  (the key upper-cased, '.' -> '_')
 *
 * The environment wins over the file. An unknown key, in the file or as a
 * KINO_* variable, and a bad value are errors that name the key and where it
 * came from; kino exits with status 2 for them. */
#ifndef KINO_CONFIG_H
#define KINO_CONFIG_H

#include "kino/auth.h"
#include "kino/db.h"
#include "kino/http.h"
#include "kino/jobs.h"
#include "kino/log.h"
#include "kino/playback.h"
#include "kino/telemetry.h"

#include <stdbool.h>
#include <stdio.h>

struct kino_error;

/* keys.*: content protection (kino/protection.h). */
typedef struct kino_keys_config {
	char master[256]; /* keys.master: "" = <data_dir>/keys/master.key */
} kino_keys_config_t;

/* web.*: the web front-ends (kino/web.h). */
typedef struct kino_web_config {
	char dist[4096]; /* web.dist: the built apps, web/dist */
} kino_web_config_t;

/* recsys.*: the recommender and the home screen (kino/home.h). */
typedef struct kino_recsys_config {
	char model[4096];       /* recsys.model: "" = <data_dir>/recsys/model.kals */
	int retrain_interval_s; /* recsys.retrain_interval: kino up; 0 = on demand only */
	int window_s;           /* recsys.window: plays a training reads */
	int factors, iterations, threads;
	float regularization, alpha;
	int refresh_s;          /* recsys.refresh: catalog and trending */
} kino_recsys_config_t;

typedef struct kino_config {
	char data_dir[4096];            /* data_dir: var */
	char config_file[4096];         /* the file read, or "" */
	kino_log_config_t log;          /* log.* */
	kino_db_config_t db;            /* mongo.* */
	kino_http_config_t http;        /* http.* */
	kino_http_config_t telemetry;   /* telemetry.* (its HTTP side) */
	kino_auth_config_t auth;        /* auth.* */
	kino_playback_config_t playback; /* playback.* */
	kino_jobs_config_t jobs;        /* jobs.*, uploads.*, fetch.* */
	kino_keys_config_t keys;        /* keys.* */
	kino_web_config_t web;          /* web.* */
	kino_recsys_config_t recsys;    /* recsys.* */
	kino_telemetry_limits_t telemetry_limits; /* telemetry.* collector limits */
} kino_config_t;

/* Fills cfg with the defaults. */
void kino_config_defaults(kino_config_t *cfg);

/* Loads defaults, then `path` (NULL: $KINO_CONFIG, else ./kino.conf if it
 * exists), then the KINO_* variables of `envp` (NULL: environ). On error
 * returns KINO_ECONFIG with err naming the key, its source and the problem. */
int kino_config_load(kino_config_t *cfg, const char *path, char **envp,
		     struct kino_error *err);

/* Sets one key from a string, as the file would ("source" names where it
 * came from, for the error message). */
int kino_config_set(kino_config_t *cfg, const char *key, const char *value,
		    const char *source, struct kino_error *err);

/* Writes every key with its current value and help, in the file's format. */
void kino_config_print(const kino_config_t *cfg, FILE *out);

#endif
