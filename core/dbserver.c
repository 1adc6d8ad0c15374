/* The embedded database server: one child process, FerretDB on SQLite or
 * mongod, supervised by its parent. See include/kino/dbserver.h for the
 * process-group and death-signal rules that keep it from becoming an orphan.
 *
 * Readiness is "the port accepts a TCP connection"; the caller then pings it
 * through the database module. A child that exits during start is reported
 * with the tail of its log, which is where FerretDB says why. */
#define KINO_LOG_MODULE "dbserver"
#include "kino/dbserver.h"

#include "kino/error.h"
#include "kino/fs.h"
#include "kino/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct kino_dbserver {
	char bin[PATH_MAX];
	char dir[PATH_MAX];
	char data[PATH_MAX + 16];
	char log[PATH_MAX + 32];
	char host[256];
	int port;
	char uri[300];
	bool is_mongod;
	pid_t pid; /* 0 once reaped */
};

static bool is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

static bool find_on_path(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	if (path == NULL)
		return false;
	copy = strdup(path);
	if (copy == NULL)
		return false;
	for (char *dir = strtok_r(copy, ":", &save); dir != NULL;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", *dir ? dir : ".", name);
		if (is_executable(out)) {
			found = true;
			break;
		}
	}
	free(copy);
	return found;
}

int kino_dbserver_find(const char *configured, const char *source_dir,
		       char *out, size_t size, kino_error_t *err)
{
	char exe[PATH_MAX];
	ssize_t n;

	if (configured != NULL && configured[0] != '\0') {
		if (!is_executable(configured))
			return kino_error_set(err, KINO_ENOENT,
					      "mongo.embedded_bin: '%s' is not an executable file",
					      configured);
		snprintf(out, size, "%s", configured);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(out, size, "%s/../.local/bin/ferretdb", dirname(exe));
		if (is_executable(out))
			return 0;
	}
	if (source_dir != NULL) {
		snprintf(out, size, "%s/.local/bin/ferretdb", source_dir);
		if (is_executable(out))
			return 0;
	}
	if (find_on_path("ferretdb", out, size) ||
	    find_on_path("mongod", out, size))
		return 0;
	return kino_error_set(err, KINO_ENOENT,
			      "no MongoDB-compatible server found (looked for .local/bin/ferretdb next to the build, "
			      "then ferretdb and mongod on PATH): run scripts/setup, or set KINO_MONGO_URI");
}

static bool port_accepts(const char *host, int port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char service[16];
	bool ok = false;

	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0)
		return false;
	for (struct addrinfo *a = ai; a != NULL && !ok; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(ai);
	return ok;
}

/* Copies the last `size - 1` bytes of the child's log into buf, one line. */
static void log_tail(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end > (off_t)(size - 1))
		lseek(fd, end - (off_t)(size - 1), SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

static int spawn(kino_dbserver_t *srv, kino_error_t *err)
{
	char listen[300], port[16], sqlite[PATH_MAX + 16];
	pid_t parent = getpid();
	pid_t pid;
	int logfd;

	snprintf(listen, sizeof(listen), "--listen-addr=%s:%d", srv->host,
		 srv->port);
	snprintf(port, sizeof(port), "%d", srv->port);
	snprintf(sqlite, sizeof(sqlite), "--sqlite-url=file:%s/", srv->data);

	logfd = open(srv->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd < 0)
		return kino_error_set(err, KINO_EIO, "cannot open '%s': %s",
				      srv->log, strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(logfd);
		return kino_error_set(err, KINO_ECHILD, "fork: %s",
				      strerror(errno));
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		sigset_t none;
		int devnull = open("/dev/null", O_RDONLY);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		if (chdir(srv->dir) != 0)
			_exit(127);
		if (srv->is_mongod) {
			execl(srv->bin, srv->bin, "--dbpath", srv->data,
			      "--bind_ip", srv->host, "--port", port, "--quiet",
			      (char *)NULL);
		} else {
			execl(srv->bin, srv->bin, "--handler=sqlite", sqlite,
			      "--state-dir=.", listen, "--debug-addr=-",
			      "--telemetry=disable", "--log-level=warn",
			      "--log-format=text", (char *)NULL);
		}
		_exit(127);
	}
	close(logfd);
	srv->pid = pid;
	return 0;
}

static int wait_listening(kino_dbserver_t *srv, int timeout_ms,
			  kino_error_t *err)
{
	struct timespec pause = {0, 50 * 1000000L};
	char tail[400];
	int status;

	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		if (!kino_dbserver_alive(srv, &status)) {
			log_tail(srv->log, tail, sizeof(tail));
			return kino_error_set(err, KINO_ECHILD,
					      "%s exited during start (status %d); its log %s ends: %s",
					      srv->bin,
					      WIFEXITED(status) ? WEXITSTATUS(status)
								: 128 + WTERMSIG(status),
					      srv->log, tail);
		}
		if (port_accepts(srv->host, srv->port))
			return 0;
		nanosleep(&pause, NULL);
	}
	return kino_error_set(err, KINO_ETIMEDOUT,
			      "%s did not listen on %s:%d within %d ms (see %s)",
			      srv->bin, srv->host, srv->port, timeout_ms, srv->log);
}

kino_dbserver_t *kino_dbserver_start(const kino_dbserver_config_t *cfg,
				     int timeout_ms, kino_error_t *err)
{
	kino_dbserver_t *srv = calloc(1, sizeof(*srv));
	char logdir[PATH_MAX + 8];
	const char *base;

	if (srv == NULL) {
		kino_error_set(err, KINO_ENOMEM, "out of memory");
		return NULL;
	}
	if (cfg->bin != NULL)
		snprintf(srv->bin, sizeof(srv->bin), "%s", cfg->bin);
	else if (kino_dbserver_find(NULL, NULL, srv->bin, sizeof(srv->bin), err) != 0)
		goto fail;
	if (realpath(cfg->dir, srv->dir) == NULL &&
	    (kino_fs_mkdir_p(cfg->dir, 0750) != 0 || realpath(cfg->dir, srv->dir) == NULL)) {
		kino_error_set(err, KINO_EIO, "cannot create '%s': %s", cfg->dir,
			       strerror(errno));
		goto fail;
	}
	base = strrchr(srv->bin, '/');
	base = base ? base + 1 : srv->bin;
	srv->is_mongod = strcmp(base, "mongod") == 0;
	snprintf(srv->data, sizeof(srv->data), "%s/db/%s", srv->dir,
		 srv->is_mongod ? "mongod" : "ferretdb");
	snprintf(logdir, sizeof(logdir), "%s/log", srv->dir);
	snprintf(srv->log, sizeof(srv->log), "%s/%s.log", logdir, base);
	if (kino_fs_mkdir_p(srv->data, 0750) != 0 || kino_fs_mkdir_p(logdir, 0750) != 0) {
		kino_error_set(err, KINO_EIO, "cannot create '%s' or '%s': %s",
			       srv->data, logdir, strerror(errno));
		goto fail;
	}
	snprintf(srv->host, sizeof(srv->host), "%s", cfg->host);
	srv->port = cfg->port;
	snprintf(srv->uri, sizeof(srv->uri), "mongodb://%s:%d/", srv->host,
		 srv->port);
	if (port_accepts(srv->host, srv->port)) {
		kino_error_set(err, KINO_EADDRINUSE,
			       "%s:%d: address in use: another server already listens there "
			       "(is another `kino up` running? set mongo.embedded_listen or KINO_MONGO_URI)",
			       srv->host, srv->port);
		goto fail;
	}
	if (spawn(srv, err) != 0)
		goto fail;
	KINO_LOG_INFO("started %s (pid %d) on %s:%d, data in %s", srv->bin,
		      (int)srv->pid, srv->host, srv->port, srv->data);
	if (wait_listening(srv, timeout_ms, err) != 0) {
		kino_dbserver_stop(srv);
		return NULL;
	}
	return srv;
fail:
	free(srv);
	return NULL;
}

bool kino_dbserver_alive(kino_dbserver_t *srv, int *status)
{
	int st = 0;
	pid_t r;

	if (srv->pid == 0)
		return false;
	r = waitpid(srv->pid, &st, WNOHANG);
	if (r == 0)
		return true;
	if (r == srv->pid || (r < 0 && errno == ECHILD)) {
		srv->pid = 0;
		if (status != NULL)
			*status = st;
		return false;
	}
	return true;
}

int kino_dbserver_restart(kino_dbserver_t *srv, int timeout_ms,
			  kino_error_t *err)
{
	if (kino_dbserver_alive(srv, NULL))
		return kino_error_set(err, KINO_ESTATE, "%s is still running",
				      srv->bin);
	if (spawn(srv, err) != 0)
		return err ? err->code : KINO_ECHILD;
	KINO_LOG_INFO("restarted %s (pid %d)", srv->bin, (int)srv->pid);
	return wait_listening(srv, timeout_ms, err);
}

pid_t kino_dbserver_pid(const kino_dbserver_t *srv)
{
	return srv->pid;
}

const char *kino_dbserver_uri(const kino_dbserver_t *srv)
{
	return srv->uri;
}

const char *kino_dbserver_log_path(const kino_dbserver_t *srv)
{
	return srv->log;
}

int kino_dbserver_pause(kino_dbserver_t *srv, bool paused)
{
	if (srv->pid == 0 || kill(srv->pid, paused ? SIGSTOP : SIGCONT) != 0)
		return KINO_ESTATE;
	return 0;
}

void kino_dbserver_stop(kino_dbserver_t *srv)
{
	struct timespec pause = {0, 20 * 1000000L};

	if (srv == NULL)
		return;
	if (srv->pid != 0) {
		/* A paused child cannot act on SIGTERM until it runs again. */
		kill(srv->pid, SIGCONT);
		kill(srv->pid, SIGTERM);
		for (int i = 0; i < 500 && kino_dbserver_alive(srv, NULL); i++)
			nanosleep(&pause, NULL);
		if (srv->pid != 0) {
			KINO_LOG_WARN("%s (pid %d) ignored SIGTERM for 10 s; killing it",
				      srv->bin, (int)srv->pid);
			kill(srv->pid, SIGKILL);
			waitpid(srv->pid, NULL, 0);
		}
		KINO_LOG_INFO("stopped %s", srv->bin);
	}
	free(srv);
}
