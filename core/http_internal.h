/* Internals of the HTTP server, shared by core/http_*.c only.
 *
 * A request is created on the event-loop thread when its headers arrive and
 * is owned by two parties: the connection (until it closes) and the handler
 * (until it answers). `refs` counts them; whoever drops the last reference
 * frees it. The answer travels back to the loop through srv->done, a queue
 * guarded by srv->lock, and a lws_cancel_service() wake-up. */
#ifndef KINO_CORE_HTTP_INTERNAL_H
#define KINO_CORE_HTTP_INTERNAL_H

#include "kino/http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct lws;
struct lws_context;

#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_QUERY 32
#define HTTP_MAX_HEADERS 48
#define HTTP_MAX_RESPONSE_HEADERS 16

/* Per-route statistics for /metrics: written by the loop thread when an
 * answer is finished, read by whichever thread renders /metrics, so every
 * field is atomic. A status code's slot is claimed once and never reused. */
#define HTTP_STATS_CODES 16
#define HTTP_STATS_BUCKETS 12

typedef struct route_stats {
	atomic_int code[HTTP_STATS_CODES];            /* 0: free slot */
	atomic_ullong count[HTTP_STATS_CODES];
	atomic_ullong bucket[HTTP_STATS_BUCKETS + 1]; /* the last is +Inf */
	atomic_ullong sum_us;
	atomic_ullong total;
} route_stats_t;

typedef struct http_pair {
	char *name;
	char *value;
} http_pair_t;

struct kino_http_request {
	kino_http_server_t *srv;
	struct lws *wsi;        /* NULL once the connection closed; loop thread only */
	atomic_int refs;
	const kino_http_route_t *route;
	int stats_index;        /* into the server's route_stats; nroutes: no route */
	struct kino_http_request *next; /* in a queue */

	char method[16];
	bool head;              /* a HEAD served by the GET route: no body */
	char *path;
	char peer[64];
	http_pair_t params[HTTP_MAX_PARAMS];
	int nparams;
	http_pair_t query[HTTP_MAX_QUERY];
	int nquery;
	http_pair_t headers[HTTP_MAX_HEADERS];
	int nheaders;

	char *body;
	size_t body_len, body_cap, body_limit;
	int64_t started_us;

	bool dispatched;        /* its handler has been started; loop thread */

	/* The answer, written by the handler, read by the loop. */
	bool answered;
	int status;
	char content_type[128];
	http_pair_t resp_headers[HTTP_MAX_RESPONSE_HEADERS];
	int nresp_headers;
	unsigned char *resp;    /* LWS_PRE bytes of headroom, then the body */
	int resp_fd;            /* or a file to stream (-1: none); owned */
	long long resp_fd_offset;
	size_t resp_len;
	size_t resp_sent;
	bool headers_sent;
};

/* ---- WebSockets (core/http_websocket.c) ----
 * The server keeps an http_ws_t; the lws callback hands the WebSocket
 * events to these functions, all on the loop thread except where said. */
typedef struct http_ws http_ws_t;
typedef struct ws_conn ws_conn_t;

http_ws_t *http_ws_new(void);
void http_ws_destroy(http_ws_t *ws);
int http_ws_add(http_ws_t *ws, const kino_ws_handler_t *h, struct kino_error *err);
/* Does a handler serve this path? (to accept or refuse the upgrade) */
bool http_ws_wants(const http_ws_t *ws, const char *path);
ws_conn_t *http_ws_open(http_ws_t *ws, struct lws *wsi, const char *path,
			const char *peer);
/* Returns -1 to close the connection. */
int http_ws_receive(http_ws_t *ws, ws_conn_t *c, struct lws *wsi,
		    const void *in, size_t len);
int http_ws_writeable(http_ws_t *ws, ws_conn_t *c, struct lws *wsi);
void http_ws_closed(http_ws_t *ws, ws_conn_t *c);
/* After a wake-up: applies pauses and asks for WRITEABLE where sends wait. */
void http_ws_drain(http_ws_t *ws);
/* Any thread: */
int http_ws_send(http_ws_t *ws, struct lws_context *ctx, unsigned long long id,
		 const char *text, size_t len);
int http_ws_pause(http_ws_t *ws, struct lws_context *ctx, unsigned long long id,
		  bool paused);

/* Route matching: fills req->params. Sets *path_matched when some route's
 * pattern matched the path, whatever its method. */
const kino_http_route_t *http_route_match(const kino_http_route_t *routes,
					  size_t n, kino_http_request_t *req,
					  bool *path_matched);

/* Does one route's pattern match `path`? Fills params when it does. */
bool http_pattern_match(const char *pattern, const char *path,
			http_pair_t *params, int *nparams);

kino_http_request_t *http_request_new(kino_http_server_t *srv);
/* Drops one reference; frees the request with the last one. */
void http_request_unref(kino_http_request_t *req);
int http_request_add_header(kino_http_request_t *req, const char *name,
			    const char *value);
int http_request_add_query(kino_http_request_t *req, const char *arg);

/* Implemented by the server: hands an answered request to the loop. */
void http_server_answered(kino_http_server_t *srv, kino_http_request_t *req);

int64_t http_now_us(void);

#endif
