// Money properties over seeded random pool lifecycles (issue 8). A small
// world applies what the pool decision asks for: machines are created and
// launched (or stay pending), parked, un-parked and ended; ended machines are
// folded into the spend ledger and their objects removed at independent
// random later points, as a crash between the two would leave them. The
// clock jumps by random amounts, never past the instant the decision wants a
// parked machine ended (the operator is woken then) nor past a month end, and
// some cases start just before a month end.
// Every billing model of the catalog is used.
//
// After every step:
//   * the pool's accrued spend (spend::pool_spend) equals what the providers
//     charge: Σ over every machine ever launched of its billing rule's charge
//     from launch to its end (or now), plus its egress;
//   * committed >= accrued;
//   * hourly burn never exceeds the hourly cap;
//   * month-to-date never exceeds the monthly cap by more than the largest
//     minimum charge of one machine.
// Seed and case count: GPUPOOL_PROPERTY_SEED and GPUPOOL_PROPERTY_CASES, fixed
// defaults in CI.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>

#include "operator/core/api_codec.h"
#include "operator/core/billing.h"
#include "operator/core/pool_decision.h"
#include "operator/core/spend.h"

namespace gpupool {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

Money usd(std::string_view s) {
  return Money::parse(s).value();
}

BillingRule rule(Duration min, Duration inc, BillingAlignment a = BillingAlignment::Launch,
                 MinimumKind k = MinimumKind::Charge, std::string_view egress = "0") {
  BillingRule r;
  r.minimum = min;
  r.increment = inc;
  r.alignment = a;
  r.minimum_kind = k;
  r.egress_per_gb = usd(egress);
  return r;
}

// The catalog's billing models.
std::vector<Offer> market() {
  struct Row {
    const char* id;
    const char* price;
    BillingRule billing;
  };
  const Row rows[] = {
      {"fluence-seed", "1.27", rule(3h, 1h)},
      {"fluence-docs", "1.31", rule(3h, 1h, BillingAlignment::WallClock, MinimumKind::Deposit)},
      {"aws", "1.86", rule(60s, 1s, BillingAlignment::Launch, MinimumKind::Charge, "0.09")},
      {"runpod", "0.86", rule(0s, 1s)},
      {"lambda", "1.29", rule(0s, 60s)},
      {"verda", "1.10", rule(0s, 10min)},
      {"scaleway", "1.40", rule(1h, 60s, BillingAlignment::Launch, MinimumKind::Charge, "0.01")},
  };
  std::vector<Offer> out;
  for (const Row& r : rows) {
    Offer o;
    o.provider = "p";
    o.provider_type = "fake";
    o.id = r.id;
    o.region = "r1";
    o.gpu_model = "L40S";
    o.price_per_hour = usd(r.price);
    o.billing = r.billing;
    out.push_back(o);
  }
  return out;
}

struct Launched {
  BillingRule rule;
  Money price;
  Money egress;
  Time launch;
  std::optional<Time> end;
};

// What the provider charges for one machine at `now`.
Money charge(const Launched& m, Time now) {
  const Time end = m.end ? std::min(*m.end, now) : now;
  return billing::committed(m.rule, m.price, m.launch, end) +
         m.egress.for_duration(end - std::min(end, m.launch));
}

struct World {
  std::mt19937_64 rng;
  api::GpuPool pool;
  std::vector<api::GpuInstance> objects;
  std::map<std::string, Launched> machines;  // by instance name
  spend::SpendLedger ledger;
  std::vector<Offer> offers;
  Time now;
  int desired = 2;
  int64_t next_ordinal = 1;

  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }
  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }

  void launch(api::GpuInstance& i) {
    i.status.phase = api::InstancePhase::Running;
    i.status.launch_time = now;
    i.status.billing = i.spec.offer.billing;
    i.status.price_per_hour = i.spec.offer.price_per_hour;
    machines[i.metadata.name] = {i.spec.offer.billing, i.spec.offer.price_per_hour,
                                 i.spec.offer.egress_usd_per_hour, now, std::nullopt};
  }

  api::GpuInstance* find(const std::string& name) {
    for (auto& o : objects)
      if (o.metadata.name == name) return &o;
    return nullptr;
  }

  // One reconcile and what the rest of the world does with it.
  std::optional<Time> step() {
    decision::Input in;
    in.pool = pool;
    in.instances = objects;
    in.offers = offers;
    in.ledger = ledger;
    in.desired = desired;
    in.next_ordinal = next_ordinal;
    in.now = now;
    const decision::Output out = decision::decide(in);
    pool.status = out.status;
    next_ordinal = out.next_ordinal;
    for (const auto& c : out.create) {
      objects.push_back(c);
      if (chance(0.8)) launch(objects.back());
    }
    for (const auto& n : out.park)
      find(n)->status.phase = api::InstancePhase::Parked;
    for (const auto& n : out.unpark)
      find(n)->status.phase = api::InstancePhase::Running;
    for (const auto& n : out.end) {
      api::GpuInstance* i = find(n);
      if (!i->status.launch_time) {
        objects.erase(objects.begin() + (i - objects.data()));
        continue;
      }
      if (!i->metadata.deletion_timestamp) i->metadata.deletion_timestamp = now;
    }
    // Pending machines boot; deleting ones end, fold and go at random points.
    for (auto it = objects.begin(); it != objects.end();) {
      api::GpuInstance& i = *it;
      if (!i.status.launch_time && !i.metadata.deletion_timestamp && chance(0.5)) launch(i);
      if (i.metadata.deletion_timestamp && i.status.launch_time) {
        if (!i.status.ended_at && chance(0.7)) {
          i.status.ended_at = now;
          i.status.phase = api::InstancePhase::Terminated;
          machines[i.metadata.name].end = now;
        }
        if (i.status.ended_at && chance(0.6)) (void)spend::fold(ledger, i, now);
        if (spend::was_folded(ledger, i.metadata.name) && chance(0.5)) {
          it = objects.erase(it);
          continue;
        }
      }
      ++it;
    }
    return out.next_park_end;
  }

  std::string describe() const {
    std::string d = "\n  now " + format_rfc3339(now) + ", desired " + std::to_string(desired) +
                    ", ledger " + ledger.total.to_string();
    for (const auto& i : objects) {
      d += "\n  " + i.metadata.name + " " + std::string(api::to_string(i.status.phase)) + " " +
           i.spec.offer.offer_id + " $" + i.spec.offer.price_per_hour.to_string() +
           (i.status.launch_time ? " launched " + format_rfc3339(*i.status.launch_time) : "") +
           (i.status.ended_at ? " ended " + format_rfc3339(*i.status.ended_at) : "") +
           (i.metadata.deletion_timestamp ? " deleting" : "");
    }
    return d;
  }

  void check(const std::string& where, Money slack) {
    const api::SpendStatus s = spend::pool_spend(objects, ledger, now);
    Money provider_total;
    for (const auto& [name, m] : machines)
      provider_total += charge(m, now);
    ASSERT_EQ(s.accrued, provider_total) << where;
    ASSERT_GE(s.committed, s.accrued) << where;
    if (pool.spec.budget.max_usd_per_hour) {
      ASSERT_LE(s.hourly_burn, *pool.spec.budget.max_usd_per_hour) << where;
    }
    if (pool.spec.budget.max_usd_per_month) {
      ASSERT_LE(s.month_to_date, *pool.spec.budget.max_usd_per_month + slack)
          << where << ": month-to-date " << s.month_to_date.to_string() << ", cap "
          << pool.spec.budget.max_usd_per_month->to_string() << describe();
    }
  }
};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

TEST(SpendProperty, RandomLifecyclesKeepMoneyConsistentAndWithinCaps) {
  const uint64_t seed = static_cast<uint64_t>(env_int("GPUPOOL_PROPERTY_SEED", 20261129));
  const int cases = env_int("GPUPOOL_PROPERTY_CASES", 2000);
  const std::vector<Offer> all = market();
  Money slack;  // the largest minimum charge of one machine
  for (const Offer& o : all) {
    const Money min_charge = o.price_per_hour.for_duration(o.billing.minimum) +
                             o.price_per_hour.for_duration(o.billing.increment);
    slack = std::max(slack, min_charge);
  }
  for (int c = 0; c < cases; ++c) {
    World w{std::mt19937_64(seed + static_cast<uint64_t>(c))};
    const std::string where0 = "seed " + std::to_string(seed + static_cast<uint64_t>(c));
    // A random subset of the market (always at least one offer).
    for (const Offer& o : all)
      if (w.chance(0.5)) w.offers.push_back(o);
    if (w.offers.empty()) w.offers.push_back(all[static_cast<size_t>(c) % all.size()]);
    w.pool.metadata.name = "p";
    w.pool.metadata.namespace_ = "default";
    w.pool.metadata.uid = "uid-" + std::to_string(c);
    w.pool.spec.gpu.models = {{"L40S", 1.0}};
    w.pool.spec.providers.push_back({"p", std::nullopt, {}});
    w.pool.spec.lifecycle.park_margin_seconds = w.uniform(0, 300);
    w.pool.spec.egress.gb_per_gpu_hour = w.chance(0.5) ? 2.0 : 0.0;
    if (w.chance(0.7)) w.pool.spec.budget.max_usd_per_hour = Money::from_cents(w.uniform(100, 800));
    if (w.chance(0.7))
      w.pool.spec.budget.max_usd_per_month = Money::from_cents(w.uniform(100, 6000));
    if (w.chance(0.5)) w.pool.spec.planning.expected_lifetime_hours = 0.5;
    // Start anywhere in November, or just before its end.
    w.now = Time{sys_days{year{2026} / November / 1}} +
            (w.chance(0.4) ? Duration{29 * 86400 + 86400 - w.uniform(60, 6 * 3600)}
                           : Duration{w.uniform(0, 28 * 86400)});
    w.desired = static_cast<int>(w.uniform(1, 6));
    for (int s = 0; s < 60; ++s) {
      const std::string where = where0 + " step " + std::to_string(s);
      if (w.chance(0.1)) w.desired = static_cast<int>(w.uniform(0, 6));
      const std::optional<Time> requeue = w.step();
      ASSERT_NO_FATAL_FAILURE(w.check(where, slack));
      Duration jump{w.uniform(1, w.chance(0.2) ? 4 * 3600 : 900)};
      if (requeue && *requeue > w.now) jump = std::min(jump, *requeue - w.now);
      // The operator resyncs every 30 s, so a new month (new caps) is seen
      // at once: never jump past a month boundary without a reconcile.
      // Land on the month's last second first, so its final month-to-date is
      // checked, then step into the new month.
      const Time last_second = spend::month_end(w.now) - Duration{1};
      jump = std::min(jump, w.now < last_second ? last_second - w.now : Duration{1});
      w.now += jump;
      ASSERT_NO_FATAL_FAILURE(w.check(where + " (after the jump)", slack));
    }
  }
}

// Directed at the monthly cap: demand always above what the cap allows,
// small caps, starting hours before a month end with short jumps, so the cap
// binds while the month's last increments are bought. The random suite
// above rarely reaches that state. The test also checks that the cap did
// bind in most cases, so it cannot pass by never testing anything.
TEST(SpendProperty, MonthlyCapHoldsWhileItBindsNearTheMonthEnd) {
  const uint64_t seed = static_cast<uint64_t>(env_int("GPUPOOL_PROPERTY_SEED", 20261129)) + 7;
  const int cases = env_int("GPUPOOL_PROPERTY_CASES", 2000) / 4;
  const std::vector<Offer> all = market();
  Money slack;
  for (const Offer& o : all) {
    slack = std::max(slack, o.price_per_hour.for_duration(o.billing.minimum) +
                                o.price_per_hour.for_duration(o.billing.increment));
  }
  int bound = 0;
  for (int c = 0; c < cases; ++c) {
    World w{std::mt19937_64(seed + static_cast<uint64_t>(c))};
    const std::string where0 = "directed seed " + std::to_string(seed + static_cast<uint64_t>(c));
    w.offers = {all[static_cast<size_t>(c) % all.size()]};
    if (w.chance(0.5)) w.offers.push_back(all[static_cast<size_t>(c + 3) % all.size()]);
    w.pool.metadata.name = "p";
    w.pool.metadata.namespace_ = "default";
    w.pool.metadata.uid = "uid-d" + std::to_string(c);
    w.pool.spec.gpu.models = {{"L40S", 1.0}};
    w.pool.spec.providers.push_back({"p", std::nullopt, {}});
    w.pool.spec.lifecycle.park_margin_seconds = w.uniform(0, 300);
    const Money cap = Money::from_cents(w.uniform(200, 2500));
    w.pool.spec.budget.max_usd_per_month = cap;
    w.now = Time{sys_days{year{2026} / December / 1}} - Duration{w.uniform(2 * 3600, 20 * 3600)};
    w.desired = 6;
    bool binding = false;
    for (int s = 0; s < 80 && w.now < Time{sys_days{year{2026} / December / 1}}; ++s) {
      const std::string where = where0 + " step " + std::to_string(s);
      const std::optional<Time> requeue = w.step();
      ASSERT_NO_FATAL_FAILURE(w.check(where, slack));
      const api::SpendStatus st = spend::pool_spend(w.objects, w.ledger, w.now);
      if (st.month_to_date + slack >= cap) binding = true;
      Duration jump{w.uniform(1, 900)};
      if (requeue && *requeue > w.now) jump = std::min(jump, *requeue - w.now);
      const Time last_second = spend::month_end(w.now) - Duration{1};
      jump = std::min(jump, w.now < last_second ? last_second - w.now : Duration{1});
      w.now += jump;
      ASSERT_NO_FATAL_FAILURE(w.check(where + " (after the jump)", slack));
    }
    if (binding) ++bound;
  }
  EXPECT_GT(bound, cases / 2) << "the monthly cap bound in only " << bound << " of " << cases
                              << " cases: the generator no longer tests it";
}

}  // namespace
}  // namespace gpupool
