/* Logging: levels filter before formatting, lines carry level, module and
 * function, and libav*, libwebsockets and libmongoc speak through it. */
#define KINO_LOG_MODULE "testmod"
#include "check.h"

#include "kino/db.h"
#include "kino/error.h"
#include "kino/http.h"
#include "kino/ingest.h"
#include "kino/log.h"

#include <libavutil/log.h>
#include <libwebsockets.h>
#include <mongoc/mongoc.h>

static char captured[8192];
static int nlines;

static void sink(kino_log_level_t level, const char *line, void *userdata)
{
	(void)level;
	(void)userdata;
	nlines++;
	strncat(captured, line, sizeof(captured) - strlen(captured) - 2);
	strcat(captured, "\n");
}

static void reset(void)
{
	captured[0] = '\0';
	nlines = 0;
}

static int formatted;
static const char *count_formatting(void)
{
	formatted++;
	return "x";
}

static void test_levels_and_format(void)
{
	kino_log_set_level(KINO_LOG_LEVEL_WARN);
	reset();
	KINO_LOG_INFO("hidden %s", count_formatting());
	CHECK_INT_EQ(nlines, 0);
	CHECK_INT_EQ(formatted, 0); /* arguments are not even evaluated */
	KINO_LOG_WARN("shown %d", 42);
	CHECK_INT_EQ(nlines, 1);
	CHECK_CONTAINS(captured, "WARN");
	CHECK_CONTAINS(captured, "[testmod]");
	CHECK_CONTAINS(captured, "test_levels_and_format: shown 42");
	/* An ISO-8601 UTC timestamp starts the line. */
	CHECK(captured[4] == '-' && captured[10] == 'T');

	kino_log_level_t lvl;
	CHECK(kino_log_level_parse("DEBUG", &lvl) && lvl == KINO_LOG_LEVEL_DEBUG);
	CHECK(!kino_log_level_parse("verbose", &lvl));
}

static void test_libraries_are_routed(void)
{
	kino_log_set_level(KINO_LOG_LEVEL_DEBUG);
	kino_ingest_global_init();
	kino_db_global_init();
	kino_http_global_init();

	reset();
	av_log(NULL, AV_LOG_ERROR, "from libav %d\n", 7);
	CHECK_CONTAINS(captured, "ERROR [libav]");
	CHECK_CONTAINS(captured, "from libav 7");
	CHECK(strstr(captured, "from libav 7\n\n") == NULL); /* newline trimmed */

	reset();
	mongoc_log(MONGOC_LOG_LEVEL_WARNING, "cluster", "from mongoc");
	CHECK_CONTAINS(captured, "WARN  [mongoc] cluster: from mongoc");

	reset();
	lwsl_err("from lws %s\n", "ok");
	CHECK_CONTAINS(captured, "ERROR [lws]");
	CHECK_CONTAINS(captured, "from lws ok");

	/* Below the threshold, library lines are dropped too. */
	kino_log_set_level(KINO_LOG_LEVEL_ERROR);
	reset();
	mongoc_log(MONGOC_LOG_LEVEL_WARNING, "cluster", "quiet");
	av_log(NULL, AV_LOG_WARNING, "quiet\n");
	CHECK_INT_EQ(nlines, 0);
	kino_db_global_cleanup();
}

static void test_errors(void)
{
	kino_error_t err = {0};

	CHECK_STR_EQ(kino_err_name(KINO_EADDRINUSE), "EADDRINUSE");
	CHECK_STR_EQ(kino_strerror(KINO_ENOENT), "not found");
	CHECK_STR_EQ(kino_err_name(-9999), "EUNKNOWN");
	CHECK_INT_EQ(kino_error_set(&err, KINO_EMEDIA, "no video in '%s'", "a.mp3"), KINO_EMEDIA);
	CHECK_INT_EQ(kino_error_prefix(&err, "probe"), KINO_EMEDIA);
	CHECK_STR_EQ(err.message, "probe: no video in 'a.mp3'");
	CHECK_INT_EQ(kino_error_set(NULL, KINO_EIO, "ignored"), KINO_EIO);
	kino_error_clear(&err);
	CHECK_STR_EQ(kino_error_message(&err), "success");
}

int main(void)
{
	kino_log_set_sink(sink, NULL);
	RUN_TEST(test_levels_and_format);
	RUN_TEST(test_libraries_are_routed);
	RUN_TEST(test_errors);
	return 0;
}
