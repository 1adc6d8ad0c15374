/* The HTTP face of the catalog:
 *
 *   POST  /api/v1/admin/titles                 (admin) create a draft -> 201
 *   GET   /api/v1/admin/titles                 (admin) every title, drafts too
 *   GET   /api/v1/admin/titles/{id}            (admin)
 *   PATCH /api/v1/admin/titles/{id}            (admin) change some fields
 *   POST  /api/v1/admin/titles/{id}/publish    (admin) needs an asset
 *   POST  /api/v1/admin/titles/{id}/unpublish  (admin)
 *   GET   /api/v1/titles?q=&genre=&limit=&cursor=  (viewer) published, in window
 *   GET   /api/v1/titles/{id}                  (viewer) 404 unless visible
 *
 * Lists answer {"items":[...],"next_cursor":"<id>"|null}, in creation (_id)
 * order; the cursor is the last id of the page. */
#define KINO_LOG_MODULE "catalog"
#include "catalog_internal.h"

#include "kino/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_MAX_CHARS 100
#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

/* Reads asset.json of t's asset (when it has one) and takes the duration
 * from it. A missing asset is the admin's mistake: 400 naming asset_id. */
static int asset_attach(kino_catalog_t *c, catalog_title_t *t, kino_error_t *err)
{
	catalog_asset_t asset;
	int ret;

	if (t->asset_id[0] == '\0')
		return 0;
	ret = catalog_asset_read(c->cfg->data_dir, t->asset_id, &asset, err);
	if (ret == KINO_ENOENT)
		ret = kino_error_set(err, KINO_EINVAL,
				     "asset_id: no asset %s in the media store (ingest it first)",
				     t->asset_id);
	if (ret == 0)
		t->duration = asset.duration;
	return ret;
}

static void respond_title(kino_http_request_t *req, int status, const catalog_title_t *t,
			  bool admin)
{
	jbuf_t b;

	jbuf_init(&b);
	catalog_title_to_json(t, &b, admin);
	catalog_respond_jbuf(req, status, &b);
	jbuf_free(&b);
}

static catalog_title_t *title_alloc(kino_http_request_t *req)
{
	catalog_title_t *t = malloc(sizeof(*t));

	if (t == NULL)
		kino_http_respond_error(req, KINO_ENOMEM, "out of memory");
	return t;
}

/* The title's fields from a body, for create (t fresh) and patch (t as
 * stored). A "duration" sent with an asset attached is refused: the asset
 * says how long it is. */
static int apply_body(kino_catalog_t *c, catalog_title_t *t, const bson_t *body, bool create,
		      kino_error_t *err)
{
	char old_asset[sizeof(t->asset_id)];
	int ret;

	memcpy(old_asset, t->asset_id, sizeof(old_asset));
	ret = catalog_title_apply_json(t, body, create, err);
	if (ret != 0)
		return ret;
	if (t->asset_id[0] != '\0' && bson_has_field(body, "duration"))
		return kino_error_set(err, KINO_EINVAL,
				      "duration: set from the asset's asset.json while asset_id is "
				      "set");
	if (t->published && t->asset_id[0] == '\0')
		return kino_error_set(err, KINO_ESTATE,
				      "asset_id: a published title needs an asset; unpublish it "
				      "first");
	if (create || strcmp(old_asset, t->asset_id) != 0)
		ret = asset_attach(c, t, err);
	return ret;
}

void catalog_route_admin_create(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	catalog_title_t *t = NULL;
	kino_error_t err = {0};
	kino_user_t user;
	bson_t body;
	bool have_body = false;

	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &user))
		goto out;
	if (!catalog_body_parse(req, &body))
		goto out;
	have_body = true;
	if ((t = title_alloc(req)) == NULL)
		goto out;
	catalog_title_init(t);
	if (apply_body(c, t, &body, true, &err) != 0 ||
	    catalog_store_title_insert(c, t, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	KINO_LOG_INFO("%s created title %s", user.email, t->id);
	respond_title(req, 201, t, true);
out:
	free(t);
	if (have_body)
		bson_destroy(&body);
}

void catalog_route_admin_get(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	catalog_title_t *t = NULL;
	kino_error_t err = {0};
	kino_user_t user;

	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &user) || (t = title_alloc(req)) == NULL)
		goto out;
	if (catalog_store_title_get(c, kino_http_request_param(req, "id"), t, &err) != 0)
		catalog_respond_err(req, &err);
	else
		respond_title(req, 200, t, true);
out:
	free(t);
}

void catalog_route_admin_patch(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	catalog_title_t *t = NULL;
	kino_error_t err = {0};
	kino_user_t user;
	bson_t body;
	bool have_body = false;

	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &user))
		goto out;
	if (!catalog_body_parse(req, &body))
		goto out;
	have_body = true;
	if ((t = title_alloc(req)) == NULL)
		goto out;
	if (catalog_store_title_get(c, kino_http_request_param(req, "id"), t, &err) != 0 ||
	    apply_body(c, t, &body, false, &err) != 0 ||
	    catalog_store_title_replace(c, t, t->updated_at, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	KINO_LOG_INFO("%s edited title %s", user.email, t->id);
	respond_title(req, 200, t, true);
out:
	free(t);
	if (have_body)
		bson_destroy(&body);
}

static void set_published(kino_http_request_t *req, kino_catalog_t *c, bool published)
{
	catalog_title_t *t = NULL;
	kino_error_t err = {0};
	catalog_asset_t asset;
	kino_user_t user;

	if (!catalog_request_begin(c, req, KINO_ROLE_ADMIN, &user) || (t = title_alloc(req)) == NULL)
		goto out;
	if (catalog_store_title_get(c, kino_http_request_param(req, "id"), t, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	/* Publishing promises viewers something playable. */
	if (published && t->asset_id[0] == '\0') {
		kino_http_respond_error(req, KINO_ESTATE,
					"asset_id: attach an asset before publishing");
		goto out;
	}
	if (published && catalog_asset_read(c->cfg->data_dir, t->asset_id, &asset, &err) != 0) {
		kino_error_prefix(&err, "asset_id: the asset cannot be published");
		err.code = KINO_ESTATE;
		catalog_respond_err(req, &err);
		goto out;
	}
	if (t->published != published) {
		t->published = published;
		if (catalog_store_title_replace(c, t, t->updated_at, &err) != 0) {
			catalog_respond_err(req, &err);
			goto out;
		}
		KINO_LOG_INFO("%s %s title %s", user.email, published ? "published" : "unpublished",
			      t->id);
	}
	respond_title(req, 200, t, true);
out:
	free(t);
}

void catalog_route_admin_publish(kino_http_request_t *req, void *ud)
{
	set_published(req, ud, true);
}

void catalog_route_admin_unpublish(kino_http_request_t *req, void *ud)
{
	set_published(req, ud, false);
}

typedef struct page {
	jbuf_t b;
	int n;
	bool admin;
	char last_id[25];
} page_t;

static void page_add(const catalog_title_t *t, void *ud)
{
	page_t *p = ud;

	if (p->n++ > 0)
		jbuf_puts(&p->b, ",");
	catalog_title_to_json(t, &p->b, p->admin);
	memcpy(p->last_id, t->id, sizeof(p->last_id));
}

/* Reads q, genre, limit and cursor. On false it has answered 400. */
static bool query_read(kino_http_request_t *req, catalog_query_t *q, char *qbuf, size_t qsize,
		       char *gbuf, size_t gsize)
{
	const char *v;
	char *end;
	long limit;

	q->limit = LIMIT_DEFAULT;
	v = kino_http_request_query(req, "q");
	if (v != NULL && v[0] != '\0') {
		if (!bson_utf8_validate(v, strlen(v), false) || strlen(v) > QUERY_MAX_CHARS * 4 ||
		    strlen(v) >= qsize) {
			kino_http_respond_error(req, KINO_EINVAL,
						"q: at most 100 characters of UTF-8");
			return false;
		}
		catalog_lower(qbuf, qsize, v);
		q->q = qbuf;
	}
	v = kino_http_request_query(req, "genre");
	if (v != NULL && v[0] != '\0') {
		if (strlen(v) >= gsize) {
			kino_http_respond_error(req, KINO_EINVAL, "genre: too long");
			return false;
		}
		catalog_lower(gbuf, gsize, v);
		q->genre = gbuf;
	}
	v = kino_http_request_query(req, "limit");
	if (v != NULL) {
		errno = 0;
		limit = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || limit < 1 || limit > LIMIT_MAX) {
			kino_http_respond_error(req, KINO_EINVAL, "limit: an integer from 1 to 100");
			return false;
		}
		q->limit = (int)limit;
	}
	v = kino_http_request_query(req, "cursor");
	if (v != NULL && v[0] != '\0') {
		bson_oid_t oid;
		if (!catalog_oid_parse(v, &oid)) {
			kino_http_respond_error(req, KINO_EINVAL, "cursor: not a cursor of this list");
			return false;
		}
		q->after = v;
	}
	return true;
}

static void list(kino_http_request_t *req, kino_catalog_t *c, bool admin)
{
	catalog_query_t q = {.viewer = !admin, .now_ms = catalog_now_ms()};
	char qbuf[QUERY_MAX_CHARS * 4 + 1], gbuf[TITLE_GENRE_MAX * 4 + 1];
	kino_error_t err = {0};
	kino_user_t user;
	page_t p = {.admin = admin};
	bool more;

	jbuf_init(&p.b);
	if (!catalog_request_begin(c, req, admin ? KINO_ROLE_ADMIN : KINO_ROLE_VIEWER, &user) ||
	    !query_read(req, &q, qbuf, sizeof(qbuf), gbuf, sizeof(gbuf)))
		goto out;
	jbuf_puts(&p.b, "{\"items\":[");
	if (catalog_store_title_list(c, &q, page_add, &p, &more, &err) != 0) {
		catalog_respond_err(req, &err);
		goto out;
	}
	if (more)
		jbuf_printf(&p.b, "],\"next_cursor\":\"%s\"}", p.last_id);
	else
		jbuf_puts(&p.b, "],\"next_cursor\":null}");
	catalog_respond_jbuf(req, 200, &p.b);
out:
	jbuf_free(&p.b);
}

void catalog_route_admin_list(kino_http_request_t *req, void *ud)
{
	list(req, ud, true);
}

void catalog_route_list(kino_http_request_t *req, void *ud)
{
	list(req, ud, false);
}

void catalog_route_get(kino_http_request_t *req, void *ud)
{
	kino_catalog_t *c = ud;
	catalog_title_t *t = NULL;
	kino_error_t err = {0};
	kino_user_t user;

	if (!catalog_request_begin(c, req, KINO_ROLE_VIEWER, &user) || (t = title_alloc(req)) == NULL)
		goto out;
	if (catalog_store_title_get(c, kino_http_request_param(req, "id"), t, &err) != 0)
		catalog_respond_err(req, &err);
	else if (!catalog_title_visible(t, catalog_now_ms()))
		/* A draft or a title outside its window does not exist for viewers. */
		kino_http_respond_error(req, KINO_ENOENT, "no such title");
	else
		respond_title(req, 200, t, false);
out:
	free(t);
}
