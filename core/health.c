/* GET /healthz: see include/kino/health.h. */
#include "kino/health.h"

#include <stdio.h>
#include <string.h>

static void healthz(kino_http_request_t *req, void *userdata)
{
	kino_health_t *h = userdata;
	char detail[512], escaped[1100], body[1500];
	kino_db_state_t state = kino_db_health(h->db, detail, sizeof(detail));
	long uptime = (long)(time(NULL) - h->started);

	kino_http_response_header(req, "Cache-Control", "no-store");
	if (state == KINO_DB_OK) {
		snprintf(body, sizeof(body),
			 "{\"status\":\"ok\",\"service\":\"%s\",\"version\":\"%s\","
			 "\"uptime_s\":%ld,\"db\":\"ok\"}",
			 h->service, KINO_VERSION, uptime);
		kino_http_respond_json(req, 200, body);
		return;
	}
	/* libmongoc's message, already redacted, may carry quotes. */
	kino_http_json_escape(escaped, sizeof(escaped), detail);
	snprintf(body, sizeof(body),
		 "{\"status\":\"unavailable\",\"service\":\"%s\",\"version\":\"%s\","
		 "\"uptime_s\":%ld,\"db\":\"%s\",\"db_error\":\"%s\"}",
		 h->service, KINO_VERSION, uptime, kino_db_state_name(state),
		 escaped);
	kino_http_respond_json(req, 503, body);
}

void kino_health_init(kino_health_t *health, kino_db_t *db, const char *service)
{
	health->db = db;
	health->service = service;
	health->started = time(NULL);
}

kino_http_route_t kino_health_route(kino_health_t *health)
{
	return (kino_http_route_t){
		.method = "GET",
		.pattern = "/healthz",
		.handler = healthz,
		.mode = KINO_HTTP_INLINE,
		.userdata = health,
	};
}
