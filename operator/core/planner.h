#pragma once
// The Planner: which offers to buy new machines from. A pure function of the
// pool's spec, the candidate offers, the pool's current spend and `now`.
//
// Ranking. Every offer is priced for one machine running the expected
// lifetime H of the new capacity, through its billing rule (minimum window,
// increments, clock alignment; billing.h) plus egress
// (pool.spec.egress.gbPerGpuHour × GPUs per machine × H × the offer's price
// per GB). That total is divided by the machine's throughput (GPUs ×
// the model's throughputWeight from the pool, i.e. "reference-model
// equivalent GPUs", L40S-equivalent for the usual pools) and by H. Offers are
// ranked by that cost per equivalent GPU-hour; an exact tie (to a
// nano-dollar) is broken by the pool's provider preference order, then by
// provider, offer id and region so the order is total and deterministic.
// Ineligible offers are ranked after all eligible ones, by the same key.
//
// H is Request::lifetime_hours, else spec.planning.expectedLifetimeHours,
// else kDefaultLifetimeHours (24 h).
//
// Bridging (TotalCost ranking, consolidation on). A wall-clock offer W
// (fixed UTC slots: Fluence's clock hours) bought mid-slot pays the whole
// slot. A fine-grained offer P (increments no longer than
// lifecycle.minParkSeconds: per-second AWS) may serve from now until W's
// next slot starts, then W takes over: the pool decision's consolidation
// (pool_decision.h rule 4c) buys W at the slot's start and parks P once W
// serves. P is then priced as that pair over H: P from now to the slot start
// plus lifecycle.consolidationLeadSeconds (the hand-over while W boots), W
// from the slot start to the end of H, egress of each for its part. When the
// pair is cheaper than P alone, P carries it (RankedOffer::bridge) and ranks
// by it; when W alone is cheaper still, W ranks first. Only eligible W count,
// the cheapest pair wins, and a need that ends before the hand-over is P
// alone. docs/billing.md "Bridging a clock hour".
//
// Request::ranking = ListPrice ranks by the hourly list price per equivalent
// GPU instead, billing rules and egress ignored: what Karpenter, Cluster
// Autoscaler, SkyPilot and dstack do. Only the simulator's baseline policy
// asks for it; eligibility, budgets and selection are unchanged.
//
// Eligibility. An offer is eligible unless one or more of these hold (each
// gives a reason in RankedOffer::reasons, in this order):
//   the offer is malformed (GPUs < 1, negative price, increment <= 0, ...);
//   its GPU model is not in spec.gpu.models (case-insensitive);
//   its GPUs per machine differ from spec.gpu.count;
//   its provider (GpuProvider name) is not in spec.providers;
//   that provider entry lists regions and the offer's region is not one of
//     them (an offer with an unknown region is refused too);
//   its price per GPU-hour exceeds the provider entry's maxPricePerGpuHour;
//   it is a community host and spec.reliability is Datacenter;
//   it is spot and spec.spot.allowed is false;
//   its capacity hint is 0;
//   its key (offer_key) is in Request::unavailable;
//   its provider is paused, or its quota has no room for one more machine;
//   one machine of it would push the hourly burn over budget.maxUsdPerHour,
//     or the month's projection over budget.maxUsdPerMonth.
//
// Budget arithmetic (budgets are ceilings; docs/billing.md):
//   hourly burn of a machine = price per hour + billing::egress_per_hour at
//     the pool's expected egress;
//   projected hourly = Request::spend.hourly_burn + Σ chosen machines' burn;
//   projected month = Request::spend.projected_month (spend::pool_spend: the
//       month's total for the machines the pool keeps, prepaid time counted
//       once)
//     + Σ chosen machines' billing::cost_between(now, month end) (minimum,
//       increments and egress included),
//   where the month end is 00:00 UTC on the first day of the next calendar
//   month (UTC). This errs high: it assumes the new machines run to the
//   month end.
//
// Selection. Request::machines new machines are placed on eligible offers in
// rank order. An offer takes as many as its capacity hint (-1: unlimited),
// its provider's remaining quota and both budget caps allow; the rest spill
// to the next offer. Every Choice carries a reason for people. Machines that
// fit nowhere are reported in Plan::shortfall with the reason.
//
// Errors: PlanError::Kind::InvalidInput, with a field path, for a request or
// spec the planner cannot work with (negative machine count, no accepted
// GPU model, a throughput weight <= 0, a lifetime <= 0 or above
// kMaxLifetimeHours, a negative egress volume, ...). Malformed offers are not
// errors: they are ineligible with a reason.
//
// Thread-safety: pure function; safe to call concurrently.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "operator/base/result.h"
#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/money.h"
#include "operator/core/offer.h"

namespace gpupool::planner {

inline constexpr double kDefaultLifetimeHours = 24.0;
inline constexpr double kMaxLifetimeHours = 1'000'000.0;

// What the planner needs to know about a GpuProvider beyond its offers.
struct ProviderState {
  bool paused = false;
  std::optional<int> max_instances;  // spec.quota.maxInstances
  std::optional<int> max_gpus;       // spec.quota.maxGpus
  int instances = 0;                 // machines currently held at this provider (all pools)
  int gpus = 0;                      // GPUs currently held at this provider (all pools)
};

// The pool's current spend, for the budget caps. Both come from
// spend::pool_spend (or, for `plan`, the pool's status.spend).
struct SpendInputs {
  Money hourly_burn;      // (price + egress) per hour of the machines the pool keeps
  Money projected_month;  // the month's total if nothing new is bought
};

struct Request {
  int machines = 0;  // new machines to place; >= 0
  SpendInputs spend;
  std::vector<Offer> offers;
  std::set<std::string> unavailable;               // offer_key()s that just failed to buy
  std::map<std::string, ProviderState> providers;  // by GpuProvider name; absent: no limits
  Time now{};
  std::optional<double> lifetime_hours;  // overrides the spec (plan --hours)
  enum class Ranking { TotalCost, ListPrice };
  Ranking ranking = Ranking::TotalCost;
};

struct RankedOffer {
  Offer offer;
  std::string key;                // offer_key(offer)
  int preference = -1;            // index in spec.providers; -1 when not listed
  double weight = 0;              // throughput weight of its model (0 when not accepted)
  double throughput = 0;          // GPUs × weight
  Money price_per_gpu_hour;       // list price / GPUs
  Money compute_cost;             // one machine for the lifetime, billing rule applied
  double egress_gb = 0;           // one machine for the lifetime
  Money egress_per_hour;          // billing::egress_per_hour at the pool's egress
  Money egress_cost;              // egress_per_hour over the lifetime
  Money total_cost;               // compute + egress
  Money hourly_burn;              // price per hour + egress per hour
  double cost_per_unit_hour = 0;  // total / throughput / hours: the ranking key, USD
  bool eligible = false;
  std::vector<std::string> reasons;  // why not; empty when eligible
  // Set when this offer is priced as a bridge (see "Bridging"): total_cost is
  // the pair's; `to` (an offer_key) takes over from `from`.
  struct Bridge {
    std::string to;
    Time from{};
  };
  std::optional<Bridge> bridge;
};

struct Choice {
  size_t offer = 0;  // index into Plan::offers
  int machines = 0;
  std::string reason;
};

struct Plan {
  double lifetime_hours = 0;
  bool lifetime_defaulted = false;  // no request or spec value: kDefaultLifetimeHours
  std::string reference_model;      // name of the weight-1.0 model ("L40S"), or "weight-1.0"
  int requested = 0;
  int placed = 0;
  std::vector<RankedOffer> offers;  // ranked, eligible first
  std::vector<Choice> choices;      // in rank order
  std::string shortfall;            // why requested - placed machines fit nowhere; empty if none
  Money expected_total;             // chosen machines over the lifetime
  Money added_hourly;               // chosen machines' hourly burn
  Money projected_hourly;           // spend.hourly_burn + added_hourly
  Time month_end{};
  Money projected_month;  // see "Budget arithmetic"
};

struct PlanError {
  enum class Kind { InvalidInput };
  Kind kind = Kind::InvalidInput;
  std::string message;  // "spec.gpu.models: at least one model is required"
};

Result<Plan, PlanError> plan(const api::GpuPoolSpec& spec, const Request& request);

// "provider/offer-id/region" (region may be empty: "runpod/NVIDIA L40S/").
std::string offer_key(const Offer& offer);

// 00:00:00 UTC on the first day of the calendar month after the one holding t.
Time month_end(Time t);

}  // namespace gpupool::planner
