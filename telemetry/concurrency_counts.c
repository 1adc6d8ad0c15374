/* One writer's concurrent-viewer counts: how many plays it saw in each
 * (minute, title, device), each kept in a `concurrency` document that only
 * this writer writes, with the absolute count.
 *
 * Why a document per writer rather than one $inc'd by all: FerretDB v1.24
 * runs an update as a read, a change in Go and a write back, with nothing
 * holding the document between them, so two writers $inc'ing the same one
 * at once lose one of the increments (and two creating it at once get
 * E11000); it also stops an update command at its first error without
 * saying which of the earlier updates applied, so retrying $inc's could
 * count twice. A document that one writer owns has no race, and a $set of
 * the absolute count is the same on a retry. Reports sum the documents of
 * a minute (report.c). Its _id is "<minute ms>|<title>|<device>|<owner>.<n>":
 * the owner names the collector (random per process) and the writer, and n
 * numbers the counts the writer has made, so a count forgotten (pruned)
 * and begun again by a late beacon gets a document of its own rather than
 * overwriting the first. */
#include "telemetry_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONC_BUCKETS 1024 /* a power of two */
/* Clean counts this far behind the newest minute counted are forgotten. */
#define CONC_KEEP_MS (10 * 60000)

static uint32_t key_hash(int64_t minute, const char *title, const char *device)
{
	char key[32];

	snprintf(key, sizeof(key), "%lld", (long long)minute);
	return telemetry_hash(key) ^ (telemetry_hash(title) * 31u) ^ (telemetry_hash(device) * 131u);
}

int conc_counts_init(conc_counts_t *cc, const char *owner)
{
	*cc = (conc_counts_t){0};
	cc->buckets = malloc(CONC_BUCKETS * sizeof(*cc->buckets));
	if (cc->buckets == NULL)
		return -1;
	for (int i = 0; i < CONC_BUCKETS; i++)
		cc->buckets[i] = -1;
	snprintf(cc->owner, sizeof(cc->owner), "%s", owner);
	return 0;
}

void conc_counts_free(conc_counts_t *cc)
{
	free(cc->e);
	free(cc->buckets);
	*cc = (conc_counts_t){0};
}

static void rehash(conc_counts_t *cc)
{
	for (int i = 0; i < CONC_BUCKETS; i++)
		cc->buckets[i] = -1;
	for (int i = 0; i < cc->n; i++) {
		conc_entry_t *e = &cc->e[i];
		uint32_t h = key_hash(e->minute, e->title_id, e->device) & (CONC_BUCKETS - 1);
		e->next = cc->buckets[h];
		cc->buckets[h] = i;
	}
}

int conc_counts_add(conc_counts_t *cc, int64_t minute, const char *title, const char *device)
{
	uint32_t h = key_hash(minute, title, device) & (CONC_BUCKETS - 1);
	conc_entry_t *e;

	for (int i = cc->buckets[h]; i >= 0; i = cc->e[i].next) {
		e = &cc->e[i];
		if (e->minute == minute && strcmp(e->title_id, title) == 0 &&
		    strcmp(e->device, device) == 0) {
			e->viewers++;
			e->dirty = true;
			return 0;
		}
	}
	if (cc->n == cc->cap) {
		int cap = cc->cap ? cc->cap * 2 : 64;
		conc_entry_t *n = realloc(cc->e, (size_t)cap * sizeof(*n));
		if (n == NULL)
			return -1;
		cc->e = n;
		cc->cap = cap;
	}
	e = &cc->e[cc->n];
	*e = (conc_entry_t){.minute = minute, .viewers = 1, .dirty = true, .next = cc->buckets[h]};
	snprintf(e->title_id, sizeof(e->title_id), "%s", title);
	snprintf(e->device, sizeof(e->device), "%s", device);
	snprintf(e->id, sizeof(e->id), "%lld|%s|%s|%s.%llu", (long long)minute, title, device,
		 cc->owner, ++cc->serial);
	cc->buckets[h] = cc->n++;
	if (minute > cc->newest)
		cc->newest = minute;
	return 0;
}

int conc_counts_dirty(conc_counts_t *cc, conc_entry_t **out, int max)
{
	int n = 0;

	for (int i = 0; i < cc->n && n < max; i++) {
		if (cc->e[i].dirty)
			out[n++] = &cc->e[i];
	}
	return n;
}

bool conc_counts_pending(const conc_counts_t *cc)
{
	for (int i = 0; i < cc->n; i++) {
		if (cc->e[i].dirty)
			return true;
	}
	return false;
}

void conc_counts_written(conc_counts_t *cc, conc_entry_t *const *done, int n)
{
	int kept = 0;

	for (int i = 0; i < n; i++)
		done[i]->dirty = false;
	for (int i = 0; i < cc->n; i++) {
		if (cc->e[i].dirty || cc->e[i].minute >= cc->newest - CONC_KEEP_MS)
			cc->e[kept++] = cc->e[i];
	}
	if (kept != cc->n) {
		cc->n = kept;
		rehash(cc);
	}
}
