/* What integration tests share: a FerretDB of their own on a free loopback
 * port in a temporary directory, child processes (the kino binary), and a
 * small HTTP client. Every helper fails the test, with a message that says
 * what is missing, rather than skip. */
#ifndef KINO_TEST_TESTENV_H
#define KINO_TEST_TESTENV_H

#include "kino/auth.h"
#include "kino/dbserver.h"

#include <stdbool.h>
#include <sys/types.h>

/* A fresh directory under $TMPDIR (or /tmp), removed by tenv_rmtree(). */
void tenv_tmpdir(char *out, size_t size, const char *tag);
void tenv_rmtree(const char *path);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int tenv_free_port(void);

/* ---- a FerretDB of the test's own ---- */
typedef struct tenv_db {
	char dir[512];
	int port;
	char uri[128];
	kino_dbserver_t *server;
} tenv_db_t;

/* Starts FerretDB (from .local/bin, built by scripts/setup, or PATH) and
 * waits until it listens. Fails the test if there is none. */
void tenv_db_start(tenv_db_t *db);
void tenv_db_stop(tenv_db_t *db); /* and removes its directory */
/* Stops the server but keeps its data; tenv_db_restart() starts it again on
 * the same port and data, as an operator would after an outage. */
void tenv_db_kill(tenv_db_t *db);
void tenv_db_restart(tenv_db_t *db);

/* ---- child processes ---- */
typedef struct tenv_proc {
	pid_t pid;
	int status;      /* wait status, once exited */
	bool exited;
	char out_path[600], err_path[600];
} tenv_proc_t;

/* Runs argv[0] with argv, with the current environment minus every KINO_*
 * variable, plus `env` ("KEY=value" strings, NULL-terminated, may be NULL).
 * stdout and stderr go to files under dir. */
void tenv_proc_spawn(tenv_proc_t *p, const char *dir, char *const argv[],
		     char *const env[]);
/* Waits up to timeout_ms; returns true once it exited. */
bool tenv_proc_wait(tenv_proc_t *p, int timeout_ms);
/* Exit code of an exited process (128 + signal when killed). */
int tenv_proc_exit_code(const tenv_proc_t *p);
/* The whole of its stdout or stderr so far; caller frees. */
char *tenv_proc_stdout(const tenv_proc_t *p);
char *tenv_proc_stderr(const tenv_proc_t *p);
/* SIGKILLs it if it still runs and reaps it. */
void tenv_proc_kill(tenv_proc_t *p);

/* Runs a command to completion (at most timeout_ms, then fails the test). */
int tenv_run(const char *dir, char *const argv[], char *const env[],
	     int timeout_ms, char **out, char **err);

/* ---- HTTP ---- */
/* GET (or another method with a body); returns the status, or 0 when the
 * connection failed. *body (may be NULL) receives the body; caller frees. */
int tenv_http(const char *method, const char *url, const char *body,
	      char **resp_body);
int tenv_http_get(const char *url, char **resp_body);
/* The same with request headers ("Name: value", NULL-terminated, may be
 * NULL). */
int tenv_http_ex(const char *method, const char *url, const char *const *headers,
		 const char *body, char **resp_body);

/* Creates an account with `password` and role, and opens a session for it:
 * the user into *user (may be NULL) and its token into token
 * (KINO_AUTH_TOKEN_LEN + 1 bytes). Fails the test on any error. */
void tenv_user_new(kino_auth_t *auth, const char *email, const char *password,
		   kino_role_t role, kino_user_t *user, char *token);

/* A call to Kino's JSON API: base + path, with "Authorization: Bearer
 * <token>" when token is not NULL. Returns the status (0: no connection);
 * *resp (may be NULL) receives the body, which the caller frees. */
int tenv_api(const char *base, const char *method, const char *path, const char *token,
	     const char *body, char **resp);
/* The same, failing the test (with the method, path, status and body)
 * unless the status is `want`. Returns the body; caller frees. */
char *tenv_api_expect(const char *base, int want, const char *method, const char *path,
		      const char *token, const char *body);

/* Everything of an answer, for tests of HTTP semantics. The path is sent
 * exactly as given (no "../" folding by the client). */
typedef struct tenv_response {
	int status;       /* 0 when the connection failed */
	char *body;       /* caller frees with tenv_response_free() */
	size_t body_len;
	char *headers;    /* the raw header block, lower-cased names */
} tenv_response_t;

void tenv_http_full(const char *method, const char *url, const char *const *headers,
		    const char *body, tenv_response_t *out);
/* The value of a response header (name lower-case), copied into buf, or
 * NULL when absent. */
const char *tenv_response_header(const tenv_response_t *r, const char *name,
				 char *buf, size_t size);
void tenv_response_free(tenv_response_t *r);

/* Sets `ok` to whether cond became true, polling every 50 ms for up to
 * timeout_ms. */
#define TENV_WAIT_UNTIL(ok, cond, timeout_ms)                                  \
	do {                                                                   \
		(ok) = false;                                                  \
		for (int tenv_i_ = 0; tenv_i_ <= (timeout_ms) / 50; tenv_i_++) { \
			if ((cond)) {                                          \
				(ok) = true;                                   \
				break;                                         \
			}                                                      \
			tenv_sleep_ms(50);                                     \
		}                                                              \
	} while (0)
void tenv_sleep_ms(int ms);

/* Makes <media_root>/<id>/ with a minimal asset.json (manifest names
 * master.m3u8 and manifest.mpd, no renditions), as the catalog and the key
 * service read it, for tests that need an asset without transcoding one. */
void tenv_fake_asset(const char *media_root, const char *id, double duration);

/* The string value of "key" in a JSON text (the first `"key":"...`, no escapes),
 * copied into buf; NULL when absent or longer than size - 1. */
const char *tenv_json_str(const char *text, const char *key, char *buf, size_t size);

/* Reads a whole file; NULL if it cannot. Caller frees. */
char *tenv_read_file(const char *path);

#endif
