/* The home screen service's machinery: views, the maintenance thread and
 * training (see include/kino/home.h and recsys/home_internal.h).
 *
 * The maintenance thread wakes every second (or when asked) and, in order:
 * reloads the model file when it changed; rebuilds the view when the model
 * changed, a title was written here, or recsys.refresh has passed; starts a
 * scheduled training when one is due; keeps the viewers' plays index
 * (recsys/viewer_plays.h) current. A view build is two queries (the
 * catalog, the last week's plays for trending) and some arrays; it never
 * runs on a request thread, and a failed build keeps the previous view. */
#define KINO_LOG_MODULE "home"

#include "home_internal.h"
#include "plays_doc.h"

#include "kino/fs.h"
#include "kino/log.h"

#include <cblas.h>
#include <mongoc/mongoc.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TRENDING_WINDOW_MS (7 * 86400000LL)
#define TRENDING_HALF_LIFE_MS (86400000.0)
#define TRENDING_MAX_PLAYS 200000
/* With the schedule on and no model yet, the first training comes soon. */
#define FIRST_TRAINING_DELAY_MS 60000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- views ---- */

static void view_free(home_view_t *v)
{
	if (v == NULL)
		return;
	kino_recsys_model_store_release(v->store, v->model_ref);
	kino_catalog_snapshot_destroy(v->snap);
	kino_home_genres_destroy(v->genres);
	free(v->titles);
	free(v->trending);
	free(v->title_item);
	free(v->item_title);
	free(v);
}

home_view_t *home_view_acquire(kino_home_t *home)
{
	home_view_t *v;

	pthread_mutex_lock(&home->lock);
	v = home->view;
	if (v != NULL)
		atomic_fetch_add(&v->refs, 1);
	pthread_mutex_unlock(&home->lock);
	return v;
}

void home_view_release(home_view_t *v)
{
	if (v != NULL && atomic_fetch_sub(&v->refs, 1) == 1)
		view_free(v);
}

ptrdiff_t home_view_find(const home_view_t *v, const char *id)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v->entries[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < v->n && strcmp(v->entries[lo].id, id) == 0) ? (ptrdiff_t)lo : -1;
}

/* Trending: every play of the last week, weighted by how recent it is (a
 * one-day half-life) and by how much of the title it covered. */
typedef struct trending_ctx {
	home_view_t *view;
	int64_t now;
} trending_ctx_t;

static bool trending_add(const recsys_play_doc_t *p, void *ud)
{
	trending_ctx_t *tc = ud;
	ptrdiff_t t = p->title[0] != '\0' ? home_view_find(tc->view, p->title) : -1;
	double age = (double)(tc->now - p->started_at), completion = p->play.completion;

	if (t < 0)
		return true;
	if (age < 0)
		age = 0;
	if (!(completion >= 0 && completion <= 1))
		completion = 0;
	tc->view->trending[t] += exp2(-age / TRENDING_HALF_LIFE_MS) * (0.25 + completion);
	return true;
}

static int view_trending(kino_home_t *home, home_view_t *v, int64_t now, kino_error_t *err)
{
	bson_t *filter = BCON_NEW("started_at", "{", "$gte",
				  BCON_DATE_TIME(now - TRENDING_WINDOW_MS), "}");
	bson_t *opts = BCON_NEW("projection", "{", "title_id", BCON_INT32(1), "started_at",
				BCON_INT32(1), "completion_pct", BCON_INT32(1), "}", "sort", "{",
				"started_at", BCON_INT32(-1), "}", "limit",
				BCON_INT64(TRENDING_MAX_PLAYS), "batchSize", BCON_INT32(2000));
	trending_ctx_t tc = {.view = v, .now = now};
	int ret = recsys_plays_each(home->db, filter, opts, trending_add, &tc,
				    "reading recent plays", err);

	bson_destroy(opts);
	bson_destroy(filter);
	return ret;
}

/* The model's items against the catalog, both ways, by key. */
static int view_map_model(home_view_t *v, kino_error_t *err)
{
	size_t items = kino_recsys_model_items(v->model);

	v->item_title = malloc((items ? items : 1) * sizeof(*v->item_title));
	if (v->item_title == NULL)
		return kino_error_set(err, KINO_ENOMEM, "out of memory");
	for (size_t i = 0; i < items; i++) {
		ptrdiff_t t = home_view_find(v, kino_recsys_model_item_key(v->model, i));
		v->item_title[i] = (int32_t)t;
		if (t >= 0)
			v->title_item[t] = kino_recsys_model_item_id(v->model, i);
	}
	return 0;
}

static int view_build(kino_home_t *home, home_view_t **out, kino_error_t *err)
{
	home_view_t *v = calloc(1, sizeof(*v));
	int64_t now = now_ms();
	int ret;

	*out = NULL;
	if (v == NULL)
		return kino_error_set(err, KINO_ENOMEM, "out of memory");
	atomic_init(&v->refs, 1);
	v->store = home->store;
	v->built_at = now;
	v->catalog_generation = kino_catalog_generation(home->catalog);
	ret = kino_catalog_snapshot_new(home->catalog, now, &v->snap, err);
	if (ret != 0)
		goto fail;
	v->entries = kino_catalog_snapshot_entries(v->snap);
	v->n = kino_catalog_snapshot_count(v->snap);
	v->titles = calloc(v->n ? v->n : 1, sizeof(*v->titles));
	v->trending = calloc(v->n ? v->n : 1, sizeof(*v->trending));
	v->title_item = malloc((v->n ? v->n : 1) * sizeof(*v->title_item));
	if (v->titles == NULL || v->trending == NULL || v->title_item == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory for %zu titles", v->n);
		goto fail;
	}
	for (size_t t = 0; t < v->n; t++) {
		const kino_catalog_entry_t *e = &v->entries[t];
		v->titles[t] = (kino_home_title_t){.id = e->id, .name = e->name,
						   .genres = e->genres, .ngenres = e->ngenres,
						   .released_at = e->released_at};
		v->title_item[t] = -1;
	}
	ret = kino_home_genres_new(v->titles, v->n, &v->genres, err);
	if (ret != 0)
		goto fail;
	ret = view_trending(home, v, now, err);
	if (ret != 0)
		goto fail;
	v->model_ref = kino_recsys_model_store_acquire(home->store);
	if (v->model_ref != NULL) {
		v->model = kino_recsys_model_ref_model(v->model_ref);
		if (!kino_recsys_model_has_keys(v->model)) {
			/* a model trained from a ratings file names nothing in
			 * the catalog: serve as if there were none */
			KINO_LOG_WARN("the model at %s has no title keys (not trained from "
				      "plays); rows are not personalized", home->model_path);
			kino_recsys_model_store_release(home->store, v->model_ref);
			v->model_ref = NULL;
			v->model = NULL;
		} else if ((ret = view_map_model(v, err)) != 0) {
			goto fail;
		}
	}
	v->build_ms = now_ms() - now;
	*out = v;
	return 0;
fail:
	view_free(v);
	return ret;
}

/* Builds a view and publishes it; on failure the old one stays. */
static void view_refresh(kino_home_t *home)
{
	home_view_t *v = NULL, *old;
	kino_error_t err = {0};

	if (home_indexes_ensure(home, &err) != 0 || view_build(home, &v, &err) != 0) {
		pthread_mutex_lock(&home->lock);
		bool first = home->view == NULL;
		pthread_mutex_unlock(&home->lock);
		if (first && kino_db_health(home->db, NULL, 0) != KINO_DB_OK)
			/* kino up starts the database after the roles */
			KINO_LOG_DEBUG("home screen waits for the database: %s",
				       kino_error_message(&err));
		else
			KINO_LOG_WARN("home screen data not refreshed: %s",
				      kino_error_message(&err));
		return;
	}
	pthread_mutex_lock(&home->lock);
	old = home->view;
	home->view = v;
	pthread_mutex_unlock(&home->lock);
	home_view_release(old);
}

int home_indexes_ensure(kino_home_t *home, kino_error_t *err)
{
	mongoc_client_t *cl;
	mongoc_database_t *d;
	bson_error_t berr;
	int ret = 0;

	if (atomic_load(&home->indexes_ready))
		return 0;
	cl = kino_db_client_pop(home->db);
	d = mongoc_client_get_database(cl, kino_db_name(home->db));
	/* one index a command: FerretDB v1.24 fails on several at once */
	bson_t *cmds[] = {
		BCON_NEW("createIndexes", BCON_UTF8("plays"), "indexes", "[", "{", "key", "{",
			 "viewer_id", BCON_INT32(1), "started_at", BCON_INT32(-1), "}", "name",
			 BCON_UTF8("viewer_started"), "}", "]"),
		/* the viewers' plays index reads what changed since its last look */
		BCON_NEW("createIndexes", BCON_UTF8("plays"), "indexes", "[", "{", "key", "{",
			 "updated_at", BCON_INT32(1), "}", "name", BCON_UTF8("updated_at"), "}",
			 "]"),
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (ret == 0 && !mongoc_database_write_command_with_opts(d, cmds[i], NULL, NULL,
									 &berr)) {
			kino_db_record_error(home->db);
			ret = kino_error_set(err, KINO_EDB, "creating the plays indexes: %s",
					     berr.message);
		}
		bson_destroy(cmds[i]);
	}
	if (ret == 0)
		atomic_store(&home->indexes_ready, true);
	mongoc_database_destroy(d);
	kino_db_client_push(home->db, cl);
	return ret;
}

/* ---- training ---- */

static void *trainer_main(void *arg)
{
	kino_home_t *home = arg;
	const kino_recsys_config_t *rc = &home->cfg->recsys;
	kino_recsys_train_config_t tc;
	kino_recsys_model_info_t info;
	kino_error_t err = {0};
	int64_t started = now_ms();
	int ret;

	kino_recsys_train_config_default(&tc);
	tc.factors = rc->factors;
	tc.iterations = rc->iterations;
	tc.regularization = rc->regularization;
	tc.alpha = rc->alpha;
	tc.threads = rc->threads;
	KINO_LOG_INFO("training the recommender from the plays of the last %d days",
		      rc->window_s / 86400);
	ret = kino_recsys_train_config_validate(&tc, &err);
	if (ret == 0)
		ret = kino_recsys_train_plays(home->db, started - (int64_t)rc->window_s * 1000, &tc,
					      home->model_path, &info, &err);
	if (ret == 0) {
		KINO_LOG_INFO("trained on %llu interactions in %.1f s; saved %s",
			      (unsigned long long)info.interactions, info.train_seconds,
			      home->model_path);
		/* serve it before saying the training is over */
		if (kino_recsys_model_store_reload(home->store, NULL, &err) != 0)
			KINO_LOG_WARN("the new model was not loaded: %s", kino_error_message(&err));
		view_refresh(home);
	} else {
		KINO_LOG_WARN("training failed: %s", kino_error_message(&err));
	}

	pthread_mutex_lock(&home->lock);
	home->training.finished_at = now_ms();
	home->training.state = ret == 0 ? HOME_TRAINING_IDLE : HOME_TRAINING_FAILED;
	snprintf(home->training.error, sizeof(home->training.error), "%s",
		 ret == 0 ? "" : kino_error_message(&err));
	if (home->schedule && rc->retrain_interval_s > 0)
		home->training.next_at = home->training.finished_at +
					 (int64_t)rc->retrain_interval_s * 1000;
	pthread_mutex_unlock(&home->lock);
	return NULL;
}

/* Starts a training; the lock is held. */
static int training_start_locked(kino_home_t *home)
{
	if (home->training.state == HOME_TRAINING_RUNNING)
		return KINO_ECONFLICT;
	if (home->trainer_joinable) {
		/* the previous one has finished (its state is not RUNNING) */
		pthread_join(home->trainer, NULL);
		home->trainer_joinable = false;
	}
	home->training.state = HOME_TRAINING_RUNNING;
	home->training.started_at = now_ms();
	home->training.error[0] = '\0';
	if (pthread_create(&home->trainer, NULL, trainer_main, home) != 0) {
		home->training.state = HOME_TRAINING_FAILED;
		snprintf(home->training.error, sizeof(home->training.error),
			 "could not start a thread: %s", strerror(errno));
		return KINO_EIO;
	}
	home->trainer_joinable = true;
	return 0;
}

int home_retrain(kino_home_t *home)
{
	int ret;

	pthread_mutex_lock(&home->lock);
	ret = home->stopping ? KINO_EUNAVAIL : training_start_locked(home);
	pthread_mutex_unlock(&home->lock);
	return ret;
}

void home_training_get(kino_home_t *home, home_training_t *out)
{
	pthread_mutex_lock(&home->lock);
	*out = home->training;
	pthread_mutex_unlock(&home->lock);
}

/* ---- the maintenance thread ---- */

/* Keeps the viewers' plays in memory: a full load at first and hourly
 * (plays that left the window go); in between, the plays written since the
 * last look, at most every second and at most a tenth of the time (on
 * FerretDB that read is a scan of `plays`: 0.2 s at a thousand plays on a
 * busy machine). */
static void plays_maintain(kino_home_t *home)
{
	static const int64_t reload_ms = 3600000;
	viewer_plays_stats_t st;
	kino_error_t err = {0};
	int64_t now = now_ms();
	int64_t since = now - (int64_t)home->cfg->recsys.window_s * 1000;
	int64_t gap;

	viewer_plays_stats(home->plays, &st);
	if (!st.ready || now - st.loaded_at >= reload_ms) {
		if (viewer_plays_load(home->plays, home->db, since, &err) != 0) {
			if (st.ready || kino_db_health(home->db, NULL, 0) == KINO_DB_OK)
				KINO_LOG_WARN("viewers' plays not loaded: %s",
					      kino_error_message(&err));
		} else if (!st.ready) {
			viewer_plays_stats(home->plays, &st);
			KINO_LOG_INFO("%zu plays of %zu viewers in memory (%lld ms)", st.plays,
				      st.viewers, (long long)st.refresh_ms);
		}
		return;
	}
	gap = st.refresh_ms * 10 > 1000 ? st.refresh_ms * 10 : 1000;
	if (now - st.refreshed_at < gap)
		return;
	if (viewer_plays_refresh(home->plays, home->db, since, &err) != 0)
		KINO_LOG_WARN("viewers' plays not refreshed: %s", kino_error_message(&err));
}

static void *maint_main(void *arg)
{
	kino_home_t *home = arg;
	int64_t refresh_ms = (int64_t)home->cfg->recsys.refresh_s * 1000;

	view_refresh(home);
	plays_maintain(home);
	pthread_mutex_lock(&home->lock);
	while (!home->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&home->wake, &home->lock, &until);
		if (home->stopping)
			break;
		int64_t now = now_ms();
		if (home->schedule && home->training.next_at > 0 && now >= home->training.next_at &&
		    home->training.state != HOME_TRAINING_RUNNING) {
			home->training.next_at = 0; /* set again when it finishes */
			training_start_locked(home);
		}
		uint64_t seen = home->view != NULL ? home->view->catalog_generation : 0;
		int64_t built = home->view != NULL ? home->view->built_at : 0;
		int64_t cost = home->view != NULL ? home->view->build_ms : 0;
		pthread_mutex_unlock(&home->lock);
		/* A title change is picked up within a second, but a bulk edit
		 * of a large catalog must not turn into back-to-back full reads:
		 * at most a fifth of the time goes to rebuilding. */
		int64_t gap = cost * 5 > 1000 ? cost * 5 : 1000;
		bool edited = kino_catalog_generation(home->catalog) != seen && now - built >= gap;

		bool changed = false;
		kino_error_t err = {0};
		if (kino_recsys_model_store_reload(home->store, &changed, &err) != 0)
			KINO_LOG_WARN("model not reloaded: %s", kino_error_message(&err));
		if (changed)
			KINO_LOG_INFO("serving the model in %s", home->model_path);
		if (changed || built == 0 || now - built >= refresh_ms || edited)
			view_refresh(home);
		plays_maintain(home);
		pthread_mutex_lock(&home->lock);
	}
	pthread_mutex_unlock(&home->lock);
	return NULL;
}

/* ---- the object ---- */

kino_home_t *kino_home_new(kino_db_t *db, kino_auth_t *auth, kino_catalog_t *catalog,
			   const kino_config_t *cfg, bool schedule, kino_error_t *err)
{
	kino_home_t *home;
	struct stat st;

	if (db == NULL || auth == NULL || catalog == NULL || cfg == NULL) {
		kino_error_set(err, KINO_EINVAL, "kino_home_new: missing argument");
		return NULL;
	}
	home = calloc(1, sizeof(*home));
	if (home == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	home->db = db;
	home->auth = auth;
	home->catalog = catalog;
	home->cfg = cfg;
	home->schedule = schedule && cfg->recsys.retrain_interval_s > 0;
	/* Requests score on the HTTP workers, several at once: OpenBLAS's
	 * own threads would only spin (sched_yield) against them and the
	 * database for the cores. Measured: 27% of the server's CPU in
	 * exec_blas_async under wrk before this. */
	openblas_set_num_threads(1);
	pthread_mutex_init(&home->lock, NULL);
	pthread_cond_init(&home->wake, NULL);
	if (cfg->recsys.model[0] != '\0')
		snprintf(home->model_path, sizeof(home->model_path), "%s", cfg->recsys.model);
	else
		snprintf(home->model_path, sizeof(home->model_path), "%s/recsys/model.kals",
			 cfg->data_dir);
	home->store = kino_recsys_model_store_new(home->model_path, err);
	if (home->store == NULL)
		goto fail;
	home->plays = viewer_plays_new(HOME_PLAYS_MAX);
	if (home->plays == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto fail;
	}
	if (home->schedule)
		home->training.next_at =
			now_ms() + (stat(home->model_path, &st) == 0
					    ? (int64_t)cfg->recsys.retrain_interval_s * 1000
					    : FIRST_TRAINING_DELAY_MS);
	return home;
fail:
	kino_home_destroy(home);
	return NULL;
}

int kino_home_start(kino_home_t *home, kino_error_t *err)
{
	char dir[sizeof(home->model_path)];
	char *slash;

	/* the directory the trainings write the model into */
	snprintf(dir, sizeof(dir), "%s", home->model_path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (kino_fs_mkdir_p(dir, 0750) != 0)
			return kino_error_set(err, KINO_EIO, "%s: %s", dir, strerror(errno));
	}
	if (pthread_create(&home->maint, NULL, maint_main, home) != 0)
		return kino_error_set(err, KINO_EIO, "could not start a thread: %s",
				      strerror(errno));
	home->maint_started = true;
	return 0;
}

void kino_home_destroy(kino_home_t *home)
{
	if (home == NULL)
		return;
	pthread_mutex_lock(&home->lock);
	home->stopping = true;
	pthread_cond_signal(&home->wake);
	pthread_mutex_unlock(&home->lock);
	if (home->maint_started)
		pthread_join(home->maint, NULL);
	if (home->trainer_joinable)
		pthread_join(home->trainer, NULL);
	home_view_release(home->view);
	kino_recsys_model_store_destroy(home->store);
	viewer_plays_destroy(home->plays);
	pthread_cond_destroy(&home->wake);
	pthread_mutex_destroy(&home->lock);
	free(home);
}
