/* The entitlement rules alone: the plan table, plan expiry and every
 * verdict of kino_entitlement_decide(). */
#include "check.h"

#include "kino/entitlement.h"

#define NOW 1700000000000LL
#define HOUR 3600000LL

static void test_plan_table(void)
{
	kino_plan_t p = KINO_PLAN_PREMIUM;

	CHECK_INT_EQ(kino_entitlement_plan_max_streams(KINO_PLAN_FREE), 1);
	CHECK_INT_EQ(kino_entitlement_plan_max_streams(KINO_PLAN_BASIC), 2);
	CHECK_INT_EQ(kino_entitlement_plan_max_streams(KINO_PLAN_PREMIUM), 4);
	CHECK(KINO_PLAN_FREE < KINO_PLAN_BASIC && KINO_PLAN_BASIC < KINO_PLAN_PREMIUM);
	CHECK(kino_entitlement_plan_parse("basic", &p) && p == KINO_PLAN_BASIC);
	CHECK(kino_entitlement_plan_parse("premium", &p) && p == KINO_PLAN_PREMIUM);
	CHECK(kino_entitlement_plan_parse("free", &p) && p == KINO_PLAN_FREE);
	CHECK(!kino_entitlement_plan_parse("Premium", &p) && p == KINO_PLAN_FREE);
	CHECK(!kino_entitlement_plan_parse("", &p));
	CHECK(!kino_entitlement_plan_parse(NULL, &p));
	CHECK_STR_EQ(kino_entitlement_plan_name(KINO_PLAN_BASIC), "basic");
	CHECK_STR_EQ(kino_entitlement_plan_name((kino_plan_t)42), "free");
	CHECK_INT_EQ(kino_entitlement_plan_max_streams((kino_plan_t)-1), 1);
}

static void test_plan_expiry(void)
{
	CHECK_INT_EQ(kino_entitlement_plan_effective(KINO_PLAN_PREMIUM, 0, NOW), KINO_PLAN_PREMIUM);
	CHECK_INT_EQ(kino_entitlement_plan_effective(KINO_PLAN_PREMIUM, NOW + 1, NOW),
		     KINO_PLAN_PREMIUM);
	CHECK_INT_EQ(kino_entitlement_plan_effective(KINO_PLAN_PREMIUM, NOW, NOW), KINO_PLAN_FREE);
	CHECK_INT_EQ(kino_entitlement_plan_effective(KINO_PLAN_BASIC, NOW - HOUR, NOW),
		     KINO_PLAN_FREE);
}

static kino_entitlement_verdict_t decide(kino_entitlement_facts_t f)
{
	return kino_entitlement_decide(&f, NOW);
}

static void test_verdicts(void)
{
	kino_entitlement_facts_t base = {.title_available = true, .title_tier = KINO_PLAN_PREMIUM};
	kino_entitlement_facts_t f;

	/* Free titles: anyone, even without a plan. */
	f = base;
	f.title_tier = KINO_PLAN_FREE;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_OK);
	/* Nothing at all. */
	CHECK_INT_EQ(decide(base), KINO_ENTITLEMENT_NOT_SUBSCRIBED);
	/* Plans: tier order, and expiry. */
	f = base;
	f.plan = KINO_PLAN_BASIC;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_NOT_SUBSCRIBED);
	f.title_tier = KINO_PLAN_BASIC;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_OK);
	f.plan = KINO_PLAN_PREMIUM;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_OK);
	f.plan_until_ms = NOW + HOUR;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_OK);
	f.plan_until_ms = NOW - 1;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_NOT_SUBSCRIBED);
	/* Purchases never expire. */
	f = base;
	f.purchased = true;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_OK);
	/* Rentals do. */
	f = base;
	f.rented = true;
	f.rental_until_ms = NOW + 1;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_OK);
	f.rental_until_ms = NOW;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_RENTAL_EXPIRED);
	/* An expired rental does not matter when the plan covers the title. */
	f.plan = KINO_PLAN_PREMIUM;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_OK);
	/* Availability comes before everything, even free titles and purchases. */
	f = base;
	f.title_available = false;
	f.title_tier = KINO_PLAN_FREE;
	f.purchased = true;
	CHECK_INT_EQ(decide(f), KINO_ENTITLEMENT_NOT_AVAILABLE);
	CHECK_STR_EQ(kino_entitlement_verdict_code(KINO_ENTITLEMENT_NOT_AVAILABLE), "not_available");
	CHECK_STR_EQ(kino_entitlement_verdict_code(KINO_ENTITLEMENT_NOT_SUBSCRIBED), "not_subscribed");
	CHECK_STR_EQ(kino_entitlement_verdict_code(KINO_ENTITLEMENT_RENTAL_EXPIRED), "rental_expired");
	CHECK_STR_EQ(kino_entitlement_verdict_code(KINO_ENTITLEMENT_OK), "ok");
}

int main(void)
{
	RUN_TEST(test_plan_table);
	RUN_TEST(test_plan_expiry);
	RUN_TEST(test_verdicts);
	return 0;
}
