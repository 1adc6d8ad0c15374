/* kino worker: claims ingest jobs from MongoDB and runs them, with leases
 * (see include/kino/jobs.h and docs/jobs.md). The work happens on a thread
 * of its own (kino_jobs_worker_run); the main thread only waits for
 * SIGINT/SIGTERM, which raise the stop flag: running jobs are cancelled and
 * given back to the queue, and the command exits 0. */
#define KINO_LOG_MODULE "main"
#include "commands.h"
#include "service_loop.h"

#include "kino/error.h"
#include "kino/jobs.h"
#include "kino/log.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_READY_MS 10000

typedef struct worker {
	kino_jobs_t *jobs;
	kino_jobs_worker_options_t opts;
	atomic_bool stop;
	atomic_bool finished;
	size_t ran;
} worker_t;

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	kino_error_t err = {0};

	if (kino_jobs_worker_run(w->jobs, &w->opts, &w->ran, &err) < 0)
		KINO_LOG_ERROR("%s", kino_error_message(&err));
	atomic_store(&w->finished, true);
	return NULL;
}

/* Waits for a stop signal or for the worker to finish by itself (--once).
 * kino_service_wait() only returns on a signal, hence this loop over the
 * same blocked set. Returns the signal, or 0. */
static int wait_stop(worker_t *w)
{
	sigset_t set;
	struct timespec tick = {0, 100 * 1000000L};

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	while (!atomic_load(&w->finished)) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGINT || sig == SIGTERM) {
			KINO_LOG_INFO("received %s, stopping: running jobs go back to the queue",
				      sig == SIGINT ? "SIGINT" : "SIGTERM");
			return sig;
		}
		if (sig == SIGHUP)
			KINO_LOG_INFO("SIGHUP ignored: restart kino to apply configuration changes");
		else if (sig < 0 && errno != EAGAIN && errno != EINTR)
			return SIGTERM;
	}
	return 0;
}

static int run(int argc, char **argv, const kino_config_t *cfg)
{
	static const struct option longopts[] = {
		{"once", no_argument, NULL, 'o'},
		{"concurrency", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	worker_t *w = NULL;
	kino_db_t *db = NULL;
	kino_error_t err = {0};
	pthread_t thread;
	char *end;
	long n;
	int c, ret = KINO_EXIT_FAILURE;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		fprintf(stderr, "kino worker: out of memory\n");
		return KINO_EXIT_FAILURE;
	}
	w->opts.concurrency = 1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			w->opts.once = true;
			break;
		case 'c':
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 || n > 64) {
				fprintf(stderr, "kino worker: --concurrency wants 1..64, not '%s'\n",
					optarg);
				ret = KINO_EXIT_USAGE;
				goto out;
			}
			w->opts.concurrency = (int)n;
			break;
		case 'h':
			fputs(kino_cmd_worker.usage, stdout);
			ret = KINO_EXIT_OK;
			goto out;
		default:
			fprintf(stderr, "kino worker: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], kino_cmd_worker.usage);
			ret = KINO_EXIT_USAGE;
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kino worker: unexpected argument '%s'\n", argv[optind]);
		ret = KINO_EXIT_USAGE;
		goto out;
	}

	kino_service_signals_block();
	/* libcurl was initialised by kino_ingest_global_init, in main. */
	db = kino_db_new(&cfg->db, &err);
	if (db == NULL) {
		fprintf(stderr, "kino worker: %s\n", kino_error_message(&err));
		ret = err.code == KINO_ECONFIG ? KINO_EXIT_USAGE : KINO_EXIT_FAILURE;
		goto out;
	}
	w->jobs = kino_jobs_new(db, NULL, cfg, &err);
	if (w->jobs == NULL) {
		fprintf(stderr, "kino worker: %s\n", kino_error_message(&err));
		goto out;
	}
	/* A worker without its database has nothing to do: say so and let
	 * the supervisor start it again, rather than wait silently. */
	if (kino_db_wait_ready(db, DB_READY_MS, &err) != 0) {
		fprintf(stderr, "kino worker: the database is not available: %s\n",
			kino_error_message(&err));
		goto out;
	}
	if (kino_jobs_ensure_indexes(w->jobs, &err) != 0) {
		fprintf(stderr, "kino worker: %s\n", kino_error_message(&err));
		goto out;
	}
	w->opts.stop = &w->stop;
	if (pthread_create(&thread, NULL, worker_main, w) != 0) {
		fprintf(stderr, "kino worker: cannot start the worker thread\n");
		goto out;
	}
	wait_stop(w);
	atomic_store(&w->stop, true);
	pthread_join(thread, NULL);
	KINO_LOG_INFO("worker stopped after %zu job(s)", w->ran);
	ret = KINO_EXIT_OK;
out:
	if (w != NULL)
		kino_jobs_destroy(w->jobs);
	kino_db_destroy(db);
	free(w);
	return ret;
}

const kino_command_t kino_cmd_worker = {
	.name = "worker",
	.summary = "claim and run ingest jobs from MongoDB, with leases",
	.usage = "Usage: kino worker [--once] [--concurrency N]\n"
		 "\n"
		 "Claims ingest jobs (uploads, URLs, files) from the jobs collection of\n"
		 "mongo.uri and runs them into <data_dir>/media, until SIGINT or SIGTERM.\n"
		 "Each job is held with a lease of jobs.lease, renewed while it runs; a\n"
		 "worker that dies leaves the lease to lapse and another worker retries\n"
		 "the job, up to jobs.max_attempts attempts. When idle it polls with a\n"
		 "growing pause (at most 2 s). On a stop signal, running jobs are\n"
		 "cancelled and go back to the queue.\n"
		 "\n"
		 "Options:\n"
		 "  --once            run at most one job (none if none is queued), then exit\n"
		 "  --concurrency N   jobs at once, 1..64 (default 1); the CPUs are shared\n"
		 "\n"
		 "Settings: jobs.lease, jobs.max_attempts, fetch.timeout, uploads.max_size,\n"
		 "data_dir (see `kino config`).\n",
	.run = run,
};
