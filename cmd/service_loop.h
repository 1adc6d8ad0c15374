/* What the long-running commands (up, serve, telemetry, worker) share:
 * the stop signals, and waiting for one. Private to cmd/. */
#ifndef KINO_CMD_SERVICE_LOOP_H
#define KINO_CMD_SERVICE_LOOP_H

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and so in every
 * thread it starts afterwards, and ignores SIGPIPE. Call it first. */
void kino_service_signals_block(void);

/* Waits for SIGINT or SIGTERM, calling tick(userdata) every tick_ms
 * meanwhile (tick may be NULL). Returns the signal number. */
int kino_service_wait(int tick_ms, void (*tick)(void *userdata), void *userdata);

#endif
