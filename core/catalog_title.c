/* A title's fields: what an admin may send, what MongoDB stores, what the
 * API answers. Pure (no database, no disk), so the rules are unit-tested
 * alone; the asset's existence is checked by the routes, which read disk.
 *
 * Bounds count characters (UTF-8 code points), not bytes, so that a title
 * in any script has the same room; the buffers hold 4 bytes per character. */
#include "catalog_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void catalog_title_init(catalog_title_t *t)
{
	memset(t, 0, sizeof(*t));
	t->tier = KINO_PLAN_FREE;
	t->available_from = CATALOG_TIME_MIN;
	t->available_until = CATALOG_TIME_MAX;
}

void catalog_lower(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	if (size == 0)
		return;
	for (; src[i] != '\0' && i + 1 < size; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] - 'A' + 'a') : src[i];
	dst[i] = '\0';
}

/* ---- validation ---- */

/* The number of code points of a valid UTF-8 string. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* A text field: UTF-8, no control characters but (when `multiline`) line
 * breaks and tabs, at most max characters, non-blank when `required`. */
static int text_check(const char *field, const char *v, uint32_t len, size_t max,
		      bool required, bool multiline, kino_error_t *err)
{
	bool blank = true;

	if (!bson_utf8_validate(v, len, false))
		return kino_error_set(err, KINO_EINVAL, "%s: not valid UTF-8", field);
	for (uint32_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch < 0x20 || ch == 0x7f) {
			if (!(multiline && (ch == '\n' || ch == '\r' || ch == '\t')))
				return kino_error_set(err, KINO_EINVAL,
						      "%s: control characters are not allowed",
						      field);
		}
		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
			blank = false;
	}
	if (required && blank)
		return kino_error_set(err, KINO_EINVAL, "%s: must not be empty", field);
	if (utf8_chars(v) > max)
		return kino_error_set(err, KINO_EINVAL, "%s: at most %zu characters", field, max);
	return 0;
}

static int string_field(bson_iter_t *it, const char *field, char *out, size_t size, size_t max,
			bool required, bool multiline, kino_error_t *err)
{
	uint32_t len;
	const char *v;
	int ret;

	if (!BSON_ITER_HOLDS_UTF8(it))
		return kino_error_set(err, KINO_EINVAL, "%s: must be a string", field);
	v = bson_iter_utf8(it, &len);
	ret = text_check(field, v, len, max, required, multiline, err);
	if (ret == 0 && len >= size)
		ret = kino_error_set(err, KINO_EINVAL, "%s: too long", field);
	if (ret == 0)
		memcpy(out, v, (size_t)len + 1);
	return ret;
}

/* An array of non-empty strings into rows of `stride` bytes. */
static int string_array(bson_iter_t *it, const char *field, char *rows, size_t stride,
			int max_items, size_t max_chars, int *n, kino_error_t *err)
{
	bson_iter_t child;
	char name[64];
	int count = 0, ret = 0;

	if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &child))
		return kino_error_set(err, KINO_EINVAL, "%s: must be an array of strings", field);
	while (bson_iter_next(&child)) {
		if (count >= max_items)
			return kino_error_set(err, KINO_EINVAL, "%s: at most %d items", field,
					      max_items);
		snprintf(name, sizeof(name), "%s[%d]", field, count);
		ret = string_field(&child, name, rows + (size_t)count * stride, stride, max_chars,
				   true, false, err);
		if (ret != 0)
			return ret;
		count++;
	}
	*n = count;
	return 0;
}

static int time_field(bson_iter_t *it, const char *field, int64_t open_value, int64_t *out,
		      kino_error_t *err)
{
	if (BSON_ITER_HOLDS_NULL(it)) {
		*out = open_value;
		return 0;
	}
	if (!BSON_ITER_HOLDS_UTF8(it) || !catalog_time_parse(bson_iter_utf8(it, NULL), out))
		return kino_error_set(err, KINO_EINVAL,
				      "%s: an ISO-8601 date or time (\"2026-01-31\", "
				      "\"2026-01-31T20:00:00Z\") or null is required",
				      field);
	return 0;
}

/* "PG-13", "TV-MA", "12", "R18+": letters, digits, '-' and '+'. */
static bool rating_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
			return false;
	return true;
}

typedef enum field_id {
	F_TITLE, F_SYNOPSIS, F_GENRES, F_YEAR, F_CAST, F_DURATION, F_RATING, F_ARTWORK,
	F_ASSET, F_TIER, F_FROM, F_UNTIL, F_COUNT
} field_id_t;

static const char *const field_names[F_COUNT] = {
	[F_TITLE] = "title", [F_SYNOPSIS] = "synopsis", [F_GENRES] = "genres",
	[F_YEAR] = "year", [F_CAST] = "cast", [F_DURATION] = "duration",
	[F_RATING] = "maturity_rating", [F_ARTWORK] = "artwork", [F_ASSET] = "asset_id",
	[F_TIER] = "tier", [F_FROM] = "available_from", [F_UNTIL] = "available_until",
};

/* Fields that the API shows but only the server sets. */
static const char *const read_only[] = {"id", "_id", "published", "created_at", "updated_at"};

static int apply_field(catalog_title_t *t, field_id_t f, bson_iter_t *it, kino_error_t *err)
{
	const char *name = field_names[f];
	bool null = BSON_ITER_HOLDS_NULL(it);

	switch (f) {
	case F_TITLE:
		return string_field(it, name, t->title, sizeof(t->title), TITLE_TEXT_MAX, true,
				    false, err);
	case F_SYNOPSIS:
		if (null) {
			t->synopsis[0] = '\0';
			return 0;
		}
		return string_field(it, name, t->synopsis, sizeof(t->synopsis),
				    TITLE_SYNOPSIS_MAX, false, true, err);
	case F_GENRES:
		return string_array(it, name, &t->genres[0][0], sizeof(t->genres[0]),
				    TITLE_GENRES_MAX, TITLE_GENRE_MAX, &t->ngenres, err);
	case F_CAST:
		return string_array(it, name, &t->cast[0][0], sizeof(t->cast[0]), TITLE_CAST_MAX,
				    TITLE_PERSON_MAX, &t->ncast, err);
	case F_ARTWORK:
		return string_array(it, name, &t->artwork[0][0], sizeof(t->artwork[0]),
				    TITLE_ARTWORK_MAX, TITLE_ARTWORK_URL_MAX, &t->nartwork, err);
	case F_YEAR:
		if (null) {
			t->year = 0;
			return 0;
		}
		if ((!BSON_ITER_HOLDS_INT32(it) && !BSON_ITER_HOLDS_INT64(it)) ||
		    bson_iter_as_int64(it) < TITLE_YEAR_MIN || bson_iter_as_int64(it) > TITLE_YEAR_MAX)
			return kino_error_set(err, KINO_EINVAL, "year: an integer from %d to %d",
					      TITLE_YEAR_MIN, TITLE_YEAR_MAX);
		t->year = (int)bson_iter_as_int64(it);
		return 0;
	case F_DURATION: {
		double d;
		if (null) {
			t->duration = 0;
			return 0;
		}
		d = BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_double(it) : -1;
		if (!isfinite(d) || d <= 0 || d > TITLE_DURATION_MAX)
			return kino_error_set(err, KINO_EINVAL,
					      "duration: seconds, a number above 0 and at most %.0f",
					      TITLE_DURATION_MAX);
		t->duration = d;
		return 0;
	}
	case F_RATING: {
		int ret;
		if (null) {
			t->maturity_rating[0] = '\0';
			return 0;
		}
		ret = string_field(it, name, t->maturity_rating, sizeof(t->maturity_rating),
				   TITLE_RATING_MAX, true, false, err);
		if (ret == 0 && !rating_ok(t->maturity_rating))
			ret = kino_error_set(err, KINO_EINVAL,
					     "maturity_rating: letters, digits, '-' and '+' only "
					     "(\"PG-13\", \"TV-MA\")");
		return ret;
	}
	case F_ASSET:
		if (null) {
			t->asset_id[0] = '\0';
			return 0;
		}
		if (!BSON_ITER_HOLDS_UTF8(it) || !catalog_asset_id_ok(bson_iter_utf8(it, NULL)))
			return kino_error_set(err, KINO_EINVAL,
					      "asset_id: 1 to %d lower-case hex digits, or null",
					      CATALOG_ASSET_ID_MAX);
		snprintf(t->asset_id, sizeof(t->asset_id), "%s", bson_iter_utf8(it, NULL));
		return 0;
	case F_TIER:
		if (!BSON_ITER_HOLDS_UTF8(it) ||
		    !kino_entitlement_plan_parse(bson_iter_utf8(it, NULL), &t->tier))
			return kino_error_set(err, KINO_EINVAL,
					      "tier: one of \"free\", \"basic\", \"premium\"");
		return 0;
	case F_FROM:
		return time_field(it, name, CATALOG_TIME_MIN, &t->available_from, err);
	case F_UNTIL:
		return time_field(it, name, CATALOG_TIME_MAX, &t->available_until, err);
	case F_COUNT:
		break;
	}
	return kino_error_set(err, KINO_EINVAL, "unknown field");
}

int catalog_title_apply_json(catalog_title_t *t, const bson_t *json, bool create,
			     kino_error_t *err)
{
	bool seen[F_COUNT] = {false};
	bson_iter_t it;
	int ret = 0;

	if (!bson_iter_init(&it, json))
		return kino_error_set(err, KINO_EINVAL, "the body must be a JSON object");
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);
		int f;

		for (f = 0; f < F_COUNT; f++)
			if (strcmp(key, field_names[f]) == 0)
				break;
		if (f == F_COUNT) {
			for (size_t i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
				if (strcmp(key, read_only[i]) == 0)
					return kino_error_set(
						err, KINO_EINVAL,
						"%s: read-only%s", key,
						strcmp(key, "published") == 0
							? " (use /publish and /unpublish)"
							: "");
			return kino_error_set(err, KINO_EINVAL, "%.64s: unknown field", key);
		}
		if (seen[f])
			return kino_error_set(err, KINO_EINVAL, "%s: given twice", key);
		seen[f] = true;
		ret = apply_field(t, (field_id_t)f, &it, err);
		if (ret != 0)
			return ret;
	}
	if (create && !seen[F_TITLE])
		return kino_error_set(err, KINO_EINVAL, "title: required");
	if (create && !seen[F_TIER])
		return kino_error_set(err, KINO_EINVAL,
				      "tier: required (\"free\", \"basic\" or \"premium\")");
	if (t->available_from >= t->available_until)
		return kino_error_set(err, KINO_EINVAL,
				      "available_until: must be later than available_from");
	return 0;
}

/* ---- BSON ---- */

static void copy_utf8(bson_iter_t *it, char *out, size_t size)
{
	if (BSON_ITER_HOLDS_UTF8(it))
		snprintf(out, size, "%s", bson_iter_utf8(it, NULL));
}

static void read_array(bson_iter_t *it, char *rows, size_t stride, int max, int *n)
{
	bson_iter_t child;

	*n = 0;
	if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &child))
		return;
	while (*n < max && bson_iter_next(&child))
		if (BSON_ITER_HOLDS_UTF8(&child))
			snprintf(rows + (size_t)(*n)++ * stride, stride, "%s",
				 bson_iter_utf8(&child, NULL));
}

void catalog_title_from_bson(catalog_title_t *t, const bson_t *doc)
{
	bson_iter_t it;

	catalog_title_init(t);
	if (!bson_iter_init(&it, doc))
		return;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);

		if (strcmp(k, "_id") == 0 && BSON_ITER_HOLDS_OID(&it))
			bson_oid_to_string(bson_iter_oid(&it), t->id);
		else if (strcmp(k, "title") == 0)
			copy_utf8(&it, t->title, sizeof(t->title));
		else if (strcmp(k, "synopsis") == 0)
			copy_utf8(&it, t->synopsis, sizeof(t->synopsis));
		else if (strcmp(k, "genres") == 0)
			read_array(&it, &t->genres[0][0], sizeof(t->genres[0]), TITLE_GENRES_MAX,
				   &t->ngenres);
		else if (strcmp(k, "cast") == 0)
			read_array(&it, &t->cast[0][0], sizeof(t->cast[0]), TITLE_CAST_MAX,
				   &t->ncast);
		else if (strcmp(k, "artwork") == 0)
			read_array(&it, &t->artwork[0][0], sizeof(t->artwork[0]),
				   TITLE_ARTWORK_MAX, &t->nartwork);
		else if (strcmp(k, "year") == 0 && BSON_ITER_HOLDS_NUMBER(&it))
			t->year = (int)bson_iter_as_int64(&it);
		else if (strcmp(k, "duration") == 0 && BSON_ITER_HOLDS_NUMBER(&it))
			t->duration = bson_iter_as_double(&it);
		else if (strcmp(k, "maturity_rating") == 0)
			copy_utf8(&it, t->maturity_rating, sizeof(t->maturity_rating));
		else if (strcmp(k, "asset_id") == 0)
			copy_utf8(&it, t->asset_id, sizeof(t->asset_id));
		else if (strcmp(k, "tier") == 0 && BSON_ITER_HOLDS_UTF8(&it))
			kino_entitlement_plan_parse(bson_iter_utf8(&it, NULL), &t->tier);
		else if (strcmp(k, "available_from") == 0 && BSON_ITER_HOLDS_DATE_TIME(&it))
			t->available_from = bson_iter_date_time(&it);
		else if (strcmp(k, "available_until") == 0 && BSON_ITER_HOLDS_DATE_TIME(&it))
			t->available_until = bson_iter_date_time(&it);
		else if (strcmp(k, "published") == 0 && BSON_ITER_HOLDS_BOOL(&it))
			t->published = bson_iter_bool(&it);
		else if (strcmp(k, "created_at") == 0 && BSON_ITER_HOLDS_DATE_TIME(&it))
			t->created_at = bson_iter_date_time(&it);
		else if (strcmp(k, "updated_at") == 0 && BSON_ITER_HOLDS_DATE_TIME(&it))
			t->updated_at = bson_iter_date_time(&it);
	}
}

static void append_strings(bson_t *doc, const char *key, const char *rows, size_t stride, int n,
			   bool lower)
{
	bson_t arr;
	char idx[16], low[TITLE_GENRE_MAX * 4 + 1];

	bson_append_array_begin(doc, key, -1, &arr);
	for (int i = 0; i < n; i++) {
		const char *v = rows + (size_t)i * stride;
		snprintf(idx, sizeof(idx), "%d", i);
		if (lower) {
			catalog_lower(low, sizeof(low), v);
			v = low;
		}
		bson_append_utf8(&arr, idx, -1, v, -1);
	}
	bson_append_array_end(doc, &arr);
}

/* The lower-cased text that viewers' searches match: title, synopsis and
 * cast, one per line. FerretDB v1.24 has no $text, so search is a $regex on
 * this field; lower-casing here makes the match case-insensitive without
 * the "i" option, for ASCII letters. */
static void append_search(bson_t *doc, const catalog_title_t *t)
{
	size_t size = strlen(t->title) + strlen(t->synopsis) + 3;
	char *text, *low;
	size_t o;

	for (int i = 0; i < t->ncast; i++)
		size += strlen(t->cast[i]) + 1;
	text = bson_malloc(size);
	low = bson_malloc(size);
	o = (size_t)snprintf(text, size, "%s\n%s", t->title, t->synopsis);
	for (int i = 0; i < t->ncast; i++)
		o += (size_t)snprintf(text + o, size - o, "\n%s", t->cast[i]);
	catalog_lower(low, size, text);
	BSON_APPEND_UTF8(doc, "search", low);
	bson_free(low);
	bson_free(text);
}

void catalog_title_to_bson(const catalog_title_t *t, bson_t *doc)
{
	BSON_APPEND_UTF8(doc, "title", t->title);
	BSON_APPEND_UTF8(doc, "synopsis", t->synopsis);
	append_strings(doc, "genres", &t->genres[0][0], sizeof(t->genres[0]), t->ngenres, false);
	append_strings(doc, "genres_lc", &t->genres[0][0], sizeof(t->genres[0]), t->ngenres, true);
	if (t->year > 0)
		BSON_APPEND_INT32(doc, "year", t->year);
	else
		BSON_APPEND_NULL(doc, "year");
	append_strings(doc, "cast", &t->cast[0][0], sizeof(t->cast[0]), t->ncast, false);
	if (t->duration > 0)
		BSON_APPEND_DOUBLE(doc, "duration", t->duration);
	else
		BSON_APPEND_NULL(doc, "duration");
	if (t->maturity_rating[0])
		BSON_APPEND_UTF8(doc, "maturity_rating", t->maturity_rating);
	else
		BSON_APPEND_NULL(doc, "maturity_rating");
	append_strings(doc, "artwork", &t->artwork[0][0], sizeof(t->artwork[0]), t->nartwork,
		       false);
	if (t->asset_id[0])
		BSON_APPEND_UTF8(doc, "asset_id", t->asset_id);
	else
		BSON_APPEND_NULL(doc, "asset_id");
	BSON_APPEND_UTF8(doc, "tier", kino_entitlement_plan_name(t->tier));
	BSON_APPEND_DATE_TIME(doc, "available_from", t->available_from);
	BSON_APPEND_DATE_TIME(doc, "available_until", t->available_until);
	BSON_APPEND_BOOL(doc, "published", t->published);
	append_search(doc, t);
}

bool catalog_title_visible(const catalog_title_t *t, int64_t now_ms)
{
	return t->published && t->available_from <= now_ms && now_ms < t->available_until;
}

/* ---- JSON ---- */

static void json_strings(jbuf_t *b, const char *key, const char *rows, size_t stride, int n)
{
	jbuf_printf(b, ",\"%s\":[", key);
	for (int i = 0; i < n; i++) {
		if (i > 0)
			jbuf_puts(b, ",");
		jbuf_string(b, rows + (size_t)i * stride);
	}
	jbuf_puts(b, "]");
}

static void json_opt_string(jbuf_t *b, const char *key, const char *v)
{
	jbuf_printf(b, ",\"%s\":", key);
	if (v[0])
		jbuf_string(b, v);
	else
		jbuf_puts(b, "null");
}

void catalog_title_to_json(const catalog_title_t *t, jbuf_t *b, bool admin)
{
	jbuf_printf(b, "{\"id\":\"%s\",\"title\":", t->id);
	jbuf_string(b, t->title);
	jbuf_puts(b, ",\"synopsis\":");
	jbuf_string(b, t->synopsis);
	json_strings(b, "genres", &t->genres[0][0], sizeof(t->genres[0]), t->ngenres);
	if (t->year > 0)
		jbuf_printf(b, ",\"year\":%d", t->year);
	else
		jbuf_puts(b, ",\"year\":null");
	json_strings(b, "cast", &t->cast[0][0], sizeof(t->cast[0]), t->ncast);
	if (t->duration > 0)
		jbuf_printf(b, ",\"duration\":%.3f", t->duration);
	else
		jbuf_puts(b, ",\"duration\":null");
	json_opt_string(b, "maturity_rating", t->maturity_rating);
	json_strings(b, "artwork", &t->artwork[0][0], sizeof(t->artwork[0]), t->nartwork);
	json_opt_string(b, "asset_id", t->asset_id);
	jbuf_printf(b, ",\"tier\":\"%s\",\"available_from\":",
		    kino_entitlement_plan_name(t->tier));
	jbuf_time(b, t->available_from, true);
	jbuf_puts(b, ",\"available_until\":");
	jbuf_time(b, t->available_until, true);
	if (admin) {
		jbuf_printf(b, ",\"published\":%s,\"created_at\":", t->published ? "true" : "false");
		jbuf_time(b, t->created_at, false);
		jbuf_puts(b, ",\"updated_at\":");
		jbuf_time(b, t->updated_at, false);
	}
	jbuf_puts(b, "}");
}
