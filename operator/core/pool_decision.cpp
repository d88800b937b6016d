#include "operator/core/pool_decision.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"
#include "operator/core/billing.h"

namespace gpupool::decision {
namespace {

using api::GpuInstance;
using api::InstancePhase;

bool is_ending(const GpuInstance& i) {
  return i.metadata.deletion_timestamp.has_value() ||
         i.status.phase == InstancePhase::Terminating ||
         i.status.phase == InstancePhase::Terminated;
}

bool launched(const GpuInstance& i) {
  return i.status.launch_time && i.status.billing && i.status.price_per_hour;
}

// When the next billing increment of a launched instance starts.
Time boundary_of(const GpuInstance& i, Time now) {
  if (!launched(i)) return now;
  return billing::next_boundary(*i.status.billing, *i.status.launch_time, now);
}

uint32_t fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return h;
}

std::string hash4(const std::string& uid) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", static_cast<unsigned>(fnv1a(uid) & 0xffffu));
  return buf;
}

std::string money_text(Money m) {
  return "$" + m.to_string_fixed(2);
}

api::Condition cond(const char* type, bool status, std::string reason, std::string message,
                    const Input& in) {
  api::Condition c;
  c.type = type;
  c.status = status ? api::ConditionStatus::True : api::ConditionStatus::False;
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.last_transition_time = in.now;
  c.observed_generation = in.pool.metadata.generation;
  return c;
}

bool was_true_with(const api::GpuPool& pool, const char* type, const std::string& reason) {
  const api::Condition* c = find_condition(pool.status.conditions, type);
  return c && c->status == api::ConditionStatus::True && c->reason == reason;
}

}  // namespace

std::string instance_name(const api::GpuPool& pool, int64_t ordinal) {
  return pool.metadata.name + "-" + hash4(pool.metadata.uid) + "-" + std::to_string(ordinal);
}

std::optional<int64_t> ordinal_of(const api::GpuPool& pool, const std::string& name) {
  const std::string prefix = pool.metadata.name + "-" + hash4(pool.metadata.uid) + "-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  int64_t v = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || v > 1'000'000'000'000LL) return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

int desired_replicas(const api::GpuPoolSpec& spec) {
  if (spec.autoscaling.enabled) return std::max(0, spec.replicas.min);
  return std::max(0, api::fixed_replicas(spec));
}

bool awaits_node(const api::UsageSpec& usage) {
  return usage.mode == api::UsageMode::Node &&
         (!usage.node.bootstrap_script.empty() || !usage.node.bootstrap_secret_ref.name.empty());
}

bool awaits_health(const api::UsageSpec& usage) {
  return usage.mode == api::UsageMode::Endpoint;
}

bool awaits_readiness(const api::UsageSpec& usage) {
  return awaits_node(usage) || awaits_health(usage);
}

namespace {
// Whether an instance serves: Ready, or Running when neither a Node nor a
// health check is awaited.
bool serving(const GpuInstance& i) {
  if (i.status.phase == InstancePhase::Ready) return true;
  return i.status.phase == InstancePhase::Running && !awaits_readiness(i.spec.usage);
}
}  // namespace

Duration drain_lead(const api::UsageSpec& usage) {
  if (!awaits_node(usage)) return Duration{0};
  return Duration{std::clamp<int64_t>(usage.node.drain_timeout_seconds, 0, 3600)};
}

Time drain_deadline(const GpuInstance& inst, Time started) {
  const Duration timeout{std::max<int64_t>(0, inst.spec.usage.node.drain_timeout_seconds)};
  Time deadline = started + timeout;
  if (!launched(inst) || inst.status.billing->increment <= timeout) return deadline;
  const Time paid = billing::paid_through(*inst.status.billing, *inst.status.launch_time, started);
  return std::clamp(paid - kDrainBoundarySlack, started, deadline);
}

const api::Condition* find_condition(const std::vector<api::Condition>& conds,
                                     const std::string& type) {
  for (const auto& c : conds) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

void set_condition(std::vector<api::Condition>& conds, api::Condition c) {
  for (auto& old : conds) {
    if (old.type != c.type) continue;
    if (old.status == c.status) c.last_transition_time = old.last_transition_time;
    old = std::move(c);
    return;
  }
  conds.push_back(std::move(c));
}

namespace {

// The pool's instances by role, and the money figures the steps share.
struct State {
  const Input& in;
  Output& out;
  Time now;
  api::GpuPoolSpec effective;  // the pool's spec with the lifetime estimate filled in
  int desired = 0;
  std::vector<const GpuInstance*> active, parked, failed, newly_parked, still_parked;
  // Replacements under way (rule 4c): launched or not, they are out of
  // `active` (their burn stays in active_burn) until they serve.
  std::vector<const GpuInstance*> replacing;
  int ending = 0;
  api::SpendStatus spend0;  // spend::pool_spend at now: the one computation
  Money active_burn;        // Σ spend::active_burn of `active`
  Money active_rest;        // Σ spend::active_rest_of_month of `active`
  std::string budget_reason, budget_message;
  bool budget_shortfall = false;
  std::string shortfall;
  int created = 0;
  bool create_capped = false;
  bool waiting_for_providers = false;
  std::optional<Time> next_end;
  int parked_after = 0;

  const api::GpuPoolSpec& spec() const { return effective; }

  // Whether a pool whose kept machines burn `burn` per hour and will still
  // cost `rest` this month fits both caps.
  bool fits(Money burn, Money rest) const {
    const auto& b = spec().budget;
    if (b.max_usd_per_hour && burn > *b.max_usd_per_hour) return false;
    if (b.max_usd_per_month && spend0.month_to_date + rest > *b.max_usd_per_month) return false;
    return true;
  }
  void drop_active(const GpuInstance* a) {
    active_burn -= spend::active_burn(*a);
    active_rest -= spend::active_rest_of_month(*a, now);
    active.erase(std::find(active.begin(), active.end(), a));
  }
  // Parks a launched instance, ends one never launched (nothing paid).
  void retire(const GpuInstance* a) {
    drop_active(a);
    if (launched(*a)) {
      out.park.push_back(a->metadata.name);
      newly_parked.push_back(a);
    } else {
      out.end.push_back(a->metadata.name);
    }
  }
};

double lifetime_hours(const api::GpuPoolSpec& spec) {
  const auto h = spec.planning.expected_lifetime_hours;
  if (h && std::isfinite(*h) && *h > 0 && *h <= planner::kMaxLifetimeHours) return *h;
  return planner::kDefaultLifetimeHours;
}

void classify(State& s) {
  for (const auto& i : s.in.instances) {
    if (is_ending(i)) {
      ++s.ending;
    } else if (i.status.phase == InstancePhase::Failed) {
      s.failed.push_back(&i);
    } else if (i.status.phase == InstancePhase::Parked) {
      s.parked.push_back(&i);
    } else {
      s.active.push_back(&i);
      s.active_burn += spend::active_burn(i);
      s.active_rest += spend::active_rest_of_month(i, s.now);
    }
  }
}

// 1. Failed instances are ended and replaced.
void end_failed(State& s) {
  for (const auto* f : s.failed) {
    s.out.end.push_back(f->metadata.name);
    s.out.events.push_back({"Warning", "ReplacingInstance",
                            "instance " + f->metadata.name + " failed (" + f->status.message +
                                "); ending it and buying a replacement"});
  }
}

// 4c, first half: replacements under way do not count toward `desired` while
// the pool is steady; one that serves retires the machine it replaces. When
// demand has moved they are ordinary machines (rules 3 and 4 see them).
void hold_replacements(State& s) {
  std::vector<std::pair<const GpuInstance*, const GpuInstance*>> pairs;  // (new, old)
  for (const auto* a : s.active) {
    const auto it = a->metadata.annotations.find(kReplacesAnnotation);
    if (it == a->metadata.annotations.end()) continue;
    const auto old = std::find_if(s.active.begin(), s.active.end(), [&](const auto* o) {
      return o != a && o->metadata.name == it->second;
    });
    if (old != s.active.end()) pairs.emplace_back(a, *old);
  }
  if (pairs.empty() || static_cast<int>(s.active.size() - pairs.size()) != s.desired) return;
  for (const auto& [replacement, old] : pairs) {
    if (serving(*replacement)) {
      s.retire(old);
      s.out.events.push_back(
          {"Normal", "ReplacedInstance",
           replacement->metadata.name + " serves: parked " + old->metadata.name +
               ", which it replaces; it ends before its next billing increment"});
    } else {
      s.active.erase(std::find(s.active.begin(), s.active.end(), replacement));
      s.replacing.push_back(replacement);
    }
  }
}

// 2. Budget floor: park (or end, when nothing is paid yet) the most expensive
// active instances until the kept machines fit the caps.
void budget_floor(State& s) {
  if (s.fits(s.active_burn, s.active_rest)) return;
  const auto& hourly_cap = s.spec().budget.max_usd_per_hour;
  const auto& month_cap = s.spec().budget.max_usd_per_month;
  const bool hourly = hourly_cap && s.active_burn > *hourly_cap;
  s.budget_reason = hourly ? "HourlyBudgetExceeded" : "MonthlyBudgetExceeded";
  std::vector<const GpuInstance*> by_price = s.active;
  std::stable_sort(by_price.begin(), by_price.end(), [](const auto* a, const auto* b) {
    return spend::active_burn(*a) > spend::active_burn(*b);
  });
  int removed = 0;
  for (const auto* a : by_price) {
    if (s.fits(s.active_burn, s.active_rest)) break;
    s.retire(a);
    ++removed;
  }
  s.budget_message = std::string(hourly ? "hourly burn" : "projected month spend") +
                     " is over spec.budget." + (hourly ? "maxUsdPerHour" : "maxUsdPerMonth") +
                     " (" + money_text(hourly ? *hourly_cap : *month_cap) + "); parked " +
                     std::to_string(removed) +
                     " of the most expensive machines. Raise the cap or lower the replicas.";
  s.out.events.push_back({"Warning", "BudgetExceeded", s.budget_message});
}

// What ending `i` now saves over the expected idle time T (the planner's
// lifetime): the time it would still run, and pay for, after its paid window,
// plus its egress. Machines never launched save everything and go first.
Money avoidable_cost(const GpuInstance& i, Time now, Duration idle) {
  const Time horizon = now + idle;
  Money saving = i.spec.offer.egress_usd_per_hour.for_duration(idle);
  if (!launched(i)) return Money::max();
  const Time paid = billing::paid_through(*i.status.billing, *i.status.launch_time, now);
  if (horizon > paid) saving += i.status.price_per_hour->for_duration(horizon - paid);
  return saving;
}

// 3. Scale down: end what was never launched, then park the machines whose
// ending saves the most (avoidable cost over the expected idle time), the
// soonest billing boundary breaking ties.
void scale_down(State& s) {
  if (static_cast<int>(s.active.size()) <= s.desired) return;
  const Duration idle{std::llround(lifetime_hours(s.spec()) * 3600.0)};
  std::vector<std::pair<Money, const GpuInstance*>> order;
  for (const auto* a : s.active)
    order.emplace_back(avoidable_cost(*a, s.now, idle), a);
  std::stable_sort(order.begin(), order.end(), [&](const auto& x, const auto& y) {
    if (x.first != y.first) return x.first > y.first;
    const Time bx = boundary_of(*x.second, s.now), by = boundary_of(*y.second, s.now);
    if (bx != by) return bx < by;
    return x.second->metadata.name < y.second->metadata.name;
  });
  const size_t excess = s.active.size() - static_cast<size_t>(s.desired);
  const std::string to = "scaling down to " + std::to_string(s.desired) + ": ";
  for (size_t k = 0; k < excess; ++k) {
    const auto* a = order[k].second;
    s.retire(a);
    if (launched(*a)) {
      s.out.events.push_back({"Normal", "ParkingInstance",
                              to + "parked " + a->metadata.name + " (ending it saves " +
                                  money_text(order[k].first) + " over the next " +
                                  std::to_string(idle.count() / 3600) +
                                  "h); it ends before its next billing increment"});
    } else {
      s.out.events.push_back(
          {"Normal", "EndingInstance",
           to + "ending " + a->metadata.name + " (not launched yet, nothing paid)"});
    }
  }
}

GpuInstance new_instance(const State& s, const Offer& offer, Money egress_per_hour) {
  const api::GpuPool& pool = s.in.pool;
  GpuInstance inst;
  inst.metadata.name = instance_name(pool, s.out.next_ordinal);
  inst.metadata.namespace_ = pool.metadata.namespace_;
  inst.metadata.labels[kLabelPool] = pool.metadata.name;
  inst.metadata.labels[kLabelPoolUid] = pool.metadata.uid;
  api::OwnerReference ref;
  ref.api_version = api::kApiVersion;
  ref.kind = api::kGpuPoolKind;
  ref.name = pool.metadata.name;
  ref.uid = pool.metadata.uid;
  ref.controller = true;
  ref.block_owner_deletion = true;
  inst.metadata.owner_references.push_back(ref);
  inst.metadata.finalizers.emplace_back(kFinalizer);
  inst.spec.pool = pool.metadata.name;
  inst.spec.offer = api::offer_spec_from(offer);
  inst.spec.offer.egress_usd_per_hour = egress_per_hour;
  inst.spec.usage = s.spec().usage;
  inst.status.phase = InstancePhase::Pending;
  return inst;
}

// 4a. Un-park, the machines with the most paid time left first, as far as
// the budget allows.
void unpark(State& s) {
  std::vector<const GpuInstance*> order = s.parked;
  std::stable_sort(order.begin(), order.end(), [&](const auto* a, const auto* b) {
    const Time ba = boundary_of(*a, s.now), bb = boundary_of(*b, s.now);
    if (ba != bb) return ba > bb;  // most paid time left first
    return a->metadata.name < b->metadata.name;
  });
  int need = s.desired - static_cast<int>(s.active.size());
  for (const auto* p : order) {
    const Money burn = spend::active_burn(*p);
    const Money rest = spend::active_rest_of_month(*p, s.now);
    if (need > 0 && s.budget_reason.empty() && s.in.ledger_problem.empty() &&
        s.fits(s.active_burn + burn, s.active_rest + rest)) {
      s.out.unpark.push_back(p->metadata.name);
      s.active_burn += burn;
      s.active_rest += rest;
      --need;
      s.out.events.push_back({"Normal", "UnparkingInstance",
                              "demand returned: re-using parked " + p->metadata.name +
                                  " (its paid time is already spent)"});
    } else {
      s.still_parked.push_back(p);
    }
  }
}

// The planner request for `machines` more machines of this pool: the
// offers, the ones just sold out, the providers' limits and the spend so far.
planner::Request plan_request(const State& s, int machines) {
  planner::Request req;
  req.machines = machines;
  req.spend.hourly_burn = s.active_burn;
  req.spend.projected_month = s.spend0.month_to_date + s.active_rest;
  req.offers = s.in.offers;
  req.unavailable = s.in.unavailable;
  req.providers = s.in.providers;
  req.now = s.now;
  return req;
}

// 4b. Buy the rest through the planner, at most Input::max_creates.
void buy(State& s) {
  int need = s.desired - static_cast<int>(s.active.size() + s.out.unpark.size());
  if (need <= 0) return;
  if (!s.in.ledger_problem.empty()) return;  // reported by status()
  if (awaits_node(s.spec().usage) && (!s.in.bootstrap || !s.in.bootstrap->problem.empty())) {
    return;  // a machine bought without its bootstrap never serves; reported by status()
  }
  if (!s.in.providers_loading.empty()) {
    s.waiting_for_providers = true;  // reported by status()
    return;
  }
  if (!s.budget_reason.empty()) {
    s.budget_shortfall = true;
    return;
  }
  if (need > s.in.max_creates) {
    need = std::max(0, s.in.max_creates);
    s.create_capped = true;
  }
  planner::Request req = plan_request(s, need);
  if (s.in.policy.placement == Policy::Placement::ListPrice) {
    req.ranking = planner::Request::Ranking::ListPrice;
  }
  auto plan = planner::plan(s.spec(), req);
  if (!plan.ok()) {
    s.shortfall = "cannot plan: " + plan.error().message;
    return;
  }
  for (const auto& choice : plan->choices) {
    const planner::RankedOffer& r = plan->offers[choice.offer];
    for (int k = 0; k < choice.machines; ++k) {
      GpuInstance inst = new_instance(s, r.offer, r.egress_per_hour);
      ++s.out.next_ordinal;
      s.out.events.push_back({"Normal", "CreatingInstance",
                              "buying " + inst.metadata.name + " on " + r.key + " at " +
                                  money_text(r.offer.price_per_hour) + "/h: " + choice.reason});
      s.out.create.push_back(std::move(inst));
      ++s.created;
    }
  }
  if (plan->placed < need) {
    s.shortfall = plan->shortfall;
    api::GpuPoolSpec unlimited = s.spec();
    unlimited.budget = {};
    auto plan2 = planner::plan(unlimited, req);
    if (plan2.ok() && plan2->placed > plan->placed) s.budget_shortfall = true;
  }
}

// Billing in increments no longer than the warm hold: every moment is a
// boundary (per-second, per-minute).
bool fine_grained(const GpuInstance& i, Duration hold) {
  return i.status.billing->increment <= hold;
}

Time utc_hour_start(Time t) {
  return std::chrono::floor<std::chrono::hours>(t);
}

// lifecycle.minParkSeconds: the warm hold of rule 5, and the bound of
// "fine-grained" billing.
Duration warm_hold(const api::GpuPoolSpec& spec) {
  return Duration{std::max<int64_t>(0, spec.lifecycle.min_park_seconds)};
}

// How long before a billing boundary a parked machine starts ending:
// parkMarginSeconds plus its Node's drain (rule 5).
Duration end_lead(const api::GpuPoolSpec& spec) {
  return Duration{std::max<int64_t>(0, spec.lifecycle.park_margin_seconds)} +
         drain_lead(spec.usage);
}

// Rule 4c's decision point of a launched instance: its next billing
// boundary; for increments no longer than `hold` (per-second billing, where
// every moment is a boundary), the end of the current hour of its age.
Time decision_point(const GpuInstance& i, Time now, Duration hold) {
  if (!fine_grained(i, hold)) return boundary_of(i, now);
  const int64_t age = std::max<int64_t>(0, (now - *i.status.launch_time).count());
  return *i.status.launch_time + Duration{(age / 3600 + 1) * 3600};
}

}  // namespace

bool in_consolidation_window(const GpuInstance& i, const api::GpuPoolSpec& spec, Time now) {
  const auto& lc = spec.lifecycle;
  if (lc.consolidation_lead_seconds <= 0 || is_ending(i) || !serving(i) || !launched(i)) {
    return false;
  }
  const Duration margin = end_lead(spec);
  const Duration lead{lc.consolidation_lead_seconds};
  const Duration hold = warm_hold(spec);
  // A fine-grained machine may be bridging to a clock-hour offer (planner.h
  // "Bridging"): it is looked at again as each UTC hour starts.
  if (fine_grained(i, hold) && now - utc_hour_start(now) < lead) return true;
  const Duration until = decision_point(i, now, hold) - now;
  return until >= margin && until <= margin + lead;
}

bool may_replace(const Input& in) {
  if (!in.policy.consolidate) return false;
  return std::any_of(in.instances.begin(), in.instances.end(), [&](const GpuInstance& i) {
    return in_consolidation_window(i, in.pool.spec, in.now);
  });
}

namespace {

// Whether the pool is steady enough for rule 4c: nothing else under way.
bool may_consolidate(const State& s) {
  if (!s.in.policy.consolidate || s.spec().lifecycle.consolidation_lead_seconds <= 0) return false;
  if (s.desired == 0 || static_cast<int>(s.active.size()) != s.desired) return false;
  if (!s.replacing.empty() || !s.out.create.empty() || !s.out.unpark.empty() ||
      !s.out.park.empty()) {
    return false;
  }
  if (!s.budget_reason.empty() || !s.in.ledger_problem.empty() || !s.in.providers_loading.empty()) {
    return false;
  }
  return !awaits_node(s.spec().usage) || (s.in.bootstrap && s.in.bootstrap->problem.empty());
}

struct KeepCost {
  const GpuInstance* inst;
  Money keep;  // what it would still be charged over the lifetime
};

// Rule 4c's candidates, costliest to keep first.
std::vector<KeepCost> consolidation_candidates(const State& s, Duration lifetime) {
  std::vector<KeepCost> out;
  for (const auto* a : s.active) {
    if (!in_consolidation_window(*a, s.spec(), s.now)) continue;
    const auto& rule = *a->status.billing;
    const Money price = *a->status.price_per_hour;
    const Time launch = *a->status.launch_time;
    const Money keep = billing::committed(rule, price, launch, s.now + lifetime) -
                       billing::committed(rule, price, launch, s.now) +
                       a->spec.offer.egress_usd_per_hour.for_duration(lifetime);
    out.push_back({a, keep});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const KeepCost& x, const KeepCost& y) { return x.keep > y.keep; });
  return out;
}

// Whether a wall-clock replacement for a fine-grained machine costs less
// bought at its next slot start (the machine serving until then) than now,
// mid-slot, where it pays the slot's past minutes: then rule 4c waits for
// the slot (the machine is a candidate again as that hour starts).
bool cheaper_at_next_slot(const State& s, const GpuInstance& old, const planner::RankedOffer& r,
                          Duration lifetime) {
  const BillingRule& rule = r.offer.billing;
  if (rule.alignment != BillingAlignment::WallClock || !fine_grained(old, warm_hold(s.spec()))) {
    return false;
  }
  const Time end = s.now + lifetime;
  const Time slot = billing::next_slot_start(rule, s.now);
  if (slot >= end) return false;
  const Money keep = billing::cost_between(*old.status.billing, *old.status.price_per_hour,
                                           old.spec.offer.egress_usd_per_hour,
                                           old.status.launch_time, s.now, slot);
  const Money then = billing::cost_between(rule, r.offer.price_per_hour, r.egress_per_hour,
                                           std::nullopt, slot, end);
  return keep + then < r.total_cost;
}

// 4c, second half: buy clearly cheaper replacements for machines nearing
// their decision point.
void consolidate(State& s) {
  if (!may_consolidate(s)) return;
  const Duration lifetime{std::llround(lifetime_hours(s.spec()) * 3600.0)};
  const std::vector<KeepCost> candidates = consolidation_candidates(s, lifetime);
  if (candidates.empty()) return;
  planner::Request req = plan_request(
      s, std::min<int>(static_cast<int>(candidates.size()), std::max(0, s.in.max_creates)));
  req.unavailable.insert(s.in.sold_out_lately.begin(), s.in.sold_out_lately.end());
  auto plan = planner::plan(s.spec(), req);
  if (!plan.ok()) return;  // the same request fails in buy() and is reported there
  std::vector<const planner::RankedOffer*> replacements;  // cheapest first (rank order)
  for (const auto& choice : plan->choices) {
    for (int k = 0; k < choice.machines; ++k)
      replacements.push_back(&plan->offers[choice.offer]);
  }
  for (size_t k = 0; k < std::min(candidates.size(), replacements.size()); ++k) {
    const KeepCost& c = candidates[k];
    const planner::RankedOffer& r = *replacements[k];
    const Money keep = c.keep;
    const Money threshold =
        std::max(Money::from_double(keep.to_double() * kMinSavingFraction), kMinSaving);
    // Cheaper over the estimate, and never a dearer hourly rate: the
    // estimate is for the newest capacity, and a machine already serving is
    // usually needed longer, so trading it for one that costs more per hour
    // (per-second AWS for an hourly machine) would churn on every wrong guess.
    if (r.total_cost > keep - threshold || r.hourly_burn >= spend::active_burn(*c.inst)) continue;
    if (cheaper_at_next_slot(s, *c.inst, r, lifetime)) continue;
    GpuInstance inst = new_instance(s, r.offer, r.egress_per_hour);
    inst.metadata.annotations[kReplacesAnnotation] = c.inst->metadata.name;
    ++s.out.next_ordinal;
    s.out.events.push_back({"Normal", "ConsolidatingInstance",
                            "buying " + inst.metadata.name + " on " + r.key + " to replace " +
                                c.inst->metadata.name + ": over the next " +
                                std::to_string(lifetime.count() / 3600) + "h it costs " +
                                money_text(r.total_cost) + ", keeping " + c.inst->metadata.name +
                                " " + money_text(keep)});
    s.out.create.push_back(std::move(inst));
  }
}

// 5. Parked instances end just before their next billing increment, early
// enough for their Node's drain.
void schedule_parked(State& s) {
  const Duration margin = end_lead(s.spec());
  const Duration hold = warm_hold(s.spec());
  std::set<std::string> replaced;  // named by a serving replacement
  for (const auto& i : s.in.instances) {
    const auto it = i.metadata.annotations.find(kReplacesAnnotation);
    if (it != i.metadata.annotations.end() && !is_ending(i) && serving(i)) {
      replaced.insert(it->second);
    }
  }
  auto schedule = [&](const GpuInstance* p, bool parked_now) {
    if (!launched(*p)) {
      s.out.end.push_back(p->metadata.name);
      return;
    }
    Time boundary = boundary_of(*p, s.now);
    Time end_at = boundary - margin;
    if (const auto& after = s.in.policy.end_unneeded_after) {
      end_at = p->status.parked_at.value_or(s.now) + *after;  // billing windows ignored
    } else {
      // Kept warm for minParkSeconds: the first boundary − margin at or
      // after parked_at + hold. Only where the hold cannot buy more than
      // itself (increments no longer than the hold: per-second, per-minute
      // billing), and never while a budget cap is being enforced.
      // Parked in this decision: from now; earlier without a record of
      // when (never written): no hold, rather than one that never ends.
      // A machine parked because its replacement serves (rule 4c) is not
      // held: demand has not dropped, the replacement is the capacity.
      const std::optional<Time> since = parked_now ? s.now : p->status.parked_at;
      const Time keep_until =
          since && replaced.count(p->metadata.name) == 0 ? *since + hold : s.now;
      if (fine_grained(*p, hold) && s.budget_reason.empty() && keep_until > s.now &&
          end_at < keep_until) {
        boundary = billing::next_boundary(*p->status.billing, *p->status.launch_time,
                                          keep_until + margin - Duration{1});
        end_at = boundary - margin;
      }
    }
    if (s.now >= end_at) {
      s.out.end.push_back(p->metadata.name);
      s.out.events.push_back(
          {"Normal", "EndingParkedInstance",
           s.in.policy.end_unneeded_after
               ? "ending parked " + p->metadata.name + ": unneeded for " +
                     std::to_string(s.in.policy.end_unneeded_after->count()) + "s"
               : "ending parked " + p->metadata.name + " before its next billing " +
                     "increment at " + format_rfc3339(boundary)});
      return;
    }
    ++s.parked_after;
    if (!s.next_end || end_at < *s.next_end) s.next_end = end_at;
  };
  for (const auto* p : s.still_parked)
    schedule(p, false);
  for (const auto* p : s.newly_parked)
    schedule(p, true);
}

// The spend summary in status: recomputed every time (budget checks use the
// fresh figures), written when something changed or once per spend_period.
api::SpendStatus spend_summary(const State& s, const api::GpuPoolStatus& st) {
  const api::GpuPool& pool = s.in.pool;
  const api::SpendStatus& old = pool.status.spend;
  const bool changed = !s.out.create.empty() || !s.out.park.empty() || !s.out.unpark.empty() ||
                       !s.out.end.empty() || !(st.replicas == pool.status.replicas);
  const bool due = !old.last_updated || s.now - *old.last_updated >= s.in.spend_period ||
                   old.month != s.spend0.month;
  if (!changed && !due) return old;
  api::SpendStatus sp = s.spend0;
  api::SpendStatus old_cmp = old;
  old_cmp.last_updated.reset();
  sp.last_updated =
      (sp == old_cmp && old.last_updated) ? old.last_updated : std::optional<Time>(s.now);
  return sp;
}

// status.autoscaling and ScalingActive (rule 6).
void scaling_status(State& s, api::GpuPoolStatus& st) {
  const Input& in = s.in;
  const api::GpuPool& pool = in.pool;
  if (!in.scaling) {
    st.autoscaling.reset();
    set_condition(
        st.conditions,
        cond("ScalingActive", false, "ScalingDisabled",
             "spec.autoscaling.enabled is false: the pool keeps spec.replicas.count", in));
    return;
  }
  api::AutoscalingStatus next = *in.scaling;
  const auto& old = pool.status.autoscaling;
  if (old) {
    // Readings alone changed: keep the old ones until the period is due, so
    // a pool at rest is not rewritten on every reconcile.
    auto decision_of = [](api::AutoscalingStatus a) {
      for (auto& m : a.metrics)
        m.value = m.value ? std::optional<double>(0) : std::nullopt;
      a.reason.clear();
      a.expected_lifetime_hours.reset();
      a.last_scale_time.reset();
      return a;
    };
    const bool due = !pool.status.spend.last_updated ||
                     s.now - *pool.status.spend.last_updated >= in.spend_period;
    if (!due && decision_of(*old) == decision_of(next)) {
      next.metrics = old->metrics;
      next.reason = old->reason;
      next.expected_lifetime_hours = old->expected_lifetime_hours;
    }
    next.last_scale_time = old->last_scale_time;
  }
  if (!old || old->desired != next.desired) {
    if (old) next.last_scale_time = s.now;
    if (old) {
      s.out.events.push_back(
          {"Normal", "SuccessfulRescale",
           "New size: " + std::to_string(next.desired) + "; reason: " + in.scaling->reason +
               (next.clamped_by.empty() ? "" : " (clamped by " + next.clamped_by + ")")});
    }
  }
  st.autoscaling = std::move(next);

  std::string reason = "ValidMetrics";
  if (!in.scaling_active) {
    reason = "FailedGetMetrics";
  } else if (!in.scaling_problem.empty()) {
    reason = "SomeMetricsFailing";
  }
  std::string message;
  if (reason == "ValidMetrics") {
    message = "desired " + std::to_string(in.scaling->desired) + ": " + in.scaling->reason;
  } else if (reason == "FailedGetMetrics") {
    message = "holding at " + std::to_string(in.scaling->desired) + ": no signal has a value (" +
              in.scaling_problem + ")";
  } else {
    message = "desired " + std::to_string(in.scaling->desired) + " from the signals that answer; " +
              in.scaling_problem;
  }
  const api::Condition* before = find_condition(pool.status.conditions, "ScalingActive");
  if (reason != "ValidMetrics" && (!before || before->reason != reason)) {
    s.out.events.push_back({"Warning", "FailedGetMetrics", message});
  }
  // The message carries live values; keep the old one while only they moved.
  if (before && before->reason == reason && st.autoscaling == pool.status.autoscaling) {
    message = before->message;
  }
  set_condition(st.conditions, cond("ScalingActive", in.scaling_active, reason, message, in));
}

bool all_unsupported(const State& s) {
  const auto& bad = s.in.bootstrap->unsupported;
  return !s.spec().providers.empty() &&
         std::all_of(s.spec().providers.begin(), s.spec().providers.end(), [&](const auto& p) {
           return std::find(bad.begin(), bad.end(), p.name) != bad.end();
         });
}

std::string unsupported_text(const State& s) {
  std::string names;
  for (const auto& n : s.in.bootstrap->unsupported)
    names += (names.empty() ? "" : ", ") + n;
  return "GpuProvider " + names +
         " cannot run the bootstrap template at boot (no user data, or a shell script only "
         "where the template is a cloud-init document); their offers are not planned";
}

// BootstrapReady, for pools that bootstrap Nodes, as of the last check.
void bootstrap_status(const State& s, api::GpuPoolStatus& st) {
  const Input& in = s.in;
  if (!awaits_node(s.spec().usage)) {
    std::erase_if(st.conditions, [](const auto& c) { return c.type == "BootstrapReady"; });
    return;
  }
  if (!in.bootstrap) return;
  if (!in.bootstrap->problem.empty()) {
    set_condition(st.conditions,
                  cond("BootstrapReady", false, "BootstrapInvalid", in.bootstrap->problem, in));
  } else if (!in.bootstrap->unsupported.empty()) {
    set_condition(st.conditions,
                  cond("BootstrapReady", false, "BootstrapUnsupported", unsupported_text(s), in));
  } else {
    set_condition(st.conditions, cond("BootstrapReady", true, "TemplateValid",
                                      "the bootstrap template renders for every provider", in));
  }
}

api::GpuPoolStatus status(State& s) {
  const Input& in = s.in;
  const api::GpuPool& pool = in.pool;
  const int desired = s.desired;
  api::GpuPoolStatus st = pool.status;
  st.observed_generation = pool.metadata.generation;
  st.terminated_spend = in.ledger.total;
  st.selector = std::string(kLabelPool) + "=" + pool.metadata.name;
  int provisioning = s.created, ready = 0;
  for (const auto* a : s.active) {
    const bool registering =
        a->status.phase == InstancePhase::Running && awaits_readiness(a->spec.usage);
    if (a->status.phase == InstancePhase::Pending ||
        a->status.phase == InstancePhase::Provisioning || registering) {
      ++provisioning;
    } else {
      ++ready;
    }
  }
  ready += static_cast<int>(s.out.unpark.size());  // parked instances were running
  provisioning += static_cast<int>(s.replacing.size());
  st.replicas.desired = desired;
  st.replicas.provisioning = provisioning;
  st.replicas.ready = ready;
  st.replicas.parked = s.parked_after;
  st.spend = spend_summary(s, st);

  const std::string counts = std::to_string(ready) + "/" + std::to_string(desired) +
                             " machines ready, " + std::to_string(provisioning) +
                             " provisioning, " + std::to_string(s.parked_after) + " parked";
  set_condition(st.conditions, ready >= desired
                                   ? cond("Ready", true, "AllMachinesReady", counts, in)
                                   : cond("Ready", false, "WaitingForMachines", counts, in));

  const bool scaling_up = s.created > 0 || provisioning > 0 || !s.out.unpark.empty();
  const bool scaling_down =
      !s.out.park.empty() || !s.out.end.empty() || s.parked_after > 0 || s.ending > 0;
  if (s.waiting_for_providers) {
    std::string names;
    for (const auto& n : in.providers_loading)
      names += (names.empty() ? "" : ", ") + n;
    set_condition(st.conditions,
                  cond("Progressing", true, "WaitingForProviders",
                       counts + "; buying waits until GpuProvider " + names + " has loaded", in));
  } else if (scaling_up) {
    set_condition(st.conditions, cond("Progressing", true, "ScalingUp", counts, in));
  } else if (scaling_down) {
    std::string msg = counts;
    if (s.next_end) msg += "; next parked machine ends at " + format_rfc3339(*s.next_end);
    set_condition(st.conditions, cond("Progressing", true, "Draining", msg, in));
  } else {
    set_condition(st.conditions, cond("Progressing", false, "Stable", counts, in));
  }

  std::string degraded_reason, degraded_message;
  if (!in.ledger_problem.empty()) {
    degraded_reason = "SpendLedgerCorrupt";
    degraded_message = "buying nothing for this pool: the spend ledger annotation " +
                       std::string(spend::kLedgerAnnotation) + " cannot be read (" +
                       in.ledger_problem +
                       "); month-to-date would be unknown and the monthly cap unenforceable. "
                       "Repair or restore the annotation; it is kept as it is.";
  } else if (in.bootstrap && awaits_node(s.spec().usage) && !in.bootstrap->problem.empty()) {
    degraded_reason = "BootstrapInvalid";
    degraded_message = "buying nothing for this pool: " + in.bootstrap->problem;
  } else if (in.bootstrap && awaits_node(s.spec().usage) && all_unsupported(s)) {
    degraded_reason = "BootstrapUnsupported";
    degraded_message = "buying nothing for this pool: " + unsupported_text(s);
  } else if (!in.provider_problems.empty()) {
    degraded_reason = "ProviderUnavailable";
    for (const auto& p : in.provider_problems) {
      degraded_message += (degraded_message.empty() ? "" : "; ") + p;
    }
  } else if (!s.shortfall.empty() && !s.budget_shortfall) {
    degraded_reason = "NoOffers";
    degraded_message = "cannot place " + std::to_string(desired - ready - provisioning) +
                       " machine(s): " + s.shortfall +
                       ". Add providers or regions, accept more GPU models, or raise "
                       "maxPricePerGpuHour.";
  } else if (!s.failed.empty()) {
    degraded_reason = "InstancesFailed";
    degraded_message =
        std::to_string(s.failed.size()) + " instance(s) failed and are being replaced";
  }
  if (!degraded_reason.empty()) {
    if ((degraded_reason == "NoOffers" || degraded_reason == "SpendLedgerCorrupt" ||
         degraded_reason == "BootstrapInvalid" || degraded_reason == "BootstrapUnsupported") &&
        !was_true_with(pool, "Degraded", degraded_reason)) {
      s.out.events.push_back({"Warning", degraded_reason, degraded_message});
    }
    set_condition(st.conditions, cond("Degraded", true, degraded_reason, degraded_message, in));
  } else {
    set_condition(st.conditions, cond("Degraded", false, "AsExpected", "", in));
  }

  bootstrap_status(s, st);
  scaling_status(s, st);

  const auto& hourly_cap = s.spec().budget.max_usd_per_hour;
  const auto& month_cap = s.spec().budget.max_usd_per_month;
  if (!s.budget_reason.empty()) {
    set_condition(st.conditions,
                  cond("BudgetExceeded", true, s.budget_reason, s.budget_message, in));
  } else if (s.budget_shortfall) {
    std::string msg = "scale-up stopped at " + std::to_string(ready + provisioning) + "/" +
                      std::to_string(desired) + " machines: one more would push ";
    if (hourly_cap)
      msg += "the hourly burn over spec.budget.maxUsdPerHour (" + money_text(*hourly_cap) + ")";
    if (hourly_cap && month_cap) msg += " or ";
    if (month_cap)
      msg +=
          "the month projection over spec.budget.maxUsdPerMonth (" + money_text(*month_cap) + ")";
    msg +=
        ". Current burn " + money_text(s.active_burn) + "/h. Raise the cap or lower the replicas.";
    if (!was_true_with(pool, "BudgetExceeded", "BudgetCapReached")) {
      s.out.events.push_back({"Warning", "BudgetExceeded", msg});
    }
    set_condition(st.conditions, cond("BudgetExceeded", true, "BudgetCapReached", msg, in));
  } else {
    set_condition(st.conditions, cond("BudgetExceeded", false, "WithinBudget",
                                      "burn " + money_text(s.active_burn) + "/h", in));
  }
  return st;
}

// Whether nothing is under way in the pool: every kept machine serves, none
// is being bought, booted, replaced or ended, and the pool has what it wants.
// Anything that changes that (an instance's status, the pool's spec, a
// replica change) wakes the pool through the informers, so the clock alone
// matters only for the instants settled_resync() names.
bool settled(const State& s) {
  const Output& o = s.out;
  if (!o.create.empty() || !o.end.empty() || !o.park.empty() || !o.unpark.empty()) return false;
  if (!s.replacing.empty() || !s.failed.empty() || s.ending > 0) return false;
  if (!s.shortfall.empty() || s.budget_shortfall || s.waiting_for_providers) return false;
  if (!s.in.ledger_problem.empty() || static_cast<int>(s.active.size()) != s.desired) return false;
  return std::all_of(s.active.begin(), s.active.end(),
                     [](const GpuInstance* a) { return serving(*a) && launched(*a); });
}

// When a settled pool must look again though nothing changed: the next
// spend summary (its period, or once due the next billed increment), the first active machine to
// enter its consolidation window (rule 4c; while one is in it, every kResync as before, since
// prices and the keep cost move), and at the latest kSettledResync (offers re-read, the month's
// turn, what a missed event would hide). Parked ends are added by the caller.
Time settled_resync(const State& s, const api::GpuPoolStatus& next_status) {
  Time at = s.now + kSettledResync;
  const auto& written = next_status.spend.last_updated;
  if (written && *written + s.in.spend_period > s.now) {
    at = std::min(at, *written + s.in.spend_period);
  } else {
    // Due, but the figures had not moved (spend_summary kept the old
    // ones): they move next when a machine's next increment is billed.
    for (const auto* a : s.active)
      at = std::min(at, std::max(boundary_of(*a, s.now), s.now + kResync));
  }
  const auto& lc = s.spec().lifecycle;
  if (s.in.policy.consolidate && lc.consolidation_lead_seconds > 0) {
    const Duration margin = end_lead(s.spec());
    const Duration lead{lc.consolidation_lead_seconds};
    const Duration hold = warm_hold(s.spec());
    // A fine-grained machine is looked at again as the next UTC hour starts
    // (a bridge to a clock-hour offer, planner.h), once per hour; each pool
    // at its own second of the hour's first minute, so 10,000 settled pools
    // do not all wake at once.
    if (std::any_of(s.active.begin(), s.active.end(),
                    [&](const GpuInstance* a) { return fine_grained(*a, hold); })) {
      const Duration spread{fnv1a(s.in.pool.metadata.uid) % kHourStartSpread.count()};
      at = std::min(at, utc_hour_start(s.now) + std::chrono::hours{1} + spread);
    }
    for (const auto* a : s.active) {
      const Time point = decision_point(*a, s.now, hold);
      const Time opens = point - margin - lead;
      if (opens > s.now) {
        at = std::min(at, opens);
      } else if (point - s.now >= margin) {
        at = std::min(at, s.now + kResync);  // in its window now
      } else {
        at = std::min(at, point + Duration{1});  // the next window follows this point
      }
    }
  }
  return std::max(at, s.now + Duration{1});
}

}  // namespace

Output decide(const Input& in) {
  Output out;
  State s{in, out, in.now, in.pool.spec};
  if (!s.effective.planning.expected_lifetime_hours && in.expected_lifetime) {
    const double h = std::chrono::duration<double>(*in.expected_lifetime).count() / 3600.0;
    if (h > 0) {
      s.effective.planning.expected_lifetime_hours = std::min(h, planner::kMaxLifetimeHours);
    }
  }
  s.desired = std::max(0, in.desired);
  out.next_ordinal = std::max<int64_t>(1, in.next_ordinal);
  for (const auto& i : in.instances) {
    if (auto o = ordinal_of(in.pool, i.metadata.name)) {
      out.next_ordinal = std::max(out.next_ordinal, *o + 1);
    }
  }
  s.spend0 = spend::pool_spend(in.instances, in.ledger, in.now);
  classify(s);
  end_failed(s);
  hold_replacements(s);
  budget_floor(s);
  scale_down(s);
  unpark(s);
  buy(s);
  consolidate(s);
  schedule_parked(s);
  out.status = status(s);

  // 7. Requeue: the earliest parked end, at once when creation was capped,
  // else a resync while the pool has instances or wants some (a settled
  // pool's only when its clock-driven work is due, settled_resync()).
  out.next_park_end = s.next_end;
  out.requeue_at = s.next_end;
  if (!in.instances.empty() || s.desired > 0) {
    const Time resync = s.create_capped ? in.now + Duration{1}
                        : settled(s)    ? settled_resync(s, out.status)
                                        : in.now + kResync;
    if (!out.requeue_at || resync < *out.requeue_at) out.requeue_at = resync;
  }
  if (s.waiting_for_providers) {
    const Time soon = in.now + Duration{2};
    if (!out.requeue_at || soon < *out.requeue_at) out.requeue_at = soon;
  }
  if (in.scaling) {
    const Time poll = in.now + std::max(Duration{1}, in.scaling_period);
    if (!out.requeue_at || poll < *out.requeue_at) out.requeue_at = poll;
  }
  return out;
}

std::optional<api::OfferSpec> failover_offer(Input in, const std::string& refused) {
  const auto it = std::find_if(in.instances.begin(), in.instances.end(),
                               [&](const GpuInstance& i) { return i.metadata.name == refused; });
  if (it == in.instances.end() || it->metadata.annotations.count(kReplacesAnnotation) > 0) {
    return std::nullopt;
  }
  // Its place at its provider is given up: the provider's limits see it gone.
  if (!it->metadata.deletion_timestamp) {
    if (auto p = in.providers.find(it->spec.offer.provider); p != in.providers.end()) {
      p->second.instances = std::max(0, p->second.instances - 1);
      p->second.gpus = std::max(0, p->second.gpus - it->spec.offer.gpu_count);
    }
  }
  in.instances.erase(it);
  in.max_creates = 1;
  in.scaling.reset();  // the autoscaler's readings are the pool pass's business
  const Output out = decide(in);
  if (out.create.size() != 1 || !out.unpark.empty()) return std::nullopt;
  return out.create.front().spec.offer;
}

}  // namespace gpupool::decision
