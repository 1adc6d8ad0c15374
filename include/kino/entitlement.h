/* Entitlement: who may play which title, and how many streams at once.
 *
 * The rules are pure functions of a few facts (the title's state and tier,
 * the viewer's plan, their purchases and rentals) so that they can be tested
 * without a database; core/entitlement_store.c gathers the facts from
 * MongoDB and core/playback_session.c enforces the stream limit.
 *
 *   plan      tier  concurrent streams
 *   free      0     1
 *   basic     1     2
 *   premium   2     4
 *
 * A viewer without a subscription, or whose plan has expired, is on free.
 * A viewer may play a title when it is published and inside its window AND
 * (its tier <= the viewer's plan tier, or they bought it, or they rented it
 * and the rental has not expired). Everything here is thread-safe. */
#ifndef KINO_ENTITLEMENT_H
#define KINO_ENTITLEMENT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum kino_plan {
	KINO_PLAN_FREE = 0,
	KINO_PLAN_BASIC = 1,
	KINO_PLAN_PREMIUM = 2,
} kino_plan_t;

/* A title's tier uses the same names and order as the plans. */
typedef kino_plan_t kino_tier_t;

/* "free", "basic", "premium" ("free" for an out-of-range value). */
const char *kino_entitlement_plan_name(kino_plan_t plan);

/* Parses a plan or tier name; false (and *out untouched) for anything else. */
bool kino_entitlement_plan_parse(const char *s, kino_plan_t *out);

/* The concurrent-stream limit of a plan, from the table above. */
int kino_entitlement_plan_max_streams(kino_plan_t plan);

/* The plan in force at now_ms: `plan` while until_ms is 0 (no end) or
 * later than now_ms, free afterwards. */
kino_plan_t kino_entitlement_plan_effective(kino_plan_t plan, int64_t until_ms,
					    int64_t now_ms);

/* What is known about one viewer and one title. Times are Unix ms. */
typedef struct kino_entitlement_facts {
	bool title_available;     /* published and inside its window */
	kino_tier_t title_tier;
	kino_plan_t plan;         /* the subscribed plan (free without one) */
	int64_t plan_until_ms;    /* 0: no end */
	bool purchased;
	bool rented;              /* any rental of the title, live or not */
	int64_t rental_until_ms;  /* the latest rental's end */
} kino_entitlement_facts_t;

typedef enum kino_entitlement_verdict {
	KINO_ENTITLEMENT_OK = 0,
	KINO_ENTITLEMENT_NOT_AVAILABLE,  /* draft, or outside its window */
	KINO_ENTITLEMENT_NOT_SUBSCRIBED, /* plan too low or expired, nothing bought */
	KINO_ENTITLEMENT_RENTAL_EXPIRED, /* only an expired rental would have allowed it */
} kino_entitlement_verdict_t;

/* Decides whether the facts allow playback at now_ms. Pure. */
kino_entitlement_verdict_t kino_entitlement_decide(const kino_entitlement_facts_t *f,
						   int64_t now_ms);

/* The refusal code of a verdict for the API: "not_available",
 * "not_subscribed", "rental_expired" ("ok" for KINO_ENTITLEMENT_OK). */
const char *kino_entitlement_verdict_code(kino_entitlement_verdict_t v);

#endif
