#include "operator/core/pool_decision.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "operator/core/api_codec.h"

namespace gpupool::decision {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

Money usd(std::string_view s) {
  return Money::parse(s).value();
}
Time at(int day, int hour, int minute = 0, int second = 0) {
  return sys_days{year{2026} / November / day} + hours(hour) + minutes(minute) + seconds(second);
}

BillingRule hourly() {
  BillingRule r;
  r.increment = 1h;
  return r;
}

Offer offer(std::string id, std::string price) {
  Offer o;
  o.provider = "fake";
  o.provider_type = "fake";
  o.id = std::move(id);
  o.region = "r1";
  o.gpu_model = "L40S";
  o.price_per_hour = usd(price);
  o.billing = hourly();
  return o;
}

api::GpuPool make_pool(int replicas) {
  api::GpuPool p;
  p.metadata.name = "web";
  p.metadata.namespace_ = "default";
  p.metadata.uid = "uid-1234";
  p.metadata.generation = 3;
  p.spec.gpu.models = {{"L40S", 1.0}};
  p.spec.replicas.count = replicas;
  p.spec.providers.push_back({"fake", std::nullopt, {}});
  p.spec.lifecycle.park_margin_seconds = 120;
  p.spec.lifecycle.min_park_seconds = 0;  // rule 5's hold has its own test
  return p;
}

api::GpuInstance inst(const api::GpuPool& pool, int64_t ordinal, api::InstancePhase phase,
                      std::optional<Time> launch = std::nullopt, std::string price = "2") {
  api::GpuInstance i;
  i.metadata.name = instance_name(pool, ordinal);
  i.metadata.namespace_ = pool.metadata.namespace_;
  i.spec.pool = pool.metadata.name;
  i.spec.offer = api::offer_spec_from(offer("a", price));
  i.status.phase = phase;
  if (launch) {
    i.status.launch_time = launch;
    i.status.billing = hourly();
    i.status.price_per_hour = usd(price);
  }
  return i;
}

Input input(api::GpuPool pool, Time now) {
  Input in;
  in.desired = desired_replicas(pool.spec);
  in.pool = std::move(pool);
  in.offers = {offer("a", "2"), offer("b", "3")};
  in.now = now;
  return in;
}

std::vector<std::string> names(const std::vector<api::GpuInstance>& v) {
  std::vector<std::string> out;
  for (const auto& i : v)
    out.push_back(i.metadata.name);
  return out;
}

const api::Condition& condition(const Output& out, const std::string& type) {
  const api::Condition* c = find_condition(out.status.conditions, type);
  EXPECT_NE(c, nullptr) << type;
  static api::Condition none;
  return c ? *c : none;
}

TEST(PoolDecision, ScaleUpFromZeroCreatesDeterministicIntentsOnTheCheapestOffer) {
  const auto pool = make_pool(3);
  const Output out = decide(input(pool, at(10, 12)));
  ASSERT_EQ(out.create.size(), 3u);
  EXPECT_THAT(names(out.create),
              ElementsAre(instance_name(pool, 1), instance_name(pool, 2), instance_name(pool, 3)));
  EXPECT_THAT(instance_name(pool, 1), HasSubstr("web-"));
  EXPECT_EQ(out.next_ordinal, 4);
  const auto& c = out.create[0];
  EXPECT_EQ(c.spec.offer.offer_id, "a");
  EXPECT_EQ(c.metadata.labels.at(kLabelPoolUid), "uid-1234");
  ASSERT_EQ(c.metadata.owner_references.size(), 1u);
  EXPECT_EQ(c.metadata.owner_references[0].uid, "uid-1234");
  EXPECT_TRUE(c.metadata.owner_references[0].controller);
  EXPECT_THAT(c.metadata.finalizers, ElementsAre(kFinalizer));
  EXPECT_EQ(out.status.replicas.desired, 3);
  EXPECT_EQ(out.status.replicas.provisioning, 3);
  EXPECT_EQ(condition(out, "Ready").status, api::ConditionStatus::False);
  EXPECT_EQ(condition(out, "Progressing").reason, "ScalingUp");
  EXPECT_EQ(out.status.observed_generation, 3);
}

TEST(PoolDecision, AnEndpointMachineRunningButNotYetHealthyCountsAsProvisioning) {
  auto pool = make_pool(2);
  pool.spec.usage.mode = api::UsageMode::Endpoint;
  pool.spec.usage.endpoint.image = "vllm";
  auto in = input(pool, at(10, 12));
  in.instances = {inst(pool, 1, api::InstancePhase::Running, at(10, 11)),
                  inst(pool, 2, api::InstancePhase::Ready, at(10, 11))};
  for (auto& i : in.instances)
    i.spec.usage = pool.spec.usage;
  const Output out = decide(in);
  EXPECT_TRUE(out.create.empty());  // both are machines: nothing more is bought
  EXPECT_EQ(out.status.replicas.ready, 1);
  EXPECT_EQ(out.status.replicas.provisioning, 1);
  EXPECT_EQ(condition(out, "Ready").status, api::ConditionStatus::False);

  // Node mode without a bootstrap: Running is as ready as it gets.
  for (auto& i : in.instances)
    i.spec.usage = api::UsageSpec{};
  EXPECT_EQ(decide(in).status.replicas.ready, 2);
}

TEST(PoolDecision, PendingIntentsCountSoNothingIsBoughtTwice) {
  auto pool = make_pool(3);
  auto in = input(pool, at(10, 12));
  in.instances = {inst(pool, 1, api::InstancePhase::Pending),
                  inst(pool, 7, api::InstancePhase::Provisioning)};
  in.next_ordinal = 2;  // stale: an instance with ordinal 7 exists
  const Output out = decide(in);
  ASSERT_EQ(out.create.size(), 1u);
  EXPECT_EQ(out.create[0].metadata.name, instance_name(pool, 8));
  EXPECT_EQ(out.next_ordinal, 9);
  // With all intents present nothing more is created.
  in.instances.push_back(out.create[0]);
  EXPECT_THAT(decide(in).create, IsEmpty());
}

TEST(PoolDecision, NamesNeverReuseThePersistedOrdinal) {
  auto pool = make_pool(1);
  auto in = input(pool, at(10, 12));
  in.next_ordinal = 42;  // instances 1..41 existed and are gone
  const Output out = decide(in);
  ASSERT_EQ(out.create.size(), 1u);
  EXPECT_EQ(ordinal_of(pool, out.create[0].metadata.name), 42);
  EXPECT_EQ(ordinal_of(pool, "other-1"), std::nullopt);
  auto other = pool;
  other.metadata.uid = "uid-9999";
  EXPECT_NE(instance_name(other, 42), out.create[0].metadata.name);
}

TEST(PoolDecision, UnparksBeforeBuying) {
  auto pool = make_pool(2);
  auto in = input(pool, at(10, 12, 30));
  in.instances = {inst(pool, 1, api::InstancePhase::Ready, at(10, 10)),
                  inst(pool, 2, api::InstancePhase::Parked, at(10, 11, 10))};
  const Output out = decide(in);
  EXPECT_THAT(out.unpark, ElementsAre(instance_name(pool, 2)));
  EXPECT_THAT(out.create, IsEmpty());
  EXPECT_THAT(out.end, IsEmpty());
  EXPECT_EQ(out.status.replicas.ready, 2);
  EXPECT_EQ(condition(out, "Ready").status, api::ConditionStatus::True);
}

TEST(PoolDecision, ScaleDownEndsUnpaidFirstThenParksSoonestBoundary) {
  auto pool = make_pool(1);
  auto in = input(pool, at(10, 12, 30));
  in.instances = {inst(pool, 1, api::InstancePhase::Ready, at(10, 10, 40)),  // boundary 12:40
                  inst(pool, 2, api::InstancePhase::Ready, at(10, 10, 50)),  // boundary 12:50
                  inst(pool, 3, api::InstancePhase::Pending)};
  pool.spec.lifecycle.park_margin_seconds = 120;
  const Output out = decide(in);
  EXPECT_THAT(out.end, ElementsAre(instance_name(pool, 3)));
  EXPECT_THAT(out.park, ElementsAre(instance_name(pool, 1)));
  EXPECT_THAT(out.create, IsEmpty());
  EXPECT_EQ(out.status.replicas.parked, 1);
  // Parked instance 1 ends at 12:38; the requeue is no later than that.
  ASSERT_TRUE(out.next_park_end);
  EXPECT_EQ(*out.next_park_end, at(10, 12, 38));
  EXPECT_LE(*out.requeue_at, at(10, 12, 38));
}

TEST(PoolDecision, ParkedInstancesEndJustBeforeTheirBoundaryAndAreScheduledAhead) {
  auto pool = make_pool(0);
  auto in = input(pool, at(10, 12, 37, 59));
  in.instances = {inst(pool, 1, api::InstancePhase::Parked, at(10, 10, 40)),  // ends 12:38
                  inst(pool, 2, api::InstancePhase::Parked, at(10, 10, 39)),  // ends 12:37 -> now
                  inst(pool, 3, api::InstancePhase::Parked, at(10, 10, 45)),  // ends 12:43
                  inst(pool, 4, api::InstancePhase::Parked, std::nullopt)};   // never launched
  const Output out = decide(in);
  EXPECT_THAT(out.end, UnorderedElementsAre(instance_name(pool, 2), instance_name(pool, 4)));
  ASSERT_TRUE(out.requeue_at);
  EXPECT_EQ(*out.requeue_at, at(10, 12, 38));  // sooner than the resync
  in.now = at(10, 12, 38);
  in.instances = {in.instances[0], in.instances[2]};
  const Output later = decide(in);
  EXPECT_THAT(later.end, ElementsAre(instance_name(pool, 1)));
  EXPECT_EQ(*later.next_park_end, at(10, 12, 43));
  EXPECT_EQ(condition(later, "Progressing").reason, "Draining");
}

TEST(PoolDecision, HourlyCapStopsScaleUpWithBudgetExceeded) {
  auto pool = make_pool(4);
  pool.spec.budget.max_usd_per_hour = usd("5");
  const Output out = decide(input(pool, at(10, 12)));
  EXPECT_EQ(out.create.size(), 2u);  // 2 × $2 fits, a third does not
  const auto& b = condition(out, "BudgetExceeded");
  EXPECT_EQ(b.status, api::ConditionStatus::True);
  EXPECT_EQ(b.reason, "BudgetCapReached");
  EXPECT_THAT(b.message, HasSubstr("maxUsdPerHour"));
  EXPECT_EQ(condition(out, "Degraded").status, api::ConditionStatus::False);
  EXPECT_TRUE(std::any_of(out.events.begin(), out.events.end(),
                          [](const Event& e) { return e.reason == "BudgetExceeded"; }));
}

TEST(PoolDecision, MonthlyCapCountsSpendSoFarAndTheProjection) {
  auto pool = make_pool(2);
  // 12:00 on Nov 10 -> 20.5 days = 492 h to the month end; $2/h -> $984 each.
  pool.spec.budget.max_usd_per_month = usd("1500");
  const Output out = decide(input(pool, at(10, 12)));
  EXPECT_EQ(out.create.size(), 1u);
  EXPECT_EQ(condition(out, "BudgetExceeded").status, api::ConditionStatus::True);
}

TEST(PoolDecision, LoweringTheCapBelowBurnParksTheMostExpensive) {
  auto pool = make_pool(3);
  pool.spec.budget.max_usd_per_hour = usd("5");
  auto in = input(pool, at(10, 12, 30));
  in.instances = {inst(pool, 1, api::InstancePhase::Ready, at(10, 10), "2"),
                  inst(pool, 2, api::InstancePhase::Ready, at(10, 10), "3"),
                  inst(pool, 3, api::InstancePhase::Ready, at(10, 10), "1")};
  const Output out = decide(in);
  EXPECT_THAT(out.park, ElementsAre(instance_name(pool, 2)));
  EXPECT_THAT(out.create, IsEmpty());
  EXPECT_EQ(condition(out, "BudgetExceeded").reason, "HourlyBudgetExceeded");
  // Next round: the $3 parked one is not un-parked while the cap holds (it
  // would make $6/h), but a $2 machine fits the $5 cap.
  in.instances[1].status.phase = api::InstancePhase::Parked;
  const Output next = decide(in);
  EXPECT_THAT(next.unpark, IsEmpty());
  ASSERT_EQ(next.create.size(), 1u);
  EXPECT_EQ(next.create[0].spec.offer.offer_id, "a");
  // With a $4 cap nothing more fits: BudgetExceeded says so.
  in.pool.spec.budget.max_usd_per_hour = usd("4");
  const Output capped = decide(in);
  EXPECT_THAT(capped.unpark, IsEmpty());
  EXPECT_THAT(capped.create, IsEmpty());
  EXPECT_EQ(condition(capped, "BudgetExceeded").reason, "BudgetCapReached");
}

TEST(PoolDecision, UnavailableOfferMovesToTheNext) {
  auto pool = make_pool(1);
  auto in = input(pool, at(10, 12));
  in.unavailable = {planner::offer_key(offer("a", "2"))};
  const Output out = decide(in);
  ASSERT_EQ(out.create.size(), 1u);
  EXPECT_EQ(out.create[0].spec.offer.offer_id, "b");
}

// Failover (issue 12): the refused instance's place goes to the offer the
// decision would buy with the refused offer excluded.
Input refused_input(const api::GpuPool& pool, const std::string& refused_offer) {
  auto in = input(pool, at(10, 12));
  in.instances = {inst(pool, 1, api::InstancePhase::Running, at(10, 11)),
                  inst(pool, 2, api::InstancePhase::Pending)};
  in.unavailable = {planner::offer_key(offer(refused_offer, "2"))};
  return in;
}

TEST(PoolDecision, FailoverMovesTheRefusedPlaceToTheNextOffer) {
  const auto pool = make_pool(2);
  auto moved = failover_offer(refused_input(pool, "a"), instance_name(pool, 2));
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->offer_id, "b");
  EXPECT_EQ(moved->price_per_hour, usd("3"));
  // The same choice as a pool pass without the refused instance.
  auto in = refused_input(pool, "a");
  in.instances.pop_back();
  const Output out = decide(in);
  ASSERT_EQ(out.create.size(), 1u);
  EXPECT_EQ(out.create[0].spec.offer, *moved);
}

TEST(PoolDecision, FailoverFindsNothingWithoutAnotherOfferOrBudgetOrNeed) {
  const auto pool = make_pool(2);
  const std::string refused = instance_name(pool, 2);
  auto none = refused_input(pool, "a");
  none.offers = {offer("a", "2")};
  EXPECT_FALSE(failover_offer(none, refused).has_value());
  auto capped_pool = make_pool(2);
  capped_pool.spec.budget.max_usd_per_hour = usd("4.5");  // $2 running + $3 does not fit
  EXPECT_FALSE(failover_offer(refused_input(capped_pool, "a"), refused).has_value());
  auto shrunk = refused_input(pool, "a");
  shrunk.desired = 1;  // the pool no longer needs the place
  EXPECT_FALSE(failover_offer(shrunk, refused).has_value());
  auto parked = refused_input(pool, "a");
  parked.instances.push_back(inst(pool, 3, api::InstancePhase::Parked, at(10, 11)));
  EXPECT_FALSE(failover_offer(parked, refused).has_value());  // re-used by the pool pass
  auto replacement = refused_input(pool, "a");
  replacement.instances.back().metadata.annotations[kReplacesAnnotation] = instance_name(pool, 1);
  EXPECT_FALSE(failover_offer(replacement, refused).has_value());
  EXPECT_FALSE(failover_offer(refused_input(pool, "a"), "someone-else").has_value());
}

TEST(PoolDecision, FailoverFreesTheRefusedPlaceInItsProvidersLimit) {
  auto pool = make_pool(2);
  auto in = refused_input(pool, "a");
  // Offer "c" at the same provider; the limit of 2 machines holds both instances.
  in.offers = {offer("a", "2"), offer("c", "2.5")};
  planner::ProviderState limits;
  limits.max_instances = 2;
  limits.instances = 2;
  limits.gpus = 2;
  in.providers["fake"] = limits;
  auto moved = failover_offer(in, instance_name(pool, 2));
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->offer_id, "c");
  in.providers["fake"].instances = 3;  // a machine of another pool took the place meanwhile
  EXPECT_FALSE(failover_offer(in, instance_name(pool, 2)).has_value());
}

TEST(PoolDecision, NoOffersIsDegradedWithAnActionableMessage) {
  auto pool = make_pool(1);
  auto in = input(pool, at(10, 12));
  in.offers.clear();
  const Output out = decide(in);
  EXPECT_THAT(out.create, IsEmpty());
  const auto& d = condition(out, "Degraded");
  EXPECT_EQ(d.status, api::ConditionStatus::True);
  EXPECT_EQ(d.reason, "NoOffers");
  EXPECT_EQ(condition(out, "BudgetExceeded").status, api::ConditionStatus::False);
}

TEST(PoolDecision, FailedInstancesAreEndedAndReplaced) {
  auto pool = make_pool(1);
  auto in = input(pool, at(10, 12));
  in.instances = {inst(pool, 1, api::InstancePhase::Failed, at(10, 10))};
  in.instances[0].status.message = "machine vanished";
  const Output out = decide(in);
  EXPECT_THAT(out.end, ElementsAre(instance_name(pool, 1)));
  EXPECT_EQ(out.create.size(), 1u);
  EXPECT_EQ(condition(out, "Degraded").reason, "InstancesFailed");
}

TEST(PoolDecision, EndingInstancesDoNotCountAsMachines) {
  auto pool = make_pool(1);
  auto in = input(pool, at(10, 12));
  in.instances = {inst(pool, 1, api::InstancePhase::Ready, at(10, 10))};
  in.instances[0].metadata.deletion_timestamp = at(10, 11);
  EXPECT_EQ(decide(in).create.size(), 1u);
}

TEST(PoolDecision, UnchangedPoolGivesAnIdenticalStatus) {
  auto pool = make_pool(1);
  auto in = input(pool, at(10, 12, 10));
  in.instances = {inst(pool, 1, api::InstancePhase::Ready, at(10, 12))};
  const Output first = decide(in);
  EXPECT_EQ(condition(first, "Ready").status, api::ConditionStatus::True);
  in.pool.status = first.status;
  in.now = at(10, 12, 20);  // same billing hour: nothing changed
  const Output second = decide(in);
  EXPECT_EQ(second.status, first.status);
  in.now = at(10, 13, 5);  // a new hour was billed: spend changed
  const Output third = decide(in);
  EXPECT_NE(third.status.spend, first.status.spend);
  EXPECT_EQ(third.status.spend.last_updated, at(10, 13, 5));
}

TEST(PoolDecision, ProviderProblemsAreDegraded) {
  auto pool = make_pool(1);
  auto in = input(pool, at(10, 12));
  in.provider_problems = {"GpuProvider fake: not found"};
  EXPECT_EQ(condition(decide(in), "Degraded").reason, "ProviderUnavailable");
}

// Turns the intents of `out` into machines launched at `launch` (what the
// instance reconciler does), keeping the instances `in` had.
void launch_created(Input& in, const Output& out, Time launch) {
  for (api::GpuInstance i : out.create) {
    i.status.phase = api::InstancePhase::Running;
    i.status.launch_time = launch;
    i.status.billing = i.spec.offer.billing;
    i.status.price_per_hour = i.spec.offer.price_per_hour;
    in.instances.push_back(std::move(i));
  }
  in.next_ordinal = out.next_ordinal;
  for (auto& i : in.instances) {
    if (std::find(out.park.begin(), out.park.end(), i.metadata.name) != out.park.end())
      i.status.phase = api::InstancePhase::Parked;
  }
  in.pool.status = out.status;
}

// Issue 8, defect 1: with a monthly cap that two machines fit exactly, the
// pool bought the second machine and parked one on the next reconcile
// (month-to-date already holds the minimum charge; it was counted again).
TEST(PoolDecision, MonthlyCapThatTwoMachinesFitExactlyKeepsBoth) {
  auto pool = make_pool(2);
  BillingRule seed;
  seed.minimum = 3h;
  seed.increment = 1h;
  Offer fluence = offer("fluence", "1.27");
  fluence.billing = seed;
  // 4 h to the month end: each machine costs 3 h minimum + 1 h = $5.08.
  pool.spec.budget.max_usd_per_month = usd("10.16");
  Input in = input(pool, at(30, 20));
  in.offers = {fluence};
  Output out = decide(in);
  ASSERT_EQ(out.create.size(), 2u);
  launch_created(in, out, at(30, 20));
  for (int minute = 1; minute < 240; minute += 7) {
    in.now = at(30, 20, minute);
    out = decide(in);
    EXPECT_THAT(out.park, IsEmpty()) << "minute " << minute;
    EXPECT_THAT(out.create, IsEmpty()) << "minute " << minute;
    EXPECT_EQ(condition(out, "BudgetExceeded").status, api::ConditionStatus::False);
    EXPECT_LE(out.status.spend.projected_month, usd("10.16"));
    launch_created(in, out, in.now);
  }
  // A third machine would not fit.
  in.pool.spec.replicas.count = 3;
  in.desired = 3;
  in.now = at(30, 21);
  out = decide(in);
  EXPECT_THAT(out.create, IsEmpty());
  EXPECT_EQ(condition(out, "BudgetExceeded").reason, "BudgetCapReached");
}

// Issue 8, defect 3: egress counted only for new machines, so a $6/h cap
// with machines at $2.04/h including egress ended at 3 machines ($6.12/h).
TEST(PoolDecision, EgressCountsInTheBurnOfRunningMachines) {
  auto pool = make_pool(3);
  pool.spec.budget.max_usd_per_hour = usd("6");
  pool.spec.egress.gb_per_gpu_hour = 2.4;
  Offer o = offer("a", "1.80");
  o.billing.egress_per_gb = usd("0.1");  // 0.24 $/h of egress
  Input in = input(pool, at(10, 12));
  in.offers = {o};
  Output out = decide(in);
  ASSERT_EQ(out.create.size(), 2u);
  EXPECT_EQ(out.create[0].spec.offer.egress_usd_per_hour, usd("0.24"));
  launch_created(in, out, at(10, 12));
  in.now = at(10, 12, 1);
  out = decide(in);
  EXPECT_THAT(out.create, IsEmpty());
  EXPECT_THAT(out.park, IsEmpty());
  EXPECT_EQ(out.status.spend.hourly_burn, usd("4.08"));
  EXPECT_EQ(condition(out, "BudgetExceeded").reason, "BudgetCapReached");
}

// Issue 8, defect 8: a huge count created every machine in one pass.
TEST(PoolDecision, OneDecisionCreatesAtMostMaxCreates) {
  auto pool = make_pool(1000);
  Input in = input(pool, at(10, 12));
  Output out = decide(in);
  EXPECT_EQ(out.create.size(), static_cast<size_t>(kMaxCreatesPerDecision));
  ASSERT_TRUE(out.requeue_at);
  EXPECT_EQ(*out.requeue_at, at(10, 12, 0, 1));
  launch_created(in, out, at(10, 12));
  in.now = at(10, 12, 0, 1);
  out = decide(in);
  EXPECT_EQ(out.create.size(), static_cast<size_t>(kMaxCreatesPerDecision));
  EXPECT_EQ(out.next_ordinal, 41);
}

// Scale-down parks the machine whose ending avoids the most cost, not the
// one with the soonest boundary: a per-second $0.86 machine and an hourly
// $1.27 machine renewing in 3 minutes -> park the hourly one.
TEST(PoolDecision, ScaleDownParksByAvoidableCost) {
  auto pool = make_pool(1);
  Input in = input(pool, at(10, 12, 57));
  auto cheap = inst(pool, 1, api::InstancePhase::Running, at(10, 9), "0.86");
  BillingRule per_second;
  per_second.increment = 1s;
  cheap.status.billing = per_second;
  cheap.spec.offer.billing = per_second;
  auto dear = inst(pool, 2, api::InstancePhase::Running, at(10, 10), "1.27");  // renews 13:00
  in.instances = {cheap, dear};
  Output out = decide(in);
  EXPECT_THAT(out.park, ElementsAre(dear.metadata.name));
  // Equal prices and rules: the soonest boundary goes first.
  auto a = inst(pool, 3, api::InstancePhase::Running, at(10, 10, 10), "2");  // renews 13:10
  auto b = inst(pool, 4, api::InstancePhase::Running, at(10, 10, 50), "2");  // renews 13:50
  in.instances = {b, a};
  out = decide(in);
  EXPECT_THAT(out.park, ElementsAre(a.metadata.name));
}

TEST(PoolDecision, CorruptLedgerBuysNothingAndSaysWhy) {
  auto pool = make_pool(2);
  Input in = input(pool, at(10, 12));
  in.ledger_problem = "spend ledger: not a JSON object";
  in.instances = {inst(pool, 1, api::InstancePhase::Parked, at(10, 11, 30))};
  Output out = decide(in);
  EXPECT_THAT(out.create, IsEmpty());
  EXPECT_THAT(out.unpark, IsEmpty());
  EXPECT_EQ(condition(out, "Degraded").reason, "SpendLedgerCorrupt");
  EXPECT_THAT(condition(out, "Degraded").message, HasSubstr("not a JSON object"));
  ASSERT_FALSE(out.events.empty());
  EXPECT_TRUE(std::any_of(out.events.begin(), out.events.end(),
                          [](const Event& e) { return e.reason == "SpendLedgerCorrupt"; }));
}

TEST(PoolDecision, SpendSummaryIsRewrittenOncePerPeriodOrOnChange) {
  auto pool = make_pool(1);
  Input in = input(pool, at(10, 12));
  in.instances = {inst(pool, 1, api::InstancePhase::Running, at(10, 11, 30))};
  Output out = decide(in);
  const Time first = out.status.spend.last_updated.value();
  in.pool.status = out.status;
  // The clock moves, spend grows, nothing else changes: status stays as is.
  for (int m = 1; m < 5; ++m) {
    in.now = at(10, 12, m);
    out = decide(in);
    EXPECT_EQ(out.status, in.pool.status) << m;
  }
  // A second hour starts at 12:30; 12:31 is past the period: written.
  in.now = at(10, 12, 31);
  out = decide(in);
  EXPECT_GT(out.status.spend.last_updated.value(), first);
  EXPECT_EQ(out.status.spend.accrued, usd("4"));
  // Within the next period the summary stays, though it would differ
  // (per-second spend grows every second).
  in.pool.status = out.status;
  in.instances[0].status.billing->increment = 1s;
  in.now = at(10, 12, 33);
  EXPECT_EQ(decide(in).status, in.pool.status);
  in.now = at(10, 12, 36);
  EXPECT_NE(decide(in).status.spend.accrued, in.pool.status.spend.accrued);
  // A change (scale down) writes at once.
  in.desired = 0;
  in.now = at(10, 12, 34);
  out = decide(in);
  EXPECT_EQ(out.status.spend.last_updated, at(10, 12, 34));
}

// Rule 7: a settled pool is not re-decided every kResync; it comes back for
// its spend summary, its machines' consolidation windows, or kSettledResync.
TEST(PoolDecision, ASettledPoolComesBackOnlyForItsClockDrivenWork) {
  auto pool = make_pool(2);
  pool.spec.lifecycle.consolidation_lead_seconds = 600;  // park margin 120
  Input in = input(pool, at(10, 12, 0, 10));
  in.instances = {inst(pool, 1, api::InstancePhase::Ready, at(10, 12)),
                  inst(pool, 2, api::InstancePhase::Ready, at(10, 12))};
  Output out = decide(in);
  in.pool.status = out.status;
  ASSERT_EQ(out.status.spend.last_updated, at(10, 12, 0, 10));
  // The spend summary is next due at 12:05:10 (spend_period 300 s).
  in.now = at(10, 12, 1);
  EXPECT_EQ(decide(in).requeue_at, at(10, 12, 5, 10));
  // With a long spend period: the safety resync, kSettledResync away.
  in.spend_period = 24h;
  EXPECT_EQ(decide(in).requeue_at, at(10, 12, 1) + kSettledResync);
  // The 13:00 increment's consolidation window opens at 12:48 (13:00 - 120 s
  // margin - 600 s lead); in it the pool looks every kResync; past it, right
  // after the increment.
  in.now = at(10, 12, 46);
  EXPECT_EQ(decide(in).requeue_at, at(10, 12, 48));
  in.now = at(10, 12, 50);
  EXPECT_EQ(decide(in).requeue_at, at(10, 12, 50) + kResync);
  in.now = at(10, 12, 59);
  EXPECT_EQ(decide(in).requeue_at, at(10, 13, 0, 1));
  // Without consolidation and with the summary due but unchanged (same
  // billed hour), the next billed increment: 13:00.
  in.pool.spec.lifecycle.consolidation_lead_seconds = 0;
  in.spend_period = 300s;
  in.now = at(10, 12, 57);
  out = decide(in);
  EXPECT_EQ(out.status.spend.last_updated, at(10, 12, 0, 10));  // nothing to write
  EXPECT_EQ(out.requeue_at, at(10, 13));
  // Not settled: a machine still booting, or one more wanted.
  Input booting = in;
  booting.instances[1].status.phase = api::InstancePhase::Provisioning;
  EXPECT_EQ(decide(booting).requeue_at, in.now + kResync);
  Input short_one = in;
  short_one.desired = 3;
  EXPECT_EQ(decide(short_one).requeue_at, in.now + kResync);
}

Offer three_hour_minimum(std::string id, std::string price) {
  Offer o = offer(std::move(id), price);
  o.billing.minimum = 3h;
  return o;
}
Offer per_second(std::string id, std::string price) {
  Offer o = offer(std::move(id), price);
  o.billing.increment = 1s;
  return o;
}

TEST(PoolDecision, ListPricePolicyBuysTheLowestHourlyPriceWhateverTheMinimum) {
  auto pool = make_pool(1);
  pool.spec.planning.expected_lifetime_hours = 0.5;  // a short burst
  Input in = input(pool, at(10, 12));
  in.offers = {three_hour_minimum("min3h", "1.00"), per_second("persec", "1.50")};
  // Default: half an hour on the 3-hour offer costs $3.00, per second $0.75.
  EXPECT_EQ(decide(in).create.at(0).spec.offer.offer_id, "persec");
  in.policy.placement = Policy::Placement::ListPrice;
  EXPECT_EQ(decide(in).create.at(0).spec.offer.offer_id, "min3h");
}

TEST(PoolDecision, TheAutoscalersLifetimeEstimateSteersPlacementWhenTheSpecIsSilent) {
  auto pool = make_pool(1);
  Input in = input(pool, at(10, 12));
  in.offers = {three_hour_minimum("min3h", "1.00"), per_second("persec", "1.50")};
  // Silent spec: 24 h default; the cheaper hourly offer wins.
  EXPECT_EQ(decide(in).create.at(0).spec.offer.offer_id, "min3h");
  // Demand episodes of about 20 minutes: per-second billing wins.
  in.expected_lifetime = 20min;
  EXPECT_EQ(decide(in).create.at(0).spec.offer.offer_id, "persec");
  // The spec, when set, still rules.
  in.pool.spec.planning.expected_lifetime_hours = 24;
  EXPECT_EQ(decide(in).create.at(0).spec.offer.offer_id, "min3h");
}

TEST(PoolDecision, EndUnneededAfterEndsParkedMachinesOnItsTimerNotTheBillingBoundary) {
  auto pool = make_pool(0);
  auto parked = inst(pool, 1, api::InstancePhase::Parked, at(10, 12));
  parked.status.parked_at = at(10, 12, 10);
  Input in = input(pool, at(10, 12, 15));
  in.instances = {parked};
  // Default: kept until just before 13:00 (its paid hour).
  Output out = decide(in);
  EXPECT_THAT(out.end, IsEmpty());
  EXPECT_EQ(out.next_park_end, at(10, 12, 58));
  // Baseline: ended 10 minutes after it was parked, paid time or not.
  in.policy.end_unneeded_after = 10min;
  out = decide(in);
  EXPECT_THAT(out.end, IsEmpty());
  EXPECT_EQ(out.next_park_end, at(10, 12, 20));
  in.now = at(10, 12, 20);
  EXPECT_THAT(decide(in).end, ElementsAre(parked.metadata.name));
}

TEST(PoolDecision, ScalingActiveReportsFailingSignalsOnceAndRescalesAreEvents) {
  auto pool = make_pool(0);
  pool.spec.autoscaling.enabled = true;
  Input in = input(pool, at(10, 12));
  in.desired = 2;
  api::AutoscalingStatus st;
  st.desired = 2;
  st.recommended = 2;
  st.reason = "metrics[0] External 20 / 10 per replica -> 2";
  st.metrics = {{api::MetricType::External, 20.0, ""}};
  in.scaling = st;
  Output out = decide(in);
  ASSERT_TRUE(out.status.autoscaling.has_value());
  EXPECT_EQ(out.status.autoscaling->desired, 2);
  EXPECT_EQ(condition(out, "ScalingActive").reason, "ValidMetrics");

  // Every signal fails: False, one Warning, and the count the autoscaler held.
  in.pool.status = out.status;
  in.scaling->metrics = {{api::MetricType::External, std::nullopt, "connection refused"}};
  in.scaling_active = false;
  in.scaling_problem = "metrics[0] External: connection refused";
  out = decide(in);
  EXPECT_EQ(condition(out, "ScalingActive").status, api::ConditionStatus::False);
  EXPECT_EQ(condition(out, "ScalingActive").reason, "FailedGetMetrics");
  auto warnings = std::count_if(out.events.begin(), out.events.end(),
                                [](const Event& e) { return e.reason == "FailedGetMetrics"; });
  EXPECT_EQ(warnings, 1);
  in.pool.status = out.status;
  out = decide(in);
  warnings = std::count_if(out.events.begin(), out.events.end(),
                           [](const Event& e) { return e.reason == "FailedGetMetrics"; });
  EXPECT_EQ(warnings, 0);

  // A new count is a SuccessfulRescale event with the reason.
  in.pool.status = out.status;
  in.scaling_active = true;
  in.scaling_problem.clear();
  in.scaling->desired = 4;
  in.desired = 4;
  out = decide(in);
  EXPECT_TRUE(std::any_of(out.events.begin(), out.events.end(), [](const Event& e) {
    return e.reason == "SuccessfulRescale" && e.message.find("New size: 4") != std::string::npos;
  }));
  EXPECT_EQ(out.status.autoscaling->last_scale_time, at(10, 12));
}

TEST(PoolDecision, AParkedMachineIsKeptWarmForMinParkSecondsThenEndedBeforeItsNextIncrement) {
  auto pool = make_pool(0);
  pool.spec.lifecycle.min_park_seconds = 600;
  // Per-second billing: without the hold it would end at once.
  auto per_sec = inst(pool, 1, api::InstancePhase::Parked, at(10, 12));
  per_sec.status.billing->increment = 1s;
  per_sec.status.parked_at = at(10, 12, 50);
  // Hourly, parked early in its hour: kept to the hour's end anyway.
  auto hourly_early = inst(pool, 2, api::InstancePhase::Parked, at(10, 12));
  hourly_early.status.parked_at = at(10, 12, 10);
  // Hourly, parked 5 minutes before its hour ends: the hold would buy a new
  // hour, so it keeps only what is paid.
  auto hourly_late = inst(pool, 3, api::InstancePhase::Parked, at(10, 12));
  hourly_late.status.parked_at = at(10, 12, 55);
  Input in = input(pool, at(10, 12, 56));
  in.instances = {per_sec, hourly_early, hourly_late};
  Output out = decide(in);
  EXPECT_THAT(out.end, IsEmpty());
  EXPECT_EQ(out.next_park_end, at(10, 12, 58));  // 13:00 − 120 s margin
  in.now = at(10, 12, 58);
  EXPECT_THAT(decide(in).end,
              UnorderedElementsAre(hourly_early.metadata.name, hourly_late.metadata.name));
  in.now = at(10, 13, 0);  // per second: parked + 600 s
  EXPECT_THAT(decide(in).end, ElementsAre(per_sec.metadata.name));
  // Without the hold the per-second machine would have ended at once.
  in.pool.spec.lifecycle.min_park_seconds = 0;
  in.now = at(10, 12, 56);
  EXPECT_THAT(decide(in).end, ElementsAre(per_sec.metadata.name));
}

TEST(PoolDecision, NothingIsBoughtWhileANamedProviderIsStillLoading) {
  const auto pool = make_pool(2);
  Input in = input(pool, at(10, 12));
  in.providers_loading = {"fluence"};
  Output out = decide(in);
  EXPECT_THAT(out.create, IsEmpty());
  EXPECT_EQ(condition(out, "Progressing").reason, "WaitingForProviders");
  EXPECT_THAT(condition(out, "Progressing").message, HasSubstr("GpuProvider fluence"));
  EXPECT_EQ(out.requeue_at, at(10, 12, 0, 2));
  in.providers_loading.clear();
  EXPECT_EQ(decide(in).create.size(), 2u);
}

api::GpuPool node_pool(int64_t drain_timeout_seconds) {
  auto pool = make_pool(0);
  pool.spec.usage.mode = api::UsageMode::Node;
  pool.spec.usage.node.bootstrap_script = "#!/bin/sh\nk3s agent";
  pool.spec.usage.node.drain_timeout_seconds = drain_timeout_seconds;
  return pool;
}

TEST(PoolDecision, AParkedMachineWithANodeStartsEndingItsDrainTimeoutBeforeTheBoundary) {
  // Launched 10:40, hourly: the boundary is 12:40; margin 120 s, drain
  // 300 s: ending (and so the drain) starts at 12:33, the machine is gone by
  // 12:38 at the latest. Until then its Node is only cordoned.
  const auto pool = node_pool(300);
  auto in = input(pool, at(10, 12, 32, 59));
  auto parked = inst(pool, 1, api::InstancePhase::Parked, at(10, 10, 40));
  parked.spec.usage = pool.spec.usage;
  in.instances = {parked};
  const Output before = decide(in);
  EXPECT_THAT(before.end, IsEmpty());
  ASSERT_TRUE(before.next_park_end);
  EXPECT_EQ(*before.next_park_end, at(10, 12, 33));
  in.now = at(10, 12, 33);
  EXPECT_THAT(decide(in).end, ElementsAre(instance_name(pool, 1)));

  // Without a bootstrap there is no Node and nothing to drain: 12:38.
  auto plain = make_pool(0);
  plain.spec.usage.node.drain_timeout_seconds = 300;
  EXPECT_EQ(drain_lead(plain.spec.usage), Duration{0});
  EXPECT_EQ(drain_lead(pool.spec.usage), Duration{300});
  auto in2 = input(plain, at(10, 12, 33));
  in2.instances = {inst(plain, 1, api::InstancePhase::Parked, at(10, 10, 40))};
  const Output out2 = decide(in2);
  EXPECT_THAT(out2.end, IsEmpty());
  EXPECT_EQ(*out2.next_park_end, at(10, 12, 38));
}

TEST(PoolDecision, ADrainGivesUpAtItsTimeoutOrBeforeItWouldBuyAnotherIncrement) {
  const auto pool = node_pool(300);
  auto hourly_inst = inst(pool, 1, api::InstancePhase::Terminating, at(10, 10, 40));
  hourly_inst.spec.usage = pool.spec.usage;
  // Started in time (12:33): the timeout alone.
  EXPECT_EQ(drain_deadline(hourly_inst, at(10, 12, 33)), at(10, 12, 38));
  // Started late (12:38, e.g. the pool was deleted): cut 30 s before the
  // 12:40 boundary instead of paying for 13:40.
  EXPECT_EQ(drain_deadline(hourly_inst, at(10, 12, 38)), at(10, 12, 39, 30));
  // Started inside the slack: no waiting at all.
  EXPECT_EQ(drain_deadline(hourly_inst, at(10, 12, 39, 50)), at(10, 12, 39, 50));
  // Per-second billing: every second is a boundary; the timeout rules.
  auto per_second = hourly_inst;
  per_second.status.billing->increment = Duration{1};
  EXPECT_EQ(drain_deadline(per_second, at(10, 12, 39, 50)), at(10, 12, 44, 50));
  // Never launched: the timeout.
  auto unlaunched = inst(pool, 2, api::InstancePhase::Terminating);
  unlaunched.spec.usage = pool.spec.usage;
  EXPECT_EQ(drain_deadline(unlaunched, at(10, 12, 0)), at(10, 12, 5));
}

// Rule 4c: consolidation onto clearly cheaper offers.

// One machine on offer "b" ($3/h hourly, launched 10:00) in a pool whose
// cheapest offer is "a" ($2/h).
Input consolidation_input(Time now) {
  const auto pool = make_pool(1);
  Input in = input(pool, now);
  auto old = inst(pool, 1, api::InstancePhase::Running, at(10, 10), "3");
  old.spec.offer = api::offer_spec_from(offer("b", "3"));
  in.instances = {old};
  in.next_ordinal = 2;
  return in;
}

TEST(PoolDecision, ConsolidationBuysAClearlyCheaperReplacementBeforeTheNextIncrement) {
  // Boundary 11:00, margin 2 min, lead 10 min: the window is 10:48..10:58.
  const Output out = decide(consolidation_input(at(10, 10, 50)));
  ASSERT_EQ(out.create.size(), 1u);
  const auto& r = out.create[0];
  EXPECT_EQ(r.spec.offer.offer_id, "a");
  EXPECT_EQ(r.metadata.annotations.at(kReplacesAnnotation), instance_name(make_pool(1), 1));
  EXPECT_TRUE(out.park.empty());
  EXPECT_TRUE(out.end.empty());
  EXPECT_EQ(out.status.replicas.ready, 1);
  EXPECT_TRUE(std::any_of(out.events.begin(), out.events.end(), [](const Event& e) {
    return e.reason == "ConsolidatingInstance" && e.message.find("$48.00") != std::string::npos &&
           e.message.find("$72.00") != std::string::npos;
  }));
}

TEST(PoolDecision, ConsolidationWaitsForTheWindowBeforeTheBoundary) {
  EXPECT_TRUE(decide(consolidation_input(at(10, 10, 30))).create.empty());      // too early
  EXPECT_TRUE(decide(consolidation_input(at(10, 10, 58, 30))).create.empty());  // inside the margin
  EXPECT_EQ(decide(consolidation_input(at(10, 11, 50))).create.size(),
            1u);  // the next hour's window
}

TEST(PoolDecision, ConsolidationNeedsAClearSaving) {
  Input in = consolidation_input(at(10, 10, 50));
  in.offers = {offer("a", "2.80"), offer("b", "3")};  // saves under 10 %
  EXPECT_TRUE(decide(in).create.empty());
  in.offers = {offer("a", "2.60"), offer("b", "3")};  // saves 13 %
  EXPECT_EQ(decide(in).create.size(), 1u);
}

TEST(PoolDecision, ConsolidationSkipsOffersSoldOutLately) {
  Input in = consolidation_input(at(10, 10, 50));
  in.sold_out_lately = {planner::offer_key(offer("a", "2"))};
  EXPECT_TRUE(decide(in).create.empty());  // "b" itself is no cheaper
  in.unavailable = {};
  in.sold_out_lately = {};
  EXPECT_EQ(decide(in).create.size(), 1u);
}

TEST(PoolDecision, ConsolidationIsOffForTheBaselineAndWithALeadOfZero) {
  Input in = consolidation_input(at(10, 10, 50));
  in.policy.consolidate = false;
  EXPECT_TRUE(decide(in).create.empty());
  in = consolidation_input(at(10, 10, 50));
  in.pool.spec.lifecycle.consolidation_lead_seconds = 0;
  EXPECT_TRUE(decide(in).create.empty());
}

TEST(PoolDecision, ConsolidationOnlyInASteadyPool) {
  Input in = consolidation_input(at(10, 10, 50));
  in.desired = 2;  // scaling up: rule 4b buys, nothing is replaced
  const Output up = decide(in);
  ASSERT_EQ(up.create.size(), 1u);
  EXPECT_EQ(up.create[0].metadata.annotations.count(kReplacesAnnotation), 0u);
  in = consolidation_input(at(10, 10, 50));
  in.instances[0].status.phase = api::InstancePhase::Provisioning;  // not serving yet
  EXPECT_TRUE(decide(in).create.empty());
}

TEST(PoolDecision, AReplacementUnderWayIsNotSurplusAndTheOldMachineIsParkedOnceItServes) {
  Input in = consolidation_input(at(10, 10, 52));
  const auto pool = in.pool;
  auto repl = inst(pool, 2, api::InstancePhase::Provisioning);
  repl.metadata.annotations[kReplacesAnnotation] = instance_name(pool, 1);
  in.instances.push_back(repl);
  Output out = decide(in);
  EXPECT_TRUE(out.park.empty());
  EXPECT_TRUE(out.end.empty());
  EXPECT_TRUE(out.create.empty());  // one replacement at a time
  EXPECT_EQ(out.status.replicas.ready, 1);
  EXPECT_EQ(out.status.replicas.provisioning, 1);

  in.instances[1].status.phase = api::InstancePhase::Running;
  in.instances[1].status.launch_time = at(10, 10, 51);
  in.instances[1].status.billing = hourly();
  in.instances[1].status.price_per_hour = usd("2");
  out = decide(in);
  EXPECT_THAT(out.park, ElementsAre(instance_name(pool, 1)));
  EXPECT_TRUE(out.end.empty());  // parked until just before 11:00, not ended
  EXPECT_EQ(out.next_park_end, at(10, 10, 58));
  EXPECT_TRUE(std::any_of(out.events.begin(), out.events.end(),
                          [](const Event& e) { return e.reason == "ReplacedInstance"; }));
}

TEST(PoolDecision, WhenDemandFallsDuringAReplacementTheUnlaunchedReplacementEndsFirst) {
  Input in = consolidation_input(at(10, 10, 52));
  const auto pool = in.pool;
  auto repl = inst(pool, 2, api::InstancePhase::Pending);
  repl.metadata.annotations[kReplacesAnnotation] = instance_name(pool, 1);
  in.instances.push_back(repl);
  in.desired = 0;
  in.pool.spec.replicas.count = 0;
  const Output out = decide(in);
  EXPECT_THAT(out.end, ElementsAre(instance_name(pool, 2)));
  EXPECT_THAT(out.park, ElementsAre(instance_name(pool, 1)));
}

TEST(PoolDecision, APerSecondMachineIsWeighedBeforeEachHourOfItsAgeEnds) {
  Input in = consolidation_input(at(10, 10, 30));
  in.pool.spec.lifecycle.min_park_seconds = 600;
  BillingRule per_second;
  per_second.increment = 1s;
  in.instances[0].status.billing = per_second;
  EXPECT_TRUE(decide(in).create.empty());  // 30 min into its first hour
  in.now = at(10, 11, 49);                 // 11 min before its second hour ends
  EXPECT_EQ(decide(in).create.size(), 1u);
}

// Bridging (planner.h): a per-second machine bought mid-hour is handed to a
// clock-hour offer as the hour starts, and no sooner.

BillingRule clock_hourly() {
  BillingRule r;
  r.increment = 1h;
  r.alignment = BillingAlignment::WallClock;
  return r;
}

// One per-second machine on "aws" ($1.86/h, launched 15:40) in a pool that
// also buys "fluence" ($1.27/h, UTC clock hours), expecting 4 h of need.
Input bridge_input(Time now) {
  auto pool = make_pool(1);
  pool.spec.lifecycle.min_park_seconds = 600;
  pool.spec.planning.expected_lifetime_hours = 4;
  Input in = input(pool, now);
  Offer aws = offer("aws", "1.86");
  aws.billing.increment = 1s;
  Offer fluence = offer("fluence", "1.27");
  fluence.billing = clock_hourly();
  in.offers = {aws, fluence};
  auto old = inst(pool, 1, api::InstancePhase::Running, at(10, 15, 40), "1.86");
  old.spec.offer = api::offer_spec_from(aws);
  old.status.billing = aws.billing;
  in.instances = {old};
  in.next_ordinal = 2;
  return in;
}

TEST(PoolDecision, APerSecondMachineIsHandedToTheClockHourOfferAsTheHourStarts) {
  // 15:57: buying fluence now pays 15:00-16:00 for three minutes; nothing yet.
  Input in = bridge_input(at(10, 15, 57));
  Output out = decide(in);
  EXPECT_TRUE(out.create.empty());
  // Settled, with its spend summary just written: back in the next hour's
  // first minute (before its 5-minute resync), at a second of the pool's own.
  in.pool.status = out.status;
  in.now = at(10, 15, 57, 10);
  out = decide(in);
  EXPECT_TRUE(out.create.empty());
  EXPECT_GE(out.requeue_at.value(), at(10, 16, 0));
  EXPECT_LT(out.requeue_at.value(), at(10, 16, 0) + kHourStartSpread);
  // 16:00:30: the hour has just started: the replacement is bought.
  out = decide(bridge_input(at(10, 16, 0, 30)));
  ASSERT_EQ(out.create.size(), 1u);
  EXPECT_EQ(out.create[0].spec.offer.offer_id, "fluence");
  EXPECT_EQ(out.create[0].metadata.annotations.at(kReplacesAnnotation),
            instance_name(make_pool(1), 1));
}

TEST(PoolDecision, InItsAgeWindowAPerSecondMachineWaitsForTheNextClockHour) {
  // 16:30 is in the window before its age's hour ends (16:40): fluence now
  // costs 16:00-21:00 ($6.35); aws to 17:00 then fluence to 20:30 costs
  // $0.93 + $5.08: the replacement waits for 17:00.
  Input in = bridge_input(at(10, 16, 30));
  EXPECT_TRUE(in_consolidation_window(in.instances[0], in.pool.spec, in.now));
  EXPECT_TRUE(decide(in).create.empty());
  // With 24 minutes of need left fluence is no saving at all.
  in.pool.spec.planning.expected_lifetime_hours = 0.4;
  EXPECT_TRUE(decide(in).create.empty());
}

TEST(PoolDecision, AMachineParkedForItsReplacementIsNotHeldWarm) {
  Input in = bridge_input(at(10, 16, 3));
  const auto pool = in.pool;
  auto repl = inst(pool, 2, api::InstancePhase::Running, at(10, 16, 1), "1.27");
  repl.status.billing = clock_hourly();
  repl.metadata.annotations[kReplacesAnnotation] = instance_name(pool, 1);
  in.instances.push_back(repl);
  Output out = decide(in);
  EXPECT_THAT(out.park, ElementsAre(instance_name(pool, 1)));
  // Per-second billing and a 600 s hold, but demand has not dropped: ended
  // now, not ten minutes on.
  EXPECT_THAT(out.end, ElementsAre(instance_name(pool, 1)));

  // Parked by a scale-down instead: held.
  in = bridge_input(at(10, 16, 3));
  in.desired = 0;
  in.pool.spec.replicas.count = 0;
  out = decide(in);
  EXPECT_THAT(out.park, ElementsAre(instance_name(pool, 1)));
  EXPECT_TRUE(out.end.empty());
}

}  // namespace
}  // namespace gpupool::decision
