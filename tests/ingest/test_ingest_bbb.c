/* The whole pipeline on Big Buck Bunny (854x480 H.264, 5.1 AAC): the
 * ladder's shape, keyframes aligned across renditions (read back from the
 * segments), ffprobe opening every playlist and the MPD, segment durations
 * within a frame of the source's, 5.1 downmixed to stereo, the artifacts
 * and a sidecar subtitle listed in both manifests. */
#include "ingest_test_support.h"

#include <math.h>

static char root[700], media_root[800], asset[1200];
static kino_ingest_result_t *result;
static double limit;

static void run_once(void)
{
	char srt[900];
	FILE *f;
	kino_ingest_options_t opts;
	kino_error_t err = {0};
	kino_ingest_probe_info_t info;

	tenv_tmpdir(root, sizeof(root), "ingest-bbb");
	snprintf(media_root, sizeof(media_root), "%s/media", root);
	snprintf(srt, sizeof(srt), "%s/bunny.srt", root);
	f = fopen(srt, "w");
	CHECK(f != NULL);
	fputs("1\n00:00:01,000 --> 00:00:03,000\nA big bunny.\n\n"
	      "2\n00:00:05,000 --> 00:00:07,500\nAnd a butterfly.\n", f);
	fclose(f);

	CHECK_INT_EQ(kino_ingest_probe(MEDIA("bbb-480p-30s.mp4"), &info, &err), 0);
	CHECK_INT_EQ(info.audio_channels, 6);
	kino_ingest_options_init(&opts);
	opts.input = MEDIA("bbb-480p-30s.mp4");
	opts.title = "Big Buck Bunny";
	opts.media_root = media_root;
	opts.subtitle_path = srt;
	opts.subtitle_lang = "en";
	opts.threads = 2;
	opts.max_seconds = CLIP_SECONDS;
	CHECK_MSG(kino_ingest_run(&opts, &result, &err) == 0, "ingest: %s",
		  kino_error_message(&err));
	limit = CLIP_SECONDS > 0 ? CLIP_SECONDS : info.duration;
	snprintf(asset, sizeof(asset), "%s", kino_ingest_result_asset_dir(result));
}

static void test_ladder_is_480_360_240(void)
{
	static const struct { const char *name; int w, h; } want[] = {
		{"480p", 854, 480}, {"360p", 640, 360}, {"240p", 428, 240}};

	CHECK_INT_EQ(kino_ingest_result_rendition_count(result), 3);
	for (size_t i = 0; i < 3; i++) {
		const kino_ingest_rendition_t *r = kino_ingest_result_rendition(result, i);
		char path[1400];
		AVCodecParameters *par;

		CHECK_STR_EQ(r->name, want[i].name);
		snprintf(path, sizeof(path), "%s/video/%s/init.mp4", asset, r->name);
		par = stream_params(path);
		CHECK_INT_EQ(par->width, want[i].w);
		CHECK_INT_EQ(par->height, want[i].h);
		CHECK_INT_EQ(par->codec_id, AV_CODEC_ID_H264);
		/* avcC: version, then profile_idc: 100 is High. */
		CHECK(par->extradata_size > 4);
		CHECK_INT_EQ(par->extradata[1], 100);
		avcodec_parameters_free(&par);
	}
}

static void test_published_once_without_temp_files(void)
{
	CHECK_INT_EQ(dir_count(media_root, NULL), 1);
	CHECK_INT_EQ(dir_count(media_root, ".tmp"), 0);
	CHECK_INT_EQ((int)strlen(kino_ingest_result_asset_id(result)), 16);
}

/* Reads init + segment i of a rendition back: it must start with a key
 * frame and hold no other; returns the first packet's pts in seconds. */
static double segment_start(const char *rendition, int i, int *packets)
{
	char init[1400], seg[1400], joined[1400];
	AVFormatContext *fmt = NULL;
	AVPacket *pkt = av_packet_alloc();
	double start = -1;
	int n = 0;

	snprintf(init, sizeof(init), "%s/video/%s/init.mp4", asset, rendition);
	snprintf(seg, sizeof(seg), "%s/video/%s/seg-%05d.m4s", asset, rendition, i);
	snprintf(joined, sizeof(joined), "%s/joined.mp4", root);
	concat_files(init, seg, joined);
	CHECK(avformat_open_input(&fmt, joined, NULL, NULL) == 0);
	while (av_read_frame(fmt, pkt) >= 0) {
		if (n == 0) {
			CHECK_MSG(pkt->flags & AV_PKT_FLAG_KEY,
				  "%s segment %d does not start with a key frame", rendition, i);
			start = pkt->pts * av_q2d(fmt->streams[0]->time_base);
		} else {
			CHECK_MSG(!(pkt->flags & AV_PKT_FLAG_KEY),
				  "%s segment %d has a second key frame", rendition, i);
		}
		n++;
		av_packet_unref(pkt);
	}
	avformat_close_input(&fmt);
	av_packet_free(&pkt);
	*packets = n;
	return start;
}

static void test_keyframes_aligned_across_renditions(void)
{
	char path[1400];
	int nseg = 0;

	for (;; nseg++) {
		snprintf(path, sizeof(path), "%s/video/480p/seg-%05d.m4s", asset, nseg + 1);
		if (!file_exists(path))
			break;
	}
	CHECK_INT_EQ(nseg, (int)ceil(limit / 4.0 - 1e-9));
	for (int i = 1; i <= nseg; i++) {
		int n480, n360, n240;
		double s480 = segment_start("480p", i, &n480);
		double s360 = segment_start("360p", i, &n360);
		double s240 = segment_start("240p", i, &n240);
		CHECK_MSG(fabs(s480 - s360) < 1e-6 && fabs(s480 - s240) < 1e-6,
			  "segment %d starts at %.6f / %.6f / %.6f", i, s480, s360, s240);
		CHECK_INT_EQ(n480, n360);
		CHECK_INT_EQ(n480, n240);
	}
}

static void test_ffprobe_opens_every_playlist_and_the_mpd(void)
{
	static const char *rel[] = {"master.m3u8", "manifest.mpd",
				    "video/480p/playlist.m3u8", "video/360p/playlist.m3u8",
				    "video/240p/playlist.m3u8", "audio/playlist.m3u8",
				    "subtitles/en.m3u8"};
	char path[1400];

	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", asset, rel[i]);
		check_ffprobe_opens(path);
	}
}

static void test_segment_durations_match_the_source(void)
{
	static const char *rel[] = {"video/480p", "video/360p", "video/240p"};
	const double frame = 1.0 / 24.0;

	for (size_t r = 0; r < 3; r++) {
		char path[1400], *text, *p;
		double total = 0;
		int k = 0;

		snprintf(path, sizeof(path), "%s/%s/playlist.m3u8", asset, rel[r]);
		text = tenv_read_file(path);
		CHECK(text != NULL);
		CHECK_CONTAINS(text, "#EXT-X-TARGETDURATION:4\n");
		for (p = strstr(text, "#EXTINF:"); p; p = strstr(p + 1, "#EXTINF:")) {
			double d = atof(p + 8);
			double want = fmin(4.0, limit - 4.0 * k);
			CHECK_MSG(fabs(d - want) <= frame + 1e-6,
				  "%s segment %d lasts %.6f s, the source %.6f s", rel[r],
				  k + 1, d, want);
			total += d;
			k++;
		}
		CHECK_MSG(fabs(total - limit) <= frame + 1e-6, "%s lasts %.6f s of %.6f",
			  rel[r], total, limit);
		free(text);
	}
}

static void test_audio_is_stereo_aac(void)
{
	char path[1400];
	AVCodecParameters *par;

	snprintf(path, sizeof(path), "%s/audio/init.mp4", asset);
	par = stream_params(path);
	CHECK_INT_EQ(par->codec_id, AV_CODEC_ID_AAC);
	CHECK_INT_EQ(par->ch_layout.nb_channels, 2);
	CHECK_INT_EQ(par->sample_rate, 48000);
	/* AudioSpecificConfig: the first 5 bits are the object type, 2 = LC. */
	CHECK(par->extradata_size >= 2);
	CHECK_INT_EQ(par->extradata[0] >> 3, 2);
	avcodec_parameters_free(&par);
}

static void test_artifacts_and_subtitles(void)
{
	char path[1400], *text;

	snprintf(path, sizeof(path), "%s/poster.jpg", asset);
	CHECK(file_exists(path));
	snprintf(path, sizeof(path), "%s/thumbs/sprite-000.jpg", asset);
	CHECK(file_exists(path));
	snprintf(path, sizeof(path), "%s/thumbs/thumbs.vtt", asset);
	text = tenv_read_file(path);
	CHECK_CONTAINS(text, "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite-000.jpg#xywh=0,0,160,90\n");
	free(text);
	snprintf(path, sizeof(path), "%s/subtitles/en.vtt", asset);
	text = tenv_read_file(path);
	CHECK_CONTAINS(text, "00:00:05.000 --> 00:00:07.500\nAnd a butterfly.");
	free(text);
	snprintf(path, sizeof(path), "%s/master.m3u8", asset);
	text = tenv_read_file(path);
	CHECK_CONTAINS(text, "TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"en\",LANGUAGE=\"en\"");
	CHECK_CONTAINS(text, "CODECS=\"avc1.64001e,mp4a.40.2\"");
	free(text);
	snprintf(path, sizeof(path), "%s/manifest.mpd", asset);
	text = tenv_read_file(path);
	CHECK_CONTAINS(text, "<BaseURL>subtitles/en.vtt</BaseURL>");
	free(text);
	snprintf(path, sizeof(path), "%s/asset.json", asset);
	text = tenv_read_file(path);
	CHECK_CONTAINS(text, "\"title\": \"Big Buck Bunny\"");
	CHECK_CONTAINS(text, "\"channels\": 2");
	free(text);
}

int main(void)
{
	kino_ingest_global_init();
	RUN_TEST(run_once);
	RUN_TEST(test_ladder_is_480_360_240);
	RUN_TEST(test_published_once_without_temp_files);
	RUN_TEST(test_keyframes_aligned_across_renditions);
	RUN_TEST(test_ffprobe_opens_every_playlist_and_the_mpd);
	RUN_TEST(test_segment_durations_match_the_source);
	RUN_TEST(test_audio_is_stereo_aac);
	RUN_TEST(test_artifacts_and_subtitles);
	kino_ingest_result_destroy(&result);
	tenv_rmtree(root);
	return 0;
}
