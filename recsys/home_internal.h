/* Internals of the home screen service (include/kino/home.h), shared by
 * recsys/home_service.c (the object, views, maintenance and training) and
 * recsys/home_routes.c (the three routes). */
#ifndef KINO_RECSYS_HOME_INTERNAL_H
#define KINO_RECSYS_HOME_INTERNAL_H

#include "viewer_plays.h"

#include "kino/home.h"
#include "kino/recsys.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* A viewer's plays a home request goes by: the newest this many. */
#define HOME_PLAYS_MAX 500

/* Everything a request needs besides the viewer's own plays, built off the
 * request path and immutable once published. Reference-counted: the
 * service holds one reference, each request one more. */
typedef struct home_view {
	atomic_int refs;
	kino_catalog_snapshot_t *snap;       /* owned */
	const kino_catalog_entry_t *entries; /* snap's, sorted by id */
	size_t n;
	kino_home_title_t *titles;           /* n, borrowing snap's strings */
	kino_home_genres_t *genres;          /* of titles, interned once */
	double *trending;                    /* n scores (0: no recent plays) */
	kino_recsys_model_store_t *store;    /* borrowed */
	kino_recsys_model_ref_t *model_ref;  /* owned reference, or NULL */
	const kino_recsys_model_t *model;    /* model_ref's, or NULL */
	int64_t *title_item;                 /* n: the model's item id, or -1 */
	int32_t *item_title;                 /* the model's items: title index, or -1 */
	int64_t built_at;                    /* ms */
	int64_t build_ms;                    /* how long building it took */
	uint64_t catalog_generation;         /* kino_catalog_generation when read */
} home_view_t;

typedef enum home_training_state {
	HOME_TRAINING_IDLE = 0,
	HOME_TRAINING_RUNNING,
	HOME_TRAINING_FAILED,
} home_training_state_t;

/* What GET /api/v1/admin/recsys reports about training; copied out under
 * the lock. */
typedef struct home_training {
	home_training_state_t state;
	int64_t started_at, finished_at, next_at; /* ms; 0: none */
	char error[256];
} home_training_t;

struct kino_home {
	kino_db_t *db;              /* borrowed */
	kino_auth_t *auth;          /* borrowed */
	kino_catalog_t *catalog;    /* borrowed */
	const kino_config_t *cfg;   /* borrowed */
	char model_path[4200];
	bool schedule;
	kino_recsys_model_store_t *store;
	viewer_plays_t *plays;      /* every viewer's recent plays, in memory */

	pthread_mutex_t lock;       /* guards what follows */
	pthread_cond_t wake;        /* the maintenance thread's */
	home_view_t *view;          /* current view, or NULL before the first */
	home_training_t training;
	bool stopping;
	bool trainer_joinable;
	pthread_t trainer;
	pthread_t maint;
	bool maint_started;
	atomic_bool indexes_ready;
};

/* A reference to the current view (NULL before the first is built). */
home_view_t *home_view_acquire(kino_home_t *home);
void home_view_release(home_view_t *view);

/* The index of the title with this id in the view, or -1. */
ptrdiff_t home_view_find(const home_view_t *view, const char *id);

/* Starts a training now unless one runs: 0, or KINO_ECONFLICT. */
int home_retrain(kino_home_t *home);
/* A copy of the training state. */
void home_training_get(kino_home_t *home, home_training_t *out);

/* Creates the index the home screen reads plays by (viewer_id, started_at),
 * once per process. */
int home_indexes_ensure(kino_home_t *home, kino_error_t *err);

#endif
