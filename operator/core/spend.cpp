#include "operator/core/spend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "operator/core/billing.h"

namespace gpupool::spend {
namespace {

struct Billed {
  BillingRule rule;
  Money price;
  Time launch;
};

std::optional<Billed> billed_of(const api::GpuInstanceStatus& s) {
  if (!s.launch_time || !s.price_per_hour || !s.billing) return std::nullopt;
  return Billed{*s.billing, *s.price_per_hour, *s.launch_time};
}

Time end_of(const api::GpuInstanceStatus& s, Time now) {
  return s.ended_at ? std::min(*s.ended_at, now) : now;
}

// Egress estimate for the time the machine existed in [from, to).
Money egress_between(const Billed& b, Money egress_per_hour, Time from, Time to) {
  from = std::max(from, b.launch);
  return to > from ? egress_per_hour.for_duration(to - from) : Money{};
}

// Compute cost plus egress billed by `t` (what ending at t costs).
Money cost_until(const Billed& b, Money egress_per_hour, Time t) {
  return billing::committed(b.rule, b.price, b.launch, t) +
         egress_between(b, egress_per_hour, b.launch, t);
}

}  // namespace

std::string month_of(Time t) {
  const auto ymd = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(t)};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()));
  return buf;
}

Time month_end(Time t) {
  using namespace std::chrono;
  const year_month_day ymd{floor<days>(t)};
  const year_month next = year_month{ymd.year(), ymd.month()} + months{1};
  return Time(sys_days{next / 1}.time_since_epoch());
}

Time month_start(Time t) {
  const auto ymd = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(t)};
  const std::chrono::sys_days first{ymd.year() / ymd.month() / std::chrono::day{1}};
  return Time{first};
}

std::map<std::string, Money> spend_by_month(const api::GpuInstanceStatus& status,
                                            Money egress_per_hour, Time now) {
  std::map<std::string, Money> out;
  auto b = billed_of(status);
  if (!b) return out;
  const Time end = end_of(status, now);
  Money remaining = cost_until(*b, egress_per_hour, end);
  Time t = end;
  // Walk back month by month until the launch month (bounded: 600 months).
  for (int i = 0; i < 600 && remaining > Money{}; ++i) {
    const Time start = month_start(t);
    // What was billed before this month: ending exactly at 00:00 does not
    // start the increment beginning then, so committed(start) is exactly the
    // increments started in earlier months.
    const Money before = start <= b->launch ? Money{} : cost_until(*b, egress_per_hour, start);
    const Money part = remaining - before;
    if (!part.is_zero()) out[month_of(t)] += part;
    remaining = before;
    if (start <= b->launch) break;
    t = start - Duration{1};
  }
  return out;
}

bool buys_time(const api::GpuInstance& i) {
  using api::InstancePhase;
  if (i.metadata.deletion_timestamp || i.status.ended_at) return false;
  switch (i.status.phase) {
    case InstancePhase::Parked:
    case InstancePhase::Terminating:
    case InstancePhase::Terminated:
    case InstancePhase::Failed:
      return false;
    default:
      return true;
  }
}

InstanceSpend instance_spend(const api::GpuInstanceStatus& status, Money egress_per_hour,
                             Time now) {
  InstanceSpend out;
  auto b = billed_of(status);
  if (!b) return out;
  out.billed = true;
  const Time end = end_of(status, now);
  out.accrued = cost_until(*b, egress_per_hour, end);
  out.committed = out.accrued;
  out.paid_through = billing::paid_through(b->rule, b->launch, end);
  auto months = spend_by_month(status, egress_per_hour, now);
  if (auto it = months.find(month_of(now)); it != months.end()) out.month = it->second;
  return out;
}

Money active_burn(const api::GpuInstance& instance) {
  const api::OfferSpec& offer = instance.spec.offer;
  auto b = billed_of(instance.status);
  return (b ? b->price : offer.price_per_hour) + offer.egress_usd_per_hour;
}

Money active_rest_of_month(const api::GpuInstance& instance, Time now) {
  const api::OfferSpec& offer = instance.spec.offer;
  auto b = billed_of(instance.status);
  if (!b) {
    return billing::cost_between(offer.billing, offer.price_per_hour, offer.egress_usd_per_hour,
                                 std::nullopt, now, month_end(now));
  }
  return billing::cost_between(b->rule, b->price, offer.egress_usd_per_hour, b->launch, now,
                               month_end(now));
}

InstanceSpend instance_spend(const api::GpuInstance& instance, Time now) {
  InstanceSpend out = instance_spend(instance.status, instance.spec.offer.egress_usd_per_hour, now);
  if (buys_time(instance)) {
    out.burn = active_burn(instance);
    out.rest_of_month = active_rest_of_month(instance, now);
  }
  return out;
}

Result<SpendLedger, LedgerError> parse_ledger(std::string_view text) {
  SpendLedger out;
  if (text.empty()) return out;
  auto bad = [](std::string m) {
    return fail(LedgerError{LedgerError::Kind::Invalid, std::move(m)});
  };
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad("spend ledger: not a JSON object");
  auto money = [](const nlohmann::json& v) -> std::optional<Money> {
    if (!v.is_string()) return std::nullopt;
    return Money::parse(v.get<std::string>());
  };
  if (doc.contains("total")) {
    auto m = money(doc["total"]);
    if (!m) return bad("spend ledger: total must be a decimal string");
    out.total = *m;
  }
  if (doc.contains("months")) {
    if (!doc["months"].is_object()) return bad("spend ledger: months must be an object");
    for (const auto& [k, v] : doc["months"].items()) {
      auto m = money(v);
      if (!m) return bad("spend ledger: months[" + k + "] must be a decimal string");
      out.months[k] = *m;
    }
  }
  if (doc.contains("providers")) {
    if (!doc["providers"].is_object()) return bad("spend ledger: providers must be an object");
    for (const auto& [k, v] : doc["providers"].items()) {
      auto m = money(v);
      if (!m) return bad("spend ledger: providers[" + k + "] must be a decimal string");
      out.providers[k] = *m;
    }
  }
  if (doc.contains("folded")) {
    if (!doc["folded"].is_array()) return bad("spend ledger: folded must be a list");
    for (const auto& v : doc["folded"]) {
      if (!v.is_string()) return bad("spend ledger: folded entries must be strings");
      out.folded.push_back(v.get<std::string>());
    }
  }
  return out;
}

std::string format_ledger(const SpendLedger& ledger) {
  nlohmann::json doc = nlohmann::json::object();
  doc["total"] = ledger.total.to_string();
  nlohmann::json months = nlohmann::json::object();
  for (const auto& [k, v] : ledger.months)
    months[k] = v.to_string();
  doc["months"] = months;
  doc["folded"] = ledger.folded;
  if (!ledger.providers.empty()) {
    nlohmann::json providers = nlohmann::json::object();
    for (const auto& [k, v] : ledger.providers)
      providers[k] = v.to_string();
    doc["providers"] = providers;
  }
  return doc.dump();
}

bool was_folded(const SpendLedger& ledger, std::string_view instance) {
  return std::find(ledger.folded.begin(), ledger.folded.end(), instance) != ledger.folded.end();
}

bool fold_amount(SpendLedger& ledger, std::string_view key,
                 const std::map<std::string, Money>& by_month, std::string_view provider) {
  if (was_folded(ledger, key)) return false;
  Money sum;
  for (const auto& [month, part] : by_month) {
    ledger.months[month] += part;
    ledger.total += part;
    sum += part;
  }
  if (!sum.is_zero()) ledger.providers[std::string(provider)] += sum;
  while (ledger.months.size() > kLedgerMonths)
    ledger.months.erase(ledger.months.begin());
  ledger.folded.emplace_back(key);
  if (ledger.folded.size() > kLedgerFoldedNames) {
    ledger.folded.erase(ledger.folded.begin(),
                        ledger.folded.begin() +
                            static_cast<std::ptrdiff_t>(ledger.folded.size() - kLedgerFoldedNames));
  }
  return true;
}

bool fold(SpendLedger& ledger, const api::GpuInstance& instance, Time now) {
  return fold_amount(ledger, instance.metadata.name,
                     spend_by_month(instance.status, instance.spec.offer.egress_usd_per_hour, now),
                     instance.spec.offer.provider);
}

api::SpendStatus pool_spend(const std::vector<api::GpuInstance>& instances,
                            const SpendLedger& ledger, Time now) {
  api::SpendStatus s;
  s.month = month_of(now);
  s.accrued = ledger.total;
  s.committed = ledger.total;
  if (auto it = ledger.months.find(s.month); it != ledger.months.end())
    s.month_to_date = it->second;
  Money rest;
  for (const auto& inst : instances) {
    if (was_folded(ledger, inst.metadata.name)) continue;  // already in ledger.total
    const InstanceSpend i = instance_spend(inst, now);
    s.accrued += i.accrued;
    s.committed += i.committed;
    s.hourly_burn += i.burn;
    s.month_to_date += i.month;
    rest += i.rest_of_month;
  }
  s.projected_month = s.month_to_date + rest;
  return s;
}

}  // namespace gpupool::spend
