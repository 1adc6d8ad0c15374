/* Subtitle tracks of the source: a mov_text track muxed at test time (with
 * the ffmpeg CLI) into a copy of a real clip comes out as WebVTT, listed in
 * both manifests with its language; and a bad sidecar fails the job with
 * the line it could not read, leaving nothing behind. */
#include "ingest_test_support.h"

static char root[700];

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void test_source_track_becomes_webvtt(void)
{
	char srt[900], clip[900], media[900], cmd[3000], path[1400], *text;
	kino_ingest_options_t opts;
	kino_ingest_result_t *r = NULL;
	kino_error_t err = {0};

	snprintf(srt, sizeof(srt), "%s/in.srt", root);
	snprintf(clip, sizeof(clip), "%s/with-subs.mp4", root);
	snprintf(media, sizeof(media), "%s/media", root);
	write_text(srt, "1\n00:00:01,000 --> 00:00:02,000\n<i>Tout</i> blanc & pur\n\n"
			"2\n00:00:03,000 --> 00:00:04,500\ndeux\nlignes\n");
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -v error -y -i '%s' -i '%s' -map 0:v -map 1:s -c:v copy "
		 "-c:s mov_text -metadata:s:s:0 language=fra '%s'",
		 MEDIA("edge-white.mp4"), srt, clip);
	CHECK_MSG(system(cmd) == 0, "ffmpeg cannot make %s", clip);

	kino_ingest_options_init(&opts);
	opts.input = clip;
	opts.title = "subs";
	opts.media_root = media;
	CHECK_MSG(kino_ingest_run(&opts, &r, &err) == 0, "%s", kino_error_message(&err));
	snprintf(path, sizeof(path), "%s/subtitles/track1-fra.vtt",
		 kino_ingest_result_asset_dir(r));
	text = tenv_read_file(path);
	CHECK_MSG(text != NULL, "no %s", path);
	CHECK_CONTAINS(text, "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n");
	CHECK_CONTAINS(text, "blanc &amp; pur");
	CHECK_CONTAINS(text, "00:00:03.000 --> 00:00:04.500\ndeux\nlignes\n");
	free(text);
	text = tenv_read_file(kino_ingest_result_hls_path(r));
	CHECK_CONTAINS(text, "LANGUAGE=\"fra\"");
	CHECK_CONTAINS(text, "URI=\"subtitles/track1-fra.m3u8\"");
	free(text);
	text = tenv_read_file(kino_ingest_result_dash_path(r));
	CHECK_CONTAINS(text, "<BaseURL>subtitles/track1-fra.vtt</BaseURL>");
	free(text);
	snprintf(path, sizeof(path), "%s/subtitles/track1-fra.m3u8",
		 kino_ingest_result_asset_dir(r));
	check_ffprobe_opens(path);
	kino_ingest_result_destroy(&r);
}

static void test_bad_sidecar_fails_cleanly(void)
{
	char srt[900], media[900];
	kino_ingest_options_t opts;
	kino_ingest_result_t *r = NULL;
	kino_error_t err = {0};

	snprintf(srt, sizeof(srt), "%s/bad.srt", root);
	snprintf(media, sizeof(media), "%s/media-bad", root);
	write_text(srt, "1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\nnot a timing\n");
	kino_ingest_options_init(&opts);
	opts.input = MEDIA("edge-white.mp4");
	opts.title = "bad subs";
	opts.media_root = media;
	opts.subtitle_path = srt;
	CHECK_INT_EQ(kino_ingest_run(&opts, &r, &err), KINO_EPARSE);
	CHECK_CONTAINS(err.message, "line 6");
	CHECK_INT_EQ(dir_count(media, NULL), 0);
}

int main(void)
{
	kino_ingest_global_init();
	tenv_tmpdir(root, sizeof(root), "ingest-subs");
	RUN_TEST(test_source_track_becomes_webvtt);
	RUN_TEST(test_bad_sidecar_fails_cleanly);
	tenv_rmtree(root);
	return 0;
}
