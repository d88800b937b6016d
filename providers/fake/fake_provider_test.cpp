#include "providers/fake/fake_provider.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "operator/core/billing.h"

namespace gpupool {
namespace {

using namespace std::chrono_literals;

Time t0() {
  Time t;
  EXPECT_TRUE(parse_rfc3339("2026-11-02T10:00:00Z", t));
  return t;
}

Offer offer(std::string id, std::string region, Money price, BillingRule rule) {
  Offer o;
  o.id = std::move(id);
  o.region = std::move(region);
  o.gpu_model = "L40S";
  o.gpu_count = 1;
  o.price_per_hour = price;
  o.billing = rule;
  return o;
}

BillingRule hourly_min3h() {
  BillingRule r;
  r.minimum = 3h;
  r.increment = 1h;
  return r;
}

InstanceIntent intent(std::string name, const Offer& o) {
  InstanceIntent i;
  i.name = std::move(name);
  i.pool_uid = "uid-1";
  i.pool_namespace = "ml";
  i.pool_name = "pool";
  i.offer = o;
  return i;
}

class FakeProviderTest : public ::testing::Test {
 protected:
  FakeClock clock{t0()};
  Offer a = offer("plan-a", "paris", *Money::parse("1.27"), hourly_min3h());
  Offer b = offer("plan-b", "paris", *Money::parse("0.86"), BillingRule{});
  FakeProvider provider{FakeProviderOptions{"fluence", {{a, 2}, {b, -1}}, 60s, 0s}, clock};
};

TEST_F(FakeProviderTest, OffersReportRemainingCapacityAndFilter) {
  OfferQuery q;
  auto all = provider.offers(q);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].capacity_hint, 2);
  EXPECT_EQ((*all)[0].provider, "fluence");
  ASSERT_TRUE(provider.create(intent("i-1", a)).ok());
  all = provider.offers(q);
  EXPECT_EQ((*all)[0].capacity_hint, 1);
  q.regions = {"helsinki"};
  EXPECT_TRUE(provider.offers(q)->empty());
}

TEST_F(FakeProviderTest, CreateIsIdempotentOnName) {
  auto m1 = provider.create(intent("i-1", a));
  auto m2 = provider.create(intent("i-1", a));
  ASSERT_TRUE(m1.ok());
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(m1->provider_id, m2->provider_id);
  EXPECT_EQ(provider.live_count(), 1);
  EXPECT_EQ(m1->tags.at(std::string(kTagInstance)), "i-1");
  EXPECT_EQ(m1->tags.at(std::string(kTagPoolUid)), "uid-1");
}

TEST_F(FakeProviderTest, BootsAfterDelayOnTheClock) {
  auto m = provider.create(intent("i-1", a));
  EXPECT_EQ(m->state, MachineState::Pending);
  clock.advance(59s);
  EXPECT_EQ(provider.get("uid-1", "i-1")->state, MachineState::Pending);
  clock.advance(1s);
  EXPECT_EQ(provider.get("uid-1", "i-1")->state, MachineState::Running);
}

TEST_F(FakeProviderTest, SoldOutOfferAnswersNoCapacity) {
  ASSERT_TRUE(provider.create(intent("i-1", a)).ok());
  ASSERT_TRUE(provider.create(intent("i-2", a)).ok());
  auto third = provider.create(intent("i-3", a));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().kind, ProviderErrorKind::NoCapacity);
  provider.set_capacity("plan-a", "paris", 3);
  EXPECT_TRUE(provider.create(intent("i-3", a)).ok());
}

TEST_F(FakeProviderTest, LostCreateAnswerStillBuysAndRetryFindsIt) {
  provider.lose_next_create_answers(1);
  auto first = provider.create(intent("i-1", a));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().kind, ProviderErrorKind::Transient);
  EXPECT_EQ(provider.live_count(), 1);
  auto found = provider.get("uid-1", "i-1");
  ASSERT_TRUE(found.ok());
  auto retry = provider.create(intent("i-1", a));
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->provider_id, found->provider_id);
  EXPECT_EQ(provider.live_count(), 1);
}

TEST_F(FakeProviderTest, InjectedFaultsHappenBeforeAnyEffect) {
  provider.fail_next(FakeMethod::Create, rate_limited("slow down", 2s), 2);
  EXPECT_EQ(provider.create(intent("i-1", a)).error().kind, ProviderErrorKind::RateLimited);
  EXPECT_EQ(provider.create(intent("i-1", a)).error().kind, ProviderErrorKind::RateLimited);
  EXPECT_EQ(provider.live_count(), 0);
  EXPECT_TRUE(provider.create(intent("i-1", a)).ok());
  EXPECT_EQ(provider.calls(FakeMethod::Create), 3);
}

TEST_F(FakeProviderTest, TerminateUntilNotFound) {
  auto m = provider.create(intent("i-1", a));
  EXPECT_TRUE(provider.terminate(m->provider_id).ok());
  auto again = provider.terminate(m->provider_id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(provider.terminate("nope").error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(provider.live_count(), 0);
  EXPECT_TRUE(provider.list({})->empty());
  MachineFilter all;
  all.include_terminated = true;
  EXPECT_EQ(provider.list(all)->size(), 1u);
}

TEST_F(FakeProviderTest, LedgerBillsWithTheOfferRule) {
  auto ma = provider.create(intent("i-1", a));  // 3h minimum at 1.27
  auto mb = provider.create(intent("i-2", b));  // per second at 0.86
  clock.advance(20min);
  ASSERT_TRUE(provider.terminate(ma->provider_id).ok());
  ASSERT_TRUE(provider.terminate(mb->provider_id).ok());
  clock.advance(5h);  // nothing accrues after the end
  const Money expected = *Money::parse("3.81") + Money::parse("0.86")->for_duration(20min);
  EXPECT_EQ(provider.total_billed(clock.now()), expected);
}

TEST_F(FakeProviderTest, VanishedMachineIsGoneAndBilledToTheVanishing) {
  auto m = provider.create(intent("i-1", b));
  clock.advance(1h);
  provider.vanish(m->provider_id);
  clock.advance(1h);
  EXPECT_EQ(provider.get("uid-1", "i-1")->state, MachineState::Terminated);
  EXPECT_EQ(provider.total_billed(clock.now()), *Money::parse("0.86"));
}

TEST_F(FakeProviderTest, ProviderWideCapacityCountsEveryOffer) {
  FakeProviderOptions o{"fluence", {{a, -1}, {b, -1}}, 60s, 0s};
  o.max_machines = 2;
  FakeProvider p{o, clock};
  auto m1 = p.create(intent("i-1", a));
  ASSERT_TRUE(p.create(intent("i-2", b)).ok());
  auto third = p.create(intent("i-3", b));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_TRUE(p.create(intent("i-2", b)).ok());  // idempotent repeat: not a new machine
  ASSERT_TRUE(p.terminate(m1->provider_id).ok());
  EXPECT_TRUE(p.create(intent("i-3", b)).ok());
  EXPECT_EQ(p.no_capacity_refusals(), 1);
}

TEST_F(FakeProviderTest, NoCapacityDrawsAreSeededAndReproducible) {
  auto refusals = [&](uint64_t seed) {
    FakeProviderOptions o{"fluence", {{b, -1}}, 60s, 0s};
    o.no_capacity_rate = 0.3;
    o.seed = seed;
    FakeProvider p{o, clock};
    std::string pattern;
    for (int i = 0; i < 200; ++i) {
      pattern += p.create(intent("i-" + std::to_string(i), b)).ok() ? '.' : 'x';
    }
    return pattern;
  };
  const std::string first = refusals(7);
  EXPECT_EQ(first, refusals(7));
  EXPECT_NE(first, refusals(8));
  const auto refused = std::count(first.begin(), first.end(), 'x');
  EXPECT_GT(refused, 30);
  EXPECT_LT(refused, 90);
}

TEST_F(FakeProviderTest, EgressOfTheWorkloadIsBilledPerSecond) {
  Offer e = b;
  e.billing.egress_per_gb = *Money::parse("0.10");
  FakeProviderOptions o{"aws", {{e, -1}}, 60s, 0s};
  o.egress_gb_per_gpu_hour = 2;  // $0.20 an hour
  FakeProvider p{o, clock};
  auto m = p.create(intent("i-1", e));
  clock.advance(30min);
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  clock.advance(1h);
  EXPECT_EQ(p.total_billed(clock.now()), *Money::parse("0.53"));  // (0.86 + 0.20) / 2
}

TEST_F(FakeProviderTest, NextChangeIsTheNextBootOrTerminationEnd) {
  FakeProviderOptions o{"fluence", {{b, -1}}, 90s, 10s};
  FakeProvider p{o, clock};
  EXPECT_FALSE(p.next_change(clock.now()).has_value());
  auto m = p.create(intent("i-1", b));
  EXPECT_EQ(p.next_change(clock.now()), clock.now() + 90s);
  clock.advance(90s);
  EXPECT_EQ(p.get("uid-1", "i-1")->state, MachineState::Running);
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  EXPECT_EQ(p.next_change(clock.now()), clock.now() + 10s);
}

InstanceIntent endpoint_intent(std::string name, const Offer& o) {
  InstanceIntent i = intent(std::move(name), o);
  i.container.image = "vllm/vllm-openai:v0.6.3";
  i.container.port = 8000;
  i.container.args = {"--model", "m"};
  i.container.env = {{"HF_TOKEN", "t"}};
  return i;
}

TEST_F(FakeProviderTest, EndpointMachinesRecordTheContainerAndReportLoopbackOnceRunning) {
  auto m = provider.create(endpoint_intent("e-1", b));
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->public_port, 0);  // pending
  EXPECT_EQ(m->public_address, "");
  auto ledger = provider.ledger();
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].container, endpoint_intent("e-1", b).container);
  clock.advance(61s);
  auto running = provider.get("uid-1", "e-1");
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->state, MachineState::Running);
  EXPECT_EQ(running->public_address, "127.0.0.1");
  EXPECT_EQ(running->public_port, 8000);
}

TEST_F(FakeProviderTest, EndpointPortIsSetPerMachineBeforeOrAfterItRuns) {
  provider.set_endpoint_port("e-1", 41001);
  ASSERT_TRUE(provider.create(endpoint_intent("e-1", b)).ok());
  ASSERT_TRUE(provider.create(endpoint_intent("e-2", b)).ok());
  clock.advance(61s);
  EXPECT_EQ(provider.get("uid-1", "e-1")->public_port, 41001);
  EXPECT_EQ(provider.get("uid-1", "e-2")->public_port, 8000);
  provider.set_endpoint_port("e-2", 41002);  // already running: at once
  auto listed = provider.list({});
  ASSERT_TRUE(listed.ok());
  std::map<std::string, int> ports;
  for (const auto& m : *listed)
    ports[m.name] = m.public_port;
  EXPECT_EQ(ports, (std::map<std::string, int>{{"e-1", 41001}, {"e-2", 41002}}));
}

TEST_F(FakeProviderTest, EndpointModeChangesNeitherNodeMachinesNorSpend) {
  FakeProvider node{FakeProviderOptions{"fluence", {{a, 2}, {b, -1}}, 60s, 0s}, clock};
  ASSERT_TRUE(node.create(intent("n-1", a)).ok());
  ASSERT_TRUE(provider.create(endpoint_intent("n-1", a)).ok());
  clock.advance(2h);
  auto n = node.get("uid-1", "n-1");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->public_port, 0);
  EXPECT_TRUE(n->public_address.starts_with("198.51.100."));
  EXPECT_TRUE(node.ledger()[0].container.image.empty());
  EXPECT_EQ(provider.total_billed(clock.now()), node.total_billed(clock.now()));
}

TEST_F(FakeProviderTest, AContainerWithABootstrapIsInvalidLikeEveryAdapter) {
  InstanceIntent both = endpoint_intent("e-1", b);
  both.user_data = "#!/bin/sh\n";
  auto r = provider.create(both);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(provider.live_count(), 0);
}

}  // namespace
}  // namespace gpupool
