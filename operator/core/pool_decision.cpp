#include "operator/core/pool_decision.h"

#include <algorithm>
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

Money price_of(const GpuInstance& i) {
  return i.status.price_per_hour ? *i.status.price_per_hour : i.spec.offer.price_per_hour;
}

// When the next billing increment of a launched instance starts.
Time boundary_of(const GpuInstance& i, Time now) {
  if (!launched(i)) return now;
  return billing::next_boundary(*i.status.billing, *i.status.launch_time, now);
}

std::string hash4(const std::string& uid) {
  uint32_t h = 2166136261u;
  for (char c : uid) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", static_cast<unsigned>(h & 0xffffu));
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

Output decide(const Input& in) {
  Output out;
  const api::GpuPool& pool = in.pool;
  const api::GpuPoolSpec& spec = pool.spec;
  const Time now = in.now;
  const int desired = std::max(0, in.desired);

  out.next_ordinal = std::max<int64_t>(1, in.next_ordinal);
  for (const auto& i : in.instances) {
    if (auto o = ordinal_of(pool, i.metadata.name)) {
      out.next_ordinal = std::max(out.next_ordinal, *o + 1);
    }
  }

  std::vector<const GpuInstance*> active, parked, failed;
  int ending = 0;
  for (const auto& i : in.instances) {
    if (is_ending(i)) {
      ++ending;
    } else if (i.status.phase == InstancePhase::Failed) {
      failed.push_back(&i);
    } else if (i.status.phase == InstancePhase::Parked) {
      parked.push_back(&i);
    } else {
      active.push_back(&i);
    }
  }

  // 1. Failed instances are ended and replaced.
  for (const auto* f : failed) {
    out.end.push_back(f->metadata.name);
    out.events.push_back({"Warning", "ReplacingInstance",
                          "instance " + f->metadata.name + " failed (" + f->status.message +
                              "); ending it and buying a replacement"});
  }

  const api::SpendStatus spend0 = spend::pool_spend(in.instances, in.ledger, now);
  const Money extra_committed =
      spend0.committed > spend0.accrued ? spend0.committed - spend0.accrued : Money{};
  const Time month_end = planner::month_end(now);
  const Duration to_month_end = month_end - now;
  auto month_projection = [&](Money burn) {
    return spend0.month_to_date + extra_committed + burn.for_duration(to_month_end);
  };
  const auto& hourly_cap = spec.budget.max_usd_per_hour;
  const auto& month_cap = spec.budget.max_usd_per_month;
  auto fits = [&](Money burn) {
    if (hourly_cap && burn > *hourly_cap) return false;
    if (month_cap && month_projection(burn) > *month_cap) return false;
    return true;
  };

  Money active_burn;
  for (const auto* a : active)
    active_burn += price_of(*a);

  std::vector<const GpuInstance*> newly_parked;
  std::string budget_reason, budget_message;

  // 2. Budget floor: park (or end, when nothing is paid yet) the most
  // expensive active instances until the active burn fits the caps.
  if (!fits(active_burn)) {
    const bool hourly = hourly_cap && active_burn > *hourly_cap;
    budget_reason = hourly ? "HourlyBudgetExceeded" : "MonthlyBudgetExceeded";
    std::vector<const GpuInstance*> by_price = active;
    std::stable_sort(by_price.begin(), by_price.end(),
                     [](const auto* a, const auto* b) { return price_of(*a) > price_of(*b); });
    int removed = 0;
    for (const auto* a : by_price) {
      if (fits(active_burn)) break;
      active_burn -= price_of(*a);
      active.erase(std::find(active.begin(), active.end(), a));
      ++removed;
      if (launched(*a)) {
        out.park.push_back(a->metadata.name);
        newly_parked.push_back(a);
      } else {
        out.end.push_back(a->metadata.name);
      }
    }
    budget_message = std::string(hourly ? "hourly burn" : "projected month spend") +
                     " is over spec.budget." + (hourly ? "maxUsdPerHour" : "maxUsdPerMonth") +
                     " (" + money_text(hourly ? *hourly_cap : *month_cap) + "); parked " +
                     std::to_string(removed) +
                     " of the most expensive machines. Raise the cap or lower the replicas.";
    out.events.push_back({"Warning", "BudgetExceeded", budget_message});
  }

  // 3. Scale down.
  const int budget_limited_active = static_cast<int>(active.size());
  if (static_cast<int>(active.size()) > desired) {
    std::vector<const GpuInstance*> order = active;
    std::stable_sort(order.begin(), order.end(), [&](const auto* a, const auto* b) {
      const bool la = launched(*a), lb = launched(*b);
      if (la != lb) return !la;  // nothing paid yet: first
      if (!la) return a->metadata.name > b->metadata.name;
      const Time ba = boundary_of(*a, now), bb = boundary_of(*b, now);
      if (ba != bb) return ba < bb;
      return a->metadata.name < b->metadata.name;
    });
    const size_t excess = active.size() - static_cast<size_t>(desired);
    for (size_t k = 0; k < excess; ++k) {
      const auto* a = order[k];
      active_burn -= price_of(*a);
      active.erase(std::find(active.begin(), active.end(), a));
      if (launched(*a)) {
        out.park.push_back(a->metadata.name);
        newly_parked.push_back(a);
        out.events.push_back({"Normal", "ParkingInstance",
                              "scaling down to " + std::to_string(desired) + ": parked " +
                                  a->metadata.name +
                                  "; it ends before its next billing increment"});
      } else {
        out.end.push_back(a->metadata.name);
        out.events.push_back({"Normal", "EndingInstance",
                              "scaling down to " + std::to_string(desired) + ": ending " +
                                  a->metadata.name + " (not launched yet, nothing paid)"});
      }
    }
  }
  (void)budget_limited_active;

  // 4. Scale up: un-park first, then buy.
  int created = 0;
  bool budget_shortfall = false;
  std::string shortfall;
  std::vector<const GpuInstance*> still_parked;
  {
    std::vector<const GpuInstance*> order = parked;
    std::stable_sort(order.begin(), order.end(), [&](const auto* a, const auto* b) {
      const Time ba = boundary_of(*a, now), bb = boundary_of(*b, now);
      if (ba != bb) return ba > bb;  // most paid time left first
      return a->metadata.name < b->metadata.name;
    });
    int need = desired - static_cast<int>(active.size());
    for (const auto* p : order) {
      if (need > 0 && budget_reason.empty() && fits(active_burn + price_of(*p))) {
        out.unpark.push_back(p->metadata.name);
        active_burn += price_of(*p);
        --need;
        out.events.push_back({"Normal", "UnparkingInstance",
                              "demand returned: re-using parked " + p->metadata.name +
                                  " (its paid time is already spent)"});
      } else {
        still_parked.push_back(p);
      }
    }
    int active_after = static_cast<int>(active.size()) + static_cast<int>(out.unpark.size());
    need = desired - active_after;
    if (need > 0 && budget_reason.empty()) {
      planner::Request req;
      req.machines = need;
      req.spend.hourly_burn = active_burn;
      req.spend.month_to_date_and_committed = spend0.month_to_date + extra_committed;
      req.offers = in.offers;
      req.unavailable = in.unavailable;
      req.providers = in.providers;
      req.now = now;
      auto plan = planner::plan(spec, req);
      if (!plan.ok()) {
        shortfall = "cannot plan: " + plan.error().message;
      } else {
        for (const auto& choice : plan->choices) {
          const Offer& offer = plan->offers[choice.offer].offer;
          for (int k = 0; k < choice.machines; ++k) {
            GpuInstance inst;
            inst.metadata.name = instance_name(pool, out.next_ordinal++);
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
            inst.metadata.finalizers.push_back(kFinalizer);
            inst.spec.pool = pool.metadata.name;
            inst.spec.offer = api::offer_spec_from(offer);
            inst.spec.usage = spec.usage;
            inst.status.phase = InstancePhase::Pending;
            out.events.push_back({"Normal", "CreatingInstance",
                                  "buying " + inst.metadata.name + " on " +
                                      planner::offer_key(offer) + " at " +
                                      money_text(offer.price_per_hour) + "/h: " + choice.reason});
            out.create.push_back(std::move(inst));
            ++created;
          }
        }
        if (plan->placed < need) {
          shortfall = plan->shortfall;
          api::GpuPoolSpec unlimited = spec;
          unlimited.budget = {};
          auto plan2 = planner::plan(unlimited, req);
          if (plan2.ok() && plan2->placed > plan->placed) budget_shortfall = true;
        }
      }
    } else if (need > 0) {
      budget_shortfall = true;
    }
  }

  // 5. Parked instances end just before their next billing increment.
  std::optional<Time> next_end;
  auto schedule = [&](const GpuInstance* p) {
    if (!launched(*p)) {
      out.end.push_back(p->metadata.name);
      return;
    }
    const Time boundary = boundary_of(*p, now);
    const Time end_at =
        boundary - Duration{std::max<int64_t>(0, spec.lifecycle.park_margin_seconds)};
    if (now >= end_at) {
      out.end.push_back(p->metadata.name);
      out.events.push_back({"Normal", "EndingParkedInstance",
                            "ending parked " + p->metadata.name + " before its next billing " +
                                "increment at " + format_rfc3339(boundary)});
    } else if (!next_end || end_at < *next_end) {
      next_end = end_at;
    }
  };
  for (const auto* p : still_parked)
    schedule(p);
  for (const auto* p : newly_parked)
    schedule(p);
  const int parked_after =
      static_cast<int>(still_parked.size() + newly_parked.size()) -
      static_cast<int>(std::count_if(out.end.begin(), out.end.end(), [&](const std::string& n) {
        for (const auto* p : still_parked)
          if (p->metadata.name == n) return true;
        for (const auto* p : newly_parked)
          if (p->metadata.name == n) return true;
        return false;
      }));

  // 6. Status.
  api::GpuPoolStatus st = pool.status;
  st.observed_generation = pool.metadata.generation;
  st.terminated_spend = in.ledger.total;
  st.selector = std::string(kLabelPool) + "=" + pool.metadata.name;
  int provisioning = created, ready = 0;
  auto count_active = [&](const GpuInstance& i) {
    if (i.status.phase == InstancePhase::Pending || i.status.phase == InstancePhase::Provisioning) {
      ++provisioning;
    } else {
      ++ready;
    }
  };
  for (const auto* a : active)
    count_active(*a);
  for (const auto& n : out.unpark) {
    (void)n;
    ++ready;  // parked instances were running
  }
  st.replicas.desired = desired;
  st.replicas.provisioning = provisioning;
  st.replicas.ready = ready;
  st.replicas.parked = parked_after;

  api::SpendStatus sp = spend0;
  api::SpendStatus old_sp = pool.status.spend;
  sp.last_updated.reset();
  old_sp.last_updated.reset();
  sp.last_updated = (sp == old_sp && pool.status.spend.last_updated)
                        ? pool.status.spend.last_updated
                        : std::optional<Time>(now);
  st.spend = sp;

  const std::string counts = std::to_string(ready) + "/" + std::to_string(desired) +
                             " machines ready, " + std::to_string(provisioning) +
                             " provisioning, " + std::to_string(parked_after) + " parked";
  set_condition(st.conditions, ready >= desired
                                   ? cond("Ready", true, "AllMachinesReady", counts, in)
                                   : cond("Ready", false, "WaitingForMachines", counts, in));

  const bool scaling_up = created > 0 || provisioning > 0 || !out.unpark.empty();
  const bool scaling_down = !out.park.empty() || !out.end.empty() || parked_after > 0 || ending > 0;
  if (scaling_up) {
    set_condition(st.conditions, cond("Progressing", true, "ScalingUp", counts, in));
  } else if (scaling_down) {
    std::string msg = counts;
    if (next_end) msg += "; next parked machine ends at " + format_rfc3339(*next_end);
    set_condition(st.conditions, cond("Progressing", true, "Draining", msg, in));
  } else {
    set_condition(st.conditions, cond("Progressing", false, "Stable", counts, in));
  }

  std::string degraded_reason, degraded_message;
  if (!in.provider_problems.empty()) {
    degraded_reason = "ProviderUnavailable";
    for (const auto& p : in.provider_problems) {
      degraded_message += (degraded_message.empty() ? "" : "; ") + p;
    }
  } else if (!shortfall.empty() && !budget_shortfall) {
    degraded_reason = "NoOffers";
    degraded_message = "cannot place " + std::to_string(desired - ready - provisioning) +
                       " machine(s): " + shortfall +
                       ". Add providers or regions, accept more GPU models, or raise "
                       "maxPricePerGpuHour.";
  } else if (!failed.empty()) {
    degraded_reason = "InstancesFailed";
    degraded_message = std::to_string(failed.size()) + " instance(s) failed and are being replaced";
  }
  if (!degraded_reason.empty()) {
    if (degraded_reason == "NoOffers" && !was_true_with(pool, "Degraded", "NoOffers")) {
      out.events.push_back({"Warning", "NoOffers", degraded_message});
    }
    set_condition(st.conditions, cond("Degraded", true, degraded_reason, degraded_message, in));
  } else {
    set_condition(st.conditions, cond("Degraded", false, "AsExpected", "", in));
  }

  if (!budget_reason.empty()) {
    set_condition(st.conditions, cond("BudgetExceeded", true, budget_reason, budget_message, in));
  } else if (budget_shortfall) {
    std::string msg = "scale-up stopped at " + std::to_string(ready + provisioning) + "/" +
                      std::to_string(desired) + " machines: one more would push ";
    if (hourly_cap)
      msg += "the hourly burn over spec.budget.maxUsdPerHour (" + money_text(*hourly_cap) + ")";
    if (hourly_cap && month_cap) msg += " or ";
    if (month_cap)
      msg +=
          "the month projection over spec.budget.maxUsdPerMonth (" + money_text(*month_cap) + ")";
    msg += ". Current burn " + money_text(active_burn) + "/h. Raise the cap or lower the replicas.";
    if (!was_true_with(pool, "BudgetExceeded", "BudgetCapReached")) {
      out.events.push_back({"Warning", "BudgetExceeded", msg});
    }
    set_condition(st.conditions, cond("BudgetExceeded", true, "BudgetCapReached", msg, in));
  } else {
    set_condition(st.conditions, cond("BudgetExceeded", false, "WithinBudget",
                                      "burn " + money_text(active_burn) + "/h", in));
  }
  out.status = std::move(st);

  // 7. Requeue.
  out.next_park_end = next_end;
  if (next_end) {
    out.requeue_at = next_end;
  }
  if (!in.instances.empty() || desired > 0) {
    const Time resync = now + kResync;
    if (!out.requeue_at || resync < *out.requeue_at) out.requeue_at = resync;
  }
  return out;
}

}  // namespace gpupool::decision
