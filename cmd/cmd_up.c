/* kino up: everything on one machine, on the embedded defaults.
 *
 * Order matters for a clear failure: both ports are bound first (so a second
 * `kino up` stops at once with "address in use", before it touches any
 * data), then data_dir is locked, then the embedded database starts and
 * answers a ping, and only then are the servers started and the URLs shown.
 * While it runs, the main thread supervises the database child and restarts
 * it, with backoff, if it dies. SIGINT or SIGTERM stop everything in reverse
 * order; the database child cannot outlive kino (see kino/dbserver.h). */
#define KINO_LOG_MODULE "up"
#include "api_role.h"
#include "telemetry_role.h"
#include "commands.h"
#include "service_loop.h"

#include "kino/api.h"
#include "kino/auth.h"
#include "kino/dbserver.h"
#include "kino/error.h"
#include "kino/fs.h"
#include "kino/health.h"
#include "kino/log.h"
#include "kino/telemetry.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DB_START_TIMEOUT_MS 30000
#define RESTART_BACKOFF_MAX_S 30
#define BACKOFF_RESET_S 60

typedef struct supervisor {
	kino_dbserver_t *dbserver;
	time_t restart_at;  /* 0: not waiting to restart */
	time_t started_at;  /* of the running child */
	int backoff_s;
} supervisor_t;

/* Holds an exclusive lock on <data_dir>/kino.lock for the process's life,
 * so two kino up never share one embedded database. */
static int lock_data_dir(const char *dir, kino_error_t *err)
{
	char path[4200], pid[32];
	int fd;

	if (kino_fs_mkdir_p(dir, 0750) != 0)
		return kino_error_set(err, KINO_EIO, "data_dir '%s': %s", dir,
				      strerror(errno));
	snprintf(path, sizeof(path), "%s/kino.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return kino_error_set(err, KINO_EIO, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		close(fd);
		return kino_error_set(err, KINO_EADDRINUSE,
				      "data_dir '%s' is in use by another kino (pid %s)",
				      dir, pid[0] ? pid : "unknown");
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (write(fd, pid, (size_t)n) != n)
			KINO_LOG_WARN("%s: cannot record our pid", path);
	}
	return fd; /* kept open: the lock lasts until exit */
}

static void supervise(void *userdata)
{
	supervisor_t *sup = userdata;
	kino_error_t err = {0};
	int status = 0;

	if (sup->dbserver == NULL)
		return;
	if (sup->restart_at == 0) {
		if (kino_dbserver_alive(sup->dbserver, &status)) {
			/* Only a child that stays up earns a quick restart next
			 * time; a crash loop keeps backing off. */
			if (sup->backoff_s != 0 &&
			    time(NULL) - sup->started_at > BACKOFF_RESET_S)
				sup->backoff_s = 0;
			return;
		}
		sup->backoff_s = sup->backoff_s ? sup->backoff_s * 2 : 1;
		if (sup->backoff_s > RESTART_BACKOFF_MAX_S)
			sup->backoff_s = RESTART_BACKOFF_MAX_S;
		KINO_LOG_ERROR("the embedded database exited (%s %d); restarting it in %d s (log: %s)",
			       WIFSIGNALED(status) ? "signal" : "status",
			       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			       sup->backoff_s, kino_dbserver_log_path(sup->dbserver));
		sup->restart_at = time(NULL) + sup->backoff_s;
		return;
	}
	if (time(NULL) < sup->restart_at)
		return;
	sup->restart_at = 0;
	if (kino_dbserver_restart(sup->dbserver, DB_START_TIMEOUT_MS, &err) != 0) {
		KINO_LOG_ERROR("restarting the embedded database failed: %s",
			       kino_error_message(&err));
		return; /* the next tick sees it dead and backs off further */
	}
	sup->started_at = time(NULL);
}

/* The ingest worker that kino up runs beside the servers: one job at a
 * time, since a transcode uses every core. */
typedef struct worker {
	kino_jobs_t *jobs;
	atomic_bool stop;
	pthread_t thread;
	bool running;
} worker_t;

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	kino_jobs_worker_options_t opts = {.concurrency = 1, .stop = &w->stop};

	kino_jobs_worker_run(w->jobs, &opts, NULL, NULL);
	return NULL;
}

static void print_urls(const kino_config_t *cfg, int http_port, int tel_port,
		       const char *db_text)
{
	printf("Kino %s is up.\n"
	       "  web, API and origin:  http://%s:%d/\n"
	       "  health:               http://%s:%d/healthz\n"
	       "  telemetry:            ws://%s:%d/ (health: http://%s:%d/healthz)\n"
	       "  database:             %s\n"
	       "Press Ctrl-C to stop.\n",
	       KINO_VERSION, cfg->http.host, http_port, cfg->http.host, http_port,
	       cfg->telemetry.host, tel_port, cfg->telemetry.host, tel_port, db_text);
	fflush(stdout);
}

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	telemetry_role_t tel = {0};
	api_role_t api = {0};
	worker_t worker = {0};
	supervisor_t sup = {0};
	kino_db_t *db = NULL;
	kino_error_t err = {0};
	char db_text[2200], uri[2048];
	int lock_fd = -1, ret = KINO_EXIT_FAILURE;
	bool embedded = cfg->db.uri[0] == '\0';

	if (argc > 1) {
		fprintf(stderr, "kino up: unexpected argument '%s'\n", argv[1]);
		return KINO_EXIT_USAGE;
	}
	kino_service_signals_block();

	db = kino_db_new(&cfg->db, &err);
	if (db == NULL) {
		fprintf(stderr, "kino up: %s\n", kino_error_message(&err));
		return err.code == KINO_ECONFIG ? KINO_EXIT_USAGE : KINO_EXIT_FAILURE;
	}
	if (api_role_open(&api, cfg, db, API_ROLE_SERVE_AND_RETRAIN, &err) != 0 ||
	    telemetry_role_open(&tel, cfg, db, &err) != 0)
		goto fail;
	lock_fd = lock_data_dir(cfg->data_dir, &err);
	if (lock_fd < 0)
		goto fail;

	kino_db_config_uri(&cfg->db, uri, sizeof(uri));
	if (embedded) {
		char bin[4096];
		kino_dbserver_config_t dcfg = {
			.bin = bin,
			.dir = cfg->data_dir,
			.host = cfg->db.embedded_host,
			.port = cfg->db.embedded_port,
		};
		if (kino_dbserver_find(cfg->db.embedded_bin, NULL, bin, sizeof(bin), &err) != 0)
			goto fail;
		sup.dbserver = kino_dbserver_start(&dcfg, DB_START_TIMEOUT_MS, &err);
		if (sup.dbserver == NULL)
			goto fail;
		if (kino_db_wait_ready(db, DB_START_TIMEOUT_MS, &err) != 0) {
			kino_error_prefix(&err, "the embedded database does not answer");
			goto fail;
		}
		if (kino_auth_ensure_indexes(api.auth, &err) != 0 ||
		    kino_catalog_ensure_indexes(api.catalog, &err) != 0 ||
		    kino_jobs_ensure_indexes(api.jobs, &err) != 0)
			goto fail;
		snprintf(db_text, sizeof(db_text), "%s (embedded %s, data in %s/db)",
			 uri, strstr(bin, "mongod") ? "mongod" : "FerretDB", cfg->data_dir);
	} else {
		/* A remote database that is down at start is an outage like any
		 * other: /healthz says 503 until it answers. */
		kino_db_uri_redact(uri, db_text, sizeof(db_text));
	}
	if (kino_db_monitor_start(db, &err) != 0 ||
	    kino_http_server_start(api.server, &err) != 0 ||
	    kino_http_server_start(tel.server, &err) != 0)
		goto fail;
	worker.jobs = api.jobs;
	atomic_init(&worker.stop, false);
	if (pthread_create(&worker.thread, NULL, worker_main, &worker) != 0) {
		kino_error_set(&err, KINO_ENOMEM, "cannot start the ingest worker");
		goto fail;
	}
	worker.running = true;
	print_urls(cfg, kino_http_server_port(api.server), kino_http_server_port(tel.server), db_text);

	kino_service_wait(500, supervise, &sup);
	ret = KINO_EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "kino up: %s\n", kino_error_message(&err));
out:
	if (worker.running) {
		/* A job in progress is handed back, not counted as an attempt. */
		atomic_store(&worker.stop, true);
		pthread_join(worker.thread, NULL);
	}
	telemetry_role_close(&tel);
	api_role_close(&api);
	kino_db_destroy(db);
	kino_dbserver_stop(sup.dbserver);
	if (lock_fd >= 0)
		close(lock_fd);
	if (ret == KINO_EXIT_OK)
		KINO_LOG_INFO("stopped");
	return ret;
}

const kino_command_t kino_cmd_up = {
	.name = "up",
	.summary = "run everything on one machine, on the embedded defaults",
	.usage = "Usage: kino up\n"
		 "\n"
		 "Runs every role on this machine. Unless mongo.uri (KINO_MONGO_URI) is set,\n"
		 "it first starts an embedded MongoDB-compatible server (FerretDB on SQLite,\n"
		 "data under data_dir) on mongo.embedded_listen and waits until it answers.\n"
		 "Then it serves HTTP on http.listen (default 127.0.0.1:8080) and telemetry\n"
		 "on telemetry.listen (default 127.0.0.1:8081), runs an ingest worker for\n"
		 "uploads and URL jobs, and prints the URLs.\n"
		 "\n"
		 "If the embedded database dies, kino restarts it with backoff; /healthz\n"
		 "answers 503 meanwhile. Ctrl-C or SIGTERM stops everything it started.\n"
		 "Exit status: 0 after a clean stop, 1 when something could not start (an\n"
		 "address in use, no database binary), 2 for a configuration error.\n",
	.run = run,
};
