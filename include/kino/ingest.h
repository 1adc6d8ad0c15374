/* Ingest: a source goes in (file, URL, upload) and leaves as an ABR ladder
 * of CMAF segments with HLS and DASH manifests, a poster, trick-play sprites
 * and WebVTT subtitles. The media logic knows nothing of the servers, so it
 * can be tested alone. */
#ifndef KINO_INGEST_H
#define KINO_INGEST_H

/* Routes libav*'s log (av_log) into Kino's. Call once from main. */
void kino_ingest_global_init(void);

#endif
