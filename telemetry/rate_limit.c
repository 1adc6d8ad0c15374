/* Flood protection: a token bucket per client address, so that one client
 * cannot starve the others. RATE_SLOTS buckets in an open-addressed table;
 * a new address takes the stalest bucket of its probe window, so memory is
 * fixed and an attacker with many addresses only evicts idle ones. One
 * mutex, held for one update. Any thread. */
#include "telemetry_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE_SLOTS 4096
#define RATE_PROBE 8

int flood_init(flood_table_t *t)
{
	t->slots = calloc(RATE_SLOTS, sizeof(*t->slots));
	if (t->slots == NULL)
		return KINO_ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	return 0;
}

void flood_free(flood_table_t *t)
{
	if (t->slots != NULL)
		pthread_mutex_destroy(&t->mu);
	free(t->slots);
}

bool flood_allow(flood_table_t *t, int per_s, int burst, const char *client, int64_t now)
{
	uint32_t h = telemetry_hash(client);
	flood_slot_t *s = NULL, *oldest = NULL;
	bool ok;

	if (per_s <= 0)
		return true;
	pthread_mutex_lock(&t->mu);
	for (int i = 0; i < RATE_PROBE; i++) {
		flood_slot_t *r = &t->slots[(h + (uint32_t)i) % RATE_SLOTS];
		if (strcmp(r->client, client) == 0) {
			s = r;
			break;
		}
		if (oldest == NULL || r->last_ms < oldest->last_ms)
			oldest = r;
	}
	if (s == NULL) { /* a new address takes the stalest slot of its probe window */
		s = oldest;
		snprintf(s->client, sizeof(s->client), "%s", client);
		s->tokens = (double)burst;
		s->last_ms = now;
	}
	s->tokens += (double)(now - s->last_ms) * (double)per_s / 1000.0;
	if (s->tokens > (double)burst)
		s->tokens = (double)burst;
	s->last_ms = now;
	ok = s->tokens >= 1.0;
	if (ok)
		s->tokens -= 1.0;
	pthread_mutex_unlock(&t->mu);
	return ok;
}
