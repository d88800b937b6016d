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

// Final (or current) bill split into the months it was billed in, newest last.
std::map<std::string, Money> by_month(const api::GpuInstanceStatus& s, Time now) {
  std::map<std::string, Money> out;
  auto b = billed_of(s);
  if (!b) return out;
  const Time end = s.ended_at ? std::min(*s.ended_at, now) : now;
  Money remaining = billing::committed(b->rule, b->price, b->launch, end);
  Time t = end;
  // Walk back month by month until the launch month (bounded: 600 months).
  for (int i = 0; i < 600 && remaining > Money{}; ++i) {
    const Time start = month_start(t);
    // What was billed before this month: ending exactly at 00:00 does not
    // start the increment beginning then, so committed(start) is exactly the
    // increments started in earlier months.
    const Money before_strict =
        start <= b->launch ? Money{} : billing::committed(b->rule, b->price, b->launch, start);
    const Money part = remaining - before_strict;
    if (!part.is_zero()) out[month_of(t)] += part;
    remaining = before_strict;
    if (start <= b->launch) break;
    t = start - Duration{1};
  }
  return out;
}

}  // namespace

std::string month_of(Time t) {
  const auto ymd = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(t)};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()));
  return buf;
}

Time month_start(Time t) {
  const auto ymd = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(t)};
  const std::chrono::sys_days first{ymd.year() / ymd.month() / std::chrono::day{1}};
  return Time{first};
}

InstanceSpend instance_spend(const api::GpuInstanceStatus& status, Time now) {
  InstanceSpend out;
  auto b = billed_of(status);
  if (!b) return out;
  out.billed = true;
  const Time end = status.ended_at ? std::min(*status.ended_at, now) : now;
  out.accrued = billing::accrued(b->rule, b->price, b->launch, end);
  out.committed = billing::committed(b->rule, b->price, b->launch, end);
  if (!status.ended_at) out.burn = b->price;
  auto months = by_month(status, now);
  auto it = months.find(month_of(now));
  if (it != months.end()) out.month = it->second;
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
  return doc.dump();
}

bool was_folded(const SpendLedger& ledger, std::string_view instance) {
  return std::find(ledger.folded.begin(), ledger.folded.end(), instance) != ledger.folded.end();
}

bool fold(SpendLedger& ledger, std::string_view instance, const api::GpuInstanceStatus& status,
          Time now) {
  if (was_folded(ledger, instance)) return false;
  for (const auto& [month, part] : by_month(status, now)) {
    ledger.months[month] += part;
    ledger.total += part;
  }
  while (ledger.months.size() > kLedgerMonths)
    ledger.months.erase(ledger.months.begin());
  ledger.folded.emplace_back(instance);
  if (ledger.folded.size() > kLedgerFoldedNames) {
    ledger.folded.erase(ledger.folded.begin(),
                        ledger.folded.begin() +
                            static_cast<std::ptrdiff_t>(ledger.folded.size() - kLedgerFoldedNames));
  }
  return true;
}

api::SpendStatus pool_spend(const std::vector<api::GpuInstance>& instances,
                            const SpendLedger& ledger, Time now) {
  api::SpendStatus s;
  s.month = month_of(now);
  s.accrued = ledger.total;
  s.committed = ledger.total;
  if (auto it = ledger.months.find(s.month); it != ledger.months.end())
    s.month_to_date = it->second;
  for (const auto& inst : instances) {
    const InstanceSpend i = instance_spend(inst.status, now);
    s.accrued += i.accrued;
    s.committed += i.committed;
    s.hourly_burn += i.burn;
    s.month_to_date += i.month;
  }
  return s;
}

}  // namespace gpupool::spend
