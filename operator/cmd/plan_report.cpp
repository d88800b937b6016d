#include "operator/cmd/plan_report.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>

#include "operator/core/api_codec.h"
#include "operator/core/billing.h"

namespace gpupool::cmd {
namespace {

using nlohmann::json;

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string hours_text(double h) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%gh", h);
  return buf;
}

std::string usd(Money m) {
  return "$" + m.to_string_fixed(2);
}

// Fits `s` into `width` characters, marking a cut with '~'.
std::string fit(std::string s, size_t width) {
  if (s.size() > width) s = s.substr(0, width - 1) + "~";
  return s;
}
std::string left(const std::string& s, size_t width) {
  std::string out = fit(s, width);
  out.append(width - out.size(), ' ');
  return out;
}
std::string right(const std::string& s, size_t width) {
  std::string out = fit(s, width);
  return std::string(width - out.size(), ' ') + out;
}

// Word-wraps `text` to kTableWidth; the first line starts with `first`,
// later lines with `rest`.
void wrap(std::ostream& out, const std::string& first, const std::string& rest,
          const std::string& text) {
  std::istringstream words(text);
  std::string word;
  std::string line = first;
  bool empty = true;
  while (words >> word) {
    if (!empty && line.size() + 1 + word.size() > kTableWidth) {
      out << line << '\n';
      line = rest;
      empty = true;
    }
    if (!empty) line += ' ';
    line += word;
    empty = false;
  }
  out << line << '\n';
}

std::string pool_name(const api::GpuPool& pool) {
  const std::string& ns = pool.metadata.namespace_;
  return (ns.empty() ? std::string("default") : ns) + "/" + pool.metadata.name;
}

std::string offer_label(const Offer& o) {
  return o.provider + " " + o.id + " (" + (o.region.empty() ? "any region" : o.region) + ")";
}

std::string report_month_of(Time t) {
  return format_rfc3339(t).substr(0, 7);  // "2026-11"
}

json money_or_null(const std::optional<Money>& m) {
  return m ? json(m->to_string()) : json(nullptr);
}

}  // namespace

std::string render_table(const PlanReport& r) {
  const planner::Plan& p = r.plan;
  const api::GpuPoolSpec& spec = r.pool.spec;
  std::ostringstream out;

  std::string models;
  for (const api::GpuModelSpec& m : spec.gpu.models) {
    if (!models.empty()) models += ", ";
    models += m.name + " x" + fixed(m.throughput_weight, 2);
  }
  wrap(out, "", "  ",
       "Pool " + pool_name(r.pool) + ": " + std::to_string(p.requested) + " new machine(s) of " +
           std::to_string(spec.gpu.count) + " GPU(s); models " + models);
  wrap(out, "", "  ",
       "Lifetime " + hours_text(p.lifetime_hours) + (p.lifetime_defaulted ? " (default)" : "") +
           ", egress " + fixed(spec.egress.gb_per_gpu_hour, 2) + " GB per GPU-hour, now " +
           format_rfc3339(r.now) + ", catalog " + r.catalog_date);
  std::string budget = "Budget: ";
  budget +=
      spec.budget.max_usd_per_hour ? usd(*spec.budget.max_usd_per_hour) + "/h" : "no hourly cap";
  budget += ", ";
  budget += spec.budget.max_usd_per_month ? usd(*spec.budget.max_usd_per_month) + " per UTC month"
                                          : "no monthly cap";
  budget += "; current burn " + usd(r.spend.hourly_burn) + "/h, month projected before buying " +
            usd(r.spend.projected_month);
  wrap(out, "", "  ", budget);

  out << '\n';
  wrap(out, "", "  ",
       "RANKED OFFERS (one machine for " + hours_text(p.lifetime_hours) + "; $/EQ-H = TOTAL per " +
           p.reference_model + "-equivalent GPU-hour)");
  out << right("#", 3) << ' ' << left("PROVIDER", 13) << ' ' << left("OFFER", 23) << ' '
      << left("REGION", 10) << ' ' << right("GPUS", 7) << ' ' << right("$/H", 6) << ' '
      << right("EGRESS", 8) << ' ' << right("TOTAL", 9) << ' ' << right("$/EQ-H", 10) << '\n';
  int rank = 0;
  size_t hidden = 0;
  for (const planner::RankedOffer& o : p.offers) {
    if (o.eligible) ++rank;
    if (!o.eligible && !r.show_all && (o.weight == 0 || o.offer.gpu_count != spec.gpu.count)) {
      ++hidden;  // another GPU model or machine size: not a candidate at all
      continue;
    }
    const std::string rank_text = o.eligible ? std::to_string(rank) : "-";
    out << right(rank_text, 3) << ' ' << left(o.offer.provider, 13) << ' ' << left(o.offer.id, 23)
        << ' ' << left(o.offer.region.empty() ? "-" : o.offer.region, 10) << ' '
        << right(std::to_string(o.offer.gpu_count) + "x" + o.offer.gpu_model, 7) << ' '
        << right(o.offer.price_per_hour.to_string_fixed(2), 6) << ' '
        << right(o.egress_cost.to_string_fixed(2), 8) << ' '
        << right(o.total_cost.to_string_fixed(2), 9) << ' '
        << right(fixed(o.cost_per_unit_hour, 3), 10) << '\n';
    std::string detail = billing::describe(o.offer.billing);
    if (!o.offer.billing.egress_per_gb.is_zero()) {
      detail += ", egress " + usd(o.offer.billing.egress_per_gb) + "/GB";
    }
    if (o.offer.tier == ReliabilityTier::Community) detail += ", community";
    if (o.offer.spot) detail += ", spot";
    if (!o.eligible) {
      detail += "; NOT ELIGIBLE: ";
      for (size_t i = 0; i < o.reasons.size(); ++i)
        detail += (i ? "; " : "") + o.reasons[i];
    }
    wrap(out, "      ", "        ", detail);
  }
  if (p.offers.empty()) out << "  (no offers)\n";
  if (hidden > 0) {
    wrap(out, "  ", "  ",
         "(" + std::to_string(hidden) +
             " offer(s) of other GPU models or machine sizes not shown; --all lists them)");
  }

  out << '\n';
  wrap(out, "", "  ",
       "PLAN: " + std::to_string(p.requested) + " new machine(s), expected to run " +
           hours_text(p.lifetime_hours) + " each");
  for (const planner::Choice& c : p.choices) {
    const planner::RankedOffer& o = p.offers[c.offer];
    wrap(out, "  ", "    ",
         std::to_string(c.machines) + " x " + offer_label(o.offer) + ", " +
             usd(o.offer.price_per_hour) + "/h each");
    wrap(out, "      ", "      ", c.reason);
  }
  if (p.requested == 0) out << "  nothing to buy\n";
  if (!p.shortfall.empty()) wrap(out, "  NOT PLACED: ", "    ", p.shortfall);
  wrap(out, "  ", "    ",
       "Expected cost of the new machines over " + hours_text(p.lifetime_hours) + ": " +
           usd(p.expected_total));
  wrap(out, "  ", "    ",
       "Projected hourly burn: " + usd(p.projected_hourly) + "/h (" + usd(r.spend.hourly_burn) +
           " now + " + usd(p.added_hourly) + " new)" +
           (spec.budget.max_usd_per_hour ? "; cap " + usd(*spec.budget.max_usd_per_hour) + "/h"
                                         : ""));
  wrap(out, "  ", "    ",
       "Projected " + report_month_of(r.now) + " spend (to " + format_rfc3339(p.month_end) +
           "): " + usd(p.projected_month) +
           (spec.budget.max_usd_per_month ? "; cap " + usd(*spec.budget.max_usd_per_month) : ""));

  if (!r.notes.empty()) {
    out << "\nNOTES\n";
    for (const std::string& n : r.notes)
      wrap(out, "  - ", "    ", n);
  }
  return out.str();
}

json render_json(const PlanReport& r) {
  const planner::Plan& p = r.plan;
  const api::GpuPoolSpec& spec = r.pool.spec;
  json offers = json::array();
  int rank = 0;
  for (size_t i = 0; i < p.offers.size(); ++i) {
    const planner::RankedOffer& o = p.offers[i];
    json reasons = json::array();
    for (const std::string& s : o.reasons)
      reasons.push_back(s);
    offers.push_back({
        {"position", i + 1},
        {"rank", o.eligible ? json(++rank) : json(nullptr)},
        {"key", o.key},
        {"provider", o.offer.provider},
        {"providerType", o.offer.provider_type},
        {"offerId", o.offer.id},
        {"region", o.offer.region},
        {"gpuModel", o.offer.gpu_model},
        {"gpuCount", o.offer.gpu_count},
        {"tier", api::to_string(o.offer.tier)},
        {"spot", o.offer.spot},
        {"capacityHint", o.offer.capacity_hint},
        {"source", o.offer.source},
        {"listPricePerHour", o.offer.price_per_hour.to_string()},
        {"pricePerGpuHour", o.price_per_gpu_hour.to_string()},
        {"billing", api::encode(o.offer.billing)},
        {"billingSummary", billing::describe(o.offer.billing)},
        {"computeCost", o.compute_cost.to_string()},
        {"egressGb", o.egress_gb},
        {"egressCost", o.egress_cost.to_string()},
        {"totalCost", o.total_cost.to_string()},
        {"hourlyBurn", o.hourly_burn.to_string()},
        {"throughputWeight", o.weight},
        {"costPerEquivalentGpuHour", o.cost_per_unit_hour},
        {"eligible", o.eligible},
        {"reasons", reasons},
        {"bridge", o.bridge ? json{{"to", o.bridge->to}, {"from", format_rfc3339(o.bridge->from)}}
                            : json(nullptr)},
    });
  }
  json choices = json::array();
  for (const planner::Choice& c : p.choices) {
    const planner::RankedOffer& o = p.offers[c.offer];
    choices.push_back({{"position", c.offer + 1},
                       {"key", o.key},
                       {"provider", o.offer.provider},
                       {"offerId", o.offer.id},
                       {"region", o.offer.region},
                       {"machines", c.machines},
                       {"pricePerHour", o.offer.price_per_hour.to_string()},
                       {"reason", c.reason}});
  }
  json notes = json::array();
  for (const std::string& n : r.notes)
    notes.push_back(n);
  return json{
      {"schemaVersion", kPlanSchemaVersion},
      {"pool", {{"namespace", r.pool.metadata.namespace_}, {"name", r.pool.metadata.name}}},
      {"now", format_rfc3339(r.now)},
      {"catalogDate", r.catalog_date},
      {"lifetimeHours", p.lifetime_hours},
      {"lifetimeDefaulted", p.lifetime_defaulted},
      {"machinesRequested", p.requested},
      {"gpusPerMachine", spec.gpu.count},
      {"referenceModel", p.reference_model},
      {"egressGbPerGpuHour", spec.egress.gb_per_gpu_hour},
      {"budget",
       {{"maxUsdPerHour", money_or_null(spec.budget.max_usd_per_hour)},
        {"maxUsdPerMonth", money_or_null(spec.budget.max_usd_per_month)}}},
      {"currentSpend",
       {{"hourlyBurn", r.spend.hourly_burn.to_string()},
        {"projectedMonth", r.spend.projected_month.to_string()}}},
      {"offers", offers},
      {"plan",
       {{"choices", choices},
        {"machinesPlaced", p.placed},
        {"shortfall", p.shortfall.empty() ? json(nullptr) : json(p.shortfall)},
        {"expectedTotal", p.expected_total.to_string()},
        {"addedHourly", p.added_hourly.to_string()},
        {"projectedHourly", p.projected_hourly.to_string()},
        {"monthEnd", format_rfc3339(p.month_end)},
        {"projectedMonth", p.projected_month.to_string()}}},
      {"notes", notes},
  };
}

}  // namespace gpupool::cmd
