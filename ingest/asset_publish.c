/* The asset directory: random ids, writing files so that a full disk is a
 * clear KINO_ENOSPC, removing a failed job's temporary tree, publishing by
 * rename(2) and the asset.json that later modules (catalog, origin) read.
 *
 * A job writes everything under <media_root>/.tmp-<id>/ and renames it to
 * <media_root>/<id>/ as its very last step. rename(2) of a directory
 * within one file system is atomic, so readers see either no asset or a
 * whole one. Pure POSIX, no libav. */
#define _XOPEN_SOURCE 700
#include "ingest_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int kino_errno_to_kino(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? KINO_ENOSPC : KINO_EIO;
}

int kino_asset_id_new(char id[17], kino_error_t *err)
{
	unsigned char raw[8];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kino_error_set(err, KINO_EIO, "asset id: getrandom: %s",
					      strerror(errno));
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

int kino_asset_mkdirs(const char *path, kino_error_t *err)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return kino_error_set(err, KINO_EINVAL, "mkdir: bad path '%s'", path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return kino_error_set(err, kino_errno_to_kino(errno),
					      "mkdir '%s': %s", buf, strerror(errno));
		buf[i] = saved;
	}
	return 0;
}

int kino_asset_file_write(const char *path, const void *data, size_t len,
			  kino_error_t *err)
{
	int ret = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = data;

	if (fd < 0)
		return kino_error_set(err, kino_errno_to_kino(errno), "open '%s': %s",
				      path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = kino_error_set(err, kino_errno_to_kino(errno),
					     "write '%s': %s", path, strerror(errno));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
out:
	/* close(2) can report a delayed ENOSPC on some file systems (NFS). */
	if (close(fd) != 0 && ret == 0)
		ret = kino_error_set(err, kino_errno_to_kino(errno), "close '%s': %s",
				     path, strerror(errno));
	return ret;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
			struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void kino_asset_tree_remove(const char *path)
{
	if (path == NULL || *path == '\0')
		return;
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int kino_asset_publish(const char *tmp, const char *final, kino_error_t *err)
{
	struct stat st;

	if (lstat(final, &st) == 0)
		return kino_error_set(err, KINO_EEXIST, "publish: '%s' exists", final);
	if (rename(tmp, final) != 0)
		return kino_error_set(err, kino_errno_to_kino(errno),
				      "publish: rename '%s' -> '%s': %s", tmp, final,
				      strerror(errno));
	return 0;
}

void kino_json_string_write(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *c = (const unsigned char *)s; c && *c; c++) {
		switch (*c) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (*c < 0x20)
				fprintf(out, "\\u%04x", *c);
			else
				fputc(*c, out);
		}
	}
	fputc('"', out);
}

char *kino_asset_json_render(const char *asset_id, const char *title,
			     const char *source_name, const kino_package_t *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *hls = p->protection ? "hls/" : "";

	if (f == NULL)
		return NULL;
	fputs("{\n  \"version\": 1,\n  \"asset_id\": ", f);
	kino_json_string_write(f, asset_id);
	fputs(",\n  \"title\": ", f);
	kino_json_string_write(f, title ? title : "");
	fputs(",\n  \"source\": ", f);
	kino_json_string_write(f, source_name ? source_name : "");
	fprintf(f, ",\n  \"duration\": %.3f,\n  \"segment_seconds\": %.3f,\n"
		   "  \"hls\": \"master.m3u8\",\n  \"dash\": \"manifest.mpd\",\n"
		   "  \"poster\": \"poster.jpg\",\n"
		   "  \"thumbnails\": \"thumbs/thumbs.vtt\",\n  \"video\": [",
		p->duration, p->segment_seconds);
	for (size_t i = 0; i < p->nvideo; i++) {
		const kino_track_summary_t *v = &p->video[i];
		fprintf(f, "%s\n    {\"name\": \"%s\", \"width\": %d, \"height\": %d, "
			   "\"fps\": %.3f, \"codecs\": \"%s\", "
			   "\"bandwidth\": %.0f, \"average_bandwidth\": %.0f, "
			   "\"segments\": %zu, \"playlist\": \"%s%s/playlist.m3u8\"}",
			i ? "," : "", v->id, v->width, v->height, v->fps, v->codecs,
			kino_track_peak_bps(v), kino_track_average_bps(v), v->nseg,
			hls, v->dir);
	}
	fputs("\n  ],\n  \"audio\": ", f);
	if (p->audio != NULL)
		fprintf(f, "{\"codecs\": \"%s\", \"channels\": %d, "
			   "\"sample_rate\": %d, \"bandwidth\": %.0f, "
			   "\"segments\": %zu, \"playlist\": \"%s%s/playlist.m3u8\"}",
			p->audio->codecs, p->audio->channels, p->audio->sample_rate,
			kino_track_peak_bps(p->audio), p->audio->nseg, hls, p->audio->dir);
	else
		fputs("null", f);
	fputs(",\n  \"subtitles\": [", f);
	for (size_t i = 0; i < p->nsubs; i++) {
		fprintf(f, "%s\n    {\"lang\": ", i ? "," : "");
		kino_json_string_write(f, p->subs[i].lang);
		fputs(", \"name\": ", f);
		kino_json_string_write(f, p->subs[i].name);
		fprintf(f, ", \"vtt\": \"%s\", \"playlist\": \"%s\"}", p->subs[i].vtt,
			p->subs[i].playlist);
	}
	fputs("\n  ]", f);
	/* Which protection, never a key: the key service reads keys.json. */
	if (p->protection != NULL)
		fprintf(f, ",\n  \"protection\": {\"scheme\": \"cenc\", \"default_kid\": \"%s\", "
			   "\"hls\": \"AES-128\", \"key_systems\": [\"aes128\", \"clearkey\"]}",
			p->protection->default_kid);
	fputs("\n}\n", f);
	return kino_memstream_finish(f, &buf);
}
