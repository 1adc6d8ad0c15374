/* Text subtitle streams of the source (SubRip, WebVTT, mov_text, ASS/SSA,
 * plain text) into WebVTT, while the file is demuxed for the video: no
 * second pass. libavcodec's subtitle decoders hand every event over as an
 * ASS dialogue line ("ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,
 * Effect,Text"); the Text field is kept, with "\N" as a line break and
 * {override} blocks dropped, and escaped for WebVTT. Bitmap subtitles
 * (DVD, PGS) are not text and are not taken. */
#define KINO_LOG_MODULE "ingest"
#include "ingest_internal.h"
#include "kino/log.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include <stdlib.h>
#include <string.h>

struct kino_subtitle_track {
	AVCodecContext *dec;
	AVRational tb;
	int64_t origin;         /* stream pts of media time 0 */
	FILE *out;
	char *buf;
	size_t len;
	int cues;
	char lang[16];
};

bool kino_subtitle_track_supported(int codec_id)
{
	return codec_id == AV_CODEC_ID_SUBRIP || codec_id == AV_CODEC_ID_WEBVTT ||
	       codec_id == AV_CODEC_ID_MOV_TEXT || codec_id == AV_CODEC_ID_TEXT ||
	       codec_id == AV_CODEC_ID_ASS || codec_id == AV_CODEC_ID_SSA;
}

int kino_subtitle_track_new(const struct AVStream *st, int64_t origin_us,
			    kino_subtitle_track_t **out, kino_error_t *err)
{
	int ret = 0, averr;
	kino_subtitle_track_t *t = NULL;
	const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
	const AVDictionaryEntry *lang = av_dict_get(st->metadata, "language", NULL, 0);

	*out = NULL;
	if (codec == NULL || !kino_subtitle_track_supported(st->codecpar->codec_id))
		return kino_error_set(err, KINO_EUNSUPPORTED, "subtitles: '%s' is not text",
				      avcodec_get_name(st->codecpar->codec_id));
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return kino_error_set(err, KINO_ENOMEM, "subtitles: out of memory");
	t->tb = st->time_base;
	t->origin = av_rescale_q(origin_us, AV_TIME_BASE_Q, st->time_base);
	snprintf(t->lang, sizeof(t->lang), "%s", lang && lang->value[0] ? lang->value : "und");
	t->out = open_memstream(&t->buf, &t->len);
	t->dec = avcodec_alloc_context3(codec);
	if (t->out == NULL || t->dec == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "subtitles: out of memory");
		goto out;
	}
	avcodec_parameters_to_context(t->dec, st->codecpar);
	t->dec->pkt_timebase = st->time_base;
	averr = avcodec_open2(t->dec, codec, NULL);
	if (averr < 0) {
		ret = kino_error_set(err, KINO_EMEDIA, "subtitles: cannot open %s: %s",
				     codec->name, av_err2str(averr));
		goto out;
	}
	fputs("WEBVTT\n\n", t->out);
	*out = t;
	t = NULL;
out:
	kino_subtitle_track_destroy(&t);
	return ret;
}

static void put_time(FILE *f, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	fprintf(f, "%02lld:%02lld:%02lld.%03lld", (long long)(ms / 3600000),
		(long long)(ms / 60000 % 60), (long long)(ms / 1000 % 60),
		(long long)(ms % 1000));
}

/* The Text field of an ASS dialogue line, as WebVTT cue text. */
static void put_ass_text(FILE *f, const char *ass)
{
	const char *p = ass;
	for (int commas = 0; *p && commas < 8; p++)
		if (*p == ',')
			commas++;
	for (; *p; p++) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			if (close != NULL) {
				p = close;
				continue;
			}
		}
		if (*p == '\\' && (p[1] == 'N' || p[1] == 'n')) {
			fputc('\n', f);
			p++;
		} else if (*p == '\\' && p[1] == 'h') {
			fputc(' ', f);
			p++;
		} else if (*p == '&') {
			fputs("&amp;", f);
		} else if (*p == '<') {
			fputs("&lt;", f);
		} else if (*p == '>') {
			fputs("&gt;", f);
		} else if (*p != '\r' && *p != '\n') {
			fputc(*p, f);
		}
	}
}

int kino_subtitle_track_feed(kino_subtitle_track_t *t, struct AVPacket *pkt)
{
	AVSubtitle sub;
	int got = 0;
	int64_t start, end;

	if (pkt->pts == AV_NOPTS_VALUE)
		return 0;
	if (avcodec_decode_subtitle2(t->dec, &sub, &got, pkt) < 0 || !got)
		return 0; /* a damaged cue is dropped, the track goes on */
	start = av_rescale_q(pkt->pts - t->origin, t->tb, (AVRational){1, 1000}) +
		sub.start_display_time;
	if (pkt->duration > 0)
		end = av_rescale_q(pkt->pts + pkt->duration - t->origin, t->tb,
				   (AVRational){1, 1000});
	else if (sub.end_display_time > sub.start_display_time &&
		 sub.end_display_time != UINT32_MAX)
		end = start + sub.end_display_time - sub.start_display_time;
	else
		end = start + 3000;
	for (unsigned i = 0; i < sub.num_rects; i++) {
		const AVSubtitleRect *r = sub.rects[i];
		if (r->type != SUBTITLE_ASS || r->ass == NULL || end <= 0)
			continue;
		put_time(t->out, start);
		fputs(" --> ", t->out);
		put_time(t->out, end);
		fputc('\n', t->out);
		put_ass_text(t->out, r->ass);
		fputs("\n\n", t->out);
		t->cues++;
	}
	avsubtitle_free(&sub);
	return 0;
}

const char *kino_subtitle_track_lang(const kino_subtitle_track_t *t)
{
	return t->lang;
}

char *kino_subtitle_track_finish(kino_subtitle_track_t *t)
{
	char *text;

	if (t->out == NULL || fclose(t->out) != 0) {
		t->out = NULL;
		return NULL;
	}
	t->out = NULL;
	if (t->cues == 0)
		return NULL;
	text = t->buf; /* ownership moves to the caller */
	t->buf = NULL;
	return text;
}

void kino_subtitle_track_destroy(kino_subtitle_track_t **tp)
{
	kino_subtitle_track_t *t = tp ? *tp : NULL;

	if (t == NULL)
		return;
	if (t->out != NULL)
		fclose(t->out);
	free(t->buf);
	avcodec_free_context(&t->dec);
	free(t);
	*tp = NULL;
}
