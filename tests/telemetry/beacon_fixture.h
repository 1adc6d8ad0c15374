/* What the telemetry integration tests share: a keyring, playback tokens,
 * and v1 beacons as a player would write them. */
#ifndef KINO_TEST_BEACON_FIXTURE_H
#define KINO_TEST_BEACON_FIXTURE_H

#include "kino/playback.h"

#include <stddef.h>
#include <stdint.h>

#define FX_KEYS "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

/* Unix milliseconds now. */
int64_t fx_now_ms(void);

/* A session_start for sid (hex) on asset, with a token signed by kr. */
void fx_start(char *out, size_t size, const kino_playback_keyring_t *kr, const char *sid,
	      long long seq, int64_t ts, const char *title, const char *asset,
	      const char *device, long long duration_ms);
void fx_heartbeat(char *out, size_t size, const char *sid, long long seq, int64_t ts,
		  long long playhead_ms, long long bitrate);
/* Any event without required fields of its own (playing, pause, ...),
 * with `extra` (",\"k\":v" or "") appended. */
void fx_event(char *out, size_t size, const char *sid, long long seq, int64_t ts,
	      const char *event, const char *extra);

#endif
