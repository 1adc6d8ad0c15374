/* A bounded FIFO of decoded frames between the one decoder thread and one
 * encoder thread. The bound is what keeps a job's memory flat whatever the
 * input's length: the decoder blocks when an encoder falls behind. Frames
 * are references (av_frame_clone), so N renditions share one decoded
 * picture. A consumer that fails marks the queue failed, which unblocks
 * the producer instead of leaving it waiting on a full queue forever. */
#include "ingest_internal.h"

#include <libavutil/frame.h>

#include <pthread.h>
#include <stdlib.h>

struct kino_frame_queue {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	AVFrame **ring;
	size_t cap, head, count;
	bool closed; /* producer: no more frames */
	bool failed; /* consumer: no more wanted */
};

int kino_frame_queue_new(size_t cap, kino_frame_queue_t **out)
{
	kino_frame_queue_t *q = calloc(1, sizeof(*q));

	*out = NULL;
	if (q == NULL || (q->ring = calloc(cap, sizeof(*q->ring))) == NULL) {
		free(q);
		return KINO_ENOMEM;
	}
	q->cap = cap;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->changed, NULL);
	*out = q;
	return 0;
}

static void drain_locked(kino_frame_queue_t *q)
{
	while (q->count > 0) {
		av_frame_free(&q->ring[q->head]);
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
}

void kino_frame_queue_destroy(kino_frame_queue_t **qp)
{
	kino_frame_queue_t *q = qp ? *qp : NULL;

	if (q == NULL)
		return;
	drain_locked(q);
	pthread_cond_destroy(&q->changed);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
	*qp = NULL;
}

int kino_frame_queue_push(kino_frame_queue_t *q, AVFrame *frame)
{
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	while (q->count == q->cap && !q->failed)
		pthread_cond_wait(&q->changed, &q->lock);
	if (q->failed) {
		av_frame_free(&frame); /* ownership was ours to drop */
		ret = KINO_ECANCELED;
	} else {
		q->ring[(q->head + q->count) % q->cap] = frame;
		q->count++;
		pthread_cond_broadcast(&q->changed);
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

void kino_frame_queue_close(kino_frame_queue_t *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->changed);
	pthread_mutex_unlock(&q->lock);
}

void kino_frame_queue_fail(kino_frame_queue_t *q)
{
	pthread_mutex_lock(&q->lock);
	q->failed = true;
	drain_locked(q);
	pthread_cond_broadcast(&q->changed);
	pthread_mutex_unlock(&q->lock);
}

AVFrame *kino_frame_queue_pop(kino_frame_queue_t *q)
{
	AVFrame *f = NULL;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->closed && !q->failed)
		pthread_cond_wait(&q->changed, &q->lock);
	if (q->count > 0 && !q->failed) {
		f = q->ring[q->head];
		q->ring[q->head] = NULL;
		q->head = (q->head + 1) % q->cap;
		q->count--;
		pthread_cond_broadcast(&q->changed);
	}
	pthread_mutex_unlock(&q->lock);
	return f;
}
