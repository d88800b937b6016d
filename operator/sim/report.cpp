#include "operator/sim/report.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>

namespace gpupool::sim {
namespace {

double round6(double v) {
  return std::round(v * 1e6) / 1e6;
}

double usd(Money m) {
  return round6(m.to_double());
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string pad(std::string s, size_t width, bool right = true) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

std::string span(int64_t s) {
  const int64_t d = s / 86400;
  const int64_t h = (s % 86400) / 3600;
  const int64_t m = (s % 3600) / 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  out += std::to_string(h) + "h " + std::to_string(m) + "m";
  return out;
}

double served_fraction(const Outcome& o) {
  return o.demanded_gpu_hours > 0 ? o.served_gpu_hours / o.demanded_gpu_hours : 1.0;
}

}  // namespace

std::string render_text(const Outcome& o, const ReportInfo& info) {
  std::string s;
  s += "simulate: pool " + info.pool + ", policy " + o.policy + ", " + span(o.duration_s) + " (" +
       std::to_string(o.duration_s) + " s), seed " + std::to_string(info.seed) + "\n\n";
  s += pad("provider", 22, false) + pad("machines", 9) + pad("machine-h", 11) + pad("GPU-h", 10) +
       pad("spend $", 12) + pad("share", 8) + pad("no-capacity", 13) + "\n";
  int total_machines = 0;
  double total_hours = 0;
  double total_gpu = 0;
  int total_refusals = 0;
  for (const auto& name : o.providers) {
    const ProviderOutcome& p = o.by_provider.at(name);
    const double share =
        o.spend.is_zero() ? 0.0 : 100.0 * p.spend.to_double() / o.spend.to_double();
    s += pad(name, 22, false) + pad(std::to_string(p.launched), 9) +
         pad(fixed(p.machine_hours, 1), 11) + pad(fixed(p.gpu_hours, 1), 10) +
         pad(p.spend.to_string_fixed(2), 12) + pad(fixed(share, 1) + "%", 8) +
         pad(std::to_string(p.no_capacity_refusals), 13) + "\n";
    total_machines += p.launched;
    total_hours += p.machine_hours;
    total_gpu += p.gpu_hours;
    total_refusals += p.no_capacity_refusals;
  }
  s += pad("total", 22, false) + pad(std::to_string(total_machines), 9) +
       pad(fixed(total_hours, 1), 11) + pad(fixed(total_gpu, 1), 10) +
       pad(o.spend.to_string_fixed(2), 12) + pad("", 8) + pad(std::to_string(total_refusals), 13) +
       "\n\n";
  s += "demand       " + fixed(o.demanded_gpu_hours, 2) + " GPU-h (peak " +
       fixed(o.peak_demand, 2) + " GPUs)\n";
  s += "served       " + fixed(o.served_gpu_hours, 2) + " GPU-h (" +
       fixed(100.0 * served_fraction(o), 2) + "%), unserved " + fixed(o.unserved_gpu_hours, 2) +
       " GPU-h\n";
  s += "paid         " + fixed(o.paid_gpu_hours, 2) + " GPU-h, of which idle " +
       fixed(o.paid_idle_gpu_hours, 2) + " GPU-h (paid but serving no demand)\n";
  s += "spend        $" + o.spend.to_string_fixed(2) + "\n";
  s += "lower bound  $" + o.bound.total.to_string_fixed(2) +
       (o.bound.exact ? "" : " (fractional relaxation: a search was cut short)") +
       "  (every moment's demand on the cheapest eligible machines, per second, no boot, no "
       "minimums)\n";
  if (!o.bound.total.is_zero()) {
    s += "spend/bound  " + fixed(o.spend.to_double() / o.bound.total.to_double(), 3) + "x\n";
  }
  s += "recorded     $" + o.recorded_spend.to_string_fixed(2) +
       " by the pool (the providers billed $" + o.spend.to_string_fixed(2) + ")\n";
  s += "run          " + std::to_string(o.reconciles) + " reconciles (" +
       std::to_string(o.pool_reconciles) + " pool, " + std::to_string(o.instance_reconciles) +
       " instance) and " + std::to_string(o.gc_runs) + " garbage collections at " +
       std::to_string(o.instants) + " instants, " + std::to_string(o.crashes) + " crash(es)";
  if (info.wall_seconds >= 0) s += ", " + fixed(info.wall_seconds, 2) + " s wall";
  s += "\n";
  if (o.violations.empty()) {
    s += "invariants   ok (no orphan, no duplicate, recorded spend = providers' ledger, budgets "
         "kept)\n";
  } else {
    s += "invariants   VIOLATED:\n";
    for (const auto& v : o.violations)
      s += "  - " + v + "\n";
  }
  if (!o.notes.empty()) {
    s += "notes:\n";
    for (const auto& n : o.notes)
      s += "  - " + n + "\n";
  }
  return s;
}

std::string render_json(const Outcome& o, const ReportInfo& info) {
  nlohmann::ordered_json j;
  j["schemaVersion"] = 1;
  j["pool"] = info.pool;
  j["policy"] = o.policy;
  j["seed"] = info.seed;
  j["duration_s"] = o.duration_s;
  j["spend_usd"] = usd(o.spend);
  nlohmann::ordered_json by = nlohmann::ordered_json::object();
  nlohmann::ordered_json hours = nlohmann::ordered_json::object();
  nlohmann::ordered_json launched = nlohmann::ordered_json::object();
  for (const auto& name : o.providers) {
    const ProviderOutcome& p = o.by_provider.at(name);
    by[name] = usd(p.spend);
    hours[name] = round6(p.machine_hours);
    launched[name] = p.launched;
  }
  j["spend_by_provider"] = by;
  j["machine_hours_by_provider"] = hours;
  j["instances_by_provider"] = launched;
  j["demanded_gpu_hours"] = round6(o.demanded_gpu_hours);
  j["served_gpu_hours"] = round6(o.served_gpu_hours);
  j["unserved_gpu_hours"] = round6(o.unserved_gpu_hours);
  j["served_fraction"] = round6(served_fraction(o));
  j["peak_demand_gpus"] = round6(o.peak_demand);
  j["paid_gpu_hours"] = round6(o.paid_gpu_hours);
  j["paid_idle_gpu_hours"] = round6(o.paid_idle_gpu_hours);
  j["lower_bound_usd"] = usd(o.bound.total);
  j["lower_bound_exact"] = o.bound.exact;
  j["spend_over_lower_bound"] =
      o.bound.total.is_zero() ? 0.0 : round6(o.spend.to_double() / o.bound.total.to_double());
  j["recorded_spend_usd"] = usd(o.recorded_spend);
  j["instances_launched"] = o.instances_launched;
  int refusals = 0;
  for (const auto& [n, p] : o.by_provider)
    refusals += p.no_capacity_refusals;
  j["no_capacity_refusals"] = refusals;
  j["crashes"] = o.crashes;
  j["reconciles"] = o.reconciles;
  j["violations"] = o.violations;
  j["notes"] = o.notes;
  return j.dump(2) + "\n";
}

}  // namespace gpupool::sim
