/* The manifests' text (RFC 8216 and ISO/IEC 23009-1), asset.json and the
 * subtitle conversion, from a package built by hand. Pure, no media. */
#include "check.h"
#include "ingest_internal.h"

#include <stdlib.h>
#include <string.h>

static void track(kino_track_summary_t *t, kino_track_kind_t kind, const char *id,
		  const char *dir, const char *codecs, int64_t timescale,
		  const int64_t *dur, const int64_t *bytes, size_t n)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	snprintf(t->codecs, sizeof(t->codecs), "%s", codecs);
	t->timescale = timescale;
	for (size_t i = 0; i < n; i++)
		CHECK_INT_EQ(kino_track_summary_add(t, dur[i], bytes[i]), 0);
}

/* 4 s, 4 s, 2.5 s of 24 fps video at 12288 Hz; audio at 48 kHz. */
static void package(kino_package_t *p, kino_track_summary_t v[2],
		    kino_track_summary_t *a, kino_subtitle_summary_t *s)
{
	static const int64_t vd[] = {49152, 49152, 30720};
	static const int64_t vb1[] = {500000, 700000, 100000};
	static const int64_t vb2[] = {200000, 300000, 50000};
	static const int64_t ad[] = {196608, 191488, 114304};
	static const int64_t ab[] = {65000, 64000, 38000};

	track(&v[0], KINO_TRACK_VIDEO, "480p", "video/480p", "avc1.64001e", 12288, vd, vb1, 3);
	v[0].width = 854, v[0].height = 480, v[0].fps = 24;
	track(&v[1], KINO_TRACK_VIDEO, "240p", "video/240p", "avc1.640015", 12288, vd, vb2, 3);
	v[1].width = 428, v[1].height = 240, v[1].fps = 24;
	track(a, KINO_TRACK_AUDIO, "audio", "audio", "mp4a.40.2", 48000, ad, ab, 3);
	a->channels = 2, a->sample_rate = 48000, a->pto = 4000;
	memset(s, 0, sizeof(*s));
	strcpy(s->lang, "en");
	strcpy(s->name, "English");
	strcpy(s->vtt, "subtitles/en.vtt");
	strcpy(s->playlist, "subtitles/en.m3u8");
	memset(p, 0, sizeof(*p));
	p->video = v, p->nvideo = 2, p->audio = a, p->subs = s, p->nsubs = 1;
	p->duration = 10.5, p->segment_seconds = 4;
}

static void test_hls_master(void)
{
	kino_track_summary_t v[2], a;
	kino_subtitle_summary_t s;
	kino_package_t p;
	char *m;

	package(&p, v, &a, &s);
	m = kino_hls_master_render(&p);
	CHECK(m != NULL);
	CHECK(strncmp(m, "#EXTM3U\n#EXT-X-VERSION:7\n", 25) == 0);
	CHECK_CONTAINS(m, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\"");
	CHECK_CONTAINS(m, "CHANNELS=\"2\",URI=\"audio/playlist.m3u8\"");
	CHECK_CONTAINS(m, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\","
			  "LANGUAGE=\"en\"");
	/* Peak: 700000 B over 4 s = 1.4 Mbps video, plus the audio peak:
	 * 64000 B over 3.989 s = 128342.2 bps. */
	CHECK_CONTAINS(m, "#EXT-X-STREAM-INF:BANDWIDTH=1528343,");
	CHECK_CONTAINS(m, "RESOLUTION=854x480,FRAME-RATE=24.000,"
			  "CODECS=\"avc1.64001e,mp4a.40.2\",AUDIO=\"aud\",SUBTITLES=\"subs\"\n"
			  "video/480p/playlist.m3u8\n");
	CHECK_CONTAINS(m, "AVERAGE-BANDWIDTH=");
	CHECK_CONTAINS(m, "RESOLUTION=428x240");
	free(m);

	p.audio = NULL, p.nsubs = 0;
	m = kino_hls_master_render(&p);
	CHECK_CONTAINS(m, "CODECS=\"avc1.64001e\"\n");
	CHECK(strstr(m, "AUDIO=") == NULL && strstr(m, "EXT-X-MEDIA") == NULL);
	free(m);
	kino_track_summary_close(&v[0]);
	kino_track_summary_close(&v[1]);
	kino_track_summary_close(&a);
}

static void test_hls_media(void)
{
	kino_track_summary_t v[2], a;
	kino_subtitle_summary_t s;
	kino_package_t p;
	char *m;

	package(&p, v, &a, &s);
	m = kino_hls_media_render(&v[0]);
	CHECK_CONTAINS(m, "#EXT-X-TARGETDURATION:4\n");
	CHECK_CONTAINS(m, "#EXT-X-PLAYLIST-TYPE:VOD\n");
	CHECK_CONTAINS(m, "#EXT-X-MAP:URI=\"init.mp4\"\n");
	CHECK_CONTAINS(m, "#EXTINF:4.000000,\nseg-00001.m4s\n#EXTINF:4.000000,\nseg-00002.m4s\n"
			  "#EXTINF:2.500000,\nseg-00003.m4s\n#EXT-X-ENDLIST\n");
	free(m);
	/* 4.096 s rounds to 4: TARGETDURATION is the rounded maximum. */
	m = kino_hls_media_render(&a);
	CHECK_CONTAINS(m, "#EXT-X-TARGETDURATION:4\n");
	CHECK_CONTAINS(m, "#EXTINF:4.096000,\n");
	free(m);
	m = kino_hls_subtitle_render(&s, 10.5);
	CHECK_CONTAINS(m, "#EXT-X-TARGETDURATION:11\n");
	CHECK_CONTAINS(m, "#EXTINF:10.500000,\nen.vtt\n#EXT-X-ENDLIST\n");
	free(m);
	kino_track_summary_close(&v[0]);
	kino_track_summary_close(&v[1]);
	kino_track_summary_close(&a);
}

static void test_dash_mpd(void)
{
	kino_track_summary_t v[2], a;
	kino_subtitle_summary_t s;
	kino_package_t p;
	char *m;

	package(&p, v, &a, &s);
	m = kino_dash_mpd_render(&p, "Big <Buck> & Bunny");
	CHECK_CONTAINS(m, "type=\"static\"");
	CHECK_CONTAINS(m, "profiles=\"urn:mpeg:dash:profile:isoff-live:2011\"");
	CHECK_CONTAINS(m, "mediaPresentationDuration=\"PT10.500S\"");
	CHECK_CONTAINS(m, "<Title>Big &lt;Buck&gt; &amp; Bunny</Title>");
	CHECK_CONTAINS(m, "<Representation id=\"480p\" bandwidth=\"1400000\" "
			  "codecs=\"avc1.64001e\" width=\"854\" height=\"480\"");
	CHECK_CONTAINS(m, "frameRate=\"24\"");
	CHECK_CONTAINS(m, "media=\"video/480p/seg-$Number%05d$.m4s\"");
	CHECK_CONTAINS(m, "<S t=\"0\" d=\"49152\" r=\"1\"/>\n            <S t=\"98304\" d=\"30720\"/>");
	CHECK_CONTAINS(m, "codecs=\"mp4a.40.2\" audioSamplingRate=\"48000\"");
	CHECK_CONTAINS(m, "presentationTimeOffset=\"4000\"");
	CHECK_CONTAINS(m, "audio_channel_configuration:2011\" value=\"2\"");
	CHECK_CONTAINS(m, "contentType=\"text\" mimeType=\"text/vtt\" lang=\"en\"");
	CHECK_CONTAINS(m, "<BaseURL>subtitles/en.vtt</BaseURL>");
	CHECK_CONTAINS(m, "</Period>\n</MPD>\n");
	free(m);
	kino_track_summary_close(&v[0]);
	kino_track_summary_close(&v[1]);
	kino_track_summary_close(&a);
}

static void test_asset_json(void)
{
	kino_track_summary_t v[2], a;
	kino_subtitle_summary_t s;
	kino_package_t p;
	char *m;

	package(&p, v, &a, &s);
	m = kino_asset_json_render("0123456789abcdef", "A \"quoted\" title", "x.mp4", &p);
	CHECK_CONTAINS(m, "\"asset_id\": \"0123456789abcdef\"");
	CHECK_CONTAINS(m, "\"title\": \"A \\\"quoted\\\" title\"");
	CHECK_CONTAINS(m, "\"duration\": 10.500");
	CHECK_CONTAINS(m, "{\"name\": \"480p\", \"width\": 854, \"height\": 480");
	CHECK_CONTAINS(m, "\"codecs\": \"mp4a.40.2\", \"channels\": 2");
	CHECK_CONTAINS(m, "\"vtt\": \"subtitles/en.vtt\"");
	free(m);
	kino_track_summary_close(&v[0]);
	kino_track_summary_close(&v[1]);
	kino_track_summary_close(&a);
}

static void test_avc_codecs_string(void)
{
	/* Annex B SPS of High@3.0 and the same in avcC. */
	static const uint8_t annexb[] = {0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1e, 0xac};
	static const uint8_t avcc[] = {1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4,
				       0x67, 0x64, 0x00, 0x1f};
	char out[32];

	CHECK_INT_EQ(kino_avc_codecs_string(annexb, sizeof(annexb), out, sizeof(out)), 0);
	CHECK_STR_EQ(out, "avc1.64001e");
	CHECK_INT_EQ(kino_avc_codecs_string(avcc, sizeof(avcc), out, sizeof(out)), 0);
	CHECK_STR_EQ(out, "avc1.64001f");
	CHECK_INT_EQ(kino_avc_codecs_string(annexb, 4, out, sizeof(out)), KINO_EMEDIA);
}

static void test_srt_to_webvtt(void)
{
	static const char srt[] =
		"\xEF\xBB\xBF" "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello <i>world</i>\r\n\r\n"
		"2\r\n00:01:02,003 --> 00:01:04,000\r\ntwo\r\nlines --> here\r\n";
	kino_error_t err = {0};
	char *vtt = NULL;

	CHECK_INT_EQ(kino_ingest_subtitle_to_webvtt(srt, sizeof(srt) - 1, &vtt, &err), 0);
	CHECK_STR_EQ(vtt, "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello <i>world</i>\n\n"
			  "00:01:02.003 --> 00:01:04.000\ntwo\nlines --&gt; here\n\n");
	free(vtt);
}

static void test_webvtt_passes_and_errors_name_the_line(void)
{
	static const char ok[] = "WEBVTT\n\n00:01.000 --> 00:02.000 align:start\nhi\n";
	static const char bad[] = "1\n00:00:01,000 -> 00:00:02,000\nhi\n";
	static const char bin[] = "abc\0def";
	kino_error_t err = {0};
	char *vtt = NULL;

	CHECK_INT_EQ(kino_ingest_subtitle_to_webvtt(ok, sizeof(ok) - 1, &vtt, &err), 0);
	CHECK_STR_EQ(vtt, ok);
	free(vtt);
	CHECK_INT_EQ(kino_ingest_subtitle_to_webvtt(bad, sizeof(bad) - 1, &vtt, &err),
		     KINO_EPARSE);
	CHECK(vtt == NULL);
	CHECK_CONTAINS(err.message, "line 2");
	CHECK_INT_EQ(kino_ingest_subtitle_to_webvtt(bin, sizeof(bin) - 1, &vtt, &err),
		     KINO_EPARSE);
	CHECK_INT_EQ(kino_ingest_subtitle_to_webvtt("WEBVTT\n", 7, &vtt, &err), KINO_EPARSE);
}

int main(void)
{
	RUN_TEST(test_hls_master);
	RUN_TEST(test_hls_media);
	RUN_TEST(test_dash_mpd);
	RUN_TEST(test_asset_json);
	RUN_TEST(test_avc_codecs_string);
	RUN_TEST(test_srt_to_webvtt);
	RUN_TEST(test_webvtt_passes_and_errors_name_the_line);
	return 0;
}
