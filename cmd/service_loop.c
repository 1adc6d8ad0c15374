/* Stop signals for the long-running commands: blocked everywhere and taken
 * synchronously by the main thread with sigtimedwait(), so no handler runs
 * in an arbitrary thread and shutdown happens in ordinary code. */
#define KINO_LOG_MODULE "main"
#include "service_loop.h"

#include "kino/log.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

static sigset_t stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	return set;
}

void kino_service_signals_block(void)
{
	sigset_t set = stop_signals();

	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int kino_service_wait(int tick_ms, void (*tick)(void *userdata), void *userdata)
{
	sigset_t set = stop_signals();
	struct timespec timeout = {tick_ms / 1000, (long)(tick_ms % 1000) * 1000000L};

	for (;;) {
		int sig = sigtimedwait(&set, NULL, &timeout);

		if (sig == SIGHUP) {
			/* Nothing reloads yet; say so rather than die. */
			KINO_LOG_INFO("SIGHUP ignored: restart kino to apply configuration changes");
			continue;
		}
		if (sig > 0) {
			KINO_LOG_INFO("received %s, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
			return sig;
		}
		if (errno != EAGAIN && errno != EINTR)
			return SIGTERM;
		if (tick != NULL)
			tick(userdata);
	}
}
