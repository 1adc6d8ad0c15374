/* `kino up` as a user runs it, on the embedded defaults but with free ports
 * and a temporary data_dir: it starts FerretDB, serves /healthz on both
 * ports, refuses a second instance, reports a hung database as 503 and
 * recovers, restarts a crashed database, stops cleanly on SIGTERM, and
 * leaves no orphan even when it is SIGKILLed itself. */
#include "check.h"
#include "testenv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static char dir[512];
static char env_data[600], env_http[64], env_tel[64], env_db[64];
static char health_url[128], tel_health_url[128];

static char *const *up_env(void)
{
	static char *env[] = {env_data, env_http, env_tel, env_db,
			      "KINO_MONGO_HEALTH_INTERVAL=200ms",
			      "KINO_MONGO_TIMEOUT=1s", NULL};
	return env;
}

static void start_up(tenv_proc_t *p)
{
	char *argv[] = {KINO_BIN, "up", NULL};
	bool ok;
	char *out = NULL;

	tenv_proc_spawn(p, dir, argv, up_env());
	TENV_WAIT_UNTIL(ok, (free(out), out = tenv_proc_stdout(p), strstr(out, "is up.") != NULL) ||
				    tenv_proc_wait(p, 0), 60000);
	if (!ok || p->exited) {
		char *err = tenv_proc_stderr(p);
		CHECK_FAIL("kino up did not come up (exited=%d): stdout:\n%s\nstderr:\n%s",
			   p->exited, out, err);
	}
	CHECK_CONTAINS(out, health_url);
	free(out);
}

/* The pid in the last "(pid N)" that kino up logged about its database. */
static pid_t db_pid(const tenv_proc_t *p)
{
	char *err = tenv_proc_stderr(p), *at = err, *last = NULL;
	pid_t pid = 0;

	while ((at = strstr(at, "(pid ")) != NULL)
		last = at++;
	if (last != NULL)
		pid = (pid_t)atoi(last + 5);
	free(err);
	CHECK_MSG(pid > 0, "kino up did not log its database's pid");
	return pid;
}

static bool process_gone(pid_t pid)
{
	char path[64], *stat;
	bool gone;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return true;
	/* A zombie waiting for a reaper is dead too. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	stat = tenv_read_file(path);
	gone = stat == NULL || strstr(stat, ") Z ") != NULL;
	free(stat);
	return gone;
}

static int health(const char *url, char **body)
{
	return tenv_http_get(url, body);
}

static void test_up_serves_health(tenv_proc_t *up)
{
	char *body;

	CHECK_INT_EQ(health(health_url, &body), 200);
	CHECK_CONTAINS(body, "\"db\":\"ok\"");
	CHECK_CONTAINS(body, "\"service\":\"http\"");
	free(body);
	CHECK_INT_EQ(health(tel_health_url, &body), 200);
	CHECK_CONTAINS(body, "\"db\":\"ok\"");
	CHECK_CONTAINS(body, "\"service\":\"telemetry\"");
	free(body);
	(void)up;
}

static void test_second_instance_refused(void)
{
	char *argv[] = {KINO_BIN, "up", NULL};
	char *out, *err;
	int code = tenv_run(dir, argv, up_env(), 10000, &out, &err);

	CHECK_MSG(code != 0, "a second kino up on the same port exited 0");
	CHECK_CONTAINS(err, "address in use");
	free(out);
	free(err);
	CHECK_INT_EQ(health(health_url, NULL), 200);
}

static void test_hung_database(tenv_proc_t *up)
{
	pid_t pid = db_pid(up);
	char *body = NULL;
	bool ok;

	CHECK(kill(pid, SIGSTOP) == 0);
	TENV_WAIT_UNTIL(ok, (free(body), body = NULL, health(health_url, &body) == 503), 10000);
	CHECK_MSG(ok, "/healthz did not turn 503 while the database was hung");
	CHECK_CONTAINS(body, "\"db\":\"unreachable\"");
	CHECK_CONTAINS(body, "\"db_error\":");
	free(body);
	CHECK(!tenv_proc_wait(up, 0)); /* kino keeps running */
	CHECK(kill(pid, SIGCONT) == 0);
	TENV_WAIT_UNTIL(ok, health(health_url, NULL) == 200, 15000);
	CHECK_MSG(ok, "/healthz did not return to 200 after the database resumed");
}

static void test_crashed_database_restarts(tenv_proc_t *up)
{
	pid_t pid = db_pid(up);
	bool ok;

	CHECK(kill(pid, SIGKILL) == 0);
	TENV_WAIT_UNTIL(ok, db_pid(up) != pid, 15000);
	CHECK_MSG(ok, "kino up did not restart its database");
	TENV_WAIT_UNTIL(ok, health(health_url, NULL) == 200, 15000);
	CHECK(ok);
	char *err = tenv_proc_stderr(up);
	CHECK_CONTAINS(err, "the embedded database exited");
	free(err);
}

static void test_clean_stop(tenv_proc_t *up)
{
	pid_t pid = db_pid(up);

	CHECK(kill(up->pid, SIGTERM) == 0);
	CHECK_MSG(tenv_proc_wait(up, 20000), "kino up did not stop within 20 s of SIGTERM");
	CHECK_INT_EQ(tenv_proc_exit_code(up), 0);
	CHECK_MSG(process_gone(pid), "the database (pid %d) outlived kino up", (int)pid);
	CHECK(health(health_url, NULL) == 0); /* nothing listens any more */
}

static void test_no_orphan_after_sigkill(void)
{
	tenv_proc_t up;
	pid_t pid;
	bool ok;

	start_up(&up);
	pid = db_pid(&up);
	CHECK(kill(up.pid, SIGKILL) == 0);
	CHECK(tenv_proc_wait(&up, 5000));
	TENV_WAIT_UNTIL(ok, process_gone(pid), 5000);
	CHECK_MSG(ok, "the database (pid %d) became an orphan when kino up was killed", (int)pid);
}

int main(void)
{
	tenv_proc_t up;
	int http = tenv_free_port(), tel = tenv_free_port(), db = tenv_free_port();

	tenv_tmpdir(dir, sizeof(dir), "up");
	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s/var", dir);
	snprintf(env_http, sizeof(env_http), "KINO_HTTP_LISTEN=127.0.0.1:%d", http);
	snprintf(env_tel, sizeof(env_tel), "KINO_TELEMETRY_LISTEN=127.0.0.1:%d", tel);
	snprintf(env_db, sizeof(env_db), "KINO_MONGO_EMBEDDED_LISTEN=127.0.0.1:%d", db);
	snprintf(health_url, sizeof(health_url), "http://127.0.0.1:%d/healthz", http);
	snprintf(tel_health_url, sizeof(tel_health_url), "http://127.0.0.1:%d/healthz", tel);

	start_up(&up);
	RUN_TEST_ARG(test_up_serves_health, &up);
	RUN_TEST(test_second_instance_refused);
	RUN_TEST_ARG(test_hung_database, &up);
	RUN_TEST_ARG(test_crashed_database_restarts, &up);
	RUN_TEST_ARG(test_clean_stop, &up);
	RUN_TEST(test_no_orphan_after_sigkill);
	tenv_rmtree(dir);
	return 0;
}
