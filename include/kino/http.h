/* Kino's HTTP server, on libwebsockets.
 *
 * A server owns one libwebsockets context and the thread that services it.
 * Routes are a table of (method, pattern, handler). A handler runs either on
 * the event-loop thread (KINO_HTTP_INLINE: it must not block, for instance
 * /healthz reading an atomic) or on one of the server's worker threads
 * (KINO_HTTP_BLOCKING: database, disk). Either way it answers exactly once
 * with one of the kino_http_respond*() calls; the answer is handed back to
 * the event loop through a queue and a wake-up, and written from its
 * WRITEABLE callback. Request bodies are bounded (413 past the limit) and
 * every error answer has one shape:
 *     {"error":{"code":"not_found","message":"..."}}
 *
 * Threads: kino_http_server_* may be called from any thread. A request is
 * used only by the thread running its handler, until it is answered. */
#ifndef KINO_HTTP_H
#define KINO_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct kino_error;

typedef struct kino_http_config {
	char host[256];     /* <name>.listen host, e.g. 127.0.0.1 */
	int port;           /* <name>.listen port, 0 = any free port */
	size_t max_body;    /* <name>.max_body: default request body limit */
	int workers;        /* <name>.workers: threads for blocking handlers */
} kino_http_config_t;

typedef struct kino_http_server kino_http_server_t;
typedef struct kino_http_request kino_http_request_t;

typedef void (*kino_http_handler_fn)(kino_http_request_t *req,
				     void *userdata);

typedef enum kino_http_mode {
	KINO_HTTP_INLINE = 0,   /* runs on the event loop; must not block */
	KINO_HTTP_BLOCKING = 1, /* runs on a worker thread */
} kino_http_mode_t;

typedef struct kino_http_route {
	const char *method;  /* "GET", "POST", ...; HEAD is served by GET */
	const char *pattern; /* "/api/v1/jobs/{id}"; a last segment "*" matches a subtree */
	kino_http_handler_fn handler;
	kino_http_mode_t mode;
	size_t max_body;     /* 0: the server's max_body */
	void *userdata;      /* borrowed; must outlive the server */
} kino_http_route_t;

/* Routes libwebsockets' log into Kino's. Call once from main. */
void kino_http_global_init(void);

/* Parses "host:port" (IPv4 host or name, or "[v6]:port") into cfg. */
int kino_http_listen_parse(const char *text, kino_http_config_t *cfg,
			   struct kino_error *err);

/* Binds cfg->host:cfg->port and prepares the routes (copied; userdata
 * borrowed). `name` labels logs ("http", "telemetry"). Returns NULL with err
 * set, KINO_EADDRINUSE when the port is taken. Nothing is served until
 * kino_http_server_start(). Caller frees with kino_http_server_destroy(). */
kino_http_server_t *kino_http_server_new(const kino_http_config_t *cfg,
					 const char *name,
					 const kino_http_route_t *routes,
					 size_t nroutes,
					 struct kino_error *err);

/* Starts the event-loop thread and the workers. */
int kino_http_server_start(kino_http_server_t *srv, struct kino_error *err);

/* The server's routes, in table order: for tools that list or check them
 * (the OpenAPI agreement test). i < kino_http_server_route_count(). */
size_t kino_http_server_route_count(const kino_http_server_t *srv);
const kino_http_route_t *kino_http_server_route(const kino_http_server_t *srv,
						size_t i);

/* The port actually bound (useful with port 0). */
int kino_http_server_port(const kino_http_server_t *srv);

/* Stops accepting, lets the loop and workers finish, joins them and frees
 * everything; NULL-safe. Requests still queued are answered 503. */
void kino_http_server_destroy(kino_http_server_t *srv);

/* Appends the server's request counters and latency histograms, in the
 * Prometheus text format, to a growing buffer: *out (malloc'd, may be NULL
 * at first) of *len bytes. Any thread. Returns 0 or KINO_ENOMEM. */
int kino_http_server_metrics(const kino_http_server_t *srv, char **out,
			     size_t *len);

/* ---- requests: the strings are owned by the request ---- */

/* The server a request came to. */
kino_http_server_t *kino_http_request_server(const kino_http_request_t *req);

const char *kino_http_request_method(const kino_http_request_t *req);
/* The path, percent-decoded once, without the query string. */
const char *kino_http_request_path(const kino_http_request_t *req);
/* A {name} segment of the route's pattern, or NULL. */
const char *kino_http_request_param(const kino_http_request_t *req,
				    const char *name);
/* The first query argument `name`, decoded, or NULL. */
const char *kino_http_request_query(const kino_http_request_t *req,
				    const char *name);
/* A request header by lower-case name ("authorization"), or NULL. */
const char *kino_http_request_header(const kino_http_request_t *req,
				     const char *name);
const char *kino_http_request_body(const kino_http_request_t *req,
				   size_t *len);
/* The peer's address as text. */
const char *kino_http_request_peer(const kino_http_request_t *req);

/* ---- answers: exactly one per request; bodies are copied ---- */

/* Adds a response header before the answer ("Cache-Control", "..."). */
int kino_http_response_header(kino_http_request_t *req, const char *name,
			      const char *value);

int kino_http_respond(kino_http_request_t *req, int status,
		      const char *content_type, const void *body, size_t len);

/* ---- WebSockets ----
 *
 * A server may also accept WebSocket connections on a path. The handler's
 * callbacks run on the event loop and must not block; a complete message
 * (fragments reassembled, at most max_message bytes, else the connection is
 * closed with 1009) is handed to on_message. Any thread may send to a
 * connection by its id: messages wait in a bounded per-connection queue and
 * are written when the socket is writable. Any thread may also pause and
 * resume reading from a connection, to push back instead of buffering. */
typedef struct kino_ws_conn kino_ws_conn_t;

typedef struct kino_ws_handler {
	const char *path;      /* "/v1/beacons" */
	size_t max_message;    /* 0: 64 KiB */
	size_t max_queued;     /* outbound bytes per connection; 0: 1 MiB */
	/* Return non-zero to refuse the connection. May be NULL. */
	int (*on_open)(kino_ws_conn_t *c, void *userdata);
	void (*on_message)(kino_ws_conn_t *c, const char *data, size_t len,
			   void *userdata);
	void (*on_close)(kino_ws_conn_t *c, void *userdata); /* may be NULL */
	void *userdata; /* borrowed; must outlive the server */
} kino_ws_handler_t;

/* Adds a WebSocket endpoint before kino_http_server_start(); the handler is
 * copied. At most 4. */
int kino_http_server_add_websocket(kino_http_server_t *srv,
				   const kino_ws_handler_t *handler,
				   struct kino_error *err);

/* A connection's id (never reused by a server), its peer address, and a
 * pointer the handler may keep with it. Loop thread (in the callbacks). */
unsigned long long kino_ws_conn_id(const kino_ws_conn_t *c);
const char *kino_ws_conn_peer(const kino_ws_conn_t *c);
void *kino_ws_conn_userdata(const kino_ws_conn_t *c);
void kino_ws_conn_set_userdata(kino_ws_conn_t *c, void *userdata);

/* Queues a text message for connection `id`; any thread. The text is
 * copied. KINO_ENOENT when the connection is gone, KINO_ETOOBIG when its
 * queue is full (the peer is not reading). */
int kino_ws_send(kino_http_server_t *srv, unsigned long long id,
		 const char *text, size_t len);

/* Stops (or resumes) reading from connection `id`; any thread. */
int kino_ws_pause(kino_http_server_t *srv, unsigned long long id, bool paused);

/* Answers with `length` bytes of the open file `fd` starting at `offset`,
 * streamed from the event loop in chunks. Takes ownership of fd: it is
 * closed when the answer is written or the client goes away, and on error.
 * For HEAD only the headers are sent. */
int kino_http_respond_fd(kino_http_request_t *req, int status,
			 const char *content_type, int fd, long long offset,
			 long long length);

/* `json` is a NUL-terminated JSON text. */
int kino_http_respond_json(kino_http_request_t *req, int status,
			   const char *json);

/* The one error shape, with the status that kino_http_status_for() gives. */
int kino_http_respond_error(kino_http_request_t *req, int kino_code,
			    const char *message);

/* The error shape with a domain code of the caller's ("not_subscribed"). */
int kino_http_respond_error_as(kino_http_request_t *req, int status,
			       const char *code, const char *message);

/* Writes src into dst as the inside of a JSON string (quotes, backslashes
 * and control characters escaped), cut at size - 1 bytes; returns the
 * length written. */
size_t kino_http_json_escape(char *dst, size_t size, const char *src);

/* The one table from kino_errno_t to HTTP status and error code string. */
int kino_http_status_for(int kino_code);
const char *kino_http_error_code_for(int kino_code);

#endif
