/* The logging facility of include/kino/log.h.
 *
 * Output goes to one file descriptor (stderr or an appended file) and,
 * optionally, to a sink. The descriptor and sink are swapped under a mutex;
 * the level is a plain int read racily by the macros, which is harmless: a
 * stale read only means one line more or less around a level change. */
#include "kino/log.h"

#include "kino/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

volatile int kino_log_threshold = KINO_LOG_LEVEL_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;
static kino_log_sink_fn log_sink;
static void *log_sink_userdata;

static const char *const level_names[] = {"error", "warn", "info", "debug",
					  "trace"};
static const char *const level_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG",
					 "TRACE"};

bool kino_log_level_parse(const char *s, kino_log_level_t *out)
{
	for (int i = 0; i <= KINO_LOG_LEVEL_TRACE; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (kino_log_level_t)i;
			return true;
		}
	}
	return false;
}

const char *kino_log_level_name(kino_log_level_t level)
{
	if ((int)level < 0 || level > KINO_LOG_LEVEL_TRACE)
		return "unknown";
	return level_names[level];
}

void kino_log_set_level(kino_log_level_t level)
{
	kino_log_threshold = (int)level;
}

int kino_log_configure(const kino_log_config_t *cfg, kino_error_t *err)
{
	int fd = STDERR_FILENO;

	if (cfg->file[0] != '\0') {
		fd = open(cfg->file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0640);
		if (fd < 0)
			return kino_error_set(err, KINO_EIO,
					      "log.file: cannot open '%s': %s",
					      cfg->file, strerror(errno));
	}
	pthread_mutex_lock(&log_lock);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	kino_log_set_level(cfg->level);
	return 0;
}

void kino_log_set_sink(kino_log_sink_fn fn, void *userdata)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn;
	log_sink_userdata = userdata;
	pthread_mutex_unlock(&log_lock);
}

void kino_log_writev(kino_log_level_t level, const char *module,
		     const char *func, const char *fmt, va_list ap)
{
	char line[4096];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	if ((int)level < 0 || level > KINO_LOG_LEVEL_TRACE)
		level = KINO_LOG_LEVEL_ERROR;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s [%s] %s: ",
		     ts.tv_nsec / 1000000L, level_tags[level], module,
		     func ? func : "-");
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	/* Libraries end their messages with newlines of their own. */
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	line[n] = '\0';

	pthread_mutex_lock(&log_lock);
	if (log_sink != NULL)
		log_sink(level, line, log_sink_userdata);
	line[n] = '\n';
	/* A failed log write has nowhere to be reported; drop it. */
	if (write(log_fd, line, n + 1) < 0) {
	}
	pthread_mutex_unlock(&log_lock);
}

void kino_log_write(kino_log_level_t level, const char *module,
		    const char *func, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kino_log_writev(level, module, func, fmt, ap);
	va_end(ap);
}
