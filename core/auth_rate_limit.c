/* Fixed-window counters for the sign-in rate limit, in memory, per process.
 * With several `kino serve` behind a load balancer each keeps its own
 * counts, so the effective limit is the configured one times the number of
 * instances (documented in docs/OPERATIONS.md). */
#include "auth_internal.h"

#include <stdio.h>
#include <string.h>

static unsigned slot_of(const char *key)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % RATE_SLOTS;
}

void rate_init(rate_limiter_t *rl, int window_ms)
{
	memset(rl->slots, 0, sizeof(rl->slots));
	rl->window_ms = window_ms;
	pthread_mutex_init(&rl->lock, NULL);
}

void rate_destroy(rate_limiter_t *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

/* With the lock held: the key's slot, reset when it holds another key or an
 * expired window. */
static rate_slot_t *slot_current(rate_limiter_t *rl, const char *key, int64_t now_ms)
{
	rate_slot_t *s = &rl->slots[slot_of(key)];

	if (strncmp(s->key, key, sizeof(s->key)) != 0 ||
	    now_ms - s->window_start_ms >= rl->window_ms) {
		snprintf(s->key, sizeof(s->key), "%s", key);
		s->window_start_ms = now_ms;
		s->count = 0;
	}
	return s;
}

int rate_peek(rate_limiter_t *rl, const char *key, int64_t now_ms, int *retry_ms)
{
	rate_slot_t *s;
	int count;

	pthread_mutex_lock(&rl->lock);
	s = slot_current(rl, key, now_ms);
	count = s->count;
	if (retry_ms != NULL)
		*retry_ms = (int)(s->window_start_ms + rl->window_ms - now_ms);
	pthread_mutex_unlock(&rl->lock);
	return count;
}

void rate_hit(rate_limiter_t *rl, const char *key, int64_t now_ms)
{
	pthread_mutex_lock(&rl->lock);
	slot_current(rl, key, now_ms)->count++;
	pthread_mutex_unlock(&rl->lock);
}

void rate_reset(rate_limiter_t *rl, const char *key)
{
	rate_slot_t *s;

	pthread_mutex_lock(&rl->lock);
	s = &rl->slots[slot_of(key)];
	if (strncmp(s->key, key, sizeof(s->key)) == 0)
		s->count = 0;
	pthread_mutex_unlock(&rl->lock);
}
