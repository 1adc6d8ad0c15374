/* The embedded MongoDB-compatible server that `kino up` runs when no
 * mongo.uri is configured, and that integration tests run for themselves:
 * FerretDB on its SQLite backend (or mongod, when that is what is
 * installed), as a child process with its data and log under a directory.
 *
 * The child runs in its own process group, so a terminal's Ctrl-C reaches
 * only kino, which then stops it in order; and it gets SIGKILL if kino itself
 * dies (PR_SET_PDEATHSIG), so no orphan outlives a crashed kino. Start and
 * supervise it from one thread that lives as long as the process (the main
 * thread): the kernel ties the death signal to the forking thread.
 *
 * Threads: a kino_dbserver_t belongs to the thread that started it. */
#ifndef KINO_DBSERVER_H
#define KINO_DBSERVER_H

#include <stdbool.h>
#include <sys/types.h>

struct kino_error;

typedef struct kino_dbserver_config {
	const char *bin;      /* ferretdb or mongod; NULL: kino_dbserver_find() */
	const char *dir;      /* data under <dir>/db, log at <dir>/log/<name>.log */
	const char *host;     /* 127.0.0.1 */
	int port;             /* must be free */
} kino_dbserver_config_t;

typedef struct kino_dbserver kino_dbserver_t;

/* Looks for a server binary: `configured` when not empty, then
 * <exe dir>/../.local/bin/ferretdb, <source dir>/.local/bin/ferretdb,
 * ferretdb on PATH, mongod on PATH. Writes the path into out. Returns
 * KINO_ENOENT with a message that says what was tried and how to fix it. */
int kino_dbserver_find(const char *configured, const char *source_dir,
		       char *out, size_t size, struct kino_error *err);

/* Starts the server and waits up to timeout_ms for its port to accept
 * connections. Returns NULL with err set when the binary is missing, the
 * port is taken, or the child exits or stays silent; its log path is named
 * in the message. Caller frees with kino_dbserver_stop(). */
kino_dbserver_t *kino_dbserver_start(const kino_dbserver_config_t *cfg,
				     int timeout_ms, struct kino_error *err);

/* True while the child runs; reaps it when it has exited. *status receives
 * the wait status of an exited child. */
bool kino_dbserver_alive(kino_dbserver_t *srv, int *status);

/* Starts the child again after it exited, with the same configuration. */
int kino_dbserver_restart(kino_dbserver_t *srv, int timeout_ms,
			  struct kino_error *err);

pid_t kino_dbserver_pid(const kino_dbserver_t *srv);

/* mongodb://host:port/ */
const char *kino_dbserver_uri(const kino_dbserver_t *srv);
const char *kino_dbserver_log_path(const kino_dbserver_t *srv);

/* SIGTERM, up to 10 s for the child to exit, then SIGKILL; frees srv.
 * NULL-safe. */
void kino_dbserver_stop(kino_dbserver_t *srv);

/* Suspends (SIGSTOP) or resumes (SIGCONT) the child: for outage tests. */
int kino_dbserver_pause(kino_dbserver_t *srv, bool paused);

#endif
