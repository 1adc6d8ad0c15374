/* The parts of kino loadgen: the session model (loadgen_session.c), which
 * decides what a simulated viewer does next and writes its beacons, and the
 * client (loadgen.c), which sends them and tracks their answers. Private to
 * telemetry/. */
#ifndef KINO_TELEMETRY_LOADGEN_INTERNAL_H
#define KINO_TELEMETRY_LOADGEN_INTERNAL_H

#include "kino/loadgen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A beacon's life on the client side. */
enum lg_beacon_state { LG_QUEUED, LG_INFLIGHT, LG_ACKED, LG_REJECTED };

typedef struct lg_beacon {
	char *json;          /* owned */
	int64_t sent_us;     /* monotonic, of the latest send */
	uint8_t state;       /* lg_beacon_state */
	bool was_sent;       /* sent at least once: a later send is a resend */
} lg_beacon_t;

enum lg_phase {
	LG_START,     /* session_start next */
	LG_STARTUP,   /* waiting for the first frame */
	LG_PLAYING,
	LG_REBUFFER,
	LG_PAUSED,
	LG_SEEKING,
	LG_ENDING,    /* ended sent; session_end next */
	LG_DONE
};

typedef struct lg_session {
	char sid[33];
	int index;           /* in the run */
	int conn;            /* the connection that carries it */
	uint64_t rng;
	int phase;
	int64_t started_us, next_us, last_us; /* monotonic */
	int64_t watch_plan_ms;  /* the viewer leaves after this much watching */
	int64_t watched_ms;
	bool completes;         /* plays to the end (ended) rather than leaving */
	int title;
	const char *device;
	int64_t duration_ms, playhead_ms, buffer_ms;
	long long dropped;
	int rung;               /* index in the bitrate ladder */
	int player_w, player_h;
	/* beacons, indexed by seq */
	lg_beacon_t *beacons;
	int nbeacons, cap;
	int low;                /* every seq below is acked or refused */
} lg_session_t;

/* Sets up session `index` of a run: ids, rng, the viewer's plan. */
void lg_session_init(lg_session_t *s, const char *sid_prefix, int index, int conn,
		     uint64_t seed, int64_t now_us);

/* Writes the session's next beacon into out (NUL-terminated, at most size
 * bytes) if one is due at now_us, advancing the session; returns false when
 * nothing is due. `leave` asks the viewer to stop now (the run is over): the
 * next beacon is then session_end. Wall-clock ts comes from wall_ms. */
bool lg_session_step(lg_session_t *s, const struct kino_playback_keyring *keys,
		     int heartbeat_ms, bool leave, int64_t now_us, int64_t wall_ms,
		     char *out, size_t size);

/* splitmix64: the run's one source of randomness. */
uint64_t lg_rand(uint64_t *state);

#endif
