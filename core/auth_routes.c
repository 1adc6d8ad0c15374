/* The HTTP face of accounts:
 *
 *   POST /api/v1/auth/signup   {"email","password"} -> 201 {"token","user"}
 *   POST /api/v1/auth/signin   {"email","password"} -> 200 {"token","user"}
 *   POST /api/v1/auth/signout  (Bearer)             -> 204
 *   GET  /api/v1/auth/me       (Bearer)             -> 200 {"id","email","role"}
 *
 * All of them touch the database, so all are blocking routes with small
 * body limits. Request bodies are parsed with libbson's JSON reader. */
#define KINO_LOG_MODULE "auth"
#include "auth_internal.h"

#include "kino/error.h"
#include "kino/log.h"

#include <bson/bson.h>

#include <stdio.h>
#include <string.h>

#define AUTH_MAX_BODY 4096

typedef struct credentials {
	bson_t doc;
	const char *email;
	const char *password;
} credentials_t;

/* Reads {"email": string, "password": string}. On failure it has answered
 * 400 and returns false; otherwise the caller destroys c->doc. */
static bool read_credentials(kino_http_request_t *req, credentials_t *c)
{
	size_t len;
	const char *body = kino_http_request_body(req, &len);
	bson_error_t berr;
	bson_iter_t it;
	char msg[300];

	if (len == 0 || !bson_init_from_json(&c->doc, body, (ssize_t)len, &berr)) {
		snprintf(msg, sizeof(msg), "the body must be a JSON object: %s",
			 len == 0 ? "it is empty" : berr.message);
		kino_http_respond_error(req, KINO_EPARSE, msg);
		return false;
	}
	c->email = c->password = NULL;
	if (bson_iter_init_find(&it, &c->doc, "email") && BSON_ITER_HOLDS_UTF8(&it))
		c->email = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, &c->doc, "password") && BSON_ITER_HOLDS_UTF8(&it))
		c->password = bson_iter_utf8(&it, NULL);
	if (c->email == NULL || c->password == NULL) {
		kino_http_respond_error(req, KINO_EINVAL,
					c->email == NULL ? "email: a string is required"
							 : "password: a string is required");
		bson_destroy(&c->doc);
		return false;
	}
	return true;
}

static void user_json(char *out, size_t size, const kino_user_t *u)
{
	char email[600];

	kino_http_json_escape(email, sizeof(email), u->email);
	snprintf(out, size, "{\"id\":\"%s\",\"email\":\"%s\",\"role\":\"%s\"}", u->id,
		 email, kino_role_name(u->role));
}

static void respond_session(kino_http_request_t *req, int status, const char *token,
			    const kino_user_t *u)
{
	char user[800], body[1000];

	user_json(user, sizeof(user), u);
	snprintf(body, sizeof(body), "{\"token\":\"%s\",\"user\":%s}", token, user);
	kino_http_response_header(req, "Cache-Control", "no-store");
	kino_http_respond_json(req, status, body);
}

static void signup(kino_http_request_t *req, void *userdata)
{
	kino_auth_t *auth = userdata;
	char token[KINO_AUTH_TOKEN_LEN + 1];
	kino_error_t err = {0};
	credentials_t c;
	kino_user_t user;

	if (!read_credentials(req, &c))
		return;
	if (kino_auth_user_create(auth, c.email, c.password, KINO_ROLE_VIEWER, &user, &err) != 0 ||
	    kino_auth_session_open(auth, &user, token, &err) != 0) {
		if (err.code == KINO_EEXIST)
			kino_http_respond_error_as(req, 409, "email_taken", kino_error_message(&err));
		else
			kino_http_respond_error(req, err.code, kino_error_message(&err));
	} else {
		respond_session(req, 201, token, &user);
	}
	bson_destroy(&c.doc);
}

static void signin(kino_http_request_t *req, void *userdata)
{
	kino_auth_t *auth = userdata;
	char token[KINO_AUTH_TOKEN_LEN + 1];
	kino_error_t err = {0};
	credentials_t c;
	kino_user_t user;

	if (!read_credentials(req, &c))
		return;
	if (kino_auth_signin(auth, c.email, c.password, kino_http_request_peer(req), token,
			     &user, &err) == 0) {
		respond_session(req, 200, token, &user);
	} else if (err.code == KINO_EAUTH) {
		kino_http_respond_error_as(req, 401, "invalid_credentials", kino_error_message(&err));
	} else {
		if (err.code == KINO_ERATELIMIT)
			kino_http_response_header(req, "Retry-After", "60");
		kino_http_respond_error(req, err.code, kino_error_message(&err));
	}
	bson_destroy(&c.doc);
}

static void signout(kino_http_request_t *req, void *userdata)
{
	kino_auth_t *auth = userdata;
	kino_error_t err = {0};
	kino_user_t user;

	if (kino_auth_require(auth, req, KINO_ROLE_VIEWER, &user) != 0)
		return;
	if (kino_auth_signout(auth, auth_request_token(req), &err) != 0)
		kino_http_respond_error(req, err.code, kino_error_message(&err));
	else
		kino_http_respond(req, 204, "application/json", NULL, 0);
}

static void me(kino_http_request_t *req, void *userdata)
{
	kino_auth_t *auth = userdata;
	kino_user_t user;
	char body[800];

	if (kino_auth_require(auth, req, KINO_ROLE_VIEWER, &user) != 0)
		return;
	user_json(body, sizeof(body), &user);
	kino_http_response_header(req, "Cache-Control", "no-store");
	kino_http_respond_json(req, 200, body);
}

size_t kino_auth_routes(kino_auth_t *auth, kino_http_route_t *out, size_t max)
{
	const kino_http_route_t routes[] = {
		{.method = "POST", .pattern = "/api/v1/auth/signup", .handler = signup,
		 .mode = KINO_HTTP_BLOCKING, .max_body = AUTH_MAX_BODY, .userdata = auth},
		{.method = "POST", .pattern = "/api/v1/auth/signin", .handler = signin,
		 .mode = KINO_HTTP_BLOCKING, .max_body = AUTH_MAX_BODY, .userdata = auth},
		{.method = "POST", .pattern = "/api/v1/auth/signout", .handler = signout,
		 .mode = KINO_HTTP_BLOCKING, .max_body = AUTH_MAX_BODY, .userdata = auth},
		{.method = "GET", .pattern = "/api/v1/auth/me", .handler = me,
		 .mode = KINO_HTTP_BLOCKING, .userdata = auth},
	};
	size_t n = sizeof(routes) / sizeof(routes[0]);

	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof(routes[0]));
	return n;
}
