/* `kino ingest` as scripts use it: the --json contract (one JSON object on
 * stdout and nothing else), exit 2 for usage errors, exit 1 with a reason
 * on stderr for failures (URL sources: test_ingest_fetch.c). Runs the kino binary
 * (KINO_BIN) with its data directory in a temporary place. */
#include "ingest_test_support.h"

static char root[700], env_data[900];

static int kino(char **out, char **err, const char *a1, const char *a2,
		const char *a3, const char *a4, const char *a5, const char *a6)
{
	char *argv[] = {KINO_BIN, "ingest", (char *)a1, (char *)a2, (char *)a3,
			(char *)a4, (char *)a5, (char *)a6, NULL};
	char *env[] = {env_data, "KINO_LOG_LEVEL=error", NULL};
	return tenv_run(root, argv, env, 120000, out, err);
}

static void test_json_contract(void)
{
	char *out = NULL, *err = NULL, media[1000], prefix[1100];
	int code;

	code = kino(&out, &err, MEDIA("edge-white.mp4"), "--title", "White",
		    "--json", "--ladder", "240:300");
	CHECK_MSG(code == 0, "exit %d, stderr: %s", code, err);
	snprintf(media, sizeof(media), "%s/data/media/", root);
	/* Exactly one object on one line: nothing else on stdout. */
	CHECK(strncmp(out, "{\"asset_id\":\"", 13) == 0);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);
	CHECK(strcmp(out + strlen(out) - 3, "]}\n") == 0);
	snprintf(prefix, sizeof(prefix), "\"hls\":\"%s", media);
	CHECK_CONTAINS(out, prefix);
	CHECK_CONTAINS(out, "/master.m3u8\",\"dash\":\"");
	CHECK_CONTAINS(out, "/manifest.mpd\",\"renditions\":[{\"name\":\"240p\","
			    "\"width\":320,\"height\":240,\"bitrate_kbps\":300");
	{
		char id[17], path[1400];
		memcpy(id, out + 13, 16);
		id[16] = '\0';
		snprintf(path, sizeof(path), "%s%s/master.m3u8", media, id);
		check_ffprobe_opens(path);
		snprintf(path, sizeof(path), "%s%s/asset.json", media, id);
		CHECK(file_exists(path));
	}
	CHECK_INT_EQ(dir_count(media, ".tmp"), 0);
	free(out);
	free(err);
}

static void test_usage_errors_exit_2(void)
{
	char *out = NULL, *err = NULL;

	CHECK_INT_EQ(kino(&out, &err, MEDIA("edge-white.mp4"), NULL, NULL, NULL, NULL, NULL), 2);
	CHECK_CONTAINS(err, "--title is required");
	CHECK_STR_EQ(out, "");
	free(out), free(err);
	CHECK_INT_EQ(kino(&out, &err, "--title", "x", NULL, NULL, NULL, NULL), 2);
	free(out), free(err);
	CHECK_INT_EQ(kino(&out, &err, MEDIA("edge-white.mp4"), "--title", "x", "--bogus",
			  NULL, NULL), 2);
	free(out), free(err);
	CHECK_INT_EQ(kino(&out, &err, MEDIA("edge-white.mp4"), "--title", "x", "--ladder",
			  "720", NULL), 2);
	CHECK_CONTAINS(err, "ladder:");
	free(out), free(err);
	CHECK_INT_EQ(kino(&out, &err, MEDIA("edge-white.mp4"), "--title", "x",
			  "--segment-seconds", "0.5", NULL), 2);
	free(out), free(err);
	CHECK_INT_EQ(kino(&out, &err, "ftp://example.com/a.mp4", "--title", "x", NULL, NULL,
			  NULL), 2);
	CHECK_CONTAINS(err, "only http and https");
	free(out), free(err);
}

static void test_failures_exit_1_with_a_reason(void)
{
	char *out = NULL, *err = NULL;

	CHECK_INT_EQ(kino(&out, &err, MEDIA("edge-bipbop_nonfragment_header.mp4"), "--title",
			  "x", "--json", NULL, NULL), 1);
	CHECK_CONTAINS(err, "no video frame could be decoded");
	CHECK_STR_EQ(out, "");
	free(out), free(err);
	CHECK_INT_EQ(kino(&out, &err, MEDIA("CREDITS.md"), "--title", "x", "--json", NULL,
			  NULL), 1);
	CHECK_CONTAINS(err, "not a media file");
	free(out), free(err);
}

int main(void)
{
	tenv_tmpdir(root, sizeof(root), "ingest-cli");
	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s/data", root);
	RUN_TEST(test_json_contract);
	RUN_TEST(test_usage_errors_exit_2);
	RUN_TEST(test_failures_exit_1_with_a_reason);
	tenv_rmtree(root);
	return 0;
}
