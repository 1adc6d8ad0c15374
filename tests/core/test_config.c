/* Configuration: defaults, the file, KINO_* overrides and their precedence,
 * and errors that name the key and where the bad value came from. */
#include "check.h"
#include "testenv.h"

#include "kino/config.h"
#include "kino/error.h"

#include <stdio.h>
#include <unistd.h>

static char dir[512];

static const char *write_conf(const char *name, const char *text)
{
	static char path[700];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void)
{
	kino_config_t cfg;
	char *env[] = {NULL};
	kino_error_t err = {0};

	CHECK_INT_EQ(kino_config_load(&cfg, NULL, env, &err), 0);
	CHECK_STR_EQ(cfg.http.host, "127.0.0.1");
	CHECK_INT_EQ(cfg.http.port, 8080);
	CHECK_STR_EQ(cfg.telemetry.host, "127.0.0.1");
	CHECK_INT_EQ(cfg.telemetry.port, 8081);
	CHECK_STR_EQ(cfg.db.uri, "");
	CHECK_STR_EQ(cfg.db.database, "kino");
	CHECK_INT_EQ(cfg.db.embedded_port, 27018);
	CHECK_INT_EQ(cfg.db.timeout_ms, 2000);
	CHECK_INT_EQ(cfg.http.max_body, 1024 * 1024);
	CHECK_STR_EQ(cfg.data_dir, "var");
	CHECK_INT_EQ(cfg.log.level, KINO_LOG_LEVEL_INFO);
}

static void test_file_and_env(void)
{
	kino_config_t cfg;
	kino_error_t err = {0};
	const char *path = write_conf("good.conf",
				      "# a comment\n"
				      "\n"
				      "http.listen = 0.0.0.0:9000   # trailing comment\n"
				      "mongo.uri = \"mongodb://db.example:27017/?replicaSet=rs0\"\n"
				      "http.max_body = 2m\n"
				      "mongo.timeout = 1500ms\n"
				      "log.level = debug\n"
				      "data_dir = '/srv/kino data'\n");
	char *env[] = {"KINO_HTTP_LISTEN=127.0.0.1:9100", "PATH=/bin", NULL};

	CHECK_INT_EQ(kino_config_load(&cfg, path, env, &err), 0);
	/* The environment wins over the file. */
	CHECK_INT_EQ(cfg.http.port, 9100);
	CHECK_STR_EQ(cfg.http.host, "127.0.0.1");
	CHECK_STR_EQ(cfg.db.uri, "mongodb://db.example:27017/?replicaSet=rs0");
	CHECK_INT_EQ(cfg.http.max_body, 2 * 1024 * 1024);
	CHECK_INT_EQ(cfg.db.timeout_ms, 1500);
	CHECK_INT_EQ(cfg.log.level, KINO_LOG_LEVEL_DEBUG);
	CHECK_STR_EQ(cfg.data_dir, "/srv/kino data");
	CHECK_STR_EQ(cfg.config_file, path);

	/* KINO_CONFIG names the file when no path is given. */
	char var[800];
	snprintf(var, sizeof(var), "KINO_CONFIG=%s", path);
	char *env2[] = {var, NULL};
	CHECK_INT_EQ(kino_config_load(&cfg, NULL, env2, &err), 0);
	CHECK_INT_EQ(cfg.http.port, 9000);
	CHECK_STR_EQ(cfg.http.host, "0.0.0.0");
}

static void expect_error(const char *path, char **env, const char *needle1,
			 const char *needle2)
{
	kino_config_t cfg;
	kino_error_t err = {0};

	CHECK_INT_EQ(kino_config_load(&cfg, path, env, &err), KINO_ECONFIG);
	CHECK_CONTAINS(err.message, needle1);
	if (needle2 != NULL)
		CHECK_CONTAINS(err.message, needle2);
}

static void test_errors_name_the_key(void)
{
	char *none[] = {NULL};

	expect_error(write_conf("unknown.conf", "http.listen = 1.2.3.4:1\nhttp.lisen = x\n"),
		     none, "unknown.conf:2", "http.lisen");
	expect_error(write_conf("noeq.conf", "just words\n"), none, "noeq.conf:1",
		     "key = value");
	expect_error(write_conf("quote.conf", "mongo.uri = \"unterminated\n"), none,
		     "quote.conf:1", "mongo.uri");
	expect_error(NULL, (char *[]){"KINO_HTTP_LISTEN=8080", NULL}, "http.listen",
		     "KINO_HTTP_LISTEN");
	expect_error(NULL, (char *[]){"KINO_HTTP_LISTEN=127.0.0.1:70000", NULL},
		     "http.listen", "65535");
	expect_error(NULL, (char *[]){"KINO_HTTP_MAX_BODY=12q", NULL}, "http.max_body",
		     "not a size");
	expect_error(NULL, (char *[]){"KINO_HTTP_MAX_BODY=2g", NULL}, "http.max_body",
		     "out of range");
	expect_error(NULL, (char *[]){"KINO_MONGO_TIMEOUT=-5s", NULL}, "mongo.timeout",
		     NULL);
	expect_error(NULL, (char *[]){"KINO_HTTP_WORKERS=0", NULL}, "http.workers",
		     "out of range");
	expect_error(NULL, (char *[]){"KINO_LOG_LEVEL=loud", NULL}, "log.level",
		     "loud");
	expect_error(NULL, (char *[]){"KINO_HTTP_LISTN=127.0.0.1:1", NULL},
		     "KINO_HTTP_LISTN", "unknown setting");
	expect_error(NULL, (char *[]){"KINO_MONGO_EMBEDDED_LISTEN=127.0.0.1:0", NULL},
		     "mongo.embedded_listen", "port 0");
	expect_error("/nonexistent/kino.conf", none, "/nonexistent/kino.conf", NULL);
}

static void test_print_redacts_password(void)
{
	kino_config_t cfg;
	kino_error_t err = {0};
	char *env[] = {"KINO_MONGO_URI=mongodb://kino:s3cret@db.example:27017/kino", NULL};
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	CHECK_INT_EQ(kino_config_load(&cfg, NULL, env, &err), 0);
	f = open_memstream(&out, &len);
	kino_config_print(&cfg, f);
	fclose(f);
	CHECK_CONTAINS(out, "mongodb://kino:***@db.example:27017/kino");
	CHECK(strstr(out, "s3cret") == NULL);
	/* Every key is printed with its help, in the file's own syntax. */
	CHECK_CONTAINS(out, "http.listen = 127.0.0.1:8080");
	CHECK_CONTAINS(out, "telemetry.listen = 127.0.0.1:8081");
	free(out);
}

static void test_uri_redaction(void)
{
	char buf[256];

	kino_db_uri_redact("mongodb://127.0.0.1:27018/", buf, sizeof(buf));
	CHECK_STR_EQ(buf, "mongodb://127.0.0.1:27018/");
	kino_db_uri_redact("mongodb://u:p@h/", buf, sizeof(buf));
	CHECK_STR_EQ(buf, "mongodb://u:***@h/");
	kino_db_uri_redact("mongodb+srv://user:p%40ss@cluster.example/db?x=1", buf, sizeof(buf));
	CHECK_STR_EQ(buf, "mongodb+srv://user:***@cluster.example/db?x=1");
	kino_db_uri_redact("mongodb://onlyuser@h/", buf, sizeof(buf));
	CHECK_STR_EQ(buf, "mongodb://onlyuser@h/");
}

int main(void)
{
	tenv_tmpdir(dir, sizeof(dir), "config");
	RUN_TEST(test_defaults);
	RUN_TEST(test_file_and_env);
	RUN_TEST(test_errors_name_the_key);
	RUN_TEST(test_print_redacts_password);
	RUN_TEST(test_uri_redaction);
	tenv_rmtree(dir);
	return 0;
}
