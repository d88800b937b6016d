#include "operator/cmd/simulate_cmd.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "operator/cmd/plan_cmd.h"
#include "operator/cmd/pool_inputs.h"
#include "operator/sim/market.h"
#include "operator/sim/plot.h"
#include "operator/sim/report.h"
#include "operator/sim/simulation.h"
#include "operator/sim/trace.h"

namespace gpupool::cmd {
namespace {

struct Options {
  std::string pool_file;
  std::string providers_file;
  std::string trace_file;
  std::string market_file;
  std::string plot_file;
  std::string policy = "default";
  int64_t idle_seconds = 600;
  uint64_t seed = 1;
  std::optional<int64_t> crash_every;
  bool json = false;
  std::optional<Time> start;
  catalog::FluenceBilling fluence = catalog::FluenceBilling::FluenceDocs;
  // In order, applied over the market file.
  std::vector<std::pair<sim::MarketFlag, std::pair<std::string, std::string>>> market_flags;
};

struct UsageError {
  std::string message;
};

template <typename T>
std::optional<T> parse_int(const std::string& s) {
  T v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
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
    static const std::set<std::string> kValued = {"--pool",         "-f",
                                                  "--providers",    "-p",
                                                  "--trace",        "--market",
                                                  "--plot",         "--policy",
                                                  "--idle-seconds", "--seed",
                                                  "--crash-every",  "-o",
                                                  "--output",       "--capacity",
                                                  "--boot-seconds", "--no-capacity-rate",
                                                  "--start",        "--fluence-billing"};
    if (!kValued.count(flag)) {
      if (flag.size() > 1 && flag[0] == '-') return usage("unknown flag " + flag);
      return usage("unexpected argument '" + flag + "'");
    }
    if (!value) {
      if (i + 1 >= args.size()) return usage(flag + " needs a value");
      value = args[++i];
    }
    const std::string& v = *value;
    if (flag == "--pool" || flag == "-f") {
      o.pool_file = v;
    } else if (flag == "--providers" || flag == "-p") {
      o.providers_file = v;
    } else if (flag == "--trace") {
      o.trace_file = v;
    } else if (flag == "--market") {
      o.market_file = v;
    } else if (flag == "--plot") {
      o.plot_file = v;
    } else if (flag == "--policy") {
      if (v != "default" && v != "cheapest-list-price" && v.rfind("single-provider:", 0) != 0) {
        return usage(
            "--policy must be default, cheapest-list-price or single-provider:NAME, got '" + v +
            "'");
      }
      if (v == "single-provider:") return usage("--policy single-provider:NAME needs a NAME");
      o.policy = v;
    } else if (flag == "--idle-seconds") {
      auto n = parse_int<int64_t>(v);
      if (!n || *n < 0 || *n > 30 * 86400) {
        return usage("--idle-seconds must be a whole number of seconds in [0, 2592000], got '" + v +
                     "'");
      }
      o.idle_seconds = *n;
    } else if (flag == "--seed") {
      auto n = parse_int<uint64_t>(v);
      if (!n) return usage("--seed must be a non-negative whole number, got '" + v + "'");
      o.seed = *n;
    } else if (flag == "--crash-every") {
      auto n = parse_int<int64_t>(v);
      if (!n || *n < 1)
        return usage("--crash-every must be a whole number of seconds >= 1, got '" + v + "'");
      o.crash_every = *n;
    } else if (flag == "-o" || flag == "--output") {
      if (v != "text" && v != "table" && v != "json") {
        return usage("-o must be 'text' or 'json', got '" + v + "'");
      }
      o.json = v == "json";
    } else if (flag == "--capacity" || flag == "--boot-seconds" || flag == "--no-capacity-rate") {
      const sim::MarketFlag which = flag == "--capacity"       ? sim::MarketFlag::Capacity
                                    : flag == "--boot-seconds" ? sim::MarketFlag::BootSeconds
                                                               : sim::MarketFlag::NoCapacityRate;
      o.market_flags.push_back({which, {flag, v}});
    } else if (flag == "--start") {
      Time t;
      if (!parse_rfc3339(v, t)) return usage("--start must be an RFC 3339 time, got '" + v + "'");
      o.start = t;
    } else if (flag == "--fluence-billing") {
      if (v != "seed" && v != "docs") {
        return usage("--fluence-billing must be 'seed' or 'docs', got '" + v + "'");
      }
      o.fluence = v == "docs" ? catalog::FluenceBilling::FluenceDocs
                              : catalog::FluenceBilling::SeedDocuments;
    }
  }
  if (o.pool_file.empty()) return usage("--pool POOL.yaml is required");
  if (o.trace_file.empty()) return usage("--trace TRACE.csv is required");
  return o;
}

std::optional<std::string> read_text(const std::string& path, std::ostream& err) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    err << "error: cannot read " << path << ": is a directory\n";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err << "error: cannot read " << path << ": " << std::generic_category().message(errno) << '\n';
    return std::nullopt;
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool write_text(const std::string& path, const std::string& text, std::ostream& err) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) {
    err << "error: cannot write " << path << ": " << std::generic_category().message(errno) << '\n';
    return false;
  }
  f << text;
  f.close();
  if (!f) {
    err << "error: cannot write " << path << '\n';
    return false;
  }
  return true;
}

}  // namespace

std::string simulate_usage() {
  return R"(Usage: gpupool-operator simulate --pool POOL.yaml --trace TRACE.csv [options]

Runs the operator's own controllers (planner, billing, parking, autoscaler,
spend ledger) on a virtual clock against an in-memory API and simulated
providers, driven by a demand trace, and reports what it spent and served.

  -f, --pool FILE             the GpuPool (YAML; may also hold GpuProvider documents)
  -p, --providers FILE        GpuProvider documents (price, billing and region overrides);
                              without it every provider is a catalog type of its name
      --trace FILE            CSV "time_s,gpus": demand in GPUs (L40S-equivalents), held until
                              the next row; the last row's time ends the run
      --policy P              default (the operator's), cheapest-list-price (lowest list
                              price per GPU, end after --idle-seconds unneeded, no parking)
                              or single-provider:NAME (only NAME, default lifecycle)
      --idle-seconds S        cheapest-list-price: end a machine unneeded this long (600)
      --capacity P=N          provider P runs at most N machines at once (default unlimited)
      --boot-seconds P=S      create-to-Ready seconds at P (default per provider type,
                              docs/simulate.md)
      --no-capacity-rate P=R  probability a create at P fails with no capacity (default 0)
      --market FILE           the three settings above as YAML (docs/simulate.md); flags win
      --seed N                seed of every random choice (default 1): same seed, same output
      --crash-every S         restart the controllers from the API objects about every S
                              simulated seconds, at seeded random points
  -o, --output FORMAT         text (default) or json
      --plot FILE             write an SVG of demand, Ready and parked capacity and spend
      --start TIME            RFC 3339 start of the simulated clock (2026-11-02T00:00:00Z)
      --fluence-billing R     docs (default) or seed, as for plan
  -h, --help                  this help

Exit codes: 0 ok, every invariant held; 1 an invariant was violated, or a file could not be
read or written; 2 bad input (usage, trace, market, pool, unknown provider).
)";
}

int run_simulate(const std::vector<std::string>& args, const Clock& clock, std::ostream& out,
                 std::ostream& err) {
  if (std::any_of(args.begin(), args.end(),
                  [](const std::string& a) { return a == "-h" || a == "--help"; })) {
    out << simulate_usage();
    return kExitOk;
  }
  auto parsed = parse_args(args);
  if (!parsed.ok()) {
    err << "error: " << parsed.error().message << "\n\n" << simulate_usage();
    return kExitUsage;
  }
  const Options& opt = *parsed;

  LoadOutcome loaded = load_pool_inputs(opt.pool_file, opt.providers_file, err);
  if (!loaded.inputs) return loaded.unreadable ? kExitError : kExitUsage;
  PoolInputs& in = *loaded.inputs;

  auto trace_text = read_text(opt.trace_file, err);
  if (!trace_text) return kExitError;
  auto trace = sim::parse_trace(*trace_text);
  if (!trace.ok()) {
    err << "error: " << trace.error().to_string(opt.trace_file) << '\n';
    return kExitUsage;
  }

  sim::MarketSettings market;
  if (!opt.market_file.empty()) {
    auto text = read_text(opt.market_file, err);
    if (!text) return kExitError;
    auto m = sim::parse_market(*text);
    if (!m.ok()) {
      err << "error: " << opt.market_file << ": " << m.error().message << '\n';
      return kExitUsage;
    }
    market = std::move(m).value();
  }
  for (const auto& [which, fv] : opt.market_flags) {
    auto s = sim::apply_flag(market, which, fv.first, fv.second);
    if (!s.ok()) {
      err << "error: " << s.error().message << '\n';
      return kExitUsage;
    }
  }
  std::set<std::string> pool_providers;
  for (const auto& ref : in.pool.spec.providers)
    pool_providers.insert(ref.name);
  for (const auto& [name, pm] : market.providers) {
    if (!pool_providers.count(name)) {
      std::string known;
      for (const auto& n : pool_providers)
        known += (known.empty() ? "" : ", ") + n;
      err << "error: market setting for unknown provider '" << name << "': the pool lists " << known
          << '\n';
      return kExitUsage;
    }
  }

  sim::Config cfg;
  cfg.pool = in.pool;
  cfg.trace = std::move(trace).value();
  cfg.seed = opt.seed;
  if (opt.crash_every) cfg.crash_every = Duration{*opt.crash_every};
  if (opt.start) cfg.start = *opt.start;
  if (opt.policy == "cheapest-list-price") {
    cfg.policy.kind = sim::PolicyChoice::Kind::CheapestListPrice;
  } else if (opt.policy.rfind("single-provider:", 0) == 0) {
    cfg.policy.kind = sim::PolicyChoice::Kind::SingleProvider;
    cfg.policy.provider = opt.policy.substr(std::string("single-provider:").size());
    if (!pool_providers.count(cfg.policy.provider)) {
      err << "error: --policy " << opt.policy << ": the pool does not list provider '"
          << cfg.policy.provider << "'\n";
      return kExitUsage;
    }
  }
  cfg.policy.idle = Duration{opt.idle_seconds};

  PoolOffers offers = catalog_offers(in.pool.spec, in.providers, opt.fluence,
                                     /*providers_file_given=*/!opt.providers_file.empty());
  cfg.limits = offers.providers;
  std::vector<std::string> notes = offers.notes;
  for (const auto& ref : in.pool.spec.providers) {
    sim::SimProvider p;
    p.name = ref.name;
    auto t = offers.types.find(ref.name);
    p.type = t == offers.types.end() ? ref.name : t->second;
    for (const Offer& o : offers.offers) {
      if (o.provider == ref.name) p.offers.push_back(o);
    }
    const sim::ProviderMarket pm =
        market.providers.count(ref.name) ? market.providers.at(ref.name) : sim::ProviderMarket{};
    p.capacity = pm.capacity.value_or(-1);
    p.boot = Duration{pm.boot_seconds.value_or(sim::default_boot(p.type).seconds)};
    p.no_capacity_rate = pm.no_capacity_rate.value_or(0.0);
    if (p.offers.empty()) {
      notes.push_back("provider " + ref.name + " has no offers; not simulated");
      continue;
    }
    cfg.providers.push_back(std::move(p));
  }

  const SteadyTime began = clock.steady_now();
  auto result = sim::simulate(cfg);
  const double wall = std::chrono::duration<double>(clock.steady_now() - began).count();
  if (!result.ok()) {
    err << "error: " << opt.pool_file << ": " << result.error().message << '\n';
    return kExitUsage;
  }
  sim::Outcome outcome = std::move(result).value();
  outcome.notes.insert(outcome.notes.begin(), notes.begin(), notes.end());
  sim::ReportInfo info;
  info.pool = in.pool.metadata.namespace_ + "/" + in.pool.metadata.name;
  info.seed = opt.seed;
  if (opt.json) {
    out << sim::render_json(outcome, info);
  } else {
    info.wall_seconds = wall;
    out << sim::render_text(outcome, info);
  }
  if (!opt.plot_file.empty()) {
    if (!write_text(opt.plot_file, sim::render_svg(outcome, info), err)) return kExitError;
  }
  if (!outcome.violations.empty()) {
    for (const auto& v : outcome.violations)
      err << "invariant violated: " << v << '\n';
    return kExitError;
  }
  return kExitOk;
}

}  // namespace gpupool::cmd
