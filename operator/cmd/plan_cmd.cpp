#include "operator/cmd/plan_cmd.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <system_error>

#include "operator/cmd/plan_report.h"
#include "operator/cmd/pool_inputs.h"
#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"
#include "operator/core/planner.h"
#include "providers/catalog/catalog.h"

namespace gpupool::cmd {
namespace {

struct Options {
  std::string pool_file;
  std::string providers_file;
  std::optional<double> hours;
  std::optional<int> replicas;
  bool json = false;
  bool all = false;
  std::optional<Time> now;
  catalog::FluenceBilling fluence = catalog::FluenceBilling::FluenceDocs;
};

struct UsageError {
  std::string message;
};

std::optional<double> parse_double(const std::string& s) {
  double v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int> parse_int(const std::string& s) {
  int v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

Result<Options, UsageError> parse_args(const std::vector<std::string>& args) {
  Options o;
  const auto usage = [](std::string m) { return fail(UsageError{std::move(m)}); };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> value;
    if (flag.rfind("--", 0) == 0 && flag.find('=') != std::string::npos) {
      value = flag.substr(flag.find('=') + 1);
      flag = flag.substr(0, flag.find('='));
    }
    const auto take = [&]() -> std::optional<std::string> {
      if (value) return value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (flag == "-f" || flag == "--file" || flag == "-p" || flag == "--providers" ||
        flag == "--hours" || flag == "--replicas" || flag == "-o" || flag == "--output" ||
        flag == "--now" || flag == "--fluence-billing") {
      const std::optional<std::string> v = take();
      if (!v) return usage(flag + " needs a value");
      if (flag == "-f" || flag == "--file") {
        o.pool_file = *v;
      } else if (flag == "-p" || flag == "--providers") {
        o.providers_file = *v;
      } else if (flag == "--hours") {
        o.hours = parse_double(*v);
        if (!o.hours || *o.hours <= 0 || *o.hours > planner::kMaxLifetimeHours) {
          return usage("--hours must be a number of hours > 0 and <= 1000000, got '" + *v + "'");
        }
      } else if (flag == "--replicas") {
        o.replicas = parse_int(*v);
        if (!o.replicas || *o.replicas < 0 || *o.replicas > 10000) {
          return usage("--replicas must be an integer between 0 and 10000, got '" + *v + "'");
        }
      } else if (flag == "-o" || flag == "--output") {
        if (*v != "table" && *v != "json") {
          return usage("-o must be 'table' or 'json', got '" + *v + "'");
        }
        o.json = *v == "json";
      } else if (flag == "--now") {
        Time t;
        if (!parse_rfc3339(*v, t)) return usage("--now must be an RFC 3339 time, got '" + *v + "'");
        o.now = t;
      } else {
        if (*v != "seed" && *v != "docs") {
          return usage("--fluence-billing must be 'seed' or 'docs', got '" + *v + "'");
        }
        o.fluence = *v == "docs" ? catalog::FluenceBilling::FluenceDocs
                                 : catalog::FluenceBilling::SeedDocuments;
      }
    } else if (flag == "--all" && !value) {
      o.all = true;
    } else if (flag.size() > 1 && flag[0] == '-') {
      return usage("unknown flag " + flag);
    } else {
      return usage("unexpected argument '" + flag + "'");
    }
  }
  if (o.pool_file.empty()) return usage("-f POOL.yaml is required");
  return o;
}

std::string month_of(Time t) {
  return format_rfc3339(t).substr(0, 7);
}

}  // namespace

std::string plan_usage() {
  return R"(Usage: gpupool-operator plan -f POOL.yaml [-p PROVIDERS.yaml] [options]

Ranks the offers for a GpuPool by expected total cost (billing minimum and
increments, egress, throughput weight) and prints what would be bought.

  -f, --file FILE         the GpuPool (YAML; may also hold GpuProvider documents); "-" for stdin
  -p, --providers FILE    GpuProvider documents ("---"-separated). Without it every provider
                          the pool names is taken as a catalog provider type of that name
      --hours H           expected lifetime of the new machines (default: the pool's
                          spec.planning.expectedLifetimeHours, else 24)
      --replicas N        machines to plan (default: replicas.min when autoscaling is on,
                          else replicas.count, which defaults to replicas.min)
  -o, --output FORMAT     table (default) or json (docs/plan-json.md)
      --now TIME          plan as of this RFC 3339 time (default: now)
      --all               table: also list offers of other GPU models and machine sizes
      --fluence-billing R docs (Fluence's own docs: UTC clock hours, 3 h refundable deposit;
                          default) or seed (the seed documents: 3 h minimum charge, then hourly)
  -h, --help              this help

Exit codes: 0 plan printed; 1 unreadable, malformed or invalid input; 2 usage error.
)";
}

int run_plan(const std::vector<std::string>& args, const Clock& clock, std::ostream& out,
             std::ostream& err) {
  if (std::find_if(args.begin(), args.end(),
                   [](const std::string& a) { return a == "-h" || a == "--help"; }) != args.end()) {
    out << plan_usage();
    return kExitOk;
  }
  auto parsed = parse_args(args);
  if (!parsed.ok()) {
    err << "error: " << parsed.error().message << "\n\n" << plan_usage();
    return kExitUsage;
  }
  const Options& opt = *parsed;

  LoadOutcome loaded = load_pool_inputs(opt.pool_file, opt.providers_file, err);
  if (!loaded.inputs) return kExitError;
  std::vector<api::GpuProvider>& providers = loaded.inputs->providers;

  PlanReport report;
  report.pool = std::move(loaded.inputs->pool);
  report.now = opt.now.value_or(clock.now());
  report.catalog_date = std::string(catalog::kCatalogDate);
  report.show_all = opt.all;
  const api::GpuPoolSpec& spec = report.pool.spec;

  planner::Request req;
  req.now = report.now;
  req.lifetime_hours = opt.hours;
  req.machines = opt.replicas.value_or(spec.autoscaling.enabled ? spec.replicas.min
                                                                : api::fixed_replicas(spec));
  // The pool's running machines as its status last reported them. Lifetime
  // committed spend is not this month's (issue 8, defect 4): the projection
  // is status.spend.projectedMonth of this month, or month-to-date plus the
  // burn to the month end when an older status has no projection.
  const api::SpendStatus& spend = report.pool.status.spend;
  req.spend.hourly_burn = spend.hourly_burn;
  if (spend.month == month_of(report.now)) {
    req.spend.projected_month =
        !spend.projected_month.is_zero()
            ? spend.projected_month
            : spend.month_to_date +
                  spend.hourly_burn.for_duration(planner::month_end(report.now) - report.now);
  } else {
    req.spend.projected_month =
        spend.hourly_burn.for_duration(planner::month_end(report.now) - report.now);
  }
  report.spend = req.spend;

  // The same catalog offers the operator plans on (ProviderRegistry), with no
  // region placement: an offer whose region is unknown does not satisfy a
  // provider entry that lists regions, here as in the operator.
  PoolOffers offers = catalog_offers(spec, providers, opt.fluence,
                                     /*providers_file_given=*/!opt.providers_file.empty());
  req.offers = std::move(offers.offers);
  req.providers = std::move(offers.providers);
  report.notes.insert(report.notes.end(), offers.notes.begin(), offers.notes.end());

  auto result = planner::plan(spec, req);
  if (!result.ok()) {
    err << "error: " << opt.pool_file << ": cannot plan: " << result.error().message << '\n';
    return kExitError;
  }
  report.plan = std::move(result).value();
  if (opt.json) {
    out << render_json(report).dump(2) << '\n';
  } else {
    out << render_table(report);
  }
  return kExitOk;
}

}  // namespace gpupool::cmd
