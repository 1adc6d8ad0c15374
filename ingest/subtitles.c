/* Sidecar subtitles into WebVTT, the one format both HLS and DASH players
 * side-load. SubRip (numbered cues, "00:00:01,000 --> 00:00:04,000") is
 * rewritten cue by cue; WebVTT is checked and passed through with line
 * endings normalised. A malformed timing line is an error naming the line,
 * never a silently dropped cue. Pure text, no libav. */
#include "kino/error.h"
#include "kino/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "HH:MM:SS,mmm" or "MM:SS.mmm" at *p; returns milliseconds or -1. */
static long long parse_time(const char **p)
{
	long long parts[3] = {0, 0, 0};
	int nparts = 0;
	const char *s = *p;
	long long ms = 0;
	int digits = 0;

	for (;;) {
		long long v = 0;
		int n = 0;
		while (*s >= '0' && *s <= '9' && n < 9) {
			v = v * 10 + (*s++ - '0');
			n++;
		}
		if (n == 0 || nparts == 3)
			return -1;
		parts[nparts++] = v;
		if (*s != ':')
			break;
		s++;
	}
	if (nparts < 2 || (*s != ',' && *s != '.'))
		return -1;
	s++;
	while (*s >= '0' && *s <= '9' && digits < 3) {
		ms = ms * 10 + (*s++ - '0');
		digits++;
	}
	if (digits != 3)
		return -1;
	*p = s;
	if (nparts == 2)
		return (parts[0] * 60 + parts[1]) * 1000 + ms;
	return ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms;
}

static void put_time(FILE *f, long long ms)
{
	fprintf(f, "%02lld:%02lld:%02lld.%03lld", ms / 3600000, ms / 60000 % 60,
		ms / 1000 % 60, ms % 1000);
}

/* A timing line "A --> B [settings]"; false if it is not one. */
static bool parse_timing(const char *line, long long *a, long long *b,
			 const char **rest)
{
	const char *p = line;
	while (*p == ' ')
		p++;
	if ((*a = parse_time(&p)) < 0)
		return false;
	while (*p == ' ')
		p++;
	if (strncmp(p, "-->", 3) != 0)
		return false;
	p += 3;
	while (*p == ' ')
		p++;
	if ((*b = parse_time(&p)) < 0)
		return false;
	*rest = p;
	return true;
}

int kino_ingest_subtitle_to_webvtt(const char *text, size_t len, char **vtt,
				   kino_error_t *err)
{
	int ret = 0;
	char *copy = NULL, *buf = NULL;
	size_t buflen = 0;
	FILE *f = NULL;
	char *line;
	bool is_vtt, in_cue = false, saw_cue = false;
	int lineno = 0;

	*vtt = NULL;
	copy = malloc(len + 1);
	f = open_memstream(&buf, &buflen);
	if (copy == NULL || f == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "subtitles: out of memory");
		goto out;
	}
	/* Normalise CRLF and CR to LF; drop a UTF-8 BOM. */
	{
		size_t j = 0, i = 0;
		if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
			i = 3;
		for (; i < len; i++) {
			if (text[i] == '\0') {
				ret = kino_error_set(err, KINO_EPARSE,
						     "subtitles: NUL byte: not a text file");
				goto out;
			}
			if (text[i] == '\r') {
				copy[j++] = '\n';
				if (i + 1 < len && text[i + 1] == '\n')
					i++;
			} else {
				copy[j++] = text[i];
			}
		}
		copy[j] = '\0';
	}
	is_vtt = strncmp(copy, "WEBVTT", 6) == 0 &&
		 (copy[6] == '\0' || copy[6] == '\n' || copy[6] == ' ' ||
		  copy[6] == '\t');
	if (is_vtt) {
		/* Check every timing line, then pass the text through. */
		char *p = copy;
		while (p && *p) {
			char *nl = strchr(p, '\n');
			long long a, b;
			const char *rest;
			lineno++;
			if (nl)
				*nl = '\0';
			if (strstr(p, "-->") != NULL) {
				if (!parse_timing(p, &a, &b, &rest) || b < a) {
					ret = kino_error_set(err, KINO_EPARSE,
							     "subtitles: bad cue timing on line %d",
							     lineno);
					goto out;
				}
				saw_cue = true;
			}
			fputs(p, f);
			fputc('\n', f);
			p = nl ? nl + 1 : NULL;
		}
		goto done;
	}

	fputs("WEBVTT\n\n", f);
	line = copy;
	while (line != NULL) {
		char *nl = strchr(line, '\n');
		long long a, b;
		const char *rest;

		lineno++;
		if (nl)
			*nl = '\0';
		if (*line == '\0') {
			if (in_cue)
				fputc('\n', f);
			in_cue = false;
		} else if (!in_cue) {
			const char *timing = line;
			/* An SRT cue: an optional number, then the timing. */
			bool numeric = strspn(line, "0123456789 ") == strlen(line);
			if (numeric && nl != NULL) {
				line = nl + 1;
				nl = strchr(line, '\n');
				lineno++;
				if (nl)
					*nl = '\0';
				timing = line;
			}
			if (!parse_timing(timing, &a, &b, &rest) || b < a) {
				ret = kino_error_set(err, KINO_EPARSE,
						     "subtitles: expected a cue timing "
						     "on line %d", lineno);
				goto out;
			}
			put_time(f, a);
			fputs(" --> ", f);
			put_time(f, b);
			fputc('\n', f);
			in_cue = saw_cue = true;
		} else {
			/* "-->" would end a WebVTT cue early. */
			for (char *c = line; *c; c++) {
				if (strncmp(c, "-->", 3) == 0) {
					fputs("--&gt;", f);
					c += 2;
				} else {
					fputc(*c, f);
				}
			}
			fputc('\n', f);
		}
		line = nl ? nl + 1 : NULL;
	}
	if (in_cue)
		fputc('\n', f);
done:
	if (!saw_cue) {
		ret = kino_error_set(err, KINO_EPARSE, "subtitles: no cues found");
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		ret = kino_error_set(err, KINO_ENOMEM, "subtitles: out of memory");
		goto out;
	}
	f = NULL;
	*vtt = buf; /* ownership moves to the caller */
	buf = NULL;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	free(copy);
	return ret;
}
