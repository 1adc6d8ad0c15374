/* What was packaged, measured while muxing: per track, each segment's
 * duration and size, from which both manifests take EXTINF, the DASH
 * SegmentTimeline, BANDWIDTH and AVERAGE-BANDWIDTH. Also the RFC 6381
 * codecs string of an H.264 track, read from its SPS. Pure, no libav. */
#include "ingest_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *kino_memstream_finish(FILE *f, char **buf)
{
	/* fclose updates *buf: read it only afterwards. */
	if (fclose(f) != 0) {
		free(*buf);
		*buf = NULL;
	}
	return *buf;
}

int kino_track_summary_add(kino_track_summary_t *t, int64_t duration,
			   int64_t bytes)
{
	if (t->nseg == t->capseg) {
		size_t cap = t->capseg ? t->capseg * 2 : 64;
		int64_t *d = realloc(t->seg_duration, cap * sizeof(*d));
		if (d == NULL)
			return KINO_ENOMEM;
		t->seg_duration = d;
		int64_t *b = realloc(t->seg_bytes, cap * sizeof(*b));
		if (b == NULL)
			return KINO_ENOMEM;
		t->seg_bytes = b;
		t->capseg = cap;
	}
	t->seg_duration[t->nseg] = duration;
	t->seg_bytes[t->nseg] = bytes;
	t->nseg++;
	return 0;
}

void kino_track_summary_close(kino_track_summary_t *t)
{
	if (t == NULL)
		return;
	free(t->seg_duration);
	free(t->seg_bytes);
	t->seg_duration = NULL;
	t->seg_bytes = NULL;
	t->nseg = t->capseg = 0;
}

double kino_track_seconds(const kino_track_summary_t *t)
{
	int64_t sum = 0;
	for (size_t i = 0; i < t->nseg; i++)
		sum += t->seg_duration[i];
	return t->timescale > 0 ? (double)sum / (double)t->timescale : 0.0;
}

double kino_track_peak_bps(const kino_track_summary_t *t)
{
	double peak = 0;
	for (size_t i = 0; i < t->nseg; i++) {
		double secs = (double)t->seg_duration[i] / (double)t->timescale;
		/* A very short last segment says little about the peak: rate
		 * it over at least one second. */
		if (secs < 1.0)
			secs = 1.0;
		double bps = (double)t->seg_bytes[i] * 8.0 / secs;
		if (bps > peak)
			peak = bps;
	}
	return peak;
}

double kino_track_average_bps(const kino_track_summary_t *t)
{
	int64_t bytes = 0;
	double secs = kino_track_seconds(t);
	for (size_t i = 0; i < t->nseg; i++)
		bytes += t->seg_bytes[i];
	return secs > 0 ? (double)bytes * 8.0 / secs : 0.0;
}

/* Finds the first SPS (NAL type 7) in Annex B or avcC extradata and
 * returns a pointer to its profile_idc byte. */
static const uint8_t *find_sps(const uint8_t *d, size_t len)
{
	if (len >= 8 && d[0] == 1) {
		/* avcC: version, profile, compat, level, ..., numSPS, len16, SPS */
		if ((d[5] & 0x1f) == 0)
			return NULL;
		size_t splen = ((size_t)d[6] << 8) | d[7];
		if (splen >= 4 && 8 + splen <= len && (d[8] & 0x1f) == 7)
			return d + 9;
		return NULL;
	}
	for (size_t i = 0; i + 4 < len; i++) {
		if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1 &&
		    (d[i + 3] & 0x1f) == 7 && i + 6 < len)
			return d + i + 4;
	}
	return NULL;
}

int kino_avc_codecs_string(const uint8_t *extradata, size_t len, char *out,
			   size_t outlen)
{
	const uint8_t *sps = extradata ? find_sps(extradata, len) : NULL;

	if (sps == NULL)
		return KINO_EMEDIA;
	snprintf(out, outlen, "avc1.%02x%02x%02x", sps[0], sps[1], sps[2]);
	return 0;
}
