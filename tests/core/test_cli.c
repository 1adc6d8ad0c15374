/* The kino executable as a user meets it: help for every command, the
 * reserved command names, and exit status 2 with the key named for a bad
 * configuration. */
#include "check.h"
#include "testenv.h"

#include <stdio.h>

static char dir[512];

static int kino(char *const args[], char *const env[], char **out, char **err)
{
	char *argv[16] = {KINO_BIN};
	int i = 1;

	for (; args[i - 1] != NULL && i < 15; i++)
		argv[i] = args[i - 1];
	argv[i] = NULL;
	return tenv_run(dir, argv, env, 20000, out, err);
}

static const char *const commands[] = {"up", "serve", "telemetry", "worker",
				       "ingest", "recsys", "report", "loadgen",
				       "user", "config"};

static void test_help(void)
{
	char *out, *err;

	CHECK_INT_EQ(kino((char *[]){"--help", NULL}, NULL, &out, &err), 0);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "\n  %s ", commands[i]);
		CHECK_CONTAINS(out, line);
	}
	free(out);
	free(err);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		CHECK_INT_EQ(kino((char *[]){(char *)commands[i], "--help", NULL}, NULL, &out, &err), 0);
		CHECK_MSG(strncmp(out, "Usage: kino", 11) == 0, "kino %s --help: %s", commands[i], out);
		free(out);
		free(err);
	}
	CHECK_INT_EQ(kino((char *[]){"--version", NULL}, NULL, &out, &err), 0);
	CHECK_CONTAINS(out, "kino ");
	free(out);
	free(err);
}

static void test_usage_errors(void)
{
	char *out, *err;

	CHECK_INT_EQ(kino((char *[]){NULL}, NULL, &out, &err), 2);
	CHECK_CONTAINS(err, "Usage: kino");
	free(out);
	free(err);
	CHECK_INT_EQ(kino((char *[]){"bogus", NULL}, NULL, &out, &err), 2);
	CHECK_CONTAINS(err, "unknown command 'bogus'");
	free(out);
	free(err);
	CHECK_INT_EQ(kino((char *[]){"up", "extra", NULL}, NULL, &out, &err), 2);
	free(out);
	free(err);
}

static void test_bad_config_exits_2(void)
{
	char *out, *err, path[700];
	FILE *f;

	CHECK_INT_EQ(kino((char *[]){"up", NULL}, (char *[]){"KINO_HTTP_LISTEN=nope", NULL}, &out, &err), 2);
	CHECK_CONTAINS(err, "http.listen");
	CHECK_CONTAINS(err, "KINO_HTTP_LISTEN");
	free(out);
	free(err);

	CHECK_INT_EQ(kino((char *[]){"serve", NULL}, (char *[]){"KINO_MONGO_TIMEOUT=soon", NULL}, &out, &err), 2);
	CHECK_CONTAINS(err, "mongo.timeout");
	free(out);
	free(err);

	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("# ok\nhttp.listen = 127.0.0.1:1\ntelemetry.lissen = 127.0.0.1:2\n", f);
	fclose(f);
	CHECK_INT_EQ(kino((char *[]){"--config", path, "up", NULL}, NULL, &out, &err), 2);
	CHECK_CONTAINS(err, "bad.conf:3");
	CHECK_CONTAINS(err, "telemetry.lissen");
	free(out);
	free(err);

	CHECK_INT_EQ(kino((char *[]){"up", "--config", "/nonexistent.conf", NULL}, NULL, &out, &err), 2);
	CHECK_CONTAINS(err, "/nonexistent.conf");
	free(out);
	free(err);

	CHECK_INT_EQ(kino((char *[]){"up", "--config", NULL}, NULL, &out, &err), 2);
	free(out);
	free(err);
}

static void test_config_command(void)
{
	char *out, *err;

	CHECK_INT_EQ(kino((char *[]){"config", NULL},
			  (char *[]){"KINO_HTTP_LISTEN=127.0.0.1:9999",
				     "KINO_MONGO_URI=mongodb://u:hunter2@h:1/", NULL},
			  &out, &err), 0);
	CHECK_CONTAINS(out, "http.listen = 127.0.0.1:9999");
	CHECK_CONTAINS(out, "mongodb://u:***@h:1/");
	CHECK(strstr(out, "hunter2") == NULL);
	free(out);
	free(err);
}

int main(void)
{
	tenv_tmpdir(dir, sizeof(dir), "cli");
	RUN_TEST(test_help);
	RUN_TEST(test_usage_errors);
	RUN_TEST(test_bad_config_exits_2);
	RUN_TEST(test_config_command);
	tenv_rmtree(dir);
	return 0;
}
