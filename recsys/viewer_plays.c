/* Every viewer's recent plays, in memory (recsys/viewer_plays.h).
 *
 * A hash table of viewers (open addressing, linear probing, at most half
 * full), each with an array of plays kept newest first by start and capped
 * at per_viewer. A load builds a new table off the lock and swaps it in; a
 * refresh reads the changed plays off the lock and applies them under the
 * write lock, so a reader waits at most for that apply. */
#define KINO_LOG_MODULE "home"

#include "viewer_plays.h"
#include "recsys_internal.h"

#include "kino/log.h"

#include <bson/bson.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A write lands in `plays` some time after telemetry stamped its
 * updated_at; a refresh reads back this far before the last one began. */
#define REFRESH_OVERLAP_MS 10000

typedef struct vp_play {
	uint64_t key;
	int64_t started_at, last_at;
	kino_recsys_play_t play;
	char title[KINO_RECSYS_KEY_MAX + 1];
} vp_play_t;

typedef struct vp_viewer {
	char id[KINO_RECSYS_KEY_MAX + 1];
	uint32_t n, cap;
	vp_play_t *plays; /* newest first by started_at */
} vp_viewer_t;

typedef struct table {
	vp_viewer_t **slots; /* cap, a power of two; NULL: empty */
	size_t cap, viewers, plays;
} table_t;

struct viewer_plays {
	pthread_rwlock_t lock; /* guards t and the stats */
	size_t per_viewer;
	table_t *t;            /* NULL until the first load */
	int64_t watermark;     /* the next refresh reads updated_at >= this */
	int64_t loaded_at, refreshed_at, refresh_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t str_hash(const char *s)
{
	return recsys_fnv1a(s, strlen(s));
}

/* ---- the table ---- */

static void table_free(table_t *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->slots[i] != NULL) {
			free(t->slots[i]->plays);
			free(t->slots[i]);
		}
	}
	free(t->slots);
	free(t);
}

static table_t *table_new(void)
{
	table_t *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->cap = 1024;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (t->slots == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

static vp_viewer_t **table_slot(vp_viewer_t **slots, size_t cap, const char *id)
{
	size_t i = (size_t)str_hash(id) & (cap - 1);

	while (slots[i] != NULL && strcmp(slots[i]->id, id) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static int table_grow(table_t *t)
{
	size_t cap = t->cap * 2;
	vp_viewer_t **slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return KINO_ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			*table_slot(slots, cap, t->slots[i]->id) = t->slots[i];
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

static vp_viewer_t *table_viewer(table_t *t, const char *id, bool add)
{
	vp_viewer_t **slot = table_slot(t->slots, t->cap, id);

	if (*slot != NULL || !add)
		return *slot;
	if ((t->viewers + 1) * 2 > t->cap) {
		if (table_grow(t) != 0)
			return NULL;
		slot = table_slot(t->slots, t->cap, id);
	}
	*slot = calloc(1, sizeof(**slot));
	if (*slot == NULL)
		return NULL;
	snprintf((*slot)->id, sizeof((*slot)->id), "%s", id);
	t->viewers++;
	return *slot;
}

/* Puts a play in its viewer's list (replacing the one with the same _id),
 * newest first, keeping at most max. */
static int table_put(table_t *t, const recsys_play_doc_t *p, size_t max)
{
	vp_viewer_t *v;
	uint32_t pos = 0;

	if (p->viewer[0] == '\0' || p->title[0] == '\0')
		return 0;
	v = table_viewer(t, p->viewer, true);
	if (v == NULL)
		return KINO_ENOMEM;
	for (uint32_t i = 0; i < v->n; i++) {
		if (v->plays[i].key == p->key) {
			memmove(&v->plays[i], &v->plays[i + 1], (v->n - i - 1) * sizeof(*v->plays));
			v->n--;
			t->plays--;
			break;
		}
	}
	while (pos < v->n && v->plays[pos].started_at >= p->started_at)
		pos++;
	if (v->n >= max) {
		if (pos >= v->n)
			return 0; /* older than every play kept */
		v->n--;       /* the oldest goes */
		t->plays--;
	}
	if (v->n == v->cap) {
		uint32_t cap = v->cap ? v->cap * 2 : 4;
		vp_play_t *plays = realloc(v->plays, cap * sizeof(*plays));
		if (plays == NULL)
			return KINO_ENOMEM;
		v->plays = plays;
		v->cap = cap;
	}
	memmove(&v->plays[pos + 1], &v->plays[pos], (v->n - pos) * sizeof(*v->plays));
	v->plays[pos] = (vp_play_t){.key = p->key, .started_at = p->started_at,
				    .last_at = p->last_at, .play = p->play};
	memcpy(v->plays[pos].title, p->title, sizeof(v->plays[pos].title));
	v->n++;
	t->plays++;
	return 0;
}

/* ---- the index ---- */

viewer_plays_t *viewer_plays_new(size_t per_viewer)
{
	viewer_plays_t *vp = calloc(1, sizeof(*vp));

	if (vp == NULL)
		return NULL;
	pthread_rwlock_init(&vp->lock, NULL);
	vp->per_viewer = per_viewer ? per_viewer : 1;
	return vp;
}

void viewer_plays_destroy(viewer_plays_t *vp)
{
	if (vp == NULL)
		return;
	table_free(vp->t);
	pthread_rwlock_destroy(&vp->lock);
	free(vp);
}

int viewer_plays_load(viewer_plays_t *vp, kino_db_t *db, int64_t since, kino_error_t *err)
{
	int64_t start = now_ms();
	bson_t *filter = BCON_NEW("started_at", "{", "$gte", BCON_DATE_TIME(since), "}");
	recsys_play_rows_t r = {0};
	table_t *t = NULL, *old;
	int ret = recsys_plays_collect(db, filter, since, &r, "loading the viewers' plays", err);

	bson_destroy(filter);
	if (ret == 0 && (t = table_new()) == NULL)
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
	for (size_t i = 0; ret == 0 && i < r.n; i++)
		if (table_put(t, &r.rows[i], vp->per_viewer) != 0)
			ret = kino_error_set(err, KINO_ENOMEM, "out of memory after %zu plays", i);
	free(r.rows);
	if (ret != 0) {
		table_free(t);
		return ret;
	}
	pthread_rwlock_wrlock(&vp->lock);
	old = vp->t;
	vp->t = t;
	vp->watermark = start - REFRESH_OVERLAP_MS;
	vp->loaded_at = vp->refreshed_at = now_ms();
	vp->refresh_ms = vp->loaded_at - start;
	pthread_rwlock_unlock(&vp->lock);
	table_free(old);
	return 0;
}

int viewer_plays_refresh(viewer_plays_t *vp, kino_db_t *db, int64_t since, kino_error_t *err)
{
	int64_t start = now_ms();
	bson_t *filter;
	recsys_play_rows_t r = {0};
	int ret;

	/* only this thread writes t and watermark: reading them unlocked is
	 * safe here */
	if (vp->t == NULL)
		return 0;
	filter = BCON_NEW("updated_at", "{", "$gte", BCON_DATE_TIME(vp->watermark), "}");
	ret = recsys_plays_collect(db, filter, since, &r, "reading the plays written lately",
				   err);
	bson_destroy(filter);
	if (ret != 0) {
		free(r.rows);
		return ret;
	}
	pthread_rwlock_wrlock(&vp->lock);
	for (size_t i = 0; i < r.n && ret == 0; i++)
		if (table_put(vp->t, &r.rows[i], vp->per_viewer) != 0)
			ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
	if (ret == 0) {
		vp->watermark = start - REFRESH_OVERLAP_MS;
		vp->refreshed_at = now_ms();
		vp->refresh_ms = vp->refreshed_at - start;
	}
	pthread_rwlock_unlock(&vp->lock);
	free(r.rows);
	return ret;
}

bool viewer_plays_get(viewer_plays_t *vp, const char *viewer, recsys_play_doc_t *out,
		      size_t max, size_t *n)
{
	const vp_viewer_t *v;
	bool ready;

	*n = 0;
	pthread_rwlock_rdlock(&vp->lock);
	ready = vp->t != NULL;
	v = ready ? table_viewer(vp->t, viewer, false) : NULL;
	for (uint32_t i = 0; v != NULL && i < v->n && *n < max; i++) {
		const vp_play_t *p = &v->plays[i];
		recsys_play_doc_t *d = &out[(*n)++];
		memset(d, 0, sizeof(*d));
		memcpy(d->viewer, v->id, sizeof(d->viewer));
		memcpy(d->title, p->title, sizeof(d->title));
		d->play = p->play;
		d->started_at = p->started_at;
		d->last_at = p->last_at;
		d->key = p->key;
	}
	pthread_rwlock_unlock(&vp->lock);
	return ready;
}

void viewer_plays_stats(viewer_plays_t *vp, viewer_plays_stats_t *out)
{
	pthread_rwlock_rdlock(&vp->lock);
	*out = (viewer_plays_stats_t){
		.ready = vp->t != NULL,
		.viewers = vp->t != NULL ? vp->t->viewers : 0,
		.plays = vp->t != NULL ? vp->t->plays : 0,
		.loaded_at = vp->loaded_at,
		.refreshed_at = vp->refreshed_at,
		.refresh_ms = vp->refresh_ms,
	};
	pthread_rwlock_unlock(&vp->lock);
}
