#include "operator/core/planner.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <tuple>

#include "operator/core/billing.h"
#include "operator/core/spend.h"

namespace gpupool::planner {
namespace {

std::string usd(Money m) {
  return "$" + m.to_string_fixed(2);
}

std::string usd(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "$%.2f", v);
  return buf;
}

std::string hours_text(double h) {
  char buf[64];
  if (h < 1.0) {
    std::snprintf(buf, sizeof buf, "%gmin", std::round(h * 60.0 * 100.0) / 100.0);
  } else {
    std::snprintf(buf, sizeof buf, "%gh", std::round(h * 100.0) / 100.0);
  }
  return buf;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string label(const Offer& o) {
  return o.provider + " " + o.id + (o.region.empty() ? "" : " @" + o.region);
}

std::string month_text(Time t) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()));
  return buf;
}

// Why an offer cannot be priced at all; empty when it can.
std::string malformed(const Offer& o) {
  std::vector<std::string> why;
  if (o.gpu_count < 1) why.emplace_back("GPUs per machine < 1");
  if (o.price_per_hour < Money()) why.emplace_back("negative price");
  if (o.price_per_hour > limits::kMaxPricePerHour) {
    why.emplace_back("price " + o.price_per_hour.to_string() + "/h over the sane maximum " +
                     limits::kMaxPricePerHour.to_string());
  }
  if (o.billing.increment.count() <= 0) why.emplace_back("billing increment <= 0");
  if (o.billing.minimum.count() < 0) why.emplace_back("negative billing minimum");
  if (o.billing.egress_per_gb < Money()) why.emplace_back("negative egress price");
  if (o.billing.egress_per_gb > limits::kMaxEgressPerGb) {
    why.emplace_back("egress price " + o.billing.egress_per_gb.to_string() +
                     "/GB over the sane maximum " + limits::kMaxEgressPerGb.to_string());
  }
  return why.empty() ? "" : "malformed offer: " + join(why, ", ");
}

struct Context {
  const api::GpuPoolSpec& spec;
  const Request& req;
  double hours;
  Duration run;
  Time month_end;
  Money month_base;  // Request::spend.projected_month
};

Money egress_per_hour(const Context& c, const Offer& o) {
  return billing::egress_per_hour(o.billing, c.spec.egress.gb_per_gpu_hour, o.gpu_count);
}

// Cost of one new machine of `o` from now to the month end, egress included:
// the same function spend uses for the rest of the month of a running machine.
Money cost_to_month_end(const Context& c, const Offer& o) {
  return billing::cost_between(o.billing, o.price_per_hour, egress_per_hour(c, o), std::nullopt,
                               c.req.now, c.month_end);
}

int64_t rank_key(const RankedOffer& r) {
  if (!std::isfinite(r.cost_per_unit_hour)) return std::numeric_limits<int64_t>::max();
  const double nano = r.cost_per_unit_hour * 1e9;
  if (nano >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (nano <= -9.2e18) return std::numeric_limits<int64_t>::min();
  return std::llround(nano);
}

RankedOffer assess(const Context& c, const Offer& o) {
  const api::GpuPoolSpec& spec = c.spec;
  RankedOffer r;
  r.offer = o;
  r.key = offer_key(o);
  const api::PoolProviderRef* ref = nullptr;
  for (size_t i = 0; i < spec.providers.size(); ++i) {
    if (spec.providers[i].name == o.provider) {
      r.preference = static_cast<int>(i);
      ref = &spec.providers[i];
      break;
    }
  }
  const api::GpuModelSpec* model = nullptr;
  for (const api::GpuModelSpec& m : spec.gpu.models) {
    if (iequals(m.name, o.gpu_model)) {
      model = &m;
      break;
    }
  }
  r.weight = model != nullptr ? model->throughput_weight : 0.0;

  const std::string bad = malformed(o);
  if (!bad.empty()) {
    r.cost_per_unit_hour = std::numeric_limits<double>::infinity();
    r.reasons.push_back(bad);
    return r;
  }

  r.throughput = o.gpu_count * r.weight;
  r.price_per_gpu_hour = o.price_per_hour.scaled(1, o.gpu_count);
  r.compute_cost = billing::cost_for_run(o.billing, o.price_per_hour, c.req.now, c.run);
  r.egress_gb = spec.egress.gb_per_gpu_hour * o.gpu_count * c.hours;
  r.egress_per_hour = egress_per_hour(c, o);
  r.egress_cost = r.egress_per_hour.for_duration(c.run);
  r.total_cost = r.compute_cost + r.egress_cost;
  r.hourly_burn = o.price_per_hour + r.egress_per_hour;
  // Offers of models the pool does not accept are ranked as if weight 1.
  const double units = r.throughput > 0 ? r.throughput : static_cast<double>(o.gpu_count);
  r.cost_per_unit_hour = c.req.ranking == Request::Ranking::ListPrice
                             ? o.price_per_hour.to_double() / units
                             : r.total_cost.to_double() / units / c.hours;

  std::vector<std::string>& why = r.reasons;
  if (model == nullptr) {
    std::vector<std::string> names;
    for (const api::GpuModelSpec& m : spec.gpu.models)
      names.push_back(m.name);
    why.emplace_back("GPU model " + o.gpu_model + " not accepted (pool accepts " +
                     join(names, ", ") + ")");
  }
  if (o.gpu_count != spec.gpu.count) {
    why.emplace_back(std::to_string(o.gpu_count) + " GPUs per machine; pool needs " +
                     std::to_string(spec.gpu.count));
  }
  if (ref == nullptr) {
    why.emplace_back("provider " + o.provider + " is not in the pool's providers");
  } else {
    if (!ref->regions.empty() &&
        std::find(ref->regions.begin(), ref->regions.end(), o.region) == ref->regions.end()) {
      why.emplace_back((o.region.empty() ? "region unknown" : "region " + o.region) +
                       "; pool allows only " + join(ref->regions, ", "));
    }
    if (ref->max_price_per_gpu_hour &&
        o.price_per_hour > *ref->max_price_per_gpu_hour * o.gpu_count) {
      why.emplace_back(usd(r.price_per_gpu_hour) + "/GPU-h is over the " + o.provider + " cap of " +
                       usd(*ref->max_price_per_gpu_hour) + "/GPU-h");
    }
  }
  if (o.tier == ReliabilityTier::Community &&
      spec.reliability == api::ReliabilityRequirement::Datacenter) {
    why.emplace_back("community-tier host; pool requires Datacenter");
  }
  if (o.spot && !spec.spot.allowed) why.emplace_back("spot offer; pool does not allow spot");
  if (o.capacity_hint == 0) why.emplace_back("no capacity (provider reports 0 available)");
  if (c.req.unavailable.count(r.key) != 0) {
    why.emplace_back("marked unavailable (a recent purchase found no capacity)");
  }
  if (auto it = c.req.providers.find(o.provider); it != c.req.providers.end()) {
    const ProviderState& st = it->second;
    if (st.paused) why.emplace_back("provider " + o.provider + " is paused");
    if (st.max_instances && st.instances + 1 > *st.max_instances) {
      why.emplace_back("provider quota full (" + std::to_string(st.instances) + "/" +
                       std::to_string(*st.max_instances) + " instances)");
    }
    if (st.max_gpus && st.gpus + o.gpu_count > *st.max_gpus) {
      why.emplace_back("provider quota full (" + std::to_string(st.gpus) + "+" +
                       std::to_string(o.gpu_count) + " GPUs > " + std::to_string(*st.max_gpus) +
                       ")");
    }
  }
  if (spec.budget.max_usd_per_hour) {
    const Money burn = c.req.spend.hourly_burn + r.hourly_burn;
    if (burn > *spec.budget.max_usd_per_hour) {
      why.emplace_back("budget: hourly burn would be " + usd(burn) + "/h, over the " +
                       usd(*spec.budget.max_usd_per_hour) + "/h cap");
    }
  }
  if (spec.budget.max_usd_per_month) {
    const Money month = c.month_base + cost_to_month_end(c, o);
    if (month > *spec.budget.max_usd_per_month) {
      why.emplace_back("budget: " + month_text(c.req.now) + " would project " + usd(month) +
                       ", over the " + usd(*spec.budget.max_usd_per_month) + " monthly cap");
    }
  }
  r.eligible = why.empty();
  return r;
}

// "Bridging" (planner.h): prices each eligible fine-grained offer as the
// cheapest "it until a wall-clock offer's next slot, then that offer" pair
// when that is cheaper than the offer alone.
void bridge(const Context& c, std::vector<RankedOffer>& offers) {
  const api::LifecycleSpec& lc = c.spec.lifecycle;
  if (c.req.ranking != Request::Ranking::TotalCost || lc.consolidation_lead_seconds <= 0) return;
  const Duration fine{std::max<int64_t>(0, lc.min_park_seconds)};
  const Duration handover{lc.consolidation_lead_seconds};
  const Time now = c.req.now;
  const Time end = now + c.run;
  for (RankedOffer& p : offers) {
    if (!p.eligible || p.offer.billing.increment > fine) continue;
    for (const RankedOffer& w : offers) {
      const BillingRule& rule = w.offer.billing;
      if (!w.eligible || rule.alignment != BillingAlignment::WallClock || rule.increment <= fine ||
          w.offer.gpu_count != p.offer.gpu_count) {
        continue;
      }
      const Time from = billing::next_slot_start(rule, now);
      if (from + handover >= end) continue;  // P alone serves the whole need
      const Duration first = from + handover - now;
      const Money compute =
          billing::cost_for_run(p.offer.billing, p.offer.price_per_hour, now, first) +
          billing::cost_for_run(rule, w.offer.price_per_hour, from, end - from);
      const Money egress =
          p.egress_per_hour.for_duration(first) + w.egress_per_hour.for_duration(end - from);
      if (compute + egress >= p.total_cost) continue;
      p.compute_cost = compute;
      p.egress_cost = egress;
      p.total_cost = compute + egress;
      p.bridge = RankedOffer::Bridge{w.key, from};
    }
    if (p.bridge) {
      const double units = p.throughput > 0 ? p.throughput : static_cast<double>(p.offer.gpu_count);
      p.cost_per_unit_hour = p.total_cost.to_double() / units / c.hours;
    }
  }
}

// How many machines of `per` fit in `room`; `per` <= 0 means unlimited.
int64_t fits(Money room, Money per) {
  if (room < Money()) return 0;
  if (per <= Money()) return std::numeric_limits<int>::max();
  return room.micros() / per.micros();
}

}  // namespace

std::string offer_key(const Offer& o) {
  return o.provider + "/" + o.id + "/" + o.region;
}

Time month_end(Time t) {
  return spend::month_end(t);
}

Result<Plan, PlanError> plan(const api::GpuPoolSpec& spec, const Request& req) {
  const auto invalid = [](std::string message) {
    return fail(PlanError{PlanError::Kind::InvalidInput, std::move(message)});
  };
  if (req.machines < 0) {
    return invalid("machines: must be >= 0 (got " + std::to_string(req.machines) + ")");
  }
  if (spec.gpu.models.empty()) return invalid("spec.gpu.models: at least one model is required");
  for (size_t i = 0; i < spec.gpu.models.size(); ++i) {
    const api::GpuModelSpec& m = spec.gpu.models[i];
    const std::string path = "spec.gpu.models[" + std::to_string(i) + "]";
    if (m.name.empty()) return invalid(path + ".name: must not be empty");
    if (!std::isfinite(m.throughput_weight) || m.throughput_weight <= 0) {
      return invalid(path + ".throughputWeight: must be > 0");
    }
  }
  if (spec.gpu.count < 1) return invalid("spec.gpu.count: must be >= 1");
  if (spec.providers.empty()) return invalid("spec.providers: at least one provider is required");
  const double egress = spec.egress.gb_per_gpu_hour;
  if (!std::isfinite(egress) || egress < 0 || egress > 1e9) {
    return invalid("spec.egress.gbPerGpuHour: must be between 0 and 1e9");
  }
  if (spec.budget.max_usd_per_hour && *spec.budget.max_usd_per_hour < Money()) {
    return invalid("spec.budget.maxUsdPerHour: must be >= 0");
  }
  if (spec.budget.max_usd_per_month && *spec.budget.max_usd_per_month < Money()) {
    return invalid("spec.budget.maxUsdPerMonth: must be >= 0");
  }
  Plan out;
  out.lifetime_hours = kDefaultLifetimeHours;
  out.lifetime_defaulted = true;
  std::string lifetime_path = "lifetime";
  if (req.lifetime_hours) {
    out.lifetime_hours = *req.lifetime_hours;
    out.lifetime_defaulted = false;
  } else if (spec.planning.expected_lifetime_hours) {
    out.lifetime_hours = *spec.planning.expected_lifetime_hours;
    out.lifetime_defaulted = false;
    lifetime_path = "spec.planning.expectedLifetimeHours";
  }
  if (!std::isfinite(out.lifetime_hours) || out.lifetime_hours <= 0 ||
      out.lifetime_hours > kMaxLifetimeHours) {
    return invalid(lifetime_path + ": hours must be > 0 and <= 1000000");
  }

  out.reference_model = "weight-1.0";
  for (const api::GpuModelSpec& m : spec.gpu.models) {
    if (m.throughput_weight == 1.0) {
      out.reference_model = m.name;
      break;
    }
  }
  out.requested = req.machines;
  out.month_end = month_end(req.now);
  const Money base = req.spend.projected_month;
  const Context c{spec,
                  req,
                  out.lifetime_hours,
                  Duration(std::max<int64_t>(1, std::llround(out.lifetime_hours * 3600.0))),
                  out.month_end,
                  base};

  std::vector<RankedOffer> assessed;
  assessed.reserve(req.offers.size());
  for (const Offer& o : req.offers)
    assessed.push_back(assess(c, o));
  bridge(c, assessed);
  std::vector<size_t> order(assessed.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const auto sort_key = [&](size_t i) {
    const RankedOffer& r = assessed[i];
    return std::make_tuple(
        !r.eligible, rank_key(r), r.preference < 0 ? std::numeric_limits<int>::max() : r.preference,
        std::cref(r.offer.provider), std::cref(r.offer.id), std::cref(r.offer.region));
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sort_key(a) < sort_key(b); });
  for (size_t i : order)
    out.offers.push_back(std::move(assessed[i]));

  // Selection.
  const std::string unit = " per " + out.reference_model + "-eq GPU-hour";
  std::map<std::string, std::pair<int, int>> used;  // provider -> (instances, gpus) added
  Money added_month;
  int remaining = req.machines;
  std::vector<std::string> limits;  // why earlier offers stopped taking machines
  for (size_t i = 0; i < out.offers.size() && remaining > 0; ++i) {
    const RankedOffer& r = out.offers[i];
    if (!r.eligible) break;  // eligible offers come first
    int take = remaining;
    std::string limit;
    const auto cap_to = [&](int64_t room, std::string why) {
      if (room < take) {
        take = static_cast<int>(std::max<int64_t>(0, room));
        limit = std::move(why);
      }
    };
    if (r.offer.capacity_hint >= 0) {
      cap_to(r.offer.capacity_hint,
             "capacity for " + std::to_string(r.offer.capacity_hint) + " machine(s)");
    }
    auto& u = used[r.offer.provider];
    if (auto it = req.providers.find(r.offer.provider); it != req.providers.end()) {
      if (it->second.max_instances) {
        cap_to(*it->second.max_instances - it->second.instances - u.first,
               "provider quota of " + std::to_string(*it->second.max_instances) + " instances");
      }
      if (it->second.max_gpus) {
        cap_to((*it->second.max_gpus - it->second.gpus - u.second) / r.offer.gpu_count,
               "provider quota of " + std::to_string(*it->second.max_gpus) + " GPUs");
      }
    }
    if (spec.budget.max_usd_per_hour) {
      cap_to(fits(*spec.budget.max_usd_per_hour - req.spend.hourly_burn - out.added_hourly,
                  r.hourly_burn),
             "hourly budget cap " + usd(*spec.budget.max_usd_per_hour) + "/h");
    }
    if (spec.budget.max_usd_per_month) {
      cap_to(
          fits(*spec.budget.max_usd_per_month - base - added_month, cost_to_month_end(c, r.offer)),
          "monthly budget cap " + usd(*spec.budget.max_usd_per_month));
    }
    if (take > 0) {
      std::string reason;
      if (out.choices.empty()) {
        reason = "lowest expected cost for " + hours_text(out.lifetime_hours) + ": " +
                 usd(r.total_cost) + " per machine, " + usd(r.cost_per_unit_hour) + unit;
        // Compare with the best offer of another provider: a tie broken by
        // the provider order, or the runner-up.
        const RankedOffer* next = nullptr;
        for (size_t j = i + 1; j < out.offers.size() && out.offers[j].eligible; ++j) {
          if (out.offers[j].offer.provider != r.offer.provider) {
            next = &out.offers[j];
            break;
          }
        }
        if (next != nullptr && rank_key(*next) == rank_key(r)) {
          reason += "; tied with " + label(next->offer) + ", preferred by provider order";
        } else if (next != nullptr) {
          reason += "; next: " + label(next->offer) + " " + usd(next->total_cost) + " (" +
                    usd(next->cost_per_unit_hour) + "/eq GPU-hour)";
        }
      } else {
        reason = "spill-over (" + limits.back() + "): next cheapest at " + usd(r.total_cost) +
                 " per machine, " + usd(r.cost_per_unit_hour) + unit;
      }
      if (r.bridge) {
        reason += "; a bridge: " + r.offer.provider + " until " + r.bridge->to + " takes over at " +
                  format_rfc3339(r.bridge->from) + " (its clock slot starts)";
      }
      out.choices.push_back(Choice{i, take, std::move(reason)});
      remaining -= take;
      out.placed += take;
      u.first += take;
      u.second += take * r.offer.gpu_count;
      out.added_hourly += r.hourly_burn * take;
      added_month += cost_to_month_end(c, r.offer) * take;
      out.expected_total += r.total_cost * take;
    }
    if (remaining > 0) limits.push_back(label(r.offer) + ": " + limit);
  }
  if (remaining > 0) {
    const bool any_eligible = !out.offers.empty() && out.offers.front().eligible;
    std::string why;
    if (any_eligible) {
      why = join(limits, "; ");
    } else if (out.offers.empty()) {
      why = "no offers";
    } else {
      why = "no eligible offer; the cheapest, " + label(out.offers.front().offer) +
            ", is excluded: " + join(out.offers.front().reasons, "; ");
    }
    out.shortfall = std::to_string(remaining) + " of " + std::to_string(req.machines) +
                    " machine(s) not placed: " + why;
  }
  out.projected_hourly = req.spend.hourly_burn + out.added_hourly;
  out.projected_month = base + added_month;
  return out;
}

}  // namespace gpupool::planner
