/* The entitlement rules: the plan table and the decision, as pure functions
 * (see include/kino/entitlement.h). The facts come from
 * core/entitlement_store.c; nothing here touches the database. */
#include "kino/entitlement.h"

#include <string.h>

typedef struct plan_row {
	const char *name;
	int max_streams;
} plan_row_t;

/* Indexed by kino_plan_t; the order of the rows is the tier order. */
static const plan_row_t plans[] = {
	[KINO_PLAN_FREE] = {.name = "free", .max_streams = 1},
	[KINO_PLAN_BASIC] = {.name = "basic", .max_streams = 2},
	[KINO_PLAN_PREMIUM] = {.name = "premium", .max_streams = 4},
};

#define NPLANS (sizeof(plans) / sizeof(plans[0]))

static bool plan_ok(kino_plan_t p)
{
	return (int)p >= 0 && (size_t)p < NPLANS;
}

const char *kino_entitlement_plan_name(kino_plan_t plan)
{
	return plan_ok(plan) ? plans[plan].name : plans[KINO_PLAN_FREE].name;
}

bool kino_entitlement_plan_parse(const char *s, kino_plan_t *out)
{
	for (size_t i = 0; s != NULL && i < NPLANS; i++) {
		if (strcmp(s, plans[i].name) == 0) {
			*out = (kino_plan_t)i;
			return true;
		}
	}
	return false;
}

int kino_entitlement_plan_max_streams(kino_plan_t plan)
{
	return plan_ok(plan) ? plans[plan].max_streams : plans[KINO_PLAN_FREE].max_streams;
}

kino_plan_t kino_entitlement_plan_effective(kino_plan_t plan, int64_t until_ms,
					    int64_t now_ms)
{
	if (!plan_ok(plan) || (until_ms != 0 && until_ms <= now_ms))
		return KINO_PLAN_FREE;
	return plan;
}

kino_entitlement_verdict_t kino_entitlement_decide(const kino_entitlement_facts_t *f,
						   int64_t now_ms)
{
	kino_plan_t plan = kino_entitlement_plan_effective(f->plan, f->plan_until_ms, now_ms);

	if (!f->title_available)
		return KINO_ENTITLEMENT_NOT_AVAILABLE;
	/* Free titles pass here too: every viewer has at least the free plan. */
	if (f->title_tier <= plan || f->purchased)
		return KINO_ENTITLEMENT_OK;
	if (f->rented && f->rental_until_ms > now_ms)
		return KINO_ENTITLEMENT_OK;
	/* Say rental_expired only when a rental is what would have allowed it:
	 * the viewer then knows that renting again helps. */
	if (f->rented)
		return KINO_ENTITLEMENT_RENTAL_EXPIRED;
	return KINO_ENTITLEMENT_NOT_SUBSCRIBED;
}

const char *kino_entitlement_verdict_code(kino_entitlement_verdict_t v)
{
	switch (v) {
	case KINO_ENTITLEMENT_OK:
		return "ok";
	case KINO_ENTITLEMENT_NOT_AVAILABLE:
		return "not_available";
	case KINO_ENTITLEMENT_RENTAL_EXPIRED:
		return "rental_expired";
	case KINO_ENTITLEMENT_NOT_SUBSCRIBED:
		break;
	}
	return "not_subscribed";
}
