/* The ABR ladder: which renditions a source gets.
 *
 * A rung names the short side of the picture ("720p" is 1280x720 for a
 * landscape source, 720x1280 for a portrait one), as PeerTube and the cloud
 * services do, so phone videos get the same ladder as TV ones. The rules:
 * never upscale (rungs above the source's short side are dropped), keep the
 * display aspect ratio (SAR and rotation are already folded into the
 * display size by the probe), even dimensions for 4:2:0, and the source's
 * frame rate (never more). A source smaller than every rung gets a single
 * rendition at its own size. Pure functions, no libav. */
#include "kino/error.h"
#include "kino/ingest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const kino_ingest_rung_t default_ladder[] = {
	{.short_side = 1080, .bitrate_kbps = 5000},
	{.short_side = 720, .bitrate_kbps = 3000},
	{.short_side = 480, .bitrate_kbps = 1400},
	{.short_side = 360, .bitrate_kbps = 800},
	{.short_side = 240, .bitrate_kbps = 400},
};

const kino_ingest_rung_t *kino_ingest_ladder_default(size_t *n)
{
	*n = sizeof(default_ladder) / sizeof(default_ladder[0]);
	return default_ladder;
}

static int rung_cmp_desc(const void *a, const void *b)
{
	const kino_ingest_rung_t *x = a, *y = b;
	return (y->short_side > x->short_side) - (y->short_side < x->short_side);
}

int kino_ingest_ladder_parse(const char *spec, kino_ingest_rung_t *rungs,
			     size_t cap, size_t *n, kino_error_t *err)
{
	const char *p = spec;
	size_t count = 0;

	*n = 0;
	if (spec == NULL || *spec == '\0')
		return kino_error_set(err, KINO_EINVAL, "ladder: empty");
	while (*p != '\0') {
		char *end = NULL;
		long side, kbps;

		errno = 0;
		side = strtol(p, &end, 10);
		if (end == p || *end != ':' || errno != 0)
			return kino_error_set(err, KINO_EINVAL,
					      "ladder: expected HEIGHT:KBPS at '%s'", p);
		p = end + 1;
		kbps = strtol(p, &end, 10);
		if (end == p || (*end != ',' && *end != '\0') || errno != 0)
			return kino_error_set(err, KINO_EINVAL,
					      "ladder: expected KBPS at '%s'", p);
		if (side < 16 || side > KINO_INGEST_MAX_DIMENSION || side % 2 != 0)
			return kino_error_set(err, KINO_EINVAL,
					      "ladder: height %ld must be even and in 16..%d",
					      side, KINO_INGEST_MAX_DIMENSION);
		if (kbps < 50 || kbps > 100000)
			return kino_error_set(err, KINO_EINVAL,
					      "ladder: bitrate %ld kbps must be in 50..100000",
					      kbps);
		if (count == cap)
			return kino_error_set(err, KINO_EINVAL,
					      "ladder: more than %zu rungs", cap);
		for (size_t i = 0; i < count; i++)
			if (rungs[i].short_side == side)
				return kino_error_set(err, KINO_EINVAL,
						      "ladder: %ldp given twice", side);
		rungs[count].short_side = (int)side;
		rungs[count].bitrate_kbps = (int)kbps;
		count++;
		p = *end == ',' ? end + 1 : end;
		if (*end == ',' && *p == '\0')
			return kino_error_set(err, KINO_EINVAL, "ladder: trailing comma");
	}
	qsort(rungs, count, sizeof(*rungs), rung_cmp_desc);
	*n = count;
	return 0;
}

static int even_round(double v)
{
	int e = 2 * (int)lround(v / 2.0);
	return e < 2 ? 2 : e;
}

/* Fills one rendition whose short side is `side`, keeping the aspect. */
static void size_rendition(kino_ingest_rendition_t *r, int dw, int dh, int side,
			   int kbps, double fps)
{
	if (dw >= dh) {
		r->height = side;
		r->width = even_round((double)side * dw / dh);
	} else {
		r->width = side;
		r->height = even_round((double)side * dh / dw);
	}
	r->bitrate_kbps = kbps;
	r->fps = fps;
	snprintf(r->name, sizeof(r->name), "%dp", side);
}

int kino_ingest_ladder_plan(int display_width, int display_height, double fps,
			    const kino_ingest_rung_t *rungs, size_t nrungs,
			    kino_ingest_rendition_t *out, size_t cap,
			    kino_error_t *err)
{
	int short_side;
	size_t count = 0;
	const kino_ingest_rung_t *smallest = NULL;

	if (display_width < 2 || display_height < 2 || cap == 0 || fps <= 0)
		return kino_error_set(err, KINO_EINVAL,
				      "ladder: bad source %dx%d at %.3f fps",
				      display_width, display_height, fps);
	if (rungs == NULL || nrungs == 0)
		rungs = kino_ingest_ladder_default(&nrungs);
	short_side = display_width < display_height ? display_width : display_height;

	for (size_t i = 0; i < nrungs && count < cap; i++) {
		if (smallest == NULL || rungs[i].short_side < smallest->short_side)
			smallest = &rungs[i];
		if (rungs[i].short_side > short_side)
			continue;
		size_rendition(&out[count++], display_width, display_height,
			       rungs[i].short_side, rungs[i].bitrate_kbps, fps);
	}
	if (count == 0) {
		/* Smaller than every rung: one rendition at the source's size,
		 * the smallest rung's bitrate scaled by the pixel count. */
		int side = short_side & ~1;
		double scale;
		int kbps;

		if (side < 2)
			side = 2;
		scale = (double)side * side /
			((double)smallest->short_side * smallest->short_side);
		kbps = (int)lround(smallest->bitrate_kbps * scale);
		if (kbps < 64)
			kbps = 64;
		size_rendition(&out[count++], display_width, display_height, side,
			       kbps, fps);
	}
	return (int)count;
}
