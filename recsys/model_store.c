/* Serving a model file to many threads, with reloads that drop nothing:
 * see the "serving a model" part of include/kino/recsys.h.
 *
 * Each loaded model sits in a holder with a reference count. The store
 * points at the current holder under a mutex held only for a pointer copy
 * and an increment, so requests never wait for a load: the load happens
 * outside the lock and only the swap is inside it. A holder replaced by a
 * reload is freed by whoever drops its last reference. */
#include "kino/error.h"
#include "kino/recsys.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct kino_recsys_model_ref {
	kino_recsys_model_t *model;
	atomic_int refs; /* the store's own reference counts as one */
};

struct kino_recsys_model_store {
	char *path;
	pthread_mutex_t lock;          /* guards current and the file identity */
	pthread_mutex_t reload_lock;   /* one reload at a time */
	kino_recsys_model_ref_t *current;
	struct stat seen;              /* of the file current came from */
	bool have_seen;
};

static void ref_drop(kino_recsys_model_ref_t *ref)
{
	if (ref != NULL && atomic_fetch_sub(&ref->refs, 1) == 1) {
		kino_recsys_model_destroy(ref->model);
		free(ref);
	}
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int kino_recsys_model_store_reload(kino_recsys_model_store_t *store, bool *changed,
				   kino_error_t *err)
{
	kino_recsys_model_ref_t *fresh = NULL, *old = NULL;
	kino_recsys_model_t *model = NULL;
	struct stat st;
	int ret = 0;

	if (changed != NULL)
		*changed = false;
	pthread_mutex_lock(&store->reload_lock);
	if (stat(store->path, &st) != 0) {
		/* No file (yet): keep serving whatever is loaded. */
		if (errno != ENOENT)
			ret = kino_error_set(err, KINO_EIO, "%s: %s", store->path, strerror(errno));
		goto out;
	}
	pthread_mutex_lock(&store->lock);
	bool unchanged = store->have_seen && same_file(&st, &store->seen);
	pthread_mutex_unlock(&store->lock);
	if (unchanged)
		goto out;
	/* Loaded outside the lock: requests keep the old model meanwhile. */
	ret = kino_recsys_model_load(store->path, &model, err);
	if (ret != 0)
		goto out;
	fresh = calloc(1, sizeof(*fresh));
	if (fresh == NULL) {
		kino_recsys_model_destroy(model);
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto out;
	}
	fresh->model = model;
	atomic_init(&fresh->refs, 1);
	pthread_mutex_lock(&store->lock);
	old = store->current;
	store->current = fresh;
	store->seen = st;
	store->have_seen = true;
	pthread_mutex_unlock(&store->lock);
	ref_drop(old); /* freed now, or by its last reader */
	if (changed != NULL)
		*changed = true;
out:
	pthread_mutex_unlock(&store->reload_lock);
	return ret;
}

kino_recsys_model_store_t *kino_recsys_model_store_new(const char *path, kino_error_t *err)
{
	kino_recsys_model_store_t *store = calloc(1, sizeof(*store));

	if (store == NULL || (store->path = strdup(path)) == NULL) {
		free(store);
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&store->lock, NULL);
	pthread_mutex_init(&store->reload_lock, NULL);
	if (kino_recsys_model_store_reload(store, NULL, err) != 0) {
		kino_recsys_model_store_destroy(store);
		return NULL;
	}
	return store;
}

void kino_recsys_model_store_destroy(kino_recsys_model_store_t *store)
{
	if (store == NULL)
		return;
	ref_drop(store->current);
	pthread_mutex_destroy(&store->lock);
	pthread_mutex_destroy(&store->reload_lock);
	free(store->path);
	free(store);
}

kino_recsys_model_ref_t *kino_recsys_model_store_acquire(kino_recsys_model_store_t *store)
{
	kino_recsys_model_ref_t *ref;

	pthread_mutex_lock(&store->lock);
	ref = store->current;
	if (ref != NULL)
		atomic_fetch_add(&ref->refs, 1);
	pthread_mutex_unlock(&store->lock);
	return ref;
}

const kino_recsys_model_t *kino_recsys_model_ref_model(const kino_recsys_model_ref_t *ref)
{
	return ref->model;
}

void kino_recsys_model_store_release(kino_recsys_model_store_t *store,
				     kino_recsys_model_ref_t *ref)
{
	(void)store;
	ref_drop(ref);
}
