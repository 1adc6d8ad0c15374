/* The visible catalog at once: see include/kino/catalog.h. One query for
 * every published title whose window has not ended, each title read with
 * the same code as the catalog's routes and its viewer JSON rendered once,
 * so a caller serving many requests from one snapshot never renders or
 * parses a title again. */
#include "catalog_internal.h"

#include <mongoc/mongoc.h>

#include <stdlib.h>
#include <string.h>

typedef struct entry_mem {
	char *id, *name, *json;
	char **genres;
} entry_mem_t;

struct kino_catalog_snapshot {
	kino_catalog_entry_t *entries;
	entry_mem_t *mem;
	size_t count, cap;
};

void kino_catalog_snapshot_destroy(kino_catalog_snapshot_t *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->count; i++) {
		entry_mem_t *m = &s->mem[i];
		for (size_t g = 0; g < s->entries[i].ngenres; g++)
			free(m->genres[g]);
		free(m->genres);
		free(m->id);
		free(m->name);
		free(m->json);
	}
	free(s->entries);
	free(s->mem);
	free(s);
}

size_t kino_catalog_snapshot_count(const kino_catalog_snapshot_t *s)
{
	return s->count;
}

const kino_catalog_entry_t *kino_catalog_snapshot_entries(const kino_catalog_snapshot_t *s)
{
	return s->entries;
}

bool kino_catalog_entry_visible(const kino_catalog_entry_t *e, int64_t now_ms)
{
	return e->available_from <= now_ms && now_ms < e->available_until;
}

/* Appends t; false when out of memory. */
static bool snapshot_add(kino_catalog_snapshot_t *s, const catalog_title_t *t)
{
	kino_catalog_entry_t *e;
	entry_mem_t *m;
	jbuf_t b;

	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		kino_catalog_entry_t *entries = realloc(s->entries, cap * sizeof(*entries));
		if (entries == NULL)
			return false;
		s->entries = entries;
		entry_mem_t *mem = realloc(s->mem, cap * sizeof(*mem));
		if (mem == NULL)
			return false;
		s->mem = mem;
		s->cap = cap;
	}
	e = &s->entries[s->count];
	m = &s->mem[s->count];
	memset(e, 0, sizeof(*e));
	memset(m, 0, sizeof(*m));
	jbuf_init(&b);
	catalog_title_to_json(t, &b, false);
	m->json = b.failed ? NULL : b.data;
	if (b.failed)
		jbuf_free(&b);
	m->id = strdup(t->id);
	m->name = strdup(t->title);
	m->genres = calloc(t->ngenres ? (size_t)t->ngenres : 1, sizeof(char *));
	/* counted now so that destroy frees whatever was allocated */
	s->count++;
	if (m->json == NULL || m->id == NULL || m->name == NULL || m->genres == NULL)
		return false;
	for (int g = 0; g < t->ngenres; g++) {
		m->genres[g] = strdup(t->genres[g]);
		if (m->genres[g] == NULL)
			return false;
		e->ngenres++;
	}
	e->id = m->id;
	e->name = m->name;
	e->genres = (const char *const *)m->genres;
	e->available_from = t->available_from;
	e->available_until = t->available_until;
	e->released_at = t->available_from > CATALOG_TIME_MIN ? t->available_from : t->created_at;
	e->json = m->json;
	e->json_len = strlen(m->json);
	return true;
}

int kino_catalog_snapshot_new(kino_catalog_t *c, int64_t now_ms, kino_catalog_snapshot_t **out,
			      kino_error_t *err)
{
	kino_catalog_snapshot_t *s = calloc(1, sizeof(*s));
	catalog_title_t *t = malloc(sizeof(*t));
	mongoc_client_t *client = NULL;
	mongoc_collection_t *coll = NULL;
	mongoc_cursor_t *cur = NULL;
	bson_t *filter = NULL, *opts = NULL;
	const bson_t *doc;
	bson_error_t berr;
	int ret = 0;

	*out = NULL;
	if (s == NULL || t == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "out of memory");
		goto out;
	}
	filter = BCON_NEW("published", BCON_BOOL(true), "available_until", "{", "$gt",
			  BCON_DATE_TIME(now_ms), "}");
	opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "projection", "{", "search",
			BCON_INT32(0), "genres_lc", BCON_INT32(0), "}");
	client = kino_db_client_pop(c->db);
	coll = catalog_collection(c, client, "titles");
	cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		catalog_title_from_bson(t, doc);
		if (!snapshot_add(s, t)) {
			ret = kino_error_set(err, KINO_ENOMEM, "out of memory for %zu titles",
					     s->count);
			goto out;
		}
	}
	if (mongoc_cursor_error(cur, &berr))
		ret = catalog_db_error(c, err, "reading the catalog", &berr);
out:
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	if (client != NULL)
		kino_db_client_push(c->db, client);
	bson_destroy(opts);
	bson_destroy(filter);
	free(t);
	if (ret == 0)
		*out = s;
	else
		kino_catalog_snapshot_destroy(s);
	return ret;
}

uint64_t kino_catalog_generation(kino_catalog_t *c)
{
	return atomic_load(&c->generation);
}
