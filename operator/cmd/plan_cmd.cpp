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

struct FileError {
  std::string message;
};

Result<std::string, FileError> read_file(const std::string& path) {
  if (path == "-") {
    std::ostringstream s;
    s << std::cin.rdbuf();
    return s.str();
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return fail(FileError{"cannot read " + path + ": is a directory"});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(FileError{"cannot read " + path + ": " + std::generic_category().message(errno)});
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return fail(FileError{"cannot read " + path + ": read error"});
  return s.str();
}

std::string object_name(const api::ApiObject& obj) {
  const api::ObjectMeta& m = api::metadata_of(obj);
  std::string name = m.name.empty() ? "(unnamed)" : m.name;
  if (!m.namespace_.empty()) name = m.namespace_ + "/" + name;
  return std::string(api::kind_of(obj)) + " " + name;
}

// Reads, decodes, defaults and validates every document of `path`. Prints
// every problem to `err`; nullopt when there was any.
std::optional<std::vector<api::ApiObject>> load(const std::string& path, std::ostream& err) {
  auto text = read_file(path);
  if (!text.ok()) {
    err << "error: " << text.error().message << '\n';
    return std::nullopt;
  }
  auto loaded = api::load_objects(*text);
  if (!loaded.ok()) {
    const api::DecodeError& e = loaded.error();
    err << "error: " << path << ": "
        << (e.kind == api::DecodeError::Kind::Syntax ? "not valid YAML: " : "") << e.message
        << '\n';
    for (const api::FieldError& f : e.fields)
      err << "  " << f.to_string() << '\n';
    return std::nullopt;
  }
  return std::move(loaded).value();
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

  std::vector<api::ApiObject> objects;
  bool ok = true;
  auto pool_docs = load(opt.pool_file, err);
  if (pool_docs) {
    objects = std::move(*pool_docs);
  } else {
    ok = false;
  }
  std::vector<api::GpuProvider> providers;
  std::optional<api::GpuPool> pool;
  for (api::ApiObject& obj : objects) {
    if (auto* p = std::get_if<api::GpuPool>(&obj)) {
      if (pool) {
        err << "error: " << opt.pool_file << ": more than one GpuPool; put one pool per file\n";
        ok = false;
      }
      pool = std::move(*p);
    } else if (auto* g = std::get_if<api::GpuProvider>(&obj)) {
      providers.push_back(std::move(*g));
    } else {
      err << "error: " << opt.pool_file << ": " << object_name(obj)
          << ": expected GpuPool or GpuProvider\n";
      ok = false;
    }
  }
  if (pool_docs && !pool && ok) {
    err << "error: " << opt.pool_file << ": no GpuPool document found\n";
    ok = false;
  }
  if (!opt.providers_file.empty()) {
    auto docs = load(opt.providers_file, err);
    if (!docs) {
      ok = false;
    } else {
      for (api::ApiObject& obj : *docs) {
        if (auto* g = std::get_if<api::GpuProvider>(&obj)) {
          providers.push_back(std::move(*g));
        } else {
          err << "error: " << opt.providers_file << ": " << object_name(obj)
              << ": expected GpuProvider\n";
          ok = false;
        }
      }
    }
  }
  if (!ok) return kExitError;

  PlanReport report;
  report.pool = std::move(*pool);
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
  const std::vector<catalog::Gap> gaps = catalog::gaps();
  const catalog::Options catalog_options = catalog::planning_options(opt.fluence);
  for (const api::PoolProviderRef& ref : spec.providers) {
    std::string type;
    auto it = std::find_if(providers.begin(), providers.end(),
                           [&](const api::GpuProvider& g) { return g.metadata.name == ref.name; });
    if (it != providers.end()) {
      type = it->spec.type;
      std::vector<Offer> offers = catalog::offers_for(*it, catalog_options);
      req.offers.insert(req.offers.end(), offers.begin(), offers.end());
      planner::ProviderState& st = req.providers[ref.name];
      st.paused = it->spec.paused;
      st.max_instances = it->spec.quota.max_instances;
      st.max_gpus = it->spec.quota.max_gpus;
      if (offers.empty()) {
        report.notes.push_back("GpuProvider " + ref.name + " (type " + type +
                               ") has no catalog offers for its regions and GPU models");
      }
      for (const api::PriceOverride& po : it->spec.price_overrides) {
        const bool used = std::any_of(offers.begin(), offers.end(), [&](const Offer& o) {
          return o.source.find("priceOverride") != std::string::npos &&
                 o.gpu_model.size() == po.gpu_model.size() &&
                 std::equal(o.gpu_model.begin(), o.gpu_model.end(), po.gpu_model.begin(),
                            [](char a, char b) {
                              return std::toupper(static_cast<unsigned char>(a)) ==
                                     std::toupper(static_cast<unsigned char>(b));
                            });
        });
        if (!used) {
          report.notes.push_back("GpuProvider " + ref.name + ": priceOverride for " + po.gpu_model +
                                 " changes nothing: overrides only reprice catalog offers, and "
                                 "there is none for it");
        }
      }
    } else if (catalog::default_billing(ref.name)) {
      type = ref.name;
      std::vector<Offer> offers = catalog::offers_for_type(type, ref.name, catalog_options);
      req.offers.insert(req.offers.end(), offers.begin(), offers.end());
      if (!opt.providers_file.empty()) {
        report.notes.push_back("no GpuProvider named " + ref.name +
                               " in the providers file; used the catalog for provider type " +
                               ref.name);
      }
    } else {
      report.notes.push_back("provider " + ref.name +
                             " has no GpuProvider object and is not a catalog provider type; "
                             "no offers from it (pass -p with its GpuProvider)");
      continue;
    }
    for (const api::GpuModelSpec& m : spec.gpu.models) {
      for (const catalog::Gap& g : gaps) {
        if (g.provider_type == type && g.gpu_model == m.name) {
          report.notes.push_back(ref.name + ": no " + m.name + " offer (" +
                                 std::string(catalog::to_string(g.kind)) + "): " + g.note);
        }
      }
    }
  }

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
