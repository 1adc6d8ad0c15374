/* One logging facility for all of Kino.
 *
 * A line looks like
 *     2026-11-22T03:20:01.123Z INFO  [db] kino_db_open: connected to 127.0.0.1:27018
 * and is written with a single write(2), so lines from several threads never
 * interleave. The level is checked before anything is formatted.
 *
 * Each .c file may `#define KINO_LOG_MODULE "name"` before including this
 * header; the module defaults to "kino". The logs of libav*, libwebsockets
 * and libmongoc are routed here by the small file that wraps each library,
 * with the library's name as the module. Any thread may log. */
#ifndef KINO_LOG_H
#define KINO_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum kino_log_level {
	KINO_LOG_LEVEL_ERROR = 0,
	KINO_LOG_LEVEL_WARN = 1,
	KINO_LOG_LEVEL_INFO = 2,
	KINO_LOG_LEVEL_DEBUG = 3,
	KINO_LOG_LEVEL_TRACE = 4,
} kino_log_level_t;

typedef struct kino_log_config {
	kino_log_level_t level; /* lines above it are not formatted */
	char file[4096];        /* "" means stderr; appended to, never truncated */
} kino_log_config_t;

/* A sink receives every formatted line (without the trailing newline);
 * tests use it to capture output. Called from any thread. */
typedef void (*kino_log_sink_fn)(kino_log_level_t level, const char *line,
				 void *userdata);

/* The current threshold, read by the macros without a lock. */
extern volatile int kino_log_threshold;

/* Applies cfg: opens cfg->file for appending when it is set.
 * On error the previous output stays in place and err says why. */
struct kino_error;
int kino_log_configure(const kino_log_config_t *cfg, struct kino_error *err);

void kino_log_set_level(kino_log_level_t level);

/* Installs a sink in addition to the file or stderr (NULL removes it). */
void kino_log_set_sink(kino_log_sink_fn fn, void *userdata);

/* Parses "error", "warn", "info", "debug", "trace". Returns false if unknown. */
bool kino_log_level_parse(const char *s, kino_log_level_t *out);
const char *kino_log_level_name(kino_log_level_t level);

void kino_log_write(kino_log_level_t level, const char *module,
		    const char *func, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void kino_log_writev(kino_log_level_t level, const char *module,
		     const char *func, const char *fmt, va_list ap);

#ifndef KINO_LOG_MODULE
#define KINO_LOG_MODULE "kino"
#endif

#define KINO_LOG(level, ...)                                                   \
	do {                                                                   \
		if ((int)(level) <= kino_log_threshold)                        \
			kino_log_write((level), KINO_LOG_MODULE, __func__,     \
				       __VA_ARGS__);                           \
	} while (0)

#define KINO_LOG_ERROR(...) KINO_LOG(KINO_LOG_LEVEL_ERROR, __VA_ARGS__)
#define KINO_LOG_WARN(...) KINO_LOG(KINO_LOG_LEVEL_WARN, __VA_ARGS__)
#define KINO_LOG_INFO(...) KINO_LOG(KINO_LOG_LEVEL_INFO, __VA_ARGS__)
#define KINO_LOG_DEBUG(...) KINO_LOG(KINO_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define KINO_LOG_TRACE(...) KINO_LOG(KINO_LOG_LEVEL_TRACE, __VA_ARGS__)

#endif
