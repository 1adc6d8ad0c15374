/* What the clip tests of ingest share: running a job into a fresh media
 * root, listing what a root holds, and reading CMAF back with libavformat.
 * Header-only, static functions, private to tests/ingest. */
#ifndef KINO_TEST_INGEST_SUPPORT_H
#define KINO_TEST_INGEST_SUPPORT_H

#include "check.h"
#include "kino/error.h"
#include "kino/ingest.h"
#include "testenv.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA(name) KINO_SHARED_DIR "/media/" name

/* Seconds of source the long clip tests transcode (0: all of it). All 30 s
 * of bbb take about 6 s under ASan/UBSan too (libx264 and libav* are not
 * instrumented), so no slice is needed; lower it here if that changes. */
#define CLIP_SECONDS 0.0

/* Number of entries of dir (without . and ..); with prefix, only those
 * starting with it. -1 when dir cannot be opened. */
static inline int dir_count(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (prefix == NULL || strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static inline bool file_exists(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f != NULL)
		fclose(f);
	return f != NULL;
}

/* ffprobe (the ffmpeg package's CLI) opens path and finds a duration.
 * FFmpeg's DASH demuxer refuses to open side-loaded files whose extension
 * is not on its list (.vtt) unless told; that is a local-file safety rule
 * of the demuxer, not a property of the MPD, so it is lifted here. */
static inline void check_ffprobe_opens(const char *path)
{
	char cmd[4600];
	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -allowed_extensions ALL -show_entries "
		 "format=duration -of csv=p=0 '%s' >/dev/null", path);
	CHECK_MSG(system(cmd) == 0, "ffprobe cannot open %s", path);
}

/* Writes a + b into path (an init segment and one media segment, as a
 * player appends them to one SourceBuffer). */
static inline void concat_files(const char *a, const char *b, const char *path)
{
	char *da = NULL, *db = NULL;
	FILE *out = fopen(path, "wb");
	size_t la = 0, lb = 0;
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");

	CHECK_MSG(out && fa && fb, "cannot concat %s + %s", a, b);
	fseek(fa, 0, SEEK_END), la = (size_t)ftell(fa), fseek(fa, 0, SEEK_SET);
	fseek(fb, 0, SEEK_END), lb = (size_t)ftell(fb), fseek(fb, 0, SEEK_SET);
	da = malloc(la + 1), db = malloc(lb + 1);
	CHECK(da && db);
	CHECK(fread(da, 1, la, fa) == la && fread(db, 1, lb, fb) == lb);
	CHECK(fwrite(da, 1, la, out) == la && fwrite(db, 1, lb, out) == lb);
	fclose(fa), fclose(fb), fclose(out);
	free(da), free(db);
}

/* Opens path with libavformat and returns its first stream's parameters
 * (caller frees with avcodec_parameters_free). */
static inline AVCodecParameters *stream_params(const char *path)
{
	AVFormatContext *fmt = NULL;
	AVCodecParameters *par = avcodec_parameters_alloc();

	CHECK_MSG(avformat_open_input(&fmt, path, NULL, NULL) == 0, "cannot open %s", path);
	CHECK(avformat_find_stream_info(fmt, NULL) >= 0);
	CHECK(fmt->nb_streams >= 1);
	avcodec_parameters_copy(par, fmt->streams[0]->codecpar);
	avformat_close_input(&fmt);
	return par;
}

#endif
