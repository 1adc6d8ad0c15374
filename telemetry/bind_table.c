/* The sessions a collector has bound: session_id -> the title, asset and
 * device of its accepted session_start. Bounded: entries are reused
 * oldest first (a forgotten session is looked up in MongoDB again), so
 * memory stays at bind_capacity entries whatever players send. Chained
 * hashing over a fixed array; one mutex, held for a lookup or an insert.
 * Any thread. */
#include "telemetry_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t telemetry_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int binds_init(bind_table_t *t, int cap)
{
	pthread_mutex_init(&t->mu, NULL);
	t->cap = cap > 0 ? cap : 1;
	t->nheads = 1;
	while (t->nheads < 2 * t->cap)
		t->nheads <<= 1;
	t->e = calloc((size_t)t->cap, sizeof(*t->e));
	t->heads = malloc((size_t)t->nheads * sizeof(int));
	if (t->e == NULL || t->heads == NULL)
		return KINO_ENOMEM;
	for (int i = 0; i < t->nheads; i++)
		t->heads[i] = -1;
	return 0;
}

void binds_free(bind_table_t *t)
{
	if (t->cap > 0)
		pthread_mutex_destroy(&t->mu);
	free(t->e);
	free(t->heads);
}

/* Under t->mu: the entry of sid, or -1. */
static int binds_find(bind_table_t *t, const char *sid)
{
	for (int i = t->heads[telemetry_hash(sid) & (t->nheads - 1)]; i >= 0; i = t->e[i].next) {
		if (strcmp(t->e[i].sid, sid) == 0)
			return i;
	}
	return -1;
}

void binds_put(bind_table_t *t, const beacon_t *b)
{
	int i, *pp;
	uint32_t h;

	pthread_mutex_lock(&t->mu);
	i = binds_find(t, b->session_id);
	if (i < 0) {
		i = t->clock;
		t->clock = (t->clock + 1) % t->cap;
		if (t->e[i].used) { /* evict the oldest: unlink it from its chain */
			for (pp = &t->heads[telemetry_hash(t->e[i].sid) & (t->nheads - 1)]; *pp >= 0;
			     pp = &t->e[*pp].next) {
				if (*pp == i) {
					*pp = t->e[i].next;
					break;
				}
			}
		}
		h = telemetry_hash(b->session_id) & (t->nheads - 1);
		t->e[i].used = true;
		t->e[i].next = t->heads[h];
		t->heads[h] = i;
	}
	snprintf(t->e[i].sid, sizeof(t->e[i].sid), "%s", b->session_id);
	snprintf(t->e[i].title_id, sizeof(t->e[i].title_id), "%s", b->title_id);
	snprintf(t->e[i].asset_id, sizeof(t->e[i].asset_id), "%s", b->asset_id);
	snprintf(t->e[i].device, sizeof(t->e[i].device), "%s", b->device);
	pthread_mutex_unlock(&t->mu);
}

/* Copies the binding of b's session into b; false when unknown. */
bool binds_get(bind_table_t *t, beacon_t *b)
{
	int i;

	pthread_mutex_lock(&t->mu);
	i = binds_find(t, b->session_id);
	if (i >= 0) {
		snprintf(b->title_id, sizeof(b->title_id), "%s", t->e[i].title_id);
		snprintf(b->asset_id, sizeof(b->asset_id), "%s", t->e[i].asset_id);
		snprintf(b->device, sizeof(b->device), "%s", t->e[i].device);
	}
	pthread_mutex_unlock(&t->mu);
	return i >= 0;
}
