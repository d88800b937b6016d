#include "operator/core/billing.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gpupool::billing {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {  // b > 0, a >= 0
  return a / b + (a % b != 0 ? 1 : 0);
}

int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

struct Window {
  Time paid_through;
  Duration billed;
};

Window window(const BillingRule& rule, Time launch, Time t) {
  const int64_t inc = std::max<int64_t>(1, rule.increment.count());
  const int64_t min = std::max<int64_t>(0, rule.minimum.count());
  const int64_t charge_min = rule.minimum_kind == MinimumKind::Charge ? min : 0;
  if (t < launch) t = launch;
  const int64_t elapsed = (t - launch).count();

  if (rule.alignment == BillingAlignment::Launch) {
    int64_t billed = 0;
    if (charge_min > 0) {
      billed = elapsed <= charge_min ? charge_min
                                     : charge_min + ceil_div(elapsed - charge_min, inc) * inc;
    } else {
      billed = std::max<int64_t>(1, ceil_div(elapsed, inc)) * inc;
    }
    return {launch + Duration(billed), Duration(billed)};
  }

  // WallClock: slots are multiples of `inc` since the epoch; touched slots are billed in full.
  const int64_t slot0 = floor_div(launch.time_since_epoch().count(), inc) * inc;
  const int64_t slots = std::max<int64_t>(1, ceil_div(t.time_since_epoch().count() - slot0, inc));
  const int64_t slot_end = slot0 + slots * inc;
  // A charged minimum covers whole slots from the first slot's start (15:40
  // with 3 h: 15:00-18:00), the same slots billed_duration counts.
  const Time paid = Time(Duration(std::max(slot0 + charge_min, slot_end)));
  return {paid, Duration(std::max(charge_min, slots * inc))};
}

std::string span_text(int64_t seconds) {
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds >= 120 && seconds % 60 == 0) return std::to_string(seconds / 60) + "min";
  return std::to_string(seconds) + "s";
}

}  // namespace

Duration billed_duration(const BillingRule& rule, Time launch, Time end) {
  return window(rule, launch, end).billed;
}

Money cost_for_run(const BillingRule& rule, Money price_per_hour, Time launch, Duration run) {
  if (run < Duration(0)) run = Duration(0);
  return price_per_hour.for_duration(window(rule, launch, launch + run).billed);
}

Money accrued(const BillingRule& rule, Money price_per_hour, Time launch, Time t) {
  return price_per_hour.for_duration(window(rule, launch, t).billed);
}

Money committed(const BillingRule& rule, Money price_per_hour, Time launch, Time t) {
  return price_per_hour.for_duration(window(rule, launch, t).billed);
}

Time paid_through(const BillingRule& rule, Time launch, Time t) {
  return window(rule, launch, t).paid_through;
}

Time next_boundary(const BillingRule& rule, Time launch, Time t) {
  if (t < launch) t = launch;
  const Time paid = paid_through(rule, launch, t);
  return paid > t ? paid : paid_through(rule, launch, t + Duration(1));
}

Time next_slot_start(const BillingRule& rule, Time t) {
  const int64_t inc = std::max<int64_t>(1, rule.increment.count());
  return Time(Duration(floor_div(t.time_since_epoch().count(), inc) * inc + inc));
}

Money deposit_held(const BillingRule& rule, Money price_per_hour, Time /*launch*/, Time /*t*/) {
  if (rule.minimum_kind != MinimumKind::Deposit) return Money();
  const int64_t inc = std::max<int64_t>(1, rule.increment.count());
  const int64_t reserve = rule.minimum.count() - inc;
  return reserve > 0 ? price_per_hour.for_duration(Duration(reserve)) : Money();
}

Money egress_cost_bytes(const BillingRule& rule, int64_t bytes) {
  return rule.egress_per_gb.scaled(std::max<int64_t>(0, bytes), 1'000'000'000);
}

Money egress_cost(const BillingRule& rule, double gigabytes) {
  if (!std::isfinite(gigabytes) || gigabytes <= 0) return Money();
  const long double micros =
      static_cast<long double>(rule.egress_per_gb.micros()) * static_cast<long double>(gigabytes);
  const long double limit = static_cast<long double>(std::numeric_limits<int64_t>::max());
  if (micros >= limit) return Money::from_micros(std::numeric_limits<int64_t>::max());
  if (micros <= -limit) return Money::from_micros(std::numeric_limits<int64_t>::min());
  return Money::from_micros(std::llround(micros));
}

Money egress_per_hour(const BillingRule& rule, double gb_per_gpu_hour, int gpus) {
  return egress_cost(rule, gb_per_gpu_hour * std::max(0, gpus));
}

Money cost_between(const BillingRule& rule, Money price_per_hour, Money egress_per_hour,
                   std::optional<Time> launch, Time now, Time until) {
  if (until <= now) return Money();
  Money compute;
  if (!launch) {
    compute = cost_for_run(rule, price_per_hour, now, until - now);
  } else {
    // Launched: what ending at `until` costs minus what is already billed.
    const Money billed = now >= *launch ? committed(rule, price_per_hour, *launch, now) : Money();
    compute = committed(rule, price_per_hour, *launch, until) - billed;
  }
  return compute + egress_per_hour.for_duration(until - std::max(now, launch.value_or(now)));
}

State state_at(const BillingRule& rule, Money price_per_hour, Time launch, Time t) {
  const Window w = window(rule, launch, t);
  const Money cost = price_per_hour.for_duration(w.billed);
  return State{cost, cost, deposit_held(rule, price_per_hour, launch, t), w.paid_through,
               next_boundary(rule, launch, t)};
}

std::string describe(const BillingRule& rule) {
  const int64_t inc = std::max<int64_t>(1, rule.increment.count());
  std::string out;
  if (inc == 1) {
    out = "per-second";
  } else if (inc == 60) {
    out = "per-minute";
  } else if (inc == 3600) {
    out = "hourly";
  } else {
    out = span_text(inc) + " increments";
  }
  if (rule.alignment == BillingAlignment::WallClock) out = "UTC-" + out;
  if (rule.minimum.count() > 0) {
    out += ", " + span_text(rule.minimum.count()) +
           (rule.minimum_kind == MinimumKind::Charge ? " min" : " deposit");
  }
  return out;
}

}  // namespace gpupool::billing
