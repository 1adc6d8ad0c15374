/* bench/home's catalog seeder: N published titles bulk-inserted straight
 * into the `titles` collection, each validated and encoded by the catalog's
 * own code (catalog_title_apply_json, catalog_title_to_bson), so the
 * documents are exactly what POST /api/v1/admin/titles + publish store.
 * Going through the API would take most of an hour on FerretDB for 10,000
 * titles: every conditional update there scans the collection.
 *
 *   kino_home_seed_titles MONGO_URI DATABASE COUNT ASSET_ID */
#include "catalog_internal.h"

#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const genres[] = {
	"Action", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary",
	"Drama", "Family", "Fantasy", "History", "Horror", "Music", "Mystery", "Romance",
	"Science", "Sport", "Thriller", "War", "Western"};

int main(int argc, char **argv)
{
	mongoc_client_t *cl;
	mongoc_collection_t *coll;
	catalog_title_t *t = malloc(sizeof(*t));
	kino_error_t err = {0};
	bson_error_t berr;
	int n, batch = 500;
	unsigned seed = 1;
	int64_t now = (int64_t)time(NULL) * 1000;

	if (argc != 5 || (n = atoi(argv[3])) <= 0 || t == NULL) {
		fprintf(stderr, "usage: %s MONGO_URI DATABASE COUNT ASSET_ID\n", argv[0]);
		return 2;
	}
	mongoc_init();
	cl = mongoc_client_new(argv[1]);
	if (cl == NULL) {
		fprintf(stderr, "bad URI %s\n", argv[1]);
		return 2;
	}
	coll = mongoc_client_get_collection(cl, argv[2], "titles");
	for (int done = 0; done < n;) {
		bson_t **docs = calloc((size_t)batch, sizeof(*docs));
		int k = 0;
		for (; k < batch && done + k < n; k++) {
			char json[1024], g[200];
			int ng = 1 + (int)(rand_r(&seed) % 3);
			g[0] = '\0';
			for (int j = 0; j < ng; j++)
				snprintf(g + strlen(g), sizeof(g) - strlen(g), "%s\"%s\"", j ? "," : "",
					 genres[rand_r(&seed) % 20]);
			snprintf(json, sizeof(json),
				 "{\"title\":\"Bench Title %05d\",\"tier\":\"free\",\"asset_id\":\"%s\","
				 "\"genres\":[%s],\"year\":%d,\"synopsis\":\"A title of the home screen "
				 "benchmark.\",\"available_from\":\"2026-%02d-%02dT00:00:00Z\"}",
				 done + k, argv[4], g, 1950 + (int)(rand_r(&seed) % 77),
				 1 + (int)(rand_r(&seed) % 10), 1 + (int)(rand_r(&seed) % 28));
			bson_t parsed;
			bson_oid_t oid;
			if (!bson_init_from_json(&parsed, json, -1, &berr)) {
				fprintf(stderr, "%s\n", berr.message);
				return 1;
			}
			catalog_title_init(t);
			if (catalog_title_apply_json(t, &parsed, true, &err) != 0) {
				fprintf(stderr, "%s\n", kino_error_message(&err));
				return 1;
			}
			bson_destroy(&parsed);
			t->published = true;
			docs[k] = bson_new();
			bson_oid_init(&oid, NULL);
			BSON_APPEND_OID(docs[k], "_id", &oid);
			catalog_title_to_bson(t, docs[k]);
			BSON_APPEND_DATE_TIME(docs[k], "created_at", now + done + k);
			BSON_APPEND_DATE_TIME(docs[k], "updated_at", now + done + k);
		}
		if (!mongoc_collection_insert_many(coll, (const bson_t **)docs, (size_t)k, NULL,
						   NULL, &berr)) {
			fprintf(stderr, "insert: %s\n", berr.message);
			return 1;
		}
		for (int j = 0; j < k; j++)
			bson_destroy(docs[j]);
		free(docs);
		done += k;
	}
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(cl);
	mongoc_cleanup();
	free(t);
	return 0;
}
