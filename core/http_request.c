/* Requests and answers of the HTTP server, and the one table that maps
 * Kino's error codes to HTTP statuses and error-code strings. Free of
 * libwebsockets except for LWS_PRE, the headroom lws_write() needs in front
 * of every body it sends. */
#define KINO_LOG_MODULE "http"
#include "http_internal.h"

#include "kino/error.h"
#include "kino/log.h"

#include <libwebsockets.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int64_t http_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

kino_http_request_t *http_request_new(kino_http_server_t *srv)
{
	kino_http_request_t *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->srv = srv;
	req->resp_fd = -1;
	atomic_init(&req->refs, 1);
	req->started_us = http_now_us();
	return req;
}

static void pairs_free(http_pair_t *pairs, int n)
{
	for (int i = 0; i < n; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
}

void http_request_unref(kino_http_request_t *req)
{
	if (req == NULL || atomic_fetch_sub(&req->refs, 1) != 1)
		return;
	pairs_free(req->params, req->nparams);
	pairs_free(req->query, req->nquery);
	pairs_free(req->headers, req->nheaders);
	pairs_free(req->resp_headers, req->nresp_headers);
	free(req->path);
	free(req->body);
	free(req->resp);
	if (req->resp_fd >= 0)
		close(req->resp_fd);
	free(req);
}

int http_request_add_header(kino_http_request_t *req, const char *name,
			    const char *value)
{
	http_pair_t *h;

	if (req->nheaders >= HTTP_MAX_HEADERS)
		return KINO_ETOOBIG;
	h = &req->headers[req->nheaders];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return KINO_ENOMEM;
	}
	for (char *c = h->name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	req->nheaders++;
	return 0;
}

/* lws hands over query fragments already percent-decoded: "name=value". */
int http_request_add_query(kino_http_request_t *req, const char *arg)
{
	const char *eq = strchr(arg, '=');
	http_pair_t *q;

	if (req->nquery >= HTTP_MAX_QUERY)
		return KINO_ETOOBIG;
	q = &req->query[req->nquery];
	q->name = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
	q->value = strdup(eq ? eq + 1 : "");
	if (q->name == NULL || q->value == NULL) {
		free(q->name);
		free(q->value);
		return KINO_ENOMEM;
	}
	req->nquery++;
	return 0;
}

static const char *pairs_get(const http_pair_t *pairs, int n, const char *name,
			     bool nocase)
{
	for (int i = 0; i < n; i++)
		if ((nocase ? strcasecmp(pairs[i].name, name)
			    : strcmp(pairs[i].name, name)) == 0)
			return pairs[i].value;
	return NULL;
}

kino_http_server_t *kino_http_request_server(const kino_http_request_t *req)
{
	return req->srv;
}

const char *kino_http_request_method(const kino_http_request_t *req)
{
	return req->method;
}

const char *kino_http_request_path(const kino_http_request_t *req)
{
	return req->path;
}

const char *kino_http_request_param(const kino_http_request_t *req,
				    const char *name)
{
	return pairs_get(req->params, req->nparams, name, false);
}

const char *kino_http_request_query(const kino_http_request_t *req,
				    const char *name)
{
	return pairs_get(req->query, req->nquery, name, false);
}

const char *kino_http_request_header(const kino_http_request_t *req,
				     const char *name)
{
	return pairs_get(req->headers, req->nheaders, name, true);
}

const char *kino_http_request_body(const kino_http_request_t *req, size_t *len)
{
	if (len != NULL)
		*len = req->body_len;
	return req->body != NULL ? req->body : "";
}

const char *kino_http_request_peer(const kino_http_request_t *req)
{
	return req->peer;
}

int kino_http_response_header(kino_http_request_t *req, const char *name,
			      const char *value)
{
	http_pair_t *h;

	if (req->answered)
		return KINO_ESTATE;
	if (req->nresp_headers >= HTTP_MAX_RESPONSE_HEADERS)
		return KINO_ETOOBIG;
	/* A CR or LF would let a value start a header of its own. */
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		return KINO_EINVAL;
	h = &req->resp_headers[req->nresp_headers];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return KINO_ENOMEM;
	}
	req->nresp_headers++;
	return 0;
}

int kino_http_respond(kino_http_request_t *req, int status,
		      const char *content_type, const void *body, size_t len)
{
	if (req->answered) {
		KINO_LOG_ERROR("%s %s answered twice", req->method, req->path);
		return KINO_ESTATE;
	}
	req->resp = malloc(LWS_PRE + len + 1);
	if (req->resp == NULL) {
		/* Still answer, without the body the handler wanted. */
		status = 500;
		len = 0;
		content_type = "application/json";
	} else if (len > 0) {
		memcpy(req->resp + LWS_PRE, body, len);
	}
	req->status = status;
	req->resp_len = len;
	snprintf(req->content_type, sizeof(req->content_type), "%s",
		 content_type ? content_type : "application/octet-stream");
	req->answered = true;
	http_server_answered(req->srv, req);
	return 0;
}

int kino_http_respond_fd(kino_http_request_t *req, int status,
			 const char *content_type, int fd, long long offset,
			 long long length)
{
	if (req->answered || fd < 0 || offset < 0 || length < 0) {
		if (fd >= 0)
			close(fd);
		return KINO_EINVAL;
	}
	req->resp_fd = fd;
	req->resp_fd_offset = offset;
	req->resp_len = (size_t)length;
	req->resp = NULL;
	req->status = status;
	snprintf(req->content_type, sizeof(req->content_type), "%s",
		 content_type ? content_type : "application/octet-stream");
	req->answered = true;
	http_server_answered(req->srv, req);
	return 0;
}

int kino_http_respond_json(kino_http_request_t *req, int status,
			   const char *json)
{
	return kino_http_respond(req, status, "application/json", json,
				 strlen(json));
}

size_t kino_http_json_escape(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)src; *s; s++) {
		char esc[8];
		const char *out = esc;

		switch (*s) {
		case '"': out = "\\\""; break;
		case '\\': out = "\\\\"; break;
		case '\n': out = "\\n"; break;
		case '\r': out = "\\r"; break;
		case '\t': out = "\\t"; break;
		default:
			if (*s < 0x20)
				snprintf(esc, sizeof(esc), "\\u%04x", *s);
			else {
				esc[0] = (char)*s;
				esc[1] = '\0';
			}
		}
		size_t l = strlen(out);
		if (n + l + 1 > size)
			break;
		memcpy(dst + n, out, l);
		n += l;
	}
	if (size > 0)
		dst[n] = '\0';
	return n;
}

/* The one table from error codes to what HTTP clients see. */
static const struct {
	int code;
	int status;
	const char *name;
} error_table[] = {
	{KINO_EINVAL, 400, "bad_request"},
	{KINO_EPARSE, 400, "malformed"},
	{KINO_EAUTH, 401, "unauthorized"},
	{KINO_EFORBIDDEN, 403, "forbidden"},
	{KINO_ENOENT, 404, "not_found"},
	{KINO_EEXIST, 409, "conflict"},
	{KINO_ECONFLICT, 409, "conflict"},
	{KINO_ESTATE, 409, "invalid_state"},
	{KINO_ETOOBIG, 413, "payload_too_large"},
	{KINO_EUNSUPPORTED, 415, "unsupported"},
	{KINO_EMEDIA, 422, "unprocessable_media"},
	{KINO_ERATELIMIT, 429, "rate_limited"},
	{KINO_EUNAVAIL, 503, "unavailable"},
	{KINO_EDB, 503, "database_unavailable"},
	{KINO_ETIMEDOUT, 504, "timeout"},
};

int kino_http_status_for(int kino_code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == kino_code)
			return error_table[i].status;
	return 500;
}

const char *kino_http_error_code_for(int kino_code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == kino_code)
			return error_table[i].name;
	return "internal";
}

int kino_http_respond_error_as(kino_http_request_t *req, int status,
			       const char *code, const char *message)
{
	char escaped[1024], body[1400];

	kino_http_json_escape(escaped, sizeof(escaped), message ? message : "");
	snprintf(body, sizeof(body),
		 "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
		 escaped);
	return kino_http_respond_json(req, status, body);
}

int kino_http_respond_error(kino_http_request_t *req, int kino_code,
			    const char *message)
{
	return kino_http_respond_error_as(req, kino_http_status_for(kino_code),
					  kino_http_error_code_for(kino_code),
					  message ? message : kino_strerror(kino_code));
}
