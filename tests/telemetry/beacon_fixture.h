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

/* The body of a collector child process: `kino_telemetry_new` on
 * telemetry.listen 127.0.0.1:port against the MongoDB at uri (database
 * `database`), data_dir for its spool, the per-address rate limit off, and
 * slow_db_ms (0: the default). Serves until killed; returns 1 with a
 * message if it cannot start. */
int fx_run_collector(const char *uri, const char *data_dir, int port, const char *database,
		     int slow_db_ms);

#endif
