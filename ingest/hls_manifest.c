/* HLS playlists (RFC 8216) for a packaged asset, written from what was
 * measured while muxing rather than by libavformat's hls muxer, so the same
 * CMAF segments serve HLS and DASH.
 *
 * master.m3u8: version 7 (EXT-X-MAP in a media playlist with fMP4 needs
 * 6+; 7 for the SERVICE/INSTREAM rules), one EXT-X-MEDIA for the shared
 * audio rendition and one per subtitle track, one EXT-X-STREAM-INF per
 * video rendition with BANDWIDTH (the peak segment rate of video plus
 * audio, RFC 8216 4.3.4.2), AVERAGE-BANDWIDTH, RESOLUTION, CODECS,
 * FRAME-RATE and the AUDIO/SUBTITLES groups.
 *
 * Media playlists: EXT-X-TARGETDURATION is the largest EXTINF rounded to
 * the nearest integer (4.3.3.1), EXT-X-PLAYLIST-TYPE:VOD, EXT-X-MAP for
 * the init segment, EXT-X-INDEPENDENT-SEGMENTS since every segment starts
 * with an IDR, and EXT-X-ENDLIST. Pure text, no libav.
 *
 * A protected package's tracks live under hls/ (the master points there)
 * and their playlists carry EXT-X-KEY:METHOD=AES-128 after EXT-X-MAP, so
 * the init segment, which holds no media, stays clear (RFC 8216 4.3.2.4:
 * a key applies to the EXT-X-MAPs that follow it). No IV attribute: the
 * IV of each segment is its media sequence number (5.2). */
#include "ingest_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define AUDIO_GROUP "aud"
#define SUBS_GROUP "subs"

char *kino_hls_master_render(const kino_package_t *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	double audio_peak = 0, audio_avg = 0;

	if (f == NULL)
		return NULL;
	fprintf(f, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\n");
	if (p->audio != NULL) {
		audio_peak = kino_track_peak_bps(p->audio);
		audio_avg = kino_track_average_bps(p->audio);
		fprintf(f,
			"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"" AUDIO_GROUP "\","
			"NAME=\"Main\",LANGUAGE=\"und\",DEFAULT=YES,AUTOSELECT=YES,"
			"CHANNELS=\"%d\",URI=\"%s%s/playlist.m3u8\"\n",
			p->audio->channels, p->protection ? "hls/" : "", p->audio->dir);
	}
	for (size_t i = 0; i < p->nsubs; i++)
		fprintf(f,
			"#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"" SUBS_GROUP "\","
			"NAME=\"%s\",LANGUAGE=\"%s\",DEFAULT=NO,AUTOSELECT=YES,"
			"FORCED=NO,URI=\"%s\"\n",
			p->subs[i].name, p->subs[i].lang, p->subs[i].playlist);
	if (p->audio != NULL || p->nsubs > 0)
		fputc('\n', f);
	for (size_t i = 0; i < p->nvideo; i++) {
		const kino_track_summary_t *v = &p->video[i];
		double peak = kino_track_peak_bps(v) + audio_peak;
		double avg = kino_track_average_bps(v) + audio_avg;

		fprintf(f, "#EXT-X-STREAM-INF:BANDWIDTH=%.0f,AVERAGE-BANDWIDTH=%.0f,"
			   "RESOLUTION=%dx%d,FRAME-RATE=%.3f,CODECS=\"%s%s%s\"",
			ceil(peak), ceil(avg), v->width, v->height, v->fps,
			v->codecs, p->audio ? "," : "",
			p->audio ? p->audio->codecs : "");
		if (p->audio != NULL)
			fprintf(f, ",AUDIO=\"" AUDIO_GROUP "\"");
		if (p->nsubs > 0)
			fprintf(f, ",SUBTITLES=\"" SUBS_GROUP "\"");
		fprintf(f, "\n%s%s/playlist.m3u8\n", p->protection ? "hls/" : "", v->dir);
	}
	return kino_memstream_finish(f, &buf);
}

/* key_uri: NULL for a clear track. */
static char *media_render(const kino_track_summary_t *t, const char *key_uri)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	long target = 1;

	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < t->nseg; i++) {
		long r = lround((double)t->seg_duration[i] / (double)t->timescale);
		if (r > target)
			target = r;
	}
	/* Paths are relative to the playlist, which sits in the track's dir. */
	fprintf(f, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%ld\n"
		   "#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n"
		   "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n",
		target);
	if (key_uri != NULL)
		fprintf(f, "#EXT-X-KEY:METHOD=AES-128,URI=\"%s\"\n", key_uri);
	for (size_t i = 0; i < t->nseg; i++)
		fprintf(f, "#EXTINF:%.6f,\nseg-%05zu.m4s\n",
			(double)t->seg_duration[i] / (double)t->timescale, i + 1);
	fprintf(f, "#EXT-X-ENDLIST\n");
	return kino_memstream_finish(f, &buf);
}

char *kino_hls_media_render(const kino_track_summary_t *t)
{
	return media_render(t, NULL);
}

char *kino_hls_media_render_aes128(const kino_track_summary_t *t)
{
	char uri[256] = "../"; /* out of hls/ */
	size_t len = 3;

	/* One more "../" per segment of the track's dir ("video/480p": 2). */
	for (const char *c = t->dir; *c && len + 3 < sizeof(uri); c++)
		if (c == t->dir || c[-1] == '/')
			len += (size_t)snprintf(uri + len, sizeof(uri) - len, "../");
	snprintf(uri + len, sizeof(uri) - len, "key/aes128");
	return media_render(t, uri);
}

char *kino_hls_subtitle_render(const kino_subtitle_summary_t *s, double duration)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *name = s->vtt;

	if (f == NULL)
		return NULL;
	/* The playlist sits next to the .vtt: refer to it by its base name. */
	for (const char *c = s->vtt; *c; c++)
		if (*c == '/')
			name = c + 1;
	fprintf(f, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%ld\n"
		   "#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n"
		   "#EXTINF:%.6f,\n%s\n#EXT-X-ENDLIST\n",
		lround(duration) > 0 ? lround(duration) : 1, duration, name);
	return kino_memstream_finish(f, &buf);
}
