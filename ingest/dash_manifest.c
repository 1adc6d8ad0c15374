/* A static MPEG-DASH MPD (ISO/IEC 23009-1, isoff-live profile) over the
 * same CMAF segments the HLS playlists use.
 *
 * One Period; an AdaptationSet for video (every rendition, segment-aligned
 * since all encoders cut at the same pts), one for the shared audio and
 * one per subtitle track (a side-loaded WebVTT file, as dash.js and Shaka
 * accept). Each Representation has a SegmentTemplate with $Number$ and a
 * SegmentTimeline made from the measured durations, run-length encoded
 * with @r, so a player's timeline matches the media exactly, also for the
 * short last segment. @bandwidth is the peak segment rate: 23009-1 5.3.5.2
 * asks for the rate that lets a client with that bandwidth play without
 * stalling after minBufferTime. Pure text, no libav.
 *
 * A protected package's tracks live under dash/ and each media
 * AdaptationSet says how they are protected: the 'cenc' scheme with
 * cenc:default_KID (urn:mpeg:dash:mp4protection:2011), and the W3C
 * ClearKey system (e2719d58-...) with dashif:Laurl, the licence route,
 * relative to the MPD so that it carries the playback token. */
#include "ingest_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void xml_escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* xs:duration with millisecond precision. */
static void iso_duration(FILE *f, double secs)
{
	fprintf(f, "PT%.3fS", secs < 0 ? 0.0 : secs);
}

static void frame_rate(FILE *f, double fps)
{
	long milli = lround(fps * 1000.0);
	if (milli % 1000 == 0)
		fprintf(f, "%ld", milli / 1000);
	else
		fprintf(f, "%ld/1000", milli);
}

static void content_protection(FILE *f, const kino_package_t *p)
{
	if (p->protection == NULL)
		return;
	fprintf(f,
		"      <ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" "
		"value=\"cenc\" cenc:default_KID=\"%s\"/>\n"
		"      <ContentProtection schemeIdUri=\"urn:uuid:e2719d58-a985-b3c9-781a-"
		"b030af78d30e\" value=\"ClearKey1.0\">\n"
		"        <dashif:Laurl>key/clearkey</dashif:Laurl>\n"
		"      </ContentProtection>\n",
		p->protection->default_kid);
}

static void segment_template(FILE *f, const kino_track_summary_t *t, const char *prefix)
{
	int64_t start = t->first_pts;

	fprintf(f,
		"        <SegmentTemplate timescale=\"%lld\" "
		"presentationTimeOffset=\"%lld\" startNumber=\"1\" "
		"initialization=\"%s%s/init.mp4\" media=\"%s%s/seg-$Number%%05d$.m4s\">\n"
		"          <SegmentTimeline>\n",
		(long long)t->timescale, (long long)t->pto, prefix, t->dir, prefix, t->dir);
	for (size_t i = 0; i < t->nseg;) {
		size_t run = 1;
		while (i + run < t->nseg && t->seg_duration[i + run] == t->seg_duration[i])
			run++;
		fprintf(f, "            <S t=\"%lld\" d=\"%lld\"", (long long)start,
			(long long)t->seg_duration[i]);
		if (run > 1)
			fprintf(f, " r=\"%zu\"", run - 1);
		fputs("/>\n", f);
		start += t->seg_duration[i] * (int64_t)run;
		i += run;
	}
	fputs("          </SegmentTimeline>\n        </SegmentTemplate>\n", f);
}

char *kino_dash_mpd_render(const kino_package_t *p, const char *title)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int maxw = 0, maxh = 0;
	const char *prefix = p->protection ? "dash/" : "";

	if (f == NULL)
		return NULL;
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	      "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" ", f);
	if (p->protection != NULL)
		fputs("xmlns:cenc=\"urn:mpeg:cenc:2013\" xmlns:dashif=\"https://dashif.org/CPS\" ", f);
	fputs("profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" "
	      "mediaPresentationDuration=\"", f);
	iso_duration(f, p->duration);
	fputs("\" minBufferTime=\"", f);
	iso_duration(f, p->segment_seconds);
	fputs("\">\n  <ProgramInformation>\n    <Title>", f);
	xml_escaped(f, title);
	fputs("</Title>\n  </ProgramInformation>\n  <Period id=\"0\" start=\"PT0S\">\n", f);

	for (size_t i = 0; i < p->nvideo; i++) {
		if (p->video[i].width > maxw)
			maxw = p->video[i].width;
		if (p->video[i].height > maxh)
			maxh = p->video[i].height;
	}
	fprintf(f, "    <AdaptationSet id=\"0\" contentType=\"video\" "
		   "mimeType=\"video/mp4\" segmentAlignment=\"true\" "
		   "startWithSAP=\"1\" maxWidth=\"%d\" maxHeight=\"%d\">\n",
		maxw, maxh);
	content_protection(f, p);
	for (size_t i = 0; i < p->nvideo; i++) {
		const kino_track_summary_t *v = &p->video[i];
		fprintf(f, "      <Representation id=\"%s\" bandwidth=\"%.0f\" "
			   "codecs=\"%s\" width=\"%d\" height=\"%d\" sar=\"1:1\" "
			   "frameRate=\"",
			v->id, ceil(kino_track_peak_bps(v)), v->codecs, v->width,
			v->height);
		frame_rate(f, v->fps);
		fputs("\">\n", f);
		segment_template(f, v, prefix);
		fputs("      </Representation>\n", f);
	}
	fputs("    </AdaptationSet>\n", f);

	if (p->audio != NULL) {
		const kino_track_summary_t *a = p->audio;
		fputs("    <AdaptationSet id=\"1\" contentType=\"audio\" "
			"mimeType=\"audio/mp4\" lang=\"und\" segmentAlignment=\"true\" "
			"startWithSAP=\"1\">\n", f);
		content_protection(f, p);
		fprintf(f,
			"      <Representation id=\"%s\" bandwidth=\"%.0f\" codecs=\"%s\" "
			"audioSamplingRate=\"%d\">\n"
			"        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:"
			"23003:3:audio_channel_configuration:2011\" value=\"%d\"/>\n",
			a->id, ceil(kino_track_peak_bps(a)), a->codecs, a->sample_rate,
			a->channels);
		segment_template(f, a, prefix);
		fputs("      </Representation>\n    </AdaptationSet>\n", f);
	}
	for (size_t i = 0; i < p->nsubs; i++) {
		const kino_subtitle_summary_t *s = &p->subs[i];
		fprintf(f,
			"    <AdaptationSet id=\"%zu\" contentType=\"text\" "
			"mimeType=\"text/vtt\" lang=\"",
			i + 2);
		xml_escaped(f, s->lang);
		fputs("\">\n      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" "
		      "value=\"subtitle\"/>\n", f);
		fprintf(f, "      <Representation id=\"sub-%zu\" bandwidth=\"256\">\n"
			   "        <BaseURL>%s</BaseURL>\n"
			   "      </Representation>\n    </AdaptationSet>\n",
			i + 1, s->vtt);
	}
	fputs("  </Period>\n</MPD>\n", f);
	return kino_memstream_finish(f, &buf);
}
